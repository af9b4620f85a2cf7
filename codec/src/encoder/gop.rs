//! Frame scheduling: which frames are keyframes (the keyframe interval and
//! scene cuts), the hierarchical random-access groups and low-delay
//! prediction, each frame's references, reference slots, QP and lambda per
//! temporal layer.

use super::filtering::{self, FilteredSource, ImportanceMap};
use super::group_length::{self, Thumbnail};
use super::{Encoder, GopStructure, Preset};
use crate::bitstream::{min_qp, MAX_QP, MAX_REFS, NUM_SLOTS};
use crate::inter::RefPicture;
use crate::picture::Frame;
use std::sync::Arc;

/// A reference picture held by the encoder, and where the decoder holds it.
#[derive(Clone)]
pub(super) struct Held {
    pub(super) slot: usize,
    pub(super) picture: Arc<RefPicture>,
    /// The picture's block-importance QP offsets, if it had any.
    pub(super) importance: Option<ImportanceMap>,
}

/// One frame to code: its position, type, references and QP.
#[derive(Clone)]
pub(super) struct FramePlan {
    pub(super) poc: u32,
    pub(super) key: bool,
    /// The packet carries the sequence header: a random access point. Every
    /// keyframe of a predicted GOP is one; all-intra streams repeat the
    /// header only every `keyint` frames and at scene cuts, since every frame
    /// is a keyframe there and 40-70 bytes per frame would be wasted.
    pub(super) sequence_header: bool,
    /// Temporal layer (0 for keyframes and anchors).
    pub(super) layer: usize,
    /// The base QP the frame's QP follows from (the configuration's, or
    /// the rate control's for this frame).
    pub(super) base_qp: i8,
    /// How `qp` and `lambda` follow from `base_qp`.
    pub(super) rule: QpRule,
    pub(super) qp: i8,
    pub(super) lambda: f64,
    /// References, list 0 then list 1 (held pictures).
    pub(super) refs: [Vec<Held>; 2],
    /// Slot the frame is stored into, if it is kept for reference.
    pub(super) store: Option<usize>,
    /// Block-importance QP offsets (their mean is in `qp`).
    pub(super) importance: Option<ImportanceMap>,
}

/// How a frame's QP and lambda follow from its base QP, kept with its plan
/// so that a frame coded again from another base QP (to fit the decoder's
/// buffer) is planned as it would have been from that base QP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum QpRule {
    /// A keyframe: QP offset (0, or -3 anchoring a long group), lambda
    /// factor, and the lookahead's importance offset.
    Key {
        qp_offset: i32,
        factor: f64,
        importance_offset: i32,
    },
    /// A frame of temporal layer `layer` of a random-access group of
    /// nominal size `size` ([`Encoder::layer_qp_lambda`]).
    Layer {
        layer: usize,
        size: usize,
        importance_offset: i32,
    },
    /// Low delay: QP offset and lambda factor.
    LowDelay { offset: i32, factor: f64 },
}

impl Encoder {
    /// A frame's QP and lambda from base QP `base_qp` by `rule`.
    pub(super) fn qp_lambda(&self, rule: QpRule, base_qp: i8) -> (i8, f64) {
        let bd = self.cfg.bit_depth;
        let clip = |qp: i32| qp.clamp(i32::from(min_qp(bd)), i32::from(MAX_QP)) as i8;
        match rule {
            QpRule::Key {
                qp_offset,
                factor,
                importance_offset,
            } => {
                let qp = clip(clip(i32::from(base_qp) + qp_offset) as i32 + importance_offset);
                (qp, lambda(factor, qp, bd))
            }
            QpRule::Layer {
                layer,
                size,
                importance_offset,
            } => self.layer_qp_lambda(base_qp, layer, importance_offset, size),
            QpRule::LowDelay { offset, factor } => {
                let qp = clip(i32::from(base_qp) + offset);
                (qp, lambda(factor, qp, bd))
            }
        }
    }

    /// Plans `plan` again from a base QP `steps` higher (at most 51): for a
    /// frame coded again to fit the decoder's buffer.
    pub(super) fn raise_base_qp(&self, plan: &mut FramePlan, steps: i8) {
        plan.base_qp = (i32::from(plan.base_qp) + i32::from(steps)).min(i32::from(MAX_QP)) as i8;
        (plan.qp, plan.lambda) = self.qp_lambda(plan.rule, plan.base_qp);
    }

