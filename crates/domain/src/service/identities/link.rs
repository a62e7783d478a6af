//! The linking rules, as a pure function: given the logins a request
//! proved, who owns each of them now, and the identities involved (as
//! read under their row locks), decide which identity the request
//! resolves to, which identities merge into it, and which logins to link.
//! [`super::IdentityService::resolve`] gathers the input from the store,
//! calls [`plan`], and applies the plan in the same transaction.
//!
//! The rules (AWS's developer guide, "Identity pools concepts" and the
//! GetId / MergeDeveloperIdentities references), each covered by a table
//! row in the tests below:
//! - Logins nobody owns, with no identity named or proven: a new
//!   authenticated identity holding them all.
//! - Logins owned by one identity: that identity; new logins link to it.
//! - Logins spanning several identities: they merge. The survivor is an
//!   authenticated identity over an unauthenticated one; among those, the
//!   named identity, else the oldest. The others are disabled and their
//!   logins move to the survivor.
//! - A named identity that does not exist (or is of another pool) is not
//!   found; an identity proven by a Cognate token that is gone, or any
//!   disabled identity, is refused.
//! - A public caller naming an authenticated identity must prove it with
//!   one of its own logins (else "Logins don't match").
//! - A developer user already linked to another identity than the named
//!   one cannot be linked again (DeveloperUserAlreadyRegistered).
//! - The result may hold at most one subject per public provider and at
//!   most [`MAX_LINKED_LOGINS`](super::MAX_LINKED_LOGINS) logins.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{DomainError, DomainResult};
use crate::identity::{Identity, Login, NewLogin};
use crate::ids::{IdentityId, IdentityPoolId};

use super::{forbidden_identity, MAX_LINKED_LOGINS};

pub(super) const LOGINS_DONT_MATCH: &str =
    "Logins don't match. Please include at least one valid login for this identity or identity pool.";
const DEVELOPER_USER_REGISTERED: &str =
    "The provided developer user identifier is already registered with Cognito under a different identity ID.";

/// How a named `IdentityId` is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    /// A public call: an authenticated identity must be proven by a login.
    Public,
    /// A signed developer call: the developer vouches for the identity.
    Developer,
}

/// A login the request proved, and the identity that owns it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Claimed {
    /// The login.
    pub(super) login: NewLogin,
    /// Who owns it now, if anyone.
    pub(super) owner: Option<IdentityId>,
}

/// Everything [`plan`] decides on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input<'a> {
    /// The pool of the request.
    pub(super) pool_id: &'a IdentityPoolId,
    /// The `IdentityId` the request named, if any.
    pub(super) named: Option<&'a IdentityId>,
    /// Public or developer call.
    pub(super) caller: Caller,
    /// The logins proved, with their owners.
    pub(super) claimed: &'a [Claimed],
    /// Identities proved by Cognate tokens presented as logins.
    pub(super) proven: &'a BTreeSet<IdentityId>,
    /// Every identity of [`involved`], as read (`None`: it does not exist).
    pub(super) identities: &'a BTreeMap<IdentityId, Option<Identity>>,
    /// The current logins of each identity read, when anything may change
    /// ([`exclusive`] is true); `None` when nothing will be linked or merged.
    pub(super) current_logins: Option<&'a BTreeMap<IdentityId, Vec<Login>>>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nobody owns any login: make a new authenticated identity with these.
    Create {
        /// Logins to link to it.
        link: Vec<NewLogin>,
    },
    /// Resolve to an existing identity.
    Use {
        /// The identity the request resolves to.
        survivor: IdentityId,
        /// Identities to disable after moving their logins to the survivor.
        merge: Vec<IdentityId>,
        /// New logins to link to the survivor.
        link: Vec<NewLogin>,
        /// Whether the survivor is written back (becomes authenticated,
        /// its modification time moves).
        touch: bool,
    },
}

/// The identities a request involves: the owners of its logins, those its
/// Cognate tokens proved, and the named one.
pub(super) fn involved(
    named: Option<&IdentityId>,
    claimed: &[Claimed],
    proven: &BTreeSet<IdentityId>,
) -> BTreeSet<IdentityId> {
    let mut ids: BTreeSet<IdentityId> = proven.clone();
    ids.extend(claimed.iter().filter_map(|c| c.owner.clone()));
    ids.extend(named.cloned());
    ids
}

/// Whether the identities must be locked exclusively (something will be
/// linked or merged); otherwise a shared lock suffices and nothing is written.
pub(super) fn exclusive(claimed: &[Claimed], involved: &BTreeSet<IdentityId>) -> bool {
    claimed.iter().any(|c| c.owner.is_none()) || involved.len() > 1
}

