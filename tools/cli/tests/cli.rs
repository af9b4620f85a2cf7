//! The command-line tools as a user runs them: round trips, exit codes, and
//! no output file left behind by a failed run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn enc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_micaenc"))
}
fn dec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_micadec"))
}
fn mica_model() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mica-model"))
}
fn mica_tables() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mica-tables"))
}
fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}
fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tool runs")
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}
fn only_file(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Writes the first `frames` frames of a sample's top-left `w` x `h` window
/// as a y4m file.
fn write_cut(src: &Path, dst: &Path, w: usize, h: usize, frames: usize) {
    write_sliding_cut(src, dst, w, h, frames, 0);
}

#[test]
fn help_lists_every_option() {
    let o = run(enc().arg("--help"));
    assert!(o.status.success());
    let h = stdout(&o);
    for opt in [
        "--output",
        "--qp",
        "--bitrate",
        "--pass",
        "--stats",
        "--recon",
        "--limit",
        "--threads",
        "--cpu",
        "--md5",
        "--no-deblock",
        "--deblock-offset",
        "--context-init",
        "--bit-depth",
        "--recon-depth",
        "--colour-primaries",
        "--transfer",
        "--matrix",
        "--master-display",
        "--max-cll",
    ] {
        assert!(h.contains(opt), "micaenc --help lacks {opt}");
    }
    let o = run(dec().arg("--help"));
    let h = stdout(&o);
    for opt in [
        "--output",
        "--md5",
        "--cpu",
        "--output-depth",
        "--threads",
        "--frame-delay",
    ] {
        assert!(h.contains(opt), "micadec --help lacks {opt}");
    }
}

/// The decoder's output file equals the encoder's reconstruction byte for
/// byte, and both tools print the same sample MD5; odd dimensions included.
#[test]
fn round_trip_files_and_md5() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cut.y4m");
    write_cut(&sample("city_720x400_6f.y4m"), &src, 645, 363, 2);
    let ivf = dir.path().join("cut.ivf");
    let recon = dir.path().join("recon.y4m");
    let out = dir.path().join("dec.y4m");
    let o = run(enc()
        .arg(&src)
        .arg("-o")
        .arg(&ivf)
        .args(["--qp", "37", "--md5", "--recon"])
        .arg(&recon));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("PSNR Y"),
        "summary missing: {}",
        stderr(&o)
    );
    let enc_md5 = stdout(&o);
    assert_eq!(enc_md5.len(), 32);
    let o = run(dec().arg(&ivf).arg("-o").arg(&out).arg("--md5"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), enc_md5);
    assert!(std::fs::read(&recon).unwrap() == std::fs::read(&out).unwrap());
    // Nothing but the files asked for (no temporaries left).
    assert_eq!(
        only_file(dir.path()),
        ["cut.ivf", "cut.y4m", "dec.y4m", "recon.y4m"]
    );
}

