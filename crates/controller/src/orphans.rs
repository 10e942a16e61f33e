//! The orphan sweep: once per `orphan_sweep_period`, for every MAAS endpoint
//! in use, one list of all machines, then the MaasMachines, handed to
//! [`machine_lifecycle::sweep`], which decides what is orphaned and what
//! may be released (`docs/operations.md`, "Orphans").

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use capi_types::MaasMachine;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use maas_api::{MachineFilter, ReleaseParams};
use machine_lifecycle as lc;
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::error::Error;
use crate::machine::{machine_view, now};

/// What the sweep remembers between runs: per endpoint, when each orphan
/// was first seen.
#[derive(Debug, Default)]
pub struct SweepState {
    first_seen: HashMap<String, BTreeMap<String, lc::Timestamp>>,
}

/// What one sweep of one endpoint found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Orphans found.
    pub orphans: usize,
    /// Releases MAAS accepted.
    pub released: usize,
}

/// One sweep of every endpoint in use. Errors of one endpoint are logged
/// and do not stop the others.
pub async fn sweep_once(ctx: &Context, state: &mut SweepState) -> Vec<(String, SweepOutcome)> {
    if let Some(creds) = &ctx.config.default_credentials
        && let Err(e) = ctx.clients.get(creds)
    {
        tracing::warn!(error = %e, "orphan sweep: default MAAS credentials unusable");
    }
    let mut out = Vec::new();
    for handle in ctx.clients.handles() {
        let endpoint = handle.endpoint().to_owned();
        match sweep_endpoint(ctx, &handle, state).await {
            Ok(o) => out.push((endpoint, o)),
            Err(e) => tracing::warn!(endpoint, error = %e, "orphan sweep failed"),
        }
    }
    out
}

async fn sweep_endpoint(
    ctx: &Context,
    handle: &crate::maas::MaasHandle,
    state: &mut SweepState,
) -> Result<SweepOutcome, Error> {
    let endpoint = handle.endpoint().to_owned();
    // MAAS first, then Kubernetes: a MaasMachine created before MAAS
    // answered is in the second list.
    let machines = handle
        .api()
        .list_machines(&MachineFilter::new())
        .await
        .map_err(|e| Error::maas("list machines (orphan sweep)", e))?;
    let api: Api<MaasMachine> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let live: Vec<lc::LiveMaasMachine> = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list MaasMachines (orphan sweep)", e))?
        .items
        .iter()
        .map(|mm| lc::LiveMaasMachine {
            namespace: mm.namespace().unwrap_or_default(),
            name: mm.name_any(),
        })
        .collect();
    let views: Vec<lc::MaasMachineView> = machines.iter().map(|m| machine_view(m, "")).collect();
    let mut policy = ctx.config.orphan_policy.clone();
    policy.namespace.clone_from(&ctx.config.namespace);
    let previous = state.first_seen.remove(&endpoint).unwrap_or_default();
    let plan = lc::sweep(&views, &live, &previous, now(), &policy);
    ctx.metrics.orphaned_machines(&endpoint, plan.orphans.len());
    for o in plan
        .orphans
        .iter()
        .filter(|o| !previous.contains_key(&o.system_id))
    {
        tracing::warn!(
            endpoint,
            system_id = %o.system_id,
            hostname = %o.hostname,
            owner = %o.marker,
            cluster = o.cluster.as_deref().unwrap_or(""),
            release = policy.release,
            "orphaned MAAS machine: its MaasMachine no longer exists"
        );
    }
    let mut released = 0;
    for id in &plan.release {
        let params = ReleaseParams {
            comment: Some("capmaas: orphan (its MaasMachine no longer exists)".into()),
            ..ReleaseParams::default()
        };
        match handle.api().release(id, &params).await {
            Ok(_) => {
                released += 1;
                tracing::warn!(endpoint, system_id = %id, "released orphaned MAAS machine");
            }
            Err(e) => {
                tracing::warn!(endpoint, system_id = %id, error = %crate::error::redact_maas_text(&e.to_string()), "cannot release orphaned MAAS machine")
            }
        }
    }
    let outcome = SweepOutcome {
        orphans: plan.orphans.len(),
        released,
    };
    state.first_seen.insert(endpoint, plan.first_seen);
    Ok(outcome)
}

/// Sweeps every `orphan_sweep_period` (the first right away) until `cancel`.
pub async fn run(ctx: Arc<Context>, cancel: CancellationToken) {
    let period = ctx.config.orphan_sweep_period;
    if period.is_zero() {
        return;
    }
    let mut state = SweepState::default();
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = interval.tick() => { sweep_once(&ctx, &mut state).await; }
        }
    }
}
