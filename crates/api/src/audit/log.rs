//! [`AuditLog`]: the records of calls that change nothing (and of refused
//! calls), written in batches off the request path.
//!
//! A request pushes its record into a bounded in-memory buffer and goes on;
//! one writer task takes up to `batch` records at a time (every
//! `flush_interval`, or at once when a batch is full) and writes them with
//! one statement ([`AuditStore::append`]). While the database cannot be
//! reached the records wait in the buffer and the writer retries with
//! back-off; a record that finds the buffer full is dropped, counted
//! (`cognate_audit_events_dropped_total`) and logged (once per 10 s).
//! [`AuditLog::close`] writes out everything buffered, on a clean shutdown.
//!
//! High-volume refusals are counted, not written one by one: every throttled
//! call (`TooManyRequestsException`), and every unsigned call naming an id
//! that exists nowhere (`ResourceNotFoundException`), adds to one record per
//! audience, operation, error, access key and minute, written when the
//! minute is over: `count` says how many calls it stands for,
//! `additionalEventData` the first and last time and up to
//! [`MAX_SAMPLED_IPS`] source addresses.
//!
//! Records the domain wrote with their change are written to the export
//! file only ([`AuditLog::stored`]), in the same order as the others.
//!
//! The writer also keeps the partitions: every hour it makes sure the days
//! from yesterday to a week ahead have one, and drops those older than
//! `retention_days`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use cognate_domain::audit::{Audience, AuditRecord, AuditStore};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::file::{ExportFile, FileOptions};
use super::{Call, Outcome};
use crate::metrics::Metrics;

/// Most source addresses an aggregated record lists.
pub const MAX_SAMPLED_IPS: usize = 5;

/// How often partitions are made ahead and old ones dropped.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

/// Longest pause between two write attempts while the database is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long [`AuditLog::close`] keeps trying to write what is buffered.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// `[audit]`.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Record the unsigned calls that change nothing (GetId,
    /// GetOpenIdToken, GetCredentialsForIdentity).
    pub public_calls: bool,
    /// Days of records kept.
    pub retention_days: u32,
    /// Most records waiting to be written.
    pub buffer_events: usize,
    /// Most records written by one statement.
    pub batch_events: usize,
    /// Longest a record waits before its batch is written.
    pub flush_interval: Duration,
    /// The export file, if any.
    pub file: Option<FileOptions>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            public_calls: true,
            retention_days: 90,
            buffer_events: 100_000,
            batch_events: 1_000,
            flush_interval: Duration::from_millis(200),
            file: None,
        }
    }
}

/// One buffered record; `stored`: written with its change already (file only).
#[derive(Debug)]
struct Entry {
    record: AuditRecord,
    stored: bool,
}

/// What aggregated refusals are counted by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TallyKey {
    audience: Audience,
    event_name: String,
    error_code: String,
    access_key_id: Option<String>,
    minute: i64,
}

#[derive(Debug)]
struct Tally {
    first: Call,
    message: String,
    count: u32,
    last: DateTime<Utc>,
    ips: Vec<IpAddr>,
}

struct Inner {
    store: Arc<dyn AuditStore>,
    options: AuditOptions,
    queue: Mutex<VecDeque<Entry>>,
    tallies: Mutex<HashMap<TallyKey, Tally>>,
    wake: Notify,
    closed: AtomicBool,
    file: Mutex<Option<ExportFile>>,
    metrics: Metrics,
    dropped: AtomicU64,
    last_drop_log: Mutex<Option<Instant>>,
}

