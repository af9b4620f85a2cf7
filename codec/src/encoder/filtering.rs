//! Which source frames the encoder filters in time before coding them, how
//! strongly, and with which neighbours (VVenC's MCTF schedule): the
//! keyframes and the frames at the group positions that later frames
//! predict from most, never across a scene cut.

use super::temporal_filter::{filter_frame, BlockErrors, Neighbour};
use super::Encoder;
use crate::picture::Frame;
use std::sync::Arc;

/// Side of the square areas that get one block-importance QP offset (a superblock).
pub(super) const IMPORTANCE_BLOCK: usize = 64;

/// QP offsets per [`IMPORTANCE_BLOCK`] area in raster order, each the
/// area's whole offset (its part of the frame's mean included).
pub(super) type ImportanceMap = Arc<[i32]>;

/// A filtered source and, where its motion errors allow, its importance map.
pub(super) struct FilteredSource {
    pub(super) frame: Frame,
    pub(super) importance: Option<ImportanceMap>,
}

/// VVenC's block importance mapping (`MCTF::filter`, tuned for PSNR: no
/// saliency term): per area, the mean motion error of the neighbours at
/// distance 1 (`d1`) and 2 (`d2`), each doubled when only one side has such
/// a neighbour; `e = max(d1, d2) + 3 |d2 - d1|` pulled towards 45 when the
/// filter is weaker than 1; +2 QP above 75, +1 above 60, -1 below 30, -2
/// below 15. Well predicted areas, which later frames copy from, get the
/// finer quantiser. `None` without neighbours at both distances.
pub(super) fn importance_map(
    errors: &BlockErrors,
    width: usize,
    height: usize,
    strength: f64,
) -> Option<ImportanceMap> {
    let (cols, rows) = (
        width.div_ceil(IMPORTANCE_BLOCK),
        height.div_ceil(IMPORTANCE_BLOCK),
    );
    let per_area = (IMPORTANCE_BLOCK / errors.unit.max(1)).max(1);
    let mut sums = [vec![0f64; cols * rows], vec![0f64; cols * rows]];
    let mut counts = [vec![0u32; cols * rows], vec![0u32; cols * rows]];
    let mut frames = [0i32; 2];
    for (distance, error) in errors.distances.iter().zip(&errors.error) {
        let d = distance.unsigned_abs() as usize;
        if !(1..=2).contains(&d) || error.len() != errors.cols * errors.rows {
            continue;
        }
        frames[d - 1] += 1;
        for by in 0..errors.rows {
            for bx in 0..errors.cols {
                let area = (by / per_area).min(rows - 1) * cols + (bx / per_area).min(cols - 1);
                sums[d - 1][area] += f64::from(error[by * errors.cols + bx]);
                counts[d - 1][area] += 1;
            }
        }
    }
    if frames[0] == 0 || frames[1] == 0 {
        return None;
    }
    let weight = strength.min(1.0);
    let map: Vec<i32> = (0..cols * rows)
        .map(|a| {
            let mean = |d: usize| {
                (sums[d][a] / f64::from(counts[d][a].max(1)) * f64::from(3 - frames[d])) as i32
            };
            let (d1, d2) = (mean(0), mean(1));
            let e = d1.max(d2) + 3 * (d2 - d1).abs();
            let e = (f64::from(e) * weight + (1.0 - weight) * 45.0) as i32;
            match e {
                e if e > 75 => 2,
                e if e > 60 => 1,
                e if e < 15 => -2,
                e if e < 30 => -1,
                _ => 0,
            }
        })
        .collect();
    Some(map.into())
}

/// The importance map of a frame that was not filtered, from its nearest
/// reference on each side (VVenC's `initPicAuxQPOffsets`): three quarters
/// of their mean offset per area, so importance fades down the layers.
pub(super) fn inherited_map(past: &ImportanceMap, future: &ImportanceMap) -> Option<ImportanceMap> {
    (past.len() == future.len()).then(|| {
        past.iter()
            .zip(future.iter())
            .map(|(&a, &b)| (3 * a + 3 * b + if a + b < 0 { 3 } else { 4 }) >> 3)
            .collect()
    })
}

