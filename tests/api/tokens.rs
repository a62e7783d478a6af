//! Cognate's own tokens: discovery, JWKS, verification by independent
//! libraries, tokens as logins, rotation.

use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;

use crate::helpers::{
    assert_error_code, claims_of, create_pool_with, database, error_code, get_id, json_output,
    open_id_token, spawn_app, store, verify_with_jwks, TestApp, COGNITO,
};

const DEV: &str = "login.tokens.test";

/// A new pool with the developer provider `DEV`, and the identity id and
/// token of its developer user `user`: (pool, identity, token).
async fn developer_token(
    app: &TestApp,
    user: &str,
    duration: Option<i64>,
) -> (String, String, String) {
    let pool = create_pool_with(&app.client, "tokens", true, |p| {
        p.allow_classic_flow(true).developer_provider_name(DEV)
    })
    .await;
    let request = crate::helpers::developer_token(&app.client, &pool, (DEV, user));
    let out = request.set_token_duration(duration).send().await.unwrap();
    (pool, out.identity_id.unwrap(), out.token.unwrap())
}

async fn get_json(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, serde_json::Value) {
    let url = format!("{}{path}", app.address);
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    (res.headers().clone(), res.json().await.unwrap())
}

#[tokio::test]
async fn discovery_and_jwks_publish_what_a_relying_party_needs() {
    let app = spawn_app().await;
    let (headers, discovery) = get_json(&app, "/.well-known/openid-configuration").await;
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    assert_eq!(discovery["issuer"], app.address.as_str());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks_uri", app.address).as_str()
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS512"])
    );
    assert!(discovery["subject_types_supported"].is_array());
    assert!(discovery["response_types_supported"].is_array());
    let (_, jwks) = get_json(&app, "/.well-known/jwks_uri").await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS512");
    assert_eq!(key["use"], "sig");
    for field in ["kid", "n", "e", "x5t"] {
        assert!(key[field].is_string(), "{field}");
    }
    // x5c is a DER certificate; x5t its SHA-1 thumbprint.
    let der = base64::engine::general_purpose::STANDARD
        .decode(key["x5c"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(der[0], 0x30, "a DER SEQUENCE");
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["x5t"].as_str().unwrap())
        .unwrap();
    assert_eq!(x5t.len(), 20);
}

#[tokio::test]
async fn a_tampered_or_foreign_token_is_not_a_valid_login() {
    let app = spawn_app().await;
    let (_, id, token) = developer_token(&app, "olive", None).await;
    let login = |t: String| open_id_token(&app.client, &id, &[(COGNITO, &t)]).send();
    login(token.clone()).await.expect("the genuine token works");
    // Payload changed (sub of another identity), signature kept.
    let mut claims = claims_of(&token);
    claims["exp"] = serde_json::json!(claims["exp"].as_i64().unwrap() + 3600);
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert!(
        verify_with_jwks(&app, &forged).await.is_err(),
        "an independent verifier refuses it too"
    );
    assert_eq!(
        error_code(&login(forged).await.unwrap_err()),
        "NotAuthorizedException"
    );
    // alg none.
    let none_header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_eq!(
        error_code(&login(unsigned).await.unwrap_err()),
        "NotAuthorizedException"
    );
    // Signature bytes flipped.
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    sig[0] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    );
    assert_eq!(
        error_code(&login(flipped).await.unwrap_err()),
        "NotAuthorizedException"
    );
    // A valid token of another identity.
    let (_, _, other) = developer_token(&app, "paul", None).await;
    assert_eq!(
        error_code(&login(other).await.unwrap_err()),
        "NotAuthorizedException"
    );
}

#[tokio::test]
async fn an_expired_token_is_not_a_valid_login() {
    let app = spawn_app().await;
    let (_, id, token) = developer_token(&app, "quinn", Some(1)).await;
    // One second of life plus the verifier's few seconds of leeway.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let expired = open_id_token(&app.client, &id, &[(COGNITO, &token)]);
    assert_error_code(expired.send().await, "NotAuthorizedException");
}

#[tokio::test]
async fn get_id_with_a_cognate_token_returns_its_identity() {
    let app = spawn_app().await;
    let (pool, id, token) = developer_token(&app, "rose", None).await;
    let got = get_id(&app.client, &pool, &[(COGNITO, &token)])
        .send()
        .await;
    let got = got.unwrap();
    assert_eq!(got.identity_id.as_deref(), Some(id.as_str()));
    // The same token presented to another pool is refused.
    let other_pool = app.create_pool("other").await;
    let elsewhere = get_id(&app.client, &other_pool, &[(COGNITO, &token)]);
    assert_error_code(elsewhere.send().await, "NotAuthorizedException");
}

