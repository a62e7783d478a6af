//! Unit tests of the parent module.

use std::sync::Mutex as StdMutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cognate_domain::ports::StoreError;
use cognate_domain::token::{KeyRepo, KeyTx};

use super::*;
use crate::test_keys;

const ISSUER: &str = "https://id.example.com";
const KEK_A: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const KEK_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Keys in memory; a transaction works on a copy that commit writes back.
#[derive(Default)]
struct MemStore {
    keys: Arc<StdMutex<Vec<StoredKey>>>,
}

impl MemStore {
    fn rows(&self) -> Vec<StoredKey> {
        self.keys.lock().unwrap().clone()
    }
}

struct MemTx {
    shared: Arc<StdMutex<Vec<StoredKey>>>,
    work: Vec<StoredKey>,
}

#[async_trait]
impl KeyStore for MemStore {
    async fn begin_keys(&self) -> Result<Box<dyn KeyTx>, StoreError> {
        let work = self.keys.lock().unwrap().clone();
        Ok(Box::new(MemTx {
            shared: Arc::clone(&self.keys),
            work,
        }))
    }
}

#[async_trait]
impl KeyTx for MemTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        *self.shared.lock().unwrap() = self.work;
        Ok(())
    }
}

#[async_trait]
impl KeyRepo for MemTx {
    async fn lock_keys(&mut self) -> Result<(), StoreError> {
        // Single-threaded tests: re-read what others committed, as the
        // real lock's following reads would.
        self.work = self.shared.lock().unwrap().clone();
        Ok(())
    }
    async fn list_keys(&mut self, now: DateTime<Utc>) -> Result<Vec<StoredKey>, StoreError> {
        let mut keys: Vec<StoredKey> = self
            .work
            .iter()
            .filter(|k| k.expires_at.is_none_or(|e| e > now))
            .cloned()
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.activate_at));
        Ok(keys)
    }
    async fn insert_key(&mut self, key: &StoredKey) -> Result<(), StoreError> {
        if self.work.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::UniqueViolation("signing_keys_pkey".into()));
        }
        self.work.push(key.clone());
        Ok(())
    }
    async fn retire_key(
        &mut self,
        kid: &str,
        retired_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = self
            .work
            .iter_mut()
            .find(|k| k.kid == kid)
            .expect("retire an existing key");
        key.retired_at = Some(retired_at);
        key.expires_at = Some(expires_at);
        Ok(())
    }
    async fn purge_expired_keys(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = self.work.len();
        self.work.retain(|k| k.expires_at.is_none_or(|e| e > now));
        Ok((before - self.work.len()) as u64)
    }
    async fn store_sealed_key(&mut self, kid: &str, sealed: &[u8]) -> Result<(), StoreError> {
        if let Some(key) = self.work.iter_mut().find(|k| k.kid == kid && !k.encrypted) {
            key.private_key = sealed.to_vec();
            key.encrypted = true;
        }
        Ok(())
    }
}

struct TestClock(StdMutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += to_chrono(d);
    }
}

struct Fixture {
    store: Arc<MemStore>,
    clock: Arc<TestClock>,
    generator: KeyGenerator,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            store: Arc::new(MemStore::default()),
            // Whole microseconds, as the database keeps them.
            clock: Arc::new(TestClock(StdMutex::new(Utc::now().trunc_subsecs(6)))),
            generator: test_keys::fixed_generator(0),
        }
    }

    fn config(publish_ahead: Duration) -> KeyManagerConfig {
        KeyManagerConfig {
            publish_ahead,
            ..KeyManagerConfig::new(ISSUER)
        }
    }

    async fn start_with(
        &self,
        kek: Option<&str>,
        config: KeyManagerConfig,
    ) -> Result<KeyManager, TokenError> {
        let hooks = KeyManagerHooks {
            clock: self.clock.clone(),
            generator: Arc::clone(&self.generator),
        };
        let kek = kek.map(|k| Kek::from_base64(k).unwrap());
        KeyManager::start_with(self.store.clone(), kek, config, hooks).await
    }

    async fn start(&self, publish_ahead: Duration) -> KeyManager {
        self.start_with(None, Self::config(publish_ahead))
            .await
            .unwrap()
    }

    fn claims(&self, lifetime: Duration) -> OpenIdClaims {
        let now = self.clock.now().timestamp();
        OpenIdClaims {
            iss: ISSUER.into(),
            sub: "us-east-1:11111111-2222-4333-8444-555555555555".into(),
            aud: "us-east-1:66666666-7777-4888-9999-000000000000".into(),
            amr: vec!["unauthenticated".into()],
            iat: now,
            exp: now + lifetime.as_secs() as i64,
            identity_pool_arn: "arn:aws:cognito-identity:us-east-1:000000000000:identitypool/x"
                .into(),
            tags: None,
        }
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn jwks_kids(keys: &KeyManager) -> Vec<String> {
    keys.jwks_json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

const TEN_MINUTES: Duration = Duration::from_secs(600);
const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn the_first_start_makes_a_key_that_signs_at_once() {
    let f = Fixture::new();
    let keys = f.start(HOUR).await;
    let rows = f.store.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].activate_at, f.clock.now());
    assert_eq!(rows[0].alg, "RS512");
    assert!(!rows[0].encrypted);
    assert_eq!(keys.signing_kid().as_deref(), Some(rows[0].kid.as_str()));
    let token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    assert_eq!(kid_of(&token), rows[0].kid);
    assert_eq!(keys.verify(&token).await.unwrap(), f.claims(TEN_MINUTES));
}

