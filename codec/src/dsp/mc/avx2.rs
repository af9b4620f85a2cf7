//! AVX2 interpolation kernels for 8-bit and 10-bit samples (u16 either way), bit-exact with
//! `scalar.rs`.
//!
//! Passes over samples (one-directional filters and the first pass of two-dimensional ones)
//! depend on the bit depth:
//!
//! * At 8 bits the samples fit bytes, so they are packed to bytes (`packus`) and products
//!   are added with `maddubs` on byte pairs against pairs of taps, which fit i8: 16 outputs
//!   per multiply, in i16, unshifted (shift1 = 0). A horizontal pass gathers, with a
//!   `pshufb` per tap pair, for each output the two samples of that pair from 16 bytes per
//!   lane; a vertical pass pairs two rows' bytes in each 16-bit lane (a shift and an or of
//!   the u16 rows).
//! * At 10 bits a one-pass sum reaches 1023 * 88 = 90024 before the shift, past i16, so the
//!   samples stay 16-bit and `madd` multiplies them by pairs of 16-bit taps into 32-bit sums
//!   (8 outputs per multiply), which are shifted by shift1 = 2 and then packed to i16, where
//!   they fit exactly (see the bounds in `mod.rs`). A 32-bit lane holds two adjacent
//!   samples, so a horizontal pass loads its samples at every tap offset and sums the even
//!   outputs from the even offsets and the odd outputs from the odd ones, then interleaves
//!   the two; a vertical pass interleaves two rows' 16-bit samples.
//!
//! The second pass of a two-dimensional filter is the same at both depths: two first-pass
//! i16 rows interleaved, `madd` against 16-bit tap pairs, `>> 6` and saturated to i16 by
//! the pack. Consecutive output rows of a vertical or second pass share all but one of
//! their row pairs, so each pair is built once, into a small ring on the stack, and read
//! from there by the `T / 2` output rows that use it. Two-dimensional blocks run both
//! passes together, strip by strip, so the first pass's rows never leave that ring.
//!
//! A vector holds 16 outputs, laid out one of two ways:
//!
//! * blocks 16 or more wide go in strips of 16 columns, one row per vector;
//! * narrower blocks hold two rows per vector, one per 128-bit lane, 8 columns each; blocks
//!   of 4 or 2 columns compute 8 and store only theirs. That still beats the scalar code
//!   several times over, and such small calls are dominated by fixed costs (argument
//!   checks, dispatch, setting up the taps) that a narrower layout would not remove.
//!
//! Loads never start before a row's filter footprint, but the spans they read from (24
//! samples per strip, 16 or 8 per row of a narrow block) can reach past its end, by up to
//! 11 samples (2-wide chroma blocks), and the two-dimensional pass of narrow blocks reads
//! one row below it. Where that would run off the end of `src`, [`Footprint`] hands out a
//! zero-padded copy instead; the padding only ever feeds outputs that are thrown away.
//! Stores write exactly the block. Every access is bounds-checked, so the only requirement
//! of the `unsafe fn` entry points is that the CPU supports AVX2; they expect what `mod.rs`
//! ensures: a valid size and bit depth, a `src` that covers the footprint and a `dst` that
//! holds the block. Samples outside the bit depth's range give wrong (but memory-safe)
//! results, as they do in the scalar code.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::{MAX_BLOCK, SECOND_PASS_SHIFT};

/// shift1 of H.265 8.5.3.3.3 at 10 bits: BitDepth - 8.
const SHIFT1_10: i32 = 2;

/// Interpolates a block with the `T`-tap filters `hf` and `vf`; see
/// `scalar::interpolate`, which this matches bit for bit.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn interpolate<const T: usize>(
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
    let before = T / 2 - 1;
    let fp = Footprint {
        src,
        stride,
        top_left: origin - before * stride - before,
    };
    let out = Out {
        dst,
        stride: dst_stride,
        w,
    };
    // The shifts are const generics (immediate shift counts), so each bit depth is its own
    // instantiation.
    match (full_x, full_y, bit_depth) {
        (true, true, 8) => copy::<T, 6>(&fp, h, out),
        (false, true, 8) => horizontal::<T, 0>(&fp, hf, h, out),
        (true, false, 8) => vertical_bytes::<T>(&fp, vf, h, out),
        (false, false, 8) => both::<T, 0>(&fp, hf, vf, h, out),
        (true, true, 10) => copy::<T, { 6 - SHIFT1_10 }>(&fp, h, out),
        (false, true, 10) => horizontal::<T, SHIFT1_10>(&fp, hf, h, out),
        (true, false, 10) => vertical_words::<T, SHIFT1_10>(&fp, vf, h, out),
        (false, false, 10) => both::<T, SHIFT1_10>(&fp, hf, vf, h, out),
        _ => unreachable!("bit depth {bit_depth}: mod.rs admits only 8 and 10"),
    }
}

