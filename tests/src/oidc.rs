//! A real upstream OpenID provider for end-to-end federation tests:
//! [panva/oidc-provider](https://github.com/panva/node-oidc-provider) run by
//! Node.js from `tests/support/oidc/` (see `server.mjs` there for what it
//! serves and the accounts and claims it knows).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use cognate_tests::oidc;
//!
//! if !oidc::node_available() {
//!     cognate_tests::skip("node is not installed");
//!     return Ok(());
//! }
//! // Issuer http://127.0.0.1:<port>: put it in an [[upstream]] override of
//! // accounts.google.com, or declare it as an [[oidc_providers]] url.
//! let idp = oidc::start(None).await?;
//! let token = idp.id_token("alice").await?; // iss = idp.issuer, aud = idp.client_id
//! assert_eq!(oidc::subject_of("alice").len(), 32);
//! // An issuer with a path, i.e. a provider name "127.0.0.1:<port>/realms/test":
//! let realm = oidc::start(Some("/realms/test")).await?;
//! let arn = format!("arn:aws:iam::000000000000:oidc-provider/{}", realm.provider_name());
//! # let _ = (token, arn); Ok(()) }
//! ```
//!
//! A confidential client as well, for a relying party that signs users in
//! with a browser (the console: code flow, `client_secret_basic`):
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use cognate_tests::oidc::{self, ConfidentialClient, OidcOptions};
//!
//! let idp = oidc::start_with(OidcOptions {
//!     confidential_clients: vec![ConfidentialClient {
//!         id: "console".into(),
//!         secret: "console-secret".into(),
//!         redirect_uri: "http://127.0.0.1:8080/console/callback".into(),
//!     }],
//!     ..OidcOptions::default()
//! })
//! .await?;
//! // Authorization endpoint <issuer>/auth: no login page, it signs in the
//! // `login_hint` account (default alice) at once; RP-initiated logout at
//! // <issuer>/session/end, back to http://127.0.0.1:8080/ (the redirect
//! // URI's origin + "/").
//! # let _ = idp; Ok(()) }
//! ```
//!
//! - `npm ci` runs once per machine (under a file lock shared by test
//!   processes) when `tests/support/oidc/node_modules` is missing or older
//!   than `package-lock.json`; it needs the npm registry.
//! - Each [`start`] runs its own `node server.mjs` on a free port (about
//!   half a second); the process ends when the [`OidcProvider`] is dropped
//!   and, failing that, when the test process is gone (it exits when its
//!   stdin, a pipe held here, closes).
//! - [`OidcProvider::id_token`] drives the authorization code flow with
//!   PKCE (S256) over plain HTTP, as a browser would (redirects followed by
//!   hand, cookies kept), then redeems the code at the token endpoint.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::Url;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The client the server registers unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "cognate-test-client";
/// The client's only redirect URI (never actually requested).
pub const REDIRECT_URI: &str = "http://127.0.0.1/cb";

/// How long one start may take to print `READY` (it takes about half a
/// second; a start that hangs is killed and tried again), how many starts
/// to try, and how long `npm ci` may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Lines of the server's output kept for error messages.
const LOG_LINES: usize = 200;

/// How to start the provider; [`start`] uses the defaults but the issuer.
#[derive(Debug, Clone)]
pub struct OidcOptions {
    /// The issuer: `None` for `http://127.0.0.1:<port>`; a path (`/realm`)
    /// for `http://127.0.0.1:<port>/realm`; or a URL, where `{port}` stands
    /// for the port (the server listens on 127.0.0.1 whatever the URL says).
    pub issuer: Option<String>,
    /// The client id (the tokens' `aud`).
    pub client_id: String,
    /// Id token lifetime.
    pub id_token_ttl: Duration,
    /// Names of extra claims [`OidcProvider::id_token_with_claims`] may set.
    pub extra_claim_names: Vec<String>,
    /// Confidential clients registered besides the public one (whose
    /// [`OidcProvider::id_token`] this harness drives).
    pub confidential_clients: Vec<ConfidentialClient>,
}

