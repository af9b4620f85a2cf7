//! Rate control: the base QP of each frame chosen to meet a target bit
//! rate, in one pass (a model of bits against QP per kind of frame, learnt
//! from the frames coded) or in a second pass (every frame's bits at the
//! first pass's QPs, corrected per kind by the frames coded); or constant
//! quality (one base QP, fractional levels averaged); either within a
//! leaky-bucket buffer ([`BufferModel`]) where one is given.
//!
//! The controller only moves the *base* QP from which each frame's QP
//! follows as in fixed-QP coding (temporal layer, lookahead offsets), so the
//! QP structure that fixed-QP coding measured best is kept, and the rate
//! moves through it. Its state changes only between the batches of frames
//! the encoder codes together, from the coded sizes, so the QPs (and the
//! stream) do not depend on the thread count.

use crate::bitstream::{min_qp, MAX_QP};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// QP steps over which a frame's bits halve. Measured on the four test
/// clips between QP 27 and 37 (medium, fixed QP): 5.0-6.4; the controller
/// corrects the remaining error from the frames it codes.
const QP_PER_HALVING: f64 = 5.5;

/// How the encoder chooses each frame's QP.
#[derive(Clone, Debug, Default)]
pub enum RateControl {
    /// Every frame's QP follows [`crate::EncoderConfig::qp`] (with its
    /// temporal layer's offset and the lookahead's).
    #[default]
    ConstantQp,
    /// Constant quality: every frame coded from base QP `crf` (which may be
    /// fractional: the frames' integer base QPs average it) with the
    /// temporal layers' and the lookahead's offsets, as fixed QP codes; the
    /// difference is that a [`BufferModel`] may cap it (the QP rises where
    /// the buffer would run dry, "capped CRF").
    ConstantQuality {
        /// The base QP to code at, `min_qp..=51` for the coded depth.
        crf: f64,
    },
    /// A target bit rate in kbit/s (over the frame rate of the
    /// configuration): one pass when `first_pass` is `None`, else the
    /// second pass of two, with the first pass's statistics. One pass is
    /// approximate so far (-1.4 % to +112 % off the target on the 48-60
    /// frame test clips, over-spending on their first keyframe and groups);
    /// the second pass within 0.8 % at 100-3000 kbit/s (`docs/results.md`).
    Bitrate {
        /// Target in kbit/s.
        kbps: f64,
        /// What a first pass measured, for a second pass.
        first_pass: Option<Arc<FirstPassStats>>,
    },
}

/// What a first pass measured: each frame's coded size at one or more base
/// QPs (the command-line tools code the first pass at two, which gives
/// every frame its own slope of bits against QP). Built from the first
/// pass's packets ([`FirstPassStats::record`]); saved and read back by the
/// command-line tools.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstPassStats {
    /// By display frame number.
    frames: BTreeMap<u32, FirstPassFrame>,
}

/// A leaky-bucket constraint for streaming (the VBR hypothetical decoder
/// buffer of H.264 Annex C): the decoder's buffer of `size_kbits` fills at
/// `max_kbps` until full, starts `initial_fullness` full, and each frame's
/// bits leave it at the frame's decoding time, one frame interval apart in
/// coding order. The encoder plans QPs to keep each frame within half of
/// what the buffer will hold, and codes a frame again from a higher base
/// QP where it would still take more than the buffer holds. A frame too
/// large even from base QP 51 is output with a negative
/// [`crate::Packet::buffer_level`]: callers must check it (`micaenc` stops
/// with an error). A buffer already full stops filling (VBR), so it cannot
/// overflow. Only with a rate-controlled mode ([`RateControl::Bitrate`] or
/// [`RateControl::ConstantQuality`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BufferModel {
    /// The rate the buffer fills at, kbit/s ([`crate::MIN_KBPS`]..=[`crate::MAX_KBPS`]).
    pub max_kbps: f64,
    /// The buffer's size, kbit: at least one frame interval's filling.
    pub size_kbits: f64,
    /// How full the buffer is when the first frame leaves it, a fraction
    /// in (0, 1] (x264's default, 0.9, is the command line's).
    pub initial_fullness: f64,
}

impl BufferModel {
    /// What is wrong with the model at `fps` frames per second, if anything.
    pub(crate) fn problem(&self, fps: f64) -> Option<String> {
        if !(super::MIN_KBPS..=super::MAX_KBPS).contains(&self.max_kbps) {
            return Some(format!(
                "maximum rate {} kbit/s is out of range: valid rates are 1..=1000000 kbit/s",
                self.max_kbps
            ));
        }
        let per_frame = self.max_kbps / fps;
        if !(self.size_kbits >= per_frame && self.size_kbits <= 3600.0 * self.max_kbps) {
            return Some(format!(
                "size {} kbit is out of range: at {} kbit/s and {fps:.3} frames/s it must be \
                 {per_frame:.3}..={} kbit (a frame interval's filling to an hour's)",
                self.size_kbits,
                self.max_kbps,
                3600.0 * self.max_kbps
            ));
        }
        if !(self.initial_fullness > 0.0 && self.initial_fullness <= 1.0) {
            return Some(format!(
                "initial fullness {} is out of range: valid fractions are above 0 and at most 1",
                self.initial_fullness
            ));
        }
        None
    }
}

