//! The audit rule: a use case that changes state writes its record in the
//! transaction that makes the change, so both commit or neither does; a
//! refused change writes none.

use std::sync::Mutex;

use super::*;
use crate::audit::{Audience, AuditRecord, Change, Recorder};

/// Records every change, naming it after its kind, and remembers the
/// before/after values it was given.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<String>>,
}

impl Recorder for Recording {
    fn record(&self, change: &Change<'_>) -> Option<AuditRecord> {
        let (name, detail) = match change {
            Change::PoolCreated(pool) => ("PoolCreated", pool.settings.name.clone()),
            Change::PoolChanged { before, after } => (
                "PoolChanged",
                format!("{} -> {}", before.settings.name, after.settings.name),
            ),
            Change::PoolDeleted(pool) => ("PoolDeleted", pool.settings.name.clone()),
            Change::PrincipalTagsSet { before, after, .. } => (
                "PrincipalTagsSet",
                format!("{} -> {}", before.is_some(), after.provider_name),
            ),
            Change::IdentitiesDeleted {
                deleted,
                unprocessed,
            } => (
                "IdentitiesDeleted",
                format!("{} {}", deleted.len(), unprocessed.len()),
            ),
            Change::IdentitiesMerged { moved, .. } => ("IdentitiesMerged", moved.to_string()),
            Change::LoginsUnlinked {
                providers,
                disabled,
                ..
            } => {
                let names: Vec<&str> = providers.iter().map(|p| p.as_str()).collect();
                ("LoginsUnlinked", format!("{names:?} {disabled}"))
            }
        };
        self.seen.lock().unwrap().push(format!("{name}: {detail}"));
        Some(AuditRecord {
            event_id: uuid::Uuid::new_v4(),
            event_time: chrono::Utc::now(),
            audience: Audience::Account(account()),
            event_source: "test".into(),
            event_name: name.into(),
            read_only: false,
            access_key_id: None,
            username: None,
            pool_id: change.pool_id().map(ToString::to_string),
            identity_id: None,
            error_code: None,
            count: 1,
            record: detail,
        })
    }
}

impl Recording {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn names(w: &World) -> Vec<String> {
    w.store
        .audit_records()
        .await
        .into_iter()
        .map(|r| format!("{}: {}", r.event_name, r.record))
        .collect()
}

#[tokio::test]
async fn a_pool_change_and_its_record_commit_in_one_transaction_with_the_values_before_and_after() {
    let w = world();
    let audit = Recording::default();
    let pool = w
        .pools
        .create(&account(), open_settings(), BTreeMap::new(), &audit)
        .await
        .unwrap();
    assert_eq!(w.store.journal().len(), 1, "one transaction");
    let mut renamed = open_settings();
    renamed.name = "renamed".into();
    w.pools
        .update(&account(), &pool.id, renamed, None, &audit)
        .await
        .unwrap();
    w.pools.delete(&account(), &pool.id, &audit).await.unwrap();
    assert_eq!(
        names(&w).await,
        [
            "PoolCreated: open",
            "PoolChanged: open -> renamed",
            "PoolDeleted: renamed",
        ]
    );
    assert!(w.store.journal().iter().all(|tx| tx.committed));
    assert_eq!(w.store.journal().len(), 3, "no transaction of its own");
}

#[tokio::test]
async fn a_refused_change_writes_no_record() {
    let w = world();
    let audit = Recording::default();
    let pool = w.open_pool().await;
    let mut bad = open_settings();
    bad.developer_provider_name = Some(provider("another.developer"));
    let refused = w
        .pools
        .update(&account(), &pool.id, bad, None, &audit)
        .await;
    assert!(refused.is_err());
    let refused = w.pools.delete(&other_account(), &pool.id, &audit).await;
    assert!(refused.is_err());
    assert!(names(&w).await.is_empty(), "{:?}", names(&w).await);
    assert!(
        audit.seen().is_empty(),
        "the recorder is asked only for changes made"
    );
}

#[tokio::test]
async fn identity_changes_are_recorded_with_what_they_changed() {
    let w = world();
    let audit = Recording::default();
    let pool = w.open_pool().await;
    let first = w.developer_user(&pool, "alice").await;
    let second = w.developer_user(&pool, "bob").await;
    w.identities
        .merge_developer_identities(
            &account(),
            &pool.id,
            &DEV.try_into().unwrap(),
            &"bob".try_into().unwrap(),
            &"alice".try_into().unwrap(),
            &audit,
        )
        .await
        .unwrap();
    w.identities
        .unlink_developer_identity(
            &account(),
            &pool.id,
            &first,
            &DEV.try_into().unwrap(),
            &"bob".try_into().unwrap(),
            &audit,
        )
        .await
        .unwrap();
    w.identities
        .delete_identities(&account(), &[first.clone(), second.clone()], &audit)
        .await
        .unwrap();
    assert_eq!(
        names(&w).await,
        [
            "IdentitiesMerged: 1",
            format!("LoginsUnlinked: [\"{DEV}\"] false").as_str(),
            "IdentitiesDeleted: 2 0",
        ]
    );
}
