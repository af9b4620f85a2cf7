//! BD-rate tables of one codec's points against another's, per clip and
//! mean: `mica-rd compare` (two results files, any quality columns) and
//! `mica-rd peers` (a results file against `shared/notes/peers.csv`). Every
//! figure comes from [`crate::bd::bd_rate`], the PCHIP code of `mica-rd
//! bd-rate` and of the reports.

use crate::bd::{bd_rate, RdPoint};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A results file and a codec in it, written `FILE:CODEC` on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSpec {
    /// The CSV file.
    pub path: PathBuf,
    /// The codec whose rows are used.
    pub codec: String,
}

impl CurveSpec {
    /// Parses `FILE:CODEC` (split at the last `:`, so the file name may hold one).
    pub fn parse(s: &str) -> Result<CurveSpec, String> {
        match s.rsplit_once(':') {
            Some((path, codec)) if !path.is_empty() && !codec.is_empty() => Ok(CurveSpec {
                path: PathBuf::from(path),
                codec: codec.to_string(),
            }),
            _ => Err(format!(
                "'{s}' must be FILE:CODEC, e.g. results.csv:mica (a results file and a codec in it)"
            )),
        }
    }

    /// `FILE:CODEC` again.
    pub fn label(&self) -> String {
        format!("{}:{}", self.path.display(), self.codec)
    }
}

/// Which columns of a CSV file hold what.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// The codec column (`codec` in results.csv, `enc` in peers.csv).
    pub codec: &'a str,
    /// The rate column.
    pub rate: &'a str,
    /// The quality column.
    pub quality: &'a str,
    /// A column whose value must be `ok` for a row to count, if the file has one.
    pub status: Option<&'a str>,
}

/// The columns of a `mica-rd` results.csv for the quality column `quality`.
pub fn results_columns(quality: &str) -> Columns<'_> {
    Columns {
        codec: "codec",
        rate: "kbps",
        quality,
        status: Some("status"),
    }
}

/// Clip → `(rate, quality)` points of one codec, sorted by rate.
pub type Curves = BTreeMap<String, Vec<RdPoint>>;

