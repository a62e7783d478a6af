//! Use cases. Each public method is one transaction.
//!
//! # Layout
//! - [`pools`] — the identity-pool management plane.
//! - [`identities`] — identities, developer identities and Cognate's tokens.
//! - [`paging`] — opaque NextTokens.

pub mod identities;
pub mod paging;
pub mod pools;

pub use identities::IdentityService;
pub use pools::{Limits, PoolService};

#[cfg(test)]
mod tests;
