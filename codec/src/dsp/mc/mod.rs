//! HEVC motion-compensated fractional-sample interpolation (H.265 8.5.3.3.3) for 4:2:0
//! video of 8 or 10 bits per sample, and the writers that turn its 14-bit intermediates
//! into samples.
//!
//! [`luma`] and [`chroma`] produce the spec's `predSamples` at 14-bit precision. With
//! shift1 = BitDepth - 8 (0 or 2):
//!
//! * integer position (fx = fy = 0): `src << (14 - BitDepth)`;
//! * fy = 0: the horizontal filter, `>> shift1`;
//! * fx = 0: the vertical filter, `>> shift1`;
//! * both: the horizontal filter over the rows the vertical one needs, `>> shift1` (as
//!   i16), then the vertical filter over those, `>> 6` (shift2).
//!
//! [`put_uni`] rounds one prediction to samples (`(v + offset) >> shift3`, shift3 =
//! 14 - BitDepth) and [`put_bi`] averages two (`(a + b + offset) >> (shift3 + 1)`), both
//! clipped to 0..=(1 << BitDepth) - 1; offset is half the divisor.
//!
//! # Bounds of the intermediates
//!
//! Write P and N for the sums of a filter's positive taps and of the magnitudes of its
//! negative taps (every filter has P - N = 64), and M = (1 << BitDepth) - 1 for the
//! largest sample (255 or 1023):
//!
//! | filter | P | N |
//! | --- | --- | --- |
//! | luma 1/4, 3/4 | 80 | 16 |
//! | luma 1/2 | 88 | 24 |
//! | chroma 1/8, 7/8 | 68 | 4 |
//! | chroma 2/8, 6/8 | 70 | 6 |
//! | chroma 3/8, 5/8 | 74 | 10 |
//! | chroma 4/8 | 72 | 8 |
//!
//! * integer position: 0..=16320 (8 bits), 0..=16368 (10 bits);
//! * one filter pass: `(-M N) >> shift1 ..= (M P) >> shift1`, at worst -6120..=22440 at 8
//!   bits and -6138..=22506 at 10 bits (luma half-sample), which is also the range of the
//!   first pass's i16 temporary. At 10 bits the sum before the shift reaches
//!   -24552..=90024, far outside i16: the kernels add it in 32 bits and shift it first;
//! * both passes: with lo..=hi the horizontal filter's one-pass range, `(sum v[i] * tmp[i])
//!   >> 6` reaches `(hi Pv - lo Nv) >> 6` at most and `(lo Pv - hi Nv) >> 6` at least. That
//!   is -13260..=29580 (8 bits) and -13299..=29667 (10 bits) for luma pairs with a
//!   quarter-sample fraction, -5897..=22216 and -5915..=22281 for chroma, and
//!   -16830..=**33150** and -16880..=**33247** for luma at (1/2, 1/2).
//!
//! So everything fits i16 *except* the top of luma (1/2, 1/2): an 8x8 neighbourhood that is
//! M where the horizontal and vertical taps a sample meets have the same sign and 0 where
//! they differ drives the second pass past 32767 (and anything close to that pattern does
//! too). Camera content does not do that, but a stream can. These kernels **saturate** the
//! second pass to i16 (the AVX2 pack does so for free). [`put_uni`] cannot tell (anything
//! from 16288 up rounds to 255 at 8 bits, from 16360 up to 1023 at 10 bits, either way);
//! [`put_bi`] can differ from unbounded arithmetic only where the other prediction is below
//! -191 (8 bits) or -47 (10 bits) at the same sample. Encoder and decoder use the same
//! kernels, so this never causes drift. (HM avoids it by storing intermediates minus 8192;
//! this module keeps the spec's values instead, so that `src << (14 - BitDepth)` stays the
//! integer-position value.)
//!
//! The SIMD passes over 8-bit samples add byte products with `maddubs`, which saturates
//! each sum of two products to i16; with taps paired as (0, 1), (2, 3), ... no such sum
//! exceeds 255 * 58 = 14790 in magnitude, so it never does. Those over 10-bit samples add
//! in 32 bits (`madd`) and pack after the shift.
//!
//! `scalar` is the readable reference; `avx2` must match it bit for bit.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Luma filter taps per fraction (quarter samples), taps at offsets -3..=4; fraction 0 is
/// the identity and is never run as a filter.
const LUMA_FILTERS: [[i8; 8]; 4] = [
    [0, 0, 0, 64, 0, 0, 0, 0],
    [-1, 4, -10, 58, 17, -5, 1, 0],
    [-1, 4, -11, 40, 40, -11, 4, -1],
    [0, 1, -5, 17, 58, -10, 4, -1],
];

/// Chroma filter taps per fraction (eighth samples), taps at offsets -1..=2.
const CHROMA_FILTERS: [[i8; 4]; 8] = [
    [0, 64, 0, 0],
    [-2, 58, 10, -2],
    [-4, 54, 16, -2],
    [-6, 46, 28, -4],
    [-4, 36, 36, -4],
    [-4, 28, 46, -6],
    [-2, 16, 54, -4],
    [-2, 10, 58, -2],
];

/// Largest block side (luma).
const MAX_BLOCK: usize = 64;

/// Luma block sides.
const LUMA_SIZES: [usize; 5] = [4, 8, 16, 32, 64];

/// Chroma block sides.
const CHROMA_SIZES: [usize; 5] = [2, 4, 8, 16, 32];

/// Block sides [`put_uni`] and [`put_bi`] accept: luma's and chroma's.
const PUT_SIZES: [usize; 6] = [2, 4, 8, 16, 32, 64];

