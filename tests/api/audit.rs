//! The audit trail end to end: every operation yields one CloudTrail-shaped
//! event, looked up with the real AWS CLI and boto3; no secret reaches the
//! table or the export; accounts are kept apart; a change and its event
//! commit together; retention drops whole partitions.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentity::operation::RequestId as _;
use aws_sdk_cognitoidentity::types::AmbiguousRoleResolutionType;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::steps::{assert_ran, equals_rule_mapping, issued_token, tool_works};

use crate::helpers::{
    create_pool_request, create_pool_with, credentials_for, database, delete_identities,
    delete_pool, describe_identity, describe_pool, developer_token, get_id, get_principal_tags,
    get_roles, list_identities, list_pools, list_tags, open_id_token, set_principal_tags,
    set_roles, spawn_app_with, tag_resource, update_pool, TestApp, ACCESS_KEY_A, ACCESS_KEY_B,
    ACCOUNT_A, ACCOUNT_B, REGION, SECRET_KEY_A, SECRET_KEY_B,
};

const DEV: &str = "login.audit.test";
const SESSION_TOKEN: &str = "audit-test-session-token-0123456789";
const SECRET_ACCESS_KEY: &str = "audit-test-secret-access-key-0123456789";

/// A stand-in STS answering every request with the same credentials.
async fn fake_sts() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials>
<SessionToken>{SESSION_TOKEN}</SessionToken><SecretAccessKey>{SECRET_ACCESS_KEY}</SecretAccessKey>
<Expiration>2099-01-01T00:00:00Z</Expiration><AccessKeyId>ASIAAUDITTEST</AccessKeyId>
</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                        if rest.len() >= content_length(head) {
                            break;
                        }
                    }
                }
                let _ = socket
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
                             connection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    url
}

/// The Content-Length of a request head (0 without one).
fn content_length(head: &str) -> usize {
    let head = head.to_ascii_lowercase();
    let mut values = head
        .lines()
        .filter_map(|l| l.strip_prefix("content-length:"));
    values.find_map(|v| v.trim().parse().ok()).unwrap_or(0)
}

async fn audited_app() -> TestApp {
    let sts = fake_sts().await;
    spawn_app_with(|s| {
        s.sts.endpoint = Some(sts.as_str().try_into().expect("a URL"));
        s.audit.flush_interval_ms = 50;
    })
    .await
}

