//! Signal-processing kernels.
pub mod deblock;
pub mod dist;
pub mod intra;
/// Motion-compensation interpolation (luma 8-tap, chroma 4-tap) and prediction averaging.
pub mod mc;
pub mod transform;
#[cfg(target_arch = "x86_64")]
mod x86;
