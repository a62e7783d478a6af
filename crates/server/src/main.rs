//! `cognate`: serve the Cognito Identity API, or apply migrations.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cognate_server::config::Settings;
use cognate_server::startup::{Application, Database, Refusal};
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
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Try every dependency of the configuration (database and
    /// migrations, signing keys, STS, identity providers, SAML metadata,
    /// TLS certificate) and report in plain words; exit status 1 on a
    /// problem. Changes nothing.
    Check,
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Write the audit records of a time range to standard output, oldest
    /// first, one CloudTrail JSON document per line (NDJSON), as a SIEM
    /// takes them.
    Export {
        /// From this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z, or a
        /// date, 2026-12-01, meaning its start).
        #[arg(long)]
        since: String,
        /// Up to this time (same forms; a date means its end). Default: now.
        #[arg(long)]
        until: Option<String>,
        /// Only this account's records (and those meant for every account).
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new signing key. It is published at once and signs after
    /// `tokens.publish_ahead_seconds` (running instances pick it up on their
    /// next refresh); the current key keeps verifying until its tokens expire.
    Rotate {
        /// Sign with the new key immediately (emergency rotation).
        #[arg(long)]
        now: bool,
    },
    /// List the keys: kid, status, activation and expiry.
    List,
    /// Seal every stored signing key that is not sealed yet with
    /// `tokens.key_encryption_key` (one transaction). Needed once after a
    /// key-encryption key is configured over existing keys: `serve`
    /// refuses to start until then.
    Seal,
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
    let json_log = settings.log.format == cognate_server::config::LogFormat::Json;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match cognate_server::runtime_builder().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cognate: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let traces = settings
        .telemetry
        .otlp_endpoint
        .as_ref()
        .map(|endpoint| telemetry::Traces {
            otlp_endpoint: endpoint.to_string(),
            service_name: settings.telemetry.service_name.clone(),
            sampling_ratio: settings.telemetry.sampling_ratio,
        });
    {
        let _runtime = runtime.enter();
        telemetry::init_with_traces(&settings.log.level, json_log, traces.as_ref());
    }
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Keys { action } => keys(settings, action).await,
            Command::Audit { action } => audit(settings, action).await,
            Command::Check => check(settings).await,
        }
    });
    telemetry::shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Once: a text log goes to standard error as well.
            if json_log {
                tracing::error!(error = %format!("{err:#}"), "cognate stopped with an error");
            }
            eprintln!("cognate: {err:#}");
            // A refusal is fixed in the configuration or with a command,
            // like a configuration error: exit code 2.
            if err.chain().any(|e| e.downcast_ref::<Refusal>().is_some()) {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
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

async fn check(settings: Settings) -> anyhow::Result<()> {
    let findings = cognate_server::check::run(&settings).await;
    for finding in &findings {
        println!("{finding}");
    }
    let problems = findings
        .iter()
        .filter(|f| f.status == cognate_server::check::Status::Problem)
        .count();
    match problems {
        0 => {
            println!("everything Cognate depends on works");
            Ok(())
        }
        n => Err(anyhow::anyhow!("{n} problem(s) found")),
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let database = Database::open_shared(&settings).await?;
    let result = cognate_store::migrate::run(&database.url).await;
    database.close().await?;
    let applied = result?;
    println!("{} migration(s) applied", applied.len());
    Ok(())
}

fn name_of(action: &KeysCommand) -> &'static str {
    match action {
        KeysCommand::Rotate { .. } => "rotate",
        KeysCommand::List => "list",
        KeysCommand::Seal => "seal",
    }
}

async fn audit(settings: Settings, action: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Export {
        since,
        until,
        account,
    } = action;
    let database = Database::open_shared(&settings).await?;
    let result = async {
        cognate_store::migrate::run(&database.url).await?;
        let store = cognate_store::PgStore::connect_lazy(&database.url, &Default::default())
            .map_err(|e| anyhow::anyhow!("database.url: {e}"))?;
        let written = cognate_server::audit_cli::export(
            &store,
            &since,
            until.as_deref(),
            account.as_deref(),
            &mut std::io::stdout().lock(),
        )
        .await?;
        eprintln!("{written} audit record(s) exported");
        anyhow::Ok(())
    }
    .await;
    database.close().await?;
    result
}

async fn keys(settings: Settings, action: KeysCommand) -> anyhow::Result<()> {
    if matches!(action, KeysCommand::Seal) && settings.tokens.key_encryption_key.is_none() {
        return Err(Refusal(
            "tokens.key_encryption_key: not configured; `cognate keys seal` seals the stored \
             signing keys with it"
                .into(),
        )
        .into());
    }
    let database = Database::open_shared(&settings).await?;
    let result = async {
        cognate_store::migrate::run(&database.url).await?;
        let store = cognate_store::PgStore::connect_lazy(&database.url, &Default::default())
            .map_err(|e| anyhow::anyhow!("database.url: {e}"))?;
        let manager =
            cognate_server::startup::start_keys(&settings, std::sync::Arc::new(store.clone()))
                .await?;
        let record = |name: &str, request: serde_json::Value, response: serde_json::Value| {
            cognate_server::audit_cli::command_record(
                &settings,
                &format!("cognate keys {}", name_of(&action)),
                name,
                request,
                response,
            )
        };
        match &action {
            KeysCommand::Rotate { now } => {
                let kid = if *now {
                    manager.rotate_with(std::time::Duration::ZERO).await?
                } else {
                    manager.rotate_now().await?
                };
                println!("new signing key {kid}");
                let record = record(
                    "RotateSigningKey",
                    serde_json::json!({ "now": now }),
                    serde_json::json!({ "kid": kid }),
                );
                cognate_domain::audit::AuditStore::append(&store, &[record]).await?;
            }
            KeysCommand::Seal => {
                let sealed = manager.seal_stored_keys().await?;
                if sealed.is_empty() {
                    println!("every stored signing key is sealed already");
                } else {
                    println!(
                        "sealed {} signing key(s): {}",
                        sealed.len(),
                        sealed.join(", ")
                    );
                    let record = record(
                        "SealSigningKeys",
                        serde_json::json!({}),
                        serde_json::json!({ "sealedKids": sealed }),
                    );
                    cognate_domain::audit::AuditStore::append(&store, &[record]).await?;
                }
            }
            KeysCommand::List => {}
        }
        for key in manager.keys_info() {
            println!(
                "{}\t{:?}\t{}\tactivates {}\texpires {}",
                key.kid,
                key.status,
                key.alg,
                key.activate_at.to_rfc3339(),
                key.expires_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into())
            );
        }
        anyhow::Ok(())
    }
    .await;
    database.close().await?;
    result
}
