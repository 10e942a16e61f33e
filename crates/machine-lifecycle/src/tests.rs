//! Focused unit tests: one scenario per decision.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::*;

const UID: &str = "0f9e8d7c-6b5a-4948-8776-655443322110";

fn marker() -> String {
    OwnerMarker::new("ns", "m0", UID).unwrap().render()
}

fn base() -> Observation {
    let mut obs = Observation {
        now: Timestamp(10_000),
        ..Observation::default()
    };
    obs.infra.namespace = "ns".into();
    obs.infra.name = "m0".into();
    obs.infra.uid = UID.into();
    obs.infra.generation = Some(3);
    obs.infra.spec.image = "ubuntu/jammy".into();
    obs.infra.spec.min_cpu = Some(2);
    obs.infra.spec.min_memory_mib = Some(4096);
    obs.infra.spec.tags = vec!["k8s".into()];
    obs.infra.spec.erase = EraseMode::Quick;
    obs.machine = Some(CapiMachineView {
        cluster_name: "c1".into(),
        bootstrap_data_secret: Some("m0-bootstrap".into()),
        failure_domain: Some("az1".into()),
        deleting: false,
    });
    obs.cluster = Some(ClusterView {
        paused: false,
        infrastructure_provisioned: true,
    });
    obs.maas.version = Some(MaasVersion::new(3, 6, 5));
    obs
}

fn machine(id: &str, status: MaasStatus, power: PowerState) -> MaasMachineView {
    let mut m = MaasMachineView::new(id, status, power);
    m.hostname = format!("host-{id}");
    m.fqdn = format!("host-{id}.maas");
    m.zone = "az1".into();
    m.memory_mib = 32 * 1024;
    m.ip_addresses = vec!["10.0.0.7".into(), "198.51.99.10".into()];
    m
}

/// A machine of ours: marker as agent_name and full workload annotations.
fn owned(id: &str, status: MaasStatus, power: PowerState) -> MaasMachineView {
    let mut m = machine(id, status, power);
    m.owner = Some("capi".into());
    m.agent_name = marker();
    m.workload_annotations = OwnerMarker::new("ns", "m0", UID)
        .unwrap()
        .workload_annotations(Some("c1"));
    m
}

/// `obs` with `m` recorded in spec.systemID (by us) and looked up.
fn recorded(mut obs: Observation, m: MaasMachineView) -> Observation {
    obs.infra.spec.system_id = Some(m.system_id.clone());
    obs.infra.progress.recorded_system_id = Some(m.system_id.clone());
    if !m.agent_name.is_empty() {
        obs.maas.by_marker.push(m.clone());
    }
    obs.maas
        .lookups
        .insert(m.system_id.clone(), Lookup::Found(m));
    obs
}

fn run(obs: &Observation) -> Decision {
    decide(obs, &LifecycleConfig::default())
}

fn condition<'a>(d: &'a Decision, type_: &str) -> &'a ConditionUpdate {
    d.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {d:?}"))
}

fn deployed_reason(d: &Decision) -> &'static str {
    condition(d, MACHINE_DEPLOYED).reason
}

// ----- waits ---------------------------------------------------------------

#[test]
fn paused_cluster_does_nothing_even_when_deleting() {
    for deleting in [false, true] {
        let mut obs = recorded(
            base(),
            owned("abc123", MaasStatus::Allocated, PowerState::Off),
        );
        obs.infra.deleting = deleting;
        obs.cluster = Some(ClusterView {
            paused: true,
            infrastructure_provisioned: true,
        });
        let d = run(&obs);
        assert_eq!(d.action, Action::Paused);
        assert_eq!(condition(&d, PAUSED).status, ConditionStatus::True);
        assert!(
            d.conditions.iter().all(|c| c.type_ == PAUSED),
            "only Paused is touched"
        );
        assert_eq!(d.progress, obs.infra.progress);
    }
}

#[test]
fn paused_annotation_on_the_machine_pauses() {
    let mut obs = base();
    obs.infra.paused = true;
    let d = run(&obs);
    assert_eq!(d.action, Action::Paused);
    assert!(condition(&d, PAUSED).message.contains("MaasMachine"));
}

#[test]
fn not_paused_is_reported() {
    let d = run(&base());
    let c = condition(&d, PAUSED);
    assert_eq!(
        (c.status, c.reason),
        (ConditionStatus::False, reasons::NOT_PAUSED)
    );
}

#[test]
fn waits_for_owner_machine_and_cluster() {
    let mut obs = base();
    obs.machine = None;
    assert_eq!(run(&obs).action, Action::WaitForOwnerMachine);
    let mut obs = base();
    obs.cluster = None;
    let d = run(&obs);
    assert_eq!(d.action, Action::WaitForCluster);
    assert_eq!(deployed_reason(&d), reasons::WAITING_FOR_CLUSTER);
}

#[test]
fn waits_for_cluster_infrastructure() {
    let mut obs = base();
    obs.cluster = Some(ClusterView {
        paused: false,
        infrastructure_provisioned: false,
    });
    let d = run(&obs);
    assert_eq!(d.action, Action::WaitForClusterInfrastructure);
    assert_eq!(
        deployed_reason(&d),
        reasons::WAITING_FOR_CLUSTER_INFRASTRUCTURE
    );
    assert_eq!(condition(&d, READY).status, ConditionStatus::False);
    assert_eq!(d.requeue_after, None, "a watch on the Cluster wakes us");
}

#[test]
fn nothing_new_is_started_for_a_machine_being_deleted() {
    let mut obs = base();
    obs.machine.as_mut().unwrap().deleting = true;
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(deployed_reason(&d), reasons::DELETING);
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    );
    obs.machine.as_mut().unwrap().deleting = true;
    assert_eq!(run(&obs).action, Action::Observe, "no deploy");
}

#[test]
fn waits_for_bootstrap_data_before_allocating() {
    let mut obs = base();
    obs.machine.as_mut().unwrap().bootstrap_data_secret = None;
    let d = run(&obs);
    assert_eq!(d.action, Action::WaitForBootstrapData);
    assert_eq!(deployed_reason(&d), reasons::WAITING_FOR_BOOTSTRAP_DATA);
}

#[test]
fn waits_for_bootstrap_data_before_deploying_an_allocated_machine() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    );
    obs.machine.as_mut().unwrap().bootstrap_data_secret = Some(String::new());
    assert_eq!(run(&obs).action, Action::WaitForBootstrapData);
}

// ----- allocate / adopt ------------------------------------------------------

#[test]
fn allocates_with_constraints_and_owner_marker() {
    let mut obs = base();
    obs.infra.spec.not_tags = vec!["gpu".into()];
    obs.infra.spec.resource_pool = Some(String::new());
    obs.infra.spec.architecture = Some("amd64".into());
    obs.infra.spec.min_disk_gb = Some(100);
    obs.infra.spec.failure_domain = Some("ignored-because-machine-has-one".into());
    let d = run(&obs);
    let Action::Allocate(req) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(req.agent_name, marker());
    assert_eq!(req.system_id, None);
    assert_eq!(req.min_cpu, Some(2));
    assert_eq!(req.min_memory_mib, Some(4096));
    assert_eq!(req.min_disk_gb, Some(100));
    assert_eq!(req.tags, vec!["k8s".to_owned()]);
    assert_eq!(req.not_tags, vec!["gpu".to_owned()]);
    assert_eq!(
        req.zone.as_deref(),
        Some("az1"),
        "Machine.spec.failureDomain wins"
    );
    assert_eq!(req.pool, None, "empty resourcePool means any pool");
    assert_eq!(req.architecture.as_deref(), Some("amd64"));
    assert_eq!(deployed_reason(&d), reasons::ALLOCATING);
    assert_eq!(d.requeue_after, Some(Duration::ZERO));
}

#[test]
fn allocation_zone_falls_back_to_the_maasmachine_failure_domain() {
    let mut obs = base();
    obs.machine.as_mut().unwrap().failure_domain = None;
    obs.infra.spec.failure_domain = Some("az9".into());
    let Action::Allocate(req) = run(&obs).action else {
        panic!()
    };
    assert_eq!(req.zone.as_deref(), Some("az9"));
}

