// The registrar's worklist tools: search by case number, record number or code; filter by form,
// missing variable and case date; sort and page; problems named with the instance they are in;
// export as CSV and XLSX (audited); and a reviewed bulk finalise of complete registrations —
// each finalisation in the history and the audit trail, a case that changed since the review left
// alone — after which the year's quality-assured share is no longer nil.
import ExcelJS from 'exceljs';
import { extractText } from 'unpdf';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { finalisedWarning } from '../src/reports/annual.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const ids: Record<string, number> = {};
let traumaCase: number;
let traumaToken: string;
let complete: ReturnType<typeof fracture>;
beforeAll(async () => {
  t = await testPlatform();
  const send = async (key: string, f: ReturnType<typeof fracture>) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
    expect(res.statusCode, res.body).toBe(200);
    ids[key] = (
      await t.platform.db.pool.query("SELECT id FROM registry_case WHERE registry = 'fracture' AND anchor_key LIKE $1", [`%|${f.id}`])
    ).rows[0].id;
  };
  // Three missing the intended treatment (different dates and codes), three complete, one at another unit.
  await send(
    'a',
    fracture({
      id: 'rec-1001',
      intent: undefined,
      aoCode: '2R3A2.1',
      injuryDateTime: '2024-01-10T10:00:00+01:00',
      firstContact: '2024-01-10T12:00:00+01:00',
    }),
  );
  await send(
    'b',
    fracture({
      id: 'rec-1002',
      intent: undefined,
      aoCode: '42A1',
      injuryDateTime: '2024-05-10T10:00:00+02:00',
      firstContact: '2024-05-10T12:00:00+02:00',
    }),
  );
  await send(
    'c',
    fracture({
      id: 'rec-1003',
      intent: undefined,
      side: undefined as never,
      aoCode: '2R3C1',
      injuryDateTime: '2024-09-10T10:00:00+02:00',
      firstContact: '2024-09-10T12:00:00+02:00',
    }),
  );
  for (const k of ['d', 'e', 'f']) {
    complete = fracture({ id: `rec-2${k}`, injuryDateTime: '2024-06-01T10:00:00+02:00', firstContact: '2024-06-01T12:00:00+02:00' });
    await send(k, complete);
  }
  await send('other', fracture({ id: 'rec-3001', unitResh: OTHER_ORTHO, intent: undefined }));
  // A trauma event whose second injury carries an AIS code that is not valid: the problem names the injury.
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(
      traumaBundle({
        id: 'wl-1',
        nin: nin('1980-05-05', 'male'),
        unitResh: '8201102',
        arrival: '2024-06-01T10:00:00+02:00',
        traumaTeam: true,
        accident: { at: '2024-06-01T09:20:00+02:00' },
        mechanism: 'fall_high',
        intention: 'accident',
        injuryType: 'blunt',
        arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
        ais: ['853000.3', '85300.3'],
      }),
    ),
  });
  expect(res.statusCode, res.body).toBe(200);
  traumaCase = (await t.platform.db.pool.query("SELECT id FROM registry_case WHERE registry = 'trauma'")).rows[0]?.id;
  traumaToken = await createToken(t.platform.db.pool, {
    name: 'trauma-sus',
    kind: 'user',
    grants: [{ registry: 'trauma', role: 'unit-registrar', unit: '8201100' }],
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const get = (url: string, token = t.tokens.registrarSus) =>
  t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const rows = async (query: string, token?: string) => {
  const res = await get(`/api/registries/fracture/worklist/rows?${query}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { total: number; rows: any[] };
};

it('lists what is missing with the case header, sorted and paged', async () => {
  const all = await rows('');
  expect(all.total).toBe(3);
  expect(all.rows.map((r) => r.caseId)).toEqual([ids.a, ids.b, ids.c]);
  const first = all.rows[0];
  expect(first.header.values.find((v: any) => v.variable === 'ao_code')).toMatchObject({ value: '2R3A2.1' });
  expect(first.date).toBe('2024-01-10');
  expect(first.problems).toEqual([
    expect.objectContaining({
      form: 'behandling',
      title: { nb: 'Behandling', en: 'Treatment' },
      missing: [{ variable: 'treatment_intent', label: { nb: 'Planlagt behandling', en: 'Intended treatment' } }],
    }),
  ]);
  expect((await rows('sort=-date')).rows.map((r) => r.caseId)).toEqual([ids.c, ids.b, ids.a]);
  expect((await rows('sort=-missing')).rows[0].caseId).toBe(ids.c); // two forms with something missing
  const page = await rows('limit=2&offset=2');
  expect(page).toMatchObject({ total: 3, rows: [expect.objectContaining({ caseId: ids.c })] });
});

it('searches by case number, record number and code, and filters by form, missing variable and date', async () => {
  expect((await rows(`q=${ids.b}`)).rows.map((r) => r.caseId)).toEqual([ids.b]);
  expect((await rows('q=rec-1003')).rows.map((r) => r.caseId)).toEqual([ids.c]);
  expect((await rows('q=2R3')).rows.map((r) => r.caseId)).toEqual([ids.a, ids.c]);
  expect((await rows('form=skade')).rows.map((r) => r.caseId)).toEqual([ids.c]);
  expect((await rows('variable=side')).rows.map((r) => r.caseId)).toEqual([ids.c]);
  expect((await rows('from=2024-04-01&to=2024-06-30')).rows.map((r) => r.caseId)).toEqual([ids.b]);
  expect((await get('/api/registries/fracture/worklist/rows?sort=sideways')).statusCode).toBe(400);
  // Another unit's case is never on this registrar's list; a unit outside the grant is refused.
  expect((await rows('q=rec-3001')).total).toBe(0);
  expect((await get(`/api/registries/fracture/worklist/rows?unit=${OTHER_ORTHO}`)).statusCode).toBe(403);
});

it('names the instance a problem is in ("which injury\'s code is wrong")', async () => {
  const res = await get('/api/registries/trauma/worklist/rows', traumaToken);
  const row = res.json().rows.find((r: any) => r.caseId === traumaCase);
  const injury = row.problems.find((p: any) => p.form === 'skadegradering');
  expect(injury.title.nb).toMatch(/^Skadegradering \d: 85300\.3$/);
  expect(injury.findings[0].message.nb).toMatch(/AIS/);
});

it('exports the filtered worklist as CSV and XLSX, without names or identity numbers, audited as an export', async () => {
  const csv = await get('/api/registries/fracture/worklist/export.csv?form=behandling');
  expect(csv.statusCode).toBe(200);
  expect(csv.headers['content-type']).toMatch(/text\/csv/);
  const lines = csv.body
    .replace(/^\ufeff/, '')
    .trim()
    .split('\n');
  expect(lines[0]).toMatch(/^Registrering,Skadedato,Enhet,AO\/OTA-kode,Side,Kilde,Journal-\/saksnummer/);
  expect(lines).toHaveLength(4);
  expect(csv.body).toContain('rec-1001');
  expect(csv.body).toContain('mangler Planlagt behandling');
  const xlsx = await get('/api/registries/fracture/worklist/export.xlsx');
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(xlsx.rawPayload as never);
  const cells = book.worksheets[0]
    .getSheetValues()
    .flat()
    .map((v) => String(v ?? ''));
  expect(cells).toContain(String(ids.a));
  expect(
    (
      await t.platform.db.pool.query(
        "SELECT count(DISTINCT person_id)::int AS n FROM audit_event WHERE action = 'export' AND purpose = 'worklist:export'",
      )
    ).rows[0].n,
  ).toBe(3);
});

it('pages the explanation list and exports it whole, the variables by their labels and codes by their words', async () => {
  // Every fracture at SUS in 2024 is in the denominator of indicator 1 (time to treatment).
  await t.platform.analytics.refresh();
  const base = `/api/registries/fracture/indicators/nfr01_time_to_treatment/explanation`;
  const first = (await get(`${base}?unit=${SUS_ORTHO}&period=2024&limit=2&offset=0`)).json();
  const second = (await get(`${base}?unit=${SUS_ORTHO}&period=2024&limit=2&offset=2`)).json();
  expect(first.total).toBeGreaterThan(2);
  expect(first.cases).toHaveLength(2);
  expect(second.cases.length).toBeGreaterThan(0);
  expect(second.cases.map((c: any) => c.caseId).filter((id: number) => first.cases.some((c: any) => c.caseId === id))).toEqual([]);
  // The export holds all of them (no 500-row stop), in Norwegian, without the variables' ids.
  const csv = await get(`${base}.csv?unit=${SUS_ORTHO}&period=2024&lang=nb`);
  expect(csv.statusCode, csv.body).toBe(200);
  const lines = csv.body.trim().split(/\r?\n/);
  expect(lines[0]).toMatch(/^\uFEFF?Registrering,Dato,Ferdigstilt,I telleren/);
  expect(lines.length - 1).toBe(first.total);
  const valueParts =
    lines
      .slice(1)
      .join('\n')
      .match(/\(([^)]*=[^)]*)\)/g) ?? [];
  expect(valueParts.length).toBeGreaterThan(0);
  for (const part of valueParts) expect(part).not.toMatch(/\b[a-z]+_[a-z0-9_]+\s=/);
  expect(csv.body).not.toMatch(/\b(female|male|true|false|unknown)\b/);
  const xlsx = await get(`${base}.xlsx?unit=${SUS_ORTHO}&period=2024&lang=nb`);
  expect(xlsx.statusCode).toBe(200);
  // Another unit's list is not theirs to export.
  expect((await get(`${base}.csv?unit=${SUS_ORTHO}&period=2024`, t.tokens.readerOther)).statusCode).toBe(403);
});

it('finalises the reviewed complete registrations in bulk, each in the history and the audit trail, leaving a case that changed since', async () => {
  const review = (await get('/api/registries/fracture/worklist/finalisable-ids')).json();
  expect(review.ids).toEqual([ids.d, ids.e, ids.f]);
  // Between the review and the confirmation, one of them gets a problem.
  const changed = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle({ ...complete, firstContact: '2024-05-20T12:00:00+02:00' })),
  });
  expect(changed.statusCode, changed.body).toBe(200);
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/registries/fracture/finalise',
    headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    payload: { caseIds: review.ids },
  });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toMatchObject({ finalisedCases: [ids.d, ids.e], skipped: [{ caseId: ids.f, reason: 'not-complete' }] });
  const forms = (
    await t.platform.db.pool.query("SELECT case_id, status FROM case_form WHERE registry = 'fracture' AND case_id = ANY($1)", [
      [ids.d, ids.e],
    ])
  ).rows;
  expect(forms.every((f) => f.status === 'finalised')).toBe(true);
  const history = (
    await t.platform.db.pool.query(
      "SELECT changes, source FROM value_history WHERE registry = 'fracture' AND case_id = $1 AND changes ? '$status'",
      [ids.d],
    )
  ).rows;
  expect(history.length).toBe(forms.filter((f) => Number(f.case_id) === ids.d).length);
  expect(history[0]).toMatchObject({ changes: { $status: ['draft', 'finalised'] }, source: { kind: 'user', bulk: true } });
  expect(
    (await t.platform.db.pool.query("SELECT count(*)::int AS n FROM audit_event WHERE action = 'finalise' AND purpose = 'case:finalise'"))
      .rows[0].n,
  ).toBe(2);
  // Again: nothing left to do.
  const again = await t.app.inject({
    method: 'POST',
    url: '/api/registries/fracture/finalise',
    headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    payload: { caseIds: [ids.d] },
  });
  expect(again.json().skipped).toEqual([{ caseId: ids.d, reason: 'already-finalised' }]);
  // Another unit's case cannot be slipped in; readers may not finalise.
  expect(
    (
      await t.app.inject({
        method: 'POST',
        url: '/api/registries/fracture/finalise',
        headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
        payload: { caseIds: [ids.other] },
      })
    ).statusCode,
  ).toBe(403);
  expect(
    (
      await t.app.inject({
        method: 'POST',
        url: '/api/registries/fracture/finalise',
        headers: { authorization: `Bearer ${t.tokens.readerOther}` },
        payload: { caseIds: [ids.other] },
      })
    ).statusCode,
  ).toBe(403);
  // What the quality-assured annual report rests on.
  await t.platform.analytics.refresh();
  expect((await get('/api/registries/fracture/finalised-share?year=2024')).json()).toMatchObject({ year: 2024, finalised: 2 });
});

it('warns in the annual report when its quality-assured dataset is mostly unfinalised', async () => {
  expect(finalisedWarning([{ n: 6311, finalised: 0 }], 'qa', '2025')[0]).toMatch(/^Advarsel: bare 0 av 6311 registreringer/);
  expect(finalisedWarning([{ n: 10, finalised: 6 }], 'qa', '2025')).toEqual([]);
  expect(finalisedWarning([{ n: 10, finalised: 0 }], 'fresh', '2025')).toEqual([]);
  expect(finalisedWarning([{ n: 10, finalised: 2 }], 'qa', '2025', 5)[0]).toMatch(/^Advarsel: færre enn 5 av 10 registreringer for 2025/);
  expect(SUS_ORTHO).toBeTruthy();
  // The report itself, as the registry admin gets it: 2 of 2024's 7 fractures finalised (after the
  // bulk finalise above), a count under the threshold said as "fewer than"; the period date by its
  // label, never the variable's id or English words.
  const res = await t.app.inject({
    method: 'GET',
    url: '/api/registries/fracture/reports/annual/2024.pdf?dataset=qa',
    headers: { authorization: `Bearer ${t.tokens.admin}` },
  });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  const { text } = await extractText(new Uint8Array(res.rawPayload), { mergePages: true });
  const flat = (text as string).replace(/\s+/g, ' ');
  expect(flat).toMatch(/Advarsel: færre enn 5 av 7 registreringer for 2024 er ferdigstilt/);
  expect(flat).toMatch(/7 brudd med skadedato i 2024/i);
  expect(flat).not.toMatch(/injury[ _]date|\bfemale\b|\bmale\b/i);
}, 120_000);
