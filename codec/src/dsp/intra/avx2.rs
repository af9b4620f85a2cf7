//! AVX2 intra prediction kernels, bit-exact with `scalar.rs`.
//!
//! The angular hot path is HEVC's 2-tap filter `((32 - f) * a + f * b + 16) >> 5`, done as
//! `maddubs` on interleaved (a, b) byte pairs against interleaved (32 - f, f) weights, then
//! `mulhrs` by 1 << 10, which is exactly `(v + 16) >> 5` for these non-negative sums.
//!
//! 4x4 and 8x8 angular blocks gather their sample pairs straight from `refs` through
//! per-mode `pshufb` tables built at compile time. Larger blocks first build the main
//! reference on the stack; vertical-class modes then read each row as one contiguous
//! window of it, and horizontal-class modes, instead of predicting transposed, gather each
//! output row (which runs along the left column) with per-column `pshufb` tables.
//!
//! Every load and store goes through a bounds-checked helper, so the only requirement of
//! the `unsafe fn` entry points is that the CPU supports AVX2. Like the scalar reference
//! they expect what `predict` ensures: N is 4, 8, 16 or 32, `refs` holds 4N + 1 samples,
//! `dst` holds the block, and `edge_filter` is only set for N < 32.

use core::arch::x86_64::*;

use super::{
    first_main_index, intra_pred_angle, main_source, projected_side, MainRef, FIRST_VERTICAL_MODE,
    HOR, INTRA_PRED_ANGLE, MAIN_LEN, MAIN_ORIGIN, VER,
};

/// Planar prediction.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn predict_planar(refs: &[u8], n: usize, dst: &mut [u8], stride: usize) {
    match n {
        4 => planar_4(refs, dst, stride),
        8 => planar_8(refs, dst, stride),
        16 => planar_16(refs, dst, stride),
        _ => planar_32(refs, dst, stride),
    }
}

/// DC prediction, with the first row and column smoothed when `edge_filter` is set.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn predict_dc(refs: &[u8], n: usize, edge_filter: bool, dst: &mut [u8], stride: usize) {
    match n {
        4 => dc::<4>(refs, edge_filter, dst, stride),
        8 => dc::<8>(refs, edge_filter, dst, stride),
        16 => dc::<16>(refs, edge_filter, dst, stride),
        _ => dc::<32>(refs, edge_filter, dst, stride),
    }
}

/// Angular prediction for modes 2..=34.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn predict_angular(
    mode: u8,
    refs: &[u8],
    n: usize,
    edge_filter: bool,
    dst: &mut [u8],
    stride: usize,
) {
    match n {
        4 => angular::<4>(mode, refs, edge_filter, dst, stride),
        8 => angular::<8>(mode, refs, edge_filter, dst, stride),
        16 => angular::<16>(mode, refs, edge_filter, dst, stride),
        _ => angular::<32>(mode, refs, edge_filter, dst, stride),
    }
}

// ---------------------------------------------------------------------------------------
// Bounds-checked loads and stores; the byte count is in the name.

#[inline]
#[target_feature(enable = "avx2")]
fn load4(bytes: &[u8], at: usize) -> __m128i {
    let word: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
    _mm_cvtsi32_si128(i32::from_le_bytes(word))
}

#[inline]
#[target_feature(enable = "avx2")]
fn load8(bytes: &[u8], at: usize) -> __m128i {
    let word: [u8; 8] = bytes[at..at + 8].try_into().unwrap();
    _mm_cvtsi64_si128(i64::from_le_bytes(word))
}