#[test]
fn adopts_a_machine_carrying_our_marker_instead_of_allocating() {
    let mut obs = base();
    obs.infra.progress.allocate_failures = 3;
    obs.maas
        .by_marker
        .push(owned("abc123", MaasStatus::Allocated, PowerState::Off));
    let d = run(&obs);
    assert_eq!(
        d.action,
        Action::Adopt {
            system_id: "abc123".into()
        }
    );
    assert_eq!(d.progress.recorded_system_id.as_deref(), Some("abc123"));
    assert_eq!(d.progress.allocate_failures, 0);
    assert_eq!(deployed_reason(&d), reasons::ADOPTING);
}

#[test]
fn adopts_the_most_advanced_of_several() {
    let mut obs = base();
    obs.maas.by_marker = vec![
        owned("aaa111", MaasStatus::Allocated, PowerState::Off),
        owned("ccc333", MaasStatus::Deployed, PowerState::On),
        owned("bbb222", MaasStatus::Deploying, PowerState::On),
    ];
    assert_eq!(
        run(&obs).action,
        Action::Adopt {
            system_id: "ccc333".into()
        }
    );
}

#[test]
fn never_adopts_a_machine_being_released() {
    let mut obs = base();
    obs.maas.by_marker = vec![
        owned("aaa111", MaasStatus::Releasing, PowerState::On),
        owned("bbb222", MaasStatus::DiskErasing, PowerState::On),
    ];
    assert!(matches!(run(&obs).action, Action::Allocate(_)));
    obs.maas.by_marker.push(owned(
        "ccc333",
        MaasStatus::ReleasingFailed,
        PowerState::Error,
    ));
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Release(r) if r.system_id == "ccc333" && r.reason == ReleaseReason::RetryRelease)
    );
}

#[test]
fn adopts_by_owner_annotation_when_agent_name_was_overwritten() {
    let mut m = owned("abc123", MaasStatus::Deployed, PowerState::On);
    m.agent_name = "maas-kvm-pod".into();
    let mut obs = base();
    obs.maas.by_marker.push(m);
    assert_eq!(
        run(&obs).action,
        Action::Adopt {
            system_id: "abc123".into()
        }
    );
}

#[test]
fn ignores_listed_machines_that_do_not_carry_our_marker() {
    let mut foreign = machine("fff000", MaasStatus::Allocated, PowerState::Off);
    foreign.agent_name = OwnerMarker::new("ns", "m0", "other-uid").unwrap().render();
    let mut obs = base();
    obs.maas.by_marker.push(foreign);
    assert!(matches!(run(&obs).action, Action::Allocate(_)));
}

#[test]
fn ephemeral_raises_the_memory_constraint() {
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    let Action::Allocate(req) = run(&obs).action else {
        panic!()
    };
    assert_eq!(req.min_memory_mib, Some(16 * 1024));
    obs.infra.spec.min_memory_mib = Some(65536);
    let Action::Allocate(req) = run(&obs).action else {
        panic!()
    };
    assert_eq!(req.min_memory_mib, Some(65536));
}

#[test]
fn ephemeral_on_old_maas_waits_with_a_clear_condition() {
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    obs.maas.version = Some(MaasVersion::new(3, 4, 2));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    let c = condition(&d, MACHINE_DEPLOYED);
    assert_eq!(c.reason, reasons::EPHEMERAL_NOT_SUPPORTED);
    assert!(
        c.message.contains("3.5.0") && c.message.contains("3.4.2"),
        "{}",
        c.message
    );
    assert!(c.message.contains("spec.ephemeral: false"));
    obs.maas.version = None;
    assert_eq!(
        deployed_reason(&run(&obs)),
        reasons::WAITING_FOR_MAAS_VERSION
    );
    obs.infra.spec.ephemeral = false;
    assert!(
        matches!(run(&obs).action, Action::Allocate(_)),
        "version only matters for ephemeral"
    );
}

#[test]
fn invalid_image_fails_terminally() {
    let mut obs = base();
    obs.infra.spec.image = "Ubuntu/Jammy/x".into();
    let d = run(&obs);
    let Action::Fail { reason, message } = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(reason, reasons::INVALID_SPEC);
    assert!(message.contains("recreate"));
    assert!(d.progress.failure.is_some());
}

#[test]
fn invalid_hwe_kernel_fails_terminally() {
    let mut obs = base();
    obs.infra.spec.hwe_kernel = Some("HWE 22".into());
    assert!(matches!(run(&obs).action, Action::Fail { .. }));
}

// ----- pinned ---------------------------------------------------------------

#[test]
fn pinned_ready_machine_is_allocated_by_system_id() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("pin001".into());
    obs.maas.lookups.insert(
        "pin001".into(),
        Lookup::Found(machine("pin001", MaasStatus::Ready, PowerState::Off)),
    );
    let Action::Allocate(req) = run(&obs).action else {
        panic!()
    };
    assert_eq!(req.system_id.as_deref(), Some("pin001"));
    assert_eq!(req.agent_name, marker());
}

#[test]
fn pinned_machine_owned_by_someone_else_is_never_touched() {
    let mut other = machine("pin001", MaasStatus::Deployed, PowerState::On);
    other.owner = Some("alice".into());
    other.agent_name = "juju".into();
    let mut obs = base();
    obs.infra.spec.system_id = Some("pin001".into());
    obs.maas
        .lookups
        .insert("pin001".into(), Lookup::Found(other));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(deployed_reason(&d), reasons::PINNED_MACHINE_UNAVAILABLE);
    assert!(condition(&d, MACHINE_DEPLOYED).message.contains("alice"));
    obs.infra.deleting = true;
    assert_eq!(run(&obs).action, Action::RemoveFinalizer);
}

#[test]
fn pinned_machine_missing_from_maas_fails() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("pin001".into());
    obs.maas.lookups.insert("pin001".into(), Lookup::NotFound);
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Fail { reason, .. } if reason == reasons::PINNED_MACHINE_UNAVAILABLE)
    );
}

#[test]
fn missing_lookup_waits_instead_of_guessing() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("abc123".into());
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(obs.infra.ids_to_look_up(), vec!["abc123".to_owned()]);
}

// ----- annotate / deploy ------------------------------------------------------

#[test]
fn annotates_an_owned_machine_before_deploying() {
    let mut m = owned("abc123", MaasStatus::Allocated, PowerState::Off);
    m.workload_annotations = BTreeMap::new();
    let d = run(&recorded(base(), m));
    let Action::Annotate {
        system_id,
        annotations,
    } = &d.action
    else {
        panic!("{d:?}")
    };
    assert_eq!(system_id, "abc123");
    assert_eq!(annotations.get(ANNOTATION_OWNER), Some(&marker()));
    assert_eq!(
        annotations.get(ANNOTATION_CLUSTER).map(String::as_str),
        Some("ns/c1")
    );
}

#[test]
fn annotation_rejected_by_maas_is_not_retried() {
    let mut m = owned("abc123", MaasStatus::Allocated, PowerState::Off);
    m.workload_annotations = BTreeMap::new();
    let obs = recorded(base(), m);
    let first = run(&obs);
    assert!(matches!(first.action, Action::Annotate { .. }));
    let err = ActionError {
        retry_after: None,
        outcome_unknown: false,
        class: ErrorClass::Permanent,
        message: "nope".into(),
    };
    let after = action_failed(&obs, &LifecycleConfig::default(), &first, &err);
    let mut obs2 = obs.clone();
    obs2.infra.progress = after.progress;
    assert!(matches!(run(&obs2).action, Action::Deploy(_)));
}

#[test]
fn deploys_the_recorded_machine() {
    let mut obs = base();
    obs.infra.spec.image = "jammy".into();
    obs.infra.spec.hwe_kernel = Some("hwe-22.04".into());
    let obs = recorded(obs, owned("abc123", MaasStatus::Allocated, PowerState::Off));
    let d = run(&obs);
    let Action::Deploy(req) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(req.system_id, "abc123");
    assert_eq!(
        (req.osystem.as_str(), req.distro_series.as_str()),
        ("ubuntu", "jammy")
    );
    assert_eq!(req.hwe_kernel.as_deref(), Some("hwe-22.04"));
    assert!(!req.ephemeral);
    assert_eq!(req.bootstrap_data_secret, "m0-bootstrap");
    assert_eq!(d.progress.deploy_started_at, Some(obs.now));
    assert_eq!(deployed_reason(&d), reasons::DEPLOYING);
}

