// How many inbound messages wait (received, not yet processed) and how many are quarantined: counts
// only, no message or person, for the operator's metrics (server/metrics.ts scrapes them on a
// connection of its own, as the database owner, so that a scrape never waits for the door).
import type { Queryable } from '../db/pool.ts';

export async function inboxCounts(db: Queryable): Promise<{ quarantined: number; received: number }> {
  const { rows } =
    await db.query(`SELECT count(*) FILTER (WHERE status = 'quarantined') AS quarantined, count(*) FILTER (WHERE status = 'received') AS received
    FROM inbox_message WHERE status IN ('quarantined', 'received')`);
  return { quarantined: Number(rows[0].quarantined), received: Number(rows[0].received) };
}
