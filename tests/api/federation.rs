//! Federation end to end: a real OpenID provider (npm oidc-provider) issues
//! real id_tokens, the unmodified Rust SDK presents them to Cognate.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::operation::unlink_identity::{
    UnlinkIdentityError, UnlinkIdentityOutput,
};
use aws_sdk_cognitoidentity::Client;
use cognate_server::config::{OidcProviderSettings, UpstreamSettings};
use cognate_tests::oidc::{self, OidcProvider};

use crate::helpers::{
    assert_error_code, claims_of, create_pool_request, create_pool_with, database, developer_token,
    error_code, error_message, open_id_token, set_principal_tags, spawn_app_with, verify_with_jwks,
    SdkResult, TestApp, ACCOUNT_A,
};
use crate::steps::{enabled_identity_ids, identity_logins, issued_token};

const GOOGLE: &str = "accounts.google.com";

/// The process's shared IdP; None when node is missing.
async fn shared_idp() -> Option<&'static OidcProvider> {
    if !oidc::node_available() {
        cognate_tests::skip("node is not installed");
        return None;
    }
    Some(oidc::shared().await.expect("oidc provider starts"))
}

/// The shared IdP as a declared OIDC provider, an app that trusts it, a
/// pool that names it and its provider name.
async fn oidc_setup() -> Option<(&'static OidcProvider, TestApp, String, String)> {
    let idp = shared_idp().await?;
    let (app, pool) = oidc_app(idp).await;
    Some((idp, app, pool, idp.provider_name()))
}

/// An app that declares `idp` as an OIDC provider of account A, for the
/// audience `client_id`.
async fn app_declaring(idp: &OidcProvider, client_id: String) -> TestApp {
    let issuer = idp.issuer.clone();
    spawn_app_with(|s| {
        s.oidc_providers.push(OidcProviderSettings {
            account: ACCOUNT_A.to_owned().try_into().unwrap(),
            url: issuer.try_into().unwrap(),
            client_ids: vec![client_id],
        })
    })
    .await
}

/// The provider ARN of an OIDC provider of account A.
fn provider_arn(provider: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_A}:oidc-provider/{provider}")
}

/// An app that declares `idp` and a pool that names it.
async fn oidc_app(idp: &OidcProvider) -> (TestApp, String) {
    let app = app_declaring(idp, idp.client_id.clone()).await;
    let pool = create_pool_with(&app.client, "federated", true, |r| {
        r.allow_classic_flow(true)
            .developer_provider_name("login.federation.test")
            .open_id_connect_provider_arns(provider_arn(&idp.provider_name()))
    })
    .await;
    (app, pool)
}

/// The same IdP posing as accounts.google.com through `[[upstream]]`.
async fn google_setup() -> Option<(&'static OidcProvider, TestApp, String)> {
    let idp = shared_idp().await?;
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(|s| {
        s.upstream.push(UpstreamSettings {
            provider: GOOGLE.into(),
            issuer: Some(issuer.try_into().unwrap()),
            token_info_url: None,
        })
    })
    .await;
    let pool = create_pool_with(&app.client, "google", true, |r| {
        r.allow_classic_flow(true)
            .supported_login_providers(GOOGLE, idp.client_id.clone())
    })
    .await;
    Some((idp, app, pool))
}

/// The google_setup world, and `user` logged in there: the user's token
/// and identity.
async fn google_user(
    user: &str,
) -> Option<(&'static OidcProvider, TestApp, String, String, String)> {
    let (idp, app, pool) = google_setup().await?;
    let token = idp.id_token(user).await.unwrap();
    let id = get_id(&app.client, &pool, GOOGLE, &token)
        .await
        .expect("google login");
    Some((idp, app, pool, token, id))
}

/// GetId with `token` of `provider`: the identity id, or the error code.
async fn get_id(
    client: &Client,
    pool: &str,
    provider: &str,
    token: &str,
) -> Result<String, String> {
    crate::helpers::get_id(client, pool, &[(provider, token)])
        .send()
        .await
        .map(|o| o.identity_id.unwrap())
        .map_err(|e| error_code(&e))
}

/// The message of a GetId with `token` of `provider`, which must be refused
/// with NotAuthorizedException.
async fn not_authorized_why(client: &Client, pool: &str, provider: &str, token: &str) -> String {
    let refused = crate::helpers::get_id(client, pool, &[(provider, token)])
        .send()
        .await;
    assert_error_code(refused, "NotAuthorizedException")
}

/// UnlinkIdentity of GOOGLE from `id`, proving it with `logins`.
async fn unlink_google(
    client: &Client,
    id: &str,
    logins: &[(&str, &str)],
) -> SdkResult<UnlinkIdentityOutput, UnlinkIdentityError> {
    let mut request = client
        .unlink_identity()
        .identity_id(id)
        .set_logins(Some(Default::default()))
        .logins_to_remove(GOOGLE);
    for (provider, token) in logins {
        request = request.logins(*provider, *token);
    }
    request.send().await
}

