//! The C API called as C calls it: a round trip checked against the Rust
//! library's own reconstruction, and bad input of every kind giving a status
//! and a message, never a crash.

use std::ffi::{c_void, CStr, CString};
use std::ptr::{null, null_mut};

use mica::{Encoder, EncoderConfig, Frame};
use mica_capi::*;

fn message() -> String {
    // SAFETY: mica_error_message gives a NUL-terminated string valid until
    // the next failing call on this thread.
    unsafe { CStr::from_ptr(mica_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn set(s: *mut MicaSettings, key: &str, value: &str) -> MicaStatus {
    let (k, v) = (CString::new(key).unwrap(), CString::new(value).unwrap());
    // SAFETY: a live settings object and two C strings.
    unsafe { mica_settings_set(s, k.as_ptr(), v.as_ptr()) }
}

fn settings(pairs: &[(&str, &str)]) -> *mut MicaSettings {
    let s = mica_settings_new();
    for (k, v) in pairs {
        assert_eq!(set(s, k, v), MicaStatus::MicaOk, "{k}={v}: {}", message());
    }
    s
}

fn new_encoder(pairs: &[(&str, &str)]) -> Result<*mut MicaEncoder, (MicaStatus, String)> {
    let s = settings(pairs);
    // Not null: a failed call must set it to null (nothing to free).
    let mut e: *mut MicaEncoder = std::ptr::NonNull::dangling().as_ptr();
    // SAFETY: live settings, a writable out pointer.
    let status = unsafe { mica_encoder_new(s, &mut e) };
    // SAFETY: from mica_settings_new, freed once.
    unsafe { mica_settings_free(s) };
    if status == MicaStatus::MicaOk {
        Ok(e)
    } else {
        assert!(e.is_null());
        Err((status, message()))
    }
}

/// A frame with some texture and motion, so every tool has work.
fn test_frame(w: usize, h: usize, depth: u8, t: usize) -> Frame {
    let mut f = Frame::new_420_at(w, h, depth);
    let max = f.max_value() as usize;
    for (p, plane) in f.planes.iter_mut().enumerate() {
        for y in 0..plane.height {
            for x in 0..plane.width {
                let v = (x * 7 + y * 3 + t * 5 + p * 40 + (x * y) % 13) * (max + 1) / 256;
                plane.row_mut(y)[x] = (v % (max + 1)) as u16;
            }
        }
    }
    f
}

/// The frame laid out as a caller would: rows `pad` bytes longer than the
/// samples, 8-bit samples as bytes, 10-bit as native-endian u16.
struct CFrame {
    bytes: [Vec<u8>; 3],
    strides: [isize; 3],
}

fn c_layout(f: &Frame, pad: usize) -> CFrame {
    let sample = if f.bit_depth > 8 { 2 } else { 1 };
    let strides = f
        .planes
        .each_ref()
        .map(|p| (p.width * sample + pad) as isize);
    let bytes = [0, 1, 2].map(|i| {
        let p = &f.planes[i];
        let mut out = vec![0xAAu8; strides[i] as usize * p.height];
        for y in 0..p.height {
            for x in 0..p.width {
                let at = y * strides[i] as usize + x * sample;
                let v = p.row(y)[x];
                if sample == 1 {
                    out[at] = v as u8;
                } else {
                    out[at..at + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        out
    });
    CFrame { bytes, strides }
}

fn picture(f: &Frame, c: &CFrame) -> MicaPicture {
    MicaPicture {
        width: f.width() as u32,
        height: f.height() as u32,
        bit_depth: u32::from(f.bit_depth),
        planes: [0, 1, 2].map(|i| c.bytes[i].as_ptr().cast::<c_void>()),
        strides: c.strides,
        frame_number: 0,
    }
}

fn frame_from_picture(p: &MicaPicture) -> Frame {
    let mut f = Frame::new_420_at(p.width as usize, p.height as usize, p.bit_depth as u8);
    let sample = if p.bit_depth > 8 { 2 } else { 1 };
    for (i, plane) in f.planes.iter_mut().enumerate() {
        for y in 0..plane.height {
            let w = plane.width;
            // SAFETY: a picture from the decoder holds `height` rows of
            // `stride` bytes per plane.
            let row = unsafe {
                std::slice::from_raw_parts(
                    p.planes[i].cast::<u8>().offset(y as isize * p.strides[i]),
                    w * sample,
                )
            };
            for x in 0..w {
                plane.row_mut(y)[x] = if sample == 1 {
                    u16::from(row[x])
                } else {
                    u16::from_ne_bytes([row[2 * x], row[2 * x + 1]])
                };
            }
        }
    }
    f
}

/// Encodes `frames` through the C API and decodes the packets through it
/// again; gives the packets' bytes and the decoded frames in display order.
fn c_round_trip(
    pairs: &[(&str, &str)],
    frames: &[Frame],
    pad: usize,
) -> (Vec<Vec<u8>>, Vec<Frame>) {
    let enc = new_encoder(pairs).expect("encoder");
    let mut packets = Vec::new();
    let drain = |packets: &mut Vec<Vec<u8>>| loop {
        let mut p = null_mut();
        // SAFETY: a live encoder, a writable out pointer.
        let status = unsafe { mica_encoder_receive_packet(enc, &mut p) };
        if status != MicaStatus::MicaOk {
            assert!(p.is_null());
            return status;
        }
        // SAFETY: a packet from the encoder: `size` bytes at `data`.
        let packet = unsafe { &*p };
        packets.push(unsafe { std::slice::from_raw_parts(packet.data, packet.size) }.to_vec());
        // SAFETY: from mica_encoder_receive_packet, freed once.
        unsafe { mica_packet_free(p) };
    };
    for f in frames {
        let c = c_layout(f, pad);
        let pic = picture(f, &c);
        // SAFETY: a live encoder and a picture over live planes.
        assert_eq!(
            unsafe { mica_encoder_send_frame(enc, &pic) },
            MicaStatus::MicaOk,
            "{}",
            message()
        );
        assert_eq!(drain(&mut packets), MicaStatus::MicaAgain);
    }
    // SAFETY: a live encoder.
    assert_eq!(unsafe { mica_encoder_flush(enc) }, MicaStatus::MicaOk);
    assert_eq!(drain(&mut packets), MicaStatus::MicaEnd);
    // SAFETY: from mica_encoder_new, freed once.
    unsafe { mica_encoder_free(enc) };

    let mut dec = null_mut();
    // SAFETY: null settings (the defaults), a writable out pointer.
    assert_eq!(
        unsafe { mica_decoder_new(null(), &mut dec) },
        MicaStatus::MicaOk
    );
    let mut decoded = Vec::new();
    let get = |decoded: &mut Vec<Frame>| loop {
        let mut p = null_mut();
        // SAFETY: a live decoder, a writable out pointer.
        let status = unsafe { mica_decoder_get_picture(dec, &mut p) };
        if status != MicaStatus::MicaOk {
            return status;
        }
        // SAFETY: a picture from the decoder, freed once after reading.
        let pic = unsafe { &*p };
        assert_eq!(pic.frame_number, decoded.len() as u64);
        decoded.push(frame_from_picture(pic));
        unsafe { mica_picture_free(p) };
    };
    for p in &packets {
        // SAFETY: a live decoder and `p.len()` bytes.
        let status = unsafe { mica_decoder_send_data(dec, p.as_ptr(), p.len()) };
        assert_eq!(status, MicaStatus::MicaOk, "{}", message());
        assert_eq!(get(&mut decoded), MicaStatus::MicaAgain);
    }
    // SAFETY: a live decoder.
    assert_eq!(unsafe { mica_decoder_flush(dec) }, MicaStatus::MicaOk);
    assert_eq!(get(&mut decoded), MicaStatus::MicaEnd);
    // SAFETY: from mica_decoder_new, freed once.
    unsafe { mica_decoder_free(dec) };
    (packets, decoded)
}

/// The Rust library's stream and reconstruction for the same frames.
fn rust_reference(cfg: EncoderConfig, frames: &[Frame]) -> (Vec<Vec<u8>>, Vec<Frame>) {
    let mut e = Encoder::new(cfg).unwrap();
    let mut out = Vec::new();
    for f in frames {
        e.send_frame(f.clone()).unwrap();
    }
    e.flush();
    while let Some(p) = e.receive_packet() {
        out.push(p);
    }
    let packets = out.iter().map(|p| p.data.clone()).collect();
    out.sort_by_key(|p| p.frame_number);
    (packets, out.into_iter().map(|p| p.recon).collect())
}

#[test]
fn round_trip_equals_the_library_at_8_and_10_bits() {
    let frames: Vec<Frame> = (0..5).map(|t| test_frame(72, 40, 8, t)).collect();
    let pairs = [
        ("width", "72"),
        ("height", "40"),
        ("fps", "30/1"),
        ("qp", "30"),
        ("preset", "fast"),
        ("threads", "2"),
    ];
    let (packets, decoded) = c_round_trip(&pairs, &frames, 13);
    let mut cfg = EncoderConfig::new(72, 40);
    (cfg.fps_num, cfg.qp, cfg.preset, cfg.threads) = (30, 30, mica::Preset::Fast, 2);
    let (ref_packets, recon) = rust_reference(cfg, &frames);
    assert_eq!(packets, ref_packets, "the C API's stream is the library's");
    assert_eq!(
        decoded, recon,
        "decoded through C = the encoder's reconstruction"
    );

    // 10-bit input with odd sizes (chroma rounds up), all intra.
    let frames: Vec<Frame> = (0..3).map(|t| test_frame(33, 17, 10, t)).collect();
    let pairs = [
        ("width", "33"),
        ("height", "17"),
        ("input-bit-depth", "10"),
        ("gop", "intra"),
        ("nn-filter", "off"),
    ];
    let (packets, decoded) = c_round_trip(&pairs, &frames, 2);
    let mut cfg = EncoderConfig::new(33, 17);
    (cfg.input_bit_depth, cfg.bit_depth) = (10, 10);
    (cfg.gop, cfg.nn_filter) = (mica::GopStructure::IntraOnly, false);
    let (ref_packets, recon) = rust_reference(cfg, &frames);
    assert_eq!(packets, ref_packets);
    assert_eq!(decoded, recon);
    assert!(decoded.iter().all(|f| f.bit_depth == 10));
}

#[test]
fn version_is_the_crate_version() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(mica_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn bad_settings_are_named() {
    let s = mica_settings_new();
    let cases = [
        ("speed", "1", "unknown setting 'speed'"),
        ("qp", "52", "setting 'qp' does not take '52'"),
        ("qp", "thirty", "give -12..=51"),
        ("width", "0", "setting 'width'"),
        ("fps", "30/0", "setting 'fps'"),
        ("crf", "nan", "setting 'crf'"),
        ("buffer-init", "0", "setting 'buffer-init'"),
        ("gop-size", "33", "1..=32 or auto"),
        ("preset", "turbo", "fast, medium or slow"),
        ("cpu", "avx9", "scalar or avx2"),
        ("aspect", "4:0", "setting 'aspect'"),
        ("threads", "-1", "setting 'threads'"),
    ];
    for (k, v, want) in cases {
        assert_eq!(set(s, k, v), MicaStatus::MicaErrorSetting, "{k}={v}");
        assert!(message().contains(want), "{k}={v}: {}", message());
    }
    // Null arguments.
    let k = CString::new("qp").unwrap();
    // SAFETY: null pointers are what is being tested; the others are live.
    unsafe {
        assert_eq!(
            mica_settings_set(null_mut(), k.as_ptr(), k.as_ptr()),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(
            mica_settings_set(s, null(), k.as_ptr()),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(
            mica_settings_set(s, k.as_ptr(), null()),
            MicaStatus::MicaErrorNull
        );
        assert!(message().contains("value is null"));
        mica_settings_free(s);
        mica_settings_free(null_mut());
    }

    // Settings that do not go together, or are incomplete.
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("height", "16")], "'width' is missing"),
        (
            &[
                ("width", "16"),
                ("height", "16"),
                ("qp", "30"),
                ("crf", "30"),
            ],
            "conflict",
        ),
        (
            &[("width", "16"), ("height", "16"), ("maxrate", "100")],
            "go together",
        ),
        (
            &[
                ("width", "16"),
                ("height", "16"),
                ("maxrate", "100"),
                ("bufsize", "100"),
            ],
            "needs 'crf'",
        ),
        (
            &[("width", "16"), ("height", "16"), ("qp", "-6")],
            "QP -6 is out of range",
        ),
        (
            &[("width", "16"), ("height", "16"), ("frame-delay", "1")],
            "'frame-delay' is not one a encoder",
        ),
    ];
    for (pairs, want) in cases {
        let (status, msg) = new_encoder(pairs).expect_err("refused");
        assert_eq!(status, MicaStatus::MicaErrorSetting, "{pairs:?}");
        assert!(msg.contains(want), "{pairs:?}: {msg}");
    }
    let s = settings(&[("qp", "30")]);
    let mut d = null_mut();
    // SAFETY: live settings, a writable out pointer; then nulls.
    unsafe {
        assert_eq!(mica_decoder_new(s, &mut d), MicaStatus::MicaErrorSetting);
        assert!(
            message().contains("'qp' is not one a decoder reads"),
            "{}",
            message()
        );
        assert!(d.is_null());
        assert_eq!(
            mica_decoder_new(null(), null_mut()),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(mica_encoder_new(s, null_mut()), MicaStatus::MicaErrorNull);
        let mut e = null_mut();
        assert_eq!(mica_encoder_new(null(), &mut e), MicaStatus::MicaErrorNull);
        mica_settings_free(s);
    }
}

#[test]
fn bad_frames_are_refused_and_the_encoder_goes_on() {
    let enc = new_encoder(&[
        ("width", "32"),
        ("height", "16"),
        ("gop", "intra"),
        ("nn-filter", "off"),
        ("input-bit-depth", "10"),
    ])
    .unwrap();
    let good = test_frame(32, 16, 10, 0);
    let c = c_layout(&good, 0);
    let ok = picture(&good, &c);
    let send = |p: &MicaPicture| {
        // SAFETY: a live encoder and a picture whose planes cover what it says.
        unsafe { mica_encoder_send_frame(enc, p) }
    };
    let cases: [(MicaPicture, MicaStatus, &str); 6] = [
        (
            MicaPicture { width: 30, ..ok },
            MicaStatus::MicaErrorFrame,
            "picture is 30x16",
        ),
        (
            MicaPicture { bit_depth: 8, ..ok },
            MicaStatus::MicaErrorFrame,
            "8-bit samples",
        ),
        (
            MicaPicture {
                strides: [63, 32, 32],
                ..ok
            },
            MicaStatus::MicaErrorFrame,
            "plane 0's stride (63 bytes)",
        ),
        (
            MicaPicture {
                strides: [64, -32, 32],
                ..ok
            },
            MicaStatus::MicaErrorFrame,
            "plane 1's stride",
        ),
        (
            MicaPicture {
                strides: [isize::MAX, 32, 32],
                ..ok
            },
            MicaStatus::MicaErrorFrame,
            "too large",
        ),
        (
            MicaPicture {
                planes: [ok.planes[0], null(), ok.planes[2]],
                ..ok
            },
            MicaStatus::MicaErrorNull,
            "plane 1",
        ),
    ];
    for (p, status, want) in cases {
        assert_eq!(send(&p), status, "{want}");
        assert!(message().contains(want), "{want}: {}", message());
    }
    // A sample above the 10-bit maximum.
    let mut hot = c_layout(&good, 0);
    hot.bytes[2][4..6].copy_from_slice(&1024u16.to_ne_bytes());
    assert_eq!(send(&picture(&good, &hot)), MicaStatus::MicaErrorFrame);
    assert!(
        message().contains("above the 10-bit maximum"),
        "{}",
        message()
    );
    // SAFETY: null pointers, then a live encoder.
    unsafe {
        assert_eq!(
            mica_encoder_send_frame(enc, null()),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(
            mica_encoder_send_frame(null_mut(), &ok),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(
            mica_encoder_receive_packet(enc, null_mut()),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(mica_encoder_flush(null_mut()), MicaStatus::MicaErrorNull);
    }
    // None of that was coded; a good frame still is, and only it.
    assert_eq!(send(&ok), MicaStatus::MicaOk);
    let mut packets = 0;
    // SAFETY: a live encoder; packets freed once.
    unsafe {
        assert_eq!(mica_encoder_flush(enc), MicaStatus::MicaOk);
        assert_eq!(send(&ok), MicaStatus::MicaErrorState);
        assert!(message().contains("flushed"));
        loop {
            let mut p = null_mut();
            match mica_encoder_receive_packet(enc, &mut p) {
                MicaStatus::MicaOk => {
                    assert_eq!((*p).frame_number, 0);
                    packets += 1;
                    mica_packet_free(p);
                }
                s => {
                    assert_eq!(s, MicaStatus::MicaEnd);
                    break;
                }
            }
        }
        mica_encoder_free(enc);
        mica_encoder_free(null_mut());
        mica_packet_free(null_mut());
    }
    assert_eq!(packets, 1);
}

#[test]
fn bad_streams_give_stream_errors() {
    let frames: Vec<Frame> = (0..3).map(|t| test_frame(32, 32, 8, t)).collect();
    let pairs = [
        ("width", "32"),
        ("height", "32"),
        ("gop", "low-delay"),
        ("nn-filter", "off"),
    ];
    let (packets, _) = c_round_trip(&pairs, &frames, 0);
    let new_decoder = || {
        let mut d = null_mut();
        // SAFETY: null settings, a writable out pointer.
        assert_eq!(
            unsafe { mica_decoder_new(null(), &mut d) },
            MicaStatus::MicaOk
        );
        d
    };
    let send = |d: *mut MicaDecoder, bytes: &[u8]| {
        // SAFETY: a live decoder and `bytes.len()` bytes.
        unsafe { mica_decoder_send_data(d, bytes.as_ptr(), bytes.len()) }
    };
    let get_all = |d: *mut MicaDecoder| {
        let mut n = 0;
        loop {
            let mut p = null_mut();
            // SAFETY: a live decoder; pictures freed once.
            match unsafe { mica_decoder_get_picture(d, &mut p) } {
                MicaStatus::MicaOk => {
                    n += 1;
                    unsafe { mica_picture_free(p) };
                }
                s => return (n, s),
            }
        }
    };

    // Truncated: the second packet cut short. Decoding each frame before
    // the send returns (frame-delay 1), the send reports it; the first
    // frame still comes out.
    let s = settings(&[("frame-delay", "1")]);
    let mut d = null_mut();
    // SAFETY: live settings, a writable out pointer; freed once.
    unsafe {
        assert_eq!(mica_decoder_new(s, &mut d), MicaStatus::MicaOk);
        mica_settings_free(s);
    }
    assert_eq!(send(d, &packets[0]), MicaStatus::MicaOk);
    let cut = &packets[1][..packets[1].len() / 2];
    assert_eq!(
        send(d, cut),
        MicaStatus::MicaErrorStream,
        "truncated packet"
    );
    assert!(message().starts_with("invalid bitstream"), "{}", message());
    assert_eq!(send(d, &packets[2]), MicaStatus::MicaErrorState);
    assert!(
        message().contains("stopped at an earlier error"),
        "{}",
        message()
    );
    assert_eq!(get_all(d), (1, MicaStatus::MicaEnd));
    // SAFETY: from mica_decoder_new, freed once.
    unsafe { mica_decoder_free(d) };

    // With frame threads, a later call reports it: at the latest the flush.
    let d = new_decoder();
    assert_eq!(send(d, &packets[0]), MicaStatus::MicaOk);
    let mut status = send(d, cut);
    if status == MicaStatus::MicaOk {
        // SAFETY: a live decoder.
        status = unsafe { mica_decoder_flush(d) };
    }
    assert_eq!(status, MicaStatus::MicaErrorStream);
    assert_eq!(get_all(d), (1, MicaStatus::MicaEnd));
    // SAFETY: from mica_decoder_new, freed once.
    unsafe { mica_decoder_free(d) };

    // Garbage, empty data, and null pointers.
    for junk in [&b"not a mica packet at all"[..], &[], &[0xff; 64]] {
        let d = new_decoder();
        assert_eq!(send(d, junk), MicaStatus::MicaErrorStream, "{junk:?}");
        assert_eq!(get_all(d), (0, MicaStatus::MicaEnd));
        // SAFETY: from mica_decoder_new, freed once.
        unsafe { mica_decoder_free(d) };
    }
    let d = new_decoder();
    // SAFETY: null pointers where they are being tested, a live decoder otherwise.
    unsafe {
        assert_eq!(
            mica_decoder_send_data(d, null(), 5),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(
            mica_decoder_send_data(null_mut(), packets[0].as_ptr(), 1),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(
            mica_decoder_get_picture(d, null_mut()),
            MicaStatus::MicaErrorNull
        );
        assert_eq!(mica_decoder_flush(null_mut()), MicaStatus::MicaErrorNull);
        // A stream that starts without its keyframe.
        assert_eq!(send(d, &packets[1]), MicaStatus::MicaErrorStream);
        mica_decoder_free(d);
        mica_decoder_free(null_mut());
        mica_picture_free(null_mut());
    }
    // After a flush, no more data.
    let d = new_decoder();
    assert_eq!(send(d, &packets[0]), MicaStatus::MicaOk);
    // SAFETY: a live decoder.
    assert_eq!(unsafe { mica_decoder_flush(d) }, MicaStatus::MicaOk);
    assert_eq!(send(d, &packets[1]), MicaStatus::MicaErrorState);
    assert!(message().contains("flushed"));
    assert_eq!(get_all(d), (1, MicaStatus::MicaEnd));
    // SAFETY: from mica_decoder_new, freed once.
    unsafe { mica_decoder_free(d) };
}
