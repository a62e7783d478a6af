//! Identity and login rows.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cognate_domain::identity::{Identity, IdentityDescription, Login, LoginClaim, RowLock};
use cognate_domain::ids::{DeveloperUserIdentifier, IdentityId, IdentityPoolId, ProviderName};
use cognate_domain::pool::IdentityPool;
use cognate_domain::ports::{IdentityRepo, LoginOwners, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::locks::{advisory_lock, IDENTITY_LOCK, POOL_LOCK};
use crate::rows::{pool_from_row, pool_version, select_pool_by_id, POOL_COLUMNS, POOL_VERSION};
use crate::{id_column, map_err, optional_id_column, parse_id, PgTx, Statement};

const IDENTITY_COLUMNS: &str = "id, pool_id, authenticated, disabled, created_at, last_modified_at";

/// An identity's columns as `i_<column>` and its pool's (as `pool_from_row`
/// reads them; all NULL when the pool is gone), in one row.
fn identity_with_pool_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let pool_columns: Vec<String> = POOL_COLUMNS
            .split(',')
            .map(|c| format!("p.{}", c.trim()))
            .collect();
        let identity_columns: Vec<String> = IDENTITY_COLUMNS
            .split(',')
            .map(|c| format!("i.{c} AS i_{c}", c = c.trim()))
            .collect();
        format!(
            "SELECT {}, {} FROM identities i \
             LEFT JOIN identity_pools p ON p.id = i.pool_id WHERE i.id = $1",
            pool_columns.join(", "),
            identity_columns.join(", ")
        )
    })
}

/// [`cognate_domain::ports::Store::read_identity_with_pool`]: one statement.
pub(crate) async fn read_identity_with_pool(
    db: &PgPool,
    identity_id: &IdentityId,
) -> Result<Option<(Identity, Option<IdentityPool>)>, StoreError> {
    let Some(row) = sqlx::query(identity_with_pool_sql())
        .bind(identity_id.as_str())
        .fetch_optional(db)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let identity = identity_from_columns(&row, "i_")?;
    let pool = match row.try_get::<Option<String>, _>("id").map_err(map_err)? {
        Some(_) => Some(pool_from_row(&row)?),
        None => None,
    };
    Ok(Some((identity, pool)))
}

/// [`cognate_domain::ports::Store::read_login_owners`]: one statement, so
/// one snapshot. The row with `pool_version` is the pool's; rows with `ord`
/// are the owners of the logins asked for (in order); the others are the
/// identities.
pub(crate) async fn read_login_owners(
    db: &PgPool,
    pool_id: &IdentityPoolId,
    logins: &[(ProviderName, String)],
    also: &[IdentityId],
    providers: bool,
) -> Result<LoginOwners, StoreError> {
    let sql = login_owners_sql(logins.len(), also.len(), providers);
    let mut query = sqlx::query(&sql).bind(pool_id.as_str());
    for (provider, subject) in logins {
        query = query.bind(provider.as_str()).bind(subject.as_str());
    }
    for id in also {
        query = query.bind(id.as_str());
    }
    let rows = query.fetch_all(db).await.map_err(map_err)?;
    let mut found = LoginOwners {
        owners: vec![None; logins.len()],
        identities: Vec::new(),
        pool_version: None,
        providers: BTreeMap::new(),
    };
    for row in &rows {
        if row
            .try_get::<Option<i64>, _>("pool_version")
            .map_err(map_err)?
            .is_some()
        {
            found.pool_version = Some(pool_version(row)?);
            continue;
        }
        match row.try_get::<Option<i64>, _>("ord").map_err(map_err)? {
            Some(ord) => {
                let slot = usize::try_from(ord - 1)
                    .ok()
                    .and_then(|i| found.owners.get_mut(i))
                    .ok_or_else(|| {
                        StoreError::Other(format!("login ordinal {ord} out of range").into())
                    })?;
                *slot = optional_id_column(row, "id")?;
            }
            None => {
                let identity = identity_from_row(row)?;
                if providers {
                    let names: Vec<String> = row.try_get("providers").map_err(map_err)?;
                    let names = names.into_iter().map(parse_id).collect::<Result<_, _>>()?;
                    found.providers.insert(identity.id.clone(), names);
                }
                found.identities.push(identity);
            }
        }
    }
    Ok(found)
}

