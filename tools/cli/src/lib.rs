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

pub mod first_pass;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::{Digest, Md5};
use mica::internals::{TrainingEncoder, TrainingHooks, TrainingPacket};
use mica::Frame;
use mica_io::ivf::{IvfHeader, IvfStreamWriter, IvfWriter};
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
/// Exit status for a malformed command line (clap's too).
pub const EXIT_USAGE: i32 = 2;

/// An option's value the command line allows but the run cannot use (a QP
/// the coded bit depth does not allow): the tool exits with [`EXIT_USAGE`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

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
/// visible samples only) over all frames, as dav1d's `--verify` computes it:
/// the MD5 of the sample bytes a y4m file stores (one byte per sample at 8
/// bits, a little-endian `u16` at 10), so `md5sum` of a y4m's frame data
/// gives it too.
#[derive(Default)]
pub struct SampleMd5(Md5, Vec<u8>);

impl SampleMd5 {
    /// Adds a frame.
    pub fn update(&mut self, frame: &Frame) {
        let bytes = &mut self.1;
        bytes.clear();
        mica_io::y4m::append_sample_bytes(frame, bytes);
        self.0.update(&bytes[..]);
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

/// Per-plane PSNR totals.
#[derive(Default, Clone, Copy)]
pub struct PsnrAccumulator {
    /// Sum over frames of each plane's per-frame PSNR (capped at 100 dB).
    pub psnr_sum: [f64; 3],
    /// Frames added.
    pub frames: usize,
}

impl PsnrAccumulator {
    /// Adds one frame pair and returns its PSNR per plane; `b` is brought to
    /// `a`'s bit depth first (PSNR is measured against `a`'s sample range).
    pub fn add(&mut self, a: &Frame, b: &Frame) -> [f64; 3] {
        let converted;
        let b = if b.bit_depth == a.bit_depth {
            b
        } else {
            converted = b.clone().with_bit_depth(a.bit_depth);
            &converted
        };
        let frame = [0, 1, 2].map(|i| psnr(&a.planes[i].data, &b.planes[i].data, a.bit_depth));
        for (sum, p) in self.psnr_sum.iter_mut().zip(frame) {
            *sum += p;
        }
        self.frames += 1;
        frame
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

/// PSNR in dB of two equally sized arrays of `bit_depth`-bit samples, against
/// the peak `2^bit_depth - 1` (100 dB when identical).
pub fn psnr(a: &[u16], b: &[u16], bit_depth: u8) -> f64 {
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| ((x as i64 - y as i64) * (x as i64 - y as i64)) as u64)
        .sum();
    if sse == 0 {
        return 100.0;
    }
    let mse = sse as f64 / a.len() as f64;
    let peak = ((1u64 << bit_depth) - 1) as f64;
    (10.0 * (peak * peak / mse).log10()).min(100.0)
}

/// The first `frames` frames of a y4m file, with its header; frames are at
/// the file's bit depth (`header.bit_depth()`).
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
/// material); returns the packets in display order. `cfg.input_bit_depth`
/// must be the frames' depth.
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

/// H.273 colour primaries for `--colour-primaries`: a code point 0..=255 or
/// a name.
pub fn parse_primaries(text: &str) -> Result<u8, String> {
    code_point(
        text,
        &[
            ("bt709", 1),
            ("unspecified", 2),
            ("bt601", 6),
            ("smpte170m", 6),
            ("bt2020", 9),
            ("p3d65", 12),
            ("smpte432", 12),
        ],
    )
}

/// H.273 transfer characteristics for `--transfer`: a code point 0..=255 or
/// a name.
pub fn parse_transfer(text: &str) -> Result<u8, String> {
    code_point(
        text,
        &[
            ("bt709", 1),
            ("unspecified", 2),
            ("srgb", 13),
            ("pq", 16),
            ("smpte2084", 16),
            ("hlg", 18),
            ("arib-std-b67", 18),
        ],
    )
}

/// H.273 matrix coefficients for `--matrix`: a code point 0..=255 or a name.
pub fn parse_matrix(text: &str) -> Result<u8, String> {
    code_point(
        text,
        &[
            ("identity", 0),
            ("rgb", 0),
            ("bt709", 1),
            ("unspecified", 2),
            ("bt601", 6),
            ("smpte170m", 6),
            ("bt2020nc", 9),
        ],
    )
}

/// A name of `names` (any case) or a plain number 0..=255.
fn code_point(text: &str, names: &[(&str, u8)]) -> Result<u8, String> {
    if let Some(&(_, v)) = names.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
        return Ok(v);
    }
    if !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = text.parse::<u8>() {
            return Ok(v);
        }
    }
    let listed: Vec<String> = names.iter().map(|(n, v)| format!("{n} ({v})")).collect();
    Err(format!(
        "expected an H.273 code point 0..=255 or one of {}",
        listed.join(", ")
    ))
}

/// A progress display on standard error: frames done (of `total`, where
/// known, with the time left), frames per second, the message (the rate so
/// far) and the time taken. Hidden with `quiet`, and whenever standard
/// error is not a terminal (a log file or a pipe gets only the summary).
pub fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let template = if total.is_some() {
        "{pos}/{len} frames, {per_sec}, {msg} [{elapsed_precise}, about {eta} left]"
    } else {
        "{spinner} {pos} frames, {per_sec}, {msg} [{elapsed_precise}]"
    };
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}

