//! The shared quota buckets and the owner look-ups of unsigned calls.

use async_trait::async_trait;
use cognate_domain::ids::{AccountId, IdentityId, IdentityPoolId};
use cognate_domain::ports::StoreError;
use cognate_domain::quota::{Lease, Limit, OwnerDirectory, QuotaLedger};
use sqlx::Row;

use crate::{map_err, PgStore};

/// Tokens in the bucket now: the stored count refilled at `$4`/s since
/// `updated_at`, capped at the burst `$3`. Database time, so the clocks of
/// the instances do not matter; a statement that waited for the row lock
/// behind another may see `updated_at` after its own start: no refill then.
const AVAILABLE: &str = "LEAST($3::float8, tokens + $4::float8 * GREATEST(0::float8, \
     EXTRACT(EPOCH FROM (statement_timestamp() - updated_at))::float8))";

fn lease_sql() -> String {
    let grant = format!("LEAST($5::float8, FLOOR({AVAILABLE}))");
    // One statement: the row lock makes concurrent leases (from any
    // instance) take turns, and each sees the tokens the previous left.
    format!(
        "UPDATE quota_buckets SET \
           tokens = {AVAILABLE} - {grant}, \
           last_grant = ({grant})::int, \
           updated_at = GREATEST(updated_at, statement_timestamp()) \
         WHERE account_id = $1 AND operation = $2 \
         RETURNING last_grant, tokens"
    )
}

#[async_trait]
impl QuotaLedger for PgStore {
    async fn lease(
        &self,
        account: &AccountId,
        operation: &str,
        limit: Limit,
        want: u32,
    ) -> Result<Lease, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(lease_sql);
        let _place = self.public_place().await?;
        for _ in 0..2 {
            let row = sqlx::query(SQL.as_str())
                .bind(account.as_str())
                .bind(operation)
                .bind(f64::from(limit.burst))
                .bind(f64::from(limit.rate))
                .bind(f64::from(want))
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
            if let Some(row) = row {
                let granted: i32 = row.try_get("last_grant").map_err(map_err)?;
                let left: f64 = row.try_get("tokens").map_err(map_err)?;
                return Ok(Lease {
                    granted: u32::try_from(granted).unwrap_or(0),
                    left,
                });
            }
            // First use of this bucket: create it full, then lease.
            sqlx::query(
                "INSERT INTO quota_buckets (account_id, operation, tokens, updated_at) \
                 VALUES ($1, $2, $3, statement_timestamp()) ON CONFLICT DO NOTHING",
            )
            .bind(account.as_str())
            .bind(operation)
            .bind(f64::from(limit.burst))
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        }
        Err(StoreError::Other(
            "quota bucket row vanished while leasing".into(),
        ))
    }
}

#[async_trait]
impl OwnerDirectory for PgStore {
    async fn pool_owner(&self, pool_id: &IdentityPoolId) -> Result<Option<AccountId>, StoreError> {
        let _place = self.public_place().await?;
        let account: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM identity_pools WHERE id = $1")
                .bind(pool_id.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
        account
            .map(|a| AccountId::parse(&a).map_err(|e| StoreError::Other(e.into())))
            .transpose()
    }

    async fn identity_owner(
        &self,
        identity_id: &IdentityId,
    ) -> Result<Option<(IdentityPoolId, AccountId)>, StoreError> {
        let _place = self.public_place().await?;
        let row = sqlx::query(
            "SELECT i.pool_id, p.account_id FROM identities i \
             JOIN identity_pools p ON p.id = i.pool_id WHERE i.id = $1",
        )
        .bind(identity_id.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let pool: IdentityPoolId = crate::id_column(&row, "pool_id")?;
        let account: String = row.try_get("account_id").map_err(map_err)?;
        let account = AccountId::parse(&account).map_err(|e| StoreError::Other(e.into()))?;
        Ok(Some((pool, account)))
    }
}
