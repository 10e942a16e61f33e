//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or using a test control plane.
///
/// No variant ever carries key material: certificates and keys stay on disk
/// in the environment's private temp dir.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The etcd / kube-apiserver binaries could not be found or built.
    #[error("test control plane binaries: {0}")]
    Assets(String),

    /// The apiserver reports another release than `KUBE_VERSION` asks for
    /// (e.g. `KUBEBUILDER_ASSETS` points at another build).
    #[error(
        "KUBE_VERSION={requested} but kube-apiserver reports {reported}: unset KUBEBUILDER_ASSETS \
         (hack/kube-assets.sh then builds the requested release) or point it at that release"
    )]
    WrongVersion {
        /// `KUBE_VERSION`.
        requested: String,
        /// The apiserver's `gitVersion`.
        reported: String,
    },

    /// A helper script under `hack/` failed.
    #[error("{script} failed ({status}); see its output above. {hint}")]
    Script {
        /// The script that failed.
        script: PathBuf,
        /// Its exit status.
        status: String,
        /// What to do about it.
        hint: &'static str,
    },

    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Generating the test PKI failed.
    #[error("generating test certificates: {0}")]
    Certificates(#[from] rcgen::Error),

    /// A server process exited while it was starting.
    #[error("{component} exited during startup ({status}); last lines of its log:\n{log_tail}")]
    Exited {
        /// `etcd` or `kube-apiserver`.
        component: &'static str,
        /// Exit status of the process.
        status: String,
        /// The last lines it printed.
        log_tail: String,
    },

    /// A server process did not become ready in time.
    #[error(
        "{component} not ready after {timeout:?} (last check: {last_error}); last lines of its log:\n{log_tail}"
    )]
    NotReady {
        /// `etcd` or `kube-apiserver`.
        component: &'static str,
        /// How long we waited.
        timeout: Duration,
        /// The result of the last readiness probe.
        last_error: String,
        /// The last lines it printed.
        log_tail: String,
    },

    /// The generated kubeconfig could not be turned into a client config.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),

    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// A CRD manifest could not be read or parsed.
    #[error("CRD manifest {path}: {message}")]
    CrdManifest {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// CRDs did not reach the `Established` condition in time.
    #[error("CRDs not Established after {timeout:?}: {names:?}")]
    CrdNotEstablished {
        /// The CRDs still waiting.
        names: Vec<String>,
        /// How long we waited.
        timeout: Duration,
    },

    /// The process-wide shared control plane failed to start on an earlier call.
    #[error("the shared test control plane failed to start: {0}")]
    SharedStartFailed(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether retrying the same operation may succeed (timeouts, a port
    /// taken by another process, transient API errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::NotReady { .. } | Error::CrdNotEstablished { .. } => true,
            Error::Exited { log_tail, .. } => log_tail.contains("address already in use"),
            Error::Kube(kube::Error::Api(status)) => {
                status.code == 429 || status.code >= 500 || status.reason == "Conflict"
            }
            Error::Kube(kube::Error::HyperError(_) | kube::Error::Service(_)) => true,
            _ => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
