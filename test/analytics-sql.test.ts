// The analytics rows computed set-based in SQL (src/analytics/sql-rows.ts) are the rows the
// JavaScript evaluation gives (refresh.ts `recordsJs`, records/evaluate.ts), column by column, as
// PostgreSQL stores them: on captured synthetic fractures, hand-built edge cases, and forms edited
// behind the pipeline's back (blanks, JSON nulls, missing keys and forms, repeating instances with
// unknown values, finalised and draft, persons without birth date or sex, cases without a unit).
// Values keep their declared types, as every write path makes them (registry/values.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle, type FractureSpec } from '../registries/fracture/bundles.ts';
import { captureSample } from '../bench/sample.ts';
import { recordsJs } from '../src/analytics/refresh.ts';
import { analyticsColumns, analyticsTable } from '../src/analytics/columns.ts';
import { sqlRowsPlan } from '../src/analytics/sql-rows.ts';
import { osloDate } from '../src/time/oslo.ts';
import { storedAgainstComputed } from './helpers/analytics-rows.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const at = (date: string, time = '10:00') => `${date}T${time}:00+01:00`;

const send = async (f: FractureSpec) => {
  for (const [token, bundle] of [
    [t.tokens.ehr, ehrBundle(f)],
    [t.tokens.planner, plannerBundle(f)],
  ] as const) {
    if (!bundle) continue;
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(bundle),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
  }
};

