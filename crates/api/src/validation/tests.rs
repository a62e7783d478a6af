//! The validator against the embedded model, rule by rule.

use regex::Regex;
use serde_json::{json, Map, Value};

use super::model::{java_to_rust_regex, Pattern};
use super::render::MAX_RENDERED_CHARS;
use super::*;

fn model() -> &'static Model {
    Model::embedded()
}

fn validation(operation: &str, input: Value) -> String {
    match model().validate(operation, &input) {
        Err(RequestError::Validation(message)) => message,
        other => panic!("expected a ValidationException for {input}, got {other:?}"),
    }
}

fn serialization_of(operation: &str, input: Value) -> String {
    match model().validate(operation, &input) {
        Err(RequestError::Serialization(message)) => message,
        other => panic!("expected a SerializationException for {input}, got {other:?}"),
    }
}

fn ok(operation: &str, input: Value) {
    assert_eq!(
        model().validate(operation, &input),
        Ok(()),
        "{operation} {input}"
    );
}

const POOL: &str = "us-east-1:0c9ddd5d-0d0c-4d8e-a7a4-5c6e0b3c2a11";
const IDENTITY: &str = "us-east-1:5e3b4e1e-25a4-4c5f-a1b9-7f0f0f1a2b3c";
const ROLE: &str = "arn:aws:iam::123456789012:role/Cognito_Auth";

#[test]
fn the_embedded_model_knows_all_twenty_three_operations() {
    let model = model();
    assert_eq!(model.operations.len(), 23);
    for name in [
        "CreateIdentityPool",
        "GetId",
        "UpdateIdentityPool",
        "UntagResource",
    ] {
        assert!(model.has_operation(name), "{name}");
    }
    assert!(!model.has_operation("AssumeRoleWithWebIdentity"));
    assert!(!model.has_operation("createIdentityPool"));
}

#[test]
fn exactly_the_four_public_operations_are_unsigned() {
    let model = model();
    let mut unsigned: Vec<&str> = model
        .operations
        .keys()
        .map(String::as_str)
        .filter(|name| model.is_unsigned(name))
        .collect();
    unsigned.sort_unstable();
    assert_eq!(
        unsigned,
        [
            "GetCredentialsForIdentity",
            "GetId",
            "GetOpenIdToken",
            "UnlinkIdentity"
        ]
    );
    assert!(!model.is_unsigned("NoSuchOperation"));
}

#[test]
fn every_pattern_in_the_model_compiles_anchored() {
    let patterns: Vec<&Pattern> = model()
        .shapes
        .values()
        .filter_map(|shape| shape.pattern.as_ref())
        .collect();
    assert_eq!(patterns.len(), 11);
    for pattern in patterns {
        assert!(
            pattern.regex.as_str().starts_with("^(?:"),
            "{}",
            pattern.source
        );
        assert!(pattern.regex.as_str().ends_with(")$"), "{}", pattern.source);
        // The raw Java text is valid Rust regex syntax too.
        assert!(Regex::new(&pattern.source).is_ok(), "{}", pattern.source);
    }
}

#[test]
fn patterns_match_the_whole_value_only() {
    let pool_id = model().shape("IdentityPoolId").pattern.as_ref().unwrap();
    assert!(pool_id.regex.is_match(POOL));
    assert!(!pool_id.regex.is_match(&format!("x{POOL} ")));
    let role = model().shape("RoleType").pattern.as_ref().unwrap();
    assert!(role.regex.is_match("authenticated"));
    assert!(role.regex.is_match("unauthenticated"));
    assert!(!role.regex.is_match("preauthenticated"));
}

#[test]
fn shorthand_classes_are_ascii_only_as_in_java() {
    let name = model().shape("IdentityPoolName").pattern.as_ref().unwrap();
    assert!(name.regex.is_match("My pool_1 +=,.@-"));
    assert!(!name.regex.is_match("café"));
    assert!(!name.regex.is_match("pool\u{a0}name"));
    let token = model().shape("PaginationKey").pattern.as_ref().unwrap();
    assert!(token.regex.is_match("é日本"));
    assert!(!token.regex.is_match("a b"));
    let claim = model().shape("ClaimName").pattern.as_ref().unwrap();
    assert!(claim.regex.is_match("cognito:groups日本"));
    assert_eq!(
        java_to_rust_regex(r"[\w-]+:\d+\S"),
        r"[[:word:]-]+:[[:digit:]]+[[:^space:]]"
    );
    assert_eq!(java_to_rust_regex(r"[\]\w]\.\p{L}"), r"[\][:word:]]\.\p{L}");
}

