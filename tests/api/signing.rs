//! SigV4: every failure AWS distinguishes, and the public operations.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::helpers::{
    error_code, list_pools, sdk_client, spawn_app, TestApp, ACCESS_KEY_A, REGION, SECRET_KEY_A,
};
use crate::steps::{json_body, pool_name};

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// How a test request is signed.
pub struct Signing<'a> {
    /// Request time (the skew tests move it).
    pub time: SystemTime,
    /// Credential-scope region.
    pub region: &'a str,
    /// Credential-scope service.
    pub service: &'a str,
    /// The secret the signature is made with (account A's key id).
    pub secret: &'a str,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Signing {
            time: SystemTime::now(),
            region: REGION,
            service: "cognito-identity",
            secret: SECRET_KEY_A,
        }
    }
}

/// The headers (host excluded: the HTTP client sets it) of a JSON 1.1 call
/// of `target` to `base_url` with `body`, signed by aws-sigv4 as `signing` says.
pub fn sign_headers(
    base_url: &str,
    target: &str,
    body: &str,
    signing: &Signing<'_>,
) -> Vec<(String, String)> {
    let headers = vec![
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        (
            "x-amz-target".to_owned(),
            format!("AWSCognitoIdentityService.{target}"),
        ),
    ];
    sign_these_headers(base_url, headers, body, signing)
}

/// `headers` plus what aws-sigv4 adds when it signs them (with `host`) and `body`: the
/// signature covers exactly `host`, `headers` and `x-amz-date`. Host is left out of the
/// result: the HTTP client sets it.
pub fn sign_these_headers(
    base_url: &str,
    headers: Vec<(String, String)>,
    body: &str,
    signing: &Signing<'_>,
) -> Vec<(String, String)> {
    let host = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest)
        .to_owned();
    let mut headers = headers;
    headers.insert(0, ("host".to_owned(), host));
    let identity =
        aws_credential_types::Credentials::new(ACCESS_KEY_A, signing.secret, None, None, "t")
            .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("{base_url}/"),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = headers.into_iter().filter(|(k, _)| k != "host").collect();
    out.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    out
}

/// Headers of a call signed now as account A, for `base_url`'s authority.
pub fn signed_headers(base_url: &str, target: &str, body: &str) -> Vec<(String, String)> {
    sign_headers(base_url, target, body, &Signing::default())
}

/// POST `sent_body` with the headers signed for `signed_body`; the JSON answer.
async fn post_signed(
    app: &TestApp,
    headers: &[(String, String)],
    sent_body: &str,
) -> serde_json::Value {
    let mut req = app.http.post(format!("{}/", app.address));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let res = req.body(sent_body.to_owned()).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-amz-json-1.1");
    serde_json::from_slice(&res.bytes().await.unwrap()).unwrap()
}

impl Signing<'_> {
    /// Signed now as account A, for the credential-scope `service`.
    fn for_service(service: &str) -> Signing<'_> {
        Signing {
            service,
            ..Signing::default()
        }
    }

    /// Signed as account A, at `time`.
    fn at(time: SystemTime) -> Self {
        Signing {
            time,
            ..Signing::default()
        }
    }
}

/// ListIdentityPools (LIST), signed by aws-sigv4 as `signing` says; the
/// JSON answer.
async fn list_pools_signed(app: &TestApp, signing: &Signing<'_>) -> serde_json::Value {
    let headers = sign_headers(&app.address, "ListIdentityPools", LIST, signing);
    post_signed(app, &headers, LIST).await
}

/// Asserts that ListIdentityPools signed as `signing` says is refused as
/// an invalid signature; the answer.
async fn assert_invalid_signature(app: &TestApp, signing: &Signing<'_>) -> serde_json::Value {
    let body = list_pools_signed(app, signing).await;
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
    body
}

/// The error code of a ListIdentityPools signed with `access_key` and `secret`.
async fn list_pools_refusal(app: &TestApp, access_key: &str, secret: &str) -> String {
    let client = sdk_client(&app.address, access_key, secret, REGION);
    error_code(&list_pools(&client, 1).send().await.unwrap_err())
}

/// The JSON answer to an unsigned raw call of `target` with `body`.
async fn unsigned_answer(app: &TestApp, target: &str, body: &'static str) -> serde_json::Value {
    json_body(app.post_raw(Some(target), body).await).await
}

/// The headers of a call of `body` whose signature covers `signed` (and
/// host and date), plus `added` after signing.
fn signed_then_added(
    app: &TestApp,
    signed: Vec<(String, String)>,
    body: &str,
    added: (String, String),
) -> Vec<(String, String)> {
    let mut headers = sign_these_headers(&app.address, signed, body, &Signing::default());
    headers.push(added);
    headers
}

/// Asserts that `headers` are refused because the header `name` is not
/// among the signed ones.
async fn assert_must_be_signed(
    app: &TestApp,
    headers: &[(String, String)],
    body: &str,
    name: &str,
) {
    let answer = post_signed(app, headers, body).await;
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
    assert_eq!(
        answer["message"],
        format!("'{name}' must be a 'SignedHeader' in the AWS Authorization.")
    );
}

/// The value of the `authorization` header among `headers`.
fn authorization_of(headers: &[(String, String)]) -> &str {
    let found = headers.iter().find(|(k, _)| k == "authorization");
    &found.expect("an authorization header").1
}

const LIST: &str = r#"{"MaxResults": 10}"#;
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

#[tokio::test]
async fn a_correctly_signed_raw_request_is_accepted() {
    let app = spawn_app().await;
    let body = list_pools_signed(&app, &Signing::default()).await;
    assert!(body.get("IdentityPools").is_some(), "{body}");
}

