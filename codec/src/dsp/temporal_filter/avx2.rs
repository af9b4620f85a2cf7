//! AVX2 kernels, equal to [`super::scalar`] for samples of up to 10 bits (the deepest of
//! [`BIT_DEPTHS`](crate::dsp::BIT_DEPTHS)) and blocks of up to [`MAX_SIDE`] samples a side.
//!
//! Bounds, with `M = 1023` the largest sample:
//! - **SSE**: a difference fits `i16`; `madd(d, d)` puts at most `2 * M^2` in a 32-bit lane per
//!   16 samples. A row of at most 64 samples adds at most `4 * 2 * M^2` to a lane of the
//!   16-wide accumulator, plus `2 * M^2` from an 8-wide part (two rows share a vector, each
//!   lane taking one row's pair), so a group of [`ROW_GROUP`]
//!   rows stays below `2^31`; the lanes are summed in 64 bits after each group, where the
//!   early exit is checked as in the scalar version.
//! - **6-tap filter**: in 32-bit lanes; `|sum| <= 92 * 92 * M` for the second pass of the
//!   diagonal half-sample plane, far inside `i32`.
//! - **Downscale**: a column pair's sum, at most `2 * M`, fits `i16`, which `madd` (signed)
//!   widens with the horizontal pair sum to 32 bits.
//! - **Average of four**: the sum plus the rounding, `4 * M + 2`, fits `u16`.
//!
//! Every row is taken as a checked slice first, so each unchecked load below lies inside a
//! slice whose length has just been checked.

use std::arch::x86_64::*;

use super::{HALF_TAPS, MAX_SIDE, ROW_GROUP};

const MAX_SAMPLE: i64 = 1023;
const _: () = assert!(2 * MAX_SAMPLE <= i16::MAX as i64);
const _: () = assert!(4 * MAX_SAMPLE + 2 <= u16::MAX as i64);
const _: () = assert!(
    MAX_SIDE as i64 * (MAX_SIDE as i64 / 16) * 2 * MAX_SAMPLE * MAX_SAMPLE <= i32::MAX as i64
);

/// Sixteen samples from `row[x..x + 16]`.
#[target_feature(enable = "avx2")]
#[inline]
fn load16(row: &[u16], x: usize) -> __m256i {
    let s = &row[x..x + 16];
    // SAFETY: `s` holds exactly 16 samples (32 bytes), checked by the slicing above; `loadu`
    // has no alignment requirement.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// Eight samples from `row[x..x + 8]`.
#[target_feature(enable = "avx2")]
#[inline]
fn load8(row: &[u16], x: usize) -> __m128i {
    let s = &row[x..x + 8];
    // SAFETY: `s` holds exactly 8 samples (16 bytes), checked by the slicing above.
    unsafe { _mm_loadu_si128(s.as_ptr().cast()) }
}

/// Stores sixteen samples to `row[x..x + 16]`.
#[target_feature(enable = "avx2")]
#[inline]
fn store16(row: &mut [u16], x: usize, v: __m256i) {
    let s = &mut row[x..x + 16];
    // SAFETY: `s` holds exactly 16 samples (32 bytes), checked by the slicing above.
    unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), v) }
}

/// Sum of the eight 32-bit lanes, in 64 bits.
#[target_feature(enable = "avx2")]
#[inline]
fn sum_lanes_u64(v: __m256i) -> u64 {
    let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(v));
    let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(v));
    let s = _mm256_add_epi64(lo, hi);
    let s = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    (_mm_cvtsi128_si64(s) as u64).wrapping_add(_mm_extract_epi64::<1>(s) as u64)
}

/// The prediction of 16 samples from `rows[k][x..x + 16]`: the one source, the rounded-up
/// mean of two, or the rounded mean of four (see [`super::scalar::predict`]).
#[target_feature(enable = "avx2")]
#[inline]
fn predict16<const N: usize>(rows: &[&[u16]; N], x: usize) -> __m256i {
    match N {
        1 => load16(rows[0], x),
        2 => _mm256_avg_epu16(load16(rows[0], x), load16(rows[N - 1], x)),
        _ => {
            let mut sum = _mm256_set1_epi16(2);
            for row in rows {
                sum = _mm256_add_epi16(sum, load16(row, x));
            }
            _mm256_srli_epi16::<2>(sum)
        }
    }
}

/// [`predict16`] for 8 samples.
#[target_feature(enable = "avx2")]
#[inline]
fn predict8<const N: usize>(rows: &[&[u16]; N], x: usize) -> __m128i {
    match N {
        1 => load8(rows[0], x),
        2 => _mm_avg_epu16(load8(rows[0], x), load8(rows[N - 1], x)),
        _ => {
            let mut sum = _mm_set1_epi16(2);
            for row in rows {
                sum = _mm_add_epi16(sum, load8(row, x));
            }
            _mm_srli_epi16::<2>(sum)
        }
    }
}

