//! TagResource, UntagResource, ListTagsForResource.

use crate::helpers::{
    assert_error_code, create_pool_request, create_pool_with, describe_pool, list_tags, spawn_app,
    tag_resource, tags_of, ACCOUNT_B, NOT_FOUND,
};

#[tokio::test]
async fn tags_can_be_added_overwritten_listed_and_removed() {
    let app = spawn_app().await;
    let id = create_pool_with(&app.client, "tagged", true, |p| {
        p.identity_pool_tags("team", "identity")
    })
    .await;
    let arn = app.pool_arn(&id);
    let tags = [("env", "prod"), ("team", "platform")];
    tag_resource(&app.client, &arn, &tags).send().await.unwrap();
    let tags = tags_of(&app.client, &arn).await;
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
    let tags = tags_of(&app.client, &arn).await;
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["env"], "prod");
    let described = describe_pool(&app.client, &id).send().await.unwrap();
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
    let one_more = tag_resource(&app.client, &arn, &[("key50", "v")])
        .send()
        .await;
    assert_error_code(one_more, "LimitExceededException");
    // Overwriting an existing key is still fine at the limit.
    let overwrite = tag_resource(&app.client, &arn, &[("key0", "new")]);
    overwrite.send().await.unwrap();
    let tags = tags_of(&app.client, &arn).await;
    assert_eq!(tags.len(), 50);
    assert_eq!(tags["key0"], "new");
}

#[tokio::test]
async fn creating_a_pool_with_more_than_fifty_tags_is_refused() {
    let app = spawn_app().await;
    let mut req = create_pool_request(&app.client, "too many tags", true);
    for i in 0..51 {
        req = req.identity_pool_tags(format!("k{i}"), "v");
    }
    assert_error_code(req.send().await, "LimitExceededException");
}

#[tokio::test]
async fn a_malformed_arn_is_invalid_and_another_accounts_arn_is_not_found() {
    let app = spawn_app().await;
    let id = app.create_pool("arn").await;
    let not_a_pool = list_tags(&app.client, "arn:aws:iam::111111111111:role/not-a-pool");
    assert_error_code(not_a_pool.send().await, "InvalidParameterException");
    let foreign = format!("arn:aws:cognito-identity:us-east-1:{ACCOUNT_B}:identitypool/{id}");
    assert_error_code(list_tags(&app.client, &foreign).send().await, NOT_FOUND);
    // Account B naming A's pool by its true ARN sees nothing either.
    let by_b = tag_resource(&app.client_b(), &app.pool_arn(&id), &[("x", "y")]);
    assert_error_code(by_b.send().await, NOT_FOUND);
}
