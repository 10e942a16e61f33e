//! The `capmaas-manager` binary end to end against a real etcd +
//! kube-apiserver (kube-testenv) and maas-sim: `/healthz`, `/readyz` (only
//! after the caches synced), `/metrics` after a provision, leader election
//! with several replicas (kill the leader, SIGTERM releases the Lease), and
//! JSON logs that never contain the API key or user data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use capi_types::capi::{Cluster, Machine};
use capi_types::{MaasCluster, MaasMachine};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use kube_testenv::TestEnv;
use maas_sim::{MaasVersion, NodeStatus, RunningSimulator, Simulator};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A distinctive bootstrap payload: it must reach MAAS and never a log.
const USER_DATA: &str = "#cloud-config\n# e2e-user-data-do-not-log-7f3a\n";

// ----- the binary ---------------------------------------------------------

/// A running `capmaas-manager`; killed (SIGKILL) when dropped.
struct Replica {
    child: Option<Child>,
    log: PathBuf,
    health: SocketAddr,
    metrics: SocketAddr,
    pid: u32,
}

impl Replica {
    /// Starts the binary with `KUBECONFIG` of `env`, the sim as default MAAS
    /// (key in `MAAS_API_KEY`), JSON logs to `log`, free ports.
    async fn start(
        env: &TestEnv,
        sim: &RunningSimulator,
        pod_name: &str,
        log: &Path,
        extra: &[&str],
    ) -> Replica {
        let file = std::fs::File::create(log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capmaas-manager"));
        cmd.args([
            "--maas-endpoint",
            &sim.endpoint(),
            "--health-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "info,capmaas_controller=debug,maas_api=debug",
            "--poll-interval",
            "200ms",
        ])
        .args(extra)
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("MAAS_API_KEY", sim.admin_api_key())
        .env("POD_NAME", pod_name)
        .env_remove("MAAS_ENDPOINT")
        .env_remove("POD_NAMESPACE")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (health, metrics) = loop {
            if let Some(addrs) = serving_addrs(log) {
                break addrs;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{pod_name} exited {status}: {}", read(log));
            }
            assert!(
                Instant::now() < deadline,
                "{pod_name} never served: {}",
                read(log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Replica {
            child: Some(child),
            log: log.to_owned(),
            health,
            metrics,
            pid,
        }
    }

    async fn get(&self, addr: SocketAddr, path: &str) -> (u16, String) {
        http_get(addr, path).await
    }

    async fn readyz(&self) -> u16 {
        self.get(self.health, "/readyz").await.0
    }

    async fn healthz(&self) -> u16 {
        self.get(self.health, "/healthz").await.0
    }

    async fn metrics(&self) -> String {
        let (status, body) = self.get(self.metrics, "/metrics").await;
        assert_eq!(status, 200);
        body
    }

    async fn wait_ready(&self, secs: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.readyz().await != 200 {
            assert!(
                Instant::now() < deadline,
                "{what}: /readyz not 200 after {secs}s; log:\n{}",
                read(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then the exit status (at most `secs` later).
    async fn terminate(&mut self, secs: u64) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {}", self.pid);
        self.wait_exit(secs).await
    }

    async fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {secs}s; end of the log:\n{}",
                tail(&self.log, 25)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn identity_prefix(pod_name: &str) -> String {
        format!("{pod_name}-")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = read(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `health` and `metrics` from the JSON "serving" line.
fn serving_addrs(log: &Path) -> Option<(SocketAddr, SocketAddr)> {
    read(log).lines().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let f = &v["fields"];
        if !f["message"].as_str()?.starts_with("serving /healthz") {
            return None;
        }
        Some((
            f["health"].as_str()?.parse().ok()?,
            f["metrics"].as_str()?.parse().ok()?,
        ))
    })
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

/// Sum of the samples of `name` whose labels contain every `labels` pair.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every line is a JSON object, and no secret appears anywhere.
fn assert_json_logs_without_secrets(log: &Path, sim: &RunningSimulator) {
    let text = read(log);
    assert!(!text.is_empty());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
    }
    let key = sim.admin_api_key();
    let secret = key.rsplit(':').next().unwrap();
    assert!(secret.len() >= 8, "a distinctive token secret: {key:?}");
    for (what, needle) in [
        ("the API key", key),
        ("the token secret", secret),
        ("the user data", "e2e-user-data-do-not-log-7f3a"),
    ] {
        assert!(!text.contains(needle), "{what} is in {}", log.display());
    }
}

// ----- the workload, as CAPI core would create it -------------------------

fn api<K>(client: &Client, ns: &str) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    Api::namespaced(client.clone(), ns)
}

async fn install_crds(env: &TestEnv) {
    env.install_crds(&capi_types::crds::all().unwrap())
        .await
        .unwrap();
    env.install_capi_crds().await.unwrap();
}

/// Cluster `c1` (infrastructure provisioned) and its MaasCluster.
async fn cluster(client: &Client, ns: &str) {
    let c: Cluster = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": "c1"},
        "spec": {"infrastructureRef": {
            "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": "c1"}}
    }))
    .unwrap();
    let c = api::<Cluster>(client, ns)
        .create(&PostParams::default(), &c)
        .await
        .unwrap();
    api::<Cluster>(client, ns)
        .patch_status(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"initialization": {"infrastructureProvisioned": true}}}),
            ),
        )
        .await
        .unwrap();
    let mc: MaasCluster = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
        "metadata": {"name": "c1", "labels": {"cluster.x-k8s.io/cluster-name": "c1"},
            "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                "name": "c1", "uid": c.uid().unwrap(), "controller": true}]},
        "spec": {"dnsDomain": "maas"}
    }))
    .unwrap();
    api::<MaasCluster>(client, ns)
        .create(&PostParams::default(), &mc)
        .await
        .unwrap();
}

