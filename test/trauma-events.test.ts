// The trauma register's event and identity rules (definition catalogue v1.7 §4: "Generering av
// traume ID", "Pasienter med to traumehendelser samme døgn", "Ukjent traumedato", "Registrering av
// Dato/Tid"), declared in registries/trauma/mapping.yaml `event` and carried out by the platform's
// generic event identity (src/records/events.ts), and the W statistic (indicators.yaml
// `statistics`), on a real PostgreSQL through the HTTP API as hospitals and registrars use it.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { eventId, eventKey, groupEvents, type EventCase } from '../src/records/events.ts';
import { trissPs } from '../registries/trauma/functions.ts';
import { computeStatistic } from '../src/indicators/statistics.ts';
import { osloDate } from '../src/time/oslo.ts';
import { nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { traumaBundle, type TraumaSpec } from './helpers/trauma.ts';

let t: TestPlatform;
let registrar: string;
const SUS_ED = '8201102',
  SUS = '8201100',
  KALNES_ED = '8101102',
  KALNES = '8101100',
  NATION = '1';
const OBS = 'urn:kvalreg:codesystem:observation';

beforeAll(async () => {
  t = await testPlatform();
  registrar = await createToken(t.platform.db.pool, {
    name: 'trauma-registrar-sus',
    kind: 'user',
    grants: [{ registry: 'trauma', role: 'unit-registrar', unit: SUS }],
  });
});
afterAll(async () => {
  await t?.close();
});

const post = (bundle: unknown) =>
  t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
let n = 0;
const event = (over: Partial<TraumaSpec> = {}): TraumaSpec => ({
  id: `ev-${++n}`,
  nin: nin('1980-02-02', 'female'),
  unitResh: SUS_ED,
  arrival: '2024-03-10T15:00:00+01:00',
  traumaTeam: true,
  accident: { at: '2024-03-10T14:00:00+01:00' },
  mechanism: 'fall_high',
  intention: 'accident',
  injuryType: 'blunt',
  arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
  ais: ['853000.3'],
  ...over,
});
const send = async (e: TraumaSpec | Record<string, any>) => {
  const res = await post('resourceType' in e ? e : traumaBundle(e as TraumaSpec));
  expect(res.statusCode, res.body).toBe(200);
  return res;
};
/** The case of a sent event, with its event columns. */
const caseOf = async (e: TraumaSpec) =>
  (
    await q(
      "SELECT id, unit_resh, event_key, invalid_reason, merged_into FROM registry_case WHERE registry = 'trauma' AND anchor_key LIKE '%|' || $1",
      [e.id],
    )
  )[0];
const getCase = async (id: number) => {
  const res = await t.app.inject({
    method: 'GET',
    url: `/api/registries/trauma/cases/${id}`,
    headers: { authorization: `Bearer ${t.tokens.admin}` },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('the trauma ID', () => {
  it('is a keyed hash of the person and the accident date: deterministic, and no plain hash of the inputs', async () => {
    const e = event();
    await send(e);
    const c = await caseOf(e);
    const [p] = await q("SELECT encode(p.nin_hash, 'hex') AS h FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1", [
      c.id,
    ]);
    expect(c.event_key).toMatch(/^[0-9a-f]{64}$/);
    // Deterministic: the same person and date give the same key …
    expect(eventKey(t.platform.keys, 'trauma', p.h, '2024-03-10')).toBe(c.event_key);
    expect(eventKey(t.platform.keys, 'trauma', p.h, '2024-03-11')).not.toBe(c.event_key);
    // … but only with the platform's key: no plain hash of the identity number and date gives it.
    const plain = [`${e.nin}|2024-03-10`, `${e.nin}2024-03-10`, `${e.nin}20240310`, `${p.h}|2024-03-10`];
    for (const s of plain) {
      for (const alg of ['sha256', 'sha512', 'sha1', 'md5']) expect(crypto.createHash(alg).update(s).digest('hex')).not.toBe(c.event_key);
      expect(crypto.createHmac('sha256', t.platform.keys.hashKey).update(s).digest('hex')).not.toBe(c.event_key);
    }
    // Shown shortened on the case.
    const shown = await getCase(c.id);
    expect(shown.event).toEqual({
      label: { nb: 'Traume-ID', en: 'Trauma ID' },
      id: eventId(c.event_key),
      invalidReason: null,
      mergedInto: null,
    });
    expect(shown.event.id).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$/);
  });

  it('is new for a new trauma of the same patient on another date', async () => {
    const patient = nin('1981-03-03', 'male');
    const first = event({ nin: patient }),
      later = event({ nin: patient, accident: { at: '2024-05-01T11:00:00+02:00' }, arrival: '2024-05-01T12:00:00+02:00' });
    await send(first);
    await send(later);
    const [a, b] = [await caseOf(first), await caseOf(later)];
    expect(a.event_key).toBeTruthy();
    expect(b.event_key).toBeTruthy();
    expect(b.event_key).not.toBe(a.event_key);
    expect([a.invalid_reason, b.invalid_reason]).toEqual([null, null]);
  });

  it('moves with the accident date when a registrar corrects it', async () => {
    const patient = nin('1982-04-04', 'female');
    const e = event({ nin: patient, accident: undefined });
    await send(e);
    const c = await caseOf(e);
    expect(c.event_key).toBeNull(); // no start date yet: no event
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/registries/trauma/cases/${c.id}/forms/traumeperiode`,
      headers: { authorization: `Bearer ${registrar}` },
      payload: { values: { accident_date: '2024-03-09' } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const now = await caseOf(e);
    const [p] = await q("SELECT encode(nin_hash, 'hex') AS h FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1", [
      c.id,
    ]);
    expect(now.event_key).toBe(eventKey(t.platform.keys, 'trauma', p.h, '2024-03-09'));
    expect(res.json().event.id).toBe(eventId(now.event_key));
  });
});

describe('a transferred patient', () => {
  it('is registered by the receiving hospital in the same trauma event (one case per hospital)', async () => {
    const patient = nin('1975-05-05', 'male');
    const first = event({
      nin: patient,
      unitResh: SUS_ED,
      accident: { at: '2024-03-12T22:30:00+01:00' },
      arrival: '2024-03-12T23:10:00+01:00',
    });
    // Transferred to Kalnes the next day; the receiving hospital records the accident date only.
    const receiving = event({
      nin: patient,
      unitResh: KALNES_ED,
      transferredFrom: SUS,
      accident: { at: '2024-03-12' },
      arrival: '2024-03-13T09:00:00+01:00',
    });
    await send(receiving); // the receiving hospital's message may come first
    await send(first);
    const [a, b] = [await caseOf(first), await caseOf(receiving)];
    expect(a.id).not.toBe(b.id);
    expect([a.unit_resh, b.unit_resh]).toEqual([SUS_ED, KALNES_ED]);
    expect(b.event_key).toBe(a.event_key);
    expect([a.invalid_reason, b.invalid_reason]).toEqual([null, null]);
    expect((await getCase(b.id)).event.id).toBe((await getCase(a.id)).event.id);
  });
});

describe('a transfer whose hospitals recorded different accident dates', () => {
  // Catalogue §4, "Ukjent traumedato": "Det sykehuset som skal registere skadedato er det første
  // sykehuset som mottar pasient": the first receiving hospital's (estimated) date is the event's;
  // "Generering av traume ID": a receiving hospital must register in the same trauma event.
  it("joins the first hospital's event: one trauma event, not two", async () => {
    const patient = nin('1976-09-09', 'female');
    // Found late at night; the first hospital estimates the accident to the evening before.
    const first = event({
      nin: patient,
      unitResh: SUS_ED,
      accident: { at: '2022-03-20T22:00:00+01:00', estimated: true },
      arrival: '2022-03-21T03:10:00+01:00',
    });
    // The receiving hospital, two days later, records the date it was told: the day of arrival at the first.
    const receiving = event({
      nin: patient,
      unitResh: KALNES_ED,
      transferredFrom: SUS,
      accident: { at: '2022-03-21' },
      arrival: '2022-03-23T09:00:00+01:00',
    });
    await send(receiving); // the receiving hospital's message may come first
    await send(first);
    const [a, b] = [await caseOf(first), await caseOf(receiving)];
    expect(a.event_key).toBeTruthy();
    expect(b.event_key).toBe(a.event_key);
    expect([a.invalid_reason, b.invalid_reason]).toEqual([null, null]);
    const [p] = await q("SELECT encode(p.nin_hash, 'hex') AS h FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1", [
      a.id,
    ]);
    expect(a.event_key).toBe(eventKey(t.platform.keys, 'trauma', p.h, '2022-03-20')); // the first hospital's date
    // Counting events, the transfer is one patient event (30-day mortality counts events).
    await t.platform.analytics.refresh();
    const rows = await q('SELECT DISTINCT event_key FROM analytics.trauma WHERE case_id = ANY($1)', [[a.id, b.id]]);
    expect(rows).toHaveLength(1);
  });

  it('does not join an older trauma at the same hospital, or a hospital it did not come from', async () => {
    const patient = nin('1977-10-10', 'male');
    const old = event({
      nin: patient,
      unitResh: SUS_ED,
      accident: { at: '2022-01-05T12:00:00+01:00' },
      arrival: '2022-01-05T13:00:00+01:00',
    });
    const other = event({
      nin: patient,
      unitResh: KALNES_ED,
      accident: { at: '2022-03-01T12:00:00+01:00' },
      arrival: '2022-03-01T13:00:00+01:00',
    });
    // Transferred from SUS in March: SUS's only case is from January (weeks apart), so it is not this trauma.
    const transfer = event({
      nin: patient,
      unitResh: KALNES_ED,
      transferredFrom: SUS,
      accident: { at: '2022-03-02' },
      arrival: '2022-03-04T10:00:00+01:00',
    });
    for (const e of [old, other, transfer]) await send(e);
    const [o, k, tr] = [await caseOf(old), await caseOf(other), await caseOf(transfer)];
    expect(tr.event_key).not.toBe(o.event_key);
    expect(tr.event_key).not.toBe(k.event_key);
    const [p] = await q("SELECT encode(p.nin_hash, 'hex') AS h FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1", [
      tr.id,
    ]);
    expect(tr.event_key).toBe(eventKey(t.platform.keys, 'trauma', p.h, '2022-03-02')); // its own date, as before
  });

  it('follows the rule in the pure grouping: the referenced case, a chain of transfers, the window', () => {
    const c = (id: number, o: Partial<EventCase>): EventCase => ({
      id,
      unit: 'A1',
      unitPath: ['1', 'A', 'A1'],
      startDate: '2024-01-01',
      distinct: null,
      joins: false,
      sameDay: '2024-01-01',
      sameDayAt: `2024-01-01T0${id}:00:00Z`,
      from: null,
      ...o,
    });
    const cases = [
      c(1, {}), // first hospital A (department A1)
      c(2, { unit: 'B1', unitPath: ['1', 'B', 'B1'], joins: true, from: 'A', startDate: '2024-01-02', sameDay: '2024-01-03' }), // from hospital A, another date
      c(3, { unit: 'C1', unitPath: ['1', 'C', 'C1'], joins: true, from: 'B1', startDate: '2024-01-04', sameDay: '2024-01-05' }), // from B's department: a chain
      c(4, { unit: 'D1', unitPath: ['1', 'D', 'D1'], joins: true, from: 'A', startDate: '2024-01-20', sameDay: '2024-01-20' }), // 19 days apart: not this one
    ];
    const g = groupEvents(cases, { joinsWithinDays: 7 });
    expect(g.map((a) => a.event)).toEqual([
      { startDate: '2024-01-01' },
      { startDate: '2024-01-01' },
      { startDate: '2024-01-01' },
      { startDate: '2024-01-20' },
    ]);
    expect(g.map((a) => a.mergedInto)).toEqual([null, null, null, null]);
    // Without joinsFrom (from: null), a transfer keeps its own date, as before.
    expect(groupEvents([c(1, {}), c(2, { unit: 'B1', joins: true, startDate: '2024-01-02' })]).map((a) => a.event)).toEqual([
      { startDate: '2024-01-01' },
      { startDate: '2024-01-02' },
    ]);
    // Two transfers naming each other (a loop) fall back to their own dates.
    expect(
      groupEvents([
        c(5, { unit: 'B1', unitPath: ['B', 'B1'], joins: true, from: 'C' }),
        c(6, { unit: 'C1', unitPath: ['C', 'C1'], joins: true, from: 'B', startDate: '2024-01-02' }),
      ]).map((a) => a.event),
    ).toEqual([{ startDate: '2024-01-01' }, { startDate: '2024-01-02' }]);
  });
});

describe('two trauma alarms the same day', () => {
  it('for the same event are merged: the second is invalid, kept, and its injuries recorded in the first', async () => {
    const patient = nin('1990-06-06', 'female');
    const first = event({
      nin: patient,
      accident: { at: '2024-04-02T09:30:00+02:00' },
      arrival: '2024-04-02T10:00:00+02:00',
      ais: ['853000.3'],
    });
    // Discharged, back in the evening: a new alarm for the same accident, with an injury found now.
    const second = event({
      nin: patient,
      accident: { at: '2024-04-02T09:30:00+02:00' },
      arrival: '2024-04-02T19:00:00+02:00',
      ais: ['140602.3'],
    });
    // A third alarm the same day that gives no accident time is the same event too.
    const third = event({ nin: patient, accident: { at: '2024-04-02' }, arrival: '2024-04-02T22:00:00+02:00', ais: ['450203.3'] });
    await send(first);
    const res = await send(second);
    expect(res.body).toMatch(/second registration of the same event the same day; merged into case \d+ and marked invalid/);
    await send(third);
    const [a, b, c] = [await caseOf(first), await caseOf(second), await caseOf(third)];
    expect(b.event_key).toBe(a.event_key);
    expect(c.event_key).toBe(a.event_key);
    expect(a.invalid_reason).toBeNull();
    expect(b).toMatchObject({ invalid_reason: 'same-event-same-day', merged_into: a.id });
    expect(c).toMatchObject({ invalid_reason: 'same-event-same-day', merged_into: a.id });
    // Nothing deleted: the invalid case keeps its forms and is readable, marked.
    expect((await getCase(b.id)).event).toMatchObject({ invalidReason: 'same-event-same-day', mergedInto: a.id });
    // The first event holds every alarm's injuries (with their provenance), and its scores use them.
    const injuries = await q(
      "SELECT data->>'ais_code' AS code, provenance->'ais_code'->>'mergedFrom' AS merged FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'skadegradering' ORDER BY 1",
      [a.id],
    );
    expect(injuries).toEqual([
      { code: '140602.3', merged: String(b.id) },
      { code: '450203.3', merged: String(c.id) },
      { code: '853000.3', merged: null },
    ]);
    await t.platform.analytics.refresh();
    const rows = await q('SELECT case_id, iss FROM analytics.trauma WHERE case_id = ANY($1)', [[a.id, b.id, c.id]]);
    // Only the valid registration is in the analytics (and so in every indicator); ISS from three regions: 9 + 9 + 9.
    expect(rows.map((r) => Number(r.case_id))).toEqual([a.id]);
    expect(rows[0].iss).toBe(27);
    // … and not on the worklist.
    const wl = await t.app.inject({
      method: 'GET',
      url: '/api/registries/trauma/worklist',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect(wl.statusCode, wl.body).toBe(200);
    expect(wl.json().items.map((i: any) => i.caseId)).not.toContain(b.id);
  });

  it('the first alarm counts even when its message arrives after the second', async () => {
    const patient = nin('1991-07-07', 'male');
    const morning = event({ nin: patient, accident: { at: '2024-04-03T07:00:00+02:00' }, arrival: '2024-04-03T07:40:00+02:00' });
    const evening = event({ nin: patient, accident: { at: '2024-04-03T07:00:00+02:00' }, arrival: '2024-04-03T20:00:00+02:00' });
    await send(evening);
    await send(morning);
    const [m, ev] = [await caseOf(morning), await caseOf(evening)];
    expect(m.invalid_reason).toBeNull();
    expect(ev).toMatchObject({ invalid_reason: 'same-event-same-day', merged_into: m.id });
  });

  it('for two different traumas (different accident times) are two events', async () => {
    const patient = nin('1992-08-08', 'female');
    const morning = event({ nin: patient, accident: { at: '2024-04-04T08:00:00+02:00' }, arrival: '2024-04-04T08:30:00+02:00' });
    const evening = event({
      nin: patient,
      accident: { at: '2024-04-04T20:00:00+02:00' },
      arrival: '2024-04-04T20:40:00+02:00',
      mechanism: 'traffic_bicycle',
    });
    await send(morning);
    await send(evening);
    const [a, b] = [await caseOf(morning), await caseOf(evening)];
    expect([a.invalid_reason, b.invalid_reason]).toEqual([null, null]);
    expect(b.event_key).not.toBe(a.event_key);
    const [p] = await q("SELECT encode(nin_hash, 'hex') AS h FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1", [
      a.id,
    ]);
    // The first trauma of the date keeps the plain (person, date) ID; the second adds its accident time.
    expect(a.event_key).toBe(eventKey(t.platform.keys, 'trauma', p.h, '2024-04-04'));
    expect(b.event_key).toBe(eventKey(t.platform.keys, 'trauma', p.h, '2024-04-04', '2024-04-04T18:00:00.000Z'));
  });

  it('follow the rule in the pure grouping too, whatever the order of registration', () => {
    const c = (id: number, o: Partial<EventCase>): EventCase => ({
      id,
      unit: 'A',
      startDate: '2024-01-01',
      distinct: null,
      joins: false,
      sameDay: '2024-01-01',
      sameDayAt: `2024-01-01T0${id}:00:00Z`,
      ...o,
    });
    // Same accident time, same unit, same day → merged into the earliest alarm (case 3, registered last).
    expect(groupEvents([c(5, { distinct: 'x' }), c(4, { distinct: 'x' }), c(3, { distinct: 'x' })]).map((a) => a.mergedInto)).toEqual([
      3,
      3,
      null,
    ]);
    // Another unit the same day (a transfer) is not merged; another day is not merged.
    expect(groupEvents([c(1, {}), c(2, { unit: 'B', joins: true }), c(3, { sameDay: '2024-01-02' })]).map((a) => a.mergedInto)).toEqual([
      null,
      null,
      null,
    ]);
    // A transfer with an accident time no event has joins the date's first event, never starts one.
    const g = groupEvents([c(1, { distinct: 'x' }), c(2, { distinct: 'y' }), c(3, { distinct: 'z', joins: true, unit: 'B' })]);
    expect(g.map((a) => a.event)).toEqual([
      { startDate: '2024-01-01' },
      { startDate: '2024-01-01', distinct: 'y' },
      { startDate: '2024-01-01' },
    ]);
    // No start date: no event.
    expect(groupEvents([c(1, { startDate: null })])[0]).toEqual({ id: 1, event: null, mergedInto: null });
  });
});

describe('dates and times', () => {
  it('flags an estimated accident time', async () => {
    const e = event({ accident: { at: '2024-03-15T03:00:00+01:00', estimated: true } });
    await send(e);
    const [f] = await q("SELECT data, findings FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'ulykke'", [
      (await caseOf(e)).id,
    ]);
    expect(f.data).toMatchObject({ accident_time_estimated: true, accident_datetime: '2024-03-15T02:00:00.000Z' });
    expect(f.findings).toEqual([]);
  });

  it('allows the accident time to be unknown (a date alone), and the event is still identified', async () => {
    const e = event({ accident: { at: '2024-03-16', estimated: true } });
    await send(e);
    const c = await caseOf(e);
    const [f] = await q("SELECT data FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'traumeperiode'", [c.id]);
    expect(f.data.accident_date).toBe('2024-03-16');
    expect(c.event_key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lets only the accident time be estimated', async () => {
    const e = event();
    const bundle = traumaBundle(e);
    bundle.entry.push({
      fullUrl: `urn:uuid:observation-${e.id}-alarm`,
      resource: {
        resourceType: 'Observation',
        identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.999.7.observation', value: `${e.id}-alarm` }],
        status: 'final',
        subject: { reference: `urn:uuid:patient-${e.id}` },
        encounter: { reference: `urn:uuid:encounter-${e.id}` },
        code: { coding: [{ system: OBS, code: 'alarm-time' }] },
        valueDateTime: '2024-03-10T14:05:00+01:00',
        component: [{ code: { coding: [{ system: OBS, code: 'estimated' }] }, valueBoolean: true }],
      },
      request: { method: 'POST', url: 'Observation' },
    });
    await send(bundle);
    const [f] = await q("SELECT data, findings FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'prehospital'", [
      (await caseOf(e)).id,
    ]);
    expect(f.data.other_time_estimated).toBe(true);
    expect(f.findings.map((x: any) => [x.rule, x.severity])).toEqual([['only-accident-time-estimated', 'error']]);
    expect(f.findings[0].message.en).toMatch(/Only the time of the accident may be estimated/);
  });

  it('rejects 24:00 with a message that says why (a day is 00:00–23:59)', async () => {
    // HL7's R4 schema refuses it first (dateTime hours are 00–23): the answer names the element and says why.
    const res = await post(traumaBundle(event({ accident: { at: '2024-03-10T24:00:00+01:00' } })));
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/24:00 is not a valid time; use 00:00 of the next day/);
    const arrival = await post(traumaBundle(event({ arrival: '2024-03-10T24:00:00+01:00' })));
    expect(arrival.statusCode).toBe(400);
    const said = arrival.json().issue[0];
    expect(said.expression).toEqual(['Bundle.entry[1].resource.period.start']);
    expect(said.diagnostics).toMatch(/hours 00–23\). 24:00 is not a valid time; use 00:00 of the next day/);
  });
});

describe('a patient of unknown identity', () => {
  it('is registered with an auxiliary number issued by the platform, and gets a trauma ID', async () => {
    const issued = await t.app.inject({
      method: 'POST',
      url: '/api/auxiliary-numbers',
      headers: { authorization: `Bearer ${t.tokens.ehr}` },
    });
    expect(issued.statusCode, issued.body).toBe(201);
    const aux = issued.json();
    const e = event();
    const bundle = traumaBundle(e);
    bundle.entry[0].resource.identifier = [{ system: aux.system, value: aux.value }];
    await send(bundle);
    const c = await caseOf(e);
    const [p] = await q('SELECT p.nin_kind FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1', [c.id]);
    expect(p.nin_kind).toBe('auxiliary');
    expect(c.event_key).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('indicators and statistics count events', () => {
  it("30-day mortality counts a transferred patient's event once for the nation", async () => {
    await t.platform.analytics.refresh();
    await t.platform.indicators.ensureFresh(t.platform.registry('trauma')!, { asOf: '2025-06-01', force: true });
    const [counts] = await q(`SELECT count(*)::int AS cases, count(DISTINCT coalesce(event_key, 'case:' || case_id))::int AS events
      FROM analytics.trauma WHERE accident_date BETWEEN '2024-01-01' AND '2024-12-31'`);
    expect(counts.events).toBeLessThan(counts.cases); // the transfer: two hospitals, one event
    const [r] = await q(
      `SELECT denominator FROM indicator_result WHERE registry = 'trauma' AND indicator = 'ntr03_mortality_30_days'
      AND dataset = 'fresh' AND grain = 'year' AND period = '2024' AND unit_resh = $1 AND stratifier = ''`,
      [NATION],
    );
    expect(r.denominator).toBe(counts.events);
  });

  it('W statistic per hospital and nation on hand-built events (Champion et al. 1990, MTOS)', async () => {
    // W = (A − ΣPs) / N × 100 (Champion HR et al., J Trauma 1990;30:1356–65): A observed survivors,
    // Ps each patient's TRISS probability of survival, N patients. Every event here has GCS 15,
    // SBP 120, RR 16 (RTS 7.8408), one AIS 3 injury (ISS 9), blunt, age 39: b = −1.2470 +
    // 0.9544·7.8408 − 0.0768·9 = 5.5451, Ps = 1/(1 + e^−b) = 0.9961.
    const ps = trissPs('blunt', 7.8408, 9, 39)!;
    expect(ps).toBeCloseTo(0.9961, 4);
    const year = (over: Partial<TraumaSpec>) =>
      event({ nin: nin('1980-01-01'), accident: { at: '2019-05-01T10:00:00+02:00' }, arrival: '2019-05-01T11:00:00+02:00', ...over });
    const died = { at: '2019-05-03T10:00:00+02:00', disposition: 'exp' },
      home = { at: '2019-05-10T10:00:00+02:00', disposition: 'home' };
    const sus = [...Array.from({ length: 5 }, () => year({ discharge: home })), year({ discharge: died })]; // 6 events, 5 survive
    const kalnes = Array.from({ length: 5 }, () => year({ unitResh: KALNES_ED, discharge: home })); // 5 events, 5 survive
    // A SUS patient transferred to Kalnes: the same event, counted at the first hospital only.
    const transfer = year({
      nin: sus[0].nin,
      unitResh: KALNES_ED,
      transferredFrom: SUS,
      arrival: '2019-05-02T09:00:00+02:00',
      discharge: home,
    });
    // No arrival vitals: no Ps, not counted.
    const noPs = year({ unitResh: KALNES_ED, arrivalVitals: undefined, discharge: home });
    for (const e of [...sus, ...kalnes, transfer, noPs]) await send(e);
    expect((await caseOf(transfer)).event_key).toBe((await caseOf(sus[0])).event_key);
    await t.platform.analytics.refresh();
    // The registry declares that W is shown only from 30 patients (a W over a handful of patients
    // is noise): through the API every unit here is withheld, also the nation's 11.
    const res = await t.app.inject({ method: 'GET', url: '/api/registries/trauma/statistics?period=2019&statistic=ntr_w_statistic' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.statistics.map((s: any) => s.id)).toEqual(['ntr_w_statistic']);
    expect(body.statistics[0].minimumCount).toBe(30);
    expect(body.results.filter((r: any) => r.status === 'ok')).toEqual([]);
    expect(body.results.find((r: any) => r.unit === SUS)).toMatchObject({ status: 'too-few', n: null, value: null, interval: null });
    // The computation itself, with the minimum set aside.
    const stat = { ...t.platform.indicators.statistics('trauma')[0], minimumCount: 1 };
    const results = await t.platform.data.transaction(
      { kind: 'platform', task: 'test' },
      'test',
      (tx) =>
        computeStatistic(
          tx,
          t.platform.registry('trauma')!,
          stat,
          { asOf: osloDate(new Date().toISOString()), nation: NATION, units: t.platform.units },
          { grain: 'year', period: '2019', dataset: 'fresh' },
        ),
      { readOnly: true },
    );
    const at = (unit: string) => results.find((r) => r.unit === unit)!;
    const w = (a: number, nn: number) => Math.round(((a - nn * ps) / nn) * 100 * 100) / 100;
    // SUS: (5 − 6 × 0.9961) / 6 × 100 = −16.28; Kalnes: (5 − 5 × 0.9961) / 5 × 100 = 0.39; nation: (10 − 11 × 0.9961) / 11 × 100 = −8.70.
    expect(at(SUS)).toMatchObject({ status: 'ok', n: 6, sums: { observed: 5, expected: Math.round(6 * ps * 100) / 100 }, value: w(5, 6) });
    expect(at(SUS).value).toBeCloseTo(-16.28, 2);
    expect(at(KALNES)).toMatchObject({ status: 'ok', n: 5, sums: { observed: 5 }, value: w(5, 5) });
    expect(at(KALNES).value).toBeCloseTo(0.39, 2);
    expect(at(NATION)).toMatchObject({ status: 'ok', n: 11, value: w(10, 11) });
    expect(at(NATION).value).toBeCloseTo(-8.7, 1);
    // The 95 % interval: SE = √(Σ Ps(1 − Ps)) / N × 100 (Flora 1978); nation: √(11 × 0.9961 × 0.0039) / 11 × 100 = 1.88.
    const se = (Math.sqrt(11 * ps * (1 - ps)) / 11) * 100;
    expect(se).toBeCloseTo(1.88, 2);
    expect(at(NATION).interval!.lower).toBeCloseTo(w(10, 11) - 1.96 * se, 1);
    expect(at(NATION).interval!.upper).toBeCloseTo(w(10, 11) + 1.96 * se, 1);
    // Asked for one unit.
    const one = await t.app.inject({ method: 'GET', url: `/api/registries/trauma/statistics?period=2019&unit=${KALNES_ED}` });
    expect(one.json().results).toEqual([expect.objectContaining({ unit: KALNES_ED, status: 'too-few' })]);
    const few = await t.app.inject({ method: 'GET', url: `/api/registries/trauma/statistics?period=2024&unit=${KALNES_ED}` });
    expect(few.json().results).toEqual([]); // the 2024 transfer is not its first hospital: nothing to count
  });
});
