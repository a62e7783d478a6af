//! SAML providers declared by the deployment (`[[saml_providers]]`): what
//! `SamlProviderARNs` refer to, their metadata (given, or fetched from a URL
//! and cached like a JWKS), and the check of a `Logins` value presented
//! under such an ARN (see [`crate::saml`] for the rules).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cognate_domain::error::DomainError;
use cognate_domain::federation::VerifiedLogin;
use cognate_domain::ids::ProviderName;
use cognate_domain::pool::IdentityPool;
use reqwest::Url;
use serde_json::{Map, Value};

use super::cache::FAILURE_BACKOFF;
use super::fetch::Http;
use super::{base_url, config_error, unsupported};
use crate::error::TokenError;
use crate::saml::{self, SamlIdp, SamlPolicy};

/// Where a SAML provider's metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlMetadata {
    /// The `EntityDescriptor` XML itself (read from `metadata_file`).
    Xml(String),
    /// An http(s) URL serving it (`metadata_url`), fetched and cached.
    Url(String),
}

/// A SAML identity provider the deployment declares (`[[saml_providers]]`),
/// as an IAM SAML provider would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlProviderConfig {
    /// The account whose pools may use it.
    pub account: String,
    /// The ARN's last part: `arn:aws:iam::<account>:saml-provider/<name>`.
    pub name: String,
    /// The IdP's metadata.
    pub metadata: SamlMetadata,
    /// Accepted `Audience` (default [`saml::DEFAULT_AUDIENCE`]).
    pub audience: Option<String>,
    /// Accepted `Recipient`/`Destination` (default [`saml::DEFAULT_RECIPIENT`]).
    pub recipient: Option<String>,
    /// Accept SHA-1 signatures and digests (default: no).
    pub allow_sha1: bool,
}

enum Source {
    Fixed(Arc<SamlIdp>),
    Url {
        url: Url,
        /// Held while deciding on and doing a fetch (single flight).
        cached: tokio::sync::Mutex<MetadataState>,
    },
}

/// What a metadata URL gave last.
#[derive(Default)]
struct MetadataState {
    /// The last good metadata and when it was fetched.
    good: Option<(DateTime<Utc>, Arc<SamlIdp>)>,
    /// The last fetch's failure and when, while it is the latest outcome:
    /// for [`FAILURE_BACKOFF`] logins fail at once instead of each waiting
    /// on an identity provider that is down.
    failed: Option<(DateTime<Utc>, String)>,
}

pub(super) struct DeclaredSaml {
    account: String,
    name: String,
    source: Source,
    policy: SamlPolicy,
}

impl std::fmt::Debug for DeclaredSaml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeclaredSaml")
            .field("account", &self.account)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `arn:aws:iam::<account>:saml-provider/<name>` → `(account, name)`.
pub fn saml_provider_parts(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    let rest = rest.strip_prefix("iam::")?;
    let (account, name) = rest.split_once(":saml-provider/")?;
    (!account.is_empty()
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.contains('/'))
    .then_some((account, name))
}

pub(super) fn declare(
    providers: Vec<SamlProviderConfig>,
    leeway: Duration,
) -> Result<Vec<DeclaredSaml>, TokenError> {
    let mut declared: Vec<DeclaredSaml> = Vec::new();
    for p in providers {
        let arn = format!("arn:aws:iam::{}:saml-provider/{}", p.account, p.name);
        if saml_provider_parts(&arn) != Some((p.account.as_str(), p.name.as_str()))
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Err(config_error(format!(
                "saml provider {:?} of account {:?}: not a valid account id and provider name",
                p.name, p.account
            )));
        }
        if declared
            .iter()
            .any(|d| d.account == p.account && d.name == p.name)
        {
            return Err(config_error(format!(
                "saml provider {} is declared twice for account {}",
                p.name, p.account
            )));
        }
        let source = match p.metadata {
            SamlMetadata::Xml(xml) => {
                Source::Fixed(Arc::new(SamlIdp::from_metadata(&xml).map_err(|e| {
                    config_error(format!("saml provider {}: {e}", p.name))
                })?))
            }
            SamlMetadata::Url(url) => Source::Url {
                url: base_url("saml provider metadata_url", &url)?,
                cached: tokio::sync::Mutex::new(MetadataState::default()),
            },
        };
        let defaults = SamlPolicy::default();
        declared.push(DeclaredSaml {
            account: p.account,
            name: p.name,
            source,
            policy: SamlPolicy {
                audience: p.audience.unwrap_or(defaults.audience),
                recipient: p.recipient.unwrap_or(defaults.recipient),
                allow_sha1: p.allow_sha1,
                leeway,
            },
        });
    }
    Ok(declared)
}

