//! GetCredentialsForIdentity end to end: Cognate chooses the role, mints its
//! token and calls AssumeRoleWithWebIdentity on a real radosgw; the
//! credentials it hands back work for S3 there. Through the Rust SDK, and
//! through the JS SDK's fromCognitoIdentityPool credential provider.

use std::process::Command;

use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, MappingRule, MappingRuleMatchType, RoleMapping, RoleMappingType,
    RulesConfigurationType,
};
use cognate_server::config::{OidcProviderSettings, UpstreamSettings};
use cognate_tests::ceph::{self, Ceph};
use cognate_tests::oidc::{self, OidcProvider};
use serde_json::json;

use crate::helpers::{error_code, error_message, spawn_app_with, TestApp, ACCOUNT_A};
use crate::rgw::{Reply, Rgw};

const DEV: &str = "login.cognate.credentials-test";

/// Cognate with `[sts] endpoint` = the shared radosgw.
struct Stack {
    app: TestApp,
    rgw: Rgw,
    admin: Credentials,
    issuer_host: String,
    tag: String,
}

async fn stack(idp: Option<&OidcProvider>) -> Option<Stack> {
    stack_with(idp, |_| {}).await
}

async fn stack_with(
    idp: Option<&OidcProvider>,
    customize: impl FnOnce(&mut cognate_server::config::Settings),
) -> Option<Stack> {
    let ceph: &'static Ceph = match ceph::shared().await {
        Ok(ceph) => ceph,
        Err(e) if ceph::is_unavailable(&e) => {
            cognate_tests::skip(&format!("no Ceph radosgw to test against: {e:#}"));
            return None;
        }
        Err(e) => panic!("starting Ceph: {e:#}"),
    };
    let endpoint = ceph.endpoint.clone();
    let declared = idp.map(|idp| OidcProviderSettings {
        account: ACCOUNT_A.to_owned().try_into().unwrap(),
        url: idp.issuer.clone().try_into().unwrap(),
        client_ids: vec![idp.client_id.clone()],
    });
    let app = spawn_app_with(move |s| {
        s.sts.endpoint = Some(endpoint.try_into().unwrap());
        s.oidc_providers.extend(declared);
        customize(s);
    })
    .await;
    Some(Stack {
        issuer_host: app.address.trim_start_matches("http://").to_owned(),
        rgw: Rgw::new(&ceph.endpoint),
        admin: Credentials::new(
            &ceph.admin_access_key,
            &ceph.admin_secret_key,
            None,
            None,
            "ceph-admin",
        ),
        app,
        tag: uuid::Uuid::new_v4().simple().to_string()[..10].to_owned(),
    })
}

impl Stack {
    /// Register Cognate's issuer in radosgw with these pools as audiences.
    async fn trust_pools(&self, pools: &[&str]) {
        let mut params: Vec<(String, String)> = vec![("Url".into(), self.app.address.clone())];
        for (i, pool) in pools.iter().enumerate() {
            params.push((format!("ClientIDList.member.{}", i + 1), pool.to_string()));
        }
        // RGW 16.2 stores but does not check the thumbprint; any SHA-1 hex will do.
        params.push(("ThumbprintList.member.1".into(), "0".repeat(40)));
        let borrowed: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.rgw
            .iam(&self.admin, "CreateOpenIDConnectProvider", &borrowed)
            .await
            .expect_status(200, "CreateOpenIDConnectProvider");
    }

    /// A role for web identities of Cognate whose `aud` is `audience`,
    /// allowed s3:* on buckets named `<bucket_prefix>*`.
    async fn role(&self, name: &str, audience: &str, bucket_prefix: &str) -> String {
        self.role_if_tagged(name, audience, bucket_prefix, None)
            .await
    }

