//! `MaasMachine`: one MAAS machine for one CAPI Machine.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Initialization, MachineAddress};

/// How disks are erased when the machine is released.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EraseMode {
    /// No erase (fast; the next user of the machine may read old data).
    #[default]
    None,
    /// Quick erase: wipe the beginning and end of each disk.
    Quick,
    /// Secure erase: the drive's secure-erase (MAAS falls back to a full wipe).
    Secure,
}

/// What happens when the machine is given back to MAAS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ReleaseOptions {
    /// Disk erase on release: `none` (default), `quick` or `secure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase: Option<EraseMode>,
}

/// The desired MAAS machine.
// kube's repeated `printcolumn(...)` keys trip this lint.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "MaasMachine",
    namespaced,
    status = "MaasMachineStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "mm",
    category = "cluster-api",
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("clusterctl.cluster.x-k8s.io", ""),
    doc = "MaasMachine is a MAAS machine deployed for one Cluster API Machine.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",
        description = "Cluster this MaasMachine belongs to"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.machineState",
        description = "MAAS machine status"
    ),
    printcolumn(
        name = "System-ID",
        type_ = "string",
        json_path = ".spec.systemID",
        description = "MAAS system ID"
    ),
    printcolumn(
        name = "Provider-ID",
        type_ = "string",
        json_path = ".spec.providerID",
        description = "Provider ID"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Ready condition"
    ),
    printcolumn(
        name = "Power",
        type_ = "string",
        json_path = ".status.powerState",
        priority = "1",
        description = "MAAS power state"
    ),
    printcolumn(
        name = "Hostname",
        type_ = "string",
        json_path = ".status.hostname",
        priority = "1",
        description = "MAAS hostname"
    ),
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".spec.image",
        priority = "1",
        description = "Image"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MaasMachineSpec {
    /// Set by the controller once provisioned: `maas:///<zone>/<system-id>`.
    /// Cannot change once set; needs `systemID` (the machine it names).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 1, max = 512))]
    pub provider_id: Option<String>,

    /// The MAAS machine. Recorded by the controller before it deploys; set it
    /// at creation to pin a specific machine. It cannot change from one
    /// machine to another, and is frozen once providerID is set.
    #[serde(rename = "systemID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 41))]
    pub system_id: Option<String>,

    /// MAAS zone to allocate in, used when the Machine has no failureDomain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub failure_domain: Option<String>,

    /// MAAS resource pool to allocate from; empty or absent means any pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub resource_pool: Option<String>,

    /// Minimum number of CPU cores.
    #[serde(rename = "minCPU", default, skip_serializing_if = "Option::is_none")]
    pub min_cpu: Option<i32>,

    /// Minimum memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_memory: Option<i64>,

    /// Minimum root disk size in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_disk_size: Option<i64>,

    /// MAAS tags the machine must have (all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub tags: Vec<String>,

    /// MAAS tags the machine must not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub not_tags: Vec<String>,

    /// Architecture, e.g. `amd64` or `arm64/generic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 31))]
    pub architecture: Option<String>,

    /// Image to deploy: `<series>` (Ubuntu, e.g. `jammy`),
    /// `<osystem>/<series>` (e.g. `ubuntu/jammy`) or `custom/<name>`.
    #[schemars(length(min = 1, max = 128))]
    pub image: String,

    /// Kernel to deploy, e.g. `ga-22.04` or `hwe-22.04`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 31))]
    pub hwe_kernel: Option<String>,

    /// Deploy to memory instead of disk (MAAS 3.5 or newer, machines with
    /// at least 16 GiB of memory by default: the manager's
    /// --ephemeral-min-memory-mib).
    #[serde(default)]
    pub ephemeral: bool,

    /// What happens on release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseOptions>,

    /// VM host (MAAS `pod`) the machine must be on: MAAS takes a Ready VM of
    /// that host, or composes one there when none matches. VM hosts were
    /// removed in MAAS 3.8, where this is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub pod: Option<String>,

    /// VM hosts (MAAS `not_pod`) the machine must not be on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 255)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub not_pods: Vec<String>,

    /// VM host type (MAAS `pod_type`): `lxd` or `virsh`. With `lxd`, the
    /// machine is an LXD VM, composed on a matching VM host when no Ready
    /// machine matches. Rejected on MAAS 3.8 and newer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub pod_type: Option<String>,

    /// VM host types (MAAS `not_pod_type`) the machine must not be on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), inner(length(min = 1, max = 16)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub not_pod_types: Vec<String>,

    /// A fixed address for the machine's boot interface, linked in MAAS
    /// (mode STATIC) after allocation and before deploy, and unlinked once
    /// the machine is released. Needs a MAAS administrator's API key. Not
    /// allowed in a MaasMachineTemplate (every machine would ask for the
    /// same address).
    #[serde(rename = "staticIP", default, skip_serializing_if = "Option::is_none")]
    pub static_ip: Option<StaticIp>,
}

