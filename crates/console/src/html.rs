//! The page shell, shared pieces, error pages and security headers.
//!
//! Every page is HTML rendered here, styled by one stylesheet compiled into
//! the binary; no script, no inline style, nothing from another origin —
//! what the Content-Security-Policy of [`security_headers`] enforces.

use actix_web::http::{header, StatusCode};
use actix_web::middleware::DefaultHeaders;
use actix_web::HttpResponse;
use cognate_api::error::ApiError;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// A handler's answer: a page, or a page that ends it early.
pub(crate) type Reply = Result<HttpResponse, HttpResponse>;

/// The page a handler's `work` ends with, early or not.
pub(crate) async fn answer(work: impl std::future::Future<Output = Reply>) -> HttpResponse {
    work.await.unwrap_or_else(|page| page)
}

/// The stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../assets/console.css");

/// The Content-Security-Policy of every answer: this origin's stylesheet
/// and images only, forms only to this origin, no frames, no script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers of every answer: the CSP, no sniffing, no framing, no
/// referrer, nothing cached (pages show what only their operator may see);
/// over HTTPS, Strict-Transport-Security too.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = if https {
        DefaultHeaders::new().add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        DefaultHeaders::new()
    };
    headers
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// `GET /assets/console.css`.
pub(crate) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// 200 with `page`.
pub(crate) fn ok(page: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

/// 303 to `path`.
pub(crate) fn see_other(path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path))
        .finish()
}

fn head(title: &str, refresh: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(to) = refresh {
                meta http-equiv="refresh" content=(format!("0;url={to}"));
            }
            title { (title) " · Cognate console" }
            link rel="stylesheet" href="/assets/console.css";
        }
    }
}

/// A page without navigation (sign-in, errors before sign-in).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    bare_page(title, None, body)
}

/// A bare page that goes on to `to` at once.
pub(crate) fn bare_with_refresh(title: &str, to: &str, body: Markup) -> Markup {
    bare_page(title, Some(to), body)
}

fn bare_page(title: &str, refresh: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh))
            body.bare {
                header.top {
                    span.brand { "Cognate" span.sub { "console" } }
                }
                main #main.narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An error page without navigation.
pub(crate) fn bare_error(title: &str, message: &str) -> Markup {
    bare(
        title,
        html! {
            p.notice.error role="alert" { (message) }
            p { a href="/" { "Back to the console" } }
        },
    )
}

/// An error page with `status`.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(bare_error(title, message).into_string())
}

/// 403: a state-changing request without the session's CSRF token.
pub(crate) fn csrf_refused() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form has expired or did not come from this console (its CSRF token is missing \
         or wrong). Reload the page and try again.",
    )
}

/// 403: a viewer asked for a change.
pub(crate) fn forbidden() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Not allowed",
        "Your role in this account is viewer: you may look, not change.",
    )
}

/// 404 for what does not exist or is not the operator's to see (the two
/// are not told apart).
pub(crate) fn not_found(what: &str) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("{what} does not exist, or is not yours to see."),
    )
}

/// An API error as a page: AWS's code and message for a refusal, a generic
/// text for an internal error (its cause went to the log).
pub(crate) fn api_error(err: ApiError) -> HttpResponse {
    if err.status.is_server_error() {
        if let Some(cause) = &err.internal {
            tracing::error!(error.code = err.code, error.cause = %cause, "console request failed");
        }
        return error_page(
            err.status,
            "Something went wrong",
            "The request could not be completed. Try again in a moment.",
        );
    }
    if err.code == "ResourceNotFoundException" {
        return not_found("What you asked for");
    }
    error_page(err.status, err.code, &err.message)
}

/// What the page shell shows around a page.
pub(crate) struct Shell<'a> {
    /// The operator's name.
    pub who: &'a str,
    /// The session's CSRF token (the sign-out form).
    pub csrf: &'a str,
    /// The account the page is about, and the operator's role in it.
    pub account: Option<(&'a str, &'a str)>,
    /// Which entry of the navigation is current.
    pub current: &'a str,
}

/// A page with the navigation.
pub(crate) fn page(shell: &Shell<'_>, title: &str, body: Markup) -> Markup {
    let link = |href: String, label: &str, key: &str| {
        let current = (shell.current == key).then_some("page");
        html! { a href=(href) aria-current=[current] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Cognate" span.sub { "console" } }
                    nav aria-label="Main" {
                        (link("/".into(), "Accounts", "accounts"))
                        @if let Some((account, _)) = shell.account {
                            (link(format!("/accounts/{account}/pools"), "Pools", "pools"))
                            (link(format!("/accounts/{account}/identities"), "Identities", "identities"))
                            (link(format!("/accounts/{account}/audit"), "Audit", "audit"))
                            (link(format!("/accounts/{account}/usage"), "Usage", "usage"))
                        }
                        (link("/keys".into(), "Keys", "keys"))
                    }
                    div.who {
                        @if let Some((account, role)) = shell.account {
                            span.account { "Account " code { (account) } }
                            span class=(format!("role role-{role}")) { (role) }
                        }
                        span.name { (shell.who) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(shell.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// The form of a confirmation page: `hidden` fields (and the CSRF
/// token) posted to `action` by a `button` of `class` (`danger`,
/// `primary`), or back to `cancel`.
pub(crate) fn confirm(
    action: &str,
    csrf: &str,
    hidden: &[(&str, &str)],
    (button, class): (&str, &str),
    cancel: &str,
) -> Markup {
    html! {
        form.confirm method="post" action=(action) {
            (csrf_field(csrf))
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            button class=(class) type="submit" { (button) }
            a.button href=(cancel) { "Cancel" }
        }
    }
}

/// A notice at the top of a page.
pub(crate) fn notice(text: &str) -> Markup {
    html! { p.notice.success role="status" { (text) } }
}

/// An RFC 3339 time, to the second, as `2026-12-07 16:03:07 UTC`.
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        }
    }
}

/// JSON shown as preformatted text.
pub(crate) fn json_block(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { code { (text) } } }
}

/// A dash for "none".
pub(crate) fn none() -> Markup {
    html! { span.none { (PreEscaped("&mdash;")) } }
}

/// Nothing, or a dash when `empty`.
pub(crate) fn none_if(empty: bool) -> Markup {
    if empty {
        none()
    } else {
        html! {}
    }
}
