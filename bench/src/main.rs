//! `cognate-bench`: the real service, started in-process as the integration
//! tests start it, under raw JSON 1.1 load at several concurrency levels;
//! printed next to this machine's raw RSA signing rate.
//!
//! ```sh
//! cargo run --release -p cognate-bench -- [--seconds N] [--concurrency 1,8,32,64]
//! ```
//!
//! See `bench/README.md`.

mod cpu;
mod load;

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_cognitoidentity::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;
use cognate_server::config::{AccountSettings, Settings};
use cognate_server::embedded_pg::{EmbeddedOptions, EmbeddedPostgres};
use cognate_server::startup::Application;
use cognate_token::{measure_sign_rate, SigningAlgorithm};

use crate::load::{Op, Run, Target, DEVELOPER_PROVIDER};

const ACCOUNT: &str = "111111111111";
const ACCESS_KEY: &str = "AKIACOGNATEBENCH0001";
const SECRET_KEY: &str = "cognate-bench-secret-key-0000000000000001";
const REGION: &str = "us-east-1";

/// Cores used by other processes during a measurement above which the
/// run is called disturbed.
const OTHER_LOAD_WARNING: f64 = 0.25;

/// Settings of the private cluster unless `--fsync`: as the test harness.
const FAST_PG_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
];

/// Service throughput and latency under load, next to the raw signing rate.
#[derive(Debug, Parser)]
#[command(name = "cognate-bench")]
struct Args {
    /// Seconds measured per operation and concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Seconds of warm-up (same load, not counted) before each measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrency levels (requests in flight), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32, 64])]
    concurrency: Vec<usize>,
    /// Operations to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',',
          default_values_t = [Op::GetId, Op::OpenIdToken, Op::DeveloperToken])]
    ops: Vec<Op>,
    /// Use this PostgreSQL database instead of a private cluster in a temp
    /// dir. It is migrated, and gets a new pool and many identities.
    #[arg(long)]
    database_url: Option<String>,
    /// Run the private cluster with PostgreSQL's durable defaults (fsync,
    /// synchronous_commit, full_page_writes on) as `cognate serve` does;
    /// without it they are off, as in the tests.
    #[arg(long)]
    fsync: bool,
    /// HTTP worker threads of the server (`server.workers`; 0: one per core).
    #[arg(long, default_value_t = 0)]
    server_workers: usize,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Seconds spent on each raw signing-rate measurement.
    #[arg(long, default_value_t = 2.0)]
    sign_seconds: f64,
    /// Identities pre-created for GetOpenIdToken, and developer users for
    /// GetOpenIdTokenForDeveloperIdentity (used round-robin).
    #[arg(long, default_value_t = 256)]
    identities: usize,
}

/// The raw signing rate of this machine.
#[derive(Debug)]
struct SignRates {
    cores: usize,
    one_core: f64,
    all_cores: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        eprintln!("cognate-bench: --concurrency needs levels of at least 1");
        return ExitCode::from(2);
    }
    if args.seconds == 0 || args.identities == 0 || args.client_threads == 0 {
        eprintln!("cognate-bench: --seconds, --identities and --client-threads must be at least 1");
        return ExitCode::from(2);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    // Measured first, while nothing else runs.
    let rates = match sign_rates(Duration::from_secs_f64(args.sign_seconds.max(0.1))) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cognate-bench: measuring the signing rate: {e:#}");
            return ExitCode::FAILURE;
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name(cpu::CLIENT_THREAD_NAME)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cognate-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On a runtime worker (named as the load generator), not on this thread,
    // so that the CPU accounting sees it as load generator work.
    let task = runtime.spawn(async move { run(&args, &rates).await });
    let outcome = runtime
        .block_on(task)
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the benchmark task failed: {e}")));
    // The server's threads are not ours to join: leave without waiting.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cognate-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// RS512 signatures per second on one core, then on every core at once.
fn sign_rates(duration: Duration) -> anyhow::Result<SignRates> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let one_core = measure_sign_rate(SigningAlgorithm::Rs512, duration)?;
    let all_cores = std::thread::scope(|s| {
        let threads: Vec<_> = (0..cores)
            .map(|_| s.spawn(move || measure_sign_rate(SigningAlgorithm::Rs512, duration)))
            .collect();
        threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(rate) => rate.map_err(anyhow::Error::from),
                Err(_) => Err(anyhow::anyhow!("a signing thread panicked")),
            })
            .sum::<anyhow::Result<f64>>()
    })?;
    Ok(SignRates {
        cores,
        one_core,
        all_cores,
    })
}

