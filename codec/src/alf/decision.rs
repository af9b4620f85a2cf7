//! The encoder's derivation of the adaptive loop filter: per plane, the
//! least-squares (Wiener) coefficients of the filter input against the
//! source (for luma per class, the 25 classes merged greedily into the
//! number of filters that costs least, VVenC's approach), quantised, then
//! per superblock on or off by `SSE + lambda * bits` with the real flag
//! rates and the real filtered samples, the coefficients derived again from
//! the superblocks that are on, and the plane on only if the frame gains
//! once the coefficients' bits are paid.
//!
//! Statistics are kept per superblock so that a subset's normal equations
//! are a sum: with `d_k = s[+k] + s[-k] - 2 s` for tap pair `k` and
//! `t = orig - s`, `R = Σ d dᵀ`, `r = Σ d t`, and the change in SSE of
//! coefficients `q` (in 1/128) is `-2 q·r / 128 + qᵀ R q / 128²`
//! (rounding and clipping aside).

use super::syntax::{flag_ctx, write_coeff, write_luma_map};
use super::*;
use crate::dsp::alf::{classify, filter, padded, COEFF_MAX, COEFF_MIN, PAD, TRANSPOSE};
use crate::entropy::{bin_cost, BitCounter, COST_ONE_BIT};

/// The statistics take every second row: half the encoder's time for
/// them, for 0.03 % on the four stills (Y BD-rate, QP 17-42) but 0.18 % on
/// the four clips (QP 22-37; 1 = every row, to be weighed against the
/// encoder's time budget).
const STATS_ROW_STEP: usize = 2;

/// Rounds of "derive, then choose superblocks".
const ROUNDS: usize = 3;

/// Normal equations of one region (and class): `r` (n x n, row-major), `c` (n).
/// (Fixed-size: the encoder adds and copies many of them.)
#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    r: [f64; MAX_TAPS * MAX_TAPS],
    c: [f64; MAX_TAPS],
}

/// Most taps of a filter (luma).
const MAX_TAPS: usize = 12;

impl Stats {
    fn new(n: usize) -> Stats {
        Stats {
            n,
            r: [0.0; MAX_TAPS * MAX_TAPS],
            c: [0.0; MAX_TAPS],
        }
    }

    fn add(&mut self, o: &Stats) {
        self.r.iter_mut().zip(&o.r).for_each(|(a, b)| *a += b);
        self.c.iter_mut().zip(&o.c).for_each(|(a, b)| *a += b);
    }

    /// Change in SSE with integer coefficients `q` (1/128 units).
    fn delta(&self, q: &[i16]) -> f64 {
        let n = self.n;
        let q: Vec<f64> = q.iter().map(|&v| v as f64 / 128.0).collect();
        let mut quad = 0.0;
        for i in 0..n {
            let row: f64 = (0..n).map(|j| self.r[i * n + j] * q[j]).sum();
            quad += q[i] * row;
        }
        quad - 2.0 * (0..n).map(|i| q[i] * self.c[i]).sum::<f64>()
    }

    /// The least change in SSE real coefficients reach (0 when singular).
    fn best_real(&self) -> f64 {
        self.solve()
            .map_or(0.0, |x| -(0..self.n).map(|i| x[i] * self.c[i]).sum::<f64>())
    }

    /// The least-squares coefficients (real), or `None` when singular.
    fn solve(&self) -> Option<Vec<f64>> {
        let n = self.n;
        let mut a = self.r;
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        if trace <= 0.0 {
            return None;
        }
        // A little regularisation keeps flat regions' matrices definite.
        for i in 0..n {
            a[i * n + i] += 1e-4 * trace / n as f64 + 1e-3;
        }
        // Cholesky: a = L Lᵀ, L in the lower triangle.
        for j in 0..n {
            let mut s = a[j * n + j];
            for k in 0..j {
                s -= a[j * n + k] * a[j * n + k];
            }
            if s <= 0.0 {
                return None;
            }
            let d = s.sqrt();
            a[j * n + j] = d;
            for i in j + 1..n {
                let mut s = a[i * n + j];
                for k in 0..j {
                    s -= a[i * n + k] * a[j * n + k];
                }
                a[i * n + j] = s / d;
            }
        }
        let mut x = self.c[..n].to_vec();
        for i in 0..n {
            for k in 0..i {
                x[i] -= a[i * n + k] * x[k];
            }
            x[i] /= a[i * n + i];
        }
        for i in (0..n).rev() {
            for k in i + 1..n {
                x[i] -= a[k * n + i] * x[k];
            }
            x[i] /= a[i * n + i];
        }
        Some(x)
    }

