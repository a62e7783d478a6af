//! CloudTrail's `LookupEvents` on Cognate's endpoint, over the audit trail,
//! so `aws cloudtrail lookup-events --endpoint-url …` and boto3's
//! `cloudtrail` client work unmodified (AWS JSON 1.1, target
//! `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`,
//! SigV4 service `cloudtrail`).
//!
//! An account sees its own records and those meant for every account (the
//! signing-key events); never another account's. As on AWS: at most one
//! lookup attribute (`InvalidLookupAttributesException`), `StartTime` not
//! after `EndTime` (`InvalidTimeRangeException`), 50 events a page by
//! default and at most, newest first, and a `NextToken` that is valid only
//! with the same parameters (`InvalidNextTokenException`). `EventCategory`
//! `insight` answers no events: Cognate has no Insights.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use cognate_domain::audit::{AuditQuery, AuditRecord, ResourceKind};
use cognate_domain::ids::AccountId;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest as _;
use uuid::Uuid;

use crate::error::ApiError;
use crate::ops::Answer;
use crate::AppState;

/// The `X-Amz-Target` prefix of CloudTrail's operations.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// Events per page when `MaxResults` is not given (AWS: 50, the most too).
const DEFAULT_PAGE: u32 = 50;

/// The resource type of a pool, in `Resources` and `LookupAttributes`.
pub const POOL_RESOURCE_TYPE: &str = "AWS::Cognito::IdentityPool";
/// The resource type of an identity.
pub const IDENTITY_RESOURCE_TYPE: &str = "AWS::Cognito::Identity";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: String,
    attribute_value: String,
}

/// LookupEventsRequest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupInput {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

fn time(seconds: f64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis((seconds * 1000.0).round() as i64)
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::client(code, message)
}

/// The query of `input` for `account` (without the page position), and a
/// digest of it that the page tokens carry.
fn query(account: &AccountId, input: &LookupInput) -> Result<(AuditQuery, String), ApiError> {
    let mut query = AuditQuery {
        account: Some(account.clone()),
        limit: input
            .max_results
            .unwrap_or(DEFAULT_PAGE)
            .clamp(1, DEFAULT_PAGE),
        ..AuditQuery::default()
    };
    if input.lookup_attributes.len() > 1 {
        return Err(invalid(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        ));
    }
    if let Some(attribute) = input.lookup_attributes.first() {
        let value = attribute.attribute_value.clone();
        match attribute.attribute_key.as_str() {
            // An id that is not a UUID names no event.
            "EventId" => query.event_id = Some(Uuid::parse_str(&value).unwrap_or(Uuid::nil())),
            "EventName" => query.event_name = Some(value),
            "EventSource" => query.event_source = Some(value),
            "ReadOnly" => {
                query.read_only = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(invalid(
                            "InvalidLookupAttributesException",
                            "The value of the ReadOnly attribute must be 'true' or 'false'.",
                        ))
                    }
                })
            }
            "Username" => query.username = Some(value),
            "AccessKeyId" => query.access_key_id = Some(value),
            "ResourceName" => query.resource_name = Some(value),
            "ResourceType" => match value.as_str() {
                POOL_RESOURCE_TYPE => query.resource_kind = Some(ResourceKind::Pool),
                IDENTITY_RESOURCE_TYPE => query.resource_kind = Some(ResourceKind::Identity),
                // A type no record has.
                _ => query.event_id = Some(Uuid::nil()),
            },
            other => {
                return Err(invalid(
                    "InvalidLookupAttributesException",
                    format!("'{other}' is not a lookup attribute."),
                ))
            }
        }
    }
    query.start = input.start_time.and_then(time);
    query.end = input.end_time.and_then(time);
    if let (Some(start), Some(end)) = (query.start, query.end) {
        if start > end {
            return Err(invalid(
                "InvalidTimeRangeException",
                "Start time must not be later than end time.",
            ));
        }
    }
    let digest = {
        let mut h = sha2::Sha256::new();
        h.update(format!("{query:?}").as_bytes());
        hex::encode(&h.finalize()[..8])
    };
    Ok((query, digest))
}

