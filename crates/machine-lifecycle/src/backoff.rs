//! One back-off rule: a base wait doubling per consecutive failure, capped,
//! never shorter than a server's `Retry-After`.

use std::time::Duration;

/// Exponential back-off: `base`, `2·base`, `4·base` … capped at `max`.
///
/// ```
/// use std::time::Duration;
/// use machine_lifecycle::Backoff;
///
/// let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
/// assert_eq!(b.after(1), Duration::from_secs(2));
/// assert_eq!(b.after(3), Duration::from_secs(8));
/// assert_eq!(b.after(30), Duration::from_secs(60));
/// assert_eq!(b.honouring(1, Some(Duration::from_secs(5))), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// `base` doubling up to `max`.
    #[must_use]
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The wait after the `failures`-th consecutive failure (1 = the first;
    /// 0 counts as 1): `base · 2^(failures−1)`, capped at `max`.
    #[must_use]
    pub fn after(self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(16);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// [`Backoff::after`], but never shorter than `retry_after` (a server's
    /// `Retry-After`).
    #[must_use]
    pub fn honouring(self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let d = self.after(failures);
        retry_after.map_or(d, |r| d.max(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_base_and_stops_at_max() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let waits: Vec<u128> = (0..7).map(|n| b.after(n).as_millis()).collect();
        assert_eq!(waits, [500, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(b.after(u32::MAX), Duration::from_secs(4));
    }

    #[test]
    fn retry_after_only_lengthens() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        assert_eq!(
            b.honouring(3, Some(Duration::from_secs(1))),
            Duration::from_secs(8)
        );
        assert_eq!(
            b.honouring(3, Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
        assert_eq!(b.honouring(3, None), Duration::from_secs(8));
    }

    #[test]
    fn no_overflow_with_huge_base() {
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.after(20), Duration::MAX);
    }
}
