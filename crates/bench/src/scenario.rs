//! One run: start everything, provision N machines, release them, measure.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use capmaas_demo::objects::{self, MachinePlan};
use capmaas_demo::process::Supervised;
use capmaas_demo::{http_get, inventory_json, read_sim_contract, wait_manager_ready};
use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube_testenv::TestEnv;

use crate::report::{ManagerFigures, Measured, Report};
use crate::{BenchConfig, BenchError, procstat};

/// Objects created or deleted at once (as CAPI's controllers would, a few
/// workers in parallel).
const PARALLEL: usize = 8;

/// Everything a run starts; [`Stack::shutdown`] stops it in order.
#[derive(Default)]
struct Stack {
    dir: Option<tempfile::TempDir>,
    env: Option<TestEnv>,
    sim: Option<Supervised>,
    manager: Option<Supervised>,
}

impl Stack {
    async fn shutdown(&mut self) {
        if let Some(m) = &mut self.manager {
            let _ = m.stop(Duration::from_secs(20)).await;
        }
        if let Some(s) = &mut self.sim {
            let _ = s.stop(Duration::from_secs(15)).await;
        }
        if let Some(env) = self.env.take() {
            let _ = tokio::task::spawn_blocking(move || drop(env)).await;
        }
        drop(self.dir.take());
    }
}

/// How often the run looks at the cluster: the wall times are exact to
/// about one tick.
fn tick(n: usize) -> Duration {
    if n <= 100 {
        Duration::from_millis(250)
    } else {
        Duration::from_millis(1000)
    }
}

/// Runs the scenario with `n` machines; progress lines go to `progress`.
/// Everything started is stopped before it returns.
pub async fn run<W: Write>(
    cfg: &BenchConfig,
    n: usize,
    progress: &mut W,
) -> Result<Report, BenchError> {
    cfg.check()?;
    let mut stack = Stack::default();
    let result = flow(cfg, n, progress, &mut stack).await;
    if result.is_err()
        && let Some(m) = &stack.manager
    {
        let _ = writeln!(
            progress,
            "bench: last lines of the capmaas-manager log:\n{}",
            m.log_tail(15)
        );
    }
    stack.shutdown().await;
    result
}

fn say<W: Write>(progress: &mut W, started: Instant, line: impl AsRef<str>) {
    let _ = writeln!(
        progress,
        "[{:7.1}s] {}",
        started.elapsed().as_secs_f64(),
        line.as_ref()
    );
}

