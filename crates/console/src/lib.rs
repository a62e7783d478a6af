//! The operator console: a web console on its own listener
//! (`console.bind`), never on the public API port.
//!
//! Operators sign in through their own OpenID Connect provider
//! (authorization code with PKCE and a nonce, the ID token checked by the
//! `openidconnect` crate); `[[console.operators]]` maps a `sub` or a group
//! to the accounts it may see and a role, `viewer` (reads) or `operator`
//! (may change). Pages are rendered on the server (maud templates compiled
//! into the binary) and use no JavaScript at all: confirmations and diffs
//! are pages of their own, so a strict Content-Security-Policy holds.
//!
//! The console is a thin layer: it reads through the domain services and
//! changes things only through [`cognate_api::operator`], i.e. the same
//! operations, validation and audit trail as the API, with the operator's
//! `sub` as the caller of each record. No SQL, no token crypto here.
//!
//! # Layout
//! - [`config`] — [`ConsoleConfig`], the operator rules and roles.
//! - `session` — sessions (idle and absolute timeouts), cookies, CSRF tokens.
//! - `oidc` — sign-in: discovery, the authorization request, the callback.
//! - `html` — the page shell, shared pieces, error pages, security headers.
//! - `pages` — one module per area: accounts, pools, identities, keys,
//!   audit, usage.

// A handler's early answer is the page it ends with (`Err(HttpResponse)`):
// large, and returned once per request, where boxing would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use cognate_api::AppState;

pub mod config;
mod html;
mod oidc;
mod pages;
mod session;

pub use config::{ConsoleConfig, OperatorRule, Role};

/// The console's shared state.
pub struct Console {
    config: ConsoleConfig,
    api: web::Data<AppState>,
    sessions: session::Sessions,
    oidc: oidc::SignIn,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// The console over the API's shared state.
    pub fn new(config: ConsoleConfig, api: web::Data<AppState>) -> anyhow::Result<Arc<Console>> {
        let oidc = oidc::SignIn::new(&config)?;
        Ok(Arc::new(Console {
            sessions: session::Sessions::new(config.idle_timeout, config.absolute_timeout),
            config,
            api,
            oidc,
        }))
    }
}

#[cfg(feature = "bench")]
impl Console {
    /// A session of operator `sub` with the operator role in every account
    /// (its cookie's value), without signing in: for timing pages.
    pub fn bench_session(&self, sub: &str) -> String {
        let rule = OperatorRule {
            sub: Some(sub.to_owned()),
            group: None,
            accounts: vec!["*".into()],
            role: Role::Operator,
        };
        let config = ConsoleConfig {
            operators: vec![rule],
            ..self.config.clone()
        };
        self.sessions.start(session::SignedIn {
            sub: sub.to_owned(),
            name: None,
            grants: config::Grants::of(&config, sub, &[]),
        })
    }
}

impl Console {
    /// Operator `sub` (shown as `name`) behind `req`, as the caller of
    /// the records their sign-in and changes leave.
    fn operator(
        &self,
        req: &actix_web::HttpRequest,
        sub: &str,
        name: Option<&str>,
    ) -> cognate_api::operator::Operator {
        cognate_api::operator::Operator {
            sub: sub.to_owned(),
            issuer: self.config.issuer.clone(),
            name: name.map(str::to_owned),
            source_ip: Some(cognate_api::protocol::client_of(
                req,
                &self.api.trusted_proxies,
            )),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// A request to the console: the HTTP request and the console's state,
/// what every handler starts from.
pub(crate) struct Visit {
    req: actix_web::HttpRequest,
    console: web::Data<Console>,
}

impl actix_web::FromRequest for Visit {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Visit, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let console = web::Data::<Console>::extract(req).into_inner();
        std::future::ready(console.map(|console| Visit {
            req: req.clone(),
            console,
        }))
    }
}

/// Mount the console's routes.
pub fn configure(console: Arc<Console>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(console))
            .app_data(web::FormConfig::default().limit(256 * 1024))
            .route("/assets/console.css", web::get().to(html::stylesheet))
            .route("/signin", web::get().to(oidc::signin_page))
            .route("/login", web::get().to(oidc::login))
            .route("/auth/callback", web::get().to(oidc::callback))
            .route("/logout", web::post().to(oidc::logout))
            .configure(pages::routes)
            .default_service(web::to(|| async {
                HttpResponse::NotFound()
                    .content_type("text/html; charset=utf-8")
                    .body(html::bare_error("Not found", "There is no such page.").into_string())
            }));
    }
}

/// The security headers of every answer (see [`html::security_headers`]).
pub use html::security_headers;
