//! Schema migrations: `migrations/V{n}__{name}.sql`, embedded at build time
//! and applied with refinery over tokio-postgres (refinery has no sqlx
//! driver). Applying is idempotent. Refinery itself takes no lock (two
//! instances starting together on an empty database both tried to create
//! its history table and the same tables, and one failed: found by
//! crates/server/tests/multi_instance.rs), so the run holds a PostgreSQL
//! advisory lock: the second instance waits, then finds nothing to apply.

use anyhow::Context as _;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// The advisory lock key serializing migration runs (any constant unique to
/// Cognate: "cognate" in ASCII).
const MIGRATION_LOCK: i64 = 0x0063_6f67_6e61_7465;

/// Apply every pending migration to the database at `url`; returns the
/// names of those applied now.
///
/// The URL's `sslmode` (and `sslrootcert`) apply as for the sqlx pool: see
/// the `tls` module (`require` encrypts, `verify-full` also checks the
/// certificate chain and the host name).
pub async fn run(url: &str) -> anyhow::Result<Vec<String>> {
    let (mut client, driver) = crate::tls::connect(url)
        .await
        .context("connecting to the database to migrate it")?;
    // Session-level: released when this connection closes, even if the
    // process dies mid-migration.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("waiting for the migration lock")?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await
        .context("applying migrations")?;
    drop(client);
    let _ = driver.await;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect();
    for name in &applied {
        tracing::info!(migration = %name, "migration applied");
    }
    Ok(applied)
}

/// The migrations this build has that the database at `url` has not
/// applied (`cognate check`); nothing is changed. A database Cognate never
/// migrated has them all pending.
pub async fn pending(url: &str) -> anyhow::Result<Vec<String>> {
    let (client, driver) = crate::tls::connect(url)
        .await
        .context("connecting to the database")?;
    let history: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .context("reading the migration history")?
        .get(0);
    let applied: Vec<i32> = if history {
        client
            .query("SELECT version FROM refinery_schema_history", &[])
            .await
            .context("reading the migration history")?
            .iter()
            .map(|row| row.get(0))
            .collect()
    } else {
        Vec::new()
    };
    drop(client);
    let _ = driver.await;
    Ok(embedded::migrations::runner()
        .get_migrations()
        .iter()
        .filter(|m| !applied.contains(&(m.version() as i32)))
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect())
}
