//! Cognate's domain: identity pools, identities and logins, and the rules
//! Amazon Cognito Identity applies to them.
//!
//! This crate has no HTTP framework, no SQL driver and no crypto: it holds
//! the rules and the use-case services, and it talks to the outside world
//! only through the narrow traits in [`ports`]. Each service method owns its
//! transaction: it begins one through [`ports::Store`], does all its reads
//! and writes through the [`ports::Tx`] it got, and commits once.
//!
//! # Layout
//! - [`audit`] — the audit record, the change a use case describes, and the
//!   ports that write records (in the change's transaction) and look them up.
//! - [`ids`] — parsed identifiers (`<region>:<uuid>` ids, account ids, ARNs).
//! - [`credentials`] — role choice and the STS port (GetCredentialsForIdentity).
//! - [`federation`] — the port for checking upstream providers' tokens.
//! - [`identity`] — identities, logins, and their states.
//! - [`pool`] — the identity-pool configuration and the rules on it.
//! - [`error`] — the error every service returns, one variant per AWS code.
//! - [`ports`] — storage and clock traits implemented by other crates.
//! - [`quota`] — request-rate quotas: the table, and the ports that share them.
//! - [`service`] — the use cases, one module per area.
//! - [`share`] — which share of the database connections the running call may use.
//! - [`token`] — claims of Cognate's own tokens, the signer and key-storage ports.
//! - `test_support` (feature `test-support`) — an in-memory store with the
//!   store's semantics, fakes of the other ports, and proptest strategies for
//!   what clients control (arbitrary JSON), shared by the crates' property tests.

pub mod audit;
pub mod credentials;
pub mod error;
pub mod federation;
pub mod identity;
pub mod ids;
pub mod pool;
pub mod ports;
pub mod quota;
pub mod service;
pub mod share;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod token;

pub use error::{DomainError, DomainResult};
