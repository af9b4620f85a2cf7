//! AVX2 distortion measures, equal to the scalar reference for samples of up to
//! [`MAX_BIT_DEPTH`] (10) bits, the deepest of [`BIT_DEPTHS`]; deeper samples are outside
//! their contract (the bounds below would fail).
//!
//! Samples are `u16` and the arithmetic stays in 16-bit lanes wherever the bounds allow,
//! widening to 32 bits only to sum. With samples of at most 10 bits (`M = 1023`), a difference
//! `d` has `|d| <= M`, which fits `i16` with room to spare. The bounds, for the largest
//! block (64x64, 4096 samples):
//!
//! - **SSE**: `madd(d, d)` puts two squares, at most `2 * M^2`, in each of the eight 32-bit
//!   lanes. Every kernel spreads the block evenly over the lanes, so a lane gathers at most
//!   `4096 / 8 * M^2 = 535_822_848 < 2^31` over the whole block: the lanes are summed in
//!   64 bits once, at the end (the block total, `4096 * M^2`, exceeds `i32`).
//! - **SAD**: `|d|` (as `abs(a - b)` in 16 bits) is added up in 16-bit lanes, at most 32 per
//!   lane (`32 * M = 32_736 <= i16::MAX`), then summed into 32-bit lanes by `madd` with ones
//!   (which reads its inputs as signed, hence 32 and not 64). The total, `4096 * M`, is far
//!   from `u32::MAX`.
//! - **SATD 8x8**: each butterfly stage doubles the bound, so after the three vertical stages
//!   and the first two horizontal ones a value is at most `32 * M = 32_736`, still `i16`; the
//!   last stage would reach `64 * M` and overflow. It is never computed: for a butterfly pair
//!   `|p + q| + |p - q| = 2 * max(|p|, |q|)`, so with `S` the sum over the tile's 32 pairs of
//!   `max(|p|, |q|)` (each at most `32 * M`, summed by `madd` into 32 bits) the tile's HM
//!   normalisation `(2 * S + 2) >> 2` is `(S + 1) >> 1`. x264 and dav1d use the same identity.
//! - **SATD 4x4**: three stages reach at most `8 * M`; the fourth is replaced the same way,
//!   which shows a 4x4 tile's sum `2 * S` to be even: its normalisation `(2 * S + 1) >> 1` is
//!   just `S`, so the tiles' `S` are summed with no per-tile rounding.
//!
//! The compile-time assertions beside the kernels check these bounds against
//! [`BIT_DEPTHS`], so deepening the supported samples without revisiting them fails to build.
//!
//! Loads go through [`Block`], which reads rows without a bounds check each: the entry points
//! require (as their callers' `check_blocks` confirms) that both blocks lie inside their
//! slices, and every load stays inside its block. Checked slicing row by row cost more than
//! the arithmetic on the smaller blocks (up to 2x for 16x16 SSE and 8x16 SATD).

use std::arch::x86_64::*;

use crate::dsp::x86::transpose_8x8_lanes;
use crate::dsp::BIT_DEPTHS;

use super::hadamard_tile;

/// The deepest sample bit depth the kernels are exact for: the largest of [`BIT_DEPTHS`].
pub const MAX_BIT_DEPTH: u32 = {
    let mut max = 0;
    let mut i = 0;
    while i < BIT_DEPTHS.len() {
        if BIT_DEPTHS[i] > max {
            max = BIT_DEPTHS[i];
        }
        i += 1;
    }
    max
};

/// The largest sample, and so the largest difference magnitude.
const MAX_SAMPLE: i64 = (1 << MAX_BIT_DEPTH) - 1;
/// Samples in the largest block.
const MAX_BLOCK_SAMPLES: i64 = 64 * 64;

// Differences fit i16.
const _: () = assert!(MAX_SAMPLE <= i16::MAX as i64);
// SSE: a 32-bit lane's share of a block's squares.
const _: () = assert!(MAX_BLOCK_SAMPLES / 8 * MAX_SAMPLE * MAX_SAMPLE <= i32::MAX as i64);
/// SAD: magnitudes a 16-bit lane may gather before `madd` (signed) widens them.
const SAD_BATCH: usize = 32;
const _: () = assert!(SAD_BATCH as i64 * MAX_SAMPLE <= i16::MAX as i64);
// SATD: five butterfly stages (8x8) in i16, and so three (4x4).
const _: () = assert!(32 * MAX_SAMPLE <= i16::MAX as i64);