/// A static address for the machine's boot interface.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct StaticIp {
    /// The address, e.g. `10.0.0.20`: outside the subnet's dynamic ranges
    /// and not in use.
    #[schemars(length(min = 2, max = 45))]
    pub address: String,
    /// The MAAS subnet: its id (e.g. `3`) or CIDR (e.g. `10.0.0.0/24`).
    /// Absent: the MAAS subnet that contains the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub subnet: Option<String>,
}

/// A release the controller asked MAAS for and MAAS has not confirmed yet.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingRelease {
    /// The machine.
    #[serde(rename = "systemID")]
    #[schemars(length(max = 64))]
    pub system_id: String,
    /// When the release was first requested.
    pub since: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
}

/// A terminal failure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LifecycleFailure {
    /// CamelCase reason.
    #[schemars(length(max = 128))]
    pub reason: String,
    /// What happened and what to fix.
    #[schemars(length(max = 4096))]
    pub message: String,
}

/// The controller's bookkeeping between reconciles (see `docs/lifecycle.md`).
/// Not restored by `clusterctl move`; losing it is safe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleStatus {
    /// The spec.systemID the controller recorded (a different value was pinned by the user).
    #[serde(
        rename = "recordedSystemID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 64))]
    pub recorded_system_id: Option<String>,
    /// Failed deploy attempts.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub deploy_failures: i32,
    /// Why the last deploy attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub last_deploy_failure: Option<String>,
    /// When the current deploy was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When power-on was last requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_on_requested_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Consecutive allocation failures.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub allocate_failures: i32,
    /// When the last unanswered allocation was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_requested_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Machines that failed this MaasMachine.
    #[serde(
        rename = "avoidSystemIDs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = 32), inner(length(max = 64)))]
    pub avoid_system_ids: Vec<String>,
    /// Releases not yet confirmed by MAAS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub releasing: Vec<PendingRelease>,
    /// MAAS refused workload annotations on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub annotations_rejected_for: Option<String>,
    /// Set once the lifecycle gave up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<LifecycleFailure>,
    /// No MAAS call for this MaasMachine before this time (a back-off after
    /// a failed MAAS call or observation), unless what the controller reads
    /// from Kubernetes changes (see `backoffInputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Fingerprint of the inputs the back-off was decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub backoff_inputs: Option<String>,
    /// Consecutive failed MAAS attempts (the back-off doubles with each).
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub attempt_failures: i32,
}

// serde's skip_serializing_if passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// Observed state of a MaasMachine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaasMachineStatus {
    /// CAPI v1beta2 contract: `provisioned` is true once the machine is deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
    /// CAPI v1beta1 contract: same meaning as `initialization.provisioned`.
    #[serde(default)]
    pub ready: bool,
    /// Addresses of the machine (copied to the Machine).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub addresses: Vec<MachineAddress>,
    /// MAAS zone the machine landed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub failure_domain: Option<String>,
    /// MAAS status of the machine (e.g. `Deployed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_state: Option<String>,
    /// MAAS power state (`on`, `off`, `unknown`, `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
    /// MAAS hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Whether MAAS deployed the machine to memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_in_memory: Option<bool>,
    /// Conditions: `Ready`, `Paused`, `MachineDeployed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Controller bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LifecycleStatus>,
}
