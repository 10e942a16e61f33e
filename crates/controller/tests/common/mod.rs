//! Shared harness: a real apiserver (kube-testenv), an in-process maas-sim
//! and an in-process controller per test, objects created as CAPI core would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use capi_types::capi::{Cluster, Machine};
use capi_types::{MaasCluster, MaasMachine};
use capmaas_controller::{ControllerConfig, MaasCredentials, Manager, ManagerHandle};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use kube_testenv::TestNamespace;
use maas_sim::{MaasVersion, RunningSimulator, Simulator};
use machine_lifecycle::LifecycleConfig;
use serde_json::json;

/// One test's world.
pub struct World {
    pub ns: TestNamespace,
    pub client: Client,
}

impl World {
    pub async fn new(prefix: &str) -> World {
        init_tracing();
        let env = kube_testenv::shared().await.expect("kube-testenv");
        env.install_crds(&capi_types::crds::all().unwrap())
            .await
            .expect("install our CRDs");
        env.install_capi_crds().await.expect("install CAPI CRDs");
        let ns = env.namespace(prefix).await.expect("namespace");
        let client = ns.client();
        World { ns, client }
    }

    pub fn name(&self) -> String {
        self.ns.name().to_owned()
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), self.ns.name())
    }

    /// A controller for this namespace, with short timings.
    pub fn controller(&self, creds: Option<MaasCredentials>) -> ManagerHandle {
        Manager::new(self.client.clone(), config(self.ns.name(), creds)).spawn()
    }

    pub fn controller_with(&self, config: ControllerConfig) -> ManagerHandle {
        Manager::new(self.client.clone(), config).spawn()
    }

    /// Cluster `name` with infrastructureRef → MaasCluster `name`;
    /// `provisioned` sets status.initialization.infrastructureProvisioned.
    pub async fn cluster(&self, name: &str, provisioned: bool) -> Cluster {
        let c: Cluster = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": name}}
        }))
        .unwrap();
        let c = self
            .api::<Cluster>()
            .create(&PostParams::default(), &c)
            .await
            .unwrap();
        if provisioned {
            self.set_cluster_provisioned(name).await
        } else {
            c
        }
    }

    pub async fn set_cluster_provisioned(&self, name: &str) -> Cluster {
        self.api::<Cluster>()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"status": {"initialization": {"infrastructureProvisioned": true}}}),
                ),
            )
            .await
            .unwrap()
    }

    pub async fn set_cluster_paused(&self, name: &str, paused: bool) {
        self.api::<Cluster>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"paused": paused}})),
            )
            .await
            .unwrap();
    }

    /// MaasCluster owned by Cluster `cluster`.
    pub async fn maas_cluster(&self, cluster: &Cluster, spec: serde_json::Value) -> MaasCluster {
        let mc: MaasCluster = serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "MaasCluster",
            "metadata": {
                "name": cluster.name_any(),
                "labels": {"cluster.x-k8s.io/cluster-name": cluster.name_any()},
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                    "name": cluster.name_any(), "uid": cluster.uid().unwrap(),
                    "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": spec,
        }))
        .unwrap();
        self.api::<MaasCluster>()
            .create(&PostParams::default(), &mc)
            .await
            .unwrap()
    }

    pub async fn secret(&self, name: &str, data: BTreeMap<&str, &[u8]>) -> Secret {
        let data: BTreeMap<String, k8s_openapi::ByteString> = data
            .into_iter()
            .map(|(k, v)| (k.to_owned(), k8s_openapi::ByteString(v.to_vec())))
            .collect();
        let s = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        self.api::<Secret>()
            .create(&PostParams::default(), &s)
            .await
            .unwrap()
    }

    pub async fn credentials_secret(&self, name: &str, sim: &RunningSimulator) -> Secret {
        let endpoint = sim.endpoint();
        self.secret(
            name,
            BTreeMap::from([
                ("endpoint", endpoint.as_bytes()),
                ("apiKey", sim.admin_api_key().as_bytes()),
            ]),
        )
        .await
    }

    /// A CAPI Machine + bootstrap Secret (`value` = `user_data`) + the
    /// MaasMachine it owns, as CAPI core would create them.
    pub async fn machine(
        &self,
        cluster: &str,
        name: &str,
        control_plane: bool,
        user_data: Option<&[u8]>,
        spec: serde_json::Value,
    ) -> (Machine, MaasMachine) {
        let secret_name = format!("{name}-bootstrap");
        if let Some(data) = user_data {
            self.secret(
                &secret_name,
                BTreeMap::from([("value", data), ("format", b"cloud-config".as_slice())]),
            )
            .await;
        }
        let mut labels = json!({"cluster.x-k8s.io/cluster-name": cluster});
        if control_plane {
            labels["cluster.x-k8s.io/control-plane"] = json!("");
        }
        let mut bootstrap = json!({"configRef": {
            "apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": name}});
        if user_data.is_some() {
            bootstrap["dataSecretName"] = json!(secret_name);
        }
        let m: Machine = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Machine",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "clusterName": cluster,
                "bootstrap": bootstrap,
                "infrastructureRef": {
                    "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": name}
            }
        }))
        .unwrap();
        let m = self
            .api::<Machine>()
            .create(&PostParams::default(), &m)
            .await
            .unwrap();
        let mm = self.maas_machine_owned(&m, spec).await;
        (m, mm)
    }

    pub async fn maas_machine_owned(&self, m: &Machine, spec: serde_json::Value) -> MaasMachine {
        let mut labels = json!({"cluster.x-k8s.io/cluster-name": m.spec.cluster_name});
        if m.is_control_plane() {
            labels["cluster.x-k8s.io/control-plane"] = json!("");
        }
        let mm: MaasMachine = serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "MaasMachine",
            "metadata": {
                "name": m.name_any(),
                "labels": labels,
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
                    "name": m.name_any(), "uid": m.uid().unwrap(),
                    "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": spec,
        }))
        .unwrap();
        self.api::<MaasMachine>()
            .create(&PostParams::default(), &mm)
            .await
            .unwrap()
    }

    pub async fn set_bootstrap(&self, machine: &str, secret: &str) {
        self.api::<Machine>()
            .patch(
                machine,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"bootstrap": {"dataSecretName": secret}}})),
            )
            .await
            .unwrap();
    }

    pub async fn mm(&self, name: &str) -> Option<MaasMachine> {
        self.api::<MaasMachine>().get_opt(name).await.unwrap()
    }

    pub async fn mc(&self, name: &str) -> Option<MaasCluster> {
        self.api::<MaasCluster>().get_opt(name).await.unwrap()
    }

    /// Wait until `mm` satisfies `pred`; panics with the last status on timeout.
    pub async fn wait_mm(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        pred: impl Fn(&MaasMachine) -> bool,
    ) -> MaasMachine {
        let mut last = None;
        let limit = kube_testenv::scaled(Duration::from_secs(secs));
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(mm) = self.mm(name).await {
                if pred(&mm) {
                    return mm;
                }
                last = Some(mm);
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out after {limit:?} waiting for MaasMachine {name}: {what} (a slow machine \
             may set {}); last: {:#?}",
            kube_testenv::TIMEOUT_SCALE_ENV,
            last.map(|m| (m.spec, m.status))
        );
    }

    /// Records every version of MaasMachine `name` the apiserver shows (a
    /// watch sees each write), until the returned history is dropped.
    pub fn record_mm(&self, name: &str) -> History {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stream = watcher(
            self.api::<MaasMachine>(),
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        )
        .applied_objects();
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                if let Ok(mm) = item {
                    sink.lock().unwrap().push(mm);
                }
            }
        });
        History { seen, task }
    }

    pub async fn delete_mm(&self, name: &str) {
        self.api::<MaasMachine>()
            .delete(name, &Default::default())
            .await
            .unwrap();
    }
}

