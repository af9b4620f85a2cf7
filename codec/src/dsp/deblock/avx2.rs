//! AVX2 deblocking kernels, bit-exact with `scalar.rs` at both bit depths.
//!
//! Samples are `u16` and one vector holds 16 of them as 16-bit lanes: 16 lines across an
//! edge, four segments of 4 lines, segment `s` in lanes `4 s .. 4 s + 4`, which is one
//! 64-bit quarter of the vector. Eight such vectors hold the samples p3 p2 p1 p0 q0 q1 q2 q3
//! of the 16 lines ([`Lines`]), and [`filter_luma`] / [`filter_chroma`] compute every line
//! at once, segment decisions included:
//!
//! * horizontal edges: a line is a column, so the eight vectors are eight rows of 16
//!   columns, loaded as they are;
//! * vertical edges: a line is a row, and four edges of a band of 4 rows make 16 lines of
//!   8 samples (edge `e`, row `r` as line `4 e + r`); two 8x8 transposes (one per 128-bit
//!   lane) turn them into the same eight vectors, and back.
//!
//! The decisions of a segment use its lines 0 and 3: `shufflelo`/`shufflehi` copy word 0
//! (or 3) of each 64-bit quarter over the quarter, which spreads them over the segment.
//!
//! The lanes are i16, and every intermediate fits at 8 and 10 bits (samples at most 1023;
//! beta and tc at most 256 and 96, [`LumaEdge`]'s bounds): the largest are the normal
//! filter's `9 (q0 - p0) - 3 (q1 - p1) + 8` (at most 12284 in magnitude), the activity sum
//! `dp0 + dq0 + dp3 + dq3` and twice a line's `dp + dq` (at most 8184) and the strong
//! filter's weighted sums (at most `8 * 1023 + 4`). 12-bit samples would overflow them.
//! Arithmetic shifts round down as Rust's `>>` on `i32` does. As in `scalar.rs`, the normal
//! filters' results are clipped to `0..=(1 << bit_depth) - 1` and the strong filter's to
//! the original sample +- 2 tc (which stays in range); the kernels expect samples and
//! thresholds within those bounds.
//!
//! Runs that do not fill a vector (fewer than 16 columns left on a horizontal edge, fewer
//! than 4 edges in a band) pad the missing segments with thresholds that filter nothing:
//! horizontal tails go through a copy, vertical ones load zeros and store nothing for the
//! missing edges. Every access is bounds-checked, so the only requirement of the `unsafe
//! fn` entry points is that the CPU supports AVX2; they expect the shapes `mod.rs` checks.

use std::arch::x86_64::*;

use crate::dsp::x86::transpose_8x8_lanes;

use super::LumaEdge;

/// Samples across an edge for 16 lines: p3, p2, p1, p0, q0, q1, q2, q3 as i16.
type Lines = [__m256i; 8];

// Indices in [`Lines`] of the samples the filters change or single out (p3 is 0, q3 is 7).
const P2: usize = 1;
const P1: usize = 2;
const P0: usize = 3;
const Q0: usize = 4;
const Q1: usize = 5;
const Q2: usize = 6;

/// Filters the horizontal luma edge above row `y`, 16 columns (4 segments) at a time.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn luma_horizontal(
    plane: &mut [u16],
    stride: usize,
    y: usize,
    edges: &[LumaEdge],
    bit_depth: u32,
) {
    let max = sample_max(bit_depth);
    let top = (y - 4) * stride;
    let groups = edges.chunks_exact(4);
    let tail = groups.remainder();
    for (g, group) in groups.enumerate() {
        let group: &[LumaEdge; 4] = group.try_into().unwrap();
        if !group.iter().any(|e| luma_on(*e)) {
            continue;
        }
        let (beta, tc) = luma_thresholds(group);
        let block = &mut plane[top + 16 * g..];
        let mut lines = load_rows::<8>(block, stride);
        filter_luma(&mut lines, beta, tc, max);
        store_rows(block, stride, &lines, 1..7);
    }
    if tail.iter().any(|e| luma_on(*e)) {
        let x = 16 * (edges.len() / 4);
        let width = 4 * tail.len();
        let mut group = [LumaEdge::OFF; 4];
        group[..tail.len()].copy_from_slice(tail);
        let (beta, tc) = luma_thresholds(&group);
        let mut block = [0u16; 8 * 16];
        copy_rows(&plane[top + x..], stride, &mut block, 16, width, 0..8);
        let mut lines = load_rows::<8>(&block, 16);
        filter_luma(&mut lines, beta, tc, max);
        store_rows(&mut block, 16, &lines, 1..7);
        copy_rows(&block, 16, &mut plane[top + x..], stride, width, 1..7);
    }
}

