//! The database goes away and comes back. This binary has its own
//! PostgreSQL cluster (one per test process), because it stops it.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{error_code, error_message, spawn_app_with};

#[tokio::test]
async fn an_unreachable_database_fails_readiness_and_requests_and_the_service_recovers() {
    let app = spawn_app_with(|s| s.database.acquire_timeout_seconds = 1).await;
    let pool = app.create_pool("survivor").await;
    let cluster = cognate_tests::pg::cluster().await;

    cluster.stop_server().await.expect("stop postgres");
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the process itself is still up");
    let err = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InternalErrorException");
    let message = error_message(&err);
    assert!(
        !message.to_lowercase().contains("connect"),
        "no internal detail leaks: {message}"
    );
    assert!(
        !message.to_lowercase().contains("postgres"),
        "no internal detail leaks: {message}"
    );

    cluster.start_server().await.expect("start postgres");
    let mut ready = false;
    for _ in 0..50 {
        let res = app
            .http
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "readiness returns once the database is back");
    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.identity_pool_name, "survivor",
        "nothing committed was lost"
    );
}
