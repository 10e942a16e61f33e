//! The workload cluster's Node providerID: a SECOND real kube-apiserver
//! (its own `TestEnv::start`) plays the workload cluster. Its kubeconfig goes
//! into `<cluster>-kubeconfig` (key `value`) as CAPI writes it; Nodes are
//! created by the test (no kubelet), named like the MAAS hostname.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use capmaas_controller::ControllerConfig;
use capmaas_controller::workload::{
    NODE_PROVIDER_ID_SET, REASON_PROVIDER_ID_CONFLICT, REASON_PROVIDER_ID_SET,
    REASON_WAITING_FOR_NODE, REASON_WORKLOAD_API_UNAVAILABLE,
};
use common::*;
use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kube_testenv::TestEnv;
use maas_sim::{MaasVersion, NodeStatus, RunningSimulator, Simulator};
use serde_json::json;
use tokio::sync::OnceCell;

/// The workload cluster, one per test binary (Nodes are named per test).
static WORKLOAD: OnceCell<TestEnv> = OnceCell::const_new();

async fn workload() -> &'static TestEnv {
    WORKLOAD
        .get_or_init(|| async {
            TestEnv::start(kube_testenv::Options::default())
                .await
                .expect("start the workload cluster's apiserver")
        })
        .await
}

fn kubeconfig_text(env: &TestEnv) -> String {
    std::fs::read_to_string(env.kubeconfig_path()).unwrap()
}

async fn kubeconfig_secret(w: &World, cluster: &str, text: &str) {
    w.secret(
        &format!("{cluster}-kubeconfig"),
        BTreeMap::from([("value", text.as_bytes())]),
    )
    .await;
}

async fn node(client: &Client, name: &str, provider_id: Option<&str>) -> Node {
    let mut spec = json!({});
    if let Some(p) = provider_id {
        spec["providerID"] = json!(p);
    }
    let n: Node =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await
        .unwrap()
}

async fn node_provider_id(client: &Client, name: &str) -> Option<String> {
    Api::<Node>::all(client.clone())
        .get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.provider_id)
}

/// A sim whose Ready machines have exactly these hostnames.
async fn sim_with(hostnames: &[&str]) -> RunningSimulator {
    Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: hostnames.iter().map(|h| ready_machine(h)).collect(),
            ..Default::default()
        })
        .seed(7)
        .maas_version(MaasVersion::V3_6)
        .deploy_duration(Duration::from_millis(300))
        .release_duration(Duration::from_millis(200))
        .erase_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .expect("start maas-sim")
}

/// Short workload timings.
fn wl_config(w: &World, sim: &RunningSimulator) -> ControllerConfig {
    ControllerConfig {
        workload_timeout: Duration::from_secs(1),
        workload_retry: Duration::from_millis(200),
        workload_retry_max: Duration::from_secs(2),
        ..config(&w.name(), Some(creds(sim)))
    }
}

async fn setup(w: &World, cluster: &str) {
    let c = w.cluster(cluster, true).await;
    w.maas_cluster(&c, json!({"dnsDomain": "maas"})).await;
}

async fn add_machine(w: &World, cluster: &str, name: &str) {
    w.machine(
        cluster,
        name,
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy", "minCPU": 1, "minMemory": 1024}),
    )
    .await;
}

fn has_condition(mm: &capi_types::MaasMachine, status: &str, reason: &str) -> bool {
    condition(mm, NODE_PROVIDER_ID_SET).is_some_and(|c| c.status == status && c.reason == reason)
}

