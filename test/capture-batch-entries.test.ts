// One malformed entry in a Bundle. FHIR's batch semantics (https://hl7.org/fhir/R4/http.html#brules):
// each entry of a batch is processed on its own, so the entry that fails HL7's R4 schema fails
// alone (its batch-response entry answers 422 with an OperationOutcome naming the element) and
// every other entry is processed and acknowledged; a transaction is all or nothing, so the same
// entry refuses the whole transaction, naming the element.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const logged: Array<Record<string, any>> = [];
beforeAll(async () => {
  const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  t = await testPlatform({}, { log });
});
afterAll(async () => {
  await t?.close();
});

async function post(body: unknown) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), message: Number(res.headers['x-kvalreg-message']) };
}
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const ID_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.999.1';
const skadeOf = async (fractureId: string) =>
  (
    await q(`SELECT f.data FROM registry_case c JOIN case_form f ON f.case_id = c.id AND f.form = 'skade' WHERE c.anchor_key = $1`, [
      `Condition|${ID_SYSTEM}.condition|${fractureId}`,
    ])
  )[0]?.data;
const stored = async (rkey: string) => (await q('SELECT 1 FROM source_resource WHERE rkey = $1', [rkey])).length > 0;

/** Two patients' fractures in one Bundle, the first one's open-fracture Observation with a month 13: not an R4 dateTime. */
function withOneBadEntry(type: 'batch' | 'transaction') {
  const a = fracture({ open: true, smoker: true, energy: 'low' }),
    b = fracture({ open: false });
  const entries = [...ehrBundle(a, type).entry, ...ehrBundle(b, type).entry];
  const bad = entries.findIndex(
    (e: any) => e.resource.resourceType === 'Observation' && e.resource.identifier[0].value === a.id && /open-fracture/.test(e.fullUrl),
  );
  expect(bad).toBeGreaterThan(0);
  const good = structuredClone(entries[bad]);
  entries[bad] = structuredClone(entries[bad]);
  entries[bad].resource.effectiveDateTime = '2024-13-01T10:00:00+01:00';
  const rkey = `Observation|${ID_SYSTEM}.obs-open-fracture|${a.id}`;
  return { a, b, entries, bad, good, rkey, bundle: { resourceType: 'Bundle', type, entry: entries } };
}

describe('a batch Bundle with one entry that is not valid FHIR R4', () => {
  it('fails that entry alone (422, the element named), applies every other entry, logs it, and takes the corrected entry when it is sent again', async () => {
    const { a, b, entries, bad, good, rkey, bundle } = withOneBadEntry('batch');
    const res = await post(bundle);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry).toHaveLength(entries.length);

    // The bad entry: 422, with an OperationOutcome naming the element and saying what FHIR expects.
    const answer = res.body.entry[bad].response;
    expect(answer.status).toMatch(/^422/);
    const problems = answer.outcome.issue.filter((i: any) => i.severity === 'error');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((i: any) => i.expression?.[0])).toContain(`Bundle.entry[${bad}].resource.effectiveDateTime`);
    expect(problems.map((i: any) => i.diagnostics).join(' ')).toMatch(/dateTime/);

    // Every other entry (N-1 of them) was processed and acknowledged.
    const others = res.body.entry.filter((_: unknown, i: number) => i !== bad);
    expect(others).toHaveLength(entries.length - 1);
    for (const e of others) expect(e.response.status).toMatch(/^20[01]/);
    // Applied: both cases, with the first patient's other values; nothing of the bad entry is stored.
    expect(await skadeOf(a.id)).toMatchObject({ injury_energy: 'low' });
    expect((await skadeOf(a.id)).open_fracture).toBeUndefined();
    expect(await skadeOf(b.id)).toMatchObject({ open_fracture: false });
    expect(await stored(rkey)).toBe(false);

    // Logged: the message is kept (with its outcome, as a batch with a failed entry is), and the
    // failure is in the log by location and rule, without values.
    const [row] = await q('SELECT status, outcome FROM inbox_message WHERE id = $1', [res.message]);
    expect(row.status).toBe('quarantined');
    expect(row.outcome.body.entry[bad].response.status).toMatch(/^422/);
    const line = logged.find((l) => l.messageId === res.message && l.msg === 'entries not accepted');
    expect(line).toBeDefined();
    expect(JSON.stringify(line)).toContain(`Bundle.entry[${bad}].resource.effectiveDateTime`);
    expect(JSON.stringify(line)).not.toContain('2024-13-01');

    // The sender corrects the entry and sends the batch again: the entry is applied, the rest is a resend.
    const fixed = await post({ resourceType: 'Bundle', type: 'batch', entry: entries.map((e: any, i: number) => (i === bad ? good : e)) });
    expect(fixed.status).toBe(200);
    expect(fixed.body.entry[bad].response.status).toMatch(/^201/);
    expect(fixed.body.entry.every((e: any) => /^20[01]/.test(e.response.status))).toBe(true);
    expect(await stored(rkey)).toBe(true);
    expect(await skadeOf(a.id)).toMatchObject({ open_fracture: true, injury_energy: 'low' });
    const [again] = await q('SELECT status FROM inbox_message WHERE id = $1', [fixed.message]);
    expect(again.status).toBe('processed');
  });

  it('fails the resources of a Patient entry that is not valid FHIR R4 with it, and processes the other patient', async () => {
    const a = fracture(),
      b = fracture();
    const ea = ehrBundle(a, 'batch').entry,
      eb = ehrBundle(b, 'batch').entry;
    ea[0].resource.birthDate = 'not a date';
    const res = await post({ resourceType: 'Bundle', type: 'batch', entry: [...ea, ...eb] });
    expect(res.status).toBe(200);
    const statuses = res.body.entry.map((e: any) => e.response.status);
    expect(statuses.slice(0, ea.length).every((s: string) => s.startsWith('422'))).toBe(true);
    expect(statuses.slice(ea.length).every((s: string) => /^20[01]/.test(s))).toBe(true);
    expect(res.body.entry[0].response.outcome.issue.map((i: any) => i.expression?.[0])).toContain('Bundle.entry[0].resource.birthDate');
    expect(await skadeOf(a.id)).toBeUndefined();
    expect(await skadeOf(b.id)).toBeDefined();
  });
});

describe('a transaction Bundle with one entry that is not valid FHIR R4', () => {
  it('is refused whole, naming the element, and stores nothing of it', async () => {
    const { a, b, bad, rkey, bundle } = withOneBadEntry('transaction');
    const res = await post(bundle);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.map((i: any) => i.expression?.[0])).toContain(`Bundle.entry[${bad}].resource.effectiveDateTime`);
    expect(await skadeOf(a.id)).toBeUndefined();
    expect(await skadeOf(b.id)).toBeUndefined();
    expect(await stored(rkey)).toBe(false);
  });
});
