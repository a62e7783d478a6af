//! Facebook and Login with Amazon access tokens: opaque, so the provider's
//! token-info endpoint says what they are. The contracts are in the module
//! docs of [`super`] ("Facebook and Amazon").

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde_json::{Map, Value};

use super::fetch::{Answer, FetchFailure, Http};
use super::jws::Rejection;
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

/// Ask `url` about `token` and check the answer against `app_ids`.
pub(super) async fn verify(
    http: &Http,
    kind: Kind,
    url: &Url,
    token: &str,
    app_ids: &[String],
    now: DateTime<Utc>,
    leeway_secs: i64,
) -> Result<Vouched, Failure> {
    let mut url = url.clone();
    let param = match kind {
        Kind::Facebook => "input_token",
        Kind::Amazon => "access_token",
    };
    url.query_pairs_mut().append_pair(param, token);
    let answer = http.get(&url).await.map_err(|f| {
        Failure::Unreachable(FetchFailure(format!("its token-info endpoint {}", f.0)))
    })?;
    let body = object(answer)?;
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
