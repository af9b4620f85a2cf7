//! The decoder: parses packets, keeps reference pictures, reconstructs
//! frames and returns them in display order.

use crate::cpu::CpuLevel;
use crate::deblock::deblock_frame;
use crate::entropy::RangeDecoder;
use crate::error::{BitstreamError, Error};
use crate::frame::Frame;
use crate::headers::{read_packet_headers, FrameHeader, FrameType, SequenceHeader, NUM_SLOTS};
use crate::inter::{predict_block, RefPicture, MAX_BLOCK};
use crate::mv::{ColField, ColMotion, Motion, MotionEnv, Mv, RefLists};
use crate::nn_filter::{self, LoopFilter};
use crate::nn_intra::{self, IntraPredictor};
use crate::recon::{crop, reconstruct, PicState, ReconScratch, SB_LOG2};
use crate::syntax::{self, chroma_candidates, scan_for, Contexts};
use crate::tables::chroma_qp;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Decoder settings.
#[derive(Clone, Debug, Default)]
pub struct DecoderConfig {
    /// Kernel level; `None` uses the best the CPU supports (capped by `MICA_CPU`).
    pub cpu: Option<CpuLevel>,
    /// Loop-filter models available besides the embedded default (streams name models by SHA-256).
    pub filters: Vec<Arc<LoopFilter>>,
    /// Intra-predictor models available besides the embedded default.
    pub intra_predictors: Vec<Arc<IntraPredictor>>,
}

/// A decoded frame in display order, cropped to the visible size.
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    /// Display-order frame number from the frame header.
    pub frame_number: u32,
    /// The samples.
    pub frame: Frame,
}

/// The learned models a decoder knows besides the embedded defaults.
pub(crate) fn find_filter(extra: &[Arc<LoopFilter>], sha256: &[u8; 32]) -> Option<Arc<LoopFilter>> {
    let default = LoopFilter::default_model();
    if default.sha256() == *sha256 {
        return Some(default);
    }
    extra.iter().find(|f| f.sha256() == *sha256).cloned()
}

/// The intra predictor named `sha256`: the embedded default or one of `extra`.
pub(crate) fn find_intra(
    extra: &[Arc<IntraPredictor>],
    sha256: &[u8; 32],
) -> Option<Arc<IntraPredictor>> {
    let default = IntraPredictor::default_model();
    if default.sha256() == *sha256 {
        return Some(default);
    }
    extra.iter().find(|f| f.sha256() == *sha256).cloned()
}

/// Frames held for reordering beyond which the oldest is released anyway
/// (a valid stream never needs more than the reference slots).
const MAX_PENDING: usize = 16;

/// Decodes a Mica stream packet by packet.
pub struct Decoder {
    cpu: CpuLevel,
    sequence: Option<SequenceHeader>,
    extra_filters: Vec<Arc<LoopFilter>>,
    filter: Option<Arc<LoopFilter>>,
    extra_intra: Vec<Arc<IntraPredictor>>,
    intra: Option<Arc<IntraPredictor>>,
    slots: [Option<Arc<RefPicture>>; NUM_SLOTS],
    pending: BTreeMap<u32, Frame>,
    next_out: Option<u32>,
    draining: bool,
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(config: DecoderConfig) -> Decoder {
        let cpu = config
            .cpu
            .unwrap_or_else(CpuLevel::runtime)
            .clamp_to_supported();
        Decoder {
            cpu,
            sequence: None,
            extra_filters: config.filters,
            filter: None,
            extra_intra: config.intra_predictors,
            intra: None,
            slots: Default::default(),
            pending: BTreeMap::new(),
            next_out: None,
            draining: false,
        }
    }

    /// The sequence header in force (after the first packet carrying one).
    pub fn sequence_header(&self) -> Option<&SequenceHeader> {
        self.sequence.as_ref()
    }

