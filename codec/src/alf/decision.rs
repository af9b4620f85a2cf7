//! The encoder's derivation of the adaptive loop filter: per plane, the
//! least-squares (Wiener) coefficients of the filter input against the
//! source, quantised, then per superblock on or off by
//! `SSE + lambda * bits` with the real flag rates, the coefficients derived
//! again from the superblocks that are on, and the plane on only if the
//! frame gains once the coefficients' bits are paid.
//!
//! Statistics are kept per superblock so that a subset's normal equations
//! are a sum: with `d_k = s[+k] + s[-k] - 2 s` for tap pair `k` and
//! `t = orig - s`, `R = Σ d dᵀ`, `r = Σ d t`, and the change in SSE of
//! coefficients `q` (in 1/128) is `-2 q·r / 128 + qᵀ R q / 128²`
//! (rounding and clipping aside).

use super::syntax::{flag_ctx, write_coeff};
use super::*;
use crate::dsp::alf::{filter, padded, COEFF_MAX, COEFF_MIN, PAD};
use crate::entropy::{bin_cost, BitCounter, COST_ONE_BIT};

/// Rounds of "derive, then choose superblocks".
const ROUNDS: usize = 3;

/// Normal equations of one region: `r` (n x n, row-major), `c` (n).
#[derive(Clone)]
struct Stats {
    n: usize,
    r: Vec<f64>,
    c: Vec<f64>,
}

impl Stats {
    fn new(n: usize) -> Stats {
        Stats {
            n,
            r: vec![0.0; n * n],
            c: vec![0.0; n],
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

    /// The least-squares coefficients (real), or `None` when singular.
    fn solve(&self) -> Option<Vec<f64>> {
        let n = self.n;
        let mut a = self.r.clone();
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
        let mut x = self.c.clone();
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

    /// Quantised coefficients: rounded, then improved one step at a time
    /// while a ±1 change of one coefficient lowers the SSE.
    fn quantised(&self) -> Option<Vec<i16>> {
        let x = self.solve()?;
        let mut q: Vec<i16> = x
            .iter()
            .map(|&v| (v * 128.0).round().clamp(COEFF_MIN as f64, COEFF_MAX as f64) as i16)
            .collect();
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
        Some(q)
    }
}

/// Per-superblock statistics of plane `p`.
fn plane_stats(orig: &[u16], src: &[u16], p: usize, w: usize, h: usize, cols: usize) -> Vec<Stats> {
    let taps = taps(p);
    let n = taps.len();
    let stride = w + 2 * PAD;
    let offsets: Vec<isize> = taps
        .iter()
        .map(|&(dy, dx)| dy as isize * stride as isize + dx as isize)
        .collect();
    let count = cols * h.div_ceil(if p == 0 { SB } else { SB / 2 });
    let mut out = Vec::with_capacity(count);
    let s = if p == 0 { SB } else { SB / 2 };
    // One row of a superblock: differences per tap, then target.
    let mut d = vec![[0i32; 64]; n];
    let mut t = [0i32; 64];
    for i in 0..count {
        let (x0, y0, x1, y1) = sb_rect(p, w, h, cols, i);
        let len = x1 - x0;
        debug_assert!(len <= s);
        let mut rr = vec![0i64; n * n];
        let mut cc = vec![0i64; n];
        for y in y0..y1 {
            let row = (y + PAD) * stride + PAD;
            for x in 0..len {
                let c = row + x0 + x;
                let cur = src[c] as i32;
                for (k, &o) in offsets.iter().enumerate() {
                    let a = src[c.wrapping_add_signed(o)] as i32;
                    let b = src[c.wrapping_add_signed(-o)] as i32;
                    d[k][x] = a + b - 2 * cur;
                }
                t[x] = orig[y * w + x0 + x] as i32 - cur;
            }
            // Row sums stay within i32: 64 products of at most 2046 * 2046.
            for a in 0..n {
                for b in a..n {
                    let s: i32 = d[a][..len].iter().zip(&d[b][..len]).map(|(u, v)| u * v).sum();
                    rr[a * n + b] += s as i64;
                }
                let s: i32 = d[a][..len].iter().zip(&t[..len]).map(|(u, v)| u * v).sum();
                cc[a] += s as i64;
            }
        }
        let mut st = Stats::new(n);
        for a in 0..n {
            for b in a..n {
                st.r[a * n + b] = rr[a * n + b] as f64;
                st.r[b * n + a] = rr[a * n + b] as f64;
            }
            st.c[a] = cc[a] as f64;
        }
        out.push(st);
    }
    out
}

/// Bits of a plane's switch and coefficients.
fn coeff_bits(q: &[i16]) -> f64 {
    let mut bc = BitCounter::default();
    bc.bypass(true);
    for &c in q {
        write_coeff(&mut bc, c);
    }
    bc.cost as f64 / COST_ONE_BIT as f64
}

/// The real change in SSE of each superblock of plane `p` when filtered
/// with `q` (the statistics' estimate leaves out the rounding of each
/// output sample, which matters at high quality).
#[allow(clippy::too_many_arguments)]
fn sse_deltas(
    orig: &[u16],
    rec: &[u16],
    src: &[u16],
    p: usize,
    w: usize,
    h: usize,
    cols: usize,
    q: &[i16],
    bit_depth: u32,
    cpu: CpuLevel,
) -> Vec<f64> {
    let mut out = rec.to_vec();
    filter(src, &mut out, w, (0, 0, w, h), taps(p), q, bit_depth, cpu);
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

/// Superblock flags for coefficients `q` and the frame's cost change
/// (SSE change + lambda * bits of flags, switch and coefficients).
fn choose(deltas: &[f64], q: &[i16], lambda: f64, cols: usize) -> (Vec<bool>, f64) {
    let mut ctx = [Context::default(); 3];
    let mut flags = vec![false; deltas.len()];
    let mut total = lambda * coeff_bits(q);
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

/// The encoder's filter for `recon` against `orig` (both at the coded
/// size): per plane, on where it lowers `SSE + lambda * bits` (`lambda`:
/// per plane).
pub(crate) fn derive(orig: &Frame, recon: &Frame, lambda: [f64; 3], cpu: CpuLevel) -> AlfFrame {
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    let mut f = AlfFrame::default();
    for p in 0..3 {
        let (o, r) = (&orig.planes[p], &recon.planes[p]);
        let (w, h) = (r.width, r.height);
        let src = padded(&r.data, w, h);
        let stats = plane_stats(&o.data, &src, p, w, h, cols);
        let bd = recon.bit_depth as u32;
        let lambda = lambda[p];
        let mut on = vec![true; stats.len()];
        // The plane off costs its switch: one bin.
        let mut best: Option<(f64, Vec<i16>, Vec<bool>)> = None;
        for _ in 0..ROUNDS {
            let mut sum = Stats::new(taps(p).len());
            for (s, _) in stats.iter().zip(&on).filter(|(_, &b)| b) {
                sum.add(s);
            }
            let Some(q) = sum.quantised() else {
                break;
            };
            let deltas = sse_deltas(&o.data, &r.data, &src, p, w, h, cols, &q, bd, cpu);
            let (flags, total) = choose(&deltas, &q, lambda, cols);
            if best.as_ref().is_some_and(|b| b.0 <= total) || !flags.contains(&true) {
                break;
            }
            on = flags.clone();
            best = Some((total, q, flags));
        }
        if let Some((total, q, flags)) = best {
            if total < lambda {
                f.coeffs[p] = Some(q);
                f.sb[p] = flags;
            }
        }
    }
    f
}
