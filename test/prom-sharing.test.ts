// Who reads which PROM answers. The clinic as a party to collect once (seed 004 §1.5: patients get
// overlapping questionnaires from the clinic and from registries): a unit's own follow-up
// (`party: clinic` in prom.yaml) shares the patient's one invitation with the registry's, each
// instrument asked once; the unit sees the answers to its own items and nothing only the registry
// asked; the registry's analytics rows and research extracts never read the clinic's items; an
// objection to the registry stops the registry's questions, not the clinic's. Research extracts
// carry the registry's PROM variables (scores per time point) through the same mechanism as every
// other derived variable, with the day answered shifted like every other date.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { promResultsOf } from '../src/prom/case-results.ts';
import { invitationInstruments, saveResponse } from '../src/prom/responses.ts';
import { loadSchedules, ScheduleError, type CompiledSchedule } from '../src/prom/schedule.ts';
import { PromScheduler } from '../src/prom/scheduler.ts';
import type { Answers } from '../src/prom/scoring.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { captureFracture } from './helpers/capture.ts';

let t: TestPlatform;
let schedules: CompiledSchedule[];
let scheduler: PromScheduler;
let dir: string;
const PLATFORM = { kind: 'platform', task: 'test' } as const;

// The fracture register's own schedules, and the orthopaedic department of Stavanger's own check at
// 6 weeks: EQ-5D-5L (the registry asks it too) and QuickDASH (only the clinic asks it of a wrist).
const CLINIC = {
  id: 'sus_w6_check',
  party: 'clinic',
  units: [SUS_ORTHO],
  title: { nb: 'Kontroll 6 uker', en: '6-week check' },
  relativeTo: 'injury_date',
  population: 'age_at_injury >= 16',
  purpose: { nb: 'Avdelingen følger opp behandlingen din.', en: 'The department follows up your treatment.' },
  timepoints: [{ id: 'w6', label: { nb: '6 uker', en: '6 weeks' }, offset: { days: 42 }, window: { before: 7, after: 21 } }],
  instruments: [{ instrument: 'eq5d5l' }, { instrument: 'quickdash' }],
};

function promYamlWith(extra: unknown[]): string {
  const own = YAML.parse(fs.readFileSync(path.join(t.platform.registry('fracture')!.dir, 'prom.yaml'), 'utf8'));
  return YAML.stringify({ ...own, schedules: [...own.schedules, ...extra] });
}
function load(extra: unknown[]): CompiledSchedule[] {
  fs.writeFileSync(path.join(dir, 'prom.yaml'), promYamlWith(extra));
  const fr = t.platform.registry('fracture')!;
  return loadSchedules([{ ...fr, dir }], t.platform.prom.instruments);
}

