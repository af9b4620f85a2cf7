//! The intra prediction process (`docs/bitstream.md` 5): reference samples
//! gathered with availability and substitution, smoothed by mode and size,
//! and predicted by the kernels of `dsp/intra`, or by the learned predictor
//! (mode 35, 5.1, squares of side 4, 8 and 16 only). Blocks are W x H, each
//! side 4..32 and at most 8 times the other. Samples are `u16` at every bit
//! depth; nothing is available at the middle grey `2^(B-1)`.

use super::learned::{context_len, gather_context, IntraPredictor, MAX_LOG2, NN_MODE};
use crate::cpu::CpuLevel;
use crate::dsp::intra;
use crate::picture::{available, PicState, Plane};

/// The most reference samples a block has: 2(W + H) + 1 for 32x32.
pub const MAX_REFS: usize = 129;

/// Gathers the `2(w+h)+1` reference samples of the `w x h` block at (`x`,
/// `y`) of `plane` (layout of [`intra::predict`]), substituting unavailable
/// ones. `cu` is the top-left luma sample of the block that owns the
/// prediction.
#[allow(clippy::too_many_arguments)]
pub fn gather_refs(
    st: &PicState,
    plane: usize,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    cu: (usize, usize),
    refs: &mut [u16],
) {
    gather_refs_in(
        &st.recon.planes[plane],
        (st.w, st.h),
        plane,
        x,
        y,
        log2w,
        log2h,
        cu,
        st.recon.bit_depth,
        refs,
    );
}

/// Intra-predicts the `w x h` block at (`x`, `y`) of `plane` into `dst`
/// (`w*h`, stride `w`); `learned` is the stream's learned predictor, which
/// mode 35 uses (square blocks only).
#[allow(clippy::too_many_arguments)]
pub fn predict(
    st: &PicState,
    learned: Option<&IntraPredictor>,
    plane: usize,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    mode: u8,
    cu: (usize, usize),
    cpu: CpuLevel,
    dst: &mut [u16],
) {
    let bit_depth = st.recon.bit_depth;
    let mut refs = [0u16; MAX_REFS];
    gather_refs(st, plane, x, y, log2w, log2h, cu, &mut refs);
    if mode == NN_MODE {
        // Only square luma transform blocks, their own availability reference, use it.
        assert_eq!(log2w, log2h, "the learned intra mode is for square blocks only");
        debug_assert!(plane == 0 && cu == (x, y));
        let p = learned.expect("the learned mode is only parsed or chosen with a predictor");
        let mut context = [0u16; context_len(MAX_LOG2)];
        gather_context(
            &st.recon.planes[0],
            (st.w, st.h),
            x,
            y,
            log2w,
            &refs,
            &mut context,
        );
        p.predict(&context, log2w, bit_depth, dst);
    } else {
        predict_from_refs(plane, log2w, log2h, mode, &refs, bit_depth, cpu, dst);
    }
}

/// Gathers the `2(w+h)+1` reference samples of the `w x h` block at (`x`,
/// `y`) of plane `plane` (samples `p`) of a picture of coded luma size
/// `coded`, substituting unavailable ones (see [`gather_refs`]): the left
/// column (x-1, y..y+h+w), the corner and the top row (x..x+w+h, y-1).
#[allow(clippy::too_many_arguments)]
pub fn gather_refs_in(
    p: &Plane,
    coded: (usize, usize),
    plane: usize,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    cu: (usize, usize),
    bit_depth: u8,
    refs: &mut [u16],
) {
    let (w, h) = (1usize << log2w, 1usize << log2h);
    // Each edge runs w + h samples from the corner.
    let s = w + h;
    let ss = (plane > 0) as u32;
    let mut avail = [false; MAX_REFS];
    let total = 2 * s + 1;
    let luma = |sx: isize, sy: isize| (sx << ss, sy << ss);
    for j in 0..s {
        let (sx, sy) = (x as isize - 1, (y + j) as isize);
        let (lx, ly) = luma(sx, sy);
        let i = s - 1 - j;
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[i] = true;
            refs[i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    {
        let (sx, sy) = (x as isize - 1, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[s] = true;
            refs[s] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    for i in 0..s {
        let (sx, sy) = ((x + i) as isize, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[s + 1 + i] = true;
            refs[s + 1 + i] = p.data[sy as usize * p.width + sx as usize];
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

/// Predicts the `w x h` block from gathered references (`refs` holds at
/// least `2(w+h)+1`) into `dst` (stride `w`), applying the reference
/// smoothing and boundary filters that the mode and shape call for.
#[allow(clippy::too_many_arguments)]
pub fn predict_from_refs(
    plane: usize,
    log2w: u32,
    log2h: u32,
    mode: u8,
    refs: &[u16],
    bit_depth: u8,
    cpu: CpuLevel,
    dst: &mut [u16],
) {
    let bd = u32::from(bit_depth);
    let w = 1usize << log2w;
    let len = 2 * (w + (1usize << log2h)) + 1;
    let luma = plane == 0;
    // `intra::predict` clears the boundary filters of 32x32 itself.
    let edge = luma;
    if intra::needs_ref_filter(mode, log2w, log2h, luma) {
        let mut filtered = [0u16; MAX_REFS];
        intra::filter_refs(&refs[..len], log2w, log2h, &mut filtered[..len], bd);
        intra::predict(mode, &filtered[..len], log2w, log2h, edge, dst, w, bd, cpu);
    } else {
        intra::predict(mode, &refs[..len], log2w, log2h, edge, dst, w, bd, cpu);
    }
}
