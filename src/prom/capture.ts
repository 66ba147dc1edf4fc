// QuestionnaireResponses from other systems (a PROM system, the patient record, Helsenorge, an
// import of historical answers), in the capture pipeline's transaction: each is checked against
// its instrument's Questionnaire, scored by the same code as every other answer, kept as a
// response keyed by the sender's identifier (a resend changes nothing, a new version replaces the
// answers), and matched to the schedules: every registry's time point of the patient whose window
// holds the day it was answered (or the items of the invitation it names in `basedOn`), asked or
// not. An answer no schedule asks for is kept and reported, and matched when a case for it arrives.
// A response taken back (entered-in-error, or deleted) takes its answers back from every item.
import type { PersonTx } from '../access/door.ts';
import type { CaptureHook, HookInput, HookOutput, HookResource } from '../capture/pipeline.ts';
import { CaptureError, issue, type Issue } from '../capture/outcome.ts';
import { caseValues, type FormState } from '../records/evaluate.ts';
import { isRetracted } from '../records/retraction.ts';
import type { Registry } from '../registry/load.ts';
import { isDateTime, isRealDate } from '../registry/values.ts';
import { osloDate } from '../time/oslo.ts';
import { answersFromResponse, AnswerFormatError } from './answers.ts';
import type { Instrument } from './instruments.ts';
import { matchable, slotsAnswered, slotsOf, type MatchableSchedule, type Slot } from './match.ts';
import type { CompiledSchedule } from './schedule.ts';
import { scoreResponse, type Answers, type Scored } from './scoring.ts';

const QR = 'QuestionnaireResponse';
/** The extension a sender may use to say which recall the patient answered with. */
export const RECALL_EXTENSION = 'urn:kvalreg:prom:recall';
/** The rule an information issue names when an answer is kept without a match. */
export const UNMATCHED = 'prom-unmatched';
/** The identifier system of invitations (the FHIR Task the platform sends carries it). */
export const INVITATION_SYSTEM = 'urn:kvalreg:prom-invitation';

interface Parsed {
  r: HookResource;
  instrument: Instrument;
  complete: boolean;
  answers: Answers;
  scored: Scored;
  answeredAt: string;
  day: string;
  recall?: 'current' | 'pre-injury';
  invitationId?: number;
}

interface Match {
  slots: Slot[];
  recall: 'current' | 'pre-injury';
}

/** The instrument a `QuestionnaireResponse.questionnaire` names: the canonical URL the platform gives it, or a URL ending in Questionnaire/<id>. */
export function instrumentIdOf(canonical: unknown): { id: string; version?: string } | null {
  if (typeof canonical !== 'string') return null;
  const m = /^(?:urn:kvalreg:instrument:|(?:.*\/)?Questionnaire\/)([a-z][a-z0-9_-]*)(?:\|(.+))?$/.exec(canonical.trim());
  return m ? { id: m[1], ...(m[2] ? { version: m[2] } : {}) } : null;
}

export class PromCapture {
  private readonly schedules: MatchableSchedule[];

  constructor(
    private readonly instruments: Map<string, Instrument>,
    private readonly registries: Registry[],
    schedules: CompiledSchedule[],
  ) {
    this.schedules = matchable(schedules, registries);
  }

