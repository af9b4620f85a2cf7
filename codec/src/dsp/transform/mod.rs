//! HEVC-style integer 2-D transforms for 8- and 10-bit video: DCT-II at 4, 8, 16 and 32
//! points and the 4-point DST-VII used for intra luma 4x4 blocks.
//!
//! Both directions are two separable 1-D passes, vertical first, with HEVC's rounding
//! shifts for bit depth B and each pass's result clamped to `i16`:
//!
//! | direction | pass 1 (vertical)   | pass 2 (horizontal) |
//! |-----------|---------------------|---------------------|
//! | forward   | `log2n + B - 9`     | `log2n + 6`         |
//! | inverse   | `7`                 | `20 - B`            |
//!
//! So coefficients have the same scale at every bit depth (a 10-bit residual 4 times an
//! 8-bit one gives the same coefficients), and the quantiser's QP offset of 6 per extra
//! bit accounts for the rest.
//!
//! Forward: `X[k] = sum_n c[k][n] * x[n]`; inverse: `x[n] = sum_k c[k][n] * X[k]`.
//! Sums are kept in `i32`, which cannot overflow for any `i16` input: at most 32 products
//! of magnitude `32768 * 90`, plus the rounding term, stay below `32 * 32768 * 90 < 2^27`.
//!
//! Every kernel exists as a scalar reference (`scalar`) and, on x86-64, an AVX2 version
//! (`avx2`) that gives bit-identical results; [`CpuLevel`](crate::cpu::CpuLevel) picks one
//! per call.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Which transform basis a block uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// HEVC's integer DCT-II, any size.
    Dct2,
    /// HEVC's integer DST-VII; valid only for 4x4 (`log2n == 2`).
    Dst7,
}

/// Largest transform side, in samples.
const MAX_SIZE: usize = 32;

/// Forward 2-D transform of an `n x n` residual block, `n = 1 << log2n` (`log2n` in 2..=5).
///
/// `residual`: n*n row-major, values in [-(2^B - 1), 2^B - 1] for B-bit video (any `i16` gives the same
/// result at every level). `coeffs`: n*n row-major output (row = vertical frequency).
pub fn forward(
    kind: TxKind,
    log2n: u32,
    residual: &[i16],
    coeffs: &mut [i16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let n = check_shape(kind, log2n);
    assert_eq!(residual.len(), n * n, "residual must hold n*n samples");
    assert_eq!(coeffs.len(), n * n, "coeffs must hold n*n values");
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::forward(kind, log2n, residual, coeffs, bit_depth) }
        }
        _ => scalar::forward(kind, log2n, residual, coeffs, bit_depth),
    }
}

