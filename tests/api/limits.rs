//! Connection limits and admission: slow clients are cut off, and a flood of
//! public calls does not starve the signed management plane or the health
//! checks. Assertions are on outcomes (cut off, refused, answered), never on
//! how fast this machine is; the measured figures are printed for the record.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{
    assert_timed_out_and_closed, describe_pool, eventually, list_pools, percentile,
    raw_get_id_head, spawn_app, spawn_app_with, TestApp,
};

/// How long a test waits for the server to cut a slow client off before it
/// declares that it never will. Far above the configured timeouts (2 s).
const GIVE_UP: Duration = Duration::from_secs(30);

/// What the server did to a connection.
#[derive(Debug)]
enum Ending {
    /// It closed (or reset) the connection; whatever it wrote before is kept.
    Closed(String),
    /// It sent a complete response (and may keep the connection open).
    Answered(String),
    /// Nothing happened within [`GIVE_UP`].
    StillOpen,
}

/// Reads until the server closes the connection or has sent one complete
/// response, for at most [`GIVE_UP`].
async fn wait_for_the_server(mut reader: tokio::net::tcp::OwnedReadHalf) -> Ending {
    let mut got = Vec::new();
    let ending = tokio::time::timeout(GIVE_UP, async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if response_is_complete(&got) {
                return true;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    match ending {
        Ok(true) => Ending::Answered(text),
        Ok(false) => Ending::Closed(text),
        Err(_) => Ending::StillOpen,
    }
}

fn response_is_complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    body.len() >= length
}

fn authority(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Waits for the server to end a connection that `trickle` keeps feeding
/// (`what`: how, for the record), prints how long the client lasted, and
/// returns what the server wrote; fails if the server never ends it.
async fn response_of_cut_off_client(
    reader: tokio::net::tcp::OwnedReadHalf,
    started: Instant,
    trickle: tokio::task::JoinHandle<()>,
    what: &str,
) -> String {
    let ending = wait_for_the_server(reader).await;
    let survived = started.elapsed().as_secs_f64();
    trickle.abort();
    eprintln!("MEASURED: a client trickling {what} survived {survived:.2} s: {ending:?}");
    match ending {
        Ending::StillOpen => {
            panic!("the client trickling {what} was still connected after {GIVE_UP:?}")
        }
        Ending::Answered(response) | Ending::Closed(response) => response,
    }
}

#[tokio::test]
async fn a_body_trickling_in_one_byte_a_second_is_cut_off_within_the_body_timeout() {
    let app = spawn_app_with(|s| s.server.request_body_timeout_seconds = 2).await;
    let host = authority(&app);
    let body = br#"{"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"}"#;
    let head = raw_get_id_head(&host, &format!("Content-Length: {}", body.len()));
    let stream = TcpStream::connect(&host).await.expect("connect");
    let (reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.expect("head sent");
    let started = Instant::now();
    // The whole body would take 70 s at this pace.
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let what = "its body at 1 byte/s (request_body_timeout_seconds = 2)";
    let response = response_of_cut_off_client(reader, started, trickle, what).await;
    assert!(
        !response.starts_with("HTTP/1.1 200"),
        "a half-sent body must never succeed: {response}"
    );
    if !response.is_empty() {
        assert_timed_out_and_closed(&response);
        let typed = response.contains(r#""__type":"RequestTimeoutException""#);
        assert!(typed, "{response}");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off() {
    let app = spawn_app_with(|s| s.server.request_head_timeout_seconds = 2).await;
    let host = authority(&app);
    let stream = TcpStream::connect(&host).await.expect("connect");
    let (reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let head = format!("POST / HTTP/1.1\r\nHost: {host}\r\nX-Slow: ");
    writer
        .write_all(head.as_bytes())
        .await
        .expect("partial head");
    // One more byte of a header value that never ends, every second.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let what = "its head at 1 byte/s (request_head_timeout_seconds = 2)";
    let response = response_of_cut_off_client(reader, started, trickle, what).await;
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 408"),
        "{response}"
    );
}

#[tokio::test]
async fn signed_calls_and_readyz_succeed_while_64_public_callers_flood_get_id() {
    let app = Arc::new(spawn_app().await);
    let pool = app.create_pool("flooded").await;

    let mut quiet = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let listed = list_pools(&app.client, 10).send().await;
        listed.expect("ListIdentityPools before the flood");
        quiet.push(started.elapsed());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (served, throttled, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let body = serde_json::json!({ "IdentityPoolId": pool }).to_string();
    let flooders: Vec<_> = (0..64)
        .map(|_| {
            let (app, stop, body) = (app.clone(), stop.clone(), body.clone());
            let (served, throttled, other) = (served.clone(), throttled.clone(), other.clone());
            tokio::spawn(async move {
                let mut unexpected = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let res = app.post_raw(Some("GetId"), body.clone()).await;
                    let status = res.status();
                    let answer: serde_json::Value =
                        serde_json::from_slice(&res.bytes().await.unwrap_or_default())
                            .unwrap_or_default();
                    if status == 200 && answer.get("IdentityId").is_some() {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else if status == 400 && answer["__type"] == "TooManyRequestsException" {
                        throttled.fetch_add(1, Ordering::Relaxed);
                    } else {
                        other.fetch_add(1, Ordering::Relaxed);
                        if unexpected.len() < 3 {
                            unexpected.push(format!("{status} {answer}"));
                        }
                    }
                }
                unexpected
            })
        })
        .collect();

    // Let the flood build up, then call the management plane and the health check for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    let mut readyz = 0;
    let flood_started = Instant::now();
    while flood_started.elapsed() < Duration::from_secs(4) {
        let started = Instant::now();
        let listed = list_pools(&app.client, 10).send().await;
        listed.expect("ListIdentityPools during the flood");
        latencies.push(started.elapsed());
        let started = Instant::now();
        let described = describe_pool(&app.client, &pool).send().await;
        let described = described.expect("DescribeIdentityPool during the flood");
        latencies.push(started.elapsed());
        assert_eq!(described.identity_pool_name, "flooded");
        let (status, _) = app.readyz().await;
        assert_eq!(status, 200, "/readyz during the flood");
        readyz += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut unexpected = Vec::new();
    for flooder in flooders {
        unexpected.extend(flooder.await.expect("flooder"));
    }

    latencies.sort();
    quiet.sort();
    let (served, throttled, other) = (
        served.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    eprintln!(
        "MEASURED: quiet signed latency p50 {:?}; during a 64-caller GetId flood: {} signed \
         calls p50 {:?} p99 {:?} max {:?}, {readyz} /readyz OK; GetId: {served} served, \
         {throttled} TooManyRequestsException, {other} other",
        percentile(&quiet, 50),
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default(),
    );
    assert!(readyz > 0 && !latencies.is_empty());
    assert_eq!(
        other, 0,
        "a public caller got something else than an answer or TooManyRequestsException: \
         {unexpected:?}"
    );
    assert!(served > 0, "the flood itself must be served too");
}

#[tokio::test]
async fn a_request_whose_body_arrives_in_time_is_unaffected_by_the_body_timeout() {
    let app = spawn_app().await;
    let res = app
        .post_raw(
            Some("GetId"),
            r#"{"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"}"#,
        )
        .await;
    let answer: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["__type"], "ResourceNotFoundException", "{answer}");
}

/// The `__type` of the answer to a raw GetId with `body` (empty on success).
async fn answer_to(app: &TestApp, body: String) -> String {
    let res = app.post_raw(Some("GetId"), body).await;
    let answer: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    answer["__type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn stalled_bodies_cannot_hold_more_memory_than_the_body_byte_budget() {
    let app = spawn_app_with(|s| {
        s.server.max_body_bytes = 64 * 1024;
        s.server.max_buffered_body_bytes = 64 * 1024;
        s.server.request_body_timeout_seconds = 60;
    })
    .await;
    let host = authority(&app);
    let head = raw_get_id_head(&host, &format!("Content-Length: {}", 64 * 1024));
    // A well-formed 8 KiB request, which does not fit in what a stalled 60 KiB body leaves.
    let padded = format!(
        r#"{{"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"{}}}"#,
        " ".repeat(8 * 1024)
    );
    let mut refused = None;
    // Whichever body the server counts second is the one refused: if the small request was
    // counted first, the stalled client is the one answered, and the round starts over.
    for _round in 0..10 {
        // A client announces a 64 KiB body, sends 60 KiB of it, and stalls.
        let mut stalled = TcpStream::connect(&host).await.expect("connect");
        stalled.write_all(head.as_bytes()).await.expect("head");
        stalled
            .write_all(&vec![b' '; 60 * 1024])
            .await
            .expect("most of the body");
        tokio::time::sleep(Duration::from_millis(200)).await;
        for _ in 0..10 {
            let code = answer_to(&app, padded.clone()).await;
            if code == "TooManyRequestsException" {
                refused = Some(stalled);
                break;
            }
            assert_eq!(code, "ResourceNotFoundException");
            if !matches!(stalled.try_read(&mut [0u8; 64]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                break; // the stalled client was answered (refused) instead
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if refused.is_some() {
            break;
        }
    }
    let Some(stalled) = refused else {
        panic!("a body beyond the byte budget must be refused while a stalled one holds it");
    };
    // Once the stalled client goes away, its bytes are given back.
    drop(stalled);
    let pause = Duration::from_millis(100);
    let served = eventually(100, pause, async || {
        answer_to(&app, padded.clone()).await == "ResourceNotFoundException"
    })
    .await;
    assert!(
        served,
        "the budget must be given back when a body is dropped"
    );
}
