//! Signing in through the operators' OpenID provider: discovery (cached),
//! the authorization request (code flow, PKCE S256, a nonce, a `state`
//! bound to the browser), the callback (code exchanged with the client
//! secret and the PKCE verifier; the ID token's signature, issuer,
//! audience, expiry and nonce checked by `openidconnect`), then the
//! operator's grants from `[[console.operators]]` and a new session.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use maud::html;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{ConsoleConfig, Grants};
use crate::html::{self, Reply};
use crate::session::{self, SignedIn};
use crate::{Console, Visit};

/// How long the provider's metadata and keys are used before they are
/// fetched again (sooner after a failed sign-in).
const METADATA_TTL: Duration = Duration::from_secs(600);

/// The provider's metadata, and the HTTP client that fetches it.
pub(crate) struct SignIn {
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(CoreProviderMetadata, Instant)>>,
}

impl SignIn {
    pub fn new(config: &ConsoleConfig) -> anyhow::Result<SignIn> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| anyhow::anyhow!("console.issuer: {e}"))?;
        let redirect = RedirectUrl::new(format!("{}/auth/callback", config.public_url))
            .map_err(|e| anyhow::anyhow!("console.public_url: {e}"))?;
        // No redirects: a provider's endpoints are where its metadata says.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(SignIn {
            issuer,
            redirect,
            http,
            metadata: Mutex::new(None),
        })
    }

    async fn metadata(&self) -> anyhow::Result<CoreProviderMetadata> {
        let mut cached = self.metadata.lock().await;
        if let Some((metadata, fetched)) = cached.as_ref() {
            if fetched.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| anyhow::anyhow!("discovery at {}: {e}", self.issuer.as_str()))?;
        *cached = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// Fetch the metadata (and keys) again on the next sign-in.
    async fn forget(&self) {
        *self.metadata.lock().await = None;
    }
}

/// A path of the console to go to, or `/`.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
    login_hint: Option<String>,
    /// `login`: ask the provider to sign in again (another account), even
    /// if it has a session.
    prompt: Option<String>,
}

/// `GET /signin`: the sign-in page.
pub(crate) async fn signin_page(visit: Visit, query: web::Query<NextQuery>) -> HttpResponse {
    let Visit { req, console } = visit;
    let next = local_path(query.next.as_deref());
    if let Some(id) = session::session_id(&req, console.config.secure_cookies) {
        if console.sessions.touch(&id).is_some() {
            return html::see_other(&next);
        }
    }
    let login = format!("/login?next={}", url_encode(&next));
    html::ok(html::bare(
        "Sign in",
        html! {
            p { "Operators sign in with their organisation's identity provider:" }
            p.issuer { code { (console.config.issuer) } }
            p { a.button.primary href=(login) { "Sign in" } }
        },
    ))
}

/// `GET /login`: off to the provider.
pub(crate) async fn login(
    console: web::Data<Console>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    html::answer(start_login(&console, &query)).await
}

async fn start_login(console: &Console, query: &NextQuery) -> Reply {
    let metadata = console.oidc.metadata().await.map_err(|e| {
        tracing::warn!(error = %e, "console sign-in: the OpenID provider cannot be reached");
        unavailable()
    })?;
    let client = client(console, metadata);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &console.config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if query.prompt.as_deref() == Some("login") {
        request = request.add_extra_param("prompt", "login");
    }
    if let Some(hint) = query.login_hint.as_deref().filter(|h| h.len() <= 256) {
        request = request.add_extra_param("login_hint", hint.to_owned());
    }
    let (url, state, nonce) = request.url();
    let binding = session::random_token();
    console.sessions.begin_sign_in(
        state.secret().clone(),
        binding.clone(),
        verifier.secret().clone(),
        nonce.secret().clone(),
        local_path(query.next.as_deref()),
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .cookie(session::binding_cookie(
            binding,
            console.config.secure_cookies,
        ))
        .finish())
}

fn client(
    console: &Console,
    metadata: CoreProviderMetadata,
) -> openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
> {
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(console.config.client_id.clone()),
        console.config.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(console.oidc.redirect.clone())
}

fn unavailable() -> HttpResponse {
    html::error_page(
        actix_web::http::StatusCode::BAD_GATEWAY,
        "Sign-in is unavailable",
        "The operators' identity provider could not be reached. Try again in a moment.",
    )
}

