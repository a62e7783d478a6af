//! The narrow traits the domain needs from the outside world.
//!
//! A use case begins a transaction with [`Store::begin`], works through the
//! [`Tx`] it gets (every repository trait is implemented by it), and calls
//! [`Tx::commit`] once. Dropping a `Tx` without committing rolls it back.
//! Reads that feed a write take the row lock (`lock = true`), so two
//! concurrent read-modify-write use cases on one pool serialise instead of
//! losing an update.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::error::StoreError;
use crate::ids::AccountId;
use crate::pool::{IdentityPool, PoolSummary, PrincipalTagMap};

/// Opens transactions.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Begin a transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// One transaction, with every repository.
#[async_trait]
pub trait Tx: PoolRepo + crate::token::KeyRepo + Send {
    /// Commit everything done through this transaction.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Identity-pool rows.
#[async_trait]
pub trait PoolRepo {
    /// Serialise pool creation per account (the pool limit counts safely).
    async fn lock_account(&mut self, account: &AccountId) -> Result<(), StoreError>;
    /// How many pools the account has.
    async fn count_pools(&mut self, account: &AccountId) -> Result<u64, StoreError>;
    /// Insert a new pool.
    async fn insert_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError>;
    /// The pool with this id if `account` owns it; `lock` takes its row lock.
    async fn find_pool(
        &mut self,
        account: &AccountId,
        pool_id: &str,
        lock: bool,
    ) -> Result<Option<IdentityPool>, StoreError>;
    /// Write back every mutable field of a pool read with `lock = true`.
    async fn save_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError>;
    /// Delete a pool with everything in it; false when there was none.
    async fn delete_pool(&mut self, account: &AccountId, pool_id: &str)
        -> Result<bool, StoreError>;
    /// Pools of an account in creation order, after the cursor.
    async fn list_pools(
        &mut self,
        account: &AccountId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, PoolSummary)>, StoreError>;
    /// The principal-tag map of a provider of a pool, if set.
    async fn find_principal_tag_map(
        &mut self,
        pool_id: &str,
        provider: &str,
    ) -> Result<Option<PrincipalTagMap>, StoreError>;
    /// Create or replace the principal-tag map of a provider of a pool.
    async fn put_principal_tag_map(
        &mut self,
        pool_id: &str,
        map: &PrincipalTagMap,
    ) -> Result<(), StoreError>;
}

/// The time, injectable for tests.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
