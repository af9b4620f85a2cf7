//! Scalar quantisation: QP 0..=51, the step size doubling every 6.

use crate::tables::{DEQUANT_SCALE, QUANT_SCALE};

/// Reconstructs transform coefficients from levels (`n*n`), clamped to 16 bits.
/// Only the top-left `nz_w` x `nz_h` region can be non-zero.
pub fn dequantize(
    levels: &[i16],
    coeffs: &mut [i16],
    qp: u8,
    log2n: u32,
    nz_w: usize,
    nz_h: usize,
) {
    let n = 1usize << log2n;
    let shift = log2n + 3;
    let scale = (DEQUANT_SCALE[qp as usize % 6] * 16) << (qp / 6);
    let round = 1i64 << (shift - 1);
    coeffs.fill(0);
    for y in 0..nz_h {
        for x in 0..nz_w {
            let l = levels[y * n + x] as i64;
            if l != 0 {
                let c = (l * scale + round) >> shift;
                coeffs[y * n + x] = c.clamp(i16::MIN as i64, i16::MAX as i64) as i16;
            }
        }
    }
}

/// Parameters of the forward quantiser for one block.
#[derive(Clone, Copy, Debug)]
pub struct QuantParams {
    /// Multiplier for QP % 6.
    pub scale: i64,
    /// Right shift that completes the division by the step size.
    pub shift: u32,
}

impl QuantParams {
    /// The forward quantiser of an `n x n` block at `qp`.
    pub fn new(qp: u8, log2n: u32) -> QuantParams {
        // 8-bit video: the transform leaves a gain of 2^(7 - log2n).
        let shift = 14 + qp as u32 / 6 + (7 - log2n);
        QuantParams {
            scale: QUANT_SCALE[qp as usize % 6],
            shift,
        }
    }
}

/// Dead-zone quantisation with rounding offset `offset` (in 1/512 of a step,
/// e.g. 171 for intra). Returns whether any level is non-zero.
pub fn quantize(coeffs: &[i16], levels: &mut [i16], q: QuantParams, offset: i64) -> bool {
    let add = offset << (q.shift - 9);
    let mut any = false;
    for (c, l) in coeffs.iter().zip(levels.iter_mut()) {
        let a = (c.unsigned_abs() as i64 * q.scale + add) >> q.shift;
        let a = a.min(crate::syntax::MAX_LEVEL as i64) as i16;
        *l = if *c < 0 { -a } else { a };
        any |= a != 0;
    }
    any
}
