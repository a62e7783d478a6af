//! Where the verifier gets an issuer's keys: [`IssuerKeys`]. The real one is
//! the discovery + JWKS cache ([`super::cache::KeyCache`]); unit tests of the
//! verification logic use an in-memory one instead.

use std::sync::Arc;

use async_trait::async_trait;
use cognate_domain::ports::Clock;

use super::fetch::FetchFailure;
use super::jwk::KeySet;
use super::jwt::Alg;

/// The keys of issuers, for verifying their tokens.
#[async_trait]
pub(super) trait IssuerKeys: Send + Sync {
    /// The keys of `issuer` for a token with `kid` and `alg` (both
    /// unverified: they only say which key to look for). The caller looks
    /// for its key in the answer ([`KeySet::candidates`]); an answer
    /// without it means "no such key". Errors: the keys could not be had
    /// (the provider is unreachable or answered unusably).
    async fn keys(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Alg,
        clock: &dyn Clock,
    ) -> Result<Arc<KeySet>, FetchFailure>;
}
