//! A private PostgreSQL cluster, managed by cognate itself.
//!
//! `cognate serve` uses it when no `database.url` is configured, and the test
//! harness uses it for its per-process cluster. The cluster lives in a data
//! directory that is created with `initdb` on first use and reused afterwards.
//!
//! # Who can connect
//!
//! Nobody but this service. The server listens on a Unix socket only
//! (`listen_addresses = ''`), inside the data directory (mode 0700, owned
//! by the user PostgreSQL runs as), or, when that path is too long for a
//! socket, in a private directory `/tmp/cognate-pg-<hash>` (mode 0700, same
//! owner); the socket itself is mode 0700 too. On top of that, `pg_hba.conf`
//! has no `trust` line: every connection must pass SCRAM-SHA-256 with a
//! random password kept in `<data dir>.password` beside the data directory
//! (mode 0600, owned by this process's user; never logged). With
//! [`EmbeddedOptions::tcp_port`] set, the server also listens on
//! 127.0.0.1:<port>, with the same password required.
//!
//! At every start the access settings are rewritten and the password is set
//! (in single-user mode, before the server accepts any connection), so a
//! cluster created by an older version (`trust` on 127.0.0.1) is closed up
//! in place; its data is kept.
//!
//! PostgreSQL refuses to run as root. When this process is root, every
//! PostgreSQL program is run as the `postgres` system user through
//! `runuser -u postgres --`, and the data directory is owned by that user.
//!
//! The server is started with `pg_ctl start` (so it is a separate, detached
//! process that holds no handle of ours) plus a small watchdog shell process
//! that stops it when this process disappears without calling
//! [`EmbeddedPostgres::stop`] (crash, `kill -9`, a test binary that exits).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The system user PostgreSQL runs as when this process is root.
const PG_OS_USER: &str = "postgres";
/// The database superuser created by `initdb`; the URLs connect as it.
const PG_SUPERUSER: &str = "postgres";
/// The port number in the socket's name (`.s.PGSQL.<port>`) when there is
/// no TCP listener; the socket directory is private, so it cannot clash.
const SOCKET_ONLY_PORT: u16 = 5432;
/// How long `pg_ctl start` may take (covers crash recovery after a kill).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to accept connections after `pg_ctl` said it is up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const INITDB_TIMEOUT: Duration = Duration::from_secs(180);
/// How long setting the password in single-user mode may take (covers
/// crash recovery after a kill).
const SINGLE_USER_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for another instance on the same data directory to go
/// away (e.g. a watchdog still stopping the server of a crashed run).
const LIVE_OWNER_GRACE: Duration = Duration::from_secs(8);
/// How long to wait for orphaned backends of a killed server to exit.
const ORPHAN_GRACE: Duration = Duration::from_secs(15);
const LOG_TAIL_LINES: usize = 20;
/// The server log is moved aside when it grows past this at start-up.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// Longest Unix socket path (sun_path is 108 bytes including the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Included from postgresql.conf and rewritten at every start.
const MANAGED_CONF: &str = "cognate.conf";
const INCLUDE_LINE: &str = "include_if_exists = 'cognate.conf'";
/// Where [`default_data_dir`] falls back to for root when the working directory is unreachable.
const FALLBACK_BASE: &str = "/var/lib/cognate";
/// Random bytes in a generated password (hex-encoded in the file).
const PASSWORD_BYTES: usize = 24;

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

/// The superuser password of a private cluster; never printed.
#[derive(Clone, PartialEq, Eq)]
struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// How to reach a private cluster: socket directory, port, password. It
/// stays valid across restarts of the same data directory (same options),
/// so callers may keep it while the server is stopped.
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    socket_dir: PathBuf,
    port: u16,
    tcp_port: Option<u16>,
    password: Password,
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
    data_dir: PathBuf,
    log_file: PathBuf,
    password_file: PathBuf,
    connect: ConnectInfo,
    database: String,
    postmaster_pid: u32,
    runner: Runner,
    watchdog: Option<std::process::Child>,
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
// Running PostgreSQL programs

/// The `postgres` system user, as far as permission checks go.
#[derive(Debug, Clone)]
struct PgUser {
    name: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Runner {
    bin_dir: PathBuf,
    /// Set when we are root: programs run as this user via runuser.
    pg_user: Option<PgUser>,
}

impl Runner {
    /// argv prefix that runs `program` (as the postgres user when root).
    fn program_prefix(&self, program: &str) -> Vec<OsString> {
        let exe = self.bin_dir.join(program).into_os_string();
        match &self.pg_user {
            Some(user) => vec![
                "runuser".into(),
                "-u".into(),
                user.name.clone().into(),
                "--".into(),
                exe,
            ],
            None => vec![exe],
        }
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let prefix = self.program_prefix(program);
        let mut cmd = tokio::process::Command::new(&prefix[0]);
        cmd.args(&prefix[1..])
            // The postgres user may not be able to enter our working
            // directory, and PostgreSQL programs look it up.
            .current_dir("/")
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        cmd
    }
}

/// Run to completion with captured output, killing it after `timeout`.
async fn run(
    mut cmd: tokio::process::Command,
    timeout: Duration,
    what: &str,
) -> Result<std::process::Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("could not run {what}"))?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.with_context(|| format!("waiting for {what}")),
        Err(_) => bail!("{what} did not finish within {timeout:?} (killed)"),
    }
}

