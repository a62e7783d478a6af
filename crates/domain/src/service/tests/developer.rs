//! The developer-authenticated operations: GetOpenIdTokenForDeveloperIdentity,
//! LookupDeveloperIdentity, MergeDeveloperIdentities, UnlinkDeveloperIdentity.

use std::collections::BTreeMap;

use super::*;
use crate::identity::RowLock;
use crate::ids::{DeveloperUserIdentifier, ProviderName};
use crate::service::identities::{DeveloperTokenRequest, DEFAULT_DEVELOPER_TOKEN_SECONDS};

fn request(pool: &IdentityPool, entries: &[(&str, &str)]) -> DeveloperTokenRequest {
    DeveloperTokenRequest {
        pool_id: pool.id.clone(),
        identity_id: None,
        logins: logins(entries),
        principal_tags: BTreeMap::new(),
        token_duration: None,
    }
}

fn user(name: &str) -> DeveloperUserIdentifier {
    DeveloperUserIdentifier::try_from(name).unwrap()
}

fn provider(name: &str) -> ProviderName {
    ProviderName::try_from(name).unwrap()
}

impl World {
    /// MergeDeveloperIdentities of `source` into `destination` in `pool`
    /// under `provider`, for the test account.
    async fn merge(
        &self,
        pool: &IdentityPool,
        provider_name: &str,
        source: &str,
        destination: &str,
    ) -> Result<IdentityId, DomainError> {
        self.identities
            .merge_developer_identities(
                &account(),
                &pool.id,
                &provider(provider_name),
                &user(source),
                &user(destination),
                &NotRecorded,
            )
            .await
    }

    /// The identity of developer user `user` in `pool`.
    pub(super) async fn developer_user(&self, pool: &IdentityPool, user: &str) -> IdentityId {
        self.identities
            .get_open_id_token_for_developer_identity(&account(), request(pool, &[(DEV, user)]))
            .await
            .unwrap()
            .0
    }
}

#[tokio::test]
async fn a_developer_user_gets_the_same_identity_every_time() {
    let w = world();
    let pool = w.open_pool().await;
    let (id, token) = w
        .identities
        .get_open_id_token_for_developer_identity(&account(), request(&pool, &[(DEV, "alice")]))
        .await
        .unwrap();
    assert_eq!(w.developer_user(&pool, "alice").await, id);
    assert_ne!(w.developer_user(&pool, "bob").await, id);
    let c = claims(&token);
    assert_eq!(c.amr, ["authenticated", DEV]);
    assert_eq!(c.exp - c.iat, DEFAULT_DEVELOPER_TOKEN_SECONDS);
    let stored = w.store.logins(&id).await;
    assert_eq!(
        stored[0].subject, "alice",
        "developer ids are stored as given"
    );
    assert!(stored[0].developer);
}

#[tokio::test]
async fn a_developer_token_lasts_its_token_duration_and_carries_the_principal_tags() {
    let w = world();
    let pool = w.open_pool().await;
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.token_duration = Some(3600);
    req.principal_tags = BTreeMap::from([("team".into(), "blue".into())]);
    let (id, token) = w
        .identities
        .get_open_id_token_for_developer_identity(&account(), req)
        .await
        .unwrap();
    let c = claims(&token);
    assert_eq!(c.exp - c.iat, 3600);
    assert_eq!(
        c.tags.expect("session tags").principal_tags,
        BTreeMap::from([("team".to_owned(), vec!["blue".to_owned()])])
    );
    let (_, carried) = w
        .identities
        .get_open_id_token(&id, &logins(&[(COGNITO, &token)]))
        .await
        .unwrap();
    assert!(
        claims(&carried).tags.is_some(),
        "tags carry over into the next token"
    );
}

