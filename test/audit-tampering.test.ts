// The audit trail against the database's owner: someone with superuser SQL (who can switch the
// guards off, change, delete, insert and truncate) and the identity hash key, but not the audit
// key. Each rewrite below once passed `kvalreg audit verify` (or was caught only with a witness);
// now each is reported by its own kind and label, and the command exits 1.
//   - re-sealing the trail with the legacy key (derived from the identity hash key);
//   - emptying the trail; removing its newest events; rolling the database back to an earlier,
//     self-consistent state;
//   - inserting an unsealed event with an earlier time, for the sealer to seal.
// And what must keep working: a genuine trail with legacy seals is pinned once and verifies; a
// restored backup is accepted with the audit key; a slow honest transaction is not called back-dated.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { acceptRestore, AuditSealRefused, pruneAudit, sealAudit, verifyAudit, writeEvents, type AuditEvent } from '../src/audit/trail.ts';
import type { AuditKeys } from '../src/audit/keys.ts';
import { auditAcceptRestoreCommand, auditVerifyCommand } from '../src/cli/audit.ts';
import { loadConfig } from '../src/config.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const event = (i: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
  actor: `user:reader-${i}`,
  role: 'unit-reader',
  unit: '8201101',
  personId: 1000 + i,
  action: 'read',
  object: `fracture/case/${i}`,
  purpose: 'case:read',
  outcome: 'ok',
  client: '10.0.0.1',
  registry: 'fracture',
  ...over,
});
/** Honest events, written the way the data-access door writes them. */
async function write(t: TestPlatform, n: number, from = 0) {
  await writeEvents(
    t.platform.db.pool,
    Array.from({ length: n }, (_, i) => event(from + i)),
  );
}

