//! The container image and the compose example (`deploy/compose`), for
//! real: Debian base images made from Debian's packages (mmdebstrap, then
//! `podman import`; no registry), Cognate's image built from this build's
//! binary (`deploy/container/Containerfile`, target `prebuilt`), then
//! `podman-compose up` of PostgreSQL, the migration step, two replicas and
//! HAProxy terminating TLS. Through the balancer only, over HTTPS trusting
//! nothing but the example's generated CA, it proves: both replicas serve
//! (the replica the balancer names answered, as its own /metrics confirm);
//! the AWS SDK creates a pool and runs GetId and GetOpenIdToken; tokens
//! minted by each replica verify against the JWKS found by discovery; on
//! the containers: Cognate runs as uid 10001, the image's health check
//! reports healthy, the migration step applied every migration once and
//! exited 0; and with one replica stopped every call is served by the
//! other, which it rejoins when started.
//!
//! Needs root, podman (with runc, netavark, aardvark-dns, iptables),
//! podman-compose, mmdebstrap, openssl and Debian's package mirror: a
//! missing tool skips the test, or fails it under `COGNATE_REQUIRE_ALL=1`
//! (`.ci/run` installs them). It points `CONTAINERS_CONF` at its own
//! containers.conf (runc, cgroupfs, file events, fixed ulimits) and removes
//! every container, network, volume and image it made, also on failure.
//! Every command has a time limit. It takes 1.5 to 4.5 minutes on two
//! cores, most of it in mmdebstrap (which needs Debian's package mirror).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_smithy_http_client::tls;
use cognate_tests::serve::free_port;
use common::{get, guest_pool, json_call, sdk_config};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");
/// The account of deploy/compose/cognate.toml.
const ACCESS_KEY: &str = "AKIACOMPOSEEXAMPLE01";
/// The uid/gid the image runs Cognate as.
const COGNATE_UID: &str = "10001";

const CONTAINERS_CONF: &str = r#"# Written by crates/server/tests/containers.rs.
[containers]
# The sandbox cannot raise limits; podman's defaults would try to.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# crun fails on hybrid cgroup hosts; runc works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the container test needs root (rootful podman, mmdebstrap)".into());
    }
    let tools = ["podman", "podman-compose", "mmdebstrap", "openssl", "runc"];
    let mut absent: Vec<&str> = tools.into_iter().filter(|t| !on_path(t)).collect();
    if !on_path("netavark") && !Path::new("/usr/lib/podman/netavark").is_file() {
        absent.push("netavark");
    }
    (!absent.is_empty()).then(|| {
        format!(
            "not installed: {} (apt-get install --no-install-recommends podman runc netavark \
             aardvark-dns iptables podman-compose mmdebstrap openssl)",
            absent.join(", ")
        )
    })
}

/// The Debian release to build the images from: the host's, so that the
/// host-built binary finds the glibc it was linked against.
fn debian_release() -> String {
    let os = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |name: &str| {
        os.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_owned())
    };
    match (field("ID").as_deref(), field("VERSION_CODENAME")) {
        (Some("debian"), Some(codename)) if !codename.is_empty() => codename,
        _ => "bookworm".into(),
    }
}

/// A command running in its own process group, its output in files.
struct Job {
    what: String,
    child: std::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
    deadline: Instant,
}

