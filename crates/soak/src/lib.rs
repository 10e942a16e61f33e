//! `make soak`: kill -9 of `capmaas-manager` at random moments, with MAAS
//! faults, and invariants checked by sampling MAAS.
//!
//! One real etcd + kube-apiserver (`kube-testenv`) serves every run. Each
//! run starts the `maas-sim` binary and the `capmaas-manager` binary (as
//! `capmaas-demo` does, reusing its process supervisor), creates a
//! `Cluster`/`MaasCluster` and then waves of N `Machine`s with bootstrap
//! Secrets and `MaasMachine`s (one control plane, one in memory), waits
//! until they are provisioned, deletes them, waits until MAAS has them back,
//! and starts the next wave — while the manager is SIGKILLed after a random
//! uptime (seeded: [`rng::Rng`]) and restarted, until the run's kill count
//! is reached. Then the faults stop, one last wave must provision and go
//! away, the cluster is deleted, and the final state of MAAS is checked.
//!
//! Every 100 ms the run reads maas-sim's machines and the new request-log
//! records (`GET /_sim/requests?since=N`) and feeds them to the
//! [`invariants::Checker`]: never two held machines with one MaasMachine's
//! marker, never a second deploy of a machine without a release between, at
//! the end nothing of ours left in MAAS; the run also fails on a stuck
//! finalizer, a wave not provisioned in time, a manager that exits by itself
//! or panics, or one that does not stop cleanly on SIGTERM at the end.
//!
//! Variants ([`variant::Variant`], one per run in turn): kills only, 20 %
//! 503s, lock pages, connections dropped after MAAS acted, 500 HTML pages,
//! garbage 200 bodies (instead of and after acting). Knobs:
//! [`config::SoakConfig`]. See `docs/testing.md` ("Soak").

pub mod config;
pub mod invariants;
pub mod objects;
pub mod rng;
mod run;
pub mod variant;

use std::path::PathBuf;

pub use config::SoakConfig;
pub use run::{RunReport, Summary, soak};

/// Why the soak (or a run) stopped.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// A knob has a bad value.
    #[error("{0}")]
    Config(String),
    /// A binary the soak runs is not built.
    #[error("{name} not found at {} (run `make soak`, which builds it, or set SOAK_BIN_DIR)", path.display())]
    MissingBinary {
        /// Which.
        name: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Starting or talking to a child process failed.
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
    /// A wait took longer than `SOAK_TIMEOUT`.
    #[error("timed out: {0}")]
    Timeout(String),
}
