//! `clusterctl move` for real: two dedicated kube-apiservers (kube-testenv),
//! our controller in-process on each (the way the provider runs in both
//! management clusters), maas-sim as MAAS, and the real `clusterctl` v1.14
//! (`hack/release/tool.sh clusterctl`) moving a provisioned cluster — Cluster,
//! MaasCluster, Machines, MaasMachines, bootstrap Secrets and the
//! `credentialsRef` Secret — from the first to the second. Nothing is
//! allocated, deployed or released by the move; the target re-adopts the
//! machines and keeps managing the DNS record, scales (a new worker) and
//! deletes everything.
//!
//! What stands in for parts of a management cluster that are not here: no
//! CAPI core manager runs, so the test writes the statuses move checks
//! (`infrastructureProvisioned`, `ControlPlaneInitialized`, the Machines'
//! `nodeRef`), labels the CAPI CRDs `clusterctl.cluster.x-k8s.io` as
//! `clusterctl init` does, and installs a minimal `providers` CRD (the
//! clusterctl inventory, empty here) so that move can list providers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use capi_types::capi::{Cluster, Machine};
use capi_types::{MaasCluster, MaasMachine};
use capmaas_controller::{ControllerConfig, Manager, ManagerHandle};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use kube_testenv::{Options, TestEnv};
use maas_api::{ClientConfig, DnsResourceFilter, MaasClient};
use maas_sim::{MaasVersion, RunningSimulator, Simulator};
use machine_lifecycle::LifecycleConfig;
use serde_json::json;

const CLUSTER: &str = "c1";
const MACHINES: [(&str, bool); 2] = [("c1-cp0", true), ("c1-w0", false)];
const FQDN: &str = "c1.maas";

fn config(ns: &str) -> ControllerConfig {
    ControllerConfig {
        namespace: Some(ns.to_owned()),
        // No default credentials: MAAS is reached only through the
        // MaasCluster's credentialsRef Secret, which must move too.
        default_credentials: None,
        poll_interval: Duration::from_millis(200),
        error_backoff: Duration::from_millis(200),
        error_backoff_max: Duration::from_secs(2),
        cluster_delete_poll: Duration::from_millis(500),
        maas_request_timeout: Duration::from_secs(10),
        maas_retry: maas_api::RetryPolicy::none(),
        lifecycle: LifecycleConfig {
            deploy_poll_interval: Duration::from_secs(1),
            release_poll_interval: Duration::from_secs(1),
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

async fn simulator() -> RunningSimulator {
    Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: (0..3)
                .map(|i| maas_sim::MachineSpec {
                    hostname: Some(format!("node-{i}")),
                    cpu_count: Some(4),
                    memory: Some(16384),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .seed(11)
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

/// The clusterctl inventory kind, reduced to what `move` reads (a list).
fn providers_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "providers.clusterctl.cluster.x-k8s.io"},
        "spec": {
            "group": "clusterctl.cluster.x-k8s.io",
            "names": {"kind": "Provider", "listKind": "ProviderList",
                      "plural": "providers", "singular": "provider"},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha3", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))
    .unwrap()
}

/// A management cluster: our CRDs, the CAPI CRDs labelled for clusterctl,
/// the inventory CRD.
async fn management_cluster() -> TestEnv {
    let env = TestEnv::start(Options::default()).await.unwrap();
    env.install_capi_crds().await.unwrap();
    env.install_crds(&capi_types::crds::all().unwrap())
        .await
        .unwrap();
    env.install_crds(&[providers_crd()]).await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(env.client().unwrap());
    for crd in crds.list(&ListParams::default()).await.unwrap() {
        let name = crd.name_any();
        if name.ends_with(".cluster.x-k8s.io")
            && !crd.labels().contains_key("clusterctl.cluster.x-k8s.io")
        {
            crds.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"clusterctl.cluster.x-k8s.io": ""}}})),
            )
            .await
            .unwrap();
        }
    }
    env
}

