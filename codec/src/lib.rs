//! Mica: a hybrid learned-plus-traditional video codec.
//!
//! [`Encoder`], set up by an [`EncoderConfig`], turns [`Frame`]s into
//! [`Packet`]s; [`Decoder`] turns packets back into [`DecodedFrame`]s in
//! display order, sample for sample equal to the encoder's reconstruction.
//! Small integer networks restore frames in the loop, where the encoder
//! finds it pays, per frame and superblock ([`LoopFilter`]), and may predict
//! intra blocks ([`IntraPredictor`]); both are built in, and
//! a stream names the models it needs by SHA-256. Kernels are chosen by a
//! [`CpuLevel`]; the output is the same at every level and thread count.
//!
//! ```
//! use mica::{Decoder, Encoder, EncoderConfig, Frame};
//!
//! let mut config = EncoderConfig::new(64, 48);
//! config.nn_filter = false; // keeps this example fast
//! let mut encoder = Encoder::new(config)?;
//! let mut decoder = Decoder::new(Default::default());
//! encoder.send_frame(Frame::new_420(64, 48))?;
//! encoder.flush();
//! while let Some(packet) = encoder.receive_packet() {
//!     decoder.send_packet(&packet.data)?;
//! }
//! decoder.flush()?;
//! let decoded = decoder.receive_frame().expect("one frame");
//! assert_eq!(decoded.frame, Frame::new_420(64, 48));
//! # Ok::<(), mica::Error>(())
//! ```
//!
//! The file formats the command-line tools read and write (y4m, IVF) are in
//! the `mica-io` crate. How the crate is organised: `docs/design.md`.
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
// Loops over the two reference lists, the planes or a block's coefficients
// index several parallel arrays at once; indices read clearer there than
// zipped iterators (rav1e allows this lint for the same reason).
#![allow(clippy::needless_range_loop)]

mod alf;
mod bitstream;
mod cpu;
mod deblock;
mod decoder;
mod dsp;
mod encoder;
mod entropy;
mod error;
mod inter;
mod intra;
mod loop_filter;
mod nn;
mod partition;
mod picture;
mod residual;
mod sb_qp;
mod transform;

pub use bitstream::{
    min_qp, packet_info, set_frame_number, ColourDescription, ContentLight, MasteringDisplay,
    ModelRef, PacketInfo, SequenceHeader, Tools, VideoInfo,
};
pub use cpu::{CpuLevel, MAX_THREADS};
pub use decoder::{DecodedFrame, Decoder, DecoderConfig};
pub use encoder::{
    BufferModel, Encoder, EncoderConfig, FirstPassFrame, FirstPassStats, GopStructure,
    IntraModeCounts, Packet, Preset, RateControl, SceneCutDetector, MAX_KBPS, MIN_KBPS,
};
pub use error::{BitstreamError, ConfigError, Error};
pub use intra::IntraPredictor;
pub use loop_filter::LoopFilter;
pub use nn::ModelError;
pub use picture::{Frame, Plane};

/// The codec's insides for Mica's own tools, benchmarks and trainer (feature
/// `internals`): kernels, the integer network format and engines, the
/// derivations the trainers must share with the codec, and the encoder's
/// training hooks. No stability promise: library users need none of it.
#[cfg(feature = "internals")]
pub mod internals {
    /// The kernels, scalar beside SIMD, dispatched by [`crate::CpuLevel`].
    pub mod dsp {
        pub use crate::dsp::{alf, deblock, dist, intra, mc, transform};
    }
    /// The integer network format (`docs/model-format.md`) and its engines.
    pub mod nn {
        pub use crate::nn::*;
    }
    /// The learned intra predictor's input, as the codec derives it, and
    /// its networks run alone.
    pub mod learned_intra {
        pub use crate::intra::learned::{
            block_context, context_len, network_input, traditional_prediction, LINES, MAX_LOG2,
            MIN_LOG2,
        };

        /// Runs the network for blocks of side `1 << log2n` on `input` (as
        /// [`network_input`] makes it) into `out` (`N*N`, before the DC value
        /// is added back and the result clamped).
        pub fn run_network(p: &crate::IntraPredictor, log2n: u32, input: &[i16], out: &mut [i16]) {
            p.run_network(log2n, input, out)
        }
    }
    /// The learned loop filter's side information and the encoder's
    /// deblocking choice it is trained for.
    pub mod loop_filter {
        pub use crate::encoder::KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER;
        pub use crate::loop_filter::side_info;
    }
    pub use crate::encoder::training::{
        ContextStats, FrameExtras, TrainingEncoder, TrainingHooks, TrainingPacket,
    };
}
