//! PostgreSQL storage for Cognate: the implementation of the domain's
//! storage ports with sqlx, and the refinery migrations.
//!
//! All SQL of the project lives in this crate. Queries are runtime-checked
//! (`sqlx::query`), and every test runs them against a real PostgreSQL.
//!
//! # Layout
//! - [`migrate`] — applies `migrations/V{n}__{name}.sql` with refinery.
//! - `pools`: identity pools, tags, roles, principal-tag maps.
//! - `keys`: signing keys.
//! - [`bench`] — bulk preload and database ceilings for `cognate-bench`.
//! - `quota`: the shared quota buckets and the owner look-ups of unsigned calls.
//! - `audit`: the audit table, its look-ups and daily partitions.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cognate_domain::identity::Identity;
use cognate_domain::ids::{IdentityId, IdentityPoolId, InvalidId};
use cognate_domain::pool::IdentityPool;
use cognate_domain::ports::{LoginOwners, PoolVersion, Store, StoreError, Tx};
use sqlx::postgres::PgRow;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Row};

mod audit;
pub mod bench;
mod identities;
mod keys;
pub mod migrate;
mod pools;
mod quota;
mod tls;

/// How long a statement waits for a row lock before the use case gives up
/// with `ConcurrentModificationException`.
const LOCK_TIMEOUT: &str = "5s";

/// Connection-pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most open connections.
    pub max_connections: u32,
    /// Connections kept open even when idle, opened in the background from
    /// the start: a request then finds one ready instead of waiting for a
    /// new connection (name lookup, TCP, TLS, authentication), which is
    /// slow, and can stall, on some networks.
    pub min_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 16,
            min_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The [`keep_warm`] task, stopped when the last clone is dropped (it
    /// holds the pool, which would otherwise stay open with it).
    _warm: Option<Arc<WarmTask>>,
}

/// Aborts the [`keep_warm`] task when dropped.
#[derive(Debug)]
struct WarmTask(tokio::task::AbortHandle);

impl Drop for WarmTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PgStore {
    /// A store over `url`. Connections are opened lazily, so the service
    /// starts (and answers `/readyz` with failure) while the database is
    /// down, and recovers by itself when it returns. Called within a Tokio
    /// runtime, it also keeps `min_connections` open in the background
    /// ([`keep_warm`]).
    pub fn connect_lazy(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let connect: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Other(Box::new(e)))?;
        let min_connections = options.min_connections.min(options.max_connections);
        // sqlx's min_connections keeps its idle reaper from closing these;
        // keep_warm opens them.
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(min_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        format!(
                            "SET lock_timeout = '{LOCK_TIMEOUT}'; SET statement_timeout = '30s'"
                        )
                        .as_str(),
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(connect);
        let warm = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let task = runtime.spawn(keep_warm(pool.clone(), min_connections));
            Arc::new(WarmTask(task.abort_handle()))
        });
        Ok(PgStore { pool, _warm: warm })
    }

    /// The secret called `name`, stored with `candidate` as its value if
    /// there was none (the first instance to start wins; all share it).
    pub async fn get_or_create_secret(
        &self,
        name: &str,
        candidate: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    /// The underlying sqlx pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A transaction on the store: implements every repository port.
#[derive(Debug)]
pub struct PgTx {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(PgTx { tx }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn read_pool(
        &self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<(IdentityPool, PoolVersion)>, StoreError> {
        pools::select_pool_by_id(&self.pool, pool_id).await
    }

    async fn read_identity_with_pool(
        &self,
        identity_id: &IdentityId,
    ) -> Result<Option<(Identity, Option<IdentityPool>)>, StoreError> {
        identities::read_identity_with_pool(&self.pool, identity_id).await
    }

    async fn read_login_owners(
        &self,
        pool_id: &IdentityPoolId,
        logins: &[(String, String)],
        also: &[IdentityId],
    ) -> Result<LoginOwners, StoreError> {
        identities::read_login_owners(&self.pool, pool_id, logins, also).await
    }

    async fn insert_guest_identity(&self, identity: &Identity) -> Result<bool, StoreError> {
        identities::insert_guest_identity(&self.pool, identity).await
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl cognate_domain::token::KeyTx for PgTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl cognate_domain::token::KeyStore for PgStore {
    async fn begin_keys(&self) -> Result<Box<dyn cognate_domain::token::KeyTx>, StoreError> {
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(PgTx { tx }))
    }
}

/// How often [`keep_warm`] looks at the pool.
const WARM_CHECK: Duration = Duration::from_secs(2);

/// Keep at least `min` connections open until the pool closes: at once,
/// and again whenever it has fewer (after a database restart, say).
/// sqlx's own `min_connections` opens them only when it reaps a connection,
/// minutes later; without them a request that finds no idle connection
/// waits for a new one, whose name lookup, TCP, TLS and SCRAM can take
/// seconds on some container networks. It takes what it needs at once
/// (idle connections first, then new ones) and gives them all back idle.
async fn keep_warm(pool: PgPool, min: u32) {
    if min == 0 {
        return;
    }
    while !pool.is_closed() {
        if pool.size() < min {
            let mut held = Vec::with_capacity(min as usize);
            for _ in 0..min {
                match pool.acquire().await {
                    Ok(conn) => held.push(conn),
                    // The database is away: `/readyz` says so; try later.
                    Err(_) => break,
                }
            }
            drop(held);
        }
        tokio::time::sleep(WARM_CHECK).await;
    }
}

/// A text column read as one of the domain's ids ([`IdentityId`], ...). The
/// store only ever writes parsed ids, so one that does not parse is a
/// corrupt row, reported as such rather than passed on.
pub(crate) fn id_column<T>(row: &PgRow, column: &str) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = InvalidId>,
{
    let text: String = row.try_get(column).map_err(map_err)?;
    parse_id(text)
}

/// [`id_column`] for a column that may be NULL.
pub(crate) fn optional_id_column<T>(row: &PgRow, column: &str) -> Result<Option<T>, StoreError>
where
    T: TryFrom<String, Error = InvalidId>,
{
    let text: Option<String> = row.try_get(column).map_err(map_err)?;
    text.map(parse_id).transpose()
}

/// A stored id parsed; see [`id_column`].
pub(crate) fn parse_id<T>(text: String) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = InvalidId>,
{
    T::try_from(text).map_err(|e| StoreError::Other(Box::new(e)))
}

/// Classify a sqlx error for the domain.
pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("23505") => {
                StoreError::UniqueViolation(db.constraint().unwrap_or_default().to_owned())
            }
            // lock_not_available, serialization_failure, deadlock_detected
            Some("55P03") | Some("40001") | Some("40P01") => StoreError::Contention,
            // admin shutdown, cannot connect now, connection failures
            Some(code) if code.starts_with("08") || code == "57P01" || code == "57P03" => {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Other(Box::new(err)),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Other(Box::new(err)),
    }
}