#[tokio::test]
async fn a_second_instance_loads_the_same_key_and_verifies_the_first_ones_tokens() {
    let f = Fixture::new();
    let one = f.start(HOUR).await;
    let two = f.start(HOUR).await;
    assert_eq!(f.store.rows().len(), 1);
    assert_eq!(one.signing_kid(), two.signing_kid());
    let token = one.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    two.verify(&token).await.unwrap();
    assert_eq!(one.jwks_json(), two.jwks_json());
}

#[tokio::test]
async fn the_jwks_lists_the_signing_key_first() {
    let f = Fixture::new();
    let keys = f.start(HOUR).await;
    let old = keys.signing_kid().unwrap();
    let new = keys.rotate_now().await.unwrap();
    assert_ne!(old, new);
    // The new key is published, but the old one still signs and is first.
    assert_eq!(jwks_kids(&keys), vec![old.clone(), new.clone()]);
    f.clock.advance(HOUR);
    // The new key signs now: first; the old one stays published after it.
    assert_eq!(jwks_kids(&keys), vec![new.clone(), old.clone()]);
    let jwks = keys.jwks_json();
    let first = &jwks["keys"][0];
    for member in [
        "kty", "kid", "alg", "use", "n", "e", "x5c", "x5t", "x5t#S256",
    ] {
        assert!(first.get(member).is_some(), "JWK lacks {member}: {first}");
    }
    assert_eq!(first["kty"], "RSA");
    assert_eq!(first["use"], "sig");
    assert_eq!(first["alg"], "RS512");
}

#[tokio::test]
async fn tampered_tokens_are_rejected() {
    let f = Fixture::new();
    let keys = f.start(HOUR).await;
    let token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let kid = kid_of(&token);

    // Payload changed (another subject), signature kept.
    let mut other = f.claims(TEN_MINUTES);
    other.sub = "us-east-1:99999999-2222-4333-8444-555555555555".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
    let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));

    // Signature changed.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x40;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));

    // Switched to HS256, keyed with the public certificate (the classic
    // algorithm-confusion attack).
    let jwk = keys.jwks_json()["keys"][0].clone();
    let cert = base64::engine::general_purpose::STANDARD
        .decode(jwk["x5c"][0].as_str().unwrap())
        .unwrap();
    for secret in [cert.as_slice(), jwk["n"].as_str().unwrap().as_bytes()] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(
            &header,
            &f.claims(TEN_MINUTES),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));
    }

    // alg "none", with and without the old signature.
    let none_header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}","typ":"JWS"}}"#));
    for forged in [
        format!("{none_header}.{}.", parts[1]),
        format!("{none_header}.{}.{}", parts[1], parts[2]),
    ] {
        assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));
    }

    // The other RSA algorithm with the same key.
    let rs256_header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWS"}}"#));
    let forged = format!("{rs256_header}.{}.{}", parts[1], parts[2]);
    assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));

    // No kid, unknown kid, garbage.
    let no_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS512","typ":"JWS"}"#);
    let forged = format!("{no_kid}.{}.{}", parts[1], parts[2]);
    assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));
    let unknown = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS512","kid":"nope","typ":"JWS"}"#);
    let forged = format!("{unknown}.{}.{}", parts[1], parts[2]);
    assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));
    assert_eq!(
        keys.verify("not a token").await,
        Err(TokenRejection::Invalid)
    );

    // The untouched token still verifies.
    keys.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_token_from_another_issuer_is_invalid() {
    let f = Fixture::new();
    let keys = f.start(HOUR).await;
    let mut claims = f.claims(TEN_MINUTES);
    claims.iss = "https://elsewhere.example.com".into();
    let token = keys.sign(&claims).await.unwrap();
    assert_eq!(keys.verify(&token).await, Err(TokenRejection::Invalid));
}

