//! The database goes away and comes back. This binary has its own
//! PostgreSQL cluster (one per test process), because it stops it.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::{
    assert_error_code, create_pool_request, describe_pool, list_pools, spawn_app_with, TestApp,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The tests stop and start the one cluster: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn an_unreachable_database_fails_readiness_and_requests_and_the_service_recovers() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with(|s| {
        s.database.acquire_timeout_seconds = 1;
        s.database.failover_wait_seconds = 2;
    })
    .await;
    let pool = app.create_pool("survivor").await;
    let cluster = cognate_tests::pg::cluster().await;

    cluster.stop_server().await.expect("stop postgres");
    assert_eq!(status_of(&app, "/readyz").await, 503);
    assert_eq!(
        status_of(&app, "/healthz").await,
        200,
        "the process itself is still up"
    );
    let described = describe_pool(&app.client, &pool).send().await;
    let message = assert_error_code(described, "InternalErrorException");
    assert!(
        !message.to_lowercase().contains("connect"),
        "no internal detail leaks: {message}"
    );
    assert!(
        !message.to_lowercase().contains("postgres"),
        "no internal detail leaks: {message}"
    );

    cluster.start_server().await.expect("start postgres");
    let mut ready = false;
    for _ in 0..50 {
        if status_of(&app, "/readyz").await == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "readiness returns once the database is back");
    let described = describe_pool(&app.client, &pool).send().await.unwrap();
    assert_eq!(
        described.identity_pool_name, "survivor",
        "nothing committed was lost"
    );
}

/// The status of a GET of `path` on the API port.
async fn status_of(app: &TestApp, path: &str) -> reqwest::StatusCode {
    let url = format!("{}{path}", app.address);
    app.http.get(url).send().await.unwrap().status()
}

