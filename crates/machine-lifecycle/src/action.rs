//! Outputs: the one action to take, and what to report.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::address::Address;
use crate::conditions::ConditionUpdate;
use crate::view::{EraseMode, Progress};

/// `POST machines/?op=allocate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocateRequest {
    /// `agent_name`: the rendered owner marker. Always set.
    pub agent_name: String,
    /// `system_id`: only for a pinned machine.
    pub system_id: Option<String>,
    /// `cpu_count`.
    pub min_cpu: Option<u32>,
    /// `mem` (MiB); raised to the in-memory minimum for ephemeral deploys.
    pub min_memory_mib: Option<u64>,
    /// Minimum root disk (GB); send as `storage=root:<GB>`.
    pub min_disk_gb: Option<u64>,
    /// `tags` (all required).
    pub tags: Vec<String>,
    /// `not_tags`.
    pub not_tags: Vec<String>,
    /// `zone`: the Machine's failure domain, else the MaasMachine's.
    pub zone: Option<String>,
    /// `pool`.
    pub pool: Option<String>,
    /// `arch`.
    pub architecture: Option<String>,
    /// `pod`: the VM host.
    pub pod: Option<String>,
    /// `not_pod`.
    pub not_pods: Vec<String>,
    /// `pod_type` (`lxd`, `virsh`).
    pub pod_type: Option<String>,
    /// `not_pod_type`.
    pub not_pod_types: Vec<String>,
    /// `subnets` (MAAS specifiers) the machine must be linked to:
    /// `ip:<address>` with `spec.staticIP`, so that MAAS picks a machine on
    /// that network (a VM composed on demand is not filtered by it).
    pub subnets: Vec<String>,
    /// Machines that already failed this MaasMachine. MAAS's allocate has no
    /// exclusion parameter: honour it by listing Ready candidates with
    /// `not_id` and allocating one by `system_id`, or ignore it (correctness
    /// does not depend on it; it only avoids retrying on the same hardware).
    pub avoid_system_ids: Vec<String>,
    /// `comment` (shown in MAAS's event log).
    pub comment: String,
}

/// `POST machines/<id>/?op=deploy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The machine.
    pub system_id: String,
    /// `osystem`.
    pub osystem: String,
    /// `distro_series`.
    pub distro_series: String,
    /// `hwe_kernel`.
    pub hwe_kernel: Option<String>,
    /// `ephemeral_deploy`.
    pub ephemeral: bool,
    /// The bootstrap Secret (Machine namespace) whose `value` becomes
    /// `user_data` (base64). The lifecycle never sees the data itself.
    pub bootstrap_data_secret: String,
    /// `comment`.
    pub comment: String,
}

/// A static address on a machine's boot interface (`op=link_subnet` /
/// `op=unlink_subnet` on `nodes/<id>/interfaces/<boot>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIpRequest {
    /// The machine.
    pub system_id: String,
    /// The address.
    pub address: String,
    /// The subnet (id or CIDR); `None`: the MAAS subnet containing `address`.
    pub subnet: Option<String>,
}

/// Why a machine is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseReason {
    /// The MaasMachine is being deleted.
    Deleting,
    /// An extra machine carries our marker (at most one may stay).
    Duplicate,
    /// The deploy failed, timed out or the machine is unusable; we retry
    /// (elsewhere unless pinned) or, when `final_attempt`, give up.
    RetryDeploy {
        /// Why (MAAS's status message, "timed out after ..." ...).
        cause: String,
        /// No retry follows: the lifecycle fails terminally.
        final_attempt: bool,
    },
    /// The lifecycle failed terminally; the machine is given back.
    Failed,
    /// MAAS failed an earlier release of ours; asking again.
    RetryRelease,
}

/// `POST machines/<id>/?op=release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The machine.
    pub system_id: String,
    /// Disk erase (none for machines never deployed by us).
    pub erase: EraseMode,
    /// Why.
    pub reason: ReleaseReason,
    /// `comment`.
    pub comment: String,
}

/// Everything `status` needs once a machine is provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// `spec.providerID`: `maas:///<zone>/<system-id>`.
    pub provider_id: String,
    /// `status.addresses`.
    pub addresses: Vec<Address>,
    /// `status.failureDomain` (the MAAS zone).
    pub failure_domain: String,
}

