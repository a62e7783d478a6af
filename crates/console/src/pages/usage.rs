//! An account's usage: calls, errors and throttled calls per operation over
//! the last hour and the last day, added up from the audit trail (one
//! grouped read of the account's index over the range; the aggregated
//! records of throttled calls count as the calls they stand for).

use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use cognate_domain::audit::Usage;
use maud::html;

use super::{store_error, Access, AccountPath};
use crate::html::{self, Reply};
use crate::Visit;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{account}/usage", web::get().to(usage));
}

async fn usage(visit: Visit, path: AccountPath) -> HttpResponse {
    html::answer(usage_page(visit, &path)).await
}

/// One row of the table: an operation over the hour and the day.
struct Row {
    name: String,
    hour: Usage,
    day: Usage,
}

fn rows(hour: Vec<Usage>, day: Vec<Usage>) -> Vec<Row> {
    let mut rows: Vec<Row> = day
        .into_iter()
        .map(|day| Row {
            name: day.event_name.clone(),
            hour: Usage::default(),
            day,
        })
        .collect();
    for h in hour {
        match rows.iter_mut().find(|r| r.name == h.event_name) {
            Some(row) => row.hour = h,
            None => rows.push(Row {
                name: h.event_name.clone(),
                day: h.clone(),
                hour: h,
            }),
        }
    }
    rows.sort_by(|a, b| b.day.calls.cmp(&a.day.calls).then(a.name.cmp(&b.name)));
    rows
}

fn total(rows: &[Row], pick: impl Fn(&Row) -> &Usage) -> Usage {
    rows.iter().fold(Usage::default(), |mut sum, row| {
        let u = pick(row);
        sum.calls += u.calls;
        sum.errors += u.errors;
        sum.throttles += u.throttles;
        sum
    })
}

async fn usage_page(visit: Visit, account: &str) -> Reply {
    let (ctx, account) = visit.account(account, Access::See).await?;
    let store = ctx.api().audit_store.clone();
    let id = account.id.clone();
    let now = Utc::now();
    let (hour, day) = ctx
        .api()
        .on_database_runtime(async move {
            let hour = store.usage(&id, now - Duration::hours(1)).await?;
            let day = store.usage(&id, now - Duration::days(1)).await?;
            Ok::<_, cognate_domain::ports::StoreError>((hour, day))
        })
        .await
        .map_err(html::api_error)?
        .map_err(store_error)?;
    let rows = rows(hour, day);
    let hour_total = total(&rows, |r| &r.hour);
    let day_total = total(&rows, |r| &r.day);
    let cells = |u: &Usage, first: &str| {
        let throttled = if u.throttles > 0 { "num warn" } else { "num" };
        html! {
            td class=(format!("num {first}")) { (u.calls) }
            td.num { (u.errors) }
            td class=(throttled) { (u.throttles) }
        }
    };
    Ok(ctx.page(
        Some(&account),
        "usage",
        "Usage",
        html! {
            p.lead { "Calls to this account's pools, from the audit trail, as of " (html::time(now)) "." }
            @if rows.is_empty() {
                p.empty { "No calls in the last day." }
            } @else {
                table.usage {
                    thead {
                        tr { th scope="col" rowspan="2" { "Operation" } th.group scope="colgroup" colspan="3" { "Last hour" } th.group scope="colgroup" colspan="3" { "Last day" } }
                        tr {
                            th scope="col" class="num group" { "Calls" } th scope="col" class="num" { "Errors" } th scope="col" class="num" { "Throttled" }
                            th scope="col" class="num group" { "Calls" } th scope="col" class="num" { "Errors" } th scope="col" class="num" { "Throttled" }
                        }
                    }
                    tbody {
                        @for row in &rows {
                            tr { th scope="row" { code { (row.name) } } (cells(&row.hour, "group")) (cells(&row.day, "group")) }
                        }
                    }
                    tfoot {
                        tr { th scope="row" { "All operations" } (cells(&hour_total, "group")) (cells(&day_total, "group")) }
                    }
                }
            }
            p.hint { "With audit.public_calls = false, the successful GetId, GetOpenIdToken and GetCredentialsForIdentity calls are not recorded, so not counted here." }
        },
    ))
}
