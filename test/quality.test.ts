// Data quality from the codebook, on hand-built fractures whose counts are worked out by hand in
// the comments: completeness with a declared "unknown" code, consistency, timeliness medians and
// shares within the deadline, zero denominators, thresholds edited without recomputing, the cases
// behind a finding (own units only, audited, every page reachable), follow-up with history, and
// modified z-scores against the NIST handbook's definition.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import type { FractureSpec } from '../registries/fracture/bundles.ts';
import { histogramMedian } from '../src/quality/measures.ts';
import { median, modifiedZScores } from '../src/quality/stats.ts';
import { fracture } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { sendFracture } from './helpers/capture.ts';

let t: TestPlatform;
let registriesDir: string;
let registrarOther: string;
const at = (date: string, time = '10:00') => `${date}T${time}:00+01:00`;

// 2021 at SUS orthopaedics: four fractures. injury_energy: low, unknown (a declared "unknown"
// code, set by the registrar), not given, high → eligible 4, given 3 (75 %), known 2 (50 %).
// One has its first contact the day before the injury: the rule first-contact-not-before-injury
// is broken once among the 4 checked.
const y2021: Array<FractureSpec & { createdAfterDays: number; finalisedAfterDays?: number; unknownEnergy?: boolean }> = [
  {
    ...fracture({ injuryDateTime: at('2021-03-01'), firstContact: at('2021-03-01', '12:00'), energy: 'low' }),
    createdAfterDays: 0,
    finalisedAfterDays: 10,
  },
  {
    ...fracture({ injuryDateTime: at('2021-03-01'), firstContact: at('2021-03-01', '12:01'), energy: undefined }),
    createdAfterDays: 2,
    unknownEnergy: true,
  },
  { ...fracture({ injuryDateTime: at('2021-03-01'), firstContact: at('2021-03-01', '12:02'), energy: undefined }), createdAfterDays: 5 },
  {
    ...fracture({ injuryDateTime: at('2021-03-02'), firstContact: at('2021-03-01', '12:03'), energy: 'high' }),
    createdAfterDays: 40,
    finalisedAfterDays: 100,
  },
];
// Registration days 0, 2, 5, 40 (the last counted from its own injury date, 2 March):
//   median (2 + 5) / 2 = 3.5; within the 30-day deadline 3 of 4 = 75 %.
// Finalisation days 10 and 100: median 55; within 90 days 1 of 2 = 50 %.
// 2020: one complete fracture at SUS, for the trend.
const y2020 = [
  { ...fracture({ injuryDateTime: at('2020-06-01'), firstContact: at('2020-06-01', '12:00'), energy: 'low' }), createdAfterDays: 1 },
];

