//! A highly available PostgreSQL for the failover tests: three
//! Patroni-managed PostgreSQL 15 nodes in strict synchronous mode, one etcd,
//! and HAProxy routing to the primary, all on loopback, driven through
//! `tests/support/ha/cluster.py` (see its docs for the timings chosen).
//!
//! [`HaCluster::up`] starts it in a fresh directory under /tmp; dropping
//! the value stops everything (and a watchdog does, should the test process
//! die first). Every command is bounded in time by the script itself.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

/// What the cluster needs that may be missing: Debian's `patroni`,
/// `etcd-server` and `haproxy`, and PostgreSQL's binaries.
pub fn missing_tools() -> Option<String> {
    let missing: Vec<&str> = ["patroni", "patronictl", "etcd", "haproxy"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install patroni etcd-server haproxy)",
            missing.join(", ")
        )
    })
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("support/ha/cluster.py")
}

/// A running HA cluster; stopped when dropped.
#[derive(Debug)]
pub struct HaCluster {
    dir: tempfile::TempDir,
    /// What `up` said (ports, nodes, the leader, ...).
    pub info: Value,
}

impl HaCluster {
    /// Start the cluster and wait until a write commits through HAProxy
    /// with a synchronous standby named (a minute or so at most).
    pub fn up() -> Result<HaCluster> {
        let dir = tempfile::Builder::new()
            .prefix("cognate-ha-")
            .tempdir_in("/tmp")
            .context("a directory for the cluster")?;
        let info = run(&[
            "up",
            "--dir",
            &dir.path().to_string_lossy(),
            "--owner-pid",
            &std::process::id().to_string(),
        ])?;
        Ok(HaCluster { dir, info })
    }

    /// The database URL through HAProxy.
    pub fn url(&self) -> String {
        self.info["url"].as_str().unwrap_or_default().to_owned()
    }

    /// A libpq multi-host URL of the three nodes (`target_session_attrs=read-write`).
    pub fn multi_host_url(&self) -> String {
        self.info["multi_host_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn command(&self, what: &[&str]) -> Result<Value> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut args: Vec<&str> = vec![what[0], "--dir", &dir];
        args.extend(&what[1..]);
        run(&args)
    }

    /// A planned switchover to the synchronous standby (`patronictl switchover`).
    pub fn switchover(&self) -> Result<Value> {
        self.command(&["switchover"])
    }

    /// SIGKILL the primary's postmaster (Patroni restarts it).
    pub fn kill_postmaster(&self) -> Result<Value> {
        self.command(&["kill-postmaster"])
    }

    /// SIGKILL the primary's Patroni and PostgreSQL: the node is gone.
    pub fn kill_node(&self) -> Result<Value> {
        self.command(&["kill-node"])
    }

    /// Start a killed node again.
    pub fn start_node(&self, name: &str) -> Result<Value> {
        self.command(&["start-node", "--node", name])
    }

    /// Wait until a write commits through HAProxy and a synchronous standby
    /// is named; says how long each took (`writable_seconds`, `seconds`).
    pub fn wait_healthy(&self, timeout_seconds: u64) -> Result<Value> {
        self.command(&["wait-healthy", "--timeout", &timeout_seconds.to_string()])
    }

    /// The cluster's state (leader, members).
    pub fn status(&self) -> Result<Value> {
        self.command(&["status"])
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        let _ = run(&["down", "--dir", &self.dir.path().to_string_lossy()]);
    }
}

/// Run `cluster.py` and read its one JSON line.
fn run(args: &[&str]) -> Result<Value> {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .context("running tests/support/ha/cluster.py")?;
    if !out.status.success() {
        bail!(
            "cluster.py {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("cluster.py {}: {stdout}", args[0]))
}
