//! State shared by the reconcilers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use capi_types::MaasCluster;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use parking_lot::Mutex;

use crate::config::{ControllerConfig, MaasCredentials};
use crate::error::{Error, ErrorClass, backoff};
use crate::kubeutil::credentials_from_secret;
use crate::maas::{MaasClients, MaasHandle};
use crate::metrics::Metrics;
use crate::workload_clients::WorkloadClients;

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Configuration.
    pub config: ControllerConfig,
    /// MAAS clients.
    pub clients: MaasClients,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Workload-cluster clients (Node providerID), cached per cluster.
    pub workload: WorkloadClients,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
    pub(crate) watching: Mutex<HashMap<String, Arc<MaasHandle>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context.
    #[must_use]
    pub fn new(
        client: Client,
        config: ControllerConfig,
        clients: MaasClients,
        metrics: Arc<Metrics>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: config.reporter.clone(),
                instance: config.instance.clone(),
            },
        );
        Self {
            client,
            config,
            clients,
            metrics,
            workload: WorkloadClients::default(),
            recorder,
            failures: Mutex::new(HashMap::new()),
            watching: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes an event about `obj`; failures are logged, never returned.
    pub async fn event<K>(&self, obj: &K, warning: bool, reason: &str, action: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(truncate(&note, 1000)),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "cannot publish event");
        }
    }

    /// The credentials of a MaasCluster (its `credentialsRef`, else the defaults).
    pub async fn credentials(
        &self,
        namespace: &str,
        cluster: Option<&MaasCluster>,
    ) -> Result<MaasCredentials, Error> {
        if let Some(r) = cluster.and_then(|c| c.spec.credentials_ref.as_ref()) {
            let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
            return credentials_from_secret(&secrets, &r.name).await;
        }
        self.config.default_credentials.clone().ok_or_else(|| {
            Error::Credentials(
                "the MaasCluster has no credentialsRef and the controller has no default MAAS \
                 credentials"
                    .into(),
            )
        })
    }

    /// Consecutive failed reconciles of `key` so far.
    #[must_use]
    pub fn failures(&self, key: &str) -> u32 {
        self.failures.lock().get(key).copied().unwrap_or(0)
    }

    /// Forget the error count of `key` (a reconcile succeeded).
    pub fn succeeded(&self, key: &str) {
        self.failures.lock().remove(key);
    }

    /// The requeue after an error of `key`.
    pub fn failed(&self, kind: &str, key: &str, error: &Error) -> Action {
        let class = error.class();
        self.metrics.error(kind, class.as_str());
        let n = {
            let mut f = self.failures.lock();
            let n = f.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let cfg = &self.config;
        let wait = match class {
            ErrorClass::Conflict => Duration::from_millis(200),
            ErrorClass::Transient => backoff(
                cfg.error_backoff,
                cfg.error_backoff_max,
                n,
                error.retry_after(),
            ),
            ErrorClass::Capacity | ErrorClass::Permanent => backoff(
                cfg.error_backoff.saturating_mul(8),
                cfg.error_backoff_max,
                n,
                error.retry_after(),
            ),
        };
        tracing::warn!(kind, object = key, class = class.as_str(), error = %error, retry_in_ms = wait.as_millis() as u64, "reconcile failed");
        Action::requeue(wait)
    }
}

/// `namespace/name` of an object.
#[must_use]
pub fn key_of<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
