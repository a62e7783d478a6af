//! Running PostgreSQL's programs, as the `postgres` user when this process
//! is root, and finding out about the server process.

use super::*;

// ---------------------------------------------------------------------------
// Running PostgreSQL programs

/// The `postgres` system user, as far as permission checks go.
#[derive(Debug, Clone)]
pub(super) struct PgUser {
    pub(super) name: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) groups: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(super) struct Runner {
    pub(super) bin_dir: PathBuf,
    /// Set when we are root: programs run as this user via runuser.
    pub(super) pg_user: Option<PgUser>,
}

impl Runner {
    /// argv prefix that runs `program` (as the postgres user when root).
    pub(super) fn program_prefix(&self, program: &str) -> Vec<OsString> {
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

    pub(super) fn command(&self, program: &str) -> tokio::process::Command {
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
pub(super) async fn run(
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

pub(super) fn output_text(out: &std::process::Output) -> String {
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

pub(super) async fn initdb(runner: &Runner, data_dir: &Path) -> Result<()> {
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
pub(super) fn hba_text(tcp: bool, tls_only: bool) -> String {
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

pub(super) fn write_hba(
    data_dir: &Path,
    tcp: bool,
    tls_only: bool,
    pg_user: Option<&PgUser>,
) -> Result<()> {
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
pub(super) async fn set_superuser_password(
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
pub(super) async fn pg_ctl_start(
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
pub(super) fn server_options(data_dir: &Path, connect: &ConnectInfo) -> String {
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
pub(super) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Candidate bin directories: where `pg_ctl` on PATH really lives, then
/// /usr/lib/postgresql/<version>/bin, newest first. With an existing
/// cluster, the first one of the cluster's major version.
pub(super) async fn choose_bin_dir(cluster_version: Option<&str>) -> Result<PathBuf> {
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
pub(super) async fn binary_major_version(bin_dir: &Path) -> Result<String> {
    let mut cmd = tokio::process::Command::new(bin_dir.join("pg_ctl"));
    cmd.arg("--version");
    let out = run(cmd, Duration::from_secs(10), "pg_ctl --version").await?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_major_version(&text).ok_or_else(|| anyhow!("unexpected `pg_ctl --version`: {text}"))
}

pub(super) fn parse_major_version(text: &str) -> Option<String> {
    let after = text.split(')').nth(1)?.trim_start();
    let number: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let major = number.split('.').next()?;
    (!major.is_empty()).then(|| major.to_string())
}

pub(super) fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
