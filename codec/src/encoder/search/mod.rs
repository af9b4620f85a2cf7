//! Rate-distortion search of one frame: partitions, intra modes and levels,
//! with rates measured by running the real syntax writer into a bit counter.

use crate::cpu::CpuLevel;
use crate::dsp::{self, dist};
use crate::entropy::{BinSink, BitCounter, Contexts, RangeEncoder, COST_ONE_BIT};
use crate::inter::{
    self, predict_block, ColField, MotionEnv, RefLists, RefPicture, MAX_BLOCK, MERGE_CANDIDATES,
};
use crate::intra::{self, chroma_candidates, predict_from_refs, IntraPredictor, NN_MODE};
use crate::partition;
use crate::picture::{sub_block, Frame, Motion, Mv, PicState, SB_LOG2};
use crate::residual::{self, scan_for};
use crate::sb_qp::{self, SbQpState};
use crate::transform::quant::{quantize, QuantParams};
use crate::transform::{self, chroma_qp, quant_qp, reconstruct, tx_kind, ReconScratch};
use std::sync::Arc;

mod inter_search;
mod intra_search;
mod tu_coding;
mod write;

use super::motion_search::{self, MeParams};
use super::rdoq::{rdoq, RdoqScratch};

/// Decisions for one transform block.
#[derive(Clone)]
pub(crate) struct TuLevels {
    pub cbf: bool,
    pub levels: Box<[i16]>,
}

/// How a coding unit is predicted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CuMode {
    Intra {
        nxn: bool,
        modes: [u8; 4],
        chroma_index: u8,
    },
    /// Merge candidate, no residual.
    Skip { merge_idx: u8, motion: Motion },
    /// Merge candidate or explicit motion, with a residual when `root_cbf`.
    Inter {
        motion: Motion,
        merge_idx: Option<u8>,
        mvp: [u8; 2],
        root_cbf: bool,
    },
}

/// Decisions for one coding unit, in coding order.
#[derive(Clone)]
pub(crate) struct CuDecision {
    pub x: usize,
    pub y: usize,
    pub log2: u32,
    pub mode: CuMode,
    /// Luma transform blocks in z-order, then Cb, then Cr (empty for skip).
    pub tus: Vec<TuLevels>,
}

/// References of an inter frame.
#[derive(Clone)]
pub(crate) struct InterRefs {
    pub refs: [Vec<Arc<RefPicture>>; 2],
    pub lists: RefLists,
    pub col: Option<Arc<ColField>>,
}

/// Per-frame encoder settings derived from the configuration.
#[derive(Clone, Copy)]
pub(crate) struct SearchParams {
    pub qp: i8,
    /// The frame header's chroma QP offsets.
    pub chroma_offset: [i8; 2],
    pub chroma_qp: [i8; 2],
    /// The quantiser's `qP'` per plane.
    pub quant_qp: [u8; 3],
    pub bit_depth: u8,
    pub lambda: f64,
    pub use_rdoq: bool,
    /// How many modes survive the SATD pass, by luma block size (4, 8, 16, 32).
    pub rd_modes: [usize; 4],
    pub cpu: CpuLevel,
    /// Motion search settings (inter frames).
    pub me: MeParams,
    /// Merge candidates given a full rate-distortion check.
    pub merge_rd: usize,
    /// Try intra CUs in inter frames only when the best inter CU's cost per
    /// sample exceeds this multiple of lambda (0: always).
    pub intra_in_inter_bar: f64,
    /// Skip the split search below a CU coded as skip.
    pub skip_stops_split: bool,
    /// Try four 4x4 parts in 8x8 intra CUs of inter frames.
    pub nxn_in_inter: bool,
    /// The stream selects intra luma transforms implicitly (`tool_flags` bit 6).
    pub implicit_mts: bool,
}

