//! AVX2 transforms, bit-identical to the scalar reference.
//!
//! Every product goes through `_mm256_madd_epi16`: two input rows are interleaved so that
//! each 32-bit lane holds one column's pair of samples, and one madd with a broadcast pair of
//! matrix coefficients adds both products for eight columns at once. Rounding, shifting and
//! the `i16` clamp are one add, one arithmetic shift and the saturating `packs`.
//!
//! * 4x4 fits one register and 8x8 four: each has a dedicated kernel whose transposes are a
//!   few shuffles.
//! * 16x16 and 32x32 run 1-D passes down 16-column strips, with a 16x16 register transpose
//!   between passes, so both passes are vertical. Inverse passes use the even/odd butterfly
//!   (at 32 points, a third of the multiplies of a matrix product) and skip the rows and
//!   columns outside the non-zero region. Forward passes are plain matrix products: their
//!   butterfly would add input samples before multiplying, which overflows 16 bits.

use std::arch::x86_64::*;

use super::{forward_shifts, transposed, TxKind, DCT16, DCT32, DCT4, DCT8, DST4, INVERSE_SHIFTS};

/// Forward 2-D transform; shapes are validated by the caller.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn forward(kind: TxKind, log2n: u32, residual: &[i16], coeffs: &mut [i16]) {
    const S4: (i32, i32) = forward_shifts(2);
    const S8: (i32, i32) = forward_shifts(3);
    const S16: (i32, i32) = forward_shifts(4);
    const S32: (i32, i32) = forward_shifts(5);
    match (kind, log2n) {
        (TxKind::Dst7, _) => block4::<{ S4.0 }, { S4.1 }>(residual, &DST4_FORWARD, coeffs),
        (_, 2) => block4::<{ S4.0 }, { S4.1 }>(residual, &DCT4_FORWARD, coeffs),
        (_, 3) => block8::<{ S8.0 }, { S8.1 }>(residual, &DCT8_FORWARD, 8, 8, coeffs),
        (_, 4) => forward_strips::<16, { S16.0 }, { S16.1 }>(residual, coeffs),
        _ => forward_strips::<32, { S32.0 }, { S32.1 }>(residual, coeffs),
    }
}

