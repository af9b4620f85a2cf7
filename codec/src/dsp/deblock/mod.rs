//! Deblocking edge kernels (normative description: `docs/bitstream.md`, section
//! "Deblocking"): the luma filter (strong or normal, up to three samples changed on either
//! side) and the chroma filter (normal, one sample either side), over 4-line segments of
//! the 8-sample edge grid. Deciding which edges to filter, and how strongly, is the
//! traversal's business (`crate::deblock`); these kernels take its per-segment thresholds.
//!
//! One call filters a whole run of segments, so that SIMD versions can work on several at
//! once:
//!
//! * [`luma_horizontal`] / [`chroma_horizontal`]: every 4-sample segment along one
//!   horizontal edge (between two rows) of a plane, left to right;
//! * [`luma_vertical`] / [`chroma_vertical`]: every vertical edge of the grid (columns 8,
//!   16, ...) across one band of 4 rows.
//!
//! A segment whose `tc` is 0 (or, for luma, whose `beta` is 0) is left untouched. Segments
//! of one call never share a sample, nor do edges 8 samples apart, so the order in which a
//! kernel visits them does not matter.
//!
//! Decisions are made per segment from its lines 0 and 3 (H.265 8.7.2.5.3): filter at all
//! (`d < beta`), strong or normal, and whether the normal filter also changes the second
//! sample on each side. The normal filter then skips each line whose `|delta| >= 10 tc`.
//!
//! `scalar` is the readable reference; `avx2` must match it bit for bit.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

// AVX2 16-bit port pending: any() keeps it out of the build until then.
#[cfg(all(target_arch = "x86_64", any()))]
mod avx2;
mod scalar;

/// Thresholds of one 4-line luma edge segment: H.265's beta and tC for the edge's QP and
/// boundary strength (`DEBLOCK_BETA`, `DEBLOCK_TC`; at most 64 and 24), scaled by
/// `2^(bitDepth - 8)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LumaEdge {
    /// Activity threshold: the segment is filtered only where its second differences
    /// (lines 0 and 3, both sides) add up to less.
    pub beta: u16,
    /// Clipping bound of the changes; 0 leaves the segment untouched.
    pub tc: u16,
}

impl LumaEdge {
    /// No edge: the segment is left untouched.
    pub const OFF: LumaEdge = LumaEdge { beta: 0, tc: 0 };
}

/// Filters the horizontal luma edge between rows `y - 1` and `y` of `plane` (rows `stride`
/// samples apart). Segment `i` covers columns `4 i .. 4 i + 4` and has thresholds
/// `edges[i]`; the filter reads rows `y - 4 ..= y + 3` and changes at most rows
/// `y - 3 ..= y + 2`.
///
/// Panics unless `y >= 4`, `4 * edges.len() <= stride` and `plane` holds rows up to
/// `y + 3` (the last one may end right after the last segment).
pub fn luma_horizontal(
    plane: &mut [u16],
    stride: usize,
    y: usize,
    edges: &[LumaEdge],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_horizontal(plane.len(), stride, y, edges.len(), 4);
    match cpu {
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::luma_horizontal(plane, stride, y, edges, bit_depth) }
        }
        _ => scalar::luma_horizontal(plane, stride, y, edges, bit_depth),
    }
}

/// Filters the vertical luma edges of a band of 4 rows: rows `0..4` of `band` (`stride`
/// samples apart). Edge `k` lies between columns `8 (k + 1) - 1` and `8 (k + 1)` and has
/// thresholds `edges[k]`; the filter reads 4 samples and changes at most 3 on either side.
///
/// Panics unless `8 * edges.len() + 4 <= stride` and `band` holds the 4 rows (the last one
/// may end right after the last edge's fourth sample).
pub fn luma_vertical(
    band: &mut [u16],
    stride: usize,
    edges: &[LumaEdge],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_vertical(band.len(), stride, edges.len());
    match cpu {
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::luma_vertical(band, stride, edges, bit_depth) }
        }
        _ => scalar::luma_vertical(band, stride, edges, bit_depth),
    }
}

