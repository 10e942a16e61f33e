//! The conversions between our Kubernetes types and the pure lifecycle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use capi_types::capi::{Cluster, Machine};
use capi_types::lifecycle::*;
use capi_types::*;
use machine_lifecycle as lc;
use proptest::prelude::*;
use serde_json::json;

fn maas_machine() -> MaasMachine {
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
        "metadata": {"name": "w-0", "namespace": "ns", "uid": "7c1f6f62-0000-4000-8000-000000000001",
                     "generation": 3, "annotations": {"cluster.x-k8s.io/paused": ""}},
        "spec": {"image": "ubuntu/jammy", "minCPU": 4, "minMemory": 8192, "minDiskSize": 50,
                 "tags": ["k8s"], "ephemeral": true, "release": {"erase": "quick"}, "systemID": "abc123"},
        "status": {"initialization": {"provisioned": false},
                   "lifecycle": {"recordedSystemID": "abc123", "deployFailures": 2,
                                 "deployStartedAt": "2026-03-01T10:00:00Z",
                                 "releasing": [{"systemID": "old111", "since": "2026-03-01T09:00:00Z"}]}}
    }))
    .unwrap()
}

#[test]
fn infra_view_reads_everything_the_lifecycle_needs() {
    let v = infra_view(&maas_machine());
    assert_eq!((v.namespace.as_str(), v.name.as_str()), ("ns", "w-0"));
    assert_eq!(v.uid, "7c1f6f62-0000-4000-8000-000000000001");
    assert_eq!(v.generation, Some(3));
    assert!(v.paused, "paused annotation");
    assert!(!v.deleting);
    assert!(!v.provisioned);
    assert_eq!(v.spec.min_cpu, Some(4));
    assert_eq!(v.spec.min_memory_mib, Some(8192));
    assert_eq!(v.spec.min_disk_gb, Some(50));
    assert_eq!(v.spec.erase, lc::EraseMode::Quick);
    assert!(v.spec.ephemeral);
    assert_eq!(v.progress.deploy_failures, 2);
    assert_eq!(
        v.progress.deploy_started_at,
        Some(lc::Timestamp(1_772_359_200))
    );
    assert_eq!(v.progress.releasing[0].system_id, "old111");
    assert!(!v.system_id_pinned(), "recorded by us");
    assert_eq!(
        v.ids_to_look_up(),
        vec!["abc123".to_owned(), "old111".to_owned()]
    );
}

#[test]
fn capi_views() {
    let m: Machine = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine", "metadata": {"name": "w-0"},
        "spec": {"clusterName": "c1", "bootstrap": {"dataSecretName": "s"}, "failureDomain": ""}
    }))
    .unwrap();
    let v = capi_machine_view(&m);
    assert_eq!(v.cluster_name, "c1");
    assert_eq!(v.bootstrap_data_secret.as_deref(), Some("s"));
    assert_eq!(v.failure_domain, None, "empty failure domain means none");
    assert!(!v.deleting);

    let c: Cluster = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": "c1", "annotations": {"cluster.x-k8s.io/paused": "true"}},
        "spec": {}, "status": {"initialization": {"infrastructureProvisioned": true}}
    }))
    .unwrap();
    assert_eq!(
        cluster_view(&c),
        lc::ClusterView {
            paused: true,
            infrastructure_provisioned: true
        }
    );
}

