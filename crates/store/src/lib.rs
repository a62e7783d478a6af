//! PostgreSQL storage for Cognate: the implementation of the domain's
//! storage ports with sqlx, and the refinery migrations.
//!
//! All SQL of the project lives in this crate. Queries are runtime-checked
//! (`sqlx::query`), and every test runs them against a real PostgreSQL.
//!
//! # Layout
//! - [`migrate`] — applies `migrations/V{n}__{name}.sql` with refinery.
//! - `pools`: identity pools, tags, roles, principal-tag maps.
//! - `identities`: identities and their logins.
//! - `rows` (leaf): the pool row's columns, mapping and version, and the read
//!   of a pool by id that `pools`, `identities` and [`PgStore`] share.
//! - `locks` (leaf): the advisory locks on accounts, pools and identities.
//! - `keys`: signing keys.
//! - `bench` (feature `bench`, enabled by `cognate-bench` only) — bulk
//!   preload and database ceilings for `cognate-bench`.
//! - `quota`: the shared quota buckets and the owner look-ups of unsigned calls.
//! - `audit`: the audit table, its look-ups and daily partitions.
//! - `health`: riding through a failover: is a writable database reachable,
//!   the one prober that finds it again, the hosts of a multi-host URL.
//!
//! # Failover
//!
//! A call that finds the database gone answers [`StoreError::Unavailable`]
//! only when it certainly changed nothing; its caller waits
//! ([`Store::wait_until_available`]) and runs it again. When a commit's
//! outcome is unknown (the connection died during `COMMIT`, or the
//! synchronous-replication wait was cut short by a shutdown), the store
//! finds out before answering: a transaction that wrote notes its id
//! (`pg_current_xact_id()`) before committing and asks
//! `pg_xact_status()` once a writable database is back; a guest GetId's
//! one-statement insert looks its identity up. A commit that happened is a
//! success, one that did not is `Unavailable` (run it again), and only one
//! whose outcome cannot be learnt within `failover_wait` is an error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cognate_domain::identity::Identity;
use cognate_domain::ids::{IdentityId, IdentityPoolId, InvalidId, ProviderName};
use cognate_domain::pool::IdentityPool;
use cognate_domain::ports::{LoginOwners, PoolVersion, Store, StoreError, Tx};
use cognate_domain::share::{self, Share};
use sqlx::postgres::PgRow;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Row};

mod audit;
#[cfg(feature = "bench")]
pub mod bench;
mod health;
mod identities;
mod keys;
mod locks;
pub mod migrate;
mod pools;
mod quota;
mod rows;
pub mod telemetry;
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
    /// How long the store waits for a writable database to learn a
    /// commit's outcome (`database.failover_wait_seconds`).
    pub failover_wait: Duration,
}

impl PoolOptions {
    /// The pool's size when none is configured: twice this machine's cores,
    /// plus four. Its public share ([`Self::public_share`]) is then, on
    /// small machines, PostgreSQL's own rule of thumb (`cores × 2 +
    /// spindles`, counting 2), and the reserved part comes on top. More
    /// connections than the cores can serve do not run more at once: they
    /// take turns, and the pool's first-in-first-out reuse cycles through
    /// every backend, each with its own caches. On 2 cores with PostgreSQL
    /// beside the service, 16 connections against 8 cost PostgreSQL 6–16 %
    /// more CPU per operation and the developer path a third more p99
    /// (bench/README.md, "A pool the size of the machine").
    pub fn default_max_connections() -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        u32::try_from(cores.saturating_mul(2).saturating_add(4)).unwrap_or(u32::MAX)
    }

    /// How many of `max_connections` public calls may hold at once
    /// ([`cognate_domain::share`]): all but a reserved part, kept for
    /// signed calls, `/readyz` and the service's own work — a quarter of
    /// the pool, at least two, and at least one connection left public.
    pub fn public_share(max_connections: u32) -> u32 {
        let reserved = (max_connections / 4).max(2);
        max_connections.saturating_sub(reserved).max(1)
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: Self::default_max_connections(),
            min_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            failover_wait: Duration::from_secs(15),
        }
    }
}

