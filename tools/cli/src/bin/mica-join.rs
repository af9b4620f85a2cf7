//! mica-join: joins independently coded chunks of one video (IVF files,
//! in order) into one stream, without decoding or re-encoding.
//!
//! Each chunk must start with a keyframe carrying a sequence header (a
//! random access point) equal to the first chunk's, and hold every frame
//! number from its first to its last once. Frame numbers (and the IVF
//! timestamps) are rewritten to follow on from the chunks before, so chunks
//! numbered from 0 and chunks numbered where they sit (`micaenc --start`)
//! join alike. Chunks coded with `micaenc --start N --limit M` join to the
//! very packets `micaenc --force-keyframes` gives with the same keyframes.

use anyhow::Result;
use clap::Parser;
use mica_cli::{open_input, IvfSink, Output, EXIT_FAILURE};
use mica_io::join::{read_chunk, Join};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Join chunks of a Mica video into one stream, without re-encoding"
)]
struct Args {
    /// The chunks, in display order (IVF files; - for standard input, once).
    #[arg(required = true)]
    chunks: Vec<PathBuf>,
    /// The joined stream (IVF), or - for standard output.
    #[arg(short, long)]
    output: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("mica-join: error: {e:#}");
        std::process::exit(EXIT_FAILURE);
    }
}

fn run(args: &Args) -> Result<()> {
    let mut sink: Option<IvfSink> = None;
    let mut join = Join::new();
    for path in &args.chunks {
        let name = path.display().to_string();
        let chunk = read_chunk(&name, open_input(path)?)?;
        let (first, frames) = (chunk.first, chunk.frames);
        let out = match &mut sink {
            Some(s) => s,
            None => {
                // The count is the joined stream's (patched at the end of a
                // file; unknown, 0, on a pipe), not the first chunk's.
                let mut header = chunk.header.clone();
                header.frame_count = 0;
                sink.insert(IvfSink::new(Output::create(&args.output)?, &header)?)
            }
        };
        let start = join.append(&name, chunk, |packet, number| {
            out.write(packet, u64::from(number))
                .map_err(std::io::Error::other)
        })?;
        if !args.quiet {
            let (end, new_end) = (
                u64::from(first) + u64::from(frames),
                u64::from(start) + u64::from(frames),
            );
            eprintln!("{name}: frames {first}..{end} as {start}..{new_end}");
        }
    }
    sink.expect("at least one chunk (clap requires it)")
        .finish()?;
    if !args.quiet {
        eprintln!(
            "joined {} chunks, {} frames",
            args.chunks.len(),
            join.frames()
        );
    }
    Ok(())
}