    /// As [`Stack::role`]; with `team`, S3 is allowed only to sessions whose
    /// principal tag `team` has that value (attribute-based access control).
    async fn role_if_tagged(
        &self,
        name: &str,
        audience: &str,
        bucket_prefix: &str,
        team: Option<&str>,
    ) -> String {
        let name = format!("{name}-{}", self.tag);
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": [format!("arn:aws:iam:::oidc-provider/{}", self.issuer_host)]},
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
                "Condition": {"StringEquals": {format!("{}:aud", self.issuer_host): audience}}
            }]
        });
        let arn = self
            .rgw
            .iam(
                &self.admin,
                "CreateRole",
                &[
                    ("RoleName", &name),
                    ("Path", "/"),
                    ("AssumeRolePolicyDocument", &trust.to_string()),
                ],
            )
            .await
            .expect_status(200, "CreateRole")
            .field("Arn")
            .expect("role ARN");
        let mut statement = json!({
            "Effect": "Allow",
            "Action": ["s3:*"],
            "Resource": [format!("arn:aws:s3:::{bucket_prefix}*"), format!("arn:aws:s3:::{bucket_prefix}*/*")]
        });
        if let Some(team) = team {
            statement["Condition"] = json!({"StringEquals": {"aws:PrincipalTag/team": team}});
        }
        let permissions = json!({"Version": "2012-10-17", "Statement": [statement]});
        self.rgw
            .iam(
                &self.admin,
                "PutRolePolicy",
                &[
                    ("RoleName", &name),
                    ("PolicyName", "s3"),
                    ("PolicyDocument", &permissions.to_string()),
                ],
            )
            .await
            .expect_status(200, "PutRolePolicy");
        arn
    }

    async fn pool(&self, name: &str, oidc_provider: Option<&str>) -> String {
        let mut req = self
            .app
            .client
            .create_identity_pool()
            .identity_pool_name(name)
            .allow_unauthenticated_identities(true)
            .developer_provider_name(DEV);
        if let Some(provider) = oidc_provider {
            req = req.open_id_connect_provider_arns(format!(
                "arn:aws:iam::{ACCOUNT_A}:oidc-provider/{provider}"
            ));
        }
        req.send().await.expect("create pool").identity_pool_id
    }

    async fn set_roles(
        &self,
        pool: &str,
        roles: &[(&str, &str)],
        mappings: Vec<(String, RoleMapping)>,
    ) {
        let mut req = self
            .app
            .client
            .set_identity_pool_roles()
            .identity_pool_id(pool);
        for (k, v) in roles {
            req = req.roles(*k, *v);
        }
        for (k, m) in mappings {
            req = req.role_mappings(k, m);
        }
        req.send().await.expect("set roles");
    }

    /// Use credentials for CreateBucket + PutObject + GetObject on `bucket`.
    async fn use_s3(&self, creds: &Credentials, bucket: &str) -> Result<(), Reply> {
        let created = self.rgw.s3(creds, "PUT", &format!("/{bucket}"), b"").await;
        if created.status != 200 {
            return Err(created);
        }
        let put = self
            .rgw
            .s3(
                creds,
                "PUT",
                &format!("/{bucket}/hello"),
                b"hello from cognate",
            )
            .await;
        if put.status != 200 {
            return Err(put);
        }
        let got = self
            .rgw
            .s3(creds, "GET", &format!("/{bucket}/hello"), b"")
            .await;
        if got.status != 200 || got.body != "hello from cognate" {
            return Err(got);
        }
        Ok(())
    }
}

fn sdk_credentials(c: &aws_sdk_cognitoidentity::types::Credentials) -> Credentials {
    Credentials::new(
        c.access_key_id.clone().expect("AccessKeyId"),
        c.secret_key.clone().expect("SecretKey"),
        c.session_token.clone(),
        None,
        "cognate",
    )
}

#[tokio::test]
async fn a_guest_gets_credentials_from_cognate_that_radosgw_s3_accepts() {
    let Some(s) = stack(None).await else { return };
    let pool = s.pool("guests", None).await;
    s.trust_pools(&[&pool]).await;
    let role = s.role("guest", &pool, "guest-").await;
    s.set_roles(&pool, &[("unauthenticated", &role)], vec![])
        .await;
    let id = s
        .app
        .client
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let out = s
        .app
        .client
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .expect("credentials through radosgw's STS");
    assert_eq!(out.identity_id.as_deref(), Some(id.as_str()));
    let c = out.credentials.expect("credentials");
    let expires_in = c.expiration.unwrap().secs() - chrono::Utc::now().timestamp();
    assert!(
        (3000..=3700).contains(&expires_in),
        "a one-hour session: {expires_in}s"
    );
    s.use_s3(&sdk_credentials(&c), &format!("guest-{}", s.tag))
        .await
        .expect("S3 accepts them");
}

