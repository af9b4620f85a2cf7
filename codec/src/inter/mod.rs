//! Inter prediction: the inter CU syntax (`docs/bitstream.md` 4.6), motion
//! vector prediction (4.7: merge candidates, AMVP, temporal motion) and
//! motion-compensated prediction from reference pictures (5.2) over the
//! kernels of `dsp/mc`.

pub mod dmvr;
mod mvp;
mod prediction;
mod syntax;

pub use mvp::{col_field, ColField, MotionEnv, RefLists, MERGE_CANDIDATES};
pub use prediction::{predict_block, predict_luma, predict_plane, RefPicture, MAX_BLOCK};
pub use syntax::*;
