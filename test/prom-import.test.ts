// Historical PROM answers as flat key/value records (ePROM-style CSV or JSON) enter through the
// same pipeline as live QuestionnaireResponses: scored by the same code, matched to the schedules,
// idempotent on re-import; records that cannot be used are reported with what is wrong, and an
// answer whose case is not there yet is kept and counted as unmatched. The schedule's calendar
// arithmetic in JavaScript (used to match) is PostgreSQL's, day by day.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { runImport } from '../src/cli/import.ts';
import { addDays, addMonths } from '../src/prom/match.ts';
import { scoreResponse } from '../src/prom/scoring.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let dir: string;
beforeAll(async () => {
  t = await testPlatform();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-eprom-'));
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;
async function capture(f: ReturnType<typeof fracture>) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  expect(res.statusCode, res.body).toBe(200);
}
const items = (n: string) =>
  q(
    `SELECT i.timepoint, i.instrument, i.recall, i.status, r.scores, r.provenance FROM prom_item i JOIN prom_response r ON r.id = i.response_id
  JOIN person p ON p.id = i.person_id WHERE p.id = (SELECT person_id FROM registry_case WHERE anchor_key LIKE $1) ORDER BY i.timepoint, i.instrument`,
    [`%|${n}`],
  );

it('imports a CSV of flat answers: one row may hold several instruments; bad rows are reported; a re-import changes nothing', async () => {
  const a = fracture({
    nin: nin('1950-01-01', 'female'),
    injuryDateTime: '2022-02-10T10:00:00+01:00',
    firstContact: '2022-02-10T11:00:00+01:00',
  });
  const b = fracture({
    nin: nin('1951-02-02', 'male'),
    injuryDateTime: '2022-03-15T10:00:00+01:00',
    firstContact: '2022-03-15T11:00:00+01:00',
  });
  await capture(a);
  await capture(b);
  const later = nin('1952-03-03', 'female'); // answers before the case is known
  const prwhe = (v: number) => [1, 2, 3, 4, 5].map(() => v).concat([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(() => v));
  const prwheCols = [1, 2, 3, 4, 5]
    .map((i) => `prwhe.pain${i}`)
    .concat(
      [1, 2, 3, 4, 5, 6].map((i) => `prwhe.func${i}`),
      [1, 2, 3, 4].map((i) => `prwhe.usual${i}`),
    );
  const eqCols = ['eq5d5l.mobility', 'eq5d5l.selfcare', 'eq5d5l.usual', 'eq5d5l.pain', 'eq5d5l.anxiety', 'eq5d5l.vas'];
  const file = path.join(dir, 'eprom.csv');
  fs.writeFileSync(
    file,
    [
      ['id', 'national_id', 'answered', 'recall', ...eqCols, ...prwheCols].join(';'),
      ['A-1', a.nin, '2022-02-12T20:00:00+01:00', 'pre-injury', '1', '1', '1', '1', '1', '95', ...prwhe(0)].join(';'),
      ['A-2', a.nin, '2023-02-20', '', '2', '1', '2', '2', '1', '80', ...prwhe(3)].join(';'),
      ['B-1', b.nin, '2022-04-30T09:00:00+02:00', '', '3', '2', '3', '3', '2', '50', ...prwhe(6)].join(';'),
      ['C-1', later, '2022-05-01', '', '1', '1', '1', '1', '1', '90', ...prwhe(1)].join(';'),
      ['X-1', '12345678901', '2022-05-01', '', '1', '1', '1', '1', '1', '90', ...prwhe(1)].join(';'),
      ['X-2', b.nin, 'yesterday', '', '1', '1', '1', '1', '1', '90', ...prwhe(1)].join(';'),
      ['X-3', b.nin, '2022-04-29', '', '9', '1', '1', '1', '1', '90', ...prwheCols.map(() => '')].join(';'),
    ].join('\n'),
  );
  const summary = await runImport(t.platform, file, { format: 'eprom', sender: 'eprom-export' });
  expect(summary.skipped).toBe(2);
  expect(summary.problems.join('\n')).toMatch(/record 6: national_id is not a valid national identity number/);
  expect(summary.problems.join('\n')).toMatch(/record 7: "yesterday" is not when the patient answered/);
  expect(summary.problems.join('\n')).toMatch(/Bundle.entry\[\d+\].resource.item mobility: "9" is not one of its answers/);
  expect(summary).toMatchObject({ messages: 1, quarantined: 1, unmatched: 2 });

  // A's recalled baseline and 12-month answers, each with both instruments, scored as the form would score them.
  const ia = await items(a.id);
  expect(ia.map((i) => [i.timepoint, i.instrument, i.recall, i.status])).toEqual([
    ['baseline', 'eq5d5l', 'pre-injury', 'answered'],
    ['baseline', 'prwhe', 'pre-injury', 'answered'],
    ['m12', 'eq5d5l', 'current', 'answered'],
    ['m12', 'prwhe', 'current', 'answered'],
  ]);
  expect(ia[3].scores.total.value).toBe(
    scoreResponse(t.platform.prom.instruments.get('prwhe')!, Object.fromEntries(prwheCols.map((c) => [c.slice(6), 3]))).scores.total.value,
  );
  expect(ia[0].provenance).toMatchObject({ kind: 'fhir', sender: 'eprom-export', recallGiven: true });
  expect((await items(b.id)).map((i) => [i.timepoint, i.instrument])).toEqual([
    ['w6', 'eq5d5l'],
    ['w6', 'prwhe'],
  ]);

  // Again: nothing new.
  const before = (await q('SELECT count(*)::int AS n, max(updated_at) AS u FROM prom_response'))[0];
  const again = await runImport(t.platform, file, { format: 'eprom', sender: 'eprom-export' });
  expect(again.unmatched).toBe(0);
  expect((await q('SELECT count(*)::int AS n, max(updated_at) AS u FROM prom_response'))[0]).toEqual(before);

  // The later patient's case arrives: their kept answers find their time point (6 weeks).
  await capture(
    fracture({ nin: later, injuryDateTime: '2022-03-20T10:00:00+01:00', firstContact: '2022-03-20T11:00:00+01:00', id: 'later-case' }),
  );
  expect((await items('later-case')).map((i) => [i.timepoint, i.instrument, i.status])).toEqual([
    ['w6', 'eq5d5l', 'answered'],
    ['w6', 'prwhe', 'answered'],
  ]);
});

it('imports JSON records naming the instrument, and says what is wrong with a column no item has', async () => {
  const c = fracture({
    nin: nin('1953-04-04', 'male'),
    injuryDateTime: '2022-06-01T10:00:00+02:00',
    firstContact: '2022-06-01T11:00:00+02:00',
  });
  await capture(c);
  const file = path.join(dir, 'eprom.json');
  fs.writeFileSync(
    file,
    JSON.stringify([
      {
        national_id: c.nin,
        instrument: 'urn:kvalreg:instrument:eq5d5l',
        answered: '2022-07-14',
        mobility: '2',
        selfcare: '2',
        usual: '2',
        pain: '2',
        anxiety: '2',
        vas: 60,
      },
      { national_id: c.nin, instrument: 'eq5d5l', answered: '2022-07-14', mobility: '2', walking: '3' },
      { national_id: c.nin, answered: '2022-07-14', mobility: '2' },
    ]),
  );
  const summary = await runImport(t.platform, file, { format: 'eprom', sender: 'eprom-json' });
  expect(summary).toMatchObject({ messages: 1, accepted: 1, skipped: 2, unmatched: 0 });
  expect(summary.problems[0]).toMatch(/record 2: eq5d5l has no item\(s\) walking/);
  expect(summary.problems[1]).toMatch(/record 3: column\(s\) mobility name no instrument/);
  expect((await items(c.id)).map((i) => [i.timepoint, i.instrument, i.scores.vas.value])).toEqual([['w6', 'eq5d5l', 60]]);
});

it("the calendar arithmetic used to match answers is PostgreSQL's (month ends, leap days)", async () => {
  const rows =
    await q(`SELECT d::date::text AS d, m, (d::date + make_interval(months => m))::date::text AS pg, ((d::date + make_interval(months => m))::date + 35)::text AS opens
    FROM generate_series('1999-12-20'::date, '2001-03-10'::date, '1 day') d, generate_series(0, 14) m`);
  const wrong = rows.filter((r) => addMonths(r.d, r.m) !== r.pg || addDays(addMonths(r.d, r.m), 35) !== r.opens);
  expect(rows.length).toBeGreaterThan(6000);
  expect(wrong.slice(0, 3)).toEqual([]);
});