/// Rounds one prediction to samples: `clip(0, max, (v + offset) >> (14 - BitDepth))`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn put_uni(
    src: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    put::<false>(src, src, src_stride, (w, h), dst, dst_stride, bit_depth);
}

/// Averages two predictions to samples: `clip(0, max, (a + b + offset) >> (15 - BitDepth))`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn put_bi(
    a: &[i16],
    b: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    put::<true>(a, b, src_stride, (w, h), dst, dst_stride, bit_depth);
}

/// The rounding and clipping of [`put_uni`] (`BI` false) or [`put_bi`] at one bit depth.
struct Rounding {
    /// `1 << (15 - shift)`: `mulhrs` by it is `(v << (15 - shift) + (1 << 14)) >> 15`,
    /// which is exactly `(v + (1 << (shift - 1))) >> shift`.
    scale: __m256i,
    /// The largest sample, `(1 << BitDepth) - 1`.
    max: __m256i,
}

impl Rounding {
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new<const BI: bool>(bit_depth: u32) -> Self {
        let shift = if BI { 15 - bit_depth } else { 14 - bit_depth };
        Self {
            scale: _mm256_set1_epi16(1 << (15 - shift)),
            max: _mm256_set1_epi16((1 << bit_depth) - 1),
        }
    }

    /// The samples of one prediction `a` (`BI` false; `b` is ignored) or of the average of
    /// `a` and `b`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn samples<const BI: bool>(&self, a: __m256i, b: __m256i) -> __m256i {
        let rounded = if BI {
            // The saturating add only clamps sums that end up at 0 or the maximum anyway: a
            // sum of 32767 or more gives (32767 + (1 << (shift - 1))) >> shift or more,
            // which is at least 1 << BitDepth since shift = 15 - BitDepth, and one of
            // -32768 or less a negative value.
            _mm256_mulhrs_epi16(_mm256_adds_epi16(a, b), self.scale)
        } else {
            _mm256_mulhrs_epi16(a, self.scale)
        };
        _mm256_min_epi16(_mm256_max_epi16(rounded, _mm256_setzero_si256()), self.max)
    }
}

/// [`put_uni`] (`BI` false) or [`put_bi`].
#[inline]
#[target_feature(enable = "avx2")]
fn put<const BI: bool>(
    a: &[i16],
    b: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    let rounding = Rounding::new::<BI>(bit_depth);
    match w {
        2 => put_narrow::<BI, 2>(a, b, src_stride, h, dst, dst_stride, &rounding),
        4 => put_narrow::<BI, 4>(a, b, src_stride, h, dst, dst_stride, &rounding),
        8 => put_narrow::<BI, 8>(a, b, src_stride, h, dst, dst_stride, &rounding),
        16 => {
            for y in 0..h {
                let (a, b) = (&a[y * src_stride..][..16], &b[y * src_stride..][..16]);
                let out = &mut dst[y * dst_stride..][..16];
                store_x16(out, rounding.samples::<BI>(load_x16(a), load_x16(b)));
            }
        }
        _ => {
            for y in 0..h {
                let a = &a[y * src_stride..][..w];
                let b = &b[y * src_stride..][..w];
                let out = &mut dst[y * dst_stride..][..w];
                let chunks = a.chunks_exact(16).zip(b.chunks_exact(16));
                for ((a, b), out) in chunks.zip(out.chunks_exact_mut(16)) {
                    store_x16(out, rounding.samples::<BI>(load_x16(a), load_x16(b)));
                }
            }
        }
    }
}

