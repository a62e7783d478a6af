//! The key manager: Cognate's set of signing keys, shared through the
//! database by every instance, rotated on schedule, published as a JWKS.
//!
//! # Life of a key
//!
//! ```text
//! created ──publish_ahead──▶ activate_at ──(signs)──▶ retired_at ──max_token_lifetime + 5 min──▶ expires_at
//!   │ published in the JWKS from here on                                   (still published)   │ gone
//! ```
//!
//! - The key that signs is the newest one whose `activate_at` has come and
//!   whose `retired_at` has not. Which key that is is decided at each
//!   signature from the clock, so every instance switches at the same
//!   moment without talking to the others.
//! - A new key retires the one before it at its own `activate_at`; the old
//!   key stays published until `retired_at + max_token_lifetime + 5 min`,
//!   so every token it signed verifies until it has expired.
//! - Rotation happens when the signing key has signed for
//!   `rotation_period` (or its algorithm is no longer the configured one):
//!   a new key is stored with `activate_at = now + publish_ahead`. Every
//!   instance sees it at its next [`KeyManager::refresh`]; `publish_ahead`
//!   must exceed the refresh interval plus any JWKS cache of the verifying
//!   STSes, or an STS may meet a `kid` it has not fetched yet.
//! - Rotation and first-key creation run in one transaction under the
//!   database's key lock (`KeyRepo::lock_keys`), so two instances starting
//!   together make one key, not two.
//!
//! # JWKS order
//!
//! The signing key first (Ceph RGW verifies with the first key of the JWKS
//! only), then upcoming keys (soonest first), then retired, unexpired ones
//! (newest first).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound as _, Utc};
use cognate_domain::ports::{Clock, SystemClock};
use cognate_domain::token::{
    KeyStore, OpenIdClaims, StoredKey, TokenIssuer, TokenRejection, POOL_ARN_CLAIM, TAGS_CLAIM,
};
use cognate_domain::DomainError;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::error::TokenError;
use crate::kek::Kek;
use crate::keys::{generate_private_key, RsaSigningKey, SigningAlgorithm};

/// Default `rotation_period`: 30 days.
pub const DEFAULT_ROTATION_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default `publish_ahead`: 1 hour. Comfortably more than the refresh
/// interval (a minute or so) and than the JWKS caches of common verifiers.
pub const DEFAULT_PUBLISH_AHEAD: Duration = Duration::from_secs(3600);
/// Default `max_token_lifetime`: 24 hours, the longest `TokenDuration`.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long past `retired_at + max_token_lifetime` a retired key is kept
/// published, for clock differences between instances.
pub const RETIRED_KEY_GRACE: Duration = Duration::from_secs(5 * 60);
/// Clock leeway when verifying `exp` of Cognate's own tokens: 5 seconds,
/// for clock differences between the instance that signed and the one
/// that verifies. Our tokens carry no `nbf`, and `iat` is not checked.
pub const VERIFY_LEEWAY: Duration = Duration::from_secs(5);

/// Makes a new PKCS#8 DER RSA private key. The default generates one with
/// the `rsa` crate; tests substitute fixed keys (`test_keys`).
pub type KeyGenerator = Arc<dyn Fn() -> Result<Zeroizing<Vec<u8>>, TokenError> + Send + Sync>;

/// What the key manager is configured with.
#[derive(Debug, Clone)]
pub struct KeyManagerConfig {
    /// The issuer URL (`iss`), as configured (`[tokens] issuer`, default
    /// `server.public_url`). Used verbatim in tokens; a trailing `/` is
    /// dropped only when building the documents' URLs.
    pub issuer: String,
    /// Algorithm of new keys (`[tokens] algorithm`). Default RS512.
    pub algorithm: SigningAlgorithm,
    /// How long a key signs before a new one is made. Default 30 days.
    pub rotation_period: Duration,
    /// How long a new key is published before it signs. Default 1 hour.
    pub publish_ahead: Duration,
    /// The longest lifetime of a token Cognate issues. Default 24 h.
    pub max_token_lifetime: Duration,
}

