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
    pairs: usize,
    groups: usize,
}

/// Packs `[out][in][k][k]` weights.
pub fn pack(weights: &[i8], out_ch: usize, in_ch: usize, k: usize) -> Packed {
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
    Packed {
        data,
        pairs,
        groups,
    }
}

/// Size of the padded input buffer [`conv2d`] needs.
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
    let r = s.k / 2;
    let cp = s.in_c.div_ceil(2) * 2;
    let pw = s.in_w + 2 * r;
    let len = scratch_len(s.in_c, s.in_h, s.in_w, s.k);
    scratch[..len].fill(0);
    for c in 0..s.in_c {
        for y in 0..s.in_h {
            let row = &x[(c * s.in_h + y) * s.in_w..][..s.in_w];
            let base = ((y + r) * pw + r) * cp + c;
            for (xx, &v) in row.iter().enumerate() {
                scratch[base + xx * cp] = v;
            }
        }
    }
}

/// One output row `oy` of the convolution into `row` (`[o][ox]`, all output channels).
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
    let r = s.k / 2;
    let cp = w.pairs * 2;
    let pw = s.in_w + 2 * r;
    let taps = s.k * s.k;
    let mut lanes = [0i32; 8];
    for ox in 0..s.out_w {
        // Up to four groups of 8 output channels share each broadcast input pair.
        for g0 in (0..w.groups).step_by(4) {
            let ng = (w.groups - g0).min(4);
            let mut acc = [_mm256_setzero_si256(); 4];
            for t in 0..taps {
                let (ky, kx) = (t / s.k, t % s.k);
                let base = ((oy * s.stride + ky) * pw + ox * s.stride + kx) * cp;
                let px = &padded[base..base + cp];
                let wt = &w.data[t * w.pairs * w.groups * 16..][..w.pairs * w.groups * 16];
                for p in 0..w.pairs {
                    let pair =
                        (px[2 * p] as u16 as u32 | (px[2 * p + 1] as u16 as u32) << 16) as i32;
                    let a = _mm256_set1_epi32(pair);
                    let wp = &wt[(p * w.groups + g0) * 16..][..ng * 16];
                    for (j, acc) in acc.iter_mut().enumerate().take(ng) {
                        // SAFETY: `wp[j * 16..]` holds 16 i16 = 32 bytes; loadu needs no alignment.
                        let b = unsafe { _mm256_loadu_si256(wp[j * 16..][..16].as_ptr().cast()) };
                        *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(a, b));
                    }
                }
            }
            for (j, acc) in acc.iter().enumerate().take(ng) {
                // SAFETY: `lanes` is 8 i32 = 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), *acc) };
                for (lane, &a) in lanes.iter().enumerate() {
                    let o = (g0 + j) * 8 + lane;
                    if o < s.out_c {
                        let v = a + bias[o];
                        let v = if s.shift == 0 {
                            v
                        } else {
                            (v + (1 << (s.shift - 1))) >> s.shift
                        };
                        row[o * s.out_w + ox] = v.clamp(s.lo, s.hi) as i16;
                    }
                }
            }
        }
    }
}
