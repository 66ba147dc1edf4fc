// The connection pool. Only `db/` knows connection details; transactions on person-level data
// are opened by the data-access door (access/door.ts).
import pg from 'pg';

// Return int8 (bigint ids, counts) as JS numbers: our ids stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
// Keep DATE as the 'YYYY-MM-DD' string: a date of birth or injury has no time zone.
pg.types.setTypeParser(1082, (v) => v);

export type Pool = pg.Pool;
export type Client = pg.PoolClient;
export type Queryable = Pick<pg.PoolClient, 'query'>;

export function createPool(url: string, max = 10): pg.Pool {
  // Our statements take arrays of keys; a generic plan cannot know they are short and picks
  // sequential scans that grow with the table. Plan each execution for its actual parameters.
  const pool = new pg.Pool({ connectionString: url, max, application_name: 'kvalreg', options: '-c plan_cache_mode=force_custom_plan' });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  // Nor may a client in use: its query fails and the caller handles that. (Ctrl-C reaches the
  // embedded PostgreSQL too, which shuts down while requests and the refresher still hold clients.)
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * A named statement: PostgreSQL parses and plans it once per connection instead of on every call,
 * which matters on the capture path where each message runs a dozen statements.
 */
export function prepared(db: Queryable, name: string, text: string, values: unknown[]) {
  return db.query({ name, text, values });
}
