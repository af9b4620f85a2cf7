//! Inter mode decision: merge candidates (skip or with a residual), motion
//! search per reference, uni- or bi-prediction, coded for real.

use super::*;
use crate::inter::mmvd;

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

/// Bits of reference index `r` of list `l` (truncated unary).
fn ref_idx_bits(lists: &RefLists, l: usize, r: usize) -> f64 {
    if lists.len[l] > 1 {
        (r + 1).min(lists.len[l] - 1) as f64
    } else {
        0.0
    }
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

    /// [`Self::refinement`] for the SATD estimates that rank candidates:
    /// without optical flow unless `SearchParams::estimate_bdof` (its
    /// correction is small beside the differences between candidates; the
    /// full checks and the coded prediction keep it).
    fn estimate_refinement(
        &self,
        lists: &RefLists,
        m: &Motion,
        merged: bool,
        w: usize,
        h: usize,
    ) -> Refinement {
        let mut r = self.refinement(lists, m, merged, w, h);
        r.bdof &= self.p.estimate_bdof;
        r
    }

    /// Bi-prediction from `m` refined by turns (list 1 first): each list's
    /// vector searched again, near where it is, against twice the source
    /// minus the other list's prediction (HM's iterative bi-prediction
    /// search). Returns the estimate, the motion and its predictor indices.
    fn refine_bi(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mut m: Motion,
    ) -> (f64, Motion, [u8; 2]) {
        const RANGE: i32 = 8;
        let inter = self.inter.clone().expect("inter frame");
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];
        let lists = inter.lists;
        let cpu = self.p.cpu;
        let sqrt_lambda = self.p.lambda.sqrt();
        let src = &self.src.planes[0];
        let bd = u32::from(self.src.bit_depth);
        // Targets beyond 10 bits would leave the SIMD distance kernels' range.
        let limit = ((2u32 << bd) - 2).min(1023) as i32;
        let n = w * h;
        let mut target = [0u16; MAX_BLOCK * MAX_BLOCK];
        let mut other = [0u16; MAX_BLOCK * MAX_BLOCK];
        let mut tmp = [0i16; MAX_BLOCK * MAX_BLOCK];
        for iteration in 0..self.p.bi_iterations {
            let l = 1 - iteration % 2;
            let o = 1 - l;
            let r_other = &refs[o][m.ref_idx[o] as usize];
            inter::predict_plane(r_other, 0, x, y, w, h, m.mv[o], &mut tmp[..n], cpu);
            dsp::mc::put_uni(&tmp[..n], w, w, h, &mut other[..n], w, bd, cpu);
            for r in 0..h {
                let s = &src.data[(y + r) * src.width + x..][..w];
                for c in 0..w {
                    let v = 2 * i32::from(s[c]) - i32::from(other[r * w + c]);
                    target[r * w + c] = v.clamp(0, limit) as u16;
                }
            }
            let ri = m.ref_idx[l] as usize;
            let amvp = self.motion_env().expect("inter").amvp(x, y, w, h, l, ri);
            let t = motion_search::Target {
                src: &target[..n],
                src_stride: w,
                x,
                y,
                w,
                h,
                mvp: amvp[0],
                // The target's differences are twice the prediction's.
                lambda: 2.0 * sqrt_lambda,
                cpu,
                range: RANGE,
            };
            m.mv[l] = motion_search::search(&t, &refs[l][ri], &[m.mv[l]], &self.p.me).mv;
        }
        let mut mvp = [0u8; 2];
        let mut rate = 0.0;
        for l in 0..2 {
            let ri = m.ref_idx[l] as usize;
            let amvp = self.motion_env().expect("inter").amvp(x, y, w, h, l, ri);
            let bits = amvp.map(|p| motion_search::mv_bits(m.mv[l], p));
            mvp[l] = u8::from(bits[1] < bits[0]);
            rate += sqrt_lambda * (bits[usize::from(mvp[l])] + ref_idx_bits(&lists, l, ri) + 1.0);
        }
        let refine = self.estimate_refinement(&lists, &m, false, w, h);
        let mut pred = [0u16; MAX_BLOCK * MAX_BLOCK];
        let mut mc_tmp = [[0i16; MAX_BLOCK * MAX_BLOCK]; 2];
        inter::predict_luma(refs, &m, refine, x, y, w, h, &mut pred, &mut mc_tmp, cpu);
        let satd = dist::satd(
            &src.data[y * src.width + x..],
            src.width,
            &pred,
            w,
            w,
            h,
            cpu,
        );
        (satd as f64 + rate + sqrt_lambda, m, mvp)
    }

    /// `m` at a coarser precision (1: whole samples, 2: four): each vector
    /// rounded, then moved a step of that precision at a time, list by list,
    /// while the estimate improves (its predictors chosen for the fewest
    /// bits each time). Returns the estimate, the motion, the predictor
    /// indices and the precision; `None` when no difference would be left to
    /// send (the precision is then not coded).
    fn coarse_motion(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        m: Motion,
        precision: u8,
    ) -> Option<(f64, Motion, [u8; 2], u8)> {
        let shift = inter::amvr::SHIFTS[usize::from(precision)];
        let mut coarse = m;
        for l in 0..2 {
            if m.uses(l) {
                coarse.mv[l] = inter::amvr::round_mv(m.mv[l], shift);
            }
        }
        let mut best = self.coarse_estimate(x, y, w, h, &coarse, shift);
        let step = 1i16 << shift;
        for l in 0..2 {
            if !m.uses(l) {
                continue;
            }
            for _ in 0..self.p.amvr_steps {
                let centre = coarse;
                let mut improved = false;
                for (dx, dy) in [(0, -step), (-step, 0), (step, 0), (0, step)] {
                    let mut c = centre;
                    c.mv[l].x = c.mv[l].x.saturating_add(dx);
                    c.mv[l].y = c.mv[l].y.saturating_add(dy);
                    let e = self.coarse_estimate(x, y, w, h, &c, shift);
                    if e.0 < best.0 {
                        best = e;
                        coarse = c;
                        improved = true;
                    }
                }
                if !improved {
                    break;
                }
            }
        }
        let (estimate, mvp, any_difference) = best;
        any_difference.then_some((estimate, coarse, mvp, precision))
    }

    /// Estimate of motion `coarse` (vectors at the precision of `shift`):
    /// SATD of its prediction plus the rate of its differences from the
    /// rounded predictors, the flags included; the predictor indices; and
    /// whether any difference is left to send.
    fn coarse_estimate(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        coarse: &Motion,
        shift: u32,
    ) -> (f64, [u8; 2], bool) {
        let inter = self.inter.clone().expect("inter frame");
        let lists = inter.lists;
        let sqrt_lambda = self.p.lambda.sqrt();
        let mut mvp = [0u8; 2];
        let mut rate = 0.0;
        let mut any_difference = false;
        for l in 0..2 {
            if !coarse.uses(l) {
                continue;
            }
            let ri = coarse.ref_idx[l] as usize;
            let amvp = self.motion_env().expect("inter").amvp(x, y, w, h, l, ri);
            let mvd = amvp.map(|p| {
                let p = inter::amvr::round_mv(p, shift);
                Mv {
                    x: ((i32::from(coarse.mv[l].x) - i32::from(p.x)) >> shift) as i16,
                    y: ((i32::from(coarse.mv[l].y) - i32::from(p.y)) >> shift) as i16,
                }
            });
            let bits = mvd.map(|d| motion_search::mv_bits(d, Mv::ZERO));
            let pi = usize::from(bits[1] < bits[0]);
            mvp[l] = pi as u8;
            any_difference |= mvd[pi] != Mv::ZERO;
            rate += sqrt_lambda * (bits[pi] + ref_idx_bits(&lists, l, ri) + 1.0);
        }
        let refine = self.estimate_refinement(&lists, coarse, false, w, h);
        let satd = self.prediction_satd(x, y, w, h, coarse, refine);
        // Direction flag, the precision's two bins.
        (satd as f64 + rate + sqrt_lambda * 3.0, mvp, any_difference)
    }

    /// SATD of the luma prediction of `m` (with the refinements `refine`).
    #[allow(clippy::too_many_arguments)]
    fn prediction_satd(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        m: &Motion,
        refine: Refinement,
    ) -> u32 {
        let inter = self.inter.clone().expect("inter frame");
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];
        let cpu = self.p.cpu;
        let mut pred = [0u16; MAX_BLOCK * MAX_BLOCK];
        let mut mc_tmp = [[0i16; MAX_BLOCK * MAX_BLOCK]; 2];
        inter::predict_luma(refs, m, refine, x, y, w, h, &mut pred, &mut mc_tmp, cpu);
        let src = &self.src.planes[0];
        dist::satd(
            &src.data[y * src.width + x..],
            src.width,
            &pred,
            w,
            w,
            h,
            cpu,
        )
    }

    /// Symmetric bi-prediction from the frame's pair of references
    /// (VVenC's symmetric search): the difference of list 0 (list 1 takes
    /// its negation) starting from the vectors found for those references
    /// (`starts[l]`), under each pair of predictors, then moved by whole,
    /// half and quarter samples while the estimate improves. Returns the
    /// estimate, the motion and its predictor indices; at coarser precisions
    /// too when the stream allows them.
    #[allow(clippy::type_complexity)]
    fn symmetric_motion(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        starts: [&[Mv]; 2],
    ) -> Vec<(f64, Motion, [u8; 2], u8, bool)> {
        let inter = self.inter.clone().expect("inter frame");
        let lists = inter.lists;
        let Some(pair) = inter::smvd::symmetric_pair(&lists) else {
            return Vec::new();
        };
        let sqrt_lambda = self.p.lambda.sqrt();
        let env = self.motion_env().expect("inter");
        let amvp = [
            env.amvp(x, y, w, h, 0, pair[0]),
            env.amvp(x, y, w, h, 1, pair[1]),
        ];
        let motion_of = |p: [Mv; 2], d: (i64, i64)| -> Option<Motion> {
            Some(Motion {
                ref_idx: [pair[0] as i8, pair[1] as i8],
                mv: inter::smvd::vectors(p, d)?,
            })
        };
        // Flag, two predictor flags, the bi-prediction bin.
        let side_bits = 4.0;
        // Searched without the decoder-side refinements (cheaper); the
        // result is estimated with them.
        let cost = |fs: &mut Self, p: [Mv; 2], d: (i64, i64)| -> Option<(f64, Motion)> {
            let m = motion_of(p, d)?;
            let satd = fs.prediction_satd(x, y, w, h, &m, Refinement::NONE);
            let bits = motion_search::mv_bits(
                Mv {
                    x: d.0.clamp(-32768, 32767) as i16,
                    y: d.1.clamp(-32768, 32767) as i16,
                },
                Mv::ZERO,
            );
            Some((satd as f64 + sqrt_lambda * (bits + side_bits), m))
        };
        // Starting differences under each pair of predictors.
        let mut best: Option<(f64, [u8; 2], (i64, i64))> = None;
        for i0 in 0..2u8 {
            for i1 in 0..2u8 {
                let p = [amvp[0][usize::from(i0)], amvp[1][usize::from(i1)]];
                let mut diffs: Vec<(i64, i64)> = vec![(0, 0)];
                for &v in starts[0] {
                    diffs.push((
                        i64::from(v.x) - i64::from(p[0].x),
                        i64::from(v.y) - i64::from(p[0].y),
                    ));
                }
                for &v in starts[1] {
                    diffs.push((
                        i64::from(p[1].x) - i64::from(v.x),
                        i64::from(p[1].y) - i64::from(v.y),
                    ));
                }
                diffs.dedup();
                for (k, &d) in diffs.iter().enumerate() {
                    if diffs[..k].contains(&d) {
                        continue;
                    }
                    if let Some((c, _)) = cost(self, p, d) {
                        if best.is_none_or(|b| c < b.0) {
                            best = Some((c, [i0, i1], d));
                        }
                    }
                }
            }
        }
        let Some((mut best_cost, mvp, mut d)) = best else {
            return Vec::new();
        };
        let p = [amvp[0][usize::from(mvp[0])], amvp[1][usize::from(mvp[1])]];
        for (step, rounds) in [(4i64, 4), (2, 1), (1, 2)] {
            for _ in 0..rounds {
                let centre = d;
                for (ox, oy) in [(0, -step), (-step, 0), (step, 0), (0, step)] {
                    let t = (centre.0 + ox, centre.1 + oy);
                    if let Some((c, _)) = cost(self, p, t) {
                        if c < best_cost {
                            best_cost = c;
                            d = t;
                        }
                    }
                }
                if d == centre {
                    break;
                }
            }
        }
        let mut out = Vec::new();
        let mut push = |fs: &mut Self, p: [Mv; 2], d: (i64, i64), precision: u8| {
            let Some(m) = motion_of(p, d) else {
                return;
            };
            let refine = fs.estimate_refinement(&lists, &m, false, w, h);
            let satd = fs.prediction_satd(x, y, w, h, &m, refine);
            let shift = inter::amvr::SHIFTS[usize::from(precision)];
            let coded = Mv {
                x: (d.0 >> shift).clamp(-32768, 32767) as i16,
                y: (d.1 >> shift).clamp(-32768, 32767) as i16,
            };
            let mut bits = motion_search::mv_bits(coded, Mv::ZERO) + side_bits;
            if fs.amvr && coded != Mv::ZERO {
                bits += 1.0 + f64::from(precision > 0);
            }
            out.push((
                satd as f64 + sqrt_lambda * (bits + 1.0),
                m,
                mvp,
                precision,
                true,
            ));
        };
        push(self, p, d, 0);
        if self.amvr {
            // The difference rounded to each coarser precision, from the
            // predictors rounded to it.
            for precision in 1..inter::amvr::SHIFTS.len() as u8 {
                let shift = inter::amvr::SHIFTS[usize::from(precision)];
                let rp = p.map(|v| inter::amvr::round_mv(v, shift));
                let full = (
                    i64::from(p[0].x) + d.0 - i64::from(rp[0].x),
                    i64::from(p[0].y) + d.1 - i64::from(rp[0].y),
                );
                let r = inter::amvr::round_mv(
                    Mv {
                        x: full.0.clamp(-32768, 32767) as i16,
                        y: full.1.clamp(-32768, 32767) as i16,
                    },
                    shift,
                );
                let step = 1i16 << shift;
                // (A component clipped at the edge of the range is no
                // multiple of the precision.)
                if r != Mv::ZERO && r.x % step == 0 && r.y % step == 0 {
                    push(self, rp, (i64::from(r.x), i64::from(r.y)), precision);
                }
            }
        }
        out
    }

    /// Adds merge candidates 0 and 1 with motion vector differences to the
    /// ranking: per base, distances from the smallest while one of the four
    /// directions improves on the base's best so far (VVenC stops a base the
    /// same way), up to the preset's number of distances.
    fn rank_mmvd(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        merge: &[Motion; MERGE_CANDIDATES],
        ranked: &mut Vec<(f64, MergeCand, Motion)>,
    ) {
        let inter = self.inter.clone().expect("inter frame");
        let refs = [&inter.refs[0][..], &inter.refs[1][..]];
        let src = &self.src.planes[0];
        let sqrt_lambda = self.p.lambda.sqrt();
        let cpu = self.p.cpu;
        for base in 0..2u8 {
            let mut best = f64::INFINITY;
            for distance in 0..self.p.mmvd_distances.min(mmvd::DISTANCES) as u8 {
                let mut improved = false;
                for direction in 0..mmvd::DIRECTIONS as u8 {
                    let cand = Mmvd {
                        base,
                        distance,
                        direction,
                    };
                    let m = cand.apply(&merge[usize::from(base)], &inter.lists);
                    if merge.contains(&m) {
                        continue;
                    }
                    // Ranked with the optical-flow correction: without it
                    // (as VVenC ranks) the tool gained 0.33 % less here.
                    let refine = self.estimate_refinement(&inter.lists, &m, false, w, h);
                    inter::predict_luma(
                        refs,
                        &m,
                        refine,
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
                    // Flag, base, truncated unary distance, two direction bins.
                    let bins = 4 + (usize::from(distance) + 1).min(mmvd::DISTANCES - 1);
                    let cost = satd as f64 + sqrt_lambda * bins as f64;
                    if cost < best {
                        best = cost;
                        improved = true;
                    }
                    ranked.push((cost, MergeCand::Mmvd(cand), m));
                }
                if !improved && distance > 0 {
                    break;
                }
            }
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

        // Merge candidates ranked by luma SATD plus a rate estimate.
        let merge = self.motion_env().expect("inter").merge_list(x, y, w, h);
        let mut ranked: Vec<(f64, MergeCand, Motion)> = Vec::with_capacity(MERGE_CANDIDATES);
        for (idx, m) in merge.iter().enumerate() {
            if merge[..idx].contains(m) {
                continue;
            }
            inter::predict_luma(
                refs,
                m,
                self.estimate_refinement(&inter.lists, m, true, w, h),
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
            ranked.push((
                satd as f64 + sqrt_lambda * (idx + 1) as f64,
                MergeCand::Index(idx as u8),
                *m,
            ));
        }
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The best offset candidate is coded for real too (at the fast
        // preset only when its estimate beats the best candidate's).
        let mut offsets = Vec::new();
        if self.mmvd {
            self.rank_mmvd(x, y, w, h, &merge, &mut offsets);
            offsets.sort_by(|a, b| a.0.total_cmp(&b.0));
            offsets.truncate(1);
            if !self.p.mmvd_rd_always {
                offsets.retain(|o| ranked.first().is_none_or(|r| o.0 < r.0));
            }
        }

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
                    src: &src.data[y * src.width + x..],
                    src_stride: src.width,
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
                let c =
                    f.satd as f64 + sqrt_lambda * (rates[pi] + ref_idx_bits(&lists, l, r) + 1.0);
                if best_uni[l].as_ref().is_none_or(|b| c < b.0) {
                    best_uni[l] = Some((c, Motion::uni(l, r as i8, f.mv), pi as u8, f.satd));
                }
            }
        }
        self.parent_motion[depth] = found;
        // Searched motions: estimate, motion, predictor indices, vector
        // precision, symmetric.
        let mut explicit: Vec<(f64, Motion, [u8; 2], u8, bool)> = Vec::new();
        for (l, b) in best_uni.iter().enumerate() {
            if let Some((c, m, pi, _)) = b {
                let mut mvp = [0u8; 2];
                mvp[l] = *pi;
                explicit.push((*c, *m, mvp, 0, false));
            }
        }
        if let (Some((c0, m0, p0, d0)), Some((c1, m1, p1, d1))) = (best_uni[0], best_uni[1]) {
            let m = Motion {
                ref_idx: [m0.ref_idx[0], m1.ref_idx[1]],
                mv: [m0.mv[0], m1.mv[1]],
            };
            let refine = self.estimate_refinement(&lists, &m, false, w, h);
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
            explicit.push((satd as f64 + rate + sqrt_lambda, m, [p0, p1], 0, false));
            if self.p.bi_iterations > 0 {
                let (c, m, mvp) = self.refine_bi(x, y, w, h, m);
                explicit.push((c, m, mvp, 0, false));
            }
        }
        explicit.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The best motion at whole and four-sample precision, priced with
        // their coarser differences (and every estimate with the flag).
        if self.amvr {
            if let Some(&(_, m, ..)) = explicit.first() {
                for e in explicit.iter_mut() {
                    e.0 += sqrt_lambda;
                }
                for precision in 1..inter::amvr::SHIFTS.len() as u8 {
                    if let Some((c, m, mvp, precision)) =
                        self.coarse_motion(x, y, w, h, m, precision)
                    {
                        explicit.push((c, m, mvp, precision, false));
                    }
                }
                explicit.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
        // Symmetric bi-prediction, from the vectors found for the pair's
        // references.
        if self.smvd && self.p.smvd_search && lists.is_b() {
            if let Some(pair) = inter::smvd::symmetric_pair(&lists) {
                let mut starts: [Vec<Mv>; 2] = [Vec::new(), Vec::new()];
                for (l, s) in starts.iter_mut().enumerate() {
                    s.extend(found.mv[l][pair[l]]);
                    for e in &explicit {
                        if e.1.uses(l)
                            && e.1.ref_idx[l] as usize == pair[l]
                            && !s.contains(&e.1.mv[l])
                        {
                            s.push(e.1.mv[l]);
                        }
                    }
                }
                let sym = self.symmetric_motion(x, y, w, h, [&starts[0], &starts[1]]);
                explicit.extend(sym);
                explicit.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }

        // Full rate-distortion checks of the best few.
        let start = self.snapshot(x, y, w, h);
        let mut best: Option<(f64, CuDecision, Snapshot)> = None;
        let mut trials: Vec<CuMode> = Vec::new();
        for &(_, cand, motion) in ranked.iter().take(self.p.merge_rd).chain(&offsets) {
            trials.push(CuMode::Skip {
                merge: cand,
                motion,
            });
            trials.push(CuMode::Inter {
                motion,
                merge: Some(cand),
                mvp: [0, 0],
                amvr: 0,
                symmetric: false,
                root_cbf: true,
            });
        }
        // The preset's number of best searched motions (those not already
        // merge candidates).
        let mut tried: Vec<Motion> = Vec::new();
        for &(_, m, mvp, amvr, symmetric) in explicit.iter() {
            if tried.len() >= self.p.explicit_rd {
                break;
            }
            if merge.contains(&m) || tried.contains(&m) {
                continue;
            }
            tried.push(m);
            trials.push(CuMode::Inter {
                motion: m,
                merge: None,
                mvp,
                amvr,
                symmetric,
                root_cbf: true,
            });
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
            CuMode::Skip { motion, merge } => (motion, true, merge.refinable()),
            CuMode::Inter { motion, merge, .. } => {
                (motion, false, merge.is_some_and(MergeCand::refinable))
            }
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
        let CuMode::Inter {
            merge,
            mvp,
            amvr,
            symmetric,
            ..
        } = mode
        else {
            unreachable!()
        };
        let mode = CuMode::Inter {
            motion,
            merge,
            mvp,
            amvr,
            symmetric,
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
