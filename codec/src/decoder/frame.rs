//! Decoding of one frame's payload (`docs/bitstream.md` 4): the quadtree of
//! every superblock, each coding unit's syntax, prediction and residual,
//! then the superblock flags of the learned loop filter and the adaptive
//! loop filter's syntax, deblocking (7), the learned filter (7.1) and the
//! adaptive loop filter (7.2).

use crate::alf::{self, AlfFrame};
use crate::bitstream::{FrameHeader, FrameType, SequenceHeader};
use crate::cpu::CpuLevel;
use crate::deblock::deblock_frame;
use crate::entropy::{Contexts, RangeDecoder};
use crate::error::{BitstreamError, Error};
use crate::inter::{self, predict_block, ColField, MotionEnv, RefLists, RefPicture, MAX_BLOCK};
use crate::intra::{self, IntraPredictor};
use crate::loop_filter::{self, LoopFilter};
use crate::partition::{self, AllowedSplits, Node, Split, SplitTools};
use crate::picture::{sub_block, Motion, Mv, PicState, SB_LOG2};
use crate::residual::{self, scan_for};
use crate::sb_qp::{self, SbQpState};
use crate::transform::{
    self, chroma_qp, quant_qp, reconstruct, tile_offsets, transform_tiles, tx_kind, ReconScratch,
};
use std::sync::Arc;

struct FrameDecoder<'a> {
    st: PicState,
    /// The stream's learned intra predictor (mode 35), if it uses one.
    nn_intra: Option<Arc<IntraPredictor>>,
    ctx: Contexts,
    dec: RangeDecoder<'a>,
    fh: &'a FrameHeader,
    cpu: CpuLevel,
    /// The splits the stream allows below the quadtree (`tool_flags` bits 5 and 9).
    mtt: SplitTools,
    /// The stream allows the chroma mode LM (`tool_flags` bit 8).
    cclm: bool,
    /// Bi-predicted merge CUs refine their vectors (`inter_tool_flags` bit 0).
    dmvr: bool,
    /// Bi-predicted CUs correct luma by optical flow (`inter_tool_flags` bit 1).
    bdof: bool,
    /// Merge lists take history candidates (`inter_tool_flags` bit 2).
    history_merge: bool,
    /// Merge CUs may carry a motion vector difference (`inter_tool_flags` bit 3).
    mmvd: bool,
    /// Explicit motion may have coarser vector differences (`inter_tool_flags` bit 4).
    amvr: bool,
    /// Bi-predicted explicit motion may be symmetric (`inter_tool_flags` bit 5).
    smvd: bool,
    /// The quantiser's `qP'` per plane, at the current superblock's QP.
    quant_qp: [u8; 3],
    /// The current superblock's QP and its delta's contexts.
    sb_qp: SbQpState,
    /// Intra luma transform kinds follow the implicit rule (`tool_flags` bit 6).
    implicit_mts: bool,
    scratch: ReconScratch,
    levels: Box<[i16; 1024]>,
    refs: &'a [Vec<Arc<RefPicture>>; 2],
    lists: &'a RefLists,
    col: Option<Arc<ColField>>,
    pred: Box<[u16; MAX_BLOCK * MAX_BLOCK * 3 / 2]>,
    mc_tmp: Box<[[i16; MAX_BLOCK * MAX_BLOCK]; 2]>,
}

