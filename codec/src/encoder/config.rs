//! Encoder settings: prediction structure, presets and every option with
//! its valid range.

use crate::bitstream::{min_qp, VideoInfo, BIT_DEPTHS, MAX_PIXELS, MAX_QP, MAX_SIDE};
use crate::cpu::CpuLevel;
use crate::error::ConfigError;
use crate::intra::IntraPredictor;
use crate::loop_filter::LoopFilter;
use std::sync::Arc;

/// How frames predict each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GopStructure {
    /// Hierarchical B-frames over groups of `gop_size` frames, coded out of
    /// order (the default).
    RandomAccess,
    /// Every frame predicted from earlier frames only (I P P P ...).
    LowDelay,
    /// Every frame a keyframe.
    IntraOnly,
}

/// Speed against compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Fewest modes, references and motion search.
    Fast,
    /// The default.
    Medium,
    /// Exhaustive mode decision.
    Slow,
}

impl Preset {
    /// Parses `fast`, `medium` or `slow`.
    pub fn from_name(s: &str) -> Option<Preset> {
        match s {
            "fast" => Some(Preset::Fast),
            "medium" => Some(Preset::Medium),
            "slow" => Some(Preset::Slow),
            _ => None,
        }
    }
}

/// Deblocking offset of keyframes when the learned loop filter is on (and
/// [`EncoderConfig::deblock_offset`] is `None`): the keyframe networks
/// restore more from a less smoothed picture (stills, filter on against off:
/// Y -3.44 % with offset 0, -3.67 % with -2, -3.61 % with -4, before the
/// networks were trained for it; `models/loopfilter/README.md`). Without the learned
/// filter 0 codes best (-2 costs 0.2 %, +2 0.5 %), and inter frames, whose
/// networks restore less, lost with -2.
pub const KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER: i8 = -2;

use super::rate::{BufferModel, RateControl};

/// The lowest target bit rate accepted, kbit/s.
pub const MIN_KBPS: f64 = 1.0;
/// The highest target bit rate accepted, kbit/s (1 Gbit/s).
pub const MAX_KBPS: f64 = 1_000_000.0;

