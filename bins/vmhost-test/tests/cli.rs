#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `vmhost-test` end to end: the built binary against maas-sim with real
//! LXD discovery and real LXD daemons (`lxd_host::testing::LxdDaemon`).
//!
//! - registration with a trusted certificate proves trust end to end (MAAS
//!   discovers LXD's real resources and creates its project), a second run
//!   changes nothing, zone/pool drift is corrected, a non-admin key gets 403;
//! - a generated certificate is printed when LXD does not trust it, and the
//!   next run succeeds once it is trusted; a trust token works;
//! - MAAS 3.8 answers 410; an unreachable LXD is a 503 from the refresh
//!   (against the `maas-sim` binary with `--vmhost-discovery lxd`); bad flags
//!   exit 2.
//!
//! The LXD tests need root and the Debian packages `lxd`, `iptables` and
//! `dnsmasq-base`; without them they fail saying what to install.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use cli_support::testing::cargo_build;

use lxd_host::testing::{LxdDaemon, free_port};
use lxd_host::types::StoragePoolCreate;
use lxd_host::{CertificateAdd, ClientIdentity, LxdClient};
use maas_api::{ClientConfig, MaasClient, RetryPolicy, VmHostUpdateParams};
use maas_sim::{Inventory, MaasVersion, RunningSimulator, Simulator, SimulatorBuilder};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vmhost-test");

const INVENTORY: &str = r#"
zones: [{name: rack-a}]
pools: [{name: vms}]
"#;

/// An in-process simulator on its own runtime, so that the test thread can
/// run the binary synchronously.
struct Sim {
    rt: tokio::runtime::Runtime,
    sim: Option<RunningSimulator>,
}

impl Sim {
    fn start(builder: SimulatorBuilder) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let inventory = Inventory::from_yaml(INVENTORY).unwrap();
        let sim = rt
            .block_on(builder.inventory(inventory).start("127.0.0.1:0"))
            .unwrap();
        Sim { rt, sim: Some(sim) }
    }

    fn sim(&self) -> &RunningSimulator {
        self.sim.as_ref().unwrap()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAAS_ENDPOINT", self.sim().endpoint()),
            ("MAAS_API_KEY", self.sim().admin_api_key().to_owned()),
        ]
    }

    fn admin(&self) -> MaasClient {
        let cfg = ClientConfig::new(&self.sim().endpoint(), self.sim().admin_api_key())
            .unwrap()
            .with_retry(RetryPolicy::none());
        MaasClient::new(cfg).unwrap()
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.shutdown());
        }
    }
}

/// Runs the binary with a clean environment plus `env`.
fn vmhost(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("MAAS_ENDPOINT")
        .env_remove("MAAS_API_KEY")
        .env_remove("LXD_TRUST_PASSWORD")
        .env_remove("LXD_TRUST_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
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

/// A daemon listening on 127.0.0.1:<port> with a `dir` pool `default`.
fn lxd() -> (LxdDaemon, u16) {
    let daemon =
        LxdDaemon::start().unwrap_or_else(|e| panic!("cannot start a test LXD daemon: {e}"));
    let port = free_port().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = daemon.client().unwrap();
        let config: BTreeMap<String, String> =
            [("core.https_address".to_owned(), format!("127.0.0.1:{port}"))].into();
        c.patch_server_config(&config).await.unwrap();
        c.create_storage_pool(&StoragePoolCreate {
            name: "default".into(),
            driver: "dir".into(),
            description: String::new(),
            config: BTreeMap::new(),
        })
        .await
        .unwrap();
    });
    (daemon, port)
}

