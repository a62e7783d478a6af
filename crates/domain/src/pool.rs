//! The identity pool: its configuration, roles, role mappings, principal-tag
//! attribute maps and tags, and the rules that the model's constraints
//! cannot express (they are checked here, once, for every write path).
//!
//! The types serialise with the wire's member names (PascalCase), because
//! they are exactly the model's shapes and the store keeps the nested ones
//! as JSON in the same form.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::ids::{AccountId, IdentityPoolId, ProviderName};

/// Public login providers a pool may name in `SupportedLoginProviders`.
pub const PUBLIC_PROVIDERS: &[&str] = &[
    "graph.facebook.com",
    "accounts.google.com",
    "www.amazon.com",
    "appleid.apple.com",
    "api.twitter.com",
    "www.digits.com",
];

/// The login key under which Cognate's own tokens are presented.
pub const COGNITO_IDENTITY_PROVIDER: &str = "cognito-identity.amazonaws.com";

/// Most tags an identity pool may carry (AWS: 50).
pub const MAX_TAGS: usize = 50;

/// Most rules in one role mapping (AWS documents 25 per identity provider).
pub const MAX_RULES_PER_MAPPING: usize = 25;

/// A Cognito user pool the identity pool trusts, with the app client id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CognitoIdentityProvider {
    /// `cognito-idp.<region>.amazonaws.com/<user pool id>`.
    pub provider_name: String,
    /// The app client id (the token's `aud`).
    pub client_id: String,
    /// Whether the pool asks the user pool whether the user was signed out.
    #[serde(default)]
    pub server_side_token_check: bool,
}

/// The settings Create/UpdateIdentityPool take; omitted fields are defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolSettings {
    /// `IdentityPoolName`.
    pub name: String,
    /// `AllowUnauthenticatedIdentities`.
    pub allow_unauthenticated: bool,
    /// `AllowClassicFlow`: three states, as AWS keeps it. `None` (the field
    /// was omitted) answers without the member and lets the basic flow run;
    /// only an explicit `false` refuses GetOpenIdToken.
    pub allow_classic_flow: Option<bool>,
    /// `SupportedLoginProviders`: provider name → app id (10 max, by the model).
    pub supported_login_providers: BTreeMap<String, String>,
    /// `DeveloperProviderName`; cannot change once set.
    pub developer_provider_name: Option<ProviderName>,
    /// `OpenIdConnectProviderARNs`.
    pub openid_connect_provider_arns: Vec<String>,
    /// `CognitoIdentityProviders`.
    pub cognito_identity_providers: Vec<CognitoIdentityProvider>,
    /// `SamlProviderARNs`.
    pub saml_provider_arns: Vec<String>,
}

/// `RoleMapping.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleMappingType {
    /// Use `cognito:roles` / `cognito:preferred_role` from the token.
    Token,
    /// Evaluate the rules in order.
    Rules,
}

/// `AmbiguousRoleResolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AmbiguousRoleResolution {
    /// Fall back to the pool's authenticated role.
    AuthenticatedRole,
    /// Refuse the request.
    Deny,
}

/// `MappingRule.MatchType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchType {
    /// Claim value equals `Value`.
    Equals,
    /// Claim value contains `Value`.
    Contains,
    /// Claim value starts with `Value`.
    StartsWith,
    /// Claim value differs from `Value`.
    NotEqual,
}

/// One rule of a Rules role mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingRule {
    /// Claim name, e.g. `isAdmin`.
    pub claim: String,
    /// How the claim value is compared.
    pub match_type: MatchType,
    /// The value compared against.
    pub value: String,
    /// The role chosen when the rule matches.
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
}

/// `RulesConfigurationType`: rules in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulesConfiguration {
    /// Up to 25 rules, first match wins.
    pub rules: Vec<MappingRule>,
}

/// How users of one provider are mapped to roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleMapping {
    /// Token or Rules.
    #[serde(rename = "Type")]
    pub mapping_type: RoleMappingType,
    /// Required for both types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<AmbiguousRoleResolution>,
    /// Required for Rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_configuration: Option<RulesConfiguration>,
}

/// A principal-tag attribute map for one provider of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalTagMap {
    /// `IdentityProviderName`.
    pub provider_name: ProviderName,
    /// `UseDefaults`: map `aud` and `sub` as AWS's defaults do.
    pub use_defaults: bool,
    /// `PrincipalTags`: tag name → claim name (50 max, by the model).
    pub principal_tags: BTreeMap<String, String>,
}