    /// Whether the frame `poc` (with scene-cut flag `cut`) must be a random
    /// access point: the first frame, a scene cut, or `keyint` frames after
    /// the last one. (In predicted GOPs that makes it a keyframe; all intra,
    /// every frame is one and this decides where the sequence header goes.)
    fn random_access_due(&self, poc: u32, cut: bool) -> bool {
        self.anchor.is_none() || cut || (poc - self.last_key) as usize >= self.cfg.keyint_frames()
    }

    /// Codes as many queued frames as the prediction structure allows.
    pub(super) fn encode_ready(&mut self, flushing: bool) {
        loop {
            let Some(&(poc, _, cut)) = self.input.front() else {
                return;
            };
            if self.cfg.gop == GopStructure::IntraOnly {
                // Rate control learns between batches: its batches must not
                // depend on the thread count, or neither would the stream.
                let batch = if self.rate.is_some() {
                    RATE_CONTROLLED_INTRA_BATCH
                } else {
                    self.pool.current_num_threads().max(1)
                };
                if self.input.len() < batch && !flushing {
                    return;
                }
                let frames: Vec<_> = self.input.drain(..self.input.len().min(batch)).collect();
                let mut plans = Vec::with_capacity(frames.len());
                for &(p, _, cut) in &frames {
                    let mut plan = self.key_plan(p, false, 0);
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
                if random_access && self.input.len() < 1 + self.lookahead() && !flushing {
                    return;
                }
                let filtered = self.filter_group(&[0], self.cfg.gop_size).pop().flatten();
                let (p, f, cut) = self.input.pop_front().expect("front");
                self.remember_sources(&[(f.clone(), cut)]);
                self.anchor_thumbnail = self.adaptive_groups().then(|| Thumbnail::new(&f));
                let (f, importance) = match filtered {
                    Some(s) => (s.frame, s.importance),
                    None => (f, None),
                };
                self.dpb.clear();
                self.last_key = p;
                self.anchor = Some(p);
                let next_is_predicted = self
                    .input
                    .front()
                    .is_some_and(|&(next, _, cut)| !self.random_access_due(next, cut));
                let offset = importance.as_ref().map_or(0, filtering::mean_offset);
                let mut plan = self.key_plan(p, !random_access || next_is_predicted, offset);
                plan.store = Some(0);
                plan.importance = importance;
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
                    if (!complete || self.input.len() < n + self.lookahead()) && !flushing {
                        return;
                    }
                    // The group's nominal size (its cascade and filter
                    // schedule), and with it its length.
                    let size = self.group_size(n);
                    let n = n.min(size);
                    let positions: Vec<u32> = (1..=n as u32)
                        .map(|i| if i == n as u32 { size as u32 } else { i })
                        .collect();
                    let filtered = self.filter_group(&positions, size);
                    let sources: Vec<(Frame, bool)> =
                        self.input.drain(..n).map(|(_, f, cut)| (f, cut)).collect();
                    self.remember_sources(&sources);
                    if self.adaptive_groups() {
                        self.anchor_thumbnail = sources.last().map(|(f, _)| Thumbnail::new(f));
                    }
                    let (frames, maps) = sources
                        .into_iter()
                        .zip(filtered)
                        .map(|((f, _), filtered)| match filtered {
                            Some(s) => (s.frame, s.importance),
                            None => (f, None),
                        })
                        .unzip();
                    self.code_group(frames, maps, size);
                }
            }
        }
    }

    /// Whether each random-access group's length is chosen from the content
    /// ([`EncoderConfig::adaptive_gop`](super::EncoderConfig::adaptive_gop)).
    fn adaptive_groups(&self) -> bool {
        self.cfg.adaptive_gop
            && self.cfg.gop == GopStructure::RandomAccess
            && self.cfg.gop_size == LONG_GROUP
    }

    /// The nominal size of the random-access group that begins with the
    /// next `n` queued frames (`n` is at most `gop_size`, fewer before a
    /// keyframe or at the end); the group is that long or `n` frames,
    /// whichever is fewer. Fixed groups: `gop_size`. Adaptive: a long group
    /// where `group_length` estimates that it costs no more than a short one
    /// and the rest, else a short group (also where `n` fits one).
    fn group_size(&self, n: usize) -> usize {
        if !self.adaptive_groups() {
            return self.cfg.gop_size;
        }
        if n <= SHORT_GROUP {
            return SHORT_GROUP;
        }
        let Some(anchor) = &self.anchor_thumbnail else {
            return SHORT_GROUP;
        };
        let thumbnail = |i: usize| Thumbnail::new(&self.input[i - 1].1);
        let (split, last) = (thumbnail(SHORT_GROUP), thumbnail(n));
        // The long group's midpoint, as `temporal_layers` places it.
        let mid = n / 2;
        let mid_thumbnail = (mid != SHORT_GROUP).then(|| thumbnail(mid));
        let costs = self.pool.install(|| {
            group_length::group_costs(
                anchor,
                &split,
                mid_thumbnail.as_ref().unwrap_or(&split),
                &last,
                mid == SHORT_GROUP,
            )
        });
        match costs {
            Some(c) if c.long_pays() => LONG_GROUP,
            _ => SHORT_GROUP,
        }
    }

