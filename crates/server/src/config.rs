//! Typed, layered configuration (see `config/default.toml` for every key).
//!
//! Layers: the compiled-in `config/default.toml`, then the `--config` /
//! `COGNATE_CONFIG` file, then `COGNATE__SECTION__KEY` environment
//! variables. Unknown keys are refused, and every check names the key it
//! failed on. Secrets are `SecretString`s, so they never print.
//!
//! Every secret key (see [`SECRET_KEYS`]) may instead be given as
//! `<key>_file = "/run/secrets/..."`: the file's content (one trailing
//! newline dropped) is the value, as container and Kubernetes secrets are
//! mounted. Giving both is an error naming the key.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use cognate_domain::ids::{AccountId, Region};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// The compiled-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[[accounts]]`.
    #[serde(default)]
    pub accounts: Vec<AccountSettings>,
    /// `[tokens]`.
    pub tokens: TokenSettings,
    /// `[sts]`.
    pub sts: StsSettings,
    /// `[federation]`.
    pub federation: FederationSettings,
    /// `[[oidc_providers]]`.
    #[serde(default)]
    pub oidc_providers: Vec<OidcProviderSettings>,
    /// `[[saml_providers]]`.
    #[serde(default)]
    pub saml_providers: Vec<SamlProviderSettings>,
    /// `[[upstream]]`.
    #[serde(default)]
    pub upstream: Vec<UpstreamSettings>,
    /// `[limits]`.
    pub limits: LimitSettings,
    /// `[quotas]`: requests per second per account, by operation name; 0 = unlimited.
    #[serde(default)]
    pub quotas: BTreeMap<String, u32>,
    /// `[log]`.
    pub log: LogSettings,
    /// `[audit]`.
    pub audit: AuditSettings,
    /// `[telemetry]`.
    pub telemetry: TelemetrySettings,
    /// `[console]`: the operator console (off unless `bind` is set).
    #[serde(default)]
    pub console: ConsoleSettings,
}

/// `[console]`: the operator console.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// `bind`: its own listener; unset, no console.
    pub bind: Option<SocketAddr>,
    /// `public_url`: where browsers reach it (default: from `bind`).
    pub public_url: Option<HttpUrl>,
    /// `issuer`: the operators' OpenID provider.
    pub issuer: Option<HttpUrl>,
    /// `client_id` there.
    pub client_id: Option<String>,
    /// `client_secret` (or `client_secret_file`); unset: a public client.
    pub client_secret: Option<SecretString>,
    /// `scopes` asked for besides `openid`.
    #[serde(default = "default_console_scopes")]
    pub scopes: Vec<String>,
    /// `groups_claim`: the ID-token claim listing the operator's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// `idle_timeout_seconds`.
    #[serde(default = "default_console_idle")]
    pub idle_timeout_seconds: u64,
    /// `absolute_timeout_seconds`.
    #[serde(default = "default_console_absolute")]
    pub absolute_timeout_seconds: u64,
    /// `tls_cert_file`: HTTPS on the console's listener.
    pub tls_cert_file: Option<PathBuf>,
    /// `tls_key_file`.
    pub tls_key_file: Option<PathBuf>,
    /// `[[console.operators]]`.
    #[serde(default)]
    pub operators: Vec<ConsoleOperatorSettings>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            bind: None,
            public_url: None,
            issuer: None,
            client_id: None,
            client_secret: None,
            scopes: default_console_scopes(),
            groups_claim: default_groups_claim(),
            idle_timeout_seconds: default_console_idle(),
            absolute_timeout_seconds: default_console_absolute(),
            tls_cert_file: None,
            tls_key_file: None,
            operators: Vec::new(),
        }
    }
}

fn default_console_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_console_idle() -> u64 {
    900
}

fn default_console_absolute() -> u64 {
    28_800
}

/// One `[[console.operators]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleOperatorSettings {
    /// `sub`: this operator.
    pub sub: Option<String>,
    /// `group`: members of this group.
    pub group: Option<String>,
    /// `accounts`: account ids, or `"*"` for all.
    pub accounts: Vec<String>,
    /// `role`: viewer or operator.
    pub role: ConsoleRole,
}

/// `console.operators[].role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleRole {
    /// Reads only.
    Viewer,
    /// May change.
    Operator,
}

impl ConsoleSettings {
    /// The URL browsers reach the console at, no trailing slash.
    pub fn public_url(&self) -> Option<String> {
        if let Some(url) = &self.public_url {
            return Some(url.trim_end_matches('/').to_owned());
        }
        let bind = self.bind?;
        let scheme = if self.tls_cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        Some(format!("{scheme}://{bind}"))
    }

    fn check(&self, accounts: &[AccountSettings]) -> anyhow::Result<()> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => bail!("console.tls_key_file: needed with console.tls_cert_file"),
            (None, Some(_)) => bail!("console.tls_cert_file: needed with console.tls_key_file"),
            _ => {}
        }
        let Some(bind) = self.bind else {
            return Ok(());
        };
        if self.issuer.is_none() {
            bail!("console.issuer: needed with console.bind (the operators' OpenID provider)");
        }
        if self.client_id.as_deref().is_none_or(str::is_empty) {
            bail!("console.client_id: needed with console.bind");
        }
        if self.public_url.is_none() && bind.ip().is_unspecified() {
            bail!(
                "console.public_url: needed when console.bind listens on every address ({bind}): \
                 the URL browsers use, e.g. https://console.example.com"
            );
        }
        if self.idle_timeout_seconds == 0 {
            bail!("console.idle_timeout_seconds: must be at least 1");
        }
        if self.absolute_timeout_seconds < self.idle_timeout_seconds {
            bail!(
                "console.absolute_timeout_seconds: must be at least console.idle_timeout_seconds"
            );
        }
        if self.operators.is_empty() {
            bail!(
                "console.operators: no [[console.operators]] entry: nobody could use the console"
            );
        }
        for (i, rule) in self.operators.iter().enumerate() {
            let key = format!("console.operators[{i}]");
            if rule.sub.is_some() == rule.group.is_some() {
                bail!("{key}: give exactly one of sub and group");
            }
            if rule.accounts.is_empty() {
                bail!("{key}.accounts: list account ids, or \"*\" for all");
            }
            for account in &rule.accounts {
                if account != "*" && !accounts.iter().any(|a| &a.id == account) {
                    bail!("{key}.accounts: {account} is not one of the [[accounts]]");
                }
            }
        }
        Ok(())
    }
}

