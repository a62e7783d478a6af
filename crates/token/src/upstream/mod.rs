//! Checking the upstream tokens apps send in `Logins`: the
//! [`LoginVerifier`] of the domain, [`UpstreamVerifier`].
//!
//! # Which providers a pool trusts
//!
//! For a `Logins` key `provider` and a pool:
//! - `accounts.google.com`, `appleid.apple.com`, `graph.facebook.com`,
//!   `www.amazon.com`: when the pool's `SupportedLoginProviders` names it;
//!   the value there is the app id, or several comma-separated client ids.
//! - `cognito-idp.<region>.amazonaws.com/<user pool id>`: when the pool's
//!   `CognitoIdentityProviders` has entries with that `ProviderName`; their
//!   `ClientId`s are the accepted audiences.
//! - any other name (`host/path`): when one of the pool's
//!   `OpenIdConnectProviderARNs` (`arn:aws:iam::<account>:oidc-provider/<host/path>`)
//!   names it *and* the deployment declared it ([`OidcProviderConfig`] with
//!   the pool's account and a `url` whose `host/path` is the name); the
//!   declaration's `client_ids` are the accepted audiences.
//!
//! Anything else: `NotAuthorizedException` "Token is not from a supported
//! provider of this identity pool." ([`MSG_UNSUPPORTED_PROVIDER`]).
//!
//! # OpenID Connect tokens (all but Facebook and Amazon)
//!
//! The expected issuer is the [`UpstreamOverride::issuer`] when configured,
//! the declared provider's `url`, or else `https://<provider>`. Signatures
//! are verified by `jsonwebtoken`, as Cognate's own tokens are: one
//! verification path. Until step 4 nothing read from the token is trusted
//! (it is only used to refuse early and to pick the key). In order:
//! 1. At most [`MAX_LOGIN_TOKEN_CHARS`] (50,000) characters.
//! 2. A compact JWS with JSON header and claims; the header's `alg` is one
//!    of [`ALLOWED_ALGORITHMS`] (RS256/384/512, PS256/384/512, ES256/384;
//!    never `none`, never `HS*`); no `crit`; a header `jsonwebtoken` reads
//!    (the members it knows of their registered types, any other member a
//!    string). Keys named inside the token (`jwk`, `jku`, `x5u`, `x5c`)
//!    are ignored.
//! 3. `iss` equals the expected issuer (a trailing `/` aside; Google's
//!    tokens may also say `accounts.google.com`).
//! 4. The signature verifies (`jsonwebtoken::decode`, the algorithm pinned
//!    to the header's) with the issuer's JWKS key of the header's `kid` (a
//!    token without `kid`: the JWKS's only key; with several keys in the
//!    JWKS it is refused, OpenID Connect Core §10.1), whose `kty`/`crv`
//!    fits the algorithm and whose `alg`, when given, is the header's.
//!    Each JWKS key becomes a `jsonwebtoken` `DecodingKey` once, when the
//!    JWKS is fetched. Verified claims must be readable as JWT claims
//!    (e.g. no member given twice).
//! 5. `exp` (required), `nbf` and `iat` (when present) hold on the
//!    verifier's clock with [`UpstreamOptions::leeway`] of tolerance, 5
//!    minutes by default ([`DEFAULT_LEEWAY`]): expired once
//!    `now ≥ exp + leeway`; refused when `nbf > now + leeway` or
//!    `iat > now + leeway`.
//! 6. `aud` (a string or an array) contains an accepted audience, and `azp`,
//!    when present, is one (OpenID Connect Core §3.1.3.7).
//! 7. User-pool tokens: `token_use`, when present, is `id`.
//! 8. `sub` is present: it becomes [`VerifiedLogin::subject`]; every claim
//!    is returned in [`VerifiedLogin::claims`].
//!
//! # Facebook and Amazon
//!
//! Their tokens are opaque access tokens, checked by a token-info endpoint
//! ([`UpstreamOverride::token_info_url`]):
//! - `graph.facebook.com`: `GET <url>?input_token=<token>` (default
//!   [`DEFAULT_FACEBOOK_TOKEN_INFO_URL`]) answers
//!   `{"data":{"app_id":"..","user_id":"..","is_valid":true,"expires_at":<epoch>}}`
//!   (the shape of Facebook's `debug_token`). `is_valid` must be true,
//!   `app_id` one of the pool's ids, `expires_at` (0: never) not past,
//!   `user_id` present (the subject). Facebook's own `debug_token` also
//!   wants an app access token, which needs the app secret Cognito pools do
//!   not hold: deployments point this at a token-info service of their own
//!   that speaks this contract.
//! - `www.amazon.com`: `GET <url>?access_token=<token>` (default
//!   [`DEFAULT_AMAZON_TOKEN_INFO_URL`], Login with Amazon's) answers
//!   `{"aud":"<client id>","app_id":"..","user_id":"..","exp":<seconds left>}`.
//!   `aud` or `app_id` must be one of the pool's ids, `exp` (when given)
//!   not past, `user_id` present (the subject).
//!
//! A 5xx answer (or a redirect: none is followed, anywhere) is the provider
//! failing (`ExternalServiceException`); any other non-success answer means
//! it does not accept the token. Logged URLs never show their query (it
//! holds the token).
//!
//! # Errors (AWS's messages)
//!
//! `NotAuthorizedException` with:
//! - [`MSG_UNSUPPORTED_PROVIDER`] — provider not trusted by the pool;
//! - [`MSG_MALFORMED`] — "Invalid login token. Not a valid OpenId Connect identity token.";
//! - [`MSG_SIGNATURE`] — "Invalid login token. Couldn't verify signed token." (bad
//!   signature, unknown key, algorithm off the list);
//! - [`MSG_ISSUER`] — "Invalid login token. Issuer doesn't match providerName";
//! - [`MSG_AUDIENCE`] — "Invalid login token. Incorrect token audience." (`aud`,
//!   `azp`, Facebook `app_id`, Amazon `aud`/`app_id`);
//! - "Invalid login token. Token expired: <now> >= <exp>" (epoch seconds);
//! - "Invalid login token. Token is not valid yet: <nbf> > <now>";
//! - "Invalid login token. Token was issued in the future: <iat> > <now>";
//! - "Invalid login token. Missing a required claim: <name>" (`exp`, `aud`,
//!   `sub`, Facebook/Amazon `user_id`);
//! - "Invalid login token. Token is longer than 50000 characters.";
//! - "Invalid login token. <provider> reports the token is not valid." (token info).
//!
//! `ExternalServiceException` "The identity provider <provider> could not be
//! reached: <what>" when discovery, JWKS or token info cannot be had
//! (connection refused, no answer within [`UpstreamOptions::http_timeout`],
//! HTTP 5xx, an unusable document). `<what>` never holds a URL (the log
//! does). Every request ends within the timeout: a verification takes at
//! most about three timeouts (discovery, JWKS, or one token-info call).
//!
//! # Caching and refetching
//!
//! Per expected issuer, the discovery document's `jwks_uri` and the JWKS
//! are kept for [`UpstreamOptions::jwks_ttl`] (1 hour by default), on the
//! injectable clock. A token whose `kid` is not in fresh keys causes a JWKS
//! refetch (not discovery) at most once per
//! [`UpstreamOptions::min_refetch_interval`] (5 s) per issuer; in between
//! it is refused as [`MSG_SIGNATURE`] without asking the provider. Keys
//! past their TTL are fetched again (discovery too) before use. Fetches are
//! single-flight: one per issuer at a time, behind a `tokio` mutex, and
//! every verification waiting on it uses its result, so a burst of tokens
//! with unknown `kid`s costs at most one JWKS request. After a failed
//! fetch, verifications needing a fetch fail at once for
//! [`FAILURE_BACKOFF`] (5 s, at most the refetch interval) rather than
//! asking a failing provider again. Nothing stale is used past its TTL.
//! Token-info answers are cached per token (as SHA-256 digests), bounded
//! in number, for at most the token's own validity and at most the JWKS
//! lifetime; refusals for at most a minute; failures never.
//!
//! # Use
//!
//! ```
//! use std::sync::Arc;
//! use cognate_token::upstream::{OidcProviderConfig, UpstreamOptions, UpstreamOverride, UpstreamVerifier};
//!
//! let verifier = UpstreamVerifier::new(
//!     vec![OidcProviderConfig {
//!         account: "000000000000".into(),
//!         url: "https://idp.example.com/realm".into(),
//!         client_ids: vec!["my-app".into()],
//!     }],
//!     vec![UpstreamOverride {
//!         provider: "accounts.google.com".into(),
//!         issuer: Some("http://127.0.0.1:4000".into()),
//!         token_info_url: None,
//!     }],
//!     UpstreamOptions::default(),
//! )?;
//! let verifier: Arc<dyn cognate_domain::federation::LoginVerifier> = Arc::new(verifier);
//! assert!(verifier.is_declared_oidc_provider(
//!     "000000000000",
//!     "arn:aws:iam::000000000000:oidc-provider/idp.example.com/realm",
//! ));
//! # Ok::<(), cognate_token::TokenError>(())
//! ```

