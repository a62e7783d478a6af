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
pub async fn run(url: &str) -> anyhow::Result<Vec<String>> {
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database to migrate it")?;
    let driver = tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "migration connection ended with an error");
        }
    });
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
