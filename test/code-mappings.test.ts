// FHIR codes read as their code systems define them, through the real capture pipeline: what a
// hospital sends must land in the registry as the code means, and a code meaning "unknown" must not
// become a value. Each expectation names the code system's own definition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { traumaBundle, type TraumaSpec } from './helpers/trauma.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const post = async (bundle: unknown) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res;
};
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;

describe('the trauma register reads HL7 discharge-disposition codes as the code system defines them', () => {
  // http://terminology.hl7.org/CodeSystem/discharge-disposition (HL7 Terminology, THO): "hosp" is
  // Hospice ("The patient has been discharged into palliative care"); "other-hcf" is Other healthcare
  // facility ("The patient was transferred to another healthcare facility"); "psy" Psychiatric hospital;
  // "long" Long-term care; "snf" Skilled nursing facility; "exp" Expired.
  let n = 0;
  const discharged = async (code: string) => {
    const spec: TraumaSpec = {
      id: `dd-${++n}`,
      nin: nin('1960-01-01', 'male'),
      unitResh: '8201102',
      arrival: '2024-06-01T10:00:00+02:00',
      traumaTeam: true,
      accident: { at: '2024-06-01T09:20:00+02:00' },
      mechanism: 'fall_high',
      intention: 'accident',
      injuryType: 'blunt',
      arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
      ais: ['853000.3'],
      discharge: { at: '2024-06-05T10:00:00+02:00', disposition: code },
    };
    spec.nin = nin(`19${String(40 + n).padStart(2, '0')}-01-01`, 'male');
    await post(traumaBundle(spec));
    const [f] = await q(
      "SELECT f.data FROM case_form f JOIN registry_case c ON c.id = f.case_id AND c.registry = f.registry WHERE f.registry = 'trauma' AND f.form = 'sykehusopphold' AND c.anchor_key LIKE '%|' || $1",
      [spec.id],
    );
    return f.data.discharge_status;
  };
  it('hospice is not another hospital; another healthcare facility and a psychiatric hospital are', async () => {
    expect(await discharged('hosp')).toBe('other');
    expect(await discharged('other-hcf')).toBe('other_hospital');
    expect(await discharged('psy')).toBe('other_hospital');
    expect(await discharged('long')).toBe('nursing_home');
    expect(await discharged('snf')).toBe('nursing_home');
    expect(await discharged('exp')).toBe('dead');
    expect(await discharged('rehab')).toBe('rehabilitation');
  });
});

describe('the fracture register reads SNOMED CT qualifier values as SNOMED CT defines them', () => {
  const skade = async (id: string) =>
    (
      await q(
        "SELECT f.data, f.missing FROM case_form f JOIN registry_case c ON c.id = f.case_id AND c.registry = f.registry WHERE f.registry = 'fracture' AND f.form = 'skade' AND c.anchor_key LIKE '%|' || $1",
        [id],
      )
    )[0];
  it('385432009 Not applicable is a midline fracture; 261665006 Unknown is no side, left for the registrar', async () => {
    // SNOMED CT qualifier values 385432009 "Not applicable" and 261665006 "Unknown", sent as such.
    const withSide = (f: ReturnType<typeof fracture>, code: string) => {
      const b = ehrBundle(f);
      b.entry.find((e: any) => e.resource.resourceType === 'Condition').resource.bodySite = [
        { coding: [{ system: 'http://snomed.info/sct', code }] },
      ];
      return b;
    };
    const midline = fracture({ nin: nin('1961-02-02') });
    await post(withSide(midline, '385432009'));
    expect((await skade(midline.id)).data.side).toBe('not_applicable');

    const unknown = fracture({ nin: nin('1962-03-03') });
    const res = await post(withSide(unknown, '261665006'));
    expect(res.body).toMatch(/fracture: case \d+ created/);
    const f = await skade(unknown.id);
    expect(f.data.side).toBeUndefined();
    expect(f.missing).toContain('side'); // on the unit's worklist: the registrar completes it
    // The message builder sends the same codes.
    const built = ehrBundle(fracture({ side: 'not_applicable' })).entry.find((e: any) => e.resource.resourceType === 'Condition').resource
      .bodySite[0].coding[0].code;
    expect(built).toBe('385432009');
  });

  it('a smoker whose current status is unknown (77176002) is not recorded as a non-daily smoker', async () => {
    // LOINC 72166-2 answers mapped to SNOMED CT (HL7 IPS ConceptMap "Smoking Status: LOINC Answers to
    // SNOMED CT"): LA18979-7 "Smoker, current status unknown" ~ 77176002; LA18976-3 "Current every day
    // smoker" ~ 449868002; LA18978-9 "Never smoker" ~ 266919005.
    const smoking = (f: ReturnType<typeof fracture>, code: string) => {
      const b = ehrBundle({ ...f, smoker: true });
      const obs = b.entry.find((e: any) => e.fullUrl === `urn:uuid:smoking-${f.id}`).resource;
      obs.valueCodeableConcept.coding[0].code = code;
      return b;
    };
    const behandling = async (id: string) =>
      (
        await q(
          "SELECT f.data FROM case_form f JOIN registry_case c ON c.id = f.case_id AND c.registry = f.registry WHERE f.registry = 'fracture' AND f.form = 'behandling' AND c.anchor_key LIKE '%|' || $1",
          [id],
        )
      )[0]?.data ?? {};
    const clavicle = (n: number) => fracture({ aoCode: '15.2A', nin: nin(`19${70 + n}-04-04`) });
    const statusUnknown = clavicle(1),
      daily = clavicle(2),
      never = clavicle(3);
    await post(smoking(statusUnknown, '77176002'));
    await post(smoking(daily, '449868002'));
    await post(smoking(never, '266919005'));
    expect((await behandling(statusUnknown.id)).daily_smoker).toBeUndefined();
    expect((await behandling(daily.id)).daily_smoker).toBe(true);
    expect((await behandling(never.id)).daily_smoker).toBe(false);
  });
});
