//! The token signing keys every account's tokens are signed with, and
//! rotation (for operators of every account).

use actix_web::{web, HttpResponse};
use cognate_token::KeyStatus;
use maud::html;
use serde::Deserialize;

use super::done_notice;
use crate::html;
use crate::Visit;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list))
        .route("/keys/rotate", web::get().to(confirm))
        .route("/keys/rotate", web::post().to(rotate));
}

#[derive(Debug, Deserialize)]
struct Done {
    done: Option<String>,
    kid: Option<String>,
}

async fn list(visit: Visit, query: web::Query<Done>) -> HttpResponse {
    html::answer(async {
        let ctx = visit.signed_in().await?;
        let keys = ctx.api().keys.keys_info();
        let notice = done_notice(query.done.as_deref()).map(|text| match &query.kid {
            Some(kid) => format!("{text} Its kid: {kid}."),
            None => text.to_owned(),
        });
        Ok(ctx.page(
            None,
            "keys",
            "Token signing keys",
            html! {
                @if let Some(text) = &notice { (html::notice(text)) }
                p.lead {
                    "Every account's OpenID tokens are signed with these keys; the JWKS publishes them at "
                    code { "/.well-known/jwks.json" } " of the API."
                }
                table {
                    thead { tr {
                        th scope="col" { "Key id (kid)" } th scope="col" { "Algorithm" } th scope="col" { "State" }
                        th scope="col" { "Created" } th scope="col" { "Signs from" } th scope="col" { "Retired" }
                        th scope="col" { "Published until" } th scope="col" { "Sealed" }
                    } }
                    tbody {
                        @for key in &keys {
                            tr {
                                td { code { (key.kid) } }
                                td { (key.alg.as_str()) }
                                td { (match key.status { KeyStatus::Signing => "signing", KeyStatus::Upcoming => "upcoming", KeyStatus::Retired => "retired" }) }
                                td { (html::time(key.created_at)) }
                                td { (html::time(key.activate_at)) }
                                td { @match key.retired_at { Some(t) => (html::time(t)), None => (html::none()) } }
                                td { @match key.expires_at { Some(t) => (html::time(t)), None => (html::none()) } }
                                td { (if key.encrypted { "yes" } else { "no" }) }
                            }
                        }
                    }
                }
                @if ctx.operates_everything() {
                    p { a.button href="/keys/rotate" { "Rotate the signing key…" } }
                } @else {
                    p.hint { "Rotating the keys takes the operator role in every account." }
                }
            },
        ))
    })
    .await
}

async fn confirm(visit: Visit) -> HttpResponse {
    html::answer(async {
        let ctx = visit.signed_in().await?;
        ctx.may_operate_everything()?;
        Ok(ctx.page(
            None,
            "keys",
            "Rotate the signing key?",
            html! {
                p {
                    "A new key is made and published now; it starts signing after the configured "
                    "publish-ahead time, so that services which cache the JWKS learn it first. "
                    "The current key stays published until the tokens it signed have expired."
                }
                (html::confirm("/keys/rotate", ctx.csrf_token(), &[], ("Rotate", "primary"), "/keys"))
            },
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn rotate(visit: Visit, form: web::Form<CsrfOnly>) -> HttpResponse {
    html::answer(async {
        let ctx = visit.signed_in().await?;
        ctx.csrf(form.csrf.as_deref())?;
        ctx.may_operate_everything()?;
        let kid = cognate_api::operator::rotate_signing_key(ctx.api(), &ctx.operator())
            .await
            .map_err(html::api_error)?;
        Ok(html::see_other(&format!("/keys?done=rotated&kid={kid}")))
    })
    .await
}
