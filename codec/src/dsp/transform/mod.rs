//! HEVC/VVC-style integer 2-D transforms for 8- and 10-bit video on `W x H` blocks, each side
//! 4, 8, 16 or 32 samples (every combination, so ratios up to 8:1): DCT-II at every size and
//! DST-VII at 4, 8 and 16 points, chosen per direction.
//!
//! Both directions are two separable 1-D passes, vertical (`H`-point) first, with HEVC's (and
//! VVC's) rounding shifts for bit depth B and each pass's result clamped to `i16`:
//!
//! | direction | pass 1 (vertical)   | pass 2 (horizontal) |
//! |-----------|---------------------|---------------------|
//! | forward   | `log2h + B - 9`     | `log2w + 6`         |
//! | inverse   | `7`                 | `20 - B`            |
//!
//! So coefficients have the same scale at every bit depth (a 10-bit residual 4 times an
//! 8-bit one gives the same coefficients), and the quantiser's QP offset of 6 per extra
//! bit accounts for the rest. Each `N`-point matrix is about `64 * sqrt(N)` times the
//! orthonormal one, so the forward transform's gain over an orthonormal 2-D transform is
//! `2^(15 - B - (log2w + log2h) / 2)`: for blocks with `log2w + log2h` odd the exponent is
//! a half-integer, and the quantiser (`transform/quant.rs`) supplies the remaining factor
//! `sqrt(2)`, as VVC's does. The inverse's gain is exactly the reciprocal.
//!
//! Bounds. Every basis row `c[k]` of an `N`-point matrix has `sum_n |c[k][n]| <= 64 * N`
//! (the flat DCT row reaches it; DST rows stay below, see the tests). So for residuals within `[-(2^B - 1), 2^B - 1]` the
//! forward pass 1 result is at most `(2^B - 1) * 64 * H / 2^(log2h + B - 9) < 2^15` and pass
//! 2 at most its own input bound again, whatever the shape: the forward clamps never engage.
//! The inverse clamps (as HEVC's) bound any `i16` input. Sums are kept in `i32`, which cannot
//! overflow for any `i16` input: at most 32 products of magnitude `32768 * 90`, plus the
//! rounding term, stay below `32 * 32768 * 90 < 2^27`.
//!
//! Forward: `X[k] = sum_n c[k][n] * x[n]`; inverse: `x[n] = sum_k c[k][n] * X[k]`.
//!
//! Every kernel exists as a scalar reference (`scalar`) and, on x86-64, an AVX2 version
//! (`avx2`) that gives bit-identical results; [`CpuLevel`](crate::cpu::CpuLevel) picks one
//! per call.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Which transform basis one direction of a block uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// HEVC's integer DCT-II, any size.
    Dct2,
    /// VVC's integer DST-VII (HEVC's at 4 points); valid for sides of 4, 8 and 16 samples.
    Dst7,
}

/// Largest transform side, in samples.
const MAX_SIZE: usize = 32;

/// Forward 2-D transform of a `w x h` residual block (`w = 1 << log2w` columns, `h = 1 <<
/// log2h` rows, each log2 in 2..=5); `kind_h` transforms the rows (horizontal direction),
/// `kind_v` the columns.
///
/// `residual`: w*h row-major, values in [-(2^B - 1), 2^B - 1] for B-bit video (any `i16`
/// gives the same result at every level). `coeffs`: w*h row-major output (row = vertical
/// frequency, column = horizontal frequency).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    kind_h: TxKind,
    kind_v: TxKind,
    log2w: u32,
    log2h: u32,
    residual: &[i16],
    coeffs: &mut [i16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let (w, h) = check_shape(kind_h, kind_v, log2w, log2h);
    assert_eq!(residual.len(), w * h, "residual must hold w*h samples");
    assert_eq!(coeffs.len(), w * h, "coeffs must hold w*h values");
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::forward(kind_h, kind_v, log2w, log2h, residual, coeffs, bit_depth) }
        }
        _ => scalar::forward(kind_h, kind_v, log2w, log2h, residual, coeffs, bit_depth),
    }
}