/// Encoder settings. Build with [`EncoderConfig::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct EncoderConfig {
    /// Visible width in luma samples.
    pub width: usize,
    /// Visible height in luma samples.
    pub height: usize,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// Quantisation parameter, 0..=51 at 8 bits, -12..=51 at 10 (the step size doubles
    /// every 6; a QP means the same step relative to the sample range at every depth).
    pub qp: i8,
    /// Bits per coded sample, 8 or 10. Input at another depth is converted (8-bit input
    /// coded at 10 bits is shifted up; the decoder can give it back at 8 bits).
    pub bit_depth: u8,
    /// Bits per sample of the frames handed to the encoder, 8 or 10.
    pub input_bit_depth: u8,
    /// QP offset of both chroma planes, -12..=12.
    pub chroma_qp_offset: i8,
    /// Deblocking filter on.
    pub deblock: bool,
    /// Deblocking strength offset of every frame (its beta and tc offsets,
    /// -6..=6; negative deblocks less). `None`: 0, except -2 for keyframes
    /// when the learned loop filter is on (its keyframe networks restore
    /// more from a less smoothed picture).
    pub deblock_offset: Option<i8>,
    /// Rate-distortion optimised quantisation.
    pub rdoq: bool,
    /// Worker threads (0: one per core; at most [`crate::cpu::MAX_THREADS`]). Output does not depend on it.
    pub threads: usize,
    /// Kernel level; `None` uses the best the CPU supports (capped by `MICA_CPU`).
    pub cpu: Option<CpuLevel>,
    /// Source description carried to the decoder's output.
    pub video_info: VideoInfo,
    /// Prediction structure.
    pub gop: GopStructure,
    /// Frames per hierarchical group (random access), 1..=32: every group
    /// has this length (shorter only before a keyframe and at the end),
    /// except at 32 (the default) with [`EncoderConfig::adaptive_gop`] on,
    /// which chooses 32 or 16 per group.
    pub gop_size: usize,
    /// Random access with `gop_size` 32: choose each group's length, 32 or
    /// 16 frames, from the content. The encoder estimates (on the luma at a
    /// quarter of the resolution, with a block motion search) what the two
    /// frames whose references differ would cost each way: frame 32
    /// predicted from the anchor 32 frames back and frame 16 from both
    /// sides, against frame 16 from the anchor and frame 32 from frame 16.
    /// It codes a group of 32 where that costs no more (static or slowly,
    /// smoothly changing content), else a group of 16, and decides again
    /// after it. Either way it holds up to 32 frames (and the temporal
    /// filter's four) before coding. Ignored for other group sizes, which
    /// are fixed; the stream format is the same. On by default: on the four
    /// test clips it codes for 0.43 % fewer bits than fixed groups of 16
    /// (Y-PSNR BD-rate, QP 22-37; 0.80 % YUV) and 2.5 % fewer than fixed 32.
    /// Off with `gop_size` 32 gives fixed groups of 32.
    pub adaptive_gop: bool,
    /// Largest distance between keyframes in frames (0: about 10 seconds).
    pub keyint: usize,
    /// Insert keyframes at scene cuts.
    pub scene_cut: bool,
    /// Display-order number of the first frame sent (the packets' and the
    /// decoded frames' numbers count from it): a chunk of a longer video
    /// coded on its own is numbered where it sits.
    pub first_frame_number: u32,
    /// Frames (by number, counting from `first_frame_number`) that must be
    /// keyframes opening a closed chunk: as at a scene cut, the encoder uses
    /// nothing before such a frame for it or anything after it (no temporal
    /// filtering, group or keyframe-interval decision reaches across), so
    /// coding from it on alone, with `first_frame_number` set to it, gives
    /// the very same packets (fixed QP or a whole constant quality). This is
    /// what chunked encoding joins exactly (`mica-join`).
    pub forced_keyframes: Vec<u32>,
    /// Random access: code the keyframes and the frames later frames predict
    /// from most from a motion-compensated temporal filtering of their
    /// source and its neighbours (VVenC's MCTF); the encoder then holds
    /// four frames more before coding.
    pub temporal_filter: bool,
    /// With the temporal filter: QP offsets from how well each area of a
    /// filtered frame is predicted by its neighbours (VVenC's block
    /// importance mapping), passed on down the temporal layers: their mean
    /// moves each frame's QP.
    pub importance_qp: bool,
    /// With the importance QP: each 64x64 superblock is coded at its own
    /// offset from the frame QP (the stream then carries superblock QP
    /// deltas, `tool_flags` bit 4); off, only their mean moves the frame QP.
    /// Off by default: on the test clips it measured +0.24 % Y / -0.05 %
    /// YUV BD-rate (QP 17-42), the deltas' own bits eating the gain
    /// (`docs/results.md`, "Temporal coding").
    pub sb_qp_deltas: bool,
    /// Coding trees split in binary halves below the quadtree (the
    /// multi-type tree, `tool_flags` bit 5), searched as deep as the preset
    /// allows.
    pub multi_type_tree: bool,
    /// Coding trees may also split nodes in three (1:2:1: `tool_flags` bit
    /// 9), where the multi-type tree is on.
    pub ternary_splits: bool,
    /// Chroma may be predicted from the reconstructed luma (the chroma mode
    /// LM, `tool_flags` bit 8).
    pub cclm: bool,
    /// Bi-predicted merge CUs refine their vectors at the decoder
    /// (decoder-side motion vector refinement, `inter_tool_flags` bit 0).
    pub dmvr: bool,
    /// Bi-predicted CUs correct their luma prediction by optical flow
    /// (`inter_tool_flags` bit 1).
    pub bdof: bool,
    /// Merge lists take history-based and pairwise-average candidates
    /// (`inter_tool_flags` bit 2).
    pub history_merge: bool,
    /// Merge CUs may add a motion vector difference to candidate 0 or 1
    /// (`inter_tool_flags` bit 3).
    pub mmvd: bool,
    /// CUs with explicit motion may code whole or four-sample vector
    /// differences (`inter_tool_flags` bit 4).
    pub amvr: bool,
    /// Bi-predicted CUs with explicit motion may code one symmetric vector
    /// difference (`inter_tool_flags` bit 5).
    pub smvd: bool,
    /// Speed preset.
    pub preset: Preset,
    /// How each frame's QP is chosen: from `qp` (the default) or to meet a
    /// target bit rate ([`RateControl`]).
    pub rate: RateControl,
    /// A leaky-bucket constraint for streaming (`--maxrate`/`--bufsize`),
    /// with a rate-controlled `rate` only. Default none.
    pub buffer: Option<BufferModel>,
    /// The learned in-loop filter may be used.
    pub nn_filter: bool,
    /// The loop-filter model (`None`: the embedded default). A decoder must know
    /// the same model (by SHA-256) to decode the stream.
    pub nn_filter_model: Option<Arc<LoopFilter>>,
    /// The learned intra mode may be used (default off: see `models/intra/README.md`).
    pub nn_intra: bool,
    /// The intra-predictor model (`None`: the embedded default). A decoder
    /// must know the same model (by SHA-256) to decode the stream.
    pub nn_intra_model: Option<Arc<IntraPredictor>>,
    /// Start every frame's contexts from the trained initialisation tables
    /// (`docs/context-init.md`); off, they start at probability one half,
    /// which is how the tables' own training material is coded.
    pub trained_contexts: bool,
    /// Implicit transform selection (`tool_flags` bit 6): intra luma transform blocks
    /// (other than learned-intra ones) use DST-VII along each side of 4 to 16 samples,
    /// DCT-II along 32, as VVC's implicit MTS; off, DST-VII only at 4x4.
    pub implicit_mts: bool,
    /// The adaptive loop filter (`tool_flags` bit 7): after the learned
    /// filter, a diamond Wiener filter per plane whose coefficients each
    /// frame derives and signals, switched per 64x64 superblock.
    pub alf: bool,
}

