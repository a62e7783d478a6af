//! GetCredentialsForIdentity's rules: which role an identity gets (pool
//! roles, role mappings of type Token or Rules, CustomRoleArn,
//! AmbiguousRoleResolution), and the port to the STS that turns Cognate's
//! token into AWS-style credentials.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::DomainError;
use crate::pool::{AmbiguousRoleResolution, IdentityPool, MatchType, RoleMapping, RoleMappingType};

/// AWS's message when the pool has no role for the caller, or STS refused it.
pub const INVALID_POOL_CONFIGURATION: &str =
    "Invalid identity pool configuration. Check assigned IAM roles for this pool.";

/// Temporary credentials from STS.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AccessKeyId.
    pub access_key_id: String,
    /// SecretKey (SecretAccessKey in STS).
    pub secret_key: String,
    /// SessionToken.
    pub session_token: String,
    /// Expiration.
    pub expiration: DateTime<Utc>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// Why STS did not hand out credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    /// STS refused the role (trust policy, unknown role): AccessDenied and kin.
    #[error("STS refused the role: {0}")]
    RoleRefused(String),
    /// STS refused the token itself (InvalidIdentityToken, ExpiredToken, IDPRejectedClaim).
    #[error("STS refused the token: {0}")]
    TokenRefused(String),
    /// STS could not be reached in time, or answered something unusable.
    #[error("STS unavailable: {0}")]
    Unavailable(String),
    /// No STS endpoint is configured.
    #[error("no STS endpoint is configured")]
    NotConfigured,
}

/// The STS Cognate asks for credentials (AssumeRoleWithWebIdentity).
#[async_trait]
pub trait CredentialsIssuer: Send + Sync + 'static {
    /// Assume `role_arn` with Cognate's `token` for the identity.
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        duration_seconds: u32,
    ) -> Result<Credentials, StsError>;
}

/// The claims of one verified upstream login, for role mappings.
#[derive(Debug, Clone, Copy)]
pub struct LoginClaims<'a> {
    /// The provider name the login was presented under.
    pub provider: &'a str,
    /// The token's audience (user pools map as `<provider>:<aud>`).
    pub audience: &'a str,
    /// Every claim of the token.
    pub claims: &'a Map<String, Value>,
}

fn role(pool: &IdentityPool, which: &str) -> Result<String, DomainError> {
    pool.roles.get(which).cloned().ok_or_else(|| {
        DomainError::InvalidIdentityPoolConfiguration(INVALID_POOL_CONFIGURATION.into())
    })
}

fn ambiguous(
    pool: &IdentityPool,
    provider: &str,
    mapping: &RoleMapping,
) -> Result<String, DomainError> {
    match mapping.ambiguous_role_resolution {
        Some(AmbiguousRoleResolution::Deny) => Err(DomainError::NotAuthorized(format!(
            "The ambiguous role mapping rules for: {provider} denied this request."
        ))),
        Some(AmbiguousRoleResolution::AuthenticatedRole) | None => role(pool, "authenticated"),
    }
}

/// The values of a claim as strings (an array claim has several).
fn claim_values(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.to_string()],
    }
}

fn rule_matches(match_type: MatchType, values: &[String], wanted: &str) -> bool {
    match match_type {
        MatchType::Equals => values.iter().any(|v| v == wanted),
        MatchType::Contains => values.iter().any(|v| v.contains(wanted)),
        MatchType::StartsWith => values.iter().any(|v| v.starts_with(wanted)),
        // A missing claim matches no rule; a present one matches when no value equals.
        MatchType::NotEqual => !values.is_empty() && values.iter().all(|v| v != wanted),
    }
}

/// The `Role` attribute of a SAML assertion (a claim of SAML logins).
pub const SAML_ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";

/// Whether a `Logins` key is a SAML provider ARN.
fn is_saml_provider(provider: &str) -> bool {
    provider.starts_with("arn:") && provider.contains(":saml-provider/")
}

