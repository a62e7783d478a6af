//! OpenTelemetry traces of the real binary, as a collector receives them:
//! an OTLP/HTTP receiver here decodes what Cognate sends with the official
//! protobuf definitions (`opentelemetry-proto`), and stand-ins for Facebook's
//! token check and for the STS record the `traceparent` they are sent.

mod common;

use std::collections::HashMap;
use std::fs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cognate_tests::serve::{command, config_file, free_port, temp_dir, Served};
use common::{account_toml, empty_database, json_call, sdk_config};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");
const ACCESS_KEY: &str = "AKIATRACES0000000001";
const SECRET_KEY: &str = "traces-test-secret-key-0000000000001";
const FACEBOOK_TOKEN: &str = "EAAB-facebook-token-that-must-never-be-an-attribute";

/// One request a stand-in received: its head (lower-cased header names)
/// and body.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A minimal HTTP/1.1 server on a free port answering every request with
/// `status` and `body` (and `content_type`), recording what it received.
async fn stand_in(status: u16, content_type: &'static str, body: String) -> (u16, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            let body = body.clone();
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let head_end = loop {
                        let mut chunk = [0u8; 4096];
                        let Ok(n) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let headers: HashMap<String, String> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut request_body = buf[head_end..].to_vec();
                    while request_body.len() < length {
                        let mut chunk = vec![0u8; length - request_body.len()];
                        let Ok(n) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        request_body.extend_from_slice(&chunk[..n]);
                    }
                    seen.lock().unwrap().push(Received {
                        headers,
                        body: request_body,
                    });
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, log)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| format!("{:?}", a.value.as_ref().and_then(|v| v.value.as_ref())))
}

