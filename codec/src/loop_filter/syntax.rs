//! The loop filter's syntax (`docs/bitstream.md` 2.2 and 4): per kind of
//! plane, the set each frame uses and the superblock flags after the
//! frame's blocks, coded with contexts from the left and above flags.

use super::*;

/// Where the filter applies in one frame: per plane kind (0 luma, 1 both
/// chroma planes) a frame switch, the set of networks (eight-output models)
/// and one flag per superblock (raster order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FilterFlags {
    pub on: [bool; 2],
    /// Correction scale index per kind (the frame header's `nn_filter_scale`).
    pub scale: [u8; 2],
    /// Set of networks per kind (`nn_filter_set`; 0 unless the model has two).
    pub set: [u8; 2],
    pub sb: [Vec<bool>; 2],
}

/// Superblock columns and rows of a `w` x `h` (luma) frame.
pub(crate) fn sb_grid(w: usize, h: usize) -> (usize, usize) {
    (w.div_ceil(SB), h.div_ceil(SB))
}

/// Context of a superblock's flag: how many of its left and above neighbours are on.
pub(super) fn flag_ctx(flags: &[bool], cols: usize, i: usize) -> usize {
    let left = !i.is_multiple_of(cols) && flags[i - 1];
    let above = i >= cols && flags[i - cols];
    left as usize + above as usize
}

pub(super) fn contexts(ctx: &mut Contexts, kind: usize) -> &mut [Context; 3] {
    &mut ctx.nn_filter[kind]
}

/// Writes the set (when the model has two) and the superblock flags of the
/// plane kinds that are on.
pub(crate) fn write_flags<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    f: &FilterFlags,
    sets: usize,
    cols: usize,
) {
    for kind in 0..2 {
        if f.on[kind] {
            if sets == 2 {
                s.bypass(f.set[kind] == 1);
            }
            for i in 0..f.sb[kind].len() {
                let c = flag_ctx(&f.sb[kind], cols, i);
                s.encode(&mut contexts(ctx, kind)[c], f.sb[kind][i]);
            }
        }
    }
}

/// Reads the sets (`sets` 2: the model has two) and superblock flags after
/// a frame's blocks.
pub(crate) fn read_flags(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    on: [bool; 2],
    scale: [u8; 2],
    sets: usize,
    cols: usize,
    rows: usize,
) -> FilterFlags {
    let mut f = FilterFlags {
        on,
        scale,
        set: [0; 2],
        sb: [Vec::new(), Vec::new()],
    };
    for kind in 0..2 {
        if on[kind] {
            if sets == 2 {
                f.set[kind] = d.bypass() as u8;
            }
            let mut flags = vec![false; cols * rows];
            for i in 0..flags.len() {
                let c = flag_ctx(&flags, cols, i);
                flags[i] = d.decode(&mut contexts(ctx, kind)[c]);
            }
            f.sb[kind] = flags;
        }
    }
    f
}