mod cache;
mod fetch;
mod jwk;
mod jwt;
mod key_store;
mod token_info;

#[cfg(test)]
mod fake_idp;
#[cfg(test)]
mod fake_keys;
#[cfg(test)]
mod proptests;
mod saml;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cognate_domain::error::DomainError;
use cognate_domain::federation::{LoginVerifier, VerifiedLogin};
use cognate_domain::ids::ProviderName;
use cognate_domain::pool::{oidc_provider_name, IdentityPool};
use cognate_domain::ports::{Clock, SystemClock};
use reqwest::Url;
use serde_json::Value;

use crate::error::TokenError;
use crate::outbound::OutboundLimits;

pub use cache::{FetchCounts, FAILURE_BACKOFF};
pub use jwt::ALLOWED_ALGORITHMS;
pub use saml::{saml_provider_parts, SamlMetadata, SamlProviderConfig};

use cache::KeyCache;
use fetch::{FetchFailure, Http};
use jwt::{Rejection, UnverifiedToken};
use key_store::IssuerKeys;

/// Google's provider name.
pub const GOOGLE: &str = "accounts.google.com";
/// Sign in with Apple's provider name.
pub const APPLE: &str = "appleid.apple.com";
/// Facebook's provider name.
pub const FACEBOOK: &str = "graph.facebook.com";
/// Login with Amazon's provider name.
pub const AMAZON: &str = "www.amazon.com";

