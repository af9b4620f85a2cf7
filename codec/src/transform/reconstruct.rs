//! Reconstruction of a transform block (`docs/bitstream.md` 6): levels
//! dequantised, inverse transformed by the kernels of `dsp/transform`, and
//! added to the prediction.

use super::quant::dequantize;
use crate::cpu::CpuLevel;
use crate::dsp::transform;

/// Transform kind of a block: DST-VII for 4x4 intra luma, DCT-II otherwise.
pub fn tx_kind(plane: usize, log2n: u32) -> transform::TxKind {
    if plane == 0 && log2n == 2 {
        transform::TxKind::Dst7
    } else {
        transform::TxKind::Dct2
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

/// Dequantises `levels` at quantiser QP `qp` (`qP'`), inverse transforms them
/// and adds the residual to `pred`, writing the reconstruction, clipped to
/// `bit_depth` bits, into `out` (all `n*n`).
#[allow(clippy::too_many_arguments)]
pub fn reconstruct(
    levels: &[i16],
    nz: (usize, usize),
    plane: usize,
    log2w: u32,
    log2h: u32,
    qp: u8,
    bit_depth: u8,
    pred: &[u16],
    out: &mut [u16],
    cpu: CpuLevel,
    scratch: &mut ReconScratch,
) {
    assert_eq!(log2w, log2h, "square transform blocks only (for now)");
    let log2n = log2w;
    let max = (1i32 << bit_depth) - 1;
    let n = 1usize << log2n;
    let coeffs = &mut scratch.coeffs[..n * n];
    let resid = &mut scratch.resid[..n * n];
    dequantize(levels, coeffs, qp, log2n, nz.0, nz.1, bit_depth);
    let kind = tx_kind(plane, log2n);
    transform::inverse(
        kind,
        log2n,
        coeffs,
        nz.0,
        nz.1,
        resid,
        bit_depth as u32,
        cpu,
    );
    for i in 0..n * n {
        out[i] = (i32::from(pred[i]) + i32::from(resid[i])).clamp(0, max) as u16;
    }
}
