//! Runs points in parallel, measures them, appends results as they finish
//! (so an interrupted run resumes where it stopped), and searches settings
//! for CLIC-style bitrate targets.

use crate::codecs::{
    check_decoded, code_clip, code_clip_at_rate, mica_first_pass, Clip, Codec, Coded, RunOpts,
};
use crate::metrics::{clip_metrics, frame_metrics, msssim_db, FrameMetrics, YuvWeights};
use crate::results::{CsvAppender, FrameRow, PointKey, Row};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use mica::FirstPassStats;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Settings of a measurement run.
#[derive(Debug, Clone)]
pub struct MeasureOpts {
    /// Per-codec run options (threads, temp dir).
    pub run: RunOpts,
    /// PSNR-YUV weights.
    pub weights: YuvWeights,
    /// Compute MS-SSIM.
    pub msssim: bool,
}

/// Where finished points go.
pub struct Sink {
    rows: Mutex<(CsvAppender, CsvAppender)>,
    /// Progress display.
    pub bar: ProgressBar,
}

impl Sink {
    /// Appends to `results` and `frames` CSV files.
    pub fn open(results: &Path, frames: &Path, total: u64, quiet: bool) -> Result<Sink> {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(total)
        };
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .unwrap()
                .progress_chars("=> "),
        );
        Ok(Sink {
            rows: Mutex::new((CsvAppender::open(results)?, CsvAppender::open(frames)?)),
            bar,
        })
    }

    /// Records a point (and its frames) on disk.
    pub fn record(&self, row: &Row, frames: &[FrameRow]) -> Result<()> {
        let mut g = self.rows.lock().unwrap();
        g.0.push(row)?;
        for f in frames {
            g.1.push(f)?;
        }
        if !row.ok() {
            self.bar.println(format!(
                "FAILED {} {} {}={}: {}",
                row.codec, row.clip, row.param, row.q, row.error
            ));
        }
        Ok(())
    }
}

fn base_row(codec: &Codec, clip: &Clip, q: i64, target: Option<f64>, opts: &MeasureOpts) -> Row {
    Row {
        codec: codec.name.clone(),
        codec_label: codec.label.clone(),
        clip: clip.name.clone(),
        param: codec.param.clone(),
        q,
        target_kbps: target,
        frames: clip.frames.len(),
        width: clip.width,
        height: clip.height,
        fps_num: clip.fps_num,
        fps_den: clip.fps_den,
        yuv_weights: opts.weights.label(),
        threads: opts.run.threads,
        psnr_y: f64::NAN,
        psnr_u: f64::NAN,
        psnr_v: f64::NAN,
        psnr_yuv: f64::NAN,
        psnr_y_global: f64::NAN,
        msssim_y: f64::NAN,
        msssim_y_db: f64::NAN,
        kbps: f64::NAN,
        bpp: f64::NAN,
        ..Default::default()
    }
}

/// kbit/s of `bytes` over `frames` at `fps_num/fps_den`.
pub fn kbps(bytes: u64, frames: usize, fps_num: u32, fps_den: u32) -> f64 {
    bytes as f64 * 8.0 * fps_num as f64 / (frames as f64 * fps_den as f64) / 1000.0
}

/// Codes, decodes and measures one point. Never fails: errors become a row with status `error`.
pub fn measure(
    codec: &Codec,
    clip: &Clip,
    q: i64,
    target: Option<f64>,
    opts: &MeasureOpts,
) -> (Row, Vec<FrameRow>) {
    measure_coded(codec, clip, q, target, opts, || {
        code_clip(codec, clip, q, &opts.run, true)
    })
}

