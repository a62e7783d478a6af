//! Identities: GetId, GetOpenIdToken, the developer-authenticated
//! operations (GetOpenIdTokenForDeveloperIdentity, Lookup, Merge, Unlink),
//! DescribeIdentity, ListIdentities, DeleteIdentities.
//!
//! Races are settled by the database: a login is unique per pool (two
//! callers creating an identity for one new login both insert; the loser
//! drops its fresh identity and uses the winner's), and every use case
//! that changes an identity, or issues a token for one, holds its row lock
//! until it commits — so a token is never issued for an identity whose
//! deletion or merge committed first.
//!
//! # Layout
//! - `link` — the linking rules as a pure function, tested row by row.
//! - `resolve` — proving logins, and resolving them to an identity.
//! - `tokens` — GetId, GetOpenIdToken, GetCredentialsForIdentity, UnlinkIdentity.
//! - `developer` — the developer-authenticated operations.
//! - `admin` — DescribeIdentity, ListIdentities, DeleteIdentities.
//! - `operator` — what the operator console asks beyond the API: counts,
//!   finding an identity by a login, its logins, unlinking a provider.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::credentials::{choose_role, saml_roles, Credentials, CredentialsIssuer, LoginClaims};
use crate::error::{DomainError, DomainResult};
use crate::federation::{LoginVerifier, SubjectHasher, VerifiedLogin};
use crate::identity::{Identity, IdentityDescription, LoginClaim, NewLogin, RowLock};
use crate::ids::{
    pool_arn, AccountId, DeveloperUserIdentifier, IdentityId, IdentityPoolId, ProviderName, Region,
};
use crate::pool::{IdentityPool, RoleTrust, COGNITO_IDENTITY_PROVIDER};
use crate::ports::{Clock, PoolVersion, Store, Tx};
use crate::service::paging::{decode_cursor, page};

mod admin;
mod developer;
mod link;
mod operator;
pub use operator::LinkedLogin;
mod pool_cache;
mod resolve;
use resolve::Resolving;
mod tokens;

use crate::token::{OpenIdClaims, SessionTags, TokenIssuer, TokenRejection};

/// GetOpenIdToken's token lifetime (AWS: 10 minutes).
pub const OPEN_ID_TOKEN_SECONDS: i64 = 600;
/// Developer token lifetime when TokenDuration is not given (AWS: 15 minutes).
pub const DEFAULT_DEVELOPER_TOKEN_SECONDS: i64 = 900;
/// Longest TokenDuration (AWS: 24 hours).
pub const MAX_DEVELOPER_TOKEN_SECONDS: i64 = 86_400;
/// Most logins one identity may have after a merge (AWS: 20).
pub const MAX_LINKED_LOGINS: usize = 20;
/// Most principal tags on a developer token (the model's map limit).
pub const MAX_PRINCIPAL_TAGS: usize = 50;

const UNAUTH_NOT_SUPPORTED: &str =
    "Unauthenticated access is not supported for this identity pool.";
const UNSUPPORTED_PROVIDER: &str = "Token is not from a supported provider of this identity pool.";

fn forbidden_identity(id: &IdentityId) -> DomainError {
    DomainError::NotAuthorized(format!("Access to Identity '{id}' is forbidden."))
}

/// The `Logins` map of a request: provider name → token (or, for the
/// developer provider, the developer user identifier). The names are
/// parsed at the edge like every id; `Debug` shows them only, so a token
/// never reaches a log through a request that carries it.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Logins(BTreeMap<ProviderName, String>);

impl Logins {
    /// Whether the request presents no login.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many logins the request presents.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// What the request presents for `provider`.
    pub fn get(&self, provider: &str) -> Option<&String> {
        self.0.get(provider)
    }

    /// The providers named, in order.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderName> {
        self.0.keys()
    }
}

