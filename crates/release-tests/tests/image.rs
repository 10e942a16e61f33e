//! The container image: the Dockerfile's invariants (static binary on
//! distroless, numeric non-root user, entrypoint = the Deployment's command),
//! and the static build it runs (`hack/release/build-static.sh`), executed
//! here for real and checked to produce fully static binaries. No Docker
//! engine is needed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{docs, one};
use release_tests::components::{BINARY, ComponentsOptions, DEPLOYMENT, render_components};
use serde_json::json;

const DISTROLESS: &str = "gcr.io/distroless/static:nonroot";

/// `(instruction, rest)` of each Dockerfile line, continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (i, rest) = current
                    .trim()
                    .split_once(char::is_whitespace)
                    .unwrap_or((current.trim(), ""));
                out.push((i.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

fn final_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(common::root().join("Dockerfile")).unwrap();
    let all = instructions(&text);
    let last_from = all.iter().rposition(|(i, _)| i == "FROM").unwrap();
    all[last_from..].to_vec()
}

#[test]
fn the_dockerfile_ships_the_static_binary_on_distroless_as_non_root() {
    let text = std::fs::read_to_string(common::root().join("Dockerfile")).unwrap();
    let all = instructions(&text);
    let froms: Vec<&str> = all
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, r)| r.as_str())
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: builder + runtime");
    assert!(
        froms[0].contains("rust:") && froms[0].ends_with("AS builder"),
        "{froms:?}"
    );
    // The builder's Rust is the toolchain the workspace pins.
    let toolchain = std::fs::read_to_string(common::root().join("rust-toolchain.toml")).unwrap();
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        text.contains(&format!("ARG RUST_VERSION={channel}")),
        "Dockerfile RUST_VERSION != {channel}"
    );
    assert!(
        all.iter()
            .any(|(i, r)| i == "RUN" && r.contains("hack/release/build-static.sh release /out")),
        "the builder runs the static build script"
    );

    let stage = final_stage();
    assert_eq!(stage[0].1, DISTROLESS);
    let user = stage
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, r)| r.clone())
        .unwrap();
    assert_eq!(user, "65532:65532", "numeric distroless nonroot user");
    let entrypoint = stage
        .iter()
        .rev()
        .find(|(i, _)| i == "ENTRYPOINT")
        .map(|(_, r)| r.clone())
        .unwrap();
    let entrypoint: serde_json::Value = serde_json::from_str(&entrypoint).unwrap();
    assert_eq!(entrypoint, json!([BINARY]));
    let copies: Vec<&str> = stage
        .iter()
        .filter(|(i, _)| i == "COPY")
        .map(|(_, r)| r.as_str())
        .collect();
    assert!(
        copies.contains(&format!("--from=builder /out/capmaas-manager {BINARY}").as_str()),
        "{copies:?}"
    );
    assert!(
        copies.contains(&"--from=builder /out/maas-sim /maas-sim"),
        "{copies:?}"
    );

    // The Deployment runs that binary as that user.
    let d = docs(
        &render_components(&common::root(), &ComponentsOptions::from_env()).unwrap(),
        "components",
    );
    let pod = &one(&d, "Deployment", DEPLOYMENT)["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["command"], json!([BINARY]));
    let (uid, gid) = user.split_once(':').unwrap();
    assert_eq!(
        pod["securityContext"]["runAsUser"],
        uid.parse::<u64>().unwrap()
    );
    assert_eq!(
        pod["securityContext"]["runAsGroup"],
        gid.parse::<u64>().unwrap()
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    let ignore = std::fs::read_to_string(common::root().join(".dockerignore")).unwrap();
    for entry in [".git", "target", "out"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// Program-header types of an ELF64 little-endian file, and whether its
/// dynamic section (if any) names shared libraries (`DT_NEEDED`).
fn elf_facts(bytes: &[u8]) -> (Vec<u32>, bool) {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not ELF64");
    assert_eq!(bytes[5], 1, "not little-endian");
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let phoff = usize::try_from(u64_at(0x20)).unwrap();
    let phentsize = usize::from(u16_at(0x36));
    let phnum = usize::from(u16_at(0x38));
    let mut types = Vec::new();
    let mut needed = false;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32_at(ph);
        types.push(p_type);
        if p_type == 2 {
            // PT_DYNAMIC: entries of (d_tag, d_val); DT_NEEDED = 1, DT_NULL = 0.
            let off = usize::try_from(u64_at(ph + 8)).unwrap();
            let size = usize::try_from(u64_at(ph + 32)).unwrap();
            for e in (off..off + size).step_by(16) {
                match u64_at(e) {
                    0 => break,
                    1 => needed = true,
                    _ => {}
                }
            }
        }
    }
    (types, needed)
}

fn assert_static(path: &Path) {
    let (types, needed) = elf_facts(&std::fs::read(path).unwrap());
    assert!(
        !types.contains(&3),
        "{} has a PT_INTERP (dynamic loader)",
        path.display()
    );
    assert!(!needed, "{} needs shared libraries", path.display());
}

#[test]
fn the_static_build_of_the_dockerfile_yields_static_working_binaries() {
    let out = tempfile::tempdir().unwrap();
    common::build_static_binaries(out.path());
    let manager = out.path().join("capmaas-manager");
    let sim = out.path().join("maas-sim");
    for bin in [&manager, &sim] {
        assert_static(bin);
    }
    let version = Command::new(&manager).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("capmaas-manager {}", env!("CARGO_PKG_VERSION"))
    );
    let crd = Command::new(&manager).arg("crd").output().unwrap();
    assert!(crd.status.success());
    let crds = docs(
        &String::from_utf8(crd.stdout).unwrap(),
        "capmaas-manager crd",
    );
    assert_eq!(crds.len(), capi_types::crds::all().unwrap().len());
    let help = Command::new(&sim).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--listen"));
}

#[test]
fn a_dynamic_binary_is_recognised_as_such() {
    // The check above can fail: the test binary itself is dynamically linked (glibc).
    let me = std::env::current_exe().unwrap();
    let (types, needed) = elf_facts(&std::fs::read(me).unwrap());
    assert!(types.contains(&3) && needed);
}

#[test]
fn dockerfile_parsing() {
    let got = instructions("# c\nFROM a AS b\nRUN x \\\n && y\n\nUSER 1:1\n");
    assert_eq!(
        got,
        vec![
            ("FROM".into(), "a AS b".into()),
            ("RUN".into(), "x && y".into()),
            ("USER".into(), "1:1".into())
        ]
    );
}
