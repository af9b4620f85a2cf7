//! The codecs mica-rd drives: Mica and rav1e in process, the rest through
//! command lines ([`crate::external`]). Each turns a clip and a quality value
//! into a coded size, timings and the decoded frames.

use crate::external::{self, ExternalCodec, Vars};
use anyhow::{anyhow, bail, Context, Result};
use mica::{
    Decoder, DecoderConfig, Encoder, EncoderConfig, FirstPassStats, Frame, Plane, Preset,
    RateControl,
};
use mica_io::y4m::{Y4mReader, Y4mWriter};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A source clip held in memory.
#[derive(Debug)]
pub struct Clip {
    /// File stem, used as the clip id.
    pub name: String,
    /// The .y4m file.
    pub path: PathBuf,
    /// Luma size.
    pub width: usize,
    /// Luma height.
    pub height: usize,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// All frames (the first ones only, for a clip loaded with a limit).
    pub frames: Vec<Frame>,
    /// For a clip cut by a frame limit: the y4m file of the frames kept,
    /// which `path` names and external codecs read; deleted with the clip.
    cut_file: Option<tempfile::TempPath>,
    /// The file the clip was read from (`path` unless cut).
    pub source: PathBuf,
}

impl Clip {
    /// Reads a whole 8-bit 4:2:0 .y4m file.
    pub fn load(path: &Path) -> Result<Clip> {
        Self::load_first(path, usize::MAX, Path::new("."))
    }

    /// Reads the first `limit` frames of an 8-bit 4:2:0 .y4m file. A file
    /// with more is cut: the clip's id gets `-first{limit}` (its points never
    /// mix with the whole clip's), and the frames kept are written to a
    /// temporary y4m file in `tmp` for codecs that read files.
    pub fn load_first(path: &Path, limit: usize, tmp: &Path) -> Result<Clip> {
        if limit == 0 {
            bail!("a frame limit must be at least 1");
        }
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut r = Y4mReader::new(std::io::BufReader::new(f))
            .with_context(|| format!("reading {}", path.display()))?;
        let h = r.header().clone();
        let mut frames = Vec::new();
        let mut cut = false;
        while let Some(fr) = r
            .read_frame()
            .with_context(|| format!("reading {}", path.display()))?
        {
            if frames.len() == limit {
                cut = true;
                break;
            }
            frames.push(fr);
        }
        if frames.is_empty() {
            bail!("{} holds no frame", path.display());
        }
        let mut name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = path.to_path_buf();
        let (mut path, mut cut_file) = (path.to_path_buf(), None);
        if cut {
            name = format!("{name}-first{limit}");
            let file = tempfile::Builder::new()
                .prefix(&format!("{name}-"))
                .suffix(".y4m")
                .tempfile_in(tmp)
                .with_context(|| format!("cannot create a file in {}", tmp.display()))?;
            let mut w = Y4mWriter::new(std::io::BufWriter::new(file), &h)?;
            for f in &frames {
                w.write_frame(f)?;
            }
            let file = w
                .into_inner()?
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("cannot write the cut of {}", path.display()))?;
            let temp = file.into_temp_path();
            path = temp.to_path_buf();
            cut_file = Some(temp);
        }
        Ok(Clip {
            name,
            path,
            width: h.width,
            height: h.height,
            fps_num: h.fps_num,
            fps_den: h.fps_den,
            frames,
            cut_file,
            source,
        })
    }

    /// Whether the clip holds only the first frames of its file.
    pub fn is_cut(&self) -> bool {
        self.cut_file.is_some()
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        self.fps_num as f64 / self.fps_den as f64
    }
}

/// How rav1e's output is turned back into pictures for measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rav1eDecode {
    /// Real AV1 decode with ffmpeg's libdav1d when available, else rav1e's reconstruction.
    Auto,
    /// Always ffmpeg + libdav1d (fails the point if absent).
    Dav1d,
    /// rav1e's own reconstruction (`Packet::rec`).
    Recon,
}

