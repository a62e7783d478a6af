//! The pool management plane: limits, ownership, the rules on updates,
//! tags, roles and principal-tag maps, and the locks each write takes.

use std::collections::BTreeMap;

use super::*;
use crate::ids::pool_arn;
use crate::pool::PrincipalTagMap;

#[tokio::test]
async fn an_account_cannot_create_more_pools_than_its_limit() {
    let w = world_with(
        Limits {
            max_pools_per_account: 2,
            ..Limits::default()
        },
        RecordingSts::new(),
    );
    w.open_pool().await;
    w.open_pool().await;
    let third = w
        .pools
        .create(&account(), open_settings(), BTreeMap::new(), &NotRecorded)
        .await;
    assert!(
        matches!(third, Err(DomainError::LimitExceeded(_))),
        "{third:?}"
    );
    assert_eq!(
        w.pools
            .list(&account(), 10, None)
            .await
            .unwrap()
            .pools
            .len(),
        2
    );
    let other = w
        .pools
        .create(
            &other_account(),
            open_settings(),
            BTreeMap::new(),
            &NotRecorded,
        )
        .await;
    assert!(other.is_ok(), "the limit is per account: {other:?}");
}

#[tokio::test]
async fn pool_creation_counts_under_the_accounts_lock() {
    let w = world();
    w.open_pool().await;
    assert_eq!(
        w.last_commit().locks,
        [Lock::Account("000000000000".into())]
    );
}

#[tokio::test]
async fn a_pool_is_invisible_to_other_accounts() {
    let w = world();
    let pool = w.open_pool().await;
    let message = not_found(w.pools.describe(&other_account(), &pool.id).await);
    assert_eq!(message, format!("IdentityPool '{}' not found.", pool.id));
    not_found(
        w.pools
            .delete(&other_account(), &pool.id, &NotRecorded)
            .await,
    );
    assert_eq!(w.pools.describe(&account(), &pool.id).await.unwrap(), pool);
}

#[tokio::test]
async fn a_pool_naming_an_undeclared_oidc_provider_is_refused() {
    let w = world();
    let mut settings = open_settings();
    settings.openid_connect_provider_arns =
        vec!["arn:aws:iam::000000000000:oidc-provider/elsewhere.example.com".into()];
    let message = invalid(
        w.pools
            .create(&account(), settings.clone(), BTreeMap::new(), &NotRecorded)
            .await,
    );
    assert!(
        message.contains("is not an OpenID Connect provider"),
        "{message}"
    );
    settings.openid_connect_provider_arns = vec![DECLARED_OIDC.into()];
    assert!(w
        .pools
        .create(&account(), settings, BTreeMap::new(), &NotRecorded)
        .await
        .is_ok());
}

#[tokio::test]
async fn an_update_keeps_an_omitted_developer_provider_and_refuses_changing_it() {
    let w = world();
    let pool = w.open_pool().await;
    let mut settings = open_settings();
    settings.developer_provider_name = None;
    let updated = w
        .pools
        .update(&account(), &pool.id, settings, None, &NotRecorded)
        .await
        .unwrap();
    assert_eq!(
        updated.settings.developer_provider_name.as_deref(),
        Some(DEV)
    );
    let mut settings = open_settings();
    settings.developer_provider_name = Some("other.example".into());
    let message = invalid(
        w.pools
            .update(&account(), &pool.id, settings, None, &NotRecorded)
            .await,
    );
    assert!(message.contains("cannot be changed"), "{message}");
}

#[tokio::test]
async fn an_update_replaces_the_settings_under_the_pools_row_lock() {
    let w = world();
    let pool = w.open_pool().await;
    w.clock.advance(chrono::Duration::seconds(5));
    let mut settings = open_settings();
    settings.allow_unauthenticated = false;
    settings.supported_login_providers.clear();
    let updated = w
        .pools
        .update(&account(), &pool.id, settings, None, &NotRecorded)
        .await
        .unwrap();
    assert!(!updated.settings.allow_unauthenticated);
    assert!(updated.settings.supported_login_providers.is_empty());
    assert!(updated.updated_at > pool.updated_at);
    assert_eq!(w.last_commit().locks, [Lock::PoolRow(pool.id.clone())]);
    assert_eq!(
        w.pools.describe(&account(), &pool.id).await.unwrap(),
        updated
    );
}

#[tokio::test]
async fn an_update_changes_tags_only_when_they_are_given() {
    let w = world();
    let pool = w
        .pools
        .create(
            &account(),
            open_settings(),
            BTreeMap::from([("k".into(), "v".into())]),
            &NotRecorded,
        )
        .await
        .unwrap();
    let kept = w
        .pools
        .update(&account(), &pool.id, open_settings(), None, &NotRecorded)
        .await
        .unwrap();
    assert_eq!(kept.tags.len(), 1);
    let cleared = w
        .pools
        .update(
            &account(),
            &pool.id,
            open_settings(),
            Some(BTreeMap::new()),
            &NotRecorded,
        )
        .await
        .unwrap();
    assert!(cleared.tags.is_empty());
}