fn api<K>(client: &Client, ns: &str) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    Api::namespaced(client.clone(), ns)
}

async fn create<K>(client: &Client, ns: &str, value: serde_json::Value) -> K
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
    <K as kube::Resource>::DynamicType: Default,
{
    let obj: K = serde_json::from_value(value).unwrap();
    api::<K>(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap()
}

async fn patch_status<K>(client: &Client, ns: &str, name: &str, status: serde_json::Value)
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    <K as kube::Resource>::DynamicType: Default,
{
    api::<K>(client, ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
}

/// The user's objects, as a user and CAPI core would have made them.
async fn create_cluster(client: &Client, ns: &str, sim: &RunningSimulator) {
    let key = sim.admin_api_key();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("maas-creds".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([
            ("endpoint".to_owned(), sim.endpoint()),
            ("apiKey".to_owned(), key.to_string()),
        ])),
        ..Default::default()
    };
    api::<Secret>(client, ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let cluster: Cluster = create(
        client,
        ns,
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": CLUSTER},
            "spec": {"infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": CLUSTER}}
        }),
    )
    .await;
    let _: MaasCluster = create(
        client,
        ns,
        json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
            "metadata": {"name": CLUSTER, "labels": {"cluster.x-k8s.io/cluster-name": CLUSTER},
                "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                    "name": CLUSTER, "uid": cluster.uid().unwrap(),
                    "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"dnsDomain": "maas", "credentialsRef": {"name": "maas-creds"}}
        }),
    )
    .await;
}

async fn create_machines(client: &Client, ns: &str) {
    for (name, cp) in MACHINES {
        create_machine(client, ns, name, cp).await;
    }
}

/// A Machine (owned by the Cluster, as CAPI core makes it: move follows
/// owner references from the Cluster), its bootstrap Secret and its
/// MaasMachine.
async fn create_machine(client: &Client, ns: &str, name: &str, cp: bool) {
    let cluster = api::<Cluster>(client, ns).get(CLUSTER).await.unwrap();
    let owner = json!([{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "name": CLUSTER, "uid": cluster.uid().unwrap()}]);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{name}-bootstrap")),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([
            ("value".to_owned(), "#cloud-config\n".to_owned()),
            ("format".to_owned(), "cloud-config".to_owned()),
        ])),
        ..Default::default()
    };
    api::<Secret>(client, ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut labels = json!({"cluster.x-k8s.io/cluster-name": CLUSTER});
    if cp {
        labels["cluster.x-k8s.io/control-plane"] = json!("");
    }
    let m: Machine = create(
        client,
        ns,
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
            "metadata": {"name": name, "labels": labels, "ownerReferences": owner},
            "spec": {"clusterName": CLUSTER,
                "bootstrap": {"dataSecretName": format!("{name}-bootstrap")},
                "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                    "kind": "MaasMachine", "name": name}}
        }),
    )
    .await;
    let _: MaasMachine = create(
        client,
        ns,
        json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
            "metadata": {"name": name, "labels": labels,
                "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
                    "name": name, "uid": m.uid().unwrap(),
                    "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"image": "jammy"}
        }),
    )
    .await;
}

async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let limit = kube_testenv::scaled(Duration::from_secs(secs));
    let deadline = tokio::time::Instant::now() + limit;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?}: {what} (a slow machine may set {})",
            kube_testenv::TIMEOUT_SCALE_ENV
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn provisioned(mm: &MaasMachine) -> bool {
    mm.status
        .as_ref()
        .and_then(|s| s.initialization.as_ref())
        .and_then(|i| i.provisioned)
        == Some(true)
}

fn dns_managed(mc: &MaasCluster) -> bool {
    mc.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == "ControlPlaneEndpointReady"
                && c.status == "True"
                && c.reason == "DNSResourceReady"
        })
    })
}

