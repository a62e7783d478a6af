//! The audit trail of the real binary across a shutdown: buffered records
//! are written out by a clean stop, and a flood of throttled calls leaves
//! aggregated records only. The batch writer's interval is set to a minute,
//! so whatever reaches the table before it was written by the shutdown.

use std::fs;
use std::process::Command;

use aws_sdk_cognitoidentity::config::{BehaviorVersion, Credentials, Region};
use cognate_tests::serve::{command, config_file, free_port, temp_dir, Served};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");
const ACCESS_KEY: &str = "AKIAAUDITSHUTDOWN001";
const SECRET_KEY: &str = "audit-shutdown-test-secret-key-0001";

#[tokio::test]
async fn a_clean_stop_writes_out_buffered_records_and_a_throttled_flood_is_aggregated() {
    let database_url = cognate_tests::pg::cluster()
        .await
        .fresh_database(|_| async { Ok(()) })
        .await
        .expect("fresh database");
    let dir = temp_dir("cognate-audit-");
    let (config, url) = config_file(
        dir.path(),
        free_port(),
        &database_url,
        &format!(
            r#"
[[accounts]]
id = "111111111111"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
quotas = {{ GetId = 3 }}

[audit]
flush_interval_ms = 60000
"#
        ),
    );
    let log = dir.path().join("serve.log");
    let mut cognate = Served::start(command(BIN, &[]), &config, &log, &url).await;
    let client = aws_sdk_cognitoidentity::Client::from_conf(
        aws_sdk_cognitoidentity::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
            .endpoint_url(&url)
            .retry_config(aws_sdk_cognitoidentity::config::retry::RetryConfig::disabled())
            .build(),
    );
    let pool = client
        .create_identity_pool()
        .identity_pool_name("flooded")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let (mut served, mut throttled) = (0, 0);
    for _ in 0..60 {
        match client.get_id().identity_pool_id(&pool).send().await {
            Ok(_) => served += 1,
            Err(err) => {
                assert_eq!(
                    err.as_service_error().and_then(|e| {
                        aws_sdk_cognitoidentity::error::ProvideErrorMetadata::code(e)
                    }),
                    Some("TooManyRequestsException")
                );
                throttled += 1;
            }
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
