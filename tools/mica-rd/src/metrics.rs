//! Quality metrics computed by the tool itself on 8- and 10-bit 4:2:0 frames:
//! PSNR per plane, weighted PSNR-YUV, and MS-SSIM on luma.
//!
//! * PSNR of a plane = 10·log10(peak² / MSE), peak = 2^depth - 1 of the source
//!   (255 at 8 bits, 1023 at 10); a plane decoded without any error
//!   (MSE = 0) is given [`PSNR_CAP`] dB so that means stay finite.
//! * PSNR-YUV of a frame = (wY·PSNR_Y + wU·PSNR_U + wV·PSNR_V) / (wY + wU + wV):
//!   a weighted mean of the plane PSNRs (the JVET/AV2 common-test-conditions
//!   convention), with weights 6:1:1 by default and 4:1:1 on request.
//! * MS-SSIM: Wang, Simoncelli & Bovik (2003), 5 scales, 11×11 Gaussian window
//!   with σ = 1.5 (normalised, "valid" filtering: no padding), K1 = 0.01,
//!   K2 = 0.03, L = peak, exponents 0.0448/0.2856/0.3001/0.2363/0.1333, 2×2
//!   average then decimation between scales (as the authors' `msssim.m`).
//!   Negative contrast-structure terms are clamped to 0 before the powers (as
//!   TensorFlow's `ssim_multiscale`). A plane smaller than 176 samples on a
//!   side has no 5th scale; its MS-SSIM is reported as NaN.

use mica::{Frame, Plane};

/// PSNR given to a plane with no error at all.
pub const PSNR_CAP: f64 = 100.0;

/// Plane weights for PSNR-YUV.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuvWeights(pub [f64; 3]);

impl YuvWeights {
    /// 6:1:1, the default.
    pub const W611: YuvWeights = YuvWeights([6.0, 1.0, 1.0]);

    /// Parses `6:1:1`, `4:1:1` or any `a:b:c` of non-negative numbers with a positive sum.
    pub fn parse(s: &str) -> Result<YuvWeights, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || format!("'{s}' is not a weight triple like 6:1:1 or 4:1:1");
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut w = [0.0; 3];
        for (i, p) in parts.iter().enumerate() {
            w[i] = p.trim().parse::<f64>().map_err(|_| bad())?;
            if !(w[i] >= 0.0 && w[i].is_finite()) {
                return Err(bad());
            }
        }
        if w.iter().sum::<f64>() <= 0.0 {
            return Err(bad());
        }
        Ok(YuvWeights(w))
    }

    /// Short label, e.g. `6:1:1`.
    pub fn label(&self) -> String {
        let f = |v: f64| {
            if v.fract() == 0.0 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        };
        format!("{}:{}:{}", f(self.0[0]), f(self.0[1]), f(self.0[2]))
    }

    /// Weighted mean of the three plane PSNRs.
    pub fn combine(&self, psnr: [f64; 3]) -> f64 {
        let w = self.0;
        (w[0] * psnr[0] + w[1] * psnr[1] + w[2] * psnr[2]) / (w[0] + w[1] + w[2])
    }
}

/// Sum of squared differences of two planes of the same size.
pub fn sse(a: &Plane, b: &Plane) -> u64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| (x as i64 - y as i64).pow(2) as u64)
        .sum()
}

/// PSNR in dB for a mean squared error on 8-bit samples (capped at [`PSNR_CAP`]).
pub fn psnr_from_mse(mse: f64) -> f64 {
    psnr_from_mse_at(mse, 8)
}

/// PSNR in dB for a mean squared error on `bit_depth`-bit samples (peak
/// `2^bit_depth - 1`, capped at [`PSNR_CAP`]).
pub fn psnr_from_mse_at(mse: f64, bit_depth: u8) -> f64 {
    let peak = ((1u32 << bit_depth) - 1) as f64;
    if mse <= 0.0 {
        PSNR_CAP
    } else {
        (10.0 * (peak * peak / mse).log10()).min(PSNR_CAP)
    }
}

/// Metrics of one decoded frame against its source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameMetrics {
    /// Mean squared error of Y, U, V.
    pub mse: [f64; 3],
    /// PSNR of Y, U, V in dB.
    pub psnr: [f64; 3],
    /// MS-SSIM of Y (NaN when not computed or the plane is too small).
    pub msssim_y: f64,
}

