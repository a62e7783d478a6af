//! Behaviour as AWS really shows it to clients written against Cognito:
//! the three states of AllowClassicFlow, guests kept out once guests are
//! turned off, roles of the pool's own account only, and exact texts.

use crate::helpers::{
    error_code, error_message, spawn_app, spawn_app_with, TestApp, ACCOUNT_A, ACCOUNT_B,
};

const UNAUTH_NOT_SUPPORTED: &str =
    "Unauthenticated access is not supported for this identity pool.";
const CLASSIC_REFUSED: &str = "Basic (classic) flow is not enabled, please use enhanced flow.";
const DEV: &str = "login.fidelity.test";
const COGNITO: &str = "cognito-identity.amazonaws.com";

/// A guest pool created the way the CLI or an SDK does without the flag.
async fn pool_without_classic_flag(app: &TestApp) -> String {
    app.client
        .create_identity_pool()
        .identity_pool_name("scripted")
        .allow_unauthenticated_identities(true)
        .developer_provider_name(DEV)
        .send()
        .await
        .expect("create pool")
        .identity_pool_id
}

async fn set_classic(app: &TestApp, pool: &str, classic: Option<bool>, guests: bool) {
    app.client
        .update_identity_pool()
        .identity_pool_id(pool)
        .identity_pool_name("scripted")
        .allow_unauthenticated_identities(guests)
        .developer_provider_name(DEV)
        .set_allow_classic_flow(classic)
        .send()
        .await
        .expect("update pool");
}

#[tokio::test]
async fn a_pool_created_without_allow_classic_flow_omits_it_and_hands_out_open_id_tokens() {
    let app = spawn_app().await;
    let created = app
        .client
        .create_identity_pool()
        .identity_pool_name("scripted")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap();
    assert_eq!(created.allow_classic_flow, None, "create answer omits it");
    let pool = created.identity_pool_id;
    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(described.allow_classic_flow, None, "describe omits it");
    let id = app.guest(&pool).await;
    let token = app
        .client
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .expect("the basic flow works on a pool that never said false");
    assert!(token.token.is_some());
}

#[tokio::test]
async fn only_an_explicit_false_refuses_the_basic_flow_and_update_can_make_it_absent_again() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let id = app.guest(&pool).await;

    set_classic(&app, &pool, Some(false), true).await;
    let err = app
        .client
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    assert_eq!(error_message(&err), CLASSIC_REFUSED);

    set_classic(&app, &pool, Some(true), true).await;
    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(described.allow_classic_flow, Some(true));
    app.client
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .expect("explicit true");

    // UpdateIdentityPool replaces the pool: omitting the field makes it absent.
    set_classic(&app, &pool, Some(false), true).await;
    set_classic(&app, &pool, None, true).await;
    let updated = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.allow_classic_flow, None);
    app.client
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .expect("absent again: the basic flow works");
}

#[tokio::test]
async fn an_authenticated_identity_without_logins_is_not_authorized_whatever_the_classic_flow() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let dev = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "user-1")
        .send()
        .await
        .unwrap();
    let id = dev.identity_id.unwrap();
    for classic in [None, Some(true), Some(false)] {
        set_classic(&app, &pool, classic, true).await;
        let (code, _) = open_id_token(&app, &id, None).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException", "{classic:?}");
    }
}

/// The code and message of a refused GetOpenIdToken (`Ok` with the token).
async fn open_id_token(
    app: &TestApp,
    id: &str,
    own_token: Option<&str>,
) -> Result<String, (String, String)> {
    app.client
        .get_open_id_token()
        .identity_id(id)
        .set_logins(own_token.map(|t| [(COGNITO.to_owned(), t.to_owned())].into()))
        .send()
        .await
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
    let err = app
        .client
        .get_credentials_for_identity()
        .identity_id(id)
        .set_logins(own_token.map(|t| [(COGNITO.to_owned(), t.to_owned())].into()))
        .set_custom_role_arn(custom_role.map(str::to_owned))
        .send()
        .await
        .expect_err("refused");
    (error_code(&err), error_message(&err))
}

#[tokio::test]
async fn a_guest_cannot_come_back_with_its_own_token_once_guests_are_turned_off() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let id = app.guest(&pool).await;
    let token = open_id_token(&app, &id, None).await.unwrap();
    set_classic(&app, &pool, None, false).await;

    let refused = (
        "NotAuthorizedException".to_owned(),
        UNAUTH_NOT_SUPPORTED.to_owned(),
    );
    // Without logins, and with its own (unauthenticated) Cognate token.
    for own in [None, Some(token.as_str())] {
        assert_eq!(open_id_token(&app, &id, own).await.unwrap_err(), refused);
        assert_eq!(credentials(&app, &id, own, None).await, refused);
    }
    let err = app
        .client
        .get_id()
        .identity_pool_id(&pool)
        .logins(COGNITO, &token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_message(&err), UNAUTH_NOT_SUPPORTED);
}

#[tokio::test]
async fn a_pool_cannot_name_another_accounts_roles() {
    let app = spawn_app().await;
    let pool = pool_without_classic_flag(&app).await;
    let theirs = format!("arn:aws:iam::{ACCOUNT_B}:role/TheirRole");
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("unauthenticated", &theirs)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    assert_eq!(
        error_message(&err),
        format!("Access to Role '{theirs}' is forbidden.")
    );
    // Its own account's roles, and Ceph's account-less form, are fine.
    app.client
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles(
            "unauthenticated",
            format!("arn:aws:iam::{ACCOUNT_A}:role/Guests"),
        )
        .roles("authenticated", "arn:aws:iam:::role/Members")
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
    app.client
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles(
            "unauthenticated",
            format!("arn:aws:iam::{ACCOUNT_B}:role/Shared"),
        )
        .send()
        .await
        .expect("a trusted account's role");
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("unauthenticated", "arn:aws:iam::333333333333:role/Other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
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
