//! mica-rd: rate-distortion benchmark of Mica against other codecs, measured
//! in one run (BD-rate/BD-PSNR with PCHIP, CLIC-style bitrate targets).
//! See docs/mica-rd.md.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use codecs::{Clip, Codec, Rav1eDecode, RunOpts};
use compare::CurveSpec;
use metrics::YuvWeights;
use mica_rd::{
    bd, codecs, compare, external, metrics, plot, report, results, roundtrip, runner, speed,
};
use report::{Metric, ReportInfo};
use results::{consolidate, read_csv, write_csv, write_json, CsvAppender, FrameRow, Row};
use runner::{ClicJob, Job, MeasureOpts, Sink};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(
    name = "mica-rd",
    version,
    about = "Rate-distortion benchmark: Mica, rav1e and command-line codecs measured in one run"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Code every clip at every quality point with every codec; write CSV, JSON, plots and a report.
    Run(RunArgs),
    /// CLIC mode: per clip, the best setting whose bitrate meets each target.
    Clic(ClicArgs),
    /// BD-rate and BD-PSNR of two CSV files with `kbps` and `psnr` columns.
    BdRate(BdArgs),
    /// Rewrite the report, JSON and plots from the CSV files of an output folder.
    Report(ReportArgs),
    /// List the codecs known (built-in and from --codecs-file) and whether they can run here.
    Codecs(CodecListArgs),
    /// BD-rate of one results file's codec against another's, per clip and mean, per metric (Markdown).
    Compare(CompareArgs),
    /// BD-rate of a codec's points in a results file against the peer encoders of peers.csv.
    Peers(PeersArgs),
    /// Encode, write and read back the IVF stream, decode, and check the decoder's output equals the reconstruction.
    RoundTrip(RoundTripArgs),
    /// Interleaved timing of two builds' (or two argument sets') micaenc and micadec.
    Speed(SpeedArgs),
}

#[derive(Args, Clone)]
struct Common {
    /// Input clips: .y4m files or folders (every .y4m inside, sorted).
    #[arg(required = true)]
    clips: Vec<PathBuf>,
    /// Output folder (results.csv, frames.csv, results.json, report.md, plots/).
    #[arg(short, long)]
    out: PathBuf,
    /// Codecs to run, comma separated (see `mica-rd codecs`).
    #[arg(long, value_delimiter = ',', default_value = "mica,rav1e,x264,x265")]
    codecs: Vec<String>,
    /// Extra codec config files (TOML, same format as the built-in codecs.toml).
    #[arg(long = "codecs-file")]
    codecs_files: Vec<PathBuf>,
    /// Threads per encoder and decoder (0 = each codec's own default).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Points run in parallel (default: cores / threads, at least 1).
    #[arg(long)]
    jobs: Option<usize>,
    /// rav1e speed preset (0..=10).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=10))]
    rav1e_speed: u8,
    /// How rav1e's output is measured: auto = ffmpeg libdav1d decode when installed, else rav1e's reconstruction.
    #[arg(long, value_enum, default_value = "auto")]
    rav1e_decode: Rav1eDecode,
    /// Weights of PSNR-YUV (weighted mean of plane PSNRs), e.g. 6:1:1 or 4:1:1.
    #[arg(long, default_value = "6:1:1", value_parser = YuvWeights::parse)]
    yuv_weights: YuvWeights,
    /// Skip MS-SSIM (faster).
    #[arg(long)]
    no_msssim: bool,
    /// Anchor codec for the BD tables.
    #[arg(long, default_value = "x264")]
    anchor: String,
    /// Folder for temporary streams.
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// Code only the first N frames of each clip (a clip cut so is named
    /// CLIP-firstN in the results; stills and shorter clips are whole).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Quality points of one codec, e.g. `--points mica=22,27,32,37` (repeatable); others use their defaults.
    #[arg(long = "points", value_name = "CODEC=LIST")]
    points: Vec<String>,
    /// Also run each codec's extra (wider) points.
    #[arg(long)]
    extended: bool,
}