    /// Frames queued beyond a group before it is coded: the temporal
    /// filter's future neighbours, or the one frame that tells a random
    /// access keyframe whether anything predicts from it.
    fn lookahead(&self) -> usize {
        if self.cfg.temporal_filter {
            filtering::MCTF_RANGE
        } else {
            1
        }
    }

    /// The filtered sources of the first queued frames, at group positions
    /// `positions` (0: a keyframe), where the schedule filters them.
    /// `size` is the group's nominal size.
    fn filter_group(&self, positions: &[u32], size: usize) -> Vec<Option<FilteredSource>> {
        if !self.cfg.temporal_filter || self.cfg.gop != GopStructure::RandomAccess {
            return positions.iter().map(|_| None).collect();
        }
        let jobs: Vec<(usize, filtering::FilterSetting)> = positions
            .iter()
            .enumerate()
            .filter_map(|(i, &pos)| {
                filtering::filter_setting(size, self.nominal_base_qp(), pos).map(|s| (i, s))
            })
            .collect();
        let mut out: Vec<Option<FilteredSource>> = positions.iter().map(|_| None).collect();
        for (&(i, _), source) in jobs.iter().zip(self.filter_sources(&jobs)) {
            out[i] = Some(source);
        }
        out
    }

    /// Keyframes that anchor predicted frames are worth more: a smaller
    /// lambda. One that no frame will predict from (all intra, a one-frame
    /// stream, the last frame, or one followed by another random access
    /// point) is coded as all-intra coding codes every frame. With the
    /// anchoring keyframe's smaller lambda the four test stills cost 2.1 %
    /// more (Y-PSNR BD-rate, QP 22-37, learned filter off); on the training
    /// stills the all-intra factor is at the optimum (`git show
    /// fccebb0:docs/results.md`, issue 6).
    fn key_plan(
        &mut self,
        poc: u32,
        anchors_predicted_frames: bool,
        importance_offset: i32,
    ) -> FramePlan {
        let base_qp = self.take_base_qp(poc, 0);
        let mut qp_offset = 0;
        let factor = match self.cfg.gop {
            _ if !anchors_predicted_frames => INTRA_ONLY_LAMBDA_FACTOR,
            GopStructure::IntraOnly => INTRA_ONLY_LAMBDA_FACTOR,
            GopStructure::LowDelay => INTRA_ONLY_LAMBDA_FACTOR * 0.5,
            // Long groups follow VVenC: the keyframe at QP - 3 with the
            // all-intra lambda of its QP (1.44 % less than HM's lambda
            // factor at the base QP, GOP 32; docs/results.md "Temporal coding").
            GopStructure::RandomAccess if self.cfg.gop_size > 8 => {
                qp_offset = -3;
                INTRA_ONLY_LAMBDA_FACTOR
            }
            GopStructure::RandomAccess => {
                INTRA_ONLY_LAMBDA_FACTOR
                    * (1.0 - (0.05 * (self.cfg.gop_size as f64 - 1.0)).clamp(0.0, 0.5))
            }
        };
        let rule = QpRule::Key {
            qp_offset,
            factor,
            importance_offset,
        };
        let (qp, lambda) = self.qp_lambda(rule, base_qp);
        FramePlan {
            poc,
            key: true,
            sequence_header: true,
            layer: 0,
            base_qp,
            rule,
            qp,
            lambda,
            refs: Default::default(),
            store: None,
            importance: None,
        }
    }

