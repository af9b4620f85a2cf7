//! Which source frames the encoder filters in time before coding them, how
//! strongly, and with which neighbours (VVenC's MCTF schedule): the
//! keyframes and the frames at the group positions that later frames
//! predict from most, never across a scene cut.

use super::temporal_filter::{filter_frame, Neighbour};
use super::Encoder;
use crate::picture::Frame;

/// Frames the temporal filter looks at on each side of a frame at most.
pub(super) const MCTF_RANGE: usize = 4;

/// How one frame is filtered: its strength and neighbours on each side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct FilterSetting {
    pub(super) strength: f64,
    pub(super) range: usize,
}

/// The filter setting of the frame at `position` of a random-access group
/// of `gop_size` frames coded at base QP `qp` (0 for the keyframe; the last
/// frame of a group cut short counts as position `gop_size`), or `None`
/// when the frame is coded from its source. VVenC (`vvencCfg.cpp`,
/// `GOPCfg::xSetMctfIndex`, medium): `max(1, log2(gop) - qp/16)` periods
/// `gop >> k`; a frame takes the longest period dividing its position, with
/// strength `clip(0, 2, (qp - 4) / 8) / (levels - i)`, the longest period
/// `clip(0, 1.5, 3 (qp - 4) / 32)`; periods of 16 and more look 4 frames
/// each way, shorter ones 2.
pub(super) fn filter_setting(gop_size: usize, qp: i8, position: u32) -> Option<FilterSetting> {
    let gop = gop_size.max(1) as u32;
    let log2 = 31 - gop.leading_zeros() as i32;
    let levels = (log2 - (i32::from(qp.max(0)) >> 4)).max(1);
    let qp = f64::from(qp);
    for i in (0..levels).rev() {
        let period = gop >> (levels - 1 - i);
        if period == 0 || position % period != 0 {
            continue;
        }
        let strength = if i == levels - 1 {
            (3.0 * (qp - 4.0) / 32.0).clamp(0.0, 1.5)
        } else {
            ((qp - 4.0) / 8.0).clamp(0.0, 2.0) / f64::from(levels - i)
        };
        if strength <= 0.0 {
            return None;
        }
        let range = if period >= 16 { 4 } else { 2 };
        return Some(FilterSetting { strength, range });
    }
    None
}

/// The neighbours of frame `c` in a run of frames whose scene-cut flags are
/// `cuts` (a flag marks the first frame of a scene): up to `range` on each
/// side, nearest first, as (index, signed distance), stopping at a cut.
fn neighbours_of(cuts: &[bool], c: usize, range: usize) -> Vec<(usize, i32)> {
    let mut out = Vec::with_capacity(2 * range);
    for k in 1..=range.min(c) {
        if cuts[c - k + 1] {
            break;
        }
        out.push((c - k, -(k as i32)));
    }
    for k in 1..=range {
        if c + k >= cuts.len() || cuts[c + k] {
            break;
        }
        out.push((c + k, k as i32));
    }
    out
}

impl Encoder {
    /// The temporally filtered sources of the queued frames at `indices`
    /// (into `self.input`), each with its setting, filtered in parallel;
    /// neighbours are the unfiltered sources around each frame (queued or
    /// just coded) that no scene cut separates from it.
    pub(super) fn filter_sources(&self, jobs: &[(usize, FilterSetting)]) -> Vec<Frame> {
        use rayon::prelude::*;
        let seq: Vec<(&Frame, bool)> = self
            .past
            .iter()
            .map(|(f, cut)| (f, *cut))
            .chain(self.input.iter().map(|(_, f, cut)| (f, *cut)))
            .collect();
        let offset = self.past.len();
        let qp = self.cfg.qp;
        let cpu = self.cpu;
        self.pool.install(|| {
            jobs.par_iter()
                .map(|&(index, setting)| {
                    let c = offset + index;
                    let cuts: Vec<bool> = seq.iter().map(|s| s.1).collect();
                    let neighbours: Vec<Neighbour> = neighbours_of(&cuts, c, setting.range)
                        .into_iter()
                        .map(|(i, distance)| Neighbour {
                            frame: seq[i].0,
                            distance,
                        })
                        .collect();
                    filter_frame(seq[c].0, &neighbours, qp, setting.strength, cpu).frame
                })
                .collect()
        })
    }

    /// Keeps the last few coded sources as the next frames' past neighbours.
    pub(super) fn remember_sources(&mut self, sources: &[(Frame, bool)]) {
        if !self.cfg.temporal_filter {
            return;
        }
        for s in sources
            .iter()
            .skip(sources.len().saturating_sub(MCTF_RANGE))
        {
            self.past.push_back(s.clone());
        }
        while self.past.len() > MCTF_RANGE {
            self.past.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neighbours stop at the ends of the run and at a scene cut on either
    /// side: a cut flag on frame 5 separates 0..=4 from 5.., and a cut on the
    /// centre itself leaves it no past.
    #[test]
    fn neighbours_never_cross_a_scene_cut() {
        let mut cuts = vec![false; 12];
        cuts[5] = true;
        assert_eq!(
            neighbours_of(&cuts, 3, 4),
            [(2, -1), (1, -2), (0, -3), (4, 1)]
        );
        assert_eq!(neighbours_of(&cuts, 5, 2), [(6, 1), (7, 2)]);
        assert_eq!(
            neighbours_of(&cuts, 7, 4),
            [(6, -1), (5, -2), (8, 1), (9, 2), (10, 3), (11, 4)]
        );
        assert_eq!(neighbours_of(&cuts, 11, 2), [(10, -1), (9, -2)]);
        assert_eq!(neighbours_of(&[false], 0, 4), []);
    }

    /// VVenC's schedule at GOP 32: at QP 32 periods 8, 16, 32 with
    /// strengths 2/3, 1 and 1.5; at QP 22 also period 4; at GOP 8 and QP 32
    /// only the anchors, at 1.5; odd positions never.
    #[test]
    fn filter_schedule_follows_vvenc() {
        let s = |gop, qp, pos| filter_setting(gop, qp, pos).map(|f| (f.strength, f.range));
        assert_eq!(s(32, 32, 0), Some((1.5, 4)));
        assert_eq!(s(32, 32, 32), Some((1.5, 4)));
        assert_eq!(s(32, 32, 16), Some((1.0, 4)));
        assert_eq!(s(32, 32, 8).map(|f| (f.0 * 3.0, f.1)), Some((2.0, 2)));
        assert_eq!(s(32, 32, 24).map(|f| (f.0 * 3.0, f.1)), Some((2.0, 2)));
        assert_eq!(s(32, 32, 4), None);
        assert_eq!(s(32, 22, 4), Some((0.5, 2)));
        assert_eq!(s(8, 32, 8), Some((1.5, 2)));
        assert_eq!(s(8, 32, 4), None);
        for pos in (1..32).step_by(2) {
            assert_eq!(s(32, 37, pos), None);
        }
        // QP 4 and below: nothing to filter.
        assert_eq!(s(32, 4, 0), None);
    }
}
