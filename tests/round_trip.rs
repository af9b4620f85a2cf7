//! Decoder output equals encoder reconstruction on real material.

use mica::CpuLevel;
use mica::EncoderConfig;
use mica_tests::{assert_round_trip, crop, read_frames, samples_dir, shared_media};

/// The stream's bytes (every packet) for `frames` coded with `cfg`.
fn stream(cfg: &EncoderConfig, frames: &[mica::Frame]) -> Vec<u8> {
    let mut enc = mica::Encoder::new(cfg.clone()).expect("config");
    for f in frames {
        enc.send_frame(f.clone()).expect("frame");
    }
    enc.flush();
    std::iter::from_fn(|| enc.receive_packet())
        .flat_map(|p| p.data)
        .collect()
}

fn config(w: usize, h: usize, qp: u8) -> EncoderConfig {
    let mut c = EncoderConfig::new(w, h);
    c.qp = qp as i8;
    c.threads = 2;
    c
}

#[test]
fn city_cut_at_four_qps() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 2);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 200, 100, 192, 128)).collect();
    let mut last = usize::MAX;
    for qp in [22, 27, 32, 37] {
        let bytes = assert_round_trip(&config(192, 128, qp), &cuts);
        assert!(bytes < last, "higher QP must not cost more bits");
        last = bytes;
    }
}

#[test]
fn still_at_extreme_qps() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let cut = crop(&frames[0], 100, 60, 160, 96);
    for qp in [0, 12, 51] {
        assert_round_trip(&config(160, 96, qp), std::slice::from_ref(&cut));
    }
}

#[test]
fn odd_dimensions() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    for (w, h) in [(133, 77), (1, 1), (9, 17), (65, 3)] {
        let cut = crop(&frames[0], 0, 0, w, h);
        assert_round_trip(&config(w, h, 30), &[cut]);
    }
}

#[test]
fn tools_off_and_scalar_path() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let cut = crop(&frames[0], 200, 100, 96, 64);
    for level in CpuLevel::all_supported() {
        let mut c = config(96, 64, 27);
        c.cpu = Some(level);
        c.deblock = false;
        c.rdoq = false;
        assert_round_trip(&c, std::slice::from_ref(&cut));
    }
}

/// Contexts from the trained tables (the default) and from one half both
/// decode exactly, in KEY and INTER frames and in every QP class; the tables
/// save bits on real material.
#[test]
fn context_initialisation_trained_and_uniform() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 200, 100, 192, 128)).collect();
    let (mut trained, mut uniform) = (0, 0);
    for qp in [17, 27, 32, 37, 44] {
        let mut c = config(192, 128, qp);
        trained += assert_round_trip(&c, &cuts);
        c.trained_contexts = false;
        uniform += assert_round_trip(&c, &cuts);
    }
    assert!(
        trained < uniform,
        "trained tables {trained} bytes, uniform {uniform}"
    );
}

/// The learned intra mode (default model) wins blocks on real material and
/// decodes exactly; switched off, it is never used.
#[test]
fn learned_intra_mode_used_and_exact() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let cut = crop(&frames[0], 96, 64, 192, 128);
    for (nn_intra, qp) in [(true, 27), (true, 37), (false, 32)] {
        let mut c = config(192, 128, qp);
        c.nn_intra = nn_intra;
        c.gop = mica::GopStructure::IntraOnly;
        assert_round_trip(&c, std::slice::from_ref(&cut));
        let mut enc = mica::Encoder::new(c).expect("config");
        enc.send_frame(cut.clone()).expect("frame");
        enc.flush();
        let p = enc.receive_packet().expect("packet");
        let learned: u32 = p.intra_modes.learned.iter().sum();
        let blocks: u32 = p.intra_modes.blocks.iter().sum();
        assert!(blocks > 0);
        if nn_intra {
            assert!(
                learned > 0,
                "QP {qp}: the learned mode won no block of {blocks}"
            );
        } else {
            assert_eq!(learned, 0);
        }
    }
}