/// [`put`] for blocks `W` = 2, 4 or 8 wide, two rows per vector (`h` is even).
#[inline]
#[target_feature(enable = "avx2")]
fn put_narrow<const BI: bool, const W: usize>(
    a: &[i16],
    b: &[i16],
    src_stride: usize,
    h: usize,
    dst: &mut [u16],
    dst_stride: usize,
    rounding: &Rounding,
) {
    let two_rows = |values: &[i16], y: usize| {
        _mm256_set_m128i(
            load_low(&values[(y + 1) * src_stride..][..W]),
            load_low(&values[y * src_stride..][..W]),
        )
    };
    for y in (0..h).step_by(2) {
        let v = rounding.samples::<BI>(two_rows(a, y), two_rows(b, y));
        store_low(&mut dst[y * dst_stride..][..W], _mm256_castsi256_si128(v));
        store_low(
            &mut dst[(y + 1) * dst_stride..][..W],
            _mm256_extracti128_si256::<1>(v),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Sources and destinations

/// The reference samples around a block: sample (r, c) of the filter footprint, whose
/// (0, 0) is the block's top-left sample moved back by the filter's taps before the
/// integer position in each direction, is `src[top_left + r * stride + c]`.
struct Footprint<'a> {
    src: &'a [u16],
    stride: usize,
    top_left: usize,
}

impl Footprint<'_> {
    /// Index of footprint sample (r, c).
    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> usize {
        self.top_left + r * self.stride + c
    }

    /// The `N` samples from footprint sample (r, c) on, which lie inside the footprint
    /// (so inside `src`; this panics otherwise).
    #[inline(always)]
    fn inside<const N: usize>(&self, r: usize, c: usize) -> &[u16; N] {
        let at = self.at(r, c);
        self.src[at..at + N].try_into().unwrap()
    }

    /// The `N` samples from footprint sample (r, c) on, which may run past the footprint:
    /// where they run past the end of `src`, a copy in `pad` that is zero there. (`pad` is
    /// only written then, so the common case costs one comparison.)
    // Not an AVX2 function, so it can be forced inline: the inliner otherwise leaves
    // some copies out of line, and calls from AVX2 code to it cost a vzeroupper.
    #[inline(always)]
    fn span<'s, const N: usize>(
        &'s self,
        r: usize,
        c: usize,
        pad: &'s mut MaybeUninit<[u16; N]>,
    ) -> &'s [u16; N] {
        let at = self.at(r, c);
        match self.src.get(at..at + N) {
            Some(span) => span.try_into().unwrap(),
            None => pad.write(padded::<N>(self.src, at)),
        }
    }

    /// [`Footprint::span`] of (r, c) and of (r + 1, c), with one comparison for both.
    // Not an AVX2 function, so it can be forced inline: the inliner otherwise leaves
    // some copies out of line, and calls from AVX2 code to it cost a vzeroupper.
    #[inline(always)]
    fn two_spans<'s, const N: usize>(
        &'s self,
        r: usize,
        c: usize,
        pad: &'s mut MaybeUninit<[[u16; N]; 2]>,
    ) -> (&'s [u16; N], &'s [u16; N]) {
        let at = self.at(r, c);
        match self.src.get(at..at + self.stride + N) {
            Some(both) => (
                both[..N].try_into().unwrap(),
                both[self.stride..].try_into().unwrap(),
            ),
            None => padded_pair(self.src, at, self.stride, pad),
        }
    }
}

/// The `N` samples of `src` from `at` on, zero past its end: the rare case of a load near
/// the end of `src`. The zeros only ever feed outputs that are thrown away.
#[cold]
#[inline(never)]
fn padded<const N: usize>(src: &[u16], at: usize) -> [u16; N] {
    let rest = src.get(at..).unwrap_or_default();
    let len = rest.len().min(N);
    let mut span = [0; N];
    span[..len].copy_from_slice(&rest[..len]);
    span
}

/// [`padded`] from `at` and from `at + stride`, written to `pad`.
#[cold]
#[inline(never)]
fn padded_pair<'p, const N: usize>(
    src: &[u16],
    at: usize,
    stride: usize,
    pad: &'p mut MaybeUninit<[[u16; N]; 2]>,
) -> (&'p [u16; N], &'p [u16; N]) {
    let [first, second] = pad.write([padded(src, at), padded(src, at + stride)]);
    (first, second)
}

/// The destination block, `w` columns wide.
struct Out<'a> {
    dst: &'a mut [i16],
    stride: usize,
    w: usize,
}

impl Out<'_> {
    /// Stores the 16 outputs of row `y` from column `x`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn row16(&mut self, y: usize, x: usize, v: __m256i) {
        store_x16(&mut self.dst[y * self.stride + x..][..16], v);
    }

    /// Stores rows `y` and `y + 1` of a block at most 8 wide from the low and high lanes
    /// of `v` (8 outputs each, of which the first `w` are stored).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rows8(&mut self, y: usize, v: __m256i) {
        let (w, stride) = (self.w, self.stride);
        // Both rows in one slice, so that one bounds check covers them.
        let rows = &mut self.dst[y * stride..][..stride + w];
        store_low(&mut rows[..w], _mm256_castsi256_si128(v));
        store_low(&mut rows[stride..], _mm256_extracti128_si256::<1>(v));
    }
}

/// The 16-bit types that the kernels load and store: samples (u16) and predictions (i16).
/// Only those two implement it, which the loads and stores below rely on.
trait Word: Copy {}

impl Word for u16 {}

impl Word for i16 {}

