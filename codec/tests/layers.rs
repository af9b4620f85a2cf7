//! The crate's layering (`docs/design.md`, "Map"), checked on the source:
//! which top-level module may import which. Shared picture state imports no
//! other module, a coding tool imports neither the decoder nor the encoder,
//! the encoder does not import the decoder (nor the reverse), and the
//! imports between top-level modules form no cycle. Test modules may reach
//! anywhere and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules below every coding tool.
const BASE: &[&str] = &[
    "bitstream",
    "cpu",
    "dsp",
    "entropy",
    "error",
    "nn",
    "picture",
];
/// One folder per coding tool.
const TOOLS: &[&str] = &[
    "deblock",
    "inter",
    "intra",
    "loop_filter",
    "partition",
    "residual",
    "transform",
];
/// What puts the tools together.
const TOP: &[&str] = &["decoder", "encoder"];

/// Removes `#[cfg(test)] mod ... { ... }` blocks.
fn without_test_modules(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let next = after.trim_start();
        if !(next.starts_with("mod ") || next.starts_with("pub(crate) mod ")) {
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            continue;
        }
        out.push_str(&rest[..at]);
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

/// Top-level module → the top-level modules its non-test code imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
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
            let text = without_test_modules(&std::fs::read_to_string(&path).unwrap());
            let deps = graph.entry(top.clone()).or_default();
            deps.extend(imports(&text).into_iter().filter(|m| *m != top));
        }
    }
    graph
}

#[test]
fn every_module_sits_in_a_layer() {
    let graph = graph();
    for module in graph.keys().filter(|m| *m != "lib") {
        assert!(
            BASE.contains(&module.as_str())
                || TOOLS.contains(&module.as_str())
                || TOP.contains(&module.as_str()),
            "{module} is in no layer of docs/design.md"
        );
    }
    for m in BASE.iter().chain(TOOLS).chain(TOP) {
        assert!(graph.contains_key(*m), "{m} is listed but absent");
    }
}

#[test]
fn imports_go_down_the_layers() {
    let graph = graph();
    assert!(
        graph["picture"].is_empty(),
        "picture imports {:?}",
        graph["picture"]
    );
    for (module, deps) in &graph {
        if module == "lib" {
            continue;
        }
        if BASE.contains(&module.as_str()) || TOOLS.contains(&module.as_str()) {
            for top in TOP {
                assert!(!deps.contains(*top), "{module} imports {top}");
            }
        }
        if BASE.contains(&module.as_str()) {
            for tool in TOOLS {
                assert!(!deps.contains(*tool), "{module} (base) imports {tool}");
            }
        }
    }
    assert!(
        !graph["encoder"].contains("decoder"),
        "the encoder imports the decoder"
    );
    assert!(
        !graph["decoder"].contains("encoder"),
        "the decoder imports the encoder"
    );
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
    let found = imports(&without_test_modules(src));
    let want: BTreeSet<String> = ["decoder", "inter", "intra", "picture"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}
