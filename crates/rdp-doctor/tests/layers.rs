//! The crate's modules import downwards only, and no two modules import each other through any
//! path (issue 11). Each top-level module of `src/` has a layer; a module may use modules of
//! its own layer or below, never above, and the module graph has no cycle. A module that is
//! not in the table fails the test, so a new module has to be placed deliberately.
//!
//! Imports are read from the source text: `crate::NAME` paths and `use crate::{NAME, ...}`
//! groups, outside comments and `#[cfg(test)]` modules (tests may reach across layers).
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. Same-layer imports are allowed (still without cycles).
const LAYERS: &[(&str, &[&str])] = &[
    // text helpers and the model every layer shares
    (
        "base",
        &["sanitize", "text", "clock", "model", "sys", "cli"],
    ),
    // the knowledge base: the catalogue and the code tables, as data
    ("kb", &["kb"]),
    // typed observations of every source, and pure analyses of them
    (
        "facts",
        &[
            "facts",
            "cert",
            "target",
            "credentials",
            "phases",
            "history",
        ],
    ),
    // sources: the runner (sockets, clock), the file readers, the Windows collector, the lab
    ("sources", &["probe", "evidence", "rdpfile", "local", "lab"]),
    // the rules (pure)
    ("diagnose", &["diagnose"]),
    // the report, built once
    ("report", &["report"]),
    // renderers
    ("render", &["render"]),
    // commands: the pipeline and the subcommands
    (
        "commands",
        &[
            "bundle", "check", "commands", "demo", "explain", "fleet", "watch",
        ],
    ),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// Removes `//` comments (doc comments included) and `#[cfg(test)]` items, roughly but
/// enough for import scanning: a `#[cfg(test)]` attribute cuts the rest of the file when it
/// precedes `mod`, which is how the crate writes its test modules.
fn code_only(src: &str) -> String {
    let mut out = String::new();
    let mut lines = src.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            if let Some(next) = lines.peek() {
                let n = next.trim_start();
                if n.starts_with("mod ")
                    || n.starts_with("pub mod ")
                    || n.starts_with("pub(crate) mod ")
                {
                    break;
                }
            }
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn imports(src: &str) -> BTreeSet<String> {
    let code = code_only(src);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module -> the top-level modules it imports.
fn graph(src_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src_dir).expect("under src");
            let first = rel.components().next().expect("component");
            let top = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if top == "main" || top == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let deps = g.entry(top.clone()).or_default();
            for m in imports(&text) {
                if m != top {
                    deps.insert(m);
                }
            }
        }
    }
    // Only edges to modules of this crate.
    let known: BTreeSet<String> = g.keys().cloned().collect();
    for deps in g.values_mut() {
        deps.retain(|d| known.contains(d));
    }
    g
}

/// Every cycle's members (strongly connected components of more than one module).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, seen, order);
        }
        order.push(n.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in g.keys() {
        visit(n, g, &mut seen, &mut order);
    }
    let mut rev: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, ds) in g {
        for d in ds {
            rev.entry(d.clone()).or_default().insert(a.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        if assigned.contains(n) {
            continue;
        }
        let mut comp = Vec::new();
        let mut stack = vec![n.clone()];
        while let Some(x) = stack.pop() {
            if !assigned.insert(x.clone()) {
                continue;
            }
            comp.push(x.clone());
            for p in rev.get(&x).into_iter().flatten() {
                if !assigned.contains(p) {
                    stack.push(p.clone());
                }
            }
        }
        if comp.len() > 1 {
            comp.sort();
            out.push(comp);
        }
    }
    out
}

#[test]
fn modules_import_downwards_only_and_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let mut problems = Vec::new();
    for (m, deps) in &g {
        let Some(lm) = layer_of(m) else {
            problems.push(format!("module {m} has no layer in tests/layers.rs"));
            continue;
        };
        for d in deps {
            if let Some(ld) = layer_of(d) {
                if ld > lm {
                    problems.push(format!(
                        "{m} ({}) imports {d} ({}), a higher layer",
                        LAYERS[lm].0, LAYERS[ld].0
                    ));
                }
            }
        }
    }
    for c in cycles(&g) {
        problems.push(format!("import cycle between {}", c.join(", ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_and_an_upward_import() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), ["a".to_string()].into());
    g.insert("d".into(), BTreeSet::new());
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let src = "use crate::{facts::Facts, kb};\n// crate::report in a comment\nfn f() { crate::probe::run(); }\n#[cfg(test)]\nmod tests { use crate::check; }\n";
    let found: Vec<String> = imports(src).into_iter().collect();
    assert_eq!(found, ["facts", "kb", "probe"]);
    assert!(layer_of("probe") < layer_of("diagnose"));
}

/// Only `main` ends the process: library code returns an `Exit` (or an error) instead.
#[test]
fn only_main_exits() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs")
                && path.file_name().and_then(|n| n.to_str()) != Some("main.rs")
                && code_only(&std::fs::read_to_string(&path).expect("read"))
                    .contains("process::exit")
            {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "process::exit outside main.rs: {offenders:?}"
    );
    assert!(rdp_doctor::commands::self_check().is_ok());
}
