//! Adaptive group length for random access: whether the frames after an
//! anchor are coded as one hierarchical group of 32 or as a group of 16
//! (after which the choice is made again).
//!
//! The two structures differ in the references of two frames only. Coded as
//! one group, frame 32 is predicted from the anchor (frame 0) over 32 frames
//! and frame 16 from both sides (0 and 32); coded as two, frame 16 is
//! predicted from 0 and frame 32 from 16 (or 0), each over 16 frames. Every
//! other frame has the same two nearest references either way (1..15: 0 and
//! 16; 17..31: 16 and 32). So the long group pays where the extra cost of
//! predicting frame 32 over twice the distance is no more than what
//! predicting frame 16 from both sides saves.
//!
//! A group cut short before a keyframe or at the end, of 17..=31 frames
//! (`last`), is weighed the same way: one group (its last frame from the
//! anchor, its midpoint from both) against 16 frames and the rest (frame 16
//! from the anchor, the last frame from frame 16 or the anchor).
//!
//! Both are estimated as x265's lookahead estimates frame costs (`b-adapt`,
//! `slicetype.cpp`): the luma at a quarter of the resolution each way, a
//! block-matching motion search per 8x8 block (32x32 luma samples), and each
//! block's cost the smallest of its intra and inter prediction errors. No
//! threshold is involved: the long group is chosen when its estimated cost is
//! not above the short one's. libaom makes the same choice between 32 and 16
//! (`is_shorter_gf_interval_better`) from its TPL propagation statistics,
//! SVT-AV1's dynamic mini-GOP (`eval_sub_mini_gop`) from a 1/16-resolution
//! motion search of the same pairs of frames (0-32, 0-16, 16-32) with a bias.
//!
//! Everything is integer arithmetic, so the choice never depends on thread
//! count or order.

use crate::picture::Frame;
use rayon::prelude::*;

/// Side of an analysis block at quarter resolution (32x32 luma samples).
const BLOCK: usize = 8;

/// Full-search range at eighth resolution, each way, in eighth-resolution
/// samples (128 luma samples).
const COARSE_RANGE: i32 = 16;

/// Integer refinement range at quarter resolution around the coarse vector.
const FINE_RANGE: i32 = 2;

/// One plane of 4x4 sums of 8-bit-scale samples (16 times their mean),
/// extended by `pad` samples on every side by repeating its edges (as
/// codecs extend their references), so that displaced blocks may reach
/// past the picture's edge.
#[derive(Clone)]
struct Level {
    width: usize,
    height: usize,
    pad: usize,
    stride: usize,
    data: Vec<u16>,
}

impl Level {
    /// A level from a tight `width` x `height` plane, padded by `pad`.
    fn new(tight: &[u16], width: usize, height: usize, pad: usize) -> Level {
        Level {
            width,
            height,
            pad,
            stride: width + 2 * pad,
            data: super::temporal_filter::edge_extended(tight, width, height, pad),
        }
    }

    /// The `n` samples from `(x, y)` on (which may lie in the padding).
    fn row(&self, x: isize, y: isize, n: usize) -> &[u16] {
        let pad = self.pad as isize;
        &self.data[((y + pad) * self.stride as isize + x + pad) as usize..][..n]
    }

    /// Whether an `n` x `n` block at `(x, y)` lies inside the padded area.
    fn holds(&self, x: isize, y: isize, n: usize) -> bool {
        let pad = self.pad as isize;
        x >= -pad
            && y >= -pad
            && x + n as isize <= self.width as isize + pad
            && y + n as isize <= self.height as isize + pad
    }

    /// 2x2 means, the size rounded down (sums of 8x8 samples over 4).
    fn half(&self, pad: usize) -> Level {
        let (width, height) = (self.width / 2, self.height / 2);
        let mut tight = Vec::with_capacity(width * height);
        for y in 0..height as isize {
            let (a, b) = (
                self.row(0, 2 * y, 2 * width),
                self.row(0, 2 * y + 1, 2 * width),
            );
            for x in 0..width {
                tight.push((a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1] + 2) >> 2);
            }
        }
        Level::new(&tight, width, height, pad)
    }
}

/// A frame's luma at a quarter and an eighth of its resolution each way,
/// at 16 times the 8-bit scale (the sums of 4x4 samples: averaging removes
/// most of the noise, which rounding to the 8-bit scale would then
/// dominate): what the group-length analysis looks at.
#[derive(Clone)]
pub(super) struct Thumbnail {
    quarter: Level,
    eighth: Level,
}