/// `[telemetry]`: OpenTelemetry traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `otlp_endpoint`: the collector's base URL; unset, no traces.
    pub otlp_endpoint: Option<HttpUrl>,
    /// `service_name`.
    pub service_name: String,
    /// `sampling_ratio`: share of the traces started here that are kept.
    pub sampling_ratio: f64,
    /// `accept_traceparent`: from any caller (else from trusted proxies only).
    pub accept_traceparent: bool,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// `bind`: address:port (serde refuses anything else, naming the key).
    #[serde(deserialize_with = "socket_addr")]
    pub bind: SocketAddr,
    /// `region`.
    pub region: Region,
    /// `public_url`.
    pub public_url: HttpUrl,
    /// `management_bind`: address:port of the management listener
    /// (`/metrics`, `/healthz`, `/readyz`).
    #[serde(deserialize_with = "socket_addr")]
    pub management_bind: SocketAddr,
    /// `max_body_bytes`.
    pub max_body_bytes: usize,
    /// `max_clock_skew_seconds`.
    pub max_clock_skew_seconds: u64,
    /// `workers` (0 = per core).
    pub workers: usize,
    /// `shutdown_timeout_seconds`.
    pub shutdown_timeout_seconds: u64,
    /// `tls_cert_file`: PEM certificate chain; with `tls_key_file`, serve HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// `tls_key_file`: PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
    /// `max_connections`: open connections per worker thread.
    pub max_connections: usize,
    /// `request_head_timeout_seconds`: time to receive a request's head.
    pub request_head_timeout_seconds: u64,
    /// `request_body_timeout_seconds`: time to receive a request's whole body.
    pub request_body_timeout_seconds: u64,
    /// `max_buffered_body_bytes`: request-body bytes held at once, all requests together.
    pub max_buffered_body_bytes: usize,
    /// `keep_alive_seconds`: idle time of a kept-alive connection (0 = no keep-alive).
    pub keep_alive_seconds: u64,
    /// `client_disconnect_timeout_seconds`: time to close a connection after the response.
    pub client_disconnect_timeout_seconds: u64,
    /// `max_public_requests`: unsigned requests in flight at once.
    pub max_public_requests: usize,
    /// `public_admission_wait_ms`: longest wait for a public slot.
    pub public_admission_wait_ms: u64,
    /// `max_signed_requests`: signed requests in flight at once.
    pub max_signed_requests: usize,
    /// `signed_admission_wait_ms`: longest wait for a signed slot.
    pub signed_admission_wait_ms: u64,
    /// `trusted_proxies`: addresses or CIDR blocks whose `X-Forwarded-For`
    /// names the client.
    pub trusted_proxies: Vec<String>,
    /// `max_connections_per_client`: open connections one client address may have.
    pub max_connections_per_client: usize,
    /// `max_buffered_body_bytes_per_client`: request-body bytes one client may hold at once.
    pub max_buffered_body_bytes_per_client: usize,
    /// `max_public_requests_per_client`: unsigned requests in flight per client.
    pub max_public_requests_per_client: usize,
    /// `max_signed_requests_per_client`: signed requests in flight per client.
    pub max_signed_requests_per_client: usize,
    /// `unknown_ids_per_client_per_second`: look-ups finding nothing, per client.
    pub unknown_ids_per_client_per_second: u32,
    /// `unknown_ids_burst_per_client`: such look-ups at once after a quiet spell.
    pub unknown_ids_burst_per_client: u32,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `url`; unset → private embedded cluster.
    pub url: Option<SecretString>,
    /// `password`: for a `url` that names a user but no password.
    pub password: Option<SecretString>,
    /// `data_dir` of the private cluster.
    pub data_dir: Option<PathBuf>,
    /// `embedded_port`: 0 = Unix socket only; else also 127.0.0.1:<port>.
    pub embedded_port: u16,
    /// `max_connections`: 0 = twice the cores plus four (see [`Self::pool_size`]).
    pub max_connections: u32,
    /// `min_connections`: kept open (and opened from the start) even when idle.
    pub min_connections: u32,
    /// `acquire_timeout_seconds`.
    pub acquire_timeout_seconds: u64,
    /// `failover_wait_seconds`: how long a call waits for a lost database.
    pub failover_wait_seconds: u64,
}

/// One `[[accounts]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// `id`: the account id (digits).
    pub id: String,
    /// `access_key_id`.
    pub access_key_id: String,
    /// `secret_access_key`.
    pub secret_access_key: SecretString,
    /// `quotas`: this account's overrides of `[quotas]`, e.g. `{ GetId = 500 }`.
    #[serde(default)]
    pub quotas: BTreeMap<String, u32>,
    /// `trusted_role_accounts`: other accounts whose IAM roles this
    /// account's pools may use (default: none, only the account's own).
    #[serde(default)]
    pub trusted_role_accounts: Vec<String>,
}

impl AccountSettings {
    /// An account with one access key and every optional setting at its
    /// default (for programs that build settings in code: tests, the bench).
    pub fn new(id: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        AccountSettings {
            id: id.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned().into(),
            trusted_role_accounts: Vec::new(),
            quotas: BTreeMap::new(),
        }
    }
}

/// `[tokens]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// `issuer`; default `server.public_url`.
    pub issuer: Option<HttpUrl>,
    /// `algorithm`: RS512 or RS256.
    pub algorithm: TokenAlgorithm,
    /// `key_encryption_key`: base64 of 32 bytes.
    pub key_encryption_key: Option<SecretString>,
    /// `rotation_days`.
    pub rotation_days: u64,
    /// `publish_ahead_seconds`.
    pub publish_ahead_seconds: u64,
    /// `refresh_seconds`.
    pub refresh_seconds: u64,
}

/// `[sts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsSettings {
    /// `endpoint`.
    pub endpoint: Option<HttpUrl>,
    /// `timeout_seconds`: one AssumeRoleWithWebIdentity call, at most.
    #[serde(default = "default_sts_timeout")]
    pub timeout_seconds: u64,
    /// `max_requests_in_flight`: AssumeRoleWithWebIdentity calls at once.
    pub max_requests_in_flight: usize,
    /// `failures_before_pause`: failures in a row that pause the STS (0: never).
    pub failures_before_pause: u32,
    /// `pause_seconds`: how long a paused STS is not asked.
    pub pause_seconds: u64,
}

