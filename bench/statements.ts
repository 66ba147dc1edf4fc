// Where PostgreSQL's time went during one step of a benchmark: the statements of pg_stat_statements
// (the server must preload it: `shared_preload_libraries: 'pg_stat_statements'`), reset before the
// step and the slowest printed after it, by total execution time.
import type pg from 'pg';

type Queryable = Pick<pg.Pool, 'query'>;

/** Starts counting anew; false when the server does not have the module loaded. */
export async function resetStatements(db: Queryable): Promise<boolean> {
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.query('SELECT pg_stat_statements_reset()');
    return true;
  } catch {
    return false;
  }
}

/** The `n` statements that took the most execution time since the reset, as a Markdown table. */
export async function printStatements(db: Queryable, n: number, title: string): Promise<void> {
  const rows = (
    await db.query(
      `SELECT calls, total_exec_time AS total, mean_exec_time AS mean, rows, query
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       ORDER BY total_exec_time DESC LIMIT $1`,
      [n],
    )
  ).rows;
  const all = Number(
    (
      await db.query(
        'SELECT coalesce(sum(total_exec_time), 0) AS t FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
      )
    ).rows[0].t,
  );
  console.log(`\n${title}: statements by execution time (pg_stat_statements; all statements ${(all / 1000).toFixed(2)} s)`);
  console.log('| total ms | calls | mean ms | rows | statement |');
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${Number(r.total).toFixed(0)} | ${r.calls} | ${Number(r.mean).toFixed(2)} | ${r.rows} | ${String(r.query).replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 220)} |`,
    );
}