#[test]
fn javas_utf16_escapes_become_code_points_surrogate_pairs_included() {
    // CloudTrail's model writes "any XML character" this way.
    let java = r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*";
    let rust = java_to_rust_regex(java);
    assert_eq!(
        rust,
        r"[\x{20}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}\t]*"
    );
    let regex = regex::Regex::new(&format!("^(?:{rust})$")).unwrap();
    assert!(regex.is_match("plain text 😀 and\ttabs"));
    assert!(!regex.is_match("\u{1}"));
}

#[test]
fn a_missing_required_member_is_reported_as_must_not_be_null() {
    assert_eq!(
        validation("DescribeIdentityPool", json!({})),
        "1 validation error detected: Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn a_json_null_member_is_treated_as_absent() {
    assert_eq!(
        validation("DescribeIdentityPool", json!({"IdentityPoolId": null})),
        "1 validation error detected: Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null"
    );
    ok(
        "ListIdentityPools",
        json!({"MaxResults": 10, "NextToken": null}),
    );
}

#[test]
fn a_null_body_counts_as_an_empty_object() {
    assert_eq!(
        model().validate("ListIdentityPools", &Value::Null),
        Err(RequestError::Validation(
            "1 validation error detected: Value null at 'maxResults' failed to satisfy constraint: Member must not be null".into()
        ))
    );
}

#[test]
fn unknown_members_are_ignored() {
    ok(
        "DescribeIdentityPool",
        json!({"IdentityPoolId": POOL, "Bogus": {"deep": [1, "x"]}, "identityPoolId": 7}),
    );
}

#[test]
fn a_string_longer_than_its_maximum_is_reported() {
    let long = format!("us-east-1:{}", "a".repeat(46));
    assert_eq!(
        validation("DescribeIdentityPool", json!({"IdentityPoolId": long})),
        format!("1 validation error detected: Value '{long}' at 'identityPoolId' failed to satisfy constraint: Member must have length less than or equal to 55")
    );
}

#[test]
fn an_empty_string_breaks_the_minimum_length_and_then_the_pattern() {
    assert_eq!(
        validation("DescribeIdentityPool", json!({"IdentityPoolId": ""})),
        "2 validation errors detected: \
         Value '' at 'identityPoolId' failed to satisfy constraint: Member must have length greater than or equal to 1; \
         Value '' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
    );
}

#[test]
fn string_length_is_counted_in_code_points_not_bytes() {
    let name = "é".repeat(128);
    assert_eq!(name.len(), 256);
    ok(
        "GetPrincipalTagAttributeMap",
        json!({"IdentityPoolId": POOL, "IdentityProviderName": name}),
    );
    let name = "日".repeat(129);
    assert_eq!(
        validation(
            "GetPrincipalTagAttributeMap",
            json!({"IdentityPoolId": POOL, "IdentityProviderName": name}),
        ),
        format!("1 validation error detected: Value '{name}' at 'identityProviderName' failed to satisfy constraint: Member must have length less than or equal to 128")
    );
    // A 128-letter pool name of multi-byte letters passes the length check
    // (and only breaks the ASCII-only pattern).
    let message = validation(
        "CreateIdentityPool",
        json!({"IdentityPoolName": "ü".repeat(128), "AllowUnauthenticatedIdentities": true}),
    );
    assert!(
        message.starts_with("1 validation error detected: "),
        "{message}"
    );
    assert!(
        message.ends_with("Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"),
        "{message}"
    );
}

#[test]
fn a_pattern_violation_quotes_the_pattern_as_written_in_the_model() {
    assert_eq!(
        validation("DescribeIdentityPool", json!({"IdentityPoolId": "x"})),
        "1 validation error detected: Value 'x' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
    );
    assert_eq!(
        validation(
            "CreateIdentityPool",
            json!({"IdentityPoolName": "pool#name", "AllowUnauthenticatedIdentities": false}),
        ),
        "1 validation error detected: Value 'pool#name' at 'identityPoolName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"
    );
}

#[test]
fn an_integer_outside_its_range_is_reported() {
    assert_eq!(
        validation("ListIdentityPools", json!({"MaxResults": 0})),
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    assert_eq!(
        validation("ListIdentityPools", json!({"MaxResults": 61})),
        "1 validation error detected: Value '61' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60"
    );
    assert_eq!(
        validation("ListIdentityPools", json!({"MaxResults": 99_999_999_999_999_999_999u128 as f64})),
        "1 validation error detected: Value '100000000000000000000' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60"
    );
    ok("ListIdentityPools", json!({"MaxResults": 1}));
    ok("ListIdentityPools", json!({"MaxResults": 60}));
}

#[test]
fn a_long_outside_its_range_is_reported() {
    let request = |duration: Value| {
        json!({
            "IdentityPoolId": POOL,
            "Logins": {"login.example.com": "user-1"},
            "TokenDuration": duration,
        })
    };
    let operation = "GetOpenIdTokenForDeveloperIdentity";
    assert_eq!(
        validation(operation, request(json!(0))),
        "1 validation error detected: Value '0' at 'tokenDuration' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    assert_eq!(
        validation(operation, request(json!(86401))),
        "1 validation error detected: Value '86401' at 'tokenDuration' failed to satisfy constraint: Member must have value less than or equal to 86400"
    );
    assert_eq!(
        validation(operation, request(json!(u64::MAX))),
        "1 validation error detected: Value '18446744073709551615' at 'tokenDuration' failed to satisfy constraint: Member must have value less than or equal to 86400"
    );
    ok(operation, request(json!(86400)));
}

#[test]
fn a_value_outside_an_enum_is_reported_with_the_whole_set() {
    let message = validation(
        "SetIdentityPoolRoles",
        json!({
            "IdentityPoolId": POOL,
            "Roles": {"authenticated": ROLE},
            "RoleMappings": {"graph.facebook.com": {"Type": "Bogus", "AmbiguousRoleResolution": "Allow"}},
        }),
    );
    assert_eq!(
        message,
        "2 validation errors detected: \
         Value 'Bogus' at 'roleMappings.graph.facebook.com.member.type' failed to satisfy constraint: Member must satisfy enum value set: [Token, Rules]; \
         Value 'Allow' at 'roleMappings.graph.facebook.com.member.ambiguousRoleResolution' failed to satisfy constraint: Member must satisfy enum value set: [AuthenticatedRole, Deny]"
    );
}

#[test]
fn a_map_with_too_many_entries_is_reported_on_the_map() {
    let providers: Map<String, Value> = (0..11)
        .map(|i| (format!("p{i:02}.example.com"), json!(format!("app{i}"))))
        .collect();
    let message = validation(
        "CreateIdentityPool",
        json!({
            "IdentityPoolName": "pool",
            "AllowUnauthenticatedIdentities": true,
            "SupportedLoginProviders": providers,
        }),
    );
    assert_eq!(
        message,
        "1 validation error detected: Value '{p00.example.com=app0, p01.example.com=app1, p02.example.com=app2, \
         p03.example.com=app3, p04.example.com=app4, p05.example.com=app5, p06.example.com=app6, \
         p07.example.com=app7, p08.example.com=app8, p09.example.com=app9, p10.example.com=app10}' \
         at 'supportedLoginProviders' failed to satisfy constraint: Member must have length less than or equal to 10"
    );
}

#[test]
fn a_map_key_breaking_its_constraints_is_reported_on_the_map_in_aggregated_form() {
    assert_eq!(
        validation(
            "SetIdentityPoolRoles",
            json!({"IdentityPoolId": POOL, "Roles": {"admin": ROLE, "authenticated": ROLE}}),
        ),
        format!(
            "1 validation error detected: Value '{{admin={ROLE}, authenticated={ROLE}}}' at 'roles' failed to satisfy constraint: \
             Map keys must satisfy constraint: [Member must have length less than or equal to 128, \
             Member must have length greater than or equal to 1, \
             Member must satisfy regular expression pattern: (un)?authenticated]"
        )
    );
}

#[test]
fn a_map_value_breaking_its_constraints_is_reported_once_on_the_map() {
    assert_eq!(
        validation(
            "SetIdentityPoolRoles",
            json!({"IdentityPoolId": POOL, "Roles": {"authenticated": "arn:short", "unauthenticated": "x"}}),
        ),
        "1 validation error detected: Value '{authenticated=arn:short, unauthenticated=x}' at 'roles' failed to satisfy constraint: \
         Map value must satisfy constraint: [Member must have length less than or equal to 2048, \
         Member must have length greater than or equal to 20]"
    );
}

#[test]
fn a_null_map_value_or_list_element_must_not_be_null() {
    assert_eq!(
        validation(
            "UnlinkIdentity",
            json!({"IdentityId": IDENTITY, "Logins": {"a.example.com": null}, "LoginsToRemove": ["a.example.com", null]}),
        ),
        "2 validation errors detected: \
         Value null at 'logins.a.example.com.member' failed to satisfy constraint: Member must not be null; \
         Value null at 'loginsToRemove.2.member' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn a_list_above_its_maximum_is_reported_with_a_truncated_rendering() {
    let ids: Vec<String> = (0..61)
        .map(|i| format!("us-east-1:{i:08x}-0000-4000-8000-000000000000"))
        .collect();
    let message = validation("DeleteIdentities", json!({"IdentityIdsToDelete": ids}));
    let prefix = format!(
        "1 validation error detected: Value '[{}, {}, ",
        ids[0], ids[1]
    );
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.ends_with("...' at 'identityIdsToDelete' failed to satisfy constraint: Member must have length less than or equal to 60"),
        "{message}"
    );
    let rendered =
        &message["1 validation error detected: Value '".len()..message.find("' at '").unwrap()];
    assert_eq!(rendered.chars().count(), MAX_RENDERED_CHARS + 3);
}

#[test]
fn an_empty_list_below_its_minimum_is_reported() {
    assert_eq!(
        validation("DeleteIdentities", json!({"IdentityIdsToDelete": []})),
        "1 validation error detected: Value '[]' at 'identityIdsToDelete' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
}

#[test]
fn list_members_are_reported_with_one_based_member_paths() {
    assert_eq!(
        validation(
            "UnlinkIdentity",
            json!({"IdentityId": IDENTITY, "Logins": {}, "LoginsToRemove": ["graph.facebook.com", ""]}),
        ),
        "1 validation error detected: Value '' at 'loginsToRemove.2.member' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert_eq!(
        validation(
            "DeleteIdentities",
            json!({"IdentityIdsToDelete": [IDENTITY, IDENTITY, "nope"]}),
        ),
        "1 validation error detected: Value 'nope' at 'identityIdsToDelete.3.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
    );
}

#[test]
fn nested_structures_in_lists_in_maps_get_full_paths() {
    let message = validation(
        "SetIdentityPoolRoles",
        json!({
            "IdentityPoolId": POOL,
            "Roles": {},
            "RoleMappings": {
                "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client": {
                    "Type": "Rules",
                    "RulesConfiguration": {"Rules": [
                        {"Claim": "groups", "MatchType": "Equals", "Value": "admin", "RoleARN": ROLE},
                        {"Claim": "groups", "MatchType": "Like", "RoleARN": ROLE},
                    ]},
                },
            },
        }),
    );
    let at = "roleMappings.cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client.member.rulesConfiguration.rules.2.member";
    assert_eq!(
        message,
        format!(
            "2 validation errors detected: \
             Value 'Like' at '{at}.matchType' failed to satisfy constraint: Member must satisfy enum value set: [Equals, Contains, StartsWith, NotEqual]; \
             Value null at '{at}.value' failed to satisfy constraint: Member must not be null"
        )
    );
    assert_eq!(
        validation(
            "SetIdentityPoolRoles",
            json!({"IdentityPoolId": POOL, "Roles": {}, "RoleMappings": {"x": {"Type": "Rules", "RulesConfiguration": {"Rules": []}}}}),
        ),
        "1 validation error detected: Value '[]' at 'roleMappings.x.member.rulesConfiguration.rules' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
}

#[test]
fn structures_are_rendered_with_their_present_members() {
    let mappings: Map<String, Value> = (0..11)
        .map(|i| {
            (
                format!("p{i}"),
                json!({"Type": "Token", "AmbiguousRoleResolution": "Deny"}),
            )
        })
        .collect();
    let message = validation(
        "SetIdentityPoolRoles",
        json!({"IdentityPoolId": POOL, "Roles": {}, "RoleMappings": mappings}),
    );
    assert!(
        message.starts_with("1 validation error detected: Value '{p0={Type=Token, AmbiguousRoleResolution=Deny}, p1={Type=Token, "),
        "{message}"
    );
    assert!(message.ends_with("at 'roleMappings' failed to satisfy constraint: Member must have length less than or equal to 10"));
}

#[test]
fn multiple_violations_are_counted_and_joined_in_member_order() {
    assert_eq!(
        validation("CreateIdentityPool", json!({})),
        "2 validation errors detected: \
         Value null at 'identityPoolName' failed to satisfy constraint: Member must not be null; \
         Value null at 'allowUnauthenticatedIdentities' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        validation(
            "MergeDeveloperIdentities",
            json!({"SourceUserIdentifier": "", "DeveloperProviderName": "bad name!", "IdentityPoolId": "x"}),
        ),
        "4 validation errors detected: \
         Value '' at 'sourceUserIdentifier' failed to satisfy constraint: Member must have length greater than or equal to 1; \
         Value null at 'destinationUserIdentifier' failed to satisfy constraint: Member must not be null; \
         Value 'bad name!' at 'developerProviderName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w._-]+; \
         Value 'x' at 'identityPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
    );
}

#[test]
fn at_most_ten_violations_are_listed() {
    let ids: Vec<&str> = vec!["nope"; 60];
    let message = validation("DeleteIdentities", json!({"IdentityIdsToDelete": ids}));
    assert!(
        message.starts_with(
            "10 validation errors detected: Value 'nope' at 'identityIdsToDelete.1.member'"
        ),
        "{message}"
    );
    assert_eq!(message.matches("failed to satisfy constraint").count(), 10);
    assert!(message.contains("'identityIdsToDelete.10.member'"));
    assert!(!message.contains("'identityIdsToDelete.11.member'"));
}

#[test]
fn huge_values_and_keys_cannot_make_a_huge_message() {
    let key = "k".repeat(100_000);
    let message = validation(
        "SetIdentityPoolRoles",
        json!({
            "IdentityPoolId": "p".repeat(100_000),
            "Roles": {},
            "RoleMappings": {key: {"Type": "Bogus"}},
        }),
    );
    assert!(message.len() < 2_000, "{} bytes", message.len());
    assert!(message.contains(&format!(
        "'roleMappings.{}....member.type'",
        "k".repeat(MAX_RENDERED_CHARS)
    )));
}

#[test]
fn type_mismatches_are_serialization_errors() {
    assert_eq!(
        serialization_of("ListIdentityPools", json!({"MaxResults": "10"})),
        "class java.lang.String can not be converted to an Integer"
    );
    assert_eq!(
        serialization_of("ListIdentityPools", json!({"MaxResults": true})),
        "class java.lang.Boolean can not be converted to an Integer"
    );
    assert_eq!(
        serialization_of("ListIdentityPools", json!({"MaxResults": 1.5})),
        "class java.lang.Double can not be converted to an Integer"
    );
    assert_eq!(
        serialization_of(
            "GetOpenIdTokenForDeveloperIdentity",
            json!({"IdentityPoolId": POOL, "Logins": {}, "TokenDuration": "60"}),
        ),
        "class java.lang.String can not be converted to an Long"
    );
    assert_eq!(
        serialization_of("CreateIdentityPool", json!({"IdentityPoolName": {}})),
        "Start of structure or map found where not expected."
    );
    assert_eq!(
        serialization_of("CreateIdentityPool", json!({"IdentityPoolName": ["a"]})),
        "Start of list found where not expected"
    );
    assert_eq!(
        serialization_of("CreateIdentityPool", json!({"IdentityPoolName": 5})),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    assert_eq!(
        serialization_of(
            "CreateIdentityPool",
            json!({"IdentityPoolName": "p", "AllowUnauthenticatedIdentities": "yes"})
        ),
        "'yes' can not be converted to an Boolean"
    );
    assert_eq!(
        serialization_of("CreateIdentityPool", json!({"IdentityPoolName": "p", "AllowUnauthenticatedIdentities": 1})),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean"
    );
    assert_eq!(
        serialization_of("DeleteIdentities", json!({"IdentityIdsToDelete": IDENTITY})),
        "Expected list or null"
    );
    assert_eq!(
        serialization_of("DeleteIdentities", json!({"IdentityIdsToDelete": {}})),
        "Start of structure or map found where not expected."
    );
    assert_eq!(
        serialization_of("GetId", json!({"IdentityPoolId": POOL, "Logins": "token"})),
        "Expected map or null"
    );
    assert_eq!(
        serialization_of(
            "GetId",
            json!({"IdentityPoolId": POOL, "Logins": ["token"]})
        ),
        "Start of list found where not expected"
    );
    assert_eq!(
        serialization_of("GetId", json!({"IdentityPoolId": POOL, "Logins": {"a": 1}})),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    assert_eq!(
        serialization_of(
            "SetIdentityPoolRoles",
            json!({"IdentityPoolId": POOL, "Roles": {}, "RoleMappings": {"x": "Token"}})
        ),
        "Expected null"
    );
}

#[test]
fn a_body_that_is_not_an_object_is_a_serialization_error() {
    assert_eq!(
        serialization_of("ListIdentityPools", json!([])),
        "Start of list found where not expected"
    );
    assert_eq!(
        serialization_of("ListIdentityPools", json!("x")),
        "Expected null"
    );
    assert_eq!(
        serialization_of("ListIdentityPools", json!(1)),
        "Expected null"
    );
}

#[test]
fn a_type_mismatch_wins_over_constraint_violations_anywhere() {
    assert_eq!(
        serialization_of(
            "LookupDeveloperIdentity",
            json!({"IdentityPoolId": "x", "IdentityId": "", "MaxResults": "5"}),
        ),
        "class java.lang.String can not be converted to an Integer"
    );
    let ids: Vec<Value> = (0..30).map(|_| json!("bad")).chain([json!(7)]).collect();
    assert!(matches!(
        model().validate("DeleteIdentities", &json!({"IdentityIdsToDelete": ids})),
        Err(RequestError::Serialization(_))
    ));
}

#[test]
fn integral_numbers_with_an_exponent_count_as_integers() {
    let input: Value = serde_json::from_str(r#"{"MaxResults": 1e1}"#).unwrap();
    assert_eq!(model().validate("ListIdentityPools", &input), Ok(()));
}

#[test]
fn sensitive_values_never_appear_in_any_message() {
    let secret = "eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN.signature";
    // A Logins value breaking its (sensitive) shape's length constraint.
    let long_secret = format!("{secret}{}", "x".repeat(50_000));
    let message = validation(
        "GetId",
        json!({"IdentityPoolId": POOL, "Logins": {"graph.facebook.com": long_secret}}),
    );
    assert_eq!(
        message,
        "1 validation error detected: Value '{graph.facebook.com=***}' at 'logins' failed to satisfy constraint: \
         Map value must satisfy constraint: [Member must have length less than or equal to 50000, \
         Member must have length greater than or equal to 1]"
    );
    // Too many logins: the map is rendered with its tokens redacted.
    let logins: Map<String, Value> = (0..11)
        .map(|i| {
            (
                format!("idp{i}.example.com"),
                json!(format!("{secret}-{i}")),
            )
        })
        .collect();
    for operation in [
        "GetId",
        "GetCredentialsForIdentity",
        "GetOpenIdToken",
        "UnlinkIdentity",
        "GetOpenIdTokenForDeveloperIdentity",
    ] {
        let input = json!({
            "IdentityPoolId": POOL,
            "IdentityId": IDENTITY,
            "Logins": logins,
            "LoginsToRemove": [],
        });
        let message = validation(operation, input);
        assert!(!message.contains("SECRET"), "{operation}: {message}");
        assert!(
            message.contains("idp0.example.com=***, idp1.example.com=***"),
            "{operation}: {message}"
        );
        assert!(message.contains("at 'logins' failed to satisfy constraint: Member must have length less than or equal to 10"));
    }
    // A type mismatch on a sensitive value does not echo it either.
    let message = serialization_of(
        "GetId",
        json!({"IdentityPoolId": POOL, "Logins": {"a": [secret]}}),
    );
    assert!(!message.contains("SECRET"), "{message}");
}

#[test]
fn a_violation_on_a_sensitive_value_omits_the_value_as_aws_does() {
    let model = Model::from_json(
        r#"{
          "operations": {"Op": {"input": {"shape": "In"}}},
          "shapes": {
            "In": {"type": "structure", "members": {
              "Password": {"shape": "Secret"},
              "Secrets": {"shape": "SecretList"}
            }},
            "Secret": {"type": "string", "min": 8, "pattern": "[a-z]+", "sensitive": true},
            "SecretList": {"type": "list", "member": {"shape": "Secret"}, "max": 1}
          }
        }"#,
    )
    .unwrap();
    let result = model.validate(
        "Op",
        &json!({"Password": "hunter2!", "Secrets": ["abcdefghij", "hunter2"]}),
    );
    assert_eq!(
        result,
        Err(RequestError::Validation(
            "4 validation errors detected: \
             Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+; \
             Value '[***, ***]' at 'secrets' failed to satisfy constraint: Member must have length less than or equal to 1; \
             Value at 'secrets.2.member' failed to satisfy constraint: Member must have length greater than or equal to 8; \
             Value at 'secrets.2.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+"
                .into()
        ))
    );
}

#[test]
fn every_operation_validates_an_empty_body_without_panicking() {
    let model = model();
    for name in model.operations.keys() {
        match model.validate(name, &json!({})) {
            Ok(()) => {}
            Err(RequestError::Validation(message)) => {
                assert!(
                    message.contains("Member must not be null"),
                    "{name}: {message}"
                );
            }
            Err(other) => panic!("{name}: {other:?}"),
        }
    }
    ok("ListIdentityPools", json!({"MaxResults": 5}));
    assert!(model.validate("DescribeIdentityPool", &json!({})).is_err());
}

#[test]
fn an_unknown_operation_is_refused() {
    assert!(matches!(
        model().validate("NoSuchOperation", &json!({})),
        Err(RequestError::Serialization(_))
    ));
}

#[test]
fn a_complete_valid_request_passes() {
    ok(
        "UpdateIdentityPool",
        json!({
            "IdentityPoolId": POOL,
            "IdentityPoolName": "My pool",
            "AllowUnauthenticatedIdentities": false,
            "AllowClassicFlow": true,
            "SupportedLoginProviders": {"graph.facebook.com": "7346241598935555"},
            "DeveloperProviderName": "login.example.com",
            "OpenIdConnectProviderARNs": ["arn:aws:iam::123456789012:oidc-provider/example.com"],
            "CognitoIdentityProviders": [{
                "ProviderName": "cognito-idp.us-east-1.amazonaws.com/us-east-1_Zr231apJu",
                "ClientId": "6lhlkkfbfb4q5kpp90urffae",
                "ServerSideTokenCheck": true,
            }],
            "SamlProviderARNs": [],
            "IdentityPoolTags": {"team": "", "env": "prod"},
        }),
    );
    ok(
        "GetCredentialsForIdentity",
        json!({"IdentityId": IDENTITY, "Logins": {"accounts.google.com": "eyJ.token"}, "CustomRoleArn": ROLE}),
    );
}

#[test]
fn request_errors_expose_their_aws_code_and_message() {
    let error = RequestError::Validation("1 validation error detected: x".into());
    assert_eq!(error.code(), "ValidationException");
    assert_eq!(error.message(), "1 validation error detected: x");
    assert_eq!(
        RequestError::Serialization("m".into()).code(),
        "SerializationException"
    );
    assert_eq!(
        error.to_string(),
        "ValidationException: 1 validation error detected: x"
    );
}