fn output_text(out: &std::process::Output) -> String {
    let mut text = String::new();
    let _ = write!(text, "{}", out.status);
    for stream in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(stream);
        let s = s.trim();
        if !s.is_empty() {
            text.push('\n');
            text.push_str(s);
        }
    }
    text
}

async fn initdb(runner: &Runner, data_dir: &Path) -> Result<()> {
    tracing::info!(data_dir = %data_dir.display(), "initializing a new PostgreSQL cluster (initdb)");
    let mut cmd = runner.command("initdb");
    cmd.arg("-D").arg(data_dir).args([
        "-U",
        PG_SUPERUSER,
        // Nobody gets in until start-up writes cognate's pg_hba.conf and
        // sets the password (initdb's own --auth=scram-sha-256 would need
        // the password in a file the postgres user can read).
        "--auth=reject",
        "--encoding=UTF8",
        "--locale=C",
    ]);
    let result = run(cmd, INITDB_TIMEOUT, "initdb").await;
    let failure = match result {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(anyhow!("initdb failed: {}", output_text(&out))),
        Err(e) => Some(e),
    };
    if let Some(err) = failure {
        // initdb cleans up after its own failures, but not when it was
        // killed; the directory was empty before, so empty it again.
        clear_dir(data_dir);
        return Err(err.context(format!(
            "could not initialize a PostgreSQL cluster in {}",
            data_dir.display()
        )));
    }
    Ok(())
}

/// `pg_hba.conf`: SCRAM-SHA-256 on the Unix socket, and on 127.0.0.1 when
/// there is a TCP listener (`hostssl` when TLS is required); no `trust`.
fn hba_text(tcp: bool, tls_only: bool) -> String {
    let mut text = String::from(
        "# Written by cognate at every start; edits are lost.\n\
         # Password (SCRAM-SHA-256) required everywhere; no trust.\n\
         # TYPE   DATABASE  USER  ADDRESS       METHOD\n\
         local    all       all                 scram-sha-256\n",
    );
    if tcp {
        let kind = if tls_only { "hostssl" } else { "host   " };
        let _ = writeln!(text, "{kind}  all       all   127.0.0.1/32  scram-sha-256");
    }
    text
}

fn write_hba(data_dir: &Path, tcp: bool, tls_only: bool, pg_user: Option<&PgUser>) -> Result<()> {
    write_owned(
        &data_dir.join("pg_hba.conf"),
        &hba_text(tcp, tls_only),
        0o600,
        pg_user,
    )
}

