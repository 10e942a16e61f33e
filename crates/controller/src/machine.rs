//! The MaasMachine reconciler: observe (Kubernetes + MAAS), `decide`,
//! persist the decision's status, execute its one action.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capi_types::capi::{Cluster, Machine};
use capi_types::constants::{
    BOOTSTRAP_DATA_KEY, BOOTSTRAP_FORMAT_KEY, CLUSTER_NAME_LABEL, MAAS_MACHINE_FINALIZER,
};
use capi_types::lifecycle::{
    apply_decision_to_status, apply_wait_to_status, capi_machine_view, cluster_view, infra_view,
    spec_patch,
};
use capi_types::{MaasCluster, MaasMachine};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::runtime::controller::Action as KubeAction;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use maas_api::{AllocateParams, DeployParams, MachineFilter, ReleaseParams, StorageSpec};
use machine_lifecycle as lc;
use tracing::Instrument;

use crate::context::{Context, key_of};
use crate::error::{Error, lifecycle_error};
use crate::kubeutil::{
    add_finalizer, capi_owner, externally_managed, has_finalizer, patch_guarded, remove_finalizer,
};
use crate::maas::{Fingerprint, MaasHandle, fingerprint};
use crate::machine_cache::fingerprint_lookup;

/// The kind, for logs and metrics.
pub const KIND: &str = "MaasMachine";

/// Condition reason when MAAS cannot be reached or refuses our credentials.
pub const REASON_MAAS_UNAVAILABLE: &str = lc::reasons::MAAS_UNAVAILABLE;

/// The lifecycle clock.
pub use crate::clock::now;

pub use crate::machine_cache::machine_view;

/// Executes a [`lc::ReadPlan`]: the `agent_name` list (views carrying
/// `marker`), the machine reads (a machine the list returned is not read
/// again) and the version. Every answer goes into the endpoint's cache.
pub async fn read_maas(
    maas: &MaasHandle,
    marker: Option<&str>,
    plan: &lc::ReadPlan,
) -> Result<lc::FreshReads, Error> {
    let api = maas.api();
    let cache = maas.cache();
    let mut fresh = lc::FreshReads::default();
    if plan.list_marker
        && let Some(marker) = marker
    {
        let list = api
            .list_machines(&MachineFilter::new().agent_name(marker))
            .await
            .map_err(|e| Error::maas("list machines by owner marker", e))?;
        let views: Vec<lc::MaasMachineView> =
            list.iter().map(|m| machine_view(m, marker)).collect();
        cache.record_marker_list(marker, &views);
        fresh.by_marker = Some(views);
    }
    for id in &plan.read {
        if fresh
            .by_marker
            .as_ref()
            .is_some_and(|l| l.iter().any(|v| &v.system_id == id))
        {
            continue;
        }
        match api.read_machine(id).await {
            Ok(m) => {
                cache.record(&m);
                fresh
                    .lookups
                    .insert(id.clone(), lc::Lookup::Found(machine_view(&m, "")));
            }
            Err(e) if e.is_not_found() => {
                cache.record_gone(id);
                fresh.lookups.insert(id.clone(), lc::Lookup::NotFound);
            }
            Err(e) => return Err(Error::maas(format!("read machine {id}"), e)),
        }
    }
    if plan.version {
        fresh.version = maas.version().await;
    }
    Ok(fresh)
}

/// The poller's fingerprints of every machine in `view`.
fn fingerprints_of(view: &lc::MaasView) -> BTreeMap<String, Fingerprint> {
    let mut out: BTreeMap<String, Fingerprint> = view
        .by_marker
        .iter()
        .map(|m| {
            (
                m.system_id.clone(),
                fingerprint_lookup(&lc::Lookup::Found(m.clone())),
            )
        })
        .collect();
    for (id, l) in &view.lookups {
        out.insert(id.clone(), fingerprint_lookup(l));
    }
    out
}

/// The outcome of executing an action.
#[derive(Debug, Default)]
pub struct Executed {
    /// A machine MAAS returned (new baseline for the poller).
    pub machine: Option<maas_api::Machine>,
    /// The object after spec/finalizer patches.
    pub object: Option<MaasMachine>,
}

