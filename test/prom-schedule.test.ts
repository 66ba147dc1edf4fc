// PROM schedules against a real database: items fall due by calendar arithmetic in Norwegian time
// (month ends, leap days, daylight-saving days), only within their windows; the scheduler collects
// everything due for one patient into one invitation, asks each instrument once, and shares the
// answer with every registry that asked (and with no registry the patient objected to); a death or
// a reservation cancels what is open.
// Dates are in the past (a capture dated in the future is refused); the years keep their calendar
// (weekdays, leap years and the last Sundays of March and October) 28 years back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, SYS } from '../registries/fracture/bundles.ts';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { loadSchedules } from '../src/prom/schedule.ts';
import { PromScheduler } from '../src/prom/scheduler.ts';
import { invitationInstruments, saveResponse } from '../src/prom/responses.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const PLATFORM = { kind: 'platform', task: 'test' } as const;

beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

async function post(bundle: unknown, token = t.tokens.ehr) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
}
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
// Anchor keys end in the fixture's id (Condition|<system>.condition|<id>).
const personOf = async (n: string) =>
  Number(
    (await q('SELECT p.id FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.anchor_key LIKE $1 LIMIT 1', [`%|${n}`]))[0]?.id,
  );
const itemsOf = (personId: number) =>
  q(
    `SELECT registry, timepoint, instrument, recall, due_date::text AS due, opens_on::text AS opens, closes_on::text AS closes, status, invitation_id, response_id, cancelled_reason
  FROM prom_item WHERE person_id = $1 ORDER BY registry, timepoint, instrument`,
    [personId],
  );
const run = (iso: string) => t.platform.prom.runDue(new Date(iso));
/** A unit of the demo tree no other test here uses (Akershus, Nordbyhagen, orthopaedics: demo/units.yaml). */
const MOVED_TO = '8102101';

// A birth date of its own per patient: synthetic numbers of one birth date run out fast, and two
// fixtures sharing a number would be one person.
let born = 0;
const uniqueNin = () => {
  born += 1;
  return nin(
    `19${50 + Math.floor(born / 12)}-${String((born % 12) + 1).padStart(2, '0')}-0${1 + (born % 9)}`,
    born % 2 ? 'male' : 'female',
  );
};
async function addFracture(over: Parameters<typeof fracture>[0]) {
  const f = fracture({ nin: uniqueNin(), ...over });
  await post(ehrBundle(f));
  await t.platform.analytics.refresh();
  return { f, personId: await personOf(f.id) };
}