/// The PostgreSQL store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    health: Arc<health::Health>,
    failover_wait: Duration,
    max_connections: u32,
    /// The connections public calls may hold at once
    /// ([`PoolOptions::public_share`]), fair: first come, first served.
    public: Arc<tokio::sync::Semaphore>,
    /// How long a public call waits for its share (the pool's acquire timeout).
    acquire_timeout: Duration,
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
        // A multi-host URL: one set of options per host, tried in order.
        let hosts = health::split_hosts(url)
            .iter()
            .map(|url| url.parse::<PgConnectOptions>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e: sqlx::Error| StoreError::Other(Box::new(e)))?;
        let Some(connect) = hosts.first().cloned() else {
            return Err(StoreError::Other("database.url names no host".into()));
        };
        let several = hosts.len() > 1;
        let health = health::Health::new(hosts);
        let min_connections = options.min_connections.min(options.max_connections);
        // sqlx's min_connections keeps its idle reaper from closing these;
        // keep_warm opens them.
        let fresh = Arc::clone(&health);
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
                    // A node that came back as a standby, reached through a
                    // balancer that has not noticed yet: never used.
                    let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                        .fetch_one(&mut *conn)
                        .await?;
                    if standby {
                        return Err(sqlx::Error::Protocol(
                            "the server is a standby (read-only)".into(),
                        ));
                    }
                    Ok(())
                })
            })
            // Connections opened before the database was last lost are not
            // handed out again (they may lead to a demoted node).
            .before_acquire(move |_conn, meta| {
                let stale = fresh.is_stale(meta.age);
                Box::pin(async move { Ok(!stale) })
            })
            .connect_lazy_with(connect);
        let warm = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let task = runtime.spawn(keep_warm(pool.clone(), min_connections));
            Arc::new(WarmTask(task.abort_handle()))
        });
        if several {
            // Which host is the primary is found by probing, not assumed.
            health.find_primary(&pool);
        }
        Ok(PgStore {
            pool,
            health,
            failover_wait: options.failover_wait,
            max_connections: options.max_connections,
            public: Arc::new(tokio::sync::Semaphore::new(PoolOptions::public_share(
                options.max_connections,
            ) as usize)),
            acquire_timeout: options.acquire_timeout,
            _warm: warm,
        })
    }

    /// Wait (at most until `deadline`) until a writable database is known:
    /// at start-up, so that the first statements go to the primary of a
    /// multi-host URL.
    pub async fn ready(&self, deadline: std::time::Instant) -> bool {
        self.health.wait_up(deadline).await
    }

    /// Refuse at once while the database is known to be gone (the prober
    /// is looking for it; calls wait for it instead of opening connections).
    fn gate(&self) -> Result<(), StoreError> {
        if self.health.is_up() {
            Ok(())
        } else {
            telemetry::unavailable();
            Err(StoreError::Unavailable(
                "waiting for a writable database".into(),
            ))
        }
    }

    /// [`gate`](Self::gate), then [`public_place`](Self::public_place).
    pub(crate) async fn enter(&self) -> Result<Option<PublicPlace>, StoreError> {
        self.gate()?;
        self.public_place().await
    }

    /// For a public call, a place in the public share of the connections,
    /// to hold while the call uses one (`None` for every other call).
    /// Waits at most the acquire timeout, as the pool itself would: then
    /// [`StoreError::Busy`].
    pub(crate) async fn public_place(&self) -> Result<Option<PublicPlace>, StoreError> {
        if share::current() != Share::Public {
            return Ok(None);
        }
        match tokio::time::timeout(
            self.acquire_timeout,
            Arc::clone(&self.public).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(Some(PublicPlace { _permit: permit })),
            // Timed out (the semaphore is never closed): every public
            // place stayed taken, which is load, not a lost database.
            _ => Err(StoreError::Busy),
        }
    }

    /// Classify an error, reporting a lost database to the prober.
    pub(crate) fn fail(&self, err: sqlx::Error) -> StoreError {
        // Timed out waiting for a connection with room for more: the pool
        // could not open one (a dead host), not a pool busy with load.
        if matches!(err, sqlx::Error::PoolTimedOut) && self.pool.size() < self.max_connections {
            let why = "no connection could be opened within database.acquire_timeout_seconds";
            self.health.lost(&self.pool, why);
            telemetry::unavailable();
            return StoreError::Unavailable(why.into());
        }
        let mapped = map_err(err);
        if let StoreError::Unavailable(why) = &mapped {
            self.health.lost(&self.pool, why);
            telemetry::unavailable();
        }
        mapped
    }

    /// The collector of this store's pool connections, for `/metrics`.
    pub fn pool_collector(&self) -> telemetry::PoolCollector {
        telemetry::PoolCollector::new(self.pool.clone(), self.max_connections)
    }

    /// Whether a writable database is reachable, as far as the store knows.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    /// A commit whose outcome is unknown: wait for a writable database and
    /// ask whether transaction `xid` committed there.
    async fn settle(&self, xid: &str, why: &str) -> Result<(), StoreError> {
        self.health.lost(&self.pool, why);
        let deadline = std::time::Instant::now() + self.failover_wait;
        loop {
            if !self.health.wait_up(deadline).await {
                return Err(StoreError::Other(
                    format!("the outcome of a commit is unknown ({why}), and no writable database came back to tell").into(),
                ));
            }
            let status: Result<Option<String>, sqlx::Error> =
                sqlx::query_scalar("SELECT pg_xact_status($1::text::xid8)")
                    .bind(xid)
                    .fetch_one(&self.pool)
                    .await;
            match status {
                Ok(Some(status)) if status == "committed" => {
                    tracing::info!(
                        xid,
                        "a commit cut short by the database's loss had committed"
                    );
                    return Ok(());
                }
                Ok(Some(status)) if status == "aborted" => {
                    return Err(StoreError::Unavailable(format!(
                        "{why}; the transaction did not commit"
                    )));
                }
                // A transaction id from a history this primary does not
                // have (a failover to a standby that never saw it): it did
                // not commit here.
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("22023") => {
                    return Err(StoreError::Unavailable(format!(
                        "{why}; the transaction is not in this primary's history"
                    )));
                }
                Ok(_) | Err(_) => {
                    // In progress (still being recovered), or the database
                    // went away again: ask again.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Other(
                            format!("the outcome of a commit is unknown ({why})").into(),
                        ));
                    }
                }
            }
        }
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
    /// Whether a statement wrote: then the commit notes the transaction id,
    /// to learn its outcome if the commit is cut short.
    pub(crate) wrote: bool,
    store: PgStore,
    /// A public call's place in the public share, freed with the connection.
    _place: Option<PublicPlace>,
}

