//! Identity-pool management through the real Rust SDK.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;

use crate::helpers::{
    assert_error_code, create_pool_request, create_pool_with, database, delete_pool, describe_pool,
    developer_pool, get_principal_tags, get_roles, list_pools, pool_ids_page, set_principal_tags,
    set_roles, spawn_app, spawn_app_with, tag_resource, tags_of, update_pool, TestApp, NOT_FOUND,
    UNKNOWN_ID,
};

const GOOGLE: &str = "accounts.google.com";

/// A new pool taking guests and Google logins.
async fn google_pool(app: &TestApp, name: &str) -> String {
    create_pool_with(&app.client, name, true, |p| {
        p.supported_login_providers(GOOGLE, "g")
    })
    .await
}

/// `count` new pools named `prefix` and their number; their ids in order.
async fn create_pools(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(app.create_pool(&format!("{prefix}{i}")).await);
    }
    ids
}

fn user_pool(id: &str, client: &str) -> CognitoIdentityProvider {
    CognitoIdentityProvider::builder()
        .provider_name(format!(
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_{id}"
        ))
        .client_id(client)
        .server_side_token_check(true)
        .build()
}

#[tokio::test]
async fn create_then_describe_returns_every_field_that_was_set() {
    let app = spawn_app().await;
    let created = create_pool_request(&app.client, "My pool", true)
        .allow_classic_flow(true)
        .supported_login_providers("accounts.google.com", "google-app-id")
        .supported_login_providers("graph.facebook.com", "fb-app-id")
        .developer_provider_name("login.example.app")
        .open_id_connect_provider_arns("arn:aws:iam::111111111111:oidc-provider/idp.example.com")
        .cognito_identity_providers(user_pool("Abc123", "client1"))
        .saml_provider_arns("arn:aws:iam::111111111111:saml-provider/corp")
        .identity_pool_tags("env", "test")
        .send()
        .await
        .expect("create");
    let (region, uuid) = created
        .identity_pool_id
        .split_once(':')
        .expect("region:uuid");
    assert_eq!(region, "us-east-1");
    assert!(uuid::Uuid::parse_str(uuid).is_ok());

    let described = describe_pool(&app.client, &created.identity_pool_id)
        .send()
        .await
        .expect("describe");
    assert_eq!(described.identity_pool_name, "My pool");
    assert!(described.allow_unauthenticated_identities);
    assert_eq!(described.allow_classic_flow, Some(true));
    let providers = described.supported_login_providers.expect("providers");
    assert_eq!(
        providers.get("accounts.google.com").map(String::as_str),
        Some("google-app-id")
    );
    assert_eq!(providers.len(), 2);
    assert_eq!(
        described.developer_provider_name.as_deref(),
        Some("login.example.app")
    );
    assert_eq!(
        described.open_id_connect_provider_arns.expect("oidc"),
        vec!["arn:aws:iam::111111111111:oidc-provider/idp.example.com".to_owned()]
    );
    let cips = described.cognito_identity_providers.expect("user pools");
    assert_eq!(cips[0].client_id.as_deref(), Some("client1"));
    assert_eq!(cips[0].server_side_token_check, Some(true));
    assert_eq!(described.saml_provider_arns.expect("saml").len(), 1);
    assert_eq!(
        described
            .identity_pool_tags
            .expect("tags")
            .get("env")
            .map(String::as_str),
        Some("test")
    );
}

#[tokio::test]
async fn a_new_pool_without_the_classic_flag_leaves_it_unset() {
    let app = spawn_app().await;
    let id = create_pool_with(&app.client, "defaults", true, |p| p).await;
    let d = describe_pool(&app.client, &id).send().await.unwrap();
    assert_eq!(d.allow_classic_flow, None);
    assert!(d.developer_provider_name.is_none());
}

