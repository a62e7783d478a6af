//! /healthz, /readyz, /metrics.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_the_database_is_up() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_error_code() {
    let app = spawn_app().await;
    app.create_pool("metrics").await;
    let _ = app
        .client
        .describe_identity_pool()
        .identity_pool_id("us-east-1:0000")
        .send()
        .await;
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"cognate_requests_total{code="OK",operation="CreateIdentityPool"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cognate_requests_total{code="ResourceNotFoundException",operation="DescribeIdentityPool"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("cognate_request_duration_seconds_bucket"),
        "{text}"
    );
}
