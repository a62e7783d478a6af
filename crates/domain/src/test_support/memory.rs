//! [`MemoryStore`]: the storage ports ([`Store`], [`Tx`]) in memory, with
//! what the domain relies on from the PostgreSQL store (`cognate-store` and
//! `migrations/`):
//!
//! - **Uniqueness.** A pool or identity id exists once; a login
//!   `(pool, provider, subject)` once (inserting it again answers
//!   [`LoginClaim::Taken`] with its owner, as `ON CONFLICT DO NOTHING`
//!   does); an identity holds one public (non-developer) login per provider
//!   (`UniqueViolation("identity_logins_one_public_login_per_provider")`,
//!   also when [`IdentityRepo::move_logins`] would break it).
//! - **References.** An identity needs its pool, a login its identity, a
//!   principal-tag map its pool; deleting a pool deletes its identities,
//!   logins and maps; deleting an identity deletes its logins.
//! - **Atomicity.** A transaction works on its own copy of the data;
//!   [`Tx::commit`] publishes it, dropping the transaction without commit
//!   throws it away. A failed statement aborts the transaction: later
//!   statements fail and its commit publishes nothing (PostgreSQL answers
//!   `COMMIT` of an aborted transaction with a rollback).
//! - **Isolation and locks.** Transactions run one at a time: `begin` waits
//!   for the open one to end, and gives up after the lock timeout with
//!   [`StoreError::Contention`] (what the store's `lock_timeout` gives).
//!   That is stronger than any lock the ports document, so a rule that
//!   holds here holds under those locks as long as it takes them; each
//!   transaction's [`TxRecord`] in the [`journal`](MemoryStore::journal)
//!   lists the locks it asked for, so tests hold the use cases to the
//!   locking the ports document. The [`Store`]'s one-statement calls
//!   (`read_*`, `insert_identity`) wait for the open transaction too, see
//!   only committed data, take no lock and leave no journal record.
//!
//! Sequence numbers (the keyset-paging cursors) come from one counter, so
//! creation order is the order of `seq` as in the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OwnedMutexGuard;

use crate::audit::{Audience, AuditQuery, AuditRecord, AuditRepo, AuditStore, Usage};
use crate::error::StoreError;
use crate::identity::{Identity, IdentityDescription, Login, LoginClaim, RowLock};
use crate::ids::{AccountId, DeveloperUserIdentifier, IdentityId, IdentityPoolId, ProviderName};
use crate::pool::{IdentityPool, PoolSummary, PrincipalTagMap};
use crate::ports::{IdentityRepo, LoginOwners, PoolRepo, PoolVersion, Store, Tx};

/// How long `begin` waits for the open transaction by default (the
/// store's `lock_timeout`).
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A lock a transaction asked for, by the port method that takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lock {
    /// [`PoolRepo::lock_account`]: pool creation of the account serialised.
    Account(String),
    /// [`PoolRepo::find_pool`] with `lock = true`: the pool's row lock.
    PoolRow(IdentityPoolId),
    /// [`IdentityRepo::find_pool_by_id_shared`]: the pool's lock, shared.
    PoolShared(IdentityPoolId),
    /// [`PoolRepo::delete_pool`]: the pool's lock, exclusive.
    PoolExclusive(IdentityPoolId),
    /// [`IdentityRepo::find_identity`] with [`RowLock::Share`] or [`RowLock::Update`].
    Identity(IdentityId, RowLock),
}

/// What one transaction did, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// The locks it asked for, in order.
    pub locks: Vec<Lock>,
    /// Whether it committed (false: dropped, or aborted by a failed statement).
    pub committed: bool,
}

#[derive(Debug, Clone, Default)]
struct State {
    seq: i64,
    pools: BTreeMap<IdentityPoolId, (i64, IdentityPool)>,
    /// Each pool's row version: a fresh number on every write, as `xmin`.
    pool_versions: BTreeMap<IdentityPoolId, u64>,
    tag_maps: BTreeMap<(IdentityPoolId, ProviderName), PrincipalTagMap>,
    identities: BTreeMap<IdentityId, (i64, Identity)>,
    /// `(pool, provider, subject)` → the login.
    logins: BTreeMap<(IdentityPoolId, ProviderName, String), (i64, Login)>,
    /// Audit records, in the order written.
    audit: Vec<AuditRecord>,
}

