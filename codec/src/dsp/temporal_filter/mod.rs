//! Kernels of the encoder's motion-compensated temporal filter
//! (`encoder::temporal_filter`): block SSE for its motion search, at integer positions and
//! against quarter-sample predictions formed on the fly; the 2x2 averaging that builds its
//! luma pyramid; the rounded averages that form quarter-sample predictions from half-sample
//! planes; and the 6-tap passes that make those planes.
//!
//! Each has a scalar reference (`scalar`) and, on x86-64, an AVX2 version (`avx2`) that returns
//! the same samples for inputs of up to 10 bits; [`CpuLevel`] picks one per call. Blocks may
//! have any size from 1 up to [`MAX_SIDE`] a side (the filter's blocks are partial at picture
//! edges), and every entry point checks that its blocks lie inside their slices before the
//! SIMD code runs.

use crate::cpu::CpuLevel;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// The largest block side the kernels accept (the filter's search blocks are at most 32).
pub const MAX_SIDE: usize = 64;

/// Whether the AVX2 kernels may run: asked for and present on this CPU.
#[cfg(target_arch = "x86_64")]
#[inline]
fn use_avx2(cpu: CpuLevel) -> bool {
    cpu >= CpuLevel::Avx2 && std::arch::is_x86_feature_detected!("avx2")
}

/// Panics unless a `w` x `h` block with rows `stride` apart lies inside a slice of `len`.
fn check_block(len: usize, stride: usize, w: usize, h: usize) {
    assert!(
        (1..=MAX_SIDE).contains(&w) && (1..=MAX_SIDE).contains(&h),
        "block {w}x{h} unsupported (sides 1..={MAX_SIDE})"
    );
    assert!(stride >= w, "stride {stride} shorter than block width {w}");
    let extent = (h - 1).checked_mul(stride).and_then(|e| e.checked_add(w));
    assert!(
        extent.is_some_and(|e| e <= len),
        "{w}x{h} block with stride {stride} exceeds its {len}-sample slice"
    );
}

/// Rows between the early-exit checks of [`sse`].
pub const ROW_GROUP: usize = 4;

/// The half-sample interpolation filter (VVenC's 1/2 phase): taps for the samples 2 left of
/// the pair to 3 right of it, summing to 64.
pub const HALF_TAPS: [i32; 6] = [1, -7, 38, 38, -7, 1];

/// Sum of squared differences of two `w` x `h` blocks (sides 1..=[`MAX_SIDE`]): the motion
/// search's matching cost. After each group of [`ROW_GROUP`] rows it returns early if the sum
/// so far exceeds `bound` (the cost to beat), so the result is the exact SSE when that is at
/// most `bound` and otherwise a partial sum above `bound`, the same one at every level.
#[allow(clippy::too_many_arguments)]
pub fn sse(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
    bound: u64,
    cpu: CpuLevel,
) -> u64 {
    sse_predicted(a, a_stride, [b], b_stride, w, h, bound, cpu)
}

/// [`sse`] against a quarter-sample prediction formed on the fly from `N` blocks whose rows
/// are `stride` apart: with 2, their rounded-up mean `(p + q + 1) >> 1` (as [`average2`]);
/// with 4, their rounded mean `(a + b + c + d + 2) >> 2` (as [`average4`]); with 1, the block
/// itself. `N` must be 1, 2 or 4.
#[allow(clippy::too_many_arguments)]
pub fn sse_predicted<const N: usize>(
    a: &[u16],
    a_stride: usize,
    src: [&[u16]; N],
    stride: usize,
    w: usize,
    h: usize,
    bound: u64,
    cpu: CpuLevel,
) -> u64 {
    assert!(
        matches!(N, 1 | 2 | 4),
        "predictions from {N} blocks unsupported"
    );
    check_block(a.len(), a_stride, w, h);
    for s in src {
        check_block(s.len(), stride, w, h);
    }
    #[cfg(target_arch = "x86_64")]
    if use_avx2(cpu) {
        // SAFETY: `use_avx2` has just confirmed that this CPU supports AVX2; the blocks were
        // checked above (the kernel also slices every row with bounds checks).
        return unsafe { avx2::sse_predicted(a, a_stride, src, stride, w, h, bound) };
    }
    let _ = cpu;
    scalar::sse_predicted(a, a_stride, src, stride, w, h, bound)
}