/// Filters the vertical luma edges of a band of 4 rows, 4 edges at a time.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn luma_vertical(band: &mut [u16], stride: usize, edges: &[LumaEdge], bit_depth: u32) {
    let max = sample_max(bit_depth);
    for (g, group) in edges.chunks(4).enumerate() {
        if !group.iter().any(|e| luma_on(*e)) {
            continue;
        }
        let mut padded = [LumaEdge::OFF; 4];
        padded[..group.len()].copy_from_slice(group);
        let (beta, tc) = luma_thresholds(&padded);
        // Column of the first sample (p3) of the group's first edge.
        let left = 32 * g + 4;
        let mut lines = load_columns(band, stride, left, group.len());
        filter_luma(&mut lines, beta, tc, max);
        store_columns(band, stride, left, group.len(), &lines);
    }
}

/// Filters the horizontal chroma edge above row `y`, 16 columns (4 segments) at a time.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn chroma_horizontal(
    plane: &mut [u16],
    stride: usize,
    y: usize,
    tcs: &[u16],
    bit_depth: u32,
) {
    let max = sample_max(bit_depth);
    // Rows y - 2 ..= y + 1 go in p1, p0, q0, q1 (indices 2..6 of the lines); the others
    // stay zero and unused.
    let top = (y - 2) * stride;
    let groups = tcs.chunks_exact(4);
    let tail = groups.remainder();
    let filter = |block: &mut [u16], stride: usize, tcs: &[u16; 4]| {
        let rows = load_rows::<4>(block, stride);
        let mut lines = [_mm256_setzero_si256(); 8];
        lines[P1..=Q1].copy_from_slice(&rows);
        filter_chroma(&mut lines, quarters(*tcs), max);
        store_rows(block, stride, &lines[P1..=Q1], 1..3);
    };
    for (g, group) in groups.enumerate() {
        let group: &[u16; 4] = group.try_into().unwrap();
        if *group != [0; 4] {
            filter(&mut plane[top + 16 * g..], stride, group);
        }
    }
    if tail.iter().any(|&tc| tc > 0) {
        let x = 16 * (tcs.len() / 4);
        let width = 4 * tail.len();
        let mut group = [0u16; 4];
        group[..tail.len()].copy_from_slice(tail);
        let mut block = [0u16; 4 * 16];
        copy_rows(&plane[top + x..], stride, &mut block, 16, width, 0..4);
        filter(&mut block, 16, &group);
        copy_rows(&block, 16, &mut plane[top + x..], stride, width, 1..3);
    }
}

/// Filters the vertical chroma edges of a band of 4 rows, 4 edges at a time.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn chroma_vertical(band: &mut [u16], stride: usize, tcs: &[u16], bit_depth: u32) {
    let max = sample_max(bit_depth);
    for (g, group) in tcs.chunks(4).enumerate() {
        if group.iter().all(|&tc| tc == 0) {
            continue;
        }
        let mut padded = [0u16; 4];
        padded[..group.len()].copy_from_slice(group);
        let left = 32 * g + 4;
        let mut lines = load_columns(band, stride, left, group.len());
        filter_chroma(&mut lines, quarters(padded), max);
        store_columns(band, stride, left, group.len(), &lines);
    }
}

/// The largest sample value, `(1 << bit_depth) - 1`, in every lane. The lanes' arithmetic
/// holds up to 10 bits (see the module docs).
#[target_feature(enable = "avx2")]
#[inline]
fn sample_max(bit_depth: u32) -> __m256i {
    debug_assert!(
        (8..=10).contains(&bit_depth),
        "the AVX2 deblocking kernels hold 8 to 10 bits, not {bit_depth}"
    );
    _mm256_set1_epi16(((1u32 << bit_depth) - 1) as i16)
}

