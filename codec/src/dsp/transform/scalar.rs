//! Reference transforms: plain matrix products, one 1-D pass at a time.
//!
//! Callers go through [`super::forward`] and [`super::inverse`], which validate the shapes.

use super::{forward_shifts, inverse_shifts, matrix, round_shift_clamp, TxKind, MAX_SIZE};

/// Forward 2-D transform: `coeffs = C * residual * C^T`, rounded after each pass.
pub fn forward(kind: TxKind, log2n: u32, residual: &[i16], coeffs: &mut [i16], bit_depth: u32) {
    let n = 1 << log2n;
    let c = matrix(kind, log2n);
    let (shift1, shift2) = forward_shifts(log2n, bit_depth);
    let mut columns_done = [0i16; MAX_SIZE * MAX_SIZE];
    let columns_done = &mut columns_done[..n * n];

    // Vertical: columns_done[k][x] = sum_y c[k][y] * residual[y][x].
    for k in 0..n {
        for x in 0..n {
            let sum = (0..n)
                .map(|y| i32::from(c[k * n + y]) * i32::from(residual[y * n + x]))
                .sum();
            columns_done[k * n + x] = round_shift_clamp(sum, shift1);
        }
    }
    // Horizontal: coeffs[k][l] = sum_x c[l][x] * columns_done[k][x].
    for k in 0..n {
        for l in 0..n {
            let sum = (0..n)
                .map(|x| i32::from(c[l * n + x]) * i32::from(columns_done[k * n + x]))
                .sum();
            coeffs[k * n + l] = round_shift_clamp(sum, shift2);
        }
    }
}

/// Inverse 2-D transform: `residual = C^T * coeffs * C`, rounded after each pass.
///
/// Only the top-left `nz_w` x `nz_h` coefficients are read; the rest must be zero.
pub fn inverse(
    kind: TxKind,
    log2n: u32,
    coeffs: &[i16],
    nz_w: usize,
    nz_h: usize,
    residual: &mut [i16],
    bit_depth: u32,
) {
    let n = 1 << log2n;
    let c = matrix(kind, log2n);
    let (shift1, shift2) = inverse_shifts(bit_depth);
    // Columns at or past nz_w stay zero after the vertical pass.
    let mut columns_done = [0i16; MAX_SIZE * MAX_SIZE];
    let columns_done = &mut columns_done[..n * n];

    // Vertical: columns_done[y][x] = sum_k c[k][y] * coeffs[k][x].
    for y in 0..n {
        for x in 0..nz_w {
            let sum = (0..nz_h)
                .map(|k| i32::from(c[k * n + y]) * i32::from(coeffs[k * n + x]))
                .sum();
            columns_done[y * n + x] = round_shift_clamp(sum, shift1);
        }
    }
    // Horizontal: residual[y][x] = sum_k c[k][x] * columns_done[y][k].
    for y in 0..n {
        for x in 0..n {
            let sum = (0..nz_w)
                .map(|k| i32::from(c[k * n + x]) * i32::from(columns_done[y * n + k]))
                .sum();
            residual[y * n + x] = round_shift_clamp(sum, shift2);
        }
    }
}