/// Where Facebook access tokens are checked unless overridden.
pub const DEFAULT_FACEBOOK_TOKEN_INFO_URL: &str = "https://graph.facebook.com/debug_token";
/// Where Login with Amazon access tokens are checked unless overridden.
pub const DEFAULT_AMAZON_TOKEN_INFO_URL: &str = "https://api.amazon.com/auth/o2/tokeninfo";

/// Longest accepted login token (the model's limit for `Logins` values).
pub const MAX_LOGIN_TOKEN_CHARS: usize = 50_000;

/// Default [`UpstreamOptions::http_timeout`].
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(3);
/// Default [`UpstreamOptions::jwks_ttl`].
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(3600);
/// Default [`UpstreamOptions::min_refetch_interval`]: short enough that a
/// key the provider really rotated in is found within seconds even while
/// tokens with made-up `kid`s keep arriving, long enough that those cost
/// the provider at most 12 JWKS requests a minute.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Default [`UpstreamOptions::leeway`]: clock skew tolerated on `exp`,
/// `nbf` and `iat` (shared with SAML, so it lives in a leaf module).
pub use crate::leeway::DEFAULT_LEEWAY;

/// AWS's message for a provider the pool does not trust.
pub const MSG_UNSUPPORTED_PROVIDER: &str =
    "Token is not from a supported provider of this identity pool.";