/// As [`measure`], with the clip coded by `code`.
pub fn measure_coded(
    codec: &Codec,
    clip: &Clip,
    q: i64,
    target: Option<f64>,
    opts: &MeasureOpts,
    code: impl FnOnce() -> Result<Coded>,
) -> (Row, Vec<FrameRow>) {
    let mut row = base_row(codec, clip, q, target, opts);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<(Coded, Vec<FrameMetrics>)> {
            let coded = code()?;
            check_decoded(clip, &coded.decoded)?;
            let fm: Vec<FrameMetrics> = clip
                .frames
                .par_iter()
                .zip(&coded.decoded)
                .map(|(s, d)| frame_metrics(s, d, opts.msssim))
                .collect();
            Ok((coded, fm))
        },
    ));
    let (coded, fm) = match res {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            row.status = "error".into();
            row.error = format!("{e:#}");
            return (row, Vec::new());
        }
        Err(p) => {
            row.status = "error".into();
            row.error = format!(
                "panic: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            );
            return (row, Vec::new());
        }
    };
    let cm = clip_metrics(&fm, opts.weights);
    let n = clip.frames.len();
    row.bytes = coded.bytes;
    row.file_bytes = coded.file_bytes;
    row.kbps = kbps(coded.bytes, n, clip.fps_num, clip.fps_den);
    row.bpp = coded.bytes as f64 * 8.0 / (clip.width * clip.height * n) as f64;
    row.psnr_y = cm.psnr[0];
    row.psnr_u = cm.psnr[1];
    row.psnr_v = cm.psnr[2];
    row.psnr_yuv = cm.psnr_yuv;
    row.psnr_y_global = cm.psnr_y_global;
    row.msssim_y = cm.msssim_y;
    row.msssim_y_db = msssim_db(cm.msssim_y);
    row.enc_s = coded.enc_s;
    row.dec_s = coded.dec_s;
    row.decoder = coded.decoder;
    row.settings = coded.settings;
    row.status = "ok".into();
    let frames = fm
        .iter()
        .enumerate()
        .map(|(i, m)| FrameRow {
            codec: codec.name.clone(),
            clip: clip.name.clone(),
            q,
            target_kbps: target,
            frame: i,
            bytes: coded.frame_bytes.as_ref().and_then(|b| b.get(i).copied()),
            psnr_y: m.psnr[0],
            psnr_u: m.psnr[1],
            psnr_v: m.psnr[2],
            psnr_yuv: opts.weights.combine(m.psnr),
            msssim_y: m.msssim_y,
        })
        .collect();
    (row, frames)
}

/// One grid point to run.
#[derive(Clone)]
pub struct Job {
    /// Codec.
    pub codec: Arc<Codec>,
    /// Clip.
    pub clip: Arc<Clip>,
    /// Quality value.
    pub q: i64,
}

/// Runs `f` on every item with `parallel` plain OS threads pulling from a
/// shared queue, in order. Plain threads (not a rayon pool) on purpose: a
/// rayon worker that waits on another pool (Mica's and rav1e's encoders
/// have their own) steals more jobs meanwhile, which would run many points at
/// once and make the timings meaningless.
pub fn for_each_parallel<T: Sync>(items: &[T], parallel: usize, f: impl Fn(&T) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1).min(items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match items.get(i) {
                    Some(it) => f(it),
                    None => break,
                }
            });
        }
    });
}

/// Runs `jobs` with `parallel` points at a time; returns the new rows.
pub fn run_grid(
    jobs: Vec<Job>,
    parallel: usize,
    opts: &MeasureOpts,
    sink: &Sink,
) -> Result<Vec<Row>> {
    let out = Mutex::new(Vec::new());
    let err = Mutex::new(None);
    for_each_parallel(&jobs, parallel, |j| {
        sink.bar.set_message(format!(
            "{} {} {}={}",
            j.codec.name, j.clip.name, j.codec.param, j.q
        ));
        let (row, frames) = measure(&j.codec, &j.clip, j.q, None, opts);
        if let Err(e) = sink.record(&row, &frames) {
            *err.lock().unwrap() = Some(e);
        }
        out.lock().unwrap().push(row);
        sink.bar.inc(1);
    });
    if let Some(e) = err.into_inner().unwrap() {
        return Err(e);
    }
    Ok(out.into_inner().unwrap())
}

