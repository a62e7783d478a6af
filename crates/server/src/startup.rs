//! Building and running the application: used by `main` and by the tests,
//! which build it on port 0 with their own settings.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use cognate_api::admission::{Admission, BodyBudget, Budget};
use cognate_api::audit::{AuditLog, AuditOptions, FileOptions};
use cognate_api::clients::{Connections, TrustedProxies};
use cognate_api::owners::{MissBudget, Owners};
use cognate_api::sigv4::{Credential, CredentialLookup, Verifier};
use cognate_api::AppState;
use cognate_domain::audit::AuditStore;
use cognate_domain::credentials::CredentialsIssuer;
use cognate_domain::federation::LoginVerifier;
use cognate_domain::ports::{Store, SystemClock};
use cognate_domain::service::{IdentityService, Limits, PoolService};
use cognate_store::{PgStore, PoolOptions};
use cognate_token::{
    HmacSubjectHasher, HttpSts, Kek, KeyManager, KeyManagerConfig, NoSts, OidcProviderConfig,
    OutboundLimits, SamlMetadata, SamlProviderConfig, SigningAlgorithm, UpstreamOptions,
    UpstreamOverride, UpstreamVerifier,
};
use secrecy::ExposeSecret as _;

use crate::config::Settings;
use crate::embedded_pg::{default_data_dir, EmbeddedOptions, EmbeddedPostgres};

/// Access keys from `[[accounts]]`.
#[derive(Clone)]
pub struct AccountKeys(HashMap<String, (String, secrecy::SecretString)>);

impl std::fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKeys")
            .field("count", &self.0.len())
            .finish()
    }
}

impl AccountKeys {
    /// Index the configured accounts by access key id.
    pub fn from_settings(settings: &Settings) -> Self {
        AccountKeys(
            settings
                .accounts
                .iter()
                .map(|a| {
                    (
                        a.access_key_id.clone(),
                        (a.id.clone(), a.secret_access_key.clone()),
                    )
                })
                .collect(),
        )
    }
}

impl CredentialLookup for AccountKeys {
    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        self.0
            .get(access_key_id)
            .map(|(account, secret)| Credential {
                account_id: account.clone(),
                secret_access_key: secret.clone(),
            })
    }
}

/// Where the database is: configured, or our own private cluster.
pub struct Database {
    /// The URL to connect to.
    pub url: String,
    /// The private cluster, when we started one.
    pub embedded: Option<EmbeddedPostgres>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("embedded", &self.embedded.is_some())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Use `[database] url`, or start the private cluster when it is unset.
    pub async fn open(settings: &Settings) -> anyhow::Result<Database> {
        if let Some(url) = settings.database.connection_url()? {
            return Ok(Database {
                url: url.expose_secret().to_owned(),
                embedded: None,
            });
        }
        let data_dir = settings
            .database
            .data_dir
            .clone()
            .unwrap_or_else(default_data_dir);
        let mut options = EmbeddedOptions::new(data_dir, "cognate");
        if settings.database.embedded_port != 0 {
            options.tcp_port = Some(settings.database.embedded_port);
        }
        let pg = EmbeddedPostgres::start(options).await.context(
            "starting the private PostgreSQL cluster (set [database] url to use your own)",
        )?;
        Ok(Database {
            url: pg.url(),
            embedded: Some(pg),
        })
    }

    /// For the administrative commands: like [`open`](Self::open), but a
    /// private cluster already running on the data directory (`serve`'s)
    /// is used as it is, not started a second time.
    pub async fn open_shared(settings: &Settings) -> anyhow::Result<Database> {
        if settings.database.connection_url()?.is_none() {
            let data_dir = settings
                .database
                .data_dir
                .clone()
                .unwrap_or_else(default_data_dir);
            if let Some(url) = crate::embedded_pg::running_url(&data_dir, "cognate") {
                tracing::info!(
                    data_dir = %data_dir.display(),
                    "using the private PostgreSQL cluster that is already running"
                );
                return Ok(Database {
                    url,
                    embedded: None,
                });
            }
        }
        Database::open(settings).await
    }

    /// Stop the private cluster, if we started one.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(pg) = self.embedded {
            pg.stop().await?;
        }
        Ok(())
    }
}