    /// Quantised coefficients (0 when singular): rounded, then (`refine`)
    /// improved one step at a time while a ±1 change of one coefficient
    /// lowers the SSE.
    fn quantised(&self, refine: bool) -> Vec<i16> {
        let Some(x) = self.solve() else {
            return vec![0; self.n];
        };
        let mut q: Vec<i16> = x
            .iter()
            .map(|&v| {
                (v * 128.0)
                    .round()
                    .clamp(COEFF_MIN as f64, COEFF_MAX as f64) as i16
            })
            .collect();
        if !refine {
            return q;
        }
        let mut best = self.delta(&q);
        for _ in 0..4 {
            let mut improved = false;
            for k in 0..q.len() {
                for step in [-1i16, 1] {
                    let v = q[k] + step;
                    if !(COEFF_MIN..=COEFF_MAX).contains(&v) {
                        continue;
                    }
                    let old = q[k];
                    q[k] = v;
                    let d = self.delta(&q);
                    if d < best {
                        best = d;
                        improved = true;
                    } else {
                        q[k] = old;
                    }
                }
            }
            if !improved {
                break;
            }
        }
        q
    }
}

/// Per-superblock, per-class statistics of plane `p` (`classes`: the
/// luma class map of the whole plane, 4x4 blocks; `None`: one class),
/// the luma differences permuted by each block's transpose.
#[allow(clippy::too_many_arguments)]
fn plane_stats(
    orig: &[u16],
    src: &[u16],
    classes: Option<&[u8]>,
    p: usize,
    w: usize,
    h: usize,
    cols: usize,
) -> Vec<Vec<Stats>> {
    let taps = taps(p);
    let n = taps.len();
    let nclass = if classes.is_some() { CLASSES } else { 1 };
    debug_assert!(n <= MAX_TAPS);
    let stride = w + 2 * PAD;
    let offsets: Vec<isize> = taps
        .iter()
        .map(|&(dy, dx)| dy as isize * stride as isize + dx as isize)
        .collect();
    let count = cols * h.div_ceil(if p == 0 { SB } else { SB / 2 });
    // Per superblock: its samples sorted by class (counting sort), then per
    // class the differences per (permuted) tap and the targets, multiplied
    // as i16 pairs in runs short enough for i32 sums (256 products of at
    // most 2046 * 2046).
    let area = if p == 0 { SB * SB } else { SB * SB / 4 };
    let mut d = vec![0i16; n * area];
    let mut t = vec![0i16; area];
    let mut order = vec![0u32; area];
    let dot = |a: &[i16], b: &[i16]| -> i64 {
        a.chunks(256)
            .zip(b.chunks(256))
            .map(|(u, v)| {
                u.iter()
                    .zip(v)
                    .map(|(&x, &y)| x as i32 * y as i32)
                    .sum::<i32>() as i64
            })
            .sum()
    };
    let class_at = |x: usize, y: usize| classes.map_or(0, |m| m[(y / 4) * (w / 4) + x / 4]);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let (x0, y0, x1, y1) = sb_rect(p, w, h, cols, i);
        let mut start = [0usize; CLASSES + 1];
        for y in (y0..y1).step_by(STATS_ROW_STEP) {
            for x in x0..x1 {
                start[(class_at(x, y) >> 2) as usize + 1] += 1;
            }
        }
        for c in 0..CLASSES {
            start[c + 1] += start[c];
        }
        let mut next = start;
        for y in (y0..y1).step_by(STATS_ROW_STEP) {
            for x in x0..x1 {
                let c = (class_at(x, y) >> 2) as usize;
                order[next[c]] = (y << 16 | x) as u32;
                next[c] += 1;
            }
        }
        let total = start[CLASSES];
        for (j, &at) in order[..total].iter().enumerate() {
            let (x, y) = ((at & 0xffff) as usize, (at >> 16) as usize);
            let c = (y + PAD) * stride + x + PAD;
            let cur = src[c] as i32;
            let perm = &TRANSPOSE[(class_at(x, y) & 3) as usize];
            for (k, &o) in offsets.iter().enumerate() {
                let a = src[c.wrapping_add_signed(o)] as i32;
                let b = src[c.wrapping_add_signed(-o)] as i32;
                d[perm[k] * area + j] = (a + b - 2 * cur) as i16;
            }
            t[j] = (orig[y * w + x] as i32 - cur) as i16;
        }
        let mut per_class = Vec::with_capacity(nclass);
        for c in 0..nclass {
            let (s0, s1) = (start[c], start[c + 1]);
            let mut st = Stats::new(n);
            if s1 > s0 {
                for a in 0..n {
                    let da = &d[a * area + s0..a * area + s1];
                    for b in a..n {
                        let v = dot(da, &d[b * area + s0..b * area + s1]) as f64;
                        st.r[a * n + b] = v;
                        st.r[b * n + a] = v;
                    }
                    st.c[a] = dot(da, &t[s0..s1]) as f64;
                }
            }
            per_class.push(st);
        }
        out.push(per_class);
    }
    out
}

