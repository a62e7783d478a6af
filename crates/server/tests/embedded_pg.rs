//! The embedded PostgreSQL manager against the real PostgreSQL binaries:
//! it starts, restarts and recovers, and nobody but cognate gets in.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cognate_server::embedded_pg::{EmbeddedOptions, EmbeddedPostgres};
use cognate_tests::serve::{free_port, temp_dir};

/// A temp dir under /tmp the postgres user can pass through (tempfile makes
/// it 0700, which would lock postgres out when we are root), the data
/// directory `sub` below it, and the options of a cluster there.
fn cluster_dir(sub: &[&str]) -> (tempfile::TempDir, PathBuf, EmbeddedOptions) {
    let tmp = temp_dir("cognate-epg-");
    let data_dir = sub.iter().fold(tmp.path().to_owned(), |dir, s| dir.join(s));
    let opts = EmbeddedOptions::new(&data_dir, "cognate");
    (tmp, data_dir, opts)
}

/// Start the cluster of `opts`, with a TCP listener on `tcp_port` if given.
async fn start(opts: &EmbeddedOptions, tcp_port: Option<u16>) -> EmbeddedPostgres {
    let opts = EmbeddedOptions {
        tcp_port,
        ..opts.clone()
    };
    EmbeddedPostgres::start(opts).await.unwrap()
}

/// Why the cluster of `opts` refused to start.
async fn start_error(opts: EmbeddedOptions) -> String {
    let err = EmbeddedPostgres::start(opts).await.unwrap_err();
    format!("{err:#}")
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    tokio::spawn(connection);
    client
}

/// The one value `sql` answers.
async fn one<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    client: &tokio_postgres::Client,
    sql: &str,
) -> T {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

fn postmaster_pid(data_dir: &Path) -> u32 {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

fn is_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie nobody reaped yet counts as gone.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn start_query_restart_persist_and_recover_from_kill() {
    let (_tmp, data_dir, opts) = cluster_dir(&["nested", "postgres"]);

    // First start: initdb, start, create the database.
    let pg = start(&opts, None).await;
    assert!(data_dir.join("PG_VERSION").is_file());
    // The URLs name the socket directory (percent-encoded) and carry the password.
    let socket_host = pg.socket_dir().to_str().unwrap().replace('/', "%2F");
    assert!(pg.url().starts_with("postgres://postgres:"), "a password");
    assert!(
        pg.url().ends_with(&format!("@{socket_host}:5432/cognate")),
        "the socket"
    );
    assert!(pg.url_for("other").ends_with("/other"));
    assert_eq!(pg.tcp_port(), None);
    let client = connect(&pg.url()).await;
    assert_eq!(one::<i32>(&client, "SELECT 1").await, 1);
    for (sql, expected) in [
        ("SELECT current_database()", "cognate"),
        ("SHOW server_encoding", "UTF8"),
        ("SHOW fsync", "on"),
    ] {
        assert_eq!(one::<String>(&client, sql).await, expected, "{sql}");
    }
    let listen: String = one(&client, "SHOW listen_addresses").await;
    assert_eq!(listen, "", "no TCP listener by default");
    client
        .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42);")
        .await
        .unwrap();
    drop(client);

    // A second server on the same data directory is refused, clearly.
    let msg = start_error(opts.clone()).await;
    assert!(msg.contains("in use by another running server"), "{msg}");

    pg.stop().await.unwrap();
    assert!(!data_dir.join("postmaster.pid").exists());

    // Second start: the same cluster, the data is still there.
    let pg = start(&opts, None).await;
    let client = connect(&pg.url()).await;
    assert_eq!(one::<i32>(&client, "SELECT x FROM kept").await, 42);
    client
        .batch_execute("INSERT INTO kept VALUES (43)")
        .await
        .unwrap();
    drop(client);

    // SIGKILL the postmaster: the next start recovers (stale
    // postmaster.pid, crash recovery), here with a TCP listener too.
    let port = free_port();
    let pid = postmaster_pid(&data_dir);
    assert_eq!(pid, pg.pid());
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_gone(pid) {
        assert!(
            Instant::now() < deadline,
            "postmaster {pid} survived kill -9"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        data_dir.join("postmaster.pid").exists(),
        "expected a stale pid file"
    );
    // Stopping a server that is already gone is fine.
    pg.stop().await.unwrap();

    let pg = start(&opts, Some(port)).await;
    assert_eq!(pg.tcp_port(), Some(port));
    let tcp_url = pg.connect_info().tcp_url_for("cognate").unwrap();
    assert!(tcp_url.ends_with(&format!("@127.0.0.1:{port}/cognate")));
    let client = connect(&tcp_url).await;
    assert_eq!(one::<i64>(&client, "SELECT sum(x) FROM kept").await, 85);
    drop(client);
    pg.stop().await.unwrap();
    assert!(!data_dir.join("postmaster.pid").exists());
}

#[tokio::test]
async fn startup_failure_reports_the_server_log() {
    let (_tmp, data_dir, opts) = cluster_dir(&["postgres"]);
    let pg = start(&opts, None).await;
    pg.stop().await.unwrap();

    // Break the configuration: the server refuses to start and says why in its log.
    let conf = data_dir.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).unwrap();
    text.push_str("\nshared_buffers = 'lots'\n");
    fs::write(&conf, text).unwrap();

    let msg = start_error(opts).await;
    assert!(msg.contains("lines of"), "{msg}");
    assert!(msg.contains("shared_buffers"), "{msg}");
    assert!(!data_dir.join("postmaster.pid").exists());
}

#[tokio::test]
async fn unreachable_data_dir_is_explained_when_root() {
    if euid() != 0 {
        return; // only root hands the cluster to another user
    }
    let tmp = tempfile::Builder::new()
        .prefix("cognate-epg-700-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = tmp.path().join(".cognate").join("postgres");
    let msg = start_error(EmbeddedOptions::new(&data_dir, "cognate")).await;
    assert!(msg.contains("database.data_dir"), "{msg}");
    assert!(msg.contains("COGNATE__DATABASE__DATA_DIR"), "{msg}");
    // Nothing was created and the permissions were left alone.
    assert!(!tmp.path().join(".cognate").exists());
    let mode = fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

// ---------------------------------------------------------------------------
// Nobody else gets in

fn euid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether this test can run: it needs root. Without root it prints
/// SKIPPED, unless COGNATE_REQUIRE_ALL=1, where it fails.
fn have_root(test: &str) -> bool {
    if euid() == 0 {
        return true;
    }
    if std::env::var("COGNATE_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{test} needs root (to create another OS user), and COGNATE_REQUIRE_ALL=1");
    }
    eprintln!("SKIPPED: {test} needs root (to create another OS user)");
    false
}

/// Another local OS user, removed again on drop.
struct Intruder {
    name: String,
}

impl Intruder {
    fn create() -> Intruder {
        let name = format!(
            "cognate-intruder-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let out = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", &name])
            .output()
            .expect("useradd");
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Intruder { name }
    }

    /// Run `program args` as this user, with no password in the environment.
    fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.name, "--", program])
            .args(args)
            .current_dir("/")
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .env("PGCONNECT_TIMEOUT", "5");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("runuser")
    }

    fn psql(&self, host: &str, port: u16, env: &[(&str, &str)]) -> std::process::Output {
        self.run("psql", &psql_args(host, &port.to_string()), env)
    }
}

