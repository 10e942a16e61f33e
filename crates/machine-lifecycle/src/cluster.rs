//! Decisions of the MaasCluster side: the control-plane endpoint's port,
//! what `clusterctl move` needs on the credentials Secret.

use std::collections::BTreeMap;

/// CAPI's default `Cluster.spec.clusterNetwork.apiServerPort`.
pub const DEFAULT_API_SERVER_PORT: i32 = 6443;

/// The port of the control-plane endpoint the controller sets: the
/// Cluster's `spec.clusterNetwork.apiServerPort` (what kubeadm binds the API
/// server to) when it is a port, else `default` (the controller's
/// `api_server_port`, 6443 unless configured).
#[must_use]
pub fn api_server_port(cluster_port: Option<i32>, default: i32) -> i32 {
    cluster_port
        .filter(|p| (1..=65535).contains(p))
        .unwrap_or(default)
}

/// The label that makes `clusterctl move` take an object that links to no
/// Cluster (it checks the key only).
pub const CLUSTERCTL_MOVE_LABEL: &str = "clusterctl.cluster.x-k8s.io/move";

/// Labels to add to the `credentialsRef` Secret (given its labels) so that
/// `clusterctl move` takes it along with the MaasCluster; `None`: nothing to
/// write. Only the label, never an owner reference: the Secret is the
/// user's and may serve several clusters, and an owner reference would let
/// Kubernetes' garbage collector delete it with the last of them. The move
/// always moves a whole namespace, so a shared Secret moves with every
/// cluster that uses it.
#[must_use]
pub fn credentials_move_labels(
    labels: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    if labels.contains_key(CLUSTERCTL_MOVE_LABEL) {
        return None;
    }
    Some(BTreeMap::from([(
        CLUSTERCTL_MOVE_LABEL.to_owned(),
        String::new(),
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_move_label_is_added_once_whatever_its_value() {
        let mut labels = BTreeMap::from([("team".to_owned(), "infra".to_owned())]);
        let add = credentials_move_labels(&labels).unwrap();
        assert_eq!(add.len(), 1);
        assert_eq!(add.get(CLUSTERCTL_MOVE_LABEL).map(String::as_str), Some(""));
        labels.extend(add);
        assert_eq!(credentials_move_labels(&labels), None);
        let set_by_user = BTreeMap::from([(CLUSTERCTL_MOVE_LABEL.to_owned(), "yes".to_owned())]);
        assert_eq!(credentials_move_labels(&set_by_user), None);
    }

    #[test]
    fn the_clusters_port_wins_and_6443_is_the_default() {
        assert_eq!(api_server_port(Some(8443), DEFAULT_API_SERVER_PORT), 8443);
        assert_eq!(api_server_port(None, DEFAULT_API_SERVER_PORT), 6443);
        assert_eq!(api_server_port(None, 7443), 7443);
        for bad in [0, -1, 65536] {
            assert_eq!(api_server_port(Some(bad), 6443), 6443, "{bad}");
        }
    }
}
