//! Scalar reference for HEVC fractional-sample interpolation (H.265 8.5.3.3.3, BitDepth 8
//! or 10) and the final sample writers, written to follow the spec closely. The SIMD
//! kernels are tested for bit-exact agreement with it.
//!
//! Callers (the dispatch in `mod.rs`) have validated the block size, the fractions, the
//! slice lengths and the strides.

use super::{saturate_i16, MAX_BLOCK, SECOND_PASS_SHIFT};

/// Interpolates a `w` x `h` block with the `T`-tap filters `hf` (horizontal) and `vf`
/// (vertical); `full_x` / `full_y` say the fraction is 0 in that direction, so that
/// direction is not filtered at all.
///
/// `T / 2 - 1` taps lie before the integer position and `T / 2` after it: the filter
/// window of output sample (x, y) starts at sample (x - (T/2 - 1), y - (T/2 - 1)).
#[allow(clippy::too_many_arguments)]
pub fn interpolate<const T: usize>(
    hf: &[i8; T],
    vf: &[i8; T],
    (full_x, full_y): (bool, bool),
    src: &[u16],
    stride: usize,
    origin: usize,
    (w, h): (usize, usize),
    dst: &mut [i16],
    dst_stride: usize,
    bit_depth: u32,
) {
    let shift1 = bit_depth - 8;
    let before = T / 2 - 1;
    // Index of the top-left sample of the whole footprint, (-before, -before).
    let top_left = origin - before * stride - before;
    // Sample at footprint row `r`, column `c` (block row r - before, column c - before).
    let sample = |r: usize, c: usize| i32::from(src[top_left + r * stride + c]);
    let tap = |f: &[i8; T], i: usize| i32::from(f[i]);
    match (full_x, full_y) {
        (true, true) => {
            for y in 0..h {
                for x in 0..w {
                    dst[y * dst_stride + x] =
                        exact_i16(sample(y + before, x + before) << (14 - bit_depth));
                }
            }
        }
        (false, true) => {
            for y in 0..h {
                for x in 0..w {
                    let sum: i32 = (0..T).map(|i| tap(hf, i) * sample(y + before, x + i)).sum();
                    dst[y * dst_stride + x] = exact_i16(sum >> shift1);
                }
            }
        }
        (true, false) => {
            for y in 0..h {
                for x in 0..w {
                    let sum: i32 = (0..T).map(|i| tap(vf, i) * sample(y + i, x + before)).sum();
                    dst[y * dst_stride + x] = exact_i16(sum >> shift1);
                }
            }
        }
        (false, false) => {
            // First pass: every footprint row, shifted by shift1 = BitDepth - 8.
            let mut tmp = [0i16; MAX_BLOCK * (MAX_BLOCK + 7)];
            for r in 0..h + T - 1 {
                for x in 0..w {
                    let sum: i32 = (0..T).map(|i| tap(hf, i) * sample(r, x + i)).sum();
                    tmp[r * w + x] = exact_i16(sum >> shift1);
                }
            }
            // Second pass down the columns of the first, shifted by shift2 = 6.
            for y in 0..h {
                for x in 0..w {
                    let sum: i32 = (0..T)
                        .map(|i| tap(vf, i) * i32::from(tmp[(y + i) * w + x]))
                        .sum();
                    dst[y * dst_stride + x] = saturate_i16(sum >> SECOND_PASS_SHIFT);
                }
            }
        }
    }
}

/// A value the module's bounds analysis proves fits i16 (see `mod.rs`).
#[inline]
fn exact_i16(v: i32) -> i16 {
    debug_assert!(i16::try_from(v).is_ok(), "intermediate {v} outside i16");
    v as i16
}

/// `dst = clip(0, max, (v + offset) >> shift)` with `shift = 14 - BitDepth`.
pub fn put_uni(
    src: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    let shift = 14 - bit_depth;
    let max = (1 << bit_depth) - 1;
    for y in 0..h {
        let row = &src[y * src_stride..][..w];
        for (out, &v) in dst[y * dst_stride..][..w].iter_mut().zip(row) {
            *out = ((i32::from(v) + (1 << (shift - 1))) >> shift).clamp(0, max) as u16;
        }
    }
}

/// `dst = clip(0, max, (a + b + offset) >> shift)` with `shift = 15 - BitDepth`.
pub fn put_bi(
    a: &[i16],
    b: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    let shift = 15 - bit_depth;
    let max = (1 << bit_depth) - 1;
    for y in 0..h {
        let a_row = &a[y * src_stride..][..w];
        let b_row = &b[y * src_stride..][..w];
        let out_row = &mut dst[y * dst_stride..][..w];
        for ((out, &va), &vb) in out_row.iter_mut().zip(a_row).zip(b_row) {
            *out = ((i32::from(va) + i32::from(vb) + (1 << (shift - 1))) >> shift).clamp(0, max)
                as u16;
        }
    }
}