/// Loads the 16 values of `values`, which holds exactly 16.
#[inline]
#[target_feature(enable = "avx2")]
fn load_x16<E: Word>(values: &[E]) -> __m256i {
    let window: &[E; 16] = values.try_into().unwrap();
    // SAFETY: `window` is 16 readable 16-bit values (32 bytes) and the load has no
    // alignment requirement.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// Loads the 8 values of `values`, which holds exactly 8.
#[inline]
#[target_feature(enable = "avx2")]
fn load_x8<E: Word>(values: &[E]) -> __m128i {
    let window: &[E; 8] = values.try_into().unwrap();
    // SAFETY: `window` is 8 readable 16-bit values (16 bytes) and the load has no alignment
    // requirement.
    unsafe { _mm_loadu_si128(window.as_ptr().cast()) }
}

/// Stores 16 values in `values`, which holds exactly 16.
#[inline]
#[target_feature(enable = "avx2")]
fn store_x16<E: Word>(values: &mut [E], v: __m256i) {
    let window: &mut [E; 16] = values.try_into().unwrap();
    // SAFETY: `window` is 16 writable 16-bit values (32 bytes) and the store has no
    // alignment requirement.
    unsafe { _mm256_storeu_si256(window.as_mut_ptr().cast(), v) }
}

/// Loads the 8, 4 or 2 values of `values` into the low end of a vector. (Kept small
/// enough for the inliner: no formatted panic.)
#[inline]
#[target_feature(enable = "avx2")]
fn load_low<E: Word>(values: &[E]) -> __m128i {
    match values.len() {
        // SAFETY: `values` is 8 readable 16-bit values (16 bytes) and the load has no
        // alignment requirement.
        8 => unsafe { _mm_loadu_si128(values.as_ptr().cast()) },
        // SAFETY: `values` is 4 readable 16-bit values (8 bytes) and the load has no
        // alignment requirement.
        4 => unsafe { _mm_loadl_epi64(values.as_ptr().cast()) },
        len => {
            debug_assert_eq!(len, 2);
            let window = &values[..2];
            // SAFETY: `window` is 2 readable 16-bit values (4 bytes) and the load has no
            // alignment requirement.
            unsafe { _mm_loadu_si32(window.as_ptr().cast()) }
        }
    }
}

/// Stores the first 8, 4 or 2 values of `v` in `values`, which holds that many. (Kept
/// small enough for the inliner: no formatted panic.)
#[inline]
#[target_feature(enable = "avx2")]
fn store_low<E: Word>(values: &mut [E], v: __m128i) {
    match values.len() {
        // SAFETY: `values` is 8 writable 16-bit values (16 bytes) and the store has no
        // alignment requirement.
        8 => unsafe { _mm_storeu_si128(values.as_mut_ptr().cast(), v) },
        // SAFETY: `values` is 4 writable 16-bit values (8 bytes) and the store has no
        // alignment requirement.
        4 => unsafe { _mm_storel_epi64(values.as_mut_ptr().cast(), v) },
        len => {
            debug_assert_eq!(len, 2);
            let window = &mut values[..2];
            // SAFETY: `window` is 2 writable 16-bit values (4 bytes) and the store has no
            // alignment requirement.
            unsafe { _mm_storeu_si32(window.as_mut_ptr().cast(), v) }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Filter taps

/// A horizontal filter prepared for the passes over samples at one bit depth: at 8 bits
/// (`SHIFT1` 0) for `maddubs`, with, for tap pair j, the `pshufb` pattern that gathers,
/// from 16 bytes starting at the first tap's sample of output 0, the pair (2j + k,
/// 2j + k + 1) for output k = 0..8, and the taps (f[2j], f[2j + 1]) as bytes; at 10 bits
/// for `madd`, with the taps as 16-bit pairs and no patterns.
struct HTaps {
    gather: [__m256i; 4],
    taps: [__m256i; 4],
}

/// The `pshufb` patterns of [`HTaps`]: pattern j picks bytes 2j + k and 2j + k + 1 for
/// output k.
const GATHER: [[u8; 16]; 4] = {
    let mut patterns = [[0; 16]; 4];
    let mut j = 0;
    while j < 4 {
        let mut i = 0;
        while i < 16 {
            patterns[j][i] = (2 * j + i / 2 + i % 2) as u8;
            i += 1;
        }
        j += 1;
    }
    patterns
};

impl HTaps {
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new<const T: usize, const SHIFT1: i32>(f: &[i8; T]) -> Self {
        let mut gather = [_mm256_setzero_si256(); 4];
        if SHIFT1 == 0 {
            for (j, pattern) in gather.iter_mut().enumerate().take(T / 2) {
                // SAFETY: `GATHER[j]` is 16 readable bytes and the load has no alignment
                // requirement.
                let bytes = unsafe { _mm_loadu_si128(GATHER[j].as_ptr().cast()) };
                *pattern = _mm256_broadcastsi128_si256(bytes);
            }
        }
        Self {
            gather,
            taps: if SHIFT1 == 0 {
                byte_pair_taps(f)
            } else {
                word_pair_taps(f)
            },
        }
    }

    /// 16 outputs of footprint row `r` from column `c` (whose sample is the first tap's of
    /// the first output), shifted by `SHIFT1`: [`HTaps::strip_of`] the 24 samples from
    /// there.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn strip<const T: usize, const SHIFT1: i32>(
        &self,
        fp: &Footprint,
        r: usize,
        c: usize,
    ) -> __m256i {
        let mut pad = MaybeUninit::uninit();
        self.strip_of::<T, SHIFT1>(fp.span(r, c, &mut pad))
    }

    /// 16 outputs, shifted by `SHIFT1`, whose samples start at the first of `span`. That
    /// reads all 24 at 8 bits and the first 15 + T at 10 bits.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn strip_of<const T: usize, const SHIFT1: i32>(&self, span: &[u16; 24]) -> __m256i {
        if SHIFT1 == 0 {
            // The low lane gets samples 0..16, the high lane 8..24 (packus works within
            // lanes).
            let bytes = _mm256_packus_epi16(load_x16(&span[..16]), load_x16(&span[8..]));
            self.bytes::<T>(bytes)
        } else {
            self.words::<T, SHIFT1>(|o| load_x16(&span[o..o + 16]))
        }
    }

    /// 8 outputs of footprint rows `r` and `r + 1` from column 0 in the low and high lanes,
    /// shifted by `SHIFT1`. Reads 16 samples of each row.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rows<const T: usize, const SHIFT1: i32>(&self, fp: &Footprint, r: usize) -> __m256i {
        let mut pad = MaybeUninit::uninit();
        let (first, second): (&[u16; 16], &[u16; 16]) = fp.two_spans(r, 0, &mut pad);
        if SHIFT1 == 0 {
            // Samples 0..8 of the rows in one vector and 8..16 in another, low lane the
            // first row: packus (within lanes) then gives each row's 16 bytes in its lane.
            let half = |from: usize| {
                _mm256_set_m128i(
                    load_x8(&second[from..from + 8]),
                    load_x8(&first[from..from + 8]),
                )
            };
            self.bytes::<T>(_mm256_packus_epi16(half(0), half(8)))
        } else {
            self.words::<T, SHIFT1>(|o| {
                _mm256_set_m128i(load_x8(&second[o..o + 8]), load_x8(&first[o..o + 8]))
            })
        }
    }

    /// The filter at 8 bits, unshifted, of the 8 outputs per lane whose samples start at the
    /// first byte of that lane of `v`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn bytes<const T: usize>(&self, v: __m256i) -> __m256i {
        let term =
            |j: usize| _mm256_maddubs_epi16(_mm256_shuffle_epi8(v, self.gather[j]), self.taps[j]);
        let mut acc = term(0);
        for j in 1..T / 2 {
            acc = _mm256_add_epi16(acc, term(j));
        }
        acc
    }

    /// The filter at 10 bits, `>> SHIFT1`, of the 8 outputs per lane whose samples start at
    /// the first 16-bit sample of that lane of `at(0)`; `at(o)` holds the samples `o` further
    /// on. The 32-bit lane k of `at(o)` holds samples 2k + o and 2k + o + 1, which is tap
    /// pair (o / 2) of output 2k + o % 2.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn words<const T: usize, const SHIFT1: i32>(&self, at: impl Fn(usize) -> __m256i) -> __m256i {
        let mut even = _mm256_madd_epi16(at(0), self.taps[0]);
        let mut odd = _mm256_madd_epi16(at(1), self.taps[0]);
        // An index loop on purpose, like those of the vertical passes.
        #[allow(clippy::needless_range_loop)]
        for j in 1..T / 2 {
            even = _mm256_add_epi32(even, _mm256_madd_epi16(at(2 * j), self.taps[j]));
            odd = _mm256_add_epi32(odd, _mm256_madd_epi16(at(2 * j + 1), self.taps[j]));
        }
        let even = _mm256_srai_epi32::<SHIFT1>(even);
        let odd = _mm256_srai_epi32::<SHIFT1>(odd);
        // Outputs 0..4 and 4..8 of each lane, then packed in order (exactly: they fit i16).
        _mm256_packs_epi32(
            _mm256_unpacklo_epi32(even, odd),
            _mm256_unpackhi_epi32(even, odd),
        )
    }
}