/// AWS's message for a token that is not a readable JWT.
pub const MSG_MALFORMED: &str = "Invalid login token. Not a valid OpenId Connect identity token.";
/// AWS's message for a bad signature, unknown key or refused algorithm.
pub const MSG_SIGNATURE: &str = "Invalid login token. Couldn't verify signed token.";
/// AWS's message for an `iss` that is not the provider's.
pub const MSG_ISSUER: &str = "Invalid login token. Issuer doesn't match providerName";
/// AWS's message for an `aud`/`azp` (or app id) not configured in the pool.
pub const MSG_AUDIENCE: &str = "Invalid login token. Incorrect token audience.";

/// An OpenID Connect provider the deployment declares (`[[oidc_providers]]`):
/// what an `OpenIdConnectProviderARNs` entry of a pool of `account` may
/// refer to, as an IAM OIDC provider would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderConfig {
    /// The account whose pools may use it.
    pub account: String,
    /// The issuer URL, e.g. `https://idp.example.com/realm`; the provider
    /// name (ARN suffix and `Logins` key) is its `host/path`.
    pub url: String,
    /// The accepted audiences (client ids).
    pub client_ids: Vec<String>,
}

/// Where a well-known provider is reached instead (`[[upstream]]`): for an
/// on-premises mirror, or a local IdP in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOverride {
    /// `accounts.google.com`, `appleid.apple.com`,
    /// `cognito-idp.<region>.amazonaws.com/<pool>`, `graph.facebook.com` or
    /// `www.amazon.com`.
    pub provider: String,
    /// The issuer to expect and discover from (OpenID Connect providers).
    pub issuer: Option<String>,
    /// The token-info endpoint (Facebook, Amazon).
    pub token_info_url: Option<String>,
}

/// Timeouts, cache lifetimes and leeway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamOptions {
    /// Bound of every HTTP request (connect, send, read all): 3 s.
    pub http_timeout: Duration,
    /// How long discovery and JWKS are kept: 1 h.
    pub jwks_ttl: Duration,
    /// Least time between two JWKS refetches of one issuer for unknown
    /// `kid`s: 5 s.
    pub min_refetch_interval: Duration,
    /// Tolerated clock skew on `exp`, `nbf`, `iat`: 5 min.
    pub leeway: Duration,
    /// Bounds of the requests to each provider host: 8 in flight, paused
    /// for 10 s after 5 failures in a row (see [`crate::outbound`]).
    pub outbound: OutboundLimits,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            jwks_ttl: DEFAULT_JWKS_TTL,
            min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
            leeway: DEFAULT_LEEWAY,
            outbound: OutboundLimits::default(),
        }
    }
}

/// How a verification failed, before it becomes a [`DomainError`].
#[derive(Debug)]
enum Failure {
    Rejected(Rejection),
    Unreachable(FetchFailure),
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Rejected(r)
    }
}

#[derive(Debug, Clone)]
struct DeclaredOidc {
    account: String,
    name: String,
    issuer: String,
    client_ids: Vec<String>,
}

/// What to check a token of one provider for one pool against.
#[derive(Debug)]
enum Plan {
    Oidc {
        issuer: String,
        /// Another accepted spelling of `iss` (Google's bare host).
        alias: Option<&'static str>,
        audiences: Vec<String>,
        user_pool: bool,
    },
    TokenInfo {
        kind: token_info::Kind,
        url: Url,
        app_ids: Vec<String>,
    },
}

