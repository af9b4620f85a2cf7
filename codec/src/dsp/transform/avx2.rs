//! AVX2 transforms, bit-identical to the scalar reference.
//!
//! Every product goes through `_mm256_madd_epi16`: two input rows are interleaved so that
//! each 32-bit lane holds one column's pair of samples, and one madd with a broadcast pair of
//! matrix coefficients adds both products for eight columns at once. Rounding, shifting and
//! the `i16` clamp are one add, one arithmetic shift and the saturating `packs`.
//!
//! * 4x4 fits one register and 8x8 four (one kind for both directions): each has a
//!   dedicated kernel whose transposes are a few shuffles, and the 8x8 inverse skips the row
//!   pairs outside the non-zero region.
//! * Every other shape (16x16, 32x32 and all rectangles) runs 1-D passes down 16-column
//!   strips, with 16x16 register transposes between passes so that both passes are vertical:
//!   the `H`-point pass down the block's columns, then the `W`-point pass down the columns of
//!   its transpose. Strips of a 4- or 8-wide block are zero-padded registers. DCT passes use
//!   the even/odd butterfly, which at 32 points needs a third of the multiplies of a matrix
//!   product; DST passes are matrix products. The inverse butterfly combines 32-bit products,
//!   so it is always exact, and skips the rows and strips outside the non-zero region. The
//!   forward one adds samples in 16 bits before multiplying, so a strip with samples too large
//!   for that (never the first pass of 8-bit residuals) takes a matrix product instead.

use std::arch::x86_64::*;

use crate::dsp::x86::transpose_8x8_lanes;

use super::{
    forward_shifts, inverse_shifts, round_shift_clamp, transposed, TxKind, DCT16, DCT32, DCT4,
    DCT8, DST16, DST4, DST8,
};

/// Expands `$body` for the block shape `($log2w, $log2h)` (each 2..=5) with the shape as
/// constants: `$w`, `$h` the sides and `$lw`, `$lh` their log2 (`_` where unused).
macro_rules! with_shape {
    ($log2w:expr, $log2h:expr, |$w:ident, $h:ident, $lw:tt, $lh:tt| $body:expr) => {
        with_shape!(@arms ($log2w, $log2h), $w, $h, $lw, $lh, $body,
            (2, 2) (2, 3) (2, 4) (2, 5) (3, 2) (3, 3) (3, 4) (3, 5)
            (4, 2) (4, 3) (4, 4) (4, 5) (5, 2) (5, 3) (5, 4) (5, 5))
    };
    (@arms $shape:expr, $w:ident, $h:ident, $lw:tt, $lh:tt, $body:expr,
        $(($log2w:literal, $log2h:literal))*) => {
        match $shape {
            $(($log2w, $log2h) => {
                const $lw: u32 = $log2w;
                const $lh: u32 = $log2h;
                const $w: usize = 1 << $log2w;
                const $h: usize = 1 << $log2h;
                $body
            })*
            _ => unreachable!("shape checked by the caller"),
        }
    };
}

/// Forward 2-D transform; shapes are validated by the caller.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn forward(
    kind_h: TxKind,
    kind_v: TxKind,
    log2w: u32,
    log2h: u32,
    residual: &[i16],
    coeffs: &mut [i16],
    bit_depth: u32,
) {
    // The shifts are const generics (immediate shift counts), so each bit depth and shape is
    // its own instantiation.
    macro_rules! at_depth {
        ($bd:literal) => {{
            const S4: (i32, i32) = forward_shifts(2, 2, $bd);
            const S8: (i32, i32) = forward_shifts(3, 3, $bd);
            match (kind_h, kind_v, log2w, log2h) {
                (TxKind::Dst7, TxKind::Dst7, 2, 2) => {
                    block4::<{ S4.0 }, { S4.1 }>(residual, &DST4_FORWARD, coeffs)
                }
                (TxKind::Dct2, TxKind::Dct2, 2, 2) => {
                    block4::<{ S4.0 }, { S4.1 }>(residual, &DCT4_FORWARD, coeffs)
                }
                (TxKind::Dct2, TxKind::Dct2, 3, 3) => {
                    block8::<{ S8.0 }, { S8.1 }>(residual, &DCT8_FORWARD, 8, 8, coeffs)
                }
                (TxKind::Dst7, TxKind::Dst7, 3, 3) => {
                    block8::<{ S8.0 }, { S8.1 }>(residual, &DST8_FORWARD, 8, 8, coeffs)
                }
                _ => with_shape!(log2w, log2h, |W, H, LW, LH| forward_rect::<
                    W,
                    H,
                    { forward_shifts(LW, LH, $bd).0 },
                    { forward_shifts(LW, LH, $bd).1 },
                >(
                    kind_h, kind_v, residual, coeffs
                )),
            }
        }};
    }
    match bit_depth {
        8 => at_depth!(8),
        _ => at_depth!(10),
    }
}

