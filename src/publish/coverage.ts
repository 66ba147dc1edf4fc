// Coverage (dekningsgrad) per unit and year, from a CSV the registry gets from its comparison with
// the national patient register: unit_resh, year, coverage (a share 0–1, or a percentage "83 %").
import { parse } from 'csv-parse/sync';
import type { Queryable } from '../db/pool.ts';
import type { UnitTree } from '../units/tree.ts';

export async function importCoverage(
  db: Queryable,
  registry: string,
  text: string,
  units: UnitTree,
  source: string,
): Promise<{ loaded: number; problems: string[] }> {
  const records: Record<string, string>[] = parse(text, {
    columns: true,
    skip_empty_lines: true,
    trim: true,
    delimiter: text.split('\n')[0].includes(';') ? ';' : ',',
  });
  const missing = ['unit_resh', 'year', 'coverage'].filter((c) => records.length && !(c in records[0]));
  if (missing.length) throw new Error(`the CSV lacks the column(s) ${missing.join(', ')}; expected unit_resh, year, coverage`);
  const problems: string[] = [];
  const rows: Array<[string, number, number]> = [];
  records.forEach((r, i) => {
    const line = i + 2;
    const pct = /%\s*$/.test(r.coverage);
    const n = Number(r.coverage.replace('%', '').replace(',', '.').trim());
    const value = pct || n > 1 ? n / 100 : n;
    if (!units.has(r.unit_resh)) problems.push(`line ${line}: unknown unit "${r.unit_resh}" (give a RESH id of the organisation units)`);
    else if (!/^\d{4}$/.test(r.year)) problems.push(`line ${line}: year "${r.year}" is not a year`);
    else if (!Number.isFinite(value) || value < 0 || value > 1)
      problems.push(`line ${line}: coverage "${r.coverage}" is not a share from 0 to 1 (or 0–100 %)`);
    else rows.push([r.unit_resh, Number(r.year), value]);
  });
  if (rows.length) {
    await db.query(
      `INSERT INTO coverage (registry, unit_resh, year, coverage, source)
      SELECT $1, u, y, c, $5 FROM unnest($2::text[], $3::int[], $4::numeric[]) AS t(u, y, c)
      ON CONFLICT (registry, unit_resh, year) DO UPDATE SET coverage = EXCLUDED.coverage, source = EXCLUDED.source, loaded_at = now()`,
      [registry, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), source],
    );
  }
  return { loaded: rows.length, problems };
}