#[derive(Args)]
struct ClicArgs {
    #[command(flatten)]
    common: Common,
    /// Bitrate targets in kbit/s, comma separated (e.g. 1000,100).
    #[arg(long, value_delimiter = ',', required = true)]
    targets: Vec<f64>,
    /// Mica entries meet each target with their rate control (a first and
    /// a second pass per clip, aiming 1 % under the target) instead of a
    /// bisection over QPs; other codecs still bisect.
    #[arg(long)]
    rate_control: bool,
    /// Each target is a budget for the whole set of clips (CLIC's rule: the
    /// set's total size over its total duration), shared among the clips
    /// where their first passes predict one base QP meets it. Needs
    /// --rate-control and Mica entries only.
    #[arg(long)]
    set_budget: bool,
}

#[derive(Args)]
struct BdArgs {
    /// Anchor CSV.
    #[arg(long)]
    anchor: PathBuf,
    /// Test CSV.
    #[arg(long)]
    test: PathBuf,
    /// Rate column.
    #[arg(long, default_value = "kbps")]
    rate_col: String,
    /// Quality column (`psnr`, falling back to `psnr_y`).
    #[arg(long, default_value = "psnr")]
    quality_col: String,
}

#[derive(Args)]
struct ReportArgs {
    /// Output folder of an earlier run.
    #[arg(short, long)]
    out: PathBuf,
    /// Anchor codec for the BD tables.
    #[arg(long, default_value = "x264")]
    anchor: String,
}

#[derive(Args)]
struct CodecListArgs {
    /// Extra codec config files.
    #[arg(long = "codecs-file")]
    codecs_files: Vec<PathBuf>,
}

#[derive(Args)]
struct CompareArgs {
    /// The anchor: a results CSV and a codec in it, FILE:CODEC.
    #[arg(value_name = "ANCHOR.csv:CODEC", value_parser = CurveSpec::parse)]
    anchor: CurveSpec,
    /// The test: a results CSV and a codec in it, FILE:CODEC.
    #[arg(value_name = "TEST.csv:CODEC", value_parser = CurveSpec::parse)]
    test: CurveSpec,
    /// Quality column(s) of the CSV files, one table column each (repeatable
    /// or comma separated): psnr_y, psnr_yuv, psnr_u, psnr_v, psnr_y_global, msssim_y_db.
    #[arg(long = "metric", value_delimiter = ',', default_value = "psnr_y")]
    metrics: Vec<String>,
    /// Use only the points at these q values (e.g. 22,27,32,37).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    q: Vec<i64>,
}

#[derive(Args)]
struct PeersArgs {
    /// A results CSV of `mica-rd run`.
    #[arg(value_name = "RESULTS.csv")]
    results: PathBuf,
    /// The peer measurements (clip, enc, q, kbps, psnr_y_mean, ...).
    #[arg(long, default_value = "../shared/notes/peers.csv")]
    peers: PathBuf,
    /// The codec of RESULTS.csv to compare.
    #[arg(long, default_value = "mica")]
    codec: String,
    /// The anchor encoders (values of peers.csv's `enc` column), one table column each.
    #[arg(long, value_delimiter = ',', default_value = compare::PEER_ANCHORS)]
    anchors: Vec<String>,
}

/// `--frames N` or `all`.
#[derive(Clone, Copy, Debug)]
struct FrameLimit(Option<usize>);

fn parse_frame_limit(s: &str) -> Result<FrameLimit, String> {
    if s == "all" {
        return Ok(FrameLimit(None));
    }
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(FrameLimit(Some(n))),
        _ => Err(format!(
            "'{s}' is neither a frame count (1 or more) nor 'all'"
        )),
    }
}

