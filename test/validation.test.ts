// Correctness by re-abstraction: Cohen's kappa against a published worked example, differences
// for times, and the whole round: a sample drawn per unit, re-registered by the unit's registrar
// without seeing the stored values, agreement per variable, and the validation dataset in the
// layout Norwegian registries' R tools read (rapwhale: vld_varnamn, vld_vartype,
// vld_verdi_intern_<type>, vld_verdi_ekstern_<type>).
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { categoryAgreement, differenceAgreement } from '../src/quality/agreement.ts';
import { fracture } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { sendFracture } from './helpers/capture.ts';

describe("Cohen's kappa", () => {
  // The worked example of Wikipedia's "Cohen's kappa" article (two readers, 50 grant proposals:
  // both yes 20, A yes and B no 5, A no and B yes 10, both no 15): po = 0.7, pe = 0.5, κ = 0.4.
  // Standard error (Cohen 1960, as given there): sqrt(po (1 − po) / (N (1 − pe)²)) = sqrt(0.21 / 12.5)
  // = 0.12961; 95 % interval 0.4 ± 1.959964 · 0.12961 = 0.1460 … 0.6540.
  const pairs = [
    ...Array.from({ length: 20 }, () => ({ internal: 'yes', external: 'yes' })),
    ...Array.from({ length: 5 }, () => ({ internal: 'yes', external: 'no' })),
    ...Array.from({ length: 10 }, () => ({ internal: 'no', external: 'yes' })),
    ...Array.from({ length: 15 }, () => ({ internal: 'no', external: 'no' })),
  ];
  it('follows the worked example', () => {
    const a = categoryAgreement(pairs);
    expect(a.po).toBeCloseTo(0.7, 12);
    expect(a.pe).toBeCloseTo(0.5, 12);
    expect(a.kappa).toBeCloseTo(0.4, 12);
    expect(a.kappaInterval!.lower).toBeCloseTo(0.146, 3);
    expect(a.kappaInterval!.upper).toBeCloseTo(0.654, 3);
    expect(a.percent).toBe(0.7);
  });
  it('is undefined when both sources always give one category', () => {
    expect(
      categoryAgreement([
        { internal: 'a', external: 'a' },
        { internal: 'a', external: 'a' },
      ]).kappa,
    ).toBeNull();
    expect(categoryAgreement([]).percent).toBeNull();
  });
  it('differences: mean, limits of agreement, median absolute difference', () => {
    // external − internal: 0, 10, −10, 20 minutes → mean 5, SD sqrt(((−5)² + 5² + (−15)² + 15²) / 3) = sqrt(500 / 3) = 12.910;
    // limits 5 ± 1.959964 · 12.910; median |d| = (10 + 10) / 2 = 10; equal in 1 of 4.
    const d = differenceAgreement(
      [
        { internal: 0, external: 0 },
        { internal: 0, external: 10 },
        { internal: 10, external: 0 },
        { internal: 0, external: 20 },
        { internal: null, external: 5 },
      ],
      'minutes',
    );
    expect(d).toMatchObject({ n: 4, agree: 1, meanDifference: 5, medianAbsolute: 10 });
    expect(d.sd).toBeCloseTo(12.9099, 3);
    expect(d.limits!.upper).toBeCloseTo(5 + 1.959964 * 12.9099, 2);
  });
});

