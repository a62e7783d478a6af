//! Token signing keys (`signing_keys`, migration V2).
//!
//! Rows are few (a signing key, perhaps an upcoming one, retired ones for a
//! day), so there is no index beyond the primary key. Private keys arrive
//! here already sealed (or deliberately plain) and are stored as given;
//! nothing here logs or formats them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cognate_domain::ports::StoreError;
use cognate_domain::token::{KeyRepo, StoredKey};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::{map_err, PgTx};

/// The advisory lock that serialises key creation and rotation across
/// instances ("cognkeys" in ASCII). Transaction-scoped: released at commit
/// or rollback.
const KEYS_LOCK: i64 = 0x636f_676e_6b65_7973;

const KEY_COLUMNS: &str = "kid, alg, private_key, encrypted, certificate_der, \
    created_at, activate_at, retired_at, expires_at";

fn key_from_row(row: &PgRow) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        kid: row.try_get("kid").map_err(map_err)?,
        alg: row.try_get("alg").map_err(map_err)?,
        private_key: row.try_get("private_key").map_err(map_err)?,
        encrypted: row.try_get("encrypted").map_err(map_err)?,
        certificate_der: row.try_get("certificate_der").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        activate_at: row.try_get("activate_at").map_err(map_err)?,
        retired_at: row.try_get("retired_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
    })
}

#[async_trait]
impl KeyRepo for PgTx {
    async fn lock_keys(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEYS_LOCK)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn list_keys(&mut self, now: DateTime<Utc>) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys \
             WHERE expires_at IS NULL OR expires_at > $1 \
             ORDER BY activate_at DESC, created_at DESC"
        ))
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn insert_key(&mut self, key: &StoredKey) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        self.write(
            sqlx::query(&sql)
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.private_key)
                .bind(key.encrypted)
                .bind(&key.certificate_der)
                .bind(key.created_at)
                .bind(key.activate_at)
                .bind(key.retired_at)
                .bind(key.expires_at),
        )
        .await?;
        Ok(())
    }

    async fn retire_key(
        &mut self,
        kid: &str,
        retired_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(
            sqlx::query("UPDATE signing_keys SET retired_at = $2, expires_at = $3 WHERE kid = $1")
                .bind(kid)
                .bind(retired_at)
                .bind(expires_at),
        )
        .await?;
        Ok(())
    }

    async fn purge_expired_keys(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(sqlx::query("DELETE FROM signing_keys WHERE expires_at <= $1").bind(now))
            .await?;
        Ok(done)
    }

    async fn store_sealed_key(&mut self, kid: &str, sealed: &[u8]) -> Result<(), StoreError> {
        self.write(
            sqlx::query(
                "UPDATE signing_keys SET private_key = $2, encrypted = TRUE \
                 WHERE kid = $1 AND NOT encrypted",
            )
            .bind(kid)
            .bind(sealed),
        )
        .await?;
        Ok(())
    }
}