#[test]
fn a_decision_is_written_to_status_and_spec() {
    let mut mm = maas_machine();
    mm.metadata.annotations = None;
    let mut maas = lc::MaasMachineView::new("abc123", lc::MaasStatus::Deployed, lc::PowerState::On);
    maas.agent_name = lc::OwnerMarker::new("ns", "w-0", mm.metadata.uid.clone().unwrap())
        .unwrap()
        .render();
    maas.workload_annotations = lc::OwnerMarker::new("ns", "w-0", mm.metadata.uid.clone().unwrap())
        .unwrap()
        .workload_annotations(Some("c1"));
    // A deployed machine has an owner in MAAS (one without is proof that
    // the owner-marker query's filter was ignored).
    maas.owner = Some("admin".into());
    maas.hostname = "w-0".into();
    maas.zone = "az1".into();
    maas.ip_addresses = vec!["10.0.0.9".into()];
    maas.ephemeral_deploy = Some(true);
    let mut lookups = std::collections::BTreeMap::new();
    lookups.insert("abc123".to_owned(), lc::Lookup::Found(maas.clone()));
    lookups.insert("old111".to_owned(), lc::Lookup::NotFound);
    let obs = lc::Observation {
        now: lc::Timestamp(1_772_360_000),
        infra: infra_view(&mm),
        machine: Some(lc::CapiMachineView {
            cluster_name: "c1".into(),
            bootstrap_data_secret: Some("s".into()),
            failure_domain: None,
            deleting: false,
        }),
        cluster: Some(lc::ClusterView {
            paused: false,
            infrastructure_provisioned: true,
        }),
        maas: lc::MaasView {
            by_marker: vec![maas],
            lookups,
            version: Some(lc::MaasVersion::new(3, 6, 0)),
        },
    };
    let d = lc::decide(&obs, &lc::LifecycleConfig::default());
    let lc::Action::MarkProvisioned(p) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(p.provider_id, "maas:///az1/abc123");

    let mut status = mm.status.clone().unwrap();
    apply_decision_to_status(&mut status, &d, obs.now, Some(3));
    assert_eq!(
        status.initialization.as_ref().unwrap().provisioned,
        Some(true)
    );
    assert!(status.ready);
    assert_eq!(status.machine_state.as_deref(), Some("Deployed"));
    assert_eq!(status.power_state.as_deref(), Some("on"));
    assert_eq!(status.deployed_in_memory, Some(true));
    assert_eq!(status.failure_domain.as_deref(), Some("az1"));
    assert_eq!(
        status.addresses.iter().map(|a| a.type_).collect::<Vec<_>>(),
        vec![MachineAddressType::Hostname, MachineAddressType::InternalIp]
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.observed_generation),
        ("True", Some(3))
    );
    assert_eq!(to_timestamp(&ready.last_transition_time), obs.now);
    let lifecycle = status.lifecycle.as_ref().unwrap();
    assert!(
        lifecycle.releasing.is_empty(),
        "the release of old111 is confirmed (404)"
    );

    assert_eq!(
        spec_patch(&d.action, &mm.spec),
        Some(json!({"spec": {"providerID": "maas:///az1/abc123"}}))
    );
    mm.spec.provider_id = Some("maas:///az1/abc123".into());
    assert_eq!(
        spec_patch(&d.action, &mm.spec),
        None,
        "providerID is never overwritten"
    );
    assert_eq!(
        spec_patch(
            &lc::Action::Adopt {
                system_id: "x1".into()
            },
            &mm.spec
        ),
        Some(json!({"spec": {"systemID": "x1"}}))
    );
    assert_eq!(
        spec_patch(
            &lc::Action::ForgetSystemId {
                system_id: "x1".into()
            },
            &mm.spec
        ),
        Some(json!({"spec": {"systemID": null}}))
    );
    assert_eq!(spec_patch(&lc::Action::Observe, &mm.spec), None);

    // a decision holding no machine clears the mirrors
    let none = lc::Decision { report: None, ..d };
    apply_decision_to_status(
        &mut status,
        &lc::Decision {
            action: lc::Action::Observe,
            ..none
        },
        obs.now,
        Some(3),
    );
    assert_eq!(status.machine_state, None);
    assert!(status.addresses.is_empty());
}

#[test]
fn conditions_keep_their_transition_time_across_conversions() {
    let mut status = MaasMachineStatus::default();
    let update = |reason: &'static str| lc::Decision {
        action: lc::Action::Observe,
        progress: lc::Progress::default(),
        conditions: vec![lc::ConditionUpdate::new(
            lc::READY,
            lc::ConditionStatus::False,
            reason,
            "m",
        )],
        report: None,
        requeue_after: None,
    };
    apply_decision_to_status(
        &mut status,
        &update(lc::reasons::ALLOCATING),
        lc::Timestamp(100),
        None,
    );
    apply_decision_to_status(
        &mut status,
        &update(lc::reasons::DEPLOYING),
        lc::Timestamp(200),
        None,
    );
    assert_eq!(status.conditions.len(), 1);
    assert_eq!(status.conditions[0].reason, "Deploying");
    assert_eq!(
        to_timestamp(&status.conditions[0].last_transition_time),
        lc::Timestamp(100)
    );
    assert_eq!(status.lifecycle, None, "empty progress is not written");
}

proptest! {
    #[test]
    fn progress_survives_the_status_round_trip(
        recorded in proptest::option::of("[a-z0-9]{6}"),
        failures in 0u32..10,
        started in proptest::option::of(0i64..4_000_000_000),
        avoid in proptest::collection::vec("[a-z0-9]{6}", 0..4),
        releasing in proptest::collection::vec(("[a-z0-9]{6}", 0i64..4_000_000_000), 0..3),
        failure in proptest::option::of(("[A-Za-z]{3,12}", ".{0,40}")),
    ) {
        let p = lc::Progress {
            recorded_system_id: recorded,
            deploy_failures: failures,
            deploy_started_at: started.map(lc::Timestamp),
            avoid_system_ids: avoid,
            releasing: releasing.into_iter().map(|(id, t)| lc::ReleaseRecord { system_id: id, since: lc::Timestamp(t) }).collect(),
            failure: failure.map(|(reason, message)| lc::TerminalFailure { reason, message }),
            ..lc::Progress::default()
        };
        let status = status_from_progress(&p);
        let json = serde_json::to_value(&status).unwrap();
        let back: Option<LifecycleStatus> = serde_json::from_value(json).unwrap();
        prop_assert_eq!(progress_from_status(back.as_ref()), p);
    }
}
