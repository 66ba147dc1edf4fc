// Triage for digital home follow-up against a real database, through the HTTP API: operated wrist
// fractures answer at 6 weeks; the fracture register's declared thresholds (registries/fracture/
// prom.yaml, per instrument and fracture type) decide who needs a check-up; a patient who asks for a
// visit gets one at once; a silence puts the patient on the worklist too; patients outside the
// declared population are not triaged. The worklist is the unit's own (row-level security, the
// door's scope, audited); a clinician's override needs a reason and is kept as history, and the
// job never undoes it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { loadSchedules } from '../src/prom/schedule.ts';
import { loadTriage, TriageDeclarationError } from '../src/prom/triage.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { scratchDir } from './helpers/scratch.ts';

let t: TestPlatform;
let registrarOther: string;
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const PATIENT_GRANT = [{ registry: '*', role: 'patient' as const, unit: '1' }];

beforeAll(async () => {
  t = await testPlatform();
  registrarOther = await createToken(t.platform.db.pool, {
    name: 'registrar-other',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: OTHER_ORTHO }],
  });
});
afterAll(async () => {
  await t?.close();
});

const INJURY = '2023-04-01T10:00:00+02:00';
const W6 = new Date('2023-05-13T10:00:00Z'); // 42 days after the injury: the 6-week window is open
let born = 0;
interface Patient {
  nin: string;
  caseId: number;
  personId: number;
  token: string;
  login: string;
}
async function patient(o: { aoCode: string; operated?: boolean; unit?: string }): Promise<Patient> {
  born += 1;
  const own = nin(`1958-${String(born).padStart(2, '0')}-1${born % 10}`, born % 2 ? 'female' : 'male');
  const f = fracture({
    nin: own,
    injuryDateTime: INJURY,
    firstContact: '2023-04-01T11:00:00+02:00',
    aoCode: o.aoCode,
    unitResh: o.unit ?? SUS_ORTHO,
    ...(o.operated === false ? { intent: 'conservative' } : { intent: 'operative', surgery: { start: '2023-04-02T09:00:00+02:00' } }),
  });
  for (const b of [ehrBundle(f), plannerBundle(f)]) {
    if (!b) continue;
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(b),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
  }
  const row = (await q('SELECT id, person_id FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`]))[0];
  return {
    nin: own,
    caseId: Number(row.id),
    personId: Number(row.person_id),
    token: '',
    login: await createToken(t.platform.db.pool, {
      name: `patient-${born}`,
      kind: 'user',
      grants: PATIENT_GRANT,
      personHash: ninHash(t.platform.keys, own),
    }),
  };
}
async function invite(p: Patient) {
  const inv = (await q('SELECT id FROM prom_invitation WHERE person_id = $1 ORDER BY id DESC LIMIT 1', [p.personId]))[0];
  p.token = t.platform.prom.links.token(Number(inv.id));
}
const call = (method: 'GET' | 'POST', url: string, who: string, body?: unknown) =>
  t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${who}`, 'content-type': 'application/json' },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
async function submit(p: Patient, instrument: string, answers: Record<string, unknown>) {
  const res = await call('POST', `/api/prom/form/${p.token}/${instrument}/submit`, p.login, { answers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

// PRWHE (instruments/prwhe): pain = sum of 5 items (0–50), function = sum of 10 items / 2 (0–50), total = pain + function.
const prwhe = (pain: number, func: number) =>
  Object.fromEntries([
    ...[1, 2, 3, 4, 5].map((i) => [`pain${i}`, pain]),
    ...[1, 2, 3, 4, 5, 6].map((i) => [`func${i}`, func]),
    ...[1, 2, 3, 4].map((i) => [`usual${i}`, func]),
  ]);
const EQ = { mobility: '2', selfcare: '1', usual: '2', pain: '2', anxiety: '1', vas: 70 };
const anchor = (o: { satisfaction?: string; change?: string; wantsVisit?: boolean; comment?: string } = {}) => ({
  satisfaction: o.satisfaction ?? '2',
  change: o.change ?? '2',
  wants_visit: o.wantsVisit ?? false,
  ...(o.comment ? { comment: o.comment } : {}),
});

const triageOf = async (p: Patient) =>
  (await q('SELECT outcome, decision, reasons, summary, override_by, override_reason FROM prom_triage WHERE case_id = $1', [p.caseId]))[0];

let mild: Patient,
  sameScoreArticular: Patient,
  sameScoreExtra: Patient,
  asks: Patient,
  silent: Patient,
  conservative: Patient,
  other: Patient,
  unhappy: Patient,
  late: Patient;

beforeAll(async () => {
  mild = await patient({ aoCode: '2R3A2' }); // extra-articular, PRWHE total 30: below 40
  sameScoreExtra = await patient({ aoCode: '2R3A3' }); // extra-articular, PRWHE total 45: above 40 → visit
  sameScoreArticular = await patient({ aoCode: '2R3C1' }); // articular, PRWHE total 45: not above 50 → no visit
  asks = await patient({ aoCode: '2R3A2' }); // asks for a visit
  silent = await patient({ aoCode: '2R3A2' }); // never answers
  late = await patient({ aoCode: '2R3A2' }); // answers all but PRWHE
  unhappy = await patient({ aoCode: '2R3A2' }); // low PRWHE but dissatisfied
  conservative = await patient({ aoCode: '2R3A2', operated: false }); // not operated: outside the population
  other = await patient({ aoCode: '2R3A2', unit: OTHER_ORTHO }); // another unit's patient
  await t.platform.analytics.refresh();
  await t.platform.prom.runDue(W6);
  for (const p of [mild, sameScoreExtra, sameScoreArticular, asks, silent, late, unhappy, conservative, other]) await invite(p);
});

describe('the declaration', () => {
  it("is loaded from the fracture register's prom.yaml, and a wrong one is refused with what is wrong", () => {
    const [d] = t.platform.prom.triage.declarations;
    expect(d).toMatchObject({ registry: 'fracture', def: { id: 'home_followup', schedule: 'followup', timepoint: 'w6', verified: false } });
    expect(d.instruments.sort()).toEqual(['anchor', 'eq5d5l', 'prwhe']);
    const fr = t.platform.registry('fracture')!;
    const dir = scratchDir('triage');
    fs.writeFileSync(
      path.join(dir, 'prom.yaml'),
      `schedules:
  - id: s
    title: { nb: t, en: t }
    relativeTo: injury_date
    purpose: { nb: t, en: t }
    timepoints:
      - { id: w6, label: { nb: '6', en: '6' }, offset: { days: 42 }, window: { before: 7, after: 21 } }
    instruments:
      - instrument: eq5d5l
triage:
  - id: tr
    title: { nb: t, en: t }
    schedule: s
    timepoint: w9
    population: "no_such_variable == 1"
    source: test
    criteria:
      - { id: a, label: { nb: a, en: a }, instrument: eq5d5l, score: nonsense, above: 1 }
      - { id: b, label: { nb: b, en: b }, instrument: prwhe, score: total, above: 1, below: 2 }
`,
    );
    // The register's PROM result variables name its own time points: left out with its prom.yaml.
    const schedules = loadSchedules([{ ...fr, dir, derived: fr.derived.filter((d) => !d.prom) }], t.platform.prom.instruments);
    let err: unknown;
    try {
      loadTriage([{ ...fr, dir }], t.platform.prom.instruments, schedules);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TriageDeclarationError);
    const problems = (err as TriageDeclarationError).problems.join('\n');
    expect(problems).toMatch(/give exactly one of above, atLeast, below, atMost, equals \(given: above, below\)/);
    fs.writeFileSync(path.join(dir, 'prom.yaml'), fs.readFileSync(path.join(dir, 'prom.yaml'), 'utf8').replace(', below: 2', ''));
    try {
      loadTriage([{ ...fr, dir }], t.platform.prom.instruments, schedules);
    } catch (e) {
      err = e;
    }
    const all = (err as TriageDeclarationError).problems.join('\n');
    expect(all).toMatch(/timepoint: schedule "s" has no time point "w9"/);
    expect(all).toMatch(/criteria\[0\]\.score: eq5d5l has no score "nonsense"/);
    expect(all).toMatch(/criteria\[1\]: schedule "s" does not ask prwhe at w9/);
    expect(all).toMatch(/population: .*no_such_variable/);
  });
});

describe('deciding', () => {
  it('asks the 6-week instruments of operated wrist fractures: EQ-5D-5L, the anchor questions and PRWHE', async () => {
    const view = (await call('GET', `/api/prom/form/${mild.token}`, mild.login)).json();
    expect(view.instruments.map((i: any) => i.id)).toEqual(['eq5d5l', 'anchor', 'prwhe']);
    // The fracture type the thresholds are chosen by, as the analytics table has it.
    const types = await q(`SELECT case_id, ao_type FROM analytics."fracture" WHERE case_id = ANY ($1::bigint[]) ORDER BY case_id`, [
      [sameScoreExtra.caseId, sameScoreArticular.caseId],
    ]);
    expect(types.map((r) => r.ao_type)).toEqual(['2R3A', '2R3C']);
  });

  it('waits until every instrument is answered; then below the thresholds is "no visit needed"', async () => {
    await submit(mild, 'eq5d5l', EQ);
    await submit(mild, 'anchor', anchor());
    expect(await triageOf(mild)).toBeUndefined();
    await submit(mild, 'prwhe', prwhe(4, 2)); // total 20 + 10 = 30
    expect(await triageOf(mild)).toMatchObject({ outcome: 'no-visit', decision: 'no-visit', reasons: [] });
  });

  it('decides once when the job and a submission of the same patient evaluate at the same time', async () => {
    // A submission's evaluation is held open (not committed) while the job evaluates: the job must
    // wait for it and then see its decision, so one decision and one event are recorded. Without the
    // locks the job reads no decision, writes its own after the submission commits, and records a
    // second event.
    await q('DELETE FROM prom_triage_event WHERE case_id = $1', [mild.caseId]);
    await q('DELETE FROM prom_triage WHERE case_id = $1', [mild.caseId]);
    const PLATFORM = { kind: 'platform', task: 'test' } as const;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let evaluated!: () => void;
    const submissionEvaluated = new Promise<void>((r) => (evaluated = r));
    const submission = t.platform.data.transaction(PLATFORM, 'test', async (tx) => {
      await t.platform.prom.triage.evaluate(tx, { personId: mild.personId });
      evaluated();
      await held;
    });
    await submissionEvaluated;
    const job = t.platform.data.transaction(PLATFORM, 'test', (tx) => t.platform.prom.triage.evaluate(tx));
    await new Promise((r) => setTimeout(r, 300));
    release();
    await Promise.all([submission, job]);
    expect(await q('SELECT kind, decision FROM prom_triage_event WHERE case_id = $1', [mild.caseId])).toEqual([
      { kind: 'automatic', decision: 'no-visit' },
    ]);
    expect(await triageOf(mild)).toMatchObject({ outcome: 'no-visit', decision: 'no-visit' });
  });

  it('applies the threshold of the fracture type: the same PRWHE total is a visit for an extra-articular fracture and not for an articular one', async () => {
    for (const p of [sameScoreExtra, sameScoreArticular]) {
      await submit(p, 'eq5d5l', EQ);
      await submit(p, 'anchor', anchor());
      await submit(p, 'prwhe', prwhe(5, 4)); // total 25 + 20 = 45
    }
    const extra = await triageOf(sameScoreExtra);
    expect(extra).toMatchObject({ outcome: 'visit', decision: 'visit' });
    expect(extra.reasons).toEqual([
      {
        kind: 'threshold',
        criterion: 'prwhe_extraarticular',
        label: expect.any(Object),
        instrument: 'prwhe',
        value: 45,
        threshold: '> 40',
      },
    ]);
    expect(await triageOf(sameScoreArticular)).toMatchObject({ outcome: 'no-visit', reasons: [] });
    // The summary carries the answers the worklist shows.
    const total = extra.summary.find((s: any) => s.instrument === 'prwhe' && s.score === 'total');
    expect(total).toMatchObject({ value: 45, range: [0, 100], direction: 'higher-is-worse' });
    expect(extra.summary.find((s: any) => s.item === 'wants_visit').value).toBe(false);
    // The EQ-5D-5L index comes from the Norwegian value set (instruments/eq5d5l), no stand-in: nothing to flag.
    expect(extra.summary.find((s: any) => s.instrument === 'eq5d5l' && s.score === 'index').placeholder).toBeUndefined();
  });

  it('an anchor answer crosses its threshold too', async () => {
    await submit(unhappy, 'eq5d5l', EQ);
    await submit(unhappy, 'prwhe', prwhe(1, 1));
    await submit(unhappy, 'anchor', anchor({ satisfaction: '4', comment: 'Vondt om natta' }));
    const d = await triageOf(unhappy);
    expect(d.reasons.map((r: any) => [r.criterion, r.value])).toEqual([['dissatisfied', 4]]);
    expect(d.summary.find((s: any) => s.item === 'comment').value).toBe('Vondt om natta');
  });

  it('a patient who asks for a visit gets one at once, before the rest is answered', async () => {
    await submit(asks, 'anchor', anchor({ wantsVisit: true }));
    const d = await triageOf(asks);
    expect(d).toMatchObject({ outcome: 'visit', decision: 'visit' });
    expect(d.reasons.map((r: any) => r.kind)).toEqual(['request']);
  });

  it("decides for another unit's patient the same way", async () => {
    await submit(other, 'eq5d5l', EQ);
    await submit(other, 'anchor', anchor());
    await submit(other, 'prwhe', prwhe(0, 0));
    expect(await triageOf(other)).toMatchObject({ decision: 'no-visit' });
  });

  it('does not triage patients outside the declared population (not operated)', async () => {
    await submit(conservative, 'eq5d5l', EQ);
    await submit(conservative, 'anchor', anchor({ wantsVisit: true }));
    await submit(conservative, 'prwhe', prwhe(5, 5));
    expect(await triageOf(conservative)).toBeUndefined();
  });
});

describe('the worklist', () => {
  const list = (who: string, query = '') => call('GET', `/api/registries/fracture/prom/follow-up${query}`, who);

  it('shows the unit its own patients who need a visit, with reasons and the answers summarised, and those who do not', async () => {
    const res = await list(t.tokens.registrarSus, '?decision=visit');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    const cases = body.items.map((i: any) => i.caseId).sort();
    expect(cases).toEqual([sameScoreExtra, asks, unhappy].map((p) => p.caseId).sort());
    expect(body.counts).toEqual({ visit: 3, 'no-visit': 2 });
    const row = body.items.find((i: any) => i.caseId === sameScoreExtra.caseId);
    expect(row).toMatchObject({
      decision: 'visit',
      verified: false,
      title: { nb: 'Digital hjemmeoppfølging etter håndleddsbrudd' },
      person: { birthYear: 1958 },
    });
    expect(row.summary.map((s: any) => `${s.instrument}.${s.score ?? s.item}`)).toContain('prwhe.total');
    const none = (await list(t.tokens.registrarSus, '?decision=no-visit')).json();
    expect(none.items.map((i: any) => i.caseId).sort()).toEqual([mild, sameScoreArticular].map((p) => p.caseId).sort());
    // Reading the list is audited per patient.
    const audit = await q(
      `SELECT count(DISTINCT person_id)::int AS n FROM audit_event WHERE action = 'list' AND object = 'fracture/prom/follow-up' AND actor = 'user:registrar-sus'`,
    );
    expect(audit[0].n).toBe(5);
  });

  it('another unit sees only its own patient, and cannot ask for ours', async () => {
    const body = (await list(registrarOther)).json();
    expect(body.items.map((i: any) => i.caseId)).toEqual([other.caseId]);
    expect((await list(registrarOther, `?unit=${SUS_HOSPITAL}`)).statusCode).toBe(403);
    expect((await list(t.tokens.readerOther)).json().items.map((i: any) => i.caseId)).toEqual([other.caseId]);
    expect((await list(mild.login)).statusCode).toBe(403);
  });

  it("row-level security keeps the rows from another unit's session in SQL too", async () => {
    const client = await t.platform.db.pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE kvalreg_app');
      await client.query(
        `SELECT set_config('kvalreg.scope', 'units', true), set_config('kvalreg.grants', 'fracture:${OTHER_ORTHO}', true)`,
      );
      const rows = (await client.query('SELECT case_id FROM prom_triage')).rows.map((r) => Number(r.case_id));
      expect(rows).toEqual([other.caseId]);
      expect((await client.query('SELECT count(*)::int AS n FROM prom_triage_event WHERE case_id <> $1', [other.caseId])).rows[0].n).toBe(
        0,
      );
      expect(
        (await client.query(`UPDATE prom_triage SET decision = 'no-visit' WHERE case_id = $1 RETURNING case_id`, [asks.caseId])).rows,
      ).toEqual([]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});

describe('overriding', () => {
  const override = (who: string, p: Patient, body: unknown) =>
    call('POST', `/api/registries/fracture/prom/follow-up/${p.caseId}/home_followup`, who, body);

  it('needs a reason, a registrar of the unit, and a change', async () => {
    expect((await override(t.tokens.registrarSus, asks, { decision: 'no-visit' })).json().error).toMatch(/Give the reason/);
    expect((await override(t.tokens.registrarSus, asks, { decision: 'maybe', reason: 'x' })).statusCode).toBe(400);
    expect((await override(t.tokens.readerOther, asks, { decision: 'no-visit', reason: 'Snakket med pasienten' })).statusCode).toBe(403);
    const foreign = await override(registrarOther, asks, { decision: 'no-visit', reason: 'Snakket med pasienten' });
    expect(foreign.statusCode).toBe(403);
    const denied = await q(
      `SELECT count(*)::int AS n FROM audit_event WHERE actor = 'user:registrar-other' AND outcome = 'denied' AND person_id = $1`,
      [asks.personId],
    );
    expect(denied[0].n).toBe(1);
    expect((await override(t.tokens.registrarSus, asks, { decision: 'visit', reason: 'Samme som før' })).statusCode).toBe(409);
    expect((await override(t.tokens.registrarSus, conservative, { decision: 'visit', reason: 'Ingen triage' })).statusCode).toBe(404);
    expect(await triageOf(asks)).toMatchObject({ decision: 'visit', override_by: null });
  });

  it('changes the decision with who, when and why kept as history', async () => {
    const res = await override(t.tokens.registrarSus, asks, { decision: 'no-visit', reason: 'Ringt opp: vil heller vente' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      decision: 'no-visit',
      override: { by: 'user:registrar-sus', reason: 'Ringt opp: vil heller vente' },
    });
    expect((await override(t.tokens.registrarSus, mild, { decision: 'visit', reason: 'Røntgen viser feilstilling' })).statusCode).toBe(200);
    const row = (await call('GET', '/api/registries/fracture/prom/follow-up?decision=no-visit', t.tokens.registrarSus))
      .json()
      .items.find((i: any) => i.caseId === asks.caseId);
    expect(row.override).toMatchObject({ by: 'user:registrar-sus', reason: 'Ringt opp: vil heller vente' });
    expect(row.history.map((h: any) => [h.kind, h.decision, h.actor])).toEqual([
      ['automatic', 'visit', 'platform:prom-triage'],
      ['override', 'no-visit', 'user:registrar-sus'],
    ]);
    const audit = await q(`SELECT count(*)::int AS n FROM audit_event WHERE action = 'prom:triage-override' AND person_id = $1`, [
      asks.personId,
    ]);
    expect(audit[0].n).toBe(1);
  });
});

describe('when the invitation ends', () => {
  it("a patient who never answers lands on the worklist; an instrument left unanswered cannot pass its threshold; a clinician's decision stands", async () => {
    await submit(late, 'eq5d5l', EQ);
    await submit(late, 'anchor', anchor());
    expect(await triageOf(late)).toBeUndefined();
    const after = await t.platform.prom.runDue(new Date('2023-06-14T10:00:00Z')); // the 6-week window closed on 3 June
    expect(after.triage.decided).toBe(2);
    expect(await triageOf(silent)).toMatchObject({ outcome: 'no-answer', decision: 'visit', reasons: [{ kind: 'no-answer' }] });
    expect((await triageOf(late)).reasons.map((r: any) => [r.kind, r.criterion])).toEqual([['unassessable', 'prwhe_extraarticular']]);
    expect(await q(`SELECT kind, decision, outcome FROM prom_triage_event WHERE case_id = $1 ORDER BY id`, [silent.caseId])).toEqual([
      { kind: 'automatic', decision: 'visit', outcome: 'no-answer' },
    ]);
    // The asking patient's other instruments expired too, but the clinician's decision is not undone.
    expect(await q(`SELECT count(*)::int AS n FROM prom_item WHERE case_id = $1 AND status = 'expired'`, [asks.caseId])).toEqual([
      { n: 2 },
    ]);
    expect(await triageOf(asks)).toMatchObject({ decision: 'no-visit', override_by: 'user:registrar-sus', reasons: [{ kind: 'request' }] });
    // Nothing new the next time.
    expect((await t.platform.prom.runDue(new Date('2023-06-15T10:00:00Z'))).triage).toEqual({ decided: 0, changed: 0 });
  });
});

describe('the patient', () => {
  it("reads their own decision under row-level security, and nobody else's", async () => {
    const client = await t.platform.db.pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE kvalreg_app');
      await client.query(
        `SELECT set_config('kvalreg.scope', 'units', true), set_config('kvalreg.grants', '', true), set_config('kvalreg.person', $1, true)`,
        [String(unhappy.personId)],
      );
      expect((await client.query('SELECT case_id FROM prom_triage')).rows.map((r) => Number(r.case_id))).toEqual([unhappy.caseId]);
      expect((await client.query(`UPDATE prom_triage SET decision = 'no-visit' RETURNING case_id`)).rows).toEqual([]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
