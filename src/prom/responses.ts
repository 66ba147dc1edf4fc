// Responses: the answers to one instrument, saved midway (draft) and completed, scored by the same
// code as `kvalreg prom score`, and shared with every item they answer: every registry whose
// schedule asked that instrument (with the same recall) within its window, and only those. A
// registry the patient has objected to has no open item, so it is shared nothing.
import type { PersonTx } from '../access/door.ts';
import type { Instrument } from './instruments.ts';
import { scoreResponse, type Answers, type Scored } from './scoring.ts';
import { KvalregError, kindOfStatus } from '../errors.ts';

export type Provenance =
  | { kind: 'patient' }
  | { kind: 'proxy'; relation?: string; /** the proxy's login */ user?: string }
  | { kind: 'paper'; user: string }
  | { kind: 'fhir'; sender: string; message: number; resource: string }
  | { kind: 'import'; sender: string; file?: string; row?: number };

export class ResponseError extends KvalregError {
  constructor(message: string, status = 422, details: string[] = []) {
    super(kindOfStatus(status), message, { details });
  }
  get status(): number {
    return this.httpStatus;
  }
}

export interface SaveInput {
  personId: number;
  invitationId: number | null;
  instrument: Instrument;
  recall: 'current' | 'pre-injury';
  answers: Answers;
  complete: boolean;
  provenance: Provenance;
  at: Date;
  /** External responses: their own key, so a resend changes nothing. */
  sourceKey?: string;
  /** Who answered, for the audit trail, when the transaction runs as the platform on their behalf. */
  actor?: { label: string; role: string };
}

export interface Saved {
  responseId: number;
  status: 'draft' | 'completed';
  scores: Scored['scores'] | null;
  /** The items it answers: each registry's (party `registry`), and the treating unit's own follow-up (`clinic`). */
  sharedWith: Array<{ registry: string; caseId: number; timepoint: string; party: 'registry' | 'clinic' }>;
  unchanged?: boolean;
}

/** The instruments an invitation asks, each once (with its recall), in the order the schedules list them. */
export async function invitationInstruments(
  tx: PersonTx,
  invitationId: number,
  order: string[],
): Promise<Array<{ instrument: string; recall: 'current' | 'pre-injury' }>> {
  const { rows } = await tx.client.query(
    `SELECT DISTINCT instrument, recall FROM prom_item WHERE invitation_id = $1 AND status IN ('invited', 'answered')`,
    [invitationId],
  );
  const rank = (i: string) => {
    const n = order.indexOf(i);
    return n < 0 ? order.length : n;
  };
  return rows
    .sort((a, b) => (a.recall === b.recall ? 0 : a.recall === 'pre-injury' ? -1 : 1) || rank(a.instrument) - rank(b.instrument))
    .map((r) => ({ instrument: r.instrument, recall: r.recall }));
}

