//! Typed, classified errors of the LXD client.

use std::path::PathBuf;
use std::time::Duration;

use crate::fingerprint::Fingerprint;

/// Whether retrying the same request later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Retry with backoff: the daemon was unreachable or busy, an ETag changed
    /// under us, or an operation did not finish in time.
    Transient,
    /// Retrying the same request cannot help: the input, the server's
    /// configuration or its version must change first.
    Permanent,
}

/// An error talking to LXD.
///
/// Messages never contain secrets: callers that send one (a trust password,
/// a token) scrub LXD's answer with [`LxdError::redact`].
#[derive(Debug, thiserror::Error)]
pub enum LxdError {
    /// LXD answered with an error envelope (or a non-2xx status).
    #[error("LXD refused {method} {path} (HTTP {status}): {message}")]
    Api {
        /// HTTP method of the request.
        method: String,
        /// Request path, with its query.
        path: String,
        /// HTTP status (LXD sets it equal to the envelope's `error_code`).
        status: u16,
        /// LXD's `error` text.
        message: String,
    },
    /// The request never got an answer (connection refused, reset, timeout).
    #[error("cannot reach LXD at {endpoint}: {detail}")]
    Transport {
        /// Socket path or URL of the daemon.
        endpoint: String,
        /// What went wrong.
        detail: String,
        /// True for timeouts and refused/reset connections.
        retryable: bool,
    },
    /// The HTTPS server presented a certificate other than the pinned one.
    #[error(
        "LXD server certificate fingerprint mismatch at {endpoint}: expected {expected}, got {seen}"
    )]
    FingerprintMismatch {
        /// URL of the daemon.
        endpoint: String,
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint the server presented.
        seen: Fingerprint,
    },
    /// An LXD background operation finished without success.
    #[error("LXD operation {id} ended with status {status}: {err}")]
    OperationFailed {
        /// Operation UUID.
        id: String,
        /// Final status (`Failure`, `Cancelled`, ...).
        status: String,
        /// The operation's own `err` text.
        err: String,
    },
    /// An operation was still running when we stopped waiting.
    #[error("LXD operation {id} still running after {waited:?}")]
    OperationTimeout {
        /// Operation UUID.
        id: String,
        /// How long we waited.
        waited: Duration,
    },
    /// LXD's answer did not have the expected shape.
    #[error("unexpected answer from LXD for {method} {path}: {detail}")]
    Protocol {
        /// HTTP method of the request.
        method: String,
        /// Request path.
        path: String,
        /// What did not match.
        detail: String,
    },
    /// No unix socket was found where LXD keeps it.
    #[error("no LXD unix socket found (tried {})", display_paths(.tried))]
    SocketNotFound {
        /// The candidate paths, in order.
        tried: Vec<PathBuf>,
    },
    /// TLS or client-identity setup failed (bad PEM, bad key, ...).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The caller passed something unusable (bad name, bad token, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The server does not support what was asked (LXD version too old or
    /// too new, e.g. trust passwords on LXD >= 6.1).
    #[error("not supported by this LXD server: {0}")]
    Unsupported(String),
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl LxdError {
    /// Whether a retry can help.
    pub fn class(&self) -> ErrorClass {
        match self {
            LxdError::Api { status, .. } => match status {
                // ETag mismatch: re-read and retry; overload and gateway errors.
                412 | 429 | 502 | 503 | 504 => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            },
            LxdError::Transport { retryable, .. } => {
                if *retryable {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                }
            }
            LxdError::OperationTimeout { .. } => ErrorClass::Transient,
            LxdError::FingerprintMismatch { .. }
            | LxdError::OperationFailed { .. }
            | LxdError::Protocol { .. }
            | LxdError::SocketNotFound { .. }
            | LxdError::Tls(_)
            | LxdError::InvalidInput(_)
            | LxdError::Unsupported(_) => ErrorClass::Permanent,
        }
    }

    /// True when retrying can help.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// The HTTP status LXD answered with, if it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            LxdError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// LXD's error text, if it answered with an error.
    pub fn lxd_message(&self) -> Option<&str> {
        match self {
            LxdError::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// True for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True for "already exists" answers: 409, and the 400/500 texts LXD uses
    /// for existing networks and profiles.
    pub fn is_already_exists(&self) -> bool {
        match self {
            LxdError::Api {
                status, message, ..
            } => {
                *status == 409
                    || ((*status == 400 || *status == 500)
                        && message.to_ascii_lowercase().contains("already exists"))
            }
            _ => false,
        }
    }

    /// Replaces every occurrence of `secret` in the error's texts (LXD echoes
    /// rejected config values back, e.g. `cannot set 'k' to '<value>'`).
    #[must_use]
    pub fn redact(self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let scrub = |s: String| s.replace(secret, "<redacted>");
        match self {
            LxdError::Api {
                method,
                path,
                status,
                message,
            } => LxdError::Api {
                method,
                path: scrub(path),
                status,
                message: scrub(message),
            },
            LxdError::Transport {
                endpoint,
                detail,
                retryable,
            } => LxdError::Transport {
                endpoint,
                detail: scrub(detail),
                retryable,
            },
            LxdError::OperationFailed { id, status, err } => LxdError::OperationFailed {
                id,
                status,
                err: scrub(err),
            },
            LxdError::Protocol {
                method,
                path,
                detail,
            } => LxdError::Protocol {
                method,
                path: scrub(path),
                detail: scrub(detail),
            },
            LxdError::Tls(s) => LxdError::Tls(scrub(s)),
            LxdError::InvalidInput(s) => LxdError::InvalidInput(scrub(s)),
            LxdError::Unsupported(s) => LxdError::Unsupported(scrub(s)),
            other @ (LxdError::FingerprintMismatch { .. }
            | LxdError::OperationTimeout { .. }
            | LxdError::SocketNotFound { .. }) => other,
        }
    }
}

/// Result alias of this crate's client.
pub type Result<T, E = LxdError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> LxdError {
        LxdError::Api {
            method: "POST".into(),
            path: "/1.0/networks".into(),
            status,
            message: message.into(),
        }
    }

    #[test]
    fn classes() {
        assert_eq!(
            api(412, "ETag doesn't match").class(),
            ErrorClass::Transient
        );
        assert_eq!(api(503, "busy").class(), ErrorClass::Transient);
        assert_eq!(
            api(500, "Invalid option \"size\"").class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            api(501, "Password authentication is no longer supported").class(),
            ErrorClass::Permanent
        );
        assert_eq!(api(404, "not found").class(), ErrorClass::Permanent);
        let t = LxdError::Transport {
            endpoint: "x".into(),
            detail: "refused".into(),
            retryable: true,
        };
        assert!(t.is_transient());
        let timeout = LxdError::OperationTimeout {
            id: "1".into(),
            waited: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
    }

    #[test]
    fn already_exists_covers_lxd_spellings() {
        assert!(api(409, "The storage pool already exists").is_already_exists());
        assert!(api(400, "The network already exists").is_already_exists());
        assert!(
            api(
                500,
                "Error inserting \"default\" into database: The profile already exists"
            )
            .is_already_exists()
        );
        assert!(!api(400, "Invalid value").is_already_exists());
        assert!(!api(404, "Network not found").is_already_exists());
        assert!(api(404, "Network not found").is_not_found());
    }

    #[test]
    fn redact_scrubs_echoed_secret() {
        let e = api(
            400,
            "cannot set 'core.trust_password' to 's3cr3t': unknown key",
        )
        .redact("s3cr3t");
        let text = e.to_string();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }

    #[test]
    fn socket_not_found_lists_paths() {
        let e = LxdError::SocketNotFound {
            tried: vec!["/a/unix.socket".into(), "/b/unix.socket".into()],
        };
        assert_eq!(
            e.to_string(),
            "no LXD unix socket found (tried /a/unix.socket, /b/unix.socket)"
        );
    }
}
