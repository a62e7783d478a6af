//! Identity-pool rows as the statements read them: the columns, their
//! mapping to [`IdentityPool`], the row version, and the read by id that
//! both the store ([`cognate_domain::ports::Store::read_pool`]) and the
//! transactions use. A leaf: it imports no other module of the crate but
//! the crate root.

use std::collections::BTreeMap;

use cognate_domain::ids::{AccountId, IdentityPoolId};
use cognate_domain::pool::{IdentityPool, PoolSettings};
use cognate_domain::ports::{PoolVersion, StoreError};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;

use crate::{map_err, optional_id_column};

pub(crate) const POOL_COLUMNS: &str = "id, account_id, name, allow_unauthenticated, allow_classic_flow, \
    developer_provider_name, supported_login_providers, openid_connect_provider_arns, \
    cognito_identity_providers, saml_provider_arns, tags, roles, role_mappings, created_at, updated_at";

fn bad_row(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(Box::new(err))
}

pub(crate) fn pool_from_row(row: &PgRow) -> Result<IdentityPool, StoreError> {
    let account: String = row.try_get("account_id").map_err(map_err)?;
    let settings = PoolSettings {
        name: row.try_get("name").map_err(map_err)?,
        allow_unauthenticated: row.try_get("allow_unauthenticated").map_err(map_err)?,
        allow_classic_flow: row.try_get("allow_classic_flow").map_err(map_err)?,
        supported_login_providers: row
            .try_get::<Json<BTreeMap<String, String>>, _>("supported_login_providers")
            .map_err(map_err)?
            .0,
        developer_provider_name: optional_id_column(row, "developer_provider_name")?,
        openid_connect_provider_arns: row
            .try_get::<Json<Vec<String>>, _>("openid_connect_provider_arns")
            .map_err(map_err)?
            .0,
        cognito_identity_providers: row
            .try_get::<Json<_>, _>("cognito_identity_providers")
            .map_err(map_err)?
            .0,
        saml_provider_arns: row
            .try_get::<Json<Vec<String>>, _>("saml_provider_arns")
            .map_err(map_err)?
            .0,
    };
    Ok(IdentityPool {
        id: crate::id_column(row, "id")?,
        account_id: AccountId::parse(&account).map_err(|e| bad_row(std::io::Error::other(e)))?,
        settings,
        tags: row.try_get::<Json<_>, _>("tags").map_err(map_err)?.0,
        roles: row.try_get::<Json<_>, _>("roles").map_err(map_err)?.0,
        role_mappings: row
            .try_get::<Json<_>, _>("role_mappings")
            .map_err(map_err)?
            .0,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
    })
}

/// The pool with this id, whoever owns it, and its row's `xmin` as its
/// version: one statement on `db` ([`cognate_domain::ports::Store::read_pool`],
/// and the transactions' read of a pool by id).
pub(crate) async fn select_pool_by_id<'e>(
    db: impl sqlx::PgExecutor<'e>,
    pool_id: &IdentityPoolId,
) -> Result<Option<(IdentityPool, PoolVersion)>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {POOL_COLUMNS}, {POOL_VERSION} AS pool_version FROM identity_pools WHERE id = $1"
    ))
    .bind(pool_id.as_str())
    .fetch_optional(db)
    .await
    .map_err(map_err)?;
    row.as_ref()
        .map(|row| Ok((pool_from_row(row)?, pool_version(row)?)))
        .transpose()
}

/// A pool row's version: `xmin`, the transaction that wrote this version
/// of the row. Every UPDATE writes a new one (row locks do not), so equal
/// values mean no write in between (xids repeat only after 2³²
/// transactions, far beyond how long a version is kept).
pub(crate) const POOL_VERSION: &str = "xmin::text::bigint";

/// The `pool_version` column of a row.
pub(crate) fn pool_version(row: &PgRow) -> Result<PoolVersion, StoreError> {
    let version: i64 = row.try_get("pool_version").map_err(map_err)?;
    Ok(PoolVersion(version.unsigned_abs()))
}