#[tokio::test]
async fn a_real_id_token_from_a_declared_provider_gets_a_stable_authenticated_identity() {
    let Some((idp, app, pool, provider)) = oidc_setup().await else {
        return;
    };
    let alice = idp.id_token("alice").await.unwrap();
    let id = get_id(&app.client, &pool, &provider, &alice)
        .await
        .expect("GetId with a real id_token");
    let again = idp.id_token("alice").await.unwrap();
    assert_eq!(
        get_id(&app.client, &pool, &provider, &again).await.unwrap(),
        id,
        "same user, same identity"
    );
    let bob = idp.id_token("bob").await.unwrap();
    assert_ne!(
        get_id(&app.client, &pool, &provider, &bob).await.unwrap(),
        id
    );
    assert_eq!(
        identity_logins(&app.client, &id).await,
        vec![provider.clone()],
        "provider names, never subjects"
    );
    let token = issued_token(&app.client, &id, &[(&provider, &alice)]).await;
    let (_, claims) = verify_with_jwks(&app, &token).await.unwrap();
    assert_eq!(
        claims["amr"],
        serde_json::json!(["authenticated", provider])
    );
    // The identity now needs a login: none is refused.
    let bare = open_id_token(&app.client, &id, &[]).send().await;
    assert_error_code(bare, "NotAuthorizedException");
}

#[tokio::test]
async fn the_database_holds_only_keyed_hashes_of_upstream_subjects() {
    let Some((idp, app, pool, _)) = oidc_setup().await else {
        return;
    };
    let token = idp.id_token("carol").await.unwrap();
    get_id(&app.client, &pool, &idp.provider_name(), &token)
        .await
        .unwrap();
    let sub = claims_of(&token)["sub"].as_str().unwrap().to_owned();
    let db = database(&app).await;
    let rows = db
        .query("SELECT subject FROM identity_logins", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].get(0);
    assert_ne!(stored, sub);
    // Nothing in any text column of the database contains the subject.
    let dump = db
        .query("SELECT to_jsonb(l)::text FROM identity_logins l UNION ALL SELECT to_jsonb(i)::text FROM identities i", &[])
        .await
        .unwrap();
    for row in dump {
        let text: String = row.get(0);
        assert!(!text.contains(&sub), "raw subject found: {text}");
    }
}

