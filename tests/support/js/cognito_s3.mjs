// An app's view of Cognate, with the AWS SDK for JavaScript v3: credentials
// from fromCognitoIdentityPool (GetId + GetCredentialsForIdentity against
// Cognate), then S3 CreateBucket (unless it is there), PutObject and GetObject
// with them on an S3-compatible store.
//
// usage: node cognito_s3.mjs <cognate url> <region> <identity pool id> <s3 url> <bucket> [logins JSON] [custom role ARN]
// (an empty logins JSON: none)
// prints one JSON line: {"identityId": ..., "body": ..., "expiration": ...}
import { CognitoIdentityClient } from "@aws-sdk/client-cognito-identity";
import { fromCognitoIdentityPool } from "@aws-sdk/credential-provider-cognito-identity";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

const [endpoint, region, identityPoolId, s3Endpoint, bucket, loginsJson, customRoleArn] =
  process.argv.slice(2);
const client = new CognitoIdentityClient({ region, endpoint, maxAttempts: 1 });
const credentials = fromCognitoIdentityPool({
  client,
  identityPoolId,
  logins: loginsJson ? JSON.parse(loginsJson) : undefined,
  customRoleArn: customRoleArn || undefined,
});
const s3 = new S3Client({ region, endpoint: s3Endpoint, forcePathStyle: true, credentials, maxAttempts: 1 });
try {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
} catch (e) {
  if (e.name !== "BucketAlreadyOwnedByYou" && e.name !== "BucketAlreadyExists") throw e;
}
const key = `from-js-${Date.now()}`;
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "hello from the JS SDK" }));
const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
const body = await got.Body.transformToString();
const creds = await credentials();
console.log(JSON.stringify({ identityId: creds.identityId, body, expiration: creds.expiration }));
