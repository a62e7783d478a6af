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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::{DomainError, DomainResult};
use crate::identity::{Identity, IdentityDescription, Login, LoginClaim, RowLock};
use crate::ids::{pool_arn, AccountId, Region};
use crate::pool::{IdentityPool, COGNITO_IDENTITY_PROVIDER};
use crate::ports::{Clock, Store, Tx};
use crate::service::paging::{decode_cursor, page};
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
const LOGINS_DONT_MATCH: &str =
    "Logins don't match. Please include at least one valid login for this identity or identity pool.";
const UNSUPPORTED_PROVIDER: &str = "Token is not from a supported provider of this identity pool.";
const DEVELOPER_USER_REGISTERED: &str =
    "The provided developer user identifier is already registered with Cognito under a different identity ID.";

fn forbidden_identity(id: &str) -> DomainError {
    DomainError::NotAuthorized(format!("Access to Identity '{id}' is forbidden."))
}

/// The `Logins` map of a request: provider name → token (or, for the
/// developer provider, the developer user identifier).
pub type Logins = BTreeMap<String, String>;

/// A request for GetOpenIdTokenForDeveloperIdentity.
#[derive(Debug, Clone)]
pub struct DeveloperTokenRequest {
    /// IdentityPoolId.
    pub pool_id: String,
    /// IdentityId to link to, if any.
    pub identity_id: Option<String>,
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
    pub identity_id: String,
    /// Developer user identifiers of that identity (this page).
    pub developer_user_identifiers: Vec<String>,
    /// Next page, if any.
    pub next_token: Option<String>,
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
    /// Identities that presented tokens Cognate issued proved to be.
    cognito_identities: BTreeSet<String>,
}

