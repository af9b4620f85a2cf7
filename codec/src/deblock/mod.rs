//! Deblocking filter: smooths block edges on the 8x8 luma grid (8x8 chroma
//! grid) where transform blocks meet. All vertical edges of the picture are
//! filtered first, then all horizontal edges on the result; each edge touches
//! at most three samples on either side, so edges of one direction are
//! independent and rows of superblocks can be filtered in any order or in
//! parallel with the same result. Normative description:
//! `docs/bitstream.md` 7.
//!
//! The kernels (one 4-sample luma segment, one 4-sample chroma segment) are
//! kept apart from the traversal that decides which edges to filter.

use crate::bitstream::FrameHeader;
use crate::inter::RefLists;
use crate::picture::{Motion, Mv, PicState, Plane};
use crate::transform::chroma_qp;
use rayon::prelude::*;

/// Deblocking: beta by Q in 0..=51.
const DEBLOCK_BETA: [u8; 52] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64,
];
/// Deblocking: tc by Q in 0..=53.
const DEBLOCK_TC: [u8; 54] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3,
    3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 11, 13, 14, 16, 18, 20, 22, 24,
];

/// Boundary strength where either side is intra coded.
const INTRA_BS: i32 = 2;

/// Thresholds for one edge.
#[derive(Clone, Copy)]
struct LumaParams {
    beta: i32,
    tc: i32,
}

/// Filters one 4-line luma edge segment. `px(i, k)` addresses sample k
/// (0 = nearest the edge) on the P side of line i; the Q side is mirrored.
/// `step` is the distance between samples across the edge and `line` the
/// distance between lines, so the same code serves both directions.
fn filter_luma_segment(data: &mut [u8], q0: usize, step: isize, line: isize, prm: LumaParams) {
    let at = |i: usize, k: isize| (q0 as isize + i as isize * line + k * step) as usize;
    let s = |d: &[u8], i: usize, k: isize| d[at(i, k)] as i32;
    // k = -1..-4 is P (p0..p3), k = 0..3 is Q (q0..q3).
    let dp = |d: &[u8], i| (s(d, i, -3) - 2 * s(d, i, -2) + s(d, i, -1)).abs();
    let dq = |d: &[u8], i| (s(d, i, 2) - 2 * s(d, i, 1) + s(d, i, 0)).abs();
    let (dp0, dp3, dq0, dq3) = (dp(data, 0), dp(data, 3), dq(data, 0), dq(data, 3));
    let (beta, tc) = (prm.beta, prm.tc);
    let d = dp0 + dq0 + dp3 + dq3;
    if d >= beta {
        return;
    }
    let strong_line = |d: &[u8], i: usize, dpq: i32| {
        2 * dpq < (beta >> 2)
            && (s(d, i, -4) - s(d, i, -1)).abs() + (s(d, i, 0) - s(d, i, 3)).abs() < (beta >> 3)
            && (s(d, i, -1) - s(d, i, 0)).abs() < ((5 * tc + 1) >> 1)
    };
    let strong = strong_line(data, 0, dp0 + dq0) && strong_line(data, 3, dp3 + dq3);
    let side_p = dp0 + dp3 < ((beta + (beta >> 1)) >> 3);
    let side_q = dq0 + dq3 < ((beta + (beta >> 1)) >> 3);
    for i in 0..4 {
        let p = [
            s(data, i, -1),
            s(data, i, -2),
            s(data, i, -3),
            s(data, i, -4),
        ];
        let q = [s(data, i, 0), s(data, i, 1), s(data, i, 2), s(data, i, 3)];
        if strong {
            let c = |v: i32, orig: i32| v.clamp(orig - 2 * tc, orig + 2 * tc) as u8;
            data[at(i, -1)] = c(
                (p[2] + 2 * p[1] + 2 * p[0] + 2 * q[0] + q[1] + 4) >> 3,
                p[0],
            );
            data[at(i, -2)] = c((p[2] + p[1] + p[0] + q[0] + 2) >> 2, p[1]);
            data[at(i, -3)] = c((2 * p[3] + 3 * p[2] + p[1] + p[0] + q[0] + 4) >> 3, p[2]);
            data[at(i, 0)] = c(
                (p[1] + 2 * p[0] + 2 * q[0] + 2 * q[1] + q[2] + 4) >> 3,
                q[0],
            );
            data[at(i, 1)] = c((p[0] + q[0] + q[1] + q[2] + 2) >> 2, q[1]);
            data[at(i, 2)] = c((p[0] + q[0] + q[1] + 3 * q[2] + 2 * q[3] + 4) >> 3, q[2]);
        } else {
            let mut delta = (9 * (q[0] - p[0]) - 3 * (q[1] - p[1]) + 8) >> 4;
            if delta.abs() >= tc * 10 {
                continue;
            }
            delta = delta.clamp(-tc, tc);
            data[at(i, -1)] = (p[0] + delta).clamp(0, 255) as u8;
            data[at(i, 0)] = (q[0] - delta).clamp(0, 255) as u8;
            let half = tc >> 1;
            if side_p {
                let dp = ((((p[2] + p[0] + 1) >> 1) - p[1] + delta) >> 1).clamp(-half, half);
                data[at(i, -2)] = (p[1] + dp).clamp(0, 255) as u8;
            }
            if side_q {
                let dq = ((((q[2] + q[0] + 1) >> 1) - q[1] - delta) >> 1).clamp(-half, half);
                data[at(i, 1)] = (q[1] + dq).clamp(0, 255) as u8;
            }
        }
    }
}