#[inline]
#[target_feature(enable = "avx2")]
fn load16(bytes: &[u8], at: usize) -> __m128i {
    let window = &bytes[at..at + 16];
    // SAFETY: `window` is 16 readable bytes and the load has no alignment requirement.
    unsafe { _mm_loadu_si128(window.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn load32(bytes: &[u8], at: usize) -> __m256i {
    let window = &bytes[at..at + 32];
    // SAFETY: `window` is 32 readable bytes and the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store4(bytes: &mut [u8], at: usize, v: __m128i) {
    bytes[at..at + 4].copy_from_slice(&_mm_cvtsi128_si32(v).to_le_bytes());
}

#[inline]
#[target_feature(enable = "avx2")]
fn store8(bytes: &mut [u8], at: usize, v: __m128i) {
    bytes[at..at + 8].copy_from_slice(&_mm_cvtsi128_si64(v).to_le_bytes());
}

#[inline]
#[target_feature(enable = "avx2")]
fn store16(bytes: &mut [u8], at: usize, v: __m128i) {
    let window = &mut bytes[at..at + 16];
    // SAFETY: `window` is 16 writable bytes and the store has no alignment requirement.
    unsafe { _mm_storeu_si128(window.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store32(bytes: &mut [u8], at: usize, v: __m256i) {
    let window = &mut bytes[at..at + 32];
    // SAFETY: `window` is 32 writable bytes and the store has no alignment requirement.
    unsafe { _mm256_storeu_si256(window.as_mut_ptr().cast(), v) }
}

/// Stores the 16 bytes of a 4x4 block (row-major) as four rows.
#[inline]
#[target_feature(enable = "avx2")]
fn store_4x4(dst: &mut [u8], stride: usize, block: __m128i) {
    store4(dst, 0, block);
    store4(dst, stride, _mm_srli_si128::<4>(block));
    store4(dst, 2 * stride, _mm_srli_si128::<8>(block));
    store4(dst, 3 * stride, _mm_srli_si128::<12>(block));
}

/// Stores the four 8-byte rows packed in `rows` (in order) at rows `y..y + 4`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_4x8(dst: &mut [u8], stride: usize, y: usize, rows: __m256i) {
    store_2x8(dst, stride, y, _mm256_castsi256_si128(rows));
    store_2x8(dst, stride, y + 2, _mm256_extracti128_si256::<1>(rows));
}

/// Stores the two 8-byte rows packed in `rows` at rows `y` and `y + 1`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_2x8(dst: &mut [u8], stride: usize, y: usize, rows: __m128i) {
    store8(dst, y * stride, rows);
    store8(dst, (y + 1) * stride, _mm_unpackhi_epi64(rows, rows));
}

/// Stores the two 16-byte rows held in the lanes of `rows` at rows `y` and `y + 1`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_2x16(dst: &mut [u8], stride: usize, y: usize, rows: __m256i) {
    store16(dst, y * stride, _mm256_castsi256_si128(rows));
    store16(dst, (y + 1) * stride, _mm256_extracti128_si256::<1>(rows));
}

/// HEVC's 2-tap filter on 16 interleaved (near, far) byte pairs with interleaved
/// (32 - f, f) weights: `(near * (32 - f) + far * f + 16) >> 5` as 16 i16.
#[inline]
#[target_feature(enable = "avx2")]
fn interpolate(pairs: __m256i, weights: __m256i) -> __m256i {
    _mm256_mulhrs_epi16(
        _mm256_maddubs_epi16(pairs, weights),
        _mm256_set1_epi16(1 << 10),
    )
}

/// Loads the first `LEN` (4, 8 or 16) bytes at `at` into the low end of a vector.
#[inline]
#[target_feature(enable = "avx2")]
fn load_low<const LEN: usize>(bytes: &[u8], at: usize) -> __m128i {
    match LEN {
        4 => load4(bytes, at),
        8 => load8(bytes, at),
        16 => load16(bytes, at),
        _ => unreachable!("no {LEN}-byte partial load"),
    }
}

/// Stores the low `LEN` (4, 8 or 16) bytes of `v` at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_low<const LEN: usize>(bytes: &mut [u8], at: usize, v: __m128i) {
    match LEN {
        4 => store4(bytes, at, v),
        8 => store8(bytes, at, v),
        16 => store16(bytes, at, v),
        _ => unreachable!("no {LEN}-byte partial store"),
    }
}

/// Packs the 16 i16 of `v` to bytes, saturating to 0..=255, in their original order.
#[inline]
#[target_feature(enable = "avx2")]
fn pack_in_order(v: __m256i) -> __m128i {
    let packed = _mm256_packus_epi16(v, v);
    _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b10_00>(packed))
}

/// Left sample at (-1, y).
fn left(refs: &[u8], n: usize, y: usize) -> i16 {
    i16::from(refs[2 * n - 1 - y])
}

/// Top sample at (x, -1).
fn top(refs: &[u8], n: usize, x: usize) -> i16 {
    i16::from(refs[2 * n + 1 + x])
}

/// Corner sample at (-1, -1).
fn corner(refs: &[u8], n: usize) -> i16 {
    i16::from(refs[2 * n])
}

// ---------------------------------------------------------------------------------------
// Planar: ((N-1-x)*left[y] + (x+1)*topRight + (N-1-y)*top[x] + (y+1)*bottomLeft + N)
// >> (log2 N + 1). All terms but the left one form a per-column sum that changes by
// bottomLeft - top[x] from one row to the next, so a row costs one multiply and two adds.
// Every sum stays below 2N * 256, well inside i16.

/// Per-column planar terms for the given columns: the sum without the left term at row 0,
/// its change per row, and the weight of `left[y]`.
struct PlanarColumns {
    row0: __m256i,
    step: __m256i,
    left_weight: __m256i,
}

impl PlanarColumns {
    /// `top_row` and `x_plus_one` hold `top[x]` and x + 1 for the column of each i16 lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(refs: &[u8], n: usize, top_row: __m256i, x_plus_one: __m256i) -> Self {
        let top_right = _mm256_set1_epi16(top(refs, n, n));
        let bottom_left = _mm256_set1_epi16(left(refs, n, n));
        let n_i16 = _mm256_set1_epi16(n as i16);
        let column_terms = _mm256_add_epi16(
            _mm256_mullo_epi16(x_plus_one, top_right),
            _mm256_mullo_epi16(top_row, _mm256_sub_epi16(n_i16, _mm256_set1_epi16(1))),
        );
        Self {
            row0: _mm256_add_epi16(column_terms, _mm256_add_epi16(bottom_left, n_i16)),
            step: _mm256_sub_epi16(bottom_left, top_row),
            left_weight: _mm256_sub_epi16(n_i16, x_plus_one),
        }
    }

    /// The sums `rows[q]` rows further down in 64-bit quarter q.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn advanced(&self, rows: [i16; 4]) -> __m256i {
        _mm256_add_epi16(self.row0, _mm256_mullo_epi16(self.step, per_quarter(rows)))
    }

    /// Predicted values from the per-column sums `acc` and the left samples `left`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn values(&self, acc: __m256i, left: __m256i, shift: __m128i) -> __m256i {
        _mm256_srl_epi16(
            _mm256_add_epi16(acc, _mm256_mullo_epi16(self.left_weight, left)),
            shift,
        )
    }
}

