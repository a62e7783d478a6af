//! The audit trail on the API side: one CloudTrail-shaped record per call.
//!
//! A [`Call`] is what is known of a request (who, from where, what it
//! named, its request parameters as CloudTrail keeps them: see
//! [`crate::validation::Side`]). It becomes an [`AuditRecord`] in one of
//! two ways:
//!
//! - a call that **changes** something (pools, roles, tags, principal-tag
//!   maps, merges, deletes, unlinks) hands a [`CallRecorder`] to its domain
//!   service, which asks it for the record of the change it made and writes
//!   it in the change's own transaction (see [`cognate_domain::audit`]);
//!   the record holds the values before the change in
//!   `additionalEventData`;
//! - every other call, and every refused one, is recorded through the
//!   [`AuditLog`]: buffered and written in batches off the request path;
//!   throttled calls and calls naming ids that exist nowhere are counted,
//!   one record per account, operation, error and minute.
//!
//! Secrets never reach a record: request and response values of the
//! model's sensitive shapes (tokens, `Logins` values, SAML responses,
//! secret keys) and the STS session token are written as
//! `HIDDEN_DUE_TO_SECURITY_REASONS`.
//!
//! # Layout
//! - this module — [`Call`], [`Who`], building records, [`CallRecorder`].
//! - [`log`] — [`AuditLog`]: the buffer, aggregation, the writer, retention.
//! - `file` — the NDJSON export file (`audit.file`), rotated by size.

use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use cognate_domain::audit::{Audience, AuditRecord, Change, Recorder};
use cognate_domain::ids::AccountId;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::validation::{Model, Side};

mod file;
pub mod log;

pub use file::FileOptions;
pub use log::{AuditLog, AuditOptions};

/// CloudTrail's `eventSource` of Cognito Identity's calls.
pub const COGNITO_SOURCE: &str = "cognito-identity.amazonaws.com";
/// CloudTrail's `eventSource` of its own calls (LookupEvents).
pub const CLOUDTRAIL_SOURCE: &str = "cloudtrail.amazonaws.com";

/// Longest `userAgent` kept (CloudTrail truncates too).
const MAX_USER_AGENT: usize = 1024;

/// Who made a call, as its record says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// An unsigned call (the four public operations).
    Public,
    /// A call signed with a configured access key.
    Signed {
        /// The key's account.
        account: AccountId,
        /// The access key.
        access_key_id: String,
    },
    /// A signed call whose signature was refused, with the access key it
    /// named and, when the key is configured, its account.
    Unverified {
        /// The access key named, if the header could be read.
        access_key_id: Option<String>,
        /// Its account, when the key is one of ours.
        account: Option<AccountId>,
    },
    /// An operator signed in to the console.
    Operator {
        /// The operator's `sub` at the identity provider.
        sub: String,
        /// The provider's issuer.
        issuer: String,
        /// A name to show (e.g. `preferred_username`), if any.
        name: Option<String>,
    },
    /// The `cognate` command line (key rotation, sealing).
    Command {
        /// The command, e.g. `cognate keys rotate`.
        command: String,
        /// The operating-system user who ran it.
        user: String,
    },
}

impl Who {
    fn user_identity(&self) -> Value {
        match self {
            Who::Public => json!({ "type": "Unknown", "principalId": "Unknown" }),
            Who::Signed {
                account,
                access_key_id,
            } => json!({
                "type": "IAMUser",
                "principalId": access_key_id,
                "arn": format!("arn:aws:iam::{account}:user/{access_key_id}"),
                "accountId": account.as_str(),
                "accessKeyId": access_key_id,
                "userName": access_key_id,
            }),
            Who::Unverified {
                access_key_id,
                account,
            } => {
                let mut identity = json!({ "type": "Unknown", "principalId": "Unknown" });
                if let Some(key) = access_key_id {
                    identity["accessKeyId"] = json!(key);
                }
                if let Some(account) = account {
                    identity["accountId"] = json!(account.as_str());
                }
                identity
            }
            Who::Operator { sub, issuer, name } => json!({
                "type": "WebIdentityUser",
                "principalId": format!("{issuer}:{sub}"),
                "userName": name.as_deref().unwrap_or(sub),
                "identityProvider": issuer,
            }),
            Who::Command { command, user } => json!({
                "type": "Unknown",
                "principalId": user,
                "userName": user,
                "invokedBy": command,
            }),
        }
    }

    fn access_key_id(&self) -> Option<&str> {
        match self {
            Who::Signed { access_key_id, .. } => Some(access_key_id),
            Who::Unverified { access_key_id, .. } => access_key_id.as_deref(),
            _ => None,
        }
    }