/// A public call's place in the public share of the connections
/// ([`PgStore::enter`]); dropping it frees the place.
#[derive(Debug)]
pub(crate) struct PublicPlace {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A statement with its arguments bound.
pub(crate) type Statement<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl PgTx {
    /// Run a statement that writes, noting that this transaction wrote (so
    /// a commit cut short is looked up, see [`PgTx::commit`]); the number
    /// of rows it touched.
    pub(crate) async fn write(&mut self, statement: Statement<'_>) -> Result<u64, StoreError> {
        self.wrote = true;
        let done = statement.execute(&mut *self.tx).await.map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn commit(self) -> Result<(), StoreError> {
        let PgTx {
            mut tx,
            wrote,
            store,
            _place,
        } = self;
        let xid: Option<String> = if wrote {
            Some(
                sqlx::query_scalar("SELECT pg_current_xact_id()::text")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| store.fail(e))?,
            )
        } else {
            None
        };
        match tx.commit().await {
            Ok(()) => Ok(()),
            Err(err) => match (store.fail(err), xid) {
                (StoreError::Unavailable(why), Some(xid)) => store.settle(&xid, &why).await,
                (other, _) => Err(other),
            },
        }
    }
}

impl PgStore {
    async fn begin_tx(&self) -> Result<PgTx, StoreError> {
        let asked = std::time::Instant::now();
        let place = self.enter().await?;
        let tx = self.pool.begin().await.map_err(|e| self.fail(e))?;
        telemetry::acquired(asked.elapsed());
        Ok(PgTx {
            tx,
            wrote: false,
            store: self.clone(),
            _place: place,
        })
    }
}

#[async_trait]
impl Store for PgStore {
    #[tracing::instrument(name = "db.begin", skip_all)]
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(self.begin_tx().await?))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.gate()?;
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    #[tracing::instrument(name = "db.read_pool", skip_all)]
    async fn read_pool(
        &self,
        pool_id: &IdentityPoolId,
    ) -> Result<Option<(IdentityPool, PoolVersion)>, StoreError> {
        self.snapshot(rows::select_pool_by_id(&self.pool, pool_id))
            .await
    }

