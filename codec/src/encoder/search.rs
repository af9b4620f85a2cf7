//! Rate-distortion search of one frame: partitions, intra modes and levels,
//! with rates measured by running the real syntax writer into a bit counter.

use crate::cpu::CpuLevel;
use crate::dsp::{dist, intra, transform};
use crate::entropy::{BinSink, BitCounter, RangeEncoder, COST_ONE_BIT};
use crate::frame::Frame;
use crate::inter::{predict_block, RefPicture, MAX_BLOCK};
use crate::mv::{ColField, Motion, MotionEnv, Mv, RefLists, MERGE_CANDIDATES};
use crate::nn_intra::NN_MODE;
use crate::quant::{quantize, QuantParams};
use crate::recon::{predict_from_refs, reconstruct, tx_kind, PicState, ReconScratch, SB_LOG2};
use crate::syntax::{self, chroma_candidates, scan_for, Contexts};
use crate::tables::chroma_qp;
use std::sync::Arc;

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
    pub qp: u8,
    pub chroma_qp: [u8; 2],
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
}

impl SearchParams {
    pub fn new(
        qp: u8,
        chroma_offset: [i8; 2],
        cpu: CpuLevel,
        use_rdoq: bool,
        lambda: f64,
    ) -> SearchParams {
        SearchParams {
            qp,
            chroma_qp: [
                chroma_qp(qp as i32 + chroma_offset[0] as i32),
                chroma_qp(qp as i32 + chroma_offset[1] as i32),
            ],
            lambda,
            use_rdoq,
            rd_modes: [8, 8, 3, 3],
            cpu,
            me: MeParams::default(),
            merge_rd: 2,
            intra_in_inter_bar: 0.0,
            skip_stops_split: false,
            nxn_in_inter: true,
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
    pub ctx: Contexts,
    pub p: SearchParams,
    scratch: Box<TuScratch>,
    inter: Option<InterRefs>,
    mc: Box<McScratch>,
    /// Intra luma blocks written so far, by size and learned or not.
    pub intra_modes: super::IntraModeCounts,
}

/// Prediction buffers of inter CUs.
struct McScratch {
    pred: [u8; MAX_BLOCK * MAX_BLOCK * 3 / 2],
    tmp: [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
}

/// Buffers of one transform block's coding, allocated once per frame.
struct TuScratch {
    resid: [i16; 1024],
    coeffs: [i16; 1024],
    recon: [u8; 1024],
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
    planes: [Vec<u8>; 3],
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
        let st = PicState::new(src.planes[0].width, src.planes[0].height);
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
            ctx,
            p,
            scratch,
            inter,
            mc,
            intra_modes: Default::default(),
        }
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
        for y in (0..h).step_by(sb) {
            for x in (0..w).step_by(sb) {
                let (_, decisions) = self.search_node(x, y, SB_LOG2);
                let mut it = decisions.iter().peekable();
                self.write_node(&mut enc, x, y, SB_LOG2, &mut it);
            }
        }
        enc
    }

    // ------------------------------------------------------------ writing

    fn write_node<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        log2: u32,
        it: &mut std::iter::Peekable<std::slice::Iter<'_, CuDecision>>,
    ) {
        if x >= self.st.w || y >= self.st.h {
            return;
        }
        let size = 1usize << log2;
        let inside = x + size <= self.st.w && y + size <= self.st.h;
        let next = it.peek().expect("decision list covers the frame");
        let split = !(next.x == x && next.y == y && next.log2 == log2);
        if log2 > 3 && inside {
            let c = self.st.split_ctx(x, y, log2);
            syntax::write_split(s, &mut self.ctx, c, split);
        }
        if split {
            let half = size / 2;
            for (dx, dy) in [(0, 0), (half, 0), (0, half), (half, half)] {
                self.write_node(s, x + dx, y + dy, log2 - 1, it);
            }
        } else {
            let cu = it.next().expect("peeked");
            self.write_cu(s, cu);
        }
    }

