//! Inputs: what the controller observed, plus what it persisted.

use std::time::Duration;

use crate::maas::{MaasVersion, MaasView};
use crate::time::Timestamp;

/// What a release does to the disks (`spec.release.erase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EraseMode {
    /// No erase (default).
    #[default]
    None,
    /// `erase=true&quick_erase=true`: wipe the start and end of each disk.
    Quick,
    /// `erase=true&secure_erase=true`: the drive's secure erase (MAAS falls
    /// back to a full overwrite when the drive has none).
    Secure,
}

impl EraseMode {
    /// The `op=release` form parameters this mode adds.
    #[must_use]
    pub fn release_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            EraseMode::None => &[],
            EraseMode::Quick => &[("erase", "true"), ("quick_erase", "true")],
            EraseMode::Secure => &[("erase", "true"), ("secure_erase", "true")],
        }
    }
}

/// The MaasMachine spec fields the lifecycle reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineSpecView {
    /// `spec.systemID`: recorded by us, or pinned by the user.
    pub system_id: Option<String>,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
    /// `spec.failureDomain` (used only when the Machine has none).
    pub failure_domain: Option<String>,
    /// `spec.resourcePool` (`None` or empty: any pool).
    pub resource_pool: Option<String>,
    /// `spec.minCPU`.
    pub min_cpu: Option<u32>,
    /// `spec.minMemory` (MiB).
    pub min_memory_mib: Option<u64>,
    /// `spec.minDiskSize` (GB).
    pub min_disk_gb: Option<u64>,
    /// `spec.tags`.
    pub tags: Vec<String>,
    /// `spec.notTags`.
    pub not_tags: Vec<String>,
    /// `spec.architecture` (e.g. `amd64`, `arm64/generic`).
    pub architecture: Option<String>,
    /// `spec.image`.
    pub image: String,
    /// `spec.hweKernel`.
    pub hwe_kernel: Option<String>,
    /// `spec.ephemeral`: deploy in memory.
    pub ephemeral: bool,
    /// `spec.release.erase`.
    pub erase: EraseMode,
    /// `spec.pod`: the VM host (MAAS `pod`) to allocate on.
    pub pod: Option<String>,
    /// `spec.notPods`.
    pub not_pods: Vec<String>,
    /// `spec.podType`: `lxd` or `virsh`.
    pub pod_type: Option<String>,
    /// `spec.notPodTypes`.
    pub not_pod_types: Vec<String>,
    /// `spec.staticIP`.
    pub static_ip: Option<StaticIpSpec>,
}

impl MachineSpecView {
    /// Any VM host (pod) constraint is set.
    #[must_use]
    pub fn has_pod_constraints(&self) -> bool {
        self.pod.is_some()
            || self.pod_type.is_some()
            || !self.not_pods.is_empty()
            || !self.not_pod_types.is_empty()
    }
}

/// `spec.staticIP`: a fixed address for the boot interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticIpSpec {
    /// The address.
    pub address: String,
    /// The MAAS subnet (id or CIDR); `None`: the subnet containing the address.
    pub subnet: Option<String>,
}

/// A terminal failure: the MaasMachine will not be provisioned. Persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalFailure {
    /// A reason from [`crate::reasons`].
    pub reason: String,
    /// What happened and what to fix.
    pub message: String,
}

/// A release we asked MAAS for, kept until MAAS confirms it (the machine is
/// Ready/New, gone, or someone else's). After `op=release` the machine no
/// longer carries our marker, so this record is the only proof that a failed
/// release is ours to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// The machine.
    pub system_id: String,
    /// When we first asked.
    pub since: Timestamp,
}

