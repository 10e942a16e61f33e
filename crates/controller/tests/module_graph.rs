//! The controller's modules form no import cycle (docs/architecture.md):
//! reads `src/*.rs` (outside `#[cfg(test)]`), collects every `crate::<module>`
//! path, and fails with the cycle when one module reaches itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The modules `text` names as `crate::m` or `crate::{m, n::x}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: the first segment of each.
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && depth == 0 && !c.is_whitespace() => {
                        item_start = false;
                        let name = ident(&group[j..]);
                        if !name.is_empty() {
                            out.insert(name.to_owned());
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    // Unit tests may reach anywhere.
    let code_of = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap();
        text.split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "rs") {
            files.entry(module).or_default().push_str(&code_of(&path));
        } else if path.is_dir() {
            // A directory module: all its files count as the module's.
            for sub in std::fs::read_dir(&path).unwrap() {
                let sub = sub.unwrap().path();
                if sub.extension().is_some_and(|e| e == "rs") {
                    files
                        .entry(module.clone())
                        .or_default()
                        .push_str(&code_of(&sub));
                }
            }
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .into_iter()
        .map(|(m, code)| {
            let deps = crate_paths(&code)
                .into_iter()
                .filter(|d| *d != m && modules.contains(d))
                .collect();
            (m, deps)
        })
        .collect()
}

/// A cycle through `start`, if any.
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for dep in g.get(&node).into_iter().flatten() {
            if dep == start {
                let mut p = path.clone();
                p.push(dep.clone());
                return Some(p);
            }
            if seen.insert(dep.clone()) {
                let mut p = path.clone();
                p.push(dep.clone());
                stack.push((dep.clone(), p));
            }
        }
    }
    None
}

#[test]
fn paths_are_read_in_both_forms() {
    let text = "use crate::context::{Context, key_of};\nuse crate::{cluster, machine::now, template};\nlet x = crate::clock::now();";
    let got: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(got, ["clock", "cluster", "context", "machine", "template"]);
}

#[test]
fn a_cycle_is_found() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycle_from(&g, "a").unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(cycle_from(&g, "d"), None);
}

#[test]
fn no_two_controller_modules_import_each_other() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(g.len() > 10, "read the modules: {g:?}");
    assert!(g["machine"].contains("context"), "{g:?}");
    let cycles: Vec<String> = g
        .keys()
        .filter_map(|m| cycle_from(&g, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between controller modules:\n{}",
        cycles.join("\n")
    );
}
