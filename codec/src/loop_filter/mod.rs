//! The learned in-loop restoration filter, after deblocking
//! (`docs/bitstream.md` 7.1; its syntax in 2.2 and 4).
//!
//! A residual integer network (see `models/loopfilter/README.md`) restores each
//! plane from its deblocked samples and side information: the plane's QP,
//! whether it is a chroma plane and (for models with a third side channel)
//! whether the frame is a keyframe. The encoder switches it per frame and per
//! 64x64 superblock on rate-distortion; filtered frames are the references.

mod decision;
mod model;
mod process;
mod syntax;
#[cfg(test)]
mod tests;

use crate::bitstream::{FrameHeader, FrameType};
use crate::cpu::CpuLevel;
use crate::entropy::{bin_cost, BinSink, Context, Contexts, RangeDecoder, COST_ONE_BIT};
use crate::nn::{hex, identity, Chain, Engine, LayerOp, Model, ModelError, Rect};
use crate::picture::{Frame, Plane};
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) use decision::filter_and_decide;
pub use model::{side_info, LoopFilter};
pub(crate) use process::{apply, filter_frame};
pub(crate) use syntax::{read_flags, sb_grid, write_flags, FilterFlags};

/// The embedded model's bytes (for tests elsewhere in the crate).
#[cfg(test)]
pub(crate) fn default_model_bytes() -> &'static [u8] {
    model::DEFAULT_MODEL
}

/// Role of the loop filter in the sequence header's model list.
pub const ROLE: u8 = 1;

/// Superblock side (luma samples) of the per-block switch.
pub const SB: usize = 64;
