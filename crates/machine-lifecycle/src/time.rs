//! Time as an input: the lifecycle never reads a clock.

use std::fmt;
use std::time::Duration;

/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// The controller converts its clock reading (and persisted timestamps) into
/// this type; the lifecycle only compares and offsets values it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds since the Unix epoch.
    #[must_use]
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    /// `self + duration`, saturating at the end of time.
    #[must_use]
    pub fn plus(self, duration: Duration) -> Self {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(secs))
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Timestamp) -> Duration {
        let diff = self.0.saturating_sub(earlier.0);
        Duration::from_secs(u64::try_from(diff).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_since_are_inverse() {
        let t = Timestamp(1_000);
        let later = t.plus(Duration::from_secs(90));
        assert_eq!(later, Timestamp(1_090));
        assert_eq!(later.since(t), Duration::from_secs(90));
        assert_eq!(t.since(later), Duration::ZERO);
    }

    #[test]
    fn plus_saturates() {
        assert_eq!(
            Timestamp(i64::MAX - 1).plus(Duration::from_secs(10)),
            Timestamp(i64::MAX)
        );
    }
}
