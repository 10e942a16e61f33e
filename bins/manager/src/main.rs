//! `capmaas-manager`: the MAAS Cluster API infrastructure provider's manager.
//! Thin: flags in, `capmaas_controller` out. See `docs/operations.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capmaas_controller::http::{health_router, metrics_router, serve};
use capmaas_controller::{ControllerConfig, MaasCredentials, Manager};
use clap::{Parser, Subcommand};
use cli_support::{LogFormat, Program, Threads, shutdown_signal};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

const PROGRAM: Program = Program::new("capmaas-manager");

/// After SIGTERM/SIGINT, how long in-flight reconciles may take to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(12);
/// After the controllers stopped, how long releasing the Lease may take (an
/// unreachable apiserver would otherwise be retried forever; the Lease then
/// expires by itself after its duration).
const LEASE_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the /healthz and /metrics servers may take to close.
const HTTP_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the runtime waits for leftover tasks when the process exits.
/// Together these stay inside the Deployment's 30 s grace period.
const RUNTIME_STOP_TIMEOUT: Duration = Duration::from_secs(1);

const EXAMPLES: &str = "\
Examples:
  # All namespaces, two replicas with leader election (as the released Deployment runs it)
  capmaas-manager --leader-elect --leader-elect-namespace capmaas-system

  # One namespace, a default MAAS for MaasClusters without credentialsRef, JSON logs
  MAAS_ENDPOINT=http://maas.example:5240/MAAS MAAS_API_KEY=<key> \\
    capmaas-manager --namespace team-a --log-format json --log-level capmaas_controller=debug,info

  # The CRDs it serves, as YAML
  capmaas-manager crd > crds.yaml

Kubernetes credentials: in-cluster, else $KUBECONFIG or ~/.kube/config.
RUST_LOG, when set, replaces --log-level.
Exit status: 0 stopped by SIGTERM/SIGINT, 1 failure or leadership lost, 2 bad input.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every CRD of this provider as YAML (the content of config/crd/).
    Crd,
}

/// Cluster API infrastructure provider for MAAS.
#[derive(Debug, Parser)]
#[command(name = "capmaas-manager", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Watch only this namespace (default: all).
    #[arg(long)]
    namespace: Option<String>,
    /// Reconcile only objects labelled cluster.x-k8s.io/watch-filter=<value>.
    #[arg(long)]
    watch_filter: Option<String>,
    /// Concurrent reconciles per kind.
    #[arg(long, default_value_t = 10)]
    concurrency: u16,
    /// Resync period of provisioned machines and clusters (e.g. 10m).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    sync_period: Duration,
    /// Period of the shared MAAS poller (one list request per MAAS per tick).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Hold a Lease before reconciling (run several replicas).
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE, else --namespace, else capmaas-system).
    #[arg(long)]
    leader_elect_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "capmaas-manager-leader")]
    leader_elect_lease_name: String,
    /// Lease duration.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    leader_elect_lease_duration: Duration,
    /// Address of /metrics.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:9440")]
    health_addr: SocketAddr,
    /// Default MAAS endpoint (MaasClusters without credentialsRef).
    #[arg(long, env = "MAAS_ENDPOINT")]
    maas_endpoint: Option<String>,
    /// Default MAAS API key (consumer:token:secret).
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true)]
    maas_api_key: Option<String>,
    /// PEM CA bundle for the default MAAS endpoint.
    #[arg(long)]
    maas_ca_bundle: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log level or filter (e.g. info, capmaas_controller=debug).
    #[arg(long, default_value = "info")]
    log_level: String,
}

fn crds() -> Result<String, String> {
    let mut files = capi_types::crds::render_all().map_err(|e| e.to_string())?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect::<Vec<_>>()
        .join("---\n"))
}

fn main() -> ExitCode {
    let cli: Cli = match PROGRAM.parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // An empty --namespace or --watch-filter means "not set": the released
    // Deployment passes `--namespace=$(CAPMAAS_WATCH_NAMESPACE)`, empty by default.
    let cli = Cli {
        namespace: cli.namespace.filter(|s| !s.is_empty()),
        watch_filter: cli.watch_filter.filter(|s| !s.is_empty()),
        ..cli
    };
    if let Some(Command::Crd) = cli.command {
        return match crds() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => PROGRAM.fail(e),
        };
    }
    let credentials = match (&cli.maas_endpoint, &cli.maas_api_key) {
        (Some(endpoint), Some(key)) => {
            let mut c = MaasCredentials::new(endpoint, key);
            if let Some(path) = &cli.maas_ca_bundle {
                match std::fs::read(path) {
                    Ok(pem) => c = c.with_ca_bundle(pem),
                    Err(e) => {
                        return PROGRAM.bad_input(format!(
                            "cannot read --maas-ca-bundle {}: {e}",
                            path.display()
                        ));
                    }
                }
            }
            if let Err(e) = maas_check(&c) {
                return PROGRAM.bad_input(e);
            }
            Some(c)
        }
        (None, None) => None,
        (Some(_), None) => {
            return PROGRAM.bad_input("--maas-endpoint needs --maas-api-key (or MAAS_API_KEY)");
        }
        (None, Some(_)) => {
            return PROGRAM.bad_input("--maas-api-key needs --maas-endpoint (or MAAS_ENDPOINT)");
        }
    };
    if cli.concurrency == 0 {
        return PROGRAM.bad_input("--concurrency must be at least 1");
    }
    if let Err(code) = PROGRAM.init_logging(cli.log_format, &cli.log_level) {
        return code;
    }
    let runtime = match PROGRAM.runtime(Threads::PerCore) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = match runtime.block_on(run(cli, credentials)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "manager failed");
            ExitCode::FAILURE
        }
    };
    runtime.shutdown_timeout(RUNTIME_STOP_TIMEOUT);
    code
}

