//! Graceful, bounded shutdown: the steps after the stop signal each get a
//! time limit, so that the process exits inside the Deployment's grace
//! period even when a step cannot finish (an unreachable apiserver).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How long each shutdown step may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownTimeouts {
    /// After the stop signal, how long in-flight reconciles may take to finish.
    pub drain: Duration,
    /// After the controllers stopped, how long releasing the Lease may take
    /// (an unreachable apiserver would otherwise be retried forever; the
    /// Lease then expires by itself after its duration).
    pub lease_release: Duration,
    /// How long the `/healthz` and `/metrics` servers may take to close.
    pub http_stop: Duration,
}

impl Default for ShutdownTimeouts {
    /// 12 s, 10 s and 2 s: with the binary's 1 s for leftover tasks they
    /// stay inside the Deployment's 30 s grace period.
    fn default() -> Self {
        Self {
            drain: Duration::from_secs(12),
            lease_release: Duration::from_secs(10),
            http_stop: Duration::from_secs(2),
        }
    }
}

/// A future that completes once `rx` carries true (or its sender is gone).
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Runs `work` to completion, except that once `stop` is set it gets at
/// most `bound` more; then it is dropped with a warning. True when it
/// completed.
pub(crate) async fn bounded_after_stop(
    work: impl Future<Output = ()>,
    mut stop: watch::Receiver<bool>,
    bound: Duration,
    what: &str,
) -> bool {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        () = &mut work => return true,
        _ = stop.wait_for(|s| *s) => {}
    }
    if tokio::time::timeout(bound, &mut work).await.is_ok() {
        return true;
    }
    tracing::warn!(step = what, timeout = ?bound, "shutdown step timed out; going on without it");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_outlives_its_bound_after_stop_is_dropped() {
        let (tx, rx) = watch::channel(false);
        let _ = tx.send(true);
        let done = bounded_after_stop(
            std::future::pending::<()>(),
            rx,
            Duration::from_millis(50),
            "never ends",
        )
        .await;
        assert!(!done);
    }

    #[tokio::test]
    async fn a_step_that_ends_is_waited_for() {
        let (_tx, rx) = watch::channel(false);
        assert!(bounded_after_stop(async {}, rx.clone(), Duration::ZERO, "ends").await);
        let (tx, rx) = watch::channel(false);
        let _ = tx.send(true);
        let done = bounded_after_stop(
            tokio::time::sleep(Duration::from_millis(10)),
            rx,
            Duration::from_secs(30),
            "ends soon after stop",
        )
        .await;
        assert!(done);
    }

    #[test]
    fn the_default_bounds_fit_the_grace_period() {
        let t = ShutdownTimeouts::default();
        assert!(
            t.drain + t.lease_release + t.http_stop + Duration::from_secs(1)
                < Duration::from_secs(30)
        );
    }
}
