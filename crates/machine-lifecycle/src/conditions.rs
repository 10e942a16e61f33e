//! The conditions the lifecycle derives, and a merge helper that keeps
//! `lastTransitionTime` stable.

use crate::time::Timestamp;

/// Condition type `Ready`: the summary CAPI mirrors into the Machine's
/// `InfrastructureReady`. True once the machine is deployed and reported
/// provisioned; False while deleting.
pub const READY: &str = "Ready";
/// Condition type `Paused` (CAPI v1beta2 contract).
pub const PAUSED: &str = "Paused";
/// Condition type `MachineDeployed`: where the MAAS machine is in its life.
pub const MACHINE_DEPLOYED: &str = "MachineDeployed";

/// Condition reasons. Each is documented in `docs/lifecycle.md`.
pub mod reasons {
    /// `Paused`: the Cluster or this object is paused.
    pub const PAUSED: &str = "Paused";
    /// `Paused` False.
    pub const NOT_PAUSED: &str = "NotPaused";
    /// Ready: True.
    pub const READY: &str = "Ready";
    /// No owner Machine yet (CAPI sets the owner reference).
    pub const WAITING_FOR_OWNER: &str = "WaitingForOwnerMachine";
    /// The Cluster object cannot be found yet.
    pub const WAITING_FOR_CLUSTER: &str = "WaitingForCluster";
    /// `Cluster.status.initialization.infrastructureProvisioned` not yet true.
    pub const WAITING_FOR_CLUSTER_INFRASTRUCTURE: &str = "WaitingForClusterInfrastructure";
    /// `Machine.spec.bootstrap.dataSecretName` not yet set.
    pub const WAITING_FOR_BOOTSTRAP_DATA: &str = "WaitingForBootstrapData";
    /// MAAS had no machine matching the constraints (allocate 409), or the
    /// pinned machine is not available.
    pub const WAITING_FOR_CAPACITY: &str = "WaitingForCapacity";
    /// MAAS's version could not be read; needed to decide on in-memory deploys.
    pub const WAITING_FOR_MAAS_VERSION: &str = "WaitingForMaasVersion";
    /// About to allocate / allocation in flight.
    pub const ALLOCATING: &str = "Allocating";
    /// MAAS rejected the allocation request itself (HTTP 400, e.g. an unknown tag or pool).
    pub const ALLOCATION_REJECTED: &str = "AllocationRejected";
    /// A machine carrying our owner marker was found and is being recorded.
    pub const ADOPTING: &str = "Adopting";
    /// Allocated and waiting for, or sending, the deploy.
    pub const DEPLOYING: &str = "Deploying";
    /// Deployed.
    pub const DEPLOYED: &str = "Deployed";
    /// A deploy failed (MAAS `Failed deployment`, a timeout or a rejection);
    /// the message says whether we retry elsewhere or gave up.
    pub const DEPLOY_FAILED: &str = "DeployFailed";
    /// Releasing a machine (deletion, retry, duplicate or failure).
    pub const RELEASING: &str = "Releasing";
    /// MAAS failed to release a machine of ours; we retry the release.
    pub const RELEASE_FAILED: &str = "ReleaseFailed";
    /// Deployed but MAAS confirms it is off: powering on.
    pub const POWERED_OFF: &str = "PoweredOff";
    /// In-memory deploy requested but MAAS is older than the configured minimum.
    pub const EPHEMERAL_NOT_SUPPORTED: &str = "EphemeralNotSupported";
    /// In-memory deploy requested but the machine has too little memory.
    pub const INSUFFICIENT_MEMORY: &str = "InsufficientMemory";
    /// The recorded machine no longer exists in MAAS.
    pub const MACHINE_NOT_FOUND: &str = "MachineNotFound";
    /// The recorded machine no longer carries our owner marker.
    pub const MACHINE_NOT_OWNED: &str = "MachineNotOwned";
    /// The pinned `spec.systemID` machine is not available to us.
    pub const PINNED_MACHINE_UNAVAILABLE: &str = "PinnedMachineUnavailable";
    /// MAAS shows a status we do not act on (commissioning, testing, rescue
    /// mode, broken, missing, ...): we wait.
    pub const UNEXPECTED_MACHINE_STATE: &str = "UnexpectedMachineState";
    /// The spec cannot be acted on (e.g. a malformed image).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The MaasMachine is being deleted.
    pub const DELETING: &str = "Deleting";
    /// MAAS refused `spec.staticIP` (in use, outside the subnet, in a
    /// dynamic range, not an administrator's key ...): terminal.
    pub const STATIC_IP_REJECTED: &str = "StaticIPRejected";
    /// VM host (pod) constraints on a MAAS without VM hosts (3.8 and newer).
    pub const VM_HOSTS_NOT_SUPPORTED: &str = "VMHostsNotSupported";
    /// MAAS cannot be read: unreachable, failing (5xx) or refusing our
    /// credentials; the message carries MAAS's answer.
    pub const MAAS_UNAVAILABLE: &str = "MaasUnavailable";
    /// MAAS keeps failing `set_workload_annotations` (5xx, timeouts).
    pub const OWNER_ANNOTATIONS_FAILED: &str = "OwnerAnnotationsFailed";
    /// The answer to the owner-marker query (`GET machines/?agent_name=`)
    /// lists machines that cannot carry our marker: the filter was ignored.
    /// Nothing is done until MAAS answers correctly.
    pub const OWNERSHIP_UNPROVEN: &str = "OwnershipUnproven";

