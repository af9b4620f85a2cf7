//! AVX2 distortion measures, equal to the scalar reference.
//!
//! Samples are widened to 16 bits. Differences of 8-bit samples and their Hadamard transforms
//! fit there (an 8x8 Hadamard coefficient is at most 64 * 255), and squares and magnitudes
//! are summed in 32 bits with `madd`.

use std::arch::x86_64::*;

use crate::dsp::x86::transpose_8x8_lanes;

use super::hadamard_tile;

/// Sum of squared differences; shapes are validated by the caller.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn sse(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> u64 {
    let square_sum = |diff: __m256i| _mm256_madd_epi16(diff, diff);
    // Each lane gathers at most 64 * 64 * 255^2 < 2^31.
    let mut sum = _mm256_setzero_si256();
    match w {
        4 => {
            for top in (0..h).step_by(4) {
                let diff = _mm256_sub_epi16(
                    rows_of_4(a, top * a_stride, a_stride),
                    rows_of_4(b, top * b_stride, b_stride),
                );
                sum = _mm256_add_epi32(sum, square_sum(diff));
            }
        }
        8 => {
            for top in (0..h).step_by(2) {
                let diff = _mm256_sub_epi16(
                    rows_of_8(a, top * a_stride, a_stride),
                    rows_of_8(b, top * b_stride, b_stride),
                );
                sum = _mm256_add_epi32(sum, square_sum(diff));
            }
        }
        _ => {
            for y in 0..h {
                for left in (0..w).step_by(16) {
                    let diff = _mm256_sub_epi16(
                        widen16(&a[y * a_stride + left..]),
                        widen16(&b[y * b_stride + left..]),
                    );
                    sum = _mm256_add_epi32(sum, square_sum(diff));
                }
            }
        }
    }
    u64::from(horizontal_sum(sum))
}

/// HM-style SATD; shapes are validated by the caller.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn satd(
    a: &[u8],
    a_stride: usize,
    b: &[u8],
    b_stride: usize,
    w: usize,
    h: usize,
) -> u32 {
    if hadamard_tile(w, h) == 8 {
        satd_8x8_tiles(a, a_stride, b, b_stride, w, h)
    } else {
        satd_4x4_tiles(a, a_stride, b, b_stride, w, h)
    }
}

