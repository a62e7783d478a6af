//! A real Ceph radosgw 16.2 (Pacific) on loopback: a validating STS
//! (AssumeRoleWithWebIdentity), IAM (roles, OIDC providers) and S3, for
//! end-to-end tests of the tokens Cognate signs.
//!
//! Ceph is not installed: `support/ceph/fetch.sh` downloads Debian's
//! packages once into a cache (`$COGNATE_CEPH_CACHE`, default
//! `~/.cache/cognate-ceph`) and unpacks them there; the daemons run from
//! that tree with `LD_LIBRARY_PATH`/`PYTHONPATH` pointing into it.
//!
//! [`start`] makes a throw-away cluster in `/tmp/cognate-test-ceph-XXXXXX`:
//! one monitor (msgr2 on a free loopback port, no cephx), one OSD on
//! memstore (in memory), no manager, and radosgw (beast on another free
//! port) with STS enabled, plus an admin user whose keys are in [`Ceph`]. It
//! takes about 3 s once the packages are cached. See
//! `support/ceph/README.md` for what RGW checks in a web identity token.
//!
//! Nothing outlives the test process: the daemons are killed when the
//! [`Ceph`] is dropped or stopped, and a janitor (`sh`, a child of this
//! process in its own process group, as for PostgreSQL in [`crate::pg`])
//! kills them and removes the directory once this process is gone.

use std::fmt;
use std::fs;
use std::future::Future;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

/// The key RGW encrypts the session tokens it issues with (16 characters).
pub const STS_KEY: &str = "cognate-sts-key!";
/// The admin user `radosgw-admin user create` makes (with IAM caps).
pub const ADMIN_USER: &str = "cognate-admin";
pub const ADMIN_ACCESS_KEY: &str = "COGNATECEPHADMIN0001";
pub const ADMIN_SECRET_KEY: &str = "cognate-ceph-admin-secret-key-0000000001";
/// The caps the admin user gets: IAM role and OIDC-provider calls.
pub const ADMIN_CAPS: &str = "roles=*;oidc-provider=*;user-policy=*;users=*;buckets=*";

/// The binaries `fetch.sh` must have unpacked.
const BINARIES: &[&str] = &[
    "ceph-mon",
    "ceph-osd",
    "radosgw",
    "radosgw-admin",
    "ceph",
    "monmaptool",
];
const FETCH_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support/ceph/fetch.sh");
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const LOG_TAIL_LINES: usize = 30;

/// Ceph cannot be had on this machine (no apt, no package lists, no
/// mirror): tests skip rather than fail. See [`is_unavailable`].
#[derive(Debug)]
pub struct CephUnavailable(pub String);

impl fmt::Display for CephUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ceph is not available on this machine: {}", self.0)
    }
}

impl std::error::Error for CephUnavailable {}

/// Whether `start` failed only because Ceph cannot be fetched here.
/// `COGNATE_REQUIRE_ALL=1` (or `COGNATE_CEPH_REQUIRED=1`) turns that into
/// an ordinary failure.
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    err.downcast_ref::<CephUnavailable>().is_some() && !crate::all_tools_required()
}

/// Where `fetch.sh` keeps the packages: `$COGNATE_CEPH_CACHE`, default
/// `$HOME/.cache/cognate-ceph`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("COGNATE_CEPH_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/cognate-ceph")
        }
    }
}

/// The unpacked packages (`<cache>/root`), running `fetch.sh` unless they
/// are there already. Its report (time, bytes downloaded) goes to stderr.
pub async fn fetch() -> Result<PathBuf> {
    let root = cache_dir().join("root");
    let complete = |root: &Path| {
        root.join(".cognate-ceph").is_file()
            && BINARIES
                .iter()
                .all(|b| root.join("usr/bin").join(b).is_file())
    };
    if complete(&root) {
        return Ok(root);
    }
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(FETCH_SCRIPT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(FETCH_TIMEOUT, command.output()).await {
        Err(_) => bail!("{FETCH_SCRIPT} took more than {FETCH_TIMEOUT:?}"),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CephUnavailable(format!("cannot run bash: {e}")).into())
        }
        Ok(result) => result.with_context(|| format!("running {FETCH_SCRIPT}"))?,
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    match output.status.code() {
        Some(0) if complete(&root) => Ok(root),
        Some(0) => bail!(
            "{FETCH_SCRIPT} succeeded, yet {} is incomplete",
            root.display()
        ),
        Some(3) => Err(CephUnavailable(stderr.trim().to_owned()).into()),
        _ => bail!("{FETCH_SCRIPT} failed ({}):\n{stderr}", output.status),
    }
}