fn refused(why: &str) -> HttpResponse {
    html::error_page(
        actix_web::http::StatusCode::FORBIDDEN,
        "Sign-in failed",
        &format!("{why} Start again from the sign-in page."),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: the provider sends the browser back.
pub(crate) async fn callback(visit: Visit, query: web::Query<CallbackQuery>) -> HttpResponse {
    html::answer(finish_login(&visit.req, &visit.console, &query)).await
}

async fn finish_login(req: &HttpRequest, console: &Console, query: &CallbackQuery) -> Reply {
    if let Some(error) = &query.error {
        let error: String = error.chars().take(64).collect();
        tracing::info!(error = %error, "console sign-in refused by the OpenID provider");
        return Err(refused("The identity provider refused the sign-in."));
    }
    let (Some(code), Some(state)) = (&query.code, &query.state) else {
        return Err(refused("The identity provider's answer was incomplete."));
    };
    let pending = console
        .sessions
        .finish_sign_in(state)
        .ok_or_else(|| refused("This sign-in is unknown or has expired."))?;
    // The browser that comes back must be the one that set off.
    let bound = req
        .cookie(session::BINDING_COOKIE)
        .is_some_and(|c| session::same(c.value(), &pending.binding));
    if !bound {
        return Err(refused("This sign-in was started in another browser."));
    }
    let metadata = console.oidc.metadata().await.map_err(|e| {
        tracing::warn!(error = %e, "console sign-in: the OpenID provider cannot be reached");
        unavailable()
    })?;
    let client = client(console, metadata);
    let exchange = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| {
            tracing::warn!(error = %e, "console sign-in: the provider has no token endpoint");
            unavailable()
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
    let tokens = exchange
        .request_async(&console.oidc.http)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "console sign-in: the code exchange failed");
            refused("The identity provider did not accept the sign-in.")
        })?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| refused("The identity provider sent no ID token."))?;
    let claims = match id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce)) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "console sign-in: the ID token was refused");
            // Its keys may have rotated: fetch them again next time.
            console.oidc.forget().await;
            return Err(refused("The ID token could not be verified."));
        }
    };
    let sub = claims.subject().as_str().to_owned();
    let name = claims
        .preferred_username()
        .map(|u| u.as_str().to_owned())
        .or_else(|| claims.email().map(|e| e.as_str().to_owned()));
    // The token is verified: its payload's other claims can be read.
    let groups = groups(&id_token.to_string(), &console.config.groups_claim);
    let grants = Grants::of(&console.config, &sub, &groups);
    let shown = name.clone().unwrap_or_else(|| sub.clone());
    let operator = console.operator(req, &sub, name.as_deref());
    let opened: Vec<_> = grants.accounts().map(|(a, _)| a.clone()).collect();
    cognate_api::operator::record_sign_in(&console.api, &operator, &opened);
    if grants.is_empty() {
        tracing::warn!(sub = %sub, "console sign-in: no [[console.operators]] entry matches");
        let page = html::bare(
            "No access",
            html! {
                p.notice.error role="alert" {
                    "You signed in as " (shown) ", but no console operator entry grants you access. "
                    "Ask whoever runs Cognate to add your sub (" code { (sub) } ") or one of your groups."
                }
                p { a.button.primary href="/login?prompt=login" { "Sign in with another account" } }
            },
        );
        return Err(HttpResponse::Forbidden()
            .content_type("text/html; charset=utf-8")
            .body(page.into_string()));
    }
    tracing::info!(sub = %sub, "console sign-in");
    let id = console.sessions.start(SignedIn { sub, name, grants });
    let secure = console.config.secure_cookies;
    // A page, not a redirect: the session cookie is SameSite=Strict, and a
    // navigation at the end of the provider's cross-site redirects would
    // not carry it; one started by this page does.
    let next = pending.next;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .cookie(session::session_cookie(id, secure))
        .cookie(session::removal(session::BINDING_COOKIE, "/auth", secure))
        .body(
            html::bare_with_refresh(
                "Signed in",
                &next,
                html! {
                    p { "Signed in as " strong { (shown) } "." }
                    p { a.button.primary href=(next) { "Continue" } }
                },
            )
            .into_string(),
        ))
}

/// The groups in the ID token's `claim` (a list of strings, or one string).
fn groups(id_token: &str, claim: &str) -> Vec<String> {
    let Some(payload) = id_token.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    match claims.get(claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /logout`: end the session.
pub(crate) async fn logout(visit: Visit, form: web::Form<CsrfForm>) -> HttpResponse {
    let Visit { req, console } = visit;
    let secure = console.config.secure_cookies;
    if let Some(id) = session::session_id(&req, secure) {
        if let Some(active) = console.sessions.touch(&id) {
            let given = form.csrf.as_deref().unwrap_or("");
            if !session::same(given, &active.csrf) {
                return html::csrf_refused();
            }
            console.sessions.end(&id);
        }
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/signin"))
        .cookie(session::removal(
            session::session_cookie_name(secure),
            "/",
            secure,
        ))
        .finish()
}

/// Percent-encode a query value.
pub(crate) fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_of_the_console_is_a_place_to_go_next() {
        assert_eq!(local_path(Some("/accounts/1/pools")), "/accounts/1/pools");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn groups_are_read_as_a_list_or_a_single_name() {
        let token = |claims: serde_json::Value| {
            format!("h.{}.s", URL_SAFE_NO_PAD.encode(claims.to_string()))
        };
        let list = token(serde_json::json!({ "groups": ["admins", "users"] }));
        assert_eq!(groups(&list, "groups"), ["admins", "users"]);
        let one = token(serde_json::json!({ "role": "ops" }));
        assert_eq!(groups(&one, "role"), ["ops"]);
        assert!(groups(&one, "groups").is_empty());
        assert!(groups("garbage", "groups").is_empty());
    }
}