/// `out[x] = sum_k HALF_TAPS[k] * src[k][x]` over `out`: one pass of the half-sample
/// filter, horizontal (`src[k]` the row from `k` on) or vertical (`src[k]` six rows).
/// Panics if a source is shorter than `out`.
pub fn fir6_u16(src: [&[u16]; 6], out: &mut [i32], cpu: CpuLevel) {
    assert!(
        src.iter().all(|s| s.len() >= out.len()),
        "fir6 source too short"
    );
    #[cfg(target_arch = "x86_64")]
    if use_avx2(cpu) {
        // SAFETY: `use_avx2` has just confirmed AVX2; the kernel slices with bounds checks.
        return unsafe { avx2::fir6_u16(src, out) };
    }
    let _ = cpu;
    scalar::fir6_u16(src, out)
}

/// [`fir6_u16`] on 32-bit sums: the second pass of the diagonal half-sample plane.
/// `|src|` must be at most `92 * 1023` (a first pass's output), so sums fit `i32`.
pub fn fir6_i32(src: [&[i32]; 6], out: &mut [i32], cpu: CpuLevel) {
    assert!(
        src.iter().all(|s| s.len() >= out.len()),
        "fir6 source too short"
    );
    #[cfg(target_arch = "x86_64")]
    if use_avx2(cpu) {
        // SAFETY: `use_avx2` has just confirmed AVX2; the kernel slices with bounds checks.
        return unsafe { avx2::fir6_i32(src, out) };
    }
    let _ = cpu;
    scalar::fir6_i32(src, out)
}

/// Writes into `dst` (`w` x `h`, rows `dst_stride` apart) the rounded mean
/// `(a + b + c + d + 2) >> 2` of each 2x2 square of `src` (`2w` x `2h`): one pyramid level.
/// Any size, including 0.
pub fn downscale_2x2(
    src: &[u16],
    src_stride: usize,
    dst: &mut [u16],
    dst_stride: usize,
    w: usize,
    h: usize,
    cpu: CpuLevel,
) {
    if w == 0 || h == 0 {
        return;
    }
    assert!(src_stride >= 2 * w && dst_stride >= w, "strides too short");
    let src_extent = (2 * h - 1) * src_stride + 2 * w;
    let dst_extent = (h - 1) * dst_stride + w;
    assert!(
        src_extent <= src.len() && dst_extent <= dst.len(),
        "downscale {w}x{h} exceeds its slices"
    );
    #[cfg(target_arch = "x86_64")]
    if use_avx2(cpu) {
        // SAFETY: `use_avx2` has just confirmed AVX2; the kernel slices every row with checks.
        return unsafe { avx2::downscale_2x2(src, src_stride, dst, dst_stride, w, h) };
    }
    let _ = cpu;
    scalar::downscale_2x2(src, src_stride, dst, dst_stride, w, h)
}

/// Writes into `dst` (tight, `w` x `h`) the mean `(p + q + 1) >> 1` of two blocks whose
/// rows are `stride` apart: a quarter-sample prediction between two half-sample ones.
pub fn average2(
    p: &[u16],
    q: &[u16],
    stride: usize,
    dst: &mut [u16],
    w: usize,
    h: usize,
    cpu: CpuLevel,
) {
    check_block(p.len(), stride, w, h);
    check_block(q.len(), stride, w, h);
    check_block(dst.len(), w, w, h);
    #[cfg(target_arch = "x86_64")]
    if use_avx2(cpu) {
        // SAFETY: `use_avx2` has just confirmed AVX2; the blocks were checked above.
        return unsafe { avx2::average2(p, q, stride, dst, w, h) };
    }
    let _ = cpu;
    scalar::average2(p, q, stride, dst, w, h)
}

