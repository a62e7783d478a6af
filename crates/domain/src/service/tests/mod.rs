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
use std::sync::Arc;

pub(super) use crate::audit::NotRecorded;
use crate::error::DomainError;
use crate::identity::Identity;
use crate::ids::{AccountId, IdentityId, IdentityPoolId, Region};
use crate::pool::{IdentityPool, PoolSettings};
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

/// A pool that takes guests, Google and Amazon logins and developer users.
fn open_settings() -> PoolSettings {
    PoolSettings {
        name: "open".into(),
        allow_unauthenticated: true,
        supported_login_providers: BTreeMap::from([
            (GOOGLE.to_owned(), "google-app".to_owned()),
            (AMAZON.to_owned(), "amazon-app".to_owned()),
        ]),
        developer_provider_name: Some(DEV.into()),
        ..PoolSettings::default()
    }
}

fn logins(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect()
}

impl World {
    async fn pool(&self, settings: PoolSettings) -> IdentityPool {
        self.pools
            .create(&account(), settings, BTreeMap::new(), &NotRecorded)
            .await
            .unwrap()
    }

    async fn open_pool(&self) -> IdentityPool {
        self.pool(open_settings()).await
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
            .map(|l| l.provider)
            .collect()
    }

    /// A guest identity of `pool` and its token.
    async fn guest(&self, pool: &IdentityPool) -> (IdentityId, String) {
        let id = self
            .identities
            .get_id(&pool.id, &logins(&[]))
            .await
            .unwrap();
        let (_, token) = self
            .identities
            .get_open_id_token(&id, &logins(&[]))
            .await
            .unwrap();
        (id, token)
    }

    /// The identity of a Google user in `pool`.
    async fn google_user(&self, pool: &IdentityPool, subject: &str) -> IdentityId {
        self.identities
            .get_id(&pool.id, &logins(&[(GOOGLE, subject)]))
            .await
            .unwrap()
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
}

fn claims(token: &str) -> OpenIdClaims {
    ReadableIssuer::read(token)
}

/// The message of a domain error of the expected kind.
#[track_caller]
fn not_authorized(result: Result<impl std::fmt::Debug, DomainError>) -> String {
    match result {
        Err(DomainError::NotAuthorized(m)) => m,
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
}

#[track_caller]
fn not_found(result: Result<impl std::fmt::Debug, DomainError>) -> String {
    match result {
        Err(DomainError::ResourceNotFound(m)) => m,
        other => panic!("expected ResourceNotFound, got {other:?}"),
    }
}

#[track_caller]
fn invalid(result: Result<impl std::fmt::Debug, DomainError>) -> String {
    match result {
        Err(DomainError::InvalidParameter(m)) => m,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[track_caller]
fn conflict(result: Result<impl std::fmt::Debug, DomainError>) -> String {
    match result {
        Err(DomainError::ResourceConflict(m)) => m,
        other => panic!("expected ResourceConflict, got {other:?}"),
    }
}

const LOGINS_DONT_MATCH: &str =
    "Logins don't match. Please include at least one valid login for this identity or identity pool.";

fn forbidden(id: &str) -> String {
    format!("Access to Identity '{id}' is forbidden.")
}

/// Whether `record` took `lock`.
fn took(record: &TxRecord, lock: &Lock) -> bool {
    record.locks.contains(lock)
}
