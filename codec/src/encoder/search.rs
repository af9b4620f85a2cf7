//! Rate-distortion search of one frame: partitions, intra modes and levels,
//! with rates measured by running the real syntax writer into a bit counter.

use crate::cpu::CpuLevel;
use crate::dsp::{dist, intra, transform};
use crate::entropy::{BinSink, BitCounter, RangeEncoder, COST_ONE_BIT};
use crate::frame::Frame;
use crate::quant::{quantize, QuantParams};
use crate::recon::{predict_from_refs, reconstruct, tx_kind, PicState, ReconScratch, SB_LOG2};
use crate::syntax::{self, chroma_candidates, scan_for, Contexts};
use crate::tables::chroma_qp;

use super::rdoq::{rdoq, RdoqScratch};

/// Decisions for one transform block.
#[derive(Clone)]
pub(crate) struct TuLevels {
    pub cbf: bool,
    pub levels: Box<[i16]>,
}

/// Decisions for one coding unit, in coding order.
#[derive(Clone)]
pub(crate) struct CuDecision {
    pub x: usize,
    pub y: usize,
    pub log2: u32,
    pub nxn: bool,
    pub modes: [u8; 4],
    pub chroma_index: u8,
    /// Luma transform blocks in z-order, then Cb, then Cr.
    pub tus: Vec<TuLevels>,
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
}

