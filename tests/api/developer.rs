//! Developer-authenticated identities: GetOpenIdTokenForDeveloperIdentity,
//! LookupDeveloperIdentity, MergeDeveloperIdentities, UnlinkDeveloperIdentity.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::operation::get_open_id_token_for_developer_identity::builders::GetOpenIdTokenForDeveloperIdentityFluentBuilder as DevTokenRequest;
use aws_sdk_cognitoidentity::operation::get_open_id_token_for_developer_identity::{
    GetOpenIdTokenForDeveloperIdentityError as DevTokenError,
    GetOpenIdTokenForDeveloperIdentityOutput as DevTokenOutput,
};
use aws_sdk_cognitoidentity::operation::lookup_developer_identity::{
    LookupDeveloperIdentityError, LookupDeveloperIdentityOutput,
};
use aws_sdk_cognitoidentity::operation::merge_developer_identities::{
    MergeDeveloperIdentitiesError, MergeDeveloperIdentitiesOutput,
};
use aws_sdk_cognitoidentity::operation::unlink_developer_identity::{
    UnlinkDeveloperIdentityError, UnlinkDeveloperIdentityOutput,
};
use aws_sdk_cognitoidentity::Client;

use crate::helpers::{
    assert_error_code, error_code, open_id_token, spawn_app, verify_with_jwks, SdkResult, TestApp,
};
use crate::steps::{enabled_identity_ids, issued_token};

const DEV: &str = "login.mycompany.myapp";

async fn dev_pool(app: &TestApp, allow_unauth: bool) -> String {
    app.client
        .create_identity_pool()
        .identity_pool_name("developer pool")
        .allow_unauthenticated_identities(allow_unauth)
        .allow_classic_flow(true)
        .developer_provider_name(DEV)
        .send()
        .await
        .unwrap()
        .identity_pool_id
}

/// An app and a pool of it with the developer provider DEV.
async fn dev_app(allow_unauth: bool) -> (TestApp, String) {
    let app = spawn_app().await;
    let pool = dev_pool(&app, allow_unauth).await;
    (app, pool)
}

/// A GetOpenIdTokenForDeveloperIdentity request for `user` of `provider`,
/// for the test to complete.
fn dev_request(client: &Client, pool: &str, provider: &str, user: &str) -> DevTokenRequest {
    client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(pool)
        .logins(provider, user)
}

/// GetOpenIdTokenForDeveloperIdentity for `user` of DEV, into `identity`
/// if given.
async fn dev_login(
    client: &Client,
    pool: &str,
    identity: Option<&str>,
    user: &str,
) -> SdkResult<DevTokenOutput, DevTokenError> {
    dev_request(client, pool, DEV, user)
        .set_identity_id(identity.map(str::to_owned))
        .send()
        .await
}

/// The identity and token of a developer login that must succeed.
async fn dev_token(client: &Client, pool: &str, user: &str) -> (String, String) {
    let out = dev_login(client, pool, None, user)
        .await
        .expect("developer token");
    (out.identity_id.unwrap(), out.token.unwrap())
}

/// LookupDeveloperIdentity by identity, by user or by both.
async fn lookup(
    client: &Client,
    pool: &str,
    identity: Option<&str>,
    user: Option<&str>,
) -> SdkResult<LookupDeveloperIdentityOutput, LookupDeveloperIdentityError> {
    client
        .lookup_developer_identity()
        .identity_pool_id(pool)
        .set_identity_id(identity.map(str::to_owned))
        .set_developer_user_identifier(user.map(str::to_owned))
        .send()
        .await
}

/// One page (of one user) of the users of `identity`.
async fn users_page(
    client: &Client,
    pool: &str,
    identity: &str,
    next_token: Option<String>,
) -> LookupDeveloperIdentityOutput {
    client
        .lookup_developer_identity()
        .identity_pool_id(pool)
        .identity_id(identity)
        .max_results(1)
        .set_next_token(next_token)
        .send()
        .await
        .unwrap()
}