/// Inverse 2-D transform; shapes are validated by the caller, and coefficients outside the
/// top-left `nz_w` x `nz_h` region must be zero.
///
/// # Safety
/// The CPU must support AVX2.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
pub unsafe fn inverse(
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
    let dct = kind_h == TxKind::Dct2 && kind_v == TxKind::Dct2;
    macro_rules! at_depth {
        ($bd:literal) => {{
            const S: (i32, i32) = inverse_shifts($bd);
            match (kind_h, kind_v, log2w, log2h) {
                _ if dct && log2w + log2h >= 5 && (nz_w, nz_h) == (1, 1) => {
                    fill_dc(coeffs[0], residual, S)
                }
                (TxKind::Dst7, TxKind::Dst7, 2, 2) => {
                    block4::<{ S.0 }, { S.1 }>(coeffs, &DST4_INVERSE, residual)
                }
                (TxKind::Dct2, TxKind::Dct2, 2, 2) => {
                    block4::<{ S.0 }, { S.1 }>(coeffs, &DCT4_INVERSE, residual)
                }
                (TxKind::Dct2, TxKind::Dct2, 3, 3) => {
                    block8::<{ S.0 }, { S.1 }>(coeffs, &DCT8_INVERSE, nz_w, nz_h, residual)
                }
                (TxKind::Dst7, TxKind::Dst7, 3, 3) => {
                    block8::<{ S.0 }, { S.1 }>(coeffs, &DST8_INVERSE, nz_w, nz_h, residual)
                }
                // Every shape's inverse shifts are the same.
                _ => with_shape!(log2w, log2h, |W, H, _, _| inverse_rect::<
                    W,
                    H,
                    { S.0 },
                    { S.1 },
                >(
                    kind_h, kind_v, coeffs, nz_w, nz_h, residual,
                )),
            }
        }};
    }
    match bit_depth {
        8 => at_depth!(8),
        _ => at_depth!(10),
    }
}

/// Inverse DCT of a block whose only non-zero coefficient is DC: both passes multiply by the
/// flat basis (64), so every residual sample is the same. Any shape of at least 32 samples.
#[target_feature(enable = "avx2")]
fn fill_dc(dc: i16, residual: &mut [i16], (shift1, shift2): (i32, i32)) {
    let vertical = round_shift_clamp(64 * i32::from(dc), shift1);
    let value = round_shift_clamp(64 * i32::from(vertical), shift2);
    let fill = _mm256_set1_epi16(value);
    for chunk in residual.chunks_exact_mut(16) {
        store(chunk, fill);
    }
}

// ---------------------------------------------------------------------------------------
// Coefficient tables, built at compile time from the matrices in `super`.

/// Two coefficients in the 32-bit lane layout madd multiplies with an interleaved row pair:
/// `first` meets the first row's sample (low half), `second` the second row's.
const fn coef_pair(first: i16, second: i16) -> i32 {
    (first as u16 as u32 | (second as u16 as u32) << 16) as i32
}

/// `out[k][j]` weights input rows `2j` and `2j + 1` for output row `k` of `out = matrix * in`.
const fn row_pairs<const N: usize, const HALF: usize>(matrix: &[[i16; N]; N]) -> [[i32; HALF]; N] {
    assert!(2 * HALF == N);
    let mut out = [[0; HALF]; N];
    let mut k = 0;
    while k < N {
        let mut j = 0;
        while j < HALF {
            out[k][j] = coef_pair(matrix[k][2 * j], matrix[k][2 * j + 1]);
            j += 1;
        }
        k += 1;
    }
    out
}

/// Odd half of the `size`-point inverse butterfly, stored `[n][i]`: output `n < size/2`
/// weights coefficient rows `4i + 1` and `4i + 3` (of the `size`-point transform) with
/// `c[4i+1][n]` and `c[4i+3][n]`. `LEN` is `(size / 2) * (size / 4)`.
const fn inverse_odd_pairs<const LEN: usize>(size: usize) -> [i32; LEN] {
    assert!(LEN == size * size / 8);
    let mut out = [0; LEN];
    let (outputs, pairs) = (size / 2, size / 4);
    let mut n = 0;
    while n < outputs {
        let mut i = 0;
        while i < pairs {
            let first = super::dct_coef(size, 4 * i + 1, n);
            let second = super::dct_coef(size, 4 * i + 3, n);
            out[n * pairs + i] = coef_pair(first, second);
            i += 1;
        }
        n += 1;
    }
    out
}

/// Odd half of the `size`-point forward butterfly, stored `[i][m]`: odd output `2i + 1` (of
/// the `size`-point transform) weights the level's differences `2m` and `2m + 1` with
/// `c[2i+1][2m]` and `c[2i+1][2m+1]`. `LEN` is `(size / 2) * (size / 4)`.
const fn forward_odd_pairs<const LEN: usize>(size: usize) -> [i32; LEN] {
    assert!(LEN == size * size / 8);
    let mut out = [0; LEN];
    let (outputs, pairs) = (size / 2, size / 4);
    let mut i = 0;
    while i < outputs {
        let mut m = 0;
        while m < pairs {
            let first = super::dct_coef(size, 2 * i + 1, 2 * m);
            let second = super::dct_coef(size, 2 * i + 1, 2 * m + 1);
            out[i * pairs + m] = coef_pair(first, second);
            m += 1;
        }
        i += 1;
    }
    out
}

/// The four coefficient registers of a 4x4 pass (see [`pass4`]): output rows 0 and 2 come from
/// registers 0 and 1, rows 1 and 3 from registers 2 and 3; the odd registers meet the row
/// pairs with lanes swapped.
const fn block4_coefs(matrix: &[[i16; 4]; 4]) -> [[i32; 8]; 4] {
    let mut out = [[0; 8]; 4];
    let mut reg = 0;
    while reg < 4 {
        let (lane0_row, lane1_row) = if reg < 2 { (0, 2) } else { (1, 3) };
        let swapped = reg % 2 == 1;
        let mut i = 0;
        while i < 8 {
            let (row, lane) = if i < 4 {
                (lane0_row, 0)
            } else {
                (lane1_row, 1)
            };
            // Lane 0 of the unswapped register holds input rows 0,1; lane 1 rows 2,3.
            let first_input = if (lane == 1) != swapped { 2 } else { 0 };
            out[reg][i] = coef_pair(matrix[row][first_input], matrix[row][first_input + 1]);
            i += 1;
        }
        reg += 1;
    }
    out
}

