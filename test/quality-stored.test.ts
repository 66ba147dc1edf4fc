// The data-quality outcomes stored in each analytics row (quality/stored.ts) must count exactly
// what evaluating every check on every case counts (measures.ts, the way before them). Shown the
// hard way: every column of the analytics table overwritten with random values as the table's
// owner — missing, "unknown" codes, codes of no list, values out of range and implausible, dates
// on both sides of the computation date (times at Oslo's midnight) — so that the generated
// columns are recomputed by PostgreSQL and every branch of every check is taken; then both ways
// compared, count for count, for both datasets and for computation dates before, within and after
// the data, on both registries. A rule and a requirement using `today()` (added to the codebook
// here) cannot be stored and are counted when read, in the same statement; the trauma register is
// measured without timeliness (its quality.yaml's block removed here), the statement's other shape.
// Last, a table built by another layout is rebuilt with its rows, and no indicator result moves.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyticsColumns, analyticsTable } from '../src/analytics/columns.ts';
import { measure, type Measured } from '../src/quality/measures.ts';
import { storedOutcomes } from '../src/quality/stored.ts';
import { captureSample } from '../bench/sample.ts';
import { sendTrauma } from './helpers/capture.ts';
import { nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let registriesDir: string;

beforeAll(async () => {
  registriesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-registries-'));
  fs.cpSync(path.resolve('registries'), registriesDir, { recursive: true });
  const codebook = path.join(registriesDir, 'fracture', 'codebook.yaml');
  fs.writeFileSync(
    codebook,
    fs.readFileSync(codebook, 'utf8').replace(
      /^rules:\n/m,
      `rules:
  - id: injury-within-a-year-of-today
    assert: "days(injury_date, today()) <= 365"
    variables: [injury_date]
    message: { nb: Skadedatoen er over et år gammel., en: The date of injury is more than a year old. }
`,
    ),
  );
  // A requirement using today(): a completeness check counted when read.
  const withToday = fs
    .readFileSync(codebook, 'utf8')
    .replace('required: "present(surgery_datetime)"', 'required: "present(surgery_datetime) && days(injury_date, today()) >= 0"');
  expect(withToday).toContain('today()) >= 0');
  fs.writeFileSync(codebook, withToday);
  // The trauma register without timeliness: the stored way's statement without the days' grouping sets.
  const traumaQuality = path.join(registriesDir, 'trauma', 'quality.yaml');
  const noTimeliness = fs.readFileSync(traumaQuality, 'utf8').replace(/^timeliness:\n(?: {2}.*\n)+/m, '');
  expect(noTimeliness).not.toContain('registrationDays');
  fs.writeFileSync(traumaQuality, noTimeliness);
  t = await testPlatform({ KVALREG_REGISTRIES_DIR: registriesDir });
  await captureSample(t.platform, { fractures: 60, years: 2 });
  // Trauma: integer variables with hard and plausible ranges, and more dates than the fracture register.
  for (let i = 0; i < 16; i++) {
    const day = `2024-0${1 + (i % 6)}-${String(10 + i).padStart(2, '0')}`;
    const res = await sendTrauma(t, {
      id: `stored-${i}`,
      nin: nin(`19${String(30 + i).padStart(2, '0')}-03-0${1 + (i % 9)}`, i % 2 ? 'male' : 'female'),
      unitResh: '8201102',
      arrival: `${day}T10:00:00+02:00`,
      traumaTeam: i % 3 !== 0,
      accident: { at: `${day}T09:20:00+02:00` },
      mechanism: 'fall_high',
      intention: 'accident',
      injuryType: 'blunt',
      arrivalVitals: { gcs: 3 + (i % 13), sbp: 60 + 10 * i, rr: 8 + i },
      ais: ['853000.3'],
      discharge: { at: `${day.slice(0, 8)}28T10:00:00+02:00`, disposition: 'home' },
    });
    expect(res.statusCode, res.body).toBe(200);
  }
  await t.platform.analytics.refresh();
}, 180_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(registriesDir, { recursive: true, force: true });
});

