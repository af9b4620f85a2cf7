//! Adaptive loop filter kernels (normative description: `docs/bitstream.md`
//! 7.2): a point-symmetric diamond filter with integer coefficients of
//! [`COEFF_BITS`] fractional bits whose centre weight is implied (the weights
//! sum to `1 << COEFF_BITS`), so each output sample is
//!
//! ```text
//! sum = Σk coeff[k] * (s[y+dy_k][x+dx_k] + s[y-dy_k][x-dx_k] - 2 s[y][x])
//! out = clip(s[y][x] + ((sum + 64) >> 7), 0, (1 << bitDepth) - 1)
//! ```
//!
//! with `>>` an arithmetic shift. The taps are [`LUMA_TAPS`] (7x7 diamond,
//! 12 pairs) or [`CHROMA_TAPS`] (5x5 diamond, 6 pairs).
//!
//! The kernels read a copy of the plane padded by [`PAD`] samples on every
//! side by repeating its edge samples ([`padded`]), so picture edges need no
//! special case, and write the rectangle they are given into the plane.
//! Coefficients must lie in `COEFF_MIN..=COEFF_MAX` and samples in
//! `0..(1 << bitDepth)`: then every intermediate fits in 32 bits (the
//! largest sum is `12 * 128 * 2046`).
//!
//! `scalar` is the readable reference; `avx2` must match it bit for bit.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Fractional bits of the coefficients.
pub const COEFF_BITS: u32 = 7;
/// Smallest coefficient.
pub const COEFF_MIN: i16 = -128;
/// Largest coefficient.
pub const COEFF_MAX: i16 = 127;
/// Margin of the padded copy: the reach of the largest diamond.
pub const PAD: usize = 3;

/// One tap of each symmetric pair of the luma 7x7 diamond, `(dy, dx)`, in
/// raster order of the diamond's upper half (the other tap is `(-dy, -dx)`).
pub const LUMA_TAPS: [(i8, i8); 12] = [
    (-3, 0),
    (-2, -1),
    (-2, 0),
    (-2, 1),
    (-1, -2),
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (-1, 2),
    (0, -3),
    (0, -2),
    (0, -1),
];

/// One tap of each symmetric pair of the chroma 5x5 diamond, `(dy, dx)`.
pub const CHROMA_TAPS: [(i8, i8); 6] = [(-2, 0), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1)];

/// A `w` x `h` plane (`data` row-major, stride `w`) padded by [`PAD`]
/// samples on every side by repeating its edge samples; stride `w + 2 PAD`.
pub fn padded(data: &[u16], w: usize, h: usize) -> Vec<u16> {
    assert!(w > 0 && h > 0 && data.len() >= w * h, "plane {w}x{h}");
    let stride = w + 2 * PAD;
    let mut out = vec![0u16; stride * (h + 2 * PAD)];
    for y in 0..h + 2 * PAD {
        let sy = y.saturating_sub(PAD).min(h - 1);
        let src = &data[sy * w..][..w];
        let row = &mut out[y * stride..][..stride];
        row[..PAD].fill(src[0]);
        row[PAD..PAD + w].copy_from_slice(src);
        row[PAD + w..].fill(src[w - 1]);
    }
    out
}

