//! External codecs described by small config entries (`codecs.toml`) and run
//! as command lines: an encode command writing a coded stream, a decode
//! command writing 8-bit 4:2:0 y4m to standard output.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The built-in entries.
pub const DEFAULT_CODECS: &str = include_str!("../codecs.toml");

/// One external codec setting.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExternalCodec {
    /// Short id (CSV `codec` column).
    pub name: String,
    /// Human-readable name.
    pub label: String,
    /// Quality parameter name.
    pub param: String,
    /// Default quality points.
    pub points: Vec<i64>,
    /// Points added with `--extended`.
    #[serde(default)]
    pub extra_points: Vec<i64>,
    /// Valid range of the parameter, `[min, max]`.
    pub range: [i64; 2],
    /// Availability checks.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Encode command template.
    pub encode: String,
    /// Text put at `{threads}` when a thread count is set.
    #[serde(default)]
    pub threads: String,
    /// Coded stream file suffix.
    pub suffix: String,
    /// Decode command template (writes y4m to `{output}` = `-`).
    pub decode: String,
    /// Text put at `{threads}` of the decode command when a thread count is set.
    #[serde(default)]
    pub decode_threads: String,
    /// What decodes, for the record.
    pub decoder: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodecFile {
    codec: Vec<ExternalCodec>,
}

/// Parses a codecs file's text.
pub fn parse_codecs(text: &str) -> Result<Vec<ExternalCodec>> {
    let f: CodecFile = toml::from_str(text).context("codecs file")?;
    for c in &f.codec {
        if c.name.is_empty()
            || c.name
                .contains(|ch: char| ch == ',' || ch == '=' || ch.is_whitespace())
        {
            bail!(
                "codec name '{}' must be non-empty without commas, '=' or spaces",
                c.name
            );
        }
        if c.range[0] > c.range[1] {
            bail!(
                "codec '{}': range [{}, {}] is empty",
                c.name,
                c.range[0],
                c.range[1]
            );
        }
        for t in [&c.encode, &c.decode] {
            if !t.contains("{input}") || !t.contains("{output}") {
                bail!(
                    "codec '{}': every command template needs {{input}} and {{output}}: '{t}'",
                    c.name
                );
            }
        }
        if !c.encode.contains("{q}") {
            bail!("codec '{}': the encode template needs {{q}}", c.name);
        }
    }
    Ok(f.codec)
}

/// The built-in entries, then those of `extra` files (same name replaces).
pub fn load_codecs(extra: &[PathBuf]) -> Result<Vec<ExternalCodec>> {
    let mut all = parse_codecs(DEFAULT_CODECS)?;
    for path in extra {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for c in parse_codecs(&text).with_context(|| format!("in {}", path.display()))? {
            match all.iter_mut().find(|o| o.name == c.name) {
                Some(o) => *o = c,
                None => all.push(c),
            }
        }
    }
    Ok(all)
}

/// Splits a command template into words: whitespace separates, single or
/// double quotes group (without escapes inside single quotes).
pub fn split_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => {
                            cur.push(chars.next().ok_or_else(|| anyhow!("dangling \\ in: {s}"))?)
                        }
                        Some(q) => cur.push(q),
                        None => bail!("unclosed quote in: {s}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or_else(|| anyhow!("dangling \\ in: {s}"))?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Values substituted into a template.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// `{name}` → value (not `{threads}`).
    pub values: HashMap<&'static str, String>,
    /// Text for `{threads}` (already with `{n}` replaced), empty for "encoder default".
    pub threads: String,
}

/// Expands a template into argv. A word that is exactly `{threads}` becomes
/// the words of the threads text (or nothing); elsewhere placeholders are
/// replaced textually. Unknown placeholders are an error.
pub fn expand(template: &str, vars: &Vars) -> Result<Vec<String>> {
    let mut argv = Vec::new();
    for w in split_words(template)? {
        if w == "{threads}" {
            argv.extend(split_words(&vars.threads)?);
            continue;
        }
        let mut out = String::new();
        let mut rest = w.as_str();
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let j = rest[i..]
                .find('}')
                .ok_or_else(|| anyhow!("unclosed {{ in template word '{w}'"))?
                + i;
            let key = &rest[i + 1..j];
            if key == "threads" {
                out.push_str(&vars.threads);
            } else {
                let v = vars
                    .values
                    .get(key)
                    .ok_or_else(|| anyhow!("unknown placeholder {{{key}}} in '{template}'"))?;
                out.push_str(v);
            }
            rest = &rest[j + 1..];
        }
        out.push_str(rest);
        if !out.is_empty() {
            argv.push(out);
        }
    }
    if argv.is_empty() {
        bail!("empty command template");
    }
    Ok(argv)
}

/// Quotes argv for display (and for pasting into a POSIX shell).
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a program is on PATH (or is a path to an existing file).
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or(None)
}

/// Caches `ffmpeg -encoders` / `-decoders` listings.
#[derive(Default)]
pub struct Availability {
    cache: Mutex<HashMap<String, Option<String>>>,
}

