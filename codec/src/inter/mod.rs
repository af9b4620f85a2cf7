//! Inter prediction: the inter CU syntax (`docs/bitstream.md` 4.6), motion
//! vector prediction (4.7: merge candidates, AMVP, temporal motion) and
//! motion-compensated prediction from reference pictures (5.2) over the
//! kernels of `dsp/mc`.

pub mod amvr;
mod bdof;
pub mod dmvr;
pub mod mmvd;
mod mvp;
mod prediction;
pub mod smvd;
mod syntax;

pub use mvp::{col_field, remember, ColField, MotionEnv, RefLists, MERGE_CANDIDATES};
pub use prediction::{predict_block, predict_luma, predict_plane, RefPicture, MAX_BLOCK};
pub use syntax::*;

use crate::picture::Motion;

/// The decoder-side refinements a bi-predicted CU gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refinement {
    /// Its vectors are refined per sub-block (`docs/bitstream.md` 5.4).
    pub dmvr: bool,
    /// Its luma prediction is corrected by optical flow (5.5).
    pub bdof: bool,
}

impl Refinement {
    /// No refinement.
    pub const NONE: Refinement = Refinement {
        dmvr: false,
        bdof: false,
    };

    /// Whether any refinement applies.
    pub fn any(self) -> bool {
        self.dmvr || self.bdof
    }
}

/// Whether a CU of `w` x `h` with motion `m` may be refined (5.4, 5.5): both
/// lists used, their pictures on opposite sides of the current one at equal
/// distances, both sides at least 8 and at least 128 samples.
pub fn refinable(lists: &RefLists, m: &Motion, w: usize, h: usize) -> bool {
    if !(m.uses(0) && m.uses(1) && w >= 8 && h >= 8 && w * h >= 128) {
        return false;
    }
    let before = lists.cur_poc - lists.poc_of(m, 0);
    let after = lists.poc_of(m, 1) - lists.cur_poc;
    before > 0 && before == after
}