/// What a codec is.
#[derive(Debug, Clone)]
pub enum CodecKind {
    /// Mica through its library API.
    Mica(MicaVariant),
    /// rav1e through its crate.
    Rav1e {
        /// Speed preset 0..=10.
        speed: u8,
        /// Measurement source.
        decode: Rav1eDecode,
    },
    /// A command-line codec (boxed: it is far larger than the other kinds).
    External(Box<ExternalCodec>),
}

/// One codec setting under test.
#[derive(Debug, Clone)]
pub struct Codec {
    /// Short id.
    pub name: String,
    /// Human-readable name.
    pub label: String,
    /// Quality parameter name.
    pub param: String,
    /// Default points.
    pub points: Vec<i64>,
    /// Points added with `--extended`.
    pub extra_points: Vec<i64>,
    /// Valid parameter range.
    pub range: [i64; 2],
    /// How it runs.
    pub kind: CodecKind,
}

impl Codec {
    /// Mica with its usual test points.
    pub fn mica() -> Codec {
        Codec::mica_variant("mica", MicaVariant::default())
    }

    /// A Mica entry with tool switches (see [`MicaVariant::all`]).
    pub fn mica_variant(name: &str, v: MicaVariant) -> Codec {
        let mut label = format!("Mica {} (QP)", env!("CARGO_PKG_VERSION"));
        if v.all_intra {
            label.push_str(", all intra");
        }
        if v.no_nn_filter {
            label.push_str(", learned loop filter off");
        }
        if v.nn_intra {
            label.push_str(", learned intra on");
        }
        if v.uniform_contexts {
            label.push_str(", contexts from one half");
        }
        if v.ten_bit {
            label.push_str(", coded at 10 bits");
        }
        Codec {
            name: name.into(),
            label,
            param: "qp".into(),
            points: vec![22, 27, 32, 37],
            extra_points: vec![17, 42],
            range: [if v.ten_bit { -12 } else { 0 }, 51],
            kind: CodecKind::Mica(v),
        }
    }

    /// rav1e in process.
    pub fn rav1e(speed: u8, decode: Rav1eDecode) -> Codec {
        Codec {
            name: "rav1e".into(),
            label: format!("rav1e {} speed {speed} (qindex)", RAV1E_VERSION),
            param: "qindex".into(),
            points: vec![68, 100, 132, 164],
            extra_points: vec![36, 196],
            range: [0, 255],
            kind: CodecKind::Rav1e { speed, decode },
        }
    }

    /// An external entry.
    pub fn external(e: ExternalCodec) -> Codec {
        Codec {
            name: e.name.clone(),
            label: e.label.clone(),
            param: e.param.clone(),
            points: e.points.clone(),
            extra_points: e.extra_points.clone(),
            range: e.range,
            kind: CodecKind::External(Box::new(e)),
        }
    }
}

/// Tool switches of a Mica entry (to measure one tool against the same encoder without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MicaVariant {
    /// The learned loop filter off.
    pub no_nn_filter: bool,
    /// All frames coded as keyframes.
    pub all_intra: bool,
    /// The learned intra mode on (the encoder's default is off).
    pub nn_intra: bool,
    /// Contexts start at one half instead of the trained tables.
    pub uniform_contexts: bool,
    /// Coded at 10 bits whatever the source's depth (decoded back to the
    /// source's depth for the metrics).
    pub ten_bit: bool,
}

impl MicaVariant {
    /// Every variant with its codec name.
    pub fn all() -> Vec<(String, MicaVariant)> {
        let mut v = Vec::new();
        // One bit per option, the first listed most significant.
        for bits in 0..32u8 {
            let on = |bit: u8| bits & (16 >> bit) != 0;
            let variant = MicaVariant {
                all_intra: on(0),
                no_nn_filter: on(1),
                nn_intra: on(2),
                uniform_contexts: on(3),
                ten_bit: on(4),
            };
            let mut name = String::from("mica");
            for (suffix, set) in [
                ("-intra", variant.all_intra),
                ("-nofilter", variant.no_nn_filter),
                ("-nnintra", variant.nn_intra),
                ("-uniformctx", variant.uniform_contexts),
                ("-10bit", variant.ten_bit),
            ] {
                if set {
                    name.push_str(suffix);
                }
            }
            v.push((name, variant));
        }
        v
    }
}