/// Tap pairs (f[2j], f[2j + 1]) as the two signed bytes of every 16-bit lane, for
/// `maddubs` against (sample 2j, sample 2j + 1) byte pairs.
#[inline]
#[target_feature(enable = "avx2")]
fn byte_pair_taps<const T: usize>(f: &[i8; T]) -> [__m256i; 4] {
    let mut taps = [_mm256_setzero_si256(); 4];
    for (j, pair) in taps.iter_mut().enumerate().take(T / 2) {
        *pair = _mm256_set1_epi16(i16::from_le_bytes([f[2 * j] as u8, f[2 * j + 1] as u8]));
    }
    taps
}

/// Tap pairs (f[2j], f[2j + 1]) as the two i16 of every 32-bit lane, for `madd` against
/// pairs of 16-bit samples or first-pass values.
#[inline]
#[target_feature(enable = "avx2")]
fn word_pair_taps<const T: usize>(f: &[i8; T]) -> [__m256i; 4] {
    let mut taps = [_mm256_setzero_si256(); 4];
    for (j, pair) in taps.iter_mut().enumerate().take(T / 2) {
        let (lo, hi) = (i32::from(f[2 * j]), i32::from(f[2 * j + 1]));
        *pair = _mm256_set1_epi32((hi << 16) | (lo & 0xffff));
    }
    taps
}