/** As the owner would: switch every guard off, do it, switch them on again. */
async function asOwner(t: TestPlatform, sql: string, params: unknown[] = []) {
  const pool = t.platform.db.pool;
  const client = await pool.connect();
  try {
    await client.query('BEGIN; ALTER TABLE audit_event DISABLE TRIGGER USER; ALTER TABLE audit_checkpoint DISABLE TRIGGER USER');
    const r = await client.query(sql, params);
    await client.query('ALTER TABLE audit_event ENABLE TRIGGER USER; ALTER TABLE audit_checkpoint ENABLE TRIGGER USER; COMMIT');
    return r.rows;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Seals rows with the legacy key exactly as the platform did before the trail had a key of its
 * own: HMAC-SHA-256 under HKDF(identity hash key, "kvalreg audit chain") over the previous hash and
 * the event's fields, key id empty. Whoever holds the identity hash key can do this.
 */
async function sealWithLegacyKey(t: TestPlatform, fromSeq: number, toSeq = Number.MAX_SAFE_INTEGER) {
  const legacy = Buffer.from(crypto.hkdfSync('sha256', t.platform.keys.hashKey, Buffer.alloc(0), 'kvalreg audit chain', 32));
  const pool = t.platform.db.pool;
  const before = (await pool.query('SELECT hash FROM audit_event WHERE seq = $1', [fromSeq - 1])).rows[0];
  let prev: Buffer = before?.hash ?? Buffer.alloc(32);
  const rows = (
    await pool.query(
      `SELECT id, seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, actor, role, unit, person_id, action, object, purpose, outcome, client
    FROM audit_event WHERE seq BETWEEN $1 AND $2 ORDER BY seq`,
      [fromSeq, toSeq],
    )
  ).rows;
  const updates = rows.map((r) => {
    const hash = crypto
      .createHmac('sha256', legacy)
      .update(prev)
      .update(
        JSON.stringify([
          Number(r.seq),
          Number(r.id),
          r.at,
          r.actor,
          r.role,
          r.unit,
          r.person_id === null ? null : Number(r.person_id),
          r.action,
          r.object,
          r.purpose,
          r.outcome,
          r.client,
        ]),
      )
      .digest();
    const u = { id: Number(r.id), prev: prev.toString('hex'), hash: hash.toString('hex') };
    prev = hash;
    return u;
  });
  await asOwner(
    t,
    `UPDATE audit_event a SET key_id = NULL, sealed_at = NULL, watermark = NULL, prev_hash = decode(u.prev, 'hex'), hash = decode(u.hash, 'hex')
    FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, prev text, hash text) WHERE a.id = u.id`,
    [JSON.stringify(updates)],
  );
}

/** `kvalreg audit verify` in this process: its printed lines and exit code. */
async function verifyCommand(t: TestPlatform, env: NodeJS.ProcessEnv = {}): Promise<{ out: string; exitCode: number }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  process.exitCode = undefined;
  try {
    await auditVerifyCommand(loadConfig({ ...t.env, ...env }));
    return { out: log.mock.calls.map((c) => String(c[0])).join('\n'), exitCode: Number(process.exitCode ?? 0) };
  } finally {
    log.mockRestore();
    process.exitCode = undefined;
  }
}

const kinds = async (t: TestPlatform, keys: AuditKeys = t.platform.auditKeys) =>
  (await verifyAudit(t.platform.db.pool, keys)).problems.map((p) => p.kind);

// One fresh platform (database and data folder, so also the sealer's state file) per test.
let t: TestPlatform;
const opened: TestPlatform[] = [];
async function fresh(): Promise<TestPlatform> {
  t = await testPlatform();
  opened.push(t);
  return t;
}
afterEach(async () => {
  for (const p of opened.splice(0)) await p.close();
});

describe('legacy-key seals', () => {
  it('refuses a trail rewritten and re-sealed with the legacy key: the identity hash key no longer makes it "intact"', async () => {
    await fresh();
    await write(t, 5);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    expect((await verifyCommand(t)).exitCode).toBe(0);
    // Rewrite one event and re-seal the whole trail with the key derived from the hash key.
    await asOwner(t, "UPDATE audit_event SET actor = 'user:someone-else' WHERE seq = 2");
    await sealWithLegacyKey(t, 1);
    const v = await verifyAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(v.ok).toBe(false);
    expect(v.broken).toMatchObject({ kind: 'legacy-seal', seq: 1, problem: expect.stringMatching(/legacy key.*no migration checkpoint/) });
    // The sealer will not build on it either.
    await write(t, 1, 10);
    await expect(sealAudit(t.platform.db.pool, t.platform.auditKeys)).rejects.toBeInstanceOf(AuditSealRefused);
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(/LEGACY-KEY SEAL REFUSED at event 1/);
    expect(cli.out).toMatch(/TRAIL RE-SEALED at event 5/); // and the head no longer has the hash the sealer signed
    expect(cli.out).toMatch(/Sealing was refused until this is explained: 1 events wait unsealed/);
  });

  it('pins a genuine trail of legacy seals once under the audit key, and refuses any legacy seal it did not pin', async () => {
    await fresh();
    // A trail sealed before the platform had an audit key: events 1-4 with the legacy key.
    await write(t, 4);
    await asOwner(
      t,
      'UPDATE audit_event a SET seq = n.seq FROM (SELECT id, row_number() OVER (ORDER BY id) AS seq FROM audit_event) n WHERE a.id = n.id',
    );
    await sealWithLegacyKey(t, 1);
    // The first sealing under the audit key pins them, and seals on after them.
    await write(t, 2, 4);
    expect(await sealAudit(t.platform.db.pool, t.platform.auditKeys)).toBe(2);
    const cp = await t.platform.db.pool.query("SELECT kind, seq FROM audit_checkpoint WHERE kind = 'legacy'");
    expect(cp.rows).toEqual([{ kind: 'legacy', seq: 4 }]);
    const ok = await verifyAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(ok).toMatchObject({ ok: true, checked: 6, legacy: { seq: 4 } });
    expect((await verifyCommand(t)).out).toMatch(/intact: 6 events[\s\S]*Events up to 4 were sealed with the legacy key/);

    // The hash key's holder rewrites a legacy event and re-seals the legacy part: it no longer
    // ends in the pinned hash (and the first event after it no longer links to it).
    const saved = await t.platform.db.pool.query('SELECT id, actor, prev_hash, hash FROM audit_event WHERE seq <= 4 ORDER BY seq');
    await asOwner(t, "UPDATE audit_event SET actor = 'user:someone-else' WHERE seq = 2");
    await sealWithLegacyKey(t, 1, 4);
    expect(await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).toMatchObject({
      ok: false,
      broken: { kind: 'legacy-seal', seq: 4, problem: expect.stringMatching(/no longer end in the hash the migration checkpoint pinned/) },
    });
    // Put it back; then re-seal everything after the pinned part with the legacy key instead.
    for (const r of saved.rows)
      await asOwner(t, 'UPDATE audit_event SET actor = $2, prev_hash = $3, hash = $4 WHERE id = $1', [r.id, r.actor, r.prev_hash, r.hash]);
    expect((await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).ok).toBe(true);
    await sealWithLegacyKey(t, 5);
    expect(await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).toMatchObject({
      ok: false,
      broken: {
        kind: 'legacy-seal',
        seq: 5,
        problem: expect.stringMatching(/after the last legacy seal pinned by the migration checkpoint \(event 4\)/),
      },
    });
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(/LEGACY-KEY SEAL REFUSED at event 5/);
  });

  it('finds a forged migration checkpoint', async () => {
    await fresh();
    await write(t, 3);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await sealWithLegacyKey(t, 1);
    // Without the audit key, a checkpoint for the re-sealed events cannot be signed.
    await asOwner(
      t,
      `INSERT INTO audit_checkpoint (kind, seq, hash, event_at, key_id, signature)
      SELECT 'legacy', seq, hash, 'x', 'a1', sha256(hash) FROM audit_event WHERE seq = 3`,
    );
    const v = await verifyAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(v.problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['checkpoint-forged', 'legacy-seal']));
    expect((await verifyCommand(t)).out).toMatch(/CHECKPOINT FORGED at event 3: the migration checkpoint of the legacy seals/);
  });
});