/// MergeDeveloperIdentities of `source` into `destination` (users of `provider`).
async fn merge(
    client: &Client,
    pool: &str,
    provider: &str,
    source: &str,
    destination: &str,
) -> SdkResult<MergeDeveloperIdentitiesOutput, MergeDeveloperIdentitiesError> {
    client
        .merge_developer_identities()
        .identity_pool_id(pool)
        .developer_provider_name(provider)
        .source_user_identifier(source)
        .destination_user_identifier(destination)
        .send()
        .await
}

/// UnlinkDeveloperIdentity of `user` (of DEV) from `identity`.
async fn unlink(
    client: &Client,
    pool: &str,
    identity: &str,
    user: &str,
) -> SdkResult<UnlinkDeveloperIdentityOutput, UnlinkDeveloperIdentityError> {
    client
        .unlink_developer_identity()
        .identity_pool_id(pool)
        .identity_id(identity)
        .developer_provider_name(DEV)
        .developer_user_identifier(user)
        .send()
        .await
}

/// The claims of `token`, verified against the app's JWKS.
async fn verified_claims(app: &TestApp, token: &str) -> serde_json::Value {
    verify_with_jwks(app, token).await.expect("verifies").1
}

/// A token Cognate issued as a login, as the SDKs present it.
const COGNITO: &str = "cognito-identity.amazonaws.com";

#[tokio::test]
async fn the_same_developer_user_always_gets_the_same_identity_and_a_signed_token() {
    let (app, pool) = dev_app(false).await;
    let (id1, token) = dev_token(&app.client, &pool, "alice").await;
    let (id2, _) = dev_token(&app.client, &pool, "alice").await;
    let (id3, _) = dev_token(&app.client, &pool, "bob").await;
    assert_eq!(id1, id2);
    assert_ne!(id1, id3);
    let claims = verified_claims(&app, &token).await;
    assert_eq!(claims["sub"], id1.as_str());
    assert_eq!(claims["aud"], pool.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["authenticated", DEV]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900,
        "15 minutes by default"
    );
}

#[tokio::test]
async fn token_duration_and_principal_tags_land_in_the_token() {
    let (app, pool) = dev_app(false).await;
    let request = dev_request(&app.client, &pool, DEV, "carol");
    let out = request
        .token_duration(86_400)
        .principal_tags("department", "finance")
        .principal_tags("level", "3")
        .send()
        .await
        .unwrap();
    let claims = verified_claims(&app, &out.token.unwrap()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    let tags = &claims["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(tags["department"], serde_json::json!(["finance"]));
    assert_eq!(tags["level"], serde_json::json!(["3"]));
    let too_long = dev_request(&app.client, &pool, DEV, "carol").token_duration(86_401);
    assert_error_code(too_long.send().await, "ValidationException");
}

#[tokio::test]
async fn a_developer_user_can_be_linked_to_an_existing_unauthenticated_identity() {
    let (app, pool) = dev_app(true).await;
    let guest = app.guest(&pool).await;
    let out = dev_login(&app.client, &pool, Some(&guest), "dave")
        .await
        .unwrap();
    assert_eq!(out.identity_id.as_deref(), Some(guest.as_str()));
    // Now authenticated: a bare GetOpenIdToken no longer works...
    let bare = open_id_token(&app.client, &guest, &[]).send().await;
    let message = assert_error_code(bare, "NotAuthorizedException");
    assert_eq!(
        message,
        "Logins don't match. Please include at least one valid login for this identity or identity pool."
    );
    // ...but its own Cognate token is a valid login.
    let own = out.token.unwrap();
    let again = issued_token(&app.client, &guest, &[(COGNITO, &own)]).await;
    let claims = verified_claims(&app, &again).await;
    assert_eq!(claims["amr"], serde_json::json!(["authenticated", DEV]));
}

#[tokio::test]
async fn a_developer_user_registered_to_another_identity_cannot_be_linked_elsewhere() {
    let (app, pool) = dev_app(true).await;
    dev_token(&app.client, &pool, "erin").await;
    let other = app.guest(&pool).await;
    assert_error_code(
        dev_login(&app.client, &pool, Some(&other), "erin").await,
        "DeveloperUserAlreadyRegisteredException",
    );
}

#[tokio::test]
async fn only_the_pools_developer_provider_is_accepted() {
    let (app, pool) = dev_app(false).await;
    let someone_else = dev_request(&app.client, &pool, "login.someone.else", "frank");
    assert_error_code(someone_else.send().await, "NotAuthorizedException");
    let plain = app.create_pool("no developer provider").await;
    assert_error_code(
        dev_login(&app.client, &plain, None, "frank").await,
        "InvalidParameterException",
    );
    let err = dev_login(&app.client_b(), &pool, None, "frank")
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&err),
        "ResourceNotFoundException",
        "another account's pool"
    );
}

