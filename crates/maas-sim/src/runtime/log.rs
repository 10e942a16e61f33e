//! The request log: every API request the simulator answered, bounded, and
//! counters.

use crate::api::faults::FaultKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Requests kept (the oldest go first).
const LOG_CAPACITY: usize = 10_000;

/// One request as the simulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// Position in the log: 1 for the first request the simulator
    /// answered, one more for each next one (never reused, not even after
    /// a clear or a reset), so `GET /_sim/requests?since=N` reads on
    /// incrementally. Set by the log.
    #[serde(default)]
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path (without the query string).
    pub path: String,
    /// The `op`, if any.
    pub op: Option<String>,
    /// `Handler.action` that ran (or would have).
    pub action: Option<String>,
    /// Response status (0 when the connection was dropped).
    pub status: u16,
    /// Authenticated user.
    pub user: Option<String>,
    /// Wall-clock time (Unix ms).
    pub unix_ms: u64,
    /// Time spent answering, in microseconds.
    pub duration_us: u64,
    /// The injected fault that decided the answer (none: the simulator's
    /// own answer); [`FaultKind::ran`] says whether the request still ran.
    #[serde(default)]
    pub fault: Option<FaultKind>,
}

/// Aggregate counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// All requests.
    pub requests: u64,
    /// By `Handler.action` (or `METHOD path` when unrouted).
    pub by_action: BTreeMap<String, u64>,
    /// By status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Connections dropped by fault injection.
    pub dropped_connections: u64,
}

/// The request log (bounded) and counters.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    pub(crate) records: VecDeque<RequestRecord>,
    pub(crate) counters: Counters,
    /// The last `seq` given.
    last_seq: u64,
}

impl RequestLog {
    pub(crate) fn record(&mut self, mut r: RequestRecord) {
        self.last_seq += 1;
        r.seq = self.last_seq;
        self.counters.requests += 1;
        let key = r
            .action
            .clone()
            .unwrap_or_else(|| format!("{} {}", r.method, r.path));
        *self.counters.by_action.entry(key).or_default() += 1;
        *self.counters.by_status.entry(r.status).or_default() += 1;
        if r.status == 0 {
            self.counters.dropped_connections += 1;
        }
        if self.records.len() == LOG_CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(r);
    }

    /// The records with `seq > since`, oldest first.
    pub(crate) fn since(&self, since: u64) -> Vec<RequestRecord> {
        // Seqs are consecutive within the deque: skip by position.
        let first = self.records.front().map_or(0, |r| r.seq);
        let skip =
            usize::try_from(since.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        self.records.iter().skip(skip).cloned().collect()
    }

    /// Forgets the records and counters; `seq` keeps counting.
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.counters = Counters::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str) -> RequestRecord {
        RequestRecord {
            seq: 0,
            method: "GET".into(),
            path: path.into(),
            op: None,
            action: None,
            status: 200,
            user: None,
            unix_ms: 0,
            duration_us: 0,
            fault: None,
        }
    }

    #[test]
    fn seq_counts_on_and_since_reads_incrementally() {
        let mut log = RequestLog::default();
        for i in 0..5 {
            log.record(rec(&format!("/r{i}")));
        }
        let all = log.since(0);
        assert_eq!(
            all.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            log.since(3).iter().map(|r| r.seq).collect::<Vec<_>>(),
            [4, 5]
        );
        assert!(log.since(5).is_empty());
        assert!(log.since(u64::MAX).is_empty());
        log.clear();
        assert!(log.since(0).is_empty());
        log.record(rec("/after-clear"));
        let after = log.since(5);
        assert_eq!(after.len(), 1);
        assert_eq!((after[0].seq, after[0].path.as_str()), (6, "/after-clear"));
    }

    #[test]
    fn since_past_the_bound_returns_what_is_kept() {
        let mut log = RequestLog::default();
        for i in 0..(LOG_CAPACITY + 10) {
            log.record(rec(&format!("/r{i}")));
        }
        let kept = log.since(0);
        assert_eq!(kept.len(), LOG_CAPACITY);
        // The first 10 fell out: a reader sees the gap (11 > 0 + 1).
        assert_eq!(kept[0].seq, 11);
        let last = log.since(LOG_CAPACITY as u64 + 8);
        assert_eq!(
            last.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [LOG_CAPACITY as u64 + 9, LOG_CAPACITY as u64 + 10]
        );
    }
}