/// Implicit transform selection (`tool_flags` bit 6: DST-VII along intra luma sides of 4
/// to 16) decodes exactly in intra and inter frames, at both depths and every CPU level,
/// with the learned intra mode (which it leaves out) on and off; and it changes the
/// keyframe's reconstruction.
#[test]
fn implicit_transform_selection_exact() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 200, 100, 128, 96)).collect();
    let keyframe_recon = |c: &EncoderConfig| {
        let mut enc = mica::Encoder::new(c.clone()).expect("config");
        enc.send_frame(cuts[0].clone()).expect("frame");
        enc.flush();
        enc.receive_packet().expect("packet").recon
    };
    for (depth, nn_intra, qp) in [(8, false, 27), (8, true, 32), (10, false, 37)] {
        for level in CpuLevel::all_supported() {
            let mut c = config(128, 96, qp);
            c.bit_depth = depth;
            c.nn_intra = nn_intra;
            c.cpu = Some(level);
            c.implicit_mts = true;
            assert_round_trip(&c, &cuts);
            let on = keyframe_recon(&c);
            c.implicit_mts = false;
            assert!(
                keyframe_recon(&c) != on,
                "{depth} bits, QP {qp}: the tool changed nothing"
            );
        }
    }
}

/// Thread count and CPU level never change the bitstream.
#[test]
fn output_independent_of_threads_and_cpu_level() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 0, 0, 128, 96)).collect();
    let encode = |threads: usize, cpu: CpuLevel| {
        let mut c = config(128, 96, 32);
        c.threads = threads;
        c.cpu = Some(cpu);
        let mut enc = mica::Encoder::new(c).unwrap();
        let mut out = Vec::new();
        for f in &cuts {
            enc.send_frame(f.clone()).unwrap();
        }
        enc.flush();
        while let Some(p) = enc.receive_packet() {
            out.extend_from_slice(&p.data);
        }
        out
    };
    let reference = encode(1, CpuLevel::Scalar);
    for level in CpuLevel::all_supported() {
        for threads in [1, 2, 3] {
            assert!(
                encode(threads, level) == reference,
                "threads {threads} level {level:?}"
            );
        }
    }
}

/// The first frames of every clip and every still in ../shared/media (when
/// present), cut to a corner region to keep the test fast.
#[test]
fn shared_media_cuts() {
    let Some(dir) = shared_media() else {
        eprintln!("../shared/media not found: skipped");
        return;
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "y4m"))
        .collect();
    names.sort();
    assert!(names.len() >= 8);
    for path in names {
        let frames = read_frames(&path, 2);
        let cuts: Vec<_> = frames.iter().map(|f| crop(f, 64, 64, 136, 88)).collect();
        assert_round_trip(&config(136, 88, 27), &cuts);
    }
}

/// Every GOP structure and preset on a moving real clip cut.
#[test]
fn inter_structures_and_presets() {
    use mica::{GopStructure, Preset};
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 6);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 300, 120, 136, 72)).collect();
    for gop in [GopStructure::RandomAccess, GopStructure::LowDelay] {
        for preset in [Preset::Fast, Preset::Medium, Preset::Slow] {
            let mut c = config(136, 72, 32);
            c.gop = gop;
            c.preset = preset;
            c.gop_size = 4;
            assert_round_trip(&c, &cuts);
        }
    }
}

/// A cut to unrelated content starts a new keyframe, in both GOP structures.
#[test]
fn scene_cut_inserts_keyframe() {
    use mica::GopStructure;
    let city = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let still = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let mut frames: Vec<_> = city.iter().map(|f| crop(f, 100, 100, 96, 64)).collect();
    for dx in [0, 2, 4] {
        frames.push(crop(&still[0], 150 + dx, 100, 96, 64));
    }
    for gop in [GopStructure::RandomAccess, GopStructure::LowDelay] {
        let mut c = config(96, 64, 32);
        c.gop = gop;
        let mut enc = mica::Encoder::new(c.clone()).unwrap();
        for f in &frames {
            enc.send_frame(f.clone()).unwrap();
        }
        enc.flush();
        let keys: Vec<u32> = std::iter::from_fn(|| enc.receive_packet())
            .filter(|p| p.keyframe)
            .map(|p| p.frame_number)
            .collect();
        assert_eq!(keys, [0, 3], "{gop:?}");
        assert_round_trip(&c, &frames);
        // Without detection only the first frame is a keyframe.
        c.scene_cut = false;
        let mut enc = mica::Encoder::new(c).unwrap();
        for f in &frames {
            enc.send_frame(f.clone()).unwrap();
        }
        enc.flush();
        assert_eq!(
            std::iter::from_fn(|| enc.receive_packet())
                .filter(|p| p.keyframe)
                .count(),
            1
        );
    }
}

