//! Proving a request's logins (outside any transaction: checking them may
//! call their provider) and resolving them to one identity inside the
//! caller's transaction: gather who owns what, [`link::plan`], apply.

use std::collections::{BTreeMap, BTreeSet};

use super::link::{self, Caller};
use super::*;

/// The logins `proven` holds for `pool`.
fn wanted_logins(pool: &IdentityPool, proven: &ProvenLogins) -> Vec<NewLogin> {
    let mut wanted: Vec<NewLogin> = proven
        .public
        .iter()
        .map(|(v, hashed)| NewLogin {
            provider: v.provider.clone(),
            subject: hashed.clone(),
            developer: false,
        })
        .collect();
    if let (Some(user), Some(dev)) = (&proven.developer, &pool.settings.developer_provider_name) {
        wanted.push(NewLogin {
            provider: dev.clone(),
            subject: user.clone(),
            developer: true,
        });
    }
    wanted
}

/// One request's logins being resolved to an identity of its pool: what
/// stays the same between the fast path's snapshot read and the locked
/// read of the transaction.
#[derive(Clone, Copy)]
pub(super) struct Resolving<'a> {
    /// The pool of the request.
    pub(super) pool: &'a IdentityPool,
    /// The `IdentityId` the request named, if any.
    pub(super) named: Option<&'a IdentityId>,
    /// The logins it proved.
    pub(super) proven: &'a ProvenLogins,
    /// Public or developer call.
    pub(super) caller: Caller,
}

impl<'a> Resolving<'a> {
    /// `caller`'s request in `pool`.
    pub(super) fn new(
        caller: Caller,
        pool: &'a IdentityPool,
        named: Option<&'a IdentityId>,
        proven: &'a ProvenLogins,
    ) -> Self {
        Resolving {
            pool,
            named,
            proven,
            caller,
        }
    }

    /// The identities the request involves, given who owns its logins.
    fn involved(&self, claimed: &[link::Claimed]) -> BTreeSet<IdentityId> {
        link::involved(self.named, claimed, &self.proven.cognito_identities)
    }

    /// [`link::plan`] on what was read.
    fn plan(
        &self,
        claimed: &[link::Claimed],
        identities: &BTreeMap<IdentityId, Option<Identity>>,
        current_logins: Option<&BTreeMap<IdentityId, Vec<crate::identity::Login>>>,
    ) -> DomainResult<link::Plan> {
        link::plan(link::Input {
            pool_id: &self.pool.id,
            named: self.named,
            caller: self.caller,
            claimed,
            proven: &self.proven.cognito_identities,
            identities,
            current_logins,
        })
    }
}