beforeAll(async () => {
  t = await testPlatform();
  await captureSample(t.platform, { fractures: 400, years: 3 });
  const edges: FractureSpec[] = [
    fracture({ nin: nin('2006-03-01'), injuryDateTime: at('2024-03-01'), firstContact: at('2024-03-01', '23:59') }), // 18 on the day
    fracture({ nin: nin('1956-02-29'), injuryDateTime: at('2024-02-28') }), // born on 29 February
    fracture({
      setting: 'AMB',
      intent: undefined,
      aoCode: '2R3A2.1',
      surgery: { start: at('2024-03-02', '01:30') },
      failedConservative: true,
      reoperations: [
        { id: '1', start: at('2024-05-01'), planned: false, cause: 'infection' },
        { id: '2', start: at('2024-06-01'), planned: true },
        { id: '3', start: at('2024-07-01'), planned: false },
      ],
    }),
    fracture({ nin: nin('1930-01-01', 'male'), deceasedDate: '2024-03-31', injuryDateTime: at('2024-03-01', '00:30') }), // day 30, just after midnight
    fracture({
      open: true,
      energy: 'high',
      aoCode: '15.2A',
      injuryDateTime: '2024-10-27T02:30:00+02:00',
      firstContact: '2024-10-27T02:10:00+01:00',
    }), // summer time ends
  ];
  for (const f of edges) await send(f);
  // Forms as capture never writes them: the JavaScript evaluation and SQL must still agree.
  const db = t.platform.db.pool;
  const ids = (await db.query(`SELECT id FROM registry_case WHERE registry = 'fracture' ORDER BY id`)).rows.map((r) => Number(r.id));
  const some = (k: number) => ids.filter((_, i) => i % 17 === k);
  await db.query(
    `UPDATE case_form SET data = data || '{"injury_energy": ""}' WHERE registry = 'fracture' AND form = 'skade' AND case_id = ANY($1)`,
    [some(0)],
  );
  await db.query(`UPDATE case_form SET data = data - 'ao_code' WHERE registry = 'fracture' AND form = 'skade' AND case_id = ANY($1)`, [
    some(1),
  ]);
  await db.query(
    `UPDATE case_form SET data = data || '{"first_contact_datetime": null, "care_setting": null}' WHERE registry = 'fracture' AND form = 'skade' AND case_id = ANY($1)`,
    [some(2)],
  );
  await db.query(
    `UPDATE case_form SET data = data || '{"treatment_intent": "", "antibiotic_prophylaxis": null}' WHERE registry = 'fracture' AND form = 'behandling' AND case_id = ANY($1)`,
    [some(3)],
  );
  await db.query(
    `UPDATE case_form SET data = data || '{"ao_code": "", "open_fracture": true, "injury_date": null}' WHERE registry = 'fracture' AND form = 'skade' AND case_id = ANY($1)`,
    [some(4)],
  );
  await db.query(`UPDATE case_form SET status = 'finalised' WHERE registry = 'fracture' AND case_id = ANY($1)`, [some(5)]);
  await db.query(`UPDATE case_form SET status = 'finalised' WHERE registry = 'fracture' AND form = 'skade' AND case_id = ANY($1)`, [
    some(6),
  ]);
  await db.query(
    `INSERT INTO case_form (registry, case_id, form, instance, data) SELECT 'fracture', id, 'reoperasjon', 'x' || id, $2::jsonb FROM unnest($1::bigint[]) id
    ON CONFLICT DO NOTHING`,
    [some(7), JSON.stringify({ reoperation_planned: null, reoperation_cause: 'nonunion' })],
  );
  await db.query(
    `INSERT INTO case_form (registry, case_id, form, instance, data) SELECT 'fracture', id, 'reoperasjon', 'y' || id, $2::jsonb FROM unnest($1::bigint[]) id
    ON CONFLICT DO NOTHING`,
    [some(8), JSON.stringify({ reoperation_planned: false, reoperation_cause: '', reoperation_datetime: '2001-01-01T00:00:00.000Z' })],
  );
  await db.query(`DELETE FROM case_form WHERE registry = 'fracture' AND form <> 'skade' AND case_id = ANY($1)`, [some(9)]);
  await db.query(`DELETE FROM case_form WHERE registry = 'fracture' AND case_id = ANY($1)`, [some(10)]);
  await db.query(`UPDATE person SET sex = NULL WHERE id IN (SELECT person_id FROM registry_case WHERE id = ANY($1))`, [some(11)]);
  await db.query(
    `UPDATE person SET birth_date = NULL, deceased_date = '2024-01-01' WHERE id IN (SELECT person_id FROM registry_case WHERE id = ANY($1))`,
    [some(12)],
  );
  await db.query(`UPDATE registry_case SET unit_resh = NULL WHERE id = ANY($1)`, [some(13)]);
  await db.query(
    `UPDATE case_form SET data = data || '{"surgery_datetime": "2019-06-30T22:00:00.000Z"}' WHERE registry = 'fracture' AND form = 'operasjon' AND case_id = ANY($1)`,
    [some(14)],
  );
  await promEdges(ids);
}, 300_000);

/**
 * PROM results as the schedule, the patients and a retraction could leave them, and worse, for
 * most cases (seeded, so a failure can be replayed): at each time point none, one or several of
 * the instruments the `prom` variables list, in random status; completed, draft or deleted
 * (retracted) answers; scores with the named score, another, a JSON null or none, a direction or
 * none, an answer time just either side of midnight in Oslo or none; a second schedule asking the
 * same instrument at the same time point (the first by schedule counts); PROM items of cases the
 * variables do not read.
 */