/// Low delay too: the bitstream does not depend on the thread count.
#[test]
fn low_delay_independent_of_threads() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 5);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 64, 0, 128, 64)).collect();
    let encode = |threads: usize, gop: mica::GopStructure| {
        let mut c = config(128, 64, 30);
        c.threads = threads;
        c.gop = gop;
        c.keyint = 3;
        let mut enc = mica::Encoder::new(c).unwrap();
        for f in &cuts {
            enc.send_frame(f.clone()).unwrap();
        }
        enc.flush();
        std::iter::from_fn(|| enc.receive_packet())
            .flat_map(|p| p.data)
            .collect::<Vec<u8>>()
    };
    for gop in [
        mica::GopStructure::LowDelay,
        mica::GopStructure::RandomAccess,
    ] {
        assert!(encode(1, gop) == encode(2, gop), "{gop:?}");
    }
}

/// All intra, every frame is a keyframe but only every `keyint`-th carries
/// the sequence header (a random access point): the others are the same
/// packets without it, the stream decodes exactly, decoding can start at
/// any random access point and cannot start anywhere else.
#[test]
fn all_intra_sequence_header_every_keyint() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 6);
    let mut cuts: Vec<_> = frames.iter().map(|f| crop(f, 300, 100, 64, 48)).collect();
    cuts.push(crop(&frames[0], 340, 120, 64, 48));
    let encode = |keyint: usize| {
        let mut c = config(64, 48, 32);
        c.gop = mica::GopStructure::IntraOnly;
        c.keyint = keyint;
        c.scene_cut = false;
        let mut enc = mica::Encoder::new(c.clone()).unwrap();
        for f in &cuts {
            enc.send_frame(f.clone()).unwrap();
        }
        enc.flush();
        let packets: Vec<_> = std::iter::from_fn(|| enc.receive_packet()).collect();
        (c, packets)
    };
    let (c, packets) = encode(3);
    assert_round_trip(&c, &cuts);
    let (_, every) = encode(1);
    let access: Vec<bool> = packets.iter().map(|p| p.random_access).collect();
    assert_eq!(access, [true, false, false, true, false, false, true]);
    let header_bytes = every[1].data.len() - packets[1].data.len();
    assert!(
        header_bytes > 20,
        "the sequence header is {header_bytes} bytes"
    );
    for (p, q) in packets.iter().zip(&every) {
        assert!(p.keyframe && q.keyframe && q.random_access);
        // Bit 5 of the first byte is sequence_header_present (docs/bitstream.md 2).
        assert_eq!(p.data[0] >> 5 & 1 == 1, p.random_access);
        if p.random_access {
            assert_eq!(p.data, q.data);
        } else {
            assert_eq!(q.data.len() - p.data.len(), header_bytes);
            assert_eq!(
                p.data[1..],
                q.data[1 + header_bytes..],
                "same frame header and payload"
            );
        }
    }
    let decode_from = |start: usize| -> Result<Vec<(u32, mica::Frame)>, mica::Error> {
        let mut dec = mica::Decoder::new(Default::default());
        let mut out = Vec::new();
        for p in &packets[start..] {
            dec.send_packet(&p.data)?;
            while let Some(d) = dec.receive_frame() {
                out.push((d.frame_number, d.frame));
            }
        }
        dec.flush().unwrap();
        while let Some(d) = dec.receive_frame() {
            out.push((d.frame_number, d.frame));
        }
        Ok(out)
    };
    let from3 = decode_from(3).expect("a random access point");
    assert_eq!(from3.len(), 4);
    for (n, f) in &from3 {
        let r = &packets[*n as usize].recon;
        assert!(
            (0..3).all(|i| f.planes[i].data == r.planes[i].data),
            "frame {n}"
        );
    }
    let err = decode_from(1).unwrap_err();
    assert!(
        matches!(
            err,
            mica::Error::Bitstream(mica::BitstreamError::MissingSequenceHeader)
        ),
        "{err}"
    );
}

