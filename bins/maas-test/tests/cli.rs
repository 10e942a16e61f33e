#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `maas-test` end to end, the built binary in every mode: `--embedded`,
//! against a spawned `maas-sim` binary, `--ephemeral`, `--test-vm-host` with
//! and without `--static-ip`, `--keep`, `--output json` (parsed and
//! asserted), failures with a readable summary and exit 1, Ctrl-C with
//! cleanup, and bad input (exit 2).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cli_support::testing::cargo_build;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_maas-test");

fn command(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("MAAS_ENDPOINT")
        .env_remove("MAAS_API_KEY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn maas_test(args: &[&str], env: &[(&str, String)]) -> Output {
    command(args, env)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn code(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[track_caller]
fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn steps(r: &Value) -> Vec<(String, String)> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn all_ok(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), "ok".to_owned()))
        .collect()
}

#[test]
fn embedded_runs_every_step_and_reports_json() {
    let out = maas_test(
        &[
            "--embedded",
            "--test-vm-host",
            "--static-ip",
            "10.0.0.50",
            "--output",
            "json",
        ],
        &[],
    );
    code(&out, 0);
    let r = report(&out);
    assert_eq!(r["ok"], true);
    assert_eq!(r["embedded"], true);
    assert_eq!(r["maas_version"], "3.6.5");
    assert_eq!(r["user"], "admin");
    assert_eq!(
        steps(&r),
        all_ok(&[
            "connect",
            "auth",
            "allocate",
            "deploy",
            "release",
            "vm-host",
            "compose",
            "commission",
            "delete"
        ])
    );
    let m = &r["machine"];
    assert_eq!(m["status"], "Ready");
    assert_eq!(m["distro_series"], "jammy");
    assert!(!m["ip_addresses"].as_array().unwrap().is_empty());
    let vm = &r["vm"];
    assert_eq!(vm["vm_host"], "kvm-01");
    assert_eq!(vm["static_ip"], "10.0.0.50");
    assert_eq!(vm["ip_addresses"], json!(["10.0.0.50"]));
    assert_eq!(vm["status"], "Ready");
    assert_eq!(vm["deleted"], true);
    assert!(
        vm["hostname"].as_str().unwrap().starts_with("maas-test-"),
        "{vm}"
    );
    assert_eq!(r["left_behind"], json!([]));
    // Progress on stderr, the report alone on stdout.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("waiting for Deployed"), "{stderr}");
    assert!(stderr.contains("embedded maas-sim"), "{stderr}");
}

#[test]
fn embedded_ephemeral_deploys_to_memory() {
    let out = maas_test(
        &[
            "--embedded",
            "--ephemeral",
            "--mem",
            "32768",
            "--output",
            "json",
            "--quiet",
        ],
        &[],
    );
    code(&out, 0);
    let r = report(&out);
    assert_eq!(
        steps(&r)[..5],
        all_ok(&["connect", "auth", "allocate", "deploy", "release"])[..]
    );
    assert_eq!(r["machine"]["ephemeral_deploy"], true);
    assert!(r["machine"]["memory_mib"].as_i64().unwrap() >= 32768);
    let deploy = &r["steps"][3]["detail"];
    assert!(
        deploy.as_str().unwrap().contains("ephemeral_deploy: true"),
        "{deploy}"
    );
    assert!(out.stderr.is_empty(), "--quiet: {}", text(&out.stderr));
}

/// The `maas-sim` binary, built once per test run.
fn maas_sim_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            cargo_build(&root, &["-p", "maas-sim-bin", "--bin", "maas-sim"])
                .unwrap_or_else(|e| panic!("{e}"));
            let bin = Path::new(BIN).with_file_name("maas-sim");
            assert!(bin.is_file(), "{} was not built", bin.display());
            bin
        })
        .clone()
}

