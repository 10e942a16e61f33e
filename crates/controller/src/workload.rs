//! The workload cluster: `Node.spec.providerID`.
//!
//! Cluster API matches a workload `Node` to its `Machine` by exact
//! `spec.providerID`. MAAS has no cloud controller that sets it and kubelet
//! cannot know `maas:///<zone>/<system-id>`, so once a MaasMachine is
//! provisioned the controller finds its Node in the workload cluster and
//! patches an empty `spec.providerID` (never a different non-empty one).
//!
//! * The workload kubeconfig is the Secret CAPI writes,
//!   `<cluster>-kubeconfig` (key `value`) in the cluster's namespace, read by
//!   name. Clients are cached per cluster and rebuilt when the Secret's
//!   resourceVersion changes. Kubeconfigs that would make the controller run
//!   a program (`exec`, `auth-provider`) or read its own files (paths instead
//!   of inline data) are refused.
//! * The Node is looked up by name: the lower-cased MAAS hostname, then the
//!   lower-cased FQDN, then the short name (up to the first dot).
//! * Never blocks the management reconcile: every workload request has a
//!   short timeout ([`crate::ControllerConfig::workload_timeout`]); a cluster
//!   whose API did not answer is skipped without a request until its back-off
//!   expires; the MaasMachine is requeued with back-off
//!   (`workload_retry` doubling up to `workload_retry_max`).
//! * Reported as the MaasMachine condition [`NODE_PROVIDER_ID_SET`]
//!   (reasons `ProviderIDSet`, `WaitingForNode`, `ProviderIDConflict`,
//!   `WorkloadAPIUnavailable`, `KubeconfigInvalid`), Events on transitions
//!   (`NodeProviderIDSet`, Warnings `NodeProviderIDConflict`,
//!   `WorkloadAPIUnavailable`, `KubeconfigInvalid`) and the metrics
//!   `capmaas_workload_node_syncs_total{result}` and
//!   `capmaas_workload_clients`.

use std::time::{Duration, Instant};

use capi_types::MaasMachine;
use capi_types::lifecycle::{conditions_from_k8s, conditions_to_k8s};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use machine_lifecycle as lc;
use serde_json::json;

use lc::node::{
    self, EmitWhen, EventKind, FailureTally, NodeCheck, NodeConfig, NodeMachine, NodeObservation,
    NodeOutcome, NodePlan, NodeStart,
};

use crate::context::{Context, key_of};
use crate::workload_clients::ClusterEntry;
pub use crate::workload_clients::WorkloadClients;

pub use lc::node::{
    NODE_PROVIDER_ID_SET, REASON_KUBECONFIG_INVALID, REASON_PROVIDER_ID_CONFLICT,
    REASON_PROVIDER_ID_SET, REASON_WAITING_FOR_NODE, REASON_WORKLOAD_API_UNAVAILABLE,
    node_name_candidates,
};
/// The key of the kubeconfig in CAPI's `<cluster>-kubeconfig` Secret.
pub const KUBECONFIG_KEY: &str = "value";

