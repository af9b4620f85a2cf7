//! A long-running mutation fuzzer of the decoder, for the hours the unit
//! tests (`tests/malformed.rs`, a few thousand mutations) cannot spend.
//!
//! It encodes small real streams with every tool (all-intra with the learned
//! intra mode, low delay, random access, the loop filter on and off, odd
//! sizes, 10-bit coding with HDR metadata and a QP below 0, superblock QP
//! deltas, cross-component chroma prediction), then decodes mutated copies: bit flips, overwritten, dropped and
//! inserted bytes, truncations, and packets dropped, repeated, swapped or
//! spliced between streams. A panic, or a packet taking over a second, is a
//! finding: its packets are written to `OUT_DIR/finding-N-packetK.bin` and
//! the run ends with a non-zero exit.
//!
//! ```text
//! cargo run --release -p mica-tests --example fuzz_decode -- [SECONDS] [SEED] [OUT_DIR]
//! ```

use mica::{Decoder, DecoderConfig, Encoder, EncoderConfig, Frame, GopStructure};
use mica_tests::{crop, read_frames, samples_dir};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One corpus stream's settings: GOP structure, learned filter, learned intra
/// mode, QP, picture size and coded bit depth.
type StreamSettings = (GopStructure, bool, bool, i8, (usize, usize), u8);

/// Valid streams (as packet lists) covering the tools.
fn corpus() -> Vec<Vec<Vec<u8>>> {
    let samples = samples_dir();
    let clip = read_frames(&samples.join("city_720x400_6f.y4m"), 6);
    let still = read_frames(&samples.join("still_chelsea_448x296.y4m"), 1);
    let mut streams = Vec::new();
    let settings: [StreamSettings; 9] = [
        (GopStructure::IntraOnly, true, true, 22, (70, 38), 8),
        (GopStructure::IntraOnly, false, true, 37, (96, 64), 8),
        (GopStructure::LowDelay, true, false, 27, (80, 48), 8),
        (GopStructure::RandomAccess, true, false, 32, (64, 64), 8),
        (GopStructure::RandomAccess, false, true, 42, (66, 34), 8),
        (GopStructure::LowDelay, true, true, 22, (48, 40), 8),
        // Coded at 10 bits (with HDR metadata), one at a QP below 0.
        (GopStructure::RandomAccess, true, true, 27, (64, 48), 10),
        (GopStructure::LowDelay, true, false, -6, (40, 24), 10),
        // Six superblocks in the default groups, with the temporal filter's
        // importance maps: superblock QP deltas.
        (GopStructure::RandomAccess, true, false, 32, (192, 128), 8),
    ];
    for (i, &(gop, nn_filter, nn_intra, qp, (w, h), depth)) in settings.iter().enumerate() {
        let mut cfg = EncoderConfig::new(w, h);
        cfg.qp = qp;
        cfg.bit_depth = depth;
        if depth == 10 {
            cfg.video_info.colour = Some(mica::ColourDescription {
                primaries: 9,
                transfer: 16,
                matrix: 9,
            });
            cfg.video_info.mastering_display = Some(mica::MasteringDisplay {
                primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
                white_point: [15635, 16450],
                max_luminance: 10_000_000,
                min_luminance: 50,
            });
            cfg.video_info.content_light = Some(mica::ContentLight {
                max_cll: 1000,
                max_fall: 400,
            });
        }
        cfg.gop = gop;
        if i < 8 {
            cfg.gop_size = 2;
            cfg.keyint = 4;
        } else {
            cfg.sb_qp_deltas = true;
        }
        cfg.nn_filter = nn_filter;
        cfg.nn_intra = nn_intra;
        // The adaptive loop filter in an intra, a random-access and a 10-bit stream.
        cfg.alf = i % 3 == 0;
        // Half the streams with cross-component chroma prediction (LM).
        cfg.cclm = i % 2 == 0;
        let mut enc = Encoder::new(cfg).expect("valid settings");
        let frames: Vec<Frame> = if gop == GopStructure::IntraOnly && i == 0 {
            vec![crop(&still[0], 100, 60, w, h)]
        } else {
            clip.iter()
                .map(|f| crop(f, 200 + 2 * i, 120, w, h))
                .collect()
        };
        for f in frames {
            enc.send_frame(f).expect("frame of the configured size");
        }
        enc.flush();
        streams.push(
            std::iter::from_fn(|| enc.receive_packet())
                .map(|p| p.data)
                .collect(),
        );
    }
    streams
}

