//! An LXD REST client and an idempotent LXD host bootstrap plan for MAAS VM
//! hosts.
//!
//! # Client
//! [`LxdClient`] talks to LXD's REST API, never to `lxc`:
//! - over the unix socket: [`LxdClient::unix`], or [`LxdClient::unix_from_env`]
//!   which looks at `LXD_SOCKET`, then `$LXD_DIR/unix.socket`, then the snap
//!   socket, then `/var/lib/lxd/unix.socket`;
//! - over HTTPS: [`LxdClient::https`] with TLS 1.3 (rustls, ring), a client
//!   certificate ([`ClientIdentity`]) and the server pinned by the SHA-256
//!   fingerprint of its DER certificate ([`ServerTrust::Pinned`]), or
//!   trust-on-first-use when explicitly asked ([`ServerTrust::TrustOnFirstUse`],
//!   see [`LxdClient::observed_server_fingerprint`]).
//!
//! It unwraps sync/async envelopes, waits for operations and checks their own
//! status ([`LxdClient::wait_operation`]), passes ETags as `If-Match`, and
//! returns typed, classified errors ([`LxdError`], [`ErrorClass`]).
//! Features come from `api_extensions` and `server_version` ([`Features`]):
//! which field carries a trust token, whether trust passwords still exist.
//!
//! # Host plan
//! [`HostSpec`] is the desired state of a MAAS VM host: `core.https_address`,
//! a storage pool, a bridge (an existing host bridge, or one LXD manages), a
//! project and a profile in it (root disk on the pool, `eth0` on the bridge),
//! and optionally trust (a client certificate restricted to the project, a
//! trust token, or a trust password on LXD < 6.1). [`plan()`] diffs it against
//! the server into create/update/unchanged [`Step`]s with the fields that
//! differ; [`apply`] applies them in order; [`run`] does both and then
//! [`verify`]s what MAAS needs, producing a [`Report`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lxd_host::{HostSpec, LxdClient, StorageDriver};
//! let client = LxdClient::unix_from_env()?;
//! let spec = HostSpec::new("default", StorageDriver::Zfs, "br0");
//! let report = lxd_host::run(&client, &spec, false).await?;
//! print!("{}", report.render_text());
//! # Ok(()) }
//! ```
//!
//! Secrets (trust passwords, token secrets, private keys) never appear in
//! logs, error messages or `Debug` output.

mod api;
mod client;
mod error;
mod features;
mod fingerprint;
mod method;
mod plan;
mod report;
mod spec;
mod tls;
mod token;
pub mod types;

#[cfg(feature = "test-support")]
pub mod testing;

pub use api::{CertificateAdd, TrustCredential, TrustOutcome};
pub use client::{
    DEB_SOCKET, DEFAULT_HTTPS_PORT, LxdClient, Response, SNAP_SOCKET, https_base_url,
    socket_path_from, socket_path_from_env,
};
pub use error::{ErrorClass, LxdError, Result};
pub use features::{
    Features, LxdVersion, MAAS_MIN_VERSION, MAAS_REQUIRED_EXTENSIONS, TRUST_PASSWORD_REMOVED_IN,
    TokenField,
};
pub use fingerprint::{ClientIdentity, Fingerprint, Secret};
pub use method::Method;
pub use plan::{
    Action, Applied, AppliedStep, FieldChange, IssuedToken, ItemKind, PROFILE_DESCRIPTION,
    PROJECT_DESCRIPTION, Plan, PlanError, ServerSummary, Step, StepFailure, apply,
    desired_nic_device, desired_root_device, plan,
};
pub use report::{Check, CheckStatus, Report, TokenReport, run, verify};
pub use spec::{
    AddressSetting, BridgeSpec, HostSpec, ListenAddress, SpecError, StorageDriver, StorageSpec,
    TrustSpec, parse_listen_address,
};
pub use tls::ServerTrust;
pub use token::{NO_EXPIRY, TrustToken};
