//! Bjøntegaard deltas with piecewise cubic Hermite interpolation (PCHIP).
//!
//! * BD-rate: log10(rate) as a function of PSNR, interpolated with PCHIP
//!   (Fritsch–Carlson interior slopes, SciPy's shape-preserving end slopes,
//!   exactly as `scipy.interpolate.PchipInterpolator`), integrated
//!   analytically over the PSNR interval both curves cover. The result is
//!   `(10^(mean log-rate difference) - 1) * 100` percent; negative means the
//!   test curve needs fewer bits for the same quality.
//! * BD-PSNR (BD-quality): the mirror image, PSNR as a function of
//!   log10(rate), integrated over the log-rate interval both curves cover;
//!   the mean difference test − anchor in dB (or in the metric's unit).

use std::fmt;

/// Why a Bjøntegaard delta could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum BdError {
    /// A curve has fewer than two points.
    TooFewPoints(usize),
    /// Two points of one curve have the same abscissa (after sorting).
    DuplicateAbscissa(f64),
    /// A rate or quality value is not finite, or a rate is not positive.
    BadValue(f64),
    /// The two curves do not overlap on the integration axis.
    NoOverlap {
        /// Anchor interval.
        anchor: (f64, f64),
        /// Test interval.
        test: (f64, f64),
    },
}

impl fmt::Display for BdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BdError::TooFewPoints(n) => {
                write!(f, "a curve has {n} point(s); at least 2 are needed")
            }
            BdError::DuplicateAbscissa(x) => {
                write!(f, "two points of one curve share the value {x}; interpolation needs distinct values")
            }
            BdError::BadValue(v) => write!(
                f,
                "value {v} is not usable (rates must be > 0, all values finite)"
            ),
            BdError::NoOverlap { anchor, test } => write!(
                f,
                "the curves do not overlap: anchor covers {:.4}..{:.4}, test covers {:.4}..{:.4}",
                anchor.0, anchor.1, test.0, test.1
            ),
        }
    }
}

impl std::error::Error for BdError {}

/// A shape-preserving piecewise cubic Hermite interpolant (SciPy's `PchipInterpolator`).
#[derive(Debug, Clone)]
pub struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    d: Vec<f64>,
}

impl Pchip {
    /// Builds the interpolant through `(x, y)`; the points are sorted by `x`, which must be distinct.
    pub fn new(points: &[(f64, f64)]) -> Result<Pchip, BdError> {
        if points.len() < 2 {
            return Err(BdError::TooFewPoints(points.len()));
        }
        for &(x, y) in points {
            if !x.is_finite() {
                return Err(BdError::BadValue(x));
            }
            if !y.is_finite() {
                return Err(BdError::BadValue(y));
            }
        }
        let mut p = points.to_vec();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in p.windows(2) {
            if w[1].0 <= w[0].0 {
                return Err(BdError::DuplicateAbscissa(w[0].0));
            }
        }
        let x: Vec<f64> = p.iter().map(|q| q.0).collect();
        let y: Vec<f64> = p.iter().map(|q| q.1).collect();
        let d = pchip_slopes(&x, &y);
        Ok(Pchip { x, y, d })
    }

    /// The interval the data covers.
    pub fn domain(&self) -> (f64, f64) {
        (self.x[0], *self.x.last().unwrap())
    }

    /// Index of the interval holding `t` (clamped to the data's intervals).
    fn interval(&self, t: f64) -> usize {
        let n = self.x.len();
        match self.x.partition_point(|&xi| xi <= t) {
            0 => 0,
            k if k >= n => n - 2,
            k => k - 1,
        }
    }

    /// Coefficients of the cubic on interval `k` in powers of (t - x_k).
    fn coeffs(&self, k: usize) -> [f64; 4] {
        let h = self.x[k + 1] - self.x[k];
        let delta = (self.y[k + 1] - self.y[k]) / h;
        let (d0, d1) = (self.d[k], self.d[k + 1]);
        let c2 = (3.0 * delta - 2.0 * d0 - d1) / h;
        let c3 = (d0 + d1 - 2.0 * delta) / (h * h);
        [self.y[k], d0, c2, c3]
    }

    /// The interpolant's value at `t` (extrapolates with the end cubics outside the data).
    pub fn eval(&self, t: f64) -> f64 {
        let k = self.interval(t);
        let [a, b, c, d] = self.coeffs(k);
        let s = t - self.x[k];
        a + s * (b + s * (c + s * d))
    }

