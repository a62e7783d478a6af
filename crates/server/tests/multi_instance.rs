//! Many instances, one service (DESIGN.md, "Scale-out"): two real
//! `cognate serve` processes on one PostgreSQL share migrations, signing
//! keys, identities and quotas, and survive a crash and a rolling restart.
//!
//! Every test starts its own pair of processes on a fresh, empty database
//! of this test process's PostgreSQL cluster (`cognate_tests::pg`). The
//! tests run one at a time: they put load on the same cores. They assert on
//! counts, never on latency; the throughput test only prints its figures.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentity::Client;
use cognate_tests::serve::{free_port, temp_dir};
use common::{account_toml, empty_database, get, json_call, kid_of, sdk_without_retries};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");

/// The binary under test: this package's build, or `COGNATE_TEST_BINARY`
/// (e.g. a release build, for throughput figures worth quoting).
fn binary() -> String {
    std::env::var("COGNATE_TEST_BINARY").unwrap_or_else(|_| BIN.to_owned())
}

/// The issuer both instances put in their tokens (as behind one load balancer).
const ISSUER: &str = "http://cognate.multi.test";
const DEVELOPER_PROVIDER: &str = "login.multi.test";
const ACCESS_KEY_A: &str = "AKIAMULTIACCOUNTA001";
const SECRET_KEY_A: &str = "multi-instance-test-secret-account-a-0001";
/// Account B has a small GetId quota: 10/s, burst 10.
const ACCESS_KEY_B: &str = "AKIAMULTIACCOUNTB001";
const SECRET_KEY_B: &str = "multi-instance-test-secret-account-b-0001";
const QUOTA_B_GET_ID: f64 = 10.0;
/// New keys sign this long after `keys rotate` publishes them.
const PUBLISH_AHEAD_SECONDS: u64 = 8;
const REFRESH_SECONDS: u64 = 1;

/// Concurrency of the load runs (each worker has one call in flight).
const WORKERS: usize = 8;

