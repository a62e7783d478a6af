//! `spawn_app()`: a fresh database cloned from the migrated template, the
//! real application on port 0, and real clients pointed at it.

use std::net::TcpListener;

use aws_sdk_cognitoidentity::config::{Credentials, Region};
use aws_sdk_cognitoidentity::Client;
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
        self.client
            .list_identities()
            .identity_pool_id(pool)
            .max_results(60)
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
        let mut req = self
            .http
            .post(&self.address)
            .header("Content-Type", "application/x-amz-json-1.1");
        if let Some(target) = target {
            req = req.header(
                "X-Amz-Target",
                format!("AWSCognitoIdentityService.{target}"),
            );
        }
        req.body(body).send().await.expect("request sent")
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
    let discovery: serde_json::Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.address))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?;
    let jwks: serde_json::Value = app
        .http
        .get(jwks_uri)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
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

/// Decode a token's claims without verifying (for inspecting a refused one).
pub fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("three parts");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&raw).expect("JSON claims")
}
