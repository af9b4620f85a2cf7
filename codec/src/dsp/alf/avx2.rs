//! AVX2 ALF kernel, bit-exact with `scalar.rs`.
//!
//! Sixteen output samples per step: each tap pair gives the differences
//! `a + b - 2 cur` as i16 (at most 2046 in magnitude at 10 bits), two pairs
//! are interleaved and multiplied-added with their two coefficients into
//! i32 sums (`madd`), which are rounded, shifted, added to the centre and
//! clamped. The interleaving (`unpacklo/hi`) and the final `packus` are
//! both per 128-bit lane, so the samples come back in their order. The
//! columns left over (fewer than 16) use the scalar sample. With a set of
//! coefficients per 4x4 block, each i32 lane takes its block's pair.

use std::arch::x86_64::*;

use super::scalar::sample;
use super::{COEFF_BITS, PAD};

/// See [`super::filter`].
///
/// # Safety
/// The CPU must support AVX2, and the shapes must be those `mod.rs` checks.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
pub unsafe fn filter(
    src: &[u16],
    dst: &mut [u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    taps: &[(i8, i8)],
    sets: &[i16],
    blocks: Option<&[u8]>,
    bit_depth: u32,
) {
    let (x0, y0, x1, y1) = rect;
    let n = taps.len();
    let bw = (x1 - x0) / 4;
    let stride = w + 2 * PAD;
    let max = (1i32 << bit_depth) - 1;
    let offsets: Vec<isize> = taps
        .iter()
        .map(|&(dy, dx)| dy as isize * stride as isize + dx as isize)
        .collect();
    // Per set, coefficient pairs (k, k + 1) as the two i16 halves of each i32.
    let pairs: Vec<i32> = sets
        .chunks_exact(2)
        .map(|c| (c[0] as u16 as i32) | ((c[1] as i32) << 16))
        .collect();
    let half = n / 2;
    let (zero, round, vmax) = (
        _mm256_setzero_si256(),
        _mm256_set1_epi32(1 << (COEFF_BITS - 1)),
        _mm256_set1_epi32(max),
    );
    for y in y0..y1 {
        let row = (y + PAD) * stride + PAD;
        let mut x = x0;
        while x + 16 <= x1 {
            let c = row + x;
            // The furthest taps reach PAD rows and columns either way, inside the padding.
            assert!(c >= PAD * stride + PAD && c + 16 + PAD * stride + PAD <= src.len());
            let load = |at: usize| {
                // SAFETY: `at .. at + 16` lies within `src`: `at` is `c` moved by at most
                // PAD rows and PAD columns, which the assertion above bounds.
                unsafe { _mm256_loadu_si256(src.as_ptr().add(at) as *const __m256i) }
            };
            let cur = load(c);
            let cur2 = _mm256_add_epi16(cur, cur);
            // The four 4x4 blocks the 16 samples lie in: `unpacklo` holds
            // samples 0-3 and 8-11 (blocks 0 and 2), `unpackhi` 4-7 and 12-15.
            let set = |i: usize| {
                blocks.map_or(0, |b| b[(y - y0) / 4 * bw + (x - x0) / 4 + i] as usize) * half
            };
            let (s0, s1, s2, s3) = (set(0), set(1), set(2), set(3));
            let (mut lo, mut hi) = (zero, zero);
            for (p, o) in offsets.chunks_exact(2).enumerate() {
                let k_lo = _mm256_setr_epi32(
                    pairs[s0 + p],
                    pairs[s0 + p],
                    pairs[s0 + p],
                    pairs[s0 + p],
                    pairs[s2 + p],
                    pairs[s2 + p],
                    pairs[s2 + p],
                    pairs[s2 + p],
                );
                let k_hi = _mm256_setr_epi32(
                    pairs[s1 + p],
                    pairs[s1 + p],
                    pairs[s1 + p],
                    pairs[s1 + p],
                    pairs[s3 + p],
                    pairs[s3 + p],
                    pairs[s3 + p],
                    pairs[s3 + p],
                );
                let d = |o: isize| {
                    let a = load(c.wrapping_add_signed(o));
                    let b = load(c.wrapping_add_signed(-o));
                    _mm256_sub_epi16(_mm256_add_epi16(a, b), cur2)
                };
                let (d0, d1) = (d(o[0]), d(o[1]));
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(d0, d1), k_lo));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(d0, d1), k_hi));
            }
            let finish = |sum: __m256i, cur: __m256i| {
                let v = _mm256_add_epi32(
                    cur,
                    _mm256_srai_epi32::<{ COEFF_BITS as i32 }>(_mm256_add_epi32(sum, round)),
                );
                _mm256_min_epi32(_mm256_max_epi32(v, zero), vmax)
            };
            let lo = finish(lo, _mm256_unpacklo_epi16(cur, zero));
            let hi = finish(hi, _mm256_unpackhi_epi16(cur, zero));
            let out = &mut dst[y * w + x..][..16];
            // SAFETY: `out` holds exactly 16 samples.
            unsafe {
                _mm256_storeu_si256(
                    out.as_mut_ptr() as *mut __m256i,
                    _mm256_packus_epi32(lo, hi),
                )
            };
            x += 16;
        }
        for x in x..x1 {
            let set = blocks.map_or(0, |b| b[(y - y0) / 4 * bw + (x - x0) / 4] as usize);
            dst[y * w + x] = sample(src, row + x, &offsets, &sets[set * n..][..n], max);
        }
    }
}
