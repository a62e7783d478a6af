//! Calls an operator makes through the console: the same operations, the
//! same validation from the service model, the same domain services and
//! the same audit trail as the API, with the operator (their `sub` at the
//! console's OpenID provider) as the caller in each record.
//!
//! - [`invoke`] runs one of the 23 operations for an account, as a signed
//!   call of that account would run, and records it.
//! - [`unlink_provider`] unlinks a provider's logins from an identity
//!   (what no API operation does without the user's token), recorded as
//!   UnlinkIdentity.
//! - [`rotate_signing_key`] rotates the token signing key (with the
//!   configured publish-ahead), recorded as `cognate keys rotate` is.
//! - [`read`] runs a read of the domain services on the database runtime.
//!
//! The console decides who may do what; this module trusts its word.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::web;
use cognate_domain::audit::Audience;
use cognate_domain::ids::{AccountId, IdentityId, ProviderName};
use serde_json::{json, Value};

use crate::audit::{Call, CallRecorder, Outcome, Who, COGNITO_SOURCE};
use crate::error::ApiError;
use crate::ops::{Answer, Caller};
use crate::protocol::{dispatch_waiting, record_call, Service};
use crate::validation::Model;
use crate::AppState;

/// The operator behind a console request.
#[derive(Debug, Clone)]
pub struct Operator {
    /// `sub` at the console's OpenID provider.
    pub sub: String,
    /// That provider's issuer.
    pub issuer: String,
    /// A name to show, if the provider gave one.
    pub name: Option<String>,
    /// The browser's address.
    pub source_ip: Option<IpAddr>,
    /// The browser's `User-Agent`.
    pub user_agent: Option<String>,
}

impl Operator {
    fn call(&self, state: &AppState, operation: &str, account: Option<&AccountId>) -> Call {
        let mut call = Call::new(
            &uuid::Uuid::new_v4().to_string(),
            COGNITO_SOURCE,
            operation,
            &state.verifier.region,
            self.source_ip,
            self.user_agent.as_deref(),
        );
        call.who = Who::Operator {
            sub: self.sub.clone(),
            issuer: self.issuer.clone(),
            name: self.name.clone(),
        };
        call.recipient = account.cloned();
        call
    }
}

/// Run `operation` with `input` for `account`, as `operator`: validated
/// against the model, run through the domain, recorded in the audit trail.
pub async fn invoke(
    state: &web::Data<AppState>,
    operator: &Operator,
    account: &AccountId,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let model = Model::embedded();
    if !model.has_operation(operation) {
        return Err(ApiError::unknown_operation());
    }
    let mut call = operator.call(state, operation, Some(account));
    call.with_input(model, &input);
    if let Err(refused) = model.validate(operation, &input) {
        let err = ApiError::from(refused);
        record_call(state, &call, Service::Cognito, Err(&err));
        return Err(err);
    }
    let arrived = Instant::now();
    let work = {
        let state = state.clone();
        let call = call.clone();
        let operation = operation.to_owned();
        let caller = Caller::Account(account.clone());
        async move {
            let recorder = CallRecorder::new(&call, model);
            let deadline = arrived + state.failover_wait;
            dispatch_waiting(&state, &operation, &caller, &input, &recorder, deadline)
                .await
                .map(|answer| (answer, recorder.written()))
        }
    };
    let ran = state.on_database_runtime(work).await?;
    record_call(
        state,
        &call,
        Service::Cognito,
        ran.as_ref()
            .map(|(answer, written)| (answer, written.as_ref())),
    );
    ran.map(|(Answer { output, .. }, _)| output)
}

/// Unlink every login of `provider` from `identity_id` (an identity of
/// `account`'s pools), as `operator`; recorded as UnlinkIdentity.
pub async fn unlink_provider(
    state: &web::Data<AppState>,
    operator: &Operator,
    account: &AccountId,
    identity_id: &IdentityId,
    provider: &ProviderName,
) -> Result<(), ApiError> {
    let mut call = operator.call(state, "UnlinkIdentity", Some(account));
    call.request = Some(json!({
        "IdentityId": identity_id.as_str(),
        "LoginsToRemove": [provider.as_str()],
    }));
    call.identity_id = Some(identity_id.to_string());
    let work = {
        let state = state.clone();
        let call = call.clone();
        let account = account.clone();
        let identity_id = identity_id.clone();
        let provider = provider.clone();
        async move {
            let recorder = CallRecorder::new(&call, Model::embedded());
            state
                .identities
                .unlink_provider(&account, &identity_id, &provider, &recorder)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, ApiError>(recorder.written())
        }
    };
    let ran = state.on_database_runtime(work).await?;
    let answer = Answer {
        output: json!({}),
        additional: None,
    };
    record_call(
        state,
        &call,
        Service::Cognito,
        ran.as_ref().map(|written| (&answer, written.as_ref())),
    );
    ran.map(|_| ())
}

/// Rotate the token signing key now, the new key signing after the
/// configured publish-ahead; its `kid`. Recorded for every account, as
/// `cognate keys rotate` is.
pub async fn rotate_signing_key(
    state: &web::Data<AppState>,
    operator: &Operator,
) -> Result<String, ApiError> {
    let keys = state.keys.clone();
    let rotated = state
        .on_database_runtime(async move { keys.rotate_now().await })
        .await?;
    let call = operator.call(state, "RotateSigningKey", None);
    match rotated {
        Ok(kid) => {
            let mut record = call.record(Outcome::Answered {
                response: Some(&json!({ "kid": kid })),
                additional: None,
            });
            record.audience = Audience::Everyone;
            state.audit.push(record);
            Ok(kid)
        }
        Err(err) => {
            let err = ApiError::internal(err);
            let mut record = call.record(Outcome::Refused {
                code: err.code,
                message: &err.message,
            });
            record.audience = Audience::Everyone;
            state.audit.push(record);
            Err(err)
        }
    }
}

/// CloudTrail's `eventSource` of sign-ins.
pub const SIGNIN_SOURCE: &str = "signin.amazonaws.com";

/// Record a sign-in to the console (CloudTrail's `ConsoleLogin`): one
/// record for each account it opened, or, refused (no operator entry
/// matched), one for the operators only.
pub fn record_sign_in(state: &AppState, operator: &Operator, accounts: &[AccountId]) {
    let mut call = operator.call(state, "ConsoleLogin", None);
    call.event_source = SIGNIN_SOURCE;
    let outcome = if accounts.is_empty() {
        "Failure"
    } else {
        "Success"
    };
    let response = json!({ "ConsoleLogin": outcome });
    let additional = json!({ "identityProvider": operator.issuer });
    if accounts.is_empty() {
        let mut record = call.record(Outcome::Refused {
            code: "AccessDenied",
            message: "No console operator entry matches this user.",
        });
        record.audience = Audience::Operators;
        state.audit.push(record);
        return;
    }
    for account in accounts {
        call.recipient = Some(account.clone());
        state.audit.push(call.record(Outcome::Answered {
            response: Some(&response),
            additional: Some(&additional),
        }));
    }
}

/// Run a read of the domain services on the database runtime.
pub async fn read<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<T, cognate_domain::DomainError>> + Send + 'static,
    T: Send + 'static,
{
    state
        .on_database_runtime(work)
        .await?
        .map_err(ApiError::from)
}
