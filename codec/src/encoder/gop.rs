//! Frame scheduling: which frames are keyframes (the keyframe interval and
//! scene cuts), the hierarchical random-access groups and low-delay
//! prediction, each frame's references, reference slots, QP and lambda per
//! temporal layer.

use super::{Encoder, GopStructure, Preset};
use crate::bitstream::{MAX_REFS, NUM_SLOTS};
use crate::inter::RefPicture;
use crate::picture::Frame;
use std::sync::Arc;

/// A reference picture held by the encoder, and where the decoder holds it.
#[derive(Clone)]
pub(super) struct Held {
    pub(super) slot: usize,
    pub(super) picture: Arc<RefPicture>,
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
    pub(super) qp: u8,
    pub(super) lambda: f64,
    /// References, list 0 then list 1 (held pictures).
    pub(super) refs: [Vec<Held>; 2],
    /// Slot the frame is stored into, if it is kept for reference.
    pub(super) store: Option<usize>,
}

impl Encoder {
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
}

/// Lambda factor of frames that nothing predicts from when coded all intra (HM's).
pub(super) const INTRA_ONLY_LAMBDA_FACTOR: f64 = 0.57;

/// Lambda for SSE distortion: `factor * 2^((qp - 12) / 3)`.
fn lambda(factor: f64, qp: u8) -> f64 {
    factor * 2f64.powf((qp as f64 - 12.0) / 3.0)
}

/// Luma averaged over 8x8 blocks: enough to notice a change of scene.
pub(super) fn downscale_luma(f: &Frame) -> Vec<u8> {
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
