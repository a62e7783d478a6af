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

use crate::credentials::{choose_role, Credentials, CredentialsIssuer, LoginClaims};
use crate::error::{DomainError, DomainResult};
use crate::federation::{LoginVerifier, SubjectHasher, VerifiedLogin};
use crate::identity::{Identity, IdentityDescription, Login, LoginClaim, RowLock};
use crate::ids::{pool_arn, AccountId, Region};
use crate::pool::{IdentityPool, RoleTrust, COGNITO_IDENTITY_PROVIDER};
use crate::ports::{Clock, Store, Tx};
use crate::service::paging::{decode_cursor, page};

mod link;

use crate::token::{OpenIdClaims, SessionTags, TokenIssuer, TokenRejection};
use link::{Caller, LOGINS_DONT_MATCH};

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
    /// Logins upstream providers vouched for, with the stored (hashed) subject.
    public: Vec<(VerifiedLogin, String)>,
    /// The developer user identifier (signed calls only).
    developer: Option<String>,
    /// Identities that presented tokens Cognate issued proved to be.
    cognito_identities: BTreeSet<String>,
    /// Session tags those tokens carried (a developer token's PrincipalTags),
    /// carried on into the tokens minted from them.
    cognito_tags: BTreeMap<String, Vec<String>>,
}

impl ProvenLogins {
    fn is_empty(&self) -> bool {
        self.public.is_empty() && self.developer.is_none() && self.cognito_identities.is_empty()
    }
}

/// Which flow a token is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow<'a> {
    /// GetOpenIdToken: the client calls STS itself.
    Classic,
    /// GetCredentialsForIdentity: Cognate chooses the role and calls STS.
    Enhanced {
        /// CustomRoleArn of the request.
        custom_role_arn: Option<&'a str>,
    },
}

/// A token issued for an identity (and, in the enhanced flow, its role).
#[derive(Debug)]
struct Issued {
    identity: Identity,
    token: String,
    role: Option<String>,
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
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("region", &self.region)
            .finish_non_exhaustive()
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

