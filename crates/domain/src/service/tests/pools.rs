//! The pool management plane: limits, ownership, the rules on updates,
//! tags, roles and principal-tag maps, and the locks each write takes.

use std::collections::BTreeMap;

use super::*;
use crate::ids::pool_arn;
use crate::pool::PrincipalTagMap;

impl World {
    /// The ARN of `pool` as if `account` owned it.
    fn arn(&self, account: &AccountId, pool: &IdentityPool) -> String {
        pool_arn(self.pools.region(), account, &pool.id)
    }

    /// The test account's tags of the resource `arn`.
    async fn tags(&self, arn: &str) -> DomainResult<BTreeMap<String, String>> {
        self.pools.list_tags(&account(), arn).await
    }

    /// The roles of the test account's `pool`.
    async fn roles(&self, pool: &IdentityPool) -> BTreeMap<String, String> {
        self.pools.get_roles(&account(), &pool.id).await.unwrap().0
    }

    /// SetIdentityPoolRoles of `pool` to the authenticated role `arn`.
    async fn set_authenticated_role(&self, pool: &IdentityPool, arn: &str) -> DomainResult<()> {
        let roles = strings(&[("authenticated", arn)]);
        self.pools
            .set_roles(&account(), &pool.id, roles, BTreeMap::new(), &NotRecorded)
            .await
    }

    /// `account`'s principal tag map of `pool` for `provider`.
    async fn tag_map(
        &self,
        account: &AccountId,
        pool: &IdentityPool,
        name: &str,
    ) -> DomainResult<PrincipalTagMap> {
        self.pools
            .get_principal_tag_map(account, &pool.id, &provider(name))
            .await
    }
}

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
    let third = w.create_pool(&account(), open_settings(), &[]).await;
    assert!(
        matches!(third, Err(DomainError::LimitExceeded(_))),
        "{third:?}"
    );
    let listed = w.pools.list(&account(), 10, None).await.unwrap();
    assert_eq!(listed.pools.len(), 2);
    let other = w.create_pool(&other_account(), open_settings(), &[]).await;
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
    let (w, pool) = open_world().await;
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
    let naming = |arn: &str| {
        let arns = vec![arn.to_owned()];
        open_settings_where(|s| s.openid_connect_provider_arns = arns)
    };
    let undeclared = naming("arn:aws:iam::000000000000:oidc-provider/elsewhere.example.com");
    let message = invalid(w.create_pool(&account(), undeclared, &[]).await);
    assert_mentions(&message, "is not an OpenID Connect provider");
    let declared = w.create_pool(&account(), naming(DECLARED_OIDC), &[]).await;
    assert!(declared.is_ok(), "{declared:?}");
}

#[tokio::test]
async fn an_update_keeps_an_omitted_developer_provider_and_refuses_changing_it() {
    let (w, pool) = open_world().await;
    let omitted = open_settings_where(|s| s.developer_provider_name = None);
    let updated = w.update_pool(&pool, omitted).await.unwrap();
    assert_eq!(
        updated.settings.developer_provider_name.as_deref(),
        Some(DEV)
    );
    let changed =
        open_settings_where(|s| s.developer_provider_name = Some(provider("other.example")));
    let message = invalid(w.update_pool(&pool, changed).await);
    assert_mentions(&message, "cannot be changed");
}

#[tokio::test]
async fn an_update_replaces_the_settings_under_the_pools_row_lock() {
    let (w, pool) = open_world().await;
    w.clock.advance(chrono::Duration::seconds(5));
    let mut settings = settings_without_guests();
    settings.supported_login_providers.clear();
    let updated = w.update_pool(&pool, settings).await.unwrap();
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
        .create_pool(&account(), open_settings(), &[("k", "v")])
        .await
        .unwrap();
    let kept = w.update_pool(&pool, open_settings()).await.unwrap();
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
    let (w, pool) = open_world().await;
    let arn = w.arn(&account(), &pool);
    let fifty: BTreeMap<String, String> =
        (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    w.pools
        .tag(&account(), &arn, fifty, &NotRecorded)
        .await
        .unwrap();
    let more = strings(&[("one-more", "v")]);
    let refused = w.pools.tag(&account(), &arn, more, &NotRecorded).await;
    assert!(
        matches!(refused, Err(DomainError::LimitExceeded(_))),
        "{refused:?}"
    );
    let tags = w.tags(&arn).await.unwrap();
    assert_eq!(tags.len(), 50);
    assert!(!tags.contains_key("one-more"));
}

#[tokio::test]
async fn untagging_removes_the_named_keys_and_ignores_absent_ones() {
    let w = world();
    let pool = w
        .create_pool(&account(), open_settings(), &[("a", "1"), ("b", "2")])
        .await
        .unwrap();
    let arn = w.arn(&account(), &pool);
    let keys = ["a".to_owned(), "absent".to_owned()];
    w.pools
        .untag(&account(), &arn, &keys, &NotRecorded)
        .await
        .unwrap();
    assert_eq!(w.tags(&arn).await.unwrap(), strings(&[("b", "2")]));
}

#[tokio::test]
async fn a_resource_arn_of_another_account_is_not_found_and_a_malformed_one_is_invalid() {
    let (w, pool) = open_world().await;
    let foreign = w.arn(&other_account(), &pool);
    let message = not_found(w.tags(&foreign).await);
    assert_eq!(message, format!("Resource '{foreign}' not found."));
    invalid(w.tags("not-an-arn").await);
}

#[tokio::test]
async fn deleting_a_pool_deletes_its_identities_under_the_pools_exclusive_lock() {
    let (w, pool) = open_world().await;
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
    not_found(w.try_get_id(&pool, &[]).await);
}

#[tokio::test]
async fn pools_are_listed_in_creation_order_a_page_at_a_time() {
    let w = world();
    let a = w.open_pool().await;
    let b = w.open_pool().await;
    let c = w.open_pool().await;
    w.foreign_pool().await;
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
    let (w, pool) = open_world().await;
    let own = "arn:aws:iam::000000000000:role/auth";
    w.set_authenticated_role(&pool, own).await.unwrap();
    assert_eq!(w.roles(&pool).await, strings(&[("authenticated", own)]));
    let refused = w
        .set_authenticated_role(&pool, "arn:aws:iam::111111111111:role/auth")
        .await;
    assert!(refused.is_err());
    assert_eq!(w.roles(&pool).await, strings(&[("authenticated", own)]));
}

#[tokio::test]
async fn a_principal_tag_map_is_set_only_for_a_provider_of_the_pool() {
    let (w, pool) = open_world().await;
    let map = google_department_map();
    let me = account();
    let set = |map| {
        w.pools
            .set_principal_tag_map(&me, &pool.id, map, &NotRecorded)
    };
    set(map.clone()).await.unwrap();
    assert_eq!(w.tag_map(&account(), &pool, GOOGLE).await.unwrap(), map);
    let unknown = PrincipalTagMap {
        provider_name: provider("graph.facebook.com"),
        ..map
    };
    let message = invalid(set(unknown).await);
    assert_mentions(&message, "is not a configured provider");
}

#[tokio::test]
async fn an_unset_principal_tag_map_answers_no_defaults_and_no_tags() {
    let (w, pool) = open_world().await;
    let map = w.tag_map(&account(), &pool, AMAZON).await.unwrap();
    assert_eq!(
        map,
        PrincipalTagMap {
            provider_name: provider(AMAZON),
            use_defaults: false,
            principal_tags: BTreeMap::new(),
        }
    );
    not_found(w.tag_map(&other_account(), &pool, AMAZON).await);
}
