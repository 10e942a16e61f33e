//! The logic behind the `vmhost-test` and `maas-test` CLIs, so that the
//! binaries stay thin and the behaviour is testable:
//!
//! - [`vmhost`]: register a node's LXD as a MAAS VM host idempotently
//!   (matched by name, host machine or address; zone, pool, project and
//!   credential drift corrected), refresh it and report its resources, with
//!   clear failures for 401, 403 (not an admin's key), 410 (MAAS ≥ 3.8
//!   removed VM hosts) and 503 (MAAS cannot reach LXD, or LXD does not trust
//!   MAAS).
//! - [`smoke`]: a MAAS smoke test: connectivity and auth, a machine
//!   lifecycle (allocate → deploy, optionally in memory → release), and a VM
//!   host test (choose a host by zone and pool, compose a VM, optionally with
//!   a static IP, wait until Ready, delete it), cleaning up unless asked to
//!   keep things.
//! - [`embedded`]: the in-process `maas-sim` behind `maas-test --embedded`.
//! - [`cli`]: the conventions every CLI of the project follows (exit codes
//!   0/1/2, one-line bad input, logs and progress on stderr).
//! - [`target`]: endpoint, API key (never shown) and TLS of the MAAS to use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use maas_checks::{cli::Progress, target::MaasTarget, vmhost};
//! let maas = MaasTarget::new("http://maas:5240/MAAS", std::env::var("MAAS_API_KEY")?).client()?;
//! let opts = vmhost::RegisterOptions::new("10.0.0.5".parse()?);
//! let report = vmhost::register(&maas, &opts, &Progress::stderr()).await;
//! print!("{}", report.render_text());
//! # Ok(()) }
//! ```

pub mod cli;
pub mod embedded;
pub mod smoke;
pub mod target;
pub mod vmhost;
