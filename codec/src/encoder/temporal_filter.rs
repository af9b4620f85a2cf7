//! Motion-compensated temporal filtering (MCTF) of a source frame before it is coded, after
//! VVenC's `MCTF.cpp` (itself after VTM's `EncTemporalFilter`): noise that differs from frame
//! to frame costs bits in a keyframe or group anchor and is copied into every frame that
//! predicts from it, so the encoder codes a version of the frame averaged with its motion-
//! compensated neighbours instead.
//!
//! The steps, for one centre frame and its neighbours (VVenC's medium settings, adapted):
//!
//! 1. **Motion search** on luma, per neighbour: a pyramid of 2x2 means (1/2, 1/4, and 1/8 for
//!    pictures at least 1920 wide); blocks of `2 * unit` samples at every level; a full search
//!    of +-8 at the coarsest level, then at each finer level the 3x3 parent vectors doubled and
//!    zero, a full search around the best (+-5 below full resolution, +-3 at it, where it costs
//!    most), and the vectors of the blocks above and to the left; a last pass on `unit` blocks
//!    at full resolution refines to quarter samples (the 3x3 parents and zero, then half and
//!    quarter steps, then above and left). The cost everywhere is SSE, with an early exit that
//!    only cuts short candidates that cannot win. Vectors that would read more than the
//!    search can reach past the picture edge (edges are replicated) are not tried.
//! 2. **Block error** per unit block and neighbour, as VVenC's: `20 * (SSE + 5) / (var + 5) +
//!    MSE / 50` in 10-bit units, `var` being the centre block's sum of squared deviations.
//! 3. **Compensation**: each neighbour is predicted block by block with its vectors. Luma
//!    uses half-sample planes from a 6-tap filter (VVenC's half-sample phase, `[1, -7, 38, 38,
//!    -7, 1] / 64`) and rounded averages of the two or four nearest half-grid samples between
//!    them (as H.264 forms quarter samples); chroma is bilinear at eighth samples.
//! 4. **Filter** per unit block (`unit / 2` in chroma) and plane: each neighbour's weight comes
//!    from its distance, block error and the noise of its residual, and per sample falls off
//!    with the squared difference from the centre sample, as VVenC's `applyBlockCore` does
//!    (planar correction is left out).
//!
//! Differences from VVenC: quarter-sample rather than 1/16 precision, from a 6-tap half-sample
//! filter and averages rather than VVenC's per-phase filters; +-3 at full resolution (VVenC's
//! faster pattern) where medium uses +-5; partial edge blocks are searched and filtered (VVenC
//! skips blocks under 8 samples); no planar correction; the weights are fixed point.
//!
//! Determinism: all sample arithmetic is integer. The per-sample fall-off `exp(-d^2 / s)` is
//! read from tables of fixed-point values filled once per call (`exp` is called only there),
//! the per-block factors are plain `f64` products rounded to fixed point, and the weighted sum
//! is exact `u64` arithmetic, so the output is the same at every [`CpuLevel`] and thread count.

use rayon::prelude::*;

use crate::cpu::CpuLevel;
use crate::dsp::temporal_filter::{self as kernel, HALF_TAPS};
use crate::picture::{Frame, Plane};

/// A neighbouring source frame and its signed display distance from the centre frame
/// (-6..=6, never 0; larger distances are treated as 6 and 0 as 1).
pub(crate) struct Neighbour<'a> {
    /// The neighbour's source samples (same size and bit depth as the centre).
    pub frame: &'a Frame,
    /// Display distance from the centre, negative for earlier frames.
    pub distance: i32,
}

/// The filter's result: the filtered frame and the motion errors it measured.
pub(crate) struct Filtered {
    /// The centre frame after filtering (a copy of it when there was nothing to filter with).
    pub frame: Frame,
    /// Per block and neighbour, how well the neighbour's motion matched.
    pub errors: BlockErrors,
}

/// Per unit block (raster order, `cols` x `rows`, side `unit` luma samples, partial at the
/// right and bottom edges) and per neighbour (in the order given): VVenC's block error
/// `20 * (SSE + 5) / (var + 5) + MSE / 50`, with SSE, the centre block's sum of squared
/// deviations `var` and MSE in 10-bit units (8-bit samples scaled by 4), truncated to `u32`
/// as VVenC truncates to `int`. Below 50 is a good match, above 100 a poor one (the
/// thresholds the filter itself uses); a neighbour whose size or depth differs from the
/// centre's gets `u32::MAX` everywhere and is not used.
pub(crate) struct BlockErrors {
    /// Side of a block in luma samples: 8 when the picture's smaller side is below 720, else 16.
    pub unit: usize,
    /// Blocks per row: `ceil(width / unit)`.
    pub cols: usize,
    /// Block rows: `ceil(height / unit)`.
    pub rows: usize,
    /// The neighbours' distances, in the order given.
    pub distances: Vec<i32>,
    /// `error[neighbour][block]`.
    pub error: Vec<Vec<u32>>,
}

/// A motion vector in quarter luma samples: the centre block at `(x, y)` matches the
/// neighbour at `(x + mv.x / 4, y + mv.y / 4)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QuarterMv {
    /// Horizontal, quarter samples.
    pub x: i32,
    /// Vertical, quarter samples.
    pub y: i32,
}

/// One neighbour's motion, per unit block in raster order.
pub(crate) struct MotionField {
    /// Block side in luma samples.
    pub unit: usize,
    /// Blocks per row.
    pub cols: usize,
    /// Block rows.
    pub rows: usize,
    /// The block's vector.
    pub mv: Vec<QuarterMv>,
    /// The block's error, as in [`BlockErrors`].
    pub error: Vec<u32>,
}

/// VVenC's per-distance strengths for random-access coding, `|distance|` 1..=6.
const REF_STRENGTHS: [f64; 6] = [0.84375, 0.6, 0.4286, 0.3333, 0.2727, 0.2308];
/// Weight scaling of luma and chroma.
const PLANE_WEIGHT: [f64; 2] = [0.4, 0.55];
/// VVenC's chroma sigma squared, in 10-bit units.
const CHROMA_SIGMA_SQ: f64 = 900.0;
/// Range of the full search at the coarsest level, and of the refinement at finer ones.
const COARSE_RANGE: i32 = 8;
/// Range of the integer refinement at the finer pyramid levels (VVenC medium's).
const FINE_RANGE: i32 = 5;
/// Range of the integer refinement at full resolution: VVenC's faster pattern, as the full
/// resolution pass costs most and the pyramid has already placed the vectors.
const FULL_RES_RANGE: i32 = 3;
/// Fixed-point bits of the per-block weight factor.
const WW_BITS: u32 = 12;
/// Fixed-point bits of the fall-off tables.
const EXP_BITS: u32 = 16;

