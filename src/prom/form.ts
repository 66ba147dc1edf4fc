// The patient's form, server side: the invitation a link names, shown only to the patient it was
// sent to (their login's identity must be the invitation's person) or to the one proxy who gave
// the letter's one-time code, with every instrument it asks once, the answers saved so far (save
// midway, resume later), and a receipt when all are sent. A proxy's answers are recorded as
// answered on behalf.
import type { PersonData, PersonTx } from '../access/door.ts';
import type { Caller } from '../access/caller.ts';
import { callerLabel } from '../access/caller.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Answers } from './scoring.ts';
import { invitationInstruments, ResponseError, saveResponse, type Provenance, type Saved } from './responses.ts';
import { hospitalName } from './sender.ts';
import type { Prom } from './service.ts';

const PLATFORM = { kind: 'platform', task: 'prom-form' } as const;
const OPEN = ['ordered', 'sent', 'reminded', 'not-reachable'];
export const PROXY_RELATIONS = ['parent', 'guardian', 'relative', 'other'] as const;
export type ProxyRelation = (typeof PROXY_RELATIONS)[number];
/** Wrong codes before the code is refused for a while, and for how long. */
const MAX_CODE_FAILURES = 5;
const CODE_LOCK_MINUTES = 60;

export interface FormView {
  invitation: {
    id: number;
    hospital: string;
    purpose: { nb: string; en: string };
    deadline: string | null;
    status: string;
    answeredAt: string | null;
  };
  /** Who is answering: the patient, or a proxy on their behalf (with the relation they gave). */
  respondent: { kind: 'patient' } | { kind: 'proxy'; relation: ProxyRelation };
  instruments: Array<{
    id: string;
    recall: 'current' | 'pre-injury';
    title: { nb: string; en: string };
    questionnaire: Record<string, any>;
    answers: Answers;
    status: 'new' | 'draft' | 'completed';
    answeredAt: string | null;
  }>;
}

interface Owned {
  id: number;
  personId: number;
  row: any;
  respondent: FormView['respondent'];
}

export class PatientForms {
  constructor(
    private readonly prom: Prom,
    private readonly data: PersonData,
    private readonly units: UnitTree,
  ) {}

  private notFound(): ResponseError {
    return new ResponseError(
      "This link is not valid for your login. Check that you are logged in as the person the message was sent to, and use the whole link. If you answer on someone else's behalf, give the code from the letter.",
      404,
    );
  }

  /**
   * The invitation behind a link, if the caller is the patient it was sent to or the proxy bound
   * to it; otherwise a 404 that says nothing of whose it is (a forged link gets the same).
   */
  private async own(token: string, caller: Caller): Promise<Owned> {
    const id = this.prom.links.verify(token);
    if (id === null || caller.kind !== 'user' || !caller.personHash) throw this.notFound();
    const row = await this.data.transaction(
      PLATFORM,
      'prom:form-open',
      async (tx) =>
        (
          await tx.client.query(
            `SELECT v.*, p.id AS pid, p.nin_hash = decode($2, 'hex') AS is_patient, x.relation AS proxy_relation
       FROM prom_invitation v JOIN person p ON p.id = v.person_id
       LEFT JOIN prom_proxy x ON x.invitation_id = v.id AND x.proxy_hash = decode($2, 'hex')
       WHERE v.id = $1 AND (p.nin_hash = decode($2, 'hex') OR x.invitation_id IS NOT NULL)`,
            [id, caller.personHash],
          )
        ).rows[0],
      { readOnly: true },
    );
    if (!row) throw this.notFound();
    return {
      id,
      personId: Number(row.pid),
      row,
      respondent: row.is_patient ? { kind: 'patient' } : { kind: 'proxy', relation: row.proxy_relation },
    };
  }

