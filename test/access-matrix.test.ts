// Every HTTP route × every kind of caller, generated from the route table: a route is reachable
// exactly by the callers its declared policy names, and a unit user reaches only their unit's
// cases — with a bearer token and with a browser session from a real login alike. A session
// without its CSRF token changes nothing. A new route without a policy cannot even be registered
// (the last test).
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../src/access/caller.ts';
import { createToken } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { permits, requirePolicies } from '../src/server/access-policy.ts';
import { setUser } from '../src/auth/sessions.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { account, login, startTestIdp, type TestIdp } from './helpers/login.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let idp: TestIdp;
let caseId: number;
let messageId: number;
const tokens = new Map<string, string>();
const callers = ['anonymous', 'system', ...ROLES] as const;
/** Logged-in people: their session cookie and CSRF token, by role (and `other-<role>` for another unit). */
const sessions = new Map<string, { cookie: string; csrf: string; grant: { registry: string; role: Role; unit: string } }>();

beforeAll(async () => {
  const staff = ROLES.filter((r) => r !== 'patient');
  idp = await startTestIdp([
    ...staff.flatMap((r) => [account(`s-${r}`), account(`s-other-${r}`)]),
    account('s-patient', { pid: nin('1990-02-02', 'male') }),
  ]);
  t = await testPlatform({ ...idp.env, KVALREG_LOGIN_RATE_LIMIT: '0' });
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(fracture({ intent: undefined }))),
  });
  messageId = Number(res.headers['x-kvalreg-message']);
  caseId = (await t.platform.db.pool.query('SELECT id FROM registry_case')).rows[0].id;
  tokens.set('system', t.tokens.ehr);
  for (const role of ROLES) {
    // Admins are admins of every registry here; unit roles hold a unit in the fracture registry.
    const registry = role === 'registry-admin' || role === 'platform-admin' ? '*' : 'fracture';
    // … and in the trauma registry, whose screening route is registry-scoped.
    const grants = [
      { registry, role: role as Role, unit: SUS_HOSPITAL },
      ...(registry === 'fracture' ? [{ registry: 'trauma', role: role as Role, unit: SUS_HOSPITAL }] : []),
    ];
    tokens.set(role, await createToken(t.platform.db.pool, { name: `matrix-${role}`, kind: 'user', grants }));
    tokens.set(
      `other-${role}`,
      await createToken(t.platform.db.pool, {
        name: `matrix-other-${role}`,
        kind: 'user',
        grants: [{ registry: 'fracture', role: role as Role, unit: OTHER_ORTHO }],
      }),
    );
  }
  // The same roles as people logged in through the provider, with grants from the user store.
  for (const role of staff) {
    const registry = role === 'registry-admin' || role === 'platform-admin' ? '*' : 'fracture';
    for (const [key, grant] of [
      [role, { registry, role, unit: SUS_HOSPITAL }],
      [`other-${role}`, { registry: 'fracture', role, unit: OTHER_ORTHO }],
    ] as const) {
      await setUser(t.platform.db.pool, { subject: `sub-s-${key}`, name: key, grants: [grant] });
      const l = await login(t, `s-${key}`);
      if (!l.cookie) throw new Error(`login as ${key} failed: ${l.callbackStatus}`);
      sessions.set(key, { cookie: l.cookie, csrf: l.csrf, grant });
    }
  }
  const p = await login(t, 's-patient');
  sessions.set('patient', { cookie: p.cookie, csrf: p.csrf, grant: { registry: '*', role: 'patient', unit: '1' } });
});
afterAll(async () => {
  await t?.close();
  await idp?.idp.close();
});

const fill = (url: string) =>
  url
    .replace(':id', url.endsWith('/screening') ? 'trauma' : 'fracture')
    .replace(':caseId', String(caseId))
    .replace(':form', 'behandling')
    .replace(':instance', 'x')
    .replace(':messageId', String(messageId))
    .replace(':indicator', 'nfr01_time_to_treatment')
    .replace(':measureId', 'fracture-nfr01_time_to_treatment')
    .replace(':figure', 'ao-prefix-by-sex')
    .replace(':table', 'indicator-results.csv')
    .replace(':year', '2024.pdf')
    .replace(':unit', '8201101.pdf')
    .replace(':subscriptionId', '999999')
    .replace(':resh', '8201100');