/// Bootstrap Secret + Machine + MaasMachine `name` in cluster `c1`.
async fn machine(client: &Client, ns: &str, name: &str) {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{name}-bootstrap")),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            (
                "value".to_owned(),
                k8s_openapi::ByteString(USER_DATA.as_bytes().to_vec()),
            ),
            (
                "format".to_owned(),
                k8s_openapi::ByteString(b"cloud-config".to_vec()),
            ),
        ])),
        ..Default::default()
    };
    api::<Secret>(client, ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let m: Machine = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
        "metadata": {"name": name, "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {"clusterName": "c1",
            "bootstrap": {"dataSecretName": format!("{name}-bootstrap")},
            "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": name}}
    }))
    .unwrap();
    let m = api::<Machine>(client, ns)
        .create(&PostParams::default(), &m)
        .await
        .unwrap();
    let mm: MaasMachine = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
        "metadata": {"name": name, "labels": {"cluster.x-k8s.io/cluster-name": "c1"},
            "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
                "name": name, "uid": m.uid().unwrap(), "controller": true}]},
        "spec": {"image": "ubuntu/jammy"}
    }))
    .unwrap();
    api::<MaasMachine>(client, ns)
        .create(&PostParams::default(), &mm)
        .await
        .unwrap();
}

fn provisioned(mm: &MaasMachine) -> bool {
    mm.status
        .as_ref()
        .and_then(|s| s.initialization.as_ref())
        .and_then(|i| i.provisioned)
        == Some(true)
}

