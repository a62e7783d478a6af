//! The developer-authenticated identities: GetOpenIdTokenForDeveloperIdentity,
//! LookupDeveloperIdentity, MergeDeveloperIdentities, UnlinkDeveloperIdentity.

use std::collections::BTreeSet;

use super::link::Caller;
use super::*;
use crate::audit::{Change, Recorder};
use crate::service::record;

impl IdentityService {
    /// GetOpenIdTokenForDeveloperIdentity: the developer user's identity
    /// (created, or linked to the given IdentityId), with any public logins
    /// in the same map linked or merged as in GetId.
    pub async fn get_open_id_token_for_developer_identity(
        &self,
        account: &AccountId,
        req: DeveloperTokenRequest,
    ) -> DomainResult<(IdentityId, String)> {
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
        if req.logins.len() == 1 {
            // The returning developer user, the most common call of all:
            // read from one snapshot, signed without a transaction or a
            // connection held.
            if let Some(issued) = self.returning_developer(account, &req, lifetime).await? {
                return Ok(issued);
            }
            // Else, only the developer login: nothing to ask an upstream
            // provider, so everything happens in one transaction.
            let fast = self
                .retrying(|| async {
                    let mut tx = self.begin().await?;
                    let pool = Self::owned_pool(&mut tx, account, &req.pool_id).await?;
                    let dev = Self::developer_provider(&pool)?;
                    let Some(proven) = ProvenLogins::developer_only(dev, &req.logins) else {
                        return Ok(None);
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

    /// The token of a returning developer user (a call with the developer
    /// login only, already linked to an enabled identity of the pool, and
    /// naming that identity or none), decided from one snapshot read with
    /// no transaction, as GetId decides a returning user's identity and
    /// GetOpenIdToken a guest's token: the answer a request at that instant
    /// would get; a deletion or merge that committed before is seen. The
    /// signature is made holding no database connection. `None` when
    /// anything would change or be refused: the caller then decides in a
    /// transaction (and words any refusal).
    async fn returning_developer(
        &self,
        account: &AccountId,
        req: &DeveloperTokenRequest,
        lifetime: i64,
    ) -> DomainResult<Option<(IdentityId, String)>> {
        let (pool, version) = match self.pools.get(&req.pool_id) {
            Some(hit) => hit,
            None => match self.fresh_pool(&req.pool_id).await {
                Ok(fresh) => fresh,
                Err(_) => return Ok(None),
            },
        };
        if pool.account_id != *account {
            return Ok(None);
        }
        let dev = pool.settings.developer_provider_name.as_ref();
        let Some(proven) = dev.and_then(|dev| ProvenLogins::developer_only(dev, &req.logins))
        else {
            return Ok(None);
        };
        let (known, seen) = self
            .returning_user(
                Resolving::new(Caller::Developer, &pool, req.identity_id.as_ref(), &proven),
                true,
            )
            .await?;
        if seen != Some(version) {
            self.pools.forget(&req.pool_id);
            return Ok(None);
        }
        let Some((identity, providers)) = known else {
            return Ok(None);
        };
        let amr = std::iter::once("authenticated".to_owned())
            .chain(providers.into_iter().map(String::from))
            .collect();
        let tags = with_request_tags(None, req);
        let token = self.sign(&pool, &identity, amr, tags, lifetime).await?;
        Ok(Some((identity.id, token)))
    }

    /// Resolve the developer call's logins to an identity and sign its token
    /// (the caller commits).
    pub(super) async fn developer_token_in(
        &self,
        tx: &mut Box<dyn Tx>,
        pool: &IdentityPool,
        req: &DeveloperTokenRequest,
        proven: &ProvenLogins,
        lifetime: i64,
    ) -> DomainResult<(IdentityId, String)> {
        let identity = self
            .resolve(
                tx,
                Resolving::new(Caller::Developer, pool, req.identity_id.as_ref(), proven),
            )
            .await?;
        let tags = with_request_tags(self.principal_tags(tx, pool, proven).await?, req);
        let token = self.mint(tx, pool, &identity, tags, lifetime).await?;
        Ok((identity.id, token))
    }

    /// LookupDeveloperIdentity.
    pub async fn lookup_developer_identity(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        identity_id: Option<&IdentityId>,
        user: Option<&DeveloperUserIdentifier>,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> DomainResult<Lookup> {
        let limit = max_results.unwrap_or(60);
        let after = next_token.map(decode_cursor).transpose()?;
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        let dev = Self::developer_provider(&pool)?.clone();
        let lookup = match (identity_id, user) {
            (None, None) => {
                return Err(DomainError::InvalidParameter(
                    "Either IdentityId or DeveloperUserIdentifier must not be null.".into(),
                ));
            }
            (id, Some(user)) => {
                let found = tx
                    .find_login(&pool.id, &dev, user.as_str())
                    .await?
                    .ok_or_else(|| {
                        DomainError::ResourceNotFound(format!(
                            "DeveloperUserIdentifier '{user}' not found."
                        ))
                    })?;
                if let Some(id) = id {
                    Self::pool_identity(&mut tx, &pool.id, id, RowLock::None).await?;
                    if id != &found {
                        return Err(DomainError::ResourceConflict(format!(
                            "DeveloperUserIdentifier '{user}' is not linked to identity '{id}'."
                        )));
                    }
                }
                Lookup {
                    identity_id: found,
                    developer_user_identifiers: vec![user.clone()],
                    next_token: None,
                }
            }
            (Some(id), None) => {
                Self::pool_identity(&mut tx, &pool.id, id, RowLock::None).await?;
                let rows = tx.developer_ids_of(id, &dev, after, limit + 1).await?;
                let (users, next_token) = page(rows, limit);
                Lookup {
                    identity_id: id.clone(),
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
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
        source_user: &DeveloperUserIdentifier,
        destination_user: &DeveloperUserIdentifier,
        audit: &dyn Recorder,
    ) -> DomainResult<IdentityId> {
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        Self::check_named_provider(&pool, provider)?;
        let not_found = |u: &DeveloperUserIdentifier| {
            DomainError::ResourceNotFound(format!("DeveloperUserIdentifier '{u}' not found."))
        };
        let source_id = tx
            .find_login(&pool.id, provider, source_user.as_str())
            .await?
            .ok_or_else(|| not_found(source_user))?;
        let dest_id = tx
            .find_login(&pool.id, provider, destination_user.as_str())
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
            .find_login(&pool.id, provider, source_user.as_str())
            .await?
            .as_ref()
            != Some(&source.id)
            || tx
                .find_login(&pool.id, provider, destination_user.as_str())
                .await?
                .as_ref()
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
        let moved = tx.move_logins(&source.id, &dest.id).await?;
        let now = self.clock.now();
        source.disabled = true;
        source.last_modified_at = now;
        dest.authenticated = true;
        dest.last_modified_at = now;
        tx.update_identity(&source).await?;
        tx.update_identity(&dest).await?;
        let change = Change::IdentitiesMerged {
            pool_id: &pool.id,
            source: &source.id,
            destination: &dest.id,
            moved,
        };
        record(&mut tx, audit, change).await?;
        tx.commit().await?;
        tracing::info!(identity.id = %dest.id, merged.identity.id = %source.id, "developer identities merged");
        Ok(dest.id)
    }

    /// UnlinkDeveloperIdentity: the user becomes a new identity next time it
    /// is seen; an identity left with no login becomes inaccessible.
    pub async fn unlink_developer_identity(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        identity_id: &IdentityId,
        provider: &ProviderName,
        user: &DeveloperUserIdentifier,
        audit: &dyn Recorder,
    ) -> DomainResult<()> {
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        Self::check_named_provider(&pool, provider)?;
        let identity = Self::pool_identity(&mut tx, &pool.id, identity_id, RowLock::Update).await?;
        if !tx
            .delete_login(identity_id, provider, user.as_str())
            .await?
        {
            return Err(DomainError::ResourceConflict(format!(
                "DeveloperUserIdentifier '{user}' is not linked to identity '{identity_id}'."
            )));
        }
        self.unlinked(tx, identity, std::slice::from_ref(provider), audit)
            .await
    }
}

/// `tags` with the request's PrincipalTags added (they win); none if empty.
fn with_request_tags(
    tags: Option<SessionTags>,
    req: &DeveloperTokenRequest,
) -> Option<SessionTags> {
    let mut tags = tags.unwrap_or_default();
    for (k, v) in &req.principal_tags {
        tags.principal_tags.insert(k.clone(), vec![v.clone()]);
    }
    (!tags.principal_tags.is_empty()).then_some(tags)
}
