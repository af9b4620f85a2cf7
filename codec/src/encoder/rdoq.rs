//! Rate-distortion optimised quantisation (after HM's RDOQ): for each
//! coefficient choose among the rounded level, one less, and zero; then drop
//! whole 4x4 groups and move the last position where that lowers
//! distortion + lambda * rate. Rates come from the live context states.

use crate::entropy::Contexts;
use crate::entropy::{bin_cost, COST_ONE_BIT, COST_SHIFT};
use crate::residual::{self, scan, ScanKind, LAST_GROUP_INDEX};
use crate::transform::quant::QuantParams;

/// Bits of an escape remainder `v` with Rice parameter `r`, in cost units.
fn escape_cost(v: u32, r: u32) -> u32 {
    let bins = if v < (3 << r) {
        (v >> r) + 1 + r
    } else {
        let mut rest = v - (3 << r);
        let mut len = r;
        while rest >= (1 << len) {
            rest -= 1 << len;
            len += 1;
        }
        (3 + len - r) + 1 + len
    };
    bins * COST_ONE_BIT
}

/// Cost of signalling a last-position coordinate pair: `cx` over the width
/// `2^log2w`, `cy` over the height `2^log2h`.
fn last_cost(ctx: &Contexts, cx: u32, cy: u32, log2w: u32, log2h: u32, chroma: bool) -> u32 {
    let one = |ctxs: &[crate::entropy::Context; 18], pos: u32, log2n: u32| {
        let (offset, shift) = residual::last_ctx_params(log2n, chroma);
        let max_prefix = LAST_GROUP_INDEX[(1usize << log2n) - 1] as u32;
        let prefix = LAST_GROUP_INDEX[pos as usize] as u32;
        let mut c = 0;
        for i in 0..prefix {
            c += bin_cost(&ctxs[offset + (i >> shift) as usize], true);
        }
        if prefix < max_prefix {
            c += bin_cost(&ctxs[offset + (prefix >> shift) as usize], false);
        }
        if prefix > 3 {
            c += ((prefix >> 1) - 1) * COST_ONE_BIT;
        }
        c
    };
    one(&ctx.last_x, cx, log2w) + one(&ctx.last_y, cy, log2h)
}

/// Per-group state of the level-flag contexts while deciding levels.
struct LevelState {
    ctx_set: usize,
    c1: u32,
    nz_in_group: usize,
    gt2_done: bool,
    rice: u32,
}

impl LevelState {
    /// Rate of coding `level` (> 0) at the current state, without the sig flag.
    fn rate(&self, ctx: &Contexts, level: u32, chroma: bool) -> u32 {
        let mut r = COST_ONE_BIT; // sign
        if self.nz_in_group < 8 {
            let gt1 = &ctx.gt1[self.ctx_set * 4 + self.c1 as usize + if chroma { 16 } else { 0 }];
            r += bin_cost(gt1, level > 1);
            if level > 1 {
                if !self.gt2_done {
                    r += bin_cost(
                        &ctx.gt2[self.ctx_set + if chroma { 4 } else { 0 }],
                        level > 2,
                    );
                    if level > 2 {
                        r += escape_cost(level - 3, self.rice);
                    }
                } else {
                    r += escape_cost(level - 2, self.rice);
                }
            }
        } else {
            r += escape_cost(level - 1, self.rice);
        }
        r
    }

    fn update(&mut self, level: u32) {
        if level == 0 {
            return;
        }
        let escaped = if self.nz_in_group < 8 {
            let escaped = level > 1 && (self.gt2_done || level > 2);
            if level > 1 {
                self.c1 = 0;
                self.gt2_done = true;
            } else if self.c1 > 0 && self.c1 < 3 {
                self.c1 += 1;
            }
            escaped
        } else {
            true
        };
        if escaped {
            self.rice = residual::next_rice(self.rice, level);
        }
        self.nz_in_group += 1;
    }
}

/// Working memory of [`rdoq`], allocated once per frame.
pub(crate) struct RdoqScratch {
    level_double: Vec<i64>,
    max_level: Vec<u32>,
    chosen: Vec<u32>,
    cost_coded: Vec<f64>,
    cost_zero: Vec<f64>,
    sig1_cost: Vec<f64>,
    suffix_zero: Vec<f64>,
}