/// Logs to the test output when `RUST_LOG` is set (e.g.
/// `RUST_LOG=capmaas_controller=debug`), for diagnosing a failing test.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// The versions of one MaasMachine seen so far (see [`World::record_mm`]).
pub struct History {
    seen: std::sync::Arc<std::sync::Mutex<Vec<MaasMachine>>>,
    task: tokio::task::JoinHandle<()>,
}

impl History {
    pub fn versions(&self) -> Vec<MaasMachine> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Short timings for tests.
pub fn config(ns: &str, creds: Option<MaasCredentials>) -> ControllerConfig {
    ControllerConfig {
        namespace: Some(ns.to_owned()),
        default_credentials: creds,
        poll_interval: Duration::from_millis(200),
        error_backoff: Duration::from_millis(200),
        error_backoff_max: Duration::from_secs(2),
        cluster_delete_poll: Duration::from_millis(500),
        maas_request_timeout: Duration::from_secs(10),
        maas_retry: maas_api::RetryPolicy::none(),
        lifecycle: LifecycleConfig {
            deploy_poll_interval: Duration::from_secs(20),
            release_poll_interval: Duration::from_secs(20),
            steady_interval: Duration::from_secs(60),
            capacity_backoff: Duration::from_millis(500),
            capacity_backoff_max: Duration::from_secs(2),
            allocation_settle_time: Duration::from_secs(5),
            ..LifecycleConfig::default()
        },
        ..ControllerConfig::default()
    }
    .with_sync_period(Duration::from_secs(60))
}

pub fn creds(sim: &RunningSimulator) -> MaasCredentials {
    MaasCredentials::new(sim.endpoint(), sim.admin_api_key())
}

/// A Ready machine: 4 cores, 16 GiB, one 100 GB disk.
pub fn ready_machine(hostname: &str) -> maas_sim::MachineSpec {
    maas_sim::MachineSpec {
        hostname: Some(hostname.into()),
        cpu_count: Some(4),
        memory: Some(16384),
        ..Default::default()
    }
}

/// A simulator with `machines` identical Ready machines (`node-0`, ...).
pub async fn sim(machines: usize, version: MaasVersion, deploy_ms: u64) -> RunningSimulator {
    Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: (0..machines)
                .map(|i| ready_machine(&format!("node-{i}")))
                .collect(),
            ..Default::default()
        })
        .seed(42)
        .maas_version(version)
        .deploy_duration(Duration::from_millis(deploy_ms))
        .release_duration(Duration::from_millis(200))
        .erase_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .expect("start maas-sim")
}

