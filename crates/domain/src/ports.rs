//! The narrow traits the domain needs from the outside world.
//!
//! A use case begins a transaction with [`Store::begin`], works through the
//! [`Tx`] it gets (the pool and identity repositories), and calls
//! [`Tx::commit`] once. The hot public paths that only read, or write one
//! row, use the [`Store`]'s own one-statement methods instead (see there); the signing keys have their own narrower port,
//! [`crate::token::KeyStore`], so the key manager depends on nothing else.
//! Every lock a rule depends on is named in the method that takes it. Dropping a `Tx` without committing rolls it back.
//! Reads that feed a write take the row lock (`lock = true`), so two
//! concurrent read-modify-write use cases on one pool serialise instead of
//! losing an update.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::audit::AuditRepo;
pub use crate::error::StoreError;
use crate::identity::{Identity, IdentityDescription, Login, LoginClaim, RowLock};
use crate::ids::{AccountId, DeveloperUserIdentifier, IdentityId, IdentityPoolId, ProviderName};
use crate::pool::{IdentityPool, PoolSummary, PrincipalTagMap};

/// Opens transactions, and answers the hot paths' one-statement calls.
///
/// Each `read_*` method is **one statement outside any transaction**: it
/// sees what had committed when it started (one snapshot), takes no lock
/// and waits for none. A decision made from it is linearisable at that
/// read: a request that starts after a deletion (or merge, or a pool
/// update) committed sees it, and one that read before may still finish.
/// What a rule must see together is read by one call, never by two.
/// [`Store::insert_guest_identity_if_pool_takes_guests`] is one statement too, committed when
/// it returns.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Begin a transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// The pool with this id, whoever owns it (for the public operations),
    /// and the version of its row.
    async fn read_pool(
        &self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<(IdentityPool, PoolVersion)>, StoreError>;
    /// The identity with this id and its pool, from one snapshot (the pool
    /// is `None` only if a store lets an identity outlive its pool).
    async fn read_identity_with_pool(
        &self,
        identity_id: &IdentityId,
    ) -> Result<Option<(Identity, Option<IdentityPool>)>, StoreError>;
    /// For each `(provider, subject)` of the pool, the identity its login
    /// is linked to, every identity among those and `also` that exists,
    /// and the pool's version: all from one snapshot. With `providers`,
    /// also the provider names of each such identity's logins (the `amr`
    /// of a token minted from this snapshot, with no transaction).
    async fn read_login_owners(
        &self,
        pool_id: &IdentityPoolId,
        logins: &[(ProviderName, String)],
        also: &[IdentityId],
        providers: bool,
    ) -> Result<LoginOwners, StoreError>;
    /// Insert a new guest identity if its pool exists and takes guests
    /// ([`PoolSettings::takes_guests`](crate::pool::PoolSettings::takes_guests),
    /// the guest rule), checked by the insert itself:
    /// false when the pool is gone or takes no guests. A pool deletion or
    /// update that committed before the call began is seen. Committed when
    /// it returns.
    async fn insert_guest_identity_if_pool_takes_guests(
        &self,
        identity: &Identity,
    ) -> Result<bool, StoreError>;
    /// A call got [`StoreError::Unavailable`] (it changed nothing): wait, at
    /// most until `deadline`, for the database to be back; whether it is.
    async fn wait_until_available(&self, _deadline: std::time::Instant) -> bool {
        true
    }
    /// Whether the store believes a writable database is reachable now.
    fn is_available(&self) -> bool {
        true
    }
}

/// What [`Store::read_login_owners`] found, from one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginOwners {
    /// The owner of each login asked for, in the order asked.
    pub owners: Vec<Option<IdentityId>>,
    /// The identities that exist among the owners and those asked for.
    pub identities: Vec<Identity>,
    /// The version of the pool's row (`None`: the pool is gone).
    pub pool_version: Option<PoolVersion>,
    /// The distinct provider names of each identity's logins, sorted, when
    /// asked for (else empty).
    pub providers: BTreeMap<IdentityId, Vec<ProviderName>>,
}

