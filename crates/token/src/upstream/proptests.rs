//! Property tests over what a client controls in a login: the token's
//! bytes, its header and claims, and what a provider's JWKS holds. Never a
//! panic; every refusal is one of the refusals AWS's messages stand for.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{TimeZone as _, Utc};
use cognate_domain::test_support::{arb_json, arb_text};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::cache::KeySet;
use super::jws::{check_times, Jws, PublicJwk, ALLOWED_ALGORITHMS};
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

/// A JWKS entry: arbitrary JSON, or an RSA/EC key with odd members.
fn arb_jwk() -> impl Strategy<Value = Value> {
    use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
    let pair = RsaKeyPair::from_pkcs8(&test_keys::pkcs8(0)).expect("test key");
    let c: RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
    let n = b64(&c.n);
    let e = b64(&c.e);
    prop_oneof![
        arb_json(),
        (
            prop_oneof![Just("RSA".to_owned()), Just("EC".to_owned()), arb_text()],
            prop_oneof![Just(n), arb_text()],
            prop_oneof![Just(e), arb_text()],
            prop::option::of(arb_text()),
            prop::option::of(arb_text()),
            prop::option::of(arb_text()),
        )
            .prop_map(|(kty, n, e, alg, kid, crv)| {
                let mut k = json!({"kty": kty, "n": n, "e": e, "x": "AAAA", "y": "AAAA"});
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_token_is_parsed_or_refused_and_any_jwks_verifies_it_or_not_without_panic(
        token in arb_token(),
        jwks in prop::collection::vec(arb_jwk(), 0..4),
        now in any::<i64>(),
        leeway in 0i64..100_000,
    ) {
        let keys: Vec<PublicJwk> = jwks.iter().filter_map(PublicJwk::from_json).collect();
        let set = KeySet::for_tests(keys);
        if let Ok(jws) = Jws::parse(&token) {
            let candidates = set.candidates(jws.kid.as_deref(), jws.alg);
            // Random bytes never verify under a real key.
            prop_assert!(!jws.verified_by(candidates));
            if let Some(now) = Utc.timestamp_opt(now.clamp(-8_000_000_000, 8_000_000_000), 0).single() {
                let _ = check_times(&jws.claims, now, leeway, true);
            }
        }
    }
}