#[tokio::test]
async fn a_developer_identity_presenting_its_cognate_token_gets_the_authenticated_role() {
    let Some(s) = stack(None).await else { return };
    let pool = s.pool("developers", None).await;
    s.trust_pools(&[&pool]).await;
    let auth = s.role("member", &pool, "member-").await;
    let guest = s.role("visitor", &pool, "visitor-").await;
    s.set_roles(
        &pool,
        &[("authenticated", &auth), ("unauthenticated", &guest)],
        vec![],
    )
    .await;
    let dev = s
        .app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "dora")
        .send()
        .await
        .unwrap();
    let out = s
        .app
        .client
        .get_credentials_for_identity()
        .identity_id(dev.identity_id.unwrap())
        .logins("cognito-identity.amazonaws.com", dev.token.unwrap())
        .send()
        .await
        .expect("credentials for the authenticated role");
    let creds = sdk_credentials(&out.credentials.unwrap());
    s.use_s3(&creds, &format!("member-{}", s.tag))
        .await
        .expect("the authenticated role's bucket");
    let denied = s
        .use_s3(&creds, &format!("visitor-{}", s.tag))
        .await
        .unwrap_err();
    assert_eq!(
        denied.status, 403,
        "not the unauthenticated role: {}",
        denied.body
    );
}

#[tokio::test]
async fn a_role_whose_trust_policy_names_another_pool_is_an_invalid_pool_configuration() {
    let Some(s) = stack(None).await else { return };
    let pool = s.pool("mine", None).await;
    let other = s.pool("theirs", None).await;
    s.trust_pools(&[&pool, &other]).await;
    let theirs = s.role("theirs", &other, "theirs-").await;
    s.set_roles(&pool, &[("unauthenticated", &theirs)], vec![])
        .await;
    let id = s
        .app
        .client
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let err = s
        .app
        .client
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&err),
        "InvalidIdentityPoolConfigurationException"
    );
    assert_eq!(
        error_message(&err),
        "Invalid identity pool configuration. Check assigned IAM roles for this pool."
    );
}

fn rule(claim: &str, value: &str, role: &str) -> MappingRule {
    MappingRule::builder()
        .claim(claim)
        .match_type(MappingRuleMatchType::Equals)
        .value(value)
        .role_arn(role)
        .build()
        .unwrap()
}

fn rules(resolution: AmbiguousRoleResolutionType, rules: Vec<MappingRule>) -> RoleMapping {
    RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(resolution)
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
async fn rules_choose_the_role_by_claim_in_order_and_deny_refuses_the_unmatched() {
    if !oidc::node_available() {
        cognate_tests::skip("node is not installed");
        return;
    }
    let idp = oidc::shared().await.unwrap();
    let Some(s) = stack(Some(idp)).await else {
        return;
    };
    let provider = idp.provider_name();
    let pool = s.pool("by claim", Some(&provider)).await;
    let strict = s.pool("admins only", Some(&provider)).await;
    s.trust_pools(&[&pool, &strict]).await;
    let admin = s.role("admin", &pool, "admins-").await;
    let user = s.role("user", &pool, "users-").await;
    let default = s.role("default", &pool, "default-").await;
    // The IdP gives admins groups ["admins", "users"] and isAdmin "true";
    // everyone else groups ["users"]: rule order decides for admins.
    s.set_roles(
        &pool,
        &[("authenticated", &default)],
        vec![(
            provider.clone(),
            rules(
                AmbiguousRoleResolutionType::Deny,
                vec![
                    rule("isAdmin", "true", &admin),
                    rule("groups", "users", &user),
                ],
            ),
        )],
    )
    .await;
    s.set_roles(
        &strict,
        &[("authenticated", &default)],
        vec![(
            provider.clone(),
            rules(
                AmbiguousRoleResolutionType::Deny,
                vec![rule("isAdmin", "true", &admin)],
            ),
        )],
    )
    .await;
    let credentials_for = |pool: String, user: &'static str| {
        let (idp, s, provider) = (idp, &s, provider.clone());
        async move {
            let token = idp.id_token(user).await.unwrap();
            let id = s
                .app
                .client
                .get_id()
                .identity_pool_id(&pool)
                .logins(&provider, &token)
                .send()
                .await
                .unwrap();
            s.app
                .client
                .get_credentials_for_identity()
                .identity_id(id.identity_id.unwrap())
                .logins(&provider, token)
                .send()
                .await
        }
    };
    let admin_creds = sdk_credentials(
        &credentials_for(pool.clone(), "admin-ann")
            .await
            .expect("admin")
            .credentials
            .unwrap(),
    );
    s.use_s3(&admin_creds, &format!("admins-{}", s.tag))
        .await
        .expect("the admin role's bucket");
    assert_eq!(
        s.use_s3(&admin_creds, &format!("users-a{}", s.tag))
            .await
            .unwrap_err()
            .status,
        403
    );
    let user_creds = sdk_credentials(
        &credentials_for(pool.clone(), "bob")
            .await
            .expect("user")
            .credentials
            .unwrap(),
    );
    s.use_s3(&user_creds, &format!("users-{}", s.tag))
        .await
        .expect("the user role's bucket");
    assert_eq!(
        s.use_s3(&user_creds, &format!("admins-b{}", s.tag))
            .await
            .unwrap_err()
            .status,
        403
    );
    // No rule matches and the resolution is Deny.
    let err = credentials_for(strict, "bob").await.unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    assert_eq!(
        error_message(&err),
        format!("The ambiguous role mapping rules for: {provider} denied this request.")
    );
}

