//! Deblocking filter: smooths block edges on the 8x8 luma grid (8x8 chroma
//! grid) where transform blocks meet. All vertical edges of the picture are
//! filtered first, then all horizontal edges on the result; each edge touches
//! at most three samples on either side, so edges of one direction are
//! independent and rows of superblocks can be filtered in any order or in
//! parallel with the same result. Normative description:
//! `docs/bitstream.md` 7.
//!
//! This module is the traversal: it decides which edges to filter and with
//! which thresholds, and hands runs of segments (one horizontal edge row, the
//! vertical edges of one band of 4 rows) to the kernels in `dsp::deblock`.

use crate::bitstream::FrameHeader;
use crate::cpu::CpuLevel;
use crate::dsp::deblock::{self as kernels, LumaEdge};
use crate::inter::RefLists;
use crate::picture::{Motion, Mv, PicState, Plane, EDGE_CU_H, EDGE_CU_V, EDGE_TU_H, EDGE_TU_V};
use crate::transform::chroma_qp;
use rayon::prelude::*;

/// Deblocking: beta by Q in 0..=51.
pub(crate) const DEBLOCK_BETA: [u8; 52] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64,
];
/// Deblocking: tc by Q in 0..=53.
pub(crate) const DEBLOCK_TC: [u8; 54] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3,
    3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 11, 13, 14, 16, 18, 20, 22, 24,
];

/// Boundary strength where either side is intra coded.
const INTRA_BS: i32 = 2;

/// Luma thresholds for boundary strength `bs`: the tables' values at the
/// edge's QP, scaled by `2^(bitDepth - 8)` as in HEVC.
fn luma_params(qp: i8, bs: i32, fh: &FrameHeader, bit_depth: u8) -> LumaEdge {
    let q = qp as i32;
    let scale = 1u16 << (bit_depth - 8);
    let bq = (q + 2 * fh.deblock_beta_offset as i32).clamp(0, 51);
    let tq = (q + 2 * (bs - 1) + 2 * fh.deblock_tc_offset as i32).clamp(0, 53);
    LumaEdge {
        beta: u16::from(DEBLOCK_BETA[bq as usize]) * scale,
        tc: u16::from(DEBLOCK_TC[tq as usize]) * scale,
    }
}

fn chroma_tc(qp: i8, offset: i8, fh: &FrameHeader, bit_depth: u8) -> u16 {
    let qc = chroma_qp(qp as i32 + offset as i32, bit_depth) as i32;
    let tq = (qc + 2 * (INTRA_BS - 1) + 2 * fh.deblock_tc_offset as i32).clamp(0, 53);
    u16::from(DEBLOCK_TC[tq as usize]) << (bit_depth - 8)
}

/// Boundary strength between two 8x8 units: 2 if either is intra; 1 if
/// either has luma coefficients (on a transform edge) or their motion
/// differs (other pictures, or a vector component one sample or more apart);
/// else 0 (no filtering).
fn boundary_strength(st: &PicState, lists: &RefLists, p: usize, q: usize) -> u8 {
    let (mp, mq) = (&st.motion[p], &st.motion[q]);
    if !mp.is_inter() || !mq.is_inter() {
        return 2;
    }
    if st.coded[p] || st.coded[q] {
        return 1;
    }
    motion_differs(mp, mq, lists) as u8
}

fn far(a: Mv, b: Mv) -> bool {
    (a.x as i32 - b.x as i32).abs() >= 4 || (a.y as i32 - b.y as i32).abs() >= 4
}