/// Whether a luma segment can change: both thresholds non-zero.
#[inline]
fn luma_on(edge: LumaEdge) -> bool {
    edge.beta > 0 && edge.tc > 0
}

/// beta and tc of four segments, each spread over its 4 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn luma_thresholds(edges: &[LumaEdge; 4]) -> (__m256i, __m256i) {
    (
        quarters(edges.map(|e| e.beta)),
        quarters(edges.map(|e| e.tc)),
    )
}

/// Four values, each repeated over the four 16-bit lanes of one 64-bit quarter.
#[target_feature(enable = "avx2")]
#[inline]
fn quarters(values: [u16; 4]) -> __m256i {
    let spread = |v: u16| (u64::from(v) * 0x0001_0001_0001_0001) as i64;
    _mm256_setr_epi64x(
        spread(values[0]),
        spread(values[1]),
        spread(values[2]),
        spread(values[3]),
    )
}

/// Copies each segment's line 0 over its 4 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn line_0(v: __m256i) -> __m256i {
    _mm256_shufflehi_epi16::<0x00>(_mm256_shufflelo_epi16::<0x00>(v))
}

/// Copies each segment's line 3 over its 4 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn line_3(v: __m256i) -> __m256i {
    _mm256_shufflehi_epi16::<0xff>(_mm256_shufflelo_epi16::<0xff>(v))
}

/// `v` clamped to `low..=high`, lane by lane.
#[target_feature(enable = "avx2")]
#[inline]
fn clamp(v: __m256i, low: __m256i, high: __m256i) -> __m256i {
    _mm256_min_epi16(_mm256_max_epi16(v, low), high)
}

/// `v` clipped to the sample range `0..=max`, lane by lane.
#[target_feature(enable = "avx2")]
#[inline]
fn clip(v: __m256i, max: __m256i) -> __m256i {
    clamp(v, _mm256_setzero_si256(), max)
}

