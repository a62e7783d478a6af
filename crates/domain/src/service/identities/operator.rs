//! What the operator console asks of identities that no API operation
//! answers: how many a pool has, which one a login belongs to, an
//! identity's logins as an operator sees them, and unlinking a provider's
//! logins without the user's token.
//!
//! Each is scoped to an account like the management operations: an
//! identity or pool of another account is "not found".

use super::*;
use crate::audit::Recorder;

/// A login linked to an identity, as an operator sees it: the provider,
/// and the developer user identifier in the clear (an upstream subject is
/// stored only as a keyed hash, so it is never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedLogin {
    /// The provider name (a `Logins` key, or the pool's developer provider).
    pub provider: ProviderName,
    /// The developer user identifier, for a developer login.
    pub developer_user_id: Option<String>,
}

impl IdentityService {
    /// How many identities `pool_id` has, counted up to `cap`.
    pub async fn count_identities(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        cap: u64,
    ) -> DomainResult<u64> {
        let mut tx = self.begin().await?;
        Self::owned_pool(&mut tx, account, pool_id).await?;
        let count = tx.count_identities(pool_id, cap).await?;
        tx.commit().await?;
        Ok(count)
    }

    /// The identity of `pool_id` that the login of `provider` with
    /// `subject` is linked to: a developer user identifier as given, an
    /// upstream subject hashed as it is stored.
    pub async fn find_by_login(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
        subject: &str,
    ) -> DomainResult<Option<IdentityId>> {
        let mut tx = self.begin().await?;
        let pool = Self::owned_pool(&mut tx, account, pool_id).await?;
        let stored = if pool.settings.developer_provider_name.as_ref() == Some(provider) {
            subject.to_owned()
        } else {
            self.hasher.hash(provider, subject)
        };
        let found = tx.find_login(pool_id, provider, &stored).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// The logins of an identity of the account's pools, oldest first.
    pub async fn linked_logins(
        &self,
        account: &AccountId,
        identity_id: &IdentityId,
    ) -> DomainResult<Vec<LinkedLogin>> {
        let mut tx = self.begin().await?;
        Self::account_identity(&mut tx, account, identity_id, RowLock::None).await?;
        let logins = tx.logins_of(identity_id).await?;
        tx.commit().await?;
        Ok(logins
            .into_iter()
            .map(|login| LinkedLogin {
                developer_user_id: login.developer.then_some(login.subject),
                provider: login.provider,
            })
            .collect())
    }

    /// Unlink every login of `provider` (not the developer provider's:
    /// UnlinkDeveloperIdentity does that) from an identity of the
    /// account's pools, as an operator may without the user's token. An
    /// identity left with no login is disabled, as UnlinkIdentity leaves
    /// it. Recorded as UnlinkIdentity.
    pub async fn unlink_provider(
        &self,
        account: &AccountId,
        identity_id: &IdentityId,
        provider: &ProviderName,
        audit: &dyn Recorder,
    ) -> DomainResult<Vec<ProviderName>> {
        let mut tx = self.begin().await?;
        let identity =
            Self::account_identity(&mut tx, account, identity_id, RowLock::Update).await?;
        let current = tx.logins_of(identity_id).await?;
        let mut removed = Vec::new();
        for login in current
            .iter()
            .filter(|l| !l.developer && &l.provider == provider)
        {
            if tx
                .delete_login(identity_id, &login.provider, &login.subject)
                .await?
            {
                removed.push(login.provider.clone());
            }
        }
        if removed.is_empty() {
            return Err(DomainError::InvalidParameter(format!(
                "Identity {identity_id} has no login of {provider} to unlink."
            )));
        }
        self.unlinked(tx, identity, &removed, audit).await?;
        Ok(removed)
    }
}
