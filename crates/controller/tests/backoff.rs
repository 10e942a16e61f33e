//! No hot loops: MAAS requests counted over a window (maas-sim's request log)
//! while MaasMachines wait on something MAAS cannot give them, against a real
//! apiserver. The back-off is the lifecycle's (`status.lifecycle.nextAttemptAt`):
//! the object's own status writes, which wake it, cannot shorten it. Bounds
//! are per back-off period and generous: they catch a loop (hundreds of
//! calls a minute before), not a slow machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use capmaas_controller::{ControllerConfig, MaasCredentials, ManagerHandle};
use common::History;
use common::*;
use maas_sim::{MaasVersion, RequestRecord, RunningSimulator, ScriptedFault};
use serde_json::json;

/// Back-off of these tests: short enough for several periods in a window.
const BACKOFF: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(4);
const WINDOW: Duration = Duration::from_secs(12);
const USER_DATA: &[u8] = b"#cloud-config\n";

fn test_config(w: &World, creds: MaasCredentials) -> ControllerConfig {
    let mut cfg = config(&w.name(), Some(creds));
    cfg.lifecycle.capacity_backoff = BACKOFF;
    cfg.lifecycle.capacity_backoff_max = BACKOFF_MAX;
    cfg.lifecycle.maas_retry_backoff = BACKOFF;
    cfg.error_backoff = BACKOFF;
    cfg.error_backoff_max = BACKOFF_MAX;
    cfg
}

/// A namespace with Cluster `c1` (infrastructure provisioned), its
/// MaasCluster, and a maas-sim with `machines` Ready machines.
async fn setup(prefix: &str, machines: usize) -> (World, RunningSimulator) {
    let w = World::new(prefix).await;
    let sim = sim(machines, MaasVersion::V3_6, 300).await;
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    (w, sim)
}

/// Requests about machines (not the MaasCluster's zones and DNS).
fn machine_requests(sim: &RunningSimulator) -> Vec<RequestRecord> {
    sim.control()
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/machines/") || r.path.contains("/nodes/"))
        .collect()
}

/// The machine requests of a window (its length measured, not assumed).
async fn count_over(sim: &RunningSimulator) -> (Vec<RequestRecord>, Duration) {
    sim.control().clear_requests();
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let requests = machine_requests(sim);
    (requests, started.elapsed())
}

/// Back-off periods in `window` (the shortest period, plus one for the edges).
fn periods(window: Duration) -> usize {
    (window.as_millis() / BACKOFF.as_millis()) as usize + 1
}

fn ops(requests: &[RequestRecord], op: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.op.as_deref() == Some(op))
        .count()
}

/// What one case measured.
struct Measured {
    case: &'static str,
    requests: Vec<RequestRecord>,
    window: Duration,
}

impl Measured {
    fn check(&self, max_calls_per_period: usize) {
        let bound = max_calls_per_period * periods(self.window);
        let allocates = ops(&self.requests, "allocate");
        eprintln!(
            "{}: {} machine requests ({allocates} allocate) in {:?}; bound {bound}",
            self.case,
            self.requests.len(),
            self.window
        );
        assert!(
            allocates <= 2 * periods(self.window),
            "{}: {allocates} allocate calls in {:?} (back-off {BACKOFF:?}..{BACKOFF_MAX:?})",
            self.case,
            self.window
        );
        assert!(
            self.requests.len() <= bound,
            "{}: {} machine requests in {:?}, at most {bound}: {:#?}",
            self.case,
            self.requests.len(),
            self.window,
            self.requests
                .iter()
                .map(|r| format!("{} {} {:?} → {}", r.method, r.path, r.op, r.status))
                .collect::<Vec<_>>()
        );
    }
}

/// One MaasMachine `m` with `spec`, waiting until its MachineDeployed or
/// Ready reason is `reason`, then counted over the window.
async fn waits_quietly(
    case: &'static str,
    spec: serde_json::Value,
    reason_wanted: &'static str,
    prepare: impl FnOnce(&RunningSimulator),
) -> (Measured, World, ManagerHandle, History) {
    let (w, sim) = setup(case, 5).await;
    prepare(&sim);
    w.machine("c1", "m", false, Some(USER_DATA), spec).await;
    let history = w.record_mm("m");
    let ctrl = w.controller_with(test_config(&w, creds(&sim)));
    w.wait_mm("m", 60, reason_wanted, |mm| {
        reason(mm, "MachineDeployed") == reason_wanted || reason(mm, "Ready") == reason_wanted
    })
    .await;
    let (requests, window) = count_over(&sim).await;
    (
        Measured {
            case,
            requests,
            window,
        },
        w,
        ctrl,
        history,
    )
}

