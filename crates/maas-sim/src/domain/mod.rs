//! The domain layer: MAAS's behaviour on the simulator's state — machines
//! and their state machine, allocation constraints, VM hosts, networking
//! and DNS, MAAS's forms and validators. It answers in MAAS's terms
//! ([`error::MaasError`]: MAAS's exception classes), never in HTTP types.

pub(crate) mod constraints;
pub(crate) mod dns;
pub(crate) mod dnsdata;
pub(crate) mod error;
#[cfg(test)]
mod invariants;
pub(crate) mod inventory;
pub(crate) mod machines;
pub(crate) mod network;
pub(crate) mod params;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod validate;
pub(crate) mod vmhost;
