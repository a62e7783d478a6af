//! Identities: find one (by identity id, by developer user identifier, or
//! by provider and upstream subject, which is hashed with the deployment's
//! subject key for the look-up and so never stored in the clear), page
//! through a pool's, see one with its logins, and — each behind a page
//! that asks to confirm — unlink a login, delete it, merge developer users.
//!
//! Look-ups read the `identities` primary key, the `identity_logins`
//! unique index (pool, provider, subject) and, for paging, the
//! `identities_by_pool` index from a cursor: none reads more than a page,
//! whatever the pool's size.

use actix_web::{web, HttpResponse};
use cognate_api::operator::{read, unlink_provider};
use cognate_domain::identity::IdentityDescription;
use cognate_domain::ids::{IdentityId, ProviderName};
use cognate_domain::pool::{IdentityPool, PoolSummary};
use cognate_domain::service::identities::LinkedLogin;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{done_notice, Access, Account, AccountPath, Ctx, ItemPath};
use crate::html::{self, Reply};
use crate::oidc::url_encode;
use crate::Visit;

/// Identities per page of a pool's list.
const IDENTITIES_PER_PAGE: u32 = 50;
/// Pools offered in the search form's list.
const POOLS_OFFERED: u32 = 60;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    const ONE: &str = "/accounts/{account}/identities/{identity}";
    cfg.route("/accounts/{account}/identities", web::get().to(search))
        .route(
            "/accounts/{account}/pools/{pool}/identities",
            web::get().to(pool_identities),
        )
        .route(ONE, web::get().to(show))
        // Each change: a page that asks to confirm (GET), the change (POST).
        .service(
            web::resource(format!("{ONE}/unlink"))
                .route(web::get().to(unlink_confirm))
                .route(web::post().to(unlink)),
        )
        .service(
            web::resource(format!("{ONE}/delete"))
                .route(web::get().to(delete_confirm))
                .route(web::post().to(delete)),
        )
        .service(
            web::resource(format!("{ONE}/merge"))
                .route(web::get().to(merge_form))
                .route(web::post().to(merge)),
        );
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    by: Option<String>,
    pool: Option<String>,
    value: Option<String>,
    provider: Option<String>,
}

async fn search(visit: Visit, path: AccountPath, query: web::Query<SearchQuery>) -> HttpResponse {
    html::answer(search_page(visit, &path, &query)).await
}

async fn account_pools(ctx: &Ctx, account: &Account) -> Result<Vec<PoolSummary>, HttpResponse> {
    let state = ctx.api().clone();
    let id = account.id.clone();
    read(ctx.api(), async move {
        state.pools.list(&id, POOLS_OFFERED, None).await
    })
    .await
    .map(|page| page.pools)
    .map_err(html::api_error)
}

/// What a search found: an identity, or why not.
async fn find(
    ctx: &Ctx,
    account: &Account,
    query: &SearchQuery,
) -> Result<Option<IdentityId>, String> {
    let value = query.value.as_deref().map(str::trim).unwrap_or("");
    if value.is_empty() {
        return Err("Enter what to look for.".into());
    }
    let state = ctx.api().clone();
    let id = account.id.clone();
    match query.by.as_deref() {
        Some("id") => {
            let Ok(identity) = IdentityId::try_from(value) else {
                return Err(format!("\"{value}\" is not an identity id (region:uuid)."));
            };
            let found = read(ctx.api(), async move {
                state.identities.describe_identity(&id, &identity).await
            })
            .await;
            match found {
                Ok(d) => Ok(Some(d.identity.id)),
                Err(e) if e.code == "ResourceNotFoundException" => Ok(None),
                Err(e) => Err(e.message),
            }
        }
        Some(by @ ("developer" | "login")) => {
            let pool_raw = query.pool.as_deref().unwrap_or("");
            let pool = super::pool_of(ctx, account, pool_raw)
                .await
                .map_err(|_| "Choose one of the account's pools.".to_owned())?;
            let provider = if by == "developer" {
                pool.settings
                    .developer_provider_name
                    .clone()
                    .ok_or_else(|| {
                        format!("Pool {} has no developer provider.", pool.settings.name)
                    })?
            } else {
                let provider = query.provider.as_deref().map(str::trim).unwrap_or("");
                if provider.is_empty() {
                    return Err(
                        "Enter the provider name (a Logins key, e.g. accounts.google.com).".into(),
                    );
                }
                ProviderName::try_from(provider)
                    .map_err(|_| format!("'{provider}' is not a provider name."))?
            };
            let subject = value.to_owned();
            read(ctx.api(), async move {
                state
                    .identities
                    .find_by_login(&id, &pool.id, &provider, &subject)
                    .await
            })
            .await
            .map_err(|e| e.message)
        }
        _ => Err("Choose how to look.".into()),
    }
}