    fn low_delay_plan(&mut self, poc: u32) -> FramePlan {
        // HM's low-delay pattern: every fourth frame at QP+1, the others +2/+3.
        let (offset, factor) = match poc % 4 {
            0 => (1, 0.578),
            2 => (2, 0.4624),
            _ => (3, 0.4624),
        };
        let base_qp = self.take_base_qp(poc, 2);
        let rule = QpRule::LowDelay { offset, factor };
        let (qp, lambda) = self.qp_lambda(rule, base_qp);
        let mut l0: Vec<Held> = self.dpb.clone();
        l0.sort_by_key(|h| std::cmp::Reverse(h.picture.poc));
        l0.truncate(self.max_refs());
        let store = self.pick_slot(&[&l0], &[]);
        FramePlan {
            poc,
            key: false,
            sequence_header: false,
            layer: 1,
            base_qp,
            rule,
            qp,
            lambda,
            refs: [l0, Vec::new()],
            store: Some(store),
            importance: None,
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

    /// QP and lambda of a frame in temporal layer `layer` (1 and deeper, or
    /// 0 for the frame that ends a group) of a random-access group of
    /// nominal size `size` (a group cut short keeps its size's). Groups of
    /// up to 8 use HM's offsets +1..+4 and lambda factors; longer groups
    /// VVenC's steeper cascade (QP offsets growing with the base QP, up to
    /// +9 in the deepest layer) with lambda tied to QP, which the long groups
    /// need: GOP 16 against 8 went from +1.24 % (HM's tables, layers 4 and
    /// deeper as 3) to -2.27 % (Y BD-rate, the four clips).
    fn layer_qp_lambda(
        &self,
        base_qp: i8,
        layer: usize,
        importance_offset: i32,
        size: usize,
    ) -> (i8, f64) {
        let base = base_qp as i32;
        let bd = self.cfg.bit_depth;
        let clip = |qp: i32| qp.clamp(i32::from(min_qp(bd)), i32::from(MAX_QP)) as i8;
        if size > 8 {
            let rows: &[(i32, f64, f64)] = if size > 16 {
                &VVENC_GOP32
            } else {
                &VVENC_GOP16
            };
            let (offset, off, scale) = rows[layer.min(rows.len() - 1)];
            let q = base + offset;
            let model = ((q as f64) * scale + off + 0.5).clamp(0.0, 3.0).floor() as i32;
            let qp = clip(q + model + importance_offset);
            return (qp, lambda(INTRA_ONLY_LAMBDA_FACTOR, qp, bd));
        }
        let offsets = [1, 2, 3, 4];
        let factors = [0.442, 0.3536, 0.3536, 0.68];
        let layer_qp = clip(base + offsets[layer.min(3)]);
        let mut factor = factors[layer.min(3)];
        if layer > 0 {
            factor *= ((layer_qp as f64 - 12.0) / 6.0).clamp(2.0, 4.0);
        }
        let qp = clip(i32::from(layer_qp) + importance_offset);
        (qp, lambda(factor, qp, bd))
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

    /// Codes a hierarchical group of frames following the anchor, of
    /// nominal size `size` (its QP cascade).
    fn code_group(&mut self, frames: Vec<Frame>, maps: Vec<Option<ImportanceMap>>, size: usize) {
        let base = self.anchor.expect("a keyframe precedes every group");
        let n = frames.len() as u32;
        let layer_of = temporal_layers(n);
        let mut frames: Vec<Option<Frame>> = frames.into_iter().map(Some).collect();
        for (layer, members, kept) in coding_batches(&layer_of) {
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
                // A filtered frame's own importance map, else one passed on
                // from its nearest references.
                let importance = maps[i as usize - 1].clone().or_else(|| {
                    match (
                        l0.first()?.importance.as_ref(),
                        l1.first()?.importance.as_ref(),
                    ) {
                        (Some(a), Some(b)) if self.cfg.importance_qp => {
                            filtering::inherited_map(a, b)
                        }
                        _ => None,
                    }
                });
                let offset = importance.as_ref().map_or(0, filtering::mean_offset);
                let base_qp = self.take_base_qp(poc, 1 + layer);
                let rule = QpRule::Layer {
                    layer,
                    size,
                    importance_offset: offset,
                };
                let (qp, lambda) = self.qp_lambda(rule, base_qp);
                plans.push(FramePlan {
                    poc,
                    key: false,
                    sequence_header: false,
                    layer,
                    base_qp,
                    rule,
                    qp,
                    lambda,
                    refs: [l0, l1],
                    store: None,
                    importance,
                });
            }
            // Frames that later layers reference are kept; slots are chosen
            // before coding because each frame header names its slot.
            if kept {
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
}

/// The temporal layer of each frame of a hierarchical group of `n` frames
/// (index 1..=n; index 0, the anchor before the group, is unused): the last
/// frame is layer 0, then recursive midpoints, each a layer deeper than the
/// interval it splits.
fn temporal_layers(n: u32) -> Vec<usize> {
    fn split(lo: u32, hi: u32, depth: usize, layer_of: &mut [usize]) {
        if hi - lo <= 1 {
            return;
        }
        let mid = (lo + hi) / 2;
        layer_of[mid as usize] = depth;
        split(lo, mid, depth + 1, layer_of);
        split(mid, hi, depth + 1, layer_of);
    }
    let mut layer_of = vec![0usize; n as usize + 1];
    split(0, n, 1, &mut layer_of);
    layer_of
}

/// All-intra frames coded together under rate control (without it, a
/// frame per thread).
const RATE_CONTROLLED_INTRA_BATCH: usize = 8;

/// The long group of adaptive group lengths (the longest group).
const LONG_GROUP: usize = 32;

/// The short group of adaptive group lengths.
const SHORT_GROUP: usize = 16;

/// Longest interval of a group coded one temporal layer at a time: the
/// references of a layer and the slots for the frames it keeps fit in the
/// eight reference slots up to here (a layer of a group of 16 does not).
const MAX_LAYERED_INTERVAL: u32 = 8;

/// The order in which a hierarchical group's frames are coded, given each
/// frame's temporal layer (`layer_of[i]` for frame `i` of the group, 1-based):
/// batches of frames that do not reference each other, coded in parallel,
/// each with its layer and whether later batches reference its frames (then
/// they are kept in a slot). The last frame comes first; then an interval
/// between two coded frames of up to [`MAX_LAYERED_INTERVAL`] frames is
/// coded one layer at a time, and a longer one codes its midpoint, then each
/// half in turn, the first half first. A group of 32 never holds more than
/// seven of its pictures at once (0, 32, 16, 8, 4, 2, 6), so the eight slots
/// suffice for any group length.
fn coding_batches(layer_of: &[usize]) -> Vec<(usize, Vec<u32>, bool)> {
    fn interval(layer_of: &[usize], lo: u32, hi: u32, out: &mut Vec<(usize, Vec<u32>, bool)>) {
        if hi - lo <= 1 {
            return;
        }
        if hi - lo > MAX_LAYERED_INTERVAL {
            let mid = (lo + hi) / 2;
            out.push((layer_of[mid as usize], vec![mid], true));
            interval(layer_of, lo, mid, out);
            interval(layer_of, mid, hi, out);
            return;
        }
        let inside = lo + 1..hi;
        let top = inside
            .clone()
            .map(|i| layer_of[i as usize])
            .max()
            .unwrap_or(0);
        let first = inside
            .clone()
            .map(|i| layer_of[i as usize])
            .min()
            .unwrap_or(0);
        for layer in first..=top {
            let members: Vec<u32> = inside
                .clone()
                .filter(|&i| layer_of[i as usize] == layer)
                .collect();
            if !members.is_empty() {
                out.push((layer, members, layer < top));
            }
        }
    }
    let n = layer_of.len() as u32 - 1;
    let mut batches = vec![(0, vec![n], true)];
    interval(layer_of, 0, n, &mut batches);
    batches
}

/// VVenC's QP offset, model offset and model scale per temporal layer of a
/// group of 32 (`vvencCfg.cpp`, the same as VTM's `gop32.cfg`): QP = base +
/// offset + floor(clip(0, 3, (base + offset) * scale + off + 0.5)).
const VVENC_GOP32: [(i32, f64, f64); 6] = [
    (-1, 0.0, 0.0),
    (0, -4.9309, 0.2265),
    (0, -3.0625, 0.1875),
    (3, -5.4095, 0.2571),
    (5, -4.4895, 0.1947),
    (6, -5.4429, 0.2429),
];

/// The same for a group of 16.
const VVENC_GOP16: [(i32, f64, f64); 5] = [
    (1, 0.0, 0.0),
    (1, -4.8848, 0.2061),
    (4, -5.7476, 0.2286),
    (5, -5.90, 0.2333),
    (6, -7.1444, 0.3),
];

/// Lambda factor of frames that nothing predicts from when coded all intra (HM's).
pub(super) const INTRA_ONLY_LAMBDA_FACTOR: f64 = 0.57;

/// Lambda for SSE distortion: `factor * 2^((qp' - 12) / 3)` with the quantiser's
/// `qp' = qp + 6 * (bit_depth - 8)`, so it grows with the distortion's scale (16
/// times at 10 bits) as in HM.
fn lambda(factor: f64, qp: i8, bit_depth: u8) -> f64 {
    let qp_prime = qp as f64 + 6.0 * (bit_depth as f64 - 8.0);
    factor * 2f64.powf((qp_prime - 12.0) / 3.0)
}

/// Finds scene cuts in a sequence of frames as the encoder does (it puts a
/// keyframe at each): frame by frame, on an 8x-downscaled luma. Chunked
/// encoding cuts a video there, so its chunks open where the content
/// changes anyway.
#[derive(Clone, Debug, Default)]
pub struct SceneCutDetector {
    last: Option<Vec<u8>>,
}

impl SceneCutDetector {
    /// A detector that has seen no frame.
    pub fn new() -> SceneCutDetector {
        SceneCutDetector::default()
    }

    /// Whether `frame` starts a new scene against the frame before it (the
    /// first frame does not).
    pub fn push(&mut self, frame: &Frame) -> bool {
        let small = downscale_luma(frame);
        let cut = self
            .last
            .as_ref()
            .is_some_and(|prev| prev.len() == small.len() && is_scene_cut(prev, &small));
        self.last = Some(small);
        cut
    }
}

/// Luma averaged over 8x8 blocks, in 8-bit units: enough to notice a change of scene.
pub(super) fn downscale_luma(f: &Frame) -> Vec<u8> {
    let shift = 6 + u32::from(f.bit_depth) - 8;
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
            out.push((sum >> shift) as u8);
        }
    }
    out
}

/// A scene cut: most 8x8 block averages changed a lot at once.
pub(super) fn is_scene_cut(prev: &[u8], cur: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_cut_detector_finds_a_change_of_content() {
        let flat = |v: u16| {
            let mut f = Frame::new_420(64, 64);
            f.planes[0].data.fill(v);
            f
        };
        let mut d = SceneCutDetector::new();
        assert!(!d.push(&flat(40)), "the first frame is no cut");
        assert!(!d.push(&flat(41)), "a small change is none");
        assert!(d.push(&flat(200)), "a new picture is one");
        assert!(!d.push(&flat(200)));
        // A frame of another size is compared with nothing.
        let mut big = Frame::new_420(128, 64);
        big.planes[0].data.fill(10);
        assert!(!d.push(&big));
    }
    use crate::{Decoder, EncoderConfig, Packet};

    /// Frames with texture that moves, so inter coding uses its references.
    fn moving_frames(count: usize) -> Vec<Frame> {
        (0..count)
            .map(|t| {
                let mut f = Frame::new_420(32, 24);
                for (p, plane) in f.planes.iter_mut().enumerate() {
                    let w = plane.width;
                    for (i, v) in plane.data.iter_mut().enumerate() {
                        let (x, y) = (i % w + 2 * t, i / w);
                        let h = (x * 73 + y * 151 + p * 37).wrapping_mul(2_654_435_761);
                        *v = ((x * 9 + y * 5) % 200) as u16 + ((h >> 27) & 31) as u16;
                    }
                }
                f
            })
            .collect()
    }

    fn encode(cfg: EncoderConfig, frames: &[Frame]) -> Vec<Packet> {
        let mut enc = Encoder::new(cfg).expect("valid config");
        let mut out = Vec::new();
        for f in frames {
            enc.send_frame(f.clone()).expect("frame");
            out.extend(std::iter::from_fn(|| enc.receive_packet()));
        }
        enc.flush();
        out.extend(std::iter::from_fn(|| enc.receive_packet()));
        out
    }

    /// Decodes `packets` and checks every frame, in display order, equals the
    /// encoder's reconstruction; returns the packets in display order.
    fn assert_decodes_to_recon<'a>(packets: &'a [Packet], what: &str) -> Vec<&'a Packet> {
        let mut dec = Decoder::new(Default::default());
        let mut decoded = Vec::new();
        for p in packets {
            dec.send_packet(&p.data).expect("decodes");
            decoded.extend(std::iter::from_fn(|| dec.receive_frame()));
        }
        dec.flush().expect("decodes");
        decoded.extend(std::iter::from_fn(|| dec.receive_frame()));
        let mut recon: Vec<&Packet> = packets.iter().collect();
        recon.sort_by_key(|p| p.frame_number);
        assert_eq!(decoded.len(), packets.len(), "{what}");
        for (d, p) in decoded.iter().zip(&recon) {
            assert_eq!(d.frame_number, p.frame_number, "{what}");
            assert!(
                d.frame == p.recon,
                "{what}: frame {} differs",
                p.frame_number
            );
        }
        recon
    }

    /// Group sizes the configuration accepts (1..=16 and the longer ones
    /// whose hierarchy differs: 17, 24, 31, 32) code, with every preset's
    /// reference count, whole and cut short groups and keyframes inside a
    /// group, and decode to the encoder's reconstruction. Groups of 9 to 16
    /// frames used to run out of reference slots (a panic).
    #[test]
    fn every_group_size_codes_and_decodes() {
        let frames = moving_frames(37);
        for gop_size in (1..=16).chain([17, 24, 31, 32]) {
            for preset in [Preset::Fast, Preset::Medium, Preset::Slow] {
                for keyint in [0, 13] {
                    let mut cfg = EncoderConfig::new(32, 24);
                    cfg.gop = GopStructure::RandomAccess;
                    cfg.gop_size = gop_size;
                    cfg.adaptive_gop = false;
                    cfg.preset = preset;
                    cfg.keyint = keyint;
                    cfg.nn_filter = false;
                    cfg.threads = 1;
                    let packets = encode(cfg, &frames);
                    assert_eq!(packets.len(), frames.len());
                    assert_decodes_to_recon(
                        &packets,
                        &format!("GOP {gop_size}, {preset:?}, keyint {keyint}"),
                    );
                }
            }
        }
    }

    /// The temporal filter and importance QP change what is coded (the
    /// keyframe and anchors are coded from filtered sources, at other QPs)
    /// and every setting still decodes to the encoder's reconstruction,
    /// with a scene cut inside the group, which filtering must not cross.
    #[test]
    fn temporal_filtering_codes_and_decodes() {
        let mut frames = moving_frames(40);
        for f in &mut frames[21..] {
            for plane in &mut f.planes {
                for v in &mut plane.data {
                    *v = 255 - *v;
                }
            }
        }
        let mut streams = Vec::new();
        for (filter, importance) in [(false, false), (true, false), (true, true)] {
            let mut cfg = EncoderConfig::new(32, 24);
            cfg.gop_size = 16;
            cfg.temporal_filter = filter;
            cfg.importance_qp = importance;
            cfg.nn_filter = false;
            cfg.threads = 2;
            let packets = encode(cfg, &frames);
            assert_eq!(packets.len(), frames.len());
            let recon = assert_decodes_to_recon(&packets, &format!("{filter} {importance}"));
            assert!(recon[21].keyframe, "the cut starts a keyframe");
            streams.push(packets.iter().map(|p| p.data.clone()).collect::<Vec<_>>());
        }
        // The keyframe is the first packet, filtered or not.
        assert_ne!(streams[0][0], streams[1][0], "the filter changed nothing");
        assert_ne!(streams[1], streams[2], "importance QP changed nothing");
    }

    /// Groups up to eight frames are coded a layer at a time; longer groups
    /// code their last frame and midpoint, then each half (recursively, as
    /// VVenC's group of 32 does). Every frame is
    /// coded once, after the two frames whose interval it splits (the ones
    /// it may reference; 0 is the anchor, coded before the group), and
    /// those are kept in a slot.
    #[test]
    fn long_groups_code_their_halves_in_turn() {
        let order = |n: u32| -> Vec<Vec<u32>> {
            coding_batches(&temporal_layers(n))
                .into_iter()
                .map(|b| b.1)
                .collect()
        };
        assert_eq!(order(8), [vec![8], vec![4], vec![2, 6], vec![1, 3, 5, 7]]);
        assert_eq!(
            order(16),
            [
                vec![16],
                vec![8],
                vec![4],
                vec![2, 6],
                vec![1, 3, 5, 7],
                vec![12],
                vec![10, 14],
                vec![9, 11, 13, 15]
            ]
        );
        assert_eq!(
            order(32),
            [
                vec![32],
                vec![16],
                vec![8],
                vec![4],
                vec![2, 6],
                vec![1, 3, 5, 7],
                vec![12],
                vec![10, 14],
                vec![9, 11, 13, 15],
                vec![24],
                vec![20],
                vec![18, 22],
                vec![17, 19, 21, 23],
                vec![28],
                vec![26, 30],
                vec![25, 27, 29, 31]
            ]
        );
        for n in 1..=32u32 {
            let batches = coding_batches(&temporal_layers(n));
            let batch_of = |frame: u32| {
                batches
                    .iter()
                    .position(|b| b.1.contains(&frame))
                    .unwrap_or_else(|| panic!("group of {n}: frame {frame} not coded"))
            };
            let kept = |frame: u32| batches[batch_of(frame)].2;
            let mut seen: Vec<u32> = batches.iter().flat_map(|b| b.1.clone()).collect();
            seen.sort();
            assert_eq!(seen, (1..=n).collect::<Vec<_>>(), "group of {n}");
            // The frame each interval's midpoint splits it between.
            fn parents(lo: u32, hi: u32, out: &mut Vec<(u32, u32, u32)>) {
                if hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    out.push((mid, lo, hi));
                    parents(lo, mid, out);
                    parents(mid, hi, out);
                }
            }
            let mut splits = Vec::new();
            parents(0, n, &mut splits);
            assert!(n == 1 || kept(n), "group of {n}: the last frame is kept");
            for (mid, lo, hi) in splits {
                for parent in [lo, hi].into_iter().filter(|&p| p > 0) {
                    assert!(
                        batch_of(parent) < batch_of(mid),
                        "group of {n}: frame {mid} before {parent}"
                    );
                    assert!(kept(parent), "group of {n}: frame {parent} not kept");
                }
            }
        }
    }

