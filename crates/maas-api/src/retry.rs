//! Retry policy: exponential backoff with full jitter, `Retry-After`, and a budget.

use std::time::Duration;

use crate::error::{Error, ErrorClass};

/// Whether repeating a request is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, PUT, DELETE and POST ops whose repetition has the same effect
    /// (power_on/off, set_workload_annotations, tag update_nodes, VM host refresh).
    Idempotent,
    /// POST ops that create or change state once (allocate, deploy, release, compose, create…).
    NonIdempotent,
}

/// When and how often the client retries.
///
/// A failed attempt is retried when its error is [`ErrorClass::Transient`] and:
/// - the request is [`Idempotency::Idempotent`], or
/// - MAAS said it did not act: the 409 HTML lock page (transaction rolled back), a 429, a 503
///   with `Retry-After`, or a connection that failed before anything was sent
///   ([`Error::maas_may_have_acted`] is `false`).
///
/// A timeout or a reset after a non-idempotent request was sent is **not** retried: MAAS may
/// have acted (an allocate may have taken a machine) and the caller must re-observe.
///
/// The delay is the server's `Retry-After` (capped at `max_retry_after`) or else a random
/// duration in `[0, min(max_backoff, initial_backoff × 2^(attempt-1))]` (full jitter). No retry
/// starts when `max_attempts` is reached or when the delay would take the total past
/// `max_elapsed`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = no retries).
    pub max_attempts: u32,
    /// Base of the exponential backoff.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Largest `Retry-After` honoured (longer values are cut to this).
    pub max_retry_after: Duration,
    /// Total time budget across attempts and delays.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Never retry (tests, or callers with their own loop).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Set the number of attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Set the initial and maximum backoff.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Set the `Retry-After` cap.
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// Set the total time budget.
    pub fn with_max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = budget;
        self
    }

    /// The backoff ceiling for a 1-based attempt number (before jitter).
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let factor = 1u32 << exp;
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The delay before the next attempt after `attempt` failed with `err`.
    pub fn delay(&self, attempt: u32, err: &Error) -> Duration {
        match err.retry_after() {
            Some(ra) => ra.min(self.max_retry_after),
            None => {
                let ceiling = self.backoff_ceiling(attempt);
                let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
                Duration::from_millis(rand::random_range(0..=millis))
            }
        }
    }
}

/// Whether a failed attempt may be retried (ignoring attempt counts and budget): transient
/// errors, and for non-idempotent calls only those after which MAAS certainly did not act
/// ([`Error::maas_may_have_acted`] is `false`).
pub fn may_retry(err: &Error, idempotency: Idempotency) -> bool {
    if err.class() != ErrorClass::Transient {
        return false;
    }
    match idempotency {
        Idempotency::Idempotent => true,
        Idempotency::NonIdempotent => !err.maas_may_have_acted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TransportKind;

    fn busy(status: u16, ra: Option<u64>) -> Error {
        Error::Busy {
            status,
            message: String::new(),
            retry_after: ra.map(Duration::from_secs),
        }
    }

    fn transport(kind: TransportKind) -> Error {
        Error::Transport {
            kind,
            message: String::new(),
        }
    }

    #[test]
    fn non_idempotent_rule() {
        use Idempotency::*;
        assert!(may_retry(&busy(409, None), NonIdempotent));
        assert!(may_retry(&busy(503, Some(10)), NonIdempotent));
        assert!(!may_retry(&busy(503, None), NonIdempotent));
        assert!(may_retry(&busy(429, None), NonIdempotent));
        assert!(may_retry(&transport(TransportKind::Connect), NonIdempotent));
        assert!(!may_retry(
            &transport(TransportKind::Timeout),
            NonIdempotent
        ));
        assert!(!may_retry(&transport(TransportKind::Io), NonIdempotent));
        let server = Error::Server {
            status: 500,
            message: String::new(),
            retry_after: None,
        };
        assert!(!may_retry(&server, NonIdempotent));
        assert!(may_retry(&server, Idempotent));
        assert!(may_retry(&transport(TransportKind::Timeout), Idempotent));
        let nf = Error::NotFound {
            message: String::new(),
        };
        assert!(!may_retry(&nf, Idempotent));
        let cap = Error::NoMachineAvailable {
            message: String::new(),
        };
        assert!(!may_retry(&cap, Idempotent));
    }

    #[test]
    fn backoff_grows_and_is_capped_with_full_jitter() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(p.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(p.backoff_ceiling(4), Duration::from_millis(800));
        assert_eq!(p.backoff_ceiling(5), Duration::from_millis(1000));
        assert_eq!(p.backoff_ceiling(64), Duration::from_millis(1000));
        let err = transport(TransportKind::Io);
        let delays: Vec<Duration> = (0..200).map(|_| p.delay(3, &err)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(400)));
        // Full jitter spreads the delays (not all equal to the ceiling).
        assert!(delays.iter().any(|d| *d < Duration::from_millis(300)));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default().with_max_retry_after(Duration::from_secs(7));
        assert_eq!(p.delay(1, &busy(409, Some(5))), Duration::from_secs(5));
        assert_eq!(p.delay(1, &busy(409, Some(600))), Duration::from_secs(7));
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