/// The name of CAPI's kubeconfig Secret of `cluster`.
#[must_use]
pub fn kubeconfig_secret_name(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// The earlier of two optional requeues.
#[must_use]
pub fn sooner(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Why a workload step failed. Messages never contain the kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The kubeconfig Secret cannot be used.
    #[error("kubeconfig Secret {secret}: {reason}")]
    Kubeconfig {
        /// The Secret's name.
        secret: String,
        /// What is wrong.
        reason: String,
    },
    /// The workload API did not answer in time or could not be reached.
    #[error("workload API {action}: {reason}")]
    Unavailable {
        /// What was being done.
        action: String,
        /// Why it failed.
        reason: String,
    },
    /// The workload API answered with an error.
    #[error("workload API {action}: {source}")]
    Api {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Refuses kubeconfigs that would run a program or read local files.
pub fn check_kubeconfig(kc: &Kubeconfig) -> Result<(), String> {
    for named in &kc.auth_infos {
        let Some(a) = &named.auth_info else { continue };
        let user = &named.name;
        if a.exec.is_some() {
            return Err(format!("user {user} uses an exec plugin (refused)"));
        }
        if a.auth_provider.is_some() {
            return Err(format!("user {user} uses an auth-provider (refused)"));
        }
        if a.token_file.is_some() || a.client_certificate.is_some() || a.client_key.is_some() {
            return Err(format!(
                "user {user} refers to local files (only inline data is accepted)"
            ));
        }
    }
    for named in &kc.clusters {
        if named
            .cluster
            .as_ref()
            .is_some_and(|c| c.certificate_authority.is_some())
        {
            return Err(format!(
                "cluster {} refers to a local CA file (only inline data is accepted)",
                named.name
            ));
        }
    }
    Ok(())
}

/// A client for `text` with every timeout set to `timeout`.
pub async fn client_from_kubeconfig(text: &str, timeout: Duration) -> Result<Client, String> {
    let kc = Kubeconfig::from_yaml(text).map_err(|e| format!("not a kubeconfig: {e}"))?;
    check_kubeconfig(&kc)?;
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("unusable kubeconfig: {e}"))?;
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))
}

/// The `capmaas_workload_node_syncs_total{result}` label of an outcome.
fn metric(outcome: &NodeOutcome) -> &'static str {
    match outcome {
        NodeOutcome::Set { .. } => "set",
        NodeOutcome::AlreadySet { .. } => "already_set",
        NodeOutcome::NoNode { .. } => "node_not_found",
        NodeOutcome::Conflict { .. } => "conflict",
        NodeOutcome::NoKubeconfig => "no_kubeconfig",
        NodeOutcome::ClusterBackoff { .. } => "backoff",
        NodeOutcome::KubeconfigInvalid { .. } => "kubeconfig_invalid",
        NodeOutcome::Unavailable { .. } => "unavailable",
    }
}

fn invalid(e: &WorkloadError) -> NodeOutcome {
    NodeOutcome::KubeconfigInvalid {
        message: e.to_string(),
    }
}

fn unavailable(e: &WorkloadError) -> NodeOutcome {
    NodeOutcome::Unavailable {
        message: e.to_string(),
    }
}

fn is_unavailable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500,
        _ => true,
    }
}

