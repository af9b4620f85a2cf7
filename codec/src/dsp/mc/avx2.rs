//! AVX2 interpolation kernels, bit-exact with `scalar.rs`.
//!
//! First passes (8-bit samples) use `maddubs` on byte pairs against pairs of taps, which
//! fit i8: a `pshufb` per tap pair gathers, for each output, the two samples of that pair
//! from one 16-byte load per lane. Vertical passes interleave two rows so that the same
//! `maddubs` (8-bit rows) or `madd` (i16 rows of the first pass) applies. Consecutive
//! output rows share all but one of their row pairs, so each pair is built once, into a
//! small ring on the stack, and read from there by the `T / 2` output rows that use it.
//! Two-dimensional blocks run both passes together, strip by strip, so the first pass's
//! rows never leave that ring.
//!
//! A vector holds 16 outputs, laid out one of two ways:
//!
//! * blocks 16 or more wide go in strips of 16 columns, one row per vector;
//! * narrower blocks hold two rows per vector, one per 128-bit lane, 8 columns each; blocks
//!   of 4 or 2 columns compute 8 and store only theirs. That still beats the scalar code
//!   several times over, and such small calls are dominated by fixed costs (argument
//!   checks, dispatch, setting up the taps) that a narrower layout would not remove.
//!
//! Loads never start before a row's filter footprint but can reach past its end (by up to
//! 13 samples, for 2-wide blocks), and the two-dimensional pass of narrow blocks reads one
//! row below it. Where that would run off the end of `src`, [`Footprint`] hands out a
//! zero-padded copy instead; the padding only ever feeds outputs that are thrown away.
//! Stores write exactly the block. Every access is bounds-checked, so the only requirement
//! of the `unsafe fn` entry points is that the CPU supports AVX2; they expect what `mod.rs`
//! ensures: a valid size, a `src` that covers the footprint and a `dst` that holds the
//! block.

use core::arch::x86_64::*;

use super::SECOND_PASS_SHIFT;

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
    src: &[u8],
    stride: usize,
    origin: usize,
    (w, h): (usize, usize),
    dst: &mut [i16],
    dst_stride: usize,
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
    match (full_x, full_y) {
        (true, true) => copy::<T>(&fp, h, out),
        (false, true) => horizontal::<T>(&fp, hf, h, out),
        (true, false) => vertical::<T>(&fp, vf, h, out),
        (false, false) => both::<T>(&fp, hf, vf, h, out),
    }
}

/// Rounds one prediction to samples: `clip(0, 255, (v + 32) >> 6)`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn put_uni(
    src: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u8],
    dst_stride: usize,
) {
    put::<false>(src, src, src_stride, (w, h), dst, dst_stride);
}

/// Averages two predictions to samples: `clip(0, 255, (a + b + 64) >> 7)`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn put_bi(
    a: &[i16],
    b: &[i16],
    src_stride: usize,
    (w, h): (usize, usize),
    dst: &mut [u8],
    dst_stride: usize,
) {
    put::<true>(a, b, src_stride, (w, h), dst, dst_stride);
}

