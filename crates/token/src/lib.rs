//! Cognate's own token machinery: its RSA signing keys, the OpenID tokens
//! it mints and verifies, and the JWKS and discovery documents that let an
//! STS verify them.
//!
//! # Layout
//! - [`keys`] — one key: generation (`rsa`), certificate (`rcgen`), `kid`
//!   (RFC 7638 thumbprint), JWK, and signing (aws-lc-rs, key parsed once).
//! - [`kek`] — encryption at rest of private keys (AES-256-GCM).
//! - [`manager`] — [`KeyManager`], the [`cognate_domain::token::TokenIssuer`]:
//!   loads keys from the database, rotates, signs off the async workers,
//!   verifies, builds the JWKS and discovery documents.
//! - [`saml`] — SAML 2.0 responses verified against IdP metadata
//!   (samael over libxmlsec1); declared SAML providers are part of
//!   [`UpstreamVerifier`].
//! - [`sts`] — the STS client (AssumeRoleWithWebIdentity).
//! - [`outbound`] — per-destination bounds on calls to identity providers
//!   and the STS: calls in flight, and a circuit breaker.
//! - [`subject`] — keyed one-way hashing of upstream subjects.
//! - `bench` (feature `bench`, enabled by `cognate-bench` only):
//!   `measure_sign_rate`, the machine's raw signing rate.
//! - [`upstream`] — [`UpstreamVerifier`], the [`cognate_domain::federation::LoginVerifier`]:
//!   upstream `Logins` tokens checked through OIDC discovery + cached JWKS
//!   (Google, Apple, Cognito user pools, declared OIDC providers) or
//!   token-info endpoints (Facebook, Amazon).
//! - `test_keys` (tests, or feature `test-keys`): fixed RSA keys.
//!
//! # Use
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn cognate_domain::token::KeyStore>) -> Result<(), cognate_token::TokenError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cognate_token::{Kek, KeyManager, KeyManagerConfig};
//!
//! let kek = Some(Kek::from_base64("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=")?);
//! let config = KeyManagerConfig::new("https://id.example.com");
//! let keys = Arc::new(KeyManager::start(store, kek, config).await?);
//! let _refresh = Arc::clone(&keys).spawn_refresh_loop(Duration::from_secs(60));
//! let jwks = keys.jwks_json(); // serve at {issuer}/.well-known/jwks_uri
//! # let _ = jwks; Ok(()) }
//! ```

#[cfg(feature = "bench")]
pub mod bench;
pub mod error;
pub mod kek;
pub mod keys;
pub mod leeway;
pub mod manager;
pub mod outbound;
pub mod saml;
pub mod sts;
pub mod subject;
pub mod telemetry;
#[cfg(any(test, feature = "test-keys"))]
pub mod test_keys;
pub mod upstream;

#[cfg(feature = "bench")]
pub use bench::measure_sign_rate;
pub use error::TokenError;
pub use kek::Kek;
pub use keys::{RsaSigningKey, SigningAlgorithm};
pub use manager::{
    unsealed_stored_keys, KeyGenerator, KeyInfo, KeyManager, KeyManagerConfig, KeyManagerHooks,
    KeyStatus, DEFAULT_MAX_TOKEN_LIFETIME, DEFAULT_PUBLISH_AHEAD, DEFAULT_ROTATION_PERIOD,
};
pub use outbound::OutboundLimits;
pub use sts::{HttpSts, NoSts};
pub use subject::HmacSubjectHasher;
pub use upstream::{
    OidcProviderConfig, SamlMetadata, SamlProviderConfig, UpstreamOptions, UpstreamOverride,
    UpstreamVerifier,
};