/// Filters the horizontal chroma edge between rows `y - 1` and `y` of `plane`: segment `i`
/// covers columns `4 i .. 4 i + 4` with clipping bound `tcs[i]` (0: untouched). The filter
/// reads rows `y - 2 ..= y + 1` and changes rows `y - 1` and `y`.
///
/// Panics unless `y >= 2`, `4 * tcs.len() <= stride` and `plane` holds rows up to `y + 1`
/// (the last one may end right after the last segment).
pub fn chroma_horizontal(
    plane: &mut [u16],
    stride: usize,
    y: usize,
    tcs: &[u16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_horizontal(plane.len(), stride, y, tcs.len(), 2);
    match cpu {
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::chroma_horizontal(plane, stride, y, tcs, bit_depth) }
        }
        _ => scalar::chroma_horizontal(plane, stride, y, tcs, bit_depth),
    }
}

/// Filters the vertical chroma edges of a band of 4 rows: edge `k` lies between columns
/// `8 (k + 1) - 1` and `8 (k + 1)` with clipping bound `tcs[k]` (0: untouched) and changes
/// one sample on either side.
///
/// Panics like [`luma_vertical`]: the kernels may read 4 samples on either side of an edge
/// (chroma planes are a multiple of 4 wide, so an edge at column `x < width` has them).
pub fn chroma_vertical(
    band: &mut [u16],
    stride: usize,
    tcs: &[u16],
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    check_vertical(band.len(), stride, tcs.len());
    match cpu {
        #[cfg(all(target_arch = "x86_64", any()))]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard has just confirmed (through std's cached detection) that this
            // CPU supports AVX2; a `CpuLevel::Avx2` built by hand on other hardware falls through.
            unsafe { avx2::chroma_vertical(band, stride, tcs, bit_depth) }
        }
        _ => scalar::chroma_vertical(band, stride, tcs, bit_depth),
    }
}

/// Checks a horizontal edge call: `segments` segments of 4 columns, `reach` rows read on
/// either side of the edge above row `y`.
fn check_horizontal(len: usize, stride: usize, y: usize, segments: usize, reach: usize) {
    let width = 4 * segments;
    assert!(
        width <= stride,
        "{segments} segments of 4 samples do not fit in a row of stride {stride}"
    );
    assert!(
        y >= reach,
        "a horizontal edge at row {y} needs {reach} rows above it"
    );
    let end = (y + reach - 1)
        .checked_mul(stride)
        .and_then(|rows| rows.checked_add(width));
    assert!(
        segments == 0 || end.is_some_and(|end| end <= len),
        "a plane of {len} samples at stride {stride} does not hold the {reach} rows below \
         the edge at row {y} ({width} samples wide)"
    );
}

/// Checks a vertical edge call: `edges` edges at columns 8, 16, ..., with 4 samples either
/// side, in 4 rows.
fn check_vertical(len: usize, stride: usize, edges: usize) {
    let width = 8 * edges + 4;
    assert!(
        edges == 0 || width <= stride,
        "{edges} vertical edges need rows of {width} samples, longer than the stride {stride}"
    );
    assert!(
        edges == 0 || 3 * stride + width <= len,
        "a band of {len} samples at stride {stride} does not hold 4 rows of {width} samples"
    );
}

// 16-bit port pending (with the AVX2 kernels): any() keeps these out of the build.
#[cfg(all(test, any()))]
mod tests {
    use super::*;
    use crate::deblock::{DEBLOCK_BETA, DEBLOCK_TC};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Luma or chroma: what differs between their calls.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Kind {
        Luma,
        Chroma,
    }

    /// One segment's parameters, whichever the kind (chroma uses `tc` only).
    type Params = LumaEdge;

    /// A plane with a stride that may exceed its width. Padding samples are drawn like the
    /// others (kernels must not change them: scalar does not).
    #[derive(Clone)]
    struct TestPlane {
        data: Vec<u8>,
        w: usize,
        h: usize,
        stride: usize,
    }

