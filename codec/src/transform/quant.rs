//! Scalar quantisation: QP 0..=51 at 8 bits (-12..=51 at 10), the step size
//! doubling every 6 (`docs/bitstream.md` 6), and the chroma QP derived from the
//! luma QP. The quantiser itself works on `qP' = QP + 6 * (bitDepth - 8)`, which
//! with the transform's bit-depth shifts gives a QP the same step relative to the
//! sample range at every depth.

use crate::bitstream::{min_qp, qp_bd_offset, MAX_QP};

/// Quantiser scale for QP % 6 (forward), and its inverse (reconstruction).
/// The step size doubles every 6 QP: QP 4 has step 1.
pub const QUANT_SCALE: [i64; 6] = [26214, 23302, 20560, 18396, 16384, 14564];
/// Reconstruction scale for QP % 6.
pub const DEQUANT_SCALE: [i64; 6] = [40, 45, 51, 57, 64, 72];

/// The quantiser's `qP'` for QP `qp` at `bit_depth` (0..=63).
pub fn quant_qp(qp: i8, bit_depth: u8) -> u8 {
    let q = qp + qp_bd_offset(bit_depth);
    debug_assert!(q >= 0, "QP {qp} below the range of {bit_depth}-bit video");
    q.max(0) as u8
}

/// Chroma QP from the luma QP plus offset (clamped to `min_qp(bit_depth)..=51`
/// first), as HEVC 4:2:0.
pub fn chroma_qp(qp_plus_offset: i32, bit_depth: u8) -> i8 {
    let q = qp_plus_offset.clamp(min_qp(bit_depth) as i32, MAX_QP as i32);
    const MAP: [u8; 14] = [29, 30, 31, 32, 33, 33, 34, 34, 35, 35, 36, 36, 37, 37];
    (if q < 30 {
        q
    } else if q <= 43 {
        MAP[(q - 30) as usize] as i32
    } else {
        q - 6
    }) as i8
}

/// Reconstructs transform coefficients from levels (`n*n`), clamped to 16 bits,
/// at quantiser QP `qp` (`qP'`, see [`quant_qp`]). Only the top-left `nz_w` x
/// `nz_h` region can be non-zero.
#[allow(clippy::too_many_arguments)]
pub fn dequantize(
    levels: &[i16],
    coeffs: &mut [i16],
    qp: u8,
    log2n: u32,
    nz_w: usize,
    nz_h: usize,
    bit_depth: u8,
) {
    let n = 1usize << log2n;
    let shift = log2n + bit_depth as u32 - 5;
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
    /// The forward transform's gain over an orthonormal one, as a power of two:
    /// `15 - bitDepth - log2n` (coefficients are residuals times `2^transform_shift`).
    pub transform_shift: u32,
}

impl QuantParams {
    /// The forward quantiser of an `n x n` block at quantiser QP `qp` (`qP'`).
    pub fn new(qp: u8, log2n: u32, bit_depth: u8) -> QuantParams {
        // The transform leaves a gain of 2^(15 - bitDepth - log2n).
        let transform_shift = 15 - bit_depth as u32 - log2n;
        let shift = 14 + qp as u32 / 6 + transform_shift;
        QuantParams {
            scale: QUANT_SCALE[qp as usize % 6],
            shift,
            transform_shift,
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
        assert_eq!(chroma_qp(29, 8), 29);
        assert_eq!(chroma_qp(30, 8), 29);
        assert_eq!(chroma_qp(43, 8), 37);
        assert_eq!(chroma_qp(51, 8), 45);
        assert_eq!(chroma_qp(-3, 8), 0);
        assert_eq!(chroma_qp(-3, 10), -3);
        assert_eq!(chroma_qp(-20, 10), -12);
        assert_eq!(chroma_qp(51, 10), 45);
    }

    /// A QP means the same quantiser at every depth: a 10-bit residual four times an
    /// 8-bit one (so its coefficients equal the 8-bit ones, see `dsp::transform`) gives
    /// the same levels and reconstructed coefficients.
    #[test]
    fn qp_is_the_same_step_at_every_depth() {
        let coeffs: Vec<i16> = (0..64).map(|i| (i * 97 % 601) as i16 - 300).collect();
        for qp in 0..=51i8 {
            for log2n in 2..=5 {
                let q8 = QuantParams::new(quant_qp(qp, 8), log2n, 8);
                let q10 = QuantParams::new(quant_qp(qp, 10), log2n, 10);
                let (mut l8, mut l10) = (vec![0; 64], vec![0; 64]);
                quantize(&coeffs, &mut l8, q8, 171);
                quantize(&coeffs, &mut l10, q10, 171);
                assert_eq!(l8, l10, "qp {qp} log2n {log2n}");
            }
        }
    }
}
