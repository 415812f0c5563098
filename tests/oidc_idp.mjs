// A real OpenID Provider for the tests: `oidc-provider` (npm, OpenID Certified) on a loopback port.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma separated), JWKS_FILE (a private
// JWK set written by the test, so the test can also sign tokens with the provider's own key).
// One confidential client, PKCE (S256) required, interactions approved by the test: the interaction
// page reads `account` (a subject set up through PUT /__test/accounts/<sub>) and `deny` from its
// query string, so no HTML form is involved.
// Test hooks (loopback only, this process only):
//   PUT  /__test/accounts/<sub>  {email, email_verified, name}   a test user
//   POST /__test/next-id-token   {id_token}                       replaces the next token response's ID token
//   POST /__test/extra-keys      {keys: [...]}                    public keys appended to /jwks (rotation)
//   POST /__test/default-account {sub}                            who a browser (no `account` query) is
// Prints "ready <issuer>" once it listens.

import { readFileSync } from "node:fs";
import http from "node:http";

import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(process.env.JWKS_FILE, "utf8"));
const accounts = new Map();
let nextIdToken = null;
let extraKeys = [];
let defaultAccount = null; // who a browser signs in as when the interaction URL names nobody

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: process.env.REDIRECT_URIS.split(","),
      post_logout_redirect_uris: process.env.REDIRECT_URIS.split(",").map((uri) => new URL(uri).origin + "/"),
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks,
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  // Scope claims in the ID token too (Keycloak, Authentik and Google do that by default).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ["test-only-cookie-key-0123456789"] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, sub) => {
    const account = accounts.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: () => ({ sub, ...account }) };
  },
  renderError: (ctx, out) => {
    ctx.type = "json";
    ctx.body = out;
  },
});

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === "/token" && nextIdToken && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: nextIdToken };
    nextIdToken = null;
  }
  if (ctx.path === "/jwks" && extraKeys.length && ctx.body && ctx.body.keys) {
    ctx.body = { keys: [...ctx.body.keys, ...extraKeys] };
  }
});

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  if (url.searchParams.get("deny") === "1") {
    const result = { error: "access_denied", error_description: "The user said no" };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  const { prompt, params, session } = details;
  if (prompt.name === "login") {
    const sub = url.searchParams.get("account") || defaultAccount;
    if (!accounts.has(sub)) {
      res.writeHead(400, { "content-type": "text/plain" });
      return res.end(`unknown test account ${sub}`);
    }
    return provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
  }
  // consent: grant what the client asked for
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith("/interaction/")) return await interaction(req, res, url);
    if (req.method === "PUT" && url.pathname.startsWith("/__test/accounts/")) {
      accounts.set(decodeURIComponent(url.pathname.slice("/__test/accounts/".length)), await readJson(req));
      res.writeHead(204);
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/__test/next-id-token") {
      nextIdToken = (await readJson(req)).id_token;
      res.writeHead(204);
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/__test/default-account") {
      defaultAccount = (await readJson(req)).sub;
      res.writeHead(204);
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/__test/extra-keys") {
      extraKeys = (await readJson(req)).keys;
      res.writeHead(204);
      return res.end();
    }
    return callback(req, res);
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(error && error.stack));
  }
});

server.listen(port, "127.0.0.1", () => console.log(`ready ${issuer}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
