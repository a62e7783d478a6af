//! `cognate-bench`: the real service, started in-process as the integration
//! tests start it, under raw JSON 1.1 load at several concurrency levels;
//! printed next to this machine's raw RSA signing rate.
//!
//! ```sh
//! cargo run --release -p cognate-bench -- [--seconds N] [--concurrency 1,8,32,64]
//! ```
//!
//! See `bench/README.md`.

mod console;
mod cpu;
mod flood;
mod handshake;
mod load;
mod memory;
mod sts;
mod tls;
mod wire;

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

use crate::load::{Op, Run, Target, DEVELOPER_PROVIDER, USER_PREFIX};

/// Tokens fetched for GetId with a known login.
const LOGIN_TOKENS: usize = 256;

/// A small deterministic random source for picking the sample.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        XorShift(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

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
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32, 128])]
    concurrency: Vec<usize>,
    /// Operations to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',',
          default_values_t = [Op::GetId, Op::OpenIdToken, Op::GetIdKnown, Op::DeveloperToken,
                              Op::Credentials])]
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
    /// Identities preloaded into the pool (in bulk, in the database) before
    /// the measurements: latency at 10 million should match latency at 10
    /// thousand.
    #[arg(long, default_value_t = 10_000)]
    identities: u64,
    /// How many of the preloaded identities hold a developer login
    /// (default: a tenth of `--identities`); the others are guests, for
    /// GetOpenIdToken.
    #[arg(long)]
    linked: Option<u64>,
    /// Identities (and developer users) picked at random from the preload
    /// and used round-robin by the token and known-login calls.
    #[arg(long, default_value_t = 4096)]
    sample: usize,
    /// Connections of the database ceilings (insert and primary-key read).
    #[arg(long, default_value_t = 32)]
    ceiling_clients: usize,
    /// Also time the operator console's pages on the preloaded pool (its
    /// identity counts, lists, look-ups, audit and usage pages), after the
    /// load: server-side, over HTTP, with a session made without signing in.
    #[arg(long)]
    console_pages: bool,
    /// Also time signed ListIdentityPools/DescribeIdentityPool of an
    /// account while 32 unsigned callers flood its GetId over its quota
    /// (after the load; `--seconds` quiet, then as long under the flood).
    #[arg(long)]
    flood_probe: bool,
    /// Also measure GetId and GetOpenIdToken over TLS (RSA-2048 and ECDSA
    /// P-256 certificates; keep-alive, a new connection per call, and a
    /// new connection that resumes), next to plain HTTP, after the load.
    #[arg(long)]
    tls_probe: bool,
    /// Do not record the unsigned calls in the audit trail
    /// (`audit.public_calls = false`), to measure what recording costs.
    #[arg(long)]
    no_audit: bool,
}