/// SATD over 8x8 tiles, two at a time: side by side when the block is at least 16 wide,
/// else (8 wide) one above the other, the last one alone with a zero partner.
#[target_feature(enable = "avx2")]
fn satd_8x8_tiles(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> u32 {
    let mut total = _mm256_setzero_si256();
    if w >= 16 {
        for top in (0..h).step_by(8) {
            for left in (0..w).step_by(16) {
                let mut rows = [_mm256_setzero_si256(); 8];
                for (i, row) in rows.iter_mut().enumerate() {
                    let (at_a, at_b) = ((top + i) * a_stride + left, (top + i) * b_stride + left);
                    *row = _mm256_sub_epi16(widen16(&a[at_a..]), widen16(&b[at_b..]));
                }
                total = _mm256_add_epi32(total, satd_8x8_pair(rows));
            }
        }
    } else {
        let diff8 = |y: usize| {
            let (row_a, row_b) = (widen8(&a[y * a_stride..]), widen8(&b[y * b_stride..]));
            _mm_sub_epi16(row_a, row_b)
        };
        for top in (0..h).step_by(16) {
            let mut rows = [_mm256_setzero_si256(); 8];
            for (i, row) in rows.iter_mut().enumerate() {
                let lower = if top + 8 < h {
                    diff8(top + 8 + i)
                } else {
                    _mm_setzero_si128()
                };
                *row = _mm256_set_m128i(lower, diff8(top + i));
            }
            total = _mm256_add_epi32(total, satd_8x8_pair(rows));
        }
    }
    horizontal_sum(total)
}

/// Normalised SATDs of the two 8x8 tiles whose difference rows are lanes 0 and 1 of `rows`,
/// in a vector whose lanes add up to their total.
#[target_feature(enable = "avx2")]
fn satd_8x8_pair(rows: [__m256i; 8]) -> __m256i {
    let coefs = hadamard_down(transpose_8x8_lanes(hadamard_down(rows)));
    // Two magnitudes of at most 64 * 255 still fit i16; madd then sums into 32 bits.
    let ones = _mm256_set1_epi16(1);
    let pair_sum = |i: usize| {
        let magnitudes =
            _mm256_add_epi16(_mm256_abs_epi16(coefs[i]), _mm256_abs_epi16(coefs[i + 1]));
        _mm256_madd_epi16(magnitudes, ones)
    };
    let sums = _mm256_add_epi32(
        _mm256_add_epi32(pair_sum(0), pair_sum(2)),
        _mm256_add_epi32(pair_sum(4), pair_sum(6)),
    );
    // Each lane's four partial sums into its first element, zeros elsewhere (which normalise to 0).
    let zero = _mm256_setzero_si256();
    let tile_sums = _mm256_hadd_epi32(_mm256_hadd_epi32(sums, zero), zero);
    _mm256_srli_epi32::<2>(_mm256_add_epi32(tile_sums, _mm256_set1_epi32(2)))
}

/// 8-point Hadamard down the columns: butterflies between registers.
#[target_feature(enable = "avx2")]
#[inline]
fn hadamard_down(mut rows: [__m256i; 8]) -> [__m256i; 8] {
    for half in [1, 2, 4] {
        for start in (0..8).step_by(2 * half) {
            for i in start..start + half {
                let (p, q) = (rows[i], rows[i + half]);
                rows[i] = _mm256_add_epi16(p, q);
                rows[i + half] = _mm256_sub_epi16(p, q);
            }
        }
    }
    rows
}

/// SATD over 4x4 tiles, one register per tile (rows 0,1 in lane 0, rows 2,3 in lane 1).
#[target_feature(enable = "avx2")]
fn satd_4x4_tiles(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> u32 {
    let mut total = 0;
    for top in (0..h).step_by(4) {
        for left in (0..w).step_by(4) {
            let diff = _mm256_sub_epi16(
                rows_of_4(a, top * a_stride + left, a_stride),
                rows_of_4(b, top * b_stride + left, b_stride),
            );
            total += satd_4x4(diff);
        }
    }
    total
}

/// Normalised SATD of one 4x4 tile of differences.
///
/// Each Hadamard stage pairs every sample with a partner a fixed distance away (rows two
/// apart, rows one apart, columns two apart, columns one apart): adding the register with its
/// partners swapped in, to itself with the second of each pair negated, gives sums and
/// differences in place.
#[target_feature(enable = "avx2")]
fn satd_4x4(diff: __m256i) -> u32 {
    let butterfly = |v: __m256i, swapped: __m256i, signs: __m256i| {
        _mm256_add_epi16(swapped, _mm256_sign_epi16(v, signs))
    };
    let (p, n) = (1, -1);
    let rows_2_apart = _mm256_setr_epi16(p, p, p, p, p, p, p, p, n, n, n, n, n, n, n, n);
    let rows_1_apart = _mm256_setr_epi16(p, p, p, p, n, n, n, n, p, p, p, p, n, n, n, n);
    let cols_2_apart = _mm256_setr_epi16(p, p, n, n, p, p, n, n, p, p, n, n, p, p, n, n);
    let cols_1_apart = _mm256_setr_epi16(p, n, p, n, p, n, p, n, p, n, p, n, p, n, p, n);
    let swap_neighbours = _mm256_setr_epi8(
        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, //
        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
    );
    let v = butterfly(diff, _mm256_permute4x64_epi64::<0x4e>(diff), rows_2_apart);
    let v = butterfly(v, _mm256_shuffle_epi32::<0x4e>(v), rows_1_apart);
    let v = butterfly(v, _mm256_shuffle_epi32::<0xb1>(v), cols_2_apart);
    let v = butterfly(v, _mm256_shuffle_epi8(v, swap_neighbours), cols_1_apart);
    let sum = horizontal_sum(_mm256_madd_epi16(_mm256_abs_epi16(v), _mm256_set1_epi16(1)));
    (sum + 1) >> 1
}

/// Sum of the eight 32-bit lanes, as unsigned (callers' sums are below 2^31).
#[target_feature(enable = "avx2")]
#[inline]
fn horizontal_sum(v: __m256i) -> u32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0x4e>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0xb1>(s));
    _mm_cvtsi128_si32(s) as u32
}