/// The [`LoginVerifier`] for Google, Apple, Facebook, Amazon, Cognito user
/// pools and declared OpenID Connect providers; see the module docs.
pub struct UpstreamVerifier {
    oidc: Vec<DeclaredOidc>,
    issuers: HashMap<String, String>,
    token_info: HashMap<String, Url>,
    leeway_secs: i64,
    http: Http,
    /// Discovery + JWKS per issuer (and its fetch counts).
    cache: Arc<KeyCache>,
    /// Where verifications get keys: `cache`, except in unit tests of the
    /// verification logic.
    key_store: Arc<dyn IssuerKeys>,
    answers: token_info::AnswerCache,
    clock: Arc<dyn Clock>,
    /// Declared SAML providers (`with_saml_providers`).
    saml: Vec<saml::DeclaredSaml>,
    /// Leeway and metadata cache lifetime of SAML providers.
    options: UpstreamOptions,
}

impl fmt::Debug for UpstreamVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamVerifier")
            .field("oidc", &self.oidc)
            .field("issuers", &self.issuers)
            .field("token_info", &self.token_info)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

fn config_error(msg: impl Into<String>) -> TokenError {
    TokenError::InvalidConfig(msg.into())
}

/// Parse an http(s) URL without query or fragment.
fn base_url(what: &str, value: &str) -> Result<Url, TokenError> {
    let url = Url::parse(value).map_err(|e| config_error(format!("{what} {value:?}: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(config_error(format!(
            "{what} {value:?} is not an http(s) URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(format!(
            "{what} {value:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// `https://host/path/` → `host/path`, the provider name of an issuer URL.
fn provider_name_of(issuer: &str) -> &str {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer);
    rest.trim_end_matches('/')
}

/// Whether `provider` names a Cognito user pool.
fn is_user_pool_name(provider: &str) -> bool {
    provider.strip_prefix("cognito-idp.").is_some_and(|rest| {
        rest.split_once(".amazonaws.com/")
            .is_some_and(|(region, pool)| !region.is_empty() && pool.contains('_'))
    })
}

fn split_ids(ids: &str) -> Vec<String> {
    ids.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn unsupported() -> DomainError {
    DomainError::NotAuthorized(MSG_UNSUPPORTED_PROVIDER.into())
}

impl UpstreamVerifier {
    /// A verifier for the declared `oidc` providers and the `overrides` of
    /// well-known ones. Refuses (`InvalidConfig`) bad URLs, an override of
    /// an unknown provider or with the wrong kind of setting, empty client
    /// id lists, duplicates, and zero timeouts.
    pub fn new(
        oidc: Vec<OidcProviderConfig>,
        overrides: Vec<UpstreamOverride>,
        options: UpstreamOptions,
    ) -> Result<Self, TokenError> {
        let mut declared: Vec<DeclaredOidc> = Vec::new();
        for p in oidc {
            if p.account.is_empty() || !p.account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(config_error(format!(
                    "oidc provider {:?}: account {:?} is not an account id",
                    p.url, p.account
                )));
            }
            base_url("oidc provider url", &p.url)?;
            let client_ids: Vec<String> = p
                .client_ids
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            if client_ids.is_empty() {
                return Err(config_error(format!(
                    "oidc provider {:?} needs at least one client id",
                    p.url
                )));
            }
            let name = provider_name_of(&p.url).to_owned();
            if declared
                .iter()
                .any(|d| d.account == p.account && d.name == name)
            {
                return Err(config_error(format!(
                    "oidc provider {name} is declared twice for account {}",
                    p.account
                )));
            }
            declared.push(DeclaredOidc {
                account: p.account,
                issuer: p.url.trim_end_matches('/').to_owned(),
                name,
                client_ids,
            });
        }
        let mut issuers = HashMap::new();
        let mut token_info = HashMap::new();
        for o in overrides {
            let p = o.provider.as_str();
            let is_oidc = p == GOOGLE || p == APPLE || is_user_pool_name(p);
            let is_token_info = p == FACEBOOK || p == AMAZON;
            if !is_oidc && !is_token_info {
                return Err(config_error(format!(
                    "upstream override for {p:?}: not a provider that can be overridden \
                     ({GOOGLE}, {APPLE}, {FACEBOOK}, {AMAZON}, cognito-idp.<region>.amazonaws.com/<pool>)"
                )));
            }
            if issuers.contains_key(p) || token_info.contains_key(p) {
                return Err(config_error(format!(
                    "upstream override for {p} given twice"
                )));
            }
            match (is_oidc, o.issuer, o.token_info_url) {
                (true, Some(issuer), None) => {
                    base_url("upstream issuer", &issuer)?;
                    issuers.insert(o.provider, issuer.trim_end_matches('/').to_owned());
                }
                (false, None, Some(url)) => {
                    let url = base_url("upstream token_info_url", &url)?;
                    token_info.insert(o.provider, url);
                }
                (true, ..) => {
                    return Err(config_error(format!(
                        "upstream override for {p} takes `issuer` (and no `token_info_url`)"
                    )))
                }
                (false, ..) => {
                    return Err(config_error(format!(
                        "upstream override for {p} takes `token_info_url` (and no `issuer`)"
                    )))
                }
            }
        }
        for (name, default) in [
            (FACEBOOK, DEFAULT_FACEBOOK_TOKEN_INFO_URL),
            (AMAZON, DEFAULT_AMAZON_TOKEN_INFO_URL),
        ] {
            if !token_info.contains_key(name) {
                token_info.insert(name.to_owned(), base_url("default", default)?);
            }
        }
        if options.min_refetch_interval.is_zero() || options.jwks_ttl.is_zero() {
            return Err(config_error(
                "upstream jwks_ttl and min_refetch_interval must be more than zero",
            ));
        }
        let http = Http::new(options.http_timeout, options.outbound)?;
        let cache = Arc::new(KeyCache::new(
            http.clone(),
            options.jwks_ttl,
            options.min_refetch_interval,
        ));
        Ok(UpstreamVerifier {
            oidc: declared,
            issuers,
            token_info,
            leeway_secs: i64::try_from(options.leeway.as_secs()).unwrap_or(i64::MAX),
            http,
            key_store: Arc::clone(&cache) as Arc<dyn IssuerKeys>,
            cache,
            answers: token_info::AnswerCache::new(options.jwks_ttl),
            clock: Arc::new(SystemClock),
            saml: Vec::new(),
            options,
        })
    }

    /// The same verifier, also taking SAML responses from the declared
    /// `providers` (see [`crate::saml`]). Refuses (`InvalidConfig`) a bad
    /// account or name, a provider declared twice, unusable metadata or a
    /// bad metadata URL. Metadata from a URL is fetched on first use and
    /// kept for [`UpstreamOptions::jwks_ttl`].
    pub fn with_saml_providers(
        mut self,
        providers: Vec<SamlProviderConfig>,
    ) -> Result<Self, TokenError> {
        self.saml = saml::declare(providers, self.options.leeway)?;
        Ok(self)
    }

    /// The same verifier on another clock (tests): token times and cache
    /// ages are measured on it.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same verifier taking keys from `key_store` instead of fetching
    /// them (unit tests of the verification logic).
    #[cfg(test)]
    fn with_key_store(mut self, key_store: Arc<dyn IssuerKeys>) -> Self {
        self.key_store = key_store;
        self
    }

    /// How many discovery documents and JWKS were fetched so far.
    pub fn fetch_counts(&self) -> FetchCounts {
        self.cache.counts()
    }

    fn declared(&self, account: &str, name: &str) -> Option<&DeclaredOidc> {
        self.oidc
            .iter()
            .find(|d| d.account == account && d.name == name)
    }

    /// What a token of `provider` must satisfy for `pool`, or why the pool
    /// does not take that provider.
    fn plan(&self, pool: &IdentityPool, provider: &str) -> Result<Plan, DomainError> {
        let settings = &pool.settings;
        let oidc_issuer = |provider: &str| {
            self.issuers
                .get(provider)
                .cloned()
                .unwrap_or_else(|| format!("https://{provider}"))
        };
        match provider {
            GOOGLE | APPLE => {
                let ids = settings
                    .supported_login_providers
                    .get(provider)
                    .ok_or_else(unsupported)?;
                let overridden = self.issuers.contains_key(provider);
                Ok(Plan::Oidc {
                    issuer: oidc_issuer(provider),
                    alias: (provider == GOOGLE && !overridden).then_some(GOOGLE),
                    audiences: split_ids(ids),
                    user_pool: false,
                })
            }
            FACEBOOK | AMAZON => {
                let ids = settings
                    .supported_login_providers
                    .get(provider)
                    .ok_or_else(unsupported)?;
                Ok(Plan::TokenInfo {
                    kind: if provider == FACEBOOK {
                        token_info::Kind::Facebook
                    } else {
                        token_info::Kind::Amazon
                    },
                    url: self.token_info[provider].clone(),
                    app_ids: split_ids(ids),
                })
            }
            p if is_user_pool_name(p) => {
                let audiences: Vec<String> = settings
                    .cognito_identity_providers
                    .iter()
                    .filter(|c| c.provider_name == p)
                    .map(|c| c.client_id.clone())
                    .collect();
                if audiences.is_empty() {
                    return Err(unsupported());
                }
                Ok(Plan::Oidc {
                    issuer: oidc_issuer(p),
                    alias: None,
                    audiences,
                    user_pool: true,
                })
            }
            p => {
                let named = settings
                    .openid_connect_provider_arns
                    .iter()
                    .filter_map(|arn| oidc_provider_name(arn))
                    .any(|name| name == p);
                let declared = self
                    .declared(pool.account_id.as_str(), p)
                    .filter(|_| named)
                    .ok_or_else(unsupported)?;
                Ok(Plan::Oidc {
                    issuer: declared.issuer.clone(),
                    alias: None,
                    audiences: declared.client_ids.clone(),
                    user_pool: false,
                })
            }
        }
    }

    async fn verify_oidc(
        &self,
        issuer: &str,
        alias: Option<&str>,
        audiences: &[String],
        user_pool: bool,
        token: &str,
    ) -> Result<(String, String, serde_json::Map<String, Value>), Failure> {
        let unverified_token = UnverifiedToken::read(token)?;
        // Before the signature, only to ask no provider but the expected one.
        let unverified_iss = match unverified_token.unverified_claims.get("iss") {
            Some(Value::String(iss)) => iss.trim_end_matches('/'),
            Some(_) => return Err(Rejection::Malformed.into()),
            None => return Err(Rejection::MissingClaim("iss").into()),
        };
        if unverified_iss != issuer && Some(unverified_iss) != alias {
            return Err(Rejection::Issuer.into());
        }
        let keys = self
            .key_store
            .keys(
                issuer,
                unverified_token.unverified_kid(),
                unverified_token.unverified_alg,
                self.clock.as_ref(),
            )
            .await
            .map_err(Failure::Unreachable)?;
        let verified_claims = unverified_token.verify(&keys)?;
        jwt::check_times(&verified_claims, self.clock.now(), self.leeway_secs, true)?;
        let audience = check_audience(&verified_claims, audiences)?;
        if user_pool
            && verified_claims
                .get("token_use")
                .is_some_and(|u| u.as_str() != Some("id"))
        {
            return Err(Rejection::Malformed.into());
        }
        let subject = match verified_claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | None => return Err(Rejection::MissingClaim("sub").into()),
            Some(_) => return Err(Rejection::Malformed.into()),
        };
        Ok((subject, audience, verified_claims))
    }
}

/// `aud` must contain an accepted audience and `azp`, when present, must
/// be one; returns the matching `aud`.
fn check_audience(
    verified_claims: &serde_json::Map<String, Value>,
    accepted: &[String],
) -> Result<String, Rejection> {
    let auds: Vec<&str> = match verified_claims.get("aud") {
        None => return Err(Rejection::MissingClaim("aud")),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or(Rejection::Malformed))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Rejection::Malformed),
    };
    let is_accepted = |id: &str| accepted.iter().any(|a| a == id);
    let matched = auds
        .into_iter()
        .find(|a| is_accepted(a))
        .ok_or(Rejection::Audience)?;
    match verified_claims.get("azp") {
        None => {}
        Some(Value::String(azp)) if is_accepted(azp) => {}
        Some(_) => return Err(Rejection::Audience),
    }
    Ok(matched.to_owned())
}

