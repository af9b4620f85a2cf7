//! Hostile input: the decoder returns errors and never panics.

use mica::{Decoder, DecoderConfig, EncoderConfig};
use mica_tests::{crop, read_frames, samples_dir};
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn valid_packets() -> Vec<Vec<u8>> {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let cut = crop(&frames[0], 120, 80, 72, 40);
    let mut cfg = EncoderConfig::new(72, 40);
    cfg.qp = 22;
    let mut enc = mica::Encoder::new(cfg).unwrap();
    enc.send_frame(cut.clone()).unwrap();
    enc.send_frame(cut).unwrap();
    enc.flush();
    std::iter::from_fn(|| enc.receive_packet())
        .map(|p| p.data)
        .collect()
}

/// Decodes one packet to the end (its payload's errors may be reported by
/// `flush` when frames decode in parallel).
fn decode(packet: &[u8]) -> Result<(), mica::Error> {
    let mut d = Decoder::new(DecoderConfig::default());
    d.send_packet(packet)?;
    d.flush()
}

#[test]
fn every_truncation_is_refused() {
    let packet = &valid_packets()[0];
    assert!(decode(packet).is_ok());
    for len in 0..packet.len() {
        assert!(
            decode(&packet[..len]).is_err(),
            "truncated to {len} of {} bytes",
            packet.len()
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut packet = valid_packets()[0].clone();
    packet.push(0);
    let err = decode(&packet).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

#[test]
fn bit_flips_never_panic() {
    let packet = &valid_packets()[0];
    let mut rng = SmallRng::seed_from_u64(5);
    let mut refused = 0;
    let trials = 3000;
    for _ in 0..trials {
        let mut p = packet.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..p.len());
            p[i] ^= 1 << rng.gen_range(0..8);
        }
        if decode(&p).is_err() {
            refused += 1;
        }
    }
    // Most corruptions are caught by the exact-length check of the payload.
    assert!(
        refused > trials / 2,
        "only {refused} of {trials} corrupt packets refused"
    );
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = SmallRng::seed_from_u64(9);
    for _ in 0..3000 {
        let len = rng.gen_range(0..200);
        let mut p: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if len > 4 && rng.gen_bool(0.5) {
            // Mostly-valid headers reach deeper into the decoder.
            p[0] = 0x20;
            p[1] = 0;
        }
        let _ = decode(&p);
    }
}

#[test]
fn empty_packet_and_absurd_dimensions() {
    assert!(matches!(
        decode(&[]),
        Err(mica::Error::Bitstream(mica::BitstreamError::EmptyPacket))
    ));
    let mut packet = valid_packets()[0].clone();
    // Sequence header: width_minus1 is bits 24..40 of the packet; make it 65535.
    packet[3] = 0xff;
    packet[4] = 0xff;
    let err = decode(&packet).unwrap_err();
    assert!(
        err.to_string().contains("exceeds the decoder limit"),
        "{err}"
    );
}

/// A stream must start at a random access point: a keyframe carrying the
/// sequence header. A keyframe without one (legal later in an all-intra
/// stream) or an inter frame first is refused, naming the problem.
#[test]
fn stream_not_starting_with_a_sequence_header_is_refused() {
    // An all-intra stream's second keyframe keeps the sequence header in force.
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let mut cfg = EncoderConfig::new(64, 32);
    cfg.gop = mica::GopStructure::IntraOnly;
    cfg.scene_cut = false;
    let mut enc = mica::Encoder::new(cfg).unwrap();
    for x in [100, 140] {
        enc.send_frame(crop(&frames[0], x, 80, 64, 32)).unwrap();
    }
    enc.flush();
    let headerless = std::iter::from_fn(|| enc.receive_packet())
        .find(|p| p.keyframe && !p.random_access)
        .expect("a keyframe without the sequence header");
    let err = decode(&headerless.data).unwrap_err();
    assert!(
        matches!(
            err,
            mica::Error::Bitstream(mica::BitstreamError::MissingSequenceHeader)
        ),
        "{err}"
    );
    assert!(err.to_string().contains("sequence header"), "{err}");
    let mut packet = valid_packets()[0].clone();
    packet[0] = 0x60; // inter frame with a sequence header: never valid
    let err = decode(&packet).unwrap_err();
    assert!(err.to_string().contains("sequence_header_present"), "{err}");
}

/// Corrupt inter packets (after a valid keyframe) give errors or frames, never a panic.
#[test]
fn corrupt_inter_packets_never_panic() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 4);
    for gop in [
        mica::GopStructure::LowDelay,
        mica::GopStructure::RandomAccess,
    ] {
        let mut cfg = EncoderConfig::new(80, 48);
        cfg.qp = 27;
        cfg.gop = gop;
        cfg.gop_size = 2;
        let mut enc = mica::Encoder::new(cfg).unwrap();
        for f in &frames {
            enc.send_frame(crop(f, 320, 160, 80, 48)).unwrap();
        }
        enc.flush();
        let packets: Vec<Vec<u8>> = std::iter::from_fn(|| enc.receive_packet())
            .map(|p| p.data)
            .collect();
        let mut rng = SmallRng::seed_from_u64(77);
        let mut refused = 0;
        for trial in 0..1500 {
            let target = 1 + trial % (packets.len() - 1);
            let mut d = Decoder::new(DecoderConfig::default());
            let mut ok = true;
            for (i, p) in packets.iter().enumerate() {
                let mut p = p.clone();
                if i == target {
                    let j = rng.gen_range(0..p.len());
                    p[j] ^= 1 << rng.gen_range(0..8);
                    if rng.gen_bool(0.3) {
                        p.truncate(rng.gen_range(0..p.len()));
                    }
                }
                ok &= d.send_packet(&p).is_ok();
                while d.receive_frame().is_some() {}
            }
            ok &= d.flush().is_ok();
            while d.receive_frame().is_some() {}
            refused += !ok as usize;
        }
        assert!(
            refused > 500,
            "{gop:?}: only {refused} corrupt streams refused"
        );
    }
}