/// The database's own rates, measured on the benchmark's PostgreSQL.
#[derive(Debug, Clone, Copy)]
struct Ceilings {
    inserts: f64,
    lookups: f64,
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
    if args.seconds == 0
        || args.identities == 0
        || args.sample == 0
        || args.client_threads == 0
        || args.ceiling_clients == 0
        || args.linked == Some(0)
    {
        eprintln!(
            "cognate-bench: --seconds, --identities, --linked, --sample, --client-threads and \
             --ceiling-clients must be at least 1"
        );
        return ExitCode::from(2);
    }
    if args.identities < 2 || args.linked.is_some_and(|l| l >= args.identities) {
        eprintln!("cognate-bench: --linked must be below --identities (at least 2)");
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
    settings.server.public_url = address.as_str().try_into().map_err(anyhow::Error::msg)?;
    settings.server.workers = args.server_workers;
    settings.server.shutdown_timeout_seconds = 1;
    settings.database.url = Some(database_url.to_owned().into());
    settings.accounts = vec![AccountSettings::new(ACCOUNT, ACCESS_KEY, SECRET_KEY)];
    // The benchmark measures the service, not the quotas: all unlimited.
    settings.disable_quotas();
    if args.flood_probe {
        // The flooded account: its GetId is limited, the rest unlimited.
        let mut flooded = AccountSettings::new(
            flood::FLOOD_ACCOUNT,
            flood::FLOOD_ACCESS_KEY,
            flood::FLOOD_SECRET_KEY,
        );
        flooded.quotas.insert("GetId".into(), flood::FLOOD_QUOTA);
        settings.accounts.push(flooded);
    }
    settings.audit.public_calls = !args.no_audit;
    if args.console_pages {
        // Never contacted: the bench's session is made without signing in.
        settings.console.bind = Some(([127, 0, 0, 1], 0).into());
        settings.console.issuer = Some(
            "http://127.0.0.1:9"
                .try_into()
                .map_err(anyhow::Error::msg)?,
        );
        settings.console.client_id = Some("cognate-bench".into());
    }
    // GetCredentialsForIdentity's Cognate part: an STS that answers at once.
    settings.sts.endpoint = Some(
        sts::start()
            .await
            .context("starting the stand-in STS")?
            .as_str()
            .try_into()
            .map_err(anyhow::Error::msg)?,
    );
    // The service on a runtime of its own, as the `cognate` binary runs it
    // (multi-threaded, a worker per core): its database work and token
    // signing then run on threads of their own, not on the load
    // generator's, and the CPU columns tell them apart.
    let server_runtime = cognate_server::runtime_builder()
        .thread_name("cognate-server")
        .enable_all()
        .build()
        .context("starting the service's runtime")?;
    let app = {
        let (settings, database_url) = (settings.clone(), database_url.to_owned());
        server_runtime
            .spawn(async move {
                Application::build_with_listener(&settings, &database_url, listener).await
            })
            .await
            .context("building the application")?
            .context("building the application")?
    };
    let console = match (
        app.console_port(),
        app.console_session_for_bench("cognate-bench"),
    ) {
        (Some(port), Some(cookie)) => Some(console::Console {
            address: format!("http://127.0.0.1:{port}"),
            cookie,
        }),
        _ => None,
    };
    let server = server_runtime.spawn(app.run_until_stopped());
    let result = measure(
        args,
        rates,
        &settings,
        database_url,
        &address,
        postmaster,
        pg_mode,
    )
    .await;
    let result = match result {
        Ok((failed, target)) if args.tls_probe => tls::probe(
            &settings,
            database_url,
            server_runtime.handle(),
            &target,
            address.trim_start_matches("http://"),
            args.concurrency.iter().copied().max().unwrap_or(1),
            Duration::from_secs(args.seconds),
            postmaster,
        )
        .await
        .map(|more| failed + more),
        Ok((failed, _)) => Ok(failed),
        Err(e) => Err(e),
    };
    let result = match result {
        Ok(failed) if args.flood_probe => flood::probe(&address, Duration::from_secs(args.seconds))
            .await
            .map(|()| failed),
        other => other,
    };
    let result = match (result, console) {
        (Ok(failed), Some(console)) => console::time_pages(&console, args, &address)
            .await
            .map(|()| failed),
        (result, _) => result,
    };
    server.abort();
    server_runtime.shutdown_background();
    result
}

async fn measure(
    args: &Args,
    rates: &SignRates,
    settings: &Settings,
    database_url: &str,
    address: &str,
    postmaster: Option<u32>,
    pg_mode: &str,
) -> anyhow::Result<(u64, Arc<Target>)> {
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
    // The role GetCredentialsForIdentity asks the (stand-in) STS for.
    sdk.set_identity_pool_roles()
        .identity_pool_id(&pool_id)
        .roles(
            "unauthenticated",
            format!("arn:aws:iam::{ACCOUNT}:role/cognate-bench"),
        )
        .send()
        .await
        .context("SetIdentityPoolRoles")?;

    let max_concurrency = args.concurrency.iter().copied().max().unwrap_or(1);
    let mut target = Target::new(address, REGION, ACCESS_KEY, SECRET_KEY, &pool_id);
    let linked = args.linked.unwrap_or((args.identities / 10).max(1));
    let setup = Instant::now();
    let db = cognate_store::bench::connect(database_url, args.ceiling_clients as u32)
        .await
        .context("connecting to the benchmark's database")?;
    let preload = cognate_store::bench::Preload {
        pool_id: &pool_id,
        region: REGION,
        identities: args.identities,
        linked,
        provider: DEVELOPER_PROVIDER,
        user_prefix: USER_PREFIX,
    };
    let mut last_report = Instant::now();
    cognate_store::bench::preload_identities(&db, &preload, |done| {
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "cognate-bench: preloaded {done} of {} identities",
                args.identities
            );
            last_report = Instant::now();
        }
    })
    .await
    .context("preloading identities")?;
    let preload_time = setup.elapsed();
    let mut random = XorShift::seeded();
    // GetOpenIdToken without logins needs unauthenticated identities: the
    // ones after the linked.
    let picks: Vec<i64> = (0..args.sample)
        .map(|_| (linked + random.below(args.identities - linked)) as i64)
        .collect();
    let sample_ids = cognate_store::bench::preloaded_identity_ids(&db, REGION, &picks)
        .await
        .context("naming the sampled identities")?;
    target.use_identities(sample_ids.clone());
    target.use_developer_users((0..args.sample).map(|_| random.below(linked)).collect());
    if args.ops.contains(&Op::GetIdKnown) {
        target
            .fetch_login_tokens(args.sample.min(LOGIN_TOKENS))
            .await?;
    }
    let setup = setup.elapsed();
    let target = Arc::new(target);

    // The database's own ceilings, before any load.
    let ceiling_time = Duration::from_secs(args.seconds);
    let ceilings = Ceilings {
        inserts: cognate_store::bench::insert_rate(
            &db,
            &pool_id,
            args.ceiling_clients,
            ceiling_time,
        )
        .await
        .context("measuring the insert ceiling")?,
        lookups: cognate_store::bench::lookup_rate(
            &db,
            Arc::new(sample_ids),
            args.ceiling_clients,
            ceiling_time,
        )
        .await
        .context("measuring the lookup ceiling")?,
    };
    db.close().await;
    let rss_idle = memory::rss_kib();

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
         connections ({} for public calls); tokens {} (2048-bit RSA, aws-lc-rs)",
        settings.database.pool_size(),
        cognate_store::PoolOptions::public_share(settings.database.pool_size()),
        settings.tokens.algorithm
    );
    println!("  postgres:    {pg_mode}");
    println!(
        "  audit:       {}",
        if settings.audit.public_calls {
            "every call recorded (audit.public_calls = true, the default)"
        } else {
            "unsigned calls not recorded (--no-audit: audit.public_calls = false)"
        }
    );
    println!(
        "  load:        raw JSON 1.1, one keep-alive HTTP/1.1 connection per request in flight \
         (wrk-style), {} client thread(s) in this process; {} s warm-up + {} s measured per row",
        args.client_threads, args.warmup, args.seconds
    );
    println!(
        "  data:        {} identities in the pool, {linked} of them with a developer login \
         (preloaded in {:.1} s)",
        args.identities,
        preload_time.as_secs_f64()
    );
    println!(
        "  requests:    GetId unauthenticated (an INSERT each); GetOpenIdToken round-robin over \
         {n} random identities; GetId with a known login (a Cognate token of a linked user under \
         cognito-identity.amazonaws.com) round-robin over {t} tokens; developer tokens round-robin \
         over {n} random linked users, SigV4-signed per request with aws-sigv4 in the load \
         generator; GetCredentialsForIdentity over the same identities as GetOpenIdToken, against \
         a stand-in STS in the load generator that answers at once (Cognate's part of the call)",
        n = args.sample,
        t = args.sample.min(LOGIN_TOKENS)
    );
    println!(
        "  setup:       pool {pool_id}; set up in {:.1} s",
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
    // Per operation: the best throughput, and p50/p99 at the highest level.
    let mut best: Vec<(Op, f64)> = Vec::new();
    let mut tails: Vec<(Op, usize, f64, f64)> = Vec::new();
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
            match best.iter_mut().find(|(o, _)| *o == op) {
                Some((_, rate)) => *rate = rate.max(run.throughput()),
                None => best.push((op, run.throughput())),
            }
            if concurrency == max_concurrency {
                tails.push((op, concurrency, run.quantile_ms(0.5), run.quantile_ms(0.99)));
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
    println!();
    println!(
        "database ceilings (same PostgreSQL, {} connections, {} s each):",
        args.ceiling_clients, args.seconds
    );
    println!(
        "  single-row INSERT, each committed: {:>8.0} rows/s   (a table shaped like identities: \
         columns, indexes, foreign key)",
        ceilings.inserts
    );
    println!(
        "  primary-key read of identities:    {:>8.0} reads/s  (over the same random sample)",
        ceilings.lookups
    );
    println!();
    println!("ratios (best served rate over all levels / ceiling; the issue's goals in brackets):");
    let best_of = |op: Op| best.iter().find(|(o, _)| *o == op).map(|(_, r)| *r);
    // Issue 27's goals; GetCredentialsForIdentity's 0.5 is an earlier issue's.
    let ratios = [
        (
            Op::OpenIdToken,
            rates.all_cores,
            "all-core RS512 signing rate",
            0.8,
        ),
        (
            Op::GetId,
            ceilings.inserts,
            "durable single-row insert rate",
            0.5,
        ),
        (
            Op::GetIdKnown,
            ceilings.lookups,
            "primary-key read rate",
            0.5,
        ),
        (
            Op::DeveloperToken,
            rates.all_cores,
            "all-core RS512 signing rate",
            0.8,
        ),
        (
            Op::Credentials,
            rates.all_cores,
            "all-core RS512 signing rate",
            0.5,
        ),
        (
            Op::Credentials,
            ceilings.lookups,
            "primary-key read rate",
            0.5,
        ),
    ];
    for (op, ceiling, what, goal) in ratios {
        if let Some(rate) = best_of(op) {
            println!(
                "  {:<34} {:>8.0}/s / {:>8.0}/s {:<32} = {:.2}  [>= {goal}]",
                op.name(),
                rate,
                ceiling,
                what,
                rate / ceiling
            );
        }
    }
    for (op, concurrency, p50, p99) in &tails {
        println!(
            "  {:<34} p99 / p50 at concurrency {concurrency}: {p99:.1} / {p50:.1} ms = {:.2}  [<= 2]",
            op.name(),
            p99 / p50
        );
    }
    if let (Some(idle), Some(peak)) = (rss_idle, memory::peak_rss_kib()) {
        println!(
            "  memory (this process: server and load generator): {} MB resident after setup, \
             {} MB peak  [< 60 MB idle, < 250 MB peak]",
            idle / 1024,
            peak / 1024
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
    Ok((failed, target))
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
    sdk_client_as(address, ACCESS_KEY, SECRET_KEY)
}

/// The Rust SDK, signed with this key, retries disabled.
fn sdk_client_as(address: &str, key: &str, secret: &str) -> aws_sdk_cognitoidentity::Client {
    let config = aws_sdk_cognitoidentity::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, None, None, "cognate-bench"))
        .endpoint_url(address)
        .retry_config(aws_sdk_cognitoidentity::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_cognitoidentity::Client::from_conf(config)
}
