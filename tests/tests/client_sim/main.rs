#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `maas-api` against an in-process `maas-sim`: every client operation, the error mapping end to
//! end, retries against simulator faults, and the MAAS version profiles 3.4–3.8.

mod auth;
mod common;
mod errors;
mod machines;
mod network;
mod retries;
mod versions;
mod vmhosts;
