// The audit trail's own keys. The chain is sealed with a key that is not derived from the identity
// keys, so that the keys the platform needs to run (and a copy of them with a database backup) do
// not let anyone re-seal a rewritten trail. From the sealing key come two things:
//   - the chain key (HMAC-SHA-256 over each event and its predecessor), and
//   - an Ed25519 signing key for witness statements of the chain's head (`kvalreg audit head`),
//     whose public key can be given to the outside party that keeps them.
// Keys have ids, like the encryption keys, so the sealing key can be rotated: old ids stay
// loaded (KVALREG_AUDIT_KEYS_OLD) to verify what they sealed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { IdentityKeys } from '../identity/crypto.ts';

export interface AuditKeys {
  /** The key id new events are sealed with. */
  current: string;
  /** Chain keys by id. */
  chain: Map<string, Buffer>;
  /** Witness signing keys by id. */
  signing: Map<string, { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }>;
  /**
   * The key of rows sealed before the trail had a key of its own (derived from the identity hash
   * key, so whoever holds that key can forge it: such seals count only up to the signed migration
   * checkpoint, see audit.ts).
   */
  legacy: Buffer;
  /**
   * Where the sealer keeps its own signed record of how far it sealed (state.ts): beside the
   * key file, or KVALREG_AUDIT_STATE_FILE, or the data directory when the key comes from the
   * environment. Out of the database, so that a database rolled back or emptied does not match it.
   */
  stateFile: string;
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
// An Ed25519 private key in PKCS#8 is this fixed prefix followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function decode(value: string, name: string): Buffer {
  const v = value.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0 ? Buffer.from(v, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) throw new Error(`${name} must be 32 random bytes in base64 — generate one with: openssl rand -base64 32`);
  return key;
}

function checkId(id: string, where: string): string {
  if (!KEY_ID.test(id)) throw new Error(`${where}: key id "${id}" is invalid — use 1-64 characters from A-Z a-z 0-9 _ . -`);
  return id;
}

export function legacyChainKey(identity: IdentityKeys): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', identity.hashKey, Buffer.alloc(0), 'kvalreg audit chain', 32));
}

function derive(raw: Buffer) {
  const chain = Buffer.from(crypto.hkdfSync('sha256', raw, Buffer.alloc(0), 'kvalreg audit chain v2', 32));
  const seed = Buffer.from(crypto.hkdfSync('sha256', raw, Buffer.alloc(0), 'kvalreg audit witness', 32));
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return { chain, privateKey, publicKey: crypto.createPublicKey(privateKey) };
}

/**
 * KVALREG_AUDIT_KEY (base64, 32 bytes) with KVALREG_AUDIT_KEY_ID (default a1) and
 * KVALREG_AUDIT_KEYS_OLD (id:base64,…); otherwise the key file KVALREG_AUDIT_KEY_FILE
 * (default <data dir>/audit-key.json, mode 0600), created with a fresh key on first start.
 * The sealer's state file (KVALREG_AUDIT_STATE_FILE) defaults to audit-state.json beside the key
 * file, or in the data directory when the key is given in the environment.
 */
export function loadAuditKeys(opts: {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  identity: IdentityKeys;
  log: (m: string) => void;
}): AuditKeys {
  const { env, log } = opts;
  const raw = new Map<string, Buffer>();
  let current: string;
  let stateDir = opts.dataDir;
  if (env.KVALREG_AUDIT_KEY) {
    current = checkId(env.KVALREG_AUDIT_KEY_ID?.trim() || 'a1', 'KVALREG_AUDIT_KEY_ID');
    raw.set(current, decode(env.KVALREG_AUDIT_KEY, 'KVALREG_AUDIT_KEY'));
    for (const entry of (env.KVALREG_AUDIT_KEYS_OLD ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const colon = entry.indexOf(':');
      if (colon < 1) throw new Error(`KVALREG_AUDIT_KEYS_OLD: each entry must look like id:base64key`);
      const id = checkId(entry.slice(0, colon), 'KVALREG_AUDIT_KEYS_OLD');
      if (raw.has(id)) throw new Error(`KVALREG_AUDIT_KEYS_OLD: key id "${id}" is given twice (or equals KVALREG_AUDIT_KEY_ID)`);
      raw.set(id, decode(entry.slice(colon + 1), `KVALREG_AUDIT_KEYS_OLD (key "${id}")`));
    }
  } else {
    const file = path.resolve(env.KVALREG_AUDIT_KEY_FILE ?? path.join(opts.dataDir, 'audit-key.json'));
    stateDir = path.dirname(file);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const content = JSON.stringify({ current: 'a1', keys: { a1: crypto.randomBytes(32).toString('base64') } }, null, 2) + '\n';
      try {
        fs.writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
        log(
          `WARNING: created a new audit sealing key file ${file}. Keep it apart from the identity keys and the database backup; in production give KVALREG_AUDIT_KEY from a secret store.`,
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another process made it first: use theirs
      }
    }
    let parsed: { current?: unknown; keys?: Record<string, unknown> };
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      throw new Error(
        `audit key file ${file} is not valid JSON — restore it from its backup; without it the audit trail sealed with it cannot be verified`,
      );
    }
    if (typeof parsed.current !== 'string' || !parsed.keys || typeof parsed.keys !== 'object')
      throw new Error(`audit key file ${file} must look like {"current":"a1","keys":{"a1":"<base64>"}}`);
    current = checkId(parsed.current, `audit key file ${file}`);
    for (const [id, v] of Object.entries(parsed.keys))
      raw.set(checkId(id, `audit key file ${file}`), decode(String(v), `audit key file ${file}, key "${id}"`));
    if (!raw.has(current)) throw new Error(`audit key file ${file}: "current" is "${current}", but there is no key with that id in "keys"`);
  }
  const chain = new Map<string, Buffer>();
  const signing = new Map<string, { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }>();
  for (const [id, k] of raw) {
    const d = derive(k);
    chain.set(id, d.chain);
    signing.set(id, { privateKey: d.privateKey, publicKey: d.publicKey });
  }
  const stateFile = path.resolve(env.KVALREG_AUDIT_STATE_FILE?.trim() || path.join(stateDir, 'audit-state.json'));
  return { current, chain, signing, legacy: legacyChainKey(opts.identity), stateFile };
}

/** The public key of a witness signing key, as PEM (for the outside party). */
export function witnessPublicKey(keys: AuditKeys, id = keys.current): string {
  const k = keys.signing.get(id);
  if (!k) throw new Error(`audit key "${id}" is not loaded`);
  return k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}