fn to_domain(provider: &str, failure: Failure) -> DomainError {
    let rejection = match failure {
        Failure::Unreachable(FetchFailure(what)) => {
            tracing::warn!(provider, what, "upstream identity provider unavailable");
            return DomainError::ExternalService(format!(
                "The identity provider {provider} could not be reached: {what}"
            ));
        }
        Failure::Rejected(r) => r,
    };
    tracing::debug!(provider, reason = ?rejection, "upstream login token refused");
    DomainError::NotAuthorized(match rejection {
        Rejection::Malformed => MSG_MALFORMED.to_owned(),
        Rejection::MissingClaim(name) => {
            format!("Invalid login token. Missing a required claim: {name}")
        }
        Rejection::Signature => MSG_SIGNATURE.to_owned(),
        Rejection::Issuer => MSG_ISSUER.to_owned(),
        Rejection::Audience => MSG_AUDIENCE.to_owned(),
        Rejection::Expired(now, exp) => {
            format!("Invalid login token. Token expired: {now} >= {exp}")
        }
        Rejection::NotYetValid(nbf, now) => {
            format!("Invalid login token. Token is not valid yet: {nbf} > {now}")
        }
        Rejection::IssuedInFuture(iat, now) => {
            format!("Invalid login token. Token was issued in the future: {iat} > {now}")
        }
        Rejection::RefusedByProvider => {
            format!("Invalid login token. {provider} reports the token is not valid.")
        }
    })
}

