//! GetId: guests, returning users, new users, and the merge of the
//! identities a request's logins span.

use super::*;
use crate::test_support::fakes::{VisibleHasher, INVALID_LOGIN};

#[tokio::test]
async fn get_id_without_logins_makes_a_new_guest_identity_every_time() {
    let (w, pool) = open_world().await;
    let first = w.get_id(&pool, &[]).await;
    let second = w.get_id(&pool, &[]).await;
    assert_ne!(first, second);
    assert!(first.starts_with("us-east-1:"), "{first}");
    let identity = w.identity(&first).await;
    assert!(!identity.authenticated && !identity.disabled);
    assert_eq!(identity.pool_id, pool.id);
}

#[tokio::test]
async fn get_id_without_logins_is_refused_when_the_pool_takes_no_guests() {
    let w = world();
    let pool = w.pool(settings_without_guests()).await;
    let message = not_authorized(w.try_get_id(&pool, &[]).await);
    assert_eq!(message, NO_GUESTS);
    assert_eq!(w.store.identity_count().await, 0);
}

#[tokio::test]
async fn get_id_in_an_unknown_pool_is_not_found() {
    let w = world();
    let unknown = IdentityPoolId::try_from(UNKNOWN_ID).unwrap();
    let message = not_found(w.identities.get_id(&unknown, &logins(&[])).await);
    assert_eq!(message, format!("IdentityPool '{UNKNOWN_ID}' not found."));
}

#[tokio::test]
async fn get_id_returns_the_same_identity_for_the_same_login() {
    let (w, pool, first) = with_google_user().await;
    let again = w.google_user(&pool, "g1").await;
    let someone_else = w.google_user(&pool, "g2").await;
    assert_eq!(first, again);
    assert_ne!(first, someone_else);
    assert!(w.identity(&first).await.authenticated);
}

#[tokio::test]
async fn an_upstream_subject_is_stored_only_as_its_hash() {
    let (w, _, id) = with_google_user().await;
    let stored = w.store.logins(&id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject, VisibleHasher::stored(GOOGLE, "g1"));
    assert!(!stored[0].developer);
}

#[tokio::test]
async fn a_returning_user_is_answered_from_one_snapshot_read_and_nothing_is_written() {
    let (w, pool, id) = with_google_user().await;
    let before = w.identity(&id).await;
    w.clock.advance(chrono::Duration::seconds(60));
    w.store.clear_journal();
    assert_eq!(w.google_user(&pool, "g1").await, id);
    assert_eq!(w.store.journal(), []);
    assert_eq!(w.identity(&id).await, before);
}

#[tokio::test]
async fn a_guest_identity_is_one_insert_with_no_transaction() {
    let (w, pool) = open_world().await;
    w.store.clear_journal();
    let id = w.get_id(&pool, &[]).await;
    assert_eq!(w.store.journal(), []);
    assert!(!w.identity(&id).await.authenticated);
}

/// The message GetId answers the logins `entries` in an open pool with,
/// and whether no identity was made.
async fn get_id_refusal(entries: &[(&str, &str)]) -> (String, bool) {
    let (w, pool) = open_world().await;
    let message = not_authorized(w.try_get_id(&pool, entries).await);
    (message, w.store.identity_count().await == 0)
}

#[tokio::test]
async fn get_id_with_a_refused_login_creates_nothing() {
    let (message, created_nothing) = get_id_refusal(&[(GOOGLE, "invalid-token")]).await;
    assert_eq!(message, INVALID_LOGIN);
    assert!(created_nothing);
}

#[tokio::test]
async fn get_id_with_a_provider_the_pool_does_not_name_is_refused() {
    get_id_refusal(&[("graph.facebook.com", "f1")]).await;
}

#[tokio::test]
async fn a_public_caller_cannot_present_the_developer_provider() {
    let (message, created_nothing) = get_id_refusal(&[(DEV, "alice")]).await;
    assert_eq!(
        message,
        "Token is not from a supported provider of this identity pool."
    );
    assert!(created_nothing);
}

#[tokio::test]
async fn new_logins_together_make_one_new_identity_holding_them_all() {
    let (w, pool) = open_world().await;
    let id = w.google_and_amazon_user(&pool).await;
    assert_eq!(w.providers(&id).await, [GOOGLE, AMAZON]);
    assert_eq!(w.google_user(&pool, "g1").await, id);
}

#[tokio::test]
async fn a_new_login_presented_with_a_known_one_links_to_its_identity() {
    let (w, pool, id) = with_google_user().await;
    let same = w.google_and_amazon_user(&pool).await;
    assert_eq!(same, id);
    assert_eq!(w.providers(&id).await, [GOOGLE, AMAZON]);
    assert_eq!(w.get_id(&pool, &[(AMAZON, "a1")]).await, id);
}

