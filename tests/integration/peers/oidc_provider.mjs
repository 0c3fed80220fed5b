#!/usr/bin/env node
// A real OpenID provider for the integration tests: the npm package `oidc-provider` (pinned 9.x in
// tests/package.json), configured like the providers oauthmail talks to, on 127.0.0.1 only.
// Everything OAuth2 here (token endpoint, grants, rotation, revocation, introspection, device flow,
// consent) is oidc-provider's own code; this file only configures it and adds a few /test/ routes
// that a test uses to watch it and to play the user in a browser.
// Must not: listen on anything but 127.0.0.1; print a token, a secret or a code (log lines carry
// grant types, client ids and error codes only).
// RFCs: 6749 (OAuth2), 6750, 7009 (revocation), 7523 (JWT client assertions), 7636 (PKCE),
// 7662 (introspection), 8252 (loopback redirect), 8414 / OpenID Discovery, 8628 (device flow),
// 8707 (resource indicators), 9068 (JWT access tokens).
//
// HOW A TEST USES IT
//   node tests/integration/peers/oidc_provider.mjs --port P --ready-file F [options]
//   (run from anywhere; node_modules is found in tests/ — `bash scripts/install-deps` runs `npm ci`)
//   Options:
//     --port P            listen on 127.0.0.1:P (required). Exit code 3 if P is taken: pick another.
//     --ready-file F      written (atomically) once listening: one line, the issuer URL. Required.
//     --cert C --key K    serve https with this certificate (the test PKI's 127.0.0.1 cert); then also
//     --ca A              the CA that signed C: the /test/ drivers below use it to call the provider.
//                         Without --cert: plain http (fine on loopback).
//     --access-ttl S      access-token lifetime in seconds (default 300) for renewal tests.
//     --refresh-ttl S     refresh-token lifetime (default 86400).  --device-ttl S  device code (600).
//     --client-secret X   the secret of the two secret clients (default
//                         oauthmail-test-client-secret-7c1f).
//     --client-jwks FILE  public JWKS ({"keys":[...]}) of the private_key_jwt client; without it
//                         that client is not registered.
//     --state-dir D       keep the signing keys and every grant/token in D (JSON files), so that a
//                         provider stopped and started again on the same port with the same D still
//                         honours the tokens it issued (a provider that "goes away and comes back").
//                         Without it: signing keys are fresh and state lives in memory.
//   Clients (fixed ids):
//     oauthmail-cc-post   client_credentials, client_secret_post, secret --client-secret
//     oauthmail-cc-basic  client_credentials, client_secret_basic, same secret
//     oauthmail-cc-jwt    client_credentials, private_key_jwt (RS256/PS256/ES256; aud = issuer or
//                         token endpoint), keys from --client-jwks
//     oauthmail-public    public (token_endpoint_auth_method none): device_code, authorization_code
//                         with PKCE S256 (required), refresh_token with ROTATION (a used refresh token
//                         is refused afterwards: invalid_grant); redirect http://127.0.0.1/callback
//                         (any port, RFC 8252 §7.3); native application.
//   Resources (RFC 8707; the default when none is requested is urn:oauthmail:smtp): access tokens are
//   JWTs (RFC 9068, RS256, keys at /jwks) with aud = the resource:
//     urn:oauthmail:smtp   scopes SMTP.Send SMTP.SendAsApp   (Exchange-like)
//     urn:oauthmail:graph  scope Mail.Send                   (a wrong audience for SMTP)
//   e.g. client_credentials: grant_type=client_credentials&scope=SMTP.SendAsApp
//        device: POST /device/auth client_id=oauthmail-public&scope=SMTP.Send offline_access
//   Refresh tokens are issued to oauthmail-public for every code/device grant (whether or not
//   offline_access survived oidc-provider's prompt=consent rule). oidc-provider's own rules hold:
//   replaying a used device code or authorization code, or reusing a rotated refresh token, revokes
//   the whole grant (every token from it answers invalid_grant afterwards); JWT access tokens
//   cannot be introspected (refresh tokens can); revocation (RFC 7009) answers 200 for any token.
//   The device flow has no slow_down: polling faster than `interval` is not punished.
//   Endpoints: discovery at ISSUER/.well-known/openid-configuration (token /token, device
//   /device/auth, revocation /token/revocation, introspection /token/introspection, jwks /jwks).
//   Test routes (not OAuth; answer JSON):
//     GET  /test/counters        {"token_requests":N,"issued":{"<grant_type>":N},"errors":{"<error>":N},
//                                 "device_authorizations":N,"revocations":N,"introspections":N}
//     POST /test/device/approve  form user_code=XXXX-XXXX[&account=alice]: plays the user: opens
//                                /device?user_code=..., confirms, signs in on the development
//                                login page, consents. Then the device's next poll gets its tokens.
//     POST /test/device/deny     form user_code=...: the user presses "Abort" (access_denied).
//     POST /test/authorize       form url=<authorization request URL>[&account=alice]: follows it
//                                through login and consent; answers {"redirect":"http://127.0.0.1:
//                                PORT/callback?code=...&state=..."} (the code goes to the test only).
//   Log (stdout), one line per event, no values: "TOKEN_ISSUED grant=<grant_type> client=<id>",
//   "TOKEN_ERROR grant=<grant_type> error=<code>", "REVOKED", "DEVICE_APPROVED", "DEVICE_DENIED",
//   "LISTENING <issuer>". oidc-provider's own WARNING/NOTICE lines about its defaults also appear.
//   Stop it by PID (SIGTERM); start it again on the same port with the same --state-dir to bring
//   it back. From C++: the `oidc_peer` class in tests/integration/oidc_provider_test.cpp (free port,
//   retries, ready file, https with the test PKI, stop()/start()) shows the whole pattern.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string' },
    'ready-file': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    'access-ttl': { type: 'string', default: '300' },
    'refresh-ttl': { type: 'string', default: '86400' },
    'device-ttl': { type: 'string', default: '600' },
    'client-secret': { type: 'string', default: 'oauthmail-test-client-secret-7c1f' },
    'client-jwks': { type: 'string' },
    'state-dir': { type: 'string' },
  },
  strict: true,
});

