//! Behaviour as AWS really shows it to clients written against Cognito:
//! the three states of AllowClassicFlow, guests kept out once guests are
//! turned off, roles of the pool's own account only, and exact texts.

use crate::helpers::{
    assert_basic_flow_refused, assert_error_code, assert_guests_refused, create_pool_request,
    credentials_for, describe_pool, developer_pool, developer_token, error_code, error_message,
    get_id, open_id_token, set_roles, spawn_app, spawn_app_with, TestApp, ACCOUNT_A, ACCOUNT_B,
    COGNITO, GUESTS_NOT_SUPPORTED,
};

const DEV: &str = "login.fidelity.test";

/// A guest pool created the way the CLI or an SDK does without the flag.
async fn pool_without_classic_flag(app: &TestApp) -> String {
    developer_pool(&app.client, "scripted", true, DEV).await
}

async fn set_classic(app: &TestApp, pool: &str, classic: Option<bool>, guests: bool) {
    let request = crate::helpers::update_pool(&app.client, pool, "scripted", guests);
    let request = request
        .developer_provider_name(DEV)
        .set_allow_classic_flow(classic);
    request.send().await.expect("update pool");
}

/// AllowClassicFlow as DescribeIdentityPool shows it.
async fn described_classic_flag(app: &TestApp, pool: &str) -> Option<bool> {
    let described = describe_pool(&app.client, pool).send().await.unwrap();
    described.allow_classic_flow
}

#[tokio::test]
async fn a_pool_created_without_allow_classic_flow_omits_it_and_hands_out_open_id_tokens() {
    let app = spawn_app().await;
    let created = create_pool_request(&app.client, "scripted", true)
        .send()
        .await;
    let created = created.unwrap();
    assert_eq!(created.allow_classic_flow, None, "create answer omits it");
    let pool = created.identity_pool_id;
    let described = described_classic_flag(&app, &pool).await;
    assert_eq!(described, None, "describe omits it");
    let id = app.guest(&pool).await;
    let token = open_id_token(&app.client, &id, &[]).send().await;
    let token = token.expect("the basic flow works on a pool that never said false");
    assert!(token.token.is_some());
}

#[tokio::test]
async fn only_an_explicit_false_refuses_the_basic_flow_and_update_can_make_it_absent_again() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let id = app.guest(&pool).await;

    set_classic(&app, &pool, Some(false), true).await;
    assert_basic_flow_refused(&app.client, &id).await;

    set_classic(&app, &pool, Some(true), true).await;
    assert_eq!(described_classic_flag(&app, &pool).await, Some(true));
    let explicit = open_id_token(&app.client, &id, &[]).send().await;
    explicit.expect("explicit true");

    // UpdateIdentityPool replaces the pool: omitting the field makes it absent.
    set_classic(&app, &pool, Some(false), true).await;
    set_classic(&app, &pool, None, true).await;
    assert_eq!(described_classic_flag(&app, &pool).await, None);
    let absent = open_id_token(&app.client, &id, &[]).send().await;
    absent.expect("absent again: the basic flow works");
}

#[tokio::test]
async fn an_authenticated_identity_without_logins_is_not_authorized_whatever_the_classic_flow() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let dev = developer_token(&app.client, &pool, (DEV, "user-1"))
        .send()
        .await;
    let dev = dev.unwrap();
    let id = dev.identity_id.unwrap();
    for classic in [None, Some(true), Some(false)] {
        set_classic(&app, &pool, classic, true).await;
        let (code, _) = token_or_refusal(&app, &id, None).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException", "{classic:?}");
    }
}

/// The logins of an identity presenting its own Cognate token, if any.
fn own_logins(own_token: Option<&str>) -> Vec<(&str, &str)> {
    own_token
        .map(|token| (COGNITO, token))
        .into_iter()
        .collect()
}

/// The code and message of a refused GetOpenIdToken (`Ok` with the token).
async fn token_or_refusal(
    app: &TestApp,
    id: &str,
    own_token: Option<&str>,
) -> Result<String, (String, String)> {
    let request = open_id_token(&app.client, id, &own_logins(own_token));
    let answer = request.send().await;
    answer
        .map(|o| o.token.unwrap_or_default())
        .map_err(|e| (error_code(&e), error_message(&e)))
}

/// The code and message of a refused GetCredentialsForIdentity.
async fn credentials(
    app: &TestApp,
    id: &str,
    own_token: Option<&str>,
    custom_role: Option<&str>,
) -> (String, String) {
    let request = credentials_for(&app.client, id, &own_logins(own_token));
    let request = request.set_custom_role_arn(custom_role.map(str::to_owned));
    let err = request.send().await.expect_err("refused");
    (error_code(&err), error_message(&err))
}

#[tokio::test]
async fn a_guest_cannot_come_back_with_its_own_token_once_guests_are_turned_off() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let id = app.guest(&pool).await;
    let token = token_or_refusal(&app, &id, None).await.unwrap();
    set_classic(&app, &pool, None, false).await;

    let refused = (
        "NotAuthorizedException".to_owned(),
        GUESTS_NOT_SUPPORTED.to_owned(),
    );
    // Without logins, and with its own (unauthenticated) Cognate token.
    for own in [None, Some(token.as_str())] {
        assert_eq!(token_or_refusal(&app, &id, own).await.unwrap_err(), refused);
        assert_eq!(credentials(&app, &id, own, None).await, refused);
    }
    assert_guests_refused(
        get_id(&app.client, &pool, &[(COGNITO, &token)])
            .send()
            .await,
    );
}

#[tokio::test]
async fn a_pool_cannot_name_another_accounts_roles() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let theirs = format!("arn:aws:iam::{ACCOUNT_B}:role/TheirRole");
    let refused = set_roles(&app.client, &pool, &[("unauthenticated", &theirs)]);
    let message = assert_error_code(refused.send().await, "NotAuthorizedException");
    assert_eq!(message, format!("Access to Role '{theirs}' is forbidden."));
    // Its own account's roles, and Ceph's account-less form, are fine.
    let guests = format!("arn:aws:iam::{ACCOUNT_A}:role/Guests");
    let own = [
        ("unauthenticated", guests.as_str()),
        ("authenticated", "arn:aws:iam:::role/Members"),
    ];
    set_roles(&app.client, &pool, &own)
        .send()
        .await
        .expect("own roles");
    // CustomRoleArn of another account is refused before any STS call.
    let id = app.guest(&pool).await;
    assert_eq!(
        credentials(&app, &id, None, Some(&theirs)).await,
        (
            "NotAuthorizedException".to_owned(),
            format!("Access to Role '{theirs}' is forbidden.")
        )
    );
}

#[tokio::test]
async fn an_operator_can_trust_another_accounts_roles_for_one_account() {
    let app = spawn_app_with(|s| {
        s.accounts[0].trusted_role_accounts = vec![ACCOUNT_B.to_owned()];
    })
    .await;
    let pool = pool_without_classic_flag(&app).await;
    let shared = format!("arn:aws:iam::{ACCOUNT_B}:role/Shared");
    let trusted = set_roles(&app.client, &pool, &[("unauthenticated", &shared)]);
    trusted.send().await.expect("a trusted account's role");
    let other = ("unauthenticated", "arn:aws:iam::333333333333:role/Other");
    let untrusted = set_roles(&app.client, &pool, &[other]).send().await;
    assert_error_code(untrusted, "NotAuthorizedException");
}

#[tokio::test]
async fn get_on_the_root_path_says_how_to_call_the_service() {
    let app = spawn_app().await;
    let res = app.http.get(&app.address).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("X-Amz-Target"), "{message}");
}
