//! Reference transforms: plain matrix products, one 1-D pass at a time.
//!
//! Callers go through [`super::forward`] and [`super::inverse`], which validate the shapes.

use super::{forward_shifts, inverse_shifts, matrix, round_shift_clamp, TxKind, MAX_SIZE};

/// Forward 2-D transform: `coeffs = V * residual * H^T` (`V` the `h`-point matrix of
/// `kind_v`, `H` the `w`-point one of `kind_h`), rounded after each pass.
pub fn forward(
    kind_h: TxKind,
    kind_v: TxKind,
    log2w: u32,
    log2h: u32,
    residual: &[i16],
    coeffs: &mut [i16],
    bit_depth: u32,
) {
    let (w, h) = (1 << log2w, 1 << log2h);
    let (cv, ch) = (matrix(kind_v, log2h), matrix(kind_h, log2w));
    let (shift1, shift2) = forward_shifts(log2w, log2h, bit_depth);
    let mut columns_done = [0i16; MAX_SIZE * MAX_SIZE];
    let columns_done = &mut columns_done[..w * h];

    // Vertical: columns_done[k][x] = sum_y cv[k][y] * residual[y][x].
    for k in 0..h {
        for x in 0..w {
            let sum = (0..h)
                .map(|y| i32::from(cv[k * h + y]) * i32::from(residual[y * w + x]))
                .sum();
            columns_done[k * w + x] = round_shift_clamp(sum, shift1);
        }
    }
    // Horizontal: coeffs[k][l] = sum_x ch[l][x] * columns_done[k][x].
    for k in 0..h {
        for l in 0..w {
            let sum = (0..w)
                .map(|x| i32::from(ch[l * w + x]) * i32::from(columns_done[k * w + x]))
                .sum();
            coeffs[k * w + l] = round_shift_clamp(sum, shift2);
        }
    }
}

/// Inverse 2-D transform: `residual = V^T * coeffs * H`, rounded after each pass.
///
/// Only the top-left `nz_w` x `nz_h` coefficients are read; the rest must be zero.
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
) {
    let (w, h) = (1 << log2w, 1 << log2h);
    let (cv, ch) = (matrix(kind_v, log2h), matrix(kind_h, log2w));
    let (shift1, shift2) = inverse_shifts(bit_depth);
    // Columns at or past nz_w stay zero after the vertical pass.
    let mut columns_done = [0i16; MAX_SIZE * MAX_SIZE];
    let columns_done = &mut columns_done[..w * h];

    // Vertical: columns_done[y][x] = sum_k cv[k][y] * coeffs[k][x].
    for y in 0..h {
        for x in 0..nz_w {
            let sum = (0..nz_h)
                .map(|k| i32::from(cv[k * h + y]) * i32::from(coeffs[k * w + x]))
                .sum();
            columns_done[y * w + x] = round_shift_clamp(sum, shift1);
        }
    }
    // Horizontal: residual[y][x] = sum_k ch[k][x] * columns_done[y][k].
    for y in 0..h {
        for x in 0..w {
            let sum = (0..nz_w)
                .map(|k| i32::from(ch[k * w + x]) * i32::from(columns_done[y * w + k]))
                .sum();
            residual[y * w + x] = round_shift_clamp(sum, shift2);
        }
    }
}
