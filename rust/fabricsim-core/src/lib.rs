//! fabricsim-core: the pure-Rust engine of fabricsim.
//!
//! No Python in here: plain data in, plain data out, tested with `cargo test`.
//! - [`network`]: a fabric as directed links in CSR form.
//! - [`demand`]: the flows to run (endpoints, sizes, times, dependencies).
//! - [`routing`]: equal-cost shortest paths, ECMP hashing and packet spraying.
//! - [`engine`]: event-driven, max-min fair flow-level simulation over a flow DAG.
//!
//! Units are SI throughout: bytes, bytes/s, seconds.

pub mod background;
mod csr;
pub mod demand;
pub mod engine;
pub mod error;
pub mod montecarlo;
pub mod network;
pub mod parallel;
pub mod rng;
pub mod routing;

pub use demand::Demand;
pub use error::{CoreError, Result};
pub use network::Network;
