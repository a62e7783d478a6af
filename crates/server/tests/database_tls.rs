//! A configured PostgreSQL that accepts TLS only: the migrations
//! (tokio-postgres) and the pool (sqlx) reach it with `sslmode=require` and
//! with `sslmode=verify-full` + `sslrootcert`, which checks the chain and
//! the host name; a plain connection is refused by the server.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cognate_domain::ports::Store as _;
use cognate_server::embedded_pg::{EmbeddedOptions, EmbeddedPostgres};
use cognate_store::PgStore;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA certificate (PEM) and its issuer.
fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn write_private(path: &Path, text: &str, owner: Option<(u32, u32)>) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

fn id(flag: &str, user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args([flag, user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn store_query(url: &str) -> Result<bool, String> {
    let store = PgStore::connect_lazy(url, &Default::default()).map_err(|e| e.to_string())?;
    store.ping().await.map_err(|e| e.to_string())?;
    sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn migrations_and_the_pool_reach_a_tls_only_postgresql_and_plain_connections_are_refused() {
    let tmp = tempfile::Builder::new()
        .prefix("cognate-tls-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path();
    let is_root = fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    // As root the server runs as `postgres`, which must own its key.
    let pg_owner = is_root.then(|| (id("-u", "postgres"), id("-g", "postgres")));

    let (ca_pem, ca) = new_ca("cognate test CA");
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_cert = params.signed_by(&server_key, &ca).unwrap();
    let (other_ca_pem, _) = new_ca("another CA");

    let cert_file = root.join("server.crt");
    let key_file = root.join("server.key");
    write_private(&cert_file, &server_cert.pem(), pg_owner);
    write_private(&key_file, &server_key.serialize_pem(), pg_owner);
    let ca_file = root.join("ca.pem");
    fs::write(&ca_file, &ca_pem).unwrap();
    let other_ca_file = root.join("other-ca.pem");
    fs::write(&other_ca_file, &other_ca_pem).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pg = EmbeddedPostgres::start_with_settings(
        EmbeddedOptions {
            tcp_port: Some(port),
            ..EmbeddedOptions::new(root.join("data"), "cognate")
        },
        &[
            ("ssl", "on"),
            ("ssl_cert_file", cert_file.to_str().unwrap()),
            ("ssl_key_file", key_file.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    let hba = fs::read_to_string(pg.data_dir().join("pg_hba.conf")).unwrap();
    assert!(hba.contains("\nhostssl "), "{hba}");
    assert!(!hba.contains("\nhost "), "no plain TCP line: {hba}");

    let tcp = pg.connect_info().tcp_url_for("cognate").unwrap();
    let by_name = tcp.replace("@127.0.0.1:", "@localhost:");
    let encode = |p: &Path| p.to_str().unwrap().replace('/', "%2F");

    // require: encrypted, nothing checked.
    let require = format!("{tcp}?sslmode=require");
    cognate_store::migrate::run(&require)
        .await
        .expect("migrations over TLS (require)");
    assert_eq!(store_query(&require).await, Ok(true), "the pool uses TLS");

    // verify-full: the chain and the host name are checked.
    let verify = format!(
        "{by_name}?sslmode=verify-full&sslrootcert={}",
        encode(&ca_file)
    );
    let applied = cognate_store::migrate::run(&verify)
        .await
        .expect("migrations over TLS (verify-full)");
    assert!(applied.is_empty(), "already applied: {applied:?}");
    assert_eq!(store_query(&verify).await, Ok(true));

    // ... so a certificate of another name is refused,
    let wrong_name = format!("{tcp}?sslmode=verify-full&sslrootcert={}", encode(&ca_file));
    let err = cognate_store::migrate::run(&wrong_name).await.unwrap_err();
    assert!(format!("{err:#}").contains("not valid for name"), "{err:#}");
    assert!(store_query(&wrong_name).await.is_err());
    // ... as is one from a CA we do not trust;
    let wrong_ca = format!(
        "{by_name}?sslmode=verify-full&sslrootcert={}",
        encode(&other_ca_file)
    );
    let err = cognate_store::migrate::run(&wrong_ca).await.unwrap_err();
    assert!(
        format!("{err:#}").to_lowercase().contains("issuer"),
        "{err:#}"
    );
    assert!(store_query(&wrong_ca).await.is_err());
    // ... while verify-ca checks the chain only.
    let verify_ca = format!("{tcp}?sslmode=verify-ca&sslrootcert={}", encode(&ca_file));
    cognate_store::migrate::run(&verify_ca)
        .await
        .expect("verify-ca ignores the host name");

    // A plain connection is refused by the server.
    let plain = format!("{tcp}?sslmode=disable");
    let err = cognate_store::migrate::run(&plain).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("no encryption"),
        "refused by pg_hba.conf: {err:#}"
    );
    let err = store_query(&plain).await.unwrap_err();
    assert!(err.contains("no encryption"), "{err}");

    pg.stop().await.unwrap();
}
