// Answering on someone's behalf: a proxy (a parent, a relative) logs in as themselves and gives
// the one-time code from the hospital's letter. The first proxy to give the right code is bound to
// the invitation; the code then opens it for nobody else; wrong codes are counted and the code is
// refused for an hour after five; the answers are recorded as answered on behalf, by whom.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { tamper } from './helpers/tamper.ts';

let t: TestPlatform;
let token: string, code: string, invitationId: number;
let patient: string, parent: string, stranger: string;
const daughterNin = nin('1960-06-06', 'female');
const GRANT = [{ registry: '*', role: 'patient' as const, unit: '1' }];
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;

beforeAll(async () => {
  t = await testPlatform();
  const own = nin('1930-03-03', 'female');
  const f = fracture({ nin: own, injuryDateTime: '2003-05-01T10:00:00+02:00', firstContact: '2003-05-01T11:00:00+02:00', aoCode: '2R3A2' });
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  await t.platform.analytics.refresh();
  await t.platform.prom.runDue(new Date('2003-05-02T08:00:00Z'));
  invitationId = Number((await q('SELECT id FROM prom_invitation ORDER BY id DESC LIMIT 1'))[0].id);
  token = t.platform.prom.links.token(invitationId);
  code = t.platform.prom.links.code(invitationId);
  const user = (name: string, n: string) =>
    createToken(t.platform.db.pool, { name, kind: 'user', grants: GRANT, personHash: ninHash(t.platform.keys, n) });
  patient = await user('patient', own);
  parent = await user('daughter', daughterNin);
  stranger = await user('stranger', nin('1970-07-07', 'male'));
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
const claim = (who: string, body: unknown, tok = token) => call('POST', `/api/prom/form/${tok}/proxy`, who, body);

it('a proxy without the code sees nothing; a forged link with the right code neither', async () => {
  const res = await call('GET', `/api/prom/form/${token}`, parent);
  expect(res.statusCode).toBe(404);
  expect(res.json().error).toMatch(/give the code from the letter/);
  expect((await claim(parent, { code, relation: 'relative' }, tamper(token))).statusCode).toBe(404);
  expect((await claim(parent, { code })).json().error).toMatch(/"relation" is one of parent, guardian, relative, other/);
  expect((await claim(parent, { relation: 'relative' })).statusCode).toBe(400);
});

it('counts wrong codes and refuses the code for an hour after five; the count is kept though the request fails', async () => {
  for (let i = 1; i <= 4; i++) {
    const res = await claim(stranger, { code: 'AAAA-AAAA', relation: 'other' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatch(/The code is not right/);
  }
  expect((await q('SELECT code_failures FROM prom_invitation WHERE id = $1', [invitationId]))[0].code_failures).toBe(4);
  expect((await claim(stranger, { code: 'BBBB-BBBB', relation: 'other' })).statusCode).toBe(422);
  // Locked: even the right code is refused now.
  const locked = await claim(parent, { code, relation: 'relative' });
  expect(locked.statusCode).toBe(429);
  expect(locked.json().error).toMatch(/Too many wrong codes .* Try again after/);
  const refused = await q(`SELECT count(*)::int AS n FROM audit_event WHERE action = 'prom:proxy-refused' AND actor = 'user:stranger'`);
  expect(refused[0].n).toBe(5);
  await q("UPDATE prom_invitation SET code_locked_until = now() - interval '1 minute' WHERE id = $1", [invitationId]);
});

it('binds the first proxy who gives the right code (lower case, without the dash, is the same code); for anyone else the code is spent', async () => {
  const res = await claim(parent, { code: code.toLowerCase().replace('-', ''), relation: 'relative' });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toEqual({ respondent: { kind: 'proxy', relation: 'relative' } });
  expect((await claim(parent, { code, relation: 'relative' })).statusCode).toBe(200);
  const other = await claim(stranger, { code, relation: 'parent' });
  expect(other.statusCode).toBe(409);
  expect(other.json().error).toMatch(/already been used by someone else/);
  expect((await call('GET', `/api/prom/form/${token}`, stranger)).statusCode).toBe(404);
  const view = (await call('GET', `/api/prom/form/${token}`, parent)).json();
  expect(view.respondent).toEqual({ kind: 'proxy', relation: 'relative' });
  // The patient still opens their own form, as themselves.
  expect((await call('GET', `/api/prom/form/${token}`, patient)).json().respondent).toEqual({ kind: 'patient' });
  expect((await claim(patient, { code: 'whatever', relation: 'other' })).json()).toEqual({ respondent: { kind: 'patient' } });
});

it('records the answers as answered on behalf, by whom, in the response and the audit trail', async () => {
  const res = await call('POST', `/api/prom/form/${token}/eq5d5l/submit`, parent, {
    answers: { mobility: '3', selfcare: '2', usual: '3', pain: '2', anxiety: '1', vas: 55 },
  });
  expect(res.statusCode, res.body).toBe(200);
  const row = (await q(`SELECT provenance FROM prom_response WHERE invitation_id = $1 AND instrument = 'eq5d5l'`, [invitationId]))[0];
  expect(row.provenance).toEqual({ kind: 'proxy', relation: 'relative', user: 'user:daughter' });
  const audit = await q(`SELECT actor, role FROM audit_event WHERE action = 'prom:answer' ORDER BY id DESC LIMIT 1`);
  expect(audit[0]).toEqual({ actor: 'user:daughter', role: 'proxy' });
  const bound = await q('SELECT proxy_label, relation, proxy_hash = $2 AS hashed FROM prom_proxy WHERE invitation_id = $1', [
    invitationId,
    ninHash(t.platform.keys, daughterNin),
  ]);
  expect(bound).toEqual([{ proxy_label: 'user:daughter', relation: 'relative', hashed: true }]);
});

it("the letter's link opens the web app (a page path may hold a dot), while a missing file is still a 404", async () => {
  const page = await t.app.inject({ method: 'GET', url: `/prom/${token}` });
  expect(page.statusCode).toBe(200);
  expect(page.headers['content-type']).toMatch(/text\/html/);
  expect((await t.app.inject({ method: 'GET', url: '/missing.png' })).statusCode).toBe(404);
  expect((await t.app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode).toBe(404);
});