/// Filters columns `x0..x1` of rows `y0..y1` of a plane of width `w`: reads
/// `src`, the plane padded by [`padded`] (stride `w + 2 PAD`), writes `dst`
/// (the plane, stride `w`). `taps` is [`LUMA_TAPS`] or [`CHROMA_TAPS`];
/// `sets` holds sets of one coefficient per tap, and each sample uses set
/// 0, or with `blocks` the set of its 4x4 block
/// (`blocks[((y - y0) / 4) * ((x1 - x0) / 4) + (x - x0) / 4]`).
///
/// Panics unless the rectangle lies inside the plane (with `blocks`, its
/// corners are multiples of 4), `src` holds the padded plane, `sets` holds
/// whole sets (an even number of taps) within `COEFF_MIN..=COEFF_MAX`, every
/// block's set exists, and `bit_depth` is 8 or 10.
#[allow(clippy::too_many_arguments)]
pub fn filter(
    src: &[u16],
    dst: &mut [u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    taps: &[(i8, i8)],
    sets: &[i16],
    blocks: Option<&[u8]>,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let (x0, y0, x1, y1) = rect;
    let h = dst.len() / w.max(1);
    assert!(
        x0 <= x1 && x1 <= w && y0 <= y1 && y1 <= h,
        "rectangle {rect:?} in {w}x{h}"
    );
    assert!(
        src.len() >= (w + 2 * PAD) * (h + 2 * PAD),
        "padded source too short"
    );
    let n = taps.len();
    assert!(
        n.is_multiple_of(2) && !sets.is_empty() && sets.len().is_multiple_of(n),
        "whole coefficient sets"
    );
    assert!(
        taps.iter().all(|&(dy, dx)| dy.unsigned_abs() as usize <= PAD
            && dx.unsigned_abs() as usize <= PAD),
        "taps reach at most PAD"
    );
    assert!(
        sets.iter().all(|c| (COEFF_MIN..=COEFF_MAX).contains(c)),
        "coefficients {sets:?}"
    );
    if let Some(b) = blocks {
        assert!(
            [x0, y0, x1, y1].iter().all(|v| v.is_multiple_of(4)),
            "4x4 blocks"
        );
        let count = (x1 - x0) / 4 * ((y1 - y0) / 4);
        assert!(
            b.len() >= count
                && b[..count]
                    .iter()
                    .all(|&s| (s as usize + 1) * n <= sets.len())
        );
    }
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed that this CPU supports AVX2; the
            // shapes were checked above.
            unsafe { avx2::filter(src, dst, w, rect, taps, sets, blocks, bit_depth) }
        }
        _ => scalar::filter(src, dst, w, rect, taps, sets, blocks, bit_depth),
    }
}

/// Number of luma classes.
pub const CLASSES: usize = 25;

/// The coefficient each luma tap takes under each transpose: tap `k` of a
/// block with transpose `t` is weighted by `coeff[TRANSPOSE[t][k]]`.
pub const TRANSPOSE: [[usize; 12]; 4] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    [9, 4, 10, 8, 1, 5, 11, 7, 3, 0, 2, 6],
    [0, 3, 2, 1, 8, 7, 6, 5, 4, 9, 10, 11],
    [9, 8, 10, 4, 3, 7, 11, 5, 1, 0, 2, 6],
];

/// Class and transpose of a 4x4 block from its gradient sums `g`
/// (vertical, horizontal, diagonal, anti-diagonal), packed as
/// `class << 2 | transpose`.
#[inline]
pub(crate) fn class_of(g: [u32; 4], bit_depth: u32) -> u8 {
    const ACTIVITY: [u8; 16] = [0, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4];
    let [v, h, d0, d1] = g.map(|x| x as u64);
    let act = (((v + h) * 64) >> (bit_depth + 4)).min(15) as usize;
    let mut class = ACTIVITY[act];
    let (hv1, hv0, dir_hv) = if v > h { (v, h, 1) } else { (h, v, 3) };
    let (dd1, dd0, dir_d) = if d0 > d1 { (d0, d1, 0) } else { (d1, d0, 2) };
    let (main, second, m1, m0) = if dd1 * hv0 > hv1 * dd0 {
        (dir_d, dir_hv, dd1, dd0)
    } else {
        (dir_hv, dir_d, hv1, hv0)
    };
    let strength = if 2 * m1 > 9 * m0 {
        2
    } else if m1 > 2 * m0 {
        1
    } else {
        0
    };
    if strength > 0 {
        class += (((main & 1) << 1) + strength) * 5;
    }
    const TABLE: [u8; 8] = [0, 1, 0, 2, 2, 3, 1, 3];
    (class << 2) | TABLE[(main * 2 + (second >> 1)) as usize]
}

