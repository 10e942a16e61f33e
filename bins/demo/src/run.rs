//! The demo, start to finish.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::Client;
use kube_testenv::TestEnv;
use maas_api::{ClientConfig, MaasClient, MachineStatus};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::DemoError;
use crate::board::Board;
use crate::config::DemoConfig;
use crate::objects::{self, MachinePlan};
use crate::process::Supervised;
use crate::view::{Outcome, Row, State};

/// How often the demo looks at the cluster.
const TICK: Duration = Duration::from_millis(250);

/// Everything the demo starts; [`Stack::shutdown`] stops it in order.
#[derive(Default)]
struct Stack {
    dir: Option<tempfile::TempDir>,
    env: Option<TestEnv>,
    sim: Option<Supervised>,
    manager: Option<Supervised>,
}

/// What the flow learned, kept when it is interrupted.
#[derive(Default)]
struct Tally {
    provisioned: BTreeSet<String>,
    released: BTreeSet<String>,
    in_memory: BTreeSet<String>,
    metrics_addr: Option<SocketAddr>,
}

/// Runs the demo, writing to `out`. Cancelling `cancel` (Ctrl-C) stops it
/// at once; in every case everything started is stopped before returning.
pub async fn run<W: Write + Send>(cfg: &DemoConfig, out: W, cancel: CancellationToken) -> Outcome {
    let started = Instant::now();
    let mut board = Board::new(out, cfg.interactive, started);
    let mut stack = Stack::default();
    let mut tally = Tally::default();
    let result = tokio::select! {
        r = flow(cfg, &mut board, &mut stack, &mut tally) => r,
        () = cancel.cancelled() => Err(DemoError::Interrupted),
    };
    board.finish();
    let mut failure = result.err().map(|e| e.to_string());
    if failure.is_some()
        && let Some(m) = &stack.manager
    {
        eprintln!(
            "demo: last lines of the capmaas-manager log ({}):\n{}",
            m.log().display(),
            m.log_tail(15)
        );
    }
    let manager_exit = stack.shutdown().await;
    match manager_exit {
        Some(Ok(())) => board
            .say("stopped capmaas-manager (SIGTERM: exit 0), maas-sim, kube-apiserver and etcd"),
        Some(Err(status)) => {
            board.say(format!(
                "capmaas-manager did not exit cleanly on SIGTERM: {status}"
            ));
            failure
                .get_or_insert_with(|| format!("capmaas-manager exited with {status} on SIGTERM"));
        }
        None => board.say("stopped everything"),
    }
    let outcome = Outcome {
        machines: cfg.machines,
        provisioned: tally.provisioned.len(),
        released: tally.released.len(),
        in_memory: tally.in_memory.len(),
        elapsed: started.elapsed(),
        failure,
    };
    board.last_line(&outcome.summary_line());
    outcome
}

impl Stack {
    /// Stops the manager (SIGTERM, graceful), the simulator, the control
    /// plane, and removes the temp dir. Returns the manager's exit.
    async fn shutdown(&mut self) -> Option<Result<(), String>> {
        let mut manager_exit = None;
        if let Some(m) = &mut self.manager {
            manager_exit = Some(match m.stop(Duration::from_secs(20)).await {
                Some(s) if s.success() => Ok(()),
                Some(s) => Err(s.to_string()),
                None => Err("no exit within 20s (killed)".to_owned()),
            });
        }
        if let Some(s) = &mut self.sim {
            let _ = s.stop(Duration::from_secs(15)).await;
        }
        if let Some(env) = self.env.take() {
            // Dropping stops both servers and waits for them (blocking).
            let _ = tokio::task::spawn_blocking(move || drop(env)).await;
        }
        drop(self.dir.take());
        manager_exit
    }
}

fn bin(cfg: &DemoConfig, name: &str) -> PathBuf {
    cfg.bin_dir.join(name)
}

