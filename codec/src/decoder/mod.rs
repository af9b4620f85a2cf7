//! The decoder: parses packets, keeps reference pictures, reconstructs
//! frames and returns them in display order.
//!
//! Frame threading: each packet's payload is decoded by a job on the
//! decoder's thread pool, so frames that do not reference each other (the
//! upper layers of a random-access group) decode at the same time. A packet
//! whose references are still decoding waits for them before its job
//! starts; at most [`DecoderConfig::max_frame_delay`] jobs are in flight
//! when [`Decoder::send_packet`] returns. Every frame is decoded by the same
//! code from the same inputs whatever the thread count, so the output never
//! depends on it.

mod frame;

use crate::bitstream::{min_qp, read_packet_headers, FrameType, SequenceHeader, MAX_QP, NUM_SLOTS};
use crate::cpu::CpuLevel;
use crate::error::{BitstreamError, Error};
use crate::inter::{col_field, RefLists, RefPicture};
use crate::intra::{self, IntraPredictor};
use crate::loop_filter::{self, LoopFilter};
use crate::picture::{crop, Frame};
use frame::decode_frame;
use std::collections::{BTreeMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc};

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
    /// Most frames decoding at once when [`Decoder::send_packet`] returns, so
    /// the most packets a frame may come out after its own (0: the worker
    /// threads, at most 8; 1: every frame is decoded before `send_packet`
    /// returns, and its errors are reported by that call).
    pub max_frame_delay: usize,
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

/// Frames in flight by default at most, whatever the thread count: random
/// access groups rarely have more independent frames, and each holds a
/// picture's memory.
const AUTO_FRAME_DELAY: usize = 8;

/// A reference slot's picture: decoded, or still being decoded by job `id`.
#[derive(Clone)]
enum Slot {
    Ready(Arc<RefPicture>),
    Decoding(u64),
}

/// What a frame's job hands back: the picture later frames reference and the
/// frame to output.
struct Decoded {
    reference: Arc<RefPicture>,
    frame: Frame,
}

/// A job's outcome; a panic (a decoder bug) is carried to the caller's thread.
type JobResult = std::thread::Result<Result<Decoded, Error>>;

/// A frame being decoded on the pool.
struct Job {
    id: u64,
    frame_number: u32,
    result: mpsc::Receiver<JobResult>,
}