/// A stored identity pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPool {
    /// `<region>:<uuid>`.
    pub id: IdentityPoolId,
    /// The owning account.
    pub account_id: AccountId,
    /// Everything Create/UpdateIdentityPool set.
    pub settings: PoolSettings,
    /// `IdentityPoolTags`.
    pub tags: BTreeMap<String, String>,
    /// `Roles`: `authenticated` / `unauthenticated` → role ARN.
    pub roles: BTreeMap<String, String>,
    /// `RoleMappings`: provider → mapping.
    pub role_mappings: BTreeMap<String, RoleMapping>,
    /// When the pool was created.
    pub created_at: DateTime<Utc>,
    /// When any of its settings last changed.
    pub updated_at: DateTime<Utc>,
}

/// What ListIdentityPools shows of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSummary {
    /// Pool id.
    pub id: IdentityPoolId,
    /// Pool name.
    pub name: String,
}

static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    // Account may be empty: Ceph RGW's role ARNs are `arn:aws:iam:::role/NAME`.
    Regex::new(r"^arn:aws[a-z-]*:iam::(\d{12})?:role/[\w+=,.@/-]+$").expect("static regex")
});
static USER_POOL_PROVIDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_[0-9A-Za-z]+$")
        .expect("static regex")
});
static OIDC_PROVIDER_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[a-z-]*:iam::\d{1,15}:oidc-provider/([^\s]+)$").expect("static regex")
});
static SAML_PROVIDER_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[a-z-]*:iam::\d{1,15}:saml-provider/[\w+=,.@-]+$").expect("static regex")
});

/// Whether `arn` is an IAM role ARN.
pub fn is_role_arn(arn: &str) -> bool {
    arn.len() <= 2048 && ROLE_ARN.is_match(arn)
}

/// The provider name (`host/path`) an OIDC provider ARN stands for.
pub fn oidc_provider_name(arn: &str) -> Option<&str> {
    OIDC_PROVIDER_ARN
        .captures(arn)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::InvalidParameter(msg.into())
}

fn reject_duplicates<'a>(what: &str, items: impl Iterator<Item = &'a str>) -> DomainResult<()> {
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        if !seen.insert(item) {
            return Err(invalid(format!("Duplicate {what}: {item}")));
        }
    }
    Ok(())
}

impl PoolSettings {
    /// Check the rules the model cannot express. Messages name the field.
    pub fn check(&self) -> DomainResult<()> {
        for provider in self.supported_login_providers.keys() {
            if !PUBLIC_PROVIDERS.contains(&provider.as_str()) {
                return Err(invalid(format!(
                    "SupportedLoginProviders: '{provider}' is not a supported login provider. Use one of: {}.",
                    PUBLIC_PROVIDERS.join(", ")
                )));
            }
        }
        if let Some(dev) = &self.developer_provider_name {
            if PUBLIC_PROVIDERS.contains(&dev.as_str()) || dev == COGNITO_IDENTITY_PROVIDER {
                return Err(invalid(format!(
                    "DeveloperProviderName '{dev}' is reserved for a public provider."
                )));
            }
        }
        for arn in &self.openid_connect_provider_arns {
            if oidc_provider_name(arn).is_none() {
                return Err(invalid(format!("Invalid OpenIdConnectProviderARN: {arn}")));
            }
        }
        reject_duplicates(
            "OpenIdConnectProviderARN",
            self.openid_connect_provider_arns.iter().map(String::as_str),
        )?;
        for arn in &self.saml_provider_arns {
            if !SAML_PROVIDER_ARN.is_match(arn) {
                return Err(invalid(format!("Invalid SamlProviderARN: {arn}")));
            }
        }
        reject_duplicates(
            "SamlProviderARN",
            self.saml_provider_arns.iter().map(String::as_str),
        )?;
        for cip in &self.cognito_identity_providers {
            if !USER_POOL_PROVIDER.is_match(&cip.provider_name) {
                return Err(invalid(format!(
                    "Invalid Cognito Identity Provider name: {}. Expected cognito-idp.<region>.amazonaws.com/<user pool id>.",
                    cip.provider_name
                )));
            }
        }
        let keys: Vec<String> = self
            .cognito_identity_providers
            .iter()
            .map(|c| format!("{}:{}", c.provider_name, c.client_id))
            .collect();
        reject_duplicates("CognitoIdentityProvider", keys.iter().map(String::as_str))?;
        Ok(())
    }

