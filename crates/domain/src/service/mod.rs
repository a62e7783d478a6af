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

/// Write the record of `change` in `tx`, if the call is recorded.
pub(crate) async fn record(
    tx: &mut Box<dyn crate::ports::Tx>,
    audit: &dyn crate::audit::Recorder,
    change: crate::audit::Change<'_>,
) -> crate::error::DomainResult<()> {
    if let Some(record) = audit.record(&change) {
        tx.append_audit(&record).await?;
    }
    Ok(())
}
