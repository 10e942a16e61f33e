//! VM hosts: create, read, update, compose (with a static IP), refresh, parameters, delete.

use maas_api::{
    ComposeParams, Error, InterfaceSpec, MachineStatus, Secret, StorageSpec, VmHostCreateParams,
    VmHostType, VmHostUpdateParams,
};
use maas_sim::NodeStatus;

use crate::common::*;

#[tokio::test]
async fn vm_host_lifecycle() {
    let env = env().await;
    let a = &env.admin;

    let hosts = a.list_vm_hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    let kvm = a.read_vm_host(hosts[0].id).await.unwrap();
    assert_eq!(kvm.name, "kvm-01");
    assert_eq!(kvm.host_type, "lxd");
    assert_eq!(kvm.total.cores, 32);
    assert!(kvm.tags.iter().any(|t| t == "pod-console-logging"));

    // Register the simulated LXD daemon at 10.10.0.22 with its trust password.
    let wrong = a
        .create_vm_host(&VmHostCreateParams {
            host_type: VmHostType::Lxd,
            power_address: "10.10.0.22".into(),
            password: Some(Secret::new("not-the-password")),
            name: Some("lxd-bad".into()),
            ..VmHostCreateParams::default()
        })
        .await;
    // MAAS >= 3.1 saves the host even when discovery fails; refresh then reports the failure.
    let wrong = wrong.expect("saved despite the failed discovery");
    let err = a.refresh_vm_host(wrong.id).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert!(
        err.message()
            .contains("Failed to authenticate to the VM host."),
        "{err:?}"
    );
    a.delete_vm_host(wrong.id, false).await.unwrap();
    let created = a
        .create_vm_host(&VmHostCreateParams {
            host_type: VmHostType::Lxd,
            power_address: "10.10.0.22".into(),
            password: Some(Secret::new("s3cret-trust")),
            name: Some("lxd-02".into()),
            project: Some("capi".into()),
            zone: Some("zone-b".into()),
            pool: Some("pool-a".into()),
            tags: vec!["one".into(), "two".into()],
            cpu_over_commit_ratio: Some(2.0),
            ..VmHostCreateParams::default()
        })
        .await
        .unwrap();
    assert_eq!(created.name, "lxd-02");
    assert_eq!(created.zone.as_ref().unwrap().name, "zone-b");
    assert_eq!(created.pool.as_ref().unwrap().name, "pool-a");
    for t in ["one", "two", "pod-console-logging"] {
        assert!(
            created.tags.iter().any(|x| x == t),
            "{t} in {:?}",
            created.tags
        );
    }
    let params = a.vm_host_parameters(created.id).await.unwrap();
    assert_eq!(
        params.power_address.as_deref(),
        Some("https://10.10.0.22:8443")
    );
    assert_eq!(params.project.as_deref(), Some("capi"));
    assert!(
        params
            .certificate
            .as_deref()
            .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----")),
        "MAAS generates a client certificate"
    );
    // The parameters hold secrets: Debug never shows them.
    let debug = format!("{params:?}");
    assert!(!debug.contains("BEGIN PRIVATE KEY"), "{debug}");
    assert!(!debug.contains("s3cret-trust"), "{debug}");

    let updated = a
        .update_vm_host(
            created.id,
            &VmHostUpdateParams {
                name: Some("lxd-02-renamed".into()),
                memory_over_commit_ratio: Some(1.5),
                tags: Some(vec!["three".into()]),
                ..VmHostUpdateParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "lxd-02-renamed");
    assert_eq!(updated.memory_over_commit_ratio, Some(1.5));
    assert!(updated.tags.iter().any(|t| t == "three"));
    let refreshed = a.refresh_vm_host(created.id).await.unwrap();
    assert_eq!(refreshed.id, created.id);
    assert_eq!(refreshed.name, "lxd-02-renamed");

    // Compose a VM with a static address on the host's PXE subnet.
    let composed = a
        .compose(
            kvm.id,
            &ComposeParams {
                cores: Some(2),
                memory: Some(4096),
                hostname: Some("vm-static".into()),
                storage: vec![StorageSpec::new(20.0).label("root")],
                interfaces: vec![InterfaceSpec::new("eth0").with("ip", "10.10.0.40")],
                ..ComposeParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        composed.resource_uri,
        format!("/MAAS/api/2.0/machines/{}/", composed.system_id)
    );
    let vm = a.read_machine(&composed.system_id).await.unwrap();
    assert_eq!(vm.hostname, "vm-static");
    assert_eq!(vm.cpu_count, 2);
    assert_eq!(vm.memory, 4096);
    assert_eq!(vm.pod.as_ref().map(|p| p.name.as_str()), Some("kvm-01"));
    assert!(
        vm.interface_set
            .iter()
            .flat_map(|i| i.ip_addresses())
            .any(|ip| ip == "10.10.0.40"),
        "{:?}",
        vm.interface_set
    );
    // A composed machine commissions, then is Ready.
    assert_eq!(vm.status, MachineStatus::Commissioning);
    env.ctl().complete_pending();
    assert_eq!(
        env.ctl().machine(&composed.system_id).unwrap().status,
        NodeStatus::Ready
    );
    let used = a.read_vm_host(kvm.id).await.unwrap();
    assert_eq!(used.used.cores, 2);

    // Deleting with decompose removes the VMs too.
    a.delete_vm_host(kvm.id, true).await.unwrap();
    assert!(matches!(
        a.read_vm_host(kvm.id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        a.read_machine(&composed.system_id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    a.delete_vm_host(created.id, false).await.unwrap();
    assert!(a.list_vm_hosts().await.unwrap().is_empty());
}

#[tokio::test]
async fn allocate_composes_a_dynamic_vm_that_release_deletes() {
    let env = env().await;
    // No Ready machine has 20 cores; kvm-01 (zone-a, 32 cores) composes one.
    let m = env
        .admin
        .allocate(
            &maas_api::AllocateParams::new()
                .cpu_count(20)
                .agent_name("dyn"),
        )
        .await
        .unwrap();
    assert_eq!(m.status, MachineStatus::Allocated);
    assert_eq!(m.cpu_count, 20);
    assert_eq!(m.pod.as_ref().map(|p| p.name.as_str()), Some("kvm-01"));
    env.admin
        .release(&m.system_id, &Default::default())
        .await
        .unwrap();
    env.ctl().complete_pending();
    assert!(matches!(
        env.admin.read_machine(&m.system_id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}