/// Known rates of one (codec, clip): q → kbps.
pub type RateTable = BTreeMap<i64, f64>;

/// Next q to probe inside the open bracket (`lo` over budget, `hi` within it),
/// interpolating log-rate linearly in q when `interpolate`, else bisecting.
/// Returns `None` when the bracket has no integer inside.
pub fn next_probe(lo: (i64, f64), hi: (i64, f64), target: f64, interpolate: bool) -> Option<i64> {
    if hi.0 - lo.0 <= 1 {
        return None;
    }
    let mid = lo.0 + (hi.0 - lo.0) / 2;
    if !(interpolate && lo.1 > 0.0 && hi.1 > 0.0) || lo.1 <= hi.1 {
        return Some(mid);
    }
    let (l0, l1, lt) = (lo.1.ln(), hi.1.ln(), target.ln());
    let t = (l0 - lt) / (l0 - l1);
    let q = lo.0 as f64 + t * (hi.0 - lo.0) as f64;
    // Round toward the budget side and keep strictly inside the bracket.
    Some((q.round() as i64).clamp(lo.0 + 1, hi.0 - 1))
}

/// Outcome of a CLIC search for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The best-quality setting at or under the target (or the lowest-rate setting if none is).
    pub q: i64,
    /// Whether `q` meets the target.
    pub meets: bool,
}

/// Finds the smallest q (best quality; the parameter is assumed to lower the
/// rate as it grows) whose rate is at or under `target`, probing with `rate`.
/// Already known rates in `known` are reused and new ones added.
pub fn search_q(
    range: [i64; 2],
    target: f64,
    known: &mut RateTable,
    mut rate: impl FnMut(i64) -> Option<f64>,
) -> SearchResult {
    let mut probe = |q: i64, known: &mut RateTable| -> Option<f64> {
        if let Some(&r) = known.get(&q) {
            return Some(r);
        }
        let r = rate(q)?;
        known.insert(q, r);
        Some(r)
    };
    // Bracket from what is known: the largest q over budget below the smallest q within it.
    let within = known
        .iter()
        .filter(|(_, &r)| r <= target)
        .map(|(&q, &r)| (q, r))
        .next();
    let hi = match within {
        Some(h) => h,
        None => {
            // Start from a guess near the known over-budget points, else the top of the range.
            let top = range[1];
            match probe(top, known) {
                Some(r) if r <= target => (top, r),
                _ => {
                    return SearchResult {
                        q: top,
                        meets: false,
                    }
                }
            }
        }
    };
    let mut hi = hi;
    let mut lo = known
        .range(..hi.0)
        .filter(|(_, &r)| r > target)
        .map(|(&q, &r)| (q, r))
        .next_back();
    if lo.is_none() {
        if hi.0 == range[0] {
            return SearchResult {
                q: hi.0,
                meets: true,
            };
        }
        match probe(range[0], known) {
            Some(r) if r <= target => {
                return SearchResult {
                    q: range[0],
                    meets: true,
                }
            }
            Some(r) => lo = Some((range[0], r)),
            None => lo = Some((range[0], f64::INFINITY)),
        }
    }
    let mut lo = lo.unwrap();
    let mut step = 0;
    while let Some(q) = next_probe(lo, hi, target, step % 2 == 0) {
        step += 1;
        match probe(q, known) {
            Some(r) if r <= target => hi = (q, r),
            Some(r) => lo = (q, r),
            None => lo = (q, f64::INFINITY),
        }
    }
    SearchResult {
        q: hi.0,
        meets: true,
    }
}

/// One CLIC job: a codec and clip searched for every target.
#[derive(Clone)]
pub struct ClicJob {
    /// Codec.
    pub codec: Arc<Codec>,
    /// Clip.
    pub clip: Arc<Clip>,
    /// Targets in kbit/s.
    pub targets: Vec<f64>,
}

