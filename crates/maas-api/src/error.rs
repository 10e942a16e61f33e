//! One error type for every MAAS call, keeping MAAS's own message, and its classification.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::redact::Redacted;

/// How a caller should react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Try again later (with backoff, honouring [`Error::retry_after`]): connection problems,
    /// timeouts, MAAS busy (409 lock page, 503 with `Retry-After`), 5xx.
    Transient,
    /// MAAS has no capacity for the request: no machine matches (409 from allocate), or a 503
    /// that reports exhaustion (IP addresses, VM host over-commit). Retrying the same request
    /// soon is pointless; relax constraints, pick another zone/pool, or wait for capacity.
    Capacity,
    /// The request as sent will not succeed: auth, permissions, missing objects, validation,
    /// state conflicts (re-read the object first), undecodable answers.
    Permanent,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Capacity => "capacity",
            ErrorClass::Permanent => "permanent",
        })
    }
}

/// What went wrong at the transport level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Could not connect (refused, unreachable, DNS, TLS handshake, connect timeout):
    /// the request was never sent.
    Connect,
    /// The request timed out after it may have been sent.
    Timeout,
    /// The connection broke (reset, closed) after the request may have been sent.
    Io,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Io => "connection",
        })
    }
}

/// A MAAS API error. [`Error::status`] and [`Error::message`] give the HTTP status and MAAS's
/// own message for display; [`Error::class`] says how to react.
///
/// Messages are capped in length and redacted in every variant (echoed signature base
/// strings, the client's key and its parts, anything shaped like an API key); response
/// bodies of calls that return secrets are never quoted.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: bad or unknown credentials, expired timestamp, reused nonce, or unsigned request.
    #[error("MAAS 401 unauthorized: {message}")]
    Unauthorized {
        /// MAAS's message.
        message: String,
    },
    /// 403: not allowed (admin-only call, locked machine, not the owner).
    #[error("MAAS 403 forbidden: {message}")]
    Forbidden {
        /// MAAS's message (often empty).
        message: String,
    },
    /// 404: no such object, or unknown endpoint.
    #[error("MAAS 404 not found: {message}")]
    NotFound {
        /// MAAS's message.
        message: String,
    },
    /// 409 from allocate: no machine matches the constraints.
    #[error("MAAS 409 no machine available: {message}")]
    NoMachineAvailable {
        /// MAAS's message, with the constraints it resolved.
        message: String,
    },
    /// 409 state violation (`text/plain`): the object is not in a state that allows this.
    #[error("MAAS 409 conflict: {message}")]
    Conflict {
        /// MAAS's message.
        message: String,
    },
    /// MAAS is busy: the 409 HTML "try again" page (database lock retries exhausted; MAAS rolled
    /// the transaction back), a 503 that is not about exhaustion, or a 429.
    #[error("MAAS {status} busy: {message}")]
    Busy {
        /// 409, 429 or 503.
        status: u16,
        /// MAAS's message (the HTML page is reduced to a short note).
        message: String,
        /// The `Retry-After` delay, if given.
        retry_after: Option<Duration>,
    },
    /// 503 reporting exhaustion (IP addresses, VM host over-commit, unable to compose).
    #[error("MAAS {status} capacity exhausted: {message}")]
    Exhausted {
        /// 503.
        status: u16,
        /// MAAS's message.
        message: String,
        /// The `Retry-After` delay, if given.
        retry_after: Option<Duration>,
    },
    /// 400 with a JSON map of field errors (`__all__` for whole-form errors).
    #[error("MAAS 400 validation failed: {}", format_fields(.fields))]
    Validation {
        /// Field name → messages.
        fields: BTreeMap<String, Vec<String>>,
    },
    /// 400 with a plain-text message.
    #[error("MAAS 400 bad request: {message}")]
    BadRequest {
        /// MAAS's message.
        message: String,
    },
    /// 410: the API or feature is gone (e.g. VM hosts on MAAS main).
    #[error("MAAS 410 gone: {message}")]
    Gone {
        /// MAAS's message.
        message: String,
    },
    /// 5xx other than the busy/exhausted 503s.
    #[error("MAAS {status} server error: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// MAAS's message.
        message: String,
        /// The `Retry-After` delay, if given.
        retry_after: Option<Duration>,
    },
    /// Any other unexpected HTTP status (e.g. 405).
    #[error("MAAS {status} unexpected response: {message}")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
        /// The body text.
        message: String,
    },
    /// The request did not complete at the transport level.
    #[error("MAAS request failed ({kind}): {message}")]
    Transport {
        /// What kind of failure.
        kind: TransportKind,
        /// Description (no secrets).
        message: String,
    },
    /// The answer could not be decoded.
    #[error("could not decode MAAS answer: {message}; body starts: {excerpt:?}")]
    Decode {
        /// The decoder's message.
        message: String,
        /// A short excerpt of the body (or a size note for answers that may hold secrets).
        excerpt: String,
    },
    /// The request could not be built (bad argument).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn format_fields(fields: &BTreeMap<String, Vec<String>>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The classification used by the retry logic and by callers.
    pub fn class(&self) -> ErrorClass {
        match self {
            // An answer that could not be decoded is not a refusal: MAAS (or a proxy
            // cutting its answer) may have acted; the next observation tells.
            Error::Transport { .. }
            | Error::Busy { .. }
            | Error::Server { .. }
            | Error::Decode { .. } => ErrorClass::Transient,
            Error::NoMachineAvailable { .. } | Error::Exhausted { .. } => ErrorClass::Capacity,
            Error::Unauthorized { .. }
            | Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::Conflict { .. }
            | Error::Validation { .. }
            | Error::BadRequest { .. }
            | Error::Gone { .. }
            | Error::UnexpectedStatus { .. }
            | Error::InvalidRequest(_) => ErrorClass::Permanent,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Busy { retry_after, .. }
            | Error::Exhausted { retry_after, .. }
            | Error::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when MAAS answered.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            Error::Unauthorized { .. } => 401,
            Error::Forbidden { .. } => 403,
            Error::NotFound { .. } => 404,
            Error::NoMachineAvailable { .. } | Error::Conflict { .. } => 409,
            Error::Validation { .. } | Error::BadRequest { .. } => 400,
            Error::Gone { .. } => 410,
            Error::Busy { status, .. }
            | Error::Exhausted { status, .. }
            | Error::Server { status, .. }
            | Error::UnexpectedStatus { status, .. } => *status,
            Error::Transport { .. } | Error::Decode { .. } | Error::InvalidRequest(_) => {
                return None;
            }
        })
    }

    /// MAAS's message (or the local description), for display.
    pub fn message(&self) -> String {
        match self {
            Error::Unauthorized { message }
            | Error::Forbidden { message }
            | Error::NotFound { message }
            | Error::NoMachineAvailable { message }
            | Error::Conflict { message }
            | Error::BadRequest { message }
            | Error::Gone { message }
            | Error::Busy { message, .. }
            | Error::Exhausted { message, .. }
            | Error::Server { message, .. }
            | Error::UnexpectedStatus { message, .. }
            | Error::Transport { message, .. }
            | Error::Decode { message, .. } => message.clone(),
            Error::InvalidRequest(m) => m.clone(),
            Error::Validation { fields } => format_fields(fields),
        }
    }

    /// True for 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether MAAS may have carried out the failed request: its outcome is **unknown**, and
    /// before repeating a non-idempotent call (allocate, deploy, compose, create…) the caller
    /// must re-observe (list machines by `agent_name`, look the VM up by hostname), and allow
    /// for an answer that was lost.
    ///
    /// `true` (outcome unknown):
    /// - the request timed out or the connection broke after it may have been sent
    ///   ([`TransportKind::Timeout`], [`TransportKind::Io`]);
    /// - a 5xx other than the refusals below: a 500 can follow a committed change, and a
    ///   502/504 comes from a proxy whose upstream may have acted;
    /// - a 503 without `Retry-After`;
    /// - MAAS answered 2xx but the body could not be decoded ([`Error::Decode`]): it acted,
    ///   and what it did is not known.
    ///
    /// `false` (MAAS certainly did not act):
    /// - nothing was sent: connect refused, unreachable, TLS handshake
    ///   ([`TransportKind::Connect`]), or the request could not be built;
    /// - MAAS refused before acting or rolled back: the 409 lock page, a 429, a 503 with
    ///   `Retry-After`, a 503 reporting exhaustion, and every 4xx (401, 403, 404, 409, 400,
    ///   410…) and 3xx.
    ///
    /// For non-idempotent calls this holds for the whole call, retries included: the client
    /// repeats them only after an answer for which this is `false`.
    pub fn maas_may_have_acted(&self) -> bool {
        match self {
            Error::Transport { kind, .. } => match kind {
                TransportKind::Connect => false,
                TransportKind::Timeout | TransportKind::Io => true,
            },
            Error::Busy {
                status,
                retry_after,
                ..
            } => *status == 503 && retry_after.is_none(),
            Error::Server { .. } | Error::Decode { .. } => true,
            Error::UnexpectedStatus { status, .. } => *status >= 500,
            Error::Exhausted { .. }
            | Error::Unauthorized { .. }
            | Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::NoMachineAvailable { .. }
            | Error::Conflict { .. }
            | Error::Validation { .. }
            | Error::BadRequest { .. }
            | Error::Gone { .. }
            | Error::InvalidRequest(_) => false,
        }
    }
}

