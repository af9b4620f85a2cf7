//! Signal-processing kernels.
pub mod dist;
pub mod intra;
pub mod transform;
