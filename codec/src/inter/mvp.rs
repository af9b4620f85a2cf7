//! Motion vector prediction: the reference lists as picture order counts,
//! the motion field a picture leaves for temporal prediction, the merge
//! candidate list and the two AMVP predictors. Normative description:
//! `docs/bitstream.md` 4.7.

use crate::picture::{Motion, Mv, PicState};

/// The reference lists of the frame being coded, as picture order counts
/// (display frame numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefLists {
    /// POC of each entry of list 0 and list 1.
    pub poc: [[i64; 4]; 2],
    /// Entries used in each list (list 1 is empty in P frames).
    pub len: [usize; 2],
    /// POC of the current frame.
    pub cur_poc: i64,
}

impl RefLists {
    /// POC of the picture a block's list `l` refers to.
    pub fn poc_of(&self, m: &Motion, l: usize) -> i64 {
        self.poc[l][m.ref_idx[l] as usize]
    }
    /// Whether the frame has two lists.
    pub fn is_b(&self) -> bool {
        self.len[1] > 0
    }
}

/// Motion of one 8x8 unit of a reference picture, kept for temporal prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColMotion {
    /// Vectors per list.
    pub mv: [Mv; 2],
    /// POC of the referenced picture per list, or `None` when the list is unused.
    pub ref_poc: [Option<i64>; 2],
}

/// The motion field a decoded picture leaves for later pictures.
#[derive(Clone, Debug)]
pub struct ColField {
    /// POC of the picture.
    pub poc: i64,
    /// Units per row.
    pub w8: usize,
    /// Motion per 8x8 unit.
    pub units: Vec<ColMotion>,
}

/// The motion a decoded picture leaves for temporal prediction.
pub fn col_field(st: &PicState, lists: &RefLists) -> ColField {
    let units = st
        .motion
        .iter()
        .map(|m| {
            let mut c = ColMotion {
                mv: m.mv,
                ref_poc: [None; 2],
            };
            for l in 0..2 {
                if m.uses(l) {
                    c.ref_poc[l] = Some(lists.poc_of(m, l));
                } else {
                    c.mv[l] = Mv::ZERO;
                }
            }
            c
        })
        .collect();
    ColField {
        poc: lists.cur_poc,
        w8: st.w / 8,
        units,
    }
}

/// Scales `mv` pointing `td` pictures away to point `tb` pictures away.
pub fn scale_mv(mv: Mv, td: i64, tb: i64) -> Mv {
    if td == tb || td == 0 {
        return mv;
    }
    let td = td.clamp(-128, 127) as i32;
    let tb = tb.clamp(-128, 127) as i32;
    let tx = (16384 + td.abs() / 2) / td;
    let factor = ((tb * tx + 32) >> 6).clamp(-4096, 4095);
    let s = |v: i16| {
        let p = factor * v as i32;
        let mag = (p.abs() + 127) >> 8;
        (if p < 0 { -mag } else { mag }).clamp(i16::MIN as i32, i16::MAX as i32) as i16
    };
    Mv {
        x: s(mv.x),
        y: s(mv.y),
    }
}

/// Number of merge candidates.
pub const MERGE_CANDIDATES: usize = 5;

/// Motions the merge history keeps.
pub const HISTORY: usize = 5;

/// Adds the motion of an inter CU to the history (4.7): a motion already
/// there moves to the end, else the oldest entry makes room when it is full.
pub fn remember(history: &mut Vec<Motion>, m: Motion) {
    if let Some(i) = history.iter().position(|h| *h == m) {
        history.remove(i);
    } else if history.len() == HISTORY {
        history.remove(0);
    }
    history.push(m);
}

/// The mean of two vectors, halves rounded toward zero.
fn average(a: Mv, b: Mv) -> Mv {
    let avg = |a: i16, b: i16| {
        let s = i32::from(a) + i32::from(b);
        ((s + 1 - i32::from(s >= 0)) >> 1) as i16
    };
    Mv {
        x: avg(a.x, b.x),
        y: avg(a.y, b.y),
    }
}

/// What motion prediction needs to know about the frame being coded.
pub struct MotionEnv<'a> {
    /// The picture being coded: its motion field (per 8x8 unit) and availability.
    pub pic: &'a PicState,
    /// Reference lists.
    pub lists: &'a RefLists,
    /// The collocated picture's motion (list 1 entry 0 in B frames, list 0 entry 0 in P frames).
    pub col: Option<&'a ColField>,
    /// The merge list takes history and pairwise-average candidates
    /// (`inter_tool_flags` bit 2) instead of combined bi-predictive ones.
    pub history: bool,
}

