//! The real `cognate` binary as an operator runs it: a configuration file
//! in a fresh directory, `cognate serve` logging to a file, stopped when
//! the test is done.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh directory under /tmp that the `postgres` user can pass through
/// (the private cluster's tests run PostgreSQL as that user).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("a temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Write `dir/cognate.toml` for `cognate serve` on `127.0.0.1:<port>` (the
/// public URL that listener's, the management port a free one) with
/// `database_url`, then the sections of `rest`. Its path, and the URL.
pub fn config_file(dir: &Path, port: u16, database_url: &str, rest: &str) -> (PathBuf, String) {
    let url = format!("http://127.0.0.1:{port}");
    let path = dir.join("cognate.toml");
    fs::write(
        &path,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nmanagement_bind = \"127.0.0.1:0\"\n\
             public_url = \"{url}\"\n\n[database]\nurl = \"{database_url}\"\n{rest}"
        ),
    )
    .expect("write the configuration");
    (path, url)
}

/// `bin` (the test's `CARGO_BIN_EXE_cognate`) with `args`, and none of the
/// caller's `COGNATE*`, `RUST_LOG` or `OTEL_*` variables: only what the
/// test sets counts.
pub fn command(bin: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("COGNATE") || key == "RUST_LOG" || key.starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args);
    cmd
}

/// A running `cognate serve`, killed when dropped.
#[derive(Debug)]
pub struct Served {
    child: Child,
    /// Its standard error: the log.
    pub log: PathBuf,
}

impl Served {
    /// Start `cognate serve --config <config>` (`cmd` from [`command`],
    /// with the test's environment), logging to `log`; wait until
    /// `<url>/readyz` answers 200 (at most a minute, then fail with the log).
    pub async fn start(mut cmd: Command, config: &Path, log: &Path, url: &str) -> Served {
        let child = cmd
            .args(["serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).expect("the log file"))
            .spawn()
            .expect("cognate serve starts");
        let served = Served {
            child,
            log: log.to_owned(),
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while !http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "not ready: {}",
                fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served
    }

    /// The process id (to signal it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait for it to exit (after a signal).
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
