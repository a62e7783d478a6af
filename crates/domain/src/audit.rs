//! The audit trail: one record per call, and the rule that a change and its
//! record commit together.
//!
//! A use case that changes state (a pool created, updated, deleted, tagged,
//! its roles or principal-tag maps set; identities deleted, merged,
//! unlinked) describes what it changed as a [`Change`] — with the values
//! before and after — and, inside its own transaction, just before it
//! commits, asks the call's [`Recorder`] for the [`AuditRecord`] of that
//! change and writes it with [`AuditRepo::append_audit`]. So a change is
//! never without its record, and a record never without its change: both
//! commit, or neither does.
//!
//! What the record says (CloudTrail's shape, with secrets hidden) is the
//! caller's business: the API layer knows the request and the wire shapes,
//! so its recorder turns the change into the record. Calls that change
//! nothing (reads, token issuing, refusals) are recorded by the API layer
//! through [`AuditStore::append`], in batches, off the request path.
//!
//! [`AuditStore`] also answers look-ups ([`AuditQuery`]), keeps the daily
//! partitions, and drops those past the retention.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::ids::{AccountId, IdentityId, IdentityPoolId, ProviderName};
use crate::pool::{IdentityPool, PrincipalTagMap};

/// Who may see a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The account whose resource or call it is (CloudTrail's
    /// `recipientAccountId`).
    Account(AccountId),
    /// Every account: what concerns the whole deployment, e.g. the token
    /// signing keys every account's tokens are signed with.
    Everyone,
    /// The operators only (calls naming ids that exist nowhere, which
    /// belong to no account).
    Operators,
}

/// One audit record as stored: the event (`record`, CloudTrail's JSON) and
/// the fields look-ups filter on.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// `eventID`.
    pub event_id: Uuid,
    /// `eventTime` (stored to the microsecond, shown to the second).
    pub event_time: DateTime<Utc>,
    /// Who may see it.
    pub audience: Audience,
    /// `eventSource`, e.g. `cognito-identity.amazonaws.com`.
    pub event_source: String,
    /// `eventName`: the operation.
    pub event_name: String,
    /// `readOnly`.
    pub read_only: bool,
    /// The access key that signed the call, if one did.
    pub access_key_id: Option<String>,
    /// `userIdentity.userName` (or the operator's name).
    pub username: Option<String>,
    /// The pool the call names or changed.
    pub pool_id: Option<String>,
    /// The identity the call names or changed.
    pub identity_id: Option<String>,
    /// `errorCode`, for a refused call.
    pub error_code: Option<String>,
    /// How many calls the record stands for (more than 1 for aggregated refusals).
    pub count: u32,
    /// CloudTrail's JSON of the event, without the members the fields above
    /// give ([`AuditRecord::derived_members`]): that is how it is kept, a
    /// third smaller. [`AuditRecord::event_json`] gives the whole event.
    pub record: String,
}

/// CloudTrail's `eventVersion` of every record.
pub const EVENT_VERSION: &str = "1.08";

impl AuditRecord {
    /// The members of the event that its fields give, or that never
    /// change (`eventVersion`, `eventType`, `managementEvent`,
    /// `eventCategory`).
    pub fn derived_members(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::Value;
        let recipient = match &self.audience {
            Audience::Account(account) => Value::String(account.to_string()),
            Audience::Everyone | Audience::Operators => Value::Null,
        };
        let mut members = vec![
            ("eventID", Value::String(self.event_id.to_string())),
            (
                "eventTime",
                Value::String(
                    self.event_time
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            ),
            ("eventName", Value::String(self.event_name.clone())),
            ("eventSource", Value::String(self.event_source.clone())),
            ("readOnly", Value::Bool(self.read_only)),
            ("recipientAccountId", recipient),
            ("eventVersion", Value::String(EVENT_VERSION.into())),
            ("eventType", Value::String("AwsApiCall".into())),
            ("managementEvent", Value::Bool(true)),
            ("eventCategory", Value::String("Management".into())),
        ];
        if let Some(code) = &self.error_code {
            members.push(("errorCode", Value::String(code.clone())));
        }
        members
    }

    /// The whole event, CloudTrail's JSON: [`AuditRecord::record`] with the
    /// derived members put in (a member the record holds itself wins).
    pub fn event_json(&self) -> String {
        let Ok(serde_json::Value::Object(mut event)) = serde_json::from_str(&self.record) else {
            return self.record.clone();
        };
        for (key, value) in self.derived_members() {
            event.entry(key).or_insert(value);
        }
        serde_json::Value::Object(event).to_string()
    }
}

/// What a use case changed, with the values before and after, for its record.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Change<'a> {
    /// CreateIdentityPool.
    PoolCreated(&'a IdentityPool),
    /// UpdateIdentityPool, TagResource, UntagResource, SetIdentityPoolRoles:
    /// the pool before and after.
    PoolChanged {
        /// The pool as it was.
        before: &'a IdentityPool,
        /// The pool as it is now.
        after: &'a IdentityPool,
    },
    /// DeleteIdentityPool: the pool as it was.
    PoolDeleted(&'a IdentityPool),
    /// SetPrincipalTagAttributeMap.
    PrincipalTagsSet {
        /// The pool.
        pool_id: &'a IdentityPoolId,
        /// The provider's map before (none set).
        before: Option<&'a PrincipalTagMap>,
        /// The map now.
        after: &'a PrincipalTagMap,
    },
    /// DeleteIdentities.
    IdentitiesDeleted {
        /// Identities deleted.
        deleted: &'a [IdentityId],
        /// Identities not deleted, and why.
        unprocessed: &'a [(IdentityId, &'static str)],
    },
    /// MergeDeveloperIdentities: `source`'s logins moved to `destination`.
    IdentitiesMerged {
        /// The pool.
        pool_id: &'a IdentityPoolId,
        /// The identity disabled by the merge.
        source: &'a IdentityId,
        /// The identity that has every login now.
        destination: &'a IdentityId,
        /// How many logins moved.
        moved: u64,
    },
    /// UnlinkDeveloperIdentity, UnlinkIdentity.
    LoginsUnlinked {
        /// The pool.
        pool_id: &'a IdentityPoolId,
        /// The identity.
        identity_id: &'a IdentityId,
        /// Provider names of the logins removed.
        providers: &'a [ProviderName],
        /// Whether the identity is left with no login (so disabled).
        disabled: bool,
    },
}

