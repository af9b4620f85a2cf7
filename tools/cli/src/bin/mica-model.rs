//! mica-model: inspects `.micanet` integer network models.
//!
//! Exit status: 0 on success, 1 when the model cannot be read or is invalid
//! (the message names the problem), 2 for a malformed command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mica::cpu::CpuLevel;
use mica::nn::{identity, Engine, LayerOp, Model};
use mica_cli::EXIT_FAILURE;
use std::path::PathBuf;

/// Tools for Mica's integer network models.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a model and print its layers, parameters, MACs per pixel,
    /// accumulator-bound margin and identity (SHA-256).
    Inspect {
        /// The `.micanet` file.
        file: PathBuf,
    },
    /// Time the network on a frame of random inputs: ms per frame and GMAC/s.
    Bench {
        /// The `.micanet` file.
        file: PathBuf,
        /// Backend: cpu (best kernels this CPU has) or scalar.
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "scalar"])]
        backend: String,
        /// Input size, WIDTHxHEIGHT.
        #[arg(long, default_value = "1920x1080")]
        size: String,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Timed runs.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("mica-model: error: {e:#}");
        std::process::exit(EXIT_FAILURE);
    }
}

fn run(args: &Args) -> Result<()> {
    match &args.command {
        Command::Inspect { file } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let model = Model::parse(&bytes)
                .with_context(|| format!("{} is not a valid model", file.display()))?;
            let id: String = identity(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            println!("model    {}", file.display());
            println!("sha256   {id}");
            for (i, s) in model.inputs.iter().enumerate() {
                println!(
                    "input {i}  {} channels, values {}..={}",
                    s.channels, s.lo, s.hi
                );
            }
            for (i, l) in model.layers.iter().enumerate() {
                let what = match &l.op {
                    LayerOp::Conv2d {
                        kernel,
                        stride,
                        shift,
                        ..
                    } => {
                        format!("conv2d {kernel}x{kernel} stride {stride} shift {shift}")
                    }
                    LayerOp::Dense {
                        in_features, shift, ..
                    } => format!("dense {in_features} in, shift {shift}"),
                    LayerOp::PixelShuffle { factor } => format!("pixel_shuffle x{factor}"),
                    LayerOp::Add => "add".to_string(),
                    LayerOp::Concat => "concat".to_string(),
                };
                println!(
                    "layer {i:<3} -> t{:<3} {what:<32} from {:?}, {} channels, {}..={}",
                    model.inputs.len() + i,
                    l.operands,
                    l.out.channels,
                    l.out.lo,
                    l.out.hi
                );
            }
            let (macs, params) = model.cost(1);
            println!("outputs  {:?}", model.outputs);
            println!("params   {params}");
            println!("MACs     {macs:.0} per input pixel (dense layers counted per call)");
            println!(
                "bound    worst channel at {:.1} % of 2^24 (margin {:.1} %)",
                100.0 * (1.0 - model.bound_margin()),
                100.0 * model.bound_margin()
            );
        }
        Command::Bench {
            file,
            backend,
            size,
            threads,
            runs,
        } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let model = Model::parse(&bytes)
                .with_context(|| format!("{} is not a valid model", file.display()))?;
            let (w, h) = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
                .filter(|&(w, h)| w > 0 && h > 0 && w * h <= 8192 * 8192)
                .with_context(|| {
                    format!("--size {size}: expected WIDTHxHEIGHT, at most 8192x8192 samples")
                })?;
            let cpu = if backend == "scalar" {
                CpuLevel::Scalar
            } else {
                CpuLevel::runtime()
            };
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(*threads)
                .build()?;
            let mut engine = Engine::with_cpu(model.clone(), h, w, cpu)
                .context("model does not fit this size")?;
            let mut seed = 1u64;
            let inputs: Vec<Vec<i16>> = model
                .inputs
                .iter()
                .map(|s| {
                    (0..s.channels * w * h)
                        .map(|_| {
                            seed = seed
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            let span = (s.hi - s.lo) as u64 + 1;
                            s.lo + ((seed >> 33) % span) as i16
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&[i16]> = inputs.iter().map(|v| &v[..]).collect();
            pool.install(|| engine.run(&refs))?;
            let start = std::time::Instant::now();
            for _ in 0..(*runs).max(1) {
                pool.install(|| engine.run(&refs))?;
            }
            let per = start.elapsed().as_secs_f64() / (*runs).max(1) as f64;
            let (macs, _) = model.cost(w * h);
            println!(
                "{} at {w}x{h}, {} ({} threads): {:.2} ms per frame, {:.2} GMAC/s",
                file.display(),
                cpu.name(),
                pool.current_num_threads(),
                per * 1e3,
                macs * (w * h) as f64 / per / 1e9
            );
        }
    }
    Ok(())
}