/// Waits until MaasMachine `name` is provisioned; returns its system id.
async fn wait_provisioned(client: &Client, ns: &str, name: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mm = api::<MaasMachine>(client, ns).get_opt(name).await.unwrap();
        if let Some(mm) = &mm
            && provisioned(mm)
        {
            return mm.spec.system_id.clone().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{name} not provisioned after {secs}s: {:#?}",
            mm.map(|m| m.status)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sim(machines: usize) -> RunningSimulator {
    Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: (0..machines)
                .map(|i| maas_sim::MachineSpec {
                    hostname: Some(format!("node-{i}")),
                    cpu_count: Some(4),
                    memory: Some(16384),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .api_key("e2econsumer:e2etokenkey:e2eTokenSecretValue42")
        .maas_version(MaasVersion::V3_6)
        .deploy_duration(Duration::from_millis(500))
        .release_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

async fn lease_holder(client: &Client, ns: &str) -> Option<String> {
    api::<Lease>(client, ns)
        .get_opt("capmaas-manager-leader")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

async fn wait_holder(client: &Client, ns: &str, prefix: &str, secs: u64) -> Duration {
    let started = Instant::now();
    loop {
        let holder = lease_holder(client, ns).await;
        if holder.as_deref().is_some_and(|h| h.starts_with(prefix)) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "Lease not held by {prefix}* after {secs}s (holder {holder:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- tests ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_logs_and_sigterm() {
    // A control plane of its own: the manager starts before our CRDs exist,
    // so its caches cannot sync until they are installed.
    let env = TestEnv::start(kube_testenv::Options::default())
        .await
        .unwrap();
    env.install_capi_crds().await.unwrap();
    let client = env.client().unwrap();
    let ns = "e2e";
    let ns_obj: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns_obj)
        .await
        .unwrap();
    let sim = sim(2).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("manager.log");
    let mut m = Replica::start(&env, &sim, "solo", &log, &["--namespace", ns]).await;

    // Serving, alive, but not ready: the MaasMachine list fails (no CRD).
    for _ in 0..10 {
        assert_eq!(m.healthz().await, 200);
        assert_eq!(
            m.get(m.health, "/readyz").await,
            (503, "not ready".to_owned())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!read(&log).contains("caches synced"));
    // Our CRDs appear: the watches recover, the caches sync, ready.
    install_crds(&env).await;
    m.wait_ready(90, "after installing the CRDs").await;
    assert_eq!(m.get(m.health, "/readyz").await, (200, "ok".to_owned()));
    assert!(read(&log).contains("caches synced; ready"));

    // A provision, then the metrics of reconciles and MAAS requests.
    cluster(&client, ns).await;
    machine(&client, ns, "m0").await;
    let id = wait_provisioned(&client, ns, "m0", 60).await;
    assert_eq!(
        sim.control().machine(&id).unwrap().status,
        NodeStatus::Deployed
    );
    let text = m.metrics().await;
    assert!(
        metric(
            &text,
            "capmaas_reconciles_total",
            &[r#"kind="MaasMachine""#, r#"result="ok""#]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "capmaas_reconciles_total",
            &[r#"kind="MaasCluster""#]
        ) >= 1.0,
        "{text}"
    );
    for op in ["allocate", "deploy"] {
        assert!(
            metric(
                &text,
                "capmaas_maas_requests_total",
                &[&format!(r#"op="{op}""#), r#"method="POST""#]
            ) >= 1.0,
            "no {op} request counted: {text}"
        );
    }
    assert!(
        metric(
            &text,
            "capmaas_reconcile_duration_seconds_count",
            &[r#"kind="MaasMachine""#]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "capmaas_maas_request_duration_seconds_count", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "capmaas_poller_lists_total", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("capmaas_maas_machines{") && text.contains(r#"state="Deployed""#),
        "{text}"
    );

    // SIGTERM: graceful, exit 0.
    let status = m.terminate(30).await;
    assert_eq!(status.code(), Some(0), "{}", read(&log));
    let text = read(&log);
    assert!(text.contains("signal received") && text.contains("controllers stopped"));
    assert_json_logs_without_secrets(&log, &sim);
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_only_the_leader_reconciles_and_fails_over() {
    let env = kube_testenv::shared().await.unwrap();
    install_crds(env).await;
    let tns = env.namespace("e2e-le").await.unwrap();
    let ns = tns.name().to_owned();
    let client = tns.client();
    let sim = sim(3).await;
    cluster(&client, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let le = [
        "--namespace",
        ns.as_str(),
        "--leader-elect",
        "--leader-elect-namespace",
        ns.as_str(),
        "--leader-elect-lease-duration",
        "4s",
    ];

    // Replica A leads; B, started after, stands by.
    let log_a = dir.path().join("a.log");
    let mut a = Replica::start(env, &sim, "replica-a", &log_a, &le).await;
    wait_holder(&client, &ns, &Replica::identity_prefix("replica-a"), 20).await;
    a.wait_ready(30, "the leader").await;
    let log_b = dir.path().join("b.log");
    let mut b = Replica::start(env, &sim, "replica-b", &log_b, &le).await;
    for _ in 0..10 {
        assert_eq!(b.healthz().await, 200, "a standby is alive");
        assert_eq!(b.readyz().await, 503, "a standby is not ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Work is done by the leader only.
    machine(&client, &ns, "m0").await;
    let m0 = wait_provisioned(&client, &ns, "m0", 60).await;
    assert!(metric(&a.metrics().await, "capmaas_reconciles_total", &[]) >= 1.0);
    let b_metrics = b.metrics().await;
    assert_eq!(
        metric(&b_metrics, "capmaas_reconciles_total", &[]),
        0.0,
        "the standby reconciled: {b_metrics}"
    );
    assert_eq!(metric(&b_metrics, "capmaas_maas_requests_total", &[]), 0.0);

    // Kill the leader (no chance to release the Lease): B takes over once
    // the Lease expires and carries on with new and deleted machines.
    a.kill();
    let took = wait_holder(&client, &ns, &Replica::identity_prefix("replica-b"), 30).await;
    assert!(took < Duration::from_secs(20), "takeover took {took:?}");
    b.wait_ready(30, "the new leader").await;
    machine(&client, &ns, "m1").await;
    wait_provisioned(&client, &ns, "m1", 60).await;
    api::<MaasMachine>(&client, &ns)
        .delete("m0", &Default::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api::<MaasMachine>(&client, &ns)
        .get_opt("m0")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "m0 not released by the new leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = sim.control().machine(&m0).unwrap();
    assert_eq!((m.status, m.owner), (NodeStatus::Ready, None));
    assert!(
        metric(
            &b.metrics().await,
            "capmaas_reconciles_total",
            &[r#"kind="MaasMachine""#]
        ) >= 1.0
    );

    // SIGTERM on the leader: exit 0 and the Lease released; standby C
    // takes over without waiting for a crash timeout.
    let log_c = dir.path().join("c.log");
    let mut c = Replica::start(env, &sim, "replica-c", &log_c, &le).await;
    assert_eq!(c.readyz().await, 503);
    let status = b.terminate(30).await;
    assert_eq!(status.code(), Some(0), "{}", read(&log_b));
    assert!(read(&log_b).contains("lease released"), "{}", read(&log_b));
    let holder = lease_holder(&client, &ns).await;
    assert!(
        !holder
            .as_deref()
            .is_some_and(|h| h.starts_with("replica-b-")),
        "B still holds the Lease after exiting: {holder:?}"
    );
    wait_holder(&client, &ns, &Replica::identity_prefix("replica-c"), 15).await;
    c.wait_ready(30, "the third replica").await;
    let status = c.terminate(30).await;
    assert_eq!(status.code(), Some(0), "{}", read(&log_c));

    for log in [&log_a, &log_b, &log_c] {
        assert_json_logs_without_secrets(log, &sim);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_the_apiserver_is_gone_exits_within_the_bound() {
    // A control plane of its own: its apiserver is frozen.
    let env = TestEnv::start(kube_testenv::Options::default())
        .await
        .unwrap();
    install_crds(&env).await;
    let sim = sim(1).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("manager.log");
    let le = [
        "--leader-elect",
        "--leader-elect-namespace",
        "default",
        "--leader-elect-lease-duration",
        "15s",
    ];
    let mut m = Replica::start(&env, &sim, "orphan", &log, &le).await;
    let client = env.client().unwrap();
    wait_holder(&client, "default", &Replica::identity_prefix("orphan"), 30).await;
    m.wait_ready(60, "the leader").await;

    // The apiserver stops answering: SIGSTOP keeps its socket open, so
    // connections are accepted and requests hang (as when its host is gone
    // from the network), the hardest case (a refused connection fails fast).
    let apiserver = env.pids().kube_apiserver;
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &apiserver.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {apiserver}");
    };
    signal("-STOP");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SIGTERM: every shutdown step is bounded (reconciles 12 s, Lease 10 s,
    // HTTP 2 s), so the manager exits 0 inside the Deployment's 30 s grace.
    let start = Instant::now();
    let status = m.terminate(40).await;
    let took = start.elapsed();
    let text = read(&log);
    assert_eq!(status.code(), Some(0), "{}", tail(&log, 30));
    assert!(
        took < Duration::from_secs(28),
        "exit took {took:?}: {}",
        tail(&log, 30)
    );
    assert!(
        text.contains("releasing the lease timed out")
            || text.contains("releasing the lease failed"),
        "the Lease release was not reported: {}",
        tail(&log, 30)
    );
    assert!(text.contains("exiting"), "{}", tail(&log, 30));
    assert_json_logs_without_secrets(&log, &sim);
    signal("-CONT");
    drop(env);
}

/// The extremes the flags accept run: the shortest periods and back-offs, no
/// deploy retry, no memory floor, DNS TTL 0, a 2 s Lease, one reconcile at a
/// time. The manager leads, provisions, writes the TTL to MAAS, exits 0 on
/// SIGTERM and never panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_flag_values_run_and_provision() {
    let env = kube_testenv::shared().await.unwrap();
    install_crds(env).await;
    let tns = env.namespace("e2e-edge").await.unwrap();
    let ns = tns.name().to_owned();
    let client = tns.client();
    let sim = sim(2).await;
    cluster(&client, &ns).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("edge.log");
    let mut m = Replica::start(
        env,
        &sim,
        "edge",
        &log,
        &[
            "--namespace",
            &ns,
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
            "--leader-elect-namespace",
            &ns,
            "--leader-elect-lease-duration",
            "2s",
        ],
    )
    .await;
    m.wait_ready(60, "with edge values").await;
    machine(&client, &ns, "m0").await;
    let id = wait_provisioned(&client, &ns, "m0", 60).await;
    assert_eq!(
        sim.control().machine(&id).unwrap().status,
        NodeStatus::Deployed
    );
    let maas = maas_api::MaasClient::new(
        maas_api::ClientConfig::new(&sim.endpoint(), sim.admin_api_key()).unwrap(),
    )
    .unwrap();
    // The MaasCluster's record, with the TTL of the flag (it may come
    // after the machine: nothing waits for it).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records = maas
            .list_dns_resources(&maas_api::DnsResourceFilter {
                fqdn: Some("c1.maas".to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
        if !records.is_empty() {
            let ttls: Vec<_> = records.iter().map(|r| r.address_ttl).collect();
            assert_eq!(ttls, vec![Some(0)], "{records:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no DNS record: {}", read(&log));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = m.terminate(30).await;
    assert_eq!(status.code(), Some(0), "{}", read(&log));
    assert!(!read(&log).contains("panicked"), "{}", read(&log));
}

/// A SIGTERM in the manager's first moments (a pod deleted while it starts)
/// ends in a clean exit: the handlers are installed before the first await,
/// not after the "serving" line (it died of the signal, exit 143, before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_starting_exits_0() {
    let env = TestEnv::start(kube_testenv::Options::default())
        .await
        .unwrap();
    install_crds(&env).await;
    let sim = sim(1).await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        let log = dir.path().join(format!("manager-{i}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_capmaas-manager"))
            .args([
                "--maas-endpoint",
                &sim.endpoint(),
                "--health-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("MAAS_API_KEY", sim.admin_api_key())
            .env_remove("MAAS_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !read(&log).contains("\"starting\"") {
            assert!(
                child.try_wait().unwrap().is_none(),
                "exited early: {}",
                read(&log)
            );
            assert!(Instant::now() < deadline, "never started: {}", read(&log));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit: {}", tail(&log, 20));
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(status.code(), Some(0), "run {i}: {}", tail(&log, 20));
        assert!(
            !read(&log).contains("shutdown step timed out"),
            "run {i}: a shutdown before the caches synced waited for the drain bound: {}",
            tail(&log, 20)
        );
    }
}
