//! The `cognate` binary as an operator runs it: exit codes, messages that
//! name the bad key, the environment layer, migrate, keys, and `serve` on
//! its own private PostgreSQL cluster.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use cognate_tests::serve::{command, free_port, temp_dir};
use common::{assert_none_of, http_get, wait_until_ok};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");

/// A temp dir under /tmp the postgres user can pass through.
fn temp_root() -> tempfile::TempDir {
    temp_dir("cognate-cli-")
}

/// A temp dir, and the private cluster's data directory in it.
fn data_root() -> (tempfile::TempDir, PathBuf) {
    let dir = temp_root();
    let data_dir = dir.path().join("pg");
    (dir, data_dir)
}

fn cognate(args: &[&str]) -> Command {
    let mut cmd = command(BIN, args);
    cmd.env("RUST_LOG", "warn");
    // Never the default 9090: tests and other instances run side by side.
    cmd.env("COGNATE__SERVER__MANAGEMENT_BIND", "127.0.0.1:0");
    cmd
}

/// `cognate <args>` on the private cluster in `data`.
fn on_cluster(data: &str, args: &[&str]) -> Command {
    let mut cmd = cognate(args);
    cmd.env("COGNATE__DATABASE__DATA_DIR", data);
    cmd
}

/// `127.0.0.1:<a free port>`.
fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// The standard error of a run that refused to start (exit status 2).
#[track_caller]
fn refused(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

/// The standard output of a run that succeeded.
#[track_caller]
fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Start `cmd` (a `serve`) on a free address, its log to `log`: the
/// process, its address, and whether `/readyz` answered 200 within a minute.
fn serve(cmd: &mut Command, log: Stdio) -> (Child, String, bool) {
    let bind = free_addr();
    let child = cmd
        .env("COGNATE__SERVER__BIND", &bind)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let ready = wait_until_ok(&bind, "/readyz");
    (child, bind, ready)
}

/// Send `signal` (`TERM`, `INT`) to `child` and wait for it to exit.
fn stop(child: &mut Child, signal: &str) -> ExitStatus {
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

/// Run `cmd` to its end, as `output()`, but fail (after a SIGTERM) rather
/// than hang when it is still running after `limit`: e.g. a `serve` that
/// should have refused to start.
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
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
    let stderr = refused(
        &cognate(&["--config", local, "serve"])
            .env("COGNATE__SERVER__BIND", "0.0.0.0:8080")
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("AKIACOGNATELOCAL0001"), "{stderr}");
    assert!(stderr.contains("server.bind"), "{stderr}");
    assert!(
        !stderr.contains("cognate-local-development-secret-key"),
        "the secret is not printed: {stderr}"
    );
}

/// `cognate --config <dir>/<name> serve` with `toml` as that file: what it
/// said refusing to start.
fn refused_with_file(name: &str, toml: &str) -> String {
    let dir = temp_root();
    let path = dir.path().join(name);
    fs::write(&path, toml).unwrap();
    refused(
        &cognate(&["--config", path.to_str().unwrap(), "serve"])
            .output()
            .unwrap(),
    )
}

#[test]
fn a_secret_access_key_shorter_than_16_characters_refuses_to_start() {
    let stderr = refused_with_file(
        "short.toml",
        "[[accounts]]\nid = \"111111111111\"\naccess_key_id = \"AKIATESTACCOUNTA0001\"\n\
         secret_access_key = \"too-short-key\"\n",
    );
    assert!(stderr.contains("accounts[0].secret_access_key"), "{stderr}");
    assert!(!stderr.contains("too-short-key"), "{stderr}");
}

/// `dir/kek`: the key encryption key in a file, as a mounted container secret.
fn kek_file(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("kek");
    fs::write(&path, format!("{KEK}\n")).unwrap();
    path
}

#[test]
fn a_secret_given_both_as_a_value_and_as_a_file_refuses_to_start_and_is_named() {
    let dir = temp_root();
    let kek_file = kek_file(&dir);
    let stderr = refused(
        &cognate(&["serve"])
            .env("COGNATE__TOKENS__KEY_ENCRYPTION_KEY", KEK)
            .env("COGNATE__TOKENS__KEY_ENCRYPTION_KEY_FILE", &kek_file)
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("tokens.key_encryption_key"), "{stderr}");
    assert!(!stderr.contains(KEK), "the secret is not printed: {stderr}");
}

#[test]
fn keys_seal_without_a_key_encryption_key_is_refused() {
    let stderr = refused(&cognate(&["keys", "seal"]).output().unwrap());
    assert!(stderr.contains("tokens.key_encryption_key"), "{stderr}");
}

#[test]
fn a_key_encryption_key_over_unsealed_keys_refuses_to_serve_until_keys_seal_has_run() {
    let (dir, data_dir) = data_root();
    let data = data_dir.to_str().unwrap();
    // Without a KEK, the first signing key is stored unsealed.
    succeeded(&on_cluster(data, &["keys", "list"]).output().unwrap());
    // The KEK comes from a file, as a mounted container secret.
    let kek_file = kek_file(&dir);
    let with_kek = |args: &[&str]| {
        let mut cmd = on_cluster(data, args);
        cmd.env("COGNATE__TOKENS__KEY_ENCRYPTION_KEY_FILE", &kek_file);
        cmd
    };
    let stderr = refused(&output_within(
        with_kek(&["serve"]).env("COGNATE__SERVER__BIND", free_addr()),
        Duration::from_secs(60),
    ));
    assert!(stderr.contains("cognate keys seal"), "{stderr}");
    assert!(stderr.contains("tokens.key_encryption_key"), "{stderr}");
    assert!(!stderr.contains(KEK), "{stderr}");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "the private cluster was stopped"
    );

    let stdout = succeeded(&with_kek(&["keys", "seal"]).output().unwrap());
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

    let management = free_addr();
    let (mut child, _, ready) = serve(
        with_kek(&["serve"]).env("COGNATE__SERVER__MANAGEMENT_BIND", &management),
        Stdio::null(),
    );
    let managed = ready && wait_until_ok(&management, "/healthz");
    let metrics = http_get(&management, "/metrics");
    let status = stop(&mut child, "TERM");
    assert!(ready, "serve starts once the keys are sealed");
    assert!(managed, "the management listener answers /healthz");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}