/** A Measured as plain data, without when and how long. */
function plain(m: Measured): unknown {
  const units = [...m.byUnit.entries()]
    .map(([unit, years]) => [
      unit,
      [...years.entries()]
        .map(([year, u]) => [
          year,
          u.cases,
          [...u.checks.entries()].sort(([a], [b]) => a.localeCompare(b)),
          [...u.registration.entries()].sort((a, b) => a[0] - b[0]),
          [...u.finalisation.entries()].sort((a, b) => a[0] - b[0]),
        ])
        .sort((a, b) => Number(a[0]) - Number(b[0])),
    ])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const leaves = [...m.leaves.entries()].map(([u, ys]) => [u, [...ys].sort()]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return { years: m.years, units, leaves };
}

async function both(dataset: 'fresh' | 'qa', asOf: string, id = 'fracture'): Promise<{ stored: Measured; evaluated: Measured }> {
  const registry = t.platform.registry(id)!;
  const set = t.platform.quality.checks(id)!;
  const run = (way?: 'evaluated') =>
    t.platform.data.transaction(
      { kind: 'platform', task: 'test' },
      'test',
      (tx) => measure(tx, registry, set, t.platform.units, { dataset, asOf, analyticsVersion: 0, ...(way ? { way } : {}) }),
      { readOnly: true },
    );
  return { stored: await run(), evaluated: await run('evaluated') };
}

/** Every column of the analytics table given a random value of its kind, edges included. */
async function randomise(seed: number, id: string) {
  const registry = t.platform.registry(id)!;
  const db = t.platform.db.pool;
  const pick = (xs: string[]) => `(ARRAY[${xs.join(', ')}])[1 + floor(random() * ${xs.length})::int]`;
  const sets: string[] = [];
  for (const c of analyticsColumns(registry)) {
    const q = `"${c.name}"`;
    const variable = registry.forms.flatMap((f) => f.variables).find((v) => v.id === c.name);
    if (c.type === 'code') {
      const list = c.codelist ? registry.codelists.get(c.codelist) : undefined;
      const codes = list ? [...list.codes.keys(), ...list.missing] : ['x'];
      sets.push(`${q} = ${pick([...codes.map((x) => `'${x.replace(/'/g, "''")}'`), `'not-a-code'`, 'NULL', q])}`);
    } else if (c.type === 'integer' || c.type === 'decimal') {
      const edges = [variable?.range?.min, variable?.range?.max, variable?.plausible?.min, variable?.plausible?.max]
        .filter((x): x is number => typeof x === 'number')
        .flatMap((x) => [x - 1, x, x + 1]);
      sets.push(`${q} = ${pick([...edges.map(String), '0', '-5', '100000', 'NULL', q])}::${c.sql}`);
    } else if (c.type === 'date') {
      sets.push(`${q} = ${pick([`DATE '2024-06-30'`, `DATE '2024-07-01'`, `DATE '2024-07-02'`, `DATE '2023-01-15'`, 'NULL', q])}`);
    } else if (c.type === 'datetime') {
      // Around midnight in Oslo at the end of 30 June and of 1 July 2024 (summer time, UTC+2).
      sets.push(
        `${q} = ${pick([`'2024-06-30T21:59:59Z'::timestamptz`, `'2024-06-30T22:00:00Z'::timestamptz`, `'2024-07-01T21:59:59Z'::timestamptz`, `'2024-07-01T22:00:00Z'::timestamptz`, `'2023-03-01T10:00:00Z'::timestamptz`, 'NULL', q])}`,
      );
    } else if (c.type === 'boolean') sets.push(`${q} = ${pick(['TRUE', 'FALSE', 'NULL', q])}`);
    else sets.push(`${q} = ${pick([`'x'`, `''`, 'NULL', q])}`);
  }
  sets.push(`finalised = random() < 0.5`);
  sets.push(`case_created_at = ${pick([`'2024-06-30T21:00:00Z'::timestamptz`, `'2024-07-20T12:00:00Z'::timestamptz`, 'case_created_at'])}`);
  sets.push(`data_updated_at = ${pick([`'2024-06-30T22:30:00Z'::timestamptz`, `'2024-09-01T12:00:00Z'::timestamptz`, 'data_updated_at'])}`);
  const client = await db.connect();
  try {
    await client.query('SELECT setseed($1)', [seed]);
    await client.query(`UPDATE ${analyticsTable(registry)} SET ${sets.join(', ')}`);
  } finally {
    client.release();
  }
}

