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
//! Samples are `u16` at a bit depth of 8 or 10 (`bit_depth`, checked): they must lie in
//! `0..=(1 << bit_depth) - 1`, and the thresholds within [`LumaEdge`]'s bounds (chroma tc
//! like luma's). The normal filters clip their results to that range; the strong filter's
//! stay within it by construction.
//!
//! `scalar` is the readable reference; `avx2` must match it bit for bit, at both depths.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
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
        #[cfg(target_arch = "x86_64")]
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
        #[cfg(target_arch = "x86_64")]
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
        #[cfg(target_arch = "x86_64")]
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
        #[cfg(target_arch = "x86_64")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deblock::{DEBLOCK_BETA, DEBLOCK_TC};
    use crate::dsp::BIT_DEPTHS;
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

    /// What tests scale by at a bit depth: the largest sample, and `unit` = 2^(bit_depth - 8),
    /// by which the thresholds (and the 8-bit levels and steps of test content) scale.
    #[derive(Clone, Copy, Debug)]
    struct Depth {
        bits: u32,
        max: i32,
        unit: i32,
    }

    impl Depth {
        fn new(bits: u32) -> Self {
            Depth {
                bits,
                max: (1 << bits) - 1,
                unit: 1 << (bits - 8),
            }
        }

        /// Every supported depth.
        fn all() -> impl Iterator<Item = Depth> {
            BIT_DEPTHS.into_iter().map(Depth::new)
        }

        /// Thresholds from 8-bit table values, scaled.
        fn edge(self, beta: u8, tc: u8) -> LumaEdge {
            let unit = self.unit as u16;
            LumaEdge {
                beta: u16::from(beta) * unit,
                tc: u16::from(tc) * unit,
            }
        }

        /// The strongest thresholds: the tables' largest, scaled.
        fn strongest(self) -> LumaEdge {
            self.edge(64, 24)
        }

        /// `v` clamped to the sample range.
        fn clip(self, v: i32) -> u16 {
            v.clamp(0, self.max) as u16
        }
    }

    /// A plane with a stride that may exceed its width, at a bit depth. Padding samples are
    /// drawn like the others (kernels must not change them: scalar does not).
    #[derive(Clone)]
    struct TestPlane {
        data: Vec<u16>,
        w: usize,
        h: usize,
        stride: usize,
        depth: Depth,
    }

    impl TestPlane {
        fn new(
            w: usize,
            h: usize,
            stride: usize,
            depth: Depth,
            sample: impl FnMut(usize, usize) -> u16,
        ) -> Self {
            let mut sample = sample;
            let data: Vec<u16> = (0..h * stride)
                .map(|i| sample(i % stride, i / stride))
                .collect();
            assert!(
                data.iter().all(|&v| i32::from(v) <= depth.max),
                "test content out of range at {} bits",
                depth.bits
            );
            TestPlane {
                data,
                w,
                h,
                stride,
                depth,
            }
        }
    }

    /// Number of segments per horizontal edge and of edges per band of vertical edges.
    fn counts(w: usize) -> (usize, usize) {
        (w / 4, w.div_ceil(8) - 1)
    }

    /// Runs one kernel call at the plane's bit depth.
    fn call(
        kind: Kind,
        vertical: bool,
        plane: &mut TestPlane,
        row: usize,
        params: &[Params],
        cpu: CpuLevel,
    ) {
        let (stride, bd) = (plane.stride, plane.depth.bits);
        let tcs: Vec<u16> = params.iter().map(|p| p.tc).collect();
        let data = &mut plane.data;
        match (kind, vertical) {
            (Kind::Luma, false) => luma_horizontal(data, stride, row, params, bd, cpu),
            (Kind::Chroma, false) => chroma_horizontal(data, stride, row, &tcs, bd, cpu),
            (Kind::Luma, true) => luma_vertical(&mut data[row * stride..], stride, params, bd, cpu),
            (Kind::Chroma, true) => {
                chroma_vertical(&mut data[row * stride..], stride, &tcs, bd, cpu)
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
                        "{cpu:?} differs from scalar at {} bits: {kind:?} {}x{} stride {}, \
                         {what}, {direction} call at row {row}: sample ({}, {}) is {} instead \
                         of {}",
                        plane.depth.bits,
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

    /// Every (beta, tc) pair the tables hold, zeros included, scaled to `depth`.
    fn all_pairs(depth: Depth) -> Vec<Params> {
        let mut betas = DEBLOCK_BETA.to_vec();
        let mut tcs = DEBLOCK_TC.to_vec();
        betas.dedup();
        tcs.dedup();
        betas
            .iter()
            .flat_map(|&beta| tcs.iter().map(move |&tc| depth.edge(beta, tc)))
            .collect()
    }

    /// Table thresholds drawn at random, scaled to `depth`.
    fn random_params(rng: &mut SmallRng, depth: Depth) -> Params {
        depth.edge(
            DEBLOCK_BETA[rng.gen_range(0..DEBLOCK_BETA.len())],
            DEBLOCK_TC[rng.gen_range(0..DEBLOCK_TC.len())],
        )
    }

    /// Thresholds drawn anywhere within their bounds at `depth`, table values or not.
    fn any_params(rng: &mut SmallRng, depth: Depth) -> Params {
        let strongest = depth.strongest();
        LumaEdge {
            beta: rng.gen_range(0..=strongest.beta),
            tc: rng.gen_range(0..=strongest.tc),
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

    /// Content for random planes: `Noise` (uniform over the depth's whole range) has nearly
    /// every segment fail the activity test; `Blocky` (smooth 8x8 cells with steps between
    /// them and a little noise) reaches the strong and normal filters; `NearClamp` is blocky
    /// content pressed against 0 or the largest sample; `Extremes` is nearly flat cells at 0
    /// or the largest sample, for full-range steps at the edges.
    #[derive(Clone, Copy, Debug)]
    enum Content {
        Noise,
        Blocky,
        NearClamp,
        Extremes,
    }

    fn random_plane(
        rng: &mut SmallRng,
        (w, h, stride): (usize, usize, usize),
        depth: Depth,
        c: Content,
    ) -> TestPlane {
        let cells_x = stride.div_ceil(8) + 1;
        let cells_y = h.div_ceil(8) + 1;
        let unit = depth.unit;
        // Per 8x8 cell: a base level and slopes across x and y (8-bit levels, scaled).
        let cells: Vec<(i32, i32, i32)> = (0..cells_x * cells_y)
            .map(|_| {
                let (base, slope) = match c {
                    Content::NearClamp if rng.gen() => (unit * rng.gen_range(-40..12), 3),
                    Content::NearClamp => (unit * rng.gen_range(244..296), 3),
                    Content::Extremes if rng.gen() => (0, 1),
                    Content::Extremes => (depth.max, 1),
                    _ => (unit * rng.gen_range(0..256), 3),
                };
                let mut slope = || unit * rng.gen_range(-slope..=slope);
                (base, slope(), slope())
            })
            .collect();
        let noise = unit * rng.gen_range(0..=3);
        TestPlane::new(w, h, stride, depth, |x, y| match c {
            Content::Noise => rng.gen_range(0..=depth.max) as u16,
            Content::Blocky | Content::NearClamp | Content::Extremes => {
                let (base, sx, sy) = cells[(y / 8) * cells_x + x / 8];
                let v = base + sx * (x % 8) as i32 + sy * (y % 8) as i32;
                depth.clip(v + rng.gen_range(-noise..=noise))
            }
        })
    }

    #[test]
    fn every_level_matches_scalar_on_random_planes() {
        let mut rng = SmallRng::seed_from_u64(0xdeb1);
        let contents = [
            Content::Noise,
            Content::Blocky,
            Content::NearClamp,
            Content::Extremes,
        ];
        for depth in Depth::all() {
            for kind in [Kind::Luma, Kind::Chroma] {
                for shape in shapes(kind) {
                    for content in contents {
                        // Table thresholds twice, then any within their bounds.
                        for trial in 0..3 {
                            let plane = random_plane(&mut rng, shape, depth, content);
                            let seed = rng.gen();
                            let mut prm = SmallRng::seed_from_u64(seed);
                            check_plane(
                                kind,
                                &plane,
                                &mut |_, _, _| match trial {
                                    0 | 1 => random_params(&mut prm, depth),
                                    _ => any_params(&mut prm, depth),
                                },
                                &format!("{content:?} trial {trial}"),
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_level_matches_scalar_for_every_table_pair() {
        // Each (beta, tc) pair on blocky content, where it decides something.
        let mut rng = SmallRng::seed_from_u64(0xdeb2);
        for depth in Depth::all() {
            let pairs = all_pairs(depth);
            for kind in [Kind::Luma, Kind::Chroma] {
                let (w, h) = (72, 40);
                let mut next = 0;
                while next < pairs.len() {
                    for content in [Content::Blocky, Content::NearClamp, Content::Extremes] {
                        let plane = random_plane(&mut rng, (w, h, w + 3), depth, content);
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
    }

    /// A named pattern: the sample at `across` (the coordinate across the edges being
    /// filtered: x for vertical edges, y for horizontal ones) and `along`, at a depth. Levels
    /// and steps are 8-bit ones times the depth's unit, except where a pattern says so.
    type Pattern = (&'static str, fn(usize, usize, Depth) -> i32);

    fn extreme_patterns() -> Vec<Pattern> {
        // Within a cell of 8, samples 0..4 are the Q side of the edge at the cell's start
        // and 4..8 the P side of the next one.
        vec![
            ("flat 0", |_, _, _| 0),
            ("flat 128", |_, _, d| 128 * d.unit),
            ("flat max", |_, _, d| d.max),
            (
                "0/max steps",
                |a, _, d| if (a / 8) % 2 == 0 { 0 } else { d.max },
            ),
            ("0 before, max after each edge", |a, _, d| {
                if a % 8 < 4 {
                    d.max
                } else {
                    0
                }
            }),
            ("max before, 0 after each edge", |a, _, d| {
                if a % 8 < 4 {
                    0
                } else {
                    d.max
                }
            }),
            (
                "alternating 0/max",
                |a, _, d| if a % 2 == 0 { 0 } else { d.max },
            ),
            ("alternating 0/max in pairs", |a, b, d| {
                if (a / 2 + b) % 2 == 0 {
                    0
                } else {
                    d.max
                }
            }),
            ("largest normal delta", |a, _, d| match a % 8 {
                // q0 = max, q1 = 0, p1 = max, p0 = 0.
                0 | 6 => d.max,
                1 | 7 => 0,
                _ => d.max / 2,
            }),
            ("steps of 1 (unscaled)", |a, _, d| {
                100 * d.unit + ((a / 8) % 2) as i32
            }),
            ("steps of 3", |a, _, d| {
                d.unit * (100 + 3 * ((a / 8) % 2) as i32)
            }),
            ("steps of 3 at 0", |a, _, d| {
                d.unit * 3 * ((a / 8) % 2) as i32
            }),
            ("steps of 3 at max", |a, _, d| {
                d.max - d.unit * 3 * ((a / 8) % 2) as i32
            }),
            ("steps of 12", |a, _, d| {
                d.unit * (60 + 12 * ((a / 8) % 3) as i32)
            }),
            (
                "checkerboard",
                |a, b, d| {
                    if (a + b) % 2 == 0 {
                        0
                    } else {
                        d.max
                    }
                },
            ),
            ("checkerboard of 1 (unscaled)", |a, b, d| {
                128 * d.unit + ((a + b) % 2) as i32
            }),
            ("ramp", |a, _, d| d.unit * (a % 256) as i32),
            ("ramp of 2 with steps", |a, _, d| {
                d.unit * (20 + 2 * (a % 8) + 7 * (a / 8)) as i32
            }),
            ("diagonal ramp", |a, b, d| {
                d.unit * ((a + 3 * b) % 256) as i32
            }),
            ("0 beside a ramp up", |a, _, d| {
                if a % 8 < 4 {
                    d.unit * 20 * (a % 8) as i32
                } else {
                    0
                }
            }),
            ("max beside a ramp down", |a, _, d| {
                if a % 8 < 4 {
                    d.max - d.unit * 20 * (a % 8) as i32
                } else {
                    d.max
                }
            }),
            ("ramp down to 0", |a, _, d| {
                if a % 8 < 4 {
                    0
                } else {
                    d.unit * 6 * (8 - a % 8) as i32
                }
            }),
            ("near max and near 0", |a, b, d| {
                if (a / 8 + b / 4) % 2 == 0 {
                    d.max - 2 + (a % 2) as i32
                } else {
                    1 + (b % 2) as i32
                }
            }),
        ]
    }

    #[test]
    fn every_level_matches_scalar_on_extreme_planes() {
        for depth in Depth::all() {
            let pairs = all_pairs(depth);
            for kind in [Kind::Luma, Kind::Chroma] {
                let shapes: &[(usize, usize)] = match kind {
                    Kind::Luma => &[(40, 24), (24, 40), (72, 16)],
                    Kind::Chroma => &[(20, 12), (12, 20), (36, 8)],
                };
                for &(w, h) in shapes {
                    for (name, pattern) in extreme_patterns() {
                        for vertical_pattern in [true, false] {
                            // Across x (steps meet the vertical edges) or across y.
                            let plane = TestPlane::new(w, h, w + 1, depth, |x, y| {
                                let (a, b) = if vertical_pattern { (x, y) } else { (y, x) };
                                pattern(a, b, depth) as u16
                            });
                            let what = format!("{name} (across x: {vertical_pattern})");
                            // Every pair in turn, then the strongest pair everywhere, then
                            // the largest tc with every beta and the largest beta with every
                            // tc.
                            let mut i = 0;
                            check_plane(
                                kind,
                                &plane,
                                &mut |_, _, _| {
                                    i += 1;
                                    pairs[i % pairs.len()]
                                },
                                &format!("{what}, all pairs"),
                            );
                            check_plane(
                                kind,
                                &plane,
                                &mut |_, _, _| depth.strongest(),
                                &format!("{what}, strongest"),
                            );
                            let strongest = depth.strongest();
                            let mut j = 0u16;
                            check_plane(
                                kind,
                                &plane,
                                &mut |_, _, _| {
                                    j += 1;
                                    match j % 2 {
                                        0 => LumaEdge {
                                            beta: j % (strongest.beta + 1),
                                            tc: strongest.tc,
                                        },
                                        _ => LumaEdge {
                                            beta: strongest.beta,
                                            tc: j % (strongest.tc + 1),
                                        },
                                    }
                                },
                                &format!("{what}, extreme thresholds"),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Whether one line (p3..q3) passes the strong filter's tests for `edge`.
    fn strong_line(line: &[u16; 8], edge: LumaEdge) -> bool {
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
        depth: Depth,
        across_x: bool,
        params: &dyn Fn(usize, usize) -> LumaEdge,
    ) -> TestPlane {
        let mut plane = TestPlane::new(w, h, stride, depth, |_, _| 128 * depth.unit as u16);
        let (across, along) = if across_x { (w, h) } else { (h, w) };
        for edge_at in (8..across).step_by(8) {
            for seg in 0..along / 4 {
                let edge = params(edge_at, 4 * seg);
                let base = rng.gen_range(0..=depth.max);
                let spread = depth.unit * rng.gen_range(1..=8);
                let draw = |rng: &mut SmallRng| -> [u16; 8] {
                    std::array::from_fn(|_| depth.clip(base + rng.gen_range(-spread..=spread)))
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
        for depth in Depth::all() {
            let edge_of = |edge_at: usize, at: usize| {
                depth.edge(
                    32 + 2 * ((edge_at / 8 + at / 4) % 17) as u8,
                    1 + ((edge_at / 8 * 3 + at / 4) % 5) as u8,
                )
            };
            for shape in [(40, 24, 40), (72, 40, 75), (24, 16, 29)] {
                for across_x in [true, false] {
                    let plane = strong_plane(&mut rng, shape, depth, across_x, &edge_of);
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
    }

    #[test]
    fn kernels_read_nothing_past_a_tight_slice() {
        // Slices that end right after the last sample a call may read: an out-of-bounds
        // load would panic.
        let mut rng = SmallRng::seed_from_u64(0xdeb3);
        for depth in Depth::all() {
            let (strongest, bd) = (depth.strongest(), depth.bits);
            for (kind, widths) in [
                (Kind::Luma, [8, 16, 24, 40]),
                (Kind::Chroma, [12, 20, 28, 36]),
            ] {
                for w in widths {
                    let (segments, edges) = counts(w);
                    let stride = w + 5;
                    let plane = random_plane(&mut rng, (w, 8, stride), depth, Content::Blocky);
                    let reach = if kind == Kind::Luma { 4 } else { 2 };
                    let edge_end = (4 + reach - 1) * stride + 4 * segments;
                    let band_end = 4 * stride + 3 * stride + 8 * edges + 4;
                    let run = |level: CpuLevel| {
                        let mut data = plane.data.clone();
                        let band = &mut data[4 * stride..band_end];
                        let luma = vec![strongest; edges];
                        let tcs = vec![strongest.tc; edges];
                        match kind {
                            Kind::Luma => luma_vertical(band, stride, &luma, bd, level),
                            Kind::Chroma => chroma_vertical(band, stride, &tcs, bd, level),
                        }
                        let rows = &mut data[..edge_end];
                        let luma = vec![strongest; segments];
                        let tcs = vec![strongest.tc; segments];
                        match kind {
                            Kind::Luma => luma_horizontal(rows, stride, 4, &luma, bd, level),
                            Kind::Chroma => chroma_horizontal(rows, stride, 4, &tcs, bd, level),
                        }
                        data
                    };
                    let expected = run(CpuLevel::Scalar);
                    for cpu in CpuLevel::all_supported() {
                        assert!(
                            run(cpu) == expected,
                            "{cpu:?} {kind:?} width {w}, {bd} bits"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn off_segments_are_untouched() {
        for depth in Depth::all() {
            // Steps of 6 (8-bit units) that the strongest thresholds would smooth.
            let plane = TestPlane::new(40, 24, 40, depth, |x, y| {
                (depth.unit * (90 + 6 * ((x / 8 + y / 8) % 2) as i32)) as u16
            });
            let strongest = depth.strongest();
            let luma_off = [
                LumaEdge::OFF,
                LumaEdge { tc: 0, ..strongest },
                LumaEdge {
                    beta: 0,
                    ..strongest
                },
            ];
            let chroma_off = LumaEdge { tc: 0, ..strongest };
            for cpu in CpuLevel::all_supported() {
                for (kind, off) in luma_off
                    .iter()
                    .map(|&off| (Kind::Luma, off))
                    .chain([(Kind::Chroma, chroma_off)])
                {
                    let mut p = plane.clone();
                    for row in (0..24).step_by(4) {
                        call(kind, true, &mut p, row, &[off; 4], cpu);
                    }
                    for row in [8, 16] {
                        call(kind, false, &mut p, row, &[off; 10], cpu);
                    }
                    assert!(p.data == plane.data, "{cpu:?} {kind:?} {off:?} {depth:?}");
                }
            }
        }
    }

    /// Four rows of 16 samples, `left` in columns 0..8 and `right` in 8..16 except where
    /// `q1` sets column 9.
    fn step_band(left: u16, right: u16, q1: Option<u16>) -> Vec<u16> {
        (0..64)
            .map(|i| match i % 16 {
                0..=7 => left,
                9 => q1.unwrap_or(right),
                _ => right,
            })
            .collect()
    }

    #[test]
    fn known_values() {
        for cpu in CpuLevel::all_supported() {
            // 8 bits. An edge at column 8 between flat sides 90 and 96: d = 0 and
            // |p0 - q0| = 6 < (5 tc + 1) >> 1 = 10 for tc = 4, so the strong filter runs,
            // e.g. p0' = (90 + 2 * 90 + 2 * 90 + 2 * 96 + 96 + 4) >> 3 = 92.
            let mut band = step_band(90, 96, None);
            luma_vertical(&mut band, 16, &[LumaEdge { beta: 64, tc: 4 }], 8, cpu);
            for r in 0..4 {
                assert_eq!(
                    &band[r * 16 + 4..r * 16 + 12],
                    &[90, 91, 92, 92, 94, 95, 95, 96],
                    "{cpu:?} strong, row {r}"
                );
            }
            // 10 bits, the same edge scaled by 4 (sides 360 and 384, beta 256, tc 16):
            // |p0 - q0| = 24 < 40, and p0' = (360 + 720 + 720 + 768 + 384 + 4) >> 3 = 369.
            let mut band = step_band(360, 384, None);
            luma_vertical(&mut band, 16, &[LumaEdge { beta: 256, tc: 16 }], 10, cpu);
            for r in 0..4 {
                assert_eq!(
                    &band[r * 16 + 4..r * 16 + 12],
                    &[360, 363, 366, 369, 375, 378, 381, 384],
                    "{cpu:?} strong at 10 bits, row {r}"
                );
            }
            // Chroma: p1 = p0 = 0, q0 = q1 = 40, tc = 5: delta = (160 + 0 - 40 + 4) >> 3 = 15,
            // clipped to 5.
            let mut band = step_band(0, 40, None);
            chroma_vertical(&mut band, 16, &[5], 8, cpu);
            assert_eq!(
                &band[4..12],
                &[0, 0, 0, 5, 35, 40, 40, 40],
                "{cpu:?} chroma"
            );
            // 10 bits, past 8-bit levels: q0 = q1 = 1000, tc = 20: delta = 375, clipped to 20.
            let mut band = step_band(0, 1000, None);
            chroma_vertical(&mut band, 16, &[20], 10, cpu);
            assert_eq!(
                &band[4..12],
                &[0, 0, 0, 20, 980, 1000, 1000, 1000],
                "{cpu:?} chroma at 10 bits"
            );
            // Clipping to the largest sample: p1 = p0 = q0 = max, q1 = 0, so delta =
            // (max + 4) >> 3 is clipped to tc and p0 + tc to max.
            for (bd, max, tc, q0) in [(8, 255, 5, 250), (10, 1023, 20, 1003)] {
                let mut band = step_band(max, max, Some(0));
                chroma_vertical(&mut band, 16, &[tc], bd, cpu);
                assert_eq!(
                    &band[4..12],
                    &[max, max, max, max, q0, 0, max, max],
                    "{cpu:?} chroma clipped at {bd} bits"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "needs 4 rows above")]
    fn rejects_a_luma_edge_too_near_the_top() {
        luma_horizontal(
            &mut [0; 64],
            8,
            2,
            &[LumaEdge::OFF; 2],
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "does not hold")]
    fn rejects_a_short_plane() {
        luma_horizontal(
            &mut [0; 63],
            8,
            4,
            &[LumaEdge::OFF; 2],
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "longer than the stride")]
    fn rejects_vertical_edges_past_the_row() {
        chroma_vertical(&mut [0; 64], 16, &[0; 2], 8, CpuLevel::detect());
    }

    #[test]
    #[should_panic(expected = "does not hold 4 rows")]
    fn rejects_a_short_band() {
        luma_vertical(
            &mut [0; 3 * 16 + 11],
            16,
            &[LumaEdge::OFF],
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "bit depth 12 unsupported")]
    fn rejects_an_unsupported_bit_depth() {
        luma_vertical(&mut [0; 64], 16, &[LumaEdge::OFF], 12, CpuLevel::detect());
    }
}