/// Decide; see the module docs for the rules.
pub(super) fn plan(input: Input<'_>) -> DomainResult<Plan> {
    let Input {
        pool_id,
        named,
        caller,
        claimed,
        proven,
        identities,
        current_logins,
    } = input;
    if let (Caller::Developer, Some(named)) = (caller, named) {
        if claimed
            .iter()
            .any(|c| c.login.developer && c.owner.as_ref().is_some_and(|o| o != named))
        {
            return Err(DomainError::DeveloperUserAlreadyRegistered(
                DEVELOPER_USER_REGISTERED.into(),
            ));
        }
    }
    let mut owners: BTreeSet<&IdentityId> = proven.iter().collect();
    owners.extend(claimed.iter().filter_map(|c| c.owner.as_ref()));
    let mut loaded: Vec<&Identity> = Vec::new();
    for id in involved(named, claimed, proven) {
        let identity = match identities.get(&id) {
            Some(Some(i)) if &i.pool_id == pool_id => i,
            _ if Some(&id) == named => return Err(DomainError::identity_not_found(&id)),
            // A Cognate token for an identity since deleted.
            _ => return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into())),
        };
        if identity.disabled {
            return Err(forbidden_identity(&identity.id));
        }
        loaded.push(identity);
    }
    if let (Caller::Public, Some(named)) = (caller, named) {
        let named_identity = loaded.iter().find(|i| &i.id == named);
        if named_identity.is_some_and(|i| i.authenticated) && !owners.contains(named) {
            return Err(DomainError::NotAuthorized(LOGINS_DONT_MATCH.into()));
        }
    }
    let unowned: Vec<NewLogin> = claimed
        .iter()
        .filter(|c| c.owner.is_none())
        .map(|c| c.login.clone())
        .collect();
    let Some(survivor) = loaded.iter().max_by_key(|i| {
        (
            i.authenticated,
            Some(&i.id) == named,
            std::cmp::Reverse(i.created_at),
        )
    }) else {
        return Ok(Plan::Create { link: unowned });
    };
    if let Some(current) = current_logins {
        // (provider, subject, developer) of every login the survivor would hold.
        let mut after: Vec<(&str, &str, bool)> = loaded
            .iter()
            .flat_map(|i| current.get(&i.id).into_iter().flatten())
            .map(|l| (l.provider.as_str(), l.subject.as_str(), l.developer))
            .collect();
        after.extend(
            unowned
                .iter()
                .map(|l| (l.provider.as_str(), l.subject.as_str(), l.developer)),
        );
        let mut subjects: BTreeMap<&str, &str> = BTreeMap::new();
        for &(provider, subject, _) in after.iter().filter(|(_, _, developer)| !developer) {
            if let Some(other) = subjects.insert(provider, subject) {
                if other != subject {
                    return Err(DomainError::ResourceConflict(format!(
                        "The logins belong to different {provider} users; they cannot be linked to one identity."
                    )));
                }
            }
        }
        if after.len() > MAX_LINKED_LOGINS {
            return Err(DomainError::ResourceConflict(format!(
                "An identity can have at most {MAX_LINKED_LOGINS} linked logins."
            )));
        }
    }
    let changed = !unowned.is_empty() || owners.len() > 1 || !survivor.authenticated;
    Ok(Plan::Use {
        survivor: survivor.id.clone(),
        merge: loaded
            .iter()
            .filter(|i| i.id != survivor.id)
            .map(|i| i.id.clone())
            .collect(),
        touch: changed && !claimed.is_empty(),
        link: unowned,
    })
}

#[cfg(test)]
mod tests {
    //! One row per rule; the identities are named by age (`old` is created
    //! before `mid`, before `new`).

    use chrono::{TimeZone as _, Utc};

    use super::*;

    use crate::test_support::named_identity_id as id;

    fn pool() -> IdentityPoolId {
        crate::test_support::named_pool_id("pool")
    }

    fn identity(name: &str, age_rank: i64, authenticated: bool, disabled: bool) -> Identity {
        let at = Utc.timestamp_opt(1_700_000_000 + age_rank, 0).unwrap();
        Identity {
            id: id(name),
            pool_id: pool(),
            authenticated,
            disabled,
            created_at: at,
            last_modified_at: at,
        }
    }

    fn login(provider: &str, subject: &str) -> NewLogin {
        NewLogin {
            provider: crate::ids::ProviderName::try_from(provider).unwrap(),
            subject: subject.into(),
            developer: provider == "dev",
        }
    }

    fn claimed(provider: &str, subject: &str, owner: Option<&str>) -> Claimed {
        Claimed {
            login: login(provider, subject),
            owner: owner.map(id),
        }
    }

