//! The public operations: GetId, GetOpenIdToken (the basic flow),
//! GetCredentialsForIdentity (the enhanced flow), UnlinkIdentity, and the
//! minting of Cognate's tokens with their principal tags.

use std::collections::{BTreeMap, BTreeSet};

use super::link::{Caller, LOGINS_DONT_MATCH};
use super::*;
use crate::audit::Recorder;

impl IdentityService {
    /// GetId: the identity for these logins (created, linked or merged as
    /// AWS documents), or a new unauthenticated one when there are none.
    pub async fn get_id(
        &self,
        pool_id: &IdentityPoolId,
        logins: &Logins,
    ) -> DomainResult<IdentityId> {
        if logins.is_empty() {
            // One statement, no transaction and no read before it: the
            // insert itself checks that the pool exists and takes guests,
            // so a deletion or AllowUnauthenticatedIdentities=false that
            // committed before this call began refuses it.
            let identity = self.new_identity(pool_id, false);
            if self
                .store
                .insert_guest_identity_if_pool_takes_guests(&identity)
                .await?
            {
                return Ok(identity.id);
            }
            // Refused: say why. A pool that is there took no guests when
            // the insert ran (a concurrent update may have changed that
            // since; the refusal is still what the insert saw).
            self.read_pool_by_id(pool_id).await?;
            return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
        }
        // The pool from the cache if it is there: every answer given with
        // it is checked against the version a later snapshot shows (see
        // `pool_cache`); when that differs, start again from a fresh read.
        let mut next = self.pools.get(pool_id).map(|hit| (hit, true));
        let proven = loop {
            let ((pool, version), from_cache) = match next.take() {
                Some(known) => known,
                None => (self.fresh_pool(pool_id).await?, false),
            };
            let proven = match self.prove_logins(&pool, logins, Caller::Public).await {
                Ok(proven) => proven,
                // A refusal stands if the pool it was decided on still is
                // the pool now; else decide again on the pool now.
                Err(refused) if from_cache => {
                    let now = self.fresh_pool(pool_id).await?;
                    if now.1 == version {
                        return Err(refused);
                    }
                    next = Some((now, false));
                    continue;
                }
                Err(refused) => return Err(refused),
            };
            let (known, seen) = self
                .returning_user(Resolving::new(Caller::Public, &pool, None, &proven), false)
                .await?;
            if from_cache && seen != Some(version) {
                self.pools.forget(pool_id);
                continue;
            }
            if let Some((identity, _)) = known {
                return Ok(identity.id);
            }
            break proven;
        };
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let pool = Self::public_pool(&mut tx, pool_id).await?;
            let identity = self
                .resolve(
                    &mut tx,
                    Resolving::new(Caller::Public, &pool, None, &proven),
                )
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
        identity_id: &IdentityId,
        logins: &Logins,
    ) -> DomainResult<(IdentityId, String)> {
        let issued = self.issue(identity_id, logins, Classic).await?;
        Ok((issued.identity.id, issued.token))
    }

    /// GetCredentialsForIdentity (the enhanced flow): choose the role, mint
    /// Cognate's token for the identity and exchange it at the STS.
    pub async fn get_credentials_for_identity(
        &self,
        identity_id: &IdentityId,
        logins: &Logins,
        custom_role_arn: Option<&str>,
    ) -> DomainResult<Granted> {
        let issued = self
            .issue(identity_id, logins, Enhanced { custom_role_arn })
            .await?;
        let role = issued.role;
        // Outside any transaction: STS may take its time.
        let credentials = self
            .sts
            .assume_role_with_web_identity(&role, STS_SESSION_NAME, &issued.token, STS_SESSION_SECONDS)
            .await
            .map_err(|e| {
                tracing::warn!(identity.id = %issued.identity.id, error = %e, "STS did not issue credentials");
                DomainError::from(e)
            })?;
        Ok(Granted {
            identity_id: issued.identity.id,
            credentials,
            role_arn: role,
        })
    }