/// One test at a time (a tokio mutex: each test has its own runtime).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One `cognate serve` process (or none, while it is stopped).
struct Instance {
    name: &'static str,
    /// `127.0.0.1:<port>`; the same across restarts.
    addr: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn start(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = cognate(&self.config, &["serve"]);
        cmd.stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("spawn cognate serve"));
    }

    /// Wait until `/readyz` answers 200; panics (with the log) if the
    /// process exits or is not ready within a minute.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let started = Instant::now();
        loop {
            if let Ok(resp) = http.get(format!("{}/readyz", self.url())).send().await {
                if resp.status() == 200 {
                    return;
                }
            }
            let child = self.child.as_mut().expect("started");
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "instance {} exited with {status} before it was ready:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "instance {} not ready within 60 s:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().expect("pid");
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Send `signal` and wait (at most 30 s) for the process to exit.
    async fn stop(&mut self, signal: &str) -> ExitStatus {
        self.signal(signal);
        let mut child = self.child.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap_or_else(|_| panic!("instance {} did not exit on SIG{signal}", self.name))
            .unwrap()
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn cognate(config: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("--config").arg(config).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("COGNATE") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn").stdin(Stdio::null());
    cmd
}

/// Two instances (not started) on a fresh, empty database.
struct Deployment {
    _dir: tempfile::TempDir,
    database_url: String,
    instances: [Instance; 2],
    http: reqwest::Client,
}

fn config_toml(port: u16, database_url: &str) -> String {
    // Every operation of the model unlimited, so load is not throttled.
    let quotas: String = cognate_api::validation::Model::embedded()
        .operation_names()
        .map(|op| format!("{op} = 0\n"))
        .collect();
    let account_a = account_toml("111111111111", ACCESS_KEY_A, SECRET_KEY_A, "");
    let account_b = account_toml(
        "222222222222",
        ACCESS_KEY_B,
        SECRET_KEY_B,
        &format!("quotas = {{ GetId = {QUOTA_B_GET_ID} }}\n"),
    );
    format!(
        r#"[server]
bind = "127.0.0.1:{port}"
# Two instances on one host: each its own free management port.
management_bind = "127.0.0.1:0"
public_url = "{ISSUER}"
workers = 2
shutdown_timeout_seconds = 10

[database]
url = "{database_url}"
max_connections = 8

{account_a}
{account_b}
[tokens]
publish_ahead_seconds = {PUBLISH_AHEAD_SECONDS}
refresh_seconds = {REFRESH_SECONDS}

[quotas]
{quotas}
[log]
level = "warn"
"#
    )
}

/// The serial lock held, and a deployment with both instances started.
async fn running() -> (tokio::sync::MutexGuard<'static, ()>, Deployment) {
    let serial = SERIAL.lock().await;
    let mut d = deployment().await;
    d.start_both().await;
    (serial, d)
}

async fn deployment() -> Deployment {
    // An empty database: the instances migrate it themselves.
    let database_url = empty_database().await;
    let dir = temp_dir("cognate-multi-");
    let instances = ["a", "b"].map(|name| {
        let config = dir.path().join(format!("{name}.toml"));
        fs::write(&config, config_toml(free_port(), &database_url)).unwrap();
        let addr = {
            let text = fs::read_to_string(&config).unwrap();
            let line = text.lines().find(|l| l.starts_with("bind")).unwrap();
            line.split('"').nth(1).unwrap().to_owned()
        };
        Instance {
            name,
            addr,
            config,
            log: dir.path().join(format!("{name}.log")),
            child: None,
        }
    });
    Deployment {
        _dir: dir,
        database_url,
        instances,
        http: cognate_tests::http_client()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
    }
}

impl Deployment {
    /// Start both at the same moment and wait until both are ready.
    async fn start_both(&mut self) {
        for instance in &mut self.instances {
            instance.start();
        }
        let http = self.http.clone();
        let [a, b] = &mut self.instances;
        tokio::join!(a.wait_ready(&http), b.wait_ready(&http));
    }

    fn urls(&self) -> Vec<String> {
        self.instances.iter().map(Instance::url).collect()
    }

    fn sdk(&self, i: usize, access_key: &str, secret: &str) -> Client {
        sdk_without_retries(
            &self.instances[i].url(),
            access_key,
            secret,
            "multi-instance",
        )
    }

    /// Account A's client on instance `i`.
    fn client(&self, i: usize) -> Client {
        self.sdk(i, ACCESS_KEY_A, SECRET_KEY_A)
    }

    /// A pool of account A created through instance `i`: guests allowed,
    /// the basic flow on, a developer provider.
    async fn create_pool(&self, client: &Client) -> String {
        client
            .create_identity_pool()
            .identity_pool_name("multi")
            .allow_unauthenticated_identities(true)
            .allow_classic_flow(true)
            .developer_provider_name(DEVELOPER_PROVIDER)
            .send()
            .await
            .expect("create pool")
            .identity_pool_id
    }

    /// A pool made through A, and GetId load on it from `WORKERS` tasks
    /// over both instances: the balancer and the run.
    async fn load_on_a_new_pool(&self) -> (Arc<Balancer>, tokio::task::JoinHandle<Vec<Record>>) {
        let pool = self.create_pool(&self.client(0)).await;
        let balancer = Balancer::new(self.urls());
        let load = start_load(&self.http, &balancer, &pool, WORKERS);
        (balancer, load)
    }

    async fn jwks(&self, i: usize) -> Value {
        let url = format!("{}/.well-known/jwks_uri", self.instances[i].url());
        let response = get(&self.http, &url).await;
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let body = response.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "GET {url}: {status} {headers} {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap()
    }

    /// A guest identity and its OpenID token, both from instance `i`.
    async fn guest_token(&self, i: usize, pool: &str) -> String {
        let url = &self.instances[i].url();
        let id = match call(&self.http, url, "GetId", json!({ "IdentityPoolId": pool })).await {
            Outcome::Ok(v) => v["IdentityId"].as_str().unwrap().to_owned(),
            other => panic!("GetId on {url}: {other:?}"),
        };
        match call(
            &self.http,
            url,
            "GetOpenIdToken",
            json!({ "IdentityId": id }),
        )
        .await
        {
            Outcome::Ok(v) => v["Token"].as_str().unwrap().to_owned(),
            other => panic!("GetOpenIdToken on {url}: {other:?}"),
        }
    }
}

/// What one unsigned JSON 1.1 call came to.
#[derive(Debug, Clone)]
enum Outcome {
    Ok(Value),
    /// An HTTP answer other than 200: status and `__type`.
    Refused(u16, String),
    /// No HTTP answer: refused, reset or closed connection, timeout.
    Connection(String),
}

async fn call(http: &reqwest::Client, url: &str, operation: &str, body: Value) -> Outcome {
    let sent = json_call(http, url, operation, &body).send().await;
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => return Outcome::Connection(format!("{e:?}")),
    };
    let status = resp.status().as_u16();
    match resp.json::<Value>().await {
        Ok(v) if status == 200 => Outcome::Ok(v),
        Ok(v) => Outcome::Refused(status, v["__type"].as_str().unwrap_or("").to_owned()),
        Err(e) => Outcome::Connection(format!("reading the answer: {e:?}")),
    }
}

/// Verify `token` (from either instance) with the key its `kid` names in `jwks`.
fn verify(token: &str, jwks: &Value, pool: &str) -> Result<Value, String> {
    common::verify(token, jwks, ISSUER, pool)
}

fn published(jwks: &Value, kid: &str) -> bool {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == kid)
}

