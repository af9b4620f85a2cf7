//! AVX2 kernels of the refinement search; equal to `scalar` (see the module docs for the
//! bounds that let them add and subtract in 16 bits).

use super::{GRID, MARGIN};
use std::arch::x86_64::*;

/// # Safety
/// The CPU must support AVX2; the caller has checked the footprint (`w + 1` columns and
/// `h + 1` rows from `origin`) and `dst.len() >= w * h`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn bilinear(
    src: &[u16],
    src_stride: usize,
    origin: usize,
    w: usize,
    h: usize,
    fx: u8,
    fy: u8,
    dst: &mut [u16],
) {
    let (fx, fy) = (i16::from(fx), i16::from(fy));
    let weights = [(4 - fx) * (4 - fy), fx * (4 - fy), (4 - fx) * fy, fx * fy];
    let wv = weights.map(|k| _mm256_set1_epi16(k));
    let wh = weights.map(|k| _mm_set1_epi16(k));
    for y in 0..h {
        let top = &src[origin + y * src_stride..][..w + 1];
        let bottom = &src[origin + (y + 1) * src_stride..][..w + 1];
        let out = &mut dst[y * w..][..w];
        let mut x = 0;
        while x + 16 <= w {
            // SAFETY: x + 16 <= w, so the loads read top/bottom[x..x + 17] <= w + 1 samples
            // and the store writes out[x..x + 16]; products and sums stay below 2^15.
            unsafe {
                let load = |s: &[u16], i: usize| _mm256_loadu_si256(s.as_ptr().add(i).cast());
                let v = _mm256_add_epi16(
                    _mm256_add_epi16(
                        _mm256_mullo_epi16(load(top, x), wv[0]),
                        _mm256_mullo_epi16(load(top, x + 1), wv[1]),
                    ),
                    _mm256_add_epi16(
                        _mm256_mullo_epi16(load(bottom, x), wv[2]),
                        _mm256_mullo_epi16(load(bottom, x + 1), wv[3]),
                    ),
                );
                _mm256_storeu_si256(out.as_mut_ptr().add(x).cast(), v);
            }
            x += 16;
        }
        while x + 8 <= w {
            // SAFETY: as above with 8 lanes.
            unsafe {
                let load = |s: &[u16], i: usize| _mm_loadu_si128(s.as_ptr().add(i).cast());
                let v = _mm_add_epi16(
                    _mm_add_epi16(
                        _mm_mullo_epi16(load(top, x), wh[0]),
                        _mm_mullo_epi16(load(top, x + 1), wh[1]),
                    ),
                    _mm_add_epi16(
                        _mm_mullo_epi16(load(bottom, x), wh[2]),
                        _mm_mullo_epi16(load(bottom, x + 1), wh[3]),
                    ),
                );
                _mm_storeu_si128(out.as_mut_ptr().add(x).cast(), v);
            }
            x += 8;
        }
        for x in x..w {
            let v = weights[0] * top[x] as i16
                + weights[1] * top[x + 1] as i16
                + weights[2] * bottom[x] as i16
                + weights[3] * bottom[x + 1] as i16;
            out[x] = v as u16;
        }
    }
}

/// # Safety
/// The CPU must support AVX2; `w` and `h` are 8 or 16 and both predictions hold
/// `(w + 4) * (h + 4)` samples (checked by the caller).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sad_grid(p0: &[u16], p1: &[u16], w: usize, h: usize) -> [u32; GRID] {
    let stride = w + 2 * MARGIN;
    let n = stride * (h + 2 * MARGIN);
    let (p0, p1) = (&p0[..n], &p1[..n]);
    let mut costs = [0u32; GRID];
    for (i, cost) in costs.iter_mut().enumerate() {
        let (dx, dy) = (i % 5, i / 5);
        let (a0, b0) = (dy * stride + dx, (4 - dy) * stride + (4 - dx));
        if w == 16 {
            let mut acc = _mm256_setzero_si256();
            for y in (0..h).step_by(2) {
                let (a, b) = (&p0[a0 + y * stride..][..16], &p1[b0 + y * stride..][..16]);
                // SAFETY: a and b hold 16 samples each. Samples are at most 16368, so the
                // 16-bit difference is exact and its magnitude fits.
                unsafe {
                    let va = _mm256_loadu_si256(a.as_ptr().cast());
                    let vb = _mm256_loadu_si256(b.as_ptr().cast());
                    let d = _mm256_abs_epi16(_mm256_sub_epi16(va, vb));
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d, _mm256_set1_epi16(1)));
                }
            }
            let s = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256(acc, 1),
            );
            *cost = horizontal_sum(s);
        } else {
            let mut acc = _mm_setzero_si128();
            for y in (0..h).step_by(2) {
                let (a, b) = (&p0[a0 + y * stride..][..8], &p1[b0 + y * stride..][..8]);
                // SAFETY: a and b hold 8 samples each; bounds as above.
                unsafe {
                    let va = _mm_loadu_si128(a.as_ptr().cast());
                    let vb = _mm_loadu_si128(b.as_ptr().cast());
                    let d = _mm_abs_epi16(_mm_sub_epi16(va, vb));
                    acc = _mm_add_epi32(acc, _mm_madd_epi16(d, _mm_set1_epi16(1)));
                }
            }
            *cost = horizontal_sum(acc);
        }
    }
    costs
}

#[target_feature(enable = "avx2")]
fn horizontal_sum(v: __m128i) -> u32 {
    let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b01_00_11_10));
    let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b10_11_00_01));
    _mm_cvtsi128_si32(v) as u32
}