/// Filters `centre` (visible size, samples at `centre.bit_depth`, 8 or 10) with its
/// neighbours (same size and depth). `qp` is the encoder's base QP on the 8-bit scale, used
/// as VVenC uses its configured QP (which is independent of bit depth) in its luma sigma,
/// `9 * (128 + 3 * qp^3 / 256)` (negative QPs count as 0). `strength` is VVenC's strength for
/// this frame (0.0..=2.0, clamped; 0 leaves the frame unchanged but still measures errors).
///
/// Never panics on size: any size, including 1x1, works. A centre of another bit depth, or
/// of zero size, is returned unchanged with no errors. Samples must be below
/// `1 << bit_depth` (the [`Frame`] invariant) for the result to be the same at every level.
///
/// Work is spread over the current rayon pool (the neighbours' motion searches, then the
/// filter's block rows), so call it inside the encoder's pool; the result does not depend
/// on the number of threads.
pub(crate) fn filter_frame(
    centre: &Frame,
    neighbours: &[Neighbour],
    qp: i8,
    strength: f64,
    cpu: CpuLevel,
) -> Filtered {
    let (width, height) = (centre.planes[0].width, centre.planes[0].height);
    let unit = unit_size(width, height);
    let mut errors = BlockErrors {
        unit,
        cols: width.div_ceil(unit),
        rows: height.div_ceil(unit),
        distances: neighbours.iter().map(|n| n.distance).collect(),
        error: Vec::new(),
    };
    if neighbours.is_empty() || !frame_ok(centre) {
        errors.distances.clear();
        return Filtered {
            frame: centre.clone(),
            errors,
        };
    }
    let motion: Vec<Option<(MotionField, Frame)>> = neighbours
        .par_iter()
        .map(|n| {
            same_shape(centre, n.frame).then(|| {
                let (field, half) = estimate(centre, n.frame, cpu);
                let compensated = compensate(n.frame, &half, &field, cpu);
                (field, compensated)
            })
        })
        .collect();
    let blocks = errors.cols * errors.rows;
    errors.error = motion
        .iter()
        .map(|m| match m {
            Some((field, _)) => field.error.clone(),
            None => vec![u32::MAX; blocks],
        })
        .collect();
    let used: Vec<Reference> = motion
        .iter()
        .zip(neighbours)
        .filter_map(|(m, n)| {
            m.as_ref().map(|(field, frame)| Reference {
                frame,
                error: &field.error,
                strength: REF_STRENGTHS[(n.distance.unsigned_abs().clamp(1, 6) - 1) as usize],
            })
        })
        .collect();
    let strength = if strength.is_nan() {
        0.0
    } else {
        strength.clamp(0.0, 2.0)
    };
    let frame = apply_filter(centre, &used, &errors, qp, strength);
    Filtered { frame, errors }
}

/// Whether `frame` is something the filter works on: 8 or 10 bits, nonzero size, and planes
/// of the 4:2:0 sizes.
fn frame_ok(frame: &Frame) -> bool {
    let [y, u, v] = &frame.planes;
    let (cw, ch) = (y.width.div_ceil(2), y.height.div_ceil(2));
    matches!(frame.bit_depth, 8 | 10)
        && y.width > 0
        && y.height > 0
        && [y, u, v].iter().all(|p| p.data.len() == p.width * p.height)
        && [u, v].iter().all(|p| p.width == cw && p.height == ch)
}

/// Whether `other` can be filtered with `centre`: same sizes and depth.
fn same_shape(centre: &Frame, other: &Frame) -> bool {
    frame_ok(other)
        && other.bit_depth == centre.bit_depth
        && (0..3).all(|p| {
            other.planes[p].width == centre.planes[p].width
                && other.planes[p].height == centre.planes[p].height
        })
}

/// VVenC's unit block: 8 below 720 lines (or columns), else 16.
fn unit_size(width: usize, height: usize) -> usize {
    if width.min(height) < 720 {
        8
    } else {
        16
    }
}

/// The motion of each neighbour against `centre`, as the filter finds it (for tests and
/// diagnostics). Neighbours of another shape get `None`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn motion_fields(
    centre: &Frame,
    neighbours: &[Neighbour],
    cpu: CpuLevel,
) -> Vec<Option<MotionField>> {
    neighbours
        .iter()
        .map(|n| {
            (frame_ok(centre) && same_shape(centre, n.frame))
                .then(|| estimate(centre, n.frame, cpu).0)
        })
        .collect()
}

/// A tight plane of one pyramid level.
struct Level {
    data: Vec<u16>,
    width: usize,
    height: usize,
}

impl Level {
    /// The next coarser level: 2x2 means, rounding the size down (VVenC's `subsampleLuma`).
    fn half(&self, cpu: CpuLevel) -> Level {
        let (width, height) = (self.width / 2, self.height / 2);
        let mut data = vec![0; width * height];
        kernel::downscale_2x2(&self.data, self.width, &mut data, width, width, height, cpu);
        Level {
            data,
            width,
            height,
        }
    }
}

/// The luma pyramid of a plane: full resolution first, then each 2x2-mean level while both
/// sides stay nonzero, up to 1/4 (1/8 from 1920 columns).
fn pyramid(plane: &Plane, cpu: CpuLevel) -> Vec<Level> {
    let levels = if plane.width >= 1920 { 4 } else { 3 };
    let mut out = vec![Level {
        data: plane.data.clone(),
        width: plane.width,
        height: plane.height,
    }];
    while out.len() < levels {
        let last = &out[out.len() - 1];
        if last.width < 2 || last.height < 2 {
            break;
        }
        let next = last.half(cpu);
        out.push(next);
    }
    out
}

/// A plane extended by `pad` samples on every side, replicating its edges, so that blocks
/// displaced past the picture edge read the nearest edge sample.
struct Padded {
    data: Vec<u16>,
    stride: usize,
    pad: usize,
    width: usize,
    height: usize,
}

/// A tight `width` x `height` plane extended by `pad` samples on every side
/// by repeating its edges (as references are extended), `width + 2 pad`
/// samples a row; empty for an empty plane.
pub(super) fn edge_extended(src: &[u16], width: usize, height: usize, pad: usize) -> Vec<u16> {
    let stride = width + 2 * pad;
    let mut data = Vec::with_capacity(stride * (height + 2 * pad));
    if width == 0 || height == 0 {
        return data;
    }
    for py in 0..height + 2 * pad {
        let row = &src[py.saturating_sub(pad).min(height - 1) * width..][..width];
        data.extend(std::iter::repeat_n(row[0], pad));
        data.extend_from_slice(row);
        data.extend(std::iter::repeat_n(row[width - 1], pad));
    }
    data
}

impl Padded {
    /// Pads a tight `width` x `height` plane (both at least 1).
    fn new(src: &[u16], width: usize, height: usize, pad: usize) -> Padded {
        Padded {
            data: edge_extended(src, width, height, pad),
            stride: width + 2 * pad,
            pad,
            width,
            height,
        }
    }

    /// An empty plane of the same geometry as `self`.
    fn like(&self) -> Padded {
        Padded {
            data: vec![0; self.data.len()],
            ..*self
        }
    }

    /// Whether a `w` x `h` block at `(x, y)` lies inside the padded area with `margin`
    /// samples to spare on every side.
    fn holds(&self, x: isize, y: isize, w: usize, h: usize, margin: isize) -> bool {
        let pad = self.pad as isize;
        x - margin >= -pad
            && y - margin >= -pad
            && x + w as isize + margin <= self.width as isize + pad
            && y + h as isize + margin <= self.height as isize + pad
    }