#[tokio::test]
async fn logins_of_two_identities_merge_them_into_the_older_one() {
    let (w, pool, older) = with_google_user().await;
    w.clock.advance(chrono::Duration::seconds(60));
    let newer = w.get_id(&pool, &[(AMAZON, "a1")]).await;
    w.store.clear_journal();
    let merged = w.google_and_amazon_user(&pool).await;
    assert_eq!(merged, older);
    assert!(w.identity(&newer).await.disabled);
    assert!(w.store.logins(&newer).await.is_empty());
    assert_eq!(w.providers(&older).await, [GOOGLE, AMAZON]);
    assert!(w.last_commit_updated(&older));
    assert!(w.last_commit_updated(&newer));
}

#[tokio::test]
async fn two_different_users_of_one_provider_cannot_share_an_identity() {
    let (w, pool) = open_world().await;
    let id = w.google_and_amazon_user(&pool).await;
    let other = w.get_id(&pool, &[(AMAZON, "a2")]).await;
    let message = conflict(w.try_get_id(&pool, &[(GOOGLE, "g1"), (AMAZON, "a2")]).await);
    assert_mentions(&message, AMAZON);
    assert!(!w.identity(&other).await.disabled, "nothing was merged");
    assert_eq!(w.providers(&id).await, [GOOGLE, AMAZON]);
}

#[tokio::test]
async fn concurrent_first_logins_of_one_user_agree_on_one_identity() {
    let (w, pool) = open_world().await;
    let (a, b) = tokio::join!(w.google_user(&pool, "g1"), w.google_user(&pool, "g1"));
    assert_eq!(a, b);
    assert_eq!(w.store.identity_count().await, 1);
}

#[tokio::test]
async fn a_returning_users_get_id_reads_the_pool_once_and_then_only_the_logins_owners() {
    let (w, pool, id) = with_google_user().await;
    let reads = w.store.pool_reads();
    for _ in 0..3 {
        assert_eq!(w.google_user(&pool, "g1").await, id);
    }
    assert_eq!(w.store.pool_reads(), reads);
}

#[tokio::test]
async fn get_id_refuses_a_provider_the_pool_dropped_after_it_was_cached() {
    let (w, pool, _) = with_google_user().await;
    let settings = open_settings_where(|s| {
        s.supported_login_providers.remove(GOOGLE);
    });
    w.update_pool(&pool, settings).await.unwrap();
    not_authorized(w.try_get_id(&pool, &[(GOOGLE, "g1")]).await);
}

#[tokio::test]
async fn get_id_accepts_a_provider_the_pool_added_after_it_was_cached() {
    let w = world();
    let settings = open_settings_where(|s| {
        s.supported_login_providers.remove(AMAZON);
    });
    let pool = w.pool(settings).await;
    w.google_user(&pool, "g1").await;
    w.update_pool(&pool, open_settings()).await.unwrap();
    let reads = w.store.pool_reads();
    let id = w.get_id(&pool, &[(AMAZON, "a1")]).await;
    assert!(w.identity(&id).await.authenticated);
    // The read that found the pool changed is the one decided on again.
    assert_eq!(w.store.pool_reads(), reads + 1);
}

#[tokio::test]
async fn a_refusal_decided_on_a_cached_pool_stands_when_the_pool_is_unchanged() {
    let (w, pool, _) = with_google_user().await;
    let reads = w.store.pool_reads();
    let message = not_authorized(w.try_get_id(&pool, &[(GOOGLE, "invalid-token")]).await);
    assert_eq!(message, INVALID_LOGIN);
    assert_eq!(
        w.store.pool_reads(),
        reads + 1,
        "one read to check the pool"
    );
}

#[tokio::test]
async fn get_id_of_a_returning_user_answers_not_found_once_the_cached_pool_is_deleted() {
    let (w, pool, _) = with_google_user().await;
    w.pools
        .delete(&account(), &pool.id, &NotRecorded)
        .await
        .unwrap();
    not_found(w.try_get_id(&pool, &[(GOOGLE, "g1")]).await);
}

#[tokio::test]
async fn a_returning_guest_token_is_refused_once_the_cached_pool_stops_taking_guests() {
    let (w, pool) = open_world().await;
    let (guest, token) = w.guest(&pool).await;
    let with_token = [(COGNITO, token.as_str())];
    assert_eq!(w.get_id(&pool, &with_token).await, guest);
    w.update_pool(&pool, settings_without_guests())
        .await
        .unwrap();
    let message = not_authorized(w.try_get_id(&pool, &with_token).await);
    assert_eq!(message, NO_GUESTS);
}