impl SearchParams {
    pub fn new(qp: u8, chroma_offset: [i8; 2], cpu: CpuLevel, use_rdoq: bool) -> SearchParams {
        let lambda = 0.57 * 2f64.powf((qp as f64 - 12.0) / 3.0);
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
}

/// Buffers of one transform block's coding, allocated once per frame.
struct TuScratch {
    pred: [u8; 1024],
    resid: [i16; 1024],
    coeffs: [i16; 1024],
    recon: [u8; 1024],
    rdoq: RdoqScratch,
    recon_tmp: ReconScratch,
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
}

impl<'a> FrameSearch<'a> {
    pub fn new(src: &'a Frame, p: SearchParams) -> FrameSearch<'a> {
        let st = PicState::new(src.planes[0].width, src.planes[0].height);
        let scratch = Box::new(TuScratch {
            pred: [0; 1024],
            resid: [0; 1024],
            coeffs: [0; 1024],
            recon: [0; 1024],
            rdoq: RdoqScratch::default(),
            recon_tmp: ReconScratch::default(),
        });
        FrameSearch { src, st, ctx: Contexts::default(), p, scratch }
    }

    fn cost(&self, dist: u64, bits: u64) -> f64 {
        dist as f64 + self.p.lambda * bits as f64 / COST_ONE_BIT as f64
    }

    /// Searches and codes the whole frame, returning the entropy-coded payload.
    pub fn encode(&mut self) -> Vec<u8> {
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
        enc.finish()
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

    fn write_cu<S: BinSink>(&mut self, s: &mut S, cu: &CuDecision) {
        let (x, y, log2) = (cu.x, cu.y, cu.log2);
        if log2 == 3 {
            syntax::write_nxn(s, &mut self.ctx, cu.nxn);
        }
        let (parts, pu_log2) = if cu.nxn { (4, 2) } else { (1, log2) };
        for i in 0..parts {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = self.st.mpm(px, py);
            syntax::write_luma_mode(s, &mut self.ctx, cu.modes[i], &mpm);
            self.st.set_mode(px, py, pu_log2, cu.modes[i]);
        }
        syntax::write_chroma_mode(s, &mut self.ctx, cu.chroma_index);
        let tu_log2 = if cu.nxn { 2 } else { log2.min(5) };
        self.st.set_cu_maps(x, y, log2, tu_log2);
        let chroma_mode = chroma_candidates(cu.modes[0])[cu.chroma_index as usize];
        let n_luma = cu.tus.len() - 2;
        for (i, tu) in cu.tus.iter().enumerate() {
            let (plane, log2n, mode) = if i < n_luma {
                (0, tu_log2, cu.modes[if cu.nxn { i } else { 0 }])
            } else {
                (i - n_luma + 1, log2 - 1, chroma_mode)
            };
            let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
            syntax::write_cbf(s, &mut self.ctx, plane, log2n, cb_coded, tu.cbf);
            if tu.cbf {
                syntax::write_residual(s, &mut self.ctx, &tu.levels, log2n, plane > 0, scan_for(mode, log2n, plane > 0));
            }
        }
    }

    // ------------------------------------------------------------ search

    fn snapshot(&self, x: usize, y: usize, log2: u32) -> Snapshot {
        let n = 1usize << log2;
        let mut planes: [Vec<u8>; 3] = Default::default();
        for (pi, out) in planes.iter_mut().enumerate() {
            let (px, py, pn) = if pi == 0 { (x, y, n) } else { (x / 2, y / 2, n / 2) };
            let p = &self.st.recon.planes[pi];
            for r in 0..pn {
                out.extend_from_slice(&p.data[(py + r) * p.width + px..][..pn]);
            }
        }
        let grab = |map: &[u8], unit: usize| {
            let w = self.st.w / unit;
            let k = n / unit;
            let mut v = Vec::with_capacity(k * k);
            for r in 0..k {
                v.extend_from_slice(&map[(y / unit + r) * w + x / unit..][..k]);
            }
            v
        };
        Snapshot {
            planes,
            modes: grab(&self.st.luma_modes, 4),
            cu: grab(&self.st.cu_log2, 8),
            tu: grab(&self.st.tu_log2, 8),
        }
    }

    fn restore(&mut self, x: usize, y: usize, log2: u32, s: &Snapshot) {
        let n = 1usize << log2;
        for pi in 0..3 {
            let (px, py, pn) = if pi == 0 { (x, y, n) } else { (x / 2, y / 2, n / 2) };
            let p = &mut self.st.recon.planes[pi];
            for r in 0..pn {
                p.data[(py + r) * p.width + px..][..pn].copy_from_slice(&s.planes[pi][r * pn..][..pn]);
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

    /// Best coding of one CU: luma mode(s), chroma mode, levels. Leaves the
    /// reconstruction and maps in the state of that choice.
    fn search_cu(&mut self, x: usize, y: usize, log2: u32) -> (f64, CuDecision) {
        let tu_log2 = log2.min(5);
        self.st.set_cu_maps(x, y, log2, tu_log2);
        let mpm = self.st.mpm(x, y);
        let (mut luma_cost, mut mode, mut luma_tus) = self.search_luma_2nx2n(x, y, log2, &mpm);
        let mut modes = [mode; 4];
        let mut nxn = false;
        if log2 == 3 {
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
        let cu = CuDecision { x, y, log2, nxn, modes, chroma_index, tus };
        let _ = modes;
        (luma_cost + chroma_cost, cu)
    }

    /// Rate of a luma mode given the most probable modes.
    fn mode_bits(&mut self, mode: u8, mpm: &[u8; 3]) -> u64 {
        let ctx = &mut self.ctx;
        bits_of(|c| syntax::write_luma_mode(c, ctx, mode, mpm))
    }

    /// Luma modes worth a full rate-distortion check for the block at (x, y):
    /// the best by SATD plus the most probable modes.
    fn candidate_modes(&mut self, x: usize, y: usize, log2n: u32, cu: (usize, usize), mpm: &[u8; 3]) -> Vec<u8> {
        let n = 1usize << log2n;
        let mut refs = [0u8; 129];
        self.st.gather_refs(0, x, y, log2n, cu, &mut refs);
        let src = &self.src.planes[0];
        let mut pred = [0u8; 1024];
        let sqrt_lambda = self.p.lambda.sqrt();
        let mut scored: Vec<(f64, u8)> = Vec::with_capacity(35);
        for mode in 0..intra::NUM_MODES {
            predict_from_refs(0, log2n, mode, &refs, self.p.cpu, &mut pred[..n * n]);
            let satd = dist::satd(&src.data[y * src.width + x..], src.width, &pred, n, n, n, self.p.cpu);
            let bits = self.mode_bits(mode, mpm);
            scored.push((satd as f64 + sqrt_lambda * bits as f64 / COST_ONE_BIT as f64, mode));
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let keep = self.p.rd_modes[(log2n as usize).min(5) - 2];
        let mut out: Vec<u8> = scored.iter().take(keep).map(|s| s.1).collect();
        for &m in mpm {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    fn search_luma_2nx2n(&mut self, x: usize, y: usize, log2: u32, mpm: &[u8; 3]) -> (f64, u8, Vec<TuLevels>) {
        let tu_log2 = log2.min(5);
        let candidates = self.candidate_modes(x, y, tu_log2, (x, y), mpm);
        let mut best: Option<(f64, u8, Vec<TuLevels>, Snapshot)> = None;
        let before = self.snapshot(x, y, log2);
        for mode in candidates {
            if best.is_some() {
                self.restore(x, y, log2, &before);
            }
            let mode_bits = self.mode_bits(mode, mpm);
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
            for mode in candidates {
                if best.is_some() {
                    self.restore(px, py, 2, &before);
                }
                let o = self.code_tu(0, px, py, 2, mode, (px, py), false);
                let mode_bits = self.mode_bits(mode, &mpm);
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

    fn search_chroma(&mut self, x: usize, y: usize, log2: u32, luma_mode: u8) -> (f64, u8, Vec<TuLevels>) {
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

    /// Predicts, transforms, quantises and reconstructs one transform block,
    /// writing the reconstruction into the picture.
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
        let cpu = self.p.cpu;
        let TuScratch { pred, resid, coeffs, recon, rdoq: rdoq_tmp, recon_tmp } = &mut *self.scratch;
        let (pred, resid, coeffs, recon) = (&mut pred[..n * n], &mut resid[..n * n], &mut coeffs[..n * n], &mut recon[..n * n]);
        self.st.predict(plane, x, y, log2n, mode, cu, cpu, pred);
        let src = &self.src.planes[plane];
        for r in 0..n {
            let s = &src.data[(y + r) * src.width + x..][..n];
            for c in 0..n {
                resid[r * n + c] = s[c] as i16 - pred[r * n + c] as i16;
            }
        }
        transform::forward(tx_kind(plane, log2n), log2n, resid, coeffs, cpu);
        let qp = if plane == 0 { self.p.qp } else { self.p.chroma_qp[plane - 1] };
        let q = QuantParams::new(qp, log2n);
        let mut levels = vec![0i16; n * n].into_boxed_slice();
        let scan = scan_for(mode, log2n, plane > 0);
        let any = if self.p.use_rdoq {
            rdoq(coeffs, &mut levels, q, log2n, plane > 0, scan, &self.ctx, self.p.lambda_for(plane), rdoq_tmp)
        } else {
            quantize(coeffs, &mut levels, q, 171)
        };
        let ctx = &mut self.ctx;
        let zero_bits = bits_of(|c| syntax::write_cbf(c, ctx, plane, log2n, cb_coded, false));
        let pred_dist = dist::sse(&src.data[y * src.width + x..], src.width, pred, n, n, n, cpu);
        let mut out = TuOutcome { tu: TuLevels { cbf: false, levels }, dist: pred_dist, bits: zero_bits };
        if any {
            reconstruct(&out.tu.levels, (n, n), plane, log2n, qp, pred, recon, cpu, recon_tmp);
            let d = dist::sse(&src.data[y * src.width + x..], src.width, recon, n, n, n, cpu);
            let ctx = &mut self.ctx;
            let levels = &out.tu.levels;
            let bits = bits_of(|c| {
                syntax::write_cbf(c, ctx, plane, log2n, cb_coded, true);
                syntax::write_residual(c, ctx, levels, log2n, plane > 0, scan);
            });
            let w = if plane == 0 { 1.0 } else { 2f64.powf((self.p.qp as f64 - qp as f64) / 3.0) };
            let coded = d as f64 * w + self.p.lambda * bits as f64 / COST_ONE_BIT as f64;
            let skipped = pred_dist as f64 * w + self.p.lambda * zero_bits as f64 / COST_ONE_BIT as f64;
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