impl State {
    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    /// A new version for the pool's row, which was just written.
    fn pool_written(&mut self, pool_id: &IdentityPoolId) {
        let version = self.next_seq().unsigned_abs();
        self.pool_versions.insert(pool_id.clone(), version);
    }

    /// The pool's row version; `None` when the pool is gone (the two maps
    /// gain and lose a pool together).
    fn pool_version(&self, pool_id: &IdentityPoolId) -> Option<PoolVersion> {
        self.pool_versions.get(pool_id).copied().map(PoolVersion)
    }

    fn public_login_clash(&self, identity_id: &IdentityId, provider: &str) -> bool {
        self.logins
            .values()
            .any(|(_, l)| l.identity_id == *identity_id && l.provider == provider && !l.developer)
    }
}

/// The storage ports in memory; see the module docs for what it keeps of
/// the PostgreSQL store. Cheap to clone: clones share the data.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    state: Arc<tokio::sync::Mutex<State>>,
    journal: Arc<Mutex<Vec<TxRecord>>>,
    lock_timeout: Duration,
    pool_reads: Arc<AtomicUsize>,
    statements: Arc<AtomicUsize>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            state: Arc::default(),
            journal: Arc::default(),
            lock_timeout: LOCK_TIMEOUT,
            pool_reads: Arc::default(),
            statements: Arc::default(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same store, with `begin` giving up after `timeout` instead of 5 s.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Every transaction that ended so far, oldest first.
    pub fn journal(&self) -> Vec<TxRecord> {
        self.journal.lock().expect("journal lock").clone()
    }

    /// Forget the journal (to look at what one use case does).
    pub fn clear_journal(&self) {
        self.journal.lock().expect("journal lock").clear();
    }

    /// How many times [`Store::read_pool`] was called.
    pub fn pool_reads(&self) -> usize {
        self.pool_reads.load(Ordering::Relaxed)
    }

    /// How many reads outside a transaction other than
    /// [`Store::read_pool`] were made (each one statement in PostgreSQL).
    pub fn snapshot_statements(&self) -> usize {
        self.statements.load(Ordering::Relaxed)
    }

    /// The committed identity with this id.
    pub async fn identity(&self, identity_id: &IdentityId) -> Option<Identity> {
        let state = self.state.lock().await;
        state.identities.get(identity_id).map(|(_, i)| i.clone())
    }

    /// The committed logins of an identity, oldest first.
    pub async fn logins(&self, identity_id: &IdentityId) -> Vec<Login> {
        let state = self.state.lock().await;
        let mut rows: Vec<&(i64, Login)> = state
            .logins
            .values()
            .filter(|(_, l)| l.identity_id == *identity_id)
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        rows.into_iter().map(|(_, l)| l.clone()).collect()
    }

    /// How many identities (of any pool) are committed.
    pub async fn identity_count(&self) -> usize {
        self.state.lock().await.identities.len()
    }

    /// How many principal-tag maps (of any pool) are committed.
    pub async fn principal_tag_map_count(&self) -> usize {
        self.state.lock().await.tag_maps.len()
    }

    /// The committed audit records, in the order written.
    pub async fn audit_records(&self) -> Vec<AuditRecord> {
        self.state.lock().await.audit.clone()
    }
}