/// Length of the rings that hold the interleaved row pairs of a vertical pass: a power
/// of two with room for the `T - 1` pairs an output row of 8 taps needs.
const RING: usize = 8;

/// Two rows of samples below 256 as byte pairs, `first`'s in the low byte of each 16-bit
/// lane and `second`'s in the high one.
#[inline]
#[target_feature(enable = "avx2")]
fn byte_pairs(first: __m256i, second: __m256i) -> __m256i {
    _mm256_or_si256(first, _mm256_slli_epi16::<8>(second))
}

/// Vertical filter over byte pairs of two rows: `ring[(start + j * STEP) % RING]` holds the
/// pair that tap pair j applies to.
#[inline]
#[target_feature(enable = "avx2")]
fn filter_byte_pairs<const T: usize, const STEP: usize>(
    ring: &[__m256i; RING],
    start: usize,
    taps: &[__m256i; 4],
) -> __m256i {
    let pair = |j: usize| ring[(start + j * STEP) % RING];
    let mut acc = _mm256_maddubs_epi16(pair(0), taps[0]);
    // An index loop on purpose: written with iterator adapters, this constant-trip loop
    // stopped being unrolled and the kernels ran 2-4 times slower.
    #[allow(clippy::needless_range_loop)]
    for j in 1..T / 2 {
        acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(pair(j), taps[j]));
    }
    acc
}

/// Two interleaved rows of 16-bit values: `lo` holds columns 0..4 of each lane, `hi`
/// columns 4..8.
#[derive(Clone, Copy)]
struct WordPair {
    lo: __m256i,
    hi: __m256i,
}

impl WordPair {
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(first: __m256i, second: __m256i) -> Self {
        Self {
            lo: _mm256_unpacklo_epi16(first, second),
            hi: _mm256_unpackhi_epi16(first, second),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn zero() -> Self {
        Self {
            lo: _mm256_setzero_si256(),
            hi: _mm256_setzero_si256(),
        }
    }
}

/// Vertical filter over interleaved rows of 16-bit values (`ring[(start + j * STEP) %
/// RING]` for tap pair j), `>> SHIFT` and saturated to i16 by the pack, which also puts the
/// `lo` and `hi` columns back in order. Samples at 10 bits take shift1 (and fit i16), a
/// second pass shift2 (and only luma at (1/2, 1/2) can saturate).
#[inline]
#[target_feature(enable = "avx2")]
fn filter_word_pairs<const T: usize, const STEP: usize, const SHIFT: i32>(
    ring: &[WordPair; RING],
    start: usize,
    taps: &[__m256i; 4],
) -> __m256i {
    let pair = |j: usize| ring[(start + j * STEP) % RING];
    let first = pair(0);
    let mut lo = _mm256_madd_epi16(first.lo, taps[0]);
    let mut hi = _mm256_madd_epi16(first.hi, taps[0]);
    // An index loop on purpose: written with iterator adapters, this constant-trip loop
    // stopped being unrolled and the kernels ran 2-4 times slower.
    #[allow(clippy::needless_range_loop)]
    for j in 1..T / 2 {
        let pair = pair(j);
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(pair.lo, taps[j]));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(pair.hi, taps[j]));
    }
    _mm256_packs_epi32(
        _mm256_srai_epi32::<SHIFT>(lo),
        _mm256_srai_epi32::<SHIFT>(hi),
    )
}

// ---------------------------------------------------------------------------------------
// The four cases