/// The luma filter of `scalar::filter_luma_segment` on 16 lines (four segments with
/// thresholds `beta` and `tc` spread over their lanes); `max` is the largest sample value.
/// Changes p2..=q2.
#[target_feature(enable = "avx2")]
#[inline]
fn filter_luma(s: &mut Lines, beta: __m256i, tc: __m256i, max: __m256i) {
    let [p3, p2, p1, p0, q0, q1, q2, q3] = *s;
    let add = _mm256_add_epi16;
    let sub = _mm256_sub_epi16;
    let abs = _mm256_abs_epi16;
    let and = _mm256_and_si256;
    let gt = _mm256_cmpgt_epi16;
    let k = _mm256_set1_epi16;
    // Second differences per line (at most 2 * 1023 at 10 bits), then the segments' sums
    // over lines 0 and 3 (at most 8184).
    let dp = abs(add(sub(p2, add(p1, p1)), p0));
    let dq = abs(add(sub(q2, add(q1, q1)), q0));
    let dp03 = add(line_0(dp), line_3(dp));
    let dq03 = add(line_0(dq), line_3(dq));
    let on = gt(beta, add(dp03, dq03));
    // Strong filter: all three conditions on lines 0 and 3.
    let dpq = add(dp, dq);
    let flat = gt(_mm256_srai_epi16::<2>(beta), add(dpq, dpq));
    let far_sides = add(abs(sub(p3, p0)), abs(sub(q0, q3)));
    let even = gt(_mm256_srai_epi16::<3>(beta), far_sides);
    let tc5 = add(_mm256_slli_epi16::<2>(tc), tc);
    let small_step = gt(_mm256_srai_epi16::<1>(add(tc5, k(1))), abs(sub(p0, q0)));
    let strong_line = and(and(flat, even), small_step);
    let strong = and(on, and(line_0(strong_line), line_3(strong_line)));
    let side_limit = _mm256_srai_epi16::<3>(add(beta, _mm256_srai_epi16::<1>(beta)));
    let side_p = gt(side_limit, dp03);
    let side_q = gt(side_limit, dq03);

    // Strong filter values (sums of 8 samples and a rounding term at most), each clamped to
    // its original sample +- 2 tc.
    let tc2 = add(tc, tc);
    let near = |v: __m256i, orig: __m256i| clamp(v, sub(orig, tc2), add(orig, tc2));
    let sum = |terms: &[__m256i]| terms.iter().fold(_mm256_setzero_si256(), |a, &t| add(a, t));
    let strong_p0 = _mm256_srai_epi16::<3>(sum(&[p2, p1, p1, p0, p0, q0, q0, q1, k(4)]));
    let strong_p1 = _mm256_srai_epi16::<2>(sum(&[p2, p1, p0, q0, k(2)]));
    let strong_p2 = _mm256_srai_epi16::<3>(sum(&[p3, p3, p2, p2, p2, p1, p0, q0, k(4)]));
    let strong_q0 = _mm256_srai_epi16::<3>(sum(&[p1, p0, p0, q0, q0, q1, q1, q2, k(4)]));
    let strong_q1 = _mm256_srai_epi16::<2>(sum(&[p0, q0, q1, q2, k(2)]));
    let strong_q2 = _mm256_srai_epi16::<3>(sum(&[p0, q0, q1, q2, q2, q2, q3, q3, k(4)]));

    // Normal filter, skipping lines whose |delta| >= 10 tc; its values are clipped to
    // 0..=max.
    let d0 = sub(q0, p0);
    let d1 = sub(q1, p1);
    let nine_d0 = add(_mm256_slli_epi16::<3>(d0), d0);
    let three_d1 = add(add(d1, d1), d1);
    let delta = _mm256_srai_epi16::<4>(add(sub(nine_d0, three_d1), k(8)));
    let tc10 = add(_mm256_slli_epi16::<3>(tc), tc2);
    let normal = _mm256_andnot_si256(strong, and(on, gt(tc10, abs(delta))));
    let neg_tc = sub(_mm256_setzero_si256(), tc);
    let delta = clamp(delta, neg_tc, tc);
    let half = _mm256_srai_epi16::<1>(tc);
    let neg_half = sub(_mm256_setzero_si256(), half);
    let side = |x2: __m256i, x0: __m256i, x1: __m256i, delta: __m256i| {
        let mean = _mm256_srai_epi16::<1>(add(add(x2, x0), k(1)));
        let change = _mm256_srai_epi16::<1>(add(sub(mean, x1), delta));
        clip(add(x1, clamp(change, neg_half, half)), max)
    };
    let normal_p1 = side(p2, p0, p1, delta);
    let normal_q1 = side(q2, q0, q1, sub(_mm256_setzero_si256(), delta));

    let pick = |orig: __m256i, normal_value: Option<(__m256i, __m256i)>, strong_value| {
        let v = match normal_value {
            Some((value, mask)) => _mm256_blendv_epi8(orig, value, mask),
            None => orig,
        };
        _mm256_blendv_epi8(v, near(strong_value, orig), strong)
    };
    s[P2] = pick(p2, None, strong_p2);
    s[P1] = pick(p1, Some((normal_p1, and(normal, side_p))), strong_p1);
    s[P0] = pick(p0, Some((clip(add(p0, delta), max), normal)), strong_p0);
    s[Q0] = pick(q0, Some((clip(sub(q0, delta), max), normal)), strong_q0);
    s[Q1] = pick(q1, Some((normal_q1, and(normal, side_q))), strong_q1);
    s[Q2] = pick(q2, None, strong_q2);
}

/// The chroma filter of `scalar::filter_chroma_segment` on 16 lines, with `tc` spread over
/// the segments' lanes (0: unchanged) and `max` the largest sample value. Changes p0 and q0.
#[target_feature(enable = "avx2")]
#[inline]
fn filter_chroma(s: &mut Lines, tc: __m256i, max: __m256i) {
    let (p1, p0, q0, q1) = (s[P1], s[P0], s[Q0], s[Q1]);
    // 4 (q0 - p0) + p1 - q1 + 4: at most 5 * 1023 + 4 in magnitude.
    let sum = _mm256_add_epi16(
        _mm256_slli_epi16::<2>(_mm256_sub_epi16(q0, p0)),
        _mm256_add_epi16(_mm256_sub_epi16(p1, q1), _mm256_set1_epi16(4)),
    );
    let neg_tc = _mm256_sub_epi16(_mm256_setzero_si256(), tc);
    let delta = clamp(_mm256_srai_epi16::<3>(sum), neg_tc, tc);
    s[P0] = clip(_mm256_add_epi16(p0, delta), max);
    s[Q0] = clip(_mm256_sub_epi16(q0, delta), max);
}

