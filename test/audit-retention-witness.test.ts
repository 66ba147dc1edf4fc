// Retention and witnesses of the audit trail: pruning removes old events behind a signed
// checkpoint that verification starts from, and only the owner can do it; the chain is sealed with
// its own key (the identity keys do not reproduce it); a signed statement of the chain's head,
// kept outside, shows later whether the newest events were removed or the chain re-sealed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkWitness, headStatement, pruneAudit, sealAudit, verifyAudit } from '../src/audit/trail.ts';
import { loadAuditKeys, witnessPublicKey, type AuditKeys } from '../src/audit/keys.ts';
import { signState, writeDbState, writeFileState } from '../src/audit/state.ts';
import { auditHeadCommand, auditPruneCommand, auditVerifyCommand } from '../src/cli/audit.ts';
import { loadConfig } from '../src/config.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const capture = async (t: TestPlatform, n: number) => {
  for (let i = 0; i < n; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture())),
    });
    expect(res.statusCode).toBe(200);
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** As an intruder with the owner's rights would: switch the guards off, change rows, switch them on. */
async function tamper(t: TestPlatform, sql: string, params: unknown[] = []) {
  const pool = t.platform.db.pool;
  await pool.query('ALTER TABLE audit_event DISABLE TRIGGER USER; ALTER TABLE audit_checkpoint DISABLE TRIGGER USER');
  try {
    await pool.query(sql, params);
  } finally {
    await pool.query('ALTER TABLE audit_event ENABLE TRIGGER USER; ALTER TABLE audit_checkpoint ENABLE TRIGGER USER');
  }
}