    /// A world of identities and their logins, and a request against it.
    struct Case<'a> {
        named: Option<&'a str>,
        caller: Caller,
        claimed: Vec<Claimed>,
        proven: &'a [&'a str],
        world: Vec<(Identity, Vec<NewLogin>)>,
    }

    impl Case<'_> {
        fn run(&self) -> DomainResult<Plan> {
            let proven: BTreeSet<IdentityId> = self.proven.iter().map(|s| id(s)).collect();
            let named = self.named.map(id);
            let ids = involved(named.as_ref(), &self.claimed, &proven);
            let identities: BTreeMap<IdentityId, Option<Identity>> = ids
                .iter()
                .map(|id| {
                    let found = self.world.iter().find(|(i, _)| &i.id == id);
                    (id.clone(), found.map(|(i, _)| i.clone()))
                })
                .collect();
            let logins: BTreeMap<IdentityId, Vec<Login>> = self
                .world
                .iter()
                .map(|(i, logins)| {
                    let rows = logins
                        .iter()
                        .map(|l| l.clone().linked_to(&i.pool_id, &i.id))
                        .collect();
                    (i.id.clone(), rows)
                })
                .collect();
            plan(Input {
                pool_id: &pool(),
                named: named.as_ref(),
                caller: self.caller,
                claimed: &self.claimed,
                proven: &proven,
                identities: &identities,
                current_logins: exclusive(&self.claimed, &ids).then_some(&logins),
            })
        }
    }

    fn public(named: Option<&'static str>, claimed: Vec<Claimed>) -> Case<'static> {
        Case {
            named,
            caller: Caller::Public,
            claimed,
            proven: &[],
            world: Vec::new(),
        }
    }

    fn uses(survivor: &str, merge: &[&str], link: usize, touch: bool) -> Plan {
        Plan::Use {
            survivor: id(survivor),
            merge: merge.iter().map(|s| id(s)).collect(),
            link: Vec::new(),
            touch,
        }
        .with_links(link)
    }

    impl Plan {
        /// The plan with its link list replaced by the count (tests
        /// compare counts; which logins is checked where it matters).
        fn with_links(self, n: usize) -> Plan {
            match self {
                Plan::Use {
                    survivor,
                    merge,
                    touch,
                    ..
                } => Plan::Use {
                    survivor,
                    merge,
                    link: vec![login("count", ""); n],
                    touch,
                },
                Plan::Create { .. } => Plan::Create {
                    link: vec![login("count", ""); n],
                },
            }
        }
    }

    fn counted(result: DomainResult<Plan>) -> DomainResult<Plan> {
        result.map(|p| match &p {
            Plan::Use { link, .. } | Plan::Create { link } => {
                let n = link.len();
                p.with_links(n)
            }
        })
    }

    #[test]
    fn the_linking_rules_hold_row_by_row() {
        let g = "accounts.google.com";
        let f = "graph.facebook.com";
        type Expect = Result<Plan, &'static str>;
        let rows: Vec<(&str, Case<'static>, Expect)> = vec![
            (
                "a new login makes a new authenticated identity",
                public(None, vec![claimed(g, "alice", None)]),
                Ok(Plan::Create { link: Vec::new() }.with_links(1)),
            ),
            (
                "a known login resolves to its owner, nothing written",
                Case {
                    world: vec![(identity("old", 0, true, false), vec![login(g, "alice")])],
                    ..public(None, vec![claimed(g, "alice", Some("old"))])
                },
                Ok(uses("old", &[], 0, false)),
            ),
            (
                "a new login joins the identity another login owns",
                Case {
                    world: vec![(identity("old", 0, true, false), vec![login(g, "alice")])],
                    ..public(
                        None,
                        vec![claimed(g, "alice", Some("old")), claimed(f, "a", None)],
                    )
                },
                Ok(uses("old", &[], 1, true)),
            ),
            (
                "a guest that logs in becomes authenticated",
                Case {
                    world: vec![(identity("mid", 1, false, false), vec![])],
                    ..public(Some("mid"), vec![claimed(g, "alice", None)])
                },
                Ok(uses("mid", &[], 1, true)),
            ),
            (
                "logins of two identities merge into the oldest authenticated one",
                Case {
                    world: vec![
                        (identity("old", 0, true, false), vec![login(g, "alice")]),
                        (identity("new", 2, true, false), vec![login(f, "a")]),
                    ],
                    ..public(
                        None,
                        vec![
                            claimed(g, "alice", Some("old")),
                            claimed(f, "a", Some("new")),
                        ],
                    )
                },
                Ok(uses("old", &["new"], 0, true)),
            ),
            (
                "an authenticated identity survives over an older guest",
                Case {
                    world: vec![
                        (identity("old", 0, false, false), vec![]),
                        (identity("new", 2, true, false), vec![login(g, "alice")]),
                    ],
                    ..public(Some("old"), vec![claimed(g, "alice", Some("new"))])
                },
                // The guest merges away; the survivor itself is unchanged.
                Ok(uses("new", &["old"], 0, false)),
            ),
            (
                "among authenticated identities the named one survives",
                Case {
                    world: vec![
                        (identity("old", 0, true, false), vec![login(g, "alice")]),
                        (identity("new", 2, true, false), vec![login(f, "a")]),
                    ],
                    ..public(
                        Some("new"),
                        vec![
                            claimed(g, "alice", Some("old")),
                            claimed(f, "a", Some("new")),
                        ],
                    )
                },
                Ok(uses("new", &["old"], 0, true)),
            ),
            (
                "a named identity that does not exist is not found",
                public(Some("ghost"), vec![claimed(g, "alice", None)]),
                Err("ResourceNotFound"),
            ),
            (
                "a named identity of another pool is not found",
                Case {
                    world: vec![(
                        Identity {
                            pool_id: IdentityPoolId::try_from("us-east-1:007").unwrap(),
                            ..identity("mid", 1, false, false)
                        },
                        vec![],
                    )],
                    ..public(Some("mid"), vec![claimed(g, "alice", None)])
                },
                Err("ResourceNotFound"),
            ),
            (
                "a Cognate token of a deleted identity does not match",
                Case {
                    proven: &["gone"],
                    ..public(None, vec![])
                },
                Err("NotAuthorized"),
            ),
            (
                "a disabled identity is refused",
                Case {
                    world: vec![(identity("old", 0, true, true), vec![login(g, "alice")])],
                    ..public(None, vec![claimed(g, "alice", Some("old"))])
                },
                Err("NotAuthorized"),
            ),
            (
                "a public caller must prove a named authenticated identity",
                Case {
                    world: vec![(identity("old", 0, true, false), vec![login(g, "alice")])],
                    ..public(Some("old"), vec![claimed(f, "mallory", None)])
                },
                Err("NotAuthorized"),
            ),
            (
                "a Cognate token proves the named identity",
                Case {
                    proven: &["old"],
                    world: vec![(identity("old", 0, true, false), vec![login(g, "alice")])],
                    ..public(Some("old"), vec![claimed(f, "a", None)])
                },
                Ok(uses("old", &[], 1, true)),
            ),
            (
                "two subjects of one provider cannot share an identity",
                Case {
                    world: vec![
                        (identity("old", 0, true, false), vec![login(g, "alice")]),
                        (identity("new", 2, true, false), vec![login(g, "bob")]),
                    ],
                    ..public(
                        None,
                        vec![
                            claimed(g, "alice", Some("old")),
                            claimed(g, "bob", Some("new")),
                        ],
                    )
                },
                Err("ResourceConflict"),
            ),
            (
                "more than twenty logins cannot be linked",
                Case {
                    world: vec![(
                        identity("old", 0, true, false),
                        (0..20).map(|i| login("dev", &format!("u{i}"))).collect(),
                    )],
                    ..public(
                        None,
                        vec![claimed("dev", "u0", Some("old")), claimed(g, "alice", None)],
                    )
                },
                Err("ResourceConflict"),
            ),
            (
                "a developer user registered elsewhere cannot join the named identity",
                Case {
                    caller: Caller::Developer,
                    world: vec![
                        (identity("old", 0, true, false), vec![login("dev", "u")]),
                        (identity("new", 2, false, false), vec![]),
                    ],
                    ..public(Some("new"), vec![claimed("dev", "u", Some("old"))])
                },
                Err("DeveloperUserAlreadyRegistered"),
            ),
            (
                "a developer may name an authenticated identity without proving it",
                Case {
                    caller: Caller::Developer,
                    world: vec![(identity("old", 0, true, false), vec![login(g, "alice")])],
                    ..public(Some("old"), vec![claimed("dev", "u", None)])
                },
                Ok(uses("old", &[], 1, true)),
            ),
        ];
        for (rule, case, expected) in rows {
            let got = counted(case.run());
            match (&got, &expected) {
                (Ok(plan), Ok(want)) => assert_eq!(plan, want, "{rule}"),
                (Err(err), Err(code)) => {
                    let variant = format!("{err:?}");
                    assert!(variant.starts_with(code), "{rule}: got {variant}");
                }
                _ => panic!("{rule}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn nothing_to_link_or_merge_needs_only_a_shared_lock() {
        let one: BTreeSet<IdentityId> = [id("a")].into();
        let two: BTreeSet<IdentityId> = [id("a"), id("b")].into();
        let known = vec![claimed("g", "x", Some("a"))];
        let new = vec![claimed("g", "x", None)];
        assert!(!exclusive(&known, &one));
        assert!(exclusive(&new, &one));
        assert!(exclusive(&known, &two));
    }
}
