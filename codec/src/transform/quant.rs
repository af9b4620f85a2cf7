//! Scalar quantisation: QP 0..=51, the step size doubling every 6
//! (`docs/bitstream.md` 6), and the chroma QP derived from the luma QP.

use crate::bitstream::MAX_QP;

/// Quantiser scale for QP % 6 (forward), and its inverse (reconstruction).
/// The step size doubles every 6 QP: QP 4 has step 1.
pub const QUANT_SCALE: [i64; 6] = [26214, 23302, 20560, 18396, 16384, 14564];
/// Reconstruction scale for QP % 6.
pub const DEQUANT_SCALE: [i64; 6] = [40, 45, 51, 57, 64, 72];

/// Chroma QP from the luma QP plus offset (clamped to 0..=51 first), as HEVC 4:2:0.
pub fn chroma_qp(qp_plus_offset: i32) -> u8 {
    let q = qp_plus_offset.clamp(0, MAX_QP as i32);
    const MAP: [u8; 14] = [29, 30, 31, 32, 33, 33, 34, 34, 35, 35, 36, 36, 37, 37];
    (if q < 30 {
        q
    } else if q <= 43 {
        MAP[(q - 30) as usize] as i32
    } else {
        q - 6
    }) as u8
}

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
        let a = a.min(crate::residual::MAX_LEVEL as i64) as i16;
        *l = if *c < 0 { -a } else { a };
        any |= a != 0;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroma_qp_map() {
        assert_eq!(chroma_qp(29), 29);
        assert_eq!(chroma_qp(30), 29);
        assert_eq!(chroma_qp(43), 37);
        assert_eq!(chroma_qp(51), 45);
        assert_eq!(chroma_qp(-3), 0);
    }
}