    /// Every provider name a role mapping or principal-tag map may name.
    pub fn provider_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.supported_login_providers.keys().cloned().collect();
        names.extend(
            self.cognito_identity_providers
                .iter()
                .map(|c| format!("{}:{}", c.provider_name, c.client_id)),
        );
        names.extend(
            self.cognito_identity_providers
                .iter()
                .map(|c| c.provider_name.clone()),
        );
        names.extend(
            self.openid_connect_provider_arns
                .iter()
                .filter_map(|a| oidc_provider_name(a))
                .map(str::to_owned),
        );
        names.extend(self.saml_provider_arns.iter().cloned());
        names
    }

    /// Whether role mappings may name `provider` (user pools are named
    /// `<provider name>:<client id>` there, as AWS documents).
    fn is_role_mapping_provider(&self, provider: &str) -> bool {
        self.supported_login_providers.contains_key(provider)
            || self
                .cognito_identity_providers
                .iter()
                .any(|c| provider == format!("{}:{}", c.provider_name, c.client_id))
            || self
                .openid_connect_provider_arns
                .iter()
                .any(|a| oidc_provider_name(a) == Some(provider))
            || self.saml_provider_arns.iter().any(|a| a == provider)
    }
}

/// Access to a role is refused in AWS's words (AWS answers malformed role
/// ARNs this way too: it cannot pass a role that is not one).
fn forbidden_role(arn: &str) -> DomainError {
    DomainError::NotAuthorized(format!("Access to Role '{arn}' is forbidden."))
}

/// Which accounts' roles the pools of an account may use. AWS stops a pool
/// from naming another account's role with `iam:PassRole`; Cognate has no
/// IAM, so the rule is explicit: a role ARN must be of the pool's own
/// account, or have an empty account field (`arn:aws:iam:::role/NAME`, Ceph
/// RGW's form), or be of an account the operator lists for the pool's
/// account (`[[accounts]] trusted_role_accounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleTrust {
    extra: BTreeMap<AccountId, BTreeSet<String>>,
}

impl RoleTrust {
    /// Trust, for each account, the roles of the accounts listed with it.
    pub fn new(extra: impl IntoIterator<Item = (AccountId, Vec<String>)>) -> Self {
        let mut map: BTreeMap<AccountId, BTreeSet<String>> = BTreeMap::new();
        for (account, trusted) in extra {
            map.entry(account).or_default().extend(trusted);
        }
        RoleTrust { extra: map }
    }

    /// Whether a pool of `account` may pass `role_arn` to the STS. A role
    /// that is not one is refused as AWS refuses it; so is another
    /// account's role, naming the role.
    pub fn check(&self, account: &AccountId, role_arn: &str) -> DomainResult<()> {
        let Some(role_account) = role_arn_account(role_arn) else {
            return Err(forbidden_role(role_arn));
        };
        let trusted = role_account.is_empty()
            || role_account == account.as_str()
            || self
                .extra
                .get(account)
                .is_some_and(|t| t.contains(role_account));
        if trusted {
            Ok(())
        } else {
            Err(forbidden_role(role_arn))
        }
    }
}

/// The account field of a role ARN (empty for Ceph's form), if it is one.
fn role_arn_account(arn: &str) -> Option<&str> {
    if !is_role_arn(arn) {
        return None;
    }
    arn.split(':').nth(4)
}

/// Check SetIdentityPoolRoles input against the pool it is for: every role
/// (pool roles and rule roles) must be one the pool's account may pass.
pub fn check_roles(
    pool: &IdentityPool,
    trust: &RoleTrust,
    roles: &BTreeMap<String, String>,
    role_mappings: &BTreeMap<String, RoleMapping>,
) -> DomainResult<()> {
    let settings = &pool.settings;
    for arn in roles.values() {
        trust.check(&pool.account_id, arn)?;
    }
    for (provider, mapping) in role_mappings {
        if !settings.is_role_mapping_provider(provider) {
            return Err(invalid(format!(
                "{provider} is not a valid RoleMapping ProviderName or is not a configured provider."
            )));
        }
        if mapping.ambiguous_role_resolution.is_none() {
            return Err(invalid(format!(
                "AmbiguousRoleResolution is required for the role mapping of {provider}."
            )));
        }
        match (mapping.mapping_type, &mapping.rules_configuration) {
            (RoleMappingType::Rules, None) => {
                return Err(invalid(format!(
                    "RulesConfiguration is required for the Rules role mapping of {provider}."
                )));
            }
            (RoleMappingType::Rules, Some(rc)) if rc.rules.len() > MAX_RULES_PER_MAPPING => {
                return Err(invalid(format!(
                    "Too many rules for {provider}: {} given, at most {MAX_RULES_PER_MAPPING} allowed.",
                    rc.rules.len()
                )));
            }
            (RoleMappingType::Token, Some(_)) => {
                return Err(invalid(format!(
                    "RulesConfiguration is only valid for a Rules role mapping; {provider} is of type Token."
                )));
            }
            _ => {}
        }
        for rule in mapping
            .rules_configuration
            .iter()
            .flat_map(|rc| rc.rules.iter())
        {
            trust.check(&pool.account_id, &rule.role_arn)?;
        }
    }
    Ok(())
}