/// Inverse 2-D transform of an `n x n` coefficient block, `n = 1 << log2n` (`log2n` in 2..=5).
///
/// `coeffs`: n*n row-major; only its top-left `nz_w` x `nz_h` region (columns x rows, each in
/// 1..=n) may be non-zero: the region is a speed hint, and the result equals that of
/// `(n, n)`. Pass `(n, n)` when it is unknown. `residual`: n*n row-major output.
#[allow(clippy::too_many_arguments)]
pub fn inverse(
    kind: TxKind,
    log2n: u32,
    coeffs: &[i16],
    nz_w: usize,
    nz_h: usize,
    residual: &mut [i16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    let n = check_shape(kind, log2n);
    assert_eq!(coeffs.len(), n * n, "coeffs must hold n*n values");
    assert_eq!(residual.len(), n * n, "residual must hold n*n samples");
    assert!(
        (1..=n).contains(&nz_w) && (1..=n).contains(&nz_h),
        "non-zero region must lie in 1..=n"
    );
    debug_assert!(
        coeffs.chunks_exact(n).enumerate().all(|(row, values)| {
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
            unsafe { avx2::inverse(kind, log2n, coeffs, nz_w, nz_h, residual, bit_depth) }
        }
        _ => scalar::inverse(kind, log2n, coeffs, nz_w, nz_h, residual, bit_depth),
    }
}

/// Validates the size and kind, returning the block side.
fn check_shape(kind: TxKind, log2n: u32) -> usize {
    assert!(
        (2..=5).contains(&log2n),
        "transform size 2^{log2n} unsupported"
    );
    assert!(
        kind == TxKind::Dct2 || log2n == 2,
        "DST-VII exists only for 4x4 blocks"
    );
    1 << log2n
}

/// Pass-1 and pass-2 rounding shifts of the forward transform.
const fn forward_shifts(log2n: u32, bit_depth: u32) -> (i32, i32) {
    (log2n as i32 + bit_depth as i32 - 9, log2n as i32 + 6)
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

/// HEVC's 4-point DST-VII matrix, row = frequency.
const DST4: [[i16; 4]; 4] = [
    [29, 55, 74, 84],
    [74, 74, 0, -74],
    [84, -29, -74, 55],
    [55, -84, 74, -29],
];

/// The `n x n` basis matrix (row-major, row = frequency) for a kind and size.
fn matrix(kind: TxKind, log2n: u32) -> &'static [i16] {
    match (kind, log2n) {
        (TxKind::Dst7, _) => DST4.as_flattened(),
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

    /// Every (kind, log2n) pair the API accepts.
    fn shapes() -> Vec<(TxKind, u32)> {
        let mut shapes = vec![(TxKind::Dst7, 2)];
        shapes.extend((2..=5).map(|log2n| (TxKind::Dct2, log2n)));
        shapes
    }

    fn forward_at(kind: TxKind, log2n: u32, residual: &[i16], bd: u32, cpu: CpuLevel) -> Vec<i16> {
        let mut coeffs = vec![0; residual.len()];
        forward(kind, log2n, residual, &mut coeffs, bd, cpu);
        coeffs
    }

    fn inverse_at(
        kind: TxKind,
        log2n: u32,
        coeffs: &[i16],
        nz: (usize, usize),
        bd: u32,
        cpu: CpuLevel,
    ) -> Vec<i16> {
        let mut residual = vec![0; coeffs.len()];
        inverse(kind, log2n, coeffs, nz.0, nz.1, &mut residual, bd, cpu);
        residual
    }

    /// Checks the forward transform of `residual` at every level against scalar.
    fn assert_forward_levels_agree(kind: TxKind, log2n: u32, residual: &[i16], what: &str) {
        for bd in crate::dsp::BIT_DEPTHS {
            let reference = forward_at(kind, log2n, residual, bd, CpuLevel::Scalar);
            for cpu in CpuLevel::all_supported() {
                let got = forward_at(kind, log2n, residual, bd, cpu);
                assert_eq!(
                    got, reference,
                    "forward {kind:?} 2^{log2n} at {bd} bits, {cpu:?}: {what}"
                );
            }
        }
    }

    /// Checks the inverse of `coeffs` with hint `nz` at every level against scalar without a hint.
    fn assert_inverse_levels_agree(
        kind: TxKind,
        log2n: u32,
        coeffs: &[i16],
        nz: (usize, usize),
        what: &str,
    ) {
        let n = 1 << log2n;
        for bd in crate::dsp::BIT_DEPTHS {
            let reference = inverse_at(kind, log2n, coeffs, (n, n), bd, CpuLevel::Scalar);
            for cpu in CpuLevel::all_supported() {
                let got = inverse_at(kind, log2n, coeffs, nz, bd, cpu);
                assert_eq!(
                    got, reference,
                    "inverse {kind:?} 2^{log2n} nz {nz:?} at {bd} bits, {cpu:?}: {what}"
                );
            }
        }
    }

    /// Full-range blocks: constant extremes, sign patterns and single impulses at every position.
    fn extreme_blocks(n: usize, max: i16, min: i16) -> Vec<(String, Vec<i16>, (usize, usize))> {
        let full = (n, n);
        let mut blocks = vec![
            ("all max".to_string(), vec![max; n * n], full),
            ("all min".to_string(), vec![min; n * n], full),
            (
                "checkerboard".to_string(),
                (0..n * n)
                    .map(|i| {
                        if (i / n + i % n).is_multiple_of(2) {
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
                (0..n * n)
                    .map(|i| if (i / n).is_multiple_of(2) { max } else { min })
                    .collect(),
                full,
            ),
            (
                "alternating columns".to_string(),
                (0..n * n)
                    .map(|i| if i % 2 == 0 { max } else { min })
                    .collect(),
                full,
            ),
        ];
        for pos in 0..n * n {
            let (row, col) = (pos / n, pos % n);
            for value in [max, min] {
                let mut block = vec![0; n * n];
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
        for (kind, log2n) in shapes() {
            let n = 1 << log2n;
            for trial in 0..400 {
                // Small residuals keep both passes within AVX2's butterfly range, large ones
                // push the second pass (or, past 8 bits, the first) onto its matrix product.
                let range = [8, 60, 255, 4000][trial % 4];
                let residual: Vec<i16> =
                    (0..n * n).map(|_| rng.gen_range(-range..=range)).collect();
                assert_forward_levels_agree(
                    kind,
                    log2n,
                    &residual,
                    &format!("trial {trial}, range {range}"),
                );
            }
        }
    }

    #[test]
    fn forward_matches_scalar_on_extreme_inputs() {
        for (kind, log2n) in shapes() {
            // The 8-bit residual range, then the whole i16 range (levels agree there too).
            for (max, min) in [(255, -255), (i16::MAX, i16::MIN)] {
                for (what, residual, _) in extreme_blocks(1 << log2n, max, min) {
                    assert_forward_levels_agree(kind, log2n, &residual, &what);
                }
            }
        }
    }

    #[test]
    fn inverse_matches_scalar_on_random_coefficients_and_regions() {
        let mut rng = SmallRng::seed_from_u64(2);
        for (kind, log2n) in shapes() {
            let n = 1 << log2n;
            for trial in 0..300 {
                // Mostly small regions, as in real streams, but cover the full block and
                // DC-only blocks (which AVX2 fills directly) too.
                let nz = match trial % 5 {
                    0 => (n, n),
                    1 => (1, 1),
                    _ => (rng.gen_range(1..=n), rng.gen_range(1..=n)),
                };
                let coeffs: Vec<i16> = (0..n * n)
                    .map(|i| {
                        if i % n < nz.0 && i / n < nz.1 {
                            rng.gen()
                        } else {
                            0
                        }
                    })
                    .collect();
                assert_inverse_levels_agree(kind, log2n, &coeffs, nz, &format!("trial {trial}"));
            }
        }
    }

    #[test]
    fn inverse_matches_scalar_on_small_random_coefficients() {
        // Realistic magnitudes, where the clamps rarely engage and the arithmetic itself is tested.
        let mut rng = SmallRng::seed_from_u64(3);
        for (kind, log2n) in shapes() {
            let n = 1 << log2n;
            for trial in 0..300 {
                let nz = (rng.gen_range(1..=n), rng.gen_range(1..=n));
                let coeffs: Vec<i16> = (0..n * n)
                    .map(|i| {
                        if i % n < nz.0 && i / n < nz.1 {
                            rng.gen_range(-600..=600)
                        } else {
                            0
                        }
                    })
                    .collect();
                assert_inverse_levels_agree(kind, log2n, &coeffs, nz, &format!("trial {trial}"));
            }
        }
    }

    #[test]
    fn inverse_matches_scalar_on_extreme_inputs() {
        for (kind, log2n) in shapes() {
            for (what, coeffs, nz) in extreme_blocks(1 << log2n, i16::MAX, i16::MIN) {
                assert_inverse_levels_agree(kind, log2n, &coeffs, nz, &what);
            }
        }
    }

    #[test]
    fn scalar_region_hint_matches_full_region() {
        let mut rng = SmallRng::seed_from_u64(4);
        for (kind, log2n) in shapes() {
            let n = 1 << log2n;
            for _ in 0..100 {
                let nz = (rng.gen_range(1..=n), rng.gen_range(1..=n));
                let coeffs: Vec<i16> = (0..n * n)
                    .map(|i| {
                        if i % n < nz.0 && i / n < nz.1 {
                            rng.gen()
                        } else {
                            0
                        }
                    })
                    .collect();
                assert_eq!(
                    inverse_at(kind, log2n, &coeffs, nz, 8, CpuLevel::Scalar),
                    inverse_at(kind, log2n, &coeffs, (n, n), 8, CpuLevel::Scalar)
                );
            }
        }
    }

    /// Largest round-trip error seen over 20,000 random full-range residuals per shape, at
    /// every level. HEVC's integer matrices are only near-orthogonal: even in exact arithmetic
    /// (no rounding at all) white-noise 32x32 residuals come back up to ~4 off, growing with
    /// size; a wrong shift or a transposed matrix would be off by hundreds.
    fn round_trip_tolerance(kind: TxKind, log2n: u32) -> i16 {
        match (kind, log2n) {
            (TxKind::Dst7, _) => 1,
            (_, 2) => 0,
            (_, 3) => 2,
            (_, 4) => 4,
            _ => 6,
        }
    }

    #[test]
    fn round_trip_recovers_residual() {
        let mut rng = SmallRng::seed_from_u64(5);
        for (kind, log2n) in shapes() {
            let n = 1 << log2n;
            let tolerance = round_trip_tolerance(kind, log2n);
            for cpu in CpuLevel::all_supported() {
                for _ in 0..500 {
                    let residual: Vec<i16> =
                        (0..n * n).map(|_| rng.gen_range(-255..=255)).collect();
                    let coeffs = forward_at(kind, log2n, &residual, 8, cpu);
                    let back = inverse_at(kind, log2n, &coeffs, (n, n), 8, cpu);
                    let error = residual
                        .iter()
                        .zip(&back)
                        .map(|(a, b)| (a - b).abs())
                        .max()
                        .unwrap();
                    assert!(
                        error <= tolerance,
                        "{kind:?} 2^{log2n} at {cpu:?}: error {error} > {tolerance}"
                    );
                }
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "outside the 2x2 non-zero region")]
    fn inverse_checks_region_in_debug_builds() {
        let mut coeffs = [0; 16];
        coeffs[2 * 4 + 1] = 1; // row 2, column 1: outside a 2x2 region
        inverse_at(TxKind::Dct2, 2, &coeffs, (2, 2), 8, CpuLevel::Scalar);
    }

    #[test]
    #[should_panic(expected = "DST-VII exists only for 4x4")]
    fn dst_rejects_larger_blocks() {
        let block = vec![0; 64];
        forward_at(TxKind::Dst7, 3, &block, 8, CpuLevel::Scalar);
    }

    #[test]
    #[should_panic(expected = "non-zero region")]
    fn inverse_rejects_empty_region() {
        inverse_at(TxKind::Dct2, 2, &[0; 16], (0, 4), 8, CpuLevel::Scalar);
    }
}
