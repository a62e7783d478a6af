//! The developer-authenticated operations: GetOpenIdTokenForDeveloperIdentity,
//! LookupDeveloperIdentity, MergeDeveloperIdentities, UnlinkDeveloperIdentity.

use std::collections::BTreeMap;

use super::*;
use crate::ids::DeveloperUserIdentifier;
use crate::service::identities::{DeveloperTokenRequest, Lookup, DEFAULT_DEVELOPER_TOKEN_SECONDS};

/// A developer token request in `pool` with the logins `entries`.
fn request(pool: &IdentityPool, entries: &[(&str, &str)]) -> DeveloperTokenRequest {
    DeveloperTokenRequest {
        pool_id: pool.id.clone(),
        identity_id: None,
        logins: logins(entries),
        principal_tags: BTreeMap::new(),
        token_duration: None,
    }
}

/// A developer token request that names the identity `id` to link to.
fn request_for(
    pool: &IdentityPool,
    id: &IdentityId,
    entries: &[(&str, &str)],
) -> DeveloperTokenRequest {
    DeveloperTokenRequest {
        identity_id: Some(id.clone()),
        ..request(pool, entries)
    }
}

/// Alice's request, lasting `seconds` and tagged team=blue.
fn tagged_request(pool: &IdentityPool, seconds: i64) -> DeveloperTokenRequest {
    DeveloperTokenRequest {
        token_duration: Some(seconds),
        principal_tags: strings(&[("team", "blue")]),
        ..request(pool, &[(DEV, "alice")])
    }
}

/// The session tags of a token asked for by [`tagged_request`].
#[track_caller]
fn assert_tagged_team_blue(claims: OpenIdClaims) {
    assert_eq!(
        claims.tags.expect("session tags").principal_tags,
        BTreeMap::from([("team".to_owned(), vec!["blue".to_owned()])])
    );
}

fn user(name: &str) -> DeveloperUserIdentifier {
    DeveloperUserIdentifier::try_from(name).unwrap()
}

impl World {
    /// GetOpenIdTokenForDeveloperIdentity for the test account.
    async fn try_developer_token(&self, req: DeveloperTokenRequest) -> DomainResult<Issued> {
        self.identities
            .get_open_id_token_for_developer_identity(&account(), req)
            .await
    }

    /// The identity and token GetOpenIdTokenForDeveloperIdentity answers.
    async fn developer_token(&self, req: DeveloperTokenRequest) -> Issued {
        self.try_developer_token(req).await.unwrap()
    }

    /// The identity a developer call linking the logins `entries` to the
    /// identity `id` of `pool` answers.
    pub(super) async fn link(
        &self,
        pool: &IdentityPool,
        id: &IdentityId,
        entries: &[(&str, &str)],
    ) -> IdentityId {
        self.developer_token(request_for(pool, id, entries)).await.0
    }

    /// The identity of developer user `user` in `pool`.
    pub(super) async fn developer_user(&self, pool: &IdentityPool, user: &str) -> IdentityId {
        self.developer_token(request(pool, &[(DEV, user)])).await.0
    }

    /// MergeDeveloperIdentities of `source` into `destination` in `pool`
    /// under `provider`, for the test account.
    async fn merge(
        &self,
        pool: &IdentityPool,
        provider_name: &str,
        source: &str,
        destination: &str,
    ) -> DomainResult<IdentityId> {
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

    /// UnlinkDeveloperIdentity of developer user `name` from `id`.
    async fn unlink_developer(
        &self,
        pool: &IdentityPool,
        id: &IdentityId,
        name: &str,
    ) -> DomainResult<()> {
        self.identities
            .unlink_developer_identity(
                &account(),
                &pool.id,
                id,
                &provider(DEV),
                &user(name),
                &NotRecorded,
            )
            .await
    }

    /// LookupDeveloperIdentity in `account`'s `pool` of the identity `id`
    /// and/or the developer user `name`, the first page of the default size.
    async fn lookup(
        &self,
        account: &AccountId,
        pool: &IdentityPool,
        id: Option<&IdentityId>,
        name: Option<&str>,
    ) -> DomainResult<Lookup> {
        let name = name.map(user);
        self.identities
            .lookup_developer_identity(account, &pool.id, id, name.as_ref(), None, None)
            .await
    }
}

#[tokio::test]
async fn a_developer_user_gets_the_same_identity_every_time() {
    let (w, pool) = open_world().await;
    let (id, token) = w.developer_token(request(&pool, &[(DEV, "alice")])).await;
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
    let (w, pool) = open_world().await;
    let (id, token) = w.developer_token(tagged_request(&pool, 3600)).await;
    let c = claims(&token);
    assert_eq!(c.exp - c.iat, 3600);
    assert_tagged_team_blue(c);
    let (_, carried) = w.token(&id, &[(COGNITO, &token)]).await;
    assert!(
        claims(&carried).tags.is_some(),
        "tags carry over into the next token"
    );
}

#[tokio::test]
async fn a_returning_developer_users_token_is_signed_without_a_transaction() {
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    // Link a public login too: it is in the amr of every later token.
    w.link(&pool, &id, &[(DEV, "alice"), (GOOGLE, "g-alice")])
        .await;
    w.store.clear_journal();
    let statements = w.store.snapshot_statements();
    let (again, token) = w.developer_token(tagged_request(&pool, 600)).await;
    assert_eq!(again, id);
    assert_eq!(w.store.journal(), [], "no transaction, no lock");
    assert_eq!(
        w.store.snapshot_statements() - statements,
        1,
        "the owners, the identity and its providers come from one statement"
    );
    let c = claims(&token);
    assert_eq!(c.sub, id.as_str());
    assert_eq!(c.amr, ["authenticated", GOOGLE, DEV]);
    assert_eq!(c.exp - c.iat, 600);
    assert_tagged_team_blue(c);
}

#[tokio::test]
async fn a_developer_user_whose_identity_was_deleted_gets_a_new_one() {
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    w.delete_identity(&id).await;
    let again = w.developer_user(&pool, "alice").await;
    assert_ne!(again, id, "no token for the deleted identity");
}

#[tokio::test]
async fn a_developer_user_named_with_another_identity_is_decided_in_a_transaction() {
    let (w, pool) = open_world().await;
    w.developer_user(&pool, "alice").await;
    let other = w.developer_user(&pool, "bob").await;
    w.store.clear_journal();
    let refused = w
        .try_developer_token(request_for(&pool, &other, &[(DEV, "alice")]))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        !w.store.journal().is_empty(),
        "the refusal is worded by the transaction"
    );
}

