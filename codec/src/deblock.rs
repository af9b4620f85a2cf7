//! Deblocking filter: smooths block edges on the 8x8 luma grid (8x8 chroma
//! grid) where transform blocks meet. All vertical edges of the picture are
//! filtered first, then all horizontal edges on the result; each edge touches
//! at most three samples on either side, so edges of one direction are
//! independent and rows of superblocks can be filtered in any order or in
//! parallel with the same result. Normative description:
//! `docs/bitstream.md`, section "Deblocking".
//!
//! The kernels (one 4-sample luma segment, one 4-sample chroma segment) are
//! kept apart from the traversal that decides which edges to filter.

use crate::frame::Plane;
use crate::headers::FrameHeader;
use crate::recon::PicState;
use crate::tables::{chroma_qp, DEBLOCK_BETA, DEBLOCK_TC};
use rayon::prelude::*;

/// Filter strength of an edge: 2 where either side is intra coded.
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
        let p = [s(data, i, -1), s(data, i, -2), s(data, i, -3), s(data, i, -4)];
        let q = [s(data, i, 0), s(data, i, 1), s(data, i, 2), s(data, i, 3)];
        if strong {
            let c = |v: i32, orig: i32| v.clamp(orig - 2 * tc, orig + 2 * tc) as u8;
            data[at(i, -1)] = c((p[2] + 2 * p[1] + 2 * p[0] + 2 * q[0] + q[1] + 4) >> 3, p[0]);
            data[at(i, -2)] = c((p[2] + p[1] + p[0] + q[0] + 2) >> 2, p[1]);
            data[at(i, -3)] = c((2 * p[3] + 3 * p[2] + p[1] + p[0] + q[0] + 4) >> 3, p[2]);
            data[at(i, 0)] = c((p[1] + 2 * p[0] + 2 * q[0] + 2 * q[1] + q[2] + 4) >> 3, q[0]);
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
        let (p1, p0, q0v, q1) = (data[at(-2)] as i32, data[at(-1)] as i32, data[at(0)] as i32, data[at(1)] as i32);
        let delta = ((((q0v - p0) << 2) + p1 - q1 + 4) >> 3).clamp(-tc, tc);
        data[at(-1)] = (p0 + delta).clamp(0, 255) as u8;
        data[at(0)] = (q0v - delta).clamp(0, 255) as u8;
    }
}

fn luma_params(qp: u8, fh: &FrameHeader) -> LumaParams {
    let q = qp as i32;
    let bq = (q + 2 * fh.deblock_beta_offset as i32).clamp(0, 51);
    let tq = (q + 2 * (INTRA_BS - 1) + 2 * fh.deblock_tc_offset as i32).clamp(0, 53);
    LumaParams { beta: DEBLOCK_BETA[bq as usize] as i32, tc: DEBLOCK_TC[tq as usize] as i32 }
}

fn chroma_tc(qp: u8, offset: i8, fh: &FrameHeader) -> i32 {
    let qc = chroma_qp(qp as i32 + offset as i32) as i32;
    let tq = (qc + 2 * (INTRA_BS - 1) + 2 * fh.deblock_tc_offset as i32).clamp(0, 53);
    DEBLOCK_TC[tq as usize] as i32
}

/// Deblocks the reconstruction in place.
pub fn deblock_frame(state: &mut PicState, fh: &FrameHeader) {
    let w8 = state.w / 8;
    let (tu, cu) = (&state.tu_log2, &state.cu_log2);
    let lp = luma_params(fh.qp, fh);
    let ctc = [chroma_tc(fh.qp, fh.chroma_qp_offset[0], fh), chroma_tc(fh.qp, fh.chroma_qp_offset[1], fh)];
    // An edge at luma position `pos` (across x or y) exists for the block
    // containing (lx, ly) when `pos` is a multiple of its transform size.
    // Chroma transforms span the whole CU.
    let luma_edge = |pos: usize, lx: usize, ly: usize| pos % (1usize << tu[(ly / 8) * w8 + lx / 8].max(3)) == 0;
    let chroma_edge = |pos: usize, lx: usize, ly: usize| pos % (1usize << cu[(ly / 8) * w8 + lx / 8].max(4)) == 0;
    let [y, u, v] = &mut state.recon.planes;

    if lp.tc > 0 {
        vertical_edges(y, |x, row| luma_edge(x, x, row), |d, q0, stride| filter_luma_segment(d, q0, 1, stride, lp));
    }
    for (plane, tc) in [(&mut *u, ctc[0]), (&mut *v, ctc[1])] {
        if tc > 0 {
            vertical_edges(
                plane,
                |x, row| chroma_edge(2 * x, 2 * x, 2 * row),
                |d, q0, stride| filter_chroma_segment(d, q0, 1, stride, tc),
            );
        }
    }
    if lp.tc > 0 {
        horizontal_edges(y, |x, row| luma_edge(row, x, row), |d, q0, stride| filter_luma_segment(d, q0, stride, 1, lp));
    }
    for (plane, tc) in [(&mut *u, ctc[0]), (&mut *v, ctc[1])] {
        if tc > 0 {
            horizontal_edges(
                plane,
                |x, row| chroma_edge(2 * row, 2 * x, 2 * row),
                |d, q0, stride| filter_chroma_segment(d, q0, stride, 1, tc),
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
    F: Fn(&mut [u8], usize, isize) + Sync,
{
    let (width, stride) = (plane.width, plane.width);
    plane.data.par_chunks_mut(stride * 4).enumerate().for_each(|(band, rows)| {
        for x in (8..width).step_by(8) {
            if edge(x, band * 4) {
                filter(rows, x, stride as isize);
            }
        }
    });
}

/// Filters the horizontal edges on the 8-sample grid of `plane`. `edge(x, y)`
/// says whether the 4-column segment starting at column `x` has an edge at row `y`.
fn horizontal_edges<E, F>(plane: &mut Plane, edge: E, filter: F)
where
    E: Fn(usize, usize) -> bool,
    F: Fn(&mut [u8], usize, isize),
{
    let (width, height, stride) = (plane.width, plane.height, plane.width);
    for y in (8..height).step_by(8) {
        for x in (0..width).step_by(4) {
            if edge(x, y) {
                filter(&mut plane.data, y * stride + x, stride as isize);
            }
        }
    }
}
