//! The shared PostgreSQL of a test process.
//!
//! One cluster per test process, started lazily by the first test that asks
//! for it, in a fresh directory under /tmp. A template database is migrated
//! once (by the closure the first caller passes); every test then gets its
//! own database, cloned from the template with `CREATE DATABASE ... TEMPLATE`.
//!
//! Each `#[tokio::test]` has its own runtime, so nothing runtime-bound is kept
//! in the static: the server is a detached OS process (`pg_ctl start`), and
//! every admin connection is opened, used and closed within the calling test.
//!
//! Nothing outlives the test process: the embedded server's watchdog stops
//! the server once this process is gone, and a janitor shell process then
//! removes the temp directory (see [`TestCluster`]).

use std::fs;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cognate_server::embedded_pg::{quote_ident, ConnectInfo, EmbeddedOptions, EmbeddedPostgres};
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::error::SqlState;

/// The database every test database is cloned from.
pub const TEMPLATE_DATABASE: &str = "cognate_template";

/// Durability is pointless for throw-away test data; speed is not.
const TEST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "300"),
];

/// How long a clone waits for stray sessions on the template to go away
/// before terminating them, and how long it waits in all.
const TEMPLATE_GRACE: Duration = Duration::from_secs(2);
const CLONE_TIMEOUT: Duration = Duration::from_secs(30);

static CLUSTER: OnceCell<TestCluster> = OnceCell::const_new();

/// The PostgreSQL cluster of this test process; see the module docs.
///
/// Its directory `/tmp/cognate-test-pg-XXXXXX` holds `data/` (the cluster,
/// with its log in `data/log/postgres.log`). A janitor (`sh`, a child of this
/// process in its own process group) checks every second whether it has been
/// re-parented, i.e. this process is gone; then it waits (bounded) for the
/// server, which the embedded server's own watchdog is stopping, to exit,
/// kills it if it did not, and removes the directory.
#[derive(Debug)]
pub struct TestCluster {
    root: PathBuf,
    data_dir: PathBuf,
    /// Socket directory and password; the same after a restart.
    connect: ConnectInfo,
    server: Mutex<Option<EmbeddedPostgres>>,
    template: OnceCell<()>,
    clone_lock: Mutex<()>,
    next_id: AtomicU64,
}

/// The cluster of this test process, started on first use.
///
/// Panics if PostgreSQL cannot be started (the message says why).
pub async fn cluster() -> &'static TestCluster {
    CLUSTER
        .get_or_init(|| async {
            match TestCluster::launch().await {
                Ok(cluster) => cluster,
                Err(e) => panic!("could not start the test PostgreSQL cluster: {e:#}"),
            }
        })
        .await
}

impl TestCluster {
    async fn launch() -> Result<TestCluster> {
        let root = tempfile::Builder::new()
            .prefix("cognate-test-pg-")
            .tempdir_in("/tmp")
            .context("creating a temp dir under /tmp")?
            .keep();
        // tempfile makes it 0700; when we are root, PostgreSQL runs as the
        // postgres user, which must pass through it.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        let data_dir = root.join("data");
        spawn_janitor(&root, &data_dir)?;
        let pg = EmbeddedPostgres::start_with_settings(
            EmbeddedOptions::new(data_dir, "postgres"),
            TEST_SETTINGS,
        )
        .await?;
        Ok(TestCluster {
            root,
            data_dir: pg.data_dir().to_path_buf(),
            connect: pg.connect_info().clone(),
            server: Mutex::new(Some(pg)),
            template: OnceCell::new(),
            clone_lock: Mutex::new(()),
            next_id: AtomicU64::new(0),
        })
    }

    /// A new database, cloned from the template; returns its URL.
    ///
    /// The first call creates the template and awaits `migrate` with the
    /// template's URL (later calls do not call their `migrate`; if it
    /// fails, the next call starts over with an empty template). `migrate`
    /// must close its connections before it returns: nobody may be
    /// connected to the template while it is cloned (stragglers are
    /// terminated after a short grace period).
    pub async fn fresh_database<F, Fut>(&self, migrate: F) -> Result<String>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        self.template
            .get_or_try_init(|| async {
                let admin = self.admin().await?;
                let template = quote_ident(TEMPLATE_DATABASE);
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"))
                    .await?;
                admin
                    .batch_execute(&format!("CREATE DATABASE {template}"))
                    .await?;
                drop(admin);
                migrate(self.url_for(TEMPLATE_DATABASE))
                    .await
                    .context("migrating the template database")
            })
            .await?;