/// Reads the points of `codec` from a CSV file with `clip`, `q` and the
/// named columns: rows whose status is not `ok` are skipped, so are rows
/// whose `q` is not in `qs` (when given); of two rows with the same clip and
/// `q`, the later one counts (as in a resumed results.csv).
pub fn read_curves(path: &Path, codec: &str, cols: Columns, qs: Option<&[i64]>) -> Result<Curves> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let headers = r
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .clone();
    let find = |name: &str| -> Result<usize> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| {
                format!(
                    "{} has no '{name}' column (columns: {})",
                    path.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })
    };
    let (ci, li, qi, ri, vi) = (
        find(cols.codec)?,
        find("clip")?,
        find("q")?,
        find(cols.rate)?,
        find(cols.quality)?,
    );
    let si = cols
        .status
        .and_then(|s| headers.iter().position(|h| h.trim() == s));
    let mut points: BTreeMap<(String, i64), RdPoint> = BTreeMap::new();
    let mut codecs = BTreeSet::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("cannot read {}", path.display()))?;
        let field = |c: usize| rec.get(c).unwrap_or("").trim();
        codecs.insert(field(ci).to_string());
        if field(ci) != codec || si.is_some_and(|s| field(s) != "ok") {
            continue;
        }
        let row = i + 2;
        let q: i64 = field(qi).parse().with_context(|| {
            format!(
                "{} row {row}: q '{}' is not an integer",
                path.display(),
                field(qi)
            )
        })?;
        if qs.is_some_and(|qs| !qs.contains(&q)) {
            continue;
        }
        let number = |c: usize, name: &str| -> Result<f64> {
            field(c).parse::<f64>().with_context(|| {
                format!(
                    "{} row {row}: {name} '{}' is not a number",
                    path.display(),
                    field(c)
                )
            })
        };
        let p = (number(ri, cols.rate)?, number(vi, cols.quality)?);
        points.insert((field(li).to_string(), q), p);
    }
    if points.is_empty() {
        codecs.remove("");
        bail!(
            "{} has no usable rows of codec '{codec}'{} (codecs there: {})",
            path.display(),
            match qs {
                Some(qs) => format!(" at q {qs:?}"),
                None => String::new(),
            },
            codecs.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let mut curves = Curves::new();
    for ((clip, _), p) in points {
        curves.entry(clip).or_default().push(p);
    }
    for v in curves.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    Ok(curves)
}

/// BD-rates per clip (rows) and column (a metric, or an anchor codec).
#[derive(Debug, Clone, Default)]
pub struct BdGrid {
    /// Column headings.
    pub columns: Vec<String>,
    /// Clips, in row order.
    pub clips: Vec<String>,
    /// (clip, column index) → BD-rate in percent, or why there is none
    /// (empty: nothing to compare, shown as a plain `n/a`).
    pub cells: BTreeMap<(String, usize), Result<f64, String>>,
}

impl BdGrid {
    /// Mean over the clips whose cell has a value, and how many they are.
    pub fn mean(&self, column: usize) -> Option<(f64, usize)> {
        let v: Vec<f64> = self
            .clips
            .iter()
            .filter_map(|c| self.cells.get(&(c.clone(), column))?.as_ref().ok().copied())
            .collect();
        (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64, v.len()))
    }

    /// A Markdown table: a row per clip and a mean row; values with
    /// `decimals` decimals followed by `unit` (e.g. `" %"`).
    pub fn markdown(&self, decimals: usize, unit: &str) -> String {
        let mut s = String::from("| clip |");
        for c in &self.columns {
            let _ = write!(s, " {c} |");
        }
        s.push_str("\n|---|");
        for _ in &self.columns {
            s.push_str("---|");
        }
        s.push('\n');
        for clip in &self.clips {
            let _ = write!(s, "| {clip} |");
            for i in 0..self.columns.len() {
                let cell = match self.cells.get(&(clip.clone(), i)) {
                    Some(Ok(v)) => format!("{v:+.decimals$}{unit}"),
                    Some(Err(e)) if !e.is_empty() => format!("n/a ({e})"),
                    _ => "n/a".into(),
                };
                let _ = write!(s, " {cell} |");
            }
            s.push('\n');
        }
        s.push_str("| **mean** |");
        for i in 0..self.columns.len() {
            let cell = match self.mean(i) {
                Some((v, n)) if n == self.clips.len() => format!("**{v:+.decimals$}{unit}**"),
                Some((v, n)) => format!(
                    "**{v:+.decimals$}{unit}** ({n} of {} clips)",
                    self.clips.len()
                ),
                None => "n/a".into(),
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
        s
    }
}

/// One BD-rate cell: the value, or the reason it cannot be computed.
pub fn bd_cell(anchor: &[RdPoint], test: &[RdPoint]) -> Result<f64, String> {
    bd_rate(anchor, test)
        .map(|r| r.value)
        .map_err(|e| e.to_string())
}

/// `mica-rd compare`: BD-rate of `test`'s codec against `anchor`'s per clip
/// both have, one column per quality column of `metrics`, rate = `kbps`.
/// Returns the grid and the clips only one of the two files has.
pub fn compare(
    anchor: &CurveSpec,
    test: &CurveSpec,
    metrics: &[String],
    qs: Option<&[i64]>,
) -> Result<(BdGrid, Vec<String>)> {
    if metrics.is_empty() {
        bail!("no metric given");
    }
    let mut grid = BdGrid {
        columns: metrics.to_vec(),
        ..Default::default()
    };
    let mut only_one = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let a = read_curves(&anchor.path, &anchor.codec, results_columns(m), qs)?;
        let t = read_curves(&test.path, &test.codec, results_columns(m), qs)?;
        if i == 0 {
            grid.clips = a.keys().filter(|c| t.contains_key(*c)).cloned().collect();
            only_one = a
                .keys()
                .chain(t.keys())
                .filter(|c| !(a.contains_key(*c) && t.contains_key(*c)))
                .cloned()
                .collect();
            if grid.clips.is_empty() {
                bail!(
                    "{} and {} have no clip in common",
                    anchor.label(),
                    test.label()
                );
            }
        }
        for clip in &grid.clips {
            let cell = match (a.get(clip), t.get(clip)) {
                (Some(a), Some(t)) => bd_cell(a, t),
                _ => Err("no points".into()),
            };
            grid.cells.insert((clip.clone(), i), cell);
        }
    }
    Ok((grid, only_one))
}

/// The anchors `mica-rd peers` compares against by default (the `enc`
/// values of peers.csv).
pub const PEER_ANCHORS: &str = "x264,x265psnr,x264psnr,x265,aom,svt,rav1e";

/// `mica-rd peers`: BD-rate of `codec`'s points in `results` (all its `q`)
/// against each anchor encoder of `peers` (peers.csv: `enc`, `kbps`,
/// `psnr_y_mean`), Y-PSNR (mean of frames) against kbit/s, per clip both
/// files have. An anchor with fewer than two points on a clip gives `n/a`.
pub fn peers(results: &Path, codec: &str, peers: &Path, anchors: &[String]) -> Result<BdGrid> {
    let ours = read_curves(results, codec, results_columns("psnr_y"), None)?;
    let peer_cols = Columns {
        codec: "enc",
        rate: "kbps",
        quality: "psnr_y_mean",
        status: None,
    };
    let mut theirs = Vec::new();
    let mut peer_clips = BTreeSet::new();
    for a in anchors {
        // An anchor missing from the file gives n/a cells, not an error.
        let c = read_curves(peers, a, peer_cols, None).unwrap_or_default();
        peer_clips.extend(c.keys().cloned());
        theirs.push(c);
    }
    if peer_clips.is_empty() {
        // Every anchor failed: say why (a missing file or column, or no such encoders).
        read_curves(peers, &anchors[0], peer_cols, None)?;
    }
    let clips: Vec<String> = ours
        .keys()
        .filter(|c| peer_clips.contains(*c))
        .cloned()
        .collect();
    if clips.is_empty() {
        bail!(
            "{} (codec {codec}) and {} have no clip in common",
            results.display(),
            peers.display()
        );
    }
    let mut grid = BdGrid {
        columns: anchors.iter().map(|a| format!("vs {a}")).collect(),
        clips,
        ..Default::default()
    };
    for clip in &grid.clips {
        for (i, (anchor, c)) in anchors.iter().zip(&theirs).enumerate() {
            let cell = match c.get(clip) {
                Some(a) if a.len() >= 2 => bd_cell(a, &ours[clip]),
                Some(a) => Err(format!("{} {anchor} point(s)", a.len())),
                // No point of that anchor on this clip: a plain n/a.
                None => Err(String::new()),
            };
            grid.cells.insert((clip.clone(), i), cell);
        }
    }
    Ok(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_at_the_last_colon() {
        assert_eq!(
            CurveSpec::parse("a:b/r.csv:mica-nofilter").unwrap(),
            CurveSpec {
                path: "a:b/r.csv".into(),
                codec: "mica-nofilter".into()
            }
        );
        assert!(CurveSpec::parse("r.csv").is_err());
        assert!(CurveSpec::parse("r.csv:").is_err());
        assert!(CurveSpec::parse(":mica").is_err());
    }

    #[test]
    fn means_skip_cells_without_a_value() {
        let mut g = BdGrid {
            columns: vec!["m".into()],
            clips: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        g.cells.insert(("a".into(), 0), Ok(-4.0));
        g.cells.insert(("b".into(), 0), Err("why".into()));
        assert_eq!(g.mean(0), Some((-4.0, 1)));
        let md = g.markdown(2, " %");
        assert!(md.contains("| a | -4.00 % |"), "{md}");
        assert!(md.contains("| b | n/a (why) |"), "{md}");
        assert!(
            md.contains("| **mean** | **-4.00 %** (1 of 2 clips) |"),
            "{md}"
        );
    }
}
