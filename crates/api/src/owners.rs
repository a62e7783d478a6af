//! Who owns what an unsigned call names, and what to do about ids that
//! exist nowhere.
//!
//! An unsigned call (GetId names an `IdentityPoolId`; GetOpenIdToken,
//! GetCredentialsForIdentity and UnlinkIdentity an `IdentityId`) counts
//! against the quota of the account that owns what it names, so the owner
//! must be known before the call runs. Owners never change, so this layer
//! remembers them: the first call naming an id this instance has not seen
//! costs one indexed read (through [`OwnerDirectory`]); later calls cost
//! nothing.
//!
//! Ids are random, so a call naming one that does not exist is either a
//! typo or someone probing; a flood of them must cost the database next to
//! nothing. Two defences:
//!
//! - a **negative cache**: an id found to exist nowhere is remembered (for
//!   [`MISSING_TTL`], bounded in number), and calls naming it again are
//!   answered `ResourceNotFoundException` at once, with the domain's own
//!   message, without any I/O. When this instance creates a pool or an
//!   identity, its id is forgotten from the cache ([`Owners::created`]);
//!   another instance cannot create an id someone asked for before, short
//!   of guessing a random UUID, and the entries expire anyway.
//! - a **per-client budget of misses**: each client (see
//!   [`crate::clients`]) may cause at most `rate` look-ups that find
//!   nothing per second (with a burst); past that, its calls naming ids
//!   this instance does not know are refused with
//!   `TooManyRequestsException` before any look-up, for as long as the
//!   budget is empty. Calls naming known ids are never refused by it, so a
//!   client that probes still gets its real work done.
//!
//! The look-up itself runs inside the public admission budget (the caller
//! holds a slot while it waits), so look-ups cannot pile up beyond it.

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cognate_domain::ids::{AccountId, IdentityId, IdentityPoolId};
use cognate_domain::quota::OwnerDirectory;
use cognate_domain::DomainError;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::Value;

use crate::clients::ClientKey;
use crate::error::ApiError;

/// Most entries in each owner map, and in the negative cache; when one is
/// full it starts over (the cost is one read per id seen again).
const CACHE_CAPACITY: usize = 100_000;

/// How long an id found to exist nowhere is answered from memory.
pub const MISSING_TTL: Duration = Duration::from_secs(300);

/// Most clients whose miss budgets are tracked before the idle ones are
/// forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// What an unsigned call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// GetId's `IdentityPoolId`.
    Pool(IdentityPoolId),
    /// The `IdentityId` of GetOpenIdToken, GetCredentialsForIdentity, UnlinkIdentity.
    Identity(IdentityId),
}

impl Named {
    /// What `operation`'s (validated) `input` names, if it is an unsigned
    /// call that names something.
    pub fn of(operation: &str, input: &Value) -> Option<Named> {
        let text = |member: &str| input.get(member).and_then(Value::as_str);
        match operation {
            "GetId" => IdentityPoolId::try_from(text("IdentityPoolId")?)
                .ok()
                .map(Named::Pool),
            "GetOpenIdToken" | "GetCredentialsForIdentity" | "UnlinkIdentity" => {
                IdentityId::try_from(text("IdentityId")?)
                    .ok()
                    .map(Named::Identity)
            }
            _ => None,
        }
    }

    fn key(&self) -> &str {
        match self {
            Named::Pool(id) => id.as_str(),
            Named::Identity(id) => id.as_str(),
        }
    }

    /// The answer the domain gives for it when it does not exist.
    fn not_found(&self) -> ApiError {
        ApiError::from(match self {
            Named::Pool(id) => DomainError::pool_not_found(id),
            Named::Identity(id) => DomainError::identity_not_found(id),
        })
    }
}

/// Who owns what a call names.
#[derive(Debug)]
pub enum Owner {
    /// This account.
    Account(AccountId),
    /// Nothing by that id exists: answer this (ResourceNotFoundException).
    Missing(ApiError),
    /// The look-up failed (the database is away): the call goes on and
    /// fails, or not, on its own.
    Unknown,
}

/// Per-client miss budgets: the rate limiter, and until when each client
/// whose budget ran out is refused look-ups.
struct Misses {
    limiter: DefaultKeyedRateLimiter<ClientKey>,
    denied_until: Mutex<HashMap<ClientKey, Instant>>,
}

/// The owner directory of one instance, with its caches; see the module docs.
pub struct Owners {
    directory: Arc<dyn OwnerDirectory>,
    pool_owner: BoundedMap<IdentityPoolId, AccountId>,
    identity_pool: BoundedMap<IdentityId, IdentityPoolId>,
    missing: BoundedMap<String, Instant>,
    misses: Misses,
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owners").finish_non_exhaustive()
    }
}

/// How many look-ups that find nothing one client may cause.
#[derive(Debug, Clone, Copy)]
pub struct MissBudget {
    /// Per second, sustained.
    pub per_second: u32,
    /// At once, after a quiet spell.
    pub burst: u32,
}

