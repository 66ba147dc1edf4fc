// Retractions: a sending system takes back what it sent — a resource marked entered-in-error, or
// deleted by identifier — and everything that followed from it follows: the values leave their
// forms with a history that says why, a repeating instance goes, a case grown from it stops
// counting (routing decision, worklist, analytics), and a finalised form reopens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

async function post(body: unknown, token = t.tokens.ehr) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), message: Number(res.headers['x-kvalreg-message']) };
}
const api = (method: string, url: string, token: string, payload?: unknown) =>
  t.app.inject({ method: method as any, url, headers: { authorization: `Bearer ${token}` }, payload: payload as any });
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const CONDITION = 'Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|';
const PROCEDURE = 'urn:oid:2.16.578.1.12.4.1.999.2.procedure';
const caseOf = async (id: string) => (await q('SELECT id, invalid_reason FROM registry_case WHERE anchor_key = $1', [CONDITION + id]))[0];
const form = async (caseId: number, name: string, instance = '') =>
  (
    await q('SELECT status, data, provenance, missing FROM case_form WHERE case_id = $1 AND form = $2 AND instance = $3', [
      caseId,
      name,
      instance,
    ])
  )[0];

/** The planner's bundle with every Procedure marked entered-in-error (or only the one named). */
function withdrawn(bundle: Record<string, any>, only?: string) {
  return {
    ...bundle,
    entry: bundle.entry.map((e: any) =>
      !only || e.resource.identifier[0].value === only ? { ...e, resource: { ...e.resource, status: 'entered-in-error' } } : e,
    ),
  };
}
const deletion = (id: string) => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [{ request: { method: 'DELETE', url: `Procedure?identifier=${PROCEDURE}|${id}` } }],
});

describe('a sender takes back a Procedure', () => {
  it('marked entered-in-error: its values leave the form, the history says why, the finalised form reopens, the worklist and analytics follow', async () => {
    const f = fracture({ intent: 'operative', surgery: { start: '2024-03-02T09:00:00+01:00', ncsp: 'NCJ62' } });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await post(plannerBundle(f)!, t.tokens.planner)).status).toBe(200);
    const c = await caseOf(f.id);
    expect((await form(c.id, 'operasjon')).data).toMatchObject({
      surgery_datetime: '2024-03-02T08:00:00.000Z',
      surgery_procedure: 'NCJ62',
    });
    expect((await api('POST', `/api/registries/fracture/cases/${c.id}/forms/operasjon/finalise`, t.tokens.registrarSus)).statusCode).toBe(
      200,
    );
    await t.platform.analytics.refresh();
    expect((await q('SELECT surgery_datetime IS NOT NULL AS has FROM analytics.fracture WHERE case_id = $1', [c.id]))[0].has).toBe(true);

    const res = await post(withdrawn(plannerBundle(f)!), t.tokens.planner);
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toMatch(/entered-in-error: the values it gave are taken back/);
    const op = await form(c.id, 'operasjon');
    expect(op.data.surgery_datetime).toBeUndefined();
    expect(op.data.surgery_procedure).toBeUndefined();
    expect(op.status).toBe('reopened');
    // Operative intent without a surgery: on the worklist again.
    expect(op.missing).toEqual(['surgery_datetime']);
    const [h] = await q(
      `SELECT changes, source FROM value_history WHERE case_id = $1 AND form = 'operasjon' ORDER BY version DESC LIMIT 1`,
      [c.id],
    );
    expect(h.changes).toMatchObject({
      surgery_datetime: ['2024-03-02T08:00:00.000Z', null],
      surgery_procedure: ['NCJ62', null],
      $status: ['finalised', 'reopened'],
    });
    expect(h.source).toMatchObject({ kind: 'system', sender: 'sus-orbit', message: res.message });
    await t.platform.analytics.refresh();
    expect((await q('SELECT surgery_datetime IS NULL AS gone FROM analytics.fracture WHERE case_id = $1', [c.id]))[0].gone).toBe(true);
    // The same retraction again changes nothing.
    const again = await post(withdrawn(plannerBundle(f)!), t.tokens.planner);
    expect(JSON.stringify(again.body)).toMatch(/unchanged/);
    // Sent again as completed: the values come back.
    expect((await post(plannerBundle(f)!, t.tokens.planner)).status).toBe(200);
    expect((await form(c.id, 'operasjon')).data.surgery_datetime).toBe('2024-03-02T08:00:00.000Z');
  });

  it('deleted by identifier: a reoperation instance goes, resends and late replays change nothing, another system cannot delete it', async () => {
    const f = fracture({
      intent: 'operative',
      surgery: { start: '2024-03-02T09:00:00+01:00' },
      reoperations: [
        { id: '1', start: '2024-05-01T09:00:00+02:00', planned: false, cause: 'infection' },
        { id: '2', start: '2024-06-01T09:00:00+02:00', planned: true },
      ],
    });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await post(plannerBundle(f)!, t.tokens.planner)).status).toBe(200);
    const c = await caseOf(f.id);
    const instance = `Procedure|${PROCEDURE}|${f.id}-re-1`;
    expect((await form(c.id, 'reoperasjon', instance)).data.reoperation_cause).toBe('infection');

    // Only the sender may delete what it sent.
    const foreign = await post(deletion(`${f.id}-re-1`), t.tokens.ehr);
    expect(foreign.status).toBe(422);
    expect(JSON.stringify(foreign.body)).toMatch(/only its sender can delete it/);
    expect(await form(c.id, 'reoperasjon', instance)).toBeDefined();

    const del = await post(deletion(`${f.id}-re-1`), t.tokens.planner);
    expect(del.status).toBe(200);
    expect(del.body.entry[0].response.status).toBe('204 No Content');
    expect(await form(c.id, 'reoperasjon', instance)).toBeUndefined();
    expect(await form(c.id, 'reoperasjon', `Procedure|${PROCEDURE}|${f.id}-re-2`)).toBeDefined();
    const hist = await q(`SELECT changes, source FROM value_history WHERE case_id = $1 AND instance = $2 ORDER BY version DESC LIMIT 1`, [
      c.id,
      instance,
    ]);
    expect(hist[0].changes).toEqual({ $status: ['draft', 'deleted'] });
    expect(hist[0].source).toMatchObject({ sender: 'sus-orbit', message: del.message });
    // The stored content is gone; the row remembers the deletion.
    const [stored] = await q('SELECT resource, deleted_at IS NOT NULL AS deleted FROM source_resource WHERE rkey = $1', [instance]);
    expect(stored).toEqual({ resource: {}, deleted: true });

    expect(JSON.stringify((await post(deletion(`${f.id}-re-1`), t.tokens.planner)).body)).toMatch(/already deleted/);
    expect(JSON.stringify((await post(deletion('never-sent'), t.tokens.planner)).body)).toMatch(/nothing is stored with this identifier/);
  });
});