/// A running cluster; see the module docs. Dropping it (or [`Ceph::stop`])
/// kills the daemons and removes its directory.
#[derive(Debug)]
pub struct Ceph {
    /// `http://127.0.0.1:<rgw port>`: S3, IAM and STS all answer here.
    pub endpoint: String,
    pub admin_access_key: String,
    pub admin_secret_key: String,
    /// The cluster's directory: `ceph.conf`, `log/` (one log per daemon,
    /// `*.stderr` beside it), `mon/`, `osd/`, `run/`.
    pub dir: PathBuf,
    /// The unpacked packages the daemons run from.
    pub root: PathBuf,
    /// How long [`start`] took (fetching excluded).
    pub startup: Duration,
    daemons: Vec<Daemon>,
}

#[derive(Debug)]
struct Daemon {
    name: String,
    child: Child,
}

/// A cluster with the default configuration; see the module docs.
pub async fn start() -> Result<Ceph> {
    start_with(&[]).await
}

/// A cluster with extra `key = value` lines in radosgw's section of
/// ceph.conf (e.g. `("debug rgw", "20")`).
pub async fn start_with(rgw_settings: &[(&str, &str)]) -> Result<Ceph> {
    let root = fetch().await?;
    Ceph::launch(root, rgw_settings).await
}

/// One cluster per test process, started by the first caller (with the
/// default configuration) and left running until the process exits.
pub async fn shared() -> Result<&'static Ceph> {
    static SHARED: OnceCell<Ceph> = OnceCell::const_new();
    SHARED.get_or_try_init(start).await
}