    /// Check every entry of `logins` (outside any transaction: upstream
    /// checks may call the provider). The developer provider is accepted
    /// only on signed calls.
    async fn prove_logins(
        &self,
        pool: &IdentityPool,
        logins: &Logins,
        caller: Caller,
    ) -> DomainResult<ProvenLogins> {
        let mut proven = ProvenLogins::default();
        let dev = pool.settings.developer_provider_name.as_deref();
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
                // A guest's own token is no way back in once the pool
                // stopped taking guests.
                if !pool.settings.allow_unauthenticated
                    && claims.amr.iter().any(|m| m == "unauthenticated")
                {
                    return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
                }
                if let Some(tags) = claims.tags {
                    proven.cognito_tags.extend(tags.principal_tags);
                }
                proven.cognito_identities.insert(claims.sub);
            } else if Some(provider.as_str()) == dev {
                if caller != Caller::Developer {
                    return Err(DomainError::NotAuthorized(UNSUPPORTED_PROVIDER.into()));
                }
                proven.developer = Some(token.clone());
            } else {
                let verified = self.upstream.verify(pool, provider, token).await?;
                let hashed = self.hasher.hash(provider, &verified.subject);
                proven.public.push((verified, hashed));
            }
        }
        Ok(proven)
    }

    async fn public_pool(tx: &mut Box<dyn Tx>, pool_id: &str) -> DomainResult<IdentityPool> {
        tx.find_pool_by_id(pool_id)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    async fn read_pool_by_id(&self, pool_id: &str) -> DomainResult<IdentityPool> {
        let mut tx = self.begin().await?;
        let pool = Self::public_pool(&mut tx, pool_id).await?;
        tx.commit().await?;
        Ok(pool)
    }

    /// The pool an identity belongs to (a short read, before checking logins).
    async fn read_pool_of_identity(&self, identity_id: &str) -> DomainResult<IdentityPool> {
        let mut tx = self.begin().await?;
        let identity = tx
            .find_identity(identity_id, RowLock::None)
            .await?
            .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
        let pool = Self::public_pool(&mut tx, &identity.pool_id).await?;
        tx.commit().await?;
        Ok(pool)
    }

    /// Run `attempt` again when it lost a race (ConcurrentModification).
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> DomainResult<T>
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

    /// GetId: the identity for these logins (created, linked or merged as
    /// AWS documents), or a new unauthenticated one when there are none.
    pub async fn get_id(&self, pool_id: &str, logins: &Logins) -> DomainResult<String> {
        if logins.is_empty() {
            let mut tx = self.begin().await?;
            let pool = Self::public_pool(&mut tx, pool_id).await?;
            if !pool.settings.allow_unauthenticated {
                return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
            }
            let identity = self.new_identity(pool_id, false);
            tx.insert_identity(&identity).await?;
            tx.commit().await?;
            return Ok(identity.id);
        }
        let pool = self.read_pool_by_id(pool_id).await?;
        let proven = self.prove_logins(&pool, logins, Caller::Public).await?;
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let pool = Self::public_pool(&mut tx, pool_id).await?;
            let identity = self
                .resolve(&mut tx, &pool, None, &proven, Caller::Public)
                .await?;
            tx.commit().await?;
            Ok(identity.id)
        })
        .await
    }

    /// GetOpenIdToken: a 10-minute token, for the basic (classic) flow,
    /// which the pool must allow (AllowClassicFlow). An identity that has
    /// logins must present at least one valid login of its own; new logins
    /// are linked (or their identities merged), so the identity returned may
    /// differ from the one named, as AWS documents.
    pub async fn get_open_id_token(
        &self,
        identity_id: &str,
        logins: &Logins,
    ) -> DomainResult<(String, String)> {
        let issued = self.issue(identity_id, logins, Flow::Classic).await?;
        Ok((issued.identity.id, issued.token))
    }

    /// GetCredentialsForIdentity (the enhanced flow): choose the role, mint
    /// Cognate's token for the identity and exchange it at the STS.
    pub async fn get_credentials_for_identity(
        &self,
        identity_id: &str,
        logins: &Logins,
        custom_role_arn: Option<&str>,
    ) -> DomainResult<(String, Credentials)> {
        let issued = self
            .issue(identity_id, logins, Flow::Enhanced { custom_role_arn })
            .await?;
        let role = issued.role.expect("the enhanced flow chooses a role");
        // Outside any transaction: STS may take its time.
        let credentials = self
            .sts
            .assume_role_with_web_identity(&role, STS_SESSION_NAME, &issued.token, STS_SESSION_SECONDS)
            .await
            .map_err(|e| {
                tracing::warn!(identity.id = %issued.identity.id, error = %e, "STS did not issue credentials");
                DomainError::from(e)
            })?;
        Ok((issued.identity.id, credentials))
    }

    /// The common path of GetOpenIdToken and GetCredentialsForIdentity.
    /// Without logins (the hot, unauthenticated path) it is one transaction;
    /// logins are checked first, outside any transaction, since checking
    /// them may call their provider.
    async fn issue(
        &self,
        identity_id: &str,
        logins: &Logins,
        flow: Flow<'_>,
    ) -> DomainResult<Issued> {
        let classic_refused = || {
            DomainError::InvalidParameter(
                "Basic (classic) flow is not enabled, please use enhanced flow.".into(),
            )
        };
        let proven = if logins.is_empty() {
            ProvenLogins::default()
        } else {
            let pool = self.read_pool_of_identity(identity_id).await?;
            if flow == Flow::Classic && !pool.settings.basic_flow_allowed() {
                return Err(classic_refused());
            }
            self.prove_logins(&pool, logins, Caller::Public).await?
        };
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            // Pool lock before identity lock, the order every use case keeps.
            let pool_id = tx
                .find_identity(identity_id, RowLock::None)
                .await?
                .ok_or_else(|| DomainError::identity_not_found(identity_id))?
                .pool_id;
            let pool = Self::public_pool(&mut tx, &pool_id).await?;
            let identity = if proven.is_empty() {
                // AWS's order: the identity's own state first (an
                // authenticated identity without logins is refused whatever
                // the flow), then the basic-flow switch, then guest access.
                let identity = tx
                    .find_identity(identity_id, RowLock::Share)
                    .await?
                    .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
                if identity.disabled {
                    return Err(forbidden_identity(identity_id));
                }
                if identity.authenticated {
                    return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
                }
                if flow == Flow::Classic && !pool.settings.basic_flow_allowed() {
                    return Err(classic_refused());
                }
                if !pool.settings.allow_unauthenticated {
                    return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
                }
                identity
            } else {
                if flow == Flow::Classic && !pool.settings.basic_flow_allowed() {
                    return Err(classic_refused());
                }
                self.resolve(&mut tx, &pool, Some(identity_id), &proven, Caller::Public)
                    .await?
            };
            let role = match flow {
                Flow::Classic => None,
                Flow::Enhanced { custom_role_arn } => {
                    if let Some(custom) = custom_role_arn {
                        self.role_trust.check(&pool.account_id, custom)?;
                    }
                    let claims: Vec<LoginClaims<'_>> = proven
                        .public
                        .iter()
                        .map(|(v, _)| LoginClaims {
                            provider: &v.provider,
                            audience: &v.audience,
                            claims: &v.claims,
                        })
                        .collect();
                    Some(choose_role(
                        &pool,
                        identity.authenticated,
                        &claims,
                        custom_role_arn,
                    )?)
                }
            };
            let tags = self.principal_tags(&mut tx, &pool, &proven).await?;
            let token = self
                .mint(&mut tx, &pool, &identity, tags, OPEN_ID_TOKEN_SECONDS)
                .await?;
            // Commit after signing: a concurrent delete or merge waits on our
            // row lock, so it cannot commit before this token exists.
            tx.commit().await?;
            Ok(Issued {
                identity,
                token,
                role,
            })
        })
        .await
    }

    /// The identity `proven` logins (and a named identity) resolve to, with
    /// every login linked to it, after merging the identities they spanned.
    ///
    /// Survivor of a merge: an authenticated identity over an
    /// unauthenticated one; among authenticated ones the named identity,
    /// else the oldest. The others are disabled and their logins move.
    /// Locks every identity involved (in id order) until the caller commits.
    async fn resolve(
        &self,
        tx: &mut Box<dyn Tx>,
        pool: &IdentityPool,
        named: Option<&str>,
        proven: &ProvenLogins,
        caller: Caller,
    ) -> DomainResult<Identity> {
        // Gather: every proven login and who owns it now.
        let mut wanted: Vec<Login> = proven
            .public
            .iter()
            .map(|(v, hashed)| Login {
                pool_id: pool.id.clone(),
                provider: v.provider.clone(),
                subject: hashed.clone(),
                developer: false,
                identity_id: String::new(),
            })
            .collect();
        if let (Some(user), Some(dev)) = (&proven.developer, &pool.settings.developer_provider_name)
        {
            wanted.push(Login {
                pool_id: pool.id.clone(),
                provider: dev.clone(),
                subject: user.clone(),
                developer: true,
                identity_id: String::new(),
            });
        }
        let mut claimed = Vec::with_capacity(wanted.len());
        for login in wanted {
            let owner = tx
                .find_login(&pool.id, &login.provider, &login.subject)
                .await?;
            claimed.push(link::Claimed { login, owner });
        }
        // The identities involved, locked in id order: shared when nothing
        // will be linked or merged (the returning user: nothing written).
        let involved = link::involved(named, &claimed, &proven.cognito_identities);
        let exclusive = link::exclusive(&claimed, &involved);
        let lock = if exclusive {
            RowLock::Update
        } else {
            RowLock::Share
        };
        let mut identities = BTreeMap::new();
        let mut current_logins = BTreeMap::new();
        for id in &involved {
            let identity = tx.find_identity(id, lock).await?;
            if exclusive && identity.as_ref().is_some_and(|i| i.pool_id == pool.id) {
                current_logins.insert(id.clone(), tx.logins_of(id).await?);
            }
            identities.insert(id.clone(), identity);
        }
        // Decide.
        let plan = link::plan(link::Input {
            pool_id: &pool.id,
            named,
            caller,
            claimed: &claimed,
            proven: &proven.cognito_identities,
            identities: &identities,
            current_logins: exclusive.then_some(&current_logins),
        })?;
        // Apply.
        let raced = || {
            DomainError::ConcurrentModification(
                "A concurrent request linked the same login; retry the request.".into(),
            )
        };
        let now = self.clock.now();
        match plan {
            link::Plan::Create { link } => {
                let fresh = self.new_identity(&pool.id, true);
                tx.insert_identity(&fresh).await?;
                for mut login in link {
                    login.identity_id = fresh.id.clone();
                    if let LoginClaim::Taken(_) = tx.insert_login(&login).await? {
                        // A concurrent call linked it first: run again, see theirs.
                        return Err(raced());
                    }
                }
                Ok(fresh)
            }
            link::Plan::Use {
                survivor,
                merge,
                link,
                touch,
            } => {
                for id in &merge {
                    let mut merged = identities
                        .remove(id)
                        .flatten()
                        .expect("the plan merges identities it was given");
                    tx.move_logins(id, &survivor).await?;
                    merged.disabled = true;
                    merged.last_modified_at = now;
                    tx.update_identity(&merged).await?;
                    tracing::info!(identity.id = %survivor, merged.identity.id = %id, "identities merged");
                }
                let mut survivor = identities
                    .remove(&survivor)
                    .flatten()
                    .expect("the plan's survivor was given");
                for mut login in link {
                    login.identity_id = survivor.id.clone();
                    if let LoginClaim::Taken(_) = tx.insert_login(&login).await? {
                        return Err(raced());
                    }
                }
                if touch {
                    survivor.authenticated = true;
                    survivor.last_modified_at = now;
                    tx.update_identity(&survivor).await?;
                }
                Ok(survivor)
            }
        }
    }

    /// Session tags for a token: those of a Cognate token presented as a
    /// login (a developer token's PrincipalTags), then each verified upstream
    /// login's claims mapped by the pool's principal-tag map for its provider
    /// (defaults: `client` = aud, `username` = sub, as AWS's defaults).
    async fn principal_tags(
        &self,
        tx: &mut Box<dyn Tx>,
        pool: &IdentityPool,
        proven: &ProvenLogins,
    ) -> DomainResult<Option<SessionTags>> {
        let mut tags: BTreeMap<String, Vec<String>> = proven.cognito_tags.clone();
        for (login, _) in &proven.public {
            let Some(map) = tx.find_principal_tag_map(&pool.id, &login.provider).await? else {
                continue;
            };
            let mut mapping = map.principal_tags.clone();
            if map.use_defaults {
                mapping.insert("client".into(), "aud".into());
                mapping.insert("username".into(), "sub".into());
            }
            for (tag, claim) in mapping {
                let value = match login.claims.get(&claim) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Array(values)) => match values.first() {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => continue,
                    },
                    Some(serde_json::Value::Null) | None => continue,
                    Some(other) => other.to_string(),
                };
                tags.insert(tag, vec![value]);
            }
        }
        Ok((!tags.is_empty()).then(|| SessionTags {
            principal_tags: tags,
            transitive_tag_keys: Vec::new(),
        }))
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

    /// GetOpenIdTokenForDeveloperIdentity: the developer user's identity
    /// (created, or linked to the given IdentityId), with any public logins
    /// in the same map linked or merged as in GetId.
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
        // Fast path, the common call: only the developer login, nothing to
        // ask an upstream provider, so everything happens in one transaction.
        if req.logins.len() == 1 {
            let fast = self
                .retrying(|| async {
                    let mut tx = self.begin().await?;
                    let pool = Self::owned_pool(&mut tx, account, &req.pool_id).await?;
                    let dev = Self::developer_provider(&pool)?;
                    let Some(user) = req.logins.get(dev) else {
                        return Ok(None);
                    };
                    let proven = ProvenLogins {
                        developer: Some(user.clone()),
                        ..ProvenLogins::default()
                    };
                    let issued = self
                        .developer_token_in(&mut tx, &pool, &req, &proven, lifetime)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(issued))
                })
                .await?;
            if let Some(issued) = fast {
                return Ok(issued);
            }
        }
        let pool = {
            let mut tx = self.begin().await?;
            let pool = Self::owned_pool(&mut tx, account, &req.pool_id).await?;
            tx.commit().await?;
            pool
        };
        let dev_provider = Self::developer_provider(&pool)?.to_owned();
        let proven = self
            .prove_logins(&pool, &req.logins, Caller::Developer)
            .await?;
        if proven.developer.is_none() {
            return Err(DomainError::InvalidParameter(format!(
                "Logins must contain the identity pool's developer provider '{dev_provider}'."
            )));
        }
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let pool = Self::owned_pool(&mut tx, account, &req.pool_id).await?;
            let issued = self
                .developer_token_in(&mut tx, &pool, &req, &proven, lifetime)
                .await?;
            tx.commit().await?;
            Ok(issued)
        })
        .await
    }

    /// Resolve the developer call's logins to an identity and sign its token
    /// (the caller commits).
    async fn developer_token_in(
        &self,
        tx: &mut Box<dyn Tx>,
        pool: &IdentityPool,
        req: &DeveloperTokenRequest,
        proven: &ProvenLogins,
        lifetime: i64,
    ) -> DomainResult<(String, String)> {
        let identity = self
            .resolve(
                tx,
                pool,
                req.identity_id.as_deref(),
                proven,
                Caller::Developer,
            )
            .await?;
        let mut tags = self
            .principal_tags(tx, pool, proven)
            .await?
            .unwrap_or_default();
        for (k, v) in &req.principal_tags {
            tags.principal_tags.insert(k.clone(), vec![v.clone()]);
        }
        let tags = (!tags.principal_tags.is_empty()).then_some(tags);
        let token = self.mint(tx, pool, &identity, tags, lifetime).await?;
        Ok((identity.id, token))
    }

    /// UnlinkIdentity (public): remove the logins of the named providers
    /// from an identity; the caller proves the identity with a valid login
    /// of its own. An identity left with no login becomes inaccessible.
    /// Developer logins are removed only with UnlinkDeveloperIdentity.
    pub async fn unlink_identity(
        &self,
        identity_id: &str,
        logins: &Logins,
        logins_to_remove: &[String],
    ) -> DomainResult<()> {
        let pool = self.read_pool_of_identity(identity_id).await?;
        let proven = self.prove_logins(&pool, logins, Caller::Public).await?;
        let mut tx = self.begin().await?;
        let mut identity = tx
            .find_identity(identity_id, RowLock::Update)
            .await?
            .ok_or_else(|| DomainError::identity_not_found(identity_id))?;
        if identity.disabled {
            return Err(forbidden_identity(identity_id));
        }
        let current = tx.logins_of(identity_id).await?;
        let proves = proven.cognito_identities.contains(identity_id)
            || proven.public.iter().any(|(v, hashed)| {
                current
                    .iter()
                    .any(|l| l.provider == v.provider && &l.subject == hashed)
            });
        if !proves {
            return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
        }
        let mut removed = 0;
        for login in current.iter().filter(|l| !l.developer) {
            if logins_to_remove.iter().any(|p| p == &login.provider)
                && tx
                    .delete_login(identity_id, &login.provider, &login.subject)
                    .await?
            {
                removed += 1;
            }
        }
        if removed > 0 {
            identity.last_modified_at = self.clock.now();
            if tx.logins_of(identity_id).await?.is_empty() {
                identity.disabled = true;
            }
            tx.update_identity(&identity).await?;
        }
        tx.commit().await?;
        Ok(())
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