async fn events(w: &World, reason: &str) -> Vec<Event> {
    w.api::<Event>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_the_provider_id_of_the_node_named_like_the_maas_hostname() {
    let wl = workload().await;
    let wc = wl.client().unwrap();
    let w = World::new("wl-set").await;
    let sim = sim_with(&["wl-set-0"]).await;
    setup(&w, "c1").await;
    kubeconfig_secret(&w, "c1", &kubeconfig_text(wl)).await;
    node(&wc, "wl-set-0", None).await;
    add_machine(&w, "c1", "m0").await;
    let ctrl = w.controller_with(wl_config(&w, &sim));

    let mm = w
        .wait_mm("m0", 60, "NodeProviderIDSet=True", |mm| {
            has_condition(mm, "True", REASON_PROVIDER_ID_SET)
        })
        .await;
    let pid = mm.spec.provider_id.clone().unwrap();
    assert!(pid.starts_with("maas:///"), "{pid}");
    assert_eq!(
        node_provider_id(&wc, "wl-set-0").await.as_deref(),
        Some(pid.as_str())
    );
    assert!(provisioned(&mm));
    eventually(10, "a NodeProviderIDSet event", || async {
        !events(&w, "NodeProviderIDSet").await.is_empty()
    })
    .await;
    let text = ctrl.metrics().encode();
    assert!(
        text.contains(r#"capmaas_workload_node_syncs_total{result="set"} 1"#),
        "{text}"
    );
    assert!(text.contains("capmaas_workload_clients 1"), "{text}");
    assert_eq!(ctrl.context().workload.len(), 1);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_appears_late_gets_its_provider_id() {
    let wl = workload().await;
    let wc = wl.client().unwrap();
    let w = World::new("wl-late").await;
    let sim = sim_with(&["wl-late-0"]).await;
    setup(&w, "c1").await;
    kubeconfig_secret(&w, "c1", &kubeconfig_text(wl)).await;
    add_machine(&w, "c1", "m0").await;
    let ctrl = w.controller_with(wl_config(&w, &sim));

    let mm = w
        .wait_mm("m0", 60, "WaitingForNode", |mm| {
            has_condition(mm, "False", REASON_WAITING_FOR_NODE)
        })
        .await;
    let message = &condition(&mm, NODE_PROVIDER_ID_SET).unwrap().message;
    assert!(message.contains("wl-late-0"), "{message}");
    // Provisioned and Ready regardless: the Node is the workload's business.
    assert!(provisioned(&mm));
    assert_eq!(condition(&mm, "Ready").unwrap().status, "True");
    // kubelet registers late (as the FQDN, as some setups name Nodes).
    let maas = maas_api::MaasClient::new(
        maas_api::ClientConfig::new(&sim.endpoint(), sim.admin_api_key()).unwrap(),
    )
    .unwrap();
    let fqdn = maas_api::MaasApi::read_machine(&maas, mm.spec.system_id.as_deref().unwrap())
        .await
        .unwrap()
        .fqdn;
    assert!(fqdn.starts_with("wl-late-0."), "{fqdn}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    node(&wc, &fqdn, None).await;
    let mm = w
        .wait_mm(
            "m0",
            20,
            "NodeProviderIDSet=True after the Node appeared",
            |mm| has_condition(mm, "True", REASON_PROVIDER_ID_SET),
        )
        .await;
    assert_eq!(
        node_provider_id(&wc, &fqdn).await,
        mm.spec.provider_id.clone()
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_provider_id_is_never_overwritten() {
    let wl = workload().await;
    let wc = wl.client().unwrap();
    let w = World::new("wl-conflict").await;
    let sim = sim_with(&["wl-conflict-0"]).await;
    setup(&w, "c1").await;
    kubeconfig_secret(&w, "c1", &kubeconfig_text(wl)).await;
    node(&wc, "wl-conflict-0", Some("other:///somewhere/else")).await;
    add_machine(&w, "c1", "m0").await;
    let ctrl = w.controller_with(wl_config(&w, &sim));

    let mm = w
        .wait_mm("m0", 60, "ProviderIDConflict", |mm| {
            has_condition(mm, "False", REASON_PROVIDER_ID_CONFLICT)
        })
        .await;
    let message = &condition(&mm, NODE_PROVIDER_ID_SET).unwrap().message;
    assert!(message.contains("other:///somewhere/else"), "{message}");
    assert!(provisioned(&mm));
    eventually(10, "a NodeProviderIDConflict warning", || async {
        events(&w, "NodeProviderIDConflict")
            .await
            .iter()
            .any(|e| e.type_.as_deref() == Some("Warning"))
    })
    .await;
    // It is re-checked, and still left alone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        node_provider_id(&wc, "wl-conflict-0").await.as_deref(),
        Some("other:///somewhere/else")
    );
    assert!(ctrl.metrics().workload_syncs("conflict") >= 2);
    assert_eq!(ctrl.metrics().workload_syncs("set"), 0);
    ctrl.shutdown().await;
}

/// Accepts TCP connections and never answers: the worst dead API (no
/// refused connection to fail fast on).
async fn black_hole() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workload_api_does_not_hold_the_management_reconcile() {
    let wl = workload().await;
    let wc = wl.client().unwrap();
    let w = World::new("wl-dead").await;
    let sim = sim_with(&["wl-dead-0", "wl-dead-1"]).await;
    setup(&w, "c1").await;
    let (addr, hole) = black_hole().await;
    let dead = kubeconfig_text(wl).replace(wl.apiserver_url(), &format!("https://{addr}"));
    assert_ne!(dead, kubeconfig_text(wl));
    kubeconfig_secret(&w, "c1", &dead).await;
    add_machine(&w, "c1", "m0").await;
    add_machine(&w, "c1", "m1").await;
    let ctrl = w.controller_with(wl_config(&w, &sim));

    // Both provision as usual and report the workload API.
    let started = Instant::now();
    for name in ["m0", "m1"] {
        let mm = w
            .wait_mm(name, 60, "provisioned, workload API unavailable", |mm| {
                provisioned(mm) && has_condition(mm, "False", REASON_WORKLOAD_API_UNAVAILABLE)
            })
            .await;
        assert_eq!(condition(&mm, "Ready").unwrap().status, "True");
    }
    let took = started.elapsed();
    // Deletion is not held either: released in MAAS, finalizer gone.
    let m0 = w.mm("m0").await.unwrap();
    let id = m0.spec.system_id.clone().unwrap();
    let start = Instant::now();
    w.delete_mm("m0").await;
    eventually(30, "m0 deleted", || async { w.mm("m0").await.is_none() }).await;
    let delete_took = start.elapsed();
    assert_eq!(
        sim.control().machine(&id).unwrap().status,
        NodeStatus::Ready
    );
    assert!(
        delete_took < kube_testenv::scaled(Duration::from_secs(15)),
        "deletion took {delete_took:?} (provisioning took {took:?})"
    );
    // The dead cluster is in back-off: most syncs make no request.
    assert!(ctrl.metrics().workload_syncs("unavailable") >= 1);

    // The Secret changes (the API moved): the cached client is rebuilt and
    // the Node gets its providerID.
    let m1 = w.mm("m1").await.unwrap();
    let host = m1.status.as_ref().unwrap().hostname.clone().unwrap();
    node(&wc, &host, None).await;
    w.api::<Secret>()
        .patch(
            "c1-kubeconfig",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"value": kubeconfig_text(wl)}})),
        )
        .await
        .unwrap();
    let mm = w
        .wait_mm(
            "m1",
            30,
            "NodeProviderIDSet=True after the Secret changed",
            |mm| has_condition(mm, "True", REASON_PROVIDER_ID_SET),
        )
        .await;
    assert_eq!(node_provider_id(&wc, &host).await, mm.spec.provider_id);
    hole.abort();
    ctrl.shutdown().await;
}