impl KeyManagerConfig {
    /// The defaults, for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        KeyManagerConfig {
            issuer: issuer.into(),
            algorithm: SigningAlgorithm::default(),
            rotation_period: DEFAULT_ROTATION_PERIOD,
            publish_ahead: DEFAULT_PUBLISH_AHEAD,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
        }
    }

    fn base_url(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}

/// Where a key is in its life, at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs now.
    Signing,
    /// Published, signs from `activate_at`.
    Upcoming,
    /// Signs no more; published until `expires_at`.
    Retired,
}

/// A key as `cognate keys list` shows it: public facts only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    /// `kid`.
    pub kid: String,
    /// `RS256` / `RS512`.
    pub alg: SigningAlgorithm,
    /// Where it is in its life now.
    pub status: KeyStatus,
    /// Whether the private key is sealed in the database.
    pub encrypted: bool,
    /// When it was made (published from then on).
    pub created_at: DateTime<Utc>,
    /// When it signs from.
    pub activate_at: DateTime<Utc>,
    /// When it stops signing, if set.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it stops being published, if set.
    pub expires_at: Option<DateTime<Utc>>,
    /// SHA-1 fingerprint of its certificate, hex (an OIDC-provider thumbprint).
    pub certificate_sha1: String,
}

/// A key loaded into memory, with its schedule.
struct Loaded {
    key: Arc<RsaSigningKey>,
    encrypted: bool,
    created_at: DateTime<Utc>,
    activate_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    jwk: serde_json::Value,
}

impl Loaded {
    fn published(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }

    fn can_sign(&self, now: DateTime<Utc>) -> bool {
        self.activate_at <= now && self.retired_at.is_none_or(|r| r > now) && self.published(now)
    }

    fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.activate_at > now {
            KeyStatus::Upcoming
        } else if self.can_sign(now) {
            KeyStatus::Signing
        } else {
            KeyStatus::Retired
        }
    }
}

/// The keys in memory, newest `activate_at` first. Replaced whole.
#[derive(Default)]
struct Ring {
    keys: Vec<Arc<Loaded>>,
}

impl Ring {
    fn signer(&self, now: DateTime<Utc>) -> Option<&Arc<Loaded>> {
        self.keys.iter().find(|k| k.can_sign(now))
    }

    fn find(&self, kid: &str, now: DateTime<Utc>) -> Option<&Arc<Loaded>> {
        self.keys
            .iter()
            .find(|k| k.key.kid() == kid && k.published(now))
    }

    /// Published keys in JWKS order: signer, upcoming (soonest first), rest.
    fn published(&self, now: DateTime<Utc>) -> Vec<&Arc<Loaded>> {
        let signer = self.signer(now);
        let mut out: Vec<&Arc<Loaded>> = signer.into_iter().collect();
        let mut upcoming: Vec<&Arc<Loaded>> = self
            .keys
            .iter()
            .filter(|k| k.activate_at > now && k.published(now))
            .collect();
        upcoming.sort_by_key(|k| k.activate_at);
        out.extend(upcoming);
        out.extend(self.keys.iter().filter(|k| {
            k.activate_at <= now && k.published(now) && signer.is_none_or(|s| !Arc::ptr_eq(s, k))
        }));
        out
    }
}

/// Cognate's signing keys: signs and verifies its OpenID tokens, publishes
/// the JWKS and discovery documents, and rotates keys.
///
/// Build it once with [`KeyManager::start`], share it as `Arc`, and call
/// [`KeyManager::refresh`] periodically ([`KeyManager::spawn_refresh_loop`]).
pub struct KeyManager {
    store: Arc<dyn KeyStore>,
    kek: Option<Kek>,
    config: KeyManagerConfig,
    clock: Arc<dyn Clock>,
    generator: KeyGenerator,
    ring: RwLock<Arc<Ring>>,
    /// Bounds the signatures handed to the blocking pool (see
    /// [`KeyManager::sign_claims`]) to the number of cores, so a burst
    /// queues here instead of spawning hundreds of blocking threads.
    signing_permits: Arc<Semaphore>,
    /// One refresh or rotation at a time in this process.
    maintenance: Mutex<()>,
}