/// The rav1e crate version built in.
pub const RAV1E_VERSION: &str = "0.8.1";

/// Result of coding one clip at one setting.
#[derive(Debug, Default)]
pub struct Coded {
    /// Coded bytes used for the bitrate (Mica: sum of packets; rav1e: OBU
    /// stream with temporal delimiters; external: the stream file).
    pub bytes: u64,
    /// Size of the file one would store (Mica: IVF = 32 + 12·frames + packets).
    pub file_bytes: u64,
    /// Per-frame coded bytes, when known (in display order).
    pub frame_bytes: Option<Vec<u64>>,
    /// Encode wall time in seconds.
    pub enc_s: f64,
    /// Decode wall time in seconds (0 when not decoded).
    pub dec_s: f64,
    /// Decoded frames in display order (empty when not decoded).
    pub decoded: Vec<Frame>,
    /// What produced `decoded`.
    pub decoder: String,
    /// The exact settings or command line.
    pub settings: String,
}

/// Run options shared by all codecs.
#[derive(Debug, Clone)]
pub struct RunOpts {
    /// Threads per encoder/decoder; 0 = the codec's own default.
    pub threads: usize,
    /// Where temporary streams go.
    pub tmp: PathBuf,
}

/// Codes `clip` at quality `q`; decodes too when `decode` is set.
pub fn code_clip(
    codec: &Codec,
    clip: &Clip,
    q: i64,
    opts: &RunOpts,
    decode: bool,
) -> Result<Coded> {
    if q < codec.range[0] || q > codec.range[1] {
        bail!(
            "{} {} = {q} is outside {}..={}",
            codec.name,
            codec.param,
            codec.range[0],
            codec.range[1]
        );
    }
    match &codec.kind {
        CodecKind::Mica(v) => run_mica(clip, q, *v, opts, decode),
        CodecKind::Rav1e { speed, decode: how } => run_rav1e(clip, q, *speed, *how, opts, decode),
        CodecKind::External(e) => run_external(e, clip, q, opts, decode),
    }
}

fn run_mica(clip: &Clip, q: i64, v: MicaVariant, opts: &RunOpts, decode: bool) -> Result<Coded> {
    let cfg = mica_config(clip, q, v, opts)?;
    let settings = format!(
        "mica library API (crate mica {}): {:?}",
        env!("CARGO_PKG_VERSION"),
        cfg
    );
    code_mica(clip, cfg, settings, 0.0, decode)
}

