//! Prometheus metrics (prometheus-client), fed by the reconcilers and by the
//! MAAS client's [`maas_api::RequestObserver`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use maas_api::{RequestEvent, RequestObserver};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `kind`, `result`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// MaasMachine, MaasCluster, MaasMachineTemplate.
    pub kind: String,
    /// `ok` or `error`.
    pub result: String,
}

/// `kind`, `class`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The kind.
    pub kind: String,
    /// transient, capacity, permanent, conflict.
    pub class: String,
}

/// `kind`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The kind.
    pub kind: String,
}

/// `method`, `endpoint`, `op`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MaasRequestLabels {
    /// HTTP method.
    pub method: String,
    /// Endpoint template (`machines/{system_id}/`).
    pub endpoint: String,
    /// `op=` value or empty.
    pub op: String,
    /// HTTP status, or `error` when MAAS did not answer.
    pub status: String,
}

/// `endpoint`, `op`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MaasLatencyLabels {
    /// Endpoint template.
    pub endpoint: String,
    /// `op=` value or empty.
    pub op: String,
}

/// `endpoint` (orphan sweep).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The MAAS endpoint.
    pub endpoint: String,
}

/// `state`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// The MaasMachine's `MachineDeployed` reason.
    pub state: String,
}

/// `result` of a workload Node providerID sync.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkloadLabels {
    /// set, already_set, node_not_found, conflict, no_kubeconfig, backoff,
    /// kubeconfig_invalid, unavailable.
    pub result: String,
}

/// `verb` of a Kubernetes API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeRequestLabels {
    /// create, update, patch, delete (the writes); get (a get or a list),
    /// watch; other.
    pub verb: String,
}

/// All metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Family<KindLabels, Histogram>,
    maas_requests: Family<MaasRequestLabels, Counter>,
    maas_latency: Family<MaasLatencyLabels, Histogram>,
    machines: Family<StateLabels, Gauge>,
    poller_ticks: Counter,
    workload_syncs: Family<WorkloadLabels, Counter>,
    workload_clients: Gauge,
    kube_requests: Family<KubeRequestLabels, Counter>,
    reconciles_total: AtomicU64,
    machine_states: Mutex<HashMap<String, String>>,
    orphaned: Family<EndpointLabels, Gauge>,
    observation_reads: Family<ObservationLabels, Counter>,
}

