//! The controllers of the MAAS Cluster API infrastructure provider.
//!
//! * [`machine`]: MaasMachine (v1beta2 InfraMachine contract). Observes the
//!   MaasMachine, its owner Machine and Cluster and MAAS, calls the pure
//!   `machine_lifecycle::decide`, writes the decision's status (guarded by
//!   resourceVersion), then executes its one action.
//! * [`cluster`]: MaasCluster (InfraCluster contract): failure domains from
//!   MAAS zones, the control-plane endpoint (a MAAS DNS record following the
//!   ready control-plane machines), deletion.
//! * [`template`]: MaasMachineTemplate `status.capacity`/`nodeInfo`.
//! * [`maas`]: MAAS clients cached per (endpoint, key digest) and the shared
//!   per-endpoint poller that keeps MAAS load flat.
//! * [`machine_cache`]: the shared MAAS machine cache of each endpoint (fed
//!   by the poller and by MAAS's answers to our calls); what a reconcile
//!   still reads from MAAS is decided in the lifecycle.
//! * [`manager`]: runs everything in-process: [`Manager::spawn`] for tests
//!   and embedding, [`Manager::run`] for the binary.
//! * [`workload`]: the workload cluster: sets `Node.spec.providerID` of
//!   provisioned machines (kubeconfig from CAPI's `<cluster>-kubeconfig`
//!   Secret, clients cached per cluster, short timeouts, back-off).
//! * [`metrics`], [`http`]: Prometheus metrics, `/healthz`, `/readyz`.
//! * [`run`](mod@run), [`leader`], [`shutdown`]: the manager process —
//!   client, HTTP servers, leader election (a Lease), graceful bounded
//!   shutdown; the `capmaas-manager` binary parses flags and calls [`run()`].
//!
//! Decisions are `machine_lifecycle`'s (pure); these modules observe, call
//! it and execute its plan. No two modules import each other (checked by
//! `tests/module_graph.rs`): shared pieces live apart ([`clock`],
//! [`workload_clients`], [`shutdown`]).
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! use capmaas_controller::{ControllerConfig, MaasCredentials, Manager};
//! let config = ControllerConfig {
//!     namespace: Some("default".into()),
//!     default_credentials: Some(MaasCredentials::new("http://maas:5240/MAAS", "ck:tk:ts")),
//!     ..ControllerConfig::default()
//! };
//! let handle = Manager::new(client, config).spawn();
//! // ... later
//! handle.shutdown().await; // in-flight reconciles finish first
//! # }
//! ```
//!
//! See `docs/controller.md` and `docs/operations.md`.

pub mod clock;
pub mod cluster;
pub mod config;
pub mod context;
pub mod error;
pub mod http;
pub mod kubeutil;
pub mod leader;
pub mod maas;
pub mod machine;
pub mod machine_cache;
pub mod manager;
pub mod metrics;
pub mod orphans;
pub mod run;
pub mod shutdown;
pub mod staticip;
pub mod template;
pub mod triggers;
pub mod workload;
pub mod workload_clients;

pub use config::{ControllerConfig, MaasCredentials};
pub use context::Context;
pub use error::{Error, ErrorClass};
pub use manager::{Manager, ManagerHandle, Readiness, WATCH_FILTER_LABEL};
pub use metrics::Metrics;
pub use run::{Exit, RunError, RunOptions, ShutdownTimeouts, run, run_with};