/// Classifies the 4x4 blocks of the rectangle `(x0, y0, x1, y1)` (corners
/// multiples of 4) of a plane of width `w` padded by
/// [`padded`]: `out[(by / 4) * (width / 4) + bx / 4]` (block
/// coordinates relative to the rectangle) gets `class << 2 | transpose`,
/// from the Laplacians of the 8x8 window around each block in a
/// checkerboard pattern (VVC's classification).
pub fn classify(
    src: &[u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    bit_depth: u32,
    out: &mut [u8],
    _cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let (x0, y0, x1, y1) = rect;
    let h = (src.len() / (w + 2 * PAD)).saturating_sub(2 * PAD);
    // A block's window reaches 3 samples past it, within the padding.
    assert!(
        [x0, y0, x1, y1].iter().all(|v| v.is_multiple_of(4))
            && x0 <= x1
            && x1 <= w
            && y0 <= y1
            && y1 <= h,
        "rectangle {rect:?} of 4x4 blocks in {w}x{h}"
    );
    assert!(out.len() >= (x1 - x0) / 4 * ((y1 - y0) / 4));
    scalar::classify(src, w, rect, bit_depth, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// A plain reference: neighbours found by clamping coordinates into the
    /// plane (what the padding does), every tap of the diamond weighted, the
    /// centre with `128 - 2 Σ coeff`.
    fn reference(
        plane: &[u16],
        w: usize,
        h: usize,
        taps: &[(i8, i8)],
        coeffs: &[i16],
        bd: u32,
    ) -> Vec<u16> {
        reference_blocks(plane, w, h, taps, &|_, _| coeffs.to_vec(), bd)
    }

    fn reference_blocks(
        plane: &[u16],
        w: usize,
        h: usize,
        taps: &[(i8, i8)],
        coeffs_at: &dyn Fn(usize, usize) -> Vec<i16>,
        bd: u32,
    ) -> Vec<u16> {
        let at = |x: isize, y: isize| {
            plane[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize]
                as i64
        };
        let mut out = vec![0u16; w * h];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let coeffs = coeffs_at(x as usize, y as usize);
                let centre = 128 - 2 * coeffs.iter().map(|&c| c as i64).sum::<i64>();
                let mut acc = centre * at(x, y);
                for (&(dy, dx), &c) in taps.iter().zip(&coeffs) {
                    let (dy, dx) = (dy as isize, dx as isize);
                    acc += c as i64 * (at(x + dx, y + dy) + at(x - dx, y - dy));
                }
                let v = (acc + 64).div_euclid(128);
                out[y as usize * w + x as usize] = v.clamp(0, (1 << bd) - 1) as u16;
            }
        }
        out
    }

    fn random_plane(rng: &mut SmallRng, w: usize, h: usize, bd: u32, extreme: bool) -> Vec<u16> {
        let max = (1u16 << bd) - 1;
        (0..w * h)
            .map(|_| {
                if extreme {
                    if rng.gen_bool(0.5) {
                        max
                    } else {
                        0
                    }
                } else {
                    rng.gen_range(0..=max)
                }
            })
            .collect()
    }

    fn random_coeffs(rng: &mut SmallRng, n: usize, extreme: bool) -> Vec<i16> {
        (0..n)
            .map(|_| {
                if extreme {
                    if rng.gen_bool(0.5) {
                        COEFF_MIN
                    } else {
                        COEFF_MAX
                    }
                } else {
                    rng.gen_range(-40..=40)
                }
            })
            .collect()
    }

    /// Whole planes of awkward sizes, both diamonds, both depths, random and
    /// extreme samples and coefficients: every level equals the reference.
    #[test]
    fn every_level_matches_the_reference() {
        let mut rng = SmallRng::seed_from_u64(7);
        for bd in [8u32, 10] {
            for taps in [&LUMA_TAPS[..], &CHROMA_TAPS[..]] {
                for (w, h) in [
                    (1, 1),
                    (3, 2),
                    (16, 4),
                    (17, 9),
                    (40, 33),
                    (64, 64),
                    (93, 21),
                ] {
                    for extreme in [false, true] {
                        let plane = random_plane(&mut rng, w, h, bd, extreme);
                        let coeffs = random_coeffs(&mut rng, taps.len(), extreme);
                        let want = reference(&plane, w, h, taps, &coeffs, bd);
                        let src = padded(&plane, w, h);
                        for cpu in CpuLevel::all_supported() {
                            let mut got = plane.clone();
                            filter(
                                &src,
                                &mut got,
                                w,
                                (0, 0, w, h),
                                taps,
                                &coeffs,
                                None,
                                bd,
                                cpu,
                            );
                            assert_eq!(got, want, "{cpu:?} {w}x{h} bd {bd} taps {}", taps.len());
                        }
                    }
                }
            }
        }
    }

    /// A rectangle inside the plane changes that rectangle only.
    #[test]
    fn only_the_rectangle_changes() {
        let mut rng = SmallRng::seed_from_u64(8);
        let (w, h) = (70, 50);
        let plane = random_plane(&mut rng, w, h, 10, false);
        let coeffs = random_coeffs(&mut rng, 12, false);
        let full = reference(&plane, w, h, &LUMA_TAPS, &coeffs, 10);
        let src = padded(&plane, w, h);
        let rect = (5, 7, 69, 40);
        for cpu in CpuLevel::all_supported() {
            let mut got = plane.clone();
            filter(&src, &mut got, w, rect, &LUMA_TAPS, &coeffs, None, 10, cpu);
            for y in 0..h {
                for x in 0..w {
                    let inside = (rect.0..rect.2).contains(&x) && (rect.1..rect.3).contains(&y);
                    let want = if inside {
                        full[y * w + x]
                    } else {
                        plane[y * w + x]
                    };
                    assert_eq!(got[y * w + x], want, "{cpu:?} ({x}, {y})");
                }
            }
        }
    }

    /// A coefficient set per 4x4 block (up to 100 sets, as the luma
    /// classes and transposes use): every level equals the reference, on
    /// whole planes and on a rectangle inside one.
    #[test]
    fn per_block_sets_match_the_reference() {
        let mut rng = SmallRng::seed_from_u64(9);
        for bd in [8u32, 10] {
            for (w, h, rect) in [
                (64, 64, (0, 0, 64, 64)),
                (88, 40, (0, 0, 88, 40)),
                (136, 72, (64, 8, 132, 72)),
            ] {
                for extreme in [false, true] {
                    let plane = random_plane(&mut rng, w, h, bd, extreme);
                    let nsets = rng.gen_range(1..=100);
                    let sets = random_coeffs(&mut rng, 12 * nsets, extreme);
                    let (bw, bh) = ((rect.2 - rect.0) / 4, (rect.3 - rect.1) / 4);
                    let blocks: Vec<u8> = (0..bw * bh)
                        .map(|_| rng.gen_range(0..nsets) as u8)
                        .collect();
                    let at = |x: usize, y: usize| {
                        let inside = (rect.0..rect.2).contains(&x) && (rect.1..rect.3).contains(&y);
                        if !inside {
                            return vec![0; 12];
                        }
                        let s = blocks[(y - rect.1) / 4 * bw + (x - rect.0) / 4] as usize;
                        sets[12 * s..12 * s + 12].to_vec()
                    };
                    let want = reference_blocks(&plane, w, h, &LUMA_TAPS, &at, bd);
                    let src = padded(&plane, w, h);
                    for cpu in CpuLevel::all_supported() {
                        let mut got = plane.clone();
                        filter(
                            &src,
                            &mut got,
                            w,
                            rect,
                            &LUMA_TAPS,
                            &sets,
                            Some(&blocks),
                            bd,
                            cpu,
                        );
                        assert_eq!(got, want, "{cpu:?} {w}x{h} bd {bd}");
                    }
                }
            }
        }
    }

    /// Classes and transposes against a plain reading of VVC's rule: the
    /// Laplacians at the 32 checkerboard positions of the 8x8 window around
    /// each block (coordinates clamped into the plane), activity from
    /// `(V + H) * 64 >> (bitDepth + 4)` through VVC's table, direction by
    /// the ratios 2 and 4.5 in exact arithmetic.
    #[test]
    fn classes_match_a_plain_reference() {
        let mut rng = SmallRng::seed_from_u64(10);
        for bd in [8u32, 10] {
            for (w, h) in [(8, 8), (64, 32), (72, 40)] {
                for pattern in 0..4 {
                    let plane: Vec<u16> = match pattern {
                        0 => random_plane(&mut rng, w, h, bd, false),
                        1 => random_plane(&mut rng, w, h, bd, true),
                        // Stripes: strongly directional.
                        2 => (0..w * h)
                            .map(|i| {
                                if (i % w) / 2 % 2 == 0 {
                                    0
                                } else {
                                    (1 << bd) - 1
                                }
                            })
                            .collect(),
                        _ => (0..w * h)
                            .map(|i| ((i % w + i / w) % 7 * 20) as u16)
                            .collect(),
                    };
                    let at = |x: i64, y: i64| {
                        plane[y.clamp(0, h as i64 - 1) as usize * w
                            + x.clamp(0, w as i64 - 1) as usize] as i64
                    };
                    let mut want = Vec::new();
                    for by in (0..h as i64).step_by(4) {
                        for bx in (0..w as i64).step_by(4) {
                            let mut g = [0i64; 4];
                            for y in by - 2..by + 6 {
                                for x in bx - 2..bx + 6 {
                                    if (x - y).rem_euclid(2) != 0 {
                                        continue;
                                    }
                                    let s = 2 * at(x, y);
                                    g[0] += (s - at(x, y - 1) - at(x, y + 1)).abs();
                                    g[1] += (s - at(x - 1, y) - at(x + 1, y)).abs();
                                    g[2] += (s - at(x - 1, y - 1) - at(x + 1, y + 1)).abs();
                                    g[3] += (s - at(x - 1, y + 1) - at(x + 1, y - 1)).abs();
                                }
                            }
                            let act = (((g[0] + g[1]) * 64) >> (bd + 4)).min(15);
                            let mut class =
                                [0, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4][act as usize];
                            let hv = (
                                g[0].max(g[1]),
                                g[0].min(g[1]),
                                if g[0] > g[1] { 1 } else { 3 },
                            );
                            let dg = (
                                g[2].max(g[3]),
                                g[2].min(g[3]),
                                if g[2] > g[3] { 0 } else { 2 },
                            );
                            let (main, second) = if dg.0 * hv.1 > hv.0 * dg.1 {
                                (dg, hv)
                            } else {
                                (hv, dg)
                            };
                            let strength = if 2 * main.0 > 9 * main.1 {
                                2
                            } else if main.0 > 2 * main.1 {
                                1
                            } else {
                                0
                            };
                            if strength > 0 {
                                class += (((main.2 & 1) << 1) + strength) * 5;
                            }
                            let t = [0, 1, 0, 2, 2, 3, 1, 3][(main.2 * 2 + second.2 / 2) as usize];
                            want.push((class << 2 | t) as u8);
                        }
                    }
                    let src = padded(&plane, w, h);
                    for cpu in CpuLevel::all_supported() {
                        let mut got = vec![0u8; want.len()];
                        classify(&src, w, (0, 0, w, h), bd, &mut got, cpu);
                        assert_eq!(got, want, "{cpu:?} {w}x{h} bd {bd} pattern {pattern}");
                    }
                }
            }
        }
    }
}
