//! Steps many api tests take: one SDK call, one raw request or one check
//! each, so that the tests read as what they do.

use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, MappingRule, MappingRuleMatchType, RoleMapping, RoleMappingType,
    RulesConfigurationType,
};
use aws_sdk_cognitoidentity::Client;

use crate::helpers::{describe_identity, describe_pool, list_identities, open_id_token};

/// The token of a GetOpenIdToken that must succeed.
pub async fn issued_token(client: &Client, identity: &str, logins: &[(&str, &str)]) -> String {
    open_id_token(client, identity, logins)
        .send()
        .await
        .expect("GetOpenIdToken")
        .token
        .expect("a token")
}

/// The provider names DescribeIdentity lists for `identity`.
pub async fn identity_logins(client: &Client, identity: &str) -> Vec<String> {
    describe_identity(client, identity)
        .send()
        .await
        .expect("DescribeIdentity")
        .logins
        .unwrap_or_default()
}

/// The ids of the first page (60) of ListIdentities with HideDisabled.
pub async fn enabled_identity_ids(client: &Client, pool: &str) -> Vec<String> {
    list_identities(client, pool, 60)
        .hide_disabled(true)
        .send()
        .await
        .expect("list identities")
        .identities
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.identity_id.expect("an identity id"))
        .collect()
}

/// The name DescribeIdentityPool gives `pool`.
pub async fn pool_name(client: &Client, pool: &str) -> String {
    describe_pool(client, pool)
        .send()
        .await
        .expect("DescribeIdentityPool")
        .identity_pool_name
}

/// The JSON body of a response.
pub async fn json_body(res: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&res.bytes().await.expect("a body")).expect("JSON body")
}

/// A GET of `url`.
pub async fn get(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.get(url).send().await.expect("GET answered")
}

/// Whether `program` with `args` runs and succeeds; else skip with `what`
/// (a failure in CI).
pub fn tool_works(program: &str, args: &[&str], what: &str) -> bool {
    let ok = std::process::Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        cognate_tests::skip(what);
    }
    ok
}

/// Asserts that a command succeeded, showing its stderr if not.
pub fn assert_ran(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Rules role mapping with one rule (`claim` equals `value`: `role`),
/// resolving the other cases by `ambiguous`.
pub fn equals_rule_mapping(
    claim: &str,
    value: &str,
    role: impl Into<String>,
    ambiguous: AmbiguousRoleResolutionType,
) -> RoleMapping {
    let rule = MappingRule::builder()
        .claim(claim)
        .match_type(MappingRuleMatchType::Equals)
        .value(value)
        .role_arn(role)
        .build()
        .expect("a mapping rule");
    let rules = RulesConfigurationType::builder()
        .rules(rule)
        .build()
        .expect("a rules configuration");
    RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(ambiguous)
        .rules_configuration(rules)
        .build()
        .expect("a role mapping")
}