/// `N` rows of 16 samples at the start of `block` (`stride` apart).
#[target_feature(enable = "avx2")]
#[inline]
fn load_rows<const N: usize>(block: &[u16], stride: usize) -> [__m256i; N] {
    std::array::from_fn(|r| {
        let row: &[u16; 16] = block[r * stride..][..16].try_into().unwrap();
        // SAFETY: `row` is 16 readable samples (32 bytes) and the load has no alignment
        // requirement.
        unsafe { _mm256_loadu_si256(row.as_ptr().cast()) }
    })
}

/// Stores `rows[r]` (16 samples) as row `r` of `block` for each `r` in `range`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_rows(block: &mut [u16], stride: usize, rows: &[__m256i], range: std::ops::Range<usize>) {
    for r in range {
        let row: &mut [u16; 16] = (&mut block[r * stride..][..16]).try_into().unwrap();
        // SAFETY: `row` is 16 writable samples (32 bytes) and the store has no alignment
        // requirement.
        unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), rows[r]) }
    }
}

/// Copies the first `width` samples of rows `range` from `src` to `dst`.
fn copy_rows(
    src: &[u16],
    src_stride: usize,
    dst: &mut [u16],
    dst_stride: usize,
    width: usize,
    range: std::ops::Range<usize>,
) {
    for r in range {
        dst[r * dst_stride..][..width].copy_from_slice(&src[r * src_stride..][..width]);
    }
}

/// The lines of `edges` (1..=4) consecutive vertical edges 8 columns apart in 4 rows, the
/// first edge's p3 at column `left`: line `4 e + r` is edge `e`, row `r`. Missing edges'
/// lines are zero.
#[target_feature(enable = "avx2")]
#[inline]
fn load_columns(band: &[u16], stride: usize, left: usize, edges: usize) -> Lines {
    let line = |i: usize| -> __m128i {
        let (e, r) = (i / 4, i % 4);
        if e < edges {
            let at = r * stride + left + 8 * e;
            let samples: &[u16; 8] = band[at..at + 8].try_into().unwrap();
            // SAFETY: `samples` is 8 readable samples (16 bytes) and the load has no
            // alignment requirement.
            unsafe { _mm_loadu_si128(samples.as_ptr().cast()) }
        } else {
            _mm_setzero_si128()
        }
    };
    // Row i of the transpose's input: line i in lane 0, line i + 8 in lane 1.
    let rows = std::array::from_fn(|i| _mm256_set_m128i(line(i + 8), line(i)));
    transpose_8x8_lanes(rows)
}

/// Stores what [`load_columns`] loaded, for the `edges` edges that exist.
#[target_feature(enable = "avx2")]
#[inline]
fn store_columns(band: &mut [u16], stride: usize, left: usize, edges: usize, lines: &Lines) {
    let rows = transpose_8x8_lanes(*lines);
    for (i, row) in rows.into_iter().enumerate() {
        // Lane 0: line i; lane 1: line i + 8.
        let halves = [
            (i, _mm256_castsi256_si128(row)),
            (i + 8, _mm256_extracti128_si256::<1>(row)),
        ];
        for (line, value) in halves {
            let (e, r) = (line / 4, line % 4);
            if e < edges {
                let at = r * stride + left + 8 * e;
                let samples: &mut [u16; 8] = (&mut band[at..at + 8]).try_into().unwrap();
                // SAFETY: `samples` is 8 writable samples (16 bytes) and the store has no
                // alignment requirement.
                unsafe { _mm_storeu_si128(samples.as_mut_ptr().cast(), value) }
            }
        }
    }
}