    /// The samples from `(x, y)` on, which must lie inside the padded area.
    fn from(&self, x: isize, y: isize) -> &[u16] {
        let pad = self.pad as isize;
        let index = (y + pad) as usize * self.stride + (x + pad) as usize;
        &self.data[index..]
    }
}

/// One neighbour's full-resolution luma for quarter-sample prediction: the padded integer
/// plane and the half-sample planes to its right, below and diagonally, all of one geometry.
/// Plane `(hx & 1) + 2 * (hy & 1)` holds the half-grid sample `(hx, hy)` at `(hx >> 1, hy >> 1)`.
struct HalfPlanes {
    planes: [Padded; 4],
    /// Largest sample value.
    max: i32,
}

/// `sum[x] = sum_k HALF_TAPS[k] * row[clamp(x - 2 + k)]` over one row.
fn half_sums(row: &[u16], sums: &mut [i32], cpu: CpuLevel) {
    let n = row.len();
    if n >= 6 {
        let inner = n - 5;
        let taps = [0, 1, 2, 3, 4, 5].map(|k| &row[k..k + inner]);
        kernel::fir6_u16(taps, &mut sums[2..2 + inner], cpu);
    }
    let at = |i: isize| i32::from(row[i.clamp(0, n as isize - 1) as usize]);
    for x in (0..n).filter(|&x| n < 6 || x < 2 || x + 3 >= n) {
        let x = x as isize;
        sums[x as usize] = (0..6).map(|k| HALF_TAPS[k] * at(x - 2 + k as isize)).sum();
    }
}

/// `out = clamp((v + (1 << (shift - 1))) >> shift, 0, max)` sample by sample.
fn round_into(sums: &[i32], shift: u32, max: i32, out: &mut [u16]) {
    let half = 1 << (shift - 1);
    for (o, &v) in out.iter_mut().zip(sums) {
        *o = ((v + half) >> shift).clamp(0, max) as u16;
    }
}

impl HalfPlanes {
    /// Builds the half-sample planes of `full` (the filter sums are clamped at the padded
    /// area's edge, which repeats the picture's edge, so the padding stays consistent).
    fn new(full: Padded, bit_depth: u8, cpu: CpuLevel) -> HalfPlanes {
        let max = (1i32 << bit_depth) - 1;
        let (stride, rows) = (full.stride, full.data.len() / full.stride);
        let mut right = full.like();
        let mut below = full.like();
        let mut diagonal = full.like();
        // Horizontal sums of every row, kept unrounded for the diagonal plane.
        let mut sums = vec![0i32; full.data.len()];
        for y in 0..rows {
            let row = &full.data[y * stride..][..stride];
            let s = &mut sums[y * stride..][..stride];
            half_sums(row, s, cpu);
            round_into(s, 6, max, &mut right.data[y * stride..][..stride]);
        }
        let mut acc = vec![0i32; stride];
        for y in 0..rows {
            let tap_row = |k: usize| (y + k).saturating_sub(2).min(rows - 1) * stride;
            let taps = [0, 1, 2, 3, 4, 5].map(|k| &full.data[tap_row(k)..][..stride]);
            kernel::fir6_u16(taps, &mut acc, cpu);
            round_into(&acc, 6, max, &mut below.data[y * stride..][..stride]);
            let taps = [0, 1, 2, 3, 4, 5].map(|k| &sums[tap_row(k)..][..stride]);
            kernel::fir6_i32(taps, &mut acc, cpu);
            round_into(&acc, 12, max, &mut diagonal.data[y * stride..][..stride]);
        }
        HalfPlanes {
            planes: [full, right, below, diagonal],
            max,
        }
    }

    /// Whether a `w` x `h` block at `(x, y)` displaced by `mv` can be predicted.
    fn holds(&self, x: usize, y: usize, w: usize, h: usize, mv: QuarterMv) -> bool {
        let (ix, iy) = (
            x as isize + (mv.x >> 2) as isize,
            y as isize + (mv.y >> 2) as isize,
        );
        self.planes[0].holds(ix, iy, w, h, 1)
    }

    /// The half-grid samples from `(hx, hy)` on (in one plane, stepping two half samples).
    fn half_grid(&self, hx: isize, hy: isize) -> &[u16] {
        self.planes[((hx & 1) + 2 * (hy & 1)) as usize].from(hx >> 1, hy >> 1)
    }

    /// [`kernel::sse`] (with its early exit past `bound`) between the `w` x `h` block `cur`
    /// (rows `cur_stride` apart) at `(x, y)` and its prediction displaced by `mv`, which
    /// [`HalfPlanes::holds`] must have accepted: [`HalfPlanes::predict`]'s samples, formed
    /// on the fly.
    #[allow(clippy::too_many_arguments)]
    fn sse(
        &self,
        cur: &[u16],
        cur_stride: usize,
        (x, y): (usize, usize),
        mv: QuarterMv,
        (w, h): (usize, usize),
        bound: u64,
        cpu: CpuLevel,
    ) -> u64 {
        let hx = 2 * x as isize + (mv.x >> 1) as isize;
        let hy = 2 * y as isize + (mv.y >> 1) as isize;
        let stride = self.planes[0].stride;
        let g = |dx: isize, dy: isize| self.half_grid(hx + dx, hy + dy);
        match (mv.x & 1, mv.y & 1) {
            (0, 0) => kernel::sse_predicted(cur, cur_stride, [g(0, 0)], stride, w, h, bound, cpu),
            (1, 0) => {
                let src = [g(0, 0), g(1, 0)];
                kernel::sse_predicted(cur, cur_stride, src, stride, w, h, bound, cpu)
            }
            (0, 1) => {
                let src = [g(0, 0), g(0, 1)];
                kernel::sse_predicted(cur, cur_stride, src, stride, w, h, bound, cpu)
            }
            _ => {
                let src = [g(0, 0), g(1, 0), g(0, 1), g(1, 1)];
                kernel::sse_predicted(cur, cur_stride, src, stride, w, h, bound, cpu)
            }
        }
    }

    /// The prediction of the `w` x `h` block at `(x, y)` displaced by `mv`, which
    /// [`HalfPlanes::holds`] must have accepted, as samples and their stride: read in place
    /// on the half-sample grid, or formed in `buf` (tight) between grid samples.
    #[allow(clippy::too_many_arguments)]
    fn predict<'a>(
        &'a self,
        x: usize,
        y: usize,
        mv: QuarterMv,
        w: usize,
        h: usize,
        buf: &'a mut [u16],
        cpu: CpuLevel,
    ) -> (&'a [u16], usize) {
        let hx = 2 * x as isize + (mv.x >> 1) as isize;
        let hy = 2 * y as isize + (mv.y >> 1) as isize;
        let stride = self.planes[0].stride;
        match (mv.x & 1, mv.y & 1) {
            (0, 0) => return (self.half_grid(hx, hy), stride),
            (1, 0) => {
                let (p, q) = (self.half_grid(hx, hy), self.half_grid(hx + 1, hy));
                kernel::average2(p, q, stride, buf, w, h, cpu);
            }
            (0, 1) => {
                let (p, q) = (self.half_grid(hx, hy), self.half_grid(hx, hy + 1));
                kernel::average2(p, q, stride, buf, w, h, cpu);
            }
            _ => {
                let src = [
                    self.half_grid(hx, hy),
                    self.half_grid(hx + 1, hy),
                    self.half_grid(hx, hy + 1),
                    self.half_grid(hx + 1, hy + 1),
                ];
                kernel::average4(src, stride, buf, w, h, cpu);
            }
        }
        (buf, w)
    }
}