    /// The length of each random-access group of a stream, from its packets
    /// in coding order: a group begins with its last frame, the first
    /// packet beyond every frame before it.
    fn group_lengths(packets: &[Packet]) -> Vec<u32> {
        let mut lengths = Vec::new();
        let mut last: Option<u32> = None;
        for p in packets {
            if last.is_none_or(|l| p.frame_number > l) {
                if let Some(l) = last.filter(|_| !p.keyframe) {
                    lengths.push(p.frame_number - l);
                }
                last = Some(p.frame_number);
            }
        }
        lengths
    }

    /// Adaptive group lengths: a still picture (with noise that changes
    /// from frame to frame) is coded in a group of 32, a camera turning by a
    /// degree a frame in groups of 16, and the frames left at the end in one
    /// group; a keyframe interval cutting a group short leaves 17..31
    /// frames to decide on. Every stream decodes to the encoder's
    /// reconstruction.
    #[test]
    fn adaptive_groups_follow_the_content() {
        use super::super::group_length::tests::synthetic_frame;
        let clip = |degrees: f64| -> Vec<Frame> {
            (0..40)
                .map(|i| synthetic_frame(128, 96, (degrees * i as f64).to_radians(), 0.0, i))
                .collect()
        };
        for (what, degrees, keyint, want) in [
            ("still", 0.0, 0, vec![32, 7]),
            ("turning", 1.0, 0, vec![16, 16, 7]),
            ("still, keyint 22", 0.0, 22, vec![21, 17]),
            ("turning, keyint 22", 1.0, 22, vec![16, 5, 16, 1]),
        ] {
            let mut cfg = EncoderConfig::new(128, 96);
            cfg.gop_size = 32;
            cfg.adaptive_gop = true;
            cfg.keyint = keyint;
            cfg.scene_cut = false;
            cfg.preset = Preset::Fast;
            cfg.qp = 37;
            cfg.nn_filter = false;
            cfg.threads = 2;
            let packets = encode(cfg, &clip(degrees));
            assert_eq!(group_lengths(&packets), want, "{what}");
            assert_decodes_to_recon(&packets, what);
        }
    }

