//! The intra prediction process (`docs/bitstream.md` 5): reference samples
//! gathered with availability and substitution, smoothed by mode and size,
//! and predicted by the kernels of `dsp/intra`, or by the learned predictor
//! (mode 35, 5.1). Samples are
//! `u16` at every bit depth; nothing is available at the middle grey `2^(B-1)`.

use super::learned::{context_len, gather_context, IntraPredictor, MAX_LOG2, NN_MODE};
use crate::cpu::CpuLevel;
use crate::dsp::intra;
use crate::picture::{PicState, Plane};

/// Gathers the `4n+1` reference samples of the `n x n` block at (`x`, `y`)
/// of `plane` (layout of [`intra::predict`]), substituting unavailable ones.
pub fn gather_refs(st: &PicState, plane: usize, x: usize, y: usize, log2n: u32, refs: &mut [u16]) {
    gather_refs_in(
        &st.recon.planes[plane],
        &|lx, ly| st.available(lx, ly),
        plane,
        x,
        y,
        log2n,
        st.recon.bit_depth,
        refs,
    );
}

/// Intra-predicts the `w x h` block at (`x`, `y`) of `plane` into `dst`
/// (`w*h`); `learned` is the stream's learned predictor, which mode 35 uses.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    st: &PicState,
    learned: Option<&IntraPredictor>,
    plane: usize,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    mode: u8,
    cpu: CpuLevel,
    dst: &mut [u16],
) {
    assert_eq!(w, h, "square blocks only (for now)");
    let log2n = w.trailing_zeros();
    let bit_depth = st.recon.bit_depth;
    let mut refs = [0u16; 129];
    gather_refs(st, plane, x, y, log2n, &mut refs);
    if mode == NN_MODE {
        // Only square luma transform blocks use it.
        debug_assert!(plane == 0);
        let p = learned.expect("the learned mode is only parsed or chosen with a predictor");
        let mut context = [0u16; context_len(MAX_LOG2)];
        gather_context(
            &st.recon.planes[0],
            &|lx, ly| st.available(lx, ly),
            x,
            y,
            log2n,
            &refs,
            &mut context,
        );
        p.predict(&context, log2n, bit_depth, dst);
    } else {
        predict_from_refs(plane, log2n, mode, &refs, bit_depth, cpu, dst);
    }
}

/// Gathers the `4n+1` reference samples of the `n x n` block at (`x`, `y`)
/// of plane `plane` (samples `p`), substituting unavailable ones (see
/// [`gather_refs`]); `available` says whether a luma position is
/// reconstructed.
#[allow(clippy::too_many_arguments)]
pub fn gather_refs_in(
    p: &Plane,
    available: &dyn Fn(isize, isize) -> bool,
    plane: usize,
    x: usize,
    y: usize,
    log2n: u32,
    bit_depth: u8,
    refs: &mut [u16],
) {
    let n = 1usize << log2n;
    let ss = (plane > 0) as u32;
    let mut avail = [false; 129];
    let total = 4 * n + 1;
    let luma = |sx: isize, sy: isize| (sx << ss, sy << ss);
    for j in 0..2 * n {
        let (sx, sy) = (x as isize - 1, (y + j) as isize);
        let (lx, ly) = luma(sx, sy);
        let i = 2 * n - 1 - j;
        if available(lx, ly) {
            avail[i] = true;
            refs[i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    {
        let (sx, sy) = (x as isize - 1, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(lx, ly) {
            avail[2 * n] = true;
            refs[2 * n] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    for i in 0..2 * n {
        let (sx, sy) = ((x + i) as isize, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(lx, ly) {
            avail[2 * n + 1 + i] = true;
            refs[2 * n + 1 + i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    match avail[..total].iter().position(|&a| a) {
        None => refs[..total].fill(1 << (bit_depth - 1)),
        Some(first) => {
            let v = refs[first];
            refs[..first].fill(v);
            for i in first + 1..total {
                if !avail[i] {
                    refs[i] = refs[i - 1];
                }
            }
        }
    }
}

/// Predicts from gathered references, applying the reference smoothing and
/// boundary filters that the mode and size call for.
pub fn predict_from_refs(
    plane: usize,
    log2n: u32,
    mode: u8,
    refs: &[u16],
    bit_depth: u8,
    cpu: CpuLevel,
    dst: &mut [u16],
) {
    let bd = u32::from(bit_depth);
    let n = 1usize << log2n;
    let luma = plane == 0;
    let edge = luma && log2n < 5;
    if intra::needs_ref_filter(mode, log2n, luma) {
        let mut filtered = [0u16; 129];
        intra::filter_refs(&refs[..4 * n + 1], log2n, &mut filtered[..4 * n + 1], bd);
        intra::predict(mode, &filtered[..4 * n + 1], log2n, edge, dst, n, bd, cpu);
    } else {
        intra::predict(mode, &refs[..4 * n + 1], log2n, edge, dst, n, bd, cpu);
    }
}
