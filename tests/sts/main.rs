//! Proof that a real STS accepts the tokens Cognate signs: Ceph radosgw 16.2
//! (see `tests/support/ceph/README.md`) trusts Cognate as an OIDC provider,
//! trades a developer-identity token for S3 credentials through
//! AssumeRoleWithWebIdentity, and refuses a role meant for another pool.
//!
//! Skipped (with a note on stderr) only when Ceph cannot be fetched on this
//! machine; `COGNATE_CEPH_REQUIRED=1` makes that a failure.

mod credentials;
mod go_sdk;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod rgw;

use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use cognate_tests::ceph::{self, Ceph};
use serde_json::json;

use helpers::{spawn_app, TestApp};
use rgw::{admin_credentials, Reply, Rgw};

const DEV: &str = "login.cognate.sts-test";
/// What Cognito sends; RGW refuses spaces and `+` in it.
const SESSION_NAME: &str = "CognitoIdentityCredentials";

/// A Cognate app, the shared radosgw, and Cognate registered there as an
/// OIDC provider for `pool`.
struct World {
    ceph: &'static Ceph,
    app: TestApp,
    rgw: Rgw,
    admin: Credentials,
    /// The issuer without its scheme (`127.0.0.1:<port>`): the provider's
    /// name in ARNs and the prefix of its condition keys.
    issuer_host: String,
    /// A pool with a developer provider; its id is the tokens' `aud`.
    pool: String,
}

/// None (after saying why) when Ceph cannot be had on this machine.
async fn world() -> Option<World> {
    let ceph = match ceph::shared().await {
        Ok(ceph) => ceph,
        Err(e) if ceph::is_unavailable(&e) => {
            cognate_tests::skip(&format!("no Ceph radosgw to test against: {e:#}"));
            return None;
        }
        Err(e) => panic!("starting Ceph: {e:#}"),
    };
    let app = spawn_app().await;
    let pool = dev_pool(&app, "sts pool").await;
    let issuer_host = app.address.trim_start_matches("http://").to_owned();
    let rgw = Rgw::new(&ceph.endpoint);
    let admin = admin_credentials(ceph);

    // RGW stores the thumbprints (SHA-1 of the certificate, hex) and insists
    // on at least one; see the README for what it does with them.
    let thumbprint = x5c_thumbprint(&app).await;
    let reply = rgw
        .iam(
            &admin,
            "CreateOpenIDConnectProvider",
            &[
                ("Url", &app.address),
                ("ClientIDList.member.1", &pool),
                ("ThumbprintList.member.1", &thumbprint),
            ],
        )
        .await;
    eprintln!(
        "CreateOpenIDConnectProvider -> {} {}",
        reply.status, reply.body
    );
    let reply = reply.expect_status(200, "CreateOpenIDConnectProvider");
    assert_eq!(
        reply.field("OpenIDConnectProviderArn").as_deref(),
        Some(format!("arn:aws:iam:::oidc-provider/{issuer_host}").as_str())
    );
    Some(World {
        ceph,
        app,
        rgw,
        admin,
        issuer_host,
        pool,
    })
}

async fn dev_pool(app: &TestApp, name: &str) -> String {
    app.client
        .create_identity_pool()
        .identity_pool_name(name)
        .allow_unauthenticated_identities(false)
        .developer_provider_name(DEV)
        .send()
        .await
        .expect("create pool")
        .identity_pool_id
}

/// The JSON answer to a GET of `url`.
async fn get_json(app: &TestApp, url: &str) -> serde_json::Value {
    let res = app.http.get(url).send().await.unwrap();
    res.json().await.unwrap()
}

/// The SHA-1 thumbprint (hex) of the first JWKS key's certificate, found
/// as RGW finds it: discovery, then `jwks_uri`. `x5t` is that SHA-1 in
/// base64url.
async fn x5c_thumbprint(app: &TestApp) -> String {
    use base64::Engine as _;
    let discovery_url = format!("{}/.well-known/openid-configuration", app.address);
    let discovery = get_json(app, &discovery_url).await;
    let jwks = get_json(app, discovery["jwks_uri"].as_str().expect("jwks_uri")).await;
    let key = &jwks["keys"][0];
    assert!(key["x5c"][0].is_string(), "RGW needs x5c: {key}");
    let sha1 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["x5t"].as_str().expect("x5t"))
        .unwrap();
    sha1.iter().map(|b| format!("{b:02x}")).collect()
}

impl World {
    /// A developer token for `user` of the world's pool, with the principal
    /// tag team=blue (`https://aws.amazon.com/tags`).
    async fn token(&self, user: &str, duration: Option<i64>) -> String {
        self.app
            .client
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(&self.pool)
            .logins(DEV, user)
            .principal_tags("team", "blue")
            .set_token_duration(duration)
            .send()
            .await
            .expect("developer token")
            .token
            .expect("a token")
    }