impl Thumbnail {
    /// The thumbnail of `frame` (4x4 sums of its luma, the size rounded down).
    pub(super) fn new(frame: &Frame) -> Thumbnail {
        let p = &frame.planes[0];
        let (width, height) = (p.width / 4, p.height / 4);
        let shift = u32::from(frame.bit_depth.max(8)) - 8;
        let mut tight = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let mut sum = 0u32;
                for j in 0..4 {
                    let row = &p.data[(4 * y + j) * p.width + 4 * x..][..4];
                    sum += row.iter().map(|&v| u32::from(v)).sum::<u32>();
                }
                tight.push(((sum + (1 << shift >> 1)) >> shift) as u16);
            }
        }
        let quarter = Level::new(&tight, width, height, BLOCK + 1);
        let eighth = quarter.half(BLOCK / 2);
        Thumbnail { quarter, eighth }
    }

    /// Analysis blocks across and down.
    fn blocks(&self) -> (usize, usize) {
        (self.quarter.width / BLOCK, self.quarter.height / BLOCK)
    }
}

/// A motion vector in half samples of the quarter-resolution level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Mv {
    x: i32,
    y: i32,
}

/// The `BLOCK` x `BLOCK` prediction of the block at `(x, y)` (quarter
/// resolution) from `r` displaced by `mv` (bilinear at half positions), or
/// `None` where it would reach more than a block past the picture's edge.
fn predict(r: &Level, x: usize, y: usize, mv: Mv) -> Option<[u16; BLOCK * BLOCK]> {
    let hx = 2 * x as isize + mv.x as isize;
    let hy = 2 * y as isize + mv.y as isize;
    let (ix, iy, fx, fy) = (hx >> 1, hy >> 1, (hx & 1) as usize, (hy & 1) as usize);
    if !r.holds(ix, iy, BLOCK + 1) {
        return None;
    }
    let mut out = [0u16; BLOCK * BLOCK];
    for j in 0..BLOCK {
        let a = r.row(ix, iy + j as isize, BLOCK + 1);
        let b = r.row(ix, iy + j as isize + 1, BLOCK + 1);
        let o = &mut out[j * BLOCK..][..BLOCK];
        match (fx, fy) {
            (0, 0) => o.copy_from_slice(&a[..BLOCK]),
            (1, 0) => (0..BLOCK).for_each(|i| o[i] = (a[i] + a[i + 1] + 1) >> 1),
            (0, _) => (0..BLOCK).for_each(|i| o[i] = (a[i] + b[i] + 1) >> 1),
            _ => (0..BLOCK).for_each(|i| o[i] = (a[i] + a[i + 1] + b[i] + b[i + 1] + 2) >> 2),
        }
    }
    Some(out)
}

/// Sum of absolute differences between the block at `(x, y)` of `c` and `p`.
fn sad(c: &Level, x: usize, y: usize, p: &[u16; BLOCK * BLOCK]) -> u32 {
    let mut s = 0u32;
    for j in 0..BLOCK {
        let row = c.row(x as isize, (y + j) as isize, BLOCK);
        for i in 0..BLOCK {
            s += u32::from(row[i].abs_diff(p[j * BLOCK + i]));
        }
    }
    s
}