/// Longest MAAS message kept in an error.
pub(crate) const MAX_MESSAGE: usize = 1024;
/// Longest body excerpt kept in a decode error.
pub(crate) const MAX_EXCERPT: usize = 200;

/// Cut `s` to at most `max` bytes on a char boundary, marking the cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// What the client knows about the request when classifying an answer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClassifyContext {
    /// The op was `allocate`: a text 409 means no machine matched.
    pub allocate: bool,
}

/// Turn a non-success HTTP answer into an [`Error`]. The only place MAAS's answers become
/// error messages: the body comes in already [`Redacted`], so no variant can carry a secret.
pub(crate) fn classify_response(
    status: u16,
    content_type: &str,
    body: &Redacted,
    retry_after: Option<Duration>,
    ctx: ClassifyContext,
) -> Error {
    let body = body.as_str();
    // Judge by the body, not the content type: MAAS sends plain-text 401 messages with
    // Django's default `text/html` content type, while the 409 lock page is a real document.
    let trimmed = body.trim_start();
    let is_html = content_type.contains("html")
        && trimmed.starts_with('<')
        && trimmed.to_ascii_lowercase().contains("<html")
        || trimmed
            .get(..14)
            .is_some_and(|h| h.eq_ignore_ascii_case("<!doctype html"));
    let text = if is_html {
        html_summary(body)
    } else {
        truncate(body.trim(), MAX_MESSAGE)
    };
    match status {
        400 => match parse_field_errors(body) {
            Some(fields) => Error::Validation { fields },
            None => Error::BadRequest { message: text },
        },
        401 => Error::Unauthorized { message: text },
        403 => Error::Forbidden { message: text },
        404 => Error::NotFound { message: text },
        409 if is_html => Error::Busy {
            status,
            message: text,
            retry_after,
        },
        409 if ctx.allocate || looks_like_no_machine(&text) => {
            Error::NoMachineAvailable { message: text }
        }
        409 => Error::Conflict { message: text },
        410 => Error::Gone { message: text },
        429 => Error::Busy {
            status,
            message: text,
            retry_after,
        },
        503 if looks_like_exhaustion(&text) => Error::Exhausted {
            status,
            message: text,
            retry_after,
        },
        503 => Error::Busy {
            status,
            message: text,
            retry_after,
        },
        500..=599 => Error::Server {
            status,
            message: text,
            retry_after,
        },
        _ => Error::UnexpectedStatus {
            status,
            message: text,
        },
    }
}

