//! The runtime layer: the shared state of a running simulator, its HTTP
//! server, ticker and control API (`/_sim/`), the builder, and real LXD
//! discovery.

pub(crate) mod control;
pub(crate) mod latency;
pub(crate) mod log;
pub(crate) mod lxd_discovery;
pub(crate) mod server;
pub(crate) mod shared;
pub(crate) mod sim;