    impl TestPlane {
        fn new(w: usize, h: usize, stride: usize, sample: impl FnMut(usize, usize) -> u8) -> Self {
            let mut sample = sample;
            let data = (0..h * stride)
                .map(|i| sample(i % stride, i / stride))
                .collect();
            TestPlane { data, w, h, stride }
        }
    }

    /// Number of segments per horizontal edge and of edges per band of vertical edges.
    fn counts(w: usize) -> (usize, usize) {
        (w / 4, w.div_ceil(8) - 1)
    }

    /// Runs one kernel call.
    fn call(
        kind: Kind,
        vertical: bool,
        plane: &mut TestPlane,
        row: usize,
        params: &[Params],
        cpu: CpuLevel,
    ) {
        let stride = plane.stride;
        let tcs: Vec<u8> = params.iter().map(|p| p.tc).collect();
        match (kind, vertical) {
            (Kind::Luma, false) => luma_horizontal(&mut plane.data, stride, row, params, cpu),
            (Kind::Chroma, false) => chroma_horizontal(&mut plane.data, stride, row, &tcs, cpu),
            (Kind::Luma, true) => {
                luma_vertical(&mut plane.data[row * stride..], stride, params, cpu)
            }
            (Kind::Chroma, true) => {
                chroma_vertical(&mut plane.data[row * stride..], stride, &tcs, cpu)
            }
        }
    }

    /// Deblocks a plane like the traversal does, every vertical band then every horizontal
    /// edge, at every level, comparing each call's result with scalar. `params(vertical,
    /// row, i)` gives segment `i`'s parameters for the call at `row` (the band's first row,
    /// or the edge's row).
    fn check_plane(
        kind: Kind,
        plane: &TestPlane,
        params: &mut dyn FnMut(bool, usize, usize) -> Params,
        what: &str,
    ) {
        let (segments, edges) = counts(plane.w);
        let mut calls: Vec<(bool, usize, Vec<Params>)> = Vec::new();
        for row in (0..plane.h).step_by(4) {
            calls.push((
                true,
                row,
                (0..edges).map(|k| params(true, row, k)).collect(),
            ));
        }
        for row in (8..plane.h).step_by(8) {
            calls.push((
                false,
                row,
                (0..segments).map(|i| params(false, row, i)).collect(),
            ));
        }
        for cpu in CpuLevel::all_supported() {
            let mut expected = plane.clone();
            let mut got = plane.clone();
            for (vertical, row, p) in &calls {
                call(kind, *vertical, &mut expected, *row, p, CpuLevel::Scalar);
                call(kind, *vertical, &mut got, *row, p, cpu);
                if let Some(at) = (0..got.data.len()).find(|&i| got.data[i] != expected.data[i]) {
                    let direction = if *vertical { "vertical" } else { "horizontal" };
                    panic!(
                        "{cpu:?} differs from scalar: {kind:?} {}x{} stride {}, {what}, \
                         {direction} call at row {row}: sample ({}, {}) is {} instead of {}",
                        plane.w,
                        plane.h,
                        plane.stride,
                        at % plane.stride,
                        at / plane.stride,
                        got.data[at],
                        expected.data[at]
                    );
                }
            }
        }
    }

    /// Every (beta, tc) pair the tables hold, zeros included.
    fn all_pairs() -> Vec<Params> {
        let mut betas = DEBLOCK_BETA.to_vec();
        let mut tcs = DEBLOCK_TC.to_vec();
        betas.dedup();
        tcs.dedup();
        betas
            .iter()
            .flat_map(|&beta| tcs.iter().map(move |&tc| LumaEdge { beta, tc }))
            .collect()
    }

    fn random_params(rng: &mut SmallRng) -> Params {
        LumaEdge {
            beta: DEBLOCK_BETA[rng.gen_range(0..DEBLOCK_BETA.len())],
            tc: DEBLOCK_TC[rng.gen_range(0..DEBLOCK_TC.len())],
        }
    }

