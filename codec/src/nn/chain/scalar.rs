//! Scalar chain kernels: the reference the SIMD kernels are tested against.

use super::{finish, ChainConv};

/// Output row of `conv` (`w_out` pixels, `cp_out` channels each, the padding
/// channels 0) from its `k` pixel-major input rows; `bias` per output channel.
pub(super) fn conv_row(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: &[i32],
    w_out: usize,
    out: &mut [i16],
) {
    let k = conv.k;
    for x in 0..w_out {
        let px = &mut out[x * conv.cp_out..][..conv.cp_out];
        for (o, v) in px.iter_mut().enumerate() {
            if o >= conv.out_c {
                *v = 0;
                continue;
            }
            let mut acc = bias[o];
            for (ky, row) in rows.iter().enumerate() {
                for kx in 0..k {
                    let input = &row[(x + kx) * conv.cp_in..][..conv.in_c];
                    for (i, &s) in input.iter().enumerate() {
                        acc +=
                            conv.weights[((o * conv.in_c + i) * k + ky) * k + kx] as i32 * s as i32;
                    }
                }
            }
            *v = finish(acc, conv) as i16;
        }
    }
}

/// The requantised output row of a one-channel `conv`.
pub(super) fn last_row(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: i32,
    w_out: usize,
    out: &mut [i32],
) {
    let k = conv.k;
    for (x, v) in out[..w_out].iter_mut().enumerate() {
        let mut acc = bias;
        for (ky, row) in rows.iter().enumerate() {
            for kx in 0..k {
                let input = &row[(x + kx) * conv.cp_in..][..conv.in_c];
                for (i, &s) in input.iter().enumerate() {
                    acc += conv.weights[(i * k + ky) * k + kx] as i32 * s as i32;
                }
            }
        }
        *v = finish(acc, conv);
    }
}
