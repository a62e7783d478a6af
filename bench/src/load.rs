//! The load: raw JSON 1.1 requests, `concurrency` in flight (one
//! keep-alive connection each, see [`crate::wire`]), for a fixed time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};

use crate::wire::{self, Connection, Transport};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

/// The developer provider of the benchmark pool.
pub const DEVELOPER_PROVIDER: &str = "login.cognate.bench";
/// Developer user `i` of the preload is `{USER_PREFIX}{i}`.
pub const USER_PREFIX: &str = "bench-user-";
const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An operation under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// GetId, unauthenticated: creates an identity (an INSERT) per call.
    GetId,
    /// GetOpenIdToken for pre-created identities: a token signature per call.
    OpenIdToken,
    /// GetOpenIdTokenForDeveloperIdentity (SigV4-signed) for known users.
    DeveloperToken,
    /// GetId for a known login: a Cognate token of a linked developer user
    /// under `cognito-identity.amazonaws.com` (its signature is checked and
    /// the login looked up; nothing is written).
    GetIdKnown,
    /// GetCredentialsForIdentity for pre-created guest identities, against
    /// a stand-in STS that answers at once: Cognate's part of the call.
    Credentials,
}

impl Op {
    /// The AWS operation name.
    pub fn name(self) -> &'static str {
        match self {
            Op::GetId => "GetId",
            Op::OpenIdToken => "GetOpenIdToken",
            Op::DeveloperToken => "GetOpenIdTokenForDeveloperIdentity",
            Op::GetIdKnown => "GetId, known login",
            Op::Credentials => "GetCredentialsForIdentity",
        }
    }

    /// The member a successful answer must contain.
    fn expected_member(self) -> &'static str {
        match self {
            Op::GetId | Op::GetIdKnown => "\"IdentityId\"",
            Op::OpenIdToken | Op::DeveloperToken => "\"Token\"",
            Op::Credentials => "\"Credentials\"",
        }
    }
}

/// The service under test, and what the requests refer to.
#[derive(Debug)]
pub struct Target {
    /// `http://127.0.0.1:<port>/`.
    url: String,
    /// `127.0.0.1:<port>`, signed as `host`.
    host: String,
    region: String,
    access_key: String,
    secret_key: String,
    pool_id: String,
    identities: Vec<String>,
    developer_users: Vec<u64>,
    login_tokens: Vec<String>,
    transport: Transport,
}

impl Target {
    /// The service at `address` (`http://127.0.0.1:<port>`).
    pub fn new(
        address: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
        pool_id: &str,
    ) -> Target {
        Target {
            url: format!("{address}/"),
            host: address.trim_start_matches("http://").to_owned(),
            region: region.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            pool_id: pool_id.to_owned(),
            identities: Vec::new(),
            developer_users: Vec::new(),
            login_tokens: Vec::new(),
            transport: Transport::default(),
        }
    }

    /// The same requests to the service at `host` (`127.0.0.1:<port>`) over
    /// `transport`.
    pub fn over(&self, host: &str, transport: Transport) -> Target {
        Target {
            url: format!("https://{host}/"),
            host: host.to_owned(),
            transport,
            region: self.region.clone(),
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            pool_id: self.pool_id.clone(),
            identities: self.identities.clone(),
            developer_users: self.developer_users.clone(),
            login_tokens: self.login_tokens.clone(),
        }
    }

    /// Use these (preloaded) identities for GetOpenIdToken, round-robin.
    pub fn use_identities(&mut self, ids: Vec<String>) {
        self.identities = ids;
    }

    /// Use these (preloaded, linked) developer users for the developer
    /// calls, round-robin.
    pub fn use_developer_users(&mut self, users: Vec<u64>) {
        self.developer_users = users;
    }

    /// Fetch a Cognate token for each of the first `count` developer users,
    /// for GetId with a known login.
    pub async fn fetch_login_tokens(&mut self, count: usize) -> anyhow::Result<()> {
        let mut conn = Connection::new(&self.host);
        for &user in self.developer_users.iter().take(count) {
            let body = format!(
                r#"{{"IdentityPoolId":"{}","Logins":{{"{DEVELOPER_PROVIDER}":"{USER_PREFIX}{user}"}},"TokenDuration":3600}}"#,
                self.pool_id
            );
            let answer = self
                .post(&mut conn, "GetOpenIdTokenForDeveloperIdentity", &body, true)
                .await
                .map_err(anyhow::Error::msg)
                .context("fetching the tokens of developer users")?;
            let json: serde_json::Value = serde_json::from_str(&answer)?;
            let Some(token) = json["Token"].as_str() else {
                bail!("GetOpenIdTokenForDeveloperIdentity answered without Token: {answer}");
            };
            self.login_tokens.push(token.to_owned());
        }
        Ok(())
    }

