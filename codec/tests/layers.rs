//! The crate's layering (`docs/design.md`, "Map"), checked on the source:
//! which top-level module may import which. Shared picture state imports no
//! other module, a coding tool imports neither the decoder nor the encoder,
//! the encoder does not import the decoder (nor the reverse), and the
//! imports between top-level modules form no cycle. Test modules may reach
//! anywhere and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rows of the table in `docs/design.md`, top first: the decoder and
/// encoder, the coding tools, then the base they share.
const ROWS: &[&str] = &[
    "decoder",
    "encoder",
    "deblock",
    "loop_filter",
    "alf",
    "sb_qp",
    "partition",
    "intra",
    "inter",
    "transform",
    "residual",
    "entropy",
    "bitstream",
    "picture",
    "dsp",
    "nn",
    "cpu",
    "error",
];

/// Removes `#[cfg(test)] mod ... { ... }` blocks, and `#[cfg(test)] mod x;`
/// declarations, whose names it adds to `test_files` (their files are test
/// code too).
fn without_test_modules(src: &str, test_files: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let next = after.trim_start();
        let Some(decl) = next
            .strip_prefix("mod ")
            .or_else(|| next.strip_prefix("pub(crate) mod "))
        else {
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            continue;
        };
        out.push_str(&rest[..at]);
        let (semicolon, brace) = (decl.find(';'), decl.find('{'));
        if let Some(end) = semicolon.filter(|&e| brace.is_none_or(|b| e < b)) {
            // `mod x;`: the module lives in a file of its own.
            test_files.push(decl[..end].trim().to_string());
            let skipped = decl.as_ptr() as usize - rest.as_ptr() as usize + end + 1;
            rest = &rest[skipped..];
            continue;
        }
        let open = at + rest[at..].find('{').expect("a test module has a body");
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules `src` names through `crate::` (in code, not in
/// comments).
fn imports(src: &str) -> BTreeSet<String> {
    let code: Vec<&str> = src
        .lines()
        .map(|l| l.find("//").map_or(l, |c| &l[..c]))
        .collect();
    let src = code.join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in src.match_indices("crate::") {
        let after = &src[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            for item in body.split(',') {
                let name = item.trim().split("::").next().unwrap_or("").to_string();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Top-level module → the top-level modules its non-test code imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src);
    // Files of modules declared `#[cfg(test)] mod x;` are test code: `x.rs`
    // or `x/` beside a `mod.rs` or `lib.rs`, below `y/` for a `y.rs`.
    let mut test_paths = Vec::new();
    for path in &files {
        let mut names = Vec::new();
        without_test_modules(&std::fs::read_to_string(path).unwrap(), &mut names);
        let stem = path.file_stem().unwrap().to_string_lossy();
        let dir = if stem == "mod" || stem == "lib" {
            path.parent().unwrap().to_path_buf()
        } else {
            path.with_extension("")
        };
        for name in names {
            test_paths.push(dir.join(format!("{name}.rs")));
            test_paths.push(dir.join(name));
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        if test_paths.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let source = std::fs::read_to_string(&path).unwrap();
        let text = without_test_modules(&source, &mut Vec::new());
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(imports(&text).into_iter().filter(|m| *m != top));
    }
    graph
}

#[test]
fn every_module_has_a_row_in_the_map() {
    let graph = graph();
    for module in graph.keys().filter(|m| *m != "lib") {
        assert!(
            ROWS.contains(&module.as_str()),
            "{module} has no row in the map of docs/design.md"
        );
    }
    for m in ROWS {
        assert!(graph.contains_key(*m), "{m} is in the map but absent");
    }
}

/// What the row order alone does not say: shared picture state imports
/// nothing, and the decoder (a row above the encoder) does not import the
/// encoder either.
#[test]
fn picture_imports_nothing_and_decoder_and_encoder_stay_apart() {
    let graph = graph();
    assert!(
        graph["picture"].is_empty(),
        "picture imports {:?}",
        graph["picture"]
    );
    assert!(
        !graph["encoder"].contains("decoder"),
        "the encoder imports the decoder"
    );
    assert!(
        !graph["decoder"].contains("encoder"),
        "the decoder imports the encoder"
    );
}

/// Each module imports only modules in lower rows of the map's table, and
/// the table in `docs/design.md` lists the modules in this order.
#[test]
fn imports_only_lower_rows_of_the_map() {
    let graph = graph();
    let row = |m: &str| ROWS.iter().position(|r| *r == m);
    for (module, deps) in graph.iter().filter(|(m, _)| *m != "lib") {
        let at = row(module).expect("every module has a row");
        for dep in deps {
            let below = row(dep).unwrap_or_else(|| panic!("{dep} is not in the map"));
            assert!(below > at, "{module} imports {dep}, which is not below it");
        }
    }
    let design = include_str!("../../docs/design.md");
    let map = design
        .split("## Map")
        .nth(1)
        .and_then(|m| m.split("\n## ").next())
        .expect("docs/design.md has a Map section");
    // The folder cell of each row of the table: `name/` or `name.rs` items.
    let listed: Vec<&str> = map
        .lines()
        .take_while(|l| !l.starts_with("**Public API**"))
        .filter_map(|l| l.strip_prefix('|')?.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .map(|name| name.trim_end_matches('/').trim_end_matches(".rs"))
        .collect();
    assert_eq!(listed[..], ROWS[..], "the rows of docs/design.md");
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = graph();
    // Kahn's algorithm: a cycle leaves modules that never reach zero in-degree.
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = graph
        .iter()
        .filter(|(m, _)| *m != "lib")
        .map(|(m, d)| {
            let deps = d
                .iter()
                .map(String::as_str)
                .filter(|d| graph.contains_key(*d) && *d != "lib")
                .collect();
            (m.as_str(), deps)
        })
        .collect();
    while let Some(free) = remaining
        .iter()
        .find(|(_, deps)| deps.is_empty())
        .map(|(m, _)| *m)
    {
        remaining.remove(free);
        for deps in remaining.values_mut() {
            deps.remove(free);
        }
    }
    assert!(remaining.is_empty(), "import cycle among {remaining:?}");
}

/// The checks see what they must: a made-up cycle and a made-up upward
/// import are found, and test modules are left out.
#[test]
fn the_checks_can_fail() {
    let src = "use crate::{intra, picture::Frame};\nfn f() { crate::decoder::x(); }\n\
               // see crate::encoder\n\
               #[cfg(test)]\nmod tests {\n    use crate::encoder::Encoder;\n    fn g() { {} }\n}\n\
               fn h() { crate::inter::y(); }\n";
    let mut test_files = Vec::new();
    let found = imports(&without_test_modules(src, &mut test_files));
    let want: BTreeSet<String> = ["decoder", "inter", "intra", "picture"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
    assert!(test_files.is_empty());
    // A test module in a file of its own: the declaration goes, the code
    // after it stays, and the file is named for leaving out.
    let src = "#[cfg(test)]\nmod tests;\n\nuse crate::bitstream::FrameHeader;\nfn f() {}\n";
    let found = imports(&without_test_modules(src, &mut test_files));
    assert_eq!(found, BTreeSet::from(["bitstream".to_string()]));
    assert_eq!(test_files, ["tests"]);
}