describe('a sender takes back the fracture itself', () => {
  it('a Condition entered-in-error withdraws the case (routing decision, worklist, analytics) and a corrected resend restores it', async () => {
    const f = fracture({ intent: undefined });
    expect((await post(ehrBundle(f))).status).toBe(200);
    const c = await caseOf(f.id);
    const onWorklist = async () => {
      const res = await api('GET', '/api/registries/fracture/worklist?limit=1000', t.tokens.registrarSus);
      return (res.json().items as Array<{ caseId: number }>).some((i) => i.caseId === c.id);
    };
    expect(await onWorklist()).toBe(true);

    const b = ehrBundle(f);
    for (const e of b.entry)
      if (e.resource.resourceType === 'Condition') {
        e.resource.verificationStatus = {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }],
        };
      }
    expect((await post(b)).status).toBe(200);
    expect((await caseOf(f.id)).invalid_reason).toBe('entered-in-error');
    expect((await q('SELECT decision FROM routing_decision WHERE anchor_key = $1', [CONDITION + f.id]))[0].decision).toBe('retracted');
    expect(await onWorklist()).toBe(false);
    expect((await form(c.id, 'skade')).data.ao_code).toBeUndefined();
    await t.platform.analytics.refresh();
    expect(await q('SELECT 1 FROM analytics.fracture WHERE case_id = $1', [c.id])).toEqual([]);

    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await caseOf(f.id)).invalid_reason).toBeNull();
    expect((await q('SELECT decision FROM routing_decision WHERE anchor_key = $1', [CONDITION + f.id]))[0].decision).toBe('included');
    expect((await form(c.id, 'skade')).data.ao_code).toBe('2R3A2');
    await t.platform.analytics.refresh();
    expect(await q('SELECT 1 FROM analytics.fracture WHERE case_id = $1', [c.id])).toHaveLength(1);
  });
});
