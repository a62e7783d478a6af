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
//!
//! # Layout
//! - `lifecycle` — [`EmbeddedPostgres`]: start (initdb, access settings,
//!   password, `pg_ctl start`, the watchdog), stop, and connection details.
//! - `process` — running PostgreSQL's programs (as `postgres` when root),
//!   finding their binaries, and the server's options and lock file.
//! - `data_dir` — the data directory: where it is, its configuration files,
//!   the password file, ownership and permissions, the server log.

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

mod data_dir;
mod lifecycle;
mod process;
#[cfg(test)]
mod tests;

pub use data_dir::default_data_dir;
use data_dir::*;
pub use lifecycle::{quote_ident, running_url, ConnectInfo, EmbeddedOptions, EmbeddedPostgres};
use process::*;

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
