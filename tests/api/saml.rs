//! SAML federation end to end: a real SAML IdP (PyPI pysaml2, signing with
//! Debian's xmlsec1, `tests/support/saml/idp.py`) issues responses, the
//! unmodified Rust SDK presents them to Cognate in `Logins` under the
//! provider ARN; and every known attack on SAML relying parties, built from
//! the IdP's real responses, is refused.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::helpers::{
    assert_error_code, create_pool_request, create_pool_with, credentials_for, database,
    error_code, error_message, sdk_client, set_principal_tags, spawn_app, spawn_app_with,
    update_pool, verify_with_jwks, TestApp, ACCESS_KEY_A, REGION, SECRET_KEY_A,
};
use crate::steps::{assert_ran, equals_rule_mapping, identity_logins, issued_token, tool_works};

const PROVIDER: &str = "arn:aws:iam::111111111111:saml-provider/corp";
const ROLE_A: &str = "arn:aws:iam::111111111111:role/SamlA";
const ROLE_B: &str = "arn:aws:iam::111111111111:role/SamlB";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support/saml/idp.py");

/// A client with a fresh connection pool for each call: the IdP script can
/// take seconds on a loaded machine, longer than the server keeps an idle
/// connection, and the test clients do not retry.
trait FreshClient {
    fn sdk(&self) -> aws_sdk_cognitoidentity::Client;
}

impl FreshClient for TestApp {
    fn sdk(&self) -> aws_sdk_cognitoidentity::Client {
        sdk_client(&self.address, ACCESS_KEY_A, SECRET_KEY_A, REGION)
    }
}

/// Whether python3 with pysaml2 and xmlsec1 are here; else skip (fail in CI).
fn idp_available() -> bool {
    tool_works(
        "python3",
        &["-c", "import saml2"],
        "python3 with pysaml2 is not installed",
    ) && tool_works("xmlsec1", &["--version"], "xmlsec1 is not installed")
}

/// A base64 SAML response from the test IdP, run with `args`.
fn saml_response(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run idp.py");
    assert_ran(&out, "idp.py");
    String::from_utf8(out.stdout).expect("base64")
}

fn role_pair(role: &str) -> String {
    format!("{role},{PROVIDER}")
}

/// A response granting ROLE_A to `name_id`.
fn alice(name_id: &str) -> String {
    saml_response(&["--name-id", name_id, "--role", &role_pair(ROLE_A)])
}

async fn saml_pool(app: &TestApp) -> String {
    create_pool_with(&app.sdk(), "saml", false, |r| {
        r.allow_classic_flow(true).saml_provider_arns(PROVIDER)
    })
    .await
}

/// An app and a pool naming the SAML provider; None (skipped) without the IdP.
async fn saml_app() -> Option<(TestApp, String)> {
    if !idp_available() {
        return None;
    }
    let app = spawn_app().await;
    let pool = saml_pool(&app).await;
    Some((app, pool))
}

async fn get_id(app: &TestApp, pool: &str, response: &str) -> Result<String, (String, String)> {
    crate::helpers::get_id(&app.sdk(), pool, &[(PROVIDER, response)])
        .send()
        .await
        .map(|o| o.identity_id.unwrap_or_default())
        .map_err(|e| (error_code(&e), error_message(&e)))
}

fn decoded(response: &str) -> String {
    String::from_utf8(STANDARD.decode(response).unwrap()).unwrap()
}

fn encoded(xml: &str) -> String {
    STANDARD.encode(xml)
}

/// The `<ns1:Assertion ...>...</ns1:Assertion>` element of pysaml2's XML.
fn assertion_of(xml: &str) -> String {
    let start = xml.find("<ns1:Assertion ").expect("assertion");
    let end = xml.find("</ns1:Assertion>").expect("assertion end") + "</ns1:Assertion>".len();
    xml[start..end].to_owned()
}