describe('a re-abstraction study', () => {
  let t: TestPlatform;
  let registrarOther: string;
  beforeAll(async () => {
    t = await testPlatform();
    registrarOther = await createToken(t.platform.db.pool, {
      name: 'registrar-other',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: OTHER_ORTHO }],
    });
    for (let i = 0; i < 6; i++) {
      const f = fracture({
        injuryDateTime: `2023-0${1 + i}-10T10:00:00+01:00`,
        firstContact: `2023-0${1 + i}-10T12:00:00+01:00`,
        energy: i % 2 ? 'high' : 'low',
        unitResh: i < 4 ? SUS_ORTHO : OTHER_ORTHO,
      });
      await sendFracture(t, f);
    }
    await t.platform.analytics.refresh();
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it('draws per unit, hides the stored values, and measures agreement', async () => {
    const h = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/registries/fracture/validation-studies',
      headers: h(t.tokens.admin),
      payload: { name: 'Validering 2023', year: 2023, variables: ['injury_energy', 'first_contact_datetime'], perUnit: 3, seed: 's1' },
    });
    expect(created.statusCode, created.body).toBe(201);
    // 3 of SUS's 4, and both of Kalnes's 2.
    expect(created.json()).toMatchObject({ drawn: 5, units: 2 });
    const study = created.json().id;
    // The same seed draws the same sample.
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/registries/fracture/validation-studies',
      headers: h(t.tokens.admin),
      payload: { name: 'Igjen', year: 2023, variables: ['injury_energy'], perUnit: 3, seed: 's1' },
    });
    const ids = async (s: number) =>
      (await t.platform.db.pool.query('SELECT case_id FROM validation_sample WHERE study_id = $1 ORDER BY 1', [s])).rows.map(
        (r) => r.case_id,
      );
    expect(await ids(again.json().id)).toEqual(await ids(study));

    const sample = await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/validation-studies/${study}/sample?unit=${SUS_ORTHO}`,
      headers: h(t.tokens.registrarSus),
    });
    expect(sample.statusCode, sample.body).toBe(200);
    const s = sample.json();
    expect(s.cases).toHaveLength(3);
    expect(s.cases[0].nationalId).toMatch(/^\d{11}$/);
    // Definitions only: no stored value of the study's variables anywhere in the answer.
    expect(JSON.stringify(s)).not.toMatch(/"(low|high)"(?!,? *")/);
    expect(s.variables.map((v: any) => v.id)).toEqual(['injury_energy', 'first_contact_datetime']);
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/registries/fracture/validation-studies/${study}/sample?unit=${SUS_ORTHO}`,
          headers: h(registrarOther),
        })
      ).statusCode,
    ).toBe(403);

    // The registrar re-registers: the first agrees, the second differs in energy and by 30 minutes, the third has no energy in the record.
    const stored = (
      await t.platform.db.pool.query(
        `SELECT a.case_id, a.injury_energy, a.first_contact_datetime FROM analytics.fracture a WHERE a.case_id = ANY($1) ORDER BY a.case_id`,
        [s.cases.map((c: any) => c.caseId)],
      )
    ).rows;
    const put = (caseId: number, values: object, token = t.tokens.registrarSus) =>
      t.app.inject({
        method: 'PUT',
        url: `/api/registries/fracture/validation-studies/${study}/cases/${caseId}`,
        headers: h(token),
        payload: { values },
      });
    const flip = (e: string) => (e === 'low' ? 'high' : 'low');
    expect(
      (
        await put(stored[0].case_id, {
          injury_energy: stored[0].injury_energy,
          first_contact_datetime: new Date(stored[0].first_contact_datetime).toISOString(),
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await put(stored[1].case_id, {
          injury_energy: flip(stored[1].injury_energy),
          first_contact_datetime: new Date(new Date(stored[1].first_contact_datetime).getTime() + 30 * 60_000).toISOString(),
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await put(stored[2].case_id, {
          injury_energy: null,
          first_contact_datetime: new Date(stored[2].first_contact_datetime).toISOString(),
        })
      ).statusCode,
    ).toBe(200);
    // A value the codebook refuses stores nothing; another unit's registrar is refused.
    const bad = await put(stored[0].case_id, { injury_energy: 'medium' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error).toMatch(/not a code/);
    expect((await put(stored[0].case_id, { injury_energy: 'low' }, registrarOther)).statusCode).toBe(403);

    const ag = await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/validation-studies/${study}/agreement`,
      headers: h(t.tokens.admin),
    });
    expect(ag.statusCode, ag.body).toBe(200);
    const energy = ag.json().variables.find((v: any) => v.variable === 'injury_energy');
    // 1 of 3 agree (missing in the record is a disagreement of its own).
    expect(energy).toMatchObject({ kind: 'category', n: 3, agree: 1 });
    const time = ag.json().variables.find((v: any) => v.variable === 'first_contact_datetime');
    expect(time).toMatchObject({ kind: 'difference', unit: 'minutes', n: 3, agree: 2, meanDifference: 10 });

    const csv = await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/validation-studies/${study}/dataset.csv`,
      headers: h(t.tokens.admin),
    });
    expect(csv.statusCode).toBe(200);
    const rows = parse(csv.body, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0])).toEqual([
      'case_id',
      'unit_resh',
      'period_date',
      'vld_varnamn',
      'vld_vartype',
      'vld_verdi_intern_dato_kl',
      'vld_verdi_ekstern_dato_kl',
      'vld_verdi_intern_tekst',
      'vld_verdi_ekstern_tekst',
    ]);
    expect(rows).toHaveLength(6);
    const second = rows.find((r) => r.case_id === String(stored[1].case_id) && r.vld_varnamn === 'injury_energy')!;
    expect(second).toMatchObject({
      vld_vartype: 'tekst',
      vld_verdi_intern_tekst: stored[1].injury_energy,
      vld_verdi_ekstern_tekst: flip(stored[1].injury_energy),
      vld_verdi_intern_dato_kl: '',
    });
  });
});
