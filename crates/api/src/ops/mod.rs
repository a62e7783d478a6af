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
        "CreateIdentityPool" => pools::create(state, caller.account()?, parse(input)?, audit).await,
        "DescribeIdentityPool" => pools::describe(state, caller.account()?, parse(input)?).await,
        "UpdateIdentityPool" => pools::update(state, caller.account()?, parse(input)?, audit).await,
        "DeleteIdentityPool" => pools::delete(state, caller.account()?, parse(input)?, audit).await,
        "ListIdentityPools" => pools::list(state, caller.account()?, parse(input)?).await,
        "TagResource" => tags::tag(state, caller.account()?, parse(input)?, audit).await,
        "UntagResource" => tags::untag(state, caller.account()?, parse(input)?, audit).await,
        "ListTagsForResource" => tags::list(state, caller.account()?, parse(input)?).await,
        "SetIdentityPoolRoles" => {
            roles::set_roles(state, caller.account()?, parse(input)?, audit).await
        }
        "GetIdentityPoolRoles" => roles::get_roles(state, caller.account()?, parse(input)?).await,
        "SetPrincipalTagAttributeMap" => {
            roles::set_principal_tags(state, caller.account()?, parse(input)?, audit).await
        }
        "GetPrincipalTagAttributeMap" => {
            roles::get_principal_tags(state, caller.account()?, parse(input)?).await
        }
        "GetId" => identities::get_id(state, parse(input)?).await,
        "GetOpenIdToken" => identities::get_open_id_token(state, parse(input)?).await,
        "UnlinkIdentity" => identities::unlink(state, parse(input)?, audit).await,
        "DescribeIdentity" => identities::describe(state, caller.account()?, parse(input)?).await,
        "ListIdentities" => identities::list(state, caller.account()?, parse(input)?).await,
        "DeleteIdentities" => {
            identities::delete(state, caller.account()?, parse(input)?, audit).await
        }
        "GetOpenIdTokenForDeveloperIdentity" => {
            developer::token(state, caller.account()?, parse(input)?).await
        }
        "LookupDeveloperIdentity" => {
            developer::lookup(state, caller.account()?, parse(input)?).await
        }
        "MergeDeveloperIdentities" => {
            developer::merge(state, caller.account()?, parse(input)?, audit).await
        }
        "UnlinkDeveloperIdentity" => {
            developer::unlink(state, caller.account()?, parse(input)?, audit).await
        }
        _ => Err(ApiError::unknown_operation()),
    }?;
    Ok(Answer {
        output,
        additional: None,
    })
}
