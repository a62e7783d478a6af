//! The data directory: where it is, what is written into it, who owns it
//! and who can reach it.

use super::*;

/// The superuser password of a private cluster; never printed.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Password(pub(super) String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

// ---------------------------------------------------------------------------
// The data directory

/// Make `requested` absolute, check that the postgres user can reach it
/// (when root), create it, and give it to the postgres user. Returns the
/// canonical path.
pub(super) fn prepare_data_dir(requested: &Path, pg_user: Option<&PgUser>) -> Result<PathBuf> {
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
pub(super) fn read_pg_version(data_dir: &Path) -> Result<Option<String>> {
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
pub(super) async fn check_postmaster_lock(data_dir: &Path) -> Result<()> {
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
                         (pid {pid}{}), probably another `cognate serve`: stop it first, or give \
                         this instance its own `database.data_dir` (COGNATE__DATABASE__DATA_DIR) \
                         for a separate database. (`cognate keys`, `audit export` and `migrate` \
                         use a running private cluster by themselves.)",
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
pub(super) fn read_postmaster_pid(data_dir: &Path) -> Option<(u32, Option<u16>)> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
    Some((pid, port))
}

/// Whether `pid` is a live process serving `data_dir` (PostgreSQL
/// processes run with the data directory as working directory).
pub(super) fn pid_owns_data_dir(pid: u32, data_dir: &Path) -> bool {
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
pub(super) fn processes_in(dir: &Path) -> Vec<u32> {
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

pub(super) fn ensure_include_line(data_dir: &Path, pg_user: Option<&PgUser>) -> Result<()> {
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

pub(super) fn write_managed_conf(
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
pub(super) fn socket_dir_for(data_dir: &Path, pg_user: Option<&PgUser>) -> Result<PathBuf> {
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
pub(super) fn password_file_for(data_dir: &Path) -> Result<PathBuf> {
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
pub(super) fn load_or_create_password(path: &Path, euid: u32) -> Result<Password> {
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
pub(super) fn random_hex(bytes: usize) -> Result<String> {
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

pub(super) fn rotate_log(log_file: &Path) {
    if fs::metadata(log_file)
        .map(|m| m.len() > LOG_ROTATE_BYTES)
        .unwrap_or(false)
    {
        let _ = fs::rename(log_file, log_file.with_extension("log.old"));
    }
}

pub(super) fn read_from(path: &Path, offset: u64) -> String {
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
pub(super) fn format_log_tail(log_file: &Path, offset: Option<u64>) -> String {
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

pub(super) fn write_owned(
    path: &Path,
    contents: &str,
    mode: u32,
    owner: Option<&PgUser>,
) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    if let Some(user) = owner {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("could not chown {}", path.display()))?;
    }
    Ok(())
}

pub(super) fn ensure_dir_owned(dir: &Path, mode: u32, owner: Option<&PgUser>) -> Result<()> {
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

pub(super) fn chown_recursive(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

pub(super) fn clear_dir(dir: &Path) {
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
pub(super) fn create_parents(path: &Path) -> Result<()> {
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
pub(super) fn absolute_path(path: &Path) -> Result<PathBuf> {
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
pub(super) struct Blocked {
    pub(super) dir: PathBuf,
    pub(super) mode: u32,
    pub(super) owner: u32,
}

/// Checks the existing directories leading to `path` (not `path` itself,
/// which is given to the postgres user anyway), after resolving symlinks,
/// against the classic permission bits (ACLs are not considered).
/// Directories that do not exist yet are created 0755 by us, so they pass.
pub(super) fn first_untraversable(path: &Path, user: &PgUser) -> Option<Blocked> {
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

pub(super) fn may_traverse(mode: u32, owner: u32, group: u32, user: &PgUser) -> bool {
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

pub(super) fn unreachable_message(data_dir: &Path, blocked: &Blocked, user: &PgUser) -> String {
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
pub(super) fn current_euid() -> Result<u32> {
    Ok(nix::unistd::geteuid().as_raw())
}

/// The uid, primary gid and groups of the OS user `name`, from the user
/// database (NSS), as `id` would print them.
pub(super) fn lookup_user(name: &str) -> Result<PgUser> {
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

pub(super) fn data_dir_for(cwd: &Path, pg_user: Option<&PgUser>, fallback_base: &Path) -> PathBuf {
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
pub(super) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