impl fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring();
        let kids: Vec<&str> = ring.keys.iter().map(|k| k.key.kid()).collect();
        f.debug_struct("KeyManager")
            .field("issuer", &self.config.issuer)
            .field("algorithm", &self.config.algorithm)
            .field("kek", &self.kek.as_ref().map(|_| "[configured]"))
            .field("keys", &kids)
            .finish_non_exhaustive()
    }
}

/// Options for [`KeyManager::start_with`] beyond the configuration.
#[derive(Clone)]
pub struct KeyManagerHooks {
    /// The clock (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// The key generator (default: a fresh 2048-bit RSA key).
    pub generator: KeyGenerator,
}

impl fmt::Debug for KeyManagerHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyManagerHooks").finish_non_exhaustive()
    }
}

impl Default for KeyManagerHooks {
    fn default() -> Self {
        KeyManagerHooks {
            clock: Arc::new(SystemClock),
            generator: Arc::new(generate_private_key),
        }
    }
}

/// What a synchronisation with the database should do.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Keep things as scheduled: make a key if none can sign, rotate when due.
    Maintain,
    /// Make a key that signs `activate_in` from now (unless one already will).
    Rotate { activate_in: Duration },
}

/// A new key to make: when it activates, and when it retires if a later
/// key is already scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NewKey {
    activate_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

impl KeyManager {
    /// Load the keys from the database, making the first key or rotating an
    /// old one as needed, with the system clock and real key generation.
    ///
    /// Fails, with a message naming the cause, when the database cannot be
    /// read, a stored key is encrypted and `kek` is `None`, or `kek` does
    /// not open a stored key.
    pub async fn start(
        store: Arc<dyn KeyStore>,
        kek: Option<Kek>,
        config: KeyManagerConfig,
    ) -> Result<Self, TokenError> {
        Self::start_with(store, kek, config, KeyManagerHooks::default()).await
    }