async function promEdges(ids: number[]): Promise<void> {
  const db = t.platform.db.pool;
  let seed = 15;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const persons = new Map(
    (await db.query(`SELECT id, person_id FROM registry_case WHERE id = ANY($1)`, [ids])).rows.map((r) => [
      Number(r.id),
      Number(r.person_id),
    ]),
  );
  const instruments = ['eq5d5l', 'prwhe', 'quickdash', 'moxfq', 'koos', 'hoos', 'anchor'] as const;
  const scoreNames = ['index', 'total', 'disability', 'qol', 'pain', 'vas'];
  const statuses = ['pending', 'invited', 'answered', 'answered', 'answered', 'expired', 'cancelled'];
  const items: unknown[] = [];
  const responses: Array<{ key: string; person: number; instrument: string; status: string; scores: unknown; answeredAt: string | null }> =
    [];
  const score = () => {
    const s: Record<string, unknown> = {};
    const r = random();
    if (r < 0.05) return null; // no scores computed
    if (r < 0.1) return {};
    for (const name of scoreNames) {
      if (random() < 0.25) continue;
      const v = random();
      s[name] = {
        ...(v < 0.1 ? {} : { value: v < 0.2 ? null : Math.round(random() * 10000) / 100 - (v < 0.3 ? 50 : 0) }),
        ...(random() < 0.85 ? { direction: pick(['higher-is-better', 'higher-is-worse']) } : {}),
      };
    }
    return s;
  };
  // Answered just either side of midnight in Oslo, in winter and summer time, or at noon.
  const answeredAt = () =>
    pick([
      null,
      '2024-01-15T22:59:59.999Z',
      '2024-01-15T23:00:00Z',
      '2024-07-01T21:59:59Z',
      '2024-07-01T22:00:00Z',
      '2023-03-10T11:00:00Z',
    ]);
  for (const id of ids) {
    if (random() < 0.15) continue; // no PROM items at all
    for (const timepoint of ['baseline', 'w6', 'm12', 'm3']) {
      if (random() < 0.2) continue;
      const asked = instruments.filter(() => random() < 0.35);
      for (const instrument of asked) {
        for (const schedule of random() < 0.15 ? ['followup', 'a-second'] : ['followup']) {
          const status = pick(statuses);
          let response: string | null = null;
          if (status === 'answered' || random() < 0.1) {
            const r = random();
            // completed; a draft (begun, not sent); retracted (the response deleted: response_id set null)
            const kind = r < 0.7 ? 'completed' : r < 0.85 ? 'draft' : 'retracted';
            response = `edge-${id}-${timepoint}-${instrument}-${schedule}`;
            responses.push({
              key: response,
              person: persons.get(id)!,
              instrument,
              status: kind === 'draft' ? 'draft' : 'completed',
              scores: score(),
              answeredAt: answeredAt(),
            });
            if (kind === 'retracted') responses[responses.length - 1].status = 'retracted';
          }
          items.push({ case_id: id, person_id: persons.get(id)!, schedule, timepoint, instrument, status, response });
        }
      }
    }
  }
  await db.query(
    `INSERT INTO prom_response (person_id, instrument, instrument_version, status, scores, answered_at, provenance, source_key)
     SELECT r.person, r.instrument, '1', CASE WHEN r.status = 'draft' THEN 'draft' ELSE 'completed' END, r.scores, r."answeredAt", '{"kind": "import"}', r.key
     FROM jsonb_to_recordset($1::jsonb) AS r(key text, person bigint, instrument text, status text, scores jsonb, "answeredAt" timestamptz)`,
    [JSON.stringify(responses)],
  );
  await db.query(
    `INSERT INTO prom_item (registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, status, response_id)
     SELECT 'fracture', i.case_id, i.schedule, i.timepoint, i.instrument, i.person_id, 'current', '2024-01-01', '2024-01-01', '2024-02-01', i.status,
       (SELECT id FROM prom_response WHERE source_key = i.response)
     FROM jsonb_to_recordset($1::jsonb) AS i(case_id bigint, person_id bigint, schedule text, timepoint text, instrument text, status text, response text)
     ON CONFLICT (registry, case_id, schedule, timepoint, instrument) DO UPDATE
       SET status = EXCLUDED.status, response_id = EXCLUDED.response_id`,
    [JSON.stringify(items)],
  );
  // A clinic's own follow-up (party: clinic) on some cases, answered: never the registry's data.
  await db.query(
    `INSERT INTO prom_item (registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, status, response_id, party)
     SELECT i.registry, i.case_id, 'clinic-own', i.timepoint, i.instrument, i.person_id, i.recall, i.due_date, i.opens_on, i.closes_on, 'answered', i.response_id, 'clinic'
     FROM prom_item i WHERE i.registry = 'fracture' AND i.response_id IS NOT NULL AND i.case_id % 5 = 0
     ON CONFLICT DO NOTHING`,
  );
  // Retracted answers: the response is gone, the item keeps its status (ON DELETE SET NULL).
  await db.query(`DELETE FROM prom_response WHERE source_key = ANY($1)`, [
    responses.filter((r) => r.status === 'retracted').map((r) => r.key),
  ]);
  // A score that JSON holds as 0 or false, and scores that are not an object: falsy or odd for JavaScript.
  const odd = ids.filter((_, i) => i % 23 === 0);
  await db.query(
    `UPDATE prom_response r SET scores = (ARRAY['0', 'false', '""', 'null', '[]', '{"index": 3}', '{"index": {"value": 0}}', '{"qol": {"value": 0, "direction": null}}']::jsonb[])[1 + (r.id % 8)]
     WHERE r.id IN (SELECT response_id FROM prom_item WHERE case_id = ANY($1))`,
    [odd],
  );
}
afterAll(async () => {
  await t?.close();
});