/// A confidential client of the provider (`--confidential-client` of
/// `server.mjs`): authorization code flow, `client_secret_basic` at the
/// token endpoint, RS256 id tokens, PKCE optional, `redirect_uri` its only
/// redirect URI and the redirect URI's origin + `/` its only
/// `post_logout_redirect_uri`. `id` and `secret` may not contain a comma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfidentialClient {
    /// Its `client_id` (the id tokens' `aud`).
    pub id: String,
    /// Its `client_secret`.
    pub secret: String,
    /// Where the provider sends the browser back with the code.
    pub redirect_uri: String,
}

impl Default for OidcOptions {
    fn default() -> Self {
        OidcOptions {
            issuer: None,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            id_token_ttl: Duration::from_secs(3600),
            extra_claim_names: Vec::new(),
            confidential_clients: Vec::new(),
        }
    }
}

/// A running oidc-provider; stops when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    /// Its issuer (the id tokens' `iss`), no trailing slash.
    pub issuer: String,
    /// Its client id (the id tokens' `aud`).
    pub client_id: String,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    authorization_endpoint: Url,
    token_endpoint: Url,
    child: Mutex<Child>,
    /// Held so that the server's stdin stays open while we live.
    _stdin: ChildStdin,
    logs: Arc<Mutex<VecDeque<String>>>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Whether `node` can be run (the tests that need it skip, with a note,
/// where it cannot).
pub fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `sub` the server gives the user who signs in as `user`.
pub fn subject_of(user: &str) -> String {
    let digest = Sha256::digest(format!("cognate-test:{user}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `tests/support/oidc`.
pub fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("support/oidc")
}

/// Start a provider with default options and the given issuer (see
/// [`OidcOptions::issuer`]).
pub async fn start(issuer_override: Option<&str>) -> Result<OidcProvider> {
    start_with(OidcOptions {
        issuer: issuer_override.map(str::to_owned),
        ..OidcOptions::default()
    })
    .await
}

/// Start a provider.
pub async fn start_with(options: OidcOptions) -> Result<OidcProvider> {
    if !node_available() {
        bail!(
            "node (Node.js >= 20.19) is not installed or not on PATH: the upstream OpenID \
             provider for the federation tests runs on it (apt-get install nodejs npm)"
        );
    }
    ensure_installed().await?;
    let mut failures = Vec::new();
    // Try again when a free port was taken between probing and binding,
    // or when node did not get as far as listening. The one such hang
    // seen (about one start in 150 under load: a Node 20 deadlock in the
    // key export, see server.mjs) is avoided there; should another appear,
    // the error says where each thread of the node process was waiting.
    for _ in 0..START_ATTEMPTS {
        match spawn(&options).await {
            Ok(provider) => {
                for failure in &failures {
                    eprintln!("the OpenID provider started after a failed attempt: {failure}");
                }
                return Ok(provider);
            }
            Err(e) if e.is::<NotReady>() || format!("{e:#}").contains("EADDRINUSE") => {
                failures.push(format!("{e:#}"));
            }
            Err(e) => return Err(e),
        }
    }
    bail!(
        "could not start the OpenID provider in {START_ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    )
}

/// One provider (default options) for every test of this process that
/// needs no special one: fewer node processes competing for the CPU with
/// the tests. It stops when the process exits (its stdin closes).
pub async fn shared() -> Result<&'static OidcProvider> {
    static SHARED: OnceCell<std::result::Result<OidcProvider, String>> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async { start(None).await.map_err(|e| format!("{e:#}")) })
        .await
        .as_ref()
        .map_err(|e| anyhow!(e.clone()))
}

/// `npm ci` once per process, and across processes under a lock, when
/// `node_modules` is missing or stale.
async fn ensure_installed() -> Result<()> {
    static INSTALLED: OnceCell<std::result::Result<(), String>> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| npm_ci(&support_dir()))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| format!("{e:#}")))
        })
        .await
        .clone()
        .map_err(|e| anyhow!(e))
}