/// Bits of a plane's switch, luma filter map and coefficients.
fn coeff_bits(p: usize, q: &[i16], map: &[u8; CLASSES]) -> f64 {
    let mut bc = BitCounter::default();
    bc.bypass(true);
    if p == 0 {
        write_luma_map(&mut bc, q.len() / 12, map);
    }
    for &c in q {
        write_coeff(&mut bc, c);
    }
    bc.cost as f64 / COST_ONE_BIT as f64
}

/// The real change in SSE of each superblock of plane `p` when filtered
/// with `sets` (per 4x4 block by `blocks`, the whole plane's map); the
/// statistics' estimate leaves out the rounding of each output sample,
/// which matters at high quality.
#[allow(clippy::too_many_arguments)]
fn sse_deltas(
    orig: &[u16],
    rec: &[u16],
    src: &[u16],
    p: usize,
    w: usize,
    h: usize,
    cols: usize,
    sets: &[i16],
    blocks: Option<&[u8]>,
    bit_depth: u32,
    cpu: CpuLevel,
) -> Vec<f64> {
    let mut out = rec.to_vec();
    filter(
        src,
        &mut out,
        w,
        (0, 0, w, h),
        taps(p),
        sets,
        blocks,
        bit_depth,
        cpu,
    );
    let count = cols * h.div_ceil(if p == 0 { SB } else { SB / 2 });
    (0..count)
        .map(|i| {
            let (x0, y0, x1, y1) = sb_rect(p, w, h, cols, i);
            let mut d = 0i64;
            for y in y0..y1 {
                for x in y * w + x0..y * w + x1 {
                    let (o, a, b) = (orig[x] as i64, rec[x] as i64, out[x] as i64);
                    d += (o - b) * (o - b) - (o - a) * (o - a);
                }
            }
            d as f64
        })
        .collect()
}

/// Superblock flags for SSE changes `deltas` and the frame's cost change
/// (SSE change + lambda * bits of the flags, plus `bits` for the rest).
fn choose(deltas: &[f64], bits: f64, lambda: f64, cols: usize) -> (Vec<bool>, f64) {
    let mut ctx = [Context::default(); 3];
    let mut flags = vec![false; deltas.len()];
    let mut total = lambda * bits;
    for i in 0..deltas.len() {
        let ci = flag_ctx(&flags, cols, i);
        let bits = |bin| bin_cost(&ctx[ci], bin) as f64 / COST_ONE_BIT as f64;
        let on = deltas[i] + lambda * bits(true);
        let off = lambda * bits(false);
        flags[i] = on < off;
        total += on.min(off);
        ctx[ci].update(flags[i]);
    }
    (flags, total)
}

/// Merged classes: members (the first names the group) and their statistics.
type Groups = Vec<(Vec<usize>, Stats)>;

/// A plane's choice: cost change, coefficients, luma class map, superblock flags.
type Choice = (f64, Vec<i16>, [u8; CLASSES], Vec<bool>);

