//! A differential checker for MAAS endpoints: it sends one request corpus to two MAAS API
//! endpoints (a real region and maas-sim, or two simulator profiles) and compares each pair
//! of answers — status, content type, the JSON shape of 2xx answers (key sets and types,
//! recursively: machines, interfaces, links, subnets…), and the exact error texts — with
//! ids, keys, nonces and the endpoint's address normalised. It prints every difference and
//! a score. See `docs/maas-sim.md` ("Differential checker").
//!
//! The corpus (`corpus/default.yaml`) is data: fixtures each endpoint gets (found by name or
//! created, and deleted after when created), then the cases, in order.

pub mod compare;
pub mod corpus;
pub mod endpoint;
mod report;
pub mod run;

pub use compare::{Answer, Body, Comparison, Normaliser, Shape};
pub use corpus::{Auth, Corpus};
pub use endpoint::EndpointConfig;
pub use run::{CaseResult, Report, RunOptions, Score, run};
