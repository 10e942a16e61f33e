//! MAAS clients, cached per (endpoint, key digest), and the shared poller.
//!
//! The poller keeps MAAS load flat: every MaasMachine whose machine is in
//! flight (allocating, deploying, releasing ...) registers the system IDs it
//! waits on together with what it last saw. Once per `poll_interval` the
//! poller lists ALL of them in one request (`GET machines/?id=a&id=b…`) and
//! wakes only the MaasMachines whose machines changed (status or power
//! state), through `Controller::reconcile_on`. Every machine it lists goes
//! into the endpoint's [`MachineCache`], which reconciles read instead of
//! asking MAAS again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capi_types::MaasMachine;
use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;
use maas_api::{ClientConfig, MaasApi, MaasClient, MachineFilter, RequestObserver, RetryPolicy};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::config::MaasCredentials;
use crate::error::Error;
use crate::metrics::Metrics;

use crate::machine_cache::MachineCache;
pub use crate::machine_cache::{Fingerprint, GONE, fingerprint};

/// Settings shared by every client.
#[derive(Clone)]
pub struct ClientSettings {
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Client-side retries.
    pub retry: RetryPolicy,
    /// Metrics hook.
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Version cache lifetime.
    pub version_ttl: Duration,
    /// Poller period.
    pub poll_interval: Duration,
    /// Where the pollers send wake-ups.
    pub wake: UnboundedSender<ObjectRef<MaasMachine>>,
    /// Stops the pollers.
    pub cancel: CancellationToken,
    /// Metrics (poller list counter).
    pub metrics: Arc<Metrics>,
    /// Whether reconciles may use the machine cache's memory
    /// ([`crate::config::ControllerConfig::machine_cache`]).
    pub machine_cache: bool,
}

/// One MAAS endpoint + key: the client, its poller and a version cache.
pub struct MaasHandle {
    api: Arc<dyn MaasApi>,
    endpoint: String,
    version: Mutex<Option<(Instant, machine_lifecycle::MaasVersion)>>,
    version_ttl: Duration,
    poller: Poller,
    cache: Arc<MachineCache>,
}

impl std::fmt::Debug for MaasHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaasHandle")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl MaasHandle {
    /// A handle over any [`MaasApi`] (tests pass a mock).
    #[must_use]
    pub fn new(api: Arc<dyn MaasApi>, endpoint: &str, settings: &ClientSettings) -> Arc<Self> {
        let cache = Arc::new(if settings.machine_cache {
            MachineCache::new()
        } else {
            MachineCache::without_memory()
        });
        let poller = Poller::new(
            api.clone(),
            cache.clone(),
            endpoint,
            settings.poll_interval,
            settings.wake.clone(),
            settings.cancel.clone(),
            settings.metrics.clone(),
        );
        Arc::new(Self {
            api,
            endpoint: endpoint.to_owned(),
            version: Mutex::new(None),
            version_ttl: settings.version_ttl,
            poller,
            cache,
        })
    }

    /// The MAAS API.
    #[must_use]
    pub fn api(&self) -> &dyn MaasApi {
        self.api.as_ref()
    }

    /// The endpoint (for logs).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The poller of this endpoint.
    #[must_use]
    pub fn poller(&self) -> &Poller {
        &self.poller
    }

    /// The machine cache of this endpoint.
    #[must_use]
    pub fn cache(&self) -> &MachineCache {
        &self.cache
    }

    /// MAAS's version, cached; `None` when it cannot be read or parsed
    /// (not cached, so the next reconcile asks again).
    pub async fn version(&self) -> Option<machine_lifecycle::MaasVersion> {
        if let Some((at, v)) = *self.version.lock()
            && at.elapsed() < self.version_ttl
        {
            return Some(v);
        }
        match self.api.version().await {
            Ok(v) => {
                let parsed: Option<machine_lifecycle::MaasVersion> = v.version.parse().ok();
                if let Some(p) = parsed {
                    *self.version.lock() = Some((Instant::now(), p));
                } else {
                    tracing::warn!(endpoint = %self.endpoint, version = %v.version, "unrecognised MAAS version");
                }
                parsed
            }
            Err(e) => {
                tracing::warn!(endpoint = %self.endpoint, error = %crate::error::redact_maas_text(&e.to_string()), "cannot read the MAAS version");
                None
            }
        }
    }
}

/// Clients cached per (endpoint, digest of key and CA bundle).
pub struct MaasClients {
    entries: Mutex<HashMap<String, Arc<MaasHandle>>>,
    settings: ClientSettings,
}

impl std::fmt::Debug for MaasClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaasClients")
            .field("entries", &self.entries.lock().len())
            .finish()
    }
}

/// The cache key: the endpoint and a SHA-256 of the key and the bundle
/// (the key itself is never kept outside its client).
#[must_use]
pub fn cache_key(creds: &MaasCredentials) -> String {
    let mut h = Sha256::new();
    h.update(creds.api_key.trim().as_bytes());
    h.update([0u8]);
    if let Some(ca) = &creds.ca_bundle {
        h.update(ca);
    }
    format!("{}#{}", creds.endpoint.trim(), hex::encode(h.finalize()))
}