fn default_sts_timeout() -> u64 {
    5
}

/// `[federation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// `subject_hash_key`: base64 of at least 32 bytes.
    pub subject_hash_key: Option<SecretString>,
    /// `http_timeout_seconds`: per request to an identity provider.
    pub http_timeout_seconds: u64,
    /// `jwks_cache_seconds`: how long discovery and JWKS are cached.
    pub jwks_cache_seconds: u64,
    /// `jwks_min_refetch_seconds`: at most one refetch per issuer this often.
    pub jwks_min_refetch_seconds: u64,
    /// `max_requests_in_flight_per_provider`: requests to one provider host at once.
    pub max_requests_in_flight_per_provider: usize,
    /// `provider_failures_before_pause`: failures in a row that pause a provider (0: never).
    pub provider_failures_before_pause: u32,
    /// `provider_pause_seconds`: how long a paused provider is not asked.
    pub provider_pause_seconds: u64,
}

/// One `[[oidc_providers]]` entry: what `OpenIdConnectProviderARNs` refer to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// `account`: the account whose pools may name it.
    pub account: AccountId,
    /// `url`: the issuer; the ARN is `arn:aws:iam::<account>:oidc-provider/<host/path>`.
    pub url: HttpUrl,
    /// `client_ids`: accepted audiences.
    pub client_ids: Vec<String>,
}

/// One `[[saml_providers]]` entry: what `SamlProviderARNs` refer to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlProviderSettings {
    /// `account`: the account whose pools may name it.
    pub account: AccountId,
    /// `name`: the ARN's last part, `arn:aws:iam::<account>:saml-provider/<name>`.
    pub name: String,
    /// `metadata_file`: the IdP's metadata (an `EntityDescriptor`, as IAM takes it).
    pub metadata_file: Option<PathBuf>,
    /// `metadata_url`: where the metadata is fetched from instead (cached
    /// for `federation.jwks_cache_seconds`).
    pub metadata_url: Option<HttpUrl>,
    /// `audience`: the accepted `Audience` (default `urn:amazon:webservices`).
    pub audience: Option<String>,
    /// `recipient`: the accepted `Recipient` and `Destination` (default
    /// `https://signin.aws.amazon.com/saml`).
    pub recipient: Option<String>,
    /// `allow_sha1`: accept SHA-1 signatures (default false).
    #[serde(default)]
    pub allow_sha1: bool,
}

/// One `[[upstream]]` entry: where a well-known provider is reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// `provider`: `accounts.google.com`, `appleid.apple.com`,
    /// `cognito-idp.<region>.amazonaws.com/<pool>`, `graph.facebook.com`, `www.amazon.com`.
    pub provider: String,
    /// `issuer`: the OIDC issuer to use instead of `https://<provider>`.
    pub issuer: Option<HttpUrl>,
    /// `token_info_url`: Facebook/Amazon token-info endpoint.
    pub token_info_url: Option<HttpUrl>,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// `max_identity_pools_per_account`.
    pub max_identity_pools_per_account: u64,
}

/// `[audit]`: the audit trail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// `public_calls`: record GetId, GetOpenIdToken, GetCredentialsForIdentity.
    pub public_calls: bool,
    /// `retention_days`: days of records kept (whole daily partitions dropped).
    pub retention_days: u32,
    /// `buffer_events`: records waiting to be written, at most.
    pub buffer_events: usize,
    /// `flush_interval_ms`: longest a buffered record waits for its batch.
    pub flush_interval_ms: u64,
    /// `file`: the NDJSON export file, if any.
    pub file: Option<PathBuf>,
    /// `file_max_bytes`: size at which the export file is rotated.
    pub file_max_bytes: u64,
    /// `file_keep`: rotated export files kept.
    pub file_keep: u32,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `level`.
    pub level: String,
    /// `format`: text or json.
    pub format: LogFormat,
}

/// `tokens.algorithm`: how Cognate signs its tokens (Cognito: RS512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TokenAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-512, as Cognito signs.
    RS512,
}

impl std::fmt::Display for TokenAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenAlgorithm::RS256 => "RS256",
            TokenAlgorithm::RS512 => "RS512",
        })
    }
}

/// An `address:port` setting; a bad one is echoed in the error.
fn socket_addr<'de, D: serde::Deserializer<'de>>(de: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(de)?;
    text.trim().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not an address:port (e.g. \"0.0.0.0:8080\" or \"[::]:8080\"; \
             host names are not resolved)"
        ))
    })
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!(
                "{value:?} is not a log format: use \"text\" (lines for people) or \"json\" (one object per event)"
            )),
        }
    }
}