#[test]
fn deploys_in_memory_when_supported_and_big_enough() {
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    obs.infra.spec.image = "custom/k8s-133".into();
    let obs = recorded(obs, owned("abc123", MaasStatus::Allocated, PowerState::Off));
    let Action::Deploy(req) = run(&obs).action else {
        panic!()
    };
    assert!(req.ephemeral);
    assert_eq!(
        (req.osystem.as_str(), req.distro_series.as_str()),
        ("custom", "k8s-133")
    );
}

#[test]
fn ephemeral_on_a_small_machine_is_released_and_retried_elsewhere() {
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    let mut m = owned("small1", MaasStatus::Allocated, PowerState::Off);
    m.memory_mib = 8192;
    let d = run(&recorded(obs, m));
    let Action::Release(req) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(req.system_id, "small1");
    assert_eq!(
        req.erase,
        EraseMode::None,
        "never deployed: nothing to erase"
    );
    assert!(matches!(
        req.reason,
        ReleaseReason::RetryDeploy {
            final_attempt: false,
            ..
        }
    ));
    assert_eq!(deployed_reason(&d), reasons::INSUFFICIENT_MEMORY);
    assert_eq!(d.progress.avoid_system_ids, vec!["small1".to_owned()]);
}

#[test]
fn ephemeral_on_a_small_pinned_machine_fails_terminally_and_releases_it() {
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    let mut m = owned("small1", MaasStatus::Allocated, PowerState::Off);
    m.memory_mib = 8192;
    let mut obs = recorded(obs, m);
    obs.infra.progress.recorded_system_id = None; // user pinned it
    let d = run(&obs);
    assert!(matches!(&d.action, Action::Release(r) if r.reason == ReleaseReason::Failed));
    let failure = d.progress.failure.clone().unwrap();
    assert_eq!(failure.reason, reasons::INSUFFICIENT_MEMORY);
    assert!(failure.message.contains("spec.ephemeral: false"));
}

#[test]
fn ephemeral_on_a_small_pinned_ready_machine_fails_before_allocating() {
    // The lookup of the pinned machine shows its memory: decide from it
    // rather than asking MAAS for >= 16 GiB by system_id (a 409 that would
    // only read "pinned machine ... not available").
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    obs.infra.spec.system_id = Some("pin001".into());
    let mut m = machine("pin001", MaasStatus::Ready, PowerState::Off);
    m.memory_mib = 8192;
    obs.maas
        .lookups
        .insert("pin001".into(), Lookup::Found(m.clone()));
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Fail { reason, .. } if reason == reasons::INSUFFICIENT_MEMORY),
        "{d:?}"
    );
    assert_eq!(deployed_reason(&d), reasons::INSUFFICIENT_MEMORY);
    let message = &condition(&d, MACHINE_DEPLOYED).message;
    assert!(
        message.contains("pin001") && message.contains("8192") && message.contains("16384"),
        "{message}"
    );
    assert_eq!(
        d.progress.failure.as_ref().map(|f| f.reason.as_str()),
        Some(reasons::INSUFFICIENT_MEMORY)
    );
    // Terminal: the next decision does not allocate either.
    obs.infra.progress = d.progress.clone();
    assert!(!matches!(run(&obs).action, Action::Allocate(_)));

    // The same pinned machine with enough memory is allocated by system_id.
    let mut obs = base();
    obs.infra.spec.ephemeral = true;
    obs.infra.spec.system_id = Some("pin001".into());
    m.memory_mib = 16384;
    obs.maas.lookups.insert("pin001".into(), Lookup::Found(m));
    let Action::Allocate(req) = run(&obs).action else {
        panic!("a big enough pinned machine is allocated")
    };
    assert_eq!(req.system_id.as_deref(), Some("pin001"));
    assert_eq!(req.min_memory_mib, Some(16384));
}

#[test]
fn disk_deploy_on_a_small_pinned_machine_is_allocated() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("pin001".into());
    let mut m = machine("pin001", MaasStatus::Ready, PowerState::Off);
    m.memory_mib = 8192;
    obs.maas.lookups.insert("pin001".into(), Lookup::Found(m));
    assert!(matches!(run(&obs).action, Action::Allocate(_)));
}

#[test]
fn deploying_is_observed_until_the_timeout() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deploying, PowerState::On),
    );
    obs.infra.progress.deploy_started_at = Some(Timestamp(obs.now.0 - 600));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(deployed_reason(&d), reasons::DEPLOYING);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn deploying_without_a_start_time_starts_the_clock_now() {
    let obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deploying, PowerState::On),
    );
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(d.progress.deploy_started_at, Some(obs.now));
}

#[test]
fn deploy_timeout_releases_and_retries_elsewhere() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deploying, PowerState::On),
    );
    obs.infra.progress.deploy_started_at = Some(Timestamp(obs.now.0 - 91 * 60));
    let d = run(&obs);
    let Action::Release(req) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(req.erase, EraseMode::Quick);
    assert!(
        matches!(&req.reason, ReleaseReason::RetryDeploy { cause, final_attempt: false } if cause.contains("90 minutes"))
    );
    assert_eq!(d.progress.deploy_failures, 1);
    assert_eq!(d.progress.releasing.len(), 1);
    assert!(
        condition(&d, MACHINE_DEPLOYED)
            .message
            .contains("another machine")
    );
}

#[test]
fn failed_deployment_is_retried_then_fails_terminally() {
    let mut m = owned("abc123", MaasStatus::FailedDeployment, PowerState::Off);
    m.status_message = "Failed deployment - curtin error".into();
    let mut obs = recorded(base(), m);
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Release(r) if matches!(r.reason, ReleaseReason::RetryDeploy { final_attempt: false, .. }))
    );
    assert_eq!(deployed_reason(&d), reasons::DEPLOY_FAILED);
    assert!(d.progress.failure.is_none());

    obs.infra.progress.deploy_failures = 2; // max_deploy_retries
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Release(r) if matches!(r.reason, ReleaseReason::RetryDeploy { final_attempt: true, .. }))
    );
    let failure = d.progress.failure.clone().unwrap();
    assert!(
        failure.message.contains("3 failed deploy attempts"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("curtin error"));
}

#[test]
fn released_retry_machine_is_forgotten_then_another_allocated() {
    // After the retry release, MAAS clears the marker and the machine goes Ready.
    let mut obs = base();
    obs.infra.spec.system_id = Some("abc123".into());
    obs.infra.progress.recorded_system_id = Some("abc123".into());
    obs.infra.progress.deploy_failures = 1;
    obs.infra.progress.avoid_system_ids = vec!["abc123".into()];
    obs.infra.progress.releasing = vec![ReleaseRecord {
        system_id: "abc123".into(),
        since: Timestamp(1),
    }];
    let mut releasing = machine("abc123", MaasStatus::Releasing, PowerState::On);
    releasing.owner = Some("capi".into());
    obs.maas
        .lookups
        .insert("abc123".into(), Lookup::Found(releasing));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe, "wait for the release to finish");
    assert_eq!(deployed_reason(&d), reasons::RELEASING);

    obs.maas.lookups.insert(
        "abc123".into(),
        Lookup::Found(machine("abc123", MaasStatus::Ready, PowerState::Off)),
    );
    let d = run(&obs);
    assert_eq!(
        d.action,
        Action::ForgetSystemId {
            system_id: "abc123".into()
        }
    );
    assert!(d.progress.releasing.is_empty());
    assert_eq!(d.report, None);

    obs.infra.spec.system_id = None;
    obs.infra.progress = d.progress;
    let Action::Allocate(req) = run(&obs).action else {
        panic!()
    };
    assert_eq!(req.avoid_system_ids, vec!["abc123".to_owned()]);
}

#[test]
fn pinned_retry_reallocates_the_same_machine() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("pin001".into());
    obs.infra.progress.deploy_failures = 1;
    obs.maas.lookups.insert(
        "pin001".into(),
        Lookup::Found(machine("pin001", MaasStatus::Ready, PowerState::Off)),
    );
    let Action::Allocate(req) = run(&obs).action else {
        panic!()
    };
    assert_eq!(req.system_id.as_deref(), Some("pin001"));
}