/// Decodes one frame's payload into a reconstructed, deblocked picture at the coded size.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_frame(
    seq: &SequenceHeader,
    fh: &FrameHeader,
    payload: &[u8],
    cpu: CpuLevel,
    refs: &[Vec<Arc<RefPicture>>; 2],
    lists: &RefLists,
    filter: Option<&LoopFilter>,
    intra: Option<&Arc<IntraPredictor>>,
) -> Result<PicState, Error> {
    let (w, h) = (seq.coded_width(), seq.coded_height());
    let col = if lists.len[1] > 0 {
        Some(refs[1][0].motion.clone())
    } else if lists.len[0] > 0 {
        Some(refs[0][0].motion.clone())
    } else {
        None
    };
    let mut fd = FrameDecoder {
        st: PicState::new(w, h, seq.bit_depth),
        nn_intra: intra.cloned(),
        ctx: Contexts::for_frame(
            seq.tools.trained_contexts,
            fh.frame_type == FrameType::Key,
            fh.qp,
        ),
        dec: RangeDecoder::new(payload),
        fh,
        cpu,
        mtt: SplitTools::of(&seq.tools),
        cclm: seq.tools.cclm,
        dmvr: seq.tools.dmvr,
        bdof: seq.tools.bdof,
        history_merge: seq.tools.history_merge,
        mmvd: seq.tools.mmvd,
        amvr: seq.tools.amvr,
        smvd: seq.tools.smvd,
        quant_qp: quant_qps(fh, fh.qp, seq.bit_depth),
        sb_qp: SbQpState::new(seq.tools.sb_qp_delta, fh.qp),
        implicit_mts: seq.tools.implicit_mts,
        scratch: ReconScratch::default(),
        levels: Box::new([0; 1024]),
        refs,
        lists,
        col,
        pred: Box::new([0; MAX_BLOCK * MAX_BLOCK * 3 / 2]),
        mc_tmp: Box::new([[0; MAX_BLOCK * MAX_BLOCK]; 2]),
    };
    let sb = 1usize << SB_LOG2;
    if fd.sb_qp.enabled {
        fd.st.sb_qp = Vec::with_capacity(w.div_ceil(sb) * h.div_ceil(sb));
    }
    for y in (0..h).step_by(sb) {
        // The merge history starts empty in every superblock row.
        fd.st.history.clear();
        for x in (0..w).step_by(sb) {
            if fd.sb_qp.qp != fh.qp {
                fd.quant_qp = quant_qps(fh, fh.qp, seq.bit_depth);
            }
            fd.sb_qp.start_superblock();
            fd.node(Node::root(x, y, sb))?;
            if fd.sb_qp.enabled {
                fd.st.sb_qp.push(fd.sb_qp.qp);
            }
            // A valid payload is never read more than 4 bytes ahead: stop early on garbage.
            if fd.dec.consumed() > payload.len() + 4 {
                return Err(BitstreamError::PayloadMismatch {
                    frame: fh.frame_number,
                    what: "is truncated or corrupt",
                    len: payload.len(),
                    used: fd.dec.consumed(),
                }
                .into());
            }
        }
    }
    let (cols, rows) = loop_filter::sb_grid(w, h);
    let sets = filter.map_or(1, |f| f.sets());
    let flags = loop_filter::read_flags(
        &mut fd.dec,
        &mut fd.ctx,
        fh.nn_filter,
        fh.nn_filter_scale,
        sets,
        cols,
        rows,
    );
    let alf = if seq.tools.alf {
        alf::read(&mut fd.dec, cols, rows)?
    } else {
        AlfFrame::default()
    };
    let used = fd.dec.consumed();
    if used != payload.len() {
        let what = if used > payload.len() {
            "is truncated or corrupt"
        } else {
            "has trailing bytes"
        };
        return Err(BitstreamError::PayloadMismatch {
            frame: fh.frame_number,
            what,
            len: payload.len(),
            used,
        }
        .into());
    }
    if fh.deblock {
        deblock_frame(&mut fd.st, fh, lists, cpu);
    }
    if flags.on != [false; 2] {
        // The header check guarantees a model when the flags are on.
        let filter = filter.ok_or(BitstreamError::MissingSequenceHeader)?;
        // Only the superblocks that are on: a decoder needs no more.
        let filtered = loop_filter::filter_frame(
            filter,
            &fd.st.recon,
            flags.on,
            flags.set,
            Some(&flags.sb),
            fh,
            cpu,
        );
        loop_filter::apply(&mut fd.st.recon, &filtered, &flags);
    }
    if alf.any() {
        alf::apply(&mut fd.st.recon, &alf, cpu);
    }
    Ok(fd.st)
}

/// The quantiser's `qP'` of each plane at luma QP `qp`.
fn quant_qps(fh: &FrameHeader, qp: i8, bit_depth: u8) -> [u8; 3] {
    let chroma = |offset: i8| chroma_qp(qp as i32 + offset as i32, bit_depth);
    [
        quant_qp(qp, bit_depth),
        quant_qp(chroma(fh.chroma_qp_offset[0]), bit_depth),
        quant_qp(chroma(fh.chroma_qp_offset[1]), bit_depth),
    ]
}