/// The rounded samples, as i16, of one prediction `a` (`BI` false; `b` is ignored) or the
/// average of `a` and `b`.
#[inline]
#[target_feature(enable = "avx2")]
fn rounded<const BI: bool>(a: __m256i, b: __m256i) -> __m256i {
    if BI {
        // The saturating add only clamps sums that end up at 0 or 255 anyway (a sum of
        // 32767 or more gives 256 or more, one of -32768 or less a negative value); mulhrs
        // by 1 << 8 is then exactly (s + 64) >> 7.
        _mm256_mulhrs_epi16(_mm256_adds_epi16(a, b), _mm256_set1_epi16(1 << 8))
    } else {
        // mulhrs by 1 << 9 is (v * 512 + (1 << 14)) >> 15 = (v + 32) >> 6 exactly.
        _mm256_mulhrs_epi16(a, _mm256_set1_epi16(1 << 9))
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
    dst: &mut [u8],
    dst_stride: usize,
) {
    match w {
        2 => put_narrow::<BI, 2>(a, b, src_stride, h, dst, dst_stride),
        4 => put_narrow::<BI, 4>(a, b, src_stride, h, dst, dst_stride),
        8 => put_narrow::<BI, 8>(a, b, src_stride, h, dst, dst_stride),
        16 => {
            for y in 0..h {
                let (a, b) = (&a[y * src_stride..][..16], &b[y * src_stride..][..16]);
                let v = rounded::<BI>(load_i16x16(a), load_i16x16(b));
                let packed =
                    _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                let out: &mut [u8; 16] = (&mut dst[y * dst_stride..][..16]).try_into().unwrap();
                // SAFETY: `out` is 16 writable bytes and the store has no alignment
                // requirement.
                unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), packed) }
            }
        }
        _ => {
            for y in 0..h {
                let a = &a[y * src_stride..][..w];
                let b = &b[y * src_stride..][..w];
                let out = &mut dst[y * dst_stride..][..w];
                let chunks = a.chunks_exact(32).zip(b.chunks_exact(32));
                for ((a, b), out) in chunks.zip(out.chunks_exact_mut(32)) {
                    let first = rounded::<BI>(load_i16x16(&a[..16]), load_i16x16(&b[..16]));
                    let second = rounded::<BI>(load_i16x16(&a[16..]), load_i16x16(&b[16..]));
                    // packus works within lanes: put the 8-byte quarters back in order.
                    let packed = _mm256_packus_epi16(first, second);
                    let in_order = _mm256_permute4x64_epi64::<0b11_01_10_00>(packed);
                    let out: &mut [u8; 32] = out.try_into().unwrap();
                    // SAFETY: `out` is 32 writable bytes and the store has no alignment
                    // requirement.
                    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), in_order) }
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
    dst: &mut [u8],
    dst_stride: usize,
) {
    let two_rows = |values: &[i16], y: usize| {
        _mm256_set_m128i(
            load_i16_low(&values[(y + 1) * src_stride..][..W]),
            load_i16_low(&values[y * src_stride..][..W]),
        )
    };
    for y in (0..h).step_by(2) {
        let v = rounded::<BI>(two_rows(a, y), two_rows(b, y));
        let packed = _mm256_packus_epi16(v, v);
        store_u8_low(
            &mut dst[y * dst_stride..][..W],
            _mm256_castsi256_si128(packed),
        );
        let second = _mm256_extracti128_si256::<1>(packed);
        store_u8_low(&mut dst[(y + 1) * dst_stride..][..W], second);
    }
}

// ---------------------------------------------------------------------------------------
// Sources and destinations

/// The reference samples around a block: sample (r, c) of the filter footprint, whose
/// (0, 0) is the block's top-left sample moved back by the filter's taps before the
/// integer position in each direction, is `src[top_left + r * stride + c]`.
struct Footprint<'a> {
    src: &'a [u8],
    stride: usize,
    top_left: usize,
}

impl Footprint<'_> {
    /// Index of footprint sample (r, c).
    #[inline]
    fn at(&self, r: usize, c: usize) -> usize {
        self.top_left + r * self.stride + c
    }

    /// The `N` samples from `at` on, or `None` where `src` ends sooner.
    #[inline]
    fn span<const N: usize>(&self, at: usize) -> Option<&[u8; N]> {
        self.src.get(at..)?.first_chunk::<N>()
    }

    /// 16 samples per lane for a first pass or a vertical pass over 8-bit rows: from
    /// (r, c) in the low lane and (r, c + 8) in the high one, which covers 16 outputs of a
    /// row (a first pass needs 15 samples per 8 outputs, a vertical pass reads the low 8).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn strip16(&self, r: usize, c: usize) -> __m256i {
        let at = self.at(r, c);
        match self.span::<24>(at) {
            Some(span) => _mm256_set_m128i(load16(span, 8), load16(span, 0)),
            None => {
                let span = padded::<24>(self.src, at);
                _mm256_set_m128i(load16(&span, 8), load16(&span, 0))
            }
        }
    }

    /// 16 samples from (r, c) in the low lane and from (r + 1, c) in the high one.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn two_rows(&self, r: usize, c: usize) -> __m256i {
        _mm256_set_m128i(self.one_row(r + 1, c), self.one_row(r, c))
    }

    /// 16 samples from (r, c).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn one_row(&self, r: usize, c: usize) -> __m128i {
        let at = self.at(r, c);
        match self.span::<16>(at) {
            Some(span) => load16(span, 0),
            None => load16(&padded::<16>(self.src, at), 0),
        }
    }
}

