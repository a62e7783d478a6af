//! Request-rate quotas: the rule (rate and burst per account and operation)
//! and the two narrow ports the enforcement needs.
//!
//! The enforcement itself (local buckets, leases, the owner cache) lives in
//! the API layer, which is where a request is admitted or refused; see
//! `cognate_api::quota`. The SQL behind the ports lives in the store.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::ids::{AccountId, IdentityId, IdentityPoolId};
use crate::ports::StoreError;

/// Requests per second allowed per account and operation, with per-account
/// overrides. A rate of 0 means unlimited.
#[derive(Debug, Clone, Default)]
pub struct QuotaTable {
    defaults: HashMap<String, u32>,
    accounts: HashMap<AccountId, HashMap<String, u32>>,
}

/// The limit of one (account, operation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Sustained requests per second.
    pub rate: u32,
    /// Requests admitted at once after a quiet spell: one second's worth
    /// (`rate`), so a client that paces itself at the quota is never
    /// refused, and an idle account can start with a second of traffic.
    pub burst: u32,
}

impl QuotaTable {
    /// A table of `defaults` (operation → rate) without overrides.
    pub fn new(defaults: HashMap<String, u32>) -> Self {
        QuotaTable {
            defaults,
            accounts: HashMap::new(),
        }
    }

    /// Override some operations' rates for one account.
    pub fn with_account(mut self, account: AccountId, rates: HashMap<String, u32>) -> Self {
        self.accounts.entry(account).or_default().extend(rates);
        self
    }

    /// The limit of `operation` for `account`; `None` when unlimited.
    pub fn limit(&self, account: &AccountId, operation: &str) -> Option<Limit> {
        let rate = self
            .accounts
            .get(account)
            .and_then(|rates| rates.get(operation))
            .or_else(|| self.defaults.get(operation))
            .copied()
            .unwrap_or(0);
        (rate > 0).then_some(Limit { rate, burst: rate })
    }
}

/// What a lease from the shared bucket gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// Tokens granted now (0 to the number asked for).
    pub granted: u32,
    /// Tokens left in the shared bucket after the grant (fractional).
    pub left: f64,
}

/// The shared part of the quotas: one token bucket per (account,
/// operation) that every instance leases from.
#[async_trait]
pub trait QuotaLedger: Send + Sync + 'static {
    /// Refill the bucket of (account, operation) at `limit.rate` up to
    /// `limit.burst` and take up to `want` whole tokens, atomically.
    async fn lease(
        &self,
        account: &AccountId,
        operation: &str,
        limit: Limit,
        want: u32,
    ) -> Result<Lease, StoreError>;
}

/// Who owns what an unsigned call names. Ids never change owner, so the
/// answers may be cached forever.
#[async_trait]
pub trait OwnerDirectory: Send + Sync + 'static {
    /// The account owning the pool, if the pool exists.
    async fn pool_owner(&self, pool_id: &IdentityPoolId) -> Result<Option<AccountId>, StoreError>;
    /// The pool and account owning the identity, if it exists.
    async fn identity_owner(
        &self,
        identity_id: &IdentityId,
    ) -> Result<Option<(IdentityPoolId, AccountId)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    #[test]
    fn an_account_override_wins_over_the_default_and_zero_is_unlimited() {
        let table = QuotaTable::new(HashMap::from([
            ("GetId".to_owned(), 25),
            ("ListIdentities".to_owned(), 0),
        ]))
        .with_account(account("1"), HashMap::from([("GetId".to_owned(), 500)]));
        assert_eq!(table.limit(&account("1"), "GetId").unwrap().rate, 500);
        assert_eq!(table.limit(&account("2"), "GetId").unwrap().rate, 25);
        assert_eq!(table.limit(&account("2"), "GetId").unwrap().burst, 25);
        assert!(table.limit(&account("2"), "ListIdentities").is_none());
        assert!(table.limit(&account("2"), "DescribeIdentity").is_none());
    }
}
