//! The workload Node's `spec.providerID`: every decision of the controller's
//! Node sync, as pure functions.
//!
//! The controller (`crates/controller/src/workload.rs`) runs three steps and
//! decides nothing itself:
//!
//! 1. [`start`]: from the MaasMachine (deleting, provisioned, providerID,
//!    cluster, the MAAS hostname/FQDN picked by [`host_names`]) — forget it,
//!    do nothing, or sync with these Node names (in order).
//! 2. It reads the Nodes by those names; for the first one found, [`check_node`]
//!    says whether to patch its empty providerID, leave it (already ours) or
//!    report a conflict (never overwritten).
//! 3. [`plan`]: the [`NodeOutcome`] of the sync, with the machine's count of
//!    consecutive failures, becomes a [`NodePlan`] — the failure tally, the
//!    condition, the Event and when to look again — which the controller
//!    executes in that order.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::conditions::{ConditionStatus, ConditionUpdate};

/// The MaasMachine condition reporting the workload Node's providerID.
pub const NODE_PROVIDER_ID_SET: &str = "NodeProviderIDSet";
/// True: the Node carries our providerID.
pub const REASON_PROVIDER_ID_SET: &str = "ProviderIDSet";
/// False: no Node with the machine's hostname (yet).
pub const REASON_WAITING_FOR_NODE: &str = "WaitingForNode";
/// False: the Node carries another non-empty providerID; left untouched.
pub const REASON_PROVIDER_ID_CONFLICT: &str = "ProviderIDConflict";
/// False: the workload API did not answer (or refused us).
pub const REASON_WORKLOAD_API_UNAVAILABLE: &str = "WorkloadAPIUnavailable";
/// False: the kubeconfig Secret is unusable or refused.
pub const REASON_KUBECONFIG_INVALID: &str = "KubeconfigInvalid";
/// Event reason: we patched the Node's providerID.
pub const EVENT_PROVIDER_ID_SET: &str = "NodeProviderIDSet";
/// Warning Event reason: the Node carries another providerID.
pub const EVENT_PROVIDER_ID_CONFLICT: &str = "NodeProviderIDConflict";
/// The Event action of every Event of the Node sync.
pub const EVENT_ACTION: &str = "SyncNodeProviderID";

/// The MaasMachine, as the Node sync sees it. Empty strings mean "none".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMachine {
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `status.initialization.provisioned` is true.
    pub provisioned: bool,
    /// `spec.providerID`.
    pub provider_id: String,
    /// The CAPI cluster name.
    pub cluster: String,
    /// The machine's names, from [`host_names`].
    pub names: HostNames,
}

/// A machine's hostname and FQDN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNames {
    /// The hostname.
    pub hostname: String,
    /// The FQDN (empty when unknown).
    pub fqdn: String,
}

/// The names to look the Node up by: MAAS's hostname and FQDN of the
/// machine (`maas`: the machine MAAS showed for the recorded system_id), the
/// hostname recorded in the status when MAAS showed none.
#[must_use]
pub fn host_names(maas: Option<&crate::MaasMachineView>, status_hostname: &str) -> HostNames {
    match maas {
        Some(v) if !v.hostname.is_empty() => HostNames {
            hostname: v.hostname.clone(),
            fqdn: v.fqdn.clone(),
        },
        Some(v) => HostNames {
            hostname: status_hostname.to_owned(),
            fqdn: v.fqdn.clone(),
        },
        None => HostNames {
            hostname: status_hostname.to_owned(),
            fqdn: String::new(),
        },
    }
}