#[tokio::test]
async fn a_returning_developer_users_token_is_signed_without_a_transaction() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    // Link a public login too: it is in the amr of every later token.
    let mut first = request(&pool, &[(DEV, "alice"), (GOOGLE, "g-alice")]);
    first.identity_id = Some(id.clone());
    w.identities
        .get_open_id_token_for_developer_identity(&account(), first)
        .await
        .unwrap();
    w.store.clear_journal();
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.token_duration = Some(600);
    req.principal_tags = BTreeMap::from([("team".into(), "blue".into())]);
    let (again, token) = w
        .identities
        .get_open_id_token_for_developer_identity(&account(), req)
        .await
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(w.store.journal(), [], "no transaction, no lock");
    let c = claims(&token);
    assert_eq!(c.sub, id.as_str());
    assert_eq!(c.amr, ["authenticated", GOOGLE, DEV]);
    assert_eq!(c.exp - c.iat, 600);
    assert_eq!(
        c.tags.expect("session tags").principal_tags,
        BTreeMap::from([("team".to_owned(), vec!["blue".to_owned()])])
    );
}

#[tokio::test]
async fn a_developer_user_whose_identity_was_deleted_gets_a_new_one() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    w.identities
        .delete_identities(&account(), std::slice::from_ref(&id), &NotRecorded)
        .await
        .unwrap();
    let again = w.developer_user(&pool, "alice").await;
    assert_ne!(again, id, "no token for the deleted identity");
}

#[tokio::test]
async fn a_developer_user_named_with_another_identity_is_decided_in_a_transaction() {
    let w = world();
    let pool = w.open_pool().await;
    w.developer_user(&pool, "alice").await;
    let other = w.developer_user(&pool, "bob").await;
    w.store.clear_journal();
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.identity_id = Some(other);
    let refused = w
        .identities
        .get_open_id_token_for_developer_identity(&account(), req)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        !w.store.journal().is_empty(),
        "the refusal is worded by the transaction"
    );
}

#[tokio::test]
async fn a_token_duration_outside_one_second_to_a_day_is_refused() {
    let w = world();
    let pool = w.open_pool().await;
    for duration in [0, 86_401] {
        let mut req = request(&pool, &[(DEV, "alice")]);
        req.token_duration = Some(duration);
        let message = invalid(
            w.identities
                .get_open_id_token_for_developer_identity(&account(), req)
                .await,
        );
        assert_eq!(
            message,
            "TokenDuration must be between 1 and 86400 seconds."
        );
    }
    assert_eq!(w.store.identity_count().await, 0);
}

#[tokio::test]
async fn more_than_fifty_principal_tags_are_refused() {
    let w = world();
    let pool = w.open_pool().await;
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.principal_tags = (0..51).map(|i| (format!("t{i}"), "v".to_owned())).collect();
    invalid(
        w.identities
            .get_open_id_token_for_developer_identity(&account(), req)
            .await,
    );
}

#[tokio::test]
async fn developer_calls_on_another_accounts_pool_are_not_found() {
    let w = world();
    let pool = w.open_pool().await;
    not_found(
        w.identities
            .get_open_id_token_for_developer_identity(
                &other_account(),
                request(&pool, &[(DEV, "alice")]),
            )
            .await,
    );
    not_found(
        w.identities
            .lookup_developer_identity(
                &other_account(),
                &pool.id,
                None,
                Some(&user("alice")),
                None,
                None,
            )
            .await,
    );
}

#[tokio::test]
async fn a_pool_without_a_developer_provider_refuses_developer_calls() {
    let w = world();
    let mut settings = open_settings();
    settings.developer_provider_name = None;
    let pool = w.pool(settings).await;
    let message = invalid(
        w.identities
            .get_open_id_token_for_developer_identity(&account(), request(&pool, &[(DEV, "alice")]))
            .await,
    );
    assert!(
        message.contains("has no DeveloperProviderName"),
        "{message}"
    );
}

#[tokio::test]
async fn logins_without_the_developer_provider_are_refused() {
    let w = world();
    let pool = w.open_pool().await;
    let message = invalid(
        w.identities
            .get_open_id_token_for_developer_identity(&account(), request(&pool, &[(GOOGLE, "g1")]))
            .await,
    );
    assert!(
        message.contains("must contain the identity pool's developer provider"),
        "{message}"
    );
}