  /** The capture pipeline's hook (capture/pipeline.ts, step 7). */
  readonly hook: CaptureHook = async (tx, input) => {
    const out: HookOutput = { issues: [] };
    const retracted = input.retracted.filter((r) => r.rkey.startsWith(`${QR}|`));
    if (retracted.length)
      await takeBack(
        tx,
        retracted.map((r) => r.rkey),
      );
    const candidates = input.resources.filter((r) => r.resourceType === QR && r.state !== 'stale' && !isRetracted(r.resource));
    if (!candidates.length && !input.resources.some((r) => r.state === 'changed')) return out;

    // A resend of a response already kept is nothing new; one never kept (its message failed
    // before, or is reprocessed) is taken now. (What is kept, and what waits below, came with the
    // capture's read, migration 120: a message with no answer and nothing waiting reads nothing here.)
    const kept = input.prom.kept;
    const errors: Array<{ index: number; issue: Issue }> = [];
    const parsed: Parsed[] = [];
    for (const r of candidates) {
      if (r.state === 'unchanged' && kept.has(r.rkey)) continue;
      const p = this.parse(r, (i) => errors.push({ index: r.index, issue: i }));
      if (p) parsed.push(p);
    }
    if (errors.length && input.bundleType === 'transaction') throw new CaptureError(errors.map((e) => e.issue));
    const failed = new Set(errors.map((e) => e.index));
    out.issues.push(...errors.map((e) => ({ ...e, failed: true })));

    // Everything below is a fixed number of statements per message, whatever the number of
    // responses in it: the patients' cases are read once, the responses written in one statement,
    // their items in another.
    const scope = new Set(input.registries);
    const changedMessage = input.resources.some((r) => r.state === 'changed');
    const done = new Set(parsed.map((p) => p.r.rkey));
    // Answers kept earlier without a match (sent before their case, or before the values that
    // decide the instrument): this message may have brought what they were waiting for.
    // Those of the message's accepted persons, not taken back by this message, not answered again in it.
    const persons = new Set(input.personIds);
    const takenBack = new Set(retracted.map((r) => r.rkey));
    const waiting = changedMessage
      ? input.prom.waiting.filter((w) => persons.has(w.person_id) && !done.has(w.source_key) && !takenBack.has(w.source_key))
      : [];
    const live = parsed.filter((p) => !failed.has(p.r.index));
    const slots = await this.slotsOfPersons(
      tx,
      [...new Set([...live.filter((p) => p.complete).map((p) => p.r.personId), ...waiting.map((w) => Number(w.person_id))])],
      scope,
    );
    const plans: Array<{ p: Parsed; match: Match }> = [];
    for (const p of live) {
      let invitationSlots: Slot[] = [];
      if (p.invitationId !== undefined) {
        invitationSlots = await invitationItems(tx, p.invitationId, p.r.personId, p.instrument.id);
        if (!invitationSlots.length) {
          const problem = issue.error(
            'business-rule',
            `Bundle.entry[${p.r.index}].resource.basedOn`,
            `basedOn names invitation ${p.invitationId}, which did not ask this patient ${p.instrument.id}. Leave basedOn out, or name the invitation the patient was sent (the Task's identifier).`,
            { rule: 'prom-invitation' },
          );
          if (input.bundleType === 'transaction') throw new CaptureError([problem]);
          out.issues.push({ index: p.r.index, issue: problem, failed: true });
          continue;
        }
      }
      plans.push({
        p,
        match: p.complete ? matchSlots(slots.get(p.r.personId) ?? [], invitationSlots, p) : { slots: [], recall: p.recall ?? 'current' },
      });
    }
    const saved = await saveExternal(tx, plans, input);
    const links: LinkRequest[] = plans.flatMap(({ p, match }, i) =>
      saved[i].unchanged || !p.complete
        ? []
        : match.slots.map((slot) => ({ responseId: saved[i].responseId, personId: p.r.personId, at: p.answeredAt, slot })),
    );
    for (const w of waiting) {
      const recall = w.provenance?.recallGiven ? w.recall : undefined;
      const found = slotsAnswered(slots.get(Number(w.person_id)) ?? [], w.instrument, osloDate(new Date(w.answered_at)), recall);
      links.push(
        ...found.map((slot) => ({
          responseId: Number(w.id),
          personId: Number(w.person_id),
          at: new Date(w.answered_at).toISOString(),
          slot,
        })),
      );
      if (found.length && found[0].recall !== w.recall)
        await tx.client.query('UPDATE prom_response SET recall = $2, updated_at = now() WHERE id = $1', [w.id, found[0].recall]);
    }
    const linked = await linkSlots(tx, links);
    plans.forEach(({ p, match }, i) => {
      const mine = linked.filter((l) => l.responseId === saved[i].responseId).map((l) => l.slot);
      const note = issue.info(undefined, describe(p, match, { ...saved[i], linked: mine }, input.registries));
      // Machine-readable for the sender: an answer kept without a match says so by its rule.
      out.issues.push({ index: p.r.index, issue: p.complete && !saved[i].unchanged && !mine.length ? { ...note, rule: UNMATCHED } : note });
    });
    return out;
  };