        let name = format!(
            "test_{}_{}",
            self.next_id.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let _serial = self.clone_lock.lock().await;
        let admin = self.admin().await?;
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(TEMPLATE_DATABASE)
        );
        let started = Instant::now();
        loop {
            match admin.batch_execute(&sql).await {
                Ok(()) => break,
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                    if started.elapsed() > CLONE_TIMEOUT {
                        return Err(e).context("the template database stays in use");
                    }
                    if started.elapsed() > TEMPLATE_GRACE {
                        admin
                            .execute(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                                &[&TEMPLATE_DATABASE],
                            )
                            .await?;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("creating database {name}")),
            }
        }
        Ok(self.url_for(&name))
    }

    /// The URL of database `db`: the cluster's Unix socket, with its
    /// password (see [`ConnectInfo::url_for`]).
    pub fn url_for(&self, db: &str) -> String {
        self.connect.url_for(db)
    }

    /// The socket directory, port and password.
    pub fn connect_info(&self) -> &ConnectInfo {
        &self.connect
    }

    /// The cluster's data directory (the server log is `log/postgres.log` in it).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The temp directory holding everything of this cluster.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stop the server (fast shutdown; a no-op if it is stopped). Every
    /// test of this process loses its database until
    /// [`start_server`](Self::start_server).
    pub async fn stop_server(&self) -> Result<()> {
        let mut server = self.server.lock().await;
        if let Some(pg) = server.take() {
            pg.stop().await?;
        }
        Ok(())
    }

    /// Start the server again: same data directory, same socket and password (a no-op if it runs).
    pub async fn start_server(&self) -> Result<()> {
        let mut server = self.server.lock().await;
        if server.is_none() {
            let pg = EmbeddedPostgres::start_with_settings(
                EmbeddedOptions::new(&self.data_dir, "postgres"),
                TEST_SETTINGS,
            )
            .await?;
            *server = Some(pg);
        }
        Ok(())
    }

    /// A connection to the `postgres` database, driven on the caller's runtime.
    async fn admin(&self) -> Result<tokio_postgres::Client> {
        let url = self.url_for("postgres");
        let (client, connection) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_postgres::connect(&url, tokio_postgres::NoTls),
        )
        .await
        .context("connecting to the test cluster timed out")?
        .context("connecting to the test cluster")?;
        tokio::spawn(connection);
        Ok(client)
    }
}

/// See [`TestCluster`]: removes `root` once this process is gone and the
/// server in `data_dir` has stopped (killing it after 60 s).
fn spawn_janitor(root: &Path, data_dir: &Path) -> Result<()> {
    const SCRIPT: &str = r#"
trap '' HUP INT
parent=$1; root=$2; data=$3
# Our parent is gone once we have been re-parented (immune to pid reuse).
parent_alive() {
  if [ -r /proc/$$/stat ]; then set -- $(cat /proc/$$/stat); [ "$4" = "$parent" ]
  else kill -0 "$parent" 2>/dev/null; fi
}
while parent_alive; do sleep 1; done
i=0
while :; do
  pm=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || break
  [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null || break
  if [ "$i" -ge 60 ]; then kill -9 "$pm" 2>/dev/null; sleep 1; break; fi
  sleep 1; i=$((i+1))
done
rm -rf -- "$root"
"#;
    if !root.starts_with("/tmp/") {
        bail!("refusing to set up removal of {}", root.display());
    }
    std::process::Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("cognate-test-pg-janitor")
        .arg(std::process::id().to_string())
        .arg(root)
        .arg(data_dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("spawning the janitor")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The restart test stops the shared server; the others hold a read lock.
    static SERVER_IN_USE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

    async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        tokio::spawn(connection);
        client
    }

    async fn migrate(url: String) -> Result<()> {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE TABLE migrated (id int PRIMARY KEY); INSERT INTO migrated VALUES (1);",
            )
            .await?;
        drop(client);
        connection.await??;
        Ok(())
    }

    async fn ids(url: &str) -> Vec<i32> {
        let client = connect(url).await;
        client
            .query("SELECT id FROM migrated ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    #[tokio::test]
    async fn fresh_databases_are_distinct_clones_of_the_migrated_template() {
        let cluster = cluster().await;
        let _in_use = SERVER_IN_USE.write().await;
        let (a, b) = tokio::join!(
            cluster.fresh_database(migrate),
            cluster.fresh_database(migrate)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let c = cluster
            .fresh_database(|_| async { Err(anyhow::anyhow!("the template is migrated once")) })
            .await
            .unwrap();
        assert_ne!(a, b);
        assert_ne!(b, c);
        let client = connect(&a).await;
        let name: String = client
            .query_one("SELECT current_database()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(a, cluster.url_for(&name));
        client
            .batch_execute("INSERT INTO migrated VALUES (2)")
            .await
            .unwrap();
        drop(client);
        assert_eq!(ids(&a).await, [1, 2]);
        assert_eq!(ids(&b).await, [1]);
        assert_eq!(ids(&c).await, [1]);

        // The server goes away and comes back on the same socket, data intact.
        cluster.stop_server().await.unwrap();
        assert!(tokio_postgres::connect(&a, tokio_postgres::NoTls)
            .await
            .is_err());
        cluster.start_server().await.unwrap();
        assert_eq!(ids(&a).await, [1, 2]);
        assert_eq!(
            ids(&cluster.fresh_database(migrate).await.unwrap()).await,
            [1]
        );
    }

    #[tokio::test]
    async fn another_test_runtime_uses_the_same_cluster() {
        let cluster = cluster().await;
        let _in_use = SERVER_IN_USE.read().await;
        let url = cluster.fresh_database(migrate).await.unwrap();
        assert_eq!(ids(&url).await, [1]);
    }

    /// For checking the clean-up by hand: run with `--ignored`, `kill -9`
    /// the test process, and see that `pgrep -f cognate-test-pg` finds
    /// nothing a few seconds later and the temp dir is gone.
    #[tokio::test]
    #[ignore]
    async fn hold_the_cluster_for_a_minute() {
        let cluster = cluster().await;
        eprintln!("cluster in {}", cluster.root().display());
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}
