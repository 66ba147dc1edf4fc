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
}, 300_000);
afterAll(async () => {
  await t?.close();
});

/**
 * The fracture register without its PROM result variables (the last derived ones, read from
 * prom_item in JavaScript only): the part of its codebook that goes set-based, compared both ways.
 * The register itself is refreshed the JavaScript way since it reads PROM results.
 */
function setBased(): ReturnType<TestPlatform['platform']['registry']> & object {
  const r = t.platform.registry('fracture')!;
  const first = r.derived.findIndex((d) => d.prom);
  return first < 0 ? r : { ...r, derived: r.derived.slice(0, first) };
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
  it('the fracture codebook goes set-based but for its PROM results, so the register is refreshed the JavaScript way; so is the trauma register (its own score functions); each says why', () => {
    expect(sqlRowsPlan(setBased()).ok).toBe(true);
    const fracture = sqlRowsPlan(t.platform.registry('fracture')!);
    expect(fracture.ok).toBe(false);
    if (!fracture.ok) expect(fracture.reason).toMatch(/reads PROM results/);
    const trauma = sqlRowsPlan(t.platform.registry('trauma')!);
    expect(trauma.ok).toBe(false);
    if (!trauma.ok) expect(trauma.reason).toMatch(/function "\w+" cannot be used/);
    expect(t.platform.analytics.way('fracture')).toBe('js');
    expect(t.platform.analytics.way('trauma')).toBe('js');
  });

  it('every case gives the same row both ways, column by column', async () => {
    const { rows, differ } = await compare();
    expect(rows).toBeGreaterThan(350);
    expect(differ).toEqual([]);
  });

  it('the refresher stored exactly the JavaScript rows', async () => {
    await t.platform.analytics.refresh();
    const registry = t.platform.registry('fracture')!;
    const ids = (await t.platform.db.pool.query(`SELECT id FROM registry_case WHERE registry = 'fracture'`)).rows.map((r) => Number(r.id));
    const db = await t.platform.db.pool.connect();
    try {
      const records = await recordsJs(db, registry, ids);
      const names = [
        'case_id',
        'person_id',
        'unit_resh',
        'unit_path',
        'finalised',
        'complete',
        'case_created_at',
        'event_key',
        ...analyticsColumns(registry).map((c) => c.name),
      ];
      const types = new Map([
        ['case_id', 'bigint'],
        ['person_id', 'bigint'],
        ['unit_resh', 'text'],
        ['unit_path', 'text[]'],
        ['finalised', 'boolean'],
        ['complete', 'boolean'],
        ['case_created_at', 'timestamptz'],
        ['event_key', 'text'],
        ...analyticsColumns(registry).map((c) => [c.name, c.sql] as const),
      ]);
      const { rows } = await db.query(
        `SELECT count(*) AS n FROM (
          (SELECT ${names.map((n) => `"${n}"`).join(', ')} FROM jsonb_to_recordset($1::jsonb) AS r(${names.map((n) => `"${n}" ${types.get(n)}`).join(', ')})
           EXCEPT SELECT ${names.map((n) => `"${n}"`).join(', ')} FROM ${analyticsTable(registry)})
          UNION ALL
          (SELECT ${names.map((n) => `"${n}"`).join(', ')} FROM ${analyticsTable(registry)}
           EXCEPT SELECT ${names.map((n) => `"${n}"`).join(', ')} FROM jsonb_to_recordset($1::jsonb) AS r(${names.map((n) => `"${n}" ${types.get(n)}`).join(', ')}))) d`,
        [JSON.stringify(records)],
      );
      expect(Number(rows[0].n)).toBe(0);
      expect(records.length).toBe(Number((await db.query(`SELECT count(*) FROM ${analyticsTable(registry)}`)).rows[0].count));
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
