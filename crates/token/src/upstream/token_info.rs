//! Facebook and Login with Amazon access tokens: opaque, so the provider's
//! token-info endpoint says what they are. The contracts are in the module
//! docs of [`super`] ("Facebook and Amazon").

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde_json::{Map, Value};

use super::fetch::{Answer, FetchFailure, Http};
use super::jwt::Rejection;
use super::Failure;

/// Which token-info contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `graph.facebook.com`: `GET <url>?input_token=<token>`.
    Facebook,
    /// `www.amazon.com`: `GET <url>?access_token=<token>`.
    Amazon,
}

/// What the provider vouched for.
#[derive(Debug)]
pub(super) struct Vouched {
    pub(super) subject: String,
    pub(super) audience: String,
    pub(super) claims: Map<String, Value>,
}

/// A string or number field as text (Facebook sends ids as strings, but
/// some proxies turn them into numbers).
fn id_text(map: &Map<String, Value>, name: &str) -> Option<String> {
    match map.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Classify an answer: 5xx (or a redirect, which is not followed) is the
/// provider failing; any other non-success means it does not accept the
/// token; success must be a JSON object.
fn object(answer: Answer) -> Result<Map<String, Value>, Failure> {
    if answer.status.is_server_error() || answer.status.is_redirection() {
        return Err(Failure::Unreachable(FetchFailure(format!(
            "its token-info endpoint answered HTTP {}",
            answer.status.as_u16()
        ))));
    }
    if !answer.status.is_success() {
        return Err(Failure::Rejected(Rejection::RefusedByProvider));
    }
    match answer.json() {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Failure::Unreachable(FetchFailure(
            "its token-info endpoint answered something other than a JSON object".into(),
        ))),
    }
}

/// Most token-info answers kept at once.
pub(super) const MAX_CACHED_ANSWERS: usize = 10_000;
/// How long a refusal (a 4xx answer) is remembered, at most.
const REFUSAL_TTL_SECS: i64 = 60;

/// What a token-info endpoint said about one token, kept until `until`.
#[derive(Debug, Clone)]
struct Cached {
    /// The answer's JSON object; `None`: the provider refused the token.
    body: Option<Map<String, Value>>,
    until: DateTime<Utc>,
}

/// Token-info answers by token, so a token replayed many times (the SDKs
/// send the same `Logins` to GetId and then GetCredentialsForIdentity)
/// reaches the provider once. Bounded in size; an answer is kept no longer
/// than the token's own validity and no longer than `ttl` (the JWKS cache
/// time); refusals at most a minute. Keys are SHA-256 digests, so the cache
/// holds no tokens. The raw answer is kept and checked again against the
/// pool on every use (pools differ in their app ids). Provider failures
/// (5xx, time-outs) are never cached.
#[derive(Debug)]
pub(super) struct AnswerCache {
    ttl_secs: i64,
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], Cached>>,
}

impl AnswerCache {
    pub(super) fn new(ttl: std::time::Duration) -> Self {
        AnswerCache {
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn key(kind: Kind, url: &Url, token: &str) -> [u8; 32] {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update([kind as u8]);
        h.update(url.as_str().as_bytes());
        h.update([0]);
        h.update(token.as_bytes());
        h.finalize().into()
    }

    fn get(&self, key: &[u8; 32], now: DateTime<Utc>) -> Option<Cached> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|c| c.until > now).cloned()
    }

    fn put(&self, key: [u8; 32], cached: Cached, now: DateTime<Utc>) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CACHED_ANSWERS {
            map.retain(|_, c| c.until > now);
        }
        if map.len() >= MAX_CACHED_ANSWERS {
            // Still full of live answers: drop an arbitrary half.
            let drop: Vec<[u8; 32]> = map.keys().take(MAX_CACHED_ANSWERS / 2).copied().collect();
            for k in drop {
                map.remove(&k);
            }
        }
        map.insert(key, cached);
    }

    /// How many answers are kept (tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Until when an answer about a token may be reused: its own expiry
    /// (when it says), capped by the cache lifetime.
    fn until(&self, kind: Kind, body: &Map<String, Value>, now: DateTime<Utc>) -> DateTime<Utc> {
        let now_s = now.timestamp();
        let cap = now_s.saturating_add(self.ttl_secs);
        let own = match kind {
            Kind::Facebook => match body.get("data") {
                Some(Value::Object(d)) => d
                    .get("expires_at")
                    .and_then(Value::as_i64)
                    .filter(|e| *e > 0),
                _ => None,
            },
            Kind::Amazon => body
                .get("exp")
                .and_then(Value::as_i64)
                .map(|left| now_s.saturating_add(left)),
        };
        let until = own.map_or(cap, |o| o.min(cap));
        DateTime::from_timestamp(until, 0).unwrap_or(now)
    }
}