static DCT4_FORWARD: [[i32; 8]; 4] = block4_coefs(&DCT4);
static DCT4_INVERSE: [[i32; 8]; 4] = block4_coefs(&transposed(&DCT4));
static DST4_FORWARD: [[i32; 8]; 4] = block4_coefs(&DST4);
static DST4_INVERSE: [[i32; 8]; 4] = block4_coefs(&transposed(&DST4));
static DCT8_FORWARD: [[i32; 4]; 8] = row_pairs(&DCT8);
static DCT8_INVERSE: [[i32; 4]; 8] = row_pairs(&transposed(&DCT8));
static DST8_FORWARD: [[i32; 4]; 8] = row_pairs(&DST8);
static DST8_INVERSE: [[i32; 4]; 8] = row_pairs(&transposed(&DST8));
static DCT4_PAIRS: [[i32; 2]; 4] = row_pairs(&DCT4);
static DST4_PAIRS: [[i32; 2]; 4] = row_pairs(&DST4);
static DST4_INVERSE_PAIRS: [[i32; 2]; 4] = row_pairs(&transposed(&DST4));
static DST16_PAIRS: [[i32; 8]; 16] = row_pairs(&DST16);
static DST16_INVERSE_PAIRS: [[i32; 8]; 16] = row_pairs(&transposed(&DST16));
static DCT16_FORWARD: [[i32; 8]; 16] = row_pairs(&DCT16);
static DCT32_FORWARD: [[i32; 16]; 32] = row_pairs(&DCT32);
static FORWARD_ODD4: [i32; 2] = forward_odd_pairs(4);
static FORWARD_ODD8: [i32; 8] = forward_odd_pairs(8);
static FORWARD_ODD16: [i32; 32] = forward_odd_pairs(16);
static FORWARD_ODD32: [i32; 128] = forward_odd_pairs(32);
static INVERSE_ODD4: [i32; 2] = inverse_odd_pairs(4);
static INVERSE_ODD8: [i32; 8] = inverse_odd_pairs(8);
static INVERSE_ODD16: [i32; 32] = inverse_odd_pairs(16);
static INVERSE_ODD32: [i32; 128] = inverse_odd_pairs(32);

/// Within each 128-bit lane, interleaves its two 4-sample halves: `a0 b0 a1 b1 a2 b2 a3 b3`.
static INTERLEAVE_HALVES: [i8; 32] = [
    0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, //
    0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
];

// ---------------------------------------------------------------------------------------
// Loads, stores and arithmetic shared by all sizes.

/// Loads 16 samples from the start of `src`.
#[target_feature(enable = "avx2")]
#[inline]
fn load(src: &[i16]) -> __m256i {
    let src = &src[..16];
    // SAFETY: `src` spans 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(src.as_ptr().cast()) }
}

/// Stores 16 samples at the start of `dst`.
#[target_feature(enable = "avx2")]
#[inline]
fn store(dst: &mut [i16], value: __m256i) {
    let dst = &mut dst[..16];
    // SAFETY: `dst` spans 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), value) }
}

/// Loads eight 32-bit constants.
#[target_feature(enable = "avx2")]
#[inline]
fn load_i32x8(values: &[i32; 8]) -> __m256i {
    // SAFETY: the array is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(values.as_ptr().cast()) }
}

/// Loads a 32-byte shuffle control.
#[target_feature(enable = "avx2")]
#[inline]
fn load_bytes(bytes: &[i8; 32]) -> __m256i {
    // SAFETY: the array is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// `(v + 2^(SHIFT-1)) >> SHIFT` on 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn round_shift<const SHIFT: i32>(v: __m256i) -> __m256i {
    _mm256_srai_epi32::<SHIFT>(_mm256_add_epi32(v, _mm256_set1_epi32(1 << (SHIFT - 1))))
}

// ---------------------------------------------------------------------------------------
// 4x4: the whole block in one register, rows 0,1 in lane 0 and rows 2,3 in lane 1.

/// Both passes of a 4x4 transform whose passes multiply by the matrix behind `coefs`.
#[target_feature(enable = "avx2")]
fn block4<const SHIFT1: i32, const SHIFT2: i32>(
    src: &[i16],
    coefs: &[[i32; 8]; 4],
    dst: &mut [i16],
) {
    let interleave = load_bytes(&INTERLEAVE_HALVES);
    // Pass 1 pairs rows (0,1) in lane 0 and (2,3) in lane 1.
    let pairs = _mm256_shuffle_epi8(load(src), interleave);
    let vertical = pass4::<SHIFT1>(pairs, _mm256_permute4x64_epi64::<0x4E>(pairs), coefs);
    // Pass 2 runs on the transpose, whose row pairs are the 32-bit columns of `vertical`.
    let pairs = _mm256_permutevar8x32_epi32(vertical, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    let swapped = _mm256_permutevar8x32_epi32(vertical, _mm256_setr_epi32(1, 3, 5, 7, 0, 2, 4, 6));
    let transposed_result = pass4::<SHIFT2>(pairs, swapped, coefs);
    // Transpose back: interleave rows (0,1) and (2,3), then gather each output row's two dwords.
    let interleaved = _mm256_shuffle_epi8(transposed_result, interleave);
    store(
        dst,
        _mm256_permutevar8x32_epi32(interleaved, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)),
    );
}