#[test]
fn failed_release_of_ours_is_retried_using_the_record() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("abc123".into());
    obs.infra.progress.recorded_system_id = Some("abc123".into());
    obs.infra.progress.releasing = vec![ReleaseRecord {
        system_id: "abc123".into(),
        since: Timestamp(1),
    }];
    let mut m = machine("abc123", MaasStatus::ReleasingFailed, PowerState::Error);
    m.owner = Some("capi".into());
    obs.maas
        .lookups
        .insert("abc123".into(), Lookup::Found(m.clone()));
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Release(r) if r.reason == ReleaseReason::RetryRelease && r.system_id == "abc123")
    );
    assert_eq!(deployed_reason(&d), reasons::RELEASE_FAILED);

    // Without the record (e.g. status lost) it is not provably ours: never released.
    obs.infra.progress.releasing.clear();
    let d = run(&obs);
    assert!(!matches!(d.action, Action::Release(_)), "{d:?}");
}

// ----- deployed / power -----------------------------------------------------

#[test]
fn marks_a_deployed_machine_provisioned() {
    let obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    let d = run(&obs);
    let Action::MarkProvisioned(p) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(p.provider_id, "maas:///az1/abc123");
    assert_eq!(p.failure_domain, "az1");
    let kinds: Vec<(AddressType, &str)> = p
        .addresses
        .iter()
        .map(|a| (a.kind, a.address.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (AddressType::Hostname, "host-abc123"),
            (AddressType::InternalDns, "host-abc123.maas"),
            (AddressType::InternalIp, "10.0.0.7"),
            (AddressType::InternalIp, "198.51.99.10"),
            (AddressType::ExternalIp, "198.51.99.10"),
        ]
    );
    assert_eq!(condition(&d, READY).status, ConditionStatus::True);
    assert_eq!(deployed_reason(&d), reasons::DEPLOYED);
    let report = d.report.unwrap();
    assert_eq!(report.machine_state, "Deployed");
    assert_eq!(report.power_state, "on");
    assert_eq!(report.addresses.len(), 5);
}

#[test]
fn keeps_an_existing_provider_id() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    obs.infra.spec.provider_id = Some("maas:///old-zone/abc123".into());
    let Action::MarkProvisioned(p) = run(&obs).action else {
        panic!()
    };
    assert_eq!(p.provider_id, "maas:///old-zone/abc123");
}

#[test]
fn provisioned_machine_is_only_observed() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    obs.infra.provisioned = true;
    obs.infra.spec.provider_id = Some("maas:///az1/abc123".into());
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(600)));
}

#[test]
fn provisioned_without_provider_id_is_marked_again() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    obs.infra.provisioned = true; // status written, spec patch lost
    let Action::MarkProvisioned(p) = run(&obs).action else {
        panic!()
    };
    assert_eq!(p.provider_id, "maas:///az1/abc123");
}

#[test]
fn powers_on_only_when_maas_confirms_off() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::Off),
    );
    obs.infra.provisioned = true;
    let d = run(&obs);
    assert_eq!(
        d.action,
        Action::PowerOn {
            system_id: "abc123".into()
        }
    );
    assert_eq!(deployed_reason(&d), reasons::POWERED_OFF);
    assert_eq!(condition(&d, READY).status, ConditionStatus::False);
    assert_eq!(d.progress.power_on_requested_at, Some(obs.now));

    // asked recently: wait instead of asking again
    obs.infra.progress.power_on_requested_at = Some(Timestamp(obs.now.0 - 30));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(d.requeue_after, Some(Duration::from_secs(90)));

    for power in [PowerState::Unknown, PowerState::Error, PowerState::On] {
        let obs = recorded(base(), owned("abc123", MaasStatus::Deployed, power));
        let d = run(&obs);
        assert!(!matches!(d.action, Action::PowerOn { .. }), "{power}");
        assert_eq!(condition(&d, READY).status, ConditionStatus::True);
    }
}

#[test]
fn never_powers_on_a_machine_that_is_not_deployed() {
    for status in MaasStatus::all_known() {
        let obs = recorded(base(), owned("abc123", *status, PowerState::Off));
        if *status != MaasStatus::Deployed {
            assert!(
                !matches!(run(&obs).action, Action::PowerOn { .. }),
                "{status}"
            );
        }
    }
}

#[test]
fn every_status_of_the_recorded_machine_has_a_decision() {
    let statuses = MaasStatus::all_known()
        .iter()
        .copied()
        .chain([MaasStatus::Unknown(77)]);
    for status in statuses {
        for provisioned in [false, true] {
            let mut obs = recorded(base(), owned("abc123", status, PowerState::On));
            obs.infra.provisioned = provisioned;
            let d = run(&obs);
            assert!(!d.conditions.is_empty(), "{status}");
            match status {
                MaasStatus::Ready | MaasStatus::New => {
                    // the marker on a free machine is stale: it is no longer ours
                    if provisioned {
                        assert!(matches!(d.action, Action::Fail { .. }), "{status}: {d:?}");
                    } else {
                        assert!(
                            matches!(d.action, Action::ForgetSystemId { .. }),
                            "{status}: {d:?}"
                        );
                    }
                }
                MaasStatus::Allocated => assert!(matches!(d.action, Action::Deploy(_))),
                MaasStatus::Deployed => {
                    assert!(matches!(
                        d.action,
                        Action::MarkProvisioned(_) | Action::Observe
                    ));
                }
                MaasStatus::FailedDeployment
                | MaasStatus::ReleasingFailed
                | MaasStatus::FailedDiskErasing => {
                    assert!(matches!(d.action, Action::Release(_)), "{status}: {d:?}");
                }
                MaasStatus::Broken if !provisioned => {
                    assert!(matches!(d.action, Action::Release(_)))
                }
                _ => assert_eq!(d.action, Action::Observe, "{status}"),
            }
        }
    }
}

#[test]
fn unexpected_states_are_reported() {
    let obs = recorded(
        base(),
        owned("abc123", MaasStatus::RescueMode, PowerState::On),
    );
    let d = run(&obs);
    assert_eq!(deployed_reason(&d), reasons::UNEXPECTED_MACHINE_STATE);
    assert!(
        condition(&d, MACHINE_DEPLOYED)
            .message
            .contains("Rescue mode")
    );
}

// ----- losing the machine -----------------------------------------------------

#[test]
fn provisioned_machine_deleted_from_maas_fails_terminally() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("abc123".into());
    obs.infra.progress.recorded_system_id = Some("abc123".into());
    obs.infra.provisioned = true;
    obs.maas.lookups.insert("abc123".into(), Lookup::NotFound);
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Fail { reason, .. } if reason == reasons::MACHINE_NOT_FOUND)
    );
    // terminal: stays failed
    let mut obs2 = obs.clone();
    obs2.infra.progress = d.progress;
    assert!(matches!(run(&obs2).action, Action::Fail { .. }));
}

#[test]
fn unprovisioned_machine_deleted_from_maas_is_forgotten() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("abc123".into());
    obs.infra.progress.recorded_system_id = Some("abc123".into());
    obs.maas.lookups.insert("abc123".into(), Lookup::NotFound);
    assert_eq!(
        run(&obs).action,
        Action::ForgetSystemId {
            system_id: "abc123".into()
        }
    );
}

#[test]
fn provisioned_machine_taken_by_someone_else_fails_without_releasing_it() {
    let mut obs = base();
    obs.infra.spec.system_id = Some("abc123".into());
    obs.infra.progress.recorded_system_id = Some("abc123".into());
    obs.infra.provisioned = true;
    let mut m = machine("abc123", MaasStatus::Deployed, PowerState::On);
    m.owner = Some("alice".into());
    obs.maas.lookups.insert("abc123".into(), Lookup::Found(m));
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Fail { reason, .. } if reason == reasons::MACHINE_NOT_OWNED)
    );
}

// ----- duplicates -------------------------------------------------------------

#[test]
fn duplicates_are_released_before_anything_else() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    obs.maas
        .by_marker
        .push(owned("dup999", MaasStatus::Allocated, PowerState::Off));
    let d = run(&obs);
    let Action::Release(req) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(req.system_id, "dup999");
    assert_eq!(req.reason, ReleaseReason::Duplicate);
    assert_eq!(req.erase, EraseMode::None);
    assert_eq!(d.progress.releasing.len(), 1);
}

// ----- deletion ---------------------------------------------------------------

