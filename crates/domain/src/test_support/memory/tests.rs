//! The in-memory store keeps the store's promises: uniqueness, references,
//! cascades, rollback, and a journal of the locks asked for.

use chrono::Utc;

use super::*;
use crate::ids::Region;
use crate::pool::PoolSettings;
use crate::test_support::{named_identity_id as iid, named_pool_id as pid};

fn account() -> AccountId {
    AccountId::parse("000000000000").unwrap()
}

fn pool(name: &str) -> IdentityPool {
    IdentityPool {
        id: pid(name),
        account_id: account(),
        settings: PoolSettings {
            name: "pool".into(),
            ..PoolSettings::default()
        },
        tags: Default::default(),
        roles: Default::default(),
        role_mappings: Default::default(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn identity(name: &str, pool: &str) -> Identity {
    Identity {
        id: iid(name),
        pool_id: pid(pool),
        authenticated: true,
        disabled: false,
        created_at: Utc::now(),
        last_modified_at: Utc::now(),
    }
}

fn login(identity: &str, provider: &str, subject: &str, developer: bool) -> Login {
    Login {
        pool_id: pid("p"),
        provider: crate::ids::ProviderName::try_from(provider).unwrap(),
        subject: subject.into(),
        developer,
        identity_id: iid(identity),
    }
}

/// A developer login of `identity` under the provider `dev`.
fn dev(identity: &str, subject: &str) -> Login {
    login(identity, "dev", subject, true)
}

/// A Google login of `identity`.
fn google(identity: &str, subject: &str) -> Login {
    login(identity, "accounts.google.com", subject, false)
}

/// Insert each of `logins` in `tx`, every one of them accepted.
async fn insert_logins(tx: &mut dyn Tx, logins: &[Login]) {
    for login in logins {
        tx.insert_login(login).await.unwrap();
    }
}

/// A store with pool `p` and identities `a` and `b`, committed.
async fn seeded() -> MemoryStore {
    let store = MemoryStore::new();
    let mut tx = store.begin().await.unwrap();
    tx.insert_pool(&pool("p")).await.unwrap();
    tx.insert_identity(&identity("a", "p")).await.unwrap();
    tx.insert_identity(&identity("b", "p")).await.unwrap();
    tx.commit().await.unwrap();
    store.clear_journal();
    store
}

/// The [`seeded`] store and a transaction begun on it.
async fn seeded_tx() -> (MemoryStore, Box<dyn Tx>) {
    let store = seeded().await;
    let tx = store.begin().await.unwrap();
    (store, tx)
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_leaves_nothing_behind() {
    let store = seeded().await;
    {
        let mut tx = store.begin().await.unwrap();
        tx.insert_identity(&identity("c", "p")).await.unwrap();
        tx.delete_identity(&iid("a")).await.unwrap();
    }
    assert!(store.identity(&iid("c")).await.is_none());
    assert!(store.identity(&iid("a")).await.is_some());
    assert_eq!(
        store.journal(),
        vec![TxRecord {
            locks: vec![],
            committed: false
        }]
    );
}

#[tokio::test]
async fn a_login_belongs_to_the_first_identity_that_links_it() {
    let (_store, mut tx) = seeded_tx().await;
    let first = tx.insert_login(&dev("a", "alice")).await;
    let second = tx.insert_login(&dev("b", "alice")).await;
    assert_eq!(first.unwrap(), LoginClaim::Linked);
    assert_eq!(second.unwrap(), LoginClaim::Taken(iid("a")));
}

#[tokio::test]
async fn an_identity_holds_one_public_login_per_provider_but_many_developer_ids() {
    let (_store, mut tx) = seeded_tx().await;
    insert_logins(
        &mut *tx,
        &[dev("a", "u1"), dev("a", "u2"), google("a", "g1")],
    )
    .await;
    let clash = tx.insert_login(&google("a", "g2")).await;
    assert!(
        matches!(clash, Err(StoreError::UniqueViolation(c)) if c == "identity_logins_one_public_login_per_provider")
    );
}

#[tokio::test]
async fn a_failed_statement_aborts_the_transaction_and_its_commit_keeps_nothing() {
    let (store, mut tx) = seeded_tx().await;
    tx.insert_identity(&identity("c", "p")).await.unwrap();
    assert!(tx.insert_identity(&identity("a", "p")).await.is_err());
    assert!(tx.find_identity(&iid("a"), RowLock::None).await.is_err());
    assert!(tx.commit().await.is_err());
    assert!(store.identity(&iid("c")).await.is_none());
}

#[tokio::test]
async fn moving_logins_onto_an_identity_with_the_same_public_provider_is_refused() {
    let (_store, mut tx) = seeded_tx().await;
    insert_logins(&mut *tx, &[google("a", "g1"), google("b", "g2")]).await;
    assert!(matches!(
        tx.move_logins(&iid("a"), &iid("b")).await,
        Err(StoreError::UniqueViolation(_))
    ));
}

#[tokio::test]
async fn moving_logins_keeps_their_order_and_empties_the_source() {
    let (store, mut tx) = seeded_tx().await;
    insert_logins(&mut *tx, &[dev("b", "u0"), dev("a", "u1"), dev("a", "u2")]).await;
    assert_eq!(tx.move_logins(&iid("a"), &iid("b")).await.unwrap(), 2);
    tx.commit().await.unwrap();
    let subjects: Vec<String> = store
        .logins(&iid("b"))
        .await
        .into_iter()
        .map(|l| l.subject)
        .collect();
    assert_eq!(subjects, ["u0", "u1", "u2"]);
    assert!(store.logins(&iid("a")).await.is_empty());
}

#[tokio::test]
async fn deleting_a_pool_deletes_its_identities_logins_and_tag_maps() {
    let (store, mut tx) = seeded_tx().await;
    insert_logins(&mut *tx, &[dev("a", "u1")]).await;
    tx.put_principal_tag_map(
        &pid("p"),
        &PrincipalTagMap {
            provider_name: crate::ids::ProviderName::try_from("dev").unwrap(),
            use_defaults: false,
            principal_tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let deleted = tx.delete_pool(&account(), &pid("p")).await.unwrap();
    assert!(deleted.is_some());
    tx.commit().await.unwrap();
    assert_eq!(store.identity_count().await, 0);
    assert!(store.logins(&iid("a")).await.is_empty());
    assert_eq!(store.principal_tag_map_count().await, 0);
    assert_eq!(store.journal()[0].locks, [Lock::PoolExclusive(pid("p"))]);
}

#[tokio::test]
async fn another_accounts_pool_is_neither_found_nor_deleted() {
    let (_store, mut tx) = seeded_tx().await;
    let other = AccountId::parse("111111111111").unwrap();
    let found = tx.find_pool(&other, &pid("p"), false).await.unwrap();
    assert!(found.is_none());
    assert!(tx.delete_pool(&other, &pid("p")).await.unwrap().is_none());
    let shared = tx.find_pool_by_id_shared(&pid("p")).await.unwrap();
    assert!(shared.is_some());
}

#[tokio::test]
async fn an_identity_needs_its_pool_and_a_login_its_identity() {
    let (store, mut tx) = seeded_tx().await;
    assert!(tx.insert_identity(&identity("c", "nope")).await.is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_login(&dev("nope", "u")).await.is_err());
}

#[tokio::test]
async fn the_journal_lists_the_locks_a_transaction_asked_for_in_order() {
    let (store, mut tx) = seeded_tx().await;
    tx.find_pool_by_id_shared(&pid("p")).await.unwrap();
    tx.find_identity(&iid("a"), RowLock::None).await.unwrap();
    tx.find_identity(&iid("a"), RowLock::Share).await.unwrap();
    tx.find_identity(&iid("b"), RowLock::Update).await.unwrap();
    tx.find_pool(&account(), &pid("p"), true).await.unwrap();
    tx.lock_account(&account()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.journal(),
        [TxRecord {
            locks: vec![
                Lock::PoolShared(pid("p")),
                Lock::Identity(iid("a"), RowLock::Share),
                Lock::Identity(iid("b"), RowLock::Update),
                Lock::PoolRow(pid("p")),
                Lock::Account("000000000000".into()),
            ],
            committed: true,
        }]
    );
}

#[tokio::test]
async fn a_second_transaction_waits_for_the_first_and_sees_what_it_committed() {
    let store = seeded().await;
    let mut first = store.begin().await.unwrap();
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut second = store.begin().await.unwrap();
            second
                .find_identity(&iid("c"), RowLock::None)
                .await
                .unwrap()
        })
    };
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    first.insert_identity(&identity("c", "p")).await.unwrap();
    first.commit().await.unwrap();
    assert!(waiting.await.unwrap().is_some());
}

#[tokio::test]
async fn a_transaction_that_waits_past_the_lock_timeout_is_contention() {
    let store = seeded()
        .await
        .with_lock_timeout(std::time::Duration::from_millis(10));
    let _open = store.begin().await.unwrap();
    assert!(matches!(
        store.begin().await.err(),
        Some(StoreError::Contention)
    ));
}

#[tokio::test]
async fn pages_follow_creation_order_after_the_cursor() {
    let (_store, mut tx) = seeded_tx().await;
    let region = Region::parse("us-east-1").unwrap();
    let ids: Vec<IdentityPoolId> = (0..3).map(|_| region.new_pool_id()).collect();
    for id in &ids {
        let made = IdentityPool {
            id: id.clone(),
            ..pool("unused")
        };
        tx.insert_pool(&made).await.unwrap();
    }
    let all = tx.list_pools(&account(), None, 10).await.unwrap();
    let after_first_two = tx.list_pools(&account(), Some(all[1].0), 10).await.unwrap();
    let names: Vec<&str> = all.iter().map(|(_, p)| p.id.as_str()).collect();
    assert_eq!(
        names,
        [
            pid("p").as_str(),
            ids[0].as_str(),
            ids[1].as_str(),
            ids[2].as_str()
        ]
    );
    assert_eq!(after_first_two.len(), 2);
    assert_eq!(after_first_two[0].1.id, ids[1]);
}
