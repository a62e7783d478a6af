//! The AWS JSON 1.1 protocol: targets, bodies, errors, validation.

use crate::helpers::{error_code, error_message, spawn_app};

async fn json_body(res: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&res.bytes().await.unwrap()).expect("JSON body")
}

fn assert_aws_headers(res: &reqwest::Response) {
    assert_eq!(res.headers()["content-type"], "application/x-amz-json-1.1");
    let id = res.headers()["x-amzn-requestid"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "request id is a UUID: {id}"
    );
}

#[tokio::test]
async fn an_unknown_operation_is_answered_with_unknown_operation_exception() {
    let app = spawn_app().await;
    let res = app.post_raw(Some("FlyToTheMoon"), "{}").await;
    assert_eq!(res.status(), 400);
    assert_aws_headers(&res);
    assert_eq!(
        res.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let body = json_body(res).await;
    assert_eq!(body["__type"], "UnknownOperationException");
    assert!(body.get("message").is_some());
}

#[tokio::test]
async fn a_request_without_a_target_is_an_unknown_operation() {
    let app = spawn_app().await;
    let res = app.post_raw(None, "{}").await;
    assert_eq!(res.status(), 400);
    assert_eq!(json_body(res).await["__type"], "UnknownOperationException");
}

#[tokio::test]
async fn malformed_json_is_a_serialization_exception() {
    let app = spawn_app().await;
    let res = app.post_raw(Some("GetId"), "{\"IdentityPoolId\": ").await;
    assert_eq!(res.status(), 400);
    assert_aws_headers(&res);
    assert_eq!(json_body(res).await["__type"], "SerializationException");
}

#[tokio::test]
async fn a_json_value_of_the_wrong_type_is_a_serialization_exception() {
    let app = spawn_app().await;
    let res = app
        .post_raw(Some("GetId"), r#"{"IdentityPoolId": 42}"#)
        .await;
    assert_eq!(json_body(res).await["__type"], "SerializationException");
    let res = app.post_raw(Some("GetId"), "[1, 2]").await;
    assert_eq!(json_body(res).await["__type"], "SerializationException");
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_reading_it_all() {
    let app = spawn_app().await;
    let huge = format!(r#"{{"IdentityPoolId": "{}"}}"#, "a".repeat(2 * 1024 * 1024));
    let res = app.post_raw(Some("GetId"), huge).await;
    assert_eq!(res.status(), 413);
    assert_aws_headers(&res);
    assert_eq!(json_body(res).await["__type"], "SerializationException");
}

#[tokio::test]
async fn constraint_violations_get_awss_validation_message() {
    let app = spawn_app().await;
    let err = app
        .client
        .describe_identity_pool()
        .identity_pool_id("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ValidationException");
    assert_eq!(
        error_message(&err),
        r"1 validation error detected: Value 'x' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w-]+:[0-9a-f-]+"
    );
}

#[tokio::test]
async fn every_constraint_class_is_enforced_on_the_wire() {
    let app = spawn_app().await;
    // Range: MaxResults 0 and 61.
    for bad in [0, 61] {
        let err = app
            .client
            .list_identity_pools()
            .max_results(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&err), "ValidationException");
        assert!(
            error_message(&err).contains("maxResults"),
            "{}",
            error_message(&err)
        );
    }
    // Length: a 129-character pool name.
    let err = app
        .client
        .create_identity_pool()
        .identity_pool_name("n".repeat(129))
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        error_message(&err).contains("Member must have length less than or equal to 128"),
        "{}",
        error_message(&err)
    );
    // Pattern: a pool name with a forbidden character.
    let err = app
        .client
        .create_identity_pool()
        .identity_pool_name("bad/name")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        error_message(&err).contains("regular expression pattern"),
        "{}",
        error_message(&err)
    );
    // Map size: 11 login providers.
    let mut req = app
        .client
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true);
    for i in 0..11 {
        req = req.supported_login_providers(format!("p{i}.example.com"), "x");
    }
    let err = req.send().await.unwrap_err();
    assert_eq!(error_code(&err), "ValidationException");
    assert!(
        error_message(&err).contains("supportedLoginProviders"),
        "{}",
        error_message(&err)
    );
    // Enum: a role mapping type outside the set, sent raw (the SDK cannot).
    let id = app.create_pool("enum").await;
    let err = app
        .client
        .delete_identities()
        .set_identity_ids_to_delete(Some(
            (0..61).map(|i| format!("us-east-1:{i:08x}")).collect(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ValidationException");
    assert!(
        error_message(&err).contains("identityIdsToDelete"),
        "{}",
        error_message(&err)
    );
    let _ = id;
}

#[tokio::test]
async fn a_missing_required_member_is_reported_as_must_not_be_null() {
    let app = spawn_app().await;
    let res = app.post_raw(Some("GetId"), "{}").await;
    let body = json_body(res).await;
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null"
    );
}

#[tokio::test]
async fn unknown_paths_answer_in_the_json_protocols_form() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/nothing-here", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_aws_headers(&res);
}
