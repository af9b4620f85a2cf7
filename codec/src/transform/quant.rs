//! Scalar quantisation: QP 0..=51 at 8 bits (-12..=51 at 10), the step size
//! doubling every 6 (`docs/bitstream.md` 6), and the chroma QP derived from the
//! luma QP. The quantiser itself works on `qP' = QP + 6 * (bitDepth - 8)`, which
//! with the transform's bit-depth shifts gives a QP the same step relative to the
//! sample range at every depth.

use crate::bitstream::{min_qp, qp_bd_offset, MAX_QP};

/// Quantiser scale for QP % 6 (forward): row 0 for blocks whose `log2w + log2h` is even
/// (squares among them), row 1 (row 0 over `sqrt(2)`, used with one bit less of shift) for
/// the others, as VVC. The step size doubles every 6 QP: QP 4 has step 1.
pub const QUANT_SCALE: [[i64; 6]; 2] = [
    [26214, 23302, 20560, 18396, 16384, 14564],
    [18396, 16384, 14564, 13107, 11651, 10280],
];
/// Reconstruction scale for QP % 6, rows as [`QUANT_SCALE`] (row 1 is row 0 times
/// `sqrt(2)`, used with one bit more of shift).
pub const DEQUANT_SCALE: [[i64; 6]; 2] = [[40, 45, 51, 57, 64, 72], [57, 64, 72, 80, 90, 102]];

/// Whether a `w x h` block's transform gain is an odd power of `sqrt(2)`
/// (`log2w + log2h` odd), which the quantiser's second scale row corrects.
fn needs_sqrt2(log2w: u32, log2h: u32) -> bool {
    (log2w + log2h) % 2 == 1
}

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