/// `src[k][start..start + w]` for each `k`.
#[inline(always)]
fn rows_at<'a, const N: usize>(src: &[&'a [u16]; N], start: usize, w: usize) -> [&'a [u16]; N] {
    let mut out: [&[u16]; N] = [&[]; N];
    for (o, s) in out.iter_mut().zip(src) {
        *o = &s[start..][..w];
    }
    out
}

/// [`super::scalar::sse_predicted`] for `w`, `h` of at most [`MAX_SIDE`].
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub fn sse_predicted<const N: usize>(
    a: &[u16],
    a_stride: usize,
    src: [&[u16]; N],
    stride: usize,
    w: usize,
    h: usize,
    bound: u64,
) -> u64 {
    let mut total = 0u64;
    // 16 columns at a time, then an 8-column part (two rows per vector where they pair up),
    // then single samples.
    let x8 = w / 16 * 16;
    let has8 = w - x8 >= 8;
    let tail = x8 + if has8 { 8 } else { 0 };
    let mut y = 0;
    while y < h {
        let rows = ROW_GROUP.min(h - y);
        let mut acc16 = _mm256_setzero_si256();
        let mut acc8 = _mm_setzero_si128();
        let mut r = y;
        while r < y + rows {
            let pair = r + 1 < y + rows;
            let count = 1 + usize::from(pair);
            for r in r..r + count {
                let (ra, rb) = (&a[r * a_stride..][..w], rows_at(&src, r * stride, w));
                let mut x = 0;
                while x < x8 {
                    let d = _mm256_sub_epi16(load16(ra, x), predict16(&rb, x));
                    acc16 = _mm256_add_epi32(acc16, _mm256_madd_epi16(d, d));
                    x += 16;
                }
                for (x, &p) in ra.iter().enumerate().skip(tail) {
                    let q = super::scalar::predict(&rb, x);
                    total += u64::from(p.abs_diff(q)).pow(2);
                }
            }
            if has8 {
                let (ra, rb) = (&a[r * a_stride..][..w], rows_at(&src, r * stride, w));
                if pair {
                    let (na, nb) = (
                        &a[(r + 1) * a_stride..][..w],
                        rows_at(&src, (r + 1) * stride, w),
                    );
                    let va = _mm256_set_m128i(load8(na, x8), load8(ra, x8));
                    let vb = _mm256_set_m128i(predict8(&nb, x8), predict8(&rb, x8));
                    let d = _mm256_sub_epi16(va, vb);
                    acc16 = _mm256_add_epi32(acc16, _mm256_madd_epi16(d, d));
                } else {
                    let d = _mm_sub_epi16(load8(ra, x8), predict8(&rb, x8));
                    acc8 = _mm_add_epi32(acc8, _mm_madd_epi16(d, d));
                }
            }
            r += count;
        }
        total += sum_lanes_u64(_mm256_add_epi32(acc16, _mm256_zextsi128_si256(acc8)));
        y += rows;
        if rows == ROW_GROUP && total > bound {
            return total;
        }
    }
    total
}

/// [`super::scalar::fir6_u16`].
#[target_feature(enable = "avx2")]
pub fn fir6_u16(src: [&[u16]; 6], out: &mut [i32]) {
    let n = out.len();
    let src = src.map(|s| &s[..n]);
    let taps = HALF_TAPS.map(|c| _mm256_set1_epi32(c));
    let mut x = 0;
    while x + 8 <= n {
        let mut acc = _mm256_setzero_si256();
        for k in 0..6 {
            let v = _mm256_cvtepu16_epi32(load8(src[k], x));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, taps[k]));
        }
        store8_i32(out, x, acc);
        x += 8;
    }
    for (i, o) in out.iter_mut().enumerate().skip(x) {
        *o = (0..6).map(|k| HALF_TAPS[k] * i32::from(src[k][i])).sum();
    }
}

/// [`super::scalar::fir6_i32`].
#[target_feature(enable = "avx2")]
pub fn fir6_i32(src: [&[i32]; 6], out: &mut [i32]) {
    let n = out.len();
    let src = src.map(|s| &s[..n]);
    let taps = HALF_TAPS.map(|c| _mm256_set1_epi32(c));
    let mut x = 0;
    while x + 8 <= n {
        let mut acc = _mm256_setzero_si256();
        for k in 0..6 {
            let s = &src[k][x..x + 8];
            // SAFETY: `s` holds exactly 8 `i32` (32 bytes), checked by the slicing above.
            let v = unsafe { _mm256_loadu_si256(s.as_ptr().cast()) };
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, taps[k]));
        }
        store8_i32(out, x, acc);
        x += 8;
    }
    for (i, o) in out.iter_mut().enumerate().skip(x) {
        *o = (0..6).map(|k| HALF_TAPS[k] * src[k][i]).sum();
    }
}