beforeAll(async () => {
  t = await testPlatform();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-prom-clinic-'));
  schedules = load([CLINIC]);
  scheduler = new PromScheduler(t.platform.data, [t.platform.registry('fracture')!], schedules);
  await scheduler.prepare();
});
afterAll(async () => {
  await t?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
async function addWrist(n: string, injury: string, unitResh = SUS_ORTHO) {
  const f = fracture({ nin: n, injuryDateTime: injury, firstContact: injury, aoCode: '2R3A2', unitResh });
  const captured = await captureFracture(t, f);
  await t.platform.analytics.refresh();
  return captured;
}
const itemsOf = (personId: number) =>
  q(
    `SELECT party, schedule, timepoint, instrument, status, invitation_id, response_id, cancelled_reason FROM prom_item
     WHERE person_id = $1 AND timepoint = 'w6' ORDER BY party, instrument`,
    [personId],
  );
const answer = (personId: number, invitationId: number, instrument: string, answers: Answers, at: string) =>
  t.platform.data.transaction(PLATFORM, 'test', (tx) =>
    saveResponse(tx, {
      personId,
      invitationId,
      instrument: t.platform.prom.instruments.get(instrument)!,
      recall: 'current',
      answers,
      complete: true,
      provenance: { kind: 'patient' },
      at: new Date(at),
    }),
  );
const clinicList = (token: string, query = '') =>
  t.app.inject({ method: 'GET', url: `/api/registries/fracture/prom/clinic${query}`, headers: { authorization: `Bearer ${token}` } });

describe('the clinic as a party to collect once', () => {
  let patient: { caseId: number; personId: number };
  let invitation: number;

  it("one invitation carries the registry's and the clinic's questions, each instrument asked once", async () => {
    // Injury 5 March 2012: 6 weeks is 16 April, the window opens on 9 April.
    patient = await addWrist(nin('1961-07-07', 'female'), '2012-03-05T10:00:00+01:00');
    await scheduler.runDue(new Date('2012-04-10T12:00:00Z'));
    const items = await itemsOf(patient.personId);
    expect(items.map((i) => [i.party, i.instrument, i.status])).toEqual([
      ['clinic', 'eq5d5l', 'invited'],
      ['clinic', 'quickdash', 'invited'],
      ['registry', 'anchor', 'invited'],
      ['registry', 'eq5d5l', 'invited'],
      ['registry', 'prwhe', 'invited'],
    ]);
    expect(new Set(items.map((i) => i.invitation_id)).size).toBe(1);
    invitation = Number(items[0].invitation_id);
    const asked = await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      invitationInstruments(tx, invitation, ['eq5d5l', 'anchor', 'prwhe', 'quickdash']),
    );
    expect(asked.map((a) => a.instrument)).toEqual(['eq5d5l', 'anchor', 'prwhe', 'quickdash']);
  });

  it('one EQ-5D-5L answer serves registry and clinic; QuickDASH goes to the clinic alone', async () => {
    const eq = await answer(
      patient.personId,
      invitation,
      'eq5d5l',
      { mobility: '2', selfcare: '1', usual: '2', pain: '2', anxiety: '1', vas: 75 },
      '2012-04-12T10:00:00Z',
    );
    expect(eq.sharedWith.map((s) => s.party).sort()).toEqual(['clinic', 'registry']);
    const qd = await answer(
      patient.personId,
      invitation,
      'quickdash',
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`q${i + 1}`, '2'])),
      '2012-04-12T10:05:00Z',
    );
    expect(qd.sharedWith.map((s) => s.party)).toEqual(['clinic']);
    expect((await q('SELECT count(*)::int AS n FROM prom_response WHERE person_id = $1', [patient.personId]))[0].n).toBe(2);
  });

  it('the unit sees the answers to its own questionnaire, not what only the registry asked; another unit sees nothing', async () => {
    const res = await clinicList(t.tokens.registrarSus);
    expect(res.statusCode, res.body).toBe(200);
    const mine = res.json().items.filter((i: any) => i.caseId === patient.caseId);
    expect(mine.map((i: any) => [i.instrument, i.status])).toEqual([
      ['eq5d5l', 'answered'],
      ['quickdash', 'answered'],
    ]);
    const eq = mine.find((i: any) => i.instrument === 'eq5d5l');
    expect(eq.answers).toMatchObject({ mobility: '2', vas: 75 });
    expect(eq.scores.profile.value).toBe('21221');
    expect(eq.source).toBe('patient');
    // PRWHE and the anchor questions are the registry's: not in the clinic's list at all.
    expect(res.body).not.toContain('prwhe');
    expect(res.body).not.toContain('anchor');
    // A reader of another unit sees none of this patient.
    const other = await clinicList(t.tokens.readerOther);
    expect(other.statusCode).toBe(200);
    expect(other.json().items.filter((i: any) => i.caseId === patient.caseId)).toEqual([]);
    // … and asking for the Stavanger unit by name is refused.
    expect((await clinicList(t.tokens.readerOther, `?unit=${SUS_ORTHO}`)).statusCode).toBe(403);
    expect((await clinicList(t.tokens.registrarSus, '?status=nonsense')).statusCode).toBe(400);
    // The listing is audited per patient.
    const audited = await q(
      "SELECT count(*)::int AS n FROM audit_event WHERE action = 'list' AND object = 'fracture/prom/clinic' AND person_id = $1",
      [patient.personId],
    );
    expect(audited[0].n).toBeGreaterThan(0);
  });

  it("the registry's analytics never read the clinic's items: QuickDASH answered to the clinic is not the registry's region score", async () => {
    const results = await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      promResultsOf(tx.client, t.platform.registry('fracture')!, [patient.caseId]),
    );
    const got = results.get(patient.caseId)!.filter((r) => r.timepoint === 'w6');
    expect(got.map((r) => r.instrument).sort()).toEqual(['anchor', 'eq5d5l', 'prwhe']);
    await t.platform.analytics.refresh();
    const row = (
      await q('SELECT prom_w6_eq5d_index, prom_w6_region_score FROM analytics.fracture WHERE case_id = $1', [patient.caseId])
    )[0];
    expect(row.prom_w6_eq5d_index).not.toBeNull(); // the shared answer is the registry's too
    expect(row.prom_w6_region_score).toBeNull(); // PRWHE unanswered; the clinic's QuickDASH is not read
  });

  it('a case at a unit without the clinic questionnaire gets the registry questions only', async () => {
    const elsewhere = await addWrist(nin('1962-08-08', 'male'), '2012-03-06T10:00:00+01:00', OTHER_ORTHO);
    await scheduler.runDue(new Date('2012-04-11T12:00:00Z'));
    expect((await itemsOf(elsewhere.personId)).map((i) => i.party)).toEqual(['registry', 'registry', 'registry']);
  });

  it("an objection to the registry cancels the registry's questions, not the clinic's own follow-up", async () => {
    const p = await addWrist(nin('1963-09-09', 'female'), '2012-03-07T10:00:00+01:00');
    await q("INSERT INTO prom_objection (person_id, registry) VALUES ($1, 'fracture')", [p.personId]);
    await scheduler.runDue(new Date('2012-04-12T12:00:00Z'));
    const items = await itemsOf(p.personId);
    expect(items.map((i) => [i.party, i.instrument, i.status])).toEqual([
      ['clinic', 'eq5d5l', 'invited'],
      ['clinic', 'quickdash', 'invited'],
    ]);
    // The answer stays the clinic's: the registry the patient objected to gets nothing.
    const eq = await answer(
      p.personId,
      Number(items[0].invitation_id),
      'eq5d5l',
      { mobility: '1', selfcare: '1', usual: '1', pain: '1', anxiety: '1', vas: 90 },
      '2012-04-13T10:00:00Z',
    );
    expect(eq.sharedWith.map((s) => s.party)).toEqual(['clinic']);
  });

  it('the loader refuses units on a registry schedule', () => {
    expect(() => load([{ ...CLINIC, id: 'wrong', party: 'registry' }])).toThrow(ScheduleError);
    expect(() => load([{ ...CLINIC, id: 'wrong', party: 'registry' }])).toThrow(/units are for a clinic's schedule/);
  });
});

