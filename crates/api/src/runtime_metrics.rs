//! The runtimes' own figures on `/metrics`: how busy the threads are, and
//! how many tasks wait for one, for each group of threads (`runtime`
//! label): `calls`, the service's multi-thread runtime that runs the
//! calls' database work and signing, and `http`, the HTTP workers (one
//! single-thread runtime each) that parse requests, run TLS handshakes and
//! write answers. The request counters say what was asked; these say
//! whether the instance's CPU kept up (Tokio's stable runtime metrics, read
//! at each scrape).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, IntGaugeVec, Opts};

/// The runtimes watched, by group; shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct Runtimes(Arc<Mutex<Vec<Watched>>>);

#[derive(Debug)]
struct Watched {
    group: &'static str,
    /// The thread that asked, for a single-thread runtime (an HTTP worker
    /// asks from its own thread, once per listener).
    thread: Option<ThreadId>,
    handle: tokio::runtime::Handle,
}

impl Runtimes {
    /// Count `handle`'s threads in `group` (once per runtime).
    pub fn watch(&self, group: &'static str, handle: tokio::runtime::Handle) {
        let thread = match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => Some(std::thread::current().id()),
            _ => None,
        };
        let mut watched = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !watched
            .iter()
            .any(|w| w.group == group && w.thread == thread)
        {
            watched.push(Watched {
                group,
                thread,
                handle,
            });
        }
    }
}

/// One group's figures, summed over its runtimes.
#[derive(Debug, Default)]
struct Figures {
    workers: usize,
    alive_tasks: usize,
    queue_depth: usize,
    busy_seconds: f64,
}

/// Collects the watched runtimes' figures at each scrape.
#[derive(Debug)]
pub struct RuntimeCollector {
    runtimes: Runtimes,
    workers: IntGaugeVec,
    alive_tasks: IntGaugeVec,
    queue_depth: IntGaugeVec,
    busy: CounterVec,
    /// Busy seconds already counted, by group: two scrapes at once add
    /// each second once.
    counted: Mutex<HashMap<&'static str, f64>>,
    descs: Vec<Desc>,
}

impl RuntimeCollector {
    /// The collector of the runtimes `runtimes` watches (now and later).
    pub fn new(runtimes: Runtimes) -> Result<Self, prometheus::Error> {
        let workers = IntGaugeVec::new(
            Opts::new(
                "cognate_runtime_workers",
                "Worker threads, by group: calls (database work and signing), http (requests, TLS).",
            ),
            &["runtime"],
        )?;
        let alive_tasks = IntGaugeVec::new(
            Opts::new(
                "cognate_runtime_alive_tasks",
                "Tasks alive on the group's runtimes (calls and connections in progress, background work).",
            ),
            &["runtime"],
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "cognate_runtime_global_queue_depth",
                "Tasks waiting in the group's shared queues for a thread; above zero scrape after \
                 scrape, the instance's CPU does not keep up.",
            ),
            &["runtime"],
        )?;
        let busy = CounterVec::new(
            Opts::new(
                "cognate_runtime_busy_seconds_total",
                "Time the group's worker threads spent running tasks, summed over the threads; \
                 its rate divided by cognate_runtime_workers is their busy share.",
            ),
            &["runtime"],
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
            runtimes,
            workers,
            alive_tasks,
            queue_depth,
            busy,
            counted: Mutex::new(HashMap::new()),
            descs,
        })
    }

    /// Each group's figures now.
    fn figures(&self) -> HashMap<&'static str, Figures> {
        let watched = self.runtimes.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut groups: HashMap<&'static str, Figures> = HashMap::new();
        for runtime in watched.iter() {
            let metrics = runtime.handle.metrics();
            let figures = groups.entry(runtime.group).or_default();
            let workers = metrics.num_workers();
            figures.workers += workers;
            figures.alive_tasks += metrics.num_alive_tasks();
            figures.queue_depth += metrics.global_queue_depth();
            figures.busy_seconds += (0..workers)
                .map(|worker| metrics.worker_total_busy_duration(worker).as_secs_f64())
                .sum::<f64>();
        }
        groups
    }
}

impl Collector for RuntimeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let groups = self.figures();
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        for (group, figures) in &groups {
            let labels = [*group];
            self.workers
                .with_label_values(&labels)
                .set(crate::metrics::gauge_count(figures.workers));
            self.alive_tasks
                .with_label_values(&labels)
                .set(crate::metrics::gauge_count(figures.alive_tasks));
            self.queue_depth
                .with_label_values(&labels)
                .set(crate::metrics::gauge_count(figures.queue_depth));
            let before = counted.entry(group).or_insert(0.0);
            if figures.busy_seconds > *before {
                self.busy
                    .with_label_values(&labels)
                    .inc_by(figures.busy_seconds - *before);
                *before = figures.busy_seconds;
            }
        }
        drop(counted);
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

    /// Spin on `runtime` for `each` in `tasks` tasks at once.
    fn spin(runtime: &tokio::runtime::Runtime, tasks: usize, each: std::time::Duration) {
        runtime.block_on(async {
            let spins: Vec<_> = (0..tasks)
                .map(|_| {
                    tokio::spawn(async move {
                        let until = std::time::Instant::now() + each;
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
    }

    #[test]
    fn each_group_s_workers_and_busy_time_are_exposed_and_the_busy_time_only_grows() {
        let calls = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let runtimes = Runtimes::default();
        runtimes.watch("calls", calls.handle().clone());
        runtimes.watch("calls", calls.handle().clone());
        // Two single-thread runtimes on threads of their own, as the HTTP
        // workers are; each watched twice from its thread.
        let watcher = runtimes.clone();
        let http: Vec<_> = (0..2)
            .map(|_| {
                let watcher = watcher.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    watcher.watch("http", runtime.handle().clone());
                    watcher.watch("http", runtime.handle().clone());
                    spin(&runtime, 1, std::time::Duration::from_millis(30));
                    runtime
                })
            })
            .collect();
        let http: Vec<_> = http.into_iter().map(|t| t.join().unwrap()).collect();
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(RuntimeCollector::new(runtimes).unwrap()))
            .unwrap();
        spin(&calls, 2, std::time::Duration::from_millis(50));
        // The text a scrape gets; the value of series `name`.
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
        assert_eq!(value("cognate_runtime_workers{runtime=\"calls\"}"), 2.0);
        assert_eq!(value("cognate_runtime_workers{runtime=\"http\"}"), 2.0);
        assert_eq!(
            value("cognate_runtime_global_queue_depth{runtime=\"calls\"}"),
            0.0
        );
        let calls_busy = "cognate_runtime_busy_seconds_total{runtime=\"calls\"}";
        // A worker reports its busy time when it next parks.
        let waited = std::time::Instant::now();
        let mut busy = value(calls_busy);
        while busy < 0.1 && waited.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
            busy = value(calls_busy);
        }
        assert!(busy >= 0.1, "both 50 ms of spinning were counted: {busy}");
        let again = value(calls_busy);
        assert!(again >= busy, "{again} after {busy}");
        assert!(
            again < 2.0 * busy,
            "not counted twice: {again} after {busy}"
        );
        let http_busy = value("cognate_runtime_busy_seconds_total{runtime=\"http\"}");
        assert!(
            http_busy >= 0.06,
            "both HTTP runtimes' spinning: {http_busy}"
        );
        drop(http);
    }
}
