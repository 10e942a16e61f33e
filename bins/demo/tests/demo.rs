//! `make demo` end to end: the `capmaas-demo` binary with the real
//! `maas-sim` and `capmaas-manager` binaries (built here with `cargo build`
//! if needed) and a real etcd + kube-apiserver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cli_support::testing::cargo_build;

fn demo_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_capmaas-demo"))
}

/// maas-sim and capmaas-manager next to the demo binary (where `cargo
/// build` puts them), built once per test binary.
fn children_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        cargo_build(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
            &[
                "-p",
                "maas-sim-bin",
                "--bin",
                "maas-sim",
                "-p",
                "capmaas-manager",
                "--bin",
                "capmaas-manager",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = demo_bin().parent().unwrap().to_owned();
        for bin in ["maas-sim", "capmaas-manager"] {
            assert!(dir.join(bin).is_file(), "{bin} not in {}", dir.display());
        }
    });
}

/// A demo run in its own TMPDIR, so that whatever it starts can be found.
fn demo(tmp: &Path, machines: &str) -> Command {
    children_built();
    let mut cmd = Command::new(demo_bin());
    cmd.env("DEMO_NONINTERACTIVE", "1")
        .env("DEMO_MACHINES", machines)
        .env("DEMO_DEPLOY_SECONDS", "2")
        .env("DEMO_TIMEOUT", "180")
        .env("TMPDIR", tmp)
        .env_remove("DEMO_BIN_DIR")
        .env_remove("DEMO_MAAS_VERSION")
        .stdin(Stdio::null());
    cmd
}

/// Processes (other than this one) whose command line or environment
/// mentions `dir`.
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        for file in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(entry.path().join(file))
                && String::from_utf8_lossy(&bytes).contains(&needle)
            {
                let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "{pid}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
                break;
            }
        }
    }
    found
}

fn assert_nothing_left(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = processes_using(dir);
        let files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        if left.is_empty() && files.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: processes {left:#?}, files {files:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn noninteractive_demo_provisions_and_releases_every_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = demo(tmp.path(), "3").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!(
        "{:?} after {:?}\n--- stdout\n{stdout}--- stderr\n{}",
        out.status,
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    let last = stdout.lines().last().unwrap_or_default();
    let rest = last
        .strip_prefix("demo: 3/3 machines provisioned and released in ")
        .unwrap_or_else(|| panic!("summary line: {all}"));
    let (secs, tail) = rest.split_once("s (").unwrap();
    assert!(secs.parse::<f64>().unwrap() > 0.0, "{last}");
    assert_eq!(tail, "1 in memory)", "{last}");
    assert!(!stdout.contains('\x1b'), "no cursor control: {all}");
    // Progress lines for each machine, through provisioning to release.
    for name in ["demo-control-plane-0", "demo-worker-0", "demo-worker-1"] {
        for state in ["Provisioned", "Releasing", "Released"] {
            assert!(
                stdout.contains(&format!("] {name}: {state} (system-id ")),
                "{name} never {state}: {all}"
            );
        }
    }
    assert!(
        stdout.contains("demo-worker-0: Provisioned (system-id ")
            && stdout
                .lines()
                .any(|l| l.contains("demo-worker-0: Provisioned") && l.ends_with("in-memory yes)")),
        "the ephemeral machine runs in memory: {all}"
    );
    assert!(
        stdout.contains("Cluster status.initialization.infrastructureProvisioned=true"),
        "{all}"
    );
    assert!(
        stdout.contains("stopped capmaas-manager (SIGTERM: exit 0)"),
        "{all}"
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn ctrl_c_stops_everything_it_started() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = demo(tmp.path(), "2")
        .env("DEMO_DEPLOY_SECONDS", "60")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if !sent && line.contains(": Deploying (system-id") {
                assert!(
                    Command::new("kill")
                        .args(["-INT", &pid.to_string()])
                        .status()
                        .unwrap()
                        .success()
                );
                sent = true;
            }
            lines.push(line);
        }
        (sent, lines)
    });
    let started = Instant::now();
    let status = child.wait().unwrap();
    let (sent, lines) = reader.join().unwrap();
    let all = format!("{status:?}\n{}", lines.join("\n"));
    assert!(sent, "never saw a machine deploying: {all}");
    assert!(started.elapsed() < Duration::from_secs(170), "{all}");
    assert_eq!(status.code(), Some(130), "{all}");
    let last = lines.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("demo: 0/2 machines provisioned and released in ")
            && last.ends_with("FAILED: interrupted"),
        "{all}"
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn bad_knobs_exit_2_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(tmp.path(), "0").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("capmaas-demo: error: "), "{err}");
    assert!(err.contains("DEMO_MACHINES"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn help_version_and_bad_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(tmp.path(), "1").arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["Examples:", "DEMO_MACHINES", "make demo", "Exit status:"] {
        assert!(help.contains(needle), "{needle} missing: {help}");
    }
    let out = demo(tmp.path(), "1").arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("capmaas-demo {}", env!("CARGO_PKG_VERSION"))
    );
    let out = demo(tmp.path(), "1").arg("--machines").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("capmaas-demo: error: "), "{err}");
    assert!(err.contains("--machines"), "{err}");
    assert_nothing_left(tmp.path());
}

#[test]
fn missing_binaries_are_named_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(tmp.path(), "1")
        .env("DEMO_BIN_DIR", tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("FAILED: maas-sim not found at") && last.contains("nowhere"),
        "{stdout}"
    );
    assert_nothing_left(tmp.path());
}
