//! The pages. Each handler starts from its [`Visit`]: the session (or off
//! to sign in), the account and the operator's role in it (what its
//! [`Access`] asks), then reads through the domain services or makes one
//! change through [`cognate_api::operator`].
//!
//! # Layout
//! - `accounts` — the home page: the operator's accounts.
//! - `pools` — pools, a pool, editing a pool with a diff to confirm.
//! - `identities` — finding identities, a pool's identities, an identity,
//!   unlink, delete, merge.
//! - `keys` — the signing keys, rotation.
//! - `audit` — searching the audit trail, one event.
//! - `usage` — calls, errors and throttles per operation.

use actix_web::{web, HttpResponse};
use cognate_api::operator::{invoke, read, Operator};
use cognate_api::AppState;
use cognate_domain::audit::{AuditQuery, AuditRecord};
use cognate_domain::ids::{AccountId, IdentityPoolId};
use cognate_domain::pool::IdentityPool;
use cognate_domain::ports::StoreError;
use maud::Markup;
use serde_json::Value;

use crate::config::Role;
use crate::html::{self, Shell};
use crate::oidc::url_encode;
use crate::session::{self, Active};
use crate::{Console, Visit};

mod accounts;
mod audit;
mod identities;
mod keys;
mod pools;
mod usage;

/// Mount the pages.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(accounts::home));
    keys::routes(cfg);
    pools::routes(cfg);
    identities::routes(cfg);
    audit::routes(cfg);
    usage::routes(cfg);
}

/// A signed-in request.
pub(crate) struct Ctx {
    console: web::Data<Console>,
    active: Active,
    operator: Operator,
}

/// An account the operator may see, and their role in it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: AccountId,
    pub role: Role,
}

impl Account {
    /// Whether the operator may change things in it.
    pub fn may_change(&self) -> bool {
        self.role == Role::Operator
    }
}

/// The path of a page of one account: its id.
pub(crate) type AccountPath = web::Path<String>;

/// The path of a page of one pool or identity: the account's id, its id.
pub(crate) type ItemPath = web::Path<(String, String)>;

/// What a page asks of the operator's role in its account.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access<'a> {
    /// Looking: any role.
    See,
    /// A page that leads to a change: operators only.
    Ask,
    /// A change (a POST): the session's CSRF token (this one), then the
    /// operator role.
    Change(Option<&'a str>),
}

impl Visit {
    /// The request's session, or a redirect to sign in (back to this page
    /// afterwards, for a GET).
    pub async fn signed_in(self) -> Result<Ctx, HttpResponse> {
        let Visit { req, console } = self;
        let secure = console.config.secure_cookies;
        let active = session::session_id(&req, secure).and_then(|id| console.sessions.touch(&id));
        let Some(active) = active else {
            let next = if req.method() == actix_web::http::Method::GET {
                req.uri()
                    .path_and_query()
                    .map_or("/".to_owned(), |p| p.as_str().to_owned())
            } else {
                "/".to_owned()
            };
            return Err(html::see_other(&format!(
                "/signin?next={}",
                url_encode(&next)
            )));
        };
        let operator = console.operator(&req, &active.who.sub, active.who.name.as_deref());
        Ok(Ctx {
            console,
            active,
            operator,
        })
    }

    /// The signed-in request, and the account `raw` names if the operator
    /// may see it, with the role `access` asks for.
    pub async fn account(
        self,
        raw: &str,
        access: Access<'_>,
    ) -> Result<(Ctx, Account), HttpResponse> {
        let ctx = self.signed_in().await?;
        let account = ctx.account(raw)?;
        match access {
            Access::See => {}
            Access::Ask => {
                if !account.may_change() {
                    return Err(html::forbidden());
                }
            }
            Access::Change(csrf) => ctx.may_change(&account, csrf)?,
        }
        Ok((ctx, account))
    }

    /// As [`Visit::account`], and the pool of the account `path` names.
    pub async fn pool(
        self,
        (account, pool): &(String, String),
        access: Access<'_>,
    ) -> Result<(Ctx, Account, IdentityPool), HttpResponse> {
        let (ctx, account) = self.account(account, access).await?;
        let pool = pool_of(&ctx, &account, pool).await?;
        Ok((ctx, account, pool))
    }
}

impl Ctx {
    /// The API's shared state.
    pub fn api(&self) -> &web::Data<AppState> {
        &self.console.api
    }