    #[tracing::instrument(name = "db.read_identity_with_pool", skip_all)]
    async fn read_identity_with_pool(
        &self,
        identity_id: &IdentityId,
    ) -> Result<Option<(Identity, Option<IdentityPool>)>, StoreError> {
        self.snapshot(identities::read_identity_with_pool(&self.pool, identity_id))
            .await
    }

    #[tracing::instrument(name = "db.read_login_owners", skip_all)]
    async fn read_login_owners(
        &self,
        pool_id: &IdentityPoolId,
        logins: &[(ProviderName, String)],
        also: &[IdentityId],
        providers: bool,
    ) -> Result<LoginOwners, StoreError> {
        self.snapshot(identities::read_login_owners(
            &self.pool, pool_id, logins, also, providers,
        ))
        .await
    }

    #[tracing::instrument(name = "db.insert_guest_identity", skip_all)]
    async fn insert_guest_identity_if_pool_takes_guests(
        &self,
        identity: &Identity,
    ) -> Result<bool, StoreError> {
        let _place = self.enter().await?;
        match identities::insert_guest_identity(&self.pool, identity).await {
            Err(StoreError::Unavailable(why)) => {
                // One statement, so its own commit: cut short, it may have
                // committed. The identity's id was made before the insert,
                // so look it up once the database is back.
                self.health.lost(&self.pool, &why);
                let deadline = std::time::Instant::now() + self.failover_wait;
                if !self.health.wait_up(deadline).await {
                    return Err(StoreError::Other(
                        format!("the outcome of a guest identity's insert is unknown ({why})")
                            .into(),
                    ));
                }
                let found = identities::read_identity_with_pool(&self.pool, &identity.id)
                    .await
                    .map_err(|e| self.reported(e))?;
                if found.is_some() {
                    tracing::info!(identity.id = %identity.id, "an insert cut short by the database's loss had committed");
                    Ok(true)
                } else {
                    Err(StoreError::Unavailable(format!(
                        "{why}; the identity was not inserted"
                    )))
                }
            }
            other => other,
        }
    }

    async fn wait_until_available(&self, deadline: std::time::Instant) -> bool {
        if !self.health.is_up() {
            return self.health.wait_up(deadline).await;
        }
        // A call failed for want of the database the store has not seen
        // gone yet (its error came through a path that does not report):
        // report it, so the prober checks and stale connections go.
        self.health
            .lost(&self.pool, "a call found the database unavailable");
        self.health.wait_up(deadline).await
    }

    fn is_available(&self) -> bool {
        self.health.is_up()
    }
}

impl PgStore {
    /// An error a one-statement call returned, classified already:
    /// reports a lost database.
    /// A read outside any transaction (a snapshot of its own): refused at
    /// once while the database is known to be lost, and a loss it meets is
    /// reported.
    async fn snapshot<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let _place = self.enter().await?;
        read.await.map_err(|e| self.reported(e))
    }

    fn reported(&self, err: StoreError) -> StoreError {
        if let StoreError::Unavailable(why) = &err {
            self.health.lost(&self.pool, why);
        }
        err
    }
}

#[async_trait]
impl Tx for PgTx {
    #[tracing::instrument(name = "db.commit", skip_all)]
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        PgTx::commit(*self).await
    }
}

#[async_trait]
impl cognate_domain::token::KeyTx for PgTx {
    #[tracing::instrument(name = "db.commit", skip_all)]
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        PgTx::commit(*self).await
    }
}

#[async_trait]
impl cognate_domain::token::KeyStore for PgStore {
    async fn begin_keys(&self) -> Result<Box<dyn cognate_domain::token::KeyTx>, StoreError> {
        Ok(Box::new(self.begin_tx().await?))
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
            // Connection failures, admin or crash shutdown, cannot connect
            // now (starting up, recovering), and a read-only transaction: a
            // node that came back as a standby is no primary.
            Some(code)
                if code.starts_with("08")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "25006") =>
            {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Other(Box::new(err)),
        },
        // Every connection is busy: load, not a lost database.
        sqlx::Error::PoolTimedOut => StoreError::Busy,
        sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Other(Box::new(err)),
    }
}
