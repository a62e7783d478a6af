//! The use cases, tested through their public API over the in-memory store
//! ([`crate::test_support::MemoryStore`]) and fakes of the other ports: the
//! rules of each operation, and the locks the ports document them taking.
//! No database, no network: the whole suite runs in well under a second.
//!
//! # Layout
//! - `pools` — the pool management plane.
//! - `get_id` — GetId: new, returning and merged identities.
//! - `tokens` — GetOpenIdToken, GetCredentialsForIdentity, UnlinkIdentity.
//! - `developer` — the developer-authenticated operations.
//! - `admin` — DescribeIdentity, ListIdentities, DeleteIdentities.
//! - `operator` — what the console asks beyond the API.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::mem::discriminant;
use std::sync::Arc;

pub(super) use crate::audit::NotRecorded;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Identity, RowLock};
use crate::ids::{AccountId, IdentityId, IdentityPoolId, Region};
use crate::pool::{IdentityPool, PoolSettings, PrincipalTagMap};
use crate::service::identities::Logins;
use crate::service::{IdentityService, Limits, PoolService};
use crate::test_support::fakes::{
    BelievingVerifier, ManualClock, ReadableIssuer, RecordingSts, VisibleHasher,
};
use crate::test_support::{Lock, MemoryStore, TxRecord};
use crate::token::OpenIdClaims;

mod admin;
mod audit;
mod developer;
mod get_id;
mod operator;
mod pools;
mod tokens;

const ISSUER: &str = "https://cognate.test";
const GOOGLE: &str = "accounts.google.com";
const AMAZON: &str = "www.amazon.com";
const DEV: &str = "login.example";
const COGNITO: &str = crate::pool::COGNITO_IDENTITY_PROVIDER;
const DECLARED_OIDC: &str = "arn:aws:iam::000000000000:oidc-provider/idp.example.com";

fn account() -> AccountId {
    AccountId::parse("000000000000").unwrap()
}

fn other_account() -> AccountId {
    AccountId::parse("111111111111").unwrap()
}

/// The services over one in-memory store, with the fakes they talk to.
struct World {
    store: MemoryStore,
    clock: Arc<ManualClock>,
    sts: Arc<RecordingSts>,
    pools: PoolService,
    identities: IdentityService,
}

fn world() -> World {
    world_with(Limits::default(), RecordingSts::new())
}

fn world_with(limits: Limits, sts: RecordingSts) -> World {
    let store = MemoryStore::new();
    let clock = Arc::new(ManualClock::new());
    let sts = Arc::new(sts);
    let region = Region::parse("us-east-1").unwrap();
    let verifier = Arc::new(BelievingVerifier::new().declare("000000000000", DECLARED_OIDC));
    let pools = PoolService::new(
        Arc::new(store.clone()),
        verifier.clone(),
        clock.clone(),
        region.clone(),
        limits,
    );
    let identities = IdentityService::new(
        Arc::new(store.clone()),
        Arc::new(ReadableIssuer::new(ISSUER, clock.clone())),
        verifier,
        Arc::new(VisibleHasher),
        sts.clone(),
        clock.clone(),
        region,
    );
    World {
        store,
        clock,
        sts,
        pools,
        identities,
    }
}

/// A world with one open pool of the test account.
async fn open_world() -> (World, IdentityPool) {
    let w = world();
    let pool = w.open_pool().await;
    (w, pool)
}

/// An open world in which Google user g1 has signed in, and its identity.
async fn with_google_user() -> (World, IdentityPool, IdentityId) {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    (w, pool, id)
}

/// A pool that takes guests, Google and Amazon logins and developer users.
fn open_settings() -> PoolSettings {
    PoolSettings {
        name: "open".into(),
        allow_unauthenticated: true,
        supported_login_providers: strings(&[(GOOGLE, "google-app"), (AMAZON, "amazon-app")]),
        developer_provider_name: Some(provider(DEV)),
        ..PoolSettings::default()
    }
}

/// The open pool's settings, with `change` made to them.
fn open_settings_where(change: impl FnOnce(&mut PoolSettings)) -> PoolSettings {
    let mut settings = open_settings();
    change(&mut settings);
    settings
}

/// The open pool's settings, but taking no guests.
fn settings_without_guests() -> PoolSettings {
    open_settings_where(|s| s.allow_unauthenticated = false)
}