/// What the controller persists between reconciles for the lifecycle
/// (MaasMachine `status.lifecycle`). Write [`crate::Decision::progress`]
/// BEFORE executing [`crate::Decision::action`].
///
/// Losing it (e.g. `clusterctl move` does not restore status) is safe:
/// machines are found again by the owner marker and `spec.systemID`; retry
/// counters restart, and a recorded `spec.systemID` is then treated as pinned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// The `spec.systemID` WE wrote (adopted). When `spec.systemID` is set and
    /// differs from this, the user pinned it.
    pub recorded_system_id: Option<String>,
    /// Failed deploy attempts so far (failed, timed out, unusable machine).
    pub deploy_failures: u32,
    /// Why the last attempt failed.
    pub last_deploy_failure: Option<String>,
    /// When the current deploy was sent.
    pub deploy_started_at: Option<Timestamp>,
    /// When we last asked MAAS to power the machine on.
    pub power_on_requested_at: Option<Timestamp>,
    /// Consecutive allocation failures (for capacity back-off).
    pub allocate_failures: u32,
    /// When we last sent an allocation whose result we have not seen yet.
    /// An allocation whose response was lost may still land in MAAS; until
    /// [`LifecycleConfig::allocation_settle_time`] has passed we neither
    /// allocate again nor let a deletion finish.
    pub allocation_requested_at: Option<Timestamp>,
    /// Machines that failed us; passed to allocation to go elsewhere.
    pub avoid_system_ids: Vec<String>,
    /// Releases not yet confirmed by MAAS.
    pub releasing: Vec<ReleaseRecord>,
    /// MAAS refused workload annotations for this machine; do not ask again
    /// (ownership then rests on `agent_name` alone).
    pub annotations_rejected_for: Option<String>,
    /// Set once the lifecycle gives up; never cleared.
    pub failure: Option<TerminalFailure>,
    /// No MAAS call before this (a back-off after a failed MAAS call or
    /// observation): see [`crate::backoff_pending`]. A reconcile woken before
    /// it by a watch event that changes nothing the lifecycle reads (our own
    /// status write included) neither observes nor calls MAAS.
    pub next_attempt_at: Option<Timestamp>,
    /// Fingerprint of what the lifecycle read from Kubernetes when it set
    /// [`Progress::next_attempt_at`]; a change (new spec, deletion requested,
    /// bootstrap data, ...) lifts the back-off.
    pub backoff_inputs: Option<String>,
    /// Consecutive failed MAAS attempts (calls or observations) other than
    /// capacity: the back-off doubles with each. Reset once an attempt is
    /// made and not reported as failed.
    pub attempt_failures: u32,
}

/// The MaasMachine, as the lifecycle needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfraMachineView {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation` (copied into conditions' `observedGeneration`).
    pub generation: Option<i64>,
    /// The spec.
    pub spec: MachineSpecView,
    /// `status.initialization.provisioned`.
    pub provisioned: bool,
    /// The `cluster.x-k8s.io/paused` annotation is present on the MaasMachine.
    pub paused: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Persisted lifecycle progress.
    pub progress: Progress,
}

impl InfraMachineView {
    /// The MAAS machines the controller must `GET` and put into
    /// [`MaasView::lookups`]: `spec.systemID` and every unconfirmed release.
    #[must_use]
    pub fn ids_to_look_up(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        if let Some(id) = self.spec.system_id.as_ref().filter(|s| !s.is_empty()) {
            ids.push(id.clone());
        }
        for r in &self.progress.releasing {
            if !ids.contains(&r.system_id) {
                ids.push(r.system_id.clone());
            }
        }
        ids
    }

    /// `spec.systemID` was set by the user rather than recorded by us.
    #[must_use]
    pub fn system_id_pinned(&self) -> bool {
        match self.spec.system_id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => self.progress.recorded_system_id.as_deref() != Some(id),
            None => false,
        }
    }
}

/// The owner CAPI Machine (v1beta2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapiMachineView {
    /// `spec.clusterName`.
    pub cluster_name: String,
    /// `spec.bootstrap.dataSecretName`; `None` until the bootstrap provider is done.
    pub bootstrap_data_secret: Option<String>,
    /// `spec.failureDomain` (takes precedence over the MaasMachine's).
    pub failure_domain: Option<String>,
    /// The Machine has a deletion timestamp: nothing new is allocated or
    /// deployed for it (CAPI deletes the MaasMachine next).
    pub deleting: bool,
}

