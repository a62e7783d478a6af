//! TagResource, UntagResource, ListTagsForResource.

use crate::helpers::{error_code, spawn_app, ACCOUNT_B};

#[tokio::test]
async fn tags_can_be_added_overwritten_listed_and_removed() {
    let app = spawn_app().await;
    let id = app
        .client
        .create_identity_pool()
        .identity_pool_name("tagged")
        .allow_unauthenticated_identities(true)
        .identity_pool_tags("team", "identity")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let arn = app.pool_arn(&id);
    app.client
        .tag_resource()
        .resource_arn(&arn)
        .tags("env", "prod")
        .tags("team", "platform")
        .send()
        .await
        .unwrap();
    let tags = app
        .client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags["team"], "platform");
    app.client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .tag_keys("absent")
        .send()
        .await
        .unwrap();
    let tags = app
        .client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["env"], "prod");
    let described = app
        .client
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.identity_pool_tags.unwrap()["env"], "prod");
}

#[tokio::test]
async fn a_pool_takes_fifty_tags_and_not_one_more() {
    let app = spawn_app().await;
    let id = app.create_pool("many tags").await;
    let arn = app.pool_arn(&id);
    let mut req = app.client.tag_resource().resource_arn(&arn);
    for i in 0..50 {
        req = req.tags(format!("key{i}"), "v");
    }
    req.send().await.expect("50 tags fit");
    let err = app
        .client
        .tag_resource()
        .resource_arn(&arn)
        .tags("key50", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "LimitExceededException");
    // Overwriting an existing key is still fine at the limit.
    app.client
        .tag_resource()
        .resource_arn(&arn)
        .tags("key0", "new")
        .send()
        .await
        .unwrap();
    let tags = app
        .client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.len(), 50);
    assert_eq!(tags["key0"], "new");
}

#[tokio::test]
async fn creating_a_pool_with_more_than_fifty_tags_is_refused() {
    let app = spawn_app().await;
    let mut req = app
        .client
        .create_identity_pool()
        .identity_pool_name("too many tags")
        .allow_unauthenticated_identities(true);
    for i in 0..51 {
        req = req.identity_pool_tags(format!("k{i}"), "v");
    }
    let err = req.send().await.unwrap_err();
    assert_eq!(error_code(&err), "LimitExceededException");
}

#[tokio::test]
async fn a_malformed_arn_is_invalid_and_another_accounts_arn_is_not_found() {
    let app = spawn_app().await;
    let id = app.create_pool("arn").await;
    let err = app
        .client
        .list_tags_for_resource()
        .resource_arn("arn:aws:iam::111111111111:role/not-a-pool")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterException");
    let foreign = format!("arn:aws:cognito-identity:us-east-1:{ACCOUNT_B}:identitypool/{id}");
    let err = app
        .client
        .list_tags_for_resource()
        .resource_arn(&foreign)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    // Account B naming A's pool by its true ARN sees nothing either.
    let err = app
        .client_b()
        .tag_resource()
        .resource_arn(app.pool_arn(&id))
        .tags("x", "y")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
}