fn lxd_call<T>(daemon: &LxdDaemon, f: impl AsyncFnOnce(LxdClient) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = daemon.client().unwrap();
    rt.block_on(f(c))
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

#[test]
fn trusted_certificate_registers_idempotently_corrects_drift_and_needs_an_admin() {
    let (daemon, port) = lxd();
    let id = ClientIdentity::generate("vmhost-test-it").unwrap();
    lxd_call(&daemon, async |c| {
        c.add_certificate(&CertificateAdd::from_identity("maas", &id))
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "maas.crt", id.cert_pem());
    let key = write(dir.path(), "maas.key", id.key_pem().expose());
    let sim = Sim::start(Simulator::builder().lxd_discovery());
    let port_s = port.to_string();
    let args = [
        "--node-ip",
        "127.0.0.1",
        "--lxd-port",
        &port_s,
        "--cert",
        &cert,
        "--key",
        &key,
        "--zone",
        "rack-a",
        "--resource-pool",
        "vms",
        "--output",
        "json",
    ];

    // 1. Registered, and MAAS discovered the real daemon.
    let out = vmhost(&args, &sim.env());
    code(&out, 0);
    let r = json(&out);
    assert_eq!(r["ok"], true);
    assert_eq!(r["action"], "created");
    assert_eq!(r["name"], "lxd-host-127-0-0-1");
    assert_eq!(r["power_address"], format!("https://127.0.0.1:{port}"));
    let env = lxd_call(&daemon, async |c| c.server().await.unwrap())
        .environment
        .unwrap();
    let h = &r["vm_host"];
    assert_eq!(h["version"], env.server_version.as_str());
    assert_eq!(h["zone"], "rack-a");
    assert_eq!(h["pool"], "vms");
    assert_eq!(h["project"], "maas");
    assert!(h["total"]["cores"].as_i64().unwrap() > 0, "{h}");
    assert!(h["total"]["memory_mib"].as_i64().unwrap() > 0, "{h}");
    assert_eq!(h["storage_pools"][0]["name"], "default");
    assert_eq!(h["storage_pools"][0]["type"], "dir");
    assert!(r["certificate_to_trust"].is_null());
    // MAAS (the simulator) created its project on the daemon.
    let project = lxd_call(&daemon, async |c| c.project("maas").await.unwrap());
    assert_eq!(
        project.expect("project maas").description,
        maas_sim::MAAS_PROJECT_DESCRIPTION
    );
    // The key went to MAAS but never to the output.
    assert!(!text(&out.stdout).contains("PRIVATE KEY"));
    assert!(!text(&out.stderr).contains("PRIVATE KEY"));
    assert!(!text(&out.stderr).contains(sim.sim().admin_api_key()));

    // 2. A second run changes nothing (no create, no update).
    sim.sim().control().clear_requests();
    let out = vmhost(&args, &sim.env());
    code(&out, 0);
    let r = json(&out);
    assert_eq!(r["action"], "unchanged");
    assert_eq!(r["matched_by"], "name");
    assert_eq!(r["changes"], serde_json::json!([]));
    let writes: Vec<_> = sim
        .sim()
        .control()
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" || (q.method == "POST" && q.op.is_none()))
        .collect();
    assert!(writes.is_empty(), "a no-op run wrote: {writes:?}");

    // 3. Someone moved it to another zone and pool: corrected.
    let maas = sim.admin();
    let vm_id = r["vm_host_id"].as_i64().unwrap();
    sim.block_on(maas.update_vm_host(
        vm_id,
        &VmHostUpdateParams {
            zone: Some("default".into()),
            pool: Some("default".into()),
            ..VmHostUpdateParams::default()
        },
    ))
    .unwrap();
    let text_args: Vec<&str> = args[..args.len() - 2].to_vec();
    let out = vmhost(&text_args, &sim.env());
    code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("updated, found by name"), "{stdout}");
    assert!(stdout.contains("zone: default -> rack-a"), "{stdout}");
    assert!(stdout.contains("pool: default -> vms"), "{stdout}");
    assert!(
        stdout.contains("Result: the VM host is registered and MAAS can use it."),
        "{stdout}"
    );
    let host = sim.block_on(maas.read_vm_host(vm_id)).unwrap();
    assert_eq!(host.zone.unwrap().name, "rack-a");
    assert_eq!(host.pool.unwrap().name, "vms");
    // Progress went to stderr.
    assert!(text(&out.stderr).contains("refreshing VM host"));

    // 4. A non-admin's key: 403, explained.
    let user_env = vec![
        ("MAAS_ENDPOINT", sim.sim().endpoint()),
        ("MAAS_API_KEY", sim.sim().user_api_key().to_owned()),
    ];
    let out = vmhost(&args, &user_env);
    code(&out, 1);
    let r = json(&out);
    assert_eq!(r["ok"], false);
    assert_eq!(r["user_is_admin"], false);
    assert_eq!(r["error"]["kind"], "not_admin");
    assert_eq!(r["error"]["status"], 403);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("403 Forbidden"), "{msg}");
    assert!(
        msg.contains("\"user\", who is not a MAAS administrator"),
        "{msg}"
    );
    assert!(text(&out.stderr).contains("not a MAAS administrator"));
    drop(sim);
    daemon.stop().unwrap();
}