    /// Plane shapes (width, height) and the strides to try them with.
    fn shapes(kind: Kind) -> Vec<(usize, usize, usize)> {
        let (widths, heights): (&[usize], &[usize]) = match kind {
            Kind::Luma => (&[8, 16, 24, 32, 40, 56, 72, 136], &[8, 16, 24, 40]),
            Kind::Chroma => (&[4, 8, 12, 16, 20, 28, 36, 52, 68], &[4, 8, 12, 20, 36]),
        };
        let mut shapes = Vec::new();
        for &w in widths {
            for &h in heights {
                for extra in [0, 1, 7] {
                    shapes.push((w, h, w + extra));
                }
            }
        }
        shapes
    }

    /// Content for random planes: `Noise` has nearly every segment fail the activity test;
    /// `Blocky` (smooth 8x8 cells with steps between them and a little noise) reaches the
    /// strong and normal filters; `NearClamp` is blocky content pressed against 0 or 255.
    #[derive(Clone, Copy, Debug)]
    enum Content {
        Noise,
        Blocky,
        NearClamp,
    }

    fn random_plane(
        rng: &mut SmallRng,
        w: usize,
        h: usize,
        stride: usize,
        c: Content,
    ) -> TestPlane {
        let cells_x = stride.div_ceil(8) + 1;
        let cells_y = h.div_ceil(8) + 1;
        // Per 8x8 cell: a base level and slopes across x and y.
        let cells: Vec<(i32, i32, i32)> = (0..cells_x * cells_y)
            .map(|_| {
                let base = match c {
                    Content::NearClamp if rng.gen() => rng.gen_range(-40..12),
                    Content::NearClamp => rng.gen_range(244..296),
                    _ => rng.gen_range(0..256),
                };
                (base, rng.gen_range(-3..=3), rng.gen_range(-3..=3))
            })
            .collect();
        let noise = rng.gen_range(0..=3);
        TestPlane::new(w, h, stride, |x, y| match c {
            Content::Noise => rng.gen(),
            Content::Blocky | Content::NearClamp => {
                let (base, sx, sy) = cells[(y / 8) * cells_x + x / 8];
                let v = base + sx * (x % 8) as i32 + sy * (y % 8) as i32;
                (v + rng.gen_range(-noise..=noise)).clamp(0, 255) as u8
            }
        })
    }

