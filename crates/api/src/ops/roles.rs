//! SetIdentityPoolRoles, GetIdentityPoolRoles, SetPrincipalTagAttributeMap,
//! GetPrincipalTagAttributeMap.

use cognate_domain::audit::Recorder;
use std::collections::BTreeMap;

use cognate_domain::ids::{AccountId, IdentityPoolId};
use cognate_domain::pool::{PrincipalTagMap, RoleMapping};
use serde::Deserialize;
use serde_json::{json, Value};

use super::pools::PoolIdInput;
use crate::error::ApiError;
use crate::AppState;

/// SetIdentityPoolRolesInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetRolesInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// Roles: `authenticated` / `unauthenticated` → role ARN (2 max).
    roles: BTreeMap<String, String>,
    /// RoleMappings: provider → mapping (10 max).
    role_mappings: Option<BTreeMap<String, RoleMapping>>,
}

/// Set/GetPrincipalTagAttributeMap input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrincipalTagsInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    /// IdentityProviderName.
    identity_provider_name: String,
    /// UseDefaults.
    use_defaults: Option<bool>,
    /// PrincipalTags: tag → claim (50 max).
    principal_tags: Option<BTreeMap<String, String>>,
}

/// SetIdentityPoolRoles.
pub async fn set_roles(
    state: &AppState,
    account: &AccountId,
    input: SetRolesInput,
    audit: &dyn Recorder,
) -> Result<Value, ApiError> {
    state
        .pools
        .set_roles(
            account,
            &input.identity_pool_id,
            input.roles,
            input.role_mappings.unwrap_or_default(),
            audit,
        )
        .await?;
    Ok(json!({}))
}

/// GetIdentityPoolRoles.
pub async fn get_roles(
    state: &AppState,
    account: &AccountId,
    input: PoolIdInput,
) -> Result<Value, ApiError> {
    let (roles, mappings) = state
        .pools
        .get_roles(account, &input.identity_pool_id)
        .await?;
    let mut out = json!({ "IdentityPoolId": input.identity_pool_id, "Roles": roles });
    if !mappings.is_empty() {
        out["RoleMappings"] = json!(mappings);
    }
    Ok(out)
}

/// A principal-tag map as Set/GetPrincipalTagAttributeMap answer it.
pub(crate) fn principal_tags_json(pool_id: &str, map: &PrincipalTagMap) -> Value {
    json!({
        "IdentityPoolId": pool_id,
        "IdentityProviderName": map.provider_name,
        "UseDefaults": map.use_defaults,
        "PrincipalTags": map.principal_tags,
    })
}

/// SetPrincipalTagAttributeMap.
pub async fn set_principal_tags(
    state: &AppState,
    account: &AccountId,
    input: PrincipalTagsInput,
    audit: &dyn Recorder,
) -> Result<Value, ApiError> {
    let map = PrincipalTagMap {
        provider_name: input.identity_provider_name,
        use_defaults: input.use_defaults.unwrap_or(false),
        principal_tags: input.principal_tags.unwrap_or_default(),
    };
    let map = state
        .pools
        .set_principal_tag_map(account, &input.identity_pool_id, map, audit)
        .await?;
    Ok(principal_tags_json(&input.identity_pool_id, &map))
}

/// GetPrincipalTagAttributeMap.
pub async fn get_principal_tags(
    state: &AppState,
    account: &AccountId,
    input: PrincipalTagsInput,
) -> Result<Value, ApiError> {
    let map = state
        .pools
        .get_principal_tag_map(
            account,
            &input.identity_pool_id,
            &input.identity_provider_name,
        )
        .await?;
    Ok(principal_tags_json(&input.identity_pool_id, &map))
}
