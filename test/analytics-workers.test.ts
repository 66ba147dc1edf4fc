// A backlog of analytics rows shared out among workers (src/analytics/refresh.ts, `round`): each
// worker writes its share of a round on its own connection. What must hold is what holds for one
// refresher: every case's row equals the JavaScript evaluation of its data as it is at the end,
// though its data changed while the workers ran (newest wins, nothing left behind); no two
// refreshers of one registry at a time, across processes; and a round whose coordinator lost its
// lock writes nothing.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureSample } from '../bench/sample.ts';
import { PersonData, type PersonTx } from '../src/access/door.ts';
import { Analytics } from '../src/analytics/refresh.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { createPool } from '../src/db/pool.ts';
import { Indicators } from '../src/indicators/service.ts';
import { storedAgainstComputed } from './helpers/analytics-rows.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const registry = () => t.platform.registry('fracture')!;
const log = pino({ level: 'silent' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The platform's door, telling `seen` of each transaction's server process, failure and commit. */
function traced(data: PersonData, seen: (event: string) => void): PersonData {
  let n = 0;
  const wrapped = Object.create(data) as PersonData;
  wrapped.transaction = (async (actor: unknown, what: string, fn: (tx: PersonTx) => Promise<unknown>, opts: unknown) => {
    const id = `${what}#${++n}`;
    try {
      const done = await (data.transaction as (...a: unknown[]) => Promise<unknown>).call(
        data,
        actor,
        what,
        async (tx: PersonTx) => {
          seen(`${id} pid ${(await tx.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid}`);
          return fn(tx);
        },
        opts,
      );
      seen(`commit ${id}`);
      return done;
    } catch (err) {
      seen(`fail ${id}`);
      throw err;
    }
  }) as PersonData['transaction'];
  return wrapped;
}

/** The platform's door, counting how many refresh transactions are open at once. */
function counted(data: PersonData): { data: PersonData; most: () => number } {
  let open = 0,
    most = 0;
  const wrapped = Object.create(data) as PersonData;
  wrapped.transaction = (async (actor: unknown, what: string, fn: unknown, opts: unknown) => {
    const counts = what === 'analytics:refresh';
    if (counts) most = Math.max(most, ++open);
    try {
      return await (data.transaction as (...a: unknown[]) => Promise<unknown>).call(data, actor, what, fn, opts);
    } finally {
      if (counts) open--;
    }
  }) as PersonData['transaction'];
  return { data: wrapped, most: () => most };
}

const workers = (data: PersonData, n: number) => new Analytics(data, [registry()], log, { sqlBatchSize: 25, batchSize: 25, workers: n });

async function compare() {
  const db = await t.platform.db.pool.connect();
  try {
    return await storedAgainstComputed(db, registry());
  } finally {
    db.release();
  }
}

/** The server processes of refresh statements waiting for a lock, once there are at least `n` (or what there are after 10 s). */
async function workersWaiting(n: number): Promise<number[]> {
  let waiting: number[] = [];
  for (let i = 0; i < 400 && waiting.length < n; i++) {
    waiting = (
      await t.platform.db.pool.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH r AS MATERIALIZED%'`,
      )
    ).rows.map((r) => r.pid);
    if (waiting.length < n) await sleep(25);
  }
  return waiting;
}

/** Every case logged as changed, as a rebuild does. */
const markAll = () =>
  t.platform.db.pool.query(
    `INSERT INTO analytics_change (registry, case_id) SELECT registry, id FROM registry_case WHERE registry = 'fracture'`,
  );

/** Changes a few cases' values behind the refresher's back, again and again, until told to stop. */
function keepChanging(): { stop: () => Promise<number> } {
  let running = true,
    writes = 0;
  const done = (async () => {
    const ids = (await t.platform.db.pool.query(`SELECT id FROM registry_case WHERE registry = 'fracture' ORDER BY id`)).rows.map((r) =>
      Number(r.id),
    );
    for (let i = 0; running; i++) {
      const id = ids[(i * 37) % ids.length];
      // The same few cases over and over: each one's last value must be what its row shows.
      await t.platform.db.pool.query(
        `UPDATE case_form SET data = data || jsonb_build_object('treatment_intent', $2::text), updated_at = now()
         WHERE registry = 'fracture' AND case_id = $1 AND form = 'behandling'`,
        [ids[i % 7 === 0 ? 0 : (id % 5) + 1], i % 2 === 0 ? 'curative' : 'palliative'],
      );
      writes++;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return writes;
    },
  };
}

beforeAll(async () => {
  t = await testPlatform();
  await captureSample(t.platform, { fractures: 300, years: 2 });
  await t.platform.analytics.refresh();
}, 240_000);
afterAll(() => t?.close());

describe('a backlog shared out among workers', () => {
  it('every row equals the JavaScript evaluation, with the workers really side by side', async () => {
    await t.platform.db.pool.query(`DELETE FROM ${analyticsTable(registry())}`);
    await markAll();
    const c = counted(t.platform.data);
    const [done] = await workers(c.data, 3).refresh();
    expect(c.most()).toBeGreaterThanOrEqual(2);
    const { differ, computed, stored } = await compare();
    expect(differ).toBe(0);
    expect(stored).toBe(computed);
    expect(done.rows).toBeGreaterThanOrEqual(computed);
    expect(
      Number((await t.platform.db.pool.query(`SELECT count(*) FROM analytics_change WHERE registry = 'fracture'`)).rows[0].count),
    ).toBe(0);
  });

  it('data changing while the workers run: after the last refresh every row shows the newest data', async () => {
    await markAll();
    await markAll();
    const writer = keepChanging();
    const analytics = workers(t.platform.data, 2);
    await analytics.refresh();
    await analytics.refresh();
    const writes = await writer.stop();
    expect(writes).toBeGreaterThan(3);
    await analytics.refresh();
    const { differ, computed, stored } = await compare();
    expect(differ).toBe(0);
    expect(stored).toBe(computed);
  });

  it('two processes with different numbers of workers refreshing at once: one refreshes, the rows are right', async () => {
    await markAll();
    const writer = keepChanging();
    await Promise.all([
      workers(t.platform.data, 3).refresh(),
      workers(t.platform.data, 2).refresh(),
      workers(t.platform.data, 1).refresh(),
    ]);
    await writer.stop();
    await workers(t.platform.data, 2).refresh();
    const { differ, computed, stored } = await compare();
    expect(differ).toBe(0);
    expect(stored).toBe(computed);
  });

  it('a round whose coordinator loses its lock (its connection gone) writes nothing; the next refresh writes it all', async () => {
    const pool = t.platform.db.pool;
    // Rows to be rewritten: a value changed in every case, the rows still showing the old one.
    await pool.query(
      `UPDATE case_form SET data = data || '{"treatment_intent": "palliative"}', updated_at = now() WHERE registry = 'fracture' AND form = 'behandling'`,
    );
    const pending = Number((await pool.query(`SELECT count(*) FROM analytics_change WHERE registry = 'fracture'`)).rows[0].count);
    expect(pending).toBeGreaterThan(100);
    // The first batch goes the ordinary way; the round's workers then wait for the rows held by
    // this transaction, until the coordinator is gone.
    const log = (await pool.query(`SELECT id, case_id FROM analytics_change WHERE registry = 'fracture' ORDER BY id`)).rows;
    const first = log.slice(0, 25).map((r) => Number(r.case_id));
    // The round after it: two workers, 25 changes each.
    const round = log.slice(25, 75).map((r) => r.id);
    const blocker = await pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM ${analyticsTable(registry())} WHERE case_id <> ALL($1::bigint[]) FOR UPDATE`, [first]);
      const refresh = workers(t.platform.data, 2)
        .refresh()
        .then(
          () => 'finished',
          (err: Error) => err.message,
        );
      // The coordinator: the session holding the registry's refresh lock while its workers wait.
      expect((await workersWaiting(1)).length).toBeGreaterThanOrEqual(1);
      // pg_locks is the cluster's: this database's only, or another test file's session is taken.
      const coordinator: number | undefined = (
        await pool.query(
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 4244 AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        )
      ).rows[0]?.pid;
      expect(coordinator).toBeDefined();
      // Terminated, and gone (a process told to end still runs its transaction for a moment).
      await pool.query('SELECT pg_terminate_backend($1, 5000)', [coordinator]);
      for (let i = 0; i < 200; i++) {
        if ((await pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [coordinator])).rowCount === 0) break;
        await sleep(25);
      }
      await blocker.query('ROLLBACK');
      expect(await refresh).not.toBe('finished');
    } finally {
      blocker.release();
    }
    // Nothing of the round was committed: the log still holds each of its changes (deleted in the
    // transaction that writes their rows), and the first batch's are gone.
    const left = async (ids: string[]) =>
      Number((await pool.query(`SELECT count(*) FROM analytics_change WHERE id = ANY($1::bigint[])`, [ids])).rows[0].count);
    expect(await left(round)).toBe(50);
    expect(await left(log.slice(0, 25).map((r) => r.id))).toBe(0);
    await workers(t.platform.data, 2).refresh();
    const { differ, computed, stored } = await compare();
    expect(differ).toBe(0);
    expect(stored).toBe(computed);
  });

  it('a worker failing while another still works: the round ends only after both, so no later refresher writes beside the other, and the newest data wins', async () => {
    // A case changed by a user while a round runs: the round read the log before the change
    // committed, so its worker writes the case as it was and the change is left for the next
    // refresher. Should that refresher run before the round's other worker commits (it did, when
    // the round ended at its first failure and the next transaction took the lock on the same
    // pooled connection), the older row would be written last, with nothing left in the log.
    const pool = t.platform.db.pool;
    const table = analyticsTable(registry());
    await workers(t.platform.data, 2).refresh();
    const ids = (
      await pool.query(
        `SELECT c.id FROM registry_case c JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id AND f.form = 'behandling'
         WHERE c.registry = 'fracture' AND c.invalid_reason IS NULL ORDER BY c.id`,
      )
    ).rows.map((r) => Number(r.id));
    const ordinary = ids.slice(-25);
    const round = ids.slice(0, 50);
    const even = round.filter((id) => id % 2 === 0),
      odd = round.filter((id) => id % 2 === 1);
    const [held, changed] = [even[0], even[even.length - 1]];
    const user = await pool.connect();
    const blocker = await pool.connect();
    const events: string[] = [];
    try {
      await user.query('BEGIN');
      await user.query(
        `UPDATE case_form SET data = data || '{"treatment_intent": "palliative"}', updated_at = now() WHERE registry = 'fracture' AND case_id = $1 AND form = 'behandling'`,
        [changed],
      );
      for (const id of [...ordinary, held, ...round.filter((id) => id !== held)])
        await pool.query(`INSERT INTO analytics_change (registry, case_id) VALUES ('fracture', $1)`, [id]);
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM ${table} WHERE case_id = ANY($1::bigint[]) FOR UPDATE`, [[held, odd[0]]]);
      const data = traced(t.platform.data, (e) => events.push(e));
      const first = workers(data, 2)
        .refresh()
        .then(
          () => 'finished',
          (err: Error) => `failed: ${err.message}`,
        );
      const waiting = await workersWaiting(2);
      expect(waiting).toHaveLength(2);
      await user.query('COMMIT');
      // The odd worker fails (a cancel; any error its transaction does not retry). Workers start in
      // the order of their shares, so the odd one's transaction is the last begun.
      const started = events.filter((e) => /^analytics:refresh#\d+ pid /.test(e)).map((e) => e.split(' '));
      const [oddId, , oddPid] = started[started.length - 1];
      expect(waiting).toContain(Number(oddPid));
      for (let i = 0; i < 100 && !events.includes(`fail ${oddId}`); i++) {
        await pool.query('SELECT pg_cancel_backend($1)', [oddPid]);
        await sleep(100);
      }
      expect(events).toContain(`fail ${oddId}`);
      // The next refresher, one change a batch, given time to run before the other worker may go on.
      const next = new Analytics(data, [registry()], log, { sqlBatchSize: 1, batchSize: 1, workers: 1 }).refresh();
      await sleep(1500);
      await blocker.query('ROLLBACK');
      expect(await first).toMatch(/^failed/);
      await next;
    } finally {
      await user.query('ROLLBACK').catch(() => undefined);
      user.release();
      blocker.release();
    }
    await workers(t.platform.data, 1).refresh();
    expect(Number((await pool.query(`SELECT count(*) FROM analytics_change WHERE registry = 'fracture'`)).rows[0].count)).toBe(0);
    const { differ, computed, stored } = await compare();
    expect(differ).toBe(0);
    expect(stored).toBe(computed);
  });
});

describe('shares on connections of their own', () => {
  // A coordinator holds a connection and the registry's lock while its shares run; transactions
  // waiting for that lock (another process's computation, the refresher's incremental step) hold
  // theirs. Were the shares to take from the same pool, a pool of two would be empty with every
  // party waiting.
  it('on a pool of two, full computations of two processes and a refresh round at once all finish', async () => {
    const pool = createPool(t.databaseUrl, 2);
    const sharePool = createPool(t.databaseUrl, 2);
    try {
      const data = new PersonData(pool, t.platform.units, undefined, sharePool);
      const computation = () => new Indicators(data, pool, [registry()], t.platform.units, log, 2);
      const [one, other] = [computation(), computation()];
      const analytics = new Analytics(data, [registry()], log, { sqlBatchSize: 25, batchSize: 25, workers: 2 });
      analytics.observe(one.maintainer);
      await markAll();
      const all = Promise.all([
        one.ensureFresh(registry(), { force: true }),
        other.ensureFresh(registry(), { force: true }),
        analytics.refresh(),
      ]).then(() => 'finished');
      expect(await Promise.race([all, sleep(60_000).then(() => 'hung')])).toBe('finished');
      expect(Number((await pool.query(`SELECT count(*) FROM analytics_change WHERE registry = 'fracture'`)).rows[0].count)).toBe(0);
    } finally {
      // A hung test leaves its transactions waiting: end them, so that the pools can close.
      await t.platform.db.pool
        .query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'`,
        )
        .catch(() => undefined);
      // (A pool still has work queued for a connection it will never get after a hang: not waited for.)
      await Promise.race([Promise.all([pool.end(), sharePool.end()]).catch(() => undefined), sleep(5000)]);
    }
  }, 90_000);
});