describe('an emptied or shortened trail', () => {
  it('reports an emptied trail instead of "intact: 0 events"', async () => {
    await fresh();
    await write(t, 4);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await asOwner(t, 'TRUNCATE audit_event');
    const v = await verifyAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(v).toMatchObject({
      ok: false,
      checked: 0,
      broken: {
        kind: 'emptied',
        seq: 4,
        problem: expect.stringMatching(/holds no sealed event, but the signed trail state in the database says 4 events had been sealed/),
      },
    });
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(/TRAIL EMPTIED at event 4/);
    expect(cli.out).not.toMatch(/intact/);
  });

  it("reports an emptied trail whose signed state and checkpoints were removed with it, from the sealer's file outside the database", async () => {
    await fresh();
    await write(t, 3);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await asOwner(t, 'TRUNCATE audit_event; DELETE FROM audit_trail_state; DELETE FROM audit_checkpoint');
    expect(await kinds(t)).toEqual(['state-removed', 'emptied']);
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(
      /SIGNED STATE REMOVED[\s\S]*TRAIL EMPTIED at event 3: the trail holds no sealed event, but the sealer's own signed record outside the database/,
    );
    // New events are not sealed onto the emptied trail as if it were new.
    await write(t, 1);
    await expect(sealAudit(t.platform.db.pool, t.platform.auditKeys)).rejects.toThrow(/emptied/);
    // Only the audit key's holder can start it again (a database set up anew beside the old files).
    expect(await acceptRestore(t.platform.db.pool, t.platform.auditKeys, 'a new, empty database on purpose')).toEqual({
      seq: 0,
      stateSeq: 3,
    });
    expect(await sealAudit(t.platform.db.pool, t.platform.auditKeys)).toBe(2); // the waiting event and the restore's own
    expect(await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).toMatchObject({
      ok: true,
      checked: 2,
      restores: [{ seq: 0, stateSeq: 3, reason: 'a new, empty database on purpose' }],
    });
  });

  it('reports removed newest events without a witness', async () => {
    await fresh();
    await write(t, 6);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await asOwner(t, 'DELETE FROM audit_event WHERE seq >= 5');
    const v = await verifyAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(v).toMatchObject({
      ok: false,
      checked: 4,
      broken: { kind: 'shortened', seq: 6, problem: expect.stringMatching(/ends at event 4.*events 5 to 6 were removed/) },
    });
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(/TRAIL SHORTENED at event 6/);
  });

  it('reports a database rolled back to an earlier, self-consistent state (signed state row included), and accepts a restore only with the audit key', async () => {
    await fresh();
    const pool = t.platform.db.pool;
    await write(t, 3);
    await sealAudit(pool, t.platform.auditKeys);
    await pool.query('CREATE TABLE kept_state AS SELECT * FROM audit_trail_state');
    await write(t, 3, 3);
    await sealAudit(pool, t.platform.auditKeys);
    // The owner puts back the earlier state row (validly signed, kept from then) and removes what came after.
    await asOwner(t, 'DELETE FROM audit_event WHERE seq > 3');
    await pool.query('DELETE FROM audit_trail_state; INSERT INTO audit_trail_state SELECT * FROM kept_state');
    expect((await verifyAudit(pool, t.platform.auditKeys)).problems).toEqual([
      expect.objectContaining({
        kind: 'rolled-back',
        seq: 6,
        problem: expect.stringMatching(/ends at event 3, but the sealer's own signed record outside the database .* says events up to 6/),
      }),
    ]);
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(/DATABASE ROLLED BACK at event 6/);

    // A real restore from a backup looks the same: the key's holder records it, with the reason.
    await expect(acceptRestore(pool, t.platform.auditKeys, '  ')).rejects.toThrow(/give the reason/);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await auditAcceptRestoreCommand(loadConfig(t.env), { reason: 'restored the backup of the night before after a disk failure' });
      expect(String(log.mock.calls.at(-1)![0])).toMatch(
        /signed restore checkpoint: the trail goes on from event 3 \(events up to 6 had been sealed/,
      );
    } finally {
      log.mockRestore();
    }
    const after = await verifyCommand(t);
    expect(after.exitCode).toBe(0);
    expect(after.out).toMatch(
      /intact: 4 events[\s\S]*A restore from a backup was accepted at .*: the trail continued from event 3, though events up to 6 had been sealed \(restored the backup of the night before/,
    );
    expect((await pool.query("SELECT action FROM audit_event WHERE actor = 'platform:audit-restore'")).rows).toEqual([
      { action: 'accept-restore' },
    ]);
    // Nothing more to accept now; and a forged restore checkpoint explains nothing.
    await expect(acceptRestore(pool, t.platform.auditKeys, 'again')).rejects.toThrow(/nothing to accept/);
    await asOwner(t, "UPDATE audit_checkpoint SET note = 'a different reason' WHERE kind = 'restore'");
    expect(await kinds(t)).toContain('checkpoint-forged');
  });

  it('reports a signed state put back from earlier even where the trail has not grown since', async () => {
    await fresh();
    const pool = t.platform.db.pool;
    await write(t, 2);
    await sealAudit(pool, t.platform.auditKeys);
    await pool.query('CREATE TABLE kept_state AS SELECT * FROM audit_trail_state');
    await sleep(20);
    // Nothing new to seal: the sealer moves its watermark on (it does when idle for a minute).
    expect(await sealAudit(pool, t.platform.auditKeys, { watermarkRefreshMs: 1 })).toBe(0);
    expect(
      (await pool.query('SELECT (SELECT watermark FROM audit_trail_state) > (SELECT watermark FROM kept_state) AS moved')).rows[0].moved,
    ).toBe(true);
    expect((await verifyAudit(pool, t.platform.auditKeys)).ok).toBe(true);
    // An older watermark would let an event be back-dated further: the owner puts the earlier state back.
    await pool.query('DELETE FROM audit_trail_state; INSERT INTO audit_trail_state SELECT * FROM kept_state');
    expect((await verifyAudit(pool, t.platform.auditKeys)).problems).toEqual([
      expect.objectContaining({
        kind: 'rolled-back',
        problem: expect.stringMatching(/state in the database was written at .*, before the sealer's own record/),
      }),
    ]);
    await expect(sealAudit(pool, t.platform.auditKeys)).rejects.toBeInstanceOf(AuditSealRefused);
  });

  it('does not accept a restore over a chain that was changed', async () => {
    await fresh();
    await write(t, 4);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await asOwner(t, "UPDATE audit_event SET actor = 'user:nobody' WHERE seq = 2; DELETE FROM audit_event WHERE seq = 4");
    await expect(acceptRestore(t.platform.db.pool, t.platform.auditKeys, 'restored')).rejects.toThrow(
      /broken at event 2.*nothing was recorded/,
    );
  });

  it('reports a removed or forged signed state', async () => {
    await fresh();
    await write(t, 2);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await t.platform.db.pool.query('UPDATE audit_trail_state SET seq = 1');
    expect(await kinds(t)).toEqual(['state-forged']);
    expect((await verifyCommand(t)).out).toMatch(
      /SIGNED STATE FORGED at event 1: the signed trail state \(database\) does not match its signature/,
    );
    await t.platform.db.pool.query('DELETE FROM audit_trail_state');
    expect(await kinds(t)).toEqual(['state-removed']);
    expect((await verifyCommand(t)).out).toMatch(/SIGNED STATE REMOVED at event 2/);
  });

  it('verifies a new platform with no events as intact, and a pruned-to-nothing trail as intact', async () => {
    await fresh();
    const first = await verifyCommand(t);
    expect(first).toMatchObject({ exitCode: 0, out: expect.stringMatching(/intact: 0 events/) });
    await write(t, 2);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    expect((await pruneAudit(t.platform.db.pool, t.platform.auditKeys, 1, new Date(Date.now() + 2 * 86_400_000))).pruned).toBe(2);
    expect((await verifyCommand(t)).exitCode).toBe(0);
  });
});

describe('back-dating', () => {
  it('seals an unsealed event inserted with an earlier time as what it is, and verify reports it', async () => {
    await fresh();
    const pool = t.platform.db.pool;
    await write(t, 3);
    await sealAudit(pool, t.platform.auditKeys);
    await sleep(20);
    await write(t, 2, 3);
    await sealAudit(pool, t.platform.auditKeys);
    // The owner goes around the insert trigger to choose the time (a day ago) and an early id.
    await asOwner(
      t,
      `INSERT INTO audit_event (id, at, actor, role, action, object, purpose, outcome, registry)
      VALUES (-1, now() - interval '1 day', 'user:registrar-sus', 'unit-registrar', 'read', 'fracture/case/1', 'case:read', 'ok', 'fracture')`,
    );
    await write(t, 1, 5);
    expect(await sealAudit(pool, t.platform.auditKeys)).toBe(2);
    // The sealer gave it its place (after everything sealed before) and its seal time.
    const row = (await pool.query("SELECT seq, sealed_at > at + interval '23 hours' AS late FROM audit_event WHERE id = -1")).rows[0];
    expect(row).toEqual({ seq: 6, late: true });
    const v = await verifyAudit(pool, t.platform.auditKeys);
    expect(v.checked).toBe(7); // the chain itself holds …
    expect(v.problems).toEqual([
      expect.objectContaining({
        kind: 'back-dated',
        seq: 6,
        id: -1,
        problem: expect.stringMatching(/says it happened at .*, but every event written before .* had already been sealed when it was/),
      }),
    ]);
    const cli = await verifyCommand(t);
    expect(cli.exitCode).toBe(1);
    expect(cli.out).toMatch(/BACK-DATED EVENT at event 6 \(row id -1\)/);
    // … and a back-dated event is evidence: the trail is not pruned over it.
    await expect(pruneAudit(pool, t.platform.auditKeys, 1, new Date(Date.now() + 2 * 86_400_000))).rejects.toThrow(
      /broken at event 6.*nothing was pruned/,
    );
  });

  it('reports an event dated after it was sealed', async () => {
    await fresh();
    await write(t, 1);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await asOwner(
      t,
      `INSERT INTO audit_event (at, actor, action, object, purpose, outcome) VALUES (now() + interval '1 day', 'user:x', 'read', 'x', 'x', 'ok')`,
    );
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(await kinds(t)).toEqual(['forward-dated']);
    expect((await verifyCommand(t)).out).toMatch(/FORWARD-DATED EVENT at event 2/);
  });

  it('does not call an honest event back-dated when its transaction committed after later events were sealed', async () => {
    await fresh();
    const pool = t.platform.db.pool;
    await write(t, 1);
    await sealAudit(pool, t.platform.auditKeys);
    // A slow transaction writes its event, then works on while other events are written and sealed.
    const slow = await pool.connect();
    try {
      await slow.query('BEGIN');
      await writeEvents(slow, [event(100, { actor: 'user:slow' })]);
      for (let i = 0; i < 3; i++) {
        await sleep(30);
        await write(t, 1, 10 + i);
        await sealAudit(pool, t.platform.auditKeys);
      }
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    await sealAudit(pool, t.platform.auditKeys);
    const r = (await pool.query("SELECT seq, at < watermark AS before_watermark FROM audit_event WHERE actor = 'user:slow'")).rows[0];
    expect(r).toEqual({ seq: 5, before_watermark: true }); // it is older than its watermark, within the tolerance
    expect(await verifyAudit(pool, t.platform.auditKeys)).toMatchObject({ ok: true, checked: 5 });
  });

  it('raises no false alarm while writers, sealers and verifiers run at once', async () => {
    await fresh();
    const pool = t.platform.db.pool;
    let writing = true;
    const seen: string[] = [];
    const writer = async (w: number) => {
      for (let i = 0; i < 25; i++) {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          await writeEvents(c, [event(w * 100 + i), event(w * 100 + i, { action: 'update' })]);
          await sleep(Math.random() * 15); // work after the event is written, before the commit
          await c.query('COMMIT');
        } finally {
          c.release();
        }
      }
    };
    const sealer = async () => {
      while (writing) {
        await sealAudit(pool, t.platform.auditKeys, { watermarkRefreshMs: 5 });
        await sleep(5);
      }
    };
    const verifier = async () => {
      while (writing) {
        seen.push(...(await verifyAudit(pool, t.platform.auditKeys)).problems.map((p) => `${p.kind}: ${p.problem}`));
      }
    };
    const background = Promise.all([sealer(), sealer(), verifier()]);
    await Promise.all([0, 1, 2].map(writer));
    writing = false;
    await background;
    await sealAudit(pool, t.platform.auditKeys);
    expect(seen).toEqual([]);
    expect(await verifyAudit(pool, t.platform.auditKeys)).toMatchObject({ ok: true, checked: 150, unsealed: 0 });
  });

  it('covers the seal time and watermark by the seal: changing them is a changed event', async () => {
    await fresh();
    await write(t, 2);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await sleep(10);
    await write(t, 1, 2);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await asOwner(t, "UPDATE audit_event SET watermark = watermark - interval '2 days' WHERE seq = 3");
    expect(await kinds(t)).toEqual(['changed']);
  });
});

describe('`kvalreg audit verify` as a process', () => {
  let u: TestPlatform;
  beforeAll(async () => {
    u = await testPlatform();
    for (let i = 0; i < 2; i++) {
      const res = await u.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${u.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(ehrBundle(fracture())),
      });
      expect(res.statusCode).toBe(200);
    }
    await sealAudit(u.platform.db.pool, u.platform.auditKeys);
  });
  afterAll(async () => {
    await u?.close();
  });

  it('exits 1 naming an emptied trail', async () => {
    await asOwner(u, 'TRUNCATE audit_event');
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'verify'], {
      env: { ...process.env, ...u.env, LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    const err = await run.then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err, 'the command exited 0 on an emptied trail').not.toBeNull();
    expect(err!.code).toBe(1);
    expect(err!.stdout).toMatch(/BROKEN[\s\S]*TRAIL EMPTIED at event \d+/);
    expect(fs.existsSync(u.platform.auditKeys.stateFile)).toBe(true);
  }, 150_000);
});
