//! The result schema (one row per codec, clip and point) and its CSV/JSON files.
//! The columns are documented in docs/mica-rd.md; keep the two in step.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::Path;

/// Schema version written to the JSON file.
pub const SCHEMA_VERSION: u32 = 1;

/// One measured point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Row {
    /// Codec id (`mica`, `rav1e`, `x264`, ...).
    pub codec: String,
    /// Human-readable codec setting.
    pub codec_label: String,
    /// Clip id (file stem).
    pub clip: String,
    /// Quality parameter name (`qp`, `crf`, `qindex`).
    pub param: String,
    /// Quality parameter value.
    pub q: i64,
    /// CLIC target in kbit/s, empty for plain points.
    pub target_kbps: Option<f64>,
    /// Frames coded.
    pub frames: usize,
    /// Luma width.
    pub width: usize,
    /// Luma height.
    pub height: usize,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// Coded bytes used for the bitrate.
    pub bytes: u64,
    /// Size of the stored file (Mica: IVF).
    pub file_bytes: u64,
    /// bytes·8 / (frames / fps) / 1000.
    pub kbps: f64,
    /// bytes·8 / (width·height·frames).
    pub bpp: f64,
    /// Mean over frames of per-frame PSNR (dB).
    pub psnr_y: f64,
    /// Mean over frames of per-frame PSNR (dB).
    pub psnr_u: f64,
    /// Mean over frames of per-frame PSNR (dB).
    pub psnr_v: f64,
    /// Mean over frames of the weighted PSNR-YUV (dB).
    pub psnr_yuv: f64,
    /// The weights of `psnr_yuv`, e.g. `6:1:1`.
    pub yuv_weights: String,
    /// Y PSNR of the mean MSE over frames (dB).
    pub psnr_y_global: f64,
    /// Mean over frames of the luma MS-SSIM (0..1).
    pub msssim_y: f64,
    /// `msssim_y` as -10·log10(1 - msssim_y).
    pub msssim_y_db: f64,
    /// Encode wall time (s).
    pub enc_s: f64,
    /// Decode wall time (s).
    pub dec_s: f64,
    /// Threads given to the encoder and decoder (0 = codec default).
    pub threads: usize,
    /// What decoded the stream for measurement.
    pub decoder: String,
    /// Exact settings or command line.
    pub settings: String,
    /// `ok` or `error`.
    pub status: String,
    /// The error, for failed points.
    pub error: String,
}

impl Row {
    /// Identity of a point for resuming.
    pub fn key(&self) -> PointKey {
        PointKey::new(&self.codec, &self.clip, self.q, self.target_kbps)
    }

    /// Whether it succeeded.
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// (codec, clip, q or target) identity of a point.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointKey {
    /// Codec id.
    pub codec: String,
    /// Clip id.
    pub clip: String,
    /// Quality value (`i64::MIN` for CLIC rows, whose q is searched).
    pub q: i64,
    /// CLIC target in bit/s (integer for hashing), 0 for none.
    pub target_bps: u64,
}

impl PointKey {
    /// A key; CLIC points are identified by their target, not by the q found.
    pub fn new(codec: &str, clip: &str, q: i64, target_kbps: Option<f64>) -> PointKey {
        match target_kbps {
            Some(t) => PointKey {
                codec: codec.into(),
                clip: clip.into(),
                q: i64::MIN,
                target_bps: (t * 1000.0).round() as u64,
            },
            None => PointKey {
                codec: codec.into(),
                clip: clip.into(),
                q,
                target_bps: 0,
            },
        }
    }
}

/// Per-frame metrics, one row per frame (frames.csv).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FrameRow {
    /// Codec id.
    pub codec: String,
    /// Clip id.
    pub clip: String,
    /// Quality value.
    pub q: i64,
    /// CLIC target, if any.
    pub target_kbps: Option<f64>,
    /// Display-order frame index.
    pub frame: usize,
    /// Coded bytes of the frame, when the codec reports them.
    pub bytes: Option<u64>,
    /// PSNR Y (dB).
    pub psnr_y: f64,
    /// PSNR U (dB).
    pub psnr_u: f64,
    /// PSNR V (dB).
    pub psnr_v: f64,
    /// Weighted PSNR-YUV (dB).
    pub psnr_yuv: f64,
    /// Luma MS-SSIM.
    pub msssim_y: f64,
}

