//! Metrics of the calls Cognate makes to others: identity providers
//! (discovery, JWKS, token info, SAML metadata) and the STS; and the trace
//! context they carry ([`trace_headers`]).
//!
//! They live in process-wide collectors (a process has one set of
//! destinations); the service registers them in its registry with
//! [`collectors`]. Labels name a destination by host, never by URL (a
//! URL's query may carry a token).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// The W3C trace context (`traceparent`, `tracestate`) of the current
/// span, for an outbound request: the destination's spans join the trace.
/// Empty when no trace is being recorded.
pub fn trace_headers() -> reqwest::header::HeaderMap {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut headers = reqwest::header::HeaderMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(
            &context,
            &mut opentelemetry_http::HeaderInjector(&mut headers),
        );
    });
    headers
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An identity provider, by host (and port, if not the scheme's).
    Upstream(String),
    /// The STS.
    Sts,
}

/// Why a call failed (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// No answer in time.
    Timeout,
    /// No connection, or it broke.
    Connect,
    /// The destination answered with a server error.
    Http5xx,
    /// An answer that could not be used (too large, unreadable).
    InvalidAnswer,
    /// Not made: the destination's concurrency bound was reached.
    Busy,
    /// Not made: the destination's circuit breaker is open.
    Paused,
}

impl FailKind {
    /// The kind of a transport failure.
    pub fn of(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            FailKind::Timeout
        } else {
            FailKind::Connect
        }
    }

    fn label(self) -> &'static str {
        match self {
            FailKind::Timeout => "timeout",
            FailKind::Connect => "connect",
            FailKind::Http5xx => "http_5xx",
            FailKind::InvalidAnswer => "invalid_answer",
            FailKind::Busy => "busy",
            FailKind::Paused => "paused",
        }
    }

    const ALL: [FailKind; 6] = [
        FailKind::Timeout,
        FailKind::Connect,
        FailKind::Http5xx,
        FailKind::InvalidAnswer,
        FailKind::Busy,
        FailKind::Paused,
    ];
}

/// How a call that was made ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A usable answer.
    Ok,
    /// The STS answered, refusing (a role or token it would not take).
    Refused,
    /// No usable answer.
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
        }
    }
}

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct Outbound {
    upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    upstream_paused: IntGaugeVec,
    sts_duration: HistogramVec,
    sts_errors: IntCounterVec,
    sts_paused: IntGauge,
}

static METRICS: LazyLock<Outbound> = LazyLock::new(|| {
    let histogram = |name: &str, help: &str, labels: &[&str]| {
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
            labels,
        )
        .expect("a valid histogram")
    };
    let counter = |name: &str, help: &str, labels: &[&str]| {
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter")
    };
    let metrics = Outbound {
        upstream_duration: histogram(
            "cognate_upstream_request_duration_seconds",
            "Requests to identity providers, by provider and outcome.",
            &["provider", "outcome"],
        ),
        upstream_errors: counter(
            "cognate_upstream_errors_total",
            "Failed requests to identity providers, by provider and kind.",
            &["provider", "kind"],
        ),
        upstream_paused: IntGaugeVec::new(
            Opts::new(
                "cognate_upstream_paused",
                "1 while a provider's circuit breaker is open.",
            ),
            &["provider"],
        )
        .expect("a valid gauge"),
        sts_duration: histogram(
            "cognate_sts_request_duration_seconds",
            "AssumeRoleWithWebIdentity calls by outcome.",
            &["outcome"],
        ),
        sts_errors: counter(
            "cognate_sts_errors_total",
            "Failed AssumeRoleWithWebIdentity calls, by kind.",
            &["kind"],
        ),
        sts_paused: IntGauge::new(
            "cognate_sts_paused",
            "1 while the STS circuit breaker is open.",
        )
        .expect("a valid gauge"),
    };
    // The STS's series exist from the start (at zero), so rates over them
    // see the first failure.
    for kind in FailKind::ALL {
        metrics.sts_errors.with_label_values(&[kind.label()]);
    }
    for outcome in [Outcome::Ok, Outcome::Refused, Outcome::Error] {
        metrics.sts_duration.with_label_values(&[outcome.label()]);
    }
    metrics
});

/// The collectors to register in the service's registry.
pub fn collectors() -> Vec<Box<dyn Collector>> {
    let m = &*METRICS;
    vec![
        Box::new(m.upstream_duration.clone()),
        Box::new(m.upstream_errors.clone()),
        Box::new(m.upstream_paused.clone()),
        Box::new(m.sts_duration.clone()),
        Box::new(m.sts_errors.clone()),
        Box::new(m.sts_paused.clone()),
    ]
}

impl Destination {
    /// Make the destination's series exist (at zero) before its first call.
    pub(crate) fn announce(&self) {
        if let Destination::Upstream(host) = self {
            let m = &*METRICS;
            for kind in FailKind::ALL {
                m.upstream_errors.with_label_values(&[host, kind.label()]);
            }
            m.upstream_paused.with_label_values(&[host]);
        }
    }

    /// A call made and ended.
    pub(crate) fn ended(&self, outcome: Outcome, took: Duration) {
        let m = &*METRICS;
        let seconds = took.as_secs_f64();
        match self {
            Destination::Upstream(host) => m
                .upstream_duration
                .with_label_values(&[host, outcome.label()])
                .observe(seconds),
            Destination::Sts => m
                .sts_duration
                .with_label_values(&[outcome.label()])
                .observe(seconds),
        }
    }

    /// A call that failed, or was not made.
    pub(crate) fn failed(&self, kind: FailKind) {
        let m = &*METRICS;
        match self {
            Destination::Upstream(host) => m
                .upstream_errors
                .with_label_values(&[host, kind.label()])
                .inc(),
            Destination::Sts => m.sts_errors.with_label_values(&[kind.label()]).inc(),
        }
    }

    /// The circuit breaker opened (`true`) or closed.
    pub(crate) fn paused(&self, paused: bool) {
        let m = &*METRICS;
        let value = i64::from(paused);
        match self {
            Destination::Upstream(host) => m.upstream_paused.with_label_values(&[host]).set(value),
            Destination::Sts => m.sts_paused.set(value),
        }
    }
}