/// Four copies of `values[q]` in each 64-bit quarter q.
#[inline]
#[target_feature(enable = "avx2")]
fn per_quarter(values: [i16; 4]) -> __m256i {
    let four_copies = |value: i16| (u64::from(value as u16) * 0x0001_0001_0001_0001) as i64;
    _mm256_setr_epi64x(
        four_copies(values[0]),
        four_copies(values[1]),
        four_copies(values[2]),
        four_copies(values[3]),
    )
}

/// Row shift for planar: log2 N + 1.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_shift(n: usize) -> __m128i {
    _mm_cvtsi32_si128(n.trailing_zeros() as i32 + 1)
}

/// 4x4: the whole block in one vector, rows 0..4 in its quarters.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_4(refs: &[u8], dst: &mut [u8], stride: usize) {
    const N: usize = 4;
    let top_row = _mm_cvtepu8_epi16(load4(refs, 2 * N + 1));
    let top_row = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(top_row, top_row));
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4);
    let columns = PlanarColumns::new(refs, N, top_row, x_plus_one);
    let acc = columns.advanced([0, 1, 2, 3]);
    let left_column = per_quarter([
        left(refs, N, 0),
        left(refs, N, 1),
        left(refs, N, 2),
        left(refs, N, 3),
    ]);
    let values = columns.values(acc, left_column, planar_shift(N));
    store_4x4(dst, stride, pack_in_order(values));
}

/// 8x8: four rows per step; the lanes hold rows (y, y + 2) and (y + 1, y + 3) so that
/// packing the two vectors yields the rows in order.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_8(refs: &[u8], dst: &mut [u8], stride: usize) {
    const N: usize = 8;
    let shift = planar_shift(N);
    let top_row = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(load8(refs, 2 * N + 1)));
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8);
    let columns = PlanarColumns::new(refs, N, top_row, x_plus_one);
    let mut acc_even = columns.advanced([0, 0, 2, 2]);
    let mut acc_odd = columns.advanced([1, 1, 3, 3]);
    let four_rows = _mm256_slli_epi16::<2>(columns.step);
    for y in (0..N).step_by(4) {
        let l = |r| left(refs, N, y + r);
        let even = columns.values(acc_even, per_quarter([l(0), l(0), l(2), l(2)]), shift);
        let odd = columns.values(acc_odd, per_quarter([l(1), l(1), l(3), l(3)]), shift);
        store_4x8(dst, stride, y, _mm256_packus_epi16(even, odd));
        acc_even = _mm256_add_epi16(acc_even, four_rows);
        acc_odd = _mm256_add_epi16(acc_odd, four_rows);
    }
}