/// The frame's part of a map: its mean offset, rounded half away from zero.
pub(super) fn mean_offset(map: &ImportanceMap) -> i32 {
    let n = map.len().max(1) as i32;
    let sum: i32 = map.iter().sum();
    (sum + if sum < 0 { -(n >> 1) } else { n >> 1 }) / n
}

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
        if period == 0 || !position.is_multiple_of(period) {
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
    pub(super) fn filter_sources(&self, jobs: &[(usize, FilterSetting)]) -> Vec<FilteredSource> {
        use rayon::prelude::*;
        let seq: Vec<(&Frame, bool)> = self
            .past
            .iter()
            .map(|(f, cut)| (f, *cut))
            .chain(self.input.iter().map(|(_, f, cut)| (f, *cut)))
            .collect();
        let cuts: Vec<bool> = seq.iter().map(|s| s.1).collect();
        let offset = self.past.len();
        let qp = self.nominal_base_qp();
        let cpu = self.cpu;
        let importance_qp = self.cfg.importance_qp;
        self.pool.install(|| {
            jobs.par_iter()
                .map(|&(index, setting)| {
                    let c = offset + index;
                    let neighbours: Vec<Neighbour> = neighbours_of(&cuts, c, setting.range)
                        .into_iter()
                        .map(|(i, distance)| Neighbour {
                            frame: seq[i].0,
                            distance,
                        })
                        .collect();
                    let centre = seq[c].0;
                    let filtered = filter_frame(centre, &neighbours, qp, setting.strength, cpu);
                    let importance = importance_qp.then(|| {
                        importance_map(
                            &filtered.errors,
                            centre.width(),
                            centre.height(),
                            setting.strength,
                        )
                    });
                    FilteredSource {
                        frame: filtered.frame,
                        importance: importance.flatten(),
                    }
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

    fn errors(unit: usize, cols: usize, rows: usize, per: &[(i32, u32)]) -> BlockErrors {
        BlockErrors {
            unit,
            cols,
            rows,
            distances: per.iter().map(|p| p.0).collect(),
            error: per.iter().map(|p| vec![p.1; cols * rows]).collect(),
        }
    }

    /// VVenC's thresholds, worked by hand: with both sides at distances 1
    /// and 2 the means count once, with one side twice; e = max + 3 |diff|.
    #[test]
    fn importance_follows_the_motion_errors() {
        let map = |per: &[(i32, u32)], strength: f64| {
            importance_map(&errors(8, 16, 8, per), 128, 64, strength).map(|m| m.to_vec())
        };
        // Static: errors 5 -> e = 5: -2 in both 64x64 areas.
        assert_eq!(
            map(&[(-1, 5), (1, 5), (-2, 5), (2, 5)], 1.5),
            Some(vec![-2, -2])
        );
        // One side only: 10 and 12 count double: e = 24 + 3*4 = 36: no offset.
        assert_eq!(map(&[(1, 10), (2, 12)], 1.0), Some(vec![0, 0]));
        // e = 40 + 3*20 = 100: +2; weaker filter pulls towards 45:
        // 0.5*100 + 0.5*45 = 72.5 -> 72: +1.
        assert_eq!(
            map(&[(-1, 40), (1, 40), (-2, 20), (2, 20)], 1.0),
            Some(vec![2, 2])
        );
        assert_eq!(
            map(&[(-1, 40), (1, 40), (-2, 20), (2, 20)], 0.5),
            Some(vec![1, 1])
        );
        // e = 20: -1.
        assert_eq!(
            map(&[(-1, 20), (1, 20), (-2, 20), (2, 20)], 1.0),
            Some(vec![-1, -1])
        );
        // Without a neighbour at distance 2 there is no map.
        assert_eq!(map(&[(-1, 5), (1, 5), (3, 5)], 1.0), None);
        // Areas average their own blocks: a 72x8 frame has two areas, the
        // second (one 8x8 block column) with errors of its own.
        let mut e = errors(8, 9, 1, &[(1, 5), (2, 5)]);
        e.error[0][8] = 50;
        e.error[1][8] = 50;
        assert_eq!(
            importance_map(&e, 72, 8, 1.0).map(|m| m.to_vec()),
            Some(vec![-2, 2])
        );
    }

    /// Three quarters of the mean, rounded to nearest (-1.5 to -2, -0.75 to -1) as
    /// VVenC rounds; the frame's mean rounds half away from zero.
    #[test]
    fn importance_fades_down_the_layers() {
        let m = |v: &[i32]| -> ImportanceMap { v.to_vec().into() };
        let inherited = inherited_map(&m(&[2, -2, 1, -1, 0]), &m(&[2, -2, 0, -1, 1])).unwrap();
        assert_eq!(inherited.to_vec(), [2, -2, 0, -1, 0]);
        assert!(inherited_map(&m(&[1]), &m(&[1, 2])).is_none());
        assert_eq!(mean_offset(&m(&[1, 2])), 2);
        assert_eq!(mean_offset(&m(&[-1, -2])), -2);
        assert_eq!(mean_offset(&m(&[1, 0, 0])), 0);
        assert_eq!(mean_offset(&m(&[-2, -2, 0])), -1);
    }

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