/// Integer vectors (in the level's samples) per block of one search level.
struct IntField {
    cols: usize,
    rows: usize,
    mv: Vec<(i32, i32)>,
}

impl IntField {
    /// The vector of block `(bx, by)`, if it exists.
    fn get(&self, bx: isize, by: isize) -> Option<(i32, i32)> {
        (bx >= 0 && by >= 0 && (bx as usize) < self.cols && (by as usize) < self.rows)
            .then(|| self.mv[by as usize * self.cols + bx as usize])
    }
}

/// The best candidate so far: strictly lower costs replace it, so the first of equal costs
/// wins and the order of candidates decides ties. Costs are measured with the best cost as
/// the bound of [`kernel::sse`]'s early exit, which only cuts short candidates that lose.
struct Best<T> {
    mv: T,
    cost: u64,
    /// The candidates measured for this block (a repeat could not win, so is skipped).
    tried: Vec<T>,
}

impl<T: Copy + PartialEq + Default> Best<T> {
    fn new() -> Best<T> {
        Best {
            mv: T::default(),
            cost: u64::MAX,
            tried: Vec::with_capacity(32),
        }
    }

    /// Starts a new block.
    fn reset(&mut self) {
        self.mv = T::default();
        self.cost = u64::MAX;
        self.tried.clear();
    }

    /// Measures `mv` unless it was tried already, and keeps it if strictly better.
    fn offer(&mut self, mv: T, cost: impl FnOnce(T, u64) -> Option<u64>) {
        if !self.tried.contains(&mv) {
            self.tried.push(mv);
            self.measure(mv, cost);
        }
    }

    /// Measures `mv` (the caller knows it is new) and keeps it if strictly better.
    fn measure(&mut self, mv: T, cost: impl FnOnce(T, u64) -> Option<u64>) {
        if let Some(c) = cost(mv, self.cost) {
            if c < self.cost {
                self.mv = mv;
                self.cost = c;
            }
        }
    }
}

/// Integer motion search of `centre` in `reference` with blocks of `bs` samples, seeded from
/// the coarser level's field `parent` (vectors doubled) and refined by `range`, or, without
/// a parent, a full search of [`COARSE_RANGE`].
fn search_integer(
    centre: &Level,
    reference: &Padded,
    bs: usize,
    parent: Option<&IntField>,
    range: i32,
    cpu: CpuLevel,
) -> IntField {
    let (cols, rows) = (centre.width.div_ceil(bs), centre.height.div_ceil(bs));
    let mut field = IntField {
        cols,
        rows,
        mv: vec![(0, 0); cols * rows],
    };
    let mut best = Best::new();
    for by in 0..rows {
        for bx in 0..cols {
            let (x, y) = (bx * bs, by * bs);
            let (w, h) = (bs.min(centre.width - x), bs.min(centre.height - y));
            let cur = &centre.data[y * centre.width + x..];
            let cost = |(dx, dy): (i32, i32), bound: u64| {
                let (rx, ry) = (x as isize + dx as isize, y as isize + dy as isize);
                reference.holds(rx, ry, w, h, 0).then(|| {
                    kernel::sse(
                        cur,
                        centre.width,
                        reference.from(rx, ry),
                        reference.stride,
                        w,
                        h,
                        bound,
                        cpu,
                    )
                })
            };
            best.reset();
            let range = match parent {
                Some(p) => {
                    for py in -1..=1 {
                        for px in -1..=1 {
                            if let Some((vx, vy)) =
                                p.get(bx as isize / 2 + px, by as isize / 2 + py)
                            {
                                best.offer((2 * vx, 2 * vy), cost);
                            }
                        }
                    }
                    best.offer((0, 0), cost);
                    range
                }
                None => COARSE_RANGE,
            };
            // The window: new except for the seeds measured above.
            let (cx, cy) = best.mv;
            let seeds = best.tried.len();
            for dy in -range..=range {
                for dx in -range..=range {
                    let v = (cx + dx, cy + dy);
                    if !best.tried[..seeds].contains(&v) {
                        best.measure(v, cost);
                    }
                }
            }
            for (ax, ay) in [
                (bx as isize, by as isize - 1),
                (bx as isize - 1, by as isize),
            ] {
                if let Some(v) = field.get(ax, ay) {
                    let in_window = (v.0 - cx).abs() <= range && (v.1 - cy).abs() <= range;
                    if !in_window {
                        best.offer(v, cost);
                    }
                }
            }
            field.mv[by * cols + bx] = best.mv;
        }
    }
    field
}

/// The final pass: `unit` blocks at full resolution, seeded from the `2 * unit` field, refined
/// to quarter samples. Returns the field with VVenC's block errors.
fn search_quarter(
    centre: &Level,
    half: &HalfPlanes,
    unit: usize,
    parent: &IntField,
    bit_depth: u8,
    cpu: CpuLevel,
) -> MotionField {
    let (cols, rows) = (centre.width.div_ceil(unit), centre.height.div_ceil(unit));
    let mut mv = vec![QuarterMv::default(); cols * rows];
    let mut error = vec![0; cols * rows];
    let scale = f64::from(1u32 << (2 * (10 - u32::from(bit_depth))));
    let mut best = Best::new();
    for by in 0..rows {
        for bx in 0..cols {
            let (x, y) = (bx * unit, by * unit);
            let (w, h) = (unit.min(centre.width - x), unit.min(centre.height - y));
            let cur = &centre.data[y * centre.width + x..];
            let cost = |v: QuarterMv, bound: u64| {
                if !half.holds(x, y, w, h, v) {
                    return None;
                }
                Some(half.sse(cur, centre.width, (x, y), v, (w, h), bound, cpu))
            };
            best.reset();
            for py in -1..=1 {
                for px in -1..=1 {
                    if let Some((vx, vy)) = parent.get(bx as isize / 2 + px, by as isize / 2 + py) {
                        let v = QuarterMv {
                            x: 4 * vx,
                            y: 4 * vy,
                        };
                        best.offer(v, cost);
                    }
                }
            }
            best.offer(QuarterMv::default(), cost);
            // Half then quarter steps around the best. None repeats a candidate: the seeds
            // are whole samples (both coordinates multiples of 4), the half ring around one
            // has a coordinate of 2 mod 4, and the quarter ring an odd one; so they are
            // measured without the repeat check, but recorded for the neighbours' vectors.
            for step in [2, 1] {
                let c = best.mv;
                for dy in [-step, 0, step] {
                    for dx in [-step, 0, step] {
                        if dx != 0 || dy != 0 {
                            let v = QuarterMv {
                                x: c.x + dx,
                                y: c.y + dy,
                            };
                            best.tried.push(v);
                            best.measure(v, cost);
                        }
                    }
                }
            }
            if by > 0 {
                let v = mv[(by - 1) * cols + bx];
                best.offer(v, cost);
            }
            if bx > 0 {
                let v = mv[by * cols + bx - 1];
                best.offer(v, cost);
            }
            mv[by * cols + bx] = best.mv;
            error[by * cols + bx] = block_error(cur, centre.width, w, h, best.cost, scale);
        }
    }
    MotionField {
        unit,
        cols,
        rows,
        mv,
        error,
    }
}