/// Every row of the audit table as text (every column).
async fn audit_table(app: &TestApp) -> Vec<String> {
    database(app)
        .await
        .query(
            "SELECT t::text FROM audit_events t ORDER BY event_time",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// SQL on the app's database.
async fn sql(app: &TestApp, statement: &str) {
    let client = database(app).await;
    client.batch_execute(statement).await.unwrap();
}

/// The account's events through the AWS CLI (`lookup-events`, all pages).
fn cli_lookup(app: &TestApp, key: &str, secret: &str, extra: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new("aws");
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ] {
        cmd.env(name, value);
    }
    cmd.env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .args([
            "cloudtrail",
            "lookup-events",
            "--endpoint-url",
            &app.address,
            "--output",
            "json",
            "--page-size",
            "20",
        ])
        .args(extra);
    let out = cmd.output().expect("aws runs");
    assert_ran(&out, "aws cloudtrail lookup-events");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    answer["Events"].as_array().cloned().unwrap_or_default()
}

fn have_cli() -> bool {
    tool_works("aws", &["--version"], "the AWS CLI is not installed")
}

/// Wait until the table holds at least `n` rows (the batch writer runs every 50 ms).
async fn wait_for_rows(app: &TestApp, n: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let rows = audit_table(app).await;
        if rows.len() >= n || started.elapsed() > Duration::from_secs(15) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The request id of an SDK result.
fn rid<
    T: aws_sdk_cognitoidentity::operation::RequestId,
    E: aws_sdk_cognitoidentity::operation::RequestId,
>(
    result: &Result<T, E>,
) -> String {
    match result {
        Ok(output) => output.request_id(),
        Err(err) => err.request_id(),
    }
    .expect("a request id")
    .to_owned()
}

#[tokio::test]
async fn every_operation_yields_exactly_one_event_found_by_the_aws_cli() {
    if !have_cli() {
        return;
    }
    let app = audited_app().await;
    let c = &app.client;
    // (operation, request id, error code or "")
    let mut calls: Vec<(&str, String, String)> = Vec::new();
    macro_rules! call {
        ($op:literal, $fut:expr) => {{
            let result = $fut.await;
            let code = match &result {
                Ok(_) => String::new(),
                Err(e) => crate::helpers::error_code(e),
            };
            calls.push(($op, rid(&result), code));
            result
        }};
    }
    let pool = call!(
        "CreateIdentityPool",
        create_pool_request(c, "audited", true)
            .allow_classic_flow(true)
            .developer_provider_name(DEV)
            .supported_login_providers("accounts.google.com", "google-app")
            .send()
    )
    .unwrap()
    .identity_pool_id;
    let arn = app.pool_arn(&pool);
    call!("DescribeIdentityPool", describe_pool(c, &pool).send()).unwrap();
    call!(
        "UpdateIdentityPool",
        update_pool(c, &pool, "audited-renamed", true)
            .allow_classic_flow(true)
            .developer_provider_name(DEV)
            .supported_login_providers("accounts.google.com", "google-app")
            .send()
    )
    .unwrap();
    call!("ListIdentityPools", list_pools(c, 5).send()).unwrap();
    let tags = [("team", "audit")];
    call!("TagResource", tag_resource(c, &arn, &tags).send()).unwrap();
    call!("ListTagsForResource", list_tags(c, &arn).send()).unwrap();
    call!(
        "UntagResource",
        c.untag_resource()
            .resource_arn(&arn)
            .tag_keys("team")
            .send()
    )
    .unwrap();
    let roles = [
        ("unauthenticated", "arn:aws:iam::111111111111:role/guest"),
        ("authenticated", "arn:aws:iam::111111111111:role/auth"),
    ];
    let google_mapping = equals_rule_mapping(
        "hd",
        "example.com",
        "arn:aws:iam::111111111111:role/auth",
        AmbiguousRoleResolutionType::AuthenticatedRole,
    );
    let set = set_roles(c, &pool, &roles).role_mappings("accounts.google.com", google_mapping);
    call!("SetIdentityPoolRoles", set.send()).unwrap();
    call!("GetIdentityPoolRoles", get_roles(c, &pool).send()).unwrap();
    let google = "accounts.google.com";
    let tag_map = set_principal_tags(c, &pool, google, false).principal_tags("email", "email");
    call!("SetPrincipalTagAttributeMap", tag_map.send()).unwrap();
    let tag_map = get_principal_tags(c, &pool, google);
    call!("GetPrincipalTagAttributeMap", tag_map.send()).unwrap();
    let guest = call!("GetId", get_id(c, &pool, &[]).send())
        .unwrap()
        .identity_id
        .unwrap();
    call!("GetOpenIdToken", open_id_token(c, &guest, &[]).send()).unwrap();
    let credentials = credentials_for(c, &guest, &[]);
    call!("GetCredentialsForIdentity", credentials.send()).unwrap();
    // Refused: a Google token that is no token.
    let refused = call!(
        "UnlinkIdentity",
        c.unlink_identity()
            .identity_id(&guest)
            .logins("accounts.google.com", "not-a-google-token")
            .logins_to_remove("accounts.google.com")
            .send()
    );
    assert!(refused.is_err());
    call!("DescribeIdentity", describe_identity(c, &guest).send()).unwrap();
    call!("ListIdentities", list_identities(c, &pool, 10).send()).unwrap();
    let alice = call!(
        "GetOpenIdTokenForDeveloperIdentity",
        developer_token(c, &pool, (DEV, "alice")).send()
    )
    .unwrap()
    .identity_id
    .unwrap();
    let bob = developer_token(c, &pool, (DEV, "bob"))
        .send()
        .await
        .unwrap();
    calls.push((
        "GetOpenIdTokenForDeveloperIdentity",
        bob.request_id().unwrap().to_owned(),
        String::new(),
    ));
    call!(
        "LookupDeveloperIdentity",
        c.lookup_developer_identity()
            .identity_pool_id(&pool)
            .developer_user_identifier("alice")
            .send()
    )
    .unwrap();
    call!(
        "MergeDeveloperIdentities",
        c.merge_developer_identities()
            .identity_pool_id(&pool)
            .developer_provider_name(DEV)
            .source_user_identifier("bob")
            .destination_user_identifier("alice")
            .send()
    )
    .unwrap();
    call!(
        "UnlinkDeveloperIdentity",
        c.unlink_developer_identity()
            .identity_pool_id(&pool)
            .identity_id(&alice)
            .developer_provider_name(DEV)
            .developer_user_identifier("bob")
            .send()
    )
    .unwrap();
    call!("DeleteIdentities", delete_identities(c, &[&guest]).send()).unwrap();
    call!("DeleteIdentityPool", delete_pool(c, &pool).send()).unwrap();
    // A refused signed call.
    call!("DescribeIdentityPool", describe_pool(c, &pool).send()).unwrap_err();

    let operations: std::collections::BTreeSet<&str> = calls.iter().map(|(op, _, _)| *op).collect();
    assert_eq!(
        operations.len(),
        23,
        "every operation is called: {operations:?}"
    );
    wait_for_rows(&app, calls.len()).await;

    let events = tokio::task::spawn_blocking({
        let app = clone_for_cli(&app);
        move || cli_lookup(&app, ACCESS_KEY_A, SECRET_KEY_A, &[])
    })
    .await
    .unwrap();
    let mut by_request: HashMap<String, Vec<Value>> = HashMap::new();
    for event in &events {
        let record: Value =
            serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(record["eventID"], event["EventId"]);
        assert_eq!(record["eventName"], event["EventName"]);
        by_request
            .entry(record["requestID"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(record);
    }
    for (op, request_id, code) in &calls {
        let found = by_request.get(request_id).cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "{op} {request_id}: {found:?}");
        let record = &found[0];
        assert_eq!(record["eventName"], *op);
        assert_eq!(record["eventSource"], "cognito-identity.amazonaws.com");
        assert_eq!(record["eventType"], "AwsApiCall");
        assert_eq!(record["eventCategory"], "Management");
        assert_eq!(record["managementEvent"], true);
        assert_eq!(record["awsRegion"], REGION);
        assert_eq!(record["recipientAccountId"], ACCOUNT_A);
        assert_eq!(record["sourceIPAddress"], "127.0.0.1");
        assert!(
            record["userAgent"]
                .as_str()
                .is_some_and(|ua| !ua.is_empty()),
            "{record}"
        );
        assert_eq!(record["eventVersion"], "1.08");
        assert!(record["eventTime"].as_str().unwrap().ends_with('Z'));
        for field in [
            "requestParameters",
            "responseElements",
            "readOnly",
            "userIdentity",
        ] {
            assert!(record.get(field).is_some(), "{op}: no {field}: {record}");
        }
        if code.is_empty() {
            assert!(record.get("errorCode").is_none(), "{op}: {record}");
        } else {
            assert_eq!(record["errorCode"], code.as_str(), "{op}: {record}");
            assert!(record["errorMessage"].as_str().is_some());
        }
        let signed = !matches!(
            *op,
            "GetId" | "GetOpenIdToken" | "GetCredentialsForIdentity" | "UnlinkIdentity"
        );
        if signed {
            assert_eq!(record["userIdentity"]["type"], "IAMUser");
            assert_eq!(record["userIdentity"]["accessKeyId"], ACCESS_KEY_A);
            assert_eq!(record["userIdentity"]["accountId"], ACCOUNT_A);
        } else {
            assert_eq!(record["userIdentity"]["type"], "Unknown");
        }
    }
    // What a security team asks: who got credentials for which role, through what.
    let event_named = |name: &str| {
        let mut events = by_request.values().flatten();
        events.find(|r| r["eventName"] == name).unwrap()
    };
    let creds = event_named("GetCredentialsForIdentity");
    assert_eq!(
        creds["additionalEventData"]["roleArn"],
        "arn:aws:iam::111111111111:role/guest"
    );
    assert_eq!(
        creds["responseElements"]["credentials"]["accessKeyId"],
        "ASIAAUDITTEST"
    );
    assert_eq!(
        creds["responseElements"]["credentials"]["sessionToken"],
        "HIDDEN_DUE_TO_SECURITY_REASONS"
    );
    // A change keeps what it replaced.
    let update = event_named("UpdateIdentityPool");
    assert_eq!(
        update["additionalEventData"]["previousState"]["identityPoolName"],
        "audited"
    );
    assert_eq!(
        update["responseElements"]["identityPoolName"],
        "audited-renamed"
    );
    let merge = event_named("MergeDeveloperIdentities");
    assert_eq!(merge["responseElements"]["identityId"], alice.as_str());
}

/// The app's address and settings, for a CLI run off the test's thread.
fn clone_for_cli(app: &TestApp) -> TestApp {
    TestApp {
        address: app.address.clone(),
        management_address: app.management_address.clone(),
        console_address: app.console_address.clone(),
        database_url: app.database_url.clone(),
        settings: app.settings.clone(),
        client: app.client.clone(),
        http: app.http.clone(),
    }
}

#[tokio::test]
async fn boto3_pages_through_lookup_events_filtered_by_attribute_and_time() {
    let boto3 = ["-c", "import boto3"];
    if !tool_works("python3", &boto3, "boto3 is not installed for python3") {
        return;
    }
    let app = audited_app().await;
    let pool = app.create_pool("paged").await;
    for _ in 0..7 {
        app.guest(&pool).await;
    }
    wait_for_rows(&app, 8).await;
    let script = r#"
import json, sys, datetime, boto3, botocore
c = boto3.client("cloudtrail", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=botocore.config.Config(retries={"max_attempts": 1}))
pages = list(c.get_paginator("lookup_events").paginate(
    LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetId"}],
    PaginationConfig={"PageSize": 3}))
names = [e["EventName"] for p in pages for e in p["Events"]]
by_pool = c.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": sys.argv[4]}])
future = c.lookup_events(StartTime=datetime.datetime(2099, 1, 1))
try:
    c.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetId"},
                                      {"AttributeKey": "ReadOnly", "AttributeValue": "true"}])
    two = None
except botocore.exceptions.ClientError as e:
    two = e.response["Error"]["Code"]
try:
    c.lookup_events(StartTime=datetime.datetime(2030, 1, 1), EndTime=datetime.datetime(2020, 1, 1))
    backwards = None
except botocore.exceptions.ClientError as e:
    backwards = e.response["Error"]["Code"]
print(json.dumps({"pages": len(pages), "names": names, "by_pool": len(by_pool["Events"]),
                  "future": len(future["Events"]), "two": two, "backwards": backwards,
                  "time": type(by_pool["Events"][0]["EventTime"]).__name__}))
"#;
    // Off the test's thread: the app's database connections run on its runtime.
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        script,
        &app.address,
        ACCESS_KEY_A,
        SECRET_KEY_A,
        &pool,
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_ran(&out, "boto3");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["names"].as_array().unwrap().len(), 7, "{result}");
    assert!(result["names"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n == "GetId"));
    assert_eq!(result["pages"], 3);
    assert_eq!(
        result["by_pool"], 8,
        "the pool's creation and its seven GetIds"
    );
    assert_eq!(result["future"], 0);
    assert_eq!(result["two"], "InvalidLookupAttributesException");
    assert_eq!(result["backwards"], "InvalidTimeRangeException");
    assert_eq!(result["time"], "datetime");
}

