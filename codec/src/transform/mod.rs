//! Transform blocks (`docs/bitstream.md` 4.4): their coded-block flags,
//! quantisation with QP 0..=51 and the chroma QP mapping, and
//! reconstruction (6). The transforms themselves are the kernels of
//! `dsp/transform`; coefficient coding is `residual/`.

pub mod quant;
mod reconstruct;
mod syntax;

pub use quant::{chroma_qp, quant_qp};
pub use reconstruct::{reconstruct, tx_kind, ReconScratch};
pub use syntax::{read_cbf, write_cbf};

/// Largest transform block side: larger coding units are tiled.
pub const MAX_TRANSFORM_SIDE: usize = 32;

/// The luma transform blocks of a `w` x `h` coding unit (section 4.4):
/// tiles of `min(w, 32)` x `min(h, 32)`.
pub fn transform_tiles(w: usize, h: usize) -> (usize, usize) {
    (w.min(MAX_TRANSFORM_SIDE), h.min(MAX_TRANSFORM_SIDE))
}

/// Offsets of the `tw` x `th` tiles of a `w` x `h` block in coding order
/// (raster order; for squares this is also z-order).
pub fn tile_offsets(
    w: usize,
    h: usize,
    tw: usize,
    th: usize,
) -> impl Iterator<Item = (usize, usize)> {
    (0..h / th).flat_map(move |r| (0..w / tw).map(move |c| (c * tw, r * th)))
}
