//! Operational endpoints (liveness, readiness, metrics) and the documents
//! relying parties fetch to trust Cognate's tokens: OpenID discovery and
//! the JWKS, at `/.well-known/...` and under the issuer URL's path.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// `GET /readyz`: the database answers, and the service is not refusing
/// every request for lack of a budget (then a load balancer should send
/// the traffic to another instance).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Some(why) = saturation(&state) {
        tracing::warn!(why, "readiness check failed: saturated");
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("saturated: {why}\n"));
    }
    let store = state.store.clone();
    let pinged = state
        .on_database_runtime(async move { store.ping().await })
        .await;
    match pinged
        .map_err(|e| e.internal.unwrap_or_default())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unreachable\n")
        }
    }
}

/// Why every request would be refused now, if it would.
fn saturation(state: &AppState) -> Option<&'static str> {
    if state.body_budget.saturated(state.max_body_bytes) {
        Some("the request-body budget (server.max_buffered_body_bytes) is used up")
    } else if state.admission.saturated() {
        Some("every request slot (server.max_public_requests, max_signed_requests) is taken")
    } else {
        None
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.db_up(state.store.is_available());
    state.metrics.saturated(saturation(&state).is_some());
    state.metrics.open_connections(state.connections.open());
    let rotation = state.keys.config().rotation_period;
    let now = chrono::Utc::now();
    if let Some(signing) = state
        .keys
        .keys_info()
        .into_iter()
        .find(|k| k.status == cognate_token::KeyStatus::Signing)
    {
        let age = (now - signing.activate_at).num_milliseconds() as f64 / 1000.0;
        state.metrics.signing_key(age, rotation.as_secs_f64() - age);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// How long relying parties may cache the documents. A new key is
/// published long before it signs (`tokens.publish_ahead_seconds`), so a
/// cached JWKS never lacks the key of a fresh token.
const DOCUMENT_MAX_AGE: &str = "public, max-age=300";

fn document(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", DOCUMENT_MAX_AGE))
        .body(body.to_string())
}

/// `GET /.well-known/jwks_uri`: the published public keys, signer first.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    document(state.keys.jwks_json())
}

/// `GET /.well-known/openid-configuration`.
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    document(state.keys.discovery_json())
}

/// The documents under the issuer URL's path (when it has one); anything
/// else is answered as an unknown operation.
pub async fn under_issuer_path(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if req.method() == actix_web::http::Method::GET && !state.issuer_path.is_empty() {
        if let Some(rest) = req.path().strip_prefix(state.issuer_path.as_str()) {
            match rest {
                "/.well-known/jwks_uri" | "/.well-known/jwks.json" => return jwks(state).await,
                "/.well-known/openid-configuration" => return openid_configuration(state).await,
                _ => {}
            }
        }
    }
    crate::protocol::not_found(req).await
}
