//! Fault injection: per-operation error rates and latency, and scripted
//! one-shot faults (lock page, dropped connection, canned responses).
//!
//! An operation is named by its action (`allocate`, `deploy`, `read`, …),
//! by `Handler.action` (`MachineHandler.read`), or `*` for everything.

use crate::api::{Reply, reply};
use crate::model::names::SimRng;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A standing fault on an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpFault {
    /// Operation (`allocate`, `MachineHandler.read`, `*`).
    pub op: String,
    /// Probability (0–1) that a request fails instead of running.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of injected failures (default 503).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Body of injected failures (default: a MAAS-like 503 text).
    #[serde(default)]
    pub body: Option<String>,
    /// Added latency in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

fn default_status() -> u16 {
    503
}

fn default_op() -> String {
    "allocate".to_string()
}

fn one() -> u32 {
    1
}

/// A one-shot fault, consumed by the next matching requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptedFault {
    /// The next `count` deployments end in Failed deployment.
    FailDeploys {
        /// How many.
        #[serde(default = "one")]
        count: u32,
    },
    /// Answer the next `count` requests of `op` with MAAS's 409 lock page
    /// (`Retry-After: 5`), without running them.
    LockPage {
        /// Operation (default `allocate`).
        #[serde(default = "default_op")]
        op: String,
        /// How many.
        #[serde(default = "one")]
        count: u32,
    },
    /// Run the next `count` requests of `op`, then close the connection
    /// without answering.
    DropConnection {
        /// Operation.
        op: String,
        /// How many.
        #[serde(default = "one")]
        count: u32,
    },
    /// Answer the next `count` requests of `op` with `status` and `body`,
    /// without running them.
    Respond {
        /// Operation.
        op: String,
        /// How many.
        #[serde(default = "one")]
        count: u32,
        /// HTTP status.
        status: u16,
        /// Body.
        #[serde(default)]
        body: String,
        /// Content type (default `text/plain; charset=utf-8`).
        #[serde(default)]
        content_type: Option<String>,
        /// `Retry-After` header value, if any.
        #[serde(default)]
        retry_after: Option<u32>,
    },
    /// Run the next `count` requests of `op`, then answer `status` and
    /// `body` in place of their own answer (MAAS acted, the client sees,
    /// e.g., a proxy's garbage 200).
    RespondAfterRunning {
        /// Operation.
        op: String,
        /// How many.
        #[serde(default = "one")]
        count: u32,
        /// HTTP status.
        status: u16,
        /// Body.
        #[serde(default)]
        body: String,
        /// Content type (default `text/plain; charset=utf-8`).
        #[serde(default)]
        content_type: Option<String>,
    },
}

/// Which injected fault decided a request's answer (the request log's
/// `fault`; [`FaultKind::ran`] says whether the request ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A standing [`OpFault`]'s error rate: answered, not run.
    ErrorRate,
    /// The lock page: answered, not run.
    LockPage,
    /// A canned [`ScriptedFault::Respond`]: answered, not run.
    Respond,
    /// A canned answer sent after the request ran (`after_running`).
    RespondAfterRunning,
    /// The request ran, then the connection was closed unanswered.
    DropConnection,
}

impl FaultKind {
    /// Whether the request ran (MAAS acted) despite the fault.
    #[must_use]
    pub fn ran(self) -> bool {
        matches!(
            self,
            FaultKind::RespondAfterRunning | FaultKind::DropConnection
        )
    }
}

/// What to do with one request.
#[derive(Debug, Default)]
pub(crate) struct FaultDecision {
    pub(crate) delay: Duration,
    /// Answer this instead of running the request.
    pub(crate) reply: Option<Reply>,
    /// Run the request, then drop the connection.
    pub(crate) drop_after: bool,
    /// Run the request, then answer this instead of its answer.
    pub(crate) reply_after: Option<Reply>,
    /// The fault that decided, if any (latency alone is none).
    pub(crate) fault: Option<FaultKind>,
}

/// A canned answer: `status` (500 when invalid), `content_type` (default
/// `text/plain; charset=utf-8`), `body`.
fn canned(status: u16, content_type: Option<&str>, body: &str) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let ct: &'static str = match content_type {
        None => reply::TEXT,
        Some("application/json") | Some("application/json; charset=utf-8") => reply::JSON,
        Some("text/html") | Some("text/html; charset=utf-8") => reply::HTML,
        Some("text/plain") => reply::PLAIN,
        Some(_) => reply::TEXT,
    };
    Reply::text(status, ct, body.to_owned())
}

/// All configured faults.
#[derive(Debug)]
pub(crate) struct Faults {
    pub(crate) rules: Vec<OpFault>,
    pub(crate) scripted: Vec<ScriptedFault>,
    rng: SimRng,
}