impl<'a> IntoIterator for &'a Logins {
    type Item = (&'a ProviderName, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, ProviderName, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<(ProviderName, String)> for Logins {
    fn from_iter<I: IntoIterator<Item = (ProviderName, String)>>(logins: I) -> Self {
        Logins(logins.into_iter().collect())
    }
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("providers", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A request for GetOpenIdTokenForDeveloperIdentity.
#[derive(Debug, Clone)]
pub struct DeveloperTokenRequest {
    /// IdentityPoolId.
    pub pool_id: IdentityPoolId,
    /// IdentityId to link to, if any.
    pub identity_id: Option<IdentityId>,
    /// Logins: the developer provider → user identifier (and, later, public logins).
    pub logins: Logins,
    /// PrincipalTags for the token's session tags.
    pub principal_tags: BTreeMap<String, String>,
    /// TokenDuration in seconds (1–86400), default 900.
    pub token_duration: Option<i64>,
}

/// LookupDeveloperIdentity's answer.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The identity.
    pub identity_id: IdentityId,
    /// Developer user identifiers of that identity (this page).
    pub developer_user_identifiers: Vec<DeveloperUserIdentifier>,
    /// Next page, if any.
    pub next_token: Option<String>,
}

/// What GetCredentialsForIdentity gave, and the role it chose.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The identity (another than the one named, if logins merged them).
    pub identity_id: IdentityId,
    /// The STS's credentials for the role.
    pub credentials: Credentials,
    /// The role the credentials are for.
    pub role_arn: String,
}

/// One page of ListIdentities.
#[derive(Debug, Clone)]
pub struct IdentityPage {
    /// The identities on this page.
    pub identities: Vec<IdentityDescription>,
    /// Next page, if any.
    pub next_token: Option<String>,
}

/// What a `Logins` map proved, after checking every entry.
#[derive(Debug, Default)]
struct ProvenLogins {
    /// Logins upstream providers vouched for, with the stored (hashed) subject.
    public: Vec<(VerifiedLogin, String)>,
    /// The developer user identifier (signed calls only).
    developer: Option<String>,
    /// Identities that presented tokens Cognate issued proved to be.
    cognito_identities: BTreeSet<IdentityId>,
    /// Session tags those tokens carried (a developer token's PrincipalTags),
    /// carried on into the tokens minted from them.
    cognito_tags: BTreeMap<String, Vec<String>>,
}

impl ProvenLogins {
    /// What a signed call proves with its developer provider's login
    /// (`dev`) alone: the developer user it names, vouched for by the
    /// caller's signature. `None` when `logins` has no entry for `dev`.
    fn developer_only(dev: &ProviderName, logins: &Logins) -> Option<Self> {
        Some(ProvenLogins {
            developer: Some(logins.get(dev)?.clone()),
            ..ProvenLogins::default()
        })
    }
}

/// Which flow a token is issued for, and what it hands back besides the
/// token: the type says whether a role was chosen, so no caller has to
/// expect one.
trait Flow: Copy + Send + Sync {
    /// The basic (classic) flow, which the pool must allow.
    const CLASSIC: bool;
    /// Nothing (the classic flow), or the role chosen (the enhanced flow).
    type Role: Send;
    /// The flow's role for `identity` of `pool` with the `proven` logins.
    fn role(
        self,
        service: &IdentityService,
        pool: &IdentityPool,
        identity: &Identity,
        proven: &ProvenLogins,
    ) -> DomainResult<Self::Role>;
}

/// GetOpenIdToken: the client calls STS itself.
#[derive(Debug, Clone, Copy)]
struct Classic;

impl Flow for Classic {
    const CLASSIC: bool = true;
    type Role = ();
    fn role(
        self,
        _: &IdentityService,
        _: &IdentityPool,
        _: &Identity,
        _: &ProvenLogins,
    ) -> DomainResult<()> {
        Ok(())
    }
}

/// GetCredentialsForIdentity: Cognate chooses the role and calls STS.
#[derive(Debug, Clone, Copy)]
struct Enhanced<'a> {
    /// CustomRoleArn of the request.
    custom_role_arn: Option<&'a str>,
}

impl Flow for Enhanced<'_> {
    const CLASSIC: bool = false;
    type Role = String;
    fn role(
        self,
        service: &IdentityService,
        pool: &IdentityPool,
        identity: &Identity,
        proven: &ProvenLogins,
    ) -> DomainResult<String> {
        service.enhanced_role(self.custom_role_arn, pool, identity, proven)
    }
}

/// A token issued for an identity, and the flow's role.
#[derive(Debug)]
struct Issued<R> {
    identity: Identity,
    token: String,
    role: R,
}

/// The RoleSessionName Cognate gives STS (no spaces or `+`: Ceph RGW refuses them).
pub const STS_SESSION_NAME: &str = "CognitoIdentityCredentials";
/// The session length Cognito asks STS for (1 hour).
pub const STS_SESSION_SECONDS: u32 = 3600;