  /** Checks one QuestionnaireResponse; every problem is reported with where it is and what to do. */
  private parse(r: HookResource, report: (i: Issue) => void): Parsed | undefined {
    const at = `Bundle.entry[${r.index}].resource`;
    const q = r.resource;
    const named = instrumentIdOf(q.questionnaire);
    const known = [...this.instruments.keys()].map((k) => `urn:kvalreg:instrument:${k}`).join(', ');
    if (q.questionnaire === undefined) {
      report(
        issue.error(
          'required',
          `${at}.questionnaire`,
          `A QuestionnaireResponse must name its Questionnaire by canonical URL (one of ${known}); GET /fhir/Questionnaire lists them.`,
          { rule: 'prom-questionnaire' },
        ),
      );
      return undefined;
    }
    const instrument = named ? this.instruments.get(named.id) : undefined;
    if (!instrument) {
      report(
        issue.error(
          'code-invalid',
          `${at}.questionnaire`,
          `No instrument has the Questionnaire ${JSON.stringify(q.questionnaire)}. Name one of ${known} (GET /fhir/Questionnaire lists them).`,
          { rule: 'prom-questionnaire', value: q.questionnaire },
        ),
      );
      return undefined;
    }
    const status = q.status;
    if (!['completed', 'amended', 'in-progress', 'stopped'].includes(status)) {
      report(
        issue.error(
          'value',
          `${at}.status`,
          'status must be completed (or amended); in-progress or stopped keep the answers as a draft; entered-in-error takes a response back.',
          { rule: 'prom-status', value: status },
        ),
      );
      return undefined;
    }
    const authored = q.authored;
    if (typeof authored !== 'string' || !(isDateTime(authored) || isRealDate(authored))) {
      report(
        issue.error(
          authored === undefined ? 'required' : 'value',
          `${at}.authored`,
          "authored must give when the patient answered (a date-time with a time zone, or a date): it places the answer in a schedule's time window.",
          { rule: 'prom-authored', ...(authored === undefined ? {} : { value: authored }) },
        ),
      );
      return undefined;
    }
    let answers: Answers;
    try {
      answers = answersFromResponse(q);
    } catch (err) {
      if (!(err instanceof AnswerFormatError)) throw err;
      report(issue.error('structure', `${at}.item`, `${err.message}.`, { rule: 'prom-answers' }));
      return undefined;
    }
    const scored = scoreResponse(instrument, answers);
    if (scored.problems.length) {
      for (const problem of scored.problems)
        report(
          issue.error(
            'value',
            `${at}.item`,
            `${problem}. Answers must be those the Questionnaire ${instrument.questionnaire.url} offers (GET /fhir/Questionnaire/${instrument.id}).`,
            { rule: 'prom-answers' },
          ),
        );
      return undefined;
    }
    const recallExt = (q.extension ?? []).find((e: any) => e?.url === RECALL_EXTENSION);
    const recall = recallExt?.valueCode;
    if (recallExt && recall !== 'current' && recall !== 'pre-injury') {
      report(
        issue.error('value', `${at}.extension`, `The recall extension takes valueCode "current" or "pre-injury".`, {
          rule: 'prom-recall',
          value: recall,
        }),
      );
      return undefined;
    }
    let invitationId: number | undefined;
    for (const b of Array.isArray(q.basedOn) ? q.basedOn : []) {
      const m =
        typeof b?.reference === 'string' ? /^[A-Za-z]+\?identifier=urn:kvalreg:prom-invitation\|(\d{1,18})$/.exec(b.reference) : null;
      if (m) invitationId = Number(m[1]);
    }
    const answeredAt = isRealDate(authored) ? `${authored}T12:00:00Z` : new Date(authored).toISOString();
    return {
      r,
      instrument,
      complete: status === 'completed' || status === 'amended',
      answers: Object.fromEntries(Object.entries(answers).filter(([, v]) => v !== null && v !== undefined && v !== '')),
      scored,
      answeredAt,
      day: osloDate(authored),
      ...(recall ? { recall } : {}),
      ...(invitationId !== undefined ? { invitationId } : {}),
    };
  }