/// Inverse 2-D transform of a `w x h` coefficient block (see [`forward`] for the layout).
///
/// `coeffs`: w*h row-major; only its top-left `nz_w` x `nz_h` region (columns x rows, in
/// 1..=w and 1..=h) may be non-zero: the region is a speed hint, and the result equals that
/// of `(w, h)`. Pass `(w, h)` when it is unknown. `residual`: w*h row-major output.
#[allow(clippy::too_many_arguments)]
pub fn inverse(
    kind_h: TxKind,
    kind_v: TxKind,
    log2w: u32,
    log2h: u32,
    coeffs: &[i16],
    nz_w: usize,
    nz_h: usize,
    residual: &mut [i16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let (w, h) = check_shape(kind_h, kind_v, log2w, log2h);
    assert_eq!(coeffs.len(), w * h, "coeffs must hold w*h values");
    assert_eq!(residual.len(), w * h, "residual must hold w*h samples");
    assert!(
        (1..=w).contains(&nz_w) && (1..=h).contains(&nz_h),
        "non-zero region must lie in 1..=w x 1..=h"
    );
    debug_assert!(
        coeffs.chunks_exact(w).enumerate().all(|(row, values)| {
            values
                .iter()
                .enumerate()
                .all(|(col, &v)| v == 0 || (row < nz_h && col < nz_w))
        }),
        "coefficients outside the {nz_w}x{nz_h} non-zero region must be zero"
    );
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe {
                avx2::inverse(
                    kind_h, kind_v, log2w, log2h, coeffs, nz_w, nz_h, residual, bit_depth,
                )
            }
        }
        _ => scalar::inverse(
            kind_h, kind_v, log2w, log2h, coeffs, nz_w, nz_h, residual, bit_depth,
        ),
    }
}

/// Validates the sizes and kinds, returning the block's width and height.
fn check_shape(kind_h: TxKind, kind_v: TxKind, log2w: u32, log2h: u32) -> (usize, usize) {
    for (kind, log2n) in [(kind_h, log2w), (kind_v, log2h)] {
        assert!(
            (2..=5).contains(&log2n),
            "transform side 2^{log2n} unsupported"
        );
        assert!(
            kind == TxKind::Dct2 || log2n <= 4,
            "DST-VII exists only for sides of 4, 8 and 16 samples"
        );
    }
    (1 << log2w, 1 << log2h)
}

/// Pass-1 (vertical) and pass-2 (horizontal) rounding shifts of the forward transform.
const fn forward_shifts(log2w: u32, log2h: u32, bit_depth: u32) -> (i32, i32) {
    (log2h as i32 + bit_depth as i32 - 9, log2w as i32 + 6)
}

/// Pass-1 and pass-2 rounding shifts of the inverse transform.
const fn inverse_shifts(bit_depth: u32) -> (i32, i32) {
    (7, 20 - bit_depth as i32)
}

/// HEVC's DCT-II basis magnitudes: `a[j] ~ 64 * sqrt(2) * cos(j * pi / 64)` for j >= 1,
/// and `a[0] = 64` for the flat (DC) basis row.
const DCT_MAGNITUDES: [i16; 32] = [
    64, 90, 90, 90, 89, 88, 87, 85, 83, 82, 80, 78, 75, 73, 70, 67, 64, 61, 57, 54, 50, 46, 43, 38,
    36, 31, 25, 22, 18, 13, 9, 4,
];

/// Entry `c[k][n]` of HEVC's `size`-point DCT-II: `cos((2n + 1) k pi / (2 size))` scaled,
/// i.e. the cosine of `m * pi / 64` with `m = (2n + 1) * k * (32 / size) mod 128`.
///
/// `m` is never 32 or 64 for valid indices (those would need `k >= size`), so the magnitude
/// table never needs `a[32]` (a zero cosine) and `a[0]` serves only the DC row.
const fn dct_coef(size: usize, k: usize, n: usize) -> i16 {
    let m = ((2 * n + 1) * k * (32 / size)) % 128;
    match m {
        0..=32 => DCT_MAGNITUDES[m],
        33..=64 => -DCT_MAGNITUDES[64 - m],
        65..=96 => -DCT_MAGNITUDES[m - 64],
        _ => DCT_MAGNITUDES[128 - m],
    }
}

/// The full `N`-point DCT-II matrix, row = frequency.
const fn dct_matrix<const N: usize>() -> [[i16; N]; N] {
    let mut matrix = [[0; N]; N];
    let mut k = 0;
    while k < N {
        let mut n = 0;
        while n < N {
            matrix[k][n] = dct_coef(N, k, n);
            n += 1;
        }
        k += 1;
    }
    matrix
}