async fn bounded<T>(
    timeout: Duration,
    action: &str,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, WorkloadError> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(WorkloadError::Unavailable {
            action: action.to_owned(),
            reason: format!("no answer within {timeout:?}"),
        }),
        Ok(Err(e)) if is_unavailable(&e) => Err(WorkloadError::Unavailable {
            action: action.to_owned(),
            reason: e.to_string(),
        }),
        Ok(Err(e)) => Err(WorkloadError::Api {
            action: action.to_owned(),
            source: Box::new(e),
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

/// What the Node sync needs of the MaasMachine (observation only: the
/// machine MAAS showed for the recorded system_id, else nothing).
fn observe_machine(obj: &MaasMachine, cluster: Option<&str>, maas: &lc::MaasView) -> NodeMachine {
    let sid = obj.spec.system_id.clone().unwrap_or_default();
    let view = maas
        .lookups
        .get(&sid)
        .and_then(|l| match l {
            lc::Lookup::Found(v) => Some(v),
            lc::Lookup::NotFound => None,
        })
        .or_else(|| maas.by_marker.iter().find(|v| v.system_id == sid));
    let status = obj.status.as_ref();
    let status_host = status
        .and_then(|s| s.hostname.as_deref())
        .unwrap_or_default();
    NodeMachine {
        deleting: obj.metadata.deletion_timestamp.is_some(),
        provisioned: status
            .and_then(|s| s.initialization.as_ref())
            .and_then(|i| i.provisioned)
            == Some(true),
        provider_id: obj.spec.provider_id.clone().unwrap_or_default(),
        cluster: cluster.unwrap_or_default().to_owned(),
        names: node::host_names(view, status_host),
    }
}

/// After a MaasMachine reconcile: makes sure the workload Node of a
/// provisioned machine carries its providerID, reports it, and returns when
/// to look again (`None`: nothing to wait for). Never fails the reconcile.
///
/// `maas`: what this reconcile read from MAAS (for the FQDN). The decisions
/// are `machine_lifecycle::node`'s; this observes and executes.
pub async fn sync_node(
    ctx: &Context,
    obj: &MaasMachine,
    cluster: Option<&str>,
    maas: &lc::MaasView,
) -> Option<Duration> {
    let key = key_of(obj);
    let machine = observe_machine(obj, cluster, maas);
    let names = match node::start(&machine) {
        NodeStart::Forget => {
            ctx.workload.forget_machine(&key);
            return None;
        }
        NodeStart::Idle => return None,
        NodeStart::Sync { names } => names,
    };
    let cfg = &ctx.config;
    // The whole step is bounded too: a slow Secret read or client build
    // cannot hold the reconcile either.
    let limit = cfg
        .workload_timeout
        .saturating_mul(u32::try_from(names.len() + 2).unwrap_or(4));
    let outcome = match tokio::time::timeout(
        limit,
        find_and_patch(ctx, obj, &machine.cluster, &names, &machine.provider_id),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => unavailable(&WorkloadError::Unavailable {
            action: "sync Node providerID".into(),
            reason: format!("no answer within {limit:?}"),
        }),
    };
    ctx.metrics.workload_sync(metric(&outcome));
    ctx.metrics.workload_clients(ctx.workload.len());
    tracing::debug!(outcome = ?outcome, "workload Node providerID");
    let plan = node::plan(
        &NodeObservation {
            provider_id: machine.provider_id,
            outcome,
            failures: ctx.workload.machine_failures(&key),
        },
        &node_config(ctx),
    );
    execute(ctx, obj, &key, plan).await
}

/// The Node sync's timing from the controller's configuration.
fn node_config(ctx: &Context) -> NodeConfig {
    NodeConfig {
        retry: retry_backoff(ctx),
    }
}

fn retry_backoff(ctx: &Context) -> lc::Backoff {
    lc::Backoff::new(ctx.config.workload_retry, ctx.config.workload_retry_max)
}

/// Executes a [`NodePlan`] in its order: failure tally, condition, Event,
/// requeue.
async fn execute(ctx: &Context, obj: &MaasMachine, key: &str, plan: NodePlan) -> Option<Duration> {
    match plan.failures {
        FailureTally::Reset => ctx.workload.machine_ok(key),
        FailureTally::Increment => ctx.workload.machine_failed(key),
        FailureTally::Keep => {}
    }
    if let Some(update) = plan.condition {
        match write_condition(ctx, obj, update).await {
            Ok(changed) => {
                if let Some(event) = plan.event
                    && (changed || event.when == EmitWhen::Always)
                {
                    let warning = event.kind == EventKind::Warning;
                    ctx.event(obj, warning, event.reason, event.action, event.note)
                        .await;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot write the NodeProviderIDSet condition; retrying");
                return Some(plan.requeue_if_write_fails);
            }
        }
    }
    plan.requeue
}

/// Writes `update` into the MaasMachine's conditions when it changes the
/// condition's status, reason or message; true when it was written.
async fn write_condition(
    ctx: &Context,
    obj: &MaasMachine,
    update: lc::ConditionUpdate,
) -> Result<bool, kube::Error> {
    let mut status = obj.status.clone().unwrap_or_default();
    let current = status
        .conditions
        .iter()
        .find(|c| c.type_ == update.type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
    if current.as_ref().is_some_and(|(s, r, m)| {
        s == update.status.as_str() && r == update.reason && m == &update.message
    }) {
        return Ok(false);
    }
    let now = crate::clock::now();
    status.conditions = conditions_to_k8s(&lc::apply_conditions(
        &conditions_from_k8s(&status.conditions),
        &[update],
        now,
        obj.metadata.generation,
    ));
    let mut updated = obj.clone();
    updated.status = Some(status);
    let api: Api<MaasMachine> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    api.replace_status(&obj.name_any(), &PostParams::default(), &updated)
        .await?;
    Ok(true)
}

/// The cached client of `ns/cluster`, rebuilt when the Secret changed.
async fn client_for(ctx: &Context, ns: &str, cluster: &str) -> Result<Client, NodeOutcome> {
    let key = format!("{ns}/{cluster}");
    let name = kubeconfig_secret_name(cluster);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = match secrets.get_opt(&name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            ctx.workload.forget(&key);
            return Err(NodeOutcome::NoKubeconfig);
        }
        Err(e) => {
            return Err(invalid(&WorkloadError::Kubeconfig {
                secret: name,
                reason: format!("cannot read it: {e}"),
            }));
        }
    };
    let version = secret.resource_version().unwrap_or_default();
    {
        let clusters = ctx.workload.clusters.lock();
        if let Some(entry) = clusters.get(&key)
            && entry.secret_version == version
        {
            if let Some(until) = entry.down_until {
                let now = Instant::now();
                if until > now {
                    return Err(NodeOutcome::ClusterBackoff { wait: until - now });
                }
            }
            return entry.client.clone().map_err(|reason| {
                invalid(&WorkloadError::Kubeconfig {
                    secret: name,
                    reason,
                })
            });
        }
    }
    // New or changed Secret: (re)build.
    let text = secret
        .data
        .as_ref()
        .and_then(|d| d.get(KUBECONFIG_KEY))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let built = match text {
        None => Err(format!("no `{KUBECONFIG_KEY}` key")),
        Some(t) => client_from_kubeconfig(&t, ctx.config.workload_timeout).await,
    };
    tracing::info!(cluster, secret = %name, usable = built.is_ok(), "workload client (re)built");
    ctx.workload.clusters.lock().insert(
        key,
        ClusterEntry {
            secret_version: version,
            client: built.clone(),
            down_until: None,
            failures: 0,
        },
    );
    built.map_err(|reason| {
        invalid(&WorkloadError::Kubeconfig {
            secret: name,
            reason,
        })
    })
}

/// Records the answer of cluster `key`'s API: a failure starts or extends
/// its back-off, anything else ends it.
fn cluster_answered(ctx: &Context, key: &str, ok: bool) {
    let retry = retry_backoff(ctx);
    let mut clusters = ctx.workload.clusters.lock();
    if let Some(e) = clusters.get_mut(key) {
        if ok {
            e.failures = 0;
            e.down_until = None;
        } else {
            e.failures = e.failures.saturating_add(1);
            let wait = retry.after(e.failures);
            e.down_until = Some(Instant::now() + wait);
        }
    }
}

async fn find_and_patch(
    ctx: &Context,
    obj: &MaasMachine,
    cluster: &str,
    names: &[String],
    provider_id: &str,
) -> NodeOutcome {
    let ns = obj.namespace().unwrap_or_default();
    let client = match client_for(ctx, &ns, cluster).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let key = format!("{ns}/{cluster}");
    let timeout = ctx.config.workload_timeout;
    let nodes: Api<Node> = Api::all(client);
    let mut found = None;
    for name in names {
        match bounded(timeout, "read Node", nodes.get_opt(name)).await {
            Ok(Some(n)) => {
                found = Some(n);
                break;
            }
            Ok(None) => {}
            Err(e) => {
                cluster_answered(ctx, &key, !matches!(e, WorkloadError::Unavailable { .. }));
                return unavailable(&e);
            }
        }
    }
    cluster_answered(ctx, &key, true);
    let Some(node) = found else {
        return NodeOutcome::NoNode {
            tried: names.to_vec(),
        };
    };
    let node_name = node.name_any();
    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    match node::check_node(&current, provider_id) {
        NodeCheck::AlreadySet => return NodeOutcome::AlreadySet { node: node_name },
        NodeCheck::Conflict { found } => {
            return NodeOutcome::Conflict {
                node: node_name,
                found,
            };
        }
        NodeCheck::Patch => {}
    }
    // Guarded by resourceVersion: a providerID written meanwhile is not overwritten.
    let patch = json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "spec": {"providerID": provider_id},
    });
    match bounded(
        timeout,
        "patch Node providerID",
        nodes.patch(&node_name, &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await
    {
        Ok(_) => {
            tracing::info!(node = %node_name, provider_id, "set the workload Node's providerID");
            NodeOutcome::Set { node: node_name }
        }
        Err(e) => {
            if matches!(e, WorkloadError::Unavailable { .. }) {
                cluster_answered(ctx, &key, false);
            }
            unavailable(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_name_follows_capi() {
        assert_eq!(kubeconfig_secret_name("c1"), "c1-kubeconfig");
    }

    const INLINE: &str = r"
apiVersion: v1
kind: Config
clusters:
- name: w
  cluster: {server: 'https://127.0.0.1:1', certificate-authority-data: 'AAAA'}
users:
- name: u
  user: {token: 'secret-token-value'}
contexts:
- name: c
  context: {cluster: w, user: u}
current-context: c
";

    #[test]
    fn kubeconfigs_that_run_programs_or_read_files_are_refused() {
        let ok = Kubeconfig::from_yaml(INLINE).unwrap();
        assert!(check_kubeconfig(&ok).is_ok());
        let exec = INLINE.replace(
            "{token: 'secret-token-value'}",
            "{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ['-c', 'id']}}",
        );
        let err = check_kubeconfig(&Kubeconfig::from_yaml(&exec).unwrap()).unwrap_err();
        assert!(err.contains("exec"), "{err}");
        let file = INLINE.replace(
            "{token: 'secret-token-value'}",
            "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}",
        );
        let err = check_kubeconfig(&Kubeconfig::from_yaml(&file).unwrap()).unwrap_err();
        assert!(err.contains("local files"), "{err}");
        let ca = INLINE.replace(
            "certificate-authority-data: 'AAAA'",
            "certificate-authority: /etc/ca.pem",
        );
        let err = check_kubeconfig(&Kubeconfig::from_yaml(&ca).unwrap()).unwrap_err();
        assert!(err.contains("CA file"), "{err}");
    }

    #[tokio::test]
    async fn errors_never_show_the_kubeconfig() {
        let err = client_from_kubeconfig("{not: [a kubeconfig", Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert!(err.starts_with("not a kubeconfig"), "{err}");
        let err = client_from_kubeconfig(
            &INLINE.replace("{token: 'secret-token-value'}", "{tokenFile: /tmp/t}"),
            Duration::from_secs(1),
        )
        .await
        .err()
        .unwrap();
        assert!(!err.contains("secret-token-value"), "{err}");
    }

    #[tokio::test]
    async fn an_unanswering_api_fails_within_the_timeout() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let text = INLINE
            .replace("https://127.0.0.1:1", &format!("http://{addr}"))
            .replace(", certificate-authority-data: 'AAAA'", "");
        let client = client_from_kubeconfig(&text, Duration::from_millis(300))
            .await
            .unwrap();
        let nodes: Api<Node> = Api::all(client);
        let start = Instant::now();
        let err = bounded(Duration::from_millis(300), "read Node", nodes.get_opt("n"))
            .await
            .unwrap_err();
        assert!(matches!(err, WorkloadError::Unavailable { .. }), "{err}");
        assert!(
            // Only catches a hang: the 300 ms bound itself is the timer's job.
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        hold.abort();
    }
}
