//! `make conformance`: the controller end to end against any MAAS.
//!
//! The suite starts a real etcd + kube-apiserver (`kube-testenv`), installs
//! our CRDs and Cluster API's, runs the `capmaas-manager` binary as a real
//! process against the MAAS named by `MAAS_ENDPOINT`/`MAAS_API_KEY`, and
//! creates a Cluster as CAPI core would: a control-plane machine (asking for
//! a zone), a disk worker and, when MAAS is 3.5 or newer, an in-memory
//! worker, every one restricted to `CONFORMANCE_POOL` and/or
//! `CONFORMANCE_TAG` (the suite refuses to start without one). It kills the
//! manager with SIGKILL while a machine is being provisioned and restarts
//! it, checks every machine in MAAS (status, zone, pool, tag, owner marker,
//! in-memory), that nothing leaked, the control-plane DNS record, deletion
//! back to Ready, cluster deletion, and a clean SIGTERM exit. It uses only
//! the public MAAS API (no `/_sim/` control API) and only machines it
//! allocates; whatever the run left in MAAS (on failure or Ctrl-C too) is
//! released at the end.
//!
//! The report has one line per check (`PASS`/`FAIL`/`SKIP`/`----` for not
//! run, duration, what was seen, MAAS's text on failure) and a summary;
//! the binary exits 0 when every check passed (or was skipped because this
//! MAAS cannot do it), 1 otherwise, 2 on bad input. See `docs/conformance.md`.

pub mod config;
pub mod manager;
pub mod objects;
pub mod report;
pub mod suite;

pub use config::Config;
pub use report::{CheckResult, Verdict};
pub use suite::{PLAN, run};
