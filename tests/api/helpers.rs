//! `spawn_app()`: a fresh database cloned from the migrated template, the
//! real application on port 0, and real clients pointed at it.

use std::collections::HashMap;
use std::net::TcpListener;

use aws_sdk_cognitoidentity::config::{Credentials, Region};
use aws_sdk_cognitoidentity::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentity::operation::create_identity_pool::builders::CreateIdentityPoolFluentBuilder as CreatePool;
use aws_sdk_cognitoidentity::operation::delete_identities::builders::DeleteIdentitiesFluentBuilder as DeleteIdentities;
use aws_sdk_cognitoidentity::operation::delete_identity_pool::builders::DeleteIdentityPoolFluentBuilder as DeletePool;
use aws_sdk_cognitoidentity::operation::describe_identity::builders::DescribeIdentityFluentBuilder as DescribeIdentity;
use aws_sdk_cognitoidentity::operation::describe_identity_pool::builders::DescribeIdentityPoolFluentBuilder as DescribePool;
use aws_sdk_cognitoidentity::operation::get_credentials_for_identity::builders::GetCredentialsForIdentityFluentBuilder as GetCredentials;
use aws_sdk_cognitoidentity::operation::get_id::builders::GetIdFluentBuilder as GetId;
use aws_sdk_cognitoidentity::operation::get_identity_pool_roles::builders::GetIdentityPoolRolesFluentBuilder as GetRoles;
use aws_sdk_cognitoidentity::operation::get_open_id_token::builders::GetOpenIdTokenFluentBuilder as GetOpenIdToken;
use aws_sdk_cognitoidentity::operation::get_open_id_token_for_developer_identity::builders::GetOpenIdTokenForDeveloperIdentityFluentBuilder as GetDeveloperToken;
use aws_sdk_cognitoidentity::operation::get_principal_tag_attribute_map::builders::GetPrincipalTagAttributeMapFluentBuilder as GetPrincipalTags;
use aws_sdk_cognitoidentity::operation::list_identities::builders::ListIdentitiesFluentBuilder as ListIdentities;
use aws_sdk_cognitoidentity::operation::list_identity_pools::builders::ListIdentityPoolsFluentBuilder as ListPools;
use aws_sdk_cognitoidentity::operation::list_tags_for_resource::builders::ListTagsForResourceFluentBuilder as ListTags;
use aws_sdk_cognitoidentity::operation::set_identity_pool_roles::builders::SetIdentityPoolRolesFluentBuilder as SetRoles;
use aws_sdk_cognitoidentity::operation::set_principal_tag_attribute_map::builders::SetPrincipalTagAttributeMapFluentBuilder as SetPrincipalTags;
use aws_sdk_cognitoidentity::operation::tag_resource::builders::TagResourceFluentBuilder as TagResource;
use aws_sdk_cognitoidentity::operation::update_identity_pool::builders::UpdateIdentityPoolFluentBuilder as UpdatePool;
use aws_sdk_cognitoidentity::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use cognate_server::config::{AccountSettings, Settings};
use cognate_server::startup::Application;

/// Account A: the default signer of `TestApp::client`.
pub const ACCOUNT_A: &str = "111111111111";
pub const ACCESS_KEY_A: &str = "AKIATESTACCOUNTA0001";
pub const SECRET_KEY_A: &str = "test-secret-key-of-account-a-0000000001";
/// Account B: another tenant, for isolation tests.
pub const ACCOUNT_B: &str = "222222222222";
pub const ACCESS_KEY_B: &str = "AKIATESTACCOUNTB0001";
pub const SECRET_KEY_B: &str = "test-secret-key-of-account-b-0000000001";
pub const REGION: &str = "us-east-1";
/// An identity pool id or identity id that names nothing.
pub const UNKNOWN_ID: &str = "us-east-1:00000000-0000-0000-0000-000000000000";
/// The provider name of Cognate's (Cognito's) own tokens as logins.
pub const COGNITO: &str = "cognito-identity.amazonaws.com";
/// The error code of anything unknown (or another account's).
pub const NOT_FOUND: &str = "ResourceNotFoundException";
/// AWS's text when a pool refuses the basic (classic) flow.
pub const CLASSIC_REFUSED: &str = "Basic (classic) flow is not enabled, please use enhanced flow.";
/// AWS's text when a pool takes no guests.
pub const GUESTS_NOT_SUPPORTED: &str =
    "Unauthenticated access is not supported for this identity pool.";

