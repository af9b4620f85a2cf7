//! HEVC intra prediction (H.265 section 8.4.4.2), generalised to rectangles, for blocks of
//! W x H samples at 8 or 10 bits, each side 4..32 and at most 8 times the other.
//!
//! All 35 modes predict from one line of reference samples, `refs`, of length
//! 2(W + H) + 1, running from the bottom-left sample up the left column to the corner and
//! then right along the top row; with S = W + H (the corner's index):
//!
//! * `refs[S - 1 - j]`: left sample at (x = -1, y = j), j in 0..S
//! * `refs[S]`: corner sample at (-1, -1)
//! * `refs[S + 1 + i]`: top sample at (x = i, y = -1), i in 0..S
//!
//! For a square of side N that is 2N left samples, the corner and 2N top samples. Both
//! edges run W + H samples long because an angular mode at 45 degrees reaches that far
//! along either edge of a rectangle (there is no wide-angle remapping).
//!
//! The caller has already substituted unavailable samples. Keeping both edges in one line
//! lets [`filter_refs`] smooth straight across the corner, as HEVC does.
//!
//! Squares predict exactly as HEVC. Rectangles follow VVC's generalisations of planar
//! (weights per side, one shift) and DC (the mean of the longer edge, a shift), and use
//! HEVC's angles unchanged. Smoothing and boundary-filter decisions use the size class
//! `(log2 W + log2 H) / 2` (VVC's `nTbS` for smoothing) in place of log2 N.
//!
//! `scalar` is the readable reference; `avx2` must match it bit for bit.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;
#[cfg(test)]
mod square_reference;

/// Planar mode: the average of a horizontal and a vertical linear interpolation.
pub const PLANAR: u8 = 0;
/// DC mode: the mean of the top and left samples next to the block (squares) or of those
/// of the longer side (rectangles).
pub const DC: u8 = 1;
/// Pure horizontal angular mode.
pub const HOR: u8 = 10;
/// Pure vertical angular mode.
pub const VER: u8 = 26;
/// Number of intra modes: planar, DC and 33 angular.
pub const NUM_MODES: u8 = 35;

/// intraPredAngle (H.265 Table 8-4) for modes 2..=34, indexed by `mode - 2`: the
/// displacement, in 1/32 sample, per row (vertical class) or column (horizontal class).
const INTRA_PRED_ANGLE: [i8; 33] = [
    32, 26, 21, 17, 13, 9, 5, 2, 0, -2, -5, -9, -13, -17, -21, -26, -32, -26, -21, -17, -13, -9,
    -5, -2, 0, 2, 5, 9, 13, 17, 21, 26, 32,
];

/// First mode of the vertical class, which predicts from the top row; modes below it
/// predict from the left column.
const FIRST_VERTICAL_MODE: u8 = 18;

/// Length of the longest side.
const MAX_N: usize = 32;

/// The largest ratio of the longer side to the shorter, as a difference of log2 sizes.
pub const MAX_LOG2_RATIO: u32 = 3;

/// The angle of an angular mode (2..=34).
const fn intra_pred_angle(mode: u8) -> i32 {
    INTRA_PRED_ANGLE[mode as usize - 2] as i32
}

/// invAngle (H.265 Table 8-5), about 8192 / angle: projects the side reference onto the
/// extension of the main reference for negative angles.
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

/// Index of the spec's `ref[0]` (the corner) in a [`MainRef`].
const MAIN_ORIGIN: usize = MAX_N;

/// Length of a [`MainRef`]: room for `ref[-32..=64]` plus slack so that whole-vector loads
/// starting anywhere a kernel needs stay inside the array.
const MAIN_LEN: usize = 4 * MAX_N;

/// The main reference of an angular mode, H.265 8.4.4.2.6's `ref[k]` stored at
/// `MAIN_ORIGIN + k` for k in [`first_main_index`]..=W + H, zero elsewhere.
type MainRef = [u16; MAIN_LEN];

/// The number of lines an angular mode predicts away from its main reference: the rows
/// (H) of a vertical-class mode, the columns (W) of a horizontal-class one.
const fn lines_across(mode: u8, w: usize, h: usize) -> usize {
    if mode >= FIRST_VERTICAL_MODE {
        h
    } else {
        w
    }
}

