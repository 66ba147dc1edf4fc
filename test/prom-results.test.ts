// PROM results: scores reach the analytics table through the codebook's `prom` variables (and leave
// it when an answer is taken back); response rates and responders against non-responders per unit
// are open aggregates with small cells withheld, also where a withheld cell could be found by
// subtraction; the patient's innsyn shows the questionnaires they were sent and their answers, and
// no one else's; and a registry that declares PROM results or parameters wrongly is told where.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { questionnaireResponse, responseBundle } from '../src/prom/eprom.ts';
import { loadSchedules, ScheduleError } from '../src/prom/schedule.ts';
import { DefinitionError, loadRegistry } from '../src/registry/load.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;
const EQ = (level: string, vas: number) => ({ mobility: level, selfcare: level, usual: level, pain: level, anxiety: level, vas });
async function post(bundle: unknown) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}
let seq = 0;
const answer = (who: string, authored: string, answers: Record<string, unknown>, instrument = 'eq5d5l') =>
  questionnaireResponse({
    instrument: t.platform.prom.instruments.get(instrument)!,
    answers: answers as any,
    nin: who,
    authored,
    identifier: { system: 'urn:oid:2.16.578.1.12.4.1.999.7.qr', value: `r-${++seq}` },
  });

// 2023: Stavanger orthopaedics has 12 wrist fractures (8 women, 6 of whom answer at 6 weeks; 4 men,
// 2 of whom answer); Kalnes has 3 (2 answer). Every window of 2023 has closed.
const sus: Array<ReturnType<typeof fracture>> = [];
const kalnes: Array<ReturnType<typeof fracture>> = [];
let patient: ReturnType<typeof fracture>;
beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 12; i++)
    sus.push(
      fracture({
        nin: nin(`19${60 + i}-0${1 + (i % 9)}-1${i % 10}`, i < 8 ? 'female' : 'male'),
        gender: i < 8 ? 'female' : 'male',
        unitResh: SUS_ORTHO,
        injuryDateTime: `2023-0${1 + (i % 6)}-10T10:00:00+01:00`,
        firstContact: `2023-0${1 + (i % 6)}-10T11:00:00+01:00`,
      }),
    );
  for (let i = 0; i < 3; i++)
    kalnes.push(
      fracture({
        nin: nin(`19${75 + i}-05-05`, 'female'),
        gender: 'female',
        unitResh: OTHER_ORTHO,
        injuryDateTime: '2023-04-03T10:00:00+02:00',
        firstContact: '2023-04-03T11:00:00+02:00',
      }),
    );
  for (const f of [...sus, ...kalnes]) await post(ehrBundle(f));
  const w6 = (f: ReturnType<typeof fracture>) =>
    `${f.injuryDateTime.slice(0, 5)}${String(Number(f.injuryDateTime.slice(5, 7)) + 1).padStart(2, '0')}-22T18:00:00Z`;
  const answering = [...sus.slice(0, 6), ...sus.slice(8, 10), ...kalnes.slice(0, 2)];
  await post(responseBundle(answering.map((f, i) => answer(f.nin, w6(f), EQ(String(1 + (i % 3)), 70)))));
  patient = sus[0];
  await t.platform.analytics.refresh();
});
afterAll(async () => {
  await t?.close();
});

const results = async (unit?: string) =>
  (await t.app.inject({ method: 'GET', url: `/api/registries/fracture/prom/results?year=2023${unit ? `&unit=${unit}` : ''}` })).json();