/// The `COGNATE__…` environment variables a configuration error may be
/// about: those whose path names the unknown or invalid key.
fn from_environment(error: &str, names: impl Iterator<Item = String>) -> Vec<String> {
    // What the error is about: an unknown field's name, or a key's path.
    let quoted_after = |marker: &str| {
        error
            .split(marker)
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let unknown = quoted_after("unknown field `");
    let key = quoted_after("for key `");
    names
        .filter(|name| {
            let Some(path) = name.strip_prefix("COGNATE__") else {
                return false;
            };
            let path = path.to_ascii_lowercase().replace("__", ".");
            match (&unknown, &key) {
                (Some(field), _) => path.split('.').any(|part| part == field),
                (None, Some(key)) => path == *key || path.starts_with(&format!("{key}.")),
                (None, None) => false,
            }
        })
        .collect()
}

impl Settings {
    /// Load the layers: defaults, then `file` (if any), then environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix("COGNATE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let mut root: config::Value = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("reading configuration")?;
        read_secret_files(&mut root)?;
        let settings = Settings::deserialize(root).map_err(|err| {
            let text = err.to_string();
            match from_environment(&text, std::env::vars().map(|(name, _)| name)).as_slice() {
                [] => anyhow::anyhow!("invalid configuration: {text}"),
                vars => anyhow::anyhow!(
                    "invalid configuration: {text} (set by the environment: {})",
                    vars.join(", ")
                ),
            }
        })?;
        settings.check()?;
        Ok(settings)
    }

    /// Checks serde cannot express; each error names its key.
    pub fn check(&self) -> anyhow::Result<()> {
        let bind = self.server.bind;
        self.database.connection_url()?;
        match (&self.server.tls_cert_file, &self.server.tls_key_file) {
            (Some(_), None) => bail!("server.tls_key_file: needed with server.tls_cert_file"),
            (None, Some(_)) => bail!("server.tls_cert_file: needed with server.tls_key_file"),
            _ => {}
        }
        if self.tokens.rotation_days == 0 {
            bail!("tokens.rotation_days: must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.telemetry.sampling_ratio) {
            bail!(
                "telemetry.sampling_ratio: {} is not between 0.0 and 1.0",
                self.telemetry.sampling_ratio
            );
        }
        if let Err(err) = crate::telemetry::check_level(&self.log.level) {
            bail!("log.level: {err}");
        }
        self.console.check(&self.accounts)?;
        if self.audit.retention_days == 0 {
            bail!("audit.retention_days: must be at least 1");
        }
        if self.audit.buffer_events == 0 {
            bail!("audit.buffer_events: must be at least 1");
        }
        if self.audit.flush_interval_ms == 0 {
            bail!("audit.flush_interval_ms: must be at least 1");
        }
        if self.audit.file_max_bytes < 4096 {
            bail!("audit.file_max_bytes: must be at least 4096");
        }
        for (key, value) in [
            ("server.max_connections", self.server.max_connections),
            (
                "server.max_public_requests",
                self.server.max_public_requests,
            ),
            (
                "server.max_signed_requests",
                self.server.max_signed_requests,
            ),
        ] {
            if value == 0 {
                bail!("{key}: must be at least 1");
            }
        }
        for (key, value) in [
            (
                "server.request_head_timeout_seconds",
                self.server.request_head_timeout_seconds,
            ),
            (
                "server.request_body_timeout_seconds",
                self.server.request_body_timeout_seconds,
            ),
        ] {
            if value == 0 {
                bail!("{key}: must be at least 1 (0 would let a client hold a connection forever)");
            }
        }
        if self.server.max_body_bytes < 1024 {
            bail!("server.max_body_bytes: must be at least 1024");
        }
        if self.server.max_buffered_body_bytes < self.server.max_body_bytes {
            bail!(
                "server.max_buffered_body_bytes: must be at least server.max_body_bytes ({})",
                self.server.max_body_bytes
            );
        }
        let server = &self.server;
        for (key, value, least, most, most_key) in [
            (
                "server.max_buffered_body_bytes_per_client",
                server.max_buffered_body_bytes_per_client,
                server.max_body_bytes,
                server.max_buffered_body_bytes,
                "server.max_buffered_body_bytes",
            ),
            (
                "server.max_public_requests_per_client",
                server.max_public_requests_per_client,
                1,
                server.max_public_requests,
                "server.max_public_requests",
            ),
            (
                "server.max_signed_requests_per_client",
                server.max_signed_requests_per_client,
                1,
                server.max_signed_requests,
                "server.max_signed_requests",
            ),
            (
                "server.max_connections_per_client",
                server.max_connections_per_client,
                1,
                usize::MAX,
                "",
            ),
        ] {
            if value < least {
                bail!("{key}: must be at least {least}");
            }
            if value > most {
                bail!("{key}: must be at most {most_key} ({most})");
            }
        }
        if server.unknown_ids_per_client_per_second == 0 {
            bail!("server.unknown_ids_per_client_per_second: must be at least 1");
        }
        if let Err(err) = cognate_api::clients::TrustedProxies::parse(&server.trusted_proxies) {
            bail!("server.trusted_proxies: {err}");
        }
        for (key, value) in [
            (
                "federation.max_requests_in_flight_per_provider",
                self.federation.max_requests_in_flight_per_provider,
            ),
            (
                "sts.max_requests_in_flight",
                self.sts.max_requests_in_flight,
            ),
        ] {
            if value == 0 {
                bail!("{key}: must be at least 1");
            }
        }
        if self.database.min_connections > self.database.pool_size() {
            bail!(
                "database.min_connections: must be at most database.max_connections ({})",
                self.database.pool_size()
            );
        }
        for (i, p) in self.oidc_providers.iter().enumerate() {
            if p.client_ids.is_empty() {
                bail!("oidc_providers[{i}].client_ids: at least one client id is needed");
            }
        }
        for (i, p) in self.saml_providers.iter().enumerate() {
            if p.name.is_empty()
                || p.name.len() > 128
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
            {
                bail!("saml_providers[{i}].name: 1 to 128 of A-Z a-z 0-9 _+=,.@-");
            }
            match (&p.metadata_file, &p.metadata_url) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => bail!("saml_providers[{i}]: give metadata_file or metadata_url (one of them)"),
            }
        }
        for (i, u) in self.upstream.iter().enumerate() {
            const KNOWN: &[&str] = &[
                "accounts.google.com",
                "appleid.apple.com",
                "graph.facebook.com",
                "www.amazon.com",
            ];
            let user_pool =
                u.provider.starts_with("cognito-idp.") && u.provider.contains(".amazonaws.com/");
            if !KNOWN.contains(&u.provider.as_str()) && !user_pool {
                bail!("upstream[{i}].provider: '{}' is not a well-known provider ({}, or cognito-idp.<region>.amazonaws.com/<pool>)", u.provider, KNOWN.join(", "));
            }
            if u.issuer.is_none() && u.token_info_url.is_none() {
                bail!("upstream[{i}]: set issuer or token_info_url");
            }
        }
        if self.federation.http_timeout_seconds == 0 {
            bail!("federation.http_timeout_seconds: must be at least 1");
        }
        canonical_quotas("quotas", &self.quotas)?;
        let mut keys = std::collections::HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            cognate_domain::ids::AccountId::parse(&account.id)
                .map_err(|e| anyhow::anyhow!("accounts[{i}].id: {e}"))?;
            if account.access_key_id.len() < 16
                || !account
                    .access_key_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
            {
                bail!("accounts[{i}].access_key_id: must be at least 16 letters and digits");
            }
            for (j, trusted) in account.trusted_role_accounts.iter().enumerate() {
                cognate_domain::ids::AccountId::parse(trusted).map_err(|e| {
                    anyhow::anyhow!("accounts[{i}].trusted_role_accounts[{j}]: {e}")
                })?;
            }
            canonical_quotas(&format!("accounts[{i}].quotas"), &account.quotas)?;
            if !keys.insert(account.access_key_id.as_str()) {
                bail!(
                    "accounts[{i}].access_key_id: '{}' is used twice",
                    account.access_key_id
                );
            }
            // Never echo the secret itself, only what is wrong with it.
            let secret = account.secret_access_key.expose_secret();
            if secret.chars().count() < MIN_SECRET_ACCESS_KEY_CHARS {
                bail!(
                    "accounts[{i}].secret_access_key: must be at least \
                     {MIN_SECRET_ACCESS_KEY_CHARS} characters"
                );
            }
            let development = account.access_key_id == DEVELOPMENT_ACCESS_KEY_ID
                || secret == DEVELOPMENT_SECRET_ACCESS_KEY;
            if development && !bind.ip().is_loopback() {
                bail!(
                    "accounts[{i}]: the development key pair of config/local.toml \
                     ({DEVELOPMENT_ACCESS_KEY_ID}) is configured and server.bind ({}) is not \
                     a loopback address; configure keys of your own in [[accounts]]",
                    self.server.bind
                );
            }
        }
        Ok(())
    }

    /// Whose roles each account's pools may use (`trusted_role_accounts`).
    pub fn role_trust(&self) -> cognate_domain::pool::RoleTrust {
        cognate_domain::pool::RoleTrust::new(self.accounts.iter().filter_map(|a| {
            let id = cognate_domain::ids::AccountId::parse(&a.id).ok()?;
            Some((id, a.trusted_role_accounts.clone()))
        }))
    }

    /// The request-rate quotas of `[quotas]` and `[[accounts]] quotas`.
    pub fn quota_table(&self) -> anyhow::Result<cognate_domain::quota::QuotaTable> {
        let mut table =
            cognate_domain::quota::QuotaTable::new(canonical_quotas("quotas", &self.quotas)?);
        for (i, account) in self.accounts.iter().enumerate() {
            let id = cognate_domain::ids::AccountId::parse(&account.id)
                .map_err(|e| anyhow::anyhow!("accounts[{i}].id: {e}"))?;
            table = table.with_account(
                id,
                canonical_quotas(&format!("accounts[{i}].quotas"), &account.quotas)?,
            );
        }
        Ok(table)
    }

    /// Make every quota unlimited (`0`), for load tests and benchmarks
    /// that configure it so.
    pub fn disable_quotas(&mut self) {
        for rate in self.quotas.values_mut() {
            *rate = 0;
        }
        for account in &mut self.accounts {
            account.quotas.clear();
        }
    }

    /// The token issuer: `tokens.issuer`, else `server.public_url`.
    pub fn issuer(&self) -> String {
        self.tokens
            .issuer
            .as_ref()
            .unwrap_or(&self.server.public_url)
            .trim_end_matches('/')
            .to_owned()
    }
}

