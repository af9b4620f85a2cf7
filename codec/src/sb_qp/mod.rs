//! Superblock QP deltas (`docs/bitstream.md` 4.8): with `tool_flags` bit 4,
//! each 64x64 superblock may code its QP as a difference from the frame's,
//! once, in its first coding unit that can carry a residual (an intra CU, or
//! an inter CU with `root_cbf`). Coding units before it have no residual, so
//! the QP matters to them only for deblocking, which uses the superblock's
//! final QP (the frame's where no delta was coded). (Predicting the QP from
//! the left and above superblocks instead, as HEVC does, saved under a tenth
//! of the deltas' bits on the block-importance maps, which vary from block to
//! block, so the frame's QP is the prediction.)
//!
//! This module holds the syntax and the state that both sides keep per
//! superblock; the encoder decides the deltas (`encoder::filtering`'s
//! importance maps), the decoder dequantises and deblocks with them.

use crate::bitstream::{min_qp, MAX_QP};
use crate::entropy::{BinSink, Context, RangeDecoder};

/// Bins of `sb_qp_delta_abs` coded with contexts before the Exp-Golomb
/// suffix (HEVC's `cu_qp_delta_abs` binarisation).
const PREFIX_BINS: u32 = 5;

/// The two contexts of `sb_qp_delta_abs`: its first bin, and the other bins
/// of its prefix. They start every frame at one half (they are not in the
/// trained initialisation tables).
#[derive(Clone, Copy, Default)]
pub(crate) struct SbQpContexts([Context; 2]);

/// Writes `sb_qp_delta`: its magnitude as a truncated unary prefix of up to
/// five context-coded bins, then Exp-Golomb (order 0) of the rest, then the
/// sign in bypass mode.
pub(crate) fn write_delta<S: BinSink>(s: &mut S, ctx: &mut SbQpContexts, delta: i32) {
    let abs = delta.unsigned_abs();
    for i in 0..PREFIX_BINS {
        let more = abs > i;
        s.encode(&mut ctx.0[(i > 0) as usize], more);
        if !more {
            break;
        }
    }
    if abs >= PREFIX_BINS {
        crate::entropy::write_exp_golomb(s, abs - PREFIX_BINS, 0);
    }
    if abs > 0 {
        s.bypass(delta < 0);
    }
}

/// Reads `sb_qp_delta`; `None` for an Exp-Golomb suffix too long to be valid.
pub(crate) fn read_delta(d: &mut RangeDecoder, ctx: &mut SbQpContexts) -> Option<i32> {
    let mut abs = 0u32;
    while abs < PREFIX_BINS && d.decode(&mut ctx.0[(abs > 0) as usize]) {
        abs += 1;
    }
    if abs == PREFIX_BINS {
        abs += crate::entropy::read_exp_golomb(d, 0)?;
    }
    let abs = i32::try_from(abs).ok()?;
    Some(if abs > 0 && d.bypass() { -abs } else { abs })
}

/// The QP of a superblock that coded `delta`, if it is a valid QP at
/// `bit_depth` (`min_qp(bit_depth)..=51`).
pub(crate) fn sb_qp(frame_qp: i8, delta: i32, bit_depth: u8) -> Option<i8> {
    let qp = frame_qp as i32 + delta;
    (min_qp(bit_depth) as i32..=MAX_QP as i32)
        .contains(&qp)
        .then_some(qp as i8)
}

/// What one side of the codec tracks of the current superblock's QP.
#[derive(Clone, Copy)]
pub(crate) struct SbQpState {
    /// Whether the stream codes deltas (`tool_flags` bit 4).
    pub enabled: bool,
    /// The frame header's QP.
    pub frame_qp: i8,
    /// The current superblock's QP (the frame's until its delta is coded).
    pub qp: i8,
    /// Whether the current superblock has coded its delta.
    pub coded: bool,
    pub ctx: SbQpContexts,
}

