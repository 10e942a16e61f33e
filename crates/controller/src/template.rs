//! The MaasMachineTemplate reconciler: `status.capacity` and `status.nodeInfo`
//! from the template's constraints (for the autoscaler's scale from zero);
//! `memory` is what an allocation really asks for (the in-memory floor applied).

use std::sync::Arc;
use std::time::Instant;

use capi_types::{MaasMachineTemplate, MaasMachineTemplateStatus};
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use machine_lifecycle::MemoryRequest;
use tracing::Instrument;

use crate::context::{Context, key_of};
use crate::error::Error;
use crate::kubeutil::externally_managed;

/// The kind, for logs and metrics.
pub const KIND: &str = "MaasMachineTemplate";

/// Reconciles one MaasMachineTemplate.
pub async fn reconcile(obj: Arc<MaasMachineTemplate>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        kind = KIND,
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
    );
    let key = key_of(obj.as_ref());
    let result = async {
        if externally_managed(&obj.metadata) || obj.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let spec = &obj.spec.template.spec;
        let memory = MemoryRequest::decide(
            spec.min_memory.and_then(|m| u64::try_from(m).ok()),
            spec.ephemeral,
            ctx.config.lifecycle.ephemeral_min_memory_mib,
        );
        let desired = MaasMachineTemplateStatus::from_spec_requesting(spec, memory.min_memory_mib);
        if obj.status.as_ref() != Some(&desired) {
            let api: Api<MaasMachineTemplate> =
                Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
            let mut updated = obj.as_ref().clone();
            updated.status = Some(desired);
            api.replace_status(&obj.name_any(), &PostParams::default(), &updated)
                .await
                .map_err(|e| Error::kube("write MaasMachineTemplate status", e))?;
        }
        Ok(Action::await_change())
    }
    .instrument(span)
    .await;
    ctx.metrics
        .reconciled(KIND, result.is_ok(), start.elapsed());
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    result
}

/// The error policy of the template controller.
pub fn error_policy(obj: Arc<MaasMachineTemplate>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.failed(KIND, &key_of(obj.as_ref()), error)
}