async fn machines_provisioned(
    client: &Client,
    ns: &str,
    count: usize,
) -> Option<BTreeMap<String, String>> {
    let list = api::<MaasMachine>(client, ns)
        .list(&ListParams::default())
        .await
        .ok()?
        .items;
    (list.len() == count && list.iter().all(provisioned)).then(|| {
        list.iter()
            .map(|mm| (mm.name_any(), mm.spec.system_id.clone().unwrap_or_default()))
            .collect()
    })
}

/// Waits until every MaasMachine is provisioned; their system ids.
async fn wait_machines(
    client: &Client,
    ns: &str,
    count: usize,
    what: &str,
) -> BTreeMap<String, String> {
    let limit = kube_testenv::scaled(Duration::from_secs(60));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(ids) = machines_provisioned(client, ns, count).await {
            return ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?}: {what} (a slow machine may set {})",
            kube_testenv::TIMEOUT_SCALE_ENV
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dns(sim: &RunningSimulator) -> Option<(i64, BTreeSet<String>, Vec<String>)> {
    let maas =
        MaasClient::new(ClientConfig::new(&sim.endpoint(), sim.admin_api_key()).unwrap()).unwrap();
    maas.list_dns_resources(&DnsResourceFilter {
        fqdn: Some(FQDN.into()),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_iter()
    .find(|d| d.fqdn == FQDN)
    .map(|d| {
        (
            d.id,
            d.ips().into_iter().map(str::to_owned).collect(),
            d.records_of("TXT").into_iter().map(str::to_owned).collect(),
        )
    })
}

/// MAAS calls that change machines: allocate, deploy, release.
fn machine_writes(sim: &RunningSimulator) -> BTreeMap<String, u64> {
    sim.control()
        .counters()
        .by_action
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k.contains("allocate") || k.contains("deploy") || k.contains("release")
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

async fn stop(handle: ManagerHandle) {
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusterctl_move_keeps_machines_dns_and_credentials() {
    // Resolve (or build) clusterctl before starting anything else.
    common::clusterctl_bin();
    let (source, target) = tokio::join!(management_cluster(), management_cluster());
    let sim = simulator().await;
    let ns_handle = source.namespace("move").await.unwrap();
    let ns = ns_handle.name().to_owned();
    let src = ns_handle.client();
    let dst = target.client().unwrap();

    let src_ctrl = Manager::new(src.clone(), config(&ns)).spawn();
    let dst_ctrl = Manager::new(dst.clone(), config(&ns)).spawn();

    create_cluster(&src, &ns, &sim).await;
    eventually(
        40,
        "MaasCluster provisioned with its DNS record",
        || async {
            api::<MaasCluster>(&src, &ns)
                .get_opt(CLUSTER)
                .await
                .ok()
                .flatten()
                .is_some_and(|mc| dns_managed(&mc))
        },
    )
    .await;
    patch_status::<Cluster>(
        &src,
        &ns,
        CLUSTER,
        json!({"initialization": {"infrastructureProvisioned": true}}),
    )
    .await;
    create_machines(&src, &ns).await;
    let before = wait_machines(&src, &ns, MACHINES.len(), "both MaasMachines provisioned").await;
    let cp_ip = {
        let id = &before["c1-cp0"];
        sim.control().machine(id).unwrap().ip_addresses[0].clone()
    };
    eventually(30, "the DNS record holds the control plane", || async {
        dns(&sim)
            .await
            .is_some_and(|(_, ips, _)| ips == BTreeSet::from([cp_ip.clone()]))
    })
    .await;
    let (dns_id, _, txt) = dns(&sim).await.unwrap();
    assert_eq!(txt, vec![format!("capmaas-cluster={ns}/{CLUSTER}")]);
    // What move checks before it starts (CAPI core would set these).
    patch_status::<Cluster>(
        &src,
        &ns,
        CLUSTER,
        json!({"conditions": [{"type": "ControlPlaneInitialized", "status": "True",
            "reason": "Initialized", "message": "",
            "lastTransitionTime": "2026-12-04T00:00:00Z"}]}),
    )
    .await;
    for (name, _) in MACHINES {
        patch_status::<Machine>(&src, &ns, name, json!({"nodeRef": {"name": name}})).await;
    }
    eventually(20, "the credentials Secret labelled for move", || async {
        api::<Secret>(&src, &ns)
            .get("maas-creds")
            .await
            .is_ok_and(|s| s.labels().contains_key("clusterctl.cluster.x-k8s.io/move"))
    })
    .await;
    let writes = machine_writes(&sim);

    // The move itself, by the real clusterctl.
    let from = source.kubeconfig_path().to_str().unwrap().to_owned();
    let to = target.kubeconfig_path().to_str().unwrap().to_owned();
    let ns_arg = ns.clone();
    let moved = tokio::task::spawn_blocking(move || {
        common::clusterctl(
            &[
                "move",
                "--kubeconfig",
                &from,
                "--to-kubeconfig",
                &to,
                "--namespace",
                &ns_arg,
            ],
            &[],
        )
    })
    .await
    .unwrap();
    match moved {
        Ok(out) => eprintln!("clusterctl move: {out}"),
        Err(e) => panic!("{e}"),
    }

    // The source has nothing left, and released nothing.
    assert!(
        api::<MaasMachine>(&src, &ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        api::<MaasCluster>(&src, &ns)
            .get_opt(CLUSTER)
            .await
            .unwrap()
            .is_none()
    );
    // The target has everything, the credentials Secret included.
    let secret = api::<Secret>(&dst, &ns).get("maas-creds").await.unwrap();
    assert!(
        secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key("apiKey"))
    );
    let cluster = api::<Cluster>(&dst, &ns).get(CLUSTER).await.unwrap();
    assert_ne!(cluster.spec.paused, Some(true), "move unpauses the target");
    // The target's controller re-adopts: same machines, DNS still managed.
    let after = wait_machines(
        &dst,
        &ns,
        MACHINES.len(),
        "the moved MaasMachines provisioned again",
    )
    .await;
    assert_eq!(after, before, "the same MAAS machines");
    eventually(
        40,
        "the moved MaasCluster manages the DNS record",
        || async {
            api::<MaasCluster>(&dst, &ns)
                .get_opt(CLUSTER)
                .await
                .ok()
                .flatten()
                .is_some_and(|mc| dns_managed(&mc))
        },
    )
    .await;
    let (id, ips, _) = dns(&sim).await.unwrap();
    assert_eq!((id, ips), (dns_id, BTreeSet::from([cp_ip.clone()])));
    assert_eq!(
        machine_writes(&sim),
        writes,
        "nothing allocated, deployed or released by the move"
    );

    // Scaling on the target: one more worker is allocated and deployed
    // there, by the target's controller through the moved credentials
    // (once core — here the test — has copied the provisioned MaasCluster
    // to the moved Cluster's status, which move does not carry).
    patch_status::<Cluster>(
        &dst,
        &ns,
        CLUSTER,
        json!({"initialization": {"infrastructureProvisioned": true}}),
    )
    .await;
    create_machine(&dst, &ns, "c1-w1", false).await;
    let scaled = wait_machines(&dst, &ns, 3, "the new worker provisioned on the target").await;
    assert_eq!(scaled.len(), 3);
    assert!(
        !before.values().any(|id| *id == scaled["c1-w1"]),
        "a machine of its own"
    );

    // Deleting on the target: machines released, the record goes.
    for name in scaled.keys() {
        api::<MaasMachine>(&dst, &ns)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    api::<MaasCluster>(&dst, &ns)
        .delete(CLUSTER, &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "MaasCluster gone on the target", || async {
        api::<MaasCluster>(&dst, &ns)
            .get_opt(CLUSTER)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert_eq!(dns(&sim).await, None, "the record went with the cluster");
    for id in scaled.values() {
        let m = sim.control().machine(id).unwrap();
        assert_eq!(m.owner, None, "{id} released");
    }
    stop(src_ctrl).await;
    stop(dst_ctrl).await;
}
