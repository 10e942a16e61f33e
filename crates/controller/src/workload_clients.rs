//! The workload clusters' clients and back-off state, kept in the shared
//! [`crate::Context`] (its own module so that the context does not import
//! the workload sync, which imports the context).

use std::collections::HashMap;
use std::time::Instant;

use kube::Client;
use parking_lot::Mutex;

/// One cluster's client and back-off state.
pub(crate) struct ClusterEntry {
    /// resourceVersion of the Secret the client was built from.
    pub(crate) secret_version: String,
    /// The client, or why the Secret's kubeconfig was refused (kept to
    /// avoid re-parsing).
    pub(crate) client: Result<Client, String>,
    /// No request before this instant (the API did not answer).
    pub(crate) down_until: Option<Instant>,
    pub(crate) failures: u32,
}

/// Workload clients cached per cluster (`namespace/cluster`), plus the
/// back-off state of clusters and machines.
#[derive(Default)]
pub struct WorkloadClients {
    pub(crate) clusters: Mutex<HashMap<String, ClusterEntry>>,
    machines: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for WorkloadClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadClients")
            .field("clusters", &self.len())
            .finish_non_exhaustive()
    }
}

impl WorkloadClients {
    /// Cached clusters.
    #[must_use]
    pub fn len(&self) -> usize {
        self.clusters.lock().len()
    }

    /// No cached cluster.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn forget(&self, key: &str) {
        self.clusters.lock().remove(key);
    }

    pub(crate) fn machine_failures(&self, key: &str) -> u32 {
        self.machines.lock().get(key).copied().unwrap_or(0)
    }

    pub(crate) fn machine_failed(&self, key: &str) {
        let mut m = self.machines.lock();
        let n = m.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
    }

    pub(crate) fn machine_ok(&self, key: &str) {
        self.machines.lock().remove(key);
    }

    /// Forgets a MaasMachine (deleted).
    pub fn forget_machine(&self, key: &str) {
        self.machines.lock().remove(key);
    }
}