#[test]
fn delete_releases_then_waits_then_removes_the_finalizer() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    obs.infra.deleting = true;
    obs.machine = None; // deletion never waits for owner, cluster, bootstrap
    obs.cluster = Some(ClusterView {
        paused: false,
        infrastructure_provisioned: false,
    });
    let d = run(&obs);
    let Action::Release(req) = &d.action else {
        panic!("{d:?}")
    };
    assert_eq!(req.reason, ReleaseReason::Deleting);
    assert_eq!(req.erase, EraseMode::Quick);
    assert_eq!(condition(&d, READY).reason, reasons::DELETING);

    // MAAS is releasing: marker cleared, record kept
    obs.infra.progress = d.progress.clone();
    obs.maas.by_marker.clear();
    let mut m = machine("abc123", MaasStatus::DiskErasing, PowerState::On);
    m.owner = Some("capi".into());
    obs.maas.lookups.insert("abc123".into(), Lookup::Found(m));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert!(condition(&d, MACHINE_DEPLOYED).message.contains("abc123"));

    obs.maas.lookups.insert(
        "abc123".into(),
        Lookup::Found(machine("abc123", MaasStatus::Ready, PowerState::Off)),
    );
    let d = run(&obs);
    assert_eq!(d.action, Action::RemoveFinalizer);
    assert!(d.progress.releasing.is_empty());
}

#[test]
fn delete_converges_when_maas_forgot_the_machine() {
    let mut obs = base();
    obs.infra.deleting = true;
    obs.infra.spec.system_id = Some("abc123".into());
    obs.infra.progress.recorded_system_id = Some("abc123".into());
    obs.infra.progress.releasing = vec![ReleaseRecord {
        system_id: "abc123".into(),
        since: Timestamp(1),
    }];
    obs.maas.lookups.insert("abc123".into(), Lookup::NotFound);
    assert_eq!(run(&obs).action, Action::RemoveFinalizer);
}

#[test]
fn delete_releases_unrecorded_machines_carrying_the_marker() {
    let mut obs = base();
    obs.infra.deleting = true;
    obs.maas
        .by_marker
        .push(owned("orphan", MaasStatus::Allocated, PowerState::Off));
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Release(r) if r.system_id == "orphan" && r.reason == ReleaseReason::Deleting)
    );
}

#[test]
fn delete_waits_for_an_unreleasable_owned_machine() {
    let mut obs = recorded(
        base(),
        owned("abc123", MaasStatus::RescueMode, PowerState::On),
    );
    obs.infra.deleting = true;
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert!(
        condition(&d, MACHINE_DEPLOYED)
            .message
            .contains("Rescue mode")
    );
}

#[test]
fn delete_keeps_retrying_a_release_maas_keeps_failing() {
    let mut obs = base();
    obs.infra.deleting = true;
    obs.infra.progress.releasing = vec![ReleaseRecord {
        system_id: "abc123".into(),
        since: Timestamp(0),
    }];
    let mut m = machine("abc123", MaasStatus::Releasing, PowerState::Unknown);
    m.owner = Some("capi".into());
    obs.maas
        .lookups
        .insert("abc123".into(), Lookup::Found(m.clone()));
    obs.now = Timestamp(10 * 3600);
    assert_eq!(
        run(&obs).action,
        Action::Observe,
        "never abandoned while MAAS releases it"
    );
    m.status = MaasStatus::ReleasingFailed;
    obs.maas
        .lookups
        .insert("abc123".into(), Lookup::Found(m.clone()));
    assert!(
        matches!(run(&obs).action, Action::Release(r) if r.reason == ReleaseReason::RetryRelease)
    );
    // an administrator marking it Broken (or deleting it) ends our responsibility
    m.status = MaasStatus::Broken;
    obs.maas.lookups.insert("abc123".into(), Lookup::Found(m));
    assert_eq!(run(&obs).action, Action::RemoveFinalizer);
}

#[test]
fn delete_without_any_machine_removes_the_finalizer_at_once() {
    let mut obs = base();
    obs.infra.deleting = true;
    assert_eq!(run(&obs).action, Action::RemoveFinalizer);
}

#[test]
fn invalid_identity_fails_but_still_deletes() {
    let mut obs = base();
    obs.infra.uid = String::new();
    assert!(matches!(run(&obs).action, Action::Fail { .. }));
    obs.infra.deleting = true;
    assert_eq!(run(&obs).action, Action::RemoveFinalizer);
}

// ----- action failures --------------------------------------------------------

#[test]
fn allocation_without_capacity_backs_off_exponentially() {
    let cfg = LifecycleConfig::default();
    let mut obs = base();
    let mut waits = Vec::new();
    for _ in 0..6 {
        let d = run(&obs);
        assert!(matches!(d.action, Action::Allocate(_)));
        let err = ActionError {
            retry_after: None,
            outcome_unknown: false,
            class: ErrorClass::Capacity,
            message: "No available machine matches constraints".into(),
        };
        let f = action_failed(&obs, &cfg, &d, &err);
        assert_eq!(deployed_reason(&f), reasons::WAITING_FOR_CAPACITY);
        let wait = f.requeue_after.unwrap();
        waits.push(wait.as_secs());
        obs.infra.progress = f.progress;
        // Woken (by its own status write) before the back-off ends: no MAAS.
        assert_eq!(backoff_pending(&obs), Some(wait));
        obs.now = obs.now.plus(wait - Duration::from_secs(1));
        let early = run(&obs);
        assert_eq!(early.action, Action::Observe);
        assert!(early.conditions.is_empty(), "nothing new to say");
        assert_eq!(early.progress, obs.infra.progress, "nothing to write");
        assert_eq!(early.requeue_after, Some(Duration::from_secs(1)));
        obs.now = obs.now.plus(Duration::from_secs(1));
        assert_eq!(backoff_pending(&obs), None);
    }
    assert_eq!(waits, vec![60, 120, 240, 480, 600, 600]);
}

#[test]
fn permanent_allocation_error_says_what_to_check() {
    let obs = base();
    let d = run(&obs);
    let err = ActionError {
        retry_after: None,
        outcome_unknown: false,
        class: ErrorClass::Permanent,
        message: "No such tag(s): 'k8s'.".into(),
    };
    let f = action_failed(&obs, &LifecycleConfig::default(), &d, &err);
    let c = condition(&f, MACHINE_DEPLOYED);
    assert_eq!(c.reason, reasons::ALLOCATION_REJECTED);
    assert!(c.message.contains("tags"));
}

#[test]
fn permanent_deploy_error_fails_and_releases() {
    let obs = recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    );
    let d = run(&obs);
    assert!(matches!(d.action, Action::Deploy(_)));
    let err = ActionError {
        retry_after: None,
        outcome_unknown: false,
        class: ErrorClass::Permanent,
        message: "'foo' is not a valid distro_series".into(),
    };
    let f = action_failed(&obs, &LifecycleConfig::default(), &d, &err);
    assert!(f.progress.failure.is_some());
    let mut next = obs.clone();
    next.infra.progress = f.progress;
    let d = run(&next);
    assert!(matches!(&d.action, Action::Release(r) if r.reason == ReleaseReason::Failed));
}

#[test]
fn transient_deploy_error_retries_the_deploy() {
    let obs = recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    );
    let d = run(&obs);
    let err = ActionError {
        retry_after: None,
        outcome_unknown: false,
        class: ErrorClass::Transient,
        message: "connection reset".into(),
    };
    let f = action_failed(&obs, &LifecycleConfig::default(), &d, &err);
    assert_eq!(
        f.progress.deploy_failures, 0,
        "transient errors are not deploy failures"
    );
    let mut next = obs.clone();
    next.infra.progress = f.progress;
    assert_eq!(run(&next).action, Action::Observe, "back-off first");
    next.now = next.now.plus(f.requeue_after.unwrap());
    assert!(matches!(run(&next).action, Action::Deploy(_)));
}