#[tokio::test]
async fn update_resets_omitted_fields_to_their_defaults() {
    let app = spawn_app().await;
    let created = create_pool_request(&app.client, "before", true)
        .allow_classic_flow(true)
        .supported_login_providers(GOOGLE, "g")
        .cognito_identity_providers(user_pool("Abc", "c"))
        .send()
        .await
        .unwrap();
    let pool = created.identity_pool_id;
    let update = update_pool(&app.client, &pool, "after", false);
    let updated = update.send().await.expect("update");
    assert_eq!(updated.identity_pool_name, "after");
    assert_eq!(updated.allow_classic_flow, None);
    assert!(updated
        .supported_login_providers
        .unwrap_or_default()
        .is_empty());
    assert!(updated
        .cognito_identity_providers
        .unwrap_or_default()
        .is_empty());
    let described = describe_pool(&app.client, &pool).send().await.unwrap();
    assert_eq!(described.identity_pool_name, "after");
    assert!(!described.allow_unauthenticated_identities);
    assert!(described
        .supported_login_providers
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn the_developer_provider_name_cannot_change_once_set_and_omitting_it_keeps_it() {
    let app = spawn_app().await;
    let id = developer_pool(&app.client, "dev", false, "login.first").await;
    let second =
        update_pool(&app.client, &id, "dev", false).developer_provider_name("login.second");
    assert_error_code(second.send().await, "InvalidParameterException");
    let kept = update_pool(&app.client, &id, "dev", false);
    let kept = kept.send().await.unwrap();
    assert_eq!(kept.developer_provider_name.as_deref(), Some("login.first"));
}

#[tokio::test]
async fn a_developer_provider_name_can_be_set_on_update_when_there_was_none() {
    let app = spawn_app().await;
    let id = app.create_pool("later-dev").await;
    let update = update_pool(&app.client, &id, "later-dev", true);
    let updated = update.developer_provider_name("login.later").send().await;
    let updated = updated.unwrap();
    assert_eq!(
        updated.developer_provider_name.as_deref(),
        Some("login.later")
    );
}

#[tokio::test]
async fn a_deleted_pool_is_gone() {
    let app = spawn_app().await;
    let id = app.create_pool("doomed").await;
    delete_pool(&app.client, &id).send().await.expect("delete");
    let message = assert_error_code(describe_pool(&app.client, &id).send().await, NOT_FOUND);
    assert_eq!(message, format!("IdentityPool '{id}' not found."));
    assert_error_code(delete_pool(&app.client, &id).send().await, NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_pool_is_not_found() {
    let app = spawn_app().await;
    let unknown = describe_pool(&app.client, UNKNOWN_ID).send().await;
    assert_error_code(unknown, NOT_FOUND);
}

#[tokio::test]
async fn another_accounts_pool_is_invisible_to_every_operation() {
    let app = spawn_app().await;
    let id = app.create_pool("mine").await;
    let b = app.client_b();
    assert_error_code(describe_pool(&b, &id).send().await, NOT_FOUND);
    let stolen = update_pool(&b, &id, "stolen", true);
    assert_error_code(stolen.send().await, NOT_FOUND);
    assert_error_code(delete_pool(&b, &id).send().await, NOT_FOUND);
    assert_error_code(get_roles(&b, &id).send().await, NOT_FOUND);
    let role = ("authenticated", "arn:aws:iam::222222222222:role/x");
    assert_error_code(set_roles(&b, &id, &[role]).send().await, NOT_FOUND);
    let listed = list_pools(&b, 60).send().await.unwrap();
    assert!(listed.identity_pools.unwrap_or_default().is_empty());
    // Still intact for its owner.
    let d = describe_pool(&app.client, &id).send().await.unwrap();
    assert_eq!(d.identity_pool_name, "mine");
}

#[tokio::test]
async fn list_identity_pools_pages_through_every_pool_once() {
    let app = spawn_app().await;
    let created: HashSet<_> = create_pools(&app, "pool-", 7).await.into_iter().collect();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let (pools, next) = pool_ids_page(&app.client, 3, token.clone()).await;
        pages += 1;
        assert!(pools.len() <= 3);
        seen.extend(pools);
        token = next;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);
}

#[tokio::test]
async fn paging_survives_pools_created_between_pages() {
    let app = spawn_app().await;
    let first = create_pools(&app, "early-", 4).await;
    let (mut seen, mut token) = pool_ids_page(&app.client, 2, None).await;
    // Concurrent inserts while the client pages.
    let late = app.create_pool("late").await;
    while let Some(t) = token {
        let (ids, next) = pool_ids_page(&app.client, 2, Some(t)).await;
        seen.extend(ids);
        token = next;
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no pool is listed twice");
    for id in &first {
        assert!(unique.contains(id), "no earlier pool is skipped");
    }
    assert!(
        unique.contains(&late),
        "a pool created mid-listing appears at the end"
    );
}

#[tokio::test]
async fn a_garbage_next_token_is_an_invalid_parameter() {
    let app = spawn_app().await;
    let garbage = list_pools(&app.client, 10).next_token("garbage");
    assert_error_code(garbage.send().await, "InvalidParameterException");
}

#[tokio::test]
async fn the_pool_limit_per_account_is_enforced() {
    let app = spawn_app_with(|s| s.limits.max_identity_pools_per_account = 3).await;
    create_pools(&app, "p", 3).await;
    let one_too_many = create_pool_request(&app.client, "one too many", false);
    assert_error_code(one_too_many.send().await, "LimitExceededException");
    // The other account is not affected.
    let of_b = create_pool_request(&app.client_b(), "pool of b", false);
    of_b.send().await.expect("account B has its own quota");
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_pool_limit() {
    let app = spawn_app_with(|s| s.limits.max_identity_pools_per_account = 5).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let client = app.client.clone();
            tokio::spawn(async move {
                let name = format!("race-{i}");
                let request = create_pool_request(&client, &name, false);
                request.send().await.is_ok()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 5);
    let listed = list_pools(&app.client, 60).send().await.unwrap();
    assert_eq!(listed.identity_pools.unwrap_or_default().len(), 5);
}

#[tokio::test]
async fn concurrent_updates_of_one_pool_lose_nothing() {
    let app = spawn_app().await;
    let id = google_pool(&app, "busy").await;
    let arn = app.pool_arn(&id);
    // Tag writers and role writers interleave with full updates.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let arn = arn.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            let tagged = tag_resource(&client, &arn, &[(&key, "v")]).send().await;
            tagged.map(|_| ()).map_err(|e| format!("{e:?}"))
        }));
    }
    let client = app.client.clone();
    let pool = id.clone();
    tasks.push(tokio::spawn(async move {
        let role = ("authenticated", "arn:aws:iam::111111111111:role/auth");
        let set = set_roles(&client, &pool, &[role]).send().await;
        set.map(|_| ()).map_err(|e| format!("{e:?}"))
    }));
    for t in tasks {
        t.await.unwrap().expect("every concurrent write succeeds");
    }
    let tags = tags_of(&app.client, &arn).await;
    assert_eq!(tags.len(), 20, "every tag written concurrently is kept");
    let roles = get_roles(&app.client, &id).send().await.unwrap();
    assert_eq!(roles.roles.unwrap_or_default().len(), 1);
}

#[tokio::test]
async fn deleting_a_pool_removes_its_roles_and_principal_tag_maps_too() {
    let app = spawn_app().await;
    let id = google_pool(&app, "full").await;
    let defaults = set_principal_tags(&app.client, &id, GOOGLE, true);
    defaults.send().await.unwrap();
    app.delete_pool(&id).await;
    let map = get_principal_tags(&app.client, &id, GOOGLE).send().await;
    assert_error_code(map, NOT_FOUND);
}

#[tokio::test]
async fn invalid_provider_configuration_is_refused_at_create() {
    let app = spawn_app().await;
    let bad = create_pool_request(&app.client, "bad", false);
    let unknown_provider = bad
        .clone()
        .supported_login_providers("login.example.com", "x");
    assert_error_code(unknown_provider.send().await, "InvalidParameterException");
    let not_a_user_pool = CognitoIdentityProvider::builder()
        .provider_name("not-a-user-pool")
        .client_id("c")
        .build();
    let bad = bad.cognito_identity_providers(not_a_user_pool);
    assert_error_code(bad.send().await, "InvalidParameterException");
}

#[tokio::test]
async fn the_default_quota_is_aws_s_one_thousand_pools_per_account() {
    let app = spawn_app().await;
    // 999 pools straight into the database (the API path is tested above).
    let db = database(&app).await;
    db.execute(
        "INSERT INTO identity_pools (id, account_id, name, allow_unauthenticated, created_at, updated_at) \
         SELECT 'us-east-1:' || gen_random_uuid(), $1, 'bulk', false, now(), now() FROM generate_series(1, 999)",
        &[&crate::helpers::ACCOUNT_A],
    )
    .await
    .unwrap();
    app.create_pool("the thousandth").await;
    let refused = create_pool_request(&app.client, "one too many", false)
        .send()
        .await;
    assert_error_code(refused, "LimitExceededException");
}