/// 16x16: one row per vector, two rows per step.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_16(refs: &[u8], dst: &mut [u8], stride: usize) {
    const N: usize = 16;
    let shift = planar_shift(N);
    let top_row = _mm256_cvtepu8_epi16(load16(refs, 2 * N + 1));
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    let columns = PlanarColumns::new(refs, N, top_row, x_plus_one);
    let mut acc = columns.row0;
    for y in (0..N).step_by(2) {
        let first = columns.values(acc, _mm256_set1_epi16(left(refs, N, y)), shift);
        acc = _mm256_add_epi16(acc, columns.step);
        let second = columns.values(acc, _mm256_set1_epi16(left(refs, N, y + 1)), shift);
        acc = _mm256_add_epi16(acc, columns.step);
        // packus interleaves 8-byte halves of the two rows; put each row back together.
        let rows = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(first, second));
        store_2x16(dst, stride, y, rows);
    }
}

/// 32x32: two vectors per row, with columns split the way packus puts them back together
/// (`lo`: x 0..8 and 16..24, `hi`: x 8..16 and 24..32).
#[inline]
#[target_feature(enable = "avx2")]
fn planar_32(refs: &[u8], dst: &mut [u8], stride: usize) {
    const N: usize = 32;
    let shift = planar_shift(N);
    let zero = _mm256_setzero_si256();
    let top_row = load32(refs, 2 * N + 1);
    let x_plus_one = _mm256_setr_epi8(
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 29, 30, 31, 32,
    );
    let lo = PlanarColumns::new(
        refs,
        N,
        _mm256_unpacklo_epi8(top_row, zero),
        _mm256_unpacklo_epi8(x_plus_one, zero),
    );
    let hi = PlanarColumns::new(
        refs,
        N,
        _mm256_unpackhi_epi8(top_row, zero),
        _mm256_unpackhi_epi8(x_plus_one, zero),
    );
    let (mut acc_lo, mut acc_hi) = (lo.row0, hi.row0);
    for y in 0..N {
        let l = _mm256_set1_epi16(left(refs, N, y));
        let row = _mm256_packus_epi16(lo.values(acc_lo, l, shift), hi.values(acc_hi, l, shift));
        store32(dst, y * stride, row);
        acc_lo = _mm256_add_epi16(acc_lo, lo.step);
        acc_hi = _mm256_add_epi16(acc_hi, hi.step);
    }
}

// ---------------------------------------------------------------------------------------
// DC

/// Sum of the `LEN` bytes at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn sum_bytes<const LEN: usize>(bytes: &[u8], at: usize) -> i32 {
    let sums = if LEN == 32 {
        let lanes = _mm256_sad_epu8(load32(bytes, at), _mm256_setzero_si256());
        _mm_add_epi64(
            _mm256_castsi256_si128(lanes),
            _mm256_extracti128_si256::<1>(lanes),
        )
    } else {
        _mm_sad_epu8(load_low::<LEN>(bytes, at), _mm_setzero_si128())
    };
    _mm_cvtsi128_si32(sums) + _mm_extract_epi16::<4>(sums)
}