    /// The account `raw` names, if the operator may see it (else 404, as
    /// for an account that does not exist).
    pub fn account(&self, raw: &str) -> Result<Account, HttpResponse> {
        let id = AccountId::parse(raw).map_err(|_| html::not_found("This account"))?;
        let role = self
            .active
            .who
            .grants
            .role(&id)
            .ok_or_else(|| html::not_found("This account"))?;
        Ok(Account { id, role })
    }

    /// Refuse a POST whose CSRF token is not the session's, then one by a
    /// viewer of `account`.
    pub fn may_change(&self, account: &Account, csrf: Option<&str>) -> Result<(), HttpResponse> {
        self.csrf(csrf)?;
        if !account.may_change() {
            return Err(html::forbidden());
        }
        Ok(())
    }

    /// Refuse a POST whose CSRF token is not the session's.
    pub fn csrf(&self, csrf: Option<&str>) -> Result<(), HttpResponse> {
        if !session::same(csrf.unwrap_or(""), &self.active.csrf) {
            return Err(html::csrf_refused());
        }
        Ok(())
    }

    /// The session's CSRF token, for forms.
    pub fn csrf_token(&self) -> &str {
        &self.active.csrf
    }

    /// Whether the operator may act on what every account shares.
    pub fn operates_everything(&self) -> bool {
        self.active
            .who
            .grants
            .in_every_account(&self.console.config, Role::Operator)
    }

    /// Refuse one who may not act on what every account shares.
    pub fn may_operate_everything(&self) -> Result<(), HttpResponse> {
        if !self.operates_everything() {
            return Err(html::forbidden());
        }
        Ok(())
    }

    /// Change something of `account` through the API's `operation`, as
    /// the operator: its answer.
    pub async fn invoke(
        &self,
        account: &Account,
        operation: &str,
        input: Value,
    ) -> Result<Value, HttpResponse> {
        invoke(self.api(), &self.operator, &account.id, operation, input)
            .await
            .map_err(html::api_error)
    }

    /// Whether the operator has a role in every configured account (and
    /// so may see what concerns no single account).
    pub fn sees_every_account(&self) -> bool {
        self.active
            .who
            .grants
            .in_every_account(&self.console.config, Role::Viewer)
    }

    /// The accounts the operator may see.
    pub fn accounts(&self) -> Vec<Account> {
        self.active
            .who
            .grants
            .accounts()
            .map(|(id, role)| Account {
                id: id.clone(),
                role,
            })
            .collect()
    }

    /// The operator, as the caller of the changes they make.
    pub fn operator(&self) -> Operator {
        self.operator.clone()
    }

    /// A page of `account` (or of none) with the navigation.
    pub fn page(
        &self,
        account: Option<&Account>,
        current: &str,
        title: &str,
        body: Markup,
    ) -> HttpResponse {
        let who = self
            .active
            .who
            .name
            .as_deref()
            .unwrap_or(&self.active.who.sub);
        let shell = Shell {
            who,
            csrf: &self.active.csrf,
            account: account.map(|a| (a.id.as_str(), a.role.as_str())),
            current,
        };
        html::ok(html::page(&shell, title, body))
    }
}

/// The pool `raw` names, of `account` (else "not found").
pub(crate) async fn pool_of(
    ctx: &Ctx,
    account: &Account,
    raw: &str,
) -> Result<IdentityPool, HttpResponse> {
    let pool_id = IdentityPoolId::try_from(raw).map_err(|_| html::not_found("This pool"))?;
    let state = ctx.api().clone();
    let id = account.id.clone();
    read(ctx.api(), async move {
        state.pools.describe(&id, &pool_id).await
    })
    .await
    .map_err(html::api_error)
}

/// Audit records matching `query`.
pub(crate) async fn audit_records(
    ctx: &Ctx,
    query: AuditQuery,
) -> Result<Vec<AuditRecord>, HttpResponse> {
    let store = ctx.api().audit_store.clone();
    ctx.api()
        .on_database_runtime(async move { store.lookup(&query).await })
        .await
        .map_err(html::api_error)?
        .map_err(store_error)
}

/// A storage failure as a page.
pub(crate) fn store_error(err: StoreError) -> HttpResponse {
    html::api_error(cognate_domain::DomainError::from(err).into())
}

/// What a `?done=` after a change says.
pub(crate) fn done_notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "updated" => "The pool was updated.",
        "unlinked" => "The login was unlinked.",
        "deleted" => "The identity was deleted.",
        "merged" => "The developer users were merged.",
        "rotated" => "A new signing key was made.",
        "unchanged" => "Nothing was changed: the form held the pool's current settings.",
        _ => return None,
    })
}