/// An action's failure: a MAAS error (fed to `action_failed`) or a local one.
#[derive(Debug)]
pub enum ActionFailure {
    /// The lifecycle decides what follows (back-off included).
    Lifecycle(lc::ActionError),
    /// A Kubernetes failure: the error policy retries.
    Other(Error),
}

fn maas_failure(e: &maas_api::Error) -> ActionFailure {
    ActionFailure::Lifecycle(lifecycle_error(e))
}

/// A failed deploy. MAAS's 409 for a deploy (`Can't deploy a machine that
/// is in the 'Deploying' state`, its NodeStateViolation) says the machine
/// left Allocated since it was observed: typically our own earlier deploy,
/// whose record a manager killed right after sending it never wrote (seen
/// against a real MAAS 3.6.5 after a kill -9: the restarted manager's stale
/// observation deployed again, the 409 was taken as a spec error and the
/// machine released). Not the spec's fault: observe again.
fn deploy_failure(e: &maas_api::Error) -> ActionFailure {
    let mut err = lifecycle_error(e);
    if matches!(e, maas_api::Error::Conflict { .. }) {
        err.class = lc::ErrorClass::Transient;
    }
    ActionFailure::Lifecycle(err)
}

fn static_ip_failure(e: &crate::staticip::StaticIpError) -> ActionFailure {
    ActionFailure::Lifecycle(match e {
        crate::staticip::StaticIpError::Maas(e) => lifecycle_error(e),
        crate::staticip::StaticIpError::Invalid(_) => {
            lc::ActionError::new(e.class(), e.to_string())
        }
    })
}

/// `AllocateRequest` → MAAS allocate parameters.
#[must_use]
pub fn allocate_params(req: &lc::AllocateRequest) -> AllocateParams {
    let mut p = AllocateParams::new().agent_name(req.agent_name.clone());
    p.system_id = req.system_id.clone();
    p.cpu_count = req.min_cpu;
    p.mem = req.min_memory_mib;
    if let Some(gb) = req.min_disk_gb {
        // Exact for any realistic disk size.
        #[allow(clippy::cast_precision_loss)]
        p.storage.push(StorageSpec::new(gb as f64));
    }
    p.tags = req.tags.clone();
    p.not_tags = req.not_tags.clone();
    p.zone = req.zone.clone().filter(|z| !z.is_empty());
    p.pool = req.pool.clone().filter(|z| !z.is_empty());
    if let Some(a) = req.architecture.clone().filter(|a| !a.is_empty()) {
        p.arch.push(a);
    }
    p.pod = req.pod.clone().filter(|v| !v.is_empty());
    p.not_pod = req.not_pods.clone();
    p.pod_type = req.pod_type.clone().filter(|v| !v.is_empty());
    p.not_pod_type = req.not_pod_types.clone();
    p.subnets = req.subnets.clone();
    p.comment = Some(req.comment.clone()).filter(|c| !c.is_empty());
    p
}

/// Allocates; with machines to avoid, first picks a Ready candidate that is
/// not one of them (MAAS's allocate cannot exclude machines) and allocates
/// it by system_id with the same constraints, falling back to a plain
/// allocation when there is none or it was taken meanwhile.
pub async fn allocate(
    maas: &MaasHandle,
    req: &lc::AllocateRequest,
) -> Result<maas_api::Machine, maas_api::Error> {
    let api = maas.api();
    let params = allocate_params(req);
    if req.system_id.is_none() && !req.avoid_system_ids.is_empty() {
        let mut filter = MachineFilter::new().status(maas_api::MachineStatus::Ready);
        filter.not_id = req.avoid_system_ids.clone();
        filter.tags = req.tags.clone();
        filter.not_tags = req.not_tags.clone();
        filter.zone.extend(params.zone.clone());
        filter.pool.extend(params.pool.clone());
        filter.arch = params.arch.clone();
        if let Ok(candidates) = api.list_machines(&filter).await {
            let min_cpu = i64::from(req.min_cpu.unwrap_or(0));
            let min_mem = i64::try_from(req.min_memory_mib.unwrap_or(0)).unwrap_or(i64::MAX);
            let best = candidates
                .iter()
                .filter(|m| m.owner.is_none() && m.cpu_count >= min_cpu && m.memory >= min_mem)
                .min_by_key(|m| (m.cpu_count * 1024 + m.memory, m.system_id.clone()));
            if let Some(best) = best {
                let mut pinned = params.clone();
                pinned.system_id = Some(best.system_id.clone());
                match api.allocate(&pinned).await {
                    Err(e) if e.class() == maas_api::ErrorClass::Capacity => {}
                    other => return other,
                }
            }
        }
    }
    api.allocate(&params).await
}

