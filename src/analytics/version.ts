// The analytics data's version per registry: bumped by every refresh batch that changed rows, it
// keys the caches of everything computed from the analytics tables.
import type { Queryable } from '../db/pool.ts';

export async function analyticsVersion(db: Queryable, registry: string): Promise<number> {
  return Number((await db.query('SELECT version FROM analytics_state WHERE registry = $1', [registry])).rows[0]?.version ?? 0);
}