/// VVenC's block error `20 * (SSE + 5) / (var + 5) + MSE / 50` in 10-bit units (`scale`
/// turns squared native differences into squared 10-bit ones), truncated (saturating).
fn block_error(cur: &[u16], stride: usize, w: usize, h: usize, sse: u64, scale: f64) -> u32 {
    let n = (w * h) as u64;
    let rows = || (0..h).flat_map(|r| cur[r * stride..][..w].iter().map(|&v| i64::from(v)));
    // VVenC's calcVar: the mean with 4 fractional bits (integer division), then the sum of
    // squared deviations at that precision over 256.
    let mean = (rows().sum::<i64>() << 4) / n as i64;
    let var: i64 = rows().map(|v| ((v << 4) - mean).pow(2)).sum();
    let var = var as f64 / 256.0 * scale;
    let sse = sse as f64 * scale;
    let mse = sse / n as f64;
    (20.0 * ((sse + 5.0) / (var + 5.0)) + mse / 50.0) as u32
}

/// The motion of `other` against `centre` (both of [`same_shape`]), and `other`'s half-sample
/// luma planes for compensation.
fn estimate(centre: &Frame, other: &Frame, cpu: CpuLevel) -> (MotionField, HalfPlanes) {
    let (width, height) = (centre.planes[0].width, centre.planes[0].height);
    let unit = unit_size(width, height);
    let bs = 2 * unit;
    let cur = pyramid(&centre.planes[0], cpu);
    let refs = pyramid(&other.planes[0], cpu);
    let levels = cur.len().min(refs.len());
    // Reach of the vectors at full resolution: the coarsest search doubled at each level plus
    // each level's refinement.
    let mut reach = COARSE_RANGE;
    for k in (0..levels - 1).rev() {
        reach = 2 * reach + if k == 0 { FULL_RES_RANGE } else { FINE_RANGE };
    }
    let mut parent: Option<IntField> = None;
    for k in (1..levels).rev() {
        let pad = (reach >> k) as usize + 4;
        let r = Padded::new(&refs[k].data, refs[k].width, refs[k].height, pad);
        parent = Some(search_integer(
            &cur[k],
            &r,
            bs,
            parent.as_ref(),
            FINE_RANGE,
            cpu,
        ));
    }
    // Full resolution: 4 more samples than the reach, for the quarter-sample refinement.
    let full = Padded::new(&refs[0].data, width, height, reach as usize + 4);
    let half = HalfPlanes::new(full, centre.bit_depth, cpu);
    let field = search_integer(
        &cur[0],
        &half.planes[0],
        bs,
        parent.as_ref(),
        FULL_RES_RANGE,
        cpu,
    );
    let motion = search_quarter(&cur[0], &half, unit, &field, centre.bit_depth, cpu);
    (motion, half)
}

/// `other` predicted block by block with `field`: luma from its half-sample planes, chroma
/// bilinear at eighth samples.
fn compensate(other: &Frame, half: &HalfPlanes, field: &MotionField, cpu: CpuLevel) -> Frame {
    let mut out = other.clone();
    let unit = field.unit;
    let luma = &mut out.planes[0];
    let mut buf = vec![0u16; unit * unit];
    for by in 0..field.rows {
        for bx in 0..field.cols {
            let (x, y) = (bx * unit, by * unit);
            let (w, h) = (unit.min(luma.width - x), unit.min(luma.height - y));
            let mut v = field.mv[by * field.cols + bx];
            if !half.holds(x, y, w, h, v) {
                v = QuarterMv::default();
            }
            let (p, stride) = half.predict(x, y, v, w, h, &mut buf, cpu);
            for r in 0..h {
                luma.data[(y + r) * luma.width + x..][..w].copy_from_slice(&p[r * stride..][..w]);
            }
        }
    }
    let pad = half.planes[0].pad / 2 + 4;
    for p in 1..3 {
        let src = &other.planes[p];
        let padded = Padded::new(&src.data, src.width, src.height, pad);
        let dst = &mut out.planes[p];
        let cu = unit / 2;
        for by in 0..field.rows {
            for bx in 0..field.cols {
                let (x, y) = (bx * cu, by * cu);
                if x >= dst.width || y >= dst.height {
                    continue;
                }
                let (w, h) = (cu.min(dst.width - x), cu.min(dst.height - y));
                let v = field.mv[by * field.cols + bx];
                chroma_block(&padded, x, y, v, w, h, half.max, dst);
            }
        }
    }
    out
}

/// Bilinear prediction at eighth samples of the `w` x `h` chroma block at `(x, y)` displaced
/// by the luma vector `mv`, written into `dst` at the same place. The block's origin is kept
/// inside the padded area (it always is for vectors the search accepted).
#[allow(clippy::too_many_arguments)]
fn chroma_block(
    src: &Padded,
    x: usize,
    y: usize,
    mv: QuarterMv,
    w: usize,
    h: usize,
    max: i32,
    dst: &mut Plane,
) {
    let pad = src.pad as isize;
    let clamp_origin =
        |o: isize, size: usize, len: usize| o.clamp(-pad, len as isize + pad - size as isize - 1);
    let ix = clamp_origin(x as isize + (mv.x >> 3) as isize, w, src.width);
    let iy = clamp_origin(y as isize + (mv.y >> 3) as isize, h, src.height);
    let (fx, fy) = (mv.x & 7, mv.y & 7);
    let weights = [(8 - fx) * (8 - fy), fx * (8 - fy), (8 - fx) * fy, fx * fy];
    let s = src.from(ix, iy);
    let stride = src.stride;
    for r in 0..h {
        let (top, bottom) = (&s[r * stride..][..w + 1], &s[(r + 1) * stride..][..w + 1]);
        let out = &mut dst.data[(y + r) * dst.width + x..][..w];
        for (c, o) in out.iter_mut().enumerate() {
            let sum = weights[0] * i32::from(top[c])
                + weights[1] * i32::from(top[c + 1])
                + weights[2] * i32::from(bottom[c])
                + weights[3] * i32::from(bottom[c + 1]);
            *o = ((sum + 32) >> 6).clamp(0, max) as u16;
        }
    }
}

/// A compensated neighbour as the filter uses it.
struct Reference<'a> {
    frame: &'a Frame,
    error: &'a [u32],
    /// VVenC's strength for the neighbour's distance.
    strength: f64,
}

