//! GetId, GetOpenIdToken, DescribeIdentity, ListIdentities, DeleteIdentities.

use std::collections::HashMap;

use crate::helpers::{
    assert_basic_flow_refused, assert_error_code, assert_guests_refused, create_pool_with,
    credentials_for, database, delete_identities, describe_identity, developer_pool,
    developer_token, error_code, error_message, get_id, list_identities, open_id_token, set_roles,
    spawn_app, spawn_app_on, store, update_pool, verify_with_jwks, TestApp, ACCOUNT_A, COGNITO,
    GUESTS_NOT_SUPPORTED, NOT_FOUND, UNKNOWN_ID,
};

/// AWS's text when a pool has no role for the caller.
const NO_ROLE_FOR_GUESTS: &str =
    "Invalid identity pool configuration. Check assigned IAM roles for this pool.";

async fn unauth_pool(app: &TestApp) -> String {
    app.create_pool("guests").await
}

/// Two guests of a new pool, one after the other.
async fn two_guests(app: &TestApp) -> (String, String) {
    let pool = unauth_pool(app).await;
    (app.guest(&pool).await, app.guest(&pool).await)
}

/// A new pool taking guests or not, allowing the basic flow or not.
async fn pool_with_flags(app: &TestApp, name: &str, guests: bool, classic: bool) -> String {
    create_pool_with(&app.client, name, guests, |p| p.allow_classic_flow(classic)).await
}

/// UpdateIdentityPool of a pool made by `unauth_pool`, taking guests or not.
async fn take_guests(app: &TestApp, pool: &str, guests: bool) {
    let request = update_pool(&app.client, pool, "guests", guests);
    request.allow_classic_flow(true).send().await.unwrap();
}

/// UpdateIdentityPool with AllowUnauthenticatedIdentities false.
async fn stop_taking_guests(app: &TestApp, pool: &str) {
    take_guests(app, pool, false).await;
}

/// A guest of a new pool whose unauthenticated role is set; its identity id.
async fn guest_with_a_role(app: &TestApp) -> String {
    let pool = unauth_pool(app).await;
    set_roles(
        &app.client,
        &pool,
        &[("unauthenticated", "arn:aws:iam::111111111111:role/guest")],
    )
    .send()
    .await
    .unwrap();
    app.guest(&pool).await
}

#[tokio::test]
async fn get_id_creates_a_new_unauthenticated_identity_in_the_pools_region() {
    let app = spawn_app().await;
    let (a, b) = two_guests(&app).await;
    assert_ne!(a, b, "each unauthenticated GetId is a new identity");
    let (region, uuid) = a.split_once(':').unwrap();
    assert_eq!(region, "us-east-1");
    assert!(uuid::Uuid::parse_str(uuid).is_ok());
}

#[tokio::test]
async fn get_id_is_refused_when_the_pool_does_not_allow_unauthenticated_identities() {
    let app = spawn_app().await;
    let pool = pool_with_flags(&app, "members only", false, true).await;
    assert_guests_refused(get_id(&app.client, &pool, &[]).send().await);
}

#[tokio::test]
async fn get_id_for_an_unknown_pool_is_not_found() {
    let app = spawn_app().await;
    assert_error_code(get_id(&app.client, UNKNOWN_ID, &[]).send().await, NOT_FOUND);
}

#[tokio::test]
async fn an_unauthenticated_token_carries_cognitos_claims_and_verifies_with_the_published_keys() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    let id = app.guest(&pool).await;
    let out = open_id_token(&app.client, &id, &[])
        .send()
        .await
        .expect("GetOpenIdToken");
    assert_eq!(out.identity_id.as_deref(), Some(id.as_str()));
    let token = out.token.expect("token");
    let (header, claims) = verify_with_jwks(&app, &token).await.expect("verifies");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS512);
    assert!(header.kid.is_some());
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["aud"], pool.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["unauthenticated"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert_eq!(
        claims["https://cognito-identity.amazonaws.com/identity-pool-arn"],
        format!("arn:aws:cognito-identity:us-east-1:{ACCOUNT_A}:identitypool/{pool}").as_str()
    );
}

