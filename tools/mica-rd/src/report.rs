//! BD tables from result rows, and the Markdown report.

use crate::bd::{bd_quality, bd_rate, BdResult};
use crate::results::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// A quality metric the tables and plots can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Y PSNR, mean of frames.
    PsnrY,
    /// Weighted PSNR-YUV, mean of frames.
    PsnrYuv,
    /// Luma MS-SSIM in dB (-10·log10(1 - MS-SSIM)).
    MsssimY,
}

impl Metric {
    /// All metrics.
    pub const ALL: [Metric; 3] = [Metric::PsnrY, Metric::PsnrYuv, Metric::MsssimY];

    /// The value used for this metric.
    pub fn value(&self, r: &Row) -> f64 {
        match self {
            Metric::PsnrY => r.psnr_y,
            Metric::PsnrYuv => r.psnr_yuv,
            Metric::MsssimY => r.msssim_y_db,
        }
    }

    /// File-name id.
    pub fn id(&self) -> &'static str {
        match self {
            Metric::PsnrY => "psnr_y",
            Metric::PsnrYuv => "psnr_yuv",
            Metric::MsssimY => "msssim_y",
        }
    }

    /// Display name.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::PsnrY => "PSNR Y (mean of frames)",
            Metric::PsnrYuv => "PSNR YUV (weighted, mean of frames)",
            Metric::MsssimY => "MS-SSIM Y (dB)",
        }
    }

    /// Unit label.
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::PsnrY => "PSNR Y (dB)",
            Metric::PsnrYuv => "PSNR YUV (dB)",
            Metric::MsssimY => "MS-SSIM Y (dB)",
        }
    }
}

/// Rate used for BD: kbit/s for clips, bits per pixel for stills.
fn rate(r: &Row) -> f64 {
    if r.frames == 1 {
        r.bpp
    } else {
        r.kbps
    }
}

/// BD results of every test codec against the anchor, per clip.
#[derive(Debug, Clone, Default)]
pub struct BdTable {
    /// Metric.
    pub metric: Option<Metric>,
    /// Test codec ids, in column order.
    pub codecs: Vec<String>,
    /// Clips, in row order.
    pub clips: Vec<String>,
    /// (clip, codec) → BD-rate result or error text.
    pub rate: BTreeMap<(String, String), Result<BdResult, String>>,
    /// (clip, codec) → BD-quality result or error text.
    pub quality: BTreeMap<(String, String), Result<BdResult, String>>,
}

impl BdTable {
    /// Mean over clips of the BD-rate (only clips where it could be computed), and how many.
    pub fn mean_rate(&self, codec: &str) -> Option<(f64, usize)> {
        mean(self.clips.iter().filter_map(|c| {
            self.rate
                .get(&(c.clone(), codec.to_string()))?
                .as_ref()
                .ok()
                .map(|r| r.value)
        }))
    }

    /// Mean over clips of the BD-quality.
    pub fn mean_quality(&self, codec: &str) -> Option<(f64, usize)> {
        mean(self.clips.iter().filter_map(|c| {
            self.quality
                .get(&(c.clone(), codec.to_string()))?
                .as_ref()
                .ok()
                .map(|r| r.value)
        }))
    }
}

fn mean(it: impl Iterator<Item = f64>) -> Option<(f64, usize)> {
    let v: Vec<f64> = it.collect();
    (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64, v.len()))
}

/// Groups successful plain points into (clip, codec) → [(rate, quality)].
pub fn curves(rows: &[Row], metric: Metric) -> BTreeMap<(String, String), Vec<(f64, f64)>> {
    let mut m: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.ok() && r.target_kbps.is_none()) {
        m.entry((r.clip.clone(), r.codec.clone()))
            .or_default()
            .push((rate(r), metric.value(r)));
    }
    m
}