#[tokio::test]
async fn an_unsigned_developer_call_is_missing_its_authentication_token() {
    let app = spawn_app().await;
    let res = app.post_raw(Some("ListIdentityPools"), LIST).await;
    assert_eq!(res.headers()["content-type"], JSON_CONTENT_TYPE);
    let body = json_body(res).await;
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn an_unknown_access_key_is_an_unrecognized_client() {
    let app = spawn_app().await;
    let code = list_pools_refusal(&app, "AKIAUNKNOWNKEY000001", "whatever").await;
    assert_eq!(code, "UnrecognizedClientException");
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature() {
    let app = spawn_app().await;
    let code = list_pools_refusal(&app, ACCESS_KEY_A, "not-the-secret").await;
    assert_eq!(code, "InvalidSignatureException");
}

#[tokio::test]
async fn a_request_signed_for_another_region_is_refused() {
    let app = spawn_app().await;
    let signing = Signing {
        region: "eu-west-1",
        ..Signing::default()
    };
    assert_invalid_signature(&app, &signing).await;
}

#[tokio::test]
async fn a_request_signed_for_another_service_is_refused() {
    let app = spawn_app().await;
    assert_invalid_signature(&app, &Signing::for_service("cognito-idp")).await;
}

#[tokio::test]
async fn a_request_signed_outside_the_clock_skew_has_an_expired_signature() {
    let app = spawn_app().await;
    let past = SystemTime::now() - Duration::from_secs(10 * 60);
    let body = assert_invalid_signature(&app, &Signing::at(past)).await;
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("Signature expired: "), "{body}");
    let future = SystemTime::now() + Duration::from_secs(10 * 60);
    assert_invalid_signature(&app, &Signing::at(future)).await;
}

#[tokio::test]
async fn the_clock_skew_allowance_is_configurable() {
    let app = crate::helpers::spawn_app_with(|s| s.server.max_clock_skew_seconds = 1200).await;
    let past = SystemTime::now() - Duration::from_secs(10 * 60);
    let body = list_pools_signed(&app, &Signing::at(past)).await;
    assert!(body.get("IdentityPools").is_some(), "{body}");
}

#[tokio::test]
async fn a_tampered_body_does_not_verify() {
    let app = spawn_app().await;
    // Sign one body, send another.
    let headers = signed_headers(&app.address, "ListIdentityPools", LIST);
    let body = post_signed(&app, &headers, r#"{"MaxResults": 60}"#).await;
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
}

#[tokio::test]
async fn public_operations_are_served_without_a_signature() {
    let app = spawn_app().await;
    let get_id = r#"{"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"}"#;
    let body = unsigned_answer(&app, "GetId", get_id).await;
    assert_ne!(
        body["__type"], "MissingAuthenticationTokenException",
        "{body}"
    );
}

#[tokio::test]
async fn a_request_signed_over_host_and_date_only_cannot_be_replayed_to_delete_a_pool() {
    let app = spawn_app().await;
    let pool = app.create_pool("survivor").await;
    let body = serde_json::json!({ "IdentityPoolId": pool }).to_string();
    // A DescribeIdentityPool whose signature covers only `host;x-amz-date` (and the body):
    // nothing in it says which operation was meant.
    let delete = header(
        "x-amz-target",
        "AWSCognitoIdentityService.DeleteIdentityPool",
    );
    let content_type = vec![header("content-type", JSON_CONTENT_TYPE)];
    let headers = signed_then_added(&app, content_type, &body, delete);
    let authorization = authorization_of(&headers);
    assert!(
        authorization.contains("SignedHeaders=content-type;host;x-amz-date,"),
        "{authorization}"
    );
    assert_must_be_signed(&app, &headers, &body, "x-amz-target").await;
    assert_eq!(
        pool_name(&app.client, &pool).await,
        "survivor",
        "the pool survives the replay"
    );
}

#[tokio::test]
async fn an_unsigned_x_amz_target_or_security_token_is_refused() {
    let app = spawn_app().await;
    let list = |name: &str| header(name, "AWSCognitoIdentityService.ListIdentityPools");
    // The target added after signing.
    let content_type = vec![header("content-type", JSON_CONTENT_TYPE)];
    let headers = signed_then_added(&app, content_type, LIST, list("x-amz-target"));
    assert_must_be_signed(&app, &headers, LIST, "x-amz-target").await;

    // A session token added after signing.
    let mut headers = signed_headers(&app.address, "ListIdentityPools", LIST);
    headers.push(header("x-amz-security-token", "FwoGZXIvYXdzEJr"));
    assert_must_be_signed(&app, &headers, LIST, "x-amz-security-token").await;

    // Header names are case-insensitive: `X-Amz-Target` is the same header.
    let headers = signed_then_added(&app, vec![], LIST, list("X-Amz-Target"));
    let answer = post_signed(&app, &headers, LIST).await;
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = spawn_app().await;
    let headers = signed_headers(&app.address, "ListIdentityPools", LIST);
    let valid = authorization_of(&headers).to_owned();
    let bogus =
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY_A}/x, SignedHeaders=host, Signature=0");
    for (first, second) in [
        (valid.clone(), bogus.clone()),
        (bogus.clone(), valid.clone()),
        (valid.clone(), valid.clone()),
    ] {
        let mut sent: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k != "authorization")
            .cloned()
            .collect();
        sent.push(header("authorization", &first));
        sent.push(header("Authorization", &second));
        let answer = post_signed(&app, &sent, LIST).await;
        assert_eq!(answer["__type"], "IncompleteSignatureException", "{answer}");
        assert!(answer.get("IdentityPools").is_none(), "{answer}");
    }
}
