//! Rate control: the base QP of each frame chosen to meet a target bit
//! rate, in one pass (a model of bits against QP per kind of frame, learnt
//! from the frames coded) or in a second pass (every frame's bits at the
//! first pass's QP, corrected by the frames coded).
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
    /// A target bit rate in kbit/s (over the frame rate of the
    /// configuration): one pass when `first_pass` is `None`, else the
    /// second pass of two, with the first pass's statistics. One pass is
    /// approximate so far (-1.4 % to +112 % off the target on the 48-60
    /// frame test clips, over-spending on their first keyframe and groups);
    /// the second pass within 1.5 % at 100-1000 kbit/s.
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

/// One frame of a first pass: its bits at each base QP it was coded from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstPassFrame {
    /// (base QP, bits), by QP.
    pub points: Vec<(i8, u64)>,
}

/// The flattest and steepest slopes a frame's bits may have against QP
/// (QP steps per halving): beyond them a measured slope is noise.
const SLOPE_LIMITS: (f64, f64) = (3.0, 12.0);

impl FirstPassFrame {
    /// The frame's predicted bits at base QP `qp`: log-linear through its
    /// points (extrapolated beyond them), at [`QP_PER_HALVING`] with one point.
    pub fn bits_at(&self, qp: f64) -> f64 {
        let log = |b: u64| (b.max(1) as f64).log2();
        match self.points.as_slice() {
            [] => 0.0,
            [(q, b)] => bits_at(*b as f64, *q as f64, qp),
            [first, .., last] => {
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
                let outside = qp < qa || qp > qb;
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
    /// Records that frame `frame_number`, coded from base QP `base_qp`,
    /// took `bits` bits (a second record at the same QP replaces the first).
    pub fn record(&mut self, frame_number: u32, base_qp: i8, bits: u64) {
        let points = &mut self.frames.entry(frame_number).or_default().points;
        points.retain(|p| p.0 != base_qp);
        points.push((base_qp, bits));
        points.sort_unstable();
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
    /// Frames coded, their bits and the bits the model predicted for them.
    coded: BTreeSet<u32>,
    spent: f64,
    predicted: f64,
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
}

/// The most a base QP moves from one batch to the next in one pass (a
/// misjudged first batch must not swing the QP).
const ONE_PASS_MAX_STEP: f64 = 2.0;

/// The same in a second pass, whose model is good: the last frames are few
/// and cheap, and must not take a large error at a QP far from the rest.
const SECOND_PASS_MAX_STEP: f64 = 1.0;

impl RateController {
    /// A controller for `kbps` at `fps` frames per second, `samples` luma samples per frame.
    pub(crate) fn new(
        kbps: f64,
        fps: f64,
        first_pass: Option<Arc<FirstPassStats>>,
        samples: usize,
        bit_depth: u8,
    ) -> RateController {
        let mut rc = RateController {
            per_frame: kbps * 1000.0 / fps,
            first_pass,
            coded: BTreeSet::new(),
            spent: 0.0,
            predicted: 0.0,
            base: 32.0,
            carry: 0.0,
            per_sample: PRIOR_BITS_PER_SAMPLE_AT_32,
            taught: [0; KINDS],
            prior_seen: 0.0,
            prior_predicted: 0.0,
            samples: samples as f64,
            bit_depth,
            horizon: 32.0,
        };
        rc.base = rc.next_base();
        rc
    }

    /// The base QP for the next frame planned (rounded so that the frames'
    /// base QPs average the controller's real-valued one).
    pub(crate) fn frame_base_qp(&mut self) -> i8 {
        let want = self.base + self.carry;
        let qp = want
            .round()
            .clamp(min_qp(self.bit_depth) as f64, MAX_QP as f64);
        self.carry = (want - qp).clamp(-1.0, 1.0);
        qp as i8
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
            self.coded.insert(number);
            self.spent += bits as f64;
            self.predicted += self.predict(number, kind, base as f64);
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

    /// The base QP that spends what is left of the budget on what is left.
    fn next_base(&self) -> f64 {
        match &self.first_pass {
            Some(stats) => {
                let total = self.per_frame * stats.frames.len() as f64;
                let left = (total - self.spent).max(0.1 * self.per_frame);
                let rest: Vec<&FirstPassFrame> = stats
                    .frames
                    .iter()
                    .filter(|(n, _)| !self.coded.contains(n))
                    .map(|(_, f)| f)
                    .collect();
                if rest.is_empty() {
                    return self.base;
                }
                // The base QP where the rest's corrected bits meet what is
                // left (they fall as the QP rises): bisection.
                let correction = self.correction();
                let bits = |qp: f64| correction * rest.iter().map(|f| f.bits_at(qp)).sum::<f64>();
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

    /// A second pass over frames whose bits follow the model exactly aims
    /// its first base QP where the total meets the target.
    #[test]
    fn second_pass_solves_the_model() {
        let mut stats = FirstPassStats::default();
        for n in 0..10 {
            stats.record(n, 30, 10_000);
        }
        // 100 kbit in 10 frames at QP 30; a target of half: 5.5 QP higher.
        let rc = RateController::new(50.0, 10.0, Some(Arc::new(stats)), 64 * 64, 8);
        assert!(
            (rc.base - (30.0 + QP_PER_HALVING)).abs() < 1e-9,
            "{}",
            rc.base
        );
    }

    /// Frames that come out larger than the model said raise the QP of the
    /// rest; the rounded base QPs average the real-valued one.
    #[test]
    fn overspending_raises_the_qp_and_rounding_averages() {
        let mut stats = FirstPassStats::default();
        for n in 0..20 {
            stats.record(n, 32, 8_000);
        }
        let mut rc = RateController::new(80.0, 10.0, Some(Arc::new(stats)), 64 * 64, 8);
        let start = rc.base;
        let (sum, n) = (0..4).fold((0i32, 0), |(s, n), _| {
            (s + rc.frame_base_qp() as i32, n + 1)
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
        let mut rc = RateController::new(500.0, 25.0, None, samples, 8);
        let cost = |kind: usize, qp: i8| {
            let per_sample = 3.0 * PRIOR_BITS_PER_SAMPLE_AT_32[kind];
            bits_at(per_sample * samples as f64, 32.0, qp as f64) as u64
        };
        let qp = rc.frame_base_qp();
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
                        let qp = rc.frame_base_qp();
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
        let mut stats = FirstPassStats::default();
        for qp in [24, 36] {
            for p in encode(2, qp, RateControl::ConstantQp) {
                stats.record(p.frame_number, p.base_qp, p.data.len() as u64 * 8);
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
