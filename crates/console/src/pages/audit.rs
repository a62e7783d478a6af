//! The audit trail of an account: search by operation, pool, identity,
//! access key, error and time range, newest first, a page at a time; open
//! one event's CloudTrail JSON.
//!
//! Each search is one look-up of the audit store, served in order by the
//! indexes of the `audit_events` table (by account, by pool, by identity,
//! by access key, by error), so a page costs the same whatever the trail's
//! size.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use cognate_domain::audit::{Audience, AuditQuery, AuditRecord, ResourceKind};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{audit_records, Access, Account, Ctx};
use crate::html::{self, Reply};
use crate::oidc::url_encode;
use crate::Visit;
use cognate_domain::ids::AccountId;

/// Events per page.
const EVENTS_PER_PAGE: u32 = 50;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    // An account's trail, and every account's (see `Scope`).
    cfg.route("/accounts/{account}/audit", web::get().to(search))
        .route("/accounts/{account}/audit/{event}", web::get().to(event))
        .route("/audit", web::get().to(search))
        .route("/audit/{event}", web::get().to(event));
}

/// The path of the trail: the account's id, if it names one.
#[derive(Debug, Deserialize)]
struct TrailPath {
    account: Option<String>,
}

/// The path of one event: the account's id, if it names one, and the
/// event's.
#[derive(Debug, Deserialize)]
struct EventPath {
    account: Option<String>,
    event: String,
}

/// Whose records a page shows: an account's (and those meant for every
/// account), or, for an operator who sees every account, all of them —
/// the operators' own records too (refused sign-ins, calls naming ids that
/// exist nowhere).
struct Scope {
    ctx: Ctx,
    account: Option<Account>,
}

impl Scope {
    /// The account `raw` names, or every account (`None`).
    async fn of(visit: Visit, raw: Option<&str>) -> Result<Scope, HttpResponse> {
        match raw {
            Some(raw) => {
                let (ctx, account) = visit.account(raw, Access::See).await?;
                Ok(Scope {
                    ctx,
                    account: Some(account),
                })
            }
            None => {
                let ctx = visit.signed_in().await?;
                if !ctx.sees_every_account() {
                    return Err(html::not_found("This page"));
                }
                Ok(Scope { ctx, account: None })
            }
        }
    }

    /// The trail's path: `/accounts/<id>/audit` or `/audit`.
    fn base(&self) -> String {
        match &self.account {
            Some(account) => format!("/accounts/{}/audit", account.id),
            None => "/audit".to_owned(),
        }
    }

    fn account_id(&self) -> Option<&AccountId> {
        self.account.as_ref().map(|a| &a.id)
    }
}

#[derive(Debug, Default, Deserialize)]
struct Filters {
    name: Option<String>,
    pool: Option<String>,
    identity: Option<String>,
    key: Option<String>,
    error: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
}

fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(256).collect())
}

/// `2026-12-07T16:03` (an `<input type="datetime-local">`, read as UTC) or RFC 3339.
fn instant(value: &Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = given(value) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&text, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(format!(
        "\"{text}\" is not a time (e.g. 2026-12-07T16:00, UTC)."
    ))
}

/// The cursor of the next page: the last event's time and id.
fn cursor(record: &AuditRecord) -> String {
    format!(
        "{}_{}",
        record.event_time.timestamp_micros(),
        record.event_id
    )
}

fn parse_cursor(text: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = text.split_once('_')?;
    let time = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((time, Uuid::parse_str(id).ok()?))
}

impl Filters {
    fn query(&self, account: Option<&AccountId>) -> Result<AuditQuery, String> {
        let (resource_name, resource_kind) = match (given(&self.identity), given(&self.pool)) {
            (Some(identity), _) => (Some(identity), Some(ResourceKind::Identity)),
            (None, Some(pool)) => (Some(pool), Some(ResourceKind::Pool)),
            (None, None) => (None, None),
        };
        let error_code = given(&self.error).map(|e| if e == "any" { String::new() } else { e });
        Ok(AuditQuery {
            account: account.cloned(),
            event_name: given(&self.name),
            access_key_id: given(&self.key),
            resource_name,
            resource_kind,
            error_code,
            start: instant(&self.from)?,
            end: instant(&self.to)?,
            before: given(&self.before).as_deref().and_then(parse_cursor),
            limit: EVENTS_PER_PAGE + 1,
            ..AuditQuery::default()
        })
    }