/// Each block's best motion vector from `cur` to `reference` and its SAD: a
/// full search at eighth resolution, then integer and half-sample refinement
/// at quarter resolution. Equal costs keep the shorter vector. Blocks may
/// reach up to a block past the picture's edge.
fn search(cur: &Thumbnail, reference: &Thumbnail) -> Vec<(Mv, u32)> {
    let (cols, rows) = cur.blocks();
    let (c8, r8) = (&cur.eighth, &reference.eighth);
    let (c4, r4) = (&cur.quarter, &reference.quarter);
    let half = BLOCK / 2;
    let mut out: Vec<(Mv, u32)> = Vec::with_capacity(cols * rows);
    for by in 0..rows {
        for bx in 0..cols {
            // Eighth resolution: blocks of 4x4, whole-sample full search.
            let (x8, y8) = ((bx * half) as isize, (by * half) as isize);
            let mut best = (u32::MAX, 0i32, 0i32);
            for dy in -COARSE_RANGE..=COARSE_RANGE {
                for dx in -COARSE_RANGE..=COARSE_RANGE {
                    let (rx, ry) = (x8 + dx as isize, y8 + dy as isize);
                    if !r8.holds(rx, ry, half) {
                        continue;
                    }
                    let mut s = 0u32;
                    for j in 0..half as isize {
                        let crow = c8.row(x8, y8 + j, half);
                        let rrow = r8.row(rx, ry + j, half);
                        s += crow
                            .iter()
                            .zip(rrow)
                            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                            .sum::<u32>();
                    }
                    let len = dx.abs() + dy.abs();
                    if (s, len) < (best.0, best.1.abs() + best.2.abs()) {
                        best = (s, dx, dy);
                    }
                }
            }
            // Quarter resolution: whole samples around twice the coarse
            // vector, the zero vector and the vectors found left and above
            // (the coarse search's small blocks can be fooled by smooth
            // texture), then the eight half positions.
            let (x4, y4) = (bx * BLOCK, by * BLOCK);
            let cost = |mv: Mv| predict(r4, x4, y4, mv).map(|p| sad(c4, x4, y4, &p));
            let better = |a: (u32, Mv), b: (u32, Mv)| {
                (a.0, a.1.x.abs() + a.1.y.abs()) < (b.0, b.1.x.abs() + b.1.y.abs())
            };
            let mut found = (u32::MAX, Mv::default());
            let mut centres = vec![Mv::default()];
            if best.0 != u32::MAX {
                centres.push(Mv {
                    x: 4 * best.1,
                    y: 4 * best.2,
                });
            }
            let whole = |mv: Mv| Mv {
                x: mv.x & !1,
                y: mv.y & !1,
            };
            if bx > 0 {
                centres.push(whole(out[out.len() - 1].0));
            }
            if by > 0 {
                centres.push(whole(out[out.len() - cols].0));
            }
            centres.dedup();
            for centre in centres {
                for dy in -FINE_RANGE..=FINE_RANGE {
                    for dx in -FINE_RANGE..=FINE_RANGE {
                        let mv = Mv {
                            x: centre.x + 2 * dx,
                            y: centre.y + 2 * dy,
                        };
                        if let Some(s) = cost(mv) {
                            if better((s, mv), found) {
                                found = (s, mv);
                            }
                        }
                    }
                }
            }
            let whole = found.1;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let mv = Mv {
                        x: whole.x + dx,
                        y: whole.y + dy,
                    };
                    if let Some(s) = cost(mv) {
                        if better((s, mv), found) {
                            found = (s, mv);
                        }
                    }
                }
            }
            out.push((found.1, found.0));
        }
    }
    out
}

/// Each block's intra cost at quarter resolution: the smallest SAD of a DC,
/// vertical, horizontal or averaged prediction from the samples above and
/// to the left (the source's, as x265's lookahead predicts from its
/// lowres source); the block's own mean where it has neither.
fn intra_costs(t: &Thumbnail) -> Vec<u32> {
    let (cols, rows) = t.blocks();
    let c = &t.quarter;
    let mut out = Vec::with_capacity(cols * rows);
    for by in 0..rows {
        for bx in 0..cols {
            let (x, y) = (bx * BLOCK, by * BLOCK);
            let at = |x: usize, y: usize| c.row(x as isize, y as isize, 1)[0];
            let top: Option<Vec<u16>> =
                (y > 0).then(|| (0..BLOCK).map(|i| at(x + i, y - 1)).collect());
            let left: Option<Vec<u16>> =
                (x > 0).then(|| (0..BLOCK).map(|j| at(x - 1, y + j)).collect());
            let mut preds: Vec<[u16; BLOCK * BLOCK]> = Vec::new();
            let fill = |f: &dyn Fn(usize, usize) -> u16| {
                let mut p = [0u16; BLOCK * BLOCK];
                for j in 0..BLOCK {
                    for i in 0..BLOCK {
                        p[j * BLOCK + i] = f(i, j);
                    }
                }
                p
            };
            let neighbours: Vec<u16> = top.iter().chain(left.iter()).flatten().copied().collect();
            let dc = if neighbours.is_empty() {
                let sum: u32 = (0..BLOCK * BLOCK)
                    .map(|k| u32::from(at(x + k % BLOCK, y + k / BLOCK)))
                    .sum();
                ((sum + 32) >> 6) as u16
            } else {
                let n = neighbours.len() as u32;
                ((neighbours.iter().map(|&v| u32::from(v)).sum::<u32>() + n / 2) / n) as u16
            };
            preds.push(fill(&|_, _| dc));
            if let Some(top) = &top {
                preds.push(fill(&|i, _| top[i]));
            }
            if let Some(left) = &left {
                preds.push(fill(&|_, j| left[j]));
            }
            if let (Some(top), Some(left)) = (&top, &left) {
                preds.push(fill(&|i, j| (top[i] + left[j] + 1) >> 1));
            }
            out.push(preds.iter().map(|p| sad(c, x, y, p)).min().unwrap_or(0));
        }
    }
    out
}