/// Set the superuser's password to `password`, in single-user mode (the
/// server must not be running): nothing listens meanwhile, and only the
/// SCRAM verifier, computed here, reaches PostgreSQL.
async fn set_superuser_password(
    runner: &Runner,
    data_dir: &Path,
    password: &Password,
) -> Result<()> {
    let verifier = postgres_protocol::password::scram_sha_256(password.0.as_bytes());
    let statement = format!(
        "ALTER ROLE {} PASSWORD '{verifier}';\n",
        quote_ident(PG_SUPERUSER)
    );
    let mut cmd = runner.command("postgres");
    cmd.arg("--single")
        .arg("-D")
        .arg(data_dir)
        .args(["-c", "exit_on_error=on", "-c", "log_statement=none"])
        .arg(PG_SUPERUSER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .context("could not run postgres --single to set the password")?;
    let mut stdin = child
        .stdin
        .take()
        .context("no stdin for postgres --single")?;
    let finished = tokio::time::timeout(SINGLE_USER_TIMEOUT, async move {
        use tokio::io::AsyncWriteExt as _;
        // A write error (it exited early) shows in its status and output.
        let _ = stdin.write_all(statement.as_bytes()).await;
        drop(stdin);
        child.wait_with_output().await
    })
    .await;
    let out = match finished {
        Ok(out) => out.context("waiting for postgres --single")?,
        Err(_) => bail!(
            "setting the password of the embedded PostgreSQL (postgres --single) did not finish \
             within {SINGLE_USER_TIMEOUT:?}"
        ),
    };
    let text = output_text(&out).replace(&verifier, "<verifier>");
    if !out.status.success() || text.contains("ERROR:") || text.contains("FATAL:") {
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        bail!(
            "could not set the password of the embedded PostgreSQL in {} (postgres --single)\n\
             --- last {} lines of its output ---\n{}",
            data_dir.display(),
            tail.len(),
            tail.join("\n")
        );
    }
    Ok(())
}

/// `pg_ctl start -w`; returns the postmaster's pid. The listening settings
/// go on the command line, where nothing in the data directory (such as
/// `postgresql.auto.conf`) can override them.
async fn pg_ctl_start(
    runner: &Runner,
    data_dir: &Path,
    log_file: &Path,
    connect: &ConnectInfo,
) -> std::result::Result<u32, String> {
    let log_offset = fs::metadata(log_file).map(|m| m.len()).unwrap_or(0);
    let mut cmd = runner.command("pg_ctl");
    cmd.arg("start")
        .arg("-D")
        .arg(data_dir)
        .arg("-l")
        .arg(log_file)
        .arg("-o")
        .arg(server_options(data_dir, connect))
        .args(["-w", "-t"])
        .arg(START_TIMEOUT.as_secs().to_string());
    let result = run(cmd, START_TIMEOUT + Duration::from_secs(10), "pg_ctl start").await;
    let failure = match result {
        Ok(out) if out.status.success() => match read_postmaster_pid(data_dir) {
            Some((pid, _)) => return Ok(pid),
            None => "pg_ctl reported success but postmaster.pid is missing".to_string(),
        },
        Ok(out) => format!("pg_ctl start failed: {}", output_text(&out)),
        Err(e) => format!("{e:#}"),
    };
    // pg_ctl may have been killed by our timeout while the server kept
    // starting: do not leave it behind.
    if let Some((pid, _)) = read_postmaster_pid(data_dir) {
        if pid_owns_data_dir(pid, data_dir) {
            let mut cmd = runner.command("pg_ctl");
            cmd.arg("stop")
                .arg("-D")
                .arg(data_dir)
                .args(["-m", "immediate", "-w"]);
            let _ = run(cmd, STOP_TIMEOUT, "pg_ctl stop").await;
        }
    }
    Err(format!(
        "could not start the embedded PostgreSQL in {}: {failure}{}",
        data_dir.display(),
        format_log_tail(log_file, Some(log_offset))
    ))
}

/// `-c name=value ...` for the postmaster, quoted for the shell pg_ctl
/// runs it through: where it listens, and which pg_hba.conf it obeys.
fn server_options(data_dir: &Path, connect: &ConnectInfo) -> String {
    let listen = if connect.tcp_port.is_some() {
        "127.0.0.1"
    } else {
        ""
    };
    let socket_dir = connect.socket_dir.to_string_lossy();
    [
        ("listen_addresses", listen.to_string()),
        ("port", connect.port.to_string()),
        (
            "unix_socket_directories",
            format!("\"{}\"", socket_dir.replace('"', "\"\"")),
        ),
        ("unix_socket_permissions", "0700".to_string()),
        ("unix_socket_group", String::new()),
        ("password_encryption", "scram-sha-256".to_string()),
        (
            "hba_file",
            data_dir.join("pg_hba.conf").to_string_lossy().into_owned(),
        ),
    ]
    .iter()
    .map(|(name, value)| format!("-c {}", shell_quote(&format!("{name}={value}"))))
    .collect::<Vec<_>>()
    .join(" ")
}

/// `'s'` with embedded single quotes escaped, for /bin/sh.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Candidate bin directories: where `pg_ctl` on PATH really lives, then
/// /usr/lib/postgresql/<version>/bin, newest first. With an existing
/// cluster, the first one of the cluster's major version.
async fn choose_bin_dir(cluster_version: Option<&str>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(pg_ctl) = find_in_path("pg_ctl") {
        let real = fs::canonicalize(&pg_ctl).unwrap_or(pg_ctl);
        if let Some(dir) = real.parent() {
            candidates.push(dir.to_path_buf());
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    candidates.extend(versioned.into_iter().map(|(_, p)| p));
    let mut seen = Vec::new();
    candidates.retain(|dir| {
        let complete = ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| dir.join(p).is_file());
        let fresh = !seen.contains(dir);
        seen.push(dir.clone());
        complete && fresh
    });
    if candidates.is_empty() {
        bail!(
            "PostgreSQL server programs (initdb, pg_ctl, postgres) were found neither on PATH \
             nor in /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql) \
             or configure an external server with `database.url`"
        );
    }
    let Some(wanted) = cluster_version else {
        return Ok(candidates.swap_remove(0));
    };
    let mut found = Vec::new();
    for dir in candidates {
        let version = binary_major_version(&dir).await.unwrap_or_default();
        if version == wanted {
            return Ok(dir);
        }
        found.push(format!("{} ({})", dir.display(), version));
    }
    bail!(
        "the existing cluster was created by PostgreSQL {wanted}, but only these PostgreSQL \
         installations were found: {}",
        found.join(", ")
    )
}

/// "15" from `pg_ctl (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)`.
async fn binary_major_version(bin_dir: &Path) -> Result<String> {
    let mut cmd = tokio::process::Command::new(bin_dir.join("pg_ctl"));
    cmd.arg("--version");
    let out = run(cmd, Duration::from_secs(10), "pg_ctl --version").await?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_major_version(&text).ok_or_else(|| anyhow!("unexpected `pg_ctl --version`: {text}"))
}

fn parse_major_version(text: &str) -> Option<String> {
    let after = text.split(')').nth(1)?.trim_start();
    let number: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let major = number.split('.').next()?;
    (!major.is_empty()).then(|| major.to_string())
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------
// The data directory

/// Make `requested` absolute, check that the postgres user can reach it
/// (when root), create it, and give it to the postgres user. Returns the
/// canonical path.
fn prepare_data_dir(requested: &Path, pg_user: Option<&PgUser>) -> Result<PathBuf> {
    let absolute = absolute_path(requested)?;
    if let Some(user) = pg_user {
        if let Some(blocked) = first_untraversable(&absolute, user) {
            bail!("{}", unreachable_message(&absolute, &blocked, user));
        }
    }
    create_parents(&absolute)?;
    if !absolute.exists() {
        fs::create_dir(&absolute)
            .with_context(|| format!("could not create {}", absolute.display()))?;
        fs::set_permissions(&absolute, fs::Permissions::from_mode(0o700))?;
    }
    let data_dir = fs::canonicalize(&absolute)
        .with_context(|| format!("could not resolve {}", absolute.display()))?;
    if !data_dir.is_dir() {
        bail!("{} is not a directory", data_dir.display());
    }
    if let Some(user) = pg_user {
        let meta = fs::metadata(&data_dir)?;
        if meta.uid() != user.uid {
            chown_recursive(&data_dir, user.uid, user.gid).with_context(|| {
                format!(
                    "could not give {} to the {} user",
                    data_dir.display(),
                    user.name
                )
            })?;
        }
    }
    Ok(data_dir)
}

/// `Some("15")` for a cluster, `None` for a missing/empty directory, an
/// error for a non-empty directory that is not a cluster.
fn read_pg_version(data_dir: &Path) -> Result<Option<String>> {
    match fs::read_to_string(data_dir.join("PG_VERSION")) {
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(_) => {
            let mut entries = fs::read_dir(data_dir)
                .with_context(|| format!("could not read {}", data_dir.display()))?;
            if entries.next().is_none() {
                Ok(None)
            } else {
                bail!(
                    "{} is neither empty nor a PostgreSQL data directory (no PG_VERSION); \
                     if it is a leftover of an interrupted first start, remove it, or point \
                     `database.data_dir` (COGNATE__DATABASE__DATA_DIR) elsewhere",
                    data_dir.display()
                )
            }
        }
    }
}

/// Deal with `postmaster.pid`: a live server on this data directory is an
/// error (after a short grace period, in case it is being stopped), a stale
/// file from a crash is removed, and orphaned backends of a killed server
/// are waited for (they would keep the old shared memory in use).
async fn check_postmaster_lock(data_dir: &Path) -> Result<()> {
    if let Some((pid, port)) = read_postmaster_pid(data_dir) {
        if pid_owns_data_dir(pid, data_dir) {
            tracing::info!(
                pid,
                "another PostgreSQL runs on this data directory; waiting for it to stop"
            );
            let deadline = Instant::now() + LIVE_OWNER_GRACE;
            while pid_owns_data_dir(pid, data_dir) {
                if Instant::now() >= deadline {
                    bail!(
                        "the PostgreSQL data directory {} is in use by another running server \
                         (pid {pid}{}), probably another cognate instance; stop it, or give this \
                         one its own `database.data_dir` (COGNATE__DATABASE__DATA_DIR)",
                        data_dir.display(),
                        port.map(|p| format!(", port {p}")).unwrap_or_default()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } else {
            tracing::warn!(
                pid,
                "removing stale postmaster.pid left by a crashed PostgreSQL"
            );
            let _ = fs::remove_file(data_dir.join("postmaster.pid"));
        }
    }
    let deadline = Instant::now() + ORPHAN_GRACE;
    loop {
        let orphans = processes_in(data_dir);
        if orphans.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "processes {orphans:?} still run in the PostgreSQL data directory {} although \
                 its server is gone; end them before starting again",
                data_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (pid, port) from `postmaster.pid`.
fn read_postmaster_pid(data_dir: &Path) -> Option<(u32, Option<u16>)> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
    Some((pid, port))
}

/// Whether `pid` is a live process serving `data_dir` (PostgreSQL
/// processes run with the data directory as working directory).
fn pid_owns_data_dir(pid: u32, data_dir: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    match fs::read_link(proc_dir.join("cwd")) {
        Ok(cwd) => cwd == data_dir,
        // Not ours to inspect: trust the name.
        Err(_) => fs::read_to_string(proc_dir.join("comm"))
            .map(|c| matches!(c.trim(), "postgres" | "postmaster"))
            .unwrap_or(false),
    }
}

/// Processes whose working directory is `dir`.
fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/cwd"))
                .map(|cwd| cwd == dir)
                .unwrap_or(false)
        })
        .collect()
}

fn ensure_include_line(data_dir: &Path, pg_user: Option<&PgUser>) -> Result<()> {
    let conf = data_dir.join("postgresql.conf");
    let text =
        fs::read_to_string(&conf).with_context(|| format!("could not read {}", conf.display()))?;
    if text.lines().any(|l| l.trim() == INCLUDE_LINE) {
        return Ok(());
    }
    let mut text = text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("\n# Settings managed by cognate (rewritten at every start).\n");
    text.push_str(INCLUDE_LINE);
    text.push('\n');
    write_owned(&conf, &text, 0o600, pg_user)
}

fn write_managed_conf(
    data_dir: &Path,
    connect: &ConnectInfo,
    settings: &[(&str, &str)],
    pg_user: Option<&PgUser>,
) -> Result<()> {
    let mut text = String::from(
        "# Written by cognate at every start; edits are lost.\n\
         # The listening settings are also given on the command line, which wins.\n",
    );
    let mut put = |name: &str, value: &str| {
        let _ = writeln!(text, "{name} = '{}'", value.replace('\'', "''"));
    };
    put("port", &connect.port.to_string());
    put(
        "listen_addresses",
        if connect.tcp_port.is_some() {
            "127.0.0.1"
        } else {
            ""
        },
    );
    put(
        "unix_socket_directories",
        &format!(
            "\"{}\"",
            connect.socket_dir.to_string_lossy().replace('"', "\"\"")
        ),
    );
    put("unix_socket_permissions", "0700");
    put("password_encryption", "scram-sha-256");
    put("fsync", "on");
    put("max_connections", "200");
    for (name, value) in settings {
        put(name, value);
    }
    write_owned(&data_dir.join(MANAGED_CONF), &text, 0o600, pg_user)
}

/// Where the socket goes: the data directory itself (mode 0700, owned by
/// the server's user) when the socket's path fits, else a private
/// directory `/tmp/cognate-pg-<hash of the data directory>`.
fn socket_dir_for(data_dir: &Path, pg_user: Option<&PgUser>) -> Result<PathBuf> {
    if data_dir.as_os_str().len() + "/.s.PGSQL.65535.lock".len() <= MAX_SOCKET_PATH {
        return Ok(data_dir.to_path_buf());
    }
    let hash = fnv1a64(data_dir.as_os_str().as_bytes()) & 0xffff_ffff_ffff;
    let dir = PathBuf::from(format!("/tmp/cognate-pg-{hash:012x}"));
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("could not create {}", dir.display())),
    }
    let meta = fs::symlink_metadata(&dir)?;
    let me = current_euid()?;
    let owner_ok = meta.uid() == me || pg_user.is_some_and(|u| u.uid == meta.uid());
    if !meta.is_dir() || !owner_ok {
        bail!(
            "the socket directory {} of the embedded PostgreSQL exists and is not ours (not a \
             directory, or owned by uid {}); remove it, or choose a shorter `database.data_dir`",
            dir.display(),
            meta.uid()
        );
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    if let Some(user) = pg_user {
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("could not chown {}", dir.display()))?;
    }
    Ok(dir)
}

/// `<parent>/<data dir name>.password`.
fn password_file_for(data_dir: &Path) -> Result<PathBuf> {
    let name = data_dir
        .file_name()
        .context("the data directory has no name")?;
    let parent = data_dir
        .parent()
        .context("the data directory has no parent")?;
    let mut file = name.to_os_string();
    file.push(".password");
    Ok(parent.join(file))
}

/// The password in `path`, or a new random one written there (mode 0600).
/// An existing file must be a regular file of ours that nobody else can
/// read; anything else is refused rather than trusted.
fn load_or_create_password(path: &Path, euid: u32) -> Result<Password> {
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            if !meta.file_type().is_file() || meta.uid() != euid || meta.mode() & 0o077 != 0 {
                bail!(
                    "refusing to use the password file {} of the embedded PostgreSQL: it must \
                     be a regular file owned by uid {euid} with mode 0600 (it is {}, owner uid \
                     {}, mode {:o}); remove it to have a new password made",
                    path.display(),
                    if meta.file_type().is_file() {
                        "a file"
                    } else {
                        "not a regular file"
                    },
                    meta.uid(),
                    meta.mode() & 0o7777
                );
            }
            let text = fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let password = text.trim();
            if password.len() >= 16 && password.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Ok(Password(password.to_string()));
            }
            tracing::warn!(path = %path.display(), "the password file is damaged; making a new password");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "making a new password for the embedded PostgreSQL");
        }
        Err(e) => return Err(e).with_context(|| format!("could not inspect {}", path.display())),
    }
    let password = Password(random_hex(PASSWORD_BYTES)?);
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("could not create {}", tmp.display()))?;
    file.write_all(format!("{}\n", password.0).as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))?;
    Ok(password)
}

