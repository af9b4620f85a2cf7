//! High bit depth through the public API: 10-bit video and 8-bit video coded at
//! 10 bits decode to the encoder's reconstruction at every GOP structure and
//! kernel level; colour and HDR metadata travel from the configuration to the
//! decoder; bad depths, samples and metadata are refused.

use mica::{
    ColourDescription, ConfigError, ContentLight, CpuLevel, Decoder, DecoderConfig, Encoder,
    EncoderConfig, Error, Frame, GopStructure, MasteringDisplay, Packet,
};

/// A moving, textured test sequence at `bit_depth` bits, using the whole range.
fn frames(w: usize, h: usize, n: usize, bit_depth: u8) -> Vec<Frame> {
    let max = (1u32 << bit_depth) - 1;
    (0..n)
        .map(|t| {
            let mut f = Frame::new_420_at(w, h, bit_depth);
            for (p, plane) in f.planes.iter_mut().enumerate() {
                let pw = plane.width;
                for (i, v) in plane.data.iter_mut().enumerate() {
                    let (x, y) = ((i % pw) as f64, (i / pw) as f64);
                    let s = ((x + 2.0 * t as f64) * 0.21).sin() * ((y - t as f64) * 0.13).cos();
                    let noise = ((i * 7919 + t * 104729 + p * 31) % 97) as f64 / 97.0 - 0.5;
                    let level = 0.5 + 0.45 * s + 0.04 * noise;
                    *v = (level.clamp(0.0, 1.0) * max as f64).round() as u16;
                }
            }
            f
        })
        .collect()
}

fn encode(cfg: EncoderConfig, input: &[Frame]) -> Vec<Packet> {
    let mut enc = Encoder::new(cfg).expect("valid config");
    let mut out = Vec::new();
    for f in input {
        enc.send_frame(f.clone()).expect("frame accepted");
        while let Some(p) = enc.receive_packet() {
            out.push(p);
        }
    }
    enc.flush();
    while let Some(p) = enc.receive_packet() {
        out.push(p);
    }
    out
}

fn decode(packets: &[Packet], config: DecoderConfig) -> (Decoder, Vec<Frame>) {
    let mut dec = Decoder::new(config);
    let mut out = Vec::new();
    for p in packets {
        dec.send_packet(&p.data).expect("decodes");
        while let Some(f) = dec.receive_frame() {
            out.push(f.frame);
        }
    }
    dec.flush().unwrap();
    while let Some(f) = dec.receive_frame() {
        out.push(f.frame);
    }
    (dec, out)
}

/// The reconstructions in display order.
fn recons(packets: &[Packet]) -> Vec<Frame> {
    let mut by_number: Vec<&Packet> = packets.iter().collect();
    by_number.sort_by_key(|p| p.frame_number);
    by_number.iter().map(|p| p.recon.clone()).collect()
}

fn config(w: usize, h: usize, bit_depth: u8, input_bit_depth: u8) -> EncoderConfig {
    let mut cfg = EncoderConfig::new(w, h);
    cfg.bit_depth = bit_depth;
    cfg.input_bit_depth = input_bit_depth;
    cfg.threads = 2;
    cfg
}

#[test]
fn ten_bit_video_decodes_to_the_reconstruction() {
    let (w, h) = (72, 40);
    let input = frames(w, h, 5, 10);
    for gop in [
        GopStructure::RandomAccess,
        GopStructure::LowDelay,
        GopStructure::IntraOnly,
    ] {
        for cpu in CpuLevel::all_supported() {
            for qp in [-12, 22, 37] {
                let mut cfg = config(w, h, 10, 10);
                cfg.gop = gop;
                cfg.gop_size = 4;
                cfg.qp = qp;
                cfg.cpu = Some(cpu);
                let packets = encode(cfg, &input);
                let want = recons(&packets);
                assert!(want.iter().all(|f| f.bit_depth == 10));
                assert!(
                    want.iter()
                        .flat_map(|f| &f.planes)
                        .flat_map(|p| &p.data)
                        .any(|&v| v > 255),
                    "10-bit reconstruction uses the range above 8 bits"
                );
                let (_, got) = decode(
                    &packets,
                    DecoderConfig {
                        cpu: Some(cpu),
                        ..Default::default()
                    },
                );
                assert!(got == want, "{gop:?} {cpu:?} QP {qp}: decoder differs");
                // QP -12 at 10 bits is close to lossless.
                if qp == -12 {
                    let err = input
                        .iter()
                        .zip(&got)
                        .flat_map(|(a, b)| a.planes.iter().zip(&b.planes))
                        .flat_map(|(a, b)| a.data.iter().zip(&b.data))
                        .map(|(&a, &b)| a.abs_diff(b) as u64)
                        .max()
                        .unwrap();
                    assert!(err <= 8, "QP -12 error {err}");
                }
            }
        }
    }
}

