//! The developer-authenticated identity operations:
//! GetOpenIdTokenForDeveloperIdentity, LookupDeveloperIdentity,
//! MergeDeveloperIdentities, UnlinkDeveloperIdentity.

use std::collections::BTreeMap;

use cognate_domain::ids::{DeveloperUserIdentifier, IdentityId, IdentityPoolId, ProviderName};
use cognate_domain::service::identities::{DeveloperTokenRequest, Logins};
use serde::Deserialize;
use serde_json::json;

use super::{with_next_token, Reply, Signed};

/// GetOpenIdTokenForDeveloperIdentityInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// IdentityId to link the login to.
    identity_id: Option<IdentityId>,
    /// Logins: developer provider → user identifier.
    logins: Logins,
    /// PrincipalTags (50 max).
    principal_tags: Option<BTreeMap<String, String>>,
    /// TokenDuration (1–86400 s).
    token_duration: Option<i64>,
}

/// LookupDeveloperIdentityInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// IdentityId.
    identity_id: Option<IdentityId>,
    /// DeveloperUserIdentifier.
    developer_user_identifier: Option<DeveloperUserIdentifier>,
    /// MaxResults (1–60).
    max_results: Option<u32>,
    /// NextToken.
    next_token: Option<String>,
}

/// MergeDeveloperIdentitiesInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MergeInput {
    /// SourceUserIdentifier.
    source_user_identifier: DeveloperUserIdentifier,
    /// DestinationUserIdentifier.
    destination_user_identifier: DeveloperUserIdentifier,
    /// DeveloperProviderName.
    developer_provider_name: ProviderName,
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
}

/// UnlinkDeveloperIdentityInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlinkInput {
    /// IdentityId.
    identity_id: IdentityId,
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// DeveloperProviderName.
    developer_provider_name: ProviderName,
    /// DeveloperUserIdentifier.
    developer_user_identifier: DeveloperUserIdentifier,
}

/// GetOpenIdTokenForDeveloperIdentity.
pub async fn token(call: &Signed<'_>, input: TokenInput) -> Reply {
    let (identity_id, token) = call
        .identities()
        .get_open_id_token_for_developer_identity(
            call.account,
            DeveloperTokenRequest {
                pool_id: input.identity_pool_id,
                identity_id: input.identity_id,
                logins: input.logins,
                principal_tags: input.principal_tags.unwrap_or_default(),
                token_duration: input.token_duration,
            },
        )
        .await?;
    Ok(json!({ "IdentityId": identity_id, "Token": token }))
}

/// LookupDeveloperIdentity.
pub async fn lookup(call: &Signed<'_>, input: LookupInput) -> Reply {
    let found = call
        .identities()
        .lookup_developer_identity(
            call.account,
            &input.identity_pool_id,
            input.identity_id.as_ref(),
            input.developer_user_identifier.as_ref(),
            input.max_results,
            input.next_token.as_deref(),
        )
        .await?;
    Ok(with_next_token(
        json!({
            "IdentityId": found.identity_id,
            "DeveloperUserIdentifierList": found.developer_user_identifiers,
        }),
        found.next_token,
    ))
}

/// MergeDeveloperIdentities.
pub async fn merge(call: &Signed<'_>, input: MergeInput) -> Reply {
    let id = call
        .identities()
        .merge_developer_identities(
            call.account,
            &input.identity_pool_id,
            &input.developer_provider_name,
            &input.source_user_identifier,
            &input.destination_user_identifier,
            call.audit,
        )
        .await?;
    Ok(json!({ "IdentityId": id }))
}

/// UnlinkDeveloperIdentity.
pub async fn unlink(call: &Signed<'_>, input: UnlinkInput) -> Reply {
    call.identities()
        .unlink_developer_identity(
            call.account,
            &input.identity_pool_id,
            &input.identity_id,
            &input.developer_provider_name,
            &input.developer_user_identifier,
            call.audit,
        )
        .await?;
    Ok(json!({}))
}
