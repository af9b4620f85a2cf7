//! Distortion measures for the encoder's mode decision between an original and a
//! prediction or reconstruction: sum of squared errors, Hadamard SATD as in HM, and the
//! energy of residuals or coefficients.
//!
//! Samples are `u16` and the measures take no bit depth. Each has a scalar reference
//! (`scalar`) and, on x86-64, an AVX2 version (`avx2`, whose docs give its arithmetic's
//! bounds) that returns the same value for samples of up to 10 bits, the deepest of
//! [`BIT_DEPTHS`](crate::dsp::BIT_DEPTHS); [`CpuLevel`](crate::cpu::CpuLevel) picks one per
//! call.

use crate::cpu::CpuLevel;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Block sides the block measures accept.
pub const BLOCK_SIDES: [usize; 5] = [4, 8, 16, 32, 64];

/// Sum of absolute differences over a `w` x `h` block (`w`, `h` in
/// [`BLOCK_SIDES`]): the cost of integer-sample motion search.
pub fn sad(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
    cpu: CpuLevel,
) -> u32 {
    check_blocks(a, a_stride, b, b_stride, w, h);
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            // `check_blocks` has confirmed the shape and that both blocks lie in their slices.
            unsafe { avx2::sad(a, a_stride, b, b_stride, w, h) }
        }
        _ => scalar::sad(a, a_stride, b, b_stride, w, h),
    }
}

/// Sum of squared differences over a `w` x `h` block (`w`, `h` in [`BLOCK_SIDES`]); row `y`
/// of each block starts at `y * stride`.
pub fn sse(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
    cpu: CpuLevel,
) -> u64 {
    check_blocks(a, a_stride, b, b_stride, w, h);
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            // `check_blocks` has confirmed the shape and that both blocks lie in their slices.
            unsafe { avx2::sse(a, a_stride, b, b_stride, w, h) }
        }
        _ => scalar::sse(a, a_stride, b, b_stride, w, h),
    }
}

/// Sum of absolute Hadamard-transformed differences over a `w` x `h` block (`w`, `h` in
/// [`BLOCK_SIDES`]), as HM's `xCalcHADs8x8` / `xCalcHADs4x4`: the block is tiled into 8x8
/// Hadamards when `w` and `h` are multiples of 8, else 4x4 ones, and each tile's sum of
/// magnitudes is normalised on its own, `(sum + 2) >> 2` for 8x8 and `(sum + 1) >> 1` for 4x4.
pub fn satd(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
    cpu: CpuLevel,
) -> u32 {
    check_blocks(a, a_stride, b, b_stride, w, h);
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            // `check_blocks` has confirmed the shape and that both blocks lie in their slices.
            unsafe { avx2::satd(a, a_stride, b, b_stride, w, h) }
        }
        _ => scalar::satd(a, a_stride, b, b_stride, w, h),
    }
}

/// Side of the Hadamard tiles [`satd`] uses for a `w` x `h` block.
fn hadamard_tile(w: usize, h: usize) -> usize {
    if w.is_multiple_of(8) && h.is_multiple_of(8) {
        8
    } else {
        4
    }
}

