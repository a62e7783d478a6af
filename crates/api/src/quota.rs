//! Request-rate quotas per account and operation, one quota for the
//! account whatever instance serves it.
//!
//! # Design
//!
//! Each (account, operation) with a limit (`rate` requests/s, `burst` =
//! one second's worth, see [`cognate_domain::quota::Limit`]) has two
//! buckets:
//!
//! - a **local** GCRA bucket (`governor`) with the full quota. It refuses
//!   a flood without any I/O, and it is what still holds (per instance)
//!   if the database cannot be reached: quotas then fail open to the
//!   instance-local limit instead of failing the call.
//! - the **shared** token bucket, a row in PostgreSQL (`quota_buckets`),
//!   which makes the quota one for the account across all instances. An
//!   instance does not ask it for every request: it *leases* tokens in
//!   chunks of `max(1, rate/10)` with one atomic `UPDATE … RETURNING` that
//!   refills the row from its stored `tokens` and `updated_at` (database
//!   time) and takes what it can. The leased tokens are then spent locally.
//!   When the shared bucket is empty, the UPDATE says how many (fractional)
//!   tokens are left, so the instance knows until when it will be empty and
//!   refuses locally until then, without touching the database.
//!
//! Why this shape: every admitted request still comes out of the shared
//! bucket, so all instances together admit at most `burst + rate × t`
//! (the bound is exact, not statistical); a lease costs one round trip
//! per chunk, so the database sees about ten statements per second per
//! busy (account, operation) whatever the request rate; and the only
//! error is on the low side: tokens leased but not yet spent by an
//! instance (at most one chunk each), which is why the chunk is small
//! (a tenth of a second of quota). No peer-to-peer protocol, no sticky
//! sessions.
//!
//! # Whose quota
//!
//! A signed call counts against the account of its access key. An unsigned
//! call counts against the account owning what it names, which
//! [`crate::owners`] finds (and remembers). A call refused over quota does
//! none of its operation's database work: it is refused by the local
//! bucket, or by the remembered "empty until", with no I/O; only the one
//! lease that finds the shared bucket empty is a statement.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cognate_domain::ids::AccountId;
use cognate_domain::quota::{Limit, QuotaLedger, QuotaTable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::metrics::{LeaseOutcome, Metrics};

/// How long an instance spends on its local buckets alone after a lease
/// failed (database unreachable), before it tries to lease again.
const DEGRADED_RETRY: Duration = Duration::from_secs(1);

/// The answer of [`Quotas::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within quota (or no quota applies).
    Admitted,
    /// Over quota: answer `TooManyRequestsException`.
    Refused,
}

