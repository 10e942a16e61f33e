//! The binary's command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use assert_cmd::Command;

fn bin() -> Command {
    Command::cargo_bin("capmaas-manager").unwrap()
}

#[test]
fn crd_subcommand_prints_exactly_config_crd() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/crd");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let expected = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let out = bin().arg("crd").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = bin()
        .args(args)
        .env_remove("MAAS_ENDPOINT")
        .env_remove("MAAS_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("capmaas-manager: error: "),
        "{err:?} names the program"
    );
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    assert_usage_error(&["--bogus"], "--bogus");
    assert_usage_error(&["--concurrency", "many"], "many");
    assert_usage_error(&["--sync-period", "soon"], "soon");
    assert_usage_error(&["--log-format", "xml"], "xml");
    assert_usage_error(&["--log-level", "info=bogus=1"], "--log-level");
    assert_usage_error(
        &["--maas-endpoint", "http://maas:5240/MAAS"],
        "--maas-api-key",
    );
    assert_usage_error(
        &[
            "--maas-endpoint",
            "http://maas:5240/MAAS",
            "--maas-api-key",
            "only-one-part-secretvalue",
        ],
        "default MAAS credentials",
    );
    let out = bin()
        .args([
            "--maas-endpoint",
            "http://maas:5240/MAAS",
            "--maas-api-key",
            "only-one-part-secretvalue",
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("secretvalue"),
        "the key is never echoed"
    );
}

#[test]
fn help_lists_the_flags() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--namespace",
        "--watch-filter",
        "--concurrency",
        "--sync-period",
        "--leader-elect",
        "--leader-elect-namespace",
        "--metrics-addr",
        "--health-addr",
        "--maas-endpoint",
        "--maas-api-key",
        "--maas-ca-bundle",
        "--log-format",
        "--log-level",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn help_has_examples_and_version_works() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Examples:"), "{text}");
    assert!(text.contains("capmaas-manager --leader-elect"), "{text}");
    assert!(text.contains("Exit status:"), "{text}");
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("capmaas-manager {}", env!("CARGO_PKG_VERSION"))
    );
}
