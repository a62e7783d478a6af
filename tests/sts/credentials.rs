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

use aws_sdk_cognitoidentity::operation::get_credentials_for_identity::{
    GetCredentialsForIdentityError, GetCredentialsForIdentityOutput,
};

use crate::helpers::{
    assert_error_code, create_pool_request, credentials_for, developer_token, error_code,
    error_message, get_id, set_roles, spawn_app_with, SdkResult, TestApp, ACCOUNT_A, COGNITO,
};
use crate::rgw::{admin_credentials, s3_on_buckets, Reply, Rgw};

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
        admin: admin_credentials(ceph),
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
        let arn = self
            .rgw
            .create_web_identity_role(&self.admin, &name, &self.issuer_host, audience)
            .await;
        let mut statement = s3_on_buckets(bucket_prefix);
        if let Some(team) = team {
            statement["Condition"] = json!({"StringEquals": {"aws:PrincipalTag/team": team}});
        }
        self.rgw
            .put_role_statement(&self.admin, &name, "s3", statement)
            .await;
        arn
    }

    async fn pool(&self, name: &str, oidc_provider: Option<&str>) -> String {
        let mut req =
            create_pool_request(&self.app.client, name, true).developer_provider_name(DEV);
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
        let mut req = set_roles(&self.app.client, pool, roles);
        for (k, m) in mappings {
            req = req.role_mappings(k, m);
        }
        req.send().await.expect("set roles");
    }

    /// A pool trusted by radosgw whose guests get the role (name, bucket
    /// prefix) `guest_role`.
    async fn guest_pool(&self, name: &str, (role, bucket_prefix): (&str, &str)) -> String {
        let pool = self.pool(name, None).await;
        self.trust_pools(&[&pool]).await;
        let role = self.role(role, &pool, bucket_prefix).await;
        self.set_roles(&pool, &[("unauthenticated", &role)], vec![])
            .await;
        pool
    }

    /// GetCredentialsForIdentity presenting `logins`.
    async fn credentials(
        &self,
        id: &str,
        logins: &[(&str, &str)],
    ) -> SdkResult<GetCredentialsForIdentityOutput, GetCredentialsForIdentityError> {
        credentials_for(&self.app.client, id, logins).send().await
    }

    /// A new guest of `pool` and GetCredentialsForIdentity for it.
    async fn guest_credentials(
        &self,
        pool: &str,
    ) -> (
        String,
        SdkResult<GetCredentialsForIdentityOutput, GetCredentialsForIdentityError>,
    ) {
        let id = self.app.guest(pool).await;
        let out = self.credentials(&id, &[]).await;
        (id, out)
    }

    /// GetId with the `login` (provider, token), then GetCredentialsForIdentity
    /// with it, asking for `custom_role` if any.
    async fn login_credentials(
        &self,
        pool: &str,
        (provider, token): (&str, &str),
        custom_role: Option<String>,
    ) -> SdkResult<GetCredentialsForIdentityOutput, GetCredentialsForIdentityError> {
        let login = [(provider, token)];
        let id = get_id(&self.app.client, pool, &login).send().await.unwrap();
        credentials_for(&self.app.client, &id.identity_id.unwrap(), &login)
            .set_custom_role_arn(custom_role)
            .send()
            .await
    }

    /// The credentials of a developer user's identity, presenting its
    /// Cognate token.
    async fn developer_credentials(
        &self,
        dev: aws_sdk_cognitoidentity::operation::get_open_id_token_for_developer_identity::GetOpenIdTokenForDeveloperIdentityOutput,
    ) -> Credentials {
        let (id, token) = (dev.identity_id.unwrap(), dev.token.unwrap());
        let out = self.credentials(&id, &[(COGNITO, &token)]).await;
        sdk_credentials(&out.expect("credentials").credentials.unwrap())
    }

    /// The bucket `<prefix><tag>`: the test's own.
    fn bucket(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.tag)
    }

    /// Asserts that `creds` work for the bucket of prefix `allowed` (and
    /// what it is); S3's refusal of them for the bucket of prefix `denied`.
    async fn s3_only(&self, creds: &Credentials, allowed: (&str, &str), denied: &str) -> Reply {
        let (prefix, what) = allowed;
        self.use_s3(creds, &self.bucket(prefix)).await.expect(what);
        let refused = self.use_s3(creds, &self.bucket(denied)).await;
        refused.expect_err("S3 refuses the other bucket")
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

/// The credentials of a GetCredentialsForIdentity that must succeed
/// (`what` they are for).
fn granted(
    out: SdkResult<GetCredentialsForIdentityOutput, GetCredentialsForIdentityError>,
    what: &str,
) -> Credentials {
    sdk_credentials(&out.expect(what).credentials.unwrap())
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
    let pool = s.guest_pool("guests", ("guest", "guest-")).await;
    let (id, out) = s.guest_credentials(&pool).await;
    let out = out.expect("credentials through radosgw's STS");
    assert_eq!(out.identity_id.as_deref(), Some(id.as_str()));
    let c = out.credentials.expect("credentials");
    let expires_in = c.expiration.unwrap().secs() - chrono::Utc::now().timestamp();
    assert!(
        (3000..=3700).contains(&expires_in),
        "a one-hour session: {expires_in}s"
    );
    s.use_s3(&sdk_credentials(&c), &s.bucket("guest-"))
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
    let dev = developer_token(&s.app.client, &pool, (DEV, "dora"));
    let creds = s.developer_credentials(dev.send().await.unwrap()).await;
    let allowed = ("member-", "the authenticated role's bucket");
    let denied = s.s3_only(&creds, allowed, "visitor-").await;
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
    let (_, out) = s.guest_credentials(&pool).await;
    assert_eq!(
        assert_error_code(out, "InvalidIdentityPoolConfigurationException"),
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
            s.login_credentials(&pool, (&provider, &token), None).await
        }
    };
    for (user, what, allowed, denied) in [
        (
            "admin-ann",
            "admin",
            ("admins-", "the admin role's bucket"),
            "users-a",
        ),
        (
            "bob",
            "user",
            ("users-", "the user role's bucket"),
            "admins-b",
        ),
    ] {
        let creds = granted(credentials_for(pool.clone(), user).await, what);
        let refused = s.s3_only(&creds, allowed, denied).await;
        assert_eq!(refused.status, 403);
    }
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
    let pool = s.guest_pool("js guests", ("js", "js-")).await;
    // The bucket must exist; the script writes and reads an object in it.
    let (_, c) = s.guest_credentials(&pool).await;
    let c = c.unwrap();
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
        let pool = create_pool_request(&self.app.client, name, false)
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
    let pool = create_pool_request(&s.app.client, "user pool", false)
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
            s.login_credentials(&pool, (USER_POOL, &token), custom)
                .await
        }
    };
    let both = json!({"cognito:roles": [red.clone(), blue.clone()], "cognito:preferred_role": blue.clone()});
    let preferred = granted(credentials(both.clone(), None).await, "preferred");
    s.use_s3(&preferred, &s.bucket("blue-"))
        .await
        .expect("the preferred role");
    let custom = granted(credentials(both.clone(), Some(red.clone())).await, "custom");
    s.use_s3(&custom, &s.bucket("red-"))
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
            let dev = developer_token(&s.app.client, &pool, (DEV, user))
                .principal_tags("team", team)
                .send()
                .await
                .unwrap();
            s.developer_credentials(dev).await
        }
    };
    let blue = credentials("blue", "bea").await;
    s.use_s3(&blue, &s.bucket("blueteam-"))
        .await
        .expect("the blue session may use S3");
    let red = credentials("red", "rex").await;
    let denied = s.use_s3(&red, &s.bucket("blueteam-r")).await.unwrap_err();
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

