//! Kernels of decoder-side motion vector refinement (`docs/bitstream.md` 5.4): the bilinear
//! search prediction and the 25 sums of absolute differences of the integer search.
//!
//! [`bilinear`] predicts a block at a quarter-sample fraction with the weights
//! `(4 - fx)(4 - fy)`, `fx (4 - fy)`, `(4 - fx) fy` and `fx fy` on the four integer samples
//! around each position. The weights add up to 16 and nothing is rounded, so the output is
//! exactly 16 times the bilinear value: at most `16 * 1023 = 16368` for 10-bit samples, which
//! also bounds every difference of two outputs in magnitude and lets the SIMD kernels
//! subtract in 16 bits.
//!
//! [`sad_grid`] compares two such predictions, each `(w + 4) x (h + 4)` with the block at
//! (2, 2), at the 25 mirrored offsets (dx, dy) in -2..=2: list 0 read at (+dx, +dy), list 1
//! at (-dx, -dy), over the block's even rows only. A sum is at most
//! `16368 * 16 * 8 < 2^22` for the largest block (16 x 16), so u32 holds it.
//!
//! `scalar` is the readable reference; `avx2` must match it exactly.

use crate::cpu::CpuLevel;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Sub-block sides the refinement works on.
pub const SIDES: [usize; 2] = [8, 16];

/// Margin of the search prediction around the block on every side: the largest integer
/// offset.
pub const MARGIN: usize = 2;

/// Number of integer offsets searched (5 x 5).
pub const GRID: usize = 25;

/// Bilinear prediction of a `w` x `h` block at quarter-sample fraction (`fx`, `fy`), 0..=3
/// each, from `src` (row stride `src_stride`) whose integer sample at `origin` is co-located
/// with the block's top-left output; reads columns and rows 0..=w and 0..=h from there.
/// Output `dst[y * w + x]`, 16 times the bilinear value (see the module docs).
///
/// Panics if `w` or `h` is 0 or above 20, a fraction is above 3, `src` does not cover the
/// footprint, or `dst` holds fewer than `w * h` samples.
#[allow(clippy::too_many_arguments)]
pub fn bilinear(
    src: &[u16],
    src_stride: usize,
    origin: usize,
    w: usize,
    h: usize,
    fx: u8,
    fy: u8,
    dst: &mut [u16],
    cpu: CpuLevel,
) {
    assert!(
        (1..=20).contains(&w) && (1..=20).contains(&h),
        "search predictions are 1..=20 samples wide and high, got {w}x{h}"
    );
    assert!(fx < 4 && fy < 4, "fractions are 0..=3, got ({fx}, {fy})");
    assert!(
        w <= src_stride && origin + h * src_stride + w < src.len(),
        "source does not cover a {w}x{h} bilinear footprint at {origin}"
    );
    assert!(dst.len() >= w * h, "destination holds fewer than {w}x{h}");
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernel's only requirement; the asserts above bound every access it makes.
            unsafe { avx2::bilinear(src, src_stride, origin, w, h, fx, fy, dst) }
        }
        _ => scalar::bilinear(src, src_stride, origin, w, h, fx, fy, dst),
    }
}

/// The 25 sums of absolute differences of the integer search: `costs[(dy + 2) * 5 + dx + 2]`
/// compares `p0` at (dx, dy) with `p1` at (-dx, -dy) over the even rows of a `w` x `h` block;
/// `p0` and `p1` are `(w + 4) x (h + 4)` with row stride `w + 4` and the block at (2, 2).
///
/// Panics if `w` or `h` is not 8 or 16 or a prediction holds fewer than `(w + 4) * (h + 4)`
/// samples.
pub fn sad_grid(p0: &[u16], p1: &[u16], w: usize, h: usize, cpu: CpuLevel) -> [u32; GRID] {
    assert!(
        SIDES.contains(&w) && SIDES.contains(&h),
        "refined sub-blocks are 8 or 16 samples wide and high, got {w}x{h}"
    );
    let n = (w + 2 * MARGIN) * (h + 2 * MARGIN);
    assert!(
        p0.len() >= n && p1.len() >= n,
        "search predictions hold fewer than {n} samples"
    );
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernel's only requirement; the asserts above bound every access it makes.
            unsafe { avx2::sad_grid(p0, p1, w, h) }
        }
        _ => scalar::sad_grid(p0, p1, w, h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Bilinear prediction straight from the definition, for one sample.
    fn bilinear_at(src: &[u16], stride: usize, at: usize, fx: u32, fy: u32) -> u16 {
        let s = |i: usize| u32::from(src[i]);
        let v = (4 - fx) * (4 - fy) * s(at)
            + fx * (4 - fy) * s(at + 1)
            + (4 - fx) * fy * s(at + stride)
            + fx * fy * s(at + stride + 1);
        v as u16
    }

    #[test]
    fn bilinear_matches_definition_at_every_level() {
        let mut rng = SmallRng::seed_from_u64(29);
        for bd in [8u32, 10] {
            let stride = 40;
            let src: Vec<u16> = (0..stride * 40)
                .map(|_| rng.gen_range(0..1u32 << bd) as u16)
                .collect();
            for cpu in CpuLevel::all_supported() {
                for (w, h) in [(12, 12), (20, 20), (12, 20), (20, 12), (1, 1), (7, 3)] {
                    for fx in 0..4u8 {
                        for fy in 0..4u8 {
                            let origin = rng.gen_range(0..10) * stride + rng.gen_range(0..10);
                            let mut out = vec![0u16; w * h];
                            bilinear(&src, stride, origin, w, h, fx, fy, &mut out, cpu);
                            for y in 0..h {
                                for x in 0..w {
                                    let want = bilinear_at(
                                        &src,
                                        stride,
                                        origin + y * stride + x,
                                        fx.into(),
                                        fy.into(),
                                    );
                                    assert_eq!(
                                        out[y * w + x],
                                        want,
                                        "{cpu:?} {bd} bits {w}x{h} ({fx},{fy}) at ({x},{y})"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sad_grid_matches_definition_at_every_level() {
        let mut rng = SmallRng::seed_from_u64(30);
        for (w, h) in [(8, 8), (8, 16), (16, 8), (16, 16)] {
            let s = w + 4;
            for round in 0..20 {
                // Extremes too: differences of 16368 in every position.
                let gen = |rng: &mut SmallRng| -> Vec<u16> {
                    (0..s * (h + 4))
                        .map(|_| match round % 3 {
                            0 => rng.gen_range(0..=16368),
                            1 => [0, 16368][rng.gen_range(0..2)],
                            _ => 16368,
                        })
                        .collect()
                };
                let p0 = gen(&mut rng);
                let p1 = if round % 3 == 2 {
                    vec![0; s * (h + 4)]
                } else {
                    gen(&mut rng)
                };
                let mut want = [0u32; GRID];
                for dy in -2isize..=2 {
                    for dx in -2isize..=2 {
                        let mut sum = 0u32;
                        for y in (0..h as isize).step_by(2) {
                            for x in 0..w as isize {
                                let a = p0[((y + 2 + dy) as usize) * s + (x + 2 + dx) as usize];
                                let b = p1[((y + 2 - dy) as usize) * s + (x + 2 - dx) as usize];
                                sum += u32::from(a.abs_diff(b));
                            }
                        }
                        want[((dy + 2) * 5 + dx + 2) as usize] = sum;
                    }
                }
                for cpu in CpuLevel::all_supported() {
                    assert_eq!(sad_grid(&p0, &p1, w, h, cpu), want, "{cpu:?} {w}x{h}");
                }
            }
        }
    }
}