/// Identities and Cognate's own tokens.
#[derive(Clone)]
pub struct IdentityService {
    store: Arc<dyn Store>,
    issuer: Arc<dyn TokenIssuer>,
    upstream: Arc<dyn LoginVerifier>,
    hasher: Arc<dyn SubjectHasher>,
    sts: Arc<dyn CredentialsIssuer>,
    clock: Arc<dyn Clock>,
    region: Region,
    role_trust: RoleTrust,
    /// The pools GetId read lately (checked against each snapshot it uses).
    pools: Arc<pool_cache::PoolCache>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IdentityService {
    /// Finish an unlink of `providers`' logins from `identity` (read with
    /// its update lock in `tx`): when any was removed, the identity is
    /// modified now, and disabled if it has no login left (AWS's "an
    /// identity left with no login becomes inaccessible"); the change is
    /// recorded and `tx` committed.
    async fn unlinked(
        &self,
        mut tx: Box<dyn Tx>,
        mut identity: Identity,
        providers: &[ProviderName],
        audit: &dyn crate::audit::Recorder,
    ) -> DomainResult<()> {
        if !providers.is_empty() {
            identity.last_modified_at = self.clock.now();
            if tx.logins_of(&identity.id).await?.is_empty() {
                identity.disabled = true;
            }
            tx.update_identity(&identity).await?;
        }
        let change = crate::audit::Change::LoginsUnlinked {
            pool_id: &identity.pool_id,
            identity_id: &identity.id,
            providers,
            disabled: identity.disabled,
        };
        crate::service::record(&mut tx, audit, change).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How often a use case that lost a race on a login is run again.
const ATTEMPTS: usize = 3;

impl IdentityService {
    /// A service issuing tokens through `issuer` and checking upstream
    /// logins through `upstream`.
    pub fn new(
        store: Arc<dyn Store>,
        issuer: Arc<dyn TokenIssuer>,
        upstream: Arc<dyn LoginVerifier>,
        hasher: Arc<dyn SubjectHasher>,
        sts: Arc<dyn CredentialsIssuer>,
        clock: Arc<dyn Clock>,
        region: Region,
    ) -> Self {
        IdentityService {
            store,
            issuer,
            upstream,
            hasher,
            sts,
            clock,
            region,
            role_trust: RoleTrust::default(),
            pools: Arc::default(),
        }
    }

    /// The same service, letting pools use the roles of the accounts
    /// `trust` lists (CustomRoleArn is checked against it).
    pub fn with_role_trust(mut self, trust: RoleTrust) -> Self {
        self.role_trust = trust;
        self
    }

    async fn begin(&self) -> DomainResult<Box<dyn Tx>> {
        Ok(self.store.begin().await?)
    }

    fn new_identity(&self, pool_id: &IdentityPoolId, authenticated: bool) -> Identity {
        let now = self.clock.now();
        Identity {
            id: self.region.new_identity_id(),
            pool_id: pool_id.clone(),
            authenticated,
            disabled: false,
            created_at: now,
            last_modified_at: now,
        }
    }

    pub(super) async fn public_pool(
        tx: &mut Box<dyn Tx>,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<IdentityPool> {
        tx.find_pool_by_id_shared(pool_id)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    /// The pool named by a public call and its version, from one snapshot
    /// read (before checking logins, which may call their provider).
    pub(super) async fn read_pool_by_id(
        &self,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<(IdentityPool, PoolVersion)> {
        self.store
            .read_pool(pool_id)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    /// The pool named by a public call, read now and kept in the pool
    /// cache with its version.
    pub(super) async fn fresh_pool(
        &self,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<(Arc<IdentityPool>, PoolVersion)> {
        let (pool, version) = self.read_pool_by_id(pool_id).await?;
        let pool = Arc::new(pool);
        self.pools.put(Arc::clone(&pool), version);
        Ok((pool, version))
    }

    /// An identity and its pool, from one snapshot read.
    pub(super) async fn read_identity_with_pool(
        &self,
        identity_id: &IdentityId,
    ) -> DomainResult<(Identity, IdentityPool)> {
        let (identity, pool) = self
            .store
            .read_identity_with_pool(identity_id)
            .await?
            .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
        let pool = pool.ok_or_else(|| DomainError::pool_not_found(&identity.pool_id))?;
        Ok((identity, pool))
    }

    pub(super) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> DomainResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = DomainResult<T>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Err(DomainError::ConcurrentModification(_)) if tries < ATTEMPTS => continue,
                other => return other,
            }
        }
    }

    pub(super) async fn owned_pool(
        tx: &mut Box<dyn Tx>,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<IdentityPool> {
        tx.find_pool(account, pool_id, false)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    pub(super) fn developer_provider(pool: &IdentityPool) -> DomainResult<&ProviderName> {
        pool.settings
            .developer_provider_name
            .as_ref()
            .ok_or_else(|| {
                DomainError::InvalidParameter(format!(
                    "Identity pool {} has no DeveloperProviderName.",
                    pool.id
                ))
            })
    }

    pub(super) fn check_named_provider(
        pool: &IdentityPool,
        provider: &ProviderName,
    ) -> DomainResult<()> {
        let dev = Self::developer_provider(pool)?;
        if dev != provider {
            return Err(DomainError::InvalidParameter(format!(
                "DeveloperProviderName '{provider}' does not match the identity pool's developer provider."
            )));
        }
        Ok(())
    }

    /// An identity of `pool_id`, locked; NotFound when it is in another pool.
    pub(super) async fn pool_identity(
        tx: &mut Box<dyn Tx>,
        pool_id: &IdentityPoolId,
        identity_id: &IdentityId,
        lock: RowLock,
    ) -> DomainResult<Identity> {
        tx.find_identity(identity_id, lock)
            .await?
            .filter(|i| &i.pool_id == pool_id)
            .ok_or_else(|| DomainError::identity_not_found(identity_id))
    }
}

#[cfg(test)]
mod logins_tests {
    use super::Logins;

    #[test]
    fn a_requests_logins_show_their_providers_and_never_a_token() {
        let logins: Logins =
            serde_json::from_str(r#"{"accounts.google.com": "eyJ.secret-token.sig"}"#).unwrap();
        let shown = format!("{logins:?}");
        assert!(shown.contains("accounts.google.com"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert_eq!(
            logins.get("accounts.google.com").map(String::as_str),
            Some("eyJ.secret-token.sig")
        );
    }

    #[test]
    fn a_logins_key_that_is_no_provider_name_is_refused_when_read() {
        assert!(serde_json::from_str::<Logins>(r#"{"": "token"}"#).is_err());
    }
}
