//! The encoder: configuration, frame scheduling (GOP structures, reference
//! slots, QP and lambda per temporal layer, keyframes and scene cuts) and
//! packet output.

mod config;
mod filtering;
mod frame;
mod gop;
mod group_length;
mod motion_search;
mod packet;
mod rate;
mod rdoq;
mod search;
mod temporal_filter;
pub(crate) mod training;

pub use config::{
    EncoderConfig, GopStructure, Preset, KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER, MAX_KBPS, MIN_KBPS,
};
pub use gop::SceneCutDetector;
pub use packet::{IntraModeCounts, Packet};
pub use rate::{BufferModel, FirstPassFrame, FirstPassStats, RateControl};

use crate::bitstream::{ModelRef, SequenceHeader, Tools, MAX_QP};
use crate::cpu::CpuLevel;
use crate::error::{ConfigError, Error};
use crate::inter::RefPicture;
use crate::intra;
use crate::loop_filter;
use crate::picture::Frame;
use frame::encode_frame;
use gop::{FramePlan, Held};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use training::{FrameExtras, TrainingHooks};

/// Encodes frames into packets.
pub struct Encoder {
    cfg: EncoderConfig,
    cpu: CpuLevel,
    pool: rayon::ThreadPool,
    /// Frames received and not yet coded, in display order.
    input: VecDeque<(u32, Frame, bool)>,
    /// Coded frames not yet received, with what the training hooks kept.
    out: VecDeque<(Packet, FrameExtras)>,
    /// What training tools ask to keep (none for library users).
    hooks: TrainingHooks,
    next_number: u32,
    /// Reference pictures held, by slot.
    dpb: Vec<Held>,
    /// Display number of the last coded frame of the last complete group.
    anchor: Option<u32>,
    /// Display number of the last keyframe (all intra: of the last frame
    /// carrying the sequence header).
    last_key: u32,
    /// Scene cuts against the previous input frame.
    scene_cuts: SceneCutDetector,
    /// The last few sources coded (unfiltered) and their scene-cut flags:
    /// the temporal filter's past neighbours.
    past: VecDeque<(Frame, bool)>,
    /// With adaptive group lengths: the thumbnail of the anchor's source
    /// (the last frame coded of the last group or keyframe).
    anchor_thumbnail: Option<group_length::Thumbnail>,
    /// Target bit rate: the controller choosing base QPs.
    rate: Option<rate::RateController>,
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
        let rate = match &cfg.rate {
            RateControl::ConstantQp => None,
            rate => Some(rate::RateController::new(
                rate,
                cfg.buffer.as_ref(),
                cfg.fps(),
                cfg.width * cfg.height,
                cfg.bit_depth,
            )),
        };
        let first_frame_number = cfg.first_frame_number;
        Ok(Encoder {
            cfg,
            cpu,
            pool,
            input: VecDeque::new(),
            out: VecDeque::new(),
            hooks: TrainingHooks::default(),
            next_number: first_frame_number,
            dpb: Vec::new(),
            anchor: None,
            last_key: 0,
            scene_cuts: SceneCutDetector::new(),
            past: VecDeque::new(),
            anchor_thumbnail: None,
            rate,
        })
    }

    /// The base QP of frame `poc` of kind `kind` (0 for keyframes, else 1 +
    /// temporal layer), planned next: the configuration's, or the rate
    /// control's.
    fn take_base_qp(&mut self, poc: u32, kind: usize) -> i8 {
        match self.rate.as_mut() {
            Some(rc) => rc.frame_base_qp(poc, kind),
            None => self.cfg.qp,
        }
    }

    /// The base QP frames are coded around now (for the lookahead's
    /// QP-dependent settings).
    fn nominal_base_qp(&self) -> i8 {
        self.rate
            .as_ref()
            .map_or(self.cfg.qp, |rc| rc.nominal_base_qp())
    }

    /// The sequence header this encoder writes.
    pub fn sequence_header(&self) -> SequenceHeader {
        SequenceHeader {
            profile: 0,
            bit_depth: self.cfg.bit_depth,
            source_bit_depth: self.cfg.input_bit_depth,
            width: self.cfg.width as u32,
            height: self.cfg.height as u32,
            fps_num: self.cfg.fps_num,
            fps_den: self.cfg.fps_den,
            tools: Tools {
                deblocking: self.cfg.deblock,
                nn_filter: self.cfg.nn_filter,
                nn_intra: self.cfg.nn_intra,
                trained_contexts: self.cfg.trained_contexts,
                sb_qp_delta: self.cfg.importance_qp
                    && self.cfg.sb_qp_deltas
                    && self.cfg.temporal_filter
                    && self.cfg.gop == GopStructure::RandomAccess,
                multi_type_tree: self.cfg.multi_type_tree,
                implicit_mts: self.cfg.implicit_mts,
                alf: self.cfg.alf,
                cclm: self.cfg.cclm,
                ternary_splits: self.cfg.multi_type_tree && self.cfg.ternary_splits,
                dmvr: self.cfg.dmvr,
                bdof: self.cfg.bdof,
                history_merge: self.cfg.history_merge,
                mmvd: self.cfg.mmvd,
                amvr: self.cfg.amvr,
                smvd: self.cfg.smvd,
            },
            video_info: self.cfg.video_info,
            models: self
                .cfg
                .loop_filter()
                .map(|f| ModelRef {
                    role: loop_filter::ROLE,
                    sha256: f.sha256(),
                })
                .into_iter()
                .chain(self.cfg.intra_predictor().map(|p| ModelRef {
                    role: intra::learned::ROLE,
                    sha256: p.sha256(),
                }))
                .collect(),
        }
    }

    /// Queues a frame for encoding. Packets come out in coding order, which
    /// for random access is not display order. Random access codes a keyframe
    /// once the next frame is queued (with the temporal filter, the next
    /// four: its future neighbours) or at [`Encoder::flush`], and a group
    /// once its frames and the same lookahead are in (with adaptive group
    /// lengths, the frames of a long group: the choice looks at them); low
    /// delay codes every frame at once, all intra as soon as there is a
    /// frame per thread.
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
        if frame.bit_depth != self.cfg.input_bit_depth {
            return Err(ConfigError::FrameSamples {
                what: format!(
                    "has {}-bit samples; the encoder was configured for {}-bit input",
                    frame.bit_depth, self.cfg.input_bit_depth
                ),
            }
            .into());
        }
        if let Some((plane, i)) = frame.first_out_of_range() {
            return Err(ConfigError::FrameSamples {
                what: format!(
                    "sample {i} of plane {plane} is {}, above the {}-bit maximum {}",
                    frame.planes[plane].data[i],
                    frame.bit_depth,
                    frame.max_value()
                ),
            }
            .into());
        }
        if self.next_number == u32::MAX {
            // Its successor could not be numbered (nor a group ordered).
            return Err(ConfigError::FrameNumber(u64::from(u32::MAX) + 1).into());
        }
        let frame = frame.with_bit_depth(self.cfg.bit_depth);
        let scene_cut = self.scene_cuts.push(&frame);
        // A forced keyframe closes what came before as a scene cut does.
        let forced = self.cfg.forced_keyframes.contains(&self.next_number);
        let cut = forced || self.cfg.scene_cut && scene_cut;
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
        self.out.pop_front().map(|(packet, _)| packet)
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
        let hooks = self.hooks;
        let mut plans = plans;
        let mut results: Vec<(Packet, FrameExtras, Arc<RefPicture>)> = self.pool.install(|| {
            plans
                .par_iter()
                .zip(frames.par_iter())
                .map(|(plan, f)| encode_frame(cfg, hooks, &seq, plan, f, cpu, filter, intra))
                .collect()
        });
        // (Taken out while the batch is settled, so that frames can be
        // planned again meanwhile.)
        if let Some(mut rc) = self.rate.take() {
            // The frames leave the buffer in coding order; one that would
            // take more than it holds is coded again from a higher base QP
            // (the batch's frames do not reference each other, so the
            // others stand).
            for (plan, (f, result)) in plans.iter_mut().zip(frames.iter().zip(results.iter_mut())) {
                if let Some(room) = rc.buffer_room() {
                    while result.0.data.len() as f64 * 8.0 > room && plan.base_qp < MAX_QP {
                        let bits = result.0.data.len() as f64 * 8.0;
                        self.raise_base_qp(plan, rate::qp_raise_to_fit(bits, room));
                        let (cfg, plan) = (&self.cfg, &*plan);
                        *result = self.pool.install(|| {
                            encode_frame(cfg, hooks, &seq, plan, f, cpu, filter, intra)
                        });
                    }
                }
                let level = rc.leave_buffer(result.0.data.len() as u64 * 8);
                result.0.buffer_level = level.map(|l| l.floor() as i64);
            }
            let coded: Vec<(u32, usize, i8, u64)> = plans
                .iter()
                .zip(&results)
                .map(|(plan, (packet, _, _))| {
                    let kind = if plan.key { 0 } else { 1 + plan.layer };
                    (plan.poc, kind, plan.base_qp, packet.data.len() as u64 * 8)
                })
                .collect();
            rc.coded(&coded);
            self.rate = Some(rc);
        }
        for (plan, (packet, extras, picture)) in plans.iter().zip(results) {
            if let Some(slot) = plan.store {
                self.dpb.retain(|h| h.slot != slot);
                self.dpb.push(Held {
                    slot,
                    picture,
                    importance: plan.importance.clone(),
                });
            }
            self.out.push_back((packet, extras));
        }
    }
}