/// A quota table keyed by exact operation names. Keys are matched without
/// regard to case, because environment variables arrive lower-cased
/// (`COGNATE__QUOTAS__GETID=50`); such a key wins over the same operation
/// spelt exactly (which can only come from the files). An unknown name is
/// an error naming the key.
fn canonical_quotas(
    section: &str,
    rates: &BTreeMap<String, u32>,
) -> anyhow::Result<HashMap<String, u32>> {
    let model = cognate_api::validation::Model::embedded();
    let mut exact = HashMap::new();
    let mut folded = HashMap::new();
    for (key, rate) in rates {
        // CloudTrail's LookupEvents is served on the same endpoint.
        let Some(name) = model
            .operation_names()
            .chain(["LookupEvents"])
            .find(|op| op.eq_ignore_ascii_case(key))
        else {
            bail!("{section}.{key}: '{key}' is not an operation of Cognito Identity (or LookupEvents)");
        };
        if name == key {
            exact.insert(name.to_owned(), *rate);
        } else {
            folded.insert(name.to_owned(), *rate);
        }
    }
    exact.extend(folded);
    Ok(exact)
}

impl DatabaseSettings {
    /// The pool's size: `max_connections`, or when it is 0, twice this
    /// machine's cores plus four ([`cognate_store::PoolOptions::default_max_connections`]).
    pub fn pool_size(&self) -> u32 {
        match self.max_connections {
            0 => cognate_store::PoolOptions::default_max_connections(),
            n => n,
        }
    }

    /// The URL to connect to: `url`, with `password` put in when given.
    /// `None` when `url` is unset (the private cluster is used). Errors
    /// name the key and never show the URL or the password.
    pub fn connection_url(&self) -> anyhow::Result<Option<SecretString>> {
        let Some(url) = &self.url else {
            if self.password.is_some() {
                bail!("database.password: set database.url too (the private cluster needs none)");
            }
            return Ok(None);
        };
        let Some(password) = &self.password else {
            return Ok(Some(url.clone()));
        };
        let url = url.expose_secret();
        let authority_start = url
            .find("://")
            .map(|i| i + 3)
            .ok_or_else(|| anyhow::anyhow!("database.url: not a postgres://user@host/db URL"))?;
        let rest = &url[authority_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_len].rfind('@') else {
            bail!("database.password: database.url names no user (postgres://user@host/db)");
        };
        if rest[..at].contains(':') {
            bail!("database.password: database.url has a password already; give only one");
        }
        let mut out = String::with_capacity(url.len() + password.expose_secret().len() * 3 + 1);
        out.push_str(&url[..authority_start + at]);
        out.push(':');
        for b in password.expose_secret().bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out.push_str(&rest[at..]);
        Ok(Some(out.into()))
    }
}

/// The access key id of the development account in `config/local.toml`.
pub const DEVELOPMENT_ACCESS_KEY_ID: &str = "AKIACOGNATELOCAL0001";
/// Its secret (public: it is in the repository).
const DEVELOPMENT_SECRET_ACCESS_KEY: &str = "cognate-local-development-secret-key-0001";
/// The shortest secret access key accepted.
pub const MIN_SECRET_ACCESS_KEY_CHARS: usize = 16;

/// The secret settings, as (section, key); `[[accounts]]` entries have
/// `secret_access_key`. Each may be given as `<key>_file` instead.
pub const SECRET_KEYS: &[(&str, &str)] = &[
    ("database", "url"),
    ("database", "password"),
    ("tokens", "key_encryption_key"),
    ("federation", "subject_hash_key"),
    ("console", "client_secret"),
];