/// The fall-off `exp(-d^2 / s)` in `EXP_BITS` fixed point for every sample difference `d` of
/// the bit depth (scaled to 10-bit units), for the sigma factor `0.8^k`, `k` = 0, 1, 2.
fn falloff_tables(sigma_sq: f64, bit_depth: u8) -> [Vec<u32>; 3] {
    let scale = f64::from(1u32 << (10 - u32::from(bit_depth)));
    let factors = [1.0, 0.8, 0.8 * 0.8];
    factors.map(|f| {
        let s = 2.0 * sigma_sq * f;
        (0..1u32 << bit_depth)
            .map(|d| {
                let d = f64::from(d) * scale;
                ((-(d * d) / s).exp() * f64::from(1u32 << EXP_BITS)).round() as u32
            })
            .collect()
    })
}

/// The bilateral temporal filter over every plane, block by block (VVenC's `applyBlockCore`).
fn apply_filter(
    centre: &Frame,
    refs: &[Reference],
    errors: &BlockErrors,
    qp: i8,
    strength: f64,
) -> Frame {
    let bit_depth = centre.bit_depth;
    let qp = f64::from(qp.max(0));
    let luma_sigma_sq = 9.0 * (128.0 + 3.0 / 256.0 * qp * qp * qp);
    let tables = [
        falloff_tables(luma_sigma_sq, bit_depth),
        falloff_tables(CHROMA_SIGMA_SQ, bit_depth),
    ];
    let mut out = centre.clone();
    for (p, plane) in out.planes.iter_mut().enumerate() {
        let chroma = usize::from(p > 0);
        let bs = errors.unit >> chroma;
        let width = plane.width;
        if width == 0 || plane.height == 0 {
            continue;
        }
        let ctx = BlockContext {
            orig: &centre.planes[p],
            refs: refs
                .iter()
                .map(|r| (&r.frame.planes[p].data[..], r))
                .collect(),
            tables: &tables[chroma],
            weight: strength * PLANE_WEIGHT[chroma],
            bit_depth,
            errors,
        };
        plane
            .data
            .par_chunks_mut(bs * width)
            .enumerate()
            .for_each(|(by, rows)| {
                for bx in 0..width.div_ceil(bs) {
                    ctx.filter_block(bx, by, bs, rows);
                }
            });
    }
    out
}

/// What filtering a block of one plane needs.
struct BlockContext<'a> {
    orig: &'a Plane,
    refs: Vec<(&'a [u16], &'a Reference<'a>)>,
    tables: &'a [Vec<u32>; 3],
    /// Strength times the plane's weight scaling.
    weight: f64,
    bit_depth: u8,
    errors: &'a BlockErrors,
}