/// A keyframe that nothing predicts from (a one-frame stream, or one
/// followed by another random access point) is coded exactly as all-intra
/// coding codes it; one that anchors predicted frames gets the smaller
/// lambda of an anchor. Random access holds its keyframe until it knows
/// which (and, with the temporal filter, until the filter's four future
/// neighbours are in); low delay codes every frame as it comes.
#[test]
fn lone_keyframe_coded_as_all_intra() {
    let frames = read_frames(&samples_dir().join("still_chelsea_448x296.y4m"), 1);
    let still = crop(&frames[0], 100, 60, 192, 128);
    let encode_with = |gop: mica::GopStructure, keyint: usize, count: usize, filter: bool| {
        let mut c = config(192, 128, 32);
        c.gop = gop;
        c.keyint = keyint;
        c.temporal_filter = filter;
        let mut enc = mica::Encoder::new(c).unwrap();
        let (mut early, mut packets) = (Vec::new(), Vec::new());
        for _ in 0..count {
            enc.send_frame(still.clone()).unwrap();
            let before = packets.len();
            packets.extend(std::iter::from_fn(|| enc.receive_packet()));
            early.push(packets.len() > before);
        }
        enc.flush();
        packets.extend(std::iter::from_fn(|| enc.receive_packet()));
        (early, packets)
    };
    let encode = |gop, keyint, count| encode_with(gop, keyint, count, false);
    let (_, intra) = encode(mica::GopStructure::IntraOnly, 0, 1);
    let (early, lone) = encode(mica::GopStructure::RandomAccess, 0, 1);
    assert_eq!(early, [false], "random access waits for the next frame");
    assert_eq!(lone[0].data, intra[0].data);
    // Every frame a random access point: none is predicted from (the
    // packets differ from all intra's only in header fields).
    let (_, keys) = encode(mica::GopStructure::RandomAccess, 1, 2);
    let same_coding = |p: &mica::Packet, q: &mica::Packet| {
        p.data.len() == q.data.len() && p.recon.planes == q.recon.planes
    };
    assert!(keys.iter().all(|p| p.keyframe && same_coding(p, &intra[0])));
    // An anchor of a predicted frame is coded differently.
    let (early, anchored) = encode(mica::GopStructure::RandomAccess, 0, 2);
    assert_eq!(
        early,
        [false, true],
        "the keyframe goes once the next frame is in"
    );
    assert!(anchored[0].keyframe && !same_coding(&anchored[0], &intra[0]));
    let (early, _) = encode_with(mica::GopStructure::RandomAccess, 0, 6, true);
    assert_eq!(
        early,
        [false, false, false, false, true, false],
        "with the temporal filter the keyframe goes once four more frames are in"
    );
    let (early, low_delay) = encode(mica::GopStructure::LowDelay, 0, 1);
    assert_eq!(early, [true], "low delay codes the keyframe at once");
    assert!(!same_coding(&low_delay[0], &intra[0]));
}

/// The adaptive loop filter (`tool_flags` bit 7) decodes exactly after the
/// learned filter and without it, at 8 and 10 bits, in key and inter
/// frames; it changes the stream (so it is used) and the stream does not
/// depend on the CPU level.
#[test]
fn adaptive_loop_filter_exact() {
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 200, 100, 192, 128)).collect();
    for (qp, nn_filter, depth) in [(27, true, 8), (37, true, 10), (32, false, 8)] {
        let mut c = config(192, 128, qp);
        c.nn_filter = nn_filter;
        c.bit_depth = depth;
        c.gop_size = 2;
        c.alf = false;
        let off = assert_round_trip(&c, &cuts);
        c.alf = true;
        let mut streams = Vec::new();
        for level in CpuLevel::all_supported() {
            c.cpu = Some(level);
            let on = assert_round_trip(&c, &cuts);
            assert_ne!(on, off, "QP {qp}: the filter was never used");
            let mut enc = mica::Encoder::new(c.clone()).expect("config");
            for f in &cuts {
                enc.send_frame(f.clone()).expect("frame");
            }
            enc.flush();
            let bytes: Vec<u8> = std::iter::from_fn(|| enc.receive_packet())
                .flat_map(|p| p.data)
                .collect();
            streams.push(bytes);
        }
        assert!(streams.windows(2).all(|w| w[0] == w[1]), "QP {qp}");
    }
}

