//! AVX2 intra prediction kernels, bit-exact with `scalar.rs`, for 8- and 10-bit samples held
//! in 16-bit lanes (16 samples to a vector).
//!
//! Bounds of the intermediates, for samples below 2^B with B = 8 or 10 (so at most 1023):
//!
//! * Angular: HEVC's 2-tap filter `((32 - f) * a + f * b + 16) >> 5` is computed as
//!   `a + (((b - a) * f + 16) >> 5)`, equal because `32 * a` is a multiple of 32. The product
//!   `(b - a) * f` lies within ±1023 * 31 = ±31713, inside i16, and `mulhrs` by 1 << 10 is
//!   exactly `(v + 16) >> 5` (rounding down) for every i16 `v`.
//! * Planar: with M = max(W, H), the spec's sum divided by min(W, H) (exactly: every term
//!   is a multiple of it),
//!   `(((H-1-y)*top + (y+1)*bottomLeft) << log2(M/H)) + (((W-1-x)*left + (x+1)*topRight)
//!   << log2(M/W)) + M`, shifted by log2 M + 1 (for squares HEVC's sum as it stands). Each
//!   of the two products is at most M * (2^B - 1), so the sum reaches 2M * (2^B - 1) + M =
//!   65504 at M = 32 and 10 bits: beyond i16, within u16. The kernels compute it in wrapping
//!   16-bit arithmetic and shift it logically; the final sum is exact modulo 2^16 and lies
//!   in 0..2^16, so wrapped intermediates (and the negative per-row steps) come out right.
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
//! Rectangles (W != H) share the row kernels of 16x16 and 32x32, at every width:
//! vertical-class modes the row windows, horizontal-class modes the column taps (widths 4
//! and 8 two rows to a vector for both; for horizontal-class width 4 from a main reference
//! built on the stack, so that the unused columns 4..8 of a chunk read inside it). Their main reference is built on the
//! stack, by the scalar loop, where a mode projects the other edge.
//!
//! Every load and store goes through a bounds-checked helper, so the only requirement of
//! the `unsafe fn` entry points is that the CPU supports AVX2. Like the scalar reference
//! they expect what `predict` ensures: W and H are 4, 8, 16 or 32 with a ratio up to 8,
//! `refs` holds 2(W + H) + 1 samples below 2^bitDepth, `dst` holds the block, and
//! `edge_filter` is not set for 32x32.

use core::arch::x86_64::*;

use super::{
    first_main_index, intra_pred_angle, main_reference, main_source, projected_side, MainRef,
    FIRST_VERTICAL_MODE, HOR, INTRA_PRED_ANGLE, MAIN_LEN, MAIN_ORIGIN, VER,
};

/// Planar prediction.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn predict_planar(refs: &[u16], w: usize, h: usize, dst: &mut [u16], stride: usize) {
    match w {
        4 => planar_4(refs, h, dst, stride),
        8 => planar_8(refs, h, dst, stride),
        16 => planar_16(refs, h, dst, stride),
        _ => planar_32(refs, h, dst, stride),
    }
}

/// DC prediction, with the first row and column smoothed when `edge_filter` is set.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn predict_dc(
    refs: &[u16],
    w: usize,
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
) {
    match w {
        4 => dc::<4>(refs, h, edge_filter, dst, stride),
        8 => dc::<8>(refs, h, edge_filter, dst, stride),
        16 => dc::<16>(refs, h, edge_filter, dst, stride),
        _ => dc::<32>(refs, h, edge_filter, dst, stride),
    }
}

