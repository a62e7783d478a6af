//! TagResource, UntagResource, ListTagsForResource.

use cognate_domain::audit::Recorder;
use std::collections::BTreeMap;

use cognate_domain::ids::AccountId;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// TagResourceInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    /// ResourceArn: the pool's ARN.
    resource_arn: String,
    /// Tags to add or overwrite.
    tags: BTreeMap<String, String>,
}

/// UntagResourceInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagInput {
    /// ResourceArn: the pool's ARN.
    resource_arn: String,
    /// Keys to remove.
    tag_keys: Vec<String>,
}

/// ListTagsForResourceInput.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    /// ResourceArn: the pool's ARN.
    resource_arn: String,
}

/// TagResource.
pub async fn tag(
    state: &AppState,
    account: &AccountId,
    input: TagInput,
    audit: &dyn Recorder,
) -> Result<Value, ApiError> {
    state
        .pools
        .tag(account, &input.resource_arn, input.tags, audit)
        .await?;
    Ok(json!({}))
}

/// UntagResource.
pub async fn untag(
    state: &AppState,
    account: &AccountId,
    input: UntagInput,
    audit: &dyn Recorder,
) -> Result<Value, ApiError> {
    state
        .pools
        .untag(account, &input.resource_arn, &input.tag_keys, audit)
        .await?;
    Ok(json!({}))
}

/// ListTagsForResource.
pub async fn list(
    state: &AppState,
    account: &AccountId,
    input: ListInput,
) -> Result<Value, ApiError> {
    let tags = state.pools.list_tags(account, &input.resource_arn).await?;
    Ok(json!({ "Tags": tags }))
}
