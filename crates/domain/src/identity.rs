//! Identities and the logins linked to them.
//!
//! An identity is `<region>:<uuid>` in one pool. It starts unauthenticated
//! (GetId without logins) or authenticated (its first login). Logins are
//! `(provider, subject)` pairs unique within a pool: a developer user
//! identifier is stored as given (LookupDeveloperIdentity returns it); an
//! upstream provider's subject is stored only as a keyed one-way hash.
//! An identity may hold many developer user identifiers but at most one
//! login per public provider.
//!
//! An identity is *disabled* when it can no longer be used: it was merged
//! into another, or its last login was removed (AWS: "the identity becomes
//! inaccessible"). Disabled identities are kept (ListIdentities shows them
//! unless HideDisabled) until deleted.

use chrono::{DateTime, Utc};

use crate::ids::{IdentityId, IdentityPoolId, ProviderName};

/// A stored identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `<region>:<uuid>`.
    pub id: IdentityId,
    /// The pool it belongs to.
    pub pool_id: IdentityPoolId,
    /// Whether it ever had a login (then it is never unauthenticated again).
    pub authenticated: bool,
    /// Merged away or orphaned: refused everywhere.
    pub disabled: bool,
    /// `CreationDate`.
    pub created_at: DateTime<Utc>,
    /// `LastModifiedDate`: changes when logins are linked or unlinked.
    pub last_modified_at: DateTime<Utc>,
}

/// A login linked to an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The pool (logins are unique per pool).
    pub pool_id: IdentityPoolId,
    /// Provider name: the pool's developer provider, `accounts.google.com`, ...
    pub provider: ProviderName,
    /// Developer user identifier as given, or the keyed hash of an upstream subject.
    pub subject: String,
    /// Whether `provider` is the pool's developer provider.
    pub developer: bool,
    /// The identity it belongs to.
    pub identity_id: IdentityId,
}

/// A login a request proved, before it is linked to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogin {
    /// Provider name.
    pub provider: ProviderName,
    /// Developer user identifier, or the keyed hash of an upstream subject.
    pub subject: String,
    /// Whether `provider` is the pool's developer provider.
    pub developer: bool,
}

impl NewLogin {
    /// The row linking this login to `identity_id` in `pool_id`.
    pub fn linked_to(self, pool_id: &IdentityPoolId, identity_id: &IdentityId) -> Login {
        Login {
            pool_id: pool_id.clone(),
            provider: self.provider,
            subject: self.subject,
            developer: self.developer,
            identity_id: identity_id.clone(),
        }
    }
}

/// An identity with the provider names of its logins (DescribeIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDescription {
    /// The identity.
    pub identity: Identity,
    /// Distinct provider names of its logins, sorted.
    pub providers: Vec<ProviderName>,
}

/// What inserting a login found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginClaim {
    /// The login is now linked to the identity given.
    Linked,
    /// The login was already linked, to this identity.
    Taken(IdentityId),
}

/// How a read of an identity row locks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// Plain read.
    None,
    /// Shared: concurrent deletes, merges and unlinks of the identity wait
    /// until we commit (a developer token is signed under it).
    Share,
    /// Exclusive: we will change or delete it.
    Update,
}