#[test]
fn an_unknown_key_in_the_config_file_stops_start_up_and_is_named() {
    let stderr = refused_with_file("bad.toml", "[server]\nbnd = \"127.0.0.1:1\"\n");
    assert!(stderr.contains("bnd"), "{stderr}");
}

#[test]
fn environment_variables_override_the_files_and_are_checked_too() {
    let migrate_with =
        |key: &str, value: &str| refused(&cognate(&["migrate"]).env(key, value).output().unwrap());
    let stderr = migrate_with("COGNATE__SERVER__BIND", "not-an-address");
    assert!(stderr.contains("server.bind"), "{stderr}");
    // COGNATE_CONFIG names the file.
    migrate_with("COGNATE_CONFIG", "/nonexistent/cognate.toml");
    let stderr = migrate_with("COGNATE__QUOTAS__GETIDD", "5");
    assert!(stderr.contains("quotas.getidd"), "{stderr}");
}

#[test]
fn migrate_and_keys_work_on_the_private_cluster_and_serve_runs_until_terminated() {
    let (_dir, data_dir) = data_root();
    let data = data_dir.to_str().unwrap();
    let migrate = || on_cluster(data, &["migrate"]).output().unwrap();
    let stdout = succeeded(&migrate());
    assert!(
        !stdout.starts_with("0 "),
        "first migrate applies migrations: {stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&migrate().stdout).trim(),
        "0 migration(s) applied"
    );

    let stdout = succeeded(
        &on_cluster(data, &["keys", "rotate", "--now"])
            .output()
            .unwrap(),
    );
    assert!(stdout.starts_with("new signing key "), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        3,
        "the new key and the first one are listed: {stdout}"
    );

    // serve: no [database] url, so it runs its private cluster.
    let (mut child, bind, ready) = serve(&mut on_cluster(data, &["serve"]), Stdio::null());
    assert!(ready, "serve became ready on its private cluster");
    let jwks = http_get(&bind, "/.well-known/jwks_uri");
    assert!(jwks.contains("\"keys\""), "{jwks}");
    // While serve runs, the administrative commands use its cluster (not
    // a second server on the same data directory) and see its keys.
    let listed = succeeded(&on_cluster(data, &["keys", "list"]).output().unwrap());
    assert_eq!(listed.lines().count(), 2, "{listed}");
    for line in listed.lines() {
        let kid = line.split('\t').next().unwrap();
        assert!(jwks.contains(kid), "{kid} is what serve publishes: {jwks}");
    }
    let out = migrate();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 migration(s) applied",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SIGTERM: graceful stop, the private cluster stops with it.
    let status = stop(&mut child, "TERM");
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "the private cluster was stopped"
    );
}

#[test]
fn logs_to_a_pipe_are_plain_text_without_server_notices_and_each_migration_once() {
    let (_dir, data_dir) = data_root();
    let data = data_dir.to_str().unwrap();
    let mut logs = String::new();
    for _ in 0..2 {
        let out = on_cluster(data, &["migrate"])
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(out.status.success());
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert_none_of(
        &logs,
        &[
            ("\u{1b}", "no colour codes in a pipe"),
            ("already exists, skipping", "no PostgreSQL notices"),
        ],
    );
    assert_eq!(
        logs.matches("V1__identity_pools").count(),
        1,
        "the first migration is logged once, on the run that applied it: {logs}"
    );
}

#[test]
fn ctrl_c_stops_serve_gracefully_and_says_so() {
    let (dir, data_dir) = data_root();
    let log_path = dir.path().join("serve.log");
    let (mut child, _, _) = serve(
        on_cluster(data_dir.to_str().unwrap(), &["serve"]).env("RUST_LOG", "info"),
        Stdio::from(fs::File::create(&log_path).unwrap()),
    );
    let status = stop(&mut child, "INT");
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("stopping gracefully"), "{log}");
    assert!(!log.contains("forced"), "{log}");
}
