//! What an operator's monitoring sees of the real binary: a real Prometheus
//! (Debian's) scrapes Cognate's management port with the rules of
//! `deploy/prometheus/`, the Grafana dashboard's queries name only metrics
//! the live `/metrics` page has, and the rules' own unit tests pass under
//! `promtool`.
//!
//! Missing tools (prometheus, promtool, python3 with PyYAML) skip the tests,
//! or fail them under `COGNATE_REQUIRE_ALL=1`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cognate_tests::serve::{command, free_port, temp_dir, Served};
use common::{
    account_toml, empty_database, error_code, get, guest_get_id, guest_pool, sdk_without_retries,
};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");
const ACCESS_KEY: &str = "AKIAMONITORING000001";
const SECRET_KEY: &str = "monitoring-test-secret-key-000000001";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `tools` are all on PATH; a test without them is SKIPPED, or
/// fails under COGNATE_REQUIRE_ALL=1.
fn have(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("COGNATE_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{test} needs {missing:?} (Debian: prometheus), and COGNATE_REQUIRE_ALL=1");
    }
    eprintln!("SKIPPED: {test} needs {missing:?} (Debian: prometheus)");
    false
}

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests_and_the_dashboard_checker_its_own() {
    if !have("promtool rules test", &["promtool", "python3"]) {
        return;
    }
    let rules = repo().join("deploy/prometheus");
    run(Command::new("promtool")
        .args(["check", "rules", "cognate.rules.yml"])
        .current_dir(&rules));
    let tested = run(Command::new("promtool")
        .args(["test", "rules", "cognate.rules.test.yml"])
        .current_dir(&rules));
    assert!(tested.contains("SUCCESS"), "{tested}");
    run(Command::new("promtool")
        .args(["check", "config", "prometheus.yml"])
        .current_dir(&rules));
    run(Command::new("python3")
        .arg("test_check_dashboard.py")
        .current_dir(repo().join("deploy/grafana")));
}

