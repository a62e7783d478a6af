//! Property tests over what a client controls at the protocol layer: the
//! JSON body of every operation against the model validator, and SigV4
//! `Authorization` headers and dates. Never a panic; every refusal is an
//! AWS error code answered with a 4xx.

use std::time::{Duration, SystemTime};

use cognate_api::sigv4::{Credential, SignedRequest, Verifier};
use cognate_api::validation::Model;
use cognate_domain::test_support::{arb_json, arb_object_with, arb_text};
use proptest::prelude::*;

/// Every operation of the embedded service model, in a stable order.
fn operations() -> Vec<String> {
    let mut names: Vec<String> = Model::embedded()
        .operation_names()
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[test]
fn the_model_has_the_twenty_three_operations_of_cognito_identity() {
    assert_eq!(operations().len(), 23);
}

/// Member names the operations' inputs have, so that generated bodies
/// reach deep into the shapes rather than stopping at "unknown member".
const MEMBERS: &[&str] = &[
    "IdentityPoolId",
    "IdentityPoolName",
    "AllowUnauthenticatedIdentities",
    "AllowClassicFlow",
    "SupportedLoginProviders",
    "DeveloperProviderName",
    "OpenIdConnectProviderARNs",
    "CognitoIdentityProviders",
    "SamlProviderARNs",
    "IdentityPoolTags",
    "IdentityId",
    "IdentityIdsToDelete",
    "Logins",
    "LoginsToRemove",
    "CustomRoleArn",
    "Roles",
    "RoleMappings",
    "MaxResults",
    "NextToken",
    "HideDisabled",
    "TokenDuration",
    "PrincipalTags",
    "IdentityProviderName",
    "UseDefaults",
    "ResourceArn",
    "Tags",
    "TagKeys",
    "DeveloperUserIdentifier",
    "SourceUserIdentifier",
    "DestinationUserIdentifier",
    "AccountId",
];

const SECRET: &str = "a-secret-key-of-the-test-account-0001";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_body_of_any_operation_is_accepted_or_refused_with_an_aws_code(
        op in prop::sample::select(operations()),
        body in prop_oneof![
            3 => arb_object_with(MEMBERS.iter().map(|m| m.to_string()).collect()),
            1 => arb_json(),
        ],
    ) {
        let model = Model::embedded();
        prop_assert!(model.has_operation(&op));
        if let Err(err) = model.validate(&op, &body) {
            prop_assert!(matches!(err.code(), "SerializationException" | "ValidationException"));
            prop_assert!(!err.message().is_empty());
        }
    }

    #[test]
    fn any_authorization_header_and_date_is_refused_with_an_aws_code(
        authorization in prop_oneof![
            arb_text(),
            (arb_text(), arb_text(), arb_text(), arb_text()).prop_map(|(cred, scope, signed, sig)| {
                format!("AWS4-HMAC-SHA256 Credential={cred}/{scope}, SignedHeaders={signed}, Signature={sig}")
            }),
            (
                "[0-9]{8}",
                prop_oneof![Just("host;x-amz-date;x-amz-target".to_owned()), arb_text()],
                "[0-9a-f]{0,64}",
            )
                .prop_map(|(date, signed, sig)| format!(
                    "AWS4-HMAC-SHA256 Credential=AKIATESTACCOUNT00001/{date}/us-east-1/cognito-identity/aws4_request, SignedHeaders={signed}, Signature={sig}"
                )),
        ],
        date in prop_oneof![arb_text(), "[0-9]{8}T[0-9]{6}Z"],
        body in prop::collection::vec(any::<u8>(), 0..64),
        extra in prop::option::of((
            prop_oneof![Just("x-amz-security-token"), Just("x-amz-content-sha256"), Just("authorization")],
            arb_text(),
        )),
    ) {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            "x-amz-target",
            http::HeaderValue::from_static("AWSCognitoIdentityService.ListIdentityPools"),
        );
        if let Ok(v) = http::HeaderValue::from_str(&date) {
            headers.insert("x-amz-date", v);
        }
        if let Ok(v) = http::HeaderValue::from_str(&authorization) {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        if let Some((name, value)) = extra {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.append(name, v);
            }
        }
        let req = SignedRequest { method: "POST", path: "/", query: "", headers: &headers, body: &body };
        let lookup = |key: &str| {
            (key == "AKIATESTACCOUNT00001").then(|| Credential {
                account_id: "111111111111".into(),
                secret_access_key: SECRET.to_owned().into(),
            })
        };
        let verifier = Verifier::new("us-east-1");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        match verifier.verify(&req, now, &lookup) {
            Ok(caller) => prop_assert!(false, "a random signature verified: {caller:?}"),
            Err(err) => {
                prop_assert!((400..500).contains(&err.status()), "{}", err.status());
                prop_assert!(err.code().ends_with("Exception"), "{}", err.code());
                prop_assert!(!err.message().is_empty());
            }
        }
    }
}
