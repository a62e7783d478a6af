//! The home page: the accounts the operator may see, their role in each.

use actix_web::HttpResponse;
use maud::html;

use crate::html;
use crate::Visit;

/// `GET /`.
pub(crate) async fn home(visit: Visit) -> HttpResponse {
    let ctx = match visit.signed_in().await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let accounts = ctx.accounts();
    ctx.page(
        None,
        "accounts",
        "Accounts",
        html! {
            p.lead { "The accounts you may see, and your role in each." }
            table {
                thead { tr { th scope="col" { "Account" } th scope="col" { "Your role" } th scope="col" { "Go to" } } }
                tbody {
                    @for account in &accounts {
                        @let id = account.id.as_str();
                        tr {
                            td { code { (id) } }
                            td { span class=(format!("role role-{}", account.role.as_str())) { (account.role.as_str()) } }
                            td.links {
                                a href=(format!("/accounts/{id}/pools")) { "Pools" }
                                a href=(format!("/accounts/{id}/identities")) { "Identities" }
                                a href=(format!("/accounts/{id}/audit")) { "Audit" }
                                a href=(format!("/accounts/{id}/usage")) { "Usage" }
                            }
                        }
                    }
                }
            }
            p { a href="/keys" { "Token signing keys" } " (shared by every account)" }
            @if ctx.sees_every_account() {
                p { a href="/audit" { "Audit trail of every account" } " (with the operators' own records: refused sign-ins, calls naming ids that exist nowhere)" }
            }
            (html::none_if(accounts.is_empty()))
        },
    )
}