/// `bytes` over `frames` frames at `fps_num/fps_den` frames per second, as
/// the progress display shows it.
pub fn rate_so_far(bytes: u64, frames: u64, fps_num: u32, fps_den: u32) -> String {
    if frames == 0 || fps_num == 0 {
        return String::new();
    }
    let seconds = frames as f64 * f64::from(fps_den) / f64::from(fps_num);
    format!("{:.1} kbit/s", bytes as f64 * 8.0 / seconds / 1000.0)
}

/// The frames a y4m file holds, estimated from its size (none for standard
/// input, a pipe or an unreadable size): each frame is its samples and a 6-byte
/// `FRAME` line, and the header is shorter than a frame.
pub fn y4m_frames_in(path: &Path, width: usize, height: usize, bit_depth: u8) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    let len = meta.len();
    let bytes_per_sample = if bit_depth > 8 { 2 } else { 1 };
    let frame =
        (width * height + 2 * width.div_ceil(2) * height.div_ceil(2)) as u64 * bytes_per_sample + 6;
    Some(len / frame)
}

/// IVF output that patches the frame count when it is a file.
pub enum IvfSink {
    /// A file: the header's frame count is patched at the end.
    File(IvfWriter<Output>),
    /// Standard output or a pipe: the frame count stays 0 (unknown).
    Stream(IvfStreamWriter<Output>),
}

impl IvfSink {
    /// Writes `header` to `out`.
    pub fn new(out: Output, header: &IvfHeader) -> Result<IvfSink> {
        Ok(match out {
            Output::File(..) => IvfSink::File(IvfWriter::new(out, header)?),
            Output::Stdout(_) | Output::Special(_) => {
                IvfSink::Stream(IvfStreamWriter::new(out, header)?)
            }
        })
    }
    /// Writes one frame.
    pub fn write(&mut self, data: &[u8], pts: u64) -> Result<()> {
        match self {
            IvfSink::File(w) => w.write_frame(data, pts)?,
            IvfSink::Stream(w) => w.write_frame(data, pts)?,
        }
        Ok(())
    }
    /// Finishes the file (its frame count) and commits it to its name.
    pub fn finish(self) -> Result<()> {
        match self {
            IvfSink::File(w) => w.finish()?.commit(),
            IvfSink::Stream(w) => w.finish()?.commit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_points_by_name_and_number() {
        assert_eq!(parse_primaries("BT2020"), Ok(9));
        assert_eq!(parse_primaries("smpte432"), Ok(12));
        assert_eq!(parse_primaries("255"), Ok(255));
        assert_eq!(parse_transfer("pq"), Ok(16));
        assert_eq!(parse_transfer("arib-std-b67"), Ok(18));
        assert_eq!(parse_transfer("srgb"), Ok(13));
        assert_eq!(parse_matrix("rgb"), Ok(0));
        assert_eq!(parse_matrix("bt2020nc"), Ok(9));
        assert_eq!(parse_matrix("unspecified"), Ok(2));
        for bad in ["", "256", "-1", "bt2021", "1.0", "0009"] {
            let e = parse_transfer(bad).unwrap_err();
            assert!(e.contains("pq (16)"), "{bad}: {e}");
        }
    }

    #[test]
    fn md5_is_over_the_y4m_bytes() {
        let mut f = Frame::new_420_at(2, 2, 10);
        f.planes[0].data = vec![0x0102, 3, 1023, 0];
        let mut md5 = SampleMd5::default();
        md5.update(&f);
        let mut bytes = vec![0x02, 0x01, 3, 0, 0xff, 0x03, 0, 0];
        bytes.extend([0; 4]);
        assert_eq!(md5.hex(), hex(&Md5::digest(&bytes)));
        let mut f = Frame::new_420(2, 2);
        f.planes[2].data = vec![255];
        let mut md5 = SampleMd5::default();
        md5.update(&f);
        assert_eq!(md5.hex(), hex(&Md5::digest([0, 0, 0, 0, 0, 255])));
    }

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn psnr_uses_the_depth_peak() {
        let a = [0u16, 0, 0, 0];
        let b = [1u16, 1, 1, 1];
        assert!((psnr(&a, &b, 8) - 48.1308).abs() < 1e-3);
        assert!((psnr(&a, &b, 10) - 60.1975).abs() < 1e-3);
        assert_eq!(psnr(&a, &a, 10), 100.0);
    }
}