/// Computes the frame's PSNRs and, if `with_msssim`, its luma MS-SSIM.
///
/// Both frames must have the same bit depth (the peak is the source's).
pub fn frame_metrics(src: &Frame, dec: &Frame, with_msssim: bool) -> FrameMetrics {
    assert_eq!(
        src.bit_depth, dec.bit_depth,
        "metrics compare frames of one depth"
    );
    let mut mse = [0.0; 3];
    let mut psnr = [0.0; 3];
    for p in 0..3 {
        let n = (src.planes[p].width * src.planes[p].height).max(1) as f64;
        mse[p] = sse(&src.planes[p], &dec.planes[p]) as f64 / n;
        psnr[p] = psnr_from_mse_at(mse[p], src.bit_depth);
    }
    let msssim_y = if with_msssim {
        ms_ssim_at(&src.planes[0], &dec.planes[0], src.bit_depth).unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    FrameMetrics {
        mse,
        psnr,
        msssim_y,
    }
}

/// Per-clip summary of per-frame metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipMetrics {
    /// Mean over frames of the per-frame PSNR of Y, U, V.
    pub psnr: [f64; 3],
    /// Mean over frames of the per-frame weighted PSNR-YUV.
    pub psnr_yuv: f64,
    /// Y PSNR of the mean MSE over all frames ("global", what ffmpeg's summary prints).
    pub psnr_y_global: f64,
    /// Mean over frames of the luma MS-SSIM.
    pub msssim_y: f64,
}

/// Averages frame metrics into clip metrics.
pub fn clip_metrics(frames: &[FrameMetrics], w: YuvWeights) -> ClipMetrics {
    let n = frames.len().max(1) as f64;
    let mean = |f: &dyn Fn(&FrameMetrics) -> f64| frames.iter().map(f).sum::<f64>() / n;
    ClipMetrics {
        psnr: [
            mean(&|m| m.psnr[0]),
            mean(&|m| m.psnr[1]),
            mean(&|m| m.psnr[2]),
        ],
        psnr_yuv: mean(&|m| w.combine(m.psnr)),
        psnr_y_global: psnr_from_mse(mean(&|m| m.mse[0])),
        msssim_y: mean(&|m| m.msssim_y),
    }
}

/// MS-SSIM expressed in dB: -10·log10(1 - v) (handy for plots at high quality).
pub fn msssim_db(v: f64) -> f64 {
    if v >= 1.0 {
        PSNR_CAP
    } else {
        -10.0 * (1.0 - v).log10()
    }
}

const MS_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WIN: usize = 11;

fn gaussian_window() -> [f64; WIN] {
    let mut w = [0.0; WIN];
    let c = (WIN / 2) as f64;
    for (i, v) in w.iter_mut().enumerate() {
        let d = i as f64 - c;
        *v = (-(d * d) / (2.0 * 1.5 * 1.5)).exp();
    }
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    w
}

/// A float image for the MS-SSIM pyramid.
struct Img {
    w: usize,
    h: usize,
    v: Vec<f64>,
}

impl Img {
    fn from_plane(p: &Plane, unit: f64) -> Img {
        Img {
            w: p.width,
            h: p.height,
            v: p.data.iter().map(|&x| x as f64 / unit).collect(),
        }
    }

    /// 2×2 mean (edge sample repeated on odd sizes), then keep every other sample.
    fn downsample(&self) -> Img {
        let (w2, h2) = (self.w.div_ceil(2), self.h.div_ceil(2));
        let mut v = Vec::with_capacity(w2 * h2);
        for y in 0..h2 {
            let (y0, y1) = (2 * y, (2 * y + 1).min(self.h - 1));
            for x in 0..w2 {
                let (x0, x1) = (2 * x, (2 * x + 1).min(self.w - 1));
                let s = self.v[y0 * self.w + x0]
                    + self.v[y0 * self.w + x1]
                    + self.v[y1 * self.w + x0]
                    + self.v[y1 * self.w + x1];
                v.push(s / 4.0);
            }
        }
        Img { w: w2, h: h2, v }
    }
}

