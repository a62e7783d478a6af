//! The audit trail of the real binary across a shutdown: buffered records
//! are written out by a clean stop, and a flood of throttled calls leaves
//! aggregated records only. The batch writer's interval is set to a minute,
//! so whatever reaches the table before it was written by the shutdown.

mod common;

use std::fs;
use std::process::Command;

use cognate_tests::serve::{command, config_file, free_port, temp_dir, Served};
use common::{account_toml, empty_database, guest_get_id, guest_pool, sdk_without_retries};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");
const ACCESS_KEY: &str = "AKIAAUDITSHUTDOWN001";
const SECRET_KEY: &str = "audit-shutdown-test-secret-key-0001";

#[tokio::test]
async fn a_clean_stop_writes_out_buffered_records_and_a_throttled_flood_is_aggregated() {
    let database_url = empty_database().await;
    let dir = temp_dir("cognate-audit-");
    let account = account_toml(
        "111111111111",
        ACCESS_KEY,
        SECRET_KEY,
        "quotas = { GetId = 3 }\n",
    );
    let (config, url) = config_file(
        dir.path(),
        free_port(),
        &database_url,
        &format!("\n{account}\n[audit]\nflush_interval_ms = 60000\n"),
    );
    let log = dir.path().join("serve.log");
    let mut cognate = Served::start(command(BIN, &[]), &config, &log, &url).await;
    let client = sdk_without_retries(&url, ACCESS_KEY, SECRET_KEY, "t");
    let pool = guest_pool(&client, "flooded")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let (mut served, mut throttled) = (0, 0);
    for _ in 0..60 {
        if guest_get_id(&client, &pool).await {
            served += 1;
        } else {
            throttled += 1;
        }
    }
    assert!(
        served >= 3 && throttled > 40,
        "{served} served, {throttled} throttled"
    );

    // Nothing of the GetIds is written yet (a minute's interval)...
    let (db, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let before = rows(&db).await;
    assert_eq!(
        before.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["CreateIdentityPool"],
        "only the change, written with it"
    );
    // ...until a clean stop writes everything out.
    Command::new("kill")
        .args(["-TERM", &cognate.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || cognate.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{}", fs::read_to_string(&log).unwrap());
    let after = rows(&db).await;
    let get_ids: Vec<_> = after.iter().filter(|r| r.0 == "GetId").collect();
    let answered = get_ids.iter().filter(|r| r.1.is_empty()).count();
    let aggregated: Vec<_> = get_ids
        .iter()
        .filter(|r| r.1 == "TooManyRequestsException")
        .collect();
    assert_eq!(answered, served, "{after:?}");
    assert!(
        !aggregated.is_empty() && aggregated.len() <= 2,
        "one record per minute, not one per call: {aggregated:?}"
    );
    let counted: i32 = aggregated.iter().map(|r| r.2).sum();
    assert_eq!(counted, throttled);
    // The stored JSON leaves out what the columns hold (errorCode, ...).
    let event: serde_json::Value = serde_json::from_str(&aggregated[0].3).unwrap();
    assert_eq!(event["additionalEventData"]["aggregated"], true);
    assert_eq!(event["errorMessage"], "Rate exceeded");
    assert_eq!(
        event["additionalEventData"]["sourceIPAddresses"][0],
        "127.0.0.1"
    );
}

/// Every audit row: name, error code ('' for none), count, record.
async fn rows(db: &tokio_postgres::Client) -> Vec<(String, String, i32, String)> {
    db.query(
        "SELECT event_name, coalesce(error_code, ''), count, record FROM audit_events \
         ORDER BY event_time",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}
