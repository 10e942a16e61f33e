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
    /// A MAAS call failed. Displayed through [`redact_maas_text`].
    #[error("MAAS {action}: {}", redact_maas_text(&.source.to_string()))]
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

/// The marker of what a redaction removed.
pub const REDACTED: &str = "<redacted>";

/// A second line of defence for MAAS texts on their way to conditions,
/// Events and logs (`maas_api` already scrubs our token secret from its
/// errors): whatever follows "signature base string" (MAAS's 401 for a bad
/// signature echoes the expected base string, for PLAINTEXT the token
/// secret itself), any `oauth_signature` value, and anything shaped like a
/// MAAS API key (`<18>:<18>:<32>` letters and digits) are replaced by
/// [`REDACTED`]. Needs no key: it also catches a secret of another key.
#[must_use]
pub fn redact_maas_text(text: &str) -> String {
    let mut out = text.to_owned();
    let lower = out.to_ascii_lowercase();
    if let Some(i) = lower.find("signature base string") {
        let cut = i + "signature base string".len();
        let end = out[cut..].find('\n').map_or(out.len(), |n| cut + n);
        out.replace_range(cut..end, &format!(": {REDACTED}"));
    }
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("oauth_signature") {
        let start = from + i + "oauth_signature".len();
        let value_end = out[start..]
            .find(|c: char| c == ',' || c == '&' || c.is_whitespace())
            .map_or(out.len(), |n| start + n);
        out.replace_range(start..value_end, &format!("={REDACTED}"));
        from = start + REDACTED.len() + 1;
    }
    redact_key_shapes(&out)
}

/// Replaces `word:word:word` runs whose parts are long alphanumeric
/// strings (MAAS keys are 18:18:32).
fn redact_key_shapes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // Try to read alnum{15,}:alnum{15,}:alnum{24,} at i (at a word start).
        let at_start = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if at_start && let Some(end) = key_shape_end(&chars, i) {
            out.push_str(REDACTED);
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn key_shape_end(chars: &[char], start: usize) -> Option<usize> {
    let run = |from: usize| {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count()
    };
    let a = run(start);
    let colon1 = start + a;
    if a < 15 || chars.get(colon1) != Some(&':') {
        return None;
    }
    let b = run(colon1 + 1);
    let colon2 = colon1 + 1 + b;
    if b < 15 || chars.get(colon2) != Some(&':') {
        return None;
    }
    let c = run(colon2 + 1);
    (c >= 24).then_some(colon2 + 1 + c)
}

/// Whether a failed MAAS request may have taken effect although no success
/// was seen (the allocation settle time is held only then): `maas_api`
/// decides it, [`maas_api::Error::maas_may_have_acted`] (a timeout or a
/// connection lost after sending, a 5xx, a 503 without `Retry-After`, an
/// undecodable 2xx; not: 4xx, the lock page, 429, a 503 with `Retry-After`,
/// a connection never made).
#[must_use]
pub fn outcome_unknown(e: &maas_api::Error) -> bool {
    e.maas_may_have_acted()
}

/// A MAAS error as the lifecycle takes it: class, MAAS's (redacted) text,
/// `Retry-After`, and whether the request may have taken effect.
#[must_use]
pub fn lifecycle_error(e: &maas_api::Error) -> machine_lifecycle::ActionError {
    machine_lifecycle::ActionError {
        class: lifecycle_class(e),
        message: redact_maas_text(&e.to_string()),
        retry_after: e.retry_after(),
        outcome_unknown: outcome_unknown(e),
    }
}

/// Exponential back-off: `base × 2^(failures-1)`, capped, at least
/// `retry_after` — the one rule, [`machine_lifecycle::Backoff`].
#[must_use]
pub fn backoff(
    base: Duration,
    max: Duration,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    machine_lifecycle::Backoff::new(base, max).honouring(failures, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maas_texts_are_redacted_whatever_their_shape() {
        let secret = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tXY";
        let key = format!("AbCdEfGhIjKlMnOpQr:StUvWxYzAbCdEfGhIj:{secret}");
        let cases = [
            format!("Invalid signature. Expected signature base string: &{secret}"),
            format!(
                "Invalid signature. Expected signature base string: GET&http%3A%2F%2Fm%2F&oauth_x%3D{secret}\nnext"
            ),
            format!("Authorization: OAuth oauth_signature=\"%26{secret}\", oauth_nonce=\"1\""),
            format!("the key {key} is not valid"),
        ];
        for text in &cases {
            let r = redact_maas_text(text);
            assert!(!r.contains(secret), "{r}");
            assert!(r.contains(REDACTED), "{r}");
        }
        assert!(redact_maas_text(&cases[1]).ends_with("\nnext"));
        // Ordinary MAAS texts are left alone.
        for text in [
            "No machine available.",
            "No Domain matches the given query.",
            "Invalid character in key name",
            "Machine abc123 (node-1): status Deployed, 8a1c2e3f-1111-4222-8333-944455556666",
        ] {
            assert_eq!(redact_maas_text(text), text);
        }
        // Through the controller's error and the lifecycle's message.
        let e = maas_api::Error::Unauthorized {
            message: format!("Invalid signature. Expected signature base string: &{secret}"),
        };
        assert!(!lifecycle_error(&e).message.contains(secret));
        assert!(!Error::maas("list machines", e).to_string().contains(secret));
    }

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