    /// A role trusted for web identities of Cognate whose `aud` is
    /// `audience`, allowed s3:* while its session carries the principal tag
    /// team=`team`. Returns the role ARN.
    async fn role(&self, name: &str, audience: &str, team: &str) -> String {
        let arn = self
            .rgw
            .create_web_identity_role(&self.admin, name, &self.issuer_host, audience)
            .await;
        assert_eq!(arn, format!("arn:aws:iam:::role/{name}"));
        let statement = json!({
            "Effect": "Allow",
            "Action": ["s3:*"],
            "Resource": ["arn:aws:s3:::*"],
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": team}}
        });
        self.rgw
            .put_role_statement(&self.admin, name, "s3-for-the-team", statement)
            .await;
        arn
    }

    /// S3 GetObject of `hello.txt` in `bucket` with `creds` (`what` they
    /// are, for the log).
    async fn get_hello(&self, creds: &Credentials, bucket: &str, what: &str) -> Reply {
        let path = format!("/{bucket}/hello.txt");
        let reply = self.rgw.s3(creds, "GET", &path, b"").await;
        eprintln!("S3 GetObject {what} -> {} {}", reply.status, reply.body);
        reply
    }

    async fn assume(&self, role_arn: &str, token: &str) -> Reply {
        let reply = self
            .rgw
            .assume_role_with_web_identity(role_arn, SESSION_NAME, token, 3600)
            .await;
        eprintln!(
            "AssumeRoleWithWebIdentity({role_arn}) -> {} {}",
            reply.status, reply.body
        );
        reply
    }

    /// How long radosgw's log is now; see [`World::rgw_log_since`].
    fn rgw_log_len(&self) -> usize {
        std::fs::metadata(self.ceph.log_path("client.rgw")).map_or(0, |m| m.len() as usize)
    }

    /// What radosgw logged since `len` (the reason of a refusal is there).
    fn rgw_log_since(&self, len: usize) -> String {
        let log = std::fs::read(self.ceph.log_path("client.rgw")).unwrap_or_default();
        String::from_utf8_lossy(log.get(len..).unwrap_or_default()).into_owned()
    }
}