/// A `w` x `h` block of samples, row `y` at `y * stride` of `samples`, that lies inside
/// `samples`: its loads need no bounds checks.
#[derive(Clone, Copy)]
struct Block<'a> {
    samples: &'a [u16],
    stride: usize,
    w: usize,
    h: usize,
}

impl<'a> Block<'a> {
    /// # Safety
    /// The block must lie inside `samples`: `h >= 1`, `w <= stride` and
    /// `(h - 1) * stride + w <= samples.len()`.
    unsafe fn new(samples: &'a [u16], stride: usize, w: usize, h: usize) -> Block<'a> {
        debug_assert!(h >= 1 && w <= stride && (h - 1) * stride + w <= samples.len());
        Block {
            samples,
            stride,
            w,
            h,
        }
    }

    /// A pointer to sample `x` of row `y`, which must lie inside the block (`x < w`, `y < h`).
    #[inline]
    unsafe fn at(self, x: usize, y: usize) -> *const u16 {
        debug_assert!(
            x < self.w && y < self.h,
            "({x}, {y}) outside {}x{}",
            self.w,
            self.h
        );
        // SAFETY: (x, y) lies inside the block (the caller's promise), so its index,
        // y * stride + x < (h - 1) * stride + w, lies inside `samples` (`new`'s promise).
        unsafe { self.samples.as_ptr().add(y * self.stride + x) }
    }

    /// Samples `x..x + 16` of row `y`, which must lie inside the block.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load16(self, x: usize, y: usize) -> __m256i {
        debug_assert!(x + 16 <= self.w);
        // SAFETY: the 16 samples (32 bytes) lie inside the block (the caller's promise), so
        // inside `samples`; `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_si256(self.at(x, y).cast()) }
    }

    /// Samples `x..x + 8` of row `y`, which must lie inside the block.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load8(self, x: usize, y: usize) -> __m128i {
        debug_assert!(x + 8 <= self.w);
        // SAFETY: the 8 samples (16 bytes) lie inside the block (the caller's promise), so
        // inside `samples`; `loadu` has no alignment requirement.
        unsafe { _mm_loadu_si128(self.at(x, y).cast()) }
    }

    /// Samples `x..x + 4` of row `y`, which must lie inside the block, in the low half.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load4(self, x: usize, y: usize) -> __m128i {
        debug_assert!(x + 4 <= self.w);
        // SAFETY: the 4 samples (8 bytes, the size of the load) lie inside the block (the
        // caller's promise), so inside `samples`; the load has no alignment requirement.
        unsafe { _mm_loadl_epi64(self.at(x, y).cast()) }
    }

    /// Samples `x..x + 4` of rows `y..y + 4`, which must lie inside the block: rows `y`,
    /// `y + 1` in lane 0 and `y + 2`, `y + 3` in lane 1.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn rows_of_4(self, x: usize, y: usize) -> __m256i {
        // SAFETY: the four rows' samples lie inside the block (the caller's promise).
        let [r0, r1, r2, r3] = unsafe { [0, 1, 2, 3].map(|i| self.load4(x, y + i)) };
        _mm256_set_m128i(_mm_unpacklo_epi64(r2, r3), _mm_unpacklo_epi64(r0, r1))
    }

    /// Samples `x..x + 8` of rows `y` (lane 0) and `y + 1` (lane 1), which must lie inside
    /// the block.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn rows_of_8(self, x: usize, y: usize) -> __m256i {
        // SAFETY: both rows' samples lie inside the block (the caller's promise).
        unsafe { _mm256_set_m128i(self.load8(x, y + 1), self.load8(x, y)) }
    }
}

/// The two blocks of an entry point, checked in debug builds.
///
/// # Safety
/// Both blocks must lie inside their slices (the entry points' contract).
#[inline]
unsafe fn blocks<'a>(
    a: &'a [u16],
    a_stride: usize,
    b: &'a [u16],
    b_stride: usize,
    w: usize,
    h: usize,
) -> (Block<'a>, Block<'a>) {
    // SAFETY: the caller's promise.
    unsafe { (Block::new(a, a_stride, w, h), Block::new(b, b_stride, w, h)) }
}