/// DC prediction for one block size.
#[inline]
#[target_feature(enable = "avx2")]
fn dc<const N: usize>(refs: &[u8], edge_filter: bool, dst: &mut [u8], stride: usize) {
    let sum = sum_bytes::<N>(refs, N) + sum_bytes::<N>(refs, 2 * N + 1);
    let dc = (sum + N as i32) >> (N.trailing_zeros() + 1);
    for y in 0..N {
        dst[y * stride..][..N].fill(dc as u8);
    }
    if edge_filter {
        let dc = dc as i16;
        let top_row = _mm256_cvtepu8_epi16(load_low::<N>(refs, 2 * N + 1));
        let smoothed =
            _mm256_srli_epi16::<2>(_mm256_add_epi16(top_row, _mm256_set1_epi16(3 * dc + 2)));
        store_low::<N>(dst, 0, pack_in_order(smoothed));
        dst[0] = ((left(refs, N, 0) + 2 * dc + top(refs, N, 0) + 2) >> 2) as u8;
        for y in 1..N {
            dst[y * stride] = ((left(refs, N, y) + 3 * dc + 2) >> 2) as u8;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Angular

/// Angular prediction for one block size.
#[inline]
#[target_feature(enable = "avx2")]
fn angular<const N: usize>(
    mode: u8,
    refs: &[u8],
    edge_filter: bool,
    dst: &mut [u8],
    stride: usize,
) {
    if mode == VER {
        vertical_copy::<N>(refs, edge_filter, dst, stride);
    } else if mode == HOR {
        horizontal_copy::<N>(refs, edge_filter, dst, stride);
    } else if N == 4 {
        angular_4x4(&TAPS_4X4[usize::from(mode - 2)], refs, dst, stride);
    } else if N == 8 {
        angular_8x8(&TAPS_8X8[usize::from(mode - 2)], refs, dst, stride);
    } else {
        let angle = intra_pred_angle(mode);
        let vertical = mode >= FIRST_VERTICAL_MODE;
        let mut main = [0; MAIN_LEN];
        build_main_reference::<N>(mode, refs, &mut main);
        if vertical {
            vertical_class::<N>(&main, angle, dst, stride);
        } else {
            horizontal_class::<N>(&main, &COLUMN_TAPS[usize::from(mode - 2)], dst, stride);
        }
    }
}

/// Pure vertical: every row is the top row; with `edge_filter` the first column follows
/// half the gradient of the left column.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_copy<const N: usize>(refs: &[u8], edge_filter: bool, dst: &mut [u8], stride: usize) {
    let top_row = &refs[2 * N + 1..][..N];
    for y in 0..N {
        dst[y * stride..][..N].copy_from_slice(top_row);
    }
    if edge_filter {
        for y in 0..N {
            let gradient = (left(refs, N, y) - corner(refs, N)) >> 1;
            dst[y * stride] = (top(refs, N, 0) + gradient).clamp(0, 255) as u8;
        }
    }
}

/// Pure horizontal: every row repeats its left sample; with `edge_filter` the first row
/// follows half the gradient of the top row.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_copy<const N: usize>(refs: &[u8], edge_filter: bool, dst: &mut [u8], stride: usize) {
    for y in 0..N {
        dst[y * stride..][..N].fill(refs[2 * N - 1 - y]);
    }
    if edge_filter {
        let top_row = _mm256_cvtepu8_epi16(load_low::<N>(refs, 2 * N + 1));
        let gradient = _mm256_srai_epi16::<1>(_mm256_sub_epi16(
            top_row,
            _mm256_set1_epi16(corner(refs, N)),
        ));
        let first_row = _mm256_add_epi16(gradient, _mm256_set1_epi16(left(refs, N, 0)));
        store_low::<N>(dst, 0, pack_in_order(first_row));
    }
}

/// (32 - fact, fact) as one i16 of `maddubs` weights: the low byte weighs the near sample.
const fn weight_pair(fact: i32) -> i16 {
    ((fact << 8) | (32 - fact)) as i16
}

/// For line `across` (0 = next to the main reference): the index in the main reference of
/// the near sample at along = 0, and the line's weight pair.
fn line_taps(across: usize, angle: i32) -> (usize, i16) {
    let position = (across as i32 + 1) * angle;
    let near = MAIN_ORIGIN as i32 + 1 + (position >> 5);
    (near as usize, weight_pair(position & 31))
}

/// Reverses the order of 16 bytes.
#[inline]
#[target_feature(enable = "avx2")]
fn reverse16(v: __m128i) -> __m128i {
    _mm_shuffle_epi8(
        v,
        _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
    )
}

/// Vector version of `main_reference` for N = 16 or 32, writing into a zeroed `main`.
#[inline]
#[target_feature(enable = "avx2")]
fn build_main_reference<const N: usize>(mode: u8, refs: &[u8], main: &mut MainRef) {
    let vertical = mode >= FIRST_VERTICAL_MODE;
    main[MAIN_ORIGIN] = refs[2 * N];
    for along in (0..2 * N).step_by(16) {
        let edge = if vertical {
            load16(refs, 2 * N + 1 + along)
        } else {
            reverse16(load16(refs, 2 * N - 16 - along))
        };
        store16(main, MAIN_ORIGIN + 1 + along, edge);
    }
    if first_main_index(mode, N) < 0 {
        project_side_edge::<N>(mode, refs, main);
    }
}

/// Fills `ref[-N..0]` of a negative-angle mode by gathering the side edge samples at the
/// distances of [`PROJECTED_SIDE`] with `pshufb`. Entries below `first_main_index` get
/// arbitrary edge samples; no prediction reads them.
#[inline]
#[target_feature(enable = "avx2")]
fn project_side_edge<const N: usize>(mode: u8, refs: &[u8], main: &mut MainRef) {
    let distances = &PROJECTED_SIDE[usize::from(mode - FIRST_NEGATIVE_MODE)];
    let distance = if N == 32 {
        load32(distances, 0)
    } else {
        _mm256_castsi128_si256(load16(distances, 32 - N))
    };
    // The side edge's samples at distances 1..=N are refs[N..2N] backwards for the left
    // column and refs[2N + 1..3N + 1] forwards for the top row.
    let (side_start, sign, offset) = if mode >= FIRST_VERTICAL_MODE {
        (N, -1, N as i8)
    } else {
        (2 * N + 1, 1, -1)
    };
    let index = _mm256_add_epi8(
        _mm256_sign_epi8(distance, _mm256_set1_epi8(sign)),
        _mm256_set1_epi8(offset),
    );
    if N == 32 {
        // A 32-entry lookup: both halves of the side edge, picked by bit 4 of the index.
        let low = _mm256_broadcastsi128_si256(load16(refs, side_start));
        let high = _mm256_broadcastsi128_si256(load16(refs, side_start + 16));
        let gathered = _mm256_blendv_epi8(
            _mm256_shuffle_epi8(low, index),
            _mm256_shuffle_epi8(high, index),
            _mm256_slli_epi16::<3>(index),
        );
        store32(main, MAIN_ORIGIN - N, gathered);
    } else {
        let side = load16(refs, side_start);
        let gathered = _mm_shuffle_epi8(side, _mm256_castsi256_si128(index));
        store16(main, MAIN_ORIGIN - N, gathered);
    }
}

/// First mode with a negative angle; they run up to mode 25.
const FIRST_NEGATIVE_MODE: u8 = 11;

/// For modes 11..=25, `projected_side` of `ref[k]` at k + 32 for k in -32..0.
static PROJECTED_SIDE: [[u8; 32]; 15] = {
    let mut table = [[0; 32]; 15];
    let mut mode = 0;
    while mode < 15 {
        let angle = intra_pred_angle(FIRST_NEGATIVE_MODE + mode as u8);
        let mut k = -32;
        while k < 0 {
            table[mode][(k + 32) as usize] = projected_side(angle, k) as u8;
            k += 1;
        }
        mode += 1;
    }
    table
};

/// Everything a 4x4 or 8x8 angular block of one mode needs, per output sample: `pairs`
/// picks its (near, far) samples straight from the 16 (4x4) or 32 (8x8) refs bytes
/// starting at `window`, which folds the main reference, its projection and the transpose
/// of horizontal-class modes into a single lookup, and `weights` holds their (32 - f, f).
/// Reading refs directly keeps these small blocks clear of a freshly stored main
/// reference, whose unaligned reloads cannot be store-forwarded and stall.
///
/// 4x4 samples are in raster order. 8x8 samples come in four 16-sample groups holding
/// rows (0, 2), (1, 3), (4, 6), (5, 7), so that packing two groups yields four rows in order.
struct BlockTaps<const LEN: usize> {
    window: usize,
    pairs: [u8; LEN],
    weights: [u8; LEN],
}

impl<const LEN: usize> BlockTaps<LEN> {
    /// Block side of these taps: LEN = 2 * N * N.
    const N: usize = if LEN == 32 { 4 } else { 8 };

    const EMPTY: Self = Self {
        window: 0,
        pairs: [0; LEN],
        weights: [0; LEN],
    };

    const fn new(mode: u8) -> Self {
        let n = Self::N;
        let vertical = mode >= FIRST_VERTICAL_MODE;
        let angle = intra_pred_angle(mode);
        // Vertical-class modes read refs[N..=4N], horizontal-class ones refs[0..=3N].
        let window = if vertical { 1 } else { 0 };
        let mut taps = Self {
            window,
            ..Self::EMPTY
        };
        let mut sample = 0;
        while sample < n * n {
            let x = sample % n;
            let y = if n == 4 {
                sample / 4
            } else {
                let group = sample / 16;
                (group / 2) * 4 + group % 2 + 2 * ((sample / 8) % 2)
            };
            let (along, across) = if vertical { (x, y) } else { (y, x) };
            let position = (across as i32 + 1) * angle;
            let fact = position & 31;
            let near = along as i32 + (position >> 5) + 1;
            // Without a fraction the far sample has weight 0 and may lie past ref[2N].
            let far = if fact == 0 { near } else { near + 1 };
            let near_index = main_source(mode, n, near) - window;
            let far_index = main_source(mode, n, far) - window;
            assert!(near_index < 4 * n && far_index < 4 * n);
            taps.pairs[2 * sample] = near_index as u8;
            taps.pairs[2 * sample + 1] = far_index as u8;
            taps.weights[2 * sample] = (32 - fact) as u8;
            taps.weights[2 * sample + 1] = fact as u8;
            sample += 1;
        }
        taps
    }

    /// The taps of modes 2..=34, indexed by mode - 2.
    const fn all_modes() -> [Self; 33] {
        let mut all = [Self::EMPTY; 33];
        let mut index = 0;
        while index < 33 {
            all[index] = Self::new(index as u8 + 2);
            index += 1;
        }
        all
    }
}

static TAPS_4X4: [BlockTaps<32>; 33] = BlockTaps::all_modes();
static TAPS_8X8: [BlockTaps<128>; 33] = BlockTaps::all_modes();

/// A 4x4 angular block: one lookup, one interpolation.
#[inline]
#[target_feature(enable = "avx2")]
fn angular_4x4(taps: &BlockTaps<32>, refs: &[u8], dst: &mut [u8], stride: usize) {
    let window = _mm256_broadcastsi128_si256(load16(refs, taps.window));
    let pairs = _mm256_shuffle_epi8(window, load32(&taps.pairs, 0));
    let values = interpolate(pairs, load32(&taps.weights, 0));
    store_4x4(dst, stride, pack_in_order(values));
}

/// An 8x8 angular block: four 32-entry lookups and interpolations.
#[inline]
#[target_feature(enable = "avx2")]
fn angular_8x8(taps: &BlockTaps<128>, refs: &[u8], dst: &mut [u8], stride: usize) {
    let window = load32(refs, taps.window);
    let low = _mm256_permute2x128_si256::<0x00>(window, window);
    let high = _mm256_permute2x128_si256::<0x11>(window, window);
    let group = |index: usize| {
        let selector = load32(&taps.pairs, 32 * index);
        // pshufb looks up 16 bytes; bit 4 of the selector picks the half.
        let pairs = _mm256_blendv_epi8(
            _mm256_shuffle_epi8(low, selector),
            _mm256_shuffle_epi8(high, selector),
            _mm256_slli_epi16::<3>(selector),
        );
        interpolate(pairs, load32(&taps.weights, 32 * index))
    };
    store_4x8(dst, stride, 0, _mm256_packus_epi16(group(0), group(1)));
    store_4x8(dst, stride, 4, _mm256_packus_epi16(group(2), group(3)));
}

/// Vertical-class modes, N = 16 or 32: row y is one contiguous window of the main
/// reference with a single weight pair.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_class<const N: usize>(main: &MainRef, angle: i32, dst: &mut [u8], stride: usize) {
    if N == 16 {
        for y in (0..N).step_by(2) {
            // One row per lane.
            let (near0, weights0) = line_taps(y, angle);
            let (near1, weights1) = line_taps(y + 1, angle);
            let near = _mm256_set_m128i(load16(main, near1), load16(main, near0));
            let far = _mm256_set_m128i(load16(main, near1 + 1), load16(main, near0 + 1));
            let weights = _mm256_set_m128i(_mm_set1_epi16(weights1), _mm_set1_epi16(weights0));
            let lo = interpolate(_mm256_unpacklo_epi8(near, far), weights);
            let hi = interpolate(_mm256_unpackhi_epi8(near, far), weights);
            store_2x16(dst, stride, y, _mm256_packus_epi16(lo, hi));
        }
    } else {
        for y in 0..N {
            let (near, weights) = line_taps(y, angle);
            let (near, far) = (load32(main, near), load32(main, near + 1));
            let weights = _mm256_set1_epi16(weights);
            let lo = interpolate(_mm256_unpacklo_epi8(near, far), weights);
            let hi = interpolate(_mm256_unpackhi_epi8(near, far), weights);
            store32(dst, y * stride, _mm256_packus_epi16(lo, hi));
        }
    }
}