/// The level-0 lines of a stretch of radosgw's log: the refusal's reason.
fn reasons(log: &str) -> String {
    log.lines()
        .filter(|l| {
            [
                "failed",
                "deny",
                "doesn't match",
                "ERROR",
                "not found",
                "Invalid",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .map(|l| l.split_once("  0 ").map_or(l, |(_, msg)| msg))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_access_denied(reply: &Reply, what: &str, log: &str) {
    eprintln!("{what}: refused because:\n{}", reasons(log));
    assert_eq!(
        reply.status, 403,
        "{what}: {} {}\n{log}",
        reply.status, reply.body
    );
    assert_eq!(reply.content_type.as_deref(), Some("application/xml"));
    assert_eq!(
        reply.field("Code").as_deref(),
        Some("AccessDenied"),
        "{what}: {}",
        reply.body
    );
}

#[tokio::test]
async fn radosgw_trades_a_cognate_token_for_s3_credentials_and_refuses_another_pools_role() {
    let started = Instant::now();
    let Some(world) = world().await else { return };
    let token = world.token("alice", None).await;
    let role = world.role("cognate-sts-proof", &world.pool, "blue").await;

    let mark = world.rgw_log_len();
    let reply = world.assume(&role, &token).await;
    assert_eq!(
        reply.status,
        200,
        "{}\n{}",
        reply.body,
        world.rgw_log_since(mark)
    );
    assert_eq!(reply.content_type.as_deref(), Some("application/xml"));
    for field in [
        "AssumeRoleWithWebIdentityResponse",
        "AssumeRoleWithWebIdentityResult",
        "AssumedRoleUser",
        "SubjectFromWebIdentityToken",
    ] {
        assert!(
            reply.body.contains(&format!("<{field}>")),
            "{field}: {}",
            reply.body
        );
    }
    let identity_id = helpers::claims_of(&token)["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reply.field("SubjectFromWebIdentityToken").as_deref(),
        Some(identity_id.as_str())
    );
    assert_eq!(
        reply.field("Audience").as_deref(),
        Some(world.pool.as_str())
    );
    assert_eq!(
        reply.field("Provider").as_deref(),
        Some(world.app.address.as_str())
    );
    assert_eq!(
        reply.field("Arn").as_deref(),
        Some(format!("arn:aws:sts:::assumed-role/cognate-sts-proof/{SESSION_NAME}").as_str())
    );
    let expiration = reply.field("Expiration").expect("Expiration");
    let expires = chrono::DateTime::parse_from_rfc3339(&expiration)
        .unwrap_or_else(|e| panic!("Expiration {expiration:?}: {e}"));
    let lifetime = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!(
        (3500..=3601).contains(&lifetime),
        "DurationSeconds=3600 gives an hour: {lifetime} s"
    );
    let creds = Credentials::new(
        reply.field("AccessKeyId").expect("AccessKeyId"),
        reply.field("SecretAccessKey").expect("SecretAccessKey"),
        Some(reply.field("SessionToken").expect("SessionToken")),
        None,
        "rgw-sts",
    );

    // The temporary credentials work for S3.
    let bucket = "cognate-sts-proof";
    let put = world
        .rgw
        .s3(&creds, "PUT", &format!("/{bucket}"), b"")
        .await;
    eprintln!("S3 CreateBucket -> {} {}", put.status, put.body);
    put.expect_status(200, "CreateBucket");
    let body = b"signed by Cognate, trusted by Ceph";
    world
        .rgw
        .s3(&creds, "PUT", &format!("/{bucket}/hello.txt"), body)
        .await
        .expect_status(200, "PutObject");
    let got = world
        .rgw
        .s3(&creds, "GET", &format!("/{bucket}/hello.txt"), b"")
        .await
        .expect_status(200, "GetObject");
    assert_eq!(got.body.as_bytes(), body);

    // A role whose trust policy names another pool's id as `aud`: the token
    // is valid, the condition fails.
    let other_pool = dev_pool(&world.app, "another pool").await;
    let other_role = world
        .role("cognate-sts-other-pool", &other_pool, "blue")
        .await;
    let mark = world.rgw_log_len();
    let reply = world.assume(&other_role, &token).await;
    let log = world.rgw_log_since(mark);
    assert_access_denied(&reply, "a role for another pool", &log);
    assert!(
        log.contains("returned deny/pass"),
        "refused by the trust policy, not the token:\n{log}"
    );

    // The session's principal tags are what the role's permissions see: a
    // role that allows S3 to team=red only lets the session in, then
    // refuses it S3.
    let red = world.role("cognate-sts-red-team", &world.pool, "red").await;
    let reply = world.assume(&red, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let red_creds = Credentials::new(
        reply.field("AccessKeyId").unwrap(),
        reply.field("SecretAccessKey").unwrap(),
        reply.field("SessionToken"),
        None,
        "rgw-sts-red",
    );
    let denied = world.get_hello(&red_creds, bucket, "as team=red").await;
    assert_eq!(denied.status, 403, "{}", denied.body);

    // The first role still works with a fresh token (nothing was cached
    // wrongly), and credentials without a session token do not.
    let again = world.assume(&role, &world.token("alice", None).await).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let forged = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        None,
        None,
        "no-session-token",
    );
    let denied = world
        .get_hello(&forged, bucket, "without the session token")
        .await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    eprintln!(
        "proof took {:.1}s (Ceph startup {:.1}s, shared by this binary's tests)",
        started.elapsed().as_secs_f64(),
        world.ceph.startup.as_secs_f64()
    );
}

#[tokio::test]
async fn radosgw_refuses_a_tampered_an_expired_and_a_foreign_token() {
    let Some(world) = world().await else { return };
    let role = world
        .role("cognate-sts-refusals", &world.pool, "blue")
        .await;

    // A valid signature over other claims: the signature check fails.
    let token = world.token("bob", None).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = helpers::claims_of(&token);
    claims["sub"] = json!("us-east-1:00000000-0000-0000-0000-000000000000");
    {
        use base64::Engine as _;
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).unwrap());
    }
    let mark = world.rgw_log_len();
    let reply = world.assume(&role, &parts.join(".")).await;
    let log = world.rgw_log_since(mark);
    assert_access_denied(&reply, "a tampered token", &log);
    assert!(log.contains("Signature validation failed"), "{log}");

    // A token that has expired, by one second: no leeway.
    let short = world.token("bob", Some(1)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mark = world.rgw_log_len();
    let reply = world.assume(&role, &short).await;
    let log = world.rgw_log_since(mark);
    assert_access_denied(&reply, "an expired token", &log);
    assert!(log.contains("Signature validation failed"), "{log}");

    // A token of a pool that is not in the provider's ClientIDList.
    let stranger = dev_pool(&world.app, "unregistered pool").await;
    let token = world
        .app
        .client
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&stranger)
        .logins(DEV, "bob")
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let mark = world.rgw_log_len();
    let reply = world.assume(&role, &token).await;
    let log = world.rgw_log_since(mark);
    assert_access_denied(&reply, "a token for an unregistered client id", &log);
    assert!(log.contains("Client id in token doesn't match"), "{log}");

    // A session name with a space (as some SDKs would send) is refused.
    let reply = world
        .rgw
        .assume_role_with_web_identity(
            &role,
            "Cognito Identity",
            &world.token("bob", None).await,
            3600,
        )
        .await;
    eprintln!(
        "RoleSessionName with a space -> {} {}",
        reply.status, reply.body
    );
    assert_ne!(reply.status, 200, "{}", reply.body);
}