/// Sum of squared differences.
///
/// # Safety
/// The CPU must support AVX2, `w` and `h` must be in `BLOCK_SIDES`, and both blocks must lie
/// inside their slices (as `check_blocks` confirms).
#[target_feature(enable = "avx2")]
pub unsafe fn sse(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
) -> u64 {
    // SAFETY: this function's contract.
    let (a, b) = unsafe { blocks(a, a_stride, b, b_stride, w, h) };
    let square_sum = |va: __m256i, vb: __m256i| {
        let diff = _mm256_sub_epi16(va, vb);
        _mm256_madd_epi16(diff, diff)
    };
    // Each lane gathers at most 64 * 64 / 8 * 1023^2 < 2^31 (see the module docs).
    let mut sum = _mm256_setzero_si256();
    match w {
        4 => {
            for y in (0..h).step_by(4) {
                // SAFETY: rows y..y + 4 lie inside the blocks (h is a multiple of 4).
                let (va, vb) = unsafe { (a.rows_of_4(0, y), b.rows_of_4(0, y)) };
                sum = _mm256_add_epi32(sum, square_sum(va, vb));
            }
        }
        8 => {
            for y in (0..h).step_by(2) {
                // SAFETY: rows y, y + 1 lie inside the blocks (h is even).
                let (va, vb) = unsafe { (a.rows_of_8(0, y), b.rows_of_8(0, y)) };
                sum = _mm256_add_epi32(sum, square_sum(va, vb));
            }
        }
        16 => sum = sse_wide::<16>(a, b),
        32 => sum = sse_wide::<32>(a, b),
        _ => sum = sse_wide::<64>(a, b),
    }
    horizontal_sum_u64(sum)
}

/// Squares of the differences of two `W`-wide blocks (`W` a multiple of 16), in 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn sse_wide<const W: usize>(a: Block, b: Block) -> __m256i {
    debug_assert!(a.w == W && b.w == W);
    // Two accumulators halve the chain of dependent adds.
    let mut sums = [_mm256_setzero_si256(); 2];
    for y in 0..a.h {
        for (i, x) in (0..W).step_by(16).enumerate() {
            // SAFETY: samples x..x + 16 <= W of row y < h lie inside the blocks.
            let diff = unsafe { _mm256_sub_epi16(a.load16(x, y), b.load16(x, y)) };
            sums[i % 2] = _mm256_add_epi32(sums[i % 2], _mm256_madd_epi16(diff, diff));
        }
    }
    _mm256_add_epi32(sums[0], sums[1])
}

/// HM-style SATD.
///
/// # Safety
/// The CPU must support AVX2, `w` and `h` must be in `BLOCK_SIDES`, and both blocks must lie
/// inside their slices (as `check_blocks` confirms).
#[target_feature(enable = "avx2")]
pub unsafe fn satd(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
) -> u32 {
    // SAFETY: this function's contract.
    let (a, b) = unsafe { blocks(a, a_stride, b, b_stride, w, h) };
    if hadamard_tile(w, h) == 8 {
        satd_8x8_tiles(a, b)
    } else {
        satd_4x4_tiles(a, b)
    }
}

/// SATD over 8x8 tiles (the blocks' sides multiples of 8), two at a time: side by side when
/// the blocks are at least 16 wide, else (8 wide) one above the other, the last one alone
/// with a zero partner.
#[target_feature(enable = "avx2")]
fn satd_8x8_tiles(a: Block, b: Block) -> u32 {
    let (w, h) = (a.w, a.h);
    let mut total = _mm256_setzero_si256();
    if w >= 16 {
        for top in (0..h).step_by(8) {
            for left in (0..w).step_by(16) {
                // SAFETY: samples left..left + 16 <= w of rows top..top + 8 <= h lie inside the
                // blocks (w is a multiple of 16 and h of 8).
                let rows = std::array::from_fn(|i| unsafe {
                    _mm256_sub_epi16(a.load16(left, top + i), b.load16(left, top + i))
                });
                total = _mm256_add_epi32(total, satd_8x8_pair(rows));
            }
        }
    } else {
        // SAFETY: `diff8` is only called for rows y < h (below), which lie inside the blocks,
        // 8 wide.
        let diff8 = |y: usize| unsafe { _mm_sub_epi16(a.load8(0, y), b.load8(0, y)) };
        for top in (0..h).step_by(16) {
            // h is a multiple of 8: rows top..top + 8 exist, and so do the next 8 if any.
            let rows = if top + 8 < h {
                std::array::from_fn(|i| _mm256_set_m128i(diff8(top + 8 + i), diff8(top + i)))
            } else {
                std::array::from_fn(|i| _mm256_zextsi128_si256(diff8(top + i)))
            };
            total = _mm256_add_epi32(total, satd_8x8_pair(rows));
        }
    }
    // Every 32-bit lane holds its tile's normalised SATD (see `satd_8x8_pair`): four copies.
    horizontal_sum(total) >> 2
}