const SCREENING_CSV = `admission_id;national_id;admission_date;department_kind;outpatient;trauma_team;codes\nA1;${nin()};2024-01-05;surgery;0;0;S72.0 S02.2\n`;
const bodyFor = (url: string) =>
  url.startsWith('/fhir')
    ? JSON.stringify(ehrBundle(fracture()))
    : url.includes('/forms/')
      ? JSON.stringify({ values: { treatment_intent: 'conservative' } })
      : url.endsWith('/screening')
        ? SCREENING_CSV
        : JSON.stringify({});

async function call(method: string, url: string, token?: string, session?: { cookie: string; csrf?: string; grant: object }) {
  const headers: Record<string, string> = {
    'content-type': url.startsWith('/fhir') ? 'application/fhir+json' : url.endsWith('/screening') ? 'text/csv' : 'application/json',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  if (session) {
    headers.cookie = session.cookie;
    if (session.csrf) headers['x-csrf-token'] = session.csrf;
  }
  // Switching to one's own active grant is allowed; any other body is refused by the route itself.
  const body = url === '/auth/role' && session ? JSON.stringify(session.grant) : bodyFor(url);
  return t.app.inject({
    method: method as any,
    url: fill(url),
    headers,
    payload: method === 'GET' || method === 'DELETE' ? undefined : body,
  });
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

describe('every route × every caller', () => {
  it('covers every registered route', () => {
    expect(t.app.routeTable.length).toBeGreaterThanOrEqual(17);
    expect(t.app.routeTable.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining(['GET /api/audit', 'POST /api/audit/search']),
    );
  });

  it('lets exactly the declared callers through', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable) {
      for (const who of callers) {
        const token = who === 'anonymous' ? undefined : tokens.get(who);
        const res = await call(route.method, route.url, token);
        const allowed =
          'public' in route.access ||
          (who !== 'anonymous' &&
            permits(
              route.access,
              who === 'system'
                ? { kind: 'system', sender: 'x', name: 'x' }
                : { kind: 'user', user: who, name: who, grants: [{ registry: 'fracture', role: who, unit: SUS_HOSPITAL }] },
            ));
        const denied = res.statusCode === 401 || res.statusCode === 403;
        if (allowed === denied)
          failures.push(
            `${route.method} ${route.url} as ${who}: expected ${allowed ? 'allowed' : 'denied'}, got ${res.statusCode} ${res.body.slice(0, 120)}`,
          );
        if (!allowed && who === 'anonymous' && !('public' in route.access) && res.statusCode !== 401)
          failures.push(`${route.method} ${route.url} anonymous: expected 401, got ${res.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  }, 240_000); // every route × every caller, one after another: the matrix grows with each new route (data quality, open metadata)

  it('lets exactly the declared callers through when they are logged in with a session', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable) {
      if (route.url === '/auth/logout') continue; // ends the session; tested on its own in login.test.ts
      for (const role of ROLES) {
        // A session acts with one grant (here in the fracture registry): registry-scoped routes are
        // asked about that registry (the trauma screening route's scope is tested with tokens above).
        const url = route.url.endsWith('/screening') ? route.url.replace(':id', 'fracture') : route.url;
        const res = await call(route.method, url, undefined, sessions.get(role));
        const allowed =
          'public' in route.access ||
          permits(route.access, { kind: 'user', user: role, name: role, grants: [{ registry: 'fracture', role, unit: SUS_HOSPITAL }] });
        const denied = res.statusCode === 401 || res.statusCode === 403;
        if (allowed === denied)
          failures.push(
            `${route.method} ${route.url} as ${role} (session): expected ${allowed ? 'allowed' : 'denied'}, got ${res.statusCode} ${res.body.slice(0, 120)}`,
          );
      }
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it('refuses every state-changing route to a session without its CSRF token', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable.filter((r) => !SAFE.has(r.method))) {
      for (const role of ROLES) {
        const s = sessions.get(role)!;
        const res = await call(route.method, route.url, undefined, { cookie: s.cookie, grant: s.grant });
        if (res.statusCode !== 403)
          failures.push(`${route.method} ${route.url} as ${role} (session, no CSRF token): expected 403, got ${res.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("keeps unit users of another unit away from this unit's case on every case route", async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable.filter((r) => r.url.includes(':caseId'))) {
      for (const role of ['unit-registrar', 'unit-reader'] as const) {
        const res = await call(route.method, route.url, tokens.get(`other-${role}`));
        if (res.statusCode !== 403)
          failures.push(`${route.method} ${route.url} as ${role} of another unit: expected 403, got ${res.statusCode}`);
        const bySession = await call(route.method, route.url, undefined, sessions.get(`other-${role}`));
        if (bySession.statusCode !== 403)
          failures.push(`${route.method} ${route.url} as ${role} of another unit (session): expected 403, got ${bySession.statusCode}`);
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
