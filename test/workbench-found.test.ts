// What users found wrong, as tests: dates in the future refused (through the FHIR API and in the
// form), an older classification version's code answered with "did you mean", moving a case to a
// unit the registrar does not register for answered with a message (not a 500), the rate limit
// that counted the app's own files and starved a hospital's visitors, "send now" promising e-mail
// with no mail server, and a command's JSON output corrupted by a log line.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const post = async (bundle: unknown) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  return { status: res.statusCode, body: res.json() };
};
const caseOf = async (conditionId: string) =>
  (await t.platform.db.pool.query("SELECT id FROM registry_case WHERE registry = 'fracture' AND anchor_key LIKE $1", [`%|${conditionId}`]))
    .rows[0]?.id as number | undefined;
const patch = (caseId: number, form: string, values: Record<string, unknown>, token = t.tokens.registrarSus) =>
  t.app.inject({
    method: 'PATCH',
    url: `/api/registries/fracture/cases/${caseId}/forms/${form}`,
    headers: { authorization: `Bearer ${token}` },
    payload: { values },
  });

describe('dates in the future', () => {
  it('refuses a fracture dated in the future through the FHIR API, storing nothing', async () => {
    const f = fracture({ injuryDateTime: '2030-06-01T10:00:00+02:00', firstContact: '2030-06-01T12:00:00+02:00' });
    const res = await post(ehrBundle(f));
    expect(res.status).toBe(422);
    expect(res.body.issue.map((i: any) => i.details?.text)).toContain('not-in-future');
    expect(res.body.issue.find((i: any) => i.details?.text === 'not-in-future').diagnostics).toMatch(/in the future/);
    expect(await caseOf(f.id)).toBeUndefined();
    // Nothing dated 2030 reaches the public pages' year choice.
    expect((await t.app.inject({ method: 'GET', url: '/api/registries/fracture/years' })).json().years).not.toContain(2030);
  });

  it('refuses a date of injury in the future typed into the form, keeping the value', async () => {
    const f = fracture();
    expect((await post(ehrBundle(f))).status).toBe(200);
    const caseId = (await caseOf(f.id))!;
    const res = await patch(caseId, 'skade', { injury_date: '2031-01-01' });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      code: 'form.notSaved',
      details: [expect.objectContaining({ variable: 'injury_date', rule: 'not-in-future' })],
    });
    const stored = (
      await t.platform.db.pool.query(
        "SELECT data->>'injury_date' AS d FROM case_form WHERE registry = 'fracture' AND case_id = $1 AND form = 'skade'",
        [caseId],
      )
    ).rows[0].d;
    expect(stored).toBe('2024-03-01');
    // Today is allowed.
    const today = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo' }).format(new Date());
    expect((await patch(caseId, 'skade', { injury_date: today, injury_datetime: new Date().toISOString() })).statusCode).toBe(200);
  });
});

describe('a code of an older classification version', () => {
  it('answers "did you mean" in the OperationOutcome', async () => {
    // 23A2.1 is the legacy (Müller) form of the distal radius code; 2018 writes 2R3A2.1 (registries/fracture/codes/README.md).
    const res = await post(ehrBundle(fracture({ aoCode: '23A2.1' })));
    expect(res.status).toBe(422);
    const i = res.body.issue.find((x: any) => x.details?.text === 'codelist:ao_ota_2018');
    expect(i.diagnostics).toMatch(/did you mean 2R3A2\.1\?/);
  });

  it('answers with the suggestion in the form', async () => {
    const f = fracture();
    expect((await post(ehrBundle(f))).status).toBe(200);
    const res = await patch((await caseOf(f.id))!, 'skade', { ao_code: '23A2.1' });
    expect(res.statusCode).toBe(422);
    expect(res.json().details).toEqual([
      expect.objectContaining({ variable: 'ao_code', rule: 'codelist:ao_ota_2018', suggestion: '2R3A2.1' }),
    ]);
    // A code that is simply wrong gets no suggestion.
    expect((await patch((await caseOf(f.id))!, 'skade', { ao_code: '99Z9' })).json().details[0].suggestion).toBeUndefined();
  });
});

