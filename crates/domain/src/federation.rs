//! What the domain needs to accept logins from upstream identity providers
//! (Google, Apple, Facebook, Amazon, Cognito user pools, any OIDC provider).
//! The checking itself (discovery, JWKS, signatures, token-info endpoints)
//! lives in `cognate-token`; the linking rules live in the identity service.

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::DomainError;
use crate::ids::ProviderName;
use crate::pool::IdentityPool;

/// A login whose token an upstream provider vouched for.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedLogin {
    /// The `Logins` key it was presented under, e.g. `accounts.google.com`,
    /// `cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC`, `idp.example.com/realm`.
    pub provider: ProviderName,
    /// The provider's stable user identifier (`sub`, or Facebook/Amazon's user id).
    /// Never stored as is: the domain stores a keyed hash of it.
    pub subject: String,
    /// The audience the token was checked against (client / app id).
    pub audience: String,
    /// Every claim of the token (for role rules and principal tags).
    pub claims: Map<String, Value>,
}

/// Checks one upstream login token for one pool.
#[async_trait]
pub trait LoginVerifier: Send + Sync + 'static {
    /// Verify `token`, presented under `provider` to `pool`. Errors:
    /// `NotAuthorized` ("Invalid login token. ...") for a bad, expired,
    /// misdirected or foreign token, or a provider the pool does not trust;
    /// `ExternalService` when the provider cannot be reached in time.
    async fn verify(
        &self,
        pool: &IdentityPool,
        provider: &ProviderName,
        token: &str,
    ) -> Result<VerifiedLogin, DomainError>;

    /// Whether `arn` (an `OpenIdConnectProviderARNs` entry of a pool of
    /// `account`) names a provider this deployment declared. Pools that name
    /// an undeclared provider are refused at Create/UpdateIdentityPool.
    fn is_declared_oidc_provider(&self, account: &str, arn: &str) -> bool;

    /// Whether `arn` (a `SamlProviderARNs` entry of a pool of `account`)
    /// names a SAML provider this deployment declared. Pools that name an
    /// undeclared provider are refused at Create/UpdateIdentityPool. By
    /// default none is (a verifier without SAML support).
    fn is_declared_saml_provider(&self, _account: &str, _arn: &str) -> bool {
        false
    }
}

/// Turns an upstream subject into what is stored: a keyed one-way hash, so
/// a database dump reveals no user identifiers of public providers.
pub trait SubjectHasher: Send + Sync + 'static {
    /// The stored form of `subject` of `provider`.
    fn hash(&self, provider: &str, subject: &str) -> String;
}
