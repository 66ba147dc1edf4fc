/**
 * Protection of national identity numbers at rest.
 *
 * - encryptNin/decryptNin: AES-256-GCM, so a database dump alone does not
 *   reveal identities. Every blob names the key it was encrypted with, so keys
 *   can be rotated: new data uses `currentKeyId`, old data stays readable as
 *   long as the old key is still loaded.
 * - ninHash: HMAC-SHA256 with a separate key, for equality look-ups ("do we
 *   already have this patient?") without decrypting. A plain SHA-256 would be
 *   useless as protection: there are only ~10^9 plausible numbers, so it could
 *   be brute-forced in seconds. The hash key cannot be rotated without
 *   re-hashing every row, so it has no key id.
 *
 * The keys must never be stored in the database (or its backup): whoever has
 * both has the identities.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface IdentityKeys {
  /** All loaded encryption keys by id (current and older ones, for decryption). */
  encryptionKeys: Map<string, Buffer>;
  /** Id of the key used for new encryptions. */
  currentKeyId: string;
  /** HMAC key for ninHash. */
  hashKey: Buffer;
}

const VERSION = 1;
const IV_LENGTH = 12; // 96-bit IV: the size GCM is designed for.
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
/** Restrictive so ids are safe in env syntax ("id:base64,...") and in log lines. */
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Blob layout: [version:1][keyIdLength:1][keyId:utf8][iv:12][tag:16][ciphertext].
 * The header (version + key id) is authenticated as additional data, so
 * changing the key id or version is detected like any other tampering.
 */
export function encryptNin(keys: IdentityKeys, nin: string): Buffer {
  const key = keys.encryptionKeys.get(keys.currentKeyId);
  if (!key) throw new Error(`encryptNin: current key id "${keys.currentKeyId}" is not among the loaded encryption keys`);
  const id = Buffer.from(keys.currentKeyId, 'utf8');
  const header = Buffer.concat([Buffer.from([VERSION, id.length]), id]);
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(header);
  const ciphertext = Buffer.concat([cipher.update(nin, 'utf8'), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), ciphertext]);
}

/** Reads the key id of a blob without decrypting (e.g. to find rows still on an old key). */
export function encryptedKeyId(blob: Buffer): string {
  if (blob.length < 2)
    throw new Error('decryptNin: the encrypted value is too short to be valid (truncated or not an encrypted identity number)');
  if (blob[0] !== VERSION) {
    throw new Error(
      `decryptNin: unsupported format version ${blob[0]} (this program reads version ${VERSION}) — the value is corrupt or was written by a newer version`,
    );
  }
  const idLength = blob[1];
  if (blob.length < 2 + idLength + IV_LENGTH + TAG_LENGTH) {
    throw new Error('decryptNin: the encrypted value is too short to be valid (truncated or not an encrypted identity number)');
  }
  return blob.subarray(2, 2 + idLength).toString('utf8');
}

export function decryptNin(keys: IdentityKeys, blob: Buffer): string {
  const keyId = encryptedKeyId(blob);
  const key = keys.encryptionKeys.get(keyId);
  if (!key) {
    throw new Error(
      `decryptNin: the value was encrypted with key "${keyId}", which is not loaded (loaded: ${[...keys.encryptionKeys.keys()].join(', ')}) — ` +
        'add the old key to KVALREG_ENCRYPTION_KEYS_OLD or to the "keys" of the key file',
    );
  }
  const headerEnd = 2 + blob[1];
  const iv = blob.subarray(headerEnd, headerEnd + IV_LENGTH);
  const tag = blob.subarray(headerEnd + IV_LENGTH, headerEnd + IV_LENGTH + TAG_LENGTH);
  const ciphertext = blob.subarray(headerEnd + IV_LENGTH + TAG_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  decipher.setAAD(blob.subarray(0, headerEnd));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(
      `decryptNin: authentication failed for a value encrypted with key "${keyId}" — the data was modified or corrupted, or key "${keyId}" is not the key it was encrypted with`,
    );
  }
}