/** The fracture register, PROM result variables and all: it goes set-based, compared both ways. */
function setBased(): ReturnType<TestPlatform['platform']['registry']> & object {
  return t.platform.registry('fracture')!;
}

/** The JavaScript rows of every case as the table would store them, beside the set-based ones: rows that differ, both ways. */
async function compare(): Promise<{ rows: number; differ: unknown[] }> {
  const registry = setBased();
  const plan = sqlRowsPlan(registry);
  if (!plan.ok) throw new Error(plan.reason);
  const db = await t.platform.db.pool.connect();
  try {
    await db.query('BEGIN');
    const ids = (await db.query(`SELECT id FROM registry_case WHERE registry = 'fracture'`)).rows.map((r) => Number(r.id));
    const records = await recordsJs(db, registry, ids);
    const columns = analyticsColumns(registry);
    const names = plan.plan.names;
    const types = [
      'bigint',
      'bigint',
      'text',
      'text[]',
      'boolean',
      'boolean',
      'timestamptz',
      'timestamptz',
      'text',
      ...columns.map((c) => c.sql),
    ];
    // data_updated_at: the JavaScript way keeps milliseconds.
    const list = (alias: string) =>
      names.map((n) => (n === 'data_updated_at' ? `date_trunc('milliseconds', ${alias}."${n}") AS "${n}"` : `${alias}."${n}"`)).join(', ');
    await db.query(
      `CREATE TEMP TABLE js_rows ON COMMIT DROP AS SELECT ${list('r')} FROM jsonb_to_recordset($1::jsonb) AS r(${names.map((n, i) => `"${n}" ${types[i]}`).join(', ')})`,
      [JSON.stringify(records)],
    );
    await db.query(`CREATE TEMP TABLE sql_rows ON COMMIT DROP AS SELECT ${list('s')} FROM (${plan.plan.select(true)}) s`, [
      'fracture',
      ids,
      osloDate(new Date().toISOString()),
      ...plan.plan.values,
    ]);
    // Per case, each column that differs, with both values (JavaScript / SQL).
    const differ = (
      await db.query(`SELECT coalesce(j.case_id, s.case_id) AS case_id, array_remove(ARRAY[${names.map((n) => `CASE WHEN j."${n}" IS DISTINCT FROM s."${n}" THEN '${n}: ' || coalesce(j."${n}"::text, '∅') || ' / ' || coalesce(s."${n}"::text, '∅') END`).join(', ')}], NULL) AS columns
      FROM js_rows j FULL JOIN sql_rows s ON s.case_id = j.case_id
      WHERE (j.*) IS DISTINCT FROM (s.*) ORDER BY 1 LIMIT 8`)
    ).rows;
    const rows = Number((await db.query('SELECT count(*) FROM sql_rows')).rows[0].count);
    if (process.env.DEBUG_ROWS) {
      const { evaluateCase } = await import('../src/records/evaluate.ts');
      for (const d of differ.slice(0, 3)) {
        const forms = (await db.query('SELECT form, instance, status, data FROM case_form WHERE case_id = $1', [d.case_id])).rows;
        const person = (
          await db.query(
            'SELECT birth_date::text, sex, deceased_date::text FROM person WHERE id = (SELECT person_id FROM registry_case WHERE id = $1)',
            [d.case_id],
          )
        ).rows[0];
        console.log(JSON.stringify({ d, forms, person, ev: [...evaluateCase(registry, person, forms).forms] }, null, 1));
      }
    }
    return { rows, differ };
  } finally {
    await db.query('ROLLBACK');
    db.release();
  }
}

