//! Typed, layered configuration (see `config/default.toml` for every key).
//!
//! Layers: the compiled-in `config/default.toml`, then the `--config` /
//! `COGNATE_CONFIG` file, then `COGNATE__SECTION__KEY` environment
//! variables. Unknown keys are refused, and every check names the key it
//! failed on. Secrets are `SecretString`s, so they never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use secrecy::SecretString;
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
    /// `[[upstream]]`.
    #[serde(default)]
    pub upstream: Vec<UpstreamSettings>,
    /// `[limits]`.
    pub limits: LimitSettings,
    /// `[log]`.
    pub log: LogSettings,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// `bind`: address:port.
    pub bind: String,
    /// `region`.
    pub region: String,
    /// `public_url`.
    pub public_url: String,
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
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `url`; unset → private embedded cluster.
    pub url: Option<SecretString>,
    /// `data_dir` of the private cluster.
    pub data_dir: Option<PathBuf>,
    /// `embedded_port`: 0 = Unix socket only; else also 127.0.0.1:<port>.
    pub embedded_port: u16,
    /// `max_connections`.
    pub max_connections: u32,
    /// `acquire_timeout_seconds`.
    pub acquire_timeout_seconds: u64,
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
}

/// `[tokens]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// `issuer`; default `server.public_url`.
    pub issuer: Option<String>,
    /// `algorithm`: RS512 or RS256.
    pub algorithm: String,
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
    pub endpoint: Option<String>,
    /// `timeout_seconds`: one AssumeRoleWithWebIdentity call, at most.
    #[serde(default = "default_sts_timeout")]
    pub timeout_seconds: u64,
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
}

/// One `[[oidc_providers]]` entry: what `OpenIdConnectProviderARNs` refer to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// `account`: the account whose pools may name it.
    pub account: String,
    /// `url`: the issuer; the ARN is `arn:aws:iam::<account>:oidc-provider/<host/path>`.
    pub url: String,
    /// `client_ids`: accepted audiences.
    pub client_ids: Vec<String>,
}

/// One `[[upstream]]` entry: where a well-known provider is reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// `provider`: `accounts.google.com`, `appleid.apple.com`,
    /// `cognito-idp.<region>.amazonaws.com/<pool>`, `graph.facebook.com`, `www.amazon.com`.
    pub provider: String,
    /// `issuer`: the OIDC issuer to use instead of `https://<provider>`.
    pub issuer: Option<String>,
    /// `token_info_url`: Facebook/Amazon token-info endpoint.
    pub token_info_url: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// `max_identity_pools_per_account`.
    pub max_identity_pools_per_account: u64,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `level`.
    pub level: String,
    /// `format`: text or json.
    pub format: String,
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
        let settings: Settings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        settings.check()?;
        Ok(settings)
    }

    /// Checks serde cannot express; each error names its key.
    pub fn check(&self) -> anyhow::Result<()> {
        self.server.bind.parse::<SocketAddr>().with_context(|| {
            format!("server.bind: '{}' is not an address:port", self.server.bind)
        })?;
        match (&self.server.tls_cert_file, &self.server.tls_key_file) {
            (Some(_), None) => bail!("server.tls_key_file: needed with server.tls_cert_file"),
            (None, Some(_)) => bail!("server.tls_cert_file: needed with server.tls_key_file"),
            _ => {}
        }
        cognate_domain::ids::Region::parse(&self.server.region)
            .map_err(|e| anyhow::anyhow!("server.region: {e}"))?;
        check_url("server.public_url", &self.server.public_url)?;
        if let Some(issuer) = &self.tokens.issuer {
            check_url("tokens.issuer", issuer)?;
        }
        if !matches!(self.tokens.algorithm.as_str(), "RS256" | "RS512") {
            bail!(
                "tokens.algorithm: '{}' is not RS256 or RS512",
                self.tokens.algorithm
            );
        }
        if self.tokens.rotation_days == 0 {
            bail!("tokens.rotation_days: must be at least 1");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("log.format: '{}' is not text or json", self.log.format);
        }
        if self.server.max_body_bytes < 1024 {
            bail!("server.max_body_bytes: must be at least 1024");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections: must be at least 1");
        }
        if let Some(endpoint) = &self.sts.endpoint {
            check_url("sts.endpoint", endpoint)?;
        }
        for (i, p) in self.oidc_providers.iter().enumerate() {
            cognate_domain::ids::AccountId::parse(&p.account)
                .map_err(|e| anyhow::anyhow!("oidc_providers[{i}].account: {e}"))?;
            check_url(&format!("oidc_providers[{i}].url"), &p.url)?;
            if p.client_ids.is_empty() {
                bail!("oidc_providers[{i}].client_ids: at least one client id is needed");
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
            if let Some(issuer) = &u.issuer {
                check_url(&format!("upstream[{i}].issuer"), issuer)?;
            }
            if let Some(url) = &u.token_info_url {
                check_url(&format!("upstream[{i}].token_info_url"), url)?;
            }
        }
        if self.federation.http_timeout_seconds == 0 {
            bail!("federation.http_timeout_seconds: must be at least 1");
        }
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
            if !keys.insert(account.access_key_id.as_str()) {
                bail!(
                    "accounts[{i}].access_key_id: '{}' is used twice",
                    account.access_key_id
                );
            }
        }
        Ok(())
    }

    /// The token issuer: `tokens.issuer`, else `server.public_url`.
    pub fn issuer(&self) -> String {
        self.tokens
            .issuer
            .clone()
            .unwrap_or_else(|| self.server.public_url.clone())
            .trim_end_matches('/')
            .to_owned()
    }
}

fn check_url(key: &str, value: &str) -> anyhow::Result<()> {
    let ok = (value.starts_with("http://") || value.starts_with("https://"))
        && value.len() > "https://".len()
        && !value.contains(char::is_whitespace);
    if !ok {
        bail!("{key}: '{value}' is not an http(s) URL");
    }
    Ok(())
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

    #[test]
    fn the_defaults_load_and_pass_their_own_checks() {
        let s = load_str("").unwrap();
        assert_eq!(s.server.region, "us-east-1");
        assert_eq!(s.issuer(), "http://127.0.0.1:8080");
        assert!(s.database.url.is_none());
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
        let err = load_str("[[accounts]]\nid = \"abc\"\naccess_key_id = \"AKIAAAAAAAAAAAAAAAAA\"\nsecret_access_key = \"s\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("accounts[0].id"), "{err:#}");
    }

    #[test]
    fn the_local_development_file_configures_an_account() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/local.toml");
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.accounts.len(), 1);
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/nonexistent/cognate.toml"))).is_err());
    }
}