/// Runs CLIC searches. Every probe is a fully measured point recorded in the
/// results sink (so it is reused later); the chosen points go to `clic_sink`
/// with their target. Known points (`seed`) are reused without coding.
pub fn run_clic(
    jobs: Vec<ClicJob>,
    parallel: usize,
    opts: &MeasureOpts,
    seed: &HashMap<PointKey, Row>,
    sink: &Sink,
    clic_sink: &Mutex<CsvAppender>,
) -> Result<Vec<Row>> {
    let out = Mutex::new(Vec::new());
    let err = Mutex::new(None);
    for_each_parallel(&jobs, parallel, |j| {
        let mut rows: HashMap<i64, Row> = seed
            .values()
            .filter(|r| {
                r.codec == j.codec.name
                    && r.clip == j.clip.name
                    && r.target_kbps.is_none()
                    && r.ok()
            })
            .map(|r| (r.q, r.clone()))
            .collect();
        let mut known: RateTable = rows.iter().map(|(&q, r)| (q, r.kbps)).collect();
        for &t in &j.targets {
            sink.bar
                .set_message(format!("{} {} @ {t} kbit/s", j.codec.name, j.clip.name));
            let res = search_q(j.codec.range, t, &mut known, |q| {
                let (row, frames) = measure(&j.codec, &j.clip, q, None, opts);
                if let Err(e) = sink.record(&row, &frames) {
                    *err.lock().unwrap() = Some(e);
                }
                let r = row.ok().then_some(row.kbps);
                rows.insert(q, row);
                r
            });
            let mut row = rows.get(&res.q).cloned().unwrap_or_else(|| {
                let mut r = base_row(&j.codec, &j.clip, res.q, None, opts);
                r.status = "error".into();
                r.error = "no measurement".into();
                r
            });
            row.target_kbps = Some(t);
            if !res.meets && row.ok() {
                row.error = format!(
                    "over budget: even {}={} needs {:.1} kbit/s",
                    row.param, row.q, row.kbps
                );
            }
            if let Err(e) = clic_sink.lock().unwrap().push(&row) {
                *err.lock().unwrap() = Some(e);
            }
            out.lock().unwrap().push(row);
            sink.bar.inc(1);
        }
    });
    if let Some(e) = err.into_inner().unwrap() {
        return Err(e);
    }
    Ok(out.into_inner().unwrap())
}

/// The share of a CLIC budget the rate control aims at: its second pass
/// lands within about 1.5 % of a target, and a budget must not be exceeded.
pub const RATE_CONTROL_AIM: f64 = 0.99;