describe('analytics rows, set-based and in JavaScript', () => {
  it('the whole fracture codebook goes set-based, its PROM results and parameters too; the trauma register (its own score functions) goes the JavaScript way and says why', () => {
    const fracture = sqlRowsPlan(t.platform.registry('fracture')!);
    expect(fracture.ok ? 'ok' : fracture.reason).toBe('ok');
    expect(t.platform.registry('fracture')!.derived.filter((d) => d.prom).length).toBeGreaterThan(5);
    const trauma = sqlRowsPlan(t.platform.registry('trauma')!);
    expect(trauma.ok).toBe(false);
    if (!trauma.ok) expect(trauma.reason).toMatch(/function "\w+" cannot be used/);
    expect(t.platform.analytics.way('fracture')).toBe('sql');
    // The statement is the same however often it is asked for (its parameters collected once).
    if (fracture.ok) {
      const [sql, values] = [fracture.plan.select(true), fracture.plan.values.length];
      expect(fracture.plan.select(true)).toBe(sql);
      expect(fracture.plan.values.length).toBe(values);
    }
    expect(t.platform.analytics.way('trauma')).toBe('js');
  });

  it('the PROM edge cases are there to compare: values of every kind in both ways', async () => {
    const registry = t.platform.registry('fracture')!;
    const db = await t.platform.db.pool.connect();
    try {
      const ids = (await db.query(`SELECT id FROM registry_case WHERE registry = 'fracture'`)).rows.map((r) => Number(r.id));
      const records = await recordsJs(db, registry, ids);
      const seen = (name: string) => new Set(records.map((r) => (r[name] === null ? null : typeof r[name])));
      // Scores known and unknown, several instruments, statuses, directions, derived values from them.
      for (const name of ['prom_w6_eq5d_index', 'prom_m12_region_score', 'prom_region_change_w6_m12', 'prom_m12_improved'])
        expect(seen(name), name).toEqual(new Set([null, name === 'prom_m12_improved' ? 'boolean' : 'number']));
      expect(new Set(records.map((r) => r.prom_m12_status))).toEqual(
        new Set([null, 'pending', 'invited', 'answered', 'expired', 'cancelled']),
      );
      expect(new Set(records.map((r) => r.prom_region_direction))).toEqual(new Set([null, 'higher-is-better', 'higher-is-worse']));
      expect(new Set(records.map((r) => r.prom_region_instrument)).size).toBeGreaterThan(4);
    } finally {
      db.release();
    }
  });

  it('every case gives the same row both ways, column by column', async () => {
    const { rows, differ } = await compare();
    expect(rows).toBeGreaterThan(350);
    expect(differ).toEqual([]);
  });

  it('the refresher stored exactly the JavaScript rows', async () => {
    await t.platform.analytics.refresh();
    const db = await t.platform.db.pool.connect();
    try {
      const { differ, computed, stored } = await storedAgainstComputed(db, t.platform.registry('fracture')!);
      expect(differ).toBe(0);
      expect(computed).toBe(stored);
    } finally {
      db.release();
    }
  });
  it('a value stored against its declared type (behind every write path): the set-based statement refuses it, the refresh goes on and stores the JavaScript row', async () => {
    const registry = setBased();
    const db = t.platform.db.pool;
    const {
      rows: [c],
    } = await db.query(`SELECT case_id FROM case_form WHERE registry = 'fracture' AND form = 'skade' ORDER BY case_id LIMIT 1`);
    // A yes/no answered in words: JavaScript reads it as unknown (refresh.ts typed), PostgreSQL refuses the cast.
    await db.query(
      `UPDATE case_form SET data = data || '{"open_fracture": "perhaps"}' WHERE registry = 'fracture' AND form = 'skade' AND case_id = $1`,
      [c.case_id],
    );
    await db.query(`INSERT INTO analytics_change (registry, case_id) VALUES ('fracture', $1)`, [c.case_id]);
    // The set-based way refuses the value outright.
    const plan = sqlRowsPlan(registry);
    if (!plan.ok) throw new Error(plan.reason);
    await expect(
      db.query(plan.plan.select(true), ['fracture', [Number(c.case_id)], osloDate(new Date().toISOString()), ...plan.plan.values]),
    ).rejects.toThrow(/boolean/);
    const [done] = await t.platform.analytics.refresh();
    expect(done.rows).toBe(1);
    expect(Number((await db.query(`SELECT count(*) FROM analytics_change WHERE registry = 'fracture'`)).rows[0].count)).toBe(0);
    const client = await db.connect();
    try {
      const [js] = await recordsJs(client, registry, [Number(c.case_id)]);
      const {
        rows: [stored],
      } = await client.query(`SELECT open_fracture, complete FROM ${analyticsTable(registry)} WHERE case_id = $1`, [c.case_id]);
      expect(stored.open_fracture).toBeNull();
      expect(js.open_fracture).toBeNull();
      expect(stored.complete).toBe(js.complete);
    } finally {
      client.release();
    }
  });
});

