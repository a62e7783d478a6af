//! TagResource, UntagResource, ListTagsForResource.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use super::{Reply, Signed};

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
pub async fn tag(call: &Signed<'_>, input: TagInput) -> Reply {
    call.pools()
        .tag(call.account, &input.resource_arn, input.tags, call.audit)
        .await?;
    Ok(json!({}))
}

/// UntagResource.
pub async fn untag(call: &Signed<'_>, input: UntagInput) -> Reply {
    call.pools()
        .untag(
            call.account,
            &input.resource_arn,
            &input.tag_keys,
            call.audit,
        )
        .await?;
    Ok(json!({}))
}

/// ListTagsForResource.
pub async fn list(call: &Signed<'_>, input: ListInput) -> Reply {
    let tags = call
        .pools()
        .list_tags(call.account, &input.resource_arn)
        .await?;
    Ok(json!({ "Tags": tags }))
}
