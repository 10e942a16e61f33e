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

/// Every bad value of every flag: exit 2 before anything starts, one line
/// naming the flag and saying what is wrong.
#[test]
fn every_flag_is_checked_before_anything_starts() {
    let endpoint = [
        "--maas-endpoint",
        "http://maas:5240/MAAS",
        "--maas-api-key",
        "a:b:c",
    ];
    let le = |v: &'static str| vec!["--leader-elect", "--leader-elect-lease-duration", v];
    let not_pem = std::env::temp_dir().join(format!("capmaas-not-pem-{}", std::process::id()));
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let not_pem = not_pem.to_str().unwrap().to_owned();
    let with_endpoint = |extra: &[&str]| -> Vec<String> {
        endpoint
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            v(&["--poll-interval", "0s"]),
            "--poll-interval",
            "must be between 100ms and 10m",
        ),
        (
            v(&["--poll-interval", "-5s"]),
            "--poll-interval",
            "negative durations are not allowed",
        ),
        (
            v(&["--poll-interval", "10"]),
            "--poll-interval",
            "a unit is missing",
        ),
        (
            v(&["--poll-interval", "99999999999999999999h"]),
            "--poll-interval",
            "not a duration",
        ),
        (
            v(&["--sync-period", "0s"]),
            "--sync-period",
            "must be between 30s and 24h",
        ),
        (
            v(&["--sync-period", "25h"]),
            "--sync-period",
            "must be between 30s and 24h",
        ),
        (
            v(&["--concurrency", "0"]),
            "--concurrency",
            "must be from 1 to 65535",
        ),
        (
            v(&["--concurrency", "-5"]),
            "--concurrency",
            "must not be negative",
        ),
        (
            v(&["--concurrency", "65536"]),
            "--concurrency",
            "must be from 1 to 65535",
        ),
        (
            v(&["--concurrency=-5"]),
            "--concurrency",
            "must not be negative",
        ),
        (
            v(&le("0s")),
            "--leader-elect-lease-duration",
            "must be between 2s and 1h",
        ),
        (
            v(&le("2500ms")),
            "--leader-elect-lease-duration",
            "must be whole seconds",
        ),
        (
            v(&["--leader-elect-lease-duration", "15s"]),
            "--leader-elect",
            "required",
        ),
        (
            v(&["--leader-elect-namespace", "x"]),
            "--leader-elect",
            "required",
        ),
        (
            v(&["--leader-elect", "--leader-elect-lease-name", "Lease!"]),
            "--leader-elect-lease-name",
            "not an object name",
        ),
        (
            v(&["--deploy-timeout", "0s"]),
            "--deploy-timeout",
            "must be between 1m and 24h",
        ),
        (
            v(&["--deploy-timeout", "30s"]),
            "--deploy-timeout",
            "must be between 1m and 24h",
        ),
        (
            v(&["--deploy-retries", "-1"]),
            "--deploy-retries",
            "must not be negative",
        ),
        (
            v(&["--deploy-retries", "11"]),
            "--deploy-retries",
            "must be from 0 to 10",
        ),
        (
            v(&["--ephemeral-min-memory-mib", "16Gi"]),
            "--ephemeral-min-memory-mib",
            "not a whole number",
        ),
        (
            v(&["--ephemeral-min-memory-mib", "4294967297"]),
            "--ephemeral-min-memory-mib",
            "must be from 0 to 4294967296",
        ),
        (
            v(&["--dns-ttl", "-1s"]),
            "--dns-ttl",
            "negative durations are not allowed",
        ),
        (
            v(&["--dns-ttl", "1.5s"]),
            "--dns-ttl",
            "must be whole seconds",
        ),
        (
            v(&["--dns-ttl", "8d"]),
            "--dns-ttl",
            "must be between 0s and 168h",
        ),
        (
            v(&["--allocation-settle-time", "0s"]),
            "--allocation-settle-time",
            "must be between 10s and 1h",
        ),
        (
            v(&["--allocation-settle-time", "15s", "--poll-interval", "10s"]),
            "--allocation-settle-time",
            "at least twice --poll-interval",
        ),
        (
            v(&["--capacity-backoff", "0s"]),
            "--capacity-backoff",
            "must be between 10s and 1h",
        ),
        (
            v(&["--capacity-backoff-max", "0s"]),
            "--capacity-backoff-max",
            "must be between 10s and 24h",
        ),
        (
            v(&["--capacity-backoff", "5m", "--capacity-backoff-max", "1m"]),
            "--capacity-backoff-max",
            "must be at least --capacity-backoff",
        ),
        (
            v(&["--namespace", "Team_A"]),
            "--namespace",
            "not a namespace name",
        ),
        (
            v(&["--namespace", &"a".repeat(64)]),
            "--namespace",
            "not a namespace name",
        ),
        (
            v(&["--watch-filter", "a/b"]),
            "--watch-filter",
            "not a label value",
        ),
        (
            v(&["--metrics-addr", "0.0.0.0:9440"]),
            "--metrics-addr",
            "different ports",
        ),
        (
            v(&["--health-addr", "localhost"]),
            "--health-addr",
            "invalid",
        ),
        (
            v(&["--maas-ca-bundle", "/etc/hostname"]),
            "--maas-ca-bundle",
            "needs --maas-endpoint",
        ),
        (
            with_endpoint(&["--maas-ca-bundle", &not_pem]),
            "--maas-ca-bundle",
            "no CERTIFICATE block",
        ),
        (
            with_endpoint(&["--maas-ca-bundle", "/nonexistent/ca.pem"]),
            "--maas-ca-bundle",
            "cannot read",
        ),
        (
            v(&["--maas-endpoint", "ftp://maas", "--maas-api-key", "a:b:c"]),
            "default MAAS credentials",
            "endpoint",
        ),
    ];
    for (args, flag, what) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_usage_error(&args, flag);
        assert_usage_error(&args, what);
    }
    let _ = std::fs::remove_file(&not_pem);
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The extremes of every range are accepted: the manager gets past its
/// checks and only then fails, on the missing kubeconfig (exit 1, not 2).
#[test]
fn edge_values_are_accepted() {
    for args in [
        vec![
            "--poll-interval",
            "100ms",
            "--sync-period",
            "30s",
            "--deploy-timeout",
            "1m",
            "--deploy-retries",
            "0",
            "--ephemeral-min-memory-mib",
            "0",
            "--dns-ttl",
            "0s",
            "--allocation-settle-time",
            "10s",
            "--capacity-backoff",
            "10s",
            "--capacity-backoff-max",
            "10s",
            "--concurrency",
            "1",
            "--leader-elect",
            "--leader-elect-lease-duration",
            "2s",
            "--namespace",
            "",
            "--watch-filter",
            "",
        ],
        vec![
            "--poll-interval",
            "10m",
            "--sync-period",
            "24h",
            "--deploy-timeout",
            "24h",
            "--deploy-retries",
            "10",
            "--ephemeral-min-memory-mib",
            "4294967296",
            "--dns-ttl",
            "7d",
            "--allocation-settle-time",
            "1h",
            "--capacity-backoff",
            "1h",
            "--capacity-backoff-max",
            "24h",
            "--concurrency",
            "65535",
            "--leader-elect",
            "--leader-elect-lease-duration",
            "1h",
            "--leader-elect-lease-name",
            "a.b-c",
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
        ],
    ] {
        let out = bin()
            .args(&args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("MAAS_ENDPOINT")
            .env_remove("MAAS_API_KEY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("capmaas-manager: error:"), "{args:?}: {err}");
        assert!(err.contains("kubeconfig"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
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
        "--deploy-timeout",
        "--deploy-retries",
        "--ephemeral-min-memory-mib",
        "--dns-ttl",
        "--allocation-settle-time",
        "--capacity-backoff",
        "--capacity-backoff-max",
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
