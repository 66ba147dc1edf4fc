// Who and what a case is about, for the registrar: the patient (initials and a masked identity
// number until the registrar asks to see them — that request is audited — age, sex), the sending
// system and its own record and encounter numbers (to find the chart), and the values the registry
// declares as telling one case from another (`header` in registry.yaml: e.g. the date of injury and
// the classification code with its words, or the scores). Read through the door, within the
// caller's units, for one case or a page of the worklist at once.
import type { PersonTx } from '../access/door.ts';
import { initials } from '../capture/patient-name.ts';
import { splitRkey } from '../capture/bundle.ts';
import { openText, decryptNin, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import type { Text } from '../registry/schema.ts';
import { osloDate } from '../time/oslo.ts';
import { caseValues, type FormState } from './evaluate.ts';
import { eventId } from './events.ts';
import { READ, RecordError } from './workflow.ts';

export interface HeaderValue {
  variable: string;
  label: Text;
  value: unknown;
  display: Text | null;
}
export interface CaseHeader {
  caseId: number;
  personId: number;
  unit: string | null;
  person: {
    initials: string | null;
    ninMasked: string;
    kind: string;
    birthDate: string | null;
    sex: string | null;
    age: number | null;
    deceasedDate: string | null;
  };
  values: HeaderValue[];
  event: { label: Text; id: string | null } | null;
  /** Where the case came from: the sending system (by name), and its own numbers for the anchor and the encounter. */
  source: { manual: boolean; sender: string | null; senderName: string | null; record: string | null; encounter: string | null };
}

/** "140251*****": the birth date digits and nothing of the personal number. */
export function maskNin(nin: string): string {
  return nin.length === 11 ? `${nin.slice(0, 6)}*****` : '*'.repeat(Math.max(4, nin.length));
}

/** Whole years from `birth` to `at` (dates as YYYY-MM-DD). */
export function ageAt(birth: string | null, at: string): number | null {
  if (!birth) return null;
  let years = Number(at.slice(0, 4)) - Number(birth.slice(0, 4));
  if (at.slice(5) < birth.slice(5)) years -= 1;
  return years;
}

/** The words of a value: a code by its list's display, a unit by its name. */
function displayOf(registry: Registry, variable: string, value: unknown, unitName: (resh: string) => Text | null): Text | null {
  if (value === null || value === undefined || value === '') return null;
  if (variable === registry.mapping.unitVariable) return unitName(String(value));
  const def = registry.variables.get(variable)?.def ?? registry.derived.find((d) => d.def.id === variable)?.def;
  const list = def?.codelist ? registry.codelists.get(def.codelist) : undefined;
  return list?.codes.get(String(value)) ?? null;
}

/** Headers for the given cases (those the caller may see; others are left out). */
export async function caseHeaders(
  tx: PersonTx,
  registry: Registry,
  caseIds: number[],
  keys: IdentityKeys,
  opts: { unitName(resh: string): Text | null },
): Promise<Map<number, CaseHeader>> {
  const out = new Map<number, CaseHeader>();
  if (caseIds.length === 0) return out;
  const rows = (
    await tx.client.query(
      `SELECT c.id, c.person_id, c.unit_resh, c.anchor_key, c.event_key, p.nin_enc, p.nin_kind, p.name_enc, p.birth_date, p.sex, p.deceased_date,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('form', f.form, 'instance', f.instance, 'data', f.data)), '[]') FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id) AS forms
     FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = ANY($2::bigint[])`,
      [registry.id, caseIds],
    )
  ).rows;
  const sources = new Map(
    (
      await tx.client.query('SELECT case_id, sender, anchor_key, encounter_ref FROM kvalreg_case_sources($1, $2::bigint[])', [
        registry.id,
        caseIds,
      ])
    ).rows.map((r) => [Number(r.case_id), r]),
  );
  const senders = new Map(
    (await tx.client.query('SELECT sender, name FROM kvalreg_sender_names()')).rows.map((r) => [r.sender as string, r.name as string]),
  );
  const dateVar = registry.meta.caseDate;
  for (const r of rows) {
    const person = { birth_date: r.birth_date, sex: r.sex, deceased_date: r.deceased_date };
    const values = caseValues(registry, person, r.forms as FormState[]);
    const caseDate = dateVar && values[dateVar] ? osloDate(String(values[dateVar])) : osloDate(new Date().toISOString());
    const name = r.name_enc ? openText(keys, r.name_enc) : null;
    const src = sources.get(Number(r.id));
    const manual = String(r.anchor_key).startsWith('manual:');
    const encounter = typeof src?.encounter_ref === 'string' ? (/\|([^|]*)$/.exec(src.encounter_ref)?.[1] ?? null) : null;
    out.set(Number(r.id), {
      caseId: Number(r.id),
      personId: Number(r.person_id),
      unit: r.unit_resh,
      person: {
        initials: initials(name),
        ninMasked: maskNin(decryptNin(keys, r.nin_enc)),
        kind: r.nin_kind,
        birthDate: r.birth_date,
        sex: r.sex,
        age: ageAt(r.birth_date, r.deceased_date && r.deceased_date < caseDate ? r.deceased_date : caseDate),
        deceasedDate: r.deceased_date,
      },
      values: registry.meta.header.map((v) => ({
        variable: v,
        label: registry.variables.get(v)?.def.label ?? registry.derived.find((d) => d.def.id === v)?.def.label ?? { nb: v, en: v },
        value: values[v] ?? null,
        display: displayOf(registry, v, values[v], opts.unitName),
      })),
      event: registry.event ? { label: registry.event.def.label, id: eventId(r.event_key) } : null,
      source: {
        manual,
        sender: manual ? null : (src?.sender ?? null),
        senderName: manual ? null : (senders.get(src?.sender) ?? null),
        record: manual || !src ? null : splitRkey(String(src.anchor_key))[2],
        encounter,
      },
    });
  }
  return out;
}

/** The name and identity number in full, for a registrar who asked to see them: a person-level read, audited as such. */
export async function revealIdentity(
  tx: PersonTx,
  registry: Registry,
  caseId: number,
  keys: IdentityKeys,
): Promise<{ name: string | null; nin: string }> {
  const r = (
    await tx.client.query(
      'SELECT c.person_id, c.unit_resh, p.nin_enc, p.name_enc FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = $2',
      [registry.id, caseId],
    )
  ).rows[0];
  if (!r) {
    // Not visible: another unit's (refused, audited) or none at all, as for reading the case.
    const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [registry.id, caseId])).rows[0];
    if (owner?.person_id)
      tx.requireUnit(registry.id, owner.unit, [...READ], { object: `${registry.id}/case/${caseId}/identity`, personId: owner.person_id });
    throw new RecordError(`Case ${caseId} does not exist in ${registry.id}.`, 404, [], 'case.notFound');
  }
  tx.requireUnit(registry.id, r.unit_resh, [...READ], { object: `${registry.id}/case/${caseId}/identity`, personId: Number(r.person_id) });
  tx.audit({
    action: 'reveal',
    object: `${registry.id}/case/${caseId}/identity`,
    personIds: [Number(r.person_id)],
    unit: r.unit_resh,
    registry: registry.id,
  });
  return { name: r.name_enc ? openText(keys, r.name_enc) : null, nin: decryptNin(keys, r.nin_enc) };
}