/// One 4-point pass: `pairs` holds input rows (0,1) interleaved in lane 0 and (2,3) in lane 1,
/// `swapped` the same with lanes exchanged. Returns the four output rows, in order.
#[target_feature(enable = "avx2")]
#[inline]
fn pass4<const SHIFT: i32>(pairs: __m256i, swapped: __m256i, coefs: &[[i32; 8]; 4]) -> __m256i {
    let (k0, k1) = (load_i32x8(&coefs[0]), load_i32x8(&coefs[1]));
    let (k2, k3) = (load_i32x8(&coefs[2]), load_i32x8(&coefs[3]));
    let rows02 = _mm256_add_epi32(_mm256_madd_epi16(pairs, k0), _mm256_madd_epi16(swapped, k1));
    let rows13 = _mm256_add_epi32(_mm256_madd_epi16(pairs, k2), _mm256_madd_epi16(swapped, k3));
    _mm256_packs_epi32(round_shift::<SHIFT>(rows02), round_shift::<SHIFT>(rows13))
}

// ---------------------------------------------------------------------------------------
// 8x8: four registers; a pass input holds one row pair, columns 0-3 in lane 0, 4-7 in lane 1.

/// Both passes of an 8x8 transform. `coefs` are [`row_pairs`] of the pass matrix; input rows
/// at or past `rows_used` and columns at or past `cols_used` must be zero, and are skipped.
#[target_feature(enable = "avx2")]
fn block8<const SHIFT1: i32, const SHIFT2: i32>(
    src: &[i16],
    coefs: &[[i32; 4]; 8],
    cols_used: usize,
    rows_used: usize,
    dst: &mut [i16],
) {
    let interleave = load_bytes(&INTERLEAVE_HALVES);
    let mut input_pairs = [_mm256_setzero_si256(); 4];
    for (m, pair) in input_pairs.iter_mut().enumerate() {
        // Rows 2m and 2m+1 are contiguous: spread each into both lanes' halves, then interleave.
        let rows = _mm256_permute4x64_epi64::<0xD8>(load(&src[16 * m..]));
        *pair = _mm256_shuffle_epi8(rows, interleave);
    }
    let vertical = pass8_skipping_zeros::<SHIFT1>(&input_pairs, coefs, rows_used);

    // Pass 2's row pairs are the 32-bit columns of the vertical result: pack rows k and k+4
    // together, then a 32/64-bit unpack network gathers column m of all eight rows.
    let packed = pack_rows_k_and_k_plus_4(&vertical);
    let rows01 = _mm256_unpacklo_epi32(packed[0], packed[1]);
    let rows23 = _mm256_unpacklo_epi32(packed[2], packed[3]);
    let rows45 = _mm256_unpackhi_epi32(packed[0], packed[1]);
    let rows67 = _mm256_unpackhi_epi32(packed[2], packed[3]);
    // 32-bit column m is the sample pair (2m, 2m + 1): `dwords02_top` holds 32-bit columns
    // 0 and 2 of rows 0-3 in lanes 0 and 1, and so on.
    let dwords02_top = _mm256_unpacklo_epi64(rows01, rows23);
    let dwords13_top = _mm256_unpackhi_epi64(rows01, rows23);
    let dwords02_bottom = _mm256_unpacklo_epi64(rows45, rows67);
    let dwords13_bottom = _mm256_unpackhi_epi64(rows45, rows67);
    let col_pairs = [
        _mm256_permute2x128_si256::<0x20>(dwords02_top, dwords02_bottom),
        _mm256_permute2x128_si256::<0x20>(dwords13_top, dwords13_bottom),
        _mm256_permute2x128_si256::<0x31>(dwords02_top, dwords02_bottom),
        _mm256_permute2x128_si256::<0x31>(dwords13_top, dwords13_bottom),
    ];
    let horizontal = pass8_skipping_zeros::<SHIFT2>(&col_pairs, coefs, cols_used);

    // `horizontal[n]` holds output column n for rows 0-7: transpose back into rows.
    let packed = pack_rows_k_and_k_plus_4(&horizontal);
    let cols01 = _mm256_unpacklo_epi16(packed[0], packed[1]);
    let cols45 = _mm256_unpackhi_epi16(packed[0], packed[1]);
    let cols23 = _mm256_unpacklo_epi16(packed[2], packed[3]);
    let cols67 = _mm256_unpackhi_epi16(packed[2], packed[3]);
    let left_even = _mm256_unpacklo_epi32(cols01, cols23);
    let right_even = _mm256_unpacklo_epi32(cols45, cols67);
    let left_odd = _mm256_unpackhi_epi32(cols01, cols23);
    let right_odd = _mm256_unpackhi_epi32(cols45, cols67);
    let rows04 = _mm256_unpacklo_epi64(left_even, right_even);
    let rows15 = _mm256_unpackhi_epi64(left_even, right_even);
    let rows26 = _mm256_unpacklo_epi64(left_odd, right_odd);
    let rows37 = _mm256_unpackhi_epi64(left_odd, right_odd);
    store(
        &mut dst[0..],
        _mm256_permute2x128_si256::<0x20>(rows04, rows15),
    );
    store(
        &mut dst[16..],
        _mm256_permute2x128_si256::<0x20>(rows26, rows37),
    );
    store(
        &mut dst[32..],
        _mm256_permute2x128_si256::<0x31>(rows04, rows15),
    );
    store(
        &mut dst[48..],
        _mm256_permute2x128_si256::<0x31>(rows26, rows37),
    );
}