/// `npm ci` in `dir` (a folder under tests/support with a package-lock.json)
/// unless its node_modules is current; serialised across processes with
/// flock, bounded in time.
pub fn npm_ci(dir: &std::path::Path) -> Result<()> {
    const SCRIPT: &str = r#"
if [ -f node_modules/.package-lock.json ] && [ ! node_modules/.package-lock.json -ot package-lock.json ]; then
  exit 0
fi
exec npm ci --no-audit --no-fund --loglevel=error
"#;
    let dir = dir.to_path_buf();
    let lock = std::env::temp_dir().join("cognate-tests-npm.lock");
    let has_flock = Command::new("flock")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut cmd = if has_flock {
        let mut c = Command::new("flock");
        c.arg(&lock).arg("sh");
        c
    } else {
        Command::new("sh")
    };
    let mut child = cmd
        .arg("-c")
        .arg(SCRIPT)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running npm ci in {}", dir.display()))?;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let output = child.wait_with_output()?;
            if !status.success() {
                bail!(
                    "npm ci in {} failed ({status}):\n{}{}",
                    dir.display(),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            return Ok(());
        }
        if started.elapsed() > INSTALL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "npm ci in {} took more than {INSTALL_TIMEOUT:?}",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("probing a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn spawn(options: &OidcOptions) -> Result<OidcProvider> {
    let port = free_port()?;
    let issuer = match options.issuer.as_deref() {
        None => format!("http://127.0.0.1:{port}"),
        Some(path) if path.starts_with('/') => format!("http://127.0.0.1:{port}{path}"),
        Some(url) => url.replace("{port}", &port.to_string()),
    };
    let issuer = issuer.trim_end_matches('/').to_owned();
    let mut cmd = Command::new("node");
    cmd.arg("server.mjs")
        .args(["--port", &port.to_string()])
        .args(["--issuer", &issuer])
        .args(["--client-id", &options.client_id])
        .args(["--ttl", &options.id_token_ttl.as_secs().max(1).to_string()]);
    if !options.extra_claim_names.is_empty() {
        cmd.args(["--claims", &options.extra_claim_names.join(",")]);
    }
    for client in &options.confidential_clients {
        if client.id.contains(',') || client.secret.contains(',') {
            bail!("a confidential client's id and secret may not contain a comma: {client:?}");
        }
        cmd.arg("--confidential-client").arg(format!(
            "{},{},{}",
            client.id, client.secret, client.redirect_uri
        ));
    }
    let mut child = cmd
        .current_dir(support_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting node server.mjs")?;
    let stdin = child.stdin.take().expect("piped stdin");
    let logs = Arc::new(Mutex::new(VecDeque::new()));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let ready_tx = Arc::new(Mutex::new(Some(ready_tx)));
    for (stream, name) in [
        (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            "out",
        ),
        (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            "err",
        ),
    ] {
        let Some(stream) = stream else { continue };
        let logs = Arc::clone(&logs);
        let ready_tx = Arc::clone(&ready_tx);
        std::thread::Builder::new()
            .name(format!("oidc-{name}-{port}"))
            .spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("READY ") {
                        if let Some(tx) = ready_tx.lock().unwrap().take() {
                            let _ = tx.send(());
                        }
                    }
                    let mut logs = logs.lock().unwrap();
                    if logs.len() == LOG_LINES {
                        logs.pop_front();
                    }
                    logs.push_back(line);
                }
            })
            .context("spawning the log reader")?;
    }
    let mut provider = OidcProvider {
        issuer,
        client_id: options.client_id.clone(),
        port,
        // Replaced from discovery below.
        authorization_endpoint: Url::parse("http://127.0.0.1/").expect("static"),
        token_endpoint: Url::parse("http://127.0.0.1/").expect("static"),
        child: Mutex::new(child),
        _stdin: stdin,
        logs,
    };
    match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => bail!(
            "the OpenID provider exited before it was ready:\n{}",
            provider.logs()
        ),
        Err(_) => {
            let state = provider.process_state();
            return Err(NotReady(format!(
                "the OpenID provider was not ready within {START_TIMEOUT:?} \
                 ({state}); its output:\n{}",
                provider.logs()
            ))
            .into());
        }
    }
    let discovery: Value = reqwest::get(format!(
        "http://127.0.0.1:{port}{}/.well-known/openid-configuration",
        Url::parse(&provider.issuer)?.path().trim_end_matches('/')
    ))
    .await?
    .error_for_status()?
    .json()
    .await?;
    let endpoint = |name: &str| -> Result<Url> {
        let url = discovery[name]
            .as_str()
            .ok_or_else(|| anyhow!("discovery has no {name}"))?;
        // Reach it on our port whatever host the issuer names.
        let mut url = Url::parse(url)?;
        url.set_host(Some("127.0.0.1"))?;
        url.set_port(Some(port)).map_err(|_| anyhow!("bad port"))?;
        url.set_scheme("http").map_err(|_| anyhow!("bad scheme"))?;
        Ok(url)
    };
    provider.authorization_endpoint = endpoint("authorization_endpoint")?;
    provider.token_endpoint = endpoint("token_endpoint")?;
    Ok(provider)
}