async fn flow<W: Write>(
    cfg: &BenchConfig,
    n: usize,
    progress: &mut W,
    stack: &mut Stack,
) -> Result<Report, BenchError> {
    let started = Instant::now();
    let sim_bin = cfg.bin_dir.join("maas-sim");
    let manager_bin = cfg.bin_dir.join("capmaas-manager");
    for (name, path) in [("maas-sim", &sim_bin), ("capmaas-manager", &manager_bin)] {
        if !path.is_file() {
            return Err(capmaas_demo::DemoError::MissingBinary {
                name,
                path: path.clone(),
            }
            .into());
        }
    }
    say(
        progress,
        started,
        format!(
            "bench N={n}: latency profile {}, deploy {}s; starting etcd + kube-apiserver",
            cfg.latency_profile, cfg.deploy_seconds
        ),
    );
    let env = stack
        .env
        .insert(TestEnv::start(kube_testenv::Options::default()).await?);
    let crds = capi_types::crds::all().map_err(|e| BenchError::Invalid(e.to_string()))?;
    env.install_crds(&crds).await?;
    env.install_capi_crds().await?;
    let client = env.client()?;
    let kubeconfig = env.kubeconfig_path().to_string_lossy().into_owned();

    let dir = stack.dir.insert(
        tempfile::Builder::new()
            .prefix("capmaas-bench-")
            .tempdir()
            .map_err(|source| BenchError::Io {
                what: "creating a temp dir".into(),
                source,
            })?,
    );
    let dir = dir.path().to_owned();
    let inventory = dir.join("inventory.json");
    std::fs::write(&inventory, inventory_json(n)).map_err(|source| BenchError::Io {
        what: "writing the maas-sim inventory".into(),
        source,
    })?;
    let sim_args = strings(&[
        "--listen",
        "127.0.0.1:0",
        "--inventory",
        &inventory.to_string_lossy(),
        "--deploy-seconds",
        &cfg.deploy_seconds.to_string(),
        "--release-seconds",
        &cfg.release_seconds.to_string(),
        "--latency-profile",
        &cfg.latency_profile,
        "--seed",
        "7",
        "--log-level",
        "warn",
    ]);
    let (sim, stdout) = Supervised::spawn(
        "maas-sim",
        &sim_bin,
        &sim_args,
        &[],
        &dir.join("maas-sim.log"),
        true,
    )?;
    let sim = stack.sim.insert(sim);
    let (endpoint, api_key) = read_sim_contract(sim, stdout).await?;
    let sim_addr = sim_addr(&endpoint)?;

    objects::create_namespace(&client).await?;
    let manager_args = strings(&[
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
        // What the benchmark measures: the cache is what cuts MAAS requests
        // (off by default in the manager until its properties hold).
        "--machine-cache",
    ]);
    let (manager, _) = Supervised::spawn(
        "capmaas-manager",
        &manager_bin,
        &manager_args,
        &[
            ("KUBECONFIG", kubeconfig.as_str()),
            ("MAAS_API_KEY", api_key.as_str()),
        ],
        &dir.join("capmaas-manager.log"),
        false,
    )?;
    let manager = stack.manager.insert(manager);
    let (_, metrics_addr) = wait_manager_ready(manager, cfg.timeout).await?;
    let manager_pid = manager
        .supervisor_pid()
        .and_then(|sup| procstat::child_running(sup, &manager_bin))
        .ok_or_else(|| BenchError::Invalid("cannot find the capmaas-manager process".into()))?;
    let ticks = procstat::clock_ticks_per_second();
    say(
        progress,
        started,
        format!("maas-sim at {endpoint}, capmaas-manager (pid {manager_pid}) ready"),
    );

    // Provisioning.
    let plan = objects::plan(n, false);
    let cluster = objects::create_cluster(&client).await?;
    objects::create_maas_cluster(&client, &cluster).await?;
    let t = Instant::now();
    futures::stream::iter(plan.iter().map(|m| create(&client, m)))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    let create_seconds = t.elapsed().as_secs_f64();
    say(
        progress,
        started,
        format!("created {n} Machines, bootstrap Secrets and MaasMachines in {create_seconds:.1}s"),
    );
    let mut infra_marked = false;
    let mut last = usize::MAX;
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
        }
        let provisioned = objects::maas_machines(&client)
            .await?
            .iter()
            .filter(|mm| {
                mm.status
                    .as_ref()
                    .and_then(|s| s.initialization.as_ref())
                    .and_then(|i| i.provisioned)
                    == Some(true)
            })
            .count();
        if provisioned != last {
            last = provisioned;
            if provisioned == n || provisioned % (n / 10).max(1) == 0 {
                say(progress, started, format!("{provisioned}/{n} provisioned"));
            }
        }
        if provisioned == n {
            break;
        }
        if t.elapsed() > cfg.timeout {
            return Err(BenchError::Timeout(format!(
                "{provisioned} of {n} machines provisioned after {}s",
                cfg.timeout.as_secs()
            )));
        }
        tokio::time::sleep(tick(n)).await;
    }
    let provisioned_seconds = t.elapsed().as_secs_f64();
    let maas_at_provisioned = counters(sim_addr).await?;
    say(
        progress,
        started,
        format!("all {n} provisioned in {provisioned_seconds:.1}s; deleting them"),
    );

    // Release.
    let t = Instant::now();
    futures::stream::iter(
        plan.iter()
            .map(|m| objects::delete_machine(&client, &m.name)),
    )
    .buffer_unordered(PARALLEL)
    .try_collect::<Vec<()>>()
    .await?;
    loop {
        manager.check_running()?;
        let present = objects::maas_machines(&client).await?.len();
        let owned = owned_in_maas(sim_addr).await?;
        if present == 0 && owned == 0 {
            break;
        }
        if t.elapsed() > cfg.timeout {
            return Err(BenchError::Timeout(format!(
                "{present} MaasMachines left and {owned} machines not released in MAAS after {}s",
                cfg.timeout.as_secs()
            )));
        }
        tokio::time::sleep(tick(n)).await;
    }
    let released_seconds = t.elapsed().as_secs_f64();
    let maas = counters(sim_addr).await?;
    let metrics = http_get(metrics_addr, "/metrics").await?.1;
    let stats = procstat::read(manager_pid, ticks)
        .ok_or_else(|| BenchError::Invalid("capmaas-manager's /proc entry is gone".into()))?;
    say(
        progress,
        started,
        format!("all {n} released in MAAS in {released_seconds:.1}s; stopping everything"),
    );
    Ok(Report::new(Measured {
        machines: n,
        latency_profile: cfg.latency_profile.clone(),
        deploy_seconds: cfg.deploy_seconds,
        create_seconds,
        provisioned_seconds,
        released_seconds,
        maas_at_provisioned,
        maas,
        manager: ManagerFigures::from_metrics(&metrics),
        manager_cpu_seconds: stats.cpu_seconds,
        manager_peak_rss_bytes: stats.peak_rss_bytes,
    }))
}

async fn create(client: &Client, m: &MachinePlan) -> Result<(), BenchError> {
    Ok(objects::create_machine(client, m).await?)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The simulator's address from its endpoint (`http://127.0.0.1:P/MAAS`);
/// its control API (`/_sim/`) is on the same port and is not counted as
/// MAAS requests.
fn sim_addr(endpoint: &str) -> Result<SocketAddr, BenchError> {
    endpoint
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| BenchError::Invalid(format!("maas-sim endpoint {endpoint:?}")))
}

async fn sim_json<T: serde::de::DeserializeOwned>(
    addr: SocketAddr,
    path: &str,
) -> Result<T, BenchError> {
    let (status, body) = http_get(addr, path).await?;
    if status != 200 {
        return Err(BenchError::Invalid(format!(
            "maas-sim {path} answered {status}: {body}"
        )));
    }
    serde_json::from_str(&body).map_err(|e| BenchError::Invalid(format!("maas-sim {path}: {e}")))
}

async fn counters(addr: SocketAddr) -> Result<maas_sim::Counters, BenchError> {
    sim_json(addr, "/_sim/counters").await
}

/// Machines MAAS does not show released: owned, or not Ready.
async fn owned_in_maas(addr: SocketAddr) -> Result<usize, BenchError> {
    let machines: Vec<maas_sim::MachineState> = sim_json(addr, "/_sim/machines").await?;
    Ok(machines
        .iter()
        .filter(|m| m.owner.is_some() || m.status != maas_sim::NodeStatus::Ready)
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_address_from_its_endpoint() {
        assert_eq!(
            sim_addr("http://127.0.0.1:4321/MAAS").unwrap(),
            "127.0.0.1:4321".parse().unwrap()
        );
        assert!(sim_addr("https://127.0.0.1:4321/MAAS").is_err());
        assert!(sim_addr("http://localhost/MAAS").is_err());
    }
}