    /// The query string of these filters, for the next page's link.
    fn query_string(&self) -> String {
        [
            ("name", &self.name),
            ("pool", &self.pool),
            ("identity", &self.identity),
            ("key", &self.key),
            ("error", &self.error),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", url_encode(&v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

async fn search(
    visit: Visit,
    path: web::Path<TrailPath>,
    filters: web::Query<Filters>,
) -> HttpResponse {
    html::answer(search_page(visit, path.account.as_deref(), &filters)).await
}

async fn search_page(visit: Visit, account: Option<&str>, filters: &Filters) -> Reply {
    let scope = Scope::of(visit, account).await?;
    let ctx = &scope.ctx;
    let base = scope.base();
    let (records, error) = match filters.query(scope.account_id()) {
        Ok(query) => (audit_records(ctx, query).await?, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let mut records = records;
    let more = records.len() > EVENTS_PER_PAGE as usize;
    records.truncate(EVENTS_PER_PAGE as usize);
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let error_filter = value(&filters.error);
    let everything = scope.account.is_none();
    let title = if scope.account.is_some() {
        "Audit trail"
    } else {
        "Audit trail of every account"
    };
    Ok(ctx.page(
        scope.account.as_ref(),
        "audit",
        title,
        html! {
            form.filters method="get" action=(base) {
                div.field { label for="f-name" { "Operation" } input #f-name type="text" name="name" value=(value(&filters.name)) placeholder="e.g. DeleteIdentities"; }
                div.field { label for="f-pool" { "Pool id" } input #f-pool type="text" name="pool" value=(value(&filters.pool)); }
                div.field { label for="f-identity" { "Identity id" } input #f-identity type="text" name="identity" value=(value(&filters.identity)); }
                div.field { label for="f-key" { "Access key" } input #f-key type="text" name="key" value=(value(&filters.key)); }
                div.field {
                    label for="f-error" { "Error" }
                    input #f-error type="text" name="error" value=(error_filter) placeholder="any, or a code" list="error-codes";
                    datalist #error-codes {
                        option value="any";
                        option value="TooManyRequestsException";
                        option value="NotAuthorizedException";
                        option value="ResourceNotFoundException";
                        option value="InvalidParameterException";
                    }
                }
                div.field { label for="f-from" { "From (UTC)" } input #f-from type="datetime-local" name="from" value=(value(&filters.from)); }
                div.field { label for="f-to" { "To (UTC)" } input #f-to type="datetime-local" name="to" value=(value(&filters.to)); }
                div.buttons { button.primary type="submit" { "Search" } a.button href=(base) { "Clear" } }
            }
            @if let Some(why) = &error { p.notice.error role="alert" { (why) } }
            @if records.is_empty() && error.is_none() {
                p.empty { "No events match." }
            } @else if !records.is_empty() {
                table.events {
                    thead { tr {
                        th scope="col" { "Time" }
                        @if everything { th scope="col" { "Account" } }
                        th scope="col" { "Operation" } th scope="col" { "Who" }
                        th scope="col" { "Source" } th scope="col" { "Resource" } th scope="col" { "Outcome" }
                    } }
                    tbody {
                        @for r in &records {
                            @let event: serde_json::Value = serde_json::from_str(&r.record).unwrap_or_default();
                            tr {
                                td { a href=(format!("{base}/{}", r.event_id)) { (html::time(r.event_time)) } }
                                @if everything {
                                    td { @match &r.audience {
                                        Audience::Account(id) => code { (id.as_str()) },
                                        Audience::Everyone => span.hint { "every account" },
                                        Audience::Operators => span.hint { "operators" },
                                    } }
                                }
                                td { code { (r.event_name) } @if r.count > 1 { " ×" (r.count) } }
                                td { (who(&event, r)) }
                                td { (event.get("sourceIPAddress").and_then(|v| v.as_str()).unwrap_or("—")) }
                                td.ids {
                                    @if let Some(pool) = &r.pool_id { code { (pool) } br; }
                                    @if let Some(identity) = &r.identity_id { code { (identity) } }
                                }
                                td { @match &r.error_code { Some(code) => span.error { (code) }, None => span.ok { "OK" } } }
                            }
                        }
                    }
                }
            }
            @if more {
                @if let Some(last) = records.last() {
                    @let qs = filters.query_string();
                    p.pager { a href=(format!("{base}?{}{}before={}", qs, if qs.is_empty() { "" } else { "&" }, url_encode(&cursor(last)))) { "Older events →" } }
                }
            }
        },
    ))
}

/// Who made a call, in a few words.
fn who(event: &serde_json::Value, record: &AuditRecord) -> String {
    let identity = event.get("userIdentity");
    let kind = identity
        .and_then(|i| i.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("Unknown");
    match kind {
        "WebIdentityUser" => format!(
            "operator {}",
            record.username.clone().unwrap_or_else(|| "?".into())
        ),
        "IAMUser" => format!("key {}", record.access_key_id.clone().unwrap_or_default()),
        _ => match &record.username {
            Some(user) => user.clone(),
            None => "unsigned caller".into(),
        },
    }
}

async fn event(visit: Visit, path: web::Path<EventPath>) -> HttpResponse {
    html::answer(event_page(visit, path.account.as_deref(), &path.event)).await
}

async fn event_page(visit: Visit, account: Option<&str>, event: &str) -> Reply {
    let scope = Scope::of(visit, account).await?;
    let id = Uuid::parse_str(event).map_err(|_| html::not_found("This event"))?;
    let query = AuditQuery {
        account: scope.account_id().cloned(),
        event_id: Some(id),
        limit: 1,
        ..AuditQuery::default()
    };
    let record = audit_records(&scope.ctx, query)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| html::not_found("This event"))?;
    let json: serde_json::Value = serde_json::from_str(&record.event_json()).unwrap_or_default();
    Ok(scope.ctx.page(
        scope.account.as_ref(),
        "audit",
        &format!("{} event", record.event_name),
        html! {
            p { a href=(scope.base()) { "← The audit trail" } }
            (html::json_block(&json))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_cursor_reads_back_as_the_time_and_id_it_was_made_of() {
        let record = AuditRecord {
            event_id: Uuid::now_v7(),
            event_time: DateTime::from_timestamp_micros(1_765_123_456_789_012).unwrap(),
            audience: cognate_domain::audit::Audience::Operators,
            event_source: "s".into(),
            event_name: "GetId".into(),
            read_only: false,
            access_key_id: None,
            username: None,
            pool_id: None,
            identity_id: None,
            error_code: None,
            count: 1,
            record: "{}".into(),
        };
        assert_eq!(
            parse_cursor(&cursor(&record)),
            Some((record.event_time, record.event_id))
        );
        assert_eq!(parse_cursor("nonsense"), None);
    }

    #[test]
    fn times_are_read_from_the_browsers_picker_or_rfc_3339() {
        let picker = instant(&Some("2026-12-07T16:03".into())).unwrap().unwrap();
        assert_eq!(picker.to_rfc3339(), "2026-12-07T16:03:00+00:00");
        let rfc = instant(&Some("2026-12-07T17:03:00+01:00".into()))
            .unwrap()
            .unwrap();
        assert_eq!(rfc, picker);
        assert!(instant(&Some("yesterday".into())).is_err());
        assert_eq!(instant(&Some("  ".into())).unwrap(), None);
    }
}
