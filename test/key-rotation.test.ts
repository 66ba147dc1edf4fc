// Rotating the encryption key: after `keys reencrypt` nothing is under the old key, and the
// platform works without it; an interrupted run resumes.
import crypto from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decryptNin, encryptedKeyId, loadIdentityKeys } from '../src/identity/crypto.ts';
import { reencryptAll } from '../src/identity/reencrypt.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 5; i++) {
    await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture())),
    });
  }
});
afterAll(async () => {
  await t?.close();
});

it('moves every encrypted value to the new key, resumably', async () => {
  const oldKey = t.env.KVALREG_ENCRYPTION_KEY!;
  const env = {
    KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_ENCRYPTION_KEY_ID: 'k2',
    KVALREG_ENCRYPTION_KEYS_OLD: `k1:${oldKey}`,
    KVALREG_HASH_KEY: t.env.KVALREG_HASH_KEY,
  };
  const rotated = loadIdentityKeys({ env, keyFile: '/nonexistent', log: () => undefined });
  const pool = t.platform.db.pool;
  const before = (await pool.query('SELECT nin_enc FROM person')).rows.map((r) => decryptNin(rotated, r.nin_enc));
  // A run interrupted after its first batch…
  const first = await reencryptAll(pool, rotated, {
    batch: 2,
    onProgress: (p) => {
      if (p.table === 'person' && p.done >= 2) throw new Error('interrupted');
    },
  }).catch((e) => e);
  expect(first).toBeInstanceOf(Error);
  expect((await pool.query('SELECT nin_enc FROM person')).rows.filter((r) => encryptedKeyId(r.nin_enc) === 'k2').length).toBe(2);
  // …is resumed by the next.
  await reencryptAll(pool, rotated, { batch: 2 });
  const rows = (await pool.query('SELECT nin_enc FROM person ORDER BY id')).rows;
  expect(rows.every((r) => encryptedKeyId(r.nin_enc) === 'k2')).toBe(true);
  const bodies = (await pool.query('SELECT body_enc FROM inbox_message WHERE body_enc IS NOT NULL')).rows;
  expect(bodies.every((r) => encryptedKeyId(r.body_enc) === 'k2')).toBe(true);
  // Without the old key, everything still reads, and reads the same.
  const newOnly = loadIdentityKeys({ env: { ...env, KVALREG_ENCRYPTION_KEYS_OLD: '' }, keyFile: '/nonexistent', log: () => undefined });
  const after = (await pool.query('SELECT nin_enc FROM person')).rows.map((r) => decryptNin(newOnly, r.nin_enc));
  expect(after.sort()).toEqual(before.sort());
});
