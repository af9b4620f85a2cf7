//! The intra prediction process (`docs/bitstream.md` 5): reference samples
//! gathered with availability and substitution, smoothed by mode and size,
//! and predicted by the kernels of `dsp/intra`, or by the learned predictor
//! (mode 35, 5.1). Samples are
//! `u16` at every bit depth; nothing is available at the middle grey `2^(B-1)`.

use super::learned::{context_len, gather_context, IntraPredictor, MAX_LOG2, NN_MODE};
use crate::cpu::CpuLevel;
use crate::dsp::intra;
use crate::picture::{available, PicState, Plane};

/// Gathers the `4n+1` reference samples of the `n x n` block at (`x`, `y`)
/// of `plane` (layout of [`intra::predict`]), substituting unavailable ones.
/// `cu` is the top-left luma sample of the block that owns the prediction.
pub fn gather_refs(
    st: &PicState,
    plane: usize,
    x: usize,
    y: usize,
    log2n: u32,
    cu: (usize, usize),
    refs: &mut [u16],
) {
    gather_refs_in(
        &st.recon.planes[plane],
        (st.w, st.h),
        plane,
        x,
        y,
        log2n,
        cu,
        st.recon.bit_depth,
        refs,
    );
}

/// Intra-predicts the `n x n` block at (`x`, `y`) of `plane` into `dst`
/// (`n*n`); `learned` is the stream's learned predictor, which mode 35 uses.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    st: &PicState,
    learned: Option<&IntraPredictor>,
    plane: usize,
    x: usize,
    y: usize,
    log2n: u32,
    mode: u8,
    cu: (usize, usize),
    cpu: CpuLevel,
    dst: &mut [u16],
) {
    let bit_depth = st.recon.bit_depth;
    let mut refs = [0u16; 129];
    gather_refs(st, plane, x, y, log2n, cu, &mut refs);
    if mode == NN_MODE {
        // Only luma transform blocks, their own availability reference, use it.
        debug_assert!(plane == 0 && cu == (x, y));
        let p = learned.expect("the learned mode is only parsed or chosen with a predictor");
        let mut context = [0u16; context_len(MAX_LOG2)];
        gather_context(
            &st.recon.planes[0],
            (st.w, st.h),
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
/// of plane `plane` (samples `p`) of a picture of coded luma size `coded`,
/// substituting unavailable ones (see [`gather_refs`]).
#[allow(clippy::too_many_arguments)]
pub fn gather_refs_in(
    p: &Plane,
    coded: (usize, usize),
    plane: usize,
    x: usize,
    y: usize,
    log2n: u32,
    cu: (usize, usize),
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
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[i] = true;
            refs[i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    {
        let (sx, sy) = (x as isize - 1, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[2 * n] = true;
            refs[2 * n] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    for i in 0..2 * n {
        let (sx, sy) = ((x + i) as isize, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(coded, lx, ly, cu.0, cu.1) {
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