const send = (f: FractureSpec) => sendFracture(t, f);
const get = (url: string, token = t.tokens.admin) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  registriesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-registries-'));
  fs.cpSync(path.resolve('registries'), registriesDir, { recursive: true });
  t = await testPlatform({ KVALREG_REGISTRIES_DIR: registriesDir });
  registrarOther = await createToken(t.platform.db.pool, {
    name: 'registrar-other',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: OTHER_ORTHO }],
  });
  for (const f of [...y2021, ...y2020]) await send(f);
  const db = t.platform.db.pool;
  for (const f of [...y2021, ...y2020]) {
    const id = (
      await db.query(
        `SELECT c.id FROM registry_case c JOIN case_form f ON f.case_id = c.id AND f.form = 'skade'
      WHERE f.data->>'first_contact_datetime' = $1 AND f.data->>'injury_date' = $2`,
        [new Date(f.firstContact).toISOString(), f.injuryDateTime.slice(0, 10)],
      )
    ).rows[0].id;
    const injury = f.injuryDateTime.slice(0, 10);
    // Hand-set times: registered (created) and finalised so many days after the injury, in Norwegian time.
    await db.query(`UPDATE registry_case SET created_at = ($2::date + $3::int + time '12:00') AT TIME ZONE 'Europe/Oslo' WHERE id = $1`, [
      id,
      injury,
      f.createdAfterDays,
    ]);
    if ('unknownEnergy' in f && f.unknownEnergy) {
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/api/registries/fracture/cases/${id}/forms/skade`,
        headers: { authorization: `Bearer ${t.tokens.registrarSus}`, 'content-type': 'application/json' },
        payload: { values: { injury_energy: 'unknown' } },
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    if ('finalisedAfterDays' in f && f.finalisedAfterDays !== undefined) {
      await db.query(
        `UPDATE case_form SET status = 'finalised', updated_at = ($2::date + $3::int + time '12:00') AT TIME ZONE 'Europe/Oslo' WHERE case_id = $1`,
        [id, injury, f.finalisedAfterDays],
      );
    }
  }
  await t.platform.analytics.rebuild(t.platform.registry('fracture')!);
}, 120_000);
afterAll(async () => {
  await t?.close();
  fs.rmSync(registriesDir, { recursive: true, force: true });
});

const report = async (unit = SUS_ORTHO, year = 2021, token = t.tokens.admin) => {
  const res = await get(`/api/registries/fracture/quality?unit=${unit}&year=${year}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('measures from the codebook', () => {
  it('completeness counts a declared "unknown" code as given, and apart', async () => {
    const r = await report();
    expect(r.cases).toBe(4);
    const energy = r.completeness.find((c: any) => c.variable === 'injury_energy');
    expect(energy).toMatchObject({ denominator: 4, failures: 1, unknown: 1, rate: 0.75, knownRate: 0.5 });
    // Judged against the file's thresholds: 75 % is under acceptable (85 %): poor.
    expect(energy.verdict).toBe('poor');
    // Indicator and adjustment variables come first.
    const roles = r.completeness.map((c: any) => c.role);
    expect(roles.indexOf('other')).toBeGreaterThan(roles.lastIndexOf('indicator'));
    expect(r.completeness.find((c: any) => c.variable === 'injury_energy').role).toBe('indicator');
  });

  it('consistency: the codebook rule broken once among four', async () => {
    const r = await report();
    const rule = r.consistency.find((c: any) => c.rule === 'first-contact-not-before-injury');
    expect(rule).toMatchObject({ denominator: 4, failures: 1, rate: 0.75, verdict: 'poor' });
    // Rules over a repeating form are listed as not measured, with the reason.
    expect(r.notMeasured.map((n: any) => n.id)).toContain('reoperation-after-surgery');
  });

  it('timeliness: medians and shares within the declared deadlines', async () => {
    const r = await report();
    expect(r.timeliness.registration).toMatchObject({
      deadlineDays: 30,
      n: 4,
      medianDays: 3.5,
      within: 3,
      rate: 0.75,
      verdict: 'acceptable',
    });
    expect(r.timeliness.finalisation).toMatchObject({ deadlineDays: 90, n: 2, medianDays: 55, within: 1, rate: 0.5, verdict: 'poor' });
    expect(
      histogramMedian(
        new Map([
          [0, 1],
          [2, 1],
          [5, 1],
          [40, 1],
        ]),
      ),
    ).toBe(3.5);
    expect(histogramMedian(new Map([[7, 3]]))).toBe(7);
    expect(histogramMedian(new Map())).toBeNull();
  });

  it('a zero denominator is "not computable", never 0 % or a pass, and is counted as such', async () => {
    const r = await report();
    // No fracture at SUS is open, so nothing requires a tetanus booster.
    const tetanus = r.completeness.find((c: any) => c.variable === 'tetanus_booster');
    expect(tetanus).toMatchObject({ denominator: 0, rate: null, verdict: 'not-computable' });
    expect(r.summary.notComputable).toBeGreaterThan(0);
    expect(r.summary.checks).toBe(
      r.summary.good + r.summary.goodWithFailures + r.summary.acceptable + r.summary.poor + r.summary.notComputable,
    );
    // A year without cases: every check not computable.
    const empty = await report(SUS_ORTHO, 2019);
    expect(empty.cases).toBe(0);
    expect(empty.summary.notComputable).toBe(empty.summary.checks);
  });

  it('trends over the years; the nation adds up its units', async () => {
    const r = await report();
    const energy = r.completeness.find((c: any) => c.variable === 'injury_energy');
    expect(energy.trend).toEqual([
      { year: 2020, rate: 1 },
      { year: 2021, rate: 0.75 },
    ]);
    const nation = await report('1');
    expect(nation.cases).toBe(4);
    expect(nation.unitsReporting).toMatchObject({ expected: 1, reporting: 1, rate: 1 });
  });

  it('thresholds are read from the registry folder when judged: an edit applies without recomputing', async () => {
    const before = await report();
    const file = path.join(registriesDir, 'fracture', 'quality-thresholds.yaml');
    const original = fs.readFileSync(file, 'utf8');
    try {
      fs.writeFileSync(file, 'completeness: { good: 0.7, acceptable: 0.5 }\n');
      // A later modification time, whatever the file system's resolution.
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(file, later, later);
      const after = await report();
      expect(after.completeness.find((c: any) => c.variable === 'injury_energy').verdict).toBe('good');
      expect(after.thresholds.completeness).toEqual({ good: 0.7, acceptable: 0.5 });
      // The same counted measures: nothing was recomputed.
      expect(after.computedAt).toBe(before.computedAt);
      // A good result with failures is a pass with failures, not a clean pass.
      expect(after.summary.goodWithFailures).toBeGreaterThan(0);
      expect(after.findings.find((f: any) => f.key === 'completeness/injury_energy')).toMatchObject({
        verdict: 'good',
        failures: 1,
        status: 'open',
      });
    } finally {
      fs.writeFileSync(file, original);
      const later = new Date(Date.now() + 10000);
      fs.utimesSync(file, later, later);
    }
  });

  it('an invalid thresholds file is refused with the file and the problem', async () => {
    const file = path.join(registriesDir, 'fracture', 'quality-thresholds.yaml');
    const original = fs.readFileSync(file, 'utf8');
    try {
      fs.writeFileSync(file, 'completeness: { good: 0.5, acceptable: 0.9 }\n');
      const later = new Date(Date.now() + 20000);
      fs.utimesSync(file, later, later);
      const res = await get(`/api/registries/fracture/quality?unit=${SUS_ORTHO}&year=2021`);
      expect(res.statusCode).toBe(500);
      expect(t.platform.quality.thresholdFiles.read.bind(t.platform.quality.thresholdFiles, t.platform.registry('fracture')!)).toThrow(
        /quality-thresholds.yaml: completeness: acceptable must not be above good/,
      );
    } finally {
      fs.writeFileSync(file, original);
      const later = new Date(Date.now() + 30000);
      fs.utimesSync(file, later, later);
    }
  });
});

describe('many readers at once', () => {
  // Each reader once held a connection while it waited for the one measurement, which needed one
  // more: as many readers as the pool has connections (6 in the tests) left it empty, every party
  // waiting for good.
  it('more readers than connections, while the data change: every one gets the measures', async () => {
    const registry = t.platform.registry('fracture')!;
    const fresh = await t.platform.quality.measured(registry);
    await t.platform.db.pool.query(`UPDATE analytics_state SET version = version + 1 WHERE registry = 'fracture'`);
    const all = Promise.all(Array.from({ length: 10 }, () => t.platform.quality.measured(registry)));
    try {
      const done = await Promise.race([all, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
      expect(done).not.toBe('hung');
      for (const m of done as Awaited<typeof all>) {
        expect(m.analyticsVersion).toBe(fresh.analyticsVersion + 1);
        expect(m.byUnit.get(SUS_ORTHO)?.get(2021)?.cases).toBe(fresh.byUnit.get(SUS_ORTHO)?.get(2021)?.cases);
      }
    } finally {
      // A hang leaves transactions waiting: end them (on a connection of this test's own, the pool
      // being empty), so that the platform can close.
      const own = new pg.Client({ connectionString: t.databaseUrl });
      await own.connect();
      await own.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state = 'idle in transaction'`,
      );
      await own.end();
    }
  }, 60_000);
});

describe('the cases behind a finding', () => {
  it("within the caller's units, audited, with every page reachable", async () => {
    const url = (after = 0, limit = 1, finding = 'timeliness/registration') =>
      `/api/registries/fracture/quality/cases?finding=${encodeURIComponent(finding)}&unit=${SUS_ORTHO}&year=2021&after=${after}&limit=${limit}`;
    const missing = await get(url(0, 10, 'completeness/injury_energy'), t.tokens.registrarSus);
    expect(missing.statusCode, missing.body).toBe(200);
    expect(missing.json().cases).toHaveLength(1);
    const unknown = await get(url(0, 10, 'completeness/injury_energy#unknown'), t.tokens.registrarSus);
    expect(unknown.json().cases).toHaveLength(1);
    // Late registrations, one per page: 1 case (40 days); the consistency finding: 1 case.
    const late = (await get(url(0, 1), t.tokens.registrarSus)).json();
    expect(late.cases).toHaveLength(1);
    expect(late.cases[0].value).toBe(40);
    expect(late.next).toBeNull();
    // Pages: the four cases' missing finalisation (2 not finalised + 1 late), one at a time.
    const seen: number[] = [];
    let after = 0;
    for (let i = 0; i < 10; i++) {
      const page = (await get(url(after, 1, 'timeliness/finalisation'), t.tokens.registrarSus)).json();
      seen.push(...page.cases.map((c: any) => c.caseId));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
    // Each person shown is in the audit trail.
    const audited = await t.platform.db.pool.query(
      "SELECT count(DISTINCT person_id)::int AS n FROM audit_event WHERE object LIKE 'registry/fracture/quality/%/cases' AND person_id IS NOT NULL",
    );
    // Shown: the case without energy, the one with "unknown", the late one, and the three not finalised in time (two of them already shown): three persons.
    expect(audited.rows[0].n).toBe(3);
    // Another unit's registrar is refused (and the refusal is audited).
    const other = await get(url(0, 10, 'completeness/injury_energy'), registrarOther);
    expect(other.statusCode).toBe(403);
    // A check that does not exist is a clear 404; a page size over 1000 is refused.
    expect((await get(url(0, 10, 'completeness/no_such_variable'), t.tokens.registrarSus)).statusCode).toBe(404);
    expect((await get(url(0, 5000), t.tokens.registrarSus)).statusCode).toBe(400);
  });
});

describe('follow-up of findings', () => {
  it("followed up, then resolved, with history; only the unit's registrars and admins", async () => {
    const post = (body: unknown, token = t.tokens.registrarSus) =>
      t.app.inject({
        method: 'POST',
        url: '/api/registries/fracture/quality/follow-up',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: body as object,
      });
    const body = { finding: 'completeness/injury_energy', unit: SUS_ORTHO, year: 2021 };
    expect((await post({ ...body, status: 'followed-up', note: 'Asked the clinic to record energy.' })).statusCode).toBe(201);
    const res = await post({ ...body, status: 'resolved', note: 'Recorded now.' });
    expect(res.statusCode).toBe(201);
    expect(res.json().history.map((h: any) => h.status)).toEqual(['followed-up', 'resolved']);
    expect((await post({ ...body, status: 'resolved' }, registrarOther)).statusCode).toBe(403);
    expect((await post({ ...body, status: 'done' })).statusCode).toBe(400);
    expect((await post({ ...body, finding: 'drop table', status: 'resolved' })).statusCode).toBe(400);
    const r = await report();
    const f = r.findings.find((x: any) => x.key === 'completeness/injury_energy');
    expect(f.status).toBe('resolved');
    expect(f.history).toHaveLength(2);
  });
});

describe("small counts outside the caller's units", () => {
  it("another unit's reader sees no count under the threshold for SUS", async () => {
    const reader = await createToken(t.platform.db.pool, {
      name: 'reader-other',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO }],
    });
    const r = await report(SUS_ORTHO, 2021, reader);
    expect(r.cases).toBeNull();
    const energy = r.completeness.find((c: any) => c.variable === 'injury_energy');
    expect(energy).toMatchObject({ denominator: null, failures: null, rate: null, withheld: true });
    // SUS's own registrar sees them.
    expect((await report(SUS_HOSPITAL, 2021, t.tokens.registrarSus)).cases).toBe(4);
  });
});

describe('modified z-scores', () => {
  // NIST/SEMATECH e-Handbook of Statistical Methods §1.3.5.17 (Iglewicz and Hoaglin): M_i =
  // 0.6745 (x_i − median) / MAD; |M| > 3.5 is a potential outlier. Worked by hand for
  // 0.90, 0.92, 0.93, 0.95, 0.60: median 0.92; absolute deviations 0.02, 0, 0.01, 0.03, 0.32 → MAD
  // 0.02; M(0.60) = 0.6745 · (−0.32) / 0.02 = −10.792; M(0.95) = 0.6745 · 0.03 / 0.02 = 1.01175.
  it('follows the handbook', () => {
    const m = modifiedZScores([0.9, 0.92, 0.93, 0.95, 0.6]);
    expect(m[4]).toBeCloseTo(-10.792, 3);
    expect(m[3]).toBeCloseTo(1.01175, 4);
    expect(median([3, 1, 2])).toBe(2);
  });
  it('with a MAD of 0 it falls back to the mean absolute deviation', () => {
    // 1, 1, 1, 1, 0.5: median 1, MAD 0; mean absolute deviation 0.1 → M(0.5) = −0.5 / (1.253314 · 0.1) = −3.9894.
    const m = modifiedZScores([1, 1, 1, 1, 0.5]);
    expect(m[4]).toBeCloseTo(-3.9894, 3);
    expect(modifiedZScores([1, 1, 1])).toEqual([null, null, null]);
  });
});
