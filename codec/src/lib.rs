//! Mica: a hybrid learned-plus-traditional video codec.
//!
//! The public surface is small: [`Encoder`] with [`EncoderConfig`] turns
//! [`Frame`]s into [`Packet`]s; [`Decoder`] turns packets back into frames,
//! sample-for-sample equal to the encoder's reconstruction. [`y4m`] and
//! [`ivf`] read and write the file formats the command-line tools use.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod bitstream;
pub mod cpu;
mod deblock;
mod decoder;
#[doc(hidden)]
pub mod dsp;
mod encoder;
#[doc(hidden)]
pub mod entropy;
mod error;
mod inter;
pub mod intra;
pub mod loop_filter;
pub mod nn;
mod partition;
mod picture;
mod residual;
mod transform;

pub use bitstream::{SequenceHeader, VideoInfo};
pub use decoder::{DecodedFrame, Decoder, DecoderConfig};
pub use encoder::{
    ContextStats, Encoder, EncoderConfig, GopStructure, IntraModeCounts, Packet, Preset,
    KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER,
};
pub use error::{BitstreamError, ConfigError, Error};
pub use picture::{Frame, Plane};