/// CLIC through Mica's rate control: for each codec (Mica entries only) and
/// budget, one first pass and one second pass per clip instead of a
/// bisection over QPs. Each clip aims at [`RATE_CONTROL_AIM`] of the
/// budget; with `set_budget` the budget is the whole set's (CLIC's rule: the
/// set's total size over its total duration), shared among the clips where
/// their first passes predict the same base QP meets it (equal QP, about
/// equal slope of distortion against rate: where a bit buys the same
/// everywhere). Where the second passes overshoot the budget (the set's, or
/// a clip's), the clip that overshot most is coded again aiming lower (at
/// most twice). The rows go to `clic_sink` with the share each clip first
/// aimed at (in `q`, kbit/s; its encode time includes every pass); they are not resumed (an interrupted run codes them
/// all again) and their per-frame rows are not kept.
#[allow(clippy::too_many_arguments)]
pub fn run_clic_rate(
    codecs: &[Arc<Codec>],
    clips: &[Arc<Clip>],
    targets: &[f64],
    set_budget: bool,
    parallel: usize,
    opts: &MeasureOpts,
    bar: &ProgressBar,
    clic_sink: &Mutex<CsvAppender>,
) -> Result<Vec<Row>> {
    let out = Mutex::new(Vec::new());
    let err = Mutex::new(None);
    for codec in codecs {
        for &budget in targets {
            bar.set_message(format!("{} first passes @ {budget} kbit/s", codec.name));
            let firsts: Vec<Mutex<Option<(FirstPassStats, f64)>>> =
                clips.iter().map(|_| Mutex::new(None)).collect();
            let indices: Vec<usize> = (0..clips.len()).collect();
            for_each_parallel(&indices, parallel, |&i| {
                match mica_first_pass(codec, &clips[i], budget, &opts.run) {
                    Ok(r) => *firsts[i].lock().unwrap() = Some(r),
                    Err(e) => *err.lock().unwrap() = Some(e),
                }
            });
            if let Some(e) = err.lock().unwrap().take() {
                return Err(e);
            }
            let firsts: Vec<(FirstPassStats, f64)> = firsts
                .into_iter()
                .map(|m| m.into_inner().unwrap().expect("every first pass ran"))
                .collect();
            let shares = if set_budget {
                set_shares(clips, &firsts, budget * RATE_CONTROL_AIM)
            } else {
                vec![budget * RATE_CONTROL_AIM; clips.len()]
            };
            bar.set_message(format!("{} second passes @ {budget} kbit/s", codec.name));
            let second = |i: usize, share: f64| -> Row {
                let (stats, first_s) = firsts[i].clone();
                let clip = &clips[i];
                let (mut row, _) = measure_coded(codec, clip, 0, Some(budget), opts, || {
                    code_clip_at_rate(codec, clip, share, stats, first_s, &opts.run, true)
                });
                row.param = "two-pass".into();
                row.q = share.round() as i64;
                row
            };
            let rows: Vec<Mutex<Row>> = indices
                .iter()
                .map(|&i| Mutex::new(base_row(codec, &clips[i], 0, Some(budget), opts)))
                .collect();
            for_each_parallel(&indices, parallel, |&i| {
                *rows[i].lock().unwrap() = second(i, shares[i]);
                bar.inc(1);
            });
            let mut rows: Vec<Row> = rows.into_iter().map(|m| m.into_inner().unwrap()).collect();
            // A budget is a limit: where the second passes overshot it (by
            // their 1-2 %), the clip that overshot its share most is coded
            // again, aiming its share less the excess (at most twice).
            for _ in 0..2 {
                let over: Vec<(usize, f64)> = rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.ok())
                    .map(|(i, r)| (i, (r.kbps - shares[i] / RATE_CONTROL_AIM) * seconds(r)))
                    .collect();
                let excess = if set_budget {
                    over.iter().map(|o| o.1).sum::<f64>()
                } else {
                    over.iter().map(|o| o.1).fold(f64::MIN, f64::max)
                };
                let Some(&(worst, _)) = over.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
                    break;
                };
                if excess <= 0.0 || rows.iter().any(|r| !r.ok()) {
                    break;
                }
                let again = (shares[worst] - excess / seconds(&rows[worst]) / RATE_CONTROL_AIM)
                    .max(mica::MIN_KBPS);
                bar.set_message(format!(
                    "{} {} again @ {again:.1} kbit/s",
                    codec.name, clips[worst].name
                ));
                let mut row = second(worst, again);
                row.enc_s += rows[worst].enc_s;
                // (`q` stays the clip's share of the budget.)
                row.q = rows[worst].q;
                rows[worst] = row;
            }
            for row in rows {
                let mut row = row;
                if row.ok() && !set_budget && row.kbps > budget {
                    row.error = format!("over budget: {:.1} kbit/s", row.kbps);
                }
                if let Err(e) = clic_sink.lock().unwrap().push(&row) {
                    *err.lock().unwrap() = Some(e);
                }
                out.lock().unwrap().push(row);
            }
        }
    }
    if let Some(e) = err.into_inner().unwrap() {
        return Err(e);
    }
    Ok(out.into_inner().unwrap())
}

/// A row's duration in seconds.
fn seconds(r: &Row) -> f64 {
    r.frames as f64 * f64::from(r.fps_den) / f64::from(r.fps_num)
}