impl Default for RdoqScratch {
    fn default() -> Self {
        RdoqScratch {
            level_double: vec![0; 1024],
            max_level: vec![0; 1024],
            chosen: vec![0; 1024],
            cost_coded: vec![0.0; 1024],
            cost_zero: vec![0.0; 1024],
            sig1_cost: vec![0.0; 1024],
            suffix_zero: vec![0.0; 1025],
        }
    }
}

/// Chooses levels for `coeffs` (`w*h`, row-major, `w = 2^log2w`, `h =
/// 2^log2h`) minimising distortion + `lambda` * rate. Returns whether any
/// level is non-zero.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rdoq(
    coeffs: &[i16],
    levels: &mut [i16],
    q: QuantParams,
    log2w: u32,
    log2h: u32,
    chroma: bool,
    scan_kind: ScanKind,
    ctx: &Contexts,
    lambda: f64,
    scratch: &mut RdoqScratch,
) -> bool {
    let RdoqScratch {
        level_double,
        max_level,
        chosen,
        cost_coded,
        cost_zero,
        sig1_cost,
        suffix_zero,
    } = scratch;
    let w = 1usize << log2w;
    let sc = scan(scan_kind, log2w, log2h);
    let groups = sc.groups.len();
    let total = groups * 16;
    let pos_of = |i: usize| -> (usize, usize) {
        let (gx, gy) = sc.groups[i / 16];
        let (x, y) = sc.in_group[i % 16];
        (gx as usize * 4 + x as usize, gy as usize * 4 + y as usize)
    };
    levels.fill(0);
    let half = 1i64 << (q.shift - 1);
    let mut last = None;
    for i in 0..total {
        let (x, y) = pos_of(i);
        let ld = coeffs[y * w + x].unsigned_abs() as i64 * q.scale;
        level_double[i] = ld;
        max_level[i] = ((ld + half) >> q.shift).min(residual::MAX_LEVEL as i64) as u32;
        if max_level[i] > 0 {
            last = Some(i);
        }
    }
    let Some(last) = last else { return false };

    // Distortion in pixel-domain squared error per unit of (level_double - level << shift)^2:
    // undo the quantiser's scale and the transform's gain (which depends on the bit depth).
    let err_scale = q.error_scale();
    let lambda_bits = lambda / (1u64 << COST_SHIFT) as f64;
    let dist = |i: usize, l: u32| {
        let e = (level_double[i] - ((l as i64) << q.shift)) as f64;
        e * e * err_scale
    };

    // Per scan position: cost when coded (sig flag included), distortion when
    // beyond the last position, and the rate part of a sig=1 flag.
    let mut group_coded = [false; 64];
    let (gw, gh) = (w / 4, 1usize << (log2h - 2));
    let mut c1 = 1u32;
    let last_group = last / 16;
    for g in (0..=last_group).rev() {
        let (gx, gy) = (sc.groups[g].0 as usize, sc.groups[g].1 as usize);
        let coded_at =
            |gx: usize, gy: usize, gc: &[bool; 64]| gx < gw && gy < gh && gc[gy * gw + gx];
        let nb = coded_at(gx + 1, gy, &group_coded) as u8
            | (coded_at(gx, gy + 1, &group_coded) as u8) << 1;
        let mut st = LevelState {
            ctx_set: (if g > 0 && !chroma { 2 } else { 0 }) + (c1 == 0) as usize,
            c1: 1,
            nz_in_group: 0,
            gt2_done: false,
            rice: 0,
        };
        let top = if g == last_group { last % 16 } else { 15 };
        let mut group_cost_coded = 0.0;
        let mut group_cost_zero = 0.0;
        let mut any = false;
        for p in (0..=top).rev() {
            let i = g * 16 + p;
            let (x, y) = pos_of(i);
            let sig = &ctx.sig[residual::sig_ctx(x, y, log2w, log2h, chroma, nb, scan_kind)];
            let is_last_candidate = i == last;
            let s0 = if is_last_candidate {
                0.0
            } else {
                bin_cost(sig, false) as f64 * lambda_bits
            };
            let s1 = if is_last_candidate {
                0.0
            } else {
                bin_cost(sig, true) as f64 * lambda_bits
            };
            cost_zero[i] = dist(i, 0);
            let ml = max_level[i];
            let mut best_l = 0;
            let mut best = if is_last_candidate {
                f64::INFINITY
            } else {
                cost_zero[i] + s0
            };
            if ml > 0 {
                let lo = if ml > 2 { ml - 1 } else { 1 };
                for l in (lo..=ml).rev() {
                    let c = dist(i, l) + s1 + st.rate(ctx, l, chroma) as f64 * lambda_bits;
                    if c < best {
                        best = c;
                        best_l = l;
                    }
                }
            }
            chosen[i] = best_l;
            cost_coded[i] = best;
            sig1_cost[i] = s1;
            st.update(best_l);
            any |= best_l > 0;
            group_cost_coded += best;
            group_cost_zero += cost_zero[i];
        }
        // Drop a whole group when signalling it is not worth its distortion saving.
        let explicit = g < last_group && g > 0;
        if explicit && any {
            let flag = &ctx.coded_group[if chroma { 2 } else { 0 } + (nb != 0) as usize];
            let keep = group_cost_coded + bin_cost(flag, true) as f64 * lambda_bits;
            let drop = group_cost_zero + bin_cost(flag, false) as f64 * lambda_bits;
            if drop < keep {
                for p in 0..16 {
                    let i = g * 16 + p;
                    chosen[i] = 0;
                    cost_coded[i] = cost_zero[i];
                }
                any = false;
            }
        }
        if any {
            group_coded[gy * gw + gx] = true;
            c1 = st.c1;
        }
    }

    // Choose the last position: everything after it is dropped, its own sig flag is implied.
    let mut best_last = None;
    let mut best_cost = f64::INFINITY;
    let mut prefix_cost = 0.0; // coded cost of positions before i
    suffix_zero[last + 1] = 0.0;
    for i in (0..=last).rev() {
        suffix_zero[i] = suffix_zero[i + 1] + cost_zero[i];
    }
    for i in 0..=last {
        if chosen[i] > 0 {
            let (x, y) = pos_of(i);
            let (cx, cy) = if scan_kind == ScanKind::Vertical {
                (y, x)
            } else {
                (x, y)
            };
            let c = prefix_cost
                + (cost_coded[i] - sig1_cost[i])
                + suffix_zero[i + 1]
                + last_cost(ctx, cx as u32, cy as u32, log2w, log2h, chroma) as f64 * lambda_bits;
            if c < best_cost {
                best_cost = c;
                best_last = Some(i);
            }
        }
        prefix_cost += cost_coded[i];
    }
    let Some(best_last) = best_last else {
        return false;
    };
    for (i, &l) in chosen.iter().enumerate().take(best_last + 1) {
        if l > 0 {
            let (x, y) = pos_of(i);
            let c = coeffs[y * w + x];
            levels[y * w + x] = if c < 0 { -(l as i16) } else { l as i16 };
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::{BitCounter, RangeDecoder, RangeEncoder};
    use crate::residual::tests::{fnv, random_levels, shapes, Mix};
    use crate::transform::quant::quantize;

    /// Random transform coefficients of a `w x h` block (row-major): energy
    /// falling off with x + y, some blocks flat, some nearly empty.
    fn random_coeffs(r: &mut Mix, w: usize, h: usize) -> Vec<i16> {
        let amp = [40u64, 200, 1200, 6000][r.below(4) as usize];
        let decay = 1 + r.below(8) as usize;
        let mut v = vec![0i16; w * h];
        for y in 0..h {
            for x in 0..w {
                let a = (amp as usize * decay / (decay + x + y)) as u64 + 1;
                let m = r.below(a) as i16;
                v[y * w + x] = if r.below(2) == 0 { m } else { -m };
            }
        }
        v
    }

    /// Square blocks get exactly the levels they got before rectangles
    /// existed: a hash over a fixed set of random blocks, computed on main
    /// at 87b55cf (with the same test there). Contexts start at one half, so
    /// the hash does not move when the trained tables are regenerated.
    #[test]
    fn squares_unchanged() {
        let mut r = Mix(2828);
        let ctx = Contexts::for_frame(false, false, 27);
        let mut scratch = RdoqScratch::default();
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        for _ in 0..400 {
            let log2n = 2 + r.below(4) as u32;
            let chroma = r.below(3) == 0;
            let kind =
                [ScanKind::Diagonal, ScanKind::Horizontal, ScanKind::Vertical][r.below(3) as usize];
            let n = 1usize << log2n;
            let coeffs = random_coeffs(&mut r, n, n);
            let qp = 12 + r.below(40) as u8;
            let q = QuantParams::new(qp, log2n, log2n, 8);
            let lambda = 0.57 * 2f64.powf((qp as f64 - 12.0) / 3.0);
            let mut levels = vec![0i16; n * n];
            let any = rdoq(
                &coeffs,
                &mut levels,
                q,
                log2n,
                log2n,
                chroma,
                kind,
                &ctx,
                lambda,
                &mut scratch,
            );
            fnv(&mut h, &[any as u8]);
            for l in &levels {
                fnv(&mut h, &l.to_le_bytes());
            }
        }
        assert_eq!(h, 14373182066908373294);
    }

    /// The rate RDOQ's model (`last_cost`, `LevelState`, the sig and
    /// coded-group contexts) gives a block of levels, bin by bin in the
    /// writer's order, in cost units.
    fn model_rate(
        levels: &[i16],
        lw: u32,
        lh: u32,
        chroma: bool,
        kind: ScanKind,
        ctx: &Contexts,
    ) -> u64 {
        let w = 1usize << lw;
        let sc = scan(kind, lw, lh);
        let pos = |i: usize| {
            let (gx, gy) = sc.groups[i / 16];
            let (x, y) = sc.in_group[i % 16];
            (gx as usize * 4 + x as usize, gy as usize * 4 + y as usize)
        };
        let level = |i: usize| {
            let (x, y) = pos(i);
            levels[y * w + x].unsigned_abs() as u32
        };
        let last = (0..sc.groups.len() * 16)
            .rev()
            .find(|&i| level(i) > 0)
            .unwrap();
        let (x, y) = pos(last);
        let (cx, cy) = if kind == ScanKind::Vertical {
            (y, x)
        } else {
            (x, y)
        };
        let mut rate = last_cost(ctx, cx as u32, cy as u32, lw, lh, chroma) as u64;
        let (gw, gh) = (w / 4, 1usize << (lh - 2));
        let mut coded = vec![false; gw * gh];
        let at = |c: &[bool], gx: usize, gy: usize| gx < gw && gy < gh && c[gy * gw + gx];
        let mut c1 = 1;
        for g in (0..=last / 16).rev() {
            let (gx, gy) = (sc.groups[g].0 as usize, sc.groups[g].1 as usize);
            let nb = at(&coded, gx + 1, gy) as u8 | (at(&coded, gx, gy + 1) as u8) << 1;
            let any = (0..16).any(|p| level(g * 16 + p) > 0);
            let explicit = g < last / 16 && g > 0;
            if explicit {
                let flag = &ctx.coded_group[if chroma { 2 } else { 0 } + (nb != 0) as usize];
                rate += bin_cost(flag, any) as u64;
            }
            if explicit && !any {
                continue;
            }
            coded[gy * gw + gx] = true;
            let mut st = LevelState {
                ctx_set: (if g > 0 && !chroma { 2 } else { 0 }) + (c1 == 0) as usize,
                c1: 1,
                nz_in_group: 0,
                gt2_done: false,
                rice: 0,
            };
            let top = if g == last / 16 { last % 16 } else { 15 };
            for p in (0..=top).rev() {
                let i = g * 16 + p;
                let l = level(i);
                let inferred = i == last || (p == 0 && explicit && st.nz_in_group == 0);
                if !inferred {
                    let (x, y) = pos(i);
                    let sig = &ctx.sig[residual::sig_ctx(x, y, lw, lh, chroma, nb, kind)];
                    rate += bin_cost(sig, l > 0) as u64;
                }
                if l > 0 {
                    rate += st.rate(ctx, l, chroma) as u64;
                    st.update(l);
                }
            }
            c1 = st.c1;
        }
        rate
    }

    /// On every shape (luma, chroma, every scan): RDOQ's levels read back,
    /// and its rate model prices them exactly as the writer's bit counter
    /// does (checked on RDOQ's output and on arbitrary levels). Over all
    /// blocks RDOQ's cost (distortion + lambda * the writer's rate) is below
    /// that of rounding quantisation.
    #[test]
    fn rectangles_read_back_and_rates_match() {
        let mut r = Mix(99);
        let mut scratch = RdoqScratch::default();
        let (mut j_rdoq, mut j_round) = (0.0, 0.0);
        let mut coded = 0;
        for trial in 0..6 {
            let ctx = Contexts::for_frame(true, trial % 2 == 0, 22 + 5 * trial as i8);
            for (lw, lh, kind) in shapes() {
                for chroma in [false, true] {
                    let (w, h) = (1usize << lw, 1usize << lh);
                    let coeffs = random_coeffs(&mut r, w, h);
                    let qp = 17 + r.below(30) as u8;
                    let q = QuantParams::new(qp, lw, lh, 8);
                    let lambda = 0.57 * 2f64.powf((qp as f64 - 12.0) / 3.0);
                    let mut levels = vec![0i16; w * h];
                    let any = rdoq(
                        &coeffs,
                        &mut levels,
                        q,
                        lw,
                        lh,
                        chroma,
                        kind,
                        &ctx,
                        lambda,
                        &mut scratch,
                    );
                    assert_eq!(any, levels.iter().any(|&l| l != 0));
                    let arbitrary = random_levels(&mut r, w, h);
                    for lv in [&levels, &arbitrary] {
                        if lv.iter().all(|&l| l == 0) {
                            continue;
                        }
                        let mut bc = BitCounter::default();
                        residual::write_residual(
                            &mut bc,
                            &mut ctx.clone(),
                            lv,
                            lw,
                            lh,
                            chroma,
                            kind,
                        );
                        let model = model_rate(lv, lw, lh, chroma, kind, &ctx);
                        assert_eq!(model, bc.cost, "{w}x{h} {kind:?} chroma {chroma}");
                        let mut enc = RangeEncoder::new();
                        residual::write_residual(
                            &mut enc,
                            &mut ctx.clone(),
                            lv,
                            lw,
                            lh,
                            chroma,
                            kind,
                        );
                        let bytes = enc.finish();
                        let mut dec = RangeDecoder::new(&bytes);
                        let mut got = vec![0i16; w * h];
                        residual::read_residual(
                            &mut dec,
                            &mut ctx.clone(),
                            &mut got,
                            lw,
                            lh,
                            chroma,
                            kind,
                        )
                        .expect("reads back");
                        assert_eq!(&got, lv);
                        assert_eq!(dec.consumed(), bytes.len());
                    }
                    // Both quantisers' costs, with the writer's rate (0 when nothing is coded).
                    let err_scale = 1.0
                        / ((q.scale * q.scale) as f64 * (1u64 << (2 * q.transform_shift)) as f64);
                    let lambda_bits = lambda / COST_ONE_BIT as f64;
                    let cost = |lv: &[i16]| {
                        let mut d = 0.0;
                        for (c, l) in coeffs.iter().zip(lv) {
                            let e = (c.unsigned_abs() as i64 * q.scale
                                - ((l.unsigned_abs() as i64) << q.shift))
                                as f64;
                            d += e * e * err_scale;
                        }
                        let mut bc = BitCounter::default();
                        if lv.iter().any(|&l| l != 0) {
                            residual::write_residual(
                                &mut bc,
                                &mut ctx.clone(),
                                lv,
                                lw,
                                lh,
                                chroma,
                                kind,
                            );
                        }
                        d + bc.cost as f64 * lambda_bits
                    };
                    let mut rounded = vec![0i16; w * h];
                    quantize(&coeffs, &mut rounded, q, 256);
                    j_rdoq += cost(&levels);
                    j_round += cost(&rounded);
                    coded += any as usize;
                }
            }
        }
        assert!(coded > 100, "{coded} blocks coded");
        assert!(
            j_rdoq < 0.99 * j_round,
            "RDOQ {j_rdoq} vs rounding {j_round}"
        );
    }
}