/// 16 samples at the start of `src`, widened to 16 bits.
#[target_feature(enable = "avx2")]
#[inline]
fn widen16(src: &[u8]) -> __m256i {
    let src = &src[..16];
    // SAFETY: `src` spans 16 readable bytes; `loadu` has no alignment requirement.
    _mm256_cvtepu8_epi16(unsafe { _mm_loadu_si128(src.as_ptr().cast()) })
}

/// 8 samples at the start of `src`, widened to 16 bits.
#[target_feature(enable = "avx2")]
#[inline]
fn widen8(src: &[u8]) -> __m128i {
    let bytes: [u8; 8] = src[..8].try_into().unwrap();
    _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(bytes)))
}

/// Four rows of 4 samples (row `i` at `at + i * stride`), widened: rows 0,1 in lane 0 and
/// rows 2,3 in lane 1.
#[target_feature(enable = "avx2")]
#[inline]
fn rows_of_4(src: &[u8], at: usize, stride: usize) -> __m256i {
    let row = |i: usize| i32::from_le_bytes(src[at + i * stride..][..4].try_into().unwrap());
    _mm256_cvtepu8_epi16(_mm_setr_epi32(row(0), row(1), row(2), row(3)))
}

/// Two rows of 8 samples (at `at` and `at + stride`), widened: one per lane.
#[target_feature(enable = "avx2")]
#[inline]
fn rows_of_8(src: &[u8], at: usize, stride: usize) -> __m256i {
    let row = |i: usize| i64::from_le_bytes(src[at + i * stride..][..8].try_into().unwrap());
    _mm256_cvtepu8_epi16(_mm_set_epi64x(row(1), row(0)))
}

/// Sum of absolute differences: `vpsadbw` on 16 or 32 samples per row, 4 and 8
/// wide blocks by gathering rows into one register.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn sad(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> u32 {
    let mut acc = _mm256_setzero_si256();
    match w {
        4 => {
            let rows = |src: &[u8], at: usize, stride: usize| {
                let row =
                    |i: usize| i32::from_le_bytes(src[at + i * stride..][..4].try_into().unwrap());
                _mm_setr_epi32(row(0), row(1), row(2), row(3))
            };
            for y in (0..h).step_by(4) {
                let d = _mm_sad_epu8(
                    rows(a, y * a_stride, a_stride),
                    rows(b, y * b_stride, b_stride),
                );
                acc = _mm256_add_epi64(acc, _mm256_castsi128_si256(d));
            }
        }
        8 => {
            let rows = |src: &[u8], at: usize, stride: usize| {
                let row =
                    |i: usize| i64::from_le_bytes(src[at + i * stride..][..8].try_into().unwrap());
                _mm_set_epi64x(row(1), row(0))
            };
            for y in (0..h).step_by(2) {
                let d = _mm_sad_epu8(
                    rows(a, y * a_stride, a_stride),
                    rows(b, y * b_stride, b_stride),
                );
                acc = _mm256_add_epi64(acc, _mm256_castsi128_si256(d));
            }
        }
        16 => {
            for y in 0..h {
                // SAFETY: each slice is 16 bytes long, the size of the unaligned load.
                let (va, vb) = unsafe {
                    (
                        _mm_loadu_si128(a[y * a_stride..][..16].as_ptr().cast()),
                        _mm_loadu_si128(b[y * b_stride..][..16].as_ptr().cast()),
                    )
                };
                acc = _mm256_add_epi64(acc, _mm256_castsi128_si256(_mm_sad_epu8(va, vb)));
            }
        }
        _ => {
            for y in 0..h {
                for x in (0..w).step_by(32) {
                    // SAFETY: each slice is 32 bytes long, the size of the unaligned load.
                    let (va, vb) = unsafe {
                        (
                            _mm256_loadu_si256(a[y * a_stride + x..][..32].as_ptr().cast()),
                            _mm256_loadu_si256(b[y * b_stride + x..][..32].as_ptr().cast()),
                        )
                    };
                    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(va, vb));
                }
            }
        }
    }
    let lo = _mm256_castsi256_si128(acc);
    let hi = _mm256_extracti128_si256::<1>(acc);
    let s = _mm_add_epi64(lo, hi);
    (_mm_cvtsi128_si64(s) + _mm_extract_epi64::<1>(s)) as u32
}