/// The quota enforcement of one instance.
pub struct Quotas {
    table: QuotaTable,
    ledger: Arc<dyn QuotaLedger>,
    buckets: Mutex<HashMap<(AccountId, String), Arc<Bucket>>>,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

struct Bucket {
    limit: Limit,
    local: DefaultDirectRateLimiter,
    shared: tokio::sync::Mutex<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Tokens leased from the shared bucket and not spent yet.
    leased: u32,
    /// The shared bucket is empty until then: refuse without asking.
    empty_until: Option<Instant>,
    /// The last lease failed: admit on the local bucket alone until then.
    degraded_until: Option<Instant>,
}

impl Bucket {
    fn new(limit: Limit) -> Self {
        let rate = NonZeroU32::new(limit.rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        Bucket {
            limit,
            local: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            shared: tokio::sync::Mutex::new(Shared::default()),
        }
    }

    /// Tokens asked for per lease: a tenth of a second of quota, at least 1.
    fn chunk(&self) -> u32 {
        (self.limit.rate / 10).max(1)
    }
}

impl Quotas {
    /// Enforce `table`, sharing buckets through `ledger`.
    pub fn new(table: QuotaTable, ledger: Arc<dyn QuotaLedger>) -> Self {
        Quotas {
            table,
            ledger,
            buckets: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Count leases in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn leased(&self, outcome: LeaseOutcome) {
        if let Some(metrics) = &self.metrics {
            metrics.lease(outcome);
        }
    }

    /// Count one call of `operation` against `account`'s quota.
    pub async fn admit(&self, account: &AccountId, operation: &str) -> Admission {
        let Some(limit) = self.table.limit(account, operation) else {
            return Admission::Admitted;
        };
        let bucket = self.bucket(account, operation, limit);
        if bucket.local.check().is_err() {
            return Admission::Refused;
        }
        let mut shared = bucket.shared.lock().await;
        if shared.leased > 0 {
            shared.leased -= 1;
            return Admission::Admitted;
        }
        let now = Instant::now();
        if shared.degraded_until.is_some_and(|t| now < t) {
            return Admission::Admitted;
        }
        if shared.empty_until.is_some_and(|t| now < t) {
            return Admission::Refused;
        }
        match self
            .ledger
            .lease(account, operation, limit, bucket.chunk())
            .await
        {
            Ok(lease) if lease.granted > 0 => {
                self.leased(LeaseOutcome::Granted);
                shared.leased = lease.granted - 1;
                shared.empty_until = None;
                shared.degraded_until = None;
                Admission::Admitted
            }
            Ok(lease) => {
                self.leased(LeaseOutcome::Empty);
                // Until the bucket holds one whole token again.
                let missing = (1.0 - lease.left).clamp(0.0, 1.0);
                let wait = Duration::from_secs_f64(missing / f64::from(limit.rate))
                    .max(Duration::from_millis(1));
                shared.empty_until = Some(now + wait);
                shared.degraded_until = None;
                Admission::Refused
            }
            Err(err) => {
                self.leased(LeaseOutcome::Failed);
                tracing::warn!(
                    error = %err,
                    account = %account,
                    operation,
                    "quota: leasing from the shared bucket failed; enforcing the local bucket alone"
                );
                shared.degraded_until = Some(now + DEGRADED_RETRY);
                Admission::Admitted
            }
        }
    }

    fn bucket(&self, account: &AccountId, operation: &str, limit: Limit) -> Arc<Bucket> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buckets
            .entry((account.clone(), operation.to_owned()))
            .or_insert_with(|| Arc::new(Bucket::new(limit)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use cognate_domain::ports::StoreError;
    use cognate_domain::quota::Lease;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A shared bucket that never refills: exactly `tokens` in all.
    struct Fixed {
        tokens: Mutex<u32>,
        leases: AtomicU32,
    }

    #[async_trait]
    impl QuotaLedger for Fixed {
        async fn lease(
            &self,
            _: &AccountId,
            _: &str,
            _: Limit,
            want: u32,
        ) -> Result<Lease, StoreError> {
            self.leases.fetch_add(1, Ordering::SeqCst);
            let mut tokens = self.tokens.lock().unwrap();
            let granted = want.min(*tokens);
            *tokens -= granted;
            Ok(Lease { granted, left: 0.0 })
        }
    }

    fn quotas(rate: u32, shared: u32) -> (Quotas, Arc<Fixed>) {
        let ledger = Arc::new(Fixed {
            tokens: Mutex::new(shared),
            leases: AtomicU32::new(0),
        });
        let table = QuotaTable::new(HashMap::from([("GetId".to_owned(), rate)]));
        (Quotas::new(table, ledger.clone()), ledger)
    }

    /// How many of `calls` GetId calls of one account `q` admits.
    async fn admitted(q: &Quotas, calls: u32) -> u32 {
        let account = AccountId::parse("7").unwrap();
        let mut admitted = 0;
        for _ in 0..calls {
            if q.admit(&account, "GetId").await == Admission::Admitted {
                admitted += 1;
            }
        }
        admitted
    }

    #[tokio::test]
    async fn admissions_stop_when_the_shared_bucket_is_empty_and_refusals_do_not_ask_again() {
        let (q, ledger) = quotas(100, 30);
        assert_eq!(admitted(&q, 100).await, 30);
        // Chunks of 10 for 30 tokens, one empty answer, then local
        // refusals (for 10 ms; a slow machine may ask once or twice more).
        assert!(ledger.leases.load(Ordering::SeqCst) < 10);
    }

    #[tokio::test]
    async fn the_local_bucket_refuses_beyond_the_burst_without_leasing() {
        let (q, ledger) = quotas(5, 1_000);
        assert_eq!(admitted(&q, 50).await, 5);
        assert_eq!(ledger.leases.load(Ordering::SeqCst), 5);
    }
}
