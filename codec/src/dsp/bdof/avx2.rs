//! AVX2 optical-flow correction; equal to `scalar`. The per-sample work (gradients, the
//! window terms, the vertical window sums and the corrected average) runs eight samples at
//! a time; the six-wide horizontal window sums and the two divisions per 4 x 4 are scalar.
//! Every term fits i16 and a column of six terms too (module docs: |tx|, |ty| < 2^10,
//! |d| < 2^12, so six of them stay below 24576); the output adds in i32.

use super::scalar::velocity;
use std::arch::x86_64::*;

/// Largest block side.
const MAX: usize = 16;

/// # Safety
/// The CPU must support AVX2; `w`, `h` are 8 or 16, the predictions hold
/// `(w + 2) * (h + 2)` values and `dst` holds the block at `dst_stride` (checked by the
/// caller).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn bdof(
    i0: &[i16],
    i1: &[i16],
    w: usize,
    h: usize,
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    let s = w + 2;
    let n = s * (h + 2);
    let (i0, i1) = (&i0[..n], &i1[..n]);
    // Per block position: the gradient differences of the output, and the five terms.
    let mut gdx = [0i16; MAX * MAX];
    let mut gdy = [0i16; MAX * MAX];
    let mut terms = [[0i16; MAX * MAX]; 5];
    let load = |p: &[i16], i: usize| -> __m128i {
        let v = &p[i..i + 8];
        // SAFETY: `v` holds 8 values.
        unsafe { _mm_loadu_si128(v.as_ptr().cast()) }
    };
    let store = |p: &mut [i16], i: usize, v: __m128i| {
        let d = &mut p[i..i + 8];
        // SAFETY: `d` holds 8 values.
        unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), v) }
    };
    for y in 0..h {
        for x in (0..w).step_by(8) {
            let c = (y + 1) * s + x + 1;
            let grad = |p: &[i16]| {
                let gx = _mm_sub_epi16(
                    _mm_srai_epi16(load(p, c + 1), 6),
                    _mm_srai_epi16(load(p, c - 1), 6),
                );
                let gy = _mm_sub_epi16(
                    _mm_srai_epi16(load(p, c + s), 6),
                    _mm_srai_epi16(load(p, c - s), 6),
                );
                (gx, gy)
            };
            let (gx0, gy0) = grad(i0);
            let (gx1, gy1) = grad(i1);
            let k = y * w + x;
            store(&mut gdx, k, _mm_sub_epi16(gx0, gx1));
            store(&mut gdy, k, _mm_sub_epi16(gy0, gy1));
            let tx = _mm_srai_epi16(_mm_add_epi16(gx0, gx1), 1);
            let ty = _mm_srai_epi16(_mm_add_epi16(gy0, gy1), 1);
            let d = _mm_sub_epi16(
                _mm_srai_epi16(load(i1, c), 4),
                _mm_srai_epi16(load(i0, c), 4),
            );
            store(&mut terms[0], k, _mm_abs_epi16(tx));
            store(&mut terms[1], k, _mm_abs_epi16(ty));
            // _mm_sign_epi16(a, b) is a * sign(b), 0 where b is 0.
            store(&mut terms[2], k, _mm_sign_epi16(tx, ty));
            store(&mut terms[3], k, _mm_sign_epi16(d, tx));
            store(&mut terms[4], k, _mm_sign_epi16(d, ty));
        }
    }
    let shift = 15 - bit_depth;
    let offset = _mm256_set1_epi32(1 << (shift - 1));
    let count = _mm_cvtsi32_si128(shift as i32);
    let max = _mm256_set1_epi32((1 << bit_depth) - 1);
    let zero = _mm256_setzero_si256();
    for by in (0..h).step_by(4) {
        // Vertical sums of the window rows (clamped into the block) per column.
        let mut column = [[0i16; MAX]; 5];
        for (t, col) in terms.iter().zip(column.iter_mut()) {
            for x in (0..w).step_by(8) {
                let mut acc = _mm_setzero_si128();
                for wy in by as isize - 1..=by as isize + 4 {
                    let y = wy.clamp(0, h as isize - 1) as usize;
                    acc = _mm_add_epi16(acc, load(t, y * w + x));
                }
                store(col, x, acc);
            }
        }
        let mut v = [(0i32, 0i32); MAX / 4];
        for (b, vb) in v.iter_mut().enumerate().take(w / 4) {
            let bx = 4 * b;
            let mut sums = [0i32; 5];
            for wx in bx as isize - 1..=bx as isize + 4 {
                let x = wx.clamp(0, w as isize - 1) as usize;
                for (sum, col) in sums.iter_mut().zip(&column) {
                    *sum += i32::from(col[x]);
                }
            }
            *vb = velocity(sums[0], sums[1], sums[2], sums[3], sums[4]);
        }
        for y in by..by + 4 {
            for x in (0..w).step_by(8) {
                let (a, b) = (v[x / 4], v[x / 4 + 1]);
                let vx = _mm256_setr_epi32(a.0, a.0, a.0, a.0, b.0, b.0, b.0, b.0);
                let vy = _mm256_setr_epi32(a.1, a.1, a.1, a.1, b.1, b.1, b.1, b.1);
                let k = y * w + x;
                let c = (y + 1) * s + x + 1;
                let corr = _mm256_add_epi32(
                    _mm256_mullo_epi32(vx, _mm256_cvtepi16_epi32(load(&gdx, k))),
                    _mm256_mullo_epi32(vy, _mm256_cvtepi16_epi32(load(&gdy, k))),
                );
                let sum = _mm256_add_epi32(
                    _mm256_add_epi32(
                        _mm256_cvtepi16_epi32(load(i0, c)),
                        _mm256_cvtepi16_epi32(load(i1, c)),
                    ),
                    _mm256_add_epi32(corr, offset),
                );
                let out =
                    _mm256_min_epi32(_mm256_max_epi32(_mm256_sra_epi32(sum, count), zero), max);
                let packed = _mm_packus_epi32(
                    _mm256_castsi256_si128(out),
                    _mm256_extracti128_si256(out, 1),
                );
                let d = &mut dst[y * dst_stride + x..][..8];
                // SAFETY: `d` holds 8 samples.
                unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), packed) };
            }
        }
    }
}