/// Runs `work` to completion, except that once `stop` is set it gets at
/// most `bound` more; then it is dropped with a warning. True when it
/// completed.
async fn bounded_after_stop(
    work: impl std::future::Future<Output = ()>,
    mut stop: watch::Receiver<bool>,
    bound: Duration,
    what: &str,
) -> bool {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        () = &mut work => return true,
        _ = stop.wait_for(|s| *s) => {}
    }
    if tokio::time::timeout(bound, &mut work).await.is_ok() {
        return true;
    }
    tracing::warn!(step = what, timeout = ?bound, "shutdown step timed out; going on without it");
    false
}

fn maas_check(c: &MaasCredentials) -> Result<(), String> {
    capmaas_controller::config::validate_credentials(c)
        .map_err(|e| format!("default MAAS credentials: {e}"))
}

async fn run(cli: Cli, credentials: Option<MaasCredentials>) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default().await?;
    let config = ControllerConfig {
        namespace: cli.namespace.clone(),
        watch_filter: cli.watch_filter.clone(),
        concurrency: cli.concurrency,
        poll_interval: cli.poll_interval,
        default_credentials: credentials,
        instance: std::env::var("POD_NAME").ok(),
        ..ControllerConfig::default()
    }
    .with_sync_period(cli.sync_period);
    let manager = Manager::new(client.clone(), config);
    let readiness = manager.readiness();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (health, health_task) = serve(
        cli.health_addr,
        health_router(readiness),
        stopped(stop_rx.clone()),
    )
    .await?;
    let (metrics, metrics_task) = serve(
        cli.metrics_addr,
        metrics_router(manager.metrics()),
        stopped(stop_rx.clone()),
    )
    .await?;
    tracing::info!(%health, %metrics, "serving /healthz, /readyz and /metrics");

    let signal = {
        let tx = stop_tx.clone();
        let signal = shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("signal received");
            let _ = tx.send(true);
        })
    };
    let mut code = ExitCode::SUCCESS;
    if cli.leader_elect {
        let ns = cli
            .leader_elect_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .or_else(|| cli.namespace.clone())
            .unwrap_or_else(|| "capmaas-system".to_owned());
        let identity = format!(
            "{}-{}",
            std::env::var("POD_NAME").unwrap_or_else(|_| "capmaas-manager".into()),
            std::process::id()
        );
        let secs = cli.leader_elect_lease_duration.as_secs().max(2);
        let lease = LeaseManagerBuilder::new(client.clone(), &cli.leader_elect_lease_name)
            .with_namespace(&ns)
            .with_identity(&identity)
            .with_duration(secs)
            .with_grace((secs / 3).max(1))
            .build()
            .await?;
        let (mut leader, lease_task) = lease.watch().await;
        tracing::info!(lease = %cli.leader_elect_lease_name, namespace = %ns, %identity, "waiting for leadership");
        let mut stop = stop_rx.clone();
        let lead = tokio::select! {
            r = leader.wait_for(|l| *l) => r.is_ok(),
            _ = stop.wait_for(|s| *s) => false,
        };
        if lead {
            tracing::info!("leading");
            let mut lost_rx = leader.clone();
            let lost = tokio::spawn(async move {
                let _ = lost_rx.wait_for(|l| !*l).await;
            });
            // Its clone of the leadership receiver must go too, or the
            // channel never closes and the Lease is never released.
            let lost_watch = lost.abort_handle();
            let lost_flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = lost_flag.clone();
            let stop = stopped(stop_rx.clone());
            let run = manager.run(async move {
                tokio::select! {
                    _ = lost => {
                        tracing::error!("leadership lost");
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    () = stop => {}
                }
            });
            bounded_after_stop(run, stop_rx.clone(), DRAIN_TIMEOUT, "finish reconciles").await;
            lost_watch.abort();
            if lost_flag.load(std::sync::atomic::Ordering::SeqCst) {
                code = ExitCode::FAILURE;
            }
        }
        // Closing the channel makes the lease task release the Lease. It
        // retries while the apiserver is unreachable: bounded.
        drop(leader);
        let mut lease_task = lease_task;
        match tokio::time::timeout(LEASE_RELEASE_TIMEOUT, &mut lease_task).await {
            Ok(Ok(Ok(_))) => tracing::info!("lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the lease failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "lease task failed"),
            Err(_) => {
                lease_task.abort();
                tracing::warn!(
                    timeout = ?LEASE_RELEASE_TIMEOUT,
                    "releasing the lease timed out (apiserver unreachable?); exiting anyway, \
                     the Lease expires by itself"
                );
            }
        }
    } else {
        let run = manager.run(stopped(stop_rx.clone()));
        bounded_after_stop(run, stop_rx.clone(), DRAIN_TIMEOUT, "finish reconciles").await;
    }
    let _ = stop_tx.send(true);
    signal.abort();
    for (name, mut task) in [("health", health_task), ("metrics", metrics_task)] {
        if tokio::time::timeout(HTTP_STOP_TIMEOUT, &mut task)
            .await
            .is_err()
        {
            task.abort();
            tracing::warn!(server = name, timeout = ?HTTP_STOP_TIMEOUT, "HTTP server did not close in time");
        }
    }
    tracing::info!("exiting");
    Ok(code)
}
