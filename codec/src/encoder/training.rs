//! What the project's training tools ask of the encoder beside the stream:
//! each frame's reconstruction before the learned loop filter (training
//! material for the filter) and its contexts at the end of the frame
//! (material for the context initialisation tables). Not part of the
//! library's public API: reached through `mica::internals` (feature
//! `internals`).
// Without that feature the encoder fills these but nothing reads them.
#![cfg_attr(not(feature = "internals"), allow(dead_code))]

use super::packet::Packet;
use super::{Encoder, EncoderConfig};
use crate::entropy::{self, Contexts};
use crate::error::Error;
use crate::picture::Frame;

/// What to keep of each frame besides its packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrainingHooks {
    /// Keep the reconstruction before the learned loop filter (after
    /// deblocking), cropped to the visible size: the filter's input.
    pub keep_deblocked: bool,
    /// Keep the adaptive contexts at the end of the frame.
    pub keep_context_stats: bool,
}

/// What the hooks kept of one frame.
#[derive(Clone, Debug, Default)]
pub struct FrameExtras {
    /// With [`TrainingHooks::keep_deblocked`]: the filter's input.
    pub deblocked: Option<Frame>,
    /// With [`TrainingHooks::keep_context_stats`]: the contexts at the end.
    pub contexts: Option<ContextStats>,
}

/// A packet and what the hooks kept of its frame.
#[derive(Clone, Debug)]
pub struct TrainingPacket {
    /// The packet, as [`Encoder::receive_packet`] returns it.
    pub packet: Packet,
    /// What the hooks kept.
    pub extras: FrameExtras,
}

/// An encoder that also returns what [`TrainingHooks`] ask for.
pub struct TrainingEncoder {
    encoder: Encoder,
}

impl TrainingEncoder {
    /// A new encoder with the given hooks; fails if a setting is out of range.
    pub fn new(cfg: EncoderConfig, hooks: TrainingHooks) -> Result<TrainingEncoder, Error> {
        let mut encoder = Encoder::new(cfg)?;
        encoder.hooks = hooks;
        Ok(TrainingEncoder { encoder })
    }

    /// As [`Encoder::send_frame`].
    pub fn send_frame(&mut self, frame: Frame) -> Result<(), Error> {
        self.encoder.send_frame(frame)
    }

    /// As [`Encoder::flush`].
    pub fn flush(&mut self) {
        self.encoder.flush()
    }

    /// The next finished packet with its extras, in coding order.
    pub fn receive(&mut self) -> Option<TrainingPacket> {
        self.encoder
            .out
            .pop_front()
            .map(|(packet, extras)| TrainingPacket { packet, extras })
    }
}

/// The adaptive contexts of one frame at its end, against their initial
/// state: what the context initialisation tables are derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextStats {
    /// The frame is a keyframe (the tables are per frame type).
    pub key: bool,
    /// The frame's QP class (the tables are per class; see
    /// [`ContextStats::qp_class_of`]).
    pub qp_class: usize,
    /// P(bin = 0) of every context at the end of the frame, in 15-bit fixed
    /// point, in the order of [`ContextStats::ELEMENTS`].
    pub p0: Vec<u16>,
    /// Whether each context left its initial state, i.e. coded a bin in the
    /// frame (a context's first bin always moves it).
    pub coded: Vec<bool>,
}

impl ContextStats {
    /// The syntax elements with adaptive contexts and how many each has, in
    /// table order.
    pub const ELEMENTS: &'static [(&'static str, usize)] = &entropy::CONTEXT_ELEMENTS;
    /// Number of QP classes.
    pub const QP_CLASSES: usize = entropy::CONTEXT_QP_CLASSES;

    /// The QP class of a frame coded at `qp`.
    pub fn qp_class_of(qp: u8) -> usize {
        entropy::context_qp_class(qp)
    }

    /// The lowest and highest QP of a class.
    pub fn qp_class_range(class: usize) -> (u8, u8) {
        entropy::context_qp_class_range(class)
    }

    pub(super) fn new(key: bool, qp: i8, start: &Contexts, end: &Contexts) -> ContextStats {
        ContextStats {
            key,
            qp_class: Self::qp_class_of(qp.max(0) as u8),
            p0: end.iter().map(|c| c.p0() as u16).collect(),
            coded: end.iter().zip(start.iter()).map(|(a, b)| a != b).collect(),
        }
    }
}