  async view(token: string, caller: Caller): Promise<FormView> {
    const { id, personId, row, respondent } = await this.own(token, caller);
    return this.data.transaction(
      PLATFORM,
      'prom:form',
      async (tx) => {
        const asked = await invitationInstruments(tx, id, this.prom.order);
        const saved = (
          await tx.client.query('SELECT instrument, recall, status, answers, answered_at FROM prom_response WHERE invitation_id = $1', [id])
        ).rows;
        tx.audit({
          action: 'read',
          object: `prom/invitation/${id}`,
          personIds: [personId],
          actor: { label: callerLabel(caller), role: respondent.kind === 'proxy' ? 'proxy' : 'patient' },
        });
        return {
          invitation: {
            id,
            hospital: hospitalName(this.units, row.unit_resh),
            purpose: row.purpose,
            deadline: row.expires_at ? new Date(row.expires_at).toISOString() : null,
            status: row.status,
            answeredAt: row.answered_at ? new Date(row.answered_at).toISOString() : null,
          },
          respondent,
          instruments: asked.map((a) => {
            const inst = this.prom.instruments.get(a.instrument)!;
            const s = saved.find((r) => r.instrument === a.instrument && r.recall === a.recall);
            return {
              id: inst.id,
              recall: a.recall,
              title: inst.def.title,
              questionnaire: inst.questionnaire,
              answers: s?.answers ?? {},
              status: s ? s.status : 'new',
              answeredAt: s?.answered_at ? new Date(s.answered_at).toISOString() : null,
            };
          }),
        };
      },
      { readOnly: true },
    );
  }

  /**
   * A proxy gives the letter's one-time code: the first person to give the right code is bound to
   * the invitation and may answer on the patient's behalf; for anyone else the code is spent. Wrong
   * codes are counted, and after five the code is refused for an hour.
   */
  async claim(
    token: string,
    caller: Caller,
    body: { code?: unknown; relation?: unknown },
    now = new Date(),
  ): Promise<FormView['respondent']> {
    const id = this.prom.links.verify(token);
    if (id === null || caller.kind !== 'user' || !caller.personHash) throw this.notFound();
    const relation = body?.relation;
    if (typeof relation !== 'string' || !(PROXY_RELATIONS as readonly string[]).includes(relation))
      throw new ResponseError(`Say how you are related to the patient: "relation" is one of ${PROXY_RELATIONS.join(', ')}.`, 400);
    if (typeof body?.code !== 'string' || !body.code.trim())
      throw new ResponseError('Give the code from the letter ("code": eight letters and digits, like ABCD-EFGH).', 400);
    const code = body.code;
    const label = callerLabel(caller);
    // The outcome is returned rather than thrown, so that a wrong code's count is committed.
    const outcome = await this.data.transaction(
      PLATFORM,
      'prom:proxy',
      async (tx): Promise<{ ok: FormView['respondent'] } | { error: ResponseError }> => {
        const row = (
          await tx.client.query(
            `SELECT v.id, v.person_id, v.status, v.code_failures, v.code_locked_until, p.nin_hash = decode($2, 'hex') AS is_patient
         FROM prom_invitation v JOIN person p ON p.id = v.person_id WHERE v.id = $1 FOR UPDATE OF v`,
            [id, caller.personHash],
          )
        ).rows[0];
        if (!row) return { error: this.notFound() };
        const personId = Number(row.person_id);
        if (row.is_patient) return { ok: { kind: 'patient' } };
        if (row.code_locked_until && new Date(row.code_locked_until) > now) {
          tx.audit({
            action: 'prom:proxy-refused',
            object: `prom/invitation/${id}`,
            personIds: [personId],
            actor: { label, role: 'proxy' },
          });
          return {
            error: new ResponseError(
              `Too many wrong codes have been given for this letter. Try again after ${new Intl.DateTimeFormat('en-GB', { timeStyle: 'short', timeZone: 'Europe/Oslo' }).format(new Date(row.code_locked_until))} (Norwegian time), or ask the hospital.`,
              429,
            ),
          };
        }
        if (!this.prom.links.checkCode(id, code)) {
          const failures = Number(row.code_failures) + 1;
          const lock = failures >= MAX_CODE_FAILURES;
          await tx.client.query(
            `UPDATE prom_invitation SET code_failures = $2, code_locked_until = CASE WHEN $3 THEN $4::timestamptz + make_interval(mins => ${CODE_LOCK_MINUTES}) ELSE code_locked_until END, updated_at = now() WHERE id = $1`,
            [id, lock ? 0 : failures, lock, now],
          );
          tx.audit({
            action: 'prom:proxy-refused',
            object: `prom/invitation/${id}`,
            personIds: [personId],
            actor: { label, role: 'proxy' },
          });
          return {
            error: new ResponseError(
              'The code is not right. Check the code in the letter from the hospital: eight letters and digits, like ABCD-EFGH.',
              422,
            ),
          };
        }
        const bound = (
          await tx.client.query(`SELECT proxy_hash = decode($2, 'hex') AS same, relation FROM prom_proxy WHERE invitation_id = $1`, [
            id,
            caller.personHash,
          ])
        ).rows[0];
        if (bound && !bound.same) {
          tx.audit({
            action: 'prom:proxy-refused',
            object: `prom/invitation/${id}`,
            personIds: [personId],
            actor: { label, role: 'proxy' },
          });
          return {
            error: new ResponseError(
              "This code has already been used by someone else to answer on the patient's behalf; a code can be used by one person only. Ask the hospital if this is wrong.",
              409,
            ),
          };
        }
        if (!OPEN.includes(row.status))
          return {
            error: new ResponseError(
              row.status === 'answered'
                ? 'The answers have already been sent. Thank you!'
                : 'This questionnaire is closed and can no longer be answered.',
              409,
            ),
          };
        if (!bound) {
          await tx.client.query(
            `INSERT INTO prom_proxy (invitation_id, proxy_hash, proxy_label, relation) VALUES ($1, decode($2, 'hex'), $3, $4)`,
            [id, caller.personHash, label, relation],
          );
          await tx.client.query('UPDATE prom_invitation SET code_failures = 0, updated_at = now() WHERE id = $1', [id]);
          tx.audit({ action: 'prom:proxy', object: `prom/invitation/${id}`, personIds: [personId], actor: { label, role: 'proxy' } });
        }
        return { ok: { kind: 'proxy', relation: (bound?.relation ?? relation) as ProxyRelation } };
      },
    );
    if ('error' in outcome) throw outcome.error;
    return outcome.ok;
  }