/// [`pass8`] over only the row pairs that hold one of the first `rows_used` input rows (the
/// rest are zero), specialised so each variant is straight-line code.
#[target_feature(enable = "avx2")]
#[inline]
fn pass8_skipping_zeros<const SHIFT: i32>(
    pairs: &[__m256i; 4],
    coefs: &[[i32; 4]; 8],
    rows_used: usize,
) -> [__m256i; 8] {
    match rows_used {
        1 | 2 => pass8::<SHIFT, 1>(pairs, coefs),
        3 | 4 => pass8::<SHIFT, 2>(pairs, coefs),
        _ => pass8::<SHIFT, 4>(pairs, coefs),
    }
}

/// One 8-point pass over the first `PAIRS` interleaved row pairs; returns the eight rounded
/// 32-bit output rows.
#[target_feature(enable = "avx2")]
#[inline]
fn pass8<const SHIFT: i32, const PAIRS: usize>(
    pairs: &[__m256i; 4],
    coefs: &[[i32; 4]; 8],
) -> [__m256i; 8] {
    let mut out = [_mm256_setzero_si256(); 8];
    for (out_row, row_coefs) in out.iter_mut().zip(coefs) {
        let mut sum = _mm256_setzero_si256();
        for (&pair, &coef) in pairs[..PAIRS].iter().zip(row_coefs) {
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pair, _mm256_set1_epi32(coef)));
        }
        *out_row = round_shift::<SHIFT>(sum);
    }
    out
}

/// Saturates 32-bit rows `k` and `k + 4` into one register per `k < 4`.
#[target_feature(enable = "avx2")]
#[inline]
fn pack_rows_k_and_k_plus_4(rows: &[__m256i; 8]) -> [__m256i; 4] {
    [
        _mm256_packs_epi32(rows[0], rows[4]),
        _mm256_packs_epi32(rows[1], rows[5]),
        _mm256_packs_epi32(rows[2], rows[6]),
        _mm256_packs_epi32(rows[3], rows[7]),
    ]
}

// ---------------------------------------------------------------------------------------
// Every other shape: 1-D passes down 16-column strips of a row-major block.

/// Two 16-column rows interleaved for madd; `.0` covers columns 0-3 and 8-11, `.1` 4-7 and 12-15.
#[derive(Clone, Copy)]
struct RowPair(__m256i, __m256i);

/// 32-bit sums for 16 columns, in [`RowPair`]'s column order.
#[derive(Clone, Copy)]
struct Sums(__m256i, __m256i);

#[target_feature(enable = "avx2")]
#[inline]
fn interleave(first: __m256i, second: __m256i) -> RowPair {
    RowPair(
        _mm256_unpacklo_epi16(first, second),
        _mm256_unpackhi_epi16(first, second),
    )
}

#[target_feature(enable = "avx2")]
#[inline]
fn add(a: Sums, b: Sums) -> Sums {
    Sums(_mm256_add_epi32(a.0, b.0), _mm256_add_epi32(a.1, b.1))
}

#[target_feature(enable = "avx2")]
#[inline]
fn sub(a: Sums, b: Sums) -> Sums {
    Sums(_mm256_sub_epi32(a.0, b.0), _mm256_sub_epi32(a.1, b.1))
}

/// `sum_i coefs[i] . pairs[i]` for 16 columns (zero for no pairs).
#[target_feature(enable = "avx2")]
#[inline]
fn weighted_sum(pairs: &[RowPair], coefs: &[i32]) -> Sums {
    let mut sum = Sums(_mm256_setzero_si256(), _mm256_setzero_si256());
    for (pair, &coef) in pairs.iter().zip(coefs) {
        let coef = _mm256_set1_epi32(coef);
        sum = add(
            sum,
            Sums(
                _mm256_madd_epi16(pair.0, coef),
                _mm256_madd_epi16(pair.1, coef),
            ),
        );
    }
    sum
}

/// Rounds, shifts and saturates 16 sums back to 16 samples in column order.
#[target_feature(enable = "avx2")]
#[inline]
fn round_pack<const SHIFT: i32>(sums: Sums) -> __m256i {
    // `packs` works per 128-bit lane, which undoes the unpack's column split.
    _mm256_packs_epi32(round_shift::<SHIFT>(sums.0), round_shift::<SHIFT>(sums.1))
}

/// The first `lanes` (4, 8 or 16) samples of `src`, zero-extended to a register.
#[target_feature(enable = "avx2")]
#[inline]
fn load_lanes(src: &[i16], lanes: usize) -> __m256i {
    match lanes {
        16 => load(src),
        8 => {
            let src = &src[..8];
            // SAFETY: `src` spans 16 readable bytes; `loadu` has no alignment requirement.
            _mm256_zextsi128_si256(unsafe { _mm_loadu_si128(src.as_ptr().cast()) })
        }
        _ => {
            let src = &src[..4];
            // SAFETY: `src` spans 8 readable bytes; `loadl` has no alignment requirement.
            _mm256_zextsi128_si256(unsafe { _mm_loadl_epi64(src.as_ptr().cast()) })
        }
    }
}

/// Stores the first `lanes` (4, 8 or 16) samples of `value` at the start of `dst`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_lanes(dst: &mut [i16], value: __m256i, lanes: usize) {
    match lanes {
        16 => store(dst, value),
        8 => {
            let dst = &mut dst[..8];
            // SAFETY: `dst` spans 16 writable bytes; `storeu` has no alignment requirement.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), _mm256_castsi256_si128(value)) }
        }
        _ => {
            let dst = &mut dst[..4];
            // SAFETY: `dst` spans 8 writable bytes; `storel` has no alignment requirement.
            unsafe { _mm_storel_epi64(dst.as_mut_ptr().cast(), _mm256_castsi256_si128(value)) }
        }
    }
}

