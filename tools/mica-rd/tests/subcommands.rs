//! The `compare`, `peers`, `round-trip` and `speed` subcommands on small
//! hand-made inputs: CSV files whose BD-rates are known in closed form, a
//! tiny synthetic clip, and stand-in builds made of shell scripts.

use mica::{Encoder, EncoderConfig, Frame, GopStructure};
use mica_io::y4m::{Y4mHeader, Y4mWriter};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mica-rd"))
}

fn mica_rd(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Points on a straight line of log10(rate) against quality: quality
/// 30, 33, 36, 39 dB at 100, 200, 400, 800 kbit/s (q 37, 32, 27, 22).
/// PCHIP reproduces straight lines exactly, so BD-rates are known in closed
/// form: rates scaled by s at equal quality give (s - 1) × 100 %, and a
/// quality 3 dB higher at the same rates halves the rate once more.
fn line(i: usize) -> (i64, f64, f64) {
    (
        37 - 5 * i as i64,
        100.0 * 2f64.powi(i as i32),
        30.0 + 3.0 * i as f64,
    )
}

#[test]
fn compare_gives_known_bd_rates_per_clip_and_mean() {
    let dir = tempfile::tempdir().unwrap();
    let mut anchor = String::from("codec,clip,q,kbps,psnr_y,psnr_yuv,status\n");
    let mut test = String::from("codec,clip,q,kbps,psnr_y,psnr_yuv,status,extra\n");
    for (clip, scale) in [("a", 0.9), ("b", 1.25)] {
        for i in 0..4 {
            let (q, r, p) = line(i);
            anchor.push_str(&format!("ref,{clip},{q},{r},{p},{p},ok\n"));
            // Another codec in the same file, which must not count.
            anchor.push_str(&format!("other,{clip},{q},{},{p},{p},ok\n", r * 3.0));
            // Y at equal quality, YUV 3 dB better at those rates.
            test.push_str(&format!(
                "new,{clip},{q},{},{p},{},ok,x\n",
                r * scale,
                p + 3.0
            ));
        }
        // A failed point and one outside --q, which must not count either.
        test.push_str(&format!("new,{clip},42,1,20,20,error,x\n"));
        test.push_str(&format!("new,{clip},17,100000,40.5,40.5,ok,x\n"));
    }
    anchor.push_str("ref,only-anchor,22,1,30,30,ok\nref,only-anchor,27,2,31,31,ok\n");
    let a = dir.path().join("anchor.csv");
    let t = dir.path().join("test.csv");
    std::fs::write(&a, anchor).unwrap();
    std::fs::write(&t, test).unwrap();
    let (a_spec, t_spec) = (
        format!("{}:ref", path_str(&a)),
        format!("{}:new", path_str(&t)),
    );
    let o = mica_rd(&[
        "compare",
        &a_spec,
        &t_spec,
        "--metric",
        "psnr_y",
        "--metric",
        "psnr_yuv",
        "--q",
        "22,27,32,37",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let table: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(
        table,
        [
            "| clip | psnr_y | psnr_yuv |",
            "|---|---|---|",
            // 0.9 x the rate: -10 %; and 3 dB = half the rate: 0.45 x, -55 %.
            "| a | -10.00 % | -55.00 % |",
            // 1.25 x: +25 %; 0.625 x: -37.5 %.
            "| b | +25.00 % | -37.50 % |",
            "| **mean** | **+7.50 %** | **-46.25 %** |",
        ],
        "{out}"
    );
    assert!(stderr(&o).contains("only-anchor"), "{}", stderr(&o));
    // Without --q the q 17 points count, and the figures move.
    let o = mica_rd(&["compare", &a_spec, &t_spec]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("| a | -10.00 % |"), "{}", stdout(&o));
    // A codec or a column that is not there is named in the error.
    let o = mica_rd(&["compare", &a_spec, &format!("{}:nope", path_str(&t))]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no usable rows of codec 'nope'") && stderr(&o).contains("new"),
        "{}",
        stderr(&o)
    );
    let o = mica_rd(&["compare", &a_spec, &t_spec, "--metric", "msssim_y_db"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no 'msssim_y_db' column"),
        "{}",
        stderr(&o)
    );
    let o = mica_rd(&["compare", path_str(&a), &t_spec]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("FILE:CODEC"), "{}", stderr(&o));
}

#[test]
fn peers_gives_known_bd_rates_against_each_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let mut peers =
        String::from("clip,enc,q,frames,fps,bytes,kbps,enc_s,psnr_y_mean,psnr_y_global\n");
    let mut results = String::from("codec,clip,q,kbps,psnr_y,status\n");
    for i in 0..4 {
        let (q, r, p) = line(i);
        peers.push_str(&format!("a,x264,{q},8,25,0,{r},1,{p},0\n"));
        peers.push_str(&format!("z,x264,{q},8,25,0,{r},1,{p},0\n"));
        results.push_str(&format!("mica,a,{q},{},{p},ok\n", r * 0.8));
        results.push_str(&format!("rav1e,a,{q},{},{p},ok\n", r * 2.0));
    }
    peers.push_str("a,x265,22,8,25,0,500,1,35,0\n");
    let p = dir.path().join("peers.csv");
    let r = dir.path().join("results.csv");
    std::fs::write(&p, peers).unwrap();
    std::fs::write(&r, results).unwrap();
    let o = mica_rd(&[
        "peers",
        path_str(&r),
        "--peers",
        path_str(&p),
        "--anchors",
        "x264,x265,aom",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let table: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(
        table,
        [
            "| clip | vs x264 | vs x265 | vs aom |",
            "|---|---|---|---|",
            "| a | -20.0% | n/a (1 x265 point(s)) | n/a |",
            "| **mean** | **-20.0%** | n/a | n/a |",
        ],
        "{out}"
    );
    let o = mica_rd(&[
        "peers",
        path_str(&r),
        "--peers",
        path_str(&p),
        "--codec",
        "rav1e",
        "--anchors",
        "x264",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("| a | +100.0% |"), "{}", stdout(&o));
    let o = mica_rd(&["peers", path_str(&r), "--peers", "/nonexistent/peers.csv"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/peers.csv"),
        "{}",
        stderr(&o)
    );
}

/// `n` frames of a moving gradient, `w`x`h`.
fn frames(w: usize, h: usize, n: usize) -> Vec<Frame> {
    (0..n)
        .map(|t| {
            let mut f = Frame::new_420(w, h);
            for (p, plane) in f.planes.iter_mut().enumerate() {
                let pw = plane.width;
                for (i, v) in plane.data.iter_mut().enumerate() {
                    let (x, y) = (i % pw, i / pw);
                    let s = (x * 3 + y * 2 + t * 5 + p * 40) as f64;
                    *v = (128.0 + 50.0 * (s * 0.07).sin() + ((x * 13 + y * 7) % 11) as f64) as u16;
                }
            }
            f
        })
        .collect()
}

/// The MD5 of the reconstruction of a library encode (samples plane by
/// plane, frames in display order), computed here without mica-rd.
fn library_md5(header: &Y4mHeader, src: &[Frame], qp: u8, gop: GopStructure) -> String {
    let mut cfg = EncoderConfig::new(header.width, header.height);
    cfg.fps_num = header.fps_num;
    cfg.fps_den = header.fps_den;
    cfg.video_info = header.video_info();
    cfg.qp = qp as i8;
    cfg.gop = gop;
    cfg.threads = 1;
    let mut enc = Encoder::new(cfg).unwrap();
    let mut recon = BTreeMap::new();
    for f in src {
        enc.send_frame(f.clone()).unwrap();
        while let Some(p) = enc.receive_packet() {
            recon.insert(p.frame_number, p.recon);
        }
    }
    enc.flush();
    while let Some(p) = enc.receive_packet() {
        recon.insert(p.frame_number, p.recon);
    }
    assert_eq!(recon.len(), src.len());
    let mut md5 = mica_cli::SampleMd5::default();
    for f in recon.values() {
        md5.update(f);
    }
    md5.hex()
}

#[test]
fn round_trip_passes_and_prints_the_library_md5() {
    let dir = tempfile::tempdir().unwrap();
    let header = Y4mHeader::new(64, 48, 25, 1);
    let src = frames(64, 48, 3);
    let clip = dir.path().join("grad.y4m");
    let mut w = Y4mWriter::new(std::fs::File::create(&clip).unwrap(), &header).unwrap();
    for f in &src {
        w.write_frame(f).unwrap();
    }
    w.into_inner().unwrap();
    let o = mica_rd(&[
        "round-trip",
        path_str(&clip),
        "--frames",
        "all",
        "--qps",
        "37",
        "--gops",
        "random-access,low-delay",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for gop in [GopStructure::RandomAccess, GopStructure::LowDelay] {
        let name = mica_rd::roundtrip::gop_name(gop);
        let md5 = library_md5(&header, &src, 37, gop);
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("no {name} line in {out}"));
        assert!(
            line.starts_with(&format!(
                "ok   grad qp 37 medium {name} threads 1 nn-filter on nn-intra off frames 3 "
            )) && line.ends_with(&format!(" md5 {md5}")),
            "{line}"
        );
    }
    assert!(out.ends_with("2 passed, 0 failed\n"), "{out}");
    // --frames cuts the clip.
    let o = mica_rd(&[
        "round-trip",
        path_str(&clip),
        "--frames",
        "2",
        "--qps",
        "44",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(" frames 2 "), "{}", stdout(&o));
    // Bad values are refused before anything is coded.
    for bad in [
        vec!["--qps", "52"],
        vec!["--frames", "0"],
        vec!["--gops", "ra"],
    ] {
        let mut args = vec!["round-trip", path_str(&clip)];
        args.extend(bad.iter());
        let o = mica_rd(&args);
        assert!(!o.status.success(), "{bad:?} accepted");
    }
    let o = mica_rd(&["round-trip", "/nonexistent/clip.y4m"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/clip.y4m"),
        "{}",
        stderr(&o)
    );
}

/// A stand-in build: `micaenc IN -o OUT ...` and `micadec IN -o OUT` copy
/// their input, the encoder appending `extra` (to make a different stream).
fn fake_build(dir: &Path, name: &str, extra: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (prog, tail) in [("micaenc", extra), ("micadec", "")] {
        let p = d.join(prog);
        std::fs::write(&p, format!("#!/bin/sh\ncp \"$1\" \"$3\"\n{tail}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    d
}

#[test]
fn speed_refuses_bad_builds_and_times_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist, and one without the programs.
    let o = mica_rd(&["speed", "--a", "/nonexistent/build", "--b", "/tmp"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("build A: /nonexistent/build is not a folder"),
        "{}",
        stderr(&o)
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = mica_rd(&["speed", "--a", path_str(&empty), "--args-b", "--qp 22"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("holds no executable micaenc"),
        "{}",
        stderr(&o)
    );
    if mica_rd::external::find_program("sh").is_none() {
        println!("note: no sh; the timing runs are skipped");
        return;
    }
    let clip = dir.path().join("grad.y4m");
    let mut w = Y4mWriter::new(
        std::fs::File::create(&clip).unwrap(),
        &Y4mHeader::new(16, 16, 25, 1),
    )
    .unwrap();
    for f in frames(16, 16, 2) {
        w.write_frame(&f).unwrap();
    }
    w.into_inner().unwrap();
    let a = fake_build(dir.path(), "a", "");
    let b = fake_build(dir.path(), "b", "");
    let other = fake_build(dir.path(), "other", "echo x >> \"$3\"");
    let speed = |b: &Path, extra: &[&str]| {
        let mut args = vec![
            "speed",
            "--a",
            path_str(&a),
            "--b",
            path_str(b),
            "--clip",
            path_str(&clip),
            "--reps-enc",
            "2",
            "--reps-dec",
            "3",
        ];
        args.extend(extra);
        mica_rd(&args)
    };
    // Nothing differs between the sides: refused.
    let o = mica_rd(&["speed", "--a", path_str(&a), "--clip", path_str(&clip)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nothing to compare"), "{}", stderr(&o));
    // Two builds writing the same stream: timed.
    let o = speed(&b, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("clip: ") && out.contains("(2 frames)"),
        "{out}"
    );
    assert!(out.contains("same stream from both encoders"), "{out}");
    for (what, runs) in [
        ("encoder-A", 2),
        ("encoder-B", 2),
        ("decoder-A", 3),
        ("decoder-B", 3),
    ] {
        let line = out.lines().find(|l| l.starts_with(what)).unwrap();
        assert!(line.ends_with(&format!("({runs} runs)")), "{line}");
    }
    assert!(out.contains("B/A median: encoder "), "{out}");
    // A build that writes another stream is refused, unless the arguments differ.
    let o = speed(&other, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the two encoders write different streams"),
        "{}",
        stderr(&o)
    );
    // (micaenc takes an option once: a side may not repeat one of --enc-args.)
    let o = speed(&other, &["--args-a", "--qp 30", "--args-b", "--qp 31"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--args-a repeats --qp of --enc-args"),
        "{}",
        stderr(&o)
    );
    let o = speed(
        &other,
        &[
            "--enc-args",
            "--threads 2",
            "--args-a",
            "--qp 30",
            "--args-b",
            "--qp 31",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("different arguments: not compared"));
    assert!(stdout(&o).contains("--qp 31 --quiet"), "{}", stdout(&o));
}
