//! CreateIdentityPool, DescribeIdentityPool, UpdateIdentityPool,
//! DeleteIdentityPool, ListIdentityPools.

use std::collections::BTreeMap;

use cognate_domain::ids::{IdentityPoolId, ProviderName};
use cognate_domain::pool::{CognitoIdentityProvider, IdentityPool, PoolSettings};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::to_json;
use super::{Reply, Signed};

/// The settings members shared by CreateIdentityPoolInput and IdentityPool.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SettingsInput {
    /// IdentityPoolName (1–128).
    identity_pool_name: String,
    /// AllowUnauthenticatedIdentities.
    allow_unauthenticated_identities: bool,
    /// AllowClassicFlow (absent, true or false; absent is kept absent).
    allow_classic_flow: Option<bool>,
    /// SupportedLoginProviders (10 max).
    supported_login_providers: Option<BTreeMap<String, String>>,
    /// DeveloperProviderName (1–128).
    developer_provider_name: Option<ProviderName>,
    /// OpenIdConnectProviderARNs.
    #[serde(rename = "OpenIdConnectProviderARNs")]
    open_id_connect_provider_arns: Option<Vec<String>>,
    /// CognitoIdentityProviders.
    cognito_identity_providers: Option<Vec<CognitoIdentityProvider>>,
    /// SamlProviderARNs.
    #[serde(rename = "SamlProviderARNs")]
    saml_provider_arns: Option<Vec<String>>,
    /// IdentityPoolTags.
    identity_pool_tags: Option<BTreeMap<String, String>>,
}

impl SettingsInput {
    fn into_parts(self) -> (PoolSettings, Option<BTreeMap<String, String>>) {
        let settings = PoolSettings {
            name: self.identity_pool_name,
            allow_unauthenticated: self.allow_unauthenticated_identities,
            allow_classic_flow: self.allow_classic_flow,
            supported_login_providers: self.supported_login_providers.unwrap_or_default(),
            developer_provider_name: self.developer_provider_name,
            openid_connect_provider_arns: self.open_id_connect_provider_arns.unwrap_or_default(),
            cognito_identity_providers: self.cognito_identity_providers.unwrap_or_default(),
            saml_provider_arns: self.saml_provider_arns.unwrap_or_default(),
        };
        (settings, self.identity_pool_tags)
    }
}

/// UpdateIdentityPool's input: the IdentityPool shape.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInput {
    /// IdentityPoolId.
    identity_pool_id: IdentityPoolId,
    #[serde(flatten)]
    settings: SettingsInput,
}

/// Input naming one pool.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolIdInput {
    /// IdentityPoolId.
    pub identity_pool_id: IdentityPoolId,
}

/// ListIdentityPoolsInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    /// MaxResults (1–60).
    max_results: u32,
    /// NextToken.
    next_token: Option<String>,
}

/// The IdentityPool output shape. Empty collections, an unset developer
/// provider and an `AllowClassicFlow` never given are left out, as AWS
/// answers them.
pub fn pool_json(pool: &IdentityPool) -> Value {
    let s = &pool.settings;
    let mut out = json!({
        "IdentityPoolId": pool.id,
        "IdentityPoolName": s.name,
        "AllowUnauthenticatedIdentities": s.allow_unauthenticated,
    });
    let obj = out.as_object_mut().expect("object literal");
    if let Some(classic) = s.allow_classic_flow {
        obj.insert("AllowClassicFlow".into(), json!(classic));
    }
    if !s.supported_login_providers.is_empty() {
        obj.insert(
            "SupportedLoginProviders".into(),
            json!(s.supported_login_providers),
        );
    }
    if let Some(dev) = &s.developer_provider_name {
        obj.insert("DeveloperProviderName".into(), json!(dev));
    }
    if !s.openid_connect_provider_arns.is_empty() {
        obj.insert(
            "OpenIdConnectProviderARNs".into(),
            json!(s.openid_connect_provider_arns),
        );
    }
    if !s.cognito_identity_providers.is_empty() {
        obj.insert(
            "CognitoIdentityProviders".into(),
            json!(s.cognito_identity_providers),
        );
    }
    if !s.saml_provider_arns.is_empty() {
        obj.insert("SamlProviderARNs".into(), json!(s.saml_provider_arns));
    }
    if !pool.tags.is_empty() {
        obj.insert("IdentityPoolTags".into(), json!(pool.tags));
    }
    out
}

/// CreateIdentityPool.
pub async fn create(call: &Signed<'_>, input: SettingsInput) -> Reply {
    let (settings, tags) = input.into_parts();
    let pool = call
        .pools()
        .create(call.account, settings, tags.unwrap_or_default(), call.audit)
        .await?;
    Ok(pool_json(&pool))
}

/// DescribeIdentityPool.
pub async fn describe(call: &Signed<'_>, input: PoolIdInput) -> Reply {
    let pool = call
        .pools()
        .describe(call.account, &input.identity_pool_id)
        .await?;
    Ok(pool_json(&pool))
}

/// UpdateIdentityPool.
pub async fn update(call: &Signed<'_>, input: UpdateInput) -> Reply {
    let (settings, tags) = input.settings.into_parts();
    let pool = call
        .pools()
        .update(
            call.account,
            &input.identity_pool_id,
            settings,
            tags,
            call.audit,
        )
        .await?;
    Ok(pool_json(&pool))
}

/// DeleteIdentityPool.
pub async fn delete(call: &Signed<'_>, input: PoolIdInput) -> Reply {
    call.pools()
        .delete(call.account, &input.identity_pool_id, call.audit)
        .await?;
    Ok(json!({}))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOutput {
    identity_pools: Vec<ShortDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ShortDescription {
    identity_pool_id: IdentityPoolId,
    identity_pool_name: String,
}

/// ListIdentityPools.
pub async fn list(call: &Signed<'_>, input: ListInput) -> Reply {
    let page = call
        .pools()
        .list(call.account, input.max_results, input.next_token.as_deref())
        .await?;
    to_json(&ListOutput {
        identity_pools: page
            .pools
            .into_iter()
            .map(|p| ShortDescription {
                identity_pool_id: p.id,
                identity_pool_name: p.name,
            })
            .collect(),
        next_token: page.next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cognate_domain::ids::AccountId;

    fn pool(classic: Option<bool>) -> IdentityPool {
        IdentityPool {
            id: IdentityPoolId::try_from("us-east-1:0").unwrap(),
            account_id: AccountId::parse("1").unwrap(),
            settings: PoolSettings {
                name: "p".into(),
                allow_classic_flow: classic,
                ..PoolSettings::default()
            },
            tags: BTreeMap::new(),
            roles: BTreeMap::new(),
            role_mappings: BTreeMap::new(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn an_allow_classic_flow_never_given_is_left_out_of_the_answer() {
        assert!(pool_json(&pool(None)).get("AllowClassicFlow").is_none());
        assert_eq!(pool_json(&pool(Some(false)))["AllowClassicFlow"], false);
        assert_eq!(pool_json(&pool(Some(true)))["AllowClassicFlow"], true);
    }
}
