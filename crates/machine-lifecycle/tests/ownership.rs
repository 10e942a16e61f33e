//! Ownership is proven from MAAS's own answer: an answer to the owner-marker
//! query that ignored the `agent_name` filter never makes the lifecycle act
//! on a machine of another tenant (release, adopt, annotate, deploy, power,
//! static IP), whatever the MaasMachine's state.
//!
//! The answer is built as the controller builds it: every listed machine is
//! presented with our marker as `agent_name` (MAAS's JSON has no such
//! field), and the recorded machine's lookup reuses the listed view. An
//! answer that ignored the filter lists the region's machines, so it holds
//! at least one machine that cannot carry our marker (free, or annotated for
//! another MaasMachine); the rest are arbitrary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use machine_lifecycle::*;
use proptest::prelude::*;

const UID: &str = "11111111-2222-4333-8444-555555555555";

fn marker() -> OwnerMarker {
    OwnerMarker::new("ns", "m", UID).unwrap()
}

fn status() -> impl Strategy<Value = MaasStatus> {
    (0i64..24).prop_map(MaasStatus::from_code)
}

#[derive(Debug, Clone)]
struct Spec {
    status: MaasStatus,
    owner: Option<&'static str>,
    /// 0: none, 1: ours, 2: another MaasMachine of the same name elsewhere,
    /// 3: another uid here.
    annotation: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        status(),
        prop_oneof![Just(None), Just(Some("capi")), Just(Some("juju"))],
        0u8..4,
    )
        .prop_map(|(status, owner, annotation)| Spec {
            status,
            owner,
            annotation,
        })
}

/// One machine that cannot be in an honest answer.
fn telltale() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (prop_oneof![Just(MaasStatus::Ready), Just(MaasStatus::New)]).prop_map(|status| Spec {
            status,
            owner: None,
            annotation: 0,
        }),
        (status(), 2u8..4).prop_map(|(status, annotation)| Spec {
            status,
            owner: Some("capi"),
            annotation,
        }),
    ]
}

fn view(id: String, s: &Spec) -> MaasMachineView {
    let mut m = MaasMachineView::new(id, s.status, PowerState::Off);
    m.owner = s.owner.map(str::to_owned);
    m.agent_name = marker().render();
    m.memory_mib = 32 * 1024;
    let annotations = match s.annotation {
        1 => Some(marker()),
        2 => Some(OwnerMarker::new("elsewhere", "m", UID).unwrap()),
        3 => Some(OwnerMarker::new("ns", "m", "99999999-2222-4333-8444-555555555555").unwrap()),
        _ => None,
    };
    if let Some(a) = annotations {
        m.workload_annotations = a.workload_annotations(Some("c"));
    }
    m
}

#[derive(Debug, Clone)]
struct Case {
    ours: Vec<Spec>,
    foreign: Vec<Spec>,
    telltale: Spec,
    /// Where the tell-tale goes among the foreign machines.
    at: usize,
    /// 0: nothing recorded, 1: our first machine, 2: a foreign one.
    recorded: u8,
    deleting: bool,
    provisioned: bool,
    ephemeral: bool,
    static_ip: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(spec(), 0..3),
        prop::collection::vec(spec(), 0..5),
        telltale(),
        0usize..6,
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                ours,
                foreign,
                telltale,
                at,
                recorded,
                deleting,
                provisioned,
                ephemeral,
                static_ip,
            )| {
                Case {
                    ours,
                    foreign,
                    telltale,
                    at,
                    recorded,
                    deleting,
                    provisioned,
                    ephemeral,
                    static_ip,
                }
            },
        )
}

fn target(a: &Action) -> Option<&str> {
    match a {
        Action::Release(r) => Some(&r.system_id),
        Action::Deploy(r) => Some(&r.system_id),
        Action::LinkStaticIp(r) | Action::UnlinkStaticIp(r) => Some(&r.system_id),
        Action::Adopt { system_id }
        | Action::Annotate { system_id, .. }
        | Action::PowerOn { system_id } => Some(system_id),
        Action::Allocate(r) => r.system_id.as_deref(),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6f77_6e65_7273_6869),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn an_unfiltered_answer_never_touches_another_tenants_machine(c in case()) {
        let mut by_marker: Vec<MaasMachineView> = c
            .ours
            .iter()
            .enumerate()
            .map(|(i, s)| view(format!("our{i:03}"), s))
            .collect();
        let mut foreign: Vec<MaasMachineView> = c
            .foreign
            .iter()
            .enumerate()
            .map(|(i, s)| view(format!("fgn{i:03}"), s))
            .collect();
        foreign.insert(c.at.min(foreign.len()), view("fgnzzz".into(), &c.telltale));
        let foreign_ids: Vec<String> = foreign.iter().map(|m| m.system_id.clone()).collect();
        by_marker.extend(foreign);

        let mut obs = Observation {
            now: Timestamp(100_000),
            ..Observation::default()
        };
        obs.infra.namespace = "ns".into();
        obs.infra.name = "m".into();
        obs.infra.uid = UID.into();
        obs.infra.spec.image = "ubuntu/jammy".into();
        obs.infra.spec.ephemeral = c.ephemeral;
        obs.infra.spec.erase = EraseMode::Quick;
        if c.static_ip {
            obs.infra.spec.static_ip = Some(StaticIpSpec { address: "10.0.0.50".into(), subnet: None });
        }
        obs.infra.deleting = c.deleting;
        obs.infra.provisioned = c.provisioned;
        let recorded = match c.recorded {
            1 => by_marker.first().filter(|m| m.system_id.starts_with("our")),
            2 => by_marker.iter().find(|m| m.system_id.starts_with("fgn")),
            _ => None,
        }
        .cloned();
        if let Some(m) = recorded {
            obs.infra.spec.system_id = Some(m.system_id.clone());
            obs.infra.progress.recorded_system_id = Some(m.system_id.clone());
            if c.provisioned {
                obs.infra.spec.provider_id = Some(provider_id("", &m.system_id));
            }
            obs.maas.lookups.insert(m.system_id.clone(), Lookup::Found(m));
        }
        obs.maas.by_marker = by_marker;
        obs.maas.version = Some(MaasVersion::new(3, 6, 5));
        obs.machine = Some(CapiMachineView {
            cluster_name: "c".into(),
            bootstrap_data_secret: Some("m-bootstrap".into()),
            failure_domain: None,
            deleting: false,
        });
        obs.cluster = Some(ClusterView { paused: false, infrastructure_provisioned: true });

        let d = decide(&obs, &LifecycleConfig::default());
        if let Some(id) = target(&d.action) {
            prop_assert!(!foreign_ids.iter().any(|f| f == id), "acted on {id}: {:?}", d.action);
        }
        prop_assert_eq!(&d.action, &Action::Observe);
        let reason = d.conditions.iter().find(|c| c.type_ == READY).map(|c| c.reason);
        prop_assert_eq!(reason, Some(reasons::OWNERSHIP_UNPROVEN));
        prop_assert!(!check_marker_answer(&marker(), &obs.maas.by_marker).is_consistent());
    }
}
