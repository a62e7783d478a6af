//! An in-memory [`IssuerKeys`] for unit tests of the verification logic: the
//! JWKS of each issuer as the cache would hold it after a fetch, with no
//! HTTP, no TTL and no refetching (those are the cache's own tests, against
//! the fake IdP).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cognate_domain::ports::Clock;
use serde_json::Value;

use super::fetch::FetchFailure;
use super::jwk::KeySet;
use super::jwt::Alg;
use super::key_store::IssuerKeys;

/// Issuer → keys; counts how often it was asked.
#[derive(Debug, Default)]
pub(super) struct FakeKeys {
    sets: Mutex<HashMap<String, Arc<KeySet>>>,
    asked: AtomicU64,
}

impl FakeKeys {
    /// Serve `jwks` (`{"keys": [...]}`) as the keys of `issuer`.
    pub(super) fn set_jwks(&self, issuer: &str, jwks: &Value) {
        let entries = jwks["keys"].as_array().cloned().unwrap_or_default();
        let set = KeySet::from_jwks(&entries, chrono::Utc::now());
        self.sets
            .lock()
            .unwrap()
            .insert(issuer.to_owned(), Arc::new(set));
    }

    /// How many times keys were asked for.
    pub(super) fn asked(&self) -> u64 {
        self.asked.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl IssuerKeys for FakeKeys {
    async fn keys(
        &self,
        issuer: &str,
        _kid: Option<&str>,
        _alg: Alg,
        _clock: &dyn Clock,
    ) -> Result<Arc<KeySet>, FetchFailure> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.sets
            .lock()
            .unwrap()
            .get(issuer)
            .cloned()
            .ok_or_else(|| FetchFailure("no keys for this issuer".into()))
    }
}