impl FrameRow {
    /// Identity of the point this frame belongs to.
    pub fn key(&self) -> PointKey {
        PointKey::new(&self.codec, &self.clip, self.q, self.target_kbps)
    }
}

/// Reads a CSV file of `T` (empty if the file is absent).
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in r.deserialize().enumerate() {
        out.push(rec.with_context(|| format!("{} row {}", path.display(), i + 2))?);
    }
    Ok(out)
}

/// Writes `rows` to a fresh CSV file (atomically: temp file then rename).
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let tmp = path.with_extension("csv.partial");
    {
        let mut w =
            csv::Writer::from_path(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        for r in rows {
            w.serialize(r)?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Appends rows to a CSV file, writing the header if the file is new.
pub struct CsvAppender {
    w: csv::Writer<std::fs::File>,
}

impl CsvAppender {
    /// Opens `path` for appending.
    pub fn open(path: &Path) -> Result<CsvAppender> {
        let fresh = !path.exists() || std::fs::metadata(path)?.len() == 0;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let w = csv::WriterBuilder::new().has_headers(fresh).from_writer(f);
        Ok(CsvAppender { w })
    }

    /// Appends one row and flushes it to disk.
    pub fn push<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.w.serialize(row)?;
        self.w.flush()?;
        Ok(())
    }
}

/// Keys of the successful points in a results file.
pub fn done_keys(rows: &[Row]) -> HashSet<PointKey> {
    rows.iter().filter(|r| r.ok()).map(|r| r.key()).collect()
}

/// Keeps, per key, the last row (a re-run replaces an earlier failure), sorted.
pub fn consolidate(rows: Vec<Row>) -> Vec<Row> {
    let mut map = std::collections::BTreeMap::new();
    for r in rows {
        let k = r.key();
        match map.get(&k) {
            Some(old) if Row::ok(old) && !r.ok() => {}
            _ => {
                map.insert(k, r);
            }
        }
    }
    map.into_values().collect()
}

/// The JSON document: every row with its frames.
#[derive(Serialize)]
pub struct JsonDoc<'a> {
    /// Schema version.
    pub schema_version: u32,
    /// `mica-rd x.y.z`.
    pub tool: String,
    /// Units and definitions in words.
    pub definitions: serde_json::Value,
    /// Points.
    pub points: Vec<JsonPoint<'a>>,
}

/// A row and its frames.
#[derive(Serialize)]
pub struct JsonPoint<'a> {
    /// The CSV row's fields.
    #[serde(flatten)]
    pub row: &'a Row,
    /// Per-frame metrics.
    pub per_frame: Vec<&'a FrameRow>,
}

