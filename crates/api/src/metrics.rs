//! Prometheus metrics: requests by operation and outcome code, latency,
//! and calls refused over quota by account and operation.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

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
}

impl Metrics {
    /// Create and register the metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "cognate_requests_total",
                "API requests by operation and outcome (an AWS error code, or OK).",
            ),
            &["operation", "code"],
        )?;
        let throttled = IntCounterVec::new(
            Opts::new(
                "cognate_throttled_requests_total",
                "Requests refused with TooManyRequestsException, by the account whose quota was exceeded and operation.",
            ),
            &["account", "operation"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "cognate_request_duration_seconds",
                "API request latency by operation, from body read to response.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["operation"],
        )?;
        let audit_buffered = IntGauge::new(
            "cognate_audit_events_buffered",
            "Audit records waiting to be written to the database.",
        )?;
        let audit_written = IntCounter::new(
            "cognate_audit_events_written_total",
            "Audit records written to the database by the batch writer.",
        )?;
        let audit_dropped = IntCounter::new(
            "cognate_audit_events_dropped_total",
            "Audit records that could not be kept (the buffer was full, or the database stayed away through a shutdown).",
        )?;
        let failover_waits = IntCounterVec::new(
            Opts::new(
                "cognate_db_failover_waits_total",
                "Calls that waited for a lost database to come back, by outcome (recovered, timed_out).",
            ),
            &["outcome"],
        )?;
        let db_up = IntGauge::new(
            "cognate_db_up",
            "1 while a writable PostgreSQL is reachable, 0 while the instance waits for one.",
        )?;
        registry.register(Box::new(failover_waits.clone()))?;
        registry.register(Box::new(db_up.clone()))?;
        registry.register(Box::new(audit_buffered.clone()))?;
        registry.register(Box::new(audit_written.clone()))?;
        registry.register(Box::new(audit_dropped.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(throttled.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            throttled,
            latency,
            audit_buffered,
            audit_written,
            audit_dropped,
            failover_waits,
            db_up,
        })
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
        self.audit_buffered
            .set(i64::try_from(records).unwrap_or(i64::MAX));
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
