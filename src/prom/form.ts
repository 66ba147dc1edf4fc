// The patient's form, server side: the invitation a link names, shown only to the patient it was
// sent to (their login's identity must be the invitation's person), with every instrument it asks
// once, the answers saved so far (save midway, resume later), and a receipt when all are sent.
import type { PersonData } from '../access/door.ts';
import type { Caller } from '../access/caller.ts';
import { callerLabel } from '../access/caller.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Answers } from './scoring.ts';
import { invitationInstruments, ResponseError, saveResponse, type Saved } from './responses.ts';
import { hospitalName } from './sender.ts';
import type { Prom } from './service.ts';

const PLATFORM = { kind: 'platform', task: 'prom-form' } as const;
const OPEN = ['ordered', 'sent', 'reminded', 'not-reachable'];

export interface FormView {
  invitation: { id: number; hospital: string; purpose: { nb: string; en: string }; deadline: string | null; status: string; answeredAt: string | null };
  instruments: Array<{ id: string; recall: 'current' | 'pre-injury'; title: { nb: string; en: string }; questionnaire: Record<string, any>; answers: Answers; status: 'new' | 'draft' | 'completed' }>;
}

export class PatientForms {
  constructor(private readonly prom: Prom, private readonly data: PersonData, private readonly units: UnitTree) {}

  /** The invitation behind a link, if the caller is the patient it was sent to; otherwise a 404 that says nothing of whose it is. */
  private async own(token: string, caller: Caller): Promise<{ id: number; personId: number; row: any }> {
    const id = this.prom.links.verify(token);
    const notFound = new ResponseError('This link is not valid for your login. Check that you are logged in as the person the message was sent to, and use the whole link.', 404);
    if (id === null || caller.kind !== 'user' || !caller.personHash) throw notFound;
    const row = (await this.data.transaction(PLATFORM, 'prom:form-open', async (tx) => (await tx.client.query(
      `SELECT v.*, p.id AS pid FROM prom_invitation v JOIN person p ON p.id = v.person_id WHERE v.id = $1 AND p.nin_hash = decode($2, 'hex')`, [id, caller.personHash])).rows[0], { readOnly: true }));
    if (!row) throw notFound;
    return { id, personId: Number(row.pid), row };
  }

  async view(token: string, caller: Caller): Promise<FormView> {
    const { id, personId, row } = await this.own(token, caller);
    return this.data.transaction(PLATFORM, 'prom:form', async (tx) => {
      const asked = await invitationInstruments(tx, id, this.prom.order);
      const saved = (await tx.client.query('SELECT instrument, recall, status, answers FROM prom_response WHERE invitation_id = $1', [id])).rows;
      tx.audit({ action: 'read', object: `prom/invitation/${id}`, personIds: [personId], actor: { label: callerLabel(caller), role: 'patient' } });
      return {
        invitation: { id, hospital: hospitalName(this.units, row.unit_resh), purpose: row.purpose, deadline: row.expires_at ? new Date(row.expires_at).toISOString() : null, status: row.status, answeredAt: row.answered_at ? new Date(row.answered_at).toISOString() : null },
        instruments: asked.map((a) => {
          const inst = this.prom.instruments.get(a.instrument)!;
          const s = saved.find((r) => r.instrument === a.instrument && r.recall === a.recall);
          return { id: inst.id, recall: a.recall, title: inst.def.title, questionnaire: inst.questionnaire, answers: s?.answers ?? {}, status: s ? s.status : 'new' };
        }),
      };
    }, { readOnly: true });
  }

  /** Saves one instrument's answers: a draft (to resume later), or sent (checked, scored, shared). */
  async save(token: string, caller: Caller, instrumentId: string, body: { answers?: unknown; recall?: unknown }, complete: boolean): Promise<Saved & { invitationStatus: string }> {
    const { id, personId, row } = await this.own(token, caller);
    if (!OPEN.includes(row.status)) throw new ResponseError(row.status === 'answered' ? 'You have already sent your answers. Thank you!' : 'This questionnaire is closed and can no longer be answered.', 409);
    const instrument = this.prom.instruments.get(instrumentId);
    if (!instrument) throw new ResponseError(`This questionnaire does not ask "${instrumentId}".`, 404);
    const answers = body?.answers;
    if (!answers || typeof answers !== 'object' || Array.isArray(answers)) throw new ResponseError('Send {"answers": {"<linkId>": <answer>, …}}.', 400);
    return this.data.transaction(PLATFORM, complete ? 'prom:form-submit' : 'prom:form-save', async (tx) => {
      const asked = await invitationInstruments(tx, id, this.prom.order);
      const which = asked.find((a) => a.instrument === instrumentId && (body.recall === undefined || a.recall === body.recall));
      if (!which) throw new ResponseError(`This questionnaire does not ask "${instrumentId}".`, 404);
      const saved = await saveResponse(tx, { personId, invitationId: id, instrument, recall: which.recall, answers: answers as Answers, complete, provenance: { kind: 'patient' }, at: new Date() });
      const status = (await tx.client.query('SELECT status FROM prom_invitation WHERE id = $1', [id])).rows[0].status as string;
      return { ...saved, invitationStatus: status };
    });
  }
}