    /// The common path of GetOpenIdToken and GetCredentialsForIdentity.
    /// Logins are checked first, outside any transaction, since checking
    /// them may call their provider. Without logins (the hot,
    /// unauthenticated path) the identity and its pool come from one
    /// snapshot read and no transaction: a token is issued only if they
    /// allowed it when that read began, so none is issued by a request
    /// that starts after a deletion (or a pool update) committed.
    async fn issue<F: Flow>(
        &self,
        identity_id: &IdentityId,
        logins: &Logins,
        flow: F,
    ) -> DomainResult<Issued<F::Role>> {
        let classic_refused = || {
            DomainError::InvalidParameter(
                "Basic (classic) flow is not enabled, please use enhanced flow.".into(),
            )
        };
        let (identity, pool) = self.read_identity_with_pool(identity_id).await?;
        if logins.is_empty() {
            // AWS's order: the identity's own state first (an
            // authenticated identity without logins is refused whatever
            // the flow), then the basic-flow switch, then guest access.
            if identity.disabled {
                return Err(forbidden_identity(identity_id));
            }
            if identity.authenticated {
                return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
            }
            if F::CLASSIC && !pool.settings.basic_flow_allowed() {
                return Err(classic_refused());
            }
            if !pool.settings.takes_guests() {
                return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
            }
            let proven = ProvenLogins::default();
            let role = flow.role(self, &pool, &identity, &proven)?;
            let amr = vec!["unauthenticated".to_owned()];
            let token = self
                .sign(&pool, &identity, amr, None, OPEN_ID_TOKEN_SECONDS)
                .await?;
            return Ok(Issued {
                identity,
                token,
                role,
            });
        }
        if F::CLASSIC && !pool.settings.basic_flow_allowed() {
            return Err(classic_refused());
        }
        let proven = self.prove_logins(&pool, logins, Caller::Public).await?;
        let pool_id = &pool.id;
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let pool = Self::public_pool(&mut tx, pool_id).await?;
            if F::CLASSIC && !pool.settings.basic_flow_allowed() {
                return Err(classic_refused());
            }
            let identity = self
                .resolve(
                    &mut tx,
                    Resolving::new(Caller::Public, &pool, Some(identity_id), &proven),
                )
                .await?;
            let role = flow.role(self, &pool, &identity, &proven)?;
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

    /// The role of the enhanced flow: the custom role if the account may
    /// use it, else the pool's choice.
    pub(super) fn enhanced_role(
        &self,
        custom_role_arn: Option<&str>,
        pool: &IdentityPool,
        identity: &Identity,
        proven: &ProvenLogins,
    ) -> DomainResult<String> {
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
        let chosen = choose_role(pool, identity.authenticated, &claims, custom_role_arn)?;
        // A role an IdP's SAML assertion granted passes the same account
        // check as one the pool's owner names.
        if claims.iter().any(|l| saml_roles(l).contains(&chosen)) {
            self.role_trust.check(&pool.account_id, &chosen)?;
        }
        Ok(chosen)
    }

    /// Session tags for a token: those of a Cognate token presented as a
    /// login (a developer token's PrincipalTags), then each verified upstream
    /// login's claims mapped by the pool's principal-tag map for its provider
    /// (defaults: `client` = aud, `username` = sub, as AWS's defaults).
    pub(super) async fn principal_tags(
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
    pub(super) async fn mint(
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
                .map(|l| l.provider.into())
                .collect();
            std::iter::once("authenticated".to_owned())
                .chain(providers)
                .collect()
        } else {
            vec!["unauthenticated".to_owned()]
        };
        self.sign(pool, identity, amr, tags, lifetime_seconds).await
    }

    /// Sign a token for `identity` with these `amr` values.
    pub(super) async fn sign(
        &self,
        pool: &IdentityPool,
        identity: &Identity,
        amr: Vec<String>,
        tags: Option<SessionTags>,
        lifetime_seconds: i64,
    ) -> DomainResult<String> {
        let now = self.clock.now().timestamp();
        let claims = OpenIdClaims {
            iss: self.issuer.issuer().to_owned(),
            sub: identity.id.to_string(),
            aud: pool.id.to_string(),
            amr,
            iat: now,
            exp: now + lifetime_seconds,
            identity_pool_arn: pool_arn(&self.region, &pool.account_id, &pool.id),
            tags,
        };
        self.issuer.sign(&claims).await
    }

    /// UnlinkIdentity (public): remove the logins of the named providers
    /// from an identity; the caller proves the identity with a valid login
    /// of its own. An identity left with no login becomes inaccessible.
    /// Developer logins are removed only with UnlinkDeveloperIdentity.
    pub async fn unlink_identity(
        &self,
        identity_id: &IdentityId,
        logins: &Logins,
        logins_to_remove: &[String],
        audit: &dyn Recorder,
    ) -> DomainResult<()> {
        let (_, pool) = self.read_identity_with_pool(identity_id).await?;
        let proven = self.prove_logins(&pool, logins, Caller::Public).await?;
        let mut tx = self.begin().await?;
        let identity = tx
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
        let mut removed = Vec::new();
        for login in current.iter().filter(|l| !l.developer) {
            if logins_to_remove.iter().any(|p| p == &login.provider)
                && tx
                    .delete_login(identity_id, &login.provider, &login.subject)
                    .await?
            {
                removed.push(login.provider.clone());
            }
        }
        self.unlinked(tx, identity, &removed, audit).await
    }
}