    fn motion_env(&self) -> Option<MotionEnv<'_>> {
        let inter = self.inter.as_ref()?;
        Some(MotionEnv {
            pic: &self.st,
            lists: &inter.lists,
            col: inter.col.as_deref(),
        })
    }

    /// Writes the mode syntax of an inter-frame CU up to (not including) its
    /// transform blocks, and records its motion in the maps.
    fn write_inter_prefix<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        log2: u32,
        mode: &CuMode,
    ) {
        let c = self.st.skip_ctx(x, y);
        syntax::write_skip(s, &mut self.ctx, c, matches!(mode, CuMode::Skip { .. }));
        match *mode {
            CuMode::Skip { merge_idx, .. } => {
                syntax::write_merge_idx(s, &mut self.ctx, merge_idx as usize)
            }
            CuMode::Intra { .. } => syntax::write_intra(s, &mut self.ctx, true),
            CuMode::Inter {
                motion,
                merge_idx,
                mvp,
                root_cbf,
            } => {
                syntax::write_intra(s, &mut self.ctx, false);
                syntax::write_merge(s, &mut self.ctx, merge_idx.is_some());
                if let Some(idx) = merge_idx {
                    syntax::write_merge_idx(s, &mut self.ctx, idx as usize);
                } else {
                    self.write_explicit_motion(s, x, y, log2, &motion, mvp);
                }
                syntax::write_root_cbf(s, &mut self.ctx, root_cbf);
            }
        }
    }

    fn write_explicit_motion<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        log2: u32,
        m: &Motion,
        mvp: [u8; 2],
    ) {
        let lists = self.inter.as_ref().expect("inter frame").lists;
        if lists.is_b() {
            let dir = if m.uses(0) && m.uses(1) {
                2
            } else {
                m.uses(1) as u8
            };
            syntax::write_inter_dir(s, &mut self.ctx, log2, dir);
        }
        for l in 0..2 {
            if !m.uses(l) {
                continue;
            }
            if lists.len[l] > 1 {
                syntax::write_ref_idx(s, &mut self.ctx, m.ref_idx[l] as usize, lists.len[l]);
            }
            let pred =
                self.motion_env()
                    .expect("inter")
                    .amvp(x, y, 1 << log2, l, m.ref_idx[l] as usize)[mvp[l] as usize];
            let mvd = Mv {
                x: m.mv[l].x.wrapping_sub(pred.x),
                y: m.mv[l].y.wrapping_sub(pred.y),
            };
            syntax::write_mvd(s, &mut self.ctx, mvd);
            syntax::write_mvp(s, &mut self.ctx, mvp[l] as usize);
        }
    }

    fn write_cu<S: BinSink>(&mut self, s: &mut S, cu: &CuDecision) {
        let (x, y, log2) = (cu.x, cu.y, cu.log2);
        if self.inter.is_some() {
            self.write_inter_prefix(s, x, y, log2, &cu.mode);
        }
        match cu.mode {
            CuMode::Intra {
                nxn,
                modes,
                chroma_index,
            } => self.write_intra_cu(s, cu, nxn, modes, chroma_index),
            CuMode::Skip { motion, .. } => {
                self.st.set_cu_maps(x, y, log2, log2.min(5));
                self.st.set_motion(x, y, log2, motion, true);
                self.st.set_coded(x, y, log2, false);
                self.st.set_mode(x, y, log2, intra::DC);
            }
            CuMode::Inter {
                motion, root_cbf, ..
            } => {
                let tu_log2 = log2.min(5);
                self.st.set_cu_maps(x, y, log2, tu_log2);
                self.st.set_motion(x, y, log2, motion, false);
                self.st.set_coded(x, y, log2, false);
                self.st.set_mode(x, y, log2, intra::DC);
                if root_cbf {
                    let n_luma = cu.tus.len() - 2;
                    let tu = 1usize << tu_log2;
                    let per = (1usize << log2) / tu;
                    let mut any = false;
                    for (i, t) in cu.tus.iter().enumerate() {
                        let (plane, log2n) = if i < n_luma {
                            (0, tu_log2)
                        } else {
                            (i - n_luma + 1, log2 - 1)
                        };
                        let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
                        if plane < 2 || any {
                            syntax::write_cbf(s, &mut self.ctx, plane, log2n, cb_coded, t.cbf);
                        }
                        any |= t.cbf;
                        if t.cbf {
                            syntax::write_residual(
                                s,
                                &mut self.ctx,
                                &t.levels,
                                log2n,
                                plane > 0,
                                scan_for(1, log2n, plane > 0),
                            );
                        }
                        if plane == 0 {
                            self.st.set_coded(
                                x + (i % per) * tu,
                                y + (i / per) * tu,
                                tu_log2,
                                t.cbf,
                            );
                        }
                    }
                }
            }
        }
    }

    fn write_intra_cu<S: BinSink>(
        &mut self,
        s: &mut S,
        cu: &CuDecision,
        nxn: bool,
        modes: [u8; 4],
        chroma_index: u8,
    ) {
        let (x, y, log2) = (cu.x, cu.y, cu.log2);
        if log2 == 3 {
            syntax::write_nxn(s, &mut self.ctx, nxn);
        }
        let (parts, pu_log2) = if nxn { (4, 2) } else { (1, log2) };
        let tu_log2 = if nxn { 2 } else { log2.min(5) };
        for i in 0..parts {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = self.st.mpm(px, py);
            let nn_ctx = self.st.nn_intra_ctx(px, py, tu_log2);
            syntax::write_intra_luma(s, &mut self.ctx, modes[i], &mpm, nn_ctx);
            self.st.set_mode(px, py, pu_log2, modes[i]);
        }
        syntax::write_chroma_mode(s, &mut self.ctx, chroma_index);
        self.st.set_cu_maps(x, y, log2, tu_log2);
        self.st.set_motion(x, y, log2, Motion::INTRA, false);
        let chroma_mode = chroma_candidates(modes[0])[chroma_index as usize];
        let n_luma = cu.tus.len() - 2;
        for (i, tu) in cu.tus.iter().enumerate() {
            let (plane, log2n, mode) = if i < n_luma {
                (0, tu_log2, modes[if nxn { i } else { 0 }])
            } else {
                (i - n_luma + 1, log2 - 1, chroma_mode)
            };
            if plane == 0 {
                let size = log2n as usize - 2;
                self.intra_modes.blocks[size] += 1;
                self.intra_modes.learned[size] += (mode == NN_MODE) as u32;
            }
            let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
            syntax::write_cbf(s, &mut self.ctx, plane, log2n, cb_coded, tu.cbf);
            if tu.cbf {
                syntax::write_residual(
                    s,
                    &mut self.ctx,
                    &tu.levels,
                    log2n,
                    plane > 0,
                    scan_for(mode, log2n, plane > 0),
                );
            }
        }
    }

    // ------------------------------------------------------------ search

    fn snapshot(&self, x: usize, y: usize, log2: u32) -> Snapshot {
        let n = 1usize << log2;
        let mut planes: [Vec<u8>; 3] = Default::default();
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
        let split_ctx = self.st.split_ctx(x, y, log2);
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

    /// Best intra coding of one CU: luma mode(s), chroma mode, levels.
    fn search_intra_cu(&mut self, x: usize, y: usize, log2: u32) -> (f64, CuDecision) {
        let tu_log2 = log2.min(5);
        self.st.set_cu_maps(x, y, log2, tu_log2);
        self.st.set_motion(x, y, log2, Motion::INTRA, false);
        let mut prefix = 0.0;
        if self.inter.is_some() {
            let mode = CuMode::Intra {
                nxn: false,
                modes: [0; 4],
                chroma_index: 0,
            };
            let bits = self.prefix_bits(x, y, log2, &mode);
            prefix = self.cost(0, bits);
        }
        let mpm = self.st.mpm(x, y);
        let (mut luma_cost, mut mode, mut luma_tus) = self.search_luma_2nx2n(x, y, log2, &mpm);
        let mut modes = [mode; 4];
        let mut nxn = false;
        if log2 == 3 && (self.inter.is_none() || self.p.nxn_in_inter) {
            let mut ctx = self.ctx.nxn[0];
            let flag0 = self.cost(0, bits_of(|c| c.encode(&mut ctx, false)));
            let flag1 = self.cost(0, bits_of(|c| c.encode(&mut ctx, true)));
            luma_cost += flag0;
            let snap = self.snapshot(x, y, log2);
            self.st.set_cu_maps(x, y, log2, 2);
            let (c4, m4, t4) = self.search_luma_nxn(x, y, luma_cost - flag1);
            if c4 + flag1 < luma_cost {
                luma_cost = c4 + flag1;
                modes = m4;
                mode = m4[0];
                luma_tus = t4;
                nxn = true;
            } else {
                self.restore(x, y, log2, &snap);
                self.st.set_cu_maps(x, y, log2, tu_log2);
            }
        }
        let (chroma_cost, chroma_index, chroma_tus) = self.search_chroma(x, y, log2, mode);
        let mut tus = luma_tus;
        tus.extend(chroma_tus);
        let cu = CuDecision {
            x,
            y,
            log2,
            mode: CuMode::Intra {
                nxn,
                modes,
                chroma_index,
            },
            tus,
        };
        (prefix + luma_cost + chroma_cost, cu)
    }

    /// Best inter coding of one CU (skip, merge or searched motion).
    fn search_inter_cu(&mut self, x: usize, y: usize, log2: u32) -> (f64, CuDecision) {
        let s = 1usize << log2;
        self.st.set_cu_maps(x, y, log2, log2.min(5));
        let inter = self.inter.clone().expect("inter frame");
        let cpu = self.p.cpu;
        let sqrt_lambda = self.p.lambda.sqrt();
        let src = &self.src.planes[0];
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];

        // Merge candidates ranked by luma SATD.
        let merge = self.motion_env().expect("inter").merge_list(x, y, s);
        let mut ranked: Vec<(f64, usize)> = Vec::with_capacity(MERGE_CANDIDATES);
        for (idx, m) in merge.iter().enumerate() {
            if merge[..idx].contains(m) {
                continue;
            }
            crate::inter::predict_luma(refs, m, x, y, s, &mut self.mc.pred, &mut self.mc.tmp, cpu);
            let satd = dist::satd(
                &src.data[y * src.width + x..],
                src.width,
                &self.mc.pred,
                s,
                s,
                s,
                cpu,
            );
            ranked.push((satd as f64 + sqrt_lambda * (idx + 1) as f64, idx));
        }
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));

        // Motion search per list and reference, then bi-prediction from the two best.
        let mut best_uni: [Option<(f64, Motion, u8, u32)>; 2] = [None, None];
        let lists = inter.lists;
        let mut tmp = [[0i16; MAX_BLOCK * MAX_BLOCK]; 2];
        let mut scratch_pred = [0u8; MAX_BLOCK * MAX_BLOCK];
        for l in 0..(1 + lists.is_b() as usize) {
            for r in 0..lists.len[l].min(self.p.me.max_refs) {
                let env = self.motion_env().expect("inter");
                let amvp = env.amvp(x, y, s, l, r);
                let mut cands: Vec<Mv> = amvp.to_vec();
                for m in &merge {
                    if m.uses(l) && m.ref_idx[l] as usize == r {
                        cands.push(m.mv[l]);
                    }
                }
                // One search priced against the first predictor; then the
                // cheaper predictor for the vector found.
                let t = motion_search::Target {
                    src,
                    x,
                    y,
                    s,
                    mvp: amvp[0],
                    lambda: sqrt_lambda,
                    cpu,
                };
                let f = motion_search::search(&t, &refs[l][r], &cands, &self.p.me);
                let rates = [
                    motion_search::mv_bits(f.mv, amvp[0]),
                    motion_search::mv_bits(f.mv, amvp[1]),
                ];
                let pi = if rates[1] < rates[0] { 1 } else { 0 };
                let ref_bits = if lists.len[l] > 1 {
                    (r + 1).min(lists.len[l] - 1) as f64
                } else {
                    0.0
                };
                let c = f.satd as f64 + sqrt_lambda * (rates[pi] + ref_bits + 1.0);
                if best_uni[l].as_ref().is_none_or(|b| c < b.0) {
                    best_uni[l] = Some((c, Motion::uni(l, r as i8, f.mv), pi as u8, f.satd));
                }
            }
        }
        let mut explicit: Vec<(f64, Motion, [u8; 2])> = Vec::new();
        for (l, b) in best_uni.iter().enumerate() {
            if let Some((c, m, pi, _)) = b {
                let mut mvp = [0u8; 2];
                mvp[l] = *pi;
                explicit.push((*c, *m, mvp));
            }
        }
        if let (Some((c0, m0, p0, d0)), Some((c1, m1, p1, d1))) = (best_uni[0], best_uni[1]) {
            let m = Motion {
                ref_idx: [m0.ref_idx[0], m1.ref_idx[1]],
                mv: [m0.mv[0], m1.mv[1]],
            };
            crate::inter::predict_luma(refs, &m, x, y, s, &mut scratch_pred, &mut tmp, cpu);
            let satd = dist::satd(
                &src.data[y * src.width + x..],
                src.width,
                &scratch_pred,
                s,
                s,
                s,
                cpu,
            );
            // Rate: both vectors' rates as found.
            let rate = (c0 - d0 as f64) + (c1 - d1 as f64);
            explicit.push((satd as f64 + rate + sqrt_lambda, m, [p0, p1]));
        }
        explicit.sort_by(|a, b| a.0.total_cmp(&b.0));

        // Full rate-distortion checks of the best few.
        let start = self.snapshot(x, y, log2);
        let mut best: Option<(f64, CuDecision, Snapshot)> = None;
        let mut trials: Vec<CuMode> = Vec::new();
        for &(_, idx) in ranked.iter().take(self.p.merge_rd) {
            trials.push(CuMode::Skip {
                merge_idx: idx as u8,
                motion: merge[idx],
            });
            trials.push(CuMode::Inter {
                motion: merge[idx],
                merge_idx: Some(idx as u8),
                mvp: [0, 0],
                root_cbf: true,
            });
        }
        if let Some(&(_, m, mvp)) = explicit.first() {
            if !merge.contains(&m) {
                trials.push(CuMode::Inter {
                    motion: m,
                    merge_idx: None,
                    mvp,
                    root_cbf: true,
                });
            }
        }
        for mode in trials {
            if best.is_some() {
                self.restore(x, y, log2, &start);
            }
            let (cost, cu) = self.rd_inter(x, y, log2, mode);
            if best.as_ref().is_none_or(|b| cost < b.0) {
                let snap = self.snapshot(x, y, log2);
                best = Some((cost, cu, snap));
            }
        }
        let (cost, cu, snap) = best.expect("at least one inter candidate");
        self.restore(x, y, log2, &snap);
        (cost, cu)
    }

    /// Codes an inter CU with the given mode (residual included for `Inter`)
    /// and returns its cost. An `Inter` whose residual quantises to nothing
    /// is priced without one.
    fn rd_inter(&mut self, x: usize, y: usize, log2: u32, mode: CuMode) -> (f64, CuDecision) {
        let s = 1usize << log2;
        let cpu = self.p.cpu;
        let inter = self.inter.clone().expect("inter frame");
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];
        let (motion, skip) = match mode {
            CuMode::Skip { motion, .. } => (motion, true),
            CuMode::Inter { motion, .. } => (motion, false),
            CuMode::Intra { .. } => unreachable!("inter modes only"),
        };
        predict_block(
            refs,
            &motion,
            x,
            y,
            s,
            &mut self.mc.pred,
            &mut self.mc.tmp,
            cpu,
        );
        let pred = self.mc.pred;
        let tu_log2 = log2.min(5);
        self.st.set_cu_maps(x, y, log2, tu_log2);
        self.st.set_motion(x, y, log2, motion, skip);
        self.st.set_coded(x, y, log2, false);
        self.st.set_mode(x, y, log2, intra::DC);
        let c = s / 2;
        if skip {
            self.put_prediction(x, y, s, &pred);
            let d = self.weighted_dist(x, y, s);
            let bits = self.prefix_bits(x, y, log2, &mode);
            return (
                self.cost(0, bits) + d,
                CuDecision {
                    x,
                    y,
                    log2,
                    mode,
                    tus: Vec::new(),
                },
            );
        }
        let tu = 1usize << tu_log2;
        let per = s / tu;
        let mut tus = Vec::with_capacity(per * per + 2);
        let mut cost = 0.0;
        let mut any = false;
        for i in 0..per * per {
            let (dx, dy) = ((i % per) * tu, (i / per) * tu);
            let mut sub = [0u8; 1024];
            crate::decoder::sub_block(&pred[..s * s], s, dx, dy, tu, &mut sub);
            let o = self.code_residual(0, x + dx, y + dy, tu_log2, 1, false, &sub[..tu * tu]);
            self.st.set_coded(x + dx, y + dy, tu_log2, o.tu.cbf);
            any |= o.tu.cbf;
            cost += self.cost(o.dist, o.bits);
            tus.push(o.tu);
        }
        let cb = self.code_residual(
            1,
            x / 2,
            y / 2,
            log2 - 1,
            1,
            false,
            &pred[s * s..s * s + c * c],
        );
        let cr = self.code_residual(
            2,
            x / 2,
            y / 2,
            log2 - 1,
            1,
            cb.tu.cbf,
            &pred[s * s + c * c..s * s + 2 * c * c],
        );
        cost += self.chroma_cost(1, cb.dist, cb.bits) + self.chroma_cost(2, cr.dist, cr.bits);
        any |= cb.tu.cbf || cr.tu.cbf;
        tus.push(cb.tu);
        tus.push(cr.tu);
        let CuMode::Inter { merge_idx, mvp, .. } = mode else {
            unreachable!()
        };
        let mode = CuMode::Inter {
            motion,
            merge_idx,
            mvp,
            root_cbf: any,
        };
        if !any {
            // No residual: the flags priced above are not sent.
            for t in tus.iter_mut() {
                t.cbf = false;
            }
            let d = self.weighted_dist(x, y, s);
            let bits = self.prefix_bits(x, y, log2, &mode);
            return (
                self.cost(0, bits) + d,
                CuDecision {
                    x,
                    y,
                    log2,
                    mode,
                    tus,
                },
            );
        }
        let bits = self.prefix_bits(x, y, log2, &mode);
        (
            cost + self.cost(0, bits),
            CuDecision {
                x,
                y,
                log2,
                mode,
                tus,
            },
        )
    }

    /// Writes a whole-CU prediction (luma then chroma) into the reconstruction.
    fn put_prediction(&mut self, x: usize, y: usize, s: usize, pred: &[u8]) {
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

    /// Rate of a luma mode given the most probable modes.
    fn mode_bits(&mut self, mode: u8, mpm: &[u8; 3], nn_ctx: Option<usize>) -> u64 {
        let ctx = &mut self.ctx;
        bits_of(|c| syntax::write_intra_luma(c, ctx, mode, mpm, nn_ctx))
    }

    /// Luma modes worth a full rate-distortion check for the block at (x, y):
    /// the best by SATD plus the most probable modes.
    fn candidate_modes(
        &mut self,
        x: usize,
        y: usize,
        log2n: u32,
        cu: (usize, usize),
        mpm: &[u8; 3],
    ) -> Vec<u8> {
        let n = 1usize << log2n;
        let mut refs = [0u8; 129];
        self.st.gather_refs(0, x, y, log2n, cu, &mut refs);
        let src = &self.src.planes[0];
        let mut pred = [0u8; 1024];
        let sqrt_lambda = self.p.lambda.sqrt();
        let nn_ctx = self.st.nn_intra_ctx(x, y, log2n);
        let mut scored: Vec<(f64, u8)> = Vec::with_capacity(36);
        for mode in 0..intra::NUM_MODES {
            predict_from_refs(0, log2n, mode, &refs, self.p.cpu, &mut pred[..n * n]);
            let satd = dist::satd(
                &src.data[y * src.width + x..],
                src.width,
                &pred,
                n,
                n,
                n,
                self.p.cpu,
            );
            let bits = self.mode_bits(mode, mpm, nn_ctx);
            scored.push((
                satd as f64 + sqrt_lambda * bits as f64 / COST_ONE_BIT as f64,
                mode,
            ));
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let keep = self.p.rd_modes[(log2n as usize).min(5) - 2];
        let mut out: Vec<u8> = scored.iter().take(keep).map(|s| s.1).collect();
        for &m in mpm {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        // The learned mode always gets a full check where it can be coded:
        // its SATD ranks it poorly against how little residual it leaves.
        if nn_ctx.is_some() {
            out.push(NN_MODE);
        }
        out
    }

    fn search_luma_2nx2n(
        &mut self,
        x: usize,
        y: usize,
        log2: u32,
        mpm: &[u8; 3],
    ) -> (f64, u8, Vec<TuLevels>) {
        let tu_log2 = log2.min(5);
        let candidates = self.candidate_modes(x, y, tu_log2, (x, y), mpm);
        let mut best: Option<(f64, u8, Vec<TuLevels>, Snapshot)> = None;
        let before = self.snapshot(x, y, log2);
        let nn_ctx = self.st.nn_intra_ctx(x, y, tu_log2);
        for mode in candidates {
            if best.is_some() {
                self.restore(x, y, log2, &before);
            }
            let mode_bits = self.mode_bits(mode, mpm, nn_ctx);
            let mut cost = self.cost(0, mode_bits);
            let tu = 1usize << tu_log2;
            let per = (1usize << log2) / tu;
            let mut tus = Vec::with_capacity(per * per);
            for i in 0..per * per {
                let (tx, ty) = (x + (i % per) * tu, y + (i / per) * tu);
                let o = self.code_tu(0, tx, ty, tu_log2, mode, (tx, ty), false);
                cost += self.cost(o.dist, o.bits);
                tus.push(o.tu);
            }
            if best.as_ref().is_none_or(|b| cost < b.0) {
                let snap = self.snapshot(x, y, log2);
                best = Some((cost, mode, tus, snap));
            }
        }
        let (cost, mode, tus, snap) = best.expect("at least one candidate");
        self.restore(x, y, log2, &snap);
        self.st.set_mode(x, y, log2, mode);
        (cost, mode, tus)
    }

    /// Four 4x4 luma blocks with their own modes (8x8 CUs only). Stops early
    /// once the running cost exceeds `bail`.
    fn search_luma_nxn(&mut self, x: usize, y: usize, bail: f64) -> (f64, [u8; 4], Vec<TuLevels>) {
        let mut total = 0.0;
        let mut modes = [0u8; 4];
        let mut tus = Vec::with_capacity(4);
        for i in 0..4 {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = self.st.mpm(px, py);
            let candidates = self.candidate_modes(px, py, 2, (px, py), &mpm);
            let mut best: Option<(f64, u8, TuLevels, Snapshot)> = None;
            let before = self.snapshot(px, py, 2);
            let nn_ctx = self.st.nn_intra_ctx(px, py, 2);
            for mode in candidates {
                if best.is_some() {
                    self.restore(px, py, 2, &before);
                }
                let o = self.code_tu(0, px, py, 2, mode, (px, py), false);
                let mode_bits = self.mode_bits(mode, &mpm, nn_ctx);
                let cost = self.cost(o.dist, o.bits + mode_bits);
                if best.as_ref().is_none_or(|b| cost < b.0) {
                    best = Some((cost, mode, o.tu, self.snapshot(px, py, 2)));
                }
            }
            let (cost, mode, tu, snap) = best.expect("candidates");
            self.restore(px, py, 2, &snap);
            self.st.set_mode(px, py, 2, mode);
            modes[i] = mode;
            tus.push(tu);
            total += cost;
            if total > bail {
                return (f64::INFINITY, modes, tus);
            }
        }
        (total, modes, tus)
    }

    fn search_chroma(
        &mut self,
        x: usize,
        y: usize,
        log2: u32,
        luma_mode: u8,
    ) -> (f64, u8, Vec<TuLevels>) {
        let cands = chroma_candidates(luma_mode);
        let (cx, cy, c_log2) = (x / 2, y / 2, log2 - 1);
        let before = self.snapshot(x, y, log2);
        let mut best: Option<(f64, u8, Vec<TuLevels>, Snapshot)> = None;
        // Derived mode first: it is the cheapest to signal and usually best.
        for index in [4u8, 0, 1, 2, 3] {
            if best.is_some() {
                self.restore(x, y, log2, &before);
            }
            let mode = cands[index as usize];
            let ctx = &mut self.ctx;
            let mode_bits = bits_of(|c| syntax::write_chroma_mode(c, ctx, index));
            let mut cost = self.cost(0, mode_bits);
            let cb = self.code_tu(1, cx, cy, c_log2, mode, (x, y), false);
            let cr = self.code_tu(2, cx, cy, c_log2, mode, (x, y), cb.tu.cbf);
            cost += self.chroma_cost(1, cb.dist, cb.bits) + self.chroma_cost(2, cr.dist, cr.bits);
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, index, vec![cb.tu, cr.tu], self.snapshot(x, y, log2)));
            }
        }
        let (cost, index, tus, snap) = best.expect("candidates");
        self.restore(x, y, log2, &snap);
        (cost, index, tus)
    }

    /// Chroma distortion is weighted by the ratio of the luma and chroma step sizes.
    fn chroma_cost(&self, plane: usize, dist: u64, bits: u64) -> f64 {
        let dq = self.p.qp as f64 - self.p.chroma_qp[plane - 1] as f64;
        dist as f64 * 2f64.powf(dq / 3.0) + self.p.lambda * bits as f64 / COST_ONE_BIT as f64
    }

    /// Intra-predicts one transform block, then codes its residual.
    #[allow(clippy::too_many_arguments)]
    fn code_tu(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        log2n: u32,
        mode: u8,
        cu: (usize, usize),
        cb_coded: bool,
    ) -> TuOutcome {
        let n = 1usize << log2n;
        let mut pred = [0u8; 1024];
        self.st
            .predict(plane, x, y, log2n, mode, cu, self.p.cpu, &mut pred[..n * n]);
        self.code_residual(plane, x, y, log2n, mode, cb_coded, &pred[..n * n])
    }

    /// Transforms, quantises and reconstructs one transform block on top of
    /// `pred`, writing the reconstruction into the picture. `mode` selects the
    /// scan (1, DC, gives the diagonal scan used by inter blocks).
    #[allow(clippy::too_many_arguments)]
    fn code_residual(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        log2n: u32,
        mode: u8,
        cb_coded: bool,
        pred: &[u8],
    ) -> TuOutcome {
        let n = 1usize << log2n;
        let cpu = self.p.cpu;
        let TuScratch {
            resid,
            coeffs,
            recon,
            rdoq: rdoq_tmp,
            recon_tmp,
            ..
        } = &mut *self.scratch;
        let (resid, coeffs, recon) = (
            &mut resid[..n * n],
            &mut coeffs[..n * n],
            &mut recon[..n * n],
        );
        let src = &self.src.planes[plane];
        for r in 0..n {
            let s = &src.data[(y + r) * src.width + x..][..n];
            for c in 0..n {
                resid[r * n + c] = s[c] as i16 - pred[r * n + c] as i16;
            }
        }
        transform::forward(tx_kind(plane, log2n), log2n, resid, coeffs, cpu);
        let qp = if plane == 0 {
            self.p.qp
        } else {
            self.p.chroma_qp[plane - 1]
        };
        let q = QuantParams::new(qp, log2n);
        let mut levels = vec![0i16; n * n].into_boxed_slice();
        let scan = scan_for(mode, log2n, plane > 0);
        let any = if self.p.use_rdoq {
            rdoq(
                coeffs,
                &mut levels,
                q,
                log2n,
                plane > 0,
                scan,
                &self.ctx,
                self.p.lambda_for(plane),
                rdoq_tmp,
            )
        } else {
            quantize(coeffs, &mut levels, q, 171)
        };
        let ctx = &mut self.ctx;
        let zero_bits = bits_of(|c| syntax::write_cbf(c, ctx, plane, log2n, cb_coded, false));
        let pred_dist = dist::sse(
            &src.data[y * src.width + x..],
            src.width,
            pred,
            n,
            n,
            n,
            cpu,
        );
        let mut out = TuOutcome {
            tu: TuLevels { cbf: false, levels },
            dist: pred_dist,
            bits: zero_bits,
        };
        if any {
            reconstruct(
                &out.tu.levels,
                (n, n),
                plane,
                log2n,
                qp,
                pred,
                recon,
                cpu,
                recon_tmp,
            );
            let d = dist::sse(
                &src.data[y * src.width + x..],
                src.width,
                recon,
                n,
                n,
                n,
                cpu,
            );
            let ctx = &mut self.ctx;
            let levels = &out.tu.levels;
            let bits = bits_of(|c| {
                syntax::write_cbf(c, ctx, plane, log2n, cb_coded, true);
                syntax::write_residual(c, ctx, levels, log2n, plane > 0, scan);
            });
            let w = if plane == 0 {
                1.0
            } else {
                2f64.powf((self.p.qp as f64 - qp as f64) / 3.0)
            };
            let coded = d as f64 * w + self.p.lambda * bits as f64 / COST_ONE_BIT as f64;
            let skipped =
                pred_dist as f64 * w + self.p.lambda * zero_bits as f64 / COST_ONE_BIT as f64;
            if coded < skipped {
                self.st.put_block(plane, x, y, n, recon);
                out.tu.cbf = true;
                out.dist = d;
                out.bits = bits;
                return out;
            }
            out.tu.levels.fill(0);
        }
        self.st.put_block(plane, x, y, n, pred);
        out
    }
}

impl SearchParams {
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
