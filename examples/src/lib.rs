//! Runnable examples of the project's libraries, and the code behind them.
//!
//! - [`lifecycle`]: allocate, deploy (one machine in memory), wait, release
//!   with `maas-api`; run by `examples/lifecycle.rs` and `make demo-maas`
//!   (see `docs/demo.md`).

pub mod lifecycle;