/// Soak finding (`make soak`, variant `drop`): a release whose answer was
/// lost after MAAS released the machine held the MaasMachine's deletion for
/// the release poll interval (2 minutes by default), since the back-off is
/// not lifted by MAAS changes. When the outcome is unknown the next
/// observation decides, soon; same for a deploy. A failure where MAAS did
/// not act keeps the long waits.
#[test]
fn release_or_deploy_with_an_unknown_outcome_looks_again_soon() {
    let cfg = LifecycleConfig::default();
    let lost = ActionError {
        retry_after: None,
        outcome_unknown: true,
        class: ErrorClass::Transient,
        message: "connection closed before a response".into(),
    };
    let refused = ActionError {
        outcome_unknown: false,
        ..lost.clone()
    };

    let mut deleting = recorded(
        base(),
        owned("abc123", MaasStatus::Deployed, PowerState::On),
    );
    deleting.infra.deleting = true;
    let d = run(&deleting);
    assert!(
        matches!(&d.action, Action::Release(r) if r.system_id == "abc123"),
        "{d:?}"
    );
    let f = action_failed(&deleting, &cfg, &d, &lost);
    assert_eq!(f.requeue_after, Some(cfg.maas_retry_backoff), "{f:?}");
    let c = condition(&f, MACHINE_DEPLOYED);
    assert!(c.message.contains("outcome is unknown"), "{}", c.message);
    // The next look, once that short back-off is over, sees MAAS released it.
    let mut next = deleting.clone();
    next.infra.progress = f.progress;
    next.now = next.now.plus(cfg.maas_retry_backoff);
    assert_eq!(backoff_pending(&next), None);
    let f = action_failed(&deleting, &cfg, &d, &refused);
    assert_eq!(f.requeue_after, Some(cfg.release_poll_interval));

    let allocated = recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    );
    let d = run(&allocated);
    assert!(matches!(d.action, Action::Deploy(_)), "{d:?}");
    let f = action_failed(&allocated, &cfg, &d, &lost);
    assert_eq!(f.requeue_after, Some(cfg.maas_retry_backoff));
    let f = action_failed(&allocated, &cfg, &d, &refused);
    assert_eq!(f.requeue_after, Some(cfg.capacity_backoff));
}

/// The obs after `d` failed with `err`, `secs` later.
fn after_failure(obs: &Observation, d: &Decision, err: &ActionError, secs: u64) -> Observation {
    let f = action_failed(obs, &LifecycleConfig::default(), d, err);
    let mut next = obs.clone();
    next.infra.progress = f.progress;
    next.now = next.now.plus(Duration::from_secs(secs));
    next
}

#[test]
fn backoff_is_lifted_by_a_change_of_what_the_lifecycle_reads_not_by_our_status() {
    let obs = base();
    let d = run(&obs);
    assert!(matches!(d.action, Action::Allocate(_)));
    let err = ActionError::new(ErrorClass::Transient, "MAAS 500 server error: boom");
    let next = after_failure(&obs, &d, &err, 1);
    assert!(backoff_pending(&next).is_some());
    // Our own status (conditions, progress, provisioned) changes nothing.
    let mut ours = next.clone();
    ours.infra.progress.allocate_failures += 1;
    ours.infra.provisioned = !ours.infra.provisioned;
    assert!(backoff_pending(&ours).is_some());
    // A deletion, a new spec, bootstrap data, the Cluster: look again now.
    let mut deleting = next.clone();
    deleting.infra.deleting = true;
    assert_eq!(backoff_pending(&deleting), None);
    let mut spec = next.clone();
    spec.infra.generation = Some(4);
    spec.infra.spec.min_cpu = Some(1);
    assert_eq!(backoff_pending(&spec), None);
    let mut bootstrap = next.clone();
    bootstrap.machine.as_mut().unwrap().bootstrap_data_secret = Some("other".into());
    assert_eq!(backoff_pending(&bootstrap), None);
    // Consecutive failures double the wait; MAAS's Retry-After is a floor.
    let cfg = LifecycleConfig::default();
    let f1 = action_failed(&obs, &cfg, &d, &err);
    let mut o2 = obs.clone();
    o2.infra.progress = f1.progress.clone();
    o2.now = o2.now.plus(f1.requeue_after.unwrap());
    let d2 = run(&o2);
    assert!(matches!(d2.action, Action::Allocate(_)));
    assert_eq!(
        d2.progress.next_attempt_at, None,
        "the attempt may go ahead"
    );
    let f2 = action_failed(&o2, &cfg, &d2, &err);
    assert_eq!(
        f2.requeue_after.unwrap(),
        f1.requeue_after.unwrap() * 2,
        "doubles"
    );
    let late = ActionError {
        retry_after: Some(Duration::from_secs(3600)),
        ..err.clone()
    };
    let f3 = action_failed(&o2, &cfg, &d2, &late);
    assert_eq!(f3.requeue_after, Some(Duration::from_secs(3600)));
    // Once an attempt is not reported as failed, the count starts again.
    let mut ok = o2.clone();
    ok.infra.progress = d2.progress.clone();
    assert_eq!(run(&ok).progress.attempt_failures, 0);
}

#[test]
fn allocation_settle_time_only_when_the_outcome_is_unknown() {
    let obs = base();
    let d = run(&obs);
    assert!(d.progress.allocation_requested_at.is_some());
    let cfg = LifecycleConfig::default();
    // A 503 with Retry-After, the 409 lock page: MAAS did not act.
    let busy = ActionError {
        retry_after: Some(Duration::from_secs(5)),
        ..ActionError::new(ErrorClass::Transient, "MAAS 503 busy: try again")
    };
    let f = action_failed(&obs, &cfg, &d, &busy);
    assert_eq!(f.progress.allocation_requested_at, None);
    assert!(
        condition(&f, MACHINE_DEPLOYED)
            .message
            .contains("did not act"),
        "{:?}",
        f.conditions
    );
    let mut next = obs.clone();
    next.infra.progress = f.progress;
    next.now = next.now.plus(f.requeue_after.unwrap());
    assert!(
        matches!(run(&next).action, Action::Allocate(_)),
        "no settle wait"
    );
    // A timeout: the machine may still show up; wait for it.
    let lost = ActionError {
        outcome_unknown: true,
        ..ActionError::new(ErrorClass::Transient, "MAAS request failed (timeout)")
    };
    let f = action_failed(&obs, &cfg, &d, &lost);
    assert!(f.progress.allocation_requested_at.is_some());
    let c = condition(&f, MACHINE_DEPLOYED);
    assert!(c.message.contains("outcome is unknown"), "{}", c.message);
    let mut next = obs.clone();
    next.infra.progress = f.progress;
    next.now = next.now.plus(f.requeue_after.unwrap());
    assert_eq!(run(&next).action, Action::Observe, "settling");
    // A deletion meanwhile waits for it as well.
    next.infra.deleting = true;
    assert_eq!(run(&next).action, Action::Observe);
}

#[test]
fn repeated_annotation_failures_show_maas_text_then_go_on_without_them() {
    let cfg = LifecycleConfig::default();
    let mut obs = recorded(base(), {
        let mut m = owned("abc123", MaasStatus::Allocated, PowerState::Off);
        m.workload_annotations.clear();
        m
    });
    let err = ActionError {
        outcome_unknown: true,
        ..ActionError::new(
            ErrorClass::MaasFailure,
            "MAAS 500 server error: Invalid character in key name",
        )
    };
    for attempt in 1..=cfg.max_annotate_failures {
        let d = run(&obs);
        assert!(
            matches!(d.action, Action::Annotate { .. }),
            "{:?}",
            d.action
        );
        let f = action_failed(&obs, &cfg, &d, &err);
        let c = condition(&f, READY);
        assert_eq!(c.reason, reasons::OWNER_ANNOTATIONS_FAILED);
        assert!(
            c.message.contains("Invalid character in key name"),
            "{}",
            c.message
        );
        obs.infra.progress = f.progress;
        if attempt < cfg.max_annotate_failures {
            assert!(f.requeue_after.unwrap() > Duration::ZERO);
            obs.now = obs.now.plus(f.requeue_after.unwrap());
        } else {
            assert_eq!(
                obs.infra.progress.annotations_rejected_for.as_deref(),
                Some("abc123")
            );
        }
    }
    assert!(matches!(run(&obs).action, Action::Deploy(_)));
}

