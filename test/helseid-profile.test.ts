// HelseID's security profile, exercised through the local provider (oidc-provider, a certified
// OpenID provider implementation) and openid-client on the other side, as a hospital system would:
// - people log in with private_key_jwt client authentication, a pushed authorization request and
//   DPoP-bound tokens; a platform that lacks any of them is refused by the provider;
// - a sending system gets a DPoP-bound access token by client credentials (private_key_jwt) and
//   posts FHIR with a fresh proof per request; the token replayed without its proof, with a used
//   proof, a proof for another URL or by another key, is refused; a token that is not DPoP-bound
//   is refused when DPoP is required; the token's `scope` is a JSON array, as HelseID's are.
// Sources: RFC 7523 (private_key_jwt), RFC 9126 (PAR), RFC 9449 (DPoP), RFC 9068 (JWT access tokens).
import crypto from 'node:crypto';
import { decodeJwt, exportJWK, importJWK, SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, startLocalProvider, type LocalProvider } from '../src/auth/local-idp.ts';
import { setUser } from '../src/auth/sessions.ts';
import { registerClient } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { account, freePort, login, TEST_SITE } from './helpers/login.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let idp: LocalProvider;
let t: TestPlatform;
let publicUrl: string;
const keys: Record<string, Awaited<ReturnType<typeof clientKeyPair>>> = {};

beforeAll(async () => {
  for (const name of ['platform', 'sender', 'bearerSender', 'stranger']) keys[name] = await clientKeyPair();
  idp = await startLocalProvider({
    port: 0,
    host: '127.0.0.1',
    accounts: [account('registrar')],
    resourceServer: { audience: 'kvalreg', scope: 'kvalreg/capture kvalreg/read' },
    clients: () => [
      // The platform, for people's login: HelseID's profile in full.
      {
        clientId: 'kvalreg-web',
        jwks: { keys: [keys.platform.publicJwk] },
        par: true,
        dpop: true,
        redirectUris: [`${TEST_SITE}/auth/callback`],
        postLogoutRedirectUris: [`${TEST_SITE}/`],
      },
      // A hospital's sending system with DPoP, and one without.
      { clientId: 'sus-dips', jwks: { keys: [keys.sender.publicJwk] }, dpop: true, clientCredentials: true },
      { clientId: 'sus-bearer', jwks: { keys: [keys.bearerSender.publicJwk] }, clientCredentials: true },
    ],
  });
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  t = await testPlatform({
    KVALREG_PUBLIC_URL: publicUrl,
    KVALREG_OIDC_ISSUER: idp.issuer,
    KVALREG_OIDC_CLIENT_ID: 'kvalreg-web',
    KVALREG_OIDC_CLIENT_KEY: JSON.stringify(keys.platform.privateJwk),
    KVALREG_OIDC_PAR: '1',
    KVALREG_OIDC_DPOP: '1',
    KVALREG_OIDC_REDIRECT_URL: `${TEST_SITE}/auth/callback`,
    KVALREG_OIDC_ALLOW_HTTP: '1',
    KVALREG_OAUTH_ISSUER: idp.issuer,
    KVALREG_OAUTH_JWKS_URL: `${idp.issuer}/jwks`,
    KVALREG_OAUTH_AUDIENCE: 'kvalreg',
    KVALREG_OAUTH_SCOPE: 'kvalreg/capture',
    KVALREG_OAUTH_REQUIRE_DPOP: '1',
  });
  await t.app.listen({ host: '127.0.0.1', port });
  await setUser(t.platform.db.pool, {
    subject: 'sub-registrar',
    name: 'Test registrar',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
  });
  await registerClient(t.platform.db.pool, { clientId: 'sus-dips', name: 'SUS DIPS Arena', sender: 'sus-dips-helseid' });
  await registerClient(t.platform.db.pool, { clientId: 'sus-bearer', name: 'SUS without DPoP', sender: 'sus-bearer' });
}, 120_000);
afterAll(async () => {
  await t?.close();
  await idp?.close();
});

