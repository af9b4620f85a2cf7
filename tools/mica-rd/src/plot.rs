//! RD curves as SVG and PNG (plotters; text drawn with the embedded DejaVu
//! Sans, so no system font is needed).

use crate::report::Metric;
use crate::results::Row;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// One curve: label and (kbps, quality) points sorted by rate.
pub type Series = (String, Vec<(f64, f64)>);

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    ylabel: &str,
    xlabel: &str,
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let pts = series.iter().flat_map(|s| s.1.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts {
        if x > 0.0 && x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        return Err(anyhow!("nothing to plot"));
    }
    let (x0, x1) = (x0 / 1.15, x1 * 1.15);
    let pad = ((y1 - y0) * 0.05).max(0.1);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc(xlabel)
        .y_desc(ylabel)
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|v| {
            if *v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            }
        })
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|p| p.0 > 0.0 && p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(|e| anyhow!("{e:?}"))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// Writes `stem.svg` and `stem.png` for the given series.
pub fn plot(
    dir: &Path,
    stem: &str,
    title: &str,
    ylabel: &str,
    xlabel: &str,
    series: &[Series],
) -> Result<Vec<PathBuf>> {
    register_fonts();
    std::fs::create_dir_all(dir)?;
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    draw(
        SVGBackend::new(&svg, (900, 600)).into_drawing_area(),
        title,
        ylabel,
        xlabel,
        series,
    )?;
    draw(
        BitMapBackend::new(&png, (900, 600)).into_drawing_area(),
        title,
        ylabel,
        xlabel,
        series,
    )?;
    Ok(vec![svg, png])
}

/// The RD plots of every clip for `metrics`: one chart per clip and metric.
pub fn plot_all(dir: &Path, rows: &[Row], metrics: &[Metric]) -> Result<Vec<PathBuf>> {
    let mut by_clip: BTreeMap<&str, BTreeMap<&str, Vec<&Row>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.ok() && r.target_kbps.is_none()) {
        by_clip
            .entry(&r.clip)
            .or_default()
            .entry(&r.codec)
            .or_default()
            .push(r);
    }
    let mut files = Vec::new();
    for (clip, codecs) in &by_clip {
        let still = codecs.values().flatten().all(|r| r.frames == 1);
        for m in metrics {
            let series: Vec<Series> = codecs
                .values()
                .map(|rs| {
                    let mut p: Vec<(f64, f64)> = rs
                        .iter()
                        .map(|r| (if still { r.bpp } else { r.kbps }, m.value(r)))
                        .collect();
                    p.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (rs[0].codec_label.clone(), p)
                })
                .collect();
            if !series
                .iter()
                .flat_map(|s| s.1.iter())
                .any(|p| p.0 > 0.0 && p.0.is_finite() && p.1.is_finite())
            {
                continue; // e.g. MS-SSIM of clips too small for 5 scales
            }
            let xlabel = if still {
                "bits per pixel (log)"
            } else {
                "kbit/s (log)"
            };
            files.extend(plot(
                dir,
                &format!("rd_{clip}_{}", m.id()),
                &format!("{clip}: {}", m.name()),
                m.unit(),
                xlabel,
                &series,
            )?);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_and_png_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let s = vec![
            (
                "a codec".to_string(),
                vec![(100.0, 30.0), (200.0, 33.0), (400.0, 36.0)],
            ),
            ("b codec".to_string(), vec![(90.0, 31.0), (180.0, 34.5)]),
        ];
        let files = plot(dir.path(), "t", "title", "PSNR Y (dB)", "kbit/s", &s).unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("a codec") && svg.contains("PSNR Y (dB)"));
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(plot(dir.path(), "e", "t", "y", "x", &[]).is_err());
    }
}
