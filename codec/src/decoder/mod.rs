//! The decoder: parses packets, keeps reference pictures, reconstructs
//! frames and returns them in display order.

mod frame;

use crate::bitstream::{min_qp, read_packet_headers, FrameType, SequenceHeader, MAX_QP, NUM_SLOTS};
use crate::cpu::CpuLevel;
use crate::error::{BitstreamError, Error};
use crate::inter::{col_field, RefLists, RefPicture};
use crate::intra::{self, IntraPredictor};
use crate::loop_filter::{self, LoopFilter};
use crate::picture::{crop, Frame};
use frame::decode_frame;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Decoder settings.
#[derive(Clone, Debug, Default)]
pub struct DecoderConfig {
    /// Kernel level; `None` uses the best the CPU supports (capped by `MICA_CPU`).
    pub cpu: Option<CpuLevel>,
    /// Loop-filter models available besides the embedded default (streams name models by SHA-256).
    pub filters: Vec<Arc<LoopFilter>>,
    /// Intra-predictor models available besides the embedded default.
    pub intra_predictors: Vec<Arc<IntraPredictor>>,
    /// Output frames at the source's bit depth (the sequence header's
    /// `source_bit_depth`) instead of the coded one: 8-bit video coded at 10 bits
    /// comes back at 8.
    pub output_source_depth: bool,
    /// Worker threads (0: one per core; more than [`crate::cpu::MAX_THREADS`]
    /// counts as that many). The output does not depend on it.
    pub threads: usize,
}

/// A decoded frame in display order, cropped to the visible size.
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    /// Display-order frame number from the frame header.
    pub frame_number: u32,
    /// The samples.
    pub frame: Frame,
}

/// The learned models a decoder knows besides the embedded defaults.
pub(crate) fn find_filter(extra: &[Arc<LoopFilter>], sha256: &[u8; 32]) -> Option<Arc<LoopFilter>> {
    let default = LoopFilter::default_model();
    if default.sha256() == *sha256 {
        return Some(default);
    }
    extra.iter().find(|f| f.sha256() == *sha256).cloned()
}

/// The intra predictor named `sha256`: the embedded default or one of `extra`.
pub(crate) fn find_intra(
    extra: &[Arc<IntraPredictor>],
    sha256: &[u8; 32],
) -> Option<Arc<IntraPredictor>> {
    let default = IntraPredictor::default_model();
    if default.sha256() == *sha256 {
        return Some(default);
    }
    extra.iter().find(|f| f.sha256() == *sha256).cloned()
}

/// Frames held for reordering beyond which the oldest is released anyway
/// (a valid stream never needs more than the reference slots).
const MAX_PENDING: usize = 16;

/// Decodes a Mica stream packet by packet.
pub struct Decoder {
    cpu: CpuLevel,
    sequence: Option<SequenceHeader>,
    extra_filters: Vec<Arc<LoopFilter>>,
    filter: Option<Arc<LoopFilter>>,
    extra_intra: Vec<Arc<IntraPredictor>>,
    intra: Option<Arc<IntraPredictor>>,
    slots: [Option<Arc<RefPicture>>; NUM_SLOTS],
    pending: BTreeMap<u32, Frame>,
    next_out: Option<u32>,
    draining: bool,
    output_source_depth: bool,
    /// The threads a frame's work is shared among.
    pool: Arc<rayon::ThreadPool>,
}