/// Where a pass reads its strip: rows `stride` apart from the start of `data`, each
/// `lanes` (4, 8 or 16) samples wide, the register's other lanes zero.
#[derive(Clone, Copy)]
struct Strip<'a> {
    data: &'a [i16],
    stride: usize,
    lanes: usize,
}

impl Strip<'_> {
    /// Row `k`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn row(&self, k: usize) -> __m256i {
        load_lanes(&self.data[k * self.stride..], self.lanes)
    }

    /// Row `k`, or zero if `k >= nz`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn row_or_zero(&self, nz: usize, k: usize) -> __m256i {
        if k < nz {
            self.row(k)
        } else {
            _mm256_setzero_si256()
        }
    }
}

/// Forward `W x H` transform: the `H`-point (`kind_v`) pass down 16-column strips of the
/// residual, each strip transposed into `between` (`W` rows of `H`); then the `W`-point
/// (`kind_h`) pass down strips of `between`, transposed into `coeffs`.
#[target_feature(enable = "avx2")]
fn forward_rect<const W: usize, const H: usize, const SHIFT1: i32, const SHIFT2: i32>(
    kind_h: TxKind,
    kind_v: TxKind,
    residual: &[i16],
    coeffs: &mut [i16],
) {
    let mut work = ForwardWork::new();
    let mut vertical = [_mm256_setzero_si256(); H];
    let mut between = [[0i16; H]; W];
    let between = between.as_flattened_mut();
    for first_col in (0..W).step_by(16) {
        let strip = Strip {
            data: &residual[first_col..],
            stride: W,
            lanes: W.min(16),
        };
        forward_pass::<H, SHIFT1>(strip, kind_v, &mut work, &mut vertical);
        store_transposed(&vertical, &mut between[first_col * H..], W.min(16));
    }
    let mut horizontal = [_mm256_setzero_si256(); W];
    for first_col in (0..H).step_by(16) {
        let strip = Strip {
            data: &between[first_col..],
            stride: H,
            lanes: H.min(16),
        };
        forward_pass::<W, SHIFT2>(strip, kind_h, &mut work, &mut horizontal);
        store_transposed(&horizontal, &mut coeffs[first_col * W..], H.min(16));
    }
}

/// Inverse `W x H` transform, structured as [`forward_rect`]. Strips right of the non-zero
/// region are skipped (their vertical output is zero, and `between` rows past `nz_w` are
/// never read), and each pass reads only the rows that may be non-zero.
#[target_feature(enable = "avx2")]
fn inverse_rect<const W: usize, const H: usize, const SHIFT1: i32, const SHIFT2: i32>(
    kind_h: TxKind,
    kind_v: TxKind,
    coeffs: &[i16],
    nz_w: usize,
    nz_h: usize,
    residual: &mut [i16],
) {
    let mut work = InverseWork::new();
    let mut vertical = [_mm256_setzero_si256(); H];
    let mut between = [[0i16; H]; W];
    let between = between.as_flattened_mut();
    for first_col in (0..nz_w).step_by(16) {
        let strip = Strip {
            data: &coeffs[first_col..],
            stride: W,
            lanes: W.min(16),
        };
        inverse_pass::<H, SHIFT1>(strip, nz_h, kind_v, &mut work, &mut vertical);
        store_transposed(&vertical, &mut between[first_col * H..], W.min(16));
    }
    let mut horizontal = [_mm256_setzero_si256(); W];
    for first_col in (0..H).step_by(16) {
        let strip = Strip {
            data: &between[first_col..],
            stride: H,
            lanes: H.min(16),
        };
        inverse_pass::<W, SHIFT2>(strip, nz_w, kind_h, &mut work, &mut horizontal);
        store_transposed(&horizontal, &mut residual[first_col * W..], H.min(16));
    }
}

/// Working storage of [`forward_pass`], allocated (and zero-filled) once per block.
struct ForwardWork {
    /// The strip's rows; the butterfly replaces them level by level with their even parts.
    rows: [__m256i; 32],
    /// Rows interleaved in pairs for madd.
    pairs: [RowPair; 16],
}

impl ForwardWork {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new() -> ForwardWork {
        let zero = _mm256_setzero_si256();
        ForwardWork {
            rows: [zero; 32],
            pairs: [RowPair(zero, zero); 16],
        }
    }
}

/// Forward `N`-point 1-D pass of `kind` down `strip`: `out[k] = round(sum_y c[k][y] * row y)`.
///
/// For the DCT, the even/odd butterfly needs a third of the multiplies, but adds up to
/// `N / 2` samples in 16 bits before multiplying; strips whose samples are small enough for
/// that (always, for 8-bit residuals in the first pass) take it, the others a plain matrix
/// product. The DST is always a matrix product.
#[target_feature(enable = "avx2")]
#[inline]
fn forward_pass<const N: usize, const SHIFT: i32>(
    strip: Strip,
    kind: TxKind,
    work: &mut ForwardWork,
    out: &mut [__m256i; N],
) {
    let rows = &mut work.rows[..N];
    for (y, row) in rows.iter_mut().enumerate() {
        *row = strip.row(y);
    }
    if kind == TxKind::Dst7 {
        forward_matrix::<N, SHIFT>(rows, &mut work.pairs, forward_pairs(kind, N), out);
        return;
    }
    let limit = _mm256_set1_epi16((i16::MAX as usize / (N / 2)) as i16);
    let mut largest = _mm256_setzero_si256();
    for &row in rows.iter() {
        // |i16::MIN| reads as 32768 unsigned, so it too exceeds the limit.
        largest = _mm256_max_epu16(largest, _mm256_abs_epi16(row));
    }
    let within_limit = _mm256_cmpeq_epi16(_mm256_max_epu16(largest, limit), limit);
    if _mm256_movemask_epi8(within_limit) == -1 {
        forward_butterfly::<N, SHIFT>(rows, &mut work.pairs, out);
    } else {
        forward_matrix::<N, SHIFT>(rows, &mut work.pairs, forward_pairs(kind, N), out);
    }
}

