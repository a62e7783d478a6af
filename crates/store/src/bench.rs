//! What `cognate-bench` needs from the database (kept here: all SQL lives in
//! this crate): a bulk preload of identities and linked logins, and the two
//! hardware ceilings its report compares the service with, measured on the
//! same PostgreSQL with the same settings:
//! - the rate of single-row INSERTs each committed on its own, into a table
//!   shaped like `identities` (its columns, indexes and foreign key): what a
//!   GetId that creates an identity could reach if it were only that insert;
//! - the rate of primary-key reads of `identities`: what a call that only
//!   looks up one identity could reach.
//!
//! Nothing here runs in the service.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cognate_domain::ports::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::map_err;

/// Rows per preload statement: progress can be reported between them and no
/// single transaction grows huge.
const PRELOAD_CHUNK: u64 = 1_000_000;

/// The name of identity number `i` of a preload, as a SQL expression over
/// `$prefix` (the region and a colon) and the integer `i`: an AWS-shaped
/// `region:uuid`, derived so the bench can name random identities without
/// reading them back.
const PRELOADED_ID: &str = "$2 || md5('cognate-bench-' || i)::uuid::text";

/// A connection pool of `connections` for the benchmark's own statements.
/// The ceilings are what PostgreSQL does, as pgbench measures it: one
/// round trip per statement, without sqlx's ping before each use.
pub async fn connect(url: &str, connections: u32) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| StoreError::Other(Box::new(e)))?;
    PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(map_err)
}

/// A bulk preload of one pool.
#[derive(Debug, Clone)]
pub struct Preload<'a> {
    /// The pool the identities go to.
    pub pool_id: &'a str,
    /// The region their ids start with.
    pub region: &'a str,
    /// How many identities.
    pub identities: u64,
    /// How many of them (the first ones) are authenticated and hold a
    /// developer login.
    pub linked: u64,
    /// The developer provider of those logins.
    pub provider: &'a str,
    /// Login `i` is the developer user `{user_prefix}{i}`.
    pub user_prefix: &'a str,
}

/// Insert the identities and logins of `preload` (ids from
/// [`preloaded_identity_ids`]). One server-side `INSERT … SELECT
/// generate_series` per million rows: nothing travels over the wire but the
/// statement, which beats COPY for generated rows. `progress` is told the
/// identities inserted so far.
pub async fn preload_identities(
    db: &PgPool,
    preload: &Preload<'_>,
    mut progress: impl FnMut(u64),
) -> Result<(), StoreError> {
    let Preload {
        pool_id,
        region,
        identities,
        linked,
        provider,
        user_prefix,
    } = *preload;
    let prefix = format!("{region}:");
    let mut done = 0;
    while done < identities {
        let end = (done + PRELOAD_CHUNK).min(identities);
        sqlx::query(&format!(
            "INSERT INTO identities (id, pool_id, authenticated, disabled, created_at, last_modified_at) \
             SELECT {PRELOADED_ID}, $1, i < $5, false, now(), now() \
             FROM generate_series($3::bigint, $4::bigint - 1) AS i"
        ))
        .bind(pool_id)
        .bind(&prefix)
        .bind(done as i64)
        .bind(end as i64)
        .bind(linked as i64)
        .execute(db)
        .await
        .map_err(map_err)?;
        let logins_end = end.min(linked);
        if done < logins_end {
            sqlx::query(&format!(
                "INSERT INTO identity_logins (pool_id, provider, subject, developer, identity_id, created_at) \
                 SELECT $1, $5, $6 || i, true, {PRELOADED_ID}, now() \
                 FROM generate_series($3::bigint, $4::bigint - 1) AS i"
            ))
            .bind(pool_id)
            .bind(&prefix)
            .bind(done as i64)
            .bind(logins_end as i64)
            .bind(provider)
            .bind(user_prefix)
            .execute(db)
            .await
            .map_err(map_err)?;
        }
        done = end;
        progress(done);
    }
    sqlx::query("ANALYZE identities, identity_logins")
        .execute(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The ids of preloaded identities number `indexes`.
pub async fn preloaded_identity_ids(
    db: &PgPool,
    region: &str,
    indexes: &[i64],
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(&format!(
        "SELECT {PRELOADED_ID} FROM unnest($1::bigint[]) WITH ORDINALITY AS t(i, n) ORDER BY n"
    ))
    .bind(indexes)
    .bind(format!("{region}:"))
    .fetch_all(db)
    .await
    .map_err(map_err)
}

/// Single-row INSERTs per second, each committed on its own, from `clients`
/// connections kept busy for `duration`, into a scratch copy of `identities`
/// (same columns, indexes and foreign key to `pool_id`), dropped afterwards.
pub async fn insert_rate(
    db: &PgPool,
    pool_id: &str,
    clients: usize,
    duration: Duration,
) -> Result<f64, StoreError> {
    for statement in [
        "DROP TABLE IF EXISTS bench_insert_ceiling",
        "CREATE TABLE bench_insert_ceiling (LIKE identities INCLUDING DEFAULTS INCLUDING INDEXES, \
         FOREIGN KEY (pool_id) REFERENCES identity_pools (id) ON DELETE CASCADE)",
    ] {
        sqlx::query(statement).execute(db).await.map_err(map_err)?;
    }
    let pool_id = pool_id.to_owned();
    let rate = closed_loop(
        clients,
        duration,
        move |db, n| {
            let pool_id = pool_id.clone();
            async move {
                sqlx::query(
                    "INSERT INTO bench_insert_ceiling \
                 (id, pool_id, authenticated, disabled, created_at, last_modified_at) \
                 VALUES ($1, $2, false, false, now(), now())",
                )
                .bind(format!("ceiling-{n}-{}", uuid_like(n)))
                .bind(&pool_id)
                .execute(&db)
                .await
                .map(|_| ())
            }
        },
        db,
    )
    .await;
    sqlx::query("DROP TABLE IF EXISTS bench_insert_ceiling")
        .execute(db)
        .await
        .map_err(map_err)?;
    rate
}

/// Primary-key reads of `identities` per second (the columns a token call
/// reads), round-robin over `ids`, from `clients` connections for `duration`.
pub async fn lookup_rate(
    db: &PgPool,
    ids: Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
) -> Result<f64, StoreError> {
    closed_loop(
        clients,
        duration,
        move |db, n| {
            let ids = Arc::clone(&ids);
            async move {
                sqlx::query(
                    "SELECT id, pool_id, authenticated, disabled, created_at, last_modified_at \
                 FROM identities WHERE id = $1",
                )
                .bind(&ids[n as usize % ids.len().max(1)])
                .fetch_optional(&db)
                .await
                .map(|_| ())
            }
        },
        db,
    )
    .await
}

/// A distinct-enough suffix for scratch rows without a random source.
fn uuid_like(n: u64) -> u64 {
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Run `statement` from `clients` tasks in a closed loop for `duration`;
/// statements per second. The first error stops the measurement.
async fn closed_loop<F, Fut>(
    clients: usize,
    duration: Duration,
    statement: F,
    db: &PgPool,
) -> Result<f64, StoreError>
where
    F: Fn(PgPool, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (db, done, stop, statement) = (
            db.clone(),
            Arc::clone(&done),
            Arc::clone(&stop),
            statement.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let n = done.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = statement(db.clone(), n).await {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(())
        }));
    }
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(map_err(e));
            }
            Err(e) => {
                first_error.get_or_insert(StoreError::Other(Box::new(e)));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64().max(1e-9))
}