fn mutate_bytes(p: &mut Vec<u8>, rng: &mut SmallRng) {
    for _ in 0..rng.gen_range(1..5) {
        if p.is_empty() {
            p.push(rng.gen());
            continue;
        }
        let i = rng.gen_range(0..p.len());
        match rng.gen_range(0..7) {
            0..=2 => p[i] ^= 1 << rng.gen_range(0..8),
            3 => p[i] = [0x00, 0xff, rng.gen()][rng.gen_range(0..3)],
            4 => p.truncate(i),
            5 => {
                let end = (i + 1 + rng.gen_range(0..16)).min(p.len());
                p.drain(i..end);
            }
            _ => {
                let b: u8 = rng.gen();
                p.splice(i..i, std::iter::repeat_n(b, rng.gen_range(1..9)));
            }
        }
    }
}

/// A mutated copy of one stream of `corpus`.
fn mutate_stream(corpus: &[Vec<Vec<u8>>], rng: &mut SmallRng) -> Vec<Vec<u8>> {
    let mut s = corpus[rng.gen_range(0..corpus.len())].clone();
    for _ in 0..rng.gen_range(1..3) {
        let k = rng.gen_range(0..s.len());
        match rng.gen_range(0..10) {
            0 => {
                s.remove(k);
            }
            1 => s.insert(k, s[k].clone()),
            2 => {
                let j = rng.gen_range(0..s.len());
                s.swap(k, j);
            }
            3 => {
                // A packet of another stream (other size, tools, models).
                let other = &corpus[rng.gen_range(0..corpus.len())];
                s[k] = other[rng.gen_range(0..other.len())].clone();
            }
            _ => mutate_bytes(&mut s[k], rng),
        }
        if s.is_empty() {
            break;
        }
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).map_or(60, |s| s.parse().expect("SECONDS"));
    let seed: u64 = args.get(2).map_or(1, |s| s.parse().expect("SEED"));
    let out = PathBuf::from(args.get(3).map_or("fuzz-findings", |s| s.as_str()));
    // Findings are reported by the loop below, not by the default hook.
    std::panic::set_hook(Box::new(|_| {}));
    let corpus = corpus();
    let mut rng = SmallRng::seed_from_u64(seed);
    let start = Instant::now();
    let (mut trials, mut packets, mut refused, mut findings) = (0u64, 0u64, 0u64, 0u32);
    while start.elapsed() < Duration::from_secs(seconds) {
        let stream = mutate_stream(&corpus, &mut rng);
        // One frame at a time: a packet's panic or slowness shows in its own call.
        let mut dec = Decoder::new(DecoderConfig {
            max_frame_delay: 1,
            ..Default::default()
        });
        for (k, p) in stream.iter().enumerate() {
            let t = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| {
                let r = dec.send_packet(p);
                while dec.receive_frame().is_some() {}
                r
            }));
            packets += 1;
            let slow = t.elapsed() > Duration::from_secs(1);
            match result {
                Ok(Ok(())) if !slow => continue,
                Ok(Err(_)) if !slow => {
                    refused += 1;
                    continue;
                }
                _ => {}
            }
            findings += 1;
            let what = if result.is_err() {
                "panic"
            } else {
                "slow packet"
            };
            std::fs::create_dir_all(&out).expect("findings folder");
            for (j, q) in stream[..=k].iter().enumerate() {
                std::fs::write(out.join(format!("finding-{findings}-packet{j}.bin")), q)
                    .expect("write finding");
            }
            eprintln!(
                "finding {findings}: {what} at packet {k} (trial {trials}), written to {}",
                out.display()
            );
            break;
        }
        trials += 1;
    }
    println!(
        "{trials} mutated streams, {packets} packets decoded, {refused} refused with an error, {findings} findings, seed {seed}, {:.0} s",
        start.elapsed().as_secs_f64()
    );
    if findings > 0 {
        std::process::exit(1);
    }
}