/// [`row_pairs`] of the `n`-point forward matrix of `kind`, flattened.
fn forward_pairs(kind: TxKind, n: usize) -> &'static [i32] {
    match (kind, n) {
        (TxKind::Dst7, 4) => DST4_PAIRS.as_flattened(),
        (TxKind::Dst7, 8) => DST8_FORWARD.as_flattened(),
        (TxKind::Dst7, _) => DST16_PAIRS.as_flattened(),
        (_, 4) => DCT4_PAIRS.as_flattened(),
        (_, 8) => DCT8_FORWARD.as_flattened(),
        (_, 16) => DCT16_FORWARD.as_flattened(),
        _ => DCT32_FORWARD.as_flattened(),
    }
}

/// [`forward_pass`] as a matrix product with rows `2j` and `2j + 1` interleaved; `coefs` are
/// the matrix's [`row_pairs`], flattened.
#[target_feature(enable = "avx2")]
#[inline]
fn forward_matrix<const N: usize, const SHIFT: i32>(
    rows: &[__m256i],
    pairs: &mut [RowPair; 16],
    coefs: &[i32],
    out: &mut [__m256i; N],
) {
    let pairs = &mut pairs[..N / 2];
    for (j, pair) in pairs.iter_mut().enumerate() {
        *pair = interleave(rows[2 * j], rows[2 * j + 1]);
    }
    for (k, out_row) in out.iter_mut().enumerate() {
        *out_row = round_pack::<SHIFT>(weighted_sum(pairs, &coefs[k * N / 2..]));
    }
}

/// [`forward_pass`] by the even/odd butterfly, valid when no sum of `N / 2` input samples
/// overflows 16 bits. Each level splits its `size` rows into the sums `x[n] + x[size-1-n]`,
/// kept for the next level, and differences `x[n] - x[size-1-n]`, which give the level's odd
/// outputs (frequencies `(2i + 1) * N / size`).
#[target_feature(enable = "avx2")]
#[inline]
fn forward_butterfly<const N: usize, const SHIFT: i32>(
    rows: &mut [__m256i],
    pairs: &mut [RowPair; 16],
    out: &mut [__m256i; N],
) {
    let mut size = N;
    while size > 2 {
        let pairs = &mut pairs[..size / 4];
        for (m, pair) in pairs.iter_mut().enumerate() {
            let first = _mm256_sub_epi16(rows[2 * m], rows[size - 1 - 2 * m]);
            let second = _mm256_sub_epi16(rows[2 * m + 1], rows[size - 2 - 2 * m]);
            *pair = interleave(first, second);
        }
        for n in 0..size / 2 {
            rows[n] = _mm256_add_epi16(rows[n], rows[size - 1 - n]);
        }
        let step = N / size;
        for (i, coefs) in forward_odd_coefs(size).chunks_exact(size / 4).enumerate() {
            out[step * (2 * i + 1)] = round_pack::<SHIFT>(weighted_sum(pairs, coefs));
        }
        size /= 2;
    }
    let seed = interleave(rows[0], rows[1]);
    out[0] = round_pack::<SHIFT>(weighted_sum(&[seed], &[coef_pair(64, 64)]));
    out[N / 2] = round_pack::<SHIFT>(weighted_sum(&[seed], &[coef_pair(64, -64)]));
}

/// Working storage of [`inverse_pass`], allocated (and zero-filled) once per block.
struct InverseWork {
    /// The even part of the butterfly so far: the outputs of the current level.
    even: [Sums; 16],
    /// The current level's odd rows (or a matrix product's rows), interleaved in pairs.
    pairs: [RowPair; 8],
}

impl InverseWork {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new() -> InverseWork {
        let zero = _mm256_setzero_si256();
        InverseWork {
            even: [Sums(zero, zero); 16],
            pairs: [RowPair(zero, zero); 8],
        }
    }
}

/// Inverse `N`-point 1-D pass of `kind` down `strip`, `out[n] = round(sum_k c[k][n] * row
/// k)`. Rows at or past `nz` must be zero and are never read.
#[target_feature(enable = "avx2")]
#[inline]
fn inverse_pass<const N: usize, const SHIFT: i32>(
    strip: Strip,
    nz: usize,
    kind: TxKind,
    work: &mut InverseWork,
    out: &mut [__m256i; N],
) {
    match kind {
        TxKind::Dct2 => inverse_butterfly::<N, SHIFT>(strip, nz, work, out),
        TxKind::Dst7 => inverse_matrix::<N, SHIFT>(strip, nz, inverse_dst_pairs(N), work, out),
    }
}

/// [`row_pairs`] of the transpose of the `n`-point DST, flattened.
fn inverse_dst_pairs(n: usize) -> &'static [i32] {
    match n {
        4 => DST4_INVERSE_PAIRS.as_flattened(),
        8 => DST8_INVERSE.as_flattened(),
        _ => DST16_INVERSE_PAIRS.as_flattened(),
    }
}

