// The example bundles in docs/examples are accepted as documented.
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const post = (file: string, token: string) =>
  t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: fs.readFileSync(`docs/examples/${file}`, 'utf8'),
  });

it('accepts the documented record, operation and death-notice messages, linking them to one case', async () => {
  const record = await post('fracture-transaction.json', t.tokens.ehr);
  expect(record.statusCode).toBe(200);
  expect(record.body).toMatch(/fracture: case \d+ created/);
  expect((await post('operation-transaction.json', t.tokens.planner)).statusCode).toBe(200);
  expect((await post('death-notice-batch.json', t.tokens.ehr)).statusCode).toBe(200);
  const forms = (await t.platform.db.pool.query("SELECT form, data FROM case_form WHERE form IN ('skade', 'operasjon')")).rows;
  expect(forms.find((f) => f.form === 'skade').data.ao_code).toBe('2R3C1');
  expect(forms.find((f) => f.form === 'operasjon').data.surgery_procedure).toBe('NCJ62');
  expect((await t.platform.db.pool.query('SELECT deceased_date FROM person')).rows[0].deceased_date).toBe('2024-09-30');
});

it('accepts the documented trauma reception as a trauma event with its injuries', async () => {
  const res = await post('trauma-reception.json', t.tokens.ehr);
  expect(res.statusCode, res.body).toBe(200);
  expect(res.body).toMatch(/trauma: case \d+ created/);
  const injuries = (await t.platform.db.pool.query("SELECT data FROM case_form WHERE registry = 'trauma' AND form = 'skadegradering'"))
    .rows;
  expect(injuries).toHaveLength(4);
});

it("joins the documented transfer to the same trauma event: the receiving hospital's case has the first one's trauma ID", async () => {
  const res = await post('trauma-transfer.json', t.tokens.ehr);
  expect(res.statusCode, res.body).toBe(200);
  expect(res.body, res.body).toMatch(/trauma: case \d+ created/);
  const cases = (await t.platform.db.pool.query("SELECT unit_resh, event_key FROM registry_case WHERE registry = 'trauma' ORDER BY id"))
    .rows;
  expect(cases.map((c) => c.unit_resh)).toEqual(['8201102', '8101102']);
  expect(cases[0].event_key).toBeTruthy();
  expect(cases[1].event_key).toBe(cases[0].event_key);
});
