//! Metrics of the database pool: connections by state, the time to get
//! one, and operations that found no writable database.
//!
//! The acquire histogram and the unavailable counter are process-wide (one
//! pool per process); the connection gauge reads a store's pool at each
//! scrape ([`PoolCollector`]).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGaugeVec, Opts};

static ACQUIRE: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(
        HistogramOpts::new(
            "cognate_db_pool_acquire_duration_seconds",
            "Time to get a pooled database connection (for a public call, a place in the public share of the pool first) and begin a transaction on it.",
        )
        .buckets(vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0,
        ]),
    )
    .expect("a valid histogram")
});

static UNAVAILABLE: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new(
        "cognate_db_unavailable_total",
        "Database operations that failed for lack of a reachable writable database.",
    )
    .expect("a valid counter")
});

/// A connection was had after `took`.
pub(crate) fn acquired(took: Duration) {
    ACQUIRE.observe(took.as_secs_f64());
}

/// An operation found no writable database.
pub(crate) fn unavailable() {
    UNAVAILABLE.inc();
}

/// Reads the pool's connections at each scrape:
/// `cognate_db_pool_connections{state="idle"|"in_use"|"max"}`.
#[derive(Debug, Clone)]
pub struct PoolCollector {
    pool: sqlx::PgPool,
    max: u32,
    gauge: IntGaugeVec,
}

impl PoolCollector {
    pub(crate) fn new(pool: sqlx::PgPool, max: u32) -> Self {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "cognate_db_pool_connections",
                "Pooled database connections by state (idle, in_use; max is the bound).",
            ),
            &["state"],
        )
        .expect("a valid gauge");
        PoolCollector { pool, max, gauge }
    }
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let size = i64::from(self.pool.size());
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(i64::MAX);
        self.gauge.with_label_values(&["idle"]).set(idle);
        self.gauge
            .with_label_values(&["in_use"])
            .set((size - idle).max(0));
        self.gauge
            .with_label_values(&["max"])
            .set(i64::from(self.max));
        self.gauge.collect()
    }
}

/// The store's process-wide collectors, to register in the service's
/// registry with its store's [`PoolCollector`].
pub fn collectors() -> Vec<Box<dyn Collector>> {
    vec![Box::new(ACQUIRE.clone()), Box::new(UNAVAILABLE.clone())]
}
