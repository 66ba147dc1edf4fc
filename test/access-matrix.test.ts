// Every HTTP route × every kind of caller, generated from the route table: a route is reachable
// exactly by the callers its declared policy names, and a unit user reaches only their unit's
// cases. A new route without a policy cannot even be registered (the last test).
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../src/access/caller.ts';
import { createToken } from '../src/access/tokens.ts';
import { ehrBundle } from '../src/demo/bundles.ts';
import { permits, requirePolicies } from '../src/server/access-policy.ts';
import { fracture } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let caseId: number;
let messageId: number;
const tokens = new Map<string, string>();
const callers = ['anonymous', 'system', ...ROLES] as const;

beforeAll(async () => {
  t = await testPlatform();
  const res = await t.app.inject({ method: 'POST', url: '/fhir', headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' }, payload: JSON.stringify(ehrBundle(fracture({ intent: undefined }))) });
  messageId = Number(res.headers['x-kvalreg-message']);
  caseId = (await t.platform.db.pool.query('SELECT id FROM registry_case')).rows[0].id;
  tokens.set('system', t.tokens.ehr);
  for (const role of ROLES) {
    // Admins are admins of every registry here; unit roles hold a unit in the fracture registry.
    const registry = role === 'registry-admin' || role === 'platform-admin' ? '*' : 'fracture';
    tokens.set(role, await createToken(t.platform.db.pool, { name: `matrix-${role}`, kind: 'user', grants: [{ registry, role: role as Role, unit: SUS_HOSPITAL }] }));
    tokens.set(`other-${role}`, await createToken(t.platform.db.pool, { name: `matrix-other-${role}`, kind: 'user', grants: [{ registry: 'fracture', role: role as Role, unit: OTHER_ORTHO }] }));
  }
});
afterAll(async () => { await t?.close(); });

const fill = (url: string) => url.replace(':id', 'fracture').replace(':caseId', String(caseId)).replace(':form', 'behandling')
  .replace(':instance', 'x').replace(':messageId', String(messageId))
  .replace(':indicator', 'nfr01_time_to_treatment').replace(':measureId', 'fracture-nfr01_time_to_treatment')
  .replace(':figure', 'ao-prefix-by-sex').replace(':table', 'indicator-results.csv').replace(':year', '2024.pdf')
  .replace(':unit', '8201101.pdf').replace(':subscriptionId', '999999');
const bodyFor = (url: string) => (url.startsWith('/fhir') ? JSON.stringify(ehrBundle(fracture())) : url.includes('/forms/') ? JSON.stringify({ values: { treatment_intent: 'conservative' } }) : JSON.stringify({}));

async function call(method: string, url: string, token?: string) {
  const headers: Record<string, string> = { 'content-type': url.startsWith('/fhir') ? 'application/fhir+json' : 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return t.app.inject({ method: method as any, url: fill(url), headers, payload: method === 'GET' || method === 'DELETE' ? undefined : bodyFor(url) });
}

describe('every route × every caller', () => {
  it('covers every registered route', () => {
    expect(t.app.routeTable.length).toBeGreaterThanOrEqual(15);
  });

  it('lets exactly the declared callers through', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable) {
      for (const who of callers) {
        const token = who === 'anonymous' ? undefined : tokens.get(who);
        const res = await call(route.method, route.url, token);
        const allowed = 'public' in route.access || (who !== 'anonymous' && permits(route.access, who === 'system'
          ? { kind: 'system', sender: 'x', name: 'x' }
          : { kind: 'user', user: who, name: who, grants: [{ registry: 'fracture', role: who, unit: SUS_HOSPITAL }] }));
        const denied = res.statusCode === 401 || res.statusCode === 403;
        if (allowed === denied) failures.push(`${route.method} ${route.url} as ${who}: expected ${allowed ? 'allowed' : 'denied'}, got ${res.statusCode} ${res.body.slice(0, 120)}`);
        if (!allowed && who === 'anonymous' && !('public' in route.access) && res.statusCode !== 401) failures.push(`${route.method} ${route.url} anonymous: expected 401, got ${res.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('keeps unit users of another unit away from this unit\'s case on every case route', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable.filter((r) => r.url.includes(':caseId'))) {
      for (const role of ['unit-registrar', 'unit-reader'] as const) {
        const res = await call(route.method, route.url, tokens.get(`other-${role}`));
        if (res.statusCode !== 403) failures.push(`${route.method} ${route.url} as ${role} of another unit: expected 403, got ${res.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

it('refuses to register a route without an access policy', async () => {
  const app = Fastify();
  requirePolicies(app as any);
  expect(() => app.get('/no-policy', async () => 'x')).toThrow(/declares no access policy/);
  await app.close();
});
