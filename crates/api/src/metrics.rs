//! Prometheus metrics: requests by operation and outcome code, latency,
//! calls refused over quota or at admission, the audit buffer, the
//! database's availability, the signing key's age, the runtimes' threads
//! ([`crate::runtime_metrics`]), and the process.
//!
//! The lower crates keep their own collectors (the store's pool, the token
//! crate's identity-provider and STS calls); [`Metrics::register`] adds
//! them to this registry. Series whose labels are known in advance exist
//! from the start at zero, so a rate over them sees the first event.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::admission::Class;
/// Why a request was refused before it ran: the `reason` label of
/// `cognate_admission_rejected_total`, defined by [`crate::admission`].
pub use crate::admission::Rejection;

/// The service's metrics, registered in their own registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    throttled: IntCounterVec,
    latency: HistogramVec,
    audit_buffered: IntGauge,
    audit_written: IntCounter,
    audit_dropped: IntCounter,
    failover_waits: IntCounterVec,
    db_up: IntGauge,
    admission_rejected: IntCounterVec,
    quota_leases: IntCounterVec,
    saturated: IntGauge,
    open_connections: IntGauge,
    key_age: Gauge,
    key_rotation_due: Gauge,
    runtimes: crate::runtime_metrics::Runtimes,
}

fn rejection_label(reason: Rejection) -> &'static str {
    match reason {
        Rejection::Budget => "budget",
        Rejection::BodyBudget => "body_budget",
        Rejection::ClientShare => "client_share",
        Rejection::UnknownIds => "unknown_ids",
    }
}

/// How a lease of quota tokens from the shared bucket went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Tokens were granted.
    Granted,
    /// The shared bucket was empty.
    Empty,
    /// The lease failed (no database): the local bucket alone counts.
    Failed,
}

impl LeaseOutcome {
    fn label(self) -> &'static str {
        match self {
            LeaseOutcome::Granted => "granted",
            LeaseOutcome::Empty => "empty",
            LeaseOutcome::Failed => "failed",
        }
    }
}

fn class_label(class: Class) -> &'static str {
    match class {
        Class::Public => "public",
        Class::Signed => "signed",
    }
}

/// A count as an integer gauge's value.
pub(crate) fn gauge_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Makes metrics and registers each in one registry.
struct Registering<'a>(&'a Registry);

impl Registering<'_> {
    /// `metric`, registered.
    fn add<M: Collector + Clone + 'static>(&self, metric: M) -> Result<M, prometheus::Error> {
        self.0.register(Box::new(metric.clone()))?;
        Ok(metric)
    }

    /// A collector that is not cloned, registered.
    fn add_collector(&self, collector: impl Collector + 'static) -> Result<(), prometheus::Error> {
        self.0.register(Box::new(collector))
    }

    fn gauge(&self, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
        self.add(IntGauge::new(name, help)?)
    }

    fn float_gauge(&self, name: &str, help: &str) -> Result<Gauge, prometheus::Error> {
        self.add(Gauge::new(name, help)?)
    }

    fn counter(&self, name: &str, help: &str) -> Result<IntCounter, prometheus::Error> {
        self.add(IntCounter::new(name, help)?)
    }

    /// Counters by `labels`.
    fn counters(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, prometheus::Error> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels)?)
    }
}

