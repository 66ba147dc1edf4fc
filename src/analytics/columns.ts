// The columns of a registry's analytics table, derived from its codebook: the person's values,
// every variable of every non-repeating form, and every derived variable, each typed. Repeating
// forms reach the table through derived `count` variables (e.g. unplanned reoperations).
import crypto from 'node:crypto';
import { PERSON_VARIABLES, type Registry } from '../registry/load.ts';
import type { Text, VariableType } from '../registry/schema.ts';

export interface AnalyticsColumn {
  name: string;
  type: VariableType;
  sql: string;
  origin: 'person' | 'form' | 'derived';
  label: Text;
  codelist?: string;
}

const SQL_TYPES: Record<VariableType, string> = {
  text: 'text',
  code: 'text',
  integer: 'integer',
  decimal: 'double precision',
  boolean: 'boolean',
  date: 'date',
  datetime: 'timestamptz',
};

const PERSON_COLUMNS: Record<(typeof PERSON_VARIABLES)[number], { type: VariableType; label: Text }> = {
  birth_date: { type: 'date', label: { nb: 'Fødselsdato', en: 'Date of birth' } },
  sex: { type: 'code', label: { nb: 'Kjønn', en: 'Sex' } },
  deceased_date: { type: 'date', label: { nb: 'Dødsdato', en: 'Date of death' } },
};

/** Columns every analytics table has, whatever the codebook: who, where, and how far registration has come. */
export const FIXED_COLUMNS = [
  'case_id bigint PRIMARY KEY',
  'person_id bigint NOT NULL',
  'unit_resh text',
  // the unit and its ancestors (nation, region, trust, hospital, department): one pass over the
  // table aggregates every level at once by unnesting this
  'unit_path text[] NOT NULL',
  // every form of the case is finalised: the quality-assured dataset
  'finalised boolean NOT NULL',
  // no required value is missing and no rule is broken
  'complete boolean NOT NULL',
  'case_created_at timestamptz NOT NULL',
  'data_updated_at timestamptz NOT NULL',
  // the event the case belongs to, for registries that declare one (records/events.ts): an
  // indicator counting events counts a transferred patient's event once
  'event_key text',
] as const;

/** The fixed columns' names, in their order. */
export const FIXED_COLUMN_NAMES = FIXED_COLUMNS.map((c) => c.split(' ')[0]);

export function analyticsColumns(registry: Registry): AnalyticsColumn[] {
  const cols: AnalyticsColumn[] = PERSON_VARIABLES.map((p) => ({
    name: p,
    type: PERSON_COLUMNS[p].type,
    sql: SQL_TYPES[PERSON_COLUMNS[p].type],
    origin: 'person',
    label: PERSON_COLUMNS[p].label,
  }));
  for (const form of registry.forms) {
    if (form.repeating) continue;
    for (const v of form.variables)
      cols.push({
        name: v.id,
        type: v.type,
        sql: SQL_TYPES[v.type],
        origin: 'form',
        label: v.label,
        ...(v.codelist ? { codelist: v.codelist } : {}),
      });
  }
  for (const d of registry.derived)
    cols.push({
      name: d.def.id,
      type: d.def.type,
      sql: SQL_TYPES[d.def.type],
      origin: 'derived',
      label: d.def.label,
      ...(d.def.codelist ? { codelist: d.def.codelist } : {}),
    });
  return cols;
}

/** The table's qualified name. Registry ids are lower-case identifiers (the definition schema says so). */
export function analyticsTable(registry: Pick<Registry, 'id'>): string {
  if (!/^[a-z][a-z0-9_]*$/.test(registry.id)) throw new Error(`registry id "${registry.id}" cannot name a table`);
  return `analytics."${registry.id}"`;
}

/** Changes when the columns change: the table is then rebuilt. */
export function columnsSignature(registry: Registry): string {
  const shape = [...FIXED_COLUMNS, ...analyticsColumns(registry).map((c) => `${c.name} ${c.sql}`)].join('\n');
  return crypto.createHash('sha256').update(shape).digest('hex').slice(0, 16);
}
