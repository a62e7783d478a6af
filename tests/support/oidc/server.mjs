// A real OpenID provider (panva/oidc-provider) for Cognate's end-to-end
// federation tests. Driven by tests/src/oidc.rs; usable by hand too:
//
//   node server.mjs --port 4000 [--issuer http://127.0.0.1:4000[/path]]
//                   [--client-id cognate-test-client] [--ttl 3600]
//                   [--claims tier,custom:role]
//                   [--confidential-client <id>,<secret>,<redirect_uri>]...
//
// - Listens on 127.0.0.1:<port>; the issuer (default http://127.0.0.1:<port>)
//   may carry a path, under which everything is served (so it can pose as a
//   declared OIDC provider `127.0.0.1:<port>/<path>`, or stand behind an
//   `[[upstream]]` issuer override for accounts.google.com).
// - One public client: `client_id` from --client-id, PKCE (S256) required,
//   redirect_uri http://127.0.0.1/cb, code flow, RS256 id tokens that last
//   --ttl seconds (default 3600).
// - Any number of confidential clients, one per --confidential-client
//   <id>,<secret>,<redirect_uri> (the id and the secret may not contain a
//   comma; the URI may): client_secret_basic at the token endpoint, code
//   flow, RS256 id tokens, that one redirect_uri, and as
//   post_logout_redirect_uri the redirect_uri's origin + "/". PKCE (S256)
//   is optional for them (checked when the authorization request has a
//   code_challenge), as at most real providers; the public client must use it.
// - No login page: GET <issuer>/interaction/<uid> completes login and
//   consent at once for the account named by the authorization request's
//   `login_hint` (default "alice"). Extra claims for that account may be
//   passed as JSON in the `x_claims` authorization parameter.
// - Accounts: `sub` = first 32 hex digits of sha256("cognate-test:" + login),
//   `email` = <login>@example.com, `email_verified`, `name`,
//   `preferred_username` = login, `groups` (["admins","users"] for logins
//   starting with "admin", else ["users"]), `isAdmin` ("true"/"false"),
//   `department` ("engineering"), plus the extra claims. All of them are in
//   the id token (scope `openid`).
// - RP-initiated logout (GET/POST <issuer>/session/end, id_token_hint or
//   client_id, post_logout_redirect_uri) without a page either: the
//   confirmation form submits itself ("yes, sign me out"), then redirects to
//   the post_logout_redirect_uri, or shows a plain "Signed out" page. No page
//   the server renders loads anything from elsewhere (a browser on a closed
//   network would wait for it).
// - Prints "READY <issuer>" on stdout once listening. Exits when its stdin
//   closes (the test process that started it is gone) or on SIGTERM/SIGINT.

import crypto from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

// `<id>,<secret>,<redirect_uri>` (the URI is everything after the second
// comma) as an oidc-provider client.
function confidentialClient(value) {
  const [id, secret, ...rest] = String(value ?? '').split(',');
  const redirectUri = rest.join(',');
  let origin;
  try {
    origin = new URL(redirectUri).origin;
  } catch {
    origin = undefined;
  }
  if (!id || !secret || !origin || origin === 'null') {
    console.error('--confidential-client takes <id>,<secret>,<redirect_uri> (an http(s) URL)');
    process.exit(2);
  }
  return {
    client_id: id,
    client_secret: secret,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [`${origin}/`],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'RS256',
  };
}

function parseArgs(argv) {
  const args = {
    port: 0, issuer: '', clientId: 'cognate-test-client', ttl: 3600, claims: [],
    confidentialClients: [],
  };
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--port': args.port = Number(value); i += 1; break;
      case '--issuer': args.issuer = value; i += 1; break;
      case '--client-id': args.clientId = value; i += 1; break;
      case '--ttl': args.ttl = Number(value); i += 1; break;
      case '--claims': args.claims = value.split(',').filter(Boolean); i += 1; break;
      case '--confidential-client': args.confidentialClients.push(confidentialClient(value)); i += 1; break;
      default:
        console.error(`unknown argument ${argv[i]}`);
        process.exit(2);
    }
  }
  if (!Number.isInteger(args.port) || args.port <= 0 || args.port > 65535) {
    console.error('--port <1-65535> is required');
    process.exit(2);
  }
  if (!Number.isInteger(args.ttl) || args.ttl <= 0) {
    console.error('--ttl must be a positive number of seconds');
    process.exit(2);
  }
  args.issuer = (args.issuer || `http://127.0.0.1:${args.port}`).replace(/\/+$/, '');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const mountPath = new URL(args.issuer).pathname.replace(/\/+$/, '');