/// Angular prediction for modes 2..=34.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn predict_angular(
    mode: u8,
    refs: &[u16],
    w: usize,
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    bit_depth: u32,
) {
    let max = ((1 << bit_depth) - 1) as i16;
    match w {
        4 => angular::<4>(mode, refs, h, edge_filter, dst, stride, max),
        8 => angular::<8>(mode, refs, h, edge_filter, dst, stride, max),
        16 => angular::<16>(mode, refs, h, edge_filter, dst, stride, max),
        _ => angular::<32>(mode, refs, h, edge_filter, dst, stride, max),
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

/// Length of the pieces rows of width W are processed in: W up to 16 samples.
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

/// Left sample at (-1, y); `s` is the corner's index in `refs`, W + H.
fn left(refs: &[u16], s: usize, y: usize) -> i16 {
    refs[s - 1 - y] as i16
}

/// Top sample at (x, -1); `s` is the corner's index in `refs`, W + H.
fn top(refs: &[u16], s: usize, x: usize) -> i16 {
    refs[s + 1 + x] as i16
}

/// Corner sample at (-1, -1), `refs[s]`.
fn corner(refs: &[u16], s: usize) -> i16 {
    refs[s] as i16
}

// ---------------------------------------------------------------------------------------
// Planar, in the form of the module docs with M = max(W, H):
// ((((H-1-y)*top[x] + (y+1)*bottomLeft) << dv) + (((W-1-x)*left[y] + (x+1)*topRight) << dh)
// + M) >> (log2 M + 1), dv = log2(M/H), dh = log2(M/W). All terms but the left one form a
// per-column sum that changes by (bottomLeft - top[x]) << dv from one row to the next, so a
// row costs one multiply and two adds. All of it wraps in 16 bits and ends exact.

/// Per-column planar terms for the columns of a vector's lanes: the sum without the left
/// term at row 0, its change per row, and the weight of `left[y]`.
struct PlanarColumns {
    row0: __m256i,
    step: __m256i,
    left_weight: __m256i,
}

impl PlanarColumns {
    /// `top_row` and `x_plus_one` hold `top[x]` and x + 1 for the column of each lane of a
    /// W x H block.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(refs: &[u16], w: usize, h: usize, top_row: __m256i, x_plus_one: __m256i) -> Self {
        let s = w + h;
        let top_right = _mm256_set1_epi16(top(refs, s, w));
        let bottom_left = _mm256_set1_epi16(left(refs, s, h));
        let (log2w, log2h) = (w.trailing_zeros(), h.trailing_zeros());
        let vertical_shift = _mm_cvtsi32_si128(log2w.saturating_sub(log2h) as i32);
        let horizontal_shift = _mm_cvtsi32_si128(log2h.saturating_sub(log2w) as i32);
        let vertical_row0 = _mm256_add_epi16(
            _mm256_mullo_epi16(top_row, _mm256_set1_epi16(h as i16 - 1)),
            bottom_left,
        );
        let horizontal_row0 = _mm256_mullo_epi16(x_plus_one, top_right);
        let rounding = _mm256_set1_epi16(w.max(h) as i16);
        Self {
            row0: _mm256_add_epi16(
                _mm256_add_epi16(
                    _mm256_sll_epi16(vertical_row0, vertical_shift),
                    _mm256_sll_epi16(horizontal_row0, horizontal_shift),
                ),
                rounding,
            ),
            step: _mm256_sll_epi16(_mm256_sub_epi16(bottom_left, top_row), vertical_shift),
            left_weight: _mm256_sll_epi16(
                _mm256_sub_epi16(_mm256_set1_epi16(w as i16), x_plus_one),
                horizontal_shift,
            ),
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

/// Final shift for planar on a W x H block: log2 max(W, H) + 1.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_shift(w: usize, h: usize) -> __m128i {
    _mm_cvtsi32_si128(w.max(h).trailing_zeros() as i32 + 1)
}

/// Width 4: four rows per vector, in its quarters.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_4(refs: &[u16], h: usize, dst: &mut [u16], stride: usize) {
    const W: usize = 4;
    let s = W + h;
    let shift = planar_shift(W, h);
    let top_row = _mm256_broadcastq_epi64(load4(refs, s + 1));
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4);
    let columns = PlanarColumns::new(refs, W, h, top_row, x_plus_one);
    let mut acc = columns.advanced(per_quarter([0, 1, 2, 3]));
    let four_rows = _mm256_slli_epi16::<2>(columns.step);
    for y in (0..h).step_by(4) {
        let left_column = per_quarter([
            left(refs, s, y),
            left(refs, s, y + 1),
            left(refs, s, y + 2),
            left(refs, s, y + 3),
        ]);
        store_4x4(
            &mut dst[y * stride..],
            stride,
            columns.values(acc, left_column, shift),
        );
        acc = _mm256_add_epi16(acc, four_rows);
    }
}

/// Width 8: two rows per vector, row y in the low lane and y + 1 in the high one.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_8(refs: &[u16], h: usize, dst: &mut [u16], stride: usize) {
    const W: usize = 8;
    let s = W + h;
    let shift = planar_shift(W, h);
    let top_row = load8_twice(refs, s + 1);
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8);
    let columns = PlanarColumns::new(refs, W, h, top_row, x_plus_one);
    let mut acc = columns.advanced(per_lane(0, 1));
    let two_rows = _mm256_slli_epi16::<1>(columns.step);
    for y in (0..h).step_by(2) {
        let left_pair = per_lane(left(refs, s, y), left(refs, s, y + 1));
        store_2x8(dst, stride, y, columns.values(acc, left_pair, shift));
        acc = _mm256_add_epi16(acc, two_rows);
    }
}