    /// The exact integral of the interpolant from `a` to `b` (`a <= b`, both inside the domain).
    pub fn integrate(&self, a: f64, b: f64) -> f64 {
        let mut total = 0.0;
        for k in 0..self.x.len() - 1 {
            let lo = a.max(self.x[k]);
            let hi = b.min(self.x[k + 1]);
            if hi <= lo {
                continue;
            }
            let c = self.coeffs(k);
            let prim = |s: f64| s * (c[0] + s * (c[1] / 2.0 + s * (c[2] / 3.0 + s * c[3] / 4.0)));
            total += prim(hi - self.x[k]) - prim(lo - self.x[k]);
        }
        total
    }
}

/// Fritsch–Carlson slopes with SciPy's end conditions (`PchipInterpolator._find_derivatives`).
fn pchip_slopes(x: &[f64], y: &[f64]) -> Vec<f64> {
    let n = x.len();
    let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let m: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
    if n == 2 {
        return vec![m[0], m[0]];
    }
    let mut d = vec![0.0; n];
    for k in 1..n - 1 {
        let (m0, m1) = (m[k - 1], m[k]);
        if m0 == 0.0 || m1 == 0.0 || m0.signum() != m1.signum() {
            d[k] = 0.0;
        } else {
            let w1 = 2.0 * h[k] + h[k - 1];
            let w2 = h[k] + 2.0 * h[k - 1];
            d[k] = (w1 + w2) / (w1 / m0 + w2 / m1);
        }
    }
    d[0] = edge_slope(h[0], h[1], m[0], m[1]);
    d[n - 1] = edge_slope(h[n - 2], h[n - 3], m[n - 2], m[n - 3]);
    d
}

/// SciPy's one-sided three-point end slope, made shape preserving.
fn edge_slope(h0: f64, h1: f64, m0: f64, m1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    let sign = |v: f64| {
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    if sign(d) != sign(m0) {
        0.0
    } else if sign(m0) != sign(m1) && d.abs() > 3.0 * m0.abs() {
        3.0 * m0
    } else {
        d
    }
}

/// One rate-quality point: rate in any unit (kbit/s, bytes, bpp), quality in dB or any metric.
pub type RdPoint = (f64, f64);

/// The result of a Bjøntegaard comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BdResult {
    /// The delta: percent for BD-rate, metric units for BD-PSNR.
    pub value: f64,
    /// The interval (quality for BD-rate, log10 rate for BD-PSNR) integrated over.
    pub interval: (f64, f64),
}

fn check_rates(points: &[RdPoint]) -> Result<(), BdError> {
    for &(r, q) in points {
        if !(r.is_finite() && r > 0.0) {
            return Err(BdError::BadValue(r));
        }
        if !q.is_finite() {
            return Err(BdError::BadValue(q));
        }
    }
    Ok(())
}

fn mean_difference(anchor: &Pchip, test: &Pchip) -> Result<(f64, (f64, f64)), BdError> {
    let (a0, a1) = anchor.domain();
    let (t0, t1) = test.domain();
    let lo = a0.max(t0);
    let hi = a1.min(t1);
    if hi <= lo {
        return Err(BdError::NoOverlap {
            anchor: (a0, a1),
            test: (t0, t1),
        });
    }
    let diff = (test.integrate(lo, hi) - anchor.integrate(lo, hi)) / (hi - lo);
    Ok((diff, (lo, hi)))
}

/// BD-rate in percent of `test` against `anchor` (points are `(rate, quality)`).
pub fn bd_rate(anchor: &[RdPoint], test: &[RdPoint]) -> Result<BdResult, BdError> {
    check_rates(anchor)?;
    check_rates(test)?;
    let curve =
        |p: &[RdPoint]| Pchip::new(&p.iter().map(|&(r, q)| (q, r.log10())).collect::<Vec<_>>());
    let (diff, interval) = mean_difference(&curve(anchor)?, &curve(test)?)?;
    Ok(BdResult {
        value: (10f64.powf(diff) - 1.0) * 100.0,
        interval,
    })
}