/// Computes the BD table of `metric` against `anchor`.
pub fn bd_table(rows: &[Row], metric: Metric, anchor: &str, codec_order: &[String]) -> BdTable {
    let c = curves(rows, metric);
    let clips: Vec<String> = c
        .keys()
        .map(|k| k.0.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let present: BTreeSet<String> = c.keys().map(|k| k.1.clone()).collect();
    let codecs: Vec<String> = codec_order
        .iter()
        .filter(|n| *n != anchor && present.contains(*n))
        .cloned()
        .collect();
    let mut t = BdTable {
        metric: Some(metric),
        codecs: codecs.clone(),
        clips: clips.clone(),
        ..Default::default()
    };
    for clip in &clips {
        let Some(a) = c.get(&(clip.clone(), anchor.to_string())) else {
            continue;
        };
        for codec in &codecs {
            let Some(tp) = c.get(&(clip.clone(), codec.clone())) else {
                continue;
            };
            let k = (clip.clone(), codec.clone());
            t.rate
                .insert(k.clone(), bd_rate(a, tp).map_err(|e| e.to_string()));
            t.quality
                .insert(k, bd_quality(a, tp).map_err(|e| e.to_string()));
        }
    }
    t
}

fn label_of(rows: &[Row], codec: &str) -> String {
    rows.iter()
        .find(|r| r.codec == codec)
        .map(|r| r.codec_label.clone())
        .unwrap_or_else(|| codec.to_string())
}

/// Markdown BD-rate table (with the quality interval integrated over).
pub fn bd_rate_markdown(t: &BdTable, rows: &[Row]) -> String {
    let mut s = String::new();
    // Every metric is in dB (MS-SSIM as -10 log10(1 - MS-SSIM)).
    let unit = "dB";
    let _ = write!(s, "| clip |");
    for c in &t.codecs {
        let _ = write!(s, " {} |", label_of(rows, c));
    }
    let _ = write!(s, "\n|---|");
    for _ in &t.codecs {
        let _ = write!(s, "---|");
    }
    s.push('\n');
    for clip in &t.clips {
        let _ = write!(s, "| {clip} |");
        for c in &t.codecs {
            let cell = match t.rate.get(&(clip.clone(), c.clone())) {
                Some(Ok(r)) => format!(
                    "{:+.1}% ({:.1}–{:.1} {unit})",
                    r.value, r.interval.0, r.interval.1
                ),
                Some(Err(e)) => format!("n/a ({e})"),
                None => "–".into(),
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    let _ = write!(s, "| **mean** |");
    for c in &t.codecs {
        let cell = match t.mean_rate(c) {
            Some((v, n)) if n == t.clips.len() => format!("**{v:+.1}%**"),
            Some((v, n)) => format!("**{v:+.1}%** ({n} of {} clips)", t.clips.len()),
            None => "–".into(),
        };
        let _ = write!(s, " {cell} |");
    }
    s.push('\n');
    s
}

/// Markdown BD-quality table.
pub fn bd_quality_markdown(t: &BdTable, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = write!(s, "| clip |");
    for c in &t.codecs {
        let _ = write!(s, " {} |", label_of(rows, c));
    }
    let _ = write!(s, "\n|---|");
    for _ in &t.codecs {
        let _ = write!(s, "---|");
    }
    s.push('\n');
    for clip in &t.clips {
        let _ = write!(s, "| {clip} |");
        for c in &t.codecs {
            let cell = match t.quality.get(&(clip.clone(), c.clone())) {
                Some(Ok(r)) => format!("{:+.2} dB", r.value),
                Some(Err(_)) => "n/a".into(),
                None => "–".into(),
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    let _ = write!(s, "| **mean** |");
    for c in &t.codecs {
        let cell = match t.mean_quality(c) {
            Some((v, _)) => format!("**{v:+.2} dB**"),
            None => "–".into(),
        };
        let _ = write!(s, " {cell} |");
    }
    s.push('\n');
    s
}

/// Markdown table of every point.
pub fn points_markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| codec | clip | q | kbit/s | bytes | PSNR Y | PSNR U | PSNR V | PSNR YUV | MS-SSIM Y | enc s | enc fps | dec s | status |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows.iter().filter(|r| r.target_kbps.is_none()) {
        let _ = writeln!(
            s,
            "| {} | {} | {}={} | {:.2} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.5} | {:.2} | {:.2} | {:.2} | {} |",
            r.codec,
            r.clip,
            r.param,
            r.q,
            r.kbps,
            r.bytes,
            r.psnr_y,
            r.psnr_u,
            r.psnr_v,
            r.psnr_yuv,
            r.msssim_y,
            r.enc_s,
            r.frames as f64 / r.enc_s,
            r.dec_s,
            if r.ok() { "ok".to_string() } else { format!("**error**: {}", r.error.replace('|', "\\|")) }
        );
    }
    s
}

/// Markdown CLIC tables: per target, each clip's chosen setting, rate and quality, and the set average.
pub fn clic_markdown(clic: &[Row]) -> String {
    let mut s = String::new();
    let mut targets: Vec<f64> = clic.iter().filter_map(|r| r.target_kbps).collect();
    targets.sort_by(|a, b| a.total_cmp(b));
    targets.dedup();
    let codecs: Vec<String> = clic
        .iter()
        .map(|r| r.codec.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for t in targets {
        let _ = writeln!(s, "\n#### Target {t} kbit/s per clip\n");
        let _ = writeln!(s, "| codec | clip | setting | kbit/s | PSNR Y | PSNR YUV | MS-SSIM Y | note |\n|---|---|---|---|---|---|---|---|");
        for c in &codecs {
            let mut sel: Vec<&Row> = clic
                .iter()
                .filter(|r| r.target_kbps == Some(t) && &r.codec == c)
                .collect();
            sel.sort_by(|a, b| a.clip.cmp(&b.clip));
            for r in &sel {
                let note = if !r.ok() {
                    format!("error: {}", r.error)
                } else if !r.error.is_empty() {
                    r.error.clone()
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {}={} | {:.1} | {:.3} | {:.3} | {:.5} | {} |",
                    r.codec,
                    r.clip,
                    r.param,
                    r.q,
                    r.kbps,
                    r.psnr_y,
                    r.psnr_yuv,
                    r.msssim_y,
                    note.replace('|', "\\|")
                );
            }
            let ok: Vec<&&Row> = sel.iter().filter(|r| r.ok()).collect();
            if !ok.is_empty() {
                let n = ok.len() as f64;
                // A clip's own target: the budget, or for rate-controlled
                // rows the share of it the clip aimed at (per clip: the
                // budget; under a set budget: its part of the set's).
                let own = |r: &Row| {
                    if r.param == "two-pass" {
                        r.q as f64 / crate::runner::RATE_CONTROL_AIM
                    } else {
                        t
                    }
                };
                let all_meet = ok.iter().all(|r| r.error.is_empty() && r.kbps <= own(r));
                let _ = writeln!(
                    s,
                    "| **{}** | **set mean ({} clips)** | | **{:.1}** | **{:.3}** | **{:.3}** | **{:.5}** | {} |",
                    c,
                    ok.len(),
                    ok.iter().map(|r| r.kbps).sum::<f64>() / n,
                    ok.iter().map(|r| r.psnr_y).sum::<f64>() / n,
                    ok.iter().map(|r| r.psnr_yuv).sum::<f64>() / n,
                    ok.iter().map(|r| r.msssim_y).sum::<f64>() / n,
                    if all_meet { "every clip within its target" } else { "some clip over its target" }
                );
                // CLIC's rule for a set: its total size over its total duration.
                let bits: f64 = ok.iter().map(|r| r.bytes as f64 * 8.0).sum();
                let seconds: f64 = ok
                    .iter()
                    .map(|r| r.frames as f64 * f64::from(r.fps_den) / f64::from(r.fps_num))
                    .sum();
                let rate = bits / seconds / 1000.0;
                let _ = writeln!(
                    s,
                    "| **{c}** | **set rate (total size / total duration)** | | **{rate:.1}** | | | | {} ({:+.2} % of {t}) |",
                    if ok.len() < sel.len() {
                        "incomplete: some clip failed"
                    } else if rate <= t {
                        "set within budget"
                    } else {
                        "set over budget"
                    },
                    100.0 * (rate / t - 1.0)
                );
            }
        }
    }
    s
}

/// Everything the report needs besides the rows.
pub struct ReportInfo {
    /// Anchor codec id.
    pub anchor: String,
    /// Codec order for columns.
    pub codec_order: Vec<String>,
    /// Command line that produced the run.
    pub command: String,
    /// Plot files, relative to the report.
    pub plots: Vec<String>,
    /// Threads per codec.
    pub threads: usize,
    /// Parallel points.
    pub jobs: usize,
    /// PSNR-YUV weights label.
    pub weights: String,
}

/// The whole Markdown report.
pub fn markdown(rows: &[Row], clic: &[Row], info: &ReportInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# mica-rd report\n");
    let _ = writeln!(
        s,
        "Generated by mica-rd {} with:\n\n```sh\n{}\n```\n",
        env!("CARGO_PKG_VERSION"),
        info.command
    );
    let _ = writeln!(
        s,
        "* Rate: coded bytes × 8 / duration (kbit/s; clip duration = frames × fps_den / fps_num); bits per pixel for stills. \
Mica: sum of packet sizes (the IVF file is 32 + 12 × frames bytes larger: `file_bytes` in the CSV); \
rav1e: its OBU packets with temporal delimiters; external codecs: the raw elementary stream file.\n\
* Quality: computed by mica-rd on the decoded frames against the source y4m, frames paired by index. PSNR = mean of per-frame PSNR; \
PSNR YUV = per-frame ({}) weighted mean of the Y, U, V PSNRs, then mean of frames; MS-SSIM Y = 5-scale MS-SSIM (Wang et al. 2003), mean of frames, \
used as -10·log10(1 − MS-SSIM) dB for BD.\n\
* BD-rate: log10(rate) interpolated over quality with PCHIP, integrated over the quality interval both curves cover (shown in brackets); \
negative = fewer bits than the anchor for the same quality. BD-PSNR: quality over log10(rate), mean difference. Means are over clips.\n\
* Threads: {} per encoder and decoder (0 = codec default), {} points in parallel; times are wall-clock seconds.\n",
        info.weights, info.threads, info.jobs
    );
    let codecs: Vec<String> = info
        .codec_order
        .iter()
        .filter(|c| rows.iter().any(|r| &&r.codec == c))
        .cloned()
        .collect();
    let _ = writeln!(
        s,
        "## Codecs\n\n| id | setting | decoded by | example settings |\n|---|---|---|---|"
    );
    for c in &codecs {
        if let Some(r) = rows
            .iter()
            .find(|r| &r.codec == c && r.ok())
            .or_else(|| rows.iter().find(|r| &r.codec == c))
        {
            let _ = writeln!(
                s,
                "| {} | {} | {} | `{}` |",
                c,
                r.codec_label,
                r.decoder,
                r.settings.replace('|', "\\|")
            );
        }
    }
    if rows.iter().any(|r| r.codec == info.anchor) {
        for m in Metric::ALL {
            let t = bd_table(rows, m, &info.anchor, &codecs);
            if t.codecs.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "\n## BD-rate vs {} — {}\n",
                label_of(rows, &info.anchor),
                m.name()
            );
            s.push_str(&bd_rate_markdown(&t, rows));
            if m == Metric::PsnrY {
                let _ = writeln!(
                    s,
                    "\n## BD-PSNR Y vs {} (dB at equal rate)\n",
                    label_of(rows, &info.anchor)
                );
                s.push_str(&bd_quality_markdown(&t, rows));
            }
        }
    } else {
        let _ = writeln!(
            s,
            "\nThe anchor `{}` has no points: no BD tables.",
            info.anchor
        );
    }
    if !clic.is_empty() {
        let _ = writeln!(s, "\n## CLIC mode\n\nRule: for each codec and clip, the best-quality setting (smallest QP/CRF/qindex) whose bitrate on that clip is at or under the target; so every clip, and hence the set average, is within budget. Settings found by bisection with log-rate interpolation; every probe is a measured point in results.csv.");
        s.push_str(&clic_markdown(clic));
    }
    if !info.plots.is_empty() {
        let _ = writeln!(s, "\n## RD curves\n");
        for p in info.plots.iter().filter(|p| p.ends_with(".svg")) {
            let _ = writeln!(
                s,
                "* [{p}]({p}) ({})",
                p.trim_end_matches(".svg").to_string() + ".png"
            );
        }
    }
    let _ = writeln!(s, "\n## All points\n");
    s.push_str(&points_markdown(rows));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(codec: &str, clip: &str, q: i64, kbps: f64, psnr: f64) -> Row {
        Row {
            codec: codec.into(),
            codec_label: codec.to_uppercase(),
            clip: clip.into(),
            q,
            kbps,
            frames: 10,
            psnr_y: psnr,
            psnr_yuv: psnr + 1.0,
            msssim_y_db: psnr / 3.0,
            status: "ok".into(),
            ..Default::default()
        }
    }

    #[test]
    fn table_and_means() {
        let mut rows = Vec::new();
        for (i, q) in [1, 2, 3, 4].iter().enumerate() {
            let r = 100.0 * 2f64.powi(i as i32);
            rows.push(pt("a", "c1", *q, r, 30.0 + 3.0 * i as f64));
            rows.push(pt("b", "c1", *q, r / 2.0, 30.0 + 3.0 * i as f64));
            rows.push(pt("a", "c2", *q, r, 30.0 + 3.0 * i as f64));
            rows.push(pt("b", "c2", *q, r * 0.8, 30.0 + 3.0 * i as f64));
        }
        let order = vec!["a".to_string(), "b".to_string()];
        let t = bd_table(&rows, Metric::PsnrY, "a", &order);
        assert_eq!(t.codecs, vec!["b"]);
        let (m, n) = t.mean_rate("b").unwrap();
        assert_eq!(n, 2);
        assert!((m - (-50.0 - 20.0) / 2.0).abs() < 1e-9);
        let md = bd_rate_markdown(&t, &rows);
        assert!(md.contains("-50.0%") && md.contains("**-35.0%**"), "{md}");
        // BD-PSNR: halving the rate at slope 3 dB per doubling is +3 dB.
        let c1 = t.quality[&("c1".to_string(), "b".to_string())]
            .as_ref()
            .unwrap()
            .value;
        assert!((c1 - 3.0).abs() < 1e-9);
        let full = markdown(
            &rows,
            &[],
            &ReportInfo {
                anchor: "a".into(),
                codec_order: order,
                command: "mica-rd run".into(),
                plots: vec![],
                threads: 1,
                jobs: 2,
                weights: "6:1:1".into(),
            },
        );
        assert!(full.contains("BD-rate vs A") && full.contains("All points"));
    }

    #[test]
    fn missing_points_are_marked_not_guessed() {
        let rows = vec![
            pt("a", "c1", 1, 100.0, 30.0),
            pt("a", "c1", 2, 200.0, 33.0),
            pt("b", "c1", 1, 100.0, 40.0),
            pt("b", "c1", 2, 200.0, 43.0),
        ];
        let t = bd_table(&rows, Metric::PsnrY, "a", &["a".into(), "b".into()]);
        assert!(t.rate[&("c1".to_string(), "b".to_string())].is_err());
        assert!(t.mean_rate("b").is_none());
        assert!(bd_rate_markdown(&t, &rows).contains("n/a"));
    }
}
