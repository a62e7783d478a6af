//! Identity-pool rows.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cognate_domain::ids::{AccountId, IdentityPoolId, ProviderName};
use cognate_domain::pool::{IdentityPool, PoolSummary, PrincipalTagMap};
use cognate_domain::ports::{PoolRepo, StoreError};
use sqlx::types::Json;
use sqlx::Row;

use crate::locks::{advisory_lock, ACCOUNT_LOCK, POOL_LOCK};
use crate::rows::{pool_from_row, POOL_COLUMNS};
use crate::{map_err, PgTx, Statement};

#[async_trait]
impl PoolRepo for PgTx {
    async fn lock_account(&mut self, account: &AccountId) -> Result<(), StoreError> {
        advisory_lock(self, ACCOUNT_LOCK, account.as_str(), true).await
    }

    async fn count_pools(&mut self, account: &AccountId) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM identity_pools WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&mut *self.tx)
                .await
                .map_err(map_err)?;
        Ok(n.max(0) as u64)
    }

    async fn insert_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO identity_pools (id, {WRITTEN}, account_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        self.write(
            bind_written(sqlx::query(&sql), pool)
                .bind(pool.account_id.as_str())
                .bind(pool.created_at),
        )
        .await?;
        Ok(())
    }

    async fn find_pool(
        &mut self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
        lock: bool,
    ) -> Result<Option<IdentityPool>, StoreError> {
        let sql = format!(
            "SELECT {POOL_COLUMNS} FROM identity_pools WHERE id = $1 AND account_id = $2{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = sqlx::query(&sql)
            .bind(pool_id.as_str())
            .bind(account.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        row.as_ref().map(pool_from_row).transpose()
    }

    async fn save_pool(&mut self, pool: &IdentityPool) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE identity_pools SET ({WRITTEN}) = \
             ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) WHERE id = $1"
        );
        self.write(bind_written(sqlx::query(&sql), pool)).await?;
        Ok(())
    }

    async fn delete_pool(
        &mut self,
        account: &AccountId,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<IdentityPool>, StoreError> {
        self.wrote = true; // the statement below writes, but returns a row
                           // Waits for tokens being issued for the pool's identities.
        advisory_lock(self, POOL_LOCK, pool_id, true).await?;
        let sql = format!(
            "DELETE FROM identity_pools WHERE id = $1 AND account_id = $2 RETURNING {POOL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(pool_id.as_str())
            .bind(account.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        row.as_ref().map(pool_from_row).transpose()
    }

    async fn list_pools(
        &mut self,
        account: &AccountId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, PoolSummary)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, id, name FROM identity_pools WHERE account_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(account.as_str())
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("seq").map_err(map_err)?,
                    PoolSummary {
                        id: crate::id_column(row, "id")?,
                        name: row.try_get("name").map_err(map_err)?,
                    },
                ))
            })
            .collect()
    }

    async fn find_principal_tag_map(
        &mut self,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
    ) -> Result<Option<PrincipalTagMap>, StoreError> {
        let row = sqlx::query(
            "SELECT use_defaults, principal_tags FROM principal_tag_maps \
             WHERE pool_id = $1 AND provider_name = $2",
        )
        .bind(pool_id.as_str())
        .bind(provider.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        row.map(|row| {
            Ok(PrincipalTagMap {
                provider_name: provider.clone(),
                use_defaults: row.try_get("use_defaults").map_err(map_err)?,
                principal_tags: row
                    .try_get::<Json<BTreeMap<String, String>>, _>("principal_tags")
                    .map_err(map_err)?
                    .0,
            })
        })
        .transpose()
    }

    async fn put_principal_tag_map(
        &mut self,
        pool_id: &IdentityPoolId,
        map: &PrincipalTagMap,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO principal_tag_maps (pool_id, provider_name, use_defaults, principal_tags) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (pool_id, provider_name) \
             DO UPDATE SET use_defaults = EXCLUDED.use_defaults, principal_tags = EXCLUDED.principal_tags";
        self.write(
            sqlx::query(sql)
                .bind(pool_id.as_str())
                .bind(map.provider_name.as_str())
                .bind(map.use_defaults)
                .bind(Json(&map.principal_tags)),
        )
        .await?;
        Ok(())
    }
}

/// What both writes of a pool set, after its id (`$1`): `$2`…`$13`, bound
/// by [`bind_written`] in this order.
const WRITTEN: &str = "name, allow_unauthenticated, allow_classic_flow, developer_provider_name, \
     supported_login_providers, openid_connect_provider_arns, cognito_identity_providers, \
     saml_provider_arns, tags, roles, role_mappings, updated_at";

/// `$1` the pool's id, then `$2`…`$13` the columns of [`WRITTEN`].
fn bind_written<'q>(query: Statement<'q>, pool: &'q IdentityPool) -> Statement<'q> {
    let s = &pool.settings;
    query
        .bind(pool.id.as_str())
        .bind(&s.name)
        .bind(s.allow_unauthenticated)
        .bind(s.allow_classic_flow)
        .bind(s.developer_provider_name.as_deref())
        .bind(Json(&s.supported_login_providers))
        .bind(Json(&s.openid_connect_provider_arns))
        .bind(Json(&s.cognito_identity_providers))
        .bind(Json(&s.saml_provider_arns))
        .bind(Json(&pool.tags))
        .bind(Json(&pool.roles))
        .bind(Json(&pool.role_mappings))
        .bind(pool.updated_at)
}