pub(super) fn find<'a>(
    declared: &'a [DeclaredSaml],
    account: &str,
    name: &str,
) -> Option<&'a DeclaredSaml> {
    declared
        .iter()
        .find(|d| d.account == account && d.name == name)
}

impl DeclaredSaml {
    /// The metadata, fetched again once older than `ttl`.
    async fn idp(
        &self,
        http: &Http,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Arc<SamlIdp>, DomainError> {
        let (url, cached) = match &self.source {
            Source::Fixed(idp) => return Ok(Arc::clone(idp)),
            Source::Url { url, cached } => (url, cached),
        };
        let mut state = cached.lock().await;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        if let Some((at, idp)) = state.good.as_ref() {
            if now < *at + ttl && now >= *at {
                return Ok(Arc::clone(idp));
            }
        }
        let unreachable = |what: &str| {
            DomainError::ExternalService(format!(
                "The identity provider {} could not be reached: {what}",
                self.name
            ))
        };
        let backoff = chrono::Duration::from_std(FAILURE_BACKOFF).unwrap_or(chrono::Duration::MAX);
        if let Some((at, what)) = state.failed.as_ref() {
            if now >= *at && now - *at < backoff {
                return Err(unreachable(what));
            }
        }
        match fetch_metadata(http, url).await {
            Ok(idp) => {
                let idp = Arc::new(idp);
                state.good = Some((now, Arc::clone(&idp)));
                state.failed = None;
                Ok(idp)
            }
            Err(what) => {
                tracing::warn!(provider = %self.name, error = %what, "SAML metadata could not be fetched");
                let err = unreachable(&what);
                state.failed = Some((now, what));
                Err(err)
            }
        }
    }
}

/// The metadata at `url`, or what went wrong (for the operator's log and
/// the client's ExternalServiceException).
async fn fetch_metadata(http: &Http, url: &Url) -> Result<SamlIdp, String> {
    let answer = http.get(url).await.map_err(|f| f.0)?;
    if !answer.status.is_success() {
        return Err(format!("answered HTTP {}", answer.status.as_u16()));
    }
    std::str::from_utf8(&answer.body)
        .map_err(|_| "not UTF-8".to_owned())
        .and_then(SamlIdp::from_metadata)
        .map_err(|e| {
            tracing::warn!(error = %e, "unusable SAML metadata");
            "answered unusable SAML metadata".to_owned()
        })
}

/// Attributes as claims (by `Name`): one value → a string, several → an
/// array.
fn claims_of(assertion: &saml::VerifiedAssertion) -> Map<String, Value> {
    assertion
        .attributes
        .iter()
        .map(|(name, values)| {
            let value = match values.as_slice() {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            };
            (name.clone(), value)
        })
        .collect()
}

/// Check `token` (a base64 SAML response) presented under `arn` to `pool`.
pub(super) async fn verify(
    declared: &[DeclaredSaml],
    http: &Http,
    ttl: Duration,
    now: DateTime<Utc>,
    pool: &IdentityPool,
    arn: &ProviderName,
    token: &str,
) -> Result<VerifiedLogin, DomainError> {
    let (account, name) = saml_provider_parts(arn).ok_or_else(unsupported)?;
    if !pool.settings.saml_provider_arns.iter().any(|a| a == arn)
        || account != pool.account_id.as_str()
    {
        return Err(unsupported());
    }
    let provider = find(declared, account, name).ok_or_else(unsupported)?;
    let idp = provider.idp(http, ttl, now).await?;
    let policy = provider.policy.clone();
    let token = token.to_owned();
    let result =
        tokio::task::spawn_blocking(move || saml::verify_response(&token, &idp, &policy, now))
            .await
            .map_err(DomainError::internal)?;
    let assertion = result.map_err(|rejection| {
        // INFO: a refused SAML login is what an operator setting up a
        // provider looks for. The reason, never the response.
        tracing::info!(
            provider = arn.as_str(),
            reason = rejection.detail(),
            "SAML response refused"
        );
        DomainError::NotAuthorized(format!("Invalid login token. {rejection}"))
    })?;
    // `sub` and `aud` as for OIDC logins, so principal-tag defaults
    // (`username` = sub, `client` = aud) and rules on them work.
    let mut claims = claims_of(&assertion);
    claims.insert("sub".into(), Value::String(assertion.name_id.clone()));
    claims.insert(
        "aud".into(),
        Value::String(provider.policy.audience.clone()),
    );
    Ok(VerifiedLogin {
        provider: arn.clone(),
        claims,
        subject: assertion.name_id,
        audience: provider.policy.audience.clone(),
    })
}
