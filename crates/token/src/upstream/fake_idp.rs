//! A tiny in-process identity provider for the unit tests: HTTP/1.1 on
//! 127.0.0.1:0 serving discovery, a JWKS it can rotate, and Facebook- and
//! Amazon-style token-info endpoints; it counts what it was asked, can
//! answer 503, or accept connections and never answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::Url;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Normal,
    /// Every request: HTTP 503.
    Failing,
    /// Accept, read, never answer.
    Silent,
}

#[derive(Debug)]
struct State {
    issuer: String,
    /// The issuer the discovery document names (normally `issuer`).
    discovery_issuer: Option<String>,
    jwks: Value,
    mode: Mode,
    hits: HashMap<String, u64>,
    /// token → (status, body) for `/debug_token` and `/tokeninfo`.
    token_info: HashMap<String, (u16, Value)>,
    held: Vec<TcpStream>,
}

/// The running fake; stops when dropped.
#[derive(Debug)]
pub(super) struct FakeIdp {
    pub(super) issuer: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeIdp {
    /// Start serving `jwks`, with issuer `http://127.0.0.1:<port><path>`.
    pub(super) async fn start(path: &str, jwks: Value) -> FakeIdp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}{path}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            issuer: issuer.clone(),
            discovery_issuer: None,
            jwks,
            mode: Mode::Normal,
            hits: HashMap::new(),
            token_info: HashMap::new(),
            held: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(serve(stream, shared));
            }
        });
        FakeIdp {
            issuer,
            state,
            task,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub(super) fn set_jwks(&self, jwks: Value) {
        self.with(|s| s.jwks = jwks);
    }

    pub(super) fn set_mode(&self, mode: Mode) {
        self.with(|s| s.mode = mode);
    }

    pub(super) fn set_discovery_issuer(&self, issuer: &str) {
        self.with(|s| s.discovery_issuer = Some(issuer.to_owned()));
    }

    /// Requests seen for a path (without query), e.g. `/jwks`.
    pub(super) fn hits(&self, path: &str) -> u64 {
        let full = format!("{}{path}", Url::parse(&self.issuer).unwrap().path());
        let full = full.replace("//", "/");
        self.with(|s| s.hits.get(&full).copied().unwrap_or(0))
    }

    /// Answer `token` at the token-info endpoints with `status` and `body`.
    pub(super) fn token_info(&self, token: &str, status: u16, body: Value) {
        self.with(|s| s.token_info.insert(token.to_owned(), (status, body)));
    }

    /// The root URL (`http://127.0.0.1:<port>`) + `path`.
    pub(super) fn url(&self, path: &str) -> String {
        let u = Url::parse(&self.issuer).unwrap();
        format!(
            "http://{}:{}{path}",
            u.host_str().unwrap(),
            u.port().unwrap()
        )
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Mutex<State>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let url = Url::parse(&format!("http://fake{target}")).unwrap();
    let path = url.path().to_owned();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let (status, body) = {
        let mut s = shared.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        match s.mode {
            Mode::Silent => {
                s.held.push(stream);
                return;
            }
            Mode::Failing => (503, json!({"error": "unavailable"})),
            Mode::Normal => route(&s, &path, &query),
        }
    };
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn route(s: &State, path: &str, query: &HashMap<String, String>) -> (u16, Value) {
    let prefix = Url::parse(&s.issuer)
        .unwrap()
        .path()
        .trim_end_matches('/')
        .to_owned();
    let local = path.strip_prefix(&prefix).unwrap_or(path);
    match local {
        "/.well-known/openid-configuration" => (
            200,
            json!({
                "issuer": s.discovery_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
                "jwks_uri": format!("{}/jwks", s.issuer),
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
        ),
        "/jwks" => (200, s.jwks.clone()),
        _ => {
            let token = query
                .get("input_token")
                .or_else(|| query.get("access_token"));
            match token.and_then(|t| s.token_info.get(t)) {
                Some((status, body))
                    if path.ends_with("/debug_token") || path.ends_with("/tokeninfo") =>
                {
                    (*status, body.clone())
                }
                _ if path.ends_with("/debug_token") => (
                    400,
                    json!({"error": {"message": "Invalid OAuth access token.", "code": 190}}),
                ),
                _ if path.ends_with("/tokeninfo") => (
                    400,
                    json!({"error": "invalid_token", "error_description": "The access token is invalid"}),
                ),
                _ => (404, json!({"error": "not found"})),
            }
        }
    }
}
