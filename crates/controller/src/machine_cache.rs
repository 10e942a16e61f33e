//! The shared MAAS machine cache of one MAAS endpoint.
//!
//! Fed by the poller's one list per tick, by the machine JSON that
//! allocate / annotate / deploy / release / power / link calls return, and
//! by the reads a reconcile makes; read by every MaasMachine reconcile
//! through [`MachineCache::memory`]. Which reads a reconcile still needs is
//! decided in the lifecycle (`machine_lifecycle::plan_reads`,
//! `confirmation_needed`); this module only remembers and forgets.
//!
//! Per owner marker it also remembers the machines MAAS showed carrying it
//! (the `agent_name` list, plus our answered allocations). That memory is
//! dropped when an allocation's answer may have been lost, and is empty
//! after a restart, so the lifecycle lists again.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use machine_lifecycle as lc;
use parking_lot::Mutex;

/// What the poller compares: MAAS status code and power state.
pub type Fingerprint = String;

/// Marks a machine MAAS no longer returns.
pub const GONE: &str = "gone";

/// The fingerprint of a machine as MAAS shows it.
#[must_use]
pub fn fingerprint(m: &maas_api::Machine) -> Fingerprint {
    format!("{}|{}", m.status.code(), m.power_state.as_str())
}

/// The fingerprint of a lookup (as [`fingerprint`] of its machine).
#[must_use]
pub fn fingerprint_lookup(l: &lc::Lookup) -> Fingerprint {
    match l {
        lc::Lookup::Found(v) => format!("{}|{}", v.status.code(), v.power_state.as_str()),
        lc::Lookup::NotFound => GONE.to_owned(),
    }
}

/// A MAAS machine as the lifecycle sees it. `agent_name` is not in MAAS's
/// JSON: pass the marker when the machine came back from the agent-name query.
#[must_use]
pub fn machine_view(m: &maas_api::Machine, agent_name: &str) -> lc::MaasMachineView {
    lc::MaasMachineView {
        system_id: m.system_id.clone(),
        hostname: m.hostname.clone(),
        fqdn: m.fqdn.clone(),
        status: lc::MaasStatus::from_code(m.status.code()),
        status_message: m.status_message.clone().unwrap_or_default(),
        power_state: lc::PowerState::parse(m.power_state.as_str()),
        owner: m.owner.clone().filter(|o| !o.is_empty()),
        agent_name: agent_name.to_owned(),
        workload_annotations: m.annotations().clone(),
        zone: m.zone.as_ref().map(|z| z.name.clone()).unwrap_or_default(),
        memory_mib: u64::try_from(m.memory).unwrap_or(0),
        ip_addresses: m.ip_addresses.clone(),
        ephemeral_deploy: m.ephemeral_deploy,
        static_addresses: crate::staticip::static_addresses(m),
        static_addresses_shadowed: crate::staticip::shadowed_static_addresses(m),
    }
}

struct Entry {
    lookup: lc::Lookup,
    at: Instant,
}

/// The cache (one per MAAS endpoint and key).
#[derive(Default)]
pub struct MachineCache {
    machines: Mutex<HashMap<String, Entry>>,
    marked: Mutex<HashMap<String, BTreeSet<String>>>,
    /// `false`: [`MachineCache::memory`] is always empty (every reconcile
    /// reads MAAS itself); the poller's fingerprints still work.
    no_memory: bool,
}

impl std::fmt::Debug for MachineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineCache")
            .field("machines", &self.machines.lock().len())
            .field("markers", &self.marked.lock().len())
            .finish()
    }
}

impl MachineCache {
    /// An empty cache (as after a restart).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache whose [`MachineCache::memory`] is always empty: reconciles
    /// observe MAAS themselves (the manager without `--machine-cache`).
    #[must_use]
    pub fn without_memory() -> Self {
        Self {
            no_memory: true,
            ..Self::default()
        }
    }

    /// MAAS answered `m` (agent_name is dropped: it is not MAAS's JSON).
    pub fn record(&self, m: &maas_api::Machine) {
        self.record_view(machine_view(m, ""));
    }

    /// MAAS answered this view.
    pub fn record_view(&self, mut v: lc::MaasMachineView) {
        v.agent_name.clear();
        let id = v.system_id.clone();
        if !lc::may_carry_agent_name(&v) {
            // A release started (MAAS clears agent_name) or it is free: no
            // marker claims it any more, whoever allocates it next.
            for ids in self.marked.lock().values_mut() {
                ids.remove(&id);
            }
        }
        self.machines.lock().insert(
            id,
            Entry {
                lookup: lc::Lookup::Found(v),
                at: Instant::now(),
            },
        );
    }

