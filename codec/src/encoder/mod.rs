//! The encoder: configuration, frame scheduling (GOP structures, reference
//! slots, QP and lambda per temporal layer, keyframes and scene cuts) and
//! packet output.

mod motion_search;
mod rdoq;
mod search;

use crate::cpu::CpuLevel;
use crate::error::{ConfigError, Error};
use crate::frame::Frame;
use crate::headers::{
    write_packet_headers, FrameHeader, FrameType, ModelRef, SequenceHeader, Tools, VideoInfo,
    MAX_PIXELS, MAX_REFS, MAX_SIDE, NUM_SLOTS,
};
use crate::inter::RefPicture;
use crate::mv::RefLists;
use crate::nn_filter::{self, LoopFilter};
use crate::nn_intra::{self, IntraPredictor};
use crate::recon::crop;
use crate::syntax::Contexts;
use rayon::prelude::*;
use search::{FrameSearch, InterRefs, SearchParams};
use std::collections::VecDeque;
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
/// networks were trained for it; `models/loopfilter.md`). Without the learned
/// filter 0 codes best (-2 costs 0.2 %, +2 0.5 %), and inter frames, whose
/// networks restore less, lost with -2.
pub const KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER: i8 = -2;

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
    /// Quantisation parameter, 0..=51 (the step size doubles every 6).
    pub qp: u8,
    /// QP offset of both chroma planes, -12..=12.
    pub chroma_qp_offset: i8,
    /// Deblocking filter on.
    pub deblock: bool,
    /// Deblocking strength offset of every frame (its beta and tc offsets,
    /// -6..=6; negative deblocks less). `None`: 0, except
    /// [`KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER`] for keyframes when the
    /// learned loop filter is on.
    pub deblock_offset: Option<i8>,
    /// Rate-distortion optimised quantisation.
    pub rdoq: bool,
    /// Worker threads (0: one per core). Output does not depend on it.
    pub threads: usize,
    /// Kernel level; `None` uses the best the CPU supports (capped by `MICA_CPU`).
    pub cpu: Option<CpuLevel>,
    /// Source description carried to the decoder's output.
    pub video_info: VideoInfo,
    /// Prediction structure.
    pub gop: GopStructure,
    /// Frames per hierarchical group (random access), 1..=16.
    pub gop_size: usize,
    /// Largest distance between keyframes in frames (0: about 10 seconds).
    pub keyint: usize,
    /// Insert keyframes at scene cuts.
    pub scene_cut: bool,
    /// Speed preset.
    pub preset: Preset,
    /// The learned in-loop filter may be used.
    pub nn_filter: bool,
    /// The loop-filter model (`None`: the embedded default). A decoder must know
    /// the same model (by SHA-256) to decode the stream.
    pub nn_filter_model: Option<Arc<LoopFilter>>,
    /// The learned intra mode may be used (default off: see `models/intra.md`).
    pub nn_intra: bool,
    /// The intra-predictor model (`None`: the embedded default). A decoder
    /// must know the same model (by SHA-256) to decode the stream.
    pub nn_intra_model: Option<Arc<IntraPredictor>>,
    /// Keep each frame's reconstruction before the learned loop filter in
    /// [`Packet::deblocked`] (training material for the filter itself).
    pub keep_deblocked: bool,
    /// Report each frame's end-of-frame context state in
    /// [`Packet::contexts`] (material for the context initialisation tables,
    /// `mica-tables contexts`).
    pub keep_context_stats: bool,
    /// Start every frame's contexts from the trained initialisation tables
    /// (`docs/context-init.md`); off, they start at probability one half,
    /// which is how the tables' own training material is coded.
    pub trained_contexts: bool,
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
            chroma_qp_offset: 0,
            deblock: true,
            deblock_offset: None,
            rdoq: true,
            threads: 0,
            cpu: None,
            video_info: VideoInfo {
                chroma_siting: 0,
                interlace: 0,
                aspect_num: 1,
                aspect_den: 1,
                color_range: 0,
            },
            gop: GopStructure::RandomAccess,
            gop_size: 8,
            keyint: 0,
            scene_cut: true,
            preset: Preset::Medium,
            nn_filter: true,
            nn_filter_model: None,
            // Off by default: the current model costs about 0.3 % (BD-rate,
            // all intra) instead of saving; see models/intra.md.
            nn_intra: false,
            nn_intra_model: None,
            keep_deblocked: false,
            keep_context_stats: false,
            trained_contexts: true,
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
            ((10.0 * self.fps_num as f64 / self.fps_den as f64).round() as usize).max(1)
        }
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
        if self.qp > crate::tables::MAX_QP {
            return Err(ConfigError::Qp(self.qp as i32));
        }
        if !(-12..=12).contains(&self.chroma_qp_offset) {
            return Err(ConfigError::ChromaQpOffset(self.chroma_qp_offset as i32));
        }
        if let Some(o) = self.deblock_offset.filter(|o| !(-6..=6).contains(o)) {
            return Err(ConfigError::DeblockOffset(o as i32));
        }
        if self.fps_num == 0 || self.fps_den == 0 {
            return Err(ConfigError::FrameRate(self.fps_num, self.fps_den));
        }
        if !(1..=16).contains(&self.gop_size) {
            return Err(ConfigError::GopSize(self.gop_size));
        }
        Ok(())
    }
}

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
    pub const ELEMENTS: &'static [(&'static str, usize)] = &crate::syntax::CONTEXT_ELEMENTS;
    /// Number of QP classes.
    pub const QP_CLASSES: usize = crate::syntax::CONTEXT_QP_CLASSES;

    /// The QP class of a frame coded at `qp`.
    pub fn qp_class_of(qp: u8) -> usize {
        crate::syntax::context_qp_class(qp)
    }

    /// The lowest and highest QP of a class.
    pub fn qp_class_range(class: usize) -> (u8, u8) {
        crate::syntax::context_qp_class_range(class)
    }

    fn new(key: bool, qp: u8, start: &Contexts, end: &Contexts) -> ContextStats {
        ContextStats {
            key,
            qp_class: Self::qp_class_of(qp),
            p0: end.iter().map(|c| c.p0() as u16).collect(),
            coded: end.iter().zip(start.iter()).map(|(a, b)| a != b).collect(),
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

/// A reference picture held by the encoder, and where the decoder holds it.
#[derive(Clone)]
struct Held {
    slot: usize,
    picture: Arc<RefPicture>,
}

/// One frame to code: its position, type, references and QP.
#[derive(Clone)]
struct FramePlan {
    poc: u32,
    key: bool,
    /// The packet carries the sequence header: a random access point. Every
    /// keyframe of a predicted GOP is one; all-intra streams repeat the
    /// header only every `keyint` frames and at scene cuts, since every frame
    /// is a keyframe there and 40-70 bytes per frame would be wasted.
    sequence_header: bool,
    /// Temporal layer (0 for keyframes and anchors).
    layer: usize,
    qp: u8,
    lambda: f64,
    /// References, list 0 then list 1 (held pictures).
    refs: [Vec<Held>; 2],
    /// Slot the frame is stored into, if it is kept for reference.
    store: Option<usize>,
}

/// Encodes frames into packets.
pub struct Encoder {
    cfg: EncoderConfig,
    cpu: CpuLevel,
    pool: rayon::ThreadPool,
    /// Frames received and not yet coded, in display order.
    input: VecDeque<(u32, Frame, bool)>,
    out: VecDeque<Packet>,
    next_number: u32,
    /// Reference pictures held, by slot.
    dpb: Vec<Held>,
    /// Display number of the last coded frame of the last complete group.
    anchor: Option<u32>,
    /// Display number of the last keyframe (all intra: of the last frame
    /// carrying the sequence header).
    last_key: u32,
    /// Low-resolution luma of the previous input frame, for scene-cut detection.
    last_small: Option<Vec<u8>>,
}

impl Encoder {
    /// A new encoder; fails if a setting is out of range.
    pub fn new(cfg: EncoderConfig) -> Result<Encoder, Error> {
        cfg.validate()?;
        let cpu = cfg
            .cpu
            .unwrap_or_else(CpuLevel::runtime)
            .clamp_to_supported();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .build()
            .expect("thread pool");
        Ok(Encoder {
            cfg,
            cpu,
            pool,
            input: VecDeque::new(),
            out: VecDeque::new(),
            next_number: 0,
            dpb: Vec::new(),
            anchor: None,
            last_key: 0,
            last_small: None,
        })
    }

    /// The sequence header this encoder writes.
    pub fn sequence_header(&self) -> SequenceHeader {
        SequenceHeader {
            profile: 0,
            width: self.cfg.width as u32,
            height: self.cfg.height as u32,
            fps_num: self.cfg.fps_num,
            fps_den: self.cfg.fps_den,
            tools: Tools {
                deblocking: self.cfg.deblock,
                nn_filter: self.cfg.nn_filter,
                nn_intra: self.cfg.nn_intra,
                trained_contexts: self.cfg.trained_contexts,
            },
            video_info: self.cfg.video_info,
            models: self
                .cfg
                .loop_filter()
                .map(|f| ModelRef {
                    role: nn_filter::ROLE,
                    sha256: f.sha256(),
                })
                .into_iter()
                .chain(self.cfg.intra_predictor().map(|p| ModelRef {
                    role: nn_intra::ROLE,
                    sha256: p.sha256(),
                }))
                .collect(),
        }
    }

    /// Queues a frame for encoding. Packets come out in coding order, which
    /// for random access is not display order. Random access codes a keyframe
    /// once the next frame is queued (or at [`Encoder::flush`]), low delay
    /// every frame at once, all intra as soon as there is a frame per thread.
    pub fn send_frame(&mut self, frame: Frame) -> Result<(), Error> {
        if frame.width() != self.cfg.width || frame.height() != self.cfg.height {
            return Err(ConfigError::FrameSize {
                want_w: self.cfg.width,
                want_h: self.cfg.height,
                got_w: frame.width(),
                got_h: frame.height(),
            }
            .into());
        }
        let small = downscale_luma(&frame);
        let cut = self.cfg.scene_cut
            && self
                .last_small
                .as_ref()
                .is_some_and(|prev| is_scene_cut(prev, &small));
        self.last_small = Some(small);
        self.input.push_back((self.next_number, frame, cut));
        self.next_number += 1;
        self.encode_ready(false);
        Ok(())
    }

    /// Encodes everything still queued.
    pub fn flush(&mut self) {
        self.encode_ready(true);
    }

    /// The next finished packet, in coding order.
    pub fn receive_packet(&mut self) -> Option<Packet> {
        self.out.pop_front()
    }

    /// Whether the frame `poc` (with scene-cut flag `cut`) must be a random
    /// access point: the first frame, a scene cut, or `keyint` frames after
    /// the last one. (In predicted GOPs that makes it a keyframe; all intra,
    /// every frame is one and this decides where the sequence header goes.)
    fn random_access_due(&self, poc: u32, cut: bool) -> bool {
        self.anchor.is_none() || cut || (poc - self.last_key) as usize >= self.cfg.keyint_frames()
    }

    /// Codes as many queued frames as the prediction structure allows.
    fn encode_ready(&mut self, flushing: bool) {
        loop {
            let Some(&(poc, _, cut)) = self.input.front() else {
                return;
            };
            if self.cfg.gop == GopStructure::IntraOnly {
                let batch = self.pool.current_num_threads().max(1);
                if self.input.len() < batch && !flushing {
                    return;
                }
                let frames: Vec<_> = self.input.drain(..self.input.len().min(batch)).collect();
                let mut plans = Vec::with_capacity(frames.len());
                for &(p, _, cut) in &frames {
                    let mut plan = self.key_plan(p, false);
                    plan.sequence_header = self.random_access_due(p, cut);
                    if plan.sequence_header {
                        self.last_key = p;
                    }
                    self.anchor = Some(p);
                    plans.push(plan);
                }
                self.run_group(plans, frames.into_iter().map(|(_, f, _)| f).collect());
                continue;
            }
            if self.random_access_due(poc, cut) {
                // Random access reorders anyway, so its keyframe waits for
                // the next frame to learn whether anything will predict from
                // it (low delay codes every frame as it comes).
                let random_access = self.cfg.gop == GopStructure::RandomAccess;
                if random_access && self.input.len() < 2 && !flushing {
                    return;
                }
                let (p, f, _) = self.input.pop_front().expect("front");
                self.dpb.clear();
                self.last_key = p;
                self.anchor = Some(p);
                let next_is_predicted = self
                    .input
                    .front()
                    .is_some_and(|&(next, _, cut)| !self.random_access_due(next, cut));
                let mut plan = self.key_plan(p, !random_access || next_is_predicted);
                plan.store = Some(0);
                self.run_group(vec![plan], vec![f]);
                continue;
            }
            match self.cfg.gop {
                GopStructure::LowDelay => {
                    let (p, f, _) = self.input.pop_front().expect("front");
                    let plan = self.low_delay_plan(p);
                    self.anchor = Some(p);
                    self.run_group(vec![plan], vec![f]);
                }
                _ => {
                    // A group ends before the next keyframe, after gop_size frames, or at the end.
                    let mut n = 0;
                    for (i, &(p, _, cut)) in self.input.iter().enumerate() {
                        if i >= self.cfg.gop_size {
                            break;
                        }
                        // (anchor is set: the first frame was coded as a keyframe above)
                        if i > 0 && self.random_access_due(p, cut) {
                            break;
                        }
                        n = i + 1;
                    }
                    let complete = n == self.cfg.gop_size || n < self.input.len();
                    if !complete && !flushing {
                        return;
                    }
                    let frames: Vec<_> = self.input.drain(..n).map(|(_, f, _)| f).collect();
                    self.code_group(frames);
                }
            }
        }
    }

    /// Keyframes that anchor predicted frames are worth more: a smaller
    /// lambda. One that no frame will predict from (all intra, a one-frame
    /// stream, the last frame, or one followed by another random access
    /// point) is coded as all-intra coding codes every frame. With the
    /// anchoring keyframe's smaller lambda the four test stills cost 2.1 %
    /// more (Y-PSNR BD-rate, QP 22-37, learned filter off); on the training
    /// stills the all-intra factor is at the optimum (`docs/results.md`,
    /// issue 6).
    fn key_plan(&self, poc: u32, anchors_predicted_frames: bool) -> FramePlan {
        let factor = match self.cfg.gop {
            _ if !anchors_predicted_frames => INTRA_ONLY_LAMBDA_FACTOR,
            GopStructure::IntraOnly => INTRA_ONLY_LAMBDA_FACTOR,
            GopStructure::LowDelay => INTRA_ONLY_LAMBDA_FACTOR * 0.5,
            GopStructure::RandomAccess => {
                INTRA_ONLY_LAMBDA_FACTOR
                    * (1.0 - (0.05 * (self.cfg.gop_size as f64 - 1.0)).clamp(0.0, 0.5))
            }
        };
        let qp = self.cfg.qp;
        FramePlan {
            poc,
            key: true,
            sequence_header: true,
            layer: 0,
            qp,
            lambda: lambda(factor, qp),
            refs: Default::default(),
            store: None,
        }
    }

    fn low_delay_plan(&mut self, poc: u32) -> FramePlan {
        // HM's low-delay pattern: every fourth frame at QP+1, the others +2/+3.
        let (offset, factor) = match poc % 4 {
            0 => (1, 0.578),
            2 => (2, 0.4624),
            _ => (3, 0.4624),
        };
        let qp = (self.cfg.qp as i32 + offset).min(51) as u8;
        let mut l0: Vec<Held> = self.dpb.clone();
        l0.sort_by_key(|h| std::cmp::Reverse(h.picture.poc));
        l0.truncate(self.max_refs());
        let store = self.pick_slot(&[&l0], &[]);
        FramePlan {
            poc,
            key: false,
            sequence_header: false,
            layer: 1,
            qp,
            lambda: lambda(factor, qp),
            refs: [l0, Vec::new()],
            store: Some(store),
        }
    }

    fn max_refs(&self) -> usize {
        match self.cfg.preset {
            Preset::Fast => 2,
            Preset::Medium => 3,
            Preset::Slow => MAX_REFS,
        }
        .min(MAX_REFS)
    }

    /// A slot for a new reference: a free one, else the one holding the
    /// oldest picture that none of `in_use` needs.
    fn pick_slot(&self, in_use: &[&Vec<Held>], reserved: &[usize]) -> usize {
        if let Some(free) =
            (0..NUM_SLOTS).find(|s| !self.dpb.iter().any(|h| h.slot == *s) && !reserved.contains(s))
        {
            return free;
        }
        let needed = |slot: usize| {
            in_use.iter().any(|v| v.iter().any(|h| h.slot == slot)) || reserved.contains(&slot)
        };
        self.dpb
            .iter()
            .filter(|h| !needed(h.slot))
            .min_by_key(|h| h.picture.poc)
            .map(|h| h.slot)
            .expect("eight slots cannot all be references of one group")
    }

    /// Codes a hierarchical group of frames following the anchor.
    fn code_group(&mut self, frames: Vec<Frame>) {
        let base = self.anchor.expect("a keyframe precedes every group");
        let n = frames.len() as u32;
        // Layers: the last frame first (layer 0), then recursive midpoints.
        let mut layer_of = vec![0usize; n as usize + 1];
        fn split(lo: u32, hi: u32, depth: usize, layer_of: &mut [usize]) {
            if hi - lo <= 1 {
                return;
            }
            let mid = (lo + hi) / 2;
            layer_of[mid as usize] = depth;
            split(lo, mid, depth + 1, layer_of);
            split(mid, hi, depth + 1, layer_of);
        }
        split(0, n, 1, &mut layer_of);
        let max_layer = *layer_of[1..].iter().max().unwrap_or(&0);
        let mut frames: Vec<Option<Frame>> = frames.into_iter().map(Some).collect();
        for layer in 0..=max_layer {
            let members: Vec<u32> = (1..=n).filter(|&i| layer_of[i as usize] == layer).collect();
            let mut plans = Vec::new();
            for &i in &members {
                let poc = base + i;
                let mut l0: Vec<Held> = self
                    .dpb
                    .iter()
                    .filter(|h| h.picture.poc < poc as i64)
                    .cloned()
                    .collect();
                let mut l1: Vec<Held> = self
                    .dpb
                    .iter()
                    .filter(|h| h.picture.poc > poc as i64)
                    .cloned()
                    .collect();
                l0.sort_by_key(|h| std::cmp::Reverse(h.picture.poc));
                l1.sort_by_key(|h| h.picture.poc);
                let per_list = if l1.is_empty() {
                    self.max_refs()
                } else {
                    self.max_refs().min(2)
                };
                l0.truncate(per_list);
                l1.truncate(per_list);
                let offsets = [1, 2, 3, 4];
                let factors = [0.442, 0.3536, 0.3536, 0.68];
                let qp = (self.cfg.qp as i32 + offsets[layer.min(3)]).min(51) as u8;
                let mut factor = factors[layer.min(3)];
                if layer > 0 {
                    factor *= ((qp as f64 - 12.0) / 6.0).clamp(2.0, 4.0);
                }
                plans.push(FramePlan {
                    poc,
                    key: false,
                    sequence_header: false,
                    layer,
                    qp,
                    lambda: lambda(factor, qp),
                    refs: [l0, l1],
                    store: None,
                });
            }
            // Frames that later layers reference are kept; slots are chosen
            // before coding because each frame header names its slot.
            if layer < max_layer || n == 1 {
                let refs_of_group: Vec<Vec<Held>> =
                    plans.iter().flat_map(|p| p.refs.clone()).collect();
                let in_use: Vec<&Vec<Held>> = refs_of_group.iter().collect();
                let mut reserved = Vec::new();
                for plan in plans.iter_mut() {
                    let slot = self.pick_slot(&in_use, &reserved);
                    reserved.push(slot);
                    plan.store = Some(slot);
                }
            }
            let srcs: Vec<Frame> = members
                .iter()
                .map(|&i| frames[i as usize - 1].take().expect("coded once"))
                .collect();
            self.run_group(plans, srcs);
        }
        self.anchor = Some(base + n);
    }

    /// Codes frames that do not reference each other in parallel, stores
    /// the references they produce and queues their packets in plan order.
    fn run_group(&mut self, plans: Vec<FramePlan>, frames: Vec<Frame>) {
        let seq = self.sequence_header();
        let (cfg, cpu) = (&self.cfg, self.cpu);
        let filter = cfg.loop_filter();
        let filter = filter.as_deref();
        let intra = cfg.intra_predictor();
        let intra = intra.as_ref();
        let results: Vec<(Packet, Arc<RefPicture>)> = self.pool.install(|| {
            plans
                .par_iter()
                .zip(frames.par_iter())
                .map(|(plan, f)| encode_frame(cfg, &seq, plan, f, cpu, filter, intra))
                .collect()
        });
        for (plan, (packet, picture)) in plans.iter().zip(results) {
            if let Some(slot) = plan.store {
                self.dpb.retain(|h| h.slot != slot);
                self.dpb.push(Held { slot, picture });
            }
            self.out.push_back(packet);
        }
    }
}

/// Lambda factor of frames that nothing predicts from when coded all intra (HM's).
const INTRA_ONLY_LAMBDA_FACTOR: f64 = 0.57;

/// Lambda for SSE distortion: `factor * 2^((qp - 12) / 3)`.
fn lambda(factor: f64, qp: u8) -> f64 {
    factor * 2f64.powf((qp as f64 - 12.0) / 3.0)
}

/// Luma averaged over 8x8 blocks: enough to notice a change of scene.
fn downscale_luma(f: &Frame) -> Vec<u8> {
    let p = &f.planes[0];
    let (w8, h8) = (p.width / 8, p.height / 8);
    let mut out = Vec::with_capacity(w8 * h8);
    for by in 0..h8 {
        for bx in 0..w8 {
            let mut sum = 0u32;
            for y in 0..8 {
                sum += p.data[(by * 8 + y) * p.width + bx * 8..][..8]
                    .iter()
                    .map(|&v| v as u32)
                    .sum::<u32>();
            }
            out.push((sum / 64) as u8);
        }
    }
    out
}

/// A scene cut: most 8x8 block averages changed a lot at once.
fn is_scene_cut(prev: &[u8], cur: &[u8]) -> bool {
    if prev.len() != cur.len() || cur.is_empty() {
        return false;
    }
    let changed = prev
        .iter()
        .zip(cur)
        .filter(|(a, b)| a.abs_diff(**b) > 24)
        .count();
    changed * 2 > cur.len()
}

/// Pads a frame to the coded size by repeating its last column and row.
fn pad_frame(src: &Frame, w: usize, h: usize) -> Frame {
    let mut out = Frame::new_420(w, h);
    for (dst, s) in out.planes.iter_mut().zip(src.planes.iter()) {
        for y in 0..dst.height {
            let sy = y.min(s.height - 1);
            let srow = &s.data[sy * s.width..][..s.width];
            let drow = &mut dst.data[y * dst.width..][..dst.width];
            drow[..s.width].copy_from_slice(srow);
            let last = srow[s.width - 1];
            drow[s.width..].fill(last);
        }
    }
    out
}

fn encode_frame(
    cfg: &EncoderConfig,
    seq: &SequenceHeader,
    plan: &FramePlan,
    frame: &Frame,
    cpu: CpuLevel,
    filter: Option<&LoopFilter>,
    intra: Option<&Arc<IntraPredictor>>,
) -> (Packet, Arc<RefPicture>) {
    let (w, h) = (seq.coded_width(), seq.coded_height());
    let padded = pad_frame(frame, w, h);
    let mut fh = FrameHeader {
        chroma_qp_offset: [cfg.chroma_qp_offset; 2],
        deblock: cfg.deblock,
        ..FrameHeader::key(plan.poc, plan.qp)
    };
    if cfg.deblock {
        let learned_filter_key = plan.key && filter.is_some();
        let offset = cfg.deblock_offset.unwrap_or(if learned_filter_key {
            KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER
        } else {
            0
        });
        fh.deblock_beta_offset = offset;
        fh.deblock_tc_offset = offset;
    }
    let mut lists = RefLists {
        cur_poc: plan.poc as i64,
        ..Default::default()
    };
    let inter = if plan.key {
        None
    } else {
        fh.frame_type = FrameType::Inter;
        fh.refresh_slots = plan.store.map_or(0, |s| 1 << s);
        let mut refs: [Vec<Arc<RefPicture>>; 2] = Default::default();
        for l in 0..2 {
            fh.num_refs[l] = plan.refs[l].len() as u8;
            lists.len[l] = plan.refs[l].len();
            for (i, held) in plan.refs[l].iter().enumerate() {
                fh.ref_slots[l][i] = held.slot as u8;
                lists.poc[l][i] = held.picture.poc;
                refs[l].push(held.picture.clone());
            }
        }
        let col = if lists.len[1] > 0 {
            refs[1][0].motion.clone()
        } else {
            refs[0][0].motion.clone()
        };
        Some(InterRefs {
            refs,
            lists,
            col: Some(col),
        })
    };
    let mut params = SearchParams::new(plan.qp, fh.chroma_qp_offset, cpu, cfg.rdoq, plan.lambda);
    apply_preset(&mut params, cfg.preset, plan.layer);
    let start = || Contexts::for_frame(cfg.trained_contexts, plan.key, plan.qp);
    let mut search = FrameSearch::new(&padded, params, inter, start());
    search.st.nn_intra = intra.cloned();
    let mut enc = search.encode_blocks();
    let intra_modes = search.intra_modes;
    let mut state = search.st;
    if fh.deblock {
        crate::deblock::deblock_frame(&mut state, &fh, &lists, cpu);
    }
    let deblocked = cfg
        .keep_deblocked
        .then(|| crop(&state.recon, cfg.width, cfg.height));
    if let Some(filter) = filter {
        let lambda = [search.p.lambda, search.p.lambda_for(1)];
        let (flags, filtered) = nn_filter::filter_and_decide(
            filter,
            &padded,
            &state.recon,
            &fh,
            lambda,
            &search.ctx,
            // A second set of networks doubles the encoder's filtering of
            // the planes it covers; the fast preset keeps to the first.
            cfg.preset != Preset::Fast,
            cpu,
        );
        let (cols, _) = nn_filter::sb_grid(w, h);
        nn_filter::write_flags(&mut enc, &mut search.ctx, &flags, filter.sets(), cols);
        nn_filter::apply(&mut state.recon, &filtered, &flags);
        fh.nn_filter = flags.on;
        fh.nn_filter_scale = flags.scale;
    }
    let contexts = cfg
        .keep_context_stats
        .then(|| ContextStats::new(plan.key, plan.qp, &start(), &search.ctx));
    let payload = enc.finish();
    let col = Arc::new(crate::decoder::col_field(&state, &lists));
    let picture = Arc::new(RefPicture::new(plan.poc as i64, &state.recon, col));
    let mut data = write_packet_headers(plan.sequence_header.then_some(seq), &fh);
    data.extend_from_slice(&payload);
    let packet = Packet {
        data,
        frame_number: plan.poc,
        keyframe: plan.key,
        random_access: plan.sequence_header,
        recon: crop(&state.recon, cfg.width, cfg.height),
        qp: plan.qp,
        intra_modes,
        deblocked,
        contexts,
    };
    (packet, picture)
}

/// Search effort by preset.
fn apply_preset(p: &mut SearchParams, preset: Preset, layer: usize) {
    match preset {
        Preset::Fast => {
            p.rd_modes = [3, 3, 2, 2];
            p.merge_rd = 1;
            p.me.range = 16;
            p.me.max_steps = 8;
            p.me.quarter_square = false;
            p.intra_in_inter_bar = 3.0;
            p.nxn_in_inter = false;
            p.skip_stops_split = true;
        }
        Preset::Medium => {
            // Measured on box/city (QP 32, 17 frames): merge_rd 2 -> 1 and an
            // intra bar of 2 lambda per sample cost under 0.03 dB for ~35% speed.
            p.rd_modes = [4, 4, 2, 2];
            p.merge_rd = 1;
            p.me.range = 32;
            p.me.max_steps = 12;
            p.me.quarter_square = false;
            p.intra_in_inter_bar = 2.0;
            p.skip_stops_split = true;
        }
        Preset::Slow => {
            p.rd_modes = [8, 8, 3, 3];
            p.merge_rd = 3;
            p.me.range = 64;
            p.me.max_steps = 16;
        }
    }
    let _ = layer;
}