/// Integer position: `src << SHIFT` (14 - BitDepth).
#[inline]
#[target_feature(enable = "avx2")]
fn copy<const T: usize, const SHIFT: i32>(fp: &Footprint, h: usize, out: Out) {
    let before = T / 2 - 1;
    let w = out.w;
    for y in 0..h {
        // Columns 0..w of the block lie inside the footprint, so the slice is in bounds.
        let at = fp.at(y + before, before);
        let row = &fp.src[at..at + w];
        let out_row = &mut out.dst[y * out.stride..][..w];
        if w >= 16 {
            for (samples, outputs) in row.chunks_exact(16).zip(out_row.chunks_exact_mut(16)) {
                store_x16(outputs, _mm256_slli_epi16::<SHIFT>(load_x16(samples)));
            }
        } else {
            store_low(out_row, _mm_slli_epi16::<SHIFT>(load_low(row)));
        }
    }
}

/// fy = 0: the horizontal filter, `>> SHIFT1`.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal<const T: usize, const SHIFT1: i32>(
    fp: &Footprint,
    hf: &[i8; T],
    h: usize,
    mut out: Out,
) {
    let before = T / 2 - 1;
    let taps = HTaps::new::<T, SHIFT1>(hf);
    let w = out.w;
    if w >= 16 {
        for y in 0..h {
            // A strip of 16 outputs takes 24 samples from its first column (see
            // `HTaps::strip_of`), so a row takes w + 8: fetched once, with one check.
            let at = fp.at(y + before, 0);
            let mut pad = MaybeUninit::<[u16; MAX_BLOCK + 8]>::uninit();
            let row = match fp.src.get(at..at + w + 8) {
                Some(row) => row,
                None => &pad.write(padded(fp.src, at))[..w + 8],
            };
            let out_row = &mut out.dst[y * out.stride..][..w];
            for (span, outputs) in row
                .windows(24)
                .step_by(16)
                .zip(out_row.chunks_exact_mut(16))
            {
                let span: &[u16; 24] = span.try_into().unwrap();
                store_x16(outputs, taps.strip_of::<T, SHIFT1>(span));
            }
        }
    } else {
        for y in (0..h).step_by(2) {
            out.rows8(y, taps.rows::<T, SHIFT1>(fp, y + before));
        }
    }
}

/// fx = 0 at 8 bits: the vertical filter over byte pairs of rows. Each pair of footprint
/// rows is built once, into a ring, and every output row reads its `T / 2` pairs from there.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_bytes<const T: usize>(fp: &Footprint, vf: &[i8; T], h: usize, mut out: Out) {
    let before = T / 2 - 1;
    let taps = byte_pair_taps(vf);
    let mut ring = [_mm256_setzero_si256(); RING];
    if out.w >= 16 {
        // Ring entry r % RING pairs footprint rows r and r + 1; output row y reads pairs y,
        // y + 2, ..., y + T - 2.
        for x in (0..out.w).step_by(16) {
            // Columns x..x+16 of the block lie inside the footprint.
            let row = |r: usize| load_x16(fp.inside::<16>(r, x + before));
            let mut last = row(0);
            for (r, slot) in ring.iter_mut().enumerate().take(T - 2) {
                let next = row(r + 1);
                *slot = byte_pairs(last, next);
                last = next;
            }
            for y in 0..h {
                let next = row(y + T - 1);
                ring[(y + T - 2) % RING] = byte_pairs(last, next);
                last = next;
                out.row16(y, x, filter_byte_pairs::<T, 2>(&ring, y, &taps));
            }
        }
    } else {
        // Ring entry k % RING pairs footprint rows (2k, 2k + 1) in its low lane and
        // (2k + 1, 2k + 2) in its high one; output rows 2k and 2k + 1 read pairs k, k + 1,
        // ..., k + T/2 - 1.
        let row = |r: usize| {
            let mut pad = MaybeUninit::uninit();
            load_x8::<u16>(fp.span::<8>(r, before, &mut pad))
        };
        let mut even = row(0);
        let mut pair = |k: usize| {
            let odd = row(2 * k + 1);
            let next_even = row(2 * k + 2);
            let pair = byte_pairs(
                _mm256_set_m128i(odd, even),
                _mm256_set_m128i(next_even, odd),
            );
            even = next_even;
            pair
        };
        for (k, slot) in ring.iter_mut().enumerate().take(T / 2 - 1) {
            *slot = pair(k);
        }
        for (k, y) in (0..h).step_by(2).enumerate() {
            ring[(k + T / 2 - 1) % RING] = pair(k + T / 2 - 1);
            out.rows8(y, filter_byte_pairs::<T, 1>(&ring, k, &taps));
        }
    }
}