#[async_trait]
impl LoginVerifier for UpstreamVerifier {
    #[tracing::instrument(name = "upstream.verify", skip_all, fields(provider = %provider))]
    async fn verify(
        &self,
        pool: &IdentityPool,
        provider: &ProviderName,
        token: &str,
    ) -> Result<VerifiedLogin, DomainError> {
        if saml_provider_parts(provider).is_some() {
            return saml::verify(
                &self.saml,
                &self.http,
                self.options.jwks_ttl,
                self.clock.now(),
                pool,
                provider,
                token,
            )
            .await;
        }
        let plan = self.plan(pool, provider)?;
        if token.len() > MAX_LOGIN_TOKEN_CHARS && token.chars().count() > MAX_LOGIN_TOKEN_CHARS {
            return Err(DomainError::NotAuthorized(format!(
                "Invalid login token. Token is longer than {MAX_LOGIN_TOKEN_CHARS} characters."
            )));
        }
        let result = match plan {
            Plan::Oidc {
                issuer,
                alias,
                audiences,
                user_pool,
            } => {
                self.verify_oidc(&issuer, alias, &audiences, user_pool, token)
                    .await
            }
            Plan::TokenInfo { kind, url, app_ids } => token_info::verify(
                &self.http,
                &self.answers,
                kind,
                &url,
                token,
                &app_ids,
                self.clock.now(),
                self.leeway_secs,
            )
            .await
            .map(|v| (v.subject, v.audience, v.claims)),
        };
        let (subject, audience, claims) = result.map_err(|f| to_domain(provider, f))?;
        Ok(VerifiedLogin {
            provider: provider.clone(),
            subject,
            audience,
            claims,
        })
    }

    fn is_declared_oidc_provider(&self, account: &str, arn: &str) -> bool {
        oidc_provider_name(arn).is_some_and(|name| self.declared(account, name).is_some())
    }

    fn is_declared_saml_provider(&self, account: &str, arn: &str) -> bool {
        saml_provider_parts(arn).is_some_and(|(arn_account, name)| {
            arn_account == account && saml::find(&self.saml, account, name).is_some()
        })
    }
}
