//! Schema migrations: `migrations/V{n}__{name}.sql`, embedded at build time
//! and applied with refinery over tokio-postgres (refinery has no sqlx
//! driver). Applying is idempotent and takes refinery's lock table, so two
//! instances starting together do not race.

use anyhow::Context as _;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

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