#[test]
fn eight_bit_video_coded_at_ten_bits_comes_back_at_eight() {
    let (w, h) = (64, 48);
    let input = frames(w, h, 4, 8);
    let packets = encode(config(w, h, 10, 8), &input);
    let recon = recons(&packets);
    assert!(recon.iter().all(|f| f.bit_depth == 10));
    let (dec, at_stream_depth) = decode(&packets, DecoderConfig::default());
    assert_eq!(at_stream_depth, recon);
    let seq = dec.sequence_header().expect("sequence header");
    assert_eq!((seq.bit_depth, seq.source_bit_depth), (10, 8));
    let (_, at_source_depth) = decode(
        &packets,
        DecoderConfig {
            output_source_depth: true,
            ..Default::default()
        },
    );
    let want: Vec<Frame> = recon.into_iter().map(|f| f.with_bit_depth(8)).collect();
    assert_eq!(at_source_depth, want);
    assert!(at_source_depth.iter().all(|f| f.bit_depth == 8));
}

#[test]
fn colour_and_hdr_metadata_reach_the_decoder() {
    let (w, h) = (32, 32);
    let mut cfg = config(w, h, 10, 10);
    cfg.video_info.colour = Some(ColourDescription {
        primaries: 9,
        transfer: 16,
        matrix: 9,
    });
    cfg.video_info.mastering_display = Some(MasteringDisplay {
        primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
        white_point: [15635, 16450],
        max_luminance: 10_000_000,
        min_luminance: 50,
    });
    cfg.video_info.content_light = Some(ContentLight {
        max_cll: 1000,
        max_fall: 400,
    });
    cfg.video_info.color_range = 1;
    let info = cfg.video_info;
    let packets = encode(cfg, &frames(w, h, 2, 10));
    let (dec, _) = decode(&packets, DecoderConfig::default());
    assert_eq!(dec.sequence_header().expect("header").video_info, info);
}

#[test]
fn bad_depths_samples_and_metadata_are_refused() {
    let mut cfg = config(16, 16, 12, 8);
    assert!(matches!(
        Encoder::new(cfg.clone()).err(),
        Some(Error::Config(ConfigError::BitDepth {
            what: "coded",
            depth: 12
        }))
    ));
    cfg.bit_depth = 8;
    cfg.input_bit_depth = 16;
    assert!(matches!(
        Encoder::new(cfg.clone()).err(),
        Some(Error::Config(ConfigError::BitDepth { what: "input", .. }))
    ));
    // QP -1 exists at 10 bits only.
    cfg.input_bit_depth = 8;
    cfg.qp = -1;
    let err = Encoder::new(cfg.clone()).err().expect("refused");
    assert_eq!(
        err.to_string(),
        "invalid setting: QP -1 is out of range: valid QPs at 8 bits are 0..=51"
    );
    cfg.bit_depth = 10;
    assert!(Encoder::new(cfg.clone()).is_ok());
    cfg.qp = -13;
    assert!(Encoder::new(cfg.clone()).is_err());
    cfg.qp = 30;
    // A frame above its declared depth, and a frame at another depth.
    let mut enc = Encoder::new(cfg.clone()).expect("valid");
    let mut f = Frame::new_420(16, 16);
    f.planes[2].data[5] = 256;
    let err = enc.send_frame(f).expect_err("sample above 8 bits");
    assert!(
        err.to_string().contains("sample 5 of plane 2 is 256"),
        "{err}"
    );
    let err = enc
        .send_frame(Frame::new_420_at(16, 16, 10))
        .expect_err("10-bit frame into an 8-bit input");
    assert!(err.to_string().contains("10-bit samples"), "{err}");
    // Mastering display values that describe no display.
    let good = MasteringDisplay {
        primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
        white_point: [15635, 16450],
        max_luminance: 10_000_000,
        min_luminance: 50,
    };
    for bad in [
        MasteringDisplay {
            white_point: [50001, 16450],
            ..good
        },
        MasteringDisplay {
            min_luminance: 10_000_000,
            ..good
        },
        MasteringDisplay {
            max_luminance: 0,
            min_luminance: 0,
            ..good
        },
    ] {
        cfg.video_info.mastering_display = Some(bad);
        assert!(matches!(
            Encoder::new(cfg.clone()).err(),
            Some(Error::Config(ConfigError::MasteringDisplay(_)))
        ));
    }
}

/// A QP below 0 exists at 10 bits only: the same keyframe relabelled 8-bit
/// (bit_depth_minus8, bits 16..20 of the packet, set to 0) is refused by name.
#[test]
fn negative_qp_in_an_eight_bit_stream_is_refused() {
    let mut cfg = config(32, 16, 10, 10);
    cfg.qp = -6;
    cfg.gop = GopStructure::IntraOnly;
    let packets = encode(cfg, &frames(32, 16, 1, 10));
    let mut data = packets[0].data.clone();
    assert!(Decoder::new(DecoderConfig::default())
        .send_packet(&data)
        .is_ok());
    assert_eq!(data[2] >> 4, 2, "bit_depth_minus8 where expected");
    data[2] &= 0x0f;
    let err = Decoder::new(DecoderConfig::default())
        .send_packet(&data)
        .expect_err("QP -6 at 8 bits");
    assert!(err.to_string().contains("qp = -6"), "{err}");
}
