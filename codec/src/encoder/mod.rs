//! The encoder: configuration, frame queue and packet output.

mod rdoq;
mod search;

use crate::cpu::CpuLevel;
use crate::error::{ConfigError, Error};
use crate::frame::Frame;
use crate::headers::{write_packet_headers, FrameHeader, FrameType, SequenceHeader, Tools, VideoInfo, MAX_PIXELS, MAX_SIDE};
use crate::recon::crop;
use rayon::prelude::*;
use search::{FrameSearch, SearchParams};
use std::collections::VecDeque;

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
    /// Rate-distortion optimised quantisation.
    pub rdoq: bool,
    /// Worker threads (0: one per core). Output does not depend on it.
    pub threads: usize,
    /// Kernel level; `None` uses the best the CPU supports (capped by `MICA_CPU`).
    pub cpu: Option<CpuLevel>,
    /// Source description carried to the decoder's output.
    pub video_info: VideoInfo,
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
            rdoq: true,
            threads: 0,
            cpu: None,
            video_info: VideoInfo { chroma_siting: 0, interlace: 0, aspect_num: 1, aspect_den: 1, color_range: 0 },
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
        if self.fps_num == 0 || self.fps_den == 0 {
            return Err(ConfigError::FrameRate(self.fps_num, self.fps_den));
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
    /// Whether the packet is a keyframe.
    pub keyframe: bool,
    /// The encoder's reconstruction, cropped to the visible size: what a decoder outputs.
    pub recon: Frame,
}

/// Encodes frames into packets.
pub struct Encoder {
    cfg: EncoderConfig,
    cpu: CpuLevel,
    pool: rayon::ThreadPool,
    queued: Vec<(u32, Frame)>,
    out: VecDeque<Packet>,
    next_number: u32,
}

impl Encoder {
    /// A new encoder; fails if a setting is out of range.
    pub fn new(cfg: EncoderConfig) -> Result<Encoder, Error> {
        cfg.validate()?;
        let cpu = cfg.cpu.unwrap_or_else(CpuLevel::runtime).clamp_to_supported();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .build()
            .map_err(|_| ConfigError::FrameRate(0, 0))
            .expect("thread pool");
        Ok(Encoder { cfg, cpu, pool, queued: Vec::new(), out: VecDeque::new(), next_number: 0 })
    }

    /// The sequence header this encoder writes.
    pub fn sequence_header(&self) -> SequenceHeader {
        SequenceHeader {
            profile: 0,
            width: self.cfg.width as u32,
            height: self.cfg.height as u32,
            fps_num: self.cfg.fps_num,
            fps_den: self.cfg.fps_den,
            tools: Tools { deblocking: self.cfg.deblock },
            video_info: self.cfg.video_info,
            models: Vec::new(),
        }
    }

    /// Queues a frame for encoding.
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
        self.queued.push((self.next_number, frame));
        self.next_number += 1;
        if self.queued.len() >= self.pool.current_num_threads().max(1) {
            self.encode_queued();
        }
        Ok(())
    }

    /// Encodes everything still queued.
    pub fn flush(&mut self) {
        self.encode_queued();
    }

    /// The next finished packet, in coding order.
    pub fn receive_packet(&mut self) -> Option<Packet> {
        self.out.pop_front()
    }

    fn encode_queued(&mut self) {
        let frames = std::mem::take(&mut self.queued);
        let seq = self.sequence_header();
        let (cfg, cpu) = (&self.cfg, self.cpu);
        // Keyframes are independent: encode them in parallel, output in order.
        let packets: Vec<Packet> =
            self.pool.install(|| frames.par_iter().map(|(n, f)| encode_keyframe(cfg, &seq, *n, f, cpu)).collect());
        self.out.extend(packets);
    }
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

fn encode_keyframe(cfg: &EncoderConfig, seq: &SequenceHeader, number: u32, frame: &Frame, cpu: CpuLevel) -> Packet {
    let (w, h) = (seq.coded_width(), seq.coded_height());
    let padded = pad_frame(frame, w, h);
    let fh = FrameHeader {
        frame_type: FrameType::Key,
        frame_number: number,
        qp: cfg.qp,
        chroma_qp_offset: [cfg.chroma_qp_offset; 2],
        deblock: cfg.deblock,
        deblock_beta_offset: 0,
        deblock_tc_offset: 0,
    };
    let params = SearchParams::new(cfg.qp, fh.chroma_qp_offset, cpu, cfg.rdoq);
    let mut search = FrameSearch::new(&padded, params);
    let payload = search.encode();
    let mut state = search.st;
    if fh.deblock {
        crate::deblock::deblock_frame(&mut state, &fh);
    }
    let mut data = write_packet_headers(Some(seq), &fh);
    data.extend_from_slice(&payload);
    Packet { data, frame_number: number, keyframe: true, recon: crop(&state.recon, cfg.width, cfg.height) }
}
