// Two persons become one (a D-number resolved to the patient's fødselsnummer) while both have PROM
// records: nothing the patient answered, was asked, or refused may be lost with the merged-away
// person's row (its foreign keys cascade). Before the fix, the merge deleted the D-number person's
// answers, items, invitation, contact details and — the worst of it — their objection to a
// registry, which would then have asked them again. Identifier systems: HL7 Norway's
// no-basis-identifikator-namespace (…4.1.4.1 FNR, …4.1.4.2 DNR); the D-number rule (day + 40):
// Skatteetaten, https://www.skatteetaten.no/person/utenlandsk/norsk-identitetsnummer/d-nummer/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveResponse } from '../src/prom/responses.ts';
import type { Answers } from '../src/prom/scoring.ts';
import { captureFracture } from './helpers/capture.ts';
import { fracture } from './helpers/fixtures.ts';
import { dated, seeded } from './helpers/numbers.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const FNR = 'urn:oid:2.16.578.1.12.4.1.4.1',
  DNR = 'urn:oid:2.16.578.1.12.4.1.4.2';
const PLATFORM = { kind: 'platform', task: 'test' } as const;

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;

async function addWrist(nin: string, system: string, injury: string) {
  const ids = await captureFracture(t, fracture({ nin, ninSystem: system, injuryDateTime: injury, firstContact: injury, aoCode: '2R3A2' }));
  await t.platform.analytics.refresh();
  return ids;
}
const openInvitation = async (personId: number) =>
  (await q(`SELECT id FROM prom_invitation WHERE person_id = $1 AND status IN ('ordered', 'sent', 'reminded')`, [personId])).map((r) =>
    Number(r.id),
  );
const save = (personId: number, invitationId: number, instrument: string, answers: Answers, complete: boolean) =>
  t.platform.data.transaction(PLATFORM, 'test', (tx) =>
    saveResponse(tx, {
      personId,
      invitationId,
      instrument: t.platform.prom.instruments.get(instrument)!,
      recall: 'current',
      answers,
      complete,
      provenance: { kind: 'patient' },
      at: new Date('2012-04-12T10:00:00Z'),
    }),
  );
const counts = async () =>
  (
    await q(`SELECT (SELECT count(*)::int FROM prom_response) AS responses, (SELECT count(*)::int FROM prom_item) AS items,
      (SELECT count(*)::int FROM prom_invitation) AS invitations`)
  )[0];

describe('a merge keeps every PROM record of the merged-away person', () => {
  it("moves answers, items, the open invitation's questions, contact details and objections to the survivor", async () => {
    const random = seeded(20121206);
    const real = dated('1958-03-09', 'female', random),
      dnr = dated('1958-03-09', 'female', random, { day: 40 });
    // Both numbers were used for two wrist fractures the same day (injury 5 March 2012; the
    // 6-week window opens 9 April), so each person got an invitation of their own.
    const byD = await addWrist(dnr, DNR, '2012-03-05T10:00:00+01:00');
    const byF = await addWrist(real, FNR, '2012-03-05T11:00:00+01:00');
    expect(byD.personId).not.toBe(byF.personId);
    // The scheduler alone (no sending), so both invitations are still open ('ordered').
    await t.platform.prom.scheduler.runDue(new Date('2012-04-10T12:00:00Z'));
    const [invD] = await openInvitation(byD.personId);
    const [invF] = await openInvitation(byF.personId);
    expect(invD && invF).toBeTruthy();

    // Under the D-number the patient answered EQ-5D-5L and began the wrist form; they gave an
    // e-mail address and objected to the trauma register.
    await save(byD.personId, invD, 'eq5d5l', { mobility: '2', selfcare: '1', usual: '2', pain: '2', anxiety: '1', vas: 70 }, true);
    await save(byD.personId, invD, 'prwhe', { pain1: '3' }, false);
    await q("INSERT INTO prom_contact (person_id, email_enc, source) VALUES ($1, '\\x01'::bytea, 'patient')", [byD.personId]);
    await q("INSERT INTO prom_objection (person_id, registry) VALUES ($1, 'trauma')", [byD.personId]);
    const before = await counts();

    const res = await t.app.inject({
      method: 'POST',
      url: '/api/persons/merge',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
      payload: { from: { system: DNR, value: dnr }, into: { system: FNR, value: real } },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ fromPerson: byD.personId, intoPerson: byF.personId });

    // Nothing deleted: every answer, item and invitation is still there, now the survivor's.
    expect(await counts()).toEqual(before);
    expect(
      await q('SELECT 1 FROM prom_response WHERE person_id = $1 UNION ALL SELECT 1 FROM prom_item WHERE person_id = $1', [byD.personId]),
    ).toEqual([]);
    const responses = await q('SELECT instrument, status, invitation_id FROM prom_response WHERE person_id = $1 ORDER BY instrument', [
      byF.personId,
    ]);
    expect(responses.map((r) => [r.instrument, r.status])).toEqual([
      ['eq5d5l', 'completed'],
      ['prwhe', 'draft'],
    ]);
    // One open invitation: the survivor's, now asking what the D-number's asked; the unfinished
    // answer follows it, so the patient resumes where they left off.
    expect(await openInvitation(byF.personId)).toEqual([invF]);
    expect(Number(responses.find((r) => r.instrument === 'prwhe')!.invitation_id)).toBe(invF);
    const [folded] = await q('SELECT status, cancelled_reason FROM prom_invitation WHERE id = $1', [invD]);
    expect(folded).toEqual({ status: 'cancelled', cancelled_reason: 'merged' });
    const dItems = await q('SELECT status, invitation_id FROM prom_item WHERE case_id = $1 AND status = $2', [byD.caseId, 'invited']);
    expect(dItems.length).toBeGreaterThan(0);
    expect(new Set(dItems.map((i) => Number(i.invitation_id)))).toEqual(new Set([invF]));
    // The objection and the contact details are the person's.
    expect(await q('SELECT registry FROM prom_objection WHERE person_id = $1', [byF.personId])).toEqual([{ registry: 'trauma' }]);
    expect(await q('SELECT source FROM prom_contact WHERE person_id = $1', [byF.personId])).toEqual([{ source: 'patient' }]);

    // Collect once across the merge: the EQ-5D-5L answered under the D-number answers the
    // survivor's own EQ-5D-5L item the next day; it is not asked again.
    await t.platform.prom.scheduler.runDue(new Date('2012-04-11T12:00:00Z'));
    const eq = await q(
      `SELECT i.status, r.instrument FROM prom_item i JOIN prom_response r ON r.id = i.response_id
       WHERE i.case_id = $1 AND i.instrument = 'eq5d5l' AND i.timepoint = 'w6'`,
      [byF.caseId],
    );
    expect(eq).toEqual([{ status: 'answered', instrument: 'eq5d5l' }]);
  });
});
