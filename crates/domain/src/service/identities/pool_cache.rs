//! The pools GetId reads, kept in memory with the version of the row they
//! were read from, so that a returning user's GetId is one statement.
//!
//! A cached pool is never trusted on its own: the statement that reads the
//! logins' owners also returns the pool's current version
//! ([`crate::ports::LoginOwners::pool_version`]), and an answer is given
//! only if it is the cached one. Equal versions mean the row was not
//! written in between, so the cached pool *is* the pool at that statement's
//! snapshot, and the answer is the one a request at that instant would get:
//! a deletion or update that committed before the statement began is seen,
//! on every instance, with no invalidation messages between them. A
//! mismatch drops the entry and the request starts again from a fresh read.
//!
//! Entries also expire after [`MAX_AGE`], which bounds how long a version
//! is compared at all (PostgreSQL's row versions are transaction ids, which
//! repeat only after 2³² transactions), and the map is bounded: when full
//! it starts over (the cost is one read per pool seen again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::IdentityPoolId;
use crate::pool::IdentityPool;
use crate::ports::PoolVersion;

/// Most pools kept.
pub(super) const CAPACITY: usize = 10_000;
/// How long an entry is used before it is read again.
pub(super) const MAX_AGE: Duration = Duration::from_secs(60);

/// Pool id → the pool, the version it was read at, and when.
#[derive(Debug, Default)]
pub(super) struct PoolCache {
    entries: Mutex<HashMap<IdentityPoolId, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    pool: Arc<IdentityPool>,
    version: PoolVersion,
    read_at: Instant,
}

impl PoolCache {
    /// The cached pool and its version, unless absent or too old.
    pub(super) fn get(&self, id: &IdentityPoolId) -> Option<(Arc<IdentityPool>, PoolVersion)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id)
            .filter(|e| e.read_at.elapsed() < MAX_AGE)
            .map(|e| (Arc::clone(&e.pool), e.version))
    }

    /// Remember `pool` as read at `version` (just now).
    pub(super) fn put(&self, pool: Arc<IdentityPool>, version: PoolVersion) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&pool.id) {
            entries.clear();
        }
        entries.insert(
            pool.id.clone(),
            Entry {
                pool,
                version,
                read_at: Instant::now(),
            },
        );
    }

    /// Drop the entry for `id` (it was found out of date).
    pub(super) fn forget(&self, id: &IdentityPoolId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(id);
    }

    /// How many pools are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::named_pool_id;

    fn pool(name: &str) -> Arc<IdentityPool> {
        Arc::new(IdentityPool {
            id: named_pool_id(name),
            account_id: crate::ids::AccountId::parse("123456789012").unwrap(),
            settings: crate::pool::PoolSettings::default(),
            tags: Default::default(),
            roles: Default::default(),
            role_mappings: Default::default(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        })
    }

    #[test]
    fn a_pool_put_is_got_back_with_its_version_until_forgotten() {
        let cache = PoolCache::default();
        let p = pool("a");
        assert!(cache.get(&p.id).is_none());
        cache.put(Arc::clone(&p), PoolVersion(7));
        let (got, version) = cache.get(&p.id).expect("cached");
        assert_eq!((got.id.clone(), version), (p.id.clone(), PoolVersion(7)));
        cache.put(Arc::clone(&p), PoolVersion(8));
        assert_eq!(cache.get(&p.id).map(|(_, v)| v), Some(PoolVersion(8)));
        cache.forget(&p.id);
        assert!(cache.get(&p.id).is_none());
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = PoolCache::default();
        for n in 0..CAPACITY {
            cache.put(pool(&format!("p{n}")), PoolVersion(1));
        }
        assert_eq!(cache.len(), CAPACITY);
        // Putting one it holds again does not empty it.
        cache.put(pool("p0"), PoolVersion(2));
        assert_eq!(cache.len(), CAPACITY);
        cache.put(pool("one-more"), PoolVersion(1));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&named_pool_id("one-more")).is_some());
    }
}