  /** Every slot of every case of these patients in the registries in scope (not those they objected to, not invalid cases), by person. */
  private async slotsOfPersons(tx: PersonTx, personIds: number[], scope: Set<string>): Promise<Map<number, Slot[]>> {
    const out = new Map<number, Slot[]>();
    const registries = [...new Set(this.schedules.map((s) => s.schedule.registry))].filter((r) => scope.has(r));
    if (!registries.length || !personIds.length) return out;
    const { rows } = await tx.client.query(
      `SELECT c.registry, c.id, c.person_id, c.unit_resh, p.birth_date::text AS birth_date, p.sex, p.deceased_date::text AS deceased_date,
              (SELECT json_agg(json_build_object('form', f.form, 'instance', f.instance, 'data', f.data)) FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id) AS forms
       FROM registry_case c JOIN person p ON p.id = c.person_id
       WHERE c.person_id = ANY($1::bigint[]) AND c.registry = ANY($2) AND c.invalid_reason IS NULL
         AND NOT EXISTS (SELECT 1 FROM prom_objection o WHERE o.person_id = c.person_id AND o.registry = c.registry)
       ORDER BY c.registry, c.id`,
      [personIds, registries],
    );
    for (const row of rows) {
      const registry = this.registries.find((r) => r.id === row.registry)!;
      const values = caseValues(
        registry,
        { birth_date: row.birth_date, sex: row.sex, deceased_date: row.deceased_date },
        (row.forms ?? []) as FormState[],
      );
      const list = out.get(Number(row.person_id)) ?? [];
      for (const m of this.schedules)
        if (m.schedule.registry === registry.id) list.push(...slotsOf(m, Number(row.id), values, row.unit_resh));
      out.set(Number(row.person_id), list);
    }
    return out;
  }
}

/** The slots an answer fills: those of the invitation it names, and those whose window holds the day it was given. */
function matchSlots(slots: Slot[], invitation: Slot[], p: Parsed): Match {
  const recall = p.recall ?? invitation[0]?.recall;
  const byDay = slotsAnswered(slots, p.instrument.id, p.day, recall);
  const chosen = recall ?? byDay[0]?.recall ?? 'current';
  const all = [...invitation, ...byDay.filter((s) => s.recall === chosen)];
  const seen = new Set<string>();
  return {
    recall: chosen,
    slots: all.filter((s) => {
      const k = `${s.registry}|${s.caseId}|${s.schedule}|${s.timepoint}|${s.instrument}`;
      return !seen.has(k) && seen.add(k);
    }),
  };
}

async function invitationItems(tx: PersonTx, invitationId: number, personId: number, instrument: string): Promise<Slot[]> {
  const { rows } = await tx.client.query(
    `SELECT registry, case_id, schedule, timepoint, instrument, party, recall, due_date::text AS due, opens_on::text AS opens, closes_on::text AS closes
     FROM prom_item WHERE invitation_id = $1 AND person_id = $2 AND instrument = $3`,
    [invitationId, personId, instrument],
  );
  return rows.map((r) => ({
    registry: r.registry,
    caseId: Number(r.case_id),
    schedule: r.schedule,
    timepoint: r.timepoint,
    instrument: r.instrument,
    party: r.party,
    recall: r.recall,
    due: r.due,
    opens: r.opens,
    closes: r.closes,
  }));
}

interface LinkRequest {
  responseId: number;
  personId: number;
  at: string;
  slot: Slot;
}