impl MaasClients {
    /// An empty cache.
    #[must_use]
    pub fn new(settings: ClientSettings) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            settings,
        }
    }

    /// The handle for `creds`, built on first use.
    pub fn get(&self, creds: &MaasCredentials) -> Result<Arc<MaasHandle>, Error> {
        let key = cache_key(creds);
        if let Some(h) = self.entries.lock().get(&key) {
            return Ok(h.clone());
        }
        let mut config = ClientConfig::new(&creds.endpoint, &creds.api_key)
            .map_err(|e| Error::Credentials(e.to_string()))?
            .with_request_timeout(self.settings.request_timeout)
            .with_retry(self.settings.retry.clone())
            .with_user_agent(format!("capmaas-controller/{}", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &creds.ca_bundle {
            config = config.with_ca_bundle_pem(ca.clone());
        }
        if let Some(o) = &self.settings.observer {
            config = config.with_observer(o.clone());
        }
        let client = MaasClient::new(config).map_err(|e| Error::Credentials(e.to_string()))?;
        let handle = MaasHandle::new(Arc::new(client), creds.endpoint.trim(), &self.settings);
        let mut entries = self.entries.lock();
        Ok(entries.entry(key).or_insert(handle).clone())
    }

    /// Puts a handle over `api` in the cache for `creds` (tests: a mock MAAS).
    pub fn insert(&self, creds: &MaasCredentials, api: Arc<dyn MaasApi>) -> Arc<MaasHandle> {
        let handle = MaasHandle::new(api, creds.endpoint.trim(), &self.settings);
        self.entries.lock().insert(cache_key(creds), handle.clone());
        handle
    }

    /// Every cached handle (one per MAAS endpoint and key in use).
    #[must_use]
    pub fn handles(&self) -> Vec<Arc<MaasHandle>> {
        self.entries.lock().values().cloned().collect()
    }

    /// Number of cached clients.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// No client cached yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }
}

type Watched = HashMap<ObjectRef<MaasMachine>, BTreeMap<String, Fingerprint>>;

struct PollerInner {
    api: Arc<dyn MaasApi>,
    cache: Arc<MachineCache>,
    endpoint: String,
    interval: Duration,
    wake: UnboundedSender<ObjectRef<MaasMachine>>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
    watched: Mutex<Watched>,
    started: Mutex<bool>,
}

/// The shared poller of one MAAS endpoint (cheap to clone).
#[derive(Clone)]
pub struct Poller {
    inner: Arc<PollerInner>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("endpoint", &self.inner.endpoint)
            .field("watched", &self.inner.watched.lock().len())
            .finish()
    }
}

impl Poller {
    fn new(
        api: Arc<dyn MaasApi>,
        cache: Arc<MachineCache>,
        endpoint: &str,
        interval: Duration,
        wake: UnboundedSender<ObjectRef<MaasMachine>>,
        cancel: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(PollerInner {
                api,
                cache,
                endpoint: endpoint.to_owned(),
                interval,
                wake,
                cancel,
                metrics,
                watched: Mutex::new(HashMap::new()),
                started: Mutex::new(false),
            }),
        }
    }

    /// `obj` waits on these machines, last seen with these fingerprints
    /// (replaces what it watched before; empty = [`Poller::unwatch`]).
    pub fn watch(&self, obj: ObjectRef<MaasMachine>, machines: BTreeMap<String, Fingerprint>) {
        if machines.is_empty() {
            self.unwatch(&obj);
            return;
        }
        self.inner.watched.lock().insert(obj, machines);
        self.start();
    }

    /// `obj` waits on nothing.
    pub fn unwatch(&self, obj: &ObjectRef<MaasMachine>) {
        self.inner.watched.lock().remove(obj);
    }

    /// Every system ID watched, sorted.
    #[must_use]
    pub fn watched_ids(&self) -> Vec<String> {
        let w = self.inner.watched.lock();
        let ids: BTreeSet<String> = w.values().flat_map(|m| m.keys().cloned()).collect();
        ids.into_iter().collect()
    }

    /// Is `obj` watched?
    #[must_use]
    pub fn is_watching(&self, obj: &ObjectRef<MaasMachine>) -> bool {
        self.inner.watched.lock().contains_key(obj)
    }

    fn start(&self) {
        let mut started = self.inner.started.lock();
        if *started {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        *started = true;
        let poller = self.clone();
        rt.spawn(async move {
            let mut interval = tokio::time::interval(poller.inner.interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                tokio::select! {
                    () = poller.inner.cancel.cancelled() => break,
                    _ = interval.tick() => { poller.tick().await; }
                }
            }
            tracing::debug!(endpoint = %poller.inner.endpoint, "poller stopped");
        });
    }

    /// One poll: one list request for every watched machine; wakes the
    /// MaasMachines whose machines changed. Returns how many were woken.
    pub async fn tick(&self) -> usize {
        let ids = self.watched_ids();
        if ids.is_empty() {
            return 0;
        }
        self.inner.metrics.poller_list();
        let listed = match self
            .inner
            .api
            .list_machines(&MachineFilter::new().ids(ids.iter().cloned()))
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::debug!(endpoint = %self.inner.endpoint, error = %crate::error::redact_maas_text(&e.to_string()), "poller list failed");
                return 0;
            }
        };
        let seen: HashMap<&str, Fingerprint> = listed
            .iter()
            .map(|m| (m.system_id.as_str(), fingerprint(m)))
            .collect();
        for m in &listed {
            self.inner.cache.record(m);
        }
        for id in ids.iter().filter(|id| !seen.contains_key(id.as_str())) {
            self.inner.cache.record_gone(id);
        }
        let mut wake = Vec::new();
        {
            let mut watched = self.inner.watched.lock();
            for (obj, machines) in watched.iter_mut() {
                let mut changed = false;
                for (id, fp) in machines.iter_mut() {
                    let now = seen
                        .get(id.as_str())
                        .cloned()
                        .unwrap_or_else(|| GONE.to_owned());
                    if *fp != now {
                        *fp = now;
                        changed = true;
                    }
                }
                if changed {
                    wake.push(obj.clone());
                }
            }
        }
        for obj in &wake {
            tracing::debug!(object = %obj, "MAAS machine changed; waking its reconcile");
            let _ = self.inner.wake.unbounded_send(obj.clone());
        }
        wake.len()
    }
}