/// Labels of `capmaas_machine_observation_reads_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObservationLabels {
    /// `marker_list` (`GET machines/?agent_name=`), `machine`
    /// (`GET machines/<id>/`) or `cached` (a reconcile that read nothing).
    pub read: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Metrics {
    /// A fresh registry with every metric (prefix `capmaas`).
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("capmaas");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by kind and result",
            reconciles.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconcile errors by kind and class",
            errors.clone(),
        );
        let reconcile_duration =
            Family::<KindLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            reconcile_duration.clone(),
        );
        let maas_requests = Family::<MaasRequestLabels, Counter>::default();
        registry.register(
            "maas_requests",
            "MAAS API requests (attempts) by method, endpoint, op and status",
            maas_requests.clone(),
        );
        let maas_latency = Family::<MaasLatencyLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        registry.register(
            "maas_request_duration_seconds",
            "MAAS API request latency by endpoint and op",
            maas_latency.clone(),
        );
        let machines = Family::<StateLabels, Gauge>::default();
        registry.register(
            "maas_machines",
            "MaasMachines by state (the MachineDeployed condition's reason)",
            machines.clone(),
        );
        let poller_ticks = Counter::default();
        registry.register(
            "poller_lists",
            "List requests made by the shared MAAS poller",
            poller_ticks.clone(),
        );
        let workload_syncs = Family::<WorkloadLabels, Counter>::default();
        registry.register(
            "workload_node_syncs",
            "Workload Node providerID syncs by result",
            workload_syncs.clone(),
        );
        let workload_clients = Gauge::default();
        registry.register(
            "workload_clients",
            "Workload-cluster clients cached (one per cluster)",
            workload_clients.clone(),
        );
        let kube_requests = Family::<KubeRequestLabels, Counter>::default();
        registry.register(
            "kube_requests",
            "Kubernetes API requests sent, by verb (create, update, patch and delete are writes)",
            kube_requests.clone(),
        );
        let orphaned = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "orphaned_machines",
            "MAAS machines held for a MaasMachine that no longer exists, by MAAS endpoint (last orphan sweep)",
            orphaned.clone(),
        );
        let observation_reads = Family::<ObservationLabels, Counter>::default();
        registry.register(
            "machine_observation_reads",
            "What MaasMachine reconciles read from MAAS (the rest came from the shared machine cache)",
            observation_reads.clone(),
        );
        Self {
            registry,
            observation_reads,
            reconciles,
            errors,
            reconcile_duration,
            maas_requests,
            maas_latency,
            machines,
            poller_ticks,
            workload_syncs,
            workload_clients,
            kube_requests,
            reconciles_total: AtomicU64::new(0),
            machine_states: Mutex::new(HashMap::new()),
            orphaned,
        }
    }

    /// The metrics in Prometheus text format.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a reconcile.
    pub fn reconciled(&self, kind: &str, ok: bool, took: Duration) {
        self.reconciles_total.fetch_add(1, Ordering::Relaxed);
        self.reconciles
            .get_or_create(&ReconcileLabels {
                kind: kind.to_owned(),
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a reconcile error.
    pub fn error(&self, kind: &str, class: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_owned(),
                class: class.to_owned(),
            })
            .inc();
    }

    /// Reconciles of every kind so far (tests wait for this to settle).
    #[must_use]
    pub fn reconciles_total(&self) -> u64 {
        self.reconciles_total.load(Ordering::Relaxed)
    }

    /// List requests the pollers made so far.
    #[must_use]
    pub fn poller_lists(&self) -> u64 {
        self.poller_ticks.get()
    }

    /// Counts what a reconcile's read plan asks MAAS for.
    pub fn observation(&self, plan: &machine_lifecycle::ReadPlan) {
        let count = |read: &str, n: usize| {
            self.observation_reads
                .get_or_create(&ObservationLabels {
                    read: read.to_owned(),
                })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        };
        if plan.list_marker {
            count("marker_list", 1);
        }
        if !plan.read.is_empty() {
            count("machine", plan.read.len());
        }
        if !plan.list_marker && plan.read.is_empty() {
            count("cached", 1);
        }
    }

    /// Reads of kind `read` (see [`Metrics::observation`]) so far.
    #[must_use]
    pub fn observation_reads(&self, read: &str) -> u64 {
        self.observation_reads
            .get_or_create(&ObservationLabels {
                read: read.to_owned(),
            })
            .get()
    }

    /// Counts a poller list request.
    pub fn poller_list(&self) {
        self.poller_ticks.inc();
    }

    /// Counts a workload Node providerID sync.
    pub fn workload_sync(&self, result: &str) {
        self.workload_syncs
            .get_or_create(&WorkloadLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Workload syncs with `result` so far.
    #[must_use]
    pub fn workload_syncs(&self, result: &str) -> u64 {
        self.workload_syncs
            .get_or_create(&WorkloadLabels {
                result: result.to_owned(),
            })
            .get()
    }

    /// The number of cached workload clients.
    pub fn workload_clients(&self, n: usize) {
        self.workload_clients
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts a Kubernetes API request.
    pub fn kube_request(&self, verb: &str) {
        self.kube_requests
            .get_or_create(&KubeRequestLabels {
                verb: verb.to_owned(),
            })
            .inc();
    }

    /// Kubernetes API requests with `verb` so far.
    #[must_use]
    pub fn kube_requests(&self, verb: &str) -> u64 {
        self.kube_requests
            .get_or_create(&KubeRequestLabels {
                verb: verb.to_owned(),
            })
            .get()
    }

    /// Sets the number of orphaned machines the last sweep found at `endpoint`.
    pub fn orphaned_machines(&self, endpoint: &str, n: usize) {
        self.orphaned
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records the state of one MaasMachine (`None`: it is gone).
    pub fn machine_state(&self, key: &str, state: Option<&str>) {
        let mut states = self.machine_states.lock();
        match state {
            Some(s) => {
                states.insert(key.to_owned(), s.to_owned());
            }
            None => {
                states.remove(key);
            }
        }
        let mut counts: HashMap<&str, i64> = HashMap::new();
        for s in states.values() {
            *counts.entry(s.as_str()).or_default() += 1;
        }
        self.machines.clear();
        for (s, n) in counts {
            self.machines
                .get_or_create(&StateLabels {
                    state: s.to_owned(),
                })
                .set(n);
        }
    }
}

/// Feeds MAAS request events into [`Metrics`].
#[derive(Debug, Clone)]
pub struct MaasObserver(pub Arc<Metrics>);

impl RequestObserver for MaasObserver {
    fn observe(&self, event: &RequestEvent<'_>) {
        let op = event.op.unwrap_or("").to_owned();
        self.0
            .maas_requests
            .get_or_create(&MaasRequestLabels {
                method: event.method.to_owned(),
                endpoint: event.endpoint.to_owned(),
                op: op.clone(),
                status: event
                    .status
                    .map_or_else(|| "error".to_owned(), |s| s.to_string()),
            })
            .inc();
        self.0
            .maas_latency
            .get_or_create(&MaasLatencyLabels {
                endpoint: event.endpoint.to_owned(),
                op,
            })
            .observe(event.latency.as_secs_f64());
    }
}

/// The verb of a Kubernetes API request, from its method and query.
#[must_use]
pub fn kube_verb(method: &::http::Method, uri: &::http::Uri) -> &'static str {
    match *method {
        ::http::Method::POST => "create",
        ::http::Method::PUT => "update",
        ::http::Method::PATCH => "patch",
        ::http::Method::DELETE => "delete",
        ::http::Method::GET => {
            let watch = uri
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
            if watch { "watch" } else { "get" }
        }
        _ => "other",
    }
}

/// A Kubernetes client for `config` that counts every request it sends in
/// `metrics` (`capmaas_kube_requests_total{verb}`).
pub fn counting_kube_client(
    config: kube::Config,
    metrics: Arc<Metrics>,
) -> Result<kube::Client, kube::Error> {
    let count =
        tower::util::MapRequestLayer::new(move |req: ::http::Request<kube::client::Body>| {
            metrics.kube_request(kube_verb(req.method(), req.uri()));
            req
        });
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&count)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_verbs_from_method_and_query() {
        let uri = |u: &str| u.parse::<::http::Uri>().unwrap();
        let pods = uri("/api/v1/namespaces/a/pods");
        assert_eq!(kube_verb(&::http::Method::POST, &pods), "create");
        assert_eq!(kube_verb(&::http::Method::PUT, &pods), "update");
        assert_eq!(kube_verb(&::http::Method::PATCH, &pods), "patch");
        assert_eq!(kube_verb(&::http::Method::DELETE, &pods), "delete");
        assert_eq!(kube_verb(&::http::Method::GET, &pods), "get");
        assert_eq!(
            kube_verb(
                &::http::Method::GET,
                &uri("/api/v1/namespaces/a/pods?resourceVersion=5&watch=true")
            ),
            "watch"
        );
        assert_eq!(
            kube_verb(&::http::Method::GET, &uri("/api/v1/pods?watchy=true")),
            "get"
        );
        assert_eq!(kube_verb(&::http::Method::HEAD, &pods), "other");
    }

    /// A loopback "apiserver" that answers every request with `{}`.
    async fn answering_server() -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    // One request per connection (the client sends no body here).
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                        )
                        .await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn the_counting_client_counts_each_request_by_verb() {
        let addr = answering_server().await;
        let m = Arc::new(Metrics::new());
        let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        let client = counting_kube_client(config, m.clone()).unwrap();
        let send = |method: &str, path: &str| {
            ::http::Request::builder()
                .method(method)
                .uri(path)
                .body(Vec::new())
                .unwrap()
        };
        client
            .request_text(send("PATCH", "/api/v1/namespaces/a/configmaps/b"))
            .await
            .unwrap();
        client
            .request_text(send("PATCH", "/api/v1/namespaces/a/configmaps/c"))
            .await
            .unwrap();
        client
            .request_text(send("GET", "/api/v1/namespaces/a/configmaps"))
            .await
            .unwrap();
        client
            .request_text(send("POST", "/api/v1/namespaces/a/events"))
            .await
            .unwrap();
        assert_eq!(m.kube_requests("patch"), 2);
        assert_eq!(m.kube_requests("get"), 1);
        assert_eq!(m.kube_requests("create"), 1);
        assert_eq!(m.kube_requests("delete"), 0);
        assert!(
            m.encode()
                .contains(r#"capmaas_kube_requests_total{verb="patch"} 2"#),
            "{}",
            m.encode()
        );
    }

    #[test]
    fn encodes_every_family_with_labels() {
        let m = Arc::new(Metrics::new());
        m.reconciled("MaasMachine", true, Duration::from_millis(5));
        m.error("MaasMachine", "transient");
        m.machine_state("ns/a", Some("Deploying"));
        m.machine_state("ns/b", Some("Deploying"));
        m.machine_state("ns/c", Some("Deployed"));
        m.machine_state("ns/c", None);
        MaasObserver(m.clone()).observe(&RequestEvent {
            method: "POST",
            endpoint: "machines/",
            op: Some("allocate"),
            status: Some(409),
            latency: Duration::from_millis(12),
            attempt: 1,
            error_class: None,
        });
        let text = m.encode();
        assert!(
            text.contains(r#"capmaas_reconciles_total{kind="MaasMachine",result="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"capmaas_reconcile_errors_total{kind="MaasMachine",class="transient"} 1"#
            )
        );
        assert!(text.contains(r#"capmaas_maas_machines{state="Deploying"} 2"#));
        assert!(!text.contains(r#"state="Deployed""#));
        assert!(text.contains(
            r#"capmaas_maas_requests_total{method="POST",endpoint="machines/",op="allocate",status="409"} 1"#
        ));
        assert!(text.contains("capmaas_maas_request_duration_seconds_bucket"));
    }
}