#[tokio::test]
async fn secrets_never_reach_the_audit_table_or_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("audit.ndjson");
    let sts = fake_sts().await;
    let app = spawn_app_with(|s| {
        s.sts.endpoint = Some(sts.as_str().try_into().expect("a URL"));
        s.audit.flush_interval_ms = 50;
        s.audit.file = Some(export.clone());
    })
    .await;
    let c = &app.client;
    let saml_provider = format!("arn:aws:iam::{ACCOUNT_A}:saml-provider/corp");
    let pool = create_pool_with(c, "secrets", true, |r| {
        r.allow_classic_flow(true)
            .developer_provider_name(DEV)
            .supported_login_providers("accounts.google.com", "google-app")
            .saml_provider_arns(&saml_provider)
    })
    .await;
    let roles = [
        ("unauthenticated", "arn:aws:iam::111111111111:role/guest"),
        ("authenticated", "arn:aws:iam::111111111111:role/auth"),
    ];
    set_roles(c, &pool, &roles).send().await.unwrap();
    let mut secrets: Vec<String> = vec![
        SESSION_TOKEN.into(),
        SECRET_ACCESS_KEY.into(),
        SECRET_KEY_A.into(),
        SECRET_KEY_B.into(),
    ];
    let guest = app.guest(&pool).await;
    let token = issued_token(c, &guest, &[]).await;
    secrets.push(token.clone());
    let credentials = credentials_for(c, &guest, &[]).send().await.unwrap();
    let credentials = credentials.credentials.unwrap();
    assert_eq!(credentials.secret_key(), Some(SECRET_ACCESS_KEY));
    let developer = developer_token(c, &pool, (DEV, "dev-user-42")).send();
    secrets.push(developer.await.unwrap().token.unwrap());
    // Our own token as a login, a made-up Google token and a SAML response.
    let google = "eyJhbGciOiJSUzI1NiJ9.made-up-google-token-secret.c2lnbmF0dXJl".to_owned();
    let saml = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "<samlp:Response>secret-saml-assertion-of-audit-test</samlp:Response>",
    );
    secrets.extend([google.clone(), saml.clone()]);
    let _ = get_id(c, &pool, &[("accounts.google.com", &google)])
        .send()
        .await;
    let _ = credentials_for(c, &guest, &[(&saml_provider, &saml)])
        .send()
        .await;
    let _ = open_id_token(c, &guest, &[("cognito-identity.amazonaws.com", &token)])
        .send()
        .await;
    let rows = wait_for_rows(&app, 9).await;
    assert!(rows.len() >= 9, "{rows:?}");
    // The export file, and `cognate audit export`'s code on the same table.
    let store =
        cognate_store::PgStore::connect_lazy(&app.database_url, &Default::default()).unwrap();
    let mut exported = Vec::new();
    let n = cognate_server::audit_cli::export(&store, "2000-01-01", None, None, &mut exported)
        .await
        .unwrap();
    assert!(n as usize >= rows.len());
    let exported = String::from_utf8(exported).unwrap();
    for line in exported.lines() {
        serde_json::from_str::<Value>(line).expect("one JSON record per line");
    }
    let mut file = String::new();
    for _ in 0..100 {
        file = std::fs::read_to_string(&export).unwrap_or_default();
        if file.lines().count() >= rows.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(file.lines().count() >= rows.len(), "{file}");
    let table = rows.join("\n");
    for secret in &secrets {
        for (what, text) in [("table", &table), ("export", &exported), ("file", &file)] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in the audit {what}: {secret}"
            );
        }
    }
    // What is recorded instead: the providers, ids and hidden values.
    assert!(table.contains("HIDDEN_DUE_TO_SECURITY_REASONS"));
    assert!(table.contains("accounts.google.com"));
    assert!(table.contains(&guest));
}