/// A running application with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// `http://127.0.0.1:<management port>`: `/metrics`, `/healthz`, `/readyz`.
    pub management_address: String,
    /// `http://127.0.0.1:<console port>`, when `console.bind` is set.
    pub console_address: Option<String>,
    /// The database URL the app uses.
    pub database_url: String,
    /// The settings it runs with.
    pub settings: Settings,
    /// Rust SDK client signed as account A.
    pub client: Client,
    /// Plain HTTP client for protocol-level tests.
    pub http: reqwest::Client,
}

fn init_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        if std::env::var_os("TEST_LOG").is_some() {
            cognate_server::telemetry::init("info", false);
        }
    });
}

/// Settings every test starts from: two accounts, port 0.
pub fn test_settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings load");
    settings.server.bind = ([127, 0, 0, 1], 0).into();
    settings.server.management_bind = ([127, 0, 0, 1], 0).into();
    settings.server.workers = 2;
    settings.server.shutdown_timeout_seconds = 1;
    settings.accounts = vec![
        AccountSettings::new(ACCOUNT_A, ACCESS_KEY_A, SECRET_KEY_A),
        AccountSettings::new(ACCOUNT_B, ACCESS_KEY_B, SECRET_KEY_B),
    ];
    // Many tests put load on one account (hundreds of identities, pools,
    // tokens in a loop): they run unlimited, as configured here. The quota
    // tests (quotas.rs) set the quotas they test.
    settings.disable_quotas();
    settings.oidc_providers = vec![cognate_server::config::OidcProviderSettings {
        account: ACCOUNT_A.to_owned().try_into().expect("an account id"),
        url: "https://idp.example.com".try_into().expect("a URL"),
        client_ids: vec!["example-client".into()],
    }];
    // The test SAML IdP (tests/support/saml/idp.py) as `corp` of account A.
    settings.saml_providers = vec![cognate_server::config::SamlProviderSettings {
        account: ACCOUNT_A.to_owned().try_into().expect("an account id"),
        name: "corp".into(),
        metadata_file: Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("support/saml/idp-metadata.xml"),
        ),
        metadata_url: None,
        audience: None,
        recipient: None,
        allow_sha1: false,
    }];
    settings
}

/// Spawn the app with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawn the app after letting the test adjust its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    init_once();
    let database_url = cognate_tests::pg::cluster()
        .await
        .fresh_database(|url| async move { cognate_store::migrate::run(&url).await.map(|_| ()) })
        .await
        .expect("fresh test database");
    spawn_app_on(database_url, customize).await
}

/// Spawn the app on an existing database.
pub async fn spawn_app_on(database_url: String, customize: impl FnOnce(&mut Settings)) -> TestApp {
    init_once();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("local addr").port();
    let address = format!("http://127.0.0.1:{port}");
    let mut settings = test_settings();
    settings.server.public_url = address.as_str().try_into().expect("a URL");
    settings.database.url = Some(database_url.clone().into());
    settings.tokens.publish_ahead_seconds = 0;
    settings.tokens.refresh_seconds = 1;
    customize(&mut settings);
    let app = Application::build_with_listener(&settings, &database_url, listener)
        .await
        .expect("application builds");
    let management_address = format!("http://127.0.0.1:{}", app.management_port());
    let console_address = app
        .console_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        management_address,
        console_address,
        client: sdk_client(&address, ACCESS_KEY_A, SECRET_KEY_A, REGION),
        address,
        database_url,
        settings,
        http: cognate_tests::http_client().build().unwrap(),
    }
}