    fn username(&self) -> Option<String> {
        match self {
            Who::Signed { access_key_id, .. } => Some(access_key_id.clone()),
            Who::Operator { sub, name, .. } => Some(name.clone().unwrap_or_else(|| sub.clone())),
            Who::Command { user, .. } => Some(user.clone()),
            _ => None,
        }
    }
}

/// Whether an operation only reads (CloudTrail's `readOnly`).
pub fn is_read_only(operation: &str) -> bool {
    operation.starts_with("Describe")
        || operation.starts_with("List")
        || matches!(
            operation,
            "GetIdentityPoolRoles"
                | "GetPrincipalTagAttributeMap"
                | "LookupDeveloperIdentity"
                | "LookupEvents"
        )
}

/// One call being recorded.
#[derive(Debug, Clone)]
pub struct Call {
    /// `eventID`.
    pub event_id: Uuid,
    /// `requestID`: the answer's `x-amzn-RequestId`.
    pub request_id: String,
    /// `eventTime`: when the request arrived.
    pub time: DateTime<Utc>,
    /// `eventSource`.
    pub event_source: &'static str,
    /// `eventName`: the operation.
    pub event_name: String,
    /// `awsRegion`.
    pub region: String,
    /// `sourceIPAddress`: the client (see [`crate::clients`]).
    pub source_ip: Option<IpAddr>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `userIdentity`.
    pub who: Who,
    /// The account the call is about (`recipientAccountId`): the signer's,
    /// or the owner of what an unsigned call names.
    pub recipient: Option<AccountId>,
    /// `requestParameters`, as recorded.
    pub request: Option<Value>,
    /// The pool the call names.
    pub pool_id: Option<String>,
    /// The identity the call names.
    pub identity_id: Option<String>,
}

/// How a call ended, for its record.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Answered: `responseElements` (as recorded) and `additionalEventData`.
    Answered {
        /// The recorded answer.
        response: Option<&'a Value>,
        /// What else the record says.
        additional: Option<&'a Value>,
    },
    /// Refused with an AWS error.
    Refused {
        /// `errorCode`.
        code: &'a str,
        /// `errorMessage`.
        message: &'a str,
    },
}

/// The `id` member of a JSON request or answer, as text.
fn member(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(str::to_owned)
}

impl Call {
    /// A call of `operation` from `source_ip`, arrived now.
    pub fn new(
        request_id: &str,
        event_source: &'static str,
        operation: &str,
        region: &str,
        source_ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Self {
        Call {
            // Time-ordered: the id alone finds the record's time (see the store).
            event_id: Uuid::now_v7(),
            request_id: request_id.to_owned(),
            time: Utc::now(),
            event_source,
            event_name: operation.to_owned(),
            region: region.to_owned(),
            source_ip,
            user_agent: user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
            who: Who::Public,
            recipient: None,
            request: None,
            pool_id: None,
            identity_id: None,
        }
    }

    /// Keep the request's parameters (as recorded, secrets hidden) and the
    /// ids it names.
    pub fn with_input(&mut self, model: &Model, input: &Value) {
        self.request = model.recorded(&self.event_name, Side::Input, input);
        self.pool_id = member(input, "IdentityPoolId");
        self.identity_id = member(input, "IdentityId");
    }

    /// Who may see the record.
    pub fn audience(&self) -> Audience {
        match &self.recipient {
            Some(account) => Audience::Account(account.clone()),
            None => Audience::Operators,
        }
    }

    /// The record of this call ending with `outcome`.
    pub fn record(&self, outcome: Outcome<'_>) -> AuditRecord {
        self.record_with(outcome, None, None, 1)
    }

    fn record_with(
        &self,
        outcome: Outcome<'_>,
        pool_id: Option<String>,
        identity_id: Option<String>,
        count: u32,
    ) -> AuditRecord {
        // The members the record's fields give (eventID, eventTime,
        // eventName, eventSource, readOnly, recipientAccountId, errorCode,
        // and the constant ones) are not written: see
        // `AuditRecord::derived_members`.
        let mut event = Map::new();
        event.insert("userIdentity".into(), self.who.user_identity());
        event.insert("awsRegion".into(), json!(self.region));
        event.insert(
            "sourceIPAddress".into(),
            json!(self.source_ip.map(|ip| ip.to_string())),
        );
        event.insert("userAgent".into(), json!(self.user_agent));
        event.insert(
            "requestParameters".into(),
            self.request.clone().unwrap_or(Value::Null),
        );
        let error_code = match outcome {
            Outcome::Answered {
                response,
                additional,
            } => {
                event.insert(
                    "responseElements".into(),
                    response.cloned().unwrap_or(Value::Null),
                );
                if let Some(additional) = additional {
                    event.insert("additionalEventData".into(), additional.clone());
                }
                None
            }
            Outcome::Refused { code, message } => {
                event.insert("responseElements".into(), Value::Null);
                event.insert("errorMessage".into(), json!(message));
                Some(code.to_owned())
            }
        };
        event.insert("requestID".into(), json!(self.request_id));
        AuditRecord {
            event_id: self.event_id,
            event_time: self.time,
            audience: self.audience(),
            event_source: self.event_source.to_owned(),
            event_name: self.event_name.clone(),
            read_only: is_read_only(&self.event_name),
            access_key_id: self.who.access_key_id().map(str::to_owned),
            username: self.who.username(),
            pool_id: pool_id.or_else(|| self.pool_id.clone()),
            identity_id: identity_id.or_else(|| self.identity_id.clone()),
            error_code,
            count,
            record: Value::Object(event).to_string(),
        }
    }

    /// The record of an answered call: `output` (the answer) recorded
    /// through the model, the ids it names indexed.
    pub fn answered(
        &self,
        model: &Model,
        output: &Value,
        additional: Option<&Value>,
    ) -> AuditRecord {
        let response = model.recorded(&self.event_name, Side::Output, output);
        self.record_with(
            Outcome::Answered {
                response: response.as_ref(),
                additional,
            },
            self.pool_id
                .clone()
                .or_else(|| member(output, "IdentityPoolId")),
            self.identity_id
                .clone()
                .or_else(|| member(output, "IdentityId")),
            1,
        )
    }
}

/// The [`Recorder`] of one changing call: turns the change its domain
/// service made into the call's record, and keeps a copy (for the export
/// file, once the change has committed).
#[derive(Debug)]
pub struct CallRecorder<'a> {
    call: &'a Call,
    model: &'a Model,
    written: Mutex<Option<AuditRecord>>,
}