/// A start that did not print `READY` in time (tried again).
#[derive(Debug)]
struct NotReady(String);

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotReady {}

/// A minimal cookie jar: name → value, sent to every URL of the provider.
#[derive(Debug, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn absorb(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let pair = header.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let expired = header
                .to_ascii_lowercase()
                .contains("expires=thu, 01 jan 1970");
            if value.is_empty() || expired {
                self.0.remove(name.trim());
            } else {
                self.0
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl OidcProvider {
    /// The provider name Cognito would use: the issuer's `host/path`
    /// (the `Logins` key and the `oidc-provider/` part of its IAM ARN).
    pub fn provider_name(&self) -> String {
        self.issuer
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_owned()
    }

    /// The `sub` of `user` (same as [`subject_of`]).
    pub fn subject(&self, user: &str) -> String {
        subject_of(user)
    }

    /// The server's recent output (for error messages).
    pub fn logs(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Where the node process is, for a start that hangs: its state and
    /// CPU time, and each thread's name, state and kernel wait channel
    /// (Linux `/proc`; "unknown" elsewhere).
    fn process_state(&self) -> String {
        let pid = self.child.lock().unwrap_or_else(|e| e.into_inner()).id();
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        let Ok(tasks) = std::fs::read_dir(proc_dir.join("task")) else {
            return format!("pid {pid}: state unknown");
        };
        let threads: Vec<String> = tasks
            .flatten()
            .map(|task| {
                let path = task.path();
                let stat = read(&path.join("stat"));
                // After the `(comm)` field: state, ..., utime (14th), stime (15th).
                let fields: Vec<&str> = stat
                    .rsplit_once(") ")
                    .map(|(_, rest)| rest.split_whitespace().collect())
                    .unwrap_or_default();
                format!(
                    "{} {} wchan={} utime+stime={}+{}",
                    read(&path.join("comm")).trim(),
                    fields.first().unwrap_or(&"?"),
                    read(&path.join("wchan")).trim(),
                    fields.get(11).unwrap_or(&"?"),
                    fields.get(12).unwrap_or(&"?"),
                )
            })
            .collect();
        format!("pid {pid}, threads: {}", threads.join("; "))
    }

    /// An id token for `user`, by authorization code + PKCE.
    pub async fn id_token(&self, user: &str) -> Result<String> {
        self.id_token_with_claims(user, &Map::new()).await
    }

    /// An id token for `user` that also carries `claims` (their names must
    /// be in [`OidcOptions::extra_claim_names`]; values may override the
    /// defaults such as `isAdmin` and `groups`).
    pub async fn id_token_with_claims(
        &self,
        user: &str,
        claims: &Map<String, Value>,
    ) -> Result<String> {
        self.flow(user, claims).await.with_context(|| {
            format!(
                "getting an id token for {user}; server output:\n{}",
                self.logs()
            )
        })
    }

    async fn flow(&self, user: &str, claims: &Map<String, Value>) -> Result<String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
        let mut url = self.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("response_type", "code")
                .append_pair("scope", "openid")
                .append_pair("redirect_uri", REDIRECT_URI)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("login_hint", user);
            if !claims.is_empty() {
                q.append_pair("x_claims", &Value::Object(claims.clone()).to_string());
            }
        }
        let mut jar = Jar::default();
        let mut code = None;
        for _ in 0..10 {
            let response = client
                .get(url.clone())
                .header(COOKIE, jar.header())
                .send()
                .await?;
            jar.absorb(&response);
            let status = response.status();
            let Some(location) = response.headers().get(LOCATION) else {
                let body = response.text().await.unwrap_or_default();
                bail!("GET {url} answered {status} without a redirect: {body}");
            };
            let next = url.join(location.to_str()?)?;
            if next.as_str().starts_with(REDIRECT_URI) {
                let params: BTreeMap<String, String> = next.query_pairs().into_owned().collect();
                if let Some(error) = params.get("error") {
                    bail!(
                        "authorization failed: {error}: {}",
                        params.get("error_description").map_or("", String::as_str)
                    );
                }
                if params.get("state") != Some(&state) {
                    bail!("the redirect carries another state: {next}");
                }
                code = params.get("code").cloned();
                break;
            }
            // Stay on our port whatever host the issuer names.
            url = next;
            url.set_host(Some("127.0.0.1"))?;
            url.set_port(Some(self.port))
                .map_err(|_| anyhow!("bad port"))?;
            url.set_scheme("http").map_err(|_| anyhow!("bad scheme"))?;
        }
        let code = code.ok_or_else(|| anyhow!("no authorization code after 10 redirects"))?;
        let response = client
            .post(self.token_endpoint.clone())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", self.client_id.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.context("token endpoint answer")?;
        if !status.is_success() {
            bail!("the token endpoint answered {status}: {body}");
        }
        let id_token = body["id_token"]
            .as_str()
            .ok_or_else(|| anyhow!("no id_token in {body}"))?;
        Ok(id_token.to_owned())
    }
}

