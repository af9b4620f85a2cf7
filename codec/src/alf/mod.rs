//! The adaptive loop filter (`docs/bitstream.md` 7.2; its syntax in 4.9):
//! a Wiener-type diamond filter per colour component whose integer
//! coefficients the encoder derives for each frame (least squares against
//! the source) and signals, switched per frame and per 64x64 superblock.
//! It runs last, on the picture after deblocking and the learned loop
//! filter, and its output is the reference picture.
//!
//! `syntax.rs` reads and writes the coefficients and flags, `process.rs`
//! filters a frame, `decision.rs` is the encoder's derivation; the kernels
//! are in `dsp::alf`.

mod decision;
mod process;
mod syntax;
#[cfg(test)]
mod tests;

use crate::cpu::CpuLevel;
use crate::dsp::alf::{CHROMA_TAPS, CLASSES, LUMA_TAPS};
use crate::entropy::{BinSink, Context, RangeDecoder};
use crate::error::BitstreamError;
use crate::picture::{Frame, SB_LOG2};

pub(crate) use decision::derive;
pub(crate) use process::apply;
pub(crate) use syntax::{read, write};

/// Superblock side (luma samples) of the per-block switch.
const SB: usize = 1 << SB_LOG2;

/// The filter taps of plane `p` (one of each symmetric pair).
fn taps(p: usize) -> &'static [(i8, i8)] {
    if p == 0 {
        &LUMA_TAPS
    } else {
        &CHROMA_TAPS
    }
}

/// The adaptive loop filter of one frame: per plane (Y, Cb, Cr) its
/// coefficients (`None`: off for the whole frame; luma may hold several
/// filters, one after the other) and one flag per superblock (raster order;
/// empty when off), and which luma filter each class uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AlfFrame {
    pub coeffs: [Option<Vec<i16>>; 3],
    pub sb: [Vec<bool>; 3],
    pub luma_map: [u8; CLASSES],
}

impl AlfFrame {
    /// Whether any superblock of any plane is filtered.
    pub fn any(&self) -> bool {
        self.sb.iter().any(|s| s.contains(&true))
    }
}

/// The 100 coefficient sets of the luma classes and transposes (set
/// `class * 4 + transpose`, as `dsp::alf::classify` numbers blocks) for
/// `filters` (12 coefficients each) and the class-to-filter map.
fn luma_sets(filters: &[i16], map: &[u8; CLASSES]) -> Vec<i16> {
    use crate::dsp::alf::TRANSPOSE;
    let mut sets = Vec::with_capacity(CLASSES * 4 * 12);
    for &f in map {
        for t in &TRANSPOSE {
            sets.extend(t.iter().map(|&k| filters[f as usize * 12 + k]));
        }
    }
    sets
}

/// Superblock columns and rows of a `w` x `h` (luma) frame.
pub(crate) fn sb_grid(w: usize, h: usize) -> (usize, usize) {
    (w.div_ceil(SB), h.div_ceil(SB))
}

/// Rectangle `(x0, y0, x1, y1)` of superblock `i` in plane `p` of a
/// `w` x `h` plane (chroma superblocks are 32x32).
fn sb_rect(p: usize, w: usize, h: usize, cols: usize, i: usize) -> (usize, usize, usize, usize) {
    let s = if p == 0 { SB } else { SB / 2 };
    let (x0, y0) = ((i % cols) * s, (i / cols) * s);
    (x0, y0, (x0 + s).min(w), (y0 + s).min(h))
}
