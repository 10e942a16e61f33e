//! The documentation book: generated reference pages are current, the
//! table of contents and the guides' links resolve, and mdBook builds it.
//!
//! `UPDATE_DOCS=1 cargo test -p release-tests --test docs` (or `make docs`)
//! rewrites the generated pages instead of failing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use release_tests::{
    CLI_REFERENCE, CRD_REFERENCE, DOCUMENTED_BINARIES, cli_reference, crd_doc, tools,
};

/// Pages this crate's owner writes (checked for broken links).
const GUIDES: [&str; 8] = [
    "introduction.md",
    "getting-started.md",
    "ephemeral.md",
    "lxd-vm-hosts.md",
    "clusterclass.md",
    "helm.md",
    "architecture.md",
    "release.md",
];

fn check_or_update(rel: &str, fresh: &str) {
    let path = common::root().join(rel);
    let fresh = format!("{fresh}\n");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != fresh {
        let line = current
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| current.lines().count().min(fresh.lines().count()));
        panic!(
            "{rel} is stale (first difference at line {}: {:?} vs generated {:?}); run `make docs`",
            line + 1,
            current.lines().nth(line),
            fresh.lines().nth(line)
        );
    }
}

#[test]
fn the_cli_reference_is_generated_from_the_binaries_help() {
    let mut dir = None;
    for (package, bin) in DOCUMENTED_BINARIES {
        let path = tools::cargo_bin(package, bin, &[]).unwrap();
        dir = Some(path.parent().unwrap().to_path_buf());
    }
    let dir = dir.unwrap();
    let md = cli_reference(&dir).unwrap();
    // Every flag of the manager is in the page.
    let help = Command::new(dir.join("capmaas-manager"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in help.split_whitespace().filter(|w| w.starts_with("--")) {
        // Prose in the help ("replaces --log-level.") ends flags with punctuation.
        let flag = flag.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
        assert!(md.contains(flag), "{flag} missing from the CLI reference");
    }
    check_or_update(CLI_REFERENCE, &md);
}

#[test]
fn the_crd_reference_is_generated_from_the_schemas() {
    check_or_update(CRD_REFERENCE, &crd_doc::render_all().unwrap());
}

/// Link targets of `[text](target)` in Markdown, without anchors; external
/// links and pure anchors are left out.
fn relative_links(text: &str) -> Vec<String> {
    // Code (fenced blocks and backtick spans) holds no links.
    let mut prose = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            for (i, part) in line.split('`').enumerate() {
                if i % 2 == 0 {
                    prose.push_str(part);
                }
            }
            prose.push('\n');
        }
    }
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_owned());
        }
    }
    out
}

#[test]
fn the_summary_links_every_guide_and_its_links_resolve() {
    let docs = common::root().join("docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap();
    let links = relative_links(&summary);
    for l in &links {
        assert!(
            docs.join(l).is_file(),
            "SUMMARY.md links {l}, which does not exist"
        );
    }
    let required = [
        "getting-started.md",
        "ephemeral.md",
        "lxd-vm-hosts.md",
        "lxd.md",
        "cli.md",
        "clusterclass.md",
        "helm.md",
        "operations.md",
        "architecture.md",
        "benchmarks.md",
        "release.md",
        CLI_REFERENCE.trim_start_matches("docs/"),
        CRD_REFERENCE.trim_start_matches("docs/"),
    ];
    for r in required {
        assert!(links.iter().any(|l| l == r), "SUMMARY.md does not link {r}");
    }
}

#[test]
fn the_guides_have_no_broken_relative_links() {
    let docs = common::root().join("docs");
    for page in GUIDES
        .iter()
        .copied()
        .chain([CLI_REFERENCE, CRD_REFERENCE].map(|p| &p[5..]))
    {
        let path = docs.join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        for l in relative_links(&text) {
            let target = path.parent().unwrap().join(&l);
            assert!(target.exists(), "{page} links {l}, which does not exist");
            // Links leaving docs/ break in the built book.
            let canonical = target.canonicalize().unwrap();
            assert!(
                canonical.starts_with(docs.canonicalize().unwrap()),
                "{page} links {l}, outside docs/ (use a repository path in backticks instead)"
            );
        }
    }
}

#[test]
fn mdbook_builds_the_book() {
    let mdbook = tools::mdbook().unwrap_or_else(|e| panic!("{e}"));
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new(&mdbook)
        .current_dir(common::root())
        .args(["build", "--dest-dir"])
        .arg(dest.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mdbook build failed:\n{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let summary = std::fs::read_to_string(common::root().join("docs/SUMMARY.md")).unwrap();
    for l in relative_links(&summary) {
        let html = Path::new(&l).with_extension("html");
        assert!(
            dest.path().join(&html).is_file(),
            "{} not built",
            html.display()
        );
    }
    assert!(dest.path().join("index.html").is_file());
}

#[test]
fn link_extraction() {
    assert_eq!(
        relative_links(
            "[a](x.md) [b](https://e.x) [c](y.md#z) [d](#top) [e](../r/s.md) `[f](g)`\n```\n[h](i)\n```\n"
        ),
        vec!["x.md", "y.md", "../r/s.md"]
    );
}