impl Owners {
    /// A directory reading through `directory`, allowing each client
    /// `misses` look-ups that find nothing.
    pub fn new(directory: Arc<dyn OwnerDirectory>, misses: MissBudget) -> Self {
        let rate = NonZeroU32::new(misses.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(misses.burst.max(misses.per_second)).unwrap_or(rate);
        Owners {
            directory,
            pool_owner: BoundedMap::new(CACHE_CAPACITY),
            identity_pool: BoundedMap::new(CACHE_CAPACITY),
            missing: BoundedMap::new(CACHE_CAPACITY),
            misses: Misses {
                limiter: RateLimiter::hashmap(Quota::per_second(rate).allow_burst(burst)),
                denied_until: Mutex::new(HashMap::new()),
            },
        }
    }

    /// The owner of `named` from memory alone, if this instance knows it
    /// (or knows that it does not exist).
    pub fn cached(&self, named: &Named) -> Option<Owner> {
        if let Some(until) = self.missing.get(named.key()) {
            if Instant::now() < until {
                return Some(Owner::Missing(named.not_found()));
            }
        }
        let pool = match named {
            Named::Pool(pool) => pool.clone(),
            Named::Identity(identity) => self.identity_pool.get(identity)?,
        };
        self.pool_owner.get(&pool).map(Owner::Account)
    }

    /// Whether `client` may cause a look-up now: `Err` (TooManyRequests)
    /// while its budget of misses is empty.
    pub fn may_look_up(&self, client: ClientKey) -> Result<(), ApiError> {
        let mut denied = lock(&self.misses.denied_until);
        match denied.get(&client) {
            Some(until) if Instant::now() < *until => Err(ApiError::client(
                "TooManyRequestsException",
                "Too many requests naming resources that do not exist; retry with back-off.",
            )),
            Some(_) => {
                denied.remove(&client);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Reads the owner of `named` (one indexed read), remembers the answer,
    /// and counts a miss against `client` when nothing exists by that id.
    pub async fn look_up(&self, named: &Named, client: ClientKey) -> Owner {
        let found = match named {
            Named::Pool(pool) => self
                .directory
                .pool_owner(pool)
                .await
                .map(|owner| owner.map(|account| (pool.clone(), account))),
            Named::Identity(identity) => {
                self.directory.identity_owner(identity).await.map(|owner| {
                    owner.inspect(|(pool, _)| {
                        self.identity_pool.insert(identity.clone(), pool.clone());
                    })
                })
            }
        };
        match found {
            Ok(Some((pool, account))) => {
                self.pool_owner.insert(pool, account.clone());
                Owner::Account(account)
            }
            Ok(None) => {
                self.missing
                    .insert(named.key().to_owned(), Instant::now() + MISSING_TTL);
                self.missed(client);
                Owner::Missing(named.not_found())
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not look up the owner of an unsigned call's id");
                Owner::Unknown
            }
        }
    }

    /// `id` (a pool or identity this instance just made) exists now.
    pub fn created(&self, id: &str) {
        self.missing.remove(id);
    }

    /// An identity this instance just answered exists, in `pool` of
    /// `account`: an identity never moves to another pool, so the calls
    /// that follow GetId (GetCredentialsForIdentity, GetOpenIdToken) find
    /// their owner in memory instead of reading it again.
    pub fn identity_made(&self, identity: &IdentityId, pool: &IdentityPoolId, account: &AccountId) {
        self.created(identity.as_str());
        self.identity_pool.insert(identity.clone(), pool.clone());
        self.pool_owner.insert(pool.clone(), account.clone());
    }

    fn missed(&self, client: ClientKey) {
        let limiter = &self.misses.limiter;
        if let Err(not_until) = limiter.check_key(&client) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut denied = lock(&self.misses.denied_until);
            if denied.len() >= MAX_TRACKED_CLIENTS {
                let now = Instant::now();
                denied.retain(|_, until| *until > now);
            }
            denied.insert(client, Instant::now() + wait);
        }
        if limiter.len() >= MAX_TRACKED_CLIENTS {
            limiter.retain_recent();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A map that forgets everything when it is full: bounded memory, and
/// correct because everything in it can be read again.
struct BoundedMap<K, V> {
    capacity: usize,
    map: Mutex<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> BoundedMap<K, V> {
    fn new(capacity: usize) -> Self {
        BoundedMap {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        lock(&self.map).get(key).cloned()
    }

    fn insert(&self, key: K, value: V) {
        let mut map = lock(&self.map);
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(key, value);
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        lock(&self.map).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use cognate_domain::ports::StoreError;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Knows one pool, owned by account 7, and one identity in it.
    struct OnePool(AtomicU32);

    const POOL: &str = "us-east-1:00000000-0000-0000-0000-000000000001";
    const IDENTITY: &str = "us-east-1:00000000-0000-0000-0000-0000000000aa";

    #[async_trait]
    impl OwnerDirectory for OnePool {
        async fn pool_owner(&self, pool: &IdentityPoolId) -> Result<Option<AccountId>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((pool.as_str() == POOL).then(|| AccountId::parse("7").unwrap()))
        }
        async fn identity_owner(
            &self,
            identity: &IdentityId,
        ) -> Result<Option<(IdentityPoolId, AccountId)>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((identity.as_str() == IDENTITY).then(|| {
                (
                    IdentityPoolId::try_from(POOL).unwrap(),
                    AccountId::parse("7").unwrap(),
                )
            }))
        }
    }

    fn owners(per_second: u32, burst: u32) -> (Owners, Arc<OnePool>) {
        let directory = Arc::new(OnePool(AtomicU32::new(0)));
        (
            Owners::new(directory.clone(), MissBudget { per_second, burst }),
            directory,
        )
    }

    fn client(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    fn pool(n: u32) -> Named {
        Named::Pool(
            IdentityPoolId::try_from(format!("us-east-1:00000000-0000-0000-0000-{n:012x}"))
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn an_identity_this_instance_answered_is_known_without_a_read() {
        let (owners, directory) = owners(5, 5);
        let identity =
            IdentityId::try_from("us-east-1:00000000-0000-0000-0000-0000000000bb").unwrap();
        let named = Named::Identity(identity.clone());
        assert!(owners.cached(&named).is_none());
        owners.identity_made(
            &identity,
            &IdentityPoolId::try_from(POOL).unwrap(),
            &AccountId::parse("7").unwrap(),
        );
        assert!(matches!(owners.cached(&named), Some(Owner::Account(a)) if a.as_str() == "7"));
        assert_eq!(directory.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_known_owner_is_read_once_and_then_answered_from_memory() {
        let (owners, directory) = owners(5, 5);
        let named = Named::of("GetId", &serde_json::json!({ "IdentityPoolId": POOL })).unwrap();
        assert!(owners.cached(&named).is_none());
        assert!(
            matches!(owners.look_up(&named, client(1)).await, Owner::Account(a) if a.as_str() == "7")
        );
        assert!(matches!(owners.cached(&named), Some(Owner::Account(_))));
        let identity = Named::of(
            "GetOpenIdToken",
            &serde_json::json!({ "IdentityId": IDENTITY }),
        )
        .unwrap();
        assert!(matches!(
            owners.look_up(&identity, client(1)).await,
            Owner::Account(_)
        ));
        assert!(matches!(owners.cached(&identity), Some(Owner::Account(_))));
        assert_eq!(directory.0.load(Ordering::SeqCst), 2);
        assert!(Named::of("ListIdentityPools", &serde_json::json!({})).is_none());
    }

    #[tokio::test]
    async fn an_id_that_exists_nowhere_is_answered_not_found_from_memory_until_created() {
        let (owners, directory) = owners(5, 5);
        let named = pool(99);
        let Owner::Missing(err) = owners.look_up(&named, client(1)).await else {
            panic!("the pool does not exist");
        };
        assert_eq!(err.code, "ResourceNotFoundException");
        assert_eq!(
            err.message,
            "IdentityPool 'us-east-1:00000000-0000-0000-0000-000000000063' not found."
        );
        assert!(matches!(owners.cached(&named), Some(Owner::Missing(_))));
        assert_eq!(directory.0.load(Ordering::SeqCst), 1);
        owners.created("us-east-1:00000000-0000-0000-0000-000000000063");
        assert!(owners.cached(&named).is_none());
    }

    #[tokio::test]
    async fn a_client_that_keeps_missing_is_refused_look_ups_but_others_are_not() {
        let (owners, directory) = owners(1, 3);
        for n in 0..3 {
            owners.may_look_up(client(1)).expect("within the burst");
            assert!(matches!(
                owners.look_up(&pool(100 + n), client(1)).await,
                Owner::Missing(_)
            ));
        }
        // The fourth miss empties the budget.
        owners
            .may_look_up(client(1))
            .expect("the budget is not known to be empty yet");
        assert!(matches!(
            owners.look_up(&pool(200), client(1)).await,
            Owner::Missing(_)
        ));
        let err = owners
            .may_look_up(client(1))
            .expect_err("the budget is empty");
        assert_eq!(err.code, "TooManyRequestsException");
        owners
            .may_look_up(client(2))
            .expect("another client has its own budget");
        // Known ids never need a look-up, so they are served whatever the budget.
        let named = Named::Pool(IdentityPoolId::try_from(POOL).unwrap());
        assert!(matches!(
            owners.look_up(&named, client(2)).await,
            Owner::Account(_)
        ));
        assert!(matches!(owners.cached(&named), Some(Owner::Account(_))));
        assert_eq!(directory.0.load(Ordering::SeqCst), 5);
        // The budget refills.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        owners
            .may_look_up(client(1))
            .expect("refilled after a second");
    }
}
