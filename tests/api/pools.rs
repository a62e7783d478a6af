//! Identity-pool management through the real Rust SDK.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;

use crate::helpers::{error_code, error_message, spawn_app, spawn_app_with};

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
    let created = app
        .client
        .create_identity_pool()
        .identity_pool_name("My pool")
        .allow_unauthenticated_identities(true)
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

    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&created.identity_pool_id)
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
    let id = app
        .client
        .create_identity_pool()
        .identity_pool_name("defaults")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let d = app
        .client
        .describe_identity_pool()
        .identity_pool_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(d.allow_classic_flow, None);
    assert!(d.developer_provider_name.is_none());
}

#[tokio::test]
async fn update_resets_omitted_fields_to_their_defaults() {
    let app = spawn_app().await;
    let created = app
        .client
        .create_identity_pool()
        .identity_pool_name("before")
        .allow_unauthenticated_identities(true)
        .allow_classic_flow(true)
        .supported_login_providers("accounts.google.com", "g")
        .cognito_identity_providers(user_pool("Abc", "c"))
        .send()
        .await
        .unwrap();
    let updated = app
        .client
        .update_identity_pool()
        .identity_pool_id(&created.identity_pool_id)
        .identity_pool_name("after")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .expect("update");
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
    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&created.identity_pool_id)
        .send()
        .await
        .unwrap();
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
    let id = app
        .client
        .create_identity_pool()
        .identity_pool_name("dev")
        .allow_unauthenticated_identities(false)
        .developer_provider_name("login.first")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let err = app
        .client
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("dev")
        .allow_unauthenticated_identities(false)
        .developer_provider_name("login.second")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    let kept = app
        .client
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("dev")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.developer_provider_name.as_deref(), Some("login.first"));
}

#[tokio::test]
async fn a_developer_provider_name_can_be_set_on_update_when_there_was_none() {
    let app = spawn_app().await;
    let id = app.create_pool("later-dev").await;
    let updated = app
        .client
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("later-dev")
        .allow_unauthenticated_identities(true)
        .developer_provider_name("login.later")
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.developer_provider_name.as_deref(),
        Some("login.later")
    );
}

