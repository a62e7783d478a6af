//! Pools: an account's pools with identity counts, a pool in full, and
//! editing a pool's settings and roles through UpdateIdentityPool and
//! SetIdentityPoolRoles, with a before/after diff to confirm.
//!
//! Identity counts are exact up to a cap and shown as "N or more" beyond
//! it: a count reads the pool's slice of the `identities_by_pool` index
//! (an index-only scan stopped at the cap), so a page costs the same with
//! ten or ten million identities in a pool.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use cognate_api::operator::read;
use cognate_api::ops::pools::pool_json;
use cognate_api::validation::Model;
use cognate_domain::ids::ProviderName;
use cognate_domain::pool::{IdentityPool, MatchType, RoleMapping};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{done_notice, Access, Account, AccountPath, Ctx, ItemPath};
use crate::html::{self, Reply};
use crate::Visit;

/// Identities counted at most per pool on the list of pools.
const LIST_COUNT_CAP: u64 = 10_000;
/// Identities counted at most on a pool's page.
const POOL_COUNT_CAP: u64 = 100_000;
/// Pools per page of the list.
const POOLS_PER_PAGE: u32 = 25;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{account}/pools", web::get().to(list))
        .route("/accounts/{account}/pools/{pool}", web::get().to(show))
        .route("/accounts/{account}/pools/{pool}/edit", web::get().to(edit))
        .route(
            "/accounts/{account}/pools/{pool}/edit",
            web::post().to(preview),
        )
        .route(
            "/accounts/{account}/pools/{pool}/apply",
            web::post().to(apply),
        );
}

