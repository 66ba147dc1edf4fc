import { describe, it, expect, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptNin, encryptedKeyId, encryptNin, loadIdentityKeys, ninHash, type IdentityKeys } from '../../src/identity/crypto.ts';

const NIN = '02016126007';

function makeKeys(current = 'k1', ids: string[] = [current]): IdentityKeys {
  return { encryptionKeys: new Map(ids.map((id) => [id, randomBytes(32)])), currentKeyId: current, hashKey: randomBytes(32) };
}

const tmpRoot = mkdtempSync(join(tmpdir(), 'kvalreg-identity-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirCounter = 0;
const freshPath = (): string => join(tmpRoot, `case-${dirCounter++}`, 'secrets', 'identity-keys.json');

describe('encryptNin / decryptNin', () => {
  it('round-trips and uses a fresh IV every time', () => {
    const keys = makeKeys();
    const a = encryptNin(keys, NIN);
    const b = encryptNin(keys, NIN);
    expect(decryptNin(keys, a)).toBe(NIN);
    expect(decryptNin(keys, b)).toBe(NIN);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from(NIN))).toBe(false);
  });

  it('has the documented layout: version, length-prefixed key id, iv, tag, ciphertext', () => {
    const keys = makeKeys('key-2024');
    const blob = encryptNin(keys, NIN);
    expect(blob[0]).toBe(1);
    expect(blob[1]).toBe(8);
    expect(blob.subarray(2, 10).toString()).toBe('key-2024');
    expect(blob.length).toBe(2 + 8 + 12 + 16 + NIN.length);
    expect(encryptedKeyId(blob)).toBe('key-2024');
  });

  it('detects tampering anywhere in the blob', () => {
    const keys = makeKeys('k1', ['k1', 'k2']);
    const blob = encryptNin(keys, NIN);
    // Key id length/id (positions 1-3) have dedicated checks; every other byte must fail authentication.
    for (let i = 4; i < blob.length; i++) {
      const t = Buffer.from(blob);
      t[i] ^= 0x01;
      expect(() => decryptNin(keys, t), `byte ${i}`).toThrow(/authentication failed/);
    }
    // The header is authenticated: relabelling the key id is caught even when
    // the other id holds the same key bytes (e.g. a key re-registered under a new id).
    const sameKey: IdentityKeys = {
      ...keys,
      encryptionKeys: new Map([
        ['k1', keys.encryptionKeys.get('k1')!],
        ['k2', keys.encryptionKeys.get('k1')!],
      ]),
    };
    const relabelled = Buffer.from(blob);
    relabelled[3] = '2'.charCodeAt(0);
    expect(() => decryptNin(sameKey, relabelled)).toThrow(/authentication failed.*"k2"/);
  });

  it('gives clear errors for unknown key ids, unknown versions and truncation', () => {
    const keys = makeKeys('k1');
    const blob = encryptNin(keys, NIN);
    expect(() => decryptNin(makeKeys('other'), blob)).toThrow(/encrypted with key "k1", which is not loaded.*KVALREG_ENCRYPTION_KEYS_OLD/);
    const v2 = Buffer.from(blob);
    v2[0] = 2;
    expect(() => decryptNin(keys, v2)).toThrow(/unsupported format version 2/);
    expect(() => decryptNin(keys, blob.subarray(0, 20))).toThrow(/too short/);
    expect(() => decryptNin(keys, Buffer.alloc(0))).toThrow(/too short/);
  });

  it('supports key rotation: old data decrypts with the old key, new data uses the current key', () => {
    const before = makeKeys('k1');
    const oldBlob = encryptNin(before, NIN);
    const after: IdentityKeys = {
      encryptionKeys: new Map([...before.encryptionKeys, ['k2', randomBytes(32)]]),
      currentKeyId: 'k2',
      hashKey: before.hashKey,
    };
    expect(decryptNin(after, oldBlob)).toBe(NIN);
    const newBlob = encryptNin(after, NIN);
    expect(encryptedKeyId(newBlob)).toBe('k2');
    expect(decryptNin(after, newBlob)).toBe(NIN);
    expect(() => decryptNin(before, newBlob)).toThrow(/not loaded/);
  });

  it('refuses to encrypt when the current key is missing', () => {
    const keys = makeKeys('k1');
    keys.currentKeyId = 'k9';
    expect(() => encryptNin(keys, NIN)).toThrow(/"k9" is not among the loaded/);
  });
});

