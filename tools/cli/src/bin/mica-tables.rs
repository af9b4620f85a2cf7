//! `mica-tables`: derives Mica's fixed coding tables from encodes of training
//! material (never the test clips).
//!
//! `mica-tables contexts TRAIN_DIR --rust codec/src/entropy/context_init.rs --spec
//! docs/context-init.md` encodes the first `--frames` frames of every y4m file
//! in `TRAIN_DIR` (random access: a keyframe, then inter frames; a still is one
//! keyframe) at every `--qp`, once with the learned intra mode off and once on
//! (its flag's contexts only adapt with it on), every frame's contexts starting
//! at probability one half. Each context's initial value for a frame type and
//! QP class is then the mean of its end-of-frame probability over the frames of
//! that type and class that coded it. Starting from one half, not from the
//! current tables, makes the result independent of the tables it replaces:
//! the same command always writes the same files.

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use mica::internals::{ContextStats, TrainingHooks};
use mica::{EncoderConfig, Frame};
use mica_cli::{encode_for_training, read_clip, training_files, Output};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Frames of a class that must have coded a context for the class's own mean;
/// with fewer, the mean over every QP class of the frame type is used.
const MIN_FRAMES_PER_CLASS: usize = 4;
/// Initial probabilities are kept within [1/43, 42/43] of either symbol: a
/// context the training material never saw near certainty should not start
/// there.
const P0_RANGE: (f64, f64) = (768.0, 32000.0);

#[derive(Parser)]
#[command(version, about = "Derive Mica's coding tables from training material")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Context initialisation tables (docs/bitstream.md section 3)
    Contexts(ContextArgs),
}

#[derive(clap::Args)]
struct ContextArgs {
    /// Folder of training y4m files (../shared/media/train; never the test clips)
    train_dir: PathBuf,
    /// QPs to encode at
    #[arg(long = "qp", value_delimiter = ',', default_values_t = [22u8, 27, 32, 37, 42])]
    qps: Vec<u8>,
    /// Frames per file, from the first
    #[arg(long, default_value_t = 17)]
    frames: usize,
    /// Encodes run in parallel (0: one per core)
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Rust source to write the tables to (codec/src/entropy/context_init.rs)
    #[arg(long)]
    rust: PathBuf,
    /// Markdown specification to write the tables to (docs/context-init.md)
    #[arg(long)]
    spec: PathBuf,
}

/// Sums of end-of-frame probabilities and frame counts, per context.
#[derive(Clone)]
struct Sums {
    sum: Vec<f64>,
    frames: Vec<usize>,
}

impl Sums {
    fn new(n: usize) -> Sums {
        Sums {
            sum: vec![0.0; n],
            frames: vec![0; n],
        }
    }

    fn add(&mut self, s: &ContextStats) {
        for (i, (&p0, &coded)) in s.p0.iter().zip(&s.coded).enumerate() {
            if coded {
                self.sum[i] += p0 as f64;
                self.frames[i] += 1;
            }
        }
    }

    fn mean(&self, i: usize) -> Option<f64> {
        (self.frames[i] > 0).then(|| self.sum[i] / self.frames[i] as f64)
    }
}

fn encode_stats(
    frames: &[Frame],
    width: usize,
    height: usize,
    qp: u8,
    nn_intra: bool,
) -> Result<Vec<ContextStats>> {
    let mut cfg = EncoderConfig::new(width, height);
    cfg.qp = i8::try_from(qp).context("QP above 127")?;
    // Coded at the material's own depth.
    let depth = frames.first().map_or(8, |f| f.bit_depth);
    cfg.bit_depth = depth;
    cfg.input_bit_depth = depth;
    cfg.threads = 1;
    cfg.nn_intra = nn_intra;
    cfg.trained_contexts = false;
    let hooks = TrainingHooks {
        keep_context_stats: true,
        ..Default::default()
    };
    Ok(encode_for_training(frames, cfg, hooks)?
        .into_iter()
        .filter_map(|p| p.extras.contexts)
        .collect())
}

/// `tables[key][class][context]`.
type Tables = Vec<Vec<Vec<u16>>>;

