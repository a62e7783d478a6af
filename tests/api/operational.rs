//! /healthz, /readyz (API and management listeners), /metrics (management
//! listener only), TLS, secrets from files.

use crate::helpers::{database, spawn_app};
use crate::steps::get;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_on_both_listeners_when_the_database_is_up() {
    let app = spawn_app().await;
    assert_ne!(app.address, app.management_address);
    for base in [&app.address, &app.management_address] {
        for path in ["/healthz", "/readyz"] {
            let res = get(&app.http, &format!("{base}{path}")).await;
            assert_eq!(res.status(), 200, "{base}{path}");
        }
    }
}

#[tokio::test]
async fn metrics_are_on_the_management_port_and_not_on_the_api_port() {
    let app = spawn_app().await;
    app.create_pool("metrics-port").await;
    let res = get(&app.http, &format!("{}/metrics", app.management_address)).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("cognate_requests_total"), "{text}");
    let res = get(&app.http, &format!("{}/metrics", app.address)).await;
    assert_eq!(res.status(), 404, "answered like any unknown path");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException", "{body}");
    let jwks_uri = format!("{}/.well-known/jwks_uri", app.management_address);
    let res = get(&app.http, &jwks_uri).await;
    assert_eq!(
        res.status(),
        404,
        "the management port serves only its three paths"
    );
}