#[tokio::test]
async fn unauthenticated_identities_are_refused_tokens_once_the_pool_stops_allowing_them() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    let id = app.guest(&pool).await;
    stop_taking_guests(&app, &pool).await;
    let refused = open_id_token(&app.client, &id, &[]).send().await;
    assert_error_code(refused, "NotAuthorizedException");
}

#[tokio::test]
async fn a_pool_that_stops_taking_guests_refuses_the_next_guest_get_id_and_stores_nothing() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    app.guest(&pool).await;
    stop_taking_guests(&app, &pool).await;
    assert_guests_refused(get_id(&app.client, &pool, &[]).send().await);
    assert_eq!(
        app.identity_ids(&pool).await.len(),
        1,
        "only the first guest is stored"
    );
    app.delete_pool(&pool).await;
    assert_error_code(get_id(&app.client, &pool, &[]).send().await, NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_identity_is_not_found() {
    let app = spawn_app().await;
    let refused = open_id_token(&app.client, UNKNOWN_ID, &[]).send().await;
    assert_error_code(refused, NOT_FOUND);
}

#[tokio::test]
async fn describe_identity_shows_dates_and_is_invisible_to_other_accounts() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    let id = app.guest(&pool).await;
    let d = describe_identity(&app.client, &id)
        .send()
        .await
        .expect("describe");
    assert_eq!(d.identity_id.as_deref(), Some(id.as_str()));
    assert!(d.logins.unwrap_or_default().is_empty());
    let created = d.creation_date.expect("creation date");
    let age = chrono::Utc::now().timestamp() - created.secs();
    assert!((0..120).contains(&age), "creation date is now-ish: {age}s");
    assert!(d.last_modified_date.is_some());
    let refused = describe_identity(&app.client_b(), &id).send().await;
    assert_error_code(refused, NOT_FOUND);
}

#[tokio::test]
async fn list_identities_pages_through_a_pool_and_other_accounts_cannot_list_it() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.guest(&pool).await);
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = list_identities(&app.client, &pool, 2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.identity_pool_id.as_deref(), Some(pool.as_str()));
        seen.extend(
            page.identities
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.identity_id.unwrap()),
        );
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, created, "creation order, each once");
    let listed_by_b = list_identities(&app.client_b(), &pool, 10);
    assert_error_code(listed_by_b.send().await, NOT_FOUND);
}

#[tokio::test]
async fn deleted_identities_are_gone_and_unknown_ones_are_reported_unprocessed() {
    let app = spawn_app().await;
    let (a, b) = two_guests(&app).await;
    let unknown = UNKNOWN_ID.to_owned();
    let out = delete_identities(&app.client, &[&a, &unknown])
        .send()
        .await
        .unwrap();
    let unprocessed = out.unprocessed_identity_ids.unwrap_or_default();
    assert_eq!(unprocessed.len(), 1);
    assert_eq!(
        unprocessed[0].identity_id.as_deref(),
        Some(unknown.as_str())
    );
    assert_eq!(
        unprocessed[0].error_code.as_ref().map(|c| c.as_str()),
        Some("AccessDenied")
    );
    assert_error_code(open_id_token(&app.client, &a, &[]).send().await, NOT_FOUND);
    open_id_token(&app.client, &b, &[])
        .send()
        .await
        .expect("the other identity is untouched");
    // Another account cannot delete B.
    let out = delete_identities(&app.client_b(), &[&b])
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_identity_ids.unwrap_or_default().len(), 1);
    describe_identity(&app.client, &b)
        .send()
        .await
        .expect("B survives");
}

#[tokio::test]
async fn deleting_a_pool_deletes_its_identities() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    let id = app.guest(&pool).await;
    app.delete_pool(&pool).await;
    assert_error_code(describe_identity(&app.client, &id).send().await, NOT_FOUND);
}

