//! Orphans: MAAS machines whose own JSON says a MaasMachine holds them
//! (our `capmaas.io.owner` annotation) while no such MaasMachine exists any
//! more (force-deleted with its finalizer removed, a restored etcd, an
//! allocation that landed after its object was gone).
//!
//! [`sweep`] decides from one list of the region's machines (the controller
//! lists each MAAS endpoint once per sweep period, then the MaasMachines, in
//! that order, so a MaasMachine created before MAAS answered is seen) what
//! is orphaned and what may be released. Proof is MAAS's own answer only
//! (the annotation; `agent_name` is not in machine JSON, see
//! `ownership.rs`). A machine is **not** an orphan when:
//! * it carries no parsable owner annotation, or nobody holds it in MAAS
//!   (no owner, free, being released);
//! * the controller is scoped to a namespace and the annotation names
//!   another one;
//! * a MaasMachine of that namespace and name exists, whatever its uid
//!   (`clusterctl move` re-creates objects with new uids and they re-adopt
//!   their machines; a re-created object is not ours to judge).
//!
//! An orphan is released only when the policy says so, once it has been
//! orphaned for the whole grace period (first seen by an earlier sweep), and
//! when MAAS accepts a release in its status.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::maas::MaasMachineView;
use crate::marker::{ANNOTATION_CLUSTER, ANNOTATION_OWNER, OwnerMarker};
use crate::time::Timestamp;

/// A MaasMachine that exists (from the controller's list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMaasMachine {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// What the sweep may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanPolicy {
    /// Release orphans (`--release-orphans`); otherwise only report them.
    pub release: bool,
    /// How long a machine must stay orphaned before it is released.
    pub grace: Duration,
    /// The controller's namespace scope (`None`: every namespace).
    pub namespace: Option<String>,
}

impl Default for OrphanPolicy {
    fn default() -> Self {
        Self {
            release: false,
            grace: Duration::from_secs(600),
            namespace: None,
        }
    }
}

/// One orphaned machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// `system_id`.
    pub system_id: String,
    /// `hostname`.
    pub hostname: String,
    /// The owner annotation (the marker of the MaasMachine that is gone).
    pub marker: String,
    /// Namespace of that MaasMachine.
    pub namespace: String,
    /// `<namespace>/<cluster>` from `capmaas.io.cluster`, when present.
    pub cluster: Option<String>,
    /// When a sweep first saw it orphaned.
    pub since: Timestamp,
}

/// The sweep's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SweepPlan {
    /// Every orphan (for the gauge, logs and Events).
    pub orphans: Vec<Orphan>,
    /// System IDs to release now (a subset of `orphans`).
    pub release: Vec<String>,
    /// The state to keep for the next sweep: system_id → first seen
    /// orphaned (machines no longer orphaned are dropped).
    pub first_seen: BTreeMap<String, Timestamp>,
}

/// Decides, from one list of every machine of a MAAS endpoint, which are
/// orphaned and which to release. Pure.
#[must_use]
pub fn sweep(
    machines: &[MaasMachineView],
    live: &[LiveMaasMachine],
    first_seen: &BTreeMap<String, Timestamp>,
    now: Timestamp,
    policy: &OrphanPolicy,
) -> SweepPlan {
    let mut plan = SweepPlan::default();
    for m in machines {
        let Some(text) = m.workload_annotations.get(ANNOTATION_OWNER) else {
            continue;
        };
        let Ok(parsed) = OwnerMarker::parse(text) else {
            continue;
        };
        if m.owner.is_none() || m.status.is_unowned() || m.status.is_releasing() {
            continue;
        }
        if policy
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != parsed.namespace)
        {
            continue;
        }
        if live.iter().any(|l| parsed.names(&l.namespace, &l.name)) {
            continue;
        }
        let since = first_seen.get(&m.system_id).copied().unwrap_or(now);
        plan.first_seen.insert(m.system_id.clone(), since);
        if policy.release && m.status.is_releasable() && now.since(since) >= policy.grace {
            plan.release.push(m.system_id.clone());
        }
        plan.orphans.push(Orphan {
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            marker: text.clone(),
            namespace: parsed.namespace.clone(),
            cluster: m.workload_annotations.get(ANNOTATION_CLUSTER).cloned(),
            since,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maas::{MaasStatus, PowerState};

    const UID: &str = "2b1a7c3e-9d4f-4a51-8e0c-6f2d1b3a4c5d";

    fn annotated(id: &str, ns: &str, name: &str) -> MaasMachineView {
        let mut m = MaasMachineView::new(id, MaasStatus::Deployed, PowerState::On);
        m.owner = Some("capi".into());
        m.workload_annotations = OwnerMarker::new(ns, name, UID)
            .unwrap()
            .workload_annotations(Some("c1"));
        m
    }

    fn live(ns: &str, name: &str) -> LiveMaasMachine {
        LiveMaasMachine {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn reported_at_once_released_only_after_the_grace_period_when_asked() {
        let machines = [
            annotated("aaa111", "ns", "gone"),
            annotated("bbb222", "ns", "alive"),
        ];
        let policy = OrphanPolicy {
            release: true,
            grace: Duration::from_secs(60),
            namespace: None,
        };
        let first = sweep(
            &machines,
            &[live("ns", "alive")],
            &BTreeMap::new(),
            Timestamp(1000),
            &policy,
        );
        assert_eq!(first.orphans.len(), 1);
        assert_eq!(first.orphans[0].system_id, "aaa111");
        assert_eq!(first.orphans[0].cluster.as_deref(), Some("ns/c1"));
        assert!(first.release.is_empty(), "inside the grace period");
        let later = sweep(
            &machines,
            &[live("ns", "alive")],
            &first.first_seen,
            Timestamp(1060),
            &policy,
        );
        assert_eq!(later.release, vec!["aaa111".to_owned()]);
        assert_eq!(later.orphans[0].since, Timestamp(1000));
        let report_only = OrphanPolicy {
            release: false,
            ..policy
        };
        let r = sweep(
            &machines,
            &[live("ns", "alive")],
            &first.first_seen,
            Timestamp(9999),
            &report_only,
        );
        assert_eq!(r.orphans.len(), 1);
        assert!(r.release.is_empty());
    }

    #[test]
    fn never_an_orphan_without_proof_of_a_missing_object_in_scope() {
        let mut free = annotated("fff000", "ns", "gone");
        free.status = MaasStatus::Ready;
        free.owner = None;
        let mut releasing = annotated("rrr000", "ns", "gone");
        releasing.status = MaasStatus::Releasing;
        let mut unannotated = annotated("uuu000", "ns", "gone");
        unannotated.workload_annotations.clear();
        let moved = annotated("mmm000", "ns", "moved"); // same name, new uid after a move
        let elsewhere = annotated("eee000", "other", "gone");
        let machines = [free, releasing, unannotated, moved, elsewhere];
        let policy = OrphanPolicy {
            release: true,
            grace: Duration::ZERO,
            namespace: Some("ns".into()),
        };
        let plan = sweep(
            &machines,
            &[live("ns", "moved")],
            &BTreeMap::new(),
            Timestamp(5),
            &policy,
        );
        assert_eq!(plan, SweepPlan::default());
    }
}