/// Stores eight `i32` to `out[x..x + 8]`.
#[target_feature(enable = "avx2")]
#[inline]
fn store8_i32(out: &mut [i32], x: usize, v: __m256i) {
    let s = &mut out[x..x + 8];
    // SAFETY: `s` holds exactly 8 `i32` (32 bytes), checked by the slicing above.
    unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), v) }
}

/// [`super::scalar::downscale_2x2`].
#[target_feature(enable = "avx2")]
pub fn downscale_2x2(
    src: &[u16],
    src_stride: usize,
    dst: &mut [u16],
    dst_stride: usize,
    w: usize,
    h: usize,
) {
    let ones = _mm256_set1_epi16(1);
    let two = _mm256_set1_epi32(2);
    for y in 0..h {
        let top = &src[2 * y * src_stride..][..2 * w];
        let bottom = &src[(2 * y + 1) * src_stride..][..2 * w];
        let out = &mut dst[y * dst_stride..][..w];
        let mut x = 0;
        while x + 16 <= w {
            // Vertical pair sums of source columns 2x..2x + 32, then horizontal pairs.
            let v0 = _mm256_add_epi16(load16(top, 2 * x), load16(bottom, 2 * x));
            let v1 = _mm256_add_epi16(load16(top, 2 * x + 16), load16(bottom, 2 * x + 16));
            let s0 = _mm256_srli_epi32::<2>(_mm256_add_epi32(_mm256_madd_epi16(v0, ones), two));
            let s1 = _mm256_srli_epi32::<2>(_mm256_add_epi32(_mm256_madd_epi16(v1, ones), two));
            // packus works per 128-bit lane: [s0 lo, s1 lo | s0 hi, s1 hi]; reorder the quarters.
            let packed = _mm256_packus_epi32(s0, s1);
            store16(out, x, _mm256_permute4x64_epi64::<0b11_01_10_00>(packed));
            x += 16;
        }
        for (i, o) in out.iter_mut().enumerate().skip(x) {
            let sum = u32::from(top[2 * i])
                + u32::from(top[2 * i + 1])
                + u32::from(bottom[2 * i])
                + u32::from(bottom[2 * i + 1]);
            *o = ((sum + 2) >> 2) as u16;
        }
    }
}

/// [`super::scalar::average2`].
#[target_feature(enable = "avx2")]
pub fn average2(p: &[u16], q: &[u16], stride: usize, dst: &mut [u16], w: usize, h: usize) {
    for y in 0..h {
        let (rp, rq) = (&p[y * stride..][..w], &q[y * stride..][..w]);
        let out = &mut dst[y * w..][..w];
        let mut x = 0;
        while x + 16 <= w {
            store16(out, x, _mm256_avg_epu16(load16(rp, x), load16(rq, x)));
            x += 16;
        }
        if x + 8 <= w {
            let v = _mm_avg_epu16(load8(rp, x), load8(rq, x));
            let s = &mut out[x..x + 8];
            // SAFETY: `s` holds exactly 8 samples (16 bytes), checked by the slicing above.
            unsafe { _mm_storeu_si128(s.as_mut_ptr().cast(), v) };
            x += 8;
        }
        for ((o, &a), &b) in out[x..].iter_mut().zip(&rp[x..]).zip(&rq[x..]) {
            *o = ((u32::from(a) + u32::from(b) + 1) >> 1) as u16;
        }
    }
}

/// [`super::scalar::average4`].
#[target_feature(enable = "avx2")]
pub fn average4(src: [&[u16]; 4], stride: usize, dst: &mut [u16], w: usize, h: usize) {
    let two16 = _mm256_set1_epi16(2);
    let two8 = _mm_set1_epi16(2);
    for y in 0..h {
        let rows = src.map(|s| &s[y * stride..][..w]);
        let out = &mut dst[y * w..][..w];
        let mut x = 0;
        while x + 16 <= w {
            let s = _mm256_add_epi16(
                _mm256_add_epi16(load16(rows[0], x), load16(rows[1], x)),
                _mm256_add_epi16(load16(rows[2], x), load16(rows[3], x)),
            );
            store16(out, x, _mm256_srli_epi16::<2>(_mm256_add_epi16(s, two16)));
            x += 16;
        }
        if x + 8 <= w {
            let s = _mm_add_epi16(
                _mm_add_epi16(load8(rows[0], x), load8(rows[1], x)),
                _mm_add_epi16(load8(rows[2], x), load8(rows[3], x)),
            );
            let v = _mm_srli_epi16::<2>(_mm_add_epi16(s, two8));
            let o = &mut out[x..x + 8];
            // SAFETY: `o` holds exactly 8 samples (16 bytes), checked by the slicing above.
            unsafe { _mm_storeu_si128(o.as_mut_ptr().cast(), v) };
            x += 8;
        }
        for (i, o) in out.iter_mut().enumerate().skip(x) {
            let sum: u32 = rows.iter().map(|r| u32::from(r[i])).sum();
            *o = ((sum + 2) >> 2) as u16;
        }
    }
}
