//! mica-model: inspects `.micanet` integer network models.
//!
//! Exit status: 0 on success, 1 when the model cannot be read or is invalid
//! (the message names the problem), 2 for a malformed command line.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use mica::internals::nn::{hex, identity, measure_peak, Chain, Engine, LayerOp, Model, Rect};
use mica::CpuLevel;
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
        /// Backend: cpu (best kernels this CPU has), scalar, or (built with
        /// the `torch` feature) torch-cpu / cuda through libtorch.
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "scalar", "torch-cpu", "cuda"])]
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
        /// Time only the part of the network that computes this output (for
        /// the loop filter: 0 inter frames, 1 keyframes); default: all outputs.
        #[arg(long)]
        output: Option<usize>,
    },
    /// Measure this machine's peak rate of integer multiply-accumulates per
    /// kernel type (a register-only loop on every thread at once), the
    /// measure `bench` reports its convolutions against.
    Peak {
        /// Threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Join models that take the same inputs into one file computing the
    /// first's outputs, then the second's, and so on (the loop filter ships
    /// its networks for inter frames and keyframes, luma and chroma, as one
    /// model, one identity).
    Join {
        /// The model whose outputs come first.
        first: PathBuf,
        /// The models whose outputs follow, in order.
        #[arg(required = true)]
        rest: Vec<PathBuf>,
        /// The model to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Times the network through libtorch; returns seconds per run.
#[cfg(feature = "torch")]
fn bench_torch(
    model: &Model,
    w: usize,
    h: usize,
    cuda: bool,
    inputs: &[&[i16]],
    runs: usize,
) -> Result<f64> {
    use mica::internals::nn::{TorchDevice, TorchEngine};
    let device = if cuda {
        TorchDevice::Cuda
    } else {
        TorchDevice::Cpu
    };
    // Construction checks the backend against the CPU engine and refuses on a difference.
    let engine = TorchEngine::new(model.clone(), h, w, device)?;
    engine.run(inputs)?;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        // `run` copies the result back to the host, which waits for the device.
        engine.run(inputs)?;
    }
    Ok(start.elapsed().as_secs_f64() / runs as f64)
}

#[cfg(not(feature = "torch"))]
fn bench_torch(_: &Model, _: usize, _: usize, _: bool, _: &[&[i16]], _: usize) -> Result<f64> {
    anyhow::bail!("the torch-cpu and cuda backends need mica-model built with the `torch` feature")
}

/// Reads and validates a model file; returns its bytes (for its identity) and the model.
fn read_model(file: &std::path::Path) -> Result<(Vec<u8>, Model)> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let model =
        Model::parse(&bytes).with_context(|| format!("{} is not a valid model", file.display()))?;
    Ok((bytes, model))
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
            let (bytes, model) = read_model(file)?;
            let id = hex(&identity(&bytes));
            mica_cli::outln!("model    {}", file.display())?;
            mica_cli::outln!("sha256   {id}")?;
            for (i, s) in model.inputs.iter().enumerate() {
                mica_cli::outln!(
                    "input {i}  {} channels, values {}..={}",
                    s.channels,
                    s.lo,
                    s.hi
                )?;
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
                mica_cli::outln!(
                    "layer {i:<3} -> t{:<3} {what:<32} from {:?}, {} channels, {}..={}",
                    model.inputs.len() + i,
                    l.operands,
                    l.out.channels,
                    l.out.lo,
                    l.out.hi
                )?;
            }
            let (macs, params) = model.cost(1);
            mica_cli::outln!("outputs  {:?}", model.outputs)?;
            mica_cli::outln!("params   {params}")?;
            mica_cli::outln!("MACs     {macs:.0} per input pixel (dense layers counted per call)")?;
            if model.outputs.len() > 1 {
                for k in 0..model.outputs.len() {
                    let (macs, params) = model.only_output(k).cost(1);
                    mica_cli::outln!(
                        "output {k} alone: {params} params, {macs:.0} MACs per input pixel"
                    )?;
                }
            }
            mica_cli::outln!(
                "bound    worst channel at {:.1} % of 2^24 (margin {:.1} %)",
                100.0 * (1.0 - model.bound_margin()),
                100.0 * model.bound_margin()
            )?;
            // A loop filter's cost per luma pixel counts its chroma network too.
            if let Ok(filter) = mica::LoopFilter::from_bytes(&bytes) {
                for (what, key) in [("inter frames", false), ("keyframes", true)] {
                    mica_cli::outln!(
                        "as a loop filter, {what}: {:.0} MACs per luma pixel of a 4:2:0 frame",
                        filter.macs_per_luma_pixel(key)
                    )?;
                }
            }
        }
        Command::Bench {
            file,
            backend,
            size,
            threads,
            runs,
            output,
        } => {
            let (_, mut model) = read_model(file)?;
            if let Some(k) = *output {
                if k >= model.outputs.len() {
                    bail!(
                        "--output {k}: the model has {} outputs",
                        model.outputs.len()
                    );
                }
                model = model.only_output(k);
            }
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
            if backend == "torch-cpu" || backend == "cuda" {
                let per = bench_torch(&model, w, h, backend == "cuda", &refs, (*runs).max(1))?;
                let (macs, _) = model.cost(w * h);
                mica_cli::outln!(
                    "{} at {w}x{h}, libtorch {backend}: {:.2} ms per frame, {:.2} GMAC/s (checked equal to the CPU engine)",
                    file.display(),
                    per * 1e3,
                    macs * (w * h) as f64 / per / 1e9
                )?;
                return Ok(());
            }
            pool.install(|| engine.run(&refs))?;
            let start = std::time::Instant::now();
            for _ in 0..(*runs).max(1) {
                pool.install(|| engine.run(&refs))?;
            }
            let per = start.elapsed().as_secs_f64() / (*runs).max(1) as f64;
            let (macs, _) = model.cost(w * h);
            mica_cli::outln!(
                "{} at {w}x{h}, engine, {} ({} threads): {:.2} ms per frame, {:.2} GMAC/s",
                file.display(),
                cpu.name(),
                pool.current_num_threads(),
                per * 1e3,
                macs * (w * h) as f64 / per / 1e9
            )?;
            // The loop filter's path: networks that are chains run as one.
            if let Some(chain) = Chain::from_model(&model) {
                let samples: Vec<u8> = inputs[0].iter().map(|&v| v.clamp(0, 255) as u8).collect();
                let side: Vec<i16> = inputs
                    .get(1)
                    .map_or(vec![], |s| s.chunks_exact(w * h).map(|c| c[0]).collect());
                let whole = [Rect {
                    x0: 0,
                    y0: 0,
                    x1: w,
                    y1: h,
                }];
                let mut out = vec![0u8; w * h];
                let run = |out: &mut [u8]| {
                    pool.install(|| chain.filter(&samples, w, h, &side, &whole, cpu, out))
                };
                run(&mut out);
                let start = std::time::Instant::now();
                for _ in 0..(*runs).max(1) {
                    run(&mut out);
                }
                let per = start.elapsed().as_secs_f64() / (*runs).max(1) as f64;
                let gmacs = (chain.macs_per_sample() * (w * h) as u64) as f64 / per / 1e9;
                let peak = pool
                    .install(|| measure_peak(pool.current_num_threads(), 0.3))
                    .into_iter()
                    .next();
                let fraction = peak.map_or(String::new(), |p| {
                    format!(
                        ", {:.0} % of the measured peak ({:.1} GMAC/s, {})",
                        100.0 * gmacs / p.gmacs,
                        p.gmacs,
                        p.what
                    )
                });
                mica_cli::outln!(
                    "{} at {w}x{h}, chain (the loop filter's path), {} ({} threads): {:.2} ms per frame, {:.2} GMAC/s{fraction}",
                    file.display(),
                    cpu.name(),
                    pool.current_num_threads(),
                    per * 1e3,
                    gmacs
                )?;
            }
        }
        Command::Peak { threads } => {
            let threads = if *threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                *threads
            };
            for p in measure_peak(threads, 1.0) {
                mica_cli::outln!("{:.1} GMAC/s on {threads} threads: {}", p.gmacs, p.what)?;
            }
        }
        Command::Join {
            first,
            rest,
            output,
        } => {
            let mut joined = read_model(first)?.1;
            for next in rest {
                joined = joined
                    .join(&read_model(next)?.1)
                    .with_context(|| format!("{} cannot be joined", next.display()))?;
            }
            let sha = mica_cli::write_model(output, &joined.to_bytes())?;
            mica_cli::outln!("wrote {} (sha256 {sha})", output.display())?;
        }
    }
    Ok(())
}