  /** Saves one instrument's answers: a draft (to resume later), or sent (checked, scored, shared, triaged). */
  async save(
    token: string,
    caller: Caller,
    instrumentId: string,
    body: { answers?: unknown; recall?: unknown },
    complete: boolean,
  ): Promise<Saved & { invitationStatus: string; answeredAt: string | null }> {
    const { id, personId, row, respondent } = await this.own(token, caller);
    if (!OPEN.includes(row.status))
      throw new ResponseError(
        row.status === 'answered'
          ? 'You have already sent your answers. Thank you!'
          : 'This questionnaire is closed and can no longer be answered.',
        409,
      );
    const instrument = this.prom.instruments.get(instrumentId);
    if (!instrument) throw new ResponseError(`This questionnaire does not ask "${instrumentId}".`, 404);
    const answers = body?.answers;
    if (!answers || typeof answers !== 'object' || Array.isArray(answers))
      throw new ResponseError('Send {"answers": {"<linkId>": <answer>, …}}.', 400);
    const label = callerLabel(caller);
    const provenance: Provenance =
      respondent.kind === 'proxy' ? { kind: 'proxy', relation: respondent.relation, user: label } : { kind: 'patient' };
    return this.data.transaction(PLATFORM, complete ? 'prom:form-submit' : 'prom:form-save', async (tx: PersonTx) => {
      const asked = await invitationInstruments(tx, id, this.prom.order);
      const which = asked.find((a) => a.instrument === instrumentId && (body.recall === undefined || a.recall === body.recall));
      if (!which) throw new ResponseError(`This questionnaire does not ask "${instrumentId}".`, 404);
      const at = new Date();
      const saved = await saveResponse(tx, {
        personId,
        invitationId: id,
        instrument,
        recall: which.recall,
        answers: answers as Answers,
        complete,
        provenance,
        at,
        actor: { label, role: respondent.kind },
      });
      if (complete) await this.prom.triage.evaluate(tx, { personId });
      const inv = (await tx.client.query('SELECT status, answered_at FROM prom_invitation WHERE id = $1', [id])).rows[0];
      return {
        ...saved,
        invitationStatus: inv.status as string,
        answeredAt: inv.answered_at ? new Date(inv.answered_at).toISOString() : null,
      };
    });
  }
}
