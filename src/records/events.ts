// Event identity across cases, for registries that declare `event` in mapping.yaml: which cases
// of a person are one real-world event (they share an event key), and which are a second
// registration of the same event at the same unit the same day (marked invalid, merged into the
// first; never deleted). Recomputed for every case of a person whenever one of them changes, so
// the result depends only on the data, not on the order messages arrived in (except which case of
// a date was registered first, see `groupEvents`).
import crypto from 'node:crypto';
import type { PersonData } from '../access/door.ts';
import type { Queryable } from '../db/pool.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import { holds, type Compiled } from '../registry/expr.ts';
import type { EventDef } from '../registry/schema.ts';
import type { Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';
import { applyUpdates, type ValueUpdate } from './cases.ts';
import { lockPersonsById } from './locks.ts';
import { RETRACTED } from './retraction.ts';
import { caseValues, isRepeating, type FormState } from './evaluate.ts';

/** Why a case does not count: a second registration of an event at the same unit the same day. */
export const SAME_DAY = 'same-event-same-day';

/**
 * The key under which event keys are computed: derived from the platform's hash key (which never
 * leaves the platform) per registry, so an event key cannot be recomputed from an identity number
 * and a date by anyone else, and two registries' keys for one person and date differ.
 */
function eventHashKey(keys: IdentityKeys, registry: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', keys.hashKey, Buffer.from(registry), 'kvalreg event key', 32));
}

/**
 * The event key: HMAC-SHA-256 of the person (the keyed hash of their identity number), the start
 * date and, for a second distinct event the same date, its `distinctBy` value.
 */
export function eventKey(keys: IdentityKeys, registry: string, personHash: string, startDate: string, distinct?: string): string {
  return crypto
    .createHmac('sha256', eventHashKey(keys, registry))
    .update([personHash, startDate, ...(distinct === undefined ? [] : [distinct])].join('|'))
    .digest('hex');
}

/** The event id people read: the key's first 48 bits as 12 upper-case hex digits in three groups. */
export function eventId(key: string | null): string | null {
  if (!key) return null;
  const k = key.slice(0, 12).toUpperCase();
  return `${k.slice(0, 4)}-${k.slice(4, 8)}-${k.slice(8, 12)}`;
}

/** One case as the grouping sees it: its declared event values, already read. */
export interface EventCase {
  id: number;
  unit: string | null;
  startDate: string | null;
  distinct: string | null;
  joins: boolean;
  sameDay: string | null; // YYYY-MM-DD
  sameDayAt: string | null; // the value itself, for ordering within the day
  /** For a joining case: the unit it came from (`joinsFrom`), whose case it joins. */
  from?: string | null;
  /** The case's unit and the units above it (a referenced hospital matches its departments' cases). */
  unitPath?: string[];
}

export interface EventAssignment {
  id: number;
  event: { startDate: string; distinct?: string } | null;
  mergedInto: number | null;
}

const DAY_MS = 86_400_000;
const daysApart = (a: string, b: string) => Math.abs(Date.parse(`${a}T00:00:00Z`) - Date.parse(`${b}T00:00:00Z`)) / DAY_MS;

/**
 * The case a joining case refers to (`joinsFrom`): the person's case at the unit it came from (or a
 * unit under it) whose start date is nearest its own (or, when it records none, its `sameDay` date),
 * at most `withinDays` apart; ties go to the earlier registration. Null when there is none.
 */
function referencedCase(c: EventCase, cases: EventCase[], withinDays: number): EventCase | null {
  if (!c.joins || !c.from) return null;
  const own = c.startDate ?? c.sameDay;
  if (!own) return null;
  let best: { c: EventCase; d: number } | null = null;
  for (const o of cases) {
    if (o.id === c.id || !o.startDate || !(o.unitPath ?? (o.unit ? [o.unit] : [])).includes(c.from)) continue;
    const d = daysApart(o.startDate, own);
    if (d > withinDays) continue;
    if (!best || d < best.d || (d === best.d && o.id < best.c.id)) best = { c: o, d };
  }
  return best?.c ?? null;
}

/**
 * Groups one person's cases into events. The rule (docs/registry-definitions.md, "Events"):
 * - cases are grouped by start date; without one a case has no event yet;
 * - on a date, the cases that may start an event (those `joins` does not hold for), in the order
 *   they were registered, start a new event when their `distinctBy` value is known and differs
 *   from that of every event so far; otherwise they belong to the first event whose value is
 *   equal or unknown. The first event of a date is keyed by (person, date) alone, every further
 *   one by (person, date, its distinctBy value), so an event's key never changes when another
 *   event of the same date is registered later;
 * - a case that `joins` and names the unit it came from (`joinsFrom`) belongs to the event of the
 *   person's case at that unit (see referencedCase), even when the two hospitals recorded
 *   different start dates: the first receiving hospital's date is the event's;
 * - any other case that `joins` (a transfer in) belongs to the event with its `distinctBy` value,
 *   else to the date's first event (and is that event, if it is the only case);
 * - within one event, cases at one unit whose `sameDay` values fall on one calendar day are one
 *   registration: the earliest (by that value, then by registration) counts, every other one is
 *   merged into it.
 */
export function groupEvents(cases: EventCase[], opts: { joinsWithinDays?: number } = {}): EventAssignment[] {
  type Ev = { value: string | null; cases: EventCase[]; key: { startDate: string; distinct?: string } };
  const withinDays = opts.joinsWithinDays ?? 7;
  const ordered = [...cases].sort((a, b) => a.id - b.id);
  const byDate = new Map<string, Ev[]>();
  const eventOf = new Map<number, Ev>();
  const place = (c: EventCase, mayStart: boolean) => {
    const date = c.startDate!;
    const events = byDate.get(date) ?? [];
    byDate.set(date, events);
    let e =
      events.length === 0
        ? undefined
        : c.distinct === null
          ? events[0]
          : (events.find((x) => x.value === c.distinct) ?? (mayStart ? events.find((x) => x.value === null) : events[0]));
    if (!e) {
      // Only a case that may start an event, with a value no event has, gets here (or the date's first case).
      e = { value: c.distinct, cases: [], key: events.length === 0 ? { startDate: date } : { startDate: date, distinct: c.distinct! } };
      events.push(e);
    } else if (e.value === null && mayStart && c.distinct !== null) e.value = c.distinct;
    e.cases.push(c);
    eventOf.set(c.id, e);
  };
  const referenced = new Map<number, EventCase>();
  for (const c of ordered) {
    const r = referencedCase(c, ordered, withinDays);
    if (r) referenced.set(c.id, r);
  }

  for (const c of ordered) if (c.startDate && !c.joins) place(c, true);
  for (const c of ordered) if (c.startDate && c.joins && !referenced.has(c.id)) place(c, false);
  // Joining cases that refer to another case take its event; a chain (A → B → C) resolves in turn.
  let pending = ordered.filter((c) => referenced.has(c.id));
  for (;;) {
    const before = pending.length;
    pending = pending.filter((c) => {
      const e = eventOf.get(referenced.get(c.id)!.id);
      if (!e) return true;
      e.cases.push(c);
      eventOf.set(c.id, e);
      return false;
    });
    if (pending.length === 0 || pending.length === before) break;
  }
  // What is left refers in a loop (two transfers naming each other): each by its own date.
  for (const c of pending) if (c.startDate) place(c, false);

  const out = new Map<number, EventAssignment>();
  for (const c of ordered) out.set(c.id, { id: c.id, event: eventOf.get(c.id)?.key ?? null, mergedInto: null });
  const events = new Set(eventOf.values());
  for (const e of events) {
    const byUnitDay = new Map<string, EventCase[]>();
    for (const c of e.cases) {
      if (c.sameDay === null) continue;
      const k = `${c.unit ?? ''}|${c.sameDay}`;
      byUnitDay.set(k, [...(byUnitDay.get(k) ?? []), c]);
    }
    for (const group of byUnitDay.values()) {
      const [first, ...rest] = group.sort((a, b) => (a.sameDayAt ?? '').localeCompare(b.sameDayAt ?? '') || a.id - b.id);
      for (const c of rest) out.get(c.id)!.mergedInto = first.id;
    }
  }
  return cases.map((c) => out.get(c.id)!);
}

const dayOf = (v: unknown): string | null => {
  if (v === null || v === undefined || v === '') return null;
  const s = String(v);
  return s.length > 10 ? osloDate(s) : s;
};

/** Reads a case's declared event values from its forms. */
export function eventCase(
  registry: Registry,
  def: EventDef,
  joins: Compiled | undefined,
  row: {
    id: number;
    unit_resh: string | null;
    unit_path?: string[] | null;
    birth_date: string | null;
    sex: string | null;
    deceased_date: string | null;
    forms: FormState[] | null;
  },
): EventCase {
  const values = caseValues(registry, { birth_date: row.birth_date, sex: row.sex, deceased_date: row.deceased_date }, row.forms ?? []);
  const v = (name: string | undefined) => (name === undefined ? null : (values[name] ?? null));
  const distinct = v(def.distinctBy);
  return {
    id: Number(row.id),
    unit: row.unit_resh,
    startDate: dayOf(v(def.startDate)),
    distinct: distinct === null || distinct === '' ? null : String(distinct),
    joins: joins ? holds(joins(values)) : false,
    sameDay: dayOf(v(def.sameDay)),
    sameDayAt: v(def.sameDay) === null ? null : String(v(def.sameDay)),
    from: def.joinsFrom && v(def.joinsFrom) !== null && v(def.joinsFrom) !== '' ? String(v(def.joinsFrom)) : null,
    unitPath: row.unit_path ?? (row.unit_resh ? [row.unit_resh] : []),
  };
}

export interface EventChange {
  caseId: number;
  personId: number;
  eventKey: string | null;
  invalidReason: string | null;
  mergedInto: number | null;
}

/** One case as event identity reads it: the case row, its person, and its forms with provenance. */
export interface EventRow {
  id: number;
  person_id: number;
  unit_resh: string | null;
  unit_path: string[] | null;
  event_key: string | null;
  invalid_reason: string | null;
  merged_into: number | null;
  person_hash: string;
  birth_date: string | null;
  sex: string | null;
  deceased_date: string | null;
  forms: Array<FormState & { provenance: Record<string, any> }> | null;
}

/**
 * Recomputes the events of the given persons' cases in `registry` and stores what changed. Must
 * run where every unit's cases are visible (capture, or the platform's own transaction after a
 * registrar's change): a transfer joins an event another hospital registered. A merged case's
 * repeating-form instances (e.g. the injuries of a second alarm) are copied into the case it was
 * merged into, with their provenance, so the valid registration holds all of the event's data.
 */
export async function assignEvents(db: Queryable, keys: IdentityKeys, registry: Registry, personIds: number[]): Promise<EventChange[]> {
  if (!registry.event || personIds.length === 0) return [];
  const { rows } = await db.query(
    `SELECT c.id, c.person_id, c.unit_resh, coalesce(u.path, ARRAY[c.unit_resh]) AS unit_path, c.event_key, c.invalid_reason, c.merged_into, encode(p.nin_hash, 'hex') AS person_hash,
            p.birth_date::text AS birth_date, p.sex, p.deceased_date::text AS deceased_date,
            (SELECT json_agg(json_build_object('form', f.form, 'instance', f.instance, 'data', f.data, 'provenance', f.provenance)) FROM case_form f
              WHERE f.registry = c.registry AND f.case_id = c.id) AS forms
     FROM registry_case c JOIN person p ON p.id = c.person_id LEFT JOIN org_unit u ON u.resh = c.unit_resh
     WHERE c.registry = $1 AND c.person_id = ANY($2::bigint[])
       AND c.invalid_reason IS DISTINCT FROM $3 -- a case its sender retracted is in no event
     ORDER BY c.id`,
    [registry.id, [...new Set(personIds)], RETRACTED],
  );
  const { changes, copies } = planEvents(keys, registry, rows);
  if (changes.length) {
    await db.query(
      `UPDATE registry_case c SET event_key = u.key, invalid_reason = u.reason, merged_into = u.target, updated_at = now()
      FROM jsonb_to_recordset($2::jsonb) AS u(id bigint, key text, reason text, target bigint) WHERE c.registry = $1 AND c.id = u.id`,
      [registry.id, JSON.stringify(changes.map((c) => ({ id: c.caseId, key: c.eventKey, reason: c.invalidReason, target: c.mergedInto })))],
    );
  }
  if (copies.length) await applyUpdates(db, registry, copies);
  return changes;
}

/**
 * What event identity decides for one registry's cases (every valid case of each person, in id
 * order, as they now stand): the changes of event key, merge reason and target, and the values of
 * a merged case's repeating forms to copy into the case it was merged into. Pure: `assignEvents`
 * reads the cases from the database, the capture pipeline passes them as it holds them in memory.
 */
export function planEvents(keys: IdentityKeys, registry: Registry, rows: EventRow[]): { changes: EventChange[]; copies: ValueUpdate[] } {
  if (!registry.event) return { changes: [], copies: [] };
  const { def, joins } = registry.event;
  const byPerson = new Map<number, EventRow[]>();
  for (const r of rows) byPerson.set(Number(r.person_id), [...(byPerson.get(Number(r.person_id)) ?? []), r]);
  const changes: EventChange[] = [];
  const copies: ValueUpdate[] = [];
  for (const [personId, list] of byPerson) {
    const assigned = groupEvents(
      list.map((r) => eventCase(registry, def, joins, r)),
      { joinsWithinDays: def.joinsWithinDays },
    );
    for (const a of assigned) {
      const r = list.find((x) => Number(x.id) === a.id)!;
      const key = a.event ? eventKey(keys, registry.id, r.person_hash, a.event.startDate, a.event.distinct) : null;
      const reason = a.mergedInto === null ? null : SAME_DAY;
      // Only the reason this module sets is managed here; another reason is left as it is.
      const managed = r.invalid_reason === null || r.invalid_reason === SAME_DAY;
      const next = managed
        ? { reason, into: a.mergedInto }
        : { reason: r.invalid_reason, into: r.merged_into === null ? null : Number(r.merged_into) };
      if (
        key !== r.event_key ||
        next.reason !== r.invalid_reason ||
        next.into !== (r.merged_into === null ? null : Number(r.merged_into))
      ) {
        changes.push({ caseId: a.id, personId, eventKey: key, invalidReason: next.reason, mergedInto: next.into });
      }
      if (a.mergedInto !== null && managed) {
        const target = list.find((x) => Number(x.id) === a.mergedInto)!;
        const present = new Set((target.forms ?? []).map((f: FormState) => `${f.form}#${f.instance}`));
        for (const f of (r.forms ?? []) as Array<FormState & { provenance: Record<string, any> }>) {
          if (!isRepeating(registry, f.form) || present.has(`${f.form}#${f.instance}`)) continue;
          for (const [variable, value] of Object.entries(f.data)) {
            if (value === null || value === undefined || value === '') continue;
            const from = f.provenance?.[variable] ?? {};
            copies.push({
              caseId: a.mergedInto,
              form: f.form,
              instance: f.instance,
              variable,
              value: value as string | number | boolean,
              provenance: {
                kind: 'system',
                sender: from.sender ?? 'platform',
                message: from.message ?? 0,
                ...(from.resource ? { resource: from.resource } : {}),
                mergedFrom: a.id,
              },
            });
          }
        }
      }
    }
  }
  return { changes, copies };
}

/**
 * After a registrar changed a case (under row-level security, seeing only their units), its
 * person's events are recomputed in the platform's own transaction, which sees every unit: the
 * event of a transfer depends on another hospital's case. Returns the case's event as it now is.
 */
export async function reassessEvents(
  data: PersonData,
  keys: IdentityKeys,
  registry: Registry,
  caseId: number,
): Promise<{ id: string | null; invalidReason: string | null; mergedInto: number | null } | null> {
  if (!registry.event) return null;
  return data.transaction({ kind: 'platform', task: 'events' }, 'events:assign', async (tx) => {
    const c = (await tx.client.query('SELECT person_id FROM registry_case WHERE registry = $1 AND id = $2', [registry.id, caseId])).rows[0];
    if (!c) return null;
    await lockPersonsById(tx.client, [Number(c.person_id)]);
    await assignEvents(tx.client, keys, registry, [Number(c.person_id)]);
    const now = (
      await tx.client.query('SELECT event_key, invalid_reason, merged_into FROM registry_case WHERE registry = $1 AND id = $2', [
        registry.id,
        caseId,
      ])
    ).rows[0];
    return {
      id: eventId(now.event_key),
      invalidReason: now.invalid_reason,
      mergedInto: now.merged_into === null ? null : Number(now.merged_into),
    };
  });
}
