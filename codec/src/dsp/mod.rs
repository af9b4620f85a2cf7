//! Signal-processing kernels.
pub mod alf;
/// Kernel of bi-directional optical flow.
pub mod bdof;
pub mod deblock;
pub mod dist;
/// Kernels of decoder-side motion vector refinement.
pub mod dmvr;
pub mod intra;
/// Motion-compensation interpolation (luma 8-tap, chroma 4-tap) and prediction averaging.
pub mod mc;
/// Kernels of the encoder's motion-compensated temporal filter.
pub mod temporal_filter;
pub mod transform;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Sample bit depths the kernels support.
pub const BIT_DEPTHS: [u32; 2] = [8, 10];

/// Panics unless `bit_depth` is one the kernels support (8 or 10).
#[inline]
pub fn check_bit_depth(bit_depth: u32) {
    assert!(
        BIT_DEPTHS.contains(&bit_depth),
        "sample bit depth {bit_depth} unsupported (8 or 10)"
    );
}
