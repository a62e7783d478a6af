//! The audit trail from the command line: `cognate audit export`, and the
//! records of the commands that change the deployment (`cognate keys
//! rotate`, `seal`), which concern every account.

use std::io::Write;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use cognate_api::audit::{Call, Outcome, Who, COGNITO_SOURCE};
use cognate_domain::audit::{Audience, AuditQuery, AuditRecord, AuditStore};
use cognate_domain::ids::AccountId;

use crate::config::Settings;

/// Records read per page while exporting.
const PAGE: u32 = 1_000;

/// The user running this process, as the records name it.
fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

/// The record of a deployment-wide command (`event_name`, e.g.
/// `RotateSigningKey`), meant for every account.
pub fn command_record(
    settings: &Settings,
    command: &str,
    event_name: &str,
    request: serde_json::Value,
    response: serde_json::Value,
) -> AuditRecord {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut call = Call::new(
        &request_id,
        COGNITO_SOURCE,
        event_name,
        settings.server.region.as_str(),
        None,
        Some(concat!("cognate/", env!("CARGO_PKG_VERSION"))),
    );
    call.who = Who::Command {
        command: command.to_owned(),
        user: os_user(),
    };
    call.request = Some(request);
    let mut record = call.record(Outcome::Answered {
        response: Some(&response),
        additional: None,
    });
    record.audience = Audience::Everyone;
    record
}

/// `2026-12-01T00:00:00Z`, or a date: its first (`end` false) or last
/// (`end` true) moment.
fn parse_time(what: &str, text: &str, end: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("--{what} {text:?}: give an RFC 3339 time (2026-12-01T00:00:00Z) or a date (2026-12-01)")
    })?;
    let moment = if end {
        day.and_hms_micro_opt(23, 59, 59, 999_999)
    } else {
        day.and_hms_opt(0, 0, 0)
    };
    Ok(moment.unwrap_or_default().and_utc())
}

/// Write every record from `since` to `until` (now), oldest first, one
/// JSON document per line, to `out`; how many.
pub async fn export(
    store: &dyn AuditStore,
    since: &str,
    until: Option<&str>,
    account: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let start = parse_time("since", since, false)?;
    let end = match until {
        Some(until) => parse_time("until", until, true)?,
        None => Utc::now(),
    };
    if start > end {
        anyhow::bail!("--since is after --until");
    }
    let account = account
        .map(AccountId::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--account: {e}"))?;
    let mut query = AuditQuery {
        account,
        start: Some(start),
        end: Some(end),
        oldest_first: true,
        limit: PAGE,
        ..AuditQuery::default()
    };
    let mut written = 0;
    loop {
        let page = store
            .lookup(&query)
            .await
            .map_err(|e| anyhow::anyhow!("reading the audit trail: {e}"))?;
        for record in &page {
            out.write_all(record.event_json().as_bytes())?;
            out.write_all(b"\n")?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                query.after = Some((last.event_time, last.event_id));
            }
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_times_are_rfc_3339_or_whole_days() {
        assert_eq!(
            parse_time("since", "2026-12-01", false)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("until", "2026-12-01", true)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T23:59:59.999999+00:00"
        );
        assert_eq!(
            parse_time("since", "2026-12-01T10:00:00+01:00", false)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T09:00:00+00:00"
        );
        let err = parse_time("since", "yesterday", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--since") && err.contains("yesterday"),
            "{err}"
        );
    }
}
