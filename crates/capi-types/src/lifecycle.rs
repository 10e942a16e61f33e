//! Conversions between these Kubernetes types and the pure `machine-lifecycle`
//! crate, so the controller's glue is: build an [`Observation`] with
//! [`infra_view`], [`capi_machine_view`], [`cluster_view`]; call
//! `machine_lifecycle::decide`; write [`apply_decision_to_status`] (status)
//! and [`spec_patch`] (spec); execute the action.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff;
use machine_lifecycle as lc;
use serde_json::{Value, json};

use crate::capi::{Cluster, Machine};
use crate::common::{Condition, Initialization, MachineAddress, MachineAddressType};
use crate::constants::PAUSED_ANNOTATION;
use crate::maasmachine::{
    EraseMode, LifecycleFailure, LifecycleStatus, MaasMachine, MaasMachineSpec, MaasMachineStatus,
    PendingRelease,
};

/// Kubernetes time → lifecycle time (whole seconds).
#[must_use]
pub fn to_timestamp(time: &Time) -> lc::Timestamp {
    lc::Timestamp(time.0.as_second())
}

/// Lifecycle time → Kubernetes time (the epoch if out of range).
#[must_use]
pub fn to_time(ts: lc::Timestamp) -> Time {
    Time(jiff::Timestamp::from_second(ts.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

impl From<EraseMode> for lc::EraseMode {
    fn from(mode: EraseMode) -> Self {
        match mode {
            EraseMode::None => lc::EraseMode::None,
            EraseMode::Quick => lc::EraseMode::Quick,
            EraseMode::Secure => lc::EraseMode::Secure,
        }
    }
}

fn non_negative_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn non_negative_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn saturating_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The spec as the lifecycle reads it.
#[must_use]
pub fn machine_spec_view(spec: &MaasMachineSpec) -> lc::MachineSpecView {
    lc::MachineSpecView {
        system_id: spec.system_id.clone().filter(|s| !s.is_empty()),
        provider_id: spec.provider_id.clone().filter(|s| !s.is_empty()),
        failure_domain: spec.failure_domain.clone(),
        resource_pool: spec.resource_pool.clone(),
        min_cpu: spec.min_cpu.map(non_negative_u32),
        min_memory_mib: spec.min_memory.map(non_negative_u64),
        min_disk_gb: spec.min_disk_size.map(non_negative_u64),
        tags: spec.tags.clone(),
        not_tags: spec.not_tags.clone(),
        architecture: spec.architecture.clone(),
        image: spec.image.clone(),
        hwe_kernel: spec.hwe_kernel.clone(),
        ephemeral: spec.ephemeral,
        erase: spec
            .release
            .as_ref()
            .and_then(|r| r.erase)
            .unwrap_or_default()
            .into(),
        pod: spec.pod.clone().filter(|s| !s.is_empty()),
        not_pods: spec.not_pods.clone(),
        pod_type: spec.pod_type.clone().filter(|s| !s.is_empty()),
        not_pod_types: spec.not_pod_types.clone(),
        static_ip: spec.static_ip.as_ref().map(|s| lc::StaticIpSpec {
            address: s.address.trim().to_owned(),
            subnet: s.subnet.clone().filter(|v| !v.is_empty()),
        }),
    }
}

/// `status.lifecycle` → lifecycle progress (default when absent).
#[must_use]
pub fn progress_from_status(status: Option<&LifecycleStatus>) -> lc::Progress {
    let Some(s) = status else {
        return lc::Progress::default();
    };
    lc::Progress {
        recorded_system_id: s.recorded_system_id.clone(),
        deploy_failures: non_negative_u32(s.deploy_failures),
        last_deploy_failure: s.last_deploy_failure.clone(),
        deploy_started_at: s.deploy_started_at.as_ref().map(to_timestamp),
        power_on_requested_at: s.power_on_requested_at.as_ref().map(to_timestamp),
        allocate_failures: non_negative_u32(s.allocate_failures),
        allocation_requested_at: s.allocation_requested_at.as_ref().map(to_timestamp),
        avoid_system_ids: s.avoid_system_ids.clone(),
        releasing: s
            .releasing
            .iter()
            .map(|r| lc::ReleaseRecord {
                system_id: r.system_id.clone(),
                since: to_timestamp(&r.since),
            })
            .collect(),
        annotations_rejected_for: s.annotations_rejected_for.clone(),
        failure: s.failure.as_ref().map(|f| lc::TerminalFailure {
            reason: f.reason.clone(),
            message: f.message.clone(),
        }),
        next_attempt_at: s.next_attempt_at.as_ref().map(to_timestamp),
        backoff_inputs: s.backoff_inputs.clone(),
        attempt_failures: non_negative_u32(s.attempt_failures),
    }
}

/// Lifecycle progress → `status.lifecycle` (`None` when there is nothing to keep).
#[must_use]
pub fn status_from_progress(p: &lc::Progress) -> Option<LifecycleStatus> {
    if *p == lc::Progress::default() {
        return None;
    }
    Some(LifecycleStatus {
        recorded_system_id: p.recorded_system_id.clone(),
        deploy_failures: saturating_i32(p.deploy_failures),
        last_deploy_failure: p.last_deploy_failure.clone(),
        deploy_started_at: p.deploy_started_at.map(to_time),
        power_on_requested_at: p.power_on_requested_at.map(to_time),
        allocate_failures: saturating_i32(p.allocate_failures),
        allocation_requested_at: p.allocation_requested_at.map(to_time),
        avoid_system_ids: p.avoid_system_ids.clone(),
        releasing: p
            .releasing
            .iter()
            .map(|r| PendingRelease {
                system_id: r.system_id.clone(),
                since: to_time(r.since),
            })
            .collect(),
        annotations_rejected_for: p.annotations_rejected_for.clone(),
        failure: p.failure.as_ref().map(|f| LifecycleFailure {
            reason: f.reason.clone(),
            message: f.message.clone(),
        }),
        next_attempt_at: p.next_attempt_at.map(to_time),
        backoff_inputs: p.backoff_inputs.clone(),
        attempt_failures: saturating_i32(p.attempt_failures),
    })
}

fn has_paused_annotation(meta: &kube::api::ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(PAUSED_ANNOTATION))
}

/// The MaasMachine as the lifecycle reads it.
#[must_use]
pub fn infra_view(mm: &MaasMachine) -> lc::InfraMachineView {
    let status = mm.status.as_ref();
    let provisioned = status.is_some_and(|s| {
        s.initialization.as_ref().and_then(|i| i.provisioned) == Some(true) || s.ready
    });
    lc::InfraMachineView {
        namespace: mm.metadata.namespace.clone().unwrap_or_default(),
        name: mm.metadata.name.clone().unwrap_or_default(),
        uid: mm.metadata.uid.clone().unwrap_or_default(),
        generation: mm.metadata.generation,
        spec: machine_spec_view(&mm.spec),
        provisioned,
        paused: has_paused_annotation(&mm.metadata),
        deleting: mm.metadata.deletion_timestamp.is_some(),
        progress: progress_from_status(status.and_then(|s| s.lifecycle.as_ref())),
    }
}

/// The owner Machine as the lifecycle reads it.
#[must_use]
pub fn capi_machine_view(m: &Machine) -> lc::CapiMachineView {
    lc::CapiMachineView {
        cluster_name: m.spec.cluster_name.clone(),
        bootstrap_data_secret: m.bootstrap_data_secret().map(str::to_owned),
        failure_domain: m.spec.failure_domain.clone().filter(|f| !f.is_empty()),
        deleting: m.metadata.deletion_timestamp.is_some(),
    }
}

/// The Cluster as the lifecycle reads it (paused by `spec.paused` or the annotation).
#[must_use]
pub fn cluster_view(c: &Cluster) -> lc::ClusterView {
    lc::ClusterView {
        paused: c.is_paused() || has_paused_annotation(&c.metadata),
        infrastructure_provisioned: c.infrastructure_provisioned(),
    }
}

/// Kubernetes conditions → lifecycle conditions.
#[must_use]
pub fn conditions_from_k8s(conditions: &[Condition]) -> Vec<lc::Condition> {
    conditions
        .iter()
        .map(|c| lc::Condition {
            type_: c.type_.clone(),
            status: lc::ConditionStatus::parse(&c.status),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: to_timestamp(&c.last_transition_time),
            observed_generation: c.observed_generation,
        })
        .collect()
}

/// Lifecycle conditions → Kubernetes conditions.
#[must_use]
pub fn conditions_to_k8s(conditions: &[lc::Condition]) -> Vec<Condition> {
    conditions
        .iter()
        .map(|c| Condition {
            type_: c.type_.clone(),
            status: c.status.as_str().to_owned(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: to_time(c.last_transition_time),
            observed_generation: c.observed_generation,
        })
        .collect()
}

/// Lifecycle addresses → CAPI addresses.
#[must_use]
pub fn addresses(addrs: &[lc::Address]) -> Vec<MachineAddress> {
    addrs
        .iter()
        .map(|a| MachineAddress {
            type_: match a.kind {
                lc::AddressType::Hostname => MachineAddressType::Hostname,
                lc::AddressType::ExternalIp => MachineAddressType::ExternalIp,
                lc::AddressType::InternalIp => MachineAddressType::InternalIp,
                lc::AddressType::ExternalDns => MachineAddressType::ExternalDns,
                lc::AddressType::InternalDns => MachineAddressType::InternalDns,
            },
            address: a.address.clone(),
        })
        .collect()
}

/// Writes what `decision` says about the status: conditions (keeping transition
/// times), `status.lifecycle`, the mirrored MAAS fields and, for
/// `MarkProvisioned`, `initialization.provisioned`, `ready`, `addresses` and
/// `failureDomain`. Persist the result before executing the action.
pub fn apply_decision_to_status(
    status: &mut MaasMachineStatus,
    decision: &lc::Decision,
    now: lc::Timestamp,
    generation: Option<i64>,
) {
    let current = conditions_from_k8s(&status.conditions);
    status.conditions = conditions_to_k8s(&lc::apply_conditions(
        &current,
        &decision.conditions,
        now,
        generation,
    ));
    status.lifecycle = status_from_progress(&decision.progress);
    match &decision.report {
        Some(r) => {
            status.machine_state = Some(r.machine_state.clone());
            status.power_state = Some(r.power_state.clone());
            status.hostname = Some(r.hostname.clone()).filter(|h| !h.is_empty());
            status.deployed_in_memory = r.deployed_in_memory;
            if !r.addresses.is_empty() {
                status.addresses = addresses(&r.addresses);
            }
            if !r.zone.is_empty() {
                status.failure_domain = Some(r.zone.clone());
            }
        }
        None => {
            status.machine_state = None;
            status.power_state = None;
            status.hostname = None;
            status.deployed_in_memory = None;
            status.addresses.clear();
        }
    }
    if let lc::Action::MarkProvisioned(p) = &decision.action {
        status.initialization = Some(Initialization {
            provisioned: Some(true),
        });
        status.ready = true;
        status.addresses = addresses(&p.addresses);
        status.failure_domain = Some(p.failure_domain.clone()).filter(|z| !z.is_empty());
    }
}

/// Writes a [`lc::Wait`] (MAAS not observed): conditions (keeping
/// transition times) and `status.lifecycle`; the mirrored MAAS fields
/// (`machineState`, `addresses`, ...) stay as they are.
pub fn apply_wait_to_status(
    status: &mut MaasMachineStatus,
    wait: &lc::Wait,
    now: lc::Timestamp,
    generation: Option<i64>,
) {
    let current = conditions_from_k8s(&status.conditions);
    status.conditions = conditions_to_k8s(&lc::apply_conditions(
        &current,
        &wait.conditions,
        now,
        generation,
    ));
    status.lifecycle = status_from_progress(&wait.progress);
}

/// The JSON merge patch of `spec` an action needs, if any: `Adopt` records
/// `systemID`, `ForgetSystemId` clears it, `MarkProvisioned` sets `providerID`
/// when empty. Like every action, execute it after writing the status of
/// the same decision.
#[must_use]
pub fn spec_patch(action: &lc::Action, spec: &MaasMachineSpec) -> Option<Value> {
    match action {
        lc::Action::Adopt { system_id } => Some(json!({"spec": {"systemID": system_id}})),
        lc::Action::ForgetSystemId { .. } => Some(json!({"spec": {"systemID": null}})),
        lc::Action::MarkProvisioned(p) if spec.provider_id.as_deref().is_none_or(str::is_empty) => {
            Some(json!({"spec": {"providerID": p.provider_id}}))
        }
        _ => None,
    }
}
