//! Decoder-side motion vector refinement (`docs/bitstream.md` 5.4).
//!
//! A bi-predicted merge CU whose two references lie on opposite sides of the current
//! picture at the same distance refines its two vectors per sub-block of at most 16 x 16,
//! with no syntax: the mirrored integer offset (list 0 at +d, list 1 at -d, d in -2..=2 per
//! component) that best matches the two bilinear predictions, then a quarter-sample step
//! from a parabola through the costs around it. The refined vectors only predict this CU;
//! everything that reads motion later (merge candidates, vector predictors, temporal
//! motion, deblocking) sees the merge candidate's vectors. The kernels are in `dsp/dmvr`.

use crate::cpu::CpuLevel;
use crate::dsp::dmvr::{self as kernels, GRID, MARGIN};
use crate::picture::{Motion, Mv};

use super::prediction::RefPicture;

/// Largest refined sub-block side.
pub const SUB_BLOCK: usize = 16;

/// Side of the sub-blocks a `w` x `h` CU is refined in, horizontally and vertically.
pub fn sub_block_size(w: usize, h: usize) -> (usize, usize) {
    (w.min(SUB_BLOCK), h.min(SUB_BLOCK))
}

/// The refined motion of the `w` x `h` sub-block at luma (x, y) (`w`, `h` 8 or 16) of a CU
/// with motion `m`, `refs` being the pictures its two lists refer to; and whether the two
/// predictions matched so well that the optical-flow correction is skipped (5.5).
pub fn refine(
    refs: [&RefPicture; 2],
    m: &Motion,
    (x, y): (usize, usize),
    (w, h): (usize, usize),
    cpu: CpuLevel,
) -> (Motion, bool) {
    let (pw, ph) = (w + 2 * MARGIN, h + 2 * MARGIN);
    let mut search = [[0u16; (SUB_BLOCK + 2 * MARGIN) * (SUB_BLOCK + 2 * MARGIN)]; 2];
    for (l, out) in search.iter_mut().enumerate() {
        let p = &refs[l].planes[0];
        let mv = m.mv[l];
        let ix = x as isize + (mv.x as isize >> 2) - MARGIN as isize;
        let iy = y as isize + (mv.y as isize >> 2) - MARGIN as isize;
        // Beyond these positions every sample read is a replicated edge sample.
        let ix = ix.clamp(-(pw as isize), p.width as isize - 1);
        let iy = iy.clamp(-(ph as isize), p.height as isize - 1);
        let (fx, fy) = ((mv.x & 3) as u8, (mv.y & 3) as u8);
        kernels::bilinear(
            &p.data,
            p.stride,
            p.index(ix, iy),
            pw,
            ph,
            fx,
            fy,
            &mut out[..pw * ph],
            cpu,
        );
    }
    let mut costs = kernels::sad_grid(&search[0], &search[1], w, h, cpu);
    let bit_depth = u32::from(refs[0].bit_depth);
    let (delta, best_cost) = best_offset(&mut costs, w, h, bit_depth);
    let shift = |v: Mv, s: i32| Mv {
        x: (i32::from(v.x) + s * delta.0).clamp(i16::MIN.into(), i16::MAX.into()) as i16,
        y: (i32::from(v.y) + s * delta.1).clamp(i16::MIN.into(), i16::MAX.into()) as i16,
    };
    let refined = Motion {
        ref_idx: m.ref_idx,
        mv: [shift(m.mv[0], 1), shift(m.mv[1], -1)],
    };
    (refined, best_cost < 2 * early_stop(w, h, bit_depth))
}

/// Cost below which the centre is kept without searching: a mean difference of a quarter
/// of an 8-bit step per compared sample (the predictions are 16 times the samples, half
/// the rows are compared).
fn early_stop(w: usize, h: usize, bit_depth: u32) -> u32 {
    ((w * h) << (bit_depth - 7)) as u32
}

/// Index of offset (0, 0) in the cost grid.
const CENTRE: usize = GRID / 2;