impl BlockContext<'_> {
    /// Filters block `(bx, by)` (side `bs` in this plane) into `rows`, the output rows of its
    /// block row.
    fn filter_block(&self, bx: usize, by: usize, bs: usize, rows: &mut [u16]) {
        let width = self.orig.width;
        let (x, y) = (bx * bs, by * bs);
        let (w, h) = (bs.min(width - x), bs.min(self.orig.height - y));
        let block = by.min(self.errors.rows - 1) * self.errors.cols + bx.min(self.errors.cols - 1);
        let orig = &self.orig.data;
        let at = |r: usize, c: usize| (y + r) * width + x + c;
        let scale = 1i64 << (2 * (10 - u32::from(self.bit_depth)));
        // VVenC's noise estimate of each residual: its energy against its gradients' energy.
        let errs: Vec<u32> = self.refs.iter().map(|(_, r)| r.error[block]).collect();
        let min_error = errs.iter().copied().min().unwrap_or(0);
        let mut weights = Vec::with_capacity(self.refs.len());
        let mut diff = vec![0i64; w * h];
        for ((samples, reference), &error) in self.refs.iter().zip(&errs) {
            for r in 0..h {
                let (o, m) = (&orig[at(r, 0)..][..w], &samples[at(r, 0)..][..w]);
                for ((d, &o), &m) in diff[r * w..][..w].iter_mut().zip(o).zip(m) {
                    *d = i64::from(o) - i64::from(m);
                }
            }
            let energy: i64 = diff.iter().map(|d| d * d).sum();
            let mut gradients = 0i64;
            for r in 0..h {
                let row = &diff[r * w..][..w];
                gradients += row.windows(2).map(|p| (p[1] - p[0]).pow(2)).sum::<i64>();
                if r + 1 < h {
                    let next = &diff[(r + 1) * w..][..w];
                    gradients += row
                        .iter()
                        .zip(next)
                        .map(|(a, b)| (b - a).pow(2))
                        .sum::<i64>();
                }
            }
            let (energy, gradients) = ((energy * scale) as f64, (gradients * scale) as f64);
            let count_v = (w * h) as f64;
            let count_d = (2 * w * h - w - h) as f64;
            let noise = ((15.0 * count_d / count_v * energy + 5.0) / (gradients + 5.0)).round();
            let noisy = noise >= 25.0;
            let mut ww = if noisy { 0.6 } else { 1.0 };
            ww *= if error < 50 {
                1.2
            } else if error > 100 {
                0.6
            } else {
                1.0
            };
            ww *= (f64::from(min_error) + 1.0) / (f64::from(error) + 1.0);
            let ww = ww * self.weight * reference.strength;
            let ww = (ww * f64::from(1u32 << WW_BITS)).round() as u64;
            let table = &self.tables[usize::from(noisy) + usize::from(error >= 50)];
            weights.push((*samples, ww, table));
        }
        let max = (1u64 << self.bit_depth) - 1;
        let one = 1u64 << (WW_BITS + EXP_BITS);
        let mut num = vec![0u64; w];
        let mut den = vec![0u64; w];
        for r in 0..h {
            let centre = &orig[at(r, 0)..][..w];
            for ((n, d), &c) in num.iter_mut().zip(den.iter_mut()).zip(centre) {
                *n = u64::from(c) * one;
                *d = one;
            }
            for (samples, ww, table) in &weights {
                let last = table.len() - 1;
                let row = &samples[at(r, 0)..][..w];
                for (((n, d), &c), &v) in num.iter_mut().zip(den.iter_mut()).zip(centre).zip(row) {
                    let wt = ww * u64::from(table[usize::from(v.abs_diff(c)).min(last)]);
                    *n += wt * u64::from(v);
                    *d += wt;
                }
            }
            let out = &mut rows[r * width + x..][..w];
            for ((o, &num), &den) in out.iter_mut().zip(&num).zip(&den) {
                *o = ((num + den / 2) / den).min(max) as u16;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A smooth, aperiodic texture around mid-grey at 8-bit scale: twelve sinusoids of
    /// pseudo-random direction, period (7 to 40 samples) and phase. Its value is known
    /// anywhere, so shifted copies need no interpolation of ours.
    fn texture(x: f64, y: f64) -> f64 {
        use std::f64::consts::TAU;
        use std::sync::OnceLock;
        static WAVES: OnceLock<Vec<[f64; 4]>> = OnceLock::new();
        let waves = WAVES.get_or_init(|| {
            let mut rng = SmallRng::seed_from_u64(99);
            (0..12)
                .map(|_| {
                    let angle = rng.gen_range(0.0..TAU);
                    let period = rng.gen_range(7.0..40.0);
                    let k = TAU / period;
                    [
                        k * angle.cos(),
                        k * angle.sin(),
                        rng.gen_range(0.0..TAU),
                        rng.gen_range(6.0..14.0),
                    ]
                })
                .collect()
        });
        128.0
            + waves
                .iter()
                .map(|[kx, ky, phase, amp]| amp * (kx * x + ky * y + phase).sin())
                .sum::<f64>()
    }

    /// A frame of `texture` displaced by `(dx, dy)` (the sample at `p` shows the texture at
    /// `p - (dx, dy)`), plus `noise` (uniform, this amplitude at 8-bit scale) from `rng`.
    fn frame(
        w: usize,
        h: usize,
        bit_depth: u8,
        (dx, dy): (f64, f64),
        noise: f64,
        rng: &mut SmallRng,
    ) -> Frame {
        let mut f = Frame::new_420_at(w, h, bit_depth);
        let scale = f64::from(1u32 << (bit_depth - 8));
        let max = f64::from((1u32 << bit_depth) - 1);
        for (p, plane) in f.planes.iter_mut().enumerate() {
            let sub = if p == 0 { 1.0 } else { 2.0 };
            let offset = 40.0 * p as f64;
            for y in 0..plane.height {
                for x in 0..plane.width {
                    let (sx, sy) = (x as f64 * sub - dx, y as f64 * sub - dy);
                    let n = if noise > 0.0 {
                        rng.gen_range(-noise..noise)
                    } else {
                        0.0
                    };
                    let v = (texture(sx + offset, sy) + n) * scale;
                    plane.data[y * plane.width + x] = v.round().clamp(0.0, max) as u16;
                }
            }
        }
        f
    }

    fn mse(a: &Plane, b: &Plane) -> f64 {
        let sum: f64 = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
            .sum();
        sum / a.data.len() as f64
    }

    /// (a) A texture with independent noise in every frame, static or moving by whole and
    /// fractional samples per frame: the filtered centre is much closer to the clean texture
    /// than the noisy centre is.
    #[test]
    fn filtering_removes_independent_noise() {
        let mut rng = SmallRng::seed_from_u64(11);
        for bit_depth in [8, 10] {
            for motion in [(0.0, 0.0), (1.25, -0.75), (3.0, 2.5)] {
                let (w, h) = (128, 96);
                let at = |i: usize| {
                    let t = i as f64 - 4.0;
                    (motion.0 * t, motion.1 * t)
                };
                let clean = frame(w, h, bit_depth, at(4), 0.0, &mut rng);
                let noisy: Vec<Frame> = (0..9)
                    .map(|i| frame(w, h, bit_depth, at(i), 10.0, &mut rng))
                    .collect();
                let neighbours: Vec<Neighbour> = (0..9)
                    .filter(|&i| i != 4)
                    .map(|i| Neighbour {
                        frame: &noisy[i],
                        distance: i as i32 - 4,
                    })
                    .collect();
                let out = filter_frame(&noisy[4], &neighbours, 32, 1.0, CpuLevel::runtime());
                for p in 0..3 {
                    let before = mse(&noisy[4].planes[p], &clean.planes[p]);
                    let after = mse(&out.frame.planes[p], &clean.planes[p]);
                    assert!(
                        after < 0.5 * before,
                        "{bit_depth}-bit plane {p}, motion {motion:?}: MSE {before:.2} before, \
                         {after:.2} after"
                    );
                }
                if motion == (0.0, 0.0) {
                    // Static content: every block's error is small.
                    assert!(out.errors.error.iter().flatten().all(|&e| e < 100));
                }
            }
        }
    }

    /// (b) Neighbours showing the texture moved by known vectors, small, large (found
    /// through the pyramid) and fractional: every interior block finds the vector exactly.
    #[test]
    fn motion_search_finds_known_vectors() {
        let mut rng = SmallRng::seed_from_u64(12);
        let (w, h) = (160, 128);
        let vectors = [
            (5.0, -3.0),
            (20.0, 12.0),
            (-27.0, 9.0),
            (2.25, -1.5),
            (-6.75, 3.25),
            (17.5, -14.25),
        ];
        for bit_depth in [8, 10] {
            let centre = frame(w, h, bit_depth, (0.0, 0.0), 0.0, &mut rng);
            let moved: Vec<Frame> = vectors
                .iter()
                .map(|&v| frame(w, h, bit_depth, v, 0.0, &mut rng))
                .collect();
            let neighbours: Vec<Neighbour> = moved
                .iter()
                .map(|f| Neighbour {
                    frame: f,
                    distance: 1,
                })
                .collect();
            for cpu in CpuLevel::all_supported() {
                let fields = motion_fields(&centre, &neighbours, cpu);
                for (&(vx, vy), field) in vectors.iter().zip(&fields) {
                    let field = field.as_ref().expect("same shape");
                    let want = QuarterMv {
                        x: (vx * 4.0) as i32,
                        y: (vy * 4.0) as i32,
                    };
                    let mut checked = 0;
                    for by in 0..field.rows {
                        for bx in 0..field.cols {
                            let (x, y) = ((bx * field.unit) as f64, (by * field.unit) as f64);
                            let u = field.unit as f64;
                            // Interior: the displaced block and its filter taps are in the picture.
                            if x + vx < 3.0
                                || y + vy < 3.0
                                || x + vx + u + 3.0 > w as f64
                                || y + vy + u + 3.0 > h as f64
                            {
                                continue;
                            }
                            checked += 1;
                            assert_eq!(
                                field.mv[by * field.cols + bx],
                                want,
                                "block ({bx}, {by}) for ({vx}, {vy}), {bit_depth}-bit at {cpu:?}"
                            );
                        }
                    }
                    assert!(checked >= 100, "only {checked} interior blocks");
                }
            }
        }
    }

    /// (c) Without neighbours, or at strength 0, the centre comes back unchanged.
    #[test]
    fn nothing_to_filter_with_returns_the_centre() {
        let mut rng = SmallRng::seed_from_u64(13);
        let centre = frame(40, 24, 8, (0.0, 0.0), 8.0, &mut rng);
        let out = filter_frame(&centre, &[], 30, 1.0, CpuLevel::runtime());
        assert_eq!(out.frame, centre);
        assert!(out.errors.error.is_empty());
        let other = frame(40, 24, 8, (1.0, 0.0), 8.0, &mut rng);
        let one = [Neighbour {
            frame: &other,
            distance: -1,
        }];
        let out = filter_frame(&centre, &one, 30, 0.0, CpuLevel::runtime());
        assert_eq!(out.frame, centre);
        assert_eq!(out.errors.error.len(), 1);
        assert_eq!(out.errors.error[0].len(), 5 * 3);
    }

    /// (d) Tiny and odd sizes at both depths: no panic, samples in range, errors sized.
    #[test]
    fn odd_and_tiny_sizes() {
        let mut rng = SmallRng::seed_from_u64(14);
        let sizes = [(1, 1), (2, 2), (1, 40), (40, 1), (9, 7), (33, 17), (3, 65)];
        for bit_depth in [8u8, 10] {
            for (w, h) in sizes {
                let max = (1u16 << bit_depth) - 1;
                let random = |rng: &mut SmallRng| {
                    let mut f = Frame::new_420_at(w, h, bit_depth);
                    for p in &mut f.planes {
                        p.data.iter_mut().for_each(|v| *v = rng.gen_range(0..=max));
                    }
                    f
                };
                let frames: Vec<Frame> = (0..3).map(|_| random(&mut rng)).collect();
                let extreme = {
                    let mut f = Frame::new_420_at(w, h, bit_depth);
                    f.planes.iter_mut().for_each(|p| p.data.fill(max));
                    f
                };
                let neighbours = [
                    Neighbour {
                        frame: &frames[1],
                        distance: -1,
                    },
                    Neighbour {
                        frame: &frames[2],
                        distance: 2,
                    },
                    Neighbour {
                        frame: &extreme,
                        distance: 6,
                    },
                ];
                for cpu in CpuLevel::all_supported() {
                    let out = filter_frame(&frames[0], &neighbours, 51, 2.0, cpu);
                    let e = &out.errors;
                    assert_eq!((e.cols, e.rows), (w.div_ceil(8), h.div_ceil(8)));
                    assert!(e.error.iter().all(|v| v.len() == e.cols * e.rows));
                    for p in 0..3 {
                        assert_eq!(out.frame.planes[p].width, frames[0].planes[p].width);
                        assert!(out.frame.planes[p].data.iter().all(|&v| v <= max));
                    }
                }
            }
        }
    }

    /// (e) The same output at every CPU level and with 1 or 2 threads.
    #[test]
    fn output_is_the_same_at_every_level_and_thread_count() {
        let mut rng = SmallRng::seed_from_u64(15);
        for bit_depth in [8, 10] {
            let (w, h) = (77, 45);
            let frames: Vec<Frame> = (0..5)
                .map(|i| {
                    let v = (i as f64 * 1.75 - 3.5, i as f64 * -0.5);
                    frame(w, h, bit_depth, v, 12.0, &mut rng)
                })
                .collect();
            let neighbours: Vec<Neighbour> = [0usize, 1, 3, 4]
                .iter()
                .map(|&i| Neighbour {
                    frame: &frames[i],
                    distance: i as i32 - 2,
                })
                .collect();
            let run = |threads: usize, cpu: CpuLevel| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("thread pool");
                pool.install(|| {
                    let out = filter_frame(&frames[2], &neighbours, 37, 1.5, cpu);
                    (out.frame, out.errors.error)
                })
            };
            let reference = run(1, CpuLevel::Scalar);
            assert_ne!(reference.0, frames[2], "the filter changed nothing");
            for cpu in CpuLevel::all_supported() {
                for threads in [1, 2] {
                    let got = run(threads, cpu);
                    assert!(
                        got == reference,
                        "{bit_depth}-bit, {cpu:?}, {threads} threads"
                    );
                }
            }
        }
    }

    /// Reads the 8-bit 4:2:0 frames of a y4m file (for the timing run below).
    fn read_y4m(path: &str) -> Option<Vec<Frame>> {
        let bytes = std::fs::read(path).ok()?;
        let header_end = bytes.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&bytes[..header_end]).ok()?;
        let field = |tag: char| -> Option<usize> {
            header
                .split(' ')
                .find_map(|f| f.strip_prefix(tag))
                .and_then(|v| v.parse().ok())
        };
        let (w, h) = (field('W')?, field('H')?);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut frames = Vec::new();
        let mut pos = header_end + 1;
        while pos < bytes.len() {
            pos += bytes[pos..].iter().position(|&b| b == b'\n')? + 1;
            let mut f = Frame::new_420(w, h);
            for (p, (pw, ph)) in [(w, h), (cw, ch), (cw, ch)].into_iter().enumerate() {
                let n = pw * ph;
                let src = bytes.get(pos..pos + n)?;
                f.planes[p].data = src.iter().map(|&b| u16::from(b)).collect();
                pos += n;
            }
            frames.push(f);
        }
        Some(frames)
    }

    /// Times `filter_frame` with 8 neighbours on one thread: `cargo test --release -p mica
    /// --lib temporal_filter::tests::timing -- --ignored --nocapture`. Prints; asserts nothing.
    /// `MCTF_TIMING_CPU=avx2` (or `scalar`) times one level, `MCTF_TIMING_THREADS=2` uses two
    /// threads, and `MCTF_TIMING_1080=1` adds a synthetic 1920x1080 case.
    #[test]
    #[ignore]
    fn timing() {
        let threads: usize = std::env::var("MCTF_TIMING_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let time = |name: &str, frames: &[Frame], centre: usize| {
            let neighbours: Vec<Neighbour> = (centre - 4..=centre + 4)
                .filter(|&i| i != centre)
                .map(|i| Neighbour {
                    frame: &frames[i],
                    distance: i as i32 - centre as i32,
                })
                .collect();
            let only = std::env::var("MCTF_TIMING_CPU").ok();
            let only = only.as_deref().and_then(CpuLevel::from_name);
            for cpu in CpuLevel::all_supported()
                .into_iter()
                .filter(|&c| only.is_none_or(|o| o == c))
            {
                let mut mean_error = 0.0;
                let mut times: Vec<f64> = (0..9)
                    .map(|_| {
                        let start = std::time::Instant::now();
                        let out = pool
                            .install(|| filter_frame(&frames[centre], &neighbours, 32, 1.0, cpu));
                        let elapsed = start.elapsed().as_secs_f64() * 1e3;
                        let errors = &out.errors.error;
                        let count = errors.iter().map(Vec::len).sum::<usize>().max(1);
                        let sum: f64 = errors.iter().flatten().map(|&e| f64::from(e)).sum();
                        mean_error = sum / count as f64;
                        elapsed
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                println!(
                    "{name}, 8 neighbours, {cpu:?}, {threads} thread(s): min {:.1} ms, median {:.1} ms, \
                     mean block error {mean_error:.1}",
                    times[0], times[4]
                );
            }
        };
        let clip = "/work/shared/media/box_640x480_30fps_48f.y4m";
        match read_y4m(clip) {
            Some(frames) if frames.len() >= 9 => time("640x480 box", &frames, 8),
            _ => println!("{clip} not readable"),
        }
        if std::env::var_os("MCTF_TIMING_1080").is_none() {
            return;
        }
        let mut rng = SmallRng::seed_from_u64(16);
        let frames: Vec<Frame> = (0..9)
            .map(|i| {
                frame(
                    1920,
                    1080,
                    8,
                    (i as f64 * 2.25, i as f64 * -1.5),
                    6.0,
                    &mut rng,
                )
            })
            .collect();
        time("1920x1080 synthetic", &frames, 4);
    }
}
