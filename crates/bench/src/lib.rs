//! `make bench`: the scale benchmark of the provider.
//!
//! Per run of N machines it starts a real etcd + kube-apiserver
//! (`kube-testenv`), the `maas-sim` binary (with `--latency-profile`) and the
//! `capmaas-manager` binary as real processes, creates a Cluster with one
//! control-plane and N−1 worker Machines/MaasMachines with bootstrap Secrets
//! as CAPI core would (the objects of `capmaas-demo`), waits until all are
//! provisioned, deletes them, waits until MAAS shows every machine released,
//! and reports ([`Report`]): wall times, MAAS requests (maas-sim's counters:
//! total, per machine, by operation), reconciles and apiserver writes per
//! machine (the manager's `/metrics`), the manager's CPU seconds and peak RSS
//! (`/proc`). See `docs/benchmarks.md`.

mod config;
pub mod procstat;
pub mod report;
mod scenario;

pub use config::BenchConfig;
pub use report::{Report, comparison};
pub use scenario::run;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A knob has a bad value.
    #[error("{0}")]
    Config(String),
    /// The demo's machinery (processes, objects, HTTP) failed.
    #[error(transparent)]
    Demo(#[from] capmaas_demo::DemoError),
    /// The control plane failed.
    #[error("control plane: {0}")]
    TestEnv(#[from] kube_testenv::Error),
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
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
    /// A phase took longer than the timeout.
    #[error("timed out: {0}")]
    Timeout(String),
}
