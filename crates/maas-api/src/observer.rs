//! A hook for metrics: one call per HTTP attempt.

use std::time::Duration;

use crate::error::ErrorClass;

/// What happened in one HTTP attempt.
#[derive(Debug, Clone)]
pub struct RequestEvent<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Low-cardinality endpoint template, e.g. `machines/{system_id}/`.
    pub endpoint: &'a str,
    /// The `op=` value, if any.
    pub op: Option<&'a str>,
    /// HTTP status, if MAAS answered.
    pub status: Option<u16>,
    /// Time from sending to the full answer (or the failure).
    pub latency: Duration,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The class of the error, when the attempt failed.
    pub error_class: Option<ErrorClass>,
}

/// Receives a [`RequestEvent`] after every attempt. Keep it cheap: it runs inline.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use maas_api::{RequestEvent, RequestObserver};
///
/// #[derive(Default)]
/// struct Count(AtomicU64);
/// impl RequestObserver for Count {
///     fn observe(&self, _event: &RequestEvent<'_>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait RequestObserver: Send + Sync {
    /// Called after each attempt.
    fn observe(&self, event: &RequestEvent<'_>);
}