/// The spans received so far.
fn spans(otlp: &Log) -> Vec<Span> {
    otlp.lock()
        .unwrap()
        .iter()
        .flat_map(|r| {
            ExportTraceServiceRequest::decode(r.body.as_slice())
                .expect("an OTLP protobuf ExportTraceServiceRequest")
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

#[tokio::test]
async fn a_get_credentials_for_identity_is_one_trace_carried_to_the_sts_and_the_provider() {
    let database_url = empty_database().await;
    let (otlp_port, otlp) = stand_in(200, "application/x-protobuf", String::new()).await;
    let (sts_port, sts) = stand_in(
        200,
        "text/xml",
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <SessionToken>session-token-value</SessionToken>
      <SecretAccessKey>secret-value</SecretAccessKey>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
      <AccessKeyId>ASIATRACES</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#
            .to_owned(),
    )
    .await;
    let (facebook_port, facebook) = stand_in(
        200,
        "application/json",
        r#"{"data":{"is_valid":true,"app_id":"1234567890","user_id":"fb-user-1"}}"#.to_owned(),
    )
    .await;

    let dir = temp_dir("cognate-traces-");
    let account = account_toml("111111111111", ACCESS_KEY, SECRET_KEY, "");
    let (config, url) = config_file(
        dir.path(),
        free_port(),
        &database_url,
        &format!(
            r#"
[sts]
endpoint = "http://127.0.0.1:{sts_port}/"

[[upstream]]
provider = "graph.facebook.com"
token_info_url = "http://127.0.0.1:{facebook_port}/debug_token"

{account}
[telemetry]
otlp_endpoint = "http://127.0.0.1:{otlp_port}"
service_name = "cognate-under-test"
accept_traceparent = true
"#
        ),
    );
    let log = dir.path().join("serve.log");
    // Export every half second, not every five.
    let mut cmd = command(BIN, &[]);
    cmd.env("OTEL_BSP_SCHEDULE_DELAY", "500");
    let cognate = Served::start(cmd, &config, &log, &url).await;
    let http = reqwest::Client::new();

    let admin = aws_sdk_cognitoidentity::Client::from_conf(
        sdk_config(&url, ACCESS_KEY, SECRET_KEY, "t").build(),
    );
    let pool = admin
        .create_identity_pool()
        .identity_pool_name("traced")
        .allow_unauthenticated_identities(false)
        .supported_login_providers("graph.facebook.com", "1234567890")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    admin
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", "arn:aws:iam::111111111111:role/signed-in")
        .send()
        .await
        .unwrap();

    // The app's calls, each under a span of its own (W3C traceparent).
    let call = |target: &'static str, body: serde_json::Value, traceparent: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let answer = json_call(&http, &url, target, &body)
                .header("traceparent", traceparent)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.json::<serde_json::Value>().await.unwrap()
        }
    };
    const GET_ID_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const CREDENTIALS_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";
    let logins = serde_json::json!({ "graph.facebook.com": FACEBOOK_TOKEN });
    let identity = call(
        "GetId",
        serde_json::json!({ "IdentityPoolId": pool, "Logins": logins }),
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
    )
    .await["IdentityId"]
        .as_str()
        .unwrap()
        .to_owned();
    let credentials = call(
        "GetCredentialsForIdentity",
        serde_json::json!({ "IdentityId": identity, "Logins": logins }),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    .await;
    assert_eq!(credentials["Credentials"]["AccessKeyId"], "ASIATRACES");

    // The spans arrive in batches.
    let deadline = Instant::now() + Duration::from_secs(30);
    let received = loop {
        let received = spans(&otlp);
        let sts_span = received
            .iter()
            .any(|s| s.name == "sts.AssumeRoleWithWebIdentity");
        if sts_span {
            break received;
        }
        assert!(
            Instant::now() < deadline,
            "no STS span received; got {:?}\n{}",
            received.iter().map(|s| &s.name).collect::<Vec<_>>(),
            fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(cognate);

    // One trace per call, under the caller's span.
    let in_trace = |trace: &str| -> Vec<&Span> {
        received
            .iter()
            .filter(|s| hex(&s.trace_id) == trace)
            .collect()
    };
    let trace = in_trace(CREDENTIALS_TRACE);
    let by_id: HashMap<String, &Span> = trace.iter().map(|s| (hex(&s.span_id), *s)).collect();
    let root = trace
        .iter()
        .find(|s| s.name == "GetCredentialsForIdentity")
        .unwrap_or_else(|| panic!("no request span in {trace:#?}"));
    assert_eq!(
        hex(&root.parent_span_id),
        CALLER_SPAN,
        "the caller's span is its parent"
    );
    assert_eq!(
        attribute(root, "outcome").as_deref(),
        Some("Some(StringValue(\"OK\"))")
    );
    assert_eq!(
        attribute(root, "account").as_deref(),
        Some("Some(StringValue(\"111111111111\"))")
    );
    // Every span of the trace descends from the request span.
    for span in &trace {
        let mut at = *span;
        while hex(&at.span_id) != hex(&root.span_id) {
            at = by_id
                .get(&hex(&at.parent_span_id))
                .unwrap_or_else(|| panic!("{} is not under the request span", span.name));
        }
    }
    // The trace as the collector has it (shown with --nocapture).
    for span in &trace {
        eprintln!(
            "{} span={} parent={} {} µs {:?}",
            span.name,
            hex(&span.span_id),
            hex(&span.parent_span_id),
            (span.end_time_unix_nano - span.start_time_unix_nano) / 1000,
            span.attributes
                .iter()
                .map(|a| format!(
                    "{}={:?}",
                    a.key,
                    a.value.as_ref().and_then(|v| v.value.as_ref())
                ))
                .collect::<Vec<_>>()
        );
    }
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "validate",
        "db.read_identity_with_pool",
        "upstream.verify",
        "token.sign",
        "sts.AssumeRoleWithWebIdentity",
    ] {
        assert!(names.contains(&expected), "no {expected} span in {names:?}");
    }
    // The STS was asked within that span's trace, under its span.
    let sts_span = trace
        .iter()
        .find(|s| s.name == "sts.AssumeRoleWithWebIdentity")
        .unwrap();
    let sts_requests = sts.lock().unwrap().clone();
    assert_eq!(
        sts_requests[0]
            .headers
            .get("traceparent")
            .map(String::as_str),
        Some(format!("00-{CREDENTIALS_TRACE}-{}-01", hex(&sts_span.span_id)).as_str()),
        "the STS sees the trace, its parent the STS span"
    );
    // So was the provider, during GetId's trace.
    let get_id = in_trace(GET_ID_TRACE);
    assert!(
        get_id.iter().any(|s| s.name == "GetId"),
        "{:?}",
        get_id.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let upstream_get = get_id
        .iter()
        .find(|s| s.name == "upstream.get")
        .expect("the token check's span");
    let first_check = facebook.lock().unwrap()[0].clone();
    assert_eq!(
        first_check.headers.get("traceparent").map(String::as_str),
        Some(format!("00-{GET_ID_TRACE}-{}-01", hex(&upstream_get.span_id)).as_str())
    );
    // No token in any span: attributes hold ids and names only.
    let everything = format!("{received:?}");
    assert!(
        !everything.contains(FACEBOOK_TOKEN),
        "a Logins token in a span"
    );
    assert!(
        !everything.contains("session-token-value"),
        "a session token in a span"
    );
    assert!(!everything.contains("eyJ"), "a JWT in a span");
    // The resource names the service.
    let request =
        ExportTraceServiceRequest::decode(otlp.lock().unwrap()[0].body.as_slice()).unwrap();
    let resource = format!("{:?}", request.resource_spans[0].resource);
    assert!(resource.contains("cognate-under-test"), "{resource}");
}