#[tokio::test]
async fn the_js_sdk_credential_provider_gets_credentials_that_s3_accepts() {
    if !oidc::node_available() {
        cognate_tests::skip("node is not installed");
        return;
    }
    let Some(s) = stack(None).await else { return };
    let pool = s.pool("js guests", None).await;
    s.trust_pools(&[&pool]).await;
    let role = s.role("js", &pool, "js-").await;
    s.set_roles(&pool, &[("unauthenticated", &role)], vec![])
        .await;
    // The bucket must exist; the script writes and reads an object in it.
    let id = s
        .app
        .client
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let c = s
        .app
        .client
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    let bucket = format!("js-{}", s.tag);
    s.use_s3(&sdk_credentials(&c.credentials.unwrap()), &bucket)
        .await
        .unwrap();
    let result = s.js_sdk_s3(&pool, &bucket, None, None).await;
    assert_eq!(result["body"], "hello from the JS SDK");
    assert!(result["identityId"]
        .as_str()
        .unwrap()
        .starts_with("us-east-1:"));
}

/// The SAML provider the test configuration declares for account A.
const SAML_PROVIDER: &str = "arn:aws:iam::111111111111:saml-provider/corp";

impl Stack {
    /// A pool named `name` that takes logins of [`SAML_PROVIDER`] and is
    /// trusted by two roles: the engineers' (buckets `<name>eng-…`, without
    /// dashes) and the auditors' (`<name>audit-…`).
    async fn saml_pool(&self, name: &str) -> (String, String, String) {
        let pool = self
            .app
            .client
            .create_identity_pool()
            .identity_pool_name(name)
            .allow_unauthenticated_identities(false)
            .saml_provider_arns(SAML_PROVIDER)
            .send()
            .await
            .expect("pool naming the declared SAML provider")
            .identity_pool_id;
        self.trust_pools(&[&pool]).await;
        let prefix = name.replace('-', "");
        let engineers = self
            .role(&format!("{name}-eng"), &pool, &format!("{prefix}eng-"))
            .await;
        let auditors = self
            .role(&format!("{name}-audit"), &pool, &format!("{prefix}audit-"))
            .await;
        (pool, engineers, auditors)
    }