/// Per-column taps of one horizontal-class angle, in chunks of 8 output columns.
/// In such a block, column x reads main reference samples y + 1 + iIdx(x) and the one
/// after for row y, so row y of chunk c lies in the 16-byte window starting at ref index
/// y + 1 + `window[c]`, from which `pairs[c]` selects the (near, far) pairs.
#[derive(Clone, Copy)]
struct ColumnTaps {
    window: [i8; 4],
    pairs: [[u8; 16]; 4],
    weights: [[u8; 16]; 4],
}

impl ColumnTaps {
    const fn new(angle: i32) -> Self {
        let mut taps = ColumnTaps {
            window: [0; 4],
            pairs: [[0; 16]; 4],
            weights: [[0; 16]; 4],
        };
        let mut chunk = 0;
        while chunk < 4 {
            // iIdx is monotonic in x, so the chunk's lowest offset is at one of its ends.
            let first = ((8 * chunk as i32 + 1) * angle) >> 5;
            let last = ((8 * chunk as i32 + 8) * angle) >> 5;
            let window = if first < last { first } else { last };
            taps.window[chunk] = window as i8;
            let mut column = 0;
            while column < 8 {
                let position = ((8 * chunk + column) as i32 + 1) * angle;
                let near = ((position >> 5) - window) as u8;
                let fact = (position & 31) as u8;
                taps.pairs[chunk][2 * column] = near;
                taps.pairs[chunk][2 * column + 1] = near + 1;
                taps.weights[chunk][2 * column] = 32 - fact;
                taps.weights[chunk][2 * column + 1] = fact;
                column += 1;
            }
            chunk += 1;
        }
        taps
    }