describe('due dates and windows', () => {
  it('baseline (recalled) opens on the day of injury and closes 21 days after; a wrist fracture is asked EQ-5D-5L and PRWHE', async () => {
    const { personId } = await addFracture({
      injuryDateTime: '2003-03-10T10:00:00+01:00',
      firstContact: '2003-03-10T12:00:00+01:00',
      aoCode: '2R3A2',
    });
    await run('2003-03-09T12:00:00Z');
    expect(await itemsOf(personId)).toEqual([]);
    await run('2003-03-12T12:00:00Z');
    const items = await itemsOf(personId);
    expect(items.map((i) => [i.timepoint, i.instrument, i.recall, i.opens, i.closes])).toEqual([
      ['baseline', 'eq5d5l', 'pre-injury', '2003-03-10', '2003-03-31'],
      ['baseline', 'prwhe', 'pre-injury', '2003-03-10', '2003-03-31'],
    ]);
    expect(items.every((i) => i.status === 'invited' && i.invitation_id === items[0].invitation_id)).toBe(true);
  });

  it('a case first seen after its window closed is not asked; the next time point opens 7 days before its due date', async () => {
    const { personId } = await addFracture({
      injuryDateTime: '2004-01-05T10:00:00+01:00',
      firstContact: '2004-01-05T12:00:00+01:00',
      aoCode: '15.2A',
    });
    await run('2004-01-27T12:00:00Z'); // day 22: baseline closed
    expect(await itemsOf(personId)).toEqual([]);
    await run('2004-02-08T12:00:00Z'); // due 16 Feb (42 days), opens 9 Feb
    expect(await itemsOf(personId)).toEqual([]);
    await run('2004-02-09T12:00:00Z');
    const items = await itemsOf(personId);
    // A clavicle: QuickDASH; the anchor questions from 6 weeks on.
    expect(items.map((i) => [i.timepoint, i.instrument, i.due])).toEqual([
      ['w6', 'anchor', '2004-02-16'],
      ['w6', 'eq5d5l', '2004-02-16'],
      ['w6', 'quickdash', '2004-02-16'],
    ]);
  });

  it('12 months after 29 February is 28 February; month ends are kept (PostgreSQL calendar arithmetic)', async () => {
    const { personId } = await addFracture({
      injuryDateTime: '2000-02-29T10:00:00+01:00',
      firstContact: '2000-02-29T12:00:00+01:00',
      aoCode: '2R3A2',
    });
    await run('2001-02-27T12:00:00Z');
    const m12 = (await itemsOf(personId)).filter((i) => i.timepoint === 'm12');
    expect(m12.map((i) => [i.instrument, i.due, i.opens, i.closes])).toEqual([
      ['anchor', '2001-02-28', '2001-01-29', '2001-04-29'],
      ['eq5d5l', '2001-02-28', '2001-01-29', '2001-04-29'],
      ['prwhe', '2001-02-28', '2001-01-29', '2001-04-29'],
    ]);
  });

  it('month ends and daylight-saving days with a schedule in months from a date-time (a custom prom.yaml)', async () => {
    const fr = t.platform.registry('fracture')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-prom-'));
    fs.writeFileSync(
      path.join(dir, 'prom.yaml'),
      `schedules:
  - id: monthly
    title: { nb: t, en: t }
    relativeTo: surgery_datetime
    purpose: { nb: t, en: t }
    timepoints:
      - { id: m1, label: { nb: '1', en: '1' }, offset: { months: 1 }, window: { before: 0, after: 0 } }
    instruments:
      - instrument: eq5d5l
`,
    );
    // (The codebook's PROM results name the registry's own time points, not this schedule's: left out here.)
    const schedules = loadSchedules([{ ...fr, dir, derived: fr.derived.filter((d) => !d.prom) }], t.platform.prom.instruments);
    const scheduler = new PromScheduler(t.platform.data, [fr], schedules);
    await scheduler.prepare();
    const cases: Array<[string, string]> = [
      ['2005-01-31T10:00:00+01:00', '2005-02-28'], // 31 Jan + 1 month: the end of February
      ['2008-01-31T10:00:00+01:00', '2008-02-29'], // … in a leap year
      ['2005-03-27T00:30:00+01:00', '2005-04-27'], // 00:30 on the night clocks go forward (27 Mar 2005) is that day in Oslo …
      ['2005-10-30T00:30:00+02:00', '2005-11-30'], // … and on the night they go back: 29 Oct 22:30 UTC is 30 Oct in Oslo
    ];
    const ids: number[] = [];
    for (const [surgery] of cases) {
      const f = fracture({
        nin: uniqueNin(),
        injuryDateTime: surgery.slice(0, 10),
        firstContact: surgery,
        intent: 'operative',
        surgery: { start: surgery, ncsp: 'NCJ29' },
      });
      await post(ehrBundle(f));
      const { plannerBundle } = await import('../registries/fracture/bundles.ts');
      const planner = plannerBundle(f);
      if (planner) await post(planner, t.tokens.planner);
      ids.push(await personOf(f.id));
    }
    await t.platform.analytics.refresh();
    for (const [i, [, due]] of cases.entries()) {
      await scheduler.runDue(new Date(`${due}T10:00:00Z`));
      const items = (await itemsOf(ids[i])).filter((x) => x.timepoint === 'm1');
      expect(
        items.map((x) => x.due),
        cases[i][0],
      ).toEqual([due]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('invitations are sent at 09:00 Norwegian time: 08:00 UTC in winter, 07:00 UTC in summer and on the day clocks go forward', async () => {
    const sendAt = async (injury: string, nowIso: string) => {
      const { personId } = await addFracture({
        injuryDateTime: `${injury}T08:00:00+01:00`,
        firstContact: `${injury}T09:00:00+01:00`,
        aoCode: '2R3A2',
      });
      await run(nowIso);
      const rows = await q('SELECT send_at FROM prom_invitation WHERE person_id = $1', [personId]);
      expect(rows.length, `${injury}: one invitation`).toBe(1);
      return new Date(rows[0].send_at).toISOString();
    };
    expect(await sendAt('2006-01-10', '2006-01-10T05:00:00Z')).toBe('2006-01-10T08:00:00.000Z');
    expect(await sendAt('2006-03-26', '2006-03-26T05:00:00Z')).toBe('2006-03-26T07:00:00.000Z'); // 26 Mar 2006: clocks go forward at 02:00
    expect(await sendAt('2006-06-10', '2006-06-10T05:00:00Z')).toBe('2006-06-10T07:00:00.000Z');
    // Run after 09:00: sent at once.
    expect(await sendAt('2006-06-11', '2006-06-11T10:15:00Z')).toBe('2006-06-11T10:15:00.000Z');
  });

  it("an invitation names the case's current unit, though the analytics row has not caught up with a move yet", async () => {
    const { f, personId } = await addFracture({
      injuryDateTime: '2009-03-01T13:00:00+01:00',
      firstContact: '2009-03-01T13:00:00+01:00',
      aoCode: '2R3A2',
    });
    // The case moves to another unit; the refresher has not run since, so the analytics row still says the old one.
    await q("UPDATE registry_case SET unit_resh = $2 WHERE registry = 'fracture' AND anchor_key LIKE $1", [`%|${f.id}`, MOVED_TO]);
    await run('2009-03-02T08:00:00Z');
    expect((await q('SELECT unit_resh FROM prom_invitation WHERE person_id = $1', [personId])).map((r) => r.unit_resh)).toEqual([MOVED_TO]);
  });
});

describe('cancellation', () => {
  it('a death from the population register cancels the open items and the invitation, and nothing new is asked', async () => {
    const { f, personId } = await addFracture({
      injuryDateTime: '2007-05-02T10:00:00+02:00',
      firstContact: '2007-05-02T12:00:00+02:00',
      aoCode: '2R3A2',
    });
    await run('2007-05-03T12:00:00Z');
    expect((await itemsOf(personId)).every((i) => i.status === 'invited')).toBe(true);
    await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: { resourceType: 'Patient', identifier: [{ system: SYS.fnr, value: f.nin }], deceasedDateTime: '2007-05-04' },
          request: { method: 'PUT', url: 'Patient' },
        },
      ],
    });
    await t.platform.analytics.refresh();
    await run('2007-05-05T12:00:00Z');
    const items = await itemsOf(personId);
    expect(items.map((i) => [i.status, i.cancelled_reason])).toEqual([
      ['cancelled', 'deceased'],
      ['cancelled', 'deceased'],
    ]);
    expect(await q('SELECT status, cancelled_reason FROM prom_invitation WHERE person_id = $1', [personId])).toEqual([
      { status: 'cancelled', cancelled_reason: 'deceased' },
    ]);
    await run('2007-06-10T12:00:00Z'); // the 6-week window: nothing for the dead
    expect((await itemsOf(personId)).length).toBe(2);
  });

  it("a reservation removes the patient's items, invitations and answers with the person", async () => {
    const { f, personId } = await addFracture({
      injuryDateTime: '2007-07-02T10:00:00+02:00',
      firstContact: '2007-07-02T12:00:00+02:00',
      aoCode: '2R3A2',
    });
    await run('2007-07-03T12:00:00Z');
    const inv = Number((await q('SELECT id FROM prom_invitation WHERE person_id = $1', [personId]))[0].id);
    await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      saveResponse(tx, {
        personId,
        invitationId: inv,
        instrument: t.platform.prom.instruments.get('eq5d5l')!,
        recall: 'pre-injury',
        answers: { mobility: '1' },
        complete: false,
        provenance: { kind: 'patient' },
        at: new Date('2007-07-03T13:00:00Z'),
      }),
    );
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/reservations',
      headers: { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ value: f.nin }),
    });
    expect(res.statusCode).toBe(201);
    for (const table of ['prom_item', 'prom_invitation', 'prom_response'])
      expect(await q(`SELECT 1 FROM ${table} WHERE person_id = $1`, [personId]), table).toEqual([]);
  });
});