async fn bootstrap_data(secrets: &Api<Secret>, name: &str) -> Result<Vec<u8>, ActionFailure> {
    let transient = |message: String| {
        ActionFailure::Lifecycle(lc::ActionError::new(lc::ErrorClass::Transient, message))
    };
    let secret = match secrets.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(transient(format!(
                "bootstrap data Secret {name} not found yet"
            )));
        }
        Err(e) => {
            return Err(ActionFailure::Other(Error::kube(
                format!("read Secret {name}"),
                e,
            )));
        }
    };
    let data = secret.data.unwrap_or_default();
    if let Some(format) = data.get(BOOTSTRAP_FORMAT_KEY) {
        let format = String::from_utf8_lossy(&format.0).trim().to_owned();
        if !format.is_empty() && format != "cloud-config" {
            return Err(ActionFailure::Lifecycle(lc::ActionError::new(
                lc::ErrorClass::Permanent,
                format!(
                    "bootstrap data format {format:?} is not supported: MAAS deploys cloud-init \
                     user data (use the cloud-config format)"
                ),
            )));
        }
    }
    match data.get(BOOTSTRAP_DATA_KEY) {
        Some(v) if !v.0.is_empty() => Ok(v.0.clone()),
        _ => Err(transient(format!(
            "bootstrap data Secret {name} has no `{BOOTSTRAP_DATA_KEY}` yet"
        ))),
    }
}

/// Executes one action (MAAS call or Kubernetes patch).
pub async fn execute(
    ctx: &Context,
    maas: &MaasHandle,
    api: &Api<MaasMachine>,
    obj: &MaasMachine,
    action: &lc::Action,
) -> Result<Executed, ActionFailure> {
    let mut out = Executed::default();
    let ns = obj.namespace().unwrap_or_default();
    if let Some(patch) = spec_patch(action, &obj.spec) {
        let updated = patch_guarded(api, obj, patch, "patch MaasMachine spec")
            .await
            .map_err(ActionFailure::Other)?;
        out.object = Some(updated);
    }
    let m = maas.api();
    match action {
        lc::Action::Allocate(req) => {
            let machine = allocate(maas, req).await.map_err(|e| maas_failure(&e))?;
            out.machine = Some(machine);
        }
        lc::Action::Annotate {
            system_id,
            annotations,
        } => {
            let machine = m
                .set_workload_annotations(system_id, annotations)
                .await
                .map_err(|e| maas_failure(&e))?;
            out.machine = Some(machine);
        }
        lc::Action::Deploy(req) => {
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
            let user_data = bootstrap_data(&secrets, &req.bootstrap_data_secret).await?;
            let mut p = DeployParams::new().user_data(user_data);
            p.osystem = Some(req.osystem.clone()).filter(|s| !s.is_empty());
            p.distro_series = Some(req.distro_series.clone()).filter(|s| !s.is_empty());
            p.hwe_kernel = req.hwe_kernel.clone();
            if req.ephemeral {
                p.ephemeral_deploy = Some(true);
            }
            p.comment = Some(req.comment.clone());
            let machine = m
                .deploy(&req.system_id, &p)
                .await
                .map_err(|e| deploy_failure(&e))?;
            out.machine = Some(machine);
        }
        lc::Action::LinkStaticIp(req) => {
            out.machine = Some(
                crate::staticip::link(m, req)
                    .await
                    .map_err(|e| static_ip_failure(&e))?,
            );
        }
        lc::Action::UnlinkStaticIp(req) => {
            out.machine = Some(
                crate::staticip::unlink(m, req)
                    .await
                    .map_err(|e| static_ip_failure(&e))?,
            );
        }
        lc::Action::PowerOn { system_id } => {
            let machine = m
                .power_on(system_id, Some("capmaas: machine reported off".into()))
                .await
                .map_err(|e| maas_failure(&e))?;
            out.machine = Some(machine);
        }
        lc::Action::Release(req) => {
            let mut p = ReleaseParams {
                comment: Some(req.comment.clone()),
                ..ReleaseParams::default()
            };
            for (k, _) in req.erase.release_params() {
                match *k {
                    "erase" => p.erase = true,
                    "quick_erase" => p.quick_erase = true,
                    "secure_erase" => p.secure_erase = true,
                    _ => {}
                }
            }
            let machine = m
                .release(&req.system_id, &p)
                .await
                .map_err(|e| maas_failure(&e))?;
            out.machine = Some(machine);
        }
        lc::Action::RemoveFinalizer => {
            let current = out.object.as_ref().unwrap_or(obj);
            let updated = remove_finalizer(api, current, MAAS_MACHINE_FINALIZER)
                .await
                .map_err(ActionFailure::Other)?;
            out.object = Some(updated);
        }
        lc::Action::Paused
        | lc::Action::WaitForOwnerMachine
        | lc::Action::WaitForCluster
        | lc::Action::WaitForClusterInfrastructure
        | lc::Action::WaitForBootstrapData
        | lc::Action::Adopt { .. }
        | lc::Action::Observe
        | lc::Action::MarkProvisioned(_)
        | lc::Action::ForgetSystemId { .. }
        | lc::Action::Fail { .. } => {}
    }
    Ok(out)
}

