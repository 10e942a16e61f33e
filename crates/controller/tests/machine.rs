//! MaasMachine reconciler on a real kube-apiserver with maas-sim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

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
    let history = w.record_mm("w0");
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
    // CAPI core (and clusterctl move, which copies spec only) must never see
    // `provisioned` without spec.providerID: the spec half is written first.
    eventually(10, "the watch saw the provisioned version", || async {
        history.versions().iter().any(provisioned)
    })
    .await;
    let early: Vec<_> = history
        .versions()
        .into_iter()
        .filter(|v| provisioned(v) && v.spec.provider_id.is_none())
        .map(|v| v.metadata.resource_version)
        .collect();
    assert!(
        early.is_empty(),
        "provisioned before spec.providerID in versions {early:?}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_everything_until_resumed() {
    let w = World::new("pause").await;
    let sim = sim(2, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.set_cluster_paused("c1", true).await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("w0", 30, "Paused=True", |mm| {
            condition(mm, "Paused").is_some_and(|c| c.status == "True")
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mm2 = w.mm("w0").await.unwrap();
    assert!(mm2.spec.system_id.is_none());
    assert!(mm2.finalizers().is_empty(), "no finalizer while paused");
    assert!(
        marked(&sim, &mm).is_empty(),
        "nothing allocated while paused"
    );
    assert_eq!(
        sim.control()
            .counters()
            .by_action
            .get("MachinesHandler.allocate"),
        None
    );

    w.set_cluster_paused("c1", false).await;
    let mm = w
        .wait_mm("w0", 60, "provisioned after resume", provisioned)
        .await;
    assert_eq!(reason(&mm, "Paused"), "NotPaused");
    assert_eq!(marked(&sim, &mm).len(), 1);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_needs_maas_3_5_while_disk_machines_deploy() {
    let w = World::new("eph34").await;
    let sim = sim(3, MaasVersion::V3_4, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "mem0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy", "ephemeral": true}),
    )
    .await;
    w.machine(
        "c1",
        "disk0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("mem0", 30, "EphemeralNotSupported", |mm| {
            reason(mm, "MachineDeployed") == "EphemeralNotSupported"
        })
        .await;
    let msg = condition(&mm, "MachineDeployed").unwrap().message.clone();
    assert!(msg.contains("3.5"), "{msg}");
    w.wait_mm("disk0", 60, "disk machine provisioned", provisioned)
        .await;
    assert!(marked(&sim, &mm).is_empty(), "nothing allocated for mem0");
    ctrl.shutdown().await;
}

fn spec_machine(host: &str, mem_mib: u64) -> maas_sim::MachineSpec {
    maas_sim::MachineSpec {
        hostname: Some(host.into()),
        memory: Some(mem_mib),
        cpu_count: Some(4),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_waits_for_a_machine_with_enough_memory_then_deploys_in_memory() {
    let w = World::new("ephmem").await;
    let sim = maas_sim::Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: vec![spec_machine("small", 8192)],
            ..Default::default()
        })
        .maas_version(MaasVersion::V3_6)
        .deploy_duration(Duration::from_millis(300))
        .release_duration(Duration::from_millis(100))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "mem0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy", "ephemeral": true}),
    )
    .await;
    w.machine(
        "c1",
        "disk0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    // The only machine is too small for an in-memory deploy: MAAS is asked
    // for >= 16 GiB and says so; the disk machine takes the small one.
    let mm = w
        .wait_mm("mem0", 30, "WaitingForCapacity (memory)", |mm| {
            reason(mm, "MachineDeployed") == "WaitingForCapacity"
                && condition(mm, "MachineDeployed").is_some_and(|c| c.message.contains("16384"))
        })
        .await;
    assert!(marked(&sim, &mm).is_empty());
    let disk = w
        .wait_mm("disk0", 60, "disk machine provisioned", provisioned)
        .await;
    assert_eq!(disk.status.unwrap().deployed_in_memory, Some(false));

    sim.control()
        .add_machine(spec_machine("big", 32768))
        .unwrap();
    let mm = w
        .wait_mm("mem0", 60, "provisioned in memory", provisioned)
        .await;
    let id = mm.spec.system_id.clone().unwrap();
    let m = sim.control().machine(&id).unwrap();
    assert_eq!(m.hostname, "big");
    assert!(m.ephemeral_deploy);
    assert_eq!(mm.status.unwrap().deployed_in_memory, Some(true));
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_pinned_to_a_small_machine_reports_insufficient_memory() {
    let w = World::new("ephpin").await;
    let sim = maas_sim::Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: vec![spec_machine("small", 8192), spec_machine("big", 32768)],
            ..Default::default()
        })
        .maas_version(MaasVersion::V3_6)
        .deploy_duration(Duration::from_millis(300))
        .release_duration(Duration::from_millis(100))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let small = sim
        .control()
        .machines()
        .into_iter()
        .find(|m| m.hostname == "small")
        .unwrap()
        .system_id;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "mem0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy", "ephemeral": true, "systemID": small}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("mem0", 30, "InsufficientMemory", |mm| {
            reason(mm, "MachineDeployed") == "InsufficientMemory"
        })
        .await;
    let msg = condition(&mm, "MachineDeployed").unwrap().message.clone();
    assert!(
        msg.contains(&small) && msg.contains("8192") && msg.contains("16384"),
        "the condition names the machine and both sizes: {msg}"
    );
    let ready = condition(&mm, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InsufficientMemory")
    );
    // Terminal and nothing asked of MAAS: no allocation, the machine is untouched.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mm = w.mm("mem0").await.unwrap();
    assert_eq!(reason(&mm, "MachineDeployed"), "InsufficientMemory");
    assert!(!provisioned(&mm));
    assert_eq!(
        sim.control()
            .counters()
            .by_action
            .get("MachinesHandler.allocate"),
        None,
        "the small pinned machine is never allocated"
    );
    let m = sim.control().machine(&small).unwrap();
    assert_eq!((m.status, m.owner), (NodeStatus::Ready, None));
    assert!(marked(&sim, &mm).is_empty());
    w.delete_mm("mem0").await;
    eventually(30, "MaasMachine gone", || async {
        w.mm("mem0").await.is_none()
    })
    .await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_capacity_then_provisions_when_machines_are_added() {
    let w = World::new("capacity").await;
    let sim = sim(0, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("w0", 30, "WaitingForCapacity", |mm| {
            reason(mm, "MachineDeployed") == "WaitingForCapacity"
        })
        .await;
    assert!(
        condition(&mm, "MachineDeployed")
            .unwrap()
            .message
            .contains("No machine available"),
        "MAAS's message is in the condition: {:?}",
        condition(&mm, "MachineDeployed")
    );
    sim.control().add_machine(ready_machine("late")).unwrap();
    w.wait_mm(
        "w0",
        60,
        "provisioned after capacity was added",
        provisioned,
    )
    .await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deployment_is_retried_on_another_machine() {
    let w = World::new("retry").await;
    let sim = sim(3, MaasVersion::V3_6, 300).await;
    sim.control()
        .add_scripted_fault(maas_sim::ScriptedFault::FailDeploys { count: 1 });
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w.wait_mm("w0", 60, "provisioned", provisioned).await;
    let life = mm.status.as_ref().unwrap().lifecycle.clone().unwrap();
    assert_eq!(life.deploy_failures, 1);
    let failed = life
        .avoid_system_ids
        .first()
        .cloned()
        .expect("failed machine remembered");
    let id = mm.spec.system_id.clone().unwrap();
    assert_ne!(failed, id, "retried on another machine");
    let f = sim.control().machine(&failed).unwrap();
    assert_eq!(
        f.status,
        NodeStatus::Ready,
        "failed machine released: {f:?}"
    );
    assert_eq!(marked(&sim, &mm).len(), 1);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_retry_limit_and_releases_everything() {
    let w = World::new("giveup").await;
    let sim = sim(4, MaasVersion::V3_6, 200).await;
    sim.control()
        .add_scripted_fault(maas_sim::ScriptedFault::FailDeploys { count: 10 });
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("w0", 90, "terminal DeployFailed", |mm| {
            mm.status
                .as_ref()
                .and_then(|s| s.lifecycle.as_ref())
                .is_some_and(|l| l.failure.is_some())
                && reason(mm, "Ready") == "DeployFailed"
        })
        .await;
    let life = mm.status.as_ref().unwrap().lifecycle.clone().unwrap();
    assert_eq!(
        life.deploy_failures, 3,
        "3 attempts with max_deploy_retries=2"
    );
    assert!(
        condition(&mm, "Ready")
            .unwrap()
            .message
            .contains("giving up")
    );
    eventually(20, "every machine released", || async {
        sim.control()
            .machines()
            .iter()
            .all(|m| m.status == NodeStatus::Ready && m.owner.is_none())
    })
    .await;
    assert!(!provisioned(&w.mm("w0").await.unwrap()));
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_timeout_fails_the_attempt() {
    let w = World::new("timeout").await;
    let sim = sim(2, MaasVersion::V3_6, 120_000).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "jammy"}),
    )
    .await;
    let mut cfg = config(&w.name(), Some(creds(&sim)));
    cfg.lifecycle.deploy_timeout = Duration::from_secs(2);
    cfg.lifecycle.max_deploy_retries = 0;
    let ctrl = w.controller_with(cfg);
    let mm = w
        .wait_mm("w0", 60, "timed out", |mm| {
            mm.status
                .as_ref()
                .and_then(|s| s.lifecycle.as_ref())
                .and_then(|l| l.last_deploy_failure.clone())
                .is_some_and(|f| f.contains("did not finish"))
                && reason(mm, "Ready") == "DeployFailed"
        })
        .await;
    eventually(20, "timed-out machine released", || async {
        marked(&sim, &mm)
            .iter()
            .all(|m| m.status == NodeStatus::Ready || m.status == NodeStatus::Releasing)
            && sim
                .control()
                .machines()
                .iter()
                .all(|m| m.status != NodeStatus::Deploying)
    })
    .await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_right_after_allocation_is_adopted_not_leaked() {
    let w = World::new("crash").await;
    let sim = sim(3, MaasVersion::V3_6, 300).await;
    // MAAS allocates, then the connection drops before the answer; listing is
    // slow, so the controller is killed before it can see the machine.
    sim.control()
        .add_scripted_fault(maas_sim::ScriptedFault::DropConnection {
            op: "allocate".into(),
            count: 1,
        });
    sim.control().add_fault(maas_sim::OpFault {
        op: "MachinesHandler.read".into(),
        error_rate: 0.0,
        status: 503,
        body: None,
        latency_ms: 1500,
    });
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(
        &cluster,
        json!({"dnsDomain": "maas", "controlPlaneEndpoint": {"host": "api.example", "port": 6443}}),
    )
    .await;
    let (_, mm) = w
        .machine(
            "c1",
            "w0",
            false,
            Some(b"#cloud-config\n"),
            json!({"image": "jammy"}),
        )
        .await;
    let mut cfg = config(&w.name(), Some(creds(&sim)));
    cfg.lifecycle.capacity_backoff = Duration::from_secs(60);
    let first = w.controller_with(cfg.clone());
    eventually(30, "MAAS allocated a machine for w0", || async {
        !marked(&sim, &mm).is_empty()
    })
    .await;
    first.abort().await;
    let allocated = marked(&sim, &mm);
    assert_eq!(allocated.len(), 1);
    assert!(
        w.mm("w0").await.unwrap().spec.system_id.is_none(),
        "crashed before recording"
    );
    sim.control().clear_faults();

    let second = w.controller_with(cfg);
    let mm = w
        .wait_mm("w0", 60, "provisioned after restart", provisioned)
        .await;
    assert_eq!(
        mm.spec.system_id.as_deref(),
        Some(allocated[0].system_id.as_str())
    );
    assert_eq!(
        marked(&sim, &mm).len(),
        1,
        "exactly one machine carries our marker"
    );
    assert_eq!(
        sim.control()
            .counters()
            .by_action
            .get("MachinesHandler.allocate"),
        Some(&1),
        "no second allocation"
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_without_status_like_clusterctl_move_is_not_allocated_again() {
    let w = World::new("move").await;
    let sim = sim(3, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let (machine, _) = w
        .machine(
            "c1",
            "w0",
            false,
            Some(b"#cloud-config\n"),
            json!({"image": "jammy"}),
        )
        .await;
    let ctrl = w.controller(Some(creds(&sim)));
    // What clusterctl move copies is the spec: systemID and providerID.
    let before = w
        .wait_mm("w0", 60, "provisioned with spec.providerID", |mm| {
            provisioned(mm) && mm.spec.provider_id.is_some()
        })
        .await;
    // clusterctl move: pause, copy (without status), delete the source.
    w.set_cluster_paused("c1", true).await;
    w.wait_mm("w0", 30, "Paused", |mm| reason(mm, "Paused") == "Paused")
        .await;
    ctrl.shutdown().await;
    let api = w.api::<capi_types::MaasMachine>();
    api.patch(
        "w0",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    api.delete("w0", &Default::default()).await.unwrap();
    eventually(10, "source gone", || async { w.mm("w0").await.is_none() }).await;
    let spec = serde_json::to_value(&before.spec).unwrap();
    let moved = w.maas_machine_owned(&machine, spec).await;
    assert_ne!(moved.uid(), before.uid());
    let allocations = sim
        .control()
        .counters()
        .by_action
        .get("MachinesHandler.allocate")
        .copied();
    w.set_cluster_paused("c1", false).await;

    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("w0", 60, "provisioned again after the move", |mm| {
            provisioned(mm) && reason(mm, "Ready") == "Ready"
        })
        .await;
    assert_eq!(mm.spec.system_id, before.spec.system_id);
    assert_eq!(mm.spec.provider_id, before.spec.provider_id);
    assert_eq!(
        sim.control()
            .counters()
            .by_action
            .get("MachinesHandler.allocate")
            .copied(),
        allocations,
        "no second allocation"
    );
    let m = sim
        .control()
        .machine(before.spec.system_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(m.status, NodeStatus::Deployed);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_keeps_maas_requests_per_tick_constant() {
    const N: usize = 8;
    const TICK: Duration = Duration::from_millis(200);
    let w = World::new("poller").await;
    // Deploys take long: every machine stays Deploying during the window.
    let sim = sim(N, MaasVersion::V3_6, 120_000).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(
        &cluster,
        json!({"dnsDomain": "maas", "controlPlaneEndpoint": {"host": "api.example", "port": 6443}}),
    )
    .await;
    for i in 0..N {
        w.machine(
            "c1",
            &format!("w{i}"),
            false,
            Some(b"#cloud-config\n"),
            json!({"image": "jammy"}),
        )
        .await;
    }
    // The lifecycle's own fallback re-reads (deploy poll) stay out of the
    // window: only the poller may talk to MAAS while nothing changes.
    let mut cfg = config(&w.name(), Some(creds(&sim)));
    cfg.poll_interval = TICK;
    cfg.lifecycle.deploy_poll_interval = Duration::from_secs(600);
    let ctrl = w.controller_with(cfg);
    eventually(60, "all machines deploying", || async {
        sim.control()
            .machines()
            .iter()
            .filter(|m| m.status == NodeStatus::Deploying)
            .count()
            == N
    })
    .await;
    // Every MaasMachine has written its Deploying status and re-read it:
    // the controller is idle until MAAS changes.
    for i in 0..N {
        w.wait_mm(&format!("w{i}"), 30, "Deploying", |mm| {
            reason(mm, "MachineDeployed") == "Deploying"
        })
        .await;
    }
    settled(&ctrl, Duration::from_secs(1), 60).await;
    let metrics = ctrl.metrics();
    let (reconciles, lists) = (metrics.reconciles_total(), metrics.poller_lists());
    sim.control().clear_requests();
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = sim.control().requests();
    let window = started.elapsed();
    let polled = metrics.poller_lists() - lists;
    // The window is measured, not assumed: a loaded machine oversleeps.
    let ticks = (window.as_millis() / TICK.as_millis()) as u64;
    assert_eq!(
        metrics.reconciles_total(),
        reconciles,
        "nothing changed in MAAS, yet the controller reconciled"
    );
    // Only reconciles and the poller call MAAS; at each edge of the window
    // one list may be counted on one side and not yet recorded on the other.
    assert!(
        (requests.len() as u64).abs_diff(polled) <= 1,
        "only the poller's {polled} list requests while nothing changes: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.action.as_deref() == Some("MachinesHandler.read")),
        "the poller only lists: {requests:#?}"
    );
    assert!(
        requests.len() as u64 <= ticks + 2,
        "{} requests in {window:?} with {N} deploying machines (poll {TICK:?}): one list per \
         tick, independent of N",
        requests.len()
    );
    assert!(
        polled >= ticks / 2,
        "the poller lists every tick: {polled} lists in {window:?}"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_ignoring_agent_name_never_releases_other_tenants_machines() {
    use maas_api::{AllocateParams, ClientConfig, MaasClient, MachineFilter};
    let w = World::new("unfiltered").await;
    let sim = sim(5, MaasVersion::V3_6, 300).await;
    let maas =
        MaasClient::new(ClientConfig::new(&sim.endpoint(), sim.admin_api_key()).unwrap()).unwrap();
    // Other tenants: one machine of another capmaas MaasMachine (annotated),
    // one of another tool (no annotation); the rest stay free.
    let other = machine_lifecycle::OwnerMarker::new(
        "elsewhere",
        "w0",
        "99999999-8888-4777-8666-555544443333",
    )
    .unwrap();
    let theirs = maas
        .allocate(&AllocateParams::new().agent_name(other.render()))
        .await
        .unwrap();
    maas.set_workload_annotations(&theirs.system_id, &other.workload_annotations(Some("c1")))
        .await
        .unwrap();
    let juju = maas
        .allocate(&AllocateParams::new().agent_name("juju"))
        .await
        .unwrap();

    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "w0",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy"}),
    )
    .await;
    let mut cfg = config(&w.name(), Some(creds(&sim)));
    cfg.lifecycle.release_poll_interval = Duration::from_millis(500);
    let first = w.controller_with(cfg.clone());
    let mm = w.wait_mm("w0", 60, "provisioned", provisioned).await;
    let ours = mm.spec.system_id.clone().unwrap();
    // The agent_name list runs when a MaasMachine is first seen (here: after
    // a restart, with an empty machine cache).
    first.shutdown().await;

    // From now on the machine list answers every query with every machine
    // of the region, as a MAAS or proxy that drops `agent_name` would.
    let everything = maas.list_machines(&MachineFilter::new()).await.unwrap();
    assert_eq!(everything.len(), 5);
    sim.control()
        .add_scripted_fault(maas_sim::ScriptedFault::Respond {
            op: "MachinesHandler.read".into(),
            count: 100_000,
            status: 200,
            body: serde_json::to_string(&everything).unwrap(),
            content_type: Some("application/json".into()),
            retry_after: None,
        });
    w.delete_mm("w0").await;
    let ctrl = w.controller_with(cfg);
    let mm = w
        .wait_mm(
            "w0",
            30,
            "OwnershipUnproven while the filter is ignored",
            |mm| reason(mm, "Ready") == "OwnershipUnproven",
        )
        .await;
    let msg = condition(&mm, "Ready").unwrap().message.clone();
    assert!(msg.contains("ignored the agent_name filter"), "{msg}");
    // Several reconciles later, still nothing released.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counters = sim.control().counters();
    assert_eq!(
        counters.by_action.get("MachineHandler.release"),
        None,
        "{counters:?}"
    );
    for id in [&theirs.system_id, &juju.system_id, &ours] {
        let m = sim.control().machine(id).unwrap();
        assert!(m.owner.is_some(), "{id} released: {m:?}");
    }
    assert!(w.mm("w0").await.is_some(), "the finalizer stays");

    // MAAS answers correctly again: ours is released, nothing else.
    sim.control().clear_faults();
    eventually(30, "MaasMachine gone", || async {
        w.mm("w0").await.is_none()
    })
    .await;
    assert_eq!(
        sim.control().machine(&ours).unwrap().status,
        NodeStatus::Ready
    );
    for id in [&theirs.system_id, &juju.system_id] {
        let m = sim.control().machine(id).unwrap();
        assert_eq!(m.status, NodeStatus::Allocated, "{id}: {m:?}");
        assert!(m.owner.is_some(), "{id}: {m:?}");
    }
    assert_eq!(
        sim.control()
            .counters()
            .by_action
            .get("MachineHandler.release"),
        Some(&1)
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_is_reported_then_released_only_when_asked() {
    use kube::api::{Patch, PatchParams};
    let w = World::new("orphans").await;
    let sim = sim(3, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    for name in ["w0", "w1"] {
        w.machine(
            "c1",
            name,
            false,
            Some(b"#cloud-config\n"),
            json!({"image": "ubuntu/jammy"}),
        )
        .await;
    }
    let mut cfg = config(&w.name(), Some(creds(&sim)));
    cfg.orphan_sweep_period = Duration::from_millis(300);
    let first = w.controller_with(cfg.clone());
    let w0 = w.wait_mm("w0", 60, "w0 provisioned", provisioned).await;
    let w1 = w.wait_mm("w1", 60, "w1 provisioned", provisioned).await;
    let (orphan, alive) = (w0.spec.system_id.unwrap(), w1.spec.system_id.unwrap());
    first.shutdown().await;
    // Force-deleted: the finalizer removed by hand, MAAS never told.
    w.api::<capi_types::MaasMachine>()
        .patch(
            "w0",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    w.delete_mm("w0").await;
    eventually(10, "w0 gone", || async { w.mm("w0").await.is_none() }).await;

    let orphaned = |metrics: &str, n: u32| {
        metrics
            .lines()
            .any(|l| l.starts_with("capmaas_orphaned_machines{") && l.ends_with(&format!(" {n}")))
    };
    // Report only (the default).
    let report = w.controller_with(cfg.clone());
    eventually(20, "capmaas_orphaned_machines 1", || async {
        orphaned(&report.metrics().encode(), 1)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sim.control().machine(&orphan).unwrap().status,
        NodeStatus::Deployed,
        "report-only never releases"
    );
    report.shutdown().await;

    // Release after the grace period.
    cfg.orphan_policy.release = true;
    cfg.orphan_policy.grace = Duration::from_secs(1);
    let release = w.controller_with(cfg);
    eventually(30, "the orphan released", || async {
        sim.control()
            .machine(&orphan)
            .is_some_and(|m| m.status == NodeStatus::Ready && m.owner.is_none())
    })
    .await;
    eventually(20, "capmaas_orphaned_machines 0", || async {
        orphaned(&release.metrics().encode(), 0)
    })
    .await;
    let m = sim.control().machine(&alive).unwrap();
    assert_eq!(
        m.status,
        NodeStatus::Deployed,
        "a live MaasMachine's machine"
    );
    assert!(w.mm("w1").await.is_some_and(|mm| provisioned(&mm)));
    release.shutdown().await;
}