impl SearchParams {
    pub fn new(
        qp: i8,
        chroma_offset: [i8; 2],
        bit_depth: u8,
        cpu: CpuLevel,
        use_rdoq: bool,
        lambda: f64,
    ) -> SearchParams {
        let chroma = [
            chroma_qp(qp as i32 + chroma_offset[0] as i32, bit_depth),
            chroma_qp(qp as i32 + chroma_offset[1] as i32, bit_depth),
        ];
        SearchParams {
            qp,
            chroma_offset,
            chroma_qp: chroma,
            quant_qp: [
                quant_qp(qp, bit_depth),
                quant_qp(chroma[0], bit_depth),
                quant_qp(chroma[1], bit_depth),
            ],
            bit_depth,
            lambda,
            use_rdoq,
            rd_modes: [8, 8, 3, 3],
            cpu,
            me: MeParams::default(),
            merge_rd: 2,
            intra_in_inter_bar: 0.0,
            skip_stops_split: false,
            nxn_in_inter: true,
            implicit_mts: false,
        }
    }
}

/// Outcome of coding one transform block during the search.
struct TuOutcome {
    tu: TuLevels,
    dist: u64,
    /// Rate in 2^-16 bits.
    bits: u64,
}

pub(crate) struct FrameSearch<'a> {
    pub src: &'a Frame,
    pub st: PicState,
    /// The stream's learned intra predictor (mode 35), if it uses one.
    pub nn_intra: Option<Arc<IntraPredictor>>,
    pub ctx: Contexts,
    pub p: SearchParams,
    scratch: Box<TuScratch>,
    inter: Option<InterRefs>,
    mc: Box<McScratch>,
    /// Intra luma blocks written so far, by size and learned or not.
    pub intra_modes: super::IntraModeCounts,
    /// Motion found by the CU searched last at each size (by log2).
    parent_motion: [inter_search::ParentMotion; SB_LOG2 as usize + 1],
    /// QP offset from the frame's of each superblock (raster order), where
    /// the stream codes superblock QP deltas and the frame plans any.
    sb_deltas: Option<Vec<i8>>,
    /// The superblock QP state of the writer.
    sb_qp: SbQpState,
    /// The QP the current superblock was searched at.
    sb_target: i8,
}

/// Prediction buffers of inter CUs.
struct McScratch {
    pred: [u16; MAX_BLOCK * MAX_BLOCK * 3 / 2],
    tmp: [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
}

/// Buffers of one transform block's coding, allocated once per frame.
struct TuScratch {
    resid: [i16; 1024],
    coeffs: [i16; 1024],
    recon: [u16; 1024],
    rdoq: RdoqScratch,
    recon_tmp: ReconScratch,
}

/// Copies the `k x k` square at (x, y) of a map `map_w` units wide.
fn grab_region<T: Copy>(map: &[T], map_w: usize, x: usize, y: usize, k: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(k * k);
    for r in 0..k {
        v.extend_from_slice(&map[(y + r) * map_w + x..][..k]);
    }
    v
}

fn bits_of(f: impl FnOnce(&mut BitCounter)) -> u64 {
    let mut c = BitCounter::default();
    f(&mut c);
    c.cost
}

/// Saved reconstruction and maps of a square region, to undo a rejected choice.
struct Snapshot {
    planes: [Vec<u16>; 3],
    modes: Vec<u8>,
    cu: Vec<u8>,
    tu: Vec<u8>,
    motion: Vec<Motion>,
    skip: Vec<bool>,
    coded: Vec<bool>,
}

impl<'a> FrameSearch<'a> {
    /// A search of `src` whose contexts start as `ctx`.
    pub fn new(
        src: &'a Frame,
        p: SearchParams,
        inter: Option<InterRefs>,
        ctx: Contexts,
    ) -> FrameSearch<'a> {
        let st = PicState::new(src.planes[0].width, src.planes[0].height, src.bit_depth);
        let scratch = Box::new(TuScratch {
            resid: [0; 1024],
            coeffs: [0; 1024],
            recon: [0; 1024],
            rdoq: RdoqScratch::default(),
            recon_tmp: ReconScratch::default(),
        });
        let mc = Box::new(McScratch {
            pred: [0; MAX_BLOCK * MAX_BLOCK * 3 / 2],
            tmp: [[0; MAX_BLOCK * MAX_BLOCK]; 2],
        });
        FrameSearch {
            src,
            st,
            nn_intra: None,
            ctx,
            p,
            scratch,
            inter,
            mc,
            intra_modes: Default::default(),
            parent_motion: Default::default(),
            sb_deltas: None,
            sb_qp: SbQpState::new(false, p.qp),
            sb_target: p.qp,
        }
    }

