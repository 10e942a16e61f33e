//! A MAAS 2.0 API simulator: MAAS's state machine, status codes and bodies, for tests.
//!
//! The simulator serves `/MAAS/api/2.0/` the way MAAS 3.4–3.8 does: OAuth
//! PLAINTEXT and HMAC-SHA1 verification with MAAS's error texts, operation dispatch
//! (`op` in the query, the body, or the `op-<name>` path), strict constraint
//! forms, piston's JSON, `/describe/` generated from the same route table
//! that routes requests, machines that move through MAAS's state machine on
//! a simulated clock, VM hosts (pods), networking and DNS, events, fault
//! injection and a control API under `/_sim/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), maas_sim::SimError> {
//! use maas_sim::{MaasVersion, Simulator};
//! use std::time::Duration;
//!
//! let sim = Simulator::builder()
//!     .machines(20)
//!     .seed(7)
//!     .maas_version(MaasVersion::V3_7)
//!     .deploy_duration(Duration::from_millis(500))
//!     .start("127.0.0.1:0")
//!     .await?;
//! let endpoint = sim.endpoint(); // "http://127.0.0.1:PORT/MAAS"
//! let key = sim.admin_api_key(); // "consumer:token:secret"
//! # let _ = (endpoint, key);
//! sim.control().complete_pending(); // finish every transition now
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Users: `admin` (superuser, [`RunningSimulator::admin_api_key`]) and
//! `user` (non-admin, [`RunningSimulator::user_api_key`]).
//!
//! Known deviations from MAAS are listed in `docs/maas-sim.md`. As in MAAS,
//! a bad PLAINTEXT signature's 401 text echoes the token secret.

// Layers, lowest first; a module uses only its own layer and lower ones
// (checked by tests/layers.rs).
mod api;
mod domain;
mod model;
mod runtime;

pub use api::faults::{FaultKind, OpFault, ScriptedFault};
pub use domain::inventory::{
    DiskSpec, DomainSpec, InterfaceSpec, Inventory, InventoryError, MachineSpec, NamedSpec,
    RangeSpec, StoragePoolSpec, SubnetSpec, TagSpec, VmHostSpec,
};
pub use domain::state::Timings;
pub use domain::vmhost::{
    DiscoveredHost, DiscoveredStoragePool, DiscoveryError, DiscoveryRequest, SimulatedDiscovery,
    SimulatedHost, VmHostDiscovery, normalise_lxd_address,
};
pub use model::keys::{ApiKey, InvalidApiKey};
pub use model::version::{MaasVersion, UnknownVersion};
pub use model::{NodeStatus, PowerState};
pub use runtime::control::{Control, MachineState, Snapshot};
pub use runtime::latency::{LatencyProfile, UnknownLatencyProfile};
pub use runtime::log::{Counters, RequestRecord};
pub use runtime::lxd_discovery::{LxdDiscovery, MAAS_PROJECT_DESCRIPTION, debian_architecture};
pub use runtime::sim::{RunningSimulator, SimError, Simulator, SimulatorBuilder};

/// The `X-MAAS-API-Hash` value (also `hash` in `/describe/`).
pub fn api_hash() -> &'static str {
    api::describe::api_hash()
}