/// Mica's two passes on `clip` (the library's, as `micaenc --pass 1/2`
/// runs them): a first pass with the fast preset at the two base QPs
/// around `kbps`, returning its statistics and seconds.
pub fn mica_first_pass(
    codec: &Codec,
    clip: &Clip,
    kbps: f64,
    opts: &RunOpts,
) -> Result<(FirstPassStats, f64)> {
    let CodecKind::Mica(v) = codec.kind else {
        bail!(
            "{} has no rate control here (only Mica's is built in)",
            codec.name
        );
    };
    let mut cfg = mica_config(clip, 32, v, opts)?;
    cfg.preset = Preset::Fast;
    let fps = f64::from(clip.fps_num) / f64::from(clip.fps_den);
    let qps = FirstPassStats::qps_for(kbps, fps, clip.width * clip.height, cfg.bit_depth);
    let t0 = Instant::now();
    let mut stats = FirstPassStats::default();
    let mut encoders = qps
        .iter()
        .map(|&qp| {
            let mut c = cfg.clone();
            c.qp = qp;
            Encoder::new(c).map_err(|e| anyhow!("mica first pass: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    for f in &clip.frames {
        for enc in &mut encoders {
            enc.send_frame(f.clone())
                .map_err(|e| anyhow!("mica first pass: {e}"))?;
            while let Some(p) = enc.receive_packet() {
                stats.record_packet(&p);
            }
        }
    }
    for enc in &mut encoders {
        enc.flush();
        while let Some(p) = enc.receive_packet() {
            stats.record_packet(&p);
        }
    }
    Ok((stats, t0.elapsed().as_secs_f64()))
}

/// Codes `clip` with Mica's second pass at `kbps` from a first pass's
/// `stats` (which took `first_pass_s` seconds, counted in the encode time).
pub fn code_clip_at_rate(
    codec: &Codec,
    clip: &Clip,
    kbps: f64,
    stats: FirstPassStats,
    first_pass_s: f64,
    opts: &RunOpts,
    decode: bool,
) -> Result<Coded> {
    let CodecKind::Mica(v) = codec.kind else {
        bail!(
            "{} has no rate control here (only Mica's is built in)",
            codec.name
        );
    };
    let mut cfg = mica_config(clip, 32, v, opts)?;
    cfg.rate = RateControl::Bitrate {
        kbps,
        first_pass: Some(std::sync::Arc::new(stats)),
    };
    let settings = format!(
        "mica library API (crate mica {}), two passes (first: fast preset at the two QPs \
         FirstPassStats::qps_for gives) at {kbps:.3} kbit/s: {:?}",
        env!("CARGO_PKG_VERSION"),
        EncoderConfig {
            rate: RateControl::ConstantQp,
            ..cfg.clone()
        }
    );
    code_mica(clip, cfg, settings, first_pass_s, decode)
}

/// The encoder configuration of Mica variant `v` on `clip` at QP `q`.
fn mica_config(clip: &Clip, q: i64, v: MicaVariant, opts: &RunOpts) -> Result<EncoderConfig> {
    let mut cfg = EncoderConfig::new(clip.width, clip.height);
    let source_depth = clip.frames.first().map_or(8, |f| f.bit_depth);
    cfg.input_bit_depth = source_depth;
    cfg.bit_depth = if v.ten_bit { 10 } else { source_depth };
    if i64::from(mica::min_qp(cfg.bit_depth)) > q {
        bail!("mica QP {q} needs 10-bit coding");
    }
    cfg.qp = q as i8;
    cfg.nn_filter = !v.no_nn_filter;
    cfg.nn_intra = v.nn_intra;
    cfg.trained_contexts = !v.uniform_contexts;
    if v.all_intra {
        cfg.gop = mica::GopStructure::IntraOnly;
    }
    cfg.fps_num = clip.fps_num;
    cfg.fps_den = clip.fps_den;
    cfg.threads = opts.threads;
    Ok(cfg)
}

/// Codes `clip` with `cfg` (`settings` describing it), adding `extra_s`
/// seconds to the encode time, and decodes it where asked, checking the
/// decoder's output against the encoder's reconstruction.
fn code_mica(
    clip: &Clip,
    cfg: EncoderConfig,
    settings: String,
    extra_s: f64,
    decode: bool,
) -> Result<Coded> {
    let source_depth = clip.frames.first().map_or(8, |f| f.bit_depth);
    let q = cfg.qp;
    let frames: Vec<Frame> = clip.frames.clone();
    let t0 = Instant::now();
    let mut enc = Encoder::new(cfg).map_err(|e| anyhow!("mica encoder: {e}"))?;
    let mut packets = Vec::with_capacity(frames.len());
    for f in frames {
        enc.send_frame(f)
            .map_err(|e| anyhow!("mica encoder: {e}"))?;
        while let Some(p) = enc.receive_packet() {
            packets.push(p);
        }
    }
    enc.flush();
    while let Some(p) = enc.receive_packet() {
        packets.push(p);
    }
    let enc_s = t0.elapsed().as_secs_f64() + extra_s;
    let bytes: u64 = packets.iter().map(|p| p.data.len() as u64).sum();
    let file_bytes = 32 + 12 * packets.len() as u64 + bytes;
    let mut per_frame: Vec<(u32, u64)> = packets
        .iter()
        .map(|p| (p.frame_number, p.data.len() as u64))
        .collect();
    per_frame.sort();
    let frame_bytes = Some(per_frame.into_iter().map(|x| x.1).collect());
    let mut out = Coded {
        bytes,
        file_bytes,
        frame_bytes,
        enc_s,
        settings,
        ..Default::default()
    };
    if !decode {
        return Ok(out);
    }
    let t1 = Instant::now();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut decoded = Vec::with_capacity(packets.len());
    for p in &packets {
        dec.send_packet(&p.data)
            .map_err(|e| anyhow!("mica decoder, packet of frame {}: {e}", p.frame_number))?;
        while let Some(d) = dec.receive_frame() {
            decoded.push(d);
        }
    }
    dec.flush()
        .map_err(|e| anyhow!("mica decoder, end of stream: {e}"))?;
    while let Some(d) = dec.receive_frame() {
        decoded.push(d);
    }
    out.dec_s = t1.elapsed().as_secs_f64();
    decoded.sort_by_key(|d| d.frame_number);
    // The decoder's output must be the encoder's reconstruction, frame for frame.
    let mut recons: Vec<(u32, &Frame)> =
        packets.iter().map(|p| (p.frame_number, &p.recon)).collect();
    recons.sort_by_key(|r| r.0);
    if decoded.len() != recons.len() {
        bail!(
            "mica decoder returned {} frames for {} packets",
            decoded.len(),
            recons.len()
        );
    }
    for (d, (n, r)) in decoded.iter().zip(&recons) {
        if d.frame_number != *n {
            bail!(
                "mica decoder returned frame number {} where {} was expected",
                d.frame_number,
                n
            );
        }
        if d.frame != **r {
            bail!("MISMATCH: mica decoder output of frame {n} differs from the encoder's reconstruction (qp {q})");
        }
    }
    // Metrics compare with the source at its own depth.
    out.decoded = decoded
        .into_iter()
        .map(|d| d.frame.with_bit_depth(source_depth))
        .collect();
    out.decoder = "mica Decoder (checked equal to the encoder's reconstruction)".into();
    Ok(out)
}

fn v_plane_to_mica(p: &rav1e::prelude::Plane<u8>, w: usize, h: usize) -> Plane {
    let mut out = Plane::new(w, h);
    for (y, row) in p.rows_iter().take(h).enumerate() {
        for (d, &s) in out.data[y * w..(y + 1) * w].iter_mut().zip(&row[..w]) {
            *d = s.into();
        }
    }
    out
}

fn run_rav1e(
    clip: &Clip,
    q: i64,
    speed: u8,
    how: Rav1eDecode,
    opts: &RunOpts,
    decode: bool,
) -> Result<Coded> {
    use rav1e::prelude::{
        ChromaSampling, Config, Context, EncoderConfig as RaConfig, EncoderStatus, Packet, Rational,
    };
    if clip.frames.iter().any(|f| f.bit_depth != 8) {
        bail!("the built-in rav1e entry codes 8-bit clips only");
    }
    let mut enc = RaConfig::with_speed_preset(speed);
    enc.width = clip.width;
    enc.height = clip.height;
    enc.bit_depth = 8;
    enc.chroma_sampling = ChromaSampling::Cs420;
    enc.time_base = Rational::new(clip.fps_den as u64, clip.fps_num as u64);
    enc.quantizer = q as usize;
    enc.max_key_frame_interval = 9999;
    let cfg = Config::new()
        .with_encoder_config(enc.clone())
        .with_threads(opts.threads);
    let settings = format!(
        "rav1e crate {RAV1E_VERSION} ({}): speed {speed}, quantizer {q}, min/max keyframe interval {}/{}, threads {}, tune {:?}, no tiles",
        if cfg!(feature = "asm") { "asm" } else { "pure Rust, no asm" },
        enc.min_key_frame_interval,
        enc.max_key_frame_interval,
        opts.threads,
        enc.tune
    );
    let (w, h) = (clip.width, clip.height);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let t0 = Instant::now();
    let mut ctx: Context<u8> = cfg
        .new_context()
        .map_err(|e| anyhow!("rav1e config: {e}"))?;
    let mut packets: Vec<Packet<u8>> = Vec::new();
    let drain = |ctx: &mut Context<u8>, packets: &mut Vec<Packet<u8>>| -> Result<bool> {
        loop {
            match ctx.receive_packet() {
                Ok(p) => packets.push(p),
                Err(EncoderStatus::Encoded) => continue,
                Err(EncoderStatus::NeedMoreData) => return Ok(false),
                Err(EncoderStatus::LimitReached) => return Ok(true),
                Err(e) => bail!("rav1e: {e}"),
            }
        }
    };
    for f in &clip.frames {
        let mut fr = ctx.new_frame();
        for (i, p) in f.planes.iter().enumerate() {
            let bytes: Vec<u8> = p.data.iter().map(|&v| v as u8).collect();
            fr.planes[i].copy_from_raw_u8(&bytes, p.width, 1);
        }
        ctx.send_frame(fr)
            .map_err(|e| anyhow!("rav1e send_frame: {e}"))?;
        drain(&mut ctx, &mut packets)?;
    }
    ctx.flush();
    while !drain(&mut ctx, &mut packets)? {}
    let enc_s = t0.elapsed().as_secs_f64();
    let bytes: u64 = packets.iter().map(|p| p.data.len() as u64).sum();
    let mut out = Coded {
        bytes,
        file_bytes: bytes,
        frame_bytes: Some(packets.iter().map(|p| p.data.len() as u64).collect()),
        enc_s,
        settings,
        ..Default::default()
    };
    if !decode {
        return Ok(out);
    }
    let recon: Vec<Frame> = packets
        .iter()
        .map(|p| {
            let r = p.rec.as_ref().ok_or_else(|| {
                anyhow!("rav1e packet {} carries no reconstruction", p.input_frameno)
            })?;
            Ok(mica::Frame {
                planes: [
                    v_plane_to_mica(&r.planes[0], w, h),
                    v_plane_to_mica(&r.planes[1], cw, ch),
                    v_plane_to_mica(&r.planes[2], cw, ch),
                ],
                bit_depth: 8,
            })
        })
        .collect::<Result<_>>()?;
    let use_dav1d = match how {
        Rav1eDecode::Recon => false,
        Rav1eDecode::Dav1d => true,
        Rav1eDecode::Auto => dav1d_available(),
    };
    if !use_dav1d {
        out.decoded = recon;
        out.decoder = "rav1e reconstruction (no AV1 decode)".into();
        return Ok(out);
    }
    let dir = tempfile::tempdir_in(&opts.tmp)?;
    let obu = dir.path().join("stream.obu");
    let mut f = std::fs::File::create(&obu)?;
    for p in &packets {
        f.write_all(&p.data)?;
    }
    drop(f);
    let threads = if opts.threads > 0 {
        format!("-threads {}", opts.threads)
    } else {
        String::new()
    };
    let template = format!("ffmpeg -nostdin -hide_banner -loglevel error {threads} -c:v libdav1d -i {{input}} -fps_mode passthrough -f yuv4mpegpipe -pix_fmt yuv420p {{output}}");
    let mut vars = Vars::default();
    vars.values
        .insert("input", obu.to_string_lossy().into_owned());
    vars.values.insert("output", "-".into());
    let argv = external::expand(&template, &vars)?;
    let t1 = Instant::now();
    let decoded = decode_y4m_stdout(&argv, dir.path())?;
    out.dec_s = t1.elapsed().as_secs_f64();
    if decoded.len() != recon.len() {
        bail!(
            "libdav1d decoded {} frames from rav1e's {} packets",
            decoded.len(),
            recon.len()
        );
    }
    for (i, (d, r)) in decoded.iter().zip(&recon).enumerate() {
        if d != r {
            bail!("MISMATCH: libdav1d output of frame {i} differs from rav1e's reconstruction (qindex {q})");
        }
    }
    out.decoded = decoded;
    out.decoder = "ffmpeg libdav1d (checked equal to rav1e's reconstruction)".into();
    Ok(out)
}

/// Whether ffmpeg with libdav1d is installed.
pub fn dav1d_available() -> bool {
    static AVAIL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAIL.get_or_init(|| {
        external::find_program("ffmpeg").is_some()
            && Command::new("ffmpeg")
                .args(["-hide_banner", "-decoders"])
                .stdin(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("libdav1d"))
                .unwrap_or(false)
    })
}

/// Runs a decode command that writes y4m to standard output and reads all frames.
fn decode_y4m_stdout(argv: &[String], cwd: &Path) -> Result<Vec<Frame>> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start '{}'", argv[0]))?;
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let read = (|| -> Result<Vec<Frame>> {
        let mut r = Y4mReader::new(std::io::BufReader::with_capacity(1 << 20, stdout))?;
        let mut frames = Vec::new();
        while let Some(f) = r.read_frame()? {
            frames.push(f);
        }
        Ok(frames)
    })();
    let status = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "decoder '{}' failed ({status}): {}",
            external::shell_join(argv),
            err.trim()
        );
    }
    read.with_context(|| {
        format!(
            "reading y4m from '{}' {}",
            external::shell_join(argv),
            err.trim()
        )
    })
}

