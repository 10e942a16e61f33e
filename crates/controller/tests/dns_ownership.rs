//! The control-plane DNS record is ours only when its owner TXT record says
//! so: two clusters of one name in two namespaces, a record that was there
//! before, a MaasCluster re-created without status (as `clusterctl move`
//! does). Real apiserver, maas-sim, the controller in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use capi_types::MaasCluster;
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams};
use maas_api::{ClientConfig, DnsResource, DnsResourceFilter, DnsResourceParams, MaasClient};
use maas_sim::{MaasVersion, RunningSimulator};
use serde_json::json;

fn admin(sim: &RunningSimulator) -> MaasClient {
    MaasClient::new(ClientConfig::new(&sim.endpoint(), sim.admin_api_key()).unwrap()).unwrap()
}

async fn record(sim: &RunningSimulator, fqdn: &str) -> Option<DnsResource> {
    admin(sim)
        .list_dns_resources(&DnsResourceFilter {
            fqdn: Some(fqdn.into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.fqdn == fqdn)
}

fn txt(d: &DnsResource) -> Vec<String> {
    d.records_of("TXT").into_iter().map(str::to_owned).collect()
}

fn ips(d: &DnsResource) -> BTreeSet<String> {
    d.ips().into_iter().map(str::to_owned).collect()
}

fn endpoint_condition(mc: &MaasCluster) -> Option<(String, String, String)> {
    mc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "ControlPlaneEndpointReady")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_mc(
    w: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&MaasCluster) -> bool,
) -> MaasCluster {
    let limit = kube_testenv::scaled(Duration::from_secs(40));
    let deadline = tokio::time::Instant::now() + limit;
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
        "timed out after {limit:?} waiting for MaasCluster {name}: {what}; last: {:#?}",
        last.map(|m| (m.spec, m.status))
    );
}

fn managed(mc: &MaasCluster) -> bool {
    endpoint_condition(mc).is_some_and(|(s, r, _)| s == "True" && r == "DNSResourceReady")
}

fn not_ours(mc: &MaasCluster) -> bool {
    endpoint_condition(mc).is_some_and(|(s, r, _)| s == "False" && r == "DNSRecordNotOurs")
}