/// Writes into `dst` (tight, `w` x `h`) the mean `(a + b + c + d + 2) >> 2` of four blocks
/// whose rows are `stride` apart: a diagonal quarter-sample prediction.
pub fn average4(
    src: [&[u16]; 4],
    stride: usize,
    dst: &mut [u16],
    w: usize,
    h: usize,
    cpu: CpuLevel,
) {
    for s in src {
        check_block(s.len(), stride, w, h);
    }
    check_block(dst.len(), w, w, h);
    #[cfg(target_arch = "x86_64")]
    if use_avx2(cpu) {
        // SAFETY: `use_avx2` has just confirmed AVX2; the blocks were checked above.
        return unsafe { avx2::average4(src, stride, dst, w, h) };
    }
    let _ = cpu;
    scalar::average4(src, stride, dst, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::BIT_DEPTHS;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Ways to fill the test buffers: random, all 0, all max, 0/max at random.
    const FILLS: [&str; 4] = ["random", "zero", "max", "extremes"];

    fn fill(rng: &mut SmallRng, len: usize, bit_depth: u32, how: &str) -> Vec<u16> {
        let max = ((1u32 << bit_depth) - 1) as u16;
        (0..len)
            .map(|_| match how {
                "random" => rng.gen_range(0..=max),
                "zero" => 0,
                "max" => max,
                _ => {
                    if rng.gen() {
                        max
                    } else {
                        0
                    }
                }
            })
            .collect()
    }

    /// Sides tried: odd, every tail path of the AVX2 loops, and the largest.
    const SIDES: [usize; 12] = [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 33, 64];

    #[test]
    fn kernels_match_scalar_at_every_level() {
        let mut rng = SmallRng::seed_from_u64(7);
        for bit_depth in BIT_DEPTHS {
            for how in FILLS {
                for w in SIDES {
                    for h in [1, 2, 5, 8, 17, 64] {
                        // Two fills, so "zero"/"max" against random extremes differ too.
                        let stride = w + 5;
                        let len = (h - 1) * stride + w;
                        let a = fill(&mut rng, len, bit_depth, how);
                        let b = fill(&mut rng, len, bit_depth, "extremes");
                        let c = fill(&mut rng, len, bit_depth, how);
                        let d = fill(&mut rng, len, bit_depth, "random");
                        let full = scalar::sse_predicted(&a, stride, [&b], stride, w, h, u64::MAX);
                        // Bounds that stop early at different rows, and none.
                        let bounds = [0, full / 3, full / 2, u64::MAX];
                        let sse_ref = bounds.map(|bound| {
                            scalar::sse_predicted(&a, stride, [&b], stride, w, h, bound)
                        });
                        let sse2_ref = bounds.map(|bound| {
                            scalar::sse_predicted(&a, stride, [&b, &c], stride, w, h, bound)
                        });
                        let sse4_ref = bounds.map(|bound| {
                            scalar::sse_predicted(&d, stride, [&a, &b, &c, &d], stride, w, h, bound)
                        });
                        // The 6-tap passes over rows of `w` outputs.
                        let row = fill(&mut rng, w + 5, bit_depth, how);
                        let taps_u16 = [0, 1, 2, 3, 4, 5].map(|k| &row[k..k + w]);
                        let mut fir_u16_ref = vec![0; w];
                        scalar::fir6_u16(taps_u16, &mut fir_u16_ref);
                        let wide: Vec<i32> = (0..len + 5)
                            .map(|_| rng.gen_range(-92 * 1023..=92 * 1023))
                            .collect();
                        let taps_i32 = [0, 1, 2, 3, 4, 5].map(|k| &wide[k..k + w]);
                        let mut fir_i32_ref = vec![0; w];
                        scalar::fir6_i32(taps_i32, &mut fir_i32_ref);
                        let mut avg2_ref = vec![0; w * h];
                        scalar::average2(&a, &b, stride, &mut avg2_ref, w, h);
                        let mut avg4_ref = vec![0; w * h];
                        scalar::average4([&a, &b, &c, &d], stride, &mut avg4_ref, w, h);
                        // Downscale: source 2w x 2h.
                        let src_stride = 2 * w + 3;
                        let src = fill(&mut rng, (2 * h - 1) * src_stride + 2 * w, bit_depth, how);
                        let mut down_ref = vec![0; w * h];
                        scalar::downscale_2x2(&src, src_stride, &mut down_ref, w, w, h);
                        for cpu in CpuLevel::all_supported() {
                            let at = format!("{w}x{h} {bit_depth}-bit {how} at {cpu:?}");
                            let got =
                                bounds.map(|bound| sse(&a, stride, &b, stride, w, h, bound, cpu));
                            assert_eq!(got, sse_ref, "sse {at}");
                            let got = bounds.map(|bound| {
                                sse_predicted(&a, stride, [&b, &c], stride, w, h, bound, cpu)
                            });
                            assert_eq!(got, sse2_ref, "sse of average2 {at}");
                            let got = bounds.map(|bound| {
                                sse_predicted(
                                    &d,
                                    stride,
                                    [&a, &b, &c, &d],
                                    stride,
                                    w,
                                    h,
                                    bound,
                                    cpu,
                                )
                            });
                            assert_eq!(got, sse4_ref, "sse of average4 {at}");
                            let mut fir = vec![0; w];
                            fir6_u16(taps_u16, &mut fir, cpu);
                            assert_eq!(fir, fir_u16_ref, "fir6_u16 {at}");
                            fir6_i32(taps_i32, &mut fir, cpu);
                            assert_eq!(fir, fir_i32_ref, "fir6_i32 {at}");
                            let mut out = vec![0; w * h];
                            average2(&a, &b, stride, &mut out, w, h, cpu);
                            assert_eq!(out, avg2_ref, "average2 {at}");
                            average4([&a, &b, &c, &d], stride, &mut out, w, h, cpu);
                            assert_eq!(out, avg4_ref, "average4 {at}");
                            downscale_2x2(&src, src_stride, &mut out, w, w, h, cpu);
                            assert_eq!(out, down_ref, "downscale {at}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn known_values() {
        for cpu in CpuLevel::all_supported() {
            // A full-range 10-bit difference over the largest block.
            let (zero, max) = (vec![0u16; 64 * 64], vec![1023u16; 64 * 64]);
            assert_eq!(
                sse(&zero, 64, &max, 64, 64, 64, u64::MAX, cpu),
                64 * 64 * 1023 * 1023
            );
            let src = [1u16, 2, 3, 4, 5, 6, 7, 9];
            let mut out = [0u16; 2];
            downscale_2x2(&src, 4, &mut out, 2, 2, 1, cpu);
            // (1 + 2 + 5 + 6 + 2) >> 2 = 4, (3 + 4 + 7 + 9 + 2) >> 2 = 6.
            assert_eq!(out, [4, 6], "{cpu:?}");
            // Early exit: 8 rows of 8 differences of 1; past 10 the first group (32) stops it.
            let (zeros, ones) = ([0u16; 64], [1u16; 64]);
            assert_eq!(sse(&zeros, 8, &ones, 8, 8, 8, 10, cpu), 32, "{cpu:?}");
            assert_eq!(sse(&zeros, 8, &ones, 8, 8, 8, 64, cpu), 64, "{cpu:?}");
            let mut fir = [0i32; 1];
            fir6_u16([&[1], &[1], &[1], &[1], &[1], &[1]], &mut fir, cpu);
            assert_eq!(fir, [64], "{cpu:?}");
            let mut one = [0u16; 1];
            average2(&[1], &[2], 1, &mut one, 1, 1, cpu);
            assert_eq!(one, [2], "{cpu:?}");
            average4([&[1], &[2], &[2], &[2]], 1, &mut one, 1, 1, cpu);
            assert_eq!(one, [2], "{cpu:?}");
        }
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn short_slice_is_rejected() {
        sse(&[0; 63], 8, &[0; 64], 8, 8, 8, u64::MAX, CpuLevel::detect());
    }
}