/// shift2 of H.265 8.5.3.3.3: applied after the second pass of a two-dimensional filter.
const SECOND_PASS_SHIFT: u32 = 6;

/// Clamps a second-pass value to i16 (only luma at (1/2, 1/2) can exceed it; see the
/// module docs).
#[inline]
fn saturate_i16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Interpolates a `w` x `h` luma block. `src` is the reference plane (row stride
/// `src_stride`); `origin` is the index in `src` of the integer sample co-located with the
/// block's top-left output sample; the caller guarantees src covers rows origin-3*stride ..
/// origin+(h+4)*stride and columns -3..w+4 around it. `fx`, `fy` are quarter-sample
/// fractions 0..=3. Samples have `bit_depth` bits (8 or 10). Output:
/// `dst[y * dst_stride + x]`, 14-bit intermediates.
///
/// Panics if `w` or `h` is not 4, 8, 16, 32 or 64, a fraction is out of range, `bit_depth`
/// is not 8 or 10, `src` does not cover the footprint, or `dst` cannot hold the block at
/// `dst_stride` (>= `w`).
#[allow(clippy::too_many_arguments)]
pub fn luma(
    src: &[u16],
    src_stride: usize,
    origin: usize,
    w: usize,
    h: usize,
    fx: u8,
    fy: u8,
    dst: &mut [i16],
    dst_stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    assert!(
        LUMA_SIZES.contains(&w) && LUMA_SIZES.contains(&h),
        "luma blocks are 4..64 samples wide and high (powers of two), got {w}x{h}"
    );
    assert!(
        fx < 4 && fy < 4,
        "luma fractions are 0..=3, got ({fx}, {fy})"
    );
    interpolate(
        &LUMA_FILTERS,
        src,
        src_stride,
        origin,
        (w, h),
        (fx, fy),
        dst,
        dst_stride,
        bit_depth,
        cpu,
    );
}

/// The same for chroma with eighth-sample fractions 0..=7 and 4-tap filters (margins 1
/// before, 2 after).
///
/// Panics if `w` or `h` is not 2, 4, 8, 16 or 32, a fraction is out of range, `bit_depth`
/// is not 8 or 10, `src` does not cover rows -1..h+2 and columns -1..w+2 around `origin`,
/// or `dst` cannot hold the block at `dst_stride` (>= `w`).
#[allow(clippy::too_many_arguments)]
pub fn chroma(
    src: &[u16],
    src_stride: usize,
    origin: usize,
    w: usize,
    h: usize,
    fx: u8,
    fy: u8,
    dst: &mut [i16],
    dst_stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    assert!(
        CHROMA_SIZES.contains(&w) && CHROMA_SIZES.contains(&h),
        "chroma blocks are 2..32 samples wide and high (powers of two), got {w}x{h}"
    );
    assert!(
        fx < 8 && fy < 8,
        "chroma fractions are 0..=7, got ({fx}, {fy})"
    );
    interpolate(
        &CHROMA_FILTERS,
        src,
        src_stride,
        origin,
        (w, h),
        (fx, fy),
        dst,
        dst_stride,
        bit_depth,
        cpu,
    );
}

/// [`luma`] or [`chroma`] with their `T`-tap filters, after the size and fraction checks.
#[allow(clippy::too_many_arguments)]
fn interpolate<const T: usize>(
    filters: &[[i8; T]],
    src: &[u16],
    src_stride: usize,
    origin: usize,
    (w, h): (usize, usize),
    (fx, fy): (u8, u8),
    dst: &mut [i16],
    dst_stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_source(src.len(), src_stride, origin, w, h, T / 2 - 1, T / 2);
    check_destination(dst.len(), dst_stride, w, h);
    let hf = &filters[usize::from(fx)];
    let vf = &filters[usize::from(fy)];
    let full = (fx == 0, fy == 0);
    match cpu {
        // Checking the (cached) CPU flag again keeps a hand-made `CpuLevel::Avx2` from
        // reaching AVX2 code on a CPU without it, for the cost of one load and branch.
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernel's only requirement (it bounds-checks every access).
            unsafe {
                avx2::interpolate(
                    hf,
                    vf,
                    full,
                    src,
                    src_stride,
                    origin,
                    (w, h),
                    dst,
                    dst_stride,
                    bit_depth,
                )
            }
        }
        _ => scalar::interpolate(
            hf,
            vf,
            full,
            src,
            src_stride,
            origin,
            (w, h),
            dst,
            dst_stride,
            bit_depth,
        ),
    }
}

/// Rounds one prediction to samples.
///
/// `dst[y * dst_stride + x] = clip(0, max, (src[y * src_stride + x] + offset) >> shift)` with
/// `shift = 14 - bit_depth`, `offset = 1 << (shift - 1)` and `max = (1 << bit_depth) - 1`
/// (at 8 bits `(v + 32) >> 6` clipped to 0..=255). Panics if `w` or `h` is not 2, 4, 8, 16,
/// 32 or 64, `bit_depth` is not 8 or 10, or a slice cannot hold the block at its stride
/// (`dst_stride` must be at least `w`).
#[allow(clippy::too_many_arguments)]
pub fn put_uni(
    src: &[i16],
    src_stride: usize,
    w: usize,
    h: usize,
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_put_size(w, h);
    check_block_slice(src.len(), src_stride, w, h, "src");
    check_destination(dst.len(), dst_stride, w, h);
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernel's only requirement (it bounds-checks every access).
            unsafe { avx2::put_uni(src, src_stride, (w, h), dst, dst_stride, bit_depth) }
        }
        _ => scalar::put_uni(src, src_stride, (w, h), dst, dst_stride, bit_depth),
    }
}