impl Availability {
    fn ffmpeg_list(&self, what: &str) -> Option<String> {
        let mut c = self.cache.lock().unwrap();
        c.entry(what.to_string())
            .or_insert_with(|| {
                let out = Command::new("ffmpeg")
                    .args(["-hide_banner", what])
                    .stdin(Stdio::null())
                    .output()
                    .ok()?;
                Some(String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .clone()
    }

    fn has_ffmpeg_item(&self, what: &str, name: &str) -> bool {
        self.ffmpeg_list(what).is_some_and(|list| {
            list.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name))
        })
    }

    /// `Ok(())` if every requirement holds, else the first one that does not.
    pub fn check(&self, codec: &ExternalCodec) -> Result<(), String> {
        for r in &codec.requires {
            let ok = match r.split_once(':') {
                Some(("program", p)) => find_program(p).is_some(),
                Some(("ffmpeg-encoder", e)) => {
                    find_program("ffmpeg").is_some() && self.has_ffmpeg_item("-encoders", e)
                }
                Some(("ffmpeg-decoder", d)) => {
                    find_program("ffmpeg").is_some() && self.has_ffmpeg_item("-decoders", d)
                }
                _ => {
                    return Err(format!(
                    "unknown requirement '{r}' (use program:, ffmpeg-encoder: or ffmpeg-decoder:)"
                ))
                }
            };
            if !ok {
                return Err(format!("requirement '{r}' not met"));
            }
        }
        let prog = split_words(&codec.encode)
            .ok()
            .and_then(|w| w.first().cloned())
            .unwrap_or_default();
        if find_program(&prog).is_none() {
            return Err(format!("encoder program '{prog}' not found on PATH"));
        }
        Ok(())
    }
}

/// Runs argv to completion; on failure the error carries its standard error.
pub fn run_checked(argv: &[String], cwd: &Path) -> Result<()> {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start '{}'", argv[0]))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        bail!(
            "'{}' failed ({}): {}",
            shell_join(argv),
            out.status,
            tail.trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_codecs_parse() {
        let c = parse_codecs(DEFAULT_CODECS).unwrap();
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        for n in [
            "x264",
            "x264psnr",
            "x265",
            "x265psnr",
            "aom",
            "svt",
            "rav1e-ffmpeg",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
        let x264 = c.iter().find(|c| c.name == "x264").unwrap();
        assert_eq!(x264.points, vec![19, 24, 29, 34]);
        assert_eq!(x264.range, [0, 51]);
    }

    #[test]
    fn bad_entries_are_refused() {
        let base = r#"[[codec]]
name = "n"
label = "l"
param = "crf"
points = [1]
range = [0, 9]
encode = "enc {input} {output} {q}"
suffix = "bin"
decode = "dec {input} {output}"
decoder = "d"
"#;
        assert!(parse_codecs(base).is_ok());
        assert!(
            parse_codecs(&base.replace("enc {input} {output} {q}", "enc {input} {output}"))
                .is_err()
        );
        assert!(parse_codecs(&base.replace("range = [0, 9]", "range = [9, 0]")).is_err());
        assert!(parse_codecs(&base.replace("name = \"n\"", "name = \"a,b\"")).is_err());
        assert!(parse_codecs(&format!("{base}bogus = 1\n")).is_err());
    }

    #[test]
    fn words_split_with_quotes() {
        assert_eq!(
            split_words(" a  'b c' \"d\\\"e\" f\\ g ").unwrap(),
            vec!["a", "b c", "d\"e", "f g"]
        );
        assert!(split_words("a 'b").is_err());
    }

    #[test]
    fn templates_expand() {
        let mut v = Vars::default();
        v.values.insert("input", "/in/clip.y4m".into());
        v.values.insert("output", "out.265".into());
        v.values.insert("q", "24".into());
        let t = "ffmpeg -i {input} -crf {q} {threads} -x265-params log-level=error{threads} -f hevc {output}";
        assert_eq!(
            expand(t, &v).unwrap(),
            vec![
                "ffmpeg",
                "-i",
                "/in/clip.y4m",
                "-crf",
                "24",
                "-x265-params",
                "log-level=error",
                "-f",
                "hevc",
                "out.265"
            ]
        );
        v.threads = "-threads 2".into();
        let a = expand("enc {threads} {input} {output}", &v).unwrap();
        assert_eq!(a, vec!["enc", "-threads", "2", "/in/clip.y4m", "out.265"]);
        v.threads = ":pools=2".into();
        assert_eq!(
            expand("x level=e{threads}", &v).unwrap(),
            vec!["x", "level=e:pools=2"]
        );
        assert!(expand("enc {nope}", &v).is_err());
        assert_eq!(
            shell_join(&["a".into(), "b c".into(), "it's".into()]),
            r"a 'b c' 'it'\''s'"
        );
    }

    #[test]
    fn user_file_replaces_and_adds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        std::fs::write(
            &p,
            r#"[[codec]]
name = "x264"
label = "x264 slow"
param = "crf"
points = [23]
range = [0, 51]
encode = "ffmpeg -i {input} -preset slow -crf {q} {output}"
suffix = "264"
decode = "ffmpeg -i {input} -f yuv4mpegpipe {output}"
decoder = "ffmpeg"

[[codec]]
name = "vp9"
label = "libvpx-vp9"
param = "crf"
points = [30]
range = [0, 63]
encode = "ffmpeg -i {input} -c:v libvpx-vp9 -crf {q} -b:v 0 -f ivf {output}"
suffix = "ivf"
decode = "ffmpeg -i {input} -f yuv4mpegpipe {output}"
decoder = "ffmpeg"
"#,
        )
        .unwrap();
        let all = load_codecs(&[p]).unwrap();
        assert_eq!(
            all.iter().find(|c| c.name == "x264").unwrap().label,
            "x264 slow"
        );
        assert!(all.iter().any(|c| c.name == "vp9"));
        assert_eq!(all.iter().filter(|c| c.name == "x264").count(), 1);
    }
}
