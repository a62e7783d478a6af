// The AWS SDK for JavaScript v3 on Cognate's signed (developer) operations:
// its SigV4 signatures must verify.
//
// usage: node manage_pools.mjs <cognate url> <region> <access key id> <secret key>
// prints one JSON line: {"created": <pool id>, "listed": [...], "error": <code of a bad call>}
import {
  CognitoIdentityClient,
  CreateIdentityPoolCommand,
  DescribeIdentityPoolCommand,
  ListIdentityPoolsCommand,
} from "@aws-sdk/client-cognito-identity";

const [endpoint, region, accessKeyId, secretAccessKey] = process.argv.slice(2);
const client = new CognitoIdentityClient({
  region,
  endpoint,
  credentials: { accessKeyId, secretAccessKey },
  maxAttempts: 1,
});
const created = await client.send(
  new CreateIdentityPoolCommand({
    IdentityPoolName: "js pool",
    AllowUnauthenticatedIdentities: true,
    IdentityPoolTags: { sdk: "js" },
  }),
);
const listed = await client.send(new ListIdentityPoolsCommand({ MaxResults: 60 }));
let error = null;
try {
  await client.send(new DescribeIdentityPoolCommand({ IdentityPoolId: "us-east-1:00000000-0000-0000-0000-000000000000" }));
} catch (e) {
  error = e.name;
}
console.log(
  JSON.stringify({
    created: created.IdentityPoolId,
    tags: created.IdentityPoolTags,
    listed: listed.IdentityPools.map((p) => p.IdentityPoolId),
    error,
  }),
);
