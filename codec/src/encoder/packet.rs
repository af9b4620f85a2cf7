//! What the encoder gives back per frame.

use crate::entropy::{self, Contexts};
use crate::picture::Frame;

/// One coded frame.
#[derive(Clone, Debug)]
pub struct Packet {
    /// The bytes to store (one IVF frame).
    pub data: Vec<u8>,
    /// Display-order frame number.
    pub frame_number: u32,
    /// Whether the packet is a keyframe (coded without references).
    pub keyframe: bool,
    /// Whether the packet carries the sequence header, so that decoding can
    /// start at it (a random access point; always a keyframe). All-intra
    /// streams carry it only every `keyint` frames and at scene cuts.
    pub random_access: bool,
    /// The encoder's reconstruction, cropped to the visible size: what a decoder outputs.
    pub recon: Frame,
    /// The frame's base QP (training tools use it as side information).
    pub qp: u8,
    /// How the frame's intra luma blocks were predicted.
    pub intra_modes: IntraModeCounts,
    /// With [`EncoderConfig::keep_deblocked`]: the reconstruction before the
    /// learned loop filter (after deblocking), cropped like `recon`: the
    /// filter's input in a stream that uses it.
    pub deblocked: Option<Frame>,
    /// With [`EncoderConfig::keep_context_stats`]: the adaptive contexts at
    /// the end of the frame.
    pub contexts: Option<ContextStats>,
}

/// How a frame's intra luma transform blocks were predicted, by size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntraModeCounts {
    /// Intra luma transform blocks, index `log2(size) - 2` (4x4 to 32x32).
    pub blocks: [u32; 4],
    /// Of those, the blocks predicted by the learned mode.
    pub learned: [u32; 4],
}

impl std::ops::AddAssign for IntraModeCounts {
    fn add_assign(&mut self, o: IntraModeCounts) {
        for i in 0..4 {
            self.blocks[i] += o.blocks[i];
            self.learned[i] += o.learned[i];
        }
    }
}

/// The adaptive contexts of one frame at its end, against their initial
/// state: what the context initialisation tables are derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

    pub(super) fn new(key: bool, qp: u8, start: &Contexts, end: &Contexts) -> ContextStats {
        ContextStats {
            key,
            qp_class: Self::qp_class_of(qp),
            p0: end.iter().map(|c| c.p0() as u16).collect(),
            coded: end.iter().zip(start.iter()).map(|(a, b)| a != b).collect(),
        }
    }
}
