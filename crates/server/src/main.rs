//! `cognate`: serve the Cognito Identity API, or apply migrations.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cognate_server::config::Settings;
use cognate_server::startup::{Application, Database};
use cognate_server::telemetry;

/// A self-hosted identity broker speaking the Amazon Cognito Identity API.
#[derive(Debug, Parser)]
#[command(name = "cognate", version)]
struct Cli {
    /// Configuration file layered over the defaults (also COGNATE_CONFIG).
    #[arg(long, global = true, env = "COGNATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("cognate: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log.level, settings.log.format == "json");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cognate: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "cognate stopped with an error");
            eprintln!("cognate: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let database = Database::open(&settings).await?;
    let app = match Application::build(&settings, &database.url).await {
        Ok(app) => app,
        Err(err) => {
            database.close().await.ok();
            return Err(err);
        }
    };
    let served = app.run_until_stopped().await.context("serving");
    tracing::info!("shutting down");
    database.close().await?;
    served
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let database = Database::open(&settings).await?;
    let result = cognate_store::migrate::run(&database.url).await;
    database.close().await?;
    let applied = result?;
    println!("{} migration(s) applied", applied.len());
    Ok(())
}