async fn flow<W: Write>(
    cfg: &DemoConfig,
    board: &mut Board<W>,
    stack: &mut Stack,
    tally: &mut Tally,
) -> Result<(), DemoError> {
    // Fail early, before the slow parts, when a binary is missing.
    for name in ["maas-sim", "capmaas-manager"] {
        let path = bin(cfg, name);
        if !path.is_file() {
            return Err(DemoError::MissingBinary { name, path });
        }
    }
    let plan = objects::plan(cfg.machines, cfg.in_memory_supported());
    board.say(format!(
        "capmaas demo: a Cluster of {} machines ({} in memory) on a simulated MAAS {}",
        plan.len(),
        plan.iter().filter(|m| m.ephemeral).count(),
        cfg.maas_version
    ));
    if !cfg.in_memory_supported() {
        board.say("MAAS before 3.5 cannot deploy in memory: every machine is deployed to disk");
    }

    // 1. The control plane.
    board.say(
        "starting etcd + kube-apiserver (kube-testenv; the first run builds them from source \
         with Go, about 6 minutes, then they are cached)",
    );
    let t = Instant::now();
    let env = stack
        .env
        .insert(TestEnv::start(kube_testenv::Options::default()).await?);
    board.say(format!(
        "kube-apiserver {} ready at {} in {:.1}s",
        env.server_version().git_version,
        env.apiserver_url(),
        t.elapsed().as_secs_f64()
    ));
    let crds = capi_types::crds::all().map_err(|e| DemoError::Invalid(e.to_string()))?;
    env.install_crds(&crds).await?;
    env.install_capi_crds().await?;
    board.say(format!(
        "installed our CRDs ({} kinds) and the Cluster API CRDs",
        crds.len()
    ));
    let client = env.client()?;
    let kubeconfig = env.kubeconfig_path().to_owned();

    // 2. The simulated MAAS.
    let dir = stack.dir.insert(
        tempfile::Builder::new()
            .prefix("capmaas-demo-")
            .tempdir()
            .map_err(|source| DemoError::Io {
                what: "creating a temp dir".into(),
                source,
            })?,
    );
    let dir = dir.path().to_owned();
    let inventory = dir.join("inventory.json");
    std::fs::write(&inventory, inventory_json(cfg.machines)).map_err(|source| DemoError::Io {
        what: "writing the maas-sim inventory".into(),
        source,
    })?;
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--inventory",
        &inventory.to_string_lossy(),
        "--maas-version",
        &cfg.maas_version,
        "--deploy-seconds",
        &cfg.deploy_seconds.to_string(),
        "--release-seconds",
        "1.5",
        "--seed",
        "7",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (sim, stdout) = Supervised::spawn(
        "maas-sim",
        &bin(cfg, "maas-sim"),
        &args,
        &[],
        &dir.join("maas-sim.log"),
        true,
    )?;
    let sim = stack.sim.insert(sim);
    let (endpoint, api_key) = read_sim_contract(sim, stdout).await?;
    let maas = MaasClient::new(ClientConfig::new(&endpoint, &api_key)?)?;
    let version = maas.version().await?;
    board.say(format!(
        "maas-sim (MAAS {}) at {endpoint} with {} machines",
        version.version,
        cfg.machines + 3
    ));

    // 3. The controller: the capmaas-manager binary.
    objects::create_namespace(&client).await?;
    let manager_args: Vec<String> = [
        "--namespace",
        objects::NAMESPACE,
        "--maas-endpoint",
        &endpoint,
        "--poll-interval",
        "1s",
        "--sync-period",
        "1m",
        "--health-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let kubeconfig_str = kubeconfig.to_string_lossy().into_owned();
    let (manager, _) = Supervised::spawn(
        "capmaas-manager",
        &bin(cfg, "capmaas-manager"),
        &manager_args,
        &[
            ("KUBECONFIG", kubeconfig_str.as_str()),
            ("MAAS_API_KEY", api_key.as_str()),
        ],
        &dir.join("capmaas-manager.log"),
        false,
    )?;
    let manager = stack.manager.insert(manager);
    let (health, metrics) = wait_manager_ready(manager, cfg.timeout).await?;
    tally.metrics_addr = Some(metrics);
    board.say(format!(
        "capmaas-manager ready (/readyz on {health}, /metrics on {metrics}, log {})",
        manager.log().display()
    ));

    // 4. The cluster, as CAPI core and a bootstrap provider would create it.
    let cluster = objects::create_cluster(&client).await?;
    objects::create_maas_cluster(&client, &cluster).await?;
    for m in &plan {
        objects::create_machine(&client, m).await?;
    }
    board.say(format!(
        "created Cluster/MaasCluster {} and {} Machines with bootstrap Secrets and MaasMachines",
        objects::CLUSTER,
        plan.len()
    ));

    // 5. Provisioning.
    let t = Instant::now();
    let mut infra_marked = false;
    let mut rows: Vec<Row> = Vec::new();
    loop {
        manager.check_running()?;
        if !infra_marked
            && objects::maas_cluster(&client)
                .await?
                .and_then(|mc| mc.status)
                .and_then(|s| s.initialization)
                .and_then(|i| i.provisioned)
                == Some(true)
        {
            objects::set_infrastructure_provisioned(&client).await?;
            infra_marked = true;
            board.say("MaasCluster provisioned: Cluster status.initialization.infrastructureProvisioned=true");
        }
        rows = observe(&client, &plan, &rows).await?.0;
        for r in &rows {
            if r.state == State::Provisioned {
                tally.provisioned.insert(r.name.clone());
                if r.in_memory == Some(true) {
                    tally.in_memory.insert(r.name.clone());
                }
            }
        }
        board.update(rows.clone());
        if tally.provisioned.len() == plan.len() {
            break;
        }
        if t.elapsed() > cfg.timeout {
            return Err(DemoError::Timeout(format!(
                "{} of {} machines provisioned after {}s",
                tally.provisioned.len(),
                plan.len(),
                cfg.timeout.as_secs()
            )));
        }
        tokio::time::sleep(TICK).await;
    }
    board.say(format!(
        "all {} machines provisioned in {:.1}s; deleting them (MAAS releases each one)",
        plan.len(),
        t.elapsed().as_secs_f64()
    ));

    // 6. Deletion: every machine goes back to MAAS.
    for m in &plan {
        objects::delete_machine(&client, &m.name).await?;
    }
    let t = Instant::now();
    loop {
        manager.check_running()?;
        let (now, present) = observe(&client, &plan, &rows).await?;
        rows = now;
        for r in rows.iter_mut().filter(|r| r.state == State::Releasing) {
            if let Some(id) = r.system_id.clone()
                && !present.contains(&r.name)
            {
                let m = maas.read_machine(&id).await?;
                if m.status == MachineStatus::Ready && m.owner.is_none() {
                    r.state = State::Released;
                    r.detail.clear();
                    tally.released.insert(r.name.clone());
                } else {
                    r.detail = format!("MAAS: {}", m.status);
                }
            }
        }
        board.update(rows.clone());
        if tally.released.len() == plan.len() {
            break;
        }
        if t.elapsed() > cfg.timeout {
            return Err(DemoError::Timeout(format!(
                "{} of {} machines released after {}s",
                tally.released.len(),
                plan.len(),
                cfg.timeout.as_secs()
            )));
        }
        tokio::time::sleep(TICK).await;
    }
    board.say(format!(
        "all {} machines released in MAAS in {:.1}s; deleting the cluster",
        plan.len(),
        t.elapsed().as_secs_f64()
    ));
    objects::delete_cluster(&client).await?;
    let t = Instant::now();
    while objects::maas_cluster(&client).await?.is_some() {
        manager.check_running()?;
        if t.elapsed() > cfg.timeout {
            return Err(DemoError::Timeout("the MaasCluster was not deleted".into()));
        }
        tokio::time::sleep(TICK).await;
    }
    let metrics = http_get(metrics, "/metrics").await?.1;
    board.say(format!(
        "MaasCluster deleted; capmaas-manager did {} reconciles and {} MAAS requests",
        metric_sum(&metrics, "capmaas_reconciles_total"),
        metric_sum(&metrics, "capmaas_maas_requests_total")
    ));
    Ok(())
}

/// Rows for the plan, in plan order: the MaasMachine if it exists, else the
/// previous row marked as releasing (the caller decides when it is
/// released); and the names of the MaasMachines that exist.
async fn observe(
    client: &Client,
    plan: &[MachinePlan],
    previous: &[Row],
) -> Result<(Vec<Row>, BTreeSet<String>), DemoError> {
    let mms = objects::maas_machines(client).await?;
    let present = mms
        .iter()
        .filter_map(|mm| mm.metadata.name.clone())
        .collect();
    let rows = plan
        .iter()
        .map(|p| {
            let prev = previous.iter().find(|r| r.name == p.name);
            match mms
                .iter()
                .find(|mm| mm.metadata.name.as_deref() == Some(p.name.as_str()))
            {
                Some(mm) => Row::observe(mm, prev),
                None => match prev {
                    Some(r) if r.state == State::Released => r.clone(),
                    Some(r) => Row {
                        state: State::Releasing,
                        ..r.clone()
                    },
                    None => Row {
                        name: p.name.clone(),
                        state: State::Progress("Pending".into()),
                        system_id: None,
                        ip: None,
                        ephemeral: p.ephemeral,
                        in_memory: None,
                        detail: String::new(),
                    },
                },
            }
        })
        .collect();
    Ok((rows, present))
}

/// A maas-sim inventory: `n` small machines for disk deploys, two big ones
/// (32 GiB: an in-memory deploy needs 16 GiB) and one spare, over 3 zones.
pub fn inventory_json(n: usize) -> String {
    let zones = ["az1", "az2", "az3"];
    let mut machines = Vec::new();
    for i in 0..n {
        machines.push(json!({
            "hostname": format!("node-{i:02}"), "cpu_count": 4, "memory": 8192,
            "zone": zones[i % 3], "tags": ["demo"]
        }));
    }
    for (i, zone) in zones.iter().enumerate() {
        machines.push(json!({
            "hostname": format!("bignode-{i}"), "cpu_count": 16, "memory": 32768,
            "zone": zone, "tags": ["demo", "highmem"]
        }));
    }
    json!({
        "zones": zones.iter().map(|z| json!({"name": z, "description": format!("demo {z}")})).collect::<Vec<_>>(),
        "tags": [{"name": "demo"}, {"name": "highmem"}],
        "machines": machines,
    })
    .to_string()
}

/// Reads maas-sim's stdout contract: `MAAS_API_KEY=` (first line) and
/// `MAAS_ENDPOINT=`. The rest of its stdout is drained in the background.
pub async fn read_sim_contract(
    sim: &mut Supervised,
    stdout: Option<tokio::process::ChildStdout>,
) -> Result<(String, String), DemoError> {
    let Some(stdout) = stdout else {
        return Err(DemoError::Invalid("maas-sim stdout not captured".into()));
    };
    let mut lines = BufReader::new(stdout).lines();
    let (mut key, mut endpoint) = (None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(k) = line.strip_prefix("MAAS_API_KEY=") {
                key = Some(k.trim().to_owned());
            } else if let Some(e) = line.strip_prefix("MAAS_ENDPOINT=") {
                endpoint = Some(e.trim().to_owned());
            }
            if key.is_some() && endpoint.is_some() {
                return true;
            }
        }
        false
    };
    let complete = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or(false);
    match (complete, key, endpoint) {
        (true, Some(k), Some(e)) => {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((e, k))
        }
        _ => {
            sim.check_running()?;
            Err(DemoError::Invalid(format!(
                "maas-sim printed no MAAS_API_KEY=/MAAS_ENDPOINT= lines; its log:\n{}",
                sim.log_tail(20)
            )))
        }
    }
}

