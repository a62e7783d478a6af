//! Request-rate quotas: TooManyRequestsException over quota, overrides,
//! unlimited, metrics, the owner of unsigned calls, and one quota shared
//! by two instances on one database.
//!
//! Every app here starts from the test settings (all quotas 0 = unlimited)
//! and sets the quotas it tests. Assertions are on counts, never latency;
//! the hammering tests run for a fixed ~3 s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cognate_server::config::Settings;

use crate::helpers::{
    create_pool_with, error_code, error_message, json_request, list_identities, open_id_token,
    spawn_app_on, spawn_app_with, TestApp, ACCOUNT_A, ACCOUNT_B,
};

fn set_quota(settings: &mut Settings, operation: &str, rate: u32) {
    settings.quotas.insert(operation.to_owned(), rate);
}

/// How many identities the pool holds (ListIdentities is unlimited here).
async fn identity_count(client: &aws_sdk_cognitoidentity::Client, pool: &str) -> usize {
    let mut count = 0;
    let mut next = None;
    loop {
        let request = list_identities(client, pool, 60).set_next_token(next);
        let page = request.send().await.expect("ListIdentities");
        count += page.identities().len();
        next = page.next_token;
        if next.is_none() {
            return count;
        }
    }
}

/// Unsigned GetId calls through the SDK, one after the other: (admitted, refused).
async fn get_ids(app: &TestApp, pool: &str, calls: usize) -> (usize, usize) {
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..calls {
        match app.client.get_id().identity_pool_id(pool).send().await {
            Ok(_) => ok += 1,
            Err(err) => {
                assert_eq!(error_code(&err), "TooManyRequestsException", "{err:?}");
                assert_eq!(error_message(&err), "Rate exceeded");
                refused += 1;
            }
        }
    }
    (ok, refused)
}

async fn metrics_text(app: &TestApp) -> String {
    app.http
        .get(format!("{}/metrics", app.management_address))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn get_id_over_the_quota_answers_too_many_requests_and_creates_no_identity() {
    let app = spawn_app_with(|s| set_quota(s, "GetId", 2)).await;
    let pool = app.create_pool("quota").await;
    let started = Instant::now();
    let (ok, refused) = get_ids(&app, &pool, 30).await;
    let seconds = started.elapsed().as_secs_f64();
    // Burst 2, then 2/s (+1 for a token leased at the edge).
    let most = 2 + (2.0 * seconds).ceil() as usize + 1;
    assert!((2..=most).contains(&ok), "admitted {ok} in {seconds:.2}s");
    assert!(refused >= 30 - most, "refused {refused}");
    assert_eq!(identity_count(&app.client, &pool).await, ok);

    // On the wire: HTTP 400 with AWS's JSON error body (a token may have
    // refilled meanwhile: the first few raw calls may still be admitted).
    let mut refusal = None;
    for _ in 0..10 {
        let res = app
            .post_raw(Some("GetId"), format!(r#"{{"IdentityPoolId":"{pool}"}}"#))
            .await;
        if res.status() != 200 {
            refusal = Some(res);
            break;
        }
    }
    {
        let res = refusal.expect("a refused raw GetId");
        assert_eq!(res.status(), 400);
        assert_eq!(
            res.headers()["x-amzn-ErrorType"].to_str().unwrap(),
            "TooManyRequestsException"
        );
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"__type": "TooManyRequestsException", "message": "Rate exceeded"})
        );
    }
}

#[tokio::test]
async fn an_account_override_raises_the_quota_for_that_account_only() {
    let app = spawn_app_with(|s| {
        set_quota(s, "GetId", 1);
        s.accounts[0].quotas.insert("GetId".to_owned(), 500);
    })
    .await;
    let pool_a = app.create_pool("raised").await;
    let (ok, refused) = get_ids(&app, &pool_a, 20).await;
    assert_eq!((ok, refused), (20, 0));

    let pool_b = create_pool_with(&app.client_b(), "default", true, |p| p).await;
    let (ok, refused) = get_ids(&app, &pool_b, 20).await;
    assert!(ok < 20 && refused > 0, "B admitted {ok}, refused {refused}");
}

#[tokio::test]
async fn a_quota_of_zero_is_unlimited() {
    let app = spawn_app_with(|s| set_quota(s, "GetId", 0)).await;
    let pool = app.create_pool("unlimited").await;
    let (ok, refused) = get_ids(&app, &pool, 80).await;
    assert_eq!((ok, refused), (80, 0));
    assert_eq!(identity_count(&app.client, &pool).await, 80);
}

#[tokio::test]
async fn metrics_count_throttled_calls_by_account_and_operation() {
    let app = spawn_app_with(|s| set_quota(s, "GetId", 1)).await;
    let pool = app.create_pool("metered").await;
    let (_, refused) = get_ids(&app, &pool, 10).await;
    assert!(refused > 0);
    let text = metrics_text(&app).await;
    let line = format!(
        r#"cognate_throttled_requests_total{{account="{ACCOUNT_A}",operation="GetId"}} {refused}"#
    );
    assert!(text.contains(&line), "no `{line}` in\n{text}");
    let line = format!(
        r#"cognate_requests_total{{code="TooManyRequestsException",operation="GetId"}} {refused}"#
    );
    assert!(text.contains(&line), "no `{line}` in\n{text}");
}

