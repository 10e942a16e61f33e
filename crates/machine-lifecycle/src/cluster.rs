//! Decisions of the MaasCluster side: the control-plane endpoint's port.

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

#[cfg(test)]
mod tests {
    use super::*;

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