    /// Index in the main reference where row y's window for `chunk` starts.
    fn window_start(&self, y: usize, chunk: usize) -> usize {
        (MAIN_ORIGIN as i32 + y as i32 + 1 + i32::from(self.window[chunk])) as usize
    }

    /// The pair selectors of chunks `first` and `second` in the two lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pairs(&self, first: usize, second: usize) -> __m256i {
        _mm256_set_m128i(
            load16(&self.pairs[second], 0),
            load16(&self.pairs[first], 0),
        )
    }

    /// The weights of chunks `first` and `second` in the two lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn weights(&self, first: usize, second: usize) -> __m256i {
        _mm256_set_m128i(
            load16(&self.weights[second], 0),
            load16(&self.weights[first], 0),
        )
    }

    /// Interpolated values of (row, chunk) `first` and `second` in the two lanes, given
    /// those chunks' selectors and weights.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes(
        &self,
        main: &MainRef,
        first: (usize, usize),
        second: (usize, usize),
        pairs: __m256i,
        weights: __m256i,
    ) -> __m256i {
        let windows = _mm256_set_m128i(
            load16(main, self.window_start(second.0, second.1)),
            load16(main, self.window_start(first.0, first.1)),
        );
        interpolate(_mm256_shuffle_epi8(windows, pairs), weights)
    }
}