/// Inverse 2-D transform; shapes are validated by the caller, and coefficients outside the
/// top-left `nz_w` x `nz_h` region must be zero.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn inverse(kind: TxKind, log2n: u32, coeffs: &[i16], nz_w: usize, nz_h: usize, residual: &mut [i16]) {
    const S1: i32 = INVERSE_SHIFTS.0;
    const S2: i32 = INVERSE_SHIFTS.1;
    match (kind, log2n) {
        (TxKind::Dst7, _) => block4::<S1, S2>(coeffs, &DST4_INVERSE, residual),
        (_, 2) => block4::<S1, S2>(coeffs, &DCT4_INVERSE, residual),
        (_, 3) => block8::<S1, S2>(coeffs, &DCT8_INVERSE, nz_w, nz_h, residual),
        (_, 4) => inverse_strips::<16>(coeffs, nz_w, nz_h, residual),
        _ => inverse_strips::<32>(coeffs, nz_w, nz_h, residual),
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
            let (row, lane) = if i < 4 { (lane0_row, 0) } else { (lane1_row, 1) };
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
static DCT16_FORWARD: [[i32; 8]; 16] = row_pairs(&DCT16);
static DCT32_FORWARD: [[i32; 16]; 32] = row_pairs(&DCT32);
static ODD4: [i32; 2] = inverse_odd_pairs(4);
static ODD8: [i32; 8] = inverse_odd_pairs(8);
static ODD16: [i32; 32] = inverse_odd_pairs(16);
static ODD32: [i32; 128] = inverse_odd_pairs(32);

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
fn block4<const SHIFT1: i32, const SHIFT2: i32>(src: &[i16], coefs: &[[i32; 8]; 4], dst: &mut [i16]) {
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
    store(dst, _mm256_permutevar8x32_epi32(interleaved, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

/// One 4-point pass: `pairs` holds input rows (0,1) interleaved in lane 0 and (2,3) in lane 1,
/// `swapped` the same with lanes exchanged. Returns the four output rows, in order.
#[target_feature(enable = "avx2")]
#[inline]
fn pass4<const SHIFT: i32>(pairs: __m256i, swapped: __m256i, coefs: &[[i32; 8]; 4]) -> __m256i {
    let [k0, k1, k2, k3] = coefs.map(|k| load_i32x8(&k));
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
    let row_pairs_used = rows_used.div_ceil(2);
    let mut row_pairs = [_mm256_setzero_si256(); 4];
    for (m, pair) in row_pairs[..row_pairs_used].iter_mut().enumerate() {
        // Rows 2m and 2m+1 are contiguous: spread each into both lanes' halves, then interleave.
        let rows = _mm256_permute4x64_epi64::<0xD8>(load(&src[16 * m..]));
        *pair = _mm256_shuffle_epi8(rows, interleave);
    }
    let vertical = pass8::<SHIFT1>(&row_pairs[..row_pairs_used], coefs);

    // Pass 2's row pairs are the 32-bit columns of the vertical result: pack rows k and k+4
    // together, then a 32/64-bit unpack network gathers column m of all eight rows.
    let packed: [__m256i; 4] = std::array::from_fn(|k| _mm256_packs_epi32(vertical[k], vertical[k + 4]));
    let rows0to3_low = _mm256_unpacklo_epi32(packed[0], packed[1]);
    let rows0to3_high = _mm256_unpacklo_epi32(packed[2], packed[3]);
    let rows4to7_low = _mm256_unpackhi_epi32(packed[0], packed[1]);
    let rows4to7_high = _mm256_unpackhi_epi32(packed[2], packed[3]);
    let cols02_top = _mm256_unpacklo_epi64(rows0to3_low, rows0to3_high);
    let cols13_top = _mm256_unpackhi_epi64(rows0to3_low, rows0to3_high);
    let cols02_bottom = _mm256_unpacklo_epi64(rows4to7_low, rows4to7_high);
    let cols13_bottom = _mm256_unpackhi_epi64(rows4to7_low, rows4to7_high);
    let col_pairs = [
        _mm256_permute2x128_si256::<0x20>(cols02_top, cols02_bottom),
        _mm256_permute2x128_si256::<0x20>(cols13_top, cols13_bottom),
        _mm256_permute2x128_si256::<0x31>(cols02_top, cols02_bottom),
        _mm256_permute2x128_si256::<0x31>(cols13_top, cols13_bottom),
    ];
    let horizontal = pass8::<SHIFT2>(&col_pairs[..cols_used.div_ceil(2)], coefs);

    // `horizontal[n]` holds output column n for rows 0-7: transpose back into rows.
    let packed: [__m256i; 4] = std::array::from_fn(|k| _mm256_packs_epi32(horizontal[k], horizontal[k + 4]));
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
    store(&mut dst[0..], _mm256_permute2x128_si256::<0x20>(rows04, rows15));
    store(&mut dst[16..], _mm256_permute2x128_si256::<0x20>(rows26, rows37));
    store(&mut dst[32..], _mm256_permute2x128_si256::<0x31>(rows04, rows15));
    store(&mut dst[48..], _mm256_permute2x128_si256::<0x31>(rows26, rows37));
}

/// One 8-point pass over interleaved row pairs (missing trailing pairs are zero); returns the
/// eight rounded 32-bit output rows.
#[target_feature(enable = "avx2")]
#[inline]
fn pass8<const SHIFT: i32>(pairs: &[__m256i], coefs: &[[i32; 4]; 8]) -> [__m256i; 8] {
    coefs.map(|row| {
        let mut sum = _mm256_setzero_si256();
        for (&pair, &coef) in pairs.iter().zip(&row) {
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pair, _mm256_set1_epi32(coef)));
        }
        round_shift::<SHIFT>(sum)
    })
}

// ---------------------------------------------------------------------------------------
// 16x16 and 32x32: 1-D passes down 16-column strips of a row-major `N x N` block.

/// Two 16-column rows interleaved for madd; `.0` covers columns 0-3 and 8-11, `.1` 4-7 and 12-15.
#[derive(Clone, Copy)]
struct RowPair(__m256i, __m256i);

/// 32-bit sums for 16 columns, in [`RowPair`]'s column order.
#[derive(Clone, Copy)]
struct Sums(__m256i, __m256i);

#[target_feature(enable = "avx2")]
#[inline]
fn interleave(first: __m256i, second: __m256i) -> RowPair {
    RowPair(_mm256_unpacklo_epi16(first, second), _mm256_unpackhi_epi16(first, second))
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
        sum = add(sum, Sums(_mm256_madd_epi16(pair.0, coef), _mm256_madd_epi16(pair.1, coef)));
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

/// Row `k` of the strip at `src` (row stride `N`), or zero past the `nz` rows that may be non-zero.
#[target_feature(enable = "avx2")]
#[inline]
fn row_or_zero<const N: usize>(src: &[i16], nz: usize, k: usize) -> __m256i {
    if k < nz {
        load(&src[k * N..])
    } else {
        _mm256_setzero_si256()
    }
}

/// Forward 1-D pass down one strip: `out[k] = round(sum_y c[k][y] * src[y])`.
#[target_feature(enable = "avx2")]
fn forward_pass<const N: usize, const SHIFT: i32>(src: &[i16], coefs: &[i32], out: &mut [__m256i; N]) {
    let zero = _mm256_setzero_si256();
    let mut pairs = [RowPair(zero, zero); 16];
    let pairs = &mut pairs[..N / 2];
    for (j, pair) in pairs.iter_mut().enumerate() {
        *pair = interleave(load(&src[2 * j * N..]), load(&src[(2 * j + 1) * N..]));
    }
    for (row, row_coefs) in out.iter_mut().zip(coefs.chunks_exact(N / 2)) {
        *row = round_pack::<SHIFT>(weighted_sum(pairs, row_coefs));
    }
}

/// Inverse 1-D pass down one strip, `out[n] = round(sum_k c[k][n] * src[k])`, by the even/odd
/// butterfly. Rows at or past `nz` must be zero and are never read.
///
/// Built bottom-up: the 2-point transform of rows 0 and N/2 seeds the even part; each level
/// doubles it by adding and subtracting the odd rows' contribution (`c[k][size-1-n]` is
/// `c[k][n]` for even k and `-c[k][n]` for odd k). All sums stay exact in 32 bits.
#[target_feature(enable = "avx2")]
fn inverse_pass<const N: usize, const SHIFT: i32>(src: &[i16], nz: usize, out: &mut [__m256i; N]) {
    let zero = Sums(_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut even = [zero; 16];
    let seed = interleave(row_or_zero::<N>(src, nz, 0), row_or_zero::<N>(src, nz, N / 2));
    even[0] = weighted_sum(&[seed], &[coef_pair(64, 64)]);
    even[1] = weighted_sum(&[seed], &[coef_pair(64, -64)]);

    let mut size = 4;
    while size < N {
        let (pairs, used) = odd_row_pairs::<N>(src, nz, size);
        let odd_coefs = inverse_odd_coefs(size);
        for (n, coefs) in odd_coefs.chunks_exact(size / 4).enumerate() {
            let odd = weighted_sum(&pairs[..used], coefs);
            let e = even[n];
            even[n] = add(e, odd);
            even[size - 1 - n] = sub(e, odd);
        }
        size *= 2;
    }

    let (pairs, used) = odd_row_pairs::<N>(src, nz, N);
    for (n, coefs) in inverse_odd_coefs(N).chunks_exact(N / 4).enumerate() {
        let odd = weighted_sum(&pairs[..used], coefs);
        out[n] = round_pack::<SHIFT>(add(even[n], odd));
        out[N - 1 - n] = round_pack::<SHIFT>(sub(even[n], odd));
    }
}

/// The odd rows of the `size`-point level of an `N`-point inverse (rows `step * (2j + 1)`,
/// `step = N / size`) interleaved in pairs `(4i+1, 4i+3) * step`, and how many pairs may be
/// non-zero.
#[target_feature(enable = "avx2")]
#[inline]
fn odd_row_pairs<const N: usize>(src: &[i16], nz: usize, size: usize) -> ([RowPair; 8], usize) {
    let step = N / size;
    let zero = _mm256_setzero_si256();
    let mut pairs = [RowPair(zero, zero); 8];
    let mut used = 0;
    while used < size / 4 && step * (4 * used + 1) < nz {
        let first = row_or_zero::<N>(src, nz, step * (4 * used + 1));
        let second = row_or_zero::<N>(src, nz, step * (4 * used + 3));
        pairs[used] = interleave(first, second);
        used += 1;
    }
    (pairs, used)
}

/// [`inverse_odd_pairs`] for one level.
fn inverse_odd_coefs(size: usize) -> &'static [i32] {
    match size {
        4 => &ODD4,
        8 => &ODD8,
        16 => &ODD16,
        _ => &ODD32,
    }
}

/// Forward `N x N` transform: vertical passes into a transposed buffer, then vertical passes
/// over that buffer (the horizontal transform), transposed into `coeffs`.
#[target_feature(enable = "avx2")]
fn forward_strips<const N: usize, const SHIFT1: i32, const SHIFT2: i32>(residual: &[i16], coeffs: &mut [i16]) {
    let coefs: &[i32] = if N == 16 { DCT16_FORWARD.as_flattened() } else { DCT32_FORWARD.as_flattened() };
    let mut between = [[0i16; N]; N];
    let between = between.as_flattened_mut();
    let mut strip = [_mm256_setzero_si256(); N];
    for first_col in (0..N).step_by(16) {
        forward_pass::<N, SHIFT1>(&residual[first_col..], coefs, &mut strip);
        transpose_strip(&strip, &mut between[first_col * N..]);
    }
    for first_col in (0..N).step_by(16) {
        forward_pass::<N, SHIFT2>(&between[first_col..], coefs, &mut strip);
        transpose_strip(&strip, &mut coeffs[first_col * N..]);
    }
}

/// Inverse `N x N` transform, structured as [`forward_strips`]; strips entirely right of the
/// non-zero region are skipped, and each pass reads only the rows that may be non-zero.
#[target_feature(enable = "avx2")]
fn inverse_strips<const N: usize>(coeffs: &[i16], nz_w: usize, nz_h: usize, residual: &mut [i16]) {
    const S1: i32 = INVERSE_SHIFTS.0;
    const S2: i32 = INVERSE_SHIFTS.1;
    // Rows of `between` past nz_w are never read, so strips right of the region are skipped.
    let mut between = [[0i16; N]; N];
    let between = between.as_flattened_mut();
    let mut strip = [_mm256_setzero_si256(); N];
    for first_col in (0..nz_w).step_by(16) {
        inverse_pass::<N, S1>(&coeffs[first_col..], nz_h, &mut strip);
        transpose_strip(&strip, &mut between[first_col * N..]);
    }
    for first_col in (0..N).step_by(16) {
        inverse_pass::<N, S2>(&between[first_col..], nz_w, &mut strip);
        transpose_strip(&strip, &mut residual[first_col * N..]);
    }
}

/// Writes the transpose of a strip (`N` rows of 16 samples) as 16 rows of `N` samples with
/// row stride `N` at the start of `dst`.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose_strip<const N: usize>(strip: &[__m256i; N], dst: &mut [i16]) {
    for (block, rows) in strip.chunks_exact(16).enumerate() {
        let top = transpose_8x8_lanes(rows[..8].try_into().unwrap());
        let bottom = transpose_8x8_lanes(rows[8..].try_into().unwrap());
        for (j, (&top, &bottom)) in top.iter().zip(&bottom).enumerate() {
            store(&mut dst[j * N + 16 * block..], _mm256_permute2x128_si256::<0x20>(top, bottom));
            store(&mut dst[(j + 8) * N + 16 * block..], _mm256_permute2x128_si256::<0x31>(top, bottom));
        }
    }
}

/// Transposes the 8x8 block in each 128-bit lane of eight rows: output `j` holds column `j`
/// (lane 0) and column `j + 8` (lane 1).
#[target_feature(enable = "avx2")]
#[inline]
fn transpose_8x8_lanes(rows: [__m256i; 8]) -> [__m256i; 8] {
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
    let (a0, a1) = (_mm256_unpacklo_epi16(r0, r1), _mm256_unpackhi_epi16(r0, r1));
    let (a2, a3) = (_mm256_unpacklo_epi16(r2, r3), _mm256_unpackhi_epi16(r2, r3));
    let (a4, a5) = (_mm256_unpacklo_epi16(r4, r5), _mm256_unpackhi_epi16(r4, r5));
    let (a6, a7) = (_mm256_unpacklo_epi16(r6, r7), _mm256_unpackhi_epi16(r6, r7));
    // bX: two columns of four rows each.
    let (b0, b1) = (_mm256_unpacklo_epi32(a0, a2), _mm256_unpackhi_epi32(a0, a2));
    let (b2, b3) = (_mm256_unpacklo_epi32(a1, a3), _mm256_unpackhi_epi32(a1, a3));
    let (b4, b5) = (_mm256_unpacklo_epi32(a4, a6), _mm256_unpackhi_epi32(a4, a6));
    let (b6, b7) = (_mm256_unpacklo_epi32(a5, a7), _mm256_unpackhi_epi32(a5, a7));
    [
        _mm256_unpacklo_epi64(b0, b4),
        _mm256_unpackhi_epi64(b0, b4),
        _mm256_unpacklo_epi64(b1, b5),
        _mm256_unpackhi_epi64(b1, b5),
        _mm256_unpacklo_epi64(b2, b6),
        _mm256_unpackhi_epi64(b2, b6),
        _mm256_unpacklo_epi64(b3, b7),
        _mm256_unpackhi_epi64(b3, b7),
    ]
}