/// A Rust SDK client with the given credentials and region.
pub fn sdk_client(address: &str, access_key: &str, secret: &str, region: &str) -> Client {
    let config = aws_sdk_cognitoidentity::Config::builder()
        .behavior_version(aws_sdk_cognitoidentity::config::BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            access_key,
            secret,
            None,
            None,
            "cognate-tests",
        ))
        .endpoint_url(address)
        .retry_config(aws_sdk_cognitoidentity::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

impl TestApp {
    /// A client signed as account B.
    pub fn client_b(&self) -> Client {
        sdk_client(&self.address, ACCESS_KEY_B, SECRET_KEY_B, REGION)
    }

    /// Create a pool with a name, unauthenticated access and the basic
    /// (classic) flow; returns its id.
    pub async fn create_pool(&self, name: &str) -> String {
        self.client
            .create_identity_pool()
            .identity_pool_name(name)
            .allow_unauthenticated_identities(true)
            .allow_classic_flow(true)
            .send()
            .await
            .expect("create pool")
            .identity_pool_id
    }

    /// DeleteIdentityPool, which must succeed.
    pub async fn delete_pool(&self, pool: &str) {
        self.client
            .delete_identity_pool()
            .identity_pool_id(pool)
            .send()
            .await
            .expect("delete pool");
    }

    /// A new guest identity of `pool` (GetId without logins, which must
    /// succeed).
    pub async fn guest(&self, pool: &str) -> String {
        self.client
            .get_id()
            .identity_pool_id(pool)
            .send()
            .await
            .expect("GetId")
            .identity_id
            .expect("an identity id")
    }

    /// The identity ids of the first page (60) of ListIdentities.
    pub async fn identity_ids(&self, pool: &str) -> Vec<String> {
        list_identities(&self.client, pool, 60)
            .send()
            .await
            .expect("list identities")
            .identities()
            .iter()
            .filter_map(|i| i.identity_id().map(str::to_owned))
            .collect()
    }

    /// POST a raw JSON 1.1 request (unsigned).
    pub async fn post_raw(
        &self,
        target: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let req = json_request(&self.http, &self.address, target);
        req.body(body).send().await.expect("request sent")
    }

    /// GET /readyz: the status and the text.
    pub async fn readyz(&self) -> (u16, String) {
        let url = format!("{}/readyz", self.address);
        let res = self.http.get(url).send().await.expect("/readyz");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    /// The pool ARN of a pool of account A.
    pub fn pool_arn(&self, pool_id: &str) -> String {
        format!("arn:aws:cognito-identity:{REGION}:{ACCOUNT_A}:identitypool/{pool_id}")
    }
}

/// The AWS error code of an SDK error, for assertions.
pub fn error_code<E, R>(err: &aws_sdk_cognitoidentity::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cognitoidentity::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => e.code().unwrap_or("<no code>").to_owned(),
        None => format!("<not a service error: {err:?}>"),
    }
}

/// The AWS error message of an SDK error.
pub fn error_message<E, R>(err: &aws_sdk_cognitoidentity::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cognitoidentity::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned()
}

/// The claims and header of a token, verified against the app's JWKS
/// (fetched through discovery, as a relying party does).
pub async fn verify_with_jwks(
    app: &TestApp,
    token: &str,
) -> Result<(jsonwebtoken::Header, serde_json::Value), String> {
    let discovery = fetch_json(
        app,
        &format!("{}/.well-known/openid-configuration", app.address),
    )
    .await?;
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?;
    let jwks = fetch_json(app, jwks_uri).await?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.clone().ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .ok_or("kid not published")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().ok_or("n")?,
        jwk["e"].as_str().ok_or("e")?,
    )
    .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_issuer(&[app.address.as_str()]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|e| e.to_string())?;
    Ok((header, data.claims))
}

/// GET `url` as JSON.
async fn fetch_json(app: &TestApp, url: &str) -> Result<serde_json::Value, String> {
    app.http
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// Decode a token's claims without verifying (for inspecting a refused one).
pub fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("three parts");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&raw).expect("JSON claims")
}

// The requests of single SDK calls the tests make again and again, for any
// client (account A's `app.client` or account B's `app.client_b()`), with
// the parameters most calls need; a test adds others and sends them, then
// asserts success (`.expect`) or the error code ([`assert_error_code`]).

/// What an SDK call answers.
pub type SdkResult<T, E> = Result<T, SdkError<E, HttpResponse>>;

/// Asserts that an SDK call was refused with the AWS error `code`; returns
/// the error's message for further assertions.
#[track_caller]
pub fn assert_error_code<T, E>(result: SdkResult<T, E>, code: &str) -> String
where
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    let err = result.expect_err("the call must be refused");
    assert_eq!(error_code(&err), code, "{err:?}");
    error_message(&err)
}

/// Asserts that a call was refused because the pool takes no guests (any
/// more), with AWS's code and text.
#[track_caller]
pub fn assert_guests_refused<T, E>(result: SdkResult<T, E>)
where
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    let message = assert_error_code(result, "NotAuthorizedException");
    assert_eq!(message, GUESTS_NOT_SUPPORTED);
}

