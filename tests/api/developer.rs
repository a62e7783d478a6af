//! Developer-authenticated identities: GetOpenIdTokenForDeveloperIdentity,
//! LookupDeveloperIdentity, MergeDeveloperIdentities, UnlinkDeveloperIdentity.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::Client;

use crate::helpers::{error_code, error_message, spawn_app, verify_with_jwks, TestApp};

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

async fn dev_token(client: &Client, pool: &str, user: &str) -> (String, String) {
    let out = client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(pool)
        .logins(DEV, user)
        .send()
        .await
        .expect("developer token");
    (out.identity_id.unwrap(), out.token.unwrap())
}

#[tokio::test]
async fn the_same_developer_user_always_gets_the_same_identity_and_a_signed_token() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let (id1, token) = dev_token(&app.client, &pool, "alice").await;
    let (id2, _) = dev_token(&app.client, &pool, "alice").await;
    let (id3, _) = dev_token(&app.client, &pool, "bob").await;
    assert_eq!(id1, id2);
    assert_ne!(id1, id3);
    let (_, claims) = verify_with_jwks(&app, &token).await.expect("verifies");
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
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let out = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "carol")
        .token_duration(86_400)
        .principal_tags("department", "finance")
        .principal_tags("level", "3")
        .send()
        .await
        .unwrap();
    let (_, claims) = verify_with_jwks(&app, &out.token.unwrap()).await.unwrap();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    let tags = &claims["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(tags["department"], serde_json::json!(["finance"]));
    assert_eq!(tags["level"], serde_json::json!(["3"]));
    let err = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "carol")
        .token_duration(86_401)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ValidationException");
}

#[tokio::test]
async fn a_developer_user_can_be_linked_to_an_existing_unauthenticated_identity() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, true).await;
    let guest = app.guest(&pool).await;
    let out = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&guest)
        .logins(DEV, "dave")
        .send()
        .await
        .unwrap();
    assert_eq!(out.identity_id.as_deref(), Some(guest.as_str()));
    // Now authenticated: a bare GetOpenIdToken no longer works...
    let err = app
        .client
        .get_open_id_token()
        .identity_id(&guest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    assert_eq!(
        error_message(&err),
        "Logins don't match. Please include at least one valid login for this identity or identity pool."
    );
    // ...but its own Cognate token is a valid login.
    let again = app
        .client
        .get_open_id_token()
        .identity_id(&guest)
        .logins("cognito-identity.amazonaws.com", out.token.unwrap())
        .send()
        .await
        .expect("a token Cognate issued is a login");
    let (_, claims) = verify_with_jwks(&app, &again.token.unwrap()).await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["authenticated", DEV]));
}

#[tokio::test]
async fn a_developer_user_registered_to_another_identity_cannot_be_linked_elsewhere() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, true).await;
    dev_token(&app.client, &pool, "erin").await;
    let other = app
        .client
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let err = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&other)
        .logins(DEV, "erin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "DeveloperUserAlreadyRegisteredException");
}

#[tokio::test]
async fn only_the_pools_developer_provider_is_accepted() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let err = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("login.someone.else", "frank")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    let plain = app.create_pool("no developer provider").await;
    let err = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&plain)
        .logins(DEV, "frank")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    let err = app
        .client_b()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "frank")
        .send()
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
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let (id, _) = dev_token(&app.client, &pool, "gina").await;
    let (other, _) = dev_token(&app.client, &pool, "hank").await;
    let by_user = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("gina")
        .send()
        .await
        .unwrap();
    assert_eq!(by_user.identity_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        by_user.developer_user_identifier_list.unwrap(),
        vec!["gina".to_owned()]
    );
    let by_id = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_id.developer_user_identifier_list.unwrap(),
        vec!["gina".to_owned()]
    );
    let both = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .developer_user_identifier("gina")
        .send()
        .await
        .unwrap();
    assert_eq!(both.identity_id.as_deref(), Some(id.as_str()));
    let err = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&other)
        .developer_user_identifier("gina")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceConflictException");
    let err = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    let err = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("nobody")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn merge_moves_the_source_users_to_the_destination_and_disables_the_source() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let (dest, _) = dev_token(&app.client, &pool, "ivy").await;
    let (source, source_token) = dev_token(&app.client, &pool, "jack").await;
    let merged = app
        .client
        .merge_developer_identities()
        .identity_pool_id(&pool)
        .developer_provider_name(DEV)
        .source_user_identifier("jack")
        .destination_user_identifier("ivy")
        .send()
        .await
        .unwrap();
    assert_eq!(merged.identity_id.as_deref(), Some(dest.as_str()));
    let (after, _) = dev_token(&app.client, &pool, "jack").await;
    assert_eq!(
        after, dest,
        "the source user now belongs to the destination identity"
    );
    // Lookup pages through both users of the destination.
    let page1 = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&dest)
        .max_results(1)
        .send()
        .await
        .unwrap();
    let mut users = page1.developer_user_identifier_list.unwrap();
    let page2 = app
        .client
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&dest)
        .max_results(1)
        .next_token(page1.next_token.expect("a second page"))
        .send()
        .await
        .unwrap();
    users.extend(page2.developer_user_identifier_list.unwrap());
    assert_eq!(
        users.into_iter().collect::<HashSet<_>>(),
        HashSet::from(["ivy".to_owned(), "jack".to_owned()])
    );
    // The source identity is disabled: refused, and hidden on request.
    let err = app
        .client
        .get_open_id_token()
        .identity_id(&source)
        .logins("cognito-identity.amazonaws.com", source_token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    let all = app
        .client
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(all.identities.unwrap().len(), 2);
    let visible = app
        .client
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(60)
        .hide_disabled(true)
        .send()
        .await
        .unwrap();
    let visible: Vec<_> = visible
        .identities
        .unwrap()
        .into_iter()
        .map(|i| i.identity_id.unwrap())
        .collect();
    assert_eq!(visible, vec![dest]);
}