impl EncoderConfig {
    /// Defaults for a `width` x `height` stream at 25 fps and QP 32.
    pub fn new(width: usize, height: usize) -> EncoderConfig {
        EncoderConfig {
            width,
            height,
            fps_num: 25,
            fps_den: 1,
            qp: 32,
            bit_depth: 8,
            input_bit_depth: 8,
            chroma_qp_offset: 0,
            deblock: true,
            deblock_offset: None,
            rdoq: true,
            threads: 0,
            cpu: None,
            video_info: VideoInfo {
                aspect_num: 1,
                aspect_den: 1,
                ..VideoInfo::default()
            },
            gop: GopStructure::RandomAccess,
            gop_size: 32,
            adaptive_gop: true,
            keyint: 0,
            scene_cut: true,
            first_frame_number: 0,
            forced_keyframes: Vec::new(),
            temporal_filter: true,
            importance_qp: true,
            sb_qp_deltas: false,
            multi_type_tree: true,
            ternary_splits: true,
            cclm: true,
            dmvr: true,
            bdof: true,
            history_merge: true,
            mmvd: true,
            amvr: true,
            smvd: true,
            preset: Preset::Medium,
            rate: RateControl::ConstantQp,
            buffer: None,
            nn_filter: true,
            nn_filter_model: None,
            // Off by default: the current model costs about 0.3 % (BD-rate,
            // all intra) instead of saving; see models/intra/README.md.
            nn_intra: false,
            nn_intra_model: None,
            trained_contexts: true,
            implicit_mts: true,
            alf: true,
        }
    }

    /// The intra predictor the stream uses, if any.
    pub fn intra_predictor(&self) -> Option<Arc<IntraPredictor>> {
        self.nn_intra.then(|| {
            self.nn_intra_model
                .clone()
                .unwrap_or_else(IntraPredictor::default_model)
        })
    }