/// One request of a load run.
#[derive(Debug)]
struct Record {
    instance: usize,
    /// Whether the instance was being stopped (or was stopped) when the
    /// answer or the error came.
    stopping: bool,
    outcome: Outcome,
    /// When the answer or the error came.
    at: Instant,
}

/// The load balancer of the load runs: round-robin over the instances in
/// rotation; `stopping` marks an instance an operator is stopping.
struct Balancer {
    urls: Vec<String>,
    in_rotation: [AtomicBool; 2],
    stopping: [AtomicBool; 2],
    next: AtomicUsize,
    stop: AtomicBool,
}

impl Balancer {
    fn new(urls: Vec<String>) -> Arc<Balancer> {
        Arc::new(Balancer {
            urls,
            in_rotation: [AtomicBool::new(true), AtomicBool::new(true)],
            stopping: [AtomicBool::new(false), AtomicBool::new(false)],
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// An operator starts stopping instance `i`: it leaves the rotation.
    fn take_out(&self, i: usize) {
        self.stopping[i].store(true, Ordering::SeqCst);
        self.in_rotation[i].store(false, Ordering::SeqCst);
    }

    /// Instance `i` runs again: back in the rotation.
    fn put_back(&self, i: usize) {
        self.in_rotation[i].store(true, Ordering::SeqCst);
        self.stopping[i].store(false, Ordering::SeqCst);
    }

    /// Stop the load run `load` and collect what it recorded.
    async fn finish(&self, load: tokio::task::JoinHandle<Vec<Record>>) -> Vec<Record> {
        self.stop.store(true, Ordering::SeqCst);
        load.await.unwrap()
    }

    fn pick(&self) -> usize {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len();
            if self.in_rotation[i].load(Ordering::SeqCst) {
                return i;
            }
        }
    }
}

/// Closed-loop GetId load from `workers` tasks until `balancer.stop`.
fn start_load(
    http: &reqwest::Client,
    balancer: &Arc<Balancer>,
    pool: &str,
    workers: usize,
) -> tokio::task::JoinHandle<Vec<Record>> {
    let records = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (http, balancer, records) = (http.clone(), balancer.clone(), records.clone());
            let body = json!({ "IdentityPoolId": pool });
            tokio::spawn(async move {
                while !balancer.stop.load(Ordering::SeqCst) {
                    let i = balancer.pick();
                    let outcome = call(&http, &balancer.urls[i], "GetId", body.clone()).await;
                    let stopping = balancer.stopping[i].load(Ordering::SeqCst);
                    records.lock().unwrap().push(Record {
                        instance: i,
                        stopping,
                        outcome,
                        at: Instant::now(),
                    });
                }
            })
        })
        .collect();
    tokio::spawn(async move {
        for task in tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(records).unwrap().into_inner().unwrap()
    })
}

