// The PROM scheduler: the background job that turns schedules into invitations.
//
// One run (`runDue(now)`) is one transaction of the platform's own work, under an advisory lock so
// two processes never run it at once:
//   1. the day's new items: for every schedule, the cases whose time point window is open today
//      get an item per instrument their values select (one set-based statement per schedule over
//      the registry's analytics table, where the case's date and values are typed columns; the date
//      arithmetic is PostgreSQL's calendar arithmetic, so 31 January + 1 month is the last day of
//      February and 29 February + 12 months is 28 February), staged in a temporary table;
//   2. expiry: an invitation past its end, and an item whose window closed unanswered — before
//      collecting, so that new items never join an invitation that is over;
//   3. collect once: an item whose instrument the patient has already answered within its window
//      (for another registry, or the clinic) shares that response; the rest join the patient's
//      open invitation, or one new invitation per patient collects them all;
//   4. cancellation: a death (from the population register, on the person) cancels the person's
//      open items and invitation; an objection to a registry cancels that registry's items (not a
//      clinic's own follow-up, declared `party: clinic`: that is the patient's care).
// Each new item is written once, in its final state (answered, invited, or pending when no
// invitation could be made): a busy day writes tens of thousands, and an insert followed by an
// update of the same row doubled the writes and their foreign-key checks (docs/performance.md).
// A reservation deletes the person, and every item, invitation and answer with them (cascade).
import type { PersonData, PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { analyticsTable } from '../analytics/columns.ts';
import type { CompiledSchedule } from './schedule.ts';

const PLATFORM = { kind: 'platform', task: 'prom-scheduler' } as const;

export interface SchedulerRun {
  itemsCreated: number;
  shared: number;
  invitationsCreated: number;
  itemsInvited: number;
  cancelled: number;
  expired: number;
}

/** The Oslo calendar date of an instant. */
export function osloDay(now: Date): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** Hour of the day (Norwegian time) invitations are sent on the day they fall due. */
export const SEND_HOUR = '09:00';

export class PromScheduler {
  constructor(
    private readonly data: PersonData,
    private readonly registries: Registry[],
    private readonly schedules: CompiledSchedule[],
    /** New items from which a run analyses `prom_item` after writing them (see refreshStatistics). */
    private readonly analyzeAfterItems = ANALYZE_AFTER_ITEMS,
  ) {}

  /** Indexes on the dates schedules count from, so a run reads only the cases near a window. */
  async prepare(): Promise<void> {
    await this.data.transaction(PLATFORM, 'prom:prepare', async (tx) => {
      for (const s of this.schedules) {
        const reg = this.registries.find((r) => r.id === s.registry)!;
        const table = analyticsTable(reg);
        const expr = s.anchorSql.replace(/\ba\./g, '');
        await tx.client.query(`CREATE INDEX IF NOT EXISTS "${reg.id}_prom_${s.def.relativeTo}" ON ${table} ((${expr}))`);
      }
    });
  }

  async runDue(now = new Date()): Promise<SchedulerRun> {
    const today = osloDay(now);
    const run = await this.data.transaction(PLATFORM, 'prom:schedule', async (tx) => {
      if (!(await tx.client.query('SELECT pg_try_advisory_xact_lock(4250, 0) AS ok')).rows[0].ok) return null;
      await tx.client.query(`CREATE TEMP TABLE ${STAGED} (${STAGED_COLUMNS}) ON COMMIT DROP`);
      for (const s of this.schedules)
        await stageItems(
          tx,
          this.registries.find((r) => r.id === s.registry)!,
          s,
          today,
        );
      // What has ended is closed first, so that new items never join an invitation that is over.
      const expired = await expire(tx, today, now);
      // Items left pending by an earlier run (an invitation could not be made then) join first:
      // after the day's items are written they would be looked at again for nothing.
      const left = await collectPending(tx, this.schedules, today, now);
      const fresh = await collectStaged(tx, this.schedules, today, now);
      // Last, so that it reaches the day's new items too (a death the analytics table does not
      // show yet is on the person).
      const cancelled = await cancel(tx);
      const persons = [...new Set([...fresh.persons, ...left.persons])];
      if (persons.length) tx.audit({ action: 'prom:invite', object: 'prom/invitation', personIds: persons });
      return {
        itemsCreated: fresh.created,
        cancelled,
        expired,
        shared: fresh.shared + left.shared,
        invitationsCreated: fresh.invitations + left.invitations,
        itemsInvited: fresh.invited + left.invited,
      };
    });
    if (!run) return { itemsCreated: 0, shared: 0, invitationsCreated: 0, itemsInvited: 0, cancelled: 0, expired: 0 };
    await this.refreshStatistics(run.itemsCreated);
    return run;
  }

  /**
   * Statistics of `prom_item` brought up to date after a run that added many items. Planned on
   * statistics that predate the items (a first start, or the first run after a long stop, before
   * autovacuum has analysed the table) PostgreSQL takes the items for a few dozen and plans
   * quadratic work (EXPLAIN ANALYZE in docs/performance.md): the next day's look-up of the items
   * that exist already scanned all of them for every open window (318 million rows compared, 118 s
   * at 100,000 cases), and collecting items left pending joined each invitation back to them by
   * reading the whole index of open items (254 s for a busy day among 1,000,000 cases, when items
   * were still written pending first). The platform's own work runs as the
   * tables' owner, who may analyse them; sampling costs well under a second at national size, so
   * it is done only when the new items are a tenth of the table or more (autovacuum's own default
   * proportion), and at least `ANALYZE_AFTER_ITEMS`.
   */
  private async refreshStatistics(itemsCreated: number): Promise<void> {
    if (itemsCreated < this.analyzeAfterItems) return;
    await this.data.transaction(PLATFORM, 'prom:analyze', async (tx) => {
      const known = Number((await tx.client.query("SELECT reltuples FROM pg_class WHERE oid = 'prom_item'::regclass")).rows[0].reltuples);
      if (known < 0 || itemsCreated >= 0.1 * known) await tx.client.query('ANALYZE prom_item');
    });
  }
}

/** Fewer new items than this leave the statistics as they are (a handful of items plan well on any). */
export const ANALYZE_AFTER_ITEMS = 500;

/** The day's new items of every schedule, staged in a temporary table of the run's transaction until they are collected. */
const STAGED = 'prom_item_new';
const STAGED_COLUMNS = `registry text, case_id bigint, schedule text, timepoint text, instrument text, person_id bigint, recall text,
  due_date date, opens_on date, closes_on date, party text, response_id bigint, invitation_id bigint`;

/** Items for the cases whose windows are open today and have none yet, with the answer that already answers each (collect once). */
async function stageItems(tx: PersonTx, registry: Registry, s: CompiledSchedule, today: string): Promise<void> {
  const lit = (v: string) => tx.client.escapeLiteral(v);
  const tps = s.def.timepoints;
  const timepoints = tps
    .map((t) => `(${lit(t.id)}, ${t.offset.months}, ${t.offset.days}, ${t.window.before}, ${t.window.after}, ${lit(t.recall)})`)
    .join(', ');
  const rules = s.rules.map((r) => `(${lit(r.instrument)}, ARRAY[${r.at.map(lit).join(', ')}]::text[], (${r.whenSql}) IS TRUE)`).join(', ');
  // The anchor dates that can have an open window today, per time point: a range the index can
  // read (a superset, one month wide for calendar months); the exact test follows.
  const ranges = tps
    .map(
      (
        t,
      ) => `(${s.anchorSql} BETWEEN ($1::date - make_interval(months => ${t.offset.months + 1}, days => ${t.offset.days + t.window.after + 1}))::date
      AND ($1::date - make_interval(months => ${Math.max(0, t.offset.months - 1)}, days => ${t.offset.days - t.window.before - 1}))::date)`,
    )
    .join(' OR ');
  // A registry does not ask a patient who objected to it. A clinic's own follow-up is the patient's
  // care, not the registry's: the objection does not stop it; it asks only at its units.
  const objection =
    s.party === 'registry'
      ? `AND NOT EXISTS (SELECT 1 FROM prom_objection o WHERE o.person_id = a.person_id AND o.registry = ${lit(registry.id)})`
      : '';
  const units = s.units ? `AND a.unit_resh IN (${s.units.map(lit).join(', ')})` : '';
  // An answer already given within the item's window (for another registry or time point with the
  // same instrument and recall) answers this item too: the latest such.
  await tx.client.query(
    `INSERT INTO ${STAGED} (registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, party, response_id)
     SELECT n.*, (SELECT r.id FROM prom_response r WHERE r.person_id = n.person_id AND r.instrument = n.instrument AND r.recall = n.recall
                    AND r.status = 'completed' AND (r.answered_at AT TIME ZONE 'Europe/Oslo')::date BETWEEN n.opens_on AND n.closes_on
                  ORDER BY r.answered_at DESC LIMIT 1)
     FROM (SELECT ${lit(registry.id)} AS registry, a.case_id, ${lit(s.def.id)} AS schedule, t.id AS timepoint, r.instrument, a.person_id, t.recall,
             d.due AS due_date, d.due - t.before AS opens_on, d.due + t.after AS closes_on, ${lit(s.party)} AS party
     FROM ${analyticsTable(registry)} a
     CROSS JOIN (VALUES ${timepoints}) AS t(id, months, days, before, after, recall)
     CROSS JOIN LATERAL (SELECT ((${s.anchorSql} + make_interval(months => t.months))::date + t.days) AS due) d
     CROSS JOIN LATERAL (VALUES ${rules}) AS r(instrument, at, applies)
     WHERE (${ranges}) AND (${s.populationSql}) IS TRUE
       AND r.applies AND t.id = ANY (r.at)
       AND d.due - t.before <= $1::date AND d.due + t.after >= $1::date
       AND a.deceased_date IS NULL ${units}
       ${objection}
       -- Every open window is looked at every day: those with their item already are passed over by
       -- a look-up, cheaper than an insert that conflicts (which remains for a concurrent writer).
       AND NOT EXISTS (SELECT 1 FROM prom_item x WHERE x.registry = ${lit(registry.id)} AND x.case_id = a.case_id AND x.schedule = ${lit(s.def.id)} AND x.timepoint = t.id AND x.instrument = r.instrument)
     ) n`,
    [today, ...s.params],
  );
}

/**
 * A death cancels what is open for the person; an objection cancels what is open for that registry.
 * The deceased are read once, from their own index (migration 132), and joined with what is open:
 * neither every person (a join with all of `person` read the whole table every run) nor each open
 * item's person by key (65,000 look-ups on a busy day).
 */
async function cancel(tx: PersonTx): Promise<number> {
  const DECEASED = 'SELECT id FROM person WHERE deceased_date IS NOT NULL';
  const dead = await tx.client.query(
    `UPDATE prom_item i SET status = 'cancelled', cancelled_reason = 'deceased', updated_at = now()
     WHERE i.status IN ('pending', 'invited') AND i.person_id IN (${DECEASED})`,
  );
  const objected = await tx.client.query(
    `UPDATE prom_item i SET status = 'cancelled', cancelled_reason = 'objection', updated_at = now()
     FROM prom_objection o WHERE o.person_id = i.person_id AND o.registry = i.registry AND i.party = 'registry' AND i.status IN ('pending', 'invited')`,
  );
  // An open invitation of a deceased patient, or one left with nothing to ask, is cancelled (one
  // waiting for a paper answer too: no letter goes to the dead).
  const inv = await tx.client.query(
    `UPDATE prom_invitation v SET status = 'cancelled', cancelled_reason = CASE WHEN x.deceased THEN 'deceased' ELSE 'nothing-to-ask' END, updated_at = now()
     FROM (SELECT o.id, o.person_id IN (${DECEASED}) AS deceased FROM prom_invitation o WHERE o.status IN ('ordered', 'sent', 'reminded', 'not-reachable')) x
     WHERE v.id = x.id
       AND (x.deceased OR NOT EXISTS (SELECT 1 FROM prom_item i WHERE i.invitation_id = v.id AND i.status IN ('invited', 'answered')))`,
  );
  return (dead.rowCount ?? 0) + (objected.rowCount ?? 0) + (inv.rowCount ?? 0);
}

/**
 * Collects the staged new items: those not answered already join the patient's open invitation, or
 * one new invitation per patient; then each is written once, in that state.
 */
async function collectStaged(
  tx: PersonTx,
  schedules: CompiledSchedule[],
  today: string,
  now: Date,
): Promise<{ created: number; shared: number; invitations: number; invited: number; persons: number[] }> {
  const db = tx.client;
  // Its statistics, so that the joins below are planned for its size (a temporary table has none).
  await db.query(`ANALYZE ${STAGED}`);
  // Join the patient's open invitation, which then stays open until the latest window it asks for.
  await db.query(
    `UPDATE ${STAGED} n SET invitation_id = v.id FROM prom_invitation v
     WHERE v.person_id = n.person_id AND v.status IN ('ordered', 'sent', 'reminded') AND n.response_id IS NULL`,
  );
  await db.query(
    `UPDATE prom_invitation v SET closes_on = m.closes, updated_at = now()
     FROM (SELECT invitation_id, max(closes_on) AS closes FROM ${STAGED} WHERE invitation_id IS NOT NULL GROUP BY invitation_id) m
     WHERE m.invitation_id = v.id AND m.closes > v.closes_on`,
  );
  // One new invitation per patient for the rest.
  const created = await db.query(
    `WITH ins AS (${newInvitations(STAGED, 'n.response_id IS NULL AND n.invitation_id IS NULL')})
     UPDATE ${STAGED} n SET invitation_id = ins.id FROM ins WHERE n.person_id = ins.person_id AND n.response_id IS NULL AND n.invitation_id IS NULL
     RETURNING n.person_id, ins.id AS invitation`,
    [today, JSON.stringify(invitationMeta(schedules)), now],
  );
  const written = await db.query(
    `WITH ins AS (
       INSERT INTO prom_item (registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, party,
                              status, invitation_id, response_id)
       SELECT registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, party,
              CASE WHEN response_id IS NOT NULL THEN 'answered' WHEN invitation_id IS NOT NULL THEN 'invited' ELSE 'pending' END,
              CASE WHEN response_id IS NULL THEN invitation_id END, response_id
       FROM ${STAGED}
       ON CONFLICT DO NOTHING RETURNING status)
     SELECT count(*)::int AS created, count(*) FILTER (WHERE status = 'answered')::int AS shared,
            count(*) FILTER (WHERE status = 'invited')::int AS invited, (SELECT count(*)::int FROM ${STAGED}) AS staged FROM ins`,
  );
  const w = written.rows[0];
  // An item written meanwhile by another writer (an answer from outside matched to its schedule)
  // is not written again; an invitation made here for such items alone asks nothing.
  if (w.created < w.staged)
    await cancelEmpty(
      db,
      created.rows.map((r) => Number(r.invitation)),
    );
  return {
    created: w.created,
    shared: w.shared,
    invitations: new Set(created.rows.map((r) => String(r.invitation))).size,
    invited: w.invited,
    persons: [...new Set(created.rows.map((r) => Number(r.person_id)))],
  };
}

/** The schedules' invitation wording and timing, for the statement that makes invitations. */
const invitationMeta = (schedules: CompiledSchedule[]) =>
  schedules.map((s) => ({
    registry: s.registry,
    schedule: s.def.id,
    purpose: s.def.purpose,
    reminder: s.def.reminderDays,
    expiry: s.def.expiryDays,
  }));

/**
 * One new invitation per patient among the items of `from` matching `where`, sent at 09:00
 * Norwegian time today (or now, if later), from the unit and with the purpose of the item due first.
 * The unit is the case's own (not the analytics row's, which may not yet show a move to another
 * unit), looked up once per invitation after the item due first is chosen: once per item was a
 * fifth of a busy day's invitations. Parameters: $1 today, $2 the invitation meta, $3 now.
 * Returns (id, person_id).
 */
const newInvitations = (from: string, where: string) => `
  WITH due AS (
    SELECT DISTINCT ON (n.person_id) n.person_id, n.registry, n.case_id, m.purpose, m.reminder, m.expiry,
           max(n.closes_on) OVER (PARTITION BY n.person_id) AS closes
    FROM ${from} n
    JOIN jsonb_to_recordset($2::jsonb) AS m(registry text, schedule text, purpose jsonb, reminder int, expiry int) ON m.registry = n.registry AND m.schedule = n.schedule
    WHERE ${where}
    ORDER BY n.person_id, n.due_date, n.registry, n.case_id)
  INSERT INTO prom_invitation (person_id, unit_resh, purpose, send_at, closes_on, reminder_days, expiry_days)
  SELECT d.person_id, c.unit_resh, d.purpose, greatest($3::timestamptz, ($1::date + time '${SEND_HOUR}') AT TIME ZONE 'Europe/Oslo'), d.closes, d.reminder, d.expiry
  FROM due d JOIN registry_case c ON c.registry = d.registry AND c.id = d.case_id
  ON CONFLICT DO NOTHING RETURNING id, person_id`;

/** Invitations made in this run that no item joined. */
async function cancelEmpty(db: PersonTx['client'], ids: number[]): Promise<void> {
  await db.query(
    `UPDATE prom_invitation v SET status = 'cancelled', cancelled_reason = 'nothing-to-ask', updated_at = now()
     WHERE v.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM prom_item i WHERE i.invitation_id = v.id)`,
    [ids],
  );
}

/**
 * Items left pending (no invitation could be made when they were written, or written pending by
 * an outside answer's match) and open items answered meanwhile: collected as the staged ones.
 */
async function collectPending(
  tx: PersonTx,
  schedules: CompiledSchedule[],
  today: string,
  now: Date,
): Promise<{ shared: number; invitations: number; invited: number; persons: number[] }> {
  // Collect once: an answer already given within the item's window (for another registry or time
  // point with the same instrument and recall) answers this item too.
  const shared = await tx.client.query(
    `UPDATE prom_item i SET status = 'answered', response_id = m.rid, updated_at = now()
     FROM (SELECT o.registry, o.case_id, o.schedule, o.timepoint, o.instrument,
             (SELECT r.id FROM prom_response r WHERE r.person_id = o.person_id AND r.instrument = o.instrument AND r.recall = o.recall
                AND r.status = 'completed' AND (r.answered_at AT TIME ZONE 'Europe/Oslo')::date BETWEEN o.opens_on AND o.closes_on
              ORDER BY r.answered_at DESC LIMIT 1) AS rid
           FROM prom_item o WHERE o.status IN ('pending', 'invited') AND o.opens_on <= $1::date AND o.response_id IS NULL) m
     WHERE m.rid IS NOT NULL AND i.registry = m.registry AND i.case_id = m.case_id AND i.schedule = m.schedule AND i.timepoint = m.timepoint AND i.instrument = m.instrument`,
    [today],
  );
  // Join the patient's open invitation.
  const joined = await tx.client.query(
    `UPDATE prom_item i SET status = 'invited', invitation_id = v.id, updated_at = now()
     FROM prom_invitation v WHERE v.person_id = i.person_id AND v.status IN ('ordered', 'sent', 'reminded')
       AND i.status = 'pending' AND i.opens_on <= $1::date`,
    [today],
  );
  await tx.client.query(
    `UPDATE prom_invitation v SET closes_on = m.closes, updated_at = now()
     FROM (SELECT invitation_id, max(closes_on) AS closes FROM prom_item WHERE status = 'invited' GROUP BY invitation_id) m
     WHERE m.invitation_id = v.id AND v.status IN ('ordered', 'sent', 'reminded') AND m.closes > v.closes_on`,
  );
  // One new invitation per patient for the rest.
  const created = await tx.client.query(
    `WITH ins AS (${newInvitations('prom_item', "n.status = 'pending' AND n.opens_on <= $1::date")})
     UPDATE prom_item i SET status = 'invited', invitation_id = ins.id, updated_at = now()
     FROM ins WHERE i.person_id = ins.person_id AND i.status = 'pending' AND i.opens_on <= $1::date
     RETURNING i.person_id, ins.id AS invitation`,
    [today, JSON.stringify(invitationMeta(schedules)), now],
  );
  const invitations = new Set(created.rows.map((r) => String(r.invitation)));
  const persons = [...new Set([...created.rows.map((r) => Number(r.person_id))])];
  return {
    shared: shared.rowCount ?? 0,
    invitations: invitations.size,
    invited: (joined.rowCount ?? 0) + (created.rowCount ?? 0),
    persons,
  };
}

/** Invitations past their end expire with their unanswered items; items whose window closed before they were ever invited expire too. */
async function expire(tx: PersonTx, today: string, now: Date): Promise<number> {
  // Sent ones at their end; one never sent (no channel reached the patient yet) when its windows have closed.
  const inv = await tx.client.query(
    `UPDATE prom_invitation SET status = 'expired', updated_at = now()
     WHERE (status IN ('sent', 'reminded') AND expires_at <= $1) OR (status = 'ordered' AND closes_on < $2::date) RETURNING id`,
    [now, today],
  );
  const ids = inv.rows.map((r) => r.id);
  const items = await tx.client.query(
    `UPDATE prom_item SET status = 'expired', updated_at = now()
     WHERE (status = 'invited' AND invitation_id = ANY ($1::bigint[])) OR (status = 'pending' AND closes_on < $2::date)
        -- not reachable digitally and no paper answer came before the window closed
        OR (status = 'invited' AND closes_on < $2::date AND invitation_id IN (SELECT id FROM prom_invitation WHERE status = 'not-reachable'))`,
    [ids, today],
  );
  return (inv.rowCount ?? 0) + (items.rowCount ?? 0);
}
