//! `mica-rd round-trip`: encode a clip with the library, write the packets
//! as an IVF stream and read them back, decode, and check that every decoded
//! frame equals the encoder's reconstruction (`Packet::recon`), sample for
//! sample, in display order. The MD5 reported is that of `micaenc --md5`
//! (and of `micadec --md5` on the same stream).

use anyhow::{anyhow, bail, Context, Result};
use mica::{
    CpuLevel, DecodedFrame, Decoder, DecoderConfig, Encoder, EncoderConfig, Frame, GopStructure,
    Preset,
};
use mica_cli::SampleMd5;
use mica_io::ivf::{IvfHeader, IvfReader, IvfWriter};
use mica_io::y4m::{Y4mHeader, Y4mReader};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

/// A source clip: its y4m header and the frames to code.
#[derive(Debug, Clone)]
pub struct Source {
    /// File stem.
    pub name: String,
    /// The y4m header (carried into the stream's video information, as micaenc does).
    pub header: Y4mHeader,
    /// The frames, in display order.
    pub frames: Vec<Frame>,
}

impl Source {
    /// Reads the first `limit` frames of a y4m file (all with `None`).
    pub fn load(path: &Path, limit: Option<usize>) -> Result<Source> {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut r = Y4mReader::new(std::io::BufReader::new(f))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let header = r.header().clone();
        let mut frames = Vec::new();
        while limit.is_none_or(|l| frames.len() < l) {
            match r
                .read_frame()
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                Some(f) => frames.push(f),
                None => break,
            }
        }
        if frames.is_empty() {
            bail!("{} holds no frame", path.display());
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Source {
            name,
            header,
            frames,
        })
    }
}

/// The name of a prediction structure on the command line (`micaenc --gop`).
pub fn gop_name(g: GopStructure) -> &'static str {
    match g {
        GopStructure::RandomAccess => "random-access",
        GopStructure::LowDelay => "low-delay",
        GopStructure::IntraOnly => "intra",
    }
}

/// Parses `random-access`, `low-delay` or `intra`.
pub fn parse_gop(s: &str) -> Option<GopStructure> {
    match s {
        "random-access" => Some(GopStructure::RandomAccess),
        "low-delay" => Some(GopStructure::LowDelay),
        "intra" => Some(GopStructure::IntraOnly),
        _ => None,
    }
}

/// The name of a preset on the command line.
pub fn preset_name(p: Preset) -> &'static str {
    match p {
        Preset::Fast => "fast",
        Preset::Medium => "medium",
        Preset::Slow => "slow",
    }
}

/// One combination of settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Quantisation parameter (-12..=51 when coded at 10 bits).
    pub qp: i8,
    /// Coded bit depth (`None`: the source's).
    pub bit_depth: Option<u8>,
    /// Kernel level of the encoder and the decoder (`None`: the best supported).
    pub cpu: Option<CpuLevel>,
    /// Speed preset.
    pub preset: Preset,
    /// Prediction structure.
    pub gop: GopStructure,
    /// Frames per random-access group (`None`: the encoder's default).
    pub gop_size: Option<usize>,
    /// Encoder threads (0: one per core).
    pub threads: usize,
    /// The learned loop filter.
    pub nn_filter: bool,
    /// The learned intra mode.
    pub nn_intra: bool,
}

impl Case {
    /// The encoder settings, as micaenc makes them from its options.
    pub fn config(&self, src: &Source) -> EncoderConfig {
        let h = &src.header;
        let mut cfg = EncoderConfig::new(h.width, h.height);
        cfg.fps_num = h.fps_num;
        cfg.fps_den = h.fps_den;
        cfg.video_info = h.video_info();
        cfg.qp = self.qp;
        let source_depth = src.frames.first().map_or(8, |f| f.bit_depth);
        cfg.input_bit_depth = source_depth;
        cfg.bit_depth = self.bit_depth.unwrap_or(source_depth);
        cfg.cpu = self.cpu;
        cfg.preset = self.preset;
        cfg.gop = self.gop;
        if let Some(size) = self.gop_size {
            // A number is a fixed length; `default` keeps the encoder's
            // adaptive choice of 32 or 16.
            cfg.gop_size = size;
            cfg.adaptive_gop = false;
        }
        cfg.threads = self.threads;
        cfg.nn_filter = self.nn_filter;
        cfg.nn_intra = self.nn_intra;
        cfg
    }