/// The buffer's state as frames leave it, in bits.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    size: f64,
    per_frame: f64,
    level: f64,
}

impl Bucket {
    pub(crate) fn new(model: &BufferModel, fps: f64) -> Bucket {
        Bucket {
            size: model.size_kbits * 1000.0,
            per_frame: model.max_kbps * 1000.0 / fps,
            level: model.initial_fullness * model.size_kbits * 1000.0,
        }
    }

    /// The bits the next frame may take.
    pub(crate) fn room(&self) -> f64 {
        self.level
    }

    /// The next frame leaves with `bits` bits; the buffer then fills for a
    /// frame interval. Returns the level just after the frame left
    /// (negative: it underflowed).
    pub(crate) fn take(&mut self, bits: u64) -> f64 {
        let after = self.level - bits as f64;
        self.level = (after.max(0.0) + self.per_frame).min(self.size);
        after
    }
}

/// One frame of a first pass: its kind and its bits at each base QP it was
/// coded from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstPassFrame {
    /// 0 for keyframes, else 1 + temporal layer ([`crate::Packet::kind`]):
    /// a second pass corrects each kind's predictions apart, since the
    /// first pass's fast preset and the second's differ more on some kinds
    /// (on city at base QP 20, medium's deepest layers took 0.62 of what
    /// the fast first pass predicted, its keyframe 1.18).
    pub kind: u8,
    /// (base QP, bits), by QP.
    pub points: Vec<(i8, u64)>,
}

/// The flattest and steepest slopes a frame's bits may have against QP
/// (QP steps per halving): beyond them a measured slope is noise.
const SLOPE_LIMITS: (f64, f64) = (3.0, 12.0);

impl FirstPassFrame {
    /// The frame's predicted bits at base QP `qp`: log-linear between the
    /// two points around it (from the nearest two beyond them: at least as
    /// steep as the default law there), at [`QP_PER_HALVING`] with one point.
    pub fn bits_at(&self, qp: f64) -> f64 {
        let log = |b: u64| (b.max(1) as f64).log2();
        let points = self.points.as_slice();
        match points {
            [] => 0.0,
            [(q, b)] => bits_at(*b as f64, *q as f64, qp),
            _ => {
                // The segment around `qp` (or the end segment nearer it).
                let i = points
                    .windows(2)
                    .position(|w| qp <= f64::from(w[1].0))
                    .unwrap_or(points.len() - 2);
                let (first, last) = (points[i], points[i + 1]);
                let (qa, la) = (first.0 as f64, log(first.1));
                let (qb, lb) = (last.0 as f64, log(last.1));
                // QP steps per halving, within the limits.
                let per_halving =
                    ((qb - qa) / (la - lb).max(1e-9)).clamp(SLOPE_LIMITS.0, SLOPE_LIMITS.1);
                // From the nearer point; beyond the points at least as
                // steep as the default law (a frame nearly all skipped
                // between them may code residuals further down).
                let (q0, l0) = if (qp - qa).abs() <= (qp - qb).abs() {
                    (qa, la)
                } else {
                    (qb, lb)
                };
                let outside =
                    qp < f64::from(points[0].0) || qp > f64::from(points[points.len() - 1].0);
                let per_halving = if outside {
                    per_halving.min(QP_PER_HALVING)
                } else {
                    per_halving
                };
                (l0 - (qp - q0) / per_halving).exp2()
            }
        }
    }
}

impl FirstPassStats {
    /// Records that frame `frame_number` of kind `kind` (0 for keyframes,
    /// else 1 + temporal layer), coded from base QP `base_qp`, took `bits`
    /// bits (a second record at the same QP replaces the first; the kind is
    /// the last recorded).
    pub fn record(&mut self, frame_number: u32, kind: u8, base_qp: i8, bits: u64) {
        let frame = self.frames.entry(frame_number).or_default();
        frame.kind = kind;
        frame.points.retain(|p| p.0 != base_qp);
        frame.points.push((base_qp, bits));
        frame.points.sort_unstable();
    }

    /// Records a first-pass packet.
    pub fn record_packet(&mut self, packet: &super::Packet) {
        self.record(
            packet.frame_number,
            packet.kind(),
            packet.base_qp,
            packet.data.len() as u64 * 8,
        );
    }

    /// The base QPs a first pass codes at for a target of `kbps` at `fps`
    /// frames per second, `luma_samples` per frame, coding `bit_depth`
    /// bits: where a clip of middling detail meets the target and ten
    /// either side, so that the second pass interpolates each frame's bits
    /// rather than extrapolating them. Content moves where a target lands by
    /// more than the six either side first tried: box, the plainest of the
    /// four test clips, codes 0.023 bits per luma sample per frame at base
    /// QP 30 with the fast preset, city, the most detailed, 0.069 (the
    /// middle taken is 0.04, at about 5 QP steps per halving), and the near
    /// static cup needed base QP 32 where the estimate was 45. (The middle
    /// point also follows each frame's curvature.)
    pub fn qps_for(kbps: f64, fps: f64, luma_samples: usize, bit_depth: u8) -> [i8; 3] {
        let per_sample = kbps * 1000.0 / fps / luma_samples.max(1) as f64;
        let centre = 30.0 - 5.0 * (per_sample / 0.04).log2();
        let lowest = f64::from(min_qp(bit_depth));
        let centre = if centre.is_nan() { 30.0 } else { centre };
        let centre = centre
            .clamp(lowest + 10.0, f64::from(MAX_QP) - 10.0)
            .round() as i8;
        [centre - 10, centre, centre + 10]
    }