    /// MAAS answered 404 for `id` (or left it out of a list of ids).
    pub fn record_gone(&self, id: &str) {
        self.machines.lock().insert(
            id.to_owned(),
            Entry {
                lookup: lc::Lookup::NotFound,
                at: Instant::now(),
            },
        );
    }

    /// MAAS's answer to `GET machines/?agent_name=<marker>`.
    pub fn record_marker_list(&self, marker: &str, list: &[lc::MaasMachineView]) {
        for v in list {
            self.record_view(v.clone());
        }
        self.marked.lock().insert(
            marker.to_owned(),
            list.iter().map(|v| v.system_id.clone()).collect(),
        );
    }

    /// MAAS allocated `m` for `marker` (the allocation's own answer).
    pub fn record_allocated(&self, marker: &str, m: &maas_api::Machine) {
        self.record(m);
        self.marked
            .lock()
            .entry(marker.to_owned())
            .or_default()
            .insert(m.system_id.clone());
    }

    /// The marker's machines are no longer known (an allocation's answer may
    /// be lost): the next reconcile lists them again.
    pub fn forget_marker(&self, marker: &str) {
        self.marked.lock().remove(marker);
    }

    /// Drops what is kept for a MaasMachine that is gone (its marker and the
    /// entries of `ids`).
    pub fn forget(&self, marker: &str, ids: &[String]) {
        self.marked.lock().remove(marker);
        let mut machines = self.machines.lock();
        for id in ids {
            machines.remove(id);
        }
    }

    /// What is known for a MaasMachine with this marker that needs `ids`
    /// (plus its marked machines).
    #[must_use]
    pub fn memory(&self, marker: Option<&str>, ids: &[String]) -> lc::Memory {
        if self.no_memory {
            return lc::Memory::default();
        }
        let marked = marker.and_then(|m| self.marked.lock().get(m).cloned());
        let machines = self.machines.lock();
        let now = Instant::now();
        let entry = |id: &String| {
            machines.get(id).map(|e| {
                (
                    id.clone(),
                    lc::CachedMachine {
                        lookup: e.lookup.clone(),
                        age: now.saturating_duration_since(e.at),
                    },
                )
            })
        };
        let mut mem = lc::Memory {
            machines: ids.iter().filter_map(entry).collect(),
            marked,
        };
        let extra: Vec<(String, lc::CachedMachine)> =
            mem.marked.iter().flatten().filter_map(entry).collect();
        mem.machines.extend(extra);
        mem
    }

    /// The age of `id`'s entry (tests, metrics).
    #[must_use]
    pub fn age(&self, id: &str) -> Option<Duration> {
        self.machines.lock().get(id).map(|e| e.at.elapsed())
    }

    /// Machines cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.machines.lock().len()
    }

    /// Nothing cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.machines.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, status: lc::MaasStatus) -> lc::MaasMachineView {
        lc::MaasMachineView::new(id, status, lc::PowerState::On)
    }

    #[test]
    fn without_memory_reconciles_read_maas_themselves() {
        let c = MachineCache::without_memory();
        let mut listed = view("aaa", lc::MaasStatus::Allocated);
        listed.agent_name = "capmaas/ns/m/uid".into();
        c.record_marker_list("capmaas/ns/m/uid", &[listed]);
        c.record_gone("bbb");
        assert_eq!(
            c.memory(Some("capmaas/ns/m/uid"), &["aaa".into(), "bbb".into()]),
            lc::Memory::default()
        );
    }

    #[test]
    fn remembers_answers_and_marker_lists() {
        let c = MachineCache::new();
        let mut listed = view("aaa", lc::MaasStatus::Allocated);
        listed.agent_name = "capmaas/ns/m/uid".into();
        c.record_marker_list("capmaas/ns/m/uid", &[listed]);
        c.record_gone("bbb");
        let mem = c.memory(Some("capmaas/ns/m/uid"), &["bbb".into()]);
        assert_eq!(
            mem.marked,
            Some(BTreeSet::from(["aaa".to_owned()])),
            "{mem:?}"
        );
        let Some(lc::CachedMachine {
            lookup: lc::Lookup::Found(a),
            ..
        }) = mem.machines.get("aaa")
        else {
            panic!("{mem:?}");
        };
        assert!(a.agent_name.is_empty(), "agent_name is not MAAS's JSON");
        assert_eq!(mem.machines["bbb"].lookup, lc::Lookup::NotFound);
        c.forget_marker("capmaas/ns/m/uid");
        assert_eq!(c.memory(Some("capmaas/ns/m/uid"), &[]).marked, None);
        assert_eq!(c.memory(None, &[]).marked, None);
    }
}