#[tokio::test]
async fn an_account_never_sees_another_accounts_events() {
    if !have_cli() {
        return;
    }
    let app = audited_app().await;
    let a_pool = app.create_pool("of-a").await;
    app.guest(&a_pool).await;
    let b_pool = app
        .client_b()
        .create_identity_pool()
        .identity_pool_name("of-b")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    wait_for_rows(&app, 3).await;
    let a = clone_for_cli(&app);
    let (a_events, b_events, b_on_a_pool) = tokio::task::spawn_blocking(move || {
        (
            cli_lookup(&a, ACCESS_KEY_A, SECRET_KEY_A, &[]),
            cli_lookup(&a, ACCESS_KEY_B, SECRET_KEY_B, &[]),
            cli_lookup(
                &a,
                ACCESS_KEY_B,
                SECRET_KEY_B,
                &[
                    "--lookup-attributes",
                    &format!("AttributeKey=ResourceName,AttributeValue={a_pool}"),
                ],
            ),
        )
    })
    .await
    .unwrap();
    let text = |events: &[Value]| {
        events
            .iter()
            .map(|e| e["CloudTrailEvent"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(a_events.len(), 2, "{a_events:?}");
    assert!(!text(&a_events).contains(&b_pool));
    assert_eq!(b_events.len(), 1, "{b_events:?}");
    assert!(text(&b_events).contains(ACCOUNT_B));
    assert!(!text(&b_events).contains(ACCOUNT_A));
    assert!(b_on_a_pool.is_empty(), "{b_on_a_pool:?}");
}

#[tokio::test]
async fn a_management_change_and_its_event_are_both_present_or_both_absent() {
    let app = audited_app().await;
    // A change whose record is refused: the change must not stay either.
    sql(
        &app,
        "CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.error_code IS NULL AND NEW.record LIKE '%refused-record%' THEN \
             RAISE EXCEPTION 'the audit record is refused'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_record BEFORE INSERT ON audit_events \
           FOR EACH ROW EXECUTE FUNCTION refuse_record(); \
         CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.name = 'refused-change' THEN RAISE EXCEPTION 'the change is refused'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER refuse_change BEFORE UPDATE ON identity_pools \
           FOR EACH ROW EXECUTE FUNCTION refuse_change();",
    )
    .await;
    let created = app
        .client
        .create_identity_pool()
        .identity_pool_name("refused-record")
        .allow_unauthenticated_identities(true)
        .send()
        .await;
    assert_eq!(
        crate::helpers::error_code(&created.unwrap_err()),
        "InternalErrorException"
    );
    let pool = app.create_pool("kept").await;
    // Written with the change, in its transaction: there at once.
    let rows = audit_table(&app).await;
    assert!(
        rows.iter()
            .any(|r| r.contains("CreateIdentityPool") && r.contains(&pool)),
        "{rows:?}"
    );
    let updated = app
        .client
        .update_identity_pool()
        .identity_pool_id(&pool)
        .identity_pool_name("refused-change")
        .allow_unauthenticated_identities(true)
        .send()
        .await;
    assert!(updated.is_err());
    let rows = wait_for_rows(&app, 3).await;
    let listed = app
        .client
        .list_identity_pools()
        .max_results(10)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .identity_pools()
        .iter()
        .filter_map(|p| p.identity_pool_name())
        .collect();
    assert_eq!(names, ["kept"], "neither refused change stayed");
    let succeeded: Vec<&String> = rows
        .iter()
        .filter(|r| r.contains("refused-") && !r.contains("InternalErrorException"))
        .collect();
    assert!(
        succeeded.is_empty(),
        "a record of a change that did not happen: {succeeded:?}"
    );
    let failures = rows
        .iter()
        .filter(|r| r.contains("InternalErrorException"))
        .count();
    assert_eq!(
        failures, 2,
        "each failed call is recorded as failed: {rows:?}"
    );
}

#[tokio::test]
async fn retention_drops_whole_partitions_past_the_retention() {
    let app = audited_app().await;
    let store = std::sync::Arc::new(
        cognate_store::PgStore::connect_lazy(&app.database_url, &Default::default()).unwrap(),
    );
    let today = chrono::Utc::now().date_naive();
    let day = |n: u64| today.checked_sub_days(chrono::Days::new(n)).unwrap();
    use cognate_domain::audit::AuditStore as _;
    store.ensure_partitions(day(100), day(88)).await.unwrap();
    let record = |days_ago: u64| cognate_domain::audit::AuditRecord {
        event_id: uuid::Uuid::new_v4(),
        event_time: day(days_ago).and_hms_opt(12, 0, 0).unwrap().and_utc(),
        audience: cognate_domain::audit::Audience::Operators,
        event_source: "cognito-identity.amazonaws.com".into(),
        event_name: format!("Old{days_ago}"),
        read_only: true,
        access_key_id: None,
        username: None,
        pool_id: None,
        identity_id: None,
        error_code: None,
        count: 1,
        record: "{}".into(),
    };
    store
        .append(&[record(100), record(95), record(89)])
        .await
        .unwrap();
    let log = cognate_api::audit::AuditLog::start(
        store.clone(),
        cognate_api::audit::AuditOptions {
            retention_days: 90,
            ..Default::default()
        },
        cognate_api::metrics::Metrics::new().unwrap(),
    )
    .unwrap();
    let dropped = log.maintain(today).await.unwrap();
    assert!(
        dropped.contains(&day(100)) && dropped.contains(&day(95)),
        "{dropped:?}"
    );
    assert!(!dropped.contains(&day(89)));
    let rows = audit_table(&app).await;
    assert!(!rows
        .iter()
        .any(|r| r.contains("Old100") || r.contains("Old95")));
    assert!(rows.iter().any(|r| r.contains("Old89")));
    // The partitions a week ahead exist.
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let ahead = today.checked_add_days(chrono::Days::new(7)).unwrap();
    let name = format!("audit_events_{}", ahead.format("%Y%m%d"));
    let found: i64 = client
        .query_one("SELECT count(*) FROM pg_class WHERE relname = $1", &[&name])
        .await
        .unwrap()
        .get(0);
    assert_eq!(found, 1);
}
