// The coverage indicator linked to each quality indicator: every indicator result carries the
// coverage of its registry at its unit in its year (computed from NPR, or imported), and is marked
// "Lav dekningsgrad" under the low threshold (national publishing: 60 %), wherever results are shown.
import type { Queryable } from '../db/pool.ts';

export interface ResultCoverage {
  value: number;
  low: boolean;
  year: number;
  unit: string;
  label: { nb: string; en: string } | null;
}

/** The low threshold of national publishing, for a registry that declares no data quality of its own. */
export const DEFAULT_LOW_COVERAGE = 0.6;

export const LOW_COVERAGE_LABEL = { nb: 'Lav dekningsgrad', en: 'Low coverage' };

/** Coverage per (unit, year) of a registry, from the published coverage table. */
export async function coverageIndex(db: Queryable, registry: string): Promise<Map<string, number>> {
  const { rows } = await db.query('SELECT unit_resh, year, coverage::float8 AS coverage FROM coverage WHERE registry = $1', [registry]);
  return new Map(rows.map((r: any) => [`${r.unit_resh}|${r.year}`, r.coverage as number]));
}

/** The coverage of a result at a unit in a period (its year: the first four characters of the period). */
export function coverageFor(index: Map<string, number>, unit: string, period: string, low: number): ResultCoverage | null {
  const year = Number(period.slice(0, 4));
  const value = index.get(`${unit}|${year}`);
  if (value === undefined) return null;
  return { value, low: value < low, year, unit, label: value < low ? LOW_COVERAGE_LABEL : null };
}

export async function withCoverage<T extends { unit: { resh: string }; period: string }>(
  db: Queryable,
  registry: string,
  results: T[],
  low: number,
): Promise<Array<T & { coverage: ResultCoverage | null }>> {
  const index = await coverageIndex(db, registry);
  return results.map((r) => ({ ...r, coverage: coverageFor(index, r.unit.resh, r.period, low) }));
}
