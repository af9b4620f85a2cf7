//! Distortion measures for the encoder's mode decision between an original and a
//! prediction or reconstruction: sum of squared errors, Hadamard SATD as in HM, and the
//! energy of residuals or coefficients.
//!
//! Each has a scalar reference (`scalar`) and, on x86-64, an AVX2 version (`avx2`) that
//! returns the same value; [`CpuLevel`](crate::cpu::CpuLevel) picks one per call.

use crate::cpu::CpuLevel;

// AVX2 16-bit port pending: any() keeps it out of the build until then.
#[cfg(all(target_arch = "x86_64", any()))]
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
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::sad(a, a_stride, b, b_stride, w, h) }
        }
        _ => scalar::sad(a, a_stride, b, b_stride, w, h),
    }
}

/// Sum of squared differences over a `w` x `h` block of 8-bit samples (`w`, `h` in
/// [`BLOCK_SIDES`]); row `y` of each block starts at `y * stride`.
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
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
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
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
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

/// Panics unless both blocks have a supported shape and lie inside their slices.
fn check_blocks(a: &[u16], a_stride: usize, b: &[u16], b_stride: usize, w: usize, h: usize) {
    assert!(
        BLOCK_SIDES.contains(&w) && BLOCK_SIDES.contains(&h),
        "block {w}x{h} unsupported"
    );
    for (len, stride) in [(a.len(), a_stride), (b.len(), b_stride)] {
        assert!(stride >= w, "stride {stride} shorter than block width {w}");
        assert!(
            len >= (h - 1) * stride + w,
            "{w}x{h} block with stride {stride} exceeds its {len}-sample slice"
        );
    }
}

// 16-bit port pending (with the AVX2 kernels): any() keeps these out of the build.
#[cfg(all(test, any()))]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A pair of blocks in buffers with a stride wider than the block. The padding differs
    /// between the two, so a kernel that read it would disagree with scalar, and each slice
    /// ends with its block's last sample, so reading past it would panic.
    struct Blocks {
        a: Vec<u8>,
        b: Vec<u8>,
        stride: usize,
    }

    impl Blocks {
        /// `sample(x, y, is_a)` gives the blocks' samples.
        fn new(w: usize, h: usize, mut sample: impl FnMut(usize, usize, bool) -> u8) -> Blocks {
            let stride = w + 3;
            let len = (h - 1) * stride + w;
            let mut make = |is_a: bool| -> Vec<u8> {
                let padding = if is_a { 0 } else { 255 };
                (0..len)
                    .map(|i| {
                        if i % stride < w {
                            sample(i % stride, i / stride, is_a)
                        } else {
                            padding
                        }
                    })
                    .collect()
            };
            let a = make(true);
            let b = make(false);
            Blocks { a, b, stride }
        }
    }

    fn shapes() -> impl Iterator<Item = (usize, usize)> {
        BLOCK_SIDES
            .into_iter()
            .flat_map(|w| BLOCK_SIDES.into_iter().map(move |h| (w, h)))
    }

    /// Checks SSE and SATD at every level against scalar.
    fn assert_levels_agree(blocks: &Blocks, w: usize, h: usize, what: &str) {
        let Blocks { a, b, stride } = blocks;
        let sse_ref = scalar::sse(a, *stride, b, *stride, w, h);
        let satd_ref = scalar::satd(a, *stride, b, *stride, w, h);
        let sad_ref = scalar::sad(a, *stride, b, *stride, w, h);
        for cpu in CpuLevel::all_supported() {
            assert_eq!(
                sad(a, *stride, b, *stride, w, h, cpu),
                sad_ref,
                "sad {w}x{h} at {cpu:?}: {what}"
            );
            assert_eq!(
                sse(a, *stride, b, *stride, w, h, cpu),
                sse_ref,
                "sse {w}x{h} at {cpu:?}: {what}"
            );
            assert_eq!(
                satd(a, *stride, b, *stride, w, h, cpu),
                satd_ref,
                "satd {w}x{h} at {cpu:?}: {what}"
            );
        }
    }

    #[test]
    fn block_measures_match_scalar_on_random_blocks() {
        let mut rng = SmallRng::seed_from_u64(1);
        for (w, h) in shapes() {
            for trial in 0..20 {
                let blocks = Blocks::new(w, h, |_, _, _| rng.gen());
                assert_levels_agree(&blocks, w, h, &format!("trial {trial}"));
            }
        }
    }

    #[test]
    fn block_measures_match_scalar_on_extreme_blocks() {
        type Pattern = fn(usize, usize, bool) -> u8;
        let patterns: [(&str, Pattern); 6] = [
            ("0 vs 255", |_, _, is_a| if is_a { 0 } else { 255 }),
            ("255 vs 0", |_, _, is_a| if is_a { 255 } else { 0 }),
            ("equal", |x, y, _| (x * 7 + y * 13) as u8),
            ("checkerboard vs flat", |x, y, is_a| {
                if is_a && (x + y) % 2 == 0 {
                    255
                } else {
                    0
                }
            }),
            ("opposite checkerboards", |x, y, is_a| {
                if ((x + y) % 2 == 0) == is_a {
                    255
                } else {
                    0
                }
            }),
            ("row stripes vs column stripes", |x, y, is_a| {
                if (if is_a { y } else { x }) % 2 == 0 {
                    255
                } else {
                    0
                }
            }),
        ];
        for (w, h) in shapes() {
            for (what, pattern) in patterns {
                assert_levels_agree(&Blocks::new(w, h, pattern), w, h, what);
            }
        }
    }

    #[test]
    fn sad_known_value() {
        let a = [10u8; 64];
        let b = [250u8; 64];
        assert_eq!(sad(&a, 8, &b, 8, 8, 8, CpuLevel::Scalar), 64 * 240);
        let mut c = [10u8; 64];
        c[9] = 0;
        c[63] = 30;
        assert_eq!(sad(&a, 8, &c, 8, 8, 8, CpuLevel::Scalar), 30);
    }

    #[test]
    fn known_values() {
        // A flat difference of 255 over 8x8: SSE 64 * 255^2; the Hadamard puts 64 * 255 in
        // DC alone, so SATD = (64 * 255 + 2) >> 2 = 4080. As 4x4 tiles (4x8): 2 * 16 * 255 / 2.
        let blocks = Blocks::new(8, 8, |_, _, is_a| if is_a { 255 } else { 0 });
        assert_eq!(
            scalar::sse(&blocks.a, blocks.stride, &blocks.b, blocks.stride, 8, 8),
            64 * 255 * 255
        );
        assert_eq!(
            scalar::satd(&blocks.a, blocks.stride, &blocks.b, blocks.stride, 8, 8),
            4080
        );
        let blocks = Blocks::new(4, 8, |_, _, is_a| if is_a { 255 } else { 0 });
        assert_eq!(
            scalar::satd(&blocks.a, blocks.stride, &blocks.b, blocks.stride, 4, 8),
            2 * 2040
        );
        // A single +1 difference spreads to 16 coefficients of magnitude 1: (16 + 1) >> 1.
        let blocks = Blocks::new(4, 4, |x, y, is_a| u8::from(is_a && x == 1 && y == 2));
        assert_eq!(
            scalar::satd(&blocks.a, blocks.stride, &blocks.b, blocks.stride, 4, 4),
            8
        );
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn short_slice_is_rejected() {
        sse(&[0; 63], 8, &[0; 64], 8, 8, 8, CpuLevel::Scalar);
    }
}
