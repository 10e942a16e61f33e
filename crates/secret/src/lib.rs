//! One redacting string type for the crates of capmaas.
//!
//! [`Secret`] holds a value that must never reach a log, an error message
//! or `Debug` output: a MAAS token secret, a VM host or LXD trust password,
//! a private key, a licence key. `Debug` prints [`REDACTED`]; there is no
//! `Display`, so `format!("{secret}")` does not compile; the value is read
//! with [`Secret::expose`], only where it is sent.
//!
//! ```
//! use capmaas_secret::{REDACTED, Secret};
//!
//! let password = Secret::new("hunter2");
//! assert_eq!(format!("{password:?}"), REDACTED);
//! assert_eq!(format!("{:?}", Some(&password)), "Some(<redacted>)");
//! assert_eq!(password.expose(), "hunter2");
//! ```

use std::fmt;

/// What every redacted value shows instead.
pub const REDACTED: &str = "<redacted>";

/// A string that must never be logged. `Debug` prints [`REDACTED`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Only pass it to where it is needed.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("s3cr3t-value");
        for text in [
            format!("{s:?}"),
            format!("{s:#?}"),
            format!("{:?}", vec![s.clone()]),
            format!("{:?}", Some(s.clone())),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(text.contains(REDACTED), "{text}");
        }
    }

    #[test]
    fn the_value_is_kept_exactly() {
        assert_eq!(Secret::from("a b ").expose(), "a b ");
        assert_eq!(Secret::from(String::from("x")), Secret::new("x"));
        assert!(Secret::default().is_empty());
        assert!(!Secret::new("x").is_empty());
    }
}