/// The buffered audit writer; cheap to clone (clones share it).
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AuditLog {
    /// A log writing to `store`; its writer task is spawned on the current
    /// Tokio runtime. Opens the export file, if any.
    pub fn start(
        store: Arc<dyn AuditStore>,
        options: AuditOptions,
        metrics: Metrics,
    ) -> std::io::Result<Self> {
        let file = options.file.clone().map(ExportFile::open).transpose()?;
        let log = AuditLog {
            inner: Arc::new(Inner {
                store,
                options,
                queue: Mutex::new(VecDeque::new()),
                tallies: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                file: Mutex::new(file),
                metrics,
                dropped: AtomicU64::new(0),
                last_drop_log: Mutex::new(None),
            }),
        };
        tokio::spawn(writer(Arc::clone(&log.inner)));
        Ok(log)
    }

    /// Whether the unsigned calls that change nothing are recorded.
    pub fn public_calls(&self) -> bool {
        self.inner.options.public_calls
    }

    /// Buffer `record` to be written.
    pub fn push(&self, record: AuditRecord) {
        self.inner.enqueue(Entry {
            record,
            stored: false,
        });
    }

    /// `record` was written with its change: to the export file only.
    pub fn stored(&self, record: AuditRecord) {
        if lock(&self.inner.file).is_some() {
            self.inner.enqueue(Entry {
                record,
                stored: true,
            });
        }
    }

    /// Count a refused `call` into its minute's aggregated record.
    pub fn count_refusal(&self, call: &Call, code: &str, message: &str) {
        let key = TallyKey {
            audience: call.audience(),
            event_name: call.event_name.clone(),
            error_code: code.to_owned(),
            access_key_id: call.who.access_key_id().map(str::to_owned),
            minute: call.time.timestamp().div_euclid(60),
        };
        let mut tallies = lock(&self.inner.tallies);
        let tally = tallies.entry(key).or_insert_with(|| Tally {
            first: call.clone(),
            message: message.to_owned(),
            count: 0,
            last: call.time,
            ips: Vec::new(),
        });
        tally.count = tally.count.saturating_add(1);
        tally.last = tally.last.max(call.time);
        if let Some(ip) = call.source_ip {
            if tally.ips.len() < MAX_SAMPLED_IPS && !tally.ips.contains(&ip) {
                tally.ips.push(ip);
            }
        }
    }

    /// Records waiting to be written.
    pub fn buffered(&self) -> usize {
        lock(&self.inner.queue).len()
    }

    /// Records dropped so far (the buffer was full).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Write out every record buffered and every count (the current
    /// minute's too), trying for at most 10 s; what could not be written is
    /// counted as dropped. Later records are not buffered any more.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.close_tallies(None);
        let deadline = Instant::now() + CLOSE_WITHIN;
        loop {
            let written = self.inner.flush_once().await;
            if lock(&self.inner.queue).is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let left = lock(&self.inner.queue).drain(..).count();
                self.inner.drop_records(left as u64);
                break;
            }
            if written.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        self.inner.wake.notify_one();
    }

    /// Make the partitions ahead and drop those past the retention, as of
    /// `today` (the writer does this every hour).
    pub async fn maintain(&self, today: NaiveDate) -> Result<Vec<NaiveDate>, String> {
        self.inner.maintain(today).await
    }
}

impl Inner {
    fn enqueue(&self, entry: Entry) {
        if self.closed.load(Ordering::Acquire) {
            self.drop_records(1);
            return;
        }
        let len = {
            let mut queue = lock(&self.queue);
            if queue.len() >= self.options.buffer_events {
                drop(queue);
                self.drop_records(1);
                return;
            }
            queue.push_back(entry);
            queue.len()
        };
        self.metrics.audit_buffered(len);
        if len >= self.options.batch_events {
            self.wake.notify_one();
        }
    }

    fn drop_records(&self, n: u64) {
        if n == 0 {
            return;
        }
        let total = self.dropped.fetch_add(n, Ordering::Relaxed) + n;
        self.metrics.audit_dropped(n);
        let mut last = lock(&self.last_drop_log);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::error!(
                dropped_total = total,
                buffer_events = self.options.buffer_events,
                "audit records dropped: the buffer is full (is the database reachable?)"
            );
        }
    }

    /// Turn the counts of minutes before `now`'s (all of them when `None`)
    /// into records, buffered.
    fn close_tallies(&self, now: Option<DateTime<Utc>>) {
        let current = now.map(|t| t.timestamp().div_euclid(60));
        let closed: Vec<(TallyKey, Tally)> = {
            let mut tallies = lock(&self.tallies);
            let keys: Vec<TallyKey> = tallies
                .keys()
                .filter(|k| current.is_none_or(|c| k.minute < c))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| tallies.remove_entry(&k))
                .collect()
        };
        for (key, tally) in closed {
            let mut record = tally.first.record_with(
                Outcome::Refused {
                    code: &key.error_code,
                    message: &tally.message,
                },
                None,
                None,
                tally.count,
            );
            if let Ok(mut event) = serde_json::from_str::<Value>(&record.record) {
                event["additionalEventData"] = json!({
                    "aggregated": true,
                    "count": tally.count,
                    "firstEventTime": tally.first.time.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "lastEventTime": tally.last.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "sourceIPAddresses": tally.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
                });
                record.record = event.to_string();
            }
            // Past the closing check: a count is written even while closing.
            let mut queue = lock(&self.queue);
            queue.push_back(Entry {
                record,
                stored: false,
            });
        }
    }

    /// Write one batch: the records to store, then every record of the
    /// batch to the export file.
    async fn flush_once(&self) -> Result<usize, ()> {
        let batch: Vec<Entry> = {
            let mut queue = lock(&self.queue);
            let n = queue.len().min(self.options.batch_events);
            queue.drain(..n).collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let to_store: Vec<AuditRecord> = batch
            .iter()
            .filter(|e| !e.stored)
            .map(|e| e.record.clone())
            .collect();
        if let Err(err) = self.store.append(&to_store).await {
            tracing::warn!(error = %err, records = to_store.len(), "audit records not written yet; retrying");
            // Back to the front, in order, as far as the buffer has room.
            let mut queue = lock(&self.queue);
            let room = self.options.buffer_events.saturating_sub(queue.len());
            let (keep, lost) = if batch.len() > room {
                let lost = batch.len() - room;
                (batch.into_iter().take(room).collect::<Vec<_>>(), lost)
            } else {
                (batch, 0)
            };
            for entry in keep.into_iter().rev() {
                queue.push_front(entry);
            }
            drop(queue);
            self.drop_records(lost as u64);
            return Err(());
        }
        self.metrics.audit_written(to_store.len() as u64);
        if let Some(file) = lock(&self.file).as_mut() {
            let events: Vec<String> = batch.iter().map(|e| e.record.event_json()).collect();
            if let Err(err) = file.append(events.iter().map(String::as_str)) {
                tracing::warn!(error = %err, "audit records not written to audit.file");
            }
        }
        self.metrics.audit_buffered(lock(&self.queue).len());
        Ok(batch.len())
    }

    async fn maintain(&self, today: NaiveDate) -> Result<Vec<NaiveDate>, String> {
        let from = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        let to = today.checked_add_days(Days::new(7)).unwrap_or(today);
        self.store
            .ensure_partitions(from, to)
            .await
            .map_err(|e| e.to_string())?;
        let cutoff = today
            .checked_sub_days(Days::new(u64::from(self.options.retention_days)))
            .unwrap_or(NaiveDate::MIN);
        let dropped = self
            .store
            .drop_partitions_before(cutoff)
            .await
            .map_err(|e| e.to_string())?;
        if !dropped.is_empty() {
            tracing::info!(days = dropped.len(), before = %cutoff, "audit partitions past the retention dropped");
        }
        Ok(dropped)
    }
}