fn matches(pattern: &str, handler: &str, action: &str) -> bool {
    pattern == "*" || pattern == action || pattern == format!("{handler}.{action}")
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Faults {
        Faults {
            rules: Vec::new(),
            scripted: Vec::new(),
            rng: SimRng::new(seed ^ 0xFA17),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.scripted.clear();
    }

    /// Decide the fate of a request to `handler.action`.
    pub(crate) fn decide(&mut self, handler: &str, action: &str) -> FaultDecision {
        let mut d = FaultDecision::default();
        // Scripted faults first, in the order they were added.
        let mut consumed = None;
        for (i, f) in self.scripted.iter_mut().enumerate() {
            match f {
                ScriptedFault::LockPage { op, count }
                    if *count > 0 && matches(op, handler, action) =>
                {
                    *count -= 1;
                    d.reply = Some(reply::lock_page());
                    d.fault = Some(FaultKind::LockPage);
                    consumed = Some((i, *count == 0));
                    break;
                }
                ScriptedFault::DropConnection { op, count }
                    if *count > 0 && matches(op, handler, action) =>
                {
                    *count -= 1;
                    d.drop_after = true;
                    d.fault = Some(FaultKind::DropConnection);
                    consumed = Some((i, *count == 0));
                    break;
                }
                ScriptedFault::Respond {
                    op,
                    count,
                    status,
                    body,
                    content_type,
                    retry_after,
                } if *count > 0 && matches(op, handler, action) => {
                    *count -= 1;
                    let mut r = canned(*status, content_type.as_deref(), body);
                    if let Some(s) = retry_after {
                        r = r.with_header("Retry-After", s.to_string());
                    }
                    d.reply = Some(r);
                    d.fault = Some(FaultKind::Respond);
                    consumed = Some((i, *count == 0));
                    break;
                }
                ScriptedFault::RespondAfterRunning {
                    op,
                    count,
                    status,
                    body,
                    content_type,
                } if *count > 0 && matches(op, handler, action) => {
                    *count -= 1;
                    d.reply_after = Some(canned(*status, content_type.as_deref(), body));
                    d.fault = Some(FaultKind::RespondAfterRunning);
                    consumed = Some((i, *count == 0));
                    break;
                }
                _ => {}
            }
        }
        if let Some((i, done)) = consumed {
            if done {
                self.scripted.remove(i);
            }
            return d;
        }
        for rule in &self.rules {
            if !matches(&rule.op, handler, action) {
                continue;
            }
            d.delay += Duration::from_millis(rule.latency_ms);
            if d.reply.is_none() && rule.error_rate > 0.0 {
                let roll = (self.rng.next_u64() % 1_000_000) as f64 / 1_000_000.0;
                if roll < rule.error_rate {
                    let status = StatusCode::from_u16(rule.status)
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    let body = rule.body.clone().unwrap_or_else(|| {
                        "Unable to connect to any rack controller; no connections available.".into()
                    });
                    let mut r = Reply::text(status, reply::TEXT, body);
                    if status == StatusCode::SERVICE_UNAVAILABLE {
                        r = r.with_header("Retry-After", "10");
                    }
                    d.reply = Some(r);
                    d.fault = Some(FaultKind::ErrorRate);
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_faults_are_consumed() {
        let mut f = Faults::new(1);
        f.scripted.push(ScriptedFault::LockPage {
            op: "allocate".into(),
            count: 1,
        });
        assert!(f.decide("MachineHandler", "read").reply.is_none());
        let d = f.decide("MachinesHandler", "allocate");
        let r = d.reply.unwrap();
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| *k == "Retry-After" && v == "5")
        );
        assert!(f.decide("MachinesHandler", "allocate").reply.is_none());
    }

    #[test]
    fn error_rate_one_always_fails_and_zero_never() {
        let mut f = Faults::new(1);
        f.rules.push(OpFault {
            op: "MachineHandler.read".into(),
            error_rate: 1.0,
            status: 500,
            body: Some("boom".into()),
            latency_ms: 0,
        });
        for _ in 0..10 {
            assert_eq!(
                f.decide("MachineHandler", "read").reply.unwrap().status,
                StatusCode::INTERNAL_SERVER_ERROR
            );
            assert!(f.decide("MachinesHandler", "read").reply.is_none());
        }
    }

    #[test]
    fn scripted_fault_json_shape() {
        let f: ScriptedFault =
            serde_json::from_str(r#"{"kind":"drop_connection","op":"deploy"}"#).unwrap();
        assert_eq!(
            f,
            ScriptedFault::DropConnection {
                op: "deploy".into(),
                count: 1
            }
        );
    }
}