#[test]
fn observation_failures_back_off_and_show_maas_text() {
    let cfg = LifecycleConfig::default();
    let mut obs = base();
    let blip = ActionError::new(ErrorClass::Transient, "MAAS 500 server error: boom");
    let w = observation_failed(&obs, &cfg, &blip);
    assert!(w.conditions.is_empty(), "one blip is not reported");
    assert_eq!(w.requeue_after, cfg.maas_retry_backoff);
    obs.infra.progress = w.progress;
    assert!(backoff_pending(&obs).is_some());
    let w = observation_failed(&obs, &cfg, &blip);
    assert_eq!(w.requeue_after, cfg.maas_retry_backoff * 2);
    let c = &w.conditions[0];
    assert_eq!((c.type_, c.reason), (READY, reasons::MAAS_UNAVAILABLE));
    assert!(c.message.contains("boom"));
    // Refused credentials show at once.
    let refused = ActionError::new(
        ErrorClass::Permanent,
        "MAAS 401 unauthorized: Authorization Error: 'Invalid access token'",
    );
    let w = observation_failed(&base(), &cfg, &refused);
    assert!(w.conditions[0].message.contains("Invalid access token"));
}

#[test]
fn provider_id_without_system_id_never_allocates() {
    let mut obs = base();
    obs.infra.spec.provider_id = Some("maas:///az1/abc123".into());
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Fail { reason, message } if reason == reasons::INVALID_SPEC
            && message.contains("spec.systemID")),
        "{:?}",
        d.action
    );
    // A machine allocated for it earlier is given back.
    let mut held = obs.clone();
    held.maas
        .by_marker
        .push(owned("abc123", MaasStatus::Allocated, PowerState::Off));
    let d = run(&held);
    assert!(
        matches!(&d.action, Action::Release(r) if r.reason == ReleaseReason::Failed),
        "{:?}",
        d.action
    );
}

// ----- misc -------------------------------------------------------------------

#[test]
fn provider_id_round_trip() {
    assert_eq!(provider_id("az1", "abc123"), "maas:///az1/abc123");
    assert_eq!(provider_id("", "abc123"), "maas:///default/abc123");
    assert_eq!(
        system_id_from_provider_id("maas:///az1/abc123"),
        Some("abc123")
    );
    assert_eq!(system_id_from_provider_id("maas://abc123"), Some("abc123"));
    assert_eq!(system_id_from_provider_id("aws:///x/y"), None);
    assert_eq!(system_id_from_provider_id("maas:///az1/"), None);
}

#[test]
fn reasons_are_unique_and_canonical() {
    let mut all: Vec<&str> = reasons::ALL.to_vec();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), reasons::ALL.len());
    for r in reasons::ALL {
        assert_eq!(reasons::canonical(r), *r);
    }
    assert_eq!(reasons::canonical("Whatever"), reasons::DEPLOY_FAILED);
}

// ----- VM hosts (pods) and static IPs ------------------------------------------

fn with_static_ip(mut obs: Observation) -> Observation {
    obs.infra.spec.static_ip = Some(StaticIpSpec {
        address: "10.0.0.20".into(),
        subnet: Some("10.0.0.0/24".into()),
    });
    obs
}

#[test]
fn pod_constraints_are_passed_to_allocate() {
    let mut obs = base();
    obs.infra.spec.pod_type = Some("lxd".into());
    obs.infra.spec.pod = Some("vmhost-1".into());
    obs.infra.spec.not_pods = vec!["vmhost-2".into()];
    obs.infra.spec.not_pod_types = vec!["virsh".into()];
    match run(&obs).action {
        Action::Allocate(req) => {
            assert_eq!(req.pod_type.as_deref(), Some("lxd"));
            assert_eq!(req.pod.as_deref(), Some("vmhost-1"));
            assert_eq!(req.not_pods, vec!["vmhost-2".to_owned()]);
            assert_eq!(req.not_pod_types, vec!["virsh".to_owned()]);
        }
        other => panic!("expected Allocate, got {other:?}"),
    }
    match run(&base()).action {
        Action::Allocate(req) => {
            assert_eq!((req.pod, req.pod_type), (None, None));
            assert!(req.not_pods.is_empty() && req.not_pod_types.is_empty());
        }
        other => panic!("expected Allocate, got {other:?}"),
    }
}

#[test]
fn pod_constraints_on_maas_without_vm_hosts_are_rejected_with_a_condition() {
    let mut obs = base();
    obs.infra.spec.pod_type = Some("lxd".into());
    obs.maas.version = Some(MaasVersion::new(3, 8, 0));
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(deployed_reason(&d), reasons::VM_HOSTS_NOT_SUPPORTED);
    let msg = &condition(&d, READY).message;
    assert!(msg.contains("3.8.0") && msg.contains("podType"), "{msg}");
    assert!(d.progress.allocation_requested_at.is_none());
    // Unknown version: wait, do not guess.
    obs.maas.version = None;
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe);
    assert_eq!(deployed_reason(&d), reasons::WAITING_FOR_MAAS_VERSION);
    // 3.7 still has VM hosts; without pod constraints 3.8 is fine.
    obs.maas.version = Some(MaasVersion::new(3, 7, 2));
    assert!(matches!(run(&obs).action, Action::Allocate(_)));
    let mut plain = base();
    plain.maas.version = Some(MaasVersion::new(3, 8, 0));
    assert!(matches!(run(&plain).action, Action::Allocate(_)));
}

#[test]
fn static_ip_is_linked_before_deploying() {
    let obs = with_static_ip(recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    ));
    let d = run(&obs);
    assert_eq!(
        d.action,
        Action::LinkStaticIp(StaticIpRequest {
            system_id: "abc123".into(),
            address: "10.0.0.20".into(),
            subnet: Some("10.0.0.0/24".into()),
        })
    );
    assert_eq!(deployed_reason(&d), reasons::DEPLOYING);
    assert!(d.progress.deploy_started_at.is_none(), "not deploying yet");
    // Once MAAS shows the STATIC link, the machine is deployed.
    let mut m = owned("abc123", MaasStatus::Allocated, PowerState::Off);
    m.static_addresses = vec!["10.0.0.20".into()];
    let obs = with_static_ip(recorded(base(), m.clone()));
    assert!(matches!(run(&obs).action, Action::Deploy(_)));
    // The STATIC link is there but the AUTO link it replaces is not gone yet.
    let mut half = m;
    half.static_addresses_shadowed = vec!["10.0.0.20".into()];
    let obs = with_static_ip(recorded(base(), half));
    assert!(matches!(run(&obs).action, Action::LinkStaticIp(_)));
}

#[test]
fn static_ip_asks_maas_for_a_machine_on_its_subnet() {
    match run(&with_static_ip(base())).action {
        Action::Allocate(req) => assert_eq!(req.subnets, vec!["ip:10.0.0.20".to_owned()]),
        other => panic!("expected Allocate, got {other:?}"),
    }
    match run(&base()).action {
        Action::Allocate(req) => assert!(req.subnets.is_empty()),
        other => panic!("expected Allocate, got {other:?}"),
    }
}

#[test]
fn static_ip_waits_for_the_same_gates_as_deploy() {
    let mut obs = with_static_ip(recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    ));
    obs.machine.as_mut().unwrap().bootstrap_data_secret = None;
    assert_eq!(run(&obs).action, Action::WaitForBootstrapData);
}

#[test]
fn static_ip_rejected_by_maas_fails_terminally_then_releases() {
    let obs = with_static_ip(recorded(
        base(),
        owned("abc123", MaasStatus::Allocated, PowerState::Off),
    ));
    let d = run(&obs);
    let f = action_failed(
        &obs,
        &LifecycleConfig::default(),
        &d,
        &ActionError {
            retry_after: None,
            outcome_unknown: false,
            class: ErrorClass::Permanent,
            message: "IP address is already in use.".into(),
        },
    );
    assert_eq!(deployed_reason(&f), reasons::STATIC_IP_REJECTED);
    let msg = &condition(&f, READY).message;
    assert!(msg.contains("IP address is already in use.") && msg.contains("10.0.0.20"));
    let failure = f.progress.failure.clone().unwrap();
    assert_eq!(failure.reason, reasons::STATIC_IP_REJECTED);
    // The next decision gives the machine back.
    let mut next = obs.clone();
    next.infra.progress = f.progress;
    let d = run(&next);
    assert!(
        matches!(&d.action, Action::Release(r) if r.system_id == "abc123" && r.reason == ReleaseReason::Failed),
        "{:?}",
        d.action
    );
    assert_eq!(deployed_reason(&d), reasons::STATIC_IP_REJECTED);
    // A transient failure is retried.
    let t = action_failed(
        &obs,
        &LifecycleConfig::default(),
        &run(&obs),
        &ActionError {
            retry_after: None,
            outcome_unknown: false,
            class: ErrorClass::Transient,
            message: "timeout".into(),
        },
    );
    assert!(t.progress.failure.is_none());
    assert_eq!(t.action, Action::Observe);
}