/**
 * Deterministic keyed hash for look-ups. Hashes the string exactly as given,
 * so pass the normalised form (parseNin(...).nin) or look-ups will miss.
 */
export function ninHash(keys: IdentityKeys, nin: string): Buffer {
  return createHmac('sha256', keys.hashKey).update(nin, 'utf8').digest();
}

/** Decodes a base64 key and checks it is exactly 32 bytes; `name` is used in error messages. */
function decodeKey(value: string, name: string): Buffer {
  const v = value.trim();
  // Buffer.from(base64) silently skips invalid characters, so check the alphabet first.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new Error(`${name} is not valid base64 — generate a key with: openssl rand -base64 32`);
  }
  const key = Buffer.from(v, 'base64');
  if (key.length !== KEY_LENGTH) {
    throw new Error(
      `${name} must be ${KEY_LENGTH} bytes (base64 of 32 random bytes), but decodes to ${key.length} bytes — generate a key with: openssl rand -base64 32`,
    );
  }
  return key;
}

function checkKeyId(id: string, where: string): string {
  if (!KEY_ID.test(id)) throw new Error(`${where}: key id "${id}" is invalid — use 1-64 characters from A-Z a-z 0-9 _ . -`);
  return id;
}

function fromEnv(env: NodeJS.ProcessEnv): IdentityKeys {
  if (!env.KVALREG_ENCRYPTION_KEY || !env.KVALREG_HASH_KEY) {
    // Half a configuration would otherwise silently fall back to a key file with different keys.
    const missing = env.KVALREG_ENCRYPTION_KEY ? 'KVALREG_HASH_KEY' : 'KVALREG_ENCRYPTION_KEY';
    throw new Error(`${missing} is not set — set both KVALREG_ENCRYPTION_KEY and KVALREG_HASH_KEY, or neither to use the key file`);
  }
  const currentKeyId = checkKeyId(env.KVALREG_ENCRYPTION_KEY_ID?.trim() || 'k1', 'KVALREG_ENCRYPTION_KEY_ID');
  const encryptionKeys = new Map<string, Buffer>();
  encryptionKeys.set(currentKeyId, decodeKey(env.KVALREG_ENCRYPTION_KEY, 'KVALREG_ENCRYPTION_KEY'));
  const old = env.KVALREG_ENCRYPTION_KEYS_OLD?.trim();
  if (old) {
    for (const entry of old
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const colon = entry.indexOf(':');
      if (colon < 1) throw new Error(`KVALREG_ENCRYPTION_KEYS_OLD: entry "${entry.slice(0, 20)}…" must look like id:base64key`);
      const id = checkKeyId(entry.slice(0, colon), 'KVALREG_ENCRYPTION_KEYS_OLD');
      if (encryptionKeys.has(id))
        throw new Error(
          `KVALREG_ENCRYPTION_KEYS_OLD: key id "${id}" is given twice (or equals KVALREG_ENCRYPTION_KEY_ID) — each key needs its own id`,
        );
      encryptionKeys.set(id, decodeKey(entry.slice(colon + 1), `KVALREG_ENCRYPTION_KEYS_OLD (key "${id}")`));
    }
  }
  return { encryptionKeys, currentKeyId, hashKey: decodeKey(env.KVALREG_HASH_KEY, 'KVALREG_HASH_KEY') };
}

interface KeyFile {
  current: string;
  keys: Record<string, string>;
  hashKey: string;
}

