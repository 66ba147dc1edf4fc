// Innsyn: everything registered about the patient, in every registry, in words from each
// registry's codebook, and who has looked at it. Runs in the patient's own door transaction, so
// row-level security shows them their own rows and nothing else.
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';

type Lang = 'nb' | 'en';

export interface InnsynValue {
  variable: string;
  label: string;
  value: string;
  source: string;
  at: string | null;
}
export interface InnsynView {
  registered: boolean;
  person: { birthDate: string | null; sex: string | null } | null;
  registries: Array<{
    id: string;
    title: string;
    cases: Array<{
      id: number;
      unit: string | null;
      registeredAt: string;
      forms: Array<{ title: string; status: string; values: InnsynValue[] }>;
    }>;
  }>;
  accessLog: Array<{ at: string; who: string; unit: string | null; action: string; purpose: string; outcome: string }>;
}

const WORDS = {
  nb: {
    yes: 'Ja',
    no: 'Nei',
    system: 'Overført fra',
    someSystem: 'et fagsystem på sykehuset',
    user: 'Registrert av helsepersonell',
    status: { draft: 'Under arbeid', finalised: 'Ferdigstilt', reopened: 'Gjenåpnet' },
  },
  en: {
    yes: 'Yes',
    no: 'No',
    system: 'Sent by',
    someSystem: 'a hospital system',
    user: 'Entered by health personnel',
    status: { draft: 'Draft', finalised: 'Finalised', reopened: 'Reopened' },
  },
} as const;

const ROLE_WORDS: Record<string, { nb: string; en: string }> = {
  system: { nb: 'Fagsystem på sykehuset', en: 'Hospital system' },
  platform: { nb: 'Registerets egen behandling', en: "The registry's own processing" },
  'unit-registrar': { nb: 'Registrator ved avdelingen', en: 'Registrar at the unit' },
  'unit-reader': { nb: 'Leser ved avdelingen', en: 'Reader at the unit' },
  'registry-admin': { nb: 'Registerets sekretariat', en: 'The registry secretariat' },
  'platform-admin': { nb: 'Driftsansvarlig', en: 'Platform administrator' },
  patient: { nb: 'Deg selv', en: 'You' },
};

function display(registry: Registry, variable: string, value: unknown, lang: Lang): string {
  const def = registry.variables.get(variable)?.def;
  if (typeof value === 'boolean') return value ? WORDS[lang].yes : WORDS[lang].no;
  if (def?.type === 'code' && def.codelist) return registry.codelists.get(def.codelist)?.codes.get(String(value))?.[lang] ?? String(value);
  // One date format throughout, as the web page writes its own dates: "1. mars 2024 kl. 10:00".
  if (def?.type === 'datetime' && typeof value === 'string') return dateWords(value, lang, true);
  if (def?.type === 'date' && typeof value === 'string') return dateWords(value, lang, false);
  return `${value}${def?.unit ? ` ${def.unit}` : ''}`;
}

/** A date (or date and time) in words, in Norwegian time: "1. mars 2024" or "1. mars 2024 kl. 10:00". */
export function dateWords(iso: string, lang: Lang, withTime: boolean): string {
  const d = iso.length === 10 ? new Date(`${iso}T12:00:00Z`) : new Date(iso);
  const date = new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', {
    timeZone: 'Europe/Oslo',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d);
  if (!withTime) return date;
  const time = new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', {
    timeZone: 'Europe/Oslo',
    hour: '2-digit',
    minute: '2-digit',
  }).format(d);
  return `${date} ${lang === 'nb' ? 'kl.' : 'at'} ${time}`;
}