/// The Node names to try, in order: the lower-cased hostname, the
/// lower-cased FQDN, the short name (hostname up to its first dot). Empty
/// and repeated names are dropped; a trailing dot of the FQDN is ignored.
#[must_use]
pub fn node_name_candidates(hostname: &str, fqdn: &str) -> Vec<String> {
    let host = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
    let fqdn = fqdn.trim().trim_end_matches('.').to_ascii_lowercase();
    let short = host.split('.').next().unwrap_or_default().to_owned();
    let mut out: Vec<String> = Vec::new();
    for name in [host, fqdn, short] {
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Whether to sync a MaasMachine's Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStart {
    /// Being deleted: forget its back-off state; nothing to wait for.
    Forget,
    /// Not provisioned, no providerID, no cluster or no name: nothing to do
    /// and nothing to wait for.
    Idle,
    /// Look the Node up by these names (in order; never empty).
    Sync {
        /// The candidate Node names.
        names: Vec<String>,
    },
}

/// Step 1: whether (and by which names) to sync the machine's Node.
#[must_use]
pub fn start(m: &NodeMachine) -> NodeStart {
    if m.deleting {
        return NodeStart::Forget;
    }
    if m.cluster.is_empty() || !m.provisioned || m.provider_id.is_empty() {
        return NodeStart::Idle;
    }
    let names = node_name_candidates(&m.names.hostname, &m.names.fqdn);
    if names.is_empty() {
        NodeStart::Idle
    } else {
        NodeStart::Sync { names }
    }
}

/// What to do with the Node found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeCheck {
    /// It already carries our providerID.
    AlreadySet,
    /// Its providerID is empty: patch ours in (guarded by resourceVersion).
    Patch,
    /// It carries another providerID: leave it, report a conflict.
    Conflict {
        /// The providerID it carries.
        found: String,
    },
}

/// Step 2: the Node found carries `current` (empty: none); ours is
/// `provider_id`. A non-empty providerID is never overwritten.
#[must_use]
pub fn check_node(current: &str, provider_id: &str) -> NodeCheck {
    if current == provider_id {
        NodeCheck::AlreadySet
    } else if current.is_empty() {
        NodeCheck::Patch
    } else {
        NodeCheck::Conflict {
            found: current.to_owned(),
        }
    }
}

/// What one sync found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOutcome {
    /// We patched the Node.
    Set {
        /// The Node's name.
        node: String,
    },
    /// The Node already had our providerID.
    AlreadySet {
        /// The Node's name.
        node: String,
    },
    /// No Node by any candidate name.
    NoNode {
        /// The names tried.
        tried: Vec<String>,
    },
    /// The Node carries another providerID.
    Conflict {
        /// The Node's name.
        node: String,
        /// The providerID it carries.
        found: String,
    },
    /// No kubeconfig Secret (yet): nothing to report.
    NoKubeconfig,
    /// The cluster's API is in back-off: no request was made.
    ClusterBackoff {
        /// The time left.
        wait: Duration,
    },
    /// The kubeconfig is unusable or refused.
    KubeconfigInvalid {
        /// Why (never the kubeconfig itself).
        message: String,
    },
    /// The workload API failed or did not answer.
    Unavailable {
        /// Why.
        message: String,
    },
}

/// The Node sync's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Waiting for a Node or an unavailable API: `base` doubling per
    /// consecutive failure of the machine up to `max`; `max` for outcomes
    /// only a change elsewhere fixes (conflict, no or bad kubeconfig).
    pub retry: Backoff,
}

/// The sync's outcome and what the controller remembers about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeObservation {
    /// `spec.providerID` (non-empty when a sync ran).
    pub provider_id: String,
    /// What the sync found.
    pub outcome: NodeOutcome,
    /// The machine's consecutive failed syncs before this one.
    pub failures: u32,
}

/// What to do with the machine's count of consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureTally {
    /// Success: forget it.
    Reset,
    /// Another failure: add one.
    Increment,
    /// Leave it.
    Keep,
}

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `Normal`
    Normal,
    /// `Warning`
    Warning,
}

/// When an Event is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitWhen {
    /// Whenever the plan runs (every patch we made).
    Always,
    /// Only when the condition write changed the condition (transitions).
    ConditionChanged,
}

/// An Event on the MaasMachine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// Normal or Warning.
    pub kind: EventKind,
    /// CamelCase reason.
    pub reason: &'static str,
    /// The action ([`EVENT_ACTION`]).
    pub action: &'static str,
    /// The note; never contains a secret.
    pub note: String,
    /// When to publish it.
    pub when: EmitWhen,
}

/// Step 3's plan, executed in field order: tally the failure, write the
/// condition (only if it changes status, reason or message), publish the
/// Event (after a successful condition write, as [`NodeEvent::when`] says),
/// then requeue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// The machine's failure count.
    pub failures: FailureTally,
    /// The [`NODE_PROVIDER_ID_SET`] condition, if any is to be reported.
    pub condition: Option<ConditionUpdate>,
    /// An Event; only ever with a condition.
    pub event: Option<NodeEvent>,
    /// When to look again (`None`: nothing to wait for).
    pub requeue: Option<Duration>,
    /// When to look again instead if the condition write failed.
    pub requeue_if_write_fails: Duration,
}

