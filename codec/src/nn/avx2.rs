//! AVX2 convolution: exact integer arithmetic with `vpmaddwd` (pairs of
//! 16-bit products summed into 32 bits), so results equal the scalar engine.
//!
//! Layout: the input is copied into a zero-padded pixel-major buffer
//! (`[y][x][channel]`, channels padded to even), weights are packed per tap
//! and channel pair as 8 output channels x 2 inputs, and each output pixel
//! accumulates 8 output channels per register.

use std::arch::x86_64::*;

/// Weights of one convolution packed for [`conv2d`].
pub struct Packed {
    /// `[tap][pair][group][8 outputs x 2 inputs]` as i16.
    data: Vec<i16>,
    /// Biases padded to whole groups of 8.
    bias: Vec<i32>,
    pairs: usize,
    groups: usize,
}

/// Packs `[out][in][k][k]` weights and the biases.
pub fn pack(weights: &[i8], bias: &[i32], out_ch: usize, in_ch: usize, k: usize) -> Packed {
    let pairs = in_ch.div_ceil(2);
    let groups = out_ch.div_ceil(8);
    let mut data = vec![0i16; k * k * pairs * groups * 16];
    for t in 0..k * k {
        for p in 0..pairs {
            for g in 0..groups {
                for lane in 0..8 {
                    let o = g * 8 + lane;
                    for half in 0..2 {
                        let i = 2 * p + half;
                        if o < out_ch && i < in_ch {
                            data[(((t * pairs + p) * groups + g) * 8 + lane) * 2 + half] =
                                weights[(o * in_ch + i) * k * k + t] as i16;
                        }
                    }
                }
            }
        }
    }
    let mut padded_bias = vec![0i32; groups * 8];
    padded_bias[..bias.len()].copy_from_slice(bias);
    Packed {
        data,
        bias: padded_bias,
        pairs,
        groups,
    }
}

/// Output channels rounded up to whole groups of 8.
pub fn padded_out(out_ch: usize) -> usize {
    out_ch.div_ceil(8) * 8
}

/// Size of the padded input buffer the convolution needs.
pub fn scratch_len(in_ch: usize, h: usize, w: usize, k: usize) -> usize {
    let r = k / 2;
    (h + 2 * r) * (w + 2 * r) * in_ch.div_ceil(2) * 2
}

/// Shapes and requantisation of one convolution.
pub struct ConvShape {
    /// Input channels, height, width.
    pub in_c: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Requantisation shift.
    pub shift: u32,
    /// Output range.
    pub lo: i32,
    /// Output range.
    pub hi: i32,
}

/// Copies the channel-major input into the zero-padded pixel-major scratch.
pub fn to_padded(x: &[i16], s: &ConvShape, scratch: &mut [i16]) {
    use rayon::prelude::*;
    let r = s.k / 2;
    let cp = s.in_c.div_ceil(2) * 2;
    let pw = s.in_w + 2 * r;
    let len = scratch_len(s.in_c, s.in_h, s.in_w, s.k);
    // Padded rows are independent: fill them in parallel.
    scratch[..len]
        .par_chunks_mut(pw * cp)
        .enumerate()
        .for_each(|(py, dst)| {
            dst.fill(0);
            if py < r || py >= s.in_h + r {
                return;
            }
            let y = py - r;
            for c in 0..s.in_c {
                let row = &x[(c * s.in_h + y) * s.in_w..][..s.in_w];
                for (xx, &v) in row.iter().enumerate() {
                    dst[(xx + r) * cp + c] = v;
                }
            }
        });
}

/// Requantises 8 accumulators (bias added) and stores them as i16.
#[target_feature(enable = "avx2")]
#[inline]
fn finish(
    acc: __m256i,
    bias: __m256i,
    round: __m256i,
    shift: __m128i,
    lo: __m256i,
    hi: __m256i,
    dst: &mut [i16],
) {
    let v = _mm256_sra_epi32(_mm256_add_epi32(_mm256_add_epi32(acc, bias), round), shift);
    let v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    // Values are within -128..=255 after the clamp: packing to i16 is exact.
    let packed = _mm256_packs_epi32(v, v);
    let packed = _mm256_permute4x64_epi64::<0b1000>(packed);
    // SAFETY: `dst` holds 8 i16 = 16 bytes.
    unsafe { _mm_storeu_si128(dst[..8].as_mut_ptr().cast(), _mm256_castsi256_si128(packed)) };
}