/// A pool of `threads` workers (0: one per core), capped at
/// [`crate::cpu::MAX_THREADS`]; one worker where the system will not start more.
fn thread_pool(threads: usize) -> rayon::ThreadPool {
    let build = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build();
    build(threads.min(crate::cpu::MAX_THREADS))
        .or_else(|_| build(1))
        .expect("a thread pool of one worker")
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(config: DecoderConfig) -> Decoder {
        let cpu = config
            .cpu
            .unwrap_or_else(CpuLevel::runtime)
            .clamp_to_supported();
        Decoder {
            cpu,
            sequence: None,
            extra_filters: config.filters,
            filter: None,
            extra_intra: config.intra_predictors,
            intra: None,
            slots: Default::default(),
            pending: BTreeMap::new(),
            next_out: None,
            draining: false,
            output_source_depth: config.output_source_depth,
            pool: Arc::new(thread_pool(config.threads)),
        }
    }

    /// The sequence header in force (after the first packet carrying one).
    pub fn sequence_header(&self) -> Option<&SequenceHeader> {
        self.sequence.as_ref()
    }

    /// Decodes one packet (one IVF frame). Decoded frames become available
    /// from [`Decoder::receive_frame`] in display order.
    pub fn send_packet(&mut self, packet: &[u8]) -> Result<(), Error> {
        let pool = self.pool.clone();
        pool.install(|| self.decode_packet(packet))
    }

    fn decode_packet(&mut self, packet: &[u8]) -> Result<(), Error> {
        self.draining = false;
        let headers = read_packet_headers(packet)?;
        let fh = headers.frame;
        if let Some(seq) = headers.sequence {
            let mut filter = None;
            let mut intra = None;
            for m in &seq.models {
                let missing = || BitstreamError::MissingModel(crate::nn::hex(&m.sha256));
                let duplicate = BitstreamError::InvalidField {
                    field: "model_role",
                    value: m.role as i64,
                    allowed: "at most one loop filter (role 1) and one intra predictor (role 2)",
                };
                match m.role {
                    loop_filter::ROLE => {
                        let f = find_filter(&self.extra_filters, &m.sha256).ok_or_else(missing)?;
                        if filter.replace(f).is_some() {
                            return Err(duplicate.into());
                        }
                    }
                    intra::learned::ROLE => {
                        let p = find_intra(&self.extra_intra, &m.sha256).ok_or_else(missing)?;
                        if intra.replace(p).is_some() {
                            return Err(duplicate.into());
                        }
                    }
                    _ => return Err(missing().into()),
                }
            }
            if seq.tools.nn_intra && intra.is_none() {
                return Err(BitstreamError::InvalidField {
                    field: "tool_flags",
                    value: 4,
                    allowed: "the learned intra mode only with an intra-predictor model listed",
                }
                .into());
            }
            if seq.tools.nn_filter && filter.is_none() {
                return Err(BitstreamError::InvalidField {
                    field: "tool_flags",
                    value: 2,
                    allowed: "the learned loop filter only with a loop-filter model listed",
                }
                .into());
            }
            self.filter = filter;
            self.intra = if seq.tools.nn_intra { intra } else { None };
            if self.sequence.as_ref().is_some_and(|s| {
                (s.width, s.height, s.bit_depth) != (seq.width, seq.height, seq.bit_depth)
            }) {
                // A new size or depth starts a new stream: release what is held.
                self.flush();
            }
            self.sequence = Some(seq);
        }
        let seq = self
            .sequence
            .as_ref()
            .ok_or(BitstreamError::MissingSequenceHeader)?;
        if fh.deblock && !seq.tools.deblocking {
            return Err(BitstreamError::InvalidField {
                field: "deblock",
                value: 1,
                allowed: "0 when the sequence disables deblocking",
            }
            .into());
        }
        if fh.nn_filter != [false; 2] && !seq.tools.nn_filter {
            return Err(BitstreamError::InvalidField {
                field: "nn_filter",
                value: (fh.nn_filter[0] as i64) | (fh.nn_filter[1] as i64) << 1,
                allowed: "0 when the sequence disables the learned loop filter",
            }
            .into());
        }
        if !(min_qp(seq.bit_depth)..=MAX_QP).contains(&fh.qp) {
            return Err(BitstreamError::InvalidField {
                field: "qp",
                value: fh.qp as i64,
                allowed: "-6 * (bit_depth - 8)..=51: 0..=51 at 8 bits, -12..=51 at 10",
            }
            .into());
        }
        if self.pending.contains_key(&fh.frame_number) {
            return Err(BitstreamError::InvalidField {
                field: "frame_number",
                value: fh.frame_number as i64,
                allowed: "a number not already waiting for output",
            }
            .into());
        }
        let mut refs: [Vec<Arc<RefPicture>>; 2] = Default::default();
        let mut lists = RefLists {
            cur_poc: fh.frame_number as i64,
            ..Default::default()
        };
        if fh.frame_type == FrameType::Key {
            self.slots = Default::default();
        } else {
            for l in 0..2 {
                for i in 0..fh.num_refs[l] as usize {
                    let slot = fh.ref_slots[l][i];
                    let r =
                        self.slots[slot as usize]
                            .clone()
                            .ok_or(BitstreamError::InvalidField {
                                field: "ref_slot",
                                value: slot as i64,
                                allowed: "a slot holding a decoded picture",
                            })?;
                    if (r.planes[0].width, r.planes[0].height, r.bit_depth)
                        != (seq.coded_width(), seq.coded_height(), seq.bit_depth)
                    {
                        return Err(BitstreamError::MissingSequenceHeader.into());
                    }
                    lists.poc[l][i] = r.poc;
                    refs[l].push(r);
                }
                lists.len[l] = fh.num_refs[l] as usize;
            }
        }
        let payload = &packet[headers.payload_offset..];
        let state = decode_frame(
            seq,
            &fh,
            payload,
            self.cpu,
            &refs,
            &lists,
            self.filter.as_deref(),
            self.intra.as_ref(),
        )?;
        let col = Arc::new(col_field(&state, &lists));
        let reference = Arc::new(RefPicture::new(lists.cur_poc, &state.recon, col));
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if fh.refresh_slots & (1 << i) != 0 {
                *slot = Some(reference.clone());
            }
        }
        let mut frame = crop(&state.recon, seq.width as usize, seq.height as usize);
        if self.output_source_depth {
            frame = frame.with_bit_depth(seq.source_bit_depth);
        }
        if self.next_out.is_none() {
            self.next_out = Some(fh.frame_number);
        }
        self.pending.insert(fh.frame_number, frame);
        Ok(())
    }

    /// Releases every frame still held for reordering (call at end of stream).
    pub fn flush(&mut self) {
        self.draining = true;
    }

    /// The next decoded frame in display order, if one is ready.
    pub fn receive_frame(&mut self) -> Option<DecodedFrame> {
        let next = self.next_out?;
        let number = if self.pending.contains_key(&next) {
            next
        } else if self.draining || self.pending.len() > MAX_PENDING {
            // End of stream, or a numbering no valid stream has: skip the gap.
            *self.pending.keys().next()?
        } else {
            return None;
        };
        let frame = self.pending.remove(&number)?;
        self.next_out = Some(number.wrapping_add(1));
        Some(DecodedFrame {
            frame_number: number,
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, Decoder, DecoderConfig, Encoder, EncoderConfig, Error, Frame};

    /// Thread counts: the encoder refuses more than `MAX_THREADS`; the
    /// decoder takes any count (capped), and both give the same frames at
    /// every count.
    #[test]
    fn thread_counts_are_bounded_and_do_not_change_the_output() {
        let mut cfg = EncoderConfig::new(64, 48);
        cfg.nn_filter = false;
        cfg.threads = crate::cpu::MAX_THREADS + 1;
        assert!(matches!(
            Encoder::new(cfg.clone()),
            Err(Error::Config(ConfigError::Threads(257)))
        ));
        cfg.threads = 1;
        let mut enc = Encoder::new(cfg).unwrap();
        let mut frame = Frame::new_420(64, 48);
        for (i, v) in frame.planes[0].data.iter_mut().enumerate() {
            *v = (i * 7 % 251) as u16;
        }
        enc.send_frame(frame).unwrap();
        enc.flush();
        let packet = enc.receive_packet().unwrap();
        let decode = |threads| {
            let mut dec = Decoder::new(DecoderConfig {
                threads,
                ..Default::default()
            });
            dec.send_packet(&packet.data).unwrap();
            dec.flush();
            dec.receive_frame().unwrap().frame
        };
        let one = decode(1);
        assert_eq!(decode(2), one);
        assert_eq!(decode(usize::MAX), one);
    }
}
