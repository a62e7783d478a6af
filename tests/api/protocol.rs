//! The AWS JSON 1.1 protocol: targets, bodies, errors, validation.

use crate::helpers::{
    assert_error_code, create_pool_request, delete_identities, describe_pool, error_message,
    list_pools, spawn_app, SdkResult,
};
use crate::steps::{get, json_body};

/// Asserts that a call was refused with a ValidationException whose
/// message names `member`.
fn assert_invalid<T, E>(result: SdkResult<T, E>, member: &str)
where
    T: std::fmt::Debug,
    E: aws_sdk_cognitoidentity::error::ProvideErrorMetadata + std::fmt::Debug,
{
    let message = assert_error_code(result, "ValidationException");
    assert!(message.contains(member), "{message}");
}

fn assert_aws_headers(res: &reqwest::Response) {
    assert_eq!(res.headers()["content-type"], "application/x-amz-json-1.1");
    let id = res.headers()["x-amzn-requestid"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "request id is a UUID: {id}"
    );
}

/// Asserts an error answer: its status, the protocol's headers and the
/// error type; the body.
async fn assert_error_answer(
    res: reqwest::Response,
    status: u16,
    error_type: &str,
) -> serde_json::Value {
    assert_eq!(res.status(), status);
    assert_aws_headers(&res);
    let body = json_body(res).await;
    assert_eq!(body["__type"], error_type);
    body
}

#[tokio::test]
async fn an_unknown_operation_is_answered_with_unknown_operation_exception() {
    let app = spawn_app().await;
    let res = app.post_raw(Some("FlyToTheMoon"), "{}").await;
    assert_eq!(
        res.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let body = assert_error_answer(res, 400, "UnknownOperationException").await;
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
    assert_error_answer(res, 400, "SerializationException").await;
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
    assert_error_answer(res, 413, "SerializationException").await;
}

#[tokio::test]
async fn constraint_violations_get_awss_validation_message() {
    let app = spawn_app().await;
    let described = describe_pool(&app.client, "x").send().await;
    assert_eq!(
        assert_error_code(described, "ValidationException"),
        r"1 validation error detected: Value 'x' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w-]+:[0-9a-f-]+"
    );
}

#[tokio::test]
async fn every_constraint_class_is_enforced_on_the_wire() {
    let app = spawn_app().await;
    // Range: MaxResults 0 and 61.
    for bad in [0, 61] {
        assert_invalid(list_pools(&app.client, bad).send().await, "maxResults");
    }
    for (name, wanted) in [
        // Length: a 129-character pool name.
        (
            "n".repeat(129),
            "Member must have length less than or equal to 128",
        ),
        // Pattern: a pool name with a forbidden character.
        ("bad/name".to_owned(), "regular expression pattern"),
    ] {
        let created = create_pool_request(&app.client, &name, true).send().await;
        let message = error_message(&created.unwrap_err());
        assert!(message.contains(wanted), "{message}");
    }
    // Map size: 11 login providers.
    let mut req = create_pool_request(&app.client, "p", true);
    for i in 0..11 {
        req = req.supported_login_providers(format!("p{i}.example.com"), "x");
    }
    assert_invalid(req.send().await, "supportedLoginProviders");
    // Enum: a role mapping type outside the set, sent raw (the SDK cannot).
    let id = app.create_pool("enum").await;
    let ids: Vec<String> = (0..61).map(|i| format!("us-east-1:{i:08x}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let deleted = delete_identities(&app.client, &ids).send().await;
    assert_invalid(deleted, "identityIdsToDelete");
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
    let res = get(&app.http, &format!("{}/nothing-here", app.address)).await;
    assert_eq!(res.status(), 404);
    assert_aws_headers(&res);
}