/// The `N` samples of `src` from `at` on, zero past its end: the rare case of a load near
/// the end of `src`. The zeros only ever feed outputs that are thrown away.
#[cold]
#[inline(never)]
fn padded<const N: usize>(src: &[u8], at: usize) -> [u8; N] {
    let rest = src.get(at..).unwrap_or_default();
    let len = rest.len().min(N);
    let mut span = [0; N];
    span[..len].copy_from_slice(&rest[..len]);
    span
}

/// Loads the 16 bytes of `span` from `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn load16<const N: usize>(span: &[u8; N], at: usize) -> __m128i {
    let window: &[u8; 16] = span[at..at + 16].try_into().unwrap();
    // SAFETY: `window` is 16 readable bytes and the load has no alignment requirement.
    unsafe { _mm_loadu_si128(window.as_ptr().cast()) }
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
        store_i16x16(&mut self.dst[y * self.stride + x..][..16], v);
    }

    /// Stores rows `y` and `y + 1` of a block at most 8 wide from the low and high lanes
    /// of `v` (8 outputs each, of which the first `w` are stored).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rows8(&mut self, y: usize, v: __m256i) {
        let (first, second) = (y * self.stride, (y + 1) * self.stride);
        store_i16_low(self.dst, first, self.w, _mm256_castsi256_si128(v));
        store_i16_low(self.dst, second, self.w, _mm256_extracti128_si256::<1>(v));
    }
}

/// Stores 16 i16 in `values`, which holds exactly 16.
#[inline]
#[target_feature(enable = "avx2")]
fn store_i16x16(values: &mut [i16], v: __m256i) {
    let window: &mut [i16; 16] = values.try_into().unwrap();
    // SAFETY: `window` is 16 writable i16 and the store has no alignment requirement.
    unsafe { _mm256_storeu_si256(window.as_mut_ptr().cast(), v) }
}

/// Loads the 8, 4 or 2 bytes of `bytes` into the low end of a vector.
#[inline]
#[target_feature(enable = "avx2")]
fn load_u8_low(bytes: &[u8]) -> __m128i {
    match bytes.len() {
        8 => _mm_cvtsi64_si128(i64::from_le_bytes(bytes.try_into().unwrap())),
        4 => _mm_cvtsi32_si128(i32::from_le_bytes(bytes.try_into().unwrap())),
        _ => _mm_cvtsi32_si128(i32::from(u16::from_le_bytes(bytes.try_into().unwrap()))),
    }
}

