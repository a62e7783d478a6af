//! SigV4: every failure AWS distinguishes, and the public operations.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::helpers::{
    error_code, sdk_client, spawn_app, TestApp, ACCESS_KEY_A, REGION, SECRET_KEY_A,
};

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

/// Send `body` to `target`, signed by aws-sigv4 with the given parameters.
async fn send_signed(
    app: &TestApp,
    target: &str,
    body: &str,
    time: SystemTime,
    region: &str,
    service: &str,
    secret: &str,
) -> serde_json::Value {
    let signing = Signing {
        time,
        region,
        service,
        secret,
    };
    post_signed(
        app,
        &sign_headers(&app.address, target, body, &signing),
        body,
    )
    .await
}

const LIST: &str = r#"{"MaxResults": 10}"#;

#[tokio::test]
async fn a_correctly_signed_raw_request_is_accepted() {
    let app = spawn_app().await;
    let body = send_signed(
        &app,
        "ListIdentityPools",
        LIST,
        SystemTime::now(),
        REGION,
        "cognito-identity",
        SECRET_KEY_A,
    )
    .await;
    assert!(body.get("IdentityPools").is_some(), "{body}");
}

#[tokio::test]
async fn an_unsigned_developer_call_is_missing_its_authentication_token() {
    let app = spawn_app().await;
    let res = app.post_raw(Some("ListIdentityPools"), LIST).await;
    assert_eq!(res.headers()["content-type"], "application/x-amz-json-1.1");
    let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn an_unknown_access_key_is_an_unrecognized_client() {
    let app = spawn_app().await;
    let client = sdk_client(&app.address, "AKIAUNKNOWNKEY000001", "whatever", REGION);
    let err = client
        .list_identity_pools()
        .max_results(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "UnrecognizedClientException");
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature() {
    let app = spawn_app().await;
    let client = sdk_client(&app.address, ACCESS_KEY_A, "not-the-secret", REGION);
    let err = client
        .list_identity_pools()
        .max_results(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidSignatureException");
}

#[tokio::test]
async fn a_request_signed_for_another_region_is_refused() {
    let app = spawn_app().await;
    let body = send_signed(
        &app,
        "ListIdentityPools",
        LIST,
        SystemTime::now(),
        "eu-west-1",
        "cognito-identity",
        SECRET_KEY_A,
    )
    .await;
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
}

#[tokio::test]
async fn a_request_signed_for_another_service_is_refused() {
    let app = spawn_app().await;
    let body = send_signed(
        &app,
        "ListIdentityPools",
        LIST,
        SystemTime::now(),
        REGION,
        "cognito-idp",
        SECRET_KEY_A,
    )
    .await;
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
}

#[tokio::test]
async fn a_request_signed_outside_the_clock_skew_has_an_expired_signature() {
    let app = spawn_app().await;
    let past = SystemTime::now() - Duration::from_secs(10 * 60);
    let body = send_signed(
        &app,
        "ListIdentityPools",
        LIST,
        past,
        REGION,
        "cognito-identity",
        SECRET_KEY_A,
    )
    .await;
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired: "),
        "{body}"
    );
    let future = SystemTime::now() + Duration::from_secs(10 * 60);
    let body = send_signed(
        &app,
        "ListIdentityPools",
        LIST,
        future,
        REGION,
        "cognito-identity",
        SECRET_KEY_A,
    )
    .await;
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
}

#[tokio::test]
async fn the_clock_skew_allowance_is_configurable() {
    let app = crate::helpers::spawn_app_with(|s| s.server.max_clock_skew_seconds = 1200).await;
    let past = SystemTime::now() - Duration::from_secs(10 * 60);
    let body = send_signed(
        &app,
        "ListIdentityPools",
        LIST,
        past,
        REGION,
        "cognito-identity",
        SECRET_KEY_A,
    )
    .await;
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
    let res = app
        .post_raw(
            Some("GetId"),
            r#"{"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"}"#,
        )
        .await;
    let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
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
    let mut headers = sign_these_headers(
        &app.address,
        vec![header("content-type", "application/x-amz-json-1.1")],
        &body,
        &Signing::default(),
    );
    let authorization = &headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert!(
        authorization.contains("SignedHeaders=content-type;host;x-amz-date,"),
        "{authorization}"
    );
    headers.push(header(
        "x-amz-target",
        "AWSCognitoIdentityService.DeleteIdentityPool",
    ));
    let answer = post_signed(&app, &headers, &body).await;
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
    assert_eq!(
        answer["message"],
        "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization."
    );
    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .expect("the pool survives the replay");
    assert_eq!(described.identity_pool_name, "survivor");
}

#[tokio::test]
async fn an_unsigned_x_amz_target_or_security_token_is_refused() {
    let app = spawn_app().await;
    // The target added after signing.
    let mut headers = sign_these_headers(
        &app.address,
        vec![header("content-type", "application/x-amz-json-1.1")],
        LIST,
        &Signing::default(),
    );
    headers.push(header(
        "x-amz-target",
        "AWSCognitoIdentityService.ListIdentityPools",
    ));
    let answer = post_signed(&app, &headers, LIST).await;
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
    assert_eq!(
        answer["message"],
        "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization."
    );

    // A session token added after signing.
    let mut headers = signed_headers(&app.address, "ListIdentityPools", LIST);
    headers.push(header("x-amz-security-token", "FwoGZXIvYXdzEJr"));
    let answer = post_signed(&app, &headers, LIST).await;
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
    assert_eq!(
        answer["message"],
        "'x-amz-security-token' must be a 'SignedHeader' in the AWS Authorization."
    );

    // Header names are case-insensitive: `X-Amz-Target` is the same header.
    let mut headers = sign_these_headers(&app.address, vec![], LIST, &Signing::default());
    headers.push(header(
        "X-Amz-Target",
        "AWSCognitoIdentityService.ListIdentityPools",
    ));
    let answer = post_signed(&app, &headers, LIST).await;
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = spawn_app().await;
    let headers = signed_headers(&app.address, "ListIdentityPools", LIST);
    let valid = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1
        .clone();
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