describe('collect once across the fracture and trauma registers', () => {
  it('one invitation; EQ-5D-5L asked once; both registries get the answer; an objection to one registry is respected', async () => {
    const patient = nin('1980-04-04', 'male');
    const injury = '2008-04-15T09:00:00+02:00';
    await post(ehrBundle(fracture({ nin: patient, injuryDateTime: injury, firstContact: '2008-04-15T10:00:00+02:00', aoCode: '2R3A2' })));
    await post(
      traumaBundle({
        id: `tr-${Date.now()}`,
        nin: patient,
        unitResh: SUS_HOSPITAL,
        arrival: '2008-04-15T09:40:00+02:00',
        traumaTeam: true,
        accident: { at: injury },
        ais: ['853422.2'],
      }),
    );
    await t.platform.analytics.refresh();
    const personId = Number(
      (
        await q(
          "SELECT id FROM person WHERE id IN (SELECT person_id FROM registry_case WHERE registry = 'trauma') AND id IN (SELECT person_id FROM registry_case WHERE registry = 'fracture') ORDER BY id DESC LIMIT 1",
        )
      )[0].id,
    );
    // Baseline at the fracture register only; then one year on, both registers are due.
    await run('2008-04-16T12:00:00Z');
    await run('2009-04-10T12:00:00Z');
    const m12 = (await itemsOf(personId)).filter((i) => i.timepoint === 'm12');
    expect(m12.map((i) => [i.registry, i.instrument])).toEqual([
      ['fracture', 'anchor'],
      ['fracture', 'eq5d5l'],
      ['fracture', 'prwhe'],
      ['trauma', 'eq5d5l'],
    ]);
    const invitations = new Set(m12.map((i) => i.invitation_id));
    expect(invitations.size).toBe(1);
    const inv = Number([...invitations][0]);
    const asked = await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      invitationInstruments(tx, inv, ['prwhe', 'eq5d5l', 'anchor']),
    );
    expect(asked).toEqual([
      { instrument: 'prwhe', recall: 'current' },
      { instrument: 'eq5d5l', recall: 'current' },
      { instrument: 'anchor', recall: 'current' },
    ]);

    const saved = await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      saveResponse(tx, {
        personId,
        invitationId: inv,
        instrument: t.platform.prom.instruments.get('eq5d5l')!,
        recall: 'current',
        answers: { mobility: '2', selfcare: '1', usual: '2', pain: '2', anxiety: '1', vas: 80 },
        complete: true,
        provenance: { kind: 'patient' },
        at: new Date('2009-04-11T10:00:00Z'),
      }),
    );
    expect(saved.sharedWith.map((s) => s.registry).sort()).toEqual(['fracture', 'trauma']);
    const eq = (await itemsOf(personId)).filter((i) => i.timepoint === 'm12' && i.instrument === 'eq5d5l');
    expect(eq.map((i) => [i.registry, i.status, Number(i.response_id)])).toEqual([
      ['fracture', 'answered', saved.responseId],
      ['trauma', 'answered', saved.responseId],
    ]);
    expect(
      (await q('SELECT count(*)::int AS n FROM prom_response WHERE person_id = $1 AND instrument = $2', [personId, 'eq5d5l']))[0].n,
    ).toBe(1);
    // The invitation stays open until PRWHE and the anchor questions are answered too (no channel
    // is configured in this test, so it waits for a paper answer).
    expect((await q('SELECT status FROM prom_invitation WHERE id = $1', [inv]))[0].status).toBe('not-reachable');
  });

  it('a patient who objects to one registry: that registry asks nothing and is shared nothing', async () => {
    const patient = nin('1975-09-09', 'female');
    const injury = '2010-05-20T09:00:00+02:00';
    await post(ehrBundle(fracture({ nin: patient, injuryDateTime: injury, firstContact: '2010-05-20T10:00:00+02:00', aoCode: '2R3A2' })));
    await post(
      traumaBundle({
        id: `tr2-${Date.now()}`,
        nin: patient,
        unitResh: SUS_HOSPITAL,
        arrival: '2010-05-20T09:40:00+02:00',
        traumaTeam: true,
        accident: { at: injury },
        ais: ['853422.2'],
      }),
    );
    await t.platform.analytics.refresh();
    const personId = Number(
      (await q("SELECT person_id FROM registry_case WHERE registry = 'trauma' ORDER BY id DESC LIMIT 1"))[0].person_id,
    );
    await q("INSERT INTO prom_objection (person_id, registry) VALUES ($1, 'trauma')", [personId]);
    await run('2011-05-15T12:00:00Z');
    const items = (await itemsOf(personId)).filter((i) => i.timepoint === 'm12');
    expect(items.map((i) => i.registry)).not.toContain('trauma');
    const inv = Number(items[0].invitation_id);
    const saved = await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      saveResponse(tx, {
        personId,
        invitationId: inv,
        instrument: t.platform.prom.instruments.get('eq5d5l')!,
        recall: 'current',
        answers: { mobility: '1', selfcare: '1', usual: '1', pain: '1', anxiety: '1', vas: 90 },
        complete: true,
        provenance: { kind: 'patient' },
        at: new Date('2011-05-16T10:00:00Z'),
      }),
    );
    expect(saved.sharedWith.map((s) => s.registry)).toEqual(['fracture']);
  });
});

it('unit users see the items of their own units only (row-level security)', async () => {
  const sus = { kind: 'user', user: 'r', name: 'r', grants: [{ registry: 'fracture', role: 'unit-reader', unit: SUS_ORTHO }] } as const;
  const kalnes = { kind: 'user', user: 'k', name: 'k', grants: [{ registry: 'fracture', role: 'unit-reader', unit: '8101101' }] } as const;
  const count = (caller: any) =>
    t.platform.data.transaction(
      caller,
      'test',
      async (tx) => Number((await tx.client.query("SELECT count(*) FROM prom_item WHERE registry = 'fracture'")).rows[0].count),
      { readOnly: true },
    );
  expect(await count(sus)).toBeGreaterThan(0);
  expect(await count(kalnes)).toBe(0);
  const resp = (caller: any) =>
    t.platform.data.transaction(
      caller,
      'test',
      async (tx) => Number((await tx.client.query('SELECT count(*) FROM prom_response')).rows[0].count),
      { readOnly: true },
    );
  expect(await resp(sus)).toBeGreaterThan(0);
  expect(await resp(kalnes)).toBe(0);
});