/// Replace every `<secret>_file` of the raw configuration by `<secret>`
/// with the file's content.
fn read_secret_files(root: &mut config::Value) -> anyhow::Result<()> {
    let config::ValueKind::Table(root) = &mut root.kind else {
        return Ok(());
    };
    for (section, key) in SECRET_KEYS {
        if let Some(config::Value {
            kind: config::ValueKind::Table(table),
            ..
        }) = root.get_mut(*section)
        {
            read_secret_file(table, &format!("{section}."), key)?;
        }
    }
    if let Some(config::Value {
        kind: config::ValueKind::Array(accounts),
        ..
    }) = root.get_mut("accounts")
    {
        for (i, account) in accounts.iter_mut().enumerate() {
            if let config::ValueKind::Table(table) = &mut account.kind {
                read_secret_file(table, &format!("accounts[{i}]."), "secret_access_key")?;
            }
        }
    }
    Ok(())
}

/// `<key>_file` → `<key>` in one table; `prefix` names the table in errors.
fn read_secret_file(
    table: &mut config::Map<String, config::Value>,
    prefix: &str,
    key: &str,
) -> anyhow::Result<()> {
    let file_key = format!("{key}_file");
    let Some(file) = table.remove(&file_key) else {
        return Ok(());
    };
    if matches!(file.kind, config::ValueKind::Nil) {
        return Ok(());
    }
    if table
        .get(key)
        .is_some_and(|v| !matches!(v.kind, config::ValueKind::Nil))
    {
        bail!("{prefix}{key}: set both as {prefix}{key} and as {prefix}{file_key}; give only one");
    }
    let path = file
        .into_string()
        .map_err(|e| anyhow::anyhow!("{prefix}{file_key}: {e}"))?;
    let mut value = std::fs::read_to_string(&path)
        .with_context(|| format!("{prefix}{file_key}: cannot read {path}"))?;
    // One trailing newline, as `echo secret > file` and editors leave it.
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        bail!("{prefix}{file_key}: {path} is empty");
    }
    table.insert(
        key.to_owned(),
        config::Value::new(None, config::ValueKind::String(value)),
    );
    Ok(())
}

/// An `http://` or `https://` URL, kept as written: issuers are compared
/// byte for byte with the `iss` of tokens, so no normalising parser
/// touches it. Serde refuses anything else, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(String);

impl HttpUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"));
        match rest {
            Some(rest) if !rest.is_empty() && !value.contains(char::is_whitespace) => {
                Ok(HttpUrl(value))
            }
            _ => Err(format!("'{value}' is not an http(s) URL")),
        }
    }
}

impl TryFrom<&str> for HttpUrl {
    type Error = String;
    fn try_from(value: &str) -> Result<Self, String> {
        HttpUrl::try_from(value.to_owned())
    }
}

