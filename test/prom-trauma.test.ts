// The trauma register's PROM (registries/trauma/prom.yaml): ATRS for an Achilles tendon injury
// (ICD-10 S86.0 among the injuries), asked as the fracture register asks its region-specific
// instruments — a recalled pre-injury baseline and again at 12 months — beside EQ-5D-5L at 12
// months; and non-response made visible: responders against non-responders per unit by age group,
// sex and the pre-injury ASA physical status (the register's health-state variable), so that
// "older and sicker non-responders" (the hip fracture register's experience) shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { saveResponse } from '../src/prom/responses.ts';
import type { Answers } from '../src/prom/scoring.ts';
import { nin } from './helpers/fixtures.ts';
import { SUS_HOSPITAL, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const PLATFORM = { kind: 'platform', task: 'test' } as const;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
let n = 0;
/** A trauma case at Stavanger; `icd10` goes on its one injury beside the AIS code, `asa` is the pre-injury ASA class. */
async function addTrauma(o: { nin: string; accident: string; icd10?: string; asa?: string }) {
  n += 1;
  const id = `prom-tr-${n}-${Date.now()}`;
  const bundle = traumaBundle({
    id,
    nin: o.nin,
    unitResh: SUS_HOSPITAL,
    arrival: o.accident.replace(/T(\d\d)/, (_, h) => `T${String(Number(h) + 1).padStart(2, '0')}`),
    traumaTeam: true,
    accident: { at: o.accident },
    ais: ['853422.2'],
  });
  const entries = bundle.entry as Array<Record<string, any>>;
  if (o.icd10) {
    const injury = entries.find((e) => e.resource.resourceType === 'Condition')!;
    injury.resource.code.coding.push({ system: 'urn:oid:2.16.578.1.12.4.1.1.7110', code: o.icd10 });
  }
  if (o.asa) {
    const enc = entries.find((e) => e.resource.resourceType === 'Encounter')!;
    entries.push({
      fullUrl: `urn:uuid:observation-${id}-asa`,
      resource: {
        resourceType: 'Observation',
        identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.999.7.observation', value: `${id}-asa` }],
        status: 'final',
        subject: { reference: entries[0].fullUrl },
        encounter: { reference: enc.fullUrl },
        code: { coding: [{ system: 'urn:kvalreg:codesystem:observation', code: 'asa-ps-preinjury' }] },
        valueCodeableConcept: { coding: [{ system: 'urn:kvalreg:codesystem:asa-ps', code: o.asa }] },
      },
      request: { method: 'POST', url: 'Observation' },
    });
  }
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
  const row = (await q("SELECT id, person_id FROM registry_case WHERE registry = 'trauma' ORDER BY id DESC LIMIT 1"))[0];
  return { caseId: Number(row.id), personId: Number(row.person_id) };
}
const itemsOf = (caseId: number) =>
  q(
    "SELECT timepoint, instrument, recall, status, invitation_id FROM prom_item WHERE registry = 'trauma' AND case_id = $1 ORDER BY timepoint, instrument",
    [caseId],
  );
const answer = (personId: number, invitationId: number, instrument: string, answers: Answers, at: string, recall = 'current') =>
  t.platform.data.transaction(PLATFORM, 'test', (tx) =>
    saveResponse(tx, {
      personId,
      invitationId,
      instrument: t.platform.prom.instruments.get(instrument)!,
      recall: recall as 'current' | 'pre-injury',
      answers,
      complete: true,
      provenance: { kind: 'patient' },
      at: new Date(at),
    }),
  );
const atrs = (v: number) => Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`atrs${i + 1}`, v]));