    /// The frames recorded, by display number.
    pub fn frames(&self) -> impl Iterator<Item = (u32, &FirstPassFrame)> + '_ {
        self.frames.iter().map(|(&n, f)| (n, f))
    }

    /// How many frames were recorded.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame was recorded.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The QP steps (at least one) by which to raise a frame of `bits` bits
/// that must fit in `room` bits, aiming a tenth below it.
pub(crate) fn qp_raise_to_fit(bits: f64, room: f64) -> i8 {
    (QP_PER_HALVING * (bits / (0.9 * room.max(1.0))).log2())
        .ceil()
        .clamp(1.0, f64::from(MAX_QP)) as i8
}

/// A frame's bits at base QP `qp`, from its bits at base QP `at` (the
/// model's exponential law).
fn bits_at(bits: f64, at: f64, qp: f64) -> f64 {
    bits * (-(qp - at) / QP_PER_HALVING).exp2()
}

/// The base QP at which `bits_at_reference` (bits at base QP `reference`)
/// would become `budget`.
fn qp_for(bits_at_reference: f64, reference: f64, budget: f64) -> f64 {
    reference + QP_PER_HALVING * (bits_at_reference / budget.max(1.0)).log2()
}

/// Kinds of frame whose bits one pass models apart: keyframes, then the
/// temporal layers 0..=4 (deeper as 4).
const KINDS: usize = 6;

/// One pass's prior bits per luma sample at base QP 32, by kind, in the
/// ratios a random-access group of moderate motion has (box, medium): a
/// kind not coded yet is predicted from these scaled by how the frames
/// coded so far compare with them, then from its own frames.
const PRIOR_BITS_PER_SAMPLE_AT_32: [f64; KINDS] = [0.25, 0.09, 0.045, 0.012, 0.004, 0.002];

/// The rate controller's state.
#[derive(Clone, Debug)]
pub(crate) struct RateController {
    /// Bits per frame the target allows.
    per_frame: f64,
    first_pass: Option<Arc<FirstPassStats>>,
    /// Frames coded, their bits and the bits the model predicted for them,
    /// in all and by kind (with how many frames of each kind).
    coded: BTreeSet<u32>,
    spent: f64,
    predicted: f64,
    spent_by_kind: [f64; KINDS],
    predicted_by_kind: [f64; KINDS],
    coded_by_kind: [u32; KINDS],
    /// The base QP of the next batch (real-valued), and the rounding error
    /// carried from frame to frame so that the base QPs average it.
    base: f64,
    carry: f64,
    /// One pass: per kind, bits per luma sample at base QP 32 (learnt) and
    /// how many frames taught it.
    per_sample: [f64; KINDS],
    taught: [u32; KINDS],
    /// One pass: bits of the frames coded, and the priors' prediction of them.
    prior_seen: f64,
    prior_predicted: f64,
    /// One pass: luma samples per frame.
    samples: f64,
    bit_depth: u8,
    /// One pass: frames ahead the budget is planned over (two seconds, at
    /// least 32).
    horizon: f64,
    /// Constant quality: the base QP every frame is coded from (no target).
    quality: Option<f64>,
    /// The leaky bucket, where the stream has one.
    bucket: Option<Bucket>,
    /// The bits predicted for frames given a base QP and not coded yet
    /// (the batch being planned), which the bucket will lose.
    planned: Vec<f64>,
    /// Second pass: the first-pass frames not coded yet, their predicted
    /// bits summed on a grid of base QPs (kept up to date as frames are
    /// coded, so that planning a batch does not revisit every frame).
    rest: Option<RestOfStream>,
}

/// The predicted bits of the frames a second pass has still to code, summed
/// at every [`RestOfStream::STEP`] of base QP from the lowest QP to
/// [`MAX_QP`]: O(grid) to update per frame and to solve, where summing the
/// frames for each step of the solver would be quadratic in the stream's
/// length.
#[derive(Clone, Debug)]
struct RestOfStream {
    lowest: f64,
    /// By kind, by grid point.
    sums: [Vec<f64>; KINDS],
    frames: usize,
}

impl RestOfStream {
    /// Grid spacing in QP steps: the sum of the frames' log-linear curves
    /// is log-convex, so interpolating its logarithm linearly over an
    /// eighth of a QP step is off by far less than the model is.
    const STEP: f64 = 0.125;

    fn new(stats: &FirstPassStats, bit_depth: u8) -> RestOfStream {
        let lowest = f64::from(min_qp(bit_depth));
        let points = ((f64::from(MAX_QP) - lowest) / Self::STEP).round() as usize + 1;
        let mut rest = RestOfStream {
            lowest,
            sums: std::array::from_fn(|_| vec![0.0; points]),
            frames: 0,
        };
        for frame in stats.frames.values() {
            rest.change(frame, 1.0);
        }
        rest
    }

    fn qp_at(&self, i: usize) -> f64 {
        self.lowest + i as f64 * Self::STEP
    }

