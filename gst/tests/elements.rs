//! The elements in real pipelines: the round trip through GStreamer against
//! the Rust library's own encode of the same file, and bad input ending in an
//! error message on the bus, never a crash.

use std::path::{Path, PathBuf};

use gst::prelude::*;
use md5::{Digest, Md5};

fn init() {
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstmica::plugin_register_static().expect("register the mica plugin");
    });
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/city_720x400_6f.y4m")
}

/// Runs a pipeline to its end; the error message on the bus if it fails.
fn run(description: &str) -> Result<(), String> {
    init();
    let pipeline = gst::parse::launch(description).map_err(|e| e.to_string())?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let bus = pipeline.bus().unwrap();
    let mut result = Err("timed out: no end of stream in 300 s".to_string());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(..) => {
                result = Ok(());
                break;
            }
            gst::MessageView::Error(e) => {
                result = Err(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The library's reconstruction of the sample at `micaenc`'s defaults (its
/// samples, plane after plane, as raw I420 holds them) and its packets.
fn library_encode(qp: i8) -> (Vec<u8>, Vec<Vec<u8>>) {
    let file = std::fs::File::open(sample()).unwrap();
    let mut reader = mica_io::y4m::Y4mReader::new(std::io::BufReader::new(file)).unwrap();
    let h = reader.header().clone();
    let mut cfg = mica::EncoderConfig::new(h.width, h.height);
    (cfg.fps_num, cfg.fps_den, cfg.qp) = (h.fps_num, h.fps_den, qp);
    let mut encoder = mica::Encoder::new(cfg).unwrap();
    while let Some(frame) = reader.read_frame().unwrap() {
        encoder.send_frame(frame).unwrap();
    }
    encoder.flush();
    let mut packets = Vec::new();
    while let Some(p) = encoder.receive_packet() {
        packets.push(p);
    }
    let data = packets.iter().map(|p| p.data.clone()).collect();
    packets.sort_by_key(|p| p.frame_number);
    let mut raw = Vec::new();
    for p in &packets {
        for plane in &p.recon.planes {
            raw.extend(plane.data.iter().map(|&s| s as u8));
        }
    }
    (raw, data)
}

/// The payloads of an IVF file, checking its header on the way.
fn ivf_payloads(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[0..4], b"DKIF");
    assert_eq!(&b[8..12], b"MICA");
    let mut at = 32;
    let mut out = Vec::new();
    while at < b.len() {
        let size = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        out.push(b[at + 12..at + 12 + size].to_vec());
        at += 12 + size;
    }
    out
}

#[test]
fn round_trip_equals_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let (ivf, yuv) = (dir.path().join("s.ivf"), dir.path().join("s.yuv"));
    run(&format!(
        "filesrc location={} ! y4mdec ! micaenc qp=37 threads=2 ! micaivfmux ! filesink location={}",
        sample().display(),
        ivf.display()
    ))
    .unwrap();
    run(&format!(
        "filesrc location={} ! micaivfdemux ! micadec ! filesink location={}",
        ivf.display(),
        yuv.display()
    ))
    .unwrap();
    let (recon, packets) = library_encode(37);
    // The keyframe's sequence header carries what GStreamer's caps describe
    // (colour range, aspect), which the library's defaults do not; the
    // frames after it are coded byte for byte alike.
    let payloads = ivf_payloads(&ivf);
    assert_eq!(payloads.len(), packets.len());
    assert!(
        payloads[1..] == packets[1..],
        "micaenc's packets are the library's"
    );
    let decoded = std::fs::read(&yuv).unwrap();
    assert_eq!(decoded.len(), 720 * 400 * 3 / 2 * 6);
    assert_eq!(
        md5_hex(&decoded),
        md5_hex(&recon),
        "micadec gives the reconstruction"
    );
}

#[test]
fn bad_streams_are_errors_on_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let decode = |p: &Path| {
        run(&format!(
            "filesrc location={} ! micaivfdemux ! micadec ! fakesink",
            p.display()
        ))
    };
    let garbage = write("garbage.ivf", &[0x5a; 500]);
    let e = decode(&garbage).unwrap_err();
    assert!(e.contains("not an IVF stream"), "{e}");

    let mut header = b"DKIF\0\0\x20\0VP80".to_vec();
    header.extend_from_slice(&[
        0x10, 0, 0x10, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let e = decode(&write("vp8.ivf", &header)).unwrap_err();
    assert!(e.contains("not MICA"), "{e}");

    // A Mica header and a garbage packet.
    let mut bad = header.clone();
    bad[8..12].copy_from_slice(b"MICA");
    let mut packet = bad.clone();
    packet.extend_from_slice(&24u32.to_le_bytes());
    packet.extend_from_slice(&0u64.to_le_bytes());
    packet.extend_from_slice(b"certainly not a packet!!");
    let e = decode(&write("junk.ivf", &packet)).unwrap_err();
    assert!(e.contains("invalid bitstream"), "{e}");

    // A size beyond any real frame: refused before allocating it.
    let mut huge = bad.clone();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(&[0; 8]);
    let e = decode(&write("huge.ivf", &huge)).unwrap_err();
    assert!(e.contains("beyond any real frame"), "{e}");

    // A timestamp beyond any time GStreamer holds (timebase 1/1).
    let mut late = bad.clone();
    late[16..24].copy_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
    late.extend_from_slice(&1u32.to_le_bytes());
    late.extend_from_slice(&u64::MAX.to_le_bytes());
    late.push(0);
    let e = decode(&write("late.ivf", &late)).unwrap_err();
    assert!(e.contains("beyond any time"), "{e}");

    // A stream cut inside a header.
    let e = decode(&write("short.ivf", &bad[..20])).unwrap_err();
    assert!(e.contains("before a whole IVF header"), "{e}");

    // A real stream cut inside its second packet: the first frame decodes,
    // then the stream simply ends (a warning, as a truncated file).
    let ivf = dir.path().join("s.ivf");
    run(&format!(
        "filesrc location={} ! y4mdec ! micaenc qp=40 gop=low-delay nn-filter=false ! micaivfmux ! filesink location={}",
        sample().display(),
        ivf.display()
    ))
    .unwrap();
    let whole = std::fs::read(&ivf).unwrap();
    let first = 32 + 12 + u32::from_le_bytes(whole[32..36].try_into().unwrap()) as usize;
    let cut = write("cut.ivf", &whole[..first + 40]);
    let yuv = dir.path().join("cut.yuv");
    run(&format!(
        "filesrc location={} ! micaivfdemux ! micadec ! filesink location={}",
        cut.display(),
        yuv.display()
    ))
    .unwrap();
    assert_eq!(std::fs::read(&yuv).unwrap().len(), 720 * 400 * 3 / 2);
}

#[test]
fn settings_the_encoder_cannot_use_are_errors() {
    // QP -6 is a 10-bit QP: refused at 8 bits, naming it.
    let e = run(&format!(
        "filesrc location={} ! y4mdec ! micaenc qp=-6 ! fakesink",
        sample().display()
    ))
    .unwrap_err();
    assert!(e.contains("QP -6 is out of range"), "{e}");
    init();
    let enc = gst::ElementFactory::make("micaenc").build().unwrap();
    enc.set_property("preset", "slow");
    enc.set_property("preset", "turbo");
    assert_eq!(
        enc.property::<String>("preset"),
        "slow",
        "an unknown preset changes nothing"
    );
}
