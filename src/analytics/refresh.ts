// Keeps each registry's analytics table current. Writes to cases log them in `analytics_change`
// (by trigger, insert only); the refresher takes logged cases in batches, recomputes their rows from the forms
// and the person with the same evaluation capture uses, and upserts them. A full rebuild marks
// every case. Runs as the platform's own work through the one door.
//
// Two ways to compute the rows, with the same result (test/analytics-sql.test.ts): set-based, one
// INSERT … SELECT per batch of thousands of cases (sql-rows.ts), for registries whose codebook
// compiles to SQL (PROM results included); and in JavaScript with evaluate.ts, 500 cases a batch, for registries whose
// derived variables call their own functions (functions.ts). `sqlRowsPlan` decides per registry and
// the log says which way each goes.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { PersonData, PersonTx } from '../access/door.ts';
import { shareOut } from '../db/share-out.ts';
import type { Client } from '../db/pool.ts';
import { caseValues, evaluateCase, type FormState, type PromResult } from '../records/evaluate.ts';
import type { Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';
import { promResultsOf } from '../prom/case-results.ts';
import { analyticsColumns, analyticsTable, columnsSignature, FIXED_COLUMN_NAMES, FIXED_COLUMNS, type AnalyticsColumn } from './columns.ts';
import { sqlRowsPlan, type SqlRowsPlan } from './sql-rows.ts';
import { analyticsVersion } from './version.ts';
import { storedOutcomes, type StoredOutcomes } from '../quality/stored.ts';

const PLATFORM = { kind: 'platform', task: 'analytics' } as const;

export interface AnalyticsOptions {
  /** Cases per batch the JavaScript way (each row a round trip through the program). */
  batchSize?: number;
  /** Cases per batch computed set-based in SQL. */
  sqlBatchSize?: number;
  /**
   * Connections that share out a backlog of more than one batch (a rebuild, a bulk load, a restart
   * after a pause), each refreshing its own share of the cases: one statement uses one core.
   */
  workers?: number;
}

export interface RefreshResult {
  registry: string;
  rows: number;
  removed: number;
}

/**
 * Told about every batch of changed cases, inside the batch's transaction, before and after their
 * rows are rewritten: what is kept from the rows (the indicator results) moves with them.
 */
export interface AnalyticsObserver {
  /** Before the rows of `caseIds` change; `version` is the analytics version they are at. Returns what `after` needs. */
  before(tx: PersonTx, registry: Registry, caseIds: number[], version: number): Promise<unknown>;
  /** After the rows changed, in the same transaction; `version` is the new analytics version. */
  after(tx: PersonTx, registry: Registry, state: unknown, version: number): Promise<void>;
}

export class Analytics {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RefreshResult[]> | undefined;
  private readonly plans = new Map<string, SqlRowsPlan | null>();
  private observer: AnalyticsObserver | undefined;

  private readonly batchSize: number;
  private readonly sqlBatchSize: number;
  private readonly workers: number;

  constructor(
    private readonly data: PersonData,
    private readonly registries: Registry[],
    private readonly log: Logger,
    options: AnalyticsOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.sqlBatchSize = options.sqlBatchSize ?? 10_000;
    this.workers = Math.max(1, options.workers ?? 1);
    for (const r of registries) {
      const plan = sqlRowsPlan(r);
      this.plans.set(r.id, plan.ok ? plan.plan : null);
      if (!plan.ok)
        log.info({ registry: r.id, reason: plan.reason }, 'analytics rows of this registry are computed in JavaScript, 500 a batch');
    }
  }

  /** Which way the registry's rows are computed: 'sql' (set-based) or 'js' (per case, for codebooks calling their own functions). */
  way(registry: string): 'sql' | 'js' {
    return this.plans.get(registry) ? 'sql' : 'js';
  }

  /** The one observer of refreshed batches (the indicator results kept in step with the rows). */
  /** Every registry the JavaScript way, set-based or not (the baseline bench:indicators measures the set-based refresh against). */
  javascriptOnly = false;

  observe(observer: AnalyticsObserver): void {
    this.observer = observer;
  }

  /** Creates or rebuilds each registry's table when its shape or definition changed. Called at start. */
  async prepare(): Promise<void> {
    for (const r of this.registries) {
      await this.data.transaction(PLATFORM, 'analytics:prepare', async (tx) => {
        await prepareTable(tx.client, r, this.log);
        // An event's rows found by its key (incremental indicators counting events); tables made before had none.
        await tx.client.query(
          `CREATE INDEX IF NOT EXISTS "${r.id}_event_key_idx" ON ${analyticsTable(r)} (event_key) WHERE event_key IS NOT NULL`,
        );
      });
    }
  }

  /** Refreshes every marked case now; resolves when the queue is empty. Concurrent calls share one run. */
  refresh(): Promise<RefreshResult[]> {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Refreshes in the background every `intervalMs` (new data is counted within seconds). */
  start(intervalMs: number): void {
    if (this.timer) return;
    const tick = async () => {
      try {
        await this.refresh();
      } catch (err) {
        this.log.error({ err }, 'analytics refresh failed; retrying');
      }
      if (this.timer) this.timer = setTimeout(tick, intervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** How current the registry's analytics are: rows, changes waiting, last refresh, newest data. */
  async status(
    registry: Registry,
  ): Promise<{ registry: string; rows: number; pending: number; version: number; refreshedAt: string | null; newestData: string | null }> {
    return this.data.transaction(
      PLATFORM,
      'analytics:status',
      async (tx) => {
        const {
          rows: [s],
        } = await tx.client.query(
          `SELECT (SELECT count(*) FROM ${analyticsTable(registry)}) AS rows,
          (SELECT count(DISTINCT case_id) FROM analytics_change WHERE registry = $1) AS pending, version, refreshed_at, newest_data
        FROM analytics_state WHERE registry = $1`,
          [registry.id],
        );
        const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
        return {
          registry: registry.id,
          rows: Number(s?.rows ?? 0),
          pending: Number(s?.pending ?? 0),
          version: Number(s?.version ?? 0),
          refreshedAt: iso(s?.refreshed_at ?? null),
          newestData: iso(s?.newest_data ?? null),
        };
      },
      { readOnly: true },
    );
  }

  /** Marks every case of the registry and recomputes them all. */
  async rebuild(registry: Registry): Promise<RefreshResult[]> {
    await this.data.transaction(PLATFORM, 'analytics:rebuild', async (tx) => {
      await tx.client.query('INSERT INTO analytics_change (registry, case_id) SELECT registry, id FROM registry_case WHERE registry = $1', [
        registry.id,
      ]);
    });
    return this.refresh();
  }

  private async drain(): Promise<RefreshResult[]> {
    const results: RefreshResult[] = [];
    for (const r of this.registries) {
      const total: RefreshResult = { registry: r.id, rows: 0, removed: 0 };
      const add = (b: { rows: number; removed: number }) => {
        total.rows += b.rows;
        total.removed += b.removed;
      };
      for (;;) {
        const plan = this.plan(r);
        const size = plan ? this.sqlBatchSize : this.batchSize;
        const batch = await this.data.transaction(PLATFORM, 'analytics:refresh', async (tx) => {
          if (!(await lockRegistry(tx.client, r))) return NOTHING;
          return writeBatch(tx, r, plan, await readLog(tx.client, r, size), this.observer, this.log);
        });
        add(batch);
        if (batch.taken < size) break;
        // More than a batch waiting (a rebuild, a bulk load, a pause): the workers share it out,
        // round by round. Then the ordinary way again, for what was logged meanwhile.
        if (this.workers > 1)
          for (;;) {
            const round = await this.round(r, plan, size);
            add(round);
            if (round.taken < size * this.workers) break;
          }
      }
      if (total.rows || total.removed) this.log.debug(total, 'analytics refreshed');
      results.push(total);
    }
    return results;
  }

  private plan(registry: Registry): SqlRowsPlan | null {
    return this.javascriptOnly ? null : (this.plans.get(registry.id) ?? null);
  }

  /**
   * One round of a backlog: a coordinating transaction holds the registry's lock and reads the
   * next `workers` batches of the log; each worker writes the cases whose id falls to it, in its own
   * transaction on its own connection. A case is in one worker's share of a round, and rounds follow
   * each other, so a case's changes are still written in the order they were logged. The
   * coordinator waits for every worker, even after one failed, and a worker commits only while the
   * coordinating transaction is still running (db/share-out.ts): should its connection be lost, another
   * refresher could start writing the same cases beside the workers.
   */
  private async round(registry: Registry, plan: SqlRowsPlan | null, size: number): Promise<BatchResult> {
    return this.data.transaction(PLATFORM, 'analytics:refresh-round', async (coordinator) => {
      if (!(await lockRegistry(coordinator.client, registry))) return NOTHING;
      const log = await readLog(coordinator.client, registry, size * this.workers);
      const shares = Array.from({ length: this.workers }, (_, k) => log.filter((l) => l.caseId % this.workers === k));
      const done = await shareOut<LogRow[], BatchResult, PersonTx>(
        coordinator.client,
        shares.filter((share) => share.length > 0),
        (fn) => this.data.transaction(PLATFORM, 'analytics:refresh', fn, { share: true }),
        (tx, share) => writeBatch(tx, registry, plan, share, undefined, this.log),
        'the analytics refresh round lost its lock; its batches are left for the next round',
      );
      return done.reduce((t, d) => ({ taken: t.taken + d.taken, rows: t.rows + d.rows, removed: t.removed + d.removed }), {
        ...NOTHING,
        taken: log.length,
      });
    });
  }
}

interface BatchResult {
  taken: number;
  rows: number;
  removed: number;
}
const NOTHING: BatchResult = { taken: 0, rows: 0, removed: 0 };

/** One refresher per registry at a time (across processes): two could otherwise write a case's row out of order. A second one simply finds nothing to do. */
async function lockRegistry(db: Client, registry: Registry): Promise<boolean> {
  return (await db.query('SELECT pg_try_advisory_xact_lock(4244, hashtext($1)) AS ok', [registry.id])).rows[0].ok;
}

interface LogRow {
  id: string;
  caseId: number;
}

/** The oldest `size` changes logged for the registry. */
async function readLog(db: Client, registry: Registry, size: number): Promise<LogRow[]> {
  const { rows } = await db.query('SELECT id, case_id FROM analytics_change WHERE registry = $1 ORDER BY id LIMIT $2', [registry.id, size]);
  return rows.map((r) => ({ id: r.id, caseId: Number(r.case_id) }));
}

async function prepareTable(db: Client, registry: Registry, log: Logger): Promise<void> {
  const shape = columnsSignature(registry);
  // The data-quality outcomes stored in each row (quality/stored.ts) are signed apart: a change of
  // them alone rebuilds the table with its rows, in this transaction (readers see the old table
  // until it commits). Emptied and refilled by the refresher instead, the table would be read half
  // empty meanwhile, and the incremental indicators would count every case again as it came back.
  const stored = storedOutcomes(registry);
  const signature = `${shape}+${stored?.tag ?? ''}:${registry.sha256.slice(0, 16)}`;
  const table = analyticsTable(registry);
  const old = (await db.query('SELECT signature FROM analytics_table WHERE registry = $1', [registry.id])).rows[0]?.signature as
    string | undefined;
  if (old === signature) return;
  // Serialised against a second process starting at the same time.
  await db.query('SELECT pg_advisory_xact_lock(4242, hashtext($1))', [registry.id]);
  const again = (await db.query('SELECT signature FROM analytics_table WHERE registry = $1', [registry.id])).rows[0]?.signature as
    string | undefined;
  if (again !== signature) {
    // Every case marked for recomputation first: done after the table's swap, it would hold the
    // swap's locks (on the cases too) for as long as it takes.
    await db.query('INSERT INTO analytics_change (registry, case_id) SELECT registry, id FROM registry_case WHERE registry = $1', [
      registry.id,
    ]);
    const [oldShape, oldTag = ''] = (again?.split(':')[0] ?? '').split('+');
    if (!again || oldShape !== shape) {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
      await createTable(db, registry, table, stored, log);
      await indexTable(db, table);
      log.info({ registry: registry.id }, 'analytics table created; every case will be computed');
    } else {
      if (oldTag !== (stored?.tag ?? '')) await rebuildWithRows(db, registry, stored, log);
      log.info({ registry: registry.id }, 'registry definition changed; every analytics row will be recomputed');
    }
    await db.query(
      `INSERT INTO analytics_table (registry, signature) VALUES ($1, $2)
      ON CONFLICT (registry) DO UPDATE SET signature = EXCLUDED.signature, built_at = now()`,
      [registry.id, signature],
    );
    await db.query('INSERT INTO analytics_state (registry) VALUES ($1) ON CONFLICT DO NOTHING', [registry.id]);
  }
}

/**
 * The table rebuilt for a new layout of stored data-quality outcomes, with its rows, in the
 * caller's transaction: readers use the old table until it commits.
 *
 * - No refresher writes meanwhile: its rounds hold the registry's lock (4244), taken here first. A
 *   round writing into the old table after the copy would lose its rows with it, and the
 *   incremental indicators, having moved them, would move them again from the copy's older rows.
 * - The copy, its indexes and its key to the cases are built under a new name, beside the old table,
 *   with no lock on the cases; only then are the cases locked against writers (`SHARE ROW
 *   EXCLUSIVE`: captures and opt-outs wait, readers do not), the copy's rows whose case was deleted
 *   meanwhile (an opt-out cascading into the old table) removed, the key validated, and the tables
 *   swapped. Locking the cases last, after every write to them has ended, is also what keeps an
 *   opt-out cascading into the old table from deadlocking with the swap (which needs the cases).
 * - The new name cannot be a registry's (registry ids have no "-"), and is short whatever the id.
 */
async function rebuildWithRows(db: Client, registry: Registry, stored: StoredOutcomes | null, log: Logger): Promise<void> {
  const table = analyticsTable(registry);
  const temp = `rebuild-${crypto.createHash('sha256').update(registry.id).digest('hex').slice(0, 12)}`;
  const next = `analytics."${temp}"`;
  await db.query('SELECT pg_advisory_xact_lock(4244, hashtext($1))', [registry.id]);
  await db.query(`DROP TABLE IF EXISTS ${next}`);
  await createTable(db, registry, next, stored, log, { foreignKey: false });
  const list = [...FIXED_COLUMN_NAMES, ...analyticsColumns(registry).map((c) => `"${c.name}"`)].join(', ');
  await db.query(`INSERT INTO ${next} (${list}) SELECT ${list} FROM ${table}`);
  await indexTable(db, next);
  await db.query(`CREATE INDEX "${temp}-event-key" ON ${next} (event_key) WHERE event_key IS NOT NULL`);
  await db.query(`ANALYZE ${next}`);
  await db.query('LOCK TABLE registry_case IN SHARE ROW EXCLUSIVE MODE');
  await db.query(
    `DELETE FROM ${next} n WHERE NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = n.registry AND c.id = n.case_id)`,
  );
  await db.query(`ALTER TABLE ${next} ADD ${foreignKeyToCases}`);
  await db.query(`DROP TABLE ${table}`);
  await db.query(`ALTER TABLE ${next} RENAME TO "${registry.id}"`);
  await db.query(`ALTER INDEX analytics."${temp}-event-key" RENAME TO "${registry.id}_event_key_idx"`);
  log.info({ registry: registry.id }, 'analytics table rebuilt with its rows for the new data-quality outcomes');
}

/** Rows go with their case (a reservation deletes the person and their cases). */
const foreignKeyToCases = 'FOREIGN KEY (registry, case_id) REFERENCES registry_case (registry, id) ON DELETE CASCADE';

/** The table's indexes: built after a copy rather than entry by entry during it. */
async function indexTable(db: Client, table: string): Promise<void> {
  await db.query(`CREATE INDEX ON ${table} USING gin (unit_path)`);
  await db.query(`CREATE INDEX ON ${table} (person_id)`);
}

/**
 * The registry's analytics table, with its row-level security and grant. The stored
 * data-quality outcomes come right after the fixed columns: a column is found by walking the row's
 * columns before it, and after the codebook's hundred the measures' pass cost a fifth more.
 * Should PostgreSQL refuse one of their expressions as not immutable (42P17), the table goes
 * without them and every measurement evaluates every check, as measures.ts then does; any other
 * failure fails the preparation, to be tried again, rather than leaving them out for good.
 */
async function createTable(
  db: Client,
  registry: Registry,
  table: string,
  stored: StoredOutcomes | null,
  log: Logger,
  o: { foreignKey: boolean } = { foreignKey: true },
): Promise<void> {
  const cols = analyticsColumns(registry).map((c) => `"${c.name}" ${c.sql}`);
  const create = (generated: string[]) =>
    db.query(`CREATE TABLE ${table} (${[...FIXED_COLUMNS, ...generated, ...cols].join(', ')},
        registry text NOT NULL DEFAULT ${db.escapeLiteral(registry.id)} CHECK (registry = ${db.escapeLiteral(registry.id)})${
          o.foreignKey ? `, ${foreignKeyToCases}` : ''
        })`);
  if (!stored) await create([]);
  else {
    await db.query('SAVEPOINT stored_outcomes');
    try {
      await create(stored.ddl);
      await db.query('RELEASE SAVEPOINT stored_outcomes');
    } catch (err) {
      if ((err as { code?: unknown }).code !== '42P17') throw err;
      await db.query('ROLLBACK TO SAVEPOINT stored_outcomes');
      await create([]);
      log.warn(
        { err, registry: registry.id },
        'data-quality outcomes cannot be stored in the analytics table (an expression PostgreSQL does not hold immutable); each measurement will evaluate every check',
      );
    }
  }
  // Person-level: a unit user sees the rows of their units only, like the cases themselves.
  await db.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
  await db.query(`CREATE POLICY unit_scope ON ${table} USING (kvalreg_unit_visible(registry, unit_resh))`);
  await db.query(`GRANT SELECT ON ${table} TO kvalreg_app`);
}

/** The rows of the cases of these log rows recomputed and written; the log rows deleted; the analytics version moved on. */
async function writeBatch(
  tx: PersonTx,
  registry: Registry,
  plan: SqlRowsPlan | null,
  log: LogRow[],
  observer: AnalyticsObserver | undefined,
  logger: Logger,
): Promise<BatchResult> {
  const db = tx.client;
  if (log.length === 0) return NOTHING;
  const taken = [...new Set(log.map((r) => r.caseId))];
  const version = await analyticsVersion(db, registry.id);
  const observed = observer ? await observer.before(tx, registry, taken, version) : undefined;
  const done = plan ? await writeRowsSqlOrJs(tx, registry, plan, taken, logger) : await writeRowsJs(tx, registry, taken);
  // Exactly the log rows read: a change logged after them stays for the next round.
  await db.query('DELETE FROM analytics_change WHERE id = ANY($1::bigint[])', [log.map((r) => r.id)]);
  // The newest data so far: the newest of this batch is enough (it only grows), and reading the
  // whole table's maximum per batch made a large refresh slower the larger the table.
  await db.query(
    `UPDATE analytics_state SET version = version + 1, refreshed_at = now(),
      newest_data = greatest(newest_data, $2::timestamptz) WHERE registry = $1`,
    [registry.id, done.newest],
  );
  if (observer) await observer.after(tx, registry, observed, version + 1);
  return { taken: log.length, rows: done.rows, removed: done.removed };
}

/**
 * The batch set-based; should PostgreSQL refuse it (a stored value that does not read as its
 * declared type, which no write path stores: sql-rows.ts), the same batch in JavaScript, which
 * treats such a value as unknown, so that one odd form never stops the registry's refresh.
 */
async function writeRowsSqlOrJs(
  tx: PersonTx,
  registry: Registry,
  plan: SqlRowsPlan,
  ids: number[],
  log: Logger,
): Promise<{ rows: number; removed: number; newest: string | null }> {
  const db = tx.client;
  await db.query('SAVEPOINT analytics_rows');
  try {
    const done = await writeRowsSql(tx, registry, plan, ids);
    await db.query('RELEASE SAVEPOINT analytics_rows');
    return done;
  } catch (err) {
    await db.query('ROLLBACK TO SAVEPOINT analytics_rows');
    // Only a value PostgreSQL could not read (class 22, data exception) goes the JavaScript way; a
    // cancel, a timeout or a lost connection fails the batch, which the next round takes again.
    if (!String((err as { code?: unknown }).code ?? '').startsWith('22')) throw err;
    log.warn(
      { err, registry: registry.id, cases: ids.length },
      'analytics rows of this batch computed in JavaScript: the set-based way refused them',
    );
    return writeRowsJs(tx, registry, ids);
  }
}

/** The batch's rows computed and written in two statements (sql-rows.ts). */
async function writeRowsSql(
  tx: PersonTx,
  registry: Registry,
  plan: SqlRowsPlan,
  ids: number[],
): Promise<{ rows: number; removed: number; newest: string | null }> {
  const db = tx.client;
  const table = analyticsTable(registry);
  // A case gone, or marked invalid (merged into another of its event), has no row.
  const removed =
    (
      await db.query(
        `DELETE FROM ${table} t WHERE t.case_id = ANY($2::bigint[])
    AND NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = $1 AND c.id = t.case_id AND c.invalid_reason IS NULL)`,
        [registry.id, ids],
      )
    ).rowCount ?? 0;
  const list = plan.names.map((n) => `"${n}"`).join(', ');
  // Each case's stages are looked up once: a cache of them (Memoize) never hits and cost a tenth of the statement.
  await db.query('SET LOCAL enable_memoize = off');
  const {
    rows: [r],
  } = await db.query(
    `WITH r AS MATERIALIZED (${plan.select(true)}),
    written AS (INSERT INTO ${table} (${list}) SELECT ${list} FROM r
      ON CONFLICT (case_id) DO UPDATE SET ${plan.names
        .slice(1)
        .map((n) => `"${n}" = EXCLUDED."${n}"`)
        .join(', ')}
      -- an unchanged row is left as it is (no new version, no index entries)
      WHERE (${plan.names
        .slice(1)
        .map((n) => `${table}."${n}"`)
        .join(', ')}) IS DISTINCT FROM (${plan.names
        .slice(1)
        .map((n) => `EXCLUDED."${n}"`)
        .join(', ')})
      RETURNING 1)
    SELECT (SELECT count(*) FROM r) AS rows, (SELECT max(data_updated_at) FROM r) AS newest, (SELECT count(*) FROM written) AS written`,
    [registry.id, ids, osloDate(new Date().toISOString()), ...plan.values],
  );
  await db.query('SET LOCAL enable_memoize TO DEFAULT');
  return { rows: Number(r.rows), removed, newest: r.newest ? new Date(r.newest).toISOString() : null };
}

/** The batch's rows computed in JavaScript with the evaluation capture uses (registries with their own functions). */
async function writeRowsJs(
  tx: PersonTx,
  registry: Registry,
  taken: number[],
): Promise<{ rows: number; removed: number; newest: string | null }> {
  const db = tx.client;
  const records = await recordsJs(db, registry, taken);
  const table = analyticsTable(registry);
  const found = new Set(records.map((r) => Number(r.case_id)));
  const gone = taken.filter((id) => !found.has(id));
  if (gone.length) await db.query(`DELETE FROM ${table} WHERE case_id = ANY($1::bigint[])`, [gone]);
  if (records.length) {
    const columns = analyticsColumns(registry);
    const names = [...FIXED_COLUMN_NAMES, ...columns.map((c) => c.name)];
    const types = [
      'bigint',
      'bigint',
      'text',
      'text[]',
      'boolean',
      'boolean',
      'timestamptz',
      'timestamptz',
      'text',
      ...columns.map((c) => c.sql),
    ];
    const list = names.map((n) => `"${n}"`).join(', ');
    await db.query(
      `INSERT INTO ${table} (${list})
      SELECT ${list} FROM jsonb_to_recordset($1::jsonb) AS r(${names.map((n, i) => `"${n}" ${types[i]}`).join(', ')})
      -- a case deleted since it was read (an opt-out) gets no row
      WHERE EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = $2 AND c.id = r.case_id)
      ON CONFLICT (case_id) DO UPDATE SET ${names
        .slice(1)
        .map((n) => `"${n}" = EXCLUDED."${n}"`)
        .join(', ')}`,
      [JSON.stringify(records), registry.id],
    );
  }
  const times = records.map((r) => Date.parse(String(r.data_updated_at))).filter((x) => Number.isFinite(x));
  const newest = times.length ? new Date(Math.max(...times)).toISOString() : null;
  return { rows: records.length, removed: gone.length, newest };
}

/** The analytics rows of these cases (those valid), computed in JavaScript from the forms and the person. */
export async function recordsJs(db: Client, registry: Registry, ids: number[]): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.query(
    `SELECT c.id, c.person_id, c.unit_resh, c.created_at, c.event_key, coalesce(u.path, '{}') AS path,
            p.birth_date::text AS birth_date, p.sex, p.deceased_date::text AS deceased_date,
            (SELECT json_agg(json_build_object('form', f.form, 'instance', f.instance, 'status', f.status, 'data', f.data, 'updated_at', f.updated_at)) FROM case_form f
              WHERE f.registry = c.registry AND f.case_id = c.id) AS forms
     FROM registry_case c JOIN person p ON p.id = c.person_id LEFT JOIN org_unit u ON u.resh = c.unit_resh
     WHERE c.registry = $1 AND c.id = ANY($2::bigint[])
       -- an invalid registration (merged into another case of its event) has no row: it is in no
       -- indicator or analysis, while the case itself stays readable
       AND c.invalid_reason IS NULL`,
    [registry.id, ids],
  );
  const columns = analyticsColumns(registry);
  const prom = await promResultsOf(
    db,
    registry,
    rows.map((r) => Number(r.id)),
  );
  return rows.map((row) => analyticsRecord(registry, columns, row, prom.get(Number(row.id)) ?? []));
}

/** One case as an analytics row: the values the registry's expressions see (its PROM results too), typed for the table. */
export function analyticsRecord(
  registry: Registry,
  columns: AnalyticsColumn[],
  row: any,
  prom: PromResult[] = [],
): Record<string, unknown> {
  const forms: Array<FormState & { status: string; updated_at: string }> = row.forms ?? [];
  const person = { birth_date: row.birth_date, sex: row.sex, deceased_date: row.deceased_date };
  const values = caseValues(registry, person, forms, prom);
  const evaluation = evaluateCase(registry, person, forms);
  const complete = [...evaluation.forms.values()].every((f) => f.missing.length === 0 && !f.findings.some((x) => x.severity === 'error'));
  const record: Record<string, unknown> = {
    case_id: Number(row.id),
    person_id: Number(row.person_id),
    unit_resh: row.unit_resh,
    unit_path: row.path,
    finalised: forms.length > 0 && forms.every((f) => f.status === 'finalised'),
    complete,
    case_created_at: row.created_at,
    // The latest of the case's creation and its forms' changes, compared as instants (the texts
    // come in two formats: PostgreSQL's with an offset, and ISO with Z).
    data_updated_at: new Date(
      forms.reduce((max, f) => Math.max(max, Date.parse(f.updated_at)), new Date(row.created_at).getTime()),
    ).toISOString(),
    event_key: row.event_key ?? null,
  };
  for (const c of columns) record[c.name] = typed(c, values[c.name]);
  return record;
}

/** A value as its column takes it; a value that does not fit (a derived expression gone wrong) is left out, not stored wrongly. */
function typed(c: AnalyticsColumn, v: unknown): unknown {
  if (v === null || v === undefined || v === '') return null;
  switch (c.type) {
    case 'integer':
      return typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : null;
    case 'decimal':
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    case 'boolean':
      return typeof v === 'boolean' ? v : null;
    default:
      return typeof v === 'string' || typeof v === 'number' ? String(v) : null;
  }
}