describe('a PROM score that is not a number', () => {
  it('is refused by the set-based statement (as a form value of the wrong type is); the refresh goes on and stores the JavaScript row', async () => {
    const registry = t.platform.registry('fracture')!;
    const db = t.platform.db.pool;
    const {
      rows: [item],
    } = await db.query(
      `SELECT i.case_id, i.response_id FROM prom_item i JOIN prom_response r ON r.id = i.response_id AND r.status = 'completed'
       JOIN ${analyticsTable(registry)} a ON a.case_id = i.case_id AND a.prom_w6_eq5d_index IS NOT NULL
       WHERE i.registry = 'fracture' AND i.timepoint = 'w6' AND i.instrument = 'eq5d5l' AND i.status = 'answered'
       ORDER BY i.case_id DESC LIMIT 1`,
    );
    // Written behind every write path: the scoring stores numbers (src/prom).
    await db.query(`UPDATE prom_response SET scores = '{"index": {"value": "0.5"}}' WHERE id = $1`, [item.response_id]);
    await db.query(`INSERT INTO analytics_change (registry, case_id) VALUES ('fracture', $1)`, [item.case_id]);
    const plan = sqlRowsPlan(registry);
    if (!plan.ok) throw new Error(plan.reason);
    await expect(
      db.query(plan.plan.select(true), ['fracture', [Number(item.case_id)], osloDate(new Date().toISOString()), ...plan.plan.values]),
    ).rejects.toThrow(/refused: a PROM score of type string/);
    const [done] = await t.platform.analytics.refresh();
    expect(done.rows).toBe(1);
    const {
      rows: [stored],
    } = await db.query(`SELECT prom_w6_eq5d_index FROM ${analyticsTable(registry)} WHERE case_id = $1`, [item.case_id]);
    expect(stored.prom_w6_eq5d_index).toBeNull();
    const client = await db.connect();
    try {
      const [js] = await recordsJs(client, registry, [Number(item.case_id)]);
      expect(js.prom_w6_eq5d_index).toBeNull();
    } finally {
      client.release();
    }
  });
});
