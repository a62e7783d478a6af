//! Use cases. Each public method is one transaction.
//!
//! # Layout
//! - [`pools`] — the identity-pool management plane.

pub mod pools;

pub use pools::{Limits, PoolService};
