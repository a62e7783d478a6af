//! The embedded PostgreSQL manager against the real PostgreSQL binaries.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use cognate_server::embedded_pg::{EmbeddedOptions, EmbeddedPostgres};

/// A temp dir under /tmp the postgres user can pass through (tempfile makes
/// it 0700, which would lock postgres out when we are root).
fn temp_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cognate-epg-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(connection);
    client
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
    let tmp = temp_root();
    let data_dir = tmp.path().join("nested").join("postgres");
    let opts = EmbeddedOptions {
        data_dir: data_dir.clone(),
        port: None,
        database: "cognate".into(),
    };

    // First start: initdb, start, create the database.
    let pg = EmbeddedPostgres::start(opts.clone()).await.unwrap();
    assert!(data_dir.join("PG_VERSION").is_file());
    assert_eq!(
        pg.url(),
        format!("postgres://postgres@127.0.0.1:{}/cognate", pg.port())
    );
    assert_eq!(
        pg.url_for("other"),
        format!("postgres://postgres@127.0.0.1:{}/other", pg.port())
    );
    let client = connect(&pg.url()).await;
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let db: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, "cognate");
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(encoding, "UTF8");
    let fsync: String = client.query_one("SHOW fsync", &[]).await.unwrap().get(0);
    assert_eq!(fsync, "on");
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "127.0.0.1");
    client
        .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42);")
        .await
        .unwrap();
    drop(client);

    // A second server on the same data directory is refused, clearly.
    let err = EmbeddedPostgres::start(opts.clone()).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("in use by another running server"), "{msg}");

    pg.stop().await.unwrap();
    assert!(!data_dir.join("postmaster.pid").exists());

    // Second start: the same cluster, the data is still there.
    let pg = EmbeddedPostgres::start(opts.clone()).await.unwrap();
    let client = connect(&pg.url()).await;
    let x: i32 = client
        .query_one("SELECT x FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 42);
    client
        .batch_execute("INSERT INTO kept VALUES (43)")
        .await
        .unwrap();
    drop(client);

    // SIGKILL the postmaster: the next start recovers (stale
    // postmaster.pid, crash recovery), here on the same fixed port.
    let port = pg.port();
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

    let pg = EmbeddedPostgres::start(EmbeddedOptions {
        port: Some(port),
        ..opts.clone()
    })
    .await
    .unwrap();
    assert_eq!(pg.port(), port);
    let client = connect(&pg.url()).await;
    let sum: i64 = client
        .query_one("SELECT sum(x) FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, 85);
    drop(client);
    pg.stop().await.unwrap();
    assert!(!data_dir.join("postmaster.pid").exists());
}

#[tokio::test]
async fn startup_failure_reports_the_server_log() {
    let tmp = temp_root();
    let data_dir = tmp.path().join("postgres");
    let opts = EmbeddedOptions::new(&data_dir, "cognate");
    let pg = EmbeddedPostgres::start(opts.clone()).await.unwrap();
    pg.stop().await.unwrap();

    // Break the configuration: the server refuses to start and says why in its log.
    let conf = data_dir.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).unwrap();
    text.push_str("\nshared_buffers = 'lots'\n");
    fs::write(&conf, text).unwrap();

    let err = EmbeddedPostgres::start(opts).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("lines of"), "{msg}");
    assert!(msg.contains("shared_buffers"), "{msg}");
    assert!(!data_dir.join("postmaster.pid").exists());
}

#[tokio::test]
async fn unreachable_data_dir_is_explained_when_root() {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap();
    if euid != "0" {
        return; // only root hands the cluster to another user
    }
    let tmp = tempfile::Builder::new()
        .prefix("cognate-epg-700-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = tmp.path().join(".cognate").join("postgres");
    let err = EmbeddedPostgres::start(EmbeddedOptions::new(&data_dir, "cognate"))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("database.data_dir"), "{msg}");
    assert!(msg.contains("COGNATE__DATABASE__DATA_DIR"), "{msg}");
    // Nothing was created and the permissions were left alone.
    assert!(!tmp.path().join(".cognate").exists());
    let mode = fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}