/// A response for `name_id` granting the role pairs `pairs`, in their order.
fn saml_response_granting(name_id: &str, pairs: &[String]) -> Option<String> {
    let mut args = vec!["--name-id", name_id];
    for pair in pairs {
        args.extend(["--role", pair.as_str()]);
    }
    saml_response(&args)
}

#[tokio::test]
async fn a_saml_login_gets_radosgw_credentials_for_the_role_its_assertion_grants() {
    const PROVIDER: &str = SAML_PROVIDER;
    let Some(s) = stack(None).await else { return };
    let (pool, engineers, auditors) = s.saml_pool("saml").await;
    let pairs = [
        format!("{engineers},{PROVIDER}"),
        format!("{PROVIDER},{auditors}"),
    ];
    let Some(response) = saml_response_granting("frank@example.com", &pairs) else {
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
    let login = [(PROVIDER, response.as_str())];
    let id = get_id(&client(), &pool, &login)
        .send()
        .await
        .expect("GetId");
    let out = credentials_for(&client(), &id.identity_id.unwrap(), &login)
        .custom_role_arn(&auditors)
        .send()
        .await;
    let creds = granted(out, "credentials for the chosen role of the assertion");
    let allowed = ("samlaudit-", "the auditors' bucket");
    let denied = s.s3_only(&creds, allowed, "samleng-").await;
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
    let pairs = [&engineers, &auditors].map(|role| format!("{role},{PROVIDER}"));
    let Some(response) = saml_response_granting("grace@example.com", &pairs) else {
        return;
    };
    let logins = json!({ PROVIDER: response });
    // The app's SDK picks one of the assertion's roles with customRoleArn,
    // and S3 on radosgw takes the credentials for that role's bucket.
    let result = s
        .js_sdk_s3(
            &pool,
            &s.bucket("samljseng-"),
            Some(logins.clone()),
            Some(&engineers),
        )
        .await;
    assert_eq!(result["body"], "hello from the JS SDK");
    let identity = result["identityId"].as_str().unwrap().to_owned();
    let again = s
        .js_sdk_s3(
            &pool,
            &s.bucket("samljsaudit-"),
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