#[tokio::test]
async fn lookup_finds_by_user_by_identity_and_checks_both_against_each_other() {
    let (app, pool) = dev_app(false).await;
    let (id, _) = dev_token(&app.client, &pool, "gina").await;
    let (other, _) = dev_token(&app.client, &pool, "hank").await;
    let by_user = lookup(&app.client, &pool, None, Some("gina"))
        .await
        .unwrap();
    assert_eq!(by_user.identity_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        by_user.developer_user_identifier_list.unwrap(),
        vec!["gina".to_owned()]
    );
    let by_id = lookup(&app.client, &pool, Some(&id), None).await.unwrap();
    assert_eq!(
        by_id.developer_user_identifier_list.unwrap(),
        vec!["gina".to_owned()]
    );
    let both = lookup(&app.client, &pool, Some(&id), Some("gina"))
        .await
        .unwrap();
    assert_eq!(both.identity_id.as_deref(), Some(id.as_str()));
    for (identity, user, code) in [
        (
            Some(other.as_str()),
            Some("gina"),
            "ResourceConflictException",
        ),
        (None, None, "InvalidParameterException"),
        (None, Some("nobody"), "ResourceNotFoundException"),
    ] {
        assert_error_code(lookup(&app.client, &pool, identity, user).await, code);
    }
}

#[tokio::test]
async fn merge_moves_the_source_users_to_the_destination_and_disables_the_source() {
    let (app, pool) = dev_app(false).await;
    let (dest, _) = dev_token(&app.client, &pool, "ivy").await;
    let (source, source_token) = dev_token(&app.client, &pool, "jack").await;
    let merged = merge(&app.client, &pool, DEV, "jack", "ivy").await.unwrap();
    assert_eq!(merged.identity_id.as_deref(), Some(dest.as_str()));
    let (after, _) = dev_token(&app.client, &pool, "jack").await;
    assert_eq!(
        after, dest,
        "the source user now belongs to the destination identity"
    );
    // Lookup pages through both users of the destination.
    let page1 = users_page(&app.client, &pool, &dest, None).await;
    let mut users = page1.developer_user_identifier_list.unwrap();
    let next = page1.next_token.expect("a second page");
    let page2 = users_page(&app.client, &pool, &dest, Some(next)).await;
    users.extend(page2.developer_user_identifier_list.unwrap());
    assert_eq!(
        users.into_iter().collect::<HashSet<_>>(),
        HashSet::from(["ivy".to_owned(), "jack".to_owned()])
    );
    // The source identity is disabled: refused, and hidden on request.
    let refused = open_id_token(&app.client, &source, &[(COGNITO, &source_token)])
        .send()
        .await;
    assert_error_code(refused, "NotAuthorizedException");
    assert_eq!(app.identity_ids(&pool).await.len(), 2);
    let visible = enabled_identity_ids(&app.client, &pool).await;
    assert_eq!(visible, vec![dest]);
}

#[tokio::test]
async fn merge_needs_both_users_and_the_pools_developer_provider() {
    let (app, pool) = dev_app(false).await;
    dev_token(&app.client, &pool, "kim").await;
    for (provider, source, code) in [
        (DEV, "nobody", "ResourceNotFoundException"),
        ("other.provider", "kim", "InvalidParameterException"),
    ] {
        assert_error_code(
            merge(&app.client, &pool, provider, source, "kim").await,
            code,
        );
    }
}

