//! Unit tests: fixed RSA test keys, a fixed clock, and keys either from an
//! in-memory key store (the verification logic) or from an in-process fake
//! IdP over HTTP (the cache: fetching, refetch limits, TTL, failures,
//! timeouts; and token-info endpoints).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};
use cognate_domain::error::DomainError;
use cognate_domain::federation::LoginVerifier;
use cognate_domain::ids::AccountId;
use cognate_domain::pool::{CognitoIdentityProvider, IdentityPool, PoolSettings};
use cognate_domain::ports::Clock;
use serde_json::{json, Value};

use super::fake_idp::{FakeIdp, Mode};
use super::fake_keys::FakeKeys;
use super::*;
use crate::test_keys;

const NOW: i64 = 1_893_456_000; // 2030-01-01T00:00:00Z
const ACCOUNT: &str = "000000000000";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";

#[derive(Debug)]
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(Utc.timestamp_opt(NOW, 0).unwrap())))
    }
    fn advance(&self, secs: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(secs);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS of `header` and `claims`, signed by `sign` over the
/// signing input.
fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// One of the fixed RSA test keys, with a `kid`.
struct RsaKey {
    pair: RsaKeyPair,
    kid: String,
}

impl RsaKey {
    fn new(i: usize, kid: &str) -> RsaKey {
        RsaKey {
            pair: RsaKeyPair::from_pkcs8(&test_keys::pkcs8(i)).expect("test key"),
            kid: kid.to_owned(),
        }
    }

    fn jwk(&self, alg: Option<&str>) -> Value {
        let c: signature::RsaPublicKeyComponents<Vec<u8>> = self.pair.public_key().into();
        let mut jwk =
            json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": b64(&c.n), "e": b64(&c.e)});
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    fn sign_with(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let encoding: &'static dyn signature::RsaEncoding = match alg {
            "RS256" => &signature::RSA_PKCS1_SHA256,
            "RS384" => &signature::RSA_PKCS1_SHA384,
            "RS512" => &signature::RSA_PKCS1_SHA512,
            "PS256" => &signature::RSA_PSS_SHA256,
            "PS384" => &signature::RSA_PSS_SHA384,
            "PS512" => &signature::RSA_PSS_SHA512,
            other => panic!("no RSA encoding for {other}"),
        };
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        jws(&header, claims, |input| {
            let mut sig = vec![0; self.pair.public_modulus_len()];
            self.pair
                .sign(encoding, &SystemRandom::new(), input, &mut sig)
                .expect("sign");
            sig
        })
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with("RS256", Some(&self.kid), claims)
    }
}

fn pool(providers: &[(&str, &str)]) -> IdentityPool {
    IdentityPool {
        id: "us-east-1:00000000-0000-0000-0000-000000000001"
            .try_into()
            .unwrap(),
        account_id: AccountId::parse(ACCOUNT).unwrap(),
        settings: PoolSettings {
            name: "test".into(),
            supported_login_providers: providers
                .iter()
                .map(|(p, id)| (p.to_string(), id.to_string()))
                .collect(),
            ..PoolSettings::default()
        },
        tags: BTreeMap::new(),
        roles: BTreeMap::new(),
        role_mappings: BTreeMap::new(),
        created_at: Utc.timestamp_opt(NOW, 0).unwrap(),
        updated_at: Utc.timestamp_opt(NOW, 0).unwrap(),
    }
}

fn options(timeout_ms: u64) -> UpstreamOptions {
    UpstreamOptions {
        http_timeout: Duration::from_millis(timeout_ms),
        ..UpstreamOptions::default()
    }
}

/// The issuer the in-memory key store serves.
const MEMORY_ISSUER: &str = "https://idp.test";

/// Where a [`Setup`]'s verifier gets its keys.
enum Keys {
    /// Over HTTP from a fake IdP, through the cache.
    Idp(FakeIdp),
    /// From the in-memory key store.
    Memory(Arc<FakeKeys>),
}

/// A provider posing as Google, a verifier taking its keys, a pool
/// trusting Google with client ids `client-a,client-b`.
struct Setup {
    keys: Keys,
    issuer: String,
    key: RsaKey,
    clock: Arc<TestClock>,
    verifier: Arc<UpstreamVerifier>,
    pool: IdentityPool,
}

/// A verifier of `oidc` and `overrides` taking its keys from `keys`.
fn memory_verifier(
    oidc: Vec<OidcProviderConfig>,
    overrides: Vec<UpstreamOverride>,
    keys: &Arc<FakeKeys>,
    clock: Arc<TestClock>,
) -> UpstreamVerifier {
    UpstreamVerifier::new(oidc, overrides, options(2000))
        .unwrap()
        .with_clock(clock)
        .with_key_store(Arc::clone(keys) as Arc<dyn key_store::IssuerKeys>)
}

impl Setup {
    /// Keys from a fake IdP over HTTP: for the cache's behaviour.
    async fn new() -> Setup {
        let key = RsaKey::new(0, "key-0");
        let idp = FakeIdp::start("", json!({"keys": [key.jwk(Some("RS256"))]})).await;
        let clock = TestClock::new();
        let verifier = UpstreamVerifier::new(
            vec![],
            vec![UpstreamOverride {
                provider: GOOGLE.into(),
                issuer: Some(idp.issuer.clone()),
                token_info_url: None,
            }],
            options(2000),
        )
        .unwrap()
        .with_clock(clock.clone());
        Setup {
            issuer: idp.issuer.clone(),
            keys: Keys::Idp(idp),
            key,
            clock,
            verifier: Arc::new(verifier),
            pool: pool(&[(GOOGLE, "client-a, client-b")]),
        }
    }

    /// Keys from the in-memory key store: for the verification logic.
    fn in_memory() -> Setup {
        let key = RsaKey::new(0, "key-0");
        let keys = Arc::new(FakeKeys::default());
        keys.set_jwks(MEMORY_ISSUER, &json!({"keys": [key.jwk(Some("RS256"))]}));
        let clock = TestClock::new();
        let verifier = memory_verifier(
            vec![],
            vec![UpstreamOverride {
                provider: GOOGLE.into(),
                issuer: Some(MEMORY_ISSUER.into()),
                token_info_url: None,
            }],
            &keys,
            clock.clone(),
        );
        Setup {
            issuer: MEMORY_ISSUER.into(),
            keys: Keys::Memory(keys),
            key,
            clock,
            verifier: Arc::new(verifier),
            pool: pool(&[(GOOGLE, "client-a, client-b")]),
        }
    }

    /// The fake IdP (setups made by [`Setup::new`]).
    #[track_caller]
    fn idp(&self) -> &FakeIdp {
        match &self.keys {
            Keys::Idp(idp) => idp,
            Keys::Memory(_) => panic!("an in-memory setup has no IdP"),
        }
    }

    /// How often the in-memory key store was asked (setups made by
    /// [`Setup::in_memory`]).
    #[track_caller]
    fn keys_asked(&self) -> u64 {
        match &self.keys {
            Keys::Memory(keys) => keys.asked(),
            Keys::Idp(_) => panic!("an IdP setup has no in-memory key store"),
        }
    }

    /// Publish `jwks` as the provider's keys.
    fn set_jwks(&self, jwks: Value) {
        match &self.keys {
            Keys::Idp(idp) => idp.set_jwks(jwks),
            Keys::Memory(keys) => keys.set_jwks(&self.issuer, &jwks),
        }
    }

    fn claims(&self) -> Value {
        json!({
            "iss": self.issuer,
            "aud": "client-a",
            "sub": "user-1",
            "iat": NOW,
            "exp": NOW + 3600,
            "email": "user-1@example.com",
            "isAdmin": "true",
        })
    }

    fn claims_with(&self, changes: Value) -> Value {
        let mut claims = self.claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    async fn verify(&self, token: &str) -> Result<VerifiedLogin, DomainError> {
        self.verifier.verify(&self.pool, &pn(GOOGLE), token).await
    }
}

#[track_caller]
fn refused_with(result: Result<VerifiedLogin, DomainError>, message: &str) {
    match result {
        Err(DomainError::NotAuthorized(m)) => assert_eq!(m, message),
        other => panic!("expected NotAuthorized({message:?}), got {other:?}"),
    }
}

#[track_caller]
fn refused_starting(result: Result<VerifiedLogin, DomainError>, prefix: &str) -> String {
    match result {
        Err(DomainError::NotAuthorized(m)) if m.starts_with(prefix) => m,
        other => panic!("expected NotAuthorized starting {prefix:?}, got {other:?}"),
    }
}

#[track_caller]
fn external(result: Result<VerifiedLogin, DomainError>) -> String {
    match result {
        Err(DomainError::ExternalService(m)) => m,
        other => panic!("expected ExternalService, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_is_accepted_with_its_subject_audience_and_claims() {
    let s = Setup::new().await;
    let login = s.verify(&s.key.sign(&s.claims())).await.unwrap();
    assert_eq!(login.provider, GOOGLE);
    assert_eq!(login.subject, "user-1");
    assert_eq!(login.audience, "client-a");
    assert_eq!(login.claims["email"], "user-1@example.com");
    assert_eq!(login.claims["isAdmin"], "true");
    assert_eq!(
        s.verifier.fetch_counts(),
        FetchCounts {
            discovery: 1,
            jwks: 1
        }
    );
    // Cached: a second token costs no fetch.
    let again = s.key.sign(&s.claims_with(json!({"sub": "user-2"})));
    assert_eq!(s.verify(&again).await.unwrap().subject, "user-2");
    assert_eq!(s.idp().hits("/jwks"), 1);
    assert_eq!(s.idp().hits("/.well-known/openid-configuration"), 1);
}

#[tokio::test]
async fn every_allowed_rsa_algorithm_verifies_with_a_key_that_names_none() {
    let key = RsaKey::new(1, "any-alg");
    let s = Setup::in_memory();
    s.set_jwks(json!({"keys": [key.jwk(None)]}));
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let token = key.sign_with(alg, Some("any-alg"), &s.claims());
        assert!(s.verify(&token).await.is_ok(), "{alg} refused");
    }
}

#[tokio::test]
async fn an_es256_token_verifies_with_its_ec_key() {
    let s = Setup::in_memory();
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])});
    s.set_jwks(json!({"keys": [jwk, s.key.jwk(Some("RS256"))]}));
    let token = jws(
        &json!({"alg": "ES256", "kid": "ec-1"}),
        &s.claims(),
        |input| pair.sign(&rng, input).unwrap().as_ref().to_vec(),
    );
    assert_eq!(s.verify(&token).await.unwrap().subject, "user-1");
    // The same signature claimed as ES384 does not fit the P-256 key.
    let es384 = jws(
        &json!({"alg": "ES384", "kid": "ec-1"}),
        &s.claims(),
        |input| pair.sign(&rng, input).unwrap().as_ref().to_vec(),
    );
    refused_with(s.verify(&es384).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn a_tampered_token_is_refused_as_a_bad_signature() {
    let s = Setup::in_memory();
    let token = s.key.sign(&s.claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(s
        .claims_with(json!({"sub": "admin"}))
        .to_string()
        .as_bytes());
    parts[1] = &forged;
    refused_with(s.verify(&parts.join(".")).await, MSG_SIGNATURE);
    // A flipped signature byte too.
    let mut sig = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();
    sig[10] ^= 1;
    let (input, _) = token.rsplit_once('.').unwrap();
    refused_with(
        s.verify(&format!("{input}.{}", b64(&sig))).await,
        MSG_SIGNATURE,
    );
}

#[tokio::test]
async fn a_token_signed_by_a_foreign_key_under_a_known_kid_is_refused() {
    let s = Setup::in_memory();
    let foreign = RsaKey::new(2, "key-0");
    refused_with(s.verify(&foreign.sign(&s.claims())).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn a_token_of_another_issuer_is_refused_even_when_signed_by_the_providers_key() {
    let s = Setup::in_memory();
    let token = s
        .key
        .sign(&s.claims_with(json!({"iss": "https://evil.example.com"})));
    refused_with(s.verify(&token).await, MSG_ISSUER);
    // No key was needed to say so.
    assert_eq!(s.keys_asked(), 0);
    // A trailing slash is no other issuer.
    let slash = s
        .key
        .sign(&s.claims_with(json!({"iss": format!("{}/", s.issuer)})));
    assert!(s.verify(&slash).await.is_ok());
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let s = Setup::in_memory();
    let token = s.key.sign(&s.claims_with(json!({"aud": "someone-else"})));
    refused_with(s.verify(&token).await, MSG_AUDIENCE);
    let none = s.key.sign(&s.claims_with(json!({"aud": null})));
    refused_with(
        s.verify(&none).await,
        "Invalid login token. Missing a required claim: aud",
    );
}

#[tokio::test]
async fn any_configured_client_id_in_an_audience_array_is_accepted() {
    let s = Setup::in_memory();
    let token = s
        .key
        .sign(&s.claims_with(json!({"aud": ["other", "client-b"]})));
    assert_eq!(s.verify(&token).await.unwrap().audience, "client-b");
}

#[tokio::test]
async fn an_azp_naming_an_unconfigured_client_is_refused() {
    let s = Setup::in_memory();
    let token = s.key.sign(&s.claims_with(json!({"azp": "another-app"})));
    refused_with(s.verify(&token).await, MSG_AUDIENCE);
    let fine = s.key.sign(&s.claims_with(json!({"azp": "client-b"})));
    assert!(s.verify(&fine).await.is_ok());
}

#[tokio::test]
async fn a_token_expired_beyond_the_leeway_is_refused_but_within_it_accepted() {
    let s = Setup::in_memory();
    let token = s
        .key
        .sign(&s.claims_with(json!({"iat": NOW - 4000, "exp": NOW - 301})));
    let now = NOW;
    refused_with(
        s.verify(&token).await,
        &format!("Invalid login token. Token expired: {now} >= {}", NOW - 301),
    );
    let recent = s
        .key
        .sign(&s.claims_with(json!({"iat": NOW - 4000, "exp": NOW - 299})));
    assert!(s.verify(&recent).await.is_ok());
    let no_exp = s.key.sign(&s.claims_with(json!({"exp": null})));
    refused_with(
        s.verify(&no_exp).await,
        "Invalid login token. Missing a required claim: exp",
    );
}

#[tokio::test]
async fn a_token_not_valid_yet_or_issued_in_the_future_is_refused() {
    let s = Setup::in_memory();
    let nbf = s.key.sign(&s.claims_with(json!({"nbf": NOW + 301})));
    refused_starting(
        s.verify(&nbf).await,
        "Invalid login token. Token is not valid yet: ",
    );
    let iat = s.key.sign(&s.claims_with(json!({"iat": NOW + 301})));
    refused_starting(
        s.verify(&iat).await,
        "Invalid login token. Token was issued in the future: ",
    );
    let skewed = s
        .key
        .sign(&s.claims_with(json!({"nbf": NOW + 299, "iat": NOW + 299})));
    assert!(s.verify(&skewed).await.is_ok());
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let s = Setup::in_memory();
    let token = jws(
        &json!({"alg": "none", "kid": "key-0"}),
        &s.claims(),
        |_| vec![],
    );
    refused_with(s.verify(&token).await, MSG_SIGNATURE);
    let no_sig = format!("{}.", token.trim_end_matches('.'));
    refused_with(s.verify(&no_sig).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let s = Setup::in_memory();
    let public = s.key.jwk(None).to_string();
    let token = jws(
        &json!({"alg": "HS256", "kid": "key-0"}),
        &s.claims(),
        |input| {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes());
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        },
    );
    refused_with(s.verify(&token).await, MSG_SIGNATURE);
    let n_bytes: signature::RsaPublicKeyComponents<Vec<u8>> = s.key.pair.public_key().into();
    let token = jws(
        &json!({"alg": "HS256", "kid": "key-0"}),
        &s.claims(),
        |input| {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &n_bytes.n);
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        },
    );
    refused_with(s.verify(&token).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn a_header_algorithm_other_than_the_keys_own_is_refused() {
    let s = Setup::in_memory(); // key-0 is published with alg RS256
    let token = s.key.sign_with("RS512", Some("key-0"), &s.claims());
    refused_with(s.verify(&token).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn keys_named_inside_the_token_are_ignored() {
    let s = Setup::in_memory();
    let attacker = RsaKey::new(3, "key-0");
    let header = json!({"alg": "RS256", "kid": "key-0", "jwk": attacker.jwk(Some("RS256")),
        "jku": format!("{}/jwks", s.issuer)});
    let token = jws(&header, &s.claims(), |input| {
        let mut sig = vec![0; attacker.pair.public_modulus_len()];
        attacker
            .pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input,
                &mut sig,
            )
            .unwrap();
        sig
    });
    refused_with(s.verify(&token).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn an_unknown_kid_is_refetched_once_then_refused() {
    let s = Setup::new().await;
    s.verify(&s.key.sign(&s.claims())).await.unwrap();
    assert_eq!(s.idp().hits("/jwks"), 1);
    // Within the refetch interval of the first fetch: no refetch at all.
    let stranger = RsaKey::new(1, "key-unknown");
    refused_with(s.verify(&stranger.sign(&s.claims())).await, MSG_SIGNATURE);
    assert_eq!(s.idp().hits("/jwks"), 1);
    // Past it: one refetch (JWKS only), still unknown, refused.
    s.clock.advance(61);
    refused_with(s.verify(&stranger.sign(&s.claims())).await, MSG_SIGNATURE);
    assert_eq!(s.idp().hits("/jwks"), 2);
    assert_eq!(s.idp().hits("/.well-known/openid-configuration"), 1);
    // Right after: refused without asking again.
    refused_with(s.verify(&stranger.sign(&s.claims())).await, MSG_SIGNATURE);
    assert_eq!(s.idp().hits("/jwks"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_fifty_unknown_kid_tokens_costs_at_most_one_jwks_fetch() {
    let s = Setup::new().await;
    s.verify(&s.key.sign(&s.claims())).await.unwrap();
    s.clock.advance(61);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let stranger = RsaKey::new(1, &format!("unknown-{i}"));
        let token = stranger.sign(&s.claims());
        let verifier = Arc::clone(&s.verifier);
        let pool = s.pool.clone();
        tasks.spawn(async move { verifier.verify(&pool, &pn(GOOGLE), &token).await });
    }
    while let Some(result) = tasks.join_next().await {
        refused_with(result.unwrap(), MSG_SIGNATURE);
    }
    assert_eq!(
        s.idp().hits("/jwks"),
        2,
        "one initial fetch plus at most one refetch"
    );
}

#[tokio::test]
async fn a_rotated_in_key_is_found_by_the_unknown_kid_refetch() {
    let s = Setup::new().await;
    s.verify(&s.key.sign(&s.claims())).await.unwrap();
    let next = RsaKey::new(1, "key-1");
    s.set_jwks(json!({"keys": [s.key.jwk(Some("RS256")), next.jwk(Some("RS256"))]}));
    s.clock.advance(61);
    assert!(s
        .verify(&next.sign(&s.claims_with(json!({"iat": NOW + 61}))))
        .await
        .is_ok());
    assert_eq!(s.idp().hits("/jwks"), 2);
}

#[tokio::test]
async fn a_token_without_kid_is_refused_when_the_jwks_has_several_keys_and_accepted_with_one() {
    let s = Setup::in_memory();
    let no_kid = s.key.sign_with("RS256", None, &s.claims());
    s.verify(&no_kid)
        .await
        .expect("one key in the JWKS: accepted");
    let other = RsaKey::new(1, "key-1");
    s.set_jwks(json!({"keys": [s.key.jwk(Some("RS256")), other.jwk(Some("RS256"))]}));
    s.clock.advance(3601); // an hour on, the two keys published
    let no_kid = s
        .key
        .sign_with("RS256", None, &s.claims_with(json!({"exp": NOW + 7200})));
    refused_with(s.verify(&no_kid).await, MSG_SIGNATURE);
    let with_kid = s.key.sign_with(
        "RS256",
        Some("key-0"),
        &s.claims_with(json!({"exp": NOW + 7200})),
    );
    s.verify(&with_kid).await.expect("with its kid: accepted");
}

#[tokio::test]
async fn a_rotated_key_is_accepted_within_ten_seconds_while_made_up_kids_arrive_every_second() {
    let s = Setup::new().await;
    s.verify(&s.key.sign(&s.claims())).await.unwrap();
    let next = RsaKey::new(1, "key-1");
    let mut first_use: Option<i64> = None;
    let mut accepted_after: Option<i64> = None;
    for second in 1..=60 {
        s.clock.advance(1);
        let claims = s.claims_with(json!({"iat": NOW + second}));
        // An attacker's token with a fresh made-up kid, every second.
        let made_up = RsaKey::new(2, &format!("made-up-{second}"));
        refused_with(s.verify(&made_up.sign(&claims)).await, MSG_SIGNATURE);
        if second == 20 {
            s.set_jwks(json!({"keys": [s.key.jwk(Some("RS256")), next.jwk(Some("RS256"))]}));
        }
        if second >= 20 {
            first_use.get_or_insert(second);
            if s.verify(&next.sign(&claims)).await.is_ok() {
                accepted_after = Some(second - first_use.unwrap());
                break;
            }
        }
    }
    let waited = accepted_after.expect("the rotated key was never accepted");
    assert!(waited <= 10, "accepted {waited} s after its first use");
    // And the made-up kids cost at most one JWKS request per interval.
    assert!(
        s.idp().hits("/jwks") <= 1 + 60 / 5 + 1,
        "{}",
        s.idp().hits("/jwks")
    );
}

#[tokio::test]
async fn keys_past_their_ttl_are_fetched_again_with_discovery() {
    let s = Setup::new().await;
    s.verify(&s.key.sign(&s.claims())).await.unwrap();
    s.clock.advance(3601);
    let later = s.claims_with(json!({"iat": NOW + 3601, "exp": NOW + 7200}));
    s.verify(&s.key.sign(&later)).await.unwrap();
    assert_eq!(s.idp().hits("/jwks"), 2);
    assert_eq!(s.idp().hits("/.well-known/openid-configuration"), 2);
    // A key dropped from the JWKS stops verifying once the cache expires.
    s.set_jwks(json!({"keys": [RsaKey::new(1, "key-1").jwk(None)]}));
    s.clock.advance(3601);
    let latest = s.claims_with(json!({"iat": NOW + 7202, "exp": NOW + 9000}));
    refused_with(s.verify(&s.key.sign(&latest)).await, MSG_SIGNATURE);
}

#[tokio::test]
async fn an_oversized_token_is_refused_without_a_fetch() {
    let s = Setup::in_memory();
    let big = s
        .key
        .sign(&s.claims_with(json!({"pad": "x".repeat(MAX_LOGIN_TOKEN_CHARS)})));
    refused_with(
        s.verify(&big).await,
        "Invalid login token. Token is longer than 50000 characters.",
    );
    assert_eq!(s.keys_asked(), 0);
}

#[tokio::test]
async fn malformed_tokens_are_refused_as_not_openid_connect_tokens() {
    let s = Setup::in_memory();
    for bad in ["", "abc", "a.b", "a.b.c.d.e", "!!.!!.!!", "e30.e30.AAAA"] {
        refused_with(s.verify(bad).await, MSG_MALFORMED);
    }
    let array_claims = jws(&json!({"alg": "RS256"}), &json!([1, 2]), |_| vec![1]);
    refused_with(s.verify(&array_claims).await, MSG_MALFORMED);
    let crit = jws(
        &json!({"alg": "RS256", "kid": "key-0", "crit": ["exp"]}),
        &s.claims(),
        |_| vec![1],
    );
    refused_with(s.verify(&crit).await, MSG_MALFORMED);
    let no_sub = s.key.sign(&s.claims_with(json!({"sub": null})));
    refused_with(
        s.verify(&no_sub).await,
        "Invalid login token. Missing a required claim: sub",
    );
}

#[tokio::test]
async fn a_header_or_claims_jsonwebtoken_cannot_read_are_malformed() {
    let s = Setup::in_memory();
    let sign = |header: &Value, claims: &str| {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.as_bytes())
        );
        let mut sig = vec![0; s.key.pair.public_modulus_len()];
        s.key
            .pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    };
    let claims = s.claims().to_string();
    // Signed by the provider's key, but a header member of the wrong type.
    for header in [
        json!({"alg": "RS256", "kid": "key-0", "extra": 5}),
        json!({"alg": "RS256", "kid": "key-0", "x5c": "not-an-array"}),
        json!({"alg": "RS256", "kid": 7}),
    ] {
        refused_with(s.verify(&sign(&header, &claims)).await, MSG_MALFORMED);
    }
    // Signed claims naming `sub` twice.
    let twice = format!("{},\"sub\":\"user-2\"}}", claims.trim_end_matches('}'));
    let header = json!({"alg": "RS256", "kid": "key-0"});
    refused_with(s.verify(&sign(&header, &twice)).await, MSG_MALFORMED);
    // The same header and claims, well formed: accepted.
    assert!(s.verify(&sign(&header, &claims)).await.is_ok());
}

#[tokio::test]
async fn a_provider_the_pool_does_not_name_is_not_supported() {
    let s = Setup::in_memory();
    let token = s.key.sign(&s.claims());
    let other_pool = pool(&[(APPLE, "client-a")]);
    for (pool, provider) in [
        (&other_pool, GOOGLE),
        (&s.pool, APPLE),
        (&s.pool, FACEBOOK),
        (&s.pool, "api.twitter.com"),
        (&s.pool, USER_POOL),
        (&s.pool, "idp.example.com"),
        (&s.pool, "cognito-identity.amazonaws.com"),
    ] {
        refused_with(
            s.verifier.verify(pool, &pn(provider), &token).await,
            MSG_UNSUPPORTED_PROVIDER,
        );
    }
    assert_eq!(s.keys_asked(), 0);
}

#[tokio::test]
async fn a_declared_oidc_provider_is_trusted_only_by_pools_of_its_account_that_name_it() {
    let key = RsaKey::new(0, "key-0");
    let issuer = "https://idp.test/realms/test";
    let keys = Arc::new(FakeKeys::default());
    keys.set_jwks(issuer, &json!({"keys": [key.jwk(Some("RS256"))]}));
    let name = provider_name_of(issuer).to_owned();
    let verifier = memory_verifier(
        vec![OidcProviderConfig {
            account: ACCOUNT.into(),
            url: issuer.into(),
            client_ids: vec!["oidc-app".into()],
        }],
        vec![],
        &keys,
        TestClock::new(),
    );
    let arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{name}");
    assert!(verifier.is_declared_oidc_provider(ACCOUNT, &arn));
    assert!(!verifier.is_declared_oidc_provider("111111111111", &arn));
    assert!(!verifier.is_declared_oidc_provider(ACCOUNT, &format!("{arn}/other")));
    assert!(!verifier.is_declared_oidc_provider(ACCOUNT, "not an arn"));

    let claims =
        json!({"iss": issuer, "aud": "oidc-app", "sub": "s-1", "iat": NOW, "exp": NOW + 60});
    let token = key.sign(&claims);
    let mut trusting = pool(&[]);
    refused_with(
        verifier.verify(&trusting, &pn(&name), &token).await,
        MSG_UNSUPPORTED_PROVIDER,
    );
    trusting.settings.openid_connect_provider_arns = vec![arn.clone()];
    let login = verifier
        .verify(&trusting, &pn(&name), &token)
        .await
        .unwrap();
    assert_eq!(
        (login.subject.as_str(), login.audience.as_str()),
        ("s-1", "oidc-app")
    );
    assert_eq!(keys.asked(), 1);
    // A pool of another account naming the same ARN is not trusted.
    let mut foreign = trusting.clone();
    foreign.account_id = AccountId::parse("111111111111").unwrap();
    refused_with(
        verifier.verify(&foreign, &pn(&name), &token).await,
        MSG_UNSUPPORTED_PROVIDER,
    );
}

#[tokio::test]
async fn a_user_pool_id_token_is_checked_against_the_pools_client_ids() {
    let key = RsaKey::new(0, "key-0");
    let issuer = "https://idp.test/us-east-1_TestPool1";
    let keys = Arc::new(FakeKeys::default());
    keys.set_jwks(issuer, &json!({"keys": [key.jwk(Some("RS256"))]}));
    let verifier = memory_verifier(
        vec![],
        vec![UpstreamOverride {
            provider: USER_POOL.into(),
            issuer: Some(issuer.into()),
            token_info_url: None,
        }],
        &keys,
        TestClock::new(),
    );
    let mut p = pool(&[]);
    p.settings.cognito_identity_providers = vec![
        CognitoIdentityProvider {
            provider_name: USER_POOL.into(),
            client_id: "app-client-1".into(),
            server_side_token_check: false,
        },
        CognitoIdentityProvider {
            provider_name: "cognito-idp.us-east-1.amazonaws.com/us-east-1_Other".into(),
            client_id: "other-client".into(),
            server_side_token_check: false,
        },
    ];
    let claims = |aud: &str, token_use: &str| {
        json!({"iss": issuer, "aud": aud, "sub": "u-1", "token_use": token_use,
            "cognito:groups": ["admins"], "iat": NOW, "exp": NOW + 3600})
    };
    let ok = verifier
        .verify(&p, &pn(USER_POOL), &key.sign(&claims("app-client-1", "id")))
        .await
        .unwrap();
    assert_eq!(ok.claims["cognito:groups"], json!(["admins"]));
    refused_with(
        verifier
            .verify(&p, &pn(USER_POOL), &key.sign(&claims("other-client", "id")))
            .await,
        MSG_AUDIENCE,
    );
    refused_with(
        verifier
            .verify(
                &p,
                &pn(USER_POOL),
                &key.sign(&claims("app-client-1", "access")),
            )
            .await,
        MSG_MALFORMED,
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_an_external_service_error_within_the_timeout() {
    // Nothing listens on a port just released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let verifier = UpstreamVerifier::new(
        vec![],
        vec![UpstreamOverride {
            provider: GOOGLE.into(),
            issuer: Some(format!("http://127.0.0.1:{port}")),
            token_info_url: None,
        }],
        options(300),
    )
    .unwrap()
    .with_clock(TestClock::new());
    let key = RsaKey::new(0, "key-0");
    let claims = json!({"iss": format!("http://127.0.0.1:{port}"), "aud": "client-a", "sub": "x",
        "iat": NOW, "exp": NOW + 60});
    let started = Instant::now();
    let message = external(
        verifier
            .verify(
                &pool(&[(GOOGLE, "client-a")]),
                &pn(GOOGLE),
                &key.sign(&claims),
            )
            .await,
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        message.starts_with("The identity provider accounts.google.com could not be reached"),
        "{message}"
    );
    assert!(
        !message.contains("127.0.0.1"),
        "no URL in the client's message: {message}"
    );
}

#[tokio::test]
async fn a_provider_that_never_answers_is_an_external_service_error_within_the_timeout() {
    let s = Setup::new().await;
    let verifier = UpstreamVerifier::new(
        vec![],
        vec![UpstreamOverride {
            provider: GOOGLE.into(),
            issuer: Some(s.issuer.clone()),
            token_info_url: None,
        }],
        options(300),
    )
    .unwrap()
    .with_clock(s.clock.clone());
    s.idp().set_mode(Mode::Silent);
    let started = Instant::now();
    let message = external(
        verifier
            .verify(&s.pool, &pn(GOOGLE), &s.key.sign(&s.claims()))
            .await,
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "took {took:?}"
    );
    assert!(message.contains("did not answer within"), "{message}");
}

#[tokio::test]
async fn a_failing_provider_is_not_asked_again_during_the_backoff() {
    let s = Setup::new().await;
    s.idp().set_mode(Mode::Failing);
    let token = s.key.sign(&s.claims());
    let message = external(s.verify(&token).await);
    assert!(message.contains("HTTP 503"), "{message}");
    assert_eq!(s.idp().hits("/.well-known/openid-configuration"), 1);
    external(s.verify(&token).await);
    assert_eq!(s.idp().hits("/.well-known/openid-configuration"), 1);
    s.idp().set_mode(Mode::Normal);
    s.clock.advance(FAILURE_BACKOFF.as_secs() as i64);
    assert!(s.verify(&token).await.is_ok());
    assert_eq!(s.idp().hits("/.well-known/openid-configuration"), 2);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_not_trusted() {
    let s = Setup::new().await;
    s.idp().set_discovery_issuer("https://accounts.google.com");
    let message = external(s.verify(&s.key.sign(&s.claims())).await);
    assert!(message.contains("names another issuer"), "{message}");
    assert_eq!(s.idp().hits("/jwks"), 0);
}

async fn token_info_setup(
    provider: &str,
    path: &str,
    app_id: &str,
) -> (FakeIdp, UpstreamVerifier, IdentityPool) {
    let (idp, verifier, pool, _) = token_info_setup_on_clock(provider, path, app_id).await;
    (idp, verifier, pool)
}

async fn token_info_setup_on_clock(
    provider: &str,
    path: &str,
    app_id: &str,
) -> (FakeIdp, UpstreamVerifier, IdentityPool, Arc<TestClock>) {
    let idp = FakeIdp::start("", json!({"keys": []})).await;
    let clock = TestClock::new();
    let verifier = UpstreamVerifier::new(
        vec![],
        vec![UpstreamOverride {
            provider: provider.into(),
            issuer: None,
            token_info_url: Some(idp.url(path)),
        }],
        options(2000),
    )
    .unwrap()
    .with_clock(clock.clone());
    (idp, verifier, pool(&[(provider, app_id)]), clock)
}

#[tokio::test]
async fn a_facebook_token_replayed_a_thousand_times_reaches_the_provider_once() {
    let (idp, verifier, pool, _) =
        token_info_setup_on_clock(FACEBOOK, "/debug_token", "1234567890").await;
    idp.token_info(
        "good",
        200,
        json!({"data": {"app_id": "1234567890", "user_id": "10001", "is_valid": true,
            "expires_at": NOW + 3600}}),
    );
    for _ in 0..1000 {
        let login = verifier.verify(&pool, &pn(FACEBOOK), "good").await.unwrap();
        assert_eq!(login.subject, "10001");
    }
    assert_eq!(idp.hits("/debug_token"), 1);
    // A pool with other app ids checks the cached answer anew.
    refused_with(
        verifier
            .verify(
                &super::tests::pool(&[(FACEBOOK, "999")]),
                &pn(FACEBOOK),
                "good",
            )
            .await,
        MSG_AUDIENCE,
    );
    assert_eq!(idp.hits("/debug_token"), 1);
}

#[tokio::test]
async fn a_cached_token_info_answer_is_not_used_past_the_tokens_own_expiry() {
    let (idp, verifier, pool, clock) =
        token_info_setup_on_clock(AMAZON, "/auth/o2/tokeninfo", "amzn1.application.abc").await;
    idp.token_info(
        "short",
        200,
        json!({"user_id": "amzn1.account.XYZ", "aud": "c", "app_id": "amzn1.application.abc",
            "exp": 30}),
    );
    verifier.verify(&pool, &pn(AMAZON), "short").await.unwrap();
    verifier.verify(&pool, &pn(AMAZON), "short").await.unwrap();
    assert_eq!(idp.hits("/auth/o2/tokeninfo"), 1);
    clock.advance(31);
    verifier.verify(&pool, &pn(AMAZON), "short").await.unwrap();
    assert_eq!(
        idp.hits("/auth/o2/tokeninfo"),
        2,
        "asked again after expiry"
    );
    // Never longer than the JWKS lifetime (1 h), even for a token that
    // never expires.
    let (fb, fb_verifier, fb_pool, fb_clock) =
        token_info_setup_on_clock(FACEBOOK, "/debug_token", "1").await;
    fb.token_info(
        "forever",
        200,
        json!({"data": {"app_id": "1", "user_id": "u", "is_valid": true, "expires_at": 0}}),
    );
    fb_verifier
        .verify(&fb_pool, &pn(FACEBOOK), "forever")
        .await
        .unwrap();
    fb_clock.advance(3599);
    fb_verifier
        .verify(&fb_pool, &pn(FACEBOOK), "forever")
        .await
        .unwrap();
    assert_eq!(fb.hits("/debug_token"), 1);
    fb_clock.advance(2);
    fb_verifier
        .verify(&fb_pool, &pn(FACEBOOK), "forever")
        .await
        .unwrap();
    assert_eq!(fb.hits("/debug_token"), 2);
}

#[tokio::test]
async fn a_failing_token_info_endpoint_is_asked_again_and_never_cached() {
    let (idp, verifier, pool, _) = token_info_setup_on_clock(FACEBOOK, "/debug_token", "1").await;
    idp.token_info("t", 502, json!({}));
    external(verifier.verify(&pool, &pn(FACEBOOK), "t").await);
    external(verifier.verify(&pool, &pn(FACEBOOK), "t").await);
    assert_eq!(idp.hits("/debug_token"), 2);
}

#[tokio::test]
async fn token_info_answers_are_bounded_in_number() {
    let (idp, verifier, pool, _) = token_info_setup_on_clock(FACEBOOK, "/debug_token", "1").await;
    // Every unknown token is refused (HTTP 400) and remembered briefly.
    for i in 0..(token_info::MAX_CACHED_ANSWERS + 10) {
        let _ = verifier
            .verify(&pool, &pn(FACEBOOK), &format!("t{i}"))
            .await;
    }
    assert!(verifier.answers.len() <= token_info::MAX_CACHED_ANSWERS);
    assert!(idp.hits("/debug_token") as usize > token_info::MAX_CACHED_ANSWERS);
}

#[tokio::test]
async fn facebook_tokens_are_checked_with_the_token_info_endpoint() {
    let (idp, verifier, pool) = token_info_setup(FACEBOOK, "/debug_token", "1234567890").await;
    let data = |app: &str, valid: bool, exp: i64| {
        json!({"data": {"app_id": app, "user_id": "10001", "is_valid": valid, "expires_at": exp,
            "type": "USER", "scopes": ["email"]}})
    };
    idp.token_info("good", 200, data("1234567890", true, NOW + 3600));
    idp.token_info("other-app", 200, data("999", true, NOW + 3600));
    idp.token_info("invalid", 200, data("1234567890", false, NOW + 3600));
    idp.token_info("expired", 200, data("1234567890", true, NOW - 400));
    idp.token_info("forever", 200, data("1234567890", true, 0));
    idp.token_info("broken", 502, json!({}));

    let login = verifier.verify(&pool, &pn(FACEBOOK), "good").await.unwrap();
    assert_eq!(
        (login.subject.as_str(), login.audience.as_str()),
        ("10001", "1234567890")
    );
    assert_eq!(login.claims["type"], "USER");
    assert!(verifier
        .verify(&pool, &pn(FACEBOOK), "forever")
        .await
        .is_ok());
    refused_with(
        verifier.verify(&pool, &pn(FACEBOOK), "other-app").await,
        MSG_AUDIENCE,
    );
    let invalid = "Invalid login token. graph.facebook.com reports the token is not valid.";
    refused_with(
        verifier.verify(&pool, &pn(FACEBOOK), "invalid").await,
        invalid,
    );
    refused_with(
        verifier.verify(&pool, &pn(FACEBOOK), "unknown").await,
        invalid,
    ); // HTTP 400
    refused_starting(
        verifier.verify(&pool, &pn(FACEBOOK), "expired").await,
        "Invalid login token. Token expired: ",
    );
    external(verifier.verify(&pool, &pn(FACEBOOK), "broken").await);
    assert_eq!(idp.hits("/debug_token"), 7);
}

#[tokio::test]
async fn amazon_tokens_are_checked_with_the_token_info_endpoint() {
    let (idp, verifier, pool) =
        token_info_setup(AMAZON, "/auth/o2/tokeninfo", "amzn1.application.abc").await;
    let info = |aud: &str, app: &str| {
        json!({"iss": "https://www.amazon.com", "user_id": "amzn1.account.XYZ", "aud": aud,
            "app_id": app, "exp": 3597, "iat": NOW})
    };
    idp.token_info(
        "by-app",
        200,
        info("amzn1.application-oa2-client.1", "amzn1.application.abc"),
    );
    idp.token_info(
        "other",
        200,
        info("amzn1.application-oa2-client.2", "amzn1.application.zzz"),
    );

    let login = verifier.verify(&pool, &pn(AMAZON), "by-app").await.unwrap();
    assert_eq!(login.subject, "amzn1.account.XYZ");
    assert_eq!(login.audience, "amzn1.application.abc");
    refused_with(
        verifier.verify(&pool, &pn(AMAZON), "other").await,
        MSG_AUDIENCE,
    );
    refused_with(
        verifier.verify(&pool, &pn(AMAZON), "bogus").await, // HTTP 400 invalid_token
        "Invalid login token. www.amazon.com reports the token is not valid.",
    );
    // The client id works as well as the app id.
    let (idp2, verifier2, pool2) = token_info_setup(
        AMAZON,
        "/auth/o2/tokeninfo",
        "amzn1.application-oa2-client.1",
    )
    .await;
    idp2.token_info(
        "by-client",
        200,
        info("amzn1.application-oa2-client.1", "amzn1.application.abc"),
    );
    assert!(verifier2
        .verify(&pool2, &pn(AMAZON), "by-client")
        .await
        .is_ok());
    assert_eq!(idp.hits("/auth/o2/tokeninfo"), 3);
}

#[tokio::test]
async fn a_silent_token_info_endpoint_is_an_external_service_error_within_the_timeout() {
    let idp = FakeIdp::start("", json!({"keys": []})).await;
    let verifier = UpstreamVerifier::new(
        vec![],
        vec![UpstreamOverride {
            provider: FACEBOOK.into(),
            issuer: None,
            token_info_url: Some(idp.url("/debug_token")),
        }],
        options(300),
    )
    .unwrap();
    idp.set_mode(Mode::Silent);
    let started = Instant::now();
    external(
        verifier
            .verify(&pool(&[(FACEBOOK, "1")]), &pn(FACEBOOK), "t")
            .await,
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn bad_configurations_are_refused_at_construction() {
    let o = |provider: &str, issuer: Option<&str>, info: Option<&str>| UpstreamOverride {
        provider: provider.into(),
        issuer: issuer.map(Into::into),
        token_info_url: info.map(Into::into),
    };
    let oidc = |account: &str, url: &str, ids: &[&str]| OidcProviderConfig {
        account: account.into(),
        url: url.into(),
        client_ids: ids.iter().map(|s| s.to_string()).collect(),
    };
    let bad: Vec<(Vec<OidcProviderConfig>, Vec<UpstreamOverride>)> = vec![
        (vec![], vec![o("idp.example.com", Some("https://x"), None)]),
        (vec![], vec![o(GOOGLE, None, Some("https://x/info"))]),
        (vec![], vec![o(FACEBOOK, Some("https://x"), None)]),
        (vec![], vec![o(GOOGLE, Some("ftp://x"), None)]),
        (
            vec![],
            vec![
                o(GOOGLE, Some("https://a"), None),
                o(GOOGLE, Some("https://b"), None),
            ],
        ),
        (
            vec![oidc("acct", "https://idp.example.com", &["a"])],
            vec![],
        ),
        (vec![oidc(ACCOUNT, "https://idp.example.com", &[])], vec![]),
        (vec![oidc(ACCOUNT, "not a url", &["a"])], vec![]),
        (
            vec![
                oidc(ACCOUNT, "https://idp.example.com", &["a"]),
                oidc(ACCOUNT, "https://idp.example.com/", &["b"]),
            ],
            vec![],
        ),
    ];
    for (oidc, overrides) in bad {
        let what = format!("{oidc:?} {overrides:?}");
        assert!(
            UpstreamVerifier::new(oidc, overrides, UpstreamOptions::default()).is_err(),
            "accepted {what}"
        );
    }
    assert!(UpstreamVerifier::new(
        vec![oidc(ACCOUNT, "https://idp.example.com/realm/", &["a"])],
        vec![
            o(USER_POOL, Some("http://127.0.0.1:9/pool"), None),
            o(AMAZON, None, Some("http://127.0.0.1:9/i"))
        ],
        UpstreamOptions::default()
    )
    .is_ok());
    let zero = UpstreamOptions {
        http_timeout: Duration::ZERO,
        ..UpstreamOptions::default()
    };
    assert!(UpstreamVerifier::new(vec![], vec![], zero).is_err());
}

#[test]
fn provider_names_are_the_host_and_path_of_the_issuer() {
    assert_eq!(
        provider_name_of("https://idp.example.com/realm/"),
        "idp.example.com/realm"
    );
    assert_eq!(provider_name_of("http://127.0.0.1:4000"), "127.0.0.1:4000");
    assert!(is_user_pool_name(USER_POOL));
    assert!(!is_user_pool_name("cognito-idp.us-east-1.amazonaws.com/"));
    assert!(!is_user_pool_name("accounts.google.com"));
}

// ----- SAML providers: declaration, which pools, metadata by URL -----

const SAML_ARN: &str = "arn:aws:iam::000000000000:saml-provider/corp";

fn saml_metadata() -> String {
    crate::saml::tests::metadata_xml(include_str!("../saml/testdata/idp.cert.pem"))
}

fn saml_pool(arns: &[&str]) -> IdentityPool {
    let mut p = pool(&[]);
    p.settings.saml_provider_arns = arns.iter().map(|a| a.to_string()).collect();
    p
}

fn saml_provider(metadata: SamlMetadata) -> SamlProviderConfig {
    SamlProviderConfig {
        account: ACCOUNT.into(),
        name: "corp".into(),
        metadata,
        audience: None,
        recipient: None,
        allow_sha1: false,
    }
}

/// Serves `status` + `body` on every request; counts requests.
async fn metadata_server(status: u16, body: String) -> (String, Arc<Mutex<u64>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            *counted.lock().unwrap() += 1;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    (url, hits)
}

#[test]
fn declared_saml_providers_are_known_per_account() {
    let v = UpstreamVerifier::new(vec![], vec![], UpstreamOptions::default())
        .unwrap()
        .with_saml_providers(vec![saml_provider(SamlMetadata::Xml(saml_metadata()))])
        .unwrap();
    assert!(v.is_declared_saml_provider(ACCOUNT, SAML_ARN));
    assert!(!v.is_declared_saml_provider("111111111111", SAML_ARN));
    assert!(!v.is_declared_saml_provider(ACCOUNT, "arn:aws:iam::000000000000:saml-provider/other"));
    assert!(!v.is_declared_saml_provider(ACCOUNT, "arn:aws:iam::000000000000:oidc-provider/corp"));
    // Bad metadata, bad names and duplicates stop start-up.
    let base = || UpstreamVerifier::new(vec![], vec![], UpstreamOptions::default()).unwrap();
    assert!(base()
        .with_saml_providers(vec![saml_provider(SamlMetadata::Xml("<x/>".into()))])
        .is_err());
    let mut bad_name = saml_provider(SamlMetadata::Xml(saml_metadata()));
    bad_name.name = "a/b".into();
    assert!(base().with_saml_providers(vec![bad_name]).is_err());
    let twice = saml_provider(SamlMetadata::Xml(saml_metadata()));
    assert!(base()
        .with_saml_providers(vec![twice.clone(), twice])
        .is_err());
}

#[tokio::test]
async fn a_saml_login_is_refused_unless_the_pool_names_a_declared_provider() {
    let v = UpstreamVerifier::new(vec![], vec![], UpstreamOptions::default())
        .unwrap()
        .with_saml_providers(vec![saml_provider(SamlMetadata::Xml(saml_metadata()))])
        .unwrap();
    let unsupported = DomainError::NotAuthorized(MSG_UNSUPPORTED_PROVIDER.into());
    // The pool does not name it.
    let err = v
        .verify(&saml_pool(&[]), &pn(SAML_ARN), "x")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), unsupported.to_string());
    // Named, but not declared.
    let other = "arn:aws:iam::000000000000:saml-provider/other";
    let err = v
        .verify(&saml_pool(&[other]), &pn(other), "x")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), unsupported.to_string());
    // Named and declared: the response itself is judged.
    let err = v
        .verify(&saml_pool(&[SAML_ARN]), &pn(SAML_ARN), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DomainError::NotAuthorized(m) if m == "Invalid login token. Not a valid SAML response."),
        "{err:?}"
    );
}

#[tokio::test]
async fn saml_metadata_from_a_url_is_fetched_once_per_ttl_and_failures_are_external_and_backed_off()
{
    let (url, hits) = metadata_server(200, saml_metadata()).await;
    let clock = TestClock::new();
    let v = UpstreamVerifier::new(vec![], vec![], options(2_000))
        .unwrap()
        .with_clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .with_saml_providers(vec![saml_provider(SamlMetadata::Url(url))])
        .unwrap();
    let pool = saml_pool(&[SAML_ARN]);
    for _ in 0..3 {
        let err = v.verify(&pool, &pn(SAML_ARN), "x").await.unwrap_err();
        assert!(matches!(err, DomainError::NotAuthorized(_)), "{err:?}");
    }
    assert_eq!(*hits.lock().unwrap(), 1);
    clock.advance(i64::try_from(DEFAULT_JWKS_TTL.as_secs()).unwrap() + 1);
    let _ = v.verify(&pool, &pn(SAML_ARN), "x").await;
    assert_eq!(*hits.lock().unwrap(), 2);

    let (url, hits) = metadata_server(503, String::new()).await;
    let v = UpstreamVerifier::new(vec![], vec![], options(2_000))
        .unwrap()
        .with_clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .with_saml_providers(vec![saml_provider(SamlMetadata::Url(url))])
        .unwrap();
    let err = v.verify(&pool, &pn(SAML_ARN), "x").await.unwrap_err();
    assert!(matches!(err, DomainError::ExternalService(_)), "{err:?}");
    // A provider that is down is asked again only after the back-off:
    // meanwhile logins fail at once, with the same answer.
    for _ in 0..3 {
        let again = v.verify(&pool, &pn(SAML_ARN), "x").await.unwrap_err();
        assert_eq!(again.to_string(), err.to_string());
    }
    assert_eq!(*hits.lock().unwrap(), 1);
    clock.advance(i64::try_from(FAILURE_BACKOFF.as_secs()).unwrap());
    let _ = v.verify(&pool, &pn(SAML_ARN), "x").await;
    assert_eq!(*hits.lock().unwrap(), 2);
    let (url, _) = metadata_server(200, "<not metadata/>".into()).await;
    let v = UpstreamVerifier::new(vec![], vec![], options(2_000))
        .unwrap()
        .with_saml_providers(vec![saml_provider(SamlMetadata::Url(url))])
        .unwrap();
    let err = v.verify(&pool, &pn(SAML_ARN), "x").await.unwrap_err();
    assert!(matches!(err, DomainError::ExternalService(_)), "{err:?}");
}

/// A provider name, as the domain passes it to the verifier.
fn pn(name: impl AsRef<str>) -> cognate_domain::ids::ProviderName {
    cognate_domain::ids::ProviderName::try_from(name.as_ref()).unwrap()
}
