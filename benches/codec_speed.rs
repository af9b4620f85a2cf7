//! Whole-codec speed: encoder and decoder frames per second on the first
//! frames of a real clip. A measurement, not a test; run with
//! `cargo bench -p mica-benches --bench codec_speed -- [CLIP.y4m] [FRAMES] [QP] [THREADS]`.
//! Defaults: `../shared/media/box_640x480_30fps_48f.y4m` (or the shipped
//! sample when that is absent), 8 frames, QP 32, 2 threads.

use mica::{Decoder, DecoderConfig, Encoder, EncoderConfig};
use mica_io::y4m::Y4mReader;
use std::time::Instant;

fn main() {
    // `cargo bench` passes `--bench`; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let default_clip = root.join("../shared/media/box_640x480_30fps_48f.y4m");
    let clip = match args.first() {
        Some(p) => std::path::PathBuf::from(p),
        None if default_clip.exists() => default_clip,
        None => root.join("samples/city_720x400_6f.y4m"),
    };
    let frames: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let qp: u8 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);

    let mut reader = Y4mReader::new(std::fs::File::open(&clip).expect("clip")).expect("y4m");
    let h = reader.header().clone();
    let mut input = Vec::new();
    while input.len() < frames {
        match reader.read_frame().expect("frame") {
            Some(f) => input.push(f),
            None => break,
        }
    }
    let mut cfg = EncoderConfig::new(h.width, h.height);
    cfg.qp = qp as i8;
    cfg.threads = threads;
    cfg.fps_num = h.fps_num;
    cfg.fps_den = h.fps_den;

    let start = Instant::now();
    let mut enc = Encoder::new(cfg).expect("config");
    let mut packets = Vec::new();
    for f in &input {
        enc.send_frame(f.clone()).expect("frame");
        packets.extend(std::iter::from_fn(|| enc.receive_packet()));
    }
    enc.flush();
    packets.extend(std::iter::from_fn(|| enc.receive_packet()));
    let enc_s = start.elapsed().as_secs_f64();

    // Decode several times to get a stable figure for a fast decoder.
    let reps = 5;
    let start = Instant::now();
    for _ in 0..reps {
        let mut dec = Decoder::new(DecoderConfig::default());
        for p in &packets {
            dec.send_packet(&p.data).expect("decodable");
            while dec.receive_frame().is_some() {}
        }
        dec.flush().expect("decodable");
        while dec.receive_frame().is_some() {}
    }
    let dec_s = start.elapsed().as_secs_f64() / reps as f64;
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    println!(
        "{}: {} frames {}x{} QP {qp}, {threads} threads: {bytes} bytes; encoder {:.2} fps ({:.2} s); decoder {:.1} fps ({:.3} s, 1 thread)",
        clip.file_name().unwrap().to_string_lossy(),
        input.len(),
        h.width,
        h.height,
        input.len() as f64 / enc_s,
        enc_s,
        input.len() as f64 / dec_s,
        dec_s
    );
}
