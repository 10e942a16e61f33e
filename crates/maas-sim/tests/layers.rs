#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator's layers, lowest first: `model` (data) → `domain` (MAAS's
//! behaviour, MAAS's errors) → `api` (HTTP: routes, params, render, auth)
//! → `runtime` (shared state, server, control API). A module may use its
//! own layer and lower ones only, the two lower layers use no HTTP crate,
//! and no modules import each other in a cycle. This test reads every
//! source file and fails on a `crate::…` path that points up, an HTTP type
//! below `api`, or a cycle of `crate::…` imports between modules.

use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["model", "domain", "api", "runtime"];
const HTTP_CRATES: [&str; 5] = ["http", "axum", "hyper", "hyper_util", "tower"];

fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name)
}

/// The violations in one file of layer `own`: `(line, text)`.
fn violations(own: usize, source: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(l) = layer(&name)
                && l > own
            {
                out.push((n + 1, format!("uses {name}: {}", line.trim())));
            }
            rest = after;
        }
        if own < 2 {
            for krate in HTTP_CRATES {
                let pat = format!("{krate}::");
                for (at, _) in code.match_indices(&pat) {
                    let before = code[..at].chars().last();
                    let preceded =
                        before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                    if !preceded {
                        out.push((n + 1, format!("uses the {krate} crate: {}", line.trim())));
                    }
                }
            }
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = Vec::new();
    let mut seen = [0usize; 4];
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_string();
        let Some(own) = layer(&top) else {
            // Only lib.rs lives outside the layers: it declares and re-exports them.
            assert_eq!(rel, Path::new("lib.rs"), "{} is in no layer", rel.display());
            continue;
        };
        seen[own] += 1;
        for (line, what) in violations(own, &std::fs::read_to_string(file).unwrap()) {
            problems.push(format!("{}:{line}: {} {what}", rel.display(), LAYERS[own]));
        }
    }
    assert!(
        seen.iter().all(|n| *n > 0),
        "every layer has modules: {seen:?}"
    );
    assert!(
        problems.is_empty(),
        "imports against the layer order:\n{}",
        problems.join("\n")
    );
}

/// The module a source file is (`api/routes/mod.rs` → `api::routes`).
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The modules `source` (module `own`) names through `crate::` paths,
/// each resolved to the longest known module prefix.
fn imports(own: &str, source: &str, known: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let path: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            for k in (1..=parts.len()).rev() {
                let candidate = parts[..k].join("::");
                if candidate != own && known.contains(&candidate) {
                    if !out.contains(&candidate) {
                        out.push(candidate);
                    }
                    break;
                }
            }
        }
    }
    out
}

/// A cycle in `deps`, if any (the modules on it, in order).
fn find_cycle(deps: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        deps: &[(String, Vec<String>)],
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.iter().any(|d| d == m) {
            return None;
        }
        path.push(m.to_string());
        let next = deps
            .iter()
            .find(|(n, _)| n == m)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        for n in next {
            if let Some(c) = visit(&n, deps, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.push(m.to_string());
        None
    }
    let mut done = Vec::new();
    for (m, _) in deps {
        if let Some(c) = visit(m, deps, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let files: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "lib.rs"))
        .map(|f| {
            (
                module_of(f.strip_prefix(&src).unwrap()),
                std::fs::read_to_string(f).unwrap(),
            )
        })
        .collect();
    let known: Vec<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let deps: Vec<(String, Vec<String>)> = files
        .iter()
        .map(|(m, text)| (m.clone(), imports(m, text, &known)))
        .collect();
    assert!(
        deps.iter().any(|(_, d)| !d.is_empty()),
        "imports were found"
    );
    assert_eq!(
        find_cycle(&deps),
        None,
        "modules importing each other in a cycle"
    );
}

#[test]
fn the_cycle_check_finds_cycles() {
    let known = vec!["a".to_string(), "b".to_string(), "b::c".to_string()];
    assert_eq!(
        imports("a", "use crate::b::c::Thing;\nuse crate::b;", &known),
        vec!["b::c", "b"]
    );
    let deps = |edges: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        edges
            .iter()
            .map(|(m, d)| (m.to_string(), d.iter().map(|x| x.to_string()).collect()))
            .collect()
    };
    assert_eq!(
        find_cycle(&deps(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])),
        None
    );
    assert_eq!(
        find_cycle(&deps(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn the_check_finds_upward_imports_and_http_types() {
    let domain = layer("domain").unwrap();
    assert!(
        violations(
            domain,
            "use crate::model::Machine;\nuse crate::domain::state::State;"
        )
        .is_empty()
    );
    let v = violations(
        domain,
        "use crate::api::Reply;\nfn f() -> crate::runtime::sim::Shared {}",
    );
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[0].0, 1);
    let v = violations(
        domain,
        "use http::StatusCode; // ok in a comment: crate::api\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        violations(
            layer("api").unwrap(),
            "use http::StatusCode; use crate::domain::x;"
        )
        .is_empty()
    );
    assert!(violations(layer("runtime").unwrap(), "use crate::api::Api;").is_empty());
}
