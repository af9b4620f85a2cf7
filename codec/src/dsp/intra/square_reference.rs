//! The square intra prediction of main before rectangles (commit 87b55cf's
//! `dsp/intra/scalar.rs` and the helpers of its `mod.rs`, unchanged but for the imports
//! and the names of the entry points), kept as the independent "old" expectation that
//! squares still predict bit for bit as before. Test-only.

#![allow(clippy::too_many_arguments)]

const INTRA_PRED_ANGLE: [i8; 33] = [
    32, 26, 21, 17, 13, 9, 5, 2, 0, -2, -5, -9, -13, -17, -21, -26, -32, -26, -21, -17, -13, -9,
    -5, -2, 0, 2, 5, 9, 13, 17, 21, 26, 32,
];
const FIRST_VERTICAL_MODE: u8 = 18;
const MAX_N: usize = 32;
const PLANAR: u8 = 0;
const DC: u8 = 1;
const HOR: u8 = 10;
const VER: u8 = 26;
const MAIN_ORIGIN: usize = MAX_N;
const MAIN_LEN: usize = 4 * MAX_N;
type MainRef = [u16; MAIN_LEN];

const fn intra_pred_angle(mode: u8) -> i32 {
    INTRA_PRED_ANGLE[mode as usize - 2] as i32
}

const fn inv_angle(angle: i32) -> i32 {
    match angle {
        -2 => -4096,
        -5 => -1638,
        -9 => -910,
        -13 => -630,
        -17 => -482,
        -21 => -390,
        -26 => -315,
        -32 => -256,
        _ => panic!("invAngle exists only for negative angles"),
    }
}

/// The lowest k for which an angular mode's `ref[k]` exists: negative angles that reach
/// further than one sample back extend the main reference to (N * angle) >> 5.
const fn first_main_index(mode: u8, n: usize) -> i32 {
    let angle = intra_pred_angle(mode);
    let last_projected = (n as i32 * angle) >> 5;
    if angle < 0 && last_projected < -1 {
        last_projected
    } else {
        0
    }
}

/// Distance from the corner along the side edge that `ref[k]` (k < 0) is projected from.
const fn projected_side(angle: i32, k: i32) -> i32 {
    (k * inv_angle(angle) + 128) >> 8
}

/// Index in `refs` of the spec's `ref[k]` for angular `mode`, k in
/// [`first_main_index`]..=2N: the corner and then the top row (vertical class) or the left
/// column (horizontal class) for k >= 0, the other edge projected for k < 0.
const fn main_source(mode: u8, n: usize, k: i32) -> usize {
    assert!(first_main_index(mode, n) <= k && k <= 2 * n as i32);
    let vertical = mode >= FIRST_VERTICAL_MODE;
    let corner = 2 * n as i32;
    let offset = if k >= 0 {
        k
    } else {
        -projected_side(intra_pred_angle(mode), k)
    };
    (if vertical {
        corner + offset
    } else {
        corner - offset
    }) as usize
}

/// Builds the main reference of angular `mode`.
fn main_reference(mode: u8, refs: &[u16], n: usize) -> MainRef {
    let mut main = [0; MAIN_LEN];
    for k in first_main_index(mode, n)..=2 * n as i32 {
        main[(MAIN_ORIGIN as i32 + k) as usize] = refs[main_source(mode, n, k)];
    }
    main
}

pub fn needs_ref_filter(mode: u8, log2n: u32, is_luma: bool) -> bool {
    let n = 1usize << log2n;
    if !is_luma || n == 4 || mode == DC {
        return false;
    }
    if mode == PLANAR {
        return true;
    }
    let distance_to_hor_or_ver = mode.abs_diff(VER).min(mode.abs_diff(HOR));
    let threshold = match n {
        8 => 7,
        16 => 1,
        _ => 0,
    };
    distance_to_hor_or_ver > threshold
}

/// Named access to the samples of a refs line for an NxN block.
struct Refs<'a> {
    line: &'a [u16],
    n: usize,
}

impl Refs<'_> {
    /// Left sample at (-1, y), y in 0..2N.
    fn left(&self, y: usize) -> i32 {
        i32::from(self.line[2 * self.n - 1 - y])
    }

    /// Top sample at (x, -1), x in 0..2N.
    fn top(&self, x: usize) -> i32 {
        i32::from(self.line[2 * self.n + 1 + x])
    }

    /// Corner sample at (-1, -1).
    fn corner(&self) -> i32 {
        i32::from(self.line[2 * self.n])
    }

    /// Bottom-most left sample at (-1, 2N - 1).
    fn bottom_left(&self) -> i32 {
        self.left(2 * self.n - 1)
    }

    /// Right-most top sample at (2N - 1, -1).
    fn top_right(&self) -> i32 {
        self.top(2 * self.n - 1)
    }
}