/// Check tags against the pool's limit after a change.
pub fn check_tag_count(tags: &BTreeMap<String, String>) -> DomainResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(DomainError::LimitExceeded(format!(
            "An identity pool can have at most {MAX_TAGS} tags; this request would leave it with {}.",
            tags.len()
        )));
    }
    Ok(())
}

impl PoolSettings {
    /// **The guest rule**: whether the pool serves unauthenticated
    /// identities now (`AllowUnauthenticatedIdentities`). Once it is turned
    /// off, a guest is refused everywhere: no new guest (GetId), no token
    /// or credentials for an existing one (GetOpenIdToken,
    /// GetCredentialsForIdentity), and a guest's own Cognate token is no
    /// login. Every check of it calls this, except the guest insert, which
    /// must decide in the same statement that writes the row:
    /// [`Store::insert_guest_identity_if_pool_takes_guests`](crate::ports::Store::insert_guest_identity_if_pool_takes_guests)
    /// applies this condition there (in SQL in the store crate; the memory
    /// store calls this method).
    pub fn takes_guests(&self) -> bool {
        self.allow_unauthenticated
    }

    /// Whether GetOpenIdToken (the basic flow) is allowed: unless the pool
    /// says `AllowClassicFlow: false` explicitly. AWS hands out OpenID
    /// tokens for pools created without the field (aws-cli issue 7652).
    pub fn basic_flow_allowed(&self) -> bool {
        self.allow_classic_flow != Some(false)
    }
}