fn looks_like_no_machine(text: &str) -> bool {
    text.starts_with("No machine available")
        || text.starts_with("No machine with system ID")
        || text.starts_with("No available machine matches constraints")
}

fn looks_like_exhaustion(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("exhaust")
        || t.contains("overcommit")
        || t.contains("over-commit")
        || t.contains("over commit")
        || t.contains("unable to compose")
}

/// A 400 body that is a JSON object of field → message(s).
fn parse_field_errors(body: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let obj = value.as_object()?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let msgs = match v {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => truncate(s, MAX_MESSAGE),
                    other => truncate(&other.to_string(), MAX_MESSAGE),
                })
                .collect(),
            serde_json::Value::String(s) => vec![truncate(s, MAX_MESSAGE)],
            other => vec![truncate(&other.to_string(), MAX_MESSAGE)],
        };
        out.insert(k.clone(), msgs);
    }
    Some(out)
}

/// A one-line summary of an HTML error page: its `<title>` or first text, without markup.
fn html_summary(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    let title = lower.find("<title>").and_then(|start| {
        let from = start + "<title>".len();
        lower[from..]
            .find("</title>")
            .map(|len| body[from..from + len].trim().to_owned())
    });
    let text = match title {
        Some(t) if !t.is_empty() => t,
        _ => strip_tags(body),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&format!("(HTML page) {text}"), 200)
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let now = jiff::Timestamp::try_from(now).ok()?;
    let delta = when.as_millisecond().saturating_sub(now.as_millisecond());
    Some(Duration::from_millis(u64::try_from(delta).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn classify_response(
        status: u16,
        content_type: &str,
        body: &str,
        retry_after: Option<Duration>,
        ctx: ClassifyContext,
    ) -> Error {
        super::classify_response(
            status,
            content_type,
            &Redactor::default().redact(body),
            retry_after,
            ctx,
        )
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert!(parse_retry_after("5", SystemTime::now()).is_some());
    }

    #[test]
    fn classification_table() {
        let none = ClassifyContext::default();
        let alloc = ClassifyContext { allocate: true };
        let c = |s, ct, b, ctx| classify_response(s, ct, b, None, ctx);
        assert!(matches!(
            c(
                401,
                "text/plain",
                "Authorization Error: 'Invalid access token: x'",
                none
            ),
            Error::Unauthorized { .. }
        ));
        assert!(matches!(
            c(403, "text/plain", "", none),
            Error::Forbidden { .. }
        ));
        assert!(matches!(
            c(
                404,
                "text/plain",
                "No Machine matches the given query.",
                none
            ),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            c(409, "text/plain", "No machine available.", alloc),
            Error::NoMachineAvailable { .. }
        ));
        assert!(matches!(
            c(
                409,
                "text/plain",
                "No available machine matches constraints: [('zone', ['z1'])] (resolved to \"zone=z1\")",
                none
            ),
            Error::NoMachineAvailable { .. }
        ));
        assert!(matches!(
            c(
                409,
                "text/plain",
                "Can't deploy a machine that is in the 'Deployed' state",
                none
            ),
            Error::Conflict { .. }
        ));
        assert!(matches!(
            c(
                409,
                "text/html; charset=utf-8",
                "<html><head><title>Conflict error</title></head><body>Try again</body></html>",
                alloc
            ),
            Error::Busy { status: 409, .. }
        ));
        assert!(matches!(
            c(
                409,
                "text/plain",
                "\n<!DOCTYPE html><html><title>Conflict error</title></html>",
                none
            ),
            Error::Busy { status: 409, .. }
        ));
        let plain_401 = c(
            401,
            "text/html; charset=utf-8",
            "Authorization Error: Invalid API key.",
            none,
        );
        assert!(matches!(plain_401, Error::Unauthorized { .. }));
        assert_eq!(plain_401.message(), "Authorization Error: Invalid API key.");
        assert!(matches!(
            c(
                400,
                "application/json",
                r#"{"zone":["No such zone(s): x."]}"#,
                none
            ),
            Error::Validation { .. }
        ));
        assert!(matches!(
            c(
                400,
                "text/plain",
                "Unrecognised signature: method=POST op=foo",
                none
            ),
            Error::BadRequest { .. }
        ));
        assert!(matches!(
            c(410, "text/plain", "gone", none),
            Error::Gone { .. }
        ));
        assert!(matches!(
            c(500, "text/plain", "boom", none),
            Error::Server { status: 500, .. }
        ));
        assert!(matches!(
            c(504, "text/plain", "timeout", none),
            Error::Server { status: 504, .. }
        ));
        assert!(matches!(
            c(503, "text/plain", "No connections available", none),
            Error::Busy { status: 503, .. }
        ));
        assert!(matches!(
            c(
                503,
                "text/plain",
                "abc123: Unable to allocate static IP due to address exhaustion.",
                none
            ),
            Error::Exhausted { .. }
        ));
        assert!(matches!(
            c(405, "", "", none),
            Error::UnexpectedStatus { status: 405, .. }
        ));
    }

    #[test]
    fn classes() {
        let ctx = ClassifyContext::default();
        assert_eq!(
            classify_response(503, "", "exhaustion", None, ctx).class(),
            ErrorClass::Capacity
        );
        assert_eq!(
            classify_response(
                409,
                "",
                "No machine available.",
                None,
                ClassifyContext { allocate: true }
            )
            .class(),
            ErrorClass::Capacity
        );
        assert_eq!(
            classify_response(502, "", "", None, ctx).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_response(409, "", "state", None, ctx).class(),
            ErrorClass::Permanent
        );
        let t = Error::Transport {
            kind: TransportKind::Connect,
            message: "refused".into(),
        };
        assert_eq!(t.class(), ErrorClass::Transient);
        assert_eq!(t.status(), None);
    }

    #[test]
    fn which_failures_may_have_acted() {
        let ctx = ClassifyContext::default();
        let alloc = ClassifyContext { allocate: true };
        let secs = Some(Duration::from_secs(5));
        let lock = "<!DOCTYPE html><html><title>Conflict error</title></html>";
        let answered = [
            (409, lock, None, alloc, false),
            (429, "slow down", None, ctx, false),
            (503, "busy", secs, ctx, false),
            (503, "busy", None, ctx, true),
            (503, "address exhaustion", None, ctx, false),
            (500, "boom", None, ctx, true),
            (502, "bad gateway", None, ctx, true),
            (504, "gateway timeout", secs, ctx, true),
            (409, "No machine available.", None, alloc, false),
            (409, "Can't deploy", None, ctx, false),
            (400, r#"{"arch": ["x"]}"#, None, ctx, false),
            (400, "bad", None, ctx, false),
            (401, "no", None, ctx, false),
            (403, "", None, ctx, false),
            (404, "gone", None, ctx, false),
            (410, "gone", None, ctx, false),
            (405, "", None, ctx, false),
            (302, "", None, ctx, false),
        ];
        for (status, body, ra, c, want) in answered {
            let e = classify_response(status, "text/plain", body, ra, c);
            assert_eq!(e.maas_may_have_acted(), want, "{status} {body}: {e:?}");
        }
        let transport = |kind| Error::Transport {
            kind,
            message: String::new(),
        };
        assert!(!transport(TransportKind::Connect).maas_may_have_acted());
        assert!(transport(TransportKind::Timeout).maas_may_have_acted());
        assert!(transport(TransportKind::Io).maas_may_have_acted());
        let decode = Error::Decode {
            message: String::new(),
            excerpt: String::new(),
        };
        assert!(decode.maas_may_have_acted());
        assert!(!Error::InvalidRequest(String::new()).maas_may_have_acted());
    }

    #[test]
    fn html_is_summarised_and_messages_capped() {
        let e = classify_response(
            409,
            "text/html",
            "<html><head><title>Conflict error</title></head><body><p>Try your request again</p></body></html>",
            Some(Duration::from_secs(5)),
            ClassifyContext::default(),
        );
        assert_eq!(e.message(), "(HTML page) Conflict error");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
        let long = "x".repeat(5000);
        let e = classify_response(500, "text/plain", &long, None, ClassifyContext::default());
        assert!(e.message().len() <= MAX_MESSAGE + 4);
        assert_eq!(truncate("héllo", 2), "h…");
    }
}
