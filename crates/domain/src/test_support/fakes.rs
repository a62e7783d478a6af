//! Stand-ins for the ports other than storage, simple enough that a test
//! reads what they did: a clock that moves only when told, a token issuer
//! whose tokens are readable JSON, an upstream verifier that believes the
//! token, a subject hasher whose hashes show their input, and an STS that
//! records what it was asked.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::credentials::{Credentials, CredentialsIssuer, StsError};
use crate::error::DomainError;
use crate::federation::{LoginVerifier, SubjectHasher, VerifiedLogin};
use crate::ids::ProviderName;
use crate::pool::IdentityPool;
use crate::ports::Clock;
use crate::token::{OpenIdClaims, TokenIssuer, TokenRejection};

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        ManualClock(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("a valid date"),
        ))
    }

    /// Move the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// What a [`ReadableIssuer`] token starts with.
const READABLE_PREFIX: &str = "readable.";

/// Issues "tokens" that are their claims as JSON behind a prefix, and
/// verifies them as the real issuer would: its own prefix, its issuer,
/// not expired (by the clock it was given).
pub struct ReadableIssuer {
    issuer: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ReadableIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadableIssuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ReadableIssuer {
    /// An issuer named `issuer`, telling expiry by `clock`.
    pub fn new(issuer: &str, clock: Arc<dyn Clock>) -> Self {
        ReadableIssuer {
            issuer: issuer.to_owned(),
            clock,
        }
    }

    /// The claims of a token it issued (no checks: for a test's asserts).
    pub fn read(token: &str) -> OpenIdClaims {
        let json = token
            .strip_prefix(READABLE_PREFIX)
            .expect("a token of the ReadableIssuer");
        serde_json::from_str(json).expect("claims as JSON")
    }
}

#[async_trait]
impl TokenIssuer for ReadableIssuer {
    fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn sign(&self, claims: &OpenIdClaims) -> Result<String, DomainError> {
        let json = serde_json::to_string(claims).map_err(DomainError::internal)?;
        Ok(format!("{READABLE_PREFIX}{json}"))
    }

    async fn verify(&self, token: &str) -> Result<OpenIdClaims, TokenRejection> {
        let claims: OpenIdClaims = token
            .strip_prefix(READABLE_PREFIX)
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or(TokenRejection::Invalid)?;
        if claims.iss != self.issuer {
            return Err(TokenRejection::Invalid);
        }
        if claims.exp <= self.clock.now().timestamp() {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }
}

/// The refusal a [`BelievingVerifier`] gives a token starting with `invalid`.
pub const INVALID_LOGIN: &str = "Invalid login token.";

/// Believes any upstream token for a provider the pool names: the token
/// is the subject, or a JSON object of claims with a `sub`. A token that
/// starts with `invalid` is refused, as a bad signature would be.
#[derive(Debug, Default)]
pub struct BelievingVerifier {
    declared: BTreeSet<(String, String)>,
}

impl BelievingVerifier {
    /// A verifier that knows no declared OIDC providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare `arn` as an OIDC provider of `account`.
    pub fn declare(mut self, account: &str, arn: &str) -> Self {
        self.declared.insert((account.to_owned(), arn.to_owned()));
        self
    }
}

#[async_trait]
impl LoginVerifier for BelievingVerifier {
    async fn verify(
        &self,
        pool: &IdentityPool,
        provider: &ProviderName,
        token: &str,
    ) -> Result<VerifiedLogin, DomainError> {
        if !pool.settings.provider_names().iter().any(|p| p == provider) {
            return Err(DomainError::NotAuthorized(
                "Token is not from a supported provider of this identity pool.".into(),
            ));
        }
        if token.starts_with("invalid") {
            return Err(DomainError::NotAuthorized(INVALID_LOGIN.into()));
        }
        let audience = pool
            .settings
            .supported_login_providers
            .get(provider.as_str())
            .cloned()
            .unwrap_or_else(|| "client".to_owned());
        let claims: Map<String, Value> = if token.starts_with('{') {
            serde_json::from_str(token)
                .map_err(|_| DomainError::NotAuthorized(INVALID_LOGIN.into()))?
        } else {
            let mut claims = Map::new();
            claims.insert("sub".into(), Value::String(token.to_owned()));
            claims.insert("aud".into(), Value::String(audience.clone()));
            claims
        };
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| DomainError::NotAuthorized(INVALID_LOGIN.into()))?
            .to_owned();
        Ok(VerifiedLogin {
            provider: provider.clone(),
            subject,
            audience,
            claims,
        })
    }

    fn is_declared_oidc_provider(&self, account: &str, arn: &str) -> bool {
        self.declared
            .contains(&(account.to_owned(), arn.to_owned()))
    }
}

/// "Hashes" a subject into text that shows provider and subject, so a
/// test can tell which login a stored row is.
#[derive(Debug, Default, Clone, Copy)]
pub struct VisibleHasher;

impl VisibleHasher {
    /// What [`SubjectHasher::hash`] gives for this login.
    pub fn stored(provider: &str, subject: &str) -> String {
        format!("hash({provider}|{subject})")
    }
}

impl SubjectHasher for VisibleHasher {
    fn hash(&self, provider: &str, subject: &str) -> String {
        Self::stored(provider, subject)
    }
}

/// One AssumeRoleWithWebIdentity call a [`RecordingSts`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsCall {
    /// The role asked for.
    pub role_arn: String,
    /// The session name.
    pub session_name: String,
    /// Cognate's token.
    pub token: String,
    /// The session length asked for.
    pub duration_seconds: u32,
}

/// An STS that records each call and answers fixed credentials, or the
/// refusal it was given.
#[derive(Debug, Default)]
pub struct RecordingSts {
    calls: Mutex<Vec<StsCall>>,
    refusal: Option<StsError>,
}

impl RecordingSts {
    /// An STS that grants every call.
    pub fn new() -> Self {
        Self::default()
    }

    /// An STS that refuses every call with `refusal`.
    pub fn refusing(refusal: StsError) -> Self {
        RecordingSts {
            calls: Mutex::default(),
            refusal: Some(refusal),
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<StsCall> {
        self.calls.lock().expect("sts lock").clone()
    }
}

#[async_trait]
impl CredentialsIssuer for RecordingSts {
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        duration_seconds: u32,
    ) -> Result<Credentials, StsError> {
        self.calls.lock().expect("sts lock").push(StsCall {
            role_arn: role_arn.to_owned(),
            session_name: session_name.to_owned(),
            token: token.to_owned(),
            duration_seconds,
        });
        if let Some(refusal) = &self.refusal {
            return Err(refusal.clone());
        }
        Ok(Credentials {
            access_key_id: "ASIATESTKEY".into(),
            secret_key: "secret".into(),
            session_token: "session".into(),
            expiration: Utc
                .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
                .single()
                .expect("a valid date"),
        })
    }
}