/// Which committed write of a pool's row a read saw. Two reads that show
/// the same version saw the same pool: any write makes a new version
/// (PostgreSQL: the row's `xmin`, the transaction that wrote it), so a
/// pool read earlier can be checked against a later snapshot by comparing
/// versions alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolVersion(pub u64);

/// One transaction over pools and identities, and the audit records of the
/// changes made in it (the signing keys have their own, narrower port:
/// [`crate::token::KeyStore`]).
#[async_trait]
pub trait Tx: PoolRepo + IdentityRepo + AuditRepo + Send {
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
        pool_id: &IdentityPoolId,
        lock: bool,
    ) -> Result<Option<IdentityPool>, StoreError>;
    /// Write back every mutable field of a pool read with `lock = true`.
    async fn save_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError>;
    /// Delete a pool with everything in it; the pool as it was, `None` when
    /// there was none. Takes the pool's lock exclusively first (see
    /// [`IdentityRepo::find_pool_by_id_shared`]).
    async fn delete_pool(
        &mut self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<IdentityPool>, StoreError>;
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
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
    ) -> Result<Option<PrincipalTagMap>, StoreError>;
    /// Create or replace the principal-tag map of a provider of a pool.
    async fn put_principal_tag_map(
        &mut self,
        pool_id: &IdentityPoolId,
        map: &PrincipalTagMap,
    ) -> Result<(), StoreError>;
}

/// Identity and login rows.
#[async_trait]
pub trait IdentityRepo: Send {
    /// The pool with this id, whoever owns it (for the public operations),
    /// holding the pool's **shared** lock until the transaction ends.
    /// `delete_pool` takes the same lock exclusively, so a pool deletion
    /// waits for the identities and tokens being made in the pool, and none
    /// is made after a deletion committed (the rule the race tests prove).
    async fn find_pool_by_id_shared(
        &mut self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<IdentityPool>, StoreError>;
    /// Insert a new identity.
    async fn insert_identity(&mut self, identity: &Identity) -> Result<(), StoreError>;
    /// The identity with this id, locked as asked.
    async fn find_identity(
        &mut self,
        identity_id: &IdentityId,
        lock: RowLock,
    ) -> Result<Option<Identity>, StoreError>;
    /// Write back `authenticated`, `disabled` and `last_modified_at`.
    async fn update_identity(&mut self, identity: &Identity) -> Result<(), StoreError>;
    /// Delete an identity and its logins; false when there was none.
    async fn delete_identity(&mut self, identity_id: &IdentityId) -> Result<bool, StoreError>;
    /// The identity a login is linked to, if any.
    async fn find_login(
        &mut self,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
        subject: &str,
    ) -> Result<Option<IdentityId>, StoreError>;
    /// Link a login unless it is linked already (then say to which identity).
    async fn insert_login(&mut self, login: &Login) -> Result<LoginClaim, StoreError>;
    /// Unlink a login from `identity_id`; false when it was not linked there.
    async fn delete_login(
        &mut self,
        identity_id: &IdentityId,
        provider: &ProviderName,
        subject: &str,
    ) -> Result<bool, StoreError>;
    /// Every login of an identity, oldest first.
    async fn logins_of(&mut self, identity_id: &IdentityId) -> Result<Vec<Login>, StoreError>;
    /// Move every login of `from` to `to`.
    async fn move_logins(&mut self, from: &IdentityId, to: &IdentityId) -> Result<u64, StoreError>;
    /// Identities of a pool in creation order, after the cursor.
    async fn list_identities(
        &mut self,
        pool_id: &IdentityPoolId,
        after: Option<i64>,
        limit: u32,
        hide_disabled: bool,
    ) -> Result<Vec<(i64, IdentityDescription)>, StoreError>;
    /// How many identities a pool has, counting no further than `cap`
    /// (so the cost is bounded whatever the pool's size).
    async fn count_identities(
        &mut self,
        pool_id: &IdentityPoolId,
        cap: u64,
    ) -> Result<u64, StoreError>;
    /// Developer user identifiers of an identity for a provider, oldest first.
    async fn developer_ids_of(
        &mut self,
        identity_id: &IdentityId,
        provider: &ProviderName,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, DeveloperUserIdentifier)>, StoreError>;
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
