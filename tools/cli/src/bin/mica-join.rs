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

use anyhow::{bail, Context, Result};
use clap::Parser;
use mica_cli::{open_input, IvfSink, Output, EXIT_FAILURE};
use mica_io::ivf::{IvfHeader, IvfReader};
use std::path::{Path, PathBuf};

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

/// A chunk's packets, read whole and checked.
struct Chunk {
    header: IvfHeader,
    packets: Vec<Vec<u8>>,
    sequence: mica::SequenceHeader,
    first: u32,
    frames: u32,
}

fn read_chunk(path: &Path) -> Result<Chunk> {
    let name = path.display();
    let mut reader =
        IvfReader::new(open_input(path)?).with_context(|| format!("cannot read {name}"))?;
    let header = reader.header().clone();
    let mut packets = Vec::new();
    let mut numbers = Vec::new();
    let mut sequence = None;
    while let Some(frame) = reader
        .next_frame()
        .with_context(|| format!("cannot read {name}"))?
    {
        let info = mica::packet_info(&frame.data)
            .with_context(|| format!("{name}: packet {} is not a Mica packet", packets.len()))?;
        if packets.is_empty() {
            match (&info.sequence, info.keyframe) {
                (Some(s), true) => sequence = Some(s.clone()),
                _ => bail!(
                    "{name} does not start with a keyframe carrying a sequence header: it is \
                     not a chunk that can be decoded on its own"
                ),
            }
        }
        numbers.push(info.frame_number);
        packets.push(frame.data);
    }
    let Some(sequence) = sequence else {
        bail!("{name} holds no frames");
    };
    numbers.sort_unstable();
    let first = numbers[0];
    for (i, &n) in numbers.iter().enumerate() {
        if u64::from(n) != u64::from(first) + i as u64 {
            bail!(
                "{name}: frame numbers {first}..={} are not each there once (found {n} at \
                 position {i})",
                numbers[numbers.len() - 1]
            );
        }
    }
    Ok(Chunk {
        header,
        packets,
        sequence,
        first,
        frames: numbers.len() as u32,
    })
}

fn run(args: &Args) -> Result<()> {
    let mut sink: Option<IvfSink> = None;
    let mut first_sequence: Option<mica::SequenceHeader> = None;
    let mut next: u32 = 0;
    for path in &args.chunks {
        let chunk = read_chunk(path)?;
        match &first_sequence {
            None => first_sequence = Some(chunk.sequence.clone()),
            Some(s) if *s != chunk.sequence => bail!(
                "{} was coded with another sequence header (size, depth, rate or tools) than \
                 the first chunk: only chunks of one encode join",
                path.display()
            ),
            Some(_) => {}
        }
        let out = match &mut sink {
            Some(s) => s,
            None => sink.insert(IvfSink::new(Output::create(&args.output)?, &chunk.header)?),
        };
        for mut packet in chunk.packets {
            let old = mica::packet_info(&packet)?.frame_number;
            let number = next
                .checked_add(old - chunk.first)
                .context("more than 2^32 frames")?;
            mica::set_frame_number(&mut packet, number)?;
            out.write(&packet, u64::from(number))?;
        }
        next = next
            .checked_add(chunk.frames)
            .context("more than 2^32 frames")?;
        if !args.quiet {
            eprintln!(
                "{}: frames {}..{} as {}..{}",
                path.display(),
                chunk.first,
                chunk.first + chunk.frames,
                next - chunk.frames,
                next
            );
        }
    }
    sink.expect("at least one chunk (clap requires it)")
        .finish()?;
    if !args.quiet {
        eprintln!("joined {} chunks, {next} frames", args.chunks.len());
    }
    Ok(())
}