describe('results per unit', () => {
  it('response rates: open to all, the unit beside the nation, small counts withheld (a rate whose non-responders are few, too)', async () => {
    const r = await results(SUS_ORTHO);
    expect(r.smallCountThreshold).toBe(5);
    const w6 = r.responseRates.find((x: any) => x.timepoint === 'w6' && x.instrument === 'eq5d5l');
    // 12 asked, 8 answered, 4 did not: the 4 (and so the 8) are withheld, the 12 is not.
    expect(w6.unit).toEqual({ eligible: 12, responders: null, nonResponders: null, rate: null });
    expect(w6.nation).toEqual({ eligible: 15, responders: 10, nonResponders: 5, rate: 10 / 15 });
    const other = (await results(OTHER_ORTHO)).responseRates.find((x: any) => x.timepoint === 'w6' && x.instrument === 'eq5d5l');
    expect(other.unit).toEqual({ eligible: null, responders: null, nonResponders: null, rate: null });
    // The 12-month window asked PRWHE and the anchor questions of everyone too; no one answered.
    expect(r.responseRates.find((x: any) => x.timepoint === 'm12' && x.instrument === 'prwhe').nation).toEqual({
      eligible: 15,
      responders: null,
      nonResponders: null,
      rate: null,
    });
  });

  it('responders against non-responders by sex: the men (4) are withheld, and so are the women, whose count would give the men away', async () => {
    const r = await results(SUS_ORTHO);
    const bySex = r.responders.find((x: any) => x.timepoint === 'w6' && x.variable === 'sex');
    expect(bySex.rows.map((x: any) => [x.value, x.eligible, x.responders])).toEqual([
      ['female', null, null],
      ['male', null, null],
    ]);
    const nation = (await results()).responders.find((x: any) => x.timepoint === 'w6' && x.variable === 'sex');
    // Nationally 11 women (3 did not answer: withheld with the 8 who did) and 4 men (withheld, and the women's 11 with them).
    expect(nation.rows.map((x: any) => [x.value, x.eligible, x.responders, x.nonResponders])).toEqual([
      ['female', null, null, null],
      ['male', null, null, null],
    ]);
  });

  it("mean scores per time point: the unit's when enough answered, withheld at a unit with two", async () => {
    const sus = (await results(SUS_ORTHO)).scores.find((s: any) => s.instrument === 'eq5d5l' && s.score === 'vas' && s.timepoint === 'w6');
    expect(sus.unit).toEqual({ n: 8, mean: 70 });
    expect(sus.nation).toEqual({ n: 10, mean: 70 });
    const other = (await results(OTHER_ORTHO)).scores.find(
      (s: any) => s.instrument === 'eq5d5l' && s.score === 'vas' && s.timepoint === 'w6',
    );
    expect(other.unit).toEqual({ n: null, mean: null });
  });

  it('scores are in the analytics table, and leave it when the answer is taken back', async () => {
    const caseOf = async (f: ReturnType<typeof fracture>) =>
      Number((await q('SELECT id FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`]))[0].id);
    const row = async (f: ReturnType<typeof fracture>) =>
      (
        await q('SELECT prom_w6_eq5d_index AS idx, prom_m12_status AS m12 FROM analytics.fracture WHERE case_id = $1', [await caseOf(f)])
      )[0];
    expect((await row(sus[0])).idx).toBe(1);
    expect((await row(sus[1])).idx).toBeGreaterThan(0);
    expect((await row(sus[6])).idx).toBeNull();
    const key = (
      await q('SELECT source_key FROM prom_response r JOIN prom_item i ON i.response_id = r.id WHERE i.case_id = $1', [
        await caseOf(sus[1]),
      ])
    )[0].source_key as string;
    const [, system, value] = key.split('|');
    await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'DELETE', url: `QuestionnaireResponse?identifier=${system}|${value}` } }],
    });
    await t.platform.analytics.refresh();
    expect((await row(sus[1])).idx).toBeNull();
  });
});

