//! The error type of Cognate's key machinery.

use cognate_domain::ports::StoreError;

/// What can go wrong loading, generating, sealing or using a signing key.
///
/// No variant ever carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The configured key-encryption key is not 32 bytes of base64.
    #[error("invalid key-encryption key: {0}")]
    InvalidKek(String),
    /// A stored key is sealed, but no key-encryption key is configured.
    #[error(
        "signing key {kid} is stored encrypted, but no key-encryption key is configured; \
         configure the key-encryption key it was sealed with"
    )]
    MissingKek {
        /// The key's id.
        kid: String,
    },
    /// A stored key does not open with the configured key-encryption key.
    #[error(
        "signing key {kid} cannot be decrypted with the configured key-encryption key \
         (wrong key-encryption key, or the stored key is damaged)"
    )]
    WrongKek {
        /// The key's id.
        kid: String,
    },
    /// A stored or generated key is unusable.
    #[error("signing key {kid}: {reason}")]
    BadKey {
        /// The key's id (empty while a new key has none yet).
        kid: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key manager's settings contradict each other.
    #[error("invalid token-key settings: {0}")]
    InvalidConfig(String),
    /// An algorithm other than RS256 or RS512 was asked for.
    #[error("unsupported token signing algorithm {0:?} (supported: RS256, RS512)")]
    UnsupportedAlgorithm(String),
    /// Generating a key pair or its certificate failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// Producing a signature failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// No key may sign now (should not happen once started).
    #[error("no signing key is active")]
    NoSigningKey,
    /// The database refused.
    #[error("signing-key storage: {0}")]
    Store(#[from] StoreError),
    /// A background (blocking) task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}