describe('people log in with private_key_jwt, PAR and DPoP', () => {
  it('sends the browser with a request_uri only, and completes the login at the DPoP-bound token endpoint', async () => {
    const start = await t.app.inject({ method: 'GET', url: '/auth/login' });
    expect(start.statusCode).toBe(302);
    const to = new URL(String(start.headers.location));
    // PAR: the parameters went to the provider server to server; the browser carries a reference.
    expect(to.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect([...to.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const l = await login(t, 'registrar');
    expect(l.callbackStatus).toBe(302);
    const me = await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: l.cookie } });
    expect(me.json()).toMatchObject({ via: 'session', subject: 'sub-registrar' });
  });

  // Each of HelseID's requirements is enforced by the provider: a platform without it does not get in.
  const without = async <T>(env: NodeJS.ProcessEnv, what: (p: TestPlatform) => Promise<T>): Promise<T> => {
    const other = await testPlatform({
      KVALREG_OIDC_ISSUER: idp.issuer,
      KVALREG_OIDC_CLIENT_ID: 'kvalreg-web',
      KVALREG_OIDC_CLIENT_KEY: JSON.stringify(keys.platform.privateJwk),
      KVALREG_OIDC_PAR: '1',
      KVALREG_OIDC_DPOP: '1',
      KVALREG_OIDC_REDIRECT_URL: `${TEST_SITE}/auth/callback`,
      KVALREG_OIDC_ALLOW_HTTP: '1',
      ...env,
    });
    try {
      await setUser(other.platform.db.pool, {
        subject: 'sub-registrar',
        name: 'Test registrar',
        grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
      });
      return await what(other);
    } finally {
      await other.close();
    }
  };
  const startLogin = async (p: TestPlatform) => {
    const r = await p.app.inject({ method: 'GET', url: '/auth/login' });
    return `${r.statusCode} ${r.body}`;
  };

  it('is refused with a key the provider does not know (another key under the registered kid), and with a client secret', async () => {
    const forged = { ...keys.stranger.privateJwk, kid: keys.platform.privateJwk.kid };
    // The pushed authorization request is the first call that authenticates the client.
    expect(await without({ KVALREG_OIDC_CLIENT_KEY: JSON.stringify(forged) }, startLogin)).toMatch(/^502 .*invalid_client/s);
    expect(await without({ KVALREG_OIDC_CLIENT_KEY: '', KVALREG_OIDC_CLIENT_SECRET: 'a-guessed-secret' }, startLogin)).toMatch(
      /^502 .*invalid_client/s,
    );
  }, 60_000);

  it('is refused without PAR: the provider sends the browser back with an error', async () => {
    const error = await without({ KVALREG_OIDC_PAR: '0' }, async (p) => {
      const start = await p.app.inject({ method: 'GET', url: '/auth/login' });
      expect(new URL(String(start.headers.location)).searchParams.get('redirect_uri')).toBe(`${TEST_SITE}/auth/callback`);
      const res = await fetch(String(start.headers.location), { redirect: 'manual' });
      return new URL(res.headers.get('location')!).search;
    });
    expect(new URLSearchParams(error).get('error')).toBe('invalid_request');
    expect(new URLSearchParams(error).get('error_description')).toMatch(/pushed authorization request/i);
  }, 60_000);

  it('is refused without DPoP: the token endpoint refuses the code without a proof, and the callback says the login failed', async () => {
    const l = await without({ KVALREG_OIDC_DPOP: '0' }, (p) => login(p, 'registrar'));
    expect(l.cookie).toBe('');
    expect(l.callbackStatus).toBe(400);
    // oidc-provider answers invalid_grant for a DPoP-bound client's code redeemed without a proof
    // (the same flow with DPoP on logs in: the first test).
    expect(l.callbackBody).toMatch(/could not be completed \(invalid_grant\)/);
  }, 60_000);
});