impl Metrics {
    /// Create and register the metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reg = Registering(&registry);
        let metrics = Metrics {
            requests: reg.counters(
                "cognate_requests_total",
                "API requests by operation and outcome (an AWS error code, or OK).",
                &["operation", "code"],
            )?,
            throttled: reg.counters(
                "cognate_throttled_requests_total",
                "Requests refused with TooManyRequestsException, by the account whose quota was exceeded and operation.",
                &["account", "operation"],
            )?,
            latency: reg.add(HistogramVec::new(
                HistogramOpts::new(
                    "cognate_request_duration_seconds",
                    "API request latency by operation, from body read to response.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
                &["operation"],
            )?)?,
            audit_buffered: reg.gauge(
                "cognate_audit_events_buffered",
                "Audit records waiting to be written to the database.",
            )?,
            audit_written: reg.counter(
                "cognate_audit_events_written_total",
                "Audit records written to the database by the batch writer.",
            )?,
            audit_dropped: reg.counter(
                "cognate_audit_events_dropped_total",
                "Audit records that could not be kept (the buffer was full, or the database stayed away through a shutdown).",
            )?,
            failover_waits: reg.counters(
                "cognate_db_failover_waits_total",
                "Calls that waited for a lost database to come back, by outcome (recovered, timed_out).",
                &["outcome"],
            )?,
            db_up: reg.gauge(
                "cognate_db_up",
                "1 while a writable PostgreSQL is reachable, 0 while the instance waits for one.",
            )?,
            admission_rejected: reg.counters(
                "cognate_admission_rejected_total",
                "Requests refused at admission, by class and reason.",
                &["class", "reason"],
            )?,
            quota_leases: reg.counters(
                "cognate_quota_leases_total",
                "Leases of shared quota tokens from PostgreSQL, by outcome.",
                &["outcome"],
            )?,
            saturated: reg.gauge(
                "cognate_saturated",
                "1 while /readyz reports the instance saturated, else 0.",
            )?,
            open_connections: reg.gauge(
                "cognate_open_connections",
                "Open client connections of the API listener.",
            )?,
            key_age: reg.float_gauge(
                "cognate_signing_key_age_seconds",
                "Age of the key that signs now (since it began signing).",
            )?,
            key_rotation_due: reg.float_gauge(
                "cognate_signing_key_rotation_due_seconds",
                "Seconds until the signing key is due for rotation; negative when overdue.",
            )?,
            runtimes: crate::runtime_metrics::Runtimes::default(),
            registry: registry.clone(),
        };
        reg.add_collector(crate::runtime_metrics::RuntimeCollector::new(
            metrics.runtimes.clone(),
        )?)?;
        // Series whose labels are known in advance, at zero from the start.
        for class in [Class::Public, Class::Signed] {
            for reason in [
                Rejection::Budget,
                Rejection::BodyBudget,
                Rejection::ClientShare,
                Rejection::UnknownIds,
            ] {
                metrics
                    .admission_rejected
                    .with_label_values(&[class_label(class), rejection_label(reason)]);
            }
        }
        for outcome in [
            LeaseOutcome::Granted,
            LeaseOutcome::Empty,
            LeaseOutcome::Failed,
        ] {
            metrics.quota_leases.with_label_values(&[outcome.label()]);
        }
        for outcome in ["recovered", "timed_out"] {
            metrics.failover_waits.with_label_values(&[outcome]);
        }
        let build_info = reg.add(IntGaugeVec::new(
            Opts::new("cognate_build_info", "Build information; always 1."),
            &["version"],
        )?)?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Count `runtime`'s threads in the `runtime` label's `group` of the
    /// `cognate_runtime_*` metrics (`calls`, `http`); once per runtime.
    pub fn watch_runtime(&self, group: &'static str, runtime: tokio::runtime::Handle) {
        self.runtimes.watch(group, runtime);
    }

    /// Add another crate's collectors (the store's, the token crate's).
    pub fn register(&self, collectors: Vec<Box<dyn Collector>>) -> Result<(), prometheus::Error> {
        for collector in collectors {
            self.registry.register(collector)?;
        }
        Ok(())
    }

    /// One request refused at admission.
    pub fn rejected(&self, class: Class, reason: Rejection) {
        self.admission_rejected
            .with_label_values(&[class_label(class), rejection_label(reason)])
            .inc();
    }

    /// One lease from the shared quota bucket.
    pub fn lease(&self, outcome: LeaseOutcome) {
        self.quota_leases
            .with_label_values(&[outcome.label()])
            .inc();
    }

    /// Whether `/readyz` would report the instance saturated.
    pub fn saturated(&self, saturated: bool) {
        self.saturated.set(i64::from(saturated));
    }

    /// Open connections of the API listener.
    pub fn open_connections(&self, open: usize) {
        self.open_connections.set(gauge_count(open));
    }

    /// The signing key's age and the time to its rotation, in seconds.
    pub fn signing_key(&self, age: f64, rotation_due: f64) {
        self.key_age.set(age);
        self.key_rotation_due.set(rotation_due);
    }

    /// Count one request and its latency.
    pub fn observe(&self, operation: &str, code: &str, seconds: f64) {
        self.requests.with_label_values(&[operation, code]).inc();
        self.latency
            .with_label_values(&[operation])
            .observe(seconds);
    }

    /// Count one call refused over `account`'s quota for `operation`.
    pub fn throttled(&self, account: &str, operation: &str) {
        self.throttled
            .with_label_values(&[account, operation])
            .inc();
    }

    /// Audit records waiting to be written now.
    pub fn audit_buffered(&self, records: usize) {
        self.audit_buffered.set(gauge_count(records));
    }

    /// Audit records written.
    pub fn audit_written(&self, records: u64) {
        self.audit_written.inc_by(records);
    }

    /// Audit records dropped.
    pub fn audit_dropped(&self, records: u64) {
        self.audit_dropped.inc_by(records);
    }

    /// One call waited for a lost database; whether it came back in time.
    pub fn failover_wait(&self, recovered: bool) {
        let outcome = if recovered { "recovered" } else { "timed_out" };
        self.failover_waits.with_label_values(&[outcome]).inc();
    }

    /// Whether a writable database is reachable.
    pub fn db_up(&self, up: bool) {
        self.db_up.set(i64::from(up));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %err, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
