//! Intra mode decision: luma modes ranked by SATD plus mode bits, the best
//! few coded for real (2Nx2N and, for 8x8 CUs, the four 4x4 parts), then
//! the chroma mode.

use super::*;

impl FrameSearch<'_> {
    /// Best intra coding of one CU: luma mode(s), chroma mode, levels.
    pub(super) fn search_intra_cu(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
    ) -> (f64, CuDecision) {
        let (tw, th) = transform_tiles(w, h);
        self.st.set_cu_maps(x, y, w, h, tw, th);
        self.st.set_motion(x, y, w, h, Motion::INTRA, false);
        let mut prefix = 0.0;
        if self.inter.is_some() {
            let mode = CuMode::Intra {
                nxn: false,
                modes: [0; 4],
                chroma_index: 0,
            };
            let bits = self.prefix_bits(x, y, w, h, &mode);
            prefix = self.cost(0, bits);
        }
        let mpm = intra::mpm(&self.st, x, y);
        let (mut luma_cost, mut mode, mut luma_tus) = self.search_luma_2nx2n(x, y, w, h, &mpm);
        let mut modes = [mode; 4];
        let mut nxn = false;
        if w == 8 && h == 8 && (self.inter.is_none() || self.p.nxn_in_inter) {
            let mut ctx = self.ctx.nxn[0];
            let flag0 = self.cost(0, bits_of(|c| c.encode(&mut ctx, false)));
            let flag1 = self.cost(0, bits_of(|c| c.encode(&mut ctx, true)));
            luma_cost += flag0;
            let snap = self.snapshot(x, y, w, h);
            self.st.set_cu_maps(x, y, w, h, 4, 4);
            // The parts see only what is decoded before them.
            self.st.set_decoded(x, y, w, h, false);
            let (c4, m4, t4) = self.search_luma_nxn(x, y, luma_cost - flag1);
            if c4 + flag1 < luma_cost {
                luma_cost = c4 + flag1;
                modes = m4;
                mode = m4[0];
                luma_tus = t4;
                nxn = true;
            } else {
                self.restore(x, y, w, h, &snap);
                self.st.set_cu_maps(x, y, w, h, tw, th);
            }
        }
        let (chroma_cost, chroma_index, chroma_tus) = self.search_chroma(x, y, w, h, mode);
        let mut tus = luma_tus;
        tus.extend(chroma_tus);
        let cu = CuDecision {
            x,
            y,
            w,
            h,
            mode: CuMode::Intra {
                nxn,
                modes,
                chroma_index,
            },
            tus,
        };
        (prefix + luma_cost + chroma_cost, cu)
    }

    /// Rate of a luma mode given the most probable modes.
    pub(super) fn mode_bits(&mut self, mode: u8, mpm: &[u8; 3], nn_ctx: Option<usize>) -> u64 {
        let ctx = &mut self.ctx;
        bits_of(|c| intra::write_intra_luma(c, ctx, mode, mpm, nn_ctx))
    }

    /// Luma modes worth a full rate-distortion check for the block at (x, y):
    /// the best by SATD plus the most probable modes.
    pub(super) fn candidate_modes(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mpm: &[u8; 3],
    ) -> Vec<u8> {
        let mut refs = [0u16; intra::MAX_REFS];
        intra::gather_refs(&self.st, 0, x, y, log2(w), log2(h), &mut refs);
        let src = &self.src.planes[0];
        let mut pred = [0u16; 1024];
        let sqrt_lambda = self.p.lambda.sqrt();
        let nn_ctx = self.nn_intra_ctx(x, y, w, h);
        let mut scored: Vec<(f64, u8)> = Vec::with_capacity(36);
        for mode in 0..dsp::intra::NUM_MODES {
            let bd = self.p.bit_depth;
            predict_from_refs(
                0,
                log2(w),
                log2(h),
                mode,
                &refs,
                bd,
                self.p.cpu,
                &mut pred[..w * h],
            );
            let satd = dist::satd(
                &src.data[y * src.width + x..],
                src.width,
                &pred,
                w,
                w,
                h,
                self.p.cpu,
            );
            let bits = self.mode_bits(mode, mpm, nn_ctx);
            scored.push((
                satd as f64 + sqrt_lambda * bits as f64 / COST_ONE_BIT as f64,
                mode,
            ));
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let keep = self.p.rd_modes[((log2(w) + log2(h)) as usize / 2).min(5) - 2];
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

    pub(super) fn search_luma_2nx2n(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mpm: &[u8; 3],
    ) -> (f64, u8, Vec<TuLevels>) {
        let (tw, th) = transform_tiles(w, h);
        let candidates = self.candidate_modes(x, y, tw, th, mpm);
        let mut best: Option<(f64, u8, Vec<TuLevels>, Snapshot)> = None;
        let before = self.snapshot(x, y, w, h);
        let nn_ctx = self.nn_intra_ctx(x, y, tw, th);
        for mode in candidates {
            if best.is_some() {
                self.restore(x, y, w, h, &before);
            }
            let mode_bits = self.mode_bits(mode, mpm, nn_ctx);
            let mut cost = self.cost(0, mode_bits);
            let mut tus = Vec::with_capacity((w / tw) * (h / th));
            for (dx, dy) in tile_offsets(w, h, tw, th) {
                let o = self.code_tu(0, x + dx, y + dy, tw, th, mode, false);
                cost += self.cost(o.dist, o.bits);
                tus.push(o.tu);
            }
            if best.as_ref().is_none_or(|b| cost < b.0) {
                let snap = self.snapshot(x, y, w, h);
                best = Some((cost, mode, tus, snap));
            }
        }
        let (cost, mode, tus, snap) = best.expect("at least one candidate");
        self.restore(x, y, w, h, &snap);
        self.st.set_mode(x, y, w, h, mode);
        (cost, mode, tus)
    }

    /// Four 4x4 luma blocks with their own modes (8x8 CUs only). Stops early
    /// once the running cost exceeds `bail`.
    pub(super) fn search_luma_nxn(
        &mut self,
        x: usize,
        y: usize,
        bail: f64,
    ) -> (f64, [u8; 4], Vec<TuLevels>) {
        let mut total = 0.0;
        let mut modes = [0u8; 4];
        let mut tus = Vec::with_capacity(4);
        for i in 0..4 {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = intra::mpm(&self.st, px, py);
            let candidates = self.candidate_modes(px, py, 4, 4, &mpm);
            let mut best: Option<(f64, u8, TuLevels, Snapshot)> = None;
            let before = self.snapshot(px, py, 4, 4);
            let nn_ctx = self.nn_intra_ctx(px, py, 4, 4);
            for mode in candidates {
                if best.is_some() {
                    self.restore(px, py, 4, 4, &before);
                }
                let o = self.code_tu(0, px, py, 4, 4, mode, false);
                let mode_bits = self.mode_bits(mode, &mpm, nn_ctx);
                let cost = self.cost(o.dist, o.bits + mode_bits);
                if best.as_ref().is_none_or(|b| cost < b.0) {
                    best = Some((cost, mode, o.tu, self.snapshot(px, py, 4, 4)));
                }
            }
            let (cost, mode, tu, snap) = best.expect("candidates");
            self.restore(px, py, 4, 4, &snap);
            self.st.set_mode(px, py, 4, 4, mode);
            modes[i] = mode;
            tus.push(tu);
            total += cost;
            if total > bail {
                return (f64::INFINITY, modes, tus);
            }
        }
        (total, modes, tus)
    }

    pub(super) fn search_chroma(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        luma_mode: u8,
    ) -> (f64, u8, Vec<TuLevels>) {
        let cands = chroma_candidates(luma_mode);
        let (cx, cy, cw, ch) = (x / 2, y / 2, w / 2, h / 2);
        let before = self.snapshot(x, y, w, h);
        let mut best: Option<(f64, u8, Vec<TuLevels>, Snapshot)> = None;
        // Derived mode first: it is the cheapest to signal and usually best.
        let lm = self.cclm.then_some(intra::LM_INDEX);
        for index in [4u8, 0, 1, 2, 3].into_iter().chain(lm) {
            if best.is_some() {
                self.restore(x, y, w, h, &before);
            }
            let mode = cands[index as usize];
            let ctx = &mut self.ctx;
            let cclm = self.cclm;
            let mode_bits = bits_of(|c| intra::write_chroma_mode(c, ctx, index, cclm));
            let mut cost = self.cost(0, mode_bits);
            let cb = self.code_tu(1, cx, cy, cw, ch, mode, false);
            let cr = self.code_tu(2, cx, cy, cw, ch, mode, cb.tu.cbf);
            cost += self.chroma_cost(1, cb.dist, cb.bits) + self.chroma_cost(2, cr.dist, cr.bits);
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, index, vec![cb.tu, cr.tu], self.snapshot(x, y, w, h)));
            }
        }
        let (cost, index, tus, snap) = best.expect("candidates");
        self.restore(x, y, w, h, &snap);
        (cost, index, tus)
    }

    /// Chroma distortion is weighted by the ratio of the luma and chroma step sizes.
    pub(super) fn chroma_cost(&self, plane: usize, dist: u64, bits: u64) -> f64 {
        let dq = self.p.qp as f64 - self.p.chroma_qp[plane - 1] as f64;
        dist as f64 * 2f64.powf(dq / 3.0) + self.p.lambda * bits as f64 / COST_ONE_BIT as f64
    }
}