/// Cross-component chroma prediction (the chroma mode LM, `tool_flags`
/// bit 8) decodes exactly: intra and inter frames, with and without the
/// multi-type tree, at 8 and 10 bits.
#[test]
fn cclm_exact_in_intra_and_inter_frames() {
    use mica::GopStructure;
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 200, 100, 128, 96)).collect();
    for (mtt, bit_depth, qp) in [(false, 8, 27), (true, 8, 37), (true, 10, 32)] {
        let mut c = config(128, 96, qp);
        c.gop = GopStructure::RandomAccess;
        c.gop_size = 2;
        c.bit_depth = bit_depth;
        c.multi_type_tree = mtt;
        // The other chroma-relevant tools off, so LM's effect shows in the
        // byte count (with them on, counts can tie).
        c.alf = false;
        c.implicit_mts = false;
        c.cclm = false;
        let off = assert_round_trip(&c, &cuts);
        c.cclm = true;
        let on = assert_round_trip(&c, &cuts);
        assert_ne!(on, off, "mtt {mtt}, {bit_depth} bits: LM changed nothing");
    }
}

/// Ternary splits (`tool_flags` bit 9) decode exactly in intra and inter
/// frames, at 8 and 10 bits, and change the stream.
#[test]
fn ternary_splits_exact_in_intra_and_inter_frames() {
    use mica::GopStructure;
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 3);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 136, 72, 192, 128)).collect();
    for (bit_depth, qp) in [(8, 27), (10, 22)] {
        let mut c = config(192, 128, qp);
        c.gop = GopStructure::RandomAccess;
        c.gop_size = 2;
        c.bit_depth = bit_depth;
        c.ternary_splits = false;
        let off = assert_round_trip(&c, &cuts);
        c.ternary_splits = true;
        let on = assert_round_trip(&c, &cuts);
        assert_ne!(on, off, "{bit_depth} bits: ternary splits changed nothing");
    }
}

/// Decoder-side motion vector refinement and optical flow
/// (`inter_tool_flags` bits 0 and 1) decode exactly alone and together, at
/// every CPU level, at 8 and 10 bits, and each changes the stream (groups of
/// 4 give B frames between equally distant references).
#[test]
fn dmvr_and_bdof_exact_and_used() {
    use mica::GopStructure;
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 5);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 136, 72, 192, 128)).collect();
    for (bit_depth, qp, gop_size) in [(8, 32, 4), (10, 27, 4)] {
        let mut c = config(192, 128, qp);
        c.gop = GopStructure::RandomAccess;
        c.gop_size = gop_size;
        c.bit_depth = bit_depth;
        let mut streams = Vec::new();
        for (dmvr, bdof) in [(false, false), (true, false), (false, true), (true, true)] {
            c.dmvr = dmvr;
            c.bdof = bdof;
            let mut per_level = Vec::new();
            for level in CpuLevel::all_supported() {
                c.cpu = Some(level);
                assert_round_trip(&c, &cuts);
                per_level.push(stream(&c, &cuts));
            }
            assert!(per_level.windows(2).all(|w| w[0] == w[1]), "{dmvr} {bdof}");
            streams.push(per_level.swap_remove(0));
        }
        // Byte counts can tie: the streams themselves must differ.
        for i in 0..streams.len() {
            for j in 0..i {
                assert_ne!(
                    streams[i], streams[j],
                    "{bit_depth} bits: tool sets {j} and {i} coded alike"
                );
            }
        }
    }
}

/// History and pairwise-average merge candidates (`inter_tool_flags` bit 2)
/// decode exactly in random access and low delay, with multi-type and
/// ternary splits (the encoder's search restores the history per choice),
/// and change the stream.
#[test]
fn history_merge_exact_and_used() {
    use mica::{GopStructure, Preset};
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 5);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 136, 72, 256, 192)).collect();
    for (gop, preset, qp) in [
        (GopStructure::RandomAccess, Preset::Medium, 32),
        (GopStructure::LowDelay, Preset::Slow, 27),
    ] {
        let mut c = config(256, 192, qp);
        c.gop = gop;
        c.gop_size = 4;
        c.preset = preset;
        c.history_merge = false;
        assert_round_trip(&c, &cuts);
        let off = stream(&c, &cuts);
        c.history_merge = true;
        assert_round_trip(&c, &cuts);
        let on = stream(&c, &cuts);
        assert_ne!(on, off, "{gop:?}: history candidates changed nothing");
    }
}

