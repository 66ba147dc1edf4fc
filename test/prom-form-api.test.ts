// The patient's form through the HTTP API: only the patient the invitation was sent to opens it;
// answers are saved midway and resumed; a wrong answer gets a clear message and loses nothing;
// sending the last instrument answers the invitation; a sent form cannot be changed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { tamper } from './helpers/tamper.ts';

let t: TestPlatform;
let token: string;
let patient: string, stranger: string;

beforeAll(async () => {
  t = await testPlatform();
  const own = nin('1966-06-06', 'female');
  const f = fracture({ nin: own, injuryDateTime: '2003-05-01T10:00:00+02:00', firstContact: '2003-05-01T11:00:00+02:00', aoCode: '2R3A2' });
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  await t.platform.analytics.refresh();
  await t.platform.prom.runDue(new Date('2003-05-02T08:00:00Z'));
  const inv = Number((await t.platform.db.pool.query('SELECT id FROM prom_invitation ORDER BY id DESC LIMIT 1')).rows[0].id);
  token = t.platform.prom.links.token(inv);
  const grant = [{ registry: '*', role: 'patient' as const, unit: '1' }];
  patient = await createToken(t.platform.db.pool, {
    name: 'patient',
    kind: 'user',
    grants: grant,
    personHash: ninHash(t.platform.keys, own),
  });
  stranger = await createToken(t.platform.db.pool, {
    name: 'stranger',
    kind: 'user',
    grants: grant,
    personHash: ninHash(t.platform.keys, nin('1967-07-07', 'male')),
  });
});
afterAll(async () => {
  await t?.close();
});

const call = (method: 'GET' | 'POST', url: string, who: string, body?: unknown) =>
  t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${who}`, 'content-type': 'application/json' },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });

it('shows the invitation to its patient only; another patient and a forged link get the same 404', async () => {
  const res = await call('GET', `/api/prom/form/${token}`, patient);
  expect(res.statusCode, res.body).toBe(200);
  const view = res.json();
  expect(view.invitation.hospital).toBe('Stavanger universitetssjukehus');
  expect(view.instruments.map((i: any) => [i.id, i.recall, i.status])).toEqual([
    ['eq5d5l', 'pre-injury', 'new'],
    ['prwhe', 'pre-injury', 'new'],
  ]);
  expect(view.instruments[0].questionnaire.resourceType).toBe('Questionnaire');
  const other = await call('GET', `/api/prom/form/${token}`, stranger);
  expect(other.statusCode).toBe(404);
  const forged = await call('GET', `/api/prom/form/${tamper(token)}`, patient);
  expect(forged.statusCode).toBe(404);
  expect(forged.json().error).toBe(other.json().error);
  expect((await call('GET', `/api/prom/form/${token}`, t.tokens.registrarSus)).statusCode).toBe(403);
});

it('saves midway and resumes; a wrong answer is refused with a message and loses what was saved', async () => {
  const part = await call('POST', `/api/prom/form/${token}/eq5d5l`, patient, { answers: { mobility: '2', selfcare: '1' } });
  expect(part.statusCode, part.body).toBe(200);
  expect(part.json().status).toBe('draft');
  const wrong = await call('POST', `/api/prom/form/${token}/eq5d5l`, patient, { answers: { mobility: '2', selfcare: '1', vas: 140 } });
  expect(wrong.statusCode).toBe(422);
  expect(wrong.json().error).toMatch(/vas: 140 is outside 0–100/);
  const resumed = (await call('GET', `/api/prom/form/${token}`, patient)).json();
  expect(resumed.instruments[0]).toMatchObject({ status: 'draft', answers: { mobility: '2', selfcare: '1' } });
  const early = await call('POST', `/api/prom/form/${token}/eq5d5l/submit`, patient, { answers: { mobility: '2', selfcare: '1' } });
  expect(early.statusCode).toBe(422);
  expect(early.json().error).toMatch(/Answer every required question before sending \(4 left\)/);
});

it('sending every instrument answers the invitation, scored; a sent form cannot be changed', async () => {
  const eq = await call('POST', `/api/prom/form/${token}/eq5d5l/submit`, patient, {
    answers: { mobility: '2', selfcare: '1', usual: '2', pain: '2', anxiety: '1', vas: 75 },
  });
  expect(eq.statusCode, eq.body).toBe(200);
  expect(eq.json()).toMatchObject({ status: 'completed', invitationStatus: 'not-reachable' });
  const prwhe = Object.fromEntries(
    [1, 2, 3, 4, 5]
      .map((i) => [`pain${i}`, 2])
      .concat(
        [1, 2, 3, 4, 5, 6].map((i) => [`func${i}`, 1]),
        [1, 2, 3, 4].map((i) => [`usual${i}`, 1]),
      ),
  );
  const last = await call('POST', `/api/prom/form/${token}/prwhe/submit`, patient, { answers: prwhe });
  expect(last.json()).toMatchObject({
    status: 'completed',
    invitationStatus: 'answered',
    scores: { pain: { value: 10 }, function: { value: 5 }, total: { value: 15 } },
  });
  const again = await call('POST', `/api/prom/form/${token}/prwhe`, patient, { answers: prwhe });
  expect(again.statusCode).toBe(409);
  expect(again.json().error).toMatch(/already sent your answers/);
  const items = (await t.platform.db.pool.query("SELECT DISTINCT status FROM prom_item WHERE timepoint = 'baseline'")).rows.map(
    (r) => r.status,
  );
  expect(items).toEqual(['answered']);
});