    /// Decodes one packet (one IVF frame). Decoded frames become available
    /// from [`Decoder::receive_frame`] in display order.
    pub fn send_packet(&mut self, packet: &[u8]) -> Result<(), Error> {
        self.draining = false;
        let headers = read_packet_headers(packet)?;
        let fh = headers.frame;
        if let Some(seq) = headers.sequence {
            let mut filter = None;
            let mut intra = None;
            for m in &seq.models {
                let missing = || BitstreamError::MissingModel(crate::nn::hex(&m.sha256));
                let duplicate = BitstreamError::InvalidField {
                    field: "model_role",
                    value: m.role as i64,
                    allowed: "at most one loop filter (role 1) and one intra predictor (role 2)",
                };
                match m.role {
                    nn_filter::ROLE => {
                        let f = find_filter(&self.extra_filters, &m.sha256).ok_or_else(missing)?;
                        if filter.replace(f).is_some() {
                            return Err(duplicate.into());
                        }
                    }
                    nn_intra::ROLE => {
                        let p = find_intra(&self.extra_intra, &m.sha256).ok_or_else(missing)?;
                        if intra.replace(p).is_some() {
                            return Err(duplicate.into());
                        }
                    }
                    _ => return Err(missing().into()),
                }
            }
            if seq.tools.nn_intra && intra.is_none() {
                return Err(BitstreamError::InvalidField {
                    field: "tool_flags",
                    value: 4,
                    allowed: "the learned intra mode only with an intra-predictor model listed",
                }
                .into());
            }
            if seq.tools.nn_filter && filter.is_none() {
                return Err(BitstreamError::InvalidField {
                    field: "tool_flags",
                    value: 2,
                    allowed: "the learned loop filter only with a loop-filter model listed",
                }
                .into());
            }
            self.filter = filter;
            self.intra = if seq.tools.nn_intra { intra } else { None };
            if self
                .sequence
                .as_ref()
                .is_some_and(|s| (s.width, s.height) != (seq.width, seq.height))
            {
                // A new size starts a new stream: release what is held.
                self.flush();
            }
            self.sequence = Some(seq);
        }
        let seq = self
            .sequence
            .as_ref()
            .ok_or(BitstreamError::MissingSequenceHeader)?;
        if fh.deblock && !seq.tools.deblocking {
            return Err(BitstreamError::InvalidField {
                field: "deblock",
                value: 1,
                allowed: "0 when the sequence disables deblocking",
            }
            .into());
        }
        if fh.nn_filter != [false; 2] && !seq.tools.nn_filter {
            return Err(BitstreamError::InvalidField {
                field: "nn_filter",
                value: (fh.nn_filter[0] as i64) | (fh.nn_filter[1] as i64) << 1,
                allowed: "0 when the sequence disables the learned loop filter",
            }
            .into());
        }
        if self.pending.contains_key(&fh.frame_number) {
            return Err(BitstreamError::InvalidField {
                field: "frame_number",
                value: fh.frame_number as i64,
                allowed: "a number not already waiting for output",
            }
            .into());
        }
        let mut refs: [Vec<Arc<RefPicture>>; 2] = Default::default();
        let mut lists = RefLists {
            cur_poc: fh.frame_number as i64,
            ..Default::default()
        };
        if fh.frame_type == FrameType::Key {
            self.slots = Default::default();
        } else {
            for l in 0..2 {
                for i in 0..fh.num_refs[l] as usize {
                    let slot = fh.ref_slots[l][i];
                    let r =
                        self.slots[slot as usize]
                            .clone()
                            .ok_or(BitstreamError::InvalidField {
                                field: "ref_slot",
                                value: slot as i64,
                                allowed: "a slot holding a decoded picture",
                            })?;
                    if (r.planes[0].width, r.planes[0].height)
                        != (seq.coded_width(), seq.coded_height())
                    {
                        return Err(BitstreamError::MissingSequenceHeader.into());
                    }
                    lists.poc[l][i] = r.poc;
                    refs[l].push(r);
                }
                lists.len[l] = fh.num_refs[l] as usize;
            }
        }
        let payload = &packet[headers.payload_offset..];
        let state = decode_frame(
            seq,
            &fh,
            payload,
            self.cpu,
            &refs,
            &lists,
            self.filter.as_deref(),
            self.intra.as_ref(),
        )?;
        let col = Arc::new(col_field(&state, &lists));
        let reference = Arc::new(RefPicture::new(lists.cur_poc, &state.recon, col));
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if fh.refresh_slots & (1 << i) != 0 {
                *slot = Some(reference.clone());
            }
        }
        let frame = crop(&state.recon, seq.width as usize, seq.height as usize);
        if self.next_out.is_none() {
            self.next_out = Some(fh.frame_number);
        }
        self.pending.insert(fh.frame_number, frame);
        Ok(())
    }

    /// Releases every frame still held for reordering (call at end of stream).
    pub fn flush(&mut self) {
        self.draining = true;
    }

    /// The next decoded frame in display order, if one is ready.
    pub fn receive_frame(&mut self) -> Option<DecodedFrame> {
        let next = self.next_out?;
        let number = if self.pending.contains_key(&next) {
            next
        } else if self.draining || self.pending.len() > MAX_PENDING {
            // End of stream, or a numbering no valid stream has: skip the gap.
            *self.pending.keys().next()?
        } else {
            return None;
        };
        let frame = self.pending.remove(&number)?;
        self.next_out = Some(number.wrapping_add(1));
        Some(DecodedFrame {
            frame_number: number,
            frame,
        })
    }
}