/// fx = 0 at 10 bits: the vertical filter over interleaved 16-bit rows, `>> SHIFT1`, with
/// the same ring of row pairs as [`vertical_bytes`].
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_words<const T: usize, const SHIFT1: i32>(
    fp: &Footprint,
    vf: &[i8; T],
    h: usize,
    mut out: Out,
) {
    let before = T / 2 - 1;
    let taps = word_pair_taps(vf);
    let mut ring = [WordPair::zero(); RING];
    if out.w >= 16 {
        for x in (0..out.w).step_by(16) {
            // Columns x..x+16 of the block lie inside the footprint.
            let row = |r: usize| load_x16(fp.inside::<16>(r, x + before));
            let mut last = row(0);
            for (r, slot) in ring.iter_mut().enumerate().take(T - 2) {
                let next = row(r + 1);
                *slot = WordPair::new(last, next);
                last = next;
            }
            for y in 0..h {
                let next = row(y + T - 1);
                ring[(y + T - 2) % RING] = WordPair::new(last, next);
                last = next;
                out.row16(y, x, filter_word_pairs::<T, 2, SHIFT1>(&ring, y, &taps));
            }
        }
    } else {
        let row = |r: usize| {
            let mut pad = MaybeUninit::uninit();
            load_x8::<u16>(fp.span::<8>(r, before, &mut pad))
        };
        let mut even = row(0);
        let mut pair = |k: usize| {
            let odd = row(2 * k + 1);
            let next_even = row(2 * k + 2);
            let pair = WordPair::new(
                _mm256_set_m128i(odd, even),
                _mm256_set_m128i(next_even, odd),
            );
            even = next_even;
            pair
        };
        for (k, slot) in ring.iter_mut().enumerate().take(T / 2 - 1) {
            *slot = pair(k);
        }
        for (k, y) in (0..h).step_by(2).enumerate() {
            ring[(k + T / 2 - 1) % RING] = pair(k + T / 2 - 1);
            out.rows8(y, filter_word_pairs::<T, 1, SHIFT1>(&ring, k, &taps));
        }
    }
}

/// Both fractions: the horizontal filter over the footprint rows (`>> SHIFT1`), then the
/// vertical one over its results (`>> 6`). Consecutive first-pass rows are interleaved
/// once, into a ring, and every output row reads its `T / 2` pairs from there.
#[inline]
#[target_feature(enable = "avx2")]
fn both<const T: usize, const SHIFT1: i32>(
    fp: &Footprint,
    hf: &[i8; T],
    vf: &[i8; T],
    h: usize,
    mut out: Out,
) {
    const SHIFT2: i32 = SECOND_PASS_SHIFT as i32;
    let htaps = HTaps::new::<T, SHIFT1>(hf);
    let vtaps = word_pair_taps(vf);
    let mut ring = [WordPair::zero(); RING];
    if out.w >= 16 {
        // Ring entry r % RING interleaves first-pass rows r and r + 1.
        for x in (0..out.w).step_by(16) {
            let first = |r: usize| htaps.strip::<T, SHIFT1>(fp, r, x);
            let mut last = first(0);
            for (r, slot) in ring.iter_mut().enumerate().take(T - 2) {
                let next = first(r + 1);
                *slot = WordPair::new(last, next);
                last = next;
            }
            for y in 0..h {
                let next = first(y + T - 1);
                ring[(y + T - 2) % RING] = WordPair::new(last, next);
                last = next;
                out.row16(y, x, filter_word_pairs::<T, 2, SHIFT2>(&ring, y, &vtaps));
            }
        }
    } else {
        // The first pass does footprint rows 2k and 2k + 1 in the low and high lanes; the
        // rows (2k + 1, 2k + 2) come from two of those by swapping lanes. Ring entry
        // k % RING interleaves first-pass rows (2k, 2k + 1) in its low lane and
        // (2k + 1, 2k + 2) in its high one. The last pair reads one row past the
        // footprint, which only feeds the unused high lane of `next_even`.
        let mut even = htaps.rows::<T, SHIFT1>(fp, 0);
        let mut pair = |k: usize| {
            let next_even = htaps.rows::<T, SHIFT1>(fp, 2 * k + 2);
            let odd = _mm256_permute2x128_si256::<0x21>(even, next_even);
            let pair = WordPair::new(even, odd);
            even = next_even;
            pair
        };
        for (k, slot) in ring.iter_mut().enumerate().take(T / 2 - 1) {
            *slot = pair(k);
        }
        for (k, y) in (0..h).step_by(2).enumerate() {
            ring[(k + T / 2 - 1) % RING] = pair(k + T / 2 - 1);
            out.rows8(y, filter_word_pairs::<T, 1, SHIFT2>(&ring, k, &vtaps));
        }
    }
}
