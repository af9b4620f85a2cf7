//! Motion estimation: integer search from predictor candidates with an
//! iterated small diamond (SAD + lambda * vector rate), then half- and
//! quarter-sample refinement by SATD of the interpolated prediction.

use crate::cpu::CpuLevel;
use crate::dsp::{dist, mc};
use crate::inter::{predict_plane, RefPicture, MAX_BLOCK};
use crate::picture::{Mv, Plane};

/// Motion search settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MeParams {
    /// Largest integer displacement searched around the best predictor.
    pub range: i32,
    /// Diamond steps at most.
    pub max_steps: usize,
    /// Refine to quarter samples (else half samples).
    pub quarter: bool,
    /// References searched per list.
    pub max_refs: usize,
    /// Quarter-sample refinement checks all 8 neighbours (else the 4 of a diamond).
    pub quarter_square: bool,
}

impl Default for MeParams {
    fn default() -> Self {
        MeParams {
            range: 64,
            max_steps: 16,
            quarter: true,
            max_refs: 4,
            quarter_square: true,
        }
    }
}

/// Approximate bits of one motion vector difference component (quarter samples).
#[inline]
pub(crate) fn mvd_bits(d: i32) -> f64 {
    let a = d.unsigned_abs();
    if a == 0 {
        1.0
    } else {
        (2 * (32 - a.leading_zeros()) + 1) as f64
    }
}

/// Rate of a vector relative to its predictor, in bits.
#[inline]
pub(crate) fn mv_bits(mv: Mv, pred: Mv) -> f64 {
    mvd_bits(mv.x as i32 - pred.x as i32) + mvd_bits(mv.y as i32 - pred.y as i32)
}

/// Where to search and how to price vectors.
pub(crate) struct Target<'a> {
    /// The source luma plane (coded size).
    pub src: &'a Plane,
    /// Block position and side.
    pub x: usize,
    /// Block row.
    pub y: usize,
    /// Block side.
    pub s: usize,
    /// The predictor the vector will be coded against.
    pub mvp: Mv,
    /// Lambda for SAD/SATD costs (square root of the SSE lambda).
    pub lambda: f64,
    /// Kernel level.
    pub cpu: CpuLevel,
}

/// Result of a search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    /// Best vector (quarter samples).
    pub mv: Mv,
    /// Its SATD alone (the caller prices the vector against its best predictor).
    pub satd: u32,
}

/// Clamps an integer displacement so the block stays inside the reference's border.
fn clamp_int(t: &Target, r: &RefPicture, dx: i32, dy: i32) -> (i32, i32) {
    let p = &r.planes[0];
    let margin = 8i32;
    let lo_x = -(p.pad as i32 - margin) - t.x as i32;
    let hi_x = (p.width + p.pad) as i32 - margin - t.s as i32 - t.x as i32;
    let lo_y = -(p.pad as i32 - margin) - t.y as i32;
    let hi_y = (p.height + p.pad) as i32 - margin - t.s as i32 - t.y as i32;
    (dx.clamp(lo_x, hi_x), dy.clamp(lo_y, hi_y))
}

fn sad_at(t: &Target, r: &RefPicture, dx: i32, dy: i32) -> u32 {
    let p = &r.planes[0];
    let o = p.index(t.x as isize + dx as isize, t.y as isize + dy as isize);
    let src = &t.src.data[t.y * t.src.width + t.x..];
    dist::sad(src, t.src.width, &p.data[o..], p.stride, t.s, t.s, t.cpu)
}

/// SATD of the (sub-sample) prediction at `mv`.
pub(crate) fn satd_at(
    t: &Target,
    r: &RefPicture,
    mv: Mv,
    tmp: &mut [i16],
    pred: &mut [u16],
) -> u32 {
    let n = t.s * t.s;
    predict_plane(r, 0, t.x, t.y, t.s, t.s, mv, &mut tmp[..n], t.cpu);
    let bd = u32::from(r.bit_depth);
    mc::put_uni(&tmp[..n], t.s, t.s, t.s, &mut pred[..n], t.s, bd, t.cpu);
    let src = &t.src.data[t.y * t.src.width + t.x..];
    dist::satd(src, t.src.width, &pred[..n], t.s, t.s, t.s, t.cpu)
}

/// Searches reference `r` for the block, starting from `candidates`.
pub(crate) fn search(t: &Target, r: &RefPicture, candidates: &[Mv], p: &MeParams) -> Found {
    let int_cost = |dx: i32, dy: i32| -> f64 {
        let mv = Mv {
            x: (dx * 4) as i16,
            y: (dy * 4) as i16,
        };
        sad_at(t, r, dx, dy) as f64 + t.lambda * mv_bits(mv, t.mvp)
    };
    // Best integer starting point among the candidates (rounded).
    let mut best = (0i32, 0i32);
    let mut best_cost = f64::INFINITY;
    let mut tried: Vec<(i32, i32)> = Vec::with_capacity(candidates.len() + 1);
    for mv in candidates.iter().chain(std::iter::once(&Mv::ZERO)) {
        let (dx, dy) = clamp_int(t, r, (mv.x as i32 + 2) >> 2, (mv.y as i32 + 2) >> 2);
        if tried.contains(&(dx, dy)) {
            continue;
        }
        tried.push((dx, dy));
        let c = int_cost(dx, dy);
        if c < best_cost {
            best_cost = c;
            best = (dx, dy);
        }
    }
    let centre = best;
    // Iterated small diamond.
    for _ in 0..p.max_steps {
        let mut moved = false;
        for (sx, sy) in [(0, -1), (-1, 0), (1, 0), (0, 1)] {
            let (dx, dy) = clamp_int(t, r, best.0 + sx, best.1 + sy);
            if (dx - centre.0).abs() > p.range
                || (dy - centre.1).abs() > p.range
                || (dx, dy) == best
            {
                continue;
            }
            let c = int_cost(dx, dy);
            if c < best_cost {
                best_cost = c;
                best = (dx, dy);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    // Fractional refinement by SATD around the integer best.
    let mut tmp = [0i16; MAX_BLOCK * MAX_BLOCK];
    let mut pred = [0u16; MAX_BLOCK * MAX_BLOCK];
    let mut mv = Mv {
        x: (best.0 * 4) as i16,
        y: (best.1 * 4) as i16,
    };
    let mut satd = satd_at(t, r, mv, &mut tmp, &mut pred);
    let mut cost = satd as f64 + t.lambda * mv_bits(mv, t.mvp);
    let steps: &[i16] = if p.quarter { &[2, 1] } else { &[2] };
    const SQUARE: [(i16, i16); 8] = [
        (-1, -1),
        (0, -1),
        (1, -1),
        (-1, 0),
        (1, 0),
        (-1, 1),
        (0, 1),
        (1, 1),
    ];
    const DIAMOND: [(i16, i16); 4] = [(0, -1), (-1, 0), (1, 0), (0, 1)];
    for &step in steps {
        let centre = mv;
        let pattern: &[(i16, i16)] = if step == 1 && !p.quarter_square {
            &DIAMOND
        } else {
            &SQUARE
        };
        for &(sx, sy) in pattern {
            let cand = Mv {
                x: centre.x + sx * step,
                y: centre.y + sy * step,
            };
            let d = satd_at(t, r, cand, &mut tmp, &mut pred);
            let c = d as f64 + t.lambda * mv_bits(cand, t.mvp);
            if c < cost {
                cost = c;
                satd = d;
                mv = cand;
            }
        }
    }
    Found { mv, satd }
}