describe('ninHash', () => {
  it('is deterministic per key and differs between keys and numbers', () => {
    const keys = makeKeys();
    const h = ninHash(keys, NIN);
    expect(h.length).toBe(32);
    expect(ninHash(keys, NIN).equals(h)).toBe(true);
    expect(ninHash({ ...keys }, NIN).equals(h)).toBe(true);
    expect(ninHash(makeKeys(), NIN).equals(h)).toBe(false);
    expect(ninHash(keys, '02016126015').equals(h)).toBe(false);
  });

  it('does not depend on the encryption key (rotation keeps look-ups working)', () => {
    const keys = makeKeys('k1');
    const rotated: IdentityKeys = { ...keys, encryptionKeys: new Map([['k2', randomBytes(32)]]), currentKeyId: 'k2' };
    expect(ninHash(rotated, NIN).equals(ninHash(keys, NIN))).toBe(true);
  });
});

describe('loadIdentityKeys from the environment', () => {
  const b64 = (n = 32): string => randomBytes(n).toString('base64');
  const load = (env: NodeJS.ProcessEnv) => {
    const logs: string[] = [];
    const keys = loadIdentityKeys({ env, keyFile: freshPath(), log: (m) => logs.push(m) });
    return { keys, logs };
  };

  it('loads the keys with default and explicit key id', () => {
    const enc = b64();
    const hash = b64();
    const { keys, logs } = load({ KVALREG_ENCRYPTION_KEY: enc, KVALREG_HASH_KEY: hash });
    expect(keys.currentKeyId).toBe('k1');
    expect(keys.encryptionKeys.get('k1')!.toString('base64')).toBe(enc);
    expect(keys.hashKey.toString('base64')).toBe(hash);
    expect(logs.join('\n')).toMatch(/from environment/);
    expect(logs.join('\n')).not.toContain(enc);
    expect(load({ KVALREG_ENCRYPTION_KEY: enc, KVALREG_HASH_KEY: hash, KVALREG_ENCRYPTION_KEY_ID: '2025-01' }).keys.currentKeyId).toBe(
      '2025-01',
    );
  });

  it('loads old keys for rotation from KVALREG_ENCRYPTION_KEYS_OLD', () => {
    const old = makeKeys('k1');
    const blob = encryptNin(old, NIN);
    const { keys } = load({
      KVALREG_ENCRYPTION_KEY: b64(),
      KVALREG_ENCRYPTION_KEY_ID: 'k3',
      KVALREG_ENCRYPTION_KEYS_OLD: `k1:${old.encryptionKeys.get('k1')!.toString('base64')}, k2:${b64()}`,
      KVALREG_HASH_KEY: b64(),
    });
    expect([...keys.encryptionKeys.keys()].sort()).toEqual(['k1', 'k2', 'k3']);
    expect(keys.currentKeyId).toBe('k3');
    expect(decryptNin(keys, blob)).toBe(NIN);
  });

  it('names the variable when a key has the wrong length or is not base64', () => {
    expect(() => load({ KVALREG_ENCRYPTION_KEY: b64(16), KVALREG_HASH_KEY: b64() })).toThrow(
      /KVALREG_ENCRYPTION_KEY must be 32 bytes .* decodes to 16 bytes/,
    );
    expect(() => load({ KVALREG_ENCRYPTION_KEY: b64(), KVALREG_HASH_KEY: b64(31) })).toThrow(/KVALREG_HASH_KEY must be 32 bytes/);
    expect(() => load({ KVALREG_ENCRYPTION_KEY: 'not base64 at all!', KVALREG_HASH_KEY: b64() })).toThrow(
      /KVALREG_ENCRYPTION_KEY is not valid base64/,
    );
    expect(() => load({ KVALREG_ENCRYPTION_KEY: b64(), KVALREG_HASH_KEY: b64(), KVALREG_ENCRYPTION_KEYS_OLD: `k0:${b64(24)}` })).toThrow(
      /KVALREG_ENCRYPTION_KEYS_OLD \(key "k0"\) must be 32 bytes/,
    );
    expect(() => load({ KVALREG_ENCRYPTION_KEY: b64(), KVALREG_HASH_KEY: b64(), KVALREG_ENCRYPTION_KEYS_OLD: 'garbage' })).toThrow(
      /id:base64key/,
    );
    expect(() => load({ KVALREG_ENCRYPTION_KEY: b64(), KVALREG_HASH_KEY: b64(), KVALREG_ENCRYPTION_KEYS_OLD: `k1:${b64()}` })).toThrow(
      /given twice/,
    );
  });

  it('refuses half a configuration instead of silently using a key file', () => {
    expect(() => load({ KVALREG_ENCRYPTION_KEY: b64() })).toThrow(/KVALREG_HASH_KEY is not set/);
    expect(() => load({ KVALREG_HASH_KEY: b64() })).toThrow(/KVALREG_ENCRYPTION_KEY is not set/);
  });
});

