//! What the domain needs from Cognate's own token machinery: the claims of
//! an OpenID token it issues, the signer/verifier port, and the storage
//! port for signing keys. The crypto itself lives in `cognate-token`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// The claim Cognito puts the identity pool's ARN in.
pub const POOL_ARN_CLAIM: &str = "https://cognito-identity.amazonaws.com/identity-pool-arn";
/// The claim STS reads session tags from.
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";

/// `https://aws.amazon.com/tags`: what STS turns into session tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionTags {
    /// Tag name → values (STS takes one value per tag, as a list).
    pub principal_tags: BTreeMap<String, Vec<String>>,
    /// Tag keys that stay set across role chaining.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
}

/// The claims of an OpenID token Cognate issues, as Cognito names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdClaims {
    /// Issuer: the configured issuer URL.
    pub iss: String,
    /// Subject: the identity id.
    pub sub: String,
    /// Audience: the identity pool id.
    pub aud: String,
    /// `["unauthenticated"]` or `["authenticated", <provider>, ...]`.
    pub amr: Vec<String>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The identity pool's ARN.
    #[serde(rename = "https://cognito-identity.amazonaws.com/identity-pool-arn")]
    pub identity_pool_arn: String,
    /// Principal tags for STS, when there are any.
    #[serde(
        rename = "https://aws.amazon.com/tags",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<SessionTags>,
}

/// Why a token Cognate is asked to verify is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Malformed, wrongly signed, unknown key, wrong issuer or algorithm.
    #[error("invalid token")]
    Invalid,
    /// The token has expired.
    #[error("token expired")]
    Expired,
}

/// Signs and verifies Cognate's own OpenID tokens.
#[async_trait]
pub trait TokenIssuer: Send + Sync + 'static {
    /// The issuer URL put in `iss`.
    fn issuer(&self) -> &str;
    /// Sign `claims` with the current signing key (runs off the async workers).
    async fn sign(&self, claims: &OpenIdClaims) -> Result<String, crate::DomainError>;
    /// Verify a token this deployment issued: signature against a published
    /// key, issuer, algorithm and expiry. Audience and subject are the
    /// caller's to check.
    async fn verify(&self, token: &str) -> Result<OpenIdClaims, TokenRejection>;
}

/// A signing key as stored: the private half sealed when a key-encryption
/// key is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id, published as `kid`.
    pub kid: String,
    /// JWS algorithm, e.g. `RS512`.
    pub alg: String,
    /// PKCS#8 DER private key, sealed (AEAD) when `encrypted`.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is sealed with the key-encryption key.
    pub encrypted: bool,
    /// DER self-signed certificate of the public key (published as `x5c`).
    pub certificate_der: Vec<u8>,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
    /// From when it may sign (it is published from `created_at` on).
    pub activate_at: DateTime<Utc>,
    /// When it stopped signing (a newer key took over), if it has.
    pub retired_at: Option<DateTime<Utc>>,
    /// After this it is no longer published: every token it signed has expired.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Opens transactions over the signing keys, and nothing else: what the
/// key manager needs of storage.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Begin a transaction on the signing keys.
    async fn begin_keys(&self) -> Result<Box<dyn KeyTx>, StoreError>;
}

/// One transaction over the signing keys.
#[async_trait]
pub trait KeyTx: KeyRepo + Send {
    /// Commit everything done through this transaction (dropping it rolls back).
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Storage of signing keys, shared by every instance.
#[async_trait]
pub trait KeyRepo: Send {
    /// Take the key-rotation lock for this transaction (one rotator at a time).
    async fn lock_keys(&mut self) -> Result<(), StoreError>;
    /// Every key not yet past `expires_at`, newest `activate_at` first.
    async fn list_keys(&mut self, now: DateTime<Utc>) -> Result<Vec<StoredKey>, StoreError>;
    /// Store a new key.
    async fn insert_key(&mut self, key: &StoredKey) -> Result<(), StoreError>;
    /// Mark a key retired (stops signing) and when it stops being published.
    async fn retire_key(
        &mut self,
        kid: &str,
        retired_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Delete keys whose `expires_at` has passed.
    async fn purge_expired_keys(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Replace the unsealed private key of `kid` by its sealed form and mark
    /// it `encrypted` (`cognate keys seal`). A key already sealed is left alone.
    async fn store_sealed_key(&mut self, kid: &str, sealed: &[u8]) -> Result<(), StoreError>;
}