/// Whether two inter blocks' motion differs enough to show an edge.
fn motion_differs(p: &Motion, q: &Motion, lists: &RefLists) -> bool {
    let refs = |m: &Motion| -> Vec<(i64, Mv)> {
        (0..2)
            .filter(|&l| m.uses(l))
            .map(|l| (lists.poc_of(m, l), m.mv[l]))
            .collect()
    };
    let (a, b) = (refs(p), refs(q));
    if a.len() != b.len() {
        return true;
    }
    if a.len() == 1 {
        return a[0].0 != b[0].0 || far(a[0].1, b[0].1);
    }
    let straight = a[0].0 == b[0].0 && a[1].0 == b[1].0;
    let crossed = a[0].0 == b[1].0 && a[1].0 == b[0].0;
    if !straight && !crossed {
        return true;
    }
    let straight_far = !straight || far(a[0].1, b[0].1) || far(a[1].1, b[1].1);
    let crossed_far = !crossed || far(a[0].1, b[1].1) || far(a[1].1, b[0].1);
    straight_far && crossed_far
}

/// Deblocks the reconstruction in place, with the kernels of level `cpu` (the
/// result does not depend on it). Each edge's thresholds come from the mean
/// QP of its two sides, `(QpP + QpQ + 1) >> 1`, which is the frame QP unless
/// superblocks code QP deltas.
pub fn deblock_frame(state: &mut PicState, fh: &FrameHeader, lists: &RefLists, cpu: CpuLevel) {
    let w8 = state.w / 8;
    let bd = state.recon.bit_depth;
    let kernel_bd = u32::from(bd);
    // Strength of the edge on the left (vertical) or top of the unit holding
    // (lx, ly): filtered where it is an edge of the Q side's luma transform
    // block. Chroma edges follow CU edges (chroma transforms span the CU)
    // on the 16-sample luma grid, and only intra edges (strength 2) are
    // filtered.
    let st = &*state;
    let strength = |vertical: bool, lx: usize, ly: usize| -> u8 {
        let q = (ly / 8) * w8 + lx / 8;
        let tu_edge = if vertical { EDGE_TU_V } else { EDGE_TU_H };
        if st.edges[q] & tu_edge == 0 {
            return 0;
        }
        let p = if vertical { q - 1 } else { q - w8 };
        boundary_strength(st, lists, p, q)
    };
    // The QP of the edge whose Q side holds luma sample (lx, ly).
    let edge_qp = |vertical: bool, lx: usize, ly: usize| -> i8 {
        let (px, py) = if vertical { (lx - 1, ly) } else { (lx, ly - 1) };
        let sum = st.qp_at(px, py, fh.qp) as i32 + st.qp_at(lx, ly, fh.qp) as i32;
        ((sum + 1) >> 1) as i8
    };
    let chroma_edge = |vertical: bool, lx: usize, ly: usize| -> Option<i8> {
        let q = (ly / 8) * w8 + lx / 8;
        let cu_edge = if vertical { EDGE_CU_V } else { EDGE_CU_H };
        (st.edges[q] & cu_edge != 0 && strength(vertical, lx, ly) == 2)
            .then(|| edge_qp(vertical, lx, ly))
    };
    let luma = |vertical: bool, lx: usize, ly: usize| match strength(vertical, lx, ly) {
        0 => LumaEdge::OFF,
        bs => luma_params(edge_qp(vertical, lx, ly), bs.min(2) as i32, fh, bd),
    };
    // Luma thresholds of the vertical edges (columns 8, 16, ...) band by band
    // (4 rows), and of the horizontal edges (rows 8, 16, ...) segment by
    // segment (4 columns).
    let v_edges = w8.saturating_sub(1);
    let luma_v: Vec<LumaEdge> = (0..state.h / 4)
        .flat_map(|band| (1..w8).map(move |i| (band, i)))
        .map(|(band, i)| luma(true, 8 * i, 4 * band))
        .collect();
    let w4 = state.w / 4;
    let luma_h: Vec<LumaEdge> = (1..state.h.div_ceil(8))
        .flat_map(|row| (0..w4).map(move |i| (row, i)))
        .map(|(row, i)| luma(false, 4 * i, 8 * row))
        .collect();
    // Chroma planes are (w/2) x (h/2), multiples of 4 but not always of 8.
    // The QP of each segment that is an edge, laid out the same way.
    let (cw, chh) = (state.w / 2, state.h / 2);
    let cv_edges = cw.div_ceil(8) - 1;
    let cv: Vec<Option<i8>> = (0..chh / 4)
        .flat_map(|band| (1..=cv_edges).map(move |i| (band, i)))
        .map(|(band, i)| chroma_edge(true, 16 * i, 8 * band))
        .collect();
    let cw4 = cw / 4;
    let ch: Vec<Option<i8>> = (1..chh.div_ceil(8))
        .flat_map(|row| (0..cw4).map(move |i| (row, i)))
        .map(|(row, i)| chroma_edge(false, 8 * i, 16 * row))
        .collect();
    let chroma_tcs = |edges: &[Option<i8>], offset: i8| -> Vec<u16> {
        edges
            .iter()
            .map(|q| q.map_or(0, |q| chroma_tc(q, offset, fh, bd)))
            .collect()
    };
    let cv_tcs = [
        chroma_tcs(&cv, fh.chroma_qp_offset[0]),
        chroma_tcs(&cv, fh.chroma_qp_offset[1]),
    ];
    let ch_tcs = [
        chroma_tcs(&ch, fh.chroma_qp_offset[0]),
        chroma_tcs(&ch, fh.chroma_qp_offset[1]),
    ];
    let [y, u, v] = &mut state.recon.planes;

    vertical_edges(y, &luma_v, v_edges, |band, stride, edges| {
        kernels::luma_vertical(band, stride, edges, kernel_bd, cpu)
    });
    for (plane, tcs) in [(&mut *u, &cv_tcs[0]), (&mut *v, &cv_tcs[1])] {
        if tcs.iter().any(|&tc| tc > 0) {
            vertical_edges(plane, tcs, cv_edges, |band, stride, tcs| {
                kernels::chroma_vertical(band, stride, tcs, kernel_bd, cpu)
            });
        }
    }
    horizontal_edges(y, &luma_h, w4, |data, stride, row, edges| {
        kernels::luma_horizontal(data, stride, row, edges, kernel_bd, cpu)
    });
    for (plane, tcs) in [(&mut *u, &ch_tcs[0]), (&mut *v, &ch_tcs[1])] {
        if tcs.iter().any(|&tc| tc > 0) {
            horizontal_edges(plane, tcs, cw4, |data, stride, row, tcs| {
                kernels::chroma_horizontal(data, stride, row, tcs, kernel_bd, cpu)
            });
        }
    }
}

