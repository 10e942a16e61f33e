//! MaasMachine reconciler on a real kube-apiserver with maas-sim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use capi_types::MachineAddressType;
use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use maas_sim::{MaasVersion, NodeStatus};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisions_and_releases_a_machine() {
    let w = World::new("happy").await;
    let sim = sim(3, MaasVersion::V3_6, 500).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let user_data = b"#cloud-config\nruncmd: [echo hello]\n";
    w.machine(
        "c1",
        "w0",
        false,
        Some(user_data),
        json!({"image": "ubuntu/jammy", "minCPU": 1, "minMemory": 1024, "release": {"erase": "quick"}}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));

    let mm = w
        .wait_mm("w0", 60, "provisioned and Ready", |mm| {
            provisioned(mm)
                && condition(mm, "Ready").is_some_and(|c| c.status == "True")
                && mm.spec.provider_id.is_some()
        })
        .await;
    let id = mm.spec.system_id.clone().expect("systemID recorded");
    let m = sim.control().machine(&id).expect("machine in MAAS");
    assert_eq!(m.status, NodeStatus::Deployed);
    assert_eq!(
        mm.spec.provider_id.as_deref(),
        Some(format!("maas:///{}/{id}", m.zone).as_str())
    );
    let status = mm.status.clone().unwrap();
    assert_eq!(status.failure_domain.as_deref(), Some(m.zone.as_str()));
    assert!(status.ready);
    assert_eq!(reason(&mm, "MachineDeployed"), "Deployed");
    assert_eq!(reason(&mm, "Paused"), "NotPaused");
    assert!(
        status
            .addresses
            .iter()
            .any(|a| a.type_ == MachineAddressType::Hostname && a.address == m.hostname)
    );
    for ip in &m.ip_addresses {
        assert!(
            status
                .addresses
                .iter()
                .any(|a| a.type_ == MachineAddressType::InternalIp && &a.address == ip),
            "{ip} missing from {:?}",
            status.addresses
        );
    }
    assert!(
        !status
            .addresses
            .iter()
            .any(|a| a.type_ == MachineAddressType::ExternalIp)
    );
    assert_eq!(
        sim.control()
            .user_data(&id)
            .map(|stored| base64::engine::general_purpose::STANDARD
                .decode(stored)
                .unwrap())
            .as_deref(),
        Some(user_data.as_slice()),
        "user_data delivered to MAAS is the bootstrap Secret's value"
    );
    assert_eq!(marked(&sim, &mm).len(), 1);
    assert!(
        mm.finalizers()
            .iter()
            .any(|f| f == "maasmachine.infrastructure.cluster.x-k8s.io")
    );

    // Events (events.k8s.io) about the MaasMachine.
    let events: kube::Api<Event> = w.api();
    eventually(10, "a MachineProvisioned event", || {
        let events = events.clone();
        async move {
            events
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .any(|e| e.reason.as_deref() == Some("MachineProvisioned"))
        }
    })
    .await;

    // Delete: released (with erase), then the finalizer goes.
    w.delete_mm("w0").await;
    eventually(30, "MaasMachine gone", || async {
        w.mm("w0").await.is_none()
    })
    .await;
    let m = sim.control().machine(&id).unwrap();
    assert_eq!(m.status, NodeStatus::Ready, "{m:?}");
    assert_eq!(m.owner, None);
    assert!(marked(&sim, &mm).is_empty());
    ctrl.shutdown().await;
}
