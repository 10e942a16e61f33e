//! Machine operations: list filters, read, allocate, deploy, release, power, broken/fixed,
//! abort, lock, workload annotations, delete.

use std::collections::BTreeMap;

use base64::Engine;
use maas_api::{
    AllocateParams, DeployParams, Error, ErrorClass, MachineFilter, MachineStatus, PowerOffParams,
    PowerState, ReleaseParams, StopMode,
};
use maas_sim::NodeStatus;

use crate::common::*;

async fn list(env: &Env, f: MachineFilter) -> Vec<String> {
    hostnames(&env.admin.list_machines(&f).await.expect("list machines"))
}

#[tokio::test]
async fn list_with_each_filter() {
    let env = env().await;
    let all = list(&env, MachineFilter::new()).await;
    assert_eq!(all.len(), 8, "{all:?}");

    let by = |f: MachineFilter| list(&env, f);
    assert_eq!(
        by(MachineFilter::new().ids(["sm1aaa", "arm1cc"])).await,
        sorted(&["small-1", "arm-1"])
    );
    let not_id = MachineFilter {
        not_id: vec!["sm1aaa".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(not_id).await.len(), 7);
    assert_eq!(
        by(MachineFilter::new().hostname("big-1")).await,
        sorted(&["big-1"])
    );
    let mac = MachineFilter {
        mac_address: vec!["52:54:00:00:00:12".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(mac).await, sorted(&["small-2"]));
    let domain = MachineFilter {
        domain: vec!["lab.example".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(domain).await, sorted(&["arm-1"]));
    assert_eq!(
        by(MachineFilter::new().zone("zone-a")).await,
        sorted(&["small-1", "big-1"])
    );
    let not_in_zone = MachineFilter {
        not_in_zone: vec!["default".into(), "zone-b".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(not_in_zone).await, sorted(&["small-1", "big-1"]));
    assert_eq!(
        by(MachineFilter::new().pool("pool-a")).await,
        sorted(&["small-2"])
    );
    let not_in_pool = MachineFilter {
        not_in_pool: vec!["default".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(not_in_pool).await, sorted(&["small-2"]));
    // Repeated tags: the machine must carry all of them.
    assert_eq!(
        by(MachineFilter::new().tag("ssd").tag("gpu")).await,
        sorted(&["big-1"])
    );
    assert_eq!(
        by(MachineFilter::new().tag("ssd")).await,
        sorted(&["small-1", "big-1"])
    );
    let not_tags = MachineFilter {
        not_tags: vec!["ssd".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(not_tags).await.len(), 6);
    assert_eq!(
        by(MachineFilter::new().status(MachineStatus::Deployed)).await,
        sorted(&["deployed-1", "kvm-host"])
    );
    assert_eq!(
        by(MachineFilter::new()
            .status(MachineStatus::New)
            .status(MachineStatus::Broken))
        .await,
        sorted(&["new-1", "broken-1"])
    );
    let arch = MachineFilter {
        arch: vec!["arm64".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(arch).await, sorted(&["arm-1"]));
    let owner = MachineFilter {
        owner: vec!["admin".into()],
        ..MachineFilter::new()
    };
    assert_eq!(by(owner).await, sorted(&["deployed-1", "kvm-host"]));
    let pod = MachineFilter {
        pod: vec!["kvm-01".into()],
        ..MachineFilter::new()
    };
    assert!(by(pod).await.is_empty());

    // agent_name: stored by allocate, found by the filter (it is not in machine JSON).
    env.admin
        .allocate(&AllocateParams::new().agent_name("cluster-x"))
        .await
        .unwrap();
    assert_eq!(
        by(MachineFilter::new().agent_name("cluster-x")).await,
        sorted(&["small-1"])
    );
    assert!(
        by(MachineFilter::new().agent_name("cluster-y"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn non_admin_sees_only_unowned_and_own_machines() {
    let env = env().await;
    let seen = hostnames(&env.user.list_machines(&MachineFilter::new()).await.unwrap());
    assert!(!seen.contains(&"deployed-1".to_string()), "{seen:?}");
    assert!(seen.contains(&"small-1".to_string()));
}

#[tokio::test]
async fn read_machine_decodes_the_simulated_hardware() {
    let env = env().await;
    let m = env.admin.read_machine("arm1cc").await.unwrap();
    assert_eq!(m.system_id, "arm1cc");
    assert_eq!(m.hostname, "arm-1");
    assert_eq!(m.fqdn, "arm-1.lab.example");
    assert_eq!(m.architecture, "arm64/generic");
    assert_eq!(m.cpu_count, 8);
    assert_eq!(m.memory, 16384);
    assert_eq!(m.status, MachineStatus::Ready);
    assert_eq!(m.status_name, "Ready");
    assert_eq!(m.zone.as_ref().unwrap().name, "zone-b");
    assert_eq!(m.pool.as_ref().unwrap().name, "default");
    assert_eq!(m.domain.as_ref().unwrap().name, "lab.example");
    assert_eq!(m.owner, None);
    assert_eq!(m.resource_uri, "/MAAS/api/2.0/machines/arm1cc/");
    let small2 = env.admin.read_machine("sm2bbb").await.unwrap();
    let macs: Vec<_> = small2
        .interface_set
        .iter()
        .filter_map(|i| i.mac_address.clone())
        .collect();
    assert_eq!(macs, ["52:54:00:00:00:02", "52:54:00:00:00:12"]);
    assert_eq!(
        small2.interface_set[1].vlan.as_ref().unwrap().vid,
        20,
        "eth1 is on the storage VLAN"
    );
}

#[tokio::test]
async fn allocate_with_constraints_picks_the_cheapest_match() {
    let env = env().await;
    let cases: Vec<(AllocateParams, &str)> = vec![
        (AllocateParams::new().cpu_count(3), "small-2"),
        (AllocateParams::new().mem(10_000), "arm-1"),
        (AllocateParams::new().tag("gpu"), "big-1"),
        (AllocateParams::new().zone("zone-b"), "small-2"),
        (AllocateParams::new().pool("pool-a"), "small-2"),
        (
            AllocateParams {
                arch: vec!["arm64".into()],
                ..AllocateParams::new()
            },
            "arm-1",
        ),
        (
            AllocateParams {
                name: Some("big-1".into()),
                ..AllocateParams::new()
            },
            "big-1",
        ),
        (
            AllocateParams {
                not_tags: vec!["ssd".into()],
                ..AllocateParams::new()
            },
            "small-2",
        ),
        (
            AllocateParams {
                not_in_zone: vec!["zone-a".into()],
                ..AllocateParams::new()
            },
            "small-2",
        ),
    ];
    for (params, want) in cases {
        let dry = AllocateParams {
            dry_run: true,
            ..params.clone()
        };
        let m = env.admin.allocate(&dry).await.unwrap();
        assert_eq!(m.hostname, want, "dry run of {params:?}");
        // A dry run acquires nothing.
        assert_eq!(
            env.ctl().machine(&m.system_id).unwrap().status,
            NodeStatus::Ready
        );
    }

    let m = env
        .user
        .allocate(
            &AllocateParams::new()
                .cpu_count(3)
                .tag("ssd")
                .agent_name("capi-cluster-7")
                .comment("for a test"),
        )
        .await
        .unwrap();
    assert_eq!(m.hostname, "big-1");
    assert_eq!(m.status, MachineStatus::Allocated);
    assert_eq!(m.owner.as_deref(), Some("user"));
    assert!(
        m.constraints_by_type.is_some(),
        "allocate answers carry constraints_by_type"
    );
    let state = env.ctl().machine("big1dd").unwrap();
    assert_eq!(state.status, NodeStatus::Allocated);
    assert_eq!(state.agent_name, "capi-cluster-7");
    assert_eq!(state.owner.as_deref(), Some("user"));

    // system_id picks exactly that machine; once taken it is unavailable.
    let sys = AllocateParams {
        system_id: Some("arm1cc".into()),
        ..AllocateParams::new()
    };
    assert_eq!(env.admin.allocate(&sys).await.unwrap().hostname, "arm-1");
    let again = env.admin.allocate(&sys).await.unwrap_err();
    assert!(
        matches!(&again, Error::NoMachineAvailable { message } if message == "No machine with system ID arm1cc available."),
        "{again:?}"
    );
}

#[tokio::test]
async fn deploy_with_every_parameter() {
    let env = env().await;
    let id = env
        .admin
        .allocate(&AllocateParams {
            name: Some("small-1".into()),
            ..AllocateParams::new()
        })
        .await
        .unwrap()
        .system_id;
    // Binary, non-UTF-8 user data survives the base64 multipart trip.
    let user_data: Vec<u8> = b"#cloud-config\nwrite_files: []\n\xff\x00\x01"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(6000))
        .collect();
    let params = DeployParams {
        osystem: Some("ubuntu".into()),
        distro_series: Some("ubuntu/jammy".into()),
        hwe_kernel: Some("hwe-22.04".into()),
        user_data: Some(maas_api::UserData::new(user_data.clone())),
        license_key: None,
        ephemeral_deploy: Some(false),
        install_kvm: None,
        register_vmhost: None,
        enable_hw_sync: Some(true),
        enable_kernel_crash_dump: Some(true),
        agent_name: Some("ignored-when-allocated".into()),
        comment: Some("deploying from the conformance test".into()),
        bridge_all: Some(true),
        bridge_type: Some("standard".into()),
        bridge_stp: Some(false),
        bridge_fd: Some(15),
    };
    let m = env.admin.deploy(&id, &params).await.unwrap();
    assert_eq!(m.status, MachineStatus::Deploying);
    assert_eq!(m.status_message.as_deref(), Some("Deploying"));
    assert_eq!(m.osystem, "ubuntu");
    assert_eq!(m.distro_series, "jammy");
    assert_eq!(m.hwe_kernel.as_deref(), Some("hwe-22.04"));
    assert!(m.netboot);
    assert_eq!(m.enable_hw_sync, Some(true));
    assert_eq!(m.enable_kernel_crash_dump, Some(true));
    assert_eq!(m.ephemeral_deploy, Some(false));

    // The simulator stores user_data verbatim (base64 text, as MAAS does) ...
    let stored = env.ctl().user_data(&id).expect("user data stored");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&stored)
        .expect("stored user_data is base64");
    assert_eq!(decoded, user_data);
    // ... and never shows it in machine JSON.
    let read = env.admin.read_machine(&id).await.unwrap();
    assert_eq!(read.status, MachineStatus::Deploying);

    env.ctl().complete_pending();
    let done = env.admin.read_machine(&id).await.unwrap();
    assert_eq!(done.status, MachineStatus::Deployed);
    assert_eq!(done.status_message.as_deref(), Some("Deployed"));
    assert_eq!(done.power_state, PowerState::On);
    assert!(
        !done.ip_addresses.is_empty(),
        "AUTO address assigned at deploy"
    );
    // agent_name only applies when deploy allocates the machine itself.
    assert_eq!(env.ctl().machine(&id).unwrap().agent_name, "");
}

#[tokio::test]
async fn deploy_of_a_ready_machine_allocates_it_with_agent_name() {
    let env = env().await;
    let params = DeployParams {
        agent_name: Some("auto-allocated".into()),
        ..DeployParams::new().distro_series("noble")
    };
    let m = env.user.deploy("arm1cc", &params).await.unwrap();
    assert_eq!(m.status, MachineStatus::Deploying);
    assert_eq!(m.owner.as_deref(), Some("user"));
    assert_eq!(
        env.ctl().machine("arm1cc").unwrap().agent_name,
        "auto-allocated"
    );

    let bad = env
        .admin
        .deploy(
            "sm1aaa",
            &DeployParams::new().distro_series("warty-warthog"),
        )
        .await
        .unwrap_err();
    match bad {
        Error::Validation { fields } => {
            assert!(fields.contains_key("distro_series"), "{fields:?}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn register_vmhost_deploy_creates_a_vm_host_and_is_admin_only() {
    let env = env().await;
    let as_user = env
        .user
        .deploy(
            "sm1aaa",
            &DeployParams {
                register_vmhost: Some(true),
                ..DeployParams::new()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(as_user, Error::Forbidden { .. }), "{as_user:?}");

    let before = env.admin.list_vm_hosts().await.unwrap().len();
    env.admin
        .deploy(
            "big1dd",
            &DeployParams {
                register_vmhost: Some(true),
                ..DeployParams::new()
            },
        )
        .await
        .unwrap();
    env.ctl().complete_pending();
    let hosts = env.admin.list_vm_hosts().await.unwrap();
    assert_eq!(hosts.len(), before + 1);
    assert!(hosts.iter().any(|h| h.name == "big-1"), "{hosts:?}");
    // MAAS overwrites agent_name for KVM hosts.
    assert_eq!(
        env.ctl().machine("big1dd").unwrap().agent_name,
        "maas-kvm-pod"
    );

    // Ephemeral + VM host is refused.
    let both = env
        .admin
        .deploy(
            "sm1aaa",
            &DeployParams {
                register_vmhost: Some(true),
                ..DeployParams::new().ephemeral(true)
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&both, Error::BadRequest { message } if message.contains("deployed to memory")),
        "{both:?}"
    );
}

#[tokio::test]
async fn release_plain_and_with_erase_options() {
    let env = env().await;
    // An allocated machine that is off is Ready at once.
    let off = env
        .admin
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    let r = env
        .admin
        .release(&off, &ReleaseParams::default())
        .await
        .unwrap();
    assert_eq!(r.status, MachineStatus::Ready);
    assert_eq!(r.owner, None);

    // A deployed (powered on) machine: Releasing, then Ready, owner and agent cleared.
    let id = env
        .admin
        .allocate(&AllocateParams::new().agent_name("a"))
        .await
        .unwrap()
        .system_id;
    env.admin.deploy(&id, &DeployParams::new()).await.unwrap();
    env.ctl().complete_pending();
    let r = env
        .admin
        .release(
            &id,
            &ReleaseParams {
                comment: Some("bye".into()),
                ..ReleaseParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status, MachineStatus::Releasing);
    env.ctl().complete_pending();
    let m = env.admin.read_machine(&id).await.unwrap();
    assert_eq!(m.status, MachineStatus::Ready);
    assert_eq!(m.owner, None);
    assert_eq!(env.ctl().machine(&id).unwrap().agent_name, "");

    // Every erase flavour goes through Disk erasing.
    for (erase, secure, quick) in [
        (true, false, false),
        (true, true, false),
        (true, false, true),
    ] {
        let id = env
            .admin
            .allocate(&AllocateParams::new())
            .await
            .unwrap()
            .system_id;
        env.admin.deploy(&id, &DeployParams::new()).await.unwrap();
        env.ctl().complete_pending();
        let r = env
            .admin
            .release(
                &id,
                &ReleaseParams {
                    erase,
                    secure_erase: secure,
                    quick_erase: quick,
                    ..ReleaseParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            r.status,
            MachineStatus::DiskErasing,
            "{erase} {secure} {quick}"
        );
        env.ctl().complete_pending();
        assert_eq!(
            env.admin.read_machine(&id).await.unwrap().status,
            MachineStatus::Ready
        );
    }

    // Releasing a Ready machine is a no-op; a New one is a conflict.
    let ready = env
        .admin
        .release("sm1aaa", &ReleaseParams::default())
        .await
        .unwrap();
    assert_eq!(ready.status, MachineStatus::Ready);
    let err = env
        .admin
        .release("new1ee", &ReleaseParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message } if message.contains("cannot be released")),
        "{err:?}"
    );
}

#[tokio::test]
async fn batch_release() {
    let env = env().await;
    let a = env.admin.allocate(&AllocateParams::new()).await.unwrap();
    let b = env.admin.allocate(&AllocateParams::new()).await.unwrap();
    let ids = vec![a.system_id.clone(), b.system_id.clone()];
    let mut released = env
        .admin
        .release_machines(&ids, Some("batch"))
        .await
        .unwrap();
    released.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(released, want);
    env.ctl().complete_pending();
    for id in &ids {
        assert_eq!(
            env.ctl().machine(id).unwrap().status,
            NodeStatus::Ready,
            "{id}"
        );
    }
    assert!(
        env.admin
            .release_machines(&[], None)
            .await
            .unwrap()
            .is_empty()
    );
    let err = env
        .admin
        .release_machines(&["new1ee".to_string()], None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn power_operations_and_query() {
    let env = env().await;
    let err = env.admin.power_on("sm1aaa", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message } if message == "Can't start node: it hasn't been allocated."),
        "{err:?}"
    );
    let id = env
        .admin
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    assert_eq!(
        env.admin.query_power_state(&id).await.unwrap(),
        PowerState::Off
    );
    env.admin.power_on(&id, Some("up")).await.unwrap();
    env.ctl().complete_pending();
    assert_eq!(
        env.admin.query_power_state(&id).await.unwrap(),
        PowerState::On
    );
    let off = env
        .admin
        .power_off(
            &id,
            &PowerOffParams {
                stop_mode: Some(StopMode::Soft),
                comment: Some("down".into()),
            },
        )
        .await
        .unwrap();
    assert!(off.is_some(), "an IPMI machine accepts power actions");
    env.ctl().complete_pending();
    assert_eq!(
        env.admin.query_power_state(&id).await.unwrap(),
        PowerState::Off
    );
    assert_eq!(
        env.admin.read_machine(&id).await.unwrap().power_state,
        PowerState::Off
    );
}

#[tokio::test]
async fn mark_broken_and_fixed() {
    let env = env().await;
    let id = env
        .user
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    // Only the owner may mark it broken; not even an admin.
    let err = env.admin.mark_broken(&id, Some("x")).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let broken = env
        .user
        .mark_broken(&id, Some("disk on fire"))
        .await
        .unwrap();
    assert_eq!(broken.status, MachineStatus::Broken);
    assert_eq!(broken.error_description, "disk on fire");
    // mark_fixed is admin-only.
    let err = env.user.mark_fixed(&id, None).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let fixed = env.admin.mark_fixed(&id, Some("fixed")).await.unwrap();
    assert_eq!(fixed.status, MachineStatus::Ready);
    let err = env.admin.mark_fixed(&id, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message } if message.contains("non-broken")),
        "{err:?}"
    );
}

#[tokio::test]
async fn abort_a_deployment() {
    let env = env().await;
    let id = env
        .admin
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    let err = env.admin.abort(&id, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message } if message.starts_with("Cannot abort in current state")),
        "{err:?}"
    );
    env.admin.deploy(&id, &DeployParams::new()).await.unwrap();
    let m = env.admin.abort(&id, Some("changed my mind")).await.unwrap();
    assert_eq!(m.status, MachineStatus::Allocated);
    env.ctl().complete_pending();
    assert_eq!(
        env.ctl().machine(&id).unwrap().status,
        NodeStatus::Allocated
    );
}

#[tokio::test]
async fn lock_and_unlock() {
    let env = env().await;
    let m = env.admin.lock("dep1gg", Some("prod")).await.unwrap();
    assert!(m.locked);
    let err = env.admin.lock("dep1gg", None).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    // A locked machine cannot be released.
    let err = env
        .admin
        .release("dep1gg", &ReleaseParams::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err:?}");
    let m = env.admin.unlock("dep1gg", None).await.unwrap();
    assert!(!m.locked);
    let err = env.admin.unlock("dep1gg", None).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn workload_annotations_set_and_delete() {
    let env = env().await;
    let id = env
        .admin
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    let mut ann = BTreeMap::new();
    ann.insert("cluster".to_string(), "c1".to_string());
    ann.insert("role".to_string(), "control-plane".to_string());
    let m = env.admin.set_workload_annotations(&id, &ann).await.unwrap();
    assert_eq!(m.workload_annotations, ann);
    assert_eq!(env.ctl().machine(&id).unwrap().workload_annotations, ann);
    let mut del = BTreeMap::new();
    del.insert("role".to_string(), String::new());
    let m = env.admin.set_workload_annotations(&id, &del).await.unwrap();
    assert_eq!(
        m.workload_annotations.keys().collect::<Vec<_>>(),
        ["cluster"]
    );
    // Only the owner may annotate.
    let err = env
        .user
        .set_workload_annotations(&id, &ann)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. } | Error::Forbidden { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn delete_machine() {
    let env = env().await;
    let err = env.user.delete_machine("new1ee", false).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    env.admin.delete_machine("new1ee", true).await.unwrap();
    let err = env.admin.read_machine("new1ee").await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { message } if message == "No Machine matches the given query."),
        "{err:?}"
    );
    assert!(env.ctl().machine("new1ee").is_none());
}