#[tokio::test]
async fn an_unsigned_get_open_id_token_counts_against_the_pool_owners_account() {
    let app = spawn_app_with(|s| set_quota(s, "GetOpenIdToken", 2)).await;
    let pool_b = create_pool_with(&app.client_b(), "owned-by-b", true, |p| {
        p.allow_classic_flow(true)
    })
    .await;
    let pool_a = app.create_pool("owned-by-a").await;
    let id_b = app.guest(&pool_b).await;
    let id_a = app.guest(&pool_a).await;
    let mut refused = 0;
    for _ in 0..15 {
        if let Err(err) = open_id_token(&app.client, &id_b, &[]).send().await {
            assert_eq!(error_code(&err), "TooManyRequestsException");
            refused += 1;
        }
    }
    assert!(refused > 0, "B's quota of 2/s was never reached");
    // A's quota is untouched by B's calls.
    let of_a = open_id_token(&app.client, &id_a, &[]).send().await;
    of_a.expect("A's GetOpenIdToken is admitted");
    let text = metrics_text(&app).await;
    let line = format!(
        r#"cognate_throttled_requests_total{{account="{ACCOUNT_B}",operation="GetOpenIdToken"}} {refused}"#
    );
    assert!(text.contains(&line), "no `{line}` in\n{text}");
    assert!(
        !text.contains(&format!(
            r#"account="{ACCOUNT_A}",operation="GetOpenIdToken""#
        )),
        "{text}"
    );
}

const HAMMER_QUOTA: u32 = 20;
const HAMMER_SECONDS: f64 = 3.0;

/// Call GetId on `apps` from 4 tasks each for `HAMMER_SECONDS`; returns
/// (admitted, refused, seconds).
async fn hammer(apps: &[&TestApp], pool: &str) -> (u64, u64, f64) {
    let admitted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(HAMMER_SECONDS);
    let mut tasks = Vec::new();
    for app in apps {
        for _ in 0..4 {
            let (http, address) = (app.http.clone(), app.address.clone());
            let body = format!(r#"{{"IdentityPoolId":"{pool}"}}"#);
            let (admitted, refused) = (admitted.clone(), refused.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let request = json_request(&http, &address, Some("GetId"));
                    let res = request
                        .body(body.clone())
                        .send()
                        .await
                        .expect("request sent");
                    match res.status().as_u16() {
                        200 => admitted.fetch_add(1, Ordering::Relaxed),
                        400 => {
                            let v: serde_json::Value = res.json().await.unwrap();
                            assert_eq!(v["__type"], "TooManyRequestsException");
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("unexpected status {other}"),
                    };
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("hammer task");
    }
    let seconds = started.elapsed().as_secs_f64();
    (
        admitted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        seconds,
    )
}

/// Admitted must be within 20 % of quota × seconds + burst.
fn assert_within_quota(label: &str, admitted: u64, refused: u64, seconds: f64) {
    let rate = f64::from(HAMMER_QUOTA);
    let expected = rate * seconds + rate;
    let measured = admitted as f64 / seconds;
    let beyond_burst = (admitted as f64 - rate).max(0.0) / seconds;
    eprintln!(
        "{label}: admitted {admitted} (refused {refused}) in {seconds:.2} s = {measured:.1}/s \
         ({beyond_burst:.1}/s beyond the burst of {rate}) against a quota of {rate}/s; \
         expected {expected:.0} (quota × s + burst), ratio {:.3}",
        admitted as f64 / expected
    );
    assert!(refused > 0, "{label}: the quota was never reached");
    assert!(
        (admitted as f64 - expected).abs() <= 0.2 * expected,
        "{label}: admitted {admitted}, expected {expected:.0} ± 20 %"
    );
}

#[tokio::test]
async fn one_instance_admits_the_quota_under_load() {
    let app = spawn_app_with(|s| set_quota(s, "GetId", HAMMER_QUOTA)).await;
    let pool = app.create_pool("hammered").await;
    let (admitted, refused, seconds) = hammer(&[&app], &pool).await;
    assert_within_quota("one instance", admitted, refused, seconds);
    assert_eq!(identity_count(&app.client, &pool).await as u64, admitted);
}

#[tokio::test]
async fn two_instances_on_one_database_share_one_quota() {
    let first = spawn_app_with(|s| set_quota(s, "GetId", HAMMER_QUOTA)).await;
    let second = spawn_app_on(first.database_url.clone(), |s| {
        set_quota(s, "GetId", HAMMER_QUOTA)
    })
    .await;
    let pool = first.create_pool("shared").await;
    let (admitted, refused, seconds) = hammer(&[&first, &second], &pool).await;
    assert_within_quota("two instances", admitted, refused, seconds);
    assert_eq!(identity_count(&first.client, &pool).await as u64, admitted);
}