/// A spawned `maas-sim` with the embedded inventory and short timings.
struct SimProcess {
    child: Child,
    vars: BTreeMap<String, String>,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl SimProcess {
    fn spawn() -> SimProcess {
        let dir = tempfile::tempdir().unwrap();
        let inventory = dir.path().join("inventory.yaml");
        std::fs::write(&inventory, maas_checks::embedded::INVENTORY).unwrap();
        let mut child = Command::new(maas_sim_binary())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "warn",
                "--deploy-seconds",
                "1",
                "--release-seconds",
                "0.3",
                "--commission-seconds",
                "0.5",
                "--power-seconds",
                "0.1",
                "--inventory",
            ])
            .arg(&inventory)
            .env_remove("MAAS_SIM_API_KEY")
            .env_remove("MAAS_SIM_USER_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn maas-sim");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut vars = BTreeMap::new();
        for _ in 0..4 {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "maas-sim exited early"
            );
            let (k, v) = line.trim_end().split_once('=').unwrap();
            vars.insert(k.to_owned(), v.to_owned());
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        SimProcess {
            child,
            vars,
            _dir: dir,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAAS_ENDPOINT", self.vars["MAAS_ENDPOINT"].clone()),
            ("MAAS_API_KEY", self.vars["MAAS_API_KEY"].clone()),
        ]
    }

    /// A control-API call.
    fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/{path}", self.vars["MAAS_SIM_CONTROL"]);
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
            let t = resp.text().await.unwrap();
            serde_json::from_str(&t).unwrap_or(Value::Null)
        })
    }

    fn machine(&self, system_id: &str) -> Value {
        self.control(reqwest::Method::GET, &format!("machines/{system_id}"), None)
    }

    fn machines(&self) -> Vec<Value> {
        self.control(reqwest::Method::GET, "machines", None)
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn against_the_maas_sim_binary_in_every_mode() {
    let sim = SimProcess::spawn();
    let env = sim.env();
    let fast = ["--poll-interval", "0.1"];

    // Everything, text report: lifecycle and a VM with a static IP.
    let args = [
        &fast[..],
        &[
            "--test-vm-host",
            "--static-ip",
            "10.0.0.60",
            "--zone",
            "default",
            "--resource-pool",
            "default",
            "--cpu-count",
            "8",
        ],
    ]
    .concat();
    let out = maas_test(&args, &env);
    code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("maas-test: MAAS 3.6.5 at http://127.0.0.1:"),
        "{stdout}"
    );
    for step in [
        "connect",
        "auth",
        "allocate",
        "deploy",
        "release",
        "vm-host",
        "compose",
        "commission",
        "delete",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with("[ok]") && l.contains(&format!(" {step} "))),
            "{step} not ok:\n{stdout}"
        );
    }
    assert!(stdout.contains("eth0 10.0.0.60"), "{stdout}");
    assert!(
        stdout.contains("Result: ok (9 passed, 0 failed, 0 skipped)"),
        "{stdout}"
    );
    // The machine is Ready again and unowned; the VM is gone.
    let machines = sim.machines();
    assert!(
        machines
            .iter()
            .all(|m| !m["hostname"].as_str().unwrap().starts_with("maas-test-")),
        "the VM was not deleted"
    );
    let used: Vec<&Value> = machines
        .iter()
        .filter(|m| m["hostname"] != "kvm-01" && m["status"] != "ready")
        .collect();
    assert!(used.is_empty(), "left allocated/deployed: {used:?}");

    // VM host only, without a static IP, kept.
    let args = [
        &fast[..],
        &[
            "--skip-lifecycle",
            "--test-vm-host",
            "--vm-host",
            "kvm-01",
            "--node-ip",
            "10.0.0.10",
            "--vm-hostname",
            "kept-vm",
            "--vm-cores",
            "2",
            "--keep",
            "--output",
            "json",
        ],
    ]
    .concat();
    let out = maas_test(&args, &env);
    code(&out, 0);
    let r = report(&out);
    assert_eq!(
        steps(&r),
        vec![
            ("connect".into(), "ok".into()),
            ("auth".into(), "ok".into()),
            ("allocate".into(), "skipped".into()),
            ("vm-host".into(), "ok".into()),
            ("compose".into(), "ok".into()),
            ("commission".into(), "ok".into()),
            ("delete".into(), "skipped".into()),
        ]
    );
    let vm = &r["vm"];
    assert_eq!(vm["hostname"], "kept-vm");
    assert_eq!(vm["deleted"], false);
    assert_eq!(vm["static_ip"], Value::Null);
    assert_eq!(vm["cpu_count"], 2);
    let kept = sim.machine(vm["system_id"].as_str().unwrap());
    assert_eq!(kept["status"], "ready");
    assert_eq!(kept["vm_host"], "kvm-01");
    assert!(
        r["left_behind"][0].as_str().unwrap().contains("kept-vm"),
        "{r}"
    );

    // No VM host at that address.
    let args = [
        &fast[..],
        &[
            "--skip-lifecycle",
            "--test-vm-host",
            "--node-ip",
            "10.0.0.99",
        ],
    ]
    .concat();
    let out = maas_test(&args, &env);
    code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("vm-host: no VM host has the address 10.0.0.99; MAAS has kvm-01"),
        "{stdout}"
    );

    // Lifecycle kept: the machine stays Deployed.
    let args = [
        &fast[..],
        &["--keep", "--output", "json", "--agent-name", "keeper"],
    ]
    .concat();
    let out = maas_test(&args, &env);
    code(&out, 0);
    let r = report(&out);
    let sid = r["machine"]["system_id"].as_str().unwrap();
    let m = sim.machine(sid);
    assert_eq!(m["status"], "deployed");
    assert_eq!(m["agent_name"], "keeper");
    assert_eq!(steps(&r)[4], ("release".into(), "skipped".into()));

    // A deployment that fails: readable summary, exit 1, machine released.
    sim.control(
        reqwest::Method::POST,
        "faults/scripted",
        Some(json!({"kind": "fail_deploys", "count": 1})),
    );
    let out = maas_test(&fast, &env);
    code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Result: FAILED (4 passed, 1 failed"),
        "{stdout}"
    );
    let failed_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("deploy:"))
        .unwrap_or_else(|| panic!("no failure summary line:\n{stdout}"));
    assert!(failed_line.contains("is Failed deployment"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("[ok]") && l.contains(" cleanup ")),
        "{stdout}"
    );
    let failed_sid = failed_line
        .trim_start()
        .trim_start_matches("deploy: ")
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(sim.machine(failed_sid)["status"], "ready");
    assert!(
        text(&out.stderr).contains("maas-test: error: failed: deploy"),
        "{}",
        text(&out.stderr)
    );

    // Constraints nothing matches: the allocate step says so.
    let args = [&fast[..], &["--cpu-count", "512", "--output", "json"]].concat();
    let out = maas_test(&args, &env);
    code(&out, 1);
    let r = report(&out);
    assert_eq!(r["ok"], false);
    assert_eq!(steps(&r)[2], ("allocate".into(), "failed".into()));
    let detail = r["steps"][2]["detail"].as_str().unwrap();
    assert!(detail.contains("409"), "{detail}");
    assert!(detail.contains("relax --cpu-count"), "{detail}");

    // A wrong key: auth fails, nothing else runs.
    let bad = vec![
        ("MAAS_ENDPOINT", sim.vars["MAAS_ENDPOINT"].clone()),
        (
            "MAAS_API_KEY",
            "AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d".into(),
        ),
    ];
    let out = maas_test(&fast, &bad);
    code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[FAILED]  auth"), "{stdout}");
    assert!(stdout.contains("401"), "{stdout}");
    assert!(!stdout.contains("Zq9XyW8v"), "{stdout}");
    assert!(!text(&out.stderr).contains("Zq9XyW8v"));
}