async fn writer(inner: Arc<Inner>) {
    let mut next_maintenance = Instant::now();
    let mut backoff = inner.options.flush_interval;
    loop {
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(backoff) => {}
        }
        if inner.closed.load(Ordering::Acquire) {
            // close() writes out the rest.
            return;
        }
        let now = Utc::now();
        if Instant::now() >= next_maintenance {
            match inner.maintain(now.date_naive()).await {
                Ok(_) => next_maintenance = Instant::now() + MAINTENANCE_EVERY,
                Err(err) => {
                    tracing::warn!(error = %err, "audit partitions not kept up; retrying");
                    next_maintenance = Instant::now() + Duration::from_secs(30);
                }
            }
        }
        inner.close_tallies(Some(now));
        let mut failed = false;
        // Several batches in a row when the buffer is deep.
        loop {
            match inner.flush_once().await {
                Ok(n) if n >= inner.options.batch_events => continue,
                Ok(_) => break,
                Err(()) => {
                    failed = true;
                    break;
                }
            }
        }
        backoff = if failed {
            (backoff * 2).min(MAX_BACKOFF)
        } else {
            inner.options.flush_interval
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Who, COGNITO_SOURCE};
    use cognate_domain::ids::AccountId;
    use cognate_domain::test_support::MemoryStore;

    fn call(op: &str, ip: &str) -> Call {
        let mut call = Call::new("r", COGNITO_SOURCE, op, "us-east-1", ip.parse().ok(), None);
        call.recipient = Some(AccountId::parse("111111111111").unwrap());
        call.who = Who::Public;
        call
    }

    fn log(store: &MemoryStore, options: AuditOptions) -> AuditLog {
        AuditLog::start(Arc::new(store.clone()), options, Metrics::new().unwrap()).unwrap()
    }

    /// Options that write `batch_events` records at once, and what is
    /// fewer only hourly (so never, in a test).
    fn batches_of(batch_events: usize) -> AuditOptions {
        AuditOptions {
            flush_interval: Duration::from_secs(3600),
            batch_events,
            ..AuditOptions::default()
        }
    }

    #[tokio::test]
    async fn records_are_written_in_batches_and_close_writes_out_the_rest() {
        let store = MemoryStore::new();
        let log = log(&store, batches_of(10));
        let answered = || {
            call("GetId", "192.0.2.1").record(Outcome::Answered {
                response: None,
                additional: None,
            })
        };
        // Less than a batch waits for the interval (an hour here)...
        for _ in 0..5 {
            log.push(answered());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.audit_records().await.len(), 0);
        // ...a full batch is written at once, with what waited.
        for _ in 0..10 {
            log.push(answered());
        }
        for _ in 0..100 {
            if store.audit_records().await.len() >= 15 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.audit_records().await.len(), 15);
        for _ in 0..3 {
            log.push(answered());
        }
        log.close().await;
        assert_eq!(
            store.audit_records().await.len(),
            18,
            "close writes out the rest"
        );
        log.push(answered());
        assert_eq!(log.dropped(), 1, "nothing is buffered after close");
    }

    #[tokio::test]
    async fn refusals_are_counted_into_one_record_per_minute() {
        let store = MemoryStore::new();
        let log = log(&store, AuditOptions::default());
        for i in 0..500 {
            let ip = format!("192.0.2.{}", i % 9);
            log.count_refusal(
                &call("GetId", &ip),
                "TooManyRequestsException",
                "Rate exceeded",
            );
        }
        log.count_refusal(
            &call("GetOpenIdToken", "192.0.2.1"),
            "TooManyRequestsException",
            "Rate exceeded",
        );
        log.close().await;
        let records = store.audit_records().await;
        assert_eq!(records.len(), 2, "{records:?}");
        let get_id = records.iter().find(|r| r.event_name == "GetId").unwrap();
        assert_eq!(get_id.count, 500);
        assert_eq!(
            get_id.error_code.as_deref(),
            Some("TooManyRequestsException")
        );
        let event: Value = serde_json::from_str(&get_id.event_json()).unwrap();
        assert_eq!(event["additionalEventData"]["count"], 500);
        assert_eq!(event["additionalEventData"]["aggregated"], true);
        assert_eq!(
            event["additionalEventData"]["sourceIPAddresses"]
                .as_array()
                .unwrap()
                .len(),
            MAX_SAMPLED_IPS
        );
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts_what_does_not_fit() {
        let store = MemoryStore::new();
        let options = AuditOptions {
            buffer_events: 3,
            ..batches_of(100)
        };
        let log = log(&store, options);
        for _ in 0..5 {
            log.push(call("GetId", "192.0.2.1").record(Outcome::Answered {
                response: None,
                additional: None,
            }));
        }
        assert_eq!(log.buffered(), 3);
        assert_eq!(log.dropped(), 2);
        log.close().await;
        assert_eq!(store.audit_records().await.len(), 3);
    }

    #[tokio::test]
    async fn records_wait_while_the_store_fails_and_are_written_once_it_is_back() {
        /// Fails until told not to.
        struct Flaky {
            inner: MemoryStore,
            failing: AtomicBool,
        }
        #[async_trait::async_trait]
        impl AuditStore for Flaky {
            async fn append(
                &self,
                records: &[AuditRecord],
            ) -> Result<(), cognate_domain::ports::StoreError> {
                if self.failing.load(Ordering::SeqCst) {
                    return Err(cognate_domain::ports::StoreError::Unavailable(
                        "down".into(),
                    ));
                }
                self.inner.append(records).await
            }
            async fn lookup(
                &self,
                q: &cognate_domain::audit::AuditQuery,
            ) -> Result<Vec<AuditRecord>, cognate_domain::ports::StoreError> {
                self.inner.lookup(q).await
            }
            async fn ensure_partitions(
                &self,
                a: NaiveDate,
                b: NaiveDate,
            ) -> Result<(), cognate_domain::ports::StoreError> {
                self.inner.ensure_partitions(a, b).await
            }
            async fn drop_partitions_before(
                &self,
                d: NaiveDate,
            ) -> Result<Vec<NaiveDate>, cognate_domain::ports::StoreError> {
                self.inner.drop_partitions_before(d).await
            }
            async fn usage(
                &self,
                account: &cognate_domain::ids::AccountId,
                since: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<cognate_domain::audit::Usage>, cognate_domain::ports::StoreError>
            {
                self.inner.usage(account, since).await
            }
        }
        let memory = MemoryStore::new();
        let flaky = Arc::new(Flaky {
            inner: memory.clone(),
            failing: AtomicBool::new(true),
        });
        let log = AuditLog::start(
            flaky.clone(),
            AuditOptions {
                flush_interval: Duration::from_millis(10),
                ..AuditOptions::default()
            },
            Metrics::new().unwrap(),
        )
        .unwrap();
        for _ in 0..7 {
            log.push(call("GetId", "192.0.2.1").record(Outcome::Answered {
                response: None,
                additional: None,
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(memory.audit_records().await.len(), 0);
        assert_eq!(log.buffered(), 7, "kept while the store is away");
        flaky.failing.store(false, Ordering::SeqCst);
        for _ in 0..500 {
            if memory.audit_records().await.len() == 7 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(memory.audit_records().await.len(), 7);
        assert_eq!(log.dropped(), 0);
    }
}
