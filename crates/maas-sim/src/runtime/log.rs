//! The request log: every API request the simulator answered, bounded, and
//! counters.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Requests kept (the oldest go first).
const LOG_CAPACITY: usize = 10_000;

/// One request as the simulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
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
}

impl RequestLog {
    pub(crate) fn record(&mut self, r: RequestRecord) {
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

    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.counters = Counters::default();
    }
}