#[tokio::test]
async fn an_expired_token_is_expired() {
    let f = Fixture::new();
    let keys = f.start(HOUR).await;
    let token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    f.clock.advance(TEN_MINUTES + VERIFY_LEEWAY);
    assert_eq!(keys.verify(&token).await, Err(TokenRejection::Expired));
    // A tampered expired token is invalid, not merely expired.
    let forged = format!("{}x", token);
    assert_eq!(keys.verify(&forged).await, Err(TokenRejection::Invalid));
    // Within the few seconds of leeway it still passes.
    let token = keys.sign(&f.claims(Duration::from_secs(60))).await.unwrap();
    f.clock.advance(Duration::from_secs(62));
    keys.verify(&token).await.unwrap();
}

#[tokio::test]
async fn after_rotate_now_without_publish_ahead_new_tokens_carry_the_new_kid_and_old_ones_still_verify(
) {
    let f = Fixture::new();
    let keys = f.start(Duration::ZERO).await;
    let old_token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    let old = kid_of(&old_token);
    let new = keys.rotate_now().await.unwrap();
    assert_ne!(new, old);
    let new_token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    assert_eq!(kid_of(&new_token), new);
    keys.verify(&old_token).await.unwrap();
    keys.verify(&new_token).await.unwrap();
    assert_eq!(jwks_kids(&keys), vec![new.clone(), old.clone()]);
    // The old key is retired now and published until its tokens expire.
    let rows = f.store.rows();
    let old_row = rows.iter().find(|k| k.kid == old).unwrap();
    let now = f.clock.now();
    assert_eq!(old_row.retired_at, Some(now));
    assert_eq!(
        old_row.expires_at,
        Some(now + to_chrono(DEFAULT_MAX_TOKEN_LIFETIME) + to_chrono(RETIRED_KEY_GRACE))
    );
    // Another instance started before the rotation learns it on refresh.
    let info = keys.keys_info();
    assert_eq!(info[0].status, KeyStatus::Signing);
    assert_eq!(info[1].status, KeyStatus::Retired);
}

#[tokio::test]
async fn with_publish_ahead_the_new_key_is_published_but_the_old_one_still_signs() {
    let f = Fixture::new();
    let keys = f.start(TEN_MINUTES).await;
    let other = f.start(TEN_MINUTES).await;
    let old = keys.signing_kid().unwrap();
    let new = keys.rotate_now().await.unwrap();
    assert_ne!(new, old);
    // Published at once, by this instance; another after its refresh.
    assert!(jwks_kids(&keys).contains(&new));
    assert!(!jwks_kids(&other).contains(&new));
    other.refresh().await.unwrap();
    assert_eq!(jwks_kids(&other), vec![old.clone(), new.clone()]);
    // Still signing with the old key.
    let token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    assert_eq!(kid_of(&token), old);
    assert_eq!(keys.keys_info()[1].status, KeyStatus::Upcoming);
    // A second rotate_now while one is pending makes no third key.
    assert_eq!(keys.rotate_now().await.unwrap(), new);
    assert_eq!(f.store.rows().len(), 2);
    // At activation both instances switch without talking.
    f.clock.advance(TEN_MINUTES);
    for instance in [&keys, &other] {
        let token = instance.sign(&f.claims(TEN_MINUTES)).await.unwrap();
        assert_eq!(kid_of(&token), new);
        assert_eq!(jwks_kids(instance)[0], new);
    }
}

#[tokio::test]
async fn keys_past_expires_at_disappear_from_the_jwks() {
    let f = Fixture::new();
    let keys = f.start(Duration::ZERO).await;
    let old_token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    let old = kid_of(&old_token);
    let new = keys.rotate_now().await.unwrap();
    // Just before expiry: still there.
    f.clock
        .advance(DEFAULT_MAX_TOKEN_LIFETIME + RETIRED_KEY_GRACE - Duration::from_secs(1));
    assert_eq!(jwks_kids(&keys), vec![new.clone(), old.clone()]);
    // At expiry: gone from the JWKS at once, even before a refresh...
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(jwks_kids(&keys), vec![new.clone()]);
    assert_eq!(keys.verify(&old_token).await, Err(TokenRejection::Invalid));
    // ...and from the database at the next refresh.
    assert_eq!(f.store.rows().len(), 2);
    keys.refresh().await.unwrap();
    assert_eq!(f.store.rows().len(), 1);
    assert_eq!(jwks_kids(&keys), vec![new]);
}

