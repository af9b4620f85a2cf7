//! Shared picture state, below every coding tool: frames and planes, the
//! picture being reconstructed with the maps its neighbours read, block
//! geometry (superblocks, z-order availability) and motion values. It
//! imports no tool.

mod frame;
mod motion;
mod state;

pub use frame::{Frame, Plane};
pub use motion::{Motion, Mv};
pub(crate) use state::{
    available, crop, sub_block, PicState, EDGE_CU_H, EDGE_CU_V, EDGE_TU_H, EDGE_TU_V, SB_LOG2,
};
