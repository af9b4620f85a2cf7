//! AVX2 intra prediction kernels, bit-exact with `scalar.rs`, for 8- and 10-bit samples held
//! in 16-bit lanes (16 samples to a vector).
//!
//! Bounds of the intermediates, for samples below 2^B with B = 8 or 10 (so at most 1023):
//!
//! * Angular: HEVC's 2-tap filter `((32 - f) * a + f * b + 16) >> 5` is computed as
//!   `a + (((b - a) * f + 16) >> 5)`, equal because `32 * a` is a multiple of 32. The product
//!   `(b - a) * f` lies within ±1023 * 31 = ±31713, inside i16, and `mulhrs` by 1 << 10 is
//!   exactly `(v + 16) >> 5` (rounding down) for every i16 `v`.
//! * Planar: the sum `(N-1-x)*left + (x+1)*topRight + (N-1-y)*top + (y+1)*bottomLeft + N`
//!   reaches 2N * (2^B - 1) + N = 65504 at N = 32 and 10 bits: beyond i16, within u16. The
//!   kernels compute it in wrapping 16-bit arithmetic and shift it logically; the final sum
//!   is exact modulo 2^16 and lies in 0..2^16, so wrapped intermediates (and the negative
//!   per-row steps) come out right.
//! * DC: 16-bit lanes add up at most 8 edge samples (8184 < 2^15) before `madd` widens them to
//!   i32; the smoothed first row and column, `top + 3 * dc + 2` and the like, stay below
//!   4 * 2^B.
//! * Edge filters of pure horizontal and vertical: `top0 + ((left - corner) >> 1)` (and its
//!   transpose) lies within -512..=1534 and is clamped to `0..=2^B - 1` with `max`/`min`.
//!
//! Angular blocks by size:
//!
//! * 4x4 and 8x8 read at most 8 and 16 samples of the main reference, which one vector
//!   (4x4) or two (8x8) hold: loaded straight from `refs` where they lie within that many
//!   consecutive samples of it, else gathered from it with per-mode `pshufb` tables (modes
//!   that project the side edge). Per-sample `pshufb` tables then pick every output
//!   sample's (near, far) pair from there, two 8x8 rows per vector.
//! * 16x16 and 32x32: vertical-class modes read each row, in 16-sample pieces, as one
//!   contiguous window of the main reference with a single weight; horizontal-class modes,
//!   instead of predicting transposed, gather each output row in 8-column chunks, each from
//!   one 8-sample window, with per-column `pshufb` tables. The main reference is `refs`
//!   itself, read forwards (vertical class) or backwards (horizontal class) from the
//!   corner, unless the mode projects the other edge (negative angles but -32); only then
//!   it is built on the stack.
//!
//! Reading `refs` directly keeps most blocks clear of a freshly stored main reference, whose
//! unaligned reloads cannot be store-forwarded and stall.
//!
//! Every load and store goes through a bounds-checked helper, so the only requirement of
//! the `unsafe fn` entry points is that the CPU supports AVX2. Like the scalar reference
//! they expect what `predict` ensures: N is 4, 8, 16 or 32, `refs` holds 4N + 1 samples
//! below 2^bitDepth, `dst` holds the block, and `edge_filter` is only set for N < 32.

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
pub unsafe fn predict_planar(refs: &[u16], n: usize, dst: &mut [u16], stride: usize) {
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
pub unsafe fn predict_dc(
    refs: &[u16],
    n: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
) {
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
    refs: &[u16],
    n: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    bit_depth: u32,
) {
    let max = ((1 << bit_depth) - 1) as i16;
    match n {
        4 => angular::<4>(mode, refs, edge_filter, dst, stride, max),
        8 => angular::<8>(mode, refs, edge_filter, dst, stride, max),
        16 => angular::<16>(mode, refs, edge_filter, dst, stride, max),
        _ => angular::<32>(mode, refs, edge_filter, dst, stride, max),
    }
}

// ---------------------------------------------------------------------------------------
// Bounds-checked loads and stores; the sample (u16) count is in the name.

#[inline]
#[target_feature(enable = "avx2")]
fn load4(samples: &[u16], at: usize) -> __m128i {
    let window = &samples[at..at + 4];
    // SAFETY: `window` is 4 readable samples (8 bytes) and the load has no alignment
    // requirement.
    unsafe { _mm_loadl_epi64(window.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn load8(samples: &[u16], at: usize) -> __m128i {
    let window = &samples[at..at + 8];
    // SAFETY: `window` is 8 readable samples (16 bytes) and the load has no alignment
    // requirement.
    unsafe { _mm_loadu_si128(window.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn load16(samples: &[u16], at: usize) -> __m256i {
    let window = &samples[at..at + 16];
    // SAFETY: `window` is 16 readable samples (32 bytes) and the load has no alignment
    // requirement.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// The 8 samples at `at` in both lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn load8_twice(samples: &[u16], at: usize) -> __m256i {
    _mm256_broadcastsi128_si256(load8(samples, at))
}

/// The 8 samples at `at` in the low lane and those at `high_at` in the high lane.
#[inline]
#[target_feature(enable = "avx2")]
fn load8_pair(samples: &[u16], at: usize, high_at: usize) -> __m256i {
    _mm256_set_m128i(load8(samples, high_at), load8(samples, at))
}

/// The first `len` (4, 8 or 16) samples at `at`, zero-extended to a vector.
#[inline]
#[target_feature(enable = "avx2")]
fn load_len(samples: &[u16], at: usize, len: usize) -> __m256i {
    match len {
        4 => _mm256_zextsi128_si256(load4(samples, at)),
        8 => _mm256_zextsi128_si256(load8(samples, at)),
        _ => load16(samples, at),
    }
}

/// The 16 bytes at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn load_bytes16(bytes: &[u8], at: usize) -> __m128i {
    let window = &bytes[at..at + 16];
    // SAFETY: `window` is 16 readable bytes and the load has no alignment requirement.
    unsafe { _mm_loadu_si128(window.as_ptr().cast()) }
}

/// The 32 bytes at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn load_bytes32(bytes: &[u8], at: usize) -> __m256i {
    let window = &bytes[at..at + 32];
    // SAFETY: `window` is 32 readable bytes and the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// Stores the low 4 samples of `v` at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn store4(samples: &mut [u16], at: usize, v: __m128i) {
    let window = &mut samples[at..at + 4];
    // SAFETY: `window` is 4 writable samples (8 bytes) and the store has no alignment
    // requirement.
    unsafe { _mm_storel_epi64(window.as_mut_ptr().cast(), v) }
}

/// Stores the high 4 samples of `v` at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn store4_high(samples: &mut [u16], at: usize, v: __m128i) {
    let window = &mut samples[at..at + 4];
    // SAFETY: `window` is 4 writable samples (8 bytes) and the store (of the high 64 bits,
    // typed as an f64) has no alignment requirement.
    unsafe { _mm_storeh_pd(window.as_mut_ptr().cast(), _mm_castsi128_pd(v)) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store8(samples: &mut [u16], at: usize, v: __m128i) {
    let window = &mut samples[at..at + 8];
    // SAFETY: `window` is 8 writable samples (16 bytes) and the store has no alignment
    // requirement.
    unsafe { _mm_storeu_si128(window.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store16(samples: &mut [u16], at: usize, v: __m256i) {
    let window = &mut samples[at..at + 16];
    // SAFETY: `window` is 16 writable samples (32 bytes) and the store has no alignment
    // requirement.
    unsafe { _mm256_storeu_si256(window.as_mut_ptr().cast(), v) }
}

/// Stores the first `len` (4, 8 or 16) samples of `v` at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_len(samples: &mut [u16], at: usize, len: usize, v: __m256i) {
    match len {
        4 => store4(samples, at, _mm256_castsi256_si128(v)),
        8 => store8(samples, at, _mm256_castsi256_si128(v)),
        _ => store16(samples, at, v),
    }
}

/// Stores a 4x4 block held in raster order (row q in 64-bit quarter q).
#[inline]
#[target_feature(enable = "avx2")]
fn store_4x4(dst: &mut [u16], stride: usize, block: __m256i) {
    let low = _mm256_castsi256_si128(block);
    let high = _mm256_extracti128_si256::<1>(block);
    store4(dst, 0, low);
    store4_high(dst, stride, low);
    store4(dst, 2 * stride, high);
    store4_high(dst, 3 * stride, high);
}

/// Stores the two 8-sample rows held in the lanes of `rows` at rows `y` and `y + 1`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_2x8(dst: &mut [u16], stride: usize, y: usize, rows: __m256i) {
    store8(dst, y * stride, _mm256_castsi256_si128(rows));
    store8(dst, (y + 1) * stride, _mm256_extracti128_si256::<1>(rows));
}

/// Side of the pieces rows of an NxN block are processed in: N up to 16 samples.
const fn piece(n: usize) -> usize {
    if n < 16 {
        n
    } else {
        16
    }
}

/// HEVC's 2-tap filter `((32 - f) * near + f * far + 16) >> 5` on 16 samples, as
/// `near + (((far - near) * f + 16) >> 5)` (see the module docs for the bounds).
#[inline]
#[target_feature(enable = "avx2")]
fn interpolate(near: __m256i, far: __m256i, fact: __m256i) -> __m256i {
    let delta = _mm256_mullo_epi16(_mm256_sub_epi16(far, near), fact);
    _mm256_add_epi16(near, _mm256_mulhrs_epi16(delta, _mm256_set1_epi16(1 << 10)))
}

/// A 16-bit table lookup across `S` (1 to 4) vectors, each holding 8 entries per lane
/// (in practice the same 8 in both lanes), entries 8j..8j + 8 in vector j. Each selector
/// byte pair is (2 * entry, 2 * entry + 1): `pshufb` uses its low 4 bits, and bits 4 and 5
/// pick the vector. Selector bytes 0x80 give 0.
#[inline]
#[target_feature(enable = "avx2")]
fn lookup<const S: usize>(table: [__m256i; S], selector: __m256i) -> __m256i {
    let pick = |entries: __m256i| _mm256_shuffle_epi8(entries, selector);
    if S == 1 {
        return pick(table[0]);
    }
    // Shifting 16-bit lanes left moves each byte's bit 4 (by 3) or bit 5 (by 2) to its bit
    // 7, which `blendv` reads; bits carried over from the low byte land in bits 0..=2 of
    // the high byte.
    let bit4 = _mm256_slli_epi16::<3>(selector);
    let low = _mm256_blendv_epi8(pick(table[0]), pick(table[1]), bit4);
    if S == 2 {
        return low;
    }
    let high = if S == 3 {
        pick(table[2])
    } else {
        _mm256_blendv_epi8(pick(table[2]), pick(table[3]), bit4)
    };
    _mm256_blendv_epi8(low, high, _mm256_slli_epi16::<2>(selector))
}

/// Left sample at (-1, y).
fn left(refs: &[u16], n: usize, y: usize) -> i16 {
    refs[2 * n - 1 - y] as i16
}

/// Top sample at (x, -1).
fn top(refs: &[u16], n: usize, x: usize) -> i16 {
    refs[2 * n + 1 + x] as i16
}

/// Corner sample at (-1, -1).
fn corner(refs: &[u16], n: usize) -> i16 {
    refs[2 * n] as i16
}

// ---------------------------------------------------------------------------------------
// Planar: ((N-1-x)*left[y] + (x+1)*topRight + (N-1-y)*top[x] + (y+1)*bottomLeft + N)
// >> (log2 N + 1). All terms but the left one form a per-column sum that changes by
// bottomLeft - top[x] from one row to the next, so a row costs one multiply and two adds.
// All of it wraps in 16 bits and ends exact (module docs).

/// Per-column planar terms for the columns of a vector's lanes: the sum without the left
/// term at row 0, its change per row, and the weight of `left[y]`.
struct PlanarColumns {
    row0: __m256i,
    step: __m256i,
    left_weight: __m256i,
}

impl PlanarColumns {
    /// `top_row` and `x_plus_one` hold `top[x]` and x + 1 for the column of each lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(refs: &[u16], n: usize, top_row: __m256i, x_plus_one: __m256i) -> Self {
        let top_right = _mm256_set1_epi16(top(refs, n, n));
        let bottom_left = _mm256_set1_epi16(left(refs, n, n));
        let n_i16 = _mm256_set1_epi16(n as i16);
        let column_terms = _mm256_add_epi16(
            _mm256_mullo_epi16(x_plus_one, top_right),
            _mm256_mullo_epi16(top_row, _mm256_set1_epi16(n as i16 - 1)),
        );
        Self {
            row0: _mm256_add_epi16(column_terms, _mm256_add_epi16(bottom_left, n_i16)),
            step: _mm256_sub_epi16(bottom_left, top_row),
            left_weight: _mm256_sub_epi16(n_i16, x_plus_one),
        }
    }

    /// The sums `rows` (per lane) rows further down.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn advanced(&self, rows: __m256i) -> __m256i {
        _mm256_add_epi16(self.row0, _mm256_mullo_epi16(self.step, rows))
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

/// `low` in every sample of the low lane, `high` in every sample of the high lane.
#[inline]
#[target_feature(enable = "avx2")]
fn per_lane(low: i16, high: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(high), _mm_set1_epi16(low))
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
fn planar_4(refs: &[u16], dst: &mut [u16], stride: usize) {
    const N: usize = 4;
    let top_row = _mm256_broadcastq_epi64(load4(refs, 2 * N + 1));
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4);
    let columns = PlanarColumns::new(refs, N, top_row, x_plus_one);
    let acc = columns.advanced(per_quarter([0, 1, 2, 3]));
    let left_column = per_quarter([
        left(refs, N, 0),
        left(refs, N, 1),
        left(refs, N, 2),
        left(refs, N, 3),
    ]);
    store_4x4(
        dst,
        stride,
        columns.values(acc, left_column, planar_shift(N)),
    );
}

/// 8x8: two rows per vector, row y in the low lane and y + 1 in the high one.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_8(refs: &[u16], dst: &mut [u16], stride: usize) {
    const N: usize = 8;
    let shift = planar_shift(N);
    let top_row = load8_twice(refs, 2 * N + 1);
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8);
    let columns = PlanarColumns::new(refs, N, top_row, x_plus_one);
    let mut acc = columns.advanced(per_lane(0, 1));
    let two_rows = _mm256_slli_epi16::<1>(columns.step);
    for y in (0..N).step_by(2) {
        let left_pair = per_lane(left(refs, N, y), left(refs, N, y + 1));
        store_2x8(dst, stride, y, columns.values(acc, left_pair, shift));
        acc = _mm256_add_epi16(acc, two_rows);
    }
}

/// 16x16: one row per vector.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_16(refs: &[u16], dst: &mut [u16], stride: usize) {
    const N: usize = 16;
    let shift = planar_shift(N);
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    let columns = PlanarColumns::new(refs, N, load16(refs, 2 * N + 1), x_plus_one);
    let mut acc = columns.row0;
    for y in 0..N {
        let row = columns.values(acc, _mm256_set1_epi16(left(refs, N, y)), shift);
        store16(dst, y * stride, row);
        acc = _mm256_add_epi16(acc, columns.step);
    }
}

/// 32x32: two vectors per row, columns 0..16 (`low`) and 16..32 (`high`).
#[inline]
#[target_feature(enable = "avx2")]
fn planar_32(refs: &[u16], dst: &mut [u16], stride: usize) {
    const N: usize = 32;
    let shift = planar_shift(N);
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    let low = PlanarColumns::new(refs, N, load16(refs, 2 * N + 1), x_plus_one);
    let high = PlanarColumns::new(
        refs,
        N,
        load16(refs, 2 * N + 17),
        _mm256_add_epi16(x_plus_one, _mm256_set1_epi16(16)),
    );
    let (mut acc_low, mut acc_high) = (low.row0, high.row0);
    for y in 0..N {
        let l = _mm256_set1_epi16(left(refs, N, y));
        let row = &mut dst[y * stride..][..N];
        store16(row, 0, low.values(acc_low, l, shift));
        store16(row, 16, high.values(acc_high, l, shift));
        acc_low = _mm256_add_epi16(acc_low, low.step);
        acc_high = _mm256_add_epi16(acc_high, high.step);
    }
}

// ---------------------------------------------------------------------------------------
// DC

/// The DC value: the rounded mean of the N left and N top samples.
#[inline]
#[target_feature(enable = "avx2")]
fn dc_value<const N: usize>(refs: &[u16]) -> i32 {
    // refs[N..2N] is the near half of the left column, refs[2N + 1..3N + 1] of the top row.
    // Each 16-bit lane adds up at most 8 samples (N = 32), 8 * 1023 < 2^15.
    let lanes = match N {
        4 => _mm_add_epi16(load4(refs, N), load4(refs, 2 * N + 1)),
        8 => _mm_add_epi16(load8(refs, N), load8(refs, 2 * N + 1)),
        _ => {
            let mut sum = _mm256_setzero_si256();
            for x in (0..N).step_by(16) {
                let both = _mm256_add_epi16(load16(refs, N + x), load16(refs, 2 * N + 1 + x));
                sum = _mm256_add_epi16(sum, both);
            }
            _mm_add_epi16(
                _mm256_castsi256_si128(sum),
                _mm256_extracti128_si256::<1>(sum),
            )
        }
    };
    let quarters = _mm_madd_epi16(lanes, _mm_set1_epi16(1));
    let halves = _mm_add_epi32(quarters, _mm_unpackhi_epi64(quarters, quarters));
    let sum = _mm_add_epi32(halves, _mm_shuffle_epi32::<0b01>(halves));
    (_mm_cvtsi128_si32(sum) + N as i32) >> (N.trailing_zeros() + 1)
}

/// DC prediction for one block size.
#[inline]
#[target_feature(enable = "avx2")]
fn dc<const N: usize>(refs: &[u16], edge_filter: bool, dst: &mut [u16], stride: usize) {
    let dc = dc_value::<N>(refs);
    let fill = _mm256_set1_epi16(dc as i16);
    for y in 0..N {
        let row = &mut dst[y * stride..][..N];
        for x in (0..N).step_by(16) {
            store_len(row, x, piece(N), fill);
        }
    }
    if edge_filter {
        let dc = dc as i16;
        let bias = _mm256_set1_epi16(3 * dc + 2);
        for x in (0..N).step_by(16) {
            let top_row = load_len(refs, 2 * N + 1 + x, piece(N));
            let smoothed = _mm256_srli_epi16::<2>(_mm256_add_epi16(top_row, bias));
            store_len(dst, x, piece(N), smoothed);
        }
        dst[0] = ((left(refs, N, 0) + 2 * dc + top(refs, N, 0) + 2) >> 2) as u16;
        for y in 1..N {
            dst[y * stride] = ((left(refs, N, y) + 3 * dc + 2) >> 2) as u16;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Angular

/// Angular prediction for one block size; `max` is the largest sample value.
#[inline]
#[target_feature(enable = "avx2")]
fn angular<const N: usize>(
    mode: u8,
    refs: &[u16],
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    max: i16,
) {
    if mode == VER {
        vertical_copy::<N>(refs, edge_filter, dst, stride, max);
    } else if mode == HOR {
        horizontal_copy::<N>(refs, edge_filter, dst, stride, max);
    } else if N == 4 {
        angular_4x4(&TAPS_4X4[usize::from(mode - 2)], refs, dst, stride);
    } else if N == 8 {
        angular_8x8(&TAPS_8X8[usize::from(mode - 2)], refs, dst, stride);
    } else {
        let angle = intra_pred_angle(mode);
        let vertical = mode >= FIRST_VERTICAL_MODE;
        let column_taps = || &COLUMN_TAPS[usize::from(mode - 2)];
        // At -32 (mode 18) the projection of the left column is the identity: ref[k] is
        // refs[2N + k] for negative k too.
        if first_main_index(mode, N) < 0 && angle != -32 {
            let mut main = [0; MAIN_LEN];
            build_main_reference::<N>(mode, refs, &mut main);
            if vertical {
                vertical_class::<N>(&main, MAIN_ORIGIN, angle, dst, stride);
            } else {
                horizontal_class::<N, false>(&main, MAIN_ORIGIN, column_taps(), dst, stride);
            }
        } else if vertical {
            // ref[k] = refs[2N + k].
            vertical_class::<N>(refs, 2 * N, angle, dst, stride);
        } else {
            // ref[k] = refs[2N - k].
            horizontal_class::<N, true>(refs, 2 * N, column_taps(), dst, stride);
        }
    }
}

/// Pure vertical: every row is the top row; with `edge_filter` the first column follows
/// half the gradient of the left column.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_copy<const N: usize>(
    refs: &[u16],
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    max: i16,
) {
    let top_row = load_len(refs, 2 * N + 1, piece(N));
    let top_row_end = if N == 32 {
        load16(refs, 2 * N + 17)
    } else {
        top_row
    };
    for y in 0..N {
        let row = &mut dst[y * stride..][..N];
        store_len(row, 0, piece(N), top_row);
        if N == 32 {
            store16(row, 16, top_row_end);
        }
    }
    if edge_filter {
        for y in 0..N {
            let gradient = (left(refs, N, y) - corner(refs, N)) >> 1;
            dst[y * stride] = (top(refs, N, 0) + gradient).clamp(0, max) as u16;
        }
    }
}

/// Pure horizontal: every row repeats its left sample; with `edge_filter` the first row
/// follows half the gradient of the top row.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_copy<const N: usize>(
    refs: &[u16],
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    max: i16,
) {
    for y in 0..N {
        let fill = _mm256_set1_epi16(left(refs, N, y));
        let row = &mut dst[y * stride..][..N];
        for x in (0..N).step_by(16) {
            store_len(row, x, piece(N), fill);
        }
    }
    if edge_filter {
        let corner = _mm256_set1_epi16(corner(refs, N));
        let left0 = _mm256_set1_epi16(left(refs, N, 0));
        for x in (0..N).step_by(16) {
            let top_row = load_len(refs, 2 * N + 1 + x, piece(N));
            let gradient = _mm256_srai_epi16::<1>(_mm256_sub_epi16(top_row, corner));
            let first_row = _mm256_add_epi16(left0, gradient);
            let clamped = _mm256_min_epi16(
                _mm256_max_epi16(first_row, _mm256_setzero_si256()),
                _mm256_set1_epi16(max),
            );
            store_len(dst, x, piece(N), clamped);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Angular, 4x4 and 8x8: table-driven lookups straight from refs.

/// Everything a 4x4 or 8x8 angular block of one mode needs. The block reads at most 8
/// (4x4) or 16 (8x8) samples of the main reference, held in a segment vector (4x4: in both
/// lanes; 8x8: 8 in each of two vectors, each in both lanes), from which `near` and `far`
/// (equal where the fraction is 0) pick every output sample's pair with [`lookup`], in
/// raster order, and `fact` holds its fraction.
///
/// Where the samples read lie within 8 (4x4) or 16 (8x8) consecutive `refs` samples, the
/// segment is simply those, loaded at `window`. Otherwise (`gather`, for modes that
/// project the side edge) it is the main reference's `ref[lo..]`, which `segment` gathers
/// from the 16 (4x4) or 24 (8x8) `refs` samples at `window`; for 8x8 it yields entries
/// 0..8 in the low lane and 8..16 in the high one, split into the two vectors afterwards.
/// Either way the main reference, its projection and the transpose of horizontal-class
/// modes fold into the tables.
///
/// Reading refs directly keeps these small blocks clear of a main reference stored on the
/// stack, whose unaligned reloads cannot be store-forwarded and stall.
struct BlockTaps<const SAMPLES: usize, const BYTES: usize> {
    gather: bool,
    window: usize,
    segment: [u8; 32],
    near: [u8; BYTES],
    far: [u8; BYTES],
    fact: [u16; SAMPLES],
}

type Taps4x4 = BlockTaps<16, 32>;
type Taps8x8 = BlockTaps<64, 128>;

impl<const SAMPLES: usize, const BYTES: usize> BlockTaps<SAMPLES, BYTES> {
    /// Block side: SAMPLES = N * N.
    const N: usize = if SAMPLES == 16 { 4 } else { 8 };
    /// Samples in a segment.
    const SEGMENT: usize = 2 * Self::N;
    /// Samples a gather reads: 8 per source vector.
    const GATHER_WINDOW: usize = if SAMPLES == 16 { 16 } else { 24 };

    const EMPTY: Self = Self {
        gather: false,
        window: 0,
        segment: [0x80; 32],
        near: [0; BYTES],
        far: [0; BYTES],
        fact: [0; SAMPLES],
    };

    /// k of the `ref[k]` that output sample `sample` (raster order) reads as its near
    /// sample, and its fraction.
    const fn near_of(mode: u8, sample: usize) -> (i32, i32) {
        let (x, y) = (sample % Self::N, sample / Self::N);
        let (along, across) = if mode >= FIRST_VERTICAL_MODE {
            (x, y)
        } else {
            (y, x)
        };
        let position = (across as i32 + 1) * intra_pred_angle(mode);
        (along as i32 + (position >> 5) + 1, position & 31)
    }

    /// `near_of`, with the far sample: the next one, or the near one without a fraction
    /// (its weight is then 0, and it may lie past ref[2N]).
    const fn pair_of(mode: u8, sample: usize) -> (i32, i32, i32) {
        let (near, fact) = Self::near_of(mode, sample);
        (near, if fact == 0 { near } else { near + 1 }, fact)
    }

    /// The first window of `len` samples of the refs line that starts at `first` or, near
    /// its end, before.
    const fn window_at(first: usize, len: usize) -> usize {
        let refs_len = 4 * Self::N + 1;
        if first + len <= refs_len {
            first
        } else {
            refs_len - len
        }
    }

    const fn new(mode: u8) -> Self {
        let n = Self::N;
        let mut taps = Self::EMPTY;
        // The span ref[lo..=hi] the block reads.
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        let mut sample = 0;
        while sample < SAMPLES {
            let (near, far, _) = Self::pair_of(mode, sample);
            if near < lo {
                lo = near;
            }
            if far > hi {
                hi = far;
            }
            sample += 1;
        }
        assert!(
            hi - lo < Self::SEGMENT as i32,
            "a segment holds the samples read"
        );
        // Where they lie in refs.
        let (mut first, mut last) = (usize::MAX, 0);
        let mut k = lo;
        while k <= hi {
            let source = main_source(mode, n, k);
            if source < first {
                first = source;
            }
            if source > last {
                last = source;
            }
            k += 1;
        }
        taps.gather = last - first >= Self::SEGMENT;
        let window_len = if taps.gather {
            Self::GATHER_WINDOW
        } else {
            Self::SEGMENT
        };
        let window = Self::window_at(first, window_len);
        assert!(window <= first && last < window + window_len);
        taps.window = window;
        if taps.gather {
            let mut k = lo;
            while k <= hi {
                let entry = main_source(mode, n, k) - window;
                let i = (k - lo) as usize;
                let mut byte = 0;
                while byte < 2 {
                    let selector = (2 * entry + byte) as u8;
                    if n == 4 {
                        taps.segment[2 * i + byte] = selector;
                        taps.segment[16 + 2 * i + byte] = selector;
                    } else {
                        taps.segment[16 * (i / 8) + 2 * (i % 8) + byte] = selector;
                    }
                    byte += 1;
                }
                k += 1;
            }
        }
        let mut sample = 0;
        while sample < SAMPLES {
            let (near, far, fact) = Self::pair_of(mode, sample);
            // Entries of the segment.
            let (near, far) = if taps.gather {
                (near - lo, far - lo)
            } else {
                (
                    (main_source(mode, n, near) - window) as i32,
                    (main_source(mode, n, far) - window) as i32,
                )
            };
            let mut byte = 0;
            while byte < 2 {
                taps.near[2 * sample + byte] = (2 * near + byte as i32) as u8;
                taps.far[2 * sample + byte] = (2 * far + byte as i32) as u8;
                byte += 1;
            }
            taps.fact[sample] = fact as u16;
            sample += 1;
        }
        taps
    }

    /// The taps of modes 2..=34, indexed by mode - 2 (those of HOR and VER go unused).
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

static TAPS_4X4: [Taps4x4; 33] = Taps4x4::all_modes();
static TAPS_8X8: [Taps8x8; 33] = Taps8x8::all_modes();

/// A 4x4 angular block: the segment, two lookups, one interpolation.
#[inline]
#[target_feature(enable = "avx2")]
fn angular_4x4(taps: &Taps4x4, refs: &[u16], dst: &mut [u16], stride: usize) {
    let segment = if taps.gather {
        let window = [
            load8_twice(refs, taps.window),
            load8_twice(refs, taps.window + 8),
        ];
        lookup::<2>(window, load_bytes32(&taps.segment, 0))
    } else {
        load8_twice(refs, taps.window)
    };
    let near = lookup::<1>([segment], load_bytes32(&taps.near, 0));
    let far = lookup::<1>([segment], load_bytes32(&taps.far, 0));
    store_4x4(dst, stride, interpolate(near, far, load16(&taps.fact, 0)));
}

/// An 8x8 angular block: the segment, then two rows per vector.
#[inline]
#[target_feature(enable = "avx2")]
fn angular_8x8(taps: &Taps8x8, refs: &[u16], dst: &mut [u16], stride: usize) {
    let segment = if taps.gather {
        let window = [
            load8_twice(refs, taps.window),
            load8_twice(refs, taps.window + 8),
            load8_twice(refs, taps.window + 16),
        ];
        let segment = lookup::<3>(window, load_bytes32(&taps.segment, 0));
        [
            _mm256_permute2x128_si256::<0x00>(segment, segment),
            _mm256_permute2x128_si256::<0x11>(segment, segment),
        ]
    } else {
        [
            load8_twice(refs, taps.window),
            load8_twice(refs, taps.window + 8),
        ]
    };
    for y in (0..8).step_by(2) {
        let near = lookup::<2>(segment, load_bytes32(&taps.near, 16 * y));
        let far = lookup::<2>(segment, load_bytes32(&taps.far, 16 * y));
        let rows = interpolate(near, far, load16(&taps.fact, 8 * y));
        store_2x8(dst, stride, y, rows);
    }
}

// ---------------------------------------------------------------------------------------
// Angular, 16x16 and 32x32: rows from a main reference in memory.

/// For line `across` (0 = next to the main reference): the index k of `ref[k]`, the near
/// sample at along = 0, and the line's fraction.
fn line_taps(across: usize, angle: i32) -> (isize, i16) {
    let position = (across as i32 + 1) * angle;
    (((position >> 5) + 1) as isize, (position & 31) as i16)
}

/// Vertical-class modes, N = 16 or 32: row y is one contiguous window of the main
/// reference `ref[k] = main[origin + k]` with a single fraction.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_class<const N: usize>(
    main: &[u16],
    origin: usize,
    angle: i32,
    dst: &mut [u16],
    stride: usize,
) {
    for y in 0..N {
        let (k, fact) = line_taps(y, angle);
        let at = (origin as isize + k) as usize;
        // One bounds check per row for the window and one for the row of `dst`. Where the
        // fraction is 0 the far samples are not loaded: at angle 32 they would run past
        // the end of `refs`.
        let row = &mut dst[y * stride..][..N];
        if fact == 0 {
            let near = &main[at..at + N];
            for x in (0..N).step_by(16) {
                store16(row, x, load16(near, x));
            }
        } else {
            let window = &main[at..at + N + 1];
            let fact = _mm256_set1_epi16(fact);
            for x in (0..N).step_by(16) {
                let values = interpolate(load16(window, x), load16(window, x + 1), fact);
                store16(row, x, values);
            }
        }
    }
}

/// Per-column taps of one horizontal-class angle, in chunks of 8 output columns. Column x
/// reads main reference samples y + 1 + iIdx(x) and (where its fraction is not 0) the one
/// after for row y, so row y of chunk c lies in the 8-sample window that starts at
/// `ref[y + 1 + window[c]]`, from which `near[c]` and `far[c]` select the pairs.
/// `near_reversed` and `far_reversed` select them from the same window read backwards, as
/// `refs` holds the left column. `integer` angles (32) have no fractions at all.
#[derive(Clone, Copy)]
struct ColumnTaps {
    window: [i8; 4],
    near: [[u8; 16]; 4],
    far: [[u8; 16]; 4],
    near_reversed: [[u8; 16]; 4],
    far_reversed: [[u8; 16]; 4],
    fact: [[u16; 8]; 4],
    integer: bool,
}

impl ColumnTaps {
    const fn new(angle: i32) -> Self {
        let mut taps = ColumnTaps {
            window: [0; 4],
            near: [[0; 16]; 4],
            far: [[0; 16]; 4],
            near_reversed: [[0; 16]; 4],
            far_reversed: [[0; 16]; 4],
            fact: [[0; 8]; 4],
            integer: angle % 32 == 0,
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
                let fact = position & 31;
                let near = (position >> 5) - window;
                let far = if fact == 0 { near } else { near + 1 };
                assert!(
                    0 <= near && far < 8,
                    "a chunk's samples span one 8-sample window"
                );
                let mut byte = 0;
                while byte < 2 {
                    let (at, low_bit) = (2 * column + byte, byte as i32);
                    taps.near[chunk][at] = (2 * near + low_bit) as u8;
                    taps.far[chunk][at] = (2 * far + low_bit) as u8;
                    taps.near_reversed[chunk][at] = (2 * (7 - near) + low_bit) as u8;
                    taps.far_reversed[chunk][at] = (2 * (7 - far) + low_bit) as u8;
                    byte += 1;
                }
                taps.fact[chunk][column] = fact as u16;
                column += 1;
            }
            chunk += 1;
        }
        taps
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

/// Horizontal-class modes, N = 16 or 32, predicted row by row without a transpose from
/// the main reference `ref[k] = main[origin + k]`, or `main[origin - k]` if `REVERSED`.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_class<const N: usize, const REVERSED: bool>(
    main: &[u16],
    origin: usize,
    taps: &ColumnTaps,
    dst: &mut [u16],
    stride: usize,
) {
    let (near, far) = if REVERSED {
        (&taps.near_reversed, &taps.far_reversed)
    } else {
        (&taps.near, &taps.far)
    };
    // Index in `main` of the window of (row, chunk); backwards, ref[s..s + 8] is
    // main[origin - s - 7..=origin - s].
    let window_at = |y: usize, chunk: usize| {
        let start = y as isize + 1 + isize::from(taps.window[chunk]);
        (if REVERSED {
            origin as isize - start - 7
        } else {
            origin as isize + start
        }) as usize
    };
    // The selectors and fractions of chunks `c` and `c + 1` in the two lanes.
    let lanes = |c: usize| {
        let pair = |table: &[[u8; 16]; 4]| {
            _mm256_set_m128i(load_bytes16(&table[c + 1], 0), load_bytes16(&table[c], 0))
        };
        let fact = _mm256_set_m128i(load8(&taps.fact[c + 1], 0), load8(&taps.fact[c], 0));
        (pair(near), pair(far), fact)
    };
    // Row y of chunks `c` and `c + 1`.
    let predict = |y: usize, c: usize, (near, far, fact): (__m256i, __m256i, __m256i)| {
        let windows = load8_pair(main, window_at(y, c), window_at(y, c + 1));
        let near = _mm256_shuffle_epi8(windows, near);
        if taps.integer {
            near
        } else {
            interpolate(near, _mm256_shuffle_epi8(windows, far), fact)
        }
    };
    let taps01 = lanes(0);
    if N == 16 {
        for y in 0..N {
            store16(dst, y * stride, predict(y, 0, taps01));
        }
    } else {
        let taps23 = lanes(2);
        for y in 0..N {
            let row = &mut dst[y * stride..][..N];
            store16(row, 0, predict(y, 0, taps01));
            store16(row, 16, predict(y, 2, taps23));
        }
    }
}

/// `pshufb` selector reversing the order of the 8 samples of a lane.
#[inline]
#[target_feature(enable = "avx2")]
fn reverse_lane() -> __m256i {
    _mm256_setr_epi8(
        14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1, 14, 15, 12, 13, 10, 11, 8, 9, 6, 7,
        4, 5, 2, 3, 0, 1,
    )
}

/// Reverses the order of 16 samples.
#[inline]
#[target_feature(enable = "avx2")]
fn reverse16(v: __m256i) -> __m256i {
    let swapped = _mm256_permute4x64_epi64::<0b01_00_11_10>(v);
    _mm256_shuffle_epi8(swapped, reverse_lane())
}

/// Builds the main reference of a negative-angle mode with a projected side edge, N = 16
/// or 32, into a zeroed `main`: `ref[-N..0]` projected, the corner, and `ref[1..=N]`, the
/// furthest such modes read.
#[inline]
#[target_feature(enable = "avx2")]
fn build_main_reference<const N: usize>(mode: u8, refs: &[u16], main: &mut MainRef) {
    let vertical = mode >= FIRST_VERTICAL_MODE;
    main[MAIN_ORIGIN] = refs[2 * N];
    for along in (0..N).step_by(16) {
        let edge = if vertical {
            load16(refs, 2 * N + 1 + along)
        } else {
            reverse16(load16(refs, 2 * N - 16 - along))
        };
        store16(main, MAIN_ORIGIN + 1 + along, edge);
    }
    project_side_edge::<N>(mode, refs, main);
}

/// Fills `ref[-N..0]` of a negative-angle mode by gathering the side edge samples at the
/// distances of [`projected_side`] with [`lookup`]. Entries that no prediction reads get 0.
#[inline]
#[target_feature(enable = "avx2")]
fn project_side_edge<const N: usize>(mode: u8, refs: &[u16], main: &mut MainRef) {
    let tables = if N == 16 {
        &PROJECTION_16
    } else {
        &PROJECTION_32
    };
    let selectors = &tables[usize::from(mode - FIRST_NEGATIVE_MODE)];
    // The side edge's samples at distances 1..=N: refs[N..2N] backwards for the left
    // column, refs[2N + 1..3N + 1] forwards for the top row.
    let side_start = if mode >= FIRST_VERTICAL_MODE {
        N
    } else {
        2 * N + 1
    };
    let side = |part: usize| load8_twice(refs, side_start + 8 * part);
    if N == 16 {
        let projected = lookup::<2>([side(0), side(1)], load_bytes32(selectors, 0));
        store16(main, MAIN_ORIGIN - N, projected);
    } else {
        let table = [side(0), side(1), side(2), side(3)];
        for half in 0..2 {
            let projected = lookup::<4>(table, load_bytes32(selectors, 32 * half));
            store16(main, MAIN_ORIGIN - N + 16 * half, projected);
        }
    }
}

/// First mode with a negative angle; they run up to mode 25.
const FIRST_NEGATIVE_MODE: u8 = 11;

/// For modes 11..=25 and blocks of side `n`: [`lookup`] selectors that gather `ref[k]`,
/// k in -n..0, at entry k + n from the side edge as [`project_side_edge`] loads it, 0x80
/// (zero) where `ref[k]` is not needed or does not exist.
const fn projection_selectors(n: usize) -> [[u8; 64]; 15] {
    let mut table = [[0x80; 64]; 15];
    let mut index = 0;
    while index < 15 {
        let mode = FIRST_NEGATIVE_MODE + index as u8;
        let angle = intra_pred_angle(mode);
        let mut k = first_main_index(mode, n);
        while k < 0 {
            let distance = projected_side(angle, k);
            if distance <= n as i32 {
                let entry = if mode >= FIRST_VERTICAL_MODE {
                    n as i32 - distance
                } else {
                    distance - 1
                };
                let at = 2 * (k + n as i32) as usize;
                table[index][at] = (2 * entry) as u8;
                table[index][at + 1] = (2 * entry + 1) as u8;
            }
            k += 1;
        }
        index += 1;
    }
    table
}

static PROJECTION_16: [[u8; 64]; 15] = projection_selectors(16);
static PROJECTION_32: [[u8; 64]; 15] = projection_selectors(32);
