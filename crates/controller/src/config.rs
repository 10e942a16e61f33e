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
    /// Port of the control-plane endpoint the controller sets when the
    /// Cluster's `spec.clusterNetwork.apiServerPort` is unset.
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
    /// Period of the orphan sweep (one machine list per MAAS endpoint in
    /// use); `Duration::ZERO`: no sweep.
    pub orphan_sweep_period: Duration,
    /// What the orphan sweep may do (report only by default). Its namespace
    /// scope is [`Self::namespace`].
    pub orphan_policy: machine_lifecycle::OrphanPolicy,
    /// Serve reconciles from the shared MAAS machine cache (`--machine-cache`,
    /// off by default while its random lifecycle properties still find
    /// counterexamples, docs/controller.md): off, every reconcile lists the
    /// machines carrying its marker and reads the ones it needs.
    pub machine_cache: bool,
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
            api_server_port: machine_lifecycle::DEFAULT_API_SERVER_PORT,
            reporter: "capmaas-manager".to_owned(),
            instance: None,
            workload_timeout: Duration::from_secs(5),
            workload_retry: Duration::from_secs(5),
            workload_retry_max: Duration::from_secs(120),
            orphan_sweep_period: Duration::from_secs(300),
            orphan_policy: machine_lifecycle::OrphanPolicy::default(),
            machine_cache: false,
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

/// Checks that `creds` can build a MAAS client: endpoint form, key form and,
/// when given, the CA bundle (PEM, at least one usable certificate). Nothing
/// is sent. The error names the problem, never the key.
pub fn validate_credentials(creds: &MaasCredentials) -> Result<(), maas_api::ConfigError> {
    let mut config = maas_api::ClientConfig::new(&creds.endpoint, &creds.api_key)?;
    if let Some(pem) = &creds.ca_bundle {
        config = config.with_ca_bundle_pem(pem.clone());
    }
    maas_api::MaasClient::new(config).map(drop)
}

/// The range the manager accepts for each tunable it has a flag for
/// (`docs/operations.md`). Out-of-range values are refused before anything
/// starts; every value inside is safe (no zero period, no deadline
/// arithmetic that can overflow).
pub mod bounds {
    use std::time::Duration;

    /// An inclusive range of durations.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DurationRange {
        /// Smallest accepted value.
        pub min: Duration,
        /// Largest accepted value.
        pub max: Duration,
    }

    impl DurationRange {
        const fn new(min: Duration, max: Duration) -> Self {
            Self { min, max }
        }

        /// Whether `d` is inside.
        #[must_use]
        pub fn contains(&self, d: Duration) -> bool {
            self.min <= d && d <= self.max
        }
    }

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// `--sync-period`: a MaasCluster is reconciled (a few MAAS requests)
    /// once per period, so it has a floor.
    pub const SYNC_PERIOD: DurationRange = DurationRange::new(secs(30), secs(24 * 3600));
    /// `--poll-interval`: one list request per MAAS endpoint per tick.
    pub const POLL_INTERVAL: DurationRange =
        DurationRange::new(Duration::from_millis(100), secs(600));
    /// `--leader-elect-lease-duration` (whole seconds: Lease durations are).
    pub const LEASE_DURATION: DurationRange = DurationRange::new(secs(2), secs(3600));
    /// `--deploy-timeout`.
    pub const DEPLOY_TIMEOUT: DurationRange = DurationRange::new(secs(60), secs(24 * 3600));
    /// `--deploy-retries`.
    pub const MAX_DEPLOY_RETRIES: u32 = 10;
    /// `--ephemeral-min-memory-mib` (0: no floor); the largest is the
    /// largest `minMemory` the CRD accepts (4 PiB).
    pub const EPHEMERAL_MIN_MEMORY_MIB_MAX: u64 = 4 * 1024 * 1024 * 1024;
    /// `--dns-ttl` (whole seconds; 0: resolvers do not cache the record).
    pub const DNS_TTL: DurationRange = DurationRange::new(secs(0), secs(7 * 24 * 3600));
    /// `--allocation-settle-time`; also at least twice `--poll-interval`,
    /// so that the poller looks at least once before an unanswered
    /// allocation is given up on.
    pub const ALLOCATION_SETTLE_TIME: DurationRange = DurationRange::new(secs(10), secs(3600));
    /// `--capacity-backoff`: the first wait after MAAS had no machine.
    pub const CAPACITY_BACKOFF: DurationRange = DurationRange::new(secs(10), secs(3600));
    /// `--capacity-backoff-max`; also at least `--capacity-backoff`.
    pub const CAPACITY_BACKOFF_MAX: DurationRange = DurationRange::new(secs(10), secs(24 * 3600));
    /// `--orphan-sweep-period` (0s: no sweep; else one full machine list
    /// per MAAS endpoint per period, hence the floor).
    pub const ORPHAN_SWEEP_PERIOD: DurationRange = DurationRange::new(secs(0), secs(24 * 3600));
    /// `--orphan-grace`: how long a machine stays orphaned before it is released.
    pub const ORPHAN_GRACE: DurationRange = DurationRange::new(secs(0), secs(7 * 24 * 3600));
}