// A fresh signing key per run. Generated as PEM text and loaded as a new
// key object, never exported from the generated one: Node 20 can deadlock
// when a garbage collection during `export({ format: 'jwk' })` of a key
// from generateKeyPairSync destroys the key generation job, which takes the
// lock the export holds (seen about once in 150 starts under load: the
// process hangs for good before printing READY).
const { privateKey: pem } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const privateKey = crypto.createPrivateKey(pem);
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };
jwk.kid = crypto.createHash('sha256').update(jwk.n).digest('base64url').slice(0, 16);

function subjectOf(login) {
  return crypto.createHash('sha256').update(`cognate-test:${login}`).digest('hex').slice(0, 32);
}

const extraClaims = new Map(); // login -> object
const logins = new Map(); // sub (the accountId) -> login

function account(login) {
  const admin = login.startsWith('admin');
  const sub = subjectOf(login);
  const claims = {
    sub,
    email: `${login}@example.com`,
    email_verified: true,
    name: `Test User ${login}`,
    preferred_username: login,
    groups: admin ? ['admins', 'users'] : ['users'],
    isAdmin: admin ? 'true' : 'false',
    department: 'engineering',
    ...(extraClaims.get(login) ?? {}),
  };
  return { accountId: sub, claims: async () => claims };
}

const standardClaims = [
  'sub', 'email', 'email_verified', 'name', 'preferred_username', 'groups', 'isAdmin', 'department',
];
const releasedClaims = [...new Set([...standardClaims, ...args.claims])];

// The logout confirmation, confirmed at once: the form (with its xsrf
// token) plus `logout=yes`, submitted by the page itself.
async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing out</title></head>
<body>${form}
<noscript><button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></noscript>
<script>
  const form = document.getElementById('op.logoutForm');
  const yes = document.createElement('input');
  yes.type = 'hidden';
  yes.name = 'logout';
  yes.value = 'yes';
  form.appendChild(yes);
  form.submit();
</script></body></html>`;
}

// After a logout without a post_logout_redirect_uri.
async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1>Signed out</h1></body></html>`;
}

const provider = new Provider(args.issuer, {
  clients: [{
    client_id: args.clientId,
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/cb'],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'RS256',
  }, ...args.confidentialClients],
  jwks: { keys: [jwk] },
  findAccount: async (_ctx, sub) => (logins.has(sub) ? account(logins.get(sub)) : undefined),
  // Every claim in the id token (not only at the userinfo endpoint).
  claims: { openid: releasedClaims },
  conformIdTokenClaims: false,
  extraParams: ['x_claims'],
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  // Required of the public client (no secret), optional for the others.
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  interactions: { url: (_ctx, interaction) => `${mountPath}/interaction/${interaction.uid}` },
  ttl: {
    IdToken: args.ttl,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});
provider.proxy = false;
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// Login + consent without a page: whatever the prompt, sign in the
// login_hint account and grant every requested scope and claim.
async function completeInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const login = String(params.login_hint || 'alice');
  if (params.x_claims) {
    const extra = JSON.parse(String(params.x_claims));
    const undeclared = Object.keys(extra).filter((name) => !releasedClaims.includes(name));
    if (undeclared.length) {
      throw new Error(`claims not declared with --claims: ${undeclared.join(', ')}`);
    }
    extraClaims.set(login, extra);
  }
  const sub = subjectOf(login);
  logins.set(sub, login);
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: sub, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || 'openid'));
  grant.addOIDCClaims(releasedClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: sub },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  const original = req.url;
  if (mountPath) {
    if (original !== mountPath && !original.startsWith(`${mountPath}/`) && !original.startsWith(`${mountPath}?`)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    req.originalUrl = original;
    req.url = original.slice(mountPath.length) || '/';
  }
  if (req.method === 'GET' && /^\/interaction\/[^/?]+$/.test(req.url.split('?')[0])) {
    try {
      await completeInteraction(req, res);
    } catch (err) {
      console.error('interaction failed', err);
      res.statusCode = 500;
      res.end(String(err));
    }
    return;
  }
  handler(req, res);
});

server.listen(args.port, '127.0.0.1', () => {
  process.stdout.write(`READY ${args.issuer}\n`);
});

const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The watchdog: the parent holds our stdin; when it goes, so do we.
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