/// A map of owned strings: tags, roles, principal tags.
fn strings(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A provider name.
fn provider(name: &str) -> crate::ids::ProviderName {
    crate::ids::ProviderName::try_from(name).unwrap()
}

/// A request's `Logins`: provider → token (or developer user).
fn logins(entries: &[(&str, &str)]) -> Logins {
    entries
        .iter()
        .map(|(p, t)| {
            (
                crate::ids::ProviderName::try_from(*p).unwrap(),
                (*t).to_owned(),
            )
        })
        .collect()
}

/// The Google map of principal tags: `dept` from the login's `department`.
fn google_department_map() -> PrincipalTagMap {
    PrincipalTagMap {
        provider_name: provider(GOOGLE),
        use_defaults: true,
        principal_tags: strings(&[("dept", "department")]),
    }
}

/// An identity and the token issued for it.
type Issued = (IdentityId, String);

impl World {
    /// CreateIdentityPool for `account`, tagged with `tags`.
    async fn create_pool(
        &self,
        account: &AccountId,
        settings: PoolSettings,
        tags: &[(&str, &str)],
    ) -> DomainResult<IdentityPool> {
        self.pools
            .create(account, settings, strings(tags), &NotRecorded)
            .await
    }

    async fn pool(&self, settings: PoolSettings) -> IdentityPool {
        self.create_pool(&account(), settings, &[]).await.unwrap()
    }

    async fn open_pool(&self) -> IdentityPool {
        self.pool(open_settings()).await
    }

    /// An open pool of the other account.
    async fn foreign_pool(&self) -> IdentityPool {
        self.create_pool(&other_account(), open_settings(), &[])
            .await
            .unwrap()
    }

    /// UpdateIdentityPool of `pool` to `settings`, keeping its tags.
    async fn update_pool(
        &self,
        pool: &IdentityPool,
        settings: PoolSettings,
    ) -> DomainResult<IdentityPool> {
        self.pools
            .update(&account(), &pool.id, settings, None, &NotRecorded)
            .await
    }

    async fn identity(&self, id: &IdentityId) -> Identity {
        self.store.identity(id).await.expect("a stored identity")
    }

    /// The providers of an identity's committed logins, oldest first.
    async fn providers(&self, id: &IdentityId) -> Vec<String> {
        self.store
            .logins(id)
            .await
            .into_iter()
            .map(|l| l.provider.into())
            .collect()
    }

    /// GetId in `pool` with the logins `entries`.
    async fn try_get_id(
        &self,
        pool: &IdentityPool,
        entries: &[(&str, &str)],
    ) -> DomainResult<IdentityId> {
        self.identities.get_id(&pool.id, &logins(entries)).await
    }

    /// The identity GetId answers in `pool` for the logins `entries`.
    async fn get_id(&self, pool: &IdentityPool, entries: &[(&str, &str)]) -> IdentityId {
        self.try_get_id(pool, entries).await.unwrap()
    }

    /// GetOpenIdToken for `id` with the logins `entries`.
    async fn try_token(&self, id: &IdentityId, entries: &[(&str, &str)]) -> DomainResult<Issued> {
        self.identities
            .get_open_id_token(id, &logins(entries))
            .await
    }

    /// The identity and token GetOpenIdToken answers.
    async fn token(&self, id: &IdentityId, entries: &[(&str, &str)]) -> Issued {
        self.try_token(id, entries).await.unwrap()
    }

    /// A guest identity of `pool` and its token.
    async fn guest(&self, pool: &IdentityPool) -> Issued {
        let id = self.get_id(pool, &[]).await;
        self.token(&id, &[]).await
    }

    /// The identity of a Google user in `pool`.
    async fn google_user(&self, pool: &IdentityPool, subject: &str) -> IdentityId {
        self.get_id(pool, &[(GOOGLE, subject)]).await
    }

    /// An identity of `pool` holding Google user g1 and Amazon user a1.
    async fn google_and_amazon_user(&self, pool: &IdentityPool) -> IdentityId {
        self.get_id(pool, &[(GOOGLE, "g1"), (AMAZON, "a1")]).await
    }

    /// DeleteIdentities of `id` alone, for the test account.
    async fn delete_identity(&self, id: &IdentityId) {
        self.identities
            .delete_identities(&account(), std::slice::from_ref(id), &NotRecorded)
            .await
            .unwrap();
    }

    /// UnlinkIdentity of `provider`'s logins from `id`, proven by `entries`.
    async fn unlink(
        &self,
        id: &IdentityId,
        entries: &[(&str, &str)],
        provider: &str,
    ) -> DomainResult<()> {
        self.identities
            .unlink_identity(id, &logins(entries), &[provider.to_owned()], &NotRecorded)
            .await
    }

    /// The last transaction that committed.
    fn last_commit(&self) -> TxRecord {
        self.store
            .journal()
            .into_iter()
            .rev()
            .find(|r| r.committed)
            .expect("a committed transaction")
    }

    /// Whether the last committed transaction locked `id`'s row for update.
    fn last_commit_updated(&self, id: &IdentityId) -> bool {
        self.last_commit().locks.contains(&updating(id))
    }
}

/// The lock of `id`'s row taken to change it.
fn updating(id: &IdentityId) -> Lock {
    Lock::Identity(id.clone(), RowLock::Update)
}

fn claims(token: &str) -> OpenIdClaims {
    ReadableIssuer::read(token)
}

/// The message of `result`'s error, which must be of the variant `kind`
/// builds (`DomainError::NotAuthorized`, ...).
#[track_caller]
fn refusal(result: Result<impl Debug, DomainError>, kind: fn(String) -> DomainError) -> String {
    let expected = kind(String::new());
    match result {
        Err(e) if discriminant(&e) == discriminant(&expected) => e.to_string(),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

#[track_caller]
fn not_authorized(result: Result<impl Debug, DomainError>) -> String {
    refusal(result, DomainError::NotAuthorized)
}

const LOGINS_DONT_MATCH: &str =
    "Logins don't match. Please include at least one valid login for this identity or identity pool.";

const NO_GUESTS: &str = "Unauthenticated access is not supported for this identity pool.";

fn forbidden(id: &str) -> String {
    format!("Access to Identity '{id}' is forbidden.")
}

#[track_caller]
fn not_found(result: Result<impl Debug, DomainError>) -> String {
    refusal(result, DomainError::ResourceNotFound)
}

/// An id no pool or identity has.
const UNKNOWN_ID: &str = "us-east-1:00000000-0000-0000-0000-000000000000";

#[track_caller]
fn invalid(result: Result<impl Debug, DomainError>) -> String {
    refusal(result, DomainError::InvalidParameter)
}

#[track_caller]
fn conflict(result: Result<impl Debug, DomainError>) -> String {
    refusal(result, DomainError::ResourceConflict)
}

/// That an error's `message` mentions `part`.
#[track_caller]
fn assert_mentions(message: &str, part: &str) {
    assert!(message.contains(part), "{message}");
}