/// Averages two predictions to samples.
///
/// `dst = clip(0, max, (a + b + offset) >> shift)` with `shift = 15 - bit_depth` and
/// `offset = 1 << (shift - 1)` (at 8 bits `(a + b + 64) >> 7` clipped to 0..=255), `a` and
/// `b` sharing `src_stride`. Panics like [`put_uni`].
#[allow(clippy::too_many_arguments)]
pub fn put_bi(
    a: &[i16],
    b: &[i16],
    src_stride: usize,
    w: usize,
    h: usize,
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_put_size(w, h);
    check_block_slice(a.len(), src_stride, w, h, "a");
    check_block_slice(b.len(), src_stride, w, h, "b");
    check_destination(dst.len(), dst_stride, w, h);
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernel's only requirement (it bounds-checks every access).
            unsafe { avx2::put_bi(a, b, src_stride, (w, h), dst, dst_stride, bit_depth) }
        }
        _ => scalar::put_bi(a, b, src_stride, (w, h), dst, dst_stride, bit_depth),
    }
}

/// Checks that a source of `len` samples covers the filter footprint of a `w` x `h` block
/// at `origin`: `before` rows and columns before it and `after` after its last ones.
fn check_source(
    len: usize,
    stride: usize,
    origin: usize,
    w: usize,
    h: usize,
    before: usize,
    after: usize,
) {
    let first = before
        .checked_mul(stride)
        .and_then(|rows| rows.checked_add(before))
        .and_then(|back| origin.checked_sub(back));
    let last = (h - 1 + after)
        .checked_mul(stride)
        .and_then(|rows| rows.checked_add(w - 1 + after))
        .and_then(|offset| offset.checked_add(origin));
    assert!(
        first.is_some() && last.is_some_and(|last| last < len),
        "src of {len} samples at stride {stride} does not cover the {w}x{h} block at {origin} \
         with its filter margins ({before} before, {after} after)"
    );
}

/// Checks that a slice of `len` elements holds a `w` x `h` block at `stride`.
fn check_block_slice(len: usize, stride: usize, w: usize, h: usize, what: &str) {
    assert!(
        stride >= w
            && (h - 1)
                .checked_mul(stride)
                .is_some_and(|rows| rows + w <= len),
        "{what} of {len} elements at stride {stride} cannot hold a {w}x{h} block"
    );
}

/// Checks the destination of a `w` x `h` block.
fn check_destination(len: usize, stride: usize, w: usize, h: usize) {
    check_block_slice(len, stride, w, h, "dst");
}

