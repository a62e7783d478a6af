//! Starting and stopping the cluster, and connecting to it.

use super::*;

/// What to start: see [`EmbeddedPostgres::start`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The cluster lives here; created (initdb) on first run, reused afterwards.
    pub data_dir: PathBuf,
    /// `None` (the default): the Unix socket only. `Some(port)`: also listen
    /// on 127.0.0.1:<port> (password required there too).
    pub tcp_port: Option<u16>,
    /// Created if missing, e.g. "cognate".
    pub database: String,
}

impl EmbeddedOptions {
    /// Options for a socket-only server.
    pub fn new(data_dir: impl Into<PathBuf>, database: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            tcp_port: None,
            database: database.into(),
        }
    }
}

/// How to reach a private cluster: socket directory, port, password. It
/// stays valid across restarts of the same data directory (same options),
/// so callers may keep it while the server is stopped.
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    pub(super) socket_dir: PathBuf,
    pub(super) port: u16,
    pub(super) tcp_port: Option<u16>,
    pub(super) password: Password,
}

impl ConnectInfo {
    /// `postgres://postgres:<password>@<socket dir, percent-encoded>:<port>/<database>`:
    /// a URL for the Unix socket that sqlx and tokio-postgres both read.
    /// It holds the password: do not log it.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{PG_SUPERUSER}:{}@{}:{}/{}",
            percent_encode(&self.password.0),
            percent_encode(&self.socket_dir.to_string_lossy()),
            self.port,
            percent_encode(database)
        )
    }

    /// `postgres://postgres:<password>@127.0.0.1:<port>/<database>`, when
    /// the server listens on TCP. It holds the password: do not log it.
    pub fn tcp_url_for(&self, database: &str) -> Option<String> {
        self.tcp_port.map(|port| {
            format!(
                "postgres://{PG_SUPERUSER}:{}@127.0.0.1:{port}/{}",
                percent_encode(&self.password.0),
                percent_encode(database)
            )
        })
    }

    /// The directory holding the Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The port number of the socket (and of the TCP listener, if any).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP port, when the server also listens on 127.0.0.1.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    fn tokio_postgres_config(&self, database: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(self.port)
            .user(PG_SUPERUSER)
            .password(self.password.0.as_bytes())
            .dbname(database)
            .connect_timeout(Duration::from_secs(5));
        config
    }
}

/// A running private PostgreSQL server.
///
/// Dropping it without [`stop`](Self::stop) leaves the server running until
/// this process exits; the watchdog then stops it (fast shutdown, immediate
/// as a fallback) within a second or two.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    pub(super) data_dir: PathBuf,
    pub(super) log_file: PathBuf,
    pub(super) password_file: PathBuf,
    pub(super) connect: ConnectInfo,
    pub(super) database: String,
    pub(super) postmaster_pid: u32,
    pub(super) runner: Runner,
    pub(super) watchdog: Option<std::process::Child>,
}

impl EmbeddedPostgres {
    /// `initdb` if the data directory is missing or empty (UTF8, C locale,
    /// fsync on), close the cluster to everyone but us (see the module
    /// docs), then start the server and wait (bounded) until it accepts
    /// connections; create `database` if it is missing.
    pub async fn start(opts: EmbeddedOptions) -> Result<EmbeddedPostgres> {
        Self::start_with_settings(opts, &[]).await
    }

    /// [`start`](Self::start) with extra server settings (`name`, `value`),
    /// written after cognate's own ones so they win (except the listening
    /// settings, which are given on the command line); e.g. the test
    /// harness turns `fsync` off. Settings apply to this start only. With
    /// `("ssl", "on")` among them (and a TCP port), TCP connections must use
    /// TLS (`hostssl` in pg_hba.conf).
    pub async fn start_with_settings(
        opts: EmbeddedOptions,
        settings: &[(&str, &str)],
    ) -> Result<EmbeddedPostgres> {
        let euid = current_euid()?;
        let pg_user = if euid == 0 {
            Some(lookup_user(PG_OS_USER).with_context(|| {
                format!(
                    "running as root, so the embedded PostgreSQL must run as the `{PG_OS_USER}` \
                     system user, which was not found (installing the postgresql packages \
                     creates it)"
                )
            })?)
        } else {
            None
        };
        if pg_user.is_some() && find_in_path("runuser").is_none() {
            bail!(
                "running as root, so the embedded PostgreSQL must be run as `{PG_OS_USER}` via \
                 `runuser`, which is not on PATH"
            );
        }

        let data_dir = prepare_data_dir(&opts.data_dir, pg_user.as_ref())?;
        let existing_version = read_pg_version(&data_dir)?;
        let bin_dir = choose_bin_dir(existing_version.as_deref()).await?;
        let runner = Runner { bin_dir, pg_user };

        if existing_version.is_none() {
            initdb(&runner, &data_dir).await?;
        }
        check_postmaster_lock(&data_dir).await?;

        let log_dir = data_dir.join("log");
        let log_file = log_dir.join("postgres.log");
        ensure_dir_owned(&log_dir, 0o700, runner.pg_user.as_ref())?;
        rotate_log(&log_file);
        ensure_include_line(&data_dir, runner.pg_user.as_ref())?;
        // The data directory must stay private: it may hold the socket.
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("could not make {} private", data_dir.display()))?;
        let socket_dir = socket_dir_for(&data_dir, runner.pg_user.as_ref())?;
        let password_file = password_file_for(&data_dir)?;
        let password = load_or_create_password(&password_file, euid)?;
        let port = opts.tcp_port.unwrap_or(SOCKET_ONLY_PORT);
        let connect = ConnectInfo {
            socket_dir,
            port,
            tcp_port: opts.tcp_port,
            password,
        };
        let tls_only = settings
            .iter()
            .any(|(name, value)| *name == "ssl" && matches!(*value, "on" | "true" | "1"));

