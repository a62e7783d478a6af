//! The `cognate` binary as an operator runs it: exit codes, messages that
//! name the bad key, the environment layer, migrate, keys, and `serve` on
//! its own private PostgreSQL cluster.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");

/// A temp dir under /tmp the postgres user can pass through.
fn temp_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cognate-cli-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn cognate(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("COGNATE") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn");
    // Never the default 9090: tests and other instances run side by side.
    cmd.env("COGNATE__SERVER__MANAGEMENT_BIND", "127.0.0.1:0");
    cmd
}

/// `127.0.0.1:<a free port>`.
fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Wait until `GET path` on `addr` answers 200.
fn wait_until_ok(addr: &str, path: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(body) = http_get(addr, path) {
            if body.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Run `cmd` to its end, as `output()`, but fail (after a SIGTERM) rather
/// than hang when it is still running after `limit`: e.g. a `serve` that
/// should have refused to start.
fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

const KEK: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

#[test]
fn the_development_keys_refuse_to_start_on_a_non_loopback_bind() {
    let local = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/local.toml");
    let out = cognate(&["--config", local, "serve"])
        .env("COGNATE__SERVER__BIND", "0.0.0.0:8080")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AKIACOGNATELOCAL0001"), "{stderr}");
    assert!(stderr.contains("server.bind"), "{stderr}");
    assert!(
        !stderr.contains("cognate-local-development-secret-key"),
        "the secret is not printed: {stderr}"
    );
}

#[test]
fn a_secret_access_key_shorter_than_16_characters_refuses_to_start() {
    let dir = temp_root();
    let path = dir.path().join("short.toml");
    fs::write(
        &path,
        "[[accounts]]\nid = \"111111111111\"\naccess_key_id = \"AKIATESTACCOUNTA0001\"\n\
         secret_access_key = \"too-short-key\"\n",
    )
    .unwrap();
    let out = cognate(&["--config", path.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("accounts[0].secret_access_key"), "{stderr}");
    assert!(!stderr.contains("too-short-key"), "{stderr}");
}

#[test]
fn a_secret_given_both_as_a_value_and_as_a_file_refuses_to_start_and_is_named() {
    let dir = temp_root();
    let kek_file = dir.path().join("kek");
    fs::write(&kek_file, format!("{KEK}\n")).unwrap();
    let out = cognate(&["serve"])
        .env("COGNATE__TOKENS__KEY_ENCRYPTION_KEY", KEK)
        .env("COGNATE__TOKENS__KEY_ENCRYPTION_KEY_FILE", &kek_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tokens.key_encryption_key"), "{stderr}");
    assert!(!stderr.contains(KEK), "the secret is not printed: {stderr}");
}

#[test]
fn keys_seal_without_a_key_encryption_key_is_refused() {
    let out = cognate(&["keys", "seal"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tokens.key_encryption_key"), "{stderr}");
}

#[test]
fn a_key_encryption_key_over_unsealed_keys_refuses_to_serve_until_keys_seal_has_run() {
    let dir = temp_root();
    let data_dir = dir.path().join("pg");
    let data = data_dir.to_str().unwrap();
    // Without a KEK, the first signing key is stored unsealed.
    let out = cognate(&["keys", "list"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The KEK comes from a file, as a mounted container secret.
    let kek_file = dir.path().join("kek");
    fs::write(&kek_file, format!("{KEK}\n")).unwrap();
    let with_kek = |args: &[&str]| {
        let mut cmd = cognate(args);
        cmd.env("COGNATE__DATABASE__DATA_DIR", data)
            .env("COGNATE__TOKENS__KEY_ENCRYPTION_KEY_FILE", &kek_file);
        cmd
    };
    let out = output_within(
        with_kek(&["serve"]).env("COGNATE__SERVER__BIND", free_addr()),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cognate keys seal"), "{stderr}");
    assert!(stderr.contains("tokens.key_encryption_key"), "{stderr}");
    assert!(!stderr.contains(KEK), "{stderr}");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "the private cluster was stopped"
    );

    let out = with_kek(&["keys", "seal"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("sealed 1 signing key(s): ")),
        "{stdout}"
    );
    let out = with_kek(&["keys", "seal"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("every stored signing key is sealed")),
        "sealing twice changes nothing: {stdout}"
    );

    let (bind, management) = (free_addr(), free_addr());
    let mut child = with_kek(&["serve"])
        .env("COGNATE__SERVER__BIND", &bind)
        .env("COGNATE__SERVER__MANAGEMENT_BIND", &management)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_until_ok(&bind, "/readyz");
    let managed = ready && wait_until_ok(&management, "/healthz");
    let metrics = http_get(&management, "/metrics").unwrap_or_default();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(ready, "serve starts once the keys are sealed");
    assert!(managed, "the management listener answers /healthz");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}

#[test]
fn an_unknown_key_in_the_config_file_stops_start_up_and_is_named() {
    let dir = temp_root();
    let path = dir.path().join("bad.toml");
    fs::write(&path, "[server]\nbnd = \"127.0.0.1:1\"\n").unwrap();
    let out = cognate(&["--config", path.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bnd"), "{stderr}");
}

#[test]
fn environment_variables_override_the_files_and_are_checked_too() {
    let out = cognate(&["migrate"])
        .env("COGNATE__SERVER__BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.bind"), "{stderr}");
    let out = cognate(&["migrate"])
        .env("COGNATE_CONFIG", "/nonexistent/cognate.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "COGNATE_CONFIG names the file");
    let out = cognate(&["migrate"])
        .env("COGNATE__QUOTAS__GETIDD", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("quotas.getidd"), "{stderr}");
}

#[test]
fn migrate_and_keys_work_on_the_private_cluster_and_serve_runs_until_terminated() {
    let dir = temp_root();
    let data_dir = dir.path().join("pg");
    let data = data_dir.to_str().unwrap();
    let out = cognate(&["migrate"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.starts_with("0 "),
        "first migrate applies migrations: {stdout}"
    );
    let out = cognate(&["migrate"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 migration(s) applied"
    );

    let out = cognate(&["keys", "rotate", "--now"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("new signing key "), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        3,
        "the new key and the first one are listed: {stdout}"
    );

    // serve: no [database] url, so it runs its private cluster.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = cognate(&["serve"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .env("COGNATE__SERVER__BIND", &bind)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(body) = http_get(&bind, "/readyz") {
            if body.starts_with("HTTP/1.1 200") {
                ready = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ready, "serve became ready on its private cluster");
    let jwks = http_get(&bind, "/.well-known/jwks_uri").unwrap();
    assert!(jwks.contains("\"keys\""), "{jwks}");
    // While serve runs, the administrative commands use its cluster (not
    // a second server on the same data directory) and see its keys.
    let out = cognate(&["keys", "list"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys list while serve runs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    for line in listed.lines() {
        let kid = line.split('\t').next().unwrap();
        assert!(jwks.contains(kid), "{kid} is what serve publishes: {jwks}");
    }
    let out = cognate(&["migrate"])
        .env("COGNATE__DATABASE__DATA_DIR", data)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 migration(s) applied",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SIGTERM: graceful stop, the private cluster stops with it.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "the private cluster was stopped"
    );
}

fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn logs_to_a_pipe_are_plain_text_without_server_notices_and_each_migration_once() {
    let dir = temp_root();
    let data_dir = dir.path().join("pg");
    let data = data_dir.to_str().unwrap();
    let mut logs = String::new();
    for _ in 0..2 {
        let out = cognate(&["migrate"])
            .env("COGNATE__DATABASE__DATA_DIR", data)
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(out.status.success());
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in a pipe: {logs}"
    );
    assert!(
        !logs.contains("already exists, skipping"),
        "no PostgreSQL notices: {logs}"
    );
    assert_eq!(
        logs.matches("V1__identity_pools").count(),
        1,
        "the first migration is logged once, on the run that applied it: {logs}"
    );
}

#[test]
fn ctrl_c_stops_serve_gracefully_and_says_so() {
    let dir = temp_root();
    let data_dir = dir.path().join("pg");
    let log_path = dir.path().join("serve.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = cognate(&["serve"])
        .env("COGNATE__DATABASE__DATA_DIR", data_dir.to_str().unwrap())
        .env("COGNATE__SERVER__BIND", &bind)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if http_get(&bind, "/readyz").is_ok_and(|b| b.starts_with("HTTP/1.1 200")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("stopping gracefully"), "{log}");
    assert!(!log.contains("forced"), "{log}");
}
