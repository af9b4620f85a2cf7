//! End-to-end checks on tiny synthetic clips: Mica and rav1e in process, a
//! command-line codec made of coreutils (no ffmpeg needed), the failure of a
//! point whose decoder drops a frame, and the `bd-rate` subcommand.

use mica::Frame;
use mica_io::y4m::{Y4mHeader, Y4mWriter};
use mica_rd::codecs::{Clip, Codec, Rav1eDecode, RunOpts};
use mica_rd::external::parse_codecs;
use mica_rd::metrics::{YuvWeights, PSNR_CAP};
use mica_rd::results::{FrameRow, Row};
use mica_rd::runner::{measure, MeasureOpts};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A moving gradient with some texture, `n` frames of `w`x`h`.
fn frames(w: usize, h: usize, n: usize) -> Vec<Frame> {
    (0..n)
        .map(|t| {
            let mut f = Frame::new_420(w, h);
            for (p, plane) in f.planes.iter_mut().enumerate() {
                let (pw, ph) = (plane.width, plane.height);
                for y in 0..ph {
                    for x in 0..pw {
                        let v = (x * 3 + y * 2 + t * 5 + p * 40) as f64;
                        plane.data[y * pw + x] =
                            (128.0 + 50.0 * (v * 0.07).sin() + ((x * 13 + y * 7) % 11) as f64)
                                as u16;
                    }
                }
            }
            f
        })
        .collect()
}

fn write_clip(dir: &Path, name: &str, w: usize, h: usize, n: usize) -> Clip {
    let path = dir.join(format!("{name}.y4m"));
    let hdr = Y4mHeader::new(w, h, 25, 1);
    let mut wr = Y4mWriter::new(std::fs::File::create(&path).unwrap(), &hdr).unwrap();
    for f in frames(w, h, n) {
        wr.write_frame(&f).unwrap();
    }
    wr.into_inner().unwrap();
    Clip::load(&path).unwrap()
}

fn opts(dir: &Path) -> MeasureOpts {
    MeasureOpts {
        run: RunOpts {
            threads: 1,
            tmp: dir.to_path_buf(),
        },
        weights: YuvWeights::W611,
        msssim: true,
    }
}

#[test]
fn mica_point_is_decoded_checked_and_measured() {
    let dir = tempfile::tempdir().unwrap();
    let clip = write_clip(dir.path(), "grad", 64, 48, 3);
    let (row, frames) = measure(&Codec::mica(), &clip, 30, None, &opts(dir.path()));
    assert_eq!(row.status, "ok", "{}", row.error);
    assert_eq!(frames.len(), 3);
    assert!(row.bytes > 0 && row.file_bytes == row.bytes + 32 + 12 * 3);
    assert!((row.kbps - row.bytes as f64 * 8.0 * 25.0 / 3.0 / 1000.0).abs() < 1e-9);
    assert!(row.psnr_y > 25.0 && row.psnr_y < PSNR_CAP, "{}", row.psnr_y);
    assert!(frames.iter().all(|f| f.bytes.is_some()));
    assert!(
        row.msssim_y.is_nan(),
        "64x48 is too small for 5-scale MS-SSIM"
    );
    assert!(row.decoder.contains("reconstruction"));
    // Out-of-range settings fail the point, not the run.
    let (bad, _) = measure(&Codec::mica(), &clip, 60, None, &opts(dir.path()));
    assert_eq!(bad.status, "error");
    assert!(bad.error.contains("outside"), "{}", bad.error);
}

#[test]
fn rav1e_point_with_its_reconstruction() {
    let dir = tempfile::tempdir().unwrap();
    let clip = write_clip(dir.path(), "grad", 64, 64, 2);
    let (row, _) = measure(
        &Codec::rav1e(10, Rav1eDecode::Recon),
        &clip,
        100,
        None,
        &opts(dir.path()),
    );
    assert_eq!(row.status, "ok", "{}", row.error);
    assert!(row.bytes > 0 && row.psnr_y > 25.0, "{row:?}");
    assert!(row.settings.contains("speed 10") && row.settings.contains("quantizer 100"));
}

/// Measures `clip` through the coreutils codec whose stream is the y4m
/// itself (`cat FILE -` prints FILE then standard input, which is empty).
fn measure_lossless_copy(clip: &Clip, dir: &Path) -> (Row, Vec<FrameRow>) {
    measure(
        &coreutils_codec("cat {input} {output}"),
        clip,
        1,
        None,
        &opts(dir),
    )
}

fn coreutils_codec(decode: &str) -> Codec {
    let text = format!(
        r#"[[codec]]
name = "copy"
label = "y4m copy"
param = "q"
points = [1]
range = [0, 9]
encode = "sh -c 'cp \"$0\" \"$1\"; : $2' {{input}} {{output}} {{q}}"
suffix = "y4m"
decode = '''{decode}'''
decoder = "coreutils"
"#
    );
    Codec::external(parse_codecs(&text).unwrap().remove(0))
}