/// Normalised SATDs of the two 8x8 tiles whose difference rows are lanes 0 and 1 of `rows`:
/// each 32-bit element of a lane holds its tile's value, so the vector sums to four times
/// their total.
#[target_feature(enable = "avx2")]
fn satd_8x8_pair(rows: [__m256i; 8]) -> __m256i {
    // Three stages down the columns, then two along the rows: at most 32 * 1023, in i16.
    let mut coefs = transpose_8x8_lanes(hadamard_down(rows));
    butterfly_stage(&mut coefs, 1);
    butterfly_stage(&mut coefs, 2);
    // The last stage pairs coefs[i] with coefs[i + 4]: |p + q| + |p - q| = 2 max(|p|, |q|).
    let ones = _mm256_set1_epi16(1);
    let pair_max = |i: usize| {
        let max = _mm256_max_epi16(_mm256_abs_epi16(coefs[i]), _mm256_abs_epi16(coefs[i + 4]));
        _mm256_madd_epi16(max, ones)
    };
    let sums = _mm256_add_epi32(
        _mm256_add_epi32(pair_max(0), pair_max(1)),
        _mm256_add_epi32(pair_max(2), pair_max(3)),
    );
    // Each lane's S (its four partial sums) into all four of its elements; then, as the tile's
    // magnitudes add up to 2 S, HM's (2 S + 2) >> 2 is (S + 1) >> 1.
    let sums = _mm256_add_epi32(sums, _mm256_shuffle_epi32::<0x4e>(sums));
    let sums = _mm256_add_epi32(sums, _mm256_shuffle_epi32::<0xb1>(sums));
    _mm256_srli_epi32::<1>(_mm256_add_epi32(sums, _mm256_set1_epi32(1)))
}

/// One butterfly stage between registers: `rows[i]` with `rows[i + half]`.
#[target_feature(enable = "avx2")]
#[inline]
fn butterfly_stage(rows: &mut [__m256i; 8], half: usize) {
    for start in (0..8).step_by(2 * half) {
        for i in start..start + half {
            let (p, q) = (rows[i], rows[i + half]);
            rows[i] = _mm256_add_epi16(p, q);
            rows[i + half] = _mm256_sub_epi16(p, q);
        }
    }
}

/// 8-point Hadamard down the columns: butterflies between registers.
#[target_feature(enable = "avx2")]
#[inline]
fn hadamard_down(mut rows: [__m256i; 8]) -> [__m256i; 8] {
    for half in [1, 2, 4] {
        butterfly_stage(&mut rows, half);
    }
    rows
}

/// SATD over 4x4 tiles, one register per tile (rows 0,1 in lane 0, rows 2,3 in lane 1).
#[target_feature(enable = "avx2")]
fn satd_4x4_tiles(a: Block, b: Block) -> u32 {
    let mut total = _mm_setzero_si128();
    for top in (0..a.h).step_by(4) {
        for left in (0..a.w).step_by(4) {
            // SAFETY: samples left..left + 4 <= w of rows top..top + 4 <= h lie inside the
            // blocks (w and h are multiples of 4).
            let diff = unsafe { _mm256_sub_epi16(a.rows_of_4(left, top), b.rows_of_4(left, top)) };
            total = _mm_add_epi32(total, satd_4x4(diff));
        }
    }
    horizontal_sum(_mm256_zextsi128_si256(total))
}

/// Normalised SATD of one 4x4 tile of differences, in four 32-bit elements to be summed.
///
/// Each Hadamard stage pairs every sample with a partner a fixed distance away (rows one
/// apart, columns two apart, columns one apart, rows two apart): adding the register with its
/// partners swapped in, to itself with the second of each pair negated, gives sums and
/// differences in place. The last stage, between the two lanes, is left as
/// `max(|p|, |q|)`: half of `|p + q| + |p - q|`, which is HM's `(sum + 1) >> 1` as the sum is
/// even.
#[target_feature(enable = "avx2")]
fn satd_4x4(diff: __m256i) -> __m128i {
    let butterfly = |v: __m256i, swapped: __m256i, signs: __m256i| {
        _mm256_add_epi16(swapped, _mm256_sign_epi16(v, signs))
    };
    let (p, n) = (1, -1);
    let rows_1_apart = _mm256_setr_epi16(p, p, p, p, n, n, n, n, p, p, p, p, n, n, n, n);
    let cols_2_apart = _mm256_setr_epi16(p, p, n, n, p, p, n, n, p, p, n, n, p, p, n, n);
    let cols_1_apart = _mm256_setr_epi16(p, n, p, n, p, n, p, n, p, n, p, n, p, n, p, n);
    let swap_neighbours = _mm256_setr_epi8(
        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, //
        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
    );
    // Three stages: at most 8 * 1023.
    let v = butterfly(diff, _mm256_shuffle_epi32::<0x4e>(diff), rows_1_apart);
    let v = butterfly(v, _mm256_shuffle_epi32::<0xb1>(v), cols_2_apart);
    let v = butterfly(v, _mm256_shuffle_epi8(v, swap_neighbours), cols_1_apart);
    let v = _mm256_abs_epi16(v);
    let max = _mm_max_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    _mm_madd_epi16(max, _mm_set1_epi16(1))
}

