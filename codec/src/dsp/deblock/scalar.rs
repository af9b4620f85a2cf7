//! Reference deblocking kernels, one 4-line segment at a time.

use super::LumaEdge;

/// Filters the horizontal luma edge above row `y`; see [`super::luma_horizontal`].
pub fn luma_horizontal(
    plane: &mut [u16],
    stride: usize,
    y: usize,
    edges: &[LumaEdge],
    bit_depth: u32,
) {
    for (i, &edge) in edges.iter().enumerate() {
        if edge.tc > 0 {
            filter_luma_segment(
                plane,
                y * stride + 4 * i,
                stride as isize,
                1,
                edge,
                bit_depth,
            );
        }
    }
}

/// Filters the vertical luma edges of a band of 4 rows; see [`super::luma_vertical`].
pub fn luma_vertical(band: &mut [u16], stride: usize, edges: &[LumaEdge], bit_depth: u32) {
    for (k, &edge) in edges.iter().enumerate() {
        if edge.tc > 0 {
            filter_luma_segment(band, 8 * (k + 1), 1, stride as isize, edge, bit_depth);
        }
    }
}

/// Filters the horizontal chroma edge above row `y`; see [`super::chroma_horizontal`].
pub fn chroma_horizontal(plane: &mut [u16], stride: usize, y: usize, tcs: &[u16], bit_depth: u32) {
    for (i, &tc) in tcs.iter().enumerate() {
        if tc > 0 {
            filter_chroma_segment(
                plane,
                y * stride + 4 * i,
                stride as isize,
                1,
                tc.into(),
                bit_depth,
            );
        }
    }
}

/// Filters the vertical chroma edges of a band of 4 rows; see [`super::chroma_vertical`].
pub fn chroma_vertical(band: &mut [u16], stride: usize, tcs: &[u16], bit_depth: u32) {
    for (k, &tc) in tcs.iter().enumerate() {
        if tc > 0 {
            filter_chroma_segment(band, 8 * (k + 1), 1, stride as isize, tc.into(), bit_depth);
        }
    }
}

/// Filters one 4-line luma edge segment. `px(i, k)` addresses sample k
/// (0 = nearest the edge) on the P side of line i; the Q side is mirrored.
/// `step` is the distance between samples across the edge and `line` the
/// distance between lines, so the same code serves both directions.
fn filter_luma_segment(
    data: &mut [u16],
    q0: usize,
    step: isize,
    line: isize,
    prm: LumaEdge,
    bit_depth: u32,
) {
    let max = (1 << bit_depth) - 1;
    let at = |i: usize, k: isize| (q0 as isize + i as isize * line + k * step) as usize;
    let s = |d: &[u16], i: usize, k: isize| d[at(i, k)] as i32;
    // k = -1..-4 is P (p0..p3), k = 0..3 is Q (q0..q3).
    let dp = |d: &[u16], i| (s(d, i, -3) - 2 * s(d, i, -2) + s(d, i, -1)).abs();
    let dq = |d: &[u16], i| (s(d, i, 2) - 2 * s(d, i, 1) + s(d, i, 0)).abs();
    let (dp0, dp3, dq0, dq3) = (dp(data, 0), dp(data, 3), dq(data, 0), dq(data, 3));
    let (beta, tc) = (i32::from(prm.beta), i32::from(prm.tc));
    let d = dp0 + dq0 + dp3 + dq3;
    if d >= beta {
        return;
    }
    let strong_line = |d: &[u16], i: usize, dpq: i32| {
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
            let c = |v: i32, orig: i32| v.clamp(orig - 2 * tc, orig + 2 * tc) as u16;
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
            data[at(i, -1)] = (p[0] + delta).clamp(0, max) as u16;
            data[at(i, 0)] = (q[0] - delta).clamp(0, max) as u16;
            let half = tc >> 1;
            if side_p {
                let dp = ((((p[2] + p[0] + 1) >> 1) - p[1] + delta) >> 1).clamp(-half, half);
                data[at(i, -2)] = (p[1] + dp).clamp(0, max) as u16;
            }
            if side_q {
                let dq = ((((q[2] + q[0] + 1) >> 1) - q[1] - delta) >> 1).clamp(-half, half);
                data[at(i, 1)] = (q[1] + dq).clamp(0, max) as u16;
            }
        }
    }
}

/// Filters one 4-line chroma edge segment (normal filter, one sample each side).
fn filter_chroma_segment(
    data: &mut [u16],
    q0: usize,
    step: isize,
    line: isize,
    tc: i32,
    bit_depth: u32,
) {
    let max = (1 << bit_depth) - 1;
    for i in 0..4 {
        let at = |k: isize| (q0 as isize + i as isize * line + k * step) as usize;
        let (p1, p0, q0v, q1) = (
            data[at(-2)] as i32,
            data[at(-1)] as i32,
            data[at(0)] as i32,
            data[at(1)] as i32,
        );
        let delta = ((((q0v - p0) << 2) + p1 - q1 + 4) >> 3).clamp(-tc, tc);
        data[at(-1)] = (p0 + delta).clamp(0, max) as u16;
        data[at(0)] = (q0v - delta).clamp(0, max) as u16;
    }
}