#[tokio::test]
async fn unlinking_the_last_login_makes_the_identity_inaccessible_and_the_user_new_again() {
    let (app, pool) = dev_app(false).await;
    let (id, token) = dev_token(&app.client, &pool, "liam").await;
    unlink(&app.client, &pool, &id, "liam").await.unwrap();
    let refused = open_id_token(&app.client, &id, &[(COGNITO, &token)])
        .send()
        .await;
    assert_error_code(refused, "NotAuthorizedException");
    let (fresh, _) = dev_token(&app.client, &pool, "liam").await;
    assert_ne!(fresh, id, "an unlinked user is a new identity next time");
    assert_error_code(
        unlink(&app.client, &pool, &id, "liam").await,
        "ResourceConflictException",
    );
}

#[tokio::test]
async fn unlinking_one_of_two_users_keeps_the_identity_usable() {
    let (app, pool) = dev_app(false).await;
    let (id, _) = dev_token(&app.client, &pool, "mia").await;
    dev_login(&app.client, &pool, Some(&id), "mia-alt")
        .await
        .unwrap();
    unlink(&app.client, &pool, &id, "mia").await.unwrap();
    let (still, _) = dev_token(&app.client, &pool, "mia-alt").await;
    assert_eq!(still, id);
}

#[tokio::test]
async fn a_hundred_concurrent_first_logins_of_one_user_create_exactly_one_identity() {
    let app = spawn_app_with_big_pool().await;
    let pool = dev_pool(&app, false).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let client = app.client.clone();
            let pool = pool.clone();
            tokio::spawn(async move { dev_token(&client, &pool, "nora").await.0 })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "every caller got the same identity");
    assert_eq!(
        app.identity_ids(&pool).await.len(),
        1,
        "exactly one identity exists"
    );
}

async fn spawn_app_with_big_pool() -> TestApp {
    crate::helpers::spawn_app_with(|s| {
        s.server.workers = 4;
        s.database.max_connections = 32;
    })
    .await
}

#[tokio::test]
async fn merge_racing_unlink_leaves_a_consistent_state() {
    let (app, pool) = dev_app(false).await;
    for round in 0..10 {
        let dest_user = format!("dest-{round}");
        let source_user = format!("source-{round}");
        let (dest, _) = dev_token(&app.client, &pool, &dest_user).await;
        let (source, _) = dev_token(&app.client, &pool, &source_user).await;
        let merge = {
            let client = app.client.clone();
            let (pool, s, d) = (pool.clone(), source_user.clone(), dest_user.clone());
            tokio::spawn(async move { merge(&client, &pool, DEV, &s, &d).await.is_ok() })
        };
        let unlink = {
            let client = app.client.clone();
            let (pool, s, source) = (pool.clone(), source_user.clone(), source.clone());
            tokio::spawn(async move { unlink(&client, &pool, &source, &s).await.is_ok() })
        };
        let (merged, unlinked) = (merge.await.unwrap(), unlink.await.unwrap());
        assert!(merged || unlinked, "at least one of them wins");
        // Invariant: the source user is linked to at most one identity, which is usable.
        match lookup(&app.client, &pool, None, Some(&source_user)).await {
            Ok(l) => {
                assert!(merged, "the user is still linked only if the merge won");
                assert_eq!(l.identity_id.as_deref(), Some(dest.as_str()));
            }
            Err(e) => {
                assert_eq!(error_code(&e), "ResourceNotFoundException");
                assert!(unlinked);
            }
        }
        // The destination always keeps its own user.
        let (d, _) = dev_token(&app.client, &pool, &dest_user).await;
        assert_eq!(d, dest);
    }
}

#[tokio::test]
async fn principal_tags_of_a_developer_token_carry_over_when_it_is_used_as_a_login() {
    let (app, pool) = dev_app(false).await;
    let tagged = dev_request(&app.client, &pool, DEV, "tina").principal_tags("team", "blue");
    let out = tagged.send().await.unwrap();
    let (identity, token) = (out.identity_id.unwrap(), out.token.unwrap());
    let again = issued_token(&app.client, &identity, &[(COGNITO, &token)]).await;
    let claims = verified_claims(&app, &again).await;
    assert_eq!(
        claims["https://aws.amazon.com/tags"]["principal_tags"]["team"],
        serde_json::json!(["blue"])
    );
}