/// Sum of absolute differences: `|a - b|` in 16-bit lanes, batches of up to `SAD_BATCH` per
/// lane summed into 32-bit lanes; 4 and 8 wide blocks gather rows into one register.
///
/// # Safety
/// The CPU must support AVX2, `w` and `h` must be in `BLOCK_SIDES`, and both blocks must lie
/// inside their slices (as `check_blocks` confirms).
#[target_feature(enable = "avx2")]
pub unsafe fn sad(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    b_stride: usize,
    w: usize,
    h: usize,
) -> u32 {
    // SAFETY: this function's contract.
    let (a, b) = unsafe { blocks(a, a_stride, b, b_stride, w, h) };
    let abs_diff = |va: __m256i, vb: __m256i| _mm256_abs_epi16(_mm256_sub_epi16(va, vb));
    let ones = _mm256_set1_epi16(1);
    let sum = match w {
        // At most 64 / 4 = 16 registers of rows: within one batch.
        4 => {
            let mut acc = _mm256_setzero_si256();
            for y in (0..h).step_by(4) {
                // SAFETY: rows y..y + 4 lie inside the blocks (h is a multiple of 4).
                let (va, vb) = unsafe { (a.rows_of_4(0, y), b.rows_of_4(0, y)) };
                acc = _mm256_add_epi16(acc, abs_diff(va, vb));
            }
            _mm256_madd_epi16(acc, ones)
        }
        // At most 64 / 2 = 32 registers of rows: one batch (`SAD_BATCH`).
        8 => {
            let mut acc = _mm256_setzero_si256();
            for y in (0..h).step_by(2) {
                // SAFETY: rows y, y + 1 lie inside the blocks (h is even).
                let (va, vb) = unsafe { (a.rows_of_8(0, y), b.rows_of_8(0, y)) };
                acc = _mm256_add_epi16(acc, abs_diff(va, vb));
            }
            _mm256_madd_epi16(acc, ones)
        }
        16 => sad_wide::<16>(a, b),
        32 => sad_wide::<32>(a, b),
        _ => sad_wide::<64>(a, b),
    };
    horizontal_sum(sum)
}

/// Absolute differences of two `W`-wide blocks (`W` a multiple of 16), in 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn sad_wide<const W: usize>(a: Block, b: Block) -> __m256i {
    debug_assert!(a.w == W && b.w == W);
    // Two 16-bit accumulators, register `i` of a row into `i % 2`: each gains W / 32 values a
    // row (one for W = 16, into the first), so a batch of rows gives each at most `SAD_BATCH`.
    let batch_rows = SAD_BATCH / (W / 32).max(1);
    let ones = _mm256_set1_epi16(1);
    let mut sum = _mm256_setzero_si256();
    for top in (0..a.h).step_by(batch_rows) {
        let mut acc = [_mm256_setzero_si256(); 2];
        for y in top..a.h.min(top + batch_rows) {
            for (i, x) in (0..W).step_by(16).enumerate() {
                // SAFETY: samples x..x + 16 <= W of row y < h lie inside the blocks.
                let (va, vb) = unsafe { (a.load16(x, y), b.load16(x, y)) };
                acc[i % 2] =
                    _mm256_add_epi16(acc[i % 2], _mm256_abs_epi16(_mm256_sub_epi16(va, vb)));
            }
        }
        let batch = _mm256_add_epi32(
            _mm256_madd_epi16(acc[0], ones),
            _mm256_madd_epi16(acc[1], ones),
        );
        sum = _mm256_add_epi32(sum, batch);
    }
    sum
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

/// Sum of the eight 32-bit lanes, each read as unsigned, in 64 bits.
#[target_feature(enable = "avx2")]
#[inline]
fn horizontal_sum_u64(v: __m256i) -> u64 {
    let zero = _mm256_setzero_si256();
    let wide = _mm256_add_epi64(
        _mm256_unpacklo_epi32(v, zero),
        _mm256_unpackhi_epi32(v, zero),
    );
    let s = _mm_add_epi64(
        _mm256_castsi256_si128(wide),
        _mm256_extracti128_si256::<1>(wide),
    );
    let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    _mm_cvtsi128_si64(s) as u64
}