impl<'a> CallRecorder<'a> {
    /// The recorder of `call`.
    pub fn new(call: &'a Call, model: &'a Model) -> Self {
        CallRecorder {
            call,
            model,
            written: Mutex::new(None),
        }
    }

    /// The record the domain wrote with its change, if it wrote one.
    pub fn written(self) -> Option<AuditRecord> {
        self.written
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A pool as DescribeIdentityPool answers it, recorded.
    fn pool(&self, pool: &cognate_domain::pool::IdentityPool) -> Value {
        self.model
            .recorded(
                "DescribeIdentityPool",
                Side::Output,
                &crate::ops::pools::pool_json(pool),
            )
            .unwrap_or(Value::Null)
    }

    /// The record of `change`: the answer it made and what it replaced.
    fn describe(&self, change: &Change<'_>) -> (Option<Value>, Value, Option<String>) {
        let op = self.call.event_name.as_str();
        let answer = |output: Value| self.model.recorded(op, Side::Output, &output);
        match change {
            Change::PoolCreated(pool) => {
                (answer(crate::ops::pools::pool_json(pool)), json!({}), None)
            }
            Change::PoolChanged { before, after } => (
                answer(crate::ops::pools::pool_json(after)),
                json!({ "previousState": self.pool(before) }),
                None,
            ),
            Change::PoolDeleted(pool) => (None, json!({ "previousState": self.pool(pool) }), None),
            Change::PrincipalTagsSet {
                pool_id,
                before,
                after,
            } => {
                let map = |m: &cognate_domain::pool::PrincipalTagMap| {
                    crate::ops::roles::principal_tags_json(pool_id.as_str(), m)
                };
                (
                    answer(map(after)),
                    json!({ "previousState": before.map(|b| {
                        self.model
                            .recorded("GetPrincipalTagAttributeMap", Side::Output, &map(b))
                            .unwrap_or(Value::Null)
                    }) }),
                    None,
                )
            }
            Change::IdentitiesDeleted {
                deleted,
                unprocessed,
            } => (
                answer(json!({
                    "UnprocessedIdentityIds": unprocessed
                        .iter()
                        .map(|(id, code)| json!({ "IdentityId": id, "ErrorCode": code }))
                        .collect::<Vec<_>>(),
                })),
                json!({ "deletedIdentityIds": deleted }),
                // One identity deleted (the usual case): its records find it.
                match deleted {
                    [one] => Some(one.to_string()),
                    _ => None,
                },
            ),
            Change::IdentitiesMerged {
                source,
                destination,
                moved,
                ..
            } => (
                answer(json!({ "IdentityId": destination })),
                json!({ "sourceIdentityId": source, "movedLogins": moved }),
                Some(destination.to_string()),
            ),
            Change::LoginsUnlinked {
                identity_id,
                providers,
                disabled,
                ..
            } => (
                None,
                json!({ "removedLogins": providers, "identityDisabled": disabled }),
                Some(identity_id.to_string()),
            ),
            _ => (None, json!({}), None),
        }
    }
}

impl Recorder for CallRecorder<'_> {
    fn record(&self, change: &Change<'_>) -> Option<AuditRecord> {
        let (response, additional, identity_id) = self.describe(change);
        let additional = additional
            .as_object()
            .is_some_and(|o| !o.is_empty())
            .then_some(additional);
        let record = self.call.record_with(
            Outcome::Answered {
                response: response.as_ref(),
                additional: additional.as_ref(),
            },
            change.pool_id().map(ToString::to_string),
            identity_id,
            1,
        );
        *self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(record.clone());
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(who: Who) -> Call {
        let mut call = Call::new(
            "req-1",
            COGNITO_SOURCE,
            "GetCredentialsForIdentity",
            "us-east-1",
            Some("192.0.2.7".parse().unwrap()),
            Some("aws-cli/2.0"),
        );
        call.who = who;
        call.recipient = Some(AccountId::parse("111111111111").unwrap());
        call
    }

    #[test]
    fn a_public_call_is_recorded_in_cloudtrails_shape_without_its_secrets() {
        let model = Model::embedded();
        let mut c = call(Who::Public);
        c.with_input(
            model,
            &json!({
                "IdentityId": "us-east-1:00000000-0000-0000-0000-000000000001",
                "Logins": { "accounts.google.com": "the-google-id-token" },
            }),
        );
        let output = json!({
            "IdentityId": "us-east-1:00000000-0000-0000-0000-000000000001",
            "Credentials": {
                "AccessKeyId": "ASIA1", "SecretKey": "the-secret-key",
                "SessionToken": "the-session-token", "Expiration": 1_800_000_000.0,
            },
        });
        let additional = json!({ "roleArn": "arn:aws:iam::111111111111:role/auth" });
        let record = c.answered(model, &output, Some(&additional));
        for secret in ["the-google-id-token", "the-secret-key", "the-session-token"] {
            assert!(!record.event_json().contains(secret), "{}", record.record);
        }
        let event: Value = serde_json::from_str(&record.event_json()).unwrap();
        assert_eq!(event["eventSource"], "cognito-identity.amazonaws.com");
        assert_eq!(event["eventName"], "GetCredentialsForIdentity");
        assert_eq!(event["userIdentity"]["type"], "Unknown");
        assert_eq!(event["sourceIPAddress"], "192.0.2.7");
        assert_eq!(event["requestID"], "req-1");
        assert_eq!(event["readOnly"], false);
        assert_eq!(event["eventType"], "AwsApiCall");
        assert_eq!(event["recipientAccountId"], "111111111111");
        assert_eq!(
            event["requestParameters"]["logins"]["accounts.google.com"],
            "HIDDEN_DUE_TO_SECURITY_REASONS"
        );
        assert_eq!(
            event["responseElements"]["credentials"]["accessKeyId"],
            "ASIA1"
        );
        assert_eq!(
            event["additionalEventData"]["roleArn"],
            "arn:aws:iam::111111111111:role/auth"
        );
        assert_eq!(
            record.identity_id.as_deref(),
            Some("us-east-1:00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(record.error_code, None);
    }

    #[test]
    fn a_signed_call_names_its_account_and_access_key_and_a_refusal_its_error() {
        let c = call(Who::Signed {
            account: AccountId::parse("111111111111").unwrap(),
            access_key_id: "AKIAEXAMPLE".into(),
        });
        let record = c.record(Outcome::Refused {
            code: "ResourceNotFoundException",
            message: "IdentityPool 'x' not found.",
        });
        let event: Value = serde_json::from_str(&record.event_json()).unwrap();
        assert_eq!(event["userIdentity"]["type"], "IAMUser");
        assert_eq!(event["userIdentity"]["accountId"], "111111111111");
        assert_eq!(event["userIdentity"]["accessKeyId"], "AKIAEXAMPLE");
        assert_eq!(event["errorCode"], "ResourceNotFoundException");
        assert_eq!(event["errorMessage"], "IdentityPool 'x' not found.");
        assert_eq!(event["responseElements"], Value::Null);
        assert_eq!(record.access_key_id.as_deref(), Some("AKIAEXAMPLE"));
        assert_eq!(
            record.error_code.as_deref(),
            Some("ResourceNotFoundException")
        );
    }
}