describe('a sending system with client credentials and DPoP', () => {
  let config: client.Configuration;
  let dpopKeys: KeyPair;
  let token: string;
  beforeAll(async () => {
    config = await client.discovery(
      new URL(idp.issuer),
      'sus-dips',
      undefined,
      client.PrivateKeyJwt({ key: await importPrivate(keys.sender.privateJwk), kid: String(keys.sender.privateJwk.kid) }),
      { execute: [client.allowInsecureRequests] },
    );
    dpopKeys = await client.randomDPoPKeyPair('ES256');
    // Two scopes, so that the token's scope array is not the same as a string when joined.
    const tokens = await client.clientCredentialsGrant(
      config,
      { scope: 'kvalreg/read kvalreg/capture' },
      { DPoP: client.getDPoPHandle(config, dpopKeys) },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    token = tokens.access_token;
  });

  const bundle = () => JSON.stringify(ehrBundle(fracture()));
  const fhirUrl = () => new URL(`${publicUrl}/fhir`);
  /** A proof made by hand (RFC 9449 §4.2), to replay and to forge. */
  const proof = async (o: { keys?: KeyPair; htu?: string; htm?: string; jti?: string; accessToken?: string } = {}) => {
    const k = o.keys ?? dpopKeys;
    return new SignJWT({
      htm: o.htm ?? 'POST',
      htu: o.htu ?? `${publicUrl}/fhir`,
      jti: o.jti ?? crypto.randomUUID(),
      ath: crypto
        .createHash('sha256')
        .update(o.accessToken ?? token)
        .digest('base64url'),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(k.publicKey) })
      .setIssuedAt()
      .sign(k.privateKey);
  };
  const send = (authorization: string, dpop?: string) =>
    fetch(fhirUrl(), {
      method: 'POST',
      body: bundle(),
      headers: { authorization, 'content-type': 'application/fhir+json', ...(dpop ? { dpop } : {}) },
    });

  it('gets a DPoP-bound JWT access token with scope as an array, and sends FHIR with it through openid-client', async () => {
    const claims = decodeJwt(token);
    expect(claims.cnf).toEqual({ jkt: expect.any(String) });
    expect(claims.scope).toEqual(['kvalreg/read', 'kvalreg/capture']);
    expect(claims.aud).toBe('kvalreg');
    const res = await client.fetchProtectedResource(
      config,
      token,
      fhirUrl(),
      'POST',
      bundle(),
      new Headers({ 'content-type': 'application/fhir+json' }),
      { DPoP: client.getDPoPHandle(config, dpopKeys) },
    );
    const body: any = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.type).toBe('transaction-response');
    const sender = (
      await t.platform.db.pool.query("SELECT DISTINCT provenance->'ao_code'->>'sender' AS s FROM case_form WHERE form = 'skade'")
    ).rows.map((r) => r.s);
    expect(sender).toEqual(['sus-dips-helseid']);
  });

  it('refuses the token replayed without its proof, as Bearer, with a used proof, for another URL or method, or proven by another key', async () => {
    const used = await proof();
    expect((await send(`DPoP ${token}`, used)).status).toBe(200);
    const attempts: Array<[string, Response]> = [
      ['as Bearer, no proof', await send(`Bearer ${token}`)],
      ['as DPoP, no proof', await send(`DPoP ${token}`)],
      ['the used proof again', await send(`DPoP ${token}`, used)],
      ['a proof for another URL', await send(`DPoP ${token}`, await proof({ htu: `${publicUrl}/fhir/Bundle/$validate` }))],
      ['a proof for GET', await send(`DPoP ${token}`, await proof({ htm: 'GET' }))],
      ['a proof for another token', await send(`DPoP ${token}`, await proof({ accessToken: 'another-token' }))],
      ['a proof by another key', await send(`DPoP ${token}`, await proof({ keys: await client.randomDPoPKeyPair('ES256') }))],
      ['a proof without signature', await send(`DPoP ${token}`, (await proof()).split('.').slice(0, 2).join('.') + '.')],
    ];
    for (const [what, res] of attempts) {
      expect(res.status, what).toBe(401);
      const body: any = await res.json();
      expect(body.resourceType, what).toBe('OperationOutcome');
      expect(body.issue[0].diagnostics, what).toMatch(/DPoP/);
    }
    expect(attempts[0][1].headers.get('www-authenticate')).toMatch(/^DPoP /);
  });

  it('refuses a token from the issuer that is not DPoP-bound, since DPoP is required', async () => {
    const bearerConfig = await client.discovery(
      new URL(idp.issuer),
      'sus-bearer',
      undefined,
      client.PrivateKeyJwt({ key: await importPrivate(keys.bearerSender.privateJwk), kid: String(keys.bearerSender.privateJwk.kid) }),
      { execute: [client.allowInsecureRequests] },
    );
    const plain = (await client.clientCredentialsGrant(bearerConfig, { scope: 'kvalreg/capture' })).access_token;
    expect(decodeJwt(plain).cnf).toBeUndefined();
    const res = await send(`Bearer ${plain}`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).issue[0].diagnostics).toMatch(/only DPoP-bound access tokens/);
  });

  it("refuses the sender's client credentials signed by another key", async () => {
    const forged = await client.discovery(
      new URL(idp.issuer),
      'sus-dips',
      undefined,
      client.PrivateKeyJwt({ key: await importPrivate(keys.stranger.privateJwk), kid: String(keys.sender.privateJwk.kid) }),
      { execute: [client.allowInsecureRequests] },
    );
    await expect(
      client.clientCredentialsGrant(forged, { scope: 'kvalreg/capture' }, { DPoP: client.getDPoPHandle(forged, dpopKeys) }),
    ).rejects.toMatchObject({ error: 'invalid_client' });
  });
});

type KeyPair = Awaited<ReturnType<typeof client.randomDPoPKeyPair>>;
type PrivateKey = Extract<Parameters<typeof client.PrivateKeyJwt>[0], { kid?: string }>['key'];
async function importPrivate(jwk: Record<string, unknown>): Promise<PrivateKey> {
  return (await importJWK(jwk as never, 'ES256')) as PrivateKey;
}