/// `MarkProvisioned` writes two halves: `spec.providerID` and the status
/// (`initialization.provisioned`). The spec half lands first, so that no
/// reader (CAPI core, `clusterctl move`, which copies spec without status)
/// ever sees a provisioned MaasMachine without its providerID. A crash in
/// between leaves a providerID without `provisioned`, which the next
/// decision completes. Every other action writes its status first.
async fn spec_before_provisioned(
    api: &Api<MaasMachine>,
    obj: MaasMachine,
    action: &lc::Action,
) -> Result<MaasMachine, Error> {
    if !matches!(action, lc::Action::MarkProvisioned(_)) {
        return Ok(obj);
    }
    match spec_patch(action, &obj.spec) {
        Some(patch) => patch_guarded(api, &obj, patch, "patch MaasMachine spec").await,
        None => Ok(obj),
    }
}

/// Writes `decision` into the status (guarded by resourceVersion). An
/// unchanged status is not written, except before an action that calls
/// MAAS: then the guarded write (a no-op for the apiserver when `obj` is
/// current) proves the decision was made on the latest version, not on a
/// stale cached one that predates a recorded failure and its back-off.
async fn persist(
    api: &Api<MaasMachine>,
    obj: &MaasMachine,
    decision: &lc::Decision,
    now: lc::Timestamp,
) -> Result<MaasMachine, Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    apply_decision_to_status(&mut status, decision, now, obj.metadata.generation);
    if obj.status.as_ref() == Some(&status) && !decision.action.calls_maas() {
        return Ok(obj.clone());
    }
    let mut updated = obj.clone();
    updated.status = Some(status);
    api.replace_status(&obj.name_any(), &PostParams::default(), &updated)
        .await
        .map_err(|e| Error::kube("write MaasMachine status", e))
}

/// Writes a [`lc::Wait`] (MAAS not observed) into the status, keeping the
/// mirrored MAAS fields; skipped when nothing changes.
async fn persist_wait(
    api: &Api<MaasMachine>,
    obj: &MaasMachine,
    wait: &lc::Wait,
    now: lc::Timestamp,
) -> Result<(), Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    apply_wait_to_status(&mut status, wait, now, obj.metadata.generation);
    if obj.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let mut updated = obj.clone();
    updated.status = Some(status);
    api.replace_status(&obj.name_any(), &PostParams::default(), &updated)
        .await
        .map_err(|e| Error::kube("write MaasMachine status", e))?;
    Ok(())
}