describe('loadIdentityKeys from a key file', () => {
  it('creates the key file with fresh keys, mode 0600 and a clear warning, then reuses it', () => {
    const path = freshPath();
    const logs: string[] = [];
    const first = loadIdentityKeys({ env: {}, keyFile: path, log: (m) => logs.push(m) });
    expect(existsSync(path)).toBe(true);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(logs.join('\n')).toMatch(/WARNING: created a new identity key file/);
    expect(logs.join('\n')).toMatch(/outside the database backup/i);
    expect(logs.join('\n')).toMatch(/back it up separately/);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    expect(json.current).toBe('k1');
    expect(Buffer.from(json.keys.k1, 'base64').length).toBe(32);
    expect(Buffer.from(json.hashKey, 'base64').length).toBe(32);
    // No temporary files left behind.
    expect(readdirSync(join(path, '..'))).toEqual(['identity-keys.json']);

    const blob = encryptNin(first, NIN);
    const logs2: string[] = [];
    const second = loadIdentityKeys({ env: {}, keyFile: path, log: (m) => logs2.push(m) });
    expect(decryptNin(second, blob)).toBe(NIN);
    expect(second.hashKey.equals(first.hashKey)).toBe(true);
    expect(logs2.join('\n')).not.toMatch(/created/);
  });

  it('reads rotated keys from the key file', () => {
    const path = freshPath();
    loadIdentityKeys({ env: {}, keyFile: path, log: () => {} }); // creates the directory
    const k1 = randomBytes(32);
    const oldBlob = encryptNin({ encryptionKeys: new Map([['k1', k1]]), currentKeyId: 'k1', hashKey: randomBytes(32) }, NIN);
    writeFileSync(
      path,
      JSON.stringify({
        current: 'k2',
        keys: { k1: k1.toString('base64'), k2: randomBytes(32).toString('base64') },
        hashKey: randomBytes(32).toString('base64'),
      }),
      { mode: 0o600 },
    );
    const keys = loadIdentityKeys({ env: {}, keyFile: path, log: () => {} });
    expect(keys.currentKeyId).toBe('k2');
    expect(decryptNin(keys, oldBlob)).toBe(NIN);
    expect(encryptedKeyId(encryptNin(keys, NIN))).toBe('k2');
  });

  it('prefers the environment over an existing key file', () => {
    const path = freshPath();
    const fileKeys = loadIdentityKeys({ env: {}, keyFile: path, log: () => {} });
    const hash = randomBytes(32);
    const envKeys = loadIdentityKeys({
      env: { KVALREG_ENCRYPTION_KEY: randomBytes(32).toString('base64'), KVALREG_HASH_KEY: hash.toString('base64') },
      keyFile: path,
      log: () => {},
    });
    expect(envKeys.hashKey.equals(hash)).toBe(true);
    expect(envKeys.hashKey.equals(fileKeys.hashKey)).toBe(false);
  });

  it('never replaces a broken key file', () => {
    const path = freshPath();
    loadIdentityKeys({ env: {}, keyFile: path, log: () => {} });
    writeFileSync(path, '{ broken');
    expect(() => loadIdentityKeys({ env: {}, keyFile: path, log: () => {} })).toThrow(/not valid JSON/);
    expect(readFileSync(path, 'utf8')).toBe('{ broken');
    writeFileSync(
      path,
      JSON.stringify({ current: 'k2', keys: { k1: randomBytes(32).toString('base64') }, hashKey: randomBytes(32).toString('base64') }),
    );
    expect(() => loadIdentityKeys({ env: {}, keyFile: path, log: () => {} })).toThrow(/no key with that id/);
    writeFileSync(
      path,
      JSON.stringify({ current: 'k1', keys: { k1: randomBytes(16).toString('base64') }, hashKey: randomBytes(32).toString('base64') }),
    );
    expect(() => loadIdentityKeys({ env: {}, keyFile: path, log: () => {} })).toThrow(/key "k1" must be 32 bytes/);
  });

  it.skipIf(process.platform === 'win32')('restricts a key file that other users can read', () => {
    const path = freshPath();
    loadIdentityKeys({ env: {}, keyFile: path, log: () => {} });
    chmodSync(path, 0o644);
    const logs: string[] = [];
    loadIdentityKeys({ env: {}, keyFile: path, log: (m) => logs.push(m) });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(logs.join('\n')).toMatch(/restricted it to mode 0600/);
  });
});