/// A map of (key, value) pairs as the SDK takes it; none when empty, so
/// that the request leaves the field out.
fn string_map(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    let map: HashMap<_, _> = pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    (!map.is_empty()).then_some(map)
}

/// CreateIdentityPool named `name`, taking guests or not.
pub fn create_pool_request(client: &Client, name: &str, guests: bool) -> CreatePool {
    let request = client.create_identity_pool().identity_pool_name(name);
    request.allow_unauthenticated_identities(guests)
}

/// The id of a new pool of `client`'s account, named `name`, taking guests
/// or not, with whatever else `extra` sets; the creation must succeed.
pub async fn create_pool_with(
    client: &Client,
    name: &str,
    guests: bool,
    extra: impl FnOnce(CreatePool) -> CreatePool,
) -> String {
    let request = extra(create_pool_request(client, name, guests));
    request.send().await.expect("create pool").identity_pool_id
}

/// The id of a new pool of `client`'s account with the developer provider
/// `provider`; the creation must succeed.
pub async fn developer_pool(client: &Client, name: &str, guests: bool, provider: &str) -> String {
    create_pool_with(client, name, guests, |p| {
        p.developer_provider_name(provider)
    })
    .await
}

/// UpdateIdentityPool to `name`, taking guests or not (what the request
/// leaves out is reset, as AWS does).
pub fn update_pool(client: &Client, pool: &str, name: &str, guests: bool) -> UpdatePool {
    let request = client.update_identity_pool().identity_pool_id(pool);
    request
        .identity_pool_name(name)
        .allow_unauthenticated_identities(guests)
}

/// DescribeIdentityPool.
pub fn describe_pool(client: &Client, pool: &str) -> DescribePool {
    client.describe_identity_pool().identity_pool_id(pool)
}

/// DeleteIdentityPool.
pub fn delete_pool(client: &Client, pool: &str) -> DeletePool {
    client.delete_identity_pool().identity_pool_id(pool)
}

/// One page of ListIdentityPools.
pub fn list_pools(client: &Client, max_results: i32) -> ListPools {
    client.list_identity_pools().max_results(max_results)
}

/// The pool ids of one page of ListIdentityPools, which must succeed, and
/// the next token.
pub async fn pool_ids_page(
    client: &Client,
    max_results: i32,
    next_token: Option<String>,
) -> (Vec<String>, Option<String>) {
    let request = list_pools(client, max_results).set_next_token(next_token);
    let page = request.send().await.expect("list pools");
    let pools = page.identity_pools.unwrap_or_default().into_iter();
    let ids = pools.map(|p| p.identity_pool_id.expect("a pool id"));
    (ids.collect(), page.next_token)
}

/// GetId presenting `logins` (none for a guest).
pub fn get_id(client: &Client, pool: &str, logins: &[(&str, &str)]) -> GetId {
    let request = client.get_id().identity_pool_id(pool);
    request.set_logins(string_map(logins))
}

/// GetOpenIdToken presenting `logins` (none for the basic guest flow).
pub fn open_id_token(client: &Client, id: &str, logins: &[(&str, &str)]) -> GetOpenIdToken {
    client
        .get_open_id_token()
        .identity_id(id)
        .set_logins(string_map(logins))
}

/// Asserts that GetOpenIdToken of `id` without logins (the basic flow) is
/// refused because its pool refuses the basic (classic) flow, with AWS's
/// code and text.
pub async fn assert_basic_flow_refused(client: &Client, id: &str) {
    let refused = open_id_token(client, id, &[]).send().await;
    let message = assert_error_code(refused, "InvalidParameterException");
    assert_eq!(message, CLASSIC_REFUSED);
}

/// GetCredentialsForIdentity presenting `logins`.
pub fn credentials_for(client: &Client, id: &str, logins: &[(&str, &str)]) -> GetCredentials {
    let request = client.get_credentials_for_identity();
    request.identity_id(id).set_logins(string_map(logins))
}

/// GetOpenIdTokenForDeveloperIdentity for `user` of the developer
/// `provider`.
pub fn developer_token(
    client: &Client,
    pool: &str,
    (provider, user): (&str, &str),
) -> GetDeveloperToken {
    let request = client.get_open_id_token_for_developer_identity();
    request.identity_pool_id(pool).logins(provider, user)
}

