//! SetIdentityPoolRoles / GetIdentityPoolRoles and principal-tag maps.

use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, MappingRule, MappingRuleMatchType, RoleMapping, RoleMappingType,
    RulesConfigurationType,
};

use crate::helpers::{
    assert_error_code, create_pool_with, get_principal_tags, get_roles, set_principal_tags,
    set_roles, spawn_app, TestApp,
};

const AUTH: &str = "arn:aws:iam::111111111111:role/Auth";
const UNAUTH: &str = "arn:aws:iam::111111111111:role/Unauth";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1";
const GOOGLE: &str = "accounts.google.com";

async fn pool_with_providers(app: &TestApp) -> String {
    let user_pool = aws_sdk_cognitoidentity::types::CognitoIdentityProvider::builder()
        .provider_name(USER_POOL)
        .client_id("app1")
        .build();
    create_pool_with(&app.client, "roles", true, |p| {
        p.supported_login_providers(GOOGLE, "g")
            .cognito_identity_providers(user_pool)
    })
    .await
}

fn rule(claim: &str, mt: MappingRuleMatchType, value: &str, role: &str) -> MappingRule {
    MappingRule::builder()
        .claim(claim)
        .match_type(mt)
        .value(value)
        .role_arn(role)
        .build()
        .unwrap()
}

fn rules_mapping(rules: Vec<MappingRule>) -> RoleMapping {
    let rules = RulesConfigurationType::builder().set_rules(Some(rules));
    let mapping = RoleMapping::builder().r#type(RoleMappingType::Rules);
    let mapping = mapping.ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny);
    let mapping = mapping.rules_configuration(rules.build().unwrap());
    mapping.build().unwrap()
}

/// SetIdentityPoolRoles with the authenticated role and one role mapping,
/// which must be refused as an invalid parameter; the message.
async fn refused_mapping(
    app: &TestApp,
    pool: &str,
    provider: &str,
    mapping: RoleMapping,
) -> String {
    let request = set_roles(&app.client, pool, &[("authenticated", AUTH)]);
    let refused = request.role_mappings(provider, mapping).send().await;
    assert_error_code(refused, "InvalidParameterException")
}

#[tokio::test]
async fn roles_and_both_kinds_of_role_mapping_round_trip_with_rule_order_kept() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let rules = vec![
        rule(
            "isAdmin",
            MappingRuleMatchType::Equals,
            "yes",
            "arn:aws:iam::111111111111:role/Admin",
        ),
        rule(
            "email",
            MappingRuleMatchType::Contains,
            "@corp",
            "arn:aws:iam::111111111111:role/Corp",
        ),
        rule(
            "sub",
            MappingRuleMatchType::StartsWith,
            "a",
            "arn:aws:iam:::role/CephStyle",
        ),
        rule(
            "tier",
            MappingRuleMatchType::NotEqual,
            "free",
            "arn:aws:iam::111111111111:role/Paid",
        ),
    ];
    let token_mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Token)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::AuthenticatedRole)
        .build()
        .unwrap();
    set_roles(
        &app.client,
        &id,
        &[("authenticated", AUTH), ("unauthenticated", UNAUTH)],
    )
    .role_mappings(GOOGLE, rules_mapping(rules.clone()))
    .role_mappings(format!("{USER_POOL}:app1"), token_mapping.clone())
    .send()
    .await
    .expect("set roles");
    let got = get_roles(&app.client, &id).send().await.unwrap();
    assert_eq!(got.identity_pool_id.as_deref(), Some(id.as_str()));
    let roles = got.roles.unwrap();
    assert_eq!(roles["authenticated"], AUTH);
    assert_eq!(roles["unauthenticated"], UNAUTH);
    let mappings = got.role_mappings.unwrap();
    assert_eq!(mappings[GOOGLE], rules_mapping(rules));
    assert_eq!(mappings[&format!("{USER_POOL}:app1")], token_mapping);
}

