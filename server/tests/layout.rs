//! The layout of `server/src` (issue 10, "one room per domain"): no import cycle between the
//! top-level modules, shared layers that import no domain, modules that say what they hold,
//! and no source file too long to read.
//!
//! References are read from the source text: `crate::x`, `crate::x::…` and every item of
//! `use crate::{x, y::…}`, per top-level module `x` (a file `src/x.rs` or a folder `src/x/`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The domains: each a folder with its rules, store queries and routes; `portal` and `console`
/// are the web pages over them.
const DOMAINS: [&str; 9] = [
    "enrollment",
    "devices",
    "users",
    "bulk",
    "kme",
    "apple",
    "portal",
    "console",
    "windows",
];
/// Longest source file, tests excepted.
const MAX_LINES: usize = 800;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// The top-level module a file belongs to (`None` for the crate roots `lib.rs` and `main.rs`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    if rel.components().count() == 1 {
        let name = first.strip_suffix(".rs")?.to_owned();
        return (name != "lib" && name != "main").then_some(name);
    }
    Some(first)
}

/// The source without `//` comments (doc comments name other modules freely).
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Top-level names referenced through `crate::`.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `some_crate::`, not `crate::`
        }
        if let Some(group) = rest.trim_start().strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of every item at depth 0.
            let mut depth = 0;
            let mut item_start = true;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        out.insert(ident(&group[k..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// Module → modules it references (only top-level modules of the crate, never itself).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> =
        modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let Some(from) = top_module(&src, file) else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for to in crate_refs(&code) {
            if to != from && modules.contains(&to) {
                graph.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    graph
}

/// A cycle of the graph, as the list of its modules (first = last), if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn describe(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(m, deps)| format!("  {m} -> {}", deps.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    for d in DOMAINS {
        assert!(
            graph.contains_key(d),
            "domain module {d} is missing:\n{}",
            describe(&graph)
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules: {}\nwhole graph:\n{}",
            cycle.join(" -> "),
            describe(&graph)
        );
    }
}

#[test]
fn no_module_imports_apple() {
    // Apple MDM sits on top: it may use the enrollment and device services, never the reverse.
    // Only the admin console, the pages above every domain, calls its services.
    for (module, deps) in &module_graph() {
        if module == "console" {
            continue;
        }
        assert!(!deps.contains("apple"), "{module} imports apple");
    }
}

#[test]
fn nothing_imports_the_web_pages() {
    // The portal and the console sit on top: they call the domain services, never the reverse.
    for (module, deps) in &module_graph() {
        for page in ["portal", "console"] {
            assert!(!deps.contains(page), "{module} imports {page}");
        }
    }
    let graph = module_graph();
    assert!(
        graph["web"].iter().all(|d| !DOMAINS.contains(&d.as_str())),
        "web is a shared layer"
    );
}

#[test]
fn windows_imports_only_users_and_devices_and_nobody_imports_windows() {
    // Windows MDM (issue 12) sits on top like Apple: it reads users and devices, nothing else
    // of the domains, and no module uses it but the admin console (the pages above every domain).
    let graph = module_graph();
    for (module, deps) in &graph {
        if module == "console" {
            continue;
        }
        assert!(!deps.contains("windows"), "{module} imports windows");
    }
    let domains: Vec<&String> = graph["windows"]
        .iter()
        .filter(|d| DOMAINS.contains(&d.as_str()))
        .collect();
    assert!(
        domains.iter().all(|d| *d == "users" || *d == "devices"),
        "windows imports the domain(s) {domains:?}"
    );
}

#[test]
fn shared_layers_import_no_domain() {
    let graph = module_graph();
    for (module, deps) in &graph {
        if DOMAINS.contains(&module.as_str()) {
            continue;
        }
        let bad: Vec<&String> = deps.iter().filter(|d| DOMAINS.contains(&d.as_str())).collect();
        assert!(
            bad.is_empty(),
            "shared layer {module} imports the domain(s) {bad:?}"
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).into()).or_default().insert((*b).into());
            g.entry((*b).into()).or_default();
        }
        g
    };
    assert_eq!(find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    let cycle = find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])).unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    let refs = crate_refs("use crate::{a::B, b, c::{d, e}};\nlet x = crate::f::g(); my_crate::h();");
    assert_eq!(refs, ["a", "b", "c", "f"].iter().map(|s| s.to_string()).collect());
}

#[test]
fn every_module_says_what_it_holds_and_stays_short() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        assert!(
            text.starts_with("//!"),
            "{name} does not start with a //! overview"
        );
        let is_tests = file.file_name().is_some_and(|n| n == "tests.rs");
        let lines = text.lines().count();
        assert!(
            is_tests || lines <= MAX_LINES,
            "{name} has {lines} lines (at most {MAX_LINES})"
        );
    }
}