/// Each clip's rate (kbit/s) where the set's first passes predict that the
/// same base QP spends `kbps` over the whole set.
fn set_shares(clips: &[Arc<Clip>], firsts: &[(FirstPassStats, f64)], kbps: f64) -> Vec<f64> {
    let seconds: Vec<f64> = clips
        .iter()
        .map(|c| c.frames.len() as f64 * f64::from(c.fps_den) / f64::from(c.fps_num))
        .collect();
    let bits_at = |stats: &FirstPassStats, qp: f64| -> f64 {
        stats.frames().map(|(_, f)| f.bits_at(qp)).sum()
    };
    let budget = kbps * 1000.0 * seconds.iter().sum::<f64>();
    let total = |qp: f64| -> f64 { firsts.iter().map(|(s, _)| bits_at(s, qp)).sum() };
    let (mut lo, mut hi) = (-12.0, 51.0);
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if total(mid) > budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let qp = 0.5 * (lo + hi);
    // Scaled so that the shares add up to the budget even where no QP
    // reaches it.
    let scale = budget / total(qp).max(1.0);
    firsts
        .iter()
        .zip(&seconds)
        .map(|((s, _), secs)| {
            (scale * bits_at(s, qp) / secs / 1000.0).clamp(mica::MIN_KBPS, mica::MAX_KBPS)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A monotone synthetic rate curve: 4000·2^(-q/6) kbit/s.
    fn rate(q: i64) -> f64 {
        4000.0 * 2f64.powf(-q as f64 / 6.0)
    }

    #[test]
    fn kbps_definition() {
        // 48 frames at 25 fps = 1.92 s; 240000 bytes = 1.92 Mbit -> 1000 kbit/s.
        assert!((kbps(240_000, 48, 25, 1) - 1000.0).abs() < 1e-9);
        assert!(
            (kbps(1000, 30, 30000, 1001) - 1000.0 * 8.0 * 30000.0 / (30.0 * 1001.0) / 1000.0).abs()
                < 1e-12
        );
    }

    #[test]
    fn search_finds_best_setting_under_budget() {
        for target in [50.0, 100.0, 333.0, 1000.0, 3999.0] {
            let mut known = RateTable::new();
            let mut probes = 0;
            let r = search_q([0, 51], target, &mut known, |q| {
                probes += 1;
                Some(rate(q))
            });
            assert!(r.meets);
            assert!(
                rate(r.q) <= target,
                "target {target}: q {} rate {}",
                r.q,
                rate(r.q)
            );
            assert!(
                r.q == 0 || rate(r.q - 1) > target,
                "q {} is not the best",
                r.q
            );
            assert!(probes <= 9, "{probes} probes");
            // Searching again with the table costs nothing.
            let again = search_q([0, 51], target, &mut known, |_| panic!("should reuse"));
            assert_eq!(again, r);
        }
    }

    #[test]
    fn search_reports_unreachable_targets_and_failures() {
        let mut known = RateTable::new();
        let r = search_q([0, 51], 1.0, &mut known, |q| Some(rate(q)));
        assert_eq!(
            r,
            SearchResult {
                q: 51,
                meets: false
            }
        );
        let mut known = RateTable::new();
        let r = search_q([0, 51], 1e9, &mut known, |q| Some(rate(q)));
        assert_eq!(r, SearchResult { q: 0, meets: true });
        // Failing probes count as over budget; the search still ends on a measured setting.
        let mut known = RateTable::new();
        let r = search_q([0, 51], 500.0, &mut known, |q| {
            if q == 18 || q == 19 {
                None
            } else {
                Some(rate(q))
            }
        });
        assert!(r.meets && rate(r.q) <= 500.0 && known.contains_key(&r.q));
    }

    #[test]
    fn next_probe_stays_inside() {
        assert_eq!(next_probe((10, 500.0), (11, 100.0), 200.0, true), None);
        let q = next_probe((10, 800.0), (20, 100.0), 200.0, true).unwrap();
        assert!(q > 10 && q < 20);
        // log-linear interpolation: ln 800 -> ln 100 over 10 steps, target 200 is 2/3 of the way.
        assert_eq!(q, 17);
        assert_eq!(next_probe((10, 800.0), (20, 100.0), 200.0, false), Some(15));
    }
}
