//! Unit tests of the parent module.

use super::*;

use std::collections::HashMap;
use std::process::Command;

use aws_sigv4::http_request::{PayloadChecksumKind, SigningSettings};
use chrono::TimeZone;
use http::{HeaderName, HeaderValue};

const ACCESS_KEY: &str = "AKIDCOGNATETEST00001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const HOST: &str = "cognito-identity.eu-west-1.amazonaws.com";
const BODY: &[u8] = br#"{"MaxResults":10}"#;

fn at(text: &str) -> SystemTime {
    SystemTime::from(parse_iso8601_basic(text).expect("test time"))
}

fn t0() -> SystemTime {
    at("20260101T000000Z")
}

fn keys() -> HashMap<String, Credential> {
    HashMap::from([(
        ACCESS_KEY.to_owned(),
        Credential {
            account_id: ACCOUNT.to_owned(),
            secret_access_key: SecretString::from(SECRET),
        },
    )])
}

fn lookup(keys: &HashMap<String, Credential>) -> impl Fn(&str) -> Option<Credential> + '_ {
    move |key: &str| keys.get(key).cloned()
}

fn verifier() -> Verifier {
    Verifier::new(REGION)
}

fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

struct Signing<'a> {
    time: SystemTime,
    region: &'a str,
    service: &'a str,
    access_key: &'a str,
    secret: &'a str,
    checksum_header: bool,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Self {
            time: t0(),
            region: REGION,
            service: SERVICE,
            access_key: ACCESS_KEY,
            secret: SECRET,
            checksum_header: false,
        }
    }
}

/// Signs like the Rust SDK does (aws-sigv4 with its default settings: `authorization`,
/// `user-agent`, `x-amzn-trace-id` and `transfer-encoding` unsigned) and returns the headers
/// as the server receives them.
fn sign_with_sdk(headers: &[(&str, &str)], body: &[u8], signing: &Signing<'_>) -> HeaderMap {
    let mut settings = SigningSettings::default();
    if signing.checksum_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let identity = aws_credential_types::Credentials::new(
        signing.access_key,
        signing.secret,
        None,
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(signing.time)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        "/",
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut map = header_map(headers);
    for (name, value) in instructions.headers() {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    map
}

/// The headers of a ListIdentityPools call that every SDK sends first.
const LIST_POOLS: [(&str, &str); 4] = [
    ("content-type", "application/x-amz-json-1.1"),
    ("content-length", "17"),
    ("host", HOST),
    (
        "x-amz-target",
        "AWSCognitoIdentityService.ListIdentityPools",
    ),
];

fn rust_sdk_headers() -> Vec<(&'static str, &'static str)> {
    let rust = [
        ("user-agent", "aws-sdk-rust/1.3.0 os/linux lang/rust/1.85.0"),
        (
            "x-amz-user-agent",
            "aws-sdk-rust/1.3.0 ua/2.1 api/cognitoidentity/1.60.0 os/linux lang/rust/1.85.0",
        ),
        (
            "amz-sdk-invocation-id",
            "0d6c2c2e-5d0b-4a53-8b2e-5c1b1f3c9a11",
        ),
        ("amz-sdk-request", "attempt=1; max=3"),
    ];
    [LIST_POOLS.as_slice(), &rust].concat()
}

fn js_sdk_headers() -> Vec<(&'static str, &'static str)> {
    let js = [
        (
            "x-amz-user-agent",
            "aws-sdk-js/3.700.0 ua/2.1 os/linux#6.8 lang/js md/nodejs#22.11.0 \
             api/cognito-identity#3.700.0",
        ),
        ("user-agent", "aws-sdk-js/3.700.0"),
        (
            "amz-sdk-invocation-id",
            "6f1b9e0a-2c4d-4e8f-9a7b-1c2d3e4f5a6b",
        ),
        ("amz-sdk-request", "attempt=1; max=3"),
        ("accept", "*/*"),
    ];
    [LIST_POOLS.as_slice(), &js].concat()
}

fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> SignedRequest<'a> {
    SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body,
    }
}

