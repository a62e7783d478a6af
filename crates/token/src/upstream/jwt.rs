//! Upstream JWTs through `jsonwebtoken`, the one signature-verification
//! path of the crate: the algorithm allow-list, reading a token before its
//! signature is checked ([`UnverifiedToken`]), the one [`validation`] and
//! the time claims.
//!
//! Values are named by trust level: what is read before the signature is
//! checked is `unverified_*` (the header, to pick the key; the claims, to
//! refuse a foreign `iss` without asking its provider), and only
//! [`UnverifiedToken::verify`] turns the claims into `verified_claims`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, TokenData, Validation};
use serde_json::{Map, Value};

pub(super) use super::jwk::Alg;
use super::jwk::KeySet;
pub use super::jwk::ALLOWED_ALGORITHMS;

/// Why a token is refused; each maps to one of AWS's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rejection {
    /// Not a compact JWS with JSON header and claims, or a required claim
    /// is missing or of the wrong type.
    Malformed,
    /// A required claim is missing.
    MissingClaim(&'static str),
    /// Bad signature, no key for it, or an algorithm off the allow-list.
    Signature,
    /// `iss` is not the provider's issuer.
    Issuer,
    /// Neither `aud` nor `azp` fit.
    Audience,
    /// `exp` is past (beyond the leeway): now, exp.
    Expired(i64, i64),
    /// `nbf` is ahead (beyond the leeway): nbf, now.
    NotYetValid(i64, i64),
    /// `iat` is ahead (beyond the leeway): iat, now.
    IssuedInFuture(i64, i64),
    /// The provider (token-info endpoint) says the token is not valid.
    RefusedByProvider,
}

/// The one `jsonwebtoken` [`Validation`] of upstream tokens: the signature
/// under exactly `alg`, a member of the allow-list ([`ALLOWED_ALGORITHMS`];
/// never `none`, never `HS*`), which must also be the header's `alg`.
///
/// Its own claim checks are off, each done after the signature instead:
/// `exp`, `nbf` and `iat` by [`check_times`] with
/// [`UpstreamOptions::leeway`](super::UpstreamOptions::leeway)
/// ([`DEFAULT_LEEWAY`](super::DEFAULT_LEEWAY), 5 minutes) on the
/// verifier's injectable clock (`jsonwebtoken` reads the system clock and
/// its errors carry no times, which AWS's messages show); `iss` (before
/// the signature, to ask no foreign provider), `aud`/`azp`, `token_use`
/// and `sub` by the verifier, with AWS's messages.
pub(super) fn validation(alg: Alg) -> Validation {
    let mut validation = Validation::new(alg.jwt());
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

fn decode_object(part: &str) -> Result<Map<String, Value>, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Rejection::Malformed),
    }
}

/// A compact JWS as read before its signature is checked: nothing in it is
/// trusted yet.
#[derive(Debug)]
pub(super) struct UnverifiedToken<'a> {
    token: &'a str,
    /// The header's `alg`, already on the allow-list; the one the signature
    /// must be made with.
    pub(super) unverified_alg: Alg,
    /// The header, as `jsonwebtoken::decode_header` reads it.
    pub(super) unverified_header: Header,
    /// The claims, for what must be looked at before the signature (`iss`).
    pub(super) unverified_claims: Map<String, Value>,
}

impl<'a> UnverifiedToken<'a> {
    /// Split and decode `token`. An algorithm off the allow-list (`none`,
    /// `HS256`, ...) or an empty signature is a signature failure; anything
    /// unreadable (for `jsonwebtoken` too), or a `crit` header, is malformed.
    pub(super) fn read(token: &'a str) -> Result<UnverifiedToken<'a>, Rejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed);
        };
        // The header as plain JSON first, to tell an algorithm off the list
        // (a signature failure) from a header that is no header.
        let unverified_header_json = decode_object(header)?;
        let unverified_claims = decode_object(payload)?;
        let unverified_alg = match unverified_header_json.get("alg") {
            Some(Value::String(name)) => Alg::parse(name).ok_or(Rejection::Signature)?,
            _ => return Err(Rejection::Malformed),
        };
        // We implement no JWS extension, so none may be critical (RFC 7515 §4.1.11).
        if unverified_header_json.contains_key("crit") {
            return Err(Rejection::Malformed);
        }
        // `kid` not a string, or other registered members of the wrong type.
        let unverified_header =
            jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        if unverified_header.alg != unverified_alg.jwt() {
            return Err(Rejection::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Rejection::Malformed)?;
        if signature.is_empty() {
            return Err(Rejection::Signature);
        }
        Ok(UnverifiedToken {
            token,
            unverified_alg,
            unverified_header,
            unverified_claims,
        })
    }

    /// The header's `kid`, to pick the key by.
    pub(super) fn unverified_kid(&self) -> Option<&str> {
        self.unverified_header.kid.as_deref()
    }

    /// Verify the signature with `keys` through `jsonwebtoken::decode` and
    /// [`validation`]: with the key of the header's `kid` (a token without
    /// `kid`: the set's only key) that fits the header's `alg`. Returns the
    /// verified claims; [`Rejection::Signature`] when no key verifies.
    pub(super) fn verify(self, keys: &KeySet) -> Result<Map<String, Value>, Rejection> {
        let validation = validation(self.unverified_alg);
        for key in keys.candidates(self.unverified_kid(), self.unverified_alg) {
            match jsonwebtoken::decode::<Map<String, Value>>(
                self.token,
                key.decoding_key(),
                &validation,
            ) {
                Ok(TokenData {
                    claims: verified_claims,
                    ..
                }) => return Ok(verified_claims),
                // Claims that are JSON but not readable as claims (e.g. a
                // member given twice). `read` already had the header read
                // the same way, so a JSON error here is the claims', which
                // `decode` reads only once the signature held.
                Err(e) if matches!(e.kind(), ErrorKind::Json(_) | ErrorKind::Utf8(_)) => {
                    return Err(Rejection::Malformed)
                }
                Err(_) => {}
            }
        }
        Err(Rejection::Signature)
    }
}

/// A NumericDate claim as whole seconds (fractions are allowed by RFC 7519
/// and truncated here); `Ok(None)` when absent, malformed when not a number.
pub(super) fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(Rejection::Malformed),
        Some(_) => Err(Rejection::Malformed),
    }
}

/// `exp` (required), `nbf` and `iat` (when present) against `now`, each
/// with `leeway_secs` of tolerance for clock skew.
pub(super) fn check_times(
    claims: &Map<String, Value>,
    now: DateTime<Utc>,
    leeway_secs: i64,
    exp_required: bool,
) -> Result<(), Rejection> {
    let now = now.timestamp();
    match numeric_date(claims, "exp")? {
        Some(exp) if now >= exp.saturating_add(leeway_secs) => {
            return Err(Rejection::Expired(now, exp))
        }
        Some(_) => {}
        None if exp_required => return Err(Rejection::MissingClaim("exp")),
        None => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(leeway_secs) {
            return Err(Rejection::NotYetValid(nbf, now));
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if iat > now.saturating_add(leeway_secs) {
            return Err(Rejection::IssuedInFuture(iat, now));
        }
    }
    Ok(())
}