/// "N" or "N or more".
pub(crate) fn count_text(count: u64, cap: u64) -> String {
    let n = thousands(count);
    if count >= cap {
        format!("{n} or more")
    } else {
        n
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    next: Option<String>,
    done: Option<String>,
}

async fn list(visit: Visit, path: AccountPath, query: web::Query<PageQuery>) -> HttpResponse {
    html::answer(list_page(visit, &path, &query)).await
}

async fn list_page(visit: Visit, account: &str, query: &PageQuery) -> Reply {
    let (ctx, account) = visit.account(account, Access::See).await?;
    let state = ctx.api().clone();
    let (id, next) = (account.id.clone(), query.next.clone());
    let rows = read(ctx.api(), async move {
        let page = state
            .pools
            .list(&id, POOLS_PER_PAGE, next.as_deref())
            .await?;
        let mut rows = Vec::with_capacity(page.pools.len());
        for pool in page.pools {
            let count = state
                .identities
                .count_identities(&id, &pool.id, LIST_COUNT_CAP)
                .await?;
            rows.push((pool, count));
        }
        Ok((rows, page.next_token))
    })
    .await
    .map_err(html::api_error)?;
    let (rows, next) = rows;
    let a = account.id.as_str();
    Ok(ctx.page(
        Some(&account),
        "pools",
        "Identity pools",
        html! {
            @if let Some(text) = done_notice(query.done.as_deref()) { (html::notice(text)) }
            @if rows.is_empty() {
                p.empty { "This account has no identity pools." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Pool id" } th scope="col" class="num" { "Identities" } } }
                    tbody {
                        @for (pool, count) in &rows {
                            tr {
                                td { a href=(format!("/accounts/{a}/pools/{}", pool.id)) { (pool.name) } }
                                td { code { (pool.id.as_str()) } }
                                td.num { (count_text(*count, LIST_COUNT_CAP)) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p.pager { a href=(format!("/accounts/{a}/pools?next={}", crate::oidc::url_encode(&next))) { "Next page →" } }
            }
        },
    ))
}

async fn show(visit: Visit, path: ItemPath, query: web::Query<PageQuery>) -> HttpResponse {
    html::answer(show_page(visit, &path, &query)).await
}

async fn show_page(visit: Visit, path: &(String, String), query: &PageQuery) -> Reply {
    let (ctx, account, pool) = visit.pool(path, Access::See).await?;
    let state = ctx.api().clone();
    let (id, pool_id, providers) = (
        account.id.clone(),
        pool.id.clone(),
        pool.settings.provider_names(),
    );
    let (count, tag_maps) = read(ctx.api(), async move {
        let count = state
            .identities
            .count_identities(&id, &pool_id, POOL_COUNT_CAP)
            .await?;
        let mut maps = Vec::new();
        for provider in providers
            .into_iter()
            .filter_map(|p| ProviderName::try_from(p).ok())
        {
            let map = state
                .pools
                .get_principal_tag_map(&id, &pool_id, &provider)
                .await?;
            if map.use_defaults || !map.principal_tags.is_empty() {
                maps.push(map);
            }
        }
        Ok((count, maps))
    })
    .await
    .map_err(html::api_error)?;
    let a = account.id.as_str();
    let p = pool.id.as_str();
    let s = &pool.settings;
    Ok(ctx.page(
        Some(&account),
        "pools",
        &s.name,
        html! {
            @if let Some(text) = done_notice(query.done.as_deref()) { (html::notice(text)) }
            p.actions {
                a.button href=(format!("/accounts/{a}/pools/{p}/identities")) { "Browse identities" }
                @if account.may_change() {
                    a.button href=(format!("/accounts/{a}/pools/{p}/edit")) { "Edit pool" }
                }
            }
            section {
                h2 { "Settings" }
                dl.facts {
                    dt { "Pool id" } dd { code { (p) } }
                    dt { "Identities" } dd { (count_text(count, POOL_COUNT_CAP)) }
                    dt { "Guest (unauthenticated) identities" } dd { (yes_no(s.allow_unauthenticated)) }
                    dt { "Basic (classic) flow" } dd { (match s.allow_classic_flow { Some(true) => "allowed", Some(false) => "not allowed", None => "not allowed (never set)" }) }
                    dt { "Developer provider" } dd { @match &s.developer_provider_name { Some(d) => code { (d) }, None => (html::none()) } }
                    dt { "Created" } dd { (html::time(pool.created_at)) }
                    dt { "Last changed" } dd { (html::time(pool.updated_at)) }
                }
            }
            section {
                h2 { "Identity providers" }
                @if s.supported_login_providers.is_empty() && s.openid_connect_provider_arns.is_empty()
                    && s.saml_provider_arns.is_empty() && s.cognito_identity_providers.is_empty() {
                    p.empty { "No identity providers: only guests and developer users sign in." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "Kind" } th scope="col" { "Provider" } th scope="col" { "App / client id" } } }
                        tbody {
                            @for (provider, app) in &s.supported_login_providers {
                                tr { td { "Public provider" } td { code { (provider) } } td { code { (app) } } }
                            }
                            @for arn in &s.openid_connect_provider_arns {
                                tr { td { "OpenID Connect" } td { code { (arn) } } td { (html::none()) } }
                            }
                            @for arn in &s.saml_provider_arns {
                                tr { td { "SAML" } td { code { (arn) } } td { (html::none()) } }
                            }
                            @for cip in &s.cognito_identity_providers {
                                tr {
                                    td { "Cognito user pool" }
                                    td { code { (cip.provider_name) } @if cip.server_side_token_check { " (server-side token check)" } }
                                    td { code { (cip.client_id) } }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Roles" }
                dl.facts {
                    dt { "Authenticated role" } dd { (role_or_none(pool.roles.get("authenticated"))) }
                    dt { "Unauthenticated role" } dd { (role_or_none(pool.roles.get("unauthenticated"))) }
                }
                @if !pool.role_mappings.is_empty() {
                    h3 { "Role mappings" }
                    @for (provider, mapping) in &pool.role_mappings {
                        (role_mapping(provider, mapping))
                    }
                }
            }
            section {
                h2 { "Principal tags" }
                @if tag_maps.is_empty() {
                    p.empty { "No provider maps claims to principal tags." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "Provider" } th scope="col" { "Defaults (aud, sub)" } th scope="col" { "Tag ← claim" } } }
                        tbody {
                            @for map in &tag_maps {
                                tr {
                                    td { code { (map.provider_name) } }
                                    td { (yes_no(map.use_defaults)) }
                                    td { @for (tag, claim) in &map.principal_tags { code { (tag) } " ← " code { (claim) } br; } }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Tags" }
                @if pool.tags.is_empty() {
                    p.empty { "No tags." }
                } @else {
                    table {
                        thead { tr { th scope="col" { "Key" } th scope="col" { "Value" } } }
                        tbody { @for (k, v) in &pool.tags { tr { td { code { (k) } } td { (v) } } } }
                    }
                }
            }
        },
    ))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn role_or_none(arn: Option<&String>) -> Markup {
    match arn {
        Some(arn) => html! { code { (arn) } },
        None => html::none(),
    }
}

fn match_type(m: MatchType) -> &'static str {
    match m {
        MatchType::Equals => "equals",
        MatchType::Contains => "contains",
        MatchType::StartsWith => "starts with",
        MatchType::NotEqual => "is not",
    }
}

/// A role mapping as a readable table: rules in evaluation order.
fn role_mapping(provider: &str, mapping: &RoleMapping) -> Markup {
    let ambiguous = match mapping.ambiguous_role_resolution {
        Some(cognate_domain::pool::AmbiguousRoleResolution::AuthenticatedRole) => {
            "use the authenticated role"
        }
        Some(cognate_domain::pool::AmbiguousRoleResolution::Deny) => "deny",
        None => "—",
    };
    html! {
        div.mapping {
            h4 { code { (provider) } }
            @match mapping.mapping_type {
                cognate_domain::pool::RoleMappingType::Token => {
                    p { "Roles from the token (" code { "cognito:roles" } ", " code { "cognito:preferred_role" } "). No or several roles: " (ambiguous) "." }
                }
                cognate_domain::pool::RoleMappingType::Rules => {
                    table {
                        caption { "Rules, first match wins. No rule matches: " (ambiguous) "." }
                        thead { tr { th scope="col" { "#" } th scope="col" { "When claim" } th scope="col" { "…" } th scope="col" { "value" } th scope="col" { "Role" } } }
                        tbody {
                            @for (i, rule) in mapping.rules_configuration.iter().flat_map(|c| c.rules.iter()).enumerate() {
                                tr {
                                    td { (i + 1) }
                                    td { code { (rule.claim) } }
                                    td { (match_type(rule.match_type)) }
                                    td { code { (rule.value) } }
                                    td { code { (rule.role_arn) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The editable part of a pool, as the form shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct PoolForm {
    csrf: Option<String>,
    name: String,
    #[serde(default)]
    allow_unauthenticated: Option<String>,
    #[serde(default)]
    allow_classic_flow: Option<String>,
    #[serde(default)]
    login_providers: String,
    #[serde(default)]
    developer_provider: String,
    #[serde(default)]
    oidc_arns: String,
    #[serde(default)]
    saml_arns: String,
    #[serde(default)]
    authenticated_role: String,
    #[serde(default)]
    unauthenticated_role: String,
}

impl PoolForm {
    fn of(pool: &IdentityPool) -> PoolForm {
        let s = &pool.settings;
        PoolForm {
            csrf: None,
            name: s.name.clone(),
            allow_unauthenticated: s.allow_unauthenticated.then(|| "on".into()),
            allow_classic_flow: (s.allow_classic_flow == Some(true)).then(|| "on".into()),
            login_providers: s
                .supported_login_providers
                .iter()
                .map(|(p, a)| format!("{p} = {a}"))
                .collect::<Vec<_>>()
                .join("\n"),
            developer_provider: s
                .developer_provider_name
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
            oidc_arns: s.openid_connect_provider_arns.join("\n"),
            saml_arns: s.saml_provider_arns.join("\n"),
            authenticated_role: pool.roles.get("authenticated").cloned().unwrap_or_default(),
            unauthenticated_role: pool
                .roles
                .get("unauthenticated")
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The form's fields as labelled text, for the diff.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let flag = |f: &Option<String>| if f.is_some() { "yes" } else { "no" }.to_owned();
        vec![
            ("Name", self.name.trim().to_owned()),
            ("Guest identities", flag(&self.allow_unauthenticated)),
            ("Basic (classic) flow", flag(&self.allow_classic_flow)),
            (
                "Public login providers",
                lines(&self.login_providers).join("\n"),
            ),
            (
                "Developer provider",
                self.developer_provider.trim().to_owned(),
            ),
            (
                "OpenID Connect providers",
                lines(&self.oidc_arns).join("\n"),
            ),
            ("SAML providers", lines(&self.saml_arns).join("\n")),
            (
                "Authenticated role",
                self.authenticated_role.trim().to_owned(),
            ),
            (
                "Unauthenticated role",
                self.unauthenticated_role.trim().to_owned(),
            ),
        ]
    }

    /// UpdateIdentityPool's input: the pool as it is, with the form's
    /// fields; and SetIdentityPoolRoles' (role mappings kept).
    fn inputs(&self, pool: &IdentityPool) -> Result<(Value, Value), String> {
        let mut update = pool_json(pool);
        let obj = update.as_object_mut().expect("a pool is an object");
        obj.insert("IdentityPoolName".into(), json!(self.name.trim()));
        obj.insert(
            "AllowUnauthenticatedIdentities".into(),
            json!(self.allow_unauthenticated.is_some()),
        );
        if self.allow_classic_flow.is_some() || pool.settings.allow_classic_flow.is_some() {
            obj.insert(
                "AllowClassicFlow".into(),
                json!(self.allow_classic_flow.is_some()),
            );
        }
        let mut providers = BTreeMap::new();
        for line in lines(&self.login_providers) {
            let (provider, app) = line.split_once('=').ok_or_else(|| {
                format!("Public login providers: \"{line}\" is not \"provider = app id\".")
            })?;
            providers.insert(provider.trim().to_owned(), app.trim().to_owned());
        }
        set_or_remove(
            obj,
            "SupportedLoginProviders",
            (!providers.is_empty()).then(|| json!(providers)),
        );
        let dev = self.developer_provider.trim();
        set_or_remove(
            obj,
            "DeveloperProviderName",
            (!dev.is_empty()).then(|| json!(dev)),
        );
        let oidc = lines(&self.oidc_arns);
        set_or_remove(
            obj,
            "OpenIdConnectProviderARNs",
            (!oidc.is_empty()).then(|| json!(oidc)),
        );
        let saml = lines(&self.saml_arns);
        set_or_remove(
            obj,
            "SamlProviderARNs",
            (!saml.is_empty()).then(|| json!(saml)),
        );
        let mut roles = serde_json::Map::new();
        for (key, value) in [
            ("authenticated", self.authenticated_role.trim()),
            ("unauthenticated", self.unauthenticated_role.trim()),
        ] {
            if !value.is_empty() {
                roles.insert(key.into(), json!(value));
            }
        }
        Ok((update, roles_input(pool, json!(roles))))
    }
}

fn set_or_remove(obj: &mut serde_json::Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            obj.insert(key.into(), v);
        }
        None => {
            obj.remove(key);
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The roles as SetIdentityPoolRoles takes them, for comparing.
fn current_roles(pool: &IdentityPool) -> Value {
    roles_input(pool, json!(pool.roles))
}

/// SetIdentityPoolRoles' input: `roles`, the pool's role mappings kept.
fn roles_input(pool: &IdentityPool, roles: Value) -> Value {
    let mut input = json!({ "IdentityPoolId": pool.id.as_str(), "Roles": roles });
    if !pool.role_mappings.is_empty() {
        input["RoleMappings"] = json!(pool.role_mappings);
    }
    input
}

fn form_page(
    ctx: &Ctx,
    account: &Account,
    pool: &IdentityPool,
    form: &PoolForm,
    error: Option<&str>,
) -> HttpResponse {
    let a = account.id.as_str();
    let p = pool.id.as_str();
    let dev_fixed = pool.settings.developer_provider_name.is_some();
    ctx.page(
        Some(account),
        "pools",
        &format!("Edit {}", pool.settings.name),
        html! {
            @if let Some(error) = error { p.notice.error role="alert" { (error) } }
            p.lead { "Changes go through UpdateIdentityPool and SetIdentityPoolRoles, checked as the API checks them. You will see what changes before anything is saved." }
            form.edit method="post" action=(format!("/accounts/{a}/pools/{p}/edit")) {
                (html::csrf_field(ctx.csrf_token()))
                label for="name" { "Name" }
                input #name type="text" name="name" value=(form.name) required maxlength="128";
                div.check {
                    input #allow_unauthenticated type="checkbox" name="allow_unauthenticated" checked[form.allow_unauthenticated.is_some()];
                    label for="allow_unauthenticated" { "Allow guest (unauthenticated) identities" }
                }
                div.check {
                    input #allow_classic_flow type="checkbox" name="allow_classic_flow" checked[form.allow_classic_flow.is_some()];
                    label for="allow_classic_flow" { "Allow the basic (classic) flow" }
                }
                label for="login_providers" { "Public login providers " span.hint { "one per line: provider = app id" } }
                textarea #login_providers name="login_providers" rows="4" { (form.login_providers) }
                label for="developer_provider" { "Developer provider name " @if dev_fixed { span.hint { "(cannot change once set)" } } }
                input #developer_provider type="text" name="developer_provider" value=(form.developer_provider) readonly[dev_fixed];
                label for="oidc_arns" { "OpenID Connect provider ARNs " span.hint { "one per line" } }
                textarea #oidc_arns name="oidc_arns" rows="3" { (form.oidc_arns) }
                label for="saml_arns" { "SAML provider ARNs " span.hint { "one per line" } }
                textarea #saml_arns name="saml_arns" rows="3" { (form.saml_arns) }
                label for="authenticated_role" { "Authenticated role ARN" }
                input #authenticated_role type="text" name="authenticated_role" value=(form.authenticated_role);
                label for="unauthenticated_role" { "Unauthenticated role ARN" }
                input #unauthenticated_role type="text" name="unauthenticated_role" value=(form.unauthenticated_role);
                p.hint { "Cognito user pool providers, role mappings and tags are kept as they are (change them with the API)." }
                div.buttons {
                    button.primary type="submit" { "Review changes" }
                    a.button href=(format!("/accounts/{a}/pools/{p}")) { "Cancel" }
                }
            }
        },
    )
}

async fn edit(visit: Visit, path: ItemPath) -> HttpResponse {
    html::answer(async {
        let (ctx, account, pool) = visit.pool(&path, Access::Ask).await?;
        Ok(form_page(&ctx, &account, &pool, &PoolForm::of(&pool), None))
    })
    .await
}

async fn preview(visit: Visit, path: ItemPath, form: web::Form<PoolForm>) -> HttpResponse {
    html::answer(async {
        let (ctx, account, pool) = visit
            .pool(&path, Access::Change(form.csrf.as_deref()))
            .await?;
        let (update, roles) = match form.inputs(&pool) {
            Ok(inputs) => inputs,
            Err(error) => return Ok(form_page(&ctx, &account, &pool, &form, Some(&error))),
        };
        let model = Model::embedded();
        for (operation, input) in [
            ("UpdateIdentityPool", &update),
            ("SetIdentityPoolRoles", &roles),
        ] {
            if let Err(refused) = model.validate(operation, input) {
                let err = cognate_api::error::ApiError::from(refused);
                return Ok(form_page(&ctx, &account, &pool, &form, Some(&err.message)));
            }
        }
        let before = PoolForm::of(&pool).fields();
        let after = form.fields();
        let changed: Vec<_> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.1 != a.1)
            .map(|(b, a)| (b.0, b.1.clone(), a.1.clone()))
            .collect();
        let a = account.id.as_str();
        let p = pool.id.as_str();
        if changed.is_empty() {
            return Ok(html::see_other(&format!(
                "/accounts/{a}/pools/{p}?done=unchanged"
            )));
        }
        let current = json!({ "pool": pool_json(&pool), "roles": current_roles(&pool) }).to_string();
        Ok(ctx.page(
            Some(&account),
            "pools",
            &format!("Confirm changes to {}", pool.settings.name),
            html! {
                p.lead { "These settings change. Nothing is saved until you confirm." }
                table.diff {
                    thead { tr { th scope="col" { "Setting" } th scope="col" { "Before" } th scope="col" { "After" } } }
                    tbody {
                        @for (label, b, a) in &changed {
                            tr {
                                th scope="row" { (label) }
                                td.before { @if b.is_empty() { (html::none()) } @else { pre { (b) } } }
                                td.after { @if a.is_empty() { (html::none()) } @else { pre { (a) } } }
                            }
                        }
                    }
                }
                form.confirm method="post" action=(format!("/accounts/{a}/pools/{p}/apply")) {
                    (html::csrf_field(ctx.csrf_token()))
                    input type="hidden" name="update" value=(update.to_string());
                    input type="hidden" name="roles" value=(roles.to_string());
                    input type="hidden" name="before" value=(current);
                    button.primary type="submit" { "Save changes" }
                    a.button href=(format!("/accounts/{a}/pools/{p}/edit")) { "Back to the form" }
                }
            },
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ApplyForm {
    csrf: Option<String>,
    update: String,
    roles: String,
    before: String,
}

async fn apply(visit: Visit, path: ItemPath, form: web::Form<ApplyForm>) -> HttpResponse {
    html::answer(async {
        let (ctx, account, pool) = visit
            .pool(&path, Access::Change(form.csrf.as_deref()))
            .await?;
        let a = account.id.as_str();
        let p = pool.id.as_str();
        let bad = || {
            html::error_page(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Request refused",
                "The confirmation form was damaged. Start the edit again.",
            )
        };
        let (Ok(mut update), Ok(mut roles), Ok(before)) = (
            serde_json::from_str::<Value>(&form.update),
            serde_json::from_str::<Value>(&form.roles),
            serde_json::from_str::<Value>(&form.before),
        ) else {
            return Err(bad());
        };
        if !update.is_object() || !roles.is_object() {
            return Err(bad());
        }
        // The change is made to the pool of the page, whatever the form says.
        update["IdentityPoolId"] = json!(p);
        roles["IdentityPoolId"] = json!(p);
        let current = json!({ "pool": pool_json(&pool), "roles": current_roles(&pool) });
        if before != current {
            return Ok(ctx.page(
                Some(&account),
                "pools",
                "The pool changed meanwhile",
                html! {
                    p.notice.error role="alert" { "Someone changed this pool after you opened the form. Nothing was saved." }
                    p { a.button href=(format!("/accounts/{a}/pools/{p}/edit")) { "Edit again" } }
                },
            ));
        }
        if update != current["pool"] {
            ctx.invoke(&account, "UpdateIdentityPool", update).await?;
        }
        if roles != current["roles"] {
            ctx.invoke(&account, "SetIdentityPoolRoles", roles).await?;
        }
        Ok(html::see_other(&format!(
            "/accounts/{a}/pools/{p}?done=updated"
        )))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_shown_with_separators_and_as_a_floor_at_the_cap() {
        assert_eq!(count_text(0, 10_000), "0");
        assert_eq!(count_text(1_234, 10_000), "1,234");
        assert_eq!(count_text(10_000, 10_000), "10,000 or more");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