describe('retention', () => {
  let t: TestPlatform;
  let boundary: Date;
  beforeAll(async () => {
    t = await testPlatform();
    await capture(t, 3);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    await sleep(30);
    boundary = new Date();
    await sleep(30);
    await capture(t, 2);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
  });
  afterAll(async () => {
    await t?.close();
  });
  const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;

  it('cannot be done by the application role, nor by a plain DELETE of the owner', async () => {
    const client = await t.platform.db.pool.connect();
    try {
      await client.query("BEGIN; SET LOCAL ROLE kvalreg_app; SELECT set_config('kvalreg.audit_prune', '1000000', true)");
      await expect(client.query('DELETE FROM audit_event')).rejects.toThrow(/permission denied/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    await expect(q('DELETE FROM audit_event WHERE seq = 1')).rejects.toThrow(/append-only.*kvalreg audit prune/);
    // Claiming a boundary without a checkpoint behind it does not help either.
    const owner = await t.platform.db.pool.connect();
    try {
      await owner.query("BEGIN; SELECT set_config('kvalreg.audit_prune', '2', true)");
      await expect(owner.query('DELETE FROM audit_event WHERE seq = 1')).rejects.toThrow(/append-only/);
    } finally {
      await owner.query('ROLLBACK');
      owner.release();
    }
  });

  it('removes events older than the retention behind a signed checkpoint, and the chain still verifies', async () => {
    const before = Number((await q('SELECT count(*) FROM audit_event'))[0].count);
    const old = Number((await q('SELECT count(*) FROM audit_event WHERE at < $1', [boundary]))[0].count);
    expect(old).toBeGreaterThan(0);
    // "Now" one day after the boundary, with one day's retention: everything before the boundary goes.
    const r = await pruneAudit(t.platform.db.pool, t.platform.auditKeys, 1, new Date(boundary.getTime() + 86_400_000));
    expect(r.pruned).toBe(old);
    expect(Number((await q('SELECT count(*) FROM audit_event WHERE at < $1', [boundary]))[0].count)).toBe(0);
    expect(Number((await q('SELECT count(*) FROM audit_event'))[0].count)).toBe(before - old + 1); // + the prune event
    expect((await q("SELECT actor, action FROM audit_event WHERE action = 'prune'"))[0]).toEqual({
      actor: 'platform:audit-prune',
      action: 'prune',
    });
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    const v = await verifyAudit(t.platform.db.pool, t.platform.auditKeys);
    expect(v).toMatchObject({ ok: true, from: { seq: r.checkpoint!.seq } });
    expect(v.checked).toBe(before - old + 1);
    // New events go on the chain after the checkpoint, and pruning again finds nothing new to remove.
    await capture(t, 1);
    await sealAudit(t.platform.db.pool, t.platform.auditKeys);
    expect((await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).ok).toBe(true);
    expect((await pruneAudit(t.platform.db.pool, t.platform.auditKeys, 1, new Date(boundary.getTime() + 86_400_000))).pruned).toBe(0);
  });

  it('finds a forged checkpoint and events removed without one', async () => {
    await tamper(t, 'UPDATE audit_checkpoint SET pruned_count = pruned_count + 1');
    expect((await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).broken?.problem).toMatch(
      /checkpoint.*does not match its signature/,
    );
    await tamper(t, 'UPDATE audit_checkpoint SET pruned_count = pruned_count - 1');
    expect((await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).ok).toBe(true);
    const first = Number((await q('SELECT min(seq) AS s FROM audit_event'))[0].s);
    await tamper(t, 'DELETE FROM audit_event WHERE seq = $1', [first]);
    expect((await verifyAudit(t.platform.db.pool, t.platform.auditKeys)).broken).toMatchObject({
      seq: first,
      problem: expect.stringMatching(/missing.*deleted/),
    });
  });

  it('removes every event when all are older, and keeps the chain going from the checkpoint', async () => {
    const u = await testPlatform();
    try {
      await capture(u, 2);
      const r = await pruneAudit(u.platform.db.pool, u.platform.auditKeys, 1, new Date(Date.now() + 2 * 86_400_000));
      expect(r.pruned).toBeGreaterThan(0);
      await sealAudit(u.platform.db.pool, u.platform.auditKeys);
      const v = await verifyAudit(u.platform.db.pool, u.platform.auditKeys);
      expect(v).toMatchObject({ ok: true, checked: 1, from: { seq: r.checkpoint!.seq } });
      // Without any events left before the first one, deleting everything and its checkpoint is still found.
      await tamper(u, 'DELETE FROM audit_checkpoint');
      expect((await verifyAudit(u.platform.db.pool, u.platform.auditKeys)).broken?.problem).toMatch(
        /events 1 to \d+ are missing and no signed checkpoint/,
      );
    } finally {
      await u.close();
    }
  });

  it('refuses to prune a broken trail, so the evidence is kept', async () => {
    const u = await testPlatform();
    try {
      await capture(u, 2);
      await sealAudit(u.platform.db.pool, u.platform.auditKeys);
      await tamper(u, "UPDATE audit_event SET actor = 'user:nobody' WHERE seq = 1");
      await expect(pruneAudit(u.platform.db.pool, u.platform.auditKeys, 1, new Date(Date.now() + 2 * 86_400_000))).rejects.toThrow(
        /broken at event 1.*nothing was pruned/,
      );
      expect(Number((await u.platform.db.pool.query('SELECT count(*) FROM audit_checkpoint')).rows[0].count)).toBe(0);
    } finally {
      await u.close();
    }
  });
});

describe('sealing key and witness', () => {
  let t: TestPlatform;
  /** The platform's audit keys; from the rotation on, the rotated ones (there is no going back). */
  let keys: AuditKeys;
  beforeAll(async () => {
    t = await testPlatform({ KVALREG_AUDIT_KEY: crypto.randomBytes(32).toString('base64'), KVALREG_AUDIT_KEY_ID: 'a1' });
    keys = t.platform.auditKeys;
    await capture(t, 3);
  });
  afterAll(async () => {
    await t?.close();
  });
  const pool = () => t.platform.db.pool;

  it('seals with a key of its own: the identity keys alone cannot reproduce the seals', async () => {
    await sealAudit(pool(), t.platform.auditKeys);
    expect((await pool().query('SELECT DISTINCT key_id FROM audit_event')).rows).toEqual([{ key_id: 'a1' }]);
    const other = loadAuditKeys({
      env: { KVALREG_AUDIT_KEY: crypto.randomBytes(32).toString('base64') },
      dataDir: '/nonexistent',
      identity: t.platform.keys,
      log: () => undefined,
    });
    expect((await verifyAudit(pool(), other)).broken).toMatchObject({ seq: 1, problem: expect.stringMatching(/does not match its seal/) });
  });

  it('rotates the sealing key: old seals verify with the old key kept', async () => {
    const env = {
      KVALREG_AUDIT_KEY: crypto.randomBytes(32).toString('base64'),
      KVALREG_AUDIT_KEY_ID: 'a2',
      KVALREG_AUDIT_KEYS_OLD: `a1:${t.env.KVALREG_AUDIT_KEY}`,
    };
    const rotated = loadAuditKeys({ env, dataDir: t.env.KVALREG_DATA_DIR!, identity: t.platform.keys, log: () => undefined });
    await capture(t, 1);
    await sealAudit(pool(), rotated);
    expect(
      (await pool().query('SELECT key_id, count(*)::int AS n FROM audit_event GROUP BY key_id ORDER BY key_id')).rows.map((r) => r.key_id),
    ).toEqual(['a1', 'a2']);
    expect((await verifyAudit(pool(), rotated)).ok).toBe(true);
    const withoutOld = loadAuditKeys({
      env: { ...env, KVALREG_AUDIT_KEYS_OLD: '' },
      dataDir: t.env.KVALREG_DATA_DIR!,
      identity: t.platform.keys,
      log: () => undefined,
    });
    expect((await verifyAudit(pool(), withoutOld)).broken?.problem).toMatch(/audit key "a1", which is not loaded/);
    keys = rotated;
  });

  it('signs a statement of the head that an outsider can check, and finds removed newest events that the chain alone cannot', async () => {
    const s = await headStatement(pool(), keys);
    // The outside party checks the signature with the public key alone.
    const { signature, ...body } = s;
    const bytes = Buffer.from(JSON.stringify([body.statement, body.seq, body.id, body.hash, body.at, body.issuedAt, body.keyId]));
    expect(crypto.verify(null, bytes, crypto.createPublicKey(witnessPublicKey(keys)), Buffer.from(signature, 'base64'))).toBe(true);
    expect(await checkWitness(pool(), keys, [s])).toEqual([expect.objectContaining({ ok: true })]);
    expect((await checkWitness(pool(), keys, [{ ...s, seq: s.seq - 1 }]))[0]).toMatchObject({
      ok: false,
      note: expect.stringMatching(/does not match its signature/),
    });
    // Removing the newest events leaves a chain that proves itself, but not the sealer's signed
    // state (audit-tampering.test.ts tries every way round that), nor the witnessed head.
    await tamper(
      t,
      'CREATE TABLE removed AS SELECT * FROM audit_event WHERE seq >= $1; DELETE FROM audit_event WHERE seq >= $1'.replaceAll(
        '$1',
        String(s.seq - 1),
      ),
    );
    expect((await verifyAudit(pool(), keys)).broken).toMatchObject({ kind: 'shortened', seq: s.seq });
    expect((await checkWitness(pool(), keys, [s]))[0]).toMatchObject({
      ok: false,
      note: expect.stringMatching(/newest events were removed/),
    });
    await tamper(t, 'INSERT INTO audit_event SELECT * FROM removed; DROP TABLE removed');
    expect((await verifyAudit(pool(), keys)).ok).toBe(true);
  });

  it('finds a chain rewritten and re-sealed by someone holding the key, through the witness', async () => {
    await capture(t, 2);
    const s = await headStatement(pool(), keys);
    // Unseal from an earlier event, change it, sign a state for the shorter chain, and seal
    // everything again with the real key: only the key's holder can.
    await tamper(
      t,
      'UPDATE audit_event SET seq = NULL, prev_hash = NULL, hash = NULL, key_id = NULL, sealed_at = NULL, watermark = NULL WHERE seq >= $1',
      [s.seq - 2],
    );
    await tamper(t, "UPDATE audit_event SET actor = 'user:someone-else' WHERE id = (SELECT min(id) FROM audit_event WHERE seq IS NULL)");
    const head = (await pool().query("SELECT seq, encode(hash, 'hex') AS hash FROM audit_event WHERE seq = $1", [s.seq - 3])).rows[0];
    const forged = signState(keys, {
      seq: head.seq,
      hash: head.hash,
      watermark: null,
      sealedAt: new Date().toISOString().replace('Z', '000'),
    });
    await writeDbState(pool(), forged);
    writeFileState(keys.stateFile, (await pool().query('SELECT current_database() AS d')).rows[0].d, forged, { force: true });
    await sealAudit(pool(), keys);
    expect((await verifyAudit(pool(), keys)).ok).toBe(true);
    expect((await checkWitness(pool(), keys, [s]))[0]).toMatchObject({
      ok: false,
      note: expect.stringMatching(/no longer has the witnessed hash/),
    });
  });
});

describe('the audit commands', () => {
  it('print a head, verify against a witness file, and prune by the configured retention', async () => {
    const t = await testPlatform();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-witness-'));
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await capture(t, 2);
      const config = loadConfig(t.env);
      await auditHeadCommand(config, {});
      const statement = String(log.mock.calls.at(-1)![0]);
      expect(JSON.parse(statement)).toMatchObject({ statement: 'kvalreg audit chain head', keyId: 'a1' });
      const file = path.join(dir, 'witness.ndjson');
      fs.writeFileSync(file, `${statement}\n`);
      process.exitCode = undefined;
      await auditVerifyCommand(config, { witness: file });
      expect(log.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(
        /intact[\s\S]*All 1 witnessed head\(s\) are in the chain unchanged/,
      );
      expect(process.exitCode).toBeUndefined();
      await auditPruneCommand(loadConfig({ ...t.env, KVALREG_AUDIT_RETENTION_DAYS: '30' }), {});
      expect(String(log.mock.calls.at(-1)![0])).toMatch(/Nothing to prune: no sealed audit event is older than 30 days/);
      await tamper(t, 'DELETE FROM audit_event WHERE seq = (SELECT max(seq) FROM audit_event)');
      await auditVerifyCommand(config, { witness: file });
      expect(log.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/TRAIL SHORTENED[\s\S]*does NOT hold what the witness saw/);
      expect(process.exitCode).toBe(1);
      process.exitCode = undefined;
      expect(() => loadConfig({ ...t.env, KVALREG_AUDIT_RETENTION_DAYS: '0' })).toThrow(/KVALREG_AUDIT_RETENTION_DAYS must be 1 or more/);
      await expect(auditVerifyCommand(config, { witness: path.join(dir, 'missing.json') })).rejects.toThrow(
        /witness file .* does not exist/,
      );
    } finally {
      log.mockRestore();
      process.exitCode = undefined;
      fs.rmSync(dir, { recursive: true, force: true });
      await t.close();
    }
  });
});