#[tokio::test]
async fn a_deleted_pool_is_gone() {
    let app = spawn_app().await;
    let id = app.create_pool("doomed").await;
    app.client
        .delete_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .expect("delete");
    let err = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    assert_eq!(
        error_message(&err),
        format!("IdentityPool '{id}' not found.")
    );
    let err = app
        .client
        .delete_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn an_unknown_pool_is_not_found() {
    let app = spawn_app().await;
    let err = app
        .client
        .describe_identity_pool()
        .identity_pool_id("us-east-1:00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn another_accounts_pool_is_invisible_to_every_operation() {
    let app = spawn_app().await;
    let id = app.create_pool("mine").await;
    let b = app.client_b();
    let err = b
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let err = b
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("stolen")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let err = b
        .delete_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let err = b
        .get_identity_pool_roles()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let err = b
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", "arn:aws:iam::222222222222:role/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let listed = b
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert!(listed.identity_pools.unwrap_or_default().is_empty());
    // Still intact for its owner.
    let d = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(d.identity_pool_name, "mine");
}

#[tokio::test]
async fn list_identity_pools_pages_through_every_pool_once() {
    let app = spawn_app().await;
    let mut created = HashSet::new();
    for i in 0..7 {
        created.insert(app.create_pool(&format!("pool-{i}")).await);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = app
            .client
            .list_identity_pools()
            .max_results(3)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("list");
        pages += 1;
        let pools = page.identity_pools.unwrap_or_default();
        assert!(pools.len() <= 3);
        seen.extend(pools.into_iter().map(|p| p.identity_pool_id.unwrap()));
        token = page.next_token;
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
    let mut first = Vec::new();
    for i in 0..4 {
        first.push(app.create_pool(&format!("early-{i}")).await);
    }
    let page1 = app
        .client
        .list_identity_pools()
        .max_results(2)
        .send()
        .await
        .unwrap();
    let mut seen: Vec<String> = page1
        .identity_pools
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.identity_pool_id.unwrap())
        .collect();
    // Concurrent inserts while the client pages.
    let late = app.create_pool("late").await;
    let mut token = page1.next_token;
    while let Some(t) = token {
        let page = app
            .client
            .list_identity_pools()
            .max_results(2)
            .next_token(t)
            .send()
            .await
            .unwrap();
        seen.extend(
            page.identity_pools
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.identity_pool_id.unwrap()),
        );
        token = page.next_token;
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
    let err = app
        .client
        .list_identity_pools()
        .max_results(10)
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
}

#[tokio::test]
async fn the_pool_limit_per_account_is_enforced() {
    let app = spawn_app_with(|s| s.limits.max_identity_pools_per_account = 3).await;
    for i in 0..3 {
        app.create_pool(&format!("p{i}")).await;
    }
    let err = app
        .client
        .create_identity_pool()
        .identity_pool_name("one too many")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "LimitExceededException");
    // The other account is not affected.
    app.client_b()
        .create_identity_pool()
        .identity_pool_name("pool of b")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .expect("account B has its own quota");
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_pool_limit() {
    let app = spawn_app_with(|s| s.limits.max_identity_pools_per_account = 5).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let client = app.client.clone();
            tokio::spawn(async move {
                client
                    .create_identity_pool()
                    .identity_pool_name(format!("race-{i}"))
                    .allow_unauthenticated_identities(false)
                    .send()
                    .await
                    .is_ok()
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
    let listed = app
        .client
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.identity_pools.unwrap_or_default().len(), 5);
}

#[tokio::test]
async fn concurrent_updates_of_one_pool_lose_nothing() {
    let app = spawn_app().await;
    let id = app
        .client
        .create_identity_pool()
        .identity_pool_name("busy")
        .allow_unauthenticated_identities(true)
        .supported_login_providers("accounts.google.com", "g")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let arn = app.pool_arn(&id);
    // Tag writers and role writers interleave with full updates.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let arn = arn.clone();
        tasks.push(tokio::spawn(async move {
            client
                .tag_resource()
                .resource_arn(arn)
                .tags(format!("k{i}"), "v")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }));
    }
    let client = app.client.clone();
    let pool = id.clone();
    tasks.push(tokio::spawn(async move {
        client
            .set_identity_pool_roles()
            .identity_pool_id(pool)
            .roles("authenticated", "arn:aws:iam::111111111111:role/auth")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }));
    for t in tasks {
        t.await.unwrap().expect("every concurrent write succeeds");
    }
    let tags = app
        .client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert_eq!(tags.len(), 20, "every tag written concurrently is kept");
    let roles = app
        .client
        .get_identity_pool_roles()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(roles.roles.unwrap_or_default().len(), 1);
}

#[tokio::test]
async fn deleting_a_pool_removes_its_roles_and_principal_tag_maps_too() {
    let app = spawn_app().await;
    let id = app
        .client
        .create_identity_pool()
        .identity_pool_name("full")
        .allow_unauthenticated_identities(true)
        .supported_login_providers("accounts.google.com", "g")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    app.client
        .set_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("accounts.google.com")
        .use_defaults(true)
        .send()
        .await
        .unwrap();
    app.client
        .delete_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    let err = app
        .client
        .get_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("accounts.google.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn invalid_provider_configuration_is_refused_at_create() {
    let app = spawn_app().await;
    let err = app
        .client
        .create_identity_pool()
        .identity_pool_name("bad")
        .allow_unauthenticated_identities(false)
        .supported_login_providers("login.example.com", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    let err = app
        .client
        .create_identity_pool()
        .identity_pool_name("bad")
        .allow_unauthenticated_identities(false)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name("not-a-user-pool")
                .client_id("c")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
}

#[tokio::test]
async fn the_default_quota_is_aws_s_one_thousand_pools_per_account() {
    let app = spawn_app().await;
    // 999 pools straight into the database (the API path is tested above).
    let (db, conn) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.execute(
        "INSERT INTO identity_pools (id, account_id, name, allow_unauthenticated, created_at, updated_at) \
         SELECT 'us-east-1:' || gen_random_uuid(), $1, 'bulk', false, now(), now() FROM generate_series(1, 999)",
        &[&crate::helpers::ACCOUNT_A],
    )
    .await
    .unwrap();
    app.create_pool("the thousandth").await;
    let err = app
        .client
        .create_identity_pool()
        .identity_pool_name("one too many")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "LimitExceededException");
}