    /// `qp 32 medium random-access threads 1 nn-filter on nn-intra off`, with
    /// `bit-depth 10`, `cpu scalar` and `gop-size 32` when set.
    pub fn label(&self) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        let depth = self
            .bit_depth
            .map_or(String::new(), |d| format!(" bit-depth {d}"));
        let cpu = self
            .cpu
            .map_or(String::new(), |c| format!(" cpu {}", c.name()));
        let size = self
            .gop_size
            .map_or(String::new(), |n| format!(" gop-size {n}"));
        format!(
            "qp {}{depth}{cpu} {} {}{size} threads {} nn-filter {} nn-intra {}",
            self.qp,
            preset_name(self.preset),
            gop_name(self.gop),
            self.threads,
            on(self.nn_filter),
            on(self.nn_intra)
        )
    }
}

/// What a passing case produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    /// Frames coded.
    pub frames: usize,
    /// Size of the IVF stream.
    pub ivf_bytes: u64,
    /// MD5 of the decoded samples (= the reconstruction's; `micaenc --md5`).
    pub md5: String,
}

/// Encodes `src` with `case`, writes and reads back the IVF stream, decodes
/// it and checks the decoder's output against the reconstruction.
pub fn round_trip(src: &Source, case: &Case) -> Result<Passed> {
    let mut enc = Encoder::new(case.config(src)).map_err(|e| anyhow!("encoder: {e}"))?;
    let seq = enc.sequence_header();
    let h = &src.header;
    let ivf_header = IvfHeader::new(h.width as u16, h.height as u16, h.fps_num, h.fps_den);
    let mut ivf = IvfWriter::new(Cursor::new(Vec::new()), &ivf_header)?;
    let mut recon = BTreeMap::new();
    let mut drain = |enc: &mut Encoder, ivf: &mut IvfWriter<Cursor<Vec<u8>>>| -> Result<()> {
        while let Some(p) = enc.receive_packet() {
            ivf.write_frame(&p.data, p.frame_number as u64)?;
            if recon.insert(p.frame_number, p.recon).is_some() {
                bail!("the encoder wrote frame {} twice", p.frame_number);
            }
        }
        Ok(())
    };
    for f in &src.frames {
        enc.send_frame(f.clone())
            .map_err(|e| anyhow!("encoder: {e}"))?;
        drain(&mut enc, &mut ivf)?;
    }
    enc.flush();
    drain(&mut enc, &mut ivf)?;
    if recon.len() != src.frames.len() {
        bail!(
            "the encoder returned {} packets for {} frames",
            recon.len(),
            src.frames.len()
        );
    }
    let stream = ivf.finish()?.into_inner();

    let mut reader = IvfReader::new(Cursor::new(&stream[..]))?;
    if reader.header().frame_count as usize != src.frames.len() {
        bail!(
            "the IVF header counts {} frames for {}",
            reader.header().frame_count,
            src.frames.len()
        );
    }
    let mut dec = Decoder::new(DecoderConfig {
        cpu: case.cpu,
        ..Default::default()
    });
    let mut decoded = Vec::with_capacity(src.frames.len());
    let mut index = 0u64;
    while let Some(packet) = reader.next_frame()? {
        dec.send_packet(&packet.data)
            .map_err(|e| anyhow!("decoder, packet {index}: {e}"))?;
        index += 1;
        while let Some(d) = dec.receive_frame() {
            decoded.push(d);
        }
    }
    dec.flush()
        .map_err(|e| anyhow!("decoder, end of stream: {e}"))?;
    while let Some(d) = dec.receive_frame() {
        decoded.push(d);
    }
    let dec_header = Y4mHeader::for_stream(
        dec.sequence_header()
            .context("the decoder saw no sequence header")?,
    );
    if dec_header != Y4mHeader::for_stream(&seq) {
        bail!(
            "the decoder's y4m header {:?} differs from the reconstruction's {:?}",
            dec_header.header_line().trim_end(),
            Y4mHeader::for_stream(&seq).header_line().trim_end()
        );
    }
    check_decoded(&recon, &decoded)?;
    let mut md5 = SampleMd5::default();
    for f in recon.values() {
        md5.update(f);
    }
    Ok(Passed {
        frames: recon.len(),
        ivf_bytes: stream.len() as u64,
        md5: md5.hex(),
    })
}

