// A PROM item's references to its case and its invitation are checked once per statement
// (migration 130) instead of by two foreign keys checked per row. These tests hold the replacement
// to everything the keys guaranteed, the way a busy platform would break it: a statement of many
// rows with one bad one, an update that changes a reference, deletes of cases, invitations and
// persons, a changed key, and the two races of a write against a delete on two connections.
// Each passes with the foreign keys; with the keys dropped and no triggers in their place, all but the
// changed key fail (other tables' keys refuse that one too).
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { captureFracture } from './helpers/capture.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;

const addWrist = (birth: string, injury: string) =>
  captureFracture(t, fracture({ nin: nin(birth, 'female'), injuryDateTime: injury, firstContact: injury, aoCode: '2R3A2' }));

let main: { caseId: number; personId: number }, invitationId: number;
const spare: Array<{ caseId: number; personId: number }> = [];
beforeAll(async () => {
  t = await testPlatform();
  main = await addWrist('1941-02-03', '2011-03-01T10:00:00+01:00');
  spare.push(
    await addWrist('1942-04-05', '2011-03-01T11:00:00+01:00'),
    await addWrist('1943-06-07', '2011-03-01T12:00:00+01:00'),
    await addWrist('1944-08-09', '2011-03-01T13:00:00+01:00'),
  );
  await t.platform.analytics.refresh();
  await t.platform.prom.runDue(new Date('2011-03-02T08:00:00Z'));
  invitationId = Number((await q('SELECT invitation_id FROM prom_item WHERE case_id = $1 LIMIT 1', [main.caseId]))[0].invitation_id);
  expect(invitationId).toBeGreaterThan(0);
});
afterAll(async () => {
  await t?.close();
});

/** Items like those the scheduler wrote for the main case (one per instrument), for another case, time point and invitation. */
const itemLike = (caseSql: string, invitationSql: string, timepoint: string) =>
  `SELECT registry, ${caseSql}, schedule, ${timepoint}, instrument, person_id, recall, due_date, opens_on, closes_on, party, 'invited', ${invitationSql}
   FROM (SELECT DISTINCT ON (instrument) * FROM prom_item WHERE case_id = ${main.caseId} ORDER BY instrument, timepoint) x`;
const INSERT = `INSERT INTO prom_item (registry, case_id, schedule, timepoint, instrument, person_id, recall, due_date, opens_on, closes_on, party, status, invitation_id)`;
const itemCount = async () => Number((await q('SELECT count(*) FROM prom_item'))[0].count);

it('refuses a statement of many items when one names a case or an invitation that does not exist, and writes none of them', async () => {
  const before = await itemCount();
  // Three rows per instrument: two good, one naming a case that never existed.
  await expect(
    q(
      `${INSERT} ${itemLike('case_id', 'invitation_id', "'t-a'")} UNION ALL ${itemLike('case_id', 'invitation_id', "'t-b'")}
       UNION ALL ${itemLike('999999999', 'invitation_id', "'t-c'")}`,
    ),
  ).rejects.toMatchObject({
    code: '23503',
    message: expect.stringMatching(/reference to its case/),
    detail: expect.stringMatching(/999999999/),
  });
  await expect(
    q(`${INSERT} ${itemLike('case_id', 'invitation_id', "'t-a'")} UNION ALL ${itemLike('case_id', '999999999', "'t-b'")}`),
  ).rejects.toMatchObject({ code: '23503', message: expect.stringMatching(/reference to its invitation/) });
  expect(await itemCount()).toBe(before);
  // The good ones alone are written.
  await q(`${INSERT} ${itemLike('case_id', 'invitation_id', "'t-a'")}`);
  expect(await itemCount()).toBeGreaterThan(before);
});

it('checks an update that gives an item another case or invitation, and lets one that keeps them through', async () => {
  await expect(q('UPDATE prom_item SET invitation_id = 999999999 WHERE case_id = $1', [main.caseId])).rejects.toMatchObject({
    code: '23503',
  });
  await expect(q('UPDATE prom_item SET case_id = 999999999 WHERE case_id = $1', [main.caseId])).rejects.toMatchObject({ code: '23503' });
  await q("UPDATE prom_item SET updated_at = now(), status = 'invited' WHERE case_id = $1", [main.caseId]);
  expect(
    Number((await q('SELECT count(*) FROM prom_item WHERE case_id = $1 AND invitation_id = $2', [main.caseId, invitationId]))[0].count),
  ).toBeGreaterThan(0);
});

/** Runs `sql` in a transaction that is rolled back, returning what `after` reads inside it. */
async function inRolledBack<T>(sql: string, params: unknown[], after: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await t.platform.db.pool.connect();
  try {
    await c.query('BEGIN');
    await c.query(sql, params);
    return await after(c);
  } finally {
    await c.query('ROLLBACK');
    c.release();
  }
}

it('deleting a case deletes its items, deleting an invitation unlinks them, deleting the person (an opt-out) leaves none', async () => {
  const items = (c: pg.PoolClient, sql: string, p: unknown[]) => c.query(sql, p).then((r) => r.rows);
  expect(
    await inRolledBack('DELETE FROM registry_case WHERE registry = $1 AND id = $2', ['fracture', main.caseId], (c) =>
      items(c, 'SELECT 1 FROM prom_item WHERE case_id = $1', [main.caseId]),
    ),
  ).toEqual([]);
  expect(
    await inRolledBack('DELETE FROM prom_invitation WHERE id = $1', [invitationId], (c) =>
      items(c, 'SELECT invitation_id FROM prom_item WHERE case_id = $1', [main.caseId]),
    ),
  ).toSatisfy((rows: Array<{ invitation_id: unknown }>) => rows.length > 0 && rows.every((r) => r.invitation_id === null));
  expect(
    await inRolledBack('DELETE FROM person WHERE id = $1', [main.personId], (c) =>
      items(c, 'SELECT 1 FROM prom_item WHERE person_id = $1 UNION ALL SELECT 1 FROM prom_invitation WHERE person_id = $1', [
        main.personId,
      ]),
    ),
  ).toEqual([]);
});