/// [`inverse_pass`] as a matrix product over the row pairs that hold one of the first `nz`
/// rows; `coefs` are the [`row_pairs`] of the transposed matrix, flattened.
#[target_feature(enable = "avx2")]
#[inline]
fn inverse_matrix<const N: usize, const SHIFT: i32>(
    strip: Strip,
    nz: usize,
    coefs: &[i32],
    work: &mut InverseWork,
    out: &mut [__m256i; N],
) {
    let pairs = &mut work.pairs[..nz.div_ceil(2)];
    for (j, pair) in pairs.iter_mut().enumerate() {
        *pair = interleave(strip.row(2 * j), strip.row_or_zero(nz, 2 * j + 1));
    }
    for (n, out_row) in out.iter_mut().enumerate() {
        *out_row = round_pack::<SHIFT>(weighted_sum(pairs, &coefs[n * N / 2..]));
    }
}

/// [`inverse_pass`] of the DCT by the even/odd butterfly.
///
/// Built bottom-up: the 2-point transform of rows 0 and N/2 seeds the even part, and each
/// level doubles it by adding and subtracting the contribution of that level's odd rows
/// (`c[k][size-1-n]` is `c[k][n]` for even k, `-c[k][n]` for odd k). Sums stay exact in 32 bits.
#[target_feature(enable = "avx2")]
#[inline]
fn inverse_butterfly<const N: usize, const SHIFT: i32>(
    strip: Strip,
    nz: usize,
    work: &mut InverseWork,
    out: &mut [__m256i; N],
) {
    let seed = interleave(strip.row_or_zero(nz, 0), strip.row_or_zero(nz, N / 2));
    let even = &mut work.even;
    even[0] = weighted_sum(&[seed], &[coef_pair(64, 64)]);
    even[1] = weighted_sum(&[seed], &[coef_pair(64, -64)]);
    let mut size = 4;
    while size < N {
        let pairs = odd_row_pairs::<N>(strip, nz, size, &mut work.pairs);
        for (n, coefs) in inverse_odd_coefs(size).chunks_exact(size / 4).enumerate() {
            let odd = weighted_sum(pairs, coefs);
            let e = even[n];
            even[n] = add(e, odd);
            even[size - 1 - n] = sub(e, odd);
        }
        size *= 2;
    }
    let pairs = odd_row_pairs::<N>(strip, nz, N, &mut work.pairs);
    for (n, coefs) in inverse_odd_coefs(N).chunks_exact(N / 4).enumerate() {
        let odd = weighted_sum(pairs, coefs);
        out[n] = round_pack::<SHIFT>(add(even[n], odd));
        out[N - 1 - n] = round_pack::<SHIFT>(sub(even[n], odd));
    }
}

/// Interleaves into `pairs` the odd rows of the `size`-point butterfly level of an `N`-point
/// inverse, rows `(4i+1) * step` with `(4i+3) * step` for `step = N / size`, stopping at the
/// first pair past `nz`; returns the pairs written.
#[target_feature(enable = "avx2")]
#[inline]
fn odd_row_pairs<'a, const N: usize>(
    strip: Strip,
    nz: usize,
    size: usize,
    pairs: &'a mut [RowPair; 8],
) -> &'a [RowPair] {
    let step = N / size;
    let used = (0..size / 4)
        .take_while(|&i| step * (4 * i + 1) < nz)
        .count();
    for (i, pair) in pairs[..used].iter_mut().enumerate() {
        let first = strip.row_or_zero(nz, step * (4 * i + 1));
        *pair = interleave(first, strip.row_or_zero(nz, step * (4 * i + 3)));
    }
    &pairs[..used]
}

/// [`forward_odd_pairs`] of one butterfly level.
fn forward_odd_coefs(size: usize) -> &'static [i32] {
    match size {
        4 => &FORWARD_ODD4,
        8 => &FORWARD_ODD8,
        16 => &FORWARD_ODD16,
        _ => &FORWARD_ODD32,
    }
}

/// [`inverse_odd_pairs`] of one butterfly level.
fn inverse_odd_coefs(size: usize) -> &'static [i32] {
    match size {
        4 => &INVERSE_ODD4,
        8 => &INVERSE_ODD8,
        16 => &INVERSE_ODD16,
        _ => &INVERSE_ODD32,
    }
}

/// Stores the transpose of a strip (`N` rows of 16 samples) as its first `rows` (at most 16)
/// rows of `N` samples, row stride `N`, at the start of `dst`. A strip of fewer than 16 rows
/// is transposed as if padded with zero rows.
#[target_feature(enable = "avx2")]
#[inline]
fn store_transposed<const N: usize>(strip: &[__m256i; N], dst: &mut [i16], rows: usize) {
    if N < 16 {
        let mut padded = [_mm256_setzero_si256(); 16];
        padded[..N].copy_from_slice(strip);
        for (j, &row) in transpose16(padded)[..rows].iter().enumerate() {
            store_lanes(&mut dst[j * N..], row, N);
        }
        return;
    }
    for (block, block_rows) in strip.chunks_exact(16).enumerate() {
        let transposed = transpose16(block_rows.try_into().unwrap());
        for (j, &row) in transposed[..rows].iter().enumerate() {
            store(&mut dst[j * N + 16 * block..], row);
        }
    }
}

/// Transposes a 16x16 block of samples held as 16 rows.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose16(rows: [__m256i; 16]) -> [__m256i; 16] {
    let top = transpose_8x8_lanes(rows[..8].try_into().unwrap());
    let bottom = transpose_8x8_lanes(rows[8..].try_into().unwrap());
    // Output row j joins column j of the top and bottom halves, kept in lane 0 for j < 8.
    let mut out = [_mm256_setzero_si256(); 16];
    for j in 0..8 {
        out[j] = _mm256_permute2x128_si256::<0x20>(top[j], bottom[j]);
        out[j + 8] = _mm256_permute2x128_si256::<0x31>(top[j], bottom[j]);
    }
    out
}