async fn search_page(visit: Visit, account: &str, query: &SearchQuery) -> Reply {
    let (ctx, account) = visit.account(account, Access::See).await?;
    let a = account.id.as_str();
    let mut outcome: Option<String> = None;
    if query.by.is_some() {
        match find(&ctx, &account, query).await {
            Ok(Some(identity)) => {
                return Ok(html::see_other(&format!(
                    "/accounts/{a}/identities/{identity}"
                )));
            }
            Ok(None) => outcome = Some("No identity matches.".into()),
            Err(why) => outcome = Some(why),
        }
    }
    let pools = account_pools(&ctx, &account).await?;
    let chosen = query.pool.as_deref().unwrap_or("");
    let value_of = |by: &str| {
        if query.by.as_deref() == Some(by) {
            query.value.clone().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let pool_select = |id: &str| {
        html! {
            label for=(id) { "Pool" }
            select #(id) name="pool" required {
                @for pool in &pools {
                    option value=(pool.id.as_str()) selected[pool.id.as_str() == chosen] { (pool.name) " (" (pool.id.as_str()) ")" }
                }
            }
        }
    };
    Ok(ctx.page(
        Some(&account),
        "identities",
        "Find an identity",
        html! {
            @if let Some(text) = &outcome { p.notice.error role="alert" { (text) } }
            div.cards {
                form.card method="get" action=(format!("/accounts/{a}/identities")) {
                    h2 { "By identity id" }
                    input type="hidden" name="by" value="id";
                    label for="by-id" { "Identity id" }
                    input #by-id type="text" name="value" value=(value_of("id")) placeholder="us-east-1:…" required;
                    button.primary type="submit" { "Find" }
                }
                form.card method="get" action=(format!("/accounts/{a}/identities")) {
                    h2 { "By developer user identifier" }
                    input type="hidden" name="by" value="developer";
                    (pool_select("dev-pool"))
                    label for="by-developer" { "Developer user identifier" }
                    input #by-developer type="text" name="value" value=(value_of("developer")) required;
                    button.primary type="submit" { "Find" }
                }
                form.card method="get" action=(format!("/accounts/{a}/identities")) {
                    h2 { "By provider and subject" }
                    input type="hidden" name="by" value="login";
                    (pool_select("login-pool"))
                    label for="by-provider" { "Provider " span.hint { "the Logins key" } }
                    input #by-provider type="text" name="provider" value=(if query.by.as_deref() == Some("login") { query.provider.clone().unwrap_or_default() } else { String::new() }) placeholder="accounts.google.com" required;
                    label for="by-subject" { "Subject (" code { "sub" } ") at the provider" }
                    input #by-subject type="text" name="value" value=(value_of("login")) required;
                    p.hint { "Subjects are stored only as a keyed hash: the one you enter is hashed the same way to look it up." }
                    button.primary type="submit" { "Find" }
                }
            }
            h2 { "Browse a pool's identities" }
            @if pools.is_empty() { p.empty { "This account has no identity pools." } }
            ul.plain {
                @for pool in &pools {
                    li { a href=(format!("/accounts/{a}/pools/{}/identities", pool.id)) { (pool.name) } }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    next: Option<String>,
    done: Option<String>,
}

async fn pool_identities(
    visit: Visit,
    path: ItemPath,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    html::answer(async {
        let (ctx, account, pool) = visit.pool(&path, Access::See).await?;
        let state = ctx.api().clone();
        let (id, pool_id, next) = (account.id.clone(), pool.id.clone(), query.next.clone());
        let page = read(ctx.api(), async move {
            state
                .identities
                .list_identities(&id, &pool_id, IDENTITIES_PER_PAGE, next.as_deref(), false)
                .await
        })
        .await
        .map_err(html::api_error)?;
        let a = account.id.as_str();
        let p = pool.id.as_str();
        Ok(ctx.page(
            Some(&account),
            "identities",
            &format!("Identities of {}", pool.settings.name),
            html! {
                @if let Some(text) = done_notice(query.done.as_deref()) { (html::notice(text)) }
                p { a href=(format!("/accounts/{a}/pools/{p}")) { "← The pool" } }
                @if page.identities.is_empty() {
                    p.empty { "No identities." }
                } @else {
                    (identity_table(a, &page.identities))
                }
                @if let Some(next) = &page.next_token {
                    p.pager { a href=(format!("/accounts/{a}/pools/{p}/identities?next={}", url_encode(next))) { "Next page →" } }
                }
            },
        ))
    })
    .await
}

fn identity_table(account: &str, identities: &[IdentityDescription]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Identity id" } th scope="col" { "Logins" } th scope="col" { "State" }
                th scope="col" { "Created" } th scope="col" { "Last modified" }
            } }
            tbody {
                @for d in identities {
                    tr {
                        td { a href=(format!("/accounts/{account}/identities/{}", d.identity.id)) { code { (d.identity.id.as_str()) } } }
                        td { @if d.providers.is_empty() { (html::none()) } @else { (d.providers.join(", ")) } }
                        td { (state_of(&d.identity)) }
                        td { (html::time(d.identity.created_at)) }
                        td { (html::time(d.identity.last_modified_at)) }
                    }
                }
            }
        }
    }
}

fn state_of(identity: &cognate_domain::identity::Identity) -> &'static str {
    match (identity.disabled, identity.authenticated) {
        (true, _) => "disabled",
        (false, true) => "authenticated",
        (false, false) => "guest",
    }
}

/// An identity of `account`, its pool and its logins.
async fn identity_of(
    ctx: &Ctx,
    account: &Account,
    raw: &str,
) -> Result<(IdentityDescription, IdentityPool, Vec<LinkedLogin>), HttpResponse> {
    let identity = IdentityId::try_from(raw).map_err(|_| html::not_found("This identity"))?;
    let state = ctx.api().clone();
    let id = account.id.clone();
    read(ctx.api(), async move {
        let described = state.identities.describe_identity(&id, &identity).await?;
        let pool = state
            .pools
            .describe(&id, &described.identity.pool_id)
            .await?;
        let logins = state.identities.linked_logins(&id, &identity).await?;
        Ok((described, pool, logins))
    })
    .await
    .map_err(html::api_error)
}

/// The identity a page is about: the signed-in request, the account, the
/// identity, its pool and its logins.
struct Target {
    ctx: Ctx,
    account: Account,
    described: IdentityDescription,
    pool: IdentityPool,
    logins: Vec<LinkedLogin>,
}

impl Target {
    /// The identity `path` names, with the role `access` asks for.
    async fn of(
        visit: Visit,
        path: &(String, String),
        access: Access<'_>,
    ) -> Result<Target, HttpResponse> {
        let (ctx, account) = visit.account(&path.0, access).await?;
        let (described, pool, logins) = identity_of(&ctx, &account, &path.1).await?;
        Ok(Target {
            ctx,
            account,
            described,
            pool,
            logins,
        })
    }

    /// The account id.
    fn a(&self) -> &str {
        self.account.id.as_str()
    }

    /// The identity id.
    fn i(&self) -> &str {
        self.described.identity.id.as_str()
    }

    /// The identity's page, with `then` after it (`/merge`, `?done=…`).
    fn href(&self, then: &str) -> String {
        format!("/accounts/{}/identities/{}{then}", self.a(), self.i())
    }

    /// A page of the identities.
    fn page(&self, title: &str, body: Markup) -> HttpResponse {
        self.ctx
            .page(Some(&self.account), "identities", title, body)
    }

    /// A page that asks to confirm `action` (`unlink`, …) of the identity:
    /// `what` it does, then the form (with `hidden` fields) that does it
    /// with a danger `button`, or goes back to the identity.
    fn confirm(
        &self,
        title: &str,
        what: Markup,
        action: &str,
        hidden: &[(&str, &str)],
        button: &str,
    ) -> HttpResponse {
        let form = html::confirm(
            &self.href(&format!("/{action}")),
            self.ctx.csrf_token(),
            hidden,
            (button, "danger"),
            &self.href(""),
        );
        self.page(title, html! { (what) (form) })
    }

    /// The developer provider of the identity's pool, if it has one.
    fn developer_provider(&self) -> Option<&str> {
        self.pool.settings.developer_provider_name.as_deref()
    }
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn show(visit: Visit, path: ItemPath, query: web::Query<DoneQuery>) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::See).await?;
        let (a, i, p) = (t.a(), t.i(), t.pool.id.as_str());
        let change = t.account.may_change() && !t.described.identity.disabled;
        let has_developer = t.logins.iter().any(|l| l.developer_user_id.is_some());
        let described = &t.described;
        Ok(t.page(
            "Identity",
            html! {
                @if let Some(text) = done_notice(query.done.as_deref()) { (html::notice(text)) }
                dl.facts {
                    dt { "Identity id" } dd { code { (i) } }
                    dt { "Pool" } dd { a href=(format!("/accounts/{a}/pools/{p}")) { (t.pool.settings.name) } " " code { (p) } }
                    dt { "State" } dd { (state_of(&described.identity)) }
                    dt { "Created" } dd { (html::time(described.identity.created_at)) }
                    dt { "Last modified" } dd { (html::time(described.identity.last_modified_at)) }
                }
                h2 { "Logins" }
                @if t.logins.is_empty() {
                    p.empty { "No logins: a guest, or an identity whose logins were all unlinked." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "Provider" } th scope="col" { "Developer user identifier" } @if change { th scope="col" { span.visually-hidden { "Actions" } } } } }
                        tbody {
                            @for login in &t.logins {
                                tr {
                                    td { code { (login.provider) } }
                                    td { @match &login.developer_user_id { Some(user) => code { (user) }, None => span.hint { "(an upstream subject: stored hashed, not shown)" } } }
                                    @if change {
                                        td {
                                            a.button.small href=(unlink_href(a, i, login)) { "Unlink…" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if change {
                    h2 { "Actions" }
                    p.actions {
                        @if has_developer {
                            a.button href=(t.href("/merge")) { "Merge another developer user into this one…" }
                        }
                        a.button.danger href=(t.href("/delete")) { "Delete identity…" }
                    }
                }
                p { a href=(format!("/accounts/{a}/audit?identity={i}")) { "This identity's audit events" } }
            },
        ))
    })
    .await
}

fn unlink_href(account: &str, identity: &str, login: &LinkedLogin) -> String {
    let mut href = format!(
        "/accounts/{account}/identities/{identity}/unlink?provider={}",
        url_encode(&login.provider)
    );
    if let Some(user) = &login.developer_user_id {
        href.push_str(&format!("&user={}", url_encode(user)));
    }
    href
}

/// The login to unlink: a provider, and for a developer provider the user.
#[derive(Debug, Deserialize)]
struct UnlinkQuery {
    provider: String,
    user: Option<String>,
}

async fn unlink_confirm(
    visit: Visit,
    path: ItemPath,
    query: web::Query<UnlinkQuery>,
) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::Ask).await?;
        let mut hidden = vec![("provider", query.provider.as_str())];
        if let Some(user) = &query.user {
            hidden.push(("user", user.as_str()));
        }
        let what = html! {
            p {
                "Unlink the " code { (query.provider) } " login"
                @if let Some(user) = &query.user { " of developer user " code { (user) } }
                " from identity " code { (t.i()) } "."
            }
            @if t.logins.len() == 1 {
                p.notice.error role="alert" { "It is the identity's last login: the identity will be disabled, and nobody can use it any more." }
            }
        };
        Ok(t.confirm("Unlink this login?", what, "unlink", &hidden, "Unlink"))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct UnlinkForm {
    csrf: Option<String>,
    provider: ProviderName,
    user: Option<String>,
}

async fn unlink(visit: Visit, path: ItemPath, form: web::Form<UnlinkForm>) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::Change(form.csrf.as_deref())).await?;
        let identity = &t.described.identity.id;
        match &form.user {
            Some(user) => {
                let input = json!({
                    "IdentityId": identity.as_str(),
                    "IdentityPoolId": t.pool.id.as_str(),
                    "DeveloperProviderName": form.provider.as_str(),
                    "DeveloperUserIdentifier": user,
                });
                t.ctx
                    .invoke(&t.account, "UnlinkDeveloperIdentity", input)
                    .await?;
            }
            None => {
                let (api, operator) = (t.ctx.api(), t.ctx.operator());
                unlink_provider(api, &operator, &t.account.id, identity, &form.provider)
                    .await
                    .map_err(html::api_error)?;
            }
        }
        Ok(html::see_other(&t.href("?done=unlinked")))
    })
    .await
}