describe('innsyn', () => {
  it('shows the patient the questionnaires they were sent and their answers, and another patient none of it', async () => {
    // An invitation for a new fracture of the patient (the scheduler runs on its day).
    const again = fracture({
      nin: patient.nin,
      gender: 'female',
      unitResh: SUS_ORTHO,
      injuryDateTime: '2001-09-03T10:00:00+02:00',
      firstContact: '2001-09-03T11:00:00+02:00',
    });
    await post(ehrBundle(again));
    await t.platform.analytics.refresh();
    await t.platform.prom.runDue(new Date('2001-09-04T10:00:00Z'));
    const token = await createToken(t.platform.db.pool, {
      name: 'p',
      kind: 'user',
      grants: [{ registry: '*', role: 'patient', unit: '1' }],
      personHash: ninHash(t.platform.keys, patient.nin),
    });
    const view = (await t.app.inject({ method: 'GET', url: '/api/innsyn?lang=nb', headers: { authorization: `Bearer ${token}` } })).json();
    expect(view.prom.invitations).toHaveLength(1);
    expect(view.prom.invitations[0]).toMatchObject({ hospital: 'Stavanger universitetssjukehus', status: 'Sendes på papir' });
    expect(view.prom.invitations[0].asked.map((a: any) => [a.registry, a.timepoint, a.instrument, a.status])).toEqual([
      ['Norsk frakturregister', 'Før skaden (tilbakeblikk)', 'EQ-5D-5L', 'Spurt'],
      ['Norsk frakturregister', 'Før skaden (tilbakeblikk)', 'PRWHE', 'Spurt'],
    ]);
    expect(view.prom.answers).toHaveLength(1);
    const a = view.prom.answers[0];
    expect(a).toMatchObject({
      instrument: 'EQ-5D-5L',
      status: 'Sendt inn',
      source: 'Overført fra sus-dips',
      sharedWith: [{ registry: 'Norsk frakturregister', timepoint: '6 uker' }],
    });
    expect(a.scores).toEqual(expect.arrayContaining([{ label: 'EQ VAS', value: '70' }]));
    expect(a.items.length).toBe(6);
    expect(a.items[0].answer).toMatch(/nivå 1/);
    const other = await createToken(t.platform.db.pool, {
      name: 'o',
      kind: 'user',
      grants: [{ registry: '*', role: 'patient', unit: '1' }],
      personHash: ninHash(t.platform.keys, kalnes[2].nin),
    });
    const theirs = (
      await t.app.inject({ method: 'GET', url: '/api/innsyn?lang=nb', headers: { authorization: `Bearer ${other}` } })
    ).json();
    expect(theirs.prom).toEqual({ invitations: [], answers: [] });
  });
});

describe('declarations', () => {
  it('a PROM result naming a time point or a score the schedules do not have is refused with where', () => {
    const fr = t.platform.registry('fracture')!;
    const bad = (prom: any, type = 'decimal') =>
      ({
        ...fr,
        derived: [
          ...fr.derived,
          {
            def: { id: 'x', type, label: { nb: 'x', en: 'x' }, description: { nb: 'x', en: 'x' }, prom },
            fn: () => null,
            privacy: 'general',
            inputs: [],
            prom,
          },
        ],
      }) as any;
    const problems = (r: any) => {
      try {
        loadSchedules([r], t.platform.prom.instruments);
        return '';
      } catch (err) {
        expect(err).toBeInstanceOf(ScheduleError);
        return (err as Error).message;
      }
    };
    expect(problems(bad({ timepoint: 'm99', instruments: { eq5d5l: 'index' }, value: 'score' }))).toMatch(
      /codebook.yaml: derived x.prom.timepoint: no time point "m99" in followup/,
    );
    expect(problems(bad({ timepoint: 'm12', instruments: { eq5d5l: 'nope' }, value: 'score' }))).toMatch(
      /instruments.eq5d5l: eq5d5l has no score "nope" \(its scores: profile, index, vas\)/,
    );
    expect(problems(bad({ timepoint: 'm12', instruments: { eq5d5l: 'index' }, value: 'status' }))).toMatch(
      /a PROM status is a text or code; declare type text/,
    );
  });

  it('parameters: an unknown parameter, a key where there is none and a keyedBy naming no variable are refused with file and place', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-params-'));
    fs.cpSync('registries/fracture', dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'parameters.yaml'),
      fs.readFileSync(path.join(dir, 'parameters.yaml'), 'utf8').replace('keyedBy: ao_prefix', 'keyedBy: ao_nothing') +
        '  - { id: one, title: { nb: a, en: a }, description: { nb: a, en: a }, status: set, values: 3, source: test }\n',
    );
    fs.writeFileSync(
      path.join(dir, 'codebook.yaml'),
      fs
        .readFileSync(path.join(dir, 'codebook.yaml'), 'utf8')
        .replace(`expr: "parameter('prom_pass', ao_prefix)"`, `expr: "parameter('prom_passs', ao_prefix) + parameter('one', ao_prefix)"`),
    );
    const err = await loadRegistry(dir).catch((e) => e);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(err).toBeInstanceOf(DefinitionError);
    expect(err.message).toMatch(/parameters.yaml: prom_mcii.keyedBy: unknown variable "ao_nothing"/);
    expect(err.message).toMatch(
      /derived\[\d+\] \(prom_pass\): parameter "prom_passs" is not declared in .*parameters.yaml \(declared: prom_mcii, prom_pass, one\)/,
    );
    expect(err.message).toMatch(/parameter "one" has one value: give no key/);
  });
});
