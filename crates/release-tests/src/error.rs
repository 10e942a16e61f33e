//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building or checking release artifacts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A YAML document could not be parsed or written.
    #[error("YAML in {origin}: {message}")]
    Yaml {
        /// Where the YAML came from (a path or a description).
        origin: String,
        /// The parser's or serializer's message.
        message: String,
    },
    /// An input artifact does not have the shape the release needs.
    #[error("{0}")]
    Invalid(String),
    /// Generating the CRDs failed.
    #[error("CRDs: {0}")]
    Crd(#[from] capi_types::crds::CrdError),
    /// An external command could not be started or failed.
    #[error("{command}: {message}")]
    Command {
        /// The command line, for the reader.
        command: String,
        /// Exit status and stderr (or the spawn error).
        message: String,
    },
    /// A Kubernetes request failed.
    #[error("{context}: {source}")]
    Kube {
        /// What was being applied.
        context: String,
        /// The cause.
        source: Box<kube::Error>,
    },
}

/// `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