/// DescribeIdentity.
pub fn describe_identity(client: &Client, id: &str) -> DescribeIdentity {
    client.describe_identity().identity_id(id)
}

/// One page of ListIdentities.
pub fn list_identities(client: &Client, pool: &str, max_results: i32) -> ListIdentities {
    let request = client.list_identities().identity_pool_id(pool);
    request.max_results(max_results)
}

/// DeleteIdentities of `ids`.
pub fn delete_identities(client: &Client, ids: &[&str]) -> DeleteIdentities {
    let ids = ids.iter().map(|id| id.to_string()).collect();
    client
        .delete_identities()
        .set_identity_ids_to_delete(Some(ids))
}

/// SetIdentityPoolRoles with `roles` (key, role ARN) and no role mappings.
pub fn set_roles(client: &Client, pool: &str, roles: &[(&str, &str)]) -> SetRoles {
    let request = client.set_identity_pool_roles().identity_pool_id(pool);
    request.set_roles(string_map(roles))
}

/// GetIdentityPoolRoles.
pub fn get_roles(client: &Client, pool: &str) -> GetRoles {
    client.get_identity_pool_roles().identity_pool_id(pool)
}

/// GetPrincipalTagAttributeMap of `provider`.
pub fn get_principal_tags(client: &Client, pool: &str, provider: &str) -> GetPrincipalTags {
    let request = client.get_principal_tag_attribute_map();
    request
        .identity_pool_id(pool)
        .identity_provider_name(provider)
}

/// SetPrincipalTagAttributeMap of `provider`: the defaults or not.
pub fn set_principal_tags(
    client: &Client,
    pool: &str,
    provider: &str,
    use_defaults: bool,
) -> SetPrincipalTags {
    let request = client
        .set_principal_tag_attribute_map()
        .identity_pool_id(pool);
    request
        .identity_provider_name(provider)
        .use_defaults(use_defaults)
}

/// TagResource with `tags` (key, value).
pub fn tag_resource(client: &Client, arn: &str, tags: &[(&str, &str)]) -> TagResource {
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(string_map(tags))
}

/// ListTagsForResource.
pub fn list_tags(client: &Client, arn: &str) -> ListTags {
    client.list_tags_for_resource().resource_arn(arn)
}

/// The tags of a resource; ListTagsForResource must succeed.
pub async fn tags_of(client: &Client, arn: &str) -> HashMap<String, String> {
    let listed = list_tags(client, arn).send().await.expect("list tags");
    listed.tags.unwrap_or_default()
}

/// A plain connection to the app's database.
pub async fn database(app: &TestApp) -> tokio_postgres::Client {
    let (db, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    db
}

/// The store the service runs on, on the app's database.
pub fn store(app: &TestApp) -> cognate_store::PgStore {
    cognate_store::PgStore::connect_lazy(&app.database_url, &Default::default())
        .expect("a store on the test database")
}

/// An unsigned JSON 1.1 POST to `address` from `http`, of the operation
/// `target` if any.
pub fn json_request(
    http: &reqwest::Client,
    address: &str,
    target: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = http
        .post(address)
        .header("Content-Type", "application/x-amz-json-1.1");
    match target {
        Some(target) => request.header(
            "X-Amz-Target",
            format!("AWSCognitoIdentityService.{target}"),
        ),
        None => request,
    }
}

/// Asserts that a raw HTTP response is a 408 RequestTimeoutException that
/// closes the connection.
#[track_caller]
pub fn assert_timed_out_and_closed(response: &str) {
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("RequestTimeoutException"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("connection: close"), "{response}");
}

/// The JSON a tool (the AWS CLI, a Python or Node script) printed; it must
/// have succeeded.
#[track_caller]
pub fn json_output(what: &str, out: &std::process::Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Whether `check` comes true within `tries` attempts, `pause` apart.
pub async fn eventually(
    tries: usize,
    pause: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> bool {
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(pause).await;
    }
    false
}

/// The `p`th percentile of sorted durations.
pub fn percentile(sorted: &[std::time::Duration], p: usize) -> std::time::Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// The head of a raw HTTP/1.1 GetId request to `host`, with the body's
/// framing header (`Content-Length: n` or `Transfer-Encoding: chunked`).
pub fn raw_get_id_head(host: impl std::fmt::Display, framing: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: AWSCognitoIdentityService.GetId\r\n{framing}\r\n\r\n"
    )
}