/// A [`ControllerConfig`] that cannot work: which setting, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {problem}")]
pub struct ConfigError {
    /// The field (`poll_interval`, `lifecycle.deploy_timeout`, ...).
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Longest period any setting may have: deadlines are `now + period` in
/// tokio and kube-runtime, which panic on overflow.
const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);

impl ControllerConfig {
    /// Refuses settings the controllers cannot run with: zero periods (a
    /// zero `poll_interval` panics the poller; zero back-offs and requeues
    /// hot-loop MAAS), a ceiling below its base, periods over a year, a DNS
    /// TTL MAAS refuses. Looser than the manager's flags ([`bounds`]), so
    /// that tests may use short periods.
    ///
    /// # Errors
    /// The first setting that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let lc = &self.lifecycle;
        let periods: [(&'static str, Duration); 16] = [
            ("sync_period", self.sync_period),
            ("poll_interval", self.poll_interval),
            ("error_backoff", self.error_backoff),
            ("error_backoff_max", self.error_backoff_max),
            ("cluster_delete_poll", self.cluster_delete_poll),
            ("maas_request_timeout", self.maas_request_timeout),
            ("workload_timeout", self.workload_timeout),
            ("workload_retry", self.workload_retry),
            ("workload_retry_max", self.workload_retry_max),
            ("lifecycle.deploy_poll_interval", lc.deploy_poll_interval),
            ("lifecycle.release_poll_interval", lc.release_poll_interval),
            ("lifecycle.steady_interval", lc.steady_interval),
            ("lifecycle.capacity_backoff", lc.capacity_backoff),
            ("lifecycle.capacity_backoff_max", lc.capacity_backoff_max),
            ("lifecycle.deploy_timeout", lc.deploy_timeout),
            ("lifecycle.power_on_retry_after", lc.power_on_retry_after),
        ];
        for (setting, d) in periods {
            if d.is_zero() {
                return Err(ConfigError {
                    setting,
                    problem: "must not be zero".to_owned(),
                });
            }
        }
        let long: [(&'static str, Duration); 4] = [
            ("version_cache_ttl", self.version_cache_ttl),
            ("orphan_sweep_period", self.orphan_sweep_period),
            ("orphan_policy.grace", self.orphan_policy.grace),
            (
                "lifecycle.allocation_settle_time",
                lc.allocation_settle_time,
            ),
        ];
        for (setting, d) in periods.into_iter().chain(long) {
            if d > LONGEST {
                return Err(ConfigError {
                    setting,
                    problem: format!("is {}; at most a year is allowed", show(d)),
                });
            }
        }
        for (setting, base, max) in [
            (
                "error_backoff_max",
                self.error_backoff,
                self.error_backoff_max,
            ),
            (
                "workload_retry_max",
                self.workload_retry,
                self.workload_retry_max,
            ),
            (
                "lifecycle.capacity_backoff_max",
                lc.capacity_backoff,
                lc.capacity_backoff_max,
            ),
        ] {
            if max < base {
                return Err(ConfigError {
                    setting,
                    problem: format!("({}) is below its base ({})", show(max), show(base)),
                });
            }
        }
        if lc.allocation_settle_time < self.poll_interval {
            return Err(ConfigError {
                setting: "lifecycle.allocation_settle_time",
                problem: format!(
                    "({}) is shorter than poll_interval ({}): the poller would not look once",
                    show(lc.allocation_settle_time),
                    show(self.poll_interval)
                ),
            });
        }
        if self.concurrency == 0 {
            return Err(ConfigError {
                setting: "concurrency",
                problem: "must be at least 1".to_owned(),
            });
        }
        if self.dns_ttl > i32::MAX as u32 {
            return Err(ConfigError {
                setting: "dns_ttl",
                problem: format!("{} is above MAAS's limit of {}", self.dns_ttl, i32::MAX),
            });
        }
        if !(1..=65535).contains(&self.api_server_port) {
            return Err(ConfigError {
                setting: "api_server_port",
                problem: format!("{} is not a port (1-65535)", self.api_server_port),
            });
        }
        if lc.avoid_list_max == 0 {
            return Err(ConfigError {
                setting: "lifecycle.avoid_list_max",
                problem: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

/// `1h2m3s`, `250ms`: durations as the flags write them.
fn show(d: Duration) -> String {
    let ms = d.subsec_millis();
    let mut s = d.as_secs();
    if s == 0 {
        return format!("{ms}ms");
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
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
    fn the_default_config_is_valid() {
        ControllerConfig::default().validate().unwrap();
    }

    #[test]
    fn validate_refuses_what_cannot_run() {
        type Change = fn(&mut ControllerConfig);
        let cases: Vec<(Change, &str)> = vec![
            (
                |c| c.poll_interval = Duration::ZERO,
                "poll_interval must not be zero",
            ),
            (
                |c| c.sync_period = Duration::ZERO,
                "sync_period must not be zero",
            ),
            (
                |c| c.lifecycle.capacity_backoff = Duration::ZERO,
                "lifecycle.capacity_backoff must not be zero",
            ),
            (
                |c| c.lifecycle.capacity_backoff_max = Duration::from_secs(5),
                "lifecycle.capacity_backoff_max (5s) is below its base (1m)",
            ),
            (
                |c| c.lifecycle.deploy_timeout = Duration::MAX,
                "lifecycle.deploy_timeout is ",
            ),
            (
                |c| c.lifecycle.allocation_settle_time = Duration::from_secs(1),
                "shorter than poll_interval",
            ),
            (|c| c.concurrency = 0, "concurrency must be at least 1"),
            (|c| c.dns_ttl = u32::MAX, "above MAAS's limit"),
            (|c| c.api_server_port = 0, "api_server_port 0 is not a port"),
        ];
        for (change, expected) in cases {
            let mut c = ControllerConfig::default();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn every_value_inside_the_flag_bounds_is_valid() {
        use bounds::*;
        for (poll, sync, settle, base, max, timeout) in [
            (
                POLL_INTERVAL.min,
                SYNC_PERIOD.min,
                ALLOCATION_SETTLE_TIME.min,
                CAPACITY_BACKOFF.min,
                CAPACITY_BACKOFF_MAX.min,
                DEPLOY_TIMEOUT.min,
            ),
            (
                POLL_INTERVAL.max,
                SYNC_PERIOD.max,
                ALLOCATION_SETTLE_TIME.max,
                CAPACITY_BACKOFF.max,
                CAPACITY_BACKOFF_MAX.max,
                DEPLOY_TIMEOUT.max,
            ),
        ] {
            let mut c = ControllerConfig::default().with_sync_period(sync);
            c.poll_interval = poll;
            c.lifecycle.allocation_settle_time = settle.max(poll * 2);
            c.lifecycle.capacity_backoff = base;
            c.lifecycle.capacity_backoff_max = max.max(base);
            c.lifecycle.deploy_timeout = timeout;
            c.dns_ttl = u32::try_from(DNS_TTL.max.as_secs()).unwrap();
            c.validate().unwrap();
        }
    }

    #[test]
    fn durations_print_as_flags_write_them() {
        assert_eq!(show(Duration::from_millis(250)), "250ms");
        assert_eq!(show(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(show(Duration::from_secs(60)), "1m");
        assert_eq!(show(Duration::from_secs(86_400 + 1)), "1d1s");
    }

    #[test]
    fn credentials_with_a_bundle_that_is_not_pem_are_refused() {
        let c = MaasCredentials::new("https://maas:5240/MAAS", "ck:tk:secret")
            .with_ca_bundle(b"not a certificate".to_vec());
        let err = validate_credentials(&c).unwrap_err().to_string();
        assert!(err.contains("CERTIFICATE") || err.contains("PEM"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        validate_credentials(&MaasCredentials::new(
            "https://maas:5240/MAAS",
            "ck:tk:secret",
        ))
        .unwrap();
    }

    #[test]
    fn with_sync_period_moves_the_steady_interval() {
        let c = ControllerConfig::default().with_sync_period(Duration::from_secs(42));
        assert_eq!(c.lifecycle.steady_interval, Duration::from_secs(42));
        assert_eq!(c.sync_period, Duration::from_secs(42));
    }
}