pub fn condition<'a>(mm: &'a MaasMachine, type_: &str) -> Option<&'a capi_types::Condition> {
    mm.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn reason(mm: &MaasMachine, type_: &str) -> String {
    condition(mm, type_)
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

pub fn provisioned(mm: &MaasMachine) -> bool {
    mm.status
        .as_ref()
        .and_then(|s| s.initialization.as_ref())
        .and_then(|i| i.provisioned)
        == Some(true)
}

/// Machines in the sim carrying the owner marker of `mm`.
pub fn marked(sim: &RunningSimulator, mm: &MaasMachine) -> Vec<maas_sim::MachineState> {
    let marker = machine_lifecycle::OwnerMarker::new(
        mm.namespace().as_deref().unwrap_or(""),
        mm.name_any(),
        mm.uid().unwrap(),
    )
    .unwrap()
    .render();
    sim.control()
        .machines()
        .into_iter()
        .filter(|m| {
            m.agent_name == marker
                || m.workload_annotations
                    .get(machine_lifecycle::ANNOTATION_OWNER)
                    == Some(&marker)
        })
        .collect()
}

pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let limit = kube_testenv::scaled(Duration::from_secs(secs));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out after {limit:?}: {what} (a slow machine may set {})",
        kube_testenv::TIMEOUT_SCALE_ENV
    );
}

/// Waits until the controller has not reconciled anything for `quiet`
/// (nothing left to do until something changes), at most `secs` (scaled).
pub async fn settled(ctrl: &ManagerHandle, quiet: Duration, secs: u64) {
    let metrics = ctrl.metrics();
    let limit = kube_testenv::scaled(Duration::from_secs(secs));
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = metrics.reconciles_total();
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = metrics.reconciles_total();
        if now != last {
            last = now;
            since = tokio::time::Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the controller kept reconciling for {limit:?} ({last} reconciles); nothing \
             settled (a slow machine may set {})",
            kube_testenv::TIMEOUT_SCALE_ENV
        );
    }
}