    /// Codes superblock QP deltas (`tool_flags` bit 4): each superblock is
    /// searched at the frame QP plus its entry of `deltas`, when given, with
    /// lambda scaled to match, and codes its delta in its first coding unit
    /// that can carry a residual.
    pub fn code_sb_qp_deltas(&mut self, deltas: Option<Vec<i8>>) {
        self.sb_qp = SbQpState::new(true, self.p.qp);
        self.sb_deltas = deltas;
    }

    /// Context of the learned-mode flag of a luma block, `None` where the
    /// flag is not coded ([`intra::nn_intra_ctx`] for this stream).
    fn nn_intra_ctx(&self, x: usize, y: usize, log2n: u32) -> Option<usize> {
        intra::nn_intra_ctx(&self.st, self.nn_intra.is_some(), x, y, log2n)
    }

    fn cost(&self, dist: u64, bits: u64) -> f64 {
        dist as f64 + self.p.lambda * bits as f64 / COST_ONE_BIT as f64
    }

    /// Searches and codes the whole frame, returning the entropy-coded payload.
    /// Searches and writes every superblock; the caller may add more syntax before finishing.
    pub fn encode_blocks(&mut self) -> RangeEncoder {
        let mut enc = RangeEncoder::new();
        let (w, h) = (self.st.w, self.st.h);
        let sb = 1usize << SB_LOG2;
        let frame_p = self.p;
        let deltas = self.sb_deltas.take();
        if self.sb_qp.enabled {
            self.st.sb_qp = Vec::with_capacity(w.div_ceil(sb) * h.div_ceil(sb));
        }
        let mut index = 0;
        for y in (0..h).step_by(sb) {
            for x in (0..w).step_by(sb) {
                let delta = deltas.as_ref().map_or(0, |d| d[index]);
                index += 1;
                // Lambda follows the QP as the frame's does (2^(dQP/3)).
                self.p = if delta == 0 {
                    frame_p
                } else {
                    let lambda = frame_p.lambda * 2f64.powf(delta as f64 / 3.0);
                    frame_p.at_qp(frame_p.qp + delta, lambda)
                };
                self.sb_target = self.p.qp;
                let (_, decisions) = self.search_node(x, y, SB_LOG2);
                self.sb_qp.start_superblock();
                let mut it = decisions.iter().peekable();
                self.write_node(&mut enc, x, y, SB_LOG2, &mut it);
                if self.sb_qp.enabled {
                    // Without a residual the superblock keeps the frame QP.
                    self.st.sb_qp.push(self.sb_qp.qp);
                }
            }
        }
        self.p = frame_p;
        enc
    }

    // ------------------------------------------------------------ search