/// Filters the vertical edges on the 8-sample grid of `plane`, band by band
/// (4 rows): `params` holds `per_band` entries per band, one per edge
/// (columns 8, 16, ...). Bands are independent and run in parallel.
fn vertical_edges<T, F>(plane: &mut Plane, params: &[T], per_band: usize, filter: F)
where
    T: Sync,
    F: Fn(&mut [u16], usize, &[T]) + Sync,
{
    if per_band == 0 {
        return;
    }
    let stride = plane.width;
    plane
        .data
        .par_chunks_mut(stride * 4)
        .zip(params.par_chunks(per_band))
        .for_each(|(band, edges)| filter(band, stride, edges));
}

/// Filters the horizontal edges on the 8-sample grid of `plane`, top to
/// bottom: `params` holds `per_row` entries per edge (rows 8, 16, ...), one
/// per 4-sample segment.
fn horizontal_edges<T, F>(plane: &mut Plane, params: &[T], per_row: usize, filter: F)
where
    F: Fn(&mut [u16], usize, usize, &[T]),
{
    if per_row == 0 {
        return;
    }
    let stride = plane.width;
    for (i, edges) in params.chunks(per_row).enumerate() {
        filter(&mut plane.data, stride, 8 * (i + 1), edges);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn lists() -> RefLists {
        RefLists {
            poc: [[0, 4, 0, 0], [16, 0, 0, 0]],
            len: [2, 1],
            cur_poc: 8,
        }
    }

    fn uni(l: usize, ref_idx: i8, x: i16, y: i16) -> Motion {
        Motion::uni(l, ref_idx, Mv { x, y })
    }

    /// Section 7's boundary strengths: 2 where either side is intra, 1 where
    /// either side has coefficients or the motion differs (other pictures,
    /// or a component one full sample or more apart), 0 otherwise.
    #[test]
    fn boundary_strength_follows_the_specification() {
        let lists = lists();
        let mut st = PicState::new(16, 8, 8);
        let strength = |st: &PicState| boundary_strength(st, &lists, 0, 1);
        assert_eq!(strength(&st), 2, "both intra");
        st.motion[0] = uni(0, 0, 8, 8);
        assert_eq!(strength(&st), 2, "one intra");
        st.motion[1] = uni(0, 0, 11, 5);
        assert_eq!(strength(&st), 0, "less than a sample apart");
        st.coded[1] = true;
        assert_eq!(strength(&st), 1, "coefficients");
        st.coded[1] = false;
        st.motion[1] = uni(0, 0, 12, 8);
        assert_eq!(strength(&st), 1, "a full sample apart");
        st.motion[1] = uni(0, 1, 8, 8);
        assert_eq!(strength(&st), 1, "another picture");
        // The same picture through the other list is the same motion.
        let mut same_picture = lists;
        same_picture.poc[1][0] = 0;
        st.motion[1] = uni(1, 0, 8, 8);
        assert_eq!(boundary_strength(&st, &same_picture, 0, 1), 0);
        // Bi-prediction from the same two pictures, the lists crossed.
        let two = RefLists {
            poc: [[16, 4, 0, 0], [4, 16, 0, 0]],
            len: [2, 2],
            cur_poc: 8,
        };
        let (a, b) = (Mv { x: 0, y: 0 }, Mv { x: 20, y: 0 });
        let bi = |ref_idx: [i8; 2], mv: [Mv; 2]| Motion { ref_idx, mv };
        st.motion[0] = bi([0, 0], [a, b]); // 16 with a, 4 with b
        st.motion[1] = bi([1, 1], [b, a]); // 4 with b, 16 with a
        assert_eq!(boundary_strength(&st, &two, 0, 1), 0, "crossed, same");
        st.motion[1] = bi([1, 1], [a, a]);
        assert_eq!(boundary_strength(&st, &two, 0, 1), 1, "crossed, far");
        st.motion[1] = bi([0, 0], [a, b]);
        assert_eq!(boundary_strength(&st, &two, 0, 1), 0, "straight, same");
        st.motion[1] = uni(0, 0, 0, 0);
        assert_eq!(strength(&st), 1, "bi against uni");
    }

    /// A picture with random samples, CU and transform sizes, intra and
    /// inter units and coded flags.
    fn random_picture(rng: &mut SmallRng, w: usize, h: usize) -> PicState {
        let mut st = PicState::new(w, h, 8);
        for p in &mut st.recon.planes {
            let base = rng.gen_range(0..200u8);
            for v in &mut p.data {
                *v = u16::from(base + rng.gen_range(0..56u8));
            }
        }
        for i in 0..st.edges.len() {
            // Transform edges on about half the units, CU edges on a third.
            st.edges[i] = rng.gen_range(0..4u8) | rng.gen_range(0..6u8) << 2 & 12;
            st.coded[i] = rng.gen_bool(0.3);
            if rng.gen_bool(0.6) {
                st.motion[i] = uni(0, rng.gen_range(0..2), rng.gen_range(-9..9), 0);
            }
        }
        st
    }

    /// With superblock QPs each edge is filtered at the mean QP of its two
    /// sides, `(QpP + QpQ + 1) >> 1`: a row of three superblocks at QPs 20,
    /// 45 and 30 (one row of 8x8 units, so vertical edges only) equals, strip
    /// by strip, the picture deblocked at one QP: 20 inside the first, 33 on
    /// the edge between the first two, 45 inside the second, 38 on the next
    /// edge. Luma and chroma.
    #[test]
    fn edges_take_the_mean_qp_of_their_sides() {
        let mut rng = SmallRng::seed_from_u64(9);
        let mut st = PicState::new(192, 8, 8);
        // Flat 8-wide columns with steps of 0..30 between them (edges the
        // filter takes for blocking, where a tc one apart clips differently)
        // and a little noise.
        for p in &mut st.recon.planes {
            let w = p.width;
            for (i, v) in p.data.iter_mut().enumerate() {
                *v = 100 + ((i % w) / 8 * 13 % 31) as u16 + rng.gen_range(0..2);
            }
        }
        // 8x8 CUs and transform blocks: every unit edge is an edge of both.
        st.edges.fill(EDGE_TU_V | EDGE_TU_H | EDGE_CU_V | EDGE_CU_H);
        let fh = FrameHeader {
            chroma_qp_offset: [2, -3],
            ..FrameHeader::key(0, 20)
        };
        let at = |qp: i8, map: &[i8]| {
            let mut s = st.clone();
            s.sb_qp = map.to_vec();
            let mut f = fh;
            f.qp = qp;
            deblock_frame(&mut s, &f, &lists(), CpuLevel::Scalar);
            s.recon
        };
        let mixed = at(20, &[20, 45, 30]);
        // (columns of luma; chroma is half) and the uniform QP they follow.
        for (cols, qp) in [(0..58, 20), (61..67, 33), (70..122, 45), (125..131, 38)] {
            let uniform = at(qp, &[]);
            for plane in 0..3 {
                let (w, cols) = if plane == 0 {
                    (192, cols.clone())
                } else {
                    (96, cols.start / 2..cols.end / 2)
                };
                let rows = if plane == 0 { 8 } else { 4 };
                for y in 0..rows {
                    for x in cols.clone() {
                        let i = y * w + x;
                        assert_eq!(
                            mixed.planes[plane].data[i], uniform.planes[plane].data[i],
                            "plane {plane} ({x}, {y}), QP {qp}"
                        );
                    }
                }
            }
        }
        // The QPs matter: one QP for all changes the edges of the others.
        assert!(at(20, &[]) != at(45, &[]));
        assert!(at(32, &[]) != at(33, &[]));
        assert!(at(37, &[]) != at(38, &[]));
        assert!(mixed != at(20, &[]) && mixed != at(45, &[]));
    }

    /// The traversal with the kernels of every level gives the scalar
    /// result, for random pictures and every offset, and filters something.
    #[test]
    fn every_level_deblocks_a_picture_alike() {
        let mut rng = SmallRng::seed_from_u64(5);
        for (w, h) in [(64, 48), (72, 40), (136, 24)] {
            for offset in [-6, 0, 6] {
                let st = random_picture(&mut rng, w, h);
                let mut fh = FrameHeader::key(0, rng.gen_range(22..=51));
                fh.deblock_beta_offset = offset;
                fh.deblock_tc_offset = offset;
                fh.chroma_qp_offset = [rng.gen_range(-12..=12), rng.gen_range(-12..=12)];
                let run = |cpu: CpuLevel| {
                    let mut s = st.clone();
                    deblock_frame(&mut s, &fh, &lists(), cpu);
                    s.recon
                };
                let want = run(CpuLevel::Scalar);
                if offset == 6 {
                    assert_ne!(want, st.recon, "{w}x{h}: nothing filtered");
                }
                for cpu in CpuLevel::all_supported() {
                    assert!(run(cpu) == want, "{w}x{h}, offset {offset}, {cpu:?}");
                }
            }
        }
    }
}