/// Reference smoothing (H.265 8.4.4.2.3): strong bi-linear smoothing for flat 32x32
/// references, `[1,2,1]` otherwise.
pub fn filter_refs(refs: &[u16], n: usize, out: &mut [u16], bit_depth: u32) {
    let flat_limit = 1 << (bit_depth - 5);
    let r = Refs { line: refs, n };
    // Flat: each edge's midpoint lies close to the straight line from the corner to the
    // edge's far end, so a straight line loses nothing but noise.
    let flat = || {
        (r.bottom_left() + r.corner() - 2 * r.left(n - 1)).abs() < flat_limit
            && (r.corner() + r.top_right() - 2 * r.top(n - 1)).abs() < flat_limit
    };
    if n == MAX_N && flat() {
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
        let last = 4 * n;
        out[0] = refs[0];
        out[last] = refs[last];
        for (sample, window) in out[1..last].iter_mut().zip(refs.windows(3)) {
            let sum = u32::from(window[0]) + 2 * u32::from(window[1]) + u32::from(window[2]);
            *sample = ((sum + 2) >> 2) as u16;
        }
    }
}

/// Planar prediction (H.265 8.4.4.2.5).
pub fn predict_planar(refs: &[u16], n: usize, dst: &mut [u16], stride: usize) {
    let r = Refs { line: refs, n };
    let shift = n.trailing_zeros() + 1;
    let top_right = r.top(n);
    let bottom_left = r.left(n);
    let n_i32 = n as i32;
    for y in 0..n {
        let row = &mut dst[y * stride..][..n];
        for (x, sample) in row.iter_mut().enumerate() {
            let (xi, yi) = (x as i32, y as i32);
            let horizontal = (n_i32 - 1 - xi) * r.left(y) + (xi + 1) * top_right;
            let vertical = (n_i32 - 1 - yi) * r.top(x) + (yi + 1) * bottom_left;
            *sample = ((horizontal + vertical + n_i32) >> shift) as u16;
        }
    }
}

/// DC prediction (H.265 8.4.4.2.5), with the `[1,3]/4` smoothing of the first row and
/// column (corner `[1,2,1]`) when `edge_filter` is set.
pub fn predict_dc(refs: &[u16], n: usize, edge_filter: bool, dst: &mut [u16], stride: usize) {
    let r = Refs { line: refs, n };
    let sum: i32 = (0..n).map(|i| r.top(i) + r.left(i)).sum();
    let dc = (sum + n as i32) >> (n.trailing_zeros() + 1);
    for y in 0..n {
        dst[y * stride..][..n].fill(dc as u16);
    }
    if edge_filter {
        for (x, sample) in dst[..n].iter_mut().enumerate().skip(1) {
            *sample = ((r.top(x) + 3 * dc + 2) >> 2) as u16;
        }
        dst[0] = ((r.left(0) + 2 * dc + r.top(0) + 2) >> 2) as u16;
        for y in 1..n {
            dst[y * stride] = ((r.left(y) + 3 * dc + 2) >> 2) as u16;
        }
    }
}

/// Angular prediction (H.265 8.4.4.2.6) for modes 2..=34.
///
/// Both classes run the same loop in (along, across) coordinates: along the main reference
/// and away from it. Vertical-class modes use the top row as the main reference, so
/// (along, across) = (x, y); horizontal-class modes use the left column, so it is (y, x).
pub fn predict_angular(
    mode: u8,
    refs: &[u16],
    n: usize,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    bit_depth: u32,
) {
    let max = (1 << bit_depth) - 1;
    let r = Refs { line: refs, n };
    let angle = intra_pred_angle(mode);
    let vertical = mode >= FIRST_VERTICAL_MODE;
    let main = main_reference(mode, refs, n);
    for across in 0..n {
        let position = (across as i32 + 1) * angle;
        let offset = position >> 5;
        let fact = position & 31;
        for along in 0..n {
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
        for y in 0..n {
            dst[y * stride] = (r.top(0) + ((r.left(y) - r.corner()) >> 1)).clamp(0, max) as u16;
        }
    }
    if edge_filter && mode == HOR {
        for (x, sample) in dst[..n].iter_mut().enumerate() {
            *sample = (r.left(0) + ((r.top(x) - r.corner()) >> 1)).clamp(0, max) as u16;
        }
    }
}

/// Main's square prediction (its `predict` at the scalar level): smoothing decided by the
/// caller, `edge_filter` cleared for 32x32 as main's dispatch did.
pub fn predict(
    mode: u8,
    refs: &[u16],
    log2n: u32,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    bit_depth: u32,
) {
    let n = 1usize << log2n;
    let edge_filter = edge_filter && n < MAX_N;
    match mode {
        PLANAR => predict_planar(refs, n, dst, stride),
        DC => predict_dc(refs, n, edge_filter, dst, stride),
        _ => predict_angular(mode, refs, n, edge_filter, dst, stride, bit_depth),
    }
}
