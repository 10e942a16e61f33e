//! Leader election: a Lease (`coordination.k8s.io/v1`) held before
//! reconciling, so that several replicas run with one active.
//!
//! [`lead`] waits for leadership (or the stop signal), runs the controllers
//! while it lasts and, when either ends, releases the Lease within a bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use crate::manager::Manager;
use crate::shutdown::{ShutdownTimeouts, bounded_after_stop, stopped};

/// The name of the Lease the released manifests grant access to.
pub const DEFAULT_LEASE_NAME: &str = "capmaas-manager-leader";
/// The Lease's namespace when nothing else names one.
pub const DEFAULT_LEASE_NAMESPACE: &str = "capmaas-system";

/// Which Lease to hold and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub lease_name: String,
    /// This replica's identity (`holderIdentity`); unique per process.
    pub identity: String,
    /// The Lease duration, whole seconds of at least 2; renewed a third of
    /// it before expiry.
    pub lease_duration: Duration,
}

impl LeaderElection {
    /// The Lease's namespace: the one given, else the pod's, else the
    /// watched one, else [`DEFAULT_LEASE_NAMESPACE`] (empty counts as not
    /// given).
    #[must_use]
    pub fn namespace_from<'a>(
        given: Option<&'a str>,
        pod_namespace: Option<&'a str>,
        watched: Option<&'a str>,
    ) -> String {
        let set = |s: Option<&'a str>| s.filter(|s| !s.is_empty());
        set(given)
            .or(set(pod_namespace))
            .or(set(watched))
            .unwrap_or(DEFAULT_LEASE_NAMESPACE)
            .to_owned()
    }

    /// An identity unique per process: `<pod name>-<pid>` (pod name
    /// `capmaas-manager` outside a pod).
    #[must_use]
    pub fn identity_for(pod_name: Option<&str>) -> String {
        format!(
            "{}-{}",
            pod_name.unwrap_or("capmaas-manager"),
            std::process::id()
        )
    }
}

/// Holds the Lease, runs `manager` while leading, releases the Lease. Returns
/// true when leadership was lost (the process should exit with failure);
/// false when `stop` ended it (or came before leadership).
///
/// # Errors
/// The Lease manager cannot be built.
pub(crate) async fn lead(
    client: Client,
    election: &LeaderElection,
    manager: Manager,
    stop_rx: watch::Receiver<bool>,
    timeouts: &ShutdownTimeouts,
) -> Result<bool, kube_lease_manager::LeaseManagerError> {
    // Whole seconds, at least 2 (checked with the flags).
    let secs = election.lease_duration.as_secs().max(2);
    let lease = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(secs)
        .with_grace((secs / 3).max(1))
        .build()
        .await?;
    let (mut leader, lease_task) = lease.watch().await;
    tracing::info!(lease = %election.lease_name, namespace = %election.namespace, identity = %election.identity, "waiting for leadership");
    let mut stop = stop_rx.clone();
    let leading = tokio::select! {
        r = leader.wait_for(|l| *l) => r.is_ok(),
        _ = stop.wait_for(|s| *s) => false,
    };
    let mut lost_leadership = false;
    if leading {
        tracing::info!("leading");
        let mut lost_rx = leader.clone();
        let lost = tokio::spawn(async move {
            let _ = lost_rx.wait_for(|l| !*l).await;
        });
        // Its clone of the leadership receiver must go too, or the
        // channel never closes and the Lease is never released.
        let lost_watch = lost.abort_handle();
        let lost_flag = Arc::new(AtomicBool::new(false));
        let flag = lost_flag.clone();
        let stop = stopped(stop_rx.clone());
        let run = manager.run(async move {
            tokio::select! {
                _ = lost => {
                    tracing::error!("leadership lost");
                    flag.store(true, Ordering::SeqCst);
                }
                () = stop => {}
            }
        });
        bounded_after_stop(run, stop_rx, timeouts.drain, "finish reconciles").await;
        lost_watch.abort();
        lost_leadership = lost_flag.load(Ordering::SeqCst);
    }
    // Closing the channel makes the lease task release the Lease. It
    // retries while the apiserver is unreachable: bounded.
    drop(leader);
    let mut lease_task = lease_task;
    match tokio::time::timeout(timeouts.lease_release, &mut lease_task).await {
        Ok(Ok(Ok(_))) => tracing::info!("lease released"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the lease failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "lease task failed"),
        Err(_) => {
            lease_task.abort();
            tracing::warn!(
                timeout = ?timeouts.lease_release,
                "releasing the lease timed out (apiserver unreachable?); exiting anyway, \
                 the Lease expires by itself"
            );
        }
    }
    Ok(lost_leadership)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_namespace_falls_back_in_order() {
        let ns = LeaderElection::namespace_from;
        assert_eq!(ns(Some("a"), Some("b"), Some("c")), "a");
        assert_eq!(ns(None, Some("b"), Some("c")), "b");
        assert_eq!(ns(None, None, Some("c")), "c");
        assert_eq!(ns(None, None, None), DEFAULT_LEASE_NAMESPACE);
        assert_eq!(ns(Some(""), Some(""), Some("c")), "c");
    }

    #[test]
    fn identities_are_per_process() {
        let pid = std::process::id();
        assert_eq!(
            LeaderElection::identity_for(Some("capmaas-7d9f")),
            format!("capmaas-7d9f-{pid}")
        );
        assert_eq!(
            LeaderElection::identity_for(None),
            format!("capmaas-manager-{pid}")
        );
    }
}