#[async_trait]
impl AuditRepo for MemoryTx {
    async fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        self.live()?.audit.push(record.clone());
        Ok(())
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.committed().await?.audit.extend_from_slice(records);
        Ok(())
    }

    async fn lookup(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let state = self.committed().await?;
        let mut found: Vec<AuditRecord> = state
            .audit
            .iter()
            .filter(|r| matches(query, r))
            .cloned()
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse((r.event_time, r.event_id)));
        if query.oldest_first {
            found.reverse();
        }
        found.truncate(query.limit as usize);
        Ok(found)
    }

    async fn ensure_partitions(
        &self,
        _: chrono::NaiveDate,
        _: chrono::NaiveDate,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn usage(
        &self,
        account: &AccountId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Usage>, StoreError> {
        let state = self.committed().await?;
        let mine = state
            .audit
            .iter()
            .filter(|r| r.event_time >= since && r.audience == Audience::Account(account.clone()));
        Ok(Usage::of(mine))
    }

    async fn drop_partitions_before(
        &self,
        day: chrono::NaiveDate,
    ) -> Result<Vec<chrono::NaiveDate>, StoreError> {
        let mut state = self.committed().await?;
        let mut dropped: BTreeSet<chrono::NaiveDate> = BTreeSet::new();
        state.audit.retain(|r| {
            let keep = r.event_time.date_naive() >= day;
            if !keep {
                dropped.insert(r.event_time.date_naive());
            }
            keep
        });
        Ok(dropped.into_iter().collect())
    }
}

/// Whether `record` is one `query` asks for (the store's SQL, in memory).
fn matches(query: &AuditQuery, record: &AuditRecord) -> bool {
    let text = |want: &Option<String>, have: &Option<String>| {
        want.as_ref()
            .is_none_or(|w| have.as_deref() == Some(w.as_str()))
    };
    let audience = match (&query.account, &record.audience) {
        (None, _) => true,
        (Some(_), Audience::Everyone) => true,
        (Some(a), Audience::Account(b)) => a == b,
        (Some(_), Audience::Operators) => false,
    };
    audience
        && query.event_id.is_none_or(|id| id == record.event_id)
        && query
            .event_name
            .as_ref()
            .is_none_or(|n| n == &record.event_name)
        && query
            .event_source
            .as_ref()
            .is_none_or(|s| s == &record.event_source)
        && query.read_only.is_none_or(|r| r == record.read_only)
        && text(&query.username, &record.username)
        && text(&query.access_key_id, &record.access_key_id)
        && query.resource_name.as_ref().is_none_or(|name| {
            record.pool_id.as_deref() == Some(name.as_str())
                || record.identity_id.as_deref() == Some(name.as_str())
        })
        && query.resource_kind.is_none_or(|kind| match kind {
            crate::audit::ResourceKind::Pool => record.pool_id.is_some(),
            crate::audit::ResourceKind::Identity => record.identity_id.is_some(),
        })
        && query
            .error_code
            .as_ref()
            .is_none_or(|code| match &record.error_code {
                Some(have) => code.is_empty() || have == code,
                None => false,
            })
        && query.start.is_none_or(|t| record.event_time >= t)
        && query.end.is_none_or(|t| record.event_time <= t)
        && query
            .before
            .is_none_or(|b| (record.event_time, record.event_id) < b)
        && query
            .after
            .is_none_or(|a| (record.event_time, record.event_id) > a)
}

#[async_trait]
impl Store for MemoryStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let guard = self.committed().await?;
        let work = guard.clone();
        Ok(Box::new(MemoryTx {
            guard: Some(guard),
            work,
            locks: Vec::new(),
            aborted: false,
            journal: self.journal.clone(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn read_pool(
        &self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<(IdentityPool, PoolVersion)>, StoreError> {
        self.pool_reads.fetch_add(1, Ordering::Relaxed);
        let state = self.committed().await?;
        Ok(state
            .pools
            .get(pool_id)
            .map(|(_, p)| p.clone())
            .zip(state.pool_version(pool_id)))
    }

    async fn read_identity_with_pool(
        &self,
        identity_id: &IdentityId,
    ) -> Result<Option<(Identity, Option<IdentityPool>)>, StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let state = self.committed().await?;
        Ok(state.identities.get(identity_id).map(|(_, i)| {
            let pool = state.pools.get(&i.pool_id).map(|(_, p)| p.clone());
            (i.clone(), pool)
        }))
    }

    async fn read_login_owners(
        &self,
        pool_id: &IdentityPoolId,
        logins: &[(ProviderName, String)],
        also: &[IdentityId],
        providers: bool,
    ) -> Result<LoginOwners, StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let state = self.committed().await?;
        let owners: Vec<Option<IdentityId>> = logins
            .iter()
            .map(|(provider, subject)| {
                state
                    .logins
                    .get(&(pool_id.clone(), provider.clone(), subject.clone()))
                    .map(|(_, l)| l.identity_id.clone())
            })
            .collect();
        let ids: BTreeSet<&IdentityId> = owners.iter().flatten().chain(also).collect();
        let identities: Vec<Identity> = ids
            .into_iter()
            .filter_map(|id| state.identities.get(id).map(|(_, i)| i.clone()))
            .collect();
        let providers = if providers {
            let of = |id: &IdentityId| -> Vec<ProviderName> {
                let names: BTreeSet<&ProviderName> = state
                    .logins
                    .values()
                    .filter(|(_, l)| &l.identity_id == id)
                    .map(|(_, l)| &l.provider)
                    .collect();
                names.into_iter().cloned().collect()
            };
            identities
                .iter()
                .map(|i| (i.id.clone(), of(&i.id)))
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(LoginOwners {
            owners,
            identities,
            pool_version: state.pool_version(pool_id),
            providers,
        })
    }

    async fn insert_guest_identity_if_pool_takes_guests(
        &self,
        identity: &Identity,
    ) -> Result<bool, StoreError> {
        let mut state = self.committed().await?;
        if state.identities.contains_key(&identity.id) {
            return Err(StoreError::UniqueViolation("identities_pkey".into()));
        }
        let takes_guests = state
            .pools
            .get(&identity.pool_id)
            .is_some_and(|(_, p)| p.settings.takes_guests());
        if !takes_guests {
            return Ok(false);
        }
        let seq = state.next_seq();
        state
            .identities
            .insert(identity.id.clone(), (seq, identity.clone()));
        Ok(true)
    }
}

impl MemoryStore {
    /// The committed data, for a one-statement call: it waits for the open
    /// transaction as `begin` does (a statement of PostgreSQL would not,
    /// but would see only what committed, which is the same data).
    async fn committed(&self) -> Result<OwnedMutexGuard<State>, StoreError> {
        tokio::time::timeout(self.lock_timeout, self.state.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Contention)
    }
}

/// One transaction of a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryTx {
    /// Held until the transaction ends; `None` once it did.
    guard: Option<OwnedMutexGuard<State>>,
    /// This transaction's copy of the data.
    work: State,
    locks: Vec<Lock>,
    aborted: bool,
    journal: Arc<Mutex<Vec<TxRecord>>>,
}

impl MemoryTx {
    fn end(&mut self, committed: bool) {
        if self.guard.take().is_some() {
            self.journal.lock().expect("journal lock").push(TxRecord {
                locks: std::mem::take(&mut self.locks),
                committed,
            });
        }
    }

    /// Fail like PostgreSQL once a statement of the transaction failed.
    fn live(&mut self) -> Result<&mut State, StoreError> {
        if self.aborted {
            return Err(other(
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        Ok(&mut self.work)
    }

    /// A failed statement aborts the transaction.
    fn fail<T>(&mut self, err: StoreError) -> Result<T, StoreError> {
        self.aborted = true;
        Err(err)
    }
}

impl Drop for MemoryTx {
    fn drop(&mut self) {
        self.end(false);
    }
}

fn other(message: &str) -> StoreError {
    StoreError::Other(message.into())
}

fn foreign_key(constraint: &str) -> StoreError {
    other(&format!(
        "insert or update violates foreign key constraint {constraint}"
    ))
}

#[async_trait]
impl Tx for MemoryTx {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        if self.aborted {
            self.end(false);
            return Err(other("the transaction was aborted and rolled back"));
        }
        let work = std::mem::take(&mut self.work);
        if let Some(guard) = self.guard.as_mut() {
            **guard = work;
        }
        self.end(true);
        Ok(())
    }
}

#[async_trait]
impl PoolRepo for MemoryTx {
    async fn lock_account(&mut self, account: &AccountId) -> Result<(), StoreError> {
        self.live()?;
        self.locks.push(Lock::Account(account.to_string()));
        Ok(())
    }

    async fn count_pools(&mut self, account: &AccountId) -> Result<u64, StoreError> {
        let state = self.live()?;
        Ok(state
            .pools
            .values()
            .filter(|(_, p)| &p.account_id == account)
            .count() as u64)
    }

    async fn insert_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError> {
        let state = self.live()?;
        if state.pools.contains_key(&pool.id) {
            return self.fail(StoreError::UniqueViolation("identity_pools_pkey".into()));
        }
        let seq = state.next_seq();
        state.pools.insert(pool.id.clone(), (seq, pool.clone()));
        state.pool_written(&pool.id);
        Ok(())
    }

    async fn find_pool(
        &mut self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        lock: bool,
    ) -> Result<Option<IdentityPool>, StoreError> {
        self.live()?;
        if lock {
            self.locks.push(Lock::PoolRow(pool_id.clone()));
        }
        Ok(self
            .work
            .pools
            .get(pool_id)
            .filter(|(_, p)| &p.account_id == account)
            .map(|(_, p)| p.clone()))
    }

    async fn save_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError> {
        let state = self.live()?;
        if let Some((_, stored)) = state.pools.get_mut(&pool.id) {
            // What the store's UPDATE writes: everything but the id, the
            // owner and the creation time.
            stored.settings = pool.settings.clone();
            stored.tags = pool.tags.clone();
            stored.roles = pool.roles.clone();
            stored.role_mappings = pool.role_mappings.clone();
            stored.updated_at = pool.updated_at;
            state.pool_written(&pool.id);
        }
        Ok(())
    }

    async fn delete_pool(
        &mut self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<IdentityPool>, StoreError> {
        self.live()?;
        self.locks.push(Lock::PoolExclusive(pool_id.clone()));
        let state = &mut self.work;
        if state
            .pools
            .get(pool_id)
            .is_none_or(|(_, p)| &p.account_id != account)
        {
            return Ok(None);
        }
        let deleted = state.pools.remove(pool_id).map(|(_, pool)| pool);
        state.pool_versions.remove(pool_id);
        state.tag_maps.retain(|(pool, _), _| pool != pool_id);
        state.identities.retain(|_, (_, i)| i.pool_id != *pool_id);
        state.logins.retain(|(pool, _, _), _| pool != pool_id);
        Ok(deleted)
    }

    async fn list_pools(
        &mut self,
        account: &AccountId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, PoolSummary)>, StoreError> {
        let state = self.live()?;
        let rows = state
            .pools
            .values()
            .filter(|(_, p)| &p.account_id == account);
        let summaries = rows.map(|(seq, p)| {
            let (id, name) = (p.id.clone(), p.settings.name.clone());
            (*seq, PoolSummary { id, name })
        });
        Ok(keyset_page(summaries, after, limit))
    }

    async fn find_principal_tag_map(
        &mut self,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
    ) -> Result<Option<PrincipalTagMap>, StoreError> {
        let state = self.live()?;
        Ok(state
            .tag_maps
            .get(&(pool_id.clone(), provider.clone()))
            .cloned())
    }

    async fn put_principal_tag_map(
        &mut self,
        pool_id: &IdentityPoolId,
        map: &PrincipalTagMap,
    ) -> Result<(), StoreError> {
        let state = self.live()?;
        if !state.pools.contains_key(pool_id) {
            return self.fail(foreign_key("principal_tag_maps_pool_id_fkey"));
        }
        state
            .tag_maps
            .insert((pool_id.clone(), map.provider_name.clone()), map.clone());
        Ok(())
    }
}

#[async_trait]
impl IdentityRepo for MemoryTx {
    async fn find_pool_by_id_shared(
        &mut self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<IdentityPool>, StoreError> {
        self.live()?;
        self.locks.push(Lock::PoolShared(pool_id.clone()));
        Ok(self.work.pools.get(pool_id).map(|(_, p)| p.clone()))
    }

    async fn insert_identity(&mut self, identity: &Identity) -> Result<(), StoreError> {
        let state = self.live()?;
        if state.identities.contains_key(&identity.id) {
            return self.fail(StoreError::UniqueViolation("identities_pkey".into()));
        }
        if !state.pools.contains_key(&identity.pool_id) {
            return self.fail(foreign_key("identities_pool_id_fkey"));
        }
        let seq = state.next_seq();
        state
            .identities
            .insert(identity.id.clone(), (seq, identity.clone()));
        Ok(())
    }

    async fn find_identity(
        &mut self,
        identity_id: &IdentityId,
        lock: RowLock,
    ) -> Result<Option<Identity>, StoreError> {
        self.live()?;
        if lock != RowLock::None {
            self.locks.push(Lock::Identity(identity_id.clone(), lock));
        }
        Ok(self
            .work
            .identities
            .get(identity_id)
            .map(|(_, i)| i.clone()))
    }

    async fn update_identity(&mut self, identity: &Identity) -> Result<(), StoreError> {
        let state = self.live()?;
        if let Some((_, stored)) = state.identities.get_mut(&identity.id) {
            stored.authenticated = identity.authenticated;
            stored.disabled = identity.disabled;
            stored.last_modified_at = identity.last_modified_at;
        }
        Ok(())
    }

    async fn delete_identity(&mut self, identity_id: &IdentityId) -> Result<bool, StoreError> {
        let state = self.live()?;
        let found = state.identities.remove(identity_id).is_some();
        state
            .logins
            .retain(|_, (_, l)| l.identity_id != *identity_id);
        Ok(found)
    }

    async fn find_login(
        &mut self,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
        subject: &str,
    ) -> Result<Option<IdentityId>, StoreError> {
        let state = self.live()?;
        Ok(state
            .logins
            .get(&(pool_id.clone(), provider.clone(), subject.to_owned()))
            .map(|(_, l)| l.identity_id.clone()))
    }

    async fn insert_login(&mut self, login: &Login) -> Result<LoginClaim, StoreError> {
        let state = self.live()?;
        let key = (
            login.pool_id.clone(),
            login.provider.clone(),
            login.subject.clone(),
        );
        if let Some((_, owner)) = state.logins.get(&key) {
            return Ok(LoginClaim::Taken(owner.identity_id.clone()));
        }
        if !state.pools.contains_key(&login.pool_id) {
            return self.fail(foreign_key("identity_logins_pool_id_fkey"));
        }
        if !state.identities.contains_key(&login.identity_id) {
            return self.fail(foreign_key("identity_logins_identity_id_fkey"));
        }
        if !login.developer && state.public_login_clash(&login.identity_id, &login.provider) {
            return self.fail(StoreError::UniqueViolation(
                "identity_logins_one_public_login_per_provider".into(),
            ));
        }
        let seq = state.next_seq();
        state.logins.insert(key, (seq, login.clone()));
        Ok(LoginClaim::Linked)
    }

    async fn delete_login(
        &mut self,
        identity_id: &IdentityId,
        provider: &ProviderName,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let state = self.live()?;
        let key = state
            .logins
            .iter()
            .find(|(_, (_, l))| {
                l.identity_id == *identity_id && &l.provider == provider && l.subject == subject
            })
            .map(|(key, _)| key.clone());
        Ok(key.is_some_and(|key| state.logins.remove(&key).is_some()))
    }

    async fn logins_of(&mut self, identity_id: &IdentityId) -> Result<Vec<Login>, StoreError> {
        let state = self.live()?;
        let mut rows: Vec<&(i64, Login)> = state
            .logins
            .values()
            .filter(|(_, l)| l.identity_id == *identity_id)
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        Ok(rows.into_iter().map(|(_, l)| l.clone()).collect())
    }

    async fn move_logins(&mut self, from: &IdentityId, to: &IdentityId) -> Result<u64, StoreError> {
        let state = self.live()?;
        let moving: Vec<(IdentityPoolId, ProviderName, String)> = state
            .logins
            .iter()
            .filter(|(_, (_, l))| l.identity_id == *from)
            .map(|(key, _)| key.clone())
            .collect();
        // The one-public-login-per-provider index, checked as the UPDATE
        // would leave the rows.
        let mut public: BTreeSet<ProviderName> = state
            .logins
            .values()
            .filter(|(_, l)| l.identity_id == *to && !l.developer)
            .map(|(_, l)| l.provider.clone())
            .collect();
        for key in &moving {
            let (_, login) = &state.logins[key];
            if !login.developer && !public.insert(login.provider.clone()) {
                return self.fail(StoreError::UniqueViolation(
                    "identity_logins_one_public_login_per_provider".into(),
                ));
            }
        }
        if !moving.is_empty() && !state.identities.contains_key(to) {
            return self.fail(foreign_key("identity_logins_identity_id_fkey"));
        }
        for key in &moving {
            if let Some((_, login)) = state.logins.get_mut(key) {
                login.identity_id = to.clone();
            }
        }
        Ok(moving.len() as u64)
    }

    async fn list_identities(
        &mut self,
        pool_id: &IdentityPoolId,
        after: Option<i64>,
        limit: u32,
        hide_disabled: bool,
    ) -> Result<Vec<(i64, IdentityDescription)>, StoreError> {
        let state = self.live()?;
        let rows = state
            .identities
            .values()
            .filter(|(_, i)| i.pool_id == *pool_id && !(hide_disabled && i.disabled))
            .map(|(seq, i)| {
                let providers: BTreeSet<ProviderName> = state
                    .logins
                    .values()
                    .filter(|(_, l)| l.identity_id == i.id)
                    .map(|(_, l)| l.provider.clone())
                    .collect();
                let identity = i.clone();
                let providers = providers.into_iter().collect();
                (
                    *seq,
                    IdentityDescription {
                        identity,
                        providers,
                    },
                )
            });
        Ok(keyset_page(rows, after, limit))
    }

    async fn count_identities(
        &mut self,
        pool_id: &IdentityPoolId,
        cap: u64,
    ) -> Result<u64, StoreError> {
        let state = self.live()?;
        let n = state
            .identities
            .values()
            .filter(|(_, i)| i.pool_id == *pool_id)
            .count();
        Ok((n as u64).min(cap))
    }

    async fn developer_ids_of(
        &mut self,
        identity_id: &IdentityId,
        provider: &ProviderName,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, DeveloperUserIdentifier)>, StoreError> {
        let state = self.live()?;
        // A developer login's subject is the identifier as given, so it
        // parses; one that does not is a corrupt row, as in the store.
        let rows = state
            .logins
            .values()
            .filter(|(_, l)| {
                l.identity_id == *identity_id && &l.provider == provider && l.developer
            })
            .map(|(seq, l)| {
                DeveloperUserIdentifier::try_from(l.subject.as_str())
                    .map(|id| (*seq, id))
                    .map_err(|e| StoreError::Other(Box::new(e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(keyset_page(rows, after, limit))
    }
}

/// A keyset page of `rows` (each with its sequence number), as the store's
/// `WHERE seq > $after ORDER BY seq LIMIT $limit` reads one.
fn keyset_page<T>(
    rows: impl IntoIterator<Item = (i64, T)>,
    after: Option<i64>,
    limit: u32,
) -> Vec<(i64, T)> {
    let after = after.unwrap_or(0);
    let mut rows: Vec<(i64, T)> = rows.into_iter().filter(|(seq, _)| *seq > after).collect();
    rows.sort_by_key(|(seq, _)| *seq);
    rows.truncate(limit as usize);
    rows
}

#[cfg(test)]
mod tests;