    /// Adds (`sign` 1) or removes (-1) a frame's curve.
    fn change(&mut self, frame: &FirstPassFrame, sign: f64) {
        let k = usize::from(frame.kind).min(KINDS - 1);
        for i in 0..self.sums[k].len() {
            let bits = frame.bits_at(self.qp_at(i));
            self.sums[k][i] = (self.sums[k][i] + sign * bits).max(0.0);
        }
        if sign > 0.0 {
            self.frames += 1;
        } else {
            self.frames = self.frames.saturating_sub(1);
        }
    }

    /// Removes a coded frame's curve.
    fn remove(&mut self, frame: &FirstPassFrame) {
        self.change(frame, -1.0);
    }

    /// The predicted bits of the frames of kind `k` at base QP `qp`
    /// (within the grid).
    fn bits_at(&self, k: usize, qp: f64) -> f64 {
        let sums = &self.sums[k];
        if sums.iter().all(|&s| s == 0.0) {
            return 0.0;
        }
        let x = ((qp - self.lowest) / Self::STEP).clamp(0.0, (sums.len() - 1) as f64);
        let i = (x.floor() as usize).min(sums.len() - 2);
        let t = x - i as f64;
        let log = |b: f64| b.max(1e-9).ln();
        ((1.0 - t) * log(sums[i]) + t * log(sums[i + 1])).exp()
    }
}

/// The most a base QP moves from one batch to the next in one pass (a
/// misjudged first batch must not swing the QP).
const ONE_PASS_MAX_STEP: f64 = 2.0;

/// The same in a second pass, whose model is good: the last frames are few
/// and cheap, and must not take a large error at a QP far from the rest.
const SECOND_PASS_MAX_STEP: f64 = 1.0;

/// The share of the bits in the buffer that one frame is planned to take at
/// most: a frame predicted to take more is planned at a higher QP. (A frame
/// that still comes out larger than the buffer holds is coded again.)
const BUFFER_SHARE_PER_FRAME: f64 = 0.5;

impl RateController {
    /// A controller for `rate` (not fixed QP) at `fps` frames per second,
    /// `samples` luma samples per frame, with `buffer` if given.
    pub(crate) fn new(
        rate: &RateControl,
        buffer: Option<&BufferModel>,
        fps: f64,
        samples: usize,
        bit_depth: u8,
    ) -> RateController {
        let (kbps, first_pass, quality) = match rate {
            // (Fixed QP builds no controller; were one asked for, it
            // would code at the default QP.)
            RateControl::ConstantQp => (0.0, None, Some(32.0)),
            RateControl::ConstantQuality { crf } => (0.0, None, Some(*crf)),
            RateControl::Bitrate { kbps, first_pass } => (*kbps, first_pass.clone(), None),
        };
        let mut rc = RateController {
            per_frame: kbps * 1000.0 / fps,
            first_pass,
            quality,
            bucket: buffer.map(|b| Bucket::new(b, fps)),
            planned: Vec::new(),
            coded: BTreeSet::new(),
            spent: 0.0,
            predicted: 0.0,
            spent_by_kind: [0.0; KINDS],
            predicted_by_kind: [0.0; KINDS],
            coded_by_kind: [0; KINDS],
            base: 32.0,
            carry: 0.0,
            per_sample: PRIOR_BITS_PER_SAMPLE_AT_32,
            taught: [0; KINDS],
            prior_seen: 0.0,
            prior_predicted: 0.0,
            samples: samples as f64,
            bit_depth,
            horizon: 32.0,
            rest: None,
        };
        rc.rest = rc
            .first_pass
            .as_ref()
            .map(|stats| RestOfStream::new(stats, bit_depth));
        rc.base = rc.next_base();
        rc
    }

    /// The base QP for frame `number` of kind `kind` (0 for keyframes, else
    /// 1 + temporal layer), planned next: rounded so that the frames' base
    /// QPs average the controller's real-valued one, and raised where the
    /// frame is predicted to take more than its share of the buffer.
    pub(crate) fn frame_base_qp(&mut self, number: u32, kind: usize) -> i8 {
        let want = self.base + self.carry;
        let mut qp = want
            .round()
            .clamp(min_qp(self.bit_depth) as f64, MAX_QP as f64);
        self.carry = (want - qp).clamp(-1.0, 1.0);
        if let Some(bucket) = &self.bucket {
            // The level when this frame leaves: the planned frames before
            // it leave first, each followed by a frame interval's filling.
            let level = self.planned.iter().fold(bucket.level, |level, bits| {
                ((level - bits).max(0.0) + bucket.per_frame).min(bucket.size)
            });
            let cap = BUFFER_SHARE_PER_FRAME * level;
            while qp < MAX_QP as f64 && self.expected_bits(number, kind, qp) > cap {
                qp += 1.0;
            }
            self.planned.push(self.expected_bits(number, kind, qp));
        }
        qp as i8
    }

    /// The bits frame `number` of kind `kind` is expected to take at base QP
    /// `base` (a second pass's prediction corrected by the frames coded).
    fn expected_bits(&self, number: u32, kind: usize, base: f64) -> f64 {
        let bits = self.predict(number, kind, base);
        if self.first_pass.is_some() {
            bits * self.kind_correction(kind.min(KINDS - 1))
        } else {
            bits
        }
    }

    /// The bits the next frame to leave the buffer may take, if there is one.
    pub(crate) fn buffer_room(&self) -> Option<f64> {
        self.bucket.as_ref().map(Bucket::room)
    }