it('refuses to change the key of a case or an invitation that items name', async () => {
  await expect(q('UPDATE registry_case SET id = id + 1000000000 WHERE id = $1', [main.caseId])).rejects.toMatchObject({ code: '23503' });
  await expect(q('UPDATE prom_invitation SET id = id + 1000000000 WHERE id = $1', [invitationId])).rejects.toMatchObject({ code: '23503' });
});

/** Whether a promise is still pending after `ms`. */
const stillWaiting = (p: Promise<unknown>, ms = 400) =>
  Promise.race([
    p.then(
      () => false,
      () => false,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(true), ms)),
  ]);

it('a case deleted while its item is being written waits for the write, and then takes the item with it', async () => {
  const { caseId } = spare[0];
  const writer = await t.platform.db.pool.connect();
  const deleter = await t.platform.db.pool.connect();
  try {
    await writer.query('BEGIN');
    await writer.query(`${INSERT} ${itemLike(String(caseId), 'NULL', "'race-a'")}`);
    const deleting = deleter.query('DELETE FROM registry_case WHERE registry = $1 AND id = $2', ['fracture', caseId]);
    expect(await stillWaiting(deleting)).toBe(true); // the case is locked by the item's check
    await writer.query('COMMIT');
    await deleting;
    expect(await q('SELECT 1 FROM prom_item WHERE case_id = $1', [caseId])).toEqual([]);
  } finally {
    for (const c of [writer, deleter]) {
      await c.query('ROLLBACK').catch(() => undefined); // nothing open after a failure, for the pool's next user
      c.release();
    }
  }
});

it('an item written while its case is being deleted waits for the delete, and is then refused', async () => {
  const { caseId } = spare[1];
  const writer = await t.platform.db.pool.connect();
  const deleter = await t.platform.db.pool.connect();
  try {
    await deleter.query('BEGIN');
    await deleter.query('DELETE FROM registry_case WHERE registry = $1 AND id = $2', ['fracture', caseId]);
    const writing = writer.query(`${INSERT} ${itemLike(String(caseId), 'NULL', "'race-b'")}`);
    expect(await stillWaiting(writing)).toBe(true);
    await deleter.query('COMMIT');
    await expect(writing).rejects.toMatchObject({ code: '23503' });
    expect(await q('SELECT 1 FROM prom_item WHERE case_id = $1', [caseId])).toEqual([]);
  } finally {
    for (const c of [writer, deleter]) {
      await c.query('ROLLBACK').catch(() => undefined); // nothing open after a failure, for the pool's next user
      c.release();
    }
  }
});

it('a session cannot stand a temporary table of its own in for the cases the check reads', async () => {
  const c = await t.platform.db.pool.connect();
  try {
    await c.query('CREATE TEMP TABLE registry_case (registry text, id bigint)');
    await c.query("INSERT INTO registry_case VALUES ('fracture', 999999999)");
    await expect(c.query(`${INSERT} ${itemLike('999999999', 'NULL', "'shadow'")}`)).rejects.toMatchObject({ code: '23503' });
  } finally {
    await c.query('DISCARD TEMP');
    c.release();
  }
});

/** A delete in a REPEATABLE READ transaction whose snapshot predates `between` (run on another connection). */
async function deleteAfterSnapshot(sql: string, params: unknown[], between: () => Promise<unknown>): Promise<string> {
  const c = await t.platform.db.pool.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await c.query('SELECT 1'); // the snapshot is taken here
    await between();
    return await c.query(sql, params).then(
      () => c.query('COMMIT').then(() => 'committed'),
      (e: { code: string }) => e.code,
    );
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    c.release();
  }
}

it('under REPEATABLE READ a delete that could not see an item written meanwhile fails, as a foreign key fails it, and leaves nothing dangling', async () => {
  // Found in review: the triggers' cascade read the deleting transaction's old snapshot, and the
  // item written after it survived without its case.
  const { caseId } = spare[2];
  const outcome = await deleteAfterSnapshot('DELETE FROM registry_case WHERE registry = $1 AND id = $2', ['fracture', caseId], () =>
    q(`${INSERT} ${itemLike(String(caseId), 'NULL', "'rr-a'")}`),
  );
  expect(outcome).toBe('40001');
  const [{ id }] = await q(
    `INSERT INTO prom_invitation (person_id, purpose, send_at, closes_on, reminder_days, expiry_days, status)
     VALUES ($1, '{}', now(), current_date, 7, 14, 'cancelled') RETURNING id`,
    [main.personId],
  );
  const unlinked = await deleteAfterSnapshot('DELETE FROM prom_invitation WHERE id = $1', [id], () =>
    q(`${INSERT} ${itemLike('case_id', String(id), "'rr-b'")}`),
  );
  expect(unlinked).toBe('40001');
  expect(
    await q(`SELECT 1 FROM prom_item i WHERE NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = i.registry AND c.id = i.case_id)
             UNION ALL SELECT 1 FROM prom_item i WHERE i.invitation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM prom_invitation v WHERE v.id = i.invitation_id)`),
  ).toEqual([]);
});