/// One output row `oy` of the convolution into `row`, pixel-major:
/// `row[ox * groups * 8 + o]` (output channels padded to a multiple of 8).
/// Two pixels share every weight load; four groups of 8 output channels
/// share every broadcast input pair.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn conv_row(
    padded: &[i16],
    s: &ConvShape,
    w: &Packed,
    bias: &[i32],
    oy: usize,
    row: &mut [i16],
) {
    let stride_o = w.groups * 8;
    let round = _mm256_set1_epi32(if s.shift == 0 { 0 } else { 1 << (s.shift - 1) });
    let shift = _mm_cvtsi32_si128(s.shift as i32);
    let (lo, hi) = (_mm256_set1_epi32(s.lo), _mm256_set1_epi32(s.hi));
    debug_assert_eq!(&w.bias[..bias.len()], bias);
    let bias_pad = &w.bias;
    let mut ox = 0;
    while ox < s.out_w {
        let two = ox + 1 < s.out_w;
        for g0 in (0..w.groups).step_by(4) {
            let ng = (w.groups - g0).min(4);
            let mut a0 = [_mm256_setzero_si256(); 4];
            let mut a1 = [_mm256_setzero_si256(); 4];
            // A fixed number of groups keeps the accumulators in registers.
            match ng {
                4 => accumulate::<4>(padded, s, w, oy, ox, two, g0, &mut a0, &mut a1),
                3 => accumulate::<3>(padded, s, w, oy, ox, two, g0, &mut a0, &mut a1),
                2 => accumulate::<2>(padded, s, w, oy, ox, two, g0, &mut a0, &mut a1),
                _ => accumulate::<1>(padded, s, w, oy, ox, two, g0, &mut a0, &mut a1),
            }
            for j in 0..ng {
                let g = g0 + j;
                // SAFETY: `bias_pad` holds 8 i32 per group.
                let bv = unsafe { _mm256_loadu_si256(bias_pad[g * 8..][..8].as_ptr().cast()) };
                finish(
                    a0[j],
                    bv,
                    round,
                    shift,
                    lo,
                    hi,
                    &mut row[ox * stride_o + g * 8..],
                );
                if two {
                    finish(
                        a1[j],
                        bv,
                        round,
                        shift,
                        lo,
                        hi,
                        &mut row[(ox + 1) * stride_o + g * 8..],
                    );
                }
            }
        }
        ox += 2;
    }
}

/// Accumulates `NG` groups of 8 output channels for pixels `ox` and `ox + 1`.
#[target_feature(enable = "avx2")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn accumulate<const NG: usize>(
    padded: &[i16],
    s: &ConvShape,
    w: &Packed,
    oy: usize,
    ox: usize,
    two: bool,
    g0: usize,
    a0: &mut [__m256i; 4],
    a1: &mut [__m256i; 4],
) {
    let r = s.k / 2;
    let cp = w.pairs * 2;
    let pw = s.in_w + 2 * r;
    let mut acc0 = [_mm256_setzero_si256(); NG];
    let mut acc1 = [_mm256_setzero_si256(); NG];
    for t in 0..s.k * s.k {
        let (ky, kx) = (t / s.k, t % s.k);
        let base0 = ((oy * s.stride + ky) * pw + ox * s.stride + kx) * cp;
        let base1 = if two { base0 + s.stride * cp } else { base0 };
        let px0 = &padded[base0..base0 + cp];
        let px1 = &padded[base1..base1 + cp];
        let wt = &w.data[t * w.pairs * w.groups * 16..][..w.pairs * w.groups * 16];
        for p in 0..w.pairs {
            // SAFETY: `px0`/`px1` hold `cp = 2 * pairs` values, so 2p+1 is in bounds;
            // the read is unaligned-safe.
            let (x0, x1) = unsafe {
                (
                    _mm256_set1_epi32(px0.as_ptr().add(2 * p).cast::<i32>().read_unaligned()),
                    _mm256_set1_epi32(px1.as_ptr().add(2 * p).cast::<i32>().read_unaligned()),
                )
            };
            let wp = &wt[(p * w.groups + g0) * 16..][..NG * 16];
            for j in 0..NG {
                // SAFETY: `wp` holds NG * 16 i16, so 16 from j * 16 are in bounds; loadu needs no alignment.
                let b = unsafe { _mm256_loadu_si256(wp.as_ptr().add(j * 16).cast()) };
                acc0[j] = _mm256_add_epi32(acc0[j], _mm256_madd_epi16(x0, b));
                acc1[j] = _mm256_add_epi32(acc1[j], _mm256_madd_epi16(x1, b));
            }
        }
    }
    a0[..NG].copy_from_slice(&acc0);
    a1[..NG].copy_from_slice(&acc1);
}