/// Open the database, run the benchmark, stop the database. Returns the
/// number of failed requests.
async fn run(args: &Args, rates: &SignRates) -> anyhow::Result<u64> {
    // The private cluster and its temp dir (removed after the cluster stops).
    let mut private: Option<(EmbeddedPostgres, tempfile::TempDir)> = None;
    let (url, pg_mode) = match &args.database_url {
        Some(url) => (url.clone(), "the given --database-url"),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("cognate-bench-pg-")
                .tempdir_in("/tmp")
                .context("creating a temp dir under /tmp")?;
            // As root, PostgreSQL runs as `postgres`, which must pass through.
            std::fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )?;
            let options = EmbeddedOptions::new(dir.path().join("data"), "cognate");
            let (pg, mode) = if args.fsync {
                (
                    EmbeddedPostgres::start(options).await?,
                    "private cluster in a temp dir, durable defaults (fsync on)",
                )
            } else {
                (
                    EmbeddedPostgres::start_with_settings(options, FAST_PG_SETTINGS).await?,
                    "private cluster in a temp dir, fsync/synchronous_commit/full_page_writes off",
                )
            };
            let url = pg.url();
            private = Some((pg, dir));
            (url, mode)
        }
    };
    let postmaster = private.as_ref().map(|(pg, _)| pg.pid());
    let result = bench(args, rates, &url, postmaster, pg_mode).await;
    if let Some((pg, dir)) = private {
        pg.stop().await.context("stopping PostgreSQL")?;
        drop(dir);
    }
    result
}

async fn bench(
    args: &Args,
    rates: &SignRates,
    database_url: &str,
    postmaster: Option<u32>,
    pg_mode: &str,
) -> anyhow::Result<u64> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    let address = format!("http://{}", listener.local_addr()?);
    let mut settings = Settings::load(None).context("default settings")?;
    settings.server.bind = ([127, 0, 0, 1], 0).into();
    settings.server.management_bind = ([127, 0, 0, 1], 0).into();
    settings.server.public_url = address.clone();
    settings.server.workers = args.server_workers;
    settings.server.shutdown_timeout_seconds = 1;
    settings.database.url = Some(database_url.to_owned().into());
    settings.accounts = vec![AccountSettings::new(ACCOUNT, ACCESS_KEY, SECRET_KEY)];
    // The benchmark measures the service, not the quotas: all unlimited.
    settings.disable_quotas();
    let app = Application::build_with_listener(&settings, database_url, listener)
        .await
        .context("building the application")?;
    let server = tokio::spawn(app.run_until_stopped());
    let result = measure(args, rates, &settings, &address, postmaster, pg_mode).await;
    server.abort();
    result
}