impl std::ops::Deref for HttpUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(extra: &str) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.toml");
        std::fs::write(&path, extra)?;
        Settings::load(Some(&path))
    }

    const CONSOLE: &str = "[[accounts]]\nid = \"111111111111\"\naccess_key_id = \"AKIAAAAAAAAAAAAAAAAA\"\nsecret_access_key = \"0123456789abcdef0123\"\n\
        [console]\nbind = \"127.0.0.1:8081\"\nissuer = \"https://login.example.com\"\nclient_id = \"console\"\n";

    #[test]
    fn the_console_is_off_by_default_and_its_settings_are_checked_when_on() {
        assert!(load_str("").unwrap().console.bind.is_none());
        let rule =
            "[[console.operators]]\ngroup = \"ops\"\naccounts = [\"*\"]\nrole = \"operator\"\n";
        let on = load_str(&format!("{CONSOLE}{rule}")).unwrap();
        assert_eq!(
            on.console.public_url().as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(on.console.operators[0].role, ConsoleRole::Operator);
        for (toml, key) in [
            (CONSOLE.to_owned(), "console.operators"),
            (CONSOLE.replace("issuer = \"https://login.example.com\"\n", "") + rule, "console.issuer"),
            (CONSOLE.replace("client_id = \"console\"\n", "") + rule, "console.client_id"),
            (CONSOLE.replace("127.0.0.1:8081", "0.0.0.0:8081") + rule, "console.public_url"),
            (format!("{CONSOLE}[[console.operators]]\nsub = \"a\"\ngroup = \"b\"\naccounts = [\"*\"]\nrole = \"viewer\"\n"), "console.operators[0]"),
            (format!("{CONSOLE}[[console.operators]]\nsub = \"a\"\naccounts = [\"222222222222\"]\nrole = \"viewer\"\n"), "console.operators[0].accounts"),
            (format!("{CONSOLE}[[console.operators]]\nsub = \"a\"\naccounts = [\"*\"]\nrole = \"admin\"\n"), "role"),
            (format!("{CONSOLE}idle_timeout_seconds = 600\nabsolute_timeout_seconds = 60\n{rule}"), "console.absolute_timeout_seconds"),
        ] {
            let err = format!("{:#}", load_str(&toml).unwrap_err());
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn the_consoles_client_secret_may_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let rule = "[[console.operators]]\nsub = \"a\"\naccounts = [\"*\"]\nrole = \"viewer\"\n";
        let toml = CONSOLE.replace(
            "client_id = \"console\"\n",
            &format!(
                "client_id = \"console\"\nclient_secret_file = \"{}\"\n",
                secret.display()
            ),
        );
        let s = load_str(&format!("{toml}{rule}")).unwrap();
        assert_eq!(
            s.console
                .client_secret
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
                .as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn the_defaults_load_and_pass_their_own_checks() {
        let s = load_str("").unwrap();
        assert_eq!(s.server.region.as_str(), "us-east-1");
        assert_eq!(s.issuer(), "http://127.0.0.1:8080");
        assert!(s.database.url.is_none());
    }

    #[test]
    fn a_bad_address_is_echoed_and_a_bad_log_format_lists_the_good_ones() {
        let err = load_str("[server]\nbind = \"localhost:80:80\"\n").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("\"localhost:80:80\"") && text.contains("server.bind"),
            "{text}"
        );
        let err = load_str("[log]\nformat = \"pretty\"\n").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("\"pretty\"") && text.contains("\"text\"") && text.contains("\"json\""),
            "{text}"
        );
        assert_eq!(
            load_str("[log]\nformat = \"json\"\n").unwrap().log.format,
            LogFormat::Json
        );
    }

    #[test]
    fn an_unknown_key_from_the_environment_names_its_variable() {
        let error = "unknown field `servr`, expected one of `server`, `database`";
        let names = ["COGNATE__SERVR__BIND", "COGNATE__SERVER__BIND", "HOME"]
            .into_iter()
            .map(String::from);
        assert_eq!(from_environment(error, names), ["COGNATE__SERVR__BIND"]);
    }

    #[test]
    fn an_unknown_key_is_refused_and_named() {
        let err = load_str("[server]\nbnd = \"x\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("bnd"), "{err:#}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = load_str("[server]\nbind = \"not-an-address\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("server.bind"), "{err:#}");
        let err = load_str("[tokens]\nalgorithm = \"HS256\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("tokens.algorithm"), "{err:#}");
        let err = load_str("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("log.format"), "{err:#}");
        let err = load_str("[[accounts]]\nid = \"abc\"\naccess_key_id = \"AKIAAAAAAAAAAAAAAAAA\"\nsecret_access_key = \"s\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("accounts[0].id"), "{err:#}");
    }

    #[test]
    fn urls_regions_and_account_ids_are_parsed_by_serde_and_named_when_bad() {
        // The config crate names an array entry's field `list[i]field`.
        for (toml, key) in [
            ("[server]\npublic_url = \"ftp://x\"\n", "server.public_url"),
            ("[server]\nregion = \"US East\"\n", "server.region"),
            ("[tokens]\nissuer = \"idp.example.com\"\n", "tokens.issuer"),
            ("[sts]\nendpoint = \"http://\"\n", "sts.endpoint"),
            (
                "[[oidc_providers]]\naccount = \"000000000000\"\nurl = \"https:// x\"\nclient_ids = [\"c\"]\n",
                "oidc_providers[0]url",
            ),
            (
                "[[oidc_providers]]\naccount = \"acct\"\nurl = \"https://idp\"\nclient_ids = [\"c\"]\n",
                "oidc_providers[0]account",
            ),
            (
                "[[upstream]]\nprovider = \"accounts.google.com\"\ntoken_info_url = \"file:///etc\"\n",
                "upstream[0]token_info_url",
            ),
        ] {
            let err = format!("{:#}", load_str(toml).unwrap_err());
            assert!(err.contains(key), "{key}: {err}");
        }
        let s = load_str(
            "[server]\npublic_url = \"https://id.example.com/base/\"\n\
             [[oidc_providers]]\naccount = \"000000000000\"\nurl = \"http://idp:8080/realm\"\nclient_ids = [\"c\"]\n",
        )
        .unwrap();
        assert_eq!(s.server.public_url.as_str(), "https://id.example.com/base/");
        assert_eq!(s.issuer(), "https://id.example.com/base");
        assert_eq!(s.oidc_providers[0].url.as_str(), "http://idp:8080/realm");
        assert_eq!(s.oidc_providers[0].account.as_str(), "000000000000");
    }

    #[test]
    fn the_local_development_file_configures_an_account() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/local.toml");
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.accounts.len(), 1);
    }

    const ACCOUNT: &str =
        "[[accounts]]\nid = \"111111111111\"\naccess_key_id = \"AKIATESTACCOUNTA0001\"\n";

    #[test]
    fn a_secret_access_key_can_come_from_a_file_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "file-secret-of-account-a-0001\n").unwrap();
        let s = load_str(&format!(
            "{ACCOUNT}secret_access_key_file = \"{}\"\n",
            secret.display()
        ))
        .unwrap();
        assert_eq!(
            s.accounts[0].secret_access_key.expose_secret(),
            "file-secret-of-account-a-0001"
        );
    }

    #[test]
    fn every_secret_setting_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, value: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, value).unwrap();
            path.display().to_string()
        };
        let kek = write("kek", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\r\n");
        let hash = write("hash", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        let url = write("url", "postgres://cognate@db:5432/cognate\n");
        let password = write("password", "p@ss word/1\n\n");
        let s = load_str(&format!(
            "[database]\nurl_file = \"{url}\"\npassword_file = \"{password}\"\n\
             [tokens]\nkey_encryption_key_file = \"{kek}\"\n\
             [federation]\nsubject_hash_key_file = \"{hash}\"\n"
        ))
        .unwrap();
        assert_eq!(
            s.tokens.key_encryption_key.unwrap().expose_secret(),
            "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="
        );
        assert_eq!(
            s.federation.subject_hash_key.unwrap().expose_secret(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        );
        assert_eq!(
            s.database.password.as_ref().unwrap().expose_secret(),
            "p@ss word/1\n",
            "only one trailing newline is dropped"
        );
        assert_eq!(
            s.database
                .connection_url()
                .unwrap()
                .unwrap()
                .expose_secret(),
            "postgres://cognate:p%40ss%20word%2F1%0A@db:5432/cognate"
        );
    }

    #[test]
    fn a_secret_given_both_as_a_value_and_as_a_file_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let kek = dir.path().join("kek");
        std::fs::write(&kek, "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=").unwrap();
        let err = load_str(&format!(
            "[tokens]\nkey_encryption_key = \"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\"\n\
             key_encryption_key_file = \"{}\"\n",
            kek.display()
        ))
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("tokens.key_encryption_key"), "{msg}");
        assert!(
            !msg.contains("q83vEjRWeJ"),
            "the secret is not shown: {msg}"
        );
        let err = load_str(&format!(
            "{ACCOUNT}secret_access_key = \"test-secret-of-account-a-01\"\n\
             secret_access_key_file = \"{}\"\n",
            kek.display()
        ))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("accounts[0].secret_access_key"),
            "{err:#}"
        );
    }

    #[test]
    fn an_unreadable_secret_file_is_named() {
        let err =
            load_str("[federation]\nsubject_hash_key_file = \"/nonexistent/hash\"\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("federation.subject_hash_key_file"), "{msg}");
        assert!(msg.contains("/nonexistent/hash"), "{msg}");
    }

    #[test]
    fn a_database_password_goes_into_a_url_without_one_and_only_there() {
        let s = load_str(
            "[database]\nurl = \"postgres://cognate@db/cognate?sslmode=require\"\npassword = \"pw\"\n",
        )
        .unwrap();
        assert_eq!(
            s.database
                .connection_url()
                .unwrap()
                .unwrap()
                .expose_secret(),
            "postgres://cognate:pw@db/cognate?sslmode=require"
        );
        let err = load_str(
            "[database]\nurl = \"postgres://cognate:old@db/cognate\"\npassword = \"pw\"\n",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("database.password"), "{msg}");
        assert!(
            !msg.contains("old"),
            "the URL's password is not shown: {msg}"
        );
        let err = load_str("[database]\npassword = \"pw\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("database.password"), "{err:#}");
    }

    #[test]
    fn a_secret_access_key_shorter_than_16_characters_is_refused() {
        let err = load_str(&format!(
            "{ACCOUNT}secret_access_key = \"short-secret-15\"\n"
        ))
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("accounts[0].secret_access_key"), "{msg}");
        assert!(msg.contains("16"), "{msg}");
        assert!(
            !msg.contains("short-secret-15"),
            "the secret is not shown: {msg}"
        );
        load_str(&format!(
            "{ACCOUNT}secret_access_key = \"long-secret-16ch\"\n"
        ))
        .unwrap();
    }

    #[test]
    fn the_development_keys_are_refused_on_a_non_loopback_bind() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/local.toml");
        let local = std::fs::read_to_string(path).unwrap();
        for bind in ["0.0.0.0:8080", "[::]:8080", "192.0.2.1:8080"] {
            let err = load_str(&format!("{local}\n[server]\nbind = \"{bind}\"\n")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("AKIACOGNATELOCAL0001"), "{msg}");
            assert!(msg.contains("server.bind"), "{msg}");
        }
        // The development secret under another key id is the same key pair.
        let err = load_str(&format!(
            "{ACCOUNT}secret_access_key = \"cognate-local-development-secret-key-0001\"\n\
             [server]\nbind = \"0.0.0.0:8080\"\n"
        ))
        .unwrap_err();
        assert!(format!("{err:#}").contains("development"), "{err:#}");
        for bind in ["127.0.0.1:8080", "[::1]:8080"] {
            load_str(&format!("{local}\n[server]\nbind = \"{bind}\"\n")).unwrap();
        }
    }

    #[test]
    fn the_management_listener_defaults_to_loopback_port_9090() {
        let s = load_str("").unwrap();
        assert_eq!(s.server.management_bind.to_string(), "127.0.0.1:9090");
        let err = load_str("[server]\nmanagement_bind = \"nowhere\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("server.management_bind"),
            "{err:#}"
        );
    }

    #[test]
    fn settings_debug_shows_no_secret() {
        let s = load_str(&format!(
            "{ACCOUNT}secret_access_key = \"visible-if-leaked-0001\"\n\
             [database]\nurl = \"postgres://u:dbpass-leak@h/d\"\n"
        ))
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("visible-if-leaked"), "{debug}");
        assert!(!debug.contains("dbpass-leak"), "{debug}");
    }

    #[test]
    fn quotas_default_to_aws_and_take_overrides_per_account() {
        let s = load_str(
            "[quotas]\nListIdentities = 0\n\n[[accounts]]\nid = \"123456789012\"\naccess_key_id = \"AKIAAAAAAAAAAAAAAAAA\"\nsecret_access_key = \"secret-of-16-chars\"\nquotas = { GetId = 500 }\n",
        )
        .unwrap();
        let table = s.quota_table().unwrap();
        let a = cognate_domain::ids::AccountId::parse("123456789012").unwrap();
        let other = cognate_domain::ids::AccountId::parse("1").unwrap();
        assert_eq!(table.limit(&a, "GetId").unwrap().rate, 500);
        assert_eq!(table.limit(&other, "GetId").unwrap().rate, 25);
        assert!(table.limit(&other, "ListIdentities").is_none());
    }

    #[test]
    fn an_unknown_operation_in_quotas_is_refused_and_named() {
        let err = load_str("[quotas]\nGetIdd = 5\n").unwrap_err();
        assert!(format!("{err:#}").contains("quotas.GetIdd"), "{err:#}");
        let err = load_str("[[accounts]]\nid = \"123456789012\"\naccess_key_id = \"AKIAAAAAAAAAAAAAAAAA\"\nsecret_access_key = \"s\"\nquotas = { Nope = 1 }\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("accounts[0].quotas.Nope"),
            "{err:#}"
        );
    }

    #[test]
    fn the_connection_limits_default_to_safe_values() {
        let s = load_str("").unwrap();
        assert_eq!(s.server.max_connections, 4096);
        assert_eq!(s.server.request_head_timeout_seconds, 5);
        assert_eq!(s.server.request_body_timeout_seconds, 10);
        assert_eq!(s.server.max_buffered_body_bytes, 64 * 1024 * 1024);
        assert_eq!(s.server.keep_alive_seconds, 5);
        assert_eq!(s.server.client_disconnect_timeout_seconds, 1);
        assert_eq!(s.server.max_public_requests, 12);
        // The pool is sized to the machine, and public calls may hold only
        // part of it: the rest is reserved for signed calls and /readyz.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(s.database.max_connections, 0);
        assert_eq!(s.database.pool_size() as usize, 2 * cores + 4);
        let public = cognate_store::PoolOptions::public_share(s.database.pool_size());
        assert!(public >= 1 && public + 2 <= s.database.pool_size());
        assert_eq!(s.server.public_admission_wait_ms, 500);
        assert_eq!(s.server.max_signed_requests, 64);
        assert_eq!(s.server.signed_admission_wait_ms, 10_000);
    }

    #[test]
    fn a_timeout_that_would_never_cut_a_client_off_is_refused() {
        let err = load_str("[server]\nrequest_body_timeout_seconds = 0\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("server.request_body_timeout_seconds"),
            "{err:#}"
        );
        let err = load_str("[server]\nrequest_head_timeout_seconds = 0\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("server.request_head_timeout_seconds"),
            "{err:#}"
        );
        let err = load_str("[server]\nmax_public_requests = 0\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("server.max_public_requests"),
            "{err:#}"
        );
    }

    #[test]
    fn a_quota_from_the_environment_arrives_lower_cased_and_wins() {
        let rates = BTreeMap::from([("GetId".to_owned(), 25), ("getid".to_owned(), 50)]);
        let table = canonical_quotas("quotas", &rates).unwrap();
        assert_eq!(table, HashMap::from([("GetId".to_owned(), 50)]));
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/nonexistent/cognate.toml"))).is_err());
    }
}