#[tokio::test]
async fn a_login_from_a_provider_the_pool_does_not_have_is_refused() {
    let app = spawn_app().await;
    let pool = app.create_pool("plain").await;
    let facebook = get_id(&app.client, &pool, &[("graph.facebook.com", "whatever")]);
    assert_error_code(facebook.send().await, "NotAuthorizedException");
}

#[tokio::test]
async fn after_rotation_new_tokens_carry_the_new_kid_and_old_tokens_still_verify() {
    let app = spawn_app().await;
    let (_, id, old_token) = developer_token(&app, "sam", None).await;
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .unwrap()
        .kid
        .unwrap();
    // Rotate as `cognate keys rotate --now` would, from another key manager
    // on the same database; the app picks it up on its next refresh.
    let manager = cognate_server::startup::start_keys(&app.settings, Arc::new(store(&app)))
        .await
        .unwrap();
    let new_kid = manager
        .rotate_with(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_ne!(new_kid, old_kid);
    let mut token = String::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let login = open_id_token(&app.client, &id, &[(COGNITO, &old_token)]);
        let answer = login.send().await;
        token = answer
            .expect("the old token is still a valid login")
            .token
            .unwrap();
        if jsonwebtoken::decode_header(&token).unwrap().kid.as_deref() == Some(new_kid.as_str()) {
            break;
        }
    }
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.unwrap(),
        new_kid
    );
    verify_with_jwks(&app, &token)
        .await
        .expect("new token verifies");
    verify_with_jwks(&app, &old_token)
        .await
        .expect("old token still verifies");
    let (_, jwks) = get_json(&app, "/.well-known/jwks_uri").await;
    assert_eq!(
        jwks["keys"][0]["kid"],
        new_kid.as_str(),
        "the signing key is listed first"
    );
}

#[tokio::test]
async fn pyjwt_verifies_a_token_from_nothing_but_the_issuer_url() {
    let has_pyjwt = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_pyjwt {
        cognate_tests::skip("PyJWT with cryptography is not installed for python3");
        return;
    }
    let app = spawn_app().await;
    let (pool, id, token) = developer_token(&app, "tess", None).await;
    let script = r#"
import json, sys, urllib.request, jwt
issuer, token, aud = sys.argv[1], sys.argv[2], sys.argv[3]
conf = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))
key = jwt.PyJWKClient(conf["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=conf["id_token_signing_alg_values_supported"], audience=aud, issuer=issuer)
try:
    jwt.decode(token[:-4] + "AAAA", key.key, algorithms=["RS512"], audience=aud, issuer=issuer)
    tampered = "accepted"
except jwt.InvalidTokenError:
    tampered = "rejected"
print(json.dumps({"sub": claims["sub"], "tampered": tampered}))
"#;
    let address = app.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", script, &address, &token, &pool])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let result = json_output("PyJWT", &out);
    assert_eq!(result["sub"], id.as_str());
    assert_eq!(result["tampered"], "rejected");
}

#[tokio::test]
async fn with_a_key_encryption_key_the_stored_private_key_is_sealed() {
    use base64::Engine as _;
    let kek = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let app =
        crate::helpers::spawn_app_with(|s| s.tokens.key_encryption_key = Some(kek.into())).await;
    let (_, _, token) = developer_token(&app, "vera", None).await;
    verify_with_jwks(&app, &token)
        .await
        .expect("tokens still verify");
    let db = database(&app).await;
    let rows = db
        .query("SELECT encrypted, private_key FROM signing_keys", &[])
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let encrypted: bool = row.get(0);
        let key: Vec<u8> = row.get(1);
        assert!(encrypted, "sealed at rest");
        // An unsealed PKCS#8 key is a DER SEQUENCE with the RSA OID inside.
        let rsa_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        assert!(
            !key.windows(rsa_oid.len()).any(|w| w == rsa_oid),
            "no plain PKCS#8 in the database"
        );
    }
}

#[tokio::test]
async fn without_a_key_encryption_key_a_sealed_key_store_refuses_to_start() {
    use base64::Engine as _;
    let kek = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let app =
        crate::helpers::spawn_app_with(|s| s.tokens.key_encryption_key = Some(kek.into())).await;
    let mut settings = app.settings.clone();
    settings.tokens.key_encryption_key = None;
    let err = cognate_server::startup::start_keys(&settings, Arc::new(store(&app)))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").to_lowercase().contains("key"), "{err:#}");
}