function die(code, message) {
  process.stderr.write(`oidc_provider: ${message}\n`);
  process.exit(code);
}

const port = Number(opt.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) die(2, '--port is required (1-65535)');
if (!opt['ready-file']) die(2, '--ready-file is required');
if (Boolean(opt.cert) !== Boolean(opt.key)) die(2, '--cert and --key go together');
if (opt.cert && !opt.ca) die(2, '--cert needs --ca (the /test/ drivers call the provider over https)');
const seconds = (name) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v <= 0) die(2, `--${name} must be a positive number of seconds`);
  return v;
};
const accessTtl = seconds('access-ttl');
const refreshTtl = seconds('refresh-ttl');
const deviceTtl = seconds('device-ttl');

const tls = Boolean(opt.cert);
const HOST = '127.0.0.1';
const issuer = `${tls ? 'https' : 'http'}://${HOST}:${port}`;

const log = (line) => process.stdout.write(`${line}\n`);

// ---- state: signing keys and the adapter (in memory, or JSON files under --state-dir) ----------

function writeAtomically(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function signingKeys() {
  const file = opt['state-dir'] ? path.join(opt['state-dir'], 'signing-keys.json') : undefined;
  if (file && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  if (file) {
    fs.mkdirSync(opt['state-dir'], { recursive: true });
    writeAtomically(file, JSON.stringify(jwks));
  }
  return jwks;
}

// One table for every model: "Model:id" -> { payload, expiresAt (ms, or null) }; indexes for user
// codes, session uids and grant membership. Saved after every change when --state-dir is given.
const stateFile = opt['state-dir'] ? path.join(opt['state-dir'], 'adapter.json') : undefined;
const table = new Map(stateFile && fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, 'utf8')) : []);
const persist = () => { if (stateFile) writeAtomically(stateFile, JSON.stringify([...table])); };
const live = (key) => {
  const e = table.get(key);
  if (!e) return undefined;
  if (e.expiresAt !== null && e.expiresAt <= Date.now()) {
    table.delete(key);
    return undefined;
  }
  return e;
};

class TestAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
    table.set(this.key(id), { payload, expiresAt });
    if (payload.userCode) table.set(`userCode:${payload.userCode}`, { payload: id, expiresAt });
    if (this.model === 'Session' && payload.uid) table.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt });
    if (payload.grantId) {
      const g = live(`grant:${payload.grantId}`)?.payload ?? [];
      if (!g.includes(this.key(id))) g.push(this.key(id));
      table.set(`grant:${payload.grantId}`, { payload: g, expiresAt: null });
    }
    persist();
  }

  async find(id) { return live(this.key(id))?.payload; }

  async findByUserCode(userCode) {
    const id = live(`userCode:${userCode}`)?.payload;
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = live(`sessionUid:${uid}`)?.payload;
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const e = live(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    persist();
  }

  async destroy(id) {
    table.delete(this.key(id));
    persist();
  }

  async revokeByGrantId(grantId) {
    for (const key of live(`grant:${grantId}`)?.payload ?? []) table.delete(key);
    table.delete(`grant:${grantId}`);
    persist();
  }
}