/// Identities and Cognate's own tokens.
#[derive(Clone)]
pub struct IdentityService {
    store: Arc<dyn Store>,
    issuer: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
    region: Region,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IdentityService {
    /// A service issuing tokens through `issuer`.
    pub fn new(
        store: Arc<dyn Store>,
        issuer: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        region: Region,
    ) -> Self {
        IdentityService {
            store,
            issuer,
            clock,
            region,
        }
    }

    async fn begin(&self) -> DomainResult<Box<dyn Tx>> {
        Ok(self.store.begin().await?)
    }

    fn new_identity(&self, pool_id: &str, authenticated: bool) -> Identity {
        let now = self.clock.now();
        Identity {
            id: self.region.new_id(),
            pool_id: pool_id.to_owned(),
            authenticated,
            disabled: false,
            created_at: now,
            last_modified_at: now,
        }
    }

    /// Check every entry of a public call's `Logins`. Only tokens Cognate
    /// issued are accepted here; upstream providers are verified by the
    /// federation layer, and developer logins only through signed calls.
    async fn prove_logins(
        &self,
        pool: &IdentityPool,
        logins: &Logins,
    ) -> DomainResult<ProvenLogins> {
        let mut proven = ProvenLogins::default();
        for (provider, token) in logins {
            if provider == COGNITO_IDENTITY_PROVIDER {
                let claims = self.issuer.verify(token).await.map_err(|e| match e {
                    TokenRejection::Expired => {
                        DomainError::NotAuthorized("Invalid login token. Token expired.".into())
                    }
                    _ => DomainError::NotAuthorized("Invalid login token.".into()),
                })?;
                if claims.aud != pool.id {
                    return Err(DomainError::NotAuthorized(
                        "Invalid login token. Token is for another identity pool.".into(),
                    ));
                }
                proven.cognito_identities.insert(claims.sub);
            } else if pool.settings.provider_names().iter().any(|p| p == provider) {
                return Err(DomainError::NotAuthorized(format!(
                    "Invalid login token. Logins from {provider} cannot be verified by this deployment yet."
                )));
            } else {
                return Err(DomainError::NotAuthorized(UNSUPPORTED_PROVIDER.into()));
            }
        }
        Ok(proven)
    }

    async fn public_pool(tx: &mut Box<dyn Tx>, pool_id: &str) -> DomainResult<IdentityPool> {
        tx.find_pool_by_id(pool_id)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    /// GetId: the identity for these logins, or a new unauthenticated one.
    pub async fn get_id(&self, pool_id: &str, logins: &Logins) -> DomainResult<String> {
        let mut tx = self.begin().await?;
        let pool = Self::public_pool(&mut tx, pool_id).await?;
        if logins.is_empty() {
            if !pool.settings.allow_unauthenticated {
                return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
            }
            let identity = self.new_identity(pool_id, false);
            tx.insert_identity(&identity).await?;
            tx.commit().await?;
            return Ok(identity.id);
        }
        let proven = self.prove_logins(&pool, logins).await?;
        let Some(identity_id) = proven.cognito_identities.iter().next().cloned() else {
            return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
        };
        if proven.cognito_identities.len() > 1 {
            return Err(DomainError::ResourceConflict(
                "The logins belong to different identities.".into(),
            ));
        }
        let identity = tx
            .find_identity(&identity_id, RowLock::Share)
            .await?
            .filter(|i| i.pool_id == pool_id)
            .ok_or_else(|| DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()))?;
        if identity.disabled {
            return Err(forbidden_identity(&identity.id));
        }
        tx.commit().await?;
        Ok(identity.id)
    }

    /// GetOpenIdToken: a 10-minute token for an identity. An identity that
    /// has logins must present at least one valid login of its own.
    pub async fn get_open_id_token(
        &self,
        identity_id: &str,
        logins: &Logins,
    ) -> DomainResult<String> {
        let mut tx = self.begin().await?;
        let identity = tx
            .find_identity(identity_id, RowLock::Share)
            .await?
            .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
        if identity.disabled {
            return Err(forbidden_identity(identity_id));
        }
        let pool = Self::public_pool(&mut tx, &identity.pool_id).await?;
        let proven = self.prove_logins(&pool, logins).await?;
        if identity.authenticated {
            if !proven.cognito_identities.contains(identity_id) {
                return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
            }
        } else if !logins.is_empty() && !proven.cognito_identities.contains(identity_id) {
            return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
        } else if !pool.settings.allow_unauthenticated {
            return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
        }
        let token = self
            .mint(&mut tx, &pool, &identity, None, OPEN_ID_TOKEN_SECONDS)
            .await?;
        // Commit after signing: a concurrent delete or merge waits on our
        // row lock, so it cannot commit before this token exists.
        tx.commit().await?;
        Ok(token)
    }

    /// Sign a token for `identity` with its current providers in `amr`.
    async fn mint(
        &self,
        tx: &mut Box<dyn Tx>,
        pool: &IdentityPool,
        identity: &Identity,
        tags: Option<SessionTags>,
        lifetime_seconds: i64,
    ) -> DomainResult<String> {
        let amr = if identity.authenticated {
            let providers: BTreeSet<String> = tx
                .logins_of(&identity.id)
                .await?
                .into_iter()
                .map(|l| l.provider)
                .collect();
            std::iter::once("authenticated".to_owned())
                .chain(providers)
                .collect()
        } else {
            vec!["unauthenticated".to_owned()]
        };
        let now = self.clock.now().timestamp();
        let claims = OpenIdClaims {
            iss: self.issuer.issuer().to_owned(),
            sub: identity.id.clone(),
            aud: pool.id.clone(),
            amr,
            iat: now,
            exp: now + lifetime_seconds,
            identity_pool_arn: pool_arn(&self.region, &pool.account_id, &pool.id),
            tags,
        };
        self.issuer.sign(&claims).await
    }

    async fn owned_pool(
        tx: &mut Box<dyn Tx>,
        account: &AccountId,
        pool_id: &str,
    ) -> DomainResult<IdentityPool> {
        tx.find_pool(account, pool_id, false)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    fn developer_provider(pool: &IdentityPool) -> DomainResult<&str> {
        pool.settings
            .developer_provider_name
            .as_deref()
            .ok_or_else(|| {
                DomainError::InvalidParameter(format!(
                    "Identity pool {} has no DeveloperProviderName.",
                    pool.id
                ))
            })
    }

    fn check_named_provider(pool: &IdentityPool, provider: &str) -> DomainResult<()> {
        let dev = Self::developer_provider(pool)?;
        if dev != provider {
            return Err(DomainError::InvalidParameter(format!(
                "DeveloperProviderName '{provider}' does not match the identity pool's developer provider."
            )));
        }
        Ok(())
    }

    /// An identity of `pool_id`, locked; NotFound when it is in another pool.
    async fn pool_identity(
        tx: &mut Box<dyn Tx>,
        pool_id: &str,
        identity_id: &str,
        lock: RowLock,
    ) -> DomainResult<Identity> {
        tx.find_identity(identity_id, lock)
            .await?
            .filter(|i| i.pool_id == pool_id)
            .ok_or_else(|| DomainError::identity_not_found(identity_id))
    }

    /// GetOpenIdTokenForDeveloperIdentity.
    pub async fn get_open_id_token_for_developer_identity(
        &self,
        account: &AccountId,
        req: DeveloperTokenRequest,
    ) -> DomainResult<(String, String)> {
        let lifetime = req
            .token_duration
            .unwrap_or(DEFAULT_DEVELOPER_TOKEN_SECONDS);
        if !(1..=MAX_DEVELOPER_TOKEN_SECONDS).contains(&lifetime) {
            return Err(DomainError::InvalidParameter(format!(
                "TokenDuration must be between 1 and {MAX_DEVELOPER_TOKEN_SECONDS} seconds."
            )));
        }
        if req.principal_tags.len() > MAX_PRINCIPAL_TAGS {
            return Err(DomainError::InvalidParameter(format!(
                "At most {MAX_PRINCIPAL_TAGS} PrincipalTags may be given."
            )));
        }
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, &req.pool_id).await?;
        let dev_provider = Self::developer_provider(&pool)?.to_owned();
        let mut user = None;
        for (provider, value) in &req.logins {
            if provider == &dev_provider {
                user = Some(value.clone());
            } else if pool.settings.provider_names().iter().any(|p| p == provider) {
                return Err(DomainError::NotAuthorized(format!(
                    "Invalid login token. Logins from {provider} cannot be verified by this deployment yet."
                )));
            } else {
                return Err(DomainError::NotAuthorized(UNSUPPORTED_PROVIDER.into()));
            }
        }
        let user = user.ok_or_else(|| {
            DomainError::InvalidParameter(format!(
                "Logins must contain the identity pool's developer provider '{dev_provider}'."
            ))
        })?;
        let login = |identity_id: &str| Login {
            pool_id: pool.id.clone(),
            provider: dev_provider.clone(),
            subject: user.clone(),
            developer: true,
            identity_id: identity_id.to_owned(),
        };
        let linked_to = tx.find_login(&pool.id, &dev_provider, &user).await?;
        let identity = match (&req.identity_id, linked_to) {
            (Some(wanted), Some(existing)) if wanted != &existing => {
                return Err(DomainError::DeveloperUserAlreadyRegistered(
                    DEVELOPER_USER_REGISTERED.into(),
                ));
            }
            (_, Some(existing)) => {
                Self::pool_identity(&mut tx, &pool.id, &existing, RowLock::Share).await?
            }
            (Some(wanted), None) => {
                let mut identity =
                    Self::pool_identity(&mut tx, &pool.id, wanted, RowLock::Update).await?;
                if identity.disabled {
                    return Err(forbidden_identity(wanted));
                }
                match tx.insert_login(&login(wanted)).await? {
                    LoginClaim::Linked => {}
                    LoginClaim::Taken(other) if &other == wanted => {}
                    LoginClaim::Taken(_) => {
                        return Err(DomainError::DeveloperUserAlreadyRegistered(
                            DEVELOPER_USER_REGISTERED.into(),
                        ));
                    }
                }
                identity.authenticated = true;
                identity.last_modified_at = self.clock.now();
                tx.update_identity(&identity).await?;
                identity
            }
            (None, None) => {
                let fresh = self.new_identity(&pool.id, true);
                tx.insert_identity(&fresh).await?;
                match tx.insert_login(&login(&fresh.id)).await? {
                    LoginClaim::Linked => fresh,
                    LoginClaim::Taken(winner) => {
                        // A concurrent call registered this user first: use its identity.
                        tx.delete_identity(&fresh.id).await?;
                        Self::pool_identity(&mut tx, &pool.id, &winner, RowLock::Share).await?
                    }
                }
            }
        };
        if identity.disabled {
            return Err(forbidden_identity(&identity.id));
        }
        let tags = (!req.principal_tags.is_empty()).then(|| SessionTags {
            principal_tags: req
                .principal_tags
                .iter()
                .map(|(k, v)| (k.clone(), vec![v.clone()]))
                .collect(),
            transitive_tag_keys: Vec::new(),
        });
        let token = self.mint(&mut tx, &pool, &identity, tags, lifetime).await?;
        tx.commit().await?;
        Ok((identity.id, token))
    }

    /// LookupDeveloperIdentity.
    pub async fn lookup_developer_identity(
        &self,
        account: &AccountId,
        pool_id: &str,
        identity_id: Option<&str>,
        user: Option<&str>,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> DomainResult<Lookup> {
        let limit = max_results.unwrap_or(60);
        let after = next_token.map(decode_cursor).transpose()?;
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        let dev = Self::developer_provider(&pool)?.to_owned();
        let lookup = match (identity_id, user) {
            (None, None) => {
                return Err(DomainError::InvalidParameter(
                    "Either IdentityId or DeveloperUserIdentifier must not be null.".into(),
                ));
            }
            (id, Some(user)) => {
                let found = tx.find_login(&pool.id, &dev, user).await?.ok_or_else(|| {
                    DomainError::ResourceNotFound(format!(
                        "DeveloperUserIdentifier '{user}' not found."
                    ))
                })?;
                if let Some(id) = id {
                    Self::pool_identity(&mut tx, &pool.id, id, RowLock::None).await?;
                    if id != found {
                        return Err(DomainError::ResourceConflict(format!(
                            "DeveloperUserIdentifier '{user}' is not linked to identity '{id}'."
                        )));
                    }
                }
                Lookup {
                    identity_id: found,
                    developer_user_identifiers: vec![user.to_owned()],
                    next_token: None,
                }
            }
            (Some(id), None) => {
                Self::pool_identity(&mut tx, &pool.id, id, RowLock::None).await?;
                let rows = tx.developer_ids_of(id, &dev, after, limit + 1).await?;
                let (users, next_token) = page(rows, limit);
                Lookup {
                    identity_id: id.to_owned(),
                    developer_user_identifiers: users,
                    next_token,
                }
            }
        };
        tx.commit().await?;
        Ok(lookup)
    }

    /// MergeDeveloperIdentities: the source user's identity joins the
    /// destination user's. Every login of the source identity moves to the
    /// destination identity and the source identity is disabled, in one
    /// transaction holding both identities' row locks (taken in id order,
    /// so concurrent merges and unlinks cannot deadlock).
    pub async fn merge_developer_identities(
        &self,
        account: &AccountId,
        pool_id: &str,
        provider: &str,
        source_user: &str,
        destination_user: &str,
    ) -> DomainResult<String> {
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        Self::check_named_provider(&pool, provider)?;
        let not_found = |u: &str| {
            DomainError::ResourceNotFound(format!("DeveloperUserIdentifier '{u}' not found."))
        };
        let source_id = tx
            .find_login(&pool.id, provider, source_user)
            .await?
            .ok_or_else(|| not_found(source_user))?;
        let dest_id = tx
            .find_login(&pool.id, provider, destination_user)
            .await?
            .ok_or_else(|| not_found(destination_user))?;
        if source_id == dest_id {
            tx.commit().await?;
            return Ok(dest_id);
        }
        let (first, second) = if source_id < dest_id {
            (&source_id, &dest_id)
        } else {
            (&dest_id, &source_id)
        };
        let a = Self::pool_identity(&mut tx, &pool.id, first, RowLock::Update).await?;
        let b = Self::pool_identity(&mut tx, &pool.id, second, RowLock::Update).await?;
        let (mut source, mut dest) = if a.id == source_id { (a, b) } else { (b, a) };
        // Re-read the logins under the locks: an unlink may have committed.
        if tx
            .find_login(&pool.id, provider, source_user)
            .await?
            .as_deref()
            != Some(&source.id)
            || tx
                .find_login(&pool.id, provider, destination_user)
                .await?
                .as_deref()
                != Some(&dest.id)
        {
            return Err(DomainError::ConcurrentModification(
                "The identities changed while merging; retry the request.".into(),
            ));
        }
        if dest.disabled {
            return Err(forbidden_identity(&dest.id));
        }
        let source_logins = tx.logins_of(&source.id).await?;
        let dest_logins = tx.logins_of(&dest.id).await?;
        if source_logins.len() + dest_logins.len() > MAX_LINKED_LOGINS {
            return Err(DomainError::ResourceConflict(format!(
                "The merged identity would have more than {MAX_LINKED_LOGINS} linked logins."
            )));
        }
        let dest_public: BTreeSet<&str> = dest_logins
            .iter()
            .filter(|l| !l.developer)
            .map(|l| l.provider.as_str())
            .collect();
        if let Some(clash) = source_logins
            .iter()
            .find(|l| !l.developer && dest_public.contains(l.provider.as_str()))
        {
            return Err(DomainError::ResourceConflict(format!(
                "Both identities have a different {} login; they cannot be merged.",
                clash.provider
            )));
        }
        tx.move_logins(&source.id, &dest.id).await?;
        let now = self.clock.now();
        source.disabled = true;
        source.last_modified_at = now;
        dest.authenticated = true;
        dest.last_modified_at = now;
        tx.update_identity(&source).await?;
        tx.update_identity(&dest).await?;
        tx.commit().await?;
        tracing::info!(identity.id = %dest.id, merged.identity.id = %source.id, "developer identities merged");
        Ok(dest.id)
    }

    /// UnlinkDeveloperIdentity: the user becomes a new identity next time it
    /// is seen; an identity left with no login becomes inaccessible.
    pub async fn unlink_developer_identity(
        &self,
        account: &AccountId,
        pool_id: &str,
        identity_id: &str,
        provider: &str,
        user: &str,
    ) -> DomainResult<()> {
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        Self::check_named_provider(&pool, provider)?;
        let mut identity =
            Self::pool_identity(&mut tx, &pool.id, identity_id, RowLock::Update).await?;
        if !tx.delete_login(identity_id, provider, user).await? {
            return Err(DomainError::ResourceConflict(format!(
                "DeveloperUserIdentifier '{user}' is not linked to identity '{identity_id}'."
            )));
        }
        identity.last_modified_at = self.clock.now();
        if tx.logins_of(identity_id).await?.is_empty() {
            identity.disabled = true;
        }
        tx.update_identity(&identity).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An identity of a pool the account owns.
    async fn account_identity(
        tx: &mut Box<dyn Tx>,
        account: &AccountId,
        identity_id: &str,
        lock: RowLock,
    ) -> DomainResult<Identity> {
        let identity = tx
            .find_identity(identity_id, lock)
            .await?
            .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
        tx.find_pool(account, &identity.pool_id, false)
            .await?
            .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
        Ok(identity)
    }

    /// DescribeIdentity.
    pub async fn describe_identity(
        &self,
        account: &AccountId,
        identity_id: &str,
    ) -> DomainResult<IdentityDescription> {
        let mut tx = self.begin().await?;
        let identity = Self::account_identity(&mut tx, account, identity_id, RowLock::None).await?;
        let providers: BTreeSet<String> = tx
            .logins_of(identity_id)
            .await?
            .into_iter()
            .map(|l| l.provider)
            .collect();
        tx.commit().await?;
        Ok(IdentityDescription {
            identity,
            providers: providers.into_iter().collect(),
        })
    }

    /// ListIdentities.
    pub async fn list_identities(
        &self,
        account: &AccountId,
        pool_id: &str,
        max_results: u32,
        next_token: Option<&str>,
        hide_disabled: bool,
    ) -> DomainResult<IdentityPage> {
        let after = next_token.map(decode_cursor).transpose()?;
        let mut tx = self.begin().await?;
        Self::owned_pool(&mut tx, account, pool_id).await?;
        let rows = tx
            .list_identities(pool_id, after, max_results + 1, hide_disabled)
            .await?;
        tx.commit().await?;
        let (identities, next_token) = page(rows, max_results);
        Ok(IdentityPage {
            identities,
            next_token,
        })
    }

    /// DeleteIdentities: each id that is not an identity of this account's
    /// pools is returned as unprocessed with `AccessDenied` (unknown and
    /// foreign ids are indistinguishable, so nothing leaks across accounts).
    pub async fn delete_identities(
        &self,
        account: &AccountId,
        identity_ids: &[String],
    ) -> DomainResult<Vec<(String, &'static str)>> {
        let mut unprocessed = Vec::new();
        let mut tx = self.begin().await?;
        let mut ids: Vec<&String> = identity_ids.iter().collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            match Self::account_identity(&mut tx, account, id, RowLock::Update).await {
                Ok(_) => {
                    tx.delete_identity(id).await?;
                }
                Err(DomainError::ResourceNotFound(_)) => {
                    unprocessed.push((id.clone(), "AccessDenied"));
                }
                Err(other) => return Err(other),
            }
        }
        tx.commit().await?;
        Ok(unprocessed)
    }
}
