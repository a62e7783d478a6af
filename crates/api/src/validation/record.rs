//! What the audit trail keeps of a request or an answer: the model's members
//! under the names CloudTrail writes them (first letter lower-cased:
//! `identityPoolId`, `logins`), every value of a sensitive shape (tokens,
//! SAML responses, secret keys, session tokens) replaced by
//! [`HIDDEN`], timestamps as ISO-8601 text, and anything the model does not
//! know of left out.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::model::{Kind, Model};

/// What CloudTrail writes in place of a secret.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Which side of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request (`requestParameters`).
    Input,
    /// The answer (`responseElements`).
    Output,
}

impl Model {
    /// `value` (`operation`'s request or answer) as the audit trail keeps
    /// it; `None` for an operation without that side, or an empty one.
    pub fn recorded(&self, operation: &str, side: Side, value: &Value) -> Option<Value> {
        let operation = self.operations.get(operation)?;
        let shape = match side {
            Side::Input => operation.input.as_deref(),
            Side::Output => operation.output.as_deref(),
        }?;
        let recorded = self.recorded_shape(shape, value);
        match &recorded {
            Value::Object(members) if members.is_empty() => None,
            Value::Null => None,
            _ => Some(recorded),
        }
    }

    fn recorded_shape(&self, shape_name: &str, value: &Value) -> Value {
        let shape = self.shape(shape_name);
        if value.is_null() {
            return Value::Null;
        }
        match &shape.kind {
            Kind::Structure(members) => {
                let Some(given) = value.as_object() else {
                    return Value::Null;
                };
                let mut out = Map::new();
                for member in members {
                    if let Some(v) = given.get(&member.name) {
                        out.insert(member.path.clone(), self.recorded_shape(&member.shape, v));
                    }
                }
                Value::Object(out)
            }
            Kind::List { member } => match value.as_array() {
                Some(items) => Value::Array(
                    items
                        .iter()
                        .map(|item| self.recorded_shape(member, item))
                        .collect(),
                ),
                None => Value::Null,
            },
            Kind::Map { value: values, .. } => match value.as_object() {
                Some(entries) => Value::Object(
                    entries
                        .iter()
                        .map(|(k, v)| (k.clone(), self.recorded_shape(values, v)))
                        .collect(),
                ),
                None => Value::Null,
            },
            _ if shape.sensitive => Value::String(HIDDEN.to_owned()),
            Kind::Timestamp => match value.as_f64() {
                Some(seconds) => DateTime::<Utc>::from_timestamp_millis((seconds * 1000.0) as i64)
                    .map_or(Value::Null, |t| {
                        Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
                    }),
                None => value.clone(),
            },
            _ => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_hidden_and_members_named_as_cloudtrail_names_them() {
        let model = Model::embedded();
        let request = json!({
            "IdentityId": "us-east-1:0000",
            "Logins": { "accounts.google.com": "eyJ.secret.token" },
            "CustomRoleArn": "arn:aws:iam::1:role/r",
            "NotInTheModel": "dropped",
        });
        assert_eq!(
            model.recorded("GetCredentialsForIdentity", Side::Input, &request),
            Some(json!({
                "identityId": "us-east-1:0000",
                "logins": { "accounts.google.com": HIDDEN },
                "customRoleArn": "arn:aws:iam::1:role/r",
            }))
        );
        let answer = json!({
            "IdentityId": "us-east-1:0000",
            "Credentials": {
                "AccessKeyId": "ASIA0000",
                "SecretKey": "the-secret",
                "SessionToken": "the-session-token",
                "Expiration": 1_796_601_600.5,
            },
        });
        assert_eq!(
            model.recorded("GetCredentialsForIdentity", Side::Output, &answer),
            Some(json!({
                "identityId": "us-east-1:0000",
                "credentials": {
                    "accessKeyId": "ASIA0000",
                    "secretKey": HIDDEN,
                    "sessionToken": HIDDEN,
                    "expiration": "2026-12-07T00:00:00Z",
                },
            }))
        );
        let token = json!({ "IdentityId": "us-east-1:0000", "Token": "eyJ.cognate.token" });
        assert_eq!(
            model.recorded("GetOpenIdToken", Side::Output, &token),
            Some(json!({ "identityId": "us-east-1:0000", "token": HIDDEN }))
        );
    }

    #[test]
    fn an_empty_side_is_not_recorded() {
        let model = Model::embedded();
        assert_eq!(
            model.recorded("DeleteIdentityPool", Side::Output, &json!({})),
            None
        );
        assert_eq!(
            model.recorded("NoSuchOperation", Side::Input, &json!({})),
            None
        );
        let lookup = Model::cloudtrail();
        assert_eq!(
            lookup.recorded(
                "LookupEvents",
                Side::Input,
                &json!({ "MaxResults": 5, "StartTime": 1_796_601_600 })
            ),
            Some(json!({ "maxResults": 5, "startTime": "2026-12-07T00:00:00Z" }))
        );
    }
}
