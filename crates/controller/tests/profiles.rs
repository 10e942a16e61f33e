//! The controller against every maas-sim version profile (MAAS 3.0 to 3.8):
//! a disk deploy, an in-memory deploy, a VM placed on a VM host and a static
//! IP, each to Provisioned and deleted back to a free machine, or the
//! condition that says the release cannot do it (in-memory before 3.5, VM
//! hosts on 3.8) with nothing allocated. One test per profile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use maas_sim::{MaasVersion, NodeStatus, RunningSimulator};
use serde_json::json;

const ADDRESS: &str = "10.0.7.20";

async fn profile_sim(version: MaasVersion) -> RunningSimulator {
    let vm_hosts = if version.has_vm_hosts() {
        vec![maas_sim::VmHostSpec {
            name: "vmhost-1".into(),
            power_address: "10.0.0.50".into(),
            registered: true,
            ..Default::default()
        }]
    } else {
        Vec::new()
    };
    maas_sim::Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: (0..3)
                .map(|i| ready_machine(&format!("node-{i}")))
                .collect(),
            vm_hosts,
            ..Default::default()
        })
        .seed(42)
        .maas_version(version)
        .deploy_duration(Duration::from_millis(300))
        .release_duration(Duration::from_millis(200))
        .erase_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .expect("start maas-sim")
}

async fn lifecycle_on(version: MaasVersion) {
    let w = World::new(&format!("prof{}", version.short().replace('.', ""))).await;
    let sim = profile_sim(version).await;
    assert_eq!(sim.maas_version(), version);
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    let data = Some(b"#cloud-config\n".as_slice());
    w.machine("c1", "disk0", false, data, json!({"image": "jammy"}))
        .await;
    w.machine(
        "c1",
        "mem0",
        false,
        data,
        json!({"image": "jammy", "ephemeral": true}),
    )
    .await;
    w.machine(
        "c1",
        "vm0",
        true,
        data,
        json!({"image": "jammy", "minCPU": 2, "minMemory": 4096, "podType": "lxd"}),
    )
    .await;
    w.machine(
        "c1",
        "ip0",
        true,
        data,
        json!({"image": "jammy", "staticIP": {"address": ADDRESS}}),
    )
    .await;
    let ctrl = w.controller(Some(creds(&sim)));

    // Disk deploy: every profile.
    let disk = w
        .wait_mm("disk0", 60, "disk0 provisioned", provisioned)
        .await;
    let disk_id = disk.spec.system_id.clone().unwrap();
    let m = sim.control().machine(&disk_id).unwrap();
    assert_eq!(m.status, NodeStatus::Deployed, "{version}");
    assert!(!m.ephemeral_deploy, "{version}");

    // In memory: MAAS 3.5+ (the first to show `ephemeral_deploy`); before,
    // a condition and nothing allocated.
    let mut owned = vec![disk_id.clone()];
    if version >= MaasVersion::V3_5 {
        let mem = w.wait_mm("mem0", 60, "mem0 provisioned", provisioned).await;
        let id = mem.spec.system_id.clone().unwrap();
        assert!(
            sim.control().machine(&id).unwrap().ephemeral_deploy,
            "{version}"
        );
        assert_eq!(
            mem.status.unwrap().deployed_in_memory,
            Some(true),
            "{version}"
        );
        owned.push(id);
    } else {
        let mem = w
            .wait_mm("mem0", 30, "EphemeralNotSupported", |mm| {
                reason(mm, "MachineDeployed") == "EphemeralNotSupported"
            })
            .await;
        let msg = condition(&mem, "MachineDeployed").unwrap().message.clone();
        assert!(msg.contains("3.5") && msg.contains(version.full()), "{msg}");
        assert!(
            marked(&sim, &mem).is_empty(),
            "{version}: nothing allocated"
        );
    }

    // A VM composed on the VM host: every profile with VM hosts (3.0-3.7).
    let mut composed = None;
    if version.has_vm_hosts() {
        let vm = w.wait_mm("vm0", 60, "vm0 provisioned", provisioned).await;
        let id = vm.spec.system_id.clone().unwrap();
        let m = sim.control().machine(&id).unwrap();
        assert_eq!(m.status, NodeStatus::Deployed, "{version}");
        assert_eq!(m.vm_host.as_deref(), Some("vmhost-1"), "{version}: {m:?}");
        assert!(m.cpu_count >= 2 && m.memory >= 4096, "{version}: {m:?}");
        composed = Some(id);
    } else {
        let vm = w
            .wait_mm("vm0", 30, "VMHostsNotSupported", |mm| {
                reason(mm, "MachineDeployed") == "VMHostsNotSupported"
            })
            .await;
        assert!(marked(&sim, &vm).is_empty(), "{version}: nothing allocated");
    }

    // A static IP: linked before deploy, the only address once deployed.
    let ip = w.wait_mm("ip0", 60, "ip0 provisioned", provisioned).await;
    let ip_id = ip.spec.system_id.clone().unwrap();
    assert_eq!(
        sim.control().machine(&ip_id).unwrap().ip_addresses,
        vec![ADDRESS.to_owned()],
        "{version}"
    );
    owned.push(ip_id.clone());

    // Delete everything: bare metal back to Ready, unowned; the composed VM
    // deleted; the static address freed.
    for name in ["disk0", "mem0", "vm0", "ip0"] {
        w.delete_mm(name).await;
    }
    for name in ["disk0", "mem0", "vm0", "ip0"] {
        eventually(30, &format!("{version}: {name} gone"), || async {
            w.mm(name).await.is_none()
        })
        .await;
    }
    for id in &owned {
        let m = sim.control().machine(id).unwrap();
        assert_eq!(m.status, NodeStatus::Ready, "{version}: {m:?}");
        assert_eq!(m.owner, None, "{version}: {m:?}");
    }
    assert!(
        !sim.control()
            .machine(&ip_id)
            .unwrap()
            .ip_addresses
            .iter()
            .any(|a| a == ADDRESS),
        "{version}: static address freed"
    );
    if let Some(id) = composed {
        eventually(10, &format!("{version}: composed VM deleted"), || async {
            sim.control().machine(&id).is_none()
        })
        .await;
    }
    ctrl.shutdown().await;
    sim.shutdown().await;
}

macro_rules! profile_tests {
    ($($name:ident => $version:ident),* $(,)?) => {
        const LISTED: &[MaasVersion] = &[$(MaasVersion::$version),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                lifecycle_on(MaasVersion::$version).await;
            }
        )*
    };
}

profile_tests! {
    maas_3_0 => V3_0,
    maas_3_1 => V3_1,
    maas_3_2 => V3_2,
    maas_3_3 => V3_3,
    maas_3_4 => V3_4,
    maas_3_5 => V3_5,
    maas_3_6 => V3_6,
    maas_3_7 => V3_7,
    maas_3_8 => V3_8,
}

/// Every profile has its test above (a new profile must be added there).
#[test]
fn every_profile_is_listed() {
    assert_eq!(LISTED, MaasVersion::ALL.as_slice());
}
