//! What the encoder gives back per frame.

use crate::picture::Frame;

/// One coded frame.
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    /// The frame's base QP (its temporal layer's offset included).
    pub qp: i8,
    /// The QP its layer's offset applies to: the configuration's QP, or the
    /// rate control's choice for this frame.
    pub base_qp: i8,
    /// The frame's temporal layer: 0 for keyframes and for the frame that
    /// ends a random-access group, deeper for the frames between (low
    /// delay: 1).
    pub temporal_layer: u8,
    /// How the frame's intra luma blocks were predicted.
    pub intra_modes: IntraModeCounts,
    /// With a [`crate::BufferModel`]: the bits left in the decoder's buffer
    /// just after this frame left it (negative: it underflowed, which the
    /// encoder allows only for a frame too large for the buffer even at QP
    /// 51).
    pub buffer_level: Option<i64>,
}

impl Packet {
    /// The frame's kind for rate control: 0 for keyframes, else 1 + its
    /// temporal layer.
    pub fn kind(&self) -> u8 {
        if self.keyframe {
            0
        } else {
            1 + self.temporal_layer
        }
    }
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
