//! GetId: guests, returning users, new users, and the merge of the
//! identities a request's logins span.

use super::*;
use crate::identity::RowLock;
use crate::test_support::fakes::{VisibleHasher, INVALID_LOGIN};

#[tokio::test]
async fn get_id_without_logins_makes_a_new_guest_identity_every_time() {
    let w = world();
    let pool = w.open_pool().await;
    let first = w.identities.get_id(&pool.id, &logins(&[])).await.unwrap();
    let second = w.identities.get_id(&pool.id, &logins(&[])).await.unwrap();
    assert_ne!(first, second);
    assert!(first.starts_with("us-east-1:"), "{first}");
    let identity = w.identity(&first).await;
    assert!(!identity.authenticated && !identity.disabled);
    assert_eq!(identity.pool_id, pool.id);
}

#[tokio::test]
async fn get_id_without_logins_is_refused_when_the_pool_takes_no_guests() {
    let w = world();
    let mut settings = open_settings();
    settings.allow_unauthenticated = false;
    let pool = w.pool(settings).await;
    let message = not_authorized(w.identities.get_id(&pool.id, &logins(&[])).await);
    assert_eq!(
        message,
        "Unauthenticated access is not supported for this identity pool."
    );
    assert_eq!(w.store.identity_count().await, 0);
}

#[tokio::test]
async fn get_id_in_an_unknown_pool_is_not_found() {
    let w = world();
    let message = not_found(
        w.identities
            .get_id(
                &IdentityPoolId::try_from("us-east-1:00000000-0000-0000-0000-000000000000")
                    .unwrap(),
                &logins(&[]),
            )
            .await,
    );
    assert_eq!(
        message,
        "IdentityPool 'us-east-1:00000000-0000-0000-0000-000000000000' not found."
    );
}

#[tokio::test]
async fn get_id_returns_the_same_identity_for_the_same_login() {
    let w = world();
    let pool = w.open_pool().await;
    let first = w.google_user(&pool, "g1").await;
    let again = w.google_user(&pool, "g1").await;
    let someone_else = w.google_user(&pool, "g2").await;
    assert_eq!(first, again);
    assert_ne!(first, someone_else);
    assert!(w.identity(&first).await.authenticated);
}

#[tokio::test]
async fn an_upstream_subject_is_stored_only_as_its_hash() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.google_user(&pool, "g1").await;
    let stored = w.store.logins(&id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject, VisibleHasher::stored(GOOGLE, "g1"));
    assert!(!stored[0].developer);
}

#[tokio::test]
async fn a_returning_user_is_answered_from_one_snapshot_read_and_nothing_is_written() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.google_user(&pool, "g1").await;
    let before = w.identity(&id).await;
    w.clock.advance(chrono::Duration::seconds(60));
    w.store.clear_journal();
    assert_eq!(w.google_user(&pool, "g1").await, id);
    assert_eq!(w.store.journal(), []);
    assert_eq!(w.identity(&id).await, before);
}

#[tokio::test]
async fn a_guest_identity_is_one_insert_with_no_transaction() {
    let w = world();
    let pool = w.open_pool().await;
    w.store.clear_journal();
    let id = w.identities.get_id(&pool.id, &logins(&[])).await.unwrap();
    assert_eq!(w.store.journal(), []);
    assert!(!w.identity(&id).await.authenticated);
}

#[tokio::test]
async fn get_id_with_a_refused_login_creates_nothing() {
    let w = world();
    let pool = w.open_pool().await;
    let message = not_authorized(
        w.identities
            .get_id(&pool.id, &logins(&[(GOOGLE, "invalid-token")]))
            .await,
    );
    assert_eq!(message, INVALID_LOGIN);
    assert_eq!(w.store.identity_count().await, 0);
}

#[tokio::test]
async fn get_id_with_a_provider_the_pool_does_not_name_is_refused() {
    let w = world();
    let pool = w.open_pool().await;
    not_authorized(
        w.identities
            .get_id(&pool.id, &logins(&[("graph.facebook.com", "f1")]))
            .await,
    );
}

#[tokio::test]
async fn a_public_caller_cannot_present_the_developer_provider() {
    let w = world();
    let pool = w.open_pool().await;
    let message = not_authorized(
        w.identities
            .get_id(&pool.id, &logins(&[(DEV, "alice")]))
            .await,
    );
    assert_eq!(
        message,
        "Token is not from a supported provider of this identity pool."
    );
    assert_eq!(w.store.identity_count().await, 0);
}

#[tokio::test]
async fn new_logins_together_make_one_new_identity_holding_them_all() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w
        .identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a1")]))
        .await
        .unwrap();
    assert_eq!(w.providers(&id).await, [GOOGLE, AMAZON]);
    assert_eq!(w.google_user(&pool, "g1").await, id);
}

#[tokio::test]
async fn a_new_login_presented_with_a_known_one_links_to_its_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.google_user(&pool, "g1").await;
    let same = w
        .identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a1")]))
        .await
        .unwrap();
    assert_eq!(same, id);
    assert_eq!(w.providers(&id).await, [GOOGLE, AMAZON]);
    assert_eq!(
        w.identities
            .get_id(&pool.id, &logins(&[(AMAZON, "a1")]))
            .await
            .unwrap(),
        id
    );
}