/// Checks a block size for [`put_uni`] and [`put_bi`].
fn check_put_size(w: usize, h: usize) {
    assert!(
        PUT_SIZES.contains(&w) && PUT_SIZES.contains(&h),
        "blocks are 2..64 samples wide and high (powers of two), got {w}x{h}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::BIT_DEPTHS;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The largest sample at `bit_depth`.
    fn max_sample(bit_depth: u32) -> u16 {
        (1 << bit_depth) - 1
    }

    /// Luma or chroma, with what differs between them.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Plane {
        Luma,
        Chroma,
    }

    impl Plane {
        fn sizes(self) -> &'static [usize] {
            match self {
                Plane::Luma => &LUMA_SIZES,
                Plane::Chroma => &CHROMA_SIZES,
            }
        }

        fn fractions(self) -> u8 {
            match self {
                Plane::Luma => 4,
                Plane::Chroma => 8,
            }
        }

        /// Footprint margins: samples needed before and after the block.
        fn margins(self) -> (usize, usize) {
            match self {
                Plane::Luma => (3, 4),
                Plane::Chroma => (1, 2),
            }
        }

        fn filter(self, fraction: u8) -> Vec<i32> {
            match self {
                Plane::Luma => LUMA_FILTERS[usize::from(fraction)].map(i32::from).to_vec(),
                Plane::Chroma => CHROMA_FILTERS[usize::from(fraction)]
                    .map(i32::from)
                    .to_vec(),
            }
        }

        fn fraction_pairs(self) -> impl Iterator<Item = (u8, u8)> {
            let n = self.fractions();
            (0..n).flat_map(move |fx| (0..n).map(move |fy| (fx, fy)))
        }

        fn block_sizes(self) -> impl Iterator<Item = (usize, usize)> {
            let sizes = self.sizes();
            sizes
                .iter()
                .flat_map(move |&w| sizes.iter().map(move |&h| (w, h)))
        }
    }

    /// A reference plane of `bit_depth`-bit samples cut so that the slice starts at the
    /// first sample of the block's footprint and ends right after its last one, with `extra`
    /// samples of other content between rows: kernels that read past the footprint find the
    /// slice's end there.
    struct Source {
        samples: Vec<u16>,
        stride: usize,
        origin: usize,
        bit_depth: u32,
    }

    impl Source {
        /// Sample (x, y) relative to the block's top-left is `value(x, y)`, which must lie
        /// in 0..=max_sample(bit_depth).
        fn new(
            plane: Plane,
            w: usize,
            h: usize,
            extra: usize,
            bit_depth: u32,
            value: impl Fn(isize, isize) -> u16,
        ) -> Source {
            let (before, after) = plane.margins();
            let stride = before + w + after + extra;
            let len = (before + h - 1 + after) * stride + before + w + after;
            let samples = (0..len)
                .map(|i| {
                    let (r, c) = ((i / stride) as isize, (i % stride) as isize);
                    let v = value(c - before as isize, r - before as isize);
                    assert!(v <= max_sample(bit_depth), "{v} at {bit_depth} bits");
                    v
                })
                .collect();
            Source {
                samples,
                stride,
                origin: before * stride + before,
                bit_depth,
            }
        }
    }

    /// Interpolates into the middle of a larger buffer, with a stride wider than the
    /// block, and returns the block after checking that nothing outside it changed.
    #[allow(clippy::too_many_arguments)]
    fn interpolate_block(
        plane: Plane,
        src: &Source,
        w: usize,
        h: usize,
        fx: u8,
        fy: u8,
        cpu: CpuLevel,
    ) -> Vec<i16> {
        let stride = w + 5;
        let start = 2 * stride + 3;
        let len = start + (h + 2) * stride;
        let mut buffer: Vec<i16> = (0..len).map(|i| (i * 2719 + 11) as i16).collect();
        let before = buffer.clone();
        let block_len = (h - 1) * stride + w;
        let dst = &mut buffer[start..start + block_len];
        let call = match plane {
            Plane::Luma => luma,
            Plane::Chroma => chroma,
        };
        call(
            &src.samples,
            src.stride,
            src.origin,
            w,
            h,
            fx,
            fy,
            dst,
            stride,
            src.bit_depth,
            cpu,
        );
        let mut block = Vec::with_capacity(w * h);
        for (i, (&now, &old)) in buffer.iter().zip(&before).enumerate() {
            let inside = i >= start && (i - start) / stride < h && (i - start) % stride < w;
            if inside {
                block.push(now);
            } else {
                assert_eq!(
                    now, old,
                    "{cpu:?} {plane:?} {w}x{h} ({fx}, {fy}): wrote outside the block at {i}"
                );
            }
        }
        block
    }

    /// Every level agrees with the scalar reference on `src` for one block and fraction
    /// pair; returns the scalar result.
    fn check_levels(
        plane: Plane,
        src: &Source,
        (w, h): (usize, usize),
        (fx, fy): (u8, u8),
        what: &str,
    ) -> Vec<i16> {
        let expected = interpolate_block(plane, src, w, h, fx, fy, CpuLevel::Scalar);
        for cpu in CpuLevel::all_supported() {
            let got = interpolate_block(plane, src, w, h, fx, fy, cpu);
            if got != expected {
                let at = got.iter().zip(&expected).position(|(a, b)| a != b).unwrap();
                panic!(
                    "{cpu:?} differs from scalar: {plane:?} {w}x{h} ({fx}, {fy}), {} bits, \
                     {what}: at ({}, {}) {} instead of {}",
                    src.bit_depth,
                    at % w,
                    at / w,
                    got[at],
                    expected[at]
                );
            }
        }
        expected
    }

    const PLANES: [Plane; 2] = [Plane::Luma, Plane::Chroma];

    #[test]
    fn every_level_matches_scalar_on_random_sources() {
        let mut rng = SmallRng::seed_from_u64(0x3c_a1);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for plane in PLANES {
                for (w, h) in plane.block_sizes() {
                    for (fx, fy) in plane.fraction_pairs() {
                        let seed: u64 = rng.gen();
                        let extra = rng.gen_range(0..9);
                        let src = Source::new(plane, w, h, extra, bit_depth, |x, y| {
                            let mut cell = SmallRng::seed_from_u64(
                                seed ^ (x as u64).wrapping_mul(0x9e37_79b9) ^ (y as u64) << 32,
                            );
                            cell.gen_range(0..=max)
                        });
                        check_levels(plane, &src, (w, h), (fx, fy), "random");
                    }
                }
            }
        }
    }

    /// A named source pattern: sample value at (x, y) relative to the block, given the
    /// largest sample.
    type Pattern = (&'static str, fn(isize, isize, u16) -> u16);

    /// Sources of extreme values: flat 0 and the largest sample, a 0/max checkerboard and
    /// alternating rows and columns.
    fn extreme_sources() -> Vec<Pattern> {
        fn bit(on: bool, max: u16) -> u16 {
            if on {
                max
            } else {
                0
            }
        }
        vec![
            ("all 0", |_, _, _| 0),
            ("all max", |_, _, max| max),
            ("checkerboard", |x, y, max| {
                bit((x + y).rem_euclid(2) == 0, max)
            }),
            ("checkerboard, other phase", |x, y, max| {
                bit((x + y).rem_euclid(2) == 1, max)
            }),
            ("alternating rows", |_, y, max| {
                bit(y.rem_euclid(2) == 0, max)
            }),
            ("alternating columns", |x, _, max| {
                bit(x.rem_euclid(2) == 0, max)
            }),
        ]
    }

    #[test]
    fn every_level_matches_scalar_on_extreme_sources() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for plane in PLANES {
                for (w, h) in plane.block_sizes() {
                    for (fx, fy) in plane.fraction_pairs() {
                        for (what, value) in extreme_sources() {
                            let src =
                                Source::new(plane, w, h, 3, bit_depth, |x, y| value(x, y, max));
                            check_levels(plane, &src, (w, h), (fx, fy), what);
                        }
                    }
                }
            }
        }
    }

    /// Sign of the tap of `filter` that sample `d` (0-based from the first tap) meets,
    /// repeated with the filter's length so that every `taps`-th output sees the pattern.
    fn tap_sign(filter: &[i32], d: isize) -> i32 {
        filter[d.rem_euclid(filter.len() as isize) as usize].signum()
    }

    /// The extreme intermediate values of a fraction pair at `bit_depth`, from the module's
    /// analysis: (min, max) before saturation.
    fn analytic_bounds(plane: Plane, fx: u8, fy: u8, bit_depth: u32) -> (i32, i32) {
        let p = |f: &[i32]| f.iter().filter(|&&t| t > 0).sum::<i32>();
        let n = |f: &[i32]| -f.iter().filter(|&&t| t < 0).sum::<i32>();
        let max = i32::from(max_sample(bit_depth));
        let shift1 = bit_depth - 8;
        // One pass over samples, `>> shift1`.
        let one_pass = |f: &[i32]| ((-max * n(f)) >> shift1, (max * p(f)) >> shift1);
        let (hf, vf) = (plane.filter(fx), plane.filter(fy));
        match (fx, fy) {
            (0, 0) => (0, max << (14 - bit_depth)),
            (_, 0) => one_pass(&hf),
            (0, _) => one_pass(&vf),
            _ => {
                let (lo, hi) = one_pass(&hf);
                (
                    (lo * p(&vf) - hi * n(&vf)) >> SECOND_PASS_SHIFT,
                    (hi * p(&vf) - lo * n(&vf)) >> SECOND_PASS_SHIFT,
                )
            }
        }
    }

    #[test]
    fn sign_patterns_reach_the_analytic_bounds_at_every_level() {
        // The largest sample where the horizontal and vertical taps a sample meets have the
        // same sign (`positive`) or opposite signs, 0 elsewhere: the largest and smallest
        // results. The sign of a fraction-0 "filter" is that of its centre tap. At 10 bits
        // these drive one-pass sums far past i16 before shift1.
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for plane in PLANES {
                let (before, _) = plane.margins();
                for (w, h) in plane.block_sizes() {
                    for (fx, fy) in plane.fraction_pairs() {
                        let (hf, vf) = (plane.filter(fx), plane.filter(fy));
                        let (low, high) = analytic_bounds(plane, fx, fy, bit_depth);
                        for positive in [true, false] {
                            let value = |x: isize, y: isize| {
                                let s = tap_sign(&hf, x + before as isize)
                                    * tap_sign(&vf, y + before as isize);
                                if (s > 0) == positive && s != 0 {
                                    max
                                } else {
                                    0
                                }
                            };
                            let src = Source::new(plane, w, h, 2, bit_depth, value);
                            let what = if positive { "maximising" } else { "minimising" };
                            let block = check_levels(plane, &src, (w, h), (fx, fy), what);
                            let (got, bound) = if positive {
                                (i32::from(*block.iter().max().unwrap()), high.min(32767))
                            } else {
                                (i32::from(*block.iter().min().unwrap()), low)
                            };
                            if (fx, fy) != (0, 0) || positive {
                                assert_eq!(
                                    got, bound,
                                    "{plane:?} {w}x{h} ({fx}, {fy}) {bit_depth} bits {what}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn only_luma_half_half_can_exceed_i16() {
        for bit_depth in BIT_DEPTHS {
            for plane in PLANES {
                for (fx, fy) in plane.fraction_pairs() {
                    let (low, high) = analytic_bounds(plane, fx, fy, bit_depth);
                    let luma_half_half = plane == Plane::Luma && (fx, fy) == (2, 2);
                    assert!(low >= -32768, "{plane:?} ({fx}, {fy}) {bit_depth} bits");
                    assert_eq!(
                        high > 32767,
                        luma_half_half,
                        "{plane:?} ({fx}, {fy}) {bit_depth} bits: {high}"
                    );
                }
            }
        }
        // The ranges the module docs quote.
        let range = |plane: Plane, bit_depth: u32, keep: &dyn Fn(u8, u8) -> bool| {
            plane
                .fraction_pairs()
                .filter(|&(fx, fy)| keep(fx, fy))
                .map(|(fx, fy)| analytic_bounds(plane, fx, fy, bit_depth))
                .fold((0, 0), |(lo, hi), (l, h)| (lo.min(l), hi.max(h)))
        };
        let quarter = |f: u8| f == 1 || f == 3;
        let luma_quarter_2d = |fx, fy| fx != 0 && fy != 0 && (quarter(fx) || quarter(fy));
        let chroma_2d = |fx, fy| fx != 0 && fy != 0;
        let one_pass = |fx, fy| (fx == 0) != (fy == 0);
        // (bit depth, integer position, one pass, luma quarter 2-D, chroma 2-D, luma
        // (1/2, 1/2)).
        type Quoted = (
            u32,
            (i32, i32),
            (i32, i32),
            (i32, i32),
            (i32, i32),
            (i32, i32),
        );
        let quoted: [Quoted; 2] = [
            (
                8,
                (0, 16320),
                (-6120, 22440),
                (-13260, 29580),
                (-5897, 22216),
                (-16830, 33150),
            ),
            (
                10,
                (0, 16368),
                (-6138, 22506),
                (-13299, 29667),
                (-5915, 22281),
                (-16880, 33247),
            ),
        ];
        for (bit_depth, integer, pass, quarter_2d, chroma, half_half) in quoted {
            assert_eq!(analytic_bounds(Plane::Luma, 0, 0, bit_depth), integer);
            assert_eq!(range(Plane::Luma, bit_depth, &one_pass), pass);
            assert_eq!(range(Plane::Luma, bit_depth, &luma_quarter_2d), quarter_2d);
            assert_eq!(range(Plane::Chroma, bit_depth, &chroma_2d), chroma);
            assert_eq!(analytic_bounds(Plane::Luma, 2, 2, bit_depth), half_half);
        }
        // The one-pass sums at 10 bits before shift1, which the SIMD kernels must add in
        // 32 bits.
        let sums = LUMA_FILTERS[1..].iter().map(|f| {
            let f = f.map(i32::from);
            let p: i32 = f.iter().filter(|&&t| t > 0).sum();
            let n: i32 = -f.iter().filter(|&&t| t < 0).sum::<i32>();
            (-1023 * n, 1023 * p)
        });
        let (lo, hi) = sums.fold((0, 0), |(lo, hi), (l, h)| (lo.min(l), hi.max(h)));
        assert_eq!((lo, hi), (-24552, 90024));
    }

    #[test]
    fn maddubs_pair_sums_cannot_saturate() {
        // Fraction 0 is never run as a filter.
        let pairs = LUMA_FILTERS[1..]
            .iter()
            .flat_map(|f| f.chunks(2))
            .chain(CHROMA_FILTERS[1..].iter().flat_map(|f| f.chunks(2)));
        for pair in pairs {
            let (pos, neg): (i32, i32) = pair
                .iter()
                .map(|&t| i32::from(t))
                .fold((0, 0), |acc, t| (acc.0 + t.max(0), acc.1 + t.min(0)));
            assert!(255 * pos <= 14790 && 255 * -neg <= 14790, "{pair:?}");
        }
    }

    /// The scalar reference's result for a source given by `value`.
    fn scalar_block(
        plane: Plane,
        (w, h): (usize, usize),
        (fx, fy): (u8, u8),
        bit_depth: u32,
        value: impl Fn(isize, isize) -> u16,
    ) -> Vec<i16> {
        let src = Source::new(plane, w, h, 1, bit_depth, value);
        interpolate_block(plane, &src, w, h, fx, fy, CpuLevel::Scalar)
    }

    /// `put_uni` of a `w`-wide block stored without gaps.
    fn uni(block: &[i16], w: usize, bit_depth: u32, cpu: CpuLevel) -> Vec<u16> {
        let h = block.len() / w;
        let mut out = vec![0; block.len()];
        put_uni(block, w, w, h, &mut out, w, bit_depth, cpu);
        out
    }

    #[test]
    fn integer_position_is_the_source_scaled_to_14_bits_and_rounds_back() {
        let mut rng = SmallRng::seed_from_u64(5);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for plane in PLANES {
                for (w, h) in plane.block_sizes() {
                    let seed: u64 = rng.gen();
                    let value = move |x: isize, y: isize| {
                        (seed as isize ^ (x * 31 + y * 17)).wrapping_mul(2_654_435_761) as u16 & max
                    };
                    let block = scalar_block(plane, (w, h), (0, 0), bit_depth, value);
                    let source: Vec<u16> = (0..h * w)
                        .map(|i| value((i % w) as isize, (i / w) as isize))
                        .collect();
                    let expected: Vec<i16> = source
                        .iter()
                        .map(|&s| (s << (14 - bit_depth)) as i16)
                        .collect();
                    assert_eq!(block, expected, "{plane:?} {w}x{h} {bit_depth} bits");
                    assert_eq!(
                        uni(&block, w, bit_depth, CpuLevel::Scalar),
                        source,
                        "{plane:?} {w}x{h} {bit_depth} bits"
                    );
                }
            }
        }
    }

    #[test]
    fn a_constant_source_stays_constant_at_every_fraction() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for plane in PLANES {
                for (fx, fy) in plane.fraction_pairs() {
                    for constant in [0, 1, 77, 128, max / 2, max - 1, max] {
                        let (w, h) = (8, 4);
                        let block =
                            scalar_block(plane, (w, h), (fx, fy), bit_depth, |_, _| constant);
                        assert!(
                            block
                                .iter()
                                .all(|&v| i32::from(v) == i32::from(constant) << (14 - bit_depth)),
                            "{plane:?} ({fx}, {fy}) {bit_depth} bits constant {constant}: \
                             {block:?}"
                        );
                        assert!(uni(&block, w, bit_depth, CpuLevel::Scalar)
                            .iter()
                            .all(|&s| s == constant));
                    }
                }
            }
        }
    }

    #[test]
    fn luma_half_sample_of_a_ramp_lies_halfway() {
        // The half-sample filter is symmetric, so it reproduces a linear ramp exactly: with
        // slope 2 the value halfway between samples is an integer, with slope 3 it is a
        // half that put_uni rounds up.
        for bit_depth in BIT_DEPTHS {
            for slope in [2isize, 3] {
                for (fx, fy) in [(2, 0), (0, 2), (2, 2)] {
                    let (w, h) = (16, 8);
                    let ramp = move |x: isize, y: isize| {
                        let t = if fx == 2 && fy == 2 {
                            x + y
                        } else if fx == 2 {
                            x
                        } else {
                            y
                        };
                        ((40 << (bit_depth - 8)) + slope * t) as u16
                    };
                    let block = scalar_block(Plane::Luma, (w, h), (fx, fy), bit_depth, ramp);
                    let samples = uni(&block, w, bit_depth, CpuLevel::Scalar);
                    for (i, (&v, &s)) in block.iter().zip(&samples).enumerate() {
                        let (x, y) = ((i % w) as isize, (i / w) as isize);
                        // The position moves by half a sample along each filtered direction.
                        let halves = if fx == 2 && fy == 2 { 2 } else { 1 };
                        let twice = 2 * i32::from(ramp(x, y)) + halves * slope as i32;
                        assert_eq!(
                            i32::from(v),
                            (1 << (13 - bit_depth)) * twice,
                            "{bit_depth} bits slope {slope} ({fx}, {fy}) at {i}"
                        );
                        assert_eq!(
                            i32::from(s),
                            (twice + 1) / 2,
                            "{bit_depth} bits slope {slope} ({fx}, {fy})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn mirrored_fractions_give_the_mirrored_block() {
        // Each filter reversed is the filter of the mirrored fraction (1/4 <-> 3/4, 1/2 to
        // itself; eighths likewise). So interpolating the source mirrored about the block's
        // far edge, s'(x) = s(w - x), at the mirrored fraction gives the block mirrored:
        // output x' = w - 1 - x sits at w - 1 - x + (1 - f) = w - (x + f).
        let mut rng = SmallRng::seed_from_u64(6);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for plane in PLANES {
                let n = plane.fractions();
                for (w, h) in [(8, 8), (16, 4), (4, 8)] {
                    let (w, h) = if plane == Plane::Chroma {
                        (w / 2, h / 2)
                    } else {
                        (w, h)
                    };
                    for (fx, fy) in plane.fraction_pairs() {
                        let seed: u64 = rng.gen();
                        let value = move |x: isize, y: isize| {
                            let hash = ((x * 7919 + y * 104_729) as u64 ^ seed)
                                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
                            (hash >> 48) as u16 & max
                        };
                        let block = scalar_block(plane, (w, h), (fx, fy), bit_depth, value);
                        let (wi, hi) = (w as isize, h as isize);
                        let mirrored_source = move |x: isize, y: isize| {
                            value(
                                if fx != 0 { wi - x } else { x },
                                if fy != 0 { hi - y } else { y },
                            )
                        };
                        let mirrored = scalar_block(
                            plane,
                            (w, h),
                            ((n - fx) % n, (n - fy) % n),
                            bit_depth,
                            mirrored_source,
                        );
                        for y in 0..h {
                            for x in 0..w {
                                let xm = if fx != 0 { w - 1 - x } else { x };
                                let ym = if fy != 0 { h - 1 - y } else { y };
                                assert_eq!(
                                    block[y * w + x],
                                    mirrored[ym * w + xm],
                                    "{plane:?} {w}x{h} ({fx}, {fy}) {bit_depth} bits at \
                                     ({x}, {y})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // put_uni and put_bi

    /// Runs put_uni (`b` absent) or put_bi into the middle of a larger buffer, checks that
    /// nothing outside the block changed, and returns the block.
    fn put_block(
        a: &[i16],
        b: Option<&[i16]>,
        src_stride: usize,
        (w, h): (usize, usize),
        bit_depth: u32,
        cpu: CpuLevel,
    ) -> Vec<u16> {
        let stride = w + 7;
        let start = stride + 1;
        let len = start + (h + 1) * stride;
        let mut buffer: Vec<u16> = (0..len).map(|i| (i * 151 + 7) as u16).collect();
        let before = buffer.clone();
        let dst = &mut buffer[start..start + (h - 1) * stride + w];
        match b {
            None => put_uni(a, src_stride, w, h, dst, stride, bit_depth, cpu),
            Some(b) => put_bi(a, b, src_stride, w, h, dst, stride, bit_depth, cpu),
        }
        let mut block = Vec::with_capacity(w * h);
        for (i, (&now, &old)) in buffer.iter().zip(&before).enumerate() {
            if i >= start && (i - start) / stride < h && (i - start) % stride < w {
                block.push(now);
            } else {
                assert_eq!(now, old, "{cpu:?} {w}x{h}: wrote outside the block at {i}");
            }
        }
        block
    }

    fn put_sizes() -> impl Iterator<Item = (usize, usize)> {
        PUT_SIZES
            .iter()
            .flat_map(|&w| PUT_SIZES.iter().map(move |&h| (w, h)))
    }

    /// Checks put_uni and put_bi at every level against scalar for predictions drawn by
    /// `draw`.
    fn check_puts(
        rng: &mut SmallRng,
        bit_depth: u32,
        draw: impl Fn(&mut SmallRng) -> i16,
        what: &str,
    ) {
        for (w, h) in put_sizes() {
            let src_stride = w + 3;
            let len = (h - 1) * src_stride + w;
            let a: Vec<i16> = (0..len).map(|_| draw(rng)).collect();
            let b: Vec<i16> = (0..len).map(|_| draw(rng)).collect();
            let put = |b: Option<&[i16]>, cpu| put_block(&a, b, src_stride, (w, h), bit_depth, cpu);
            let uni_expected = put(None, CpuLevel::Scalar);
            let bi_expected = put(Some(&b), CpuLevel::Scalar);
            for cpu in CpuLevel::all_supported() {
                let uni = put(None, cpu);
                assert!(
                    uni == uni_expected,
                    "{cpu:?} put_uni {w}x{h} {bit_depth} bits {what}"
                );
                let bi = put(Some(&b), cpu);
                assert!(
                    bi == bi_expected,
                    "{cpu:?} put_bi {w}x{h} {bit_depth} bits {what}"
                );
            }
        }
    }

    #[test]
    fn puts_match_scalar_at_every_level() {
        let mut rng = SmallRng::seed_from_u64(7);
        // The clip points of both depths: 0 below, and 16288 (8 bits) and 16360 (10 bits)
        // for put_uni, and the intermediates' extremes.
        let extremes = [
            i16::MIN,
            -16880,
            -16830,
            -9,
            -8,
            -1,
            0,
            7,
            8,
            16287,
            16288,
            16320,
            16359,
            16360,
            16368,
            32767,
        ];
        for bit_depth in BIT_DEPTHS {
            check_puts(
                &mut rng,
                bit_depth,
                |r| r.gen_range(-16880..=32767),
                "intermediate range",
            );
            check_puts(&mut rng, bit_depth, |r| r.gen(), "any i16");
            check_puts(
                &mut rng,
                bit_depth,
                |r| r.gen_range(-200..=16500),
                "near the clip points",
            );
            check_puts(
                &mut rng,
                bit_depth,
                |r| extremes[r.gen_range(0..extremes.len())],
                "extremes",
            );
        }
    }

    #[test]
    fn put_bi_of_equal_predictions_is_put_uni() {
        let mut rng = SmallRng::seed_from_u64(8);
        for bit_depth in BIT_DEPTHS {
            for (w, h) in put_sizes() {
                let a: Vec<i16> = (0..w * h).map(|_| rng.gen_range(-16880..=32767)).collect();
                let uni = put_block(&a, None, w, (w, h), bit_depth, CpuLevel::Scalar);
                let bi = put_block(&a, Some(&a), w, (w, h), bit_depth, CpuLevel::Scalar);
                assert_eq!(uni, bi, "{w}x{h} {bit_depth} bits");
            }
        }
    }

    #[test]
    fn puts_round_and_clip() {
        let (w, h) = (2, 8);
        let b = [0i16; 16];
        // 8 bits: (v + 32) >> 6 and (a + b + 64) >> 7, clipped to 0..=255.
        let a = [
            -32768i16, -33, -32, 0, 31, 32, 95, 96, 16287, 16288, 32767, 6432, 6431, 64, 63, 1,
        ];
        let got = put_block(&a, None, w, (w, h), 8, CpuLevel::Scalar);
        assert_eq!(
            got,
            [0, 0, 0, 0, 0, 1, 1, 2, 254, 255, 255, 101, 100, 1, 1, 0]
        );
        let got = put_block(&a, Some(&b), w, (w, h), 8, CpuLevel::Scalar);
        assert_eq!(
            got,
            [0, 0, 0, 0, 0, 0, 1, 1, 127, 127, 255, 50, 50, 1, 0, 0]
        );
        let got = put_block(&a, Some(&a), w, (w, h), 8, CpuLevel::Scalar);
        assert_eq!(got, put_block(&a, None, w, (w, h), 8, CpuLevel::Scalar));
        // 10 bits: (v + 8) >> 4 and (a + b + 16) >> 5, clipped to 0..=1023.
        let a = [
            -32768i16, -9, -8, 0, 7, 8, 23, 24, 16359, 16360, 32767, 6440, 6439, 16, 15, 1,
        ];
        let got = put_block(&a, None, w, (w, h), 10, CpuLevel::Scalar);
        assert_eq!(
            got,
            [0, 0, 0, 0, 0, 1, 1, 2, 1022, 1023, 1023, 403, 402, 1, 1, 0]
        );
        let got = put_block(&a, Some(&b), w, (w, h), 10, CpuLevel::Scalar);
        assert_eq!(
            got,
            [0, 0, 0, 0, 0, 0, 1, 1, 511, 511, 1023, 201, 201, 1, 0, 0]
        );
        let got = put_block(&a, Some(&a), w, (w, h), 10, CpuLevel::Scalar);
        assert_eq!(got, put_block(&a, None, w, (w, h), 10, CpuLevel::Scalar));
    }

    // ---------------------------------------------------------------------------------
    // Argument checks

    #[test]
    #[should_panic(expected = "does not cover")]
    fn rejects_a_source_without_the_margin_after() {
        let src = Source::new(Plane::Luma, 8, 8, 0, 8, |_, _| 0);
        let short = &src.samples[..src.samples.len() - 1];
        let mut dst = [0; 64];
        luma(
            short,
            src.stride,
            src.origin,
            8,
            8,
            1,
            1,
            &mut dst,
            8,
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "does not cover")]
    fn rejects_a_source_without_the_margin_before() {
        let src = Source::new(Plane::Chroma, 4, 4, 0, 10, |_, _| 0);
        let mut dst = [0; 16];
        let origin = src.origin - 1;
        chroma(
            &src.samples,
            src.stride,
            origin,
            4,
            4,
            0,
            0,
            &mut dst,
            4,
            10,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "4..64")]
    fn rejects_a_2_wide_luma_block() {
        let src = Source::new(Plane::Luma, 2, 4, 0, 8, |_, _| 0);
        let mut dst = [0; 8];
        luma(
            &src.samples,
            src.stride,
            src.origin,
            2,
            4,
            0,
            0,
            &mut dst,
            2,
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "fractions are 0..=7")]
    fn rejects_a_chroma_fraction_of_8() {
        let src = Source::new(Plane::Chroma, 4, 4, 0, 8, |_, _| 0);
        let mut dst = [0; 16];
        chroma(
            &src.samples,
            src.stride,
            src.origin,
            4,
            4,
            8,
            0,
            &mut dst,
            4,
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn rejects_a_short_destination() {
        let src = Source::new(Plane::Luma, 8, 8, 0, 8, |_, _| 0);
        let mut dst = [0; 8 * 8 - 1];
        luma(
            &src.samples,
            src.stride,
            src.origin,
            8,
            8,
            2,
            2,
            &mut dst,
            8,
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "bit depth 12 unsupported")]
    fn rejects_a_bit_depth_of_12() {
        let src = Source::new(Plane::Luma, 8, 8, 0, 10, |_, _| 0);
        let mut dst = [0; 64];
        luma(
            &src.samples,
            src.stride,
            src.origin,
            8,
            8,
            2,
            2,
            &mut dst,
            8,
            12,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn put_rejects_a_destination_stride_below_the_width() {
        let mut dst = [0; 64];
        put_uni(&[0; 64], 8, 8, 8, &mut dst, 4, 8, CpuLevel::detect());
    }

    #[test]
    #[should_panic(expected = "bit depth 9 unsupported")]
    fn put_rejects_a_bit_depth_of_9() {
        let mut dst = [0; 64];
        put_bi(
            &[0; 64],
            &[0; 64],
            8,
            8,
            8,
            &mut dst,
            8,
            9,
            CpuLevel::detect(),
        );
    }
}
