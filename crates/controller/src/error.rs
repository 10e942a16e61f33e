//! The controller's error type and its classification.

use std::time::Duration;

/// How an error is handled (and how it is counted in metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry with back-off (honouring `Retry-After` when MAAS sent one).
    Transient,
    /// MAAS has no capacity; a slower retry.
    Capacity,
    /// Needs a change (spec, credentials, RBAC): reported in a condition, retried slowly.
    Permanent,
    /// Our view of the object was stale (409 from the apiserver): retry at once.
    Conflict,
}

impl ErrorClass {
    /// The metrics label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Capacity => "capacity",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Conflict => "conflict",
        }
    }
}

/// A reconcile failure. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes {action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A MAAS call failed.
    #[error("MAAS {action}: {source}")]
    Maas {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: Box<maas_api::Error>,
    },
    /// The MAAS credentials are unusable (missing Secret keys, bad endpoint or key).
    #[error("MAAS credentials: {0}")]
    Credentials(String),
    /// Bootstrap data could not be read.
    #[error("bootstrap data: {0}")]
    Bootstrap(String),
    /// An object is not in a shape we can work with.
    #[error("invalid object: {0}")]
    Invalid(String),
}

impl Error {
    /// Wraps a kube error.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// Wraps a MAAS error.
    pub fn maas(action: impl Into<String>, source: maas_api::Error) -> Self {
        Error::Maas {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// The class.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(s) if s.code == 409 => ErrorClass::Conflict,
                kube::Error::Api(s) if s.code == 403 || s.code == 422 || s.code == 400 => {
                    ErrorClass::Permanent
                }
                _ => ErrorClass::Transient,
            },
            Error::Maas { source, .. } => match source.class() {
                maas_api::ErrorClass::Transient => ErrorClass::Transient,
                maas_api::ErrorClass::Capacity => ErrorClass::Capacity,
                maas_api::ErrorClass::Permanent => ErrorClass::Permanent,
            },
            Error::Credentials(_) | Error::Invalid(_) => ErrorClass::Permanent,
            Error::Bootstrap(_) => ErrorClass::Transient,
        }
    }

    /// MAAS's `Retry-After`, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Maas { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}

/// Maps a MAAS error to the lifecycle's classes (for `action_failed`).
#[must_use]
pub fn lifecycle_class(e: &maas_api::Error) -> machine_lifecycle::ErrorClass {
    use machine_lifecycle::ErrorClass as L;
    match e.class() {
        maas_api::ErrorClass::Capacity => L::Capacity,
        maas_api::ErrorClass::Permanent => L::Permanent,
        maas_api::ErrorClass::Transient => match e {
            maas_api::Error::Server { .. } => L::MaasFailure,
            _ => L::Transient,
        },
    }
}

/// Whether a failed MAAS request may have taken effect although no success
/// was seen: the one place that decides it, so that `maas_api`'s own answer
/// to that question can replace it.
///
/// Known not done: MAAS refused (4xx, the 409 lock page, a 503 with or
/// without `Retry-After`, 429), the connection was never made, the request
/// could not be built. Unknown: a timeout or a connection lost after
/// sending, a 5xx other than 503 (MAAS's or a proxy's), an answer that
/// could not be decoded (MAAS may have acted and said so).
#[must_use]
pub fn outcome_unknown(e: &maas_api::Error) -> bool {
    use maas_api::{Error as E, TransportKind};
    match e {
        E::Transport { kind, .. } => !matches!(kind, TransportKind::Connect),
        E::Server { .. } | E::Decode { .. } => true,
        _ => false,
    }
}

/// A MAAS error as the lifecycle takes it: class, MAAS's (redacted) text,
/// `Retry-After`, and whether the request may have taken effect.
#[must_use]
pub fn lifecycle_error(e: &maas_api::Error) -> machine_lifecycle::ActionError {
    machine_lifecycle::ActionError {
        class: lifecycle_class(e),
        message: e.to_string(),
        retry_after: e.retry_after(),
        outcome_unknown: outcome_unknown(e),
    }
}

/// Exponential back-off: `base × 2^(failures-1)`, capped, at least `retry_after`.
#[must_use]
pub fn backoff(
    base: Duration,
    max: Duration,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let d = base.saturating_mul(1u32 << exp).min(max);
    match retry_after {
        Some(r) => d.max(r),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let b = Duration::from_secs(2);
        let m = Duration::from_secs(60);
        assert_eq!(backoff(b, m, 1, None), Duration::from_secs(2));
        assert_eq!(backoff(b, m, 3, None), Duration::from_secs(8));
        assert_eq!(backoff(b, m, 30, None), m);
        assert_eq!(
            backoff(b, m, 1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn maas_errors_map_to_lifecycle_classes() {
        use machine_lifecycle::ErrorClass as L;
        let server = maas_api::Error::Server {
            status: 500,
            message: "boom".into(),
            retry_after: None,
        };
        assert_eq!(lifecycle_class(&server), L::MaasFailure);
        let busy = maas_api::Error::Busy {
            status: 409,
            message: "lock".into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(lifecycle_class(&busy), L::Transient);
        let none = maas_api::Error::NoMachineAvailable {
            message: "No machine available.".into(),
        };
        assert_eq!(lifecycle_class(&none), L::Capacity);
        let bad = maas_api::Error::BadRequest {
            message: "nope".into(),
        };
        assert_eq!(lifecycle_class(&bad), L::Permanent);
        assert!(!outcome_unknown(&busy), "the lock page: MAAS did not act");
        assert!(!outcome_unknown(&none));
        assert!(!outcome_unknown(&bad));
        assert!(outcome_unknown(&server), "a 500 may come after MAAS acted");
        let exhausted = maas_api::Error::Exhausted {
            status: 503,
            message: "exhausted".into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        assert!(!outcome_unknown(&exhausted));
        let busy_503 = maas_api::Error::Busy {
            status: 503,
            message: "try again".into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        assert!(!outcome_unknown(&busy_503));
        for (kind, unknown) in [
            (maas_api::TransportKind::Connect, false),
            (maas_api::TransportKind::Timeout, true),
            (maas_api::TransportKind::Io, true),
        ] {
            let t = maas_api::Error::Transport {
                kind,
                message: "x".into(),
            };
            assert_eq!(outcome_unknown(&t), unknown, "{kind}");
        }
        let le = lifecycle_error(&busy_503);
        assert_eq!(le.retry_after, Some(Duration::from_secs(5)));
        assert!(!le.outcome_unknown);
        let e = Error::maas("allocate", busy);
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
    }
}
