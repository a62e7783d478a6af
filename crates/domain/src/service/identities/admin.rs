//! The management plane of identities: DescribeIdentity, ListIdentities,
//! DeleteIdentities.

use std::collections::BTreeSet;

use super::*;
use crate::audit::{Change, Recorder};
use crate::service::record;

impl IdentityService {
    /// An identity of a pool the account owns.
    pub(super) async fn account_identity(
        tx: &mut Box<dyn Tx>,
        account: &AccountId,
        identity_id: &IdentityId,
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
        identity_id: &IdentityId,
    ) -> DomainResult<IdentityDescription> {
        let mut tx = self.begin().await?;
        let identity = Self::account_identity(&mut tx, account, identity_id, RowLock::None).await?;
        let providers: BTreeSet<ProviderName> = tx
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
        pool_id: &IdentityPoolId,
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
        identity_ids: &[IdentityId],
        audit: &dyn Recorder,
    ) -> DomainResult<Vec<(IdentityId, &'static str)>> {
        let mut unprocessed = Vec::new();
        let mut deleted = Vec::new();
        let mut tx = self.begin().await?;
        let mut ids: Vec<&IdentityId> = identity_ids.iter().collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            match Self::account_identity(&mut tx, account, id, RowLock::Update).await {
                Ok(_) => {
                    tx.delete_identity(id).await?;
                    deleted.push(id.clone());
                }
                Err(DomainError::ResourceNotFound(_)) => {
                    unprocessed.push((id.clone(), "AccessDenied"));
                }
                Err(other) => return Err(other),
            }
        }
        let change = Change::IdentitiesDeleted {
            deleted: &deleted,
            unprocessed: &unprocessed,
        };
        record(&mut tx, audit, change).await?;
        tx.commit().await?;
        Ok(unprocessed)
    }
}