/// A frame may switch deblocking on only when its sequence header allows it,
/// also when that header came in an earlier packet.
#[test]
fn deblocking_refused_when_the_sequence_in_force_disables_it() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let mut cfg = EncoderConfig::new(64, 32);
    cfg.qp = 32;
    cfg.deblock = false;
    cfg.gop = mica::GopStructure::IntraOnly;
    cfg.scene_cut = false;
    let mut enc = mica::Encoder::new(cfg).unwrap();
    for x in [100, 140] {
        enc.send_frame(crop(&frames[0], x, 80, 64, 32)).unwrap();
    }
    enc.flush();
    let packets: Vec<_> = std::iter::from_fn(|| enc.receive_packet()).collect();
    assert!(packets[0].random_access && !packets[1].random_access);
    // Packet 1 has no sequence header, so its frame header starts at bit 8:
    // frame_number u(32), qp s(7), two s(5), then deblock_enabled at bit 57.
    // Set it and insert zero beta and tc offsets (8 bits: the payload stays
    // byte-aligned).
    let mut bits: Vec<bool> = packets[1]
        .data
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect();
    assert!(!bits[57], "deblock_enabled is 0 as encoded");
    bits[57] = true;
    bits.splice(58..58, [false; 8]);
    let edited: Vec<u8> = bits
        .chunks(8)
        .map(|c| c.iter().fold(0u8, |a, &b| a << 1 | b as u8))
        .collect();
    let mut d = Decoder::new(DecoderConfig::default());
    d.send_packet(&packets[0].data).expect("valid keyframe");
    let err = d.send_packet(&edited).unwrap_err();
    assert!(err.to_string().contains("deblock"), "{err}");
}

/// Packets carrying the adaptive loop filter's syntax (coefficients and
/// superblock flags at the end of the payload): every truncation is
/// refused and bit flips never panic.
#[test]
fn adaptive_loop_filter_packets_never_panic() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let mut cfg = EncoderConfig::new(128, 64);
    cfg.qp = 37;
    cfg.alf = true;
    cfg.gop = mica::GopStructure::IntraOnly;
    let mut enc = mica::Encoder::new(cfg).unwrap();
    enc.send_frame(crop(&frames[0], 120, 80, 128, 64)).unwrap();
    enc.flush();
    let packet = enc.receive_packet().unwrap().data;
    assert!(decode(&packet).is_ok());
    for len in 0..packet.len() {
        assert!(decode(&packet[..len]).is_err(), "truncated to {len}");
    }
    let mut rng = SmallRng::seed_from_u64(28);
    for _ in 0..2000 {
        let mut p = packet.clone();
        // Mostly the payload's last bytes, where the filter's syntax lies.
        let from = if rng.gen_bool(0.7) { p.len() - 12 } else { 0 };
        let i = rng.gen_range(from..p.len());
        p[i] ^= 1 << rng.gen_range(0..8);
        let _ = decode(&p);
    }
}

/// A stream with cross-component chroma prediction (and binary and
/// ternary splits) survives random bit flips, in its header (the tool
/// flags of LM and the splits among them) and its payload, without a panic.
#[test]
fn cclm_stream_bit_flips_never_panic() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let cut = crop(&frames[0], 120, 80, 72, 40);
    let mut cfg = EncoderConfig::new(72, 40);
    cfg.qp = 27;
    cfg.cclm = true;
    cfg.multi_type_tree = true;
    cfg.ternary_splits = true;
    cfg.gop = mica::GopStructure::IntraOnly;
    let mut enc = mica::Encoder::new(cfg).unwrap();
    enc.send_frame(cut).unwrap();
    enc.flush();
    let packet = enc.receive_packet().unwrap().data;
    assert!(decode(&packet).is_ok());
    let mut rng = SmallRng::seed_from_u64(28);
    for _ in 0..2000 {
        let mut p = packet.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..p.len());
            p[i] ^= 1 << rng.gen_range(0..8);
        }
        let _ = decode(&p);
    }
}
