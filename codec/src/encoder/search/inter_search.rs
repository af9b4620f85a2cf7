//! Inter mode decision: merge candidates (skip or with a residual), motion
//! search per reference, uni- or bi-prediction, coded for real.

use super::*;

/// Vectors found by the motion search of the CU searched last at one depth
/// of the coding tree, per list and reference, so the CUs inside it can
/// start from them.
#[derive(Clone, Copy, Default)]
pub(super) struct ParentMotion {
    /// Area of that CU, (x, y, w, h) (`None`: none searched yet).
    at: Option<(usize, usize, usize, usize)>,
    /// Its best vector per list and reference.
    mv: [[Option<Mv>; 4]; 2],
}

impl FrameSearch<'_> {
    pub(super) fn motion_env(&self) -> Option<MotionEnv<'_>> {
        let inter = self.inter.as_ref()?;
        Some(MotionEnv {
            pic: &self.st,
            lists: &inter.lists,
            col: inter.col.as_deref(),
            history: self.history_merge,
        })
    }

    /// The decoder-side refinements of a CU of `w` x `h` with motion `m`
    /// (`merged`: a merge candidate's).
    fn refinement(
        &self,
        lists: &RefLists,
        m: &Motion,
        merged: bool,
        w: usize,
        h: usize,
    ) -> Refinement {
        if !inter::refinable(lists, m, w, h) {
            return Refinement::NONE;
        }
        Refinement {
            dmvr: self.dmvr && merged,
            bdof: self.bdof,
        }
    }

    /// Best inter coding of one CU (skip, merge or searched motion).
    pub(super) fn search_inter_cu(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
    ) -> (f64, CuDecision) {
        let (tw, th) = transform_tiles(w, h);
        self.st.set_cu_maps(x, y, w, h, tw, th);
        let inter = self.inter.clone().expect("inter frame");
        let cpu = self.p.cpu;
        let sqrt_lambda = self.p.lambda.sqrt();
        let src = &self.src.planes[0];
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];

        // Merge candidates ranked by luma SATD.
        let merge = self.motion_env().expect("inter").merge_list(x, y, w, h);
        let mut ranked: Vec<(f64, usize)> = Vec::with_capacity(MERGE_CANDIDATES);
        for (idx, m) in merge.iter().enumerate() {
            if merge[..idx].contains(m) {
                continue;
            }
            inter::predict_luma(
                refs,
                m,
                self.refinement(&inter.lists, m, true, w, h),
                x,
                y,
                w,
                h,
                &mut self.mc.pred,
                &mut self.mc.tmp,
                cpu,
            );
            let satd = dist::satd(
                &src.data[y * src.width + x..],
                src.width,
                &self.mc.pred,
                w,
                w,
                h,
                cpu,
            );
            ranked.push((satd as f64 + sqrt_lambda * (idx + 1) as f64, idx));
        }
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));

        // Motion search per list and reference, then bi-prediction from the two best.
        let mut best_uni: [Option<(f64, Motion, u8, u32)>; 2] = [None, None];
        let lists = inter.lists;
        let mut tmp = [[0i16; MAX_BLOCK * MAX_BLOCK]; 2];
        let mut scratch_pred = [0u16; MAX_BLOCK * MAX_BLOCK];
        // The enclosing CU's vectors, when it was searched (the search is
        // depth first, so the last CU searched one level up that holds this
        // one is the parent).
        let depth = self.depth;
        let parent = (depth > 0)
            .then(|| self.parent_motion[depth - 1])
            .filter(|p| {
                p.at.is_some_and(|(px, py, pw, ph)| {
                    px <= x && x + w <= px + pw && py <= y && y + h <= py + ph
                })
            });
        let mut found = ParentMotion {
            at: Some((x, y, w, h)),
            ..Default::default()
        };
        for l in 0..(1 + lists.is_b() as usize) {
            for r in 0..lists.len[l].min(self.p.me.max_refs) {
                let env = self.motion_env().expect("inter");
                let amvp = env.amvp(x, y, w, h, l, r);
                let mut cands: Vec<Mv> = amvp.to_vec();
                for m in &merge {
                    if m.uses(l) && m.ref_idx[l] as usize == r {
                        cands.push(m.mv[l]);
                    }
                }
                if let Some(mv) = parent.and_then(|p| p.mv[l][r]) {
                    cands.push(mv);
                }
                // One search priced against the first predictor; then the
                // cheaper predictor for the vector found.
                let t = motion_search::Target {
                    src,
                    x,
                    y,
                    w,
                    h,
                    mvp: amvp[0],
                    lambda: sqrt_lambda,
                    cpu,
                    range: self.p.me.range_for(lists.cur_poc - lists.poc[l][r]),
                };
                let f = motion_search::search(&t, &refs[l][r], &cands, &self.p.me);
                found.mv[l][r] = Some(f.mv);
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
        self.parent_motion[depth] = found;
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
            let refine = self.refinement(&lists, &m, false, w, h);
            inter::predict_luma(
                refs,
                &m,
                refine,
                x,
                y,
                w,
                h,
                &mut scratch_pred,
                &mut tmp,
                cpu,
            );
            let satd = dist::satd(
                &src.data[y * src.width + x..],
                src.width,
                &scratch_pred,
                w,
                w,
                h,
                cpu,
            );
            // Rate: both vectors' rates as found.
            let rate = (c0 - d0 as f64) + (c1 - d1 as f64);
            explicit.push((satd as f64 + rate + sqrt_lambda, m, [p0, p1]));
        }
        explicit.sort_by(|a, b| a.0.total_cmp(&b.0));

        // Full rate-distortion checks of the best few.
        let start = self.snapshot(x, y, w, h);
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
                self.restore(x, y, w, h, &start);
            }
            let (cost, cu) = self.rd_inter(x, y, w, h, mode);
            if best.as_ref().is_none_or(|b| cost < b.0) {
                let snap = self.snapshot(x, y, w, h);
                best = Some((cost, cu, snap));
            }
        }
        let (cost, cu, snap) = best.expect("at least one inter candidate");
        self.restore(x, y, w, h, &snap);
        (cost, cu)
    }

    /// Codes an inter CU with the given mode (residual included for `Inter`)
    /// and returns its cost. An `Inter` whose residual quantises to nothing
    /// is priced without one.
    pub(super) fn rd_inter(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mode: CuMode,
    ) -> (f64, CuDecision) {
        let cpu = self.p.cpu;
        let inter = self.inter.clone().expect("inter frame");
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];
        let (motion, skip, merged) = match mode {
            CuMode::Skip { motion, .. } => (motion, true, true),
            CuMode::Inter {
                motion, merge_idx, ..
            } => (motion, false, merge_idx.is_some()),
            CuMode::Intra { .. } => unreachable!("inter modes only"),
        };
        predict_block(
            refs,
            &motion,
            self.refinement(&inter.lists, &motion, merged, w, h),
            x,
            y,
            w,
            h,
            &mut self.mc.pred,
            &mut self.mc.tmp,
            cpu,
        );
        let pred = self.mc.pred;
        let (tw, th) = transform_tiles(w, h);
        self.st.set_cu_maps(x, y, w, h, tw, th);
        self.st.set_motion(x, y, w, h, motion, skip);
        if self.history_merge {
            inter::remember(&mut self.st.history, motion);
        }
        self.st.set_coded(x, y, w, h, false);
        self.st.set_mode(x, y, w, h, intra::DC);
        let decision = |mode, tus| CuDecision {
            x,
            y,
            w,
            h,
            mode,
            tus,
        };
        if skip {
            self.put_prediction(x, y, w, h, &pred);
            let d = self.weighted_dist(x, y, w, h);
            let bits = self.prefix_bits(x, y, w, h, &mode);
            return (self.cost(0, bits) + d, decision(mode, Vec::new()));
        }
        let mut tus = Vec::with_capacity((w / tw) * (h / th) + 2);
        let mut cost = 0.0;
        let mut any = false;
        for (dx, dy) in tile_offsets(w, h, tw, th) {
            let mut sub = [0u16; 1024];
            sub_block(&pred[..w * h], w, dx, dy, tw, th, &mut sub);
            let o = self.code_residual(0, x + dx, y + dy, tw, th, 1, false, false, &sub[..tw * th]);
            self.st.set_coded(x + dx, y + dy, tw, th, o.tu.cbf);
            any |= o.tu.cbf;
            cost += self.cost(o.dist, o.bits);
            tus.push(o.tu);
        }
        let (cw, ch) = (w / 2, h / 2);
        let (l, c) = (w * h, cw * ch);
        let cb = self.code_residual(1, x / 2, y / 2, cw, ch, 1, false, false, &pred[l..l + c]);
        let cr = self.code_residual(
            2,
            x / 2,
            y / 2,
            cw,
            ch,
            1,
            false,
            cb.tu.cbf,
            &pred[l + c..l + 2 * c],
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
            let d = self.weighted_dist(x, y, w, h);
            let bits = self.prefix_bits(x, y, w, h, &mode);
            return (self.cost(0, bits) + d, decision(mode, tus));
        }
        let bits = self.prefix_bits(x, y, w, h, &mode);
        (cost + self.cost(0, bits), decision(mode, tus))
    }
}
