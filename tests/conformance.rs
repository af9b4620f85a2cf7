//! Every conformance stream decodes, at every CPU level, to its recorded MD5.

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
    for path in streams {
        let want = std::fs::read_to_string(path.with_extension("md5"))
            .unwrap()
            .trim()
            .to_string();
        for cpu in CpuLevel::all_supported() {
            let mut reader = IvfReader::new(std::fs::File::open(&path).unwrap()).unwrap();
            let mut dec = Decoder::new(DecoderConfig {
                cpu: Some(cpu),
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
            dec.flush();
            add(&mut dec);
            let got: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(got, want, "{} at {cpu:?}", path.display());
        }
    }
}