#[tokio::test]
async fn a_token_duration_outside_one_second_to_a_day_is_refused() {
    let (w, pool) = open_world().await;
    for duration in [0, 86_401] {
        let mut req = request(&pool, &[(DEV, "alice")]);
        req.token_duration = Some(duration);
        let message = invalid(w.try_developer_token(req).await);
        assert_eq!(
            message,
            "TokenDuration must be between 1 and 86400 seconds."
        );
    }
    assert_eq!(w.store.identity_count().await, 0);
}

#[tokio::test]
async fn more_than_fifty_principal_tags_are_refused() {
    let (w, pool) = open_world().await;
    let mut req = request(&pool, &[(DEV, "alice")]);
    req.principal_tags = (0..51).map(|i| (format!("t{i}"), "v".to_owned())).collect();
    invalid(w.try_developer_token(req).await);
}

#[tokio::test]
async fn developer_calls_on_another_accounts_pool_are_not_found() {
    let (w, pool) = open_world().await;
    not_found(
        w.identities
            .get_open_id_token_for_developer_identity(
                &other_account(),
                request(&pool, &[(DEV, "alice")]),
            )
            .await,
    );
    not_found(w.lookup(&other_account(), &pool, None, Some("alice")).await);
}

/// The message of the refusal of developer logins `entries` in a pool with
/// `settings`.
async fn developer_call_refusal(settings: PoolSettings, entries: &[(&str, &str)]) -> String {
    let w = world();
    let pool = w.pool(settings).await;
    invalid(w.try_developer_token(request(&pool, entries)).await)
}

#[tokio::test]
async fn a_pool_without_a_developer_provider_refuses_developer_calls() {
    let settings = open_settings_where(|s| s.developer_provider_name = None);
    let message = developer_call_refusal(settings, &[(DEV, "alice")]).await;
    assert_mentions(&message, "has no DeveloperProviderName");
}

#[tokio::test]
async fn logins_without_the_developer_provider_are_refused() {
    let message = developer_call_refusal(open_settings(), &[(GOOGLE, "g1")]).await;
    assert_mentions(
        &message,
        "must contain the identity pool's developer provider",
    );
}

#[tokio::test]
async fn a_developer_user_can_be_linked_to_a_named_identity() {
    let (w, pool) = open_world().await;
    let (guest, _) = w.guest(&pool).await;
    let id = w.link(&pool, &guest, &[(DEV, "alice")]).await;
    assert_eq!(id, guest);
    assert!(w.identity(&guest).await.authenticated);
    assert_eq!(w.developer_user(&pool, "alice").await, guest);
}

