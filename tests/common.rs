//! Helpers shared by the integration tests: real sample material and small cuts of it.

use mica::{Decoder, DecoderConfig, Encoder, EncoderConfig, Frame};
use mica_io::y4m::Y4mReader;
use std::path::PathBuf;

/// The repository's `samples/` folder (always present).
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

/// `../shared/media` beside the repository, when it exists (CI and developers have it).
pub fn shared_media() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/media");
    p.is_dir().then_some(p)
}

/// Reads up to `limit` frames of a y4m file.
pub fn read_frames(path: &std::path::Path, limit: usize) -> Vec<Frame> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = Y4mReader::new(std::io::BufReader::new(file)).expect("valid y4m");
    let mut out = Vec::new();
    while out.len() < limit {
        match r.read_frame().expect("readable frame") {
            Some(f) => out.push(f),
            None => break,
        }
    }
    out
}

/// A `w` x `h` window of `f` starting at (`x`, `y`) (even offsets keep chroma aligned).
pub fn crop(f: &Frame, x: usize, y: usize, w: usize, h: usize) -> Frame {
    assert!(x.is_multiple_of(2) && y.is_multiple_of(2));
    let mut out = Frame::new_420(w, h);
    for (i, p) in out.planes.iter_mut().enumerate() {
        let (ox, oy) = if i == 0 { (x, y) } else { (x / 2, y / 2) };
        let src = &f.planes[i];
        for r in 0..p.height {
            let pw = p.width;
            p.data[r * pw..(r + 1) * pw]
                .copy_from_slice(&src.data[(oy + r) * src.width + ox..][..pw]);
        }
    }
    out
}

/// Encodes `frames` with `cfg`, decodes the packets, and asserts that the
/// decoder's output equals the encoder's reconstruction sample for sample.
/// Returns the packets' total size in bytes.
pub fn assert_round_trip(cfg: &EncoderConfig, frames: &[Frame]) -> usize {
    let mut enc = Encoder::new(cfg.clone()).expect("valid config");
    let mut packets = Vec::new();
    for f in frames {
        enc.send_frame(f.clone()).expect("frame accepted");
        while let Some(p) = enc.receive_packet() {
            packets.push(p);
        }
    }
    enc.flush();
    while let Some(p) = enc.receive_packet() {
        packets.push(p);
    }
    assert_eq!(packets.len(), frames.len());
    let recon: std::collections::HashMap<u32, &Frame> =
        packets.iter().map(|p| (p.frame_number, &p.recon)).collect();
    assert_eq!(recon.len(), frames.len(), "one packet per frame number");
    let mut dec = Decoder::new(DecoderConfig {
        filters: cfg.nn_filter_model.iter().cloned().collect(),
        intra_predictors: cfg.nn_intra_model.iter().cloned().collect(),
        ..Default::default()
    });
    let mut bytes = 0;
    let mut next = 0u32;
    let mut check = |d: mica::DecodedFrame| {
        assert_eq!(d.frame_number, next, "frames come out in display order");
        next += 1;
        assert_eq!(d.frame.width(), cfg.width);
        assert_eq!(d.frame.height(), cfg.height);
        let r = recon[&d.frame_number];
        for i in 0..3 {
            assert!(
                d.frame.planes[i].data == r.planes[i].data,
                "frame {} plane {i}: decoder output differs from encoder reconstruction (qp {}, {:?}, {:?})",
                d.frame_number,
                cfg.qp,
                cfg.gop,
                cfg.preset
            );
        }
    };
    for p in &packets {
        bytes += p.data.len();
        dec.send_packet(&p.data).expect("decodable packet");
        while let Some(d) = dec.receive_frame() {
            check(d);
        }
    }
    dec.flush().expect("decodable packets");
    while let Some(d) = dec.receive_frame() {
        check(d);
    }
    assert_eq!(next as usize, frames.len());
    bytes
}
