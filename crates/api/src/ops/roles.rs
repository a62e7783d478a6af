//! SetIdentityPoolRoles, GetIdentityPoolRoles, SetPrincipalTagAttributeMap,
//! GetPrincipalTagAttributeMap.

use std::collections::BTreeMap;

use cognate_domain::ids::{IdentityPoolId, ProviderName};
use cognate_domain::pool::{PrincipalTagMap, RoleMapping};
use serde::Deserialize;
use serde_json::{json, Value};

use super::pools::PoolIdInput;
use super::{Reply, Signed};

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
    identity_provider_name: ProviderName,
    /// UseDefaults.
    use_defaults: Option<bool>,
    /// PrincipalTags: tag → claim (50 max).
    principal_tags: Option<BTreeMap<String, String>>,
}

/// SetIdentityPoolRoles.
pub async fn set_roles(call: &Signed<'_>, input: SetRolesInput) -> Reply {
    call.pools()
        .set_roles(
            call.account,
            &input.identity_pool_id,
            input.roles,
            input.role_mappings.unwrap_or_default(),
            call.audit,
        )
        .await?;
    Ok(json!({}))
}

/// GetIdentityPoolRoles.
pub async fn get_roles(call: &Signed<'_>, input: PoolIdInput) -> Reply {
    let (roles, mappings) = call
        .pools()
        .get_roles(call.account, &input.identity_pool_id)
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
pub async fn set_principal_tags(call: &Signed<'_>, input: PrincipalTagsInput) -> Reply {
    let map = PrincipalTagMap {
        provider_name: input.identity_provider_name,
        use_defaults: input.use_defaults.unwrap_or(false),
        principal_tags: input.principal_tags.unwrap_or_default(),
    };
    let map = call
        .pools()
        .set_principal_tag_map(call.account, &input.identity_pool_id, map, call.audit)
        .await?;
    Ok(principal_tags_json(&input.identity_pool_id, &map))
}

/// GetPrincipalTagAttributeMap.
pub async fn get_principal_tags(call: &Signed<'_>, input: PrincipalTagsInput) -> Reply {
    let map = call
        .pools()
        .get_principal_tag_map(
            call.account,
            &input.identity_pool_id,
            &input.identity_provider_name,
        )
        .await?;
    Ok(principal_tags_json(&input.identity_pool_id, &map))
}