#[derive(Args)]
struct RoundTripArgs {
    /// Input clips: .y4m files or folders (every .y4m inside, sorted).
    #[arg(required = true)]
    clips: Vec<PathBuf>,
    /// Frames coded from the start of each clip: a count or `all`.
    #[arg(long, default_value = "8", value_parser = parse_frame_limit)]
    frames: FrameLimit,
    /// Quantisation parameters (0..=51; down to -12 when coded at 10 bits).
    #[arg(long, value_delimiter = ',', default_value = "22,27,32,37", allow_hyphen_values = true, value_parser = clap::value_parser!(i8).range(-12..=51))]
    qps: Vec<i8>,
    /// Coded bit depths: `source` (the clip's), 8 or 10.
    #[arg(long, value_delimiter = ',', default_value = "source", value_parser = ["source", "8", "10"])]
    bit_depths: Vec<String>,
    /// Kernel levels of encoder and decoder: `best`, `scalar`, `avx2` (levels the
    /// CPU lacks are refused).
    #[arg(long, value_delimiter = ',', default_value = "best", value_parser = ["best", "scalar", "avx2"])]
    cpus: Vec<String>,
    /// Speed presets.
    #[arg(long, value_delimiter = ',', default_value = "medium", value_parser = ["fast", "medium", "slow"])]
    presets: Vec<String>,
    /// Prediction structures.
    #[arg(long, value_delimiter = ',', default_value = "random-access", value_parser = ["random-access", "low-delay", "intra"])]
    gops: Vec<String>,
    /// Frames per random-access group: `default` (the encoder's: 32 or 16
    /// chosen per group) or a fixed 1..=32 (low delay and all intra ignore
    /// it, so they run once).
    #[arg(long, value_delimiter = ',', default_value = "default", value_parser = parse_gop_size)]
    gop_sizes: Vec<Option<usize>>,
    /// Encoder thread counts (0: one per core).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// The learned loop filter.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    nn_filter: String,
    /// The learned intra mode.
    #[arg(long, default_value = "off", value_parser = ["on", "off"])]
    nn_intra: String,
}

#[derive(Args)]
struct SpeedArgs {
    /// Build folder of side A (holds micaenc and micadec, e.g. target/release).
    #[arg(long = "a", value_name = "DIR_A")]
    dir_a: PathBuf,
    /// Build folder of side B (default: A's).
    #[arg(long = "b", value_name = "DIR_B")]
    dir_b: Option<PathBuf>,
    /// Source clip.
    #[arg(long, default_value = "../shared/media/box_640x480_30fps_48f.y4m")]
    clip: PathBuf,
    /// Timed encodes per side.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    reps_enc: u64,
    /// Timed decodes per side.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u64).range(1..))]
    reps_dec: u64,
    /// micaenc arguments of both sides (split like a shell; --quiet is added).
    #[arg(
        long,
        default_value = "--qp 32 --threads 2",
        allow_hyphen_values = true
    )]
    enc_args: String,
    /// Extra micaenc arguments of side A only.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    args_a: String,
    /// Extra micaenc arguments of side B only.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    args_b: String,
    /// Folder for the temporary streams and outputs.
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// The builds' stream syntax differs (a header change that must not change
    /// coding): with the same arguments each decoder decodes its own build's
    /// stream, and the two decoded outputs must be equal.
    #[arg(long)]
    syntax_changed: bool,
    /// The builds code differently on purpose (an encoder change that moves
    /// rate and quality): each decoder decodes its own build's stream and
    /// nothing is compared; the report gives both streams' sizes.
    #[arg(long, conflicts_with = "syntax_changed")]
    coding_changed: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Clic(a) => cmd_clic(a),
        Cmd::BdRate(a) => cmd_bd(a),
        Cmd::Report(a) => cmd_report(a),
        Cmd::Codecs(a) => cmd_codecs(a),
        Cmd::Compare(a) => cmd_compare(a),
        Cmd::Peers(a) => cmd_peers(a),
        Cmd::RoundTrip(a) => cmd_round_trip(a),
        Cmd::Speed(a) => cmd_speed(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mica-rd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Expands files and folders into .y4m paths.
fn clip_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "y4m"))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{} holds no .y4m file", p.display());
            }
            out.extend(v);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{} is neither a file nor a folder", p.display());
        }
    }
    Ok(out)
}

/// All codecs by name: mica, rav1e and the external entries.
fn known_codecs(c: &Common) -> Result<Vec<Codec>> {
    let mut all: Vec<Codec> = codecs::MicaVariant::all()
        .into_iter()
        .map(|(name, v)| Codec::mica_variant(&name, v))
        .collect();
    all.push(Codec::rav1e(c.rav1e_speed, c.rav1e_decode));
    all.extend(
        external::load_codecs(&c.codecs_files)?
            .into_iter()
            .map(Codec::external),
    );
    Ok(all)
}