impl IdentityPool {
    /// Whether `account` may see this pool.
    pub fn is_owned_by(&self, account: &AccountId) -> bool {
        &self.account_id == account
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PoolSettings {
        PoolSettings {
            name: "pool".into(),
            supported_login_providers: [("accounts.google.com".to_owned(), "app".to_owned())]
                .into(),
            cognito_identity_providers: vec![CognitoIdentityProvider {
                provider_name: "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc".into(),
                client_id: "client".into(),
                server_side_token_check: false,
            }],
            ..Default::default()
        }
    }

    fn rules(n: usize) -> RoleMapping {
        RoleMapping {
            mapping_type: RoleMappingType::Rules,
            ambiguous_role_resolution: Some(AmbiguousRoleResolution::Deny),
            rules_configuration: Some(RulesConfiguration {
                rules: (0..n)
                    .map(|i| MappingRule {
                        claim: "c".into(),
                        match_type: MatchType::Equals,
                        value: i.to_string(),
                        role_arn: "arn:aws:iam::123456789012:role/r".into(),
                    })
                    .collect(),
            }),
        }
    }

    #[test]
    fn role_arns_with_an_account_or_an_empty_account_are_accepted() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/Cognito_Auth"));
        assert!(is_role_arn("arn:aws:iam:::role/S3Access"));
        assert!(is_role_arn("arn:aws:iam::123456789012:role/path/to/role"));
        assert!(!is_role_arn("my-stack-SomeRole"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/bob"));
    }

    fn pool() -> IdentityPool {
        IdentityPool {
            id: crate::test_support::named_pool_id("p"),
            account_id: AccountId::parse("123456789012").unwrap(),
            settings: settings(),
            tags: BTreeMap::new(),
            roles: BTreeMap::new(),
            role_mappings: BTreeMap::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn check(
        roles: &BTreeMap<String, String>,
        m: &BTreeMap<String, RoleMapping>,
    ) -> DomainResult<()> {
        check_roles(&pool(), &RoleTrust::default(), roles, m)
    }

    #[test]
    fn a_pool_may_use_its_own_accounts_roles_and_ceph_roles_only() {
        let own = AccountId::parse("123456789012").unwrap();
        let trust = RoleTrust::default();
        trust
            .check(&own, "arn:aws:iam::123456789012:role/r")
            .unwrap();
        trust.check(&own, "arn:aws:iam:::role/r").unwrap();
        let err = trust
            .check(&own, "arn:aws:iam::999999999999:role/theirs")
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::NotAuthorized(m) if m == "Access to Role 'arn:aws:iam::999999999999:role/theirs' is forbidden."),
            "{err:?}"
        );
    }

    #[test]
    fn an_operator_may_trust_another_accounts_roles_for_one_account() {
        let own = AccountId::parse("123456789012").unwrap();
        let other = AccountId::parse("111111111111").unwrap();
        let trust = RoleTrust::new([(own.clone(), vec!["999999999999".to_owned()])]);
        trust
            .check(&own, "arn:aws:iam::999999999999:role/theirs")
            .unwrap();
        assert!(trust
            .check(&other, "arn:aws:iam::999999999999:role/theirs")
            .is_err());
    }

    #[test]
    fn a_rule_naming_another_accounts_role_is_refused() {
        let mut m = rules(1);
        m.rules_configuration.as_mut().unwrap().rules[0].role_arn =
            "arn:aws:iam::999999999999:role/theirs".into();
        let mappings = [("accounts.google.com".to_owned(), m)].into();
        assert!(matches!(
            check(&BTreeMap::new(), &mappings),
            Err(DomainError::NotAuthorized(_))
        ));
    }

    #[test]
    fn a_malformed_role_arn_is_forbidden_as_aws_says() {
        let roles = [("authenticated".to_owned(), "SomeRole".to_owned())].into();
        let err = check(&roles, &BTreeMap::new()).unwrap_err();
        assert!(
            matches!(err, DomainError::NotAuthorized(m) if m == "Access to Role 'SomeRole' is forbidden.")
        );
    }

    #[test]
    fn a_role_mapping_must_name_a_configured_provider() {
        let mappings = [("graph.facebook.com".to_owned(), rules(1))].into();
        let err = check(&BTreeMap::new(), &mappings).unwrap_err();
        assert!(
            matches!(err, DomainError::InvalidParameter(m) if m.contains("is not a valid RoleMapping ProviderName"))
        );
        let user_pool = "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client".to_owned();
        let mappings = [(user_pool, rules(1))].into();
        check(&BTreeMap::new(), &mappings).unwrap();
    }

    #[test]
    fn rules_mappings_take_at_most_25_rules() {
        let ok = [("accounts.google.com".to_owned(), rules(25))].into();
        check(&BTreeMap::new(), &ok).unwrap();
        let too_many = [("accounts.google.com".to_owned(), rules(26))].into();
        assert!(matches!(
            check(&BTreeMap::new(), &too_many),
            Err(DomainError::InvalidParameter(_))
        ));
    }

    #[test]
    fn a_mapping_without_ambiguous_role_resolution_is_refused() {
        let mut m = rules(1);
        m.ambiguous_role_resolution = None;
        let mappings = [("accounts.google.com".to_owned(), m)].into();
        assert!(check(&BTreeMap::new(), &mappings).is_err());
    }

    #[test]
    fn a_rules_mapping_without_rules_is_refused_and_a_token_mapping_with_rules_too() {
        let mut m = rules(1);
        m.rules_configuration = None;
        let mappings = [("accounts.google.com".to_owned(), m)].into();
        assert!(check(&BTreeMap::new(), &mappings).is_err());
        let mut m = rules(1);
        m.mapping_type = RoleMappingType::Token;
        let mappings = [("accounts.google.com".to_owned(), m)].into();
        assert!(check(&BTreeMap::new(), &mappings).is_err());
    }

    #[test]
    fn unknown_login_providers_and_malformed_provider_arns_are_invalid() {
        let mut s = settings();
        s.supported_login_providers
            .insert("example.com".into(), "x".into());
        assert!(s.check().is_err());
        let mut s = settings();
        s.openid_connect_provider_arns = vec!["arn:aws:iam::1:role/x".into()];
        assert!(s.check().is_err());
        let mut s = settings();
        s.openid_connect_provider_arns =
            vec!["arn:aws:iam::123456789012:oidc-provider/idp.example.com".into()];
        s.check().unwrap();
        assert!(s.provider_names().contains(&"idp.example.com".to_owned()));
    }

    #[test]
    fn a_developer_provider_may_not_take_a_public_provider_name() {
        let mut s = settings();
        s.developer_provider_name =
            Some(crate::ids::ProviderName::try_from("graph.facebook.com").unwrap());
        assert!(s.check().is_err());
        s.developer_provider_name =
            Some(crate::ids::ProviderName::try_from("login.mycompany.myapp").unwrap());
        s.check().unwrap();
    }

    #[test]
    fn more_than_fifty_tags_exceed_the_limit() {
        let tags: BTreeMap<String, String> =
            (0..51).map(|i| (i.to_string(), String::new())).collect();
        assert!(matches!(
            check_tag_count(&tags),
            Err(DomainError::LimitExceeded(_))
        ));
        let tags: BTreeMap<String, String> =
            (0..50).map(|i| (i.to_string(), String::new())).collect();
        check_tag_count(&tags).unwrap();
    }
}
