// The other roles' work in the web app's API: a researcher asks for an extract for an approved
// project and follows the request; the registry admin approves (delivered, recorded, audited) or
// rejects with a reason; nobody else sees the request. The platform admin lists people and changes
// their grants (audited, sessions ended).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { setUser } from '../src/auth/sessions.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let researcher: string, other: string, registryAdmin: string, platformAdmin: string;
beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 6; i++) {
    await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture())),
    });
  }
  researcher = await createToken(t.platform.db.pool, {
    name: 'frida',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'researcher', unit: '1' }],
  });
  other = await createToken(t.platform.db.pool, {
    name: 'other-researcher',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'researcher', unit: '1' }],
  });
  registryAdmin = await createToken(t.platform.db.pool, {
    name: 'reidun',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'registry-admin', unit: '1' }],
  });
  platformAdmin = await createToken(t.platform.db.pool, {
    name: 'ada',
    kind: 'user',
    grants: [{ registry: '*', role: 'platform-admin', unit: '1' }],
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload: payload as object } : {}) });
const request = {
  project: 'wrist-outcomes',
  approvalRef: 'REK 2025/12345',
  purpose: 'Utfall etter håndleddsbrudd',
  expires: '2030-12-31',
  variables: ['ao_code', 'injury_energy', 'treatment_intent'],
  from: '2024-01-01',
  to: '2024-12-31',
};

it('lets a researcher ask for an extract and follow it; checks the definition at once', async () => {
  const bad = await call('POST', '/api/registries/fracture/extract-requests', researcher, {
    ...request,
    variables: ['treating_unit', 'no_such_variable'],
  });
  expect(bad.statusCode).toBe(422);
  expect(bad.json().error).toMatch(/no_such_variable/);
  const res = await call('POST', '/api/registries/fracture/extract-requests', researcher, request);
  expect(res.statusCode, res.body).toBe(201);
  expect(res.json()).toMatchObject({
    status: 'submitted',
    project: 'wrist-outcomes',
    definition: { variables: request.variables, period: { variable: 'injury_date', from: '2024-01-01', to: '2024-12-31' } },
  });
  const mine = (await call('GET', '/api/extract-requests', researcher)).json();
  expect(mine.map((r: any) => r.id)).toEqual([res.json().id]);
  // Another researcher sees nothing of it; a unit registrar may not ask at all.
  expect((await call('GET', '/api/extract-requests', other)).json()).toEqual([]);
  expect((await call('GET', `/api/extract-requests/${res.json().id}`, other)).statusCode).toBe(404);
  expect((await call('POST', '/api/registries/fracture/extract-requests', t.tokens.registrarSus, request)).statusCode).toBe(403);
});

it('lets the registry admin reject with a reason, or approve: the extract is delivered, recorded and audited', async () => {
  const [first] = (await call('GET', '/api/extract-requests', registryAdmin)).json();
  expect((await call('POST', `/api/extract-requests/${first.id}/decision`, registryAdmin, { approve: false })).statusCode).toBe(422);
  const rejected = await call('POST', `/api/extract-requests/${first.id}/decision`, registryAdmin, {
    approve: false,
    note: 'Mangler godkjenning fra personvernombudet.',
  });
  expect(rejected.json().request).toMatchObject({ status: 'rejected', decisionNote: 'Mangler godkjenning fra personvernombudet.' });
  expect((await call('POST', `/api/extract-requests/${first.id}/decision`, registryAdmin, { approve: true })).statusCode).toBe(409);
  const second = (await call('POST', '/api/registries/fracture/extract-requests', researcher, request)).json();
  // A researcher cannot decide.
  expect((await call('POST', `/api/extract-requests/${second.id}/decision`, researcher, { approve: true })).statusCode).toBe(403);
  const approved = await call('POST', `/api/extract-requests/${second.id}/decision`, registryAdmin, { approve: true });
  expect(approved.statusCode, approved.body).toBe(200);
  const body = approved.json();
  expect(body.request).toMatchObject({ status: 'delivered', deliveryId: body.delivery.id, delivery: { rows: 6 } });
  expect(body.delivery.csv.split('\n')[0]).toMatch(/pseudonym/);
  // The researcher sees it delivered, with the file's hash to check what they were given.
  const seen = (await call('GET', `/api/extract-requests/${second.id}`, researcher)).json();
  expect(seen).toMatchObject({ status: 'delivered', delivery: { rows: 6, sha256: body.delivery.sha256 } });
  expect(
    (await t.platform.db.pool.query("SELECT count(*)::int AS n FROM audit_event WHERE action = 'export' AND purpose = 'research-extract'"))
      .rows[0].n,
  ).toBe(6);
});

it('lets the platform admin see people and change their grants (audited, sessions ended), and nobody else', async () => {
  await setUser(t.platform.db.pool, {
    subject: 'sub-leser',
    name: 'Live Kalnes',
    grants: [{ registry: 'fracture', role: 'unit-reader', unit: '8101101' }],
  });
  const users = (await call('GET', '/api/admin/users', platformAdmin)).json();
  expect(users.find((u: any) => u.subject === 'sub-leser')).toMatchObject({
    name: 'Live Kalnes',
    grants: [{ registry: 'fracture', role: 'unit-reader', unit: '8101101' }],
  });
  const bad = await call('PUT', '/api/admin/users/sub-leser/grants', platformAdmin, {
    grants: [{ registry: 'fracture', role: 'patient', unit: '999999' }],
  });
  expect(bad.statusCode).toBe(422);
  const res = await call('PUT', '/api/admin/users/sub-leser/grants', platformAdmin, {
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
  });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json().grants).toEqual([{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }]);
  expect(
    (await t.platform.db.pool.query("SELECT count(*)::int AS n FROM audit_event WHERE action = 'grants' AND object = 'user/sub-leser'"))
      .rows[0].n,
  ).toBe(1);
  // A registry admin is not the platform admin.
  expect((await call('GET', '/api/admin/users', registryAdmin)).statusCode).toBe(403);
  // The quarantine, for the platform admin: listed, and a message reprocessed after the fix.
  const q = await call('GET', '/api/inbox?status=quarantined', platformAdmin);
  expect(q.statusCode).toBe(200);
});