#[test]
fn a_vm_host_test_on_maas_3_8_fails_readably() {
    let out = maas_test(
        &[
            "--embedded",
            "--embedded-version",
            "3.8",
            "--skip-lifecycle",
            "--test-vm-host",
            "-q",
        ],
        &[],
    );
    code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[FAILED]  vm-host"), "{stdout}");
    assert!(
        stdout
            .contains("vm-host: MAAS 410 gone: VM host (KVM) support has been removed from MAAS."),
        "{stdout}"
    );
    assert!(stdout.contains("they exist up to MAAS 3.7"), "{stdout}");
}

#[test]
fn ctrl_c_during_a_deploy_releases_the_machine() {
    let mut child = command(&["--embedded", "--output", "json"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "maas-test ended early:\n{seen}"
        );
        seen.push_str(&line);
        if line.contains("deploying ") {
            break;
        }
        assert!(Instant::now() < deadline, "no deploy started:\n{seen}");
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(1), "{stdout}\n{seen}{rest}");
    assert!(rest.contains("interrupted: cleaning up"), "{rest}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let s = steps(&r);
    assert_eq!(s[3], ("deploy".into(), "failed".into()));
    assert_eq!(r["steps"][3]["detail"], "interrupted");
    assert_eq!(s[4], ("cleanup".into(), "ok".into()));
    assert_eq!(r["machine"]["status"], "Ready");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    type Env = Vec<(&'static str, String)>;
    let key = "AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d";
    let maas: Env = vec![
        ("MAAS_ENDPOINT", "http://127.0.0.1:9/MAAS".into()),
        ("MAAS_API_KEY", key.into()),
    ];
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (vec![], vec![], "no MAAS given"),
        (
            vec![],
            vec![("MAAS_ENDPOINT", "http://127.0.0.1:9/MAAS".into())],
            "--maas-api-key",
        ),
        (
            vec![],
            vec![
                ("MAAS_ENDPOINT", "http://127.0.0.1:9/MAAS".into()),
                ("MAAS_API_KEY", "a:b".into()),
            ],
            "--maas-api-key",
        ),
        (
            vec!["--static-ip", "10.0.0.5"],
            maas.clone(),
            "--test-vm-host",
        ),
        (
            vec!["--test-vm-host", "--static-ip", "10.0.0"],
            maas.clone(),
            "invalid value '10.0.0'",
        ),
        (vec!["--skip-lifecycle"], maas.clone(), "nothing to test"),
        (
            vec!["--skip-lifecycle", "--test-vm-host", "--ephemeral"],
            maas.clone(),
            "--skip-lifecycle skips",
        ),
        (
            vec!["--test-vm-host", "--vm-memory", "512"],
            maas.clone(),
            "--vm-memory",
        ),
        (
            vec!["--poll-interval", "0"],
            maas.clone(),
            "--poll-interval",
        ),
        (
            vec!["--deploy-timeout", "0"],
            maas.clone(),
            "--deploy-timeout",
        ),
        (
            vec!["--embedded", "--embedded-version", "2.9"],
            vec![],
            "--embedded-version",
        ),
        (
            vec!["--embedded-version", "3.7"],
            maas.clone(),
            "--embedded",
        ),
        (
            vec!["--output", "xml"],
            maas.clone(),
            "possible values: text, json",
        ),
        (
            vec!["--bogus"],
            maas.clone(),
            "unexpected argument '--bogus'",
        ),
        (
            vec!["--log-level", "info=bogus=1"],
            maas.clone(),
            "--log-level",
        ),
    ];
    for (args, env, expected) in cases {
        let out = maas_test(&args, &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("maas-test: error: "),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("Zq9XyW8v"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = maas_test(&["--help"], &[]);
    code(&out, 0);
    let help = text(&out.stdout);
    assert!(help.contains("Examples:"), "{help}");
    assert!(help.contains("--embedded"), "{help}");
    assert!(help.contains("MAAS_ENDPOINT"), "{help}");
    let out = maas_test(&["--version"], &[]);
    code(&out, 0);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("maas-test {}", env!("CARGO_PKG_VERSION"))
    );
}