async fn measure(
    args: &Args,
    rates: &SignRates,
    settings: &Settings,
    address: &str,
    postmaster: Option<u32>,
    pg_mode: &str,
) -> anyhow::Result<u64> {
    let sdk = sdk_client(address);
    let pool_id = sdk
        .create_identity_pool()
        .identity_pool_name(format!(
            "cognate-bench-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
        ))
        .allow_unauthenticated_identities(true)
        // GetOpenIdToken for an unauthenticated identity is the basic flow.
        .allow_classic_flow(true)
        .developer_provider_name(DEVELOPER_PROVIDER)
        .send()
        .await
        .context("CreateIdentityPool")?
        .identity_pool_id;

    let max_concurrency = args.concurrency.iter().copied().max().unwrap_or(1);
    let mut target = Target::new(
        address,
        REGION,
        ACCESS_KEY,
        SECRET_KEY,
        &pool_id,
        max_concurrency,
    )?;
    let setup = Instant::now();
    if args.ops.contains(&Op::OpenIdToken) {
        target.create_identities(args.identities).await?;
    }
    if args.ops.contains(&Op::DeveloperToken) {
        target.create_developer_users(args.identities).await?;
    }
    let setup = setup.elapsed();
    let target = Arc::new(target);

    let workers = if settings.server.workers == 0 {
        format!("{} (one per core)", rates.cores)
    } else {
        settings.server.workers.to_string()
    };
    println!("cognate-bench");
    println!(
        "  machine:     {} cores (std::thread::available_parallelism)",
        rates.cores
    );
    println!(
        "  server:      in this process at {address}; {workers} HTTP workers; database pool of {} \
         connections; tokens {} (2048-bit RSA, aws-lc-rs)",
        settings.database.max_connections, settings.tokens.algorithm
    );
    println!("  postgres:    {pg_mode}");
    println!(
        "  load:        raw JSON 1.1 over reqwest (keep-alive pool), {} client thread(s) in this \
         process; {} s warm-up + {} s measured per row",
        args.client_threads, args.warmup, args.seconds
    );
    println!(
        "  requests:    GetId unauthenticated (an INSERT each); GetOpenIdToken round-robin over \
         {n} identities; developer tokens round-robin over {n} users, SigV4-signed per request \
         with aws-sigv4 in the load generator",
        n = args.identities
    );
    println!(
        "  setup:       pool {pool_id}; pre-created identities/users in {:.1} s",
        setup.as_secs_f64()
    );
    if let Some(load) = cpu::load_average() {
        println!("  load avg:    {load:.2} (1 min, before the measurements)");
    }
    println!();
    println!(
        "  cpu columns: cores used during the measurement by the server (this process less the"
    );
    println!(
        "  load generator), PostgreSQL (postmaster and backends), the load generator, and every"
    );
    println!("  other process on the machine (should be ~0: else the figures are disturbed)");
    println!();
    let header = format!(
        "{:<34} {:>5} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8}  {:>5} {:>5} {:>5} {:>5}",
        "operation",
        "conc",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "srv",
        "pg",
        "cli",
        "other"
    );
    println!("{header}");
    println!("{}", "-".repeat(header.len()));

    let warmup = Duration::from_secs_f64(args.warmup.max(0.0));
    let measured = Duration::from_secs(args.seconds);
    let mut failures: Vec<String> = Vec::new();
    let mut failed = 0u64;
    let mut best_token_rate: Option<(Op, usize, f64)> = None;
    let mut most_other = 0.0f64;
    for &op in &args.ops {
        for &concurrency in &args.concurrency {
            if !warmup.is_zero() {
                let w = load::drive(&target, op, concurrency, warmup).await;
                if w.errors > 0 {
                    failed += w.errors;
                    failures.push(describe_failure(op, concurrency, "warm-up", &w));
                }
            }
            let before = cpu::Snapshot::take(postmaster);
            let run = load::drive(&target, op, concurrency, measured).await;
            let usage = cpu::Snapshot::take(postmaster).since(&before);
            if run.errors > 0 {
                failed += run.errors;
                failures.push(describe_failure(op, concurrency, "measured", &run));
            }
            most_other = most_other.max(usage.other);
            if op != Op::GetId && best_token_rate.is_none_or(|(_, _, r)| run.throughput() > r) {
                best_token_rate = Some((op, concurrency, run.throughput()));
            }
            println!(
                "{:<34} {:>5} {:>9} {:>6} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {:>5.2} {:>5} {:>5.2} {:>5.2}{}",
                op.name(),
                concurrency,
                run.ok,
                run.errors,
                run.throughput(),
                run.quantile_ms(0.50),
                run.quantile_ms(0.90),
                run.quantile_ms(0.99),
                run.quantile_ms(1.0),
                usage.server,
                usage
                    .postgres
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}")),
                usage.client,
                usage.other,
                if run.errors > 0 { "  <-- ERRORS" } else { "" }
            );
        }
    }

    println!();
    println!("raw signing rate (cognate_token::measure_sign_rate, RS512, 2048-bit, aws-lc-rs):");
    println!(
        "  one core:               {:>8.0} signatures/s",
        rates.one_core
    );
    println!(
        "  {} threads in parallel:  {:>8.0} signatures/s",
        rates.cores, rates.all_cores
    );
    println!(
        "  one core x {} cores:     {:>8.0} signatures/s  (the ceiling for token operations if \
         the cores did nothing else)",
        rates.cores,
        rates.one_core * rates.cores as f64
    );
    if let Some((op, concurrency, rate)) = best_token_rate {
        println!(
            "  best served:            {:>8.0} tokens/s      ({} at concurrency {}: {:.0}% of one \
             core x {} cores)",
            rate,
            op.name(),
            concurrency,
            100.0 * rate / (rates.one_core * rates.cores as f64),
            rates.cores
        );
    }
    println!(
        "  note: server, PostgreSQL and load generator share this machine's cores, so the served \
         figures are a lower bound"
    );

    if most_other > OTHER_LOAD_WARNING {
        println!(
            "  WARNING: other processes used up to {most_other:.2} cores during a measurement: \
             these figures are disturbed; rerun on a quiet machine"
        );
    }

    if failed > 0 {
        let banner = "!".repeat(78);
        let mut text = format!(
            "\n{banner}\n!!! THIS RUN HAD {failed} FAILED REQUESTS: its figures are not valid\n"
        );
        for f in &failures {
            text.push_str(&format!("!!! {f}\n"));
        }
        text.push_str(&banner);
        println!("{text}");
        eprintln!("{text}");
    }
    Ok(failed)
}

fn describe_failure(op: Op, concurrency: usize, phase: &str, run: &Run) -> String {
    format!(
        "{} at concurrency {concurrency} ({phase}): {} of {} failed; first: {}",
        op.name(),
        run.errors,
        run.errors + run.ok,
        run.first_error.as_deref().unwrap_or("?")
    )
}

/// The Rust SDK, signed as the benchmark account, retries disabled.
fn sdk_client(address: &str) -> aws_sdk_cognitoidentity::Client {
    let config = aws_sdk_cognitoidentity::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            None,
            None,
            "cognate-bench",
        ))
        .endpoint_url(address)
        .retry_config(aws_sdk_cognitoidentity::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_cognitoidentity::Client::from_conf(config)
}