#[tokio::test]
async fn a_developer_user_linked_elsewhere_cannot_be_linked_to_another_identity() {
    let (w, pool) = open_world().await;
    w.developer_user(&pool, "alice").await;
    let bob = w.developer_user(&pool, "bob").await;
    let refused = w
        .try_developer_token(request_for(&pool, &bob, &[(DEV, "alice")]))
        .await;
    assert!(
        matches!(refused, Err(DomainError::DeveloperUserAlreadyRegistered(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_developer_call_with_a_public_login_links_it_to_the_developer_users_identity() {
    let (w, pool) = open_world().await;
    let alice = w.developer_user(&pool, "alice").await;
    let (id, _) = w
        .developer_token(request(&pool, &[(DEV, "alice"), (GOOGLE, "g1")]))
        .await;
    assert_eq!(id, alice);
    assert_eq!(w.google_user(&pool, "g1").await, alice);
}

#[tokio::test]
async fn lookup_by_user_finds_its_identity_and_by_identity_pages_its_users() {
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    for user in ["bob", "carol"] {
        w.link(&pool, &id, &[(DEV, user)]).await;
    }
    let by_user = w
        .lookup(&account(), &pool, None, Some("bob"))
        .await
        .unwrap();
    assert_eq!(by_user.identity_id, id);
    assert_eq!(by_user.developer_user_identifiers, ["bob"]);
    let me = account();
    let page_of_two = |next| {
        w.identities
            .lookup_developer_identity(&me, &pool.id, Some(&id), None, Some(2), next)
    };
    let first = page_of_two(None).await.unwrap();
    assert_eq!(first.developer_user_identifiers, ["alice", "bob"]);
    let rest = page_of_two(first.next_token.as_deref()).await.unwrap();
    assert_eq!(rest.developer_user_identifiers, ["carol"]);
    assert!(rest.next_token.is_none());
}

#[tokio::test]
async fn lookup_of_an_unknown_user_is_not_found_and_of_a_user_of_another_identity_a_conflict() {
    let (w, pool) = open_world().await;
    w.developer_user(&pool, "alice").await;
    let bob = w.developer_user(&pool, "bob").await;
    let message = not_found(w.lookup(&account(), &pool, None, Some("nobody")).await);
    assert_eq!(message, "DeveloperUserIdentifier 'nobody' not found.");
    conflict(w.lookup(&account(), &pool, Some(&bob), Some("alice")).await);
}

#[tokio::test]
async fn lookup_needs_an_identity_or_a_user() {
    let (w, pool) = open_world().await;
    let message = invalid(w.lookup(&account(), &pool, None, None).await);
    assert_eq!(
        message,
        "Either IdentityId or DeveloperUserIdentifier must not be null."
    );
}

#[tokio::test]
async fn merging_moves_the_source_logins_and_disables_the_source_under_both_locks() {
    let (w, pool) = open_world().await;
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
        [updating(first), updating(second)],
        "both identities, exclusively, in id order"
    );
}

#[tokio::test]
async fn merging_a_user_into_its_own_identity_changes_nothing() {
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    w.link(&pool, &id, &[(DEV, "bob")]).await;
    let before = w.identity(&id).await;
    let merged = w.merge(&pool, DEV, "alice", "bob").await.unwrap();
    assert_eq!(merged, id);
    assert_eq!(w.identity(&id).await, before);
}

#[tokio::test]
async fn merging_identities_with_different_users_of_one_public_provider_changes_nothing() {
    let (w, pool) = open_world().await;
    let (source, _) = w
        .developer_token(request(&pool, &[(DEV, "alice"), (GOOGLE, "g1")]))
        .await;
    w.developer_token(request(&pool, &[(DEV, "bob"), (GOOGLE, "g2")]))
        .await;
    let message = conflict(w.merge(&pool, DEV, "alice", "bob").await);
    assert_mentions(&message, GOOGLE);
    assert!(!w.identity(&source).await.disabled);
    assert_eq!(w.providers(&source).await, [GOOGLE, DEV]);
}

#[tokio::test]
async fn merging_with_another_provider_name_or_an_unknown_user_is_refused() {
    let (w, pool) = open_world().await;
    w.developer_user(&pool, "alice").await;
    w.developer_user(&pool, "bob").await;
    invalid(w.merge(&pool, "other.example", "alice", "bob").await);
    let message = not_found(w.merge(&pool, DEV, "nobody", "bob").await);
    assert_eq!(message, "DeveloperUserIdentifier 'nobody' not found.");
}

#[tokio::test]
async fn unlinking_a_developer_user_that_is_not_linked_there_is_a_conflict() {
    let (w, pool) = open_world().await;
    let alice = w.developer_user(&pool, "alice").await;
    w.developer_user(&pool, "bob").await;
    let message = conflict(w.unlink_developer(&pool, &alice, "bob").await);
    assert_eq!(
        message,
        format!("DeveloperUserIdentifier 'bob' is not linked to identity '{alice}'.")
    );
}

#[tokio::test]
async fn unlinking_the_last_developer_user_disables_the_identity_and_the_user_starts_over() {
    let (w, pool) = open_world().await;
    let alice = w.developer_user(&pool, "alice").await;
    w.unlink_developer(&pool, &alice, "alice").await.unwrap();
    assert!(w.identity(&alice).await.disabled);
    let again = w.developer_user(&pool, "alice").await;
    assert_ne!(again, alice);
}