/// `NextToken`: the last event's position and the query's digest.
fn encode_token(record: &AuditRecord, digest: &str) -> String {
    let text = format!(
        "{}|{}|{digest}",
        record.event_time.timestamp_micros(),
        record.event_id
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_token(token: &str, digest: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || invalid("InvalidNextTokenException", "Invalid NextToken.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.split('|');
    let (Some(micros), Some(id), Some(of), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if of != digest {
        return Err(invalid(
            "InvalidNextTokenException",
            "The NextToken was made for other parameters.",
        ));
    }
    let time = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((time, id))
}

/// One event as LookupEvents answers it.
fn event_json(record: &AuditRecord) -> Value {
    let mut resources = Vec::new();
    if let Some(pool) = &record.pool_id {
        resources.push(json!({ "ResourceType": POOL_RESOURCE_TYPE, "ResourceName": pool }));
    }
    if let Some(identity) = &record.identity_id {
        resources.push(json!({ "ResourceType": IDENTITY_RESOURCE_TYPE, "ResourceName": identity }));
    }
    let mut event = json!({
        "EventId": record.event_id,
        "EventName": record.event_name,
        "ReadOnly": record.read_only.to_string(),
        "EventTime": record.event_time.timestamp_millis() as f64 / 1000.0,
        "EventSource": record.event_source,
        "Resources": resources,
        "CloudTrailEvent": record.event_json(),
    });
    if let Some(key) = &record.access_key_id {
        event["AccessKeyId"] = json!(key);
    }
    if let Some(user) = &record.username {
        event["Username"] = json!(user);
    }
    event
}

/// LookupEvents for `account`.
pub async fn lookup_events(
    state: &AppState,
    account: &AccountId,
    input: &LookupInput,
) -> Result<Answer, ApiError> {
    let (mut query, digest) = query(account, input)?;
    if let Some(token) = &input.next_token {
        query.before = Some(decode_token(token, &digest)?);
    }
    if input.event_category.is_some() {
        // Insights events: Cognate has none.
        return Ok(Answer {
            output: json!({ "Events": [] }),
            additional: None,
        });
    }
    let page = query.limit as usize;
    query.limit += 1;
    let mut records = state
        .audit_store
        .lookup(&query)
        .await
        .map_err(|e| ApiError::from(cognate_domain::DomainError::from(e)))?;
    let next = (records.len() > page).then(|| {
        records.truncate(page);
        records.last().map(|last| encode_token(last, &digest))
    });
    let mut output = json!({ "Events": records.iter().map(event_json).collect::<Vec<_>>() });
    if let Some(Some(token)) = next {
        output["NextToken"] = json!(token);
    }
    Ok(Answer {
        output,
        additional: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::parse("111111111111").unwrap()
    }

    fn input(json: Value) -> LookupInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn one_lookup_attribute_at_most_and_a_sane_time_range() {
        let two = input(json!({ "LookupAttributes": [
            { "AttributeKey": "EventName", "AttributeValue": "GetId" },
            { "AttributeKey": "ReadOnly", "AttributeValue": "true" },
        ]}));
        assert_eq!(
            query(&account(), &two).unwrap_err().code,
            "InvalidLookupAttributesException"
        );
        let backwards = input(json!({ "StartTime": 2000, "EndTime": 1000 }));
        assert_eq!(
            query(&account(), &backwards).unwrap_err().code,
            "InvalidTimeRangeException"
        );
        let (q, _) = query(
            &account(),
            &input(json!({ "LookupAttributes": [
                { "AttributeKey": "ResourceName", "AttributeValue": "us-east-1:x" }
            ], "MaxResults": 5 })),
        )
        .unwrap();
        assert_eq!(q.resource_name.as_deref(), Some("us-east-1:x"));
        assert_eq!(q.limit, 5);
        assert_eq!(q.account, Some(account()));
    }

    #[test]
    fn a_next_token_is_good_only_for_the_parameters_it_was_made_for() {
        let call = crate::audit::Call::new(
            "r",
            crate::audit::COGNITO_SOURCE,
            "GetId",
            "us-east-1",
            None,
            None,
        );
        let record = call.record(crate::audit::Outcome::Answered {
            response: None,
            additional: None,
        });
        let token = encode_token(&record, "abc");
        let (time, id) = decode_token(&token, "abc").unwrap();
        assert_eq!(id, record.event_id);
        assert_eq!(
            time.timestamp_micros(),
            record.event_time.timestamp_micros()
        );
        assert_eq!(
            decode_token(&token, "def").unwrap_err().code,
            "InvalidNextTokenException"
        );
        assert_eq!(
            decode_token("!!", "abc").unwrap_err().code,
            "InvalidNextTokenException"
        );
    }
}
