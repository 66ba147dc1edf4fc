// The date a case belongs to a year by (a registry's `caseDate`, e.g. the date of injury), as SQL
// over its analytics table: which years have data, and how key figures are counted. Without a
// declared case date, the day the case was registered.
import type { Registry } from '../registry/load.ts';

export function caseDateSql(registry: Registry, alias = 'a'): string {
  const v = registry.meta.caseDate;
  if (!v) return `(${alias}.case_created_at AT TIME ZONE 'Europe/Oslo')::date`;
  const type = registry.variables.get(v)?.def.type ?? registry.derived.find((d) => d.def.id === v)?.def.type;
  return type === 'datetime' ? `(${alias}."${v}" AT TIME ZONE 'Europe/Oslo')::date` : `${alias}."${v}"`;
}