/// The role ARNs a SAML login's assertion grants for its own provider: the
/// `role-arn,provider-arn` pairs (either order) of its Role attribute.
pub fn saml_roles(login: &LoginClaims<'_>) -> Vec<String> {
    claim_values(login.claims, SAML_ROLE_ATTRIBUTE)
        .iter()
        .filter_map(|pair| {
            let (a, b) = pair.split_once(',')?;
            let (a, b) = (a.trim(), b.trim());
            let (role, provider) = if a.contains(":role/") { (a, b) } else { (b, a) };
            (role.starts_with("arn:") && role.contains(":role/") && provider == login.provider)
                .then(|| role.to_owned())
        })
        .collect()
}

/// A SAML login's role: `CustomRoleArn` when the assertion grants it, else
/// the assertion's only role; `None` when the assertion grants none.
fn saml_role(
    login: &LoginClaims<'_>,
    custom_role_arn: Option<&str>,
) -> Result<Option<String>, DomainError> {
    let roles = saml_roles(login);
    if roles.is_empty() {
        return Ok(None);
    }
    if let Some(custom) = custom_role_arn {
        return if roles.iter().any(|r| r == custom) {
            Ok(Some(custom.to_owned()))
        } else {
            Err(DomainError::NotAuthorized(format!(
                "Custom role arn {custom} is not in the roles the SAML assertion grants."
            )))
        };
    }
    match roles.as_slice() {
        [only] => Ok(Some(only.clone())),
        _ => Err(DomainError::NotAuthorized(
            "The SAML assertion grants several roles: choose one with CustomRoleArn.".into(),
        )),
    }
}