/// A reason not to start that the operator must fix, like a configuration
/// error (`cognate` exits with code 2), found only once the database is
/// reachable. The message says what to do.
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// What [`Application::build_services`] makes.
struct Services {
    pg: PgStore,
    store: Arc<dyn Store>,
    pools: PoolService,
    identities: IdentityService,
    keys: Arc<KeyManager>,
    refresher: tokio::task::JoinHandle<()>,
}

/// A built application, listening, not yet running: the public API
/// listener and the management listener (`/metrics`, `/healthz`,
/// `/readyz`), which run and stop together.
pub struct Application {
    port: u16,
    management_port: u16,
    console_port: Option<u16>,
    server: Server,
    management: Server,
    console: Option<Server>,
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    console_state: Option<Arc<cognate_console::Console>>,
    refresher: tokio::task::JoinHandle<()>,
    audit: AuditLog,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("management_port", &self.management_port)
            .finish()
    }
}

impl Application {
    /// Migrate the database at `database_url`, wire everything, and bind
    /// `server.bind` and `server.management_bind` (port 0 picks a free one).
    ///
    /// Refuses ([`Refusal`]) to start when `tokens.key_encryption_key` is
    /// configured and a signing key is stored unsealed.
    pub async fn build(settings: &Settings, database_url: &str) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.server.bind)
            .with_context(|| format!("server.bind: cannot listen on {}", settings.server.bind))?;
        Self::build_with_listener(settings, database_url, listener).await
    }

    /// As [`Application::build`], on an API listener the caller bound (tests
    /// bind port 0 first, to know the URL they put in `server.public_url`);
    /// the management listener is bound here, on `server.management_bind`.
    pub async fn build_with_listener(
        settings: &Settings,
        database_url: &str,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let management_listener =
            TcpListener::bind(settings.server.management_bind).with_context(|| {
                format!(
                    "server.management_bind: cannot listen on {}",
                    settings.server.management_bind
                )
            })?;
        let Services {
            pg,
            store,
            pools,
            identities,
            keys,
            refresher,
        } = Self::build_services(settings, database_url).await?;
        let (state, audit, connections) =
            Self::build_state(settings, pg, pools, identities, keys, store).await?;
        let console = Self::build_console(settings, state.clone())?;
        let (port, management_port, server, management) =
            Self::build_servers(settings, state, connections, listener, management_listener)?;
        let (console_port, console, console_state) = match console {
            Some((port, server, state)) => (Some(port), Some(server), Some(state)),
            None => (None, None, None),
        };
        Ok(Application {
            port,
            management_port,
            console_port,
            server,
            management,
            console,
            console_state,
            refresher,
            audit,
        })
    }

    /// The database (migrated, reachable) and the domain services over it.
    async fn build_services(settings: &Settings, database_url: &str) -> anyhow::Result<Services> {
        // Parse the embedded service models now, not on a first request.
        let _ = (
            cognate_api::validation::Model::embedded(),
            cognate_api::validation::Model::cloudtrail(),
        );
        cognate_store::migrate::run(database_url)
            .await
            .context("migrating the database")?;
        let store = PgStore::connect_lazy(
            database_url,
            &PoolOptions {
                max_connections: settings.database.pool_size(),
                min_connections: settings.database.min_connections,
                acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_seconds),
                failover_wait: Duration::from_secs(settings.database.failover_wait_seconds),
            },
        )
        .map_err(|e| anyhow::anyhow!("database.url: {e}"))?;
        let failover_wait = Duration::from_secs(settings.database.failover_wait_seconds);
        if !store.ready(std::time::Instant::now() + failover_wait).await {
            anyhow::bail!(
                "database.url: no writable PostgreSQL answered within database.failover_wait_seconds"
            );
        }
        let pg = store.clone();
        let store: Arc<dyn Store> = Arc::new(store);
        let region = settings.server.region.clone();
        let upstream: Arc<dyn LoginVerifier> = Arc::new(upstream_verifier(settings)?);
        let hasher = Arc::new(subject_hasher(settings, &pg).await?);
        let pools = PoolService::new(
            store.clone(),
            upstream.clone(),
            Arc::new(SystemClock),
            region.clone(),
            Limits {
                max_pools_per_account: settings.limits.max_identity_pools_per_account,
                role_trust: settings.role_trust(),
            },
        );
        if settings.tokens.key_encryption_key.is_some() {
            let unsealed = cognate_token::unsealed_stored_keys(&pg)
                .await
                .context("reading the token signing keys")?;
            if !unsealed.is_empty() {
                return Err(Refusal(format!(
                    "tokens.key_encryption_key is configured but {} stored signing key(s) are \
                     not sealed with it ({}); run `cognate keys seal` with this configuration \
                     to seal them, then start again",
                    unsealed.len(),
                    unsealed.join(", ")
                ))
                .into());
            }
        }
        let keys = Arc::new(start_keys(settings, Arc::new(pg.clone())).await?);
        let refresher = Arc::clone(&keys)
            .spawn_refresh_loop(Duration::from_secs(settings.tokens.refresh_seconds.max(1)));
        let identities = IdentityService::new(
            store.clone(),
            keys.clone(),
            upstream,
            hasher,
            sts(settings)?,
            Arc::new(SystemClock),
            region.clone(),
        )
        .with_role_trust(settings.role_trust());
        if settings.accounts.is_empty() {
            tracing::warn!(
                "no [[accounts]] configured: every signed (developer) operation will be refused"
            );
        }
        Ok(Services {
            pg,
            store,
            pools,
            identities,
            keys,
            refresher,
        })
    }

    /// The state every request handler shares: metrics, quotas, the audit
    /// log, budgets; and the API listener's connection counter.
    async fn build_state(
        settings: &Settings,
        pg: PgStore,
        pools: PoolService,
        identities: IdentityService,
        keys: Arc<KeyManager>,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<(web::Data<AppState>, AuditLog, Connections)> {
        let region = settings.server.region.clone();
        let metrics = cognate_api::metrics::Metrics::new().context("registering metrics")?;
        let mut collectors = cognate_store::telemetry::collectors();
        collectors.push(Box::new(pg.pool_collector()));
        collectors.extend(cognate_token::telemetry::collectors());
        let database_runtime = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if let Some(runtime) = &database_runtime {
            metrics.watch_runtime("calls", runtime.clone());
        }
        metrics
            .register(collectors)
            .context("registering metrics")?;
        let quotas = cognate_api::quota::Quotas::new(settings.quota_table()?, Arc::new(pg.clone()))
            .with_metrics(metrics.clone());
        let audit_store: Arc<dyn AuditStore> = Arc::new(pg.clone());
        let audit = AuditLog::start(
            audit_store.clone(),
            audit_options(settings),
            metrics.clone(),
        )
        .context("audit.file: cannot open it for appending")?;
        if let Err(err) = audit.maintain(chrono::Utc::now().date_naive()).await {
            tracing::warn!(error = %err, "audit partitions not made ahead at start; the writer retries");
        }
        let trusted_proxies = TrustedProxies::parse(&settings.server.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))?;
        let server_settings = &settings.server;
        let connections = Connections::new(
            settings.server.max_connections_per_client,
            trusted_proxies.clone(),
        );
        let state = web::Data::new(AppState {
            connections: connections.clone(),
            pools,
            identities,
            keys,
            issuer_path: issuer_path(&settings.issuer()),
            store,
            verifier: Verifier {
                region: region.as_str().to_owned(),
                service: "cognito-identity".to_owned(),
                max_skew: Duration::from_secs(settings.server.max_clock_skew_seconds),
            },
            cloudtrail_verifier: Verifier {
                region: region.as_str().to_owned(),
                service: "cloudtrail".to_owned(),
                max_skew: Duration::from_secs(settings.server.max_clock_skew_seconds),
            },
            audit: audit.clone(),
            audit_store,
            credentials: Arc::new(AccountKeys::from_settings(settings)),
            metrics,
            quotas,
            owners: Owners::new(
                Arc::new(pg.clone()),
                MissBudget {
                    per_second: server_settings.unknown_ids_per_client_per_second,
                    burst: server_settings.unknown_ids_burst_per_client,
                },
            ),
            trusted_proxies: trusted_proxies.clone(),
            accept_traceparent: settings.telemetry.accept_traceparent,
            failover_wait: Duration::from_secs(settings.database.failover_wait_seconds),
            max_body_bytes: server_settings.max_body_bytes,
            body_timeout: Duration::from_secs(server_settings.request_body_timeout_seconds),
            body_budget: BodyBudget::new(
                server_settings.max_buffered_body_bytes,
                server_settings.max_buffered_body_bytes_per_client,
                // One per connection over HTTP/1.1; HTTP/2 streams count too.
                server_settings.max_connections_per_client,
            ),
            admission: Admission::new(
                Budget {
                    max_in_flight: server_settings.max_public_requests,
                    wait: Duration::from_millis(server_settings.public_admission_wait_ms),
                    per_client: server_settings.max_public_requests_per_client,
                },
                Budget {
                    max_in_flight: server_settings.max_signed_requests,
                    wait: Duration::from_millis(server_settings.signed_admission_wait_ms),
                    per_client: server_settings.max_signed_requests_per_client,
                },
            ),
            database_runtime,
        });
        Ok((state, audit, connections))
    }

    /// The API and management listeners, serving `state`; their ports.
    fn build_servers(
        settings: &Settings,
        state: web::Data<AppState>,
        connections: Connections,
        listener: TcpListener,
        management_listener: TcpListener,
    ) -> anyhow::Result<(u16, u16, Server, Server)> {
        let region = &settings.server.region;
        let port = listener.local_addr()?.port();
        let management_port = management_listener.local_addr()?.port();
        let management_state = state.clone();
        let management = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::DefaultHeaders::new().add(("Server", "Cognate")))
                .configure(cognate_api::configure_management(management_state.clone()))
        })
        .workers(1)
        .shutdown_timeout(settings.server.shutdown_timeout_seconds)
        // Signals are ours (see `run_until_stopped`).
        .disable_signals()
        .listen(management_listener)?
        .run();
        let mut server = HttpServer::new(move || {
            // Built on each HTTP worker's thread, within its runtime.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                state.metrics.watch_runtime("http", runtime);
            }
            App::new()
                .wrap(actix_web::middleware::DefaultHeaders::new().add(("Server", "Cognate")))
                .wrap_fn(|req, srv| {
                    // Every response carries a request id; the API handler
                    // sets its own (also in its log span), the others get one here.
                    use actix_web::dev::Service as _;
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        let name =
                            actix_web::http::header::HeaderName::from_static("x-amzn-requestid");
                        if !res.headers().contains_key(&name) {
                            if let Ok(id) = actix_web::http::header::HeaderValue::from_str(
                                &uuid::Uuid::new_v4().to_string(),
                            ) {
                                res.headers_mut().insert(name, id);
                            }
                        }
                        Ok(res)
                    }
                })
                .configure(cognate_api::configure(state.clone()))
        })
        // Before any listen: the callback is captured when a listener is bound.
        .on_connect(move |conn, extensions| count_connection(&connections, conn, extensions))
        // Every answer is written whole, so Nagle's algorithm only delays it:
        // over a new TLS connection the answer followed the session tickets
        // and waited for their ACK, which the client delays (40 ms on
        // Linux) — a new TLS connection per call took 44 ms at p50 (found
        // by cognate-bench --tls-probe).
        .tcp_nodelay(true)
        .shutdown_timeout(settings.server.shutdown_timeout_seconds)
        // Connection limits ([server] in config/default.toml). The body deadline is enforced
        // by the handler (actix-web has none): see `cognate_api::protocol`.
        .max_connections(settings.server.max_connections)
        .client_request_timeout(Duration::from_secs(
            settings.server.request_head_timeout_seconds,
        ))
        .client_disconnect_timeout(Duration::from_secs(
            settings.server.client_disconnect_timeout_seconds,
        ))
        .keep_alive(match settings.server.keep_alive_seconds {
            0 => actix_web::http::KeepAlive::Disabled,
            secs => actix_web::http::KeepAlive::Timeout(Duration::from_secs(secs)),
        })
        // Signals are ours (see `run_until_stopped`): actix would treat
        // Ctrl-C as a forced stop.
        .disable_signals();
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = match crate::tls::config(settings)? {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?.run(),
            None => server.listen(listener)?.run(),
        };
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        tracing::info!(port, management_port, workers, region = %region, "listening");
        Ok((port, management_port, server, management))
    }

    /// The operator console's listener (`console.bind`), if configured;
    /// its port.
    fn build_console(
        settings: &Settings,
        state: web::Data<AppState>,
    ) -> anyhow::Result<Option<(u16, Server, Arc<cognate_console::Console>)>> {
        let console = &settings.console;
        let Some(bind) = console.bind else {
            return Ok(None);
        };
        let listener = TcpListener::bind(bind)
            .with_context(|| format!("console.bind: cannot listen on {bind}"))?;
        let port = listener.local_addr()?.port();
        let tls = match (&console.tls_cert_file, &console.tls_key_file) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key, "console")?),
            _ => None,
        };
        let public_url = match (&console.public_url, bind.port()) {
            // Port 0 (tests): the port bound.
            (None, 0) => format!(
                "{}://{}:{port}",
                if tls.is_some() { "https" } else { "http" },
                bind.ip()
            ),
            _ => console.public_url().unwrap_or_default(),
        };
        let config = cognate_console::ConsoleConfig {
            issuer: console
                .issuer
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            client_id: console.client_id.clone().unwrap_or_default(),
            client_secret: console
                .client_secret
                .as_ref()
                .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned()),
            secure_cookies: tls.is_some() || public_url.starts_with("https://"),
            public_url,
            scopes: console.scopes.clone(),
            groups_claim: console.groups_claim.clone(),
            operators: console
                .operators
                .iter()
                .map(|o| cognate_console::OperatorRule {
                    sub: o.sub.clone(),
                    group: o.group.clone(),
                    accounts: o.accounts.clone(),
                    role: match o.role {
                        crate::config::ConsoleRole::Viewer => cognate_console::Role::Viewer,
                        crate::config::ConsoleRole::Operator => cognate_console::Role::Operator,
                    },
                })
                .collect(),
            accounts: settings
                .accounts
                .iter()
                .filter_map(|a| cognate_domain::ids::AccountId::parse(&a.id).ok())
                .collect(),
            idle_timeout: Duration::from_secs(console.idle_timeout_seconds),
            absolute_timeout: Duration::from_secs(console.absolute_timeout_seconds),
        };
        let https = config.secure_cookies;
        let console_state = cognate_console::Console::new(config, state)?;
        let served = console_state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(cognate_console::security_headers(https))
                .configure(cognate_console::configure(served.clone()))
        })
        .workers(1)
        .tcp_nodelay(true)
        .shutdown_timeout(settings.server.shutdown_timeout_seconds)
        .client_request_timeout(Duration::from_secs(
            settings.server.request_head_timeout_seconds,
        ))
        .disable_signals();
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?.run(),
            None => server.listen(listener)?.run(),
        };
        tracing::info!(console_port = port, "operator console listening");
        Ok(Some((port, server, console_state)))
    }

    /// A console session of operator `sub` in every account, without
    /// signing in (its cookie's value): `cognate-bench --console-pages`.
    #[cfg(feature = "bench")]
    pub fn console_session_for_bench(&self, sub: &str) -> Option<String> {
        self.console_state.as_ref().map(|c| c.bench_session(sub))
    }

    /// The port the operator console listens on, if it is configured.
    pub fn console_port(&self) -> Option<u16> {
        self.console_port
    }

    /// The port the API listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the management listener (`/metrics`, `/healthz`, `/readyz`).
    pub fn management_port(&self) -> u16 {
        self.management_port
    }

    /// Serve until SIGINT (Ctrl-C) or SIGTERM; both stop gracefully:
    /// the listeners close and in-flight requests finish (for at most
    /// `server.shutdown_timeout_seconds`). The API and management
    /// listeners stop together: when one stops, for a signal or an error,
    /// the other is stopped too.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            mut server,
            mut management,
            console,
            refresher,
            audit,
            ..
        } = self;
        let (api_handle, management_handle) = (server.handle(), management.handle());
        // The console runs beside them, and stops with them.
        let console = console.map(|console| (console.handle(), tokio::spawn(console)));
        let console_handle = console.as_ref().map(|(handle, _)| handle.clone());
        let signals = {
            let (api, managed) = (api_handle.clone(), management_handle.clone());
            tokio::spawn(async move {
                let signal = shutdown_signal().await;
                tracing::info!(signal, "stopping gracefully: finishing in-flight requests");
                let console = async {
                    if let Some(console) = console_handle {
                        console.stop(true).await;
                    }
                };
                tokio::join!(api.stop(true), managed.stop(true), console);
            })
        };
        // `stop` sends its command at once; the stopping server is then
        // driven by awaiting it (awaiting `stop` here instead would wait on
        // a server nobody polls).
        let served = tokio::select! {
            served = &mut server => {
                drop(management_handle.stop(true));
                let _ = management.await;
                served
            }
            managed = &mut management => {
                drop(api_handle.stop(true));
                let served = server.await;
                managed.and(served)
            }
        };
        if let Some((handle, task)) = console {
            handle.stop(true).await;
            let _ = task.await;
        }
        signals.abort();
        refresher.abort();
        // In-flight requests are done: write out every buffered audit record.
        audit.close().await;
        served
    }
}