/// Sets Ready=False with `reason` when something outside the lifecycle
/// blocks it before MAAS is reached (credentials).
async fn report_blocked(
    api: &Api<MaasMachine>,
    obj: &MaasMachine,
    reason: &'static str,
    message: String,
) -> Result<(), Error> {
    let wait = lc::Wait {
        progress: infra_view(obj).progress,
        conditions: vec![lc::ConditionUpdate::new(
            lc::READY,
            lc::ConditionStatus::False,
            reason,
            message,
        )],
        requeue_after: Duration::ZERO,
    };
    persist_wait(api, obj, &wait, now()).await
}

/// MAAS could not be read: the lifecycle backs off (persisted, so no watch
/// event shortens it) and, once it is permanent or repeats, says why with
/// MAAS's text.
async fn observation_failed(
    ctx: &Context,
    api: &Api<MaasMachine>,
    obj: &MaasMachine,
    maas: &MaasHandle,
    observation: &lc::Observation,
    e: &Error,
) -> Result<KubeAction, Error> {
    let err = match e {
        Error::Maas { source, .. } => lc::ActionError {
            message: format!("MAAS at {}: {e}", maas.endpoint()),
            ..lifecycle_error(source)
        },
        other => lc::ActionError::new(lc::ErrorClass::Transient, other.to_string()),
    };
    ctx.metrics.error(KIND, e.class().as_str());
    let wait = lc::observation_failed(observation, &ctx.config.lifecycle, &err);
    tracing::warn!(error = %e, retry_in_ms = wait.requeue_after.as_millis() as u64, "cannot observe MAAS");
    persist_wait(api, obj, &wait, observation.now).await?;
    Ok(requeue(Some(wait.requeue_after)))
}

fn steady(decision: &lc::Decision) -> bool {
    match &decision.action {
        lc::Action::Paused
        | lc::Action::Fail { .. }
        | lc::Action::RemoveFinalizer
        | lc::Action::MarkProvisioned(_)
        | lc::Action::WaitForOwnerMachine
        | lc::Action::WaitForCluster
        | lc::Action::WaitForClusterInfrastructure
        | lc::Action::WaitForBootstrapData => true,
        lc::Action::Observe => decision
            .conditions
            .iter()
            .any(|c| c.type_ == lc::READY && c.status == lc::ConditionStatus::True),
        _ => false,
    }
}

fn requeue(after: Option<Duration>) -> KubeAction {
    match after {
        Some(d) => KubeAction::requeue(d.max(Duration::from_millis(100))),
        None => KubeAction::await_change(),
    }
}

fn set_watch(
    ctx: &Context,
    obj: &MaasMachine,
    maas: Option<&Arc<MaasHandle>>,
    ids: BTreeMap<String, Fingerprint>,
) {
    let key = key_of(obj);
    let oref = ObjectRef::from_obj(obj);
    let mut watching = ctx.watching.lock();
    if let Some(old) = watching.get(&key)
        && maas.is_none_or(|m| !Arc::ptr_eq(m, old) || ids.is_empty())
    {
        old.poller().unwatch(&oref);
        watching.remove(&key);
    }
    if let Some(m) = maas
        && !ids.is_empty()
    {
        m.poller().watch(oref, ids);
        watching.insert(key, m.clone());
    }
}