impl SbQpState {
    /// The state at the start of a frame.
    pub fn new(enabled: bool, frame_qp: i8) -> SbQpState {
        SbQpState {
            enabled,
            frame_qp,
            qp: frame_qp,
            coded: false,
            ctx: SbQpContexts::default(),
        }
    }

    /// Enters the next superblock: its QP is the frame's until it codes a delta.
    pub fn start_superblock(&mut self) {
        self.qp = self.frame_qp;
        self.coded = false;
    }

    /// Whether a coding unit that can carry a residual codes the delta here.
    pub fn delta_due(&self) -> bool {
        self.enabled && !self.coded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::{RangeDecoder, RangeEncoder};

    /// Every delta in a wide range survives the writer and reader, mixed
    /// with context-coded bins of another kind, so a misaligned reader would
    /// desynchronise.
    #[test]
    fn deltas_round_trip() {
        let deltas: Vec<i32> = (-70..=70).chain([0, 0, 1, -1, 0, 2, 0]).collect();
        let mut enc = RangeEncoder::new();
        let mut ctx = SbQpContexts::default();
        let mut other = Context::new();
        for &d in &deltas {
            write_delta(&mut enc, &mut ctx, d);
            enc.encode(&mut other, d % 3 == 0);
        }
        let data = enc.finish();
        let mut dec = RangeDecoder::new(&data);
        let mut ctx = SbQpContexts::default();
        let mut other = Context::new();
        for &d in &deltas {
            assert_eq!(read_delta(&mut dec, &mut ctx), Some(d));
            assert_eq!(dec.decode(&mut other), d % 3 == 0);
        }
    }

    /// The binarisation of the specification, bin by bin: `1 1 0` then the
    /// sign for -2; five ones, the Exp-Golomb suffix of 7 - 5 = 2 (`1 0 1`)
    /// and the sign for +7; a lone `0` for 0.
    #[test]
    fn binarisation_follows_the_specification() {
        #[derive(Default)]
        struct Bins(Vec<(char, bool)>);
        impl BinSink for Bins {
            fn encode(&mut self, _: &mut Context, bin: bool) {
                self.0.push(('c', bin));
            }
            fn bypass(&mut self, bin: bool) {
                self.0.push(('b', bin));
            }
        }
        let bins = |d: i32| {
            let mut b = Bins::default();
            write_delta(&mut b, &mut SbQpContexts::default(), d);
            b.0.iter()
                .map(|&(k, v)| format!("{k}{}", v as u8))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(bins(0), "c0");
        assert_eq!(bins(-2), "c1 c1 c0 b1");
        assert_eq!(bins(5), "c1 c1 c1 c1 c1 b0 b0");
        assert_eq!(bins(7), "c1 c1 c1 c1 c1 b1 b0 b1 b0");
    }

    #[test]
    fn superblock_qps_stay_in_range() {
        assert_eq!(sb_qp(30, -3, 8), Some(27));
        assert_eq!(sb_qp(50, 1, 8), Some(51));
        assert_eq!(sb_qp(50, 2, 8), None);
        assert_eq!(sb_qp(1, -2, 8), None);
        assert_eq!(sb_qp(1, -2, 10), Some(-1));
        assert_eq!(sb_qp(-10, -3, 10), None);
    }

    /// A long run of Exp-Golomb prefix ones is refused, not overflowed.
    #[test]
    fn hostile_suffixes_are_refused() {
        let mut enc = RangeEncoder::new();
        let mut ctx = SbQpContexts::default();
        for i in 0..5 {
            enc.encode(&mut ctx.0[(i > 0) as usize], true);
        }
        for _ in 0..40 {
            enc.bypass(true);
        }
        let data = enc.finish();
        let mut dec = RangeDecoder::new(&data);
        assert_eq!(read_delta(&mut dec, &mut SbQpContexts::default()), None);
    }
}