async fn delete_mc(w: &World, name: &str) {
    w.api::<MaasCluster>()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "MaasCluster gone", || async {
        w.mc(name).await.is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_of_one_name_in_two_namespaces_never_share_the_record() {
    let sim = sim(0, MaasVersion::V3_6, 300).await;
    let a = World::new("dns-a").await;
    let b = World::new("dns-b").await;
    let ca = a.cluster("c1", false).await;
    a.maas_cluster(&ca, json!({"dnsDomain": "maas"})).await;
    let ctrl_a = a.controller(Some(creds(&sim)));
    wait_mc(&a, "c1", "a's record managed", managed).await;
    let rec = record(&sim, "c1.maas").await.expect("a's record");
    let marker = format!("capmaas-cluster={}/c1", a.name());
    assert_eq!(
        txt(&rec),
        vec![marker.clone()],
        "created with a's owner marker"
    );

    let cb = b.cluster("c1", false).await;
    b.maas_cluster(&cb, json!({"dnsDomain": "maas"})).await;
    let ctrl_b = b.controller(Some(creds(&sim)));
    let mc_b = wait_mc(&b, "c1", "b told the record is not its", not_ours).await;
    let (_, _, message) = endpoint_condition(&mc_b).unwrap();
    assert!(message.contains(&format!("{}/c1", a.name())), "{message}");
    assert!(
        !mc_b.status.as_ref().unwrap().ready,
        "b is not ready on someone else's endpoint"
    );
    assert!(
        mc_b.spec.control_plane_endpoint.is_none(),
        "no endpoint claimed"
    );

    // Deleting b leaves a's endpoint alone.
    delete_mc(&b, "c1").await;
    let after = record(&sim, "c1.maas")
        .await
        .expect("a's record is still there");
    assert_eq!((after.id, txt(&after)), (rec.id, vec![marker]));
    delete_mc(&a, "c1").await;
    assert!(
        record(&sim, "c1.maas").await.is_none(),
        "a's record went with a"
    );
    ctrl_a.shutdown().await;
    ctrl_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_was_there_before_is_never_taken_over() {
    let sim = sim(0, MaasVersion::V3_6, 300).await;
    let theirs = admin(&sim)
        .create_dns_resource(&DnsResourceParams {
            fqdn: Some("c1.maas".into()),
            ip_addresses: Some(vec!["10.0.0.99".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    let w = World::new("dns-theirs").await;
    let cluster = w.cluster("c1", false).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mc = wait_mc(&w, "c1", "told the record is not ours", not_ours).await;
    let (_, _, message) = endpoint_condition(&mc).unwrap();
    assert!(message.contains("no owner TXT record"), "{message}");
    settled(&ctrl, Duration::from_secs(1), 20).await;
    delete_mc(&w, "c1").await;
    let after = record(&sim, "c1.maas").await.expect("their record stays");
    assert_eq!(after.id, theirs.id);
    assert_eq!(ips(&after), BTreeSet::from(["10.0.0.99".to_owned()]));
    assert!(txt(&after).is_empty(), "no marker added");
    let counters = sim.control().counters();
    for action in ["DNSResourceHandler.update", "DNSResourceHandler.delete"] {
        assert_eq!(counters.by_action.get(action), None, "{action}");
    }
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_without_status_the_record_is_still_managed_and_goes_with_the_cluster() {
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    let w = World::new("dns-moved").await;
    let cluster = w.cluster("c1", false).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mc = wait_mc(&w, "c1", "record managed", managed).await;
    let spec = mc.spec.clone();
    assert_eq!(
        spec.control_plane_endpoint.as_ref().unwrap().host,
        "c1.maas"
    );
    let first = record(&sim, "c1.maas").await.unwrap();
    ctrl.shutdown().await;

    // What `clusterctl move` leaves on the target: the spec (with the
    // endpoint we set), a new uid, no status.
    let api = w.api::<MaasCluster>();
    api.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    api.delete("c1", &DeleteParams::default()).await.unwrap();
    eventually(20, "old MaasCluster gone", || async {
        w.mc("c1").await.is_none()
    })
    .await;
    let recreated = w
        .maas_cluster(&cluster, serde_json::to_value(&spec).unwrap())
        .await;
    assert_ne!(recreated.metadata.uid, mc.metadata.uid);
    assert!(recreated.status.is_none());

    let ctrl = w.controller(Some(creds(&sim)));
    wait_mc(
        &w,
        "c1",
        "re-found by its marker, managed (not the user's)",
        managed,
    )
    .await;
    // The next control-plane machine still reaches the record.
    w.set_cluster_provisioned("c1").await;
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let cp0 = w.wait_mm("cp0", 60, "provisioned", provisioned).await;
    let ip = sim
        .control()
        .machine(cp0.spec.system_id.as_deref().unwrap())
        .unwrap()
        .ip_addresses[0]
        .clone();
    eventually(30, "the record follows the new control plane", || {
        let ip = ip.clone();
        let sim = &sim;
        async move {
            record(sim, "c1.maas")
                .await
                .is_some_and(|d| ips(&d) == BTreeSet::from([ip]))
        }
    })
    .await;
    assert_eq!(
        record(&sim, "c1.maas").await.unwrap().id,
        first.id,
        "same record"
    );
    w.delete_mm("cp0").await;
    eventually(30, "cp0 gone", || async { w.mm("cp0").await.is_none() }).await;
    delete_mc(&w, "c1").await;
    assert!(
        record(&sim, "c1.maas").await.is_none(),
        "deleted with the cluster although its status was lost"
    );
    ctrl.shutdown().await;
}