fn run_external(
    e: &ExternalCodec,
    clip: &Clip,
    q: i64,
    opts: &RunOpts,
    decode: bool,
) -> Result<Coded> {
    let dir = tempfile::tempdir_in(&opts.tmp)?;
    let stream = dir.path().join(format!("stream.{}", e.suffix));
    let mut vars = Vars::default();
    let abs = std::fs::canonicalize(&clip.path).unwrap_or_else(|_| clip.path.clone());
    vars.values
        .insert("input", abs.to_string_lossy().into_owned());
    vars.values
        .insert("output", stream.to_string_lossy().into_owned());
    vars.values.insert("q", q.to_string());
    vars.values.insert("width", clip.width.to_string());
    vars.values.insert("height", clip.height.to_string());
    vars.values.insert("fps_num", clip.fps_num.to_string());
    vars.values.insert("fps_den", clip.fps_den.to_string());
    vars.values.insert("frames", clip.frames.len().to_string());
    vars.threads = if opts.threads > 0 {
        e.threads.replace("{n}", &opts.threads.to_string())
    } else {
        String::new()
    };
    let argv = external::expand(&e.encode, &vars)?;
    // The settings name the source, not a temporary cut of it.
    let input = match clip.is_cut() {
        true => format!("FIRST{}({})", clip.frames.len(), clip.source.display()),
        false => abs.to_string_lossy().into_owned(),
    };
    let shown: Vec<String> = argv
        .iter()
        .map(|a| {
            a.replace(&*stream.to_string_lossy(), &format!("OUT.{}", e.suffix))
                .replace(&*abs.to_string_lossy(), &input)
        })
        .collect();
    let settings = external::shell_join(&shown);
    let t0 = Instant::now();
    external::run_checked(&argv, dir.path())?;
    let enc_s = t0.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&stream)
        .with_context(|| format!("encoder wrote no {}", stream.display()))?
        .len();
    if bytes == 0 {
        bail!("encoder wrote an empty stream: {settings}");
    }
    let mut out = Coded {
        bytes,
        file_bytes: bytes,
        enc_s,
        settings,
        decoder: e.decoder.clone(),
        ..Default::default()
    };
    if !decode {
        return Ok(out);
    }
    let mut dv = vars.clone();
    dv.values
        .insert("input", stream.to_string_lossy().into_owned());
    dv.values.insert("output", "-".into());
    dv.threads = if opts.threads > 0 {
        e.decode_threads.replace("{n}", &opts.threads.to_string())
    } else {
        String::new()
    };
    let dargv = external::expand(&e.decode, &dv)?;
    let t1 = Instant::now();
    out.decoded = decode_y4m_stdout(&dargv, dir.path())?;
    out.dec_s = t1.elapsed().as_secs_f64();
    Ok(out)
}

/// Checks decoded frames against the source: same count and size.
pub fn check_decoded(clip: &Clip, decoded: &[Frame]) -> Result<()> {
    if decoded.len() != clip.frames.len() {
        bail!(
            "decoded {} frames, the source {} has {}",
            decoded.len(),
            clip.name,
            clip.frames.len()
        );
    }
    for (i, (d, s)) in decoded.iter().zip(&clip.frames).enumerate() {
        for p in 0..3 {
            let (a, b) = (&d.planes[p], &s.planes[p]);
            if (a.width, a.height) != (b.width, b.height) {
                bail!(
                    "decoded frame {i} plane {p} is {}x{}, the source's is {}x{}",
                    a.width,
                    a.height,
                    b.width,
                    b.height
                );
            }
        }
    }
    Ok(())
}