fn condition(status: ConditionStatus, reason: &'static str, message: String) -> ConditionUpdate {
    ConditionUpdate::new(NODE_PROVIDER_ID_SET, status, reason, message)
}

fn warning(reason: &'static str, note: String) -> NodeEvent {
    NodeEvent {
        kind: EventKind::Warning,
        reason,
        action: EVENT_ACTION,
        note,
        when: EmitWhen::ConditionChanged,
    }
}

/// Step 3: what the sync's outcome reports and when to look again.
#[must_use]
pub fn plan(obs: &NodeObservation, cfg: &NodeConfig) -> NodePlan {
    let provider_id = &obs.provider_id;
    let max = cfg.retry.max;
    let again = cfg.retry.after(obs.failures.saturating_add(1));
    let mut p = NodePlan {
        failures: FailureTally::Keep,
        condition: None,
        event: None,
        requeue: Some(max),
        requeue_if_write_fails: cfg.retry.base,
    };
    match &obs.outcome {
        NodeOutcome::Set { node } | NodeOutcome::AlreadySet { node } => {
            p.failures = FailureTally::Reset;
            p.condition = Some(condition(
                ConditionStatus::True,
                REASON_PROVIDER_ID_SET,
                format!("Node {node} has providerID {provider_id}"),
            ));
            if matches!(obs.outcome, NodeOutcome::Set { .. }) {
                p.event = Some(NodeEvent {
                    kind: EventKind::Normal,
                    reason: EVENT_PROVIDER_ID_SET,
                    action: EVENT_ACTION,
                    note: format!("set providerID {provider_id} on workload Node {node}"),
                    when: EmitWhen::Always,
                });
            }
            p.requeue = None;
        }
        NodeOutcome::NoNode { tried } => {
            p.failures = FailureTally::Increment;
            p.condition = Some(condition(
                ConditionStatus::False,
                REASON_WAITING_FOR_NODE,
                format!("no workload Node named {}", tried.join(" or ")),
            ));
            p.requeue = Some(again);
        }
        NodeOutcome::Conflict { node, found } => {
            let message = format!(
                "workload Node {node} has providerID {found}, not {provider_id}; left unchanged"
            );
            p.condition = Some(condition(
                ConditionStatus::False,
                REASON_PROVIDER_ID_CONFLICT,
                message.clone(),
            ));
            p.event = Some(warning(EVENT_PROVIDER_ID_CONFLICT, message));
        }
        NodeOutcome::NoKubeconfig => {}
        NodeOutcome::ClusterBackoff { wait } => p.requeue = Some(*wait),
        NodeOutcome::KubeconfigInvalid { message } => {
            p.condition = Some(condition(
                ConditionStatus::False,
                REASON_KUBECONFIG_INVALID,
                message.clone(),
            ));
            p.event = Some(warning(REASON_KUBECONFIG_INVALID, message.clone()));
        }
        NodeOutcome::Unavailable { message } => {
            p.failures = FailureTally::Increment;
            p.condition = Some(condition(
                ConditionStatus::False,
                REASON_WORKLOAD_API_UNAVAILABLE,
                message.clone(),
            ));
            p.event = Some(warning(REASON_WORKLOAD_API_UNAVAILABLE, message.clone()));
            p.requeue = Some(again);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: &str = "maas:///z1/abc123";

    fn cfg() -> NodeConfig {
        NodeConfig {
            retry: Backoff::new(Duration::from_secs(5), Duration::from_secs(300)),
        }
    }

    fn obs(outcome: NodeOutcome, failures: u32) -> NodeObservation {
        NodeObservation {
            provider_id: PID.into(),
            outcome,
            failures,
        }
    }

    fn machine() -> NodeMachine {
        NodeMachine {
            deleting: false,
            provisioned: true,
            provider_id: PID.into(),
            cluster: "c1".into(),
            names: HostNames {
                hostname: "Web-3.lab".into(),
                fqdn: "web-3.lab.example.".into(),
            },
        }
    }

    #[test]
    fn candidates_are_lowercased_hostname_then_fqdn_then_short_name() {
        assert_eq!(
            node_name_candidates("Node-1", "Node-1.MAAS.example."),
            ["node-1", "node-1.maas.example"]
        );
        assert_eq!(
            node_name_candidates("web-3.lab", "web-3.lab.example"),
            ["web-3.lab", "web-3.lab.example", "web-3"]
        );
        assert_eq!(node_name_candidates("a", "a"), ["a"]);
        assert_eq!(node_name_candidates("", "x.example"), ["x.example"]);
        assert!(node_name_candidates(" ", "").is_empty());
    }

    #[test]
    fn maas_names_win_over_the_status_hostname() {
        let mut v = crate::MaasMachineView::new(
            "abc123",
            crate::MaasStatus::Deployed,
            crate::PowerState::On,
        );
        v.hostname = "maas-host".into();
        v.fqdn = "maas-host.example".into();
        let n = host_names(Some(&v), "old");
        assert_eq!(
            (n.hostname.as_str(), n.fqdn.as_str()),
            ("maas-host", "maas-host.example")
        );
        v.hostname.clear();
        let n = host_names(Some(&v), "old");
        assert_eq!(
            (n.hostname.as_str(), n.fqdn.as_str()),
            ("old", "maas-host.example")
        );
        let n = host_names(None, "old");
        assert_eq!((n.hostname.as_str(), n.fqdn.as_str()), ("old", ""));
    }

    #[test]
    fn only_provisioned_machines_with_a_provider_id_and_a_cluster_sync() {
        assert_eq!(
            start(&machine()),
            NodeStart::Sync {
                names: vec![
                    "web-3.lab".into(),
                    "web-3.lab.example".into(),
                    "web-3".into()
                ]
            }
        );
        let deleting = NodeMachine {
            deleting: true,
            provisioned: false,
            ..machine()
        };
        assert_eq!(start(&deleting), NodeStart::Forget);
        for m in [
            NodeMachine {
                provisioned: false,
                ..machine()
            },
            NodeMachine {
                provider_id: String::new(),
                ..machine()
            },
            NodeMachine {
                cluster: String::new(),
                ..machine()
            },
            NodeMachine {
                names: HostNames::default(),
                ..machine()
            },
        ] {
            assert_eq!(start(&m), NodeStart::Idle, "{m:?}");
        }
    }

    #[test]
    fn a_non_empty_provider_id_is_never_overwritten() {
        assert_eq!(check_node(PID, PID), NodeCheck::AlreadySet);
        assert_eq!(check_node("", PID), NodeCheck::Patch);
        assert_eq!(
            check_node("aws:///x", PID),
            NodeCheck::Conflict {
                found: "aws:///x".into()
            }
        );
    }

    #[test]
    fn set_reports_true_resets_failures_and_announces_every_patch() {
        let p = plan(&obs(NodeOutcome::Set { node: "n1".into() }, 4), &cfg());
        assert_eq!(p.failures, FailureTally::Reset);
        let c = p.condition.unwrap();
        assert_eq!(
            (c.type_, c.status, c.reason),
            (
                NODE_PROVIDER_ID_SET,
                ConditionStatus::True,
                REASON_PROVIDER_ID_SET
            )
        );
        assert_eq!(c.message, format!("Node n1 has providerID {PID}"));
        let e = p.event.unwrap();
        assert_eq!(
            (e.kind, e.reason, e.when),
            (EventKind::Normal, EVENT_PROVIDER_ID_SET, EmitWhen::Always)
        );
        assert_eq!(e.action, EVENT_ACTION);
        assert_eq!(p.requeue, None);
    }

    #[test]
    fn already_set_reports_true_without_an_event() {
        let p = plan(
            &obs(NodeOutcome::AlreadySet { node: "n1".into() }, 2),
            &cfg(),
        );
        assert_eq!(p.failures, FailureTally::Reset);
        assert_eq!(p.condition.unwrap().status, ConditionStatus::True);
        assert_eq!(p.event, None);
        assert_eq!(p.requeue, None);
    }

    #[test]
    fn a_missing_node_is_waited_for_with_backoff() {
        let tried = vec!["a".to_owned(), "a.example".to_owned()];
        let waits: Vec<Option<Duration>> = [0, 1, 2, 10]
            .iter()
            .map(|&n| {
                let p = plan(
                    &obs(
                        NodeOutcome::NoNode {
                            tried: tried.clone(),
                        },
                        n,
                    ),
                    &cfg(),
                );
                assert_eq!(p.failures, FailureTally::Increment);
                let c = p.condition.unwrap();
                assert_eq!(
                    (c.status, c.reason),
                    (ConditionStatus::False, REASON_WAITING_FOR_NODE)
                );
                assert_eq!(c.message, "no workload Node named a or a.example");
                assert_eq!(p.event, None, "waiting is not an Event");
                p.requeue
            })
            .collect();
        let s = Duration::from_secs;
        assert_eq!(waits, [Some(s(5)), Some(s(10)), Some(s(20)), Some(s(300))]);
    }

    #[test]
    fn a_conflict_warns_on_transition_and_looks_again_rarely() {
        let p = plan(
            &obs(
                NodeOutcome::Conflict {
                    node: "n1".into(),
                    found: "other://x".into(),
                },
                0,
            ),
            &cfg(),
        );
        assert_eq!(p.failures, FailureTally::Keep);
        let c = p.condition.unwrap();
        assert_eq!(c.reason, REASON_PROVIDER_ID_CONFLICT);
        assert!(
            c.message.contains("other://x") && c.message.contains(PID),
            "{}",
            c.message
        );
        let e = p.event.unwrap();
        assert_eq!(
            (e.kind, e.reason, e.when),
            (
                EventKind::Warning,
                EVENT_PROVIDER_ID_CONFLICT,
                EmitWhen::ConditionChanged
            )
        );
        assert_eq!(e.note, c.message);
        assert_eq!(p.requeue, Some(Duration::from_secs(300)));
    }

    #[test]
    fn no_kubeconfig_reports_nothing_and_cluster_backoff_waits_it_out() {
        let p = plan(&obs(NodeOutcome::NoKubeconfig, 3), &cfg());
        assert_eq!(
            (p.failures, &p.condition, &p.event),
            (FailureTally::Keep, &None, &None)
        );
        assert_eq!(p.requeue, Some(Duration::from_secs(300)));
        let wait = Duration::from_millis(1234);
        let p = plan(&obs(NodeOutcome::ClusterBackoff { wait }, 3), &cfg());
        assert_eq!(
            (p.failures, &p.condition, &p.event),
            (FailureTally::Keep, &None, &None)
        );
        assert_eq!(p.requeue, Some(wait));
    }

    #[test]
    fn failures_are_reported_and_warned() {
        let bad = plan(
            &obs(
                NodeOutcome::KubeconfigInvalid {
                    message: "kubeconfig Secret c1-kubeconfig: no `value` key".into(),
                },
                0,
            ),
            &cfg(),
        );
        assert_eq!(bad.failures, FailureTally::Keep);
        assert_eq!(
            bad.condition.as_ref().unwrap().reason,
            REASON_KUBECONFIG_INVALID
        );
        assert_eq!(
            bad.event.as_ref().unwrap().reason,
            REASON_KUBECONFIG_INVALID
        );
        assert_eq!(bad.requeue, Some(Duration::from_secs(300)));

        let down = plan(
            &obs(
                NodeOutcome::Unavailable {
                    message: "workload API read Node: no answer".into(),
                },
                1,
            ),
            &cfg(),
        );
        assert_eq!(down.failures, FailureTally::Increment);
        assert_eq!(
            down.condition.as_ref().unwrap().reason,
            REASON_WORKLOAD_API_UNAVAILABLE
        );
        let e = down.event.unwrap();
        assert_eq!(
            (e.kind, e.reason),
            (EventKind::Warning, REASON_WORKLOAD_API_UNAVAILABLE)
        );
        assert_eq!(down.requeue, Some(Duration::from_secs(10)));
    }

    #[test]
    fn every_event_comes_with_a_condition_and_a_failed_write_retries_soon() {
        let outcomes = [
            NodeOutcome::Set { node: "n".into() },
            NodeOutcome::AlreadySet { node: "n".into() },
            NodeOutcome::NoNode {
                tried: vec!["n".into()],
            },
            NodeOutcome::Conflict {
                node: "n".into(),
                found: "x".into(),
            },
            NodeOutcome::NoKubeconfig,
            NodeOutcome::ClusterBackoff {
                wait: Duration::from_secs(1),
            },
            NodeOutcome::KubeconfigInvalid {
                message: "m".into(),
            },
            NodeOutcome::Unavailable {
                message: "m".into(),
            },
        ];
        for o in outcomes {
            let p = plan(&obs(o.clone(), 0), &cfg());
            assert!(p.event.is_none() || p.condition.is_some(), "{o:?}");
            assert_eq!(p.requeue_if_write_fails, Duration::from_secs(5), "{o:?}");
        }
    }
}