/// The CAPI Cluster (v1beta2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterView {
    /// `spec.paused == true` (or the Cluster carries the paused annotation).
    pub paused: bool,
    /// `status.initialization.infrastructureProvisioned == true`.
    pub infrastructure_provisioned: bool,
}

/// Everything one reconcile observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    /// The controller's clock.
    pub now: Timestamp,
    /// The MaasMachine.
    pub infra: InfraMachineView,
    /// Its owner Machine; `None` while CAPI has not set the owner reference.
    pub machine: Option<CapiMachineView>,
    /// The Cluster; `None` when not found.
    pub cluster: Option<ClusterView>,
    /// What MAAS showed.
    pub maas: MaasView,
}

/// Tunables. Defaults are documented in `docs/lifecycle.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// How often to look at a deploying machine.
    pub deploy_poll_interval: Duration,
    /// How often to look at a releasing machine.
    pub release_poll_interval: Duration,
    /// How often to look at a healthy, provisioned machine.
    pub steady_interval: Duration,
    /// First back-off after MAAS had no capacity; doubles per failure.
    pub capacity_backoff: Duration,
    /// Back-off ceiling.
    pub capacity_backoff_max: Duration,
    /// A deploy still running after this is treated as failed.
    pub deploy_timeout: Duration,
    /// Deploy retries (on another machine) before failing terminally.
    pub max_deploy_retries: u32,
    /// Wait this long after a power-on before asking again.
    pub power_on_retry_after: Duration,
    /// Minimum machine memory for an in-memory (ephemeral) deploy, MiB.
    pub ephemeral_min_memory_mib: u64,
    /// Minimum MAAS version for an in-memory deploy.
    pub ephemeral_min_maas_version: MaasVersion,
    /// Length bound of [`Progress::avoid_system_ids`].
    pub avoid_list_max: usize,
    /// How long an unanswered allocation may still land in MAAS.
    pub allocation_settle_time: Duration,
    /// The first MAAS version without VM hosts (pods): pod constraints are
    /// rejected from it on.
    pub vm_hosts_removed_in: MaasVersion,
    /// First wait after MAAS could not be read (unreachable, 5xx, refusing
    /// our credentials); doubles per consecutive failure up to
    /// `capacity_backoff_max`.
    pub maas_retry_backoff: Duration,
    /// Consecutive failures (MAAS 5xx, timeouts) of `set_workload_annotations`
    /// on one machine after which the lifecycle goes on without the
    /// annotations (ownership then rests on `agent_name`, as when MAAS
    /// refuses them outright).
    pub max_annotate_failures: u32,
    /// A cached MAAS answer about a machine younger than this is used
    /// without reading MAAS again (`cache.rs`); the controller keeps it above
    /// its poll interval, so that the machines the poller lists are not read
    /// again. Releases never rest on a cached answer.
    pub cache_fresh_for: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            deploy_poll_interval: Duration::from_secs(30),
            release_poll_interval: Duration::from_secs(15),
            steady_interval: Duration::from_secs(600),
            capacity_backoff: Duration::from_secs(60),
            capacity_backoff_max: Duration::from_secs(600),
            deploy_timeout: Duration::from_secs(90 * 60),
            max_deploy_retries: 2,
            power_on_retry_after: Duration::from_secs(120),
            ephemeral_min_memory_mib: 16 * 1024,
            ephemeral_min_maas_version: MaasVersion::new(3, 5, 0),
            avoid_list_max: 8,
            allocation_settle_time: Duration::from_secs(120),
            vm_hosts_removed_in: MaasVersion::new(3, 8, 0),
            maas_retry_backoff: Duration::from_secs(5),
            max_annotate_failures: 3,
            cache_fresh_for: Duration::from_secs(30),
        }
    }
}
