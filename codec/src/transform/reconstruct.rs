//! Reconstruction of a transform block (`docs/bitstream.md` 6): levels
//! dequantised, inverse transformed by the kernels of `dsp/transform`, and
//! added to the prediction.

use super::quant::dequantize;
use crate::cpu::CpuLevel;
use crate::dsp::transform::{self, TxKind};

/// Transform kinds (horizontal, vertical) of a `w x h` block of `plane`.
///
/// `implicit`: the block is an intra block predicted by a mode other than the learned one
/// (35), in a stream with implicit transform selection (`tool_flags` bit 6). Luma blocks
/// with it use VVC's implicit rule: DST-VII along each side of 4 to 16 samples, DCT-II
/// along 32. Every other block uses DST-VII both ways at 4x4 luma, DCT-II otherwise.
pub fn tx_kind(plane: usize, log2w: u32, log2h: u32, implicit: bool) -> (TxKind, TxKind) {
    let dst_up_to_16 = |log2n: u32| {
        if log2n <= 4 {
            TxKind::Dst7
        } else {
            TxKind::Dct2
        }
    };
    if plane != 0 {
        (TxKind::Dct2, TxKind::Dct2)
    } else if implicit {
        (dst_up_to_16(log2w), dst_up_to_16(log2h))
    } else if (log2w, log2h) == (2, 2) {
        (TxKind::Dst7, TxKind::Dst7)
    } else {
        (TxKind::Dct2, TxKind::Dct2)
    }
}

/// Working memory of [`reconstruct`], allocated once per frame: zeroing
/// fresh 32x32 buffers for every 4x4 block would dominate small blocks.
pub struct ReconScratch {
    coeffs: Box<[i16; 1024]>,
    resid: Box<[i16; 1024]>,
}

impl Default for ReconScratch {
    fn default() -> Self {
        ReconScratch {
            coeffs: Box::new([0; 1024]),
            resid: Box::new([0; 1024]),
        }
    }
}

/// Dequantises the `w x h` `levels` (`w = 1 << log2w`, `h = 1 << log2h`; only the top-left
/// `nz` = (columns, rows) may be non-zero) at quantiser QP `qp` (`qP'`), inverse transforms
/// them with `kinds` (horizontal, vertical; see [`tx_kind`]) and adds the residual to `pred`,
/// writing the reconstruction, clipped to `bit_depth` bits, into `out` (all `w*h`).
#[allow(clippy::too_many_arguments)]
pub fn reconstruct(
    levels: &[i16],
    nz: (usize, usize),
    (log2w, log2h): (u32, u32),
    kinds: (TxKind, TxKind),
    qp: u8,
    bit_depth: u8,
    pred: &[u16],
    out: &mut [u16],
    cpu: CpuLevel,
    scratch: &mut ReconScratch,
) {
    let max = (1i32 << bit_depth) - 1;
    let len = 1usize << (log2w + log2h);
    let coeffs = &mut scratch.coeffs[..len];
    let resid = &mut scratch.resid[..len];
    dequantize(levels, coeffs, qp, log2w, log2h, nz.0, nz.1, bit_depth);
    transform::inverse(
        kinds.0,
        kinds.1,
        log2w,
        log2h,
        coeffs,
        nz.0,
        nz.1,
        resid,
        bit_depth as u32,
        cpu,
    );
    for i in 0..len {
        out[i] = (i32::from(pred[i]) + i32::from(resid[i])).clamp(0, max) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_vvcs_implicit_rule() {
        use TxKind::{Dct2, Dst7};
        // Without implicit selection (and for inter, chroma, learned intra): DST only at 4x4 luma.
        for implicit in [false, true] {
            assert_eq!(tx_kind(1, 2, 2, implicit), (Dct2, Dct2));
            assert_eq!(tx_kind(2, 4, 3, implicit), (Dct2, Dct2));
        }
        assert_eq!(tx_kind(0, 2, 2, false), (Dst7, Dst7));
        assert_eq!(tx_kind(0, 3, 3, false), (Dct2, Dct2));
        assert_eq!(tx_kind(0, 2, 3, false), (Dct2, Dct2));
        // With it, each direction on its own: DST-VII for 4..=16 samples.
        assert_eq!(tx_kind(0, 2, 2, true), (Dst7, Dst7));
        assert_eq!(tx_kind(0, 4, 4, true), (Dst7, Dst7));
        assert_eq!(tx_kind(0, 5, 5, true), (Dct2, Dct2));
        assert_eq!(tx_kind(0, 5, 3, true), (Dct2, Dst7));
        assert_eq!(tx_kind(0, 2, 5, true), (Dst7, Dct2));
    }
}
