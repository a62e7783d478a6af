//! One module per operation: parse the validated input, call one domain
//! service, serialise the output. Nothing else happens here.
//!
//! # Layout
//! - [`pools`] — Create/Describe/Update/Delete/ListIdentityPools.
//! - [`identities`] — GetId, GetOpenIdToken, Describe/List/DeleteIdentities.
//! - [`developer`] — the developer-authenticated identity operations.
//! - [`tags`] — TagResource, UntagResource, ListTagsForResource.
//! - [`roles`] — Set/GetIdentityPoolRoles, Set/GetPrincipalTagAttributeMap.

use cognate_domain::audit::Recorder;
use cognate_domain::ids::AccountId;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::AppState;

pub mod developer;
pub mod identities;
pub mod pools;
pub mod roles;
pub mod tags;

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An unsigned call to a public operation.
    Public,
    /// A SigV4-verified call for this account.
    Account(AccountId),
}

impl Caller {
    /// The account of a signed call.
    pub fn account(&self) -> Result<&AccountId, ApiError> {
        match self {
            Caller::Account(a) => Ok(a),
            Caller::Public => Err(ApiError::client(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )),
        }
    }
}

/// Deserialise a validated input into its typed form.
pub(crate) fn parse<T: DeserializeOwned>(input: &Value) -> Result<T, ApiError> {
    T::deserialize(input).map_err(|e| ApiError::serialization(e.to_string()))
}

/// Serialise an output shape.
pub(crate) fn to_json<T: serde::Serialize>(output: &T) -> Result<Value, ApiError> {
    serde_json::to_value(output).map_err(ApiError::internal)
}

/// What an operation answered, and what its audit record adds.
#[derive(Debug)]
pub struct Answer {
    /// The output shape, as JSON.
    pub output: Value,
    /// `additionalEventData` of its audit record (the role chosen, ...).
    pub additional: Option<Value>,
}

/// What a handler answers: the output shape, as JSON.
pub type Reply = Result<Value, ApiError>;

/// A signed call, as the handlers of the account's operations see it: the
/// account is known (the caller's signature named it) before the input is
/// read.
pub struct Signed<'a> {
    /// The services.
    pub state: &'a AppState,
    /// The caller's account.
    pub account: &'a AccountId,
    /// Where a change's audit record goes.
    pub audit: &'a dyn Recorder,
}

impl Signed<'_> {
    /// The pool service.
    pub fn pools(&self) -> &cognate_domain::service::pools::PoolService {
        &self.state.pools
    }

    /// The identity service.
    pub fn identities(&self) -> &cognate_domain::service::identities::IdentityService {
        &self.state.identities
    }
}

/// `out` with the `NextToken` member a paged answer carries when there is
/// a next page.
pub(crate) fn with_next_token(mut out: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        out["NextToken"] = Value::String(next);
    }
    out
}

impl std::fmt::Debug for Signed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("account", self.account)
            .finish_non_exhaustive()
    }
}

/// Run `operation` (already known to the model).
pub async fn dispatch(
    operation: &str,
    state: &AppState,
    caller: &Caller,
    input: &Value,
    audit: &dyn Recorder,
) -> Result<Answer, ApiError> {
    if operation == "GetCredentialsForIdentity" {
        let (output, role) = identities::get_credentials(state, parse(input)?).await?;
        return Ok(Answer {
            output,
            additional: Some(serde_json::json!({
                "roleArn": role,
                "roleSessionName": cognate_domain::service::identities::STS_SESSION_NAME,
            })),
        });
    }
    let output = match operation {
        "GetId" => identities::get_id(state, parse(input)?).await,
        "GetOpenIdToken" => identities::get_open_id_token(state, parse(input)?).await,
        "UnlinkIdentity" => identities::unlink(state, parse(input)?, audit).await,
        _ => {
            let call = Signed {
                state,
                account: caller.account()?,
                audit,
            };
            signed(operation, &call, input).await
        }
    }?;
    Ok(Answer {
        output,
        additional: None,
    })
}

/// Run an operation of the caller's account.
async fn signed(operation: &str, call: &Signed<'_>, input: &Value) -> Reply {
    match operation {
        "CreateIdentityPool" => pools::create(call, parse(input)?).await,
        "DescribeIdentityPool" => pools::describe(call, parse(input)?).await,
        "UpdateIdentityPool" => pools::update(call, parse(input)?).await,
        "DeleteIdentityPool" => pools::delete(call, parse(input)?).await,
        "ListIdentityPools" => pools::list(call, parse(input)?).await,
        "TagResource" => tags::tag(call, parse(input)?).await,
        "UntagResource" => tags::untag(call, parse(input)?).await,
        "ListTagsForResource" => tags::list(call, parse(input)?).await,
        "SetIdentityPoolRoles" => roles::set_roles(call, parse(input)?).await,
        "GetIdentityPoolRoles" => roles::get_roles(call, parse(input)?).await,
        "SetPrincipalTagAttributeMap" => roles::set_principal_tags(call, parse(input)?).await,
        "GetPrincipalTagAttributeMap" => roles::get_principal_tags(call, parse(input)?).await,
        "DescribeIdentity" => identities::describe(call, parse(input)?).await,
        "ListIdentities" => identities::list(call, parse(input)?).await,
        "DeleteIdentities" => identities::delete(call, parse(input)?).await,
        "GetOpenIdTokenForDeveloperIdentity" => developer::token(call, parse(input)?).await,
        "LookupDeveloperIdentity" => developer::lookup(call, parse(input)?).await,
        "MergeDeveloperIdentities" => developer::merge(call, parse(input)?).await,
        "UnlinkDeveloperIdentity" => developer::unlink(call, parse(input)?).await,
        _ => Err(ApiError::unknown_operation()),
    }
}
