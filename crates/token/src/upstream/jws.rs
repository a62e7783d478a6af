//! Compact JWS parsing, the algorithm allow-list, JWKs, signature checks
//! (aws-lc-rs) and the time claims.
//!
//! Only the header's `alg`, `kid` and `crit` are read: keys named inside the
//! token (`jwk`, `jku`, `x5u`, `x5c`) are never used, and only keys from the
//! issuer's own JWKS verify.

use aws_lc_rs::signature::{self, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

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

/// The signature algorithms accepted from upstream providers. Never `none`,
/// never HMAC (`HS*`): a public key is not a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
}

/// The names of [`Alg`], for documentation and tests.
pub const ALLOWED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

impl Alg {
    fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
        }
    }

    fn rsa_params(self) -> Option<&'static RsaParameters> {
        Some(match self {
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            Alg::Es256 | Alg::Es384 => return None,
        })
    }

    fn curve(self) -> Option<Curve> {
        match self {
            Alg::Es256 => Some(Curve::P256),
            Alg::Es384 => Some(Curve::P384),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point `04 || x || y`.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
}

/// A public signing key from an issuer's JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PublicJwk {
    pub(super) kid: Option<String>,
    alg: Option<String>,
    material: Material,
}

impl PublicJwk {
    /// Read one JWKS entry. `None` for keys that can never verify a token
    /// here: encryption keys, symmetric keys, other key types or curves,
    /// and malformed entries (skipped, not fatal to the whole set).
    pub(super) fn from_json(jwk: &Value) -> Option<PublicJwk> {
        let jwk = jwk.as_object()?;
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
            return None;
        }
        if let Some(ops) = jwk.get("key_ops") {
            let ops = ops.as_array()?;
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return None;
            }
        }
        let b64 = |name: &str| text(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        let material = match text("kty")? {
            "RSA" => {
                let n = strip_leading_zeros(b64("n")?);
                let e = strip_leading_zeros(b64("e")?);
                if n.is_empty() || e.is_empty() {
                    return None;
                }
                Material::Rsa { n, e }
            }
            "EC" => {
                let curve = match text("crv")? {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    _ => return None,
                };
                let (x, y) = (b64("x")?, b64("y")?);
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return None;
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::Ec { curve, point }
            }
            _ => return None,
        };
        let alg = match jwk.get("alg") {
            None => None,
            Some(Value::String(a)) => Some(a.clone()),
            Some(_) => return None,
        };
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return None,
        };
        Some(PublicJwk { kid, alg, material })
    }

    /// Whether this key may verify `alg`: its `kty` (and curve) fit, and its
    /// `alg`, when it names one, is exactly `alg`.
    pub(super) fn fits(&self, alg: Alg) -> bool {
        if self.alg.as_deref().is_some_and(|a| a != alg.name()) {
            return false;
        }
        match &self.material {
            Material::Rsa { .. } => alg.rsa_params().is_some(),
            Material::Ec { curve, .. } => alg.curve() == Some(*curve),
        }
    }

    fn verifies(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        match (&self.material, alg.rsa_params()) {
            (Material::Rsa { n, e }, Some(params)) => RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .is_ok(),
            (Material::Ec { point, .. }, None) => {
                let algorithm = match alg {
                    Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
                    _ => return false,
                };
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub(super) struct Jws<'a> {
    pub(super) alg: Alg,
    pub(super) kid: Option<String>,
    pub(super) claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
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

impl<'a> Jws<'a> {
    /// Split and decode `token`. An algorithm off the allow-list (`none`,
    /// `HS256`, ...) is a signature failure; anything unreadable is malformed.
    pub(super) fn parse(token: &'a str) -> Result<Jws<'a>, Rejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed);
        };
        let header_map = decode_object(header)?;
        let claims = decode_object(payload)?;
        let alg = match header_map.get("alg") {
            Some(Value::String(name)) => Alg::parse(name).ok_or(Rejection::Signature)?,
            _ => return Err(Rejection::Malformed),
        };
        // We implement no JWS extension, so none may be critical (RFC 7515 §4.1.11).
        if header_map.contains_key("crit") {
            return Err(Rejection::Malformed);
        }
        let kid = match header_map.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(Rejection::Malformed),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| Rejection::Malformed)?;
        if signature.is_empty() {
            return Err(Rejection::Signature);
        }
        let signing_input = &token[..header.len() + 1 + payload.len()];
        Ok(Jws {
            alg,
            kid,
            claims,
            signing_input,
            signature,
        })
    }

    /// Whether one of `keys` (already narrowed to the token's `kid`)
    /// verifies the signature.
    pub(super) fn verified_by<'k>(&self, keys: impl IntoIterator<Item = &'k PublicJwk>) -> bool {
        keys.into_iter()
            .any(|k| k.verifies(self.alg, self.signing_input.as_bytes(), &self.signature))
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