#[tokio::test]
async fn a_developer_user_can_be_linked_to_a_named_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let (guest, _) = w.guest(&pool).await;
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.identity_id = Some(guest.clone());
    let (id, _) = w
        .identities
        .get_open_id_token_for_developer_identity(&account(), req)
        .await
        .unwrap();
    assert_eq!(id, guest);
    assert!(w.identity(&guest).await.authenticated);
    assert_eq!(w.developer_user(&pool, "alice").await, guest);
}

#[tokio::test]
async fn a_developer_user_linked_elsewhere_cannot_be_linked_to_another_identity() {
    let w = world();
    let pool = w.open_pool().await;
    w.developer_user(&pool, "alice").await;
    let bob = w.developer_user(&pool, "bob").await;
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.identity_id = Some(bob);
    let refused = w
        .identities
        .get_open_id_token_for_developer_identity(&account(), req)
        .await;
    assert!(
        matches!(refused, Err(DomainError::DeveloperUserAlreadyRegistered(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_developer_call_with_a_public_login_links_it_to_the_developer_users_identity() {
    let w = world();
    let pool = w.open_pool().await;
    let alice = w.developer_user(&pool, "alice").await;
    let (id, _) = w
        .identities
        .get_open_id_token_for_developer_identity(
            &account(),
            request(&pool, &[(DEV, "alice"), (GOOGLE, "g1")]),
        )
        .await
        .unwrap();
    assert_eq!(id, alice);
    assert_eq!(w.google_user(&pool, "g1").await, alice);
}

#[tokio::test]
async fn lookup_by_user_finds_its_identity_and_by_identity_pages_its_users() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    for user in ["bob", "carol"] {
        let mut req = request(&pool, &[(DEV, user)]);
        req.identity_id = Some(id.clone());
        w.identities
            .get_open_id_token_for_developer_identity(&account(), req)
            .await
            .unwrap();
    }
    let by_user = w
        .identities
        .lookup_developer_identity(&account(), &pool.id, None, Some(&user("bob")), None, None)
        .await
        .unwrap();
    assert_eq!(by_user.identity_id, id);
    assert_eq!(by_user.developer_user_identifiers, ["bob"]);
    let first = w
        .identities
        .lookup_developer_identity(&account(), &pool.id, Some(&id), None, Some(2), None)
        .await
        .unwrap();
    assert_eq!(first.developer_user_identifiers, ["alice", "bob"]);
    let rest = w
        .identities
        .lookup_developer_identity(
            &account(),
            &pool.id,
            Some(&id),
            None,
            Some(2),
            first.next_token.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(rest.developer_user_identifiers, ["carol"]);
    assert!(rest.next_token.is_none());
}

#[tokio::test]
async fn lookup_of_an_unknown_user_is_not_found_and_of_a_user_of_another_identity_a_conflict() {
    let w = world();
    let pool = w.open_pool().await;
    w.developer_user(&pool, "alice").await;
    let bob = w.developer_user(&pool, "bob").await;
    let message = not_found(
        w.identities
            .lookup_developer_identity(
                &account(),
                &pool.id,
                None,
                Some(&user("nobody")),
                None,
                None,
            )
            .await,
    );
    assert_eq!(message, "DeveloperUserIdentifier 'nobody' not found.");
    conflict(
        w.identities
            .lookup_developer_identity(
                &account(),
                &pool.id,
                Some(&bob),
                Some(&user("alice")),
                None,
                None,
            )
            .await,
    );
}

#[tokio::test]
async fn lookup_needs_an_identity_or_a_user() {
    let w = world();
    let pool = w.open_pool().await;
    let message = invalid(
        w.identities
            .lookup_developer_identity(&account(), &pool.id, None, None, None, None)
            .await,
    );
    assert_eq!(
        message,
        "Either IdentityId or DeveloperUserIdentifier must not be null."
    );
}

#[tokio::test]
async fn merging_moves_the_source_logins_and_disables_the_source_under_both_locks() {
    let w = world();
    let pool = w.open_pool().await;
    let source = w.developer_user(&pool, "alice").await;
    let dest = w.developer_user(&pool, "bob").await;
    w.store.clear_journal();
    let merged = w.merge(&pool, DEV, "alice", "bob").await.unwrap();
    assert_eq!(merged, dest);
    assert!(w.identity(&source).await.disabled);
    assert_eq!(w.developer_user(&pool, "alice").await, dest);
    let locks: Vec<Lock> = w
        .store
        .journal()
        .into_iter()
        .find(|r| r.committed)
        .unwrap()
        .locks;
    let (first, second) = if source < dest {
        (&source, &dest)
    } else {
        (&dest, &source)
    };
    assert_eq!(
        locks,
        [
            Lock::Identity(first.clone(), RowLock::Update),
            Lock::Identity(second.clone(), RowLock::Update)
        ],
        "both identities, exclusively, in id order"
    );
}

#[tokio::test]
async fn merging_a_user_into_its_own_identity_changes_nothing() {
    let w = world();
    let pool = w.open_pool().await;
    let id = w.developer_user(&pool, "alice").await;
    let mut req = request(&pool, &[(DEV, "bob")]);
    req.identity_id = Some(id.clone());
    w.identities
        .get_open_id_token_for_developer_identity(&account(), req)
        .await
        .unwrap();
    let before = w.identity(&id).await;
    let merged = w.merge(&pool, DEV, "alice", "bob").await.unwrap();
    assert_eq!(merged, id);
    assert_eq!(w.identity(&id).await, before);
}

#[tokio::test]
async fn merging_identities_with_different_users_of_one_public_provider_changes_nothing() {
    let w = world();
    let pool = w.open_pool().await;
    let source = w
        .identities
        .get_open_id_token_for_developer_identity(
            &account(),
            request(&pool, &[(DEV, "alice"), (GOOGLE, "g1")]),
        )
        .await
        .unwrap()
        .0;
    w.identities
        .get_open_id_token_for_developer_identity(
            &account(),
            request(&pool, &[(DEV, "bob"), (GOOGLE, "g2")]),
        )
        .await
        .unwrap();
    let message = conflict(w.merge(&pool, DEV, "alice", "bob").await);
    assert!(message.contains(GOOGLE), "{message}");
    assert!(!w.identity(&source).await.disabled);
    assert_eq!(w.providers(&source).await, [GOOGLE, DEV]);
}

#[tokio::test]
async fn merging_with_another_provider_name_or_an_unknown_user_is_refused() {
    let w = world();
    let pool = w.open_pool().await;
    w.developer_user(&pool, "alice").await;
    w.developer_user(&pool, "bob").await;
    invalid(w.merge(&pool, "other.example", "alice", "bob").await);
    let message = not_found(w.merge(&pool, DEV, "nobody", "bob").await);
    assert_eq!(message, "DeveloperUserIdentifier 'nobody' not found.");
}

#[tokio::test]
async fn unlinking_a_developer_user_that_is_not_linked_there_is_a_conflict() {
    let w = world();
    let pool = w.open_pool().await;
    let alice = w.developer_user(&pool, "alice").await;
    w.developer_user(&pool, "bob").await;
    let message = conflict(
        w.identities
            .unlink_developer_identity(
                &account(),
                &pool.id,
                &alice,
                &provider(DEV),
                &user("bob"),
                &NotRecorded,
            )
            .await,
    );
    assert_eq!(
        message,
        format!("DeveloperUserIdentifier 'bob' is not linked to identity '{alice}'.")
    );
}

#[tokio::test]
async fn unlinking_the_last_developer_user_disables_the_identity_and_the_user_starts_over() {
    let w = world();
    let pool = w.open_pool().await;
    let alice = w.developer_user(&pool, "alice").await;
    w.identities
        .unlink_developer_identity(
            &account(),
            &pool.id,
            &alice,
            &provider(DEV),
            &user("alice"),
            &NotRecorded,
        )
        .await
        .unwrap();
    assert!(w.identity(&alice).await.disabled);
    let again = w.developer_user(&pool, "alice").await;
    assert_ne!(again, alice);
}