/// Width 16: one row per vector.
#[inline]
#[target_feature(enable = "avx2")]
fn planar_16(refs: &[u16], h: usize, dst: &mut [u16], stride: usize) {
    const W: usize = 16;
    let s = W + h;
    let shift = planar_shift(W, h);
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    let columns = PlanarColumns::new(refs, W, h, load16(refs, s + 1), x_plus_one);
    let mut acc = columns.row0;
    for y in 0..h {
        let row = columns.values(acc, _mm256_set1_epi16(left(refs, s, y)), shift);
        store16(dst, y * stride, row);
        acc = _mm256_add_epi16(acc, columns.step);
    }
}

/// Width 32: two vectors per row, columns 0..16 (`low`) and 16..32 (`high`).
#[inline]
#[target_feature(enable = "avx2")]
fn planar_32(refs: &[u16], h: usize, dst: &mut [u16], stride: usize) {
    const W: usize = 32;
    let s = W + h;
    let shift = planar_shift(W, h);
    let x_plus_one = _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    let low = PlanarColumns::new(refs, W, h, load16(refs, s + 1), x_plus_one);
    let high = PlanarColumns::new(
        refs,
        W,
        h,
        load16(refs, s + 17),
        _mm256_add_epi16(x_plus_one, _mm256_set1_epi16(16)),
    );
    let (mut acc_low, mut acc_high) = (low.row0, high.row0);
    for y in 0..h {
        let l = _mm256_set1_epi16(left(refs, s, y));
        let row = &mut dst[y * stride..][..W];
        store16(row, 0, low.values(acc_low, l, shift));
        store16(row, 16, high.values(acc_high, l, shift));
        acc_low = _mm256_add_epi16(acc_low, low.step);
        acc_high = _mm256_add_epi16(acc_high, high.step);
    }
}

// ---------------------------------------------------------------------------------------
// DC

/// The sum of the 32-bit lanes of `quarters`.
#[inline]
#[target_feature(enable = "avx2")]
fn sum_epi32(quarters: __m128i) -> i32 {
    let halves = _mm_add_epi32(quarters, _mm_unpackhi_epi64(quarters, quarters));
    _mm_cvtsi128_si32(_mm_add_epi32(halves, _mm_shuffle_epi32::<0b01>(halves)))
}

/// The DC value of a square: the rounded mean of the N left and N top samples.
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
    let sum = sum_epi32(_mm_madd_epi16(lanes, _mm_set1_epi16(1)));
    (sum + N as i32) >> (N.trailing_zeros() + 1)
}