describe('research extracts carry PROM variables', () => {
  it('scores per time point through the extract mechanism, with exact and with shifted dates', async () => {
    const p = await addWrist(nin('1964-10-10', 'male'), '2013-03-04T10:00:00+01:00');
    await scheduler.runDue(new Date('2013-04-09T12:00:00Z'));
    const inv = Number((await itemsOf(p.personId))[0].invitation_id);
    const eq = await answer(
      p.personId,
      inv,
      'eq5d5l',
      { mobility: '3', selfcare: '2', usual: '3', pain: '3', anxiety: '2', vas: 60 },
      '2013-04-10T10:00:00Z',
    );
    // PRWHE: every pain, function and usual-activity item 4 of 10.
    const prwhe = t.platform.prom.instruments.get('prwhe')!;
    const items = [...prwhe.items.keys()].filter((k) => /^(pain|func|usual)\d$/.test(k));
    expect(items).toHaveLength(15);
    const pw = await answer(p.personId, inv, 'prwhe', Object.fromEntries(items.map((k) => [k, 4])), '2013-04-10T10:10:00Z');
    expect(pw.status).toBe('completed');
    const variables = ['injury_date', 'prom_w6_eq5d_index', 'prom_w6_region_score', 'prom_region_instrument'];
    const deliver = async (dates: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/registries/fracture/extracts',
        headers: { authorization: `Bearer ${t.tokens.admin}` },
        payload: {
          project: 'P-PROM-1',
          approvalRef: 'REK 1',
          expires: '2030-12-31',
          variables,
          period: { variable: 'injury_date', from: '2013-03-04', to: '2013-03-04' },
          dates,
        },
      });
      expect(res.statusCode, res.body).toBe(201);
      return parse(res.json().csv, { columns: true }) as Array<Record<string, string>>;
    };
    const [row] = await deliver('exact');
    expect(Number(row.prom_w6_eq5d_index)).toBeCloseTo(Number(eq.scores!.index.value), 6);
    expect(Number(row.prom_w6_region_score)).toBeCloseTo(Number(pw.scores!.total.value), 6);
    // Before this change every PROM variable of an extract was empty.
    expect(row.prom_w6_eq5d_index).not.toBe('');
    const [shifted] = await deliver('shift');
    expect(shifted.prom_w6_eq5d_index).toBe(row.prom_w6_eq5d_index);
    expect(shifted.injury_date).not.toBe('2013-03-04');
  });
});

describe("the scheduler's statistics", () => {
  it("a run that creates many items analyses prom_item before collecting them (an empty table's statistics planned quadratic work)", async () => {
    const lastAnalyze = async () =>
      (await q("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'prom_item'"))[0].last_analyze as Date | null;
    const before = await lastAnalyze();
    // Below the threshold: the statistics are left as they are.
    await addWrist(nin('1966-01-01', 'female'), '2014-03-03T10:00:00+01:00');
    await new PromScheduler(t.platform.data, [t.platform.registry('fracture')!], schedules, 1000).runDue(new Date('2014-03-04T12:00:00Z'));
    expect(await lastAnalyze()).toEqual(before);
    // At or above it (here 1 item, to keep the test small; 500 in the platform): ANALYZE, as the owner.
    await addWrist(nin('1967-01-01', 'male'), '2014-03-05T10:00:00+01:00');
    await new PromScheduler(t.platform.data, [t.platform.registry('fracture')!], schedules, 1).runDue(new Date('2014-03-06T12:00:00Z'));
    const after = await lastAnalyze();
    expect(after).not.toBeNull();
    expect(after).not.toEqual(before);
  });
});