#[tokio::test]
async fn a_saml_login_gets_an_identity_and_an_openid_token() {
    let Some((app, pool)) = saml_app().await else {
        return;
    };
    let response = alice("alice@example.com");

    let id = get_id(&app, &pool, &response).await.expect("GetId");
    // The same user again (a new response): the same identity.
    let again = get_id(&app, &pool, &alice("alice@example.com"))
        .await
        .unwrap();
    assert_eq!(again, id);
    // Another user: another identity.
    let bob = get_id(&app, &pool, &alice("bob@example.com"))
        .await
        .unwrap();
    assert_ne!(bob, id);

    // The SDKs send the same Logins again to the next call.
    let token = issued_token(&app.client, &id, &[(PROVIDER, &response)]).await;
    let (_, claims) = verify_with_jwks(&app, &token).await.expect("verifies");
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["aud"], pool.as_str());
    let amr = claims["amr"].as_array().unwrap();
    assert!(amr.iter().any(|v| v == PROVIDER), "{claims}");

    // The identity's login is the ARN; the NameID is stored only hashed.
    assert_eq!(
        identity_logins(&app.client, &id).await,
        vec![PROVIDER.to_owned()]
    );
    let client = database(&app).await;
    let dump: String = client
        .query_one(
            "SELECT string_agg(t::text, ' ') FROM identity_logins t",
            &[],
        )
        .await
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .unwrap_or_default();
    assert!(!dump.contains("alice@example.com"), "{dump}");
}

#[tokio::test]
async fn a_pool_cannot_name_an_undeclared_saml_provider() {
    let app = spawn_app().await;
    for arn in [
        "arn:aws:iam::111111111111:saml-provider/undeclared",
        // Declared, but for account A: not account B's.
        PROVIDER,
    ] {
        let client = if arn == PROVIDER {
            app.client_b()
        } else {
            app.sdk().clone()
        };
        let err = create_pool_request(&client, "saml", false)
            .saml_provider_arns(arn)
            .send()
            .await
            .expect_err("refused");
        assert_eq!(error_code(&err), "InvalidParameterException", "{arn}");
        assert!(
            error_message(&err).contains("Invalid SamlProviderARN"),
            "{err:?}"
        );
    }
    let pool = saml_pool(&app).await;
    let other = "arn:aws:iam::111111111111:saml-provider/other";
    let updated = update_pool(&app.client, &pool, "saml", false)
        .saml_provider_arns(other)
        .send()
        .await;
    assert_error_code(updated, "InvalidParameterException");
}

/// A fake STS that answers every AssumeRoleWithWebIdentity and records the
/// role asked for; its endpoint URL.
fn recording_sts() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let roles = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&roles);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            // Read headers and the form body (Content-Length).
            loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&buf).to_string();
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            let role = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("RoleArn="))
                .map(|v| v.replace("%3A", ":").replace("%2F", "/"))
                .unwrap_or_default();
            seen.lock().unwrap().push(role);
            let xml = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><SessionToken>t</SessionToken><SecretAccessKey>s</SecretAccessKey><Expiration>2099-01-01T00:00:00Z</Expiration><AccessKeyId>ASIASAML</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            );
        }
    });
    (url, roles)
}

/// An app whose STS is a [`recording_sts`], a pool naming the SAML
/// provider, and the roles STS was asked for; None (skipped) without the IdP.
async fn saml_app_recording_sts() -> Option<(TestApp, String, Arc<Mutex<Vec<String>>>)> {
    if !idp_available() {
        return None;
    }
    let (sts, roles_asked) = recording_sts();
    let app = spawn_app_with(|s| s.sts.endpoint = Some(sts.try_into().unwrap())).await;
    let pool = saml_pool(&app).await;
    Some((app, pool, roles_asked))
}

#[tokio::test]
async fn the_role_comes_from_the_assertion_and_custom_role_arn_picks_among_several() {
    let Some((app, pool, roles_asked)) = saml_app_recording_sts().await else {
        return;
    };
    let credentials = |response: String, custom: Option<&'static str>| {
        let app = &app;
        let pool = pool.clone();
        async move {
            let id = get_id(app, &pool, &response).await.expect("GetId");
            credentials_for(&app.sdk(), &id, &[(PROVIDER, &response)])
                .set_custom_role_arn(custom.map(str::to_owned))
                .send()
                .await
                .map(|o| o.credentials.unwrap().access_key_id.unwrap())
                .map_err(|e| (error_code(&e), error_message(&e)))
        }
    };

    // One role in the assertion: that one.
    let one = alice("carol@example.com");
    assert_eq!(credentials(one.clone(), None).await.unwrap(), "ASIASAML");
    assert_eq!(roles_asked.lock().unwrap().last().unwrap(), ROLE_A);
    // A role the assertion does not grant is refused.
    let (code, message) = credentials(one, Some(ROLE_B)).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert!(
        message.contains("not in the roles the SAML assertion grants"),
        "{message}"
    );

    // Several roles (pairs in either order): CustomRoleArn chooses.
    let several = saml_response(&[
        "--name-id",
        "dave@example.com",
        "--role",
        &role_pair(ROLE_A),
        "--role",
        &format!("{PROVIDER},{ROLE_B}"),
    ]);
    let (code, _) = credentials(several.clone(), None).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    credentials(several.clone(), Some(ROLE_B)).await.unwrap();
    assert_eq!(roles_asked.lock().unwrap().last().unwrap(), ROLE_B);
    credentials(several, Some(ROLE_A)).await.unwrap();
    assert_eq!(roles_asked.lock().unwrap().last().unwrap(), ROLE_A);

    // An assertion cannot hand out another account's role.
    let theirs = "arn:aws:iam::222222222222:role/Theirs";
    let foreign = saml_response(&["--name-id", "eve@example.com", "--role", &role_pair(theirs)]);
    let asked = roles_asked.lock().unwrap().len();
    let (code, message) = credentials(foreign, None).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert_eq!(message, format!("Access to Role '{theirs}' is forbidden."));
    assert_eq!(roles_asked.lock().unwrap().len(), asked, "STS not asked");
}