    /// [`KeyManager::start`] with a chosen clock and key generator.
    pub async fn start_with(
        store: Arc<dyn KeyStore>,
        kek: Option<Kek>,
        config: KeyManagerConfig,
        hooks: KeyManagerHooks,
    ) -> Result<Self, TokenError> {
        if config.rotation_period.is_zero() || config.rotation_period <= config.publish_ahead {
            return Err(TokenError::InvalidConfig(format!(
                "rotation_period ({:?}) must be longer than publish_ahead ({:?})",
                config.rotation_period, config.publish_ahead
            )));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let manager = KeyManager {
            store,
            kek,
            config,
            clock: hooks.clock,
            generator: hooks.generator,
            ring: RwLock::new(Arc::new(Ring::default())),
            signing_permits: Arc::new(Semaphore::new(cores)),
            maintenance: Mutex::new(()),
        };
        manager.sync(Want::Maintain).await?;
        tracing::info!(
            signing_kid = manager.signing_kid().as_deref().unwrap_or("none"),
            published = manager.ring().keys.len(),
            encrypted_at_rest = manager.kek.is_some(),
            "token signing keys loaded"
        );
        Ok(manager)
    }

    /// The configuration.
    pub fn config(&self) -> &KeyManagerConfig {
        &self.config
    }

    /// Reload the keys from the database (another instance may have
    /// rotated), delete expired ones, and rotate if the signing key is due.
    /// On failure the keys already loaded stay in use.
    pub async fn refresh(&self) -> Result<(), TokenError> {
        self.sync(Want::Maintain).await
    }

    /// Rotate now (`cognate keys rotate`): make a new key that signs after
    /// `publish_ahead`, unless one is already scheduled to sign by then.
    /// Returns the `kid` of the key that will sign.
    pub async fn rotate_now(&self) -> Result<String, TokenError> {
        self.rotate_with(self.config.publish_ahead).await
    }

    /// Rotate with a chosen delay; `Duration::ZERO` makes a key that signs
    /// at once (e.g. after a key compromise; STSes that cache the JWKS may
    /// then refuse tokens until they refetch it). The previous key stays
    /// published until its tokens have expired. Returns the new signing
    /// key's `kid` (or the already-scheduled one's).
    pub async fn rotate_with(&self, activate_in: Duration) -> Result<String, TokenError> {
        self.sync(Want::Rotate { activate_in }).await?;
        let ring = self.ring();
        let when = self.clock.now() + to_chrono(activate_in);
        ring.keys
            .iter()
            .find(|k| k.activate_at <= when && k.retired_at.is_none_or(|r| r > when))
            .map(|k| k.key.kid().to_owned())
            .ok_or(TokenError::NoSigningKey)
    }

    /// Seal every stored private key that is not sealed yet with the
    /// configured KEK (`cognate keys seal`), in one transaction under the
    /// key lock; expired keys are deleted instead. Returns the `kid`s
    /// sealed. Without a KEK this is an [`TokenError::InvalidConfig`].
    pub async fn seal_stored_keys(&self) -> Result<Vec<String>, TokenError> {
        let Some(kek) = &self.kek else {
            return Err(TokenError::InvalidConfig(
                "no key-encryption key is configured to seal the signing keys with".into(),
            ));
        };
        let sealed = {
            let _guard = self.maintenance.lock().await;
            let now = self.db_now();
            let mut tx = self.store.begin_keys().await?;
            tx.lock_keys().await?;
            tx.purge_expired_keys(now).await?;
            let mut sealed = Vec::new();
            for row in tx.list_keys(now).await?.iter().filter(|k| !k.encrypted) {
                let blob = kek.seal(&row.kid, &row.private_key)?;
                tx.store_sealed_key(&row.kid, &blob).await?;
                sealed.push(row.kid.clone());
            }
            tx.commit().await?;
            sealed
        };
        if !sealed.is_empty() {
            tracing::info!(kids = ?sealed, "sealed stored signing keys with the key-encryption key");
        }
        self.refresh().await?;
        Ok(sealed)
    }

    /// Reload and maintain every `every`, forever; failures are logged and
    /// the loaded keys stay in use. Abort the handle to stop.
    pub fn spawn_refresh_loop(self: Arc<Self>, every: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is immediate; start() just loaded
            loop {
                ticks.tick().await;
                if let Err(err) = self.refresh().await {
                    tracing::warn!(error = %err, "signing-key refresh failed; keeping the keys already loaded");
                }
            }
        })
    }

    /// The `kid` of the key that signs now.
    pub fn signing_kid(&self) -> Option<String> {
        self.ring()
            .signer(self.clock.now())
            .map(|k| k.key.kid().to_owned())
    }

    /// Every published key, in JWKS order, with its public facts.
    pub fn keys_info(&self) -> Vec<KeyInfo> {
        let ring = self.ring();
        let now = self.clock.now();
        ring.published(now)
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.key.kid().to_owned(),
                alg: k.key.alg(),
                status: k.status(now),
                encrypted: k.encrypted,
                created_at: k.created_at,
                activate_at: k.activate_at,
                retired_at: k.retired_at,
                expires_at: k.expires_at,
                certificate_sha1: k.key.sha1_fingerprint_hex(),
            })
            .collect()
    }

    /// The JWKS: `{"keys":[...]}`, the signing key first. Served at
    /// `{issuer}/.well-known/jwks_uri`.
    pub fn jwks_json(&self) -> serde_json::Value {
        let ring = self.ring();
        let keys: Vec<serde_json::Value> = ring
            .published(self.clock.now())
            .into_iter()
            .map(|k| k.jwk.clone())
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_json(&self) -> serde_json::Value {
        let base = self.config.base_url();
        let mut algs = vec![self.config.algorithm.as_str()];
        for key in self.ring().keys.iter() {
            let alg = key.key.alg().as_str();
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        serde_json::json!({
            "issuer": self.config.issuer,
            "jwks_uri": format!("{base}/.well-known/jwks_uri"),
            "authorization_endpoint": format!("{base}/authorize"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "claims_supported": ["iss", "sub", "aud", "amr", "iat", "exp", POOL_ARN_CLAIM, TAGS_CLAIM],
        })
    }

    /// Sign `claims` with the key that signs now (~0.25 ms of CPU).
    ///
    /// - On a multi-threaded runtime (the service's database runtime, one
    ///   worker per core, where every operation runs), in place: those
    ///   workers are the bounded pool of signing threads, and a worker busy
    ///   signing leaves its other tasks to be stolen by the others. Handing
    ///   each signature to the blocking pool instead cost two thread
    ///   wake-ups per token: GetOpenIdToken served 2,967-3,122 tokens/s
    ///   that way against 4,302-5,353/s in place (`cognate-bench`, same
    ///   machine, runs taking turns), with p99 at most 1.6 x p50.
    /// - On a single-threaded runtime (an HTTP worker's, when there is no
    ///   database runtime), on the blocking pool, at most one signature per
    ///   core at a time: such a runtime has no other thread to run its
    ///   other connections while it signs.
    #[tracing::instrument(name = "token.sign", skip_all, fields(alg = %self.config.algorithm.as_str()))]
    pub async fn sign_claims(&self, claims: &OpenIdClaims) -> Result<String, TokenError> {
        let key = self
            .ring()
            .signer(self.clock.now())
            .map(|k| Arc::clone(&k.key))
            .ok_or(TokenError::NoSigningKey)?;
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_threaded {
            return key.sign(claims);
        }
        let permit = Arc::clone(&self.signing_permits)
            .acquire_owned()
            .await
            .map_err(|e| TokenError::Task(e.to_string()))?;
        let claims = claims.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            key.sign(&claims)
        })
        .await
        .map_err(|e| TokenError::Task(e.to_string()))?
    }

    /// Verify a token Cognate issued (see [`TokenIssuer::verify`]).
    pub fn verify_token(&self, token: &str) -> Result<OpenIdClaims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
        let kid = header.kid.ok_or(TokenRejection::Invalid)?;
        let now = self.clock.now();
        let ring = self.ring();
        let key = ring.find(&kid, now).ok_or(TokenRejection::Invalid)?;
        // Only the key's own algorithm (RS256 or RS512): never none, never HMAC.
        if header.alg != key.key.alg().jwt() {
            return Err(TokenRejection::Invalid);
        }
        let mut validation = jsonwebtoken::Validation::new(key.key.alg().jwt());
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.validate_aud = false; // the domain checks the pool
        validation.validate_exp = false; // checked below, against our clock
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<OpenIdClaims>(token, key.key.decoding_key(), &validation)
            .map_err(|_| TokenRejection::Invalid)?;
        let leeway = VERIFY_LEEWAY.as_secs() as i64;
        if data.claims.exp.saturating_add(leeway) <= now.timestamp() {
            return Err(TokenRejection::Expired);
        }
        Ok(data.claims)
    }

    fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Bring the database and the in-memory ring in line with `want`.
    async fn sync(&self, want: Want) -> Result<(), TokenError> {
        let _guard = self.maintenance.lock().await;
        let now = self.db_now();
        let mut tx = self.store.begin_keys().await?;
        tx.purge_expired_keys(now).await?;
        let mut stored = tx.list_keys(now).await?;
        if let Want::Maintain = want {
            // Cheap common case: nothing to do, no lock taken.
            if self.plan(&stored, now, want).is_none() {
                tx.commit().await?;
                return self.install(stored);
            }
        }
        tx.lock_keys().await?;
        // Read the clock again: another instance may have made a key while
        // we waited for the lock, stamped later than our first reading.
        let now = self.db_now();
        stored = tx.list_keys(now).await?;
        // Open every stored key before changing anything: a missing or
        // wrong KEK must stop us here, not after a new key was made.
        let mut parsed = self.load(&stored)?;
        if let Some(new) = self.plan(&stored, now, want) {
            let key = self.make_key(now).await?;
            let kid = key.kid().to_owned();
            let (private_key, encrypted) = match &self.kek {
                Some(kek) => (kek.seal(&kid, key.private_key_der())?, true),
                None => (key.private_key_der().to_vec(), false),
            };
            let row = StoredKey {
                kid: kid.clone(),
                alg: key.alg().as_str().to_owned(),
                private_key,
                encrypted,
                certificate_der: key.certificate_der().to_vec(),
                created_at: now,
                activate_at: new.activate_at,
                retired_at: new.retired_at,
                expires_at: new.retired_at.map(|r| self.expiry_after(r)),
            };
            tx.insert_key(&row).await?;
            // Every key that would still sign at the new key's activation
            // retires then.
            let retire_at = new.activate_at;
            let expires_at = self.expiry_after(retire_at);
            for old in stored.iter_mut() {
                if old.activate_at <= retire_at && old.retired_at.is_none_or(|r| r > retire_at) {
                    tx.retire_key(&old.kid, retire_at, expires_at).await?;
                    old.retired_at = Some(retire_at);
                    old.expires_at = Some(expires_at);
                }
            }
            tx.commit().await?;
            tracing::info!(
                kid = %kid,
                alg = %key.alg(),
                activate_at = %new.activate_at,
                encrypted,
                "made a new token signing key"
            );
            stored.push(row);
            parsed.push((kid, Arc::new(key)));
        } else {
            tx.commit().await?;
        }
        self.install_with(stored, parsed)
    }

    /// Now, to the microsecond: the precision of the database's timestamps,
    /// so the keys kept in memory carry exactly the stored times.
    fn db_now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    /// When a key retired at `retired_at` stops being published.
    fn expiry_after(&self, retired_at: DateTime<Utc>) -> DateTime<Utc> {
        retired_at + to_chrono(self.config.max_token_lifetime) + to_chrono(RETIRED_KEY_GRACE)
    }

    /// Whether a new key is needed, and its schedule.
    fn plan(&self, stored: &[StoredKey], now: DateTime<Utc>, want: Want) -> Option<NewKey> {
        let can_sign = |k: &StoredKey| {
            k.activate_at <= now
                && k.retired_at.is_none_or(|r| r > now)
                && k.expires_at.is_none_or(|e| e > now)
        };
        let upcoming =
            |k: &&StoredKey| k.activate_at > now && k.retired_at.is_none_or(|r| r > k.activate_at);
        let signer = stored
            .iter()
            .filter(|k| can_sign(k))
            .max_by_key(|k| k.activate_at);
        let next_upcoming = stored.iter().filter(upcoming).map(|k| k.activate_at).min();
        let activate_at = match want {
            Want::Rotate { activate_in } => {
                let when = now + to_chrono(activate_in);
                if next_upcoming.is_some_and(|t| t <= when) {
                    return None; // a key already takes over by then
                }
                when
            }
            Want::Maintain => match signer {
                None => now,
                Some(_) if next_upcoming.is_some() => return None,
                Some(s) => {
                    let due = s.activate_at + to_chrono(self.config.rotation_period) <= now;
                    let wrong_alg = s.alg != self.config.algorithm.as_str();
                    if !(due || wrong_alg) {
                        return None;
                    }
                    now + to_chrono(self.config.publish_ahead)
                }
            },
        };
        let retired_at = stored
            .iter()
            .filter(|k| {
                k.activate_at > activate_at && k.retired_at.is_none_or(|r| r > k.activate_at)
            })
            .map(|k| k.activate_at)
            .min();
        Some(NewKey {
            activate_at,
            retired_at,
        })
    }

    /// Generate and certify a new key, off the async workers.
    async fn make_key(&self, now: DateTime<Utc>) -> Result<RsaSigningKey, TokenError> {
        let generator = Arc::clone(&self.generator);
        let alg = self.config.algorithm;
        let issuer = self.config.issuer.clone();
        tokio::task::spawn_blocking(move || {
            let der = generator()?;
            RsaSigningKey::create(der, alg, &issuer, now)
        })
        .await
        .map_err(|e| TokenError::Task(e.to_string()))?
    }

    /// Open and parse every stored key not already in memory.
    fn load(&self, stored: &[StoredKey]) -> Result<Vec<(String, Arc<RsaSigningKey>)>, TokenError> {
        let current = self.ring();
        let mut out = Vec::with_capacity(stored.len());
        for row in stored {
            if let Some(existing) = current.keys.iter().find(|k| k.key.kid() == row.kid) {
                out.push((row.kid.clone(), Arc::clone(&existing.key)));
                continue;
            }
            let alg: SigningAlgorithm = row.alg.parse().map_err(|_| TokenError::BadKey {
                kid: row.kid.clone(),
                reason: format!("unsupported algorithm {:?}", row.alg),
            })?;
            let der = match (row.encrypted, &self.kek) {
                (true, Some(kek)) => kek.open(&row.kid, &row.private_key)?,
                (true, None) => {
                    return Err(TokenError::MissingKek {
                        kid: row.kid.clone(),
                    })
                }
                (false, kek) => {
                    if kek.is_some() {
                        tracing::warn!(
                            kid = %row.kid,
                            "signing key is stored unencrypted although a key-encryption key is \
                             configured; `cognate keys seal` seals it (`cognate serve` refuses \
                             to start until then), new keys are encrypted"
                        );
                    }
                    Zeroizing::new(row.private_key.clone())
                }
            };
            let key = RsaSigningKey::from_parts(&row.kid, alg, der, row.certificate_der.clone())?;
            out.push((row.kid.clone(), Arc::new(key)));
        }
        Ok(out)
    }

    fn install(&self, stored: Vec<StoredKey>) -> Result<(), TokenError> {
        let loaded = self.load(&stored)?;
        self.install_with(stored, loaded)
    }

    /// Replace the ring with `stored`, using the parsed keys in `parsed`
    /// (one for every row).
    fn install_with(
        &self,
        mut stored: Vec<StoredKey>,
        parsed: Vec<(String, Arc<RsaSigningKey>)>,
    ) -> Result<(), TokenError> {
        stored.sort_by(|a, b| {
            b.activate_at
                .cmp(&a.activate_at)
                .then(b.created_at.cmp(&a.created_at))
        });
        let mut keys = Vec::with_capacity(stored.len());
        for row in stored {
            let key = parsed
                .iter()
                .find(|(kid, _)| *kid == row.kid)
                .map(|(_, key)| Arc::clone(key))
                .ok_or_else(|| TokenError::BadKey {
                    kid: row.kid.clone(),
                    reason: "not loaded".into(),
                })?;
            let jwk = key.jwk();
            keys.push(Arc::new(Loaded {
                key,
                encrypted: row.encrypted,
                created_at: row.created_at,
                activate_at: row.activate_at,
                retired_at: row.retired_at,
                expires_at: row.expires_at,
                jwk,
            }));
        }
        let ring = Arc::new(Ring { keys });
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = ring;
        Ok(())
    }
}

/// The `kid`s of the stored keys (expired ones not yet deleted included)
/// whose private key is not sealed: with a KEK configured, these must be
/// sealed (`cognate keys seal`) before the service runs.
pub async fn unsealed_stored_keys(store: &dyn KeyStore) -> Result<Vec<String>, TokenError> {
    let mut tx = store.begin_keys().await?;
    let keys = tx.list_keys(DateTime::<Utc>::UNIX_EPOCH).await?;
    tx.commit().await?;
    Ok(keys
        .into_iter()
        .filter(|k| !k.encrypted)
        .map(|k| k.kid)
        .collect())
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl TokenIssuer for KeyManager {
    fn issuer(&self) -> &str {
        &self.config.issuer
    }

    async fn sign(&self, claims: &OpenIdClaims) -> Result<String, DomainError> {
        self.sign_claims(claims)
            .await
            .map_err(DomainError::internal)
    }

    async fn verify(&self, token: &str) -> Result<OpenIdClaims, TokenRejection> {
        // RSA verification with e = 65537 takes tens of microseconds: done
        // inline, unlike signing.
        self.verify_token(token)
    }
}

#[cfg(test)]
mod tests;