/// Loads the 16 i16 of `values`.
#[inline]
#[target_feature(enable = "avx2")]
fn load_i16x16(values: &[i16]) -> __m256i {
    let window: &[i16; 16] = values.try_into().unwrap();
    // SAFETY: `window` is 16 readable i16 and the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// Loads the 8, 4 or 2 i16 of `values` into the low end of a vector.
#[inline]
#[target_feature(enable = "avx2")]
fn load_i16_low(values: &[i16]) -> __m128i {
    match values.len() {
        8 => {
            let window: &[i16; 8] = values.try_into().unwrap();
            // SAFETY: `window` is 8 readable i16 and the load has no alignment requirement.
            unsafe { _mm_loadu_si128(window.as_ptr().cast()) }
        }
        4 => {
            let window: &[i16; 4] = values.try_into().unwrap();
            // SAFETY: `window` is 4 readable i16 (8 bytes) and the load has no alignment
            // requirement.
            unsafe { _mm_loadl_epi64(window.as_ptr().cast()) }
        }
        _ => _mm_cvtsi32_si128(i32::from(values[0] as u16) | i32::from(values[1] as u16) << 16),
    }
}

/// Stores the first `len` (8, 4 or 2) i16 of `v` at `values[at..]`.
#[inline]
#[target_feature(enable = "avx2")]
fn store_i16_low(values: &mut [i16], at: usize, len: usize, v: __m128i) {
    let window = &mut values[at..at + len];
    match len {
        // SAFETY: `window` is 8 writable i16 and the store has no alignment requirement.
        8 => unsafe { _mm_storeu_si128(window.as_mut_ptr().cast(), v) },
        // SAFETY: `window` is 4 writable i16 (8 bytes) and the store has no alignment
        // requirement.
        4 => unsafe { _mm_storel_epi64(window.as_mut_ptr().cast(), v) },
        _ => {
            let bits = _mm_cvtsi128_si32(v) as u32;
            window[0] = bits as i16;
            window[1] = (bits >> 16) as i16;
        }
    }
}

/// Stores the first 8, 4 or 2 bytes of `v` in `bytes`, which holds that many.
#[inline]
#[target_feature(enable = "avx2")]
fn store_u8_low(bytes: &mut [u8], v: __m128i) {
    match bytes.len() {
        8 => bytes.copy_from_slice(&_mm_cvtsi128_si64(v).to_le_bytes()),
        4 => bytes.copy_from_slice(&_mm_cvtsi128_si32(v).to_le_bytes()),
        _ => bytes.copy_from_slice(&(_mm_cvtsi128_si32(v) as u16).to_le_bytes()),
    }
}

// ---------------------------------------------------------------------------------------
// Filter taps

/// A horizontal filter prepared for `maddubs`: for tap pair j, the `pshufb` pattern that
/// gathers, from 16 bytes starting at the first tap's sample of output 0, the pair
/// (2j + k, 2j + k + 1) for output k = 0..8, and the taps (f[2j], f[2j + 1]) as bytes.
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
    fn new<const T: usize>(f: &[i8; T]) -> Self {
        let mut gather = [_mm256_setzero_si256(); 4];
        for (j, pattern) in gather.iter_mut().enumerate().take(T / 2) {
            *pattern = _mm256_broadcastsi128_si256(load16(&GATHER[j], 0));
        }
        Self {
            gather,
            taps: byte_pair_taps(f),
        }
    }

    /// The horizontal filter, unshifted, of the 8 outputs per lane whose samples start at
    /// the first byte of that lane of `v`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply<const T: usize>(&self, v: __m256i) -> __m256i {
        let term =
            |j: usize| _mm256_maddubs_epi16(_mm256_shuffle_epi8(v, self.gather[j]), self.taps[j]);
        let mut acc = term(0);
        for j in 1..T / 2 {
            acc = _mm256_add_epi16(acc, term(j));
        }
        acc
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
/// interleaved i16 rows.
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

/// Vertical filter over interleaved 8-bit row pairs: `ring[(start + j * STEP) % RING]`
/// holds the pair that tap pair j applies to.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_u8<const T: usize, const STEP: usize>(
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

/// Two interleaved i16 rows: `lo` holds columns 0..4 of each lane, `hi` columns 4..8.
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

/// Second pass over interleaved first-pass rows (`ring[(start + j * STEP) % RING]` for
/// tap pair j), `>> 6` and saturated to i16 by the pack, which also puts the `lo` and `hi`
/// columns back in order.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical_i16<const T: usize, const STEP: usize>(
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
        _mm256_srai_epi32::<{ SECOND_PASS_SHIFT as i32 }>(lo),
        _mm256_srai_epi32::<{ SECOND_PASS_SHIFT as i32 }>(hi),
    )
}

// ---------------------------------------------------------------------------------------
// The four cases

/// Integer position: `src << 6`.
#[inline]
#[target_feature(enable = "avx2")]
fn copy<const T: usize>(fp: &Footprint, h: usize, out: Out) {
    let before = T / 2 - 1;
    let w = out.w;
    for y in 0..h {
        // Columns 0..w of the block lie inside the footprint, so the slice is in bounds.
        let at = fp.at(y + before, before);
        let row = &fp.src[at..at + w];
        let out_row = &mut out.dst[y * out.stride..][..w];
        if w >= 16 {
            for (samples, outputs) in row.chunks_exact(16).zip(out_row.chunks_exact_mut(16)) {
                let samples: &[u8; 16] = samples.try_into().unwrap();
                let v = _mm256_slli_epi16::<6>(_mm256_cvtepu8_epi16(load16(samples, 0)));
                store_i16x16(outputs, v);
            }
        } else {
            let v = _mm_slli_epi16::<6>(_mm_cvtepu8_epi16(load_u8_low(row)));
            store_i16_low(out_row, 0, w, v);
        }
    }
}

