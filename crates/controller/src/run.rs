//! The manager process's life: the entry point `capmaas-manager` calls
//! after parsing its flags.
//!
//! [`run`] builds the Kubernetes client (every request counted), serves
//! `/healthz`, `/readyz` and `/metrics`, runs the controllers (behind a
//! Lease with [`crate::leader`] when asked), and shuts down gracefully on
//! the stop signal: in-flight reconciles get [`ShutdownTimeouts::drain`],
//! releasing the Lease [`ShutdownTimeouts::lease_release`], the HTTP
//! servers [`ShutdownTimeouts::http_stop`] — each bounded, so that the
//! process exits inside the Deployment's 30 s grace period even when the
//! apiserver is gone.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::ControllerConfig;
use crate::http::{health_router, metrics_router, serve};
use crate::leader::{self, LeaderElection};
use crate::manager::Manager;
use crate::metrics::{Metrics, counting_kube_client};
pub use crate::shutdown::ShutdownTimeouts;
use crate::shutdown::{bounded_after_stop, stopped};

/// What [`run`] needs besides the controller configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Address of `/healthz` and `/readyz`.
    pub health_addr: SocketAddr,
    /// Address of `/metrics`.
    pub metrics_addr: SocketAddr,
    /// Hold this Lease before reconciling; `None`: reconcile at once.
    pub leader_election: Option<LeaderElection>,
    /// Bounds of the shutdown steps.
    pub shutdown: ShutdownTimeouts,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The stop signal came: a clean stop (exit status 0).
    Stopped,
    /// Another replica took the Lease (exit status 1: the pod restarts and
    /// waits for leadership again).
    LeadershipLost,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No Kubernetes credentials (in-cluster, `$KUBECONFIG`, `~/.kube/config`).
    #[error("Kubernetes configuration: {0}")]
    KubeConfig(#[from] kube::config::InferConfigError),
    /// The Kubernetes client cannot be built.
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// An HTTP server cannot listen.
    #[error("cannot serve HTTP: {0}")]
    Serve(#[from] std::io::Error),
    /// The Lease manager cannot be built.
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
}

/// [`run_with`] with the Kubernetes configuration inferred (in-cluster,
/// else `$KUBECONFIG` or `~/.kube/config`).
///
/// # Errors
/// See [`RunError`].
pub async fn run(
    config: ControllerConfig,
    options: RunOptions,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<Exit, RunError> {
    let kube_config = kube::Config::infer().await?;
    run_with(kube_config, config, options, signal).await
}

/// Runs the manager until `signal` completes (or leadership is lost), then
/// shuts down within [`RunOptions::shutdown`].
///
/// # Errors
/// See [`RunError`]: only while starting; once running, a run ends in an
/// [`Exit`].
pub async fn run_with(
    kube_config: kube::Config,
    config: ControllerConfig,
    options: RunOptions,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<Exit, RunError> {
    // Every apiserver request is counted (capmaas_kube_requests_total{verb}).
    let metrics = Arc::new(Metrics::new());
    let client = counting_kube_client(kube_config, metrics.clone())?;
    let manager = Manager::with_metrics(client.clone(), config, metrics);
    let readiness = manager.readiness();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (health, health_task) = serve(
        options.health_addr,
        health_router(readiness),
        stopped(stop_rx.clone()),
    )
    .await?;
    let (metrics_addr, metrics_task) = serve(
        options.metrics_addr,
        metrics_router(manager.metrics()),
        stopped(stop_rx.clone()),
    )
    .await?;
    tracing::info!(%health, metrics = %metrics_addr, "serving /healthz, /readyz and /metrics");

    let signal = {
        let tx = stop_tx.clone();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("signal received");
            let _ = tx.send(true);
        })
    };
    let timeouts = options.shutdown;
    let result = match &options.leader_election {
        Some(election) => leader::lead(client, election, manager, stop_rx.clone(), &timeouts)
            .await
            .map_err(RunError::from)
            .map(|lost| {
                if lost {
                    Exit::LeadershipLost
                } else {
                    Exit::Stopped
                }
            }),
        None => {
            let run = manager.run(stopped(stop_rx.clone()));
            bounded_after_stop(run, stop_rx.clone(), timeouts.drain, "finish reconciles").await;
            Ok(Exit::Stopped)
        }
    };
    let _ = stop_tx.send(true);
    signal.abort();
    for (name, mut task) in [("health", health_task), ("metrics", metrics_task)] {
        if tokio::time::timeout(timeouts.http_stop, &mut task)
            .await
            .is_err()
        {
            task.abort();
            tracing::warn!(server = name, timeout = ?timeouts.http_stop, "HTTP server did not close in time");
        }
    }
    if result.is_ok() {
        tracing::info!("exiting");
    }
    result
}