    /// The next frame in coding order leaves the buffer with `bits` bits:
    /// the level just after (negative if it underflowed), if there is one.
    pub(crate) fn leave_buffer(&mut self, bits: u64) -> Option<f64> {
        self.bucket.as_mut().map(|b| b.take(bits))
    }

    /// The base QP the controller aims at now, rounded (for the lookahead's
    /// QP-dependent settings).
    pub(crate) fn nominal_base_qp(&self) -> i8 {
        self.base
            .round()
            .clamp(min_qp(self.bit_depth) as f64, MAX_QP as f64) as i8
    }

    /// Takes in a coded batch: each frame's display number, kind (0 for
    /// keyframes, else 1 + temporal layer), base QP and bits; then sets the
    /// base QP of the next batch.
    pub(crate) fn coded(&mut self, frames: &[(u32, usize, i8, u64)]) {
        for &(number, kind, base, bits) in frames {
            if self.coded.insert(number) {
                let frame = self.first_pass.as_ref().and_then(|s| s.frames.get(&number));
                if let (Some(rest), Some(frame)) = (self.rest.as_mut(), frame) {
                    rest.remove(frame);
                }
            }
            self.spent += bits as f64;
            if self.quality.is_none() {
                let predicted = self.predict(number, kind, base as f64);
                let k = kind.min(KINDS - 1);
                self.predicted += predicted;
                self.spent_by_kind[k] += bits as f64;
                self.predicted_by_kind[k] += predicted;
                self.coded_by_kind[k] += 1;
            }
            if self.first_pass.is_none() {
                // Learn the kind's bits per sample at 32 (a running mean
                // over the first frames, then a slow average).
                let k = kind.min(KINDS - 1);
                let seen = bits_at(bits as f64, base as f64, 32.0) / self.samples;
                self.prior_seen += seen;
                self.prior_predicted += PRIOR_BITS_PER_SAMPLE_AT_32[k];
                self.taught[k] += 1;
                let weight = 1.0 / f64::from(self.taught[k].min(8));
                self.per_sample[k] += weight * (seen - self.per_sample[k]);
            }
        }
        self.planned.clear();
        if let Some(quality) = self.quality {
            self.base = quality;
            return;
        }
        let next = self.next_base();
        let step = if self.first_pass.is_none() {
            ONE_PASS_MAX_STEP
        } else {
            SECOND_PASS_MAX_STEP
        };
        let next = next.clamp(self.base - step, self.base + step);
        self.base = next;
    }

    /// The model's bits for frame `number` of kind `kind` at base QP `base`.
    fn predict(&self, number: u32, kind: usize, base: f64) -> f64 {
        match &self.first_pass {
            Some(stats) => stats
                .frames
                .get(&number)
                .map_or(self.per_frame, |f| f.bits_at(base)),
            None => bits_at(self.kind_per_sample(kind.min(KINDS - 1)), 32.0, base) * self.samples,
        }
    }

    /// One pass: the share of each kind among the frames that are not
    /// keyframes, as coded so far (a group of 32's shares count as eight
    /// frames before that).
    fn kind_mix(&self) -> [f64; KINDS] {
        let prior = [0.0, 1.0, 1.0, 2.0, 4.0, 24.0].map(|n| n / 32.0);
        let counted: u32 = self.taught[1..].iter().sum();
        let weight = 8.0;
        let mut mix = [0.0; KINDS];
        for k in 1..KINDS {
            mix[k] =
                (f64::from(self.taught[k]) + weight * prior[k]) / (f64::from(counted) + weight);
        }
        mix
    }

    /// One pass: a kind's bits per sample at base QP 32, learnt, or its
    /// prior scaled as the frames coded so far compare with theirs.
    fn kind_per_sample(&self, k: usize) -> f64 {
        if self.taught[k] > 0 {
            self.per_sample[k]
        } else if self.prior_predicted > 0.0 {
            PRIOR_BITS_PER_SAMPLE_AT_32[k] * self.prior_seen / self.prior_predicted
        } else {
            PRIOR_BITS_PER_SAMPLE_AT_32[k]
        }
    }

    /// How far the coded frames' bits are from the model's, as a factor on
    /// its predictions (damped by a prior of a few frames at 1).
    fn correction(&self) -> f64 {
        let prior = 3.0 * self.per_frame;
        (self.spent + prior) / (self.predicted + prior)
    }

    /// A second pass's correction for frames of kind `k`: its own frames'
    /// ratio of coded to predicted bits, pulled towards the stream's
    /// correction by a prior worth two of its frames.
    fn kind_correction(&self, k: usize) -> f64 {
        let whole = self.correction();
        let count = self.coded_by_kind[k];
        if count == 0 {
            return whole;
        }
        let prior = 2.0 * self.predicted_by_kind[k] / f64::from(count);
        (self.spent_by_kind[k] + prior * whole) / (self.predicted_by_kind[k] + prior)
    }

