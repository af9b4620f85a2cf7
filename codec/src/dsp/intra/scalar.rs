//! Scalar reference for HEVC intra prediction, written to follow H.265 8.4.4.2 closely,
//! with VVC's planar and DC for rectangles. The SIMD kernels are tested for bit-exact
//! agreement with it.
//!
//! Callers (the dispatch in `mod.rs`) have validated the shape (`w` x `h`), the slice
//! lengths and the stride, and cleared `edge_filter` for 32x32 blocks.

use super::{
    intra_pred_angle, lines_across, main_reference, FIRST_VERTICAL_MODE, HOR, MAIN_ORIGIN, MAX_N,
    VER,
};

/// Named access to the samples of a refs line for a W x H block.
struct Refs<'a> {
    line: &'a [u16],
    /// The corner's index, W + H.
    corner: usize,
}

impl<'a> Refs<'a> {
    fn new(line: &'a [u16], w: usize, h: usize) -> Self {
        Self {
            line,
            corner: w + h,
        }
    }

    /// Left sample at (-1, y), y in 0..W + H.
    fn left(&self, y: usize) -> i32 {
        i32::from(self.line[self.corner - 1 - y])
    }

    /// Top sample at (x, -1), x in 0..W + H.
    fn top(&self, x: usize) -> i32 {
        i32::from(self.line[self.corner + 1 + x])
    }

    /// Corner sample at (-1, -1).
    fn corner(&self) -> i32 {
        i32::from(self.line[self.corner])
    }

    /// Bottom-most left sample at (-1, W + H - 1).
    fn bottom_left(&self) -> i32 {
        self.left(self.corner - 1)
    }

    /// Right-most top sample at (W + H - 1, -1).
    fn top_right(&self) -> i32 {
        self.top(self.corner - 1)
    }
}

/// Reference smoothing (H.265 8.4.4.2.3): strong bi-linear smoothing for flat 32x32
/// references, `[1,2,1]` otherwise (every other shape).
pub fn filter_refs(refs: &[u16], w: usize, h: usize, out: &mut [u16], bit_depth: u32) {
    let flat_limit = 1 << (bit_depth - 5);
    let r = Refs::new(refs, w, h);
    let n = w;
    // Flat: each edge's midpoint lies close to the straight line from the corner to the
    // edge's far end, so a straight line loses nothing but noise.
    let flat = || {
        (r.bottom_left() + r.corner() - 2 * r.left(n - 1)).abs() < flat_limit
            && (r.corner() + r.top_right() - 2 * r.top(n - 1)).abs() < flat_limit
    };
    if w == MAX_N && h == MAX_N && flat() {
        // Each sample becomes the interpolation between the corner and the far end of its
        // edge, by its distance d (0..=64) from the corner.
        for (k, sample) in out.iter_mut().enumerate() {
            let (d, far_end) = if k < 2 * n {
                (2 * n - k, r.bottom_left())
            } else {
                (k - 2 * n, r.top_right())
            };
            let d = d as i32;
            *sample = (((64 - d) * r.corner() + d * far_end + 32) >> 6) as u16;
        }
    } else {
        let last = 2 * (w + h);
        out[0] = refs[0];
        out[last] = refs[last];
        for (sample, window) in out[1..last].iter_mut().zip(refs.windows(3)) {
            let sum = u32::from(window[0]) + 2 * u32::from(window[1]) + u32::from(window[2]);
            *sample = ((sum + 2) >> 2) as u16;
        }
    }
}

/// Planar prediction (H.265 8.4.4.2.5 for squares; VVC 8.4.5.2.11 for rectangles):
/// `predV = ((H-1-y) top[x] + (y+1) bottomLeft) << log2 W`,
/// `predH = ((W-1-x) left[y] + (x+1) topRight) << log2 H`,
/// `pred = (predV + predH + W H) >> (log2 W + log2 H + 1)`, where topRight = top[W] and
/// bottomLeft = left[H]. For a square of side N this is HEVC's
/// `(horizontal + vertical + N) >> (log2 N + 1)`, multiplied through by N.
pub fn predict_planar(refs: &[u16], w: usize, h: usize, dst: &mut [u16], stride: usize) {
    let r = Refs::new(refs, w, h);
    let (log2w, log2h) = (w.trailing_zeros(), h.trailing_zeros());
    let top_right = r.top(w);
    let bottom_left = r.left(h);
    let (w_i32, h_i32) = (w as i32, h as i32);
    for y in 0..h {
        let row = &mut dst[y * stride..][..w];
        for (x, sample) in row.iter_mut().enumerate() {
            let (xi, yi) = (x as i32, y as i32);
            let vertical = ((h_i32 - 1 - yi) * r.top(x) + (yi + 1) * bottom_left) << log2w;
            let horizontal = ((w_i32 - 1 - xi) * r.left(y) + (xi + 1) * top_right) << log2h;
            *sample = ((vertical + horizontal + w_i32 * h_i32) >> (log2w + log2h + 1)) as u16;
        }
    }
}

