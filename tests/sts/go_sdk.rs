//! The official AWS SDK for Go (v1, Debian's golang-github-aws-aws-sdk-go-dev)
//! as a Go app uses it, pointed at Cognate: `support/go/main.go` gets guest
//! and developer-identity credentials through GetCredentialsForIdentity
//! (Cognate calling radosgw's STS) and uses them with the SDK's S3 client on
//! radosgw.
//!
//! Skipped (with a note on stderr) when `go` or the SDK's sources are
//! missing, or Ceph cannot be fetched; `COGNATE_REQUIRE_ALL=1` makes that a
//! failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use aws_credential_types::Credentials;
use cognate_tests::ceph;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp, ACCESS_KEY_A, SECRET_KEY_A};
use crate::rgw::{admin_credentials, s3_on_buckets, Rgw};

const DEV: &str = "login.cognate.go-sdk";
/// The SDK's sources in GOPATH layout, where Debian installs them.
const DEFAULT_GOPATH: &str = "/usr/share/gocode";
const SDK_PACKAGE: &str = "src/github.com/aws/aws-sdk-go/service/cognitoidentity";

/// The `go` to build with (`$COGNATE_GO`, default `go` on the PATH) and the
/// GOPATH holding the SDK (`$COGNATE_GOPATH`, default Debian's), or why
/// they cannot be had.
fn go_toolchain() -> Result<(String, PathBuf), String> {
    let go = std::env::var("COGNATE_GO").unwrap_or_else(|_| "go".into());
    let gopath =
        PathBuf::from(std::env::var("COGNATE_GOPATH").unwrap_or_else(|_| DEFAULT_GOPATH.into()));
    match Command::new(&go).arg("version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Err(format!("`{go} version` failed: {out:?}")),
        Err(e) => {
            return Err(format!(
                "go is not installed (`{go}`: {e}; Debian: golang-go)"
            ))
        }
    }
    if !gopath.join(SDK_PACKAGE).is_dir() {
        return Err(format!(
            "the AWS SDK for Go is not in {} (Debian: golang-github-aws-aws-sdk-go-dev)",
            gopath.display()
        ));
    }
    Ok((go, gopath))
}