#[tokio::test]
async fn set_identity_pool_roles_replaces_what_was_there() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let both = [("authenticated", AUTH), ("unauthenticated", UNAUTH)];
    set_roles(&app.client, &id, &both).send().await.unwrap();
    let unauthenticated_only = set_roles(&app.client, &id, &[("unauthenticated", UNAUTH)]);
    unauthenticated_only.send().await.unwrap();
    let got = get_roles(&app.client, &id).send().await.unwrap();
    let roles = got.roles.unwrap();
    assert_eq!(roles.len(), 1);
    assert!(got.role_mappings.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_role_that_is_not_a_role_arn_is_forbidden() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let user = ("authenticated", "arn:aws:iam::111111111111:user/NotARole");
    let refused = set_roles(&app.client, &id, &[user]).send().await;
    let message = assert_error_code(refused, "NotAuthorizedException");
    assert_eq!(
        message,
        "Access to Role 'arn:aws:iam::111111111111:user/NotARole' is forbidden."
    );
}

#[tokio::test]
async fn a_role_key_other_than_authenticated_or_unauthenticated_fails_validation() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let refused = set_roles(&app.client, &id, &[("admin", AUTH)]).send().await;
    let message = assert_error_code(refused, "ValidationException");
    assert!(message.contains("(un)?authenticated"), "{message}");
}

#[tokio::test]
async fn role_mappings_are_checked_against_the_pool_and_aws_limits() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    // A provider the pool does not have.
    let one_rule = rules_mapping(vec![rule("a", MappingRuleMatchType::Equals, "b", AUTH)]);
    let message = refused_mapping(&app, &id, "graph.facebook.com", one_rule).await;
    assert_eq!(message, "graph.facebook.com is not a valid RoleMapping ProviderName or is not a configured provider.");
    // 26 rules.
    let many: Vec<_> = (0..26)
        .map(|i| rule("c", MappingRuleMatchType::Equals, &i.to_string(), AUTH))
        .collect();
    refused_mapping(&app, &id, GOOGLE, rules_mapping(many)).await;
    // Rules type without rules.
    let no_rules = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .build()
        .unwrap();
    refused_mapping(&app, &id, GOOGLE, no_rules).await;
    // Token type without AmbiguousRoleResolution.
    let no_resolution = RoleMapping::builder()
        .r#type(RoleMappingType::Token)
        .build()
        .unwrap();
    refused_mapping(&app, &id, &format!("{USER_POOL}:app1"), no_resolution).await;
    // Nothing was written by the refused calls.
    let got = get_roles(&app.client, &id).send().await.unwrap();
    assert!(got.roles.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn principal_tag_maps_take_defaults_or_custom_tags_per_provider() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let unset = get_principal_tags(&app.client, &id, GOOGLE).send().await;
    let unset = unset.unwrap();
    assert_eq!(unset.use_defaults, Some(false));
    assert!(unset.principal_tags.unwrap_or_default().is_empty());

    let set = set_principal_tags(&app.client, &id, GOOGLE, false)
        .principal_tags("department", "custom:dept")
        .principal_tags("email", "email")
        .send()
        .await
        .unwrap();
    assert_eq!(set.principal_tags.as_ref().unwrap().len(), 2);
    let got = get_principal_tags(&app.client, &id, GOOGLE).send().await;
    let got = got.unwrap();
    assert_eq!(got.use_defaults, Some(false));
    assert_eq!(got.principal_tags.unwrap()["department"], "custom:dept");

    let defaults = set_principal_tags(&app.client, &id, USER_POOL, true);
    defaults.send().await.unwrap();
    let got = get_principal_tags(&app.client, &id, USER_POOL).send().await;
    let got = got.unwrap();
    assert_eq!(got.use_defaults, Some(true));

    let amazon = set_principal_tags(&app.client, &id, "www.amazon.com", true);
    assert_error_code(amazon.send().await, "InvalidParameterException");
}
