//! Error mapping with a mock MAAS (cases the simulator cannot produce).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use capmaas_controller::error::ErrorClass;
use capmaas_controller::maas::{ClientSettings, MaasHandle};
use capmaas_controller::machine::{allocate, read_maas};
use capmaas_controller::metrics::Metrics;
use maas_api::{Error, Machine, MachineStatus, MockMaasApi};
use machine_lifecycle as lc;

fn handle(mock: MockMaasApi) -> Arc<MaasHandle> {
    let (tx, _rx) = futures::channel::mpsc::unbounded();
    MaasHandle::new(
        Arc::new(mock),
        "http://maas.test/MAAS",
        &ClientSettings {
            request_timeout: Duration::from_secs(1),
            retry: maas_api::RetryPolicy::none(),
            observer: None,
            version_ttl: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            wake: tx,
            cancel: tokio_util::sync::CancellationToken::new(),
            metrics: Arc::new(Metrics::new()),
            machine_cache: true,
        },
    )
}

fn plan(list_marker: bool, read: &[&str]) -> lc::ReadPlan {
    lc::ReadPlan {
        list_marker,
        read: read.iter().map(|s| (*s).to_owned()).collect(),
        version: false,
    }
}

#[tokio::test]
async fn unauthorized_listing_is_permanent() {
    let mut mock = MockMaasApi::new();
    mock.expect_list_machines().returning(|_| {
        Err(Error::Unauthorized {
            message: "Authorization Error: Invalid API key.".into(),
        })
    });
    let e = read_maas(&handle(mock), Some("capmaas/ns/a/uid"), &plan(true, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.to_string().contains("Invalid API key"), "{e}");
}

#[tokio::test]
async fn busy_maas_is_transient_with_its_retry_after() {
    let mut mock = MockMaasApi::new();
    mock.expect_list_machines().returning(|_| Ok(Vec::new()));
    mock.expect_read_machine().returning(|_| {
        Err(Error::Busy {
            status: 409,
            message: "Conflict error. Try your request again".into(),
            retry_after: Some(Duration::from_secs(5)),
        })
    });
    let e = read_maas(&handle(mock), Some("m"), &plan(true, &["abc123"]))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn a_vanished_machine_is_a_lookup_not_found_and_odd_data_never_panics() {
    let mut mock = MockMaasApi::new();
    mock.expect_list_machines().returning(|_| {
        Ok(vec![Machine {
            system_id: "odd001".into(),
            status: MachineStatus::from_code(99),
            memory: -5,
            ..Machine::default()
        }])
    });
    mock.expect_read_machine().returning(|_| {
        Err(Error::NotFound {
            message: "No Machine matches the given query.".into(),
        })
    });
    let seen = read_maas(&handle(mock), Some("m"), &plan(true, &["gone01"]))
        .await
        .unwrap();
    assert_eq!(seen.lookups.get("gone01"), Some(&lc::Lookup::NotFound));
    let odd = &seen.by_marker.as_ref().unwrap()[0];
    assert_eq!(odd.status, lc::MaasStatus::Unknown(99));
    assert_eq!(odd.memory_mib, 0);
    assert_eq!(odd.agent_name, "m");
}

#[tokio::test]
async fn allocation_avoiding_failed_machines_falls_back_when_the_pick_is_taken() {
    let mut mock = MockMaasApi::new();
    mock.expect_list_machines().returning(|f| {
        assert_eq!(f.not_id, vec!["bad001".to_owned()]);
        Ok(vec![Machine {
            system_id: "good01".into(),
            cpu_count: 4,
            memory: 8192,
            status: MachineStatus::Ready,
            ..Machine::default()
        }])
    });
    let mut seq = mockall::Sequence::new();
    mock.expect_allocate()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|p| {
            assert_eq!(p.system_id.as_deref(), Some("good01"));
            Err(Error::NoMachineAvailable {
                message: "No machine with system ID good01 available.".into(),
            })
        });
    mock.expect_allocate()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|p| {
            assert_eq!(p.system_id, None);
            assert_eq!(p.agent_name.as_deref(), Some("marker"));
            Ok(Machine {
                system_id: "other1".into(),
                ..Machine::default()
            })
        });
    let req = lc::AllocateRequest {
        agent_name: "marker".into(),
        system_id: None,
        min_cpu: Some(2),
        min_memory_mib: Some(4096),
        min_disk_gb: None,
        tags: vec![],
        not_tags: vec![],
        zone: None,
        pool: None,
        architecture: None,
        pod: None,
        not_pods: vec![],
        pod_type: None,
        not_pod_types: vec![],
        subnets: vec![],
        avoid_system_ids: vec!["bad001".into()],
        comment: String::new(),
    };
    let m = allocate(&handle(mock), &req).await.unwrap();
    assert_eq!(m.system_id, "other1");
}

#[test]
fn pod_constraints_become_allocate_parameters() {
    let req = lc::AllocateRequest {
        agent_name: "marker".into(),
        system_id: None,
        min_cpu: None,
        min_memory_mib: None,
        min_disk_gb: None,
        tags: vec![],
        not_tags: vec![],
        zone: None,
        pool: None,
        architecture: None,
        pod: Some("vmhost-1".into()),
        not_pods: vec!["vmhost-2".into()],
        pod_type: Some("lxd".into()),
        not_pod_types: vec!["virsh".into()],
        subnets: vec!["ip:10.0.7.20".into()],
        avoid_system_ids: vec![],
        comment: String::new(),
    };
    let p = capmaas_controller::machine::allocate_params(&req);
    assert_eq!(p.pod.as_deref(), Some("vmhost-1"));
    assert_eq!(p.not_pod, vec!["vmhost-2".to_owned()]);
    assert_eq!(p.pod_type.as_deref(), Some("lxd"));
    assert_eq!(p.not_pod_type, vec!["virsh".to_owned()]);
    assert_eq!(p.subnets, vec!["ip:10.0.7.20".to_owned()]);
}