/// fy = 0: the horizontal filter.
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal<const T: usize>(fp: &Footprint, hf: &[i8; T], h: usize, mut out: Out) {
    let before = T / 2 - 1;
    let taps = HTaps::new(hf);
    let w = out.w;
    if w >= 16 {
        for y in 0..h {
            // A strip of 16 outputs reads 24 samples from its first column (see
            // `Footprint::strip16`), so a row reads w + 8.
            let at = fp.at(y + before, 0);
            let padded_row: [u8; super::MAX_BLOCK + 8];
            let row = match fp.src.get(at..at + w + 8) {
                Some(row) => row,
                None => {
                    padded_row = padded(fp.src, at);
                    &padded_row[..w + 8]
                }
            };
            let out_row = &mut out.dst[y * out.stride..][..w];
            for (span, outputs) in row
                .windows(24)
                .step_by(16)
                .zip(out_row.chunks_exact_mut(16))
            {
                let span: &[u8; 24] = span.try_into().unwrap();
                let v = _mm256_set_m128i(load16(span, 8), load16(span, 0));
                store_i16x16(outputs, taps.apply::<T>(v));
            }
        }
    } else {
        for y in (0..h).step_by(2) {
            out.rows8(y, taps.apply::<T>(fp.two_rows(y + before, 0)));
        }
    }
}

/// fx = 0: the vertical filter over 8-bit rows. Each pair of footprint rows is
/// interleaved once, into a ring, and every output row reads its `T / 2` pairs from there.
#[inline]
#[target_feature(enable = "avx2")]
fn vertical<const T: usize>(fp: &Footprint, vf: &[i8; T], h: usize, mut out: Out) {
    let before = T / 2 - 1;
    let taps = byte_pair_taps(vf);
    let mut ring = [_mm256_setzero_si256(); RING];
    if out.w >= 16 {
        // Ring entry r % RING interleaves footprint rows r and r + 1; output row y reads
        // pairs y, y + 2, ..., y + T - 2.
        for x in (0..out.w).step_by(16) {
            // Footprint row r, columns x..x+8 in the low lane and x+8..x+16 in the high
            // one (in the low 8 bytes of each, which is what unpacklo reads).
            let row = |r: usize| fp.strip16(r, x + before);
            let mut last = row(0);
            for (r, slot) in ring.iter_mut().enumerate().take(T - 2) {
                let next = row(r + 1);
                *slot = _mm256_unpacklo_epi8(last, next);
                last = next;
            }
            for y in 0..h {
                let next = row(y + T - 1);
                ring[(y + T - 2) % RING] = _mm256_unpacklo_epi8(last, next);
                last = next;
                out.row16(y, x, vertical_u8::<T, 2>(&ring, y, &taps));
            }
        }
    } else {
        // Ring entry k % RING interleaves footprint rows (2k, 2k + 1) in its low lane and
        // (2k + 1, 2k + 2) in its high one; output rows 2k and 2k + 1 read pairs k, k + 1,
        // ..., k + T/2 - 1.
        let row = |r: usize| fp.one_row(r, before);
        let mut even = row(0);
        let mut pair = |k: usize| {
            let odd = row(2 * k + 1);
            let next_even = row(2 * k + 2);
            let pair = _mm256_unpacklo_epi8(
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
            out.rows8(y, vertical_u8::<T, 1>(&ring, k, &taps));
        }
    }
}

/// Both fractions: the horizontal filter over the footprint rows, then the vertical one
/// over its results. Consecutive first-pass rows are interleaved once, into a ring, and
/// every output row reads its `T / 2` pairs from there.
#[inline]
#[target_feature(enable = "avx2")]
fn both<const T: usize>(fp: &Footprint, hf: &[i8; T], vf: &[i8; T], h: usize, mut out: Out) {
    let htaps = HTaps::new(hf);
    let vtaps = word_pair_taps(vf);
    let mut ring = [WordPair::zero(); RING];
    if out.w >= 16 {
        // Ring entry r % RING interleaves first-pass rows r and r + 1.
        for x in (0..out.w).step_by(16) {
            let first = |r: usize| htaps.apply::<T>(fp.strip16(r, x));
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
                out.row16(y, x, vertical_i16::<T, 2>(&ring, y, &vtaps));
            }
        }
    } else {
        // The first pass does footprint rows 2k and 2k + 1 in the low and high lanes; the
        // rows (2k + 1, 2k + 2) come from two of those by swapping lanes. Ring entry
        // k % RING interleaves first-pass rows (2k, 2k + 1) in its low lane and
        // (2k + 1, 2k + 2) in its high one. The last pair reads one row past the
        // footprint, which only feeds the unused high lane of `next_even`.
        let mut even = htaps.apply::<T>(fp.two_rows(0, 0));
        let mut pair = |k: usize| {
            let next_even = htaps.apply::<T>(fp.two_rows(2 * k + 2, 0));
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
            out.rows8(y, vertical_i16::<T, 1>(&ring, k, &vtaps));
        }
    }
}
