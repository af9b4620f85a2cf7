//! Shared pieces of the command-line tools: inputs and outputs that may be
//! files or standard streams, outputs that only appear once complete,
//! quality figures and the decoded-sample MD5.

/// `println!` for a command's output on stdout that returns an error instead
/// of panicking when stdout is gone (e.g. piped into `head` or `grep -q`).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| anyhow::anyhow!("cannot write the output: {e}"))
    }};
}

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use mica::internals::{TrainingEncoder, TrainingHooks, TrainingPacket};
use mica::Frame;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Writes a model file once complete, after checking it loads (format and
/// accumulator bound); returns its identity as hexadecimal SHA-256.
pub fn write_model(path: &Path, bytes: &[u8]) -> Result<String> {
    mica::internals::nn::Model::parse(bytes).context("the model to write is invalid")?;
    let mut out = Output::create(path)?;
    out.write_all(bytes)?;
    out.commit()?;
    Ok(mica::internals::nn::hex(&mica::internals::nn::identity(
        bytes,
    )))
}

/// Exit status for a run that failed (bad input, bad stream, I/O error).
pub const EXIT_FAILURE: i32 = 1;

/// Reads a loop-filter model file.
pub fn load_filter(path: &Path) -> Result<mica::LoopFilter> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    mica::LoopFilter::from_bytes(&bytes)
        .with_context(|| format!("{} is not a usable loop-filter model", path.display()))
}

/// Opens a file, or standard input for `-`.
pub fn open_input(path: &Path) -> Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufReader::new(io::stdin().lock())))
    } else {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(BufReader::new(f)))
    }
}

/// An output file that only takes its name once everything is written:
/// data goes to a temporary file beside it, renamed by [`Output::commit`].
/// Dropped without commit (on any error), the temporary file is deleted, so a
/// failed run never leaves a file that looks valid. `-` writes to standard
/// output directly.
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// A temporary file and the name it gets on success.
    File(BufWriter<tempfile::NamedTempFile>, PathBuf),
    /// An existing path that is not a regular file (a device such as
    /// `/dev/null`, a pipe): written directly, never replaced.
    Special(BufWriter<File>),
}

impl Output {
    /// Prepares an output at `path` (`-` for standard output).
    pub fn create(path: &Path) -> Result<Output> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout(BufWriter::new(io::stdout())));
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            return Ok(Output::Special(BufWriter::new(f)));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".mica-")
            .suffix(".partial")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create an output file in {}", dir.display()))?;
        Ok(Output::File(BufWriter::new(tmp), path.to_path_buf()))
    }

    /// Flushes and gives the output its final name.
    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush().context("cannot write to standard output"),
            Output::Special(mut w) => w.flush().context("cannot write the output"),
            Output::File(w, path) => {
                let tmp = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .context("cannot flush output")?;
                // Temporary files are created private (0600); the output is an ordinary file.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                        .with_context(|| format!("cannot set permissions of {}", path.display()))?;
                }
                tmp.persist(&path)
                    .map_err(|e| e.error)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(w, _) => w.write(buf),
            Output::Special(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(w, _) => w.flush(),
            Output::Special(w) => w.flush(),
        }
    }
}

impl io::Seek for Output {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        match self {
            Output::Stdout(_) | Output::Special(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this output cannot seek",
            )),
            Output::File(w, _) => w.seek(pos),
        }
    }
}

/// MD5 of decoded samples, plane by plane (Y, then U, then V, row by row,
/// visible samples only) over all frames, as dav1d's `--verify` computes it.
#[derive(Default)]
pub struct SampleMd5(Md5);

impl SampleMd5 {
    /// Adds a frame.
    pub fn update(&mut self, frame: &Frame) {
        for p in &frame.planes {
            if frame.bit_depth == 8 {
                self.0
                    .update(p.data.iter().map(|&v| v as u8).collect::<Vec<u8>>());
            } else {
                self.0.update(
                    p.data
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<u8>>(),
                );
            }
        }
    }
    /// The digest as lowercase hex.
    pub fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Per-plane squared-error totals for PSNR.
#[derive(Default, Clone, Copy)]
pub struct PsnrAccumulator {
    /// Sum over frames of each plane's per-frame PSNR (capped at 100 dB).
    pub psnr_sum: [f64; 3],
    /// Frames added.
    pub frames: usize,
}

impl PsnrAccumulator {
    /// Adds one frame pair.
    pub fn add(&mut self, a: &Frame, b: &Frame) {
        for i in 0..3 {
            self.psnr_sum[i] += psnr(&a.planes[i].data, &b.planes[i].data, a.bit_depth);
        }
        self.frames += 1;
    }
    /// Mean of per-frame PSNR for each plane.
    pub fn mean(&self) -> [f64; 3] {
        let n = self.frames.max(1) as f64;
        [
            self.psnr_sum[0] / n,
            self.psnr_sum[1] / n,
            self.psnr_sum[2] / n,
        ]
    }
}

/// PSNR in dB of two equally sized `bit_depth`-bit sample arrays (100 dB when identical).
pub fn psnr(a: &[u16], b: &[u16], bit_depth: u8) -> f64 {
    let peak = ((1u32 << bit_depth) - 1) as f64;
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| ((x as i32 - y as i32) * (x as i32 - y as i32)) as u64)
        .sum();
    if sse == 0 {
        return 100.0;
    }
    let mse = sse as f64 / a.len() as f64;
    (10.0 * (peak * peak / mse).log10()).min(100.0)
}

/// The first `frames` frames of a y4m file, with its header.
pub fn read_clip(path: &Path, frames: usize) -> Result<(Vec<Frame>, mica_io::y4m::Y4mHeader)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = mica_io::y4m::Y4mReader::new(BufReader::new(file))
        .with_context(|| format!("{} is not a usable y4m file", path.display()))?;
    let header = reader.header().clone();
    let mut out = Vec::new();
    while out.len() < frames {
        match reader.read_frame()? {
            Some(f) => out.push(f),
            None => break,
        }
    }
    Ok((out, header))
}

/// The training y4m files of `dir`, sorted (never the test clips).
pub fn training_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "y4m"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no y4m files in {}", dir.display());
    }
    Ok(files)
}

/// Encodes `frames` with `cfg`, keeping what `hooks` ask for (training
/// material); returns the packets in display order.
pub fn encode_for_training(
    frames: &[Frame],
    cfg: mica::EncoderConfig,
    hooks: TrainingHooks,
) -> Result<Vec<TrainingPacket>> {
    let mut enc = TrainingEncoder::new(cfg, hooks)?;
    let mut out = Vec::new();
    for f in frames {
        enc.send_frame(f.clone())?;
        out.extend(std::iter::from_fn(|| enc.receive()));
    }
    enc.flush();
    out.extend(std::iter::from_fn(|| enc.receive()));
    out.sort_by_key(|p| p.packet.frame_number);
    Ok(out)
}