/// The requested codecs that can run here; missing external encoders are reported and skipped.
fn select_codecs(c: &Common) -> Result<(Vec<Arc<Codec>>, Vec<String>)> {
    let all = known_codecs(c)?;
    let avail = external::Availability::default();
    let mut chosen = Vec::new();
    let mut skipped = Vec::new();
    for name in &c.codecs {
        let Some(codec) = all.iter().find(|k| &k.name == name) else {
            bail!(
                "unknown codec '{name}'; known: {}",
                all.iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if let codecs::CodecKind::External(e) = &codec.kind {
            if let Err(why) = avail.check(e) {
                eprintln!("mica-rd: skipping codec {name}: {why}");
                skipped.push(format!("{name}: {why}"));
                continue;
            }
        }
        if matches!(
            codec.kind,
            codecs::CodecKind::Rav1e {
                decode: Rav1eDecode::Dav1d,
                ..
            }
        ) && !codecs::dav1d_available()
        {
            bail!("--rav1e-decode dav1d needs ffmpeg with libdav1d");
        }
        chosen.push(Arc::new(codec.clone()));
    }
    Ok((chosen, skipped))
}

fn parse_points(specs: &[String], codecs: &[Arc<Codec>]) -> Result<HashMap<String, Vec<i64>>> {
    let mut m = HashMap::new();
    for s in specs {
        let Some((name, list)) = s.split_once('=') else {
            bail!("--points '{s}' must look like CODEC=22,27,32")
        };
        if !codecs.iter().any(|c| c.name == name) {
            eprintln!("mica-rd: note: --points for {name}, which is not run");
        }
        let v: Result<Vec<i64>, _> = list.split(',').map(|x| x.trim().parse::<i64>()).collect();
        let v = v.with_context(|| format!("--points '{s}': values must be integers"))?;
        m.insert(name.to_string(), v);
    }
    Ok(m)
}

fn load_clips(paths: &[PathBuf], c: &Common, tmp: &Path) -> Result<Vec<Arc<Clip>>> {
    let quiet = c.quiet;
    let limit = c.frames.map_or(usize::MAX, |n| n as usize);
    let mut clips = Vec::new();
    for p in paths {
        let c = Clip::load_first(p, limit, tmp)?;
        if !quiet {
            eprintln!(
                "clip {}: {}x{}, {} frames, {}/{} fps",
                c.name,
                c.width,
                c.height,
                c.frames.len(),
                c.fps_num,
                c.fps_den
            );
        }
        if clips.iter().any(|o: &Arc<Clip>| o.name == c.name) {
            bail!("two clips are named {}", c.name);
        }
        clips.push(Arc::new(c));
    }
    Ok(clips)
}

fn measure_opts(c: &Common) -> Result<MeasureOpts> {
    let tmp = c.tmp.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&tmp)
        .with_context(|| format!("cannot create the folder {}", tmp.display()))?;
    Ok(MeasureOpts {
        run: RunOpts {
            threads: c.threads,
            tmp,
        },
        weights: c.yuv_weights,
        msssim: !c.no_msssim,
    })
}

fn jobs_for(c: &Common) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    c.jobs.unwrap_or((cores / c.threads.max(1)).max(1))
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let c = &a.common;
    let paths = clip_paths(&c.clips)?;
    let (codecs, skipped) = select_codecs(c)?;
    let points = parse_points(&a.points, &codecs)?;
    std::fs::create_dir_all(&c.out)?;
    let results = c.out.join("results.csv");
    let done = results::done_keys(&read_csv::<Row>(&results)?);
    let opts = measure_opts(c)?;
    let clips = load_clips(&paths, c, &opts.run.tmp)?;
    let mut jobs = Vec::new();
    for codec in &codecs {
        let mut qs = points
            .get(&codec.name)
            .cloned()
            .unwrap_or_else(|| codec.points.clone());
        if a.extended && !points.contains_key(&codec.name) {
            qs.extend(&codec.extra_points);
        }
        qs.sort();
        qs.dedup();
        for clip in &clips {
            for &q in &qs {
                if !done.contains(&results::PointKey::new(&codec.name, &clip.name, q, None)) {
                    jobs.push(Job {
                        codec: codec.clone(),
                        clip: clip.clone(),
                        q,
                    });
                }
            }
        }
    }
    let total_known = done.len();
    let parallel = jobs_for(c);
    if !c.quiet {
        eprintln!(
            "{} points to run ({} already in {}), {} in parallel, {} thread(s) per codec",
            jobs.len(),
            total_known,
            results.display(),
            parallel,
            c.threads
        );
    }
    let sink = Sink::open(
        &results,
        &c.out.join("frames.csv"),
        jobs.len() as u64,
        c.quiet,
    )?;
    let new = runner::run_grid(jobs, parallel, &opts, &sink)?;
    sink.bar.finish_and_clear();
    let failed = new.iter().filter(|r| !r.ok()).count();
    finish(&c.out, &c.anchor, &codecs, c, parallel, &skipped)?;
    if failed > 0 {
        eprintln!(
            "mica-rd: {failed} point(s) failed (status=error in results.csv); the others are kept"
        );
    }
    Ok(())
}