#[test]
fn external_codec_from_a_config_entry() {
    if mica_rd::external::find_program("sh").is_none() {
        println!("note: no sh; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = write_clip(dir.path(), "grad", 32, 32, 3);
    // A lossless "codec" (see `measure_lossless_copy`).
    let (row, frames) = measure_lossless_copy(&clip, dir.path());
    assert_eq!(row.status, "ok", "{}", row.error);
    assert_eq!(row.psnr_y, PSNR_CAP);
    assert_eq!(frames.len(), 3);
    assert_eq!(row.bytes, std::fs::metadata(&clip.path).unwrap().len());
    assert!(
        row.settings.starts_with("sh -c") && row.settings.contains("OUT.y4m"),
        "{}",
        row.settings
    );
}

/// `--frames N`: a longer clip is cut to its first N frames under a name of
/// its own, for in-process and command-line codecs alike; shorter ones stay.
#[test]
fn a_frame_limit_cuts_longer_clips() {
    let dir = tempfile::tempdir().unwrap();
    let whole = write_clip(dir.path(), "grad", 32, 32, 5);
    let clip = Clip::load_first(&whole.path, 2, dir.path()).unwrap();
    assert!(clip.is_cut());
    assert_eq!(clip.name, "grad-first2");
    assert_eq!(clip.frames[..], whole.frames[..2]);
    // What external codecs read holds exactly those frames.
    let file = Clip::load(&clip.path).unwrap();
    assert_eq!(file.frames, clip.frames);
    assert_eq!((file.fps_num, file.fps_den), (whole.fps_num, whole.fps_den));
    let (row, frames) = measure(&Codec::mica(), &clip, 37, None, &opts(dir.path()));
    assert_eq!(row.status, "ok", "{}", row.error);
    assert_eq!((row.clip.as_str(), frames.len()), ("grad-first2", 2));
    if mica_rd::external::find_program("sh").is_some() {
        let (row, frames) = measure_lossless_copy(&clip, dir.path());
        assert_eq!(row.status, "ok", "{}", row.error);
        assert_eq!((frames.len(), row.psnr_y), (2, PSNR_CAP));
    }
    let cut_file = clip.path.clone();
    drop(clip);
    assert!(!cut_file.exists(), "the cut is removed with the clip");
    for limit in [5, 9] {
        let c = Clip::load_first(&whole.path, limit, dir.path()).unwrap();
        assert!(!c.is_cut());
        assert_eq!((c.name.as_str(), c.frames.len()), ("grad", 5));
        assert_eq!(c.path, whole.path);
    }
    assert!(Clip::load_first(&whole.path, 0, dir.path()).is_err());
}

#[test]
fn a_decoder_that_drops_a_frame_fails_the_point() {
    if mica_rd::external::find_program("sh").is_none() {
        println!("note: no sh; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = write_clip(dir.path(), "grad", 32, 32, 3);
    let header = std::fs::read(&clip.path)
        .unwrap()
        .iter()
        .position(|&b| b == b'\n')
        .unwrap()
        + 1;
    let two_frames = header + 2 * (6 + 32 * 32 * 3 / 2);
    let dec = format!("sh -c 'head -c {two_frames} \"$0\"' {{input}} {{output}}");
    let (row, _) = measure(&coreutils_codec(&dec), &clip, 1, None, &opts(dir.path()));
    assert_eq!(row.status, "error");
    assert!(
        row.error.contains("decoded 2 frames") && row.error.contains("has 3"),
        "{}",
        row.error
    );
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mica-rd"))
}

#[test]
fn bd_rate_subcommand_on_csv_files() {
    // rd-vectors.json "bbb_640x360_24fps_60f:x265_vs_x264"-style data written as CSV with extra columns.
    let dir = tempfile::tempdir().unwrap();
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rd-vectors.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for v in doc["vectors"].as_array().unwrap().iter().take(3) {
        let write = |name: &str, pts: &serde_json::Value| {
            let p = dir.path().join(name);
            let mut s = String::from("codec,q,kbps,psnr,note\n");
            for (i, pt) in pts.as_array().unwrap().iter().enumerate() {
                s.push_str(&format!("c,{i},{},{},x\n", pt[0], pt[1]));
            }
            std::fs::write(&p, s).unwrap();
            p
        };
        let a = write("a.csv", &v["anchor"]);
        let t = write("t.csv", &v["test"]);
        let out = Command::new(bin())
            .args(["bd-rate", "--anchor"])
            .arg(&a)
            .arg("--test")
            .arg(&t)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with("BD-rate:")).unwrap();
        let got: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let want = v["bd_rate_percent"].as_f64().unwrap();
        assert!((got - want).abs() < 0.01, "{}: {got} vs {want}", v["name"]);
    }
    // A file without the columns is refused with a clear message.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "rate,quality\n1,2\n").unwrap();
    let out = Command::new(bin())
        .args(["bd-rate", "--anchor"])
        .arg(&bad)
        .arg("--test")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no 'kbps' column"));
}

#[test]
fn run_is_resumable_and_writes_every_output() {
    if mica_rd::external::find_program("sh").is_none() {
        println!("note: no sh; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = write_clip(dir.path(), "grad", 32, 32, 2);
    let cfg = dir.path().join("copy.toml");
    std::fs::write(
        &cfg,
        r#"[[codec]]
name = "copy"
label = "y4m copy"
param = "q"
points = [1, 2]
range = [0, 9]
encode = "sh -c 'cp \"$0\" \"$1\"; : $2' {input} {output} {q}"
suffix = "y4m"
decode = "cat {input} {output}"
decoder = "coreutils"
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = || {
        Command::new(bin())
            .args([
                "run",
                "-q",
                "--codecs",
                "mica,copy",
                "--points",
                "mica=40,44",
                "--anchor",
                "copy",
                "--codecs-file",
            ])
            .arg(&cfg)
            .arg("-o")
            .arg(&out)
            .arg(&clip.path)
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "results.csv",
        "frames.csv",
        "results.json",
        "report.md",
        "plots/rd_grad_psnr_y.svg",
        "plots/rd_grad_psnr_y.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let rows: Vec<mica_rd::results::Row> =
        mica_rd::results::read_csv(&out.join("results.csv")).unwrap();
    assert_eq!(rows.len(), 4);
    let csv_before = std::fs::read(out.join("results.csv")).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("BD-rate vs y4m copy"));
    // Second run: nothing left to do, same rows.
    let o = Command::new(bin())
        .args([
            "run",
            "--codecs",
            "mica,copy",
            "--points",
            "mica=40,44",
            "--anchor",
            "copy",
            "--codecs-file",
        ])
        .arg(&cfg)
        .arg("-o")
        .arg(&out)
        .arg(&clip.path)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("0 points to run (4 already"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(out.join("results.csv")).unwrap(), csv_before);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 4);
    assert_eq!(json["points"][0]["per_frame"].as_array().unwrap().len(), 2);
    // Unknown codecs are refused; a missing external encoder is skipped with a note.
    let o = Command::new(bin())
        .args(["run", "--codecs", "nope", "-o"])
        .arg(&out)
        .arg(&clip.path)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("unknown codec 'nope'")
    );
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("name = \"copy\"", "name = \"ghost\"")
            .replace("sh -c", "no-such-encoder-xyz -c"),
    )
    .unwrap();
    let o = Command::new(bin())
        .args([
            "run",
            "-q",
            "--codecs",
            "copy,ghost",
            "--anchor",
            "copy",
            "--codecs-file",
        ])
        .arg(&cfg)
        .arg("--codecs-file")
        .arg(&missing)
        .arg("-o")
        .arg(&out)
        .arg(&clip.path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipping codec ghost"));
}

/// CLIC through Mica's rate control, a budget for the whole set: one row
/// per clip, the clips' shares adding up to the aim (1 % under the budget)
/// over the set's duration, each coded near its share, and the set's rate
/// within the budget (clips coded again where it overshot) and near it;
/// refused without --rate-control.
#[test]
fn clic_set_budget_through_the_rate_control() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_clip(dir.path(), "grad", 64, 48, 6);
    let b = write_clip(dir.path(), "wide", 96, 64, 4);
    let out = dir.path().join("out");
    let clic = |extra: &[&str]| {
        Command::new(bin())
            .args(["clic", "-q", "--codecs", "mica", "--targets", "150"])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(&a.path)
            .arg(&b.path)
            .output()
            .unwrap()
    };
    let refused = clic(&["--set-budget"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--set-budget needs --rate-control"));
    let o = clic(&["--rate-control", "--set-budget"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<mica_rd::results::Row> =
        mica_rd::results::read_csv(&out.join("clic.csv")).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let seconds = |r: &mica_rd::results::Row| r.frames as f64 / 25.0;
    let aimed: f64 = rows.iter().map(|r| r.q as f64 * seconds(r)).sum();
    let total: f64 = rows.iter().map(seconds).sum();
    assert!(
        (aimed / total / (0.99 * 150.0) - 1.0).abs() < 0.02,
        "shares {aimed} over {total} s"
    );
    for r in &rows {
        assert_eq!(r.status, "ok", "{}", r.error);
        assert_eq!(r.param, "two-pass");
        assert!(
            (r.kbps / r.q as f64 - 1.0).abs() < 0.25,
            "{} for {}",
            r.kbps,
            r.q
        );
    }
    let rate = rows.iter().map(|r| r.bytes as f64 * 8.0).sum::<f64>() / total / 1000.0;
    assert!(rate <= 150.0 && rate > 0.8 * 150.0, "{rate} kbit/s");
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("set rate"), "{report}");
}