impl Job {
    /// Wait for it; on timeout kill its whole process group. Returns its
    /// standard output, or an error naming the command, the cause and the
    /// tail of its output.
    fn wait(mut self) -> Result<String, String> {
        loop {
            let status = self.child.try_wait().unwrap();
            let timed_out = status.is_none() && Instant::now() >= self.deadline;
            if timed_out {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", self.child.id())])
                    .status();
                let _ = self.child.wait();
            }
            if status.is_some() || timed_out {
                let out = fs::read_to_string(&self.stdout).unwrap_or_default();
                let err = fs::read_to_string(&self.stderr).unwrap_or_default();
                return match status {
                    Some(status) if status.success() => Ok(out),
                    Some(status) => Err(format!(
                        "{} failed ({status}):\n{}\n{}",
                        self.what,
                        tail(&out),
                        tail(&err)
                    )),
                    None => Err(format!(
                        "{} timed out:\n{}\n{}",
                        self.what,
                        tail(&out),
                        tail(&err)
                    )),
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Everything the test made, removed when it ends (also on a panic).
struct Deployment {
    dir: tempfile::TempDir,
    conf: PathBuf,
    project: String,
    compose_dir: PathBuf,
    images: Vec<String>,
    env: BTreeMap<String, String>,
    logs: usize,
}

impl Deployment {
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("CONTAINERS_CONF", &self.conf)
            .envs(&self.env)
            .current_dir(&self.compose_dir)
            .stdin(Stdio::null());
        cmd
    }

    fn spawn(&mut self, program: &str, args: &[&str], timeout: Duration) -> Job {
        self.logs += 1;
        let stdout = self.dir.path().join(format!("{}-{program}.out", self.logs));
        let stderr = self.dir.path().join(format!("{}-{program}.err", self.logs));
        let mut cmd = self.command(program, args);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        Job {
            what: format!("{program} {}", args.join(" ")),
            child,
            stdout,
            stderr,
            deadline: Instant::now() + timeout,
        }
    }

    fn run(&mut self, program: &str, args: &[&str], timeout: Duration) -> Result<String, String> {
        self.spawn(program, args, timeout).wait()
    }

    #[track_caller]
    fn must(&mut self, program: &str, args: &[&str], timeout: Duration) -> String {
        self.run(program, args, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `podman <args>`'s standard output (60 s at most).
    #[track_caller]
    fn podman(&mut self, args: &[&str]) -> String {
        self.must("podman", args, Duration::from_secs(60))
    }

    /// The container compose made for `service`.
    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }

    fn inspect(&mut self, service: &str, format: &str) -> String {
        let name = self.container(service);
        self.podman(&["inspect", "--format", format, &name])
            .trim()
            .to_owned()
    }

    fn project_containers(&mut self) -> Vec<String> {
        let label = format!("label=io.podman.compose.project={}", self.project);
        let listed = self.run(
            "podman",
            &["ps", "-a", "--filter", &label, "--format", "{{.Names}}"],
            Duration::from_secs(60),
        );
        listed
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let short = Duration::from_secs(60);
        if std::thread::panicking() {
            for name in self.project_containers() {
                // Both streams: the service logs to stderr.
                let logs = format!("podman logs --tail 30 {name} 2>&1");
                if let Ok(log) = self.run("sh", &["-c", &logs], short) {
                    eprintln!("--- podman logs {name}:\n{log}");
                }
            }
        }
        let project = self.project.clone();
        if let Err(e) = self.run(
            "podman-compose",
            &["-p", &project, "down", "-v", "-t", "5"],
            Duration::from_secs(120),
        ) {
            eprintln!("cleanup: {e}");
        }
        // What `down` may leave: containers, its network (podman-compose
        // 1.0 keeps it), the volume, and the images.
        for name in self.project_containers() {
            let _ = self.run("podman", &["rm", "-f", "-t", "2", &name], short);
        }
        let network = format!("{project}_default");
        let volume = format!("{project}_pgdata");
        let _ = self.run("podman", &["network", "rm", "-f", &network], short);
        let _ = self.run("podman", &["volume", "rm", "-f", &volume], short);
        let images = self.images.clone();
        for image in images.iter().rev() {
            let _ = self.run("podman", &["rmi", "-f", image], short);
        }
    }
}

fn https_client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The AWS SDK, over HTTPS to the balancer, trusting only the example CA.
fn sdk(url: &str, secret: &str, ca_pem: &[u8]) -> aws_sdk_cognitoidentity::Client {
    let tls_context = tls::TlsContext::builder()
        .with_trust_store(
            tls::TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(ca_pem.to_vec()),
        )
        .build()
        .unwrap();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(tls_context)
        .build_https();
    let config = sdk_config(url, ACCESS_KEY, secret, "compose")
        .http_client(http_client)
        .build();
    aws_sdk_cognitoidentity::Client::from_conf(config)
}

/// An unsigned public call through the balancer: the answer and the
/// replica that served it.
async fn public_call(
    http: &reqwest::Client,
    url: &str,
    operation: &str,
    body: Value,
) -> (Value, String) {
    let resp = json_call(http, url, operation, &body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{operation}: {e:?}"));
    let replica = replica(&resp);
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{operation} on {replica}: {answer}");
    (answer, replica)
}

fn replica(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-cognate-replica")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Verify `token` with the key its `kid` names in `jwks`: its claims.
fn verify(token: &str, jwks: &Value, issuer: &str, pool: &str) -> Value {
    common::verify(token, jwks, issuer, pool)
        .unwrap_or_else(|e| panic!("the token does not verify: {e}"))
}

fn step(started: Instant, what: &str) {
    eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "current_thread")]
async fn compose_deployment_serves_through_the_tls_balancer() {
    if let Some(why) = missing() {
        cognate_tests::skip(&why);
        return;
    }
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("cognate-containers-")
        .tempdir()
        .unwrap();
    let conf = dir.path().join("containers.conf");
    fs::write(&conf, CONTAINERS_CONF).unwrap();

    // Names no other run uses.
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_micros();
    let tag = format!("t{}x{nonce}", std::process::id());
    let base = format!("localhost/cognate-test-base:{tag}");
    let services_base = format!("localhost/cognate-test-services-base:{tag}");
    let cognate_image = format!("localhost/cognate-test:{tag}");
    let services_image = format!("localhost/cognate-test-services:{tag}");
    let port = free_port();
    let url = format!("https://localhost:{port}");

    // The compose example, copied (it writes its secrets beside itself).
    let compose_dir = dir.path().join("compose");
    fs::create_dir(&compose_dir).unwrap();
    for entry in fs::read_dir(repo().join("deploy/compose")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), compose_dir.join(entry.file_name())).unwrap();
        }
    }
    let env = BTreeMap::from([
        ("COGNATE_IMAGE".to_owned(), cognate_image.clone()),
        ("COGNATE_SERVICES_IMAGE".to_owned(), services_image.clone()),
        ("DEBIAN_IMAGE".to_owned(), services_base.clone()),
        ("COGNATE_HTTPS_PORT".to_owned(), port.to_string()),
        ("COGNATE_PUBLIC_URL".to_owned(), url.clone()),
    ]);
    let mut d = Deployment {
        project: format!("cognatetest{tag}"),
        compose_dir: compose_dir.clone(),
        conf,
        // Removed in reverse order: images before the bases under them.
        images: vec![
            base.clone(),
            services_base.clone(),
            cognate_image.clone(),
            services_image.clone(),
        ],
        env,
        logs: 0,
        dir,
    };

    // 1. Two Debian bases from Debian's packages, built side by side: a
    // minimal one for Cognate, one with PostgreSQL, HAProxy and openssl.
    let release = debian_release();
    let bases = [
        // The binary links libxmlsec1 (SAML) besides libc.
        (
            "base.tar",
            "ca-certificates,libxmlsec1,libxmlsec1-openssl",
            &base,
        ),
        (
            "services-base.tar",
            "ca-certificates,postgresql,haproxy,openssl",
            &services_base,
        ),
    ];
    let mut jobs = Vec::new();
    for (tar, packages, _) in bases {
        let tar = d.dir.path().join(tar);
        let include = format!("--include={packages}");
        let args = [
            "--variant=minbase",
            &include,
            &release,
            tar.to_str().unwrap(),
        ];
        let job = d.spawn("mmdebstrap", &args, Duration::from_secs(600));
        jobs.push((tar, job));
    }
    // Both have ended before either's failure is reported.
    let built: Vec<_> = jobs
        .into_iter()
        .map(|(tar, job)| (tar, job.wait()))
        .collect();
    for (_, result) in &built {
        result.as_ref().unwrap_or_else(|e| panic!("{e}"));
    }
    for ((tar, _), (_, _, image)) in built.iter().zip(bases) {
        let import = ["import", tar.to_str().unwrap(), image];
        d.must("podman", &import, Duration::from_secs(120));
        fs::remove_file(tar).unwrap();
    }
    step(
        started,
        &format!("Debian {release} bases built and imported"),
    );

    // 2. Cognate's image from this build's binary (same glibc as the base).
    let context = d.dir.path().join("context");
    fs::create_dir(&context).unwrap();
    fs::copy(BIN, context.join("cognate")).unwrap();
    let containerfile = repo().join("deploy/container/Containerfile");
    d.must(
        "podman",
        &[
            "build",
            "--format",
            "docker",
            "--target",
            "prebuilt",
            "--build-arg",
            &format!("RUNTIME_IMAGE={base}"),
            "-t",
            &cognate_image,
            "-f",
            containerfile.to_str().unwrap(),
            context.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    fs::remove_dir_all(&context).unwrap();
    step(started, "Cognate image built (target prebuilt)");

    // 3. The README's commands: secrets and certificate, then up.
    d.must("sh", &["./generate-secrets.sh"], Duration::from_secs(60));
    let secrets = compose_dir.join("secrets");
    let ca_pem = fs::read(secrets.join("ca.pem")).unwrap();
    let secret = fs::read_to_string(secrets.join("account-secret-access-key")).unwrap();
    let project = d.project.clone();
    d.must(
        "podman-compose",
        &["-p", &project, "up", "-d"],
        Duration::from_secs(600),
    );
    step(started, "podman-compose up -d returned");

    // 4. Both replicas serve through the balancer.
    let http = https_client(&ca_pem);
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < 2 {
        if let Ok(resp) = http.get(format!("{url}/readyz")).send().await {
            if resp.status() == 200 {
                seen.insert(replica(&resp));
            }
        }
        assert!(
            Instant::now() < deadline,
            "not both replicas ready through the balancer within 120 s (seen: {seen:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        seen,
        BTreeSet::from(["cognate-1".to_owned(), "cognate-2".to_owned()])
    );
    step(started, "both replicas answer /readyz through the balancer");

    // 5. The AWS SDK over HTTPS: a signed CreateIdentityPool, then the
    // guest flow.
    let client = sdk(&url, secret.trim(), &ca_pem);
    let pool = guest_pool(&client, "compose")
        .send()
        .await
        .expect("CreateIdentityPool through the balancer")
        .identity_pool_id;
    let got_id = client.get_id().identity_pool_id(&pool).send().await;
    let identity = got_id.expect("GetId through the balancer").identity_id;
    let identity = identity.expect("an identity id");
    let get_token = client.get_open_id_token().identity_id(&identity);
    let token = get_token.send().await;
    let token = token.expect("GetOpenIdToken through the balancer").token;
    let token = token.expect("a token");

    // 6. The token verifies with the JWKS found from the issuer alone.
    let discovery: Value = get(&http, format!("{url}/.well-known/openid-configuration"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], url.as_str(), "{discovery}");
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    assert!(jwks_uri.starts_with(&url), "{jwks_uri}");
    let jwks: Value = get(&http, jwks_uri).await.json().await.unwrap();
    let claims = verify(&token, &jwks, &url, &pool);
    assert_eq!(claims["sub"], identity.as_str());
    step(
        started,
        "SDK: pool, GetId, GetOpenIdToken; the token verifies",
    );

    // 7. Each replica mints tokens that verify against that JWKS (the
    // keys are shared through PostgreSQL). Three calls a round, so that
    // round-robin gives both replicas GetOpenIdToken calls.
    let mut tokens_by: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..6 {
        let (answer, _) =
            public_call(&http, &url, "GetId", json!({ "IdentityPoolId": pool })).await;
        let id = answer["IdentityId"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            let (answer, by) =
                public_call(&http, &url, "GetOpenIdToken", json!({ "IdentityId": id })).await;
            let claims = verify(answer["Token"].as_str().unwrap(), &jwks, &url, &pool);
            assert_eq!(claims["sub"], id.as_str());
            *tokens_by.entry(by).or_default() += 1;
        }
    }
    assert_eq!(
        tokens_by.keys().cloned().collect::<BTreeSet<_>>(),
        seen,
        "GetOpenIdToken calls were not spread over both replicas: {tokens_by:?}"
    );
    // Each replica's own /metrics (management port, inside its container)
    // counts the calls the balancer said it served; the SDK's call went to
    // one of them.
    let mut counted = 0;
    for (replica, served) in &tokens_by {
        let name = d.container(replica);
        let metrics = d.podman(&[
            "exec",
            &name,
            "bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 10 cat <&3; true",
        ]);
        let count: u64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("cognate_requests_total{")
                    && l.contains(r#"operation="GetOpenIdToken""#)
                    && l.contains(r#"code="OK""#)
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert!(
            count >= *served,
            "{replica} counts {count} GetOpenIdToken calls, the balancer sent it {served}"
        );
        counted += count;
    }
    assert_eq!(
        counted,
        6 * 2 + 1,
        "GetOpenIdToken calls counted by the replicas"
    );
    step(started, "both replicas' tokens verify");

    // 8. On the containers: Cognate is uid 10001, the image's health check
    // says healthy, the migration step applied every migration and exited 0.
    for service in ["cognate-1", "cognate-2"] {
        let name = d.container(service);
        let status = d.podman(&["exec", &name, "cat", "/proc/1/status"]);
        for field in ["Uid:", "Gid:"] {
            let ids: Vec<&str> = status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .unwrap_or_else(|| panic!("no {field} in {status}"))
                .split_whitespace()
                .collect();
            assert!(
                ids.iter().all(|id| *id == COGNATE_UID),
                "{service} runs with {field} {ids:?}"
            );
        }
        let cmdline = d.podman(&["exec", &name, "cat", "/proc/1/cmdline"]);
        assert!(
            cmdline.starts_with("/usr/local/bin/cognate\0serve"),
            "{cmdline:?}"
        );
        // Podman runs health checks from systemd timers; without systemd
        // they run when asked.
        d.podman(&["healthcheck", "run", &name]);
        assert_eq!(d.inspect(service, "{{.State.Health.Status}}"), "healthy");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.inspect("migrate", "{{.State.Status}}") != "exited" {
        assert!(Instant::now() < deadline, "the migration step still runs");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(d.inspect("migrate", "{{.State.ExitCode}}"), "0");
    let migrations = fs::read_dir(repo().join("migrations"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with('V') && name.ends_with(".sql")
        })
        .count();
    let postgres = d.container("postgres");
    let applied = d.podman(&[
        "exec",
        &postgres,
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-h",
        "/tmp",
        "-d",
        "cognate",
        "-tAc",
        "SELECT count(*) || ' ' || count(DISTINCT version) FROM refinery_schema_history",
    ]);
    assert_eq!(applied.trim(), format!("{migrations} {migrations}"));
    step(started, "uid 10001, healthy, migrations applied once");

    // 9. One replica stopped: every call goes to the other (the balancer
    // retries a refused connection there and its probe takes the stopped
    // one out); started again, it serves again. No sticky sessions.
    let first = d.container("cognate-1");
    d.must(
        "podman",
        &["stop", "-t", "10", &first],
        Duration::from_secs(60),
    );
    for _ in 0..6 {
        let (_, by) = public_call(&http, &url, "GetId", json!({ "IdentityPoolId": pool })).await;
        assert_eq!(by, "cognate-2", "a stopped replica answered");
    }
    d.must("podman", &["start", &first], Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, by) = public_call(&http, &url, "GetId", json!({ "IdentityPoolId": pool })).await;
        if by == "cognate-1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cognate-1 not back in the balancer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    step(
        started,
        "a stopped replica is bypassed, and rejoins when started",
    );

    drop(d);
    step(started, "cleaned up");
}