#[tokio::test]
async fn rules_role_mappings_match_saml_attributes() {
    use aws_sdk_cognitoidentity::types::AmbiguousRoleResolutionType;
    let Some((app, pool, roles_asked)) = saml_app_recording_sts().await else {
        return;
    };
    let deny = AmbiguousRoleResolutionType::Deny;
    let mapping = equals_rule_mapping("department", "eng", ROLE_B, deny);
    app.sdk()
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", ROLE_A)
        .role_mappings(PROVIDER, mapping)
        .send()
        .await
        .expect("a role mapping for the SAML provider");
    let ask = |attr: &'static str| {
        let app = &app;
        let pool = pool.clone();
        async move {
            let response = saml_response(&["--name-id", "erin@example.com", "--attr", attr]);
            let id = get_id(app, &pool, &response).await.expect("GetId");
            credentials_for(&app.sdk(), &id, &[(PROVIDER, &response)])
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error_code(&e))
        }
    };
    ask("department=eng").await.unwrap();
    assert_eq!(roles_asked.lock().unwrap().last().unwrap(), ROLE_B);
    assert_eq!(
        ask("department=sales").await.unwrap_err(),
        "NotAuthorizedException"
    );
}

/// Why each attack case must be refused (a part of the message).
fn expected_reason(what: &str) -> &'static str {
    match what {
        "unsigned assertion" | "signature by a key not in the metadata" | "tampered NameID" => {
            "Couldn't verify the signature"
        }
        "wrong audience" => "audience doesn't match",
        "wrong recipient and destination" => "destination doesn't match",
        "wrong issuer" => "issuer doesn't match",
        "expired" => "expired",
        w if w.starts_with("not yet valid") => "not valid yet",
        "billion laughs" | "external entity" => "must not contain a DTD",
        "comment inside NameID" => "must not contain comments",
        _ => "exactly one unencrypted assertion",
    }
}

