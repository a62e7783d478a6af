//! The identity-pool management plane: create, describe, update, delete,
//! list, tags, roles and principal-tag attribute maps.
//!
//! Every read-modify-write takes the pool's row lock first, so concurrent
//! updates of one pool are applied one after the other and none is lost; a
//! lock that cannot be had in time surfaces as
//! `ConcurrentModificationException` (see [`crate::ports::StoreError::Contention`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::audit::{Change, Recorder};
use crate::error::{DomainError, DomainResult};
use crate::federation::LoginVerifier;
use crate::ids::{AccountId, IdentityPoolId, PoolArn, ProviderName, Region};
use crate::pool::{
    check_roles, check_tag_count, IdentityPool, PoolSettings, PoolSummary, PrincipalTagMap,
    RoleMapping, RoleTrust,
};
use crate::ports::{Clock, Store, Tx};
use crate::service::paging::{decode_cursor, page};
use crate::service::record;

/// Quotas, configurable for operators (and tests).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Identity pools one account may have (AWS: 1,000).
    pub max_pools_per_account: u64,
    /// Whose roles the pools of each account may use.
    pub role_trust: RoleTrust,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pools_per_account: 1000,
            role_trust: RoleTrust::default(),
        }
    }
}

/// The management plane of identity pools.
#[derive(Clone)]
pub struct PoolService {
    store: Arc<dyn Store>,
    upstream: Arc<dyn LoginVerifier>,
    clock: Arc<dyn Clock>,
    region: Region,
    limits: Limits,
}

impl std::fmt::Debug for PoolService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolService")
            .field("region", &self.region)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// One page of ListIdentityPools.
#[derive(Debug, Clone)]
pub struct PoolPage {
    /// The pools on this page.
    pub pools: Vec<PoolSummary>,
    /// Where the next page starts, if there may be one.
    pub next_token: Option<String>,
}

impl PoolService {
    /// A service over `store` for pools of `region`.
    pub fn new(
        store: Arc<dyn Store>,
        upstream: Arc<dyn LoginVerifier>,
        clock: Arc<dyn Clock>,
        region: Region,
        limits: Limits,
    ) -> Self {
        PoolService {
            store,
            upstream,
            clock,
            region,
            limits,
        }
    }

    /// The region pools are created in.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Every OpenID Connect and SAML provider a pool names must be declared
    /// for its account (AWS: the IAM OIDC / SAML provider must exist).
    fn check_declared_providers(
        &self,
        account: &AccountId,
        settings: &PoolSettings,
    ) -> DomainResult<()> {
        for arn in &settings.openid_connect_provider_arns {
            if !self
                .upstream
                .is_declared_oidc_provider(account.as_str(), arn)
            {
                return Err(DomainError::InvalidParameter(format!(
                    "Invalid OpenIdConnectProviderARN: {arn} is not an OpenID Connect provider of account {account}."
                )));
            }
        }
        for arn in &settings.saml_provider_arns {
            if !self
                .upstream
                .is_declared_saml_provider(account.as_str(), arn)
            {
                return Err(DomainError::InvalidParameter(format!(
                    "Invalid SamlProviderARN: {arn} is not a SAML provider of account {account}."
                )));
            }
        }
        Ok(())
    }

    async fn begin(&self) -> DomainResult<Box<dyn Tx>> {
        Ok(self.store.begin().await?)
    }