/// Ask `url` about `token` (or reuse a cached answer) and check the answer
/// against `app_ids`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn verify(
    http: &Http,
    cache: &AnswerCache,
    kind: Kind,
    url: &Url,
    token: &str,
    app_ids: &[String],
    now: DateTime<Utc>,
    leeway_secs: i64,
) -> Result<Vouched, Failure> {
    let key = AnswerCache::key(kind, url, token);
    let body = match cache.get(&key, now) {
        Some(Cached {
            body: Some(body), ..
        }) => body,
        Some(Cached { body: None, .. }) => {
            return Err(Failure::Rejected(Rejection::RefusedByProvider))
        }
        None => {
            let mut url = url.clone();
            let param = match kind {
                Kind::Facebook => "input_token",
                Kind::Amazon => "access_token",
            };
            url.query_pairs_mut().append_pair(param, token);
            let answer = http.get(&url).await.map_err(|f| {
                Failure::Unreachable(FetchFailure(format!("its token-info endpoint {}", f.0)))
            })?;
            match object(answer) {
                Ok(body) => {
                    let until = cache.until(kind, &body, now);
                    cache.put(
                        key,
                        Cached {
                            body: Some(body.clone()),
                            until,
                        },
                        now,
                    );
                    body
                }
                Err(Failure::Rejected(r)) => {
                    let secs = REFUSAL_TTL_SECS.min(cache.ttl_secs);
                    let until = now + chrono::Duration::seconds(secs);
                    cache.put(key, Cached { body: None, until }, now);
                    return Err(Failure::Rejected(r));
                }
                Err(other) => return Err(other),
            }
        }
    };
    let rejected = Failure::Rejected;
    match kind {
        Kind::Facebook => {
            let Some(Value::Object(data)) = body.get("data") else {
                return Err(rejected(Rejection::RefusedByProvider));
            };
            if data.get("is_valid") != Some(&Value::Bool(true)) || data.contains_key("error") {
                return Err(rejected(Rejection::RefusedByProvider));
            }
            let app_id = id_text(data, "app_id").ok_or(rejected(Rejection::Audience))?;
            if !app_ids.contains(&app_id) {
                return Err(rejected(Rejection::Audience));
            }
            // 0 means "never expires" (e.g. some long-lived tokens).
            if let Some(exp) = data.get("expires_at").and_then(Value::as_i64) {
                let now = now.timestamp();
                if exp > 0 && now >= exp.saturating_add(leeway_secs) {
                    return Err(rejected(Rejection::Expired(now, exp)));
                }
            }
            let subject =
                id_text(data, "user_id").ok_or(rejected(Rejection::MissingClaim("user_id")))?;
            let mut claims = data.clone();
            claims.insert("sub".into(), Value::String(subject.clone()));
            claims.insert("aud".into(), Value::String(app_id.clone()));
            Ok(Vouched {
                subject,
                audience: app_id,
                claims,
            })
        }
        Kind::Amazon => {
            if body.contains_key("error") {
                return Err(rejected(Rejection::RefusedByProvider));
            }
            // The pool names the app id (amzn1.application...) or the
            // client id (amzn1.application-oa2-client...): either fits.
            let audience = ["app_id", "aud"]
                .into_iter()
                .filter_map(|name| id_text(&body, name))
                .find(|id| app_ids.contains(id))
                .ok_or(rejected(Rejection::Audience))?;
            // `exp` here is the seconds the token has left.
            if let Some(left) = body.get("exp").and_then(Value::as_i64) {
                if left.saturating_add(leeway_secs) <= 0 {
                    let now = now.timestamp();
                    return Err(rejected(Rejection::Expired(now, now.saturating_add(left))));
                }
            }
            let subject =
                id_text(&body, "user_id").ok_or(rejected(Rejection::MissingClaim("user_id")))?;
            let mut claims = body.clone();
            claims.insert("sub".into(), Value::String(subject.clone()));
            Ok(Vouched {
                subject,
                audience,
                claims,
            })
        }
    }
}
