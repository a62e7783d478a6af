//! GetId, GetOpenIdToken, GetCredentialsForIdentity, UnlinkIdentity, DescribeIdentity, ListIdentities,
//! DeleteIdentities.

use cognate_domain::audit::Recorder;
use cognate_domain::identity::IdentityDescription;
use cognate_domain::ids::{IdentityId, IdentityPoolId};
use cognate_domain::service::identities::Logins;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{with_next_token, Reply, Signed};
use crate::error::ApiError;
use crate::AppState;

/// GetIdInput. `AccountId` is validated by the model and otherwise
/// ignored: the pool id names the pool.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// Logins (10 max).
    logins: Option<Logins>,
}

/// GetOpenIdTokenInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOpenIdTokenInput {
    /// IdentityId.
    identity_id: IdentityId,
    /// Logins (10 max).
    logins: Option<Logins>,
}

/// GetCredentialsForIdentityInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsInput {
    /// IdentityId.
    identity_id: IdentityId,
    /// Logins (10 max).
    logins: Option<Logins>,
    /// CustomRoleArn.
    custom_role_arn: Option<String>,
}

/// UnlinkIdentityInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlinkInput {
    /// IdentityId.
    identity_id: IdentityId,
    /// Logins proving the identity.
    logins: Logins,
    /// LoginsToRemove: provider names.
    logins_to_remove: Vec<String>,
}

/// DescribeIdentityInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInput {
    /// IdentityId.
    identity_id: IdentityId,
}

/// ListIdentitiesInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// MaxResults (1–60).
    max_results: u32,
    /// NextToken.
    next_token: Option<String>,
    /// HideDisabled.
    hide_disabled: Option<bool>,
}

/// DeleteIdentitiesInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteInput {
    /// IdentityIdsToDelete (1–60).
    identity_ids_to_delete: Vec<IdentityId>,
}

/// A timestamp as the JSON 1.1 protocol sends it: epoch seconds.
pub(crate) fn epoch_seconds(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The IdentityDescription shape: provider names only, never subjects.
pub(crate) fn description_json(d: &IdentityDescription) -> Value {
    json!({
        "IdentityId": d.identity.id,
        "Logins": d.providers,
        "CreationDate": epoch_seconds(d.identity.created_at),
        "LastModifiedDate": epoch_seconds(d.identity.last_modified_at),
    })
}

/// GetId (public).
pub async fn get_id(state: &AppState, input: GetIdInput) -> Reply {
    let id = state
        .identities
        .get_id(&input.identity_pool_id, &input.logins.unwrap_or_default())
        .await?;
    Ok(json!({ "IdentityId": id }))
}

/// GetOpenIdToken (public).
pub async fn get_open_id_token(state: &AppState, input: GetOpenIdTokenInput) -> Reply {
    let (identity_id, token) = state
        .identities
        .get_open_id_token(&input.identity_id, &input.logins.unwrap_or_default())
        .await?;
    Ok(json!({ "IdentityId": identity_id, "Token": token }))
}

/// GetCredentialsForIdentity (public): the answer, and the role chosen.
pub async fn get_credentials(
    state: &AppState,
    input: CredentialsInput,
) -> Result<(Value, String), ApiError> {
    let granted = state
        .identities
        .get_credentials_for_identity(
            &input.identity_id,
            &input.logins.unwrap_or_default(),
            input.custom_role_arn.as_deref(),
        )
        .await?;
    let c = &granted.credentials;
    let answer = json!({
        "IdentityId": granted.identity_id,
        "Credentials": {
            "AccessKeyId": c.access_key_id,
            "SecretKey": c.secret_key,
            "SessionToken": c.session_token,
            "Expiration": epoch_seconds(c.expiration),
        },
    });
    Ok((answer, granted.role_arn))
}

/// UnlinkIdentity (public).
pub async fn unlink(state: &AppState, input: UnlinkInput, audit: &dyn Recorder) -> Reply {
    state
        .identities
        .unlink_identity(
            &input.identity_id,
            &input.logins,
            &input.logins_to_remove,
            audit,
        )
        .await?;
    Ok(json!({}))
}

/// DescribeIdentity.
pub async fn describe(call: &Signed<'_>, input: DescribeInput) -> Reply {
    let d = call
        .identities()
        .describe_identity(call.account, &input.identity_id)
        .await?;
    Ok(description_json(&d))
}

/// ListIdentities.
pub async fn list(call: &Signed<'_>, input: ListInput) -> Reply {
    let page = call
        .identities()
        .list_identities(
            call.account,
            &input.identity_pool_id,
            input.max_results,
            input.next_token.as_deref(),
            input.hide_disabled.unwrap_or(false),
        )
        .await?;
    Ok(with_next_token(
        json!({
            "IdentityPoolId": input.identity_pool_id,
            "Identities": page.identities.iter().map(description_json).collect::<Vec<_>>(),
        }),
        page.next_token,
    ))
}

/// DeleteIdentities.
pub async fn delete(call: &Signed<'_>, input: DeleteInput) -> Reply {
    let unprocessed = call
        .identities()
        .delete_identities(call.account, &input.identity_ids_to_delete, call.audit)
        .await?;
    Ok(json!({
        "UnprocessedIdentityIds": unprocessed
            .iter()
            .map(|(id, code)| json!({ "IdentityId": id, "ErrorCode": code }))
            .collect::<Vec<_>>(),
    }))
}