function parseKeyFile(text: string, path: string): IdentityKeys {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(
      `key file ${path} is not valid JSON — restore it from its backup; do not delete it, or data encrypted with it becomes unreadable`,
    );
  }
  const f = data as Partial<KeyFile> | null;
  if (
    !f ||
    typeof f !== 'object' ||
    typeof f.current !== 'string' ||
    typeof f.hashKey !== 'string' ||
    !f.keys ||
    typeof f.keys !== 'object'
  ) {
    throw new Error(`key file ${path} must look like {"current":"k1","keys":{"k1":"<base64>"},"hashKey":"<base64>"}`);
  }
  const encryptionKeys = new Map<string, Buffer>();
  for (const [id, value] of Object.entries(f.keys)) {
    checkKeyId(id, `key file ${path}`);
    if (typeof value !== 'string') throw new Error(`key file ${path}: key "${id}" must be a base64 string`);
    encryptionKeys.set(id, decodeKey(value, `key file ${path}, key "${id}"`));
  }
  if (!encryptionKeys.has(f.current))
    throw new Error(`key file ${path}: "current" is "${f.current}", but there is no key with that id in "keys"`);
  return { encryptionKeys, currentKeyId: f.current, hashKey: decodeKey(f.hashKey, `key file ${path}, hashKey`) };
}

/**
 * Creates the key file atomically: write a temporary file (mode 0600), then
 * hard-link it into place, which fails if another process created the file
 * meanwhile — two processes starting at once must not end up with different keys.
 * Returns false if the file already existed.
 */
function createKeyFile(path: string, content: string): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Loads the identity keys. Environment variables win when set
 * (KVALREG_ENCRYPTION_KEY, KVALREG_ENCRYPTION_KEY_ID, KVALREG_ENCRYPTION_KEYS_OLD,
 * KVALREG_HASH_KEY); otherwise the JSON key file at `keyFile` is used, and
 * created with fresh random keys if it does not exist. An existing but broken
 * key file is an error, never silently replaced: new keys would make all
 * existing encrypted data unreadable.
 */
export function loadIdentityKeys(opts: { env: NodeJS.ProcessEnv; keyFile: string; log: (msg: string) => void }): IdentityKeys {
  const { env, keyFile, log } = opts;
  if (env.KVALREG_ENCRYPTION_KEY || env.KVALREG_HASH_KEY) {
    const keys = fromEnv(env);
    log(`identity keys loaded from environment (current key "${keys.currentKeyId}", ${keys.encryptionKeys.size} key(s) for decryption)`);
    return keys;
  }

  let text: string | null = null;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read key file ${keyFile}: ${(err as Error).message}`);
  }

  if (text === null) {
    const fresh: KeyFile = {
      current: 'k1',
      keys: { k1: randomBytes(KEY_LENGTH).toString('base64') },
      hashKey: randomBytes(KEY_LENGTH).toString('base64'),
    };
    if (createKeyFile(keyFile, JSON.stringify(fresh, null, 2) + '\n')) {
      log(
        `WARNING: created a new identity key file ${keyFile} with fresh random keys. ` +
          'Identity numbers are encrypted with these keys: if the file is lost, they cannot be recovered. ' +
          'Keep the key file OUTSIDE the database backup (whoever has both can read every identity number) ' +
          'and back it up separately and securely. In production, prefer KVALREG_ENCRYPTION_KEY and KVALREG_HASH_KEY.',
      );
    }
    text = readFileSync(keyFile, 'utf8'); // also covers losing the creation race
  } else if (process.platform !== 'win32' && (statSync(keyFile).mode & 0o077) !== 0) {
    try {
      chmodSync(keyFile, 0o600);
      log(`WARNING: key file ${keyFile} was accessible to other users; restricted it to mode 0600`);
    } catch {
      log(`WARNING: key file ${keyFile} is accessible to other users and could not be changed — run: chmod 600 ${keyFile}`);
    }
  }

  const keys = parseKeyFile(text, keyFile);
  log(`identity keys loaded from ${keyFile} (current key "${keys.currentKeyId}", ${keys.encryptionKeys.size} key(s) for decryption)`);
  return keys;
}

/** The same authenticated encryption for other identifiable text, e.g. raw inbound messages. */
export const sealText = encryptNin;
export const openText = decryptNin;