#[test]
fn generated_certificate_is_printed_until_trusted_and_tokens_work() {
    let (daemon, port) = lxd();
    let sim = Sim::start(Simulator::builder().lxd_discovery());
    let port_s = port.to_string();
    let args = [
        "--node-ip",
        "127.0.0.1",
        "--lxd-port",
        &port_s,
        "--name",
        "kvm-gen",
        "--output",
        "json",
    ];
    // No credentials: a key pair is generated; LXD does not trust it yet.
    let out = vmhost(&args, &sim.env());
    code(&out, 1);
    let r = json(&out);
    assert_eq!(r["action"], "created");
    assert_eq!(r["error"]["kind"], "lxd_untrusted");
    assert_eq!(r["error"]["status"], 503);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Certificate is not trusted"),
        "{r}"
    );
    assert!(
        r["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("lxd-test --trust-cert"),
        "{r}"
    );
    let pem = r["certificate_to_trust"]["pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let fp = r["certificate_to_trust"]["fingerprint"].as_str().unwrap();
    assert_eq!(fp, lxd_host::Fingerprint::of_pem(&pem).unwrap().to_hex());
    // The VM host is saved in MAAS anyway (MAAS ≥ 3.1).
    let maas = sim.admin();
    let hosts = sim.block_on(maas.list_vm_hosts()).unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].name, "kvm-gen");

    // The text report shows the certificate to trust too.
    let out = vmhost(&args[..args.len() - 2], &sim.env());
    code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Certificate to trust on the LXD host (fingerprint {fp})"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(pem.trim()), "{stdout}");
    assert!(stdout.contains("Result: FAILED"), "{stdout}");

    // Trust it (restricted to the project, as lxd-test --trust-cert does).
    lxd_call(&daemon, async |c| {
        c.create_project("maas", "", &BTreeMap::new())
            .await
            .unwrap();
        c.add_certificate(
            &CertificateAdd::from_pem("maas", &pem)
                .unwrap()
                .restricted_to(&["maas"]),
        )
        .await
        .unwrap();
    });
    let out = vmhost(&args, &sim.env());
    code(&out, 0);
    let r = json(&out);
    assert_eq!(r["action"], "unchanged");
    assert!(r["certificate_to_trust"].is_null());
    assert_eq!(r["vm_host"]["storage_pools"][0]["type"], "dir");

    // Re-registered from scratch with a trust token (handed to MAAS as its
    // password; MAAS presents it with a certificate of its own) and another
    // project, which MAAS creates.
    let id = r["vm_host_id"].as_i64().unwrap();
    sim.block_on(maas.delete_vm_host(id, false)).unwrap();
    let (token, _) = lxd_call(&daemon, async |c| {
        c.issue_trust_token("maas-token", &[]).await.unwrap()
    });
    let mut env = sim.env();
    env.push(("LXD_TRUST_TOKEN", token.encode()));
    let token_args = [
        "--node-ip",
        "127.0.0.1",
        "--lxd-port",
        &port_s,
        "--name",
        "kvm-token",
        "--project",
        "other",
        "--output",
        "json",
    ];
    let out = vmhost(&token_args, &env);
    code(&out, 0);
    let r = json(&out);
    assert_eq!(r["action"], "created");
    assert_eq!(r["vm_host"]["project"], "other");
    assert!(!text(&out.stdout).contains(&token.secret));
    assert!(!text(&out.stderr).contains(&token.secret));
    let other = lxd_call(&daemon, async |c| c.project("other").await.unwrap());
    assert!(other.is_some(), "MAAS created project other");
    // The same (now used) token again: MAAS already holds it, nothing changes.
    let out = vmhost(&token_args, &env);
    code(&out, 0);
    assert_eq!(json(&out)["action"], "unchanged");
    drop(sim);
    daemon.stop().unwrap();
}

#[test]
fn maas_3_8_answers_410_and_a_bad_key_401() {
    let sim = Sim::start(Simulator::builder().maas_version(MaasVersion::V3_8));
    let out = vmhost(&["--node-ip", "10.0.0.5", "--output", "json"], &sim.env());
    code(&out, 1);
    let r = json(&out);
    assert_eq!(r["maas_version"], "3.8.0~alpha1");
    assert_eq!(r["error"]["kind"], "vm_hosts_removed");
    assert_eq!(r["error"]["status"], 410);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("has removed VM hosts (410 Gone)"), "{msg}");
    assert!(
        msg.contains("VM host (KVM) support has been removed from MAAS."),
        "{msg}"
    );
    assert!(
        r["error"]["hint"].as_str().unwrap().contains("MAAS 3.7"),
        "{r}"
    );

    let env = vec![
        ("MAAS_ENDPOINT", sim.sim().endpoint()),
        (
            "MAAS_API_KEY",
            "AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d".into(),
        ),
    ];
    let out = vmhost(&["--node-ip", "10.0.0.5"], &env);
    code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("MAAS rejected the API key (401)"),
        "{stdout}"
    );
    assert!(!stdout.contains("Zq9XyW8v"), "{stdout}");
    assert!(!text(&out.stderr).contains("Zq9XyW8v"));
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

/// A running `maas-sim` binary and the values it printed.
struct SimProcess {
    child: Child,
    vars: BTreeMap<String, String>,
}

