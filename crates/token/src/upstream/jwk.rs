//! An issuer's JWKS as `jsonwebtoken` [`DecodingKey`]s, built once when the
//! JWKS is read (never per token), and the choice of key for a token.
//!
//! Only keys from the issuer's own JWKS verify: keys named inside a token
//! (`jwk`, `jku`, `x5u`, `x5c`) are never read into a [`KeySet`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use serde_json::Value;

/// The most keys kept from one JWKS (real ones hold 2 to 5).
pub(super) const MAX_KEYS: usize = 100;

/// An elliptic curve of the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
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

/// What kind of key a JWK holds (its `kty`, and `crv` for EC keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    Ec(Curve),
}

/// A public signing key from an issuer's JWKS, ready for
/// `jsonwebtoken::decode`.
#[derive(Debug, Clone)]
pub(super) struct PublicKey {
    pub(super) kid: Option<String>,
    /// The JWK's own `alg`, when it names one.
    alg: Option<String>,
    key_type: KeyType,
    decoding: DecodingKey,
}

impl PublicKey {
    /// Read one JWKS entry. `None` for keys that can never verify a token
    /// here: encryption keys, symmetric keys, other key types or curves,
    /// and malformed entries (skipped, not fatal to the whole set).
    pub(super) fn from_jwk(jwk: &Value) -> Option<PublicKey> {
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
        let (key_type, decoding) = match text("kty")? {
            "RSA" => {
                let n = strip_leading_zeros(b64("n")?);
                let e = strip_leading_zeros(b64("e")?);
                if n.is_empty() || e.is_empty() {
                    return None;
                }
                (KeyType::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
            }
            "EC" => {
                let curve = match text("crv")? {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    _ => return None,
                };
                let len = curve.coordinate_len();
                if b64("x")?.len() != len || b64("y")?.len() != len {
                    return None;
                }
                let decoding = DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?;
                (KeyType::Ec(curve), decoding)
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
        Some(PublicKey {
            kid,
            alg,
            key_type,
            decoding,
        })
    }

    /// Whether this key may verify `alg`: its `kty` (and curve) fit, and its
    /// `alg`, when it names one, is exactly `alg`.
    pub(super) fn fits(&self, alg: Alg) -> bool {
        if self.alg.as_deref().is_some_and(|a| a != alg.name()) {
            return false;
        }
        match self.key_type {
            KeyType::Rsa => alg.is_rsa(),
            KeyType::Ec(curve) => alg.curve() == Some(curve),
        }
    }

    /// The key for `jsonwebtoken::decode`.
    pub(super) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// The keys of one issuer, as last fetched.
#[derive(Debug)]
pub(super) struct KeySet {
    keys: Vec<PublicKey>,
    pub(super) fetched_at: DateTime<Utc>,
}

impl KeySet {
    /// The usable keys of a JWKS's `keys` array (at most [`MAX_KEYS`]),
    /// fetched at `fetched_at`.
    pub(super) fn from_jwks(entries: &[Value], fetched_at: DateTime<Utc>) -> KeySet {
        KeySet {
            keys: entries
                .iter()
                .filter_map(PublicKey::from_jwk)
                .take(MAX_KEYS)
                .collect(),
            fetched_at,
        }
    }

    /// How many usable keys the set holds.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys that may verify a token with this `kid` and `alg`: the one
    /// with that `kid`, or, for a token without `kid`, the JWKS's only key.
    /// A token without `kid` while the JWKS holds several keys is refused
    /// (OpenID Connect Core 1.0 §10.1: `kid` is required then; the OpenID
    /// RP certification expects "kid absent, multiple keys" to fail).
    pub(super) fn candidates(&self, kid: Option<&str>, alg: Alg) -> Vec<&PublicKey> {
        if kid.is_none() && self.keys.len() > 1 {
            return Vec::new();
        }
        self.keys
            .iter()
            .filter(|k| k.fits(alg))
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .collect()
    }
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
    pub(super) fn parse(name: &str) -> Option<Alg> {
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

    /// The same algorithm for `jsonwebtoken`.
    pub(super) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Rs384 => jsonwebtoken::Algorithm::RS384,
            Alg::Rs512 => jsonwebtoken::Algorithm::RS512,
            Alg::Ps256 => jsonwebtoken::Algorithm::PS256,
            Alg::Ps384 => jsonwebtoken::Algorithm::PS384,
            Alg::Ps512 => jsonwebtoken::Algorithm::PS512,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
            Alg::Es384 => jsonwebtoken::Algorithm::ES384,
        }
    }

    /// Whether an RSA key signs this algorithm.
    pub(super) fn is_rsa(self) -> bool {
        self.curve().is_none()
    }

    /// The curve of an ECDSA algorithm.
    pub(super) fn curve(self) -> Option<Curve> {
        match self {
            Alg::Es256 => Some(Curve::P256),
            Alg::Es384 => Some(Curve::P384),
            _ => None,
        }
    }
}