#[test]
fn pipes_through_standard_streams() {
    let input = std::fs::read(sample("still_chelsea_448x296.y4m")).unwrap();
    let mut child = enc()
        .args(["-", "-o", "-", "--qp", "40", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(&o.stdout[..4], b"DKIF");
    let mut child = dec()
        .args(["-", "-o", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    }
    let d = child.wait_with_output().unwrap();
    assert!(d.status.success());
    assert!(d.stdout.starts_with(b"YUV4MPEG2 W448 H296"));
    assert_eq!(
        d.stdout.len(),
        input.len(),
        "same header and frame size as the source"
    );
}

/// Writes `frames` frames of a `w` x `h` window of a sample clip's frames, in
/// a loop (a clip longer than the sample), the window sliding right by
/// `step` chroma samples (twice as many luma samples) per frame.
fn write_sliding_cut(src: &Path, dst: &Path, w: usize, h: usize, frames: usize, step: usize) {
    let mut r = mica_io::y4m::Y4mReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut header = r.header().clone();
    let source: Vec<mica::Frame> = std::iter::from_fn(|| r.read_frame().unwrap()).collect();
    header.width = w;
    header.height = h;
    let mut wr =
        mica_io::y4m::Y4mWriter::new(std::fs::File::create(dst).unwrap(), &header).unwrap();
    for t in 0..frames {
        let f = &source[t % source.len()];
        let mut out = mica::Frame::new_420(w, h);
        for (i, p) in out.planes.iter_mut().enumerate() {
            let s = &f.planes[i];
            let dx = if i == 0 { 2 * step * t } else { step * t };
            for y in 0..p.height {
                let pw = p.width;
                p.data[y * pw..(y + 1) * pw]
                    .copy_from_slice(&s.data[y * s.width + dx..y * s.width + dx + pw]);
            }
        }
        wr.write_frame(&out).unwrap();
    }
    wr.into_inner().unwrap();
}

/// Long group sizes `--gop-size` accepts work: 9..=16 used to panic (eight
/// reference slots could not hold a layer of a longer group), 17..=32
/// code their halves recursively, and auto chooses 32 or 16 per group. Each
/// decodes to the encoder's MD5; 0, 33 and other words are refused as
/// malformed options.
#[test]
fn every_accepted_gop_size_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("slide.y4m");
    write_sliding_cut(&sample("city_720x400_6f.y4m"), &src, 96, 64, 36, 1);
    let ivf = dir.path().join("s.ivf");
    for size in ["9", "12", "16", "17", "24", "32", "auto"] {
        // (the clip loops, which a scene cut would notice and cut short)
        let o = run(enc().arg(&src).arg("-o").arg(&ivf).args([
            "--qp",
            "37",
            "--md5",
            "--no-scene-cut",
            "--gop-size",
            size,
        ]));
        assert!(o.status.success(), "--gop-size {size}: {}", stderr(&o));
        let d = run(dec().arg(&ivf).arg("--md5"));
        assert!(d.status.success(), "--gop-size {size}: {}", stderr(&d));
        assert_eq!(stdout(&o), stdout(&d), "--gop-size {size}");
        // Frame threads: the upper layers decode side by side.
        let d = run(dec()
            .arg(&ivf)
            .args(["--md5", "--threads", "3", "--frame-delay", "8"]));
        assert!(d.status.success(), "--gop-size {size}: {}", stderr(&d));
        assert_eq!(stdout(&o), stdout(&d), "--gop-size {size}, frame threads");
    }
    for size in ["0", "33", "adaptive"] {
        let o = run(enc()
            .arg(&src)
            .args(["-o", "/dev/null", "--gop-size", size]));
        assert_eq!(o.status.code(), Some(2), "--gop-size {size}");
        assert!(stderr(&o).contains("gop-size"), "{}", stderr(&o));
    }
}

#[test]
fn bad_options_exit_2() {
    let o =
        run(enc()
            .arg(sample("still_chelsea_448x296.y4m"))
            .args(["-o", "/dev/null", "--qp", "52"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(enc().arg(sample("still_chelsea_448x296.y4m")).args([
        "-o",
        "/dev/null",
        "--deblock-offset",
        "-7",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("deblock-offset"), "{}", stderr(&o));
    let o = run(enc().arg(sample("still_chelsea_448x296.y4m")));
    assert_eq!(o.status.code(), Some(2), "missing -o");
    // Thread counts the system could not start are refused, not attempted.
    let o = run(enc().arg(sample("still_chelsea_448x296.y4m")).args([
        "-o",
        "/dev/null",
        "--threads",
        "257",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
    let o = run(dec().args(["in.ivf", "--md5", "--threads", "100000"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
    let o = run(dec().args(["in.ivf", "--md5", "--frame-delay", "257"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--frame-delay"), "{}", stderr(&o));
    // Zero frames would be a clip with nothing to code.
    let o = run(enc().arg(sample("still_chelsea_448x296.y4m")).args([
        "-o",
        "/dev/null",
        "--limit",
        "0",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--limit"), "{}", stderr(&o));
}

#[test]
fn failures_exit_1_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    // Truncated y4m: the second frame is cut short.
    let mut data = std::fs::read(sample("city_720x400_6f.y4m")).unwrap();
    let frame = 6 + 720 * 400 * 3 / 2;
    let header = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    data.truncate(header + frame + 1000);
    let bad = dir.path().join("bad.y4m");
    std::fs::write(&bad, &data).unwrap();
    let ivf = dir.path().join("out.ivf");
    let recon = dir.path().join("recon.y4m");
    let o = run(enc()
        .arg(&bad)
        .arg("-o")
        .arg(&ivf)
        .arg("--recon")
        .arg(&recon)
        .args(["--qp", "45"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    assert_eq!(
        only_file(dir.path()),
        ["bad.y4m"],
        "no output may be left behind"
    );

    // Unknown CPU level.
    let o = run(enc()
        .arg(sample("still_chelsea_448x296.y4m"))
        .arg("-o")
        .arg(&ivf)
        .args(["--cpu", "sse9"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("sse9"));

    // Missing input.
    let o = run(enc().arg(dir.path().join("nope.y4m")).arg("-o").arg(&ivf));
    assert_eq!(o.status.code(), Some(1));

    // A corrupt stream: the decoder fails and writes no y4m.
    let good = dir.path().join("good.ivf");
    let o = run(enc()
        .arg(sample("still_chelsea_448x296.y4m"))
        .arg("-o")
        .arg(&good)
        .args(["--qp", "40"]));
    assert!(o.status.success());
    let mut stream = std::fs::read(&good).unwrap();
    let n = stream.len();
    stream.truncate(n - 7);
    std::fs::write(&good, &stream).unwrap();
    let out = dir.path().join("dec.y4m");
    let o = run(dec().arg(&good).arg("-o").arg(&out));
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
    for (bytes, what) in [
        (&b""[..], "empty"),
        (&b"RIFF0000000000000000000000000000"[..], "magic"),
    ] {
        std::fs::write(&good, bytes).unwrap();
        let o = run(dec().arg(&good).arg("-o").arg(&out));
        assert_eq!(o.status.code(), Some(1), "{what}");
        assert!(!out.exists());
    }
}

/// Writing to a device such as /dev/null writes through it and never
/// replaces it (outputs are renamed into place only for regular files).
#[test]
fn device_outputs_are_written_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let ivf = dir.path().join("s.ivf");
    let o = run(enc()
        .arg(sample("still_chelsea_448x296.y4m"))
        .arg("-o")
        .arg(&ivf)
        .args(["--qp", "45", "--recon", "/dev/null"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(dec().arg(&ivf).args(["-o", "/dev/null"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(!meta.is_file(), "/dev/null must still be a device");
}

/// Outputs are ordinary files (0644), not the private mode of temporary files.
#[cfg(unix)]
#[test]
fn outputs_are_not_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ivf = dir.path().join("s.ivf");
    let o = run(enc()
        .arg(sample("still_chelsea_448x296.y4m"))
        .arg("-o")
        .arg(&ivf)
        .args(["--qp", "45"]));
    assert!(o.status.success());
    assert_eq!(
        std::fs::metadata(&ivf).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

/// mica-model inspect: a valid model is described, a broken one refused with a clear message.
#[test]
fn model_inspect() {
    use mica::internals::nn::{Layer, LayerOp, Model, TensorSpec};
    let dir = tempfile::tempdir().unwrap();
    let layer = |w: i8| Layer {
        operands: vec![0],
        out: TensorSpec {
            channels: 4,
            lo: 0,
            hi: 255,
        },
        op: LayerOp::Conv2d {
            kernel: 3,
            stride: 1,
            shift: 6,
            weights: vec![w; 4 * 2 * 9],
            bias: vec![10; 4],
        },
    };
    let model = Model {
        inputs: vec![TensorSpec {
            channels: 2,
            lo: 0,
            hi: 255,
        }],
        layers: vec![layer(3)],
        outputs: vec![1],
    };
    let good = dir.path().join("good.micanet");
    std::fs::write(&good, model.to_bytes()).unwrap();
    let o = run(mica_model().arg("inspect").arg(&good));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("MACs     72 per input pixel"), "{out}");
    assert!(out.contains("sha256"));
    let o = run(mica_model().arg("bench").arg(&good).args([
        "--size",
        "64x48",
        "--runs",
        "1",
        "--threads",
        "1",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("GMAC/s"), "{}", stdout(&o));
    let o = run(mica_model()
        .arg("bench")
        .arg(&good)
        .args(["--size", "64by48"]));
    assert_eq!(o.status.code(), Some(1));
    let mut bytes = model.to_bytes();
    bytes.truncate(bytes.len() - 3);
    let bad = dir.path().join("bad.micanet");
    std::fs::write(&bad, &bytes).unwrap();
    let o = run(mica_model().arg("inspect").arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));

    // join: one file computing both models' outputs, each part intact.
    let other = Model {
        layers: vec![layer(-2)],
        ..model.clone()
    };
    let second = dir.path().join("second.micanet");
    std::fs::write(&second, other.to_bytes()).unwrap();
    let joined = dir.path().join("joined.micanet");
    let o = run(mica_model()
        .arg("join")
        .args([&good, &second])
        .arg("-o")
        .arg(&joined));
    assert!(o.status.success(), "{}", stderr(&o));
    let j = Model::parse(&std::fs::read(&joined).unwrap()).unwrap();
    assert_eq!(
        (j.only_output(0), j.only_output(1)),
        (model.clone(), other.clone())
    );
    let o = run(mica_model().arg("bench").arg(&joined).args([
        "--size",
        "64x48",
        "--runs",
        "1",
        "--threads",
        "1",
        "--output",
        "2",
    ]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("has 2 outputs"), "{}", stderr(&o));
    // More than two parts, in order.
    let three = dir.path().join("three.micanet");
    let o = run(mica_model()
        .arg("join")
        .args([&second, &good, &second])
        .arg("-o")
        .arg(&three));
    assert!(o.status.success(), "{}", stderr(&o));
    let t = Model::parse(&std::fs::read(&three).unwrap()).unwrap();
    assert_eq!(t.outputs.len(), 3);
    assert_eq!(t.only_output(1), model);
    assert_eq!((t.only_output(0), t.only_output(2)), (other.clone(), other));
    // A broken part: refused, nothing written.
    let none = dir.path().join("none.micanet");
    let o = run(mica_model()
        .arg("join")
        .args([&good, &bad])
        .arg("-o")
        .arg(&none));
    assert_eq!(o.status.code(), Some(1));
    assert!(!none.exists());
}

/// A loop filter with four networks (inter/key x luma/chroma), joined by
/// mica-model from single networks, runs in the loop and decodes to the
/// encoder's MD5; each plane runs its own network: [a, b, a, b] codes as the
/// two-network [a, b] does, [a, b, b, a] (chroma networks swapped) does not;
/// a three-network file is refused by name.
#[test]
fn four_network_loop_filter_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/loopfilter/loopfilter.micanet");
    let parts = mica::internals::nn::Model::parse(&std::fs::read(&shipped).unwrap()).unwrap();
    // Two different single networks of the shipped file.
    let a = dir.path().join("a.micanet");
    let b = dir.path().join("b.micanet");
    std::fs::write(&a, parts.only_output(0).to_bytes()).unwrap();
    std::fs::write(&b, parts.only_output(parts.outputs.len() - 1).to_bytes()).unwrap();
    let join = |name: &str, list: &[&PathBuf]| {
        let out = dir.path().join(name);
        let o = run(mica_model().arg("join").args(list).arg("-o").arg(&out));
        assert!(o.status.success(), "{}", stderr(&o));
        out
    };
    // Encodes 3 frames (a keyframe and inter frames) with a model; checks the
    // decoder's MD5 equals the encoder's; returns it.
    let round_trip = |model: &PathBuf| {
        let ivf = model.with_extension("ivf");
        let o = run(enc()
            .arg(sample("city_720x400_6f.y4m"))
            .args([
                "--limit",
                "3",
                "--qp",
                "40",
                "-q",
                "--md5",
                "--nn-filter-model",
            ])
            .arg(model)
            .arg("-o")
            .arg(&ivf));
        assert!(o.status.success(), "{}", stderr(&o));
        let enc_md5 = stdout(&o);
        let o = run(dec().arg(&ivf).arg("--md5").arg("--model").arg(model));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), enc_md5, "{}", model.display());
        enc_md5
    };
    let two = round_trip(&join("two.micanet", &[&a, &b]));
    assert_eq!(round_trip(&join("abab.micanet", &[&a, &b, &a, &b])), two);
    assert_ne!(round_trip(&join("abba.micanet", &[&a, &b, &b, &a])), two);

    let three = join("three.micanet", &[&a, &b, &a]);
    let o = run(enc()
        .arg(sample("city_720x400_6f.y4m"))
        .args(["--limit", "1", "-q", "--nn-filter-model"])
        .arg(&three)
        .arg("-o")
        .arg(dir.path().join("three.ivf")));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("1, 2, 4 or 8 outputs"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("three.ivf").exists());
}

/// Output into a pipe nobody reads (`| head`, `| grep -q` after its match):
/// a clear error and exit status 1, not a panic.
#[test]
fn closed_stdout_is_an_error_not_a_panic() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/loopfilter/loopfilter.micanet");
    let (reader, writer) = std::io::pipe().unwrap();
    // Closed before the tool starts: its first write fails, every time.
    drop(reader);
    let o = mica_model()
        .arg("inspect")
        .arg(&model)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("tool runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `mica-tables contexts` derives complete tables (every frame type, QP class
/// and context, within the allowed range), the same ones whatever the number
/// of workers, and writes nothing when it fails.
#[test]
fn context_tables_from_training_material() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train");
    std::fs::create_dir(&train).unwrap();
    write_cut(
        &sample("city_720x400_6f.y4m"),
        &train.join("a.y4m"),
        96,
        64,
        3,
    );
    write_cut(
        &sample("still_chelsea_448x296.y4m"),
        &train.join("b.y4m"),
        64,
        48,
        1,
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let tables = |jobs: &str, name: &str| {
        let o = run(mica_tables()
            .arg("contexts")
            .arg(&train)
            .args(["--qp", "22,37", "--frames", "3", "--jobs", jobs, "--rust"])
            .arg(out.join(format!("{name}.rs")))
            .arg("--spec")
            .arg(out.join(format!("{name}.md"))));
        assert!(o.status.success(), "{}", stderr(&o));
        (
            std::fs::read_to_string(out.join(format!("{name}.rs"))).unwrap(),
            std::fs::read_to_string(out.join(format!("{name}.md"))).unwrap(),
        )
    };
    let (rust, spec) = tables("1", "one");
    assert_eq!(tables("2", "two"), (rust.clone(), spec.clone()));
    // 2 frame types x 5 QP classes, each with 31 context arrays of 189 contexts.
    assert_eq!(spec.matches("\n## ").count(), 10);
    let mut values = 0;
    for row in spec
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| context"))
    {
        for v in row.rsplit('|').nth(1).unwrap().split_whitespace() {
            let v: u16 = v.parse().unwrap();
            assert!((768..=32000).contains(&v), "{v} in {row}");
            values += 1;
        }
    }
    assert_eq!(values, 10 * 189);
    assert_eq!(rust.matches("// split\n").count(), 10);
    assert!(rust.contains("pub static CONTEXT_INIT"));
    // A bad QP is refused by name; nothing is written.
    let o = run(mica_tables()
        .arg("contexts")
        .arg(&train)
        .args(["--qp", "60", "--rust"])
        .arg(out.join("bad.rs"))
        .arg("--spec")
        .arg(out.join("bad.md")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--qp 60"), "{}", stderr(&o));
    assert_eq!(only_file(&out), ["one.md", "one.rs", "two.md", "two.rs"]);
}

/// x265's HDR10 example (`--master-display`).
const HDR10_MASTERING: &str =
    "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)";

/// Writes a synthetic 10-bit clip: `frames` frames of `w` x `h`, gradients
/// moving by a sample per frame plus a little deterministic noise, over the
/// whole 10-bit range; `tags` are appended to the header line.
fn write_ten_bit(dst: &Path, w: usize, h: usize, frames: usize, tags: &str) {
    let header = mica_io::y4m::Y4mHeader::new(w, h, 25, 1).with_bit_depth(10);
    let mut line = header.header_line();
    line.pop();
    line.push_str(tags);
    line.push('\n');
    let mut bytes = line.into_bytes();
    let mut seed = 0x1234_5678u32;
    for t in 0..frames {
        let mut f = mica::Frame::new_420_at(w, h, 10);
        for (p, plane) in f.planes.iter_mut().enumerate() {
            let pw = plane.width;
            for (i, s) in plane.data.iter_mut().enumerate() {
                let (x, y) = (i % pw + t, i / pw);
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let noise = (seed >> 16) % 9;
                *s = ((x * 13 + y * 7 + p * 200) as u32 % 1000 + noise) as u16;
            }
        }
        bytes.extend_from_slice(b"FRAME\n");
        for plane in &f.planes {
            bytes.extend(plane.data.iter().flat_map(|s| s.to_le_bytes()));
        }
    }
    std::fs::write(dst, bytes).unwrap();
}

fn y4m_header(path: &Path) -> mica_io::y4m::Y4mHeader {
    mica_io::y4m::Y4mReader::new(std::fs::File::open(path).unwrap())
        .unwrap()
        .header()
        .clone()
}

/// A 10-bit clip (odd size) round-trips: the decoder's output file equals
/// the encoder's reconstruction and both print the same MD5, at a negative
/// QP (allowed at 10 bits) and at an ordinary one; the output is 10-bit y4m.
#[test]
fn ten_bit_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ten.y4m");
    write_ten_bit(&src, 67, 37, 3, "");
    let ivf = dir.path().join("ten.ivf");
    let recon = dir.path().join("recon.y4m");
    let out = dir.path().join("dec.y4m");
    for qp in ["-6", "32"] {
        let o = run(enc()
            .arg(&src)
            .arg("-o")
            .arg(&ivf)
            .args(["--qp", qp, "--md5", "-q", "--recon"])
            .arg(&recon));
        assert!(o.status.success(), "{}", stderr(&o));
        let enc_md5 = stdout(&o);
        let o = run(dec().arg(&ivf).arg("-o").arg(&out).arg("--md5"));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), enc_md5, "--qp {qp}");
        assert!(std::fs::read(&recon).unwrap() == std::fs::read(&out).unwrap());
        let h = y4m_header(&out);
        assert_eq!((h.bit_depth(), h.width, h.height), (10, 67, 37));
        // The source's depth is the coded one here: the same output.
        let o = run(dec().arg(&ivf).args(["--md5", "--output-depth", "source"]));
        assert_eq!(stdout(&o), enc_md5);
    }
    // Coded at 8 bits: the stream is 8-bit, the source depth 10.
    let o = run(enc().arg(&src).arg("-o").arg(&ivf).args([
        "--bit-depth",
        "8",
        "--md5",
        "-q",
        "--recon-depth",
        "stream",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o8 = run(dec().arg(&ivf).arg("-o").arg(&out).arg("--md5"));
    assert_eq!(stdout(&o8), stdout(&o));
    assert_eq!(y4m_header(&out).bit_depth(), 8);
}

/// 8-bit video coded at 10 bits: `micadec --output-depth source` gives 8-bit
/// y4m equal to the encoder's reconstruction (at the source's depth by
/// default); plain `micadec` gives the 10-bit stream, equal to `micaenc
/// --recon-depth stream`.
#[test]
fn eight_bit_coded_at_ten_bits() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cut.y4m");
    write_cut(&sample("city_720x400_6f.y4m"), &src, 96, 64, 2);
    let ivf = dir.path().join("cut.ivf");
    let recon = dir.path().join("recon.y4m");
    let out = dir.path().join("dec.y4m");
    let o = run(enc()
        .arg(&src)
        .arg("-o")
        .arg(&ivf)
        .args(["--bit-depth", "10", "--qp", "30", "--md5", "-q", "--recon"])
        .arg(&recon));
    assert!(o.status.success(), "{}", stderr(&o));
    let enc_md5 = stdout(&o);
    let d = run(dec()
        .arg(&ivf)
        .arg("-o")
        .arg(&out)
        .args(["--md5", "--output-depth", "source"]));
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(stdout(&d), enc_md5);
    assert!(std::fs::read(&recon).unwrap() == std::fs::read(&out).unwrap());
    let (h, source) = (y4m_header(&out), y4m_header(&src));
    assert_eq!(h.bit_depth(), 8);
    assert_eq!(h.colorspace, source.colorspace);

    let o = run(enc().arg(&src).arg("-o").arg(&ivf).args([
        "--bit-depth",
        "10",
        "--qp",
        "30",
        "--md5",
        "-q",
        "--recon-depth",
        "stream",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let d = run(dec().arg(&ivf).arg("-o").arg(&out).arg("--md5"));
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(stdout(&d), stdout(&o));
    assert_ne!(stdout(&d), enc_md5);
    assert_eq!(y4m_header(&out).bit_depth(), 10);
}

/// Colour and HDR metadata given by flags, or by the input's XMICA_ tags,
/// come out of micadec in its y4m header; flags override tags.
#[test]
fn hdr_metadata_from_flags_and_tags() {
    use mica::{ColourDescription, ContentLight, MasteringDisplay};
    let dir = tempfile::tempdir().unwrap();
    let ivf = dir.path().join("hdr.ivf");
    let out = dir.path().join("dec.y4m");
    let decoded = |src: &Path, flags: &[&str]| {
        let o = run(enc().arg(src).arg("-o").arg(&ivf).args(["-q"]).args(flags));
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        let o = run(dec().arg(&ivf).arg("-o").arg(&out));
        assert!(o.status.success(), "{}", stderr(&o));
        y4m_header(&out)
    };
    let hdr10 = MasteringDisplay {
        primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
        white_point: [15635, 16450],
        max_luminance: 10_000_000,
        min_luminance: 1,
    };
    let light = ContentLight {
        max_cll: 1000,
        max_fall: 400,
    };
    let bt2020_pq = ColourDescription {
        primaries: 9,
        transfer: 16,
        matrix: 9,
    };

    let plain = dir.path().join("plain.y4m");
    write_ten_bit(&plain, 32, 16, 1, "");
    let h = decoded(&plain, &[]);
    assert_eq!(
        (h.colour, h.mastering_display, h.content_light),
        (None, None, None)
    );
    let h = decoded(
        &plain,
        &[
            "--colour-primaries",
            "bt2020",
            "--transfer",
            "smpte2084",
            "--matrix",
            "9",
            "--master-display",
            HDR10_MASTERING,
            "--max-cll",
            "1000,400",
        ],
    );
    assert_eq!(h.colour, Some(bt2020_pq));
    assert_eq!(h.mastering_display, Some(hdr10));
    assert_eq!(h.content_light, Some(light));
    // One colour option alone: the others unspecified (2).
    let h = decoded(&plain, &["--transfer", "hlg"]);
    assert_eq!(
        h.colour,
        Some(ColourDescription {
            primaries: 2,
            transfer: 18,
            matrix: 2
        })
    );

    let tagged = dir.path().join("tagged.y4m");
    write_ten_bit(
        &tagged,
        32,
        16,
        1,
        &format!(" XMICA_COLOUR=9,16,9 XMICA_MASTERING={HDR10_MASTERING} XMICA_CLL=1000,400"),
    );
    let h = decoded(&tagged, &[]);
    assert_eq!(
        (h.colour, h.mastering_display, h.content_light),
        (Some(bt2020_pq), Some(hdr10), Some(light))
    );
    // Flags override the tags, field by field for the colour description.
    let h = decoded(
        &tagged,
        &[
            "--transfer",
            "bt709",
            "--max-cll",
            "500,100",
            "--master-display",
            "G(1,2)B(3,4)R(5,6)WP(7,8)L(90,9)",
        ],
    );
    assert_eq!(
        h.colour,
        Some(ColourDescription {
            transfer: 1,
            ..bt2020_pq
        })
    );
    assert_eq!(
        h.content_light,
        Some(ContentLight {
            max_cll: 500,
            max_fall: 100
        })
    );
    assert_eq!(
        h.mastering_display,
        Some(MasteringDisplay {
            primaries: [[1, 2], [3, 4], [5, 6]],
            white_point: [7, 8],
            max_luminance: 90,
            min_luminance: 9,
        })
    );
    // The tags survive coding 10-bit video at 8 bits and back to the source depth.
    let h = decoded(&tagged, &["--bit-depth", "8"]);
    assert_eq!((h.bit_depth(), h.colour), (8, Some(bt2020_pq)));
}

/// Bad colour and HDR options exit 2 naming the option; a QP the coded depth
/// does not allow exits 2 naming --qp; malformed XMICA_ tags, 12-bit input
/// and 10-bit samples above 1023 fail as bad input (exit 1) naming the
/// problem. None leaves an output file.
#[test]
fn bad_hdr_options_and_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ten.y4m");
    write_ten_bit(&src, 32, 16, 2, "");
    let ivf = dir.path().join("out.ivf");
    let recon = dir.path().join("recon.y4m");
    let encode = |input: &Path, flags: &[&str]| {
        run(enc()
            .arg(input)
            .arg("-o")
            .arg(&ivf)
            .arg("--recon")
            .arg(&recon)
            .arg("-q")
            .args(flags))
    };
    for (flags, named) in [
        (
            &["--master-display", "G(13250,34500)B(7500,3000)"][..],
            "--master-display",
        ),
        (
            &[
                "--master-display",
                &HDR10_MASTERING.replace("13250", "50001"),
            ],
            "--master-display",
        ),
        (
            &[
                "--master-display",
                &HDR10_MASTERING.replace("L(10000000,1)", "L(5,5)"),
            ],
            "--master-display",
        ),
        (&["--max-cll", "1000"], "--max-cll"),
        (&["--max-cll", "1000,-1"], "--max-cll"),
        (&["--max-cll", "cll,fall"], "--max-cll"),
        (&["--colour-primaries", "bt2021"], "--colour-primaries"),
        (&["--transfer", "256"], "--transfer"),
        (&["--matrix", "ycgco-x"], "--matrix"),
        (&["--bit-depth", "12"], "--bit-depth"),
        (&["--qp", "-13"], "--qp"),
        (&["--bit-depth", "8", "--qp", "-1"], "--qp -1"),
    ] {
        let o = encode(&src, flags);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{flags:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // 8-bit input is coded at 8 bits unless told otherwise: no negative QP.
    let eight = dir.path().join("eight.y4m");
    write_cut(&sample("still_chelsea_448x296.y4m"), &eight, 32, 16, 1);
    let o = encode(&eight, &["--qp", "-6"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--qp -6"), "{}", stderr(&o));

    let bytes = std::fs::read(&src).unwrap();
    let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let with_header = |line: &str| {
        let mut v = line.as_bytes().to_vec();
        v.extend_from_slice(&bytes[header_len..]);
        v
    };
    let line = String::from_utf8(bytes[..header_len - 1].to_vec()).unwrap();
    let bad = dir.path().join("bad.y4m");
    for (input, named) in [
        (with_header(&format!("{line} XMICA_CLL=1000\n")), "XMICA_CLL"),
        (with_header(&format!("{line} XMICA_COLOUR=9,pq,9\n")), "XMICA_COLOUR"),
        (
            with_header(&format!(
                "{line} XMICA_MASTERING=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(1,1)\n"
            )),
            "XMICA_MASTERING",
        ),
        (
            with_header(&format!(
                "{line} XMICA_MASTERING=G(60000,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(9,1)\n"
            )),
            "XMICA_MASTERING",
        ),
        (with_header(&format!("{line} XMICA_COLOR=9,16,9\n")), "XMICA_COLOR"),
        (
            with_header(&(line.replace("C420p10 XYSCSS=420P10", "C420p12 XYSCSS=420P12") + "\n")),
            "C420p12 has 12-bit samples",
        ),
        (
            with_header(&(line.replace("C420p10", "C420") + "\n")),
            "XYSCSS=420P10",
        ),
        (
            {
                // Frame 1, plane V, last sample: 1024.
                let mut v = bytes.clone();
                let n = v.len();
                v[n - 2..].copy_from_slice(&1024u16.to_le_bytes());
                v
            },
            "frame 1: sample 1024 at (x 15, y 7) of plane V",
        ),
    ] {
        std::fs::write(&bad, &input).unwrap();
        let o = encode(&bad, &[]);
        assert_eq!(o.status.code(), Some(1), "{named}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{named}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    assert_eq!(
        only_file(dir.path()),
        ["bad.y4m", "eight.y4m", "ten.y4m"],
        "no output may be left behind"
    );
}

/// `mica-model peak` measures the machine's multiply-accumulate peak, and
/// `bench` times the loop filter's networks on their fast path (a chain)
/// against it.
#[test]
fn model_bench_reports_the_chain_against_the_measured_peak() {
    let o = run(mica_model().args(["peak", "--threads", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let peak = stdout(&o);
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/loopfilter/loopfilter.micanet"
    );
    let o = run(mica_model().arg("bench").arg(model).args([
        "--size",
        "64x48",
        "--runs",
        "1",
        "--threads",
        "1",
        "--output",
        "0",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("engine") && out.contains("chain (the loop filter's path)"),
        "{out}"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(
            peak.contains("GMAC/s on 1 threads: int16 vpmaddwd"),
            "{peak}"
        );
        assert!(out.contains("% of the measured peak"), "{out}");
    }
    let _ = peak;
}

/// Two passes meet a target on a short cut (the first pass's statistics
/// name every frame at two QPs), and every bad rate option or statistics
/// file is refused with exit status 1, a message naming it and no output
/// left behind.
#[test]
fn rate_control_two_passes_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cut.y4m");
    write_sliding_cut(&sample("city_720x400_6f.y4m"), &src, 128, 96, 12, 1);
    let stats = dir.path().join("pass.stats");
    let ivf = dir.path().join("two.ivf");
    first_pass_at_150(&src, &stats);
    let text = std::fs::read_to_string(&stats).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("frame ")).count(), 12);
    assert!(text
        .lines()
        .filter(|l| l.starts_with("frame "))
        .all(|l| l.split(' ').count() == 10));
    let second = run(enc()
        .arg(&src)
        .arg("-o")
        .arg(&ivf)
        .args(["--bitrate", "150", "--pass", "2", "--stats"])
        .arg(&stats)
        .arg("--md5"));
    assert!(second.status.success(), "{}", stderr(&second));
    let d = run(dec().arg(&ivf).arg("--md5"));
    assert_eq!(
        stdout(&second),
        stdout(&d),
        "the second pass decodes to its MD5"
    );
    let bytes = std::fs::metadata(&ivf).unwrap().len() - 32 - 12 * 12;
    let kbps = bytes as f64 * 8.0 / (12.0 / 25.0) / 1000.0;
    assert!((kbps / 150.0 - 1.0).abs() < 0.25, "{kbps} kbit/s for 150");
    // The per-frame log: a header and a line per frame whose bits add up.
    let csv = dir.path().join("frames.csv");
    let o = run(enc()
        .arg(&src)
        .arg("-o")
        .arg(&ivf)
        .args(["--qp", "37", "--stats-csv"])
        .arg(&csv));
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        "frame,keyframe,base_qp,qp,bits,psnr_y,psnr_u,psnr_v,buffer_bits"
    );
    assert_eq!(lines.len(), 13);
    let bits: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(4).unwrap().parse::<u64>().unwrap())
        .sum();
    let coded = std::fs::metadata(&ivf).unwrap().len() - 32 - 12 * 12;
    assert_eq!(bits, coded * 8);
    assert!(lines[1..].iter().all(|l| l.split(',').nth(2) == Some("37")));

    let out = dir.path().join("out.ivf");
    let refused = |args: &[&str], stats_file: Option<&Path>, what: &str| {
        let mut cmd = enc();
        cmd.arg(&src).arg("-o").arg(&out).args(args);
        if let Some(s) = stats_file {
            cmd.arg("--stats").arg(s);
        }
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(what), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} left an output");
    };
    for rate in ["0", "-5", "1e9", "NaN"] {
        refused(&["--bitrate", rate], None, "--bitrate");
    }
    refused(&["--bitrate", "100", "--qp", "30"], None, "conflict");
    refused(&["--bitrate", "100"], None, "two passes");
    refused(&["--pass", "2"], Some(&stats), "needs --bitrate");
    refused(&["--bitrate", "100", "--pass", "2"], None, "needs --stats");
    refused(&["--bitrate", "100"], Some(&stats), "--stats needs --pass");
    let missing = dir.path().join("missing.stats");
    refused(
        &["--bitrate", "100", "--pass", "2"],
        Some(&missing),
        "cannot read",
    );
    let truncated = dir.path().join("truncated.stats");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    refused(
        &["--bitrate", "100", "--pass", "2"],
        Some(&truncated),
        "truncated",
    );
    // Other settings: a group length the first pass did not use.
    refused(
        &["--bitrate", "100", "--pass", "2", "--gop-size", "8"],
        Some(&stats),
        "other settings",
    );
    // Another input of the same size.
    let other = dir.path().join("other.y4m");
    write_cut(&sample("still_chelsea_448x296.y4m"), &other, 128, 96, 12);
    let o = run(enc()
        .arg(&other)
        .arg("-o")
        .arg(&out)
        .args(["--bitrate", "100", "--pass", "2", "--stats"])
        .arg(&stats));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("another input"), "{}", stderr(&o));
    assert!(!out.exists());
    // Fewer frames than the first pass saw.
    refused(
        &["--bitrate", "100", "--pass", "2", "--limit", "6"],
        Some(&stats),
        "other settings",
    );
}

/// Runs `micaenc --pass 1` on `src` for 150 kbit/s, writing `stats`.
fn first_pass_at_150(src: &Path, stats: &Path) {
    let first = run(enc()
        .arg(src)
        .args([
            "-o",
            "/dev/null",
            "--bitrate",
            "150",
            "--pass",
            "1",
            "--stats",
        ])
        .arg(stats));
    assert!(first.status.success(), "{}", stderr(&first));
}

/// The coded frames' sizes in bytes, read from an IVF file (32-byte file
/// header, then a 12-byte header before each frame).
fn ivf_frame_sizes(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut sizes = Vec::new();
    let mut at = 32;
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        sizes.push(size);
        at += 12 + size as usize;
    }
    assert_eq!(at, bytes.len(), "the IVF file ends after its last frame");
    sizes
}

/// A leaky bucket simulated on the coded sizes (VBR: it fills at `kbps`
/// until full, starts `init` full, a frame leaves every frame interval in
/// coding order): the level just after each frame left, in bits.
fn bucket_levels(sizes: &[u64], kbps: f64, size_kbits: f64, init: f64, fps: f64) -> Vec<f64> {
    let size = size_kbits * 1000.0;
    let mut level = init * size;
    sizes
        .iter()
        .map(|&bytes| {
            let after = level - bytes as f64 * 8.0;
            level = (after.max(0.0) + kbps * 1000.0 / fps).min(size);
            after
        })
        .collect()
}

/// Constant quality codes as fixed QP does at a whole level and between two
/// levels at a fractional one; with --maxrate/--bufsize the coded sizes never
/// take more than the buffer holds (simulated here on the IVF file, and as
/// the per-frame log reports it), in two passes and capped constant
/// quality, with buffers tight enough that frames are coded again.
#[test]
fn constant_quality_and_buffer_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cut.y4m");
    write_sliding_cut(&sample("city_720x400_6f.y4m"), &src, 128, 96, 12, 1);
    let encode = |name: &str, args: &[&str]| -> (Output, PathBuf) {
        let ivf = dir.path().join(name);
        let o = run(enc().arg(&src).arg("-o").arg(&ivf).args(args));
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        (o, ivf)
    };
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    let (_, qp30) = encode("qp30.ivf", &["--qp", "30"]);
    let (_, crf30) = encode("crf30.ivf", &["--crf", "30"]);
    assert_eq!(bytes(&qp30), bytes(&crf30), "--crf 30 codes as --qp 30");
    let (_, qp31) = encode("qp31.ivf", &["--qp", "31"]);
    let (_, half) = encode("crf30.5.ivf", &["--crf", "30.5"]);
    let len = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        len(&qp31) < len(&half) && len(&half) < len(&qp30),
        "{} {} {}",
        len(&qp31),
        len(&half),
        len(&qp30)
    );

    // Buffers: (arguments, max rate, size); 25 frames/s.
    let stats = dir.path().join("pass.stats");
    first_pass_at_150(&src, &stats);
    let stats = stats.to_str().unwrap();
    let cases: [(&[&str], f64, f64); 3] = [
        (
            &["--bitrate", "150", "--pass", "2", "--stats", stats],
            200.0,
            60.0,
        ),
        (&["--crf", "20"], 150.0, 50.0),
        (&["--crf", "30"], 50.0, 15.0),
    ];
    for (i, (args, maxrate, bufsize)) in cases.iter().enumerate() {
        let csv = dir.path().join(format!("frames{i}.csv"));
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--maxrate".to_string(),
            maxrate.to_string(),
            "--bufsize".to_string(),
            bufsize.to_string(),
            "--stats-csv".to_string(),
            csv.to_str().unwrap().to_string(),
        ]);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let (o, ivf) = encode(&format!("buffer{i}.ivf"), &all);
        assert!(stderr(&o).contains("buffer: lowest"), "{}", stderr(&o));
        let sizes = ivf_frame_sizes(&ivf);
        assert_eq!(sizes.len(), 12);
        let levels = bucket_levels(&sizes, *maxrate, *bufsize, 0.9, 25.0);
        let lowest = levels.iter().cloned().fold(f64::MAX, f64::min);
        assert!(lowest >= 0.0, "{args:?}: the buffer ran dry: {levels:?}");
        // The log reports the same levels.
        let log = std::fs::read_to_string(&csv).unwrap();
        let logged: Vec<f64> = log
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(8).unwrap().parse().unwrap())
            .collect();
        assert_eq!(logged.len(), levels.len());
        for (a, b) in logged.iter().zip(&levels) {
            assert!(
                (a - b.floor()).abs() <= 1.0,
                "{args:?}: {logged:?} {levels:?}"
            );
        }
        // Without the buffer the same settings run it dry: the case bites.
        if !args.contains(&"--pass") {
            let (_, free) = encode("free.ivf", args);
            let sizes = ivf_frame_sizes(&free);
            let levels = bucket_levels(&sizes, *maxrate, *bufsize, 0.9, 25.0);
            assert!(
                levels.iter().any(|&l| l < 0.0),
                "{args:?} keeps to the buffer unconstrained: {sizes:?}"
            );
        }
        let d = run(dec().arg(&ivf).arg("--md5"));
        assert!(d.status.success(), "{}", stderr(&d));
    }

    let out = dir.path().join("out.ivf");
    let refused = |args: &[&str], what: &str| {
        let o = run(enc().arg(&src).arg("-o").arg(&out).args(args));
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(what), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} left an output");
    };
    for crf in ["52", "-1", "NaN", "inf"] {
        refused(&["--crf", crf], "--crf");
    }
    refused(&["--crf", "30", "--qp", "30"], "conflict");
    refused(&["--crf", "30", "--bitrate", "100"], "conflict");
    refused(&["--crf", "30", "--pass", "1"], "one pass");
    refused(&["--crf", "30", "--maxrate", "100"], "needs --bufsize");
    refused(&["--crf", "30", "--bufsize", "100"], "needs --maxrate");
    refused(
        &["--qp", "30", "--maxrate", "100", "--bufsize", "100"],
        "fixed QP",
    );
    refused(&["--maxrate", "100", "--bufsize", "100"], "fixed QP");
    for rate in ["0", "-3", "1e9", "NaN"] {
        refused(
            &["--crf", "30", "--maxrate", rate, "--bufsize", "100"],
            "--maxrate",
        );
    }
    for size in ["0", "-1", "NaN", "inf"] {
        refused(
            &["--crf", "30", "--maxrate", "100", "--bufsize", size],
            "--bufsize",
        );
    }
    // Less than a frame interval's filling (4 kbit at 100 kbit/s, 25 fps).
    refused(
        &["--crf", "30", "--maxrate", "100", "--bufsize", "3"],
        "buffer model",
    );
    // A buffer no keyframe fits in even at QP 51 (50 bits).
    refused(
        &["--crf", "30", "--maxrate", "1", "--bufsize", "0.05"],
        "too small for this content",
    );
    refused(&["--crf", "30", "--buffer-init", "0.5"], "needs --maxrate");
    for init in ["0", "1.5", "-0.5", "NaN", "inf"] {
        refused(
            &[
                "--crf",
                "30",
                "--maxrate",
                "100",
                "--bufsize",
                "100",
                "--buffer-init",
                init,
            ],
            "--buffer-init",
        );
    }
    refused(
        &[
            "--bitrate",
            "300",
            "--pass",
            "2",
            "--stats",
            stats,
            "--maxrate",
            "200",
            "--bufsize",
            "100",
        ],
        "below --bitrate",
    );
}

/// The progress display stays off standard error when that is not a
/// terminal (here a pipe): the encoder prints its summary alone, the decoder
/// nothing.
#[test]
fn no_progress_display_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cut.y4m");
    write_cut(&sample("still_chelsea_448x296.y4m"), &src, 64, 48, 3);
    let ivf = dir.path().join("cut.ivf");
    let e = run(enc().arg(&src).arg("-o").arg(&ivf).args(["--qp", "40"]));
    assert!(e.status.success(), "{}", stderr(&e));
    let text = stderr(&e);
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(
        text.starts_with("3 frames, ") && !text.contains(['\r', '\u{1b}']),
        "{text:?}"
    );
    let d = run(dec().arg(&ivf).arg("--md5"));
    assert!(d.status.success());
    assert_eq!(stderr(&d), "");
}

fn join() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mica-join"))
}

/// Chunked encoding joins exactly: a clip cut into four chunks at forced
/// keyframes, each coded on its own (`--start`/`--limit`, or from its own
/// file numbered from 0) and joined by mica-join, is byte for byte the
/// one-process encode with the same keyframes (`--force-keyframes`), for
/// random access (temporal filter, adaptive groups) and low delay; the
/// joined stream decodes to that encode's MD5. Chunks that cannot join
/// are refused with exit 1 and no output.
#[test]
fn chunks_join_to_the_one_process_encode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = d.join("clip.y4m");
    write_sliding_cut(&sample("city_720x400_6f.y4m"), &clip, 128, 64, 40, 1);
    let starts = [0u32, 10, 20, 33];
    let keyframes = "0,10,20,33";
    let ranges: Vec<(u32, u32)> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&40]))
        .map(|(&a, &b)| (a, b - a))
        .collect();
    for gop in ["random-access", "low-delay"] {
        let whole = d.join(format!("whole-{gop}.ivf"));
        let o = run(enc()
            .arg(&clip)
            .arg("-o")
            .arg(&whole)
            .args(["--gop", gop, "--qp", "34", "-q", "--md5"])
            .args(["--force-keyframes", keyframes]));
        assert!(o.status.success(), "{}", stderr(&o));
        let whole_md5 = stdout(&o);
        let mut chunks = Vec::new();
        for &(start, frames) in &ranges {
            let chunk = d.join(format!("{gop}-{start}.ivf"));
            let o = run(enc()
                .arg(&clip)
                .arg("-o")
                .arg(&chunk)
                .args(["--gop", gop, "--qp", "34", "-q"])
                .args([
                    "--start",
                    &start.to_string(),
                    "--limit",
                    &frames.to_string(),
                ]));
            assert!(o.status.success(), "{}", stderr(&o));
            chunks.push(chunk);
        }
        let joined = d.join(format!("joined-{gop}.ivf"));
        let o = run(join().args(&chunks).arg("-o").arg(&joined).arg("-q"));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            std::fs::read(&joined).unwrap() == std::fs::read(&whole).unwrap(),
            "{gop}: the joined chunks are the one-process encode"
        );
        let o = run(dec().arg(&joined).arg("--md5"));
        assert_eq!(stdout(&o), whole_md5, "{gop}");
    }

    // Chunks cut into files of their own, numbered from 0: random access
    // decides nothing from absolute numbers, so they join the same.
    let mut reader = mica_io::y4m::Y4mReader::new(std::fs::File::open(&clip).unwrap()).unwrap();
    let header = reader.header().clone();
    let frames: Vec<mica::Frame> = std::iter::from_fn(|| reader.read_frame().unwrap()).collect();
    let mut chunks = Vec::new();
    for &(start, n) in &ranges {
        let part = d.join(format!("part-{start}.y4m"));
        let mut w =
            mica_io::y4m::Y4mWriter::new(std::fs::File::create(&part).unwrap(), &header).unwrap();
        for f in &frames[start as usize..(start + n) as usize] {
            w.write_frame(f).unwrap();
        }
        w.into_inner().unwrap();
        let chunk = d.join(format!("part-{start}.ivf"));
        let o = run(enc()
            .arg(&part)
            .arg("-o")
            .arg(&chunk)
            .args(["--qp", "34", "-q"]));
        assert!(o.status.success(), "{}", stderr(&o));
        chunks.push(chunk);
    }
    let joined = d.join("joined-parts.ivf");
    let o = run(join().args(&chunks).arg("-o").arg(&joined).arg("-q"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(&joined).unwrap()
            == std::fs::read(d.join("whole-random-access.ivf")).unwrap()
    );

    // A chunk that does not start with a random access point, and one of
    // another encode (another size), are refused; nothing is written.
    let mut r = mica_io::ivf::IvfReader::new(std::fs::File::open(&chunks[1]).unwrap()).unwrap();
    let ivf_header = r.header().clone();
    let packets: Vec<_> = std::iter::from_fn(|| r.next_frame().unwrap()).collect();
    let headless = d.join("headless.ivf");
    let mut w =
        mica_io::ivf::IvfWriter::new(std::fs::File::create(&headless).unwrap(), &ivf_header)
            .unwrap();
    for p in &packets[1..] {
        w.write_frame(&p.data, p.pts).unwrap();
    }
    w.finish().unwrap();
    let small = d.join("small.y4m");
    write_cut(&sample("city_720x400_6f.y4m"), &small, 64, 64, 2);
    let other = d.join("other.ivf");
    assert!(run(enc().arg(&small).arg("-o").arg(&other).arg("-q"))
        .status
        .success());
    for (bad, want) in [
        (&headless, "does not start with a keyframe"),
        (&other, "another sequence header"),
    ] {
        let out = d.join("refused.ivf");
        let o = run(join().arg(&chunks[0]).arg(bad).arg("-o").arg(&out));
        assert_eq!(o.status.code(), Some(1), "{want}");
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!out.exists(), "no output left after a refusal");
    }
}