/// Column taps of modes 2..=17, indexed by mode - 2.
static COLUMN_TAPS: [ColumnTaps; 16] = {
    let mut all = [ColumnTaps::new(0); 16];
    let mut index = 0;
    while index < 16 {
        all[index] = ColumnTaps::new(INTRA_PRED_ANGLE[index] as i32);
        index += 1;
    }
    all
};

/// Horizontal-class modes, N = 16 or 32, predicted row by row without a transpose.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_class<const N: usize>(
    main: &MainRef,
    taps: &ColumnTaps,
    dst: &mut [u8],
    stride: usize,
) {
    match N {
        16 => {
            // Lanes hold rows (y, y + 1), one vector per chunk.
            let (pairs0, weights0) = (taps.pairs(0, 0), taps.weights(0, 0));
            let (pairs1, weights1) = (taps.pairs(1, 1), taps.weights(1, 1));
            for y in (0..N).step_by(2) {
                let chunk0 = taps.lanes(main, (y, 0), (y + 1, 0), pairs0, weights0);
                let chunk1 = taps.lanes(main, (y, 1), (y + 1, 1), pairs1, weights1);
                store_2x16(dst, stride, y, _mm256_packus_epi16(chunk0, chunk1));
            }
        }
        _ => {
            // Lanes hold chunks (0, 2) and (1, 3) so packing yields the row in order.
            let (pairs02, weights02) = (taps.pairs(0, 2), taps.weights(0, 2));
            let (pairs13, weights13) = (taps.pairs(1, 3), taps.weights(1, 3));
            for y in 0..N {
                let chunks02 = taps.lanes(main, (y, 0), (y, 2), pairs02, weights02);
                let chunks13 = taps.lanes(main, (y, 1), (y, 3), pairs13, weights13);
                store32(dst, y * stride, _mm256_packus_epi16(chunks02, chunks13));
            }
        }
    }
}
