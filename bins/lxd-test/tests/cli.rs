//! The built `lxd-test` binary: bad input exits 2 with a one-line reason;
//! against a real LXD daemon it prepares the host, a second run changes
//! nothing, and failures exit 1 with a readable summary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use lxd_host::testing::{LxdDaemon, free_port, unique_name};
use lxd_host::{ClientIdentity, LxdClient, ServerTrust, TrustCredential, TrustToken};

fn lxd_test() -> Command {
    let mut cmd = Command::cargo_bin("lxd-test").unwrap();
    cmd.env_remove("LXD_SOCKET")
        .env_remove("LXD_DIR")
        .env_remove("RUST_LOG");
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 and exactly one non-empty line on stderr, containing `needle`.
fn assert_bad_input(args: &[&str], needle: &str) {
    let out = lxd_test().args(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "args {args:?}: expected one line, got {err:?}"
    );
    assert!(
        lines[0].starts_with("lxd-test: error: "),
        "args {args:?}: {:?} names the program",
        lines[0]
    );
    assert!(
        lines[0].contains(needle),
        "args {args:?}: {:?} lacks {needle:?}",
        lines[0]
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    assert_bad_input(&["--storage-backend=ceph"], "ceph");
    assert_bad_input(&["--storage-size=lots"], "lots");
    assert_bad_input(&["--storage-size=0"], "at least 1");
    assert_bad_input(&["--bogus"], "--bogus");
    assert_bad_input(&["--bridge-ipv4", "10.0.0.0/24"], "network address");
    assert_bad_input(&["--bridge-ipv4", "banana"], "--bridge-ipv4");
    assert_bad_input(&["--bridge-ipv6", "10.0.0.1/24"], "IPv6");
    assert_bad_input(&["--network-bridge", "a-name-far-too-long"], "15");
    assert_bad_input(&["--project", "has space"], "project");
    assert_bad_input(&["--https-address", "[::]:99999"], "--https-address");
    assert_bad_input(
        &["--trust-cert", "/nonexistent/cert.pem"],
        "/nonexistent/cert.pem",
    );
    assert_bad_input(
        &["--trust-cert", "/etc/hostname", "--issue-token", "x"],
        "--issue-token",
    );
    assert_bad_input(
        &[
            "--storage-backend=zfs",
            "--storage-size=5",
            "--storage-source=/dev/sdz",
        ],
        "exclude",
    );
    assert_bad_input(&["--log-level", "info=bogus=1"], "--log-level");
}

#[test]
fn help_shows_examples_and_exits_0() {
    let out = lxd_test().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("--storage-backend=zfs --storage-size=50 --network-bridge=br0"));
    assert!(text.contains("--issue-token"));
    assert!(text.contains("Exit status"));
    let out = lxd_test().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).trim(),
        format!("lxd-test {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn missing_socket_exits_1() {
    let out = lxd_test()
        .args(["--lxd-socket", "/nonexistent/lxd/unix.socket"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent/lxd/unix.socket"));
}

fn base_args(socket: &Path, pool: &str, bridge: &str, project: &str, port: u16) -> Vec<String> {
    vec![
        "--lxd-socket".into(),
        socket.display().to_string(),
        "--storage-backend=dir".into(),
        "--storage-size=50".into(),
        format!("--storage-pool={pool}"),
        format!("--network-bridge={bridge}"),
        "--bridge-ipv4".into(),
        "none".into(),
        format!("--project={project}"),
        format!("--https-address=127.0.0.1:{port}"),
    ]
}

#[test]
fn prepares_a_real_host_and_second_run_is_a_no_op() {
    let d = LxdDaemon::start().unwrap_or_else(|e| panic!("cannot start a test LXD daemon: {e}"));
    let pool = unique_name("pool");
    let bridge = unique_name("lxc");
    let project = unique_name("maas");
    let port = free_port().unwrap();
    let args = base_args(&d.socket(), &pool, &bridge, &project, port);

    // Dry run: shows the plan, changes nothing.
    let out = lxd_test().args(&args).arg("--dry-run").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("Dry run: nothing was changed"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = d.client().unwrap();
    assert!(rt.block_on(client.storage_pool(&pool)).unwrap().is_none());

    // First run: creates, lists what changed, reports the ignored size.
    let out = lxd_test().args(&args).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    for needle in [
        format!("created  storage pool {pool:?}"),
        format!("created  network {bridge:?}"),
        format!("created  project {project:?}"),
        format!("created  profile \"{project}/maas\""),
        "created  server config \"core.https_address\"".to_owned(),
        "--storage-size=50 is not applicable to the dir backend and was ignored".to_owned(),
        "[warn] VM support".to_owned(),
        "Result: the host is ready for MAAS".to_owned(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    let p = rt.block_on(client.storage_pool(&pool)).unwrap().unwrap();
    assert!(
        !p.config.contains_key("size"),
        "size must not be sent for dir"
    );

    // Second run: nothing to do, and it says so.
    let out = lxd_test().args(&args).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("No changes: the host already matches"),
        "{text}"
    );
    assert!(!text.contains("created "), "{text}");

    // JSON output parses and agrees.
    let out = lxd_test()
        .args(&args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["applied"].as_array().unwrap().len(), 0);
    assert!(
        v["plan"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "unchanged")
    );

    // A driver mismatch on the same pool: exit 1, readable reason.
    let mut zfs = args.clone();
    zfs.retain(|a| !a.starts_with("--storage-backend") && !a.starts_with("--storage-size"));
    zfs.push("--storage-backend=zfs".into());
    let out = lxd_test().args(&zfs).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("already exists with driver dir, not zfs"),
        "{err}"
    );
    assert!(err.contains("NOT ready"), "{err}");
    drop(rt);
    d.stop().unwrap();
}

#[test]
fn issue_token_prints_it_labelled_and_it_works_over_https() {
    let d = LxdDaemon::start().unwrap_or_else(|e| panic!("cannot start a test LXD daemon: {e}"));
    let project = unique_name("maas");
    let port = free_port().unwrap();
    let name = unique_name("region");
    let mut args = base_args(
        &d.socket(),
        &unique_name("pool"),
        &unique_name("lxc"),
        &project,
        port,
    );
    args.extend(["--issue-token".into(), name.clone()]);
    args.extend(["--log-format".into(), "json".into()]);
    let out = lxd_test()
        .env("RUST_LOG", "debug")
        .args(&args)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let label = format!("Trust token for {name:?}");
    let pos = text
        .find(&label)
        .unwrap_or_else(|| panic!("no token label in {text}"));
    let encoded = text[pos..].lines().nth(1).unwrap().trim().to_owned();
    let token = TrustToken::decode(&encoded).unwrap();
    assert_eq!(token.client_name, name);
    // The secret is in the requested output only: never in the logs.
    assert!(!stderr(&out).contains(&token.secret));
    assert!(!stderr(&out).contains(&encoded));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let identity = ClientIdentity::generate("cli-token").unwrap();
    let remote = LxdClient::https(
        &token.addresses[0],
        ServerTrust::Pinned(token.server_fingerprint().unwrap()),
        Some(&identity),
    )
    .unwrap();
    rt.block_on(remote.request_trust(&name, TrustCredential::Token(&token)))
        .unwrap();
    let projects = rt.block_on(remote.projects()).unwrap();
    assert_eq!(
        projects.into_iter().map(|p| p.name).collect::<Vec<_>>(),
        vec![project]
    );

    // Run again: the client is trusted; nothing changes, no token printed.
    let out = lxd_test().args(&args).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("No changes"), "{text}");
    assert!(!text.contains("Trust token for"), "{text}");
    drop(rt);
    d.stop().unwrap();
}

#[test]
fn trust_cert_file_is_added_restricted() {
    let d = LxdDaemon::start().unwrap_or_else(|e| panic!("cannot start a test LXD daemon: {e}"));
    let project = unique_name("maas");
    let identity = ClientIdentity::generate("cli-cert").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("maas.crt");
    std::fs::write(&cert, identity.cert_pem()).unwrap();
    let mut args = base_args(
        &d.socket(),
        &unique_name("pool"),
        &unique_name("lxc"),
        &project,
        free_port().unwrap(),
    );
    args.extend(["--trust-cert".into(), cert.display().to_string()]);
    let out = lxd_test().args(&args).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("created  trust"), "{text}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = d.client().unwrap();
    let listed = rt
        .block_on(c.certificate(&identity.fingerprint()))
        .unwrap()
        .unwrap();
    assert!(listed.restricted);
    assert_eq!(listed.projects, vec![project]);
    drop(rt);
    d.stop().unwrap();
}