    #[test]
    fn every_level_matches_scalar_on_random_planes() {
        let mut rng = SmallRng::seed_from_u64(0xdeb1);
        for kind in [Kind::Luma, Kind::Chroma] {
            for (w, h, stride) in shapes(kind) {
                for content in [Content::Noise, Content::Blocky, Content::NearClamp] {
                    for trial in 0..3 {
                        let plane = random_plane(&mut rng, w, h, stride, content);
                        let seed = rng.gen();
                        let mut prm = SmallRng::seed_from_u64(seed);
                        check_plane(
                            kind,
                            &plane,
                            &mut |_, _, _| random_params(&mut prm),
                            &format!("{content:?} trial {trial}"),
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_level_matches_scalar_for_every_table_pair() {
        // Each (beta, tc) pair on blocky content, where it decides something.
        let pairs = all_pairs();
        let mut rng = SmallRng::seed_from_u64(0xdeb2);
        for kind in [Kind::Luma, Kind::Chroma] {
            let (w, h) = (72, 40);
            let mut next = 0;
            while next < pairs.len() {
                for content in [Content::Blocky, Content::NearClamp] {
                    let plane = random_plane(&mut rng, w, h, w + 3, content);
                    let mut i = next;
                    check_plane(
                        kind,
                        &plane,
                        &mut |_, _, _| {
                            i += 1;
                            pairs[i % pairs.len()]
                        },
                        &format!("{content:?}, pairs from {next}"),
                    );
                }
                next += 64;
            }
        }
    }

    /// A named pattern: the sample at `across` (the coordinate across the edges being
    /// filtered: x for vertical edges, y for horizontal ones) and `along`.
    type Pattern = (&'static str, fn(usize, usize) -> u8);

    fn extreme_patterns() -> Vec<Pattern> {
        // Within a cell of 8, samples 0..4 are the Q side of the edge at the cell's start
        // and 4..8 the P side of the next one.
        vec![
            ("flat 0", |_, _| 0),
            ("flat 128", |_, _| 128),
            ("flat 255", |_, _| 255),
            ("0/255 steps", |a, _| if (a / 8) % 2 == 0 { 0 } else { 255 }),
            ("steps of 1", |a, _| 100 + ((a / 8) % 2) as u8),
            ("steps of 3", |a, _| 100 + 3 * ((a / 8) % 2) as u8),
            ("steps of 3 at 0", |a, _| 3 * ((a / 8) % 2) as u8),
            ("steps of 3 at 255", |a, _| 255 - 3 * ((a / 8) % 2) as u8),
            ("steps of 12", |a, _| 60 + 12 * ((a / 8) % 3) as u8),
            (
                "checkerboard",
                |a, b| if (a + b) % 2 == 0 { 0 } else { 255 },
            ),
            ("checkerboard of 1", |a, b| 128 + ((a + b) % 2) as u8),
            ("ramp", |a, _| a as u8),
            ("ramp of 2 with steps", |a, _| {
                (20 + 2 * (a % 8) + 7 * (a / 8)) as u8
            }),
            ("diagonal ramp", |a, b| (a + 3 * b) as u8),
            ("0 beside a ramp up", |a, _| {
                if a % 8 < 4 {
                    20 * (a % 8) as u8
                } else {
                    0
                }
            }),
            ("255 beside a ramp down", |a, _| {
                if a % 8 < 4 {
                    255 - 20 * (a % 8) as u8
                } else {
                    255
                }
            }),
            ("ramp down to 0", |a, _| {
                if a % 8 < 4 {
                    0
                } else {
                    6 * (8 - a % 8) as u8
                }
            }),
            ("near 255 and near 0", |a, b| {
                if (a / 8 + b / 4) % 2 == 0 {
                    253 + (a % 2) as u8
                } else {
                    1 + (b % 2) as u8
                }
            }),
        ]
    }

    #[test]
    fn every_level_matches_scalar_on_extreme_planes() {
        let pairs = all_pairs();
        for kind in [Kind::Luma, Kind::Chroma] {
            let shapes: &[(usize, usize)] = match kind {
                Kind::Luma => &[(40, 24), (24, 40), (72, 16)],
                Kind::Chroma => &[(20, 12), (12, 20), (36, 8)],
            };
            for &(w, h) in shapes {
                for (name, pattern) in extreme_patterns() {
                    for vertical_pattern in [true, false] {
                        // Across x (steps meet the vertical edges) or across y.
                        let plane = TestPlane::new(w, h, w + 1, |x, y| {
                            if vertical_pattern {
                                pattern(x, y)
                            } else {
                                pattern(y, x)
                            }
                        });
                        // Every pair in turn, then the strongest pair everywhere.
                        let mut i = 0;
                        check_plane(
                            kind,
                            &plane,
                            &mut |_, _, _| {
                                i += 1;
                                pairs[i % pairs.len()]
                            },
                            &format!("{name} (across x: {vertical_pattern}), all pairs"),
                        );
                        check_plane(
                            kind,
                            &plane,
                            &mut |_, _, _| LumaEdge { beta: 64, tc: 24 },
                            &format!("{name} (across x: {vertical_pattern}), strongest"),
                        );
                    }
                }
            }
        }
    }

    /// Whether one line (p3..q3) passes the strong filter's tests for `edge`.
    fn strong_line(line: &[u8; 8], edge: LumaEdge) -> bool {
        let s = line.map(i32::from);
        let (beta, tc) = (i32::from(edge.beta), i32::from(edge.tc));
        let dp = (s[1] - 2 * s[2] + s[3]).abs();
        let dq = (s[6] - 2 * s[5] + s[4]).abs();
        2 * (dp + dq) < beta >> 2
            && (s[0] - s[3]).abs() + (s[4] - s[7]).abs() < beta >> 3
            && (s[3] - s[4]).abs() < (5 * tc + 1) >> 1
    }

    /// A plane of segments on the edges across `across_x` (vertical edges) or y whose lines
    /// 0 and 3 pass the strong filter's tests for `params` (when a few thousand draws find
    /// such lines): uneven enough that the strong filter's clamp to +-2 tc binds.
    fn strong_plane(
        rng: &mut SmallRng,
        (w, h, stride): (usize, usize, usize),
        across_x: bool,
        params: &dyn Fn(usize, usize) -> LumaEdge,
    ) -> TestPlane {
        let mut plane = TestPlane::new(w, h, stride, |_, _| 128);
        let (across, along) = if across_x { (w, h) } else { (h, w) };
        for edge_at in (8..across).step_by(8) {
            for seg in 0..along / 4 {
                let edge = params(edge_at, 4 * seg);
                let base = rng.gen_range(0..256);
                let spread = rng.gen_range(1..=8);
                let draw = |rng: &mut SmallRng| -> [u8; 8] {
                    std::array::from_fn(|_| {
                        (base + rng.gen_range(-spread..=spread)).clamp(0, 255) as u8
                    })
                };
                let mut lines = [draw(rng), draw(rng), draw(rng), draw(rng)];
                for i in [0, 3] {
                    for _ in 0..5000 {
                        if strong_line(&lines[i], edge) {
                            break;
                        }
                        lines[i] = draw(rng);
                    }
                }
                for (i, line) in lines.iter().enumerate() {
                    for (k, &v) in line.iter().enumerate() {
                        let (a, b) = (edge_at + k - 4, 4 * seg + i);
                        let (x, y) = if across_x { (a, b) } else { (b, a) };
                        plane.data[y * stride + x] = v;
                    }
                }
            }
        }
        plane
    }

    #[test]
    fn every_level_matches_scalar_where_the_strong_filter_clamps() {
        // Small tc and large beta: lines that pass the strong filter's tests but are uneven,
        // so that its results stray more than 2 tc from the originals.
        let mut rng = SmallRng::seed_from_u64(0xdeb4);
        let edge_of = |edge_at: usize, at: usize| LumaEdge {
            beta: 32 + 2 * ((edge_at / 8 + at / 4) % 17) as u8,
            tc: 1 + ((edge_at / 8 * 3 + at / 4) % 5) as u8,
        };
        for shape in [(40, 24, 40), (72, 40, 75), (24, 16, 29)] {
            for across_x in [true, false] {
                let plane = strong_plane(&mut rng, shape, across_x, &edge_of);
                check_plane(
                    Kind::Luma,
                    &plane,
                    &mut |vertical, row, i| {
                        // Only the edges the plane was built for.
                        match (vertical, across_x) {
                            (true, true) => edge_of(8 * (i + 1), row),
                            (false, false) => edge_of(row, 4 * i),
                            _ => LumaEdge::OFF,
                        }
                    },
                    &format!("strong textures across x: {across_x}"),
                );
            }
        }
    }

    #[test]
    fn kernels_read_nothing_past_a_tight_slice() {
        // Slices that end right after the last sample a call may read: an out-of-bounds
        // load would panic.
        let mut rng = SmallRng::seed_from_u64(0xdeb3);
        let strongest = LumaEdge { beta: 64, tc: 24 };
        for (kind, widths) in [
            (Kind::Luma, [8, 16, 24, 40]),
            (Kind::Chroma, [12, 20, 28, 36]),
        ] {
            for w in widths {
                let (segments, edges) = counts(w);
                let stride = w + 5;
                let plane = random_plane(&mut rng, w, 8, stride, Content::Blocky);
                let reach = if kind == Kind::Luma { 4 } else { 2 };
                let edge_end = (4 + reach - 1) * stride + 4 * segments;
                let band_end = 4 * stride + 3 * stride + 8 * edges + 4;
                let run = |level: CpuLevel| {
                    let mut data = plane.data.clone();
                    let band = &mut data[4 * stride..band_end];
                    match kind {
                        Kind::Luma => luma_vertical(band, stride, &vec![strongest; edges], level),
                        Kind::Chroma => chroma_vertical(band, stride, &vec![24; edges], level),
                    }
                    let rows = &mut data[..edge_end];
                    match kind {
                        Kind::Luma => {
                            luma_horizontal(rows, stride, 4, &vec![strongest; segments], level)
                        }
                        Kind::Chroma => {
                            chroma_horizontal(rows, stride, 4, &vec![24; segments], level)
                        }
                    }
                    data
                };
                let expected = run(CpuLevel::Scalar);
                for cpu in CpuLevel::all_supported() {
                    assert!(run(cpu) == expected, "{cpu:?} {kind:?} width {w}");
                }
            }
        }
    }

    #[test]
    fn off_segments_are_untouched() {
        // Steps of 6 that the strongest thresholds would smooth.
        let plane = TestPlane::new(40, 24, 40, |x, y| 90 + 6 * ((x / 8 + y / 8) % 2) as u8);
        let luma_off = [
            LumaEdge::OFF,
            LumaEdge { beta: 64, tc: 0 },
            LumaEdge { beta: 0, tc: 24 },
        ];
        for cpu in CpuLevel::all_supported() {
            for (kind, off) in luma_off
                .iter()
                .map(|&off| (Kind::Luma, off))
                .chain([(Kind::Chroma, LumaEdge { beta: 64, tc: 0 })])
            {
                let mut p = plane.clone();
                for row in (0..24).step_by(4) {
                    call(kind, true, &mut p, row, &[off; 4], cpu);
                }
                for row in [8, 16] {
                    call(kind, false, &mut p, row, &[off; 10], cpu);
                }
                assert!(p.data == plane.data, "{cpu:?} {kind:?} {off:?}");
            }
        }
    }

    #[test]
    fn known_values() {
        for cpu in CpuLevel::all_supported() {
            // Four rows of 16 samples with an edge at column 8 between flat sides 90 and 96:
            // d = 0 and |p0 - q0| = 6 < (5 tc + 1) >> 1 = 10 for tc = 4, so the strong filter
            // runs, e.g. p0' = (90 + 2 * 90 + 2 * 90 + 2 * 96 + 96 + 4) >> 3 = 92.
            let mut band: Vec<u8> = (0..64).map(|i| if i % 16 < 8 { 90 } else { 96 }).collect();
            luma_vertical(&mut band, 16, &[LumaEdge { beta: 64, tc: 4 }], cpu);
            for r in 0..4 {
                assert_eq!(
                    &band[r * 16 + 4..r * 16 + 12],
                    &[90, 91, 92, 92, 94, 95, 95, 96],
                    "{cpu:?} strong, row {r}"
                );
            }
            // Chroma: p1 = p0 = 0, q0 = q1 = 40, tc = 5: delta = (160 + 0 - 40 + 4) >> 3 = 15,
            // clipped to 5.
            let mut band: Vec<u8> = (0..64).map(|i| if i % 16 < 8 { 0 } else { 40 }).collect();
            chroma_vertical(&mut band, 16, &[5], cpu);
            assert_eq!(
                &band[4..12],
                &[0, 0, 0, 5, 35, 40, 40, 40],
                "{cpu:?} chroma"
            );
        }
    }

    #[test]
    #[should_panic(expected = "needs 4 rows above")]
    fn rejects_a_luma_edge_too_near_the_top() {
        luma_horizontal(&mut [0; 64], 8, 2, &[LumaEdge::OFF; 2], CpuLevel::detect());
    }

    #[test]
    #[should_panic(expected = "does not hold")]
    fn rejects_a_short_plane() {
        luma_horizontal(&mut [0; 63], 8, 4, &[LumaEdge::OFF; 2], CpuLevel::detect());
    }

    #[test]
    #[should_panic(expected = "longer than the stride")]
    fn rejects_vertical_edges_past_the_row() {
        chroma_vertical(&mut [0; 64], 16, &[0; 2], CpuLevel::detect());
    }

    #[test]
    #[should_panic(expected = "does not hold 4 rows")]
    fn rejects_a_short_band() {
        luma_vertical(
            &mut [0; 3 * 16 + 11],
            16,
            &[LumaEdge::OFF],
            CpuLevel::detect(),
        );
    }
}
