//! Riding through a database failover: whether a writable PostgreSQL is
//! reachable, one prober to find it again, and the hosts to try.
//!
//! While the database answers, nothing here costs anything. When a call
//! finds it gone (a refused or reset connection, `57P01` admin shutdown,
//! `25006` read-only, any `08xxx`), the caller reports it
//! ([`Health::lost`]): the store is marked down and **one** prober task
//! starts, which opens a fresh connection to each host in turn, with
//! back-off (50 ms doubling to 500 ms), until one is writable
//! (`pg_is_in_recovery()` false): then the pool is pointed at that host and
//! the store is up again. Meanwhile calls do not try connections of their
//! own — [`Health::is_up`] is false, so the store answers them
//! [`StoreError::Unavailable`] at once — and wait for the prober instead
//! ([`Health::wait_up`]), at most until their deadline.
//!
//! Connections opened before the loss are not used again: the pool's
//! `before_acquire` hook closes every connection older than the last loss
//! ([`Health::is_stale`]), so a connection to a node that came back as a
//! read-only standby is never handed out.
//!
//! `database.url` may list several hosts, libpq's way
//! (`postgres://u:p@db1:5432,db2:5432,db3:5432/cognate?target_session_attrs=read-write`):
//! the prober tries them in order and the pool follows the writable one,
//! without a load balancer in front.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};
use tokio::sync::watch;

/// First pause between two probes; doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between two probes: a primary that is back is found
/// within this (plus one connection).
const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// How long one probe's connection may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The hosts of `database.url`, each as its own URL.
pub(crate) fn split_hosts(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let (userinfo, rest) = match rest.rsplit_once('@') {
        // The host list ends at the path or the query; '@' may appear in
        // neither before it.
        Some((user, hosts)) if !user.contains('/') => (Some(user), hosts),
        _ => (None, rest),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hosts, tail) = rest.split_at(end);
    let tail = without_param(tail, "target_session_attrs");
    hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|host| match userinfo {
            Some(user) => format!("{scheme}://{user}@{host}{tail}"),
            None => format!("{scheme}://{host}{tail}"),
        })
        .collect()
}

/// `tail` (path and query) without the query parameter `name`.
fn without_param(tail: &str, name: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(name) && !pair.is_empty())
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// Whether a writable database is reachable, and the one prober.
#[derive(Debug)]
pub(crate) struct Health {
    up: watch::Sender<bool>,
    /// When the last loss was reported: connections opened before are stale.
    lost_at: Mutex<Option<Instant>>,
    probing: AtomicBool,
    hosts: Vec<PgConnectOptions>,
}

impl Health {
    /// Healthy, over these hosts (in the order to try).
    pub(crate) fn new(hosts: Vec<PgConnectOptions>) -> Arc<Self> {
        Arc::new(Health {
            up: watch::Sender::new(true),
            lost_at: Mutex::new(None),
            probing: AtomicBool::new(false),
            hosts,
        })
    }

    /// Whether the store takes calls now.
    pub(crate) fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Whether a connection `age` old was opened before the last loss.
    pub(crate) fn is_stale(&self, age: Duration) -> bool {
        let lost_at = *self
            .lost_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (lost_at, Instant::now().checked_sub(age)) {
            (Some(lost), Some(opened)) => opened <= lost,
            _ => false,
        }
    }

    /// A call found the database gone: mark the store down and start the
    /// prober (once), which points `pool` at the writable host it finds.
    pub(crate) fn lost(self: &Arc<Self>, pool: &PgPool, why: &str) {
        *self
            .lost_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        if *self.up.borrow() {
            tracing::warn!(error = %why, "the database is gone: waiting for a writable primary");
        }
        self.up.send_replace(false);
        let (health, pool) = (Arc::clone(self), pool.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { health.probe(&pool).await });
            }
            Err(_) => self.probing.store(false, Ordering::Release),
        }
    }

    /// Start out down, with the prober looking for the writable host (a
    /// multi-host URL names no primary).
    pub(crate) fn find_primary(self: &Arc<Self>, pool: &PgPool) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.up.send_replace(false);
        let (health, pool) = (Arc::clone(self), pool.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { health.probe(&pool).await });
            }
            Err(_) => {
                self.probing.store(false, Ordering::Release);
                self.up.send_replace(true);
            }
        }
    }

    /// Wait until the store is up, at most until `deadline`; whether it is.
    pub(crate) async fn wait_up(&self, deadline: Instant) -> bool {
        let mut up = self.up.subscribe();
        let waited = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            up.wait_for(|up| *up),
        )
        .await;
        matches!(waited, Ok(Ok(_)))
    }

    async fn probe(self: Arc<Self>, pool: &PgPool) {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            for host in &self.hosts {
                match tokio::time::timeout(PROBE_TIMEOUT, writable(host)).await {
                    Ok(Ok(())) => {
                        pool.set_connect_options(host.clone());
                        self.probing.store(false, Ordering::Release);
                        self.up.send_replace(true);
                        tracing::info!(
                            after_ms = started.elapsed().as_millis() as u64,
                            host = host.get_host(),
                            port = host.get_port(),
                            "a writable database is back"
                        );
                        return;
                    }
                    Ok(Err(why)) => {
                        tracing::debug!(host = host.get_host(), error = %why, "probe: not writable");
                    }
                    Err(_) => {
                        tracing::debug!(host = host.get_host(), "probe: no answer in time");
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Connect to `host` and check it takes writes.
async fn writable(host: &PgConnectOptions) -> Result<(), String> {
    let mut conn: PgConnection = host.connect().await.map_err(|e| e.to_string())?;
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    if in_recovery {
        Err("a standby (read-only)".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_host_url_is_split_into_one_url_per_host() {
        assert_eq!(
            split_hosts(
                "postgres://app:s%40cret@db1:5432,db2:5433,db3/cognate?sslmode=require&target_session_attrs=read-write"
            ),
            [
                "postgres://app:s%40cret@db1:5432/cognate?sslmode=require",
                "postgres://app:s%40cret@db2:5433/cognate?sslmode=require",
                "postgres://app:s%40cret@db3/cognate?sslmode=require",
            ]
        );
        assert_eq!(
            split_hosts("postgres://db:5432/cognate?target_session_attrs=read-write"),
            ["postgres://db:5432/cognate"]
        );
        assert_eq!(split_hosts("postgresql://u@h/d"), ["postgresql://u@h/d"]);
    }

    #[test]
    fn connections_opened_before_a_loss_are_stale_and_later_ones_not() {
        let health = Health::new(Vec::new());
        assert!(!health.is_stale(Duration::from_secs(3600)), "no loss yet");
        *health.lost_at.lock().unwrap() = Some(Instant::now());
        assert!(health.is_stale(Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            !health.is_stale(Duration::from_millis(1)),
            "opened after the loss"
        );
    }
}