    /// Every reason above.
    pub const ALL: &[&str] = &[
        PAUSED,
        NOT_PAUSED,
        READY,
        WAITING_FOR_OWNER,
        WAITING_FOR_CLUSTER,
        WAITING_FOR_CLUSTER_INFRASTRUCTURE,
        WAITING_FOR_BOOTSTRAP_DATA,
        WAITING_FOR_CAPACITY,
        WAITING_FOR_MAAS_VERSION,
        ALLOCATING,
        ALLOCATION_REJECTED,
        ADOPTING,
        DEPLOYING,
        DEPLOYED,
        DEPLOY_FAILED,
        RELEASING,
        RELEASE_FAILED,
        POWERED_OFF,
        EPHEMERAL_NOT_SUPPORTED,
        INSUFFICIENT_MEMORY,
        MACHINE_NOT_FOUND,
        MACHINE_NOT_OWNED,
        PINNED_MACHINE_UNAVAILABLE,
        UNEXPECTED_MACHINE_STATE,
        INVALID_SPEC,
        DELETING,
        STATIC_IP_REJECTED,
        VM_HOSTS_NOT_SUPPORTED,
        MAAS_UNAVAILABLE,
        OWNER_ANNOTATIONS_FAILED,
        OWNERSHIP_UNPROVEN,
    ];

    /// The constant equal to `reason` (for reasons read back from status);
    /// [`DEPLOY_FAILED`] for anything unknown.
    #[must_use]
    pub fn canonical(reason: &str) -> &'static str {
        ALL.iter()
            .copied()
            .find(|r| *r == reason)
            .unwrap_or(DEPLOY_FAILED)
    }
}

/// `True` / `False` / `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// `True`
    True,
    /// `False`
    False,
    /// `Unknown`
    Unknown,
}

impl ConditionStatus {
    /// The Kubernetes spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// Parses the Kubernetes spelling; anything else is `Unknown`.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text {
            "True" => ConditionStatus::True,
            "False" => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        }
    }
}

/// A condition the lifecycle wants set. Types not listed are left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// Condition type ([`READY`], [`PAUSED`], [`MACHINE_DEPLOYED`]).
    pub type_: &'static str,
    /// Its status.
    pub status: ConditionStatus,
    /// A CamelCase reason from [`reasons`].
    pub reason: &'static str,
    /// A human message (may be empty); never contains secrets.
    pub message: String,
}

impl ConditionUpdate {
    /// Shorthand.
    #[must_use]
    pub fn new(
        type_: &'static str,
        status: ConditionStatus,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// A stored condition (metav1.Condition shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `type`
    pub type_: String,
    /// `status`
    pub status: ConditionStatus,
    /// `reason`
    pub reason: String,
    /// `message`
    pub message: String,
    /// `lastTransitionTime`
    pub last_transition_time: Timestamp,
    /// `observedGeneration`
    pub observed_generation: Option<i64>,
}

/// Applies `updates` to `existing`: a condition whose status changes gets
/// `now` as its transition time; one whose status is unchanged keeps its time
/// (reason and message are refreshed). Other conditions are kept as they are.
/// Output is sorted by type, so it is stable.
#[must_use]
pub fn apply_conditions(
    existing: &[Condition],
    updates: &[ConditionUpdate],
    now: Timestamp,
    generation: Option<i64>,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing.to_vec();
    for update in updates {
        match out.iter_mut().find(|c| c.type_ == update.type_) {
            Some(current) => {
                if current.status != update.status {
                    current.last_transition_time = now;
                }
                current.status = update.status;
                current.reason = update.reason.to_owned();
                current.message.clone_from(&update.message);
                current.observed_generation = generation;
            }
            None => out.push(Condition {
                type_: update.type_.to_owned(),
                status: update.status,
                reason: update.reason.to_owned(),
                message: update.message.clone(),
                last_transition_time: now,
                observed_generation: generation,
            }),
        }
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let t0 = Timestamp(100);
        let first = apply_conditions(
            &[],
            &[ConditionUpdate::new(
                READY,
                ConditionStatus::False,
                reasons::DEPLOYING,
                "a",
            )],
            t0,
            Some(1),
        );
        assert_eq!(first[0].last_transition_time, t0);
        let second = apply_conditions(
            &first,
            &[ConditionUpdate::new(
                READY,
                ConditionStatus::False,
                reasons::WAITING_FOR_CAPACITY,
                "b",
            )],
            Timestamp(200),
            Some(2),
        );
        assert_eq!(second[0].last_transition_time, t0);
        assert_eq!(second[0].reason, reasons::WAITING_FOR_CAPACITY);
        assert_eq!(second[0].message, "b");
        assert_eq!(second[0].observed_generation, Some(2));
        let third = apply_conditions(
            &second,
            &[ConditionUpdate::new(
                READY,
                ConditionStatus::True,
                reasons::READY,
                "",
            )],
            Timestamp(300),
            Some(2),
        );
        assert_eq!(third[0].last_transition_time, Timestamp(300));
    }

    #[test]
    fn untouched_conditions_are_kept_and_output_is_sorted() {
        let existing = apply_conditions(
            &[],
            &[ConditionUpdate::new(
                READY,
                ConditionStatus::True,
                reasons::READY,
                "",
            )],
            Timestamp(1),
            None,
        );
        let out = apply_conditions(
            &existing,
            &[ConditionUpdate::new(
                PAUSED,
                ConditionStatus::True,
                reasons::PAUSED,
                "",
            )],
            Timestamp(2),
            None,
        );
        let types: Vec<&str> = out.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec![PAUSED, READY]);
        assert_eq!(out[1].last_transition_time, Timestamp(1));
    }

    #[test]
    fn status_spelling() {
        for s in [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ] {
            assert_eq!(ConditionStatus::parse(s.as_str()), s);
        }
        assert_eq!(ConditionStatus::parse("maybe"), ConditionStatus::Unknown);
    }
}
