//! `mica-rd speed`: interleaved wall-clock timing of two sides, each a
//! build folder's `micaenc` and `micadec` with its own extra encoder
//! arguments. On a shared, noisy machine the runs of A and B alternate
//! (A B, then B A, ...) so that both see the same load; the minimum and the
//! median of each are reported. When both sides code with the same
//! arguments, the two builds must write the same stream and decode it to the
//! same output, else nothing is timed.

use crate::external::shell_join;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// One side of the comparison.
#[derive(Debug, Clone)]
pub struct Side {
    /// `A` or `B`.
    pub name: &'static str,
    /// The build folder.
    pub dir: PathBuf,
    /// Its encoder.
    pub micaenc: PathBuf,
    /// Its decoder.
    pub micadec: PathBuf,
    /// Encoder arguments of this side (after the common ones).
    pub args: Vec<String>,
}

impl Side {
    /// A side from a build folder, which must hold executable `micaenc` and `micadec`.
    pub fn new(name: &'static str, dir: &Path, args: Vec<String>) -> Result<Side> {
        if !dir.is_dir() {
            bail!(
                "build {name}: {} is not a folder (give a folder holding micaenc and micadec, e.g. target/release)",
                dir.display()
            );
        }
        let dir = dir
            .canonicalize()
            .with_context(|| format!("build {name}: cannot resolve {}", dir.display()))?;
        let program = |p: &str| -> Result<PathBuf> {
            let path = dir.join(p);
            if !is_executable(&path) {
                bail!(
                    "build {name}: {} holds no executable {p} (a build folder holds micaenc and micadec, e.g. target/release)",
                    dir.display()
                );
            }
            Ok(path)
        };
        Ok(Side {
            name,
            micaenc: program("micaenc")?,
            micadec: program("micadec")?,
            dir,
            args,
        })
    }
}

fn is_executable(p: &Path) -> bool {
    let Ok(m) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        m.is_file()
    }
}

/// What to time.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The source clip (.y4m).
    pub clip: PathBuf,
    /// Its frame count (for fps).
    pub frames: usize,
    /// Encoder arguments common to both sides.
    pub enc_args: Vec<String>,
    /// Side A.
    pub a: Side,
    /// Side B.
    pub b: Side,
    /// Timed encodes per side.
    pub reps_enc: usize,
    /// Timed decodes per side.
    pub reps_dec: usize,
    /// The builds' stream syntax differs: each decoder decodes its own
    /// build's stream; with the same arguments the outputs must be equal.
    pub syntax_changed: bool,
    /// The builds code differently on purpose: each decoder decodes its own
    /// build's stream and nothing is compared.
    pub coding_changed: bool,
}

impl Plan {
    /// Whether both sides code with the same arguments (so both must write the same stream).
    pub fn same_args(&self) -> bool {
        self.a.args == self.b.args
    }

    /// Whether both decoders are timed on side A's stream.
    fn shared_stream(&self) -> bool {
        self.same_args() && !self.syntax_changed && !self.coding_changed
    }

    fn enc_argv(&self, side: &Side, out: &Path) -> Vec<String> {
        let mut v = vec![
            side.micaenc.to_string_lossy().into_owned(),
            self.clip.to_string_lossy().into_owned(),
            "-o".into(),
            out.to_string_lossy().into_owned(),
        ];
        v.extend(self.enc_args.iter().cloned());
        v.extend(side.args.iter().cloned());
        if !v.iter().any(|a| a == "--quiet" || a == "-q") {
            v.push("--quiet".into());
        }
        v
    }

    fn dec_argv(side: &Side, stream: &Path, out: &Path) -> Vec<String> {
        vec![
            side.micadec.to_string_lossy().into_owned(),
            stream.to_string_lossy().into_owned(),
            "-o".into(),
            out.to_string_lossy().into_owned(),
        ]
    }
}

/// Minimum and median of a series of run times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Fastest run (s).
    pub min: f64,
    /// Median run (s; the mean of the two middle runs for an even count).
    pub median: f64,
    /// Runs.
    pub runs: usize,
}

impl Stats {
    /// Stats of `times` (at least one).
    pub fn of(times: &[f64]) -> Stats {
        assert!(!times.is_empty(), "no runs");
        let mut v = times.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stats {
            min: v[0],
            median,
            runs: n,
        }
    }
}

/// The measured times.
#[derive(Debug, Clone)]
pub struct Report {
    /// Notes on the checks made before timing (streams, outputs).
    pub checks: Vec<String>,
    /// Encoder of A and B.
    pub enc: [Stats; 2],
    /// Decoder of A and B.
    pub dec: [Stats; 2],
}

/// Runs a command with its output discarded; returns its wall time in seconds.
fn timed(argv: &[String]) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", argv[0]))?;
    let s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            shell_join(argv),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(s)
}

