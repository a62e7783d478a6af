//! What the integration tests of the `cognate` binary share: a fresh
//! database, the AWS SDK pointed at a test's instance, unsigned JSON calls,
//! plain HTTP over a socket, token verification.
//!
//! Each test file has `mod common;` and uses some of it.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentity::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cognitoidentity::error::{ProvideErrorMetadata, SdkError};
use serde_json::Value;

/// A fresh, empty database of this test process's PostgreSQL cluster
/// (`cognate_tests::pg`): the service migrates it itself.
pub async fn empty_database() -> String {
    cognate_tests::pg::cluster()
        .await
        .fresh_database(|_| async { Ok(()) })
        .await
        .expect("fresh database")
}

/// An `[[accounts]]` section: the account `id` with an access key, then
/// `extra` (e.g. its quotas).
pub fn account_toml(id: &str, access_key: &str, secret: &str, extra: &str) -> String {
    format!(
        "[[accounts]]\nid = \"{id}\"\naccess_key_id = \"{access_key}\"\n\
         secret_access_key = \"{secret}\"\n{extra}"
    )
}

/// The SDK's configuration for the instance at `url`, signing with
/// `access_key` (its credentials named `provider`); the caller adds the rest.
pub fn sdk_config(
    url: &str,
    access_key: &str,
    secret: &str,
    provider: &'static str,
) -> aws_sdk_cognitoidentity::config::Builder {
    aws_sdk_cognitoidentity::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, None, None, provider))
        .endpoint_url(url)
}

/// The SDK for the instance at `url`, without retries: every refusal is seen.
pub fn sdk_without_retries(
    url: &str,
    access_key: &str,
    secret: &str,
    provider: &'static str,
) -> aws_sdk_cognitoidentity::Client {
    aws_sdk_cognitoidentity::Client::from_conf(
        sdk_config(url, access_key, secret, provider)
            .retry_config(aws_sdk_cognitoidentity::config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// The error code (`__type`) of a service's refusal.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// A CreateIdentityPool of a pool named `name` that lets guests in; the
/// caller adds the rest and sends it.
pub fn guest_pool(
    client: &aws_sdk_cognitoidentity::Client,
    name: &str,
) -> aws_sdk_cognitoidentity::operation::create_identity_pool::builders::CreateIdentityPoolFluentBuilder
{
    client
        .create_identity_pool()
        .identity_pool_name(name)
        .allow_unauthenticated_identities(true)
}

/// A guest GetId on `pool`: whether it was served; a refusal must be the
/// account's quota (TooManyRequestsException).
pub async fn guest_get_id(client: &aws_sdk_cognitoidentity::Client, pool: &str) -> bool {
    match client.get_id().identity_pool_id(pool).send().await {
        Ok(_) => true,
        Err(err) => {
            assert_eq!(error_code(&err), Some("TooManyRequestsException"));
            false
        }
    }
}

/// An unsigned JSON 1.1 call of `operation` to `url`, ready to send.
pub fn json_call(
    http: &reqwest::Client,
    url: &str,
    operation: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    http.post(url)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "X-Amz-Target",
            format!("AWSCognitoIdentityService.{operation}"),
        )
        .body(body.to_string())
}

/// `GET url`, answered.
pub async fn get(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::Response {
    http.get(url).send().await.unwrap()
}

/// Send `request` as is to `addr` and read the answer (or what came before
/// a close; nothing when nobody listens).
pub fn raw(addr: &str, request: &[u8]) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET path` on `addr` (HTTP/1.1): the whole answer, head and body.
pub fn http_get(addr: &str, path: &str) -> String {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Wait (a minute at most) until `GET path` on `addr` answers 200: whether
/// it did.
pub fn wait_until_ok(addr: &str, path: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if http_get(addr, path).starts_with("HTTP/1.1 200") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Assert that `text` holds none of `unwanted`, each with why it must not.
#[track_caller]
pub fn assert_none_of(text: &str, unwanted: &[(&str, &str)]) {
    for (needle, why) in unwanted {
        assert!(!text.contains(needle), "{why}: {text:?}");
    }
}

/// The key id a token names.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .unwrap()
        .kid
        .expect("kid")
}

/// Verify `token` (RS512, for `pool`, from `issuer`) with the key its `kid`
/// names in `jwks`: its claims, or why not.
pub fn verify(token: &str, jwks: &Value, issuer: &str, pool: &str) -> Result<Value, String> {
    let kid = kid_of(token);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or_else(|| format!("kid {kid} is not published in {jwks}"))?;
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS512);
    validation.set_audience(&[pool]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}
