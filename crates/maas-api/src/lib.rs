//! A MAAS 2.0 REST API client: OAuth 1.0 HMAC-SHA1 or PLAINTEXT, typed models, classified
//! errors and retries.
//!
//! - [`ClientConfig`] normalises the endpoint (`http://maas:5240`, `…/MAAS`, `…/MAAS/api/2.0`
//!   all become `…/MAAS/api/2.0/`), parses the API key `consumer:token:secret` (errors name the
//!   bad part and never echo it), and sets TLS (rustls + ring, system roots, an optional CA
//!   bundle, an explicit opt-out of verification), timeouts, user agent, retries and an
//!   optional [`RequestObserver`] for metrics.
//! - [`MaasClient`] signs every request with OAuth 1.0 HMAC-SHA1 as MAAS verifies it (fresh
//!   nonce and timestamp; [`SignatureMethod::Plaintext`] on request, [`RequestSigner`] for
//!   requests you send yourself),
//!   puts `op=` in the query string, sends form fields (multipart when `user_data` or a large
//!   value is present), repeats keys for lists, and always adds the trailing slash MAAS needs.
//! - Every failure is an [`Error`] that keeps MAAS's message and has a [`ErrorClass`]
//!   (`Transient`, `Capacity`, `Permanent`) and [`Error::retry_after`].
//! - Transient failures are retried with exponential backoff and full jitter within a budget
//!   ([`RetryPolicy`]); non-idempotent calls (allocate, deploy, compose, create…) are retried
//!   only when MAAS said it did not act; [`Error::maas_may_have_acted`] tells a caller whether
//!   a failed call's outcome is unknown. See `docs/maas-api.md`.
//! - [`MaasApi`] is the trait a controller programs against; the `mock` feature adds
//!   `MockMaasApi`.
//! - Secrets (token secret, `user_data`, VM host passwords and keys) never appear in logs,
//!   errors or `Debug` output: every MAAS answer is redacted before an error is built from it
//!   (MAAS's 401 echoes the signature base string, which for PLAINTEXT is the secret itself).
//!
//! ```no_run
//! use maas_api::{AllocateParams, ClientConfig, DeployParams, MaasClient, ErrorClass};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new(
//!     "http://maas.example:5240/MAAS",
//!     &std::env::var("MAAS_API_KEY")?,
//! )?;
//! let maas = MaasClient::new(config)?;
//! println!("logged in as {}", maas.whoami().await?.username);
//!
//! let wanted = AllocateParams::new().cpu_count(4).mem(8192).tag("k8s").agent_name("my-cluster");
//! match maas.allocate(&wanted).await {
//!     Ok(machine) => {
//!         let deploy = DeployParams::new().distro_series("jammy").user_data(b"#cloud-config\n".to_vec());
//!         let machine = maas.deploy(&machine.system_id, &deploy).await?;
//!         println!("{} is {}", machine.hostname, machine.status);
//!     }
//!     Err(e) if e.class() == ErrorClass::Capacity => println!("no capacity: {}", e.message()),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod auth;
mod client;
mod config;
mod error;
mod form;
pub mod models;
mod observer;
mod ops;
mod params;
mod redact;
mod retry;
mod tls;

pub use api::MaasApi;
#[cfg(feature = "mock")]
pub use api::MockMaasApi;
pub use auth::{RequestSigner, SignatureMethod, UnknownSignatureMethod};
pub use client::{MaasClient, decode_json};
pub use config::{
    API_PATH, ApiKey, ApiKeyError, ClientConfig, ConfigError, Endpoint, KeyPart, TlsOptions,
    default_user_agent,
};
pub use error::{Error, ErrorClass, TransportKind, parse_retry_after};
pub use form::{InterfaceSpec, StorageSpec};
pub use models::*;
pub use observer::{RequestEvent, RequestObserver};
pub use params::{
    AllocateParams, ComposeParams, DeployParams, DnsResourceFilter, DnsResourceParams,
    DnsResourceRecordFilter, DnsResourceRecordParams, EventLevel, EventQuery, LinkMode,
    LinkSubnetParams, MachineFilter, PowerOffParams, ReleaseParams, ReserveIpParams, Secret,
    StopMode, TagCreateParams, UserData, VmHostCreateParams, VmHostType, VmHostUpdateParams,
};
pub use retry::{Idempotency, RetryPolicy, may_retry};
pub use tls::parse_ca_bundle;