async fn ready(app: &TestApp) -> bool {
    app.http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

#[tokio::test]
async fn a_call_made_while_the_database_is_away_waits_and_succeeds_once_it_is_back() {
    let _serial = SERIAL.lock().await;
    let app = Arc::new(spawn_app_with(|s| s.database.failover_wait_seconds = 20).await);
    let pool = app.create_pool("waiting").await;
    let cluster = cognate_tests::pg::cluster().await;
    cluster.stop_server().await.expect("stop postgres");
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (app, pool) = (app.clone(), pool.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let guest = app.client.get_id().identity_pool_id(&pool).send().await;
                (guest.map(|g| g.identity_id), started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !ready(&app).await,
        "not ready while no database is reachable"
    );
    let restarted = Instant::now();
    cluster.start_server().await.expect("start postgres");
    let mut back = None;
    while restarted.elapsed() < Duration::from_secs(10) {
        if ready(&app).await {
            back = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = back.expect("ready again once the database is back");
    let mut ids = Vec::new();
    for call in calls {
        let (identity, waited) = call.await.unwrap();
        let identity = identity.expect("a call made during the outage succeeds after it");
        eprintln!("MEASURED: a GetId made during the outage answered after {waited:?}");
        ids.push(identity.expect("an identity id"));
    }
    eprintln!("MEASURED: ready again {back:?} after the database was started");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four calls, four identities");
    let listed = app.identity_ids(&pool).await;
    for id in &ids {
        assert!(listed.contains(id), "every identity answered was committed");
    }
}

/// A TCP proxy to the test cluster's Unix socket that can cut one
/// connection right after forwarding a chosen piece of a statement: the
/// server gets (and runs) it, the client never hears back.
struct CuttingProxy {
    url: String,
    cut_after: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    async fn start(database_url: &str) -> CuttingProxy {
        let config: tokio_postgres::Config = database_url.parse().expect("a database URL");
        let socket = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Unix(dir) => {
                dir.join(format!(".s.PGSQL.{}", config.get_ports()[0]))
            }
            other => panic!("the test cluster listens on a socket, not {other:?}"),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let password = String::from_utf8(config.get_password().unwrap().to_vec()).unwrap();
        let url = format!(
            "postgres://{}:{}@127.0.0.1:{port}/{}",
            config.get_user().unwrap(),
            password,
            config.get_dbname().unwrap()
        );
        let cut_after: Arc<std::sync::Mutex<Option<Vec<u8>>>> = Arc::default();
        let cut = Arc::new(AtomicBool::new(false));
        let (armed, done) = (cut_after.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::UnixStream::connect(&socket).await else {
                    continue;
                };
                let (armed, done) = (armed.clone(), done.clone());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let stop = Arc::new(tokio::sync::Notify::new());
                    let down = {
                        let stop = stop.clone();
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                tokio::select! {
                                    () = stop.notified() => return,
                                    read = server_read.read(&mut buf) => match read {
                                        Ok(0) | Err(_) => return,
                                        Ok(n) => if client_write.write_all(&buf[..n]).await.is_err() { return },
                                    },
                                }
                            }
                        })
                    };
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        let hit = {
                            let mut armed = armed.lock().unwrap();
                            let hit = armed.as_ref().is_some_and(|needle| {
                                buf[..n]
                                    .windows(needle.len())
                                    .any(|w| w == needle.as_slice())
                            });
                            if hit {
                                *armed = None;
                            }
                            hit
                        };
                        if hit {
                            // The statement is with the server; its answer never
                            // reaches the client.
                            stop.notify_one();
                            done.store(true, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            break;
                        }
                    }
                    stop.notify_one();
                    let _ = down.await;
                });
            }
        });
        CuttingProxy {
            url,
            cut_after,
            cut,
        }
    }

    /// Cut the next connection that sends `needle`, right after sending it.
    fn arm(&self, needle: &[u8]) {
        *self.cut_after.lock().unwrap() = Some(needle.to_vec());
        self.cut.store(false, Ordering::SeqCst);
    }

    fn was_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_commit_cut_short_is_looked_up_and_answered_as_it_ended() {
    let _serial = SERIAL.lock().await;
    let database_url = cognate_tests::pg::cluster()
        .await
        .fresh_database(|url| async move { cognate_store::migrate::run(&url).await.map(|_| ()) })
        .await
        .expect("fresh test database");
    let proxy = CuttingProxy::start(&database_url).await;
    let app = helpers::spawn_app_on(proxy.url.clone(), |s| {
        s.database.failover_wait_seconds = 15;
    })
    .await;
    let pool = app.create_pool("cut").await;
    app.guest(&pool).await;

    // A transaction that wrote: its COMMIT reaches the server, the answer
    // does not. The pool exists once, and the caller is told so.
    proxy.arm(b"COMMIT");
    let created = create_pool_request(&app.client, "committed-unheard", true)
        .send()
        .await;
    assert!(proxy.was_cut(), "the proxy cut the COMMIT's connection");
    let created = created.expect("a commit that happened is answered as done");
    let listed = list_pools(&app.client, 60).send().await.unwrap();
    let named: Vec<_> = listed
        .identity_pools()
        .iter()
        .filter(|p| p.identity_pool_name() == Some("committed-unheard"))
        .collect();
    assert_eq!(named.len(), 1, "exactly one pool, not a second on retry");
    assert_eq!(
        named[0].identity_pool_id(),
        Some(created.identity_pool_id.as_str())
    );

    // A guest GetId, one statement (its own commit): cut right after the
    // insert is sent. The identity answered is the one committed.
    let before = app.identity_ids(&pool).await.len();
    proxy.arm(pool.as_bytes());
    let guest = app.guest(&pool).await;
    assert!(proxy.was_cut(), "the proxy cut the insert's connection");
    let after = app.identity_ids(&pool).await;
    assert_eq!(
        after.len(),
        before + 1,
        "one identity, not a second on retry"
    );
    assert!(after.contains(&guest));
}