/// The motion a decoded picture leaves for temporal prediction.
pub(crate) fn col_field(st: &PicState, lists: &RefLists) -> ColField {
    let units = st
        .motion
        .iter()
        .map(|m| {
            let mut c = ColMotion {
                mv: m.mv,
                ref_poc: [None; 2],
            };
            for l in 0..2 {
                if m.uses(l) {
                    c.ref_poc[l] = Some(lists.poc_of(m, l));
                } else {
                    c.mv[l] = Mv::ZERO;
                }
            }
            c
        })
        .collect();
    ColField {
        poc: lists.cur_poc,
        w8: st.w / 8,
        units,
    }
}

struct FrameDecoder<'a> {
    st: PicState,
    ctx: Contexts,
    dec: RangeDecoder<'a>,
    fh: &'a FrameHeader,
    cpu: CpuLevel,
    chroma_qp: [u8; 2],
    scratch: ReconScratch,
    levels: Box<[i16; 1024]>,
    refs: &'a [Vec<Arc<RefPicture>>; 2],
    lists: &'a RefLists,
    col: Option<Arc<ColField>>,
    pred: Box<[u8; MAX_BLOCK * MAX_BLOCK * 3 / 2]>,
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
    let mut st = PicState::new(w, h);
    st.nn_intra = intra.cloned();
    let mut fd = FrameDecoder {
        st,
        ctx: Contexts::for_frame(
            seq.tools.trained_contexts,
            fh.frame_type == FrameType::Key,
            fh.qp,
        ),
        dec: RangeDecoder::new(payload),
        fh,
        cpu,
        chroma_qp: [
            chroma_qp(fh.qp as i32 + fh.chroma_qp_offset[0] as i32),
            chroma_qp(fh.qp as i32 + fh.chroma_qp_offset[1] as i32),
        ],
        scratch: ReconScratch::default(),
        levels: Box::new([0; 1024]),
        refs,
        lists,
        col,
        pred: Box::new([0; MAX_BLOCK * MAX_BLOCK * 3 / 2]),
        mc_tmp: Box::new([[0; MAX_BLOCK * MAX_BLOCK]; 2]),
    };
    let sb = 1usize << SB_LOG2;
    for y in (0..h).step_by(sb) {
        for x in (0..w).step_by(sb) {
            fd.node(x, y, SB_LOG2)?;
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
    let (cols, rows) = nn_filter::sb_grid(w, h);
    let sets = filter.map_or(1, |f| f.sets());
    let flags = nn_filter::read_flags(
        &mut fd.dec,
        &mut fd.ctx,
        fh.nn_filter,
        fh.nn_filter_scale,
        sets,
        cols,
        rows,
    );
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
        let filtered = nn_filter::filter_frame(
            filter,
            &fd.st.recon,
            flags.on,
            flags.set,
            Some(&flags.sb),
            fh,
            cpu,
        );
        nn_filter::apply(&mut fd.st.recon, &filtered, &flags);
    }
    Ok(fd.st)
}

