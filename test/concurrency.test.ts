// Concurrency guarantees, tested the way a busy hospital breaks them (DESIGN decision 11): many
// messages about one patient at once, from the patient record and the operation planner, two
// versions of one resource racing, the same bundle resent in parallel, and an opt-out racing the
// patient's captures. Every message is posted through the real FHIR endpoint and processed by the
// real pipeline, on as many database connections as the test platform has.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle, SYS } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
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
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const CONDITION = 'Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|';

/** Runs the promises' factories in a shuffled order, all started before any is awaited. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 16807) % 2147483647;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('concurrent messages about one patient', () => {
  it('applies every acknowledged procedure when 50 fractures share one encounter and the planner sends at the same time (20 rounds)', async () => {
    const ROUNDS = Number(process.env.KVALREG_RACE_ROUNDS ?? 20),
      N = 50;
    let acknowledged = 0,
      lost = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const patient = nin('1961-02-0' + (1 + (round % 9)), round % 2 ? 'male' : 'female');
      const encounter = `enc-${Date.now().toString(36)}-${round}`;
      const specs = Array.from({ length: N }, (_, i) =>
        fracture({
          id: `r${round}x${i}-${Date.now().toString(36)}`,
          nin: patient,
          intent: 'operative',
          surgery: { start: '2024-03-02T09:00:00+01:00', ncsp: 'NCJ62' },
        }),
      );
      // One encounter for every fracture: the patient record sends it in each bundle, unchanged.
      const ehr = specs.map((f) => {
        const b = ehrBundle(f);
        for (const e of b.entry) if (e.resource.resourceType === 'Encounter') e.resource.identifier[0].value = encounter;
        return () => post(b);
      });
      const planner = specs.map((f) => () => post(plannerBundle(f)!, t.tokens.planner));
      const results = await Promise.all(shuffled([...ehr, ...planner], round + 1).map((send) => send()));
      expect(results.filter((r) => r.status !== 200).map((r) => JSON.stringify(r.body).slice(0, 300))).toEqual([]);
      acknowledged += N;
      const rows = await q(
        `SELECT c.anchor_key, f.data->>'surgery_datetime' AS surgery FROM registry_case c
        JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id AND f.form = 'operasjon'
        WHERE c.registry = 'fracture' AND c.anchor_key = ANY($1)`,
        [specs.map((f) => CONDITION + f.id)],
      );
      expect(rows).toHaveLength(N);
      lost += rows.filter((r) => r.surgery === null).length;
    }
    console.log(`shared-encounter race: ${ROUNDS} rounds, ${acknowledged} acknowledged procedures, ${lost} not applied`);
    expect(lost).toBe(0);
  }, 600_000);

  it("keeps the newest message's content when two versions of one resource arrive at once (100 trials)", async () => {
    const TRIALS = Number(process.env.KVALREG_RACE_TRIALS ?? 100);
    let wrong = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const f = fracture({ id: `v${trial}-${Date.now().toString(36)}`, intent: 'operative' });
      expect((await post(ehrBundle(f))).status).toBe(200);
      // Two corrections of the fracture's AO code sent at the same time: the one received last wins.
      const a = ehrBundle({ ...f, aoCode: '2R3A3' }),
        b = ehrBundle({ ...f, aoCode: '2R3C1' });
      const [ra, rb] = await Promise.all([post(a), post(b)]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
      const newest = ra.message > rb.message ? '2R3A3' : '2R3C1';
      const [row] = await q(
        `SELECT f.data->>'ao_code' AS ao, s.message_id FROM registry_case c
        JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id AND f.form = 'skade'
        JOIN source_resource s ON s.rkey = c.anchor_key WHERE c.anchor_key = $1`,
        [CONDITION + f.id],
      );
      if (row.ao !== newest || Number(row.message_id) !== Math.max(ra.message, rb.message)) wrong++;
    }
    console.log(`two-versions race: ${TRIALS} trials, older content kept in ${wrong}`);
    expect(wrong).toBe(0);
  }, 300_000);

  it('makes no new version when the same unchanged bundle is sent ten times at once', async () => {
    const f = fracture({ id: `same-${Date.now().toString(36)}`, intent: 'operative', surgery: { start: '2024-03-02T09:00:00+01:00' } });
    const results = await Promise.all(Array.from({ length: 10 }, () => post(ehrBundle(f))));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    const versions = await q(`SELECT rkey, version FROM source_resource WHERE rkey LIKE $1`, [`%|${f.id}`]);
    expect(versions.length).toBeGreaterThan(2);
    expect(versions.filter((v) => v.version !== 1)).toEqual([]);
    const [c] = await q('SELECT id FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id]);
    // One history row per form written when the case was created, none for the resends.
    const history = await q('SELECT form, count(*)::int AS n FROM value_history WHERE case_id = $1 GROUP BY form', [c.id]);
    expect(history.filter((h) => h.n !== 1)).toEqual([]);
  });
});

describe("an opt-out racing the patient's captures", () => {
  it('always completes and leaves nothing about the patient (20 rounds)', async () => {
    const ROUNDS = Number(process.env.KVALREG_RACE_ROUNDS ?? 20);
    for (let round = 0; round < ROUNDS; round++) {
      const patient = nin('1950-06-1' + (round % 10), 'female');
      const specs = Array.from({ length: 30 }, (_, i) =>
        fracture({
          id: `o${round}x${i}-${Date.now().toString(36)}`,
          nin: patient,
          intent: 'operative',
          surgery: { start: '2024-03-02T09:00:00+01:00' },
        }),
      );
      // A few cases exist already; the rest arrive while the patient opts out.
      for (const f of specs.slice(0, 3)) expect((await post(ehrBundle(f))).status).toBe(200);
      const captures = specs.slice(3).flatMap((f) => [() => post(ehrBundle(f)), () => post(plannerBundle(f)!, t.tokens.planner)]);
      const optOut = async () =>
        t.app.inject({
          method: 'POST',
          url: '/api/reservations',
          headers: { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ system: SYS.fnr, value: patient }),
        });
      const all = [...captures.slice(0, 20), optOut, ...captures.slice(20)];
      const results = await Promise.all(all.map((send) => send()));
      const reservation = results[20] as Awaited<ReturnType<typeof optOut>>;
      expect(reservation.statusCode, reservation.body).toBe(201);
      // Each capture was either processed before the opt-out (then removed by it), refused because
      // of it (403), or removed by it while waiting to be processed (410: nothing of it is kept).
      for (const r of results) if (r !== reservation) expect([200, 403, 410]).toContain((r as { status: number }).status);
      // Nothing about the patient remains: no person, no case, no captured resource, no raw body.
      const left = await q(
        `SELECT (SELECT count(*) FROM registry_case WHERE anchor_key = ANY($1))::int AS cases,
        (SELECT count(*) FROM source_resource WHERE rkey LIKE ANY($2))::int AS resources`,
        [specs.map((f) => CONDITION + f.id), specs.map((f) => `%|${f.id}%`)],
      );
      expect(left[0]).toEqual({ cases: 0, resources: 0 });
      const bodies = await q(`SELECT count(*)::int AS n FROM inbox_message WHERE body_enc IS NOT NULL AND id = ANY($1)`, [
        results.filter((r) => r !== reservation).map((r) => (r as { message: number }).message),
      ]);
      expect(bodies[0].n).toBe(0);
    }
  }, 300_000);
});

describe('kvalreg capture relink', () => {
  it('restores a value captured but never linked to its case, and leaves what a registrar changed', async () => {
    const f = fracture({
      id: `relink-${Date.now().toString(36)}`,
      intent: 'operative',
      surgery: { start: '2024-03-02T09:00:00+01:00', ncsp: 'NCJ62' },
    });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await post(plannerBundle(f)!, t.tokens.planner)).status).toBe(200);
    const [c] = await q('SELECT id, person_id FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id]);
    // What the race left before the fix: the Procedure stored and acknowledged, its values in no
    // form and no history (done here as the database owner).
    await q(
      `UPDATE case_form SET data = data - 'surgery_datetime' - 'surgery_procedure', provenance = provenance - 'surgery_datetime' - 'surgery_procedure'
      WHERE case_id = $1 AND form = 'operasjon'`,
      [c.id],
    );
    await q(
      `UPDATE value_history SET changes = changes - 'surgery_datetime' - 'surgery_procedure' WHERE case_id = $1 AND form = 'operasjon'`,
      [c.id],
    );
    // A value a registrar removed has history: relinking must not bring it back.
    await q(`UPDATE case_form SET data = data - 'side' WHERE case_id = $1 AND form = 'skade'`, [c.id]);

    const { relink } = await import('../src/capture/relink.ts');
    const dry = await relink(t.platform.data, t.platform.registries, { personIds: [Number(c.person_id)], dryRun: true });
    expect(dry.restored).toBe(2);
    expect(
      (await q(`SELECT data FROM case_form WHERE case_id = $1 AND form = 'operasjon'`, [c.id]))[0].data.surgery_datetime,
    ).toBeUndefined();
    const done = await relink(t.platform.data, t.platform.registries, { personIds: [Number(c.person_id)] });
    expect(done).toMatchObject({ restored: 2, byVariable: { 'fracture.surgery_datetime': 1, 'fracture.surgery_procedure': 1 } });
    const [op] = await q(`SELECT data, provenance FROM case_form WHERE case_id = $1 AND form = 'operasjon'`, [c.id]);
    expect(op.data).toMatchObject({ surgery_datetime: '2024-03-02T08:00:00.000Z', surgery_procedure: 'NCJ62' });
    expect(op.provenance.surgery_datetime).toMatchObject({ kind: 'system', sender: 'sus-orbit', repair: 'relink' });
    expect((await q(`SELECT data FROM case_form WHERE case_id = $1 AND form = 'skade'`, [c.id]))[0].data.side).toBeUndefined();
    // Run again: nothing left to restore.
    expect((await relink(t.platform.data, t.platform.registries, { personIds: [Number(c.person_id)] })).restored).toBe(0);
  });
});
