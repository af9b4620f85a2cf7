//! The first pass's statistics file (`micaenc --pass 1 --stats FILE`): what
//! a second pass needs (each frame's base QP and bits) and what identifies
//! the input and settings it was made with, so that a second pass on other
//! material is refused instead of missing its target.
//!
//! A text file:
//!
//! ```text
//! mica-first-pass 2
//! input 640x480 fps 30000/1001 depth 8 first-frame-md5 <hex>
//! settings <the options the frame structure depends on>
//! frame <display number> kind <kind> <base QP> <bits> [<base QP> <bits> ...]   (one per frame)
//! end <frames>
//! ```
//!
//! The kind is 0 for keyframes, else 1 + the frame's temporal layer
//! ([`mica::Packet::kind`]). (Version 1 had no kinds: refused, since a
//! second pass corrects each kind apart.)

use anyhow::{bail, Context, Result};
use mica::FirstPassStats;
use std::fmt::Write as _;
use std::path::Path;

const MAGIC: &str = "mica-first-pass 2";

/// A first pass's statistics with what identifies its input and settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstPassFile {
    /// `WxH fps N/D depth B first-frame-md5 HEX`.
    pub input: String,
    /// The settings the frame structure depends on.
    pub settings: String,
    /// Each frame's base QP and bits.
    pub stats: FirstPassStats,
}

impl FirstPassFile {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{MAGIC}\ninput {}\nsettings {}\n",
            self.input, self.settings
        );
        for (n, f) in self.stats.frames() {
            write!(s, "frame {n} kind {}", f.kind).expect("a String takes any text");
            for (qp, bits) in &f.points {
                write!(s, " {qp} {bits}").expect("a String takes any text");
            }
            s.push('\n');
        }
        writeln!(s, "end {}", self.stats.len()).expect("a String takes any text");
        s
    }

    /// Reads `path`; every problem is an error naming the file.
    pub fn read(path: &Path) -> Result<FirstPassFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the first-pass statistics {}", path.display()))?;
        Self::parse(&text).with_context(|| {
            format!(
                "{} is not usable first-pass statistics (make it with --pass 1 --stats)",
                path.display()
            )
        })
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<FirstPassFile> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            bail!("it does not start with '{MAGIC}'");
        }
        let field = |line: Option<&str>, key: &str| -> Result<String> {
            match line.and_then(|l| l.strip_prefix(key)) {
                Some(rest) => Ok(rest.trim().to_string()),
                None => bail!("its '{}' line is missing", key.trim()),
            }
        };
        let input = field(lines.next(), "input ")?;
        let settings = field(lines.next(), "settings ")?;
        let mut stats = FirstPassStats::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut ended = None;
        for (i, line) in lines.enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["frame", n, "kind", kind, points @ ..]
                    if ended.is_none() && !points.is_empty() && points.len() % 2 == 0 =>
                {
                    let (Ok(n), Ok(kind)) = (n.parse::<u32>(), kind.parse::<u8>()) else {
                        bail!("line {} is malformed: '{line}'", i + 4);
                    };
                    if kind > 32 {
                        bail!("line {}: kind {kind} is out of range", i + 4);
                    }
                    if !seen.insert(n) {
                        bail!("line {}: frame {n} appears twice", i + 4);
                    }
                    for pair in points.chunks(2) {
                        let (Ok(qp), Ok(bits)) = (pair[0].parse::<i8>(), pair[1].parse::<u64>())
                        else {
                            bail!("line {} is malformed: '{line}'", i + 4);
                        };
                        if !(-12..=51).contains(&qp) {
                            bail!("line {}: QP {qp} is out of range", i + 4);
                        }
                        stats.record(n, kind, qp, bits);
                    }
                }
                ["end", count] if ended.is_none() => {
                    ended = Some(count.parse::<usize>().ok());
                }
                [] => {}
                _ => bail!("line {} is malformed: '{line}'", i + 4),
            }
        }
        match ended {
            None => bail!("it is truncated (no 'end' line)"),
            Some(Some(count)) if count == stats.len() && count > 0 => {}
            Some(_) => bail!("it is truncated or edited: its frame count does not match"),
        }
        Ok(FirstPassFile {
            input,
            settings,
            stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FirstPassFile {
        let mut stats = FirstPassStats::default();
        stats.record(0, 0, 30, 40_000);
        stats.record(0, 0, 36, 20_000);
        stats.record(1, 3, 31, 2_000);
        FirstPassFile {
            input: "64x48 fps 25/1 depth 8 first-frame-md5 00".into(),
            settings: "gop random-access".into(),
            stats,
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let file = sample();
        let text = file.to_text();
        assert_eq!(FirstPassFile::parse(&text).unwrap(), file);
        // Every truncation at a line boundary is refused.
        let lines: Vec<&str> = text.lines().collect();
        for keep in 0..lines.len() {
            let cut = lines[..keep].join("\n");
            assert!(FirstPassFile::parse(&cut).is_err(), "{keep} lines kept");
        }
        for (from, to) in [
            ("frame 1 kind 3 31 2000", "frame 1 kind 3 31 2x00"),
            ("frame 1 kind 3 31 2000", "frame 1 kind 3 31 2000 32"),
            ("frame 1 kind 3 31", "frame 1 kind 3 99"),
            ("frame 1 kind 3 31", "frame 0 kind 3 31"),
            ("frame 1 kind 3 31", "frame 1 kind 99 31"),
            ("frame 1 kind 3 31", "frame 1 kind x 31"),
            ("frame 1 kind 3 31", "frame 1 31"),
            ("end 2", "end 3"),
            ("mica-first-pass 2", "mica-first-pass 1"),
        ] {
            let bad = text.replace(from, to);
            assert!(FirstPassFile::parse(&bad).is_err(), "{to}");
        }
    }
}