/// Every attack, built from the real IdP's responses, each refused.
#[tokio::test]
async fn attacks_on_the_relying_party_are_refused() {
    let Some((app, pool)) = saml_app().await else {
        return;
    };
    let good = alice("alice@example.com");
    get_id(&app, &pool, &good)
        .await
        .expect("the genuine response");
    let xml = decoded(&good);
    let assertion = assertion_of(&xml);
    let evil = assertion
        .replace("alice@example.com", "mallory@example.com")
        .replacen(" ID=\"", " ID=\"evil-", 1);
    let evil_unsigned = {
        // Strip the signature from the evil copy.
        let start = evil.find("<ns2:Signature").unwrap();
        let end = evil.find("</ns2:Signature>").unwrap() + "</ns2:Signature>".len();
        format!("{}{}", &evil[..start], &evil[end..])
    };

    let mut cases: Vec<(&str, String)> = vec![
        ("unsigned assertion", saml_response(&["--sign", "none", "--role", &role_pair(ROLE_A)])),
        (
            "signature by a key not in the metadata",
            saml_response(&["--key", "other", "--role", &role_pair(ROLE_A)]),
        ),
        (
            "wrong audience",
            saml_response(&["--audience", "urn:someone:else", "--role", &role_pair(ROLE_A)]),
        ),
        (
            "wrong recipient and destination",
            saml_response(&["--recipient", "https://sp.example.com/acs", "--role", &role_pair(ROLE_A)]),
        ),
        (
            "wrong issuer",
            saml_response(&["--issuer", "https://other-idp.example.com", "--role", &role_pair(ROLE_A)]),
        ),
        (
            "expired",
            saml_response(&["--lifetime-minutes", "-10", "--role", &role_pair(ROLE_A)]),
        ),
        (
            "not yet valid (the IdP's clock 30 minutes ahead)",
            saml_response(&[
                "--clock-offset-minutes",
                "30",
                "--lifetime-minutes",
                "60",
                "--role",
                &role_pair(ROLE_A),
            ]),
        ),
        (
            "tampered NameID",
            encoded(&xml.replace("alice@example.com", "mallory@example.com")),
        ),
        (
            "an unsigned assertion before the signed one",
            encoded(&xml.replace(&assertion, &format!("{evil_unsigned}{assertion}"))),
        ),
        (
            "an unsigned assertion after the signed one",
            encoded(&xml.replace(&assertion, &format!("{assertion}{evil_unsigned}"))),
        ),
        (
            "the signed assertion moved under Extensions",
            encoded(&xml.replace(
                &assertion,
                &format!("<ns0:Extensions>{assertion}</ns0:Extensions>{evil_unsigned}"),
            )),
        ),
        (
            "the signed assertion moved under a ds:Object",
            encoded(&xml.replace(
                &assertion,
                &format!("<ns2:Signature><ns2:Object>{assertion}</ns2:Object></ns2:Signature>{evil_unsigned}"),
            )),
        ),
        (
            "billion laughs",
            encoded(&format!(
                "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>{}",
                xml.trim_start_matches("<?xml version=\"1.0\"?>").replace("alice@example.com", "&c;")
            )),
        ),
        (
            "external entity",
            encoded(&format!(
                "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
                xml.trim_start_matches("<?xml version=\"1.0\"?>").replace("alice@example.com", "&x;")
            )),
        ),
    ];
    // A comment inside NameID: the signature (exclusive c14n drops
    // comments) still verifies, a lax reader would take "user@evil.com".
    let split = saml_response(&[
        "--name-id",
        "user@evil.com.example.com",
        "--role",
        &role_pair(ROLE_A),
    ]);
    cases.push((
        "comment inside NameID",
        encoded(&decoded(&split).replace(
            "user@evil.com.example.com",
            "user@evil.com<!---->.example.com",
        )),
    ));

    for (what, response) in &cases {
        let (code, message) = get_id(&app, &pool, response).await.expect_err(what);
        assert_eq!(code, "NotAuthorizedException", "{what}: {message}");
        assert!(
            message.starts_with("Invalid login token."),
            "{what}: {message}"
        );
        let why = expected_reason(what);
        assert!(message.contains(why), "{what}: {message} (wanted {why:?})");
        assert!(
            !message.contains("xmlsec") && !message.contains("libxml"),
            "{what}: {message}"
        );
    }

    // 1 MB: refused before any XML is read.
    let huge = encoded(&format!("{xml}<!--{}-->", "x".repeat(1024 * 1024)));
    let (code, _) = get_id(&app, &pool, &huge).await.expect_err("1 MB");
    assert!(
        // The request body limit answers before the model's 50,000-character
        // cap on Logins values or the SAML size cap could.
        matches!(
            code.as_str(),
            "SerializationException" | "ValidationException" | "NotAuthorizedException"
        ),
        "{code}"
    );

    // A response for another pool's provider: a pool that does not name it.
    let other_pool = create_pool_with(&app.client, "no saml", false, |r| {
        r.supported_login_providers("accounts.google.com", "g")
    })
    .await;
    let (code, message) = get_id(&app, &other_pool, &good).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert!(
        message.contains("not from a supported provider"),
        "{message}"
    );
}

#[tokio::test]
async fn saml_attributes_become_principal_tags_through_the_pools_tag_map() {
    let Some((app, pool)) = saml_app().await else {
        return;
    };
    let session = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
    set_principal_tags(&app.sdk(), &pool, PROVIDER, true)
        .principal_tags("dept", "department")
        .principal_tags("session", session)
        .send()
        .await
        .expect("a tag map for the SAML provider");
    let response = saml_response(&["--name-id", "gina@example.com", "--attr", "department=eng"]);
    let id = get_id(&app, &pool, &response).await.unwrap();
    let token = issued_token(&app.client, &id, &[(PROVIDER, &response)]).await;
    let (_, claims) = verify_with_jwks(&app, &token).await.unwrap();
    let tags = &claims["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(
        tags["username"],
        serde_json::json!(["gina@example.com"]),
        "{tags}"
    );
    assert_eq!(
        tags["client"],
        serde_json::json!(["urn:amazon:webservices"])
    );
    assert_eq!(tags["dept"], serde_json::json!(["eng"]));
    assert_eq!(tags["session"], serde_json::json!(["gina"]));
}