        // Nothing listens yet: close the door, then set the password.
        write_hba(
            &data_dir,
            opts.tcp_port.is_some(),
            tls_only,
            runner.pg_user.as_ref(),
        )?;
        write_managed_conf(&data_dir, &connect, settings, runner.pg_user.as_ref())?;
        set_superuser_password(&runner, &data_dir, &connect.password).await?;

        tracing::info!(
            data_dir = %data_dir.display(),
            socket_dir = %connect.socket_dir.display(),
            tcp_port = ?opts.tcp_port,
            "starting embedded PostgreSQL"
        );
        let postmaster_pid = pg_ctl_start(&runner, &data_dir, &log_file, &connect)
            .await
            .map_err(|message| anyhow!("{message}"))?;

        let mut pg = EmbeddedPostgres {
            data_dir,
            log_file,
            password_file,
            connect,
            database: opts.database.clone(),
            postmaster_pid,
            runner,
            watchdog: None,
        };
        match pg.spawn_watchdog() {
            Ok(child) => pg.watchdog = Some(child),
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                "could not start the embedded PostgreSQL watchdog; the server will outlive \
                 this process if it is not stopped"
            ),
        }

        if let Err(e) = pg.finish_start().await {
            let tail = pg.log_tail();
            if let Err(stop_err) = pg.stop_inner("immediate").await {
                tracing::warn!(error = %format!("{stop_err:#}"), "could not stop PostgreSQL");
            }
            return Err(e.context(format!("embedded PostgreSQL failed to start{tail}")));
        }
        tracing::info!(
            data_dir = %pg.data_dir.display(),
            socket_dir = %pg.connect.socket_dir.display(),
            tcp_port = ?pg.connect.tcp_port,
            pid = pg.postmaster_pid,
            database = %pg.database,
            "embedded PostgreSQL is ready"
        );
        Ok(pg)
    }

    /// The URL of the database: see [`ConnectInfo::url_for`]. It holds the
    /// password: do not log it.
    pub fn url(&self) -> String {
        self.url_for(&self.database)
    }

    /// The URL of another database on this server (Unix socket).
    pub fn url_for(&self, database: &str) -> String {
        self.connect.url_for(database)
    }

    /// How to connect; stays valid across restarts with the same options.
    pub fn connect_info(&self) -> &ConnectInfo {
        &self.connect
    }

    /// The TCP port, when the server also listens on 127.0.0.1.
    pub fn tcp_port(&self) -> Option<u16> {
        self.connect.tcp_port
    }

    /// The (absolute, canonical) data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The directory holding the Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.connect.socket_dir
    }

    /// The file holding the superuser password (mode 0600).
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// The process id of the postmaster.
    pub fn pid(&self) -> u32 {
        self.postmaster_pid
    }

    /// Fast shutdown (`pg_ctl stop -m fast`), and wait for it; immediate
    /// shutdown if that does not finish in time. A server that is already
    /// gone (killed) is not an error.
    pub async fn stop(mut self) -> Result<()> {
        tracing::info!(data_dir = %self.data_dir.display(), "stopping embedded PostgreSQL");
        let result = self.stop_inner("fast").await;
        if result.is_ok() {
            tracing::info!(data_dir = %self.data_dir.display(), "embedded PostgreSQL stopped");
        }
        result
    }

    async fn finish_start(&self) -> Result<()> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let client = loop {
            match connect(&self.connect, "postgres").await {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "PostgreSQL not accepting connections yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(e).context(format!(
                        "PostgreSQL did not accept connections on its socket in {} within {:?}",
                        self.connect.socket_dir.display(),
                        CONNECT_TIMEOUT
                    ))
                }
            }
        };
        create_database_if_missing(&client, &self.database).await
    }

    async fn stop_inner(&mut self, mode: &str) -> Result<()> {
        let result = self.pg_ctl_stop(mode).await;
        // Once the server is gone the watchdog has nothing left to guard
        // (and must not stop a later server on the same data directory).
        // If it is still there, the watchdog stays to stop it at our exit.
        if result.is_ok() || !self.postmaster_alive() {
            if let Some(mut child) = self.watchdog.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        result
    }

    async fn pg_ctl_stop(&self, mode: &str) -> Result<()> {
        let stop = |mode: &str| {
            let mut cmd = self.runner.command("pg_ctl");
            cmd.arg("stop")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", mode, "-w", "-t"])
                .arg(STOP_TIMEOUT.as_secs().to_string());
            cmd
        };
        let first = run(
            stop(mode),
            STOP_TIMEOUT + Duration::from_secs(10),
            "pg_ctl stop",
        )
        .await;
        let first_err = match first {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => anyhow!("pg_ctl stop -m {mode} failed: {}", output_text(&out)),
            Err(e) => e,
        };
        if !self.postmaster_alive() {
            tracing::warn!(error = %format!("{first_err:#}"), "PostgreSQL was already gone");
            return Ok(());
        }
        if mode != "immediate" {
            tracing::warn!(error = %format!("{first_err:#}"), "fast shutdown failed; trying immediate");
            let second = run(stop("immediate"), STOP_TIMEOUT, "pg_ctl stop").await;
            if matches!(&second, Ok(out) if out.status.success()) || !self.postmaster_alive() {
                return Ok(());
            }
        }
        Err(first_err.context(format!(
            "could not stop the embedded PostgreSQL in {}",
            self.data_dir.display()
        )))
    }

    fn postmaster_alive(&self) -> bool {
        pid_owns_data_dir(self.postmaster_pid, &self.data_dir)
    }

    fn log_tail(&self) -> String {
        format_log_tail(&self.log_file, None)
    }

    /// A shell process (our child; it sees us gone when it is re-parented)
    /// that stops the server when this process is gone and
    /// exits by itself when the server is gone. It has its own process
    /// group, so a Ctrl-C meant for us does not kill it first.
    fn spawn_watchdog(&self) -> Result<std::process::Child> {
        const SCRIPT: &str = r#"
trap '' HUP INT
parent=$1; pm=$2; data=$3; shift 3
# Our parent is gone once we have been re-parented (immune to pid reuse).
parent_alive() {
  if [ -r /proc/$$/stat ]; then set -- $(cat /proc/$$/stat); [ "$4" = "$parent" ]
  else kill -0 "$parent" 2>/dev/null; fi
}
while kill -0 "$pm" 2>/dev/null; do
  if ! parent_alive; then
    "$@" stop -D "$data" -m fast -w -t 20 >/dev/null 2>&1 ||
      "$@" stop -D "$data" -m immediate -w -t 10 >/dev/null 2>&1 ||
      kill -9 "$pm" 2>/dev/null
    exit 0
  fi
  sleep 1
done
"#;
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(SCRIPT)
            .arg("cognate-pg-watchdog")
            .arg(std::process::id().to_string())
            .arg(self.postmaster_pid.to_string())
            .arg(&self.data_dir)
            .args(self.runner.program_prefix("pg_ctl"))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd.spawn().context("spawning sh for the watchdog")
    }
}