/// Panics unless both blocks have a supported shape and lie inside their slices. The AVX2
/// kernels' unchecked loads rely on it: the extent is computed without wrapping, so a huge
/// stride cannot pass.
fn check_blocks(a: &[u16], a_stride: usize, b: &[u16], b_stride: usize, w: usize, h: usize) {
    assert!(
        BLOCK_SIDES.contains(&w) && BLOCK_SIDES.contains(&h),
        "block {w}x{h} unsupported"
    );
    for (len, stride) in [(a.len(), a_stride), (b.len(), b_stride)] {
        assert!(stride >= w, "stride {stride} shorter than block width {w}");
        let extent = (h - 1).checked_mul(stride).and_then(|e| e.checked_add(w));
        assert!(
            extent.is_some_and(|extent| extent <= len),
            "{w}x{h} block with stride {stride} exceeds its {len}-sample slice"
        );
    }
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

    /// A pair of blocks in buffers with strides wider than the block (and different from each
    /// other). The padding differs between the two (0 in `a`, `max` in `b`), so a kernel that
    /// read it would disagree with scalar, and each slice ends with its block's last sample, so
    /// reading past it would panic (the AVX2 loads, unchecked in release builds, assert in
    /// debug builds that they stay inside their block).
    struct Blocks {
        a: Vec<u16>,
        a_stride: usize,
        b: Vec<u16>,
        b_stride: usize,
    }

    impl Blocks {
        /// `sample(x, y, is_a)` gives the blocks' samples, of at most `max`.
        fn new(
            w: usize,
            h: usize,
            max: u16,
            mut sample: impl FnMut(usize, usize, bool) -> u16,
        ) -> Blocks {
            let mut make = |is_a: bool| -> (Vec<u16>, usize) {
                let (stride, padding) = if is_a { (w + 3, 0) } else { (w + 8, max) };
                let len = (h - 1) * stride + w;
                let samples = (0..len)
                    .map(|i| {
                        if i % stride < w {
                            sample(i % stride, i / stride, is_a)
                        } else {
                            padding
                        }
                    })
                    .collect();
                (samples, stride)
            };
            let (a, a_stride) = make(true);
            let (b, b_stride) = make(false);
            Blocks {
                a,
                a_stride,
                b,
                b_stride,
            }
        }
    }

    /// Every block shape the measures accept.
    fn shapes() -> impl Iterator<Item = (usize, usize)> {
        BLOCK_SIDES
            .into_iter()
            .flat_map(|w| BLOCK_SIDES.into_iter().map(move |h| (w, h)))
    }

    /// Checks SAD, SSE and SATD at every level against scalar.
    fn assert_levels_agree(blocks: &Blocks, w: usize, h: usize, what: &str) {
        let Blocks {
            a,
            a_stride,
            b,
            b_stride,
        } = blocks;
        let (a_stride, b_stride) = (*a_stride, *b_stride);
        let sse_ref = scalar::sse(a, a_stride, b, b_stride, w, h);
        let satd_ref = scalar::satd(a, a_stride, b, b_stride, w, h);
        let sad_ref = scalar::sad(a, a_stride, b, b_stride, w, h);
        for cpu in CpuLevel::all_supported() {
            assert_eq!(
                sad(a, a_stride, b, b_stride, w, h, cpu),
                sad_ref,
                "sad {w}x{h} at {cpu:?}: {what}"
            );
            assert_eq!(
                sse(a, a_stride, b, b_stride, w, h, cpu),
                sse_ref,
                "sse {w}x{h} at {cpu:?}: {what}"
            );
            assert_eq!(
                satd(a, a_stride, b, b_stride, w, h, cpu),
                satd_ref,
                "satd {w}x{h} at {cpu:?}: {what}"
            );
        }
    }

    #[test]
    fn block_measures_match_scalar_on_random_blocks() {
        let mut rng = SmallRng::seed_from_u64(1);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (w, h) in shapes() {
                for trial in 0..20 {
                    let blocks = Blocks::new(w, h, max, |_, _, _| rng.gen_range(0..=max));
                    assert_levels_agree(&blocks, w, h, &format!("{bit_depth}-bit trial {trial}"));
                }
            }
        }
    }

    /// Samples 0 or the maximum at random: differences of full magnitude and random sign.
    #[test]
    fn block_measures_match_scalar_on_random_extreme_blocks() {
        let mut rng = SmallRng::seed_from_u64(2);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (w, h) in shapes() {
                for trial in 0..10 {
                    let blocks = Blocks::new(w, h, max, |_, _, _| if rng.gen() { max } else { 0 });
                    let what = format!("{bit_depth}-bit extremes, trial {trial}");
                    assert_levels_agree(&blocks, w, h, &what);
                }
            }
        }
    }

    #[test]
    fn block_measures_match_scalar_on_extreme_blocks() {
        /// `(x, y, is_a, max)` to a sample.
        type Pattern = fn(usize, usize, bool, u16) -> u16;
        let patterns: [(&str, Pattern); 8] = [
            ("0 vs max", |_, _, is_a, max| if is_a { 0 } else { max }),
            ("max vs 0", |_, _, is_a, max| if is_a { max } else { 0 }),
            ("max vs max", |_, _, _, max| max),
            ("equal", |x, y, _, max| ((x * 7 + y * 13) as u16) & max),
            ("checkerboard vs flat", |x, y, is_a, max| {
                if is_a && (x + y) % 2 == 0 {
                    max
                } else {
                    0
                }
            }),
            ("opposite checkerboards", |x, y, is_a, max| {
                if ((x + y) % 2 == 0) == is_a {
                    max
                } else {
                    0
                }
            }),
            ("row stripes vs column stripes", |x, y, is_a, max| {
                if (if is_a { y } else { x }) % 2 == 0 {
                    max
                } else {
                    0
                }
            }),
            ("opposite column stripes", |x, _, is_a, max| {
                if (x % 2 == 0) == is_a {
                    max
                } else {
                    0
                }
            }),
        ];
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (w, h) in shapes() {
                for (what, pattern) in patterns {
                    let blocks = Blocks::new(w, h, max, |x, y, is_a| pattern(x, y, is_a, max));
                    assert_levels_agree(&blocks, w, h, &format!("{bit_depth}-bit {what}"));
                }
            }
        }
    }

    /// Differences of full magnitude with the signs of a Walsh-Hadamard basis function put a
    /// whole tile's energy into one coefficient: the largest values each butterfly stage can
    /// reach, for every pair of row and column frequencies of both tile sizes.
    #[test]
    fn satd_matches_scalar_on_hadamard_basis_functions() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (w, h) in shapes() {
                for (u, v) in (0..8).flat_map(|u| (0..8).map(move |v| (u, v))) {
                    for negate in [false, true] {
                        let positive = |x: usize, y: usize| {
                            ((x & u).count_ones() + (y & v).count_ones()).is_multiple_of(2)
                        };
                        let blocks = Blocks::new(w, h, max, |x, y, is_a| {
                            if (positive(x, y) != negate) == is_a {
                                max
                            } else {
                                0
                            }
                        });
                        let what = format!("{bit_depth}-bit basis ({u}, {v}), negated {negate}");
                        assert_levels_agree(&blocks, w, h, &what);
                    }
                }
            }
        }
    }

    #[test]
    fn sad_known_value() {
        for cpu in CpuLevel::all_supported() {
            let a = [10u16; 64];
            let b = [250u16; 64];
            assert_eq!(sad(&a, 8, &b, 8, 8, 8, cpu), 64 * 240, "{cpu:?}");
            let mut c = [10u16; 64];
            c[9] = 0;
            c[63] = 30;
            assert_eq!(sad(&a, 8, &c, 8, 8, 8, cpu), 30, "{cpu:?}");
            // 10-bit: a full-range difference over the largest block.
            let (zero, max) = (vec![0u16; 64 * 64], vec![1023u16; 64 * 64]);
            assert_eq!(
                sad(&zero, 64, &max, 64, 64, 64, cpu),
                64 * 64 * 1023,
                "{cpu:?}"
            );
        }
    }

    #[test]
    fn known_values() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            let m = u32::from(max);
            let flat = |w, h| Blocks::new(w, h, max, |_, _, is_a| if is_a { max } else { 0 });
            for cpu in CpuLevel::all_supported() {
                let at = format!("{bit_depth}-bit at {cpu:?}");
                // A flat difference of max over 8x8: SSE 64 * max^2; the Hadamard puts 64 * max
                // in DC alone, so SATD = (64 * max + 2) >> 2 (4080 at 8 bits). As 4x4 tiles
                // (4x8): 2 * ((16 * max + 1) >> 1).
                let blocks = flat(8, 8);
                let (a, sa, b, sb) = (&blocks.a, blocks.a_stride, &blocks.b, blocks.b_stride);
                assert_eq!(
                    sse(a, sa, b, sb, 8, 8, cpu),
                    64 * u64::from(m).pow(2),
                    "{at}"
                );
                assert_eq!(satd(a, sa, b, sb, 8, 8, cpu), (64 * m + 2) >> 2, "{at}");
                if bit_depth == 8 {
                    assert_eq!(satd(a, sa, b, sb, 8, 8, cpu), 4080, "{at}");
                }
                let blocks = flat(4, 8);
                let (a, sa, b, sb) = (&blocks.a, blocks.a_stride, &blocks.b, blocks.b_stride);
                assert_eq!(
                    satd(a, sa, b, sb, 4, 8, cpu),
                    2 * ((16 * m + 1) >> 1),
                    "{at}"
                );
                // The largest block: at 10 bits its SSE, 4096 * 1023^2, is beyond i32.
                let blocks = flat(64, 64);
                let (a, sa, b, sb) = (&blocks.a, blocks.a_stride, &blocks.b, blocks.b_stride);
                let sse_64 = 64 * 64 * u64::from(m).pow(2);
                assert_eq!(sse(a, sa, b, sb, 64, 64, cpu), sse_64, "{at}");
                assert_eq!(sad(a, sa, b, sb, 64, 64, cpu), 64 * 64 * m, "{at}");
                assert_eq!(
                    satd(a, sa, b, sb, 64, 64, cpu),
                    64 * ((64 * m + 2) >> 2),
                    "{at}"
                );
                // A single +1 difference spreads to 16 coefficients of magnitude 1: (16 + 1) >> 1.
                let blocks =
                    Blocks::new(4, 4, max, |x, y, is_a| u16::from(is_a && x == 1 && y == 2));
                let (a, sa, b, sb) = (&blocks.a, blocks.a_stride, &blocks.b, blocks.b_stride);
                assert_eq!(satd(a, sa, b, sb, 4, 4, cpu), 8, "{at}");
            }
        }
        assert!(64 * 64 * 1023u64.pow(2) > i32::MAX as u64);
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn short_slice_is_rejected() {
        sse(&[0; 63], 8, &[0; 64], 8, 8, 8, CpuLevel::Scalar);
    }

    /// A stride whose extent, `(h - 1) * stride + w`, wraps to a small number: rejected rather
    /// than let through to the unchecked loads.
    #[test]
    #[should_panic(expected = "exceeds")]
    fn wrapping_stride_is_rejected() {
        let stride = usize::MAX / 63 + 1;
        let cpu = CpuLevel::all_supported().into_iter().max().unwrap();
        sse(&[0; 4096], 64, &[0; 4096], stride, 64, 64, cpu);
    }
}