async fn delete_confirm(visit: Visit, path: ItemPath) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::Ask).await?;
        let what = html! {
            p { "Delete identity " code { (t.i()) } " of pool " strong { (t.pool.settings.name) } ", with its "
                (t.logins.len()) " login(s). This cannot be undone: the user gets a new identity next time." }
        };
        Ok(t.confirm("Delete this identity?", what, "delete", &[], "Delete"))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn delete(visit: Visit, path: ItemPath, form: web::Form<CsrfForm>) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::Change(form.csrf.as_deref())).await?;
        let input = json!({ "IdentityIdsToDelete": [t.i()] });
        let output = t.ctx.invoke(&t.account, "DeleteIdentities", input).await?;
        let unprocessed = output
            .get("UnprocessedIdentityIds")
            .and_then(|v| v.as_array())
            .is_some_and(|v| !v.is_empty());
        if unprocessed {
            return Err(html::not_found("This identity"));
        }
        Ok(html::see_other(&format!(
            "/accounts/{}/pools/{}/identities?done=deleted",
            t.a(),
            t.pool.id
        )))
    })
    .await
}

async fn merge_form(visit: Visit, path: ItemPath) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::Ask).await?;
        let users = t.logins.iter().filter_map(|l| l.developer_user_id.as_ref());
        let provider = t.developer_provider().unwrap_or_default();
        Ok(t.page(
            "Merge developer users",
            html! {
                p { "MergeDeveloperIdentities moves every login of the source user's identity to this identity ("
                    code { (t.i()) } "), and disables the source identity. Provider: " code { (provider) } "." }
                form.edit method="post" action=(t.href("/merge")) {
                    (html::csrf_field(t.ctx.csrf_token()))
                    label for="destination" { "Into this identity's developer user" }
                    select #destination name="destination" {
                        @for user in users { option value=(user) { (user) } }
                    }
                    label for="source" { "Source developer user identifier" }
                    input #source type="text" name="source" required;
                    div.buttons {
                        button.primary type="submit" { "Review merge" }
                        a.button href=(t.href("")) { "Cancel" }
                    }
                }
            },
        ))
    })
    .await
}

