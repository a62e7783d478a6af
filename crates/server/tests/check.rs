//! `cognate check` on the real binary: every dependency of a configuration
//! is tried and reported, and a problem (an unreachable provider, an
//! expiring certificate, pending migrations) makes the exit status 1.

use std::fs;
use std::path::Path;

use cognate_tests::serve::{command, free_port, temp_dir};
use rcgen::{CertificateParams, KeyPair};

const BIN: &str = env!("CARGO_BIN_EXE_cognate");

fn cognate(config: &Path, args: &[&str]) -> (bool, String) {
    let out = command(BIN, args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A self-signed certificate valid for `days` more days: the TLS settings
/// naming it, and its PEM.
fn certificate(dir: &Path, name: &str, days: i64) -> (String, String) {
    let mut params = CertificateParams::new(vec!["cognate.example.com".into()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_file = dir.join(format!("{name}.pem"));
    let key_file = dir.join(format!("{name}.key"));
    fs::write(&cert_file, cert.pem()).unwrap();
    fs::write(&key_file, key.serialize_pem()).unwrap();
    (
        format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cert_file.display(),
            key_file.display()
        ),
        cert.pem(),
    )
}

#[tokio::test]
async fn check_reports_each_dependency_and_fails_on_any_problem() {
    let cluster = cognate_tests::pg::cluster().await;
    let migrated = |url: String| async move { cognate_store::migrate::run(&url).await.map(|_| ()) };
    let database_url = cluster
        .fresh_database(migrated)
        .await
        .expect("fresh database");
    let dir = temp_dir("cognate-check-");
    let (good_tls, good_pem) = certificate(dir.path(), "good", 90);
    let body: String = good_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let metadata = dir.path().join("idp.xml");
    fs::write(
        &metadata,
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
    )
    .unwrap();
    let port = free_port();
    let dead = free_port();
    let write = |name: &str, tls: &str, extra: &str| {
        let path = dir.path().join(name);
        fs::write(
            &path,
            format!(
                r#"[server]
bind = "127.0.0.1:{port}"
public_url = "https://127.0.0.1:{port}"
{tls}
[database]
url = "{database_url}"
{extra}"#
            ),
        )
        .unwrap();
        path
    };
    let good = write("good.toml", &good_tls, "");

    // Keys are made by serve or `keys rotate`; a fresh database has none.
    let (ok, out) = cognate(&good, &["check"]);
    assert!(!ok, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("PROBLEM")
            && l.contains("signing keys")
            && l.contains("none signs now")),
        "{out}"
    );
    let (ok, out) = cognate(&good, &["keys", "rotate", "--now"]);
    assert!(ok, "{out}");

    let (ok, out) = cognate(&good, &["check"]);
    assert!(ok, "everything works: {out}");
    for expected in [
        "ok       database (database.url): reachable, every migration applied",
        "ok       signing keys: 2 published",
        "skipped  sts: no [sts] endpoint",
        "CN=",
        "(89 days)",
        "everything Cognate depends on works",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }

    // An unreachable provider, an STS nobody runs, a certificate about to
    // expire: each a problem, named.
    let (expiring, _) = certificate(dir.path(), "expiring", 3);
    let bad = write(
        "bad.toml",
        &expiring,
        &format!(
            r#"[sts]
endpoint = "http://127.0.0.1:{dead}/"

[[oidc_providers]]
account = "111111111111"
url = "http://127.0.0.1:{dead}/realms/x"
client_ids = ["app"]

[[saml_providers]]
account = "111111111111"
name = "Corp"
metadata_file = "{}"

[[accounts]]
id = "111111111111"
access_key_id = "AKIACHECKTEST0000001"
secret_access_key = "check-test-secret-key-000000001"

[console]
bind = "127.0.0.1:{dead}"
issuer = "http://127.0.0.1:{dead}/operators"
client_id = "console"

[[console.operators]]
group = "ops"
accounts = ["*"]
role = "viewer"
"#,
            metadata.display()
        ),
    );
    let (ok, out) = cognate(&bad, &["check"]);
    assert!(!ok, "{out}");
    for expected in [
        format!("PROBLEM  sts http://127.0.0.1:{dead}/: does not answer"),
        format!("PROBLEM  openid provider http://127.0.0.1:{dead}/realms/x: discovery"),
        format!(
            "PROBLEM  console sign-in (openid provider http://127.0.0.1:{dead}/operators): discovery"
        ),
        "in 2 days: renew it".to_owned(),
        "4 problem(s) found".to_owned(),
    ] {
        assert!(out.contains(&expected), "no {expected:?} in:\n{out}");
    }
    assert!(
        out.lines().any(|l| l.starts_with("ok")
            && l.contains("saml provider Corp")
            && l.contains("entity id https://idp.example.com/saml")),
        "the SAML metadata is read and reported: {out}"
    );

    // A database one migration behind this build: named.
    let empty = cluster
        .fresh_database(migrated)
        .await
        .expect("another database");
    let (client, conn) = tokio_postgres::connect(&empty, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("DELETE FROM refinery_schema_history WHERE version = (SELECT max(version) FROM refinery_schema_history)")
        .await
        .unwrap();
    let behind = dir.path().join("behind.toml");
    fs::write(
        &behind,
        format!("[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"{empty}\"\n"),
    )
    .unwrap();
    let (ok, out) = cognate(&behind, &["check"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("1 migration(s) not applied") && out.contains("cognate migrate"),
        "{out}"
    );
}