it('answers a move to a unit the registrar does not register for with a message, not a 500, and keeps the case', async () => {
  const f = fracture({ unitResh: SUS_ORTHO });
  expect((await post(ehrBundle(f))).status).toBe(200);
  const caseId = (await caseOf(f.id))!;
  const res = await patch(caseId, 'skade', { treating_unit: OTHER_ORTHO });
  expect(res.statusCode).toBe(422);
  expect(res.json()).toMatchObject({
    code: 'form.notSaved',
    details: [expect.objectContaining({ variable: 'treating_unit', rule: 'unit-not-yours' })],
  });
  expect(
    (await t.platform.db.pool.query("SELECT unit_resh FROM registry_case WHERE registry = 'fracture' AND id = $1", [caseId])).rows[0]
      .unit_resh,
  ).toBe(SUS_ORTHO);
  expect((await patch(caseId, 'skade', { treating_unit: '424242' })).json().details[0].rule).toBe('unit-unknown');
  // An admin of the registry may move it anywhere.
  expect((await patch(caseId, 'skade', { treating_unit: OTHER_ORTHO }, t.tokens.admin)).statusCode).toBe(200);
});

it('does not promise e-mail when no mail server is set up', async () => {
  expect((await t.app.inject({ method: 'GET', url: '/api/platform/features' })).json()).toEqual({ mail: false });
  const sub = await t.app.inject({
    method: 'POST',
    url: '/api/registries/fracture/subscriptions',
    headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    payload: { report: 'unit', unit: SUS_ORTHO, frequency: 'monthly', email: 'leder@sus.test' },
  });
  expect(sub.statusCode, sub.body).toBe(201);
  const send = await t.app.inject({
    method: 'POST',
    url: `/api/subscriptions/${sub.json().id}/send`,
    headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
  });
  expect(send.statusCode).toBe(409);
  expect(send.json().code).toBe('mail.notConfigured');
});

describe('the rate limit', () => {
  let r: TestPlatform;
  beforeAll(async () => {
    r = await testPlatform({ KVALREG_ANONYMOUS_RATE_LIMIT: '5', KVALREG_PUBLIC_RATE_LIMIT: '30' });
  }, 120_000);
  afterAll(async () => {
    await r?.close();
  });
  const get = (url: string, headers: Record<string, string> = {}) =>
    r.app.inject({ method: 'GET', url, headers, remoteAddress: '10.1.2.3' });

  it("never counts the app's pages and files, gives a hospital's visitors a budget for open data, keeps guessing tokens slow, and says so in Norwegian", async () => {
    // 40 page views with their files from one address: none refused.
    for (let i = 0; i < 40; i++) {
      for (const url of ['/', '/indicators', '/hospitals?hospital=8201100', '/assets/index.js'])
        expect((await get(url)).statusCode).not.toBe(429);
    }
    // Open data: 30 reads a minute from the address (many visitors behind one hospital address), not 5.
    for (let i = 0; i < 30; i++) expect((await get('/api/units')).statusCode).toBe(200);
    const over = await get('/api/units');
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ code: 'rate.limited', params: { max: 30 } });
    expect(over.json().error).toMatch(/^For mange forespørsler/);
    // Requests with a wrong token keep the strict budget (5), whatever route they try.
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await get('/api/units', { authorization: 'Bearer wrong-token' })).statusCode);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    // Another address has its own budget.
    expect((await r.app.inject({ method: 'GET', url: '/api/units', remoteAddress: '10.9.9.9' })).statusCode).toBe(200);
  });
});

it('prints only the result on standard output (`kvalreg indicators --format json`), the log on standard error', async () => {
  // Without the application login the platform warns at start: that line used to land in the JSON.
  const env: NodeJS.ProcessEnv = { ...process.env, ...t.env, LOG_LEVEL: 'warn' };
  delete env.DATABASE_APP_URL;
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'indicators', '--registry', 'fracture', '--year', '2024', '--format', 'json'],
    { env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
  );
  expect(() => JSON.parse(stdout)).not.toThrow();
  expect(Array.isArray(JSON.parse(stdout))).toBe(true);
  expect(stderr).toMatch(/"level":40/); // the warning went to standard error
}, 300_000);