/// The role an identity's credentials are for.
///
/// - Unauthenticated: the pool's `unauthenticated` role.
/// - Authenticated: the first login (in provider-name order) that has a
///   role mapping decides; with none, the `authenticated` role.
///   - Token: `CustomRoleArn` if it is among `cognito:roles`, else
///     `cognito:preferred_role`, else the only entry of `cognito:roles`;
///     otherwise ambiguous. For a SAML login the token's roles are its
///     assertion's Role attribute (for that provider): `CustomRoleArn` if
///     granted there, else the only one; several or none: ambiguous.
///   - Rules: the first rule that matches (Equals, Contains, StartsWith,
///     NotEqual; on an array claim, any element); none: ambiguous.
///   - Ambiguous: `AuthenticatedRole` falls back to the pool's
///     authenticated role; `Deny` refuses with AWS's message.
/// - A missing role is `InvalidIdentityPoolConfigurationException`.
/// - `CustomRoleArn` that the token does not grant is refused.
/// - SAML logins with no role mapping (the first in provider order): the
///   role their assertion's Role attribute grants for that provider; with
///   several, `CustomRoleArn` picks one of them (another is refused,
///   none is refused); an assertion granting none falls through to the
///   pool's authenticated role.
pub fn choose_role(
    pool: &IdentityPool,
    authenticated: bool,
    logins: &[LoginClaims<'_>],
    custom_role_arn: Option<&str>,
) -> Result<String, DomainError> {
    if !authenticated {
        return role(pool, "unauthenticated");
    }
    let mut sorted: Vec<&LoginClaims<'_>> = logins.iter().collect();
    sorted.sort_by_key(|l| l.provider);
    for login in sorted {
        let user_pool_key = format!("{}:{}", login.provider, login.audience);
        let (key, mapping) = match pool
            .role_mappings
            .get_key_value(&user_pool_key)
            .or_else(|| pool.role_mappings.get_key_value(login.provider))
        {
            Some(found) => found,
            None => continue,
        };
        return match mapping.mapping_type {
            // A SAML assertion's roles are its Role attribute: with one, it
            // is the role; CustomRoleArn picks among several; else ambiguous.
            RoleMappingType::Token if is_saml_provider(login.provider) => {
                let roles = saml_roles(login);
                match (custom_role_arn, roles.as_slice()) {
                    (Some(custom), _) if roles.iter().any(|r| r == custom) => Ok(custom.to_owned()),
                    (Some(custom), _) => Err(DomainError::NotAuthorized(format!(
                        "Custom role arn {custom} is not in the roles the SAML assertion grants."
                    ))),
                    (None, [only]) => Ok(only.clone()),
                    (None, _) => ambiguous(pool, key, mapping),
                }
            }
            RoleMappingType::Token => {
                let roles = claim_values(login.claims, "cognito:roles");
                if let Some(custom) = custom_role_arn {
                    return if roles.iter().any(|r| r == custom) {
                        Ok(custom.to_owned())
                    } else {
                        Err(DomainError::NotAuthorized(format!(
                            "Custom role arn {custom} is not in the roles the token grants."
                        )))
                    };
                }
                if let Some(preferred) =
                    claim_values(login.claims, "cognito:preferred_role").first()
                {
                    return Ok(preferred.clone());
                }
                match roles.as_slice() {
                    [only] => Ok(only.clone()),
                    _ => ambiguous(pool, key, mapping),
                }
            }
            RoleMappingType::Rules => {
                let rules = mapping
                    .rules_configuration
                    .as_ref()
                    .map(|rc| rc.rules.as_slice())
                    .unwrap_or_default();
                match rules.iter().find(|rule| {
                    rule_matches(
                        rule.match_type,
                        &claim_values(login.claims, &rule.claim),
                        &rule.value,
                    )
                }) {
                    Some(rule) => Ok(rule.role_arn.clone()),
                    None => ambiguous(pool, key, mapping),
                }
            }
        };
    }
    // SAML logins without a mapping: the roles their assertion grants.
    let mut saml: Vec<&LoginClaims<'_>> = logins
        .iter()
        .filter(|l| is_saml_provider(l.provider))
        .collect();
    saml.sort_by_key(|l| l.provider);
    if let Some(login) = saml.first() {
        if let Some(chosen) = saml_role(login, custom_role_arn)? {
            return Ok(chosen);
        }
    }
    if let Some(custom) = custom_role_arn {
        if pool.roles.get("authenticated").map(String::as_str) != Some(custom) {
            return Err(DomainError::NotAuthorized(format!(
                "Custom role arn {custom} is not allowed for this identity."
            )));
        }
    }
    role(pool, "authenticated")
}

impl From<StsError> for DomainError {
    fn from(err: StsError) -> Self {
        match err {
            StsError::RoleRefused(_) => {
                DomainError::InvalidIdentityPoolConfiguration(INVALID_POOL_CONFIGURATION.into())
            }
            StsError::NotConfigured => DomainError::ExternalService(
                "No security token service is configured for this deployment.".into(),
            ),
            StsError::TokenRefused(_) => DomainError::NotAuthorized(
                "Invalid login token. The security token service refused the identity token."
                    .into(),
            ),
            StsError::Unavailable(_) => DomainError::ExternalService(
                "The security token service could not be reached.".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ids::AccountId;
    use crate::pool::{MappingRule, PoolSettings, RulesConfiguration};

    const AUTH: &str = "arn:aws:iam::123456789012:role/auth";
    const UNAUTH: &str = "arn:aws:iam::123456789012:role/unauth";
    const GOOGLE: &str = "accounts.google.com";
    const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_X";

    fn pool(roles: &[(&str, &str)], mappings: Vec<(&str, RoleMapping)>) -> IdentityPool {
        IdentityPool {
            id: crate::test_support::named_pool_id("p"),
            account_id: AccountId::parse("123456789012").unwrap(),
            settings: PoolSettings::default(),
            tags: BTreeMap::new(),
            roles: roles
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            role_mappings: mappings
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn rules(
        resolution: AmbiguousRoleResolution,
        rules: &[(&str, MatchType, &str, &str)],
    ) -> RoleMapping {
        RoleMapping {
            mapping_type: RoleMappingType::Rules,
            ambiguous_role_resolution: Some(resolution),
            rules_configuration: Some(RulesConfiguration {
                rules: rules
                    .iter()
                    .map(|(c, m, v, r)| MappingRule {
                        claim: c.to_string(),
                        match_type: *m,
                        value: v.to_string(),
                        role_arn: r.to_string(),
                    })
                    .collect(),
            }),
        }
    }

    fn token_mapping(resolution: AmbiguousRoleResolution) -> RoleMapping {
        RoleMapping {
            mapping_type: RoleMappingType::Token,
            ambiguous_role_resolution: Some(resolution),
            rules_configuration: None,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn login<'a>(
        provider: &'a str,
        aud: &'a str,
        claims: &'a Map<String, Value>,
    ) -> LoginClaims<'a> {
        LoginClaims {
            provider,
            audience: aud,
            claims,
        }
    }

    #[test]
    fn unauthenticated_identities_get_the_unauthenticated_role_or_a_configuration_error() {
        let p = pool(&[("unauthenticated", UNAUTH)], vec![]);
        assert_eq!(choose_role(&p, false, &[], None).unwrap(), UNAUTH);
        let p = pool(&[("authenticated", AUTH)], vec![]);
        let err = choose_role(&p, false, &[], None).unwrap_err();
        assert!(
            matches!(err, DomainError::InvalidIdentityPoolConfiguration(m) if m == INVALID_POOL_CONFIGURATION)
        );
    }

    #[test]
    fn authenticated_identities_without_a_mapping_get_the_authenticated_role() {
        let p = pool(
            &[("authenticated", AUTH), ("unauthenticated", UNAUTH)],
            vec![],
        );
        let c = claims(serde_json::json!({"sub": "1"}));
        assert_eq!(
            choose_role(&p, true, &[login(GOOGLE, "app", &c)], None).unwrap(),
            AUTH
        );
        assert_eq!(choose_role(&p, true, &[], None).unwrap(), AUTH);
        let p = pool(&[("unauthenticated", UNAUTH)], vec![]);
        assert!(matches!(
            choose_role(&p, true, &[], None),
            Err(DomainError::InvalidIdentityPoolConfiguration(_))
        ));
    }

    #[test]
    fn rules_are_evaluated_in_order_and_the_first_match_wins() {
        let mapping = rules(
            AmbiguousRoleResolution::Deny,
            &[
                ("tier", MatchType::Equals, "gold", "arn:aws:iam:::role/gold"),
                (
                    "email",
                    MatchType::Contains,
                    "@corp",
                    "arn:aws:iam:::role/corp",
                ),
                (
                    "sub",
                    MatchType::StartsWith,
                    "adm",
                    "arn:aws:iam:::role/admin",
                ),
                (
                    "tier",
                    MatchType::NotEqual,
                    "free",
                    "arn:aws:iam:::role/paid",
                ),
            ],
        );
        let p = pool(&[("authenticated", AUTH)], vec![(GOOGLE, mapping)]);
        let case = |v: Value| {
            let c = claims(v);
            choose_role(&p, true, &[login(GOOGLE, "app", &c)], None)
        };
        assert_eq!(
            case(serde_json::json!({"tier": "gold", "email": "a@corp"})).unwrap(),
            "arn:aws:iam:::role/gold"
        );
        assert_eq!(
            case(serde_json::json!({"tier": "free", "email": "a@corp.com"})).unwrap(),
            "arn:aws:iam:::role/corp"
        );
        assert_eq!(
            case(serde_json::json!({"tier": "free", "sub": "admin-1"})).unwrap(),
            "arn:aws:iam:::role/admin"
        );
        assert_eq!(
            case(serde_json::json!({"tier": "silver"})).unwrap(),
            "arn:aws:iam:::role/paid"
        );
        let err = case(serde_json::json!({"tier": "free"})).unwrap_err();
        assert!(
            matches!(err, DomainError::NotAuthorized(m) if m == "The ambiguous role mapping rules for: accounts.google.com denied this request.")
        );
    }

    #[test]
    fn not_equal_does_not_match_a_missing_claim_and_array_claims_match_any_element() {
        let mapping = rules(
            AmbiguousRoleResolution::AuthenticatedRole,
            &[
                (
                    "cognito:groups",
                    MatchType::Equals,
                    "admins",
                    "arn:aws:iam:::role/admins",
                ),
                ("dept", MatchType::NotEqual, "x", "arn:aws:iam:::role/notx"),
            ],
        );
        let p = pool(&[("authenticated", AUTH)], vec![(GOOGLE, mapping)]);
        let c = claims(serde_json::json!({"cognito:groups": ["users", "admins"]}));
        assert_eq!(
            choose_role(&p, true, &[login(GOOGLE, "app", &c)], None).unwrap(),
            "arn:aws:iam:::role/admins"
        );
        let c = claims(serde_json::json!({"other": 1}));
        assert_eq!(
            choose_role(&p, true, &[login(GOOGLE, "app", &c)], None).unwrap(),
            AUTH,
            "ambiguous falls back to the authenticated role"
        );
    }

    #[test]
    fn ambiguous_with_authenticated_role_but_no_such_role_is_a_configuration_error() {
        let mapping = rules(
            AmbiguousRoleResolution::AuthenticatedRole,
            &[("a", MatchType::Equals, "b", AUTH)],
        );
        let p = pool(&[], vec![(GOOGLE, mapping)]);
        let c = claims(serde_json::json!({}));
        assert!(matches!(
            choose_role(&p, true, &[login(GOOGLE, "app", &c)], None),
            Err(DomainError::InvalidIdentityPoolConfiguration(_))
        ));
    }

    #[test]
    fn token_mappings_use_custom_then_preferred_then_a_single_role() {
        let key = format!("{USER_POOL}:client");
        let p = pool(
            &[("authenticated", AUTH)],
            vec![(key.as_str(), token_mapping(AmbiguousRoleResolution::Deny))],
        );
        let both = claims(serde_json::json!({
            "cognito:roles": ["arn:aws:iam:::role/a", "arn:aws:iam:::role/b"],
            "cognito:preferred_role": "arn:aws:iam:::role/b"
        }));
        let l = [login(USER_POOL, "client", &both)];
        assert_eq!(
            choose_role(&p, true, &l, None).unwrap(),
            "arn:aws:iam:::role/b"
        );
        assert_eq!(
            choose_role(&p, true, &l, Some("arn:aws:iam:::role/a")).unwrap(),
            "arn:aws:iam:::role/a"
        );
        assert!(matches!(
            choose_role(&p, true, &l, Some("arn:aws:iam:::role/c")),
            Err(DomainError::NotAuthorized(_))
        ));
        let single = claims(serde_json::json!({"cognito:roles": ["arn:aws:iam:::role/a"]}));
        assert_eq!(
            choose_role(&p, true, &[login(USER_POOL, "client", &single)], None).unwrap(),
            "arn:aws:iam:::role/a"
        );
        let several = claims(
            serde_json::json!({"cognito:roles": ["arn:aws:iam:::role/a", "arn:aws:iam:::role/b"]}),
        );
        let err = choose_role(&p, true, &[login(USER_POOL, "client", &several)], None).unwrap_err();
        assert!(matches!(err, DomainError::NotAuthorized(m) if m.contains(&key)));
        let none = claims(serde_json::json!({}));
        assert!(choose_role(&p, true, &[login(USER_POOL, "client", &none)], None).is_err());
    }

    #[test]
    fn token_ambiguity_can_fall_back_to_the_authenticated_role() {
        let key = format!("{USER_POOL}:client");
        let p = pool(
            &[("authenticated", AUTH)],
            vec![(
                key.as_str(),
                token_mapping(AmbiguousRoleResolution::AuthenticatedRole),
            )],
        );
        let none = claims(serde_json::json!({}));
        assert_eq!(
            choose_role(&p, true, &[login(USER_POOL, "client", &none)], None).unwrap(),
            AUTH
        );
    }

    #[test]
    fn a_custom_role_without_a_token_mapping_must_be_the_authenticated_role() {
        let p = pool(&[("authenticated", AUTH)], vec![]);
        assert_eq!(choose_role(&p, true, &[], Some(AUTH)).unwrap(), AUTH);
        assert!(matches!(
            choose_role(&p, true, &[], Some("arn:aws:iam:::role/other")),
            Err(DomainError::NotAuthorized(_))
        ));
    }

    #[test]
    fn saml_logins_take_the_role_their_assertion_grants() {
        const SAML: &str = "arn:aws:iam::000000000000:saml-provider/corp";
        let p = pool(&[("authenticated", "arn:aws:iam:::role/auth")], vec![]);
        let one = claims(serde_json::json!({
            SAML_ROLE_ATTRIBUTE: format!("arn:aws:iam:::role/a,{SAML}")
        }));
        let l = login(SAML, "urn:amazon:webservices", &one);
        assert_eq!(
            choose_role(&p, true, &[l], None).unwrap(),
            "arn:aws:iam:::role/a"
        );
        assert!(choose_role(&p, true, &[l], Some("arn:aws:iam:::role/auth")).is_err());
        let several = claims(serde_json::json!({
            SAML_ROLE_ATTRIBUTE: [
                format!("arn:aws:iam:::role/a,{SAML}"),
                format!("{SAML},arn:aws:iam:::role/b"),
                "arn:aws:iam:::role/c,arn:aws:iam::000000000000:saml-provider/other",
            ]
        }));
        let l = login(SAML, "urn:amazon:webservices", &several);
        assert!(choose_role(&p, true, &[l], None).is_err());
        assert_eq!(
            choose_role(&p, true, &[l], Some("arn:aws:iam:::role/b")).unwrap(),
            "arn:aws:iam:::role/b"
        );
        // A role paired with another provider is not granted.
        assert!(choose_role(&p, true, &[l], Some("arn:aws:iam:::role/c")).is_err());
        let none = claims(serde_json::json!({}));
        let l = login(SAML, "urn:amazon:webservices", &none);
        assert_eq!(
            choose_role(&p, true, &[l], None).unwrap(),
            "arn:aws:iam:::role/auth"
        );
    }

    #[test]
    fn a_token_mapping_of_a_saml_provider_takes_the_assertions_roles() {
        const SAML: &str = "arn:aws:iam::000000000000:saml-provider/corp";
        let mapped = |ambiguous| {
            pool(
                &[("authenticated", "arn:aws:iam:::role/auth")],
                vec![(SAML, token_mapping(ambiguous))],
            )
        };
        let p = mapped(AmbiguousRoleResolution::Deny);
        let one = claims(serde_json::json!({
            SAML_ROLE_ATTRIBUTE: format!("arn:aws:iam:::role/a,{SAML}")
        }));
        let l = login(SAML, "urn:amazon:webservices", &one);
        assert_eq!(
            choose_role(&p, true, &[l], None).unwrap(),
            "arn:aws:iam:::role/a"
        );
        let several = claims(serde_json::json!({
            SAML_ROLE_ATTRIBUTE: [
                format!("arn:aws:iam:::role/a,{SAML}"),
                format!("arn:aws:iam:::role/b,{SAML}"),
            ]
        }));
        let l = login(SAML, "urn:amazon:webservices", &several);
        assert_eq!(
            choose_role(&p, true, &[l], Some("arn:aws:iam:::role/b")).unwrap(),
            "arn:aws:iam:::role/b"
        );
        assert!(matches!(
            choose_role(&p, true, &[l], Some("arn:aws:iam:::role/auth")),
            Err(DomainError::NotAuthorized(m)) if m.contains("SAML assertion")
        ));
        // Several without a choice, or none: the mapping's ambiguity rule.
        assert!(matches!(
            choose_role(&p, true, &[l], None),
            Err(DomainError::NotAuthorized(m)) if !m.contains("SAML")
        ));
        let p = mapped(AmbiguousRoleResolution::AuthenticatedRole);
        assert_eq!(
            choose_role(&p, true, &[l], None).unwrap(),
            "arn:aws:iam:::role/auth"
        );
        let none = claims(serde_json::json!({}));
        let l = login(SAML, "urn:amazon:webservices", &none);
        assert_eq!(
            choose_role(&p, true, &[l], None).unwrap(),
            "arn:aws:iam:::role/auth"
        );
    }

    #[test]
    fn sts_refusals_map_to_what_cognito_returns() {
        assert!(matches!(
            DomainError::from(StsError::RoleRefused("x".into())),
            DomainError::InvalidIdentityPoolConfiguration(_)
        ));
        assert!(matches!(
            DomainError::from(StsError::TokenRefused("x".into())),
            DomainError::NotAuthorized(_)
        ));
        assert!(matches!(
            DomainError::from(StsError::Unavailable("x".into())),
            DomainError::ExternalService(_)
        ));
    }
}

#[cfg(test)]
mod proptests {
    //! Role choice over what clients control: the claims of their tokens,
    //! the rules operators write, CustomRoleArn. Never a panic; a chosen
    //! role is always one the pool or the token named.

    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::ids::AccountId;
    use crate::pool::{MappingRule, PoolSettings, RulesConfiguration};
    use crate::test_support::{arb_json, arb_text};

    fn arb_match_type() -> impl Strategy<Value = MatchType> {
        prop_oneof![
            Just(MatchType::Equals),
            Just(MatchType::Contains),
            Just(MatchType::StartsWith),
            Just(MatchType::NotEqual),
        ]
    }

    fn arb_mapping() -> impl Strategy<Value = RoleMapping> {
        let rule = (arb_text(), arb_match_type(), arb_text(), arb_text()).prop_map(
            |(claim, match_type, value, role_arn)| MappingRule {
                claim,
                match_type,
                value,
                role_arn,
            },
        );
        (
            any::<bool>(),
            prop::option::of(prop_oneof![
                Just(AmbiguousRoleResolution::Deny),
                Just(AmbiguousRoleResolution::AuthenticatedRole)
            ]),
            prop::collection::vec(rule, 0..6),
        )
            .prop_map(|(token, ambiguous, rules)| RoleMapping {
                mapping_type: if token {
                    RoleMappingType::Token
                } else {
                    RoleMappingType::Rules
                },
                ambiguous_role_resolution: ambiguous,
                rules_configuration: Some(RulesConfiguration { rules }),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn role_choice_never_panics_and_chooses_a_named_role(
            claims in prop::collection::btree_map(arb_text(), arb_json(), 0..8),
            mapping in arb_mapping(),
            provider in prop_oneof![Just("accounts.google.com".to_owned()), arb_text()],
            audience in arb_text(),
            custom in prop::option::of(arb_text()),
            authenticated in any::<bool>(),
            with_roles in any::<bool>(),
        ) {
            let claims: Map<String, Value> = claims.into_iter().collect();
            let mut roles = BTreeMap::new();
            if with_roles {
                roles.insert("authenticated".to_owned(), "arn:aws:iam::1:role/a".to_owned());
                roles.insert("unauthenticated".to_owned(), "arn:aws:iam::1:role/u".to_owned());
            }
            let pool = IdentityPool {
                id: crate::test_support::named_pool_id("p"),
                account_id: AccountId::parse("1").unwrap(),
                settings: PoolSettings::default(),
                tags: BTreeMap::new(),
                roles: roles.clone(),
                role_mappings: [("accounts.google.com".to_owned(), mapping.clone())].into(),
                created_at: Utc::now(),
                updated_at: Utc::now(),
            };
            let login = LoginClaims { provider: &provider, audience: &audience, claims: &claims };
            if let Ok(role) = choose_role(&pool, authenticated, &[login], custom.as_deref()) {
                let from_rules = mapping
                    .rules_configuration
                    .iter()
                    .flat_map(|rc| rc.rules.iter())
                    .any(|r| r.role_arn == role);
                let from_claims = ["cognito:roles", "cognito:preferred_role"]
                    .iter()
                    .any(|c| claim_values(&claims, c).contains(&role))
                    || saml_roles(&login).contains(&role);
                prop_assert!(
                    roles.values().any(|r| r == &role) || from_rules || from_claims,
                    "{role} came from nowhere"
                );
            }
        }
    }
}