/// Each block's bi-prediction SAD: the rounded mean of the predictions from
/// `r0` along `m0` and from `r1` along `m1` (`u32::MAX` where one falls outside).
fn bi_costs(
    cur: &Thumbnail,
    r0: &Thumbnail,
    m0: &[(Mv, u32)],
    r1: &Thumbnail,
    m1: &[(Mv, u32)],
) -> Vec<u32> {
    let (cols, _) = cur.blocks();
    m0.iter()
        .zip(m1)
        .enumerate()
        .map(|(b, (a, c))| {
            let (x, y) = ((b % cols) * BLOCK, (b / cols) * BLOCK);
            match (
                predict(&r0.quarter, x, y, a.0),
                predict(&r1.quarter, x, y, c.0),
            ) {
                (Some(p0), Some(p1)) => {
                    let mut p = [0u16; BLOCK * BLOCK];
                    for k in 0..BLOCK * BLOCK {
                        p[k] = (p0[k] + p1[k] + 1) >> 1;
                    }
                    sad(&cur.quarter, x, y, &p)
                }
                _ => u32::MAX,
            }
        })
        .collect()
}

/// Sum over blocks of the smallest of each block's candidate costs.
fn total(candidates: &[&[u32]]) -> u64 {
    (0..candidates[0].len())
        .map(|b| u64::from(candidates.iter().map(|c| c[b]).min().unwrap_or(0)))
        .sum()
}

/// The estimated costs of the frames whose references differ between one
/// long group and a short group followed by the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct GroupCosts {
    /// The long group: its last frame from the anchor, plus its midpoint
    /// from both.
    pub(super) long: u64,
    /// The short group: its last frame from the anchor, plus the long
    /// group's last frame from it (or from the anchor).
    pub(super) short: u64,
}

impl GroupCosts {
    /// Whether the long group is estimated to cost no more.
    pub(super) fn long_pays(&self) -> bool {
        self.long <= self.short
    }
}

