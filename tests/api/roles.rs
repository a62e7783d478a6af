//! SetIdentityPoolRoles / GetIdentityPoolRoles and principal-tag maps.

use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, MappingRule, MappingRuleMatchType, RoleMapping, RoleMappingType,
    RulesConfigurationType,
};

use crate::helpers::{error_code, error_message, spawn_app, TestApp};

const AUTH: &str = "arn:aws:iam::111111111111:role/Auth";
const UNAUTH: &str = "arn:aws:iam::111111111111:role/Unauth";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1";

async fn pool_with_providers(app: &TestApp) -> String {
    app.client
        .create_identity_pool()
        .identity_pool_name("roles")
        .allow_unauthenticated_identities(true)
        .supported_login_providers("accounts.google.com", "g")
        .cognito_identity_providers(
            aws_sdk_cognitoidentity::types::CognitoIdentityProvider::builder()
                .provider_name(USER_POOL)
                .client_id("app1")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .identity_pool_id
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
    RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .rules_configuration(
            RulesConfigurationType::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
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
    app.client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH)
        .roles("unauthenticated", UNAUTH)
        .role_mappings("accounts.google.com", rules_mapping(rules.clone()))
        .role_mappings(format!("{USER_POOL}:app1"), token_mapping.clone())
        .send()
        .await
        .expect("set roles");
    let got = app
        .client
        .get_identity_pool_roles()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(got.identity_pool_id.as_deref(), Some(id.as_str()));
    let roles = got.roles.unwrap();
    assert_eq!(roles["authenticated"], AUTH);
    assert_eq!(roles["unauthenticated"], UNAUTH);
    let mappings = got.role_mappings.unwrap();
    assert_eq!(mappings["accounts.google.com"], rules_mapping(rules));
    assert_eq!(mappings[&format!("{USER_POOL}:app1")], token_mapping);
}

#[tokio::test]
async fn set_identity_pool_roles_replaces_what_was_there() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    app.client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH)
        .roles("unauthenticated", UNAUTH)
        .send()
        .await
        .unwrap();
    app.client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("unauthenticated", UNAUTH)
        .send()
        .await
        .unwrap();
    let got = app
        .client
        .get_identity_pool_roles()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    let roles = got.roles.unwrap();
    assert_eq!(roles.len(), 1);
    assert!(got.role_mappings.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_role_that_is_not_a_role_arn_is_forbidden() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", "arn:aws:iam::111111111111:user/NotARole")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    assert_eq!(
        error_message(&err),
        "Access to Role 'arn:aws:iam::111111111111:user/NotARole' is forbidden."
    );
}

#[tokio::test]
async fn a_role_key_other_than_authenticated_or_unauthenticated_fails_validation() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("admin", AUTH)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ValidationException");
    assert!(
        error_message(&err).contains("(un)?authenticated"),
        "{}",
        error_message(&err)
    );
}

#[tokio::test]
async fn role_mappings_are_checked_against_the_pool_and_aws_limits() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    // A provider the pool does not have.
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH)
        .role_mappings(
            "graph.facebook.com",
            rules_mapping(vec![rule("a", MappingRuleMatchType::Equals, "b", AUTH)]),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    assert_eq!(error_message(&err), "graph.facebook.com is not a valid RoleMapping ProviderName or is not a configured provider.");
    // 26 rules.
    let many: Vec<_> = (0..26)
        .map(|i| rule("c", MappingRuleMatchType::Equals, &i.to_string(), AUTH))
        .collect();
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH)
        .role_mappings("accounts.google.com", rules_mapping(many))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    // Rules type without rules.
    let no_rules = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .build()
        .unwrap();
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH)
        .role_mappings("accounts.google.com", no_rules)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    // Token type without AmbiguousRoleResolution.
    let no_resolution = RoleMapping::builder()
        .r#type(RoleMappingType::Token)
        .build()
        .unwrap();
    let err = app
        .client
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH)
        .role_mappings(format!("{USER_POOL}:app1"), no_resolution)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    // Nothing was written by the refused calls.
    let got = app
        .client
        .get_identity_pool_roles()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert!(got.roles.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn principal_tag_maps_take_defaults_or_custom_tags_per_provider() {
    let app = spawn_app().await;
    let id = pool_with_providers(&app).await;
    let unset = app
        .client
        .get_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("accounts.google.com")
        .send()
        .await
        .unwrap();
    assert_eq!(unset.use_defaults, Some(false));
    assert!(unset.principal_tags.unwrap_or_default().is_empty());

    let set = app
        .client
        .set_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("accounts.google.com")
        .use_defaults(false)
        .principal_tags("department", "custom:dept")
        .principal_tags("email", "email")
        .send()
        .await
        .unwrap();
    assert_eq!(set.principal_tags.as_ref().unwrap().len(), 2);
    let got = app
        .client
        .get_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("accounts.google.com")
        .send()
        .await
        .unwrap();
    assert_eq!(got.use_defaults, Some(false));
    assert_eq!(got.principal_tags.unwrap()["department"], "custom:dept");

    app.client
        .set_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name(USER_POOL)
        .use_defaults(true)
        .send()
        .await
        .unwrap();
    let got = app
        .client
        .get_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name(USER_POOL)
        .send()
        .await
        .unwrap();
    assert_eq!(got.use_defaults, Some(true));

    let err = app
        .client
        .set_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("www.amazon.com")
        .use_defaults(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
}