/** Keeps the responses (new ones, and new versions of the sender's: their old answers are taken back from their items first). */
async function saveExternal(
  tx: PersonTx,
  plans: Array<{ p: Parsed; match: Match }>,
  input: HookInput,
): Promise<Array<{ responseId: number; unchanged: boolean }>> {
  if (!plans.length) return [];
  const db = tx.client;
  const existing = new Map(
    (
      await db.query(
        'SELECT id, source_key, instrument, recall, status, answers, answered_at FROM prom_response WHERE source_key = ANY($1) ORDER BY id FOR UPDATE',
        [plans.map((x) => x.p.r.rkey)],
      )
    ).rows.map((r) => [r.source_key as string, r]),
  );
  const rows = plans.map(({ p, match }) => {
    const status = p.complete ? 'completed' : 'draft';
    const e = existing.get(p.r.rkey);
    const unchanged = Boolean(
      e &&
      e.instrument === p.instrument.id &&
      e.recall === match.recall &&
      e.status === status &&
      sameAnswers(e.answers, p.answers) &&
      new Date(e.answered_at ?? 0).toISOString() === p.answeredAt,
    );
    return {
      id: e ? Number(e.id) : null,
      unchanged,
      key: p.r.rkey,
      person: p.r.personId,
      instrument: p.instrument.id,
      version: p.instrument.version,
      recall: match.recall,
      status,
      answers: p.answers,
      scores: p.complete ? p.scored.scores : null,
      at: p.answeredAt,
      provenance: {
        kind: 'fhir',
        sender: input.sender,
        message: input.messageId,
        resource: p.r.rkey,
        ...(p.recall ? { recallGiven: true } : {}),
      },
    };
  });
  const updates = rows.filter((r) => r.id !== null && !r.unchanged);
  if (updates.length) {
    // A new version: the answers it gave before are taken back from their items, and it is matched again.
    await unlink(
      tx,
      updates.map((r) => r.id!),
    );
    await db.query(
      `UPDATE prom_response r SET instrument = u.instrument, instrument_version = u.version, recall = u.recall, status = u.status, answers = u.answers, scores = u.scores,
         provenance = u.provenance, answered_at = u.at, updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, instrument text, version text, recall text, status text, answers jsonb, scores jsonb, provenance jsonb, at timestamptz)
       WHERE r.id = u.id`,
      [JSON.stringify(updates)],
    );
  }
  const fresh = rows.filter((r) => r.id === null);
  if (fresh.length) {
    const ids = new Map(
      (
        await db.query(
          `INSERT INTO prom_response (person_id, invitation_id, instrument, instrument_version, recall, status, answers, scores, provenance, answered_at, source_key)
       SELECT n.person, NULL, n.instrument, n.version, n.recall, n.status, n.answers, n.scores, n.provenance, n.at, n.key
       FROM jsonb_to_recordset($1::jsonb) AS n(person bigint, instrument text, version text, recall text, status text, answers jsonb, scores jsonb, provenance jsonb, at timestamptz, key text)
       RETURNING id, source_key`,
          [JSON.stringify(fresh)],
        )
      ).rows.map((r) => [r.source_key as string, Number(r.id)]),
    );
    for (const r of fresh) r.id = ids.get(r.key)!;
  }
  return rows.map((r) => ({ responseId: r.id!, unchanged: r.unchanged }));
}

/**
 * The items the responses answer: created where the scheduler never made one (an answer to a
 * window that closed before the case was known, or from a system that invited the patient itself),
 * or answered where it did. A cancelled item (a death, an objection) and one another response
 * already answered keep what they have: an item has one answer, the first (also within a message).
 */
async function linkSlots(tx: PersonTx, links: LinkRequest[]): Promise<LinkRequest[]> {
  const key = (s: Slot) => `${s.registry}|${s.caseId}|${s.schedule}|${s.timepoint}|${s.instrument}`;
  const first = new Map<string, LinkRequest>();
  for (const l of links) if (!first.has(key(l.slot))) first.set(key(l.slot), l);
  if (!first.size) return [];
  const { rows } = await tx.client.query(
    `INSERT INTO prom_item (registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, status, response_id, party)
     SELECT s.registry, s.case_id, s.schedule, s.timepoint, s.instrument, s.person, s.recall, s.due, s.opens, s.closes, 'answered', s.response, s.party
     FROM jsonb_to_recordset($1::jsonb) AS s(registry text, case_id bigint, schedule text, timepoint text, instrument text, person bigint, recall text, due date, opens date, closes date, response bigint, party text)
     ON CONFLICT (registry, case_id, schedule, timepoint, instrument) DO UPDATE SET status = 'answered', response_id = EXCLUDED.response_id, updated_at = now()
       WHERE prom_item.status IN ('pending', 'invited', 'expired') OR prom_item.response_id = EXCLUDED.response_id
     RETURNING registry, case_id, schedule, timepoint, instrument, invitation_id`,
    [
      JSON.stringify(
        [...first.values()].map((l) => ({
          registry: l.slot.registry,
          case_id: l.slot.caseId,
          schedule: l.slot.schedule,
          timepoint: l.slot.timepoint,
          instrument: l.slot.instrument,
          party: l.slot.party,
          person: l.personId,
          recall: l.slot.recall,
          due: l.slot.due,
          opens: l.slot.opens,
          closes: l.slot.closes,
          response: l.responseId,
        })),
      ),
    ],
  );
  const linked = rows.map((r) => first.get(`${r.registry}|${r.case_id}|${r.schedule}|${r.timepoint}|${r.instrument}`)!);
  // An invitation is answered when nothing it asks is left open.
  const invitations = new Map<number, string>();
  rows.forEach((r, i) => {
    if (r.invitation_id !== null) {
      const at = linked[i].at;
      const v = Number(r.invitation_id);
      if (!invitations.has(v) || invitations.get(v)! < at) invitations.set(v, at);
    }
  });
  if (invitations.size) {
    await tx.client.query(
      `UPDATE prom_invitation v SET status = 'answered', answered_at = a.at, updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS a(id bigint, at timestamptz)
       WHERE v.id = a.id AND v.status IN ('ordered', 'sent', 'reminded', 'not-reachable')
         AND NOT EXISTS (SELECT 1 FROM prom_item i WHERE i.invitation_id = v.id AND i.status = 'invited')`,
      [JSON.stringify([...invitations].map(([id, at]) => ({ id, at })))],
    );
  }
  return linked;
}

