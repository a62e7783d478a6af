//! What the operator console asks beyond the API: counts, finding an
//! identity by a login, its logins, unlinking a provider's logins.

use super::*;
use crate::service::identities::LinkedLogin;

#[tokio::test]
async fn counting_a_pools_identities_stops_at_the_cap() {
    let w = world();
    let pool = w.open_pool().await;
    for _ in 0..5 {
        w.guest(&pool).await;
    }
    let me = account();
    let count = |cap| w.identities.count_identities(&me, &pool.id, cap);
    assert_eq!(count(100).await.unwrap(), 5);
    assert_eq!(count(3).await.unwrap(), 3);
    not_found(
        w.identities
            .count_identities(&other_account(), &pool.id, 100)
            .await,
    );
}

#[tokio::test]
async fn an_identity_is_found_by_its_upstream_subject_hashed_as_stored() {
    let w = world();
    let pool = w.open_pool().await;
    let user = w.google_user(&pool, "g1").await;
    let me = account();
    let find = |provider: &'static str, subject: &'static str| {
        w.identities.find_by_login(&me, &pool.id, provider, subject)
    };
    assert_eq!(find(GOOGLE, "g1").await.unwrap(), Some(user));
    assert_eq!(find(GOOGLE, "g2").await.unwrap(), None);
    assert_eq!(find(AMAZON, "g1").await.unwrap(), None);
    // The stored form is the hash: looking up the hash itself finds nothing.
    let hashed: &'static str = Box::leak(VisibleHasher::stored(GOOGLE, "g1").into_boxed_str());
    assert_eq!(find(GOOGLE, hashed).await.unwrap(), None);
}

#[tokio::test]
async fn an_identity_is_found_by_its_developer_user_identifier_as_given() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    let found = w
        .identities
        .find_by_login(&account(), &pool.id, DEV, "alice")
        .await
        .unwrap();
    assert_eq!(found, Some(id));
    not_found(
        w.identities
            .find_by_login(&other_account(), &pool.id, DEV, "alice")
            .await,
    );
}

#[tokio::test]
async fn an_identitys_logins_show_developer_ids_and_never_upstream_subjects() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    w.identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1")]))
        .await
        .unwrap();
    // Link Google to the developer identity too.
    let dev = w
        .identities
        .get_open_id_token_for_developer_identity(
            &account(),
            crate::service::identities::DeveloperTokenRequest {
                pool_id: pool.id.clone(),
                identity_id: Some(id.clone()),
                logins: logins(&[(DEV, "alice"), (AMAZON, "a1")]),
                principal_tags: BTreeMap::new(),
                token_duration: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(dev.0, id);
    let linked = w.identities.linked_logins(&account(), &id).await.unwrap();
    assert_eq!(
        linked,
        [
            LinkedLogin {
                provider: DEV.into(),
                developer_user_id: Some("alice".into()),
            },
            LinkedLogin {
                provider: AMAZON.into(),
                developer_user_id: None,
            },
        ]
    );
    not_found(w.identities.linked_logins(&other_account(), &id).await);
}

#[tokio::test]
async fn an_operator_unlinks_a_provider_and_the_last_unlink_disables_the_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w
        .identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a1")]))
        .await
        .unwrap();
    let removed = w
        .identities
        .unlink_provider(&account(), &id, GOOGLE, &NotRecorded)
        .await
        .unwrap();
    assert_eq!(removed, [GOOGLE]);
    assert_eq!(w.providers(&id).await, [AMAZON]);
    assert!(!w.identity(&id).await.disabled);
    // Nothing of that provider left: refused, nothing changed.
    invalid(
        w.identities
            .unlink_provider(&account(), &id, GOOGLE, &NotRecorded)
            .await,
    );
    w.identities
        .unlink_provider(&account(), &id, AMAZON, &NotRecorded)
        .await
        .unwrap();
    assert!(w.identity(&id).await.disabled);
}

#[tokio::test]
async fn an_operator_never_unlinks_developer_logins_or_another_accounts_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    invalid(
        w.identities
            .unlink_provider(&account(), &id, DEV, &NotRecorded)
            .await,
    );
    assert_eq!(w.providers(&id).await, [DEV]);
    let user = w.google_user(&pool, "g1").await;
    not_found(
        w.identities
            .unlink_provider(&other_account(), &user, GOOGLE, &NotRecorded)
            .await,
    );
    assert_eq!(w.providers(&user).await, [GOOGLE]);
}
