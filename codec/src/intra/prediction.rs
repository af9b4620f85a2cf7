//! The intra prediction process (`docs/bitstream.md` 5): reference samples
//! gathered with availability and substitution, smoothed by mode and size,
//! and predicted by the kernels of `dsp/intra`, or by the learned predictor
//! (mode 35, 5.1, squares of side 4, 8 and 16 only). Blocks are W x H, each
//! side 4..32 and at most 8 times the other. Samples are `u16` at every bit
//! depth; nothing is available at the middle grey `2^(B-1)`.

use super::cclm::{self, LM_MODE};
use super::learned::{context_len, gather_context, IntraPredictor, MAX_LOG2, NN_MODE};
use crate::cpu::CpuLevel;
use crate::dsp::intra;
use crate::picture::{PicState, Plane};

/// The most reference samples a block has: 2(W + H) + 1 for 32x32.
pub const MAX_REFS: usize = 129;

/// Gathers the `2(w+h)+1` reference samples of the `w x h` block at (`x`,
/// `y`) of `plane` (layout of [`intra::predict`]), substituting unavailable
/// ones: a sample is available when [`PicState::available`] says it is
/// reconstructed.
#[allow(clippy::too_many_arguments)]
pub fn gather_refs(
    st: &PicState,
    plane: usize,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    refs: &mut [u16],
) {
    gather_refs_in(
        &st.recon.planes[plane],
        plane,
        x,
        y,
        log2w,
        log2h,
        st.recon.bit_depth,
        |lx, ly| st.available(lx, ly),
        refs,
    );
}

/// Intra-predicts the `w x h` block at (`x`, `y`) of `plane` into `dst`
/// (`w*h`, stride `w`); `learned` is the stream's learned predictor, which
/// mode 35 uses (square blocks only). Chroma mode [`LM_MODE`] predicts from
/// the coding unit's reconstructed luma (5.3).
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
    cpu: CpuLevel,
    dst: &mut [u16],
) {
    if mode == LM_MODE {
        debug_assert!(plane > 0);
        return cclm::predict(st, plane, x, y, log2w, log2h, dst);
    }
    let bit_depth = st.recon.bit_depth;
    let mut refs = [0u16; MAX_REFS];
    gather_refs(st, plane, x, y, log2w, log2h, &mut refs);
    if mode == NN_MODE {
        // Only square luma transform blocks use it.
        assert_eq!(
            log2w, log2h,
            "the learned intra mode is for square blocks only"
        );
        debug_assert!(plane == 0);
        let p = learned.expect("the learned mode is only parsed or chosen with a predictor");
        let mut context = [0u16; context_len(MAX_LOG2)];
        gather_context(
            &st.recon.planes[0],
            &|lx, ly| st.available(lx, ly),
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
/// `y`) of plane `plane` (samples `p`), substituting unavailable ones (see
/// [`gather_refs`]): the left column (x-1, y..y+h+w), the corner and the top
/// row (x..x+w+h, y-1). `available(lx, ly)` says whether the sample at luma
/// position (lx, ly) (chroma positions doubled) is available; it is asked
/// about positions outside the picture too.
#[allow(clippy::too_many_arguments)]
pub fn gather_refs_in(
    p: &Plane,
    plane: usize,
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    bit_depth: u8,
    available: impl Fn(isize, isize) -> bool,
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
        if available(lx, ly) {
            avail[i] = true;
            refs[i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    {
        let (sx, sy) = (x as isize - 1, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(lx, ly) {
            avail[s] = true;
            refs[s] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    for i in 0..s {
        let (sx, sy) = ((x + i) as isize, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(lx, ly) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A plane whose sample at (x, y) is `value(x, y)`.
    fn plane(width: usize, height: usize, value: impl Fn(usize, usize) -> u16) -> Plane {
        let mut p = Plane::new(width, height);
        for y in 0..height {
            for x in 0..width {
                p.data[y * width + x] = value(x, y);
            }
        }
        p
    }

    fn value(x: usize, y: usize) -> u16 {
        ((x * 7 + y * 64) % 1000 + 1) as u16
    }

    #[test]
    fn rectangular_refs_run_w_plus_h_along_each_edge_with_substitution() {
        // A 16x8 luma block at (16, 24): each edge runs 24 samples. The left column is
        // available down to row 39 (j < 16), the top row up to column 35 (i < 20).
        let p = plane(64, 64, value);
        let available = |lx: isize, ly: isize| {
            (0..64).contains(&lx)
                && (0..64).contains(&ly)
                && lx < 36
                && (ly < 24 || (lx < 16 && ly < 40))
        };
        let mut refs = [0u16; MAX_REFS];
        gather_refs_in(&p, 0, 16, 24, 4, 3, 10, available, &mut refs);
        let s = 24;
        let mut expected = vec![0u16; 2 * s + 1];
        for j in 0..s {
            // Unavailable j >= 16 come before the first available sample (j = 15).
            expected[s - 1 - j] = value(15, 24 + j.min(15));
        }
        expected[s] = value(15, 23);
        for i in 0..s {
            // Unavailable i >= 20 repeat the sample before them (i = 19).
            expected[s + 1 + i] = value(16 + i.min(19), 23);
        }
        assert_eq!(refs[..2 * s + 1], expected);
    }

    #[test]
    fn chroma_refs_ask_about_doubled_positions_and_none_available_is_grey() {
        // An 8x4 chroma block at (8, 12): the availability closure sees luma positions.
        let p = plane(32, 32, value);
        let seen = std::cell::RefCell::new(Vec::new());
        let available = |lx: isize, ly: isize| {
            seen.borrow_mut().push((lx, ly));
            true
        };
        let mut refs = [0u16; MAX_REFS];
        gather_refs_in(&p, 1, 8, 12, 3, 2, 8, available, &mut refs);
        let s = 12;
        assert_eq!(seen.borrow().len(), 2 * s + 1);
        assert!(seen.borrow().contains(&(14, 2 * 23)));
        assert!(seen.borrow().contains(&(2 * 19, 22)));
        assert_eq!(refs[0], value(7, 23));
        assert_eq!(refs[s], value(7, 11));
        assert_eq!(refs[2 * s], value(19, 11));
        gather_refs_in(&p, 1, 8, 12, 3, 2, 10, |_, _| false, &mut refs);
        assert!(refs[..2 * s + 1].iter().all(|&v| v == 512));
        assert!(
            refs[2 * s + 1..].iter().all(|&v| v == 0),
            "wrote past the line"
        );
    }
}