/// The lowest k for which an angular mode's `ref[k]` exists, for a block of `lines`
/// lines across ([`lines_across`]): negative angles that reach further than one sample
/// back extend the main reference to (lines * angle) >> 5.
const fn first_main_index(mode: u8, lines: usize) -> i32 {
    let angle = intra_pred_angle(mode);
    let last_projected = (lines as i32 * angle) >> 5;
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

/// Index in `refs` of the spec's `ref[k]` for angular `mode` on a W x H block, k in
/// [`first_main_index`]..=W + H: the corner and then the top row (vertical class) or the
/// left column (horizontal class) for k >= 0, the other edge projected for k < 0.
const fn main_source(mode: u8, w: usize, h: usize, k: i32) -> usize {
    assert!(first_main_index(mode, lines_across(mode, w, h)) <= k && k <= (w + h) as i32);
    assert!(k >= 0 || projected_side(intra_pred_angle(mode), k) <= (w + h) as i32);
    let vertical = mode >= FIRST_VERTICAL_MODE;
    let corner = (w + h) as i32;
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

/// Builds the main reference of angular `mode` on a W x H block.
///
/// No prediction reads `ref[k]` at k = [`first_main_index`] itself (row or column
/// `lines - 1` starts one sample further on), and on a rectangle whose side edge is short
/// its projection can fall beyond the W + H side samples: such entries stay 0.
fn main_reference(mode: u8, refs: &[u16], w: usize, h: usize) -> MainRef {
    let mut main = [0; MAIN_LEN];
    let side_len = (w + h) as i32;
    for k in first_main_index(mode, lines_across(mode, w, h))..=side_len {
        if k < 0 && projected_side(intra_pred_angle(mode), k) > side_len {
            continue;
        }
        main[(MAIN_ORIGIN as i32 + k) as usize] = refs[main_source(mode, w, h, k)];
    }
    main
}

/// Block sides for (`log2w`, `log2h`), rejecting shapes the prediction does not have.
fn block_shape(log2w: u32, log2h: u32) -> (usize, usize) {
    assert!(
        (2..=5).contains(&log2w) && (2..=5).contains(&log2h),
        "intra blocks are 4..32 samples a side, got log2 sizes {log2w} x {log2h}"
    );
    assert!(
        log2w.abs_diff(log2h) <= MAX_LOG2_RATIO,
        "intra blocks are at most 8:1, got log2 sizes {log2w} x {log2h}"
    );
    (1 << log2w, 1 << log2h)
}

/// The size class of a W x H block, `(log2 W + log2 H) / 2` (rounded down): log2 N for a
/// square of side N, and what the smoothing and boundary-filter rules read for rectangles.
pub fn size_class(log2w: u32, log2h: u32) -> u32 {
    block_shape(log2w, log2h);
    (log2w + log2h) / 2
}

/// Whether HEVC's `[1,2,1]` reference smoothing applies, by the block's size class
/// `c = (log2 W + log2 H) / 2` ([`size_class`]; log2 N for squares): luma only; c = 2
/// (4x4, 4x8, 8x4) never; DC never; planar for c >= 3; angular when
/// min(|mode-26|,|mode-10|) > threshold with thresholds 7 (c = 3), 1 (c = 4), 0 (c = 5).
///
/// Smoothing helps where the prediction direction is diagonal enough to smear reference
/// noise across the block; near-horizontal and near-vertical modes keep sharp edges.
pub fn needs_ref_filter(mode: u8, log2w: u32, log2h: u32, is_luma: bool) -> bool {
    assert!(mode < NUM_MODES, "intra mode {mode} out of range");
    let class = size_class(log2w, log2h);
    if !is_luma || class == 2 || mode == DC {
        return false;
    }
    if mode == PLANAR {
        return true;
    }
    let distance_to_hor_or_ver = mode.abs_diff(VER).min(mode.abs_diff(HOR));
    let threshold = match class {
        3 => 7,
        4 => 1,
        _ => 0,
    };
    distance_to_hor_or_ver > threshold
}

/// `[1,2,1]` smoothing along the whole refs line (the two end samples copied unchanged),
/// and for 32x32 blocks HEVC's strong (bi-linear) intra smoothing when its flatness
/// condition holds (`|bottomleft + corner - 2*left[N-1]| < 8` and
/// `|corner + topright - 2*top[N-1]| < 8`, with the H.265 8.4.4.2.3 definitions, threshold
/// `1 << (bitDepth-5)`: 8 at 8 bits). Rectangles (whose size class is at most 4) only
/// ever get `[1,2,1]`.
///
/// `refs` and `out` both hold 2(W + H) + 1 samples in the layout described in the module
/// docs.
pub fn filter_refs(refs: &[u16], log2w: u32, log2h: u32, out: &mut [u16], bit_depth: u32) {
    let (w, h) = block_shape(log2w, log2h);
    let len = 2 * (w + h) + 1;
    assert_eq!(refs.len(), len, "refs must hold 2(W + H) + 1 samples");
    assert_eq!(out.len(), len, "out must hold 2(W + H) + 1 samples");
    check_bit_depth(bit_depth);
    scalar::filter_refs(refs, w, h, out, bit_depth);
}

/// Predicts a W x H block into dst (row stride `stride`). `edge_filter` enables HEVC's
/// boundary smoothing for luma blocks of size class below 5 (every shape but 32x32): DC
/// (first row/column `[1,3]/4` and corner `[1,2,1]`), pure horizontal/vertical (first
/// row/column adjusted by half the gradient of the other edge, clipped to
/// `[0, 2^bitDepth - 1]`).
///
/// As in HEVC the boundary smoothing never applies to 32x32 blocks, so passing "is luma" as
/// `edge_filter` is enough. Only the W x H block of `dst` is written.
///
/// Panics if `mode` or the shape is out of range, `bit_depth` is not 8 or 10, `refs` does
/// not hold 2(W + H) + 1 samples, or `dst` cannot hold H rows of W samples at `stride`.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    mode: u8,
    refs: &[u16],
    log2w: u32,
    log2h: u32,
    edge_filter: bool,
    dst: &mut [u16],
    stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    assert!(mode < NUM_MODES, "intra mode {mode} out of range");
    let (w, h) = block_shape(log2w, log2h);
    assert_eq!(
        refs.len(),
        2 * (w + h) + 1,
        "refs must hold 2(W + H) + 1 samples"
    );
    assert!(
        stride >= w && dst.len() >= (h - 1) * stride + w,
        "dst of {} bytes at stride {stride} cannot hold a {w}x{h} block",
        dst.len()
    );
    let edge_filter = edge_filter && size_class(log2w, log2h) < 5;
    match cpu {
        // Checking the (cached) CPU flag again keeps a hand-made `CpuLevel::Avx2` from
        // reaching AVX2 code on a CPU without it, for the cost of one load and branch.
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernels' only requirement (they bounds-check every access).
            unsafe {
                match mode {
                    PLANAR => avx2::predict_planar(refs, w, h, dst, stride),
                    DC => avx2::predict_dc(refs, w, h, edge_filter, dst, stride),
                    _ => {
                        avx2::predict_angular(mode, refs, w, h, edge_filter, dst, stride, bit_depth)
                    }
                }
            }
        }
        _ => match mode {
            PLANAR => scalar::predict_planar(refs, w, h, dst, stride),
            DC => scalar::predict_dc(refs, w, h, edge_filter, dst, stride),
            _ => scalar::predict_angular(mode, refs, w, h, edge_filter, dst, stride, bit_depth),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::BIT_DEPTHS;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    const LOG2_SIZES: [u32; 4] = [2, 3, 4, 5];

    /// Every shape (log2 W, log2 H): each side 4..32, at most 8:1 (which all pairs are).
    fn all_shapes() -> impl Iterator<Item = (u32, u32)> {
        LOG2_SIZES
            .into_iter()
            .flat_map(|log2w| LOG2_SIZES.into_iter().map(move |log2h| (log2w, log2h)))
    }

    /// The shapes with W != H.
    fn rectangles() -> impl Iterator<Item = (u32, u32)> {
        all_shapes().filter(|(log2w, log2h)| log2w != log2h)
    }

    /// Length of the refs line of a W x H block.
    fn refs_len(w: usize, h: usize) -> usize {
        2 * (w + h) + 1
    }

    fn all_modes() -> impl Iterator<Item = u8> {
        0..NUM_MODES
    }

    /// The largest sample value at `bit_depth`.
    fn max_sample(bit_depth: u32) -> u16 {
        (1 << bit_depth) - 1
    }

    /// Random refs of a W x H block over the whole sample range of `bit_depth`.
    fn random_refs(rng: &mut SmallRng, w: usize, h: usize, bit_depth: u32) -> Vec<u16> {
        let max = max_sample(bit_depth);
        (0..refs_len(w, h))
            .map(|_| rng.gen_range(0..=max))
            .collect()
    }

    /// Reference line of an NxN block with `left[y]` = left_at(y), corner, `top[x]` =
    /// top_at(x).
    fn refs_from(
        n: usize,
        left_at: impl Fn(usize) -> u16,
        corner: u16,
        top_at: impl Fn(usize) -> u16,
    ) -> Vec<u16> {
        rect_refs_from(n, n, left_at, corner, top_at)
    }

    /// Reference line of a W x H block with `left[y]` = left_at(y), corner, `top[x]` =
    /// top_at(x).
    fn rect_refs_from(
        w: usize,
        h: usize,
        left_at: impl Fn(usize) -> u16,
        corner: u16,
        top_at: impl Fn(usize) -> u16,
    ) -> Vec<u16> {
        let s = w + h;
        let mut refs = vec![0; refs_len(w, h)];
        for j in 0..s {
            refs[s - 1 - j] = left_at(j);
            refs[s + 1 + j] = top_at(j);
        }
        refs[s] = corner;
        refs
    }

    /// Predicts into the middle of a larger buffer, with a stride wider than the block, and
    /// returns the W x H block (raster order) after checking that nothing outside it
    /// changed. The slice handed to `predict` ends right after the block's last sample.
    fn predict_rect(
        mode: u8,
        refs: &[u16],
        (log2w, log2h): (u32, u32),
        edge_filter: bool,
        bit_depth: u32,
        cpu: CpuLevel,
    ) -> Vec<u16> {
        let (w, h) = (1usize << log2w, 1usize << log2h);
        let stride = w + 11;
        let start = 2 * stride + 5;
        let len = start + (h + 2) * stride;
        let mut buffer: Vec<u16> = (0..len).map(|i| (i * 151 + 7) as u16).collect();
        let before = buffer.clone();
        let block_len = (h - 1) * stride + w;
        let dst = &mut buffer[start..start + block_len];
        predict(
            mode,
            refs,
            log2w,
            log2h,
            edge_filter,
            dst,
            stride,
            bit_depth,
            cpu,
        );
        let mut block = Vec::with_capacity(w * h);
        for (i, (&now, &old)) in buffer.iter().zip(&before).enumerate() {
            let inside = i >= start && (i - start) / stride < h && (i - start) % stride < w;
            if inside {
                block.push(now);
            } else {
                assert_eq!(
                    now, old,
                    "{cpu:?} mode {mode} {w}x{h} edge {edge_filter}: wrote outside the block \
                     at {i}"
                );
            }
        }
        block
    }

    /// [`predict_rect`] for an NxN block.
    fn predict_block(
        mode: u8,
        refs: &[u16],
        log2n: u32,
        edge_filter: bool,
        bit_depth: u32,
        cpu: CpuLevel,
    ) -> Vec<u16> {
        predict_rect(mode, refs, (log2n, log2n), edge_filter, bit_depth, cpu)
    }

    /// Every level agrees with the scalar reference on `refs` for every mode and edge flag.
    fn check_all_levels_rect(refs: &[u16], shape: (u32, u32), bit_depth: u32, what: &str) {
        for mode in all_modes() {
            for edge_filter in [false, true] {
                let expected =
                    predict_rect(mode, refs, shape, edge_filter, bit_depth, CpuLevel::Scalar);
                for cpu in CpuLevel::all_supported() {
                    let got = predict_rect(mode, refs, shape, edge_filter, bit_depth, cpu);
                    assert!(
                        got == expected,
                        "{cpu:?} differs from scalar: mode {mode}, {}x{}, edge {edge_filter}, \
                         {bit_depth} bits, {what}",
                        1 << shape.0,
                        1 << shape.1
                    );
                }
            }
        }
    }

    #[test]
    fn every_level_matches_scalar_on_random_refs() {
        let mut rng = SmallRng::seed_from_u64(0x1d7a);
        for bit_depth in BIT_DEPTHS {
            for (log2w, log2h) in all_shapes() {
                for round in 0..16 {
                    let refs = random_refs(&mut rng, 1 << log2w, 1 << log2h, bit_depth);
                    let what = format!("random refs #{round}");
                    check_all_levels_rect(&refs, (log2w, log2h), bit_depth, &what);
                }
            }
        }
    }

    #[test]
    fn every_level_matches_scalar_on_random_flat_ish_refs() {
        // Random refs near one level: the kernels' per-row steps and gradients small, as in
        // real pictures, rather than spread over the whole range.
        let mut rng = SmallRng::seed_from_u64(0x1d7b);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (log2w, log2h) in all_shapes() {
                for round in 0..4 {
                    let level = rng.gen_range(0..=max);
                    let refs: Vec<u16> = (0..refs_len(1 << log2w, 1 << log2h))
                        .map(|_| level.saturating_add(rng.gen_range(0..8)).min(max))
                        .collect();
                    let what = format!("flat-ish refs #{round}");
                    check_all_levels_rect(&refs, (log2w, log2h), bit_depth, &what);
                }
            }
        }
    }

    #[test]
    fn every_level_matches_scalar_on_extreme_refs() {
        // All 0, all max, alternating 0 and max, and single max spikes on 0 and 0 dips on
        // max: the sums, products and steps of the SIMD arithmetic at their extremes (at 10
        // bits planar's sums overflow i16).
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (log2w, log2h) in all_shapes() {
                let (w, h) = (1 << log2w, 1 << log2h);
                let len = refs_len(w, h);
                let flat = |value: u16| vec![value; len];
                let alternating = |phase: usize| -> Vec<u16> {
                    (0..len)
                        .map(|k| {
                            if (k + phase).is_multiple_of(2) {
                                0
                            } else {
                                max
                            }
                        })
                        .collect()
                };
                let check = |refs: &[u16], what: &str| {
                    check_all_levels_rect(refs, (log2w, log2h), bit_depth, what)
                };
                check(&flat(0), "all 0");
                check(&flat(max), "all max");
                check(&alternating(0), "alternating from 0");
                check(&alternating(1), "alternating from max");
                // One edge at max and the other at 0, each way round (corner either).
                for corner in [0, max] {
                    check(
                        &rect_refs_from(w, h, |_| max, corner, |_| 0),
                        "left max, top 0",
                    );
                    check(
                        &rect_refs_from(w, h, |_| 0, corner, |_| max),
                        "left 0, top max",
                    );
                }
                for spike in 0..len {
                    let mut refs = flat(0);
                    refs[spike] = max;
                    check(&refs, &format!("max spike at {spike}"));
                    let mut refs = flat(max);
                    refs[spike] = 0;
                    check(&refs, &format!("0 dip at {spike}"));
                }
            }
        }
    }

    /// Scalar prediction as rows, for the checks of the reference itself.
    fn scalar_rows(
        mode: u8,
        refs: &[u16],
        log2n: u32,
        edge_filter: bool,
        bit_depth: u32,
    ) -> Vec<Vec<u16>> {
        let n = 1 << log2n;
        predict_block(mode, refs, log2n, edge_filter, bit_depth, CpuLevel::Scalar)
            .chunks(n)
            .map(<[u16]>::to_vec)
            .collect()
    }

    #[test]
    fn pure_vertical_copies_the_top_row() {
        let mut rng = SmallRng::seed_from_u64(1);
        for bit_depth in BIT_DEPTHS {
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                let refs = random_refs(&mut rng, n, n, bit_depth);
                for row in scalar_rows(VER, &refs, log2n, false, bit_depth) {
                    assert_eq!(row, refs[2 * n + 1..3 * n + 1]);
                }
            }
        }
    }

    #[test]
    fn pure_horizontal_copies_the_left_column() {
        let mut rng = SmallRng::seed_from_u64(2);
        for bit_depth in BIT_DEPTHS {
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                let refs = random_refs(&mut rng, n, n, bit_depth);
                let rows = scalar_rows(HOR, &refs, log2n, false, bit_depth);
                for (y, row) in rows.iter().enumerate() {
                    assert!(
                        row.iter().all(|&v| v == refs[2 * n - 1 - y]),
                        "row {y}, N={n}"
                    );
                }
            }
        }
    }

    #[test]
    fn edge_filters_follow_the_other_edge_and_clip() {
        // Left column rises by 2 per row from the corner, top row falls by 2 per column:
        // the filtered first column/row moves by half of that, 1 per sample, and clips at
        // 0 and the largest sample value (255 at 8 bits, 1023 at 10).
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for log2n in [2, 3, 4] {
                let n = 1 << log2n;
                let refs = refs_from(n, |y| 102 + 2 * y as u16, 100, |x| 98 - 2 * x as u16);
                let vertical = scalar_rows(VER, &refs, log2n, true, bit_depth);
                let horizontal = scalar_rows(HOR, &refs, log2n, true, bit_depth);
                for i in 0..n {
                    assert_eq!(vertical[i][0], 98 + 1 + i as u16, "VER column, N={n}");
                    assert_eq!(horizontal[0][i], 102 - 1 - i as u16, "HOR row, N={n}");
                }
                let clipping = refs_from(n, |_| max, 0, |_| max);
                assert!(scalar_rows(VER, &clipping, log2n, true, bit_depth)
                    .iter()
                    .all(|row| row[0] == max));
                let clipping = refs_from(n, |_| 0, max, |_| 0);
                assert!(scalar_rows(HOR, &clipping, log2n, true, bit_depth)[0]
                    .iter()
                    .all(|&v| v == 0));
            }
        }
    }

    #[test]
    fn dc_of_constant_refs_is_the_constant() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for log2n in LOG2_SIZES {
                for value in [0, 1, 77, 128, 254, 255, max / 2 + 1, max - 1, max] {
                    let refs = vec![value; 4 * (1 << log2n) + 1];
                    for edge_filter in [false, true] {
                        let rows = scalar_rows(DC, &refs, log2n, edge_filter, bit_depth);
                        assert!(
                            rows.iter().flatten().all(|&v| v == value),
                            "{value}, N={}, {bit_depth} bits",
                            1 << log2n
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dc_is_the_rounded_mean_of_the_near_edges() {
        // Top row all 10, left column all 21: mean 15.5 rounds up to 16. The far halves
        // of both edges must not count.
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                let refs = refs_from(
                    n,
                    |y| if y < n { 21 } else { max },
                    0,
                    |x| if x < n { 10 } else { max },
                );
                assert!(scalar_rows(DC, &refs, log2n, false, bit_depth)
                    .iter()
                    .flatten()
                    .all(|&v| v == 16));
            }
        }
    }

    /// Refs sampled from the plane c + a*x + b*y.
    fn plane_refs(n: usize, a: f64, b: f64, c: f64) -> Vec<u16> {
        let plane = |x: f64, y: f64| (c + a * x + b * y).round() as u16;
        refs_from(
            n,
            |y| plane(-1.0, y as f64),
            plane(-1.0, -1.0),
            |x| plane(x as f64, -1.0),
        )
    }

    #[test]
    fn planar_reproduces_diagonal_ramps_within_one() {
        // Planar blends each row towards the one top-right sample and each column towards
        // the one bottom-left sample, so it only approximates a general plane (see the
        // closed form below). For ramps c + a*(x - y) the two blends' errors cancel down
        // to a*(x - y)/2N, under |a|/2, and the prediction stays within one of the plane.
        // At 10 bits the same ramps run around 4 times the level.
        for (bit_depth, c) in [(8, 128.0), (10, 512.0)] {
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                for a in [-3.0, -1.0, -0.5, 0.0, 0.75, 1.0, 2.0] {
                    let refs = plane_refs(n, a, -a, c);
                    let rows = scalar_rows(PLANAR, &refs, log2n, false, bit_depth);
                    for (y, row) in rows.iter().enumerate() {
                        for (x, &v) in row.iter().enumerate() {
                            let expected = c + a * (x as f64 - y as f64);
                            assert!(
                                (f64::from(v) - expected).abs() <= 1.0,
                                "a={a} N={n} ({x},{y}): {v} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn planar_of_any_plane_matches_the_closed_form() {
        // Averaging the horizontal blend left[y] -> topRight and the vertical blend
        // top[x] -> bottomLeft of a plane works out to the plane minus
        // (a*y*(x+1) + b*x*(y+1)) / 2N, derived by hand from H.265 (8-51); rounding of the
        // samples and the result stays within one.
        for (bit_depth, c, scale) in [(8, 100.0, 1.0), (10, 400.0, 4.0)] {
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                for (a, b) in [
                    (1.0, 0.0),
                    (0.0, 1.0),
                    (1.0, 1.0),
                    (1.5, -0.75),
                    (-0.5, -1.25),
                ] {
                    let (a, b) = (a * scale, b * scale);
                    let refs = plane_refs(n, a, b, c);
                    let rows = scalar_rows(PLANAR, &refs, log2n, false, bit_depth);
                    for (y, row) in rows.iter().enumerate() {
                        for (x, &v) in row.iter().enumerate() {
                            let (xf, yf) = (x as f64, y as f64);
                            let bias =
                                (a * yf * (xf + 1.0) + b * xf * (yf + 1.0)) / (2.0 * n as f64);
                            let expected = c + a * xf + b * yf - bias;
                            assert!(
                                (f64::from(v) - expected).abs() <= 1.0,
                                "({a},{b}) N={n} ({x},{y}): {v} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn diagonal_modes_copy_along_their_diagonal() {
        let mut rng = SmallRng::seed_from_u64(3);
        for bit_depth in BIT_DEPTHS {
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                let refs = random_refs(&mut rng, n, n, bit_depth);
                let left = |y: usize| refs[2 * n - 1 - y];
                let top = |x: usize| refs[2 * n + 1 + x];
                for edge_filter in [false, true] {
                    let rows = |mode| scalar_rows(mode, &refs, log2n, edge_filter, bit_depth);
                    let (mode34, mode2, mode18) = (rows(34), rows(2), rows(18));
                    for y in 0..n {
                        for x in 0..n {
                            assert_eq!(mode34[y][x], top(x + y + 1), "mode 34 N={n}");
                            assert_eq!(mode2[y][x], left(x + y + 1), "mode 2 N={n}");
                            let up_left = match x.cmp(&y) {
                                std::cmp::Ordering::Greater => top(x - y - 1),
                                std::cmp::Ordering::Equal => refs[2 * n],
                                std::cmp::Ordering::Less => left(y - x - 1),
                            };
                            assert_eq!(mode18[y][x], up_left, "mode 18 N={n}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn transposed_refs_give_the_transposed_block() {
        // Swapping the left and top edges mirrors the block about its diagonal, and angular
        // mode m into 36 - m: a check that the two angular classes agree with each other.
        let mut rng = SmallRng::seed_from_u64(4);
        for bit_depth in BIT_DEPTHS {
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                let refs = random_refs(&mut rng, n, n, bit_depth);
                let swapped: Vec<u16> = refs.iter().rev().copied().collect();
                for mode in all_modes() {
                    let mirrored_mode = if mode < 2 { mode } else { 36 - mode };
                    for edge_filter in [false, true] {
                        let block = scalar_rows(mode, &refs, log2n, edge_filter, bit_depth);
                        let mirrored =
                            scalar_rows(mirrored_mode, &swapped, log2n, edge_filter, bit_depth);
                        for y in 0..n {
                            for x in 0..n {
                                assert_eq!(block[y][x], mirrored[x][y], "mode {mode} N={n}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn interpolation_weights_fractions_linearly() {
        // Mode 33 (angle 26): row 0 sits 26/32 of the way from top[x] to top[x+1]. Top row
        // 0, 32, 64, ... so the exact value is 32x + 26; at 10 bits the steps of 128 give
        // 128x + 104, up to the top of the range.
        for (bit_depth, step) in [(8, 32), (10, 128)] {
            let max = u32::from(max_sample(bit_depth));
            let n = 8;
            let refs = refs_from(n, |_| 0, 0, |x| (step * x as u32).min(max) as u16);
            let rows = scalar_rows(33, &refs, 3, false, bit_depth);
            for (x, &value) in rows[0][..6].iter().enumerate() {
                assert_eq!(u32::from(value), step * x as u32 + step * 26 / 32);
            }
        }
    }

    #[test]
    fn filtering_a_constant_line_keeps_it() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for log2n in LOG2_SIZES {
                for value in [0, 9, 200, 255, max] {
                    let refs = vec![value; 4 * (1 << log2n) + 1];
                    let mut out = vec![0; refs.len()];
                    filter_refs(&refs, log2n, log2n, &mut out, bit_depth);
                    assert_eq!(out, refs);
                }
            }
        }
    }

    #[test]
    fn filtering_spreads_a_spike_as_1_2_1() {
        for bit_depth in BIT_DEPTHS {
            // 200 at 8 bits; 800 at 10, whose [1,2,1] quarters stay exact.
            let spike = 200 << (bit_depth - 8);
            for log2n in [2, 3, 4] {
                let mut refs = vec![0; 4 * (1 << log2n) + 1];
                refs[5] = spike;
                let mut out = vec![0; refs.len()];
                filter_refs(&refs, log2n, log2n, &mut out, bit_depth);
                let mut expected = vec![0; refs.len()];
                expected[4..7].copy_from_slice(&[spike / 4, spike / 2, spike / 4]);
                assert_eq!(out, expected);
                // The end samples are copied, not filtered.
                let mut ends = vec![0; refs.len()];
                let last = ends.len() - 1;
                ends[0] = spike;
                ends[last] = spike;
                filter_refs(&ends, log2n, log2n, &mut out, bit_depth);
                assert_eq!(
                    (out[0], out[1], out[last - 1], out[last]),
                    (spike, spike / 4, spike / 4, spike)
                );
            }
        }
    }

    #[test]
    fn flat_32x32_refs_get_the_strong_bilinear_filter() {
        // A spike away from the three samples of the flatness test leaves the line flat, so
        // the strong filter replaces it by the straight lines from the corner to the ends.
        // Flatness allows a bend below 1 << (bitDepth - 5): 8 at 8 bits, 32 at 10.
        for bit_depth in BIT_DEPTHS {
            let threshold = 1 << (bit_depth - 5);
            let n = 32;
            let line = || refs_from(n, |y| (65 + y) as u16, 64, |x| (63 - x) as u16);
            let mut refs = line();
            refs[10] = max_sample(bit_depth) - 5;
            let mut out = vec![0; refs.len()];
            filter_refs(&refs, 5, 5, &mut out, bit_depth);
            let expected = line();
            assert_eq!(out, expected);
            // The midpoint counts twice in the flatness test: bending the left edge there by
            // half the threshold breaks flatness ([1,2,1] instead), by one less keeps it.
            let mut bent = expected.clone();
            bent[n] += threshold / 2 - 1;
            filter_refs(&bent, 5, 5, &mut out, bit_depth);
            assert_eq!(out, expected, "{bit_depth} bits");
            bent[n] += 1;
            filter_refs(&bent, 5, 5, &mut out, bit_depth);
            assert_eq!(
                out[n],
                (bent[n - 1] + 2 * bent[n] + bent[n + 1] + 2) >> 2,
                "{bit_depth} bits"
            );
            assert_eq!(out[n - 2], bent[n - 2]);
        }
    }

    #[test]
    fn ref_filter_decisions_follow_hevc() {
        let filtered = |log2n: u32| -> Vec<u8> {
            all_modes()
                .filter(|&m| needs_ref_filter(m, log2n, log2n, true))
                .collect()
        };
        assert!(filtered(2).is_empty());
        assert_eq!(filtered(3), [PLANAR, 2, 18, 34]);
        let all_but =
            |skip: &[u8]| -> Vec<u8> { all_modes().filter(|m| !skip.contains(m)).collect() };
        assert_eq!(filtered(4), all_but(&[DC, 9, 10, 11, 25, 26, 27]));
        assert_eq!(filtered(5), all_but(&[DC, 10, 26]));
        for log2n in LOG2_SIZES {
            assert!(all_modes().all(|m| !needs_ref_filter(m, log2n, log2n, false)));
        }
    }

    #[test]
    #[should_panic(expected = "4..32 samples a side")]
    fn rejects_64x64() {
        predict(
            DC,
            &[0; 257],
            6,
            6,
            false,
            &mut [0; 64 * 64],
            64,
            8,
            CpuLevel::Scalar,
        );
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn rejects_a_short_destination() {
        predict(
            DC,
            &[0; 33],
            3,
            3,
            false,
            &mut [0; 7 * 8 + 7],
            8,
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "2(W + H) + 1")]
    fn rejects_a_wrong_length_refs_line() {
        predict(
            DC,
            &[0; 32],
            3,
            3,
            false,
            &mut [0; 64],
            8,
            8,
            CpuLevel::detect(),
        );
    }

    #[test]
    #[should_panic(expected = "unsupported")]
    fn rejects_an_unsupported_bit_depth() {
        predict(
            DC,
            &[0; 33],
            3,
            3,
            false,
            &mut [0; 64],
            8,
            12,
            CpuLevel::detect(),
        );
    }

    // -----------------------------------------------------------------------------------
    // Independent expectations: the spec's formulas written out plainly (for every shape),
    // and main's square code before rectangles (`square_reference`) for squares.

    /// The prediction of `docs/bitstream.md` section 5, computed sample by sample straight
    /// from the formulas: no main reference array, no shared helpers. Raster order.
    fn spec_prediction(
        mode: u8,
        refs: &[u16],
        (w, h): (usize, usize),
        edge_filter: bool,
        bit_depth: u32,
    ) -> Vec<u16> {
        let s = w + h;
        let l = |j: usize| i64::from(refs[s - 1 - j]);
        let t = |i: usize| i64::from(refs[s + 1 + i]);
        let c = i64::from(refs[s]);
        let log2 = |v: usize| i64::from(v.trailing_zeros());
        let (wi, hi) = (w as i64, h as i64);
        let edge_filter = edge_filter && !(w == 32 && h == 32);
        let clip = |v: i64| v.clamp(0, (1 << bit_depth) - 1);
        let mut pred = vec![0i64; w * h];
        match mode {
            PLANAR => {
                for y in 0..h {
                    for x in 0..w {
                        let (xi, yi) = (x as i64, y as i64);
                        let pred_v = ((hi - 1 - yi) * t(x) + (yi + 1) * l(h)) << log2(w);
                        let pred_h = ((wi - 1 - xi) * l(y) + (xi + 1) * t(w)) << log2(h);
                        pred[y * w + x] = (pred_v + pred_h + wi * hi) >> (log2(w) + log2(h) + 1);
                    }
                }
            }
            DC => {
                let top: i64 = (0..w).map(t).sum();
                let left: i64 = (0..h).map(l).sum();
                let dc = if w == h {
                    (top + left + wi) / (2 * wi)
                } else if w > h {
                    (top + wi / 2) / wi
                } else {
                    (left + hi / 2) / hi
                };
                pred.fill(dc);
                if edge_filter {
                    pred[0] = (l(0) + 2 * dc + t(0) + 2) >> 2;
                    for x in 1..w {
                        pred[x] = (t(x) + 3 * dc + 2) >> 2;
                    }
                    for y in 1..h {
                        pred[y * w] = (l(y) + 3 * dc + 2) >> 2;
                    }
                }
            }
            _ => {
                let angle = i64::from(INTRA_PRED_ANGLE[usize::from(mode) - 2]);
                let vertical = mode >= 18;
                let inv_angle = |a: i64| match a {
                    -2 => -4096,
                    -5 => -1638,
                    -9 => -910,
                    -13 => -630,
                    -17 => -482,
                    -21 => -390,
                    -26 => -315,
                    _ => -256,
                };
                // m[k]: along the main edge from the corner, or projected from the side
                // edge (d samples from the corner) for k < 0.
                let m = |k: i64| -> i64 {
                    if k == 0 {
                        c
                    } else if k > 0 {
                        let i = (k - 1) as usize;
                        if vertical {
                            t(i)
                        } else {
                            l(i)
                        }
                    } else {
                        let d = (k * inv_angle(angle) + 128).div_euclid(256);
                        let i = (d - 1) as usize;
                        if vertical {
                            l(i)
                        } else {
                            t(i)
                        }
                    }
                };
                for y in 0..h {
                    for x in 0..w {
                        let (r, col) = if vertical { (y, x) } else { (x, y) };
                        let pos = (r as i64 + 1) * angle;
                        let (i, f) = (pos.div_euclid(32), pos.rem_euclid(32));
                        let k = col as i64 + i + 1;
                        pred[y * w + x] = if f == 0 {
                            m(k)
                        } else {
                            ((32 - f) * m(k) + f * m(k + 1) + 16) >> 5
                        };
                    }
                }
                if edge_filter && mode == VER {
                    for y in 0..h {
                        pred[y * w] = clip(t(0) + ((l(y) - c) >> 1));
                    }
                }
                if edge_filter && mode == HOR {
                    for x in 0..w {
                        pred[x] = clip(l(0) + ((t(x) - c) >> 1));
                    }
                }
            }
        }
        pred.into_iter().map(|v| v as u16).collect()
    }

    #[test]
    fn every_shape_follows_the_spec_formulas() {
        let mut rng = SmallRng::seed_from_u64(0x5bec);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (log2w, log2h) in all_shapes() {
                let (w, h) = (1 << log2w, 1 << log2h);
                let mut lines = vec![
                    vec![0; refs_len(w, h)],
                    vec![max; refs_len(w, h)],
                    rect_refs_from(w, h, |_| max, 0, |_| 0),
                    rect_refs_from(w, h, |_| 0, max, |_| max),
                ];
                lines.extend((0..8).map(|_| random_refs(&mut rng, w, h, bit_depth)));
                for refs in &lines {
                    for mode in all_modes() {
                        for edge_filter in [false, true] {
                            let expected =
                                spec_prediction(mode, refs, (w, h), edge_filter, bit_depth);
                            for cpu in CpuLevel::all_supported() {
                                let got = predict_rect(
                                    mode,
                                    refs,
                                    (log2w, log2h),
                                    edge_filter,
                                    bit_depth,
                                    cpu,
                                );
                                assert!(
                                    got == expected,
                                    "{cpu:?}: mode {mode}, {w}x{h}, edge {edge_filter}, \
                                     {bit_depth} bits"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn squares_predict_as_before_rectangles() {
        let mut rng = SmallRng::seed_from_u64(0x01d5);
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for log2n in LOG2_SIZES {
                let n = 1 << log2n;
                let mut lines = vec![vec![0; 4 * n + 1], vec![max; 4 * n + 1]];
                lines.extend((0..16).map(|_| random_refs(&mut rng, n, n, bit_depth)));
                for refs in &lines {
                    for mode in all_modes() {
                        for edge_filter in [false, true] {
                            let mut old = vec![0; n * n];
                            square_reference::predict(
                                mode,
                                refs,
                                log2n,
                                edge_filter,
                                &mut old,
                                n,
                                bit_depth,
                            );
                            // The spec reference agrees with main's code on squares too.
                            let spec = spec_prediction(mode, refs, (n, n), edge_filter, bit_depth);
                            assert!(spec == old, "spec vs old: mode {mode}, N={n}");
                            for cpu in CpuLevel::all_supported() {
                                let got =
                                    predict_block(mode, refs, log2n, edge_filter, bit_depth, cpu);
                                assert!(
                                    got == old,
                                    "{cpu:?}: mode {mode}, N={n}, edge {edge_filter}, \
                                     {bit_depth} bits"
                                );
                            }
                        }
                    }
                    for luma in [false, true] {
                        for mode in all_modes() {
                            assert_eq!(
                                needs_ref_filter(mode, log2n, log2n, luma),
                                square_reference::needs_ref_filter(mode, log2n, luma)
                            );
                        }
                    }
                    let mut old = vec![0; refs.len()];
                    let mut new = vec![0; refs.len()];
                    square_reference::filter_refs(refs, n, &mut old, bit_depth);
                    filter_refs(refs, log2n, log2n, &mut new, bit_depth);
                    assert_eq!(new, old, "filter, N={n}");
                }
            }
        }
    }

    #[test]
    fn rectangles_smooth_by_size_class_with_1_2_1_only() {
        // Size class (log2 W + log2 H) / 2: 4x8 and 8x4 are class 2 (never smoothed), 4x16,
        // 16x4, 8x16, 4x32 ... follow the thresholds of the class.
        let class_filtered = |class: u32| -> Vec<u8> {
            all_modes()
                .filter(|&m| needs_ref_filter(m, class, class, true))
                .collect()
        };
        for (log2w, log2h) in rectangles() {
            let class = (log2w + log2h) / 2;
            let filtered: Vec<u8> = all_modes()
                .filter(|&m| needs_ref_filter(m, log2w, log2h, true))
                .collect();
            assert_eq!(filtered, class_filtered(class), "{log2w} x {log2h}");
            assert!(all_modes().all(|m| !needs_ref_filter(m, log2w, log2h, false)));
        }
        assert!(class_filtered(2).is_empty());
        // A flat 32x16 line (the strong filter's condition, were it 32x32) still gets
        // [1,2,1]: a spike spreads.
        let (w, h) = (32, 16);
        let mut refs = vec![100; refs_len(w, h)];
        refs[20] = 140;
        let mut out = vec![0; refs.len()];
        filter_refs(&refs, 5, 4, &mut out, 8);
        assert_eq!(out[19..22], [110, 120, 110]);
        assert_eq!(out[0], 100);
        assert_eq!(out[refs.len() - 1], 100);
    }

    #[test]
    fn rectangular_dc_is_the_mean_of_the_longer_edge() {
        for bit_depth in BIT_DEPTHS {
            let max = max_sample(bit_depth);
            for (log2w, log2h) in rectangles() {
                let (w, h) = (1 << log2w, 1 << log2h);
                // The longer edge holds 10 and 21 alternately (mean 15.5, rounds to 16);
                // the shorter one and the far parts are at max and must not count.
                let near = |i: usize| if i.is_multiple_of(2) { 10 } else { 21 };
                let refs = if w > h {
                    rect_refs_from(w, h, |_| max, 0, |x| if x < w { near(x) } else { max })
                } else {
                    rect_refs_from(w, h, |y| if y < h { near(y) } else { max }, 0, |_| max)
                };
                for cpu in CpuLevel::all_supported() {
                    let block = predict_rect(DC, &refs, (log2w, log2h), false, bit_depth, cpu);
                    assert!(block.iter().all(|&v| v == 16), "{w}x{h} {cpu:?}");
                }
            }
        }
    }

    #[test]
    fn rectangular_planar_keeps_a_constant_and_pure_modes_copy() {
        let mut rng = SmallRng::seed_from_u64(7);
        for bit_depth in BIT_DEPTHS {
            for (log2w, log2h) in rectangles() {
                let (w, h) = (1 << log2w, 1 << log2h);
                let constant = vec![max_sample(bit_depth) - 3; refs_len(w, h)];
                let refs = random_refs(&mut rng, w, h, bit_depth);
                let s = w + h;
                for cpu in CpuLevel::all_supported() {
                    let shape = (log2w, log2h);
                    let planar = predict_rect(PLANAR, &constant, shape, false, bit_depth, cpu);
                    assert!(planar.iter().all(|&v| v == constant[0]), "{w}x{h}");
                    let vertical = predict_rect(VER, &refs, shape, false, bit_depth, cpu);
                    let horizontal = predict_rect(HOR, &refs, shape, false, bit_depth, cpu);
                    for y in 0..h {
                        assert_eq!(vertical[y * w..][..w], refs[s + 1..s + 1 + w]);
                        assert!(horizontal[y * w..][..w]
                            .iter()
                            .all(|&v| v == refs[s - 1 - y]));
                    }
                    // Mode 34 copies along the 45-degree diagonal: top[x + y + 1], reaching
                    // top[W + H - 1]; mode 2 likewise from the left column.
                    let mode34 = predict_rect(34, &refs, shape, false, bit_depth, cpu);
                    let mode2 = predict_rect(2, &refs, shape, false, bit_depth, cpu);
                    for y in 0..h {
                        for x in 0..w {
                            assert_eq!(mode34[y * w + x], refs[s + 1 + x + y + 1]);
                            assert_eq!(mode2[y * w + x], refs[s - 1 - (x + y + 1)]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn transposed_rectangles_give_the_transposed_block() {
        // Swapping the edges (reversing the line) of a W x H block gives the refs of the
        // H x W block mirrored about the diagonal, and angular mode m becomes 36 - m.
        let mut rng = SmallRng::seed_from_u64(8);
        for bit_depth in BIT_DEPTHS {
            for (log2w, log2h) in rectangles() {
                let (w, h) = (1usize << log2w, 1usize << log2h);
                let refs = random_refs(&mut rng, w, h, bit_depth);
                let swapped: Vec<u16> = refs.iter().rev().copied().collect();
                for mode in all_modes() {
                    let mirrored_mode = if mode < 2 { mode } else { 36 - mode };
                    for edge_filter in [false, true] {
                        let cpu = CpuLevel::detect();
                        let block =
                            predict_rect(mode, &refs, (log2w, log2h), edge_filter, bit_depth, cpu);
                        let mirrored = predict_rect(
                            mirrored_mode,
                            &swapped,
                            (log2h, log2w),
                            edge_filter,
                            bit_depth,
                            cpu,
                        );
                        for y in 0..h {
                            for x in 0..w {
                                assert_eq!(
                                    block[y * w + x],
                                    mirrored[x * h + y],
                                    "mode {mode} {w}x{h}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