/// The merge form, and once reviewed its confirmation.
#[derive(Debug, Deserialize)]
struct MergeForm {
    csrf: Option<String>,
    source: String,
    destination: String,
    confirm: Option<String>,
}

async fn merge(visit: Visit, path: ItemPath, form: web::Form<MergeForm>) -> HttpResponse {
    html::answer(async {
        let t = Target::of(visit, &path, Access::Change(form.csrf.as_deref())).await?;
        let provider = t.developer_provider().ok_or_else(|| {
            html::error_page(
                actix_web::http::StatusCode::BAD_REQUEST,
                "No developer provider",
                "This identity's pool has no developer provider.",
            )
        })?;
        let source = form.source.trim();
        let destination = form.destination.as_str();
        if form.confirm.as_deref() != Some("yes") {
            let what = html! {
                p { "Move every login of developer user " code { (source) } "'s identity to this identity ("
                    code { (t.i()) } ", developer user " code { (destination) } "). The source identity is disabled. This cannot be undone." }
            };
            let hidden = [
                ("source", source),
                ("destination", destination),
                ("confirm", "yes"),
            ];
            return Ok(t.confirm("Merge these developer users?", what, "merge", &hidden, "Merge"));
        }
        let input = json!({
            "SourceUserIdentifier": source,
            "DestinationUserIdentifier": destination,
            "DeveloperProviderName": provider,
            "IdentityPoolId": t.pool.id.as_str(),
        });
        t.ctx.invoke(&t.account, "MergeDeveloperIdentities", input).await?;
        Ok(html::see_other(&t.href("?done=merged")))
    })
    .await
}