    fn snapshot(&self, x: usize, y: usize, log2: u32) -> Snapshot {
        let n = 1usize << log2;
        let mut planes: [Vec<u16>; 3] = Default::default();
        for (pi, out) in planes.iter_mut().enumerate() {
            let (px, py, pn) = if pi == 0 {
                (x, y, n)
            } else {
                (x / 2, y / 2, n / 2)
            };
            let p = &self.st.recon.planes[pi];
            for r in 0..pn {
                out.extend_from_slice(&p.data[(py + r) * p.width + px..][..pn]);
            }
        }
        let w = self.st.w;
        let grab =
            |map: &[u8], unit: usize| grab_region(map, w / unit, x / unit, y / unit, n / unit);
        // Motion maps are per 8x8 unit; a 4x4 part saves the unit holding it.
        let (x8, y8, k8) = (x / 8, y / 8, (n / 8).max(1));
        Snapshot {
            planes,
            modes: grab(&self.st.luma_modes, 4),
            cu: grab(&self.st.cu_log2, 8),
            tu: grab(&self.st.tu_log2, 8),
            motion: grab_region(&self.st.motion, w / 8, x8, y8, k8),
            skip: grab_region(&self.st.skip, w / 8, x8, y8, k8),
            coded: grab_region(&self.st.coded, w / 8, x8, y8, k8),
        }
    }

    fn restore(&mut self, x: usize, y: usize, log2: u32, s: &Snapshot) {
        let n = 1usize << log2;
        for pi in 0..3 {
            let (px, py, pn) = if pi == 0 {
                (x, y, n)
            } else {
                (x / 2, y / 2, n / 2)
            };
            let p = &mut self.st.recon.planes[pi];
            for r in 0..pn {
                p.data[(py + r) * p.width + px..][..pn]
                    .copy_from_slice(&s.planes[pi][r * pn..][..pn]);
            }
        }
        let w = self.st.w;
        let put = |map: &mut [u8], unit: usize, v: &[u8]| {
            let mw = w / unit;
            let k = n / unit;
            for r in 0..k {
                map[(y / unit + r) * mw + x / unit..][..k].copy_from_slice(&v[r * k..][..k]);
            }
        };
        put(&mut self.st.luma_modes, 4, &s.modes);
        put(&mut self.st.cu_log2, 8, &s.cu);
        put(&mut self.st.tu_log2, 8, &s.tu);
        fn put8<T: Copy>(map: &mut [T], w8: usize, x: usize, y: usize, n: usize, v: &[T]) {
            let k = (n / 8).max(1);
            for r in 0..k {
                map[(y / 8 + r) * w8 + x / 8..][..k].copy_from_slice(&v[r * k..][..k]);
            }
        }
        let w8 = self.st.w / 8;
        put8(&mut self.st.motion, w8, x, y, n, &s.motion);
        put8(&mut self.st.skip, w8, x, y, n, &s.skip);
        put8(&mut self.st.coded, w8, x, y, n, &s.coded);
    }

    fn search_node(&mut self, x: usize, y: usize, log2: u32) -> (f64, Vec<CuDecision>) {
        if x >= self.st.w || y >= self.st.h {
            return (0.0, Vec::new());
        }
        let size = 1usize << log2;
        let inside = x + size <= self.st.w && y + size <= self.st.h;
        let split_ctx = partition::split_ctx(&self.st, x, y, log2);
        let mut whole = None;
        if inside {
            let (mut cost, cu) = self.search_cu(x, y, log2);
            if log2 > 3 {
                let mut ctx = self.ctx.split[split_ctx];
                cost += self.cost(0, bits_of(|c| c.encode(&mut ctx, false)));
            } else {
                return (cost, vec![cu]);
            }
            if self.p.skip_stops_split && matches!(cu.mode, CuMode::Skip { .. }) {
                return (cost, vec![cu]);
            }
            whole = Some((cost, cu, self.snapshot(x, y, log2)));
        }
        let mut split_cost = 0.0;
        if inside {
            let mut ctx = self.ctx.split[split_ctx];
            split_cost += self.cost(0, bits_of(|c| c.encode(&mut ctx, true)));
        }
        let half = size / 2;
        let mut decisions = Vec::new();
        for (dx, dy) in [(0, 0), (half, 0), (0, half), (half, half)] {
            let (c, d) = self.search_node(x + dx, y + dy, log2 - 1);
            split_cost += c;
            decisions.extend(d);
            if let Some((wc, _, _)) = &whole {
                if split_cost >= *wc {
                    break;
                }
            }
        }
        if let Some((wc, cu, snap)) = whole {
            if wc <= split_cost {
                self.restore(x, y, log2, &snap);
                return (wc, vec![cu]);
            }
        }
        (split_cost, decisions)
    }