    /// The loop filter the stream uses, if any.
    pub fn loop_filter(&self) -> Option<Arc<LoopFilter>> {
        self.nn_filter.then(|| {
            self.nn_filter_model
                .clone()
                .unwrap_or_else(LoopFilter::default_model)
        })
    }

    /// The keyframe interval in frames.
    pub fn keyint_frames(&self) -> usize {
        if self.keyint > 0 {
            self.keyint
        } else {
            ((10.0 * self.fps()).round() as usize).max(1)
        }
    }

    /// Frames per second.
    pub(crate) fn fps(&self) -> f64 {
        self.fps_num as f64 / self.fps_den as f64
    }

    /// Checks every field against its valid range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.width == 0
            || self.height == 0
            || self.width > MAX_SIDE as usize
            || self.height > MAX_SIDE as usize
            || (self.width * self.height) as u64 > MAX_PIXELS
        {
            return Err(ConfigError::Dimensions {
                width: self.width,
                height: self.height,
                max_side: MAX_SIDE as usize,
                max_pixels: MAX_PIXELS as usize,
            });
        }
        for (what, depth) in [("coded", self.bit_depth), ("input", self.input_bit_depth)] {
            if !BIT_DEPTHS.contains(&depth) {
                return Err(ConfigError::BitDepth { what, depth });
            }
        }
        if !(min_qp(self.bit_depth)..=MAX_QP).contains(&self.qp) {
            return Err(ConfigError::Qp {
                qp: self.qp as i32,
                bit_depth: self.bit_depth,
                min: min_qp(self.bit_depth) as i32,
            });
        }
        if let Some(problem) = self.video_info.mastering_display.and_then(|m| m.problem()) {
            return Err(ConfigError::MasteringDisplay(problem));
        }
        if !(-12..=12).contains(&self.chroma_qp_offset) {
            return Err(ConfigError::ChromaQpOffset(self.chroma_qp_offset as i32));
        }
        if self.threads > crate::cpu::MAX_THREADS {
            return Err(ConfigError::Threads(self.threads));
        }
        if let Some(o) = self.deblock_offset.filter(|o| !(-6..=6).contains(o)) {
            return Err(ConfigError::DeblockOffset(o as i32));
        }
        if self.fps_num == 0 || self.fps_den == 0 {
            return Err(ConfigError::FrameRate(self.fps_num, self.fps_den));
        }
        if !(1..=32).contains(&self.gop_size) {
            return Err(ConfigError::GopSize(self.gop_size));
        }
        if let RateControl::Bitrate { kbps, first_pass } = &self.rate {
            if !(MIN_KBPS..=MAX_KBPS).contains(kbps) {
                return Err(ConfigError::Bitrate(kbps.to_string()));
            }
            if first_pass.as_ref().is_some_and(|s| s.is_empty()) {
                return Err(ConfigError::FirstPass("holds no frames".to_string()));
            }
        }
        if let RateControl::ConstantQuality { crf } = self.rate {
            let lowest = f64::from(min_qp(self.bit_depth));
            if !(lowest..=f64::from(MAX_QP)).contains(&crf) {
                return Err(ConfigError::Quality {
                    crf: crf.to_string(),
                    bit_depth: self.bit_depth,
                    min: lowest as i32,
                });
            }
        }
        if let Some(buffer) = &self.buffer {
            if let Some(problem) = buffer.problem(self.fps()) {
                return Err(ConfigError::Buffer(problem));
            }
            match self.rate {
                RateControl::ConstantQp => {
                    return Err(ConfigError::Buffer(
                        "needs a rate-controlled mode: fixed QP cannot keep to a buffer"
                            .to_string(),
                    ))
                }
                RateControl::Bitrate { kbps, .. } if kbps > buffer.max_kbps => {
                    return Err(ConfigError::Buffer(format!(
                        "fills at {} kbit/s, below the target {kbps} kbit/s",
                        buffer.max_kbps
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }
}
