//! Observing MAAS economically: what a reconcile may take from the
//! controller's shared MAAS machine cache, and what it must read from MAAS.
//!
//! The controller keeps, per MAAS endpoint, the last MAAS answer about each
//! machine it tracks (the poller's one list per tick, the machine JSON that
//! allocate / annotate / deploy / release / power calls return, and its own
//! reads), and, per owner marker, the machines MAAS showed carrying it (the
//! answer to `GET machines/?agent_name=<marker>`, kept current by the
//! answers to our own allocations). It hands that memory to the lifecycle as
//! a [`Memory`]; the decisions here are pure:
//!
//! * [`plan_reads`]: what to read from MAAS before deciding. The
//!   `agent_name` list runs only when the marker's machines are not known
//!   (the MaasMachine was first seen, the controller restarted, or an
//!   allocation's answer may have been lost), while an allocation was sent and no machine of ours is known
//!   yet, or when the remembered answer shows that MAAS ignored the filter;
//!   a machine is read when the cache has no entry for it younger than
//!   [`LifecycleConfig::cache_fresh_for`];
//! * [`assemble`]: the [`MaasView`] the decision sees, from fresh reads and
//!   the memory, with the same meaning as a full read (a remembered
//!   `agent_name` claim is dropped once MAAS shows the machine released);
//! * [`confirmation_needed`]: a cache entry never authorises a release (or
//!   an unlink from a released machine) on its own. Before one is executed,
//!   the target is read from MAAS in the same reconcile, and, when our owner
//!   annotation does not prove the machine ours, the `agent_name` list is
//!   asked again; then the controller decides again on that answer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::action::{Action, Decision};
use crate::maas::{Lookup, MaasMachineView, MaasVersion, MaasView};
use crate::marker::{OwnerMarker, ParsedMarker};
use crate::ownership::{check_marker_answer, proven_ours};
use crate::view::{InfraMachineView, LifecycleConfig, Observation};

/// One cached MAAS answer about a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMachine {
    /// What MAAS answered (a machine's JSON, or 404 / absent from a list of ids).
    /// `agent_name` is not part of MAAS's JSON: leave it empty.
    pub lookup: Lookup,
    /// How long ago MAAS answered.
    pub age: Duration,
}

/// What the controller remembers for one MaasMachine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Memory {
    /// Cached answers, by system_id (at least those of
    /// [`InfraMachineView::ids_to_look_up`] and of `marked`, when cached).
    pub machines: BTreeMap<String, CachedMachine>,
    /// The machines MAAS showed carrying this MaasMachine's owner marker (the
    /// last `agent_name` list, plus our allocations answered since);
    /// `None` when not known: first seen, after a restart, or while an
    /// allocation's answer may have been lost.
    pub marked: Option<BTreeSet<String>>,
}

/// What to read from MAAS before deciding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadPlan {
    /// `GET machines/?agent_name=<marker>`.
    pub list_marker: bool,
    /// `GET machines/<id>/` for each.
    pub read: Vec<String>,
    /// `GET version/` (the controller caches it per endpoint).
    pub version: bool,
}

impl ReadPlan {
    /// Nothing to read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.list_marker && self.read.is_empty() && !self.version
    }
}

/// What MAAS answered in this reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FreshReads {
    /// The answer to the `agent_name` list, when asked (views with
    /// `agent_name` set to the marker, as for [`MaasView::by_marker`]).
    pub by_marker: Option<Vec<MaasMachineView>>,
    /// The answers to `GET machines/<id>/` (`agent_name` empty).
    pub lookups: BTreeMap<String, Lookup>,
    /// The MAAS version, when asked and known.
    pub version: Option<MaasVersion>,
}

impl FreshReads {
    /// Adds `more` (a confirmation's reads) to these.
    pub fn merge(&mut self, more: FreshReads) {
        if more.by_marker.is_some() {
            self.by_marker = more.by_marker;
        }
        self.lookups.extend(more.lookups);
        if more.version.is_some() {
            self.version = more.version;
        }
    }

    /// Machines MAAS answered about in this reconcile.
    #[must_use]
    pub fn read_now(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self.lookups.keys().cloned().collect();
        if let Some(list) = &self.by_marker {
            ids.extend(list.iter().map(|m| m.system_id.clone()));
        }
        ids
    }
}

/// An allocation MAAS leaves on a machine: a remembered `agent_name` claim
/// holds only while the machine is in one of these (MAAS clears
/// `agent_name` when a release starts).
/// Once MAAS shows a machine otherwise, drop it from the remembered claims
/// for good (the next owner's allocation is not ours).
#[must_use]
pub fn may_carry_agent_name(m: &MaasMachineView) -> bool {
    !(m.status.is_unowned() || m.status.is_releasing() || m.status.is_release_failed())
}