/// Merge with motion vector differences (`inter_tool_flags` bit 3) decodes
/// exactly in random access and low delay, at every preset's search depth,
/// and changes the stream.
#[test]
fn mmvd_exact_and_used() {
    use mica::{GopStructure, Preset};
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 5);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 136, 72, 256, 192)).collect();
    for (gop, preset, qp, bit_depth) in [
        (GopStructure::RandomAccess, Preset::Medium, 32, 8),
        (GopStructure::LowDelay, Preset::Fast, 27, 8),
        (GopStructure::RandomAccess, Preset::Slow, 37, 10),
    ] {
        let mut c = config(256, 192, qp);
        c.gop = gop;
        c.gop_size = 4;
        c.preset = preset;
        c.bit_depth = bit_depth;
        c.mmvd = false;
        assert_round_trip(&c, &cuts);
        let off = stream(&c, &cuts);
        c.mmvd = true;
        assert_round_trip(&c, &cuts);
        let on = stream(&c, &cuts);
        assert_ne!(on, off, "{gop:?} {preset:?}: merge offsets changed nothing");
    }
}

/// Adaptive motion vector resolution (`inter_tool_flags` bit 4) decodes
/// exactly in random access and low delay, at 8 and 10 bits, and changes
/// the stream.
#[test]
fn amvr_exact_and_used() {
    use mica::{GopStructure, Preset};
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 5);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 136, 72, 256, 192)).collect();
    for (gop, preset, qp, bit_depth) in [
        (GopStructure::RandomAccess, Preset::Medium, 27, 8),
        (GopStructure::LowDelay, Preset::Slow, 32, 10),
    ] {
        let mut c = config(256, 192, qp);
        c.gop = gop;
        c.gop_size = 4;
        c.preset = preset;
        c.bit_depth = bit_depth;
        c.amvr = false;
        assert_round_trip(&c, &cuts);
        let off = stream(&c, &cuts);
        c.amvr = true;
        assert_round_trip(&c, &cuts);
        let on = stream(&c, &cuts);
        assert_ne!(
            on, off,
            "{gop:?} {preset:?}: vector resolution changed nothing"
        );
    }
}

/// The packets of a stream after its first (the keyframe, which carries the
/// sequence header and so the tool flags).
fn packets_after_first(cfg: &EncoderConfig, frames: &[mica::Frame]) -> Vec<Vec<u8>> {
    let mut enc = mica::Encoder::new(cfg.clone()).expect("config");
    for f in frames {
        enc.send_frame(f.clone()).expect("frame");
    }
    enc.flush();
    std::iter::from_fn(|| enc.receive_packet())
        .skip(1)
        .map(|p| p.data)
        .collect()
}

/// Symmetric vector differences decode exactly in random access at 8 and 10
/// bits and at the slow preset, and change the inter frames there; in low
/// delay (no picture after the current one, so no symmetric pair) the inter
/// frames code exactly as without the tool.
#[test]
fn smvd_exact_used_in_random_access_only() {
    use mica::{GopStructure, Preset};
    let frames = read_frames(&samples_dir().join("city_720x400_6f.y4m"), 5);
    let cuts: Vec<_> = frames.iter().map(|f| crop(f, 136, 72, 256, 192)).collect();
    for (gop, preset, qp, bit_depth) in [
        (GopStructure::RandomAccess, Preset::Medium, 27, 8),
        (GopStructure::RandomAccess, Preset::Slow, 32, 10),
        (GopStructure::LowDelay, Preset::Medium, 27, 8),
    ] {
        let mut c = config(256, 192, qp);
        c.gop = gop;
        c.gop_size = 4;
        c.preset = preset;
        c.bit_depth = bit_depth;
        c.smvd = false;
        assert_round_trip(&c, &cuts);
        let off = packets_after_first(&c, &cuts);
        c.smvd = true;
        assert_round_trip(&c, &cuts);
        let on = packets_after_first(&c, &cuts);
        if gop == GopStructure::LowDelay {
            assert_eq!(on, off, "low delay has no symmetric pair");
        } else {
            assert_ne!(on, off, "{preset:?}: symmetric differences changed nothing");
        }
    }
}