// ---- the provider -----------------------------------------------------------------------------

const RESOURCES = {
  'urn:oauthmail:smtp': 'SMTP.Send SMTP.SendAsApp',
  'urn:oauthmail:graph': 'Mail.Send',
};

const clients = [
  {
    client_id: 'oauthmail-cc-post',
    client_secret: opt['client-secret'],
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'oauthmail-cc-basic',
    client_secret: opt['client-secret'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'oauthmail-public',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback', 'http://127.0.0.1/'],
  },
];
if (opt['client-jwks']) {
  clients.push({
    client_id: 'oauthmail-cc-jwt',
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    jwks: JSON.parse(fs.readFileSync(opt['client-jwks'], 'utf8')),
  });
}

const provider = new Provider(issuer, {
  adapter: TestAdapter,
  clients,
  jwks: signingKeys(),
  cookies: { keys: ['oauthmail-test-cookie-key'] },
  findAccount: async (_ctx, accountId) => ({
    accountId,
    claims: async () => ({ sub: accountId, email: `${accountId}@example.test` }),
  }),
  scopes: ['openid', 'offline_access', 'email'],
  claims: { openid: ['sub'], email: ['email'] },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTtl,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTtl,
    RefreshToken: refreshTtl,
    DeviceCode: deviceTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400 * 30,
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:oauthmail:smtp',
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (!(indicator in RESOURCES)) throw new errors.InvalidTarget();
        return {
          scope: RESOURCES[indicator],
          audience: indicator,
          accessTokenTTL: accessTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // The default error page prints the error description; keep it, it holds no secret.
});
provider.proxy = false;

// ---- counters and log lines -------------------------------------------------------------------

const counters = {
  token_requests: 0,
  issued: {},
  errors: {},
  device_authorizations: 0,
  revocations: 0,
  introspections: 0,
};
const bump = (map, k) => { map[k] = (map[k] ?? 0) + 1; };

provider.on('grant.success', (ctx) => {
  const grant = ctx.oidc.params?.grant_type ?? '?';
  bump(counters.issued, grant);
  log(`TOKEN_ISSUED grant=${grant} client=${ctx.oidc.client?.clientId ?? '?'}`);
});
provider.on('grant.error', (ctx, err) => {
  const grant = ctx.oidc?.params?.grant_type ?? '?';
  const code = err?.error ?? 'server_error';
  bump(counters.errors, code);
  log(`TOKEN_ERROR grant=${grant} error=${code}`);
});
provider.on('device_authorization.success', () => { counters.device_authorizations += 1; });
provider.on('server_error', (_ctx, err) => log(`SERVER_ERROR ${err?.message ?? err}`));

// ---- the user in a browser: a cookie-keeping HTTP client that submits the provider's forms ------

const caPem = opt.ca ? fs.readFileSync(opt.ca) : undefined;

class Browser {
  constructor() { this.cookies = new Map(); }  // name@path -> { name, value, path }

  cookieHeader(pathname) {
    return [...this.cookies.values()]
      .filter((c) => pathname.startsWith(c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  keep(setCookies) {
    for (const line of setCookies ?? []) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cpath = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'path') cpath = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const id = `${name}@${cpath}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path: cpath });
    }
  }

  request(method, url, form) {
    const u = new URL(url, issuer);
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const headers = { cookie: this.cookieHeader(u.pathname), accept: 'text/html' };
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(u, { method, headers, ca: caPem }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          this.keep(res.headers['set-cookie']);
          resolve({ status: res.statusCode, location: res.headers.location, body: Buffer.concat(chunks).toString() });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  // Follows redirects on the provider's origin; stops at a redirect elsewhere (the client's
  // redirect_uri) or at a page.
  async go(method, url, form) {
    let res = await this.request(method, url, form);
    for (let hops = 0; res.status >= 300 && res.status < 400 && res.location; hops += 1) {
      const next = new URL(res.location, issuer);
      if (next.origin !== new URL(issuer).origin || hops > 20) return { ...res, location: next.href };
      res = await this.request('GET', next.href);
    }
    return res;
  }
}

const unescapeHtml = (s) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'")
  .replace(/&lt;/g, '<').replace(/&gt;/g, '>');

// The first <form> of a page: its action and the fields it would send.
function firstForm(html) {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const action = unescapeHtml(/action="([^"]*)"/i.exec(m[1])?.[1] ?? '');
  const fields = {};
  for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = /name="([^"]*)"/i.exec(input[1])?.[1];
    const value = /value="([^"]*)"/i.exec(input[1])?.[1];
    if (name) fields[name] = unescapeHtml(value ?? '');
  }
  return { action, fields };
}

// Submits the login and consent pages until the flow leaves them. Returns the last response.
async function signInAndConsent(browser, res, account) {
  for (let step = 0; step < 6 && res.status === 200; step += 1) {
    const form = firstForm(res.body);
    if (!form || !form.fields.prompt) return res;
    if (form.fields.prompt === 'login') Object.assign(form.fields, { login: account, password: 'any' });
    res = await browser.go('POST', form.action, form.fields);
  }
  return res;
}

async function approveDevice(userCode, account, deny) {
  const browser = new Browser();
  // The code page (user_code filled in, submitted by script in a browser), then the confirm page.
  let res = await browser.go('GET', `/device?user_code=${encodeURIComponent(userCode)}`);
  let form = firstForm(res.body);
  for (let step = 0; step < 3 && res.status === 200 && form && form.fields.confirm !== 'yes'; step += 1) {
    if (!form.fields.xsrf) break;
    res = await browser.go('POST', form.action, form.fields);
    form = firstForm(res.body);
  }
  if (res.status !== 200 || !form || form.fields.confirm !== 'yes') {
    return { ok: false, why: `the device pages did not ask to confirm the code (HTTP ${res.status})` };
  }
  if (deny) form.fields.abort = 'yes';
  res = await browser.go('POST', form.action, form.fields);
  if (!deny) res = await signInAndConsent(browser, res, account);
  const done = res.status === 200
    && (deny ? /request was interrupted/.test(res.body) : /Sign-in Success/.test(res.body));
  if (done && !deny) log('DEVICE_APPROVED');
  if (done && deny) log('DEVICE_DENIED');
  return done ? { ok: true } : { ok: false, why: `the flow did not finish (HTTP ${res.status})` };
}

async function authorize(url, account) {
  const target = new URL(url, issuer);
  if (target.origin !== new URL(issuer).origin) return { ok: false, why: 'url is not on this provider' };
  const browser = new Browser();
  let res = await browser.go('GET', target.href);
  res = await signInAndConsent(browser, res, account);
  if (res.location && new URL(res.location).origin !== new URL(issuer).origin) return { ok: true, redirect: res.location };
  return { ok: false, why: `the flow did not redirect to the client (HTTP ${res.status})` };
}

// ---- the server -------------------------------------------------------------------------------

const callback = provider.callback();

function readForm(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) reject(new Error('form too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()))));
    req.on('error', reject);
  });
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function testRoute(req, res, pathname) {
  if (req.method === 'GET' && pathname === '/test/counters') return sendJson(res, 200, counters);
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
  const form = await readForm(req);
  const account = form.account || 'alice';
  let result;
  if (pathname === '/test/device/approve' || pathname === '/test/device/deny') {
    if (!form.user_code) return sendJson(res, 400, { error: 'user_code is required' });
    result = await approveDevice(form.user_code, account, pathname.endsWith('deny'));
  } else if (pathname === '/test/authorize') {
    if (!form.url) return sendJson(res, 400, { error: 'url is required' });
    result = await authorize(form.url, account);
  } else {
    return sendJson(res, 404, { error: 'no such test route' });
  }
  return result.ok ? sendJson(res, 200, { approved: true, ...result, ok: undefined })
    : sendJson(res, 409, { error: result.why });
}

function handle(req, res) {
  const { pathname } = new URL(req.url, issuer);
  if (pathname.startsWith('/test/')) {
    testRoute(req, res, pathname).catch((err) => sendJson(res, 500, { error: String(err?.message ?? err) }));
    return;
  }
  if (req.method === 'POST' && pathname === '/token') counters.token_requests += 1;
  if (req.method === 'POST' && pathname === '/token/revocation') {
    res.on('finish', () => {
      if (res.statusCode !== 200) return;
      counters.revocations += 1;
      log('REVOKED');
    });
  }
  if (req.method === 'POST' && pathname === '/token/introspection') {
    res.on('finish', () => { if (res.statusCode === 200) counters.introspections += 1; });
  }
  callback(req, res);
}

const server = tls
  ? https.createServer({ cert: fs.readFileSync(opt.cert), key: fs.readFileSync(opt.key), minVersion: 'TLSv1.2' }, handle)
  : http.createServer(handle);

server.on('error', (err) => {
  if (err.code === 'EADDRINUSE') die(3, `127.0.0.1:${port} is in use`);
  die(1, String(err?.message ?? err));
});
server.listen(port, HOST, () => {
  writeAtomically(opt['ready-file'], `${issuer}\n`);
  log(`LISTENING ${issuer}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
