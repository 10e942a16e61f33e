//! Custom resources of the MAAS Cluster API infrastructure provider and the CAPI core types it reads.
//!
//! * Our kinds, group `infrastructure.cluster.x-k8s.io`, version `v1beta1`,
//!   implementing the CAPI **v1beta2 contract** (CRD label
//!   `cluster.x-k8s.io/v1beta2: v1beta1`): [`MaasMachine`], [`MaasCluster`],
//!   [`MaasMachineTemplate`], [`MaasClusterTemplate`].
//! * Minimal shims of the CAPI core kinds we read (`cluster.x-k8s.io/v1beta2`):
//!   [`capi::Cluster`], [`capi::Machine`]. Never install or replace them.
//! * [`constants`]: labels, annotations, finalizers, Secret keys.
//! * [`crds`]: CRD generation with the CEL validation of [`validation`]. Always
//!   use [`crds::all`] (or `crds::maas_machine()` ...), not `MaasMachine::crd()`,
//!   which lacks the rules.
//! * [`lifecycle`]: conversions between these types and the pure
//!   `machine-lifecycle` crate.
//!
//! The CRDs and their validation are documented in `docs/crds.md`.

pub mod capi;
pub mod common;
pub mod constants;
pub mod crds;
pub mod lifecycle;
pub mod maascluster;
pub mod maasmachine;
pub mod templates;
pub mod validation;

pub use common::{
    ApiEndpoint, Condition, Initialization, MachineAddress, MachineAddressType, SecretReference,
    TemplateObjectMeta,
};
pub use maascluster::{
    FailureDomain, MaasCluster, MaasClusterSpec, MaasClusterStatus, NetworkStatus,
};
pub use maasmachine::{
    EraseMode, LifecycleFailure, LifecycleStatus, MaasMachine, MaasMachineSpec, MaasMachineStatus,
    PendingRelease, ReleaseOptions, StaticIp,
};
pub use templates::{
    MaasClusterTemplate, MaasClusterTemplateResource, MaasClusterTemplateSpec, MaasMachineTemplate,
    MaasMachineTemplateResource, MaasMachineTemplateSpec, MaasMachineTemplateStatus,
    NodeArchitecture, NodeInfo, NodeOperatingSystem,
};