/// The statement of [`read_login_owners`] for `logins` logins and `also`
/// identities. Its parameters are scalars (`$1` the pool, then each login's
/// provider and subject, then each identity id), so each arity is a
/// prepared statement of its own whose generic plan PostgreSQL keeps. With
/// arrays (`unnest($2::text[], …)`) it planned the statement again on every
/// call, ~0.24 ms each, seven times its execution: a custom plan, which
/// sees the arrays are short, always looked cheaper than the generic one.
/// With `providers`, each identity's row also carries the distinct
/// providers of its logins (`identity_logins_by_identity`).
fn login_owners_sql(logins: usize, also: usize, providers: bool) -> String {
    let mut last = 1;
    let mut param = move || {
        last += 1;
        format!("${last}")
    };
    let mut sql = String::new();
    if logins > 0 {
        let wanted: Vec<String> = (1..=logins)
            .map(|ord| format!("({ord}::bigint, {}::text, {}::text)", param(), param()))
            .collect();
        sql.push_str(&format!(
            "WITH owners AS ( \
               SELECT w.ord, l.identity_id FROM (VALUES {}) AS w (ord, provider, subject) \
               LEFT JOIN identity_logins l \
                 ON l.pool_id = $1 AND l.provider = w.provider AND l.subject = w.subject) ",
            wanted.join(", ")
        ));
    }
    sql.push_str(&format!(
        "SELECT NULL::bigint AS ord, NULL::text AS id, NULL::text AS pool_id, \
           NULL::boolean AS authenticated, NULL::boolean AS disabled, \
           NULL::timestamptz AS created_at, NULL::timestamptz AS last_modified_at, \
           {POOL_VERSION} AS pool_version, NULL::text[] AS providers \
         FROM identity_pools WHERE id = $1"
    ));
    let named: Vec<String> = (0..also).map(|_| format!("{}::text", param())).collect();
    let ids = match (logins > 0, named.is_empty()) {
        (false, true) => None,
        (false, false) => Some(format!("ARRAY[{}]", named.join(", "))),
        (true, true) => {
            Some("ARRAY(SELECT identity_id FROM owners WHERE identity_id IS NOT NULL)".to_owned())
        }
        (true, false) => Some(format!(
            "ARRAY(SELECT identity_id FROM owners WHERE identity_id IS NOT NULL) || ARRAY[{}]",
            named.join(", ")
        )),
    };
    if let Some(ids) = ids {
        let names = if providers {
            "ARRAY(SELECT DISTINCT l.provider FROM identity_logins l \
             WHERE l.identity_id = identities.id ORDER BY 1)"
        } else {
            "NULL"
        };
        sql.push_str(&format!(
            " UNION ALL SELECT NULL, {IDENTITY_COLUMNS}, NULL, {names} \
             FROM identities WHERE id = ANY({ids})"
        ));
    }
    if logins > 0 {
        sql.push_str(
            " UNION ALL SELECT ord, identity_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM owners",
        );
    }
    sql
}

/// [`cognate_domain::ports::Store::insert_guest_identity_if_pool_takes_guests`]:
/// one statement. `p.allow_unauthenticated` is the guest rule
/// (`PoolSettings::takes_guests`), decided by the statement that writes.
/// Its SELECT sees the pool as it was when the statement began (gone, or
/// not taking guests: no row); a deletion that commits while it runs is
/// caught by the foreign key, which waits for it.
pub(crate) async fn insert_guest_identity(
    db: &PgPool,
    identity: &Identity,
) -> Result<bool, StoreError> {
    let inserted = bind_identity(
        sqlx::query(
            "INSERT INTO identities (id, pool_id, authenticated, disabled, created_at, last_modified_at) \
             SELECT $1, p.id, $3, $4, $5, $6 FROM identity_pools p \
             WHERE p.id = $2 AND p.allow_unauthenticated",
        ),
        identity,
    )
    .execute(db)
    .await;
    match inserted {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => Ok(false),
        Err(e) => Err(map_err(e)),
    }
}

/// `$1`…`$6`: an identity's id, pool, authenticated, disabled, created and
/// last-modified times, as both inserts name them.
fn bind_identity<'q>(query: Statement<'q>, identity: &'q Identity) -> Statement<'q> {
    query
        .bind(identity.id.as_str())
        .bind(identity.pool_id.as_str())
        .bind(identity.authenticated)
        .bind(identity.disabled)
        .bind(identity.created_at)
        .bind(identity.last_modified_at)
}