impl SimProcess {
    fn spawn(args: &[&str]) -> SimProcess {
        let mut child = Command::new(maas_sim_binary())
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .args(args)
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
        SimProcess { child, vars }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAAS_ENDPOINT", self.vars["MAAS_ENDPOINT"].clone()),
            ("MAAS_API_KEY", self.vars["MAAS_API_KEY"].clone()),
        ]
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn unreachable_lxd_is_a_503_with_the_host_kept_registered() {
    let port = free_port().unwrap().to_string();
    let args = [
        "--node-ip",
        "127.0.0.1",
        "--lxd-port",
        &port,
        "--output",
        "json",
    ];
    // Real discovery: nothing listens there.
    let real = SimProcess::spawn(&["--vmhost-discovery", "lxd"]);
    let out = vmhost(&args, &real.env());
    code(&out, 1);
    let r = json(&out);
    assert_eq!(r["action"], "created");
    assert_eq!(r["error"]["kind"], "lxd_unreachable");
    assert_eq!(r["error"]["status"], 503);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "MAAS cannot reach LXD at https://127.0.0.1:{port} (503)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("Failed to connect to the LXD REST API"),
        "{msg}"
    );
    assert!(
        r["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("core.https_address")
    );
    assert!(
        r["vm_host_id"].as_i64().is_some(),
        "the host stays registered"
    );
    // Again: found, nothing to change, still unreachable.
    let out = vmhost(&args, &real.env());
    code(&out, 1);
    assert_eq!(json(&out)["action"], "unchanged");

    // The flag takes only its two values.
    let bad = Command::new(maas_sim_binary())
        .args(["--listen", "127.0.0.1:0", "--vmhost-discovery", "real"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("invalid value 'real' for '--vmhost-discovery"),
        "{}",
        text(&bad.stderr)
    );

    // The default simulated discovery answers for any address.
    let simulated = SimProcess::spawn(&[]);
    let out = vmhost(&args, &simulated.env());
    code(&out, 0);
    assert_eq!(json(&out)["vm_host"]["version"], "5.21.3");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.pem", "not a certificate");
    let maas: Vec<(&'static str, String)> = vec![
        ("MAAS_ENDPOINT", "http://127.0.0.1:9/MAAS".to_owned()),
        (
            "MAAS_API_KEY",
            "AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d".into(),
        ),
    ];
    type Env = Vec<(&'static str, String)>;
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (vec![], maas.clone(), "--node-ip"),
        (
            vec!["--node-ip", "10.0.0"],
            maas.clone(),
            "invalid value '10.0.0'",
        ),
        (vec!["--node-ip", "10.0.0.5"], vec![], "--maas-endpoint"),
        (
            vec!["--node-ip", "10.0.0.5"],
            vec![
                ("MAAS_ENDPOINT", "http://127.0.0.1:9/MAAS".into()),
                ("MAAS_API_KEY", "not-a-key".into()),
            ],
            "--maas-api-key",
        ),
        (
            vec!["--node-ip", "10.0.0.5"],
            vec![
                ("MAAS_ENDPOINT", "maas:5240".into()),
                ("MAAS_API_KEY", maas[1].1.clone()),
            ],
            "invalid MAAS endpoint",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--cert", &junk],
            maas.clone(),
            "--key",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--cert", &junk, "--key", &junk],
            maas.clone(),
            "--cert/--key",
        ),
        (
            vec![
                "--node-ip",
                "10.0.0.5",
                "--cert",
                "/nonexistent.crt",
                "--key",
                &junk,
            ],
            maas.clone(),
            "cannot read /nonexistent.crt",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--password", "a", "--token", "b"],
            maas.clone(),
            "give only one of",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--token", "bm90LWEtdG9rZW4="],
            maas.clone(),
            "--token is not an LXD trust token",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--lxd-port", "0"],
            maas.clone(),
            "--lxd-port",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--zone", ""],
            maas.clone(),
            "--zone is empty",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--output", "yaml"],
            maas.clone(),
            "possible values: text, json",
        ),
        (
            vec!["--node-ip", "10.0.0.5", "--log-level", "info=bogus=1"],
            maas.clone(),
            "--log-level",
        ),
    ];
    for (args, env, expected) in cases {
        let out = vmhost(&args, &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("vmhost-test: error: "),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("Zq9XyW8v"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // --help has examples and exits 0.
    let out = vmhost(&["--help"], &[]);
    code(&out, 0);
    let help = text(&out.stdout);
    assert!(help.contains("Examples:"), "{help}");
    assert!(help.contains("MAAS_API_KEY"), "{help}");
    let out = vmhost(&["--version"], &[]);
    code(&out, 0);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("vmhost-test {}", env!("CARGO_PKG_VERSION"))
    );
}