/// Waits for the manager's "serving" log line (JSON) and for `/readyz`
/// to answer 200. Returns the health and metrics addresses.
pub async fn wait_manager_ready(
    manager: &mut Supervised,
    timeout: Duration,
) -> Result<(SocketAddr, SocketAddr), DemoError> {
    let deadline = Instant::now() + timeout.min(Duration::from_secs(120));
    let mut addrs = None;
    loop {
        manager.check_running()?;
        if addrs.is_none() {
            addrs = serving_addrs(manager.log());
        }
        if let Some((health, metrics)) = addrs
            && let Ok((200, _)) = http_get(health, "/readyz").await
        {
            return Ok((health, metrics));
        }
        if Instant::now() > deadline {
            return Err(DemoError::Timeout(format!(
                "capmaas-manager not ready; its log:\n{}",
                manager.log_tail(20)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `health` and `metrics` of the manager's JSON "serving" line.
pub fn serving_addrs(log: &Path) -> Option<(SocketAddr, SocketAddr)> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let f = v.get("fields")?;
        if !f.get("message")?.as_str()?.starts_with("serving /healthz") {
            return None;
        }
        let health = f.get("health")?.as_str()?.parse().ok()?;
        let metrics = f.get("metrics")?.as_str()?.parse().ok()?;
        Some((health, metrics))
    })
}

/// A plain HTTP/1.0 GET on loopback: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), DemoError> {
    let io = |source| DemoError::Io {
        what: format!("GET http://{addr}{path}"),
        source,
    };
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .map_err(io)?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(io)?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| DemoError::Timeout(format!("GET http://{addr}{path}")))?
}

/// The sum of every sample of `name` in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_has_room_for_the_plan() {
        let v: serde_json::Value = serde_json::from_str(&inventory_json(5)).unwrap();
        let machines = v["machines"].as_array().unwrap();
        assert_eq!(machines.len(), 8);
        assert!(
            machines
                .iter()
                .filter(|m| m["memory"].as_u64().unwrap() >= 16384)
                .count()
                >= 2
        );
    }

    #[test]
    fn metric_sums() {
        let text = "# HELP capmaas_reconciles_total x\n\
                    capmaas_reconciles_total{kind=\"MaasMachine\",result=\"ok\"} 12\n\
                    capmaas_reconciles_total{kind=\"MaasCluster\",result=\"ok\"} 3\n\
                    capmaas_reconciles_total_created 1\n\
                    capmaas_maas_requests_total{op=\"\"} 7\n";
        assert_eq!(metric_sum(text, "capmaas_reconciles_total"), 15);
        assert_eq!(metric_sum(text, "capmaas_maas_requests_total"), 7);
        assert_eq!(metric_sum(text, "missing"), 0);
    }

    #[test]
    fn serving_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("m.log");
        std::fs::write(
            &log,
            "{\"level\":\"INFO\",\"fields\":{\"message\":\"other\"}}\n\
             {\"level\":\"INFO\",\"fields\":{\"message\":\"serving /healthz, /readyz and /metrics\",\"health\":\"127.0.0.1:4000\",\"metrics\":\"127.0.0.1:4001\"}}\n",
        )
        .unwrap();
        let (h, m) = serving_addrs(&log).unwrap();
        assert_eq!((h.port(), m.port()), (4000, 4001));
    }
}
