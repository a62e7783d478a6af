//! The AWS CLI and boto3 against the real app: their signatures verify and
//! their parsers accept our answers. Skipped (with a note) where the tool
//! is not installed; `.ci/run` installs both so CI always runs them.

use std::process::Command;

use crate::helpers::{
    json_output, spawn_app, TestApp, ACCESS_KEY_A, REGION, SECRET_KEY_A, UNKNOWN_ID,
};

fn has(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_A)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY_A)
        .env("AWS_DEFAULT_REGION", REGION)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
}

async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("command runs"))
        .await
        .unwrap()
}

/// `aws cognito-identity <operation> --endpoint-url <the app> <args>`.
async fn aws_cli(app: &TestApp, operation: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("aws");
    let endpoint = ["--endpoint-url", app.address.as_str()];
    aws_env(&mut cmd)
        .args(["cognito-identity", operation])
        .args(endpoint)
        .args(args);
    run(cmd).await
}

#[tokio::test]
async fn the_aws_cli_manages_pools_with_its_own_signatures() {
    if !has("aws", "--version") {
        cognate_tests::skip("the AWS CLI is not installed");
        return;
    }
    let app = spawn_app().await;
    let create = [
        "--identity-pool-name",
        "cli pool",
        "--allow-unauthenticated-identities",
        "--supported-login-providers",
        "accounts.google.com=my-google-app",
        "--identity-pool-tags",
        "env=cli",
        "--output",
        "json",
    ];
    let created = json_output(
        "aws cli",
        &aws_cli(&app, "create-identity-pool", &create).await,
    );
    let id = created["IdentityPoolId"].as_str().unwrap().to_owned();
    assert_eq!(
        created["SupportedLoginProviders"]["accounts.google.com"],
        "my-google-app"
    );

    let list = ["--max-results", "60", "--output", "json"];
    let listed = json_output(
        "aws cli",
        &aws_cli(&app, "list-identity-pools", &list).await,
    );
    assert_eq!(listed["IdentityPools"][0]["IdentityPoolId"], id.as_str());

    let unknown = ["--identity-pool-id", UNKNOWN_ID];
    let out = aws_cli(&app, "describe-identity-pool", &unknown).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
}

#[tokio::test]
async fn boto3_manages_pools_and_roles_with_its_own_signatures() {
    if !has("python3", "--version")
        || !Command::new("python3")
            .args(["-c", "import boto3"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    {
        cognate_tests::skip("boto3 is not installed for python3");
        return;
    }
    let app = spawn_app().await;
    let script = r#"
import json, sys, boto3, botocore
c = boto3.client("cognito-identity", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=botocore.config.Config(retries={"max_attempts": 1}))
p = c.create_identity_pool(IdentityPoolName="boto pool", AllowUnauthenticatedIdentities=False,
                           SupportedLoginProviders={"graph.facebook.com": "fb"})
pid = p["IdentityPoolId"]
c.set_identity_pool_roles(IdentityPoolId=pid, Roles={"authenticated": "arn:aws:iam::111111111111:role/A"},
    RoleMappings={"graph.facebook.com": {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
        "RulesConfiguration": {"Rules": [{"Claim": "c", "MatchType": "Equals", "Value": "v",
                                           "RoleARN": "arn:aws:iam::111111111111:role/B"}]}}})
r = c.get_identity_pool_roles(IdentityPoolId=pid)
u = c.update_identity_pool(IdentityPoolId=pid, IdentityPoolName="renamed", AllowUnauthenticatedIdentities=True)
try:
    c.describe_identity_pool(IdentityPoolId="bad")
    err = None
except botocore.exceptions.ClientError as e:
    err = e.response["Error"]["Code"]
pages = list(c.get_paginator("list_identity_pools").paginate(MaxResults=1))
c.delete_identity_pool(IdentityPoolId=pid)
print(json.dumps({"roles": r["Roles"], "rules": r["RoleMappings"]["graph.facebook.com"]["RulesConfiguration"]["Rules"],
                  "name": u["IdentityPoolName"], "err": err, "pages": len(pages)}))
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, &app.address, ACCESS_KEY_A, SECRET_KEY_A]);
    let result = json_output("boto3", &run(cmd).await);
    assert_eq!(
        result["roles"]["authenticated"],
        "arn:aws:iam::111111111111:role/A"
    );
    assert_eq!(
        result["rules"][0]["RoleARN"],
        "arn:aws:iam::111111111111:role/B"
    );
    assert_eq!(result["name"], "renamed");
    assert_eq!(result["err"], "ValidationException");
    assert_eq!(result["pages"], 1);
}

#[tokio::test]
async fn the_js_sdk_v3_signs_developer_operations_that_verify() {
    if !cognate_tests::oidc::node_available() {
        cognate_tests::skip("node is not installed");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("support/js");
    let install_dir = dir.clone();
    tokio::task::spawn_blocking(move || cognate_tests::oidc::npm_ci(&install_dir))
        .await
        .unwrap()
        .expect("npm ci");
    let app = spawn_app().await;
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir).args([
        "manage_pools.mjs",
        &app.address,
        REGION,
        ACCESS_KEY_A,
        SECRET_KEY_A,
    ]);
    let result = json_output("JS SDK", &run(cmd).await);
    let created = result["created"].as_str().unwrap();
    assert_eq!(result["tags"]["sdk"], "js");
    assert_eq!(result["listed"], serde_json::json!([created]));
    assert_eq!(result["error"], "ResourceNotFoundException");
}