#[tokio::test]
async fn an_old_signing_key_is_rotated_at_start_and_on_refresh() {
    let f = Fixture::new();
    let keys = f.start(TEN_MINUTES).await;
    let old = keys.signing_kid().unwrap();
    f.clock
        .advance(DEFAULT_ROTATION_PERIOD + Duration::from_secs(1));
    // A new instance starting now schedules the next key...
    let other = f.start(TEN_MINUTES).await;
    let rows = f.store.rows();
    assert_eq!(rows.len(), 2);
    let new = rows.iter().find(|k| k.kid != old).unwrap();
    assert_eq!(new.activate_at, f.clock.now() + to_chrono(TEN_MINUTES));
    assert_eq!(other.signing_kid(), Some(old.clone()));
    // ...which the running one picks up on refresh, making no third key.
    keys.refresh().await.unwrap();
    assert_eq!(f.store.rows().len(), 2);
    f.clock.advance(TEN_MINUTES);
    assert_eq!(keys.signing_kid(), Some(new.kid.clone()));

    // The running instance alone also rotates when due.
    f.clock.advance(DEFAULT_ROTATION_PERIOD);
    keys.refresh().await.unwrap();
    assert_eq!(
        f.store
            .rows()
            .iter()
            .filter(|k| k.activate_at > f.clock.now())
            .count(),
        1
    );
}

#[tokio::test]
async fn a_changed_algorithm_rotates_to_a_key_of_the_new_algorithm() {
    let f = Fixture::new();
    let keys = f.start(Duration::ZERO).await;
    let old = keys.signing_kid().unwrap();
    let config = KeyManagerConfig {
        algorithm: SigningAlgorithm::Rs256,
        ..Fixture::config(Duration::ZERO)
    };
    let rs256 = f.start_with(None, config).await.unwrap();
    let token = rs256.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_ne!(header.kid.unwrap(), old);
    assert_eq!(
        rs256.discovery_json()["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "RS512"])
    );
    // The old instance verifies the new key's tokens after a refresh.
    keys.refresh().await.unwrap();
    keys.verify(&token).await.unwrap();
}

#[tokio::test]
async fn keys_are_stored_encrypted_with_a_kek_and_need_it_to_start() {
    let f = Fixture::new();
    let keys = f
        .start_with(Some(KEK_A), Fixture::config(HOUR))
        .await
        .unwrap();
    let rows = f.store.rows();
    assert!(rows[0].encrypted);
    assert!(RsaSigningKey::from_parts(
        &rows[0].kid,
        SigningAlgorithm::Rs512,
        Zeroizing::new(rows[0].private_key.clone()),
        rows[0].certificate_der.clone()
    )
    .is_err());
    let token = keys.sign(&f.claims(TEN_MINUTES)).await.unwrap();

    let again = f
        .start_with(Some(KEK_A), Fixture::config(HOUR))
        .await
        .unwrap();
    again.verify(&token).await.unwrap();

    let err = f.start_with(None, Fixture::config(HOUR)).await.unwrap_err();
    assert!(matches!(err, TokenError::MissingKek { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no key-encryption key is configured"),
        "{err}"
    );

    let err = f
        .start_with(Some(KEK_B), Fixture::config(HOUR))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::WrongKek { .. }), "{err}");
    assert!(
        err.to_string().contains("wrong key-encryption key"),
        "{err}"
    );
    assert_eq!(f.store.rows().len(), 1, "a failed start makes no key");
    assert!(!format!("{keys:?}").contains(KEK_A));
}

#[tokio::test]
async fn plain_keys_load_when_a_kek_is_added_and_new_keys_are_sealed() {
    let f = Fixture::new();
    f.start(Duration::ZERO).await;
    let keys = f
        .start_with(Some(KEK_A), Fixture::config(Duration::ZERO))
        .await
        .unwrap();
    keys.rotate_now().await.unwrap();
    let rows = f.store.rows();
    assert_eq!(rows.iter().filter(|k| k.encrypted).count(), 1);
    assert_eq!(rows.iter().filter(|k| !k.encrypted).count(), 1);
}

#[tokio::test]
async fn sealing_seals_every_plain_key_and_then_they_load_only_with_the_kek() {
    let f = Fixture::new();
    let plain = f.start(Duration::ZERO).await;
    plain.rotate_with(HOUR).await.unwrap();
    let token = plain.sign(&f.claims(TEN_MINUTES)).await.unwrap();
    assert_eq!(
        unsealed_stored_keys(f.store.as_ref()).await.unwrap().len(),
        2
    );

    let keys = f
        .start_with(Some(KEK_A), Fixture::config(Duration::ZERO))
        .await
        .unwrap();
    let sealed = keys.seal_stored_keys().await.unwrap();
    assert_eq!(sealed.len(), 2);
    assert!(f.store.rows().iter().all(|k| k.encrypted));
    assert!(unsealed_stored_keys(f.store.as_ref())
        .await
        .unwrap()
        .is_empty());
    assert!(keys.keys_info().iter().all(|k| k.encrypted));
    assert!(
        keys.seal_stored_keys().await.unwrap().is_empty(),
        "sealing again changes nothing"
    );

    let again = f
        .start_with(Some(KEK_A), Fixture::config(Duration::ZERO))
        .await
        .unwrap();
    again.verify(&token).await.unwrap();
    let err = f
        .start_with(None, Fixture::config(Duration::ZERO))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::MissingKek { .. }), "{err}");
}

