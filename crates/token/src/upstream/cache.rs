//! Per-issuer cache of discovery documents and JWKS; see the module docs of
//! [`super`] ("Caching and refetching") for the policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cognate_domain::ports::Clock;
use reqwest::Url;
use serde_json::Value;

use super::fetch::{FetchFailure, Http};
use super::jwk::KeySet;
use super::jwt::Alg;
use super::key_store::IssuerKeys;

/// After a failed fetch, how long requests for that issuer fail at once
/// without asking the provider again (capped by `min_refetch_interval`).
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct RefreshState {
    /// `jwks_uri` from discovery, and when discovery was read.
    jwks_uri: Option<(Url, DateTime<Utc>)>,
    /// When the provider was last asked (success or not).
    last_attempt: Option<DateTime<Utc>>,
    /// The last fetch's failure, while it is the latest outcome.
    last_failure: Option<(DateTime<Utc>, FetchFailure)>,
}

#[derive(Debug, Default)]
struct IssuerEntry {
    /// What verifications read without waiting.
    current: RwLock<Option<Arc<KeySet>>>,
    /// Held while deciding on and doing a fetch: one fetch per issuer at a
    /// time, and every waiter sees its result (single flight).
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl IssuerEntry {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Counters for tests and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FetchCounts {
    /// Discovery documents fetched (tried).
    pub discovery: u64,
    /// JWKS fetched (tried).
    pub jwks: u64,
}

/// Discovery + JWKS per issuer: the real [`IssuerKeys`].
#[derive(Debug)]
pub(super) struct KeyCache {
    http: Http,
    ttl: chrono::Duration,
    min_refetch: chrono::Duration,
    failure_backoff: chrono::Duration,
    issuers: Mutex<HashMap<String, Arc<IssuerEntry>>>,
    counts: Mutex<FetchCounts>,
}

/// `true` when `since` lies less than `span` before `now` (a clock that went
/// backwards counts as elapsed, so that it never blocks fetching).
fn within(since: DateTime<Utc>, now: DateTime<Utc>, span: chrono::Duration) -> bool {
    since <= now && now - since < span
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl KeyCache {
    pub(super) fn new(http: Http, ttl: Duration, min_refetch: Duration) -> KeyCache {
        KeyCache {
            http,
            ttl: chrono_duration(ttl),
            min_refetch: chrono_duration(min_refetch),
            failure_backoff: chrono_duration(FAILURE_BACKOFF.min(min_refetch)),
            issuers: Mutex::new(HashMap::new()),
            counts: Mutex::new(FetchCounts::default()),
        }
    }

    pub(super) fn counts(&self) -> FetchCounts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry(&self, issuer: &str) -> Arc<IssuerEntry> {
        let mut map = self.issuers.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(issuer.to_owned()).or_default())
    }

    fn fresh(&self, set: &KeySet, now: DateTime<Utc>) -> bool {
        within(set.fetched_at, now, self.ttl)
    }

    async fn fetch(
        &self,
        issuer: &str,
        state: &mut RefreshState,
        now: DateTime<Utc>,
    ) -> Result<Arc<KeySet>, FetchFailure> {
        let jwks_uri = match &state.jwks_uri {
            Some((uri, at)) if within(*at, now, self.ttl) => uri.clone(),
            _ => {
                let uri = self.discover(issuer).await?;
                state.jwks_uri = Some((uri.clone(), now));
                uri
            }
        };
        self.bump(|c| c.jwks += 1);
        let jwks = match self.http.get_json_object(&jwks_uri).await {
            Ok(jwks) => jwks,
            Err(failure) => {
                // The JWKS may have moved: read discovery again next time.
                state.jwks_uri = None;
                return Err(with_context("its JWKS", failure));
            }
        };
        let Some(Value::Array(entries)) = jwks.get("keys") else {
            return Err(FetchFailure("its JWKS has no \"keys\" array".into()));
        };
        // Each key's `DecodingKey` is built here, once per fetch.
        let set = KeySet::from_jwks(entries, now);
        tracing::debug!(issuer, keys = set.len(), "fetched upstream JWKS");
        Ok(Arc::new(set))
    }

    /// Read `<issuer>/.well-known/openid-configuration`: its `issuer` must be
    /// the issuer asked about (OpenID Connect Discovery §4.3); return its
    /// `jwks_uri`.
    async fn discover(&self, issuer: &str) -> Result<Url, FetchFailure> {
        let url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .map_err(|_| FetchFailure("its issuer is not a URL".into()))?;
        self.bump(|c| c.discovery += 1);
        let doc = self
            .http
            .get_json_object(&url)
            .await
            .map_err(|f| with_context("its discovery document", f))?;
        let named = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            tracing::warn!(issuer, named, "discovery document names another issuer");
            return Err(FetchFailure(
                "its discovery document names another issuer".into(),
            ));
        }
        doc.get("jwks_uri")
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| FetchFailure("its discovery document has no usable jwks_uri".into()))
    }

    fn bump(&self, f: impl FnOnce(&mut FetchCounts)) {
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

#[async_trait]
impl IssuerKeys for KeyCache {
    /// The issuer's keys, fetched or refetched as the policy allows, for a
    /// token with `kid` and `alg`. The caller looks for its key in the
    /// answer; an answer without it means "no such key" (refetching was
    /// tried or is not allowed yet). Errors: the provider could not be
    /// asked, or answered unusably.
    async fn keys(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: Alg,
        clock: &dyn Clock,
    ) -> Result<Arc<KeySet>, FetchFailure> {
        let entry = self.entry(issuer);
        let usable = |set: &Option<Arc<KeySet>>, now| {
            set.as_ref()
                .filter(|s| self.fresh(s, now) && !s.candidates(kid, alg).is_empty())
                .cloned()
        };
        if let Some(set) = usable(&entry.current(), clock.now()) {
            return Ok(set);
        }
        let mut state = entry.refresh.lock().await;
        // Someone else may have refetched while we waited.
        let now = clock.now();
        let current = entry.current();
        if let Some(set) = usable(&current, now) {
            return Ok(set);
        }
        let fresh = current.as_ref().filter(|s| self.fresh(s, now)).cloned();
        match &fresh {
            // Fresh keys, but not this one: refetch at a bounded rate.
            Some(set) => {
                if state
                    .last_attempt
                    .is_some_and(|at| within(at, now, self.min_refetch))
                {
                    return Ok(Arc::clone(set));
                }
            }
            // No keys, or too old: fetch, unless the last try just failed.
            None => {
                if let Some((at, failure)) = &state.last_failure {
                    if within(*at, now, self.failure_backoff) {
                        return Err(failure.clone());
                    }
                }
            }
        }
        state.last_attempt = Some(now);
        // A full refresh (TTL) re-reads discovery too; an unknown-kid
        // refetch re-reads only the JWKS.
        if fresh.is_none() {
            state.jwks_uri = None;
        }
        match self.fetch(issuer, &mut state, now).await {
            Ok(set) => {
                state.last_failure = None;
                *entry.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&set));
                Ok(set)
            }
            Err(failure) => {
                state.last_failure = Some((now, failure.clone()));
                Err(failure)
            }
        }
    }
}

fn with_context(what: &str, failure: FetchFailure) -> FetchFailure {
    FetchFailure(format!("{what}: {}", failure.0))
}