impl Ceph {
    async fn launch(root: PathBuf, rgw_settings: &[(&str, &str)]) -> Result<Ceph> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("cognate-test-ceph-")
            .tempdir_in("/tmp")
            .context("creating a temp dir under /tmp")?
            .keep();
        let mut ceph = Ceph {
            endpoint: String::new(),
            admin_access_key: ADMIN_ACCESS_KEY.into(),
            admin_secret_key: ADMIN_SECRET_KEY.into(),
            dir,
            root,
            startup: Duration::ZERO,
            daemons: Vec::new(),
        };
        spawn_janitor(&ceph.dir)?;
        for sub in ["log", "run", "mon", "osd", "rgw"] {
            fs::create_dir_all(ceph.dir.join(sub))?;
        }
        let [mon_port, rgw_port] = free_ports()?;
        ceph.endpoint = format!("http://127.0.0.1:{rgw_port}");
        let fsid = uuid::Uuid::new_v4().to_string();
        fs::write(
            ceph.conf(),
            ceph.config(&fsid, mon_port, rgw_port, rgw_settings),
        )?;
        let mut timings = Vec::new();
        let mut mark = Instant::now();
        let mut lap = |what: &'static str| {
            timings.push(format!("{what} {:.1}s", mark.elapsed().as_secs_f64()));
            mark = Instant::now();
        };

        // Monitor.
        let monmap = ceph.dir.join("monmap");
        let monmap = monmap.to_str().context("temp dir path")?;
        let mon_addr = format!("[v2:127.0.0.1:{mon_port}]");
        ceph.run(
            "monmaptool",
            &[
                "--create", "--fsid", &fsid, "--addv", "a", &mon_addr, monmap,
            ],
        )
        .await?;
        ceph.run("ceph-mon", &["-i", "a", "--mkfs", "--monmap", monmap])
            .await?;
        ceph.spawn("mon.a", "ceph-mon", &["-i", "a"])?;
        let osd_uuid = uuid::Uuid::new_v4().to_string();
        let osd_id = ceph
            .wait_for("the monitor to answer (osd new)", || async {
                ceph.ceph_cli(&["--connect-timeout", "2", "osd", "new", &osd_uuid])
                    .await
                    .map(|id| Some(id.trim().to_owned()))
            })
            .await?;
        lap("mon");

        // OSD.
        fs::create_dir_all(ceph.dir.join(format!("osd/osd.{osd_id}")))?;
        ceph.run(
            "ceph-osd",
            &["-i", &osd_id, "--mkfs", "--osd-uuid", &osd_uuid],
        )
        .await?;
        ceph.spawn(&format!("osd.{osd_id}"), "ceph-osd", &["-i", &osd_id])?;
        ceph.wait_for("the OSD to be up", || async {
            let stat = ceph.ceph_cli(&["osd", "stat", "-f", "json"]).await?;
            let stat: serde_json::Value = serde_json::from_str(&stat)
                .with_context(|| format!("`ceph osd stat` printed {stat}"))?;
            Ok((stat["num_up_osds"].as_u64() == Some(1)).then_some(()))
        })
        .await?;
        lap("osd");

        // radosgw (creates its pools and the default zone on first start).
        ceph.spawn("client.rgw", "radosgw", &["-n", "client.rgw"])?;
        ceph.wait_for("radosgw to answer HTTP", || async {
            Ok(http_status(rgw_port).await.ok().filter(|s| *s == 200))
        })
        .await?;
        lap("rgw");

        ceph.radosgw_admin(&[
            "user",
            "create",
            "--uid",
            ADMIN_USER,
            "--display-name",
            ADMIN_USER,
            "--access-key",
            ADMIN_ACCESS_KEY,
            "--secret",
            ADMIN_SECRET_KEY,
            "--caps",
            ADMIN_CAPS,
        ])
        .await?;
        lap("admin user");
        ceph.startup = started.elapsed();
        eprintln!(
            "ceph: radosgw at {} in {:.1}s ({}); dir {}",
            ceph.endpoint,
            ceph.startup.as_secs_f64(),
            timings.join(", "),
            ceph.dir.display()
        );
        Ok(ceph)
    }

    fn config(
        &self,
        fsid: &str,
        mon_port: u16,
        rgw_port: u16,
        rgw_settings: &[(&str, &str)],
    ) -> String {
        let dir = self.dir.display();
        let lib = self.root.join("usr/lib/x86_64-linux-gnu");
        let lib = lib.display();
        let mut conf = format!(
            "\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_port}]
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
run dir = {dir}/run
admin socket = {dir}/run/$name.asok
pid file = {dir}/run/$name.pid
log file = {dir}/log/$name.log
log to stderr = false
err to stderr = true
mon cluster log file = {dir}/log/cluster.log
chdir = {dir}
plugin dir = {lib}/ceph
erasure code dir = {lib}/ceph/erasure-code
osd class dir = {lib}/rados-classes
mon data = {dir}/mon/$name
osd data = {dir}/osd/$name
osd objectstore = memstore
memstore device bytes = 1073741824
# Each map change waits out the propose interval (1 s by default); radosgw
# makes a dozen of them on its first start.
paxos propose interval = 0.05
paxos min wait = 0.01
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 1

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {dir}/rgw
rgw sts key = {STS_KEY}
rgw s3 auth use sts = true
"
        );
        for (key, value) in rgw_settings {
            conf.push_str(&format!("{key} = {value}\n"));
        }
        conf
    }

    /// Path of the cluster's ceph.conf.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("ceph.conf")
    }

    /// `host:port` of radosgw: the issuer-style prefix of condition keys is
    /// the *issuer's* host:port, not this.
    pub fn host_port(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// The log file of a daemon (`mon.a`, `osd.0`, `client.rgw`) or of the
    /// cluster (`cluster`).
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("log").join(format!("{name}.log"))
    }

    /// The last `lines` lines of that log and of the daemon's stderr.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        let mut out = String::new();
        for path in [
            self.log_path(name),
            self.dir.join("log").join(format!("{name}.stderr")),
        ] {
            if let Ok(text) = fs::read_to_string(&path) {
                if text.trim().is_empty() {
                    continue;
                }
                let all: Vec<&str> = text.lines().collect();
                let from = all.len().saturating_sub(lines);
                out.push_str(&format!("--- {} (last {} lines)\n", path.display(), lines));
                for line in &all[from..] {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// `radosgw-admin <args>` against this cluster; returns its stdout.
    pub async fn radosgw_admin(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", "client.admin"];
        all.extend_from_slice(args);
        self.run("radosgw-admin", &all).await
    }

    /// The `ceph` CLI against this cluster; returns its stdout.
    pub async fn ceph_cli(&self, args: &[&str]) -> Result<String> {
        let mut all = vec![self.bin("ceph").into_os_string()];
        all.push("-c".into());
        all.push(self.conf().into_os_string());
        all.extend(args.iter().map(Into::into));
        // The `ceph` CLI is Python; its modules (rados, ceph_argparse) are
        // built for Debian's python3, which the closure brings along when
        // it is not installed.
        let system = Path::new("/usr/bin/python3");
        let python = if system.exists() {
            system.to_path_buf()
        } else {
            self.bin("python3")
        };
        self.run_program(&python, "ceph", &all).await
    }

    /// Kill the daemons and remove the directory (as dropping does).
    pub async fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for daemon in self.daemons.iter_mut().rev() {
            let _ = daemon.child.kill();
            let _ = daemon.child.wait();
        }
        self.daemons.clear();
        if !keep() && self.dir.starts_with("/tmp/") {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.root.join("usr/bin").join(name)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let lib = self.root.join("usr/lib/x86_64-linux-gnu");
        let library_path = [
            lib.clone(),
            lib.join("ceph"),
            self.root.join("lib/x86_64-linux-gnu"),
        ]
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
        vec![
            ("LD_LIBRARY_PATH", library_path),
            (
                "PYTHONPATH",
                self.root
                    .join("usr/lib/python3/dist-packages")
                    .display()
                    .to_string(),
            ),
            ("CEPH_CONF", self.conf().display().to_string()),
        ]
    }

    /// Run one of the unpacked binaries with `-c ceph.conf` to completion.
    async fn run(&self, bin: &str, args: &[&str]) -> Result<String> {
        let mut all: Vec<std::ffi::OsString> = vec!["-c".into(), self.conf().into_os_string()];
        all.extend(args.iter().map(Into::into));
        self.run_program(&self.bin(bin), bin, &all).await
    }

    async fn run_program(
        &self,
        program: &Path,
        name: &str,
        args: &[std::ffi::OsString],
    ) -> Result<String> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .envs(self.env())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(STEP_TIMEOUT, command.output())
            .await
            .map_err(|_| anyhow!("`{name}` took more than {STEP_TIMEOUT:?}"))?
            .with_context(|| format!("running {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "`{name} {}` failed ({}): {}{}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout),
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Start a daemon in the foreground (`-f`), its stderr in `log/<name>.stderr`.
    fn spawn(&mut self, name: &str, bin: &str, args: &[&str]) -> Result<()> {
        let stderr = fs::File::create(self.dir.join("log").join(format!("{name}.stderr")))?;
        let child = Command::new(self.bin(bin))
            .arg("-f")
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .envs(self.env())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stderr.try_clone()?)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        // The janitor kills what is listed here once this process is gone.
        let mut pids = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("pids"))?;
        writeln!(pids, "{}", child.id())?;
        self.daemons.push(Daemon {
            name: name.to_owned(),
            child,
        });
        Ok(())
    }

    /// Poll `check` until it yields a value, for at most [`STEP_TIMEOUT`];
    /// fails early when a daemon exits. Errors carry the daemons' log tails.
    async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let started = Instant::now();
        let mut last_error = None;
        loop {
            if let Some(dead) = self.dead_daemon() {
                bail!(
                    "{dead} exited while waiting for {what}\n{}",
                    self.all_log_tails()
                );
            }
            match check().await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
            if started.elapsed() > STEP_TIMEOUT {
                let last = last_error.map(|e| format!(" (last error: {e:#})"));
                bail!(
                    "timed out after {STEP_TIMEOUT:?} waiting for {what}{}\n{}",
                    last.unwrap_or_default(),
                    self.all_log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn dead_daemon(&self) -> Option<String> {
        self.daemons.iter().find_map(|d| {
            // try_wait needs &mut; /proc tells without reaping.
            let stat = fs::read_to_string(format!("/proc/{}/stat", d.child.id())).ok();
            let state = stat
                .as_deref()
                .and_then(|s| s.rsplit_once(')'))
                .and_then(|(_, rest)| rest.split_whitespace().next());
            match state {
                None | Some("Z") | Some("X") => Some(d.name.clone()),
                _ => None,
            }
        })
    }

    fn all_log_tails(&self) -> String {
        self.daemons
            .iter()
            .map(|d| self.log_tail(&d.name, LOG_TAIL_LINES))
            .collect()
    }
}

impl Drop for Ceph {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `COGNATE_CEPH_KEEP=1` keeps the cluster directory (logs) after the test.
fn keep() -> bool {
    std::env::var_os("COGNATE_CEPH_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Two distinct free loopback ports (both held until both are known).
fn free_ports() -> Result<[u16; 2]> {
    let a = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}

/// The status code of `GET /` on 127.0.0.1:`port`.
async fn http_status(port: u16) -> Result<u16> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| anyhow!("no answer"))??;
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP status line: {head:?}"))
}

/// See the module docs: kills the daemons listed in `<dir>/pids` (checking
/// that each still runs with this directory in its command line) and
/// removes `dir` once this process is gone; exits when `dir` is removed.
fn spawn_janitor(dir: &Path) -> Result<()> {
    const SCRIPT: &str = r#"
trap '' HUP INT
parent=$1; dir=$2
parent_alive() {
  if [ -r /proc/$$/stat ]; then set -- $(cat /proc/$$/stat); [ "$4" = "$parent" ]
  else kill -0 "$parent" 2>/dev/null; fi
}
while [ -d "$dir" ] && parent_alive; do sleep 1; done
[ -d "$dir" ] || exit 0
for pid in $(cat "$dir/pids" 2>/dev/null); do
  if tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF -- "$dir/ceph.conf"; then
    kill -9 "$pid" 2>/dev/null
  fi
done
[ -n "$COGNATE_CEPH_KEEP" ] && [ "$COGNATE_CEPH_KEEP" != 0 ] || rm -rf -- "$dir"
"#;
    if !dir.starts_with("/tmp/") {
        bail!("refusing to set up removal of {}", dir.display());
    }
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("cognate-test-ceph-janitor")
        .arg(std::process::id().to_string())
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("spawning the janitor")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cluster_starts_serves_s3_and_stops_without_a_trace() {
        let ceph = match start().await {
            Ok(ceph) => ceph,
            Err(e) if is_unavailable(&e) => {
                crate::skip(&format!("{e:#}"));
                return;
            }
            Err(e) => panic!("{e:#}"),
        };
        let port: u16 = ceph.endpoint.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(http_status(port).await.unwrap(), 200);
        let user = ceph
            .radosgw_admin(&["user", "info", "--uid", ADMIN_USER])
            .await
            .unwrap();
        let user: serde_json::Value = serde_json::from_str(&user).unwrap();
        assert_eq!(user["keys"][0]["access_key"], ADMIN_ACCESS_KEY);
        assert_eq!(user["keys"][0]["secret_key"], ADMIN_SECRET_KEY);
        let caps: Vec<&str> = user["caps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        for cap in ["roles", "oidc-provider", "user-policy"] {
            assert!(caps.contains(&cap), "{cap} in {caps:?}");
        }
        let health = ceph.ceph_cli(&["osd", "stat", "-f", "json"]).await.unwrap();
        assert!(health.contains("\"num_up_osds\":1"), "{health}");

        let pids: Vec<u32> = ceph.daemons.iter().map(|d| d.child.id()).collect();
        assert_eq!(pids.len(), 3, "mon, osd, rgw");
        let dir = ceph.dir.clone();
        ceph.stop().await;
        assert!(!dir.exists(), "{} removed", dir.display());
        for pid in pids {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "daemon {pid} is gone"
            );
        }
    }

    /// For checking the clean-up by hand: run with `--ignored`, `kill -9`
    /// the test process, and see that `pgrep -f cognate-test-ceph` finds
    /// nothing a few seconds later and the temp dir is gone.
    #[tokio::test]
    #[ignore]
    async fn hold_a_cluster_for_a_minute() {
        let ceph = start().await.unwrap();
        eprintln!("ceph in {}", ceph.dir.display());
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}