/// `bytes` random bytes from the kernel, hex-encoded.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("could not read /dev/urandom")?;
    let mut out = String::with_capacity(bytes * 2);
    for b in buf {
        let _ = write!(out, "{b:02x}");
    }
    Ok(out)
}

fn rotate_log(log_file: &Path) {
    if fs::metadata(log_file)
        .map(|m| m.len() > LOG_ROTATE_BYTES)
        .unwrap_or(false)
    {
        let _ = fs::rename(log_file, log_file.with_extension("log.old"));
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Read at most the last 64 KiB.
    let start = offset.max(len.saturating_sub(64 * 1024));
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// "\n--- last lines of <log> ---\n..." (since `offset` if given), or "".
fn format_log_tail(log_file: &Path, offset: Option<u64>) -> String {
    let text = read_from(log_file, offset.unwrap_or(0));
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    format!(
        "\n--- last {} lines of {} ---\n{}",
        tail.len(),
        log_file.display(),
        tail.join("\n")
    )
}

// ---------------------------------------------------------------------------
// Files, users, permissions

fn write_owned(path: &Path, contents: &str, mode: u32, owner: Option<&PgUser>) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    if let Some(user) = owner {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("could not chown {}", path.display()))?;
    }
    Ok(())
}

fn ensure_dir_owned(dir: &Path, mode: u32, owner: Option<&PgUser>) -> Result<()> {
    if !dir.is_dir() {
        fs::create_dir(dir).with_context(|| format!("could not create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    }
    if let Some(user) = owner {
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("could not chown {}", dir.display()))?;
    }
    Ok(())
}

fn chown_recursive(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn clear_dir(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let _ = if path.is_dir() && !path.is_symlink() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// Create the missing parents of `path`, mode 0755 whatever the umask, so
/// that the postgres user can pass through the directories we made.
fn create_parents(path: &Path) -> Result<()> {
    let mut missing = Vec::new();
    for ancestor in path.ancestors().skip(1) {
        if ancestor.exists() {
            break;
        }
        missing.push(ancestor);
    }
    for dir in missing.into_iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("could not create {}", dir.display())),
        }
    }
    Ok(())
}

/// `path` made absolute against the working directory, `.`/`..` resolved lexically.
fn absolute_path(path: &Path) -> Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("could not determine the working directory")?
            .join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

/// A directory on the way to `path` that `user` cannot traverse, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Blocked {
    dir: PathBuf,
    mode: u32,
    owner: u32,
}