/// The one thing to do now.
// One action per reconcile: boxing the allocation would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Paused: do nothing (not even delete) until unpaused.
    Paused,
    /// No owner Machine yet.
    WaitForOwnerMachine,
    /// The Cluster is not found.
    WaitForCluster,
    /// `Cluster.status.initialization.infrastructureProvisioned` is false.
    WaitForClusterInfrastructure,
    /// `Machine.spec.bootstrap.dataSecretName` is not set.
    WaitForBootstrapData,
    /// Record `system_id` (a machine carrying our marker) in `spec.systemID`.
    /// This is how every allocation is recorded, after a crash or not.
    Adopt {
        /// The machine.
        system_id: String,
    },
    /// Allocate a machine, atomically marked with our owner marker.
    Allocate(AllocateRequest),
    /// `op=set_workload_annotations` with these pairs (proof of ownership
    /// that survives `agent_name` being overwritten).
    Annotate {
        /// The machine.
        system_id: String,
        /// The annotations.
        annotations: BTreeMap<String, String>,
    },
    /// Link the boot interface of the recorded (Allocated, ours) machine to
    /// its subnet in STATIC mode with the requested address, in place of its
    /// AUTO/DHCP link on that subnet, so that it deploys with it. Always
    /// before [`Action::Deploy`] when `spec.staticIP` is set.
    LinkStaticIp(StaticIpRequest),
    /// Remove the STATIC link holding the address from a machine we released
    /// (MAAS keeps STATIC links across releases), freeing the address.
    UnlinkStaticIp(StaticIpRequest),
    /// Deploy the recorded machine.
    Deploy(DeployRequest),
    /// Nothing to do but look again later (see `requeue_after`).
    Observe,
    /// `op=power_on` (MAAS confirmed `off` for this Deployed machine).
    PowerOn {
        /// The machine.
        system_id: String,
    },
    /// Set `spec.providerID` (if empty), then `status.initialization.provisioned`,
    /// `status.ready`, `status.addresses`, `status.failureDomain`.
    MarkProvisioned(Provisioned),
    /// Release a machine.
    Release(ReleaseRequest),
    /// Clear `spec.systemID` (its machine has been released and is no longer ours).
    ForgetSystemId {
        /// The machine being forgotten.
        system_id: String,
    },
    /// Terminal failure; nothing more will be done until deletion.
    Fail {
        /// A reason from [`crate::reasons`].
        reason: String,
        /// What happened and what to fix.
        message: String,
    },
    /// Remove our finalizer: nothing in MAAS is ours any more.
    RemoveFinalizer,
}

impl Action {
    /// Executing it sends a request to MAAS that changes something there
    /// (a read-only observation does not count). The controller makes sure
    /// such an action is decided on the latest version of the object (a
    /// stale cache would repeat an action whose failure was already
    /// recorded, back-off included).
    #[must_use]
    pub fn calls_maas(&self) -> bool {
        matches!(
            self,
            Action::Allocate(_)
                | Action::Annotate { .. }
                | Action::LinkStaticIp(_)
                | Action::UnlinkStaticIp(_)
                | Action::Deploy(_)
                | Action::PowerOn { .. }
                | Action::Release(_)
        )
    }
}

/// Mirror of the held machine for `status` (`machineState`, `powerState`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineReport {
    /// `system_id`.
    pub system_id: String,
    /// `status.machineState` (MAAS `status_name`).
    pub machine_state: String,
    /// `status.powerState`.
    pub power_state: String,
    /// `status.hostname`.
    pub hostname: String,
    /// `status.deployedInMemory`.
    pub deployed_in_memory: Option<bool>,
    /// MAAS zone.
    pub zone: String,
    /// Addresses (empty unless Deployed).
    pub addresses: Vec<Address>,
}

/// The lifecycle's verdict for one reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The one thing to do.
    pub action: Action,
    /// Persist this (status), with `conditions`, BEFORE executing `action`
    /// (spec patches included): every action is safe to repeat, and the
    /// lifecycle re-issues one whose effect did not land.
    pub progress: Progress,
    /// Conditions to set (others untouched); see [`crate::apply_conditions`].
    pub conditions: Vec<ConditionUpdate>,
    /// The machine we hold, as MAAS shows it; `None` when we hold none
    /// (clear the mirrored status fields).
    pub report: Option<MachineReport>,
    /// Look again after this long even without a watch event; `None`: only
    /// on a watch event. `Some(ZERO)`: right after executing `action`.
    pub requeue_after: Option<Duration>,
}

/// No MAAS call now (MAAS could not be observed): persist `progress` and
/// `conditions` (see [`crate::apply_conditions`]), keep the mirrored MAAS
/// fields of the status as they are, look again after `requeue_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Persist this.
    pub progress: Progress,
    /// Conditions to set (others untouched).
    pub conditions: Vec<ConditionUpdate>,
    /// When to look again.
    pub requeue_after: Duration,
}