/// Counts an accepted API connection in against its client's share
/// (`server.max_connections_per_client`), or closes it at once when the
/// client has its share open already. The count is held in the
/// connection's extensions, so it is given back when the connection ends.
fn count_connection(
    connections: &Connections,
    conn: &dyn std::any::Any,
    extensions: &mut actix_web::dev::Extensions,
) {
    use actix_web::rt::net::TcpStream;
    let stream = conn.downcast_ref::<TcpStream>().or_else(|| {
        conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    });
    let Some(stream) = stream else { return };
    let Ok(peer) = stream.peer_addr() else { return };
    match connections.accept(peer.ip()) {
        Some(counted) => {
            extensions.insert(counted);
        }
        None => {
            tracing::debug!(client = %peer.ip(), "connection closed: the client has its share of connections open");
            // The dispatcher reads end-of-stream at once and drops it.
            let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The name of the first of SIGINT and SIGTERM to arrive.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers nothing can ask us to stop: wait forever.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// The path part of the issuer URL (`""` for a bare origin).
fn issuer_path(issuer: &str) -> String {
    let without_scheme = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    match without_scheme.find('/') {
        Some(i) => without_scheme[i..].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

/// `[audit]` as the audit log takes it.
pub fn audit_options(settings: &Settings) -> AuditOptions {
    let a = &settings.audit;
    AuditOptions {
        public_calls: a.public_calls,
        retention_days: a.retention_days,
        buffer_events: a.buffer_events,
        flush_interval: Duration::from_millis(a.flush_interval_ms),
        file: a.file.clone().map(|path| FileOptions {
            path,
            max_bytes: a.file_max_bytes,
            keep: a.file_keep,
        }),
        ..AuditOptions::default()
    }
}

/// The upstream token checker of `[federation]`, `[[oidc_providers]]` and `[[upstream]]`.
fn upstream_verifier(settings: &Settings) -> anyhow::Result<UpstreamVerifier> {
    let f = &settings.federation;
    UpstreamVerifier::new(
        settings
            .oidc_providers
            .iter()
            .map(|p| OidcProviderConfig {
                account: p.account.to_string(),
                url: p.url.to_string(),
                client_ids: p.client_ids.clone(),
            })
            .collect(),
        settings
            .upstream
            .iter()
            .map(|u| UpstreamOverride {
                provider: u.provider.clone(),
                issuer: u.issuer.as_deref().map(str::to_owned),
                token_info_url: u.token_info_url.as_deref().map(str::to_owned),
            })
            .collect(),
        UpstreamOptions {
            http_timeout: Duration::from_secs(f.http_timeout_seconds),
            jwks_ttl: Duration::from_secs(f.jwks_cache_seconds),
            min_refetch_interval: Duration::from_secs(f.jwks_min_refetch_seconds),
            outbound: OutboundLimits {
                max_in_flight: f.max_requests_in_flight_per_provider,
                failures: f.provider_failures_before_pause,
                pause: Duration::from_secs(f.provider_pause_seconds),
            },
            ..UpstreamOptions::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("[[oidc_providers]] / [[upstream]]: {e}"))?
    .with_saml_providers(saml_providers(settings)?)
    .map_err(|e| anyhow::anyhow!("[[saml_providers]]: {e}"))
}

/// `[[saml_providers]]`, metadata files read.
fn saml_providers(settings: &Settings) -> anyhow::Result<Vec<SamlProviderConfig>> {
    settings
        .saml_providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let metadata = match (&p.metadata_file, &p.metadata_url) {
                (Some(file), _) => {
                    SamlMetadata::Xml(std::fs::read_to_string(file).with_context(|| {
                        format!("saml_providers[{i}].metadata_file {}", file.display())
                    })?)
                }
                (None, Some(url)) => SamlMetadata::Url(url.to_string()),
                (None, None) => anyhow::bail!("saml_providers[{i}]: no metadata"),
            };
            Ok(SamlProviderConfig {
                account: p.account.to_string(),
                name: p.name.clone(),
                metadata,
                audience: p.audience.clone(),
                recipient: p.recipient.clone(),
                allow_sha1: p.allow_sha1,
            })
        })
        .collect()
}

/// The STS client of `[sts]`.
fn sts(settings: &Settings) -> anyhow::Result<Arc<dyn CredentialsIssuer>> {
    Ok(match &settings.sts.endpoint {
        Some(endpoint) => Arc::new(
            HttpSts::new(
                endpoint,
                Duration::from_secs(settings.sts.timeout_seconds.max(1)),
                OutboundLimits {
                    max_in_flight: settings.sts.max_requests_in_flight,
                    failures: settings.sts.failures_before_pause,
                    pause: Duration::from_secs(settings.sts.pause_seconds),
                },
            )
            .map_err(|e| anyhow::anyhow!("sts.endpoint: {e}"))?,
        ),
        None => Arc::new(NoSts),
    })
}

/// The subject hasher: `federation.subject_hash_key`, or a key generated
/// once and kept in the database.
async fn subject_hasher(settings: &Settings, store: &PgStore) -> anyhow::Result<HmacSubjectHasher> {
    use base64::Engine as _;
    let key = match &settings.federation.subject_hash_key {
        Some(key) => base64::engine::general_purpose::STANDARD
            .decode(key.expose_secret().trim())
            // Not the decoder's message: it quotes a byte of the key.
            .map_err(|_| anyhow::anyhow!("federation.subject_hash_key: not valid base64"))?,
        None => store
            .get_or_create_secret("subject_hash_key", &HmacSubjectHasher::random_key())
            .await
            .map_err(|e| anyhow::anyhow!("reading the subject hash key from the database: {e}"))?,
    };
    HmacSubjectHasher::new(&key).map_err(|e| anyhow::anyhow!("federation.subject_hash_key: {e}"))
}

/// The key manager configured by `[tokens]`: loads (or makes) the signing
/// keys in the database.
pub async fn start_keys(
    settings: &Settings,
    store: Arc<dyn cognate_domain::token::KeyStore>,
) -> anyhow::Result<KeyManager> {
    let kek = settings
        .tokens
        .key_encryption_key
        .as_ref()
        .map(|k| Kek::from_base64(k.expose_secret()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("tokens.key_encryption_key: {e}"))?;
    let mut config = KeyManagerConfig::new(settings.issuer());
    config.algorithm = match settings.tokens.algorithm {
        crate::config::TokenAlgorithm::RS256 => SigningAlgorithm::Rs256,
        crate::config::TokenAlgorithm::RS512 => SigningAlgorithm::Rs512,
    };
    config.rotation_period = Duration::from_secs(settings.tokens.rotation_days * 86_400);
    config.publish_ahead = Duration::from_secs(settings.tokens.publish_ahead_seconds);
    KeyManager::start(store, kek, config)
        .await
        .context("loading the token signing keys")
}

#[cfg(test)]
mod tests {
    use super::issuer_path;

    #[test]
    fn the_issuer_path_is_what_follows_the_origin() {
        assert_eq!(issuer_path("http://127.0.0.1:8080"), "");
        assert_eq!(issuer_path("https://id.example.com/"), "");
        assert_eq!(issuer_path("https://id.example.com/cognate/"), "/cognate");
    }
}