/// The transpose of a square matrix (the inverse transform applies `c` transposed).
const fn transposed<const N: usize>(matrix: &[[i16; N]; N]) -> [[i16; N]; N] {
    let mut out = [[0; N]; N];
    let mut i = 0;
    while i < N {
        let mut j = 0;
        while j < N {
            out[j][i] = matrix[i][j];
            j += 1;
        }
        i += 1;
    }
    out
}

const DCT4: [[i16; 4]; 4] = dct_matrix();
const DCT8: [[i16; 8]; 8] = dct_matrix();
const DCT16: [[i16; 16]; 16] = dct_matrix();
const DCT32: [[i16; 32]; 32] = dct_matrix();

/// VVC's `N`-point DST-VII matrix, row = frequency, from its `N` distinct magnitudes
/// `mags[m - 1] ~ 64 * sqrt(N) * sqrt(4 / (2N + 1)) * sin(m * pi / (2N + 1))`:
/// `c[k][n]` is the scaled `sin((2k + 1)(n + 1) pi / (2N + 1))`, folded onto `m` in 1..=N
/// by the sine's symmetries (zero where `(2k + 1)(n + 1)` is a multiple of `2N + 1`).
const fn dst_matrix<const N: usize>(mags: [i16; N]) -> [[i16; N]; N] {
    let period = 2 * N + 1;
    let mut matrix = [[0; N]; N];
    let mut k = 0;
    while k < N {
        let mut n = 0;
        while n < N {
            // sin(m pi / period) for m in 0..2 period: negative past `period`, and
            // sin((period - m) pi / period) = sin(m pi / period).
            let mut m = (2 * k + 1) * (n + 1) % (2 * period);
            let negative = m > period;
            if negative {
                m -= period;
            }
            if m > N {
                m = period - m;
            }
            let value = if m == 0 { 0 } else { mags[m - 1] };
            matrix[k][n] = if negative { -value } else { value };
            n += 1;
        }
        k += 1;
    }
    matrix
}

/// HEVC's (and VVC's) 4-point DST-VII matrix, row = frequency.
const DST4: [[i16; 4]; 4] = dst_matrix([29, 55, 74, 84]);
/// VVC's 8-point DST-VII (`g_trCoreDST7P8`).
const DST8: [[i16; 8]; 8] = dst_matrix([17, 32, 46, 60, 71, 78, 85, 86]);
/// VVC's 16-point DST-VII (`g_trCoreDST7P16`).
const DST16: [[i16; 16]; 16] = dst_matrix([
    8, 17, 25, 33, 40, 48, 55, 62, 68, 73, 77, 81, 85, 87, 88, 88,
]);

/// The `n x n` basis matrix (row-major, row = frequency) of one direction.
fn matrix(kind: TxKind, log2n: u32) -> &'static [i16] {
    match (kind, log2n) {
        (TxKind::Dst7, 2) => DST4.as_flattened(),
        (TxKind::Dst7, 3) => DST8.as_flattened(),
        (TxKind::Dst7, _) => DST16.as_flattened(),
        (_, 2) => DCT4.as_flattened(),
        (_, 3) => DCT8.as_flattened(),
        (_, 4) => DCT16.as_flattened(),
        _ => DCT32.as_flattened(),
    }
}

