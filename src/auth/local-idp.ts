// A real OpenID Connect provider (oidc-provider) for development, the demo and tests: the same
// authorization code flow, PKCE, ID tokens and RP-initiated logout as HelseID, with a login page
// for demo accounts. It issues identity only (subject, name, and the pid claim for patients);
// what each person may do is in the platform's own user store. Never for production: its state
// (the provider's own sessions) lives in memory, and its accounts are whatever it was given.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, exportJWK } from 'jose';
import Provider, { type Adapter, type AdapterPayload, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { DEFAULT_PID_CLAIM } from '../config.ts';

export interface LocalAccount {
  subject: string;
  username: string;
  password: string;
  name: string;
  /** A national identity number: given as the pid claim (the person is then also a patient). */
  pid?: string;
  /** A line for the login page's list of demo accounts. */
  description?: string;
}

/**
 * A client of the provider. HelseID's profile: `jwks` (the client's public keys) means
 * private_key_jwt client authentication (RFC 7523), `par` requires pushed authorization requests
 * (RFC 9126), `dpop` DPoP-bound access tokens (RFC 9449). A client with only a secret is the
 * development profile (client_secret_post).
 */
export interface LocalClient {
  clientId: string;
  clientSecret?: string;
  jwks?: { keys: object[] };
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  par?: boolean;
  dpop?: boolean;
  /** A sending system: client credentials for the platform's API (`resourceServer`). */
  clientCredentials?: boolean;
}

/** The API whose access tokens the provider issues to sending systems (client credentials). */
/** `scope`: the API's scopes, space-separated. */
export interface ResourceServer {
  audience: string;
  scope: string;
}

export interface LocalProvider {
  issuer: string;
  /** Adds or replaces accounts (the demo patient is known only once the demo data exists). */
  addAccounts(accounts: LocalAccount[]): void;
  close(): Promise<void>;
}

export const PID_SCOPE = 'helseid://scopes/identity/pid';
/** The resource indicator (RFC 8707) of the platform's API at the local provider. */
export const RESOURCE_INDICATOR = 'urn:kvalreg:api';

/** A client key pair for private_key_jwt (ES256, as HelseID accepts): the public JWK for the provider, the private one for the client. */
export async function clientKeyPair(): Promise<{ publicJwk: Record<string, unknown>; privateJwk: Record<string, unknown> }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = crypto.randomBytes(8).toString('hex');
  return {
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
  };
}

/**
 * Starts the provider on `port` (0: any free port) at `host`. The issuer is
 * http://<publicHost>:<port>; `clients` are told the actual issuer, since with port 0 it is
 * known only once listening.
 */
