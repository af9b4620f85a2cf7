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
/// (the plane, stride `w`). `taps` is [`LUMA_TAPS`] or [`CHROMA_TAPS`] and
/// `coeffs` holds one coefficient per tap.
///
/// Panics unless the rectangle lies inside the plane, `src` holds the padded
/// plane, `coeffs` matches `taps` (an even count) within
/// `COEFF_MIN..=COEFF_MAX`, and `bit_depth` is 8 or 10.
#[allow(clippy::too_many_arguments)]
pub fn filter(
    src: &[u16],
    dst: &mut [u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    taps: &[(i8, i8)],
    coeffs: &[i16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let (x0, y0, x1, y1) = rect;
    let h = dst.len() / w.max(1);
    assert!(x0 <= x1 && x1 <= w && y0 <= y1 && y1 <= h, "rectangle {rect:?} in {w}x{h}");
    assert!(src.len() >= (w + 2 * PAD) * (h + 2 * PAD), "padded source too short");
    assert!(coeffs.len() == taps.len() && taps.len() % 2 == 0, "one coefficient per tap");
    assert!(
        taps.iter().all(|&(dy, dx)| dy.unsigned_abs() as usize <= PAD
            && dx.unsigned_abs() as usize <= PAD),
        "taps reach at most PAD"
    );
    assert!(
        coeffs.iter().all(|c| (COEFF_MIN..=COEFF_MAX).contains(c)),
        "coefficients {coeffs:?}"
    );
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed that this CPU supports AVX2; the
            // shapes were checked above.
            unsafe { avx2::filter(src, dst, w, rect, taps, coeffs, bit_depth) }
        }
        _ => scalar::filter(src, dst, w, rect, taps, coeffs, bit_depth),
    }
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
        let at = |x: isize, y: isize| {
            plane[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize]
                as i64
        };
        let centre = 128 - 2 * coeffs.iter().map(|&c| c as i64).sum::<i64>();
        let mut out = vec![0u16; w * h];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut acc = centre * at(x, y);
                for (&(dy, dx), &c) in taps.iter().zip(coeffs) {
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
                for (w, h) in [(1, 1), (3, 2), (16, 4), (17, 9), (40, 33), (64, 64), (93, 21)] {
                    for extreme in [false, true] {
                        let plane = random_plane(&mut rng, w, h, bd, extreme);
                        let coeffs = random_coeffs(&mut rng, taps.len(), extreme);
                        let want = reference(&plane, w, h, taps, &coeffs, bd);
                        let src = padded(&plane, w, h);
                        for cpu in CpuLevel::all_supported() {
                            let mut got = plane.clone();
                            filter(&src, &mut got, w, (0, 0, w, h), taps, &coeffs, bd, cpu);
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
            filter(&src, &mut got, w, rect, &LUMA_TAPS, &coeffs, 10, cpu);
            for y in 0..h {
                for x in 0..w {
                    let inside = (rect.0..rect.2).contains(&x) && (rect.1..rect.3).contains(&y);
                    let want = if inside { full[y * w + x] } else { plane[y * w + x] };
                    assert_eq!(got[y * w + x], want, "{cpu:?} ({x}, {y})");
                }
            }
        }
    }
}
