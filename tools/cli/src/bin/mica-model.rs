//! mica-model: inspects `.micanet` integer network models.
//!
//! Exit status: 0 on success, 1 when the model cannot be read or is invalid
//! (the message names the problem), 2 for a malformed command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mica::nn::{identity, LayerOp, Model};
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
    }
    Ok(())
}