/// GetId calls answered per second over `seconds` at concurrency 16.
async fn get_id_rate(d: &Deployment, urls: Vec<String>, pool: &str, seconds: f64) -> f64 {
    let balancer = Balancer::new(urls);
    let started = Instant::now();
    let load = start_load(&d.http, &balancer, pool, 16);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let records = balancer.finish(load).await;
    let elapsed = started.elapsed().as_secs_f64();
    let failed: Vec<_> = records
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Ok(_)))
        .collect();
    assert!(failed.is_empty(), "every call succeeds: {failed:?}");
    records.len() as f64 / elapsed
}

#[tokio::test]
async fn two_instances_started_at_the_same_moment_on_an_empty_database_both_serve_and_migrate_it_once(
) {
    let (_serial, mut d) = running().await;

    let (client, connection) = tokio_postgres::connect(&d.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT version) FROM refinery_schema_history",
            &[],
        )
        .await
        .unwrap();
    let (rows, versions): (i64, i64) = (row.get(0), row.get(1));
    let files = fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sql")
        })
        .count() as i64;
    assert_eq!(versions, files, "every migration is applied");
    assert_eq!(rows, versions, "each migration is applied once");

    // One service: a pool made through A is seen through B.
    let pool = d.create_pool(&d.client(0)).await;
    let described = d
        .client(1)
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .expect("B describes A's pool");
    assert_eq!(described.identity_pool_id, pool);
    for instance in &mut d.instances {
        let status = instance.stop("TERM").await;
        assert!(status.success(), "{}: {status}", instance.name);
    }
}