    /// Adaptive group lengths apply to groups of 32 only: other sizes code
    /// the same stream with it on or off.
    #[test]
    fn adaptive_groups_leave_other_sizes_fixed() {
        let frames = moving_frames(20);
        for gop_size in [8, 16] {
            let streams: Vec<Vec<Vec<u8>>> = [false, true]
                .into_iter()
                .map(|adaptive| {
                    let mut cfg = EncoderConfig::new(32, 24);
                    cfg.gop_size = gop_size;
                    cfg.adaptive_gop = adaptive;
                    cfg.nn_filter = false;
                    cfg.threads = 1;
                    encode(cfg, &frames).into_iter().map(|p| p.data).collect()
                })
                .collect();
            assert_eq!(streams[0], streams[1], "GOP {gop_size}");
        }
    }

    /// Group sizes outside 1..=32 are refused with the valid range.
    #[test]
    fn group_sizes_outside_the_range_are_refused() {
        for size in [0, 33, 64] {
            let mut cfg = EncoderConfig::new(32, 24);
            cfg.gop_size = size;
            let err = Encoder::new(cfg).err().expect("refused");
            assert!(matches!(
                err,
                crate::Error::Config(crate::ConfigError::GopSize(s)) if s == size
            ));
            assert!(err.to_string().contains("1..=32"), "{err}");
        }
    }
}