#[tokio::test]
async fn posing_as_google_through_an_upstream_override_works_with_the_real_sdk() {
    let Some((idp, app, pool, token, id)) = google_user("dana").await else {
        return;
    };
    set_principal_tags(&app.client, &pool, GOOGLE, true)
        .principal_tags("dept", "department")
        .send()
        .await
        .unwrap();
    let issued = issued_token(&app.client, &id, &[(GOOGLE, &token)]).await;
    let (_, claims) = verify_with_jwks(&app, &issued).await.unwrap();
    let tags = &claims["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(tags["client"], serde_json::json!([idp.client_id]));
    assert_eq!(
        tags["username"],
        serde_json::json!([claims_of(&token)["sub"]])
    );
    assert!(tags["dept"].is_array(), "custom claim mapped: {tags}");
}

#[tokio::test]
async fn forged_misdirected_and_foreign_tokens_are_refused() {
    let Some((idp, app, pool, provider)) = oidc_setup().await else {
        return;
    };
    let token = idp.id_token("eve").await.unwrap();
    // Tampered signature: one character in the middle of it changed.
    let dot = token.rfind('.').unwrap();
    let mut tampered: Vec<char> = token.chars().collect();
    let i = dot + (token.len() - dot) / 2;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let why = not_authorized_why(&app.client, &pool, &provider, &tampered).await;
    assert_eq!(why, "Invalid login token. Couldn't verify signed token.");
    // Presented under another provider's key (issuer mismatch / not on pool).
    assert_eq!(
        get_id(&app.client, &pool, GOOGLE, &token)
            .await
            .unwrap_err(),
        "NotAuthorizedException"
    );
    // A provider the pool does not have.
    let amazon = crate::helpers::get_id(&app.client, &pool, &[("www.amazon.com", &token)])
        .send()
        .await;
    assert_eq!(
        error_message(&amazon.unwrap_err()),
        "Token is not from a supported provider of this identity pool."
    );
    // alg none with the same claims.
    let parts: Vec<&str> = token.split('.').collect();
    let none = format!("eyJhbGciOiJub25lIn0.{}.", parts[1]);
    assert_eq!(
        get_id(&app.client, &pool, &provider, &none)
            .await
            .unwrap_err(),
        "NotAuthorizedException"
    );
    // Over the 50,000-character limit: refused by validation.
    let huge = "a".repeat(50_001);
    assert_eq!(
        get_id(&app.client, &pool, &provider, &huge)
            .await
            .unwrap_err(),
        "ValidationException"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let Some(idp) = shared_idp().await else {
        return;
    };
    let app = app_declaring(idp, "some-other-client".into()).await;
    let provider = idp.provider_name();
    let pool = create_pool_with(&app.client, "other audience", false, |r| {
        r.open_id_connect_provider_arns(provider_arn(&provider))
    })
    .await;
    let token = idp.id_token("frank").await.unwrap();
    let why = not_authorized_why(&app.client, &pool, &provider, &token).await;
    assert_eq!(why, "Invalid login token. Incorrect token audience.");
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_an_external_service_error_in_bounded_time() {
    if shared_idp().await.is_none() {
        return;
    }
    // Its own IdP, since it stops it.
    let idp = oidc::start(None).await.expect("oidc provider starts");
    let (app, pool) = oidc_app(&idp).await;
    let provider = idp.provider_name();
    let token = idp.id_token("gail").await.unwrap();
    drop(idp); // the IdP goes away before Cognate ever fetched its keys
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let refused = crate::helpers::get_id(&app.client, &pool, &[(&provider, &token)])
        .send()
        .await;
    assert_error_code(refused, "ExternalServiceException");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn a_pool_naming_an_undeclared_provider_is_refused() {
    let app = crate::helpers::spawn_app().await;
    let undeclared = create_pool_request(&app.client, "undeclared", false)
        .open_id_connect_provider_arns(provider_arn("nobody.example.com"))
        .send()
        .await;
    assert_error_code(undeclared, "InvalidParameterException");
}

#[tokio::test]
async fn an_unauthenticated_identity_given_a_login_becomes_authenticated() {
    let Some((idp, app, pool, provider)) = oidc_setup().await else {
        return;
    };
    let guest = app.guest(&pool).await;
    let token = idp.id_token("hana").await.unwrap();
    let out = open_id_token(&app.client, &guest, &[(&provider, &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.identity_id.as_deref(), Some(guest.as_str()));
    assert_eq!(
        get_id(&app.client, &pool, &provider, &token).await.unwrap(),
        guest,
        "the login now maps to it"
    );
    let err = open_id_token(&app.client, &guest, &[])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&err),
        "NotAuthorizedException",
        "no longer unauthenticated"
    );
}

#[tokio::test]
async fn a_login_already_linked_elsewhere_merges_the_identities_and_the_older_survives() {
    let Some((idp, app, pool, provider)) = oidc_setup().await else {
        return;
    };
    let token = idp.id_token("ivan").await.unwrap();
    let federated = get_id(&app.client, &pool, &provider, &token).await.unwrap();
    let dev_login = ("login.federation.test", "ivan-dev");
    let dev = developer_token(&app.client, &pool, dev_login)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_ne!(dev, federated);
    // Both logins at once: the identities merge.
    let merged = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("login.federation.test", "ivan-dev")
        .logins(&provider, token.clone())
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_eq!(merged, federated, "the older identity survives");
    let logins: HashSet<_> = identity_logins(&app.client, &federated)
        .await
        .into_iter()
        .collect();
    assert_eq!(
        logins,
        HashSet::from([provider.clone(), "login.federation.test".to_owned()])
    );
    let ids = enabled_identity_ids(&app.client, &pool).await;
    assert!(!ids.contains(&dev), "the merged-away identity is disabled");
}

#[tokio::test]
async fn unlink_identity_removes_a_login_which_later_yields_a_new_identity() {
    let Some((_, app, pool, token, id)) = google_user("judy").await else {
        return;
    };
    // Refused without a login proving the identity.
    let unproven = unlink_google(&app.client, &id, &[]).await;
    assert_error_code(unproven, "NotAuthorizedException");
    unlink_google(&app.client, &id, &[(GOOGLE, &token)])
        .await
        .expect("unlink");
    // The identity lost its last login: inaccessible.
    let lost = open_id_token(&app.client, &id, &[(GOOGLE, &token)])
        .send()
        .await;
    assert_error_code(lost, "NotAuthorizedException");
    let fresh = get_id(&app.client, &pool, GOOGLE, &token).await.unwrap();
    assert_ne!(fresh, id, "the unlinked login is a new identity next time");
}

#[tokio::test]
async fn two_concurrent_get_id_calls_with_the_same_new_login_create_one_identity() {
    let Some((idp, app, pool)) = google_setup().await else {
        return;
    };
    let token = idp.id_token("kate").await.unwrap();
    // Warm the JWKS cache so both calls race in the database, not at the IdP.
    let warm = idp.id_token("warm").await.unwrap();
    get_id(&app.client, &pool, GOOGLE, &warm).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (client, pool, token) = (app.client.clone(), pool.clone(), token.clone());
            tokio::spawn(async move { get_id(&client, &pool, GOOGLE, &token).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().expect("GetId"));
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.identity_ids(&pool).await.len(),
        2,
        "warm-up identity and one for kate"
    );
}
