//! Cross-crate tests of the workspace.
//!
//! - `tests/client_sim/`: every `maas_api::MaasClient` operation against an in-process
//!   `maas_sim` simulator, the error mapping end to end, retries against simulator faults and
//!   the MAAS version profiles 3.4–3.8 (`cargo test -p workspace-tests`).
//! - `third-party/`: python-libmaas and juju's gomaasapi driving the `maas-sim` binary
//!   (`make test-clients`).
//!
//! See `docs/conformance.md`.