/// `(sum + 2^(shift-1)) >> shift`, saturated to `i16`.
#[inline]
fn round_shift_clamp(sum: i32, shift: i32) -> i16 {
    ((sum + (1 << (shift - 1))) >> shift).clamp(i16::MIN.into(), i16::MAX.into()) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A block shape with its kinds: (kind_h, kind_v, log2w, log2h).
    type Shape = (TxKind, TxKind, u32, u32);

    /// The kinds a side of 2^log2n samples accepts.
    fn kinds_for(log2n: u32) -> Vec<TxKind> {
        if log2n <= 4 {
            vec![TxKind::Dct2, TxKind::Dst7]
        } else {
            vec![TxKind::Dct2]
        }
    }

    /// Every shape and pair of kinds the API accepts.
    fn shapes() -> Vec<Shape> {
        let mut shapes = Vec::new();
        for log2w in 2..=5 {
            for log2h in 2..=5 {
                for &kind_h in &kinds_for(log2w) {
                    for &kind_v in &kinds_for(log2h) {
                        shapes.push((kind_h, kind_v, log2w, log2h));
                    }
                }
            }
        }
        shapes
    }

    /// Trials per shape for the random tests: fewer for large blocks, so every shape gets a
    /// similar number of samples.
    fn trials(shape: Shape, most: usize) -> usize {
        let samples = 1usize << (shape.2 + shape.3);
        (most * 16 / samples).clamp(most / 8, most)
    }

    fn forward_at(shape: Shape, residual: &[i16], bd: u32, cpu: CpuLevel) -> Vec<i16> {
        let (kind_h, kind_v, log2w, log2h) = shape;
        let mut coeffs = vec![0; residual.len()];
        forward(kind_h, kind_v, log2w, log2h, residual, &mut coeffs, bd, cpu);
        coeffs
    }

    fn inverse_at(
        shape: Shape,
        coeffs: &[i16],
        nz: (usize, usize),
        bd: u32,
        cpu: CpuLevel,
    ) -> Vec<i16> {
        let (kind_h, kind_v, log2w, log2h) = shape;
        let mut residual = vec![0; coeffs.len()];
        inverse(
            kind_h,
            kind_v,
            log2w,
            log2h,
            coeffs,
            nz.0,
            nz.1,
            &mut residual,
            bd,
            cpu,
        );
        residual
    }

    fn size(shape: Shape) -> (usize, usize) {
        (1 << shape.2, 1 << shape.3)
    }

    /// Checks the forward transform of `residual` at every level against scalar.
    fn assert_forward_levels_agree(shape: Shape, residual: &[i16], what: &str) {
        for bd in crate::dsp::BIT_DEPTHS {
            let reference = forward_at(shape, residual, bd, CpuLevel::Scalar);
            for cpu in CpuLevel::all_supported() {
                let got = forward_at(shape, residual, bd, cpu);
                assert_eq!(
                    got, reference,
                    "forward {shape:?} at {bd} bits, {cpu:?}: {what}"
                );
            }
        }
    }

    /// Checks the inverse of `coeffs` with hint `nz` at every level against scalar without a hint.
    fn assert_inverse_levels_agree(shape: Shape, coeffs: &[i16], nz: (usize, usize), what: &str) {
        for bd in crate::dsp::BIT_DEPTHS {
            let reference = inverse_at(shape, coeffs, size(shape), bd, CpuLevel::Scalar);
            for cpu in CpuLevel::all_supported() {
                let got = inverse_at(shape, coeffs, nz, bd, cpu);
                assert_eq!(
                    got, reference,
                    "inverse {shape:?} nz {nz:?} at {bd} bits, {cpu:?}: {what}"
                );
            }
        }
    }

    /// Full-range `w x h` blocks: constant extremes, sign patterns and single impulses at
    /// every position.
    fn extreme_blocks(
        (w, h): (usize, usize),
        max: i16,
        min: i16,
    ) -> Vec<(String, Vec<i16>, (usize, usize))> {
        let full = (w, h);
        let mut blocks = vec![
            ("all max".to_string(), vec![max; w * h], full),
            ("all min".to_string(), vec![min; w * h], full),
            (
                "checkerboard".to_string(),
                (0..w * h)
                    .map(|i| {
                        if (i / w + i % w).is_multiple_of(2) {
                            max
                        } else {
                            min
                        }
                    })
                    .collect(),
                full,
            ),
            (
                "alternating rows".to_string(),
                (0..w * h)
                    .map(|i| if (i / w).is_multiple_of(2) { max } else { min })
                    .collect(),
                full,
            ),
            (
                "alternating columns".to_string(),
                (0..w * h)
                    .map(|i| if i % 2 == 0 { max } else { min })
                    .collect(),
                full,
            ),
        ];
        for pos in 0..w * h {
            let (row, col) = (pos / w, pos % w);
            for value in [max, min] {
                let mut block = vec![0; w * h];
                block[pos] = value;
                blocks.push((
                    format!("impulse {value} at ({row},{col})"),
                    block,
                    (col + 1, row + 1),
                ));
            }
        }
        blocks
    }

    /// `w x h` coefficients, random (from `value`) inside the top-left `nz` region, zero outside.
    fn coefficients_in(
        (w, h): (usize, usize),
        nz: (usize, usize),
        mut value: impl FnMut() -> i16,
    ) -> Vec<i16> {
        (0..w * h)
            .map(|i| {
                if i % w < nz.0 && i / w < nz.1 {
                    value()
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn dct4_is_hevcs_matrix() {
        assert_eq!(
            DCT4,
            [
                [64, 64, 64, 64],
                [83, 36, -36, -83],
                [64, -64, -64, 64],
                [36, -83, 83, -36]
            ]
        );
    }

    #[test]
    fn dct8_row1_is_hevcs() {
        assert_eq!(DCT8[1], [89, 75, 50, 18, -18, -50, -75, -89]);
    }

    #[test]
    fn dct32_odd_row_and_smaller_sizes_nest() {
        assert_eq!(
            DCT32[1][..16],
            [90, 90, 88, 85, 82, 78, 73, 67, 61, 54, 46, 38, 31, 22, 13, 4]
        );
        // The N/2-point matrix is the even rows of the N-point one, left half.
        for k in 0..16 {
            assert_eq!(DCT16[k], DCT32[2 * k][..16]);
        }
        for k in 0..8 {
            assert_eq!(DCT8[k], DCT16[2 * k][..8]);
        }
        for k in 0..4 {
            assert_eq!(DCT4[k], DCT8[2 * k][..4]);
        }
    }

    #[test]
    fn dct_rows_are_symmetric_or_antisymmetric() {
        // The butterflies rely on this symmetry; no entry is a zero cosine.
        for (k, row) in DCT32.iter().enumerate() {
            let sign = if k % 2 == 0 { 1 } else { -1 };
            for (n, &value) in row.iter().enumerate() {
                assert_eq!(row[31 - n], sign * value, "row {k}");
                assert_ne!(value, 0, "row {k}");
            }
        }
    }

    #[test]
    fn forward_matches_scalar_on_random_residuals() {
        let mut rng = SmallRng::seed_from_u64(1);
        for shape in shapes() {
            let (w, h) = size(shape);
            for trial in 0..trials(shape, 400) {
                // Small residuals keep both passes within AVX2's butterfly range, large ones
                // push the second pass (or, past 8 bits, the first) onto its matrix product.
                let range = [8, 60, 255, 4000][trial % 4];
                let residual: Vec<i16> =
                    (0..w * h).map(|_| rng.gen_range(-range..=range)).collect();
                assert_forward_levels_agree(
                    shape,
                    &residual,
                    &format!("trial {trial}, range {range}"),
                );
            }
        }
    }

    #[test]
    fn forward_matches_scalar_on_extreme_inputs() {
        for shape in shapes() {
            // The 8-bit residual range, then the whole i16 range (levels agree there too).
            for (max, min) in [(255, -255), (i16::MAX, i16::MIN)] {
                for (what, residual, _) in extreme_blocks(size(shape), max, min) {
                    assert_forward_levels_agree(shape, &residual, &what);
                }
            }
        }
    }

    #[test]
    fn inverse_matches_scalar_on_random_coefficients_and_regions() {
        let mut rng = SmallRng::seed_from_u64(2);
        for shape in shapes() {
            let (w, h) = size(shape);
            for trial in 0..trials(shape, 300) {
                // Mostly small regions, as in real streams, but cover the full block and
                // DC-only blocks (which AVX2 fills directly) too.
                let nz = match trial % 5 {
                    0 => (w, h),
                    1 => (1, 1),
                    _ => (rng.gen_range(1..=w), rng.gen_range(1..=h)),
                };
                let coeffs = coefficients_in((w, h), nz, || rng.gen());
                assert_inverse_levels_agree(shape, &coeffs, nz, &format!("trial {trial}"));
            }
        }
    }

    #[test]
    fn inverse_matches_scalar_on_small_random_coefficients() {
        // Realistic magnitudes, where the clamps rarely engage and the arithmetic itself is tested.
        let mut rng = SmallRng::seed_from_u64(3);
        for shape in shapes() {
            let (w, h) = size(shape);
            for trial in 0..trials(shape, 300) {
                let nz = (rng.gen_range(1..=w), rng.gen_range(1..=h));
                let coeffs = coefficients_in((w, h), nz, || rng.gen_range(-600..=600));
                assert_inverse_levels_agree(shape, &coeffs, nz, &format!("trial {trial}"));
            }
        }
    }

    #[test]
    fn inverse_matches_scalar_on_extreme_inputs() {
        for shape in shapes() {
            for (what, coeffs, nz) in extreme_blocks(size(shape), i16::MAX, i16::MIN) {
                assert_inverse_levels_agree(shape, &coeffs, nz, &what);
            }
        }
    }

    #[test]
    fn scalar_region_hint_matches_full_region() {
        let mut rng = SmallRng::seed_from_u64(4);
        for shape in shapes() {
            let (w, h) = size(shape);
            for _ in 0..trials(shape, 100) {
                let nz = (rng.gen_range(1..=w), rng.gen_range(1..=h));
                let coeffs = coefficients_in((w, h), nz, || rng.gen());
                assert_eq!(
                    inverse_at(shape, &coeffs, nz, 8, CpuLevel::Scalar),
                    inverse_at(shape, &coeffs, (w, h), 8, CpuLevel::Scalar)
                );
            }
        }
    }

    /// Largest round-trip error allowed for random full-range 8-bit residuals: set by the
    /// longer side. HEVC's integer matrices are only near-orthogonal: even in exact arithmetic (no
    /// rounding at all) white-noise 32x32 residuals come back up to ~4 off, growing with
    /// size; a wrong shift or a transposed matrix would be off by hundreds.
    /// VVC's 16-point DST-VII is the least exact (up to ~7).
    fn round_trip_tolerance(shape: Shape) -> i16 {
        match shape {
            (TxKind::Dst7, _, 4, _) | (_, TxKind::Dst7, _, 4) => 8,
            (TxKind::Dct2, TxKind::Dct2, 2, 2) => 0,
            (_, _, w, h) => match w.max(h) {
                2 => 1,
                3 => 2,
                4 => 4,
                _ => 6,
            },
        }
    }

    #[test]
    fn round_trip_recovers_residual() {
        let mut rng = SmallRng::seed_from_u64(5);
        for shape in shapes() {
            let (w, h) = size(shape);
            let tolerance = round_trip_tolerance(shape);
            for cpu in CpuLevel::all_supported() {
                for bd in crate::dsp::BIT_DEPTHS {
                    let max = (1i16 << bd) - 1;
                    for _ in 0..trials(shape, 200) {
                        let residual: Vec<i16> =
                            (0..w * h).map(|_| rng.gen_range(-max..=max)).collect();
                        let coeffs = forward_at(shape, &residual, bd, cpu);
                        let back = inverse_at(shape, &coeffs, (w, h), bd, cpu);
                        let error = residual
                            .iter()
                            .zip(&back)
                            .map(|(a, b)| (a - b).abs())
                            .max()
                            .unwrap();
                        // At 10 bits the residual is 4 times larger, and so is the error.
                        let tolerance = if bd == 8 {
                            tolerance
                        } else {
                            4 * tolerance + 2
                        };
                        assert!(
                            error <= tolerance,
                            "{shape:?} at {bd} bits, {cpu:?}: error {error} > {tolerance}"
                        );
                    }
                }
            }
        }
    }

    /// The forward transform's gain over an orthonormal one is `2^(15 - B - (log2w +
    /// log2h) / 2)`, a half-integer power for 2:1 and 8:1 shapes (the quantiser relies on
    /// it): the coefficients' energy is the residual's times the gain squared, to within the
    /// integer matrices' inexactness. A round trip cannot see this (an extra `sqrt(2)` in the
    /// forward and its reciprocal in the inverse would cancel).
    #[test]
    fn forward_gain_is_a_power_of_sqrt2() {
        let mut rng = SmallRng::seed_from_u64(6);
        for shape in shapes() {
            let (w, h) = size(shape);
            for bd in crate::dsp::BIT_DEPTHS {
                let max = (1i16 << bd) - 1;
                let gain = 2f64.powf(15.0 - f64::from(bd) - f64::from(shape.2 + shape.3) / 2.0);
                let (mut energy_in, mut energy_out) = (0.0, 0.0);
                for _ in 0..20 {
                    let residual: Vec<i16> =
                        (0..w * h).map(|_| rng.gen_range(-max..=max)).collect();
                    let coeffs = forward_at(shape, &residual, bd, CpuLevel::Scalar);
                    energy_in += residual.iter().map(|&r| f64::from(r).powi(2)).sum::<f64>();
                    energy_out += coeffs.iter().map(|&c| f64::from(c).powi(2)).sum::<f64>();
                }
                let ratio = energy_out / (energy_in * gain * gain);
                assert!(
                    (0.97..=1.03).contains(&ratio),
                    "{shape:?} at {bd} bits: energy ratio {ratio}"
                );
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "outside the 2x2 non-zero region")]
    fn inverse_checks_region_in_debug_builds() {
        let mut coeffs = [0; 32];
        coeffs[2 * 8 + 1] = 1; // row 2, column 1 of an 8x4 block: outside a 2x2 region
        inverse_at(
            (TxKind::Dct2, TxKind::Dct2, 3, 2),
            &coeffs,
            (2, 2),
            8,
            CpuLevel::Scalar,
        );
    }

    #[test]
    #[should_panic(expected = "DST-VII exists only for sides of 4, 8 and 16 samples")]
    fn dst_rejects_32_point_sides() {
        let block = vec![0; 128];
        forward_at(
            (TxKind::Dct2, TxKind::Dst7, 2, 5),
            &block,
            8,
            CpuLevel::Scalar,
        );
    }

    /// Rows of VVC's tables (`g_trCoreDST7P4/P8/P16`), as printed in its source.
    #[test]
    fn dst_matrices_are_vvcs() {
        assert_eq!(
            DST4,
            [
                [29, 55, 74, 84],
                [74, 74, 0, -74],
                [84, -29, -74, 55],
                [55, -84, 74, -29]
            ]
        );
        // Rows 1, 4 and 7 of the 8-point matrix: (c f h e b -a -d -g), (h -a -g b f -c -e d),
        // (b -d f -h g -e c -a) with a..h = 17, 32, 46, 60, 71, 78, 85, 86.
        assert_eq!(DST8[1], [46, 78, 86, 71, 32, -17, -60, -85]);
        assert_eq!(DST8[4], [86, -17, -85, 32, 78, -46, -71, 60]);
        assert_eq!(DST8[7], [32, -60, 78, -86, 85, -71, 46, -17]);
        // Rows 1, 5 and 15 of the 16-point matrix: (c f i l o o l i f c 0 -c -f -i -l -o),
        // (k k 0 -k -k 0 ...) and (b -d f -h j -l n -p o -m k -i g -e c -a).
        assert_eq!(
            DST16[1],
            [25, 48, 68, 81, 88, 88, 81, 68, 48, 25, 0, -25, -48, -68, -81, -88]
        );
        assert_eq!(
            DST16[5],
            [77, 77, 0, -77, -77, 0, 77, 77, 0, -77, -77, 0, 77, 77, 0, -77]
        );
        assert_eq!(
            DST16[15],
            [17, -33, 48, -62, 73, -81, 87, -88, 88, -85, 77, -68, 55, -40, 25, -8]
        );
    }

    /// Every matrix has Mica's scale, rows of squared norm close to `64^2 * N` (so each
    /// direction's gain is `64 * sqrt(N)`), nearly orthogonal rows, and rows whose absolute
    /// sum is at most `64 * N` (the bound that keeps the forward passes inside `i16`).
    #[test]
    fn matrices_have_mica_scale_and_bounded_rows() {
        for (kind, log2n) in [
            (TxKind::Dct2, 2),
            (TxKind::Dct2, 3),
            (TxKind::Dct2, 4),
            (TxKind::Dct2, 5),
            (TxKind::Dst7, 2),
            (TxKind::Dst7, 3),
            (TxKind::Dst7, 4),
        ] {
            let n = 1usize << log2n;
            let c = matrix(kind, log2n);
            let row = |k: usize| &c[k * n..][..n];
            for k in 0..n {
                let l1: i32 = row(k).iter().map(|&v| i32::from(v).abs()).sum();
                assert!(l1 <= 64 * n as i32, "{kind:?} {n}: row {k} sums to {l1}");
                for j in 0..n {
                    let dot: i32 = row(k)
                        .iter()
                        .zip(row(j))
                        .map(|(&a, &b)| i32::from(a) * i32::from(b))
                        .sum();
                    let expected = if j == k { 4096 * n as i32 } else { 0 };
                    // HEVC's DCT rows are within 0.5 % of the norm (DCT32 row 31 is the
                    // furthest) and VVC's DST rows within 0.3 %; off-diagonal products as small.
                    assert!(
                        (dot - expected).abs() <= 4096 * n as i32 / 200,
                        "{kind:?} {n}: rows {k}, {j}: {dot}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "non-zero region")]
    fn inverse_rejects_empty_region() {
        inverse_at(
            (TxKind::Dct2, TxKind::Dct2, 2, 3),
            &[0; 32],
            (0, 4),
            8,
            CpuLevel::Scalar,
        );
    }
}