impl FrameDecoder<'_> {
    fn corrupt(&self) -> Error {
        BitstreamError::LevelOverflow {
            frame: self.fh.frame_number,
        }
        .into()
    }

    /// Reads the superblock's QP delta where this coding unit carries it
    /// (section 4.8) and requantises from there on.
    fn sb_qp_delta(&mut self) -> Result<(), Error> {
        if !self.sb_qp.delta_due() {
            return Ok(());
        }
        let bit_depth = self.st.recon.bit_depth;
        let delta =
            sb_qp::read_delta(&mut self.dec, &mut self.sb_qp.ctx).ok_or_else(|| self.corrupt())?;
        let qp =
            sb_qp::sb_qp(self.fh.qp, delta, bit_depth).ok_or(BitstreamError::InvalidField {
                field: "sb_qp_delta",
                value: delta as i64,
                allowed: "a delta that keeps the superblock QP within the frame's QP range",
            })?;
        self.sb_qp.coded = true;
        if qp != self.sb_qp.qp {
            self.sb_qp.qp = qp;
            self.quant_qp = quant_qps(self.fh, qp, bit_depth);
        }
        Ok(())
    }

    /// Reads a node of the coding tree (section 4) and everything below it.
    fn node(&mut self, node: Node) -> Result<(), Error> {
        if node.x >= self.st.w || node.y >= self.st.h {
            return Ok(());
        }
        let split = if !node.inside(self.st.w, self.st.h) {
            // Nodes crossing the picture's edge split as quadtrees.
            Split::Quad
        } else {
            let allowed = AllowedSplits::of(&node, self.mtt);
            partition::read_split_mode(&mut self.dec, &mut self.ctx, &self.st, &node, allowed)
        };
        if split == Split::None {
            return self.coding_unit(node.x, node.y, node.w, node.h);
        }
        for child in node.children(split) {
            self.node(child)?;
        }
        Ok(())
    }

    /// Context of the learned-mode flag of a luma block, `None` where the
    /// flag is not coded ([`intra::nn_intra_ctx`] for this stream).
    fn nn_intra_ctx(&self, x: usize, y: usize, tw: usize, th: usize) -> Option<usize> {
        if tw != th {
            return None;
        }
        intra::nn_intra_ctx(&self.st, self.nn_intra.is_some(), x, y, log2(tw))
    }

    fn motion_env(&self) -> MotionEnv<'_> {
        MotionEnv {
            pic: &self.st,
            lists: self.lists,
            col: self.col.as_deref(),
            history: self.history_merge,
        }
    }

    fn coding_unit(&mut self, x: usize, y: usize, w: usize, h: usize) -> Result<(), Error> {
        if self.fh.frame_type == FrameType::Inter {
            let c = partition::skip_ctx(&self.st, x, y);
            if partition::read_skip(&mut self.dec, &mut self.ctx, c) {
                let (m, refinable) = self.read_merge_data(x, y, w, h);
                return self.inter_cu(x, y, w, h, m, refinable, true);
            }
            if !partition::read_intra(&mut self.dec, &mut self.ctx) {
                let (m, merged) = self.read_motion(x, y, w, h)?;
                return self.inter_cu(x, y, w, h, m, merged, false);
            }
        }
        self.intra_cu(x, y, w, h)
    }

    /// Reads which merge candidate a CU takes (with a motion vector
    /// difference or not): its motion, and whether decoder-side vector
    /// refinement may apply (a candidate taken as it is).
    fn read_merge_data(&mut self, x: usize, y: usize, w: usize, h: usize) -> (Motion, bool) {
        if self.mmvd && inter::mmvd::read_flag(&mut self.dec, &mut self.ctx) {
            let offset = inter::mmvd::read(&mut self.dec, &mut self.ctx);
            let base = self.motion_env().merge_list(x, y, w, h)[usize::from(offset.base)];
            return (offset.apply(&base, self.lists), false);
        }
        let idx = inter::read_merge_idx(&mut self.dec, &mut self.ctx);
        (self.motion_env().merge_list(x, y, w, h)[idx], true)
    }

    /// Reads the motion of a non-skipped inter CU, and whether decoder-side
    /// vector refinement may apply (a merge candidate taken as it is).
    fn read_motion(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
    ) -> Result<(Motion, bool), Error> {
        if inter::read_merge(&mut self.dec, &mut self.ctx) {
            return Ok(self.read_merge_data(x, y, w, h));
        }
        let dir = if self.lists.is_b() {
            inter::read_inter_dir(&mut self.dec, &mut self.ctx, w, h)
        } else {
            0
        };
        // Symmetric differences: the frame's pair of references, one
        // difference (list 0's), both predictor flags.
        let pair = if dir == 2 && self.smvd {
            inter::smvd::symmetric_pair(self.lists)
        } else {
            None
        };
        let symmetric = pair.is_some() && inter::smvd::read_flag(&mut self.dec, &mut self.ctx);
        let mut coded: [Option<CodedMotion>; 2] = [None, None];
        for (l, c) in coded.iter_mut().enumerate() {
            if !(dir == 2 || dir as usize == l) {
                continue;
            }
            if let (true, Some(pair)) = (symmetric, pair) {
                let mvd = if l == 0 {
                    inter::read_mvd(&mut self.dec, &mut self.ctx).ok_or_else(|| self.corrupt())?
                } else {
                    (0, 0)
                };
                let mvp = inter::read_mvp(&mut self.dec, &mut self.ctx);
                *c = Some(CodedMotion {
                    ref_idx: pair[l],
                    mvd,
                    mvp,
                });
                continue;
            }
            let count = self.lists.len[l];
            let ref_idx = if count > 1 {
                inter::read_ref_idx(&mut self.dec, &mut self.ctx, count)
            } else {
                0
            };
            let mvd =
                inter::read_mvd(&mut self.dec, &mut self.ctx).ok_or_else(|| self.corrupt())?;
            let mvp = inter::read_mvp(&mut self.dec, &mut self.ctx);
            *c = Some(CodedMotion { ref_idx, mvd, mvp });
        }
        let any_difference = coded.iter().flatten().any(|c| c.mvd != (0, 0));
        let precision = if self.amvr && any_difference {
            inter::amvr::read(&mut self.dec, &mut self.ctx)
        } else {
            0
        };
        let shift = inter::amvr::SHIFTS[usize::from(precision)];
        let bad_vector = |vx: i64, vy: i64| BitstreamError::InvalidField {
            field: "motion vector",
            value: if (-32768..=32767).contains(&vx) {
                vy
            } else {
                vx
            },
            allowed: "-32768..=32767 quarter samples per component",
        };
        let mut m = Motion::INTRA;
        if let (true, [Some(c0), Some(c1)]) = (symmetric, coded) {
            let pred = [
                self.motion_env().amvp(x, y, w, h, 0, c0.ref_idx)[c0.mvp],
                self.motion_env().amvp(x, y, w, h, 1, c1.ref_idx)[c1.mvp],
            ]
            .map(|p| inter::amvr::round_mv(p, shift));
            let mvd = (i64::from(c0.mvd.0) << shift, i64::from(c0.mvd.1) << shift);
            let mv = inter::smvd::vectors(pred, mvd).ok_or_else(|| {
                // The component out of range, for the message.
                let (ax, ay) = (i64::from(pred[0].x) + mvd.0, i64::from(pred[0].y) + mvd.1);
                let (bx, by) = (i64::from(pred[1].x) - mvd.0, i64::from(pred[1].y) - mvd.1);
                if (-32768..=32767).contains(&ax) && (-32768..=32767).contains(&ay) {
                    bad_vector(bx, by)
                } else {
                    bad_vector(ax, ay)
                }
            })?;
            m.ref_idx = [c0.ref_idx as i8, c1.ref_idx as i8];
            m.mv = mv;
            return Ok((m, false));
        }
        for (l, c) in coded.iter().enumerate() {
            let Some(&CodedMotion {
                ref_idx,
                mvd: (dx, dy),
                mvp,
            }) = c.as_ref()
            else {
                continue;
            };
            let pred = self.motion_env().amvp(x, y, w, h, l, ref_idx)[mvp];
            let pred = inter::amvr::round_mv(pred, shift);
            let (vx, vy) = (
                i64::from(pred.x) + (i64::from(dx) << shift),
                i64::from(pred.y) + (i64::from(dy) << shift),
            );
            let mv = i32::try_from(vx)
                .ok()
                .zip(i32::try_from(vy).ok())
                .and_then(|(vx, vy)| Mv::checked(vx, vy))
                .ok_or(bad_vector(vx, vy))?;
            m.ref_idx[l] = ref_idx as i8;
            m.mv[l] = mv;
        }
        Ok((m, false))
    }

    /// Predicts an inter CU (`merged`: its motion is a merge candidate's) and
    /// adds its residual.
    #[allow(clippy::too_many_arguments)]
    fn inter_cu(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        m: Motion,
        merged: bool,
        skip: bool,
    ) -> Result<(), Error> {
        let (tw, th) = transform_tiles(w, h);
        self.st.set_cu_maps(x, y, w, h, tw, th);
        self.st.set_motion(x, y, w, h, m, skip);
        if self.history_merge {
            inter::remember(&mut self.st.history, m);
        }
        self.st.set_coded(x, y, w, h, false);
        // Intra neighbours of inter CUs see DC as their most probable mode.
        self.st.set_mode(x, y, w, h, intra::DC);
        let refs = [&self.refs[0][..], &self.refs[1][..]];
        let refine = if inter::refinable(self.lists, &m, w, h) {
            inter::Refinement {
                dmvr: self.dmvr && merged,
                bdof: self.bdof,
            }
        } else {
            inter::Refinement::NONE
        };
        predict_block(
            refs,
            &m,
            refine,
            x,
            y,
            w,
            h,
            &mut self.pred[..],
            &mut self.mc_tmp,
            self.cpu,
        );
        let root = !skip && inter::read_root_cbf(&mut self.dec, &mut self.ctx);
        if root {
            self.sb_qp_delta()?;
        }
        let mut any = false;
        for (dx, dy) in tile_offsets(w, h, tw, th) {
            let cbf = root
                && transform::read_cbf(&mut self.dec, &mut self.ctx, 0, log2(tw), log2(th), false);
            any |= cbf;
            let mut pred = [0u16; 1024];
            sub_block(&self.pred[..w * h], w, dx, dy, tw, th, &mut pred);
            self.residual_block(0, x + dx, y + dy, tw, th, 1, false, &pred[..tw * th], cbf)?;
            self.st.set_coded(x + dx, y + dy, tw, th, cbf);
        }
        let (cw, ch) = (w / 2, h / 2);
        let cs = cw * ch;
        let cb =
            root && transform::read_cbf(&mut self.dec, &mut self.ctx, 1, log2(cw), log2(ch), false);
        let mut pred_c = [0u16; 1024];
        pred_c[..cs].copy_from_slice(&self.pred[w * h..w * h + cs]);
        self.residual_block(1, x / 2, y / 2, cw, ch, 1, false, &pred_c[..cs], cb)?;
        // With a root flag set and nothing else coded, Cr must have coefficients.
        let cr = root
            && (!(any || cb)
                || transform::read_cbf(&mut self.dec, &mut self.ctx, 2, log2(cw), log2(ch), cb));
        pred_c[..cs].copy_from_slice(&self.pred[w * h + cs..w * h + 2 * cs]);
        self.residual_block(2, x / 2, y / 2, cw, ch, 1, false, &pred_c[..cs], cr)?;
        Ok(())
    }

    fn intra_cu(&mut self, x: usize, y: usize, w: usize, h: usize) -> Result<(), Error> {
        let nxn = w == 8 && h == 8 && intra::read_nxn(&mut self.dec, &mut self.ctx);
        let (parts, pw, ph) = if nxn { (4, 4, 4) } else { (1, w, h) };
        let mut modes = [0u8; 4];
        let (tw, th) = if nxn { (4, 4) } else { transform_tiles(w, h) };
        for (i, mode) in modes.iter_mut().enumerate().take(parts) {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = intra::mpm(&self.st, px, py);
            let nn_ctx = self.nn_intra_ctx(px, py, tw, th);
            *mode = intra::read_intra_luma(&mut self.dec, &mut self.ctx, &mpm, nn_ctx);
            self.st.set_mode(px, py, pw, ph, *mode);
        }
        let chroma_index = intra::read_chroma_mode(&mut self.dec, &mut self.ctx, self.cclm);
        self.sb_qp_delta()?;
        let chroma_mode = intra::chroma_candidates(modes[0])[chroma_index as usize];
        self.st.set_cu_maps(x, y, w, h, tw, th);
        self.st.set_motion(x, y, w, h, Motion::INTRA, false);

        // Luma transform blocks in raster order, each predicted from the reconstruction so far.
        let mut pred = [0u16; 1024];
        for (i, (dx, dy)) in tile_offsets(w, h, tw, th).enumerate() {
            let (tx, ty) = (x + dx, y + dy);
            let mode = modes[if nxn { i } else { 0 }];
            intra::predict(
                &self.st,
                self.nn_intra.as_deref(),
                0,
                tx,
                ty,
                log2(tw),
                log2(th),
                mode,
                self.cpu,
                &mut pred[..tw * th],
            );
            let cbf =
                transform::read_cbf(&mut self.dec, &mut self.ctx, 0, log2(tw), log2(th), false);
            self.residual_block(0, tx, ty, tw, th, mode, true, &pred[..tw * th], cbf)?;
        }
        let (cw, ch) = (w / 2, h / 2);
        let mut cb_coded = false;
        for plane in 1..3 {
            intra::predict(
                &self.st,
                self.nn_intra.as_deref(),
                plane,
                x / 2,
                y / 2,
                log2(cw),
                log2(ch),
                chroma_mode,
                self.cpu,
                &mut pred[..cw * ch],
            );
            let cbf = transform::read_cbf(
                &mut self.dec,
                &mut self.ctx,
                plane,
                log2(cw),
                log2(ch),
                cb_coded,
            );
            self.residual_block(
                plane,
                x / 2,
                y / 2,
                cw,
                ch,
                chroma_mode,
                true,
                &pred[..cw * ch],
                cbf,
            )?;
            cb_coded = cbf;
        }
        Ok(())
    }

    /// Reads a transform block's residual when `cbf` and reconstructs it on
    /// top of `pred`. `mode` selects the scan (1 = DC, the diagonal scan, for inter);
    /// `intra` and `mode` select the transform kinds.
    #[allow(clippy::too_many_arguments)]
    fn residual_block(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mode: u8,
        intra: bool,
        pred: &[u16],
        cbf: bool,
    ) -> Result<(), Error> {
        if !cbf {
            self.st.put_block(plane, x, y, w, h, pred);
            return Ok(());
        }
        let (lw, lh) = (log2(w), log2(h));
        let levels = &mut self.levels[..w * h];
        levels.fill(0);
        let scan = scan_for(mode, lw, lh, plane > 0);
        let Some(nz) = residual::read_residual(
            &mut self.dec,
            &mut self.ctx,
            levels,
            lw,
            lh,
            plane > 0,
            scan,
        ) else {
            return Err(self.corrupt());
        };
        let mut out = [0u16; 1024];
        reconstruct(
            levels,
            nz,
            (lw, lh),
            tx_kind(
                plane,
                lw,
                lh,
                self.implicit_mts && intra && mode != intra::NN_MODE,
            ),
            self.quant_qp[plane],
            self.st.recon.bit_depth,
            pred,
            &mut out[..w * h],
            self.cpu,
            &mut self.scratch,
        );
        self.st.put_block(plane, x, y, w, h, &out[..w * h]);
        Ok(())
    }
}

/// log2 of a block side.
fn log2(n: usize) -> u32 {
    n.trailing_zeros()
}

/// One list's explicit motion as coded: reference index, vector difference
/// (in units of the CU's vector resolution) and predictor index.
#[derive(Clone, Copy)]
struct CodedMotion {
    ref_idx: usize,
    mvd: (i32, i32),
    mvp: usize,
}