#[tokio::test]
async fn merge_needs_both_users_and_the_pools_developer_provider() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    dev_token(&app.client, &pool, "kim").await;
    let err = app
        .client
        .merge_developer_identities()
        .identity_pool_id(&pool)
        .developer_provider_name(DEV)
        .source_user_identifier("nobody")
        .destination_user_identifier("kim")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let err = app
        .client
        .merge_developer_identities()
        .identity_pool_id(&pool)
        .developer_provider_name("other.provider")
        .source_user_identifier("kim")
        .destination_user_identifier("kim")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
}

#[tokio::test]
async fn unlinking_the_last_login_makes_the_identity_inaccessible_and_the_user_new_again() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let (id, token) = dev_token(&app.client, &pool, "liam").await;
    app.client
        .unlink_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .developer_provider_name(DEV)
        .developer_user_identifier("liam")
        .send()
        .await
        .unwrap();
    let err = app
        .client
        .get_open_id_token()
        .identity_id(&id)
        .logins("cognito-identity.amazonaws.com", token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    let (fresh, _) = dev_token(&app.client, &pool, "liam").await;
    assert_ne!(fresh, id, "an unlinked user is a new identity next time");
    let err = app
        .client
        .unlink_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .developer_provider_name(DEV)
        .developer_user_identifier("liam")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceConflictException");
}

#[tokio::test]
async fn unlinking_one_of_two_users_keeps_the_identity_usable() {
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let (id, _) = dev_token(&app.client, &pool, "mia").await;
    app.client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .logins(DEV, "mia-alt")
        .send()
        .await
        .unwrap();
    app.client
        .unlink_developer_identity()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .developer_provider_name(DEV)
        .developer_user_identifier("mia")
        .send()
        .await
        .unwrap();
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
    let listed = app
        .client
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.identities.unwrap().len(),
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
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    for round in 0..10 {
        let dest_user = format!("dest-{round}");
        let source_user = format!("source-{round}");
        let (dest, _) = dev_token(&app.client, &pool, &dest_user).await;
        let (source, _) = dev_token(&app.client, &pool, &source_user).await;
        let merge = {
            let client = app.client.clone();
            let (pool, s, d) = (pool.clone(), source_user.clone(), dest_user.clone());
            tokio::spawn(async move {
                client
                    .merge_developer_identities()
                    .identity_pool_id(pool)
                    .developer_provider_name(DEV)
                    .source_user_identifier(s)
                    .destination_user_identifier(d)
                    .send()
                    .await
                    .is_ok()
            })
        };
        let unlink = {
            let client = app.client.clone();
            let (pool, s, source) = (pool.clone(), source_user.clone(), source.clone());
            tokio::spawn(async move {
                client
                    .unlink_developer_identity()
                    .identity_pool_id(pool)
                    .identity_id(source)
                    .developer_provider_name(DEV)
                    .developer_user_identifier(s)
                    .send()
                    .await
                    .is_ok()
            })
        };
        let (merged, unlinked) = (merge.await.unwrap(), unlink.await.unwrap());
        assert!(merged || unlinked, "at least one of them wins");
        // Invariant: the source user is linked to at most one identity, which is usable.
        let found = app
            .client
            .lookup_developer_identity()
            .identity_pool_id(&pool)
            .developer_user_identifier(&source_user)
            .send()
            .await;
        match found {
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
    let app = spawn_app().await;
    let pool = dev_pool(&app, false).await;
    let out = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "tina")
        .principal_tags("team", "blue")
        .send()
        .await
        .unwrap();
    let again = app
        .client
        .get_open_id_token()
        .identity_id(out.identity_id.unwrap())
        .logins("cognito-identity.amazonaws.com", out.token.unwrap())
        .send()
        .await
        .unwrap();
    let (_, claims) = verify_with_jwks(&app, &again.token.unwrap()).await.unwrap();
    assert_eq!(
        claims["https://aws.amazon.com/tags"]["principal_tags"]["team"],
        serde_json::json!(["blue"])
    );
}