impl Drop for Intruder {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// `psql`'s arguments for a `SELECT 1` as `postgres` at `host`, without
/// asking for a password.
fn psql_args<'a>(host: &'a str, port: &'a str) -> [&'a str; 12] {
    [
        "-w", "-X", "-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-c", "SELECT 1",
    ]
}

fn text(out: &Output) -> String {
    format!(
        "{}{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Assert that the run `out` failed saying `expected` (`why` it should).
#[track_caller]
fn refused(out: &Output, expected: &str, why: &str) {
    let text = text(out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(expected), "{why}: {text}");
}

/// Inodes of the sockets `pid` has open.
fn socket_inodes(pid: u32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect()
}

/// Local TCP ports that `pid` listens on (IPv4 and IPv6).
fn tcp_listen_ports(pid: u32) -> Vec<u16> {
    let inodes = socket_inodes(pid);
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address, st (0A = LISTEN), inode
            if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                let port = cols[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

async fn cognate_store_works(url: &str) {
    cognate_store::migrate::run(url).await.expect("migrations");
    let store = cognate_store::PgStore::connect_lazy(url, &Default::default()).unwrap();
    cognate_domain::ports::Store::ping(&store)
        .await
        .expect("the sqlx pool connects");
}

#[tokio::test]
async fn another_os_user_cannot_connect_to_the_private_cluster_by_socket_or_tcp() {
    if !have_root("another_os_user_cannot_connect_to_the_private_cluster_by_socket_or_tcp") {
        return;
    }
    let intruder = Intruder::create();
    let (_tmp, _, opts) = cluster_dir(&["postgres"]);
    let pg = start(&opts, None).await;
    let socket_dir = pg.socket_dir().to_str().unwrap().to_owned();

    // The socket directory and the socket are the postgres user's alone.
    let meta = fs::metadata(pg.socket_dir()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let socket = fs::metadata(pg.socket_dir().join(".s.PGSQL.5432")).unwrap();
    assert_eq!(socket.permissions().mode() & 0o077, 0, "socket mode");

    // By socket: the intruder cannot even reach it.
    refused(
        &intruder.psql(&socket_dir, 5432, &[]),
        "Permission denied",
        "refused for lack of permission",
    );
    // ... nor read the password.
    let out = intruder.run("cat", &[pg.password_file().to_str().unwrap()], &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let mode = fs::metadata(pg.password_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Even where the directory is no obstacle (root), no password, no entry.
    let out = Command::new("psql")
        .args(psql_args(&socket_dir, "5432"))
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .output()
        .unwrap();
    refused(&out, "no password supplied", "a password is asked for");

    // By TCP: nothing listens.
    assert_eq!(tcp_listen_ports(pg.pid()), Vec::<u16>::new());
    let client = connect(&pg.url()).await;
    assert_eq!(one::<String>(&client, "SHOW listen_addresses").await, "");
    let hba: Vec<String> = client
        .query(
            "SELECT type || ' ' || auth_method FROM pg_hba_file_rules",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hba, ["local scram-sha-256"]);
    drop(client);

    // And cognate itself gets in: migrations (tokio-postgres) and the pool (sqlx).
    cognate_store_works(&pg.url()).await;
    pg.stop().await.unwrap();

    // With an explicit TCP port, the port listens, but only for the password.
    let port = free_port();
    let pg = start(&opts, Some(port)).await;
    assert_eq!(tcp_listen_ports(pg.pid()), [port]);
    refused(
        &intruder.psql("127.0.0.1", port, &[]),
        "no password supplied",
        "no password",
    );
    refused(
        &intruder.psql("127.0.0.1", port, &[("PGPASSWORD", "postgres")]),
        "password authentication failed",
        "a wrong password",
    );
    cognate_store_works(&pg.connect_info().tcp_url_for("cognate").unwrap()).await;
    cognate_store_works(&pg.url()).await;
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn a_trusting_cluster_of_an_older_version_is_locked_up_in_place_with_its_data() {
    let (_tmp, data_dir, opts) = cluster_dir(&["postgres"]);
    let pg = start(&opts, None).await;
    let client = connect(&pg.url()).await;
    client
        .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7);")
        .await
        .unwrap();
    drop(client);
    let password_file = pg.password_file().to_path_buf();
    pg.stop().await.unwrap();

    // What older versions left: trust on the socket and on 127.0.0.1, TCP
    // listening, no password file.
    let owner = fs::metadata(data_dir.join("pg_hba.conf")).unwrap();
    fs::write(
        data_dir.join("pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    fs::write(
        data_dir.join("cognate.conf"),
        "port = '5433'\nlisten_addresses = '127.0.0.1'\n",
    )
    .unwrap();
    std::os::unix::fs::chown(
        data_dir.join("cognate.conf"),
        Some(owner.uid()),
        Some(owner.gid()),
    )
    .unwrap();
    fs::remove_file(&password_file).unwrap();

    let pg = start(&opts, None).await;
    let hba = fs::read_to_string(data_dir.join("pg_hba.conf")).unwrap();
    let rules: Vec<Vec<&str>> = hba
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rules,
        [["local", "all", "all", "scram-sha-256"]],
        "no trust, no TCP: {hba}"
    );
    assert_eq!(
        fs::metadata(&password_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(tcp_listen_ports(pg.pid()), Vec::<u16>::new());
    let client = connect(&pg.url()).await;
    let x: i32 = one(&client, "SELECT x FROM kept").await;
    assert_eq!(x, 7, "nothing committed was lost");
    drop(client);
    // Without the password the socket does not let us in.
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(pg.socket_dir())
        .port(5432)
        .user("postgres")
        .dbname("cognate");
    let Err(err) = config.connect(tokio_postgres::NoTls).await else {
        panic!("connected without the password");
    };
    // The server asked for a password we did not have.
    assert!(
        format!("{err:?}").contains("password missing"),
        "a password is required: {err:?}"
    );
    pg.stop().await.unwrap();

    // A password file others can read is refused, not trusted.
    fs::set_permissions(&password_file, fs::Permissions::from_mode(0o644)).unwrap();
    let msg = start_error(opts).await;
    assert!(msg.contains("refusing to use the password file"), "{msg}");
}