fn event_for(
    action: &lc::Action,
    executed: &Executed,
) -> Option<(bool, &'static str, &'static str, String)> {
    let host = |m: &Option<maas_api::Machine>| {
        m.as_ref()
            .map(|m| format!("{} ({})", m.system_id, m.hostname))
            .unwrap_or_default()
    };
    Some(match action {
        lc::Action::Allocate(_) => (
            false,
            "MachineAllocated",
            "Allocate",
            format!("allocated MAAS machine {}", host(&executed.machine)),
        ),
        lc::Action::Adopt { system_id } => (
            false,
            "SystemIDRecorded",
            "Adopt",
            format!("recorded MAAS machine {system_id} in spec.systemID"),
        ),
        lc::Action::Deploy(req) => (
            false,
            "DeployStarted",
            "Deploy",
            format!(
                "deploying {}/{} to {}{}",
                req.osystem,
                req.distro_series,
                req.system_id,
                if req.ephemeral { " in memory" } else { "" }
            ),
        ),
        lc::Action::LinkStaticIp(req) => (
            false,
            "StaticIPLinked",
            "LinkStaticIp",
            format!("linked static IP {} to {}", req.address, req.system_id),
        ),
        lc::Action::UnlinkStaticIp(req) => (
            false,
            "StaticIPUnlinked",
            "UnlinkStaticIp",
            format!(
                "unlinked static IP {} from released machine {}",
                req.address, req.system_id
            ),
        ),
        lc::Action::MarkProvisioned(p) => (
            false,
            "MachineProvisioned",
            "MarkProvisioned",
            format!("provisioned as {}", p.provider_id),
        ),
        lc::Action::PowerOn { system_id } => (
            true,
            "PoweredOff",
            "PowerOn",
            format!("MAAS reports {system_id} off; powering it on"),
        ),
        lc::Action::Release(req) => {
            let (warning, reason) = match &req.reason {
                lc::ReleaseReason::Deleting => (false, "MachineReleasing"),
                lc::ReleaseReason::Duplicate => (true, "DuplicateReleased"),
                lc::ReleaseReason::RetryDeploy { .. } => (true, "DeployFailed"),
                lc::ReleaseReason::Failed => (true, "MachineFailed"),
                lc::ReleaseReason::RetryRelease => (true, "ReleaseRetried"),
            };
            let why = match &req.reason {
                lc::ReleaseReason::RetryDeploy {
                    cause,
                    final_attempt,
                } => format!(
                    ": {cause}{}",
                    if *final_attempt { " (giving up)" } else { "" }
                ),
                _ => String::new(),
            };
            (
                warning,
                reason,
                "Release",
                format!("releasing MAAS machine {}{why}", req.system_id),
            )
        }
        lc::Action::Fail { reason, message } => {
            let _ = reason;
            (true, "ProvisioningFailed", "Fail", message.clone())
        }
        lc::Action::RemoveFinalizer => (
            false,
            "MachineReleased",
            "RemoveFinalizer",
            "every MAAS machine of this MaasMachine is released".to_owned(),
        ),
        _ => return None,
    })
}

/// Reconciles one MaasMachine.
pub async fn reconcile(obj: Arc<MaasMachine>, ctx: Arc<Context>) -> Result<KubeAction, Error> {
    let start = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        kind = KIND,
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        system_id = obj.spec.system_id.as_deref().unwrap_or(""),
    );
    let key = key_of(obj.as_ref());
    let result = reconcile_inner(obj, &ctx).instrument(span).await;
    ctx.metrics
        .reconciled(KIND, result.is_ok(), start.elapsed());
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    result
}

/// The error policy of the MaasMachine controller.
pub fn error_policy(obj: Arc<MaasMachine>, error: &Error, ctx: Arc<Context>) -> KubeAction {
    ctx.failed(KIND, &key_of(obj.as_ref()), error)
}

