//! Control-plane machines as LXD VMs (pod constraints) and static IPs,
//! against maas-sim and a real kube-apiserver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use capi_types::MachineAddressType;
use common::*;
use maas_sim::{MaasVersion, NodeStatus, RunningSimulator};
use serde_json::json;

async fn sim_with_vm_host(version: MaasVersion) -> RunningSimulator {
    maas_sim::Simulator::builder()
        .inventory(maas_sim::Inventory {
            // A bare-metal machine that would match everything but podType.
            machines: vec![ready_machine("metal-0")],
            vm_hosts: vec![maas_sim::VmHostSpec {
                name: "vmhost-1".into(),
                power_address: "10.0.0.50".into(),
                registered: true,
                ..Default::default()
            }],
            ..Default::default()
        })
        .seed(7)
        .maas_version(version)
        .deploy_duration(Duration::from_millis(300))
        .release_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .expect("start maas-sim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_type_lxd_composes_a_vm_on_the_vm_host() {
    let w = World::new("vmpod").await;
    let sim = sim_with_vm_host(MaasVersion::V3_6).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy", "minCPU": 2, "minMemory": 4096, "podType": "lxd"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w.wait_mm("cp0", 60, "provisioned", provisioned).await;
    let id = mm.spec.system_id.clone().unwrap();
    let m = sim.control().machine(&id).unwrap();
    assert_eq!(m.status, NodeStatus::Deployed);
    assert_eq!(m.power_type, "lxd", "{m:?}");
    assert_eq!(m.vm_host.as_deref(), Some("vmhost-1"), "{m:?}");
    assert!(m.cpu_count >= 2 && m.memory >= 4096, "{m:?}");
    let metal = sim
        .control()
        .machines()
        .into_iter()
        .find(|x| x.hostname == "metal-0")
        .unwrap();
    assert_eq!(metal.status, NodeStatus::Ready, "bare metal left alone");

    // Deleting releases the composed VM, which MAAS then deletes.
    w.delete_mm("cp0").await;
    eventually(30, "MaasMachine gone", || async {
        w.mm("cp0").await.is_none()
    })
    .await;
    eventually(10, "the composed VM is deleted", || async {
        sim.control().machine(&id).is_none()
    })
    .await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_constraints_on_maas_3_8_are_rejected_with_a_condition() {
    let w = World::new("vm38").await;
    let sim = sim(1, MaasVersion::V3_8, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy", "podType": "lxd"}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("cp0", 30, "VMHostsNotSupported", |mm| {
            reason(mm, "MachineDeployed") == "VMHostsNotSupported"
        })
        .await;
    let msg = condition(&mm, "Ready").unwrap().message.clone();
    assert!(msg.contains("3.8") && msg.contains("podType"), "{msg}");
    assert!(marked(&sim, &mm).is_empty(), "nothing allocated");
    ctrl.shutdown().await;
}

const ADDRESS: &str = "10.0.7.20";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_ip_is_linked_before_deploy_and_freed_after_delete() {
    let w = World::new("staticip").await;
    let sim = sim(2, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let spec = json!({"image": "ubuntu/jammy", "staticIP": {"address": ADDRESS}});
    w.machine("c1", "cp0", true, Some(b"#cloud-config\n"), spec.clone())
        .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w.wait_mm("cp0", 60, "provisioned", provisioned).await;
    let id = mm.spec.system_id.clone().unwrap();
    let m = sim.control().machine(&id).unwrap();
    assert_eq!(m.status, NodeStatus::Deployed);
    assert_eq!(
        m.ip_addresses,
        vec![ADDRESS.to_owned()],
        "deployed with the static address only (the AUTO link is replaced)"
    );
    let addresses = mm.status.clone().unwrap().addresses;
    assert!(
        addresses
            .iter()
            .any(|a| a.type_ == MachineAddressType::InternalIp && a.address == ADDRESS),
        "{addresses:?}"
    );

    // A second MaasMachine asking for the same address: MAAS's refusal, terminal.
    w.machine("c1", "dup", true, Some(b"#cloud-config\n"), spec.clone())
        .await;
    let dup = w
        .wait_mm("dup", 30, "StaticIPRejected", |mm| {
            reason(mm, "Ready") == "StaticIPRejected"
        })
        .await;
    let msg = condition(&dup, "Ready").unwrap().message.clone();
    assert!(msg.contains("IP address is already in use."), "{msg}");
    w.delete_mm("dup").await;
    eventually(30, "dup gone", || async { w.mm("dup").await.is_none() }).await;
    assert_eq!(
        sim.control().machine(&id).unwrap().ip_addresses,
        vec![ADDRESS.to_owned()],
        "the refused MaasMachine never touched the holder"
    );

    w.delete_mm("cp0").await;
    eventually(30, "MaasMachine gone", || async {
        w.mm("cp0").await.is_none()
    })
    .await;
    let m = sim.control().machine(&id).unwrap();
    assert_eq!(m.status, NodeStatus::Ready);
    assert!(
        !m.ip_addresses.iter().any(|a| a == ADDRESS),
        "the STATIC link is removed after release: {m:?}"
    );

    // The address is free: the next MaasMachine gets it.
    w.machine("c1", "cp1", true, Some(b"#cloud-config\n"), spec)
        .await;
    let mm = w.wait_mm("cp1", 60, "provisioned", provisioned).await;
    let m = sim
        .control()
        .machine(mm.spec.system_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(m.ip_addresses, vec![ADDRESS.to_owned()]);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_ip_maas_refuses_is_a_terminal_condition_with_maas_message() {
    let w = World::new("staticbad").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    // Inside the simulator's dynamic range 10.0.255.1-10.0.255.254.
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy", "staticIP": {"address": "10.0.255.9", "subnet": "10.0.0.0/16"}}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("cp0", 30, "StaticIPRejected", |mm| {
            reason(mm, "Ready") == "StaticIPRejected"
        })
        .await;
    let msg = condition(&mm, "Ready").unwrap().message.clone();
    assert!(
        msg.contains("IP address is inside a dynamic range"),
        "MAAS's reason in the condition: {msg}"
    );
    eventually(30, "the machine is given back", || async {
        sim.control()
            .machines()
            .iter()
            .all(|m| m.status == NodeStatus::Ready && m.owner.is_none())
    })
    .await;
    let m = &sim.control().machines()[0];
    assert!(
        !m.ip_addresses.iter().any(|a| a == "10.0.255.9"),
        "nothing linked: {m:?}"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lxd_vm_control_plane_with_a_static_ip() {
    let w = World::new("vmstatic").await;
    let sim = sim_with_vm_host(MaasVersion::V3_6).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let spec = json!({"image": "ubuntu/jammy", "minCPU": 2, "minMemory": 4096, "podType": "lxd",
                      "staticIP": {"address": ADDRESS, "subnet": "10.0.0.0/16"}});
    w.machine("c1", "cp0", true, Some(b"#cloud-config\n"), spec.clone())
        .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w.wait_mm("cp0", 60, "provisioned", provisioned).await;
    let id = mm.spec.system_id.clone().unwrap();
    let m = sim.control().machine(&id).unwrap();
    assert_eq!(m.vm_host.as_deref(), Some("vmhost-1"), "{m:?}");
    assert_eq!(m.ip_addresses, vec![ADDRESS.to_owned()], "{m:?}");

    // The composed VM is deleted on release, and its address with it.
    w.delete_mm("cp0").await;
    eventually(30, "MaasMachine gone", || async {
        w.mm("cp0").await.is_none()
    })
    .await;
    eventually(10, "the composed VM is deleted", || async {
        sim.control().machine(&id).is_none()
    })
    .await;
    w.machine("c1", "cp1", true, Some(b"#cloud-config\n"), spec)
        .await;
    let mm = w.wait_mm("cp1", 60, "provisioned", provisioned).await;
    let m = sim
        .control()
        .machine(mm.spec.system_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(m.ip_addresses, vec![ADDRESS.to_owned()], "address reused");
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_ip_picks_a_machine_on_its_subnet() {
    let w = World::new("staticnet").await;
    let subnet = |cidr: &str, fabric: &str| maas_sim::SubnetSpec {
        cidr: cidr.parse().unwrap(),
        name: None,
        fabric: Some(fabric.into()),
        vid: 0,
        space: None,
        dhcp_on: true,
        gateway_ip: None,
        dns_servers: vec![],
        dynamic_ranges: vec![],
        reserved_ranges: vec![],
        managed: true,
    };
    let on = |host: &str, memory: u64, cidr: &str| maas_sim::MachineSpec {
        memory: Some(memory),
        interfaces: vec![maas_sim::InterfaceSpec {
            name: "eth0".into(),
            mac: None,
            subnet: Some(cidr.into()),
            mode: None,
            ip: None,
            link_speed: None,
        }],
        ..ready_machine(host)
    };
    let sim = maas_sim::Simulator::builder()
        .inventory(maas_sim::Inventory {
            subnets: vec![
                subnet("10.0.0.0/16", "fabric-0"),
                subnet("10.9.0.0/24", "fabric-1"),
            ],
            // The cheaper machine is on the other network.
            machines: vec![
                on("other-net", 8192, "10.9.0.0/24"),
                on("right-net", 16384, "10.0.0.0/16"),
            ],
            ..Default::default()
        })
        .seed(3)
        .maas_version(MaasVersion::V3_6)
        .deploy_duration(Duration::from_millis(300))
        .release_duration(Duration::from_millis(200))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .expect("start maas-sim");
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy", "staticIP": {"address": ADDRESS}}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w.wait_mm("cp0", 60, "provisioned", provisioned).await;
    let m = sim
        .control()
        .machine(mm.spec.system_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(m.hostname, "right-net");
    assert_eq!(m.ip_addresses, vec![ADDRESS.to_owned()]);
    ctrl.shutdown().await;
}

/// The network address of the MAAS subnet, given without `subnet` (so
/// admission cannot know the prefix): MAAS would link it; the controller
/// refuses it, terminal, and gives the machine back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_address_of_the_maas_subnet_is_refused() {
    let w = World::new("staticnet").await;
    let sim = sim(1, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "cp0",
        true,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy", "staticIP": {"address": "10.0.0.0"}}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));
    let mm = w
        .wait_mm("cp0", 30, "StaticIPRejected", |mm| {
            reason(mm, "Ready") == "StaticIPRejected"
        })
        .await;
    let msg = condition(&mm, "Ready").unwrap().message.clone();
    assert!(
        msg.contains("10.0.0.0 is the network address of MAAS subnet 10.0.0.0/16"),
        "{msg}"
    );
    eventually(30, "the machine is given back", || async {
        sim.control()
            .machines()
            .iter()
            .all(|m| m.status == NodeStatus::Ready && m.owner.is_none())
    })
    .await;
    assert!(
        !sim.control().machines()[0]
            .ip_addresses
            .iter()
            .any(|a| a == "10.0.0.0"),
        "nothing linked"
    );
    ctrl.shutdown().await;
}