    fn get_id_body(&self) -> String {
        format!(r#"{{"IdentityPoolId":"{}"}}"#, self.pool_id)
    }

    fn developer_body(&self, i: usize) -> String {
        let user = self.developer_users[i % self.developer_users.len()];
        format!(
            r#"{{"IdentityPoolId":"{}","Logins":{{"{DEVELOPER_PROVIDER}":"{USER_PREFIX}{user}"}}}}"#,
            self.pool_id
        )
    }

    /// One call of `op` on `conn`; `i` picks the identity or user
    /// (round-robin).
    async fn call(&self, conn: &mut Connection, op: Op, i: usize) -> Result<(), String> {
        let answer = match op {
            Op::GetId => {
                self.post(conn, op.name(), &self.get_id_body(), false)
                    .await?
            }
            Op::OpenIdToken | Op::Credentials => {
                let id = &self.identities[i % self.identities.len()];
                let body = format!(r#"{{"IdentityId":"{id}"}}"#);
                self.post(conn, op.name(), &body, false).await?
            }
            Op::DeveloperToken => {
                self.post(conn, op.name(), &self.developer_body(i), true)
                    .await?
            }
            Op::GetIdKnown => {
                let token = &self.login_tokens[i % self.login_tokens.len()];
                let body = format!(
                    r#"{{"IdentityPoolId":"{}","Logins":{{"cognito-identity.amazonaws.com":"{token}"}}}}"#,
                    self.pool_id
                );
                self.post(conn, "GetId", &body, false).await?
            }
        };
        if answer.contains(op.expected_member()) {
            Ok(())
        } else {
            Err(format!(
                "200 without {}: {}",
                op.expected_member(),
                clip(&answer)
            ))
        }
    }

    /// POST a JSON 1.1 request on `conn`; the body of a 200, or what went
    /// wrong.
    async fn post(
        &self,
        conn: &mut Connection,
        operation: &str,
        body: &str,
        signed: bool,
    ) -> Result<String, String> {
        let target = format!("{TARGET_PREFIX}{operation}");
        let signature = if signed {
            self.sign(&target, body)?
        } else {
            Vec::new()
        };
        let mut headers = vec![("content-type", CONTENT_TYPE), ("x-amz-target", &target)];
        headers.extend(signature.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let answer = conn
            .send(&wire::request(&self.host, &headers, body))
            .await
            .map_err(|e| format!("transport: {e}"))?;
        if answer.status != 200 {
            return Err(format!("HTTP {}: {}", answer.status, clip(&answer.body)));
        }
        Ok(answer.body)
    }

    /// SigV4 headers (`authorization`, `x-amz-date`) for a request, as the
    /// SDKs compute them.
    fn sign(&self, target: &str, body: &str) -> Result<Vec<(String, String)>, String> {
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", CONTENT_TYPE),
            ("x-amz-target", target),
        ];
        let identity = aws_credential_types::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "cognate-bench",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("cognito-identity")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("signable request: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// What one run at one concurrency level gave.
#[derive(Debug)]
pub struct Run {
    /// Successful requests.
    pub ok: u64,
    /// Failed requests (not 200, transport error, unexpected body).
    pub errors: u64,
    /// The first error seen.
    pub first_error: Option<String>,
    /// From the start until the last request finished.
    pub elapsed: Duration,
    /// Latencies of the successful requests, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Run {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1] as f64 / 1000.0
    }
}

/// The `q` quantile (0..=1) of `sorted`, the nearest rank; `None` if empty.
pub fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * q).round() as usize).copied()
}

/// Keep `concurrency` calls of `op` in flight until `duration` has passed
/// (calls started before then are awaited and counted).
pub async fn drive(target: &Arc<Target>, op: Op, concurrency: usize, duration: Duration) -> Run {
    let start = Instant::now();
    let deadline = start + duration;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let target = Arc::clone(target);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::over(&target.host, target.transport.clone());
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                match target.call(&mut conn, op, i).await {
                    Ok(()) => latencies.push(sent.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut run = Run {
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        match task.await {
            Ok((latencies, errors, first_error)) => {
                run.latencies_us.extend(latencies);
                run.errors += errors;
                if run.first_error.is_none() {
                    run.first_error = first_error;
                }
            }
            Err(e) => {
                run.errors += 1;
                run.first_error
                    .get_or_insert(format!("load task failed: {e}"));
            }
        }
    }
    run.elapsed = start.elapsed();
    run.ok = run.latencies_us.len() as u64;
    run.latencies_us.sort_unstable();
    run
}