fn cmd_clic(a: ClicArgs) -> Result<()> {
    let c = &a.common;
    for t in &a.targets {
        if !(t.is_finite() && *t > 0.0) {
            bail!("target {t} kbit/s must be positive");
        }
    }
    let paths = clip_paths(&c.clips)?;
    let (codecs, skipped) = select_codecs(c)?;
    let is_mica = |codec: &Codec| matches!(codec.kind, codecs::CodecKind::Mica(_));
    if a.set_budget && (!a.rate_control || !codecs.iter().all(|codec| is_mica(codec))) {
        bail!("--set-budget needs --rate-control and Mica entries only (their rate control shares a set's budget; other codecs bisect each clip's QP)");
    }
    let (rate_codecs, codecs): (Vec<_>, Vec<_>) = codecs
        .into_iter()
        .partition(|codec| a.rate_control && is_mica(codec));
    std::fs::create_dir_all(&c.out)?;
    let results = c.out.join("results.csv");
    let clic_path = c.out.join("clic.csv");
    let seed: HashMap<results::PointKey, Row> = consolidate(read_csv::<Row>(&results)?)
        .into_iter()
        .map(|r| (r.key(), r))
        .collect();
    let clic_done = results::done_keys(&read_csv::<Row>(&clic_path)?);
    let opts = measure_opts(c)?;
    let clips = load_clips(&paths, c, &opts.run.tmp)?;
    let mut jobs = Vec::new();
    for codec in &codecs {
        for clip in &clips {
            let targets: Vec<f64> = a
                .targets
                .iter()
                .copied()
                .filter(|&t| {
                    !clic_done.contains(&results::PointKey::new(
                        &codec.name,
                        &clip.name,
                        0,
                        Some(t),
                    ))
                })
                .collect();
            if !targets.is_empty() {
                jobs.push(ClicJob {
                    codec: codec.clone(),
                    clip: clip.clone(),
                    targets,
                });
            }
        }
    }
    let parallel = jobs_for(c);
    let total: u64 = jobs.iter().map(|j| j.targets.len() as u64).sum();
    if !c.quiet {
        eprintln!("{total} (codec, clip, target) searches to run, {parallel} in parallel, {} thread(s) per codec", c.threads);
    }
    let rate_total = (rate_codecs.len() * clips.len() * a.targets.len()) as u64;
    let sink = Sink::open(
        &results,
        &c.out.join("frames.csv"),
        total + rate_total,
        c.quiet,
    )?;
    let clic_sink = Mutex::new(CsvAppender::open(&clic_path)?);
    let started = std::time::Instant::now();
    runner::run_clic(jobs, parallel, &opts, &seed, &sink, &clic_sink)?;
    let bisection_s = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    runner::run_clic_rate(
        &rate_codecs,
        &clips,
        &a.targets,
        a.set_budget,
        parallel,
        &opts,
        &sink.bar,
        &clic_sink,
    )?;
    let rate_s = started.elapsed().as_secs_f64();
    sink.bar.finish_and_clear();
    if !c.quiet {
        if total > 0 {
            eprintln!("bisections: {bisection_s:.1} s");
        }
        if rate_total > 0 {
            eprintln!("rate control: {rate_s:.1} s");
        }
    }
    let mut codecs = codecs;
    codecs.extend(rate_codecs);
    drop(clic_sink);
    finish(&c.out, &c.anchor, &codecs, c, parallel, &skipped)?;
    let clic = consolidate(read_csv::<Row>(&clic_path)?);
    mica_rd::outln!("{}", report::clic_markdown(&clic))?;
    Ok(())
}

