//! The controller's one clock: wall time in whole seconds, as the lifecycle
//! takes it.

use std::time::{SystemTime, UNIX_EPOCH};

use machine_lifecycle as lc;

/// The lifecycle clock.
#[must_use]
pub fn now() -> lc::Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    lc::Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}