/// Decodes a Mica stream packet by packet.
pub struct Decoder {
    cpu: CpuLevel,
    sequence: Option<SequenceHeader>,
    extra_filters: Vec<Arc<LoopFilter>>,
    filter: Option<Arc<LoopFilter>>,
    extra_intra: Vec<Arc<IntraPredictor>>,
    intra: Option<Arc<IntraPredictor>>,
    slots: [Option<Slot>; NUM_SLOTS],
    /// Frames decoded and waiting for output, by frame number.
    pending: BTreeMap<u32, Frame>,
    /// Frames still decoding, oldest first.
    in_flight: VecDeque<Job>,
    next_job: u64,
    max_in_flight: usize,
    /// An error found while `receive_frame` waited for a frame, reported by
    /// the next `send_packet` or `flush`.
    deferred: Option<Error>,
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
        let pool = thread_pool(config.threads);
        let max_in_flight = match config.max_frame_delay {
            0 => pool.current_num_threads().min(AUTO_FRAME_DELAY),
            n => n,
        };
        Decoder {
            cpu,
            sequence: None,
            extra_filters: config.filters,
            filter: None,
            extra_intra: config.intra_predictors,
            intra: None,
            slots: Default::default(),
            pending: BTreeMap::new(),
            in_flight: VecDeque::new(),
            next_job: 0,
            max_in_flight,
            deferred: None,
            next_out: None,
            draining: false,
            output_source_depth: config.output_source_depth,
            pool: Arc::new(pool),
        }
    }

    /// The sequence header in force (after the first packet carrying one).
    pub fn sequence_header(&self) -> Option<&SequenceHeader> {
        self.sequence.as_ref()
    }

    /// Decodes one packet (one IVF frame). Decoded frames become available
    /// from [`Decoder::receive_frame`] in display order.
    ///
    /// The headers are checked at once; the payload is decoded on the
    /// decoder's threads. With more than one frame in flight
    /// ([`DecoderConfig::max_frame_delay`]), an error in a payload may be
    /// returned by a later call (this one, for an earlier packet, or
    /// [`Decoder::flush`]); such errors name the frame. A frame whose payload
    /// is refused is not output, and the reference slots it would have
    /// refreshed are emptied.
    pub fn send_packet(&mut self, packet: &[u8]) -> Result<(), Error> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        self.draining = false;
        self.start_packet(packet)?;
        while self.in_flight.len() >= self.max_in_flight {
            self.join_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest frame in flight.
    fn join_oldest(&mut self) -> Result<(), Error> {
        match self.in_flight.pop_front() {
            Some(job) => self.join(job),
            None => Ok(()),
        }
    }

    /// Waits for job `id` if it is still in flight.
    fn join_id(&mut self, id: u64) -> Result<(), Error> {
        match self.in_flight.iter().position(|j| j.id == id) {
            Some(i) => {
                let job = self.in_flight.remove(i).expect("a job at a found index");
                self.join(job)
            }
            None => Ok(()),
        }
    }

    /// Waits for every frame in flight; the first error is returned.
    fn join_all(&mut self) -> Result<(), Error> {
        let mut first = None;
        while let Some(job) = self.in_flight.pop_front() {
            if let Err(e) = self.join(job) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Waits for `job`, fills the slots it refreshes and queues its frame.
    fn join(&mut self, job: Job) -> Result<(), Error> {
        let outcome = job
            .result
            .recv()
            .expect("a decoding job always sends its outcome");
        let outcome = outcome.unwrap_or_else(|p| panic::resume_unwind(p));
        let decoded = outcome.as_ref().ok();
        for slot in self.slots.iter_mut() {
            if matches!(slot, Some(Slot::Decoding(id)) if *id == job.id) {
                *slot = decoded.map(|d| Slot::Ready(d.reference.clone()));
            }
        }
        let decoded = outcome?;
        self.pending.insert(job.frame_number, decoded.frame);
        Ok(())
    }

    /// Checks a packet's headers, resolves its references (waiting for
    /// those still decoding) and starts the job that decodes its payload.
    fn start_packet(&mut self, packet: &[u8]) -> Result<(), Error> {
        let headers = read_packet_headers(packet)?;
        let fh = headers.frame;
        if let Some(seq) = headers.sequence {
            // A new sequence may change the size, depth and models: finish
            // the old one first.
            self.join_all()?;
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
                // A new size or depth starts a new stream: release what is
                // held (every frame has finished decoding above).
                self.draining = true;
            }
            self.sequence = Some(seq);
        }
        let seq = self
            .sequence
            .clone()
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
        if self.pending.contains_key(&fh.frame_number)
            || self
                .in_flight
                .iter()
                .any(|j| j.frame_number == fh.frame_number)
        {
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
                    let slot = fh.ref_slots[l][i] as usize;
                    if let Some(Slot::Decoding(id)) = self.slots[slot] {
                        self.join_id(id)?;
                    }
                    let Some(Slot::Ready(r)) = self.slots[slot].clone() else {
                        return Err(BitstreamError::InvalidField {
                            field: "ref_slot",
                            value: slot as i64,
                            allowed: "a slot holding a decoded picture",
                        }
                        .into());
                    };
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
        let payload = packet[headers.payload_offset..].to_vec();
        let (cpu, filter, intra) = (self.cpu, self.filter.clone(), self.intra.clone());
        let output_source_depth = self.output_source_depth;
        let (send, result) = mpsc::channel();
        self.pool.spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                let state = decode_frame(
                    &seq,
                    &fh,
                    &payload,
                    cpu,
                    &refs,
                    &lists,
                    filter.as_deref(),
                    intra.as_ref(),
                )
                .map_err(|e| match e {
                    Error::Bitstream(b) => b.in_frame(fh.frame_number).into(),
                    e => e,
                })?;
                let col = Arc::new(col_field(&state, &lists));
                let reference = Arc::new(RefPicture::new(lists.cur_poc, &state.recon, col));
                let mut frame = crop(&state.recon, seq.width as usize, seq.height as usize);
                if output_source_depth {
                    frame = frame.with_bit_depth(seq.source_bit_depth);
                }
                Ok(Decoded { reference, frame })
            }));
            // The decoder may have been dropped: nobody waits for the frame then.
            let _ = send.send(outcome);
        });
        let id = self.next_job;
        self.next_job += 1;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if fh.refresh_slots & (1 << i) != 0 {
                *slot = Some(Slot::Decoding(id));
            }
        }
        if self.next_out.is_none() {
            self.next_out = Some(fh.frame_number);
        }
        self.in_flight.push_back(Job {
            id,
            frame_number: fh.frame_number,
            result,
        });
        Ok(())
    }

    /// Finishes every frame still decoding and releases every frame held
    /// for reordering (call at end of stream). Returns the first error of
    /// the payloads that were still decoding (or found earlier by
    /// [`Decoder::receive_frame`]); the frames decoded without error are
    /// released all the same.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.draining = true;
        let joined = self.join_all();
        match self.deferred.take() {
            Some(e) => Err(e),
            None => joined,
        }
    }

    /// The next decoded frame in display order, if one is ready.
    pub fn receive_frame(&mut self) -> Option<DecodedFrame> {
        let next = self.next_out?;
        let decoding = |d: &Decoder, n: u32| d.in_flight.iter().any(|j| j.frame_number == n);
        let held = self.pending.len() + self.in_flight.len();
        let number = if self.pending.contains_key(&next) {
            next
        } else if decoding(self, next) {
            // `send_packet` or `flush` will finish it.
            return None;
        } else if self.draining || held > MAX_PENDING {
            // End of stream, or a numbering no valid stream has: skip the
            // gap to the lowest number sent, as a decoder without frame
            // threads would, waiting for it if it is still decoding.
            let lowest = self.in_flight.iter().map(|j| j.frame_number);
            let lowest = lowest.chain(self.pending.keys().copied()).min()?;
            if let Some(job) = self.in_flight.iter().find(|j| j.frame_number == lowest) {
                let id = job.id;
                if let Err(e) = self.join_id(id) {
                    self.deferred.get_or_insert(e);
                    return self.receive_frame();
                }
            }
            lowest
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
            dec.flush().unwrap();
            dec.receive_frame().unwrap().frame
        };
        let one = decode(1);
        assert_eq!(decode(2), one);
        assert_eq!(decode(usize::MAX), one);
    }

    /// Nine frames of a moving pattern (64x48), coded as one random-access
    /// group of eight after the keyframe; packets in coding order with the
    /// encoder's reconstructions.
    fn random_access_stream() -> Vec<crate::Packet> {
        let mut cfg = EncoderConfig::new(64, 48);
        cfg.nn_filter = false;
        cfg.gop = crate::GopStructure::RandomAccess;
        cfg.gop_size = 8;
        cfg.scene_cut = false;
        cfg.threads = 1;
        let mut enc = Encoder::new(cfg).unwrap();
        for t in 0..9 {
            let mut frame = Frame::new_420(64, 48);
            for (pi, p) in frame.planes.iter_mut().enumerate() {
                let w = p.width;
                for (i, v) in p.data.iter_mut().enumerate() {
                    let (x, y) = (i % w + 2 * t, i / w + t);
                    *v = ((x * 13 + y * 7 + (x * y) / 5 + 40 * pi) % 251) as u16;
                }
            }
            enc.send_frame(frame).unwrap();
        }
        enc.flush();
        std::iter::from_fn(|| enc.receive_packet()).collect()
    }

    /// Sends every packet, then flushes; returns the frames that came out
    /// (in order) and how many calls returned an error.
    fn decode_all(
        packets: &[Vec<u8>],
        threads: usize,
        max_frame_delay: usize,
    ) -> (Vec<(u32, Frame)>, usize) {
        let mut dec = Decoder::new(DecoderConfig {
            threads,
            max_frame_delay,
            ..Default::default()
        });
        let (mut out, mut errors) = (Vec::new(), 0);
        for p in packets {
            errors += dec.send_packet(p).is_err() as usize;
            out.extend(std::iter::from_fn(|| dec.receive_frame()));
        }
        errors += dec.flush().is_err() as usize;
        out.extend(std::iter::from_fn(|| dec.receive_frame()));
        let out = out.into_iter().map(|d| (d.frame_number, d.frame)).collect();
        (out, errors)
    }

    /// Frames decoded in parallel come out as the encoder reconstructed
    /// them, in display order, at every thread count and frame delay; with
    /// a delay above one, frames do leave `send_packet` still decoding.
    #[test]
    fn frame_threads_give_the_encoders_frames_in_order() {
        let stream = random_access_stream();
        assert!(stream.len() == 9 && stream[1].frame_number == 8);
        let packets: Vec<Vec<u8>> = stream.iter().map(|p| p.data.clone()).collect();
        let want: Vec<(u32, Frame)> = (0..9)
            .map(|n| {
                let p = stream.iter().find(|p| p.frame_number == n).unwrap();
                (n, p.recon.clone())
            })
            .collect();
        for (threads, delay) in [(1, 1), (2, 0), (2, 2), (3, 8), (4, 3)] {
            assert_eq!(
                decode_all(&packets, threads, delay),
                (want.clone(), 0),
                "threads {threads}, delay {delay}"
            );
        }
        let mut dec = Decoder::new(DecoderConfig {
            threads: 2,
            max_frame_delay: 4,
            ..Default::default()
        });
        for p in &packets[..4] {
            dec.send_packet(p).unwrap();
        }
        assert!(
            !dec.in_flight.is_empty(),
            "a delay of 4 keeps frames in flight"
        );
        assert!(dec.in_flight.len() < 4);
    }

    /// A payload that cannot be decoded is reported (at once with a delay of
    /// one, by some later call otherwise), its frame is not output, the
    /// frames that reference it are refused, and every frame that is output
    /// is the encoder's.
    #[test]
    fn frame_threads_report_a_broken_payload_and_empty_its_slots() {
        let stream = random_access_stream();
        let mut packets: Vec<Vec<u8>> = stream.iter().map(|p| p.data.clone()).collect();
        // Frame 8 (second in coding order) loses the end of its payload;
        // frames 4 and 2 reference it.
        let cut = packets[1].len() - 3;
        packets[1].truncate(cut);
        let mut dec = Decoder::new(DecoderConfig {
            threads: 1,
            max_frame_delay: 1,
            ..Default::default()
        });
        dec.send_packet(&packets[0]).unwrap();
        let err = dec.send_packet(&packets[1]).unwrap_err().to_string();
        assert!(err.starts_with("invalid bitstream: frame 8: "), "{err}");
        let err = dec.send_packet(&packets[2]).unwrap_err().to_string();
        assert!(err.contains("ref_slot"), "{err}");
        let recon = |n: u32| &stream.iter().find(|p| p.frame_number == n).unwrap().recon;
        let (serial, errors) = decode_all(&packets, 1, 1);
        assert!(errors >= 2 && !serial.is_empty());
        assert!(serial.iter().all(|(n, f)| *n != 8 && f == recon(*n)));
        for (threads, delay) in [(2, 0), (2, 4), (4, 8)] {
            let (out, errors) = decode_all(&packets, threads, delay);
            assert!(errors >= 1, "threads {threads}, delay {delay}");
            assert_eq!(out, serial, "threads {threads}, delay {delay}");
        }
    }
}