    /// Best coding of one CU. Leaves the reconstruction and maps in the state of that choice.
    fn search_cu(&mut self, x: usize, y: usize, log2: u32) -> (f64, CuDecision) {
        if self.inter.is_none() {
            return self.search_intra_cu(x, y, log2);
        }
        let start = self.snapshot(x, y, log2);
        let (inter_cost, inter_cu) = self.search_inter_cu(x, y, log2);
        let samples = (1usize << (2 * log2)) as f64;
        if self.p.intra_in_inter_bar > 0.0
            && inter_cost < self.p.intra_in_inter_bar * self.p.lambda * samples
        {
            return (inter_cost, inter_cu);
        }
        let inter_state = self.snapshot(x, y, log2);
        self.restore(x, y, log2, &start);
        let (intra_cost, intra_cu) = self.search_intra_cu(x, y, log2);
        if intra_cost < inter_cost {
            (intra_cost, intra_cu)
        } else {
            self.restore(x, y, log2, &inter_state);
            (inter_cost, inter_cu)
        }
    }

    /// Rate of the mode prefix of an inter-frame CU (skip, intra, merge and motion flags).
    fn prefix_bits(&mut self, x: usize, y: usize, log2: u32, mode: &CuMode) -> u64 {
        let mut c = BitCounter::default();
        self.write_inter_prefix(&mut c, x, y, log2, mode);
        c.cost
    }

    /// Writes a whole-CU prediction (luma then chroma) into the reconstruction.
    fn put_prediction(&mut self, x: usize, y: usize, s: usize, pred: &[u16]) {
        let c = s / 2;
        self.st.put_block(0, x, y, s, &pred[..s * s]);
        self.st
            .put_block(1, x / 2, y / 2, c, &pred[s * s..s * s + c * c]);
        self.st
            .put_block(2, x / 2, y / 2, c, &pred[s * s + c * c..s * s + 2 * c * c]);
    }

    /// Distortion of the reconstructed CU against the source, chroma weighted.
    fn weighted_dist(&self, x: usize, y: usize, s: usize) -> f64 {
        let cpu = self.p.cpu;
        let mut d = 0.0;
        for plane in 0..3 {
            let (px, py, n) = if plane == 0 {
                (x, y, s)
            } else {
                (x / 2, y / 2, s / 2)
            };
            let a = &self.src.planes[plane];
            let b = &self.st.recon.planes[plane];
            let e = dist::sse(
                &a.data[py * a.width + px..],
                a.width,
                &b.data[py * b.width + px..],
                b.width,
                n,
                n,
                cpu,
            );
            d += if plane == 0 {
                e as f64
            } else {
                self.chroma_cost(plane, e, 0)
            };
        }
        d
    }
}

impl SearchParams {
    /// The same settings at another QP and lambda (a superblock's).
    pub fn at_qp(&self, qp: i8, lambda: f64) -> SearchParams {
        let fresh = SearchParams::new(
            qp,
            self.chroma_offset,
            self.bit_depth,
            self.cpu,
            self.use_rdoq,
            lambda,
        );
        SearchParams {
            qp,
            chroma_qp: fresh.chroma_qp,
            quant_qp: fresh.quant_qp,
            lambda,
            ..*self
        }
    }

    /// Lambda used to weigh rate against unweighted distortion in `plane`.
    pub fn lambda_for(&self, plane: usize) -> f64 {
        if plane == 0 {
            self.lambda
        } else {
            let dq = self.qp as f64 - self.chroma_qp[plane - 1] as f64;
            self.lambda / 2f64.powf(dq / 3.0)
        }
    }
}