/// Filters one 4-line chroma edge segment (normal filter, one sample each side).
fn filter_chroma_segment(data: &mut [u8], q0: usize, step: isize, line: isize, tc: i32) {
    for i in 0..4 {
        let at = |k: isize| (q0 as isize + i as isize * line + k * step) as usize;
        let (p1, p0, q0v, q1) = (
            data[at(-2)] as i32,
            data[at(-1)] as i32,
            data[at(0)] as i32,
            data[at(1)] as i32,
        );
        let delta = ((((q0v - p0) << 2) + p1 - q1 + 4) >> 3).clamp(-tc, tc);
        data[at(-1)] = (p0 + delta).clamp(0, 255) as u8;
        data[at(0)] = (q0v - delta).clamp(0, 255) as u8;
    }
}

fn luma_params(qp: u8, bs: i32, fh: &FrameHeader) -> LumaParams {
    let q = qp as i32;
    let bq = (q + 2 * fh.deblock_beta_offset as i32).clamp(0, 51);
    let tq = (q + 2 * (bs - 1) + 2 * fh.deblock_tc_offset as i32).clamp(0, 53);
    LumaParams {
        beta: DEBLOCK_BETA[bq as usize] as i32,
        tc: DEBLOCK_TC[tq as usize] as i32,
    }
}