fn identity_from_row(row: &PgRow) -> Result<Identity, StoreError> {
    identity_from_columns(row, "")
}

/// An identity from the columns named `<prefix><column>`.
fn identity_from_columns(row: &PgRow, prefix: &str) -> Result<Identity, StoreError> {
    let get = |column: &str| format!("{prefix}{column}");
    Ok(Identity {
        id: id_column(row, &get("id"))?,
        pool_id: id_column(row, &get("pool_id"))?,
        authenticated: row
            .try_get(get("authenticated").as_str())
            .map_err(map_err)?,
        disabled: row.try_get(get("disabled").as_str()).map_err(map_err)?,
        created_at: row.try_get(get("created_at").as_str()).map_err(map_err)?,
        last_modified_at: row
            .try_get(get("last_modified_at").as_str())
            .map_err(map_err)?,
    })
}

fn login_from_row(row: &PgRow) -> Result<Login, StoreError> {
    Ok(Login {
        pool_id: id_column(row, "pool_id")?,
        provider: id_column(row, "provider")?,
        subject: row.try_get("subject").map_err(map_err)?,
        developer: row.try_get("developer").map_err(map_err)?,
        identity_id: id_column(row, "identity_id")?,
    })
}

#[async_trait]
impl IdentityRepo for PgTx {
    async fn find_pool_by_id_shared(
        &mut self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<IdentityPool>, StoreError> {
        // Held until commit: DeleteIdentityPool waits for tokens being issued.
        advisory_lock(self, POOL_LOCK, pool_id, false).await?;
        Ok(select_pool_by_id(&mut *self.tx, pool_id)
            .await?
            .map(|(pool, _)| pool))
    }

    async fn insert_identity(&mut self, identity: &Identity) -> Result<(), StoreError> {
        self.write(bind_identity(
            sqlx::query(
                "INSERT INTO identities (id, pool_id, authenticated, disabled, created_at, last_modified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            ),
            identity,
        ))
        .await?;
        Ok(())
    }

    async fn find_identity(
        &mut self,
        identity_id: &IdentityId,
        lock: RowLock,
    ) -> Result<Option<Identity>, StoreError> {
        // Readers that issue tokens take a shared advisory lock rather than
        // FOR SHARE, which would write the row (and WAL) on every token;
        // every writer of an identity takes the exclusive one. Lock first,
        // then read: a READ COMMITTED statement sees what committed before it.
        let suffix = match lock {
            RowLock::None => "",
            RowLock::Share => {
                advisory_lock(self, IDENTITY_LOCK, identity_id, false).await?;
                ""
            }
            RowLock::Update => {
                advisory_lock(self, IDENTITY_LOCK, identity_id, true).await?;
                " FOR UPDATE"
            }
        };
        let row = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM identities WHERE id = $1{suffix}"
        ))
        .bind(identity_id.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn update_identity(&mut self, identity: &Identity) -> Result<(), StoreError> {
        let sql = "UPDATE identities SET authenticated = $2, disabled = $3, last_modified_at = $4 \
                   WHERE id = $1";
        self.write(
            sqlx::query(sql)
                .bind(identity.id.as_str())
                .bind(identity.authenticated)
                .bind(identity.disabled)
                .bind(identity.last_modified_at),
        )
        .await?;
        Ok(())
    }

    async fn delete_identity(&mut self, identity_id: &IdentityId) -> Result<bool, StoreError> {
        let done = self
            .write(sqlx::query("DELETE FROM identities WHERE id = $1").bind(identity_id.as_str()))
            .await?;
        Ok(done > 0)
    }

    async fn find_login(
        &mut self,
        pool_id: &IdentityPoolId,
        provider: &ProviderName,
        subject: &str,
    ) -> Result<Option<IdentityId>, StoreError> {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT identity_id FROM identity_logins WHERE pool_id = $1 AND provider = $2 AND subject = $3",
        )
        .bind(pool_id.as_str())
        .bind(provider.as_str())
        .bind(subject)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        owner.map(parse_id).transpose()
    }

    async fn insert_login(&mut self, login: &Login) -> Result<LoginClaim, StoreError> {
        self.wrote = true; // the statement below writes, but returns a row
                           // ON CONFLICT waits for a concurrent inserter of the same login to
                           // finish; under READ COMMITTED the follow-up read then sees its row.
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO identity_logins (pool_id, provider, subject, developer, identity_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, now()) \
             ON CONFLICT (pool_id, provider, subject) DO NOTHING RETURNING identity_id",
        )
        .bind(login.pool_id.as_str())
        .bind(login.provider.as_str())
        .bind(&login.subject)
        .bind(login.developer)
        .bind(login.identity_id.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        if inserted.is_some() {
            return Ok(LoginClaim::Linked);
        }
        match self
            .find_login(&login.pool_id, &login.provider, &login.subject)
            .await?
        {
            Some(owner) => Ok(LoginClaim::Taken(owner)),
            // The other inserter rolled back in between: nothing holds it now.
            None => Err(StoreError::Contention),
        }
    }

    async fn delete_login(
        &mut self,
        identity_id: &IdentityId,
        provider: &ProviderName,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let sql =
            "DELETE FROM identity_logins WHERE identity_id = $1 AND provider = $2 AND subject = $3";
        let done = self
            .write(
                sqlx::query(sql)
                    .bind(identity_id.as_str())
                    .bind(provider.as_str())
                    .bind(subject),
            )
            .await?;
        Ok(done > 0)
    }

    async fn logins_of(&mut self, identity_id: &IdentityId) -> Result<Vec<Login>, StoreError> {
        let rows = sqlx::query(
            "SELECT pool_id, provider, subject, developer, identity_id FROM identity_logins \
             WHERE identity_id = $1 ORDER BY seq",
        )
        .bind(identity_id.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        rows.iter().map(login_from_row).collect()
    }

    async fn move_logins(&mut self, from: &IdentityId, to: &IdentityId) -> Result<u64, StoreError> {
        let done = self
            .write(
                sqlx::query("UPDATE identity_logins SET identity_id = $2 WHERE identity_id = $1")
                    .bind(from.as_str())
                    .bind(to.as_str()),
            )
            .await?;
        Ok(done)
    }

    async fn list_identities(
        &mut self,
        pool_id: &IdentityPoolId,
        after: Option<i64>,
        limit: u32,
        hide_disabled: bool,
    ) -> Result<Vec<(i64, IdentityDescription)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.seq, i.id, i.pool_id, i.authenticated, i.disabled, i.created_at, i.last_modified_at, \
                    COALESCE((SELECT array_agg(DISTINCT l.provider ORDER BY l.provider) \
                              FROM identity_logins l WHERE l.identity_id = i.id), '{}') AS providers \
             FROM identities i \
             WHERE i.pool_id = $1 AND i.seq > $2 AND (NOT $3 OR NOT i.disabled) \
             ORDER BY i.seq LIMIT $4",
        )
        .bind(pool_id.as_str())
        .bind(after.unwrap_or(0))
        .bind(hide_disabled)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("seq").map_err(map_err)?,
                    IdentityDescription {
                        identity: identity_from_row(row)?,
                        providers: row
                            .try_get::<Vec<String>, _>("providers")
                            .map_err(map_err)?
                            .into_iter()
                            .map(parse_id)
                            .collect::<Result<_, _>>()?,
                    },
                ))
            })
            .collect()
    }

    async fn count_identities(
        &mut self,
        pool_id: &IdentityPoolId,
        cap: u64,
    ) -> Result<u64, StoreError> {
        // An index-only scan of identities_by_pool, stopped at `cap`.
        let counted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM identities WHERE pool_id = $1 LIMIT $2) AS capped",
        )
        .bind(pool_id.as_str())
        .bind(i64::try_from(cap).unwrap_or(i64::MAX))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(u64::try_from(counted).unwrap_or(0))
    }

    async fn developer_ids_of(
        &mut self,
        identity_id: &IdentityId,
        provider: &ProviderName,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, DeveloperUserIdentifier)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, subject FROM identity_logins \
             WHERE identity_id = $1 AND provider = $2 AND developer AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(identity_id.as_str())
        .bind(provider.as_str())
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("seq").map_err(map_err)?,
                    id_column(row, "subject")?,
                ))
            })
            .collect()
    }
}