/// Consolidates the CSVs and writes JSON, plots and the report.
fn finish(
    out: &Path,
    anchor: &str,
    codecs: &[Arc<Codec>],
    c: &Common,
    jobs: usize,
    skipped: &[String],
) -> Result<()> {
    let order: Vec<String> = codecs.iter().map(|k| k.name.clone()).collect();
    let command = std::env::args()
        .map(|a| external::shell_join(&[a]))
        .collect::<Vec<_>>()
        .join(" ");
    write_outputs(
        out,
        anchor,
        order,
        command,
        c.threads,
        jobs,
        c.yuv_weights.label(),
        skipped,
    )
}

#[allow(clippy::too_many_arguments)]
fn write_outputs(
    out: &Path,
    anchor: &str,
    mut order: Vec<String>,
    command: String,
    threads: usize,
    jobs: usize,
    weights: String,
    skipped: &[String],
) -> Result<()> {
    let results = out.join("results.csv");
    let rows = consolidate(read_csv::<Row>(&results)?);
    write_csv(&results, &rows)?;
    for r in &rows {
        if !order.contains(&r.codec) {
            order.push(r.codec.clone());
        }
    }
    let frames_path = out.join("frames.csv");
    let mut frames: Vec<FrameRow> = read_csv(&frames_path)?;
    {
        // Keep each point's latest frames only.
        let mut seen = std::collections::HashSet::new();
        frames.reverse();
        frames.retain(|f| seen.insert((f.key(), f.frame)));
        frames.reverse();
        frames.sort_by_key(|a| (a.key(), a.frame));
    }
    write_csv(&frames_path, &frames)?;
    let clic_path = out.join("clic.csv");
    let clic = consolidate(read_csv::<Row>(&clic_path)?);
    if clic_path.exists() {
        write_csv(&clic_path, &clic)?;
    }
    let mut all = rows.clone();
    all.extend(clic.iter().cloned());
    write_json(&out.join("results.json"), &all, &frames)?;
    let plots = plot::plot_all(&out.join("plots"), &rows, &Metric::ALL)?;
    let plots: Vec<String> = plots
        .iter()
        .map(|p| {
            p.strip_prefix(out)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let info = ReportInfo {
        anchor: anchor.into(),
        codec_order: order,
        command,
        plots,
        threads,
        jobs,
        weights,
    };
    let mut md = report::markdown(&rows, &clic, &info);
    if !skipped.is_empty() {
        md.push_str("\n## Skipped codecs\n\n");
        for s in skipped {
            md.push_str(&format!("* {s}\n"));
        }
    }
    std::fs::write(out.join("report.md"), md)?;
    eprintln!("wrote {}", out.join("report.md").display());
    Ok(())
}

fn cmd_report(a: ReportArgs) -> Result<()> {
    let rows: Vec<Row> = read_csv(&a.out.join("results.csv"))?;
    if rows.is_empty() {
        bail!("{} has no results", a.out.join("results.csv").display());
    }
    let threads = rows.first().map(|r| r.threads).unwrap_or(0);
    let weights = rows
        .first()
        .map(|r| r.yuv_weights.clone())
        .unwrap_or_default();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    write_outputs(
        &a.out,
        &a.anchor,
        Vec::new(),
        command,
        threads,
        0,
        weights,
        &[],
    )
}

fn cmd_bd(a: BdArgs) -> Result<()> {
    let anchor = results::read_rd_csv(&a.anchor, &a.rate_col, &a.quality_col)?;
    let test = results::read_rd_csv(&a.test, &a.rate_col, &a.quality_col)?;
    let r = bd::bd_rate(&anchor, &test).with_context(|| "BD-rate")?;
    let q = bd::bd_quality(&anchor, &test).with_context(|| "BD-PSNR")?;
    mica_rd::outln!("anchor: {} ({} points)", a.anchor.display(), anchor.len())?;
    mica_rd::outln!("test:   {} ({} points)", a.test.display(), test.len())?;
    mica_rd::outln!(
        "BD-rate: {:+.4} % (PCHIP, over {} {:.4}..{:.4})",
        r.value,
        a.quality_col,
        r.interval.0,
        r.interval.1
    )?;
    mica_rd::outln!(
        "BD-PSNR: {:+.4} dB (PCHIP, over {} {:.2}..{:.2})",
        q.value,
        a.rate_col,
        10f64.powf(q.interval.0),
        10f64.powf(q.interval.1)
    )?;
    Ok(())
}

fn cmd_codecs(a: CodecListArgs) -> Result<()> {
    let avail = external::Availability::default();
    mica_rd::outln!(
        "{:<14} {:<8} {:<34} {:<20} status",
        "name",
        "param",
        "label",
        "default points"
    )?;
    let mut all = vec![Codec::mica(), Codec::rav1e(6, Rav1eDecode::Auto)];
    all.extend(
        external::load_codecs(&a.codecs_files)?
            .into_iter()
            .map(Codec::external),
    );
    for c in &all {
        let status = match &c.kind {
            codecs::CodecKind::External(e) => match avail.check(e) {
                Ok(()) => "available".to_string(),
                Err(w) => format!("missing ({w})"),
            },
            codecs::CodecKind::Rav1e { .. } => format!(
                "built in ({}; measured by {})",
                if cfg!(feature = "asm") {
                    "asm"
                } else {
                    "pure Rust"
                },
                if codecs::dav1d_available() {
                    "ffmpeg libdav1d"
                } else {
                    "rav1e reconstruction"
                }
            ),
            codecs::CodecKind::Mica(_) => "built in".to_string(),
        };
        let pts = format!("{:?}", c.points);
        mica_rd::outln!(
            "{:<14} {:<8} {:<34} {:<20} {status}",
            c.name,
            c.param,
            c.label,
            pts
        )?;
    }
    Ok(())
}

fn cmd_compare(a: CompareArgs) -> Result<()> {
    let qs = (!a.q.is_empty()).then_some(&a.q[..]);
    let (grid, only_one) = compare::compare(&a.anchor, &a.test, &a.metrics, qs)?;
    if !only_one.is_empty() {
        eprintln!(
            "mica-rd: clips in only one of the two files, left out: {}",
            only_one.join(", ")
        );
    }
    mica_rd::outln!(
        "BD-rate of {} against {} (PCHIP over kbps; negative: fewer bits at equal quality){}",
        a.test.label(),
        a.anchor.label(),
        match qs {
            Some(q) => format!(
                ", q {}",
                q.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => String::new(),
        }
    )?;
    mica_rd::outln!()?;
    mica_rd::outln!("{}", grid.markdown(2, " %").trim_end())?;
    Ok(())
}

fn cmd_peers(a: PeersArgs) -> Result<()> {
    let grid = compare::peers(&a.results, &a.codec, &a.peers, &a.anchors)?;
    mica_rd::outln!(
        "BD-rate of {}:{} against the encoders of {} (Y-PSNR mean of frames, PCHIP over kbps)",
        a.results.display(),
        a.codec,
        a.peers.display()
    )?;
    mica_rd::outln!()?;
    mica_rd::outln!("{}", grid.markdown(1, "%").trim_end())?;
    Ok(())
}

/// `default` or a group length the encoder accepts.
fn parse_gop_size(s: &str) -> std::result::Result<Option<usize>, String> {
    if s == "default" {
        return Ok(None);
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=32).contains(&n) => Ok(Some(n)),
        _ => Err(format!("'{s}' is not `default` or a group length 1..=32")),
    }
}

fn cmd_round_trip(a: RoundTripArgs) -> Result<()> {
    let paths = clip_paths(&a.clips)?;
    let mut cases = Vec::new();
    let mut cpus = Vec::new();
    for c in &a.cpus {
        cpus.push(match c.as_str() {
            "best" => None,
            name => {
                let level = mica::CpuLevel::from_name(name).expect("validated by clap");
                if !mica::CpuLevel::all_supported().contains(&level) {
                    bail!("this CPU does not support the {name} kernels");
                }
                Some(level)
            }
        });
    }
    for &qp in &a.qps {
        for depth in &a.bit_depths {
            for &cpu in &cpus {
                for p in &a.presets {
                    for g in &a.gops {
                        let gop = roundtrip::parse_gop(g).expect("validated by clap");
                        let sizes: &[Option<usize>] = if gop == mica::GopStructure::RandomAccess {
                            &a.gop_sizes
                        } else {
                            &[None]
                        };
                        for (&threads, &gop_size) in a
                            .threads
                            .iter()
                            .flat_map(|t| sizes.iter().map(move |s| (t, s)))
                        {
                            cases.push(roundtrip::Case {
                                qp,
                                bit_depth: depth.parse().ok(),
                                cpu,
                                preset: mica::Preset::from_name(p).expect("validated by clap"),
                                gop,
                                gop_size,
                                threads,
                                nn_filter: a.nn_filter == "on",
                                nn_intra: a.nn_intra == "on",
                            });
                        }
                    }
                }
            }
        }
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &paths {
        let src = roundtrip::Source::load(path, a.frames.0)?;
        for case in &cases {
            match roundtrip::round_trip(&src, case) {
                Ok(p) => {
                    passed += 1;
                    mica_rd::outln!(
                        "ok   {} {} frames {} bytes {} md5 {}",
                        src.name,
                        case.label(),
                        p.frames,
                        p.ivf_bytes,
                        p.md5
                    )?;
                }
                Err(e) => {
                    failed += 1;
                    mica_rd::outln!("FAIL {} {}: {e:#}", src.name, case.label())?;
                }
            }
        }
    }
    mica_rd::outln!("{passed} passed, {failed} failed")?;
    if failed > 0 {
        bail!("{failed} of {} round trips failed", passed + failed);
    }
    Ok(())
}

fn cmd_speed(a: SpeedArgs) -> Result<()> {
    let words = |s: &str, what: &str| {
        external::split_words(s).with_context(|| format!("{what} '{s}' cannot be split into words"))
    };
    let (args_a, args_b) = (words(&a.args_a, "--args-a")?, words(&a.args_b, "--args-b")?);
    let same_args = args_a == args_b;
    let side_a = speed::Side::new("A", &a.dir_a, args_a)?;
    let side_b = speed::Side::new("B", a.dir_b.as_ref().unwrap_or(&a.dir_a), args_b)?;
    if a.dir_b.is_none() && same_args {
        bail!("nothing to compare: give --b DIR_B (another build), or --args-a and --args-b that differ");
    }
    let enc_args = words(&a.enc_args, "--enc-args")?;
    for (option, side) in [("--args-a", &side_a), ("--args-b", &side_b)] {
        if let Some(o) = side
            .args
            .iter()
            .find(|w| w.starts_with('-') && enc_args.contains(w))
        {
            bail!(
                "{option} repeats {o} of --enc-args '{}', and micaenc takes an option once: \
                 leave it out of --enc-args (e.g. --enc-args \"--threads 2\" --args-a \"--qp 32\" --args-b \"--qp 27\")",
                a.enc_args
            );
        }
    }
    let f = std::fs::File::open(&a.clip)
        .with_context(|| format!("cannot open the clip {}", a.clip.display()))?;
    let mut r = mica_io::y4m::Y4mReader::new(std::io::BufReader::new(f))
        .with_context(|| format!("cannot read {}", a.clip.display()))?;
    let mut frames = 0usize;
    while r
        .read_frame()
        .with_context(|| format!("cannot read {}", a.clip.display()))?
        .is_some()
    {
        frames += 1;
    }
    if frames == 0 {
        bail!("{} holds no frame", a.clip.display());
    }
    let plan = speed::Plan {
        clip: a
            .clip
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", a.clip.display()))?,
        frames,
        enc_args,
        a: side_a,
        b: side_b,
        reps_enc: a.reps_enc as usize,
        reps_dec: a.reps_dec as usize,
        syntax_changed: a.syntax_changed,
        coding_changed: a.coding_changed,
    };
    let tmp = match &a.tmp {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .context("cannot create a temporary folder")?;
    let report = speed::run(&plan, tmp.path())?;
    mica_rd::outln!("{}", speed::report_text(&plan, &report).trim_end())?;
    Ok(())
}