/// The refinement in quarter samples (list 0 moves by it, list 1 by its negation) from the
/// integer search's costs (`docs/bitstream.md` 5.4), and the cost of the integer offset
/// chosen; lowers the centre's cost in `costs`.
fn best_offset(costs: &mut [u32; GRID], w: usize, h: usize, bit_depth: u32) -> ((i32, i32), u32) {
    // The unrefined vectors win ties and near-ties.
    costs[CENTRE] -= costs[CENTRE] >> 2;
    if costs[CENTRE] < early_stop(w, h, bit_depth) {
        return ((0, 0), costs[CENTRE]);
    }
    let mut best = CENTRE;
    for (i, &c) in costs.iter().enumerate() {
        if c < costs[best] {
            best = i;
        }
    }
    let (dx, dy) = ((best % 5) as i32 - 2, (best / 5) as i32 - 2);
    let mut delta = (4 * dx, 4 * dy);
    if dx.abs() < 2 && dy.abs() < 2 {
        delta.0 += parabola_step(costs[best - 1], costs[best], costs[best + 1]);
        delta.1 += parabola_step(costs[best - 5], costs[best], costs[best + 5]);
    }
    (delta, costs[best])
}

/// Quarter-sample position of the minimum of the parabola through costs `before`, `at` and
/// `after` at -1, 0 and +1, rounded to the nearest quarter (halves away from zero): -2..=2
/// since `at` is the smallest.
fn parabola_step(before: u32, at: u32, after: u32) -> i32 {
    let denom = i64::from(before) + i64::from(after) - 2 * i64::from(at);
    if denom <= 0 {
        return 0;
    }
    // The minimum lies at (before - after) / (2 denom) samples: 2 (before - after) / denom
    // quarters.
    let num = i64::from(before) - i64::from(after);
    let q = (4 * num.abs() + denom) / (2 * denom);
    (q * num.signum()) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inter::ColField;
    use crate::picture::{Frame, Plane};
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    use std::sync::Arc;

    /// Section 5.4 read literally: samples fetched with coordinates clamped
    /// into the picture, no borders, no kernels.
    fn refine_from_spec(
        planes: [&Plane; 2],
        m: &Motion,
        (x, y): (usize, usize),
        (sw, sh): (usize, usize),
        bit_depth: u32,
    ) -> (Motion, bool) {
        let at = |p: &Plane, xx: i64, yy: i64| -> i64 {
            let cx = xx.clamp(0, p.width as i64 - 1) as usize;
            let cy = yy.clamp(0, p.height as i64 - 1) as usize;
            i64::from(p.data[cy * p.width + cx])
        };
        let b = |l: usize, i: i64, j: i64| -> i64 {
            let mv = m.mv[l];
            let (fx, fy) = (i64::from(mv.x & 3), i64::from(mv.y & 3));
            let bx = x as i64 + (i64::from(mv.x) >> 2) - 2 + j;
            let by = y as i64 + (i64::from(mv.y) >> 2) - 2 + i;
            let p = planes[l];
            (4 - fx) * (4 - fy) * at(p, bx, by)
                + fx * (4 - fy) * at(p, bx + 1, by)
                + (4 - fx) * fy * at(p, bx, by + 1)
                + fx * fy * at(p, bx + 1, by + 1)
        };
        let mut cost = [[0i64; 5]; 5];
        for dy in -2i64..=2 {
            for dx in -2i64..=2 {
                let mut sum = 0;
                for i in (0..sh as i64).step_by(2) {
                    for j in 0..sw as i64 {
                        sum += (b(0, i + 2 + dy, j + 2 + dx) - b(1, i + 2 - dy, j + 2 - dx)).abs();
                    }
                }
                cost[(dy + 2) as usize][(dx + 2) as usize] = sum;
            }
        }
        cost[2][2] -= cost[2][2] >> 2;
        let mut delta = (0i64, 0i64);
        let threshold = ((sw * sh) << (bit_depth - 7)) as i64;
        let mut best_cost = cost[2][2];
        if cost[2][2] >= threshold {
            let (mut bx, mut by) = (0i64, 0i64);
            for dy in -2i64..=2 {
                for dx in -2i64..=2 {
                    if cost[(dy + 2) as usize][(dx + 2) as usize]
                        < cost[(by + 2) as usize][(bx + 2) as usize]
                    {
                        (bx, by) = (dx, dy);
                    }
                }
            }
            let c = |dx: i64, dy: i64| cost[(by + 2 + dy) as usize][(bx + 2 + dx) as usize];
            let step = |l: i64, e: i64, r: i64| {
                let den = l + r - 2 * e;
                if den == 0 {
                    0
                } else {
                    (l - r).signum() * ((4 * (l - r).abs() + den) / (2 * den))
                }
            };
            let (mut qx, mut qy) = (0, 0);
            if bx.abs() < 2 && by.abs() < 2 {
                qx = step(c(-1, 0), c(0, 0), c(1, 0));
                qy = step(c(0, -1), c(0, 0), c(0, 1));
            }
            delta = (4 * bx + qx, 4 * by + qy);
            best_cost = c(0, 0);
        }
        let add = |v: Mv, s: i64| Mv {
            x: (i64::from(v.x) + s * delta.0).clamp(-32768, 32767) as i16,
            y: (i64::from(v.y) + s * delta.1).clamp(-32768, 32767) as i16,
        };
        let refined = Motion {
            ref_idx: m.ref_idx,
            mv: [add(m.mv[0], 1), add(m.mv[1], -1)],
        };
        (refined, best_cost < 2 * threshold)
    }

    /// The refinement equals section 5.4 read literally, at every CPU level,
    /// on pictures whose second reference is the first shifted (so the search
    /// has a true minimum to find) and on noise, with vectors near and far
    /// outside the picture, at 8 and 10 bits.
    #[test]
    fn refinement_matches_the_specification() {
        let mut rng = SmallRng::seed_from_u64(31);
        let (w, h) = (64usize, 48usize);
        let empty = || {
            Arc::new(ColField {
                poc: 0,
                w8: 0,
                units: Vec::new(),
            })
        };
        let (mut refined, mut matched) = (0, 0);
        for bit_depth in [8u8, 10] {
            for trial in 0..60 {
                let mut f0 = Frame::new_420(w, h);
                f0.bit_depth = bit_depth;
                let max = (1u32 << bit_depth) - 1;
                // Smooth texture (sums of slopes) or noise.
                let smooth = trial % 2 == 0;
                let (a, b) = (rng.gen_range(1..5), rng.gen_range(1..5));
                for (i, v) in f0.planes[0].data.iter_mut().enumerate() {
                    let (px, py) = ((i % w) as u32, (i / w) as u32);
                    *v = if smooth {
                        (((px * a + py * b) * 7 + (px * py) % 13) % (max + 1)) as u16
                    } else {
                        rng.gen_range(0..=max) as u16
                    };
                }
                let mut f1 = f0.clone();
                let (sx, sy) = (rng.gen_range(-3i64..=3), rng.gen_range(-3i64..=3));
                for yy in 0..h {
                    for xx in 0..w {
                        let cx = (xx as i64 + sx).clamp(0, w as i64 - 1) as usize;
                        let cy = (yy as i64 + sy).clamp(0, h as i64 - 1) as usize;
                        f1.planes[0].data[yy * w + xx] = f0.planes[0].data[cy * w + cx];
                    }
                }
                let r0 = RefPicture::new(0, &f0, empty());
                let r1 = RefPicture::new(2, &f1, empty());
                let far = trial % 5 == 4;
                let range = if far { 30000 } else { 24 };
                let mv = |rng: &mut SmallRng| Mv {
                    x: rng.gen_range(-range..=range),
                    y: rng.gen_range(-range..=range),
                };
                let m = Motion {
                    ref_idx: [0, 0],
                    mv: [mv(&mut rng), mv(&mut rng)],
                };
                let (sw, sh) = [(8, 8), (16, 16), (8, 16), (16, 8)][trial % 4];
                let (x, y) = (
                    rng.gen_range(0..=(w - sw) / 8) * 8,
                    rng.gen_range(0..=(h - sh) / 8) * 8,
                );
                let want = refine_from_spec(
                    [&f0.planes[0], &f1.planes[0]],
                    &m,
                    (x, y),
                    (sw, sh),
                    bit_depth.into(),
                );
                refined += usize::from(want.0 != m);
                matched += usize::from(want.1);
                for cpu in CpuLevel::all_supported() {
                    assert_eq!(
                        refine([&r0, &r1], &m, (x, y), (sw, sh), cpu),
                        want,
                        "{cpu:?} {bit_depth} bits trial {trial}"
                    );
                }
            }
        }
        assert!(refined > 40, "only {refined} of 120 cases refined");
        assert!(
            matched > 0 && matched < 100,
            "{matched} of 120 cases matched"
        );
    }

    #[test]
    fn parabola_steps() {
        // Symmetric costs: no step.
        assert_eq!(parabola_step(10, 5, 10), 0);
        // Flat on one side: the minimum is half a sample that way.
        assert_eq!(parabola_step(5, 5, 9), -2);
        assert_eq!(parabola_step(9, 5, 5), 2);
        // (13 - 9) / (2 * (13 + 9 - 10)) = 1/6 sample = 0.67 quarters -> 1.
        assert_eq!(parabola_step(13, 5, 9), 1);
        // 1/12 sample = 0.33 quarters -> 0.
        assert_eq!(parabola_step(40, 5, 30), 0);
        assert_eq!(parabola_step(30, 5, 40), 0);
        // Exactly half a quarter rounds away from zero: (b - a) / (2 denom) = 1/8.
        // b = 13, a = 9, E = 3: denom = 16, num = 4: 2 * 4 / 16 = 0.5 -> 1.
        assert_eq!(parabola_step(13, 3, 9), 1);
        assert_eq!(parabola_step(9, 3, 13), -1);
        assert_eq!(parabola_step(7, 7, 7), 0);
    }

    #[test]
    fn offsets_from_costs() {
        let (w, h) = (16, 16);
        // A clear minimum at (+1, -2): an edge of the grid, so no fractional step.
        let mut c = [10_000u32; GRID];
        c[3] = 100;
        assert_eq!(best_offset(&mut c, w, h, 8), ((4, -8), 100));
        // The centre's cost is lowered by a quarter before comparing: 1000 -> 750 beats
        // 800 on its right, and the parabola then leans half a sample that way.
        let mut c = [10_000u32; GRID];
        c[CENTRE] = 1000;
        c[CENTRE + 1] = 800;
        assert_eq!(best_offset(&mut c, w, h, 8), ((2, 0), 750));
        // A good match at the centre ends the search (750 < 256 << 3 at 10 bits).
        let mut c = [0u32; GRID];
        c[CENTRE] = 1000;
        assert_eq!(best_offset(&mut c, w, h, 10), ((0, 0), 750));
        // At 8 bits (750 >= 256 << 1) the search goes on, and of equal costs the first in
        // raster order wins: (-2, -2).
        let mut c = [0u32; GRID];
        c[CENTRE] = 1000;
        assert_eq!(best_offset(&mut c, w, h, 8), ((-8, -8), 0));
        // An inner minimum with a fractional step on each axis.
        let mut c = [10_000u32; GRID];
        let b = CENTRE + 5 + 1; // (1, 1)
        c[b] = 1000;
        c[b - 1] = 1001; // almost flat to the left: half a sample left
        c[b + 1] = 3000;
        c[b - 5] = 2000;
        c[b + 5] = 2000; // symmetric vertically
        assert_eq!(best_offset(&mut c, w, h, 8), ((4 - 2, 4), 1000));
    }
}
