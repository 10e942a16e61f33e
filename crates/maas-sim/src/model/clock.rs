//! The simulator's clock: real monotonic time plus an offset that tests can
//! advance, so waits can be skipped without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the simulator started (monotonic, advanceable).
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    /// Unix time in ms at `start`.
    epoch_ms_at_start: u64,
    offset_ms: AtomicU64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let epoch_ms_at_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock {
            start: Instant::now(),
            epoch_ms_at_start,
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Simulator time in ms.
    pub(crate) fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Skip `by` of simulated time.
    pub(crate) fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }

    /// Unix time (ms) corresponding to simulator time `sim_ms`.
    pub(crate) fn unix_ms_at(&self, sim_ms: u64) -> u64 {
        self.epoch_ms_at_start + sim_ms
    }

    /// Current wall-clock Unix time in seconds (the OAuth timestamp window
    /// uses real time: advancing the simulated clock must not expire the
    /// clients' signatures).
    pub(crate) fn wall_unix_secs(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// Render Unix ms in MAAS's event date format `Tue, 05 Mar. 2024 10:21:07`.
pub(crate) fn event_date(unix_ms: u64) -> String {
    let dt = civil(unix_ms);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {}. {} {:02}:{:02}:{:02}",
        DAYS[dt.weekday_from_monday as usize % 7],
        dt.day,
        MONTHS[(dt.month as usize + 11) % 12],
        dt.year,
        dt.hour,
        dt.minute,
        dt.second
    )
}

/// Render Unix ms as MAAS object datetimes: `2024-03-01T10:11:12.345`.
pub(crate) fn iso_date(unix_ms: u64) -> String {
    let dt = civil(unix_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.millis
    )
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
    weekday_from_monday: u32,
}

fn civil(unix_ms: u64) -> Civil {
    let ts =
        jiff::Timestamp::from_millisecond(unix_ms as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    Civil {
        year: i64::from(dt.year()),
        month: dt.month() as u32,
        day: dt.day() as u32,
        hour: dt.hour() as u32,
        minute: dt.minute() as u32,
        second: dt.second() as u32,
        millis: dt.millisecond() as u32,
        weekday_from_monday: dt.weekday().to_monday_zero_offset() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_event_and_iso_dates() {
        // 2024-03-05T10:21:07.250Z was a Tuesday.
        let ms = 1_709_634_067_250;
        assert_eq!(event_date(ms), "Tue, 05 Mar. 2024 10:21:07");
        assert_eq!(iso_date(ms), "2024-03-05T10:21:07.250");
    }

    #[test]
    fn advance_moves_time_forward() {
        let c = Clock::new();
        let before = c.now_ms();
        c.advance(Duration::from_secs(10));
        assert!(c.now_ms() >= before + 10_000);
    }
}