/// `go build`s `support/go` into `dir` in GOPATH mode, offline; the
/// executable's path. Panics with go's output if that fails.
fn build(go: &str, gopath: &Path, dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/go");
    let exe = dir.join("cognate-go-sdk");
    let mut cmd = Command::new(go);
    cmd.arg("build")
        .arg("-o")
        .arg(&exe)
        .arg(".")
        .current_dir(&source)
        .env("GOPATH", gopath)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local");
    // go needs a build cache; without HOME it has no default one.
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env(
            "GOCACHE",
            std::env::temp_dir().join("cognate-go-build-cache"),
        );
    }
    let out = cmd.output().expect("running go build");
    assert!(
        out.status.success(),
        "go build of {} failed:\n{}{}",
        source.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// A role for web identities of Cognate whose `aud` is `pool`, allowed s3:*
/// on buckets named `<bucket_prefix>*`. Returns its ARN.
async fn role(
    rgw: &Rgw,
    admin: &Credentials,
    issuer_host: &str,
    name: &str,
    pool: &str,
    bucket_prefix: &str,
) -> String {
    let arn = rgw
        .create_web_identity_role(admin, name, issuer_host, pool)
        .await;
    rgw.put_role_statement(admin, name, "s3", s3_on_buckets(bucket_prefix))
        .await;
    arn
}

/// What `support/go/main.go` printed, after it exited 0.
fn run_go_app(exe: &Path, args: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new(exe);
    for (flag, value) in args {
        cmd.arg(format!("-{flag}={value}"));
    }
    let out = cmd.output().expect("running the Go SDK app");
    assert!(
        out.status.success(),
        "the Go SDK app failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the Go SDK app printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test]
async fn the_go_sdk_gets_guest_and_developer_credentials_that_radosgw_accepts() {
    let started = Instant::now();
    let (go, gopath) = match go_toolchain() {
        Ok(found) => found,
        Err(why) => {
            cognate_tests::skip(&why);
            return;
        }
    };
    // Build while Ceph starts.
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_owned();
    let building = tokio::task::spawn_blocking(move || build(&go, &gopath, &out_dir));
    let ceph = match ceph::shared().await {
        Ok(ceph) => ceph,
        Err(e) if ceph::is_unavailable(&e) => {
            // Not into a directory removed under it.
            let _ = building.await;
            cognate_tests::skip(&format!("no Ceph radosgw to test against: {e:#}"));
            return;
        }
        Err(e) => panic!("starting Ceph: {e:#}"),
    };
    let endpoint = ceph.endpoint.clone();
    let app: TestApp = spawn_app_with(move |s| {
        s.sts.endpoint = Some(endpoint.try_into().unwrap());
    })
    .await;
    let rgw = Rgw::new(&ceph.endpoint);
    let admin = admin_credentials(ceph);
    let issuer_host = app.address.trim_start_matches("http://").to_owned();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();

    // One pool for guests and developer identities, trusted by radosgw,
    // with a role for each: the guests' may use buckets `goguest-…`, the
    // authenticated one `godev-…`.
    let pool = app
        .client
        .create_identity_pool()
        .identity_pool_name("go sdk")
        .allow_unauthenticated_identities(true)
        .developer_provider_name(DEV)
        .send()
        .await
        .expect("create pool")
        .identity_pool_id;
    let thumbprint = crate::x5c_thumbprint(&app).await;
    rgw.iam(
        &admin,
        "CreateOpenIDConnectProvider",
        &[
            ("Url", &app.address),
            ("ClientIDList.member.1", &pool),
            ("ThumbprintList.member.1", &thumbprint),
        ],
    )
    .await
    .expect_status(200, "CreateOpenIDConnectProvider");
    let guest_role = role(
        &rgw,
        &admin,
        &issuer_host,
        &format!("go-guest-{tag}"),
        &pool,
        "goguest-",
    )
    .await;
    let dev_role = role(
        &rgw,
        &admin,
        &issuer_host,
        &format!("go-dev-{tag}"),
        &pool,
        "godev-",
    )
    .await;
    app.client
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("unauthenticated", &guest_role)
        .roles("authenticated", &dev_role)
        .send()
        .await
        .expect("set roles");

    let exe = building.await.unwrap();
    let built = started.elapsed();
    let guest_bucket = format!("goguest-{tag}");
    let dev_bucket = format!("godev-{tag}");
    let args: Vec<(&str, String)> = vec![
        ("endpoint", app.address.clone()),
        ("region", crate::helpers::REGION.into()),
        ("s3-endpoint", ceph.endpoint.clone()),
        ("pool", pool.clone()),
        ("developer-provider", DEV.into()),
        ("developer-user", "gopher".into()),
        ("access-key", ACCESS_KEY_A.into()),
        ("secret-key", SECRET_KEY_A.into()),
        ("guest-bucket", guest_bucket.clone()),
        ("developer-bucket", dev_bucket.clone()),
    ];
    let result = tokio::task::spawn_blocking(move || {
        let borrowed: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_go_app(&exe, &borrowed)
    })
    .await
    .unwrap();
    eprintln!("the Go SDK app printed {result:#}");

    let guest = &result["guest"];
    let guest_id = guest["identityId"].as_str().expect("guest identity id");
    assert!(guest_id.starts_with("us-east-1:"), "{guest_id}");
    assert_eq!(guest["credentialsIdentityId"], guest_id);
    assert_eq!(guest["bucket"], guest_bucket.as_str());
    assert_eq!(guest["body"], "hello from the Go SDK, guest");
    assert!(
        app.identity_ids(&pool)
            .await
            .iter()
            .any(|id| id == guest_id),
        "the guest the Go SDK made is in the pool"
    );

    let dev = &result["developer"];
    let dev_id = dev["identityId"].as_str().expect("developer identity id");
    assert_ne!(dev_id, guest_id);
    for field in ["identityIdAgain", "tokenSub", "credentialsIdentityId"] {
        assert_eq!(dev[field], dev_id, "{field}");
    }
    assert_eq!(dev["tokenAud"], pool.as_str());
    assert_eq!(dev["tokenAmr"][0], "authenticated");
    assert_eq!(dev["bucket"], dev_bucket.as_str());
    assert_eq!(dev["body"], "hello from the Go SDK, developer");
    assert_ne!(dev["accessKeyId"], guest["accessKeyId"]);
    assert_eq!(
        dev["guestBucketError"], "AccessDenied",
        "the authenticated role, not the guests'"
    );
    // The Rust SDK sees the same developer identity.
    let same = app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins(DEV, "gopher")
        .send()
        .await
        .expect("developer token through the Rust SDK");
    assert_eq!(same.identity_id.as_deref(), Some(dev_id));

    assert_eq!(
        result["errors"],
        json!({
            "getIdOfAMissingPool": "ResourceNotFoundException",
            "developerTokenWithAWrongSecret": "InvalidSignatureException",
        })
    );
    eprintln!(
        "Go SDK test took {:.1}s (build and setup {:.1}s)",
        started.elapsed().as_secs_f64(),
        built.as_secs_f64()
    );
}