/// The claims of a JWT, unverified (for assertions in tests).
pub fn claims_of(jwt: &str) -> Result<Map<String, Value>> {
    let payload = jwt.split('.').nth(1).ok_or_else(|| anyhow!("not a JWT"))?;
    let bytes = URL_SAFE_NO_PAD.decode(payload)?;
    match serde_json::from_slice(&bytes)? {
        Value::Object(map) => Ok(map),
        _ => bail!("JWT claims are not an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use cognate_domain::federation::LoginVerifier;
    use cognate_domain::ids::AccountId;
    use cognate_domain::pool::{IdentityPool, PoolSettings};
    use cognate_token::upstream::{
        OidcProviderConfig, UpstreamOptions, UpstreamOverride, UpstreamVerifier,
    };

    fn provider(name: &str) -> cognate_domain::ids::ProviderName {
        cognate_domain::ids::ProviderName::try_from(name).unwrap()
    }

    fn google() -> cognate_domain::ids::ProviderName {
        provider("accounts.google.com")
    }

    fn pool_with(google_client: Option<&str>, arns: Vec<String>) -> IdentityPool {
        let now = chrono::Utc::now();
        IdentityPool {
            id: "us-east-1:00000000-0000-0000-0000-00000000000a"
                .try_into()
                .unwrap(),
            account_id: AccountId::parse("000000000000").unwrap(),
            settings: PoolSettings {
                name: "oidc".into(),
                supported_login_providers: google_client
                    .map(|c| ("accounts.google.com".to_owned(), c.to_owned()))
                    .into_iter()
                    .collect(),
                openid_connect_provider_arns: arns,
                ..PoolSettings::default()
            },
            tags: Default::default(),
            roles: Default::default(),
            role_mappings: Default::default(),
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn the_provider_issues_id_tokens_for_two_users_that_cognate_accepts() {
        if !node_available() {
            crate::skip("node is not installed");
            return;
        }
        let started = std::time::Instant::now();
        let idp = start(None).await.unwrap();
        eprintln!(
            "oidc-provider ready after {:?} (npm ci included when it ran)",
            started.elapsed()
        );

        let alice = idp.id_token("alice").await.unwrap();
        let admin = idp.id_token("admin-bob").await.unwrap();
        let a = claims_of(&alice).unwrap();
        let b = claims_of(&admin).unwrap();
        for claims in [&a, &b] {
            assert_eq!(claims["iss"], idp.issuer.as_str());
            assert_eq!(claims["aud"], DEFAULT_CLIENT_ID);
        }
        assert_eq!(a["sub"], subject_of("alice").as_str());
        assert_eq!(b["sub"], subject_of("admin-bob").as_str());
        assert_ne!(a["sub"], b["sub"]);
        assert_eq!(
            (a["isAdmin"].as_str(), b["isAdmin"].as_str()),
            (Some("false"), Some("true"))
        );
        assert_eq!(a["email"], "alice@example.com");

        // Cognate's verifier accepts them, posing as Google.
        let verifier = UpstreamVerifier::new(
            vec![],
            vec![UpstreamOverride {
                provider: "accounts.google.com".into(),
                issuer: Some(idp.issuer.clone()),
                token_info_url: None,
            }],
            UpstreamOptions::default(),
        )
        .unwrap();
        let pool = pool_with(Some(DEFAULT_CLIENT_ID), vec![]);
        let login = verifier.verify(&pool, &google(), &alice).await.unwrap();
        assert_eq!(login.subject, subject_of("alice"));
        assert_eq!(login.audience, DEFAULT_CLIENT_ID);
        let other = pool_with(Some("another-client"), vec![]);
        assert!(verifier.verify(&other, &google(), &admin).await.is_err());
    }

    #[tokio::test]
    async fn a_provider_under_a_path_is_a_declared_oidc_provider_with_extra_claims() {
        if !node_available() {
            crate::skip("node is not installed");
            return;
        }
        let idp = start_with(OidcOptions {
            issuer: Some("/realms/test".into()),
            client_id: "realm-app".into(),
            id_token_ttl: Duration::from_secs(120),
            extra_claim_names: vec!["tier".into()],
            confidential_clients: Vec::new(),
        })
        .await
        .unwrap();
        assert!(idp.issuer.ends_with("/realms/test"));
        let mut extra = Map::new();
        extra.insert("tier".into(), "gold".into());
        extra.insert("isAdmin".into(), "true".into());
        let token = idp.id_token_with_claims("carol", &extra).await.unwrap();
        let claims = claims_of(&token).unwrap();
        assert_eq!(claims["tier"], "gold");
        assert_eq!(claims["isAdmin"], "true");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            120
        );

        let name = idp.provider_name();
        let arn = format!("arn:aws:iam::000000000000:oidc-provider/{name}");
        let verifier = UpstreamVerifier::new(
            vec![OidcProviderConfig {
                account: "000000000000".into(),
                url: idp.issuer.clone(),
                client_ids: vec!["realm-app".into()],
            }],
            vec![],
            UpstreamOptions::default(),
        )
        .unwrap();
        assert!(verifier.is_declared_oidc_provider("000000000000", &arn));
        let login = verifier
            .verify(&pool_with(None, vec![arn]), &provider(&name), &token)
            .await
            .unwrap();
        assert_eq!(login.subject, subject_of("carol"));
        assert_eq!(login.claims["tier"], "gold");

        // An undeclared claim is refused with a clear error.
        let mut undeclared = Map::new();
        undeclared.insert("secret".into(), "x".into());
        let err = idp
            .id_token_with_claims("dave", &undeclared)
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("not declared"), "{err:#}");
    }
}
