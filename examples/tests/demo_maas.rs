//! `make demo-maas` (examples/demo-maas/run.sh) end to end: the real
//! `maas-sim` binary in the background, the `lifecycle` example against it.
//! The binaries are built once (`cargo build`), then the script runs with
//! `DEMO_MAAS_NO_BUILD=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cli_support::testing::cargo_build;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo() -> String {
    option_env!("CARGO").unwrap_or("cargo").to_owned()
}

/// Builds maas-sim and the example once per test binary.
fn built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        cargo_build(
            &root(),
            &[
                "-p",
                "maas-sim-bin",
                "--bin",
                "maas-sim",
                "-p",
                "maas-examples",
                "--example",
                "lifecycle",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    });
}

fn script(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("examples/demo-maas/run.sh"));
    with_env(cmd, env)
}

/// `make demo-maas`, as a user runs it.
fn make(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("make");
    cmd.current_dir(root())
        .args(["--no-print-directory", "-s", "demo-maas"]);
    with_env(cmd, env)
}

fn with_env(mut cmd: Command, env: &[(&str, &str)]) -> Command {
    built();
    cmd.env("DEMO_MAAS_NO_BUILD", "1")
        .env("CARGO", cargo())
        .env_remove("DEMO_MAAS_SIM_ARGS")
        .env_remove("DEMO_MAAS_VERSION")
        .env_remove("MAAS_API_KEY")
        .env_remove("MAAS_ENDPOINT")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The simulator's pid, from the script's `maas-sim (pid N)` line.
fn sim_pid(stderr: &str) -> u32 {
    stderr
        .lines()
        .find_map(|l| l.split("maas-sim (pid ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no maas-sim pid in {stderr}"))
}

fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "maas-sim (pid {pid}) outlived the script"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn runs_the_lifecycle_against_the_maas_sim_binary() {
    let out = make(&[]).output().unwrap();
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "lifecycle: 2 machines allocated, deployed (1 in memory) and released in "
        ),
        "{all}"
    );
    // Progress lines follow MAAS's status messages; the in-memory deploy went
    // to a big machine of the inventory.
    for needle in [
        "Deploying - Performing PXE boot",
        "Deploying - Installing OS",
        "): Deployed",
        "): Ready - Released",
        "(big-mem-1) deployed in memory",
        "(small-disk-1) deployed on disk",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{all}");
    }
    let stderr = text(&out.stderr);
    assert!(stderr.contains("serves http://127.0.0.1:"), "{all}");
    assert_gone(sim_pid(&stderr));
}

#[test]
fn maas_3_4_deploys_both_machines_to_disk() {
    let out = script(&[("DEMO_MAAS_VERSION", "3.4")]).output().unwrap();
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("MAAS 3.4"), "{all}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or_default()
            .contains("(0 in memory)"),
        "{all}"
    );
    assert_gone(sim_pid(&text(&out.stderr)));
}

#[test]
fn a_failing_example_fails_the_target_and_still_stops_the_sim() {
    let out = script(&[("DEMO_MAAS_SIM_ARGS", "--fail-deploys 2")])
        .output()
        .unwrap();
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        text(&out.stderr).contains("lifecycle: error: failed:")
            && text(&out.stderr).contains("Failed deployment"),
        "{all}"
    );
    assert!(text(&out.stdout).contains("cleanup: released"), "{all}");
    assert_gone(sim_pid(&text(&out.stderr)));
}

#[test]
fn bad_maas_sim_flags_fail_with_its_reason() {
    let out = script(&[("DEMO_MAAS_SIM_ARGS", "--bogus-flag")])
        .output()
        .unwrap();
    let all = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(text(&out.stderr).contains("maas-sim exited early"), "{all}");
    assert!(text(&out.stderr).contains("--bogus-flag"), "{all}");
}

#[test]
fn ctrl_c_releases_the_machines_and_stops_the_sim() {
    // Like a terminal's Ctrl-C: SIGINT to the whole foreground process group.
    let mut child = script(&[("DEMO_DEPLOY_SECONDS", "30")])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = child.id();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        let mut lines = Vec::new();
        let mut signalled = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if !signalled && line.contains("): Deploying") {
                let status = Command::new("kill")
                    .args(["-INT", "--", &format!("-{pgid}")])
                    .status()
                    .unwrap();
                assert!(status.success());
                signalled = true;
            }
            lines.push(line);
        }
        lines
    });
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let mut stderr = stderr;
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let all = format!("{status:?}\n{}\n{stderr}", lines.join("\n"));
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "interrupted long before the 30 s deploys finish: {all}"
    );
    assert_eq!(status.code(), Some(130), "{all}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("lifecycle: cleanup: released"))
            .count(),
        2,
        "both machines given back before the sim stopped: {all}"
    );
    assert_gone(sim_pid(&stderr));
}

/// The example binary's own command line: `--help` with examples,
/// `--version`, bad flags and a missing MAAS exit 2 with one line.
#[test]
fn lifecycle_command_line() {
    built();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let bin = target.join("debug/examples/lifecycle");
    let run = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env_remove("MAAS_ENDPOINT")
            .env_remove("MAAS_API_KEY")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
    };
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("Examples:"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("lifecycle "));
    for (args, needle) in [
        (&["--bogus"][..], "--bogus"),
        (&["--poll", "soon"], "--poll"),
        (&[], "MAAS_ENDPOINT"),
    ] {
        let out = run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("lifecycle: error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
