// Sending systems with OAuth2 client credentials: JWT access tokens verified against the issuer's
// JWKS (served here over HTTP, as an issuer would), bound to a registered client, its sender id
// and the registries it may report to.
import http from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerClient } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let jwksServer: http.Server;
let sign: (claims: Record<string, unknown>, opts?: { issuer?: string; audience?: string; expiresIn?: string }) => Promise<string>;
let issuer: string;

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  jwksServer = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
  issuer = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}`;
  sign = (claims, opts = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
      .setIssuer(opts.issuer ?? issuer)
      .setAudience(opts.audience ?? 'kvalreg')
      .setIssuedAt()
      .setExpirationTime(opts.expiresIn ?? '5m')
      .sign(privateKey);
  t = await testPlatform({ KVALREG_OAUTH_ISSUER: issuer, KVALREG_OAUTH_JWKS_URL: `${issuer}/jwks` });
  await registerClient(t.platform.db.pool, {
    clientId: 'sus-dips-client',
    name: 'SUS DIPS Arena',
    sender: 'sus-dips-oauth',
    orgnr: '983974732',
  });
  await registerClient(t.platform.db.pool, {
    clientId: 'trauma-only',
    name: 'Trauma system',
    sender: 'trauma-system',
    registries: ['trauma'],
  });
});
afterAll(async () => {
  await t?.close();
  jwksServer?.close();
});

const post = (token: string, f = fracture()) =>
  t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });

it('accepts a valid access token from a registered client and records its sender as provenance', async () => {
  const f = fracture();
  const res = await post(await sign({ client_id: 'sus-dips-client', scope: 'kvalreg/capture' }), f);
  expect(res.statusCode).toBe(200);
  const prov = (await t.platform.db.pool.query("SELECT provenance->'ao_code'->>'sender' AS sender FROM case_form WHERE form = 'skade'"))
    .rows[0];
  expect(prov.sender).toBe('sus-dips-oauth');
});

it('refuses tokens with the wrong issuer, audience or scope, expired ones, and unknown clients', async () => {
  const cases = [
    await sign({ client_id: 'sus-dips-client', scope: 'kvalreg/capture' }, { issuer: 'https://evil.example' }),
    await sign({ client_id: 'sus-dips-client', scope: 'kvalreg/capture' }, { audience: 'someone-else' }),
    await sign({ client_id: 'sus-dips-client', scope: 'other' }),
    await sign({ client_id: 'sus-dips-client', scope: 'kvalreg/capture' }, { expiresIn: '-1m' }),
    await sign({ client_id: 'nobody', scope: 'kvalreg/capture' }),
  ];
  for (const token of cases) {
    const res = await post(token);
    expect(res.statusCode).toBe(401);
    expect(res.json().resourceType).toBe('OperationOutcome');
  }
});

it('lets a client report only to the registries it is registered for', async () => {
  const f = fracture();
  const res = await post(await sign({ client_id: 'trauma-only', scope: 'kvalreg/capture' }), f);
  expect(res.statusCode).toBe(200);
  const cases = (await t.platform.db.pool.query('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`]))
    .rows[0].n;
  expect(cases).toBe(0); // a fracture, but this client may only report to the trauma registry
});