/// Some version of the MaasMachine had a MachineDeployed condition saying `text`.
fn shown(history: &History, text: &str) -> bool {
    history
        .versions()
        .iter()
        .any(|mm| condition(mm, "MachineDeployed").is_some_and(|c| c.message.contains(text)))
}

fn respond(op: &str, status: u16, body: &str, retry_after: Option<u32>) -> ScriptedFault {
    ScriptedFault::Respond {
        op: op.into(),
        count: 100_000,
        status,
        body: body.into(),
        content_type: None,
        retry_after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsatisfiable_constraints_wait_quietly() {
    let base = json!({"image": "ubuntu/jammy"});
    let with = |k: &str, v: serde_json::Value| {
        let mut s = base.clone();
        s[k] = v;
        s
    };
    let cases = [
        ("bo-cpu", with("minCPU", json!(64)), "WaitingForCapacity"),
        (
            "bo-mem",
            with("minMemory", json!(1u64 << 32)),
            "WaitingForCapacity",
        ),
        (
            "bo-tag",
            with("tags", json!(["no-such-tag"])),
            "AllocationRejected",
        ),
        (
            "bo-pool",
            with("resourcePool", json!("no-such-pool")),
            "AllocationRejected",
        ),
        (
            "bo-zone",
            with("failureDomain", json!("no-such-zone")),
            "AllocationRejected",
        ),
    ];
    let runs = cases
        .into_iter()
        .map(|(case, spec, reason_wanted)| async move {
            waits_quietly(case, spec, reason_wanted, |_| {}).await
        });
    let results = futures::future::join_all(runs).await;
    for (m, w, ctrl, _history) in results {
        // One allocate (after one list) per period, at most.
        m.check(4);
        let mm = w.mm("m").await.unwrap();
        let lifecycle = mm.status.unwrap().lifecycle.unwrap();
        assert!(
            lifecycle.next_attempt_at.is_some(),
            "{}: {lifecycle:?}",
            m.case
        );
        ctrl.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maas_errors_wait_quietly_with_maas_text() {
    let spec = json!({"image": "ubuntu/jammy"});
    let forbidden = waits_quietly("bo-403", spec.clone(), "AllocationRejected", |sim| {
        sim.control().add_scripted_fault(respond(
            "allocate",
            403,
            "You are not allowed here.",
            None,
        ))
    });
    let failing = waits_quietly("bo-500", spec.clone(), "Allocating", |sim| {
        sim.control()
            .add_scripted_fault(respond("allocate", 500, "Internal error: boom-500", None))
    });
    let busy = waits_quietly("bo-503", spec.clone(), "Allocating", |sim| {
        sim.control()
            .add_scripted_fault(respond("allocate", 503, "MAAS is busy", Some(3)))
    });
    let (forbidden, failing, busy) = tokio::join!(forbidden, failing, busy);
    for (m, w, ctrl, history, texts) in [
        (forbidden, vec!["You are not allowed here."]),
        // A 500 may come after MAAS acted: the settle time is held.
        (failing, vec!["boom-500", "outcome is unknown"]),
        (busy, vec!["MAAS is busy", "did not act"]),
    ]
    .into_iter()
    .map(|((m, w, c, h), t)| (m, w, c, h, t))
    {
        m.check(4);
        for text in texts {
            assert!(
                shown(&history, text),
                "{}: no condition said {text:?}",
                m.case
            );
        }
        let mm = w.mm("m").await.unwrap();
        let lifecycle = mm.status.unwrap().lifecycle.unwrap();
        if m.case == "bo-503" {
            // MAAS said it did not act: no settle time held.
            assert!(lifecycle.allocation_requested_at.is_none(), "{lifecycle:?}");
        }
        ctrl.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_paused_and_terminal_wait_quietly() {
    // Credentials MAAS refuses: MaasUnavailable with MAAS's 401 text.
    let refused = async {
        let (w, sim) = setup("bo-401", 3).await;
        w.machine(
            "c1",
            "m",
            false,
            Some(USER_DATA),
            json!({"image": "ubuntu/jammy"}),
        )
        .await;
        let key = sim.admin_api_key();
        let mut parts: Vec<&str> = key.split(':').collect();
        parts[2] = "not-the-secret";
        let bad = MaasCredentials::new(sim.endpoint(), parts.join(":"));
        let ctrl = w.controller_with(test_config(&w, bad));
        let mm = w
            .wait_mm("m", 60, "MaasUnavailable", |mm| {
                reason(mm, "Ready") == "MaasUnavailable"
            })
            .await;
        let message = condition(&mm, "Ready").unwrap().message.clone();
        assert!(message.contains("401"), "{message}");
        assert!(!message.contains("not-the-secret"), "{message}");
        let (requests, window) = count_over(&sim).await;
        (
            Measured {
                case: "bo-401",
                requests,
                window,
            },
            ctrl,
        )
    };
    // Paused: no MAAS request at all.
    let paused = async {
        let (w, sim) = setup("bo-paused", 3).await;
        w.set_cluster_paused("c1", true).await;
        w.machine(
            "c1",
            "m",
            false,
            Some(USER_DATA),
            json!({"image": "ubuntu/jammy"}),
        )
        .await;
        let ctrl = w.controller_with(test_config(&w, creds(&sim)));
        w.wait_mm("m", 60, "Paused", |mm| reason(mm, "Paused") == "Paused")
            .await;
        let (requests, window) = count_over(&sim).await;
        (
            Measured {
                case: "bo-paused",
                requests,
                window,
            },
            ctrl,
        )
    };
    // A terminal failure (an image MAAS refuses): given back, then quiet.
    let terminal = async {
        let (w, sim) = setup("bo-image", 3).await;
        w.machine(
            "c1",
            "m",
            false,
            Some(USER_DATA),
            json!({"image": "ubuntu/nosuchseries"}),
        )
        .await;
        let ctrl = w.controller_with(test_config(&w, creds(&sim)));
        let mm = w
            .wait_mm("m", 60, "DeployFailed", |mm| {
                reason(mm, "MachineDeployed") == "DeployFailed"
                    && mm
                        .status
                        .as_ref()
                        .is_some_and(|s| s.machine_state.is_none())
            })
            .await;
        eventually(30, "the machine given back", || async {
            marked(&sim, &mm).is_empty()
        })
        .await;
        let (requests, window) = count_over(&sim).await;
        (
            Measured {
                case: "bo-image",
                requests,
                window,
            },
            ctrl,
        )
    };
    let ((refused, c1), (paused, c2), (terminal, c3)) = tokio::join!(refused, paused, terminal);
    refused.check(3);
    assert!(
        paused.requests.is_empty(),
        "paused: {:?}",
        paused.requests.len()
    );
    // Nothing left to do: at most a resync's observation.
    assert!(
        terminal.requests.len() <= 4,
        "terminal: {}",
        terminal.requests.len()
    );
    for c in [c1, c2, c3] {
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_machine_left_over_waits_quietly_while_the_others_provision() {
    // 4 MaasMachines, 3 machines: the one left over must not starve them.
    let (w, sim) = setup("bo-left", 3).await;
    for i in 0..4 {
        w.machine(
            "c1",
            &format!("m{i}"),
            false,
            Some(USER_DATA),
            json!({"image": "ubuntu/jammy"}),
        )
        .await;
    }
    let ctrl = w.controller_with(test_config(&w, creds(&sim)));
    eventually(
        90,
        "three provisioned, one waiting for capacity",
        || async {
            let mut p = 0;
            let mut waiting = 0;
            for i in 0..4 {
                let mm = w.mm(&format!("m{i}")).await.unwrap();
                if provisioned(&mm) {
                    p += 1;
                } else if reason(&mm, "MachineDeployed") == "WaitingForCapacity" {
                    waiting += 1;
                }
            }
            p == 3 && waiting == 1
        },
    )
    .await;
    let (requests, window) = count_over(&sim).await;
    Measured {
        case: "bo-left",
        requests,
        window,
    }
    .check(4);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_workload_annotations_show_maas_text_then_provision() {
    // MAAS answered the keys it refuses with 500 "Invalid character in key
    // name": the text shows in a condition, the calls are bounded, and the
    // machine provisions on agent_name alone.
    let (w, sim) = setup("bo-annot", 2).await;
    sim.control().add_scripted_fault(respond(
        "set_workload_annotations",
        500,
        "Invalid character in key name",
        None,
    ));
    w.machine(
        "c1",
        "m",
        false,
        Some(USER_DATA),
        json!({"image": "ubuntu/jammy"}),
    )
    .await;
    let history = w.record_mm("m");
    let ctrl = w.controller_with(test_config(&w, creds(&sim)));
    w.wait_mm("m", 90, "provisioned", provisioned).await;
    let shown = history.versions().iter().any(|mm| {
        condition(mm, "MachineDeployed").is_some_and(|c| {
            c.reason == "OwnerAnnotationsFailed"
                && c.message.contains("Invalid character in key name")
        })
    });
    assert!(shown, "MAAS's text never reached a condition");
    let annotates = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.op.as_deref() == Some("set_workload_annotations"))
        .count();
    assert!(annotates <= 3, "{annotates} set_workload_annotations calls");
    ctrl.shutdown().await;
}