    /// What `support/js/cognito_s3.mjs` prints: the JS SDK's
    /// fromCognitoIdentityPool gets credentials from Cognate (with these
    /// logins and custom role, if any), then writes and reads an object of
    /// `bucket` on radosgw with them.
    async fn js_sdk_s3(
        &self,
        pool: &str,
        bucket: &str,
        logins: Option<serde_json::Value>,
        custom_role_arn: Option<&str>,
    ) -> serde_json::Value {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("support/js");
        let install_dir = dir.clone();
        tokio::task::spawn_blocking(move || oidc::npm_ci(&install_dir))
            .await
            .unwrap()
            .expect("npm ci");
        let mut args = vec![
            "cognito_s3.mjs".to_owned(),
            self.app.address.clone(),
            "us-east-1".into(),
            pool.to_owned(),
            self.rgw.endpoint.clone(),
            bucket.to_owned(),
            logins.map(|l| l.to_string()).unwrap_or_default(),
        ];
        args.extend(custom_role_arn.map(str::to_owned));
        let out = tokio::task::spawn_blocking(move || {
            Command::new("node")
                .args(&args)
                .current_dir(&dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "JS SDK failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[tokio::test]
async fn a_user_pool_token_mapping_takes_the_preferred_role_or_the_custom_one_it_grants() {
    if !oidc::node_available() {
        cognate_tests::skip("node is not installed");
        return;
    }
    const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_CognateTest";
    let idp = oidc::start_with(oidc::OidcOptions {
        client_id: "cognateappclient".into(),
        extra_claim_names: vec!["cognito:roles".into(), "cognito:preferred_role".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let issuer = idp.issuer.clone();
    let Some(s) = stack_with(None, move |settings| {
        settings.upstream.push(UpstreamSettings {
            provider: USER_POOL.into(),
            issuer: Some(issuer.try_into().unwrap()),
            token_info_url: None,
        })
    })
    .await
    else {
        return;
    };
    let pool = s
        .app
        .client
        .create_identity_pool()
        .identity_pool_name("user pool")
        .allow_unauthenticated_identities(false)
        .cognito_identity_providers(
            aws_sdk_cognitoidentity::types::CognitoIdentityProvider::builder()
                .provider_name(USER_POOL)
                .client_id("cognateappclient")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    s.trust_pools(&[&pool]).await;
    let red = s.role("red", &pool, "red-").await;
    let blue = s.role("blue", &pool, "blue-").await;
    let token_mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Token)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .build()
        .unwrap();
    s.set_roles(
        &pool,
        &[("authenticated", &red)],
        vec![(format!("{USER_POOL}:cognateappclient"), token_mapping)],
    )
    .await;
    let credentials = |claims: serde_json::Value, custom: Option<String>| {
        let (idp, s, pool) = (&idp, &s, pool.clone());
        async move {
            let token = idp
                .id_token_with_claims("gwen", claims.as_object().unwrap())
                .await
                .unwrap();
            let id = s
                .app
                .client
                .get_id()
                .identity_pool_id(&pool)
                .logins(USER_POOL, &token)
                .send()
                .await
                .unwrap();
            s.app
                .client
                .get_credentials_for_identity()
                .identity_id(id.identity_id.unwrap())
                .logins(USER_POOL, token)
                .set_custom_role_arn(custom)
                .send()
                .await
        }
    };
    let both = json!({"cognito:roles": [red.clone(), blue.clone()], "cognito:preferred_role": blue.clone()});
    let preferred = sdk_credentials(
        &credentials(both.clone(), None)
            .await
            .expect("preferred")
            .credentials
            .unwrap(),
    );
    s.use_s3(&preferred, &format!("blue-{}", s.tag))
        .await
        .expect("the preferred role");
    let custom = sdk_credentials(
        &credentials(both.clone(), Some(red.clone()))
            .await
            .expect("custom")
            .credentials
            .unwrap(),
    );
    s.use_s3(&custom, &format!("red-{}", s.tag))
        .await
        .expect("the custom role the token grants");
    let err = credentials(both, Some("arn:aws:iam:::role/not-granted".into()))
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "NotAuthorizedException");
    let ambiguous = json!({"cognito:roles": [red, blue]});
    let err = credentials(ambiguous, None).await.unwrap_err();
    assert_eq!(
        error_message(&err),
        format!("The ambiguous role mapping rules for: {USER_POOL}:cognateappclient denied this request.")
    );
}

#[tokio::test]
async fn principal_tags_reach_the_sts_session_through_get_credentials_for_identity() {
    let Some(s) = stack(None).await else { return };
    let pool = s.pool("abac", None).await;
    s.trust_pools(&[&pool]).await;
    let role = s
        .role_if_tagged("blue-team", &pool, "blueteam-", Some("blue"))
        .await;
    s.set_roles(&pool, &[("authenticated", &role)], vec![])
        .await;
    let credentials = |team: &'static str, user: &'static str| {
        let (s, pool) = (&s, pool.clone());
        async move {
            let dev = s
                .app
                .client
                .get_open_id_token_for_developer_identity()
                .identity_pool_id(&pool)
                .logins(DEV, user)
                .principal_tags("team", team)
                .send()
                .await
                .unwrap();
            let out = s
                .app
                .client
                .get_credentials_for_identity()
                .identity_id(dev.identity_id.unwrap())
                .logins("cognito-identity.amazonaws.com", dev.token.unwrap())
                .send()
                .await
                .expect("credentials");
            sdk_credentials(&out.credentials.unwrap())
        }
    };
    let blue = credentials("blue", "bea").await;
    s.use_s3(&blue, &format!("blueteam-{}", s.tag))
        .await
        .expect("the blue session may use S3");
    let red = credentials("red", "rex").await;
    let denied = s
        .use_s3(&red, &format!("blueteam-r{}", s.tag))
        .await
        .unwrap_err();
    assert_eq!(denied.status, 403, "a red session may not: {}", denied.body);
}

/// A base64 SAML response from the test IdP (PyPI pysaml2 + xmlsec1,
/// `tests/support/saml/idp.py`); None (after saying why) when it is missing.
fn saml_response(args: &[&str]) -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/saml/idp.py");
    match Command::new("python3").arg(script).args(args).output() {
        Ok(out) if out.status.success() => Some(String::from_utf8(out.stdout).unwrap()),
        Ok(out) => {
            cognate_tests::skip(&format!(
                "the SAML test IdP (python3 with pysaml2, xmlsec1) failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            None
        }
        Err(e) => {
            cognate_tests::skip(&format!("python3 cannot be run: {e}"));
            None
        }
    }
}

#[tokio::test]
async fn a_saml_login_gets_radosgw_credentials_for_the_role_its_assertion_grants() {
    const PROVIDER: &str = SAML_PROVIDER;
    let Some(s) = stack(None).await else { return };
    let (pool, engineers, auditors) = s.saml_pool("saml").await;
    let Some(response) = saml_response(&[
        "--name-id",
        "frank@example.com",
        "--role",
        &format!("{engineers},{PROVIDER}"),
        "--role",
        &format!("{PROVIDER},{auditors}"),
    ]) else {
        return;
    };
    // Fresh connections: the IdP script may outlast the server's keep-alive.
    let client = || {
        crate::helpers::sdk_client(
            &s.app.address,
            crate::helpers::ACCESS_KEY_A,
            crate::helpers::SECRET_KEY_A,
            crate::helpers::REGION,
        )
    };
    let id = client()
        .get_id()
        .identity_pool_id(&pool)
        .logins(PROVIDER, &response)
        .send()
        .await
        .expect("GetId")
        .identity_id
        .unwrap();
    let out = client()
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins(PROVIDER, &response)
        .custom_role_arn(&auditors)
        .send()
        .await
        .expect("credentials for the chosen role of the assertion");
    let creds = sdk_credentials(&out.credentials.unwrap());
    s.use_s3(&creds, &format!("samlaudit-{}", s.tag))
        .await
        .expect("the auditors' bucket");
    let denied = s
        .use_s3(&creds, &format!("samleng-{}", s.tag))
        .await
        .unwrap_err();
    assert_eq!(denied.status, 403, "not the other role: {}", denied.body);
}

#[tokio::test]
async fn the_js_sdk_credential_provider_presents_a_saml_response_and_gets_the_role_it_chose() {
    const PROVIDER: &str = SAML_PROVIDER;
    if !oidc::node_available() {
        cognate_tests::skip("node is not installed");
        return;
    }
    let Some(s) = stack(None).await else { return };
    let (pool, engineers, auditors) = s.saml_pool("saml-js").await;
    let Some(response) = saml_response(&[
        "--name-id",
        "grace@example.com",
        "--role",
        &format!("{engineers},{PROVIDER}"),
        "--role",
        &format!("{auditors},{PROVIDER}"),
    ]) else {
        return;
    };
    let logins = json!({ PROVIDER: response });
    // The app's SDK picks one of the assertion's roles with customRoleArn,
    // and S3 on radosgw takes the credentials for that role's bucket.
    let result = s
        .js_sdk_s3(
            &pool,
            &format!("samljseng-{}", s.tag),
            Some(logins.clone()),
            Some(&engineers),
        )
        .await;
    assert_eq!(result["body"], "hello from the JS SDK");
    let identity = result["identityId"].as_str().unwrap().to_owned();
    let again = s
        .js_sdk_s3(
            &pool,
            &format!("samljsaudit-{}", s.tag),
            Some(logins),
            Some(&auditors),
        )
        .await;
    assert_eq!(
        again["identityId"],
        identity.as_str(),
        "one identity per NameID"
    );
}
