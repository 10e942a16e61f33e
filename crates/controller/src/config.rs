//! Controller configuration and MAAS credentials.

use std::fmt;
use std::time::Duration;

use machine_lifecycle::LifecycleConfig;

/// MAAS credentials: an endpoint, an API key and an optional CA bundle.
///
/// `Debug` never shows the API key or the bundle's content.
#[derive(Clone, PartialEq, Eq)]
pub struct MaasCredentials {
    /// `http(s)://host:5240/MAAS` (any form `maas_api::ClientConfig` accepts).
    pub endpoint: String,
    /// `consumer_key:token_key:token_secret`.
    pub api_key: String,
    /// PEM CA certificates to trust in addition to the system roots.
    pub ca_bundle: Option<Vec<u8>>,
}

impl MaasCredentials {
    /// Credentials without a CA bundle.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            api_key: api_key.into(),
            ca_bundle: None,
        }
    }

    /// Adds a PEM CA bundle.
    #[must_use]
    pub fn with_ca_bundle(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_bundle = Some(pem.into());
        self
    }
}

impl fmt::Debug for MaasCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaasCredentials")
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .field(
                "ca_bundle",
                &self
                    .ca_bundle
                    .as_ref()
                    .map(|b| format!("<{} bytes>", b.len())),
            )
            .finish()
    }
}

/// Everything the controllers need besides a Kubernetes client.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Watch only this namespace (`None`: all namespaces).
    pub namespace: Option<String>,
    /// Reconcile only objects labelled `cluster.x-k8s.io/watch-filter=<value>`.
    pub watch_filter: Option<String>,
    /// Concurrent reconciles per kind (0: unbounded).
    pub concurrency: u16,
    /// Re-read provisioned machines and clusters this often.
    pub sync_period: Duration,
    /// How often the shared poller lists in-flight machines (one request per MAAS endpoint).
    pub poll_interval: Duration,
    /// Credentials for MaasClusters without `credentialsRef`.
    pub default_credentials: Option<MaasCredentials>,
    /// The machine lifecycle's tunables. `deploy_poll_interval` and
    /// `release_poll_interval` are only a fallback: the poller wakes
    /// reconciles when MAAS shows a change.
    pub lifecycle: LifecycleConfig,
    /// First back-off after a reconcile error; doubles per consecutive error.
    pub error_backoff: Duration,
    /// Back-off ceiling.
    pub error_backoff_max: Duration,
    /// Requeue while waiting for MaasMachines to go during a MaasCluster deletion.
    pub cluster_delete_poll: Duration,
    /// Timeout of one MAAS request.
    pub maas_request_timeout: Duration,
    /// Retries inside the MAAS client (transient errors).
    pub maas_retry: maas_api::RetryPolicy,
    /// How long a MAAS version answer is reused.
    pub version_cache_ttl: Duration,
    /// TTL of the control-plane DNS record.
    pub dns_ttl: u32,
    /// Port of the control-plane endpoint the controller sets.
    pub api_server_port: i32,
    /// Events' reporting controller name.
    pub reporter: String,
    /// Events' reporting instance (e.g. the pod name).
    pub instance: Option<String>,
    /// Timeout of each workload-cluster request (connect, read, write):
    /// a dead workload API never holds a reconcile longer.
    pub workload_timeout: Duration,
    /// First requeue while the workload Node is missing or its API is down;
    /// doubles per attempt.
    pub workload_retry: Duration,
    /// Ceiling of that back-off (also the requeue while a cluster has no
    /// kubeconfig Secret or a conflicting providerID).
    pub workload_retry_max: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        let sync_period = Duration::from_secs(600);
        Self {
            namespace: None,
            watch_filter: None,
            concurrency: 10,
            sync_period,
            poll_interval: Duration::from_secs(10),
            default_credentials: None,
            lifecycle: LifecycleConfig {
                deploy_poll_interval: Duration::from_secs(300),
                release_poll_interval: Duration::from_secs(120),
                steady_interval: sync_period,
                ..LifecycleConfig::default()
            },
            error_backoff: Duration::from_secs(2),
            error_backoff_max: Duration::from_secs(300),
            cluster_delete_poll: Duration::from_secs(10),
            maas_request_timeout: Duration::from_secs(30),
            maas_retry: maas_api::RetryPolicy::default(),
            version_cache_ttl: Duration::from_secs(600),
            dns_ttl: 10,
            api_server_port: 6443,
            reporter: "capmaas-manager".to_owned(),
            instance: None,
            workload_timeout: Duration::from_secs(5),
            workload_retry: Duration::from_secs(5),
            workload_retry_max: Duration::from_secs(120),
        }
    }
}

impl ControllerConfig {
    /// Sets the sync period and the lifecycle's steady interval together.
    #[must_use]
    pub fn with_sync_period(mut self, period: Duration) -> Self {
        self.sync_period = period;
        self.lifecycle.steady_interval = period;
        self
    }
}

/// Checks that `creds` can build a MAAS client (endpoint form, key form);
/// the error names the problem, never the key.
pub fn validate_credentials(creds: &MaasCredentials) -> Result<(), maas_api::ConfigError> {
    maas_api::ClientConfig::new(&creds.endpoint, &creds.api_key).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_key_and_bundle() {
        let c = MaasCredentials::new("http://maas:5240/MAAS", "ck:tk:very-secret-token")
            .with_ca_bundle(b"-----BEGIN CERTIFICATE-----secretish".to_vec());
        let text = format!("{c:?}");
        assert!(!text.contains("very-secret-token"), "{text}");
        assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");
        assert!(text.contains("http://maas:5240/MAAS"));
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn with_sync_period_moves_the_steady_interval() {
        let c = ControllerConfig::default().with_sync_period(Duration::from_secs(42));
        assert_eq!(c.lifecycle.steady_interval, Duration::from_secs(42));
        assert_eq!(c.sync_period, Duration::from_secs(42));
    }
}