/// A released machine (ours by the release record) still holding our address.
fn released_with_static_ip(deleting: bool) -> Observation {
    let mut obs = with_static_ip(base());
    obs.infra.deleting = deleting;
    let mut m = machine("abc123", MaasStatus::Ready, PowerState::Off);
    m.static_addresses = vec!["10.0.0.20".into()];
    obs.infra.progress.releasing.push(ReleaseRecord {
        system_id: "abc123".into(),
        since: Timestamp(9_000),
    });
    obs.maas.lookups.insert("abc123".into(), Lookup::Found(m));
    obs
}

#[test]
fn release_unlinks_the_static_ip_before_it_counts_as_done() {
    for deleting in [true, false] {
        let obs = released_with_static_ip(deleting);
        let d = run(&obs);
        assert_eq!(
            d.action,
            Action::UnlinkStaticIp(StaticIpRequest {
                system_id: "abc123".into(),
                address: "10.0.0.20".into(),
                subnet: Some("10.0.0.0/24".into()),
            }),
            "deleting={deleting}"
        );
        assert_eq!(d.progress.releasing.len(), 1, "record kept until unlinked");
        // Unlinked: the record is dropped and the deletion finishes.
        let mut after = obs.clone();
        if let Some(Lookup::Found(m)) = after.maas.lookups.get_mut("abc123") {
            m.static_addresses.clear();
        }
        let d = run(&after);
        assert!(d.progress.releasing.is_empty());
        if deleting {
            assert_eq!(d.action, Action::RemoveFinalizer);
        } else {
            assert!(matches!(d.action, Action::Allocate(_)), "{:?}", d.action);
        }
    }
}

#[test]
fn deletion_waits_for_a_failed_unlink() {
    let obs = released_with_static_ip(true);
    let d = run(&obs);
    let f = action_failed(
        &obs,
        &LifecycleConfig::default(),
        &d,
        &ActionError {
            retry_after: None,
            outcome_unknown: false,
            class: ErrorClass::Transient,
            message: "connection reset".into(),
        },
    );
    assert_eq!(f.action, Action::Observe);
    assert_eq!(f.progress.releasing.len(), 1);
    assert!(condition(&f, READY).message.contains("10.0.0.20"));
}

#[test]
fn never_unlinks_from_a_machine_someone_else_took() {
    let mut obs = released_with_static_ip(true);
    if let Some(Lookup::Found(m)) = obs.maas.lookups.get_mut("abc123") {
        m.status = MaasStatus::Allocated;
        m.owner = Some("alice".into());
        m.agent_name = "juju".into();
    }
    let d = run(&obs);
    assert!(
        !matches!(d.action, Action::UnlinkStaticIp(_)),
        "{:?}",
        d.action
    );
}

#[test]
fn recorded_machine_released_outside_our_records_is_unlinked() {
    // An administrator released our machine: no record, not ours any more.
    let mut m = machine("abc123", MaasStatus::Ready, PowerState::Off);
    m.static_addresses = vec!["10.0.0.20".into()];
    for deleting in [false, true] {
        let mut obs = with_static_ip(recorded(base(), m.clone()));
        obs.infra.deleting = deleting;
        let d = run(&obs);
        assert!(
            matches!(&d.action, Action::UnlinkStaticIp(r) if r.system_id == "abc123"),
            "deleting={deleting}: {:?}",
            d.action
        );
    }
    // Without our address on it, it is simply forgotten.
    let obs = with_static_ip(recorded(
        base(),
        machine("abc123", MaasStatus::Ready, PowerState::Off),
    ));
    assert!(matches!(run(&obs).action, Action::ForgetSystemId { .. }));
}

#[test]
fn recorded_machine_still_releasing_outside_our_records_is_kept_until_unlinked() {
    // Released by an administrator (or by us before the status was lost),
    // MAAS still releasing: agent_name gone, no owner data, no record.
    let mut m = machine("abc123", MaasStatus::DiskErasing, PowerState::On);
    m.owner = Some("capi".into());
    m.static_addresses = vec!["10.0.0.20".into()];
    for deleting in [false, true] {
        let mut obs = with_static_ip(recorded(base(), m.clone()));
        obs.infra.deleting = deleting;
        let d = run(&obs);
        assert_eq!(d.action, Action::Observe, "deleting={deleting}");
        assert_eq!(
            d.requeue_after,
            Some(LifecycleConfig::default().release_poll_interval)
        );
        assert!(
            condition(&d, MACHINE_DEPLOYED).message.contains("abc123"),
            "{:?}",
            d.conditions
        );
    }
    // Another tenant's machine (its agent_name) is not waited for.
    let mut foreign = m.clone();
    foreign.agent_name = "juju".into();
    let mut obs = with_static_ip(recorded(base(), foreign));
    obs.infra.deleting = true;
    assert_eq!(run(&obs).action, Action::RemoveFinalizer);
    // Without a static IP nothing is left to free: forgotten, or deleted.
    let obs = recorded(base(), m.clone());
    assert!(matches!(run(&obs).action, Action::ForgetSystemId { .. }));
}

// ----- ownership proven client-side ----------------------------------------

/// The answer a MAAS (or proxy) ignoring `agent_name` gives: every machine
/// of the region, each presented by the controller as carrying our marker.
fn unfiltered_answer() -> Vec<MaasMachineView> {
    let other = OwnerMarker::new("other-ns", "m0", "77777777-6666-4555-8444-333322221111").unwrap();
    let mut foreign = machine("fff001", MaasStatus::Deployed, PowerState::On);
    foreign.owner = Some("capi".into());
    foreign.workload_annotations = other.workload_annotations(Some("c1"));
    let mut unannotated = machine("fff002", MaasStatus::Deployed, PowerState::On);
    unannotated.owner = Some("juju".into());
    let free = machine("fff003", MaasStatus::Ready, PowerState::Off);
    let mut all = vec![foreign, unannotated, free];
    for m in &mut all {
        m.agent_name = marker();
    }
    all
}

#[test]
fn a_deletion_never_releases_what_an_unfiltered_answer_lists() {
    let ours = owned("abc123", MaasStatus::Deployed, PowerState::On);
    for recorded_ours in [true, false] {
        let mut obs = if recorded_ours {
            recorded(base(), ours.clone())
        } else {
            base()
        };
        obs.infra.deleting = true;
        obs.maas.by_marker.extend(unfiltered_answer());
        let d = run(&obs);
        assert_eq!(d.action, Action::Observe, "{d:?}");
        assert_eq!(deployed_reason(&d), reasons::OWNERSHIP_UNPROVEN);
        let msg = &condition(&d, READY).message;
        assert!(msg.contains("ignored the agent_name filter"), "{msg}");
        assert!(d.requeue_after.is_some());
    }
}

#[test]
fn nothing_is_adopted_or_allocated_from_an_unfiltered_answer() {
    let mut obs = base();
    obs.maas.by_marker = unfiltered_answer();
    let d = run(&obs);
    assert_eq!(d.action, Action::Observe, "{d:?}");
    assert_eq!(deployed_reason(&d), reasons::OWNERSHIP_UNPROVEN);
    // Without the tell-tale free and foreign-annotated entries, an allocated
    // unannotated machine is still adopted (a lost allocate answer).
    let mut claimed = machine("abc123", MaasStatus::Allocated, PowerState::Off);
    claimed.owner = Some("capi".into());
    claimed.agent_name = marker();
    obs.maas.by_marker = vec![claimed];
    assert_eq!(
        run(&obs).action,
        Action::Adopt {
            system_id: "abc123".into()
        }
    );
}

#[test]
fn a_proper_answer_after_an_unfiltered_one_resumes_the_deletion() {
    let ours = owned("abc123", MaasStatus::Deployed, PowerState::On);
    let mut obs = recorded(base(), ours);
    obs.infra.deleting = true;
    let d = run(&obs);
    assert!(
        matches!(&d.action, Action::Release(r) if r.system_id == "abc123"),
        "{d:?}"
    );
}
