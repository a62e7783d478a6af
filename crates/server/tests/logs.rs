//! What `cognate serve` writes to its log when clients send it hostile
//! input: no forged line, no escape sequence, no ERROR a client can cause.
//! The real binary, on a fresh database of the test cluster, logging to a
//! file at INFO, as an operator runs it.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use cognate_tests::serve::{command, free_port, temp_dir};
use common::{assert_none_of, empty_database, raw, wait_until_ok};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");

/// An access key id no account has.
const UNKNOWN_KEY: &str = "AKIAUNKNOWNKEY000042";

/// An IdentityPoolId that tries to forge a log line and colour the terminal.
const FORGED: &str = "us-east-1:x\n2026-12-07T03:30:00.000000Z  INFO request ok \
                      operation=DeleteIdentityPool forged=yes\r\u{1b}[31mred\u{1b}[0m";

struct Served {
    child: std::process::Child,
    addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(format: &str) -> Served {
    let database_url = empty_database().await;
    let dir = temp_dir("cognate-logs-");
    let addr = format!("127.0.0.1:{}", free_port());
    let log = dir.path().join("serve.log");
    let child = command(BIN, &["serve"])
        .env("COGNATE__DATABASE__URL", &database_url)
        .env("COGNATE__SERVER__BIND", &addr)
        .env("COGNATE__SERVER__MANAGEMENT_BIND", "127.0.0.1:0")
        .env("COGNATE__LOG__LEVEL", "info")
        .env("COGNATE__LOG__FORMAT", format)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn cognate serve");
    let served = Served {
        child,
        addr,
        log,
        _dir: dir,
    };
    assert!(
        wait_until_ok(&served.addr, "/readyz"),
        "not ready: {}",
        fs::read_to_string(&served.log).unwrap_or_default()
    );
    served
}

fn get_id(addr: &str, pool_id: &str) -> String {
    let body = serde_json::json!({ "IdentityPoolId": pool_id }).to_string();
    raw(
        addr,
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AWSCognitoIdentityService.GetId\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// Sends the hostile requests, waits for them to be logged, returns the log.
fn attack(served: &Served) -> String {
    let answer = get_id(&served.addr, FORGED);
    assert!(answer.contains("ValidationException"), "{answer}");
    // An unknown target carrying the same payload.
    let forged_target = raw(
        &served.addr,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSCognitoIdentityService.Get\u{1b}[2J\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            .as_bytes(),
    );
    assert!(forged_target.starts_with("HTTP/1.1 400"), "{forged_target}");
    // A misspelt operation.
    let misspelt = raw(
        &served.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSCognitoIdentityService.GetIdd\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert!(misspelt.starts_with("HTTP/1.1 400"), "{misspelt}");
    // A signed call with an access key nobody configured.
    let body = "{\"MaxResults\":1}";
    let now = Command::new("date")
        .args(["-u", "+%Y%m%dT%H%M%SZ"])
        .output()
        .unwrap()
        .stdout;
    let now = String::from_utf8(now).unwrap();
    let (now, today) = (now.trim(), &now[..8]);
    let unknown_key = raw(
        &served.addr,
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSCognitoIdentityService.ListIdentityPools\r\n\
             X-Amz-Date: {now}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential={UNKNOWN_KEY}/{today}/us-east-1/cognito-identity/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-target, Signature={}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            "0".repeat(64),
            body.len()
        )
        .as_bytes(),
    );
    assert!(unknown_key.starts_with("HTTP/1.1 400"), "{unknown_key}");
    // Malformed request heads, which anyone can send.
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    ] {
        raw(&served.addr, garbage);
    }
    // A last, ordinary request, so everything before it has been logged.
    let answer = get_id(
        &served.addr,
        "us-east-1:00000000-0000-0000-0000-000000000000",
    );
    assert!(answer.contains("ResourceNotFoundException"), "{answer}");
    std::thread::sleep(Duration::from_millis(300));
    fs::read_to_string(&served.log).unwrap()
}

#[tokio::test]
async fn a_forged_line_an_escape_sequence_or_a_client_caused_error_never_reaches_the_text_log() {
    let served = serve("text").await;
    let log = attack(&served);
    assert!(
        log.contains("request refused"),
        "the refusal is logged: {log}"
    );
    assert!(
        log.contains("2026-12-07T03:30:00.000000Z"),
        "the forged text is kept, escaped, on the refusal's own line: {log}"
    );
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-12-07T03:30:00"),
            "a forged line: {line:?}\n{log}"
        );
        assert!(
            !line.contains("forged=yes") || line.contains("request refused"),
            "{line:?}"
        );
        assert!(
            !line.contains(" ERROR "),
            "a client caused an ERROR line: {line:?}"
        );
    }
    assert_none_of(
        &log,
        &[
            ("\u{1b}", "an escape sequence reached the log"),
            ("\r", "a carriage return reached the log"),
        ],
    );
    assert!(log.contains("\\u{1b}[31m"), "escaped, not dropped: {log}");
    // Refusals say what the client sent that nothing matches.
    assert!(
        log.lines().any(|l| l.contains("request refused")
            && l.contains("x_amz_target=Some(\"AWSCognitoIdentityService.GetIdd\")")),
        "the unknown target is named: {log}"
    );
    assert!(
        log.lines().any(|l| l.contains("request refused")
            && l.contains(&format!("access_key_id=\"{UNKNOWN_KEY}\""))
            && l.contains("UnrecognizedClientException")),
        "the unknown access key is named: {log}"
    );
    // The trace exporter's fields stay out of the log, and leave no gap.
    for line in log.lines().filter(|l| l.contains("request{")) {
        let span = &line[line.find("request{").unwrap()..line.find("}:").unwrap_or(line.len())];
        assert!(
            span.starts_with("request{request_id=")
                && !span.contains("otel.")
                && !span.contains("  "),
            "{span}"
        );
    }
    // One "listening" line; not actix's start lines for every listener.
    assert_eq!(log.matches("listening").count(), 1, "{log}");
    assert!(!log.contains("Actix runtime found"), "{log}");
    assert!(!log.contains("starting 1 workers"), "{log}");
}

#[tokio::test]
async fn every_line_of_the_json_log_is_one_json_object_whatever_clients_send() {
    let served = serve("json").await;
    let log = attack(&served);
    let mut refused = 0;
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{log}"));
        assert_ne!(event["level"], "ERROR", "a client caused an ERROR: {line}");
        assert!(
            event.get("spans").is_none(),
            "the span list repeats the span: {line}"
        );
        if event["message"] == "request refused" && event["error.code"] == "ValidationException" {
            refused += 1;
            assert!(event["span"]["request_id"].is_string(), "{line}");
        }
    }
    assert!(refused >= 1, "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