fn same_file(a: &Path, b: &Path) -> Result<bool> {
    Ok(
        std::fs::read(a).with_context(|| format!("cannot read {}", a.display()))?
            == std::fs::read(b).with_context(|| format!("cannot read {}", b.display()))?,
    )
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Checks the two sides, then times them alternately (decoders first, then
/// encoders), writing into `tmp`.
pub fn run(plan: &Plan, tmp: &Path) -> Result<Report> {
    let sides = [&plan.a, &plan.b];
    let stream = |s: &Side| tmp.join(format!("{}.ivf", s.name));
    let mut checks = Vec::new();
    // Untimed first runs: each side's stream and decoded output.
    for s in sides {
        timed(&plan.enc_argv(s, &stream(s)))?;
    }
    // The stream each decoder is timed on: A's for both when the arguments
    // are the same (the streams are then checked equal), else each its own.
    let dec_input = |s: &Side| {
        if plan.shared_stream() {
            stream(&plan.a)
        } else {
            stream(s)
        }
    };
    let decoded = |s: &Side| tmp.join(format!("{}.y4m", s.name));
    for s in sides {
        timed(&Plan::dec_argv(s, &dec_input(s), &decoded(s)))?;
    }
    let (sa, sb) = (stream(&plan.a), stream(&plan.b));
    if plan.coding_changed {
        checks.push(format!(
            "streams: A {} bytes, B {} bytes (the builds code differently: not compared; each decoder timed on its own build's stream)",
            size(&sa),
            size(&sb)
        ));
    } else if plan.same_args() && plan.syntax_changed {
        if !same_file(&decoded(&plan.a), &decoded(&plan.b))? {
            bail!("the two builds' streams decode to different outputs; nothing timed");
        }
        checks.push(format!(
            "streams of A ({} bytes) and B ({} bytes; syntax changed) decode to the same output",
            size(&sa),
            size(&sb)
        ));
    } else if plan.same_args() {
        if !same_file(&sa, &sb)? {
            bail!(
                "the two encoders write different streams ({} bytes from A, {} from B); nothing timed",
                size(&sa),
                size(&sb)
            );
        }
        if !same_file(&decoded(&plan.a), &decoded(&plan.b))? {
            bail!("the two decoders' outputs of the same stream differ; nothing timed");
        }
        checks.push(format!(
            "same stream from both encoders ({} bytes), decoded to the same output by both decoders",
            size(&sa)
        ));
    } else {
        checks.push(format!(
            "streams: A {} bytes, B {} bytes (different arguments: not compared)",
            size(&sa),
            size(&sb)
        ));
    }
    let mut dec = [Vec::new(), Vec::new()];
    let out = tmp.join("out.y4m");
    for rep in 0..plan.reps_dec {
        for i in order(rep) {
            let s = sides[i];
            dec[i].push(timed(&Plan::dec_argv(s, &dec_input(s), &out))?);
        }
    }
    let mut enc = [Vec::new(), Vec::new()];
    let out = tmp.join("out.ivf");
    for rep in 0..plan.reps_enc {
        for i in order(rep) {
            enc[i].push(timed(&plan.enc_argv(sides[i], &out))?);
        }
    }
    Ok(Report {
        checks,
        enc: [Stats::of(&enc[0]), Stats::of(&enc[1])],
        dec: [Stats::of(&dec[0]), Stats::of(&dec[1])],
    })
}

/// A then B on even repetitions, B then A on odd ones.
fn order(rep: usize) -> [usize; 2] {
    if rep.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// The report as text: the commands, the checks, min and median per side,
/// and B's median over A's.
pub fn report_text(plan: &Plan, r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "clip: {} ({} frames)", plan.clip.display(), plan.frames);
    for side in [&plan.a, &plan.b] {
        // The stream each decoder is timed on (see `run`).
        let shared = plan.shared_stream();
        let input = format!("{}.ivf", if shared { "A" } else { side.name });
        let _ = writeln!(
            s,
            "{}: {}  |  {}",
            side.name,
            shell_join(&plan.enc_argv(side, Path::new(&format!("{}.ivf", side.name)))),
            shell_join(&Plan::dec_argv(
                side,
                Path::new(&input),
                Path::new("OUT.y4m")
            ))
        );
    }
    for c in &r.checks {
        let _ = writeln!(s, "{c}");
    }
    let fps = |t: f64| plan.frames as f64 / t;
    for (what, stats) in [("encoder", &r.enc), ("decoder", &r.dec)] {
        for (side, st) in ["A", "B"].iter().zip(stats.iter()) {
            let _ = writeln!(
                s,
                "{:<10} min {:7.3} s {:7.1} fps   median {:7.3} s {:7.1} fps   ({} runs)",
                format!("{what}-{side}"),
                st.min,
                fps(st.min),
                st.median,
                fps(st.median),
                st.runs
            );
        }
    }
    let _ = writeln!(
        s,
        "B/A median: encoder {:.3}, decoder {:.3}",
        r.enc[1].median / r.enc[0].median,
        r.dec[1].median / r.dec[0].median
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_min() {
        assert_eq!(
            Stats::of(&[3.0, 1.0, 2.0]),
            Stats {
                min: 1.0,
                median: 2.0,
                runs: 3
            }
        );
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Stats::of(&[5.0]).median, 5.0);
    }

    #[test]
    fn runs_alternate() {
        assert_eq!([order(0), order(1), order(2)], [[0, 1], [1, 0], [0, 1]]);
    }
}
