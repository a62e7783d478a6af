//! DescribeIdentity, ListIdentities and DeleteIdentities.

use super::*;

impl World {
    /// The ids ListIdentities answers for the test account's `pool`, on
    /// the page of at most `max` after `next`, and the next page's token.
    async fn listed(
        &self,
        pool: &IdentityPool,
        max: u32,
        next: Option<&str>,
        hide_disabled: bool,
    ) -> (Vec<IdentityId>, Option<String>) {
        let page = self
            .identities
            .list_identities(&account(), &pool.id, max, next, hide_disabled)
            .await
            .unwrap();
        let ids = page.identities.into_iter().map(|d| d.identity.id).collect();
        (ids, page.next_token)
    }
}

#[tokio::test]
async fn describing_an_identity_lists_the_providers_of_its_logins() {
    let (w, pool) = open_world().await;
    let id = w.google_and_amazon_user(&pool).await;
    let described = w
        .identities
        .describe_identity(&account(), &id)
        .await
        .unwrap();
    assert_eq!(described.identity.id, id);
    // Sorted by name, as DescribeIdentity answers them.
    assert_eq!(described.providers, [GOOGLE, AMAZON]);
}

#[tokio::test]
async fn an_identity_of_another_accounts_pool_is_not_found() {
    let (w, pool) = open_world().await;
    let (id, _) = w.guest(&pool).await;
    let message = not_found(w.identities.describe_identity(&other_account(), &id).await);
    assert_eq!(message, format!("Identity '{id}' not found."));
    not_found(
        w.identities
            .list_identities(&other_account(), &pool.id, 10, None, false)
            .await,
    );
}

#[tokio::test]
async fn listing_identities_pages_in_creation_order_and_can_hide_disabled_ones() {
    let (w, pool) = open_world().await;
    let (guest, _) = w.guest(&pool).await;
    let user = w.google_user(&pool, "g1").await;
    w.unlink(&user, &[(GOOGLE, "g1")], GOOGLE).await.unwrap();
    let (third, _) = w.guest(&pool).await;
    let (first, next) = w.listed(&pool, 2, None, false).await;
    assert_eq!(first, [guest.clone(), user]);
    let (rest, _) = w.listed(&pool, 2, next.as_deref(), false).await;
    assert_eq!(rest, std::slice::from_ref(&third));
    let (enabled, _) = w.listed(&pool, 10, None, true).await;
    assert_eq!(enabled, [guest, third]);
}

#[tokio::test]
async fn deleting_identities_reports_unknown_and_foreign_ids_as_access_denied() {
    let (w, pool) = open_world().await;
    let foreign_pool = w.foreign_pool().await;
    let (mine, _) = w.guest(&pool).await;
    let (theirs, _) = w.guest(&foreign_pool).await;
    let unknown = IdentityId::try_from(UNKNOWN_ID).unwrap();
    w.store.clear_journal();
    let unprocessed = w
        .identities
        .delete_identities(
            &account(),
            &[mine.clone(), theirs.clone(), unknown.clone()],
            &NotRecorded,
        )
        .await
        .unwrap();
    let mut expected = vec![(theirs.clone(), "AccessDenied"), (unknown, "AccessDenied")];
    expected.sort();
    assert_eq!(unprocessed, expected);
    assert!(w.store.identity(&mine).await.is_none());
    assert!(w.store.identity(&theirs).await.is_some());
    assert!(w.last_commit_updated(&mine));
}

#[tokio::test]
async fn a_deleted_identitys_login_makes_a_new_identity_next_time() {
    let (w, pool) = open_world().await;
    let id = w.google_user(&pool, "g1").await;
    w.delete_identity(&id).await;
    assert!(w.store.logins(&id).await.is_empty());
    assert_ne!(w.google_user(&pool, "g1").await, id);
}