/// BD-PSNR (or BD of any quality metric) of `test` against `anchor`: mean quality difference at equal rate.
pub fn bd_quality(anchor: &[RdPoint], test: &[RdPoint]) -> Result<BdResult, BdError> {
    check_rates(anchor)?;
    check_rates(test)?;
    let curve =
        |p: &[RdPoint]| Pchip::new(&p.iter().map(|&(r, q)| (r.log10(), q)).collect::<Vec<_>>());
    let (diff, interval) = mean_difference(&curve(anchor)?, &curve(test)?)?;
    Ok(BdResult {
        value: diff,
        interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_cubic_data_exactly_where_pchip_does() {
        // Linear data: PCHIP is exact, including at the ends.
        let p = Pchip::new(&[(0.0, 1.0), (1.0, 3.0), (3.0, 7.0), (4.0, 9.0)]).unwrap();
        for t in [0.0, 0.5, 1.7, 3.9, 4.0] {
            assert!((p.eval(t) - (1.0 + 2.0 * t)).abs() < 1e-12);
        }
        // ∫0..4 (1+2t) dt = 4 + 16 = 20
        assert!((p.integrate(0.0, 4.0) - 20.0).abs() < 1e-12);
        assert!((p.integrate(0.5, 2.5) - (2.0 + (6.25 - 0.25))).abs() < 1e-12);
    }

    #[test]
    fn interpolates_and_preserves_monotonicity() {
        let pts = [(0.0, 0.0), (1.0, 0.1), (2.0, 5.0), (3.0, 5.1), (5.0, 9.0)];
        let p = Pchip::new(&pts).unwrap();
        for &(x, y) in &pts {
            assert!((p.eval(x) - y).abs() < 1e-12);
        }
        let mut prev = f64::NEG_INFINITY;
        for i in 0..=500 {
            let v = p.eval(i as f64 * 0.01);
            assert!(v >= prev - 1e-12, "not monotone at {i}");
            prev = v;
        }
        // Flat step: slope zero at a local extremum.
        let q = Pchip::new(&[(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]).unwrap();
        assert_eq!(q.d[1], 0.0);
    }

    #[test]
    fn integral_matches_numeric_quadrature() {
        let p = Pchip::new(&[
            (30.0, 2.0),
            (33.0, 2.3),
            (36.5, 2.75),
            (40.0, 3.4),
            (44.0, 3.9),
        ])
        .unwrap();
        let (a, b) = (31.3, 42.1);
        let n = 200_000;
        let h = (b - a) / n as f64;
        let simpson: f64 = (0..n)
            .map(|i| {
                let x0 = a + i as f64 * h;
                (p.eval(x0) + 4.0 * p.eval(x0 + h / 2.0) + p.eval(x0 + h)) * h / 6.0
            })
            .sum();
        assert!((p.integrate(a, b) - simpson).abs() < 1e-9);
    }

    #[test]
    fn identical_curves_give_zero_and_scaled_rates_give_the_scale() {
        let a = [(100.0, 30.0), (200.0, 33.0), (400.0, 36.0), (800.0, 39.0)];
        assert!(bd_rate(&a, &a).unwrap().value.abs() < 1e-12);
        assert!(bd_quality(&a, &a).unwrap().value.abs() < 1e-12);
        let half: Vec<_> = a.iter().map(|&(r, q)| (r * 0.5, q)).collect();
        assert!((bd_rate(&a, &half).unwrap().value + 50.0).abs() < 1e-9);
        let better: Vec<_> = a.iter().map(|&(r, q)| (r, q + 1.25)).collect();
        let r = bd_quality(&a, &better).unwrap();
        assert!((r.value - 1.25).abs() < 1e-9);
        // Swapping roles inverts the rate ratio.
        assert!((bd_rate(&half, &a).unwrap().value - 100.0).abs() < 1e-9);
    }

    #[test]
    fn errors_are_reported() {
        let a = [(100.0, 30.0), (200.0, 33.0)];
        assert_eq!(bd_rate(&a, &a[..1]), Err(BdError::TooFewPoints(1)));
        let far = [(100.0, 40.0), (200.0, 43.0)];
        assert!(matches!(bd_rate(&a, &far), Err(BdError::NoOverlap { .. })));
        assert!(matches!(
            bd_rate(&a, &[(0.0, 31.0), (5.0, 32.0)]),
            Err(BdError::BadValue(_))
        ));
        assert!(matches!(
            bd_rate(&a, &[(10.0, 31.0), (5.0, 31.0)]),
            Err(BdError::DuplicateAbscissa(_))
        ));
    }
}