/// DC prediction (H.265 8.4.4.2.5): the rounded mean of the W top and H left samples for a
/// square; of the longer edge's samples alone for a rectangle (VVC: a shift, no division).
/// With `edge_filter` the first row and column are smoothed `[1,3]/4` (corner `[1,2,1]`).
pub fn predict_dc(
    refs: &[u16],
    w: usize,
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
) {
    let r = Refs::new(refs, w, h);
    let top_sum: i32 = (0..w).map(|i| r.top(i)).sum();
    let left_sum: i32 = (0..h).map(|i| r.left(i)).sum();
    let dc = match w.cmp(&h) {
        std::cmp::Ordering::Equal => (top_sum + left_sum + w as i32) >> (w.trailing_zeros() + 1),
        std::cmp::Ordering::Greater => (top_sum + (w as i32 >> 1)) >> w.trailing_zeros(),
        std::cmp::Ordering::Less => (left_sum + (h as i32 >> 1)) >> h.trailing_zeros(),
    };
    for y in 0..h {
        dst[y * stride..][..w].fill(dc as u16);
    }
    if edge_filter {
        for (x, sample) in dst[..w].iter_mut().enumerate().skip(1) {
            *sample = ((r.top(x) + 3 * dc + 2) >> 2) as u16;
        }
        dst[0] = ((r.left(0) + 2 * dc + r.top(0) + 2) >> 2) as u16;
        for y in 1..h {
            dst[y * stride] = ((r.left(y) + 3 * dc + 2) >> 2) as u16;
        }
    }
}

/// Angular prediction (H.265 8.4.4.2.6) for modes 2..=34, with HEVC's angles on every
/// shape (no wide-angle remapping).
///
/// Both classes run the same loop in (along, across) coordinates: along the main reference
/// and away from it. Vertical-class modes use the top row as the main reference, so
/// (along, across) = (x, y); horizontal-class modes use the left column, so it is (y, x).
#[allow(clippy::too_many_arguments)]
pub fn predict_angular(
    mode: u8,
    refs: &[u16],
    w: usize,
    h: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    bit_depth: u32,
) {
    let max = (1 << bit_depth) - 1;
    let r = Refs::new(refs, w, h);
    let angle = intra_pred_angle(mode);
    let vertical = mode >= FIRST_VERTICAL_MODE;
    let main = main_reference(mode, refs, w, h);
    let lines = lines_across(mode, w, h);
    let line_len = w + h - lines;
    for across in 0..lines {
        let position = (across as i32 + 1) * angle;
        let offset = position >> 5;
        let fact = position & 31;
        for along in 0..line_len {
            let near = (MAIN_ORIGIN as i32 + along as i32 + offset + 1) as usize;
            let value = if fact == 0 {
                main[near]
            } else {
                let weighted =
                    (32 - fact) * i32::from(main[near]) + fact * i32::from(main[near + 1]);
                ((weighted + 16) >> 5) as u16
            };
            let (x, y) = if vertical {
                (along, across)
            } else {
                (across, along)
            };
            dst[y * stride + x] = value;
        }
    }
    if edge_filter && mode == VER {
        for y in 0..h {
            dst[y * stride] = (r.top(0) + ((r.left(y) - r.corner()) >> 1)).clamp(0, max) as u16;
        }
    }
    if edge_filter && mode == HOR {
        for (x, sample) in dst[..w].iter_mut().enumerate() {
            *sample = (r.left(0) + ((r.top(x) - r.corner()) >> 1)).clamp(0, max) as u16;
        }
    }
}