    /// The base QP that spends what is left of the budget on what is left
    /// (constant quality: its QP).
    fn next_base(&self) -> f64 {
        if let Some(quality) = self.quality {
            return quality;
        }
        match &self.first_pass {
            Some(stats) => {
                let total = self.per_frame * stats.frames.len() as f64;
                let left = (total - self.spent).max(0.1 * self.per_frame);
                let Some(rest) = self.rest.as_ref().filter(|r| r.frames > 0) else {
                    return self.base;
                };
                // The base QP where the rest's corrected bits meet what is
                // left (they fall as the QP rises): bisection.
                let corrections: [f64; KINDS] = std::array::from_fn(|k| self.kind_correction(k));
                let bits = |qp: f64| -> f64 {
                    (0..KINDS)
                        .map(|k| corrections[k] * rest.bits_at(k, qp))
                        .sum()
                };
                let (mut lo, mut hi) = (min_qp(self.bit_depth) as f64, MAX_QP as f64);
                for _ in 0..40 {
                    let mid = 0.5 * (lo + hi);
                    if bits(mid) > left {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                0.5 * (lo + hi)
            }
            None => {
                // The next `horizon` frames in the mix of kinds a group of
                // 32 has (mostly the deepest layers; the stream's first
                // keyframe too before anything is coded), against their
                // budget with what was over- or under-spent spread over them.
                let mix = self.kind_mix();
                let horizon = self.horizon;
                let key = if self.coded.is_empty() { 1.0 } else { 0.0 };
                let at_32: f64 = (0..KINDS)
                    .map(|k| {
                        let count = if k == 0 {
                            key
                        } else {
                            mix[k] * (horizon - key)
                        };
                        count * self.kind_per_sample(k) * self.samples
                    })
                    .sum();
                let debt = self.coded.len() as f64 * self.per_frame - self.spent;
                let budget = (horizon * self.per_frame + debt).max(0.2 * horizon * self.per_frame);
                qp_for(at_32, 32.0, budget)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bit-rate controller at 8 bits without a buffer.
    fn controller(
        kbps: f64,
        fps: f64,
        stats: Option<FirstPassStats>,
        samples: usize,
    ) -> RateController {
        let rate = RateControl::Bitrate {
            kbps,
            first_pass: stats.map(Arc::new),
        };
        RateController::new(&rate, None, fps, samples, 8)
    }

    /// A second pass over frames whose bits follow the model exactly aims
    /// its first base QP where the total meets the target.
    #[test]
    fn second_pass_solves_the_model() {
        let mut stats = FirstPassStats::default();
        for n in 0..10 {
            stats.record(n, 1, 30, 10_000);
        }
        // 100 kbit in 10 frames at QP 30; a target of half: 5.5 QP higher.
        let rc = controller(50.0, 10.0, Some(stats), 64 * 64);
        assert!(
            (rc.base - (30.0 + QP_PER_HALVING)).abs() < 1e-9,
            "{}",
            rc.base
        );
    }

    /// A frame's bits pass through its points, follow the segment around a
    /// QP between them, and beyond them the end segment's slope (at least
    /// the default law's).
    #[test]
    fn bits_between_and_beyond_three_points() {
        let mut stats = FirstPassStats::default();
        // 8000 bits at 20, 2000 at 30 (5 QP per halving), 1000 at 40 (10).
        for (qp, bits) in [(30, 2_000), (20, 8_000), (40, 1_000)] {
            stats.record(7, 2, qp, bits);
        }
        let f = &stats.frames[&7];
        assert_eq!(f.points, vec![(20, 8_000), (30, 2_000), (40, 1_000)]);
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-9;
        for (qp, bits) in [(20.0, 8_000.0), (30.0, 2_000.0), (40.0, 1_000.0)] {
            assert!(close(f.bits_at(qp), bits), "{qp}");
        }
        assert!(close(f.bits_at(25.0), 4_000.0));
        assert!(close(f.bits_at(35.0), 2_000.0 / 2f64.sqrt()));
        assert!(close(f.bits_at(15.0), 16_000.0));
        // Beyond 40: the last segment's 10 QP per halving, steepened to 5.5.
        assert!(close(f.bits_at(45.5), 500.0));
    }

    /// The grid of the rest of the stream agrees with summing its frames
    /// directly, also between grid points and after frames are removed.
    #[test]
    fn rest_of_stream_matches_the_direct_sum() {
        let mut stats = FirstPassStats::default();
        for n in 0..50u32 {
            let bits = 2_000 + u64::from(n * 7919 % 60_000);
            stats.record(n, (n % 7) as u8, 24, bits * 4 + u64::from(n % 5) * 1_000);
            stats.record(n, (n % 7) as u8, 36, bits / (1 + u64::from(n % 3)));
        }
        let mut rest = RestOfStream::new(&stats, 10);
        let direct = |from: u32, qp: f64| -> f64 {
            stats
                .frames()
                .filter(|(n, _)| *n >= from)
                .map(|(_, f)| f.bits_at(qp))
                .sum()
        };
        let mut gone = 0;
        for removed in [0u32, 20, 49] {
            for n in gone..removed {
                rest.remove(&stats.frames[&n]);
            }
            gone = removed;
            assert_eq!(rest.frames, 50 - removed as usize);
            for qp in [-12.0, -3.3, 0.0, 17.06, 24.0, 29.99, 36.5, 44.2, 51.0] {
                let grid: f64 = (0..KINDS).map(|k| rest.bits_at(k, qp)).sum();
                let sum = direct(removed, qp);
                assert!(
                    (grid / sum - 1.0).abs() < 1e-3,
                    "{removed} {qp}: {grid} {sum}"
                );
            }
        }
    }

    /// Frames that come out larger than the model said raise the QP of the
    /// rest; the rounded base QPs average the real-valued one.
    #[test]
    fn overspending_raises_the_qp_and_rounding_averages() {
        let mut stats = FirstPassStats::default();
        for n in 0..20 {
            stats.record(n, 1, 32, 8_000);
        }
        let mut rc = controller(80.0, 10.0, Some(stats), 64 * 64);
        let start = rc.base;
        let (sum, n) = (0..4).fold((0i32, 0), |(s, n), _| {
            (s + rc.frame_base_qp(n, 1) as i32, n + 1)
        });
        assert!((sum as f64 / n as f64 - start).abs() <= 0.25 + 1e-9);
        rc.coded(&[(0, 0, 32, 16_000), (1, 1, 32, 16_000)]);
        assert!(rc.base > start + 0.5, "{start} -> {}", rc.base);
    }

    /// One pass learns each kind's bits and converges on the target: a
    /// synthetic encoder whose frames cost three times the priors, coded as
    /// a keyframe then groups of eight in layer order.
    #[test]
    fn one_pass_learns_and_converges() {
        let samples = 640 * 480;
        let mut rc = controller(500.0, 25.0, None, samples);
        let cost = |kind: usize, qp: i8| {
            let per_sample = 3.0 * PRIOR_BITS_PER_SAMPLE_AT_32[kind];
            bits_at(per_sample * samples as f64, 32.0, qp as f64) as u64
        };
        let qp = rc.frame_base_qp(0, 0);
        let mut total = cost(0, qp);
        rc.coded(&[(0, 0, qp, total)]);
        // Layers of a group of 8: anchor, 1, 2 (two), 3 (four).
        let batches: [&[usize]; 4] = [&[1], &[2], &[3, 3], &[4, 4, 4, 4]];
        let mut number = 1;
        let mut last_group = 0;
        for group in 0..24 {
            let before = total;
            for kinds in batches {
                let batch: Vec<(u32, usize, i8, u64)> = kinds
                    .iter()
                    .map(|&k| {
                        let qp = rc.frame_base_qp(number + 1, k);
                        number += 1;
                        (number, k, qp, cost(k, qp))
                    })
                    .collect();
                total += batch.iter().map(|b| b.3).sum::<u64>();
                rc.coded(&batch);
            }
            if group == 23 {
                last_group = total - before;
            }
        }
        // The last group alone, and the whole stream, near the target.
        let group_rate = last_group as f64 / 8.0 * 25.0 / 1000.0;
        assert!(
            (group_rate / 500.0 - 1.0).abs() < 0.1,
            "{group_rate} kbit/s"
        );
        let rate = total as f64 / (1.0 + 24.0 * 8.0) * 25.0 / 1000.0;
        assert!((rate / 500.0 - 1.0).abs() < 0.1, "{rate} kbit/s");
    }

    /// Constant quality codes at its level, its fractional part averaged;
    /// a buffer raises the QP of the frames predicted to take more than their
    /// share of it, and only those.
    #[test]
    fn constant_quality_capped_by_a_buffer() {
        let samples = 640 * 480;
        let quality = RateControl::ConstantQuality { crf: 27.25 };
        let mut free = RateController::new(&quality, None, 25.0, samples, 8);
        let qps: Vec<i8> = (0..8).map(|n| free.frame_base_qp(n, 5)).collect();
        let mean = qps.iter().map(|&q| f64::from(q)).sum::<f64>() / 8.0;
        assert!((mean - 27.25).abs() < 1e-9, "{qps:?}");
        // A 500 kbit/s buffer of 200 kbit, 90 % full: a keyframe at the
        // prior's 0.25 bits per sample at QP 32 (77 kbit) fits its half at
        // 27 only if smaller: the QP rises; a deep-layer frame's does not.
        let buffer = BufferModel {
            max_kbps: 500.0,
            size_kbits: 200.0,
            initial_fullness: 0.9,
        };
        let mut capped = RateController::new(&quality, Some(&buffer), 25.0, samples, 8);
        let key = capped.frame_base_qp(0, 0);
        let predicted = capped.expected_bits(0, 0, f64::from(key));
        assert!(key > 27, "{key}");
        assert!(predicted <= 0.5 * 180_000.0, "{predicted}");
        assert!(capped.expected_bits(0, 0, f64::from(key - 1)) > 0.5 * 180_000.0);
        capped.coded(&[(0, 0, key, predicted as u64)]);
        assert_eq!(
            capped.leave_buffer(predicted as u64),
            Some(180_000.0 - predicted.floor())
        );
        let deep = capped.frame_base_qp(1, 5);
        assert!((27..=28).contains(&deep), "{deep}");
    }

    /// A frame that comes out larger than the buffer holds is coded again
    /// from a higher base QP: noise costs ten times what the prior predicts,
    /// so the first keyframe is planned at the level and must be raised. The
    /// buffer never runs dry (simulated here on the packet sizes), the
    /// stream is the same at 1 and 3 threads (all intra: the batches do not
    /// follow the thread count), and it decodes to the reconstruction.
    #[test]
    fn frames_too_large_for_the_buffer_are_coded_again() {
        use crate::{Decoder, DecoderConfig, Encoder, EncoderConfig, Frame, GopStructure};
        let mut seed = 12345u32;
        let frames: Vec<Frame> = (0..10)
            .map(|_| {
                let mut f = Frame::new_420(64, 64);
                for p in f.planes.iter_mut() {
                    for v in p.data.iter_mut() {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        *v = (seed >> 24) as u16;
                    }
                }
                f
            })
            .collect();
        let buffer = BufferModel {
            max_kbps: 150.0,
            size_kbits: 8.0,
            initial_fullness: 1.0,
        };
        let encode = |threads: usize| {
            let mut cfg = EncoderConfig::new(64, 64);
            cfg.nn_filter = false;
            cfg.gop = GopStructure::IntraOnly;
            (cfg.fps_num, cfg.fps_den) = (25, 1);
            cfg.threads = threads;
            cfg.rate = RateControl::ConstantQuality { crf: 30.0 };
            cfg.buffer = Some(buffer);
            let mut enc = Encoder::new(cfg).unwrap();
            for f in &frames {
                enc.send_frame(f.clone()).unwrap();
            }
            enc.flush();
            std::iter::from_fn(|| enc.receive_packet()).collect::<Vec<_>>()
        };
        let one = encode(1);
        let three = encode(3);
        let bytes = |ps: &[crate::Packet]| ps.iter().map(|p| p.data.clone()).collect::<Vec<_>>();
        assert_eq!(bytes(&one), bytes(&three));
        assert_eq!(one.len(), 10);
        assert!(one[0].base_qp > 30, "{}", one[0].base_qp);
        let mut level = 8_000.0;
        for p in &one {
            let after = level - p.data.len() as f64 * 8.0;
            assert!(after >= 0.0, "frame {} ran the buffer dry", p.frame_number);
            assert_eq!(p.buffer_level, Some(after.floor() as i64));
            level = (after + 6_000.0f64).min(8_000.0);
        }
        let mut dec = Decoder::new(DecoderConfig::default());
        for p in &one {
            dec.send_packet(&p.data).unwrap();
        }
        dec.flush().unwrap();
        for p in &one {
            assert_eq!(dec.receive_frame().unwrap().frame, p.recon);
        }
    }

    /// Rate-controlled streams (one pass, and a second pass over two
    /// first-pass QPs) are the same at every thread count, decode to the
    /// encoder's reconstruction, and the second pass lands nearer its target.
    #[test]
    fn rate_controlled_streams_are_thread_independent_and_decode() {
        use crate::{Decoder, DecoderConfig, Encoder, EncoderConfig, Frame, GopStructure};
        let frames: Vec<Frame> = (0..10)
            .map(|t| {
                let mut f = Frame::new_420(96, 64);
                for (pi, p) in f.planes.iter_mut().enumerate() {
                    let w = p.width;
                    for (i, v) in p.data.iter_mut().enumerate() {
                        let (x, y) = (i % w + 3 * t, i / w + t);
                        *v = ((x * 11 + y * 5 + (x * y) / 7 + 30 * pi) % 253) as u16;
                    }
                }
                f
            })
            .collect();
        let encode = |threads: usize, qp: i8, rate: RateControl| {
            let mut cfg = EncoderConfig::new(96, 64);
            cfg.nn_filter = false;
            cfg.gop = GopStructure::RandomAccess;
            cfg.gop_size = 8;
            cfg.scene_cut = false;
            cfg.threads = threads;
            cfg.qp = qp;
            cfg.rate = rate;
            let mut enc = Encoder::new(cfg).unwrap();
            for f in &frames {
                enc.send_frame(f.clone()).unwrap();
            }
            enc.flush();
            std::iter::from_fn(|| enc.receive_packet()).collect::<Vec<_>>()
        };
        // A first pass around where the target lands (as micaenc's).
        let mut stats = FirstPassStats::default();
        for qp in [38, 50] {
            for p in encode(2, qp, RateControl::ConstantQp) {
                stats.record_packet(&p);
            }
        }
        let kbps = 60.0;
        let target_bits = kbps * 1000.0 * 10.0 / 25.0;
        let mut errors = Vec::new();
        for first_pass in [None, Some(Arc::new(stats))] {
            let rate = RateControl::Bitrate {
                kbps,
                first_pass: first_pass.clone(),
            };
            let one = encode(1, 32, rate.clone());
            let three = encode(3, 32, rate);
            let bytes =
                |ps: &[crate::Packet]| ps.iter().map(|p| p.data.clone()).collect::<Vec<_>>();
            assert_eq!(
                bytes(&one),
                bytes(&three),
                "the same stream at 1 and 3 threads"
            );
            let mut dec = Decoder::new(DecoderConfig::default());
            for p in &one {
                dec.send_packet(&p.data).unwrap();
            }
            dec.flush().unwrap();
            for _ in &one {
                let d = dec.receive_frame().unwrap();
                let want = one
                    .iter()
                    .find(|q| q.frame_number == d.frame_number)
                    .unwrap();
                assert_eq!(d.frame, want.recon);
            }
            let bits: usize = one.iter().map(|p| p.data.len() * 8).sum();
            errors.push((bits as f64 / target_bits - 1.0).abs());
        }
        assert!(
            errors[1] < 0.1 && errors[1] <= errors[0] + 0.02,
            "{errors:?}"
        );
    }
}