/// Checks the existing directories leading to `path` (not `path` itself,
/// which is given to the postgres user anyway), after resolving symlinks,
/// against the classic permission bits (ACLs are not considered).
/// Directories that do not exist yet are created 0755 by us, so they pass.
fn first_untraversable(path: &Path, user: &PgUser) -> Option<Blocked> {
    let parent = path.parent()?;
    let existing = parent.ancestors().find(|a| a.exists())?;
    let real = fs::canonicalize(existing).ok()?;
    let mut chain: Vec<&Path> = real.ancestors().collect();
    chain.reverse();
    for dir in chain {
        let Ok(meta) = fs::metadata(dir) else {
            continue;
        };
        if !may_traverse(meta.mode(), meta.uid(), meta.gid(), user) {
            return Some(Blocked {
                dir: dir.to_path_buf(),
                mode: meta.mode() & 0o7777,
                owner: meta.uid(),
            });
        }
    }
    None
}

fn may_traverse(mode: u32, owner: u32, group: u32, user: &PgUser) -> bool {
    if user.uid == 0 {
        true
    } else if owner == user.uid {
        mode & 0o100 != 0
    } else if user.gid == group || user.groups.contains(&group) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

fn unreachable_message(data_dir: &Path, blocked: &Blocked, user: &PgUser) -> String {
    format!(
        "cannot use {} as the embedded PostgreSQL data directory: PostgreSQL refuses to run as \
         root, so cognate runs it as the `{}` user, and that user cannot enter {} (mode {:o}, \
         owner uid {}). Cognate does not change the permissions of your directories. Choose a \
         data directory the `{}` user can reach with the config key `database.data_dir` \
         (environment: COGNATE__DATABASE__DATA_DIR), e.g. /var/lib/cognate/postgres, or use an \
         existing PostgreSQL server via `database.url`.",
        data_dir.display(),
        user.name,
        blocked.dir.display(),
        blocked.mode,
        blocked.owner,
        user.name,
    )
}

/// The effective uid of this process.
fn current_euid() -> Result<u32> {
    Ok(nix::unistd::geteuid().as_raw())
}

/// The uid, primary gid and groups of the OS user `name`, from the user
/// database (NSS), as `id` would print them.
fn lookup_user(name: &str) -> Result<PgUser> {
    let user = nix::unistd::User::from_name(name)
        .with_context(|| format!("could not look up the user {name}"))?
        .with_context(|| format!("no such user: {name}"))?;
    let cname = std::ffi::CString::new(name).context("a user name with a NUL byte")?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .with_context(|| format!("could not list the groups of {name}"))?
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    Ok(PgUser {
        name: name.to_string(),
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
    })
}

// ---------------------------------------------------------------------------
// Default data directory

/// `./.cognate/postgres` under the working directory, unless this process
/// is root and the `postgres` user cannot reach the working directory (a
/// checkout under /root, say): then `/var/lib/cognate/<hash of the
/// working directory>/postgres`, created and owned by postgres, with a
/// warning saying so.
pub fn default_data_dir() -> PathBuf {
    let Ok(cwd) = std::env::current_dir() else {
        return PathBuf::from(".cognate").join("postgres");
    };
    let is_root = current_euid().map(|uid| uid == 0).unwrap_or(false);
    let pg_user = if is_root {
        lookup_user(PG_OS_USER).ok()
    } else {
        None
    };
    data_dir_for(&cwd, pg_user.as_ref(), Path::new(FALLBACK_BASE))
}

fn data_dir_for(cwd: &Path, pg_user: Option<&PgUser>, fallback_base: &Path) -> PathBuf {
    let local = cwd.join(".cognate").join("postgres");
    let Some(user) = pg_user else {
        return local;
    };
    let Some(blocked) = first_untraversable(&local, user) else {
        return local;
    };
    let canonical = fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    let hash = fnv1a64(canonical.as_os_str().as_bytes()) & 0xffff_ffff_ffff;
    let dir = fallback_base.join(format!("{hash:012x}")).join("postgres");
    let created = create_parents(&dir).and_then(|()| ensure_dir_owned(&dir, 0o700, Some(user)));
    if let Err(e) = created {
        tracing::warn!(path = %dir.display(), error = %format!("{e:#}"), "could not prepare the fallback PostgreSQL data directory");
    }
    tracing::warn!(
        path = %dir.display(),
        unreachable = %blocked.dir.display(),
        "the `{}` user cannot reach {} (mode {:o}), so the embedded PostgreSQL cluster lives in {} \
         instead; set `database.data_dir` (COGNATE__DATABASE__DATA_DIR) to choose another place",
        user.name,
        blocked.dir.display(),
        blocked.mode,
        dir.display()
    );
    dir
}

/// FNV-1a, 64 bit: a stable, dependency-free short hash for directory names.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------
// Connections

async fn connect(info: &ConnectInfo, database: &str) -> Result<tokio_postgres::Client> {
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

async fn create_database_if_missing(client: &tokio_postgres::Client, name: &str) -> Result<()> {
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

fn percent_encode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stranger() -> PgUser {
        // Someone who is neither the owner nor in the group of our files.
        let me = current_euid().unwrap();
        PgUser {
            name: "stranger".into(),
            uid: me + 54_321,
            gid: 4_000_000_000,
            groups: vec![4_000_000_000],
        }
    }

    #[test]
    fn traversal_check_finds_a_mode_700_directory() {
        let tmp = tempfile::Builder::new()
            .prefix("cognate-trav-")
            .tempdir_in("/tmp")
            .unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o700)).unwrap();
        let data_dir = base.join("checkout").join(".cognate").join("postgres");
        let user = stranger();

        let blocked = first_untraversable(&data_dir, &user).expect("700 must block");
        assert_eq!(blocked.dir, base);
        assert_eq!(blocked.mode, 0o700);
        let msg = unreachable_message(&data_dir, &blocked, &user);
        assert!(msg.contains("database.data_dir"), "{msg}");
        assert!(msg.contains("COGNATE__DATABASE__DATA_DIR"), "{msg}");

        // Execute permission for others is all it takes.
        fs::set_permissions(&base, fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(first_untraversable(&data_dir, &user), None);

        // A deeper existing directory is checked too; group bits count for members.
        let checkout = base.join("checkout");
        fs::create_dir(&checkout).unwrap();
        fs::set_permissions(&checkout, fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(first_untraversable(&data_dir, &user).unwrap().dir, checkout);
        let gid = fs::metadata(&checkout).unwrap().gid();
        let member = PgUser {
            groups: vec![gid],
            ..user.clone()
        };
        assert_eq!(first_untraversable(&data_dir, &member), None);
    }

    #[test]
    fn may_traverse_follows_owner_group_other() {
        let user = PgUser {
            name: "pg".into(),
            uid: 101,
            gid: 104,
            groups: vec![104, 103],
        };
        assert!(may_traverse(0o700, 101, 0, &user));
        assert!(!may_traverse(0o600, 101, 0, &user));
        assert!(may_traverse(0o710, 0, 103, &user));
        assert!(!may_traverse(0o701, 0, 103, &user)); // group bits apply, not other
        assert!(may_traverse(0o701, 0, 0, &user));
        assert!(!may_traverse(0o770, 0, 0, &user));
    }

    #[test]
    fn default_dir_falls_back_only_when_unreachable() {
        let tmp = tempfile::Builder::new()
            .prefix("cognate-cwd-")
            .tempdir_in("/tmp")
            .unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        let cwd = base.join("home");
        let fallback = base.join("varlib");
        fs::create_dir(&cwd).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&cwd, fs::Permissions::from_mode(0o755)).unwrap();
        let me = current_euid().unwrap();
        let gid = fs::metadata(&base).unwrap().gid();
        // Stands in for the postgres user: not the owner, but in the group.
        let user = PgUser {
            name: "me".into(),
            uid: me + 1,
            gid,
            groups: vec![gid],
        };

        assert_eq!(
            data_dir_for(&cwd, None, &fallback),
            cwd.join(".cognate/postgres")
        );
        assert_eq!(
            data_dir_for(&cwd, Some(&user), &fallback),
            cwd.join(".cognate/postgres")
        );

        fs::set_permissions(&cwd, fs::Permissions::from_mode(0o700)).unwrap();
        let dir = data_dir_for(&cwd, Some(&user), &fallback);
        assert!(dir.starts_with(&fallback), "{}", dir.display());
        assert!(dir.ends_with("postgres"));
        // Stable for the same directory.
        assert_eq!(dir, data_dir_for(&cwd, Some(&user), &fallback));
        if me == 0 {
            let meta = fs::metadata(&dir).unwrap();
            assert_eq!(meta.uid(), user.uid);
            assert_eq!(meta.mode() & 0o777, 0o700);
            // The directories leading there stay reachable.
            assert_eq!(first_untraversable(&dir, &user), None);
        }
        fs::set_permissions(&cwd, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn pg_hba_never_trusts_and_has_tcp_only_when_asked() {
        for (tcp, tls) in [(false, false), (true, false), (true, true)] {
            let text = hba_text(tcp, tls);
            let rules: Vec<Vec<&str>> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| l.split_whitespace().collect())
                .collect();
            assert!(rules.iter().all(|r| r.last() == Some(&"scram-sha-256")));
            assert_eq!(rules[0], ["local", "all", "all", "scram-sha-256"]);
            match (tcp, tls) {
                (false, _) => assert_eq!(rules.len(), 1, "{text}"),
                (true, false) => assert_eq!(rules[1][..2], ["host", "all"]),
                (true, true) => assert_eq!(rules[1][..2], ["hostssl", "all"]),
            }
        }
    }

    #[test]
    fn the_password_file_is_made_private_reused_and_refused_when_readable() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("postgres.password");
        let me = current_euid().unwrap();
        let first = load_or_create_password(&path, me).unwrap();
        assert_eq!(first.0.len(), PASSWORD_BYTES * 2);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(load_or_create_password(&path, me).unwrap(), first);
        assert_eq!(format!("{first:?}"), "Password(..)", "never printed");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_or_create_password(&path, me).unwrap_err();
        assert!(format!("{err:#}").contains("refusing"), "{err:#}");
        // A damaged file (an interrupted first write) gets a new password.
        fs::write(&path, "").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(load_or_create_password(&path, me).unwrap(), first);
        assert_eq!(
            password_file_for(Path::new("/a/b/postgres")).unwrap(),
            PathBuf::from("/a/b/postgres.password")
        );
    }

    #[test]
    fn server_options_close_tcp_and_survive_the_shell() {
        let info = ConnectInfo {
            socket_dir: PathBuf::from("/tmp/it's here"),
            port: 5432,
            tcp_port: None,
            password: Password("x".repeat(16)),
        };
        let opts = server_options(Path::new("/d"), &info);
        assert!(opts.contains("-c 'hba_file=/d/pg_hba.conf'"), "{opts}");
        assert!(opts.contains("-c 'listen_addresses='"), "{opts}");
        assert!(
            opts.contains(r#"-c 'unix_socket_directories="/tmp/it'\''s here"'"#),
            "{opts}"
        );
        assert!(
            !opts.contains(&info.password.0),
            "no password on the command line"
        );
        let url = info.url_for("db");
        assert_eq!(
            url,
            format!(
                "postgres://postgres:{}@%2Ftmp%2Fit%27s%20here:5432/db",
                "x".repeat(16)
            )
        );
        assert_eq!(info.tcp_url_for("db"), None);
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn a_data_dir_too_long_for_a_socket_gets_a_private_socket_dir() {
        let tmp = tempfile::Builder::new()
            .prefix("cognate-sock-")
            .tempdir_in("/tmp")
            .unwrap();
        let short = tmp.path().join("pg");
        assert_eq!(socket_dir_for(&short, None).unwrap(), short);
        let long = tmp.path().join("x".repeat(100));
        let dir = socket_dir_for(&long, None).unwrap();
        assert!(
            dir.to_str().unwrap().starts_with("/tmp/cognate-pg-"),
            "{}",
            dir.display()
        );
        let meta = fs::symlink_metadata(&dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o777, 0o700);
        assert_eq!(socket_dir_for(&long, None).unwrap(), dir, "stable");
        fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn helpers() {
        assert_eq!(
            parse_major_version("pg_ctl (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n").as_deref(),
            Some("15")
        );
        assert_eq!(
            parse_major_version("pg_ctl (PostgreSQL) 17devel").as_deref(),
            Some("17")
        );
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(percent_encode("cognate_1"), "cognate_1");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
        assert_eq!(
            absolute_path(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("/a/c")
        );
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    }
}