async fn reconcile_inner(obj: Arc<MaasMachine>, ctx: &Context) -> Result<KubeAction, Error> {
    let obj = obj.as_ref().clone();
    if externally_managed(&obj.metadata) {
        tracing::debug!("externally managed; skipping");
        return Ok(KubeAction::await_change());
    }
    let ns = obj.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let api: Api<MaasMachine> = Api::namespaced(client.clone(), &ns);
    let deleting = obj.metadata.deletion_timestamp.is_some();
    if deleting && !has_finalizer(&obj.metadata, MAAS_MACHINE_FINALIZER) {
        set_watch(ctx, &obj, None, BTreeMap::new());
        ctx.metrics.machine_state(&key_of(&obj), None);
        return Ok(KubeAction::await_change());
    }

    // Kubernetes side: owner Machine, Cluster, MaasCluster.
    let machine = match capi_owner(&obj.metadata, "Machine") {
        Some(o) => Api::<Machine>::namespaced(client.clone(), &ns)
            .get_opt(&o.name)
            .await
            .map_err(|e| Error::kube("read owner Machine", e))?,
        None => None,
    };
    let cluster_name = obj
        .labels()
        .get(CLUSTER_NAME_LABEL)
        .cloned()
        .or_else(|| machine.as_ref().map(|m| m.spec.cluster_name.clone()))
        .filter(|n| !n.is_empty());
    let cluster = match &cluster_name {
        Some(n) => Api::<Cluster>::namespaced(client.clone(), &ns)
            .get_opt(n)
            .await
            .map_err(|e| Error::kube("read Cluster", e))?,
        None => None,
    };
    let now = now();
    let mut observation = lc::Observation {
        now,
        infra: infra_view(&obj),
        machine: machine.as_ref().map(capi_machine_view),
        cluster: cluster.as_ref().map(cluster_view),
        maas: lc::MaasView::default(),
    };
    let cfg = &ctx.config.lifecycle;

    // Paused: nothing else, not even MAAS reads (the mirrored MAAS fields
    // stay as last seen).
    if observation.infra.paused || observation.cluster.is_some_and(|c| c.paused) {
        let decision = lc::decide(&observation, cfg);
        let wait = lc::Wait {
            progress: decision.progress,
            conditions: decision.conditions,
            requeue_after: Duration::ZERO,
        };
        persist_wait(&api, &obj, &wait, now).await?;
        set_watch(ctx, &obj, None, BTreeMap::new());
        return Ok(KubeAction::await_change());
    }

    // A back-off the lifecycle set is running and nothing it reads changed
    // (e.g. woken by our own status write): no MAAS call, nothing to write.
    if let Some(wait) = lc::backoff_pending(&observation) {
        tracing::debug!(wait_ms = wait.as_millis() as u64, "backing off MAAS");
        return Ok(requeue(Some(wait)));
    }

    let obj = if !deleting && !has_finalizer(&obj.metadata, MAAS_MACHINE_FINALIZER) {
        add_finalizer(&api, &obj, MAAS_MACHINE_FINALIZER).await?
    } else {
        obj
    };

    let maas_cluster = match cluster
        .as_ref()
        .and_then(|c| c.spec.infrastructure_ref.as_ref())
        .filter(|r| r.kind == "MaasCluster")
    {
        Some(r) => Api::<MaasCluster>::namespaced(client.clone(), &ns)
            .get_opt(&r.name)
            .await
            .map_err(|e| Error::kube("read MaasCluster", e))?,
        None => None,
    };
    let maas = match ctx.credentials(&ns, maas_cluster.as_ref()).await {
        Ok(creds) => ctx.clients.get(&creds),
        Err(e) => Err(e),
    };
    let maas = match maas {
        Ok(m) => m,
        Err(e @ Error::Credentials(_)) => {
            report_blocked(&api, &obj, REASON_MAAS_UNAVAILABLE, e.to_string()).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };

    // MAAS side: what the endpoint's cache knows, and what the lifecycle
    // says must still be read from MAAS.
    let marker = lc::OwnerMarker::new(&ns, obj.name_any(), obj.uid().unwrap_or_default())
        .ok()
        .map(|m| m.render());
    let cache = maas.cache();
    let memory = cache.memory(marker.as_deref(), &observation.infra.ids_to_look_up());
    let plan = lc::plan_reads(&observation, &memory, cfg);
    ctx.metrics.observation(&plan);
    let mut fresh = match read_maas(&maas, marker.as_deref(), &plan).await {
        Ok(f) => f,
        Err(e) => return observation_failed(ctx, &api, &obj, &maas, &observation, &e).await,
    };
    observation.maas = lc::assemble(&observation.infra, &memory, &fresh);
    let mut decision = lc::decide(&observation, cfg);
    // A release (or an unlink from a released machine) rests on MAAS's own
    // answer in this reconcile, never on the cache alone: read, decide again.
    let mut confirmations = 0;
    while let Some(more) = lc::confirmation_needed(&decision, &observation, &fresh) {
        confirmations += 1;
        if confirmations > 2 {
            tracing::warn!(action = ?decision.action, "cannot confirm the decision from MAAS; not acting");
            return Ok(requeue(Some(ctx.config.poll_interval)));
        }
        ctx.metrics.observation(&more);
        match read_maas(&maas, marker.as_deref(), &more).await {
            Ok(f) => fresh.merge(f),
            Err(e) => return observation_failed(ctx, &api, &obj, &maas, &observation, &e).await,
        }
        observation.maas = lc::assemble(&observation.infra, &memory, &fresh);
        decision = lc::decide(&observation, cfg);
    }
    let mut fingerprints = fingerprints_of(&observation.maas);

    tracing::debug!(action = ?decision.action, "decided");
    let obj = spec_before_provisioned(&api, obj, &decision.action).await?;
    let persisted = persist(&api, &obj, &decision, now).await?;
    let outcome = execute(ctx, &maas, &api, &persisted, &decision.action).await;
    let final_decision = match outcome {
        Ok(executed) => {
            if let Some((warning, reason, action, note)) = event_for(&decision.action, &executed) {
                ctx.event(&persisted, warning, reason, action, note).await;
            }
            if let Some(m) = &executed.machine {
                fingerprints.insert(m.system_id.clone(), fingerprint(m));
                match (&decision.action, &marker) {
                    (lc::Action::Allocate(_), Some(marker)) => cache.record_allocated(marker, m),
                    _ => cache.record(m),
                }
            }
            decision
        }
        Err(ActionFailure::Other(e)) => return Err(e),
        Err(ActionFailure::Lifecycle(err)) => {
            tracing::info!(action = ?decision.action, class = ?err.class, error = %err.message, "action failed");
            if let (lc::Action::Allocate(_), Some(marker)) = (&decision.action, &marker)
                && err.outcome_unknown
            {
                // MAAS may have allocated for us: list by marker until it shows.
                cache.forget_marker(marker);
            }
            let failed = lc::action_failed(&observation, cfg, &decision, &err);
            let reason = failed
                .conditions
                .iter()
                .find(|c| c.type_ == lc::MACHINE_DEPLOYED)
                .map_or("ActionFailed", |c| c.reason);
            ctx.event(
                &persisted,
                true,
                reason,
                "ActionFailed",
                err.message.clone(),
            )
            .await;
            persist(&api, &persisted, &failed, now).await?;
            failed
        }
    };

    // The poller watches in-flight machines; steady ones are re-read on resync.
    if steady(&final_decision) || matches!(final_decision.action, lc::Action::RemoveFinalizer) {
        set_watch(ctx, &obj, None, BTreeMap::new());
    } else {
        set_watch(ctx, &obj, Some(&maas), fingerprints);
    }
    let state = final_decision
        .conditions
        .iter()
        .find(|c| c.type_ == lc::MACHINE_DEPLOYED)
        .map(|c| c.reason);
    if matches!(final_decision.action, lc::Action::RemoveFinalizer) {
        ctx.metrics.machine_state(&key_of(&obj), None);
        if let Some(marker) = &marker {
            cache.forget(marker, &observation.infra.ids_to_look_up());
        }
    } else if let Some(s) = state {
        ctx.metrics.machine_state(&key_of(&obj), Some(s));
    }
    let after = final_decision.requeue_after;
    // The workload Node's providerID (`workload.rs`): bounded, never fails this reconcile.
    let node =
        crate::workload::sync_node(ctx, &persisted, cluster_name.as_deref(), &observation.maas)
            .await;
    Ok(requeue(crate::workload::sooner(after, node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(f: ActionFailure) -> lc::ErrorClass {
        match f {
            ActionFailure::Lifecycle(e) => e.class,
            ActionFailure::Other(e) => panic!("not a lifecycle failure: {e}"),
        }
    }

    #[test]
    fn a_deploy_409_for_a_machine_already_deploying_is_not_a_spec_error() {
        // MAAS 3.6.5's answer to a second deploy (a real region, after a
        // kill -9 of the manager between the deploy and its record).
        let conflict = maas_api::Error::Conflict {
            message: "Can't deploy a machine that is in the 'Deploying' state".into(),
        };
        assert_eq!(class(deploy_failure(&conflict)), lc::ErrorClass::Transient);
        // Elsewhere a 409 stays what maas-api says it is.
        assert_eq!(class(maas_failure(&conflict)), lc::ErrorClass::Permanent);
        // A deploy MAAS refuses for its parameters is still permanent.
        let bad = maas_api::Error::Validation {
            fields: std::collections::BTreeMap::from([(
                "distro_series".to_owned(),
                vec!["'nosuch' is not a valid distro_series.".to_owned()],
            )]),
        };
        assert_eq!(class(deploy_failure(&bad)), lc::ErrorClass::Permanent);
    }
}