/// The DC value of a rectangle: the rounded mean of the `len` (8, 16 or 32) samples of its
/// longer edge, `refs[at..at + len]`.
#[inline]
#[target_feature(enable = "avx2")]
fn dc_value_of_edge(refs: &[u16], at: usize, len: usize) -> i32 {
    // Each 16-bit lane adds up at most 2 samples.
    let lanes = match len {
        8 => load8(refs, at),
        _ => {
            let mut sum = load16(refs, at);
            if len == 32 {
                sum = _mm256_add_epi16(sum, load16(refs, at + 16));
            }
            _mm_add_epi16(
                _mm256_castsi256_si128(sum),
                _mm256_extracti128_si256::<1>(sum),
            )
        }
    };
    let sum = sum_epi32(_mm_madd_epi16(lanes, _mm_set1_epi16(1)));
    (sum + (len as i32 >> 1)) >> len.trailing_zeros()
}

/// DC prediction for blocks of width W.
#[inline]
#[target_feature(enable = "avx2")]
fn dc<const W: usize>(refs: &[u16], h: usize, edge_filter: bool, dst: &mut [u16], stride: usize) {
    let s = W + h;
    let dc = if h == W {
        dc_value::<W>(refs)
    } else if W > h {
        dc_value_of_edge(refs, s + 1, W)
    } else {
        dc_value_of_edge(refs, s - h, h)
    };
    let fill = _mm256_set1_epi16(dc as i16);
    for y in 0..h {
        let row = &mut dst[y * stride..][..W];
        for x in (0..W).step_by(16) {
            store_len(row, x, piece(W), fill);
        }
    }
    if edge_filter {
        let dc = dc as i16;
        let bias = _mm256_set1_epi16(3 * dc + 2);
        for x in (0..W).step_by(16) {
            let top_row = load_len(refs, s + 1 + x, piece(W));
            let smoothed = _mm256_srli_epi16::<2>(_mm256_add_epi16(top_row, bias));
            store_len(dst, x, piece(W), smoothed);
        }
        dst[0] = ((left(refs, s, 0) + 2 * dc + top(refs, s, 0) + 2) >> 2) as u16;
        for y in 1..h {
            dst[y * stride] = ((left(refs, s, y) + 3 * dc + 2) >> 2) as u16;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Angular

/// Angular prediction for blocks of width W; `max` is the largest sample value.
#[inline]
#[target_feature(enable = "avx2")]
fn angular<const W: usize>(
    mode: u8,
    refs: &[u16],
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    max: i16,
) {
    let s = W + h;
    let angle = intra_pred_angle(mode);
    let vertical = mode >= FIRST_VERTICAL_MODE;
    let column_taps = || &COLUMN_TAPS[usize::from(mode - 2)];
    if mode == VER {
        vertical_copy::<W>(refs, h, edge_filter, dst, stride, max);
    } else if mode == HOR {
        horizontal_copy::<W>(refs, h, edge_filter, dst, stride, max);
    } else if h != W {
        // Rectangles: the main reference is built by the scalar loop where the mode
        // projects the other edge (and, for width 4, always: see the module docs).
        let lines = if vertical { h } else { W };
        let projects = first_main_index(mode, lines) < 0 && angle != -32;
        if vertical && projects {
            let main = main_reference(mode, refs, W, h);
            vertical_class::<W>(&main, MAIN_ORIGIN, angle, h, dst, stride);
        } else if vertical {
            vertical_class::<W>(refs, s, angle, h, dst, stride);
        } else if projects || W == 4 {
            let main = main_reference(mode, refs, W, h);
            horizontal_class::<W, false>(&main, MAIN_ORIGIN, column_taps(), h, dst, stride);
        } else {
            horizontal_class::<W, true>(refs, s, column_taps(), h, dst, stride);
        }
    } else if W == 4 {
        angular_4x4(&TAPS_4X4[usize::from(mode - 2)], refs, dst, stride);
    } else if W == 8 {
        angular_8x8(&TAPS_8X8[usize::from(mode - 2)], refs, dst, stride);
    } else {
        // At -32 (mode 18) the projection of the left column is the identity: ref[k] is
        // refs[2N + k] for negative k too.
        if first_main_index(mode, W) < 0 && angle != -32 {
            let mut main = [0; MAIN_LEN];
            build_main_reference::<W>(mode, refs, &mut main);
            if vertical {
                vertical_class::<W>(&main, MAIN_ORIGIN, angle, W, dst, stride);
            } else {
                horizontal_class::<W, false>(&main, MAIN_ORIGIN, column_taps(), W, dst, stride);
            }
        } else if vertical {
            // ref[k] = refs[2N + k].
            vertical_class::<W>(refs, s, angle, W, dst, stride);
        } else {
            // ref[k] = refs[2N - k].
            horizontal_class::<W, true>(refs, s, column_taps(), W, dst, stride);
        }
    }
}

/// Pure vertical: every row is the top row; with `edge_filter` the first column follows
/// half the gradient of the left column.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_copy<const W: usize>(
    refs: &[u16],
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    max: i16,
) {
    let s = W + h;
    let top_row = load_len(refs, s + 1, piece(W));
    let top_row_end = if W == 32 {
        load16(refs, s + 17)
    } else {
        top_row
    };
    for y in 0..h {
        let row = &mut dst[y * stride..][..W];
        store_len(row, 0, piece(W), top_row);
        if W == 32 {
            store16(row, 16, top_row_end);
        }
    }
    if edge_filter {
        for y in 0..h {
            let gradient = (left(refs, s, y) - corner(refs, s)) >> 1;
            dst[y * stride] = (top(refs, s, 0) + gradient).clamp(0, max) as u16;
        }
    }
}

/// Pure horizontal: every row repeats its left sample; with `edge_filter` the first row
/// follows half the gradient of the top row.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_copy<const W: usize>(
    refs: &[u16],
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    max: i16,
) {
    let s = W + h;
    for y in 0..h {
        let fill = _mm256_set1_epi16(left(refs, s, y));
        let row = &mut dst[y * stride..][..W];
        for x in (0..W).step_by(16) {
            store_len(row, x, piece(W), fill);
        }
    }
    if edge_filter {
        let corner = _mm256_set1_epi16(corner(refs, s));
        let left0 = _mm256_set1_epi16(left(refs, s, 0));
        for x in (0..W).step_by(16) {
            let top_row = load_len(refs, s + 1 + x, piece(W));
            let gradient = _mm256_srai_epi16::<1>(_mm256_sub_epi16(top_row, corner));
            let first_row = _mm256_add_epi16(left0, gradient);
            let clamped = _mm256_min_epi16(
                _mm256_max_epi16(first_row, _mm256_setzero_si256()),
                _mm256_set1_epi16(max),
            );
            store_len(dst, x, piece(W), clamped);
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
            let source = main_source(mode, n, n, k);
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
                let entry = main_source(mode, n, n, k) - window;
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
                    (main_source(mode, n, n, near) - window) as i32,
                    (main_source(mode, n, n, far) - window) as i32,
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

/// Vertical-class modes on blocks of width W and height `h` (all shapes but the 4x4 and
/// 8x8 squares): row y is one contiguous window of the main reference
/// `ref[k] = main[origin + k]` with a single fraction. Widths 4 and 8 hold rows y and
/// y + 1 in the two lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_class<const W: usize>(
    main: &[u16],
    origin: usize,
    angle: i32,
    h: usize,
    dst: &mut [u16],
    stride: usize,
) {
    if W <= 8 {
        // The W samples at `at` and `high_at`, in the low and high lanes.
        let pair = |at: usize, high_at: usize| {
            if W == 8 {
                load8_pair(main, at, high_at)
            } else {
                _mm256_set_m128i(load4(main, high_at), load4(main, at))
            }
        };
        for y in (0..h).step_by(2) {
            let (k, fact) = line_taps(y, angle);
            let (k_high, fact_high) = line_taps(y + 1, angle);
            let at = (origin as isize + k) as usize;
            let high_at = (origin as isize + k_high) as usize;
            let near = pair(at, high_at);
            // As below, the far samples are not loaded where neither row has a fraction
            // (angles 32 and -32); otherwise they lie inside the main reference, and a
            // fraction of 0 ignores them.
            let rows = if fact == 0 && fact_high == 0 {
                near
            } else {
                let far = pair(at + 1, high_at + 1);
                interpolate(near, far, per_lane(fact, fact_high))
            };
            if W == 8 {
                store_2x8(dst, stride, y, rows);
            } else {
                store4(dst, y * stride, _mm256_castsi256_si128(rows));
                store4(dst, (y + 1) * stride, _mm256_extracti128_si256::<1>(rows));
            }
        }
        return;
    }
    for y in 0..h {
        let (k, fact) = line_taps(y, angle);
        let at = (origin as isize + k) as usize;
        // One bounds check per row for the window and one for the row of `dst`. Where the
        // fraction is 0 the far samples are not loaded: at angle 32 they would run past
        // the end of `refs`.
        let row = &mut dst[y * stride..][..W];
        if fact == 0 {
            let near = &main[at..at + W];
            for x in (0..W).step_by(16) {
                store_len(row, x, piece(W), load_len(near, x, piece(W)));
            }
        } else {
            let window = &main[at..at + W + 1];
            let fact = _mm256_set1_epi16(fact);
            for x in (0..W).step_by(16) {
                let near = load_len(window, x, piece(W));
                let far = load_len(window, x + 1, piece(W));
                store_len(row, x, piece(W), interpolate(near, far, fact));
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

/// Horizontal-class modes on blocks of width W and height `h` (all shapes but the 4x4 and
/// 8x8 squares), predicted row by row without a transpose from the main reference
/// `ref[k] = main[origin + k]`, or `main[origin - k]` if `REVERSED`. Widths 4 and 8 hold
/// rows y and y + 1 of chunk 0 in the two lanes (width 4 storing half of each); for width
/// 4 `main` must be a [`MainRef`], which chunk 0's unused columns 4..8 may read beyond the
/// block's references.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_class<const W: usize, const REVERSED: bool>(
    main: &[u16],
    origin: usize,
    taps: &ColumnTaps,
    h: usize,
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
    // The selectors and fractions of chunk `c` in the low lane and `c_high` in the high one.
    let lanes = |c: usize, c_high: usize| {
        let pair = |table: &[[u8; 16]; 4]| {
            _mm256_set_m128i(load_bytes16(&table[c_high], 0), load_bytes16(&table[c], 0))
        };
        let fact = _mm256_set_m128i(load8(&taps.fact[c_high], 0), load8(&taps.fact[c], 0));
        (pair(near), pair(far), fact)
    };
    // Row y of chunk c in the low lane, row y_high of chunk c_high in the high one.
    let predict = |(y, c): (usize, usize),
                   (y_high, c_high): (usize, usize),
                   (near, far, fact): (__m256i, __m256i, __m256i)| {
        let windows = load8_pair(main, window_at(y, c), window_at(y_high, c_high));
        let near = _mm256_shuffle_epi8(windows, near);
        if taps.integer {
            near
        } else {
            interpolate(near, _mm256_shuffle_epi8(windows, far), fact)
        }
    };
    if W <= 8 {
        let taps00 = lanes(0, 0);
        for y in (0..h).step_by(2) {
            let rows = predict((y, 0), (y + 1, 0), taps00);
            if W == 8 {
                store_2x8(dst, stride, y, rows);
            } else {
                store4(dst, y * stride, _mm256_castsi256_si128(rows));
                store4(dst, (y + 1) * stride, _mm256_extracti128_si256::<1>(rows));
            }
        }
        return;
    }
    let taps01 = lanes(0, 1);
    if W == 16 {
        for y in 0..h {
            store16(dst, y * stride, predict((y, 0), (y, 1), taps01));
        }
    } else {
        let taps23 = lanes(2, 3);
        for y in 0..h {
            let row = &mut dst[y * stride..][..W];
            store16(row, 0, predict((y, 0), (y, 1), taps01));
            store16(row, 16, predict((y, 2), (y, 3), taps23));
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