#[tokio::test]
async fn tagging_beyond_fifty_tags_is_refused_and_keeps_the_tags_there_were() {
    let w = world();
    let pool = w.open_pool().await;
    let arn = pool_arn(w.pools.region(), &account(), &pool.id);
    let fifty: BTreeMap<String, String> =
        (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    w.pools
        .tag(&account(), &arn, fifty, &NotRecorded)
        .await
        .unwrap();
    let more = BTreeMap::from([("one-more".to_owned(), "v".to_owned())]);
    let refused = w.pools.tag(&account(), &arn, more, &NotRecorded).await;
    assert!(
        matches!(refused, Err(DomainError::LimitExceeded(_))),
        "{refused:?}"
    );
    let tags = w.pools.list_tags(&account(), &arn).await.unwrap();
    assert_eq!(tags.len(), 50);
    assert!(!tags.contains_key("one-more"));
}

#[tokio::test]
async fn untagging_removes_the_named_keys_and_ignores_absent_ones() {
    let w = world();
    let pool = w
        .pools
        .create(
            &account(),
            open_settings(),
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]),
            &NotRecorded,
        )
        .await
        .unwrap();
    let arn = pool_arn(w.pools.region(), &account(), &pool.id);
    w.pools
        .untag(
            &account(),
            &arn,
            &["a".into(), "absent".into()],
            &NotRecorded,
        )
        .await
        .unwrap();
    let tags = w.pools.list_tags(&account(), &arn).await.unwrap();
    assert_eq!(tags, BTreeMap::from([("b".into(), "2".into())]));
}

#[tokio::test]
async fn a_resource_arn_of_another_account_is_not_found_and_a_malformed_one_is_invalid() {
    let w = world();
    let pool = w.open_pool().await;
    let foreign = pool_arn(w.pools.region(), &other_account(), &pool.id);
    let message = not_found(w.pools.list_tags(&account(), &foreign).await);
    assert_eq!(message, format!("Resource '{foreign}' not found."));
    invalid(w.pools.list_tags(&account(), "not-an-arn").await);
}

#[tokio::test]
async fn deleting_a_pool_deletes_its_identities_under_the_pools_exclusive_lock() {
    let w = world();
    let pool = w.open_pool().await;
    let kept = w.open_pool().await;
    w.guest(&pool).await;
    w.google_user(&pool, "g1").await;
    let (survivor, _) = w.guest(&kept).await;
    w.pools
        .delete(&account(), &pool.id, &NotRecorded)
        .await
        .unwrap();
    assert_eq!(
        w.last_commit().locks,
        [Lock::PoolExclusive(pool.id.clone())]
    );
    assert_eq!(w.store.identity_count().await, 1);
    assert!(w.store.identity(&survivor).await.is_some());
    not_found(w.pools.describe(&account(), &pool.id).await);
    not_found(w.pools.delete(&account(), &pool.id, &NotRecorded).await);
    not_found(w.identities.get_id(&pool.id, &logins(&[])).await);
}

#[tokio::test]
async fn pools_are_listed_in_creation_order_a_page_at_a_time() {
    let w = world();
    let a = w.open_pool().await;
    let b = w.open_pool().await;
    let c = w.open_pool().await;
    w.pools
        .create(
            &other_account(),
            open_settings(),
            BTreeMap::new(),
            &NotRecorded,
        )
        .await
        .unwrap();
    let first = w.pools.list(&account(), 2, None).await.unwrap();
    let ids: Vec<&str> = first.pools.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str(), b.id.as_str()]);
    let second = w
        .pools
        .list(&account(), 2, first.next_token.as_deref())
        .await
        .unwrap();
    let ids: Vec<&str> = second.pools.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [c.id.as_str()]);
    assert!(second.next_token.is_none());
    invalid(w.pools.list(&account(), 2, Some("garbage")).await);
}

#[tokio::test]
async fn roles_of_the_pools_own_account_are_set_and_another_accounts_are_refused() {
    let w = world();
    let pool = w.open_pool().await;
    let own = BTreeMap::from([(
        "authenticated".to_owned(),
        "arn:aws:iam::000000000000:role/auth".to_owned(),
    )]);
    w.pools
        .set_roles(
            &account(),
            &pool.id,
            own.clone(),
            BTreeMap::new(),
            &NotRecorded,
        )
        .await
        .unwrap();
    assert_eq!(
        w.pools.get_roles(&account(), &pool.id).await.unwrap().0,
        own
    );
    let foreign = BTreeMap::from([(
        "authenticated".to_owned(),
        "arn:aws:iam::111111111111:role/auth".to_owned(),
    )]);
    let refused = w
        .pools
        .set_roles(&account(), &pool.id, foreign, BTreeMap::new(), &NotRecorded)
        .await;
    assert!(refused.is_err());
    assert_eq!(
        w.pools.get_roles(&account(), &pool.id).await.unwrap().0,
        own
    );
}

#[tokio::test]
async fn a_principal_tag_map_is_set_only_for_a_provider_of_the_pool() {
    let w = world();
    let pool = w.open_pool().await;
    let map = PrincipalTagMap {
        provider_name: GOOGLE.into(),
        use_defaults: true,
        principal_tags: BTreeMap::from([("dept".into(), "department".into())]),
    };
    w.pools
        .set_principal_tag_map(&account(), &pool.id, map.clone(), &NotRecorded)
        .await
        .unwrap();
    assert_eq!(
        w.pools
            .get_principal_tag_map(&account(), &pool.id, GOOGLE)
            .await
            .unwrap(),
        map
    );
    let unknown = PrincipalTagMap {
        provider_name: "graph.facebook.com".into(),
        ..map
    };
    let message = invalid(
        w.pools
            .set_principal_tag_map(&account(), &pool.id, unknown, &NotRecorded)
            .await,
    );
    assert!(
        message.contains("is not a configured provider"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unset_principal_tag_map_answers_no_defaults_and_no_tags() {
    let w = world();
    let pool = w.open_pool().await;
    let map = w
        .pools
        .get_principal_tag_map(&account(), &pool.id, AMAZON)
        .await
        .unwrap();
    assert_eq!(
        map,
        PrincipalTagMap {
            provider_name: AMAZON.into(),
            use_defaults: false,
            principal_tags: BTreeMap::new(),
        }
    );
    not_found(
        w.pools
            .get_principal_tag_map(&other_account(), &pool.id, AMAZON)
            .await,
    );
}