#[tokio::test]
async fn logins_of_two_identities_merge_them_into_the_older_one() {
    let w = world();
    let pool = w.open_pool().await;
    let older = w.google_user(&pool, "g1").await;
    w.clock.advance(chrono::Duration::seconds(60));
    let newer = w
        .identities
        .get_id(&pool.id, &logins(&[(AMAZON, "a1")]))
        .await
        .unwrap();
    w.store.clear_journal();
    let merged = w
        .identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a1")]))
        .await
        .unwrap();
    assert_eq!(merged, older);
    assert!(w.identity(&newer).await.disabled);
    assert!(w.store.logins(&newer).await.is_empty());
    assert_eq!(w.providers(&older).await, [GOOGLE, AMAZON]);
    let record = w.last_commit();
    assert!(took(
        &record,
        &Lock::Identity(older.clone(), RowLock::Update)
    ));
    assert!(took(
        &record,
        &Lock::Identity(newer.clone(), RowLock::Update)
    ));
}

#[tokio::test]
async fn two_different_users_of_one_provider_cannot_share_an_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w
        .identities
        .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a1")]))
        .await
        .unwrap();
    let other = w
        .identities
        .get_id(&pool.id, &logins(&[(AMAZON, "a2")]))
        .await
        .unwrap();
    let message = conflict(
        w.identities
            .get_id(&pool.id, &logins(&[(GOOGLE, "g1"), (AMAZON, "a2")]))
            .await,
    );
    assert!(message.contains(AMAZON), "{message}");
    assert!(!w.identity(&other).await.disabled, "nothing was merged");
    assert_eq!(w.providers(&id).await, [GOOGLE, AMAZON]);
}

#[tokio::test]
async fn concurrent_first_logins_of_one_user_agree_on_one_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let one = logins(&[(GOOGLE, "g1")]);
    let (a, b) = tokio::join!(
        w.identities.get_id(&pool.id, &one),
        w.identities.get_id(&pool.id, &one)
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(w.store.identity_count().await, 1);
}

#[tokio::test]
async fn a_returning_users_get_id_reads_the_pool_once_and_then_only_the_logins_owners() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.google_user(&pool, "g1").await;
    let reads = w.store.pool_reads();
    for _ in 0..3 {
        assert_eq!(w.google_user(&pool, "g1").await, id);
    }
    assert_eq!(w.store.pool_reads(), reads);
}

#[tokio::test]
async fn get_id_refuses_a_provider_the_pool_dropped_after_it_was_cached() {
    let w = world();
    let pool = w.open_pool().await;
    w.google_user(&pool, "g1").await;
    let mut settings = open_settings();
    settings.supported_login_providers.remove(GOOGLE);
    w.pools
        .update(&account(), &pool.id, settings, None, &NotRecorded)
        .await
        .unwrap();
    not_authorized(
        w.identities
            .get_id(&pool.id, &logins(&[(GOOGLE, "g1")]))
            .await,
    );
}

#[tokio::test]
async fn get_id_accepts_a_provider_the_pool_added_after_it_was_cached() {
    let w = world();
    let mut settings = open_settings();
    settings.supported_login_providers.remove(AMAZON);
    let pool = w.pool(settings).await;
    w.google_user(&pool, "g1").await;
    w.pools
        .update(&account(), &pool.id, open_settings(), None, &NotRecorded)
        .await
        .unwrap();
    let reads = w.store.pool_reads();
    let id = w
        .identities
        .get_id(&pool.id, &logins(&[(AMAZON, "a1")]))
        .await
        .unwrap();
    assert!(w.identity(&id).await.authenticated);
    // The read that found the pool changed is the one decided on again.
    assert_eq!(w.store.pool_reads(), reads + 1);
}

#[tokio::test]
async fn a_refusal_decided_on_a_cached_pool_stands_when_the_pool_is_unchanged() {
    let w = world();
    let pool = w.open_pool().await;
    w.google_user(&pool, "g1").await;
    let reads = w.store.pool_reads();
    let message = not_authorized(
        w.identities
            .get_id(&pool.id, &logins(&[(GOOGLE, "invalid-token")]))
            .await,
    );
    assert_eq!(message, INVALID_LOGIN);
    assert_eq!(
        w.store.pool_reads(),
        reads + 1,
        "one read to check the pool"
    );
}

#[tokio::test]
async fn get_id_of_a_returning_user_answers_not_found_once_the_cached_pool_is_deleted() {
    let w = world();
    let pool = w.open_pool().await;
    w.google_user(&pool, "g1").await;
    w.pools
        .delete(&account(), &pool.id, &NotRecorded)
        .await
        .unwrap();
    not_found(
        w.identities
            .get_id(&pool.id, &logins(&[(GOOGLE, "g1")]))
            .await,
    );
}

#[tokio::test]
async fn a_returning_guest_token_is_refused_once_the_cached_pool_stops_taking_guests() {
    let w = world();
    let pool = w.open_pool().await;
    let guest = w.identities.get_id(&pool.id, &logins(&[])).await.unwrap();
    let (_, token) = w
        .identities
        .get_open_id_token(&guest, &logins(&[]))
        .await
        .unwrap();
    let with_token = logins(&[(crate::pool::COGNITO_IDENTITY_PROVIDER, token.as_str())]);
    assert_eq!(
        w.identities.get_id(&pool.id, &with_token).await.unwrap(),
        guest
    );
    let mut settings = open_settings();
    settings.allow_unauthenticated = false;
    w.pools
        .update(&account(), &pool.id, settings, None, &NotRecorded)
        .await
        .unwrap();
    let message = not_authorized(w.identities.get_id(&pool.id, &with_token).await);
    assert_eq!(
        message,
        "Unauthenticated access is not supported for this identity pool."
    );
}
