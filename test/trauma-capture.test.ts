// The National Trauma Register as the platform's second registry: its definition loads, hospital
// messages become trauma events with injury scores, inclusion and exclusion follow the definition
// catalogue §2, and the two registries do not take each other's cases.
import fs from 'node:fs';
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

const ED = '8201102';
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
  id: `trauma-${++n}`,
  nin: nin('1975-03-03', 'male'),
  unitResh: ED,
  arrival: '2024-06-01T10:00:00+02:00',
  traumaTeam: true,
  accident: { at: '2024-06-01T09:20:00+02:00' },
  mechanism: 'fall_high',
  intention: 'accident',
  injuryType: 'blunt',
  arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
  ais: ['853000.3'],
  ...over,
});
const decision = async (id: string) =>
  (await q("SELECT decision FROM routing_decision WHERE registry = 'trauma' AND anchor_key LIKE '%' || $1", [`|${id}`]))[0]?.decision;

describe('trauma events from hospital messages', () => {
  it('captures the documented example with its injuries, and scores them', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: fs.readFileSync('docs/examples/trauma-reception.json', 'utf8'),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toMatch(/trauma: case \d+ created/);
    expect(res.body).not.toMatch(/fracture: case/);
    const forms = await q(
      "SELECT form, instance, data, missing, findings FROM case_form WHERE registry = 'trauma' ORDER BY form, instance",
    );
    const form = (id: string) => forms.find((f) => f.form === id)!.data;
    expect(form('traumeperiode')).toMatchObject({
      treating_unit: ED,
      trauma_team_activated: true,
      transferred_in: false,
      accident_date: '2024-05-18',
    });
    expect(form('ulykke')).toMatchObject({
      mechanism: 'traffic_motorcycle',
      intention: 'accident',
      dominant_injury_type: 'blunt',
      accident_time_estimated: false,
    });
    expect(form('akuttmottak')).toMatchObject({
      gcs_arrival: 14,
      sbp_arrival: 88,
      rr_arrival: 26,
      ct_performed: true,
      emergency_surgery: true,
    });
    expect(form('prehospital')).toMatchObject({ prehospital_gcs: 13, prehospital_sbp: 95, prehospital_rr: 24 });
    expect(form('sykehusopphold')).toMatchObject({ discharge_status: 'rehabilitation' });
    expect(
      forms
        .filter((f) => f.form === 'skadegradering')
        .map((f) => f.data.ais_code)
        .sort(),
    ).toEqual(['140602.3', '450203.3', '544222.3', '853422.3']);

    await t.platform.analytics.refresh();
    const [row] = await q(
      'SELECT ais_codes, iss, niss, max_ais, head_ais, rts_arrival, t_rts_arrival, triss_ps, minutes_arrival_to_ct, ct_within_first_hour FROM analytics.trauma',
    );
    // Four AIS 3 injuries in four ISS regions: ISS = NISS = 3 × 3² = 27. GCS 14 (4), SBP 88 (3), RR 26 (4):
    // RTS = 3.7472 + 2.1978 + 1.1632 = 7.1082. Blunt, age 43: b = −1.2470 + 0.9544·7.1082 − 0.0768·27 = 3.4616 → Ps 0.9696.
    expect(row).toMatchObject({
      ais_codes: '140602.3,450203.3,544222.3,853422.3',
      iss: 27,
      niss: 27,
      max_ais: 3,
      head_ais: 3,
      t_rts_arrival: 11,
      ct_within_first_hour: true,
    });
    expect(row.rts_arrival).toBeCloseTo(7.1082, 4);
    expect(row.triss_ps).toBeCloseTo(0.9696, 3);
    expect(row.minutes_arrival_to_ct).toBeCloseTo(19, 6);
  });

  it('includes patients without a trauma team only on a basis of the catalogue, and applies the exclusions', async () => {
    const none = event({ traumaTeam: false });
    const penetrating = event({ traumaTeam: false, inclusionBasis: 'penetrating', injuryType: 'penetrating' });
    const drownedNoTeam = event({ traumaTeam: false, inclusionBasis: 'niss-over-12', icd10Reason: 'T75.1' });
    const drownedTeam = event({ traumaTeam: true, icd10Reason: 'T751' });
    const groupB = event({ traumaTeam: false, inclusionBasis: 'dead-before-arrival', arrivalVitals: undefined });
    for (const e of [none, penetrating, drownedNoTeam, drownedTeam, groupB]) {
      const res = await post(traumaBundle(e));
      expect(res.statusCode, res.body).toBe(200);
    }
    expect(await decision(none.id)).toBe('not-included');
    expect(await decision(penetrating.id)).toBe('included');
    expect(await decision(drownedNoTeam.id)).toBe('not-included'); // excluded: drowning, no trauma team
    expect(await decision(drownedTeam.id)).toBe('included'); // "NB! included anyway when received by the trauma team"
    expect(await decision(groupB.id)).toBe('included');
    const [b] = await q(
      "SELECT f.data, f.missing FROM case_form f JOIN registry_case c ON c.id = f.case_id WHERE c.registry = 'trauma' AND c.anchor_key LIKE '%|' || $1 AND f.form = 'prehospital'",
      [groupB.id],
    );
    expect(b.data.dead_on_arrival).toBe(true);
    const [ed] = await q(
      "SELECT f.missing FROM case_form f JOIN registry_case c ON c.id = f.case_id WHERE c.registry = 'trauma' AND c.anchor_key LIKE '%|' || $1 AND f.form = 'akuttmottak'",
      [groupB.id],
    );
    expect(ed.missing).toEqual([]); // no arrival vitals are asked of the dead
  });

  it('puts an invalid AIS code on the worklist with the rule that explains it', async () => {
    const e = event({ ais: ['85300.3', '140602.3'] });
    expect((await post(traumaBundle(e))).statusCode).toBe(200);
    const rows = await q(
      "SELECT f.data, f.findings FROM case_form f JOIN registry_case c ON c.id = f.case_id WHERE c.registry = 'trauma' AND c.anchor_key LIKE '%|' || $1 AND f.form = 'skadegradering' ORDER BY f.instance",
      [e.id],
    );
    const bad = rows.find((r) => r.data.ais_code === '85300.3')!;
    expect(bad.findings.map((f: any) => f.rule)).toEqual(['ais-code-valid']);
    expect(rows.find((r) => r.data.ais_code === '140602.3')!.findings).toEqual([]);
  });

  it('refuses a value the codebook does not allow, naming the variable', async () => {
    const res = await post(traumaBundle(event({ arrivalVitals: { gcs: 2, sbp: 120, rr: 16 } })));
    expect(res.statusCode).toBe(422);
    expect(res.body).toMatch(/trauma: gcs_arrival must be at least 3/);
  });

  it('keeps the registries apart: a fracture message makes no trauma event and a trauma message no fracture case', async () => {
    const before = await q('SELECT registry, count(*)::int AS n FROM registry_case GROUP BY registry');
    const res = await post(ehrBundle(fracture()));
    expect(res.statusCode, res.body).toBe(200);
    const after = await q('SELECT registry, count(*)::int AS n FROM registry_case GROUP BY registry');
    const count = (rows: any[], r: string) => rows.find((x) => x.registry === r)?.n ?? 0;
    expect(count(after, 'fracture')).toBe(count(before, 'fracture') + 1);
    expect(count(after, 'trauma')).toBe(count(before, 'trauma'));
  });
});