/// Checks that `decoded` is `recon` (frame number → reconstruction) in
/// display order: the same frame numbers in increasing order and the same
/// samples. The error names the first frame that differs and where.
pub fn check_decoded(recon: &BTreeMap<u32, Frame>, decoded: &[DecodedFrame]) -> Result<()> {
    if decoded.len() != recon.len() {
        bail!(
            "the decoder returned {} frames for {} packets",
            decoded.len(),
            recon.len()
        );
    }
    for (d, (&n, r)) in decoded.iter().zip(recon) {
        if d.frame_number != n {
            bail!(
                "the decoder returned frame {} where frame {n} was due (display order)",
                d.frame_number
            );
        }
        if d.frame.planes.len() != r.planes.len() {
            bail!("MISMATCH in frame {n}: plane count differs");
        }
        for (p, (a, b)) in d.frame.planes.iter().zip(&r.planes).enumerate() {
            if (a.width, a.height) != (b.width, b.height) {
                bail!(
                    "MISMATCH in frame {n}, plane {p}: decoded {}x{}, reconstruction {}x{}",
                    a.width,
                    a.height,
                    b.width,
                    b.height
                );
            }
            if let Some(i) = a.data.iter().zip(&b.data).position(|(x, y)| x != y) {
                bail!(
                    "MISMATCH in frame {n}, plane {p} at ({}, {}): decoded {}, reconstruction {}",
                    i % a.width,
                    i / a.width,
                    a.data[i],
                    b.data[i]
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: u8) -> Frame {
        let mut f = Frame::new_420(8, 8);
        for p in &mut f.planes {
            p.data.fill(v.into());
        }
        f
    }

    #[test]
    fn a_differing_sample_or_order_is_found() {
        let recon: BTreeMap<u32, Frame> = (0..3).map(|n| (n, frame(n as u8))).collect();
        let good: Vec<DecodedFrame> = recon
            .iter()
            .map(|(&frame_number, f)| DecodedFrame {
                frame_number,
                frame: f.clone(),
            })
            .collect();
        check_decoded(&recon, &good).unwrap();

        let mut bad = good.clone();
        bad[2].frame.planes[1].data[2 * 4 + 3] ^= 1; // chroma planes are 4x4
        let e = check_decoded(&recon, &bad).unwrap_err().to_string();
        assert!(e.contains("frame 2, plane 1 at (3, 2)"), "{e}");

        let mut swapped = good.clone();
        swapped.swap(0, 1);
        let e = check_decoded(&recon, &swapped).unwrap_err().to_string();
        assert!(e.contains("returned frame 1 where frame 0"), "{e}");

        let e = check_decoded(&recon, &good[..2]).unwrap_err().to_string();
        assert!(e.contains("2 frames for 3 packets"), "{e}");
    }

    #[test]
    fn names_parse_back() {
        for g in [
            GopStructure::RandomAccess,
            GopStructure::LowDelay,
            GopStructure::IntraOnly,
        ] {
            assert_eq!(parse_gop(gop_name(g)), Some(g));
        }
        for p in [Preset::Fast, Preset::Medium, Preset::Slow] {
            assert_eq!(Preset::from_name(preset_name(p)), Some(p));
        }
        assert_eq!(parse_gop("ra"), None);
    }
}
