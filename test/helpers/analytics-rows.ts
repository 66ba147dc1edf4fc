// The analytics rows stored for a registry against the rows the JavaScript evaluation gives now
// (refresh.ts `recordsJs`), column by column as PostgreSQL stores them.
import type { Client } from '../../src/db/pool.ts';
import { recordsJs } from '../../src/analytics/refresh.ts';
import { analyticsColumns, analyticsTable } from '../../src/analytics/columns.ts';
import type { Registry } from '../../src/registry/load.ts';

/** Rows that differ either way (stored but not computed, computed but not stored), and how many rows each side has. */
export async function storedAgainstComputed(db: Client, registry: Registry): Promise<{ differ: number; computed: number; stored: number }> {
  const ids = (await db.query(`SELECT id FROM registry_case WHERE registry = $1`, [registry.id])).rows.map((r) => Number(r.id));
  const records = await recordsJs(db, registry, ids);
  const types = new Map<string, string>([
    ['case_id', 'bigint'],
    ['person_id', 'bigint'],
    ['unit_resh', 'text'],
    ['unit_path', 'text[]'],
    ['finalised', 'boolean'],
    ['complete', 'boolean'],
    ['case_created_at', 'timestamptz'],
    ['event_key', 'text'],
    ...analyticsColumns(registry).map((c) => [c.name, c.sql] as const),
  ]);
  const list = [...types.keys()].map((n) => `"${n}"`).join(', ');
  const computed = `SELECT ${list} FROM jsonb_to_recordset($1::jsonb) AS r(${[...types].map(([n, t]) => `"${n}" ${t}`).join(', ')})`;
  const stored = `SELECT ${list} FROM ${analyticsTable(registry)}`;
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM ((${computed} EXCEPT ${stored}) UNION ALL (${stored} EXCEPT ${computed})) d) AS differ,
      (SELECT count(*) FROM ${analyticsTable(registry)}) AS stored`,
    [JSON.stringify(records)],
  );
  return { differ: Number(rows[0].differ), computed: records.length, stored: Number(rows[0].stored) };
}