/// Writes results.json.
pub fn write_json(path: &Path, rows: &[Row], frames: &[FrameRow]) -> Result<()> {
    let mut by_key: std::collections::HashMap<PointKey, Vec<&FrameRow>> = Default::default();
    for f in frames {
        by_key.entry(f.key()).or_default().push(f);
    }
    let points = rows
        .iter()
        .map(|r| {
            let mut per_frame = by_key.remove(&r.key()).unwrap_or_default();
            per_frame.sort_by_key(|f| f.frame);
            per_frame.dedup_by_key(|f| f.frame);
            JsonPoint { row: r, per_frame }
        })
        .collect();
    let doc = JsonDoc {
        schema_version: SCHEMA_VERSION,
        tool: format!("mica-rd {}", env!("CARGO_PKG_VERSION")),
        definitions: serde_json::json!({
            "kbps": "bytes * 8 / (frames * fps_den / fps_num) / 1000",
            "bpp": "bytes * 8 / (width * height * frames)",
            "psnr": "10*log10(255^2/MSE) per frame and plane (100 dB when MSE = 0); clip value = mean over frames",
            "psnr_yuv": "per frame (wY*PSNR_Y + wU*PSNR_U + wV*PSNR_V)/(wY+wU+wV) with yuv_weights; clip value = mean over frames",
            "psnr_y_global": "10*log10(255^2/mean over frames of the Y MSE)",
            "msssim_y": "5-scale MS-SSIM (Wang et al. 2003) on Y, mean over frames",
            "times": "wall-clock seconds",
        }),
        points,
    };
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Reads rate/quality pairs from any CSV with `kbps` and `psnr` columns
/// (other columns ignored; `psnr_y` accepted when `psnr` is absent).
pub fn read_rd_csv(path: &Path, rate_col: &str, quality_col: &str) -> Result<Vec<(f64, f64)>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = r.headers()?.clone();
    let find = |name: &str| headers.iter().position(|h| h.trim() == name);
    let ri = find(rate_col).with_context(|| {
        format!(
            "{} has no '{rate_col}' column (columns: {:?})",
            path.display(),
            headers
        )
    })?;
    let qi = find(quality_col)
        .or_else(|| {
            if quality_col == "psnr" {
                find("psnr_y")
            } else {
                None
            }
        })
        .with_context(|| {
            format!(
                "{} has no '{quality_col}' column (columns: {:?})",
                path.display(),
                headers
            )
        })?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec?;
        let get = |c: usize, name: &str| -> Result<f64> {
            rec.get(c)
                .unwrap_or("")
                .trim()
                .parse::<f64>()
                .with_context(|| {
                    format!("{} row {}: '{name}' is not a number", path.display(), i + 2)
                })
        };
        out.push((get(ri, rate_col)?, get(qi, quality_col)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(codec: &str, q: i64, status: &str) -> Row {
        Row {
            codec: codec.into(),
            clip: "c".into(),
            q,
            status: status.into(),
            kbps: 1.5,
            psnr_y: 40.0,
            ..Default::default()
        }
    }

    #[test]
    fn csv_round_trip_and_append() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let mut a = CsvAppender::open(&p).unwrap();
        a.push(&row("mica", 22, "ok")).unwrap();
        drop(a);
        let mut a = CsvAppender::open(&p).unwrap();
        let mut t = row("mica", 27, "error");
        t.target_kbps = Some(100.0);
        t.settings = "ffmpeg -i 'a b' -crf 3, \"x\"".into();
        a.push(&t).unwrap();
        drop(a);
        let back: Vec<Row> = read_csv(&p).unwrap();
        assert_eq!(back, vec![row("mica", 22, "ok"), t]);
        assert_eq!(done_keys(&back).len(), 1);
        assert!(done_keys(&back).contains(&PointKey::new("mica", "c", 22, None)));
    }

    #[test]
    fn consolidate_prefers_success_and_latest() {
        let rows = vec![
            row("a", 1, "error"),
            row("a", 1, "ok"),
            row("a", 2, "ok"),
            row("a", 2, "error"),
        ];
        let c = consolidate(rows);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|r| r.ok()));
    }

    #[test]
    fn clic_keys_ignore_q() {
        assert_eq!(
            PointKey::new("m", "c", 3, Some(100.0)),
            PointKey::new("m", "c", 9, Some(100.0))
        );
        assert_ne!(
            PointKey::new("m", "c", 3, Some(100.0)),
            PointKey::new("m", "c", 3, Some(1000.0))
        );
        assert_ne!(
            PointKey::new("m", "c", 3, None),
            PointKey::new("m", "c", 4, None)
        );
    }

    #[test]
    fn rd_csv_reads_named_columns_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "name,psnr,extra,kbps\nx,30.5,zz,100\ny,33,zz,200.5\n").unwrap();
        assert_eq!(
            read_rd_csv(&p, "kbps", "psnr").unwrap(),
            vec![(100.0, 30.5), (200.5, 33.0)]
        );
        std::fs::write(&p, "kbps,psnr_y\n1,2\n").unwrap();
        assert_eq!(read_rd_csv(&p, "kbps", "psnr").unwrap(), vec![(1.0, 2.0)]);
        std::fs::write(&p, "rate,psnr\n1,2\n").unwrap();
        assert!(read_rd_csv(&p, "kbps", "psnr").is_err());
        std::fs::write(&p, "kbps,psnr\n1,abc\n").unwrap();
        assert!(read_rd_csv(&p, "kbps", "psnr").is_err());
    }
}