/// Separable "valid" filtering of the five SSIM moment images at once.
/// Returns (mean SSIM, mean contrast-structure) over the valid area.
fn ssim_scale(a: &Img, b: &Img, win: &[f64; WIN]) -> (f64, f64) {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let (w, h) = (a.w, a.h);
    let ow = w - WIN + 1;
    let oh = h - WIN + 1;
    // Horizontal pass: 5 moments per output column, every input row.
    let mut hz = vec![[0.0f64; 5]; ow * h];
    for y in 0..h {
        let ra = &a.v[y * w..(y + 1) * w];
        let rb = &b.v[y * w..(y + 1) * w];
        for x in 0..ow {
            let mut m = [0.0; 5];
            for k in 0..WIN {
                let (p, q, g) = (ra[x + k], rb[x + k], win[k]);
                m[0] += g * p;
                m[1] += g * q;
                m[2] += g * p * p;
                m[3] += g * q * q;
                m[4] += g * p * q;
            }
            hz[y * ow + x] = m;
        }
    }
    let (mut ssim_sum, mut cs_sum) = (0.0, 0.0);
    for y in 0..oh {
        for x in 0..ow {
            let mut m = [0.0; 5];
            for k in 0..WIN {
                let s = &hz[(y + k) * ow + x];
                let g = win[k];
                for i in 0..5 {
                    m[i] += g * s[i];
                }
            }
            let (mx, my) = (m[0], m[1]);
            let sxx = m[2] - mx * mx;
            let syy = m[3] - my * my;
            let sxy = m[4] - mx * my;
            let cs = (2.0 * sxy + C2) / (sxx + syy + C2);
            let l = (2.0 * mx * my + C1) / (mx * mx + my * my + C1);
            cs_sum += cs;
            ssim_sum += l * cs;
        }
    }
    let n = (ow * oh) as f64;
    (ssim_sum / n, cs_sum / n)
}

/// 5-scale MS-SSIM of two 8-bit planes of the same size; `None` if a side is under 176 samples.
pub fn ms_ssim(a: &Plane, b: &Plane) -> Option<f64> {
    ms_ssim_at(a, b, 8)
}

