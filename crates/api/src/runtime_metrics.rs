//! The runtime's own figures on `/metrics`: how busy the threads that run
//! the calls' database work and signing are, and how many tasks wait for
//! one. The request counters say what was asked; these say whether the
//! instance's CPU kept up (Tokio's stable runtime metrics, read at each
//! scrape).

use std::sync::Mutex;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, IntGauge};

/// Collects the figures of one Tokio runtime at each scrape.
#[derive(Debug)]
pub struct RuntimeCollector {
    runtime: tokio::runtime::Handle,
    workers: IntGauge,
    alive_tasks: IntGauge,
    queue_depth: IntGauge,
    busy: Counter,
    /// Busy seconds already counted: two scrapes at once add each second
    /// once.
    counted: Mutex<f64>,
    descs: Vec<Desc>,
}

impl RuntimeCollector {
    /// The collector of `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> Result<Self, prometheus::Error> {
        let workers = IntGauge::new(
            "cognate_runtime_workers",
            "Worker threads of the runtime that runs the calls' database work and signing.",
        )?;
        let alive_tasks = IntGauge::new(
            "cognate_runtime_alive_tasks",
            "Tasks alive on that runtime (calls in progress, background work).",
        )?;
        let queue_depth = IntGauge::new(
            "cognate_runtime_global_queue_depth",
            "Tasks waiting in that runtime's shared queue for a worker thread; above zero \
             scrape after scrape, the instance's CPU does not keep up.",
        )?;
        let busy = Counter::new(
            "cognate_runtime_busy_seconds_total",
            "Time that runtime's worker threads spent running tasks, summed over the workers; \
             its rate divided by cognate_runtime_workers is their busy share.",
        )?;
        let descs = [
            workers.desc(),
            alive_tasks.desc(),
            queue_depth.desc(),
            busy.desc(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        Ok(RuntimeCollector {
            runtime,
            workers,
            alive_tasks,
            queue_depth,
            busy,
            counted: Mutex::new(0.0),
            descs,
        })
    }
}

impl Collector for RuntimeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let metrics = self.runtime.metrics();
        let workers = metrics.num_workers();
        self.workers.set(i64::try_from(workers).unwrap_or(i64::MAX));
        self.alive_tasks
            .set(i64::try_from(metrics.num_alive_tasks()).unwrap_or(i64::MAX));
        self.queue_depth
            .set(i64::try_from(metrics.global_queue_depth()).unwrap_or(i64::MAX));
        let busy: f64 = (0..workers)
            .map(|worker| metrics.worker_total_busy_duration(worker).as_secs_f64())
            .sum();
        {
            let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
            if busy > *counted {
                self.busy.inc_by(busy - *counted);
                *counted = busy;
            }
        }
        [
            self.workers.collect(),
            self.alive_tasks.collect(),
            self.queue_depth.collect(),
            self.busy.collect(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_s_workers_and_busy_time_are_exposed_and_the_busy_time_only_grows() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(
                RuntimeCollector::new(runtime.handle().clone()).unwrap(),
            ))
            .unwrap();
        // Keep both workers busy for a while.
        runtime.block_on(async {
            let spins: Vec<_> = (0..2)
                .map(|_| {
                    tokio::spawn(async {
                        let until =
                            std::time::Instant::now() + std::time::Duration::from_millis(50);
                        while std::time::Instant::now() < until {
                            std::hint::spin_loop();
                        }
                    })
                })
                .collect();
            for spin in spins {
                spin.await.unwrap();
            }
        });
        // The text each scrape gets; the value of series `name`.
        let value = |name: &str| -> f64 {
            let mut text = Vec::new();
            prometheus::Encoder::encode(
                &prometheus::TextEncoder::new(),
                &registry.gather(),
                &mut text,
            )
            .unwrap();
            let text = String::from_utf8(text).unwrap();
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
                .parse()
                .unwrap()
        };
        assert_eq!(value("cognate_runtime_workers"), 2.0);
        assert_eq!(value("cognate_runtime_global_queue_depth"), 0.0);
        // A worker reports its busy time when it next parks.
        let waited = std::time::Instant::now();
        let mut busy = value("cognate_runtime_busy_seconds_total");
        while busy < 0.1 && waited.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
            busy = value("cognate_runtime_busy_seconds_total");
        }
        assert!(busy >= 0.1, "both 50 ms of spinning were counted: {busy}");
        let again = value("cognate_runtime_busy_seconds_total");
        assert!(again >= busy, "{again} after {busy}");
        assert!(
            again < 2.0 * busy,
            "not counted twice: {again} after {busy}"
        );
    }
}
