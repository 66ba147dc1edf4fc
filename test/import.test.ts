// Legacy data enters through the same capture pipeline: a CSV fracture journal with 2008 AO codes,
// and NDJSON of FHIR bundles.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runImport } from '../src/cli/import.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let dir: string;
beforeAll(async () => {
  t = await testPlatform();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-import-'));
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;

it('imports a CSV journal with 2008 codes, mapping what maps and sending the rest to manual review', async () => {
  const file = path.join(dir, 'journal.csv');
  fs.writeFileSync(
    file,
    [
      'journal_id;national_id;unit_resh;setting;injury_time;first_contact;ao_code;side;open;energy;intent;surgery_time',
      `1001;${nin('1948-03-02', 'female')};${SUS_ORTHO};EMER;2008-05-01T10:00:00+02:00;2008-05-01T11:00:00+02:00;23A2.2;left;0;low;conservative;`,
      `1002;${nin('1990-07-07', 'male')};${SUS_ORTHO};EMER;2008-05-02T20:00:00+02:00;2008-05-02T21:00:00+02:00;25A1;right;0;high;operative;2008-05-03T09:00:00+02:00`,
      `1003;${nin('1975-01-20', 'male')};${SUS_ORTHO};EMER;2008-05-03T08:00:00+02:00;2008-05-03T09:30:00+02:00;44B1.2;right;1;high;operative;2008-05-03T15:00:00+02:00`,
    ].join('\n'),
  );
  const summary = await runImport(t.platform, file, { sender: 'stavanger-journal', codeVersion: '2008' });
  expect(summary).toMatchObject({ accepted: 3, quarantined: 0, skipped: 1 });
  expect(summary.problems.join('\n')).toMatch(/line 3: AO code 25A1 \(2008\) cannot be mapped.*metacarpals/);
  const codes = (await q("SELECT data->>'ao_code' AS ao FROM case_form WHERE form = 'skade' ORDER BY 1")).map((r) => r.ao);
  expect(codes).toEqual(['2R3A2.2', '44B1.2']);
  expect((await q('SELECT DISTINCT sender FROM inbox_message')).map((r) => r.sender)).toEqual(['stavanger-journal']);
  // Importing the same journal again doubles nothing.
  await runImport(t.platform, file, { sender: 'stavanger-journal', codeVersion: '2008' });
  expect((await q('SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(2);
});

it('sends old hip codes (31) to the hip fracture register like new ones, not to manual review', async () => {
  // The annual report: "Hoftebrudd (AO prefix 31) inkluderes i Nasjonalt Hoftebruddregister"; 31 is
  // the proximal femur in the old (Müller) version too, though its groups differ from 2018's
  // (registries/fracture/codes/README.md: "Route on the 31 prefix before any conversion").
  const file = path.join(dir, 'journal-hips.csv');
  fs.writeFileSync(
    file,
    [
      'journal_id;national_id;unit_resh;setting;injury_time;first_contact;ao_code;side;open;energy;intent;surgery_time',
      `2001;${nin('1931-02-02', 'female')};${SUS_ORTHO};EMER;2008-06-01T10:00:00+02:00;2008-06-01T11:00:00+02:00;31B3.1;left;0;low;operative;2008-06-02T09:00:00+02:00`,
      `2002;${nin('1935-03-03', 'female')};${SUS_ORTHO};EMER;2008-06-02T10:00:00+02:00;2008-06-02T11:00:00+02:00;31-a2.1;right;0;low;operative;`,
      `2003;${nin('1940-04-04', 'male')};${SUS_ORTHO};EMER;2008-06-03T10:00:00+02:00;2008-06-03T11:00:00+02:00;23-a2.2;right;0;low;conservative;`,
    ].join('\n'),
  );
  const referred = async () =>
    (
      await q(
        "SELECT count(*)::int AS n FROM routing_decision WHERE registry = 'fracture' AND decision = 'referred' AND target = 'hip-fracture'",
      )
    )[0].n;
  const before = await referred();
  const summary = await runImport(t.platform, file, { sender: 'stavanger-journal', codeVersion: '2008' });
  // Three journal rows, one with an operation (the planner's message too): every message accepted, none skipped.
  expect(summary).toMatchObject({ messages: 4, accepted: 4, quarantined: 0, skipped: 0 });
  expect(summary.problems).toEqual([]);
  expect(await referred()).toBe(before + 2);
  // No fracture case for the hips; the wrist fracture's case keeps its old code beside the new one.
  const cases = await q(
    "SELECT data->>'ao_code' AS ao, data->>'ao_code_legacy' AS legacy FROM case_form WHERE form = 'skade' AND data->>'ao_code_legacy' IS NOT NULL ORDER BY 1",
  );
  expect(cases).toEqual(expect.arrayContaining([{ ao: '2R3A2.2', legacy: '23A2.2' }]));
  expect(cases.some((c) => c.legacy?.startsWith('31'))).toBe(false);
  // Importing again refers nothing twice.
  await runImport(t.platform, file, { sender: 'stavanger-journal', codeVersion: '2008' });
  expect(await referred()).toBe(before + 2);
});

it('imports NDJSON bundles and reports the lines that were refused', async () => {
  const file = path.join(dir, 'bundles.ndjson');
  const good = fracture({ unitResh: SUS_ORTHO });
  fs.writeFileSync(
    file,
    [JSON.stringify(ehrBundle(good)), '{"resourceType": "Bundle", "type": "transaction", "entry": []}', ''].join('\n'),
  );
  const summary = await runImport(t.platform, file, { sender: 'ndjson-import' });
  expect(summary).toMatchObject({ messages: 2, accepted: 1, quarantined: 1 });
  expect(summary.problems[0]).toMatch(/line 2: .*no entries/);
  const dry = await runImport(t.platform, file, { sender: 'ndjson-import', dryRun: true });
  expect(dry.messages).toBe(2);
});

it('imports death notices from the population register as CSV, and reports rows it cannot use', async () => {
  const who = nin('1930-04-04', 'male');
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(
      ehrBundle(fracture({ nin: who, injuryDateTime: '2024-02-01T10:00:00+01:00', firstContact: '2024-02-01T11:00:00+01:00' })),
    ),
  });
  expect(res.statusCode).toBe(200);
  const file = path.join(dir, 'deaths.csv');
  fs.writeFileSync(
    file,
    [
      'national_id;date_of_death',
      `${who};15.02.2024`,
      `${nin('1931-05-05', 'female')};2024-13-40`,
      `${nin('1932-06-06', 'male')};soon`,
    ].join('\n'),
  );
  const summary = await runImport(t.platform, file, { format: 'deaths', sender: 'folkeregister' });
  expect(summary.skipped).toBe(2);
  expect(summary.problems.join('\n')).toMatch(/line 4: date_of_death "soon" is not a date/);
  // The impossible date is reported by its line, and the rest of the batch goes on.
  expect(summary.problems.join('\n')).toMatch(/line 3: date_of_death "2024-13-40" is not a day of the calendar/);
  expect(summary).toMatchObject({ messages: 1, accepted: 1, quarantined: 0 });
  const rows = await q('SELECT deceased_date FROM person WHERE deceased_date IS NOT NULL');
  expect(rows.map((r) => r.deceased_date)).toContain('2024-02-15');
});