#[tokio::test]
async fn a_token_from_one_instance_verifies_against_the_other_and_a_rotation_switches_both_at_once()
{
    let (_serial, d) = running().await;
    let pool = d.create_pool(&d.client(0)).await;

    let token = d.guest_token(0, &pool).await;
    let claims = verify(&token, &d.jwks(1).await, &pool).expect("A's token verifies with B's JWKS");
    assert_eq!(claims["aud"], pool.as_str());
    let old_kid = kid_of(&token);
    assert_eq!(
        kid_of(&d.guest_token(1, &pool).await),
        old_kid,
        "one key signs"
    );

    // A third process rotates the key through the database.
    let rotate_started = Instant::now();
    let out = cognate(&d.instances[0].config, &["keys", "rotate"])
        .output()
        .await
        .unwrap();
    let rotated = Instant::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let new_kid = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("new signing key "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    assert_ne!(new_kid, old_kid);
    // It activates PUBLISH_AHEAD_SECONDS after it was stored, which was
    // between `rotate_started` and `rotated`.
    let ahead = Duration::from_secs(PUBLISH_AHEAD_SECONDS);
    let (earliest_activation, latest_activation) = (rotate_started + ahead, rotated + ahead);

    // Both publish it within refresh_seconds (plus the polling step).
    let mut seen = [None, None];
    while seen.iter().any(Option::is_none) {
        for (i, when) in seen.iter_mut().enumerate() {
            if when.is_none() && published(&d.jwks(i).await, &new_kid) {
                *when = Some(rotated.elapsed());
            }
        }
        assert!(
            rotated.elapsed() < Duration::from_secs(REFRESH_SECONDS + 2),
            "both instances publish the new key within refresh_seconds: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "new key published by A after {:?}, by B after {:?}",
        seen[0], seen[1]
    );

    // Until it activates, both still sign with the old key...
    let margin = Duration::from_millis(1500);
    let mut before = 0;
    while Instant::now() + margin < earliest_activation {
        for i in 0..2 {
            let token = d.guest_token(i, &pool).await;
            assert_eq!(kid_of(&token), old_kid, "instance {i} before activation");
            before += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(before > 0, "some tokens were minted before the activation");
    // ...and once it has, both sign with the new one, verifiable with the other's JWKS.
    tokio::time::sleep_until((latest_activation + margin).into()).await;
    for round in 0..5 {
        for i in 0..2 {
            let token = d.guest_token(i, &pool).await;
            assert_eq!(
                kid_of(&token),
                new_kid,
                "instance {i} after activation, round {round}"
            );
            verify(&token, &d.jwks(1 - i).await, &pool).expect("verifies with the other's JWKS");
        }
    }
}

#[tokio::test]
async fn a_hundred_concurrent_first_logins_of_one_developer_user_over_both_instances_make_one_identity(
) {
    let (_serial, d) = running().await;
    let clients = [d.client(0), d.client(1)];
    let pool = d.create_pool(&clients[0]).await;

    let logins = (0..100).map(|n| {
        let client = clients[n % 2].clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            client
                .get_open_id_token_for_developer_identity()
                .identity_pool_id(pool)
                .logins(DEVELOPER_PROVIDER, "alice@multi.test")
                .send()
                .await
        })
    });
    let mut ids = HashSet::new();
    for login in futures::future::join_all(logins).await {
        let answer = login.unwrap().expect("every first login succeeds");
        ids.insert(answer.identity_id.expect("identity id"));
    }
    assert_eq!(ids.len(), 1, "one identity: {ids:?}");
    let listed = clients[1]
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.identities().len(), 1, "{listed:?}");
}

#[tokio::test]
async fn killing_one_instance_mid_load_loses_no_identity_it_answered_and_the_other_keeps_serving() {
    let (_serial, mut d) = running().await;
    let (balancer, load) = d.load_on_a_new_pool().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The balancer stops sending A new calls as A dies (as a health check
    // would notice): the calls in flight on A are the ones that may fail.
    balancer.take_out(0);
    let status = d.instances[0].stop("KILL").await;
    assert!(!status.success());
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let records = balancer.finish(load).await;

    let mut answered_by_a = Vec::new();
    let (mut b_after_kill, mut a_lost) = (0, 0);
    for r in &records {
        match (&r.outcome, r.instance) {
            (Outcome::Ok(v), 0) => answered_by_a.push(v["IdentityId"].as_str().unwrap().to_owned()),
            (Outcome::Ok(_), _) => b_after_kill += usize::from(r.at > killed),
            (Outcome::Connection(_), 0) if r.stopping => a_lost += 1,
            (other, i) => panic!(
                "instance {i} (stopping: {}) failed a call: {other:?}",
                r.stopping
            ),
        }
    }
    eprintln!(
        "kill: {} calls, {} answered by A before the kill, {a_lost} in flight on A lost",
        records.len(),
        answered_by_a.len()
    );
    assert!(
        !answered_by_a.is_empty(),
        "A answered calls before it was killed"
    );
    assert!(b_after_kill > 0, "B kept serving after A was killed");
    assert!(a_lost <= WORKERS, "only calls in flight on A failed");

    // Every identity A answered with is committed: B describes each one.
    let b = d.client(1);
    for id in &answered_by_a {
        let described = b
            .describe_identity()
            .identity_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("identity {id} answered by A is lost: {e:?}"));
        assert_eq!(described.identity_id.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn a_rolling_restart_under_load_fails_only_calls_in_flight_on_the_instance_being_stopped() {
    let (_serial, mut d) = running().await;
    let (balancer, load) = d.load_on_a_new_pool().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    for i in 0..2 {
        // The balancer takes the instance out of rotation as the operator
        // sends SIGTERM (a Kubernetes endpoint removal races the signal the
        // same way): only calls already in flight on it may fail.
        balancer.take_out(i);
        let status = d.instances[i].stop("TERM").await;
        assert!(
            status.success(),
            "instance {i} exits cleanly on SIGTERM: {status}"
        );
        d.instances[i].start();
        let http = d.http.clone();
        d.instances[i].wait_ready(&http).await;
        balancer.put_back(i);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let records = balancer.finish(load).await;

    let (mut ok, mut allowed) = ([0; 2], Vec::new());
    let mut failures = Vec::new();
    for r in &records {
        match &r.outcome {
            Outcome::Ok(_) => ok[r.instance] += 1,
            Outcome::Connection(e) if r.stopping => allowed.push(e),
            other => failures.push((r.instance, r.stopping, other.clone())),
        }
    }
    eprintln!(
        "rolling restart: {} calls, {} by A, {} by B, {} connection errors on the instance being stopped {:?}",
        records.len(),
        ok[0],
        ok[1],
        allowed.len(),
        allowed.first()
    );
    assert!(
        failures.is_empty(),
        "calls that failed: {failures:?}\nlog of A:\n{}\nlog of B:\n{}",
        d.instances[0].log_text(),
        d.instances[1].log_text()
    );
    assert!(
        allowed.len() <= 2 * WORKERS,
        "at most the calls in flight on each stopping instance fail: {allowed:?}"
    );
    assert!(ok[0] > 0 && ok[1] > 0);
}

#[tokio::test]
async fn a_get_id_quota_holds_across_both_instances() {
    let (_serial, d) = running().await;
    // Account B: GetId = 10/s (burst 10) for all instances together.
    let pool = d.create_pool(&d.sdk(0, ACCESS_KEY_B, SECRET_KEY_B)).await;

    let balancer = Balancer::new(d.urls());
    let started = Instant::now();
    let load = start_load(&d.http, &balancer, &pool, 8);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = balancer.finish(load).await;
    let elapsed = started.elapsed().as_secs_f64();

    let (mut admitted, mut refused) = ([0usize; 2], [0usize; 2]);
    for r in &records {
        match &r.outcome {
            Outcome::Ok(_) => admitted[r.instance] += 1,
            Outcome::Refused(400, kind) if kind.ends_with("TooManyRequestsException") => {
                refused[r.instance] += 1
            }
            other => panic!("instance {}: {other:?}", r.instance),
        }
    }
    let total = (admitted[0] + admitted[1]) as f64;
    let expected = QUOTA_B_GET_ID * elapsed;
    eprintln!(
        "quota 10/s over {elapsed:.2} s: admitted A {} B {} (total {total}), refused A {} B {}",
        admitted[0], admitted[1], refused[0], refused[1]
    );
    let burst = QUOTA_B_GET_ID;
    assert!(
        total <= burst + 1.2 * expected,
        "at most burst + rate × t (+20 %) in all: {total} > {}",
        burst + 1.2 * expected
    );
    assert!(
        total >= 0.8 * expected - burst,
        "the quota is not starved: {total} < {}",
        0.8 * expected - burst
    );
    assert!(
        refused[0] > 0 && refused[1] > 0,
        "both instances refuse over quota"
    );
}

#[tokio::test]
async fn get_id_throughput_of_one_and_of_two_instances_is_measured_and_every_call_succeeds() {
    let (_serial, d) = running().await;
    let pool = d.create_pool(&d.client(0)).await;
    let urls = d.urls();
    // Warm both up (connections, the owner caches).
    get_id_rate(&d, urls.clone(), &pool, 0.5).await;
    let one = get_id_rate(&d, vec![urls[0].clone()], &pool, 3.0).await;
    let two = get_id_rate(&d, urls, &pool, 3.0).await;
    eprintln!(
        "GetId throughput, closed loop at concurrency 16: one instance {one:.0}/s, \
         two instances {two:.0}/s ({:.2}×)",
        two / one
    );
}