    async fn locked_pool(
        tx: &mut Box<dyn Tx>,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<IdentityPool> {
        tx.find_pool(account, pool_id, true)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))
    }

    /// CreateIdentityPool.
    pub async fn create(
        &self,
        account: &AccountId,
        settings: PoolSettings,
        tags: BTreeMap<String, String>,
        audit: &dyn Recorder,
    ) -> DomainResult<IdentityPool> {
        settings.check()?;
        self.check_declared_providers(account, &settings)?;
        check_tag_count(&tags)?;
        let now = self.clock.now();
        let pool = IdentityPool {
            id: self.region.new_pool_id(),
            account_id: account.clone(),
            settings,
            tags,
            roles: BTreeMap::new(),
            role_mappings: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin().await?;
        tx.lock_account(account).await?;
        let count = tx.count_pools(account).await?;
        if count >= self.limits.max_pools_per_account {
            return Err(DomainError::LimitExceeded(format!(
                "Account {account} has reached the limit of {} identity pools.",
                self.limits.max_pools_per_account
            )));
        }
        tx.insert_pool(&pool).await?;
        record(&mut tx, audit, Change::PoolCreated(&pool)).await?;
        tx.commit().await?;
        tracing::info!(identity_pool.id = %pool.id, "identity pool created");
        Ok(pool)
    }

    /// DescribeIdentityPool.
    pub async fn describe(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<IdentityPool> {
        let mut tx = self.begin().await?;
        let pool = tx
            .find_pool(account, pool_id, false)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))?;
        tx.commit().await?;
        Ok(pool)
    }

    /// UpdateIdentityPool: every setting is replaced; omitted ones take their
    /// defaults, as AWS documents. Two exceptions, both deliberate: the
    /// developer provider name cannot change once set (omitting it keeps
    /// it), and tags change only when `IdentityPoolTags` is given (tags are
    /// resource metadata, managed with TagResource/UntagResource).
    pub async fn update(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        mut settings: PoolSettings,
        tags: Option<BTreeMap<String, String>>,
        audit: &dyn Recorder,
    ) -> DomainResult<IdentityPool> {
        settings.check()?;
        self.check_declared_providers(account, &settings)?;
        if let Some(tags) = &tags {
            check_tag_count(tags)?;
        }
        let mut tx = self.begin().await?;
        let pool = Self::locked_pool(&mut tx, account, pool_id).await?;
        match (
            &pool.settings.developer_provider_name,
            &settings.developer_provider_name,
        ) {
            (Some(old), Some(new)) if old != new => {
                return Err(DomainError::InvalidParameter(format!(
                    "DeveloperProviderName cannot be changed once it is set (it is '{old}')."
                )));
            }
            (Some(old), None) => settings.developer_provider_name = Some(old.clone()),
            _ => {}
        }
        let now = self.clock.now();
        save_changed(tx, pool, audit, |pool| {
            pool.settings = settings;
            if let Some(tags) = tags {
                pool.tags = tags;
            }
            pool.updated_at = now;
            Ok(())
        })
        .await
    }

    /// DeleteIdentityPool: the pool and all its identities.
    pub async fn delete(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        audit: &dyn Recorder,
    ) -> DomainResult<()> {
        let mut tx = self.begin().await?;
        let pool = tx
            .delete_pool(account, pool_id)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))?;
        record(&mut tx, audit, Change::PoolDeleted(&pool)).await?;
        tx.commit().await?;
        tracing::info!(identity_pool.id = %pool_id, "identity pool deleted");
        Ok(())
    }

    /// ListIdentityPools: creation order, keyset-paged so that pools created
    /// while a client pages neither shift nor repeat earlier pages.
    pub async fn list(
        &self,
        account: &AccountId,
        max_results: u32,
        next_token: Option<&str>,
    ) -> DomainResult<PoolPage> {
        let after = next_token.map(decode_cursor).transpose()?;
        let mut tx = self.begin().await?;
        let rows = tx.list_pools(account, after, max_results + 1).await?;
        tx.commit().await?;
        let (pools, next_token) = page(rows, max_results);
        Ok(PoolPage { pools, next_token })
    }

    fn pool_id_from_arn(&self, account: &AccountId, arn: &str) -> DomainResult<IdentityPoolId> {
        let parsed = PoolArn::parse(arn)
            .ok_or_else(|| DomainError::InvalidParameter(format!("Invalid ResourceArn: {arn}")))?;
        let not_found = || DomainError::ResourceNotFound(format!("Resource '{arn}' not found."));
        if parsed.region != self.region.as_str() || parsed.account != account.as_str() {
            return Err(not_found());
        }
        // A well-formed ARN naming a pool id no pool can have: not found.
        IdentityPoolId::try_from(parsed.pool_id).map_err(|_| not_found())
    }

    async fn locked_pool_by_arn(
        &self,
        tx: &mut Box<dyn Tx>,
        account: &AccountId,
        arn: &str,
    ) -> DomainResult<IdentityPool> {
        let pool_id = self.pool_id_from_arn(account, arn)?;
        tx.find_pool(account, &pool_id, true)
            .await?
            .ok_or_else(|| DomainError::ResourceNotFound(format!("Resource '{arn}' not found.")))
    }

    /// TagResource: add or overwrite tags; at most 50 in all.
    pub async fn tag(
        &self,
        account: &AccountId,
        arn: &str,
        tags: BTreeMap<String, String>,
        audit: &dyn Recorder,
    ) -> DomainResult<()> {
        let mut tx = self.begin().await?;
        let pool = self.locked_pool_by_arn(&mut tx, account, arn).await?;
        save_changed(tx, pool, audit, |pool| {
            pool.tags.extend(tags);
            check_tag_count(&pool.tags)
        })
        .await?;
        Ok(())
    }

    /// UntagResource: remove the named keys (absent keys are ignored).
    pub async fn untag(
        &self,
        account: &AccountId,
        arn: &str,
        keys: &[String],
        audit: &dyn Recorder,
    ) -> DomainResult<()> {
        let mut tx = self.begin().await?;
        let pool = self.locked_pool_by_arn(&mut tx, account, arn).await?;
        save_changed(tx, pool, audit, |pool| {
            for key in keys {
                pool.tags.remove(key);
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// ListTagsForResource.
    pub async fn list_tags(
        &self,
        account: &AccountId,
        arn: &str,
    ) -> DomainResult<BTreeMap<String, String>> {
        let pool_id = self.pool_id_from_arn(account, arn)?;
        let mut tx = self.begin().await?;
        let pool = tx
            .find_pool(account, &pool_id, false)
            .await?
            .ok_or_else(|| DomainError::ResourceNotFound(format!("Resource '{arn}' not found.")))?;
        tx.commit().await?;
        Ok(pool.tags)
    }

    /// SetIdentityPoolRoles: replaces roles and role mappings.
    pub async fn set_roles(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        roles: BTreeMap<String, String>,
        role_mappings: BTreeMap<String, RoleMapping>,
        audit: &dyn Recorder,
    ) -> DomainResult<()> {
        let mut tx = self.begin().await?;
        let pool = Self::locked_pool(&mut tx, account, pool_id).await?;
        check_roles(&pool, &self.limits.role_trust, &roles, &role_mappings)?;
        let now = self.clock.now();
        save_changed(tx, pool, audit, |pool| {
            pool.roles = roles;
            pool.role_mappings = role_mappings;
            pool.updated_at = now;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// GetIdentityPoolRoles: the roles and role mappings, rules in order.
    pub async fn get_roles(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> DomainResult<(BTreeMap<String, String>, BTreeMap<String, RoleMapping>)> {
        let pool = self.describe(account, pool_id).await?;
        Ok((pool.roles, pool.role_mappings))
    }

    /// SetPrincipalTagAttributeMap: replaces the provider's map. Omitted
    /// `UseDefaults` is false and omitted `PrincipalTags` is empty, as for
    /// every AWS "set" call.
    pub async fn set_principal_tag_map(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        map: PrincipalTagMap,
        audit: &dyn Recorder,
    ) -> DomainResult<PrincipalTagMap> {
        let mut tx = self.begin().await?;
        let pool = Self::locked_pool(&mut tx, account, pool_id).await?;
        let known = pool.settings.provider_names();
        if !known.iter().any(|p| p == &map.provider_name) {
            return Err(DomainError::InvalidParameter(format!(
                "{} is not a configured provider of identity pool {pool_id}.",
                map.provider_name
            )));
        }
        let before = tx
            .find_principal_tag_map(pool_id, &map.provider_name)
            .await?;
        tx.put_principal_tag_map(pool_id, &map).await?;
        let change = Change::PrincipalTagsSet {
            pool_id,
            before: before.as_ref(),
            after: &map,
        };
        record(&mut tx, audit, change).await?;
        tx.commit().await?;
        Ok(map)
    }

    /// GetPrincipalTagAttributeMap: a provider with no map set answers
    /// `UseDefaults` false and no tags (no principal tags are added).
    pub async fn get_principal_tag_map(
        &self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
    ) -> DomainResult<PrincipalTagMap> {
        let mut tx = self.begin().await?;
        tx.find_pool(account, pool_id, false)
            .await?
            .ok_or_else(|| DomainError::pool_not_found(pool_id))?;
        let map = tx.find_principal_tag_map(pool_id, provider).await?;
        tx.commit().await?;
        Ok(map.unwrap_or_else(|| PrincipalTagMap {
            provider_name: provider.clone(),
            use_defaults: false,
            principal_tags: BTreeMap::new(),
        }))
    }
}

/// Apply `edit` to `pool` (read locked in `tx`), write it back, record the
/// change with the pool as it was and as it is, and commit: the one way a
/// pool's settings, tags and roles change. An `edit` that refuses changes
/// nothing.
async fn save_changed(
    mut tx: Box<dyn Tx>,
    mut pool: IdentityPool,
    audit: &dyn Recorder,
    edit: impl FnOnce(&mut IdentityPool) -> DomainResult<()>,
) -> DomainResult<IdentityPool> {
    let before = pool.clone();
    edit(&mut pool)?;
    tx.save_pool(&pool).await?;
    let change = Change::PoolChanged {
        before: &before,
        after: &pool,
    };
    record(&mut tx, audit, change).await?;
    tx.commit().await?;
    Ok(pool)
}