/// Reconstructs transform coefficients from levels (`w*h`, row-major, `w = 1 << log2w`),
/// clamped to 16 bits, at quantiser QP `qp` (`qP'`, see [`quant_qp`]). Only the top-left
/// `nz_w` x `nz_h` region can be non-zero.
///
/// `coeff = (level * scale * 16 << qp / 6 + round) >> shift` with
/// `shift = (log2w + log2h) / 2 + bitDepth - 5`, one more (with the `sqrt(2)` scale row)
/// when `log2w + log2h` is odd.
#[allow(clippy::too_many_arguments)]
pub fn dequantize(
    levels: &[i16],
    coeffs: &mut [i16],
    qp: u8,
    log2w: u32,
    log2h: u32,
    nz_w: usize,
    nz_h: usize,
    bit_depth: u8,
) {
    let w = 1usize << log2w;
    let odd = needs_sqrt2(log2w, log2h);
    let shift = (log2w + log2h) / 2 + bit_depth as u32 - 5 + u32::from(odd);
    let scale = (DEQUANT_SCALE[usize::from(odd)][qp as usize % 6] * 16) << (qp / 6);
    let round = 1i64 << (shift - 1);
    coeffs.fill(0);
    for y in 0..nz_h {
        for x in 0..nz_w {
            let l = levels[y * w + x] as i64;
            if l != 0 {
                let c = (l * scale + round) >> shift;
                coeffs[y * w + x] = c.clamp(i16::MIN as i64, i16::MAX as i64) as i16;
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
    /// The forward transform's gain over an orthonormal one, as a power of two, less the
    /// half bit that `scale` absorbs for odd `log2w + log2h`: `15 - bitDepth - (log2w +
    /// log2h) / 2`, minus 1 when `log2w + log2h` is odd (VVC's). Coefficients are residuals
    /// times `2^transform_shift` (times `sqrt(2)` when odd).
    pub transform_shift: u32,
    /// Whether `log2w + log2h` is odd (`scale` from the `sqrt(2)` row).
    sqrt2: bool,
}

impl QuantParams {
    /// The forward quantiser of a `w x h` block at quantiser QP `qp` (`qP'`).
    pub fn new(qp: u8, log2w: u32, log2h: u32, bit_depth: u8) -> QuantParams {
        let sqrt2 = needs_sqrt2(log2w, log2h);
        // The transform leaves a gain of 2^(15 - bitDepth - (log2w + log2h) / 2).
        let transform_shift = 15 - bit_depth as u32 - (log2w + log2h) / 2 - u32::from(sqrt2);
        let shift = 14 + qp as u32 / 6 + transform_shift;
        QuantParams {
            scale: QUANT_SCALE[usize::from(sqrt2)][qp as usize % 6],
            shift,
            transform_shift,
            sqrt2,
        }
    }

    /// Squared error in the sample domain per unit of squared error in `|coeff| * scale`
    /// (the units of `level << shift`): the quantiser's scale and the transform's gain undone.
    pub fn error_scale(&self) -> f64 {
        let gain_bits = 2 * self.transform_shift + u32::from(self.sqrt2);
        1.0 / ((self.scale * self.scale) as f64 * (1u64 << gain_bits) as f64)
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
    use crate::cpu::CpuLevel;
    use crate::dsp::transform::{forward, TxKind};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Every transform block shape, as (log2w, log2h).
    fn shapes() -> impl Iterator<Item = (u32, u32)> {
        (2..=5).flat_map(|log2w| (2..=5).map(move |log2h| (log2w, log2h)))
    }

    /// The quantiser's step for `qP'` `qp`, in units of an orthonormal transform's
    /// coefficients: `2^((qp - 4) / 6)`.
    fn step(qp: u8) -> f64 {
        2f64.powf((f64::from(qp) - 4.0) / 6.0)
    }

    /// Independent of the tables: a flat residual `r` over `w x h` has the orthonormal DC
    /// coefficient `r * sqrt(w * h)`, so its DC level is that over the step for every
    /// shape and depth. A `sqrt(2)` missing (or doubled) for 2:1 shapes is 41 % off.
    #[test]
    fn dc_level_is_the_orthonormal_dc_over_the_step() {
        for (log2w, log2h) in shapes() {
            let (w, h) = (1usize << log2w, 1usize << log2h);
            for bit_depth in [8u8, 10] {
                for qp in [10i8, 22, 37] {
                    let r = 200i16;
                    let residual = vec![r << (bit_depth - 8); w * h];
                    let mut coeffs = vec![0; w * h];
                    forward(
                        TxKind::Dct2,
                        TxKind::Dct2,
                        log2w,
                        log2h,
                        &residual,
                        &mut coeffs,
                        bit_depth.into(),
                        CpuLevel::Scalar,
                    );
                    let qp = quant_qp(qp, bit_depth);
                    let mut levels = vec![0; w * h];
                    quantize(
                        &coeffs,
                        &mut levels,
                        QuantParams::new(qp, log2w, log2h, bit_depth),
                        256,
                    );
                    let expected = f64::from(residual[0]) * ((w * h) as f64).sqrt() / step(qp);
                    let got = f64::from(levels[0]);
                    assert!(
                        (got - expected).abs() <= 1.0 + 0.01 * expected,
                        "{w}x{h} at {bit_depth} bits, qP' {qp}: level {got}, expected {expected:.1}"
                    );
                    assert!(levels[1..].iter().all(|&l| l == 0), "{w}x{h}: AC levels");
                }
            }
        }
    }

    /// Dequantising a rounded level gives back the coefficient within half a step (in the
    /// coefficient domain: the orthonormal step times the transform's gain
    /// `2^(15 - B - (log2w + log2h) / 2)`), for every shape: the two `sqrt(2)` rows agree.
    #[test]
    fn dequantize_inverts_quantize_within_half_a_step() {
        let mut rng = SmallRng::seed_from_u64(7);
        for (log2w, log2h) in shapes() {
            let (w, h) = (1usize << log2w, 1usize << log2h);
            for bit_depth in [8u8, 10] {
                for qp in [4i8, 17, 27, 37, 51] {
                    let qp = quant_qp(qp, bit_depth);
                    let gain =
                        2f64.powf(15.0 - f64::from(bit_depth) - f64::from(log2w + log2h) / 2.0);
                    let half_step = step(qp) * gain / 2.0;
                    let coeffs: Vec<i16> =
                        (0..w * h).map(|_| rng.gen_range(-20000..=20000)).collect();
                    let mut levels = vec![0; w * h];
                    quantize(
                        &coeffs,
                        &mut levels,
                        QuantParams::new(qp, log2w, log2h, bit_depth),
                        256,
                    );
                    let mut back = vec![0; w * h];
                    dequantize(&levels, &mut back, qp, log2w, log2h, w, h, bit_depth);
                    for (i, (&c, &b)) in coeffs.iter().zip(&back).enumerate() {
                        let error = f64::from(c - b).abs();
                        assert!(
                            error <= half_step * 1.02 + 1.0,
                            "{w}x{h} at {bit_depth} bits, qP' {qp}, coefficient {i}: {c} came \
                             back as {b} (half step {half_step:.1})"
                        );
                    }
                }
            }
        }
    }

    /// The quantiser of squares is HEVC's, unchanged: a few values worked out by hand.
    #[test]
    fn square_parameters_are_hevcs() {
        let q = QuantParams::new(22, 3, 3, 8);
        assert_eq!(
            (q.scale, q.shift, q.transform_shift),
            (16384, 14 + 3 + 4, 4)
        );
        let mut coeffs = [0i16; 64];
        let mut levels = [0i16; 64];
        levels[0] = 3;
        dequantize(&levels, &mut coeffs, 22, 3, 3, 1, 1, 8);
        // 3 * 64 * 16 << 3 = 24576, >> (3 + 8 - 5) = 384.
        assert_eq!(coeffs[0], 384);
    }

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
        for qp in 0..=51i8 {
            for (log2w, log2h) in shapes() {
                let (w, h) = (1usize << log2w, 1usize << log2h);
                let coeffs: Vec<i16> = (0..w * h).map(|i| (i * 97 % 601) as i16 - 300).collect();
                let (q8, q10) = (quant_qp(qp, 8), quant_qp(qp, 10));
                let (mut l8, mut l10) = (vec![0; w * h], vec![0; w * h]);
                quantize(&coeffs, &mut l8, QuantParams::new(q8, log2w, log2h, 8), 171);
                quantize(
                    &coeffs,
                    &mut l10,
                    QuantParams::new(q10, log2w, log2h, 10),
                    171,
                );
                assert_eq!(l8, l10, "qp {qp} {w}x{h}");
                let (mut c8, mut c10) = (vec![0; w * h], vec![0; w * h]);
                dequantize(&l8, &mut c8, q8, log2w, log2h, w, h, 8);
                dequantize(&l10, &mut c10, q10, log2w, log2h, w, h, 10);
                assert_eq!(c8, c10, "qp {qp} {w}x{h}");
            }
        }
    }
}
