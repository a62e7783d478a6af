//! DescribeIdentity, ListIdentities and DeleteIdentities.

use super::*;
use crate::identity::RowLock;

#[tokio::test]
async fn describing_an_identity_lists_the_providers_of_its_logins() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w
        .identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a1")]))
        .await
        .unwrap();
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
    let w = world();
    let pool = w.open_pool().await;
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
    let w = world();
    let pool = w.open_pool().await;
    let (guest, _) = w.guest(&pool).await;
    let user = w.google_user(&pool, "g1").await;
    w.identities
        .unlink_identity(
            &user,
            &logins(&[(GOOGLE, "g1")]),
            &[GOOGLE.to_owned()],
            &NotRecorded,
        )
        .await
        .unwrap();
    let (third, _) = w.guest(&pool).await;
    let first = w
        .identities
        .list_identities(&account(), &pool.id, 2, None, false)
        .await
        .unwrap();
    let ids: Vec<&str> = first
        .identities
        .iter()
        .map(|d| d.identity.id.as_str())
        .collect();
    assert_eq!(ids, [guest.as_str(), user.as_str()]);
    let rest = w
        .identities
        .list_identities(&account(), &pool.id, 2, first.next_token.as_deref(), false)
        .await
        .unwrap();
    assert_eq!(rest.identities.len(), 1);
    assert_eq!(rest.identities[0].identity.id, third);
    let enabled = w
        .identities
        .list_identities(&account(), &pool.id, 10, None, true)
        .await
        .unwrap();
    let ids: Vec<&str> = enabled
        .identities
        .iter()
        .map(|d| d.identity.id.as_str())
        .collect();
    assert_eq!(ids, [guest.as_str(), third.as_str()]);
}

#[tokio::test]
async fn deleting_identities_reports_unknown_and_foreign_ids_as_access_denied() {
    let w = world();
    let pool = w.open_pool().await;
    let foreign_pool = w
        .pools
        .create(
            &other_account(),
            open_settings(),
            Default::default(),
            &NotRecorded,
        )
        .await
        .unwrap();
    let (mine, _) = w.guest(&pool).await;
    let (theirs, _) = w.guest(&foreign_pool).await;
    let unknown = IdentityId::try_from("us-east-1:00000000-0000-0000-0000-000000000000").unwrap();
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
    assert!(took(
        &w.last_commit(),
        &Lock::Identity(mine, RowLock::Update)
    ));
}

#[tokio::test]
async fn a_deleted_identitys_login_makes_a_new_identity_next_time() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.google_user(&pool, "g1").await;
    w.identities
        .delete_identities(&account(), std::slice::from_ref(&id), &NotRecorded)
        .await
        .unwrap();
    assert!(w.store.logins(&id).await.is_empty());
    assert_ne!(w.google_user(&pool, "g1").await, id);
}