impl Change<'_> {
    /// The pool the change is about.
    pub fn pool_id(&self) -> Option<&IdentityPoolId> {
        match self {
            Change::PoolCreated(pool) | Change::PoolDeleted(pool) => Some(&pool.id),
            Change::PoolChanged { after, .. } => Some(&after.id),
            Change::PrincipalTagsSet { pool_id, .. }
            | Change::IdentitiesMerged { pool_id, .. }
            | Change::LoginsUnlinked { pool_id, .. } => Some(pool_id),
            Change::IdentitiesDeleted { .. } => None,
        }
    }
}

/// Turns a call's change into its record. Made per call by whoever knows
/// the call (the API layer).
pub trait Recorder: Send + Sync {
    /// The record of `change`; `None`: this call is not recorded.
    fn record(&self, change: &Change<'_>) -> Option<AuditRecord>;
}

/// The recorder of calls that are not recorded (tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct NotRecorded;

impl Recorder for NotRecorded {
    fn record(&self, _: &Change<'_>) -> Option<AuditRecord> {
        None
    }
}

/// Audit records written inside a use case's transaction.
#[async_trait]
pub trait AuditRepo: Send {
    /// Write `record` in this transaction.
    async fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError>;
}

/// What a look-up asks for. Every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Whose records: an account's (and those meant for everyone), or, for
    /// operators, `None`: all.
    pub account: Option<AccountId>,
    /// `eventID`.
    pub event_id: Option<Uuid>,
    /// `eventName`.
    pub event_name: Option<String>,
    /// `eventSource`.
    pub event_source: Option<String>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// `userIdentity.userName`.
    pub username: Option<String>,
    /// The access key that signed.
    pub access_key_id: Option<String>,
    /// A pool or identity id the record names.
    pub resource_name: Option<String>,
    /// Only records naming a resource of this kind.
    pub resource_kind: Option<ResourceKind>,
    /// Only refused calls with this `errorCode` (`Some("")`: any error).
    pub error_code: Option<String>,
    /// At or after.
    pub start: Option<DateTime<Utc>>,
    /// At or before.
    pub end: Option<DateTime<Utc>>,
    /// Only records older than this one (newest first paging).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    /// Only records newer than this one (oldest first paging).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// Oldest first (exports) instead of newest first.
    pub oldest_first: bool,
    /// At most this many.
    pub limit: u32,
}

/// The kinds of resource a record may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// An identity pool.
    Pool,
    /// An identity.
    Identity,
}

/// The audit table outside any use case's transaction.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Write records (one statement, one transaction).
    async fn append(&self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// Records matching `query`, newest first (or oldest first).
    async fn lookup(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
    /// Make sure the daily partitions from `from` to `to` exist.
    async fn ensure_partitions(&self, from: NaiveDate, to: NaiveDate) -> Result<(), StoreError>;
    /// Drop every daily partition wholly before `day`; the days dropped.
    async fn drop_partitions_before(&self, day: NaiveDate) -> Result<Vec<NaiveDate>, StoreError>;
    /// The calls recorded for `account` since `since`, per operation (an
    /// aggregated record counts as many calls as it stands for).
    async fn usage(
        &self,
        account: &AccountId,
        since: DateTime<Utc>,
    ) -> Result<Vec<Usage>, StoreError>;
}

/// The error code of a throttled call.
pub const THROTTLED: &str = "TooManyRequestsException";

/// The calls of one operation over a time range (the console's usage page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// `eventName`.
    pub event_name: String,
    /// Calls, refused ones included.
    pub calls: u64,
    /// Refused calls.
    pub errors: u64,
    /// Calls refused for their rate ([`THROTTLED`]).
    pub throttles: u64,
}

impl Usage {
    /// Add up `records` per operation, in the order of their names.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Vec<Usage> {
        let mut by_name = std::collections::BTreeMap::<&str, Usage>::new();
        for record in records {
            let usage = by_name.entry(&record.event_name).or_default();
            let count = u64::from(record.count);
            usage.calls += count;
            if let Some(code) = &record.error_code {
                usage.errors += count;
                if code == THROTTLED {
                    usage.throttles += count;
                }
            }
        }
        by_name
            .into_iter()
            .map(|(name, usage)| Usage {
                event_name: name.to_owned(),
                ..usage
            })
            .collect()
    }
}
