// Population by year, municipality, Statistics Norway age group and sex, with the health trust
// whose catchment area each municipality is in: the denominator of incidence. Loaded at start from
// a CSV file (the demo ships a synthetic one for Helse Stavanger's area) when the table is empty.
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Queryable } from '../db/pool.ts';

const COLUMNS = ['year', 'municipality', 'municipality_name', 'trust_resh', 'age_group', 'sex', 'population'] as const;

export async function loadPopulation(pool: Queryable, file: string): Promise<number> {
  const existing = Number((await pool.query('SELECT count(*) FROM population')).rows[0].count);
  if (existing > 0 || !fs.existsSync(file)) return 0;
  const rows = parse(fs.readFileSync(file, 'utf8'), { columns: true, comment: '#', skip_empty_lines: true, trim: true }) as Array<
    Record<string, string>
  >;
  const problems: string[] = [];
  rows.forEach((r, i) => {
    for (const c of COLUMNS) if (r[c] === undefined || r[c] === '') problems.push(`row ${i + 1}: ${c} is missing`);
    if (!/^\d{4}$/.test(r.year ?? '')) problems.push(`row ${i + 1}: year "${r.year}" is not a year`);
    if (r.sex !== 'male' && r.sex !== 'female') problems.push(`row ${i + 1}: sex must be male or female, got "${r.sex}"`);
    if (!/^\d+$/.test(r.population ?? '')) problems.push(`row ${i + 1}: population "${r.population}" is not a whole number`);
  });
  if (problems.length)
    throw new Error(`${file}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`);
  await pool.query(
    `INSERT INTO population (year, municipality, municipality_name, area_resh, age_group, sex, population)
     SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])
     ON CONFLICT DO NOTHING`,
    COLUMNS.map((c) => rows.map((r) => (c === 'year' || c === 'population' ? Number(r[c]) : r[c]))),
  );
  return rows.length;
}