export async function innsyn(tx: PersonTx, registries: Registry[], lang: Lang): Promise<InnsynView> {
  // A department by its hospital's name too ("Stavanger universitetssjukehus, Ortopedisk avdeling").
  const UNIT_NAME = `CASE WHEN h.resh IS NOT NULL THEN coalesce(h.name_${lang}, h.name_nb) || ', ' || coalesce(u.name_${lang}, u.name_nb) ELSE coalesce(u.name_${lang}, u.name_nb) END`;
  const person = (await tx.client.query("SELECT id, birth_date, sex FROM person WHERE id::text = current_setting('kvalreg.person', true)"))
    .rows[0];
  if (!person) return { registered: false, person: null, registries: [], accessLog: [] };
  const cases = (
    await tx.client.query(
      `SELECT c.registry, c.id, c.created_at, ${UNIT_NAME} AS unit
     FROM registry_case c LEFT JOIN org_unit u ON u.resh = c.unit_resh LEFT JOIN org_unit h ON h.resh = u.parent_resh AND u.level = 'department'
     WHERE c.person_id = $1 ORDER BY c.created_at`,
      [person.id],
    )
  ).rows;
  // The systems by their names ("SUS DIPS Arena"), not the platform's ids for them.
  const senders = new Map(
    (await tx.client.query('SELECT sender, name FROM kvalreg_sender_names()')).rows.map((r) => [r.sender as string, r.name as string]),
  );
  const forms = cases.length
    ? (
        await tx.client.query(
          'SELECT registry, case_id, form, instance, status, data, provenance FROM case_form WHERE case_id = ANY($1) ORDER BY form, instance',
          [cases.map((c) => c.id)],
        )
      ).rows
    : [];
  const view: InnsynView = {
    registered: cases.length > 0,
    person: { birthDate: person.birth_date, sex: person.sex },
    registries: [],
    accessLog: [],
  };
  for (const registry of registries) {
    const own = cases.filter((c) => c.registry === registry.id);
    if (!own.length) continue;
    view.registries.push({
      id: registry.id,
      title: registry.meta.title[lang],
      cases: own.map((c) => ({
        id: c.id,
        unit: c.unit,
        registeredAt: c.created_at,
        forms: forms
          .filter((f) => f.registry === registry.id && f.case_id === c.id && Object.keys(f.data).length)
          .map((f) => {
            const def = registry.forms.find((x) => x.id === f.form);
            return {
              title: def?.title[lang] ?? f.form,
              status: (WORDS[lang].status as Record<string, string>)[f.status] ?? f.status,
              values: Object.entries(f.data as Record<string, unknown>).map(([variable, value]) => {
                const p = (f.provenance as Record<string, any>)[variable];
                return {
                  variable,
                  label: registry.variables.get(variable)?.def.label[lang] ?? variable,
                  value: display(registry, variable, value, lang),
                  source:
                    p?.kind === 'system' ? `${WORDS[lang].system} ${senders.get(p.sender) ?? WORDS[lang].someSystem}` : WORDS[lang].user,
                  at: p?.at ?? null,
                };
              }),
            };
          }),
      })),
    });
  }
  const log = (
    await tx.client.query(
      `SELECT a.at, a.role, a.actor, ${UNIT_NAME} AS unit, a.action, a.purpose, a.outcome
     FROM audit_event a LEFT JOIN org_unit u ON u.resh = a.unit LEFT JOIN org_unit h ON h.resh = u.parent_resh AND u.level = 'department'
     -- also what was recorded while the patient was known by another number, merged into theirs since (records/persons.ts)
     WHERE a.person_id = ANY(kvalreg_person_ids($1)) ORDER BY a.at DESC LIMIT 500`,
      [person.id],
    )
  ).rows;
  // Who looked, by role and unit — not the individual's user id, which says nothing to the patient.
  view.accessLog = log.map((r) => ({
    at: r.at,
    who: ROLE_WORDS[String(r.role).split(',')[0]]?.[lang] ?? String(r.role),
    unit: r.unit,
    action: r.action,
    purpose: r.purpose,
    outcome: r.outcome,
  }));
  tx.audit({ action: 'read', object: 'innsyn', personIds: [person.id] });
  return view;
}