#[tokio::test]
async fn prometheus_scrapes_a_running_instance_and_the_dashboard_names_only_metrics_it_serves() {
    if !have("monitoring test", &["prometheus", "python3"]) {
        return;
    }
    let database_url = empty_database().await;
    let dir = temp_dir("cognate-monitoring-");
    let (port, management, prometheus_port, dead) =
        (free_port(), free_port(), free_port(), free_port());
    let config = dir.path().join("cognate.toml");
    let account = account_toml(
        "111111111111",
        ACCESS_KEY,
        SECRET_KEY,
        "quotas = { GetId = 5 }\n",
    );
    // Facebook's token check goes to a port where nothing listens: the
    // identity-provider metrics then show a real failure.
    fs::write(
        &config,
        format!(
            r#"[server]
bind = "127.0.0.1:{port}"
management_bind = "127.0.0.1:{management}"
public_url = "http://127.0.0.1:{port}"

[database]
url = "{database_url}"

[[upstream]]
provider = "graph.facebook.com"
token_info_url = "http://127.0.0.1:{dead}/debug_token"

{account}"#
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let url = format!("http://127.0.0.1:{port}");
    let _cognate = Served::start(command(BIN, &[]), &config, &log, &url).await;
    let http = reqwest::Client::new();

    // Some traffic: a pool, guests, a refused login through Facebook.
    let client = sdk_without_retries(&url, ACCESS_KEY, SECRET_KEY, "t");
    let pool = guest_pool(&client, "watched")
        .supported_login_providers("graph.facebook.com", "1234567890")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let refused = client
        .get_id()
        .identity_pool_id(&pool)
        .logins("graph.facebook.com", "EAAB-not-a-real-token")
        .send()
        .await
        .expect_err("the provider cannot be reached");
    assert_eq!(error_code(&refused), Some("ExternalServiceException"));
    // Guests until the account's GetId quota (5/s) refuses one.
    let mut served = 0;
    while guest_get_id(&client, &pool).await {
        served += 1;
        assert!(served < 1000, "the quota never refused a call");
    }

    // The live page has the contract's metrics, and counts what happened.
    let page = get(&http, format!("http://127.0.0.1:{management}/metrics"))
        .await
        .text()
        .await
        .unwrap();
    for expected in [
        format!("cognate_requests_total{{code=\"OK\",operation=\"GetId\"}} {served}\n"),
        "cognate_throttled_requests_total{account=\"111111111111\",operation=\"GetId\"} 1\n"
            .to_owned(),
    ]
    .iter()
    .map(String::as_str)
    .chain([
        "cognate_upstream_errors_total{kind=\"connect\",provider=\"127.0.0.1:",
        "cognate_upstream_request_duration_seconds_count{outcome=\"error\",provider=\"127.0.0.1:",
        "cognate_build_info{version=\"",
        "cognate_db_up 1",
        "cognate_db_pool_connections{state=\"in_use\"}",
        "cognate_db_pool_acquire_duration_seconds_count",
        "cognate_sts_errors_total{kind=\"timeout\"} 0",
        "cognate_admission_rejected_total{class=\"public\",reason=\"budget\"} 0",
        "cognate_quota_leases_total{outcome=\"failed\"} 0",
        "cognate_signing_key_age_seconds",
        "cognate_signing_key_rotation_due_seconds 2",
        "process_resident_memory_bytes",
        "process_open_fds",
        "cognate_runtime_workers{runtime=\"calls\"} ",
        "cognate_runtime_workers{runtime=\"http\"} ",
        "cognate_runtime_global_queue_depth{runtime=\"calls\"} ",
        "cognate_runtime_alive_tasks{runtime=\"http\"} ",
    ]) {
        assert!(page.contains(expected), "no {expected:?} in:\n{page}");
    }
    let open: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("cognate_open_connections "))
        .and_then(|v| v.parse().ok())
        .expect("cognate_open_connections");
    assert!(open >= 1.0, "the SDK's connection is open: {open}");
    let busy: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("cognate_runtime_busy_seconds_total{runtime=\"calls\"} "))
        .and_then(|v| v.parse().ok())
        .expect("cognate_runtime_busy_seconds_total");
    assert!(busy > 0.0, "the calls ran on the runtime: {busy}");
    // One HTTP worker per core by default, each counted once.
    let http_workers: usize = page
        .lines()
        .find_map(|l| l.strip_prefix("cognate_runtime_workers{runtime=\"http\"} "))
        .and_then(|v| v.parse().ok())
        .expect("cognate_runtime_workers{runtime=\"http\"}");
    assert_eq!(
        http_workers,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let live = dir.path().join("metrics.txt");
    fs::write(&live, &page).unwrap();
    let grafana = repo().join("deploy/grafana");
    run(Command::new("python3")
        .arg("check_dashboard.py")
        .arg("--metrics")
        .arg(&live)
        .arg("--rules")
        .arg(repo().join("deploy/prometheus/cognate.rules.yml"))
        .arg("--check-rules")
        .current_dir(&grafana));

    // A real Prometheus scrapes it with the shipped rules loaded.
    let prometheus_config = dir.path().join("prometheus.yml");
    fs::write(
        &prometheus_config,
        format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: cognate
    static_configs:
      - targets: ["127.0.0.1:{management}"]
"#,
            rules = repo()
                .join("deploy/prometheus/cognate.rules.yml")
                .canonicalize()
                .unwrap()
                .display()
        ),
    )
    .unwrap();
    let prometheus_log = dir.path().join("prometheus.log");
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&prometheus_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let query = |q: &'static str| {
        let http = http.clone();
        async move {
            let answer: serde_json::Value = http
                .get(format!("http://127.0.0.1:{prometheus_port}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let result = answer["data"]["result"].as_array()?.clone();
            (!result.is_empty()).then_some(result)
        }
    };
    let started = Instant::now();
    let mut answered = Vec::new();
    for q in [
        r#"up{job="cognate"} == 1"#,
        r#"cognate_requests_total{job="cognate",operation="GetId",code="OK"} >= 1"#,
        r#"cognate_upstream_errors_total{kind="connect"} >= 1"#,
        // A recording rule of the shipped rules, evaluated over the scrapes.
        "cognate:requests:rate5m",
    ] {
        loop {
            if let Some(result) = query(q).await {
                answered.push((q, result));
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "Prometheus never answered {q}: {}",
                fs::read_to_string(&prometheus_log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let (_, up) = &answered[0];
    assert_eq!(
        up[0]["metric"]["instance"],
        format!("127.0.0.1:{management}")
    );
}