fn derive(stats: &[ContextStats]) -> Tables {
    let n: usize = ContextStats::ELEMENTS.iter().map(|e| e.1).sum();
    let classes = ContextStats::QP_CLASSES;
    let mut per_class = vec![vec![Sums::new(n); classes]; 2];
    let mut per_type = vec![Sums::new(n); 2];
    for s in stats {
        per_class[s.key as usize][s.qp_class].add(s);
        per_type[s.key as usize].add(s);
    }
    (0..2)
        .map(|key| {
            (0..classes)
                .map(|class| {
                    (0..n)
                        .map(|i| {
                            let own = &per_class[key][class];
                            let mean = if own.frames[i] >= MIN_FRAMES_PER_CLASS {
                                own.mean(i)
                            } else {
                                per_type[key].mean(i)
                            };
                            // Never coded in this frame type: the value is never used.
                            let p0 = mean.unwrap_or(16384.0);
                            p0.clamp(P0_RANGE.0, P0_RANGE.1).round() as u16
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// A class's QP range as the tables' comments write it, e.g. `25-29`.
fn class_range(class: usize) -> String {
    let (lo, hi) = ContextStats::qp_class_range(class);
    format!("{lo}-{hi}")
}

/// The rows of one table: each context array's name and initial values.
fn element_rows(table: &[u16]) -> impl Iterator<Item = (&'static str, &[u16])> {
    ContextStats::ELEMENTS
        .iter()
        .scan(0, move |at, &(name, count)| {
            let row = &table[*at..*at + count];
            *at += count;
            Some((name, row))
        })
}

fn joined(values: &[u16], separator: &str) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(separator)
}

fn frame_type(key: usize) -> &'static str {
    if key == 1 {
        "KEY"
    } else {
        "INTER"
    }
}

fn write_rust(path: &Path, tables: &Tables, command: &str) -> Result<Output> {
    let mut out = Output::create(path)?;
    writeln!(
        out,
        "//! Initial probabilities of the adaptive contexts, by frame type and QP
//! class (`docs/bitstream.md` section 3; the same tables in
//! `docs/context-init.md`).
//!
//! GENERATED by `{command}`
//! (`scripts/train_contexts.sh`); do not edit by hand.

use super::contexts::{{CONTEXT_QP_CLASSES, NUM_CONTEXTS}};

/// `CONTEXT_INIT[key][qp_class][context]`: P(bin = 0) in 15-bit fixed point
/// (`key`: 0 INTER, 1 KEY frames), contexts in the order of
/// [`super::contexts::CONTEXT_ELEMENTS`].
#[rustfmt::skip]
pub static CONTEXT_INIT: [[[u16; NUM_CONTEXTS]; CONTEXT_QP_CLASSES]; 2] = ["
    )?;
    for (key, classes) in tables.iter().enumerate() {
        writeln!(out, "    [")?;
        for (class, table) in classes.iter().enumerate() {
            writeln!(
                out,
                "        // {} frames, QP class {class} (QP {})",
                frame_type(key),
                class_range(class)
            )?;
            writeln!(out, "        [")?;
            for (name, values) in element_rows(table) {
                writeln!(out, "            {}, // {name}", joined(values, ", "))?;
            }
            writeln!(out, "        ],")?;
        }
        writeln!(out, "    ],")?;
    }
    writeln!(out, "];")?;
    Ok(out)
}

fn write_spec(path: &Path, tables: &Tables, command: &str, train: &Path) -> Result<Output> {
    let mut out = Output::create(path)?;
    writeln!(
        out,
        "# Mica context initialisation tables

Normative part of `docs/bitstream.md`, section 3. When the sequence header's
`tool_flags` bit 3 is set, every context of a frame starts with both of its
estimates (`fast` and `slow`) equal to the value listed here for the frame's
type (KEY or INTER) and QP class, `QpClass = min(4, (max(qp, 20) - 20) / 5)`
(`qp` from the frame header). The value is P(bin = 0) in 15-bit fixed point.
Each row is one context array, named as in `docs/bitstream.md`, its contexts
by index (`nn_filter[k][c]` is entry `3k + c`).

Generated by `{command}` (`scripts/train_contexts.sh`):
the mean end-of-frame probability of each context over Mica encodes of
`{}` that start from one half, clamped to 768..32000.",
        train.display()
    )?;
    for (key, classes) in tables.iter().enumerate().rev() {
        for (class, table) in classes.iter().enumerate() {
            writeln!(
                out,
                "\n## {} frames, QP class {class} (QP {})\n\n| context array | indices | initial values |\n|---|---|---|",
                frame_type(key),
                class_range(class)
            )?;
            for (name, values) in element_rows(table) {
                writeln!(
                    out,
                    "| {name} | 0..{} | {} |",
                    values.len() - 1,
                    joined(values, " ")
                )?;
            }
        }
    }
    Ok(out)
}

fn contexts(args: &ContextArgs) -> Result<()> {
    if args.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if let Some(q) = args.qps.iter().find(|&&q| q > 51) {
        bail!("--qp {q} is outside 0..=51");
    }
    let mut qps = args.qps.clone();
    qps.sort_unstable();
    qps.dedup();
    let files = training_files(&args.train_dir)?;
    let clips = files
        .iter()
        .map(|f| read_clip(f, args.frames).map(|(frames, h)| (frames, h.width, h.height)))
        .collect::<Result<Vec<_>>>()?;
    let jobs: Vec<(usize, u8, bool)> = (0..clips.len())
        .flat_map(|c| qps.iter().flat_map(move |&q| [(c, q, false), (c, q, true)]))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs)
        .build()
        .context("cannot start the worker threads")?;
    eprintln!("{} encodes of {} files", jobs.len(), files.len());
    let stats: Vec<ContextStats> = pool
        .install(|| {
            jobs.par_iter()
                .map(|&(c, qp, nn_intra)| {
                    let (frames, w, h) = &clips[c];
                    encode_stats(frames, *w, *h, qp, nn_intra)
                        .with_context(|| format!("cannot encode {} at QP {qp}", files[c].display()))
                })
                .collect::<Result<Vec<_>>>()
        })?
        .into_iter()
        .flatten()
        .collect();
    let keys = stats.iter().filter(|s| s.key).count();
    eprintln!(
        "{} frames ({keys} KEY, {} INTER)",
        stats.len(),
        stats.len() - keys
    );
    let tables = derive(&stats);
    let qps: Vec<String> = qps.iter().map(|q| q.to_string()).collect();
    let command = format!(
        "mica-tables contexts {} --qp {} --frames {}",
        args.train_dir.display(),
        qps.join(","),
        args.frames
    );
    // Both files complete before either takes its name: they never disagree.
    let rust = write_rust(&args.rust, &tables, &command)?;
    let spec = write_spec(&args.spec, &tables, &command, &args.train_dir)?;
    rust.commit()?;
    spec.commit()
}

fn main() {
    let args = Args::parse();
    let r = match &args.command {
        Command::Contexts(a) => contexts(a),
    };
    if let Err(e) = r {
        eprintln!("mica-tables: error: {e:#}");
        std::process::exit(mica_cli::EXIT_FAILURE);
    }
}