/// The costs of coding the frames after `anchor` as one group ending at
/// `last`, with midpoint `mid`, or as a short group ending at `split` and
/// then `last` predicted from it. `None` for pictures too small to hold one
/// analysis block (under 32x32 luma samples). Work is spread over the
/// current rayon pool; the result does not depend on it.
pub(super) fn group_costs(
    anchor: &Thumbnail,
    split: &Thumbnail,
    mid: &Thumbnail,
    last: &Thumbnail,
    mid_is_split: bool,
) -> Option<GroupCosts> {
    let (cols, rows) = anchor.blocks();
    if cols * rows == 0 {
        return None;
    }
    // The searches, each (current, reference).
    let mut pairs: Vec<(&Thumbnail, &Thumbnail)> = vec![
        (last, anchor),  // long group's last frame
        (split, anchor), // short group's last frame
        (last, split),   // the next anchor from the short group's last
        (mid, last),     // midpoint from its future
    ];
    if !mid_is_split {
        pairs.push((mid, anchor));
    }
    let motion: Vec<Vec<(Mv, u32)>> = pairs.par_iter().map(|(c, r)| search(c, r)).collect();
    let intra: Vec<Vec<u32>> = [last, split, mid]
        .par_iter()
        .map(|t| intra_costs(t))
        .collect();
    let sads = |m: &[(Mv, u32)]| m.iter().map(|e| e.1).collect::<Vec<u32>>();
    let last_from_anchor = sads(&motion[0]);
    let split_from_anchor = sads(&motion[1]);
    let last_from_split = sads(&motion[2]);
    let mid_from_last = sads(&motion[3]);
    let mid_past = if mid_is_split { &motion[1] } else { &motion[4] };
    let mid_from_anchor = sads(mid_past);
    let mid_bi = bi_costs(mid, anchor, mid_past, last, &motion[3]);
    let (i_last, i_split, i_mid) = (&intra[0], &intra[1], &intra[2]);
    let long = total(&[i_last, &last_from_anchor])
        + total(&[i_mid, &mid_from_anchor, &mid_from_last, &mid_bi]);
    let short = total(&[i_split, &split_from_anchor])
        + total(&[i_last, &last_from_split, &last_from_anchor]);
    Some(GroupCosts { long, short })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// splitmix64.
    fn mix(mut h: u64) -> u64 {
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^ (h >> 31)
    }

    /// Value noise: random levels on a lattice of `cell` samples, smoothly
    /// interpolated; about -1..1.
    fn value_noise(u: f64, t: f64, cell: f64, salt: u64) -> f64 {
        let (gu, gt) = ((u / cell).floor(), (t / cell).floor());
        let (fu, ft) = (u / cell - gu, t / cell - gt);
        let level = |a: f64, b: f64| {
            let h = mix((a as i64 as u64) ^ (b as i64 as u64) << 21 ^ salt << 42);
            (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let smooth = |x: f64| x * x * (3.0 - 2.0 * x);
        let (su, st) = (smooth(fu), smooth(ft));
        let top = level(gu, gt) * (1.0 - su) + level(gu + 1.0, gt) * su;
        let bottom = level(gu, gt + 1.0) * (1.0 - su) + level(gu + 1.0, gt + 1.0) * su;
        top * (1.0 - st) + bottom * st
    }

    /// A random smooth texture (value noise with features of about 6 and 16
    /// samples) seen through a camera turned by `angle` radians about the
    /// picture's centre and moved by `shift` samples to the right, plus a
    /// little noise that differs from frame to frame (`seed`).
    pub(in crate::encoder) fn synthetic_frame(
        width: usize,
        height: usize,
        angle: f64,
        shift: f64,
        seed: u64,
    ) -> Frame {
        let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
        let (sin, cos) = angle.sin_cos();
        let mut f = Frame::new_420(width, height);
        for (p, plane) in f.planes.iter_mut().enumerate() {
            let scale = if p == 0 { 1.0 } else { 2.0 };
            let w = plane.width;
            for (i, v) in plane.data.iter_mut().enumerate() {
                let (x, y) = ((i % w) as f64 * scale - cx, (i / w) as f64 * scale - cy);
                let (u, t) = (cos * x - sin * y - shift, sin * x + cos * y);
                let signal = 60.0 * value_noise(u, t, 16.0, p as u64)
                    + 25.0 * value_noise(u, t, 6.0, 3 + p as u64);
                let h = mix(i as u64 | (p as u64) << 24 | seed << 32);
                let noise = (h >> 61) as f64 - 3.5;
                *v = (128.0 + signal + noise).round().clamp(0.0, 255.0) as u16;
            }
        }
        f
    }

    fn costs(frame: impl Fn(usize) -> Frame) -> GroupCosts {
        let t = |i| Thumbnail::new(&frame(i));
        let (anchor, split, last) = (t(0), t(16), t(32));
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| group_costs(&anchor, &split, &split, &last, true))
            .expect("large enough")
    }

    /// A still picture (with noise) and a slow pan are predicted as well
    /// over 32 frames as over 16, and frame 16 better from both sides: one
    /// long group. A camera turning by a degree a frame predicts worse the
    /// farther it looks (frame 32 is turned 32 degrees from the anchor,
    /// beyond what block matching follows): two short groups.
    #[test]
    fn long_groups_for_still_and_slow_content_only() {
        let still = costs(|i| synthetic_frame(256, 192, 0.0, 0.0, i as u64));
        assert!(still.long_pays(), "still: {still:?}");
        let turning = costs(|i| synthetic_frame(256, 192, (i as f64).to_radians(), 0.0, i as u64));
        assert!(!turning.long_pays(), "turning: {turning:?}");
    }

    /// Pictures under 32x32 luma samples hold no analysis block.
    #[test]
    fn tiny_pictures_are_not_measured() {
        let t = Thumbnail::new(&Frame::new_420(32, 24));
        assert_eq!(group_costs(&t, &t, &t, &t, true), None);
    }

    /// Vectors reach 128 luma samples and half a quarter-resolution sample:
    /// a picture moved by 100 samples is found with a small error.
    #[test]
    fn search_finds_large_motion() {
        let a = Thumbnail::new(&synthetic_frame(384, 256, 0.0, 0.0, 1));
        let b = Thumbnail::new(&synthetic_frame(384, 256, 0.0, 100.0, 1));
        let found = search(&b, &a);
        let intra = intra_costs(&b);
        let (cols, _) = b.blocks();
        // The blocks whose content lies inside the other picture (from 100
        // luma samples on: the fourth column of 32 on).
        for (i, (mv, cost)) in found.iter().enumerate() {
            if i % cols >= 4 {
                assert_eq!(*mv, Mv { x: -50, y: 0 }, "block {i}");
                assert!(
                    *cost * 8 < intra[i],
                    "block {i}: {cost} vs intra {}",
                    intra[i]
                );
            }
        }
    }
}
