//! MaasCluster and MaasMachineTemplate reconcilers, credentials, admission.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use capi_types::{MaasCluster, MaasMachineTemplate};
use common::*;
use kube::ResourceExt;
use kube::api::PostParams;
use maas_api::{ClientConfig, DnsResourceFilter, MaasClient};
use maas_sim::{MaasVersion, RunningSimulator};
use serde_json::json;

fn mc_provisioned(mc: &MaasCluster) -> bool {
    mc.status
        .as_ref()
        .and_then(|s| s.initialization.as_ref())
        .and_then(|i| i.provisioned)
        == Some(true)
}

fn mc_reason(mc: &MaasCluster, t: &str) -> String {
    mc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == t))
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

async fn wait_mc(
    w: &World,
    name: &str,
    secs: u64,
    what: &str,
    pred: impl Fn(&MaasCluster) -> bool,
) -> MaasCluster {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        if let Some(mc) = w.mc(name).await {
            if pred(&mc) {
                return mc;
            }
            last = Some(mc);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for MaasCluster {name}: {what}; last: {:#?}",
        last.map(|m| (m.spec, m.status))
    );
}

async fn dns_ips(sim: &RunningSimulator, fqdn: &str) -> Option<BTreeSet<String>> {
    let maas =
        MaasClient::new(ClientConfig::new(&sim.endpoint(), sim.admin_api_key()).unwrap()).unwrap();
    let list = maas
        .list_dns_resources(&DnsResourceFilter {
            fqdn: Some(fqdn.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    list.into_iter()
        .find(|d| d.fqdn == fqdn)
        .map(|d| d.ips().into_iter().map(str::to_owned).collect())
}

fn ip_of(sim: &RunningSimulator, mm: &capi_types::MaasMachine) -> String {
    sim.control()
        .machine(mm.spec.system_id.as_deref().unwrap())
        .unwrap()
        .ip_addresses[0]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_endpoint_follows_ready_control_plane_and_goes_with_the_cluster() {
    let w = World::new("dns").await;
    let sim = sim(3, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", false).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mc = wait_mc(&w, "c1", 30, "provisioned", mc_provisioned).await;
    let ep = mc.spec.control_plane_endpoint.clone().unwrap();
    assert_eq!((ep.host.as_str(), ep.port), ("c1.maas", 6443));
    assert_eq!(
        mc.status
            .as_ref()
            .unwrap()
            .network
            .as_ref()
            .unwrap()
            .dns_name
            .as_deref(),
        Some("c1.maas")
    );
    assert_eq!(mc_reason(&mc, "Ready"), "Ready");
    assert_eq!(
        mc.status
            .as_ref()
            .unwrap()
            .failure_domains
            .iter()
            .map(|f| (f.name.clone(), f.control_plane))
            .collect::<Vec<_>>(),
        vec![("default".to_owned(), Some(true))]
    );
    assert!(
        dns_ips(&sim, "c1.maas").await.is_some(),
        "DNS record created"
    );
    w.set_cluster_provisioned("c1").await;

    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    w.machine(
        "c1",
        "cp1",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let cp0 = w.wait_mm("cp0", 60, "provisioned", provisioned).await;
    let cp1 = w.wait_mm("cp1", 60, "provisioned", provisioned).await;
    let w0 = w.wait_mm("w0", 60, "provisioned", provisioned).await;
    let both: BTreeSet<String> = [ip_of(&sim, &cp0), ip_of(&sim, &cp1)].into();
    eventually(
        30,
        "DNS holds both control-plane IPs (not the worker's)",
        || {
            let both = both.clone();
            let sim = &sim;
            async move { dns_ips(sim, "c1.maas").await == Some(both) }
        },
    )
    .await;
    assert!(
        !dns_ips(&sim, "c1.maas")
            .await
            .unwrap()
            .contains(&ip_of(&sim, &w0))
    );

    w.delete_mm("cp0").await;
    let only: BTreeSet<String> = [ip_of(&sim, &cp1)].into();
    eventually(30, "DNS follows: cp0 removed", || {
        let only = only.clone();
        let sim = &sim;
        async move { dns_ips(sim, "c1.maas").await == Some(only) }
    })
    .await;

    // Deleting the cluster waits for its MaasMachines.
    w.api::<MaasCluster>()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    wait_mc(&w, "c1", 30, "Deleting, waiting for machines", |mc| {
        mc_reason(mc, "Ready") == "Deleting"
    })
    .await;
    assert!(w.mc("c1").await.is_some());
    // The last control-plane machine going away: the controller never
    // writes an empty IP set (MAAS itself drops the released machine's
    // address from the record).
    let updates = || {
        sim.control()
            .counters()
            .by_action
            .get("DNSResourceHandler.update")
            .copied()
    };
    let before = updates();
    w.delete_mm("cp1").await;
    eventually(30, "cp1 gone", || async { w.mm("cp1").await.is_none() }).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        updates(),
        before,
        "no DNS update without a ready control-plane machine"
    );
    w.delete_mm("w0").await;
    eventually(30, "MaasCluster gone", || async {
        w.mc("c1").await.is_none()
    })
    .await;
    assert_eq!(
        dns_ips(&sim, "c1.maas").await,
        None,
        "DNS record deleted with the cluster"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_takes_the_clusters_api_server_port() {
    let w = World::new("apiport").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    let cluster: capi_types::capi::Cluster = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": "c1"},
        "spec": {
            "clusterNetwork": {"apiServerPort": 8443},
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": "c1"}}
    }))
    .unwrap();
    let cluster = w
        .api::<capi_types::capi::Cluster>()
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    assert_eq!(
        cluster
            .spec
            .cluster_network
            .as_ref()
            .and_then(|n| n.api_server_port),
        Some(8443),
        "CAPI's CRD keeps the field"
    );
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mc = wait_mc(&w, "c1", 30, "provisioned", mc_provisioned).await;
    let ep = mc.spec.control_plane_endpoint.clone().unwrap();
    assert_eq!((ep.host.as_str(), ep.port), ("c1.maas", 8443));
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_credentials_secret_is_labelled_for_move_never_owned() {
    use k8s_openapi::api::core::v1::Secret;
    let w = World::new("movelabel").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    w.credentials_secret("shared", &sim).await;
    for c in ["ca", "cb"] {
        let cluster = w.cluster(c, false).await;
        w.maas_cluster(
            &cluster,
            json!({"dnsDomain": "maas", "credentialsRef": {"name": "shared"}}),
        )
        .await;
    }
    let ctrl = w.controller(None);
    for c in ["ca", "cb"] {
        wait_mc(&w, c, 30, "provisioned", mc_provisioned).await;
    }
    let secret = w.api::<Secret>().get("shared").await.unwrap();
    let labels = secret.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get(machine_lifecycle::CLUSTERCTL_MOVE_LABEL)
            .map(String::as_str),
        Some(""),
        "{labels:?}"
    );
    assert!(
        secret
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "a user's Secret, possibly shared: never owned by a MaasCluster"
    );
    assert!(
        secret.data.unwrap().contains_key("apiKey"),
        "data untouched"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cluster_uses_its_own_credentials() {
    let w = World::new("creds").await;
    let sim_a = sim(2, MaasVersion::V3_6, 300).await;
    let sim_b = sim(2, MaasVersion::V3_7, 300).await;
    w.credentials_secret("maas-a", &sim_a).await;
    w.credentials_secret("maas-b", &sim_b).await;
    for (c, secret) in [("ca", "maas-a"), ("cb", "maas-b")] {
        let cluster = w.cluster(c, true).await;
        w.maas_cluster(
            &cluster,
            json!({"dnsDomain": "maas", "credentialsRef": {"name": secret}}),
        )
        .await;
        w.machine(
            c,
            &format!("{c}-w0"),
            false,
            Some(b"#cloud-config\n"),
            json!({"image": "jammy"}),
        )
        .await;
    }
    // No default credentials at all.
    let ctrl = w.controller(None);
    let a = w.wait_mm("ca-w0", 60, "provisioned", provisioned).await;
    let b = w.wait_mm("cb-w0", 60, "provisioned", provisioned).await;
    assert_eq!(marked(&sim_a, &a).len(), 1);
    assert!(marked(&sim_b, &a).is_empty());
    assert_eq!(marked(&sim_b, &b).len(), 1);
    assert!(marked(&sim_a, &b).is_empty());
    assert!(dns_ips(&sim_a, "ca.maas").await.is_some());
    assert!(dns_ips(&sim_b, "cb.maas").await.is_some());
    assert!(dns_ips(&sim_a, "cb.maas").await.is_none());
    assert_eq!(
        ctrl.context().clients.len(),
        2,
        "one cached client per endpoint and key"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_zone_is_a_clear_condition_until_fixed() {
    let w = World::new("zones").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", false).await;
    w.maas_cluster(
        &cluster,
        json!({"dnsDomain": "maas", "failureDomains": ["nope"]}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mc = wait_mc(&w, "c1", 30, "UnknownFailureDomain", |mc| {
        mc_reason(mc, "FailureDomainsReady") == "UnknownFailureDomain"
    })
    .await;
    let msg = mc
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "FailureDomainsReady")
        .unwrap()
        .message
        .clone();
    assert!(msg.contains("nope") && msg.contains("default"), "{msg}");
    assert!(!mc_provisioned(&mc));
    w.api::<MaasCluster>()
        .patch(
            "c1",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"spec": {"failureDomains": ["default"]}})),
        )
        .await
        .unwrap();
    wait_mc(&w, "c1", 30, "provisioned", mc_provisioned).await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_domain_maas_does_not_have_is_a_condition_with_maas_text() {
    let w = World::new("dnsdom").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    // What MAAS answers for a record in a domain it does not have.
    sim.control()
        .add_scripted_fault(maas_sim::ScriptedFault::Respond {
            op: "DNSResourcesHandler.read".into(),
            count: 100_000,
            status: 404,
            body: "No Domain matches the given query.".into(),
            content_type: None,
            retry_after: None,
        });
    let cluster = w.cluster("c1", false).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mc = wait_mc(&w, "c1", 30, "DNSDomainNotFound", |mc| {
        mc_reason(mc, "ControlPlaneEndpointReady") == "DNSDomainNotFound"
    })
    .await;
    let cond = mc
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "ControlPlaneEndpointReady")
        .unwrap()
        .clone();
    assert!(
        cond.message.contains("No Domain matches the given query.")
            && cond.message.contains("c1.maas"),
        "{}",
        cond.message
    );
    assert_eq!(mc_reason(&mc, "Ready"), "DNSDomainNotFound");
    assert!(!mc_provisioned(&mc));
    // Backing off, not looping (the error policy's back-off: 200 ms doubling to 2 s).
    sim.control().clear_requests();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let dns = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.path.contains("dnsresources"))
        .count();
    assert!(dns <= 12, "{dns} DNS requests in 6 s");
    // MAAS has the domain again: the record is made, the cluster provisioned.
    sim.control().clear_faults();
    wait_mc(&w, "c1", 30, "provisioned", mc_provisioned).await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn externally_managed_clusters_are_left_alone_and_templates_get_capacity() {
    let w = World::new("misc").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", false).await;
    let mut mc: MaasCluster = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
        "metadata": {"name": "c1", "annotations": {"cluster.x-k8s.io/managed-by": "someone-else"}},
        "spec": {"dnsDomain": "maas"}}))
    .unwrap();
    mc.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "cluster.x-k8s.io/v1beta2".into(),
            kind: "Cluster".into(),
            name: "c1".into(),
            uid: cluster.uid().unwrap(),
            ..Default::default()
        },
    ]);
    w.api::<MaasCluster>()
        .create(&PostParams::default(), &mc)
        .await
        .unwrap();
    let t: MaasMachineTemplate = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachineTemplate",
        "metadata": {"name": "workers"},
        "spec": {"template": {"spec": {"image": "jammy", "minCPU": 4, "minMemory": 8192, "architecture": "arm64/generic"}}}})).unwrap();
    w.api::<MaasMachineTemplate>()
        .create(&PostParams::default(), &t)
        .await
        .unwrap();
    // An in-memory template asking for less than the floor (16 GiB by
    // default): its capacity is what the allocation will really ask for.
    let in_memory: MaasMachineTemplate = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachineTemplate",
        "metadata": {"name": "in-memory"},
        "spec": {"template": {"spec": {"image": "jammy", "minMemory": 4096, "ephemeral": true}}}}))
    .unwrap();
    w.api::<MaasMachineTemplate>()
        .create(&PostParams::default(), &in_memory)
        .await
        .unwrap();
    let ctrl = w.controller(Some(creds(&sim)));
    eventually(30, "in-memory template status", || async {
        let t = w
            .api::<MaasMachineTemplate>()
            .get("in-memory")
            .await
            .unwrap();
        t.status
            .is_some_and(|s| s.capacity.get("memory").map(|q| q.0.as_str()) == Some("16384Mi"))
    })
    .await;
    eventually(30, "template status", || async {
        let t = w.api::<MaasMachineTemplate>().get("workers").await.unwrap();
        t.status.is_some_and(|s| {
            s.capacity.get("cpu").map(|q| q.0.as_str()) == Some("4")
                && s.capacity.get("memory").map(|q| q.0.as_str()) == Some("8192Mi")
                && s.node_info.as_ref().and_then(|n| n.architecture)
                    == Some(capi_types::NodeArchitecture::Arm64)
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mc = w.mc("c1").await.unwrap();
    assert!(mc.status.is_none(), "externally managed: no status written");
    assert!(mc.finalizers().is_empty());
    assert!(dns_ips(&sim, "c1.maas").await.is_none());
    ctrl.shutdown().await;
}

#[tokio::test]
async fn the_apiserver_rejects_invalid_specs_with_our_messages() {
    let w = World::new("invalid").await;
    let mm: capi_types::MaasMachine = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
        "metadata": {"name": "bad"}, "spec": {"image": "jammy", "minMemory": 512}}))
    .unwrap();
    let err = w
        .api::<capi_types::MaasMachine>()
        .create(&PostParams::default(), &mm)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("minMemory is in MiB and must be between 1024 (1 GiB)"),
        "{err}"
    );
    let mc: MaasCluster = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
        "metadata": {"name": "bad"}, "spec": {"dnsDomain": "Not_A_Domain"}}))
    .unwrap();
    let err = w
        .api::<MaasCluster>()
        .create(&PostParams::default(), &mc)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("dnsDomain must be a lower-case DNS name"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_true_once_the_caches_are_synced_even_with_nothing_to_do() {
    // An empty namespace: no event ever wakes the controllers after their
    // initial lists, so readiness must not depend on being woken by one.
    let w = World::new("ready").await;
    let ctrl = w.controller(None);
    let readiness = ctrl.readiness();
    eventually(20, "ready after the caches synced", || {
        let r = readiness.clone();
        async move { r.is_ready() }
    })
    .await;
    ctrl.shutdown().await;
    assert!(!readiness.is_ready(), "not ready once stopped");
}