impl IdentityService {
    /// The returning user's fast path: the identity `proven` logins (and a
    /// named identity) already resolve to, decided from one snapshot read
    /// with no transaction, when [`link::plan`] would change nothing (every
    /// login linked to one enabled identity of the pool, nothing to merge,
    /// link or mark authenticated). `None` when anything would change or be
    /// refused: the caller then resolves in a transaction, which decides
    /// (and words any refusal) on what it reads under its locks. Also the
    /// pool's version at that snapshot (`None`: the pool is gone), for the
    /// caller to check the `pool` it decided with against.
    ///
    /// Sound because what the read shows only changes in one direction: a
    /// disabled identity is never enabled again, nor an authenticated one
    /// made a guest, so a login's owner that was enabled when read still
    /// was at the snapshot, and the answer is the one a request at that
    /// instant would get.
    ///
    /// With `amr`, the identity comes with the provider names of its
    /// logins, read in the same snapshot.
    pub(super) async fn returning_user(
        &self,
        request: Resolving<'_>,
        amr: bool,
    ) -> DomainResult<(Option<(Identity, Vec<ProviderName>)>, Option<PoolVersion>)> {
        let Resolving { pool, proven, .. } = request;
        let wanted = wanted_logins(pool, proven);
        let keys: Vec<(ProviderName, String)> = wanted
            .iter()
            .map(|l| (l.provider.clone(), l.subject.clone()))
            .collect();
        let also: Vec<IdentityId> = request
            .named
            .cloned()
            .into_iter()
            .chain(proven.cognito_identities.iter().cloned())
            .collect();
        let mut read = self
            .store
            .read_login_owners(&pool.id, &keys, &also, amr)
            .await?;
        let claimed: Vec<link::Claimed> = wanted
            .into_iter()
            .zip(read.owners)
            .map(|(login, owner)| link::Claimed { login, owner })
            .collect();
        let involved = request.involved(&claimed);
        if link::exclusive(&claimed, &involved) {
            return Ok((None, read.pool_version));
        }
        let mut identities: BTreeMap<IdentityId, Option<Identity>> =
            involved.iter().map(|id| (id.clone(), None)).collect();
        for identity in read.identities {
            if let Some(slot) = identities.get_mut(&identity.id) {
                *slot = Some(identity);
            }
        }
        let plan = request.plan(&claimed, &identities, None);
        let known = match plan {
            Ok(link::Plan::Use {
                survivor,
                merge,
                link,
                touch: false,
            }) if merge.is_empty() && link.is_empty() => identities.remove(&survivor).flatten(),
            _ => None,
        };
        let known = known.map(|identity| {
            let providers = read.providers.remove(&identity.id).unwrap_or_default();
            (identity, providers)
        });
        Ok((known, read.pool_version))
    }

    /// Check every entry of `logins` (outside any transaction: upstream
    /// checks may call the provider). The developer provider is accepted
    /// only on signed calls.
    pub(super) async fn prove_logins(
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
                if pool.id != claims.aud.as_str() {
                    return Err(DomainError::NotAuthorized(
                        "Invalid login token. Token is for another identity pool.".into(),
                    ));
                }
                // Cognate signed it, so `sub` is an identity id it made.
                let sub = IdentityId::try_from(claims.sub)
                    .map_err(|_| DomainError::NotAuthorized("Invalid login token.".into()))?;
                // A guest's own token is no way back in once the pool
                // stopped taking guests.
                if !pool.settings.takes_guests()
                    && claims.amr.iter().any(|m| m == "unauthenticated")
                {
                    return Err(DomainError::NotAuthorized(UNAUTH_NOT_SUPPORTED.into()));
                }
                if let Some(tags) = claims.tags {
                    proven.cognito_tags.extend(tags.principal_tags);
                }
                proven.cognito_identities.insert(sub);
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

    /// The identity `proven` logins (and a named identity) resolve to, with
    /// every login linked to it, after merging the identities they spanned.
    ///
    /// Survivor of a merge: an authenticated identity over an
    /// unauthenticated one; among authenticated ones the named identity,
    /// else the oldest. The others are disabled and their logins move.
    /// Locks every identity involved (in id order) until the caller commits.
    pub(super) async fn resolve(
        &self,
        tx: &mut Box<dyn Tx>,
        request: Resolving<'_>,
    ) -> DomainResult<Identity> {
        let Resolving { pool, proven, .. } = request;
        // Gather: every proven login and who owns it now.
        let wanted = wanted_logins(pool, proven);
        let mut claimed = Vec::with_capacity(wanted.len());
        for login in wanted {
            let owner = tx
                .find_login(&pool.id, &login.provider, &login.subject)
                .await?;
            claimed.push(link::Claimed { login, owner });
        }
        // The identities involved, locked in id order: shared when nothing
        // will be linked or merged (the returning user: nothing written).
        let involved = request.involved(&claimed);
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
        let plan = request.plan(&claimed, &identities, exclusive.then_some(&current_logins))?;
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
                for login in link {
                    let login = login.linked_to(&pool.id, &fresh.id);
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
                for login in link {
                    let login = login.linked_to(&pool.id, &survivor.id);
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
}
