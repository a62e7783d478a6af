//! Property tests over what a client controls in a login: the token's
//! bytes, its header and claims, and what a provider's JWKS holds, through
//! the one verification path (`jsonwebtoken`). Never a panic; random
//! signatures never verify; a genuine signature verifies and any change to
//! the signed token undoes that.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{TimeZone as _, Utc};
use cognate_domain::test_support::{arb_json, arb_text};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::jwk::KeySet;
use super::jwt::{check_times, Rejection, UnverifiedToken, ALLOWED_ALGORITHMS};
use crate::test_keys;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A header that is sometimes well formed.
fn arb_header() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_json(),
        (
            prop_oneof![
                prop::sample::select(ALLOWED_ALGORITHMS.to_vec()).prop_map(str::to_owned),
                Just("none".to_owned()),
                Just("HS256".to_owned()),
                arb_text()
            ],
            prop::option::of(arb_text()),
            any::<bool>()
        )
            .prop_map(|(alg, kid, crit)| {
                let mut h = json!({ "alg": alg });
                if let Some(kid) = kid {
                    h["kid"] = json!(kid);
                }
                if crit {
                    h["crit"] = json!(["exp"]);
                }
                h
            }),
    ]
}

/// A token: three base64url parts of (often) JSON, or arbitrary text.
fn arb_token() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_text(),
        (
            arb_header(),
            arb_json(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(h, c, sig)| format!(
                "{}.{}.{}",
                b64(h.to_string().as_bytes()),
                b64(c.to_string().as_bytes()),
                b64(&sig)
            )),
    ]
}

/// The JWK of fixed RSA test key `i`.
fn rsa_jwk(i: usize) -> (RsaKeyPair, Value) {
    let pair = RsaKeyPair::from_pkcs8(&test_keys::pkcs8(i)).expect("test key");
    let c: RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
    let jwk = json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)});
    (pair, jwk)
}

/// A real P-256 point's coordinates (base64url).
fn ec_coordinates() -> (String, String) {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .unwrap();
    let point = pair.public_key().as_ref();
    (b64(&point[1..33]), b64(&point[33..65]))
}

/// A JWKS entry: arbitrary JSON, or an RSA/EC key (real material or not)
/// with odd members.
fn arb_jwk() -> impl Strategy<Value = Value> {
    let (_, rsa) = rsa_jwk(0);
    let n = rsa["n"].as_str().unwrap().to_owned();
    let e = rsa["e"].as_str().unwrap().to_owned();
    let (x, y) = ec_coordinates();
    prop_oneof![
        arb_json(),
        (
            prop_oneof![Just("RSA".to_owned()), Just("EC".to_owned()), arb_text()],
            prop_oneof![Just(n), arb_text()],
            prop_oneof![Just(e), arb_text()],
            prop_oneof![Just((x, y)), Just(("AAAA".to_owned(), "AAAA".to_owned()))],
            prop::option::of(prop_oneof![
                prop::sample::select(ALLOWED_ALGORITHMS.to_vec()).prop_map(str::to_owned),
                arb_text()
            ]),
            prop::option::of(arb_text()),
            prop::option::of(prop_oneof![Just("P-256".to_owned()), arb_text()]),
        )
            .prop_map(|(kty, n, e, (x, y), alg, kid, crv)| {
                let mut k = json!({"kty": kty, "n": n, "e": e, "x": x, "y": y});
                if let Some(alg) = alg {
                    k["alg"] = json!(alg);
                }
                if let Some(kid) = kid {
                    k["kid"] = json!(kid);
                }
                if let Some(crv) = crv {
                    k["crv"] = json!(crv);
                }
                k
            }),
    ]
}

/// Claims: any JSON object.
fn arb_claims() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((arb_text(), arb_json()), 0..6)
        .prop_map(|entries| entries.into_iter().collect())
}

/// `header.claims` signed RS256 by `pair`.
fn sign_rs256(pair: &RsaKeyPair, header: &Value, claims: &Map<String, Value>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(Value::Object(claims.clone()).to_string().as_bytes())
    );
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", b64(&sig))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_token_is_read_or_refused_and_no_jwks_verifies_a_random_signature(
        token in arb_token(),
        jwks in prop::collection::vec(arb_jwk(), 0..4),
        now in any::<i64>(),
        leeway in 0i64..100_000,
    ) {
        let set = KeySet::from_jwks(&jwks, Utc::now());
        if let Ok(token) = UnverifiedToken::read(&token) {
            if let Some(now) = Utc.timestamp_opt(now.clamp(-8_000_000_000, 8_000_000_000), 0).single() {
                let _ = check_times(&token.unverified_claims, now, leeway, true);
            }
            // Random bytes never verify under a real key.
            prop_assert!(token.verify(&set).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_genuine_signature_verifies_and_any_changed_byte_undoes_it(
        claims in arb_claims(),
        kid in prop::option::of(arb_text()),
        others in prop::collection::vec(arb_jwk(), 0..3),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (pair, mut jwk) = rsa_jwk(1);
        let mut header = json!({"alg": "RS256"});
        if let Some(kid) = &kid {
            header["kid"] = json!(kid);
            jwk["kid"] = json!(kid);
        }
        let token = sign_rs256(&pair, &header, &claims);
        // Its own key alone: verified, and the claims are the token's.
        let own = KeySet::from_jwks(std::slice::from_ref(&jwk), Utc::now());
        // (Compared with the claims as read from the token: JSON floats
        // need not survive a round trip exactly.)
        let unverified = UnverifiedToken::read(&token).unwrap();
        let claims = unverified.unverified_claims.clone();
        prop_assert_eq!(unverified.verify(&own), Ok(claims.clone()));
        // Among other keys: verified when the kid picks it, else refused
        // (never verified by a key it was not signed with).
        let mut jwks = others.clone();
        jwks.push(jwk);
        let among = KeySet::from_jwks(&jwks, Utc::now());
        match UnverifiedToken::read(&token).unwrap().verify(&among) {
            Ok(verified) => prop_assert_eq!(verified, claims),
            Err(refused) => prop_assert_eq!(refused, Rejection::Signature),
        }
        // One bit changed anywhere: never verified.
        let mut bytes = token.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(changed) = String::from_utf8(bytes) {
            if let Ok(changed) = UnverifiedToken::read(&changed) {
                prop_assert!(changed.verify(&own).is_err());
            }
        }
    }
}
