//! The pure machine lifecycle state machine: observed state in, next action out.
//!
//! One MaasMachine becomes one deployed MAAS machine and is given back,
//! never leaking one. The controller gathers an [`Observation`] (the
//! MaasMachine, its CAPI Machine and Cluster, what MAAS shows, the time),
//! calls [`decide`], persists [`Decision::progress`] and the conditions, then
//! executes the single [`Action`]. If the action fails it calls
//! [`action_failed`] and persists that instead.
//!
//! No IO, no async, no Kubernetes types, no clock: everything is an input.
//!
//! How leaks are closed by construction:
//! * every allocation carries our [`OwnerMarker`] as `agent_name` (atomic with
//!   the allocation), so a crash between allocate and record is healed by
//!   [`Action::Adopt`] on the next reconcile;
//! * extra machines carrying the marker are released ([`ReleaseReason::Duplicate`]);
//! * `spec.systemID` is recorded before deploying, and a failed deploy is
//!   released before another machine is allocated;
//! * a release is tracked ([`Progress::releasing`]) until MAAS confirms it, and
//!   retried if MAAS fails it;
//! * deletion releases everything carrying the marker, then removes the finalizer;
//! * with `spec.staticIP`, [`Action::LinkStaticIp`] comes before any
//!   [`Action::Deploy`], and a machine we released is given its address back
//!   ([`Action::UnlinkStaticIp`]: MAAS keeps STATIC links across releases)
//!   before the release counts as done;
//! * VM host (pod) constraints are passed to allocate, and refused with
//!   [`reasons::VM_HOSTS_NOT_SUPPORTED`] on MAAS 3.8 and newer.
//!
//! The state machine is documented in `docs/lifecycle.md`.
//!
//! ```
//! use machine_lifecycle::*;
//!
//! let mut obs = Observation::default();
//! obs.infra.namespace = "default".into();
//! obs.infra.name = "worker-0".into();
//! obs.infra.uid = "8d5e0a4c-1111-4222-8333-944455556666".into();
//! obs.infra.spec.image = "ubuntu/jammy".into();
//! obs.machine = Some(CapiMachineView {
//!     cluster_name: "c1".into(),
//!     bootstrap_data_secret: Some("worker-0-bootstrap".into()),
//!     failure_domain: None,
//!     deleting: false,
//! });
//! obs.cluster = Some(ClusterView { paused: false, infrastructure_provisioned: true });
//! let decision = decide(&obs, &LifecycleConfig::default());
//! match decision.action {
//!     Action::Allocate(req) => assert!(req.agent_name.starts_with("capmaas/default/worker-0/")),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

mod action;
mod address;
mod backoff;
mod cache;
mod cluster;
mod conditions;
mod decide;
mod image;
mod maas;
mod marker;
mod memory;
pub mod node;
mod orphans;
mod ownership;
pub mod static_ip;
mod time;
mod view;

pub use action::{
    Action, AllocateRequest, Decision, DeployRequest, MachineReport, Provisioned, ReleaseReason,
    ReleaseRequest, StaticIpRequest, Wait,
};
pub use address::{Address, AddressType, is_public, machine_addresses};
pub use backoff::Backoff;
pub use cache::{
    CachedMachine, FreshReads, Memory, ReadPlan, assemble, confirmation_needed, machines_needed,
    may_carry_agent_name, plan_reads,
};
pub use cluster::{
    CLUSTERCTL_MOVE_LABEL, DEFAULT_API_SERVER_PORT, DNS_OWNER_PREFIX, DnsInputs, DnsOwnership,
    DnsPlan, DnsRecordView, api_server_port, credentials_move_labels, decide_dns, desired_dns_ips,
    dns_needs_lookup, dns_owner_marker, dns_owner_of, dns_ownership,
};
pub use conditions::{
    Condition, ConditionStatus, ConditionUpdate, MACHINE_DEPLOYED, PAUSED, READY, apply_conditions,
    reasons,
};
pub use decide::{
    ActionError, ErrorClass, action_failed, backoff_pending, decide, inputs_fingerprint,
    observation_failed, provider_id, system_id_from_provider_id,
};
pub use image::{ImageError, ImageRef, MAX_IMAGE_LEN, valid_hwe_kernel};
pub use maas::{
    Lookup, MaasMachineView, MaasStatus, MaasVersion, MaasView, PowerState, VersionError,
};
pub use marker::{
    ANNOTATION_CLUSTER, ANNOTATION_MACHINE, ANNOTATION_OWNER, MARKER_PREFIX, MAX_MARKER_LEN,
    MarkerError, NamePart, OwnerMarker, ParsedMarker, valid_workload_annotation_key,
};
pub use memory::MemoryRequest;
pub use orphans::{LiveMaasMachine, Orphan, OrphanPolicy, SweepPlan, sweep};
pub use ownership::{MarkerAnswer, check_marker_answer, inconsistent_with_filter, proven_ours};
pub use time::Timestamp;
pub use view::{
    CapiMachineView, ClusterView, EraseMode, InfraMachineView, LifecycleConfig, MachineSpecView,
    Observation, Progress, ReleaseRecord, StaticIpSpec, TerminalFailure,
};

#[cfg(test)]
mod tests;