/// The machines whose view this reconcile needs: `ids_to_look_up` and the
/// remembered marked machines.
#[must_use]
pub fn machines_needed(infra: &InfraMachineView, mem: &Memory) -> Vec<String> {
    let mut ids = infra.ids_to_look_up();
    for id in mem.marked.iter().flatten() {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// What to read from MAAS before [`crate::decide`] (call after the paused
/// and [`crate::backoff_pending`] checks, which read nothing).
#[must_use]
pub fn plan_reads(obs: &Observation, mem: &Memory, cfg: &LifecycleConfig) -> ReadPlan {
    let infra = &obs.infra;
    // A remembered answer that shows the filter was ignored is no memory of
    // ours: ask again until MAAS answers with our machines only.
    let remembered_inconsistent = mem.marked.is_some()
        && OwnerMarker::new(&infra.namespace, &infra.name, &infra.uid).is_ok_and(|marker| {
            let view = assemble(infra, mem, &FreshReads::default());
            !check_marker_answer(&marker, &view.by_marker).is_consistent()
        });
    // An allocation was sent and no machine of ours is known: its answer may
    // have been lost (or MAAS's list not show it yet): list until one shows or
    // the lifecycle stops waiting for it.
    let allocation_unseen = infra.progress.allocation_requested_at.is_some()
        && infra.spec.system_id.as_deref().is_none_or(str::is_empty)
        && mem.marked.as_ref().is_some_and(BTreeSet::is_empty);
    // Not known: first seen, after a restart, after an allocation answer
    // that may be lost. Even a MaasMachine without progress is listed once:
    // its status may have been lost after an allocation.
    let list_marker = mem.marked.is_none() || remembered_inconsistent || allocation_unseen;
    let read = machines_needed(infra, mem)
        .into_iter()
        .filter(|id| {
            // (The controller takes a machine the marker list returned from
            // that answer rather than reading it again.)
            mem.machines
                .get(id)
                .is_none_or(|c| c.age > cfg.cache_fresh_for)
        })
        .collect();
    ReadPlan {
        list_marker,
        read,
        version: infra.spec.ephemeral || infra.spec.has_pod_constraints(),
    }
}

/// The clusterctl-move rule: a MaasMachine that recorded `system_id` and its
/// providerID in spec, whose machine's owner annotation names the same
/// namespace/name with another uid, was re-created without status (new uid,
/// same name, spec kept): the machine counts as carrying our marker.
fn moved_here(infra: &InfraMachineView, m: &MaasMachineView) -> bool {
    let recorded = infra.spec.system_id.as_deref().filter(|s| !s.is_empty());
    let provider_id = infra
        .spec
        .provider_id
        .as_deref()
        .is_some_and(|p| !p.is_empty());
    provider_id
        && recorded == Some(m.system_id.as_str())
        && m.workload_annotations
            .get(crate::marker::ANNOTATION_OWNER)
            .and_then(|a| OwnerMarker::parse(a).ok())
            .is_some_and(|p: ParsedMarker| p.names(&infra.namespace, &infra.name))
}

/// What the decision sees: `fresh` where MAAS answered in this reconcile,
/// the memory elsewhere. Entries of `marked` count as carrying the marker
/// while MAAS shows them allocated (a release clears `agent_name`).
#[must_use]
pub fn assemble(infra: &InfraMachineView, mem: &Memory, fresh: &FreshReads) -> MaasView {
    let marker = OwnerMarker::new(&infra.namespace, &infra.name, &infra.uid)
        .ok()
        .map(|m| m.render());
    let current = |id: &str| -> Option<Lookup> {
        fresh
            .lookups
            .get(id)
            .cloned()
            .or_else(|| mem.machines.get(id).map(|c| c.lookup.clone()))
    };
    let by_marker: Vec<MaasMachineView> = match (&fresh.by_marker, &marker) {
        (Some(list), _) => list.clone(),
        (None, Some(marker)) => mem
            .marked
            .iter()
            .flatten()
            .filter_map(|id| match current(id) {
                Some(Lookup::Found(mut m)) if may_carry_agent_name(&m) => {
                    m.agent_name.clone_from(marker);
                    Some(m)
                }
                _ => None,
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut lookups = BTreeMap::new();
    for id in infra.ids_to_look_up() {
        let listed = by_marker.iter().find(|m| m.system_id == id);
        let lookup = match (fresh.lookups.get(&id), listed) {
            // The list's entry carries the marker; a fresher read of the same
            // machine keeps it.
            (Some(Lookup::Found(m)), Some(l)) => {
                let mut m = m.clone();
                if may_carry_agent_name(&m) {
                    m.agent_name.clone_from(&l.agent_name);
                }
                Some(Lookup::Found(m))
            }
            (Some(l), None) => Some(l.clone()),
            (Some(Lookup::NotFound), Some(_)) => Some(Lookup::NotFound),
            (None, Some(l)) => Some(Lookup::Found(l.clone())),
            (None, None) => current(&id),
        };
        let Some(mut lookup) = lookup else { continue };
        if let (Lookup::Found(m), Some(marker)) = (&mut lookup, &marker)
            && m.agent_name.is_empty()
            && moved_here(infra, m)
        {
            m.agent_name.clone_from(marker);
        }
        lookups.insert(id, lookup);
    }
    MaasView {
        by_marker,
        lookups,
        version: fresh.version,
    }
}

/// Before executing `decision`, decided on `obs` (assembled from memory and
/// `fresh`): the reads a release or an unlink from a released machine
/// needs, when MAAS did not answer for its target in this reconcile or the
/// machine's ownership rests on a remembered `agent_name` claim. Read them,
/// merge them into `fresh`, assemble and decide again; execute only a
/// decision for which this is `None`.
#[must_use]
pub fn confirmation_needed(
    decision: &Decision,
    obs: &Observation,
    fresh: &FreshReads,
) -> Option<ReadPlan> {
    let target = match &decision.action {
        Action::Release(r) => r.system_id.as_str(),
        Action::UnlinkStaticIp(r) => r.system_id.as_str(),
        _ => return None,
    };
    let read_now = fresh.read_now();
    let read = if read_now.contains(target) {
        Vec::new()
    } else {
        vec![target.to_owned()]
    };
    let list_marker = fresh.by_marker.is_none()
        && matches!(decision.action, Action::Release(_))
        && !proven_by_annotation(obs, target);
    let plan = ReadPlan {
        list_marker,
        read,
        version: false,
    };
    (!plan.is_empty()).then_some(plan)
}

/// The target's view (lookup or marker entry) carries our owner annotation.
fn proven_by_annotation(obs: &Observation, id: &str) -> bool {
    let Ok(marker) = OwnerMarker::new(&obs.infra.namespace, &obs.infra.name, &obs.infra.uid) else {
        return false;
    };
    let lookup = match obs.maas.lookups.get(id) {
        Some(Lookup::Found(m)) => Some(m),
        _ => None,
    };
    lookup
        .into_iter()
        .chain(obs.maas.by_marker.iter().filter(|m| m.system_id == id))
        .any(|m| proven_ours(&marker, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ReleaseRequest;
    use crate::maas::{MaasStatus, PowerState};
    use crate::view::{EraseMode, Progress, ReleaseRecord};
    use crate::{ReleaseReason, Timestamp};

    const UID: &str = "2b1a7c3e-9d4f-4a51-8e0c-6f2d1b3a4c5d";

    fn marker() -> OwnerMarker {
        OwnerMarker::new("ns", "m", UID).unwrap()
    }

    fn obs() -> Observation {
        let mut o = Observation::default();
        o.infra.namespace = "ns".into();
        o.infra.name = "m".into();
        o.infra.uid = UID.into();
        o
    }

    fn allocated(id: &str) -> MaasMachineView {
        let mut m = MaasMachineView::new(id, MaasStatus::Allocated, PowerState::Off);
        m.owner = Some("capi".into());
        m
    }

    fn cached(m: MaasMachineView, secs: u64) -> CachedMachine {
        CachedMachine {
            lookup: Lookup::Found(m),
            age: Duration::from_secs(secs),
        }
    }

    #[test]
    fn an_unknown_marker_is_listed_a_known_one_is_not() {
        let cfg = LifecycleConfig::default();
        let o = obs();
        let plan = plan_reads(&o, &Memory::default(), &cfg);
        assert!(plan.list_marker && plan.read.is_empty(), "{plan:?}");
        let empty = Memory {
            marked: Some(BTreeSet::new()),
            ..Memory::default()
        };
        assert!(plan_reads(&o, &empty, &cfg).is_empty());
        let mut used = obs();
        used.infra.progress.allocation_requested_at = Some(Timestamp(5));
        let plan = plan_reads(&used, &Memory::default(), &cfg);
        assert!(plan.list_marker, "{plan:?}");
        let known = Memory {
            marked: Some(BTreeSet::new()),
            ..Memory::default()
        };
        // An allocation in flight with nothing of ours known: list again.
        assert!(plan_reads(&used, &known, &cfg).list_marker);
        let answered = Memory {
            marked: Some(BTreeSet::from(["aaa".to_owned()])),
            machines: BTreeMap::from([("aaa".to_owned(), cached(allocated("aaa"), 0))]),
        };
        assert!(!plan_reads(&used, &answered, &cfg).list_marker);
        used.infra.progress.allocation_requested_at = None;
        used.infra.spec.system_id = Some("aaa".into());
        assert!(!plan_reads(&used, &known, &cfg).list_marker);
        // A remembered answer listing another tenant's machine is asked again.
        let mut foreign = allocated("zzz");
        foreign.workload_annotations = OwnerMarker::new("other", "m", UID)
            .unwrap()
            .workload_annotations(None);
        let poisoned = Memory {
            marked: Some(BTreeSet::from(["zzz".to_owned()])),
            machines: BTreeMap::from([("zzz".to_owned(), cached(foreign, 0))]),
        };
        assert!(plan_reads(&used, &poisoned, &cfg).list_marker);
    }

    #[test]
    fn fresh_entries_are_used_old_or_missing_ones_are_read() {
        let cfg = LifecycleConfig::default();
        let mut o = obs();
        o.infra.spec.system_id = Some("aaa".into());
        o.infra.progress.recorded_system_id = Some("aaa".into());
        o.infra.progress.releasing.push(ReleaseRecord {
            system_id: "bbb".into(),
            since: Timestamp(1),
        });
        let mut mem = Memory {
            marked: Some(BTreeSet::from(["aaa".to_owned(), "ccc".to_owned()])),
            ..Memory::default()
        };
        mem.machines
            .insert("aaa".into(), cached(allocated("aaa"), 1));
        mem.machines.insert(
            "bbb".into(),
            cached(allocated("bbb"), cfg.cache_fresh_for.as_secs() + 1),
        );
        let plan = plan_reads(&o, &mem, &cfg);
        assert_eq!(plan.read, vec!["bbb".to_owned(), "ccc".to_owned()]);
        assert!(!plan.list_marker);
    }

    #[test]
    fn remembered_claims_end_when_maas_shows_a_release() {
        let mut o = obs();
        o.infra.spec.system_id = Some("aaa".into());
        let mut releasing = allocated("bbb");
        releasing.status = MaasStatus::Releasing;
        let mut mem = Memory {
            marked: Some(BTreeSet::from(["aaa".to_owned(), "bbb".to_owned()])),
            ..Memory::default()
        };
        mem.machines
            .insert("aaa".into(), cached(allocated("aaa"), 1));
        mem.machines.insert("bbb".into(), cached(releasing, 1));
        let view = assemble(&o.infra, &mem, &FreshReads::default());
        assert_eq!(view.by_marker.len(), 1);
        assert_eq!(view.by_marker[0].agent_name, marker().render());
        let Some(Lookup::Found(m)) = view.lookups.get("aaa") else {
            panic!("{view:?}");
        };
        assert_eq!(m.agent_name, marker().render());
    }

    fn release(id: &str) -> Decision {
        Decision {
            action: Action::Release(ReleaseRequest {
                system_id: id.into(),
                erase: EraseMode::None,
                reason: ReleaseReason::Deleting,
                comment: String::new(),
            }),
            progress: Progress::default(),
            conditions: Vec::new(),
            report: None,
            requeue_after: None,
        }
    }

    #[test]
    fn a_cached_entry_never_authorises_a_release() {
        let mut o = obs();
        o.infra.spec.system_id = Some("aaa".into());
        let mut annotated = allocated("aaa");
        annotated.workload_annotations = marker().workload_annotations(None);
        let mem = Memory {
            marked: Some(BTreeSet::from(["aaa".to_owned()])),
            machines: BTreeMap::from([("aaa".to_owned(), cached(annotated.clone(), 0))]),
        };
        let mut fresh = FreshReads::default();
        o.maas = assemble(&o.infra, &mem, &fresh);
        // Proven by the annotation: the read alone confirms.
        let plan = confirmation_needed(&release("aaa"), &o, &fresh).unwrap();
        assert_eq!(plan.read, vec!["aaa".to_owned()]);
        assert!(!plan.list_marker);
        fresh
            .lookups
            .insert("aaa".into(), Lookup::Found(annotated.clone()));
        o.maas = assemble(&o.infra, &mem, &fresh);
        assert_eq!(confirmation_needed(&release("aaa"), &o, &fresh), None);

        // Only a remembered claim: MAAS's agent_name answer is asked again.
        let mem = Memory {
            marked: Some(BTreeSet::from(["aaa".to_owned()])),
            machines: BTreeMap::from([("aaa".to_owned(), cached(allocated("aaa"), 0))]),
        };
        let mut fresh = FreshReads::default();
        fresh
            .lookups
            .insert("aaa".into(), Lookup::Found(allocated("aaa")));
        o.maas = assemble(&o.infra, &mem, &fresh);
        let plan = confirmation_needed(&release("aaa"), &o, &fresh).unwrap();
        assert!(plan.list_marker && plan.read.is_empty(), "{plan:?}");
        fresh.by_marker = Some(Vec::new());
        assert_eq!(confirmation_needed(&release("aaa"), &o, &fresh), None);
    }
}
