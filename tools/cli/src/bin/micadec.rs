//! micadec: decodes a Mica stream (IVF) to y4m, at the stream's coded bit
//! depth or, asked, at its source's; the y4m carries the stream's colour and
//! HDR metadata as Mica's `XMICA_` tags (`mica_io::y4m`).
//!
//! Exit status: 0 on success, 1 when the stream or an output fails (the
//! message names the problem; no output file is left behind), 2 for a
//! malformed command line.

use anyhow::{bail, Context, Result};
use clap::Parser;
use mica::CpuLevel;
use mica::IntraPredictor;
use mica::LoopFilter;
use mica::{Decoder, DecoderConfig};
use mica_cli::{open_input, Output, SampleMd5, EXIT_FAILURE};
use mica_io::ivf::IvfReader;
use mica_io::y4m::{Y4mHeader, Y4mWriter};
use std::path::PathBuf;
use std::sync::Arc;

/// Decode a Mica stream (IVF container) to y4m.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Input IVF file, or - for standard input.
    input: PathBuf,
    /// Output y4m file, or - for standard output. Optional with --md5.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the MD5 of the decoded samples (Y, U, V plane by plane, all
    /// frames, as the y4m stores them: bytes at 8 bits, little-endian 16-bit
    /// words at 10; as dav1d --verify).
    #[arg(long)]
    md5: bool,
    /// Bit depth of the output: the stream's coded depth, or the depth of
    /// the source it was coded from (8-bit video coded at 10 bits comes back
    /// at 8, as `micaenc --recon-depth source` reconstructs it).
    #[arg(long, value_enum, default_value_t = OutputDepth::Stream)]
    output_depth: OutputDepth,
    /// Kernel level: scalar or avx2 (default: best available; MICA_CPU=scalar also forces scalar).
    #[arg(long)]
    cpu: Option<String>,
    /// Learned models (.micanet: loop filters or intra predictors) besides the
    /// embedded defaults; streams name models by SHA-256.
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Worker threads: 0 (one per core) ..= 256. The output does not depend on it.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=256))]
    threads: u16,
    /// Most frames decoding at once (frame threads): 0 (the thread count, at
    /// most 8) ..= 256; 1 decodes each packet before reading the next. The
    /// output does not depend on it.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=256))]
    frame_delay: u16,
    /// No progress display (it shows on standard error only when that is a
    /// terminal: frames decoded, frames per second, the rate and the time
    /// left).
    #[arg(short, long)]
    quiet: bool,
}

/// Which bit depth frames are output at (`--output-depth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutputDepth {
    /// The stream's coded bit depth.
    Stream,
    /// The source's bit depth, as the sequence header gives it.
    Source,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("micadec: error: {e:#}");
        std::process::exit(EXIT_FAILURE);
    }
}

fn run(args: &Args) -> Result<()> {
    if args.output.is_none() && !args.md5 {
        bail!("nothing to do: give -o OUTPUT.y4m and/or --md5");
    }
    let cpu = match &args.cpu {
        None => None,
        Some(name) => match CpuLevel::from_name(name) {
            Some(l) => Some(l),
            None => bail!("unknown --cpu level '{name}': use scalar or avx2"),
        },
    };
    let mut reader = IvfReader::new(open_input(&args.input)?)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let mut filters = Vec::new();
    let mut intra_predictors = Vec::new();
    for path in &args.model {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
        // The model's shape says which tool it serves.
        match LoopFilter::from_bytes(&bytes) {
            Ok(f) => filters.push(Arc::new(f)),
            Err(filter_err) => match IntraPredictor::from_bytes(&bytes) {
                Ok(p) => intra_predictors.push(Arc::new(p)),
                Err(_) => {
                    return Err(anyhow::Error::new(filter_err).context(format!(
                        "{} is not a usable model (neither a loop filter nor an intra predictor)",
                        path.display()
                    )))
                }
            },
        }
    }
    let mut decoder = Decoder::new(DecoderConfig {
        cpu,
        filters,
        intra_predictors,
        output_source_depth: args.output_depth == OutputDepth::Source,
        threads: args.threads as usize,
        max_frame_delay: args.frame_delay as usize,
    });
    let ivf = reader.header().clone();
    let total = (ivf.frame_count > 0).then_some(u64::from(ivf.frame_count));
    let progress = mica_cli::progress_bar(total, args.quiet);
    let mut writer: Option<Y4mWriter<Output>> = None;
    let mut md5 = SampleMd5::default();
    let mut bytes = 0u64;
    let mut emit =
        |decoder: &mut Decoder, writer: &mut Option<Y4mWriter<Output>>, bytes: u64| -> Result<()> {
            while let Some(decoded) = decoder.receive_frame() {
                progress.inc(1);
                progress.set_message(mica_cli::rate_so_far(
                    bytes,
                    progress.position(),
                    ivf.timebase_den,
                    ivf.timebase_num,
                ));
                if writer.is_none() {
                    if let Some(path) = &args.output {
                        let seq = decoder.sequence_header().expect("a frame was decoded");
                        // The frame's depth is the one asked for (coded or source).
                        *writer = Some(Y4mWriter::new(
                            Output::create(path)?,
                            &Y4mHeader::for_stream_at(seq, decoded.frame.bit_depth),
                        )?);
                    }
                }
                if let Some(w) = writer.as_mut() {
                    w.write_frame(&decoded.frame)?;
                }
                if args.md5 {
                    md5.update(&decoded.frame);
                }
            }
            Ok(())
        };
    let mut index = 0u64;
    while let Some(packet) = reader
        .next_frame()
        .with_context(|| format!("cannot read {}", args.input.display()))?
    {
        decoder
            .send_packet(&packet.data)
            .with_context(|| format!("packet {index}"))?;
        index += 1;
        bytes += packet.data.len() as u64;
        emit(&mut decoder, &mut writer, bytes)?;
    }
    if index == 0 {
        bail!("{} holds no frames", args.input.display());
    }
    decoder
        .flush()
        .with_context(|| format!("packet {}", index - 1))?;
    emit(&mut decoder, &mut writer, bytes)?;
    progress.finish_and_clear();
    if let Some(w) = writer {
        w.into_inner()?.commit()?;
    }
    if args.md5 {
        mica_cli::outln!("{}", md5.hex())?;
    }
    Ok(())
}