export async function saveResponse(tx: PersonTx, input: SaveInput): Promise<Saved> {
  const db = tx.client;
  const inst = input.instrument;
  // Answers are checked against the Questionnaire whether or not the form is complete: nothing
  // a Questionnaire cannot hold is stored.
  const scored = scoreResponse(inst, input.answers);
  if (scored.problems.length)
    throw new ResponseError(`Some answers do not fit ${inst.def.title.en}: ${scored.problems.join('; ')}.`, 422, scored.problems);
  const clean = Object.fromEntries(Object.entries(input.answers).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  if (input.complete) {
    const missing = [...inst.items.values()]
      .filter((it) => it.required && clean[it.linkId] === undefined && enabled(it, clean))
      .map((it) => it.linkId);
    if (missing.length)
      throw new ResponseError(
        `Answer every required question before sending (${missing.length} left).`,
        422,
        missing.map((m) => `${m}: required`),
      );
  }
  const status = input.complete ? 'completed' : 'draft';
  const scores = input.complete ? scored.scores : null;
  let row;
  if (input.sourceKey) {
    const existing = (await db.query('SELECT id, answers, status FROM prom_response WHERE source_key = $1', [input.sourceKey])).rows[0];
    if (existing && JSON.stringify(existing.answers) === JSON.stringify(clean) && existing.status === status) {
      return { responseId: Number(existing.id), status, scores, sharedWith: [], unchanged: true };
    }
    row = (
      await db.query(
        `INSERT INTO prom_response (person_id, invitation_id, instrument, instrument_version, recall, status, answers, scores, provenance, answered_at, source_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (source_key) DO UPDATE SET answers = EXCLUDED.answers, scores = EXCLUDED.scores, status = EXCLUDED.status, instrument_version = EXCLUDED.instrument_version,
         answered_at = EXCLUDED.answered_at, provenance = EXCLUDED.provenance, updated_at = now()
       RETURNING id`,
        [
          input.personId,
          input.invitationId,
          inst.id,
          inst.version,
          input.recall,
          status,
          clean,
          scores,
          input.provenance,
          input.complete ? input.at : null,
          input.sourceKey,
        ],
      )
    ).rows[0];
  } else {
    const prior = (
      await db.query('SELECT status FROM prom_response WHERE invitation_id = $1 AND instrument = $2 AND recall = $3', [
        input.invitationId,
        inst.id,
        input.recall,
      ])
    ).rows[0];
    if (prior?.status === 'completed')
      throw new ResponseError(`${inst.def.title.en} has already been answered; a sent form cannot be changed.`, 409);
    row = (
      await db.query(
        `INSERT INTO prom_response (person_id, invitation_id, instrument, instrument_version, recall, status, answers, scores, provenance, answered_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (invitation_id, instrument, recall) DO UPDATE SET answers = EXCLUDED.answers, scores = EXCLUDED.scores, status = EXCLUDED.status,
         answered_at = EXCLUDED.answered_at, provenance = EXCLUDED.provenance, updated_at = now()
       RETURNING id`,
        [
          input.personId,
          input.invitationId,
          inst.id,
          inst.version,
          input.recall,
          status,
          clean,
          scores,
          input.provenance,
          input.complete ? input.at : null,
        ],
      )
    ).rows[0];
  }
  const responseId = Number(row.id);
  let sharedWith: Saved['sharedWith'] = [];
  if (input.complete) {
    // Every open item this answers: those of the invitation, and any other registry's item of the
    // same patient, instrument and recall whose window holds the day it was answered.
    const linked = await db.query(
      `UPDATE prom_item SET status = 'answered', response_id = $1, updated_at = now()
       WHERE person_id = $2 AND instrument = $3 AND recall = $4 AND status IN ('pending', 'invited', 'expired')
         AND ((invitation_id = $5 AND status <> 'expired') OR ($6 AT TIME ZONE 'Europe/Oslo')::date BETWEEN opens_on AND closes_on)
       RETURNING registry, case_id, timepoint, party`,
      [responseId, input.personId, inst.id, input.recall, input.invitationId, input.at],
    );
    sharedWith = linked.rows.map((r) => ({ registry: r.registry, caseId: Number(r.case_id), timepoint: r.timepoint, party: r.party }));
    if (input.invitationId !== null) {
      // The invitation is answered when nothing it asks is left open.
      await db.query(
        `UPDATE prom_invitation SET status = 'answered', answered_at = $2, updated_at = now()
         WHERE id = $1 AND status IN ('ordered', 'sent', 'reminded', 'not-reachable')
           AND NOT EXISTS (SELECT 1 FROM prom_item WHERE invitation_id = $1 AND status = 'invited')`,
        [input.invitationId, input.at],
      );
    }
  }
  tx.audit({
    action: input.complete ? 'prom:answer' : 'prom:save',
    object: `prom/response/${responseId}`,
    personIds: [input.personId],
    ...(input.actor ? { actor: input.actor } : {}),
  });
  return { responseId, status, scores, sharedWith };
}

/** Whether an item is shown, given the answers so far (SDC enableWhen, any of its conditions). */
export function enabled(item: { enableWhen: Array<{ question: string; operator: string; answer: unknown }> }, answers: Answers): boolean {
  if (!item.enableWhen.length) return true;
  return item.enableWhen.some((e) => {
    const a = answers[e.question];
    if (e.operator === 'exists') return (a !== undefined) === Boolean(e.answer);
    const eq = String(a) === String(e.answer);
    return e.operator === '!=' ? !eq : e.operator === '=' ? eq : false;
  });
}