// ---------------------------------------------------------------------------
// Connections

pub(super) async fn connect(info: &ConnectInfo, database: &str) -> Result<tokio_postgres::Client> {
    let config = info.tokio_postgres_config(database);
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        config.connect(tokio_postgres::NoTls),
    )
    .await
    .context("connecting timed out")??;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "embedded PostgreSQL admin connection ended");
        }
    });
    Ok(client)
}

pub(super) async fn create_database_if_missing(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<()> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let sql = format!("CREATE DATABASE {}", quote_ident(name));
    match client.batch_execute(&sql).await {
        Ok(()) => {
            tracing::info!(database = name, "created database");
            Ok(())
        }
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("could not create database {name}")),
    }
}

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The URL of `database` on a private cluster that already runs on
/// `data_dir` (started by another `cognate`, e.g. `serve`), for the
/// administrative commands (`keys`, `audit export`, `migrate`) to use it
/// instead of starting a second server there. `None` when none runs (or
/// its password file is not ours to read). The URL holds the password: do
/// not log it.
pub fn running_url(data_dir: &Path, database: &str) -> Option<String> {
    let data_dir = fs::canonicalize(data_dir).ok()?;
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid: u32 = lines.first()?.trim().parse().ok()?;
    if !pid_owns_data_dir(pid, &data_dir) {
        return None;
    }
    // postmaster.pid: pid, data dir, start time, port, socket directory, ...
    let port: u16 = lines.get(3)?.trim().parse().ok()?;
    let socket_dir = PathBuf::from(lines.get(4)?.trim());
    let password = fs::read_to_string(password_file_for(&data_dir).ok()?).ok()?;
    let password = Password(password.trim().to_owned());
    let connect = ConnectInfo {
        socket_dir,
        port,
        tcp_port: None,
        password,
    };
    Some(connect.url_for(database))
}