describe('ATRS for an Achilles tendon injury, scheduled like the fracture register’s region instruments', () => {
  it('a recalled baseline and 12 months for an Achilles injury (ICD-10 S86.0); nothing of it for other injuries', async () => {
    const achilles = await addTrauma({ nin: nin('1970-01-15', 'male'), accident: '2001-04-02T14:00:00+02:00', icd10: 'S86.0', asa: '1' });
    const other = await addTrauma({ nin: nin('1971-02-16', 'female'), accident: '2001-04-02T15:00:00+02:00', icd10: 'S82.1', asa: '1' });
    await t.platform.analytics.refresh();
    await t.platform.prom.runDue(new Date('2001-04-04T12:00:00Z'));
    expect((await itemsOf(achilles.caseId)).map((i) => [i.timepoint, i.instrument, i.recall, i.status])).toEqual([
      ['baseline', 'atrs', 'pre-injury', 'invited'],
    ]);
    expect(await itemsOf(other.caseId)).toEqual([]);
    const baseline = await answer(
      achilles.personId,
      Number((await itemsOf(achilles.caseId))[0].invitation_id),
      'atrs',
      atrs(10),
      '2001-04-05T10:00:00Z',
      'pre-injury',
    );
    expect(baseline.scores!.total.value).toBe(100);

    // One year on: EQ-5D-5L for both, ATRS for the Achilles injury only, in one invitation each.
    await t.platform.prom.runDue(new Date('2002-04-01T12:00:00Z'));
    const m12 = (await itemsOf(achilles.caseId)).filter((i) => i.timepoint === 'm12');
    expect(m12.map((i) => [i.instrument, i.recall])).toEqual([
      ['atrs', 'current'],
      ['eq5d5l', 'current'],
    ]);
    expect(new Set(m12.map((i) => i.invitation_id)).size).toBe(1);
    expect((await itemsOf(other.caseId)).map((i) => [i.timepoint, i.instrument])).toEqual([['m12', 'eq5d5l']]);
    const year = await answer(achilles.personId, Number(m12[0].invitation_id), 'atrs', atrs(7), '2002-04-02T10:00:00Z');
    expect(year.scores!.total.value).toBe(70);
    await t.platform.analytics.refresh();
    const row = (
      await q('SELECT achilles_injuries, prom_baseline_atrs_total, prom_m12_atrs_total FROM analytics.trauma WHERE case_id = $1', [
        achilles.caseId,
      ])
    )[0];
    expect(row).toEqual({ achilles_injuries: 1, prom_baseline_atrs_total: 100, prom_m12_atrs_total: 70 });
  });
});

describe('non-response visible: responders against non-responders by age group, sex and pre-injury ASA, per unit', () => {
  it('counts each comparison group of the unit; the public results carry the ASA comparison, small counts withheld', async () => {
    // Six patients injured in 2003, each asked EQ-5D-5L at 12 months. ASA 1: two of three answer;
    // ASA 3: one of three answers (the sicker answer less).
    const patients = [
      { asa: '1', born: '1980-03-01', sex: 'male' as const, answers: true },
      { asa: '1', born: '1981-03-02', sex: 'female' as const, answers: true },
      { asa: '1', born: '1982-03-03', sex: 'male' as const, answers: false },
      { asa: '3', born: '1930-03-04', sex: 'female' as const, answers: true },
      { asa: '3', born: '1931-03-05', sex: 'male' as const, answers: false },
      { asa: '3', born: '1932-03-06', sex: 'female' as const, answers: false },
    ];
    const added = [];
    for (const [i, p] of patients.entries())
      added.push({
        ...p,
        ...(await addTrauma({
          nin: nin(p.born, p.sex),
          accident: `2003-05-${String(10 + i).padStart(2, '0')}T12:00:00+02:00`,
          asa: p.asa,
        })),
      });
    await t.platform.analytics.refresh();
    await t.platform.prom.runDue(new Date('2004-05-16T12:00:00Z'));
    for (const p of added.filter((x) => x.answers)) {
      const [item] = await itemsOf(p.caseId);
      await answer(
        p.personId,
        Number(item.invitation_id),
        'eq5d5l',
        { mobility: '1', selfcare: '1', usual: '2', pain: '2', anxiety: '1', vas: 80 },
        '2004-05-17T10:00:00Z',
      );
    }
    await t.platform.analytics.refresh();
    const trauma = t.platform.registry('trauma')!;
    const asOf = '2004-12-31';
    // Counted without withholding (threshold 1), to check the numbers themselves.
    const open = await t.platform.prom.results.results(
      { ...trauma, meta: { ...trauma.meta, smallCountThreshold: 1 } },
      { year: '2003', unit: SUS_HOSPITAL, asOf },
    );
    const by = (variable: string) =>
      open.responders
        .find((r) => r.timepoint === 'm12' && r.variable === variable)!
        .rows.map((r) => [r.value, r.eligible, r.responders, r.nonResponders]);
    expect(by('asa_preinjury')).toEqual([
      ['1', 3, 2, 1],
      ['3', 3, 1, 2],
    ]);
    expect(by('sex')).toEqual([
      ['female', 3, 2, 1],
      ['male', 3, 1, 2],
    ]);
    expect(by('age_group')).toEqual([
      ['16-54', 3, 2, 1],
      ['55-74', 3, 1, 2],
    ]);
    // The same through the open API, with the registry's threshold (5): every cell here is small.
    const res = await t.app.inject({ method: 'GET', url: `/api/registries/trauma/prom/results?year=2003&unit=${SUS_HOSPITAL}` });
    expect(res.statusCode).toBe(200);
    const asa = res.json().responders.find((r: any) => r.timepoint === 'm12' && r.variable === 'asa_preinjury');
    expect(asa.label.en).toMatch(/ASA/);
    expect(asa.rows.every((r: any) => r.responders === null && r.nonResponders === null)).toBe(true);
  });
});