fn verify_at(headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<Caller, SigV4Error> {
    let keys = keys();
    let creds = lookup(&keys);
    verifier().verify(&request(headers, body), now, &creds)
}

fn signed_headers_of(headers: &HeaderMap) -> String {
    let auth = headers["authorization"].to_str().expect("ascii");
    let start = auth.find("SignedHeaders=").expect("SignedHeaders") + "SignedHeaders=".len();
    auth[start..].split(',').next().expect("value").to_owned()
}

fn expected_caller() -> Caller {
    Caller {
        account_id: ACCOUNT.to_owned(),
        access_key_id: ACCESS_KEY.to_owned(),
    }
}

#[test]
fn a_request_signed_by_aws_sigv4_with_the_rust_sdk_header_set_verifies() {
    let headers = sign_with_sdk(&rust_sdk_headers(), BODY, &Signing::default());
    assert_eq!(
        signed_headers_of(&headers),
        "amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;\
         x-amz-date;x-amz-target;x-amz-user-agent"
    );
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn a_request_signed_by_aws_sigv4_with_the_js_sdk_header_set_and_content_sha256_verifies() {
    let signing = Signing {
        checksum_header: true,
        ..Signing::default()
    };
    let headers = sign_with_sdk(&js_sdk_headers(), BODY, &signing);
    assert!(signed_headers_of(&headers).contains("x-amz-content-sha256"));
    assert!(signed_headers_of(&headers).contains("accept"));
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn a_request_signing_only_host_and_date_verifies() {
    let headers = sign_with_sdk(&[("host", HOST)], BODY, &Signing::default());
    assert_eq!(signed_headers_of(&headers), "host;x-amz-date");
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn a_request_with_repeated_and_padded_header_values_verifies() {
    let headers = sign_with_sdk(
        &[
            ("host", HOST),
            ("x-custom", "  first   value  "),
            ("x-custom", "second"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        BODY,
        &Signing::default(),
    );
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn a_request_with_an_empty_body_verifies() {
    let headers = sign_with_sdk(&rust_sdk_headers(), b"", &Signing::default());
    assert_eq!(verify_at(&headers, b"", t0()), Ok(expected_caller()));
}

#[test]
fn headers_the_client_did_not_sign_may_change() {
    let mut headers = sign_with_sdk(&rust_sdk_headers(), BODY, &Signing::default());
    headers.insert("user-agent", HeaderValue::from_static("a proxy rewrote me"));
    headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn a_request_at_the_edge_of_the_allowed_skew_verifies() {
    let headers = sign_with_sdk(&rust_sdk_headers(), BODY, &Signing::default());
    assert!(verify_at(&headers, BODY, at("20260101T000500Z")).is_ok());
    assert!(verify_at(&headers, BODY, at("20251231T235500Z")).is_ok());
}

/// Vectors from the AWS SigV4 test suite (region us-east-1, service "service").
#[test]
fn requests_from_the_aws_sigv4_test_suite_verify() {
    let keys = HashMap::from([(
        "AKIDEXAMPLE".to_owned(),
        Credential {
            account_id: ACCOUNT.to_owned(),
            secret_access_key: SecretString::from(SECRET),
        },
    )]);
    let verifier = Verifier {
        region: "us-east-1".to_owned(),
        service: "service".to_owned(),
        max_skew: DEFAULT_MAX_SKEW,
    };
    let scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/\
                 aws4_request";
    // (name, method, headers, body)
    type Vector<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8]);
    let cases: Vec<Vector<'_>> = vec![
        (
            "get-vanilla",
            "GET",
            vec![
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    "SignedHeaders=host;x-amz-date, \
                     Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                ),
            ],
            b"",
        ),
        (
            "get-header-key-duplicate",
            "GET",
            vec![
                ("host", "example.amazonaws.com"),
                ("my-header1", "value2"),
                ("my-header1", "value2"),
                ("my-header1", "value1"),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    "SignedHeaders=host;my-header1;x-amz-date, \
                     Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
                ),
            ],
            b"",
        ),
        (
            "get-header-value-trim",
            "GET",
            vec![
                ("host", "example.amazonaws.com"),
                ("my-header1", " value1"),
                ("my-header2", " \"a   b   c\""),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    "SignedHeaders=host;my-header1;my-header2;x-amz-date, \
                     Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
                ),
            ],
            b"",
        ),
        (
            "post-x-www-form-urlencoded",
            "POST",
            vec![
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
                ("content-length", "13"),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "x-amz-content-sha256",
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                ),
                (
                    "authorization",
                    "SignedHeaders=content-length;content-type;host;x-amz-content-sha256;\
                     x-amz-date, \
                     Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
                ),
            ],
            b"Param1=value1",
        ),
    ];
    for (name, method, headers, body) in cases {
        let mut map = HeaderMap::new();
        for (header, value) in headers {
            let value = if header == "authorization" {
                format!("{scope}, {value}")
            } else {
                value.to_owned()
            };
            map.append(
                HeaderName::from_bytes(header.as_bytes()).expect("name"),
                HeaderValue::from_str(&value).expect("value"),
            );
        }
        let req = SignedRequest {
            method,
            path: "/",
            query: "",
            headers: &map,
            body,
        };
        let result = verifier.verify(&req, at("20150830T123600Z"), &lookup(&keys));
        assert!(result.is_ok(), "{name}: {result:?}");
    }
}

/// A request signed over the `Date` header instead of `X-Amz-Date`, signed by hand with the
/// `aws-sigv4` HMAC primitives.
#[test]
fn a_request_signed_over_the_date_header_verifies() {
    let date = "Thu, 01 Jan 2026 00:00:00 GMT";
    let canonical = format!(
        "POST\n/\n\ndate:{date}\nhost:{HOST}\n\ndate;host\n{}",
        hex::encode(Sha256::digest(BODY))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/{REGION}/{SERVICE}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = aws_sigv4::sign::v4::generate_signing_key(SECRET, t0(), REGION, SERVICE);
    let signature = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{REGION}/{SERVICE}/aws4_request, \
         SignedHeaders=date;host, Signature={signature}"
    );
    let headers = header_map(&[
        ("host", HOST),
        ("date", date),
        ("authorization", &authorization),
    ]);
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn a_request_signed_by_python_botocore_verifies() {
    let script = r#"
import datetime, json, sys
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
botocore.auth.get_current_datetime = lambda *a, **k: datetime.datetime(2026, 1, 1, 0, 0, 0)
url, body = sys.argv[1], sys.argv[2].encode()
req = AWSRequest(method="POST", url=url, data=body, headers={
"Content-Type": "application/x-amz-json-1.1",
"X-Amz-Target": "AWSCognitoIdentityService.ListIdentityPools",
"User-Agent": "Boto3/1.40.0 md/Botocore#1.43.11 ua/2.1 os/linux#6.8 md/arch#x86_64 lang/python#3.12.3 cfg/retry-mode#legacy Botocore/1.43.11",
})
SigV4Auth(Credentials(sys.argv[3], sys.argv[4]), "cognito-identity", sys.argv[5]).add_auth(req)
print(json.dumps([[k, v] for k, v in req.headers.items()]))
"#;
    for (url, host) in [
        ("https://cognito-identity.eu-west-1.amazonaws.com/", HOST),
        ("http://localhost:8080/", "localhost:8080"),
    ] {
        let output = Command::new("python3")
            .args(["-c", script, url])
            .arg(std::str::from_utf8(BODY).expect("utf-8"))
            .args([ACCESS_KEY, SECRET, REGION])
            .output();
        let output = match output {
            Ok(output) if output.status.success() => output,
            Ok(output) => {
                eprintln!(
                    "skipping the botocore test: python3/botocore unavailable: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                return;
            }
            Err(error) => {
                eprintln!("skipping the botocore test: python3 unavailable: {error}");
                return;
            }
        };
        let pairs: Vec<(String, String)> =
            serde_json::from_slice(&output.stdout).expect("botocore JSON");
        let mut headers = header_map(
            &pairs
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect::<Vec<_>>(),
        );
        // botocore leaves Host to the HTTP client; the server receives it.
        headers.insert("host", HeaderValue::from_str(host).expect("host"));
        assert_eq!(
            signed_headers_of(&headers),
            "content-type;host;x-amz-date;x-amz-target",
            "{url}"
        );
        assert_eq!(
            verify_at(&headers, BODY, t0()),
            Ok(expected_caller()),
            "{url}"
        );
        assert_eq!(
            verify_at(&headers, br#"{"MaxResults":11}"#, t0()),
            Err(SigV4Error::SignatureDoesNotMatch),
            "{url}"
        );
    }
}

fn assert_error(result: Result<Caller, SigV4Error>, code: &str, message: &str) {
    let error = result.expect_err("the request must be refused");
    assert_eq!(error.code(), code, "{error:?}");
    assert_eq!(error.message(), message, "{error:?}");
    assert_eq!(error.status(), 400);
}

/// Verified at t0 over [`BODY`], `headers` are refused with `code` and `message`.
fn assert_refused(headers: &HeaderMap, code: &str, message: &str) {
    assert_error(verify_at(headers, BODY, t0()), code, message);
}

/// The Rust SDK's headers signed with `signing`.
fn sdk_signed(signing: &Signing<'_>) -> HeaderMap {
    sign_with_sdk(&rust_sdk_headers(), BODY, signing)
}

/// The Rust SDK's headers signed as [`Signing::default`], then `name` set
/// to `value`.
fn sdk_signed_then(name: &'static str, value: HeaderValue) -> HeaderMap {
    let mut headers = sdk_signed(&Signing::default());
    headers.insert(name, value);
    headers
}

/// Headers built by hand (aws-sigv4 would not make them): `host`,
/// `x-amz-date` of t0, and `authorization`.
fn by_hand(authorization: &str) -> HeaderMap {
    header_map(&[
        ("host", HOST),
        ("x-amz-date", "20260101T000000Z"),
        ("authorization", authorization),
    ])
}

const MISMATCH: &str = "The request signature we calculated does not match the signature \
                        you provided. Check your AWS Secret Access Key and signing method. \
                        Consult the service documentation for details.";

/// The refusal of a signature that does not match.
fn assert_mismatch(headers: &HeaderMap, body: &[u8]) {
    assert_error(
        verify_at(headers, body, t0()),
        "InvalidSignatureException",
        MISMATCH,
    );
}

#[test]
fn a_request_without_authorization_is_missing_an_authentication_token() {
    let headers = header_map(&[("host", HOST), ("x-amz-date", "20260101T000000Z")]);
    let token = "MissingAuthenticationTokenException";
    assert_refused(&headers, token, "Missing Authentication Token");
}

#[test]
fn an_authorization_header_that_is_not_aws4_is_a_missing_token() {
    for value in ["Bearer eyJhbGciOi", "AWS4", "AWS AKID:sig"] {
        let headers = header_map(&[("host", HOST), ("authorization", value)]);
        assert_eq!(
            verify_at(&headers, BODY, t0()),
            Err(SigV4Error::MissingAuthenticationToken),
            "{value}"
        );
    }
}

#[test]
fn a_presigned_query_string_is_refused_as_incomplete() {
    let headers = header_map(&[("host", HOST)]);
    let keys = keys();
    let req = SignedRequest {
        query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Signature=y",
        ..request(&headers, BODY)
    };
    let result = verifier().verify(&req, t0(), &lookup(&keys));
    assert_eq!(result, Err(SigV4Error::PresignedRequestNotSupported));
    assert_eq!(
        SigV4Error::PresignedRequestNotSupported.code(),
        "IncompleteSignatureException"
    );
}

#[test]
fn a_bare_aws4_header_lists_every_missing_component() {
    let headers = header_map(&[("host", HOST), ("authorization", "AWS4-")]);
    assert_refused(
        &headers,
        "IncompleteSignatureException",
        "Authorization header requires 'Credential' parameter. Authorization header \
         requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
         parameter. Authorization header requires existence of either a 'X-Amz-Date' or a \
         'Date' header. Authorization=AWS4-",
    );
}

#[test]
fn a_header_without_a_signature_names_only_that_part() {
    let scope = format!("{ACCESS_KEY}/20260101/{REGION}/{SERVICE}/aws4_request");
    let authorization =
        format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date");
    let expected = format!(
        "Authorization header requires 'Signature' parameter. Authorization={authorization}"
    );
    assert_refused(
        &by_hand(&authorization),
        "IncompleteSignatureException",
        &expected,
    );
}

#[test]
fn a_token_without_an_equal_sign_is_a_malformed_pair() {
    // A space splits the credential in two.
    let split = format!("{ACCESS_KEY} /20260101/{REGION}/{SERVICE}/aws4_request");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={split}, SignedHeaders=host;x-amz-date, Signature=abc"
    );
    assert_refused(
        &by_hand(&authorization),
        "IncompleteSignatureException",
        &format!(
            "'/20260101/{REGION}/{SERVICE}/aws4_request' not a valid key=value pair \
             (missing equal-sign) in Authorization header: '{authorization}'."
        ),
    );
}

#[test]
fn a_malformed_x_amz_date_is_an_incomplete_signature() {
    let date = HeaderValue::from_static("2026-01-01T00:00:00Z");
    assert_refused(
        &sdk_signed_then("x-amz-date", date),
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'. See \
         http://en.wikipedia.org/wiki/ISO_8601",
    );
}

#[test]
fn an_unsupported_algorithm_is_an_incomplete_signature() {
    let signed = sdk_signed(&Signing::default());
    let authorization = signed["authorization"].to_str().expect("ascii").replacen(
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA512",
        1,
    );
    let authorization = HeaderValue::from_str(&authorization).expect("value");
    assert_refused(
        &sdk_signed_then("authorization", authorization),
        "IncompleteSignatureException",
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ",
    );
}

#[test]
fn a_credential_without_five_parts_is_an_incomplete_signature() {
    let headers = by_hand(
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=abc",
    );
    assert_refused(
        &headers,
        "IncompleteSignatureException",
        "Credential must have exactly 5 slash-delimited elements, e.g. \
         keyid/date/region/service/term, got 'AKID/20260101/eu-west-1/aws4_request'",
    );
}

/// The refusal of a key that is unknown, or temporary.
const UNRECOGNIZED: (&str, &str) = (
    "UnrecognizedClientException",
    "The security token included in the request is invalid.",
);

#[test]
fn an_unknown_access_key_is_an_unrecognized_client() {
    let headers = sdk_signed(&Signing {
        access_key: "AKIDUNKNOWN000000000",
        ..Signing::default()
    });
    let (code, message) = UNRECOGNIZED;
    assert_refused(&headers, code, message);
}

#[test]
fn session_credentials_are_an_unrecognized_client() {
    let mut with_token = rust_sdk_headers();
    with_token.push(("x-amz-security-token", "FwoGZXIvYXdzEJr"));
    let headers = sign_with_sdk(&with_token, BODY, &Signing::default());
    assert!(signed_headers_of(&headers).contains("x-amz-security-token"));
    assert_refused(&headers, UNRECOGNIZED.0, UNRECOGNIZED.1);
}

/// A header signed with the rest must be.
fn assert_must_be_signed(headers: &HeaderMap, name: &str) {
    let message = format!("'{name}' must be a 'SignedHeader' in the AWS Authorization.");
    assert_refused(headers, "InvalidSignatureException", &message);
}

#[test]
fn a_signature_over_host_and_date_only_cannot_be_replayed_as_another_operation() {
    // Signed over `host;x-amz-date`: the target was not part of the signature, so anyone
    // holding this request could send it with any operation name.
    let mut headers = sign_with_sdk(&[("host", HOST)], BODY, &Signing::default());
    headers.insert(
        "x-amz-target",
        HeaderValue::from_static("AWSCognitoIdentityService.DeleteIdentityPool"),
    );
    assert_must_be_signed(&headers, "x-amz-target");
}

#[test]
fn an_unsigned_security_token_is_refused_before_the_key_is_looked_up() {
    let token = HeaderValue::from_static("FwoGZXIvYXdzEJr");
    let headers = sdk_signed_then("x-amz-security-token", token);
    assert_must_be_signed(&headers, "x-amz-security-token");
}

#[test]
fn an_unsigned_content_sha256_or_date_is_refused() {
    for (name, value) in [
        (
            "x-amz-content-sha256",
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ),
        ("x-amz-anything", "x"),
    ] {
        let headers = sdk_signed_then(name, HeaderValue::from_static(value));
        assert_eq!(
            verify_at(&headers, BODY, t0()),
            Err(SigV4Error::HeaderNotSigned {
                name: name.to_owned()
            }),
            "{name}"
        );
    }
    // Signed over `Date`, with an X-Amz-Date added afterwards.
    let date = "Thu, 01 Jan 2026 00:00:00 GMT";
    let headers = header_map(&[
        ("host", HOST),
        ("date", date),
        ("x-amz-date", "20260101T000000Z"),
        (
            "authorization",
            &format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{REGION}/{SERVICE}/\
                 aws4_request, SignedHeaders=date;host, Signature=abc"
            ),
        ),
    ]);
    assert_eq!(
        verify_at(&headers, BODY, t0()),
        Err(SigV4Error::HeaderNotSigned {
            name: "x-amz-date".to_owned()
        })
    );
}

#[test]
fn an_unsigned_x_amz_user_agent_is_the_one_allowed_exception() {
    let target = (
        "x-amz-target",
        "AWSCognitoIdentityService.ListIdentityPools",
    );
    let mut headers = sign_with_sdk(&[("host", HOST), target], BODY, &Signing::default());
    headers.insert(
        "x-amz-user-agent",
        HeaderValue::from_static("aws-sdk-unknown/1.0"),
    );
    headers.insert("x-amzn-trace-id", HeaderValue::from_static("Root=1-abc"));
    assert_eq!(verify_at(&headers, BODY, t0()), Ok(expected_caller()));
}

#[test]
fn two_authorization_headers_are_refused() {
    let signed = sdk_signed(&Signing::default());
    let valid = signed["authorization"].clone();
    let bogus = HeaderValue::from_static("AWS4-HMAC-SHA256 bogus");
    for (first, second) in [
        (valid.clone(), bogus.clone()),
        (bogus, valid.clone()),
        (valid.clone(), valid),
    ] {
        let mut headers = signed.clone();
        headers.remove("authorization");
        headers.append("authorization", first);
        headers.append("authorization", second);
        assert_refused(
            &headers,
            "IncompleteSignatureException",
            "The request carries 2 'Authorization' headers; exactly one is allowed.",
        );
    }
}

#[test]
fn a_parameter_given_twice_in_the_authorization_header_is_refused_even_when_both_are_valid() {
    let signed = sdk_signed(&Signing::default());
    let valid = signed["authorization"].to_str().unwrap().to_owned();
    let part = |name: &str| {
        valid
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .find(|part| part.starts_with(name))
            .unwrap()
            .to_owned()
    };
    let credential = part("Credential=");
    let signature = part("Signature=");
    for (twice, name) in [
        (format!("{valid}, {credential}"), "Credential"),
        (
            valid.replacen(&credential, &format!("{credential}, {credential}"), 1),
            "Credential",
        ),
        (format!("{valid}, {signature}"), "Signature"),
    ] {
        let mut headers = signed.clone();
        headers.insert("authorization", HeaderValue::from_str(&twice).unwrap());
        let err = verify_at(&headers, BODY, t0()).expect_err(&twice);
        assert_eq!(err.code(), "IncompleteSignatureException", "{twice}");
        assert!(
            err.message()
                .contains(&format!("'{name}' parameter more than once")),
            "{}",
            err.message()
        );
    }
}

#[test]
fn a_wrong_secret_does_not_match() {
    let signing = Signing {
        secret: "not-the-secret",
        ..Signing::default()
    };
    assert_mismatch(&sdk_signed(&signing), BODY);
}

#[test]
fn a_tampered_body_does_not_match() {
    assert_mismatch(&sdk_signed(&Signing::default()), br#"{"MaxResults":60}"#);
}

#[test]
fn a_tampered_signed_header_does_not_match() {
    let target = HeaderValue::from_static("AWSCognitoIdentityService.DeleteIdentityPool");
    assert_mismatch(&sdk_signed_then("x-amz-target", target), BODY);
}

#[test]
fn a_removed_signed_header_does_not_match() {
    let mut headers = sdk_signed(&Signing::default());
    headers.remove("x-amz-target");
    assert_eq!(
        verify_at(&headers, BODY, t0()),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn a_tampered_signature_does_not_match() {
    let signed = sdk_signed(&Signing::default());
    let authorization = signed["authorization"].to_str().expect("ascii").to_owned();
    let (head, signature) = authorization.rsplit_once("Signature=").expect("signature");
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let authorization = format!("{head}Signature={flipped}{}", &signature[1..]);
    let headers = sdk_signed_then(
        "authorization",
        HeaderValue::from_str(&authorization).expect("value"),
    );
    assert_eq!(
        verify_at(&headers, BODY, t0()),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn a_content_sha256_that_does_not_match_the_body_is_refused() {
    let signing = Signing {
        checksum_header: true,
        ..Signing::default()
    };
    // Signed over another body, so the header is the other body's hash.
    let headers = sign_with_sdk(&rust_sdk_headers(), br#"{"MaxResults":60}"#, &signing);
    let result = verify_at(&headers, BODY, t0());
    assert_eq!(result, Err(SigV4Error::ContentSha256Mismatch));
    assert_error(result, "InvalidSignatureException", MISMATCH);
}

/// Signed with `signing`, refused for a scope that is not the verifier's.
fn assert_out_of_scope(signing: Signing<'_>, message: &str) {
    assert_refused(&sdk_signed(&signing), "InvalidSignatureException", message);
}

#[test]
fn a_wrong_region_is_refused_with_the_scope_message() {
    assert_out_of_scope(
        Signing {
            region: "us-east-1",
            ..Signing::default()
        },
        "Credential should be scoped to a valid region, not 'us-east-1'. ",
    );
}

#[test]
fn a_wrong_service_is_refused_with_the_scope_message() {
    let signing = Signing {
        service: "cognito-idp",
        ..Signing::default()
    };
    let message = "Credential should be scoped to correct service: 'cognito-identity'. ";
    assert_out_of_scope(signing, message);
}

#[test]
fn every_scope_problem_is_reported_in_one_message() {
    let headers = by_hand(
        "AWS4-HMAC-SHA256 Credential=AKID/20251231/us-east-2/sts/aws4_reqest, \
         SignedHeaders=host;x-amz-date, Signature=abc",
    );
    assert_refused(
        &headers,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'us-east-2'. Credential should \
         be scoped to correct service: 'cognito-identity'. Credential should be scoped with \
         a valid terminator: 'aws4_request', not 'aws4_reqest'. Date in Credential scope \
         does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != \
         '20260101', from '20260101T000000Z'. ",
    );
}

/// Refused as `Signature expired` or `not yet current`, with `message`.
fn assert_out_of_time(headers: &HeaderMap, now: SystemTime, message: &str) {
    assert_error(
        verify_at(headers, BODY, now),
        "InvalidSignatureException",
        message,
    );
}

#[test]
fn an_expired_timestamp_is_refused() {
    let headers = sdk_signed(&Signing::default());
    assert_out_of_time(
        &headers,
        at("20260101T001000Z"),
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z \
         (20260101T001000Z - 5 min.)",
    );
    // One second past the window, with a sub-second `now`.
    let now = SystemTime::from(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 5, 1).unwrap() + chrono::Duration::milliseconds(900),
    );
    assert_out_of_time(
        &headers,
        now,
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z \
         (20260101T000501Z - 5 min.)",
    );
}

#[test]
fn a_future_timestamp_is_refused() {
    let headers = sdk_signed(&Signing {
        time: at("20260101T002000Z"),
        ..Signing::default()
    });
    assert_out_of_time(
        &headers,
        at("20260101T000000Z"),
        "Signature not yet current: 20260101T002000Z is still later than 20260101T000500Z \
         (20260101T000000Z + 5 min.)",
    );
}

#[test]
fn the_skew_is_described_in_seconds_when_not_whole_minutes() {
    let headers = sdk_signed(&Signing::default());
    let keys = keys();
    let verifier = Verifier {
        max_skew: Duration::from_secs(90),
        ..verifier()
    };
    let result = verifier.verify(
        &request(&headers, BODY),
        at("20260101T000200Z"),
        &lookup(&keys),
    );
    assert_error(
        result,
        "InvalidSignatureException",
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000030Z \
         (20260101T000200Z - 90 sec.)",
    );
}

#[test]
fn a_request_that_does_not_sign_host_is_refused() {
    // aws-sigv4 always signs host, so build the header by hand.
    let headers = by_hand(&format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{REGION}/{SERVICE}/\
         aws4_request, SignedHeaders=x-amz-date, Signature=abc"
    ));
    assert_refused(
        &headers,
        "InvalidSignatureException",
        "'Host' must be a 'SignedHeader' in the AWS Authorization.",
    );
}

#[test]
fn every_error_is_a_400_with_an_aws_code() {
    let errors = [
        (
            SigV4Error::MissingAuthenticationToken,
            "MissingAuthenticationTokenException",
        ),
        (SigV4Error::HostNotSigned, "InvalidSignatureException"),
        (
            SigV4Error::HeaderNotSigned {
                name: "x-amz-target".to_owned(),
            },
            "InvalidSignatureException",
        ),
        (
            SigV4Error::MultipleAuthorizationHeaders { count: 2 },
            "IncompleteSignatureException",
        ),
        (
            SigV4Error::UnrecognizedClient,
            "UnrecognizedClientException",
        ),
        (
            SigV4Error::SecurityTokenNotSupported,
            "UnrecognizedClientException",
        ),
        (
            SigV4Error::SignatureDoesNotMatch,
            "InvalidSignatureException",
        ),
        (
            SigV4Error::MalformedDate {
                value: String::new(),
            },
            "IncompleteSignatureException",
        ),
    ];
    for (error, code) in errors {
        assert_eq!(error.code(), code);
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.to_string(),
            format!("{}: {}", error.code(), error.message())
        );
    }
}

#[test]
fn secrets_compare_equal_only_when_equal() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}
