//! `make demo`: the provider's main job on one machine, end to end.
//!
//! The demo starts a real control plane (etcd + kube-apiserver from
//! `kube-testenv`; the first run builds them from source), the `maas-sim`
//! binary as the MAAS, and the `capmaas-manager` binary as the controller
//! (with `--maas-endpoint`, the API key in `MAAS_API_KEY`, and a kubeconfig).
//! It installs our CRDs and the Cluster API CRDs, creates a `Cluster`, a
//! `MaasCluster` and N `Machine`s with bootstrap Secrets and `MaasMachine`s
//! as CAPI core would (one of them `ephemeral: true`: a mixed cluster), marks
//! the Cluster's infrastructure provisioned once the MaasCluster is, shows
//! the machines until all are provisioned, deletes them and shows them
//! released in MAAS, then deletes the cluster and stops everything.
//!
//! On a terminal the table is redrawn in place; with `DEMO_NONINTERACTIVE=1`
//! (or without a terminal) each change is a plain line. The last line is
//! always the summary ([`view::Outcome::summary_line`]); the process exits 0
//! only when every machine was provisioned and released.
//!
//! Knobs ([`config::DemoConfig::from_env`]): `DEMO_MACHINES` (5),
//! `DEMO_MAAS_VERSION` (3.6), `DEMO_DEPLOY_SECONDS` (5), `DEMO_TIMEOUT`
//! (300), `DEMO_NONINTERACTIVE`, `DEMO_BIN_DIR`. See `docs/demo.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), capmaas_demo::DemoError> {
//! use capmaas_demo::{DemoConfig, run};
//! let cfg = DemoConfig::from_env(false)?;
//! let outcome = run(&cfg, std::io::stdout(), tokio_util::sync::CancellationToken::new()).await;
//! assert!(outcome.success());
//! # Ok(()) }
//! ```

pub mod board;
pub mod config;
pub mod objects;
pub mod process;
mod run;
pub mod view;

use std::path::PathBuf;

pub use config::DemoConfig;
pub use run::{
    http_get, inventory_json, metric_sum, read_sim_contract, run, serving_addrs, wait_manager_ready,
};
pub use view::Outcome;

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A knob has a bad value.
    #[error("{0}")]
    Config(String),
    /// A binary the demo runs is not built.
    #[error("{name} not found at {} (run `make demo`, which builds it, or set DEMO_BIN_DIR)", path.display())]
    MissingBinary {
        /// Which.
        name: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A child process exited.
    #[error("{name} exited ({status}); last lines of its log:\n{log_tail}")]
    Exited {
        /// Which.
        name: &'static str,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// The control plane failed.
    #[error("control plane: {0}")]
    TestEnv(#[from] kube_testenv::Error),
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The MAAS client could not be configured.
    #[error("MAAS client: {0}")]
    MaasConfig(#[from] maas_api::ConfigError),
    /// A MAAS request failed.
    #[error("MAAS: {0}")]
    Maas(#[from] maas_api::Error),
    /// Local IO failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Unexpected data.
    #[error("{0}")]
    Invalid(String),
    /// A phase took longer than `DEMO_TIMEOUT`.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}