#[tokio::test]
async fn sealing_without_a_kek_is_refused() {
    let f = Fixture::new();
    let keys = f.start(Duration::ZERO).await;
    let err = keys.seal_stored_keys().await.unwrap_err();
    assert!(matches!(err, TokenError::InvalidConfig(_)), "{err}");
    assert!(!f.store.rows()[0].encrypted);
}

#[tokio::test]
async fn a_rotation_period_not_longer_than_publish_ahead_is_refused() {
    let f = Fixture::new();
    let config = KeyManagerConfig {
        rotation_period: HOUR,
        ..Fixture::config(HOUR)
    };
    let err = f.start_with(None, config).await.unwrap_err();
    assert!(matches!(err, TokenError::InvalidConfig(_)), "{err}");
}

#[tokio::test]
async fn the_discovery_document_points_at_the_jwks() {
    let f = Fixture::new();
    let config = KeyManagerConfig::new("https://id.example.com/base/");
    let keys = f.start_with(None, config).await.unwrap();
    let doc = keys.discovery_json();
    assert_eq!(doc["issuer"], "https://id.example.com/base/");
    assert_eq!(
        doc["jwks_uri"],
        "https://id.example.com/base/.well-known/jwks_uri"
    );
    assert_eq!(
        doc["authorization_endpoint"],
        "https://id.example.com/base/authorize"
    );
    assert_eq!(
        doc["response_types_supported"],
        serde_json::json!(["id_token"])
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS512"])
    );
    assert!(doc["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("amr")));
}

#[tokio::test(flavor = "current_thread")]
async fn signing_works_on_a_single_threaded_runtime_through_the_blocking_pool() {
    let f = Fixture::new();
    let keys = Arc::new(f.start(HOUR).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let keys = Arc::clone(&keys);
        let claims = f.claims(TEN_MINUTES);
        tasks.push(tokio::spawn(async move { keys.sign(&claims).await }));
    }
    for task in tasks {
        let token = task.await.unwrap().unwrap();
        keys.verify(&token).await.unwrap();
    }
}

#[test]
fn the_rotation_plan_retires_a_new_key_before_an_already_scheduled_one() {
    // An emergency key made now while a key is scheduled for later
    // signs until that one takes over.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let f = Fixture::new();
        let keys = f.start(HOUR).await;
        let old = keys.signing_kid().unwrap();
        f.clock.advance(Duration::from_secs(60));
        let scheduled = keys.rotate_now().await.unwrap();
        f.clock.advance(Duration::from_secs(60));
        let emergency = keys.rotate_with(Duration::ZERO).await.unwrap();
        assert!(emergency != old && emergency != scheduled);
        assert_eq!(keys.signing_kid(), Some(emergency.clone()));
        assert_eq!(
            jwks_kids(&keys),
            vec![emergency.clone(), scheduled.clone(), old]
        );
        f.clock.advance(HOUR);
        assert_eq!(keys.signing_kid(), Some(scheduled.clone()));
        assert_eq!(jwks_kids(&keys)[..2], [scheduled, emergency]);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_threaded_runtime_concurrent_signatures_all_verify() {
    let f = Fixture::new();
    let keys = Arc::new(f.start(HOUR).await);
    let signers: Vec<_> = (0..8)
        .map(|_| {
            let (keys, claims) = (Arc::clone(&keys), f.claims(TEN_MINUTES));
            tokio::spawn(async move { keys.sign(&claims).await.unwrap() })
        })
        .collect();
    for signer in signers {
        let token = signer.await.unwrap();
        assert_eq!(keys.verify(&token).await.unwrap(), f.claims(TEN_MINUTES));
    }
}