#[tokio::test]
async fn no_token_is_issued_for_an_identity_after_its_deletion_committed() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    for _ in 0..5 {
        let id = app.guest(&pool).await;
        let deleted_at = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
        let mut issuers = Vec::new();
        for _ in 0..8 {
            let client = app.client.clone();
            let id = id.clone();
            let deleted_at = deleted_at.clone();
            issuers.push(tokio::spawn(async move {
                let mut violations = 0;
                for _ in 0..10 {
                    let started = std::time::Instant::now();
                    let ok = open_id_token(&client, &id, &[]).send().await.is_ok();
                    if ok {
                        if let Some(done) = *deleted_at.lock().unwrap() {
                            if started > done {
                                violations += 1;
                            }
                        }
                    }
                }
                violations
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        delete_identities(&app.client, &[&id]).send().await.unwrap();
        *deleted_at.lock().unwrap() = Some(std::time::Instant::now());
        let mut violations = 0;
        for t in issuers {
            violations += t.await.unwrap();
        }
        assert_eq!(violations, 0, "a token was issued for a deleted identity");
    }
}

#[tokio::test]
async fn describe_identity_lists_provider_names_never_subjects() {
    let app = spawn_app().await;
    let pool = developer_pool(&app.client, "dev", false, "login.example").await;
    let login = ("login.example", "secret-user-name");
    let out = developer_token(&app.client, &pool, login)
        .send()
        .await
        .unwrap();
    let id = out.identity_id.unwrap();
    let d = describe_identity(&app.client, &id).send().await.unwrap();
    assert_eq!(d.logins.unwrap(), vec!["login.example".to_owned()]);
    let listed = list_identities(&app.client, &pool, 10)
        .send()
        .await
        .unwrap();
    let raw = format!("{listed:?}");
    assert!(!raw.contains("secret-user-name"));
    let by_id: HashMap<_, _> = listed
        .identities
        .unwrap()
        .into_iter()
        .map(|i| (i.identity_id.unwrap(), i.logins.unwrap_or_default()))
        .collect();
    assert_eq!(by_id[&id], vec!["login.example".to_owned()]);
}

#[tokio::test]
async fn get_open_id_token_is_refused_when_the_pool_disallows_the_basic_flow() {
    let app = spawn_app().await;
    let pool = pool_with_flags(&app, "enhanced only", true, false).await;
    let id = app.guest(&pool).await;
    assert_basic_flow_refused(&app.client, &id).await;
}

#[tokio::test]
async fn get_credentials_without_an_unauthenticated_role_is_an_invalid_pool_configuration() {
    let app = spawn_app().await;
    let pool = unauth_pool(&app).await;
    let id = app.guest(&pool).await;
    let refused = credentials_for(&app.client, &id, &[]).send().await;
    let message = assert_error_code(refused, "InvalidIdentityPoolConfigurationException");
    assert_eq!(message, NO_ROLE_FOR_GUESTS);
}

#[tokio::test]
async fn get_credentials_without_a_configured_sts_is_an_external_service_error() {
    let app = spawn_app().await;
    let id = guest_with_a_role(&app).await;
    let refused = credentials_for(&app.client, &id, &[]).send().await;
    assert_error_code(refused, "ExternalServiceException");
}

#[tokio::test]
async fn an_unreachable_sts_is_an_external_service_error_in_bounded_time() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let app = crate::helpers::spawn_app_with(|s| {
        s.sts.endpoint = Some(dead.try_into().unwrap());
        s.sts.timeout_seconds = 2;
    })
    .await;
    let id = guest_with_a_role(&app).await;
    let started = std::time::Instant::now();
    let refused = credentials_for(&app.client, &id, &[]).send().await;
    assert_error_code(refused, "ExternalServiceException");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// GetId presenting `token` (a Cognate token) as its login.
async fn get_id_with_token(
    app: &TestApp,
    pool: &str,
    token: &str,
) -> Result<String, (String, String)> {
    get_id(&app.client, pool, &[(COGNITO, token)])
        .send()
        .await
        .map(|out| out.identity_id.expect("an identity id"))
        .map_err(|err| (error_code(&err), error_message(&err)))
}

#[tokio::test]
async fn a_pool_changed_through_another_instance_is_seen_by_the_next_get_id_with_a_login() {
    // Instance `a` answers returning users from the pool it keeps in
    // memory; `b`, on the same database, changes and then deletes the pool.
    let a = spawn_app().await;
    let b = spawn_app_on(a.database_url.clone(), |_| {}).await;
    let pool = unauth_pool(&a).await;
    let guest = a.guest(&pool).await;
    let token = open_id_token(&a.client, &guest, &[])
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            get_id_with_token(&a, &pool, &token).await,
            Ok(guest.clone())
        );
    }
    stop_taking_guests(&b, &pool).await;
    assert_eq!(
        get_id_with_token(&a, &pool, &token).await,
        Err((
            "NotAuthorizedException".to_owned(),
            GUESTS_NOT_SUPPORTED.to_owned()
        ))
    );
    take_guests(&b, &pool, true).await;
    assert_eq!(
        get_id_with_token(&a, &pool, &token).await,
        Ok(guest.clone())
    );
    b.delete_pool(&pool).await;
    let (code, _) = get_id_with_token(&a, &pool, &token).await.unwrap_err();
    assert_eq!(code, NOT_FOUND);
}

#[tokio::test]
async fn concurrent_guests_of_open_closed_and_deleted_pools_each_learn_their_own_outcome() {
    use cognate_domain::identity::Identity;
    use cognate_domain::ids::{IdentityId, IdentityPoolId};
    use cognate_domain::ports::Store as _;
    let app = spawn_app().await;
    let open = unauth_pool(&app).await;
    let closed = unauth_pool(&app).await;
    stop_taking_guests(&app, &closed).await;
    // The store as the service has it.
    let store = store(&app);
    let now = chrono::Utc::now();
    let identity = |pool: &str| Identity {
        id: IdentityId::try_from(format!("us-east-1:{}", uuid::Uuid::new_v4()).as_str()).unwrap(),
        pool_id: IdentityPoolId::try_from(pool).unwrap(),
        authenticated: false,
        disabled: false,
        created_at: now,
        last_modified_at: now,
    };
    // Guests of a pool that takes them and of one that does not, at the
    // same moment.
    let wanted: Vec<(Identity, bool)> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                (identity(&open), true)
            } else {
                (identity(&closed), false)
            }
        })
        .collect();
    let answers = futures::future::join_all(
        wanted
            .iter()
            .map(|(identity, _)| store.insert_guest_identity_if_pool_takes_guests(identity)),
    )
    .await;
    for ((identity, expected), answer) in wanted.iter().zip(answers) {
        assert_eq!(
            answer.unwrap(),
            *expected,
            "{} of {}",
            identity.id,
            identity.pool_id
        );
    }
    // Written: exactly the open pool's, each once.
    let db = database(&app).await;
    let count = |pool: String| {
        let db = &db;
        async move {
            db.query_one(
                "SELECT count(*) FROM identities WHERE pool_id = $1",
                &[&pool],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
        }
    };
    assert_eq!(count(open.clone()).await, 100);
    assert_eq!(count(closed.clone()).await, 0);
    // A pool deleted: its guests are refused, the others' still written.
    let gone = unauth_pool(&app).await;
    app.delete_pool(&gone).await;
    let mixed = [identity(&open), identity(&gone), identity(&open)];
    let answers = futures::future::join_all(
        mixed
            .iter()
            .map(|i| store.insert_guest_identity_if_pool_takes_guests(i)),
    )
    .await;
    let answers: Vec<bool> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers, [true, false, true]);
    assert_eq!(count(open).await, 102);
}
