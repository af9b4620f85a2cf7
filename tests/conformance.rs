//! Every conformance stream decodes, at every CPU level and with one or
//! several frames in flight, to its recorded MD5.

use md5::{Digest, Md5};
use mica::CpuLevel;
use mica::{Decoder, DecoderConfig};
use mica_io::ivf::IvfReader;
use std::path::PathBuf;

#[test]
fn streams_decode_to_their_md5() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/streams");
    let mut streams: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ivf"))
        .collect();
    streams.sort();
    assert!(streams.len() >= 4, "conformance streams missing");
    // Two workers share the streams (the scalar runs dominate the time).
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match streams.get(i) {
                    Some(path) => check_stream(path),
                    None => break,
                }
            });
        }
    });
}

/// Decodes `path` at every CPU level (and with frame threads) and compares
/// each output's MD5 with the recorded one.
fn check_stream(path: &std::path::Path) {
    let want = std::fs::read_to_string(path.with_extension("md5"))
        .unwrap()
        .trim()
        .to_string();
    let levels = CpuLevel::all_supported();
    let best = *levels.last().unwrap();
    // Every level one frame at a time; streams of several frames also
    // with frame threads (3 workers, up to 8 frames in flight) at the
    // best level.
    let runs = levels.iter().map(|&cpu| (cpu, 1, 1));
    let name = path.file_name().unwrap().to_string_lossy();
    let threaded = (!name.starts_with("intra_")).then_some((best, 3, 8));
    for (cpu, threads, max_frame_delay) in runs.chain(threaded) {
        let mut reader = IvfReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut dec = Decoder::new(DecoderConfig {
            cpu: Some(cpu),
            threads,
            max_frame_delay,
            ..Default::default()
        });
        let mut md5 = Md5::new();
        let mut add = |dec: &mut Decoder| {
            while let Some(d) = dec.receive_frame() {
                let mut bytes = Vec::new();
                mica_io::y4m::append_sample_bytes(&d.frame, &mut bytes);
                md5.update(&bytes);
            }
        };
        while let Some(frame) = reader.next_frame().unwrap() {
            dec.send_packet(&frame.data).unwrap();
            add(&mut dec);
        }
        dec.flush().unwrap();
        add(&mut dec);
        let got: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            got,
            want,
            "{} at {cpu:?}, {threads} threads, frame delay {max_frame_delay}",
            path.display()
        );
    }
}