/// [`ms_ssim`] of `bit_depth`-bit planes: L = 2^bit_depth - 1, computed on the
/// samples scaled to 8-bit units (SSIM is unchanged when the samples and L
/// scale together).
pub fn ms_ssim_at(a: &Plane, b: &Plane, bit_depth: u8) -> Option<f64> {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let unit = (1u32 << (bit_depth - 8)) as f64;
    // The 5th scale is ceil(n / 16) samples wide and needs the 11-tap window.
    if a.width.div_ceil(16) < WIN || a.height.div_ceil(16) < WIN {
        return None;
    }
    let win = gaussian_window();
    let (mut ia, mut ib) = (Img::from_plane(a, unit), Img::from_plane(b, unit));
    let mut result = 1.0;
    for (s, &wt) in MS_WEIGHTS.iter().enumerate() {
        let (ssim, cs) = ssim_scale(&ia, &ib, &win);
        if s == MS_WEIGHTS.len() - 1 {
            result *= ssim.max(0.0).powf(wt);
        } else {
            result *= cs.max(0.0).powf(wt);
            ia = ia.downsample();
            ib = ib.downsample();
        }
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Plane {
        let mut p = Plane::new(w, h);
        for y in 0..h {
            for x in 0..w {
                p.data[y * w + x] = f(x, y).into();
            }
        }
        p
    }

    /// Deterministic pseudo-random noise in -amp..=amp.
    fn noisy(p: &Plane, amp: i32, seed: u64) -> Plane {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut q = p.clone();
        for v in q.data.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let n = (s % (2 * amp as u64 + 1)) as i32 - amp;
            *v = (*v as i32 + n).clamp(0, 255) as u16;
        }
        q
    }

    fn textured(w: usize, h: usize) -> Plane {
        plane(w, h, |x, y| {
            (128.0
                + 60.0 * ((x as f64 * 0.21).sin() * (y as f64 * 0.13).cos())
                + ((x * 7 + y * 3) % 17) as f64) as u8
        })
    }

    #[test]
    fn psnr_known_values() {
        let a = plane(16, 16, |_, _| 100);
        let b = plane(16, 16, |_, _| 110); // MSE 100
        assert_eq!(sse(&a, &b), 100 * 256);
        assert!((psnr_from_mse(100.0) - 28.130_803_608_679_1).abs() < 1e-9);
        assert_eq!(psnr_from_mse(0.0), PSNR_CAP);
        // One sample off by 1 in 256: MSE = 1/256.
        let mut c = a.clone();
        c.data[5] = 101;
        let m = sse(&a, &c) as f64 / 256.0;
        assert!((psnr_from_mse(m) - (10.0 * (255.0f64 * 255.0 * 256.0).log10())).abs() < 1e-9);
    }

    /// At 10 bits the peak is 1023: an error of 4 (one 8-bit step) on every
    /// sample gives 20·log10(1023/4) dB, and frames measured at 10 bits
    /// with every sample and error four times an 8-bit pair's give about
    /// the 8-bit PSNR (peaks 1023 against 4·255) and the same MS-SSIM.
    #[test]
    fn ten_bit_peak_and_scale() {
        assert!((psnr_from_mse_at(16.0, 10) - 20.0 * (1023.0f64 / 4.0).log10()).abs() < 1e-9);
        let a8 = textured(200, 180);
        let b8 = noisy(&a8, 6, 3);
        let up = |p: &Plane| Plane {
            data: p.data.iter().map(|&v| v << 2).collect(),
            ..p.clone()
        };
        let (a10, b10) = (up(&a8), up(&b8));
        let frame = |p: &Plane, bit_depth: u8| {
            let mut f = Frame::new_420_at(p.width, p.height, bit_depth);
            f.planes[0] = p.clone();
            f
        };
        let m8 = frame_metrics(&frame(&a8, 8), &frame(&b8, 8), true);
        let m10 = frame_metrics(&frame(&a10, 10), &frame(&b10, 10), true);
        let peaks = 20.0 * (1023.0f64 / 1020.0).log10();
        assert!((m10.psnr[0] - m8.psnr[0] - peaks).abs() < 1e-9);
        assert!((m10.msssim_y - m8.msssim_y).abs() < 1e-12);
    }

    #[test]
    fn yuv_weights_parse_and_combine() {
        let w = YuvWeights::parse("6:1:1").unwrap();
        assert_eq!(w, YuvWeights::W611);
        assert!((w.combine([40.0, 48.0, 32.0]) - 40.0).abs() < 1e-12);
        let w4 = YuvWeights::parse("4:1:1").unwrap();
        assert!((w4.combine([30.0, 42.0, 36.0]) - 33.0).abs() < 1e-12);
        assert_eq!(w4.label(), "4:1:1");
        assert!(YuvWeights::parse("6:1").is_err());
        assert!(YuvWeights::parse("0:0:0").is_err());
        assert!(YuvWeights::parse("a:1:1").is_err());
    }

    #[test]
    fn clip_metrics_mean_and_global() {
        let f = |m: f64| FrameMetrics {
            mse: [m, m, m],
            psnr: [psnr_from_mse(m); 3],
            msssim_y: 0.9,
        };
        let c = clip_metrics(&[f(1.0), f(100.0)], YuvWeights::W611);
        let mean = (psnr_from_mse(1.0) + psnr_from_mse(100.0)) / 2.0;
        assert!((c.psnr[0] - mean).abs() < 1e-12);
        assert!((c.psnr_yuv - mean).abs() < 1e-12);
        assert!((c.psnr_y_global - psnr_from_mse(50.5)).abs() < 1e-12);
        assert!((c.msssim_y - 0.9).abs() < 1e-12);
    }

    #[test]
    fn msssim_identity_symmetry_and_monotonicity() {
        let a = textured(200, 180);
        assert!((ms_ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        let b1 = noisy(&a, 3, 1);
        let b2 = noisy(&a, 12, 2);
        let b3 = noisy(&a, 40, 3);
        let (s1, s2, s3) = (
            ms_ssim(&a, &b1).unwrap(),
            ms_ssim(&a, &b2).unwrap(),
            ms_ssim(&a, &b3).unwrap(),
        );
        assert!(1.0 > s1 && s1 > s2 && s2 > s3 && s3 > 0.0, "{s1} {s2} {s3}");
        assert!((ms_ssim(&b2, &a).unwrap() - s2).abs() < 1e-12);
        // A constant offset is a luminance change, penalised only by the last scale's l term.
        let off = plane(200, 180, |x, y| {
            (a.data[y * 200 + x] as u8).saturating_add(10)
        });
        let so = ms_ssim(&a, &off).unwrap();
        assert!(so < 1.0 && so > 0.99, "{so}");
        // Too small for 5 scales.
        let small = textured(160, 200);
        assert!(ms_ssim(&small, &small).is_none());
    }

    #[test]
    fn ssim_single_scale_matches_direct_formula_on_flat_images() {
        // Two flat images: σ = 0, so SSIM = l = (2·μx·μy + C1)/(μx² + μy² + C1) and cs = 1.
        let a = Img {
            w: 20,
            h: 20,
            v: vec![100.0; 400],
        };
        let b = Img {
            w: 20,
            h: 20,
            v: vec![120.0; 400],
        };
        let (ssim, cs) = ssim_scale(&a, &b, &gaussian_window());
        let c1 = (0.01f64 * 255.0).powi(2);
        let l = (2.0 * 100.0 * 120.0 + c1) / (100.0f64 * 100.0 + 120.0 * 120.0 + c1);
        assert!((ssim - l).abs() < 1e-9 && (cs - 1.0).abs() < 1e-9);
    }

    #[test]
    fn downsample_averages_and_repeats_the_edge() {
        let i = Img {
            w: 3,
            h: 1,
            v: vec![2.0, 4.0, 9.0],
        };
        let d = i.downsample();
        assert_eq!((d.w, d.h), (2, 1));
        assert_eq!(d.v, vec![3.0, 9.0]);
    }
}
