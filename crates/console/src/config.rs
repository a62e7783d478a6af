//! What the console is told: its OpenID provider, its operators and their
//! roles, its session timeouts.

use std::collections::BTreeMap;
use std::time::Duration;

use cognate_domain::ids::AccountId;

/// What an operator may do in an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sees everything of the account, changes nothing.
    Viewer,
    /// May also change: edit pools, unlink, delete and merge identities
    /// (and rotate the signing keys, with every account).
    Operator,
}

impl Role {
    /// `viewer` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

/// One `[[console.operators]]` entry: who (a `sub`, or a member of a
/// group), which accounts (`*`: all), which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRule {
    /// Matches this `sub`.
    pub sub: Option<String>,
    /// Matches a member of this group (the `groups_claim` of the ID token).
    pub group: Option<String>,
    /// Account ids, or `*` for every configured account.
    pub accounts: Vec<String>,
    /// The role granted.
    pub role: Role,
}

/// The console's configuration (`[console]`).
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The operators' OpenID provider (its issuer URL).
    pub issuer: String,
    /// The console's client id there.
    pub client_id: String,
    /// Its client secret (`None`: a public client, PKCE only).
    pub client_secret: Option<String>,
    /// Where browsers reach the console, no trailing slash; the redirect
    /// URI is `<public_url>/auth/callback`.
    pub public_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The ID-token claim that lists the operator's groups.
    pub groups_claim: String,
    /// Who may do what.
    pub operators: Vec<OperatorRule>,
    /// Every configured account, in order.
    pub accounts: Vec<AccountId>,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, whatever happens.
    pub absolute_timeout: Duration,
    /// Cookies are `Secure` (the console is reached over HTTPS).
    pub secure_cookies: bool,
}

/// What an operator may see and do: a role per account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    roles: BTreeMap<AccountId, Role>,
}

impl Grants {
    /// The grants of every rule matching `sub` or one of `groups`: per
    /// account, the highest role any of them grants.
    pub fn of(config: &ConsoleConfig, sub: &str, groups: &[String]) -> Grants {
        let mut roles = BTreeMap::new();
        for rule in &config.operators {
            let matches = rule.sub.as_deref() == Some(sub)
                || rule
                    .group
                    .as_ref()
                    .is_some_and(|group| groups.iter().any(|g| g == group));
            if !matches {
                continue;
            }
            for account in &config.accounts {
                if rule
                    .accounts
                    .iter()
                    .any(|a| a == "*" || a == account.as_str())
                {
                    let role = roles.entry(account.clone()).or_insert(rule.role);
                    *role = (*role).max(rule.role);
                }
            }
        }
        Grants { roles }
    }

    /// Nothing granted.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// The role in `account`, if any.
    pub fn role(&self, account: &AccountId) -> Option<Role> {
        self.roles.get(account).copied()
    }

    /// The accounts granted, with their roles.
    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, Role)> {
        self.roles.iter().map(|(a, r)| (a, *r))
    }

    /// A role of at least `least` in every configured account: a viewer
    /// sees what concerns no single account; an operator may act on what
    /// all accounts share (the signing keys).
    pub fn in_every_account(&self, config: &ConsoleConfig, least: Role) -> bool {
        !config.accounts.is_empty()
            && config
                .accounts
                .iter()
                .all(|a| self.role(a).is_some_and(|role| role >= least))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(operators: Vec<OperatorRule>) -> ConsoleConfig {
        ConsoleConfig {
            issuer: "https://idp.example".into(),
            client_id: "console".into(),
            client_secret: None,
            public_url: "https://console.example".into(),
            scopes: vec![],
            groups_claim: "groups".into(),
            operators,
            accounts: vec![
                AccountId::parse("111111111111").unwrap(),
                AccountId::parse("222222222222").unwrap(),
            ],
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            secure_cookies: true,
        }
    }

    fn rule(sub: Option<&str>, group: Option<&str>, accounts: &[&str], role: Role) -> OperatorRule {
        OperatorRule {
            sub: sub.map(Into::into),
            group: group.map(Into::into),
            accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
            role,
        }
    }

    #[test]
    fn a_sub_rule_grants_its_accounts_only() {
        let c = config(vec![rule(
            Some("alice"),
            None,
            &["111111111111"],
            Role::Viewer,
        )]);
        let grants = Grants::of(&c, "alice", &[]);
        assert_eq!(grants.role(&c.accounts[0]), Some(Role::Viewer));
        assert_eq!(grants.role(&c.accounts[1]), None);
        assert!(Grants::of(&c, "bob", &[]).is_empty());
    }

    #[test]
    fn the_highest_role_of_every_matching_rule_wins_and_star_means_every_account() {
        let c = config(vec![
            rule(Some("alice"), None, &["*"], Role::Viewer),
            rule(None, Some("admins"), &["222222222222"], Role::Operator),
        ]);
        let grants = Grants::of(&c, "alice", &["admins".into()]);
        assert_eq!(grants.role(&c.accounts[0]), Some(Role::Viewer));
        assert_eq!(grants.role(&c.accounts[1]), Some(Role::Operator));
        assert!(!grants.in_every_account(&c, Role::Operator));
        assert!(grants.in_every_account(&c, Role::Viewer));
        let c = config(vec![rule(None, Some("admins"), &["*"], Role::Operator)]);
        assert!(Grants::of(&c, "x", &["admins".into()]).in_every_account(&c, Role::Operator));
        assert!(Grants::of(&c, "x", &["users".into()]).is_empty());
    }
}
