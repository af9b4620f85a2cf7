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