fn chroma_tc(qp: u8, offset: i8, fh: &FrameHeader) -> i32 {
    let qc = chroma_qp(qp as i32 + offset as i32) as i32;
    let tq = (qc + 2 * (INTRA_BS - 1) + 2 * fh.deblock_tc_offset as i32).clamp(0, 53);
    DEBLOCK_TC[tq as usize] as i32
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

/// Deblocks the reconstruction in place.
pub fn deblock_frame(state: &mut PicState, fh: &FrameHeader, lists: &RefLists) {
    let w8 = state.w / 8;
    let params = [luma_params(fh.qp, 1, fh), luma_params(fh.qp, 2, fh)];
    let ctc = [
        chroma_tc(fh.qp, fh.chroma_qp_offset[0], fh),
        chroma_tc(fh.qp, fh.chroma_qp_offset[1], fh),
    ];
    // Strength of the edge at luma position `pos` (across x for vertical
    // edges, y for horizontal ones) for the unit holding (lx, ly): filtered
    // where `pos` is a multiple of the transform size on the Q side. Chroma
    // edges follow CU edges (chroma transforms span the CU) and only
    // intra edges (strength 2) are filtered.
    let st = &*state;
    let strength = |vertical: bool, pos: usize, lx: usize, ly: usize| -> u8 {
        let q = (ly / 8) * w8 + lx / 8;
        if !pos.is_multiple_of(1usize << st.tu_log2[q].max(3)) {
            return 0;
        }
        let p = if vertical { q - 1 } else { q - w8 };
        boundary_strength(st, lists, p, q)
    };
    let chroma_edge = |vertical: bool, pos: usize, lx: usize, ly: usize| -> bool {
        let q = (ly / 8) * w8 + lx / 8;
        pos.is_multiple_of(1usize << st.cu_log2[q].max(4)) && strength(vertical, pos, lx, ly) == 2
    };
    let mut bs_v = vec![0u8; (state.w / 8) * (state.h / 4)];
    let mut bs_h = vec![0u8; (state.w / 4) * (state.h / 8)];
    for ly in (0..state.h).step_by(4) {
        for lx in (8..state.w).step_by(8) {
            bs_v[(ly / 4) * w8 + lx / 8] = strength(true, lx, lx, ly);
        }
    }
    for ly in (8..state.h).step_by(8) {
        for lx in (0..state.w).step_by(4) {
            bs_h[(ly / 8) * (state.w / 4) + lx / 4] = strength(false, ly, lx, ly);
        }
    }
    // Chroma planes are (w/2) x (h/2), multiples of 4 but not always of 8.
    let cw16 = (state.w / 2).div_ceil(8);
    let cw8 = state.w / 8;
    let cv: Vec<bool> = (0..cw16 * (state.h / 8))
        .map(|i| {
            let (cx, cy) = ((i % cw16) * 8, (i / cw16) * 4);
            cx > 0 && chroma_edge(true, 2 * cx, 2 * cx, 2 * cy)
        })
        .collect();
    let ch: Vec<bool> = (0..cw8 * (state.h / 2).div_ceil(8))
        .map(|i| {
            let (cx, cy) = ((i % cw8) * 4, (i / cw8) * 8);
            cy > 0 && chroma_edge(false, 2 * cy, 2 * cx, 2 * cy)
        })
        .collect();
    let w4 = state.w / 4;
    let [y, u, v] = &mut state.recon.planes;

    let luma = |bs: u8| params[(bs as usize).clamp(1, 2) - 1];
    vertical_edges(
        y,
        |x, row| bs_v[(row / 4) * w8 + x / 8] > 0,
        |d, q0, stride, x, row| {
            let p = luma(bs_v[(row / 4) * w8 + x / 8]);
            if p.tc > 0 {
                filter_luma_segment(d, q0, 1, stride, p);
            }
        },
    );
    for (plane, tc) in [(&mut *u, ctc[0]), (&mut *v, ctc[1])] {
        if tc > 0 {
            vertical_edges(
                plane,
                |x, row| cv[(row / 4) * cw16 + x / 8],
                |d, q0, stride, _, _| filter_chroma_segment(d, q0, 1, stride, tc),
            );
        }
    }
    horizontal_edges(
        y,
        |x, row| bs_h[(row / 8) * w4 + x / 4] > 0,
        |d, q0, stride, x, row| {
            let p = luma(bs_h[(row / 8) * w4 + x / 4]);
            if p.tc > 0 {
                filter_luma_segment(d, q0, stride, 1, p);
            }
        },
    );
    for (plane, tc) in [(&mut *u, ctc[0]), (&mut *v, ctc[1])] {
        if tc > 0 {
            horizontal_edges(
                plane,
                |x, row| ch[(row / 8) * cw8 + x / 4],
                |d, q0, stride, _, _| filter_chroma_segment(d, q0, stride, 1, tc),
            );
        }
    }
}

/// Filters the vertical edges on the 8-sample grid of `plane`. `edge(x, y)`
/// says whether the 4-line segment starting at row `y` has an edge at column
/// `x`. Bands of 4 rows are independent and run in parallel.
fn vertical_edges<E, F>(plane: &mut Plane, edge: E, filter: F)
where
    E: Fn(usize, usize) -> bool + Sync,
    F: Fn(&mut [u8], usize, isize, usize, usize) + Sync,
{
    let (width, stride) = (plane.width, plane.width);
    plane
        .data
        .par_chunks_mut(stride * 4)
        .enumerate()
        .for_each(|(band, rows)| {
            for x in (8..width).step_by(8) {
                if edge(x, band * 4) {
                    filter(rows, x, stride as isize, x, band * 4);
                }
            }
        });
}

/// Filters the horizontal edges on the 8-sample grid of `plane`. `edge(x, y)`
/// says whether the 4-column segment starting at column `x` has an edge at row `y`.
fn horizontal_edges<E, F>(plane: &mut Plane, edge: E, filter: F)
where
    E: Fn(usize, usize) -> bool,
    F: Fn(&mut [u8], usize, isize, usize, usize),
{
    let (width, height, stride) = (plane.width, plane.height, plane.width);
    for y in (8..height).step_by(8) {
        for x in (0..width).step_by(4) {
            if edge(x, y) {
                filter(&mut plane.data, y * stride + x, stride as isize, x, y);
            }
        }
    }
}
