//! Cross-component prediction, the chroma mode LM (`docs/bitstream.md` 5.3,
//! `tool_flags` bit 8): chroma predicted from the coding unit's
//! reconstructed luma, downsampled to chroma positions, through a linear
//! model `((a * L) >> k) + b` whose parameters come from up to four
//! neighbouring (luma, chroma) sample pairs (VVC's CCLM). Integer
//! arithmetic throughout, no division.

use crate::picture::{PicState, Plane, SB_LOG2};

/// The chroma mode number of LM (after the learned luma mode, 35); its
/// chroma index is [`LM_INDEX`].
pub const LM_MODE: u8 = 36;

/// The chroma mode index of LM (`cclm_flag` 1): index 5 of
/// [`super::chroma_candidates`].
pub const LM_INDEX: u8 = 5;

/// Normalised reciprocals: for a 5-bit significand `16 + n`, `8 | DIV[n]`
/// approximates `2^8 / (16 + n)` (VVC's table, the leading bit omitted).
const DIV: [i32; 16] = [0, 7, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 0];

/// The linear model: prediction `((a * L) >> k) + b`, clipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Model {
    pub a: i32,
    pub k: u32,
    pub b: i32,
}

/// floor(log2(v)) of a positive value.
fn floor_log2(v: i32) -> i32 {
    31 - v.leading_zeros() as i32
}

/// The model from the averages of the two smallest and two largest luma
/// samples (`min`, `max`: (luma, chroma) averages), without division.
pub(crate) fn derive_model(min: (i32, i32), max: (i32, i32)) -> Model {
    let diff = max.0 - min.0;
    if diff <= 0 {
        return Model {
            a: 0,
            k: 0,
            b: min.1,
        };
    }
    let diff_c = max.1 - min.1;
    let mut x = floor_log2(diff);
    let norm = ((diff << 4) >> x) & 15;
    let v = DIV[norm as usize] | 8;
    x += (norm != 0) as i32;
    let y = if diff_c == 0 {
        0
    } else {
        floor_log2(diff_c.abs()) + 1
    };
    let add = (1 << y) >> 1;
    let mut a = (diff_c * v + add) >> y;
    let mut k = 3 + x - y;
    if k < 1 {
        k = 1;
        a = a.signum() * 15;
    }
    let b = min.1 - ((a * min.0) >> k);
    Model { a, k: k as u32, b }
}

/// The two smallest and two largest of four (luma, chroma) pairs by luma,
/// averaged: the comparison order is normative (ties pick by it).
pub(crate) fn min_max(l: [i32; 4], c: [i32; 4]) -> ((i32, i32), (i32, i32)) {
    let (mut mn, mut mx) = ([0usize, 2], [1usize, 3]);
    if l[mn[0]] > l[mn[1]] {
        mn.swap(0, 1);
    }
    if l[mx[0]] > l[mx[1]] {
        mx.swap(0, 1);
    }
    if l[mn[0]] > l[mx[1]] {
        std::mem::swap(&mut mn, &mut mx);
    }
    if l[mn[1]] > l[mx[0]] {
        std::mem::swap(&mut mn[1], &mut mx[0]);
    }
    let avg = |g: [usize; 2], v: &[i32; 4]| (v[g[0]] + v[g[1]] + 1) >> 1;
    ((avg(mn, &l), avg(mn, &c)), (avg(mx, &l), avg(mx, &c)))
}

/// Predicts the `w x h` block at chroma (`x`, `y`) of chroma plane `plane`
/// (1 or 2) with LM into `dst` (stride `w`): the coding unit's luma must be
/// reconstructed.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    st: &PicState,
    plane: usize,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    dst: &mut [u16],
) {
    predict_in(
        &st.recon.planes[0],
        &st.recon.planes[plane],
        x,
        y,
        log2w,
        log2h,
        st.recon.bit_depth,
        |lx, ly| st.available(lx, ly),
        dst,
    );
}

