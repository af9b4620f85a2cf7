//! Intra prediction: the mode syntax (`docs/bitstream.md` 4.2-4.3, with the
//! 4x4 split of 8x8 CUs of 4.1), the prediction process (5) over the
//! kernels of `dsp/intra`, the learned predictor, mode 35 (5.1), and the
//! cross-component chroma mode LM, 36 (5.3).

mod cclm;
pub mod learned;
mod prediction;
mod syntax;

pub use crate::dsp::intra::DC;
pub use cclm::LM_INDEX;
pub use learned::{IntraPredictor, NN_MODE};
pub use prediction::{gather_refs, predict, predict_from_refs, MAX_REFS};
pub use syntax::*;