/** The same answers, whatever order the keys come in (jsonb keeps its own order). */
function sameAnswers(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a ?? {}),
    kb = Object.keys(b);
  return ka.length === kb.length && kb.every((k) => k in a && String(a[k]) === String(b[k]) && typeof a[k] === typeof b[k]);
}

/** Items lose an answer taken back: open again while their window is, expired after. */
async function unlink(tx: PersonTx, responseIds: number[]): Promise<void> {
  await tx.client.query(
    `UPDATE prom_item i SET response_id = NULL, updated_at = now(),
       status = CASE WHEN i.invitation_id IS NOT NULL AND EXISTS (SELECT 1 FROM prom_invitation v WHERE v.id = i.invitation_id AND v.status IN ('ordered', 'sent', 'reminded', 'not-reachable')) THEN 'invited'
                     WHEN i.closes_on < (now() AT TIME ZONE 'Europe/Oslo')::date THEN 'expired' ELSE 'pending' END
     WHERE i.response_id = ANY($1::bigint[])`,
    [responseIds],
  );
}

/** Responses taken back by their sender (entered-in-error, or deleted): gone, and their items with them. */
async function takeBack(tx: PersonTx, rkeys: string[]): Promise<void> {
  const ids = (await tx.client.query('SELECT id FROM prom_response WHERE source_key = ANY($1)', [rkeys])).rows.map((r) => Number(r.id));
  if (!ids.length) return;
  await unlink(tx, ids);
  await tx.client.query('DELETE FROM prom_response WHERE id = ANY($1::bigint[])', [ids]);
}

function describe(
  p: Parsed,
  match: Match,
  saved: { responseId: number; linked: Slot[]; unchanged: boolean },
  registries: string[],
): string {
  const head = `PROM ${p.instrument.id}`;
  if (saved.unchanged) return `${head}: unchanged (response ${saved.responseId})`;
  if (!p.complete) return `${head}: kept as a draft (status ${p.r.resource.status}); scored and counted when sent as completed`;
  const scores = Object.entries(p.scored.scores)
    .filter(([, s]) => s.value !== null)
    .map(([k, s]) => `${k} ${s.value}${s.placeholder ? ` (value set ${s.valueSet} standing in)` : ''}`);
  const scored = scores.length ? `scored ${scores.join(', ')}` : 'too few items answered for a score';
  if (saved.linked.length)
    return `${head}: ${scored}; answers ${saved.linked.map((s) => `${s.registry} case ${s.caseId} at ${s.timepoint}`).join(', ')}`;
  const why = match.slots.length
    ? 'every time point it fits is answered already or cancelled'
    : `no schedule of ${registries.join(', ')} asks it of this patient around ${p.day}`;
  return `${head}: ${scored}; kept, not matched (${why}). It is matched when a case it belongs to arrives.`;
}