/// [`predict`] on planes `luma` and `chroma`; `available(lx, ly)` says
/// whether the luma sample at (lx, ly) (chroma positions doubled) is
/// reconstructed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn predict_in(
    luma: &Plane,
    chroma: &Plane,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    bit_depth: u8,
    available: impl Fn(isize, isize) -> bool,
    dst: &mut [u16],
) {
    let (w, h) = (1usize << log2w, 1usize << log2h);
    let (xi, yi) = (x as isize, y as isize);
    // Whole edges only: the W samples above, the H samples left.
    let above = (0..w as isize).all(|i| available(2 * (xi + i), 2 * (yi - 1)));
    let left = (0..h as isize).all(|j| available(2 * (xi - 1), 2 * (yi + j)));
    let ls = luma.width;
    let lum = |lx: usize, ly: usize| i32::from(luma.data[ly * ls + lx]);
    // The 6-tap [1 2 1; 1 2 1] / 8 at luma rows (ly, ly + 1) around column
    // lx; the left tap repeats the centre at the block's left edge when
    // nothing is available left of it.
    let six_tap = |lx: usize, ly: usize, pad: bool| {
        let l = if pad { lx } else { lx - 1 };
        (2 * lum(lx, ly)
            + lum(l, ly)
            + lum(lx + 1, ly)
            + 2 * lum(lx, ly + 1)
            + lum(l, ly + 1)
            + lum(lx + 1, ly + 1)
            + 4)
            >> 3
    };
    let (lx0, ly0) = (2 * x, 2 * y);
    let cs = chroma.width;
    let chr = |cx: usize, cy: usize| i32::from(chroma.data[cy * cs + cx]);
    // Up to four neighbour pairs at VVC's positions.
    let mut sel_l = [0i32; 4];
    let mut sel_c = [0i32; 4];
    let mut n = 0;
    if above {
        let (count, start, step) = if left {
            (2, w >> 2, w >> 1)
        } else {
            (4, w >> 3, (w >> 2).max(1))
        };
        // At a superblock's first row only the luma row just above is read.
        let sb_top = ly0 & ((1 << SB_LOG2) - 1) == 0;
        for p in (0..count).map(|t| start + t * step) {
            let lx = lx0 + 2 * p;
            let pad = p == 0 && !left;
            sel_l[n] = if sb_top {
                let l = if pad { lx } else { lx - 1 };
                let r = ly0 - 1;
                (2 * lum(lx, r) + lum(l, r) + lum(lx + 1, r) + 2) >> 2
            } else {
                six_tap(lx, ly0 - 2, pad)
            };
            sel_c[n] = chr(x + p, y - 1);
            n += 1;
        }
    }
    if left {
        let (count, start, step) = if above {
            (2, h >> 2, h >> 1)
        } else {
            (4, h >> 3, (h >> 2).max(1))
        };
        for p in (0..count).map(|t| start + t * step) {
            sel_l[n] = six_tap(lx0 - 2, ly0 + 2 * p, false);
            sel_c[n] = chr(x - 1, y + p);
            n += 1;
        }
    }
    let model = if n == 0 {
        Model {
            a: 0,
            k: 0,
            b: 1 << (bit_depth - 1),
        }
    } else {
        let (min, max) = min_max(sel_l, sel_c);
        derive_model(min, max)
    };
    let top = (1i32 << bit_depth) - 1;
    for j in 0..h {
        for i in 0..w {
            let l = six_tap(lx0 + 2 * i, ly0 + 2 * j, i == 0 && !left);
            let v = ((model.a * l) >> model.k) + model.b;
            dst[j * w + i] = v.clamp(0, top) as u16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The reference: VVC's layout, written out plainly. The whole
    /// downsampled luma (the block, a row above, a column left) goes into a
    /// padded array first, from which the neighbours are picked; the slope
    /// is derived in 64-bit arithmetic from the table's definition.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        luma: &Plane,
        chroma: &Plane,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        bd: u8,
        avail: &dyn Fn(isize, isize) -> bool,
    ) -> Vec<u16> {
        let above = (0..w).all(|i| avail(2 * (x + i) as isize, 2 * y as isize - 2));
        let left = (0..h).all(|j| avail(2 * x as isize - 2, 2 * (y + j) as isize));
        let s = |cx: isize, cy: isize| luma.data[cy as usize * luma.width + cx as usize] as i64;
        // ds[j + 1][i + 1] holds the downsampled luma at chroma (x + i, y + j).
        let mut ds = vec![vec![0i64; w + 1]; h + 1];
        let (bx, by) = (2 * x as isize, 2 * y as isize);
        for j in -1..h as isize {
            for i in -1..w as isize {
                if (j < 0 && (i < 0 || !above)) || (i < 0 && !left) {
                    continue;
                }
                let (cx, cy) = (bx + 2 * i, by + 2 * j);
                let lft = if i == 0 && !left { cx } else { cx - 1 };
                let v = if j < 0 && (by % 64 == 0) {
                    (2 * s(cx, by - 1) + s(lft, by - 1) + s(cx + 1, by - 1) + 2) / 4
                } else {
                    let mut t = 4;
                    for r in [cy, cy + 1] {
                        t += 2 * s(cx, r) + s(lft, r) + s(cx + 1, r);
                    }
                    t / 8
                };
                ds[(j + 1) as usize][(i + 1) as usize] = v;
            }
        }
        let c = |cx: usize, cy: usize| chroma.data[cy * chroma.width + cx] as i64;
        let mut pairs = Vec::new();
        if above {
            let picks: Vec<usize> = if left {
                vec![w / 4, 3 * w / 4]
            } else {
                (0..4).map(|t| w / 8 + t * (w / 4)).collect()
            };
            for p in picks {
                pairs.push((ds[0][p + 1], c(x + p, y - 1)));
            }
        }
        if left {
            let picks: Vec<usize> = if above {
                vec![h / 4, 3 * h / 4]
            } else {
                (0..4).map(|t| h / 8 + t * (h / 4)).collect()
            };
            for p in picks {
                pairs.push((ds[p + 1][0], c(x - 1, y + p)));
            }
        }
        let (a, k, b) = if pairs.is_empty() {
            (0, 0, 1i64 << (bd - 1))
        } else {
            // The comparison network of the spec, as index groups.
            let l: Vec<i64> = pairs.iter().map(|p| p.0).collect();
            let (mut g0, mut g1) = ((0, 2), (1, 3));
            if l[g0.0] > l[g0.1] {
                g0 = (g0.1, g0.0);
            }
            if l[g1.0] > l[g1.1] {
                g1 = (g1.1, g1.0);
            }
            if l[g0.0] > l[g1.1] {
                (g0, g1) = (g1, g0);
            }
            if l[g0.1] > l[g1.0] {
                (g0.1, g1.0) = (g1.0, g0.1);
            }
            let avg = |g: (usize, usize), f: &dyn Fn(&(i64, i64)) -> i64| {
                (f(&pairs[g.0]) + f(&pairs[g.1]) + 1) >> 1
            };
            let (min_y, min_c) = (avg(g0, &|p| p.0), avg(g0, &|p| p.1));
            let (max_y, max_c) = (avg(g1, &|p| p.0), avg(g1, &|p| p.1));
            let diff = max_y - min_y;
            if diff <= 0 {
                (0, 0, min_c)
            } else {
                // 1/diff to 4 significant bits: diff = 2^e * m / 16, m in 16..32,
                // and 1/m ~ (8 | DIV[m - 16]) / 256.
                let e = 63 - diff.leading_zeros() as i64;
                let m = (diff << 4) >> e;
                let recip = 8 | DIV[(m - 16) as usize] as i64;
                let e = e + (m != 16) as i64;
                let dc = max_c - min_c;
                let y = if dc == 0 {
                    0
                } else {
                    64 - dc.abs().leading_zeros() as i64
                };
                let mut a = (dc * recip + ((1 << y) >> 1)) >> y;
                let mut k = 3 + e - y;
                if k < 1 {
                    k = 1;
                    a = a.signum() * 15;
                }
                (a, k, min_c - ((a * min_y) >> k))
            }
        };
        let mut out = vec![0u16; w * h];
        for j in 0..h {
            for i in 0..w {
                let v = ((a * ds[j + 1][i + 1]) >> k) + b;
                out[j * w + i] = v.clamp(0, (1 << bd) - 1) as u16;
            }
        }
        out
    }

    fn random_plane(rng: &mut Rng, width: usize, height: usize, bd: u8) -> Plane {
        let mut p = Plane::new(width, height);
        // Smooth-ish content with noise, so the extremes are not all alike.
        let base = rng.below(1 << bd) as i64;
        for y in 0..height {
            for x in 0..width {
                let v = base + ((x * 3 + y * 5) as i64 % 97) - 48 + rng.below(64) as i64 - 32;
                p.data[y * width + x] = v.clamp(0, (1 << bd) - 1) as u16;
            }
        }
        p
    }

    const SHAPES: [(u32, u32); 12] = [
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 5),
        (3, 2),
        (2, 3),
        (4, 2),
        (2, 4),
        (5, 2),
        (2, 5),
        (5, 3),
        (4, 5),
    ];

    #[test]
    fn matches_the_plain_reference_for_every_shape_availability_and_depth() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for bd in [8u8, 10] {
            for &(lw, lh) in &SHAPES {
                let (w, h) = (1usize << lw, 1usize << lh);
                for case in 0..12 {
                    let luma = random_plane(&mut rng, 256, 256, bd);
                    let chroma = random_plane(&mut rng, 128, 128, bd);
                    // Block positions off and on superblock rows; chroma positions.
                    let x = [32, 36, 40][case % 3];
                    let y = [32, 36, 64][(case / 3) % 3];
                    let (above_ok, left_ok) =
                        [(true, true), (true, false), (false, true), (false, false)][case % 4];
                    let (bx, by) = (2 * x as isize, 2 * y as isize);
                    let avail = move |lx: isize, ly: isize| {
                        if ly < by && lx >= bx {
                            above_ok
                        } else if lx < bx && ly >= by {
                            left_ok
                        } else {
                            ly < by
                        }
                    };
                    let mut got = vec![0u16; w * h];
                    predict_in(&luma, &chroma, x, y, lw, lh, bd, avail, &mut got);
                    let want = reference(&luma, &chroma, x, y, w, h, bd, &avail);
                    assert_eq!(got, want, "{w}x{h} at ({x}, {y}), {bd} bits, case {case}");
                }
            }
        }
    }

    /// Chroma that is a linear function of the downsampled luma is predicted
    /// back within the model's rounding (a slope to 4 significant bits).
    #[test]
    fn a_linear_relation_is_recovered() {
        for bd in [8u8, 10] {
            let top = (1i64 << bd) - 1;
            let unit = 1i64 << (bd - 8);
            for &(lw, lh) in &SHAPES {
                let (w, h) = (1usize << lw, 1usize << lh);
                for &(num, den, off) in &[(1i64, 2i64, 20i64), (-3, 4, 200), (1, 1, 0), (5, 4, -30)]
                {
                    let off = off * unit;
                    // Luma a plane p*lx + q*ly + r: the 6-tap filter returns it
                    // at (2cx, 2cy) plus (4q + 4) >> 3.
                    let (x, y) = (8usize, 12usize);
                    let (p, q, r) = (unit, unit, 10 * unit);
                    let mut luma = Plane::new(128, 128);
                    for ly in 0..128 {
                        for lx in 0..128 {
                            luma.data[ly * 128 + lx] =
                                (p * lx as i64 + q * ly as i64 + r).min(top) as u16;
                        }
                    }
                    let mut chroma = Plane::new(64, 64);
                    for cy in 0..64 {
                        for cx in 0..64 {
                            let d = p * 2 * cx as i64 + q * 2 * cy as i64 + r + ((4 * q + 4) >> 3);
                            chroma.data[cy * 64 + cx] = (d * num / den + off).clamp(0, top) as u16;
                        }
                    }
                    let (bx, by) = (2 * x as isize, 2 * y as isize);
                    let avail = |lx: isize, ly: isize| ly < by || lx < bx;
                    let mut got = vec![0u16; w * h];
                    predict_in(&luma, &chroma, x, y, lw, lh, bd, avail, &mut got);
                    let mut worst = 0;
                    for j in 0..h {
                        for i in 0..w {
                            let want = chroma.data[(y + j) * 64 + x + i] as i64;
                            worst = worst.max((got[j * w + i] as i64 - want).abs());
                        }
                    }
                    // The luma span between the neighbours and the block is
                    // under 260 units; the slope is off by at most 1/8 of itself.
                    let bound = 3 * unit + 260 * unit * num.abs() / den / 8;
                    assert!(
                        worst <= bound,
                        "{w}x{h}, {bd} bits, {num}/{den}: off by {worst} > {bound}"
                    );
                }
            }
        }
    }

    #[test]
    fn nothing_available_predicts_the_middle() {
        let luma = Plane::new(64, 64);
        let chroma = Plane::new(32, 32);
        let mut got = vec![0u16; 64];
        predict_in(&luma, &chroma, 0, 0, 3, 3, 10, |_, _| false, &mut got);
        assert!(got.iter().all(|&v| v == 512));
    }

    #[test]
    fn the_division_table_approximates_the_slope() {
        for diff in 1..1024 {
            for dc in [-1023, -300, -7, -1, 0, 1, 5, 64, 511, 1023] {
                let m = derive_model((100, 500), (100 + diff, 500 + dc));
                let slope = dc as f64 / diff as f64;
                let got = m.a as f64 / (1u64 << m.k) as f64;
                if m.a.abs() == 15 && m.k == 1 {
                    assert!(slope.abs() >= 4.0, "clamped at {diff} {dc}");
                    continue;
                }
                // 4 significant bits of 1/diff and of the product.
                assert!(
                    (got - slope).abs() <= slope.abs() / 6.0 + 1.0 / (1u64 << m.k) as f64,
                    "diff {diff}, dc {dc}: {got} vs {slope}"
                );
            }
        }
    }

    #[test]
    fn the_two_smallest_and_two_largest_are_averaged() {
        let l = [40, 10, 30, 20];
        let c = [4, 1, 3, 2];
        assert_eq!(min_max(l, c), ((15, 2), (35, 4)));
        assert_eq!(min_max([1, 2, 3, 4], [0, 0, 8, 8]), ((2, 0), (4, 8)));
    }
}
