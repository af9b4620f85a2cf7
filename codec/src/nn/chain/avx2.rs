//! AVX2 chain kernels: `vpmaddwd` sums pairs of 16-bit products into 32 bits,
//! exactly, so the results equal the scalar kernels' (tested).
//!
//! A convolution computes blocks of `PX` pixels by `NG` groups of 8 output
//! channels, `PX * NG` accumulators in registers: per tap and input pair, one
//! weight load per group and one broadcast per pixel feed `PX * NG`
//! multiply-adds. The one-channel last layer takes each kernel row's `k`
//! neighbouring pixels as one contiguous run of values (pixel-major rows), a
//! dot product with that row's weights.

use super::ChainConv;
use std::arch::x86_64::*;

/// See [`super::scalar::conv_row`]; writes whole blocks of pixels, so up
/// to `PX - 1` pixels past `w_out` (the rows' slack).
///
/// # Safety
/// The CPU must support AVX2; `rows` and `out` must hold `w_out +
/// SLACK_PIXELS` pixels (input rows `k - 1` more).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn conv_row(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: &[i32],
    w_out: usize,
    out: &mut [i16],
) {
    let groups = conv.cp_out / 8;
    let mut g0 = 0;
    while g0 < groups {
        let ng = (groups - g0).min(4);
        // SAFETY (each arm): as this function's contract.
        match ng {
            4 => unsafe { conv_groups::<3, 4>(conv, rows, bias, w_out, g0, out) },
            3 => unsafe { conv_groups::<3, 3>(conv, rows, bias, w_out, g0, out) },
            2 => unsafe { conv_groups::<6, 2>(conv, rows, bias, w_out, g0, out) },
            _ => unsafe { conv_groups::<8, 1>(conv, rows, bias, w_out, g0, out) },
        }
        g0 += ng;
    }
}

/// Groups `g0..g0 + NG` of a row, `PX` pixels at a time.
///
/// # Safety
/// As [`conv_row`].
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn conv_groups<const PX: usize, const NG: usize>(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: &[i32],
    w_out: usize,
    g0: usize,
    out: &mut [i16],
) {
    let (k, cp_in, cp_out) = (conv.k, conv.cp_in, conv.cp_out);
    let pairs = cp_in / 2;
    let groups = cp_out / 8;
    let blocks = w_out.div_ceil(PX);
    debug_assert!(blocks * PX <= w_out + super::SLACK_PIXELS);
    debug_assert!(rows
        .iter()
        .all(|r| r.len() >= (blocks * PX + k - 1) * cp_in));
    debug_assert!(out.len() >= blocks * PX * cp_out && bias.len() >= cp_out);
    let round = _mm256_set1_epi32(if conv.shift == 0 {
        0
    } else {
        1 << (conv.shift - 1)
    });
    let shift = _mm_cvtsi32_si128(conv.shift as i32);
    let (lo, hi) = (_mm256_set1_epi32(conv.lo), _mm256_set1_epi32(conv.hi));
    // SAFETY: `bias` holds `cp_out` values (asserted), 8 per group.
    let b: [__m256i; NG] = std::array::from_fn(|j| unsafe {
        _mm256_loadu_si256(bias.as_ptr().add((g0 + j) * 8).cast())
    });
    let wbase = conv.packed.as_ptr();
    for block in 0..blocks {
        let x = block * PX;
        let mut acc = [b; PX];
        for (ky, row) in rows.iter().enumerate() {
            for kx in 0..k {
                let t = ky * k + kx;
                // SAFETY: pixel `x + kx + PX - 1 < blocks * PX + k - 1` is
                // within the row (debug-asserted; the caller's slack).
                let px = unsafe { row.as_ptr().add((x + kx) * cp_in) };
                // SAFETY: tap `t`, group `g0` starts within `packed`.
                let wt = unsafe { wbase.add((t * pairs * groups + g0) * 16) };
                for p in 0..pairs {
                    // SAFETY: pair `p`'s groups `g0..g0 + NG` are within `packed`.
                    let w: [__m256i; NG] = std::array::from_fn(|j| unsafe {
                        _mm256_loadu_si256(wt.add((p * groups + j) * 16).cast())
                    });
                    for (i, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: two i16 of pixel `x + kx + i`, pair `p` (in bounds, above).
                        let v = unsafe {
                            _mm256_set1_epi32(
                                px.add(i * cp_in + 2 * p).cast::<i32>().read_unaligned(),
                            )
                        };
                        for j in 0..NG {
                            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(v, w[j]));
                        }
                    }
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for (j, &a) in acc.iter().enumerate() {
                let v = _mm256_sra_epi32(_mm256_add_epi32(a, round), shift);
                let v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
                // Within the layer's i16 range after the clamp: packing is exact.
                let v = _mm256_permute4x64_epi64::<0b1000>(_mm256_packs_epi32(v, v));
                // SAFETY: 8 values of pixel `x + i`, group `g0 + j`, within `out` (asserted).
                unsafe {
                    _mm_storeu_si128(
                        out.as_mut_ptr().add((x + i) * cp_out + (g0 + j) * 8).cast(),
                        _mm256_castsi256_si128(v),
                    )
                };
            }
        }
    }
}

/// See [`super::scalar::last_row`]; 4 pixels at a time (up to 3 past `w_out`).
///
/// # Safety
/// As [`conv_row`]; `out` holds `w_out + SLACK_PIXELS` values.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn last_row(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: i32,
    w_out: usize,
    out: &mut [i32],
) {
    let (k, cp_in) = (conv.k, conv.cp_in);
    let row_len = ChainConv::row_len(k, cp_in);
    let blocks = w_out.div_ceil(4);
    // The last block's last pixel reads `row_len` values from its own start.
    debug_assert!(rows
        .iter()
        .all(|r| r.len() >= (blocks * 4 - 1) * cp_in + row_len));
    debug_assert!(out.len() >= blocks * 4);
    let round = if conv.shift == 0 {
        0
    } else {
        1 << (conv.shift - 1)
    };
    let round = _mm_set1_epi32(bias + round);
    let shift = _mm_cvtsi32_si128(conv.shift as i32);
    let (lo, hi) = (_mm_set1_epi32(conv.lo), _mm_set1_epi32(conv.hi));
    for block in 0..blocks {
        let x = block * 4;
        let mut acc = [_mm256_setzero_si256(); 4];
        for (ky, row) in rows.iter().enumerate() {
            let w = &conv.packed_rows[ky * row_len..][..row_len];
            for c in (0..row_len).step_by(16) {
                // SAFETY: 16 weights from `c < row_len` (a multiple of 16).
                let wv = unsafe { _mm256_loadu_si256(w.as_ptr().add(c).cast()) };
                for (i, a) in acc.iter_mut().enumerate() {
                    // SAFETY: pixel `x + i`'s run of `row_len` values is within the row (asserted).
                    let v =
                        unsafe { _mm256_loadu_si256(row.as_ptr().add((x + i) * cp_in + c).cast()) };
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(v, wv));
                }
            }
        }
        // Horizontal sums of the four accumulators, in pixel order.
        let s01 = _mm256_hadd_epi32(acc[0], acc[1]);
        let s23 = _mm256_hadd_epi32(acc[2], acc[3]);
        let s = _mm256_hadd_epi32(s01, s23);
        let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        let v = _mm_sra_epi32(_mm_add_epi32(s, round), shift);
        let v = _mm_min_epi32(_mm_max_epi32(v, lo), hi);
        // SAFETY: 4 values from `x`, within `out` (asserted).
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(x).cast(), v) };
    }
}
