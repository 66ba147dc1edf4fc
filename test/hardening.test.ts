// Security headers, rate limits and body limits on the HTTP API.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_ANONYMOUS_RATE_LIMIT: '5', KVALREG_RATE_LIMIT: '8' });
});
afterAll(async () => {
  await t?.close();
});

it('sends security headers', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/fhir/metadata' });
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['strict-transport-security']).toMatch(/max-age/);
  expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
});

it('limits requests without valid credentials per address, with an OperationOutcome that says when to retry', async () => {
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 7; i++) {
    last = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: 'Bearer guessed-token', 'content-type': 'application/fhir+json' },
      payload: '{}',
    });
    statuses.push(last.statusCode);
  }
  // Refused guesses use up the address's budget of 5 a minute (shared with its anonymous calls).
  const first429 = statuses.indexOf(429);
  expect(first429).toBeGreaterThan(0);
  expect(first429).toBeLessThanOrEqual(5);
  expect(statuses.slice(0, first429).every((s) => s === 401)).toBe(true);
  expect(statuses.slice(first429).every((s) => s === 429)).toBe(true);
  expect(last!.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
  expect(last!.json().issue[0].diagnostics).toMatch(/Retry after/);
});

it('limits each authenticated caller separately', async () => {
  const get = (token: string) => t.app.inject({ method: 'GET', url: '/api/inbox', headers: { authorization: `Bearer ${token}` } });
  const admin: number[] = [];
  for (let i = 0; i < 9; i++) admin.push((await get(t.tokens.admin)).statusCode);
  expect(admin.slice(0, 8).every((s) => s === 200)).toBe(true);
  expect(admin[8]).toBe(429);
  // Another caller is not affected.
  expect(
    (
      await t.app.inject({
        method: 'GET',
        url: '/api/registries/fracture/worklist',
        headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
      })
    ).statusCode,
  ).toBe(200);
});

it('refuses bodies over the size limit with a clear answer', async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: 'x'.repeat(33 * 1024 * 1024),
  });
  expect(res.statusCode).toBe(413);
  expect(res.json().resourceType).toBe('OperationOutcome');
});