describe('stored data-quality outcomes', () => {
  it("are built into both registries' tables", async () => {
    for (const id of ['fracture', 'trauma']) {
      const stored = storedOutcomes(t.platform.registry(id)!)!;
      expect(stored.bits.length).toBeGreaterThan(10);
      const { rows } = await t.platform.db.pool.query(
        `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attname LIKE 'dq\\_%' AND NOT attisdropped`,
        [analyticsTable({ id })],
      );
      expect(rows.length).toBe(stored.ddl.length);
    }
    // The rule and the requirement with today() are counted when read, not stored.
    expect(storedOutcomes(t.platform.registry('fracture')!)!.direct.map((c) => (c.kind === 'consistency' ? c.rule : c.variable))).toEqual(
      expect.arrayContaining(['injury-within-a-year-of-today', expect.any(String)]),
    );
    expect(storedOutcomes(t.platform.registry('fracture')!)!.direct).toHaveLength(2);
    expect(storedOutcomes(t.platform.registry('trauma')!)!.columns.registration).toBeNull();
  });

  it('count what evaluating every check counts, on the captured cases', async () => {
    const { stored, evaluated } = await both('fresh', '2026-01-01');
    expect(stored.way).toBe('stored');
    expect(evaluated.way).toBe('evaluated');
    expect(plain(stored)).toEqual(plain(evaluated));
  });

  for (const id of ['fracture', 'trauma'])
    it(`count what evaluating every check counts, after every column is randomised, for both datasets and computation dates around the data (${id})`, async () => {
      let compared = 0;
      for (const seed of [0.11, 0.42, 0.77]) {
        await randomise(seed, id);
        for (const dataset of ['fresh', 'qa'] as const)
          for (const asOf of ['2023-12-31', '2024-06-30', '2024-07-01', '2030-01-01']) {
            const { stored, evaluated } = await both(dataset, asOf, id);
            expect(stored.way).toBe('stored');
            expect(plain(stored), `${dataset} as of ${asOf}, seed ${seed}`).toEqual(plain(evaluated));
            compared++;
          }
      }
      expect(compared).toBe(24);
      // The comparison is not empty: future dates, each kind of validity failure and broken rules were there to be counted.
      const { stored } = await both('fresh', '2024-06-30', id);
      const counts = [...stored.byUnit.get('1')!.values()].flatMap((u) => [...u.checks.entries()]);
      const failing = (test: (key: string) => boolean) => counts.filter(([k]) => test(k)).reduce((x, [, c]) => x + c[1], 0);
      expect(failing((k) => k.endsWith('/future-date'))).toBeGreaterThan(0);
      expect(failing((k) => k.endsWith('/codelist'))).toBeGreaterThan(0);
      expect(failing((k) => k.startsWith('consistency/'))).toBeGreaterThan(0);
      if (id === 'trauma') {
        expect(failing((k) => k.endsWith('/range'))).toBeGreaterThan(0);
        expect(failing((k) => k.endsWith('/plausible'))).toBeGreaterThan(0);
      }
    });

  it('a changed layout rebuilds the table with its rows in one transaction: no row leaves it, no indicator result is counted twice', async () => {
    const registry = t.platform.registry('fracture')!;
    const db = t.platform.db.pool;
    const table = analyticsTable(registry);
    const stored = storedOutcomes(registry)!;
    // The rows as the forms make them again (the tests above overwrote them).
    await db.query(`INSERT INTO analytics_change (registry, case_id) SELECT registry, id FROM registry_case WHERE registry = 'fracture'`);
    await t.platform.analytics.refresh();
    await t.platform.indicators.ensureFresh(registry, { force: true });
    const results = async () =>
      (
        await db.query(
          `SELECT indicator, dataset, grain, period, unit_resh, stratifier, stratum, numerator, denominator FROM indicator_result
           WHERE registry = 'fracture' ORDER BY 1, 2, 3, 4, 5, 6, 7`,
        )
      ).rows;
    const before = await results();
    expect(before.length).toBeGreaterThan(0);
    const rows = Number((await db.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
    // As a table built by an older layout looks: its columns and signature under another tag.
    for (const c of stored.ddl.map((d) => /^"([^"]+)"/.exec(d)![1]))
      await db.query(`ALTER TABLE ${table} RENAME COLUMN "${c}" TO "${c.replace(stored.tag, 'a0a0a0a0a0')}"`);
    await db.query(`UPDATE analytics_table SET signature = replace(signature, $1, 'a0a0a0a0a0') WHERE registry = 'fracture'`, [stored.tag]);
    const older = await both('fresh', '2026-01-01');
    expect(older.stored.way).toBe('evaluated'); // the older columns are not read with this layout

    // A writer in the middle of changing a row (another process's refresher): the copy waits for
    // it and holds its change; copied before it committed, the change would be lost with the old table.
    const first = Number((await db.query(`SELECT min(case_id) AS id FROM ${table}`)).rows[0].id);
    const writer = await db.connect();
    await writer.query('BEGIN');
    await writer.query(`SELECT pg_advisory_xact_lock(4244, hashtext('fracture'))`); // the lock a refresh round holds
    await writer.query(`UPDATE ${table} SET data_updated_at = '2001-02-03T04:05:06Z' WHERE case_id = $1`, [first]);
    let settled = false;
    const preparing = t.platform.analytics.prepare().finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(settled).toBe(false);
    await writer.query('COMMIT');
    writer.release();
    await preparing;
    expect(Number((await db.query(`SELECT count(*) FROM ${table}`)).rows[0].count)).toBe(rows);
    const copied = (await db.query(`SELECT data_updated_at FROM ${table} WHERE case_id = $1`, [first])).rows[0].data_updated_at;
    expect(new Date(copied).toISOString()).toBe('2001-02-03T04:05:06.000Z');
    const names = (
      await db.query(
        `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attgenerated = 's' AND NOT attisdropped ORDER BY 1`,
        [table],
      )
    ).rows.map((r) => r.attname as string);
    expect(names.every((n) => n.includes(stored.tag))).toBe(true);
    expect(names.length).toBe(stored.ddl.length);
    // Right after the fixed columns, before the codebook's (read with fewer columns walked).
    const position = async (name: string) =>
      Number(
        (await db.query(`SELECT attnum FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, [table, name])).rows[0].attnum,
      );
    expect(await position(names[names.length - 1])).toBeLessThan(await position('injury_date'));
    const again = await both('fresh', '2026-01-01');
    expect(again.stored.way).toBe('stored');
    expect(plain(again.stored)).toEqual(plain(again.evaluated));

    // Every case was queued again; the results moved through the refresh must be what they were.
    await t.platform.analytics.refresh();
    await t.platform.indicators.ensureFresh(registry);
    expect(await results()).toEqual(before);
  });
});
