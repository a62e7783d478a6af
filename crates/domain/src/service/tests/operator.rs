//! What the operator console asks beyond the API: counts, finding an
//! identity by a login, its logins, unlinking a provider's logins.

use super::*;
use crate::service::identities::LinkedLogin;

impl World {
    /// An operator's unlinking of `provider`'s logins from `id`, in `account`.
    async fn unlink_provider(
        &self,
        account: &AccountId,
        id: &IdentityId,
        name: &str,
    ) -> DomainResult<Vec<String>> {
        let removed = self
            .identities
            .unlink_provider(account, id, &provider(name), &NotRecorded)
            .await?;
        Ok(removed.into_iter().map(String::from).collect())
    }
}

#[tokio::test]
async fn counting_a_pools_identities_stops_at_the_cap() {
    let (w, pool) = open_world().await;
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
    let (w, pool) = open_world().await;
    let user = w.google_user(&pool, "g1").await;
    let me = account();
    let (w, pool, me) = (&w, &pool, &me);
    let find = |name: &'static str, subject: &'static str| async move {
        let name = provider(name);
        w.identities
            .find_by_login(me, &pool.id, &name, subject)
            .await
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
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    let (mine, theirs) = (account(), other_account());
    let dev = provider(DEV);
    let find = |account| w.identities.find_by_login(account, &pool.id, &dev, "alice");
    assert_eq!(find(&mine).await.unwrap(), Some(id));
    not_found(find(&theirs).await);
}

#[tokio::test]
async fn an_identitys_logins_show_developer_ids_and_never_upstream_subjects() {
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    w.google_user(&pool, "g1").await;
    // Link Amazon to the developer identity too.
    let linked_to = w.link(&pool, &id, &[(DEV, "alice"), (AMAZON, "a1")]).await;
    assert_eq!(linked_to, id);
    let linked = w.identities.linked_logins(&account(), &id).await.unwrap();
    assert_eq!(
        linked,
        [
            LinkedLogin {
                provider: provider(DEV),
                developer_user_id: Some("alice".into()),
            },
            LinkedLogin {
                provider: provider(AMAZON),
                developer_user_id: None,
            },
        ]
    );
    not_found(w.identities.linked_logins(&other_account(), &id).await);
}

#[tokio::test]
async fn an_operator_unlinks_a_provider_and_the_last_unlink_disables_the_identity() {
    let (w, pool) = open_world().await;
    let id = w.google_and_amazon_user(&pool).await;
    let removed = w.unlink_provider(&account(), &id, GOOGLE).await.unwrap();
    assert_eq!(removed, [GOOGLE]);
    assert_eq!(w.providers(&id).await, [AMAZON]);
    assert!(!w.identity(&id).await.disabled);
    // Nothing of that provider left: refused, nothing changed.
    invalid(w.unlink_provider(&account(), &id, GOOGLE).await);
    w.unlink_provider(&account(), &id, AMAZON).await.unwrap();
    assert!(w.identity(&id).await.disabled);
}

#[tokio::test]
async fn an_operator_never_unlinks_developer_logins_or_another_accounts_identity() {
    let (w, pool) = open_world().await;
    let id = w.developer_user(&pool, "alice").await;
    invalid(w.unlink_provider(&account(), &id, DEV).await);
    assert_eq!(w.providers(&id).await, [DEV]);
    let user = w.google_user(&pool, "g1").await;
    not_found(w.unlink_provider(&other_account(), &user, GOOGLE).await);
    assert_eq!(w.providers(&user).await, [GOOGLE]);
}
