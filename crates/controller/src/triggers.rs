//! Which watch events wake a MaasMachine reconcile: only those that change
//! something it reads. Our own status writes (status only) wake nothing:
//! each decision already says when to look again, and the poller wakes
//! MaasMachines whose MAAS machines changed. A re-list (watch restart)
//! passes everything once; deletions always pass.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use capi_types::capi::{Cluster, Machine};
use capi_types::constants::CLUSTER_NAME_LABEL;
use capi_types::lifecycle::{capi_machine_view, cluster_view};
use capi_types::{MaasCluster, MaasMachine};
use kube::ResourceExt;
use kube::runtime::watcher;

/// Remembers, per object, a digest of what the MaasMachine reconcile reads
/// from it, and passes an event on only when that digest changed.
pub struct ChangeFilter<K> {
    seen: HashMap<String, u64>,
    facts: fn(&K) -> String,
}

impl<K> std::fmt::Debug for ChangeFilter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFilter")
            .field("objects", &self.seen.len())
            .finish()
    }
}

fn digest(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl<K: kube::Resource> ChangeFilter<K> {
    /// A filter comparing `facts` (a rendering of what is read).
    #[must_use]
    pub fn new(facts: fn(&K) -> String) -> Self {
        Self {
            seen: HashMap::new(),
            facts,
        }
    }

    /// The object of `event` when it may change a reconcile's outcome.
    pub fn pass(&mut self, event: watcher::Event<K>) -> Option<K> {
        let key = |o: &K| {
            o.meta().uid.clone().unwrap_or_else(|| {
                format!(
                    "{}/{}",
                    o.meta().namespace.clone().unwrap_or_default(),
                    o.meta().name.clone().unwrap_or_default()
                )
            })
        };
        match event {
            watcher::Event::Init => {
                self.seen.clear();
                None
            }
            watcher::Event::InitDone => None,
            watcher::Event::Delete(o) => {
                self.seen.remove(&key(&o));
                Some(o)
            }
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let d = digest(&(self.facts)(&o));
                let changed = self.seen.insert(key(&o), d) != Some(d);
                changed.then_some(o)
            }
        }
    }
}

/// A MaasMachine: everything but its status (which only we write) and
/// bookkeeping (resourceVersion, managedFields).
#[must_use]
pub fn maas_machine_facts(mm: &MaasMachine) -> String {
    let m = &mm.metadata;
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        m.generation,
        mm.spec,
        m.labels,
        m.annotations,
        m.finalizers,
        m.deletion_timestamp,
        m.owner_references,
    )
}

/// A Machine: what the lifecycle reads of it and the reference to its
/// MaasMachine.
#[must_use]
pub fn machine_facts(m: &Machine) -> String {
    format!(
        "{:?}|{:?}",
        capi_machine_view(m),
        m.spec
            .infrastructure_ref
            .as_ref()
            .map(|r| (&r.kind, &r.name)),
    )
}

/// A Cluster: paused, infrastructure provisioned, its infrastructure
/// reference.
#[must_use]
pub fn cluster_facts(c: &Cluster) -> String {
    format!(
        "{:?}|{:?}",
        cluster_view(c),
        c.spec
            .infrastructure_ref
            .as_ref()
            .map(|r| (&r.kind, &r.name)),
    )
}

/// A MaasCluster: the credentials it names and the Cluster it belongs to.
#[must_use]
pub fn maas_cluster_facts(mc: &MaasCluster) -> String {
    format!(
        "{:?}|{:?}|{:?}",
        mc.spec.credentials_ref.as_ref().map(|r| &r.name),
        mc.owner_references()
            .iter()
            .map(|o| (&o.kind, &o.name))
            .collect::<Vec<_>>(),
        mc.labels().get(CLUSTER_NAME_LABEL),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    fn mm() -> MaasMachine {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
            "kind": "MaasMachine",
            "metadata": {"name": "m", "namespace": "ns", "uid": "u1", "generation": 1,
                "resourceVersion": "1"},
            "spec": {"image": "ubuntu/jammy"}
        }))
        .unwrap()
    }

    #[test]
    fn status_only_writes_wake_nothing_spec_and_deletion_do() {
        let mut f = ChangeFilter::new(maas_machine_facts);
        let first = mm();
        assert!(f.pass(Event::Apply(first.clone())).is_some(), "first sight");
        let mut status_write = first.clone();
        status_write.metadata.resource_version = Some("2".into());
        status_write.status = Some(Default::default());
        assert!(f.pass(Event::Apply(status_write.clone())).is_none());
        let mut deleting = status_write.clone();
        deleting.metadata.deletion_timestamp =
            serde_json::from_value(serde_json::json!("2026-01-01T00:00:00Z")).unwrap();
        assert!(f.pass(Event::Apply(deleting.clone())).is_some());
        let mut spec = deleting;
        spec.spec.system_id = Some("abc".into());
        assert!(f.pass(Event::Apply(spec.clone())).is_some());
        assert!(f.pass(Event::Delete(spec.clone())).is_some());
        // A re-list passes everything once.
        assert!(f.pass(Event::Init).is_none());
        assert!(f.pass(Event::InitApply(spec)).is_some());
    }
}