export async function startLocalProvider(o: {
  port: number;
  host: string;
  publicHost?: string;
  accounts: LocalAccount[];
  clients: (issuer: string) => LocalClient[];
  loginRateLimitPerMinute?: number;
  /** When given, sending systems get JWT access tokens for it (audience, scope) by client credentials, as from HelseID. */
  resourceServer?: ResourceServer;
  /** The claim with the national identity number (HelseID's pid claim; ID-porten calls it "pid"). */
  pidClaim?: string;
}): Promise<LocalProvider> {
  const accounts = new Map<string, LocalAccount>();
  const addAccounts = (list: LocalAccount[]) => {
    for (const a of list) accounts.set(a.subject, a);
  };
  addAccounts(o.accounts);

  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end('starting');
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://${o.publicHost ?? 'localhost'}:${port}`;

  const pidClaim = o.pidClaim ?? DEFAULT_PID_CLAIM;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: crypto.randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
  const configuration: Configuration = {
    adapter: InMemoryState,
    clients: o.clients(issuer).map((c) => ({
      client_id: c.clientId,
      ...(c.jwks
        ? { jwks: c.jwks, token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256' }
        : { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_post' }),
      ...(c.clientCredentials
        ? { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: o.resourceServer?.scope }
        : {
            grant_types: ['authorization_code'],
            response_types: ['code'],
            redirect_uris: c.redirectUris ?? [],
            post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
          }),
      ...(c.par ? { require_pushed_authorization_requests: true } : {}),
      ...(c.dpop ? { dpop_bound_access_tokens: true } : {}),
    })),
    jwks: { keys: [jwk as any] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'profile', PID_SCOPE, ...(o.resourceServer ? o.resourceServer.scope.split(' ') : [])],
    // HelseID gives the pid claim for its pid scope; ID-porten (a provider started with its own
    // `pidClaim`, "pid") gives it with openid, to every login.
    claims: { openid: ['sub', ...(o.pidClaim ? [pidClaim] : [])], profile: ['name'], [PID_SCOPE]: [pidClaim] },
    // HelseID puts the identity claims in the ID token; so does this provider.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      // HelseID's profile: pushed authorization requests and DPoP (both on by default in oidc-provider 9,
      // required per client above); client credentials with JWT access tokens for the platform's API.
      pushedAuthorizationRequests: { enabled: true },
      dPoP: { enabled: true },
      ...(o.resourceServer
        ? {
            clientCredentials: { enabled: true },
            resourceIndicators: {
              enabled: true,
              defaultResource: async () => RESOURCE_INDICATOR,
              useGrantedResource: async () => true,
              getResourceServerInfo: async () => ({
                scope: o.resourceServer!.scope,
                audience: o.resourceServer!.audience,
                accessTokenFormat: 'jwt' as const,
                jwt: { sign: { alg: 'RS256' as const } },
              }),
            },
          }
        : {}),
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600 },
    // HelseID's access tokens carry `scope` as a JSON array; so do this provider's, so that the
    // platform is tested against that form (RFC 9068 has a string: the platform takes both).
    formats: {
      customizers: {
        jwt: async (_ctx, _token, jwt) => {
          if (typeof jwt.payload.scope === 'string') jwt.payload.scope = jwt.payload.scope.split(' ') as never;
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Innlogging', `<h1>Noe gikk galt</h1><p>${esc(String(out.error_description ?? out.error))}</p>`);
    },
    findAccount: async (_ctx, sub) => {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return { accountId: sub, claims: async () => ({ sub, name: a.name, ...(a.pid ? { [pidClaim]: a.pid } : {}) }) };
    },
    // The platform is the provider's own first-party client: no consent screen.
    loadExistingGrant: async (ctx) => {
      const clientId = ctx.oidc.client!.clientId;
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid profile ' + PID_SCOPE);
      await grant.save();
      ctx.oidc.session!.grantIdFor(clientId, grant.jti);
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);

  // Login attempts per address and minute (the demo password is no secret, but the page is a login page).
  const attempts = new Map<string, { count: number; since: number }>();
  const limited = (ip: string) => {
    const now = Date.now();
    const a = attempts.get(ip);
    if (!a || now - a.since > 60_000) {
      attempts.set(ip, { count: 1, since: now });
      return false;
    }
    a.count += 1;
    return a.count > (o.loginRateLimitPerMinute || Infinity);
  };

  provider.use(async (ctx, next) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/abort)?$/.exec(ctx.path);
    if (!m) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res).catch(() => null);
    if (!details) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Innlogging', '<h1>Innloggingen er utløpt</h1><p>Gå tilbake til registeret og logg inn på nytt.</p>');
      return;
    }
    if (ctx.method === 'GET' && !m[2]) {
      ctx.type = 'html';
      ctx.body = loginPage(m[1], [...accounts.values()]);
      return;
    }
    if (ctx.method !== 'POST' || !m[2]) {
      ctx.status = 405;
      return;
    }
    if (m[2] === '/abort') {
      ctx.status = 303;
      ctx.redirect(
        await provider.interactionResult(
          ctx.req,
          ctx.res,
          { error: 'access_denied', error_description: 'The user cancelled the login.' },
          { mergeWithLastSubmission: false },
        ),
      );
      return;
    }
    if (limited(ctx.ip)) {
      ctx.status = 429;
      ctx.type = 'html';
      ctx.body = page('Innlogging', '<h1>For mange forsøk</h1><p>Vent ett minutt og prøv igjen.</p>');
      return;
    }
    const form = new URLSearchParams(await readBody(ctx.req));
    const account = [...accounts.values()].find((a) => a.username === form.get('username'));
    const ok = account && crypto.timingSafeEqual(sha(account.password), sha(form.get('password') ?? ''));
    if (!ok) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage(m[1], [...accounts.values()], 'Feil brukernavn eller passord. / Wrong username or password.');
      return;
    }
    ctx.status = 303;
    ctx.redirect(
      await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: account.subject } }, { mergeWithLastSubmission: false }),
    );
  });

  handler = provider.callback();
  return {
    issuer,
    addAccounts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const sha = (s: string) => crypto.createHash('sha256').update(s).digest();

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > 10_000) {
        req.destroy();
        reject(new Error('form too large'));
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="nb"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} – lokal innlogging</title><style>
body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1e2b3c;line-height:1.5}
label{display:block;margin-top:1rem;font-weight:600}input{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;border:1px solid #68707c;border-radius:4px}
button{font:inherit;margin-top:1rem;padding:.6rem 1.2rem;border-radius:4px;border:2px solid #0062ba;background:#0062ba;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0062ba}:focus-visible{outline:3px solid #f2a900;outline-offset:2px}
.error{border-left:4px solid #c01b1b;background:#fbe9e9;padding:.5rem 1rem}table{border-collapse:collapse;margin-top:1rem}td,th{text-align:left;padding:.2rem .8rem .2rem 0}
.note{background:#eef4fb;padding:.5rem 1rem;border-radius:4px}</style></head><body><main>${body}</main></body></html>`;
}

function loginPage(uid: string, accounts: LocalAccount[], error?: string): string {
  const rows = accounts.map((a) => `<tr><td><code>${esc(a.username)}</code></td><td>${esc(a.description ?? a.name)}</td></tr>`).join('');
  return page(
    'Logg inn',
    `<h1>Logg inn</h1>
<p class="note">Lokal innloggingstjeneste for utvikling og demo (i drift: HelseID). / Local login service for development and the demo (in production: HelseID).</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="username">Brukernavn / Username</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Passord / Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Logg inn</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" class="secondary">Avbryt / Cancel</button></form>
<h2>Demobrukere / Demo users</h2><p>Passord for alle: <code>demo</code></p><table><tbody>${rows}</tbody></table>`,
  );
}

async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.body = page(
    'Logg ut',
    `<h1>Logg ut fra innloggingstjenesten?</h1><p>Du er logget ut av registeret. Vil du også logge ut her?</p>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Ja, logg ut</button>
<button type="submit" form="op.logoutForm" class="secondary">Nei</button>`,
  );
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.body = page('Logget ut', '<h1>Du er logget ut</h1>');
}

/** The provider's own state (its sessions, codes, grants), in memory: a restart means logging in again. */
class InMemoryState implements Adapter {
  private static readonly store = new Map<string, { payload: AdapterPayload; until: number }>();
  constructor(private readonly model: string) {}
  private key(id: string) {
    return `${this.model}:${id}`;
  }
  private get(key: string) {
    const hit = InMemoryState.store.get(key);
    if (hit && hit.until < Date.now()) {
      InMemoryState.store.delete(key);
      return undefined;
    }
    return hit?.payload;
  }
  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const until = Date.now() + (expiresIn ? expiresIn * 1000 : 24 * 3600_000);
    InMemoryState.store.set(this.key(id), { payload, until });
    if (payload.uid) InMemoryState.store.set(`uid:${payload.uid}`, { payload: { id } as any, until });
    if (payload.grantId) {
      const g = (this.get(`grant:${payload.grantId}`) as { keys?: string[] } | undefined)?.keys ?? [];
      InMemoryState.store.set(`grant:${payload.grantId}`, { payload: { keys: [...g, this.key(id)] } as any, until });
    }
    if (InMemoryState.store.size > 50_000)
      for (const [k, v] of InMemoryState.store) if (v.until < Date.now()) InMemoryState.store.delete(k);
  }
  async find(id: string) {
    return this.get(this.key(id));
  }
  async findByUid(uid: string) {
    const ref = this.get(`uid:${uid}`) as { id?: string } | undefined;
    return ref?.id ? this.find(ref.id) : undefined;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async consume(id: string) {
    const p = this.get(this.key(id));
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string) {
    InMemoryState.store.delete(this.key(id));
  }
  async revokeByGrantId(grantId: string) {
    const ref = this.get(`grant:${grantId}`) as { keys?: string[] } | undefined;
    for (const k of ref?.keys ?? []) InMemoryState.store.delete(k);
    InMemoryState.store.delete(`grant:${grantId}`);
  }
}