#[tokio::test]
async fn an_account_whose_secret_comes_from_a_file_signs_successfully() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "secret-of-account-c-from-a-file-01\n").unwrap();
    let config = dir.path().join("cognate.toml");
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\nid = \"333333333333\"\naccess_key_id = \"AKIATESTACCOUNTC0001\"\n\
             secret_access_key_file = \"{}\"\n",
            secret.display()
        ),
    )
    .unwrap();
    let loaded = cognate_server::config::Settings::load(Some(&config)).unwrap();
    let app = crate::helpers::spawn_app_with(|s| s.accounts.extend(loaded.accounts)).await;
    let client = crate::helpers::sdk_client(
        &app.address,
        "AKIATESTACCOUNTC0001",
        "secret-of-account-c-from-a-file-01",
        crate::helpers::REGION,
    );
    let pools = client
        .list_identity_pools()
        .max_results(5)
        .send()
        .await
        .expect("signed with the secret read from the file");
    assert!(pools.identity_pools().is_empty());
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_error_code() {
    let app = spawn_app().await;
    app.create_pool("metrics").await;
    let _ = app
        .client
        .describe_identity_pool()
        .identity_pool_id("us-east-1:0000")
        .send()
        .await;
    let metrics = get(&app.http, &format!("{}/metrics", app.management_address)).await;
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"cognate_requests_total{code="OK",operation="CreateIdentityPool"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cognate_requests_total{code="ResourceNotFoundException",operation="DescribeIdentityPool"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("cognate_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn with_a_certificate_and_key_configured_the_service_speaks_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let app = crate::helpers::spawn_app_with(|s| {
        s.server.tls_cert_file = Some(cert_path);
        s.server.tls_key_file = Some(key_path);
    })
    .await;
    let https = app.address.replace("http://", "https://");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let res = client
        .get(format!("{https}/healthz"))
        .send()
        .await
        .expect("TLS handshake");
    assert_eq!(res.status(), 200);
    let res = client
        .post(&https)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "AWSCognitoIdentityService.GetId")
        .body(r#"{"IdentityPoolId":"us-east-1:00000000-0000-0000-0000-000000000000"}"#)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["__type"], "ResourceNotFoundException",
        "the API answers over TLS"
    );
    // A signed call over HTTP/2 (ALPN h2): no Host header, the authority
    // stands in for it, and the signature still verifies.
    let h2 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let body = r#"{"MaxResults": 5}"#;
    let signed = crate::signing::signed_headers(&https, "ListIdentityPools", body);
    let mut req = h2.post(format!("{https}/"));
    for (k, v) in &signed {
        req = req.header(k, v);
    }
    let res = req.body(body).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert!(answer.get("IdentityPools").is_some(), "{answer}");
    // A client that comes back resumes its session: no second full
    // handshake (the server signs nothing).
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        roots
    };
    let config = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let addr = https.trim_start_matches("https://").to_owned();
    let kinds = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        (0..2)
            .map(|_| {
                let conn = rustls::ClientConnection::new(
                    std::sync::Arc::clone(&config),
                    "localhost".try_into().unwrap(),
                )
                .unwrap();
                let mut tls =
                    rustls::StreamOwned::new(conn, std::net::TcpStream::connect(&addr).unwrap());
                tls.write_all(
                    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
                let mut answer = Vec::new();
                let _ = tls.read_to_end(&mut answer);
                assert!(
                    answer.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&answer)
                );
                let suite = tls.conn.negotiated_cipher_suite().map(|s| s.suite());
                (tls.conn.handshake_kind(), suite)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // This client lists AES-256-GCM-SHA384 first; the server chooses the
    // suite whose SHA-256 the hardware computes.
    let suite = Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    assert_eq!(
        kinds,
        [
            (Some(rustls::HandshakeKind::Full), suite),
            (Some(rustls::HandshakeKind::Resumed), suite)
        ]
    );
    // Plain HTTP to the TLS port gets no API answer.
    let plain = app.http.get(format!("{}/healthz", app.address)).send();
    assert!(plain.await.map(|r| r.status() != 200).unwrap_or(true));
}

#[tokio::test]
async fn the_service_keeps_its_minimum_of_database_connections_open_from_the_start() {
    let app = spawn_app().await;
    let wanted = i64::from(app.settings.database.min_connections);
    assert!(wanted >= 1, "the default keeps some connections warm");
    let db = database(&app).await;
    // Opened in the background, with no request made.
    wait_for_connections(&db, "the service's minimum", |open| open >= wanted).await;
}

#[tokio::test]
async fn a_dropped_store_stops_keeping_its_connections_warm_and_closes_them() {
    let app = spawn_app().await;
    let db = database(&app).await;
    let service = i64::from(app.settings.database.min_connections);
    wait_for_connections(&db, "the service's minimum", |open| open >= service).await;
    let before = open_connections(&db).await;
    let store =
        cognate_store::PgStore::connect_lazy(&app.database_url, &Default::default()).unwrap();
    wait_for_connections(&db, "a second store's minimum", |open| open >= before + 4).await;
    drop(store);
    wait_for_connections(&db, "the second store's to close", |open| open <= before).await;
}

/// Sessions on this database other than `db`'s own.
async fn open_connections(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .await
    .expect("count connections")
    .get(0)
}

/// Poll [`open_connections`] until `done` holds (20 s at most).
async fn wait_for_connections(db: &tokio_postgres::Client, what: &str, done: impl Fn(i64) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let open = open_connections(db).await;
        if done(open) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waiting for {what}: {open} connections open after 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_login_owners_statement_is_planned_once_per_connection_not_on_every_call() {
    use cognate_domain::ids::{IdentityId, IdentityPoolId};
    use cognate_domain::ports::Store as _;
    let app = spawn_app().await;
    let pool = app.create_pool("plans").await;
    let guest = app.guest(&pool).await;
    // One connection, so that every call below runs in the session whose
    // prepared statements are then looked at.
    let store = cognate_store::PgStore::connect_lazy(
        &app.database_url,
        &cognate_store::PoolOptions {
            max_connections: 1,
            min_connections: 0,
            ..Default::default()
        },
    )
    .unwrap();
    // A pool with many logins, as the planner sees it: with few, any plan
    // looks cheap and the bug this guards against does not show.
    for statement in [
        "INSERT INTO identities (id, pool_id, authenticated, disabled, created_at, last_modified_at) \
         SELECT $1 || ':' || i, $1, true, false, now(), now() FROM generate_series(1, 2000) i",
        "INSERT INTO identity_logins (pool_id, provider, subject, developer, identity_id, created_at) \
         SELECT $1, 'accounts.google.com', 'subject-' || i, false, $1 || ':' || i, now() \
         FROM generate_series(1, 2000) i",
    ] {
        sqlx::query(statement)
            .bind(&pool)
            .execute(store.pool())
            .await
            .unwrap();
    }
    sqlx::query("ANALYZE identities, identity_logins")
        .execute(store.pool())
        .await
        .unwrap();
    let pool_id = IdentityPoolId::try_from(pool.as_str()).unwrap();
    let guest = IdentityId::try_from(guest.as_str()).unwrap();
    let login = [(
        cognate_domain::ids::ProviderName::try_from("accounts.google.com").unwrap(),
        "hashed-subject".to_owned(),
    )];
    for _ in 0..12 {
        for (logins, also) in [
            (&login[..], &[][..]),
            (&[][..], std::slice::from_ref(&guest)),
        ] {
            let read = store
                .read_login_owners(&pool_id, logins, also, false)
                .await
                .unwrap();
            assert!(read.pool_version.is_some());
            assert_eq!(read.owners.len(), logins.len());
            assert_eq!(read.identities.len(), also.len());
        }
    }
    let plans: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
         WHERE statement LIKE '%pool_version%' AND statement NOT LIKE '%pg_prepared_statements%'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        plans.len(),
        2,
        "one prepared statement per arity: {plans:?}"
    );
    for (generic, custom) in plans {
        // PostgreSQL tries five custom plans, then keeps the generic one.
        assert!(
            custom <= 5 && generic >= 7,
            "generic {generic}, custom {custom}"
        );
    }
}