/// Luma filters for class statistics `classes`: the classes merged
/// greedily, two at a time, by the least loss of the best real filters;
/// of every count of filters, the one whose rounded filters cost least
/// (`SSE + lambda * bits`). Returns the filters (refined) and class map.
fn merge_classes(classes: &[Stats], lambda: f64) -> (Vec<i16>, [u8; CLASSES]) {
    let mut groups: Vec<(Vec<usize>, Stats)> = classes
        .iter()
        .enumerate()
        .map(|(c, s)| (vec![c], *s))
        .collect();
    let mut err: Vec<f64> = groups.iter().map(|g| g.1.best_real()).collect();
    let mut best: Option<(f64, Groups)> = None;
    // Groups are named by their first class, which merging keeps.
    let mut pair: std::collections::HashMap<(usize, usize), f64> = Default::default();
    loop {
        let mut map = [0u8; CLASSES];
        let mut q = Vec::new();
        let mut sse = 0.0;
        for (i, (members, st)) in groups.iter().enumerate() {
            members.iter().for_each(|&c| map[c] = i as u8);
            let f = st.quantised(false);
            sse += st.delta(&f);
            q.extend(f);
        }
        let cost = sse + lambda * coeff_bits(0, &q, &map);
        if best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((cost, groups.clone()));
        }
        if groups.len() == 1 {
            break;
        }
        // The least loss of each pair (i < j), kept between merges: only
        // the pairs of the merged group change.
        let mut pick = (f64::INFINITY, 0, 0);
        for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                let e = *pair
                    .entry((groups[i].0[0], groups[j].0[0]))
                    .or_insert_with(|| {
                        let mut m = groups[i].1;
                        m.add(&groups[j].1);
                        m.best_real()
                    });
                let loss = e - err[i] - err[j];
                if loss < pick.0 {
                    pick = (loss, i, j);
                }
            }
        }
        let (_, i, j) = pick;
        let (members, st) = groups.remove(j);
        err.remove(j);
        groups[i].0.extend(members);
        groups[i].1.add(&st);
        err[i] = groups[i].1.best_real();
        let first = groups[i].0[0];
        pair.retain(|&(a, b), _| a != first && b != first);
    }
    let groups = best.expect("one count at least").1;
    let mut map = [0u8; CLASSES];
    let mut q = Vec::new();
    for (i, (members, st)) in groups.iter().enumerate() {
        members.iter().for_each(|&c| map[c] = i as u8);
        q.extend(st.quantised(true));
    }
    (q, map)
}

/// The encoder's filter for `recon` against `orig` (both at the coded
/// size): per plane, on where it lowers `SSE + lambda * bits` (`lambda`
/// per plane).
pub(crate) fn derive(orig: &Frame, recon: &Frame, lambda: [f64; 3], cpu: CpuLevel) -> AlfFrame {
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    let bd = recon.bit_depth as u32;
    let mut f = AlfFrame::default();
    for p in 0..3 {
        let (o, r) = (&orig.planes[p], &recon.planes[p]);
        let (w, h) = (r.width, r.height);
        let src = padded(&r.data, w, h);
        let classes = (p == 0).then(|| {
            let mut m = vec![0u8; (w / 4) * (h / 4)];
            classify(&src, w, (0, 0, w, h), bd, &mut m, cpu);
            m
        });
        let stats = plane_stats(&o.data, &src, classes.as_deref(), p, w, h, cols);
        let lambda = lambda[p];
        let mut on = vec![true; stats.len()];
        let mut best: Option<Choice> = None;
        for _ in 0..ROUNDS {
            let mut sum = vec![Stats::new(taps(p).len()); stats[0].len()];
            for (sb, _) in stats.iter().zip(&on).filter(|(_, &b)| b) {
                sum.iter_mut().zip(sb).for_each(|(a, b)| a.add(b));
            }
            // Classes are merged in the first round; later rounds derive
            // the same filters again from the superblocks that are on.
            let (q, map) = match &best {
                _ if p > 0 => (sum[0].quantised(true), [0; CLASSES]),
                None => merge_classes(&sum, lambda),
                Some((_, q, map, _)) => {
                    let mut groups = vec![Stats::new(12); q.len() / 12];
                    for (c, st) in sum.iter().enumerate() {
                        groups[map[c] as usize].add(st);
                    }
                    (
                        groups.iter().flat_map(|g| g.quantised(true)).collect(),
                        *map,
                    )
                }
            };
            let sets = if p == 0 {
                luma_sets(&q, &map)
            } else {
                q.clone()
            };
            let deltas = sse_deltas(
                &o.data,
                &r.data,
                &src,
                p,
                w,
                h,
                cols,
                &sets,
                classes.as_deref(),
                bd,
                cpu,
            );
            let (flags, total) = choose(&deltas, coeff_bits(p, &q, &map), lambda, cols);
            if best.as_ref().is_some_and(|b| b.0 <= total) || !flags.contains(&true) {
                break;
            }
            on = flags.clone();
            best = Some((total, q, map, flags));
        }
        // Off, the plane costs its switch: one bin.
        if let Some((_, q, map, flags)) = best.filter(|b| b.0 < lambda) {
            f.coeffs[p] = Some(q);
            f.sb[p] = flags;
            if p == 0 {
                f.luma_map = map;
            }
        }
    }
    f
}