impl FrameDecoder<'_> {
    fn corrupt(&self) -> Error {
        BitstreamError::LevelOverflow {
            frame: self.fh.frame_number,
        }
        .into()
    }

    fn node(&mut self, x: usize, y: usize, log2: u32) -> Result<(), Error> {
        if x >= self.st.w || y >= self.st.h {
            return Ok(());
        }
        let size = 1usize << log2;
        let inside = x + size <= self.st.w && y + size <= self.st.h;
        let split = if log2 == 3 {
            false
        } else if !inside {
            true
        } else {
            let c = self.st.split_ctx(x, y, log2);
            syntax::read_split(&mut self.dec, &mut self.ctx, c)
        };
        if split {
            let half = size / 2;
            for (dx, dy) in [(0, 0), (half, 0), (0, half), (half, half)] {
                self.node(x + dx, y + dy, log2 - 1)?;
            }
            return Ok(());
        }
        self.coding_unit(x, y, log2)
    }

    fn motion_env(&self) -> MotionEnv<'_> {
        MotionEnv {
            pic: &self.st,
            lists: self.lists,
            col: self.col.as_deref(),
        }
    }

    fn coding_unit(&mut self, x: usize, y: usize, log2: u32) -> Result<(), Error> {
        if self.fh.frame_type == FrameType::Inter {
            let c = self.st.skip_ctx(x, y);
            if syntax::read_skip(&mut self.dec, &mut self.ctx, c) {
                let idx = syntax::read_merge_idx(&mut self.dec, &mut self.ctx);
                let m = self.motion_env().merge_list(x, y, 1 << log2)[idx];
                return self.inter_cu(x, y, log2, m, true);
            }
            if !syntax::read_intra(&mut self.dec, &mut self.ctx) {
                let m = self.read_motion(x, y, log2)?;
                return self.inter_cu(x, y, log2, m, false);
            }
        }
        self.intra_cu(x, y, log2)
    }

    /// Reads the motion of a non-skipped inter CU.
    fn read_motion(&mut self, x: usize, y: usize, log2: u32) -> Result<Motion, Error> {
        let s = 1usize << log2;
        if syntax::read_merge(&mut self.dec, &mut self.ctx) {
            let idx = syntax::read_merge_idx(&mut self.dec, &mut self.ctx);
            return Ok(self.motion_env().merge_list(x, y, s)[idx]);
        }
        let dir = if self.lists.is_b() {
            syntax::read_inter_dir(&mut self.dec, &mut self.ctx, log2)
        } else {
            0
        };
        let mut m = Motion::INTRA;
        for l in 0..2 {
            if !(dir == 2 || dir as usize == l) {
                continue;
            }
            let count = self.lists.len[l];
            let ref_idx = if count > 1 {
                syntax::read_ref_idx(&mut self.dec, &mut self.ctx, count)
            } else {
                0
            };
            let (dx, dy) =
                syntax::read_mvd(&mut self.dec, &mut self.ctx).ok_or_else(|| self.corrupt())?;
            let mvp = syntax::read_mvp(&mut self.dec, &mut self.ctx);
            let pred = self.motion_env().amvp(x, y, s, l, ref_idx)[mvp];
            let mv = Mv::checked(pred.x as i32 + dx, pred.y as i32 + dy).ok_or(
                BitstreamError::InvalidField {
                    field: "motion vector",
                    value: (pred.x as i64 + dx as i64).max(pred.y as i64 + dy as i64),
                    allowed: "-32768..=32767 quarter samples per component",
                },
            )?;
            m.ref_idx[l] = ref_idx as i8;
            m.mv[l] = mv;
        }
        Ok(m)
    }

    /// Predicts an inter CU and adds its residual.
    fn inter_cu(
        &mut self,
        x: usize,
        y: usize,
        log2: u32,
        m: Motion,
        skip: bool,
    ) -> Result<(), Error> {
        let s = 1usize << log2;
        let tu_log2 = log2.min(5);
        self.st.set_cu_maps(x, y, log2, tu_log2);
        self.st.set_motion(x, y, log2, m, skip);
        self.st.set_coded(x, y, log2, false);
        // Intra neighbours of inter CUs see DC as their most probable mode.
        self.st.set_mode(x, y, log2, crate::dsp::intra::DC);
        let refs = [&self.refs[0][..], &self.refs[1][..]];
        predict_block(
            refs,
            &m,
            x,
            y,
            s,
            &mut self.pred[..],
            &mut self.mc_tmp,
            self.cpu,
        );
        let root = !skip && syntax::read_root_cbf(&mut self.dec, &mut self.ctx);
        let tu = 1usize << tu_log2;
        let per = s / tu;
        let mut any = false;
        for i in 0..per * per {
            let (dx, dy) = ((i % per) * tu, (i / per) * tu);
            let cbf = root && syntax::read_cbf(&mut self.dec, &mut self.ctx, 0, tu_log2, false);
            any |= cbf;
            let mut pred = [0u8; 1024];
            sub_block(&self.pred[..s * s], s, dx, dy, tu, &mut pred);
            self.residual_block(0, x + dx, y + dy, tu_log2, 1, &pred[..tu * tu], cbf)?;
            self.st.set_coded(x + dx, y + dy, tu_log2, cbf);
        }
        let c = s / 2;
        let c_log2 = log2 - 1;
        let cb = root && syntax::read_cbf(&mut self.dec, &mut self.ctx, 1, c_log2, false);
        let mut pred_c = [0u8; 1024];
        pred_c[..c * c].copy_from_slice(&self.pred[s * s..s * s + c * c]);
        self.residual_block(1, x / 2, y / 2, c_log2, 1, &pred_c[..c * c], cb)?;
        // With a root flag set and nothing else coded, Cr must have coefficients.
        let cr =
            root && (!(any || cb) || syntax::read_cbf(&mut self.dec, &mut self.ctx, 2, c_log2, cb));
        pred_c[..c * c].copy_from_slice(&self.pred[s * s + c * c..s * s + 2 * c * c]);
        self.residual_block(2, x / 2, y / 2, c_log2, 1, &pred_c[..c * c], cr)?;
        Ok(())
    }

    fn intra_cu(&mut self, x: usize, y: usize, log2: u32) -> Result<(), Error> {
        let nxn = log2 == 3 && syntax::read_nxn(&mut self.dec, &mut self.ctx);
        let (parts, pu_log2) = if nxn { (4, 2) } else { (1, log2) };
        let mut modes = [0u8; 4];
        let tu_log2 = if nxn { 2 } else { log2.min(5) };
        for (i, mode) in modes.iter_mut().enumerate().take(parts) {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = self.st.mpm(px, py);
            let nn_ctx = self.st.nn_intra_ctx(px, py, tu_log2);
            *mode = syntax::read_intra_luma(&mut self.dec, &mut self.ctx, &mpm, nn_ctx);
            self.st.set_mode(px, py, pu_log2, *mode);
        }
        let chroma_index = syntax::read_chroma_mode(&mut self.dec, &mut self.ctx);
        let chroma_mode = chroma_candidates(modes[0])[chroma_index as usize];
        self.st.set_cu_maps(x, y, log2, tu_log2);
        self.st.set_motion(x, y, log2, Motion::INTRA, false);

        // Luma transform blocks in z-order, each predicted from the reconstruction so far.
        let tu = 1usize << tu_log2;
        let per_side = (1usize << log2) / tu;
        let mut pred = [0u8; 1024];
        for i in 0..per_side * per_side {
            let (tx, ty) = (x + (i % per_side) * tu, y + (i / per_side) * tu);
            let mode = modes[if nxn { i } else { 0 }];
            self.st.predict(
                0,
                tx,
                ty,
                tu_log2,
                mode,
                (tx, ty),
                self.cpu,
                &mut pred[..tu * tu],
            );
            let cbf = syntax::read_cbf(&mut self.dec, &mut self.ctx, 0, tu_log2, false);
            self.residual_block(0, tx, ty, tu_log2, mode, &pred[..tu * tu], cbf)?;
        }
        let c_log2 = log2 - 1;
        let c = 1usize << c_log2;
        let mut cb_coded = false;
        for plane in 1..3 {
            self.st.predict(
                plane,
                x / 2,
                y / 2,
                c_log2,
                chroma_mode,
                (x, y),
                self.cpu,
                &mut pred[..c * c],
            );
            let cbf = syntax::read_cbf(&mut self.dec, &mut self.ctx, plane, c_log2, cb_coded);
            self.residual_block(
                plane,
                x / 2,
                y / 2,
                c_log2,
                chroma_mode,
                &pred[..c * c],
                cbf,
            )?;
            cb_coded = cbf;
        }
        Ok(())
    }

    /// Reads a transform block's residual when `cbf` and reconstructs it on
    /// top of `pred`. `mode` selects the scan (1 = DC, the diagonal scan, for inter).
    #[allow(clippy::too_many_arguments)]
    fn residual_block(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        log2n: u32,
        mode: u8,
        pred: &[u8],
        cbf: bool,
    ) -> Result<(), Error> {
        let n = 1usize << log2n;
        if !cbf {
            self.st.put_block(plane, x, y, n, pred);
            return Ok(());
        }
        let levels = &mut self.levels[..n * n];
        levels.fill(0);
        let scan = scan_for(mode, log2n, plane > 0);
        let Some(nz) =
            syntax::read_residual(&mut self.dec, &mut self.ctx, levels, log2n, plane > 0, scan)
        else {
            return Err(self.corrupt());
        };
        let qp = if plane == 0 {
            self.fh.qp
        } else {
            self.chroma_qp[plane - 1]
        };
        let mut out = [0u8; 1024];
        reconstruct(
            levels,
            nz,
            plane,
            log2n,
            qp,
            pred,
            &mut out[..n * n],
            self.cpu,
            &mut self.scratch,
        );
        self.st.put_block(plane, x, y, n, &out[..n * n]);
        Ok(())
    }
}

/// Copies the `n x n` block at (dx, dy) of an `s x s` block into `out` (`n*n`, row-major).
pub(crate) fn sub_block(src: &[u8], s: usize, dx: usize, dy: usize, n: usize, out: &mut [u8]) {
    for r in 0..n {
        out[r * n..(r + 1) * n].copy_from_slice(&src[(dy + r) * s + dx..][..n]);
    }
}