impl MotionEnv<'_> {
    fn at(&self, x: isize, y: isize) -> Option<Motion> {
        if !self.pic.available(x, y) {
            return None;
        }
        let m = self.pic.motion[(y as usize / 8) * (self.pic.w / 8) + x as usize / 8];
        m.is_inter().then_some(m)
    }

    /// Temporal candidate for list `l` aimed at POC `target`: the collocated
    /// unit below-right of the block (inside the superblock row and the
    /// picture), else the one at its centre.
    fn temporal(
        &self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        l: usize,
        target: i64,
    ) -> Option<Mv> {
        let col = self.col?;
        let pick = |px: usize, py: usize| -> Option<Mv> {
            let u = col.units.get((py / 8) * col.w8 + px / 8)?;
            // Prefer the collocated block's vector of the same list.
            let cl = if u.ref_poc[l].is_some() { l } else { 1 - l };
            let rp = u.ref_poc[cl]?;
            Some(scale_mv(
                u.mv[cl],
                col.poc - rp,
                self.lists.cur_poc - target,
            ))
        };
        let (br_x, br_y) = (x + w, y + h);
        if br_x < self.pic.w && br_y < self.pic.h && (br_y >> 6) == (y >> 6) {
            if let Some(mv) = pick(br_x, br_y) {
                return Some(mv);
            }
        }
        pick(x + w / 2, y + h / 2)
    }

    /// The merge candidate list of the `w` x `h` block at (x, y).
    pub fn merge_list(&self, x: usize, y: usize, w: usize, h: usize) -> [Motion; MERGE_CANDIDATES] {
        let (xi, yi, wi, hi) = (x as isize, y as isize, w as isize, h as isize);
        let a1 = self.at(xi - 1, yi + hi - 1);
        let b1 = self.at(xi + wi - 1, yi - 1);
        let b0 = self.at(xi + wi, yi - 1);
        let a0 = self.at(xi - 1, yi + hi);
        let b2 = self.at(xi - 1, yi - 1);
        let mut list: Vec<Motion> = Vec::with_capacity(MERGE_CANDIDATES + 12);
        let differs = |a: Option<Motion>, b: Option<Motion>| a.is_none() || b.is_none() || a != b;
        if let Some(m) = a1 {
            list.push(m);
        }
        if let Some(m) = b1.filter(|_| differs(b1, a1)) {
            list.push(m);
        }
        if let Some(m) = b0.filter(|_| differs(b0, b1)) {
            list.push(m);
        }
        if let Some(m) = a0.filter(|_| differs(a0, a1)) {
            list.push(m);
        }
        if let Some(m) = b2.filter(|_| list.len() < 4 && differs(b2, a1) && differs(b2, b1)) {
            list.push(m);
        }
        // Temporal candidate with reference index 0 in each list.
        let mut t = Motion::INTRA;
        for l in 0..(1 + self.lists.is_b() as usize) {
            if let Some(mv) = self.temporal(x, y, w, h, l, self.lists.poc[l][0]) {
                t.ref_idx[l] = 0;
                t.mv[l] = mv;
            }
        }
        if t.is_inter() && list.len() < MERGE_CANDIDATES {
            list.push(t);
        }
        if self.history {
            // The most recent motions not in the list yet, leaving a place
            // for the pairwise average.
            for h in self.pic.history.iter().rev() {
                if list.len() + 1 >= MERGE_CANDIDATES {
                    break;
                }
                if !list.contains(h) {
                    list.push(*h);
                }
            }
            // The average of the first two candidates, list by list.
            if (2..MERGE_CANDIDATES).contains(&list.len()) {
                let (a, b) = (list[0], list[1]);
                let mut m = Motion::INTRA;
                for l in 0..2 {
                    (m.ref_idx[l], m.mv[l]) = match (a.uses(l), b.uses(l)) {
                        (true, true) => (a.ref_idx[l], average(a.mv[l], b.mv[l])),
                        (true, false) => (a.ref_idx[l], a.mv[l]),
                        (false, true) => (b.ref_idx[l], b.mv[l]),
                        (false, false) => (-1, Mv::ZERO),
                    };
                }
                list.push(m);
            }
        } else if self.lists.is_b() {
            // Combined bi-predictive candidates from pairs of those found so far.
            const PAIRS: [(usize, usize); 12] = [
                (0, 1),
                (1, 0),
                (0, 2),
                (2, 0),
                (1, 2),
                (2, 1),
                (0, 3),
                (3, 0),
                (1, 3),
                (3, 1),
                (2, 3),
                (3, 2),
            ];
            let n = list.len();
            for &(i, j) in PAIRS.iter() {
                if list.len() >= MERGE_CANDIDATES || i >= n || j >= n {
                    continue;
                }
                let (c0, c1) = (list[i], list[j]);
                if c0.uses(0) && c1.uses(1) {
                    let m = Motion {
                        ref_idx: [c0.ref_idx[0], c1.ref_idx[1]],
                        mv: [c0.mv[0], c1.mv[1]],
                    };
                    let same_picture = self.lists.poc_of(&m, 0) == self.lists.poc_of(&m, 1);
                    if !(same_picture && m.mv[0] == m.mv[1]) {
                        list.push(m);
                    }
                }
            }
        }
        // Zero vectors with increasing reference index.
        let refs = if self.lists.is_b() {
            self.lists.len[0].min(self.lists.len[1])
        } else {
            self.lists.len[0]
        };
        let mut r = 0;
        while list.len() < MERGE_CANDIDATES {
            let idx = if r < refs { r as i8 } else { 0 };
            let mut m = Motion::uni(0, idx, Mv::ZERO);
            if self.lists.is_b() {
                m.ref_idx[1] = idx;
            }
            list.push(m);
            r += 1;
        }
        let mut out = [Motion::INTRA; MERGE_CANDIDATES];
        out.copy_from_slice(&list[..MERGE_CANDIDATES]);
        out
    }

    /// The two motion vector predictors of list `l`, reference index `ref_idx`,
    /// for the `w` x `h` block at (x, y).
    pub fn amvp(
        &self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        l: usize,
        ref_idx: usize,
    ) -> [Mv; 2] {
        let (xi, yi, wi, hi) = (x as isize, y as isize, w as isize, h as isize);
        let target = self.lists.poc[l][ref_idx];
        let cur = self.lists.cur_poc;
        // A vector of `m` that points at the target picture, from either list.
        let exact = |m: &Motion| -> Option<Mv> {
            [l, 1 - l]
                .into_iter()
                .find(|&k| m.uses(k) && self.lists.poc_of(m, k) == target)
                .map(|k| m.mv[k])
        };
        let scaled = |m: &Motion| -> Option<Mv> {
            [l, 1 - l]
                .into_iter()
                .find(|&k| m.uses(k))
                .map(|k| scale_mv(m.mv[k], cur - self.lists.poc_of(m, k), cur - target))
        };
        let pick = |cands: &[Option<Motion>]| -> Option<Mv> {
            cands
                .iter()
                .flatten()
                .find_map(exact)
                .or_else(|| cands.iter().flatten().find_map(scaled))
        };
        let left = pick(&[self.at(xi - 1, yi + hi), self.at(xi - 1, yi + hi - 1)]);
        let above = pick(&[
            self.at(xi + wi, yi - 1),
            self.at(xi + wi - 1, yi - 1),
            self.at(xi - 1, yi - 1),
        ]);
        let mut out: Vec<Mv> = Vec::with_capacity(3);
        out.extend(left);
        if let Some(a) = above {
            if out.first() != Some(&a) {
                out.push(a);
            }
        }
        if out.len() < 2 {
            if let Some(t) = self.temporal(x, y, w, h, l, target) {
                out.push(t);
            }
        }
        while out.len() < 2 {
            out.push(Mv::ZERO);
        }
        [out[0], out[1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_latest_distinct_motions() {
        let m = |x: i16| Motion::uni(0, 0, Mv { x, y: 0 });
        let mut h = Vec::new();
        for x in 0..7 {
            remember(&mut h, m(x));
        }
        assert_eq!(h, (2..7).map(m).collect::<Vec<_>>());
        // A repeat moves to the end and nothing is dropped.
        remember(&mut h, m(3));
        assert_eq!(h, [2, 4, 5, 6, 3].map(m).to_vec());
    }

    #[test]
    fn averages_round_halves_toward_zero() {
        let v = |x: i16, y: i16| Mv { x, y };
        assert_eq!(average(v(1, 2), v(2, 4)), v(1, 3));
        assert_eq!(average(v(-1, -2), v(-2, -4)), v(-1, -3));
        assert_eq!(average(v(-1, 5), v(1, -6)), v(0, 0));
        assert_eq!(
            average(v(i16::MAX, i16::MIN), v(i16::MAX, i16::MIN)),
            v(i16::MAX, i16::MIN)
        );
    }

    #[test]
    fn scaling_follows_distance() {
        let mv = Mv { x: 40, y: -12 };
        assert_eq!(scale_mv(mv, 2, 2), mv);
        let s = scale_mv(mv, 1, 2);
        assert_eq!(s, Mv { x: 80, y: -24 });
        let s = scale_mv(mv, 2, -2);
        assert_eq!(s, Mv { x: -40, y: 12 });
        let s = scale_mv(
            Mv {
                x: i16::MAX,
                y: i16::MIN,
            },
            1,
            127,
        );
        assert_eq!(
            s,
            Mv {
                x: i16::MAX,
                y: i16::MIN
            }
        );
    }
}
