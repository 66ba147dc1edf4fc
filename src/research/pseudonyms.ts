// Research pseudonyms per registry and project, with keys in generations so they can be rotated.
// A pseudonym is an HMAC of the internal person id under the project's key: stable within a
// generation (a project's deliveries link up), different between projects and generations, and
// reversible only by the platform, which holds the keys (encrypted with the identity key).
import crypto from 'node:crypto';
import type { PersonTx } from '../access/door.ts';
import { openText, sealText, type IdentityKeys } from '../identity/crypto.ts';
import { KvalregError } from '../errors.ts';

export interface ProjectKey {
  generation: number;
  key: Buffer;
}

/** Generation 0: the key derived from the identity hash key, used by deliveries made before keys had generations. */
function legacyKey(keys: IdentityKeys, registry: string, project: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', keys.hashKey, Buffer.from(registry), `kvalreg research pseudonym ${project}`, 32));
}

export async function projectKey(
  tx: PersonTx,
  keys: IdentityKeys,
  registry: string,
  project: string,
  generation: number,
): Promise<ProjectKey> {
  if (generation === 0) return { generation, key: legacyKey(keys, registry, project) };
  const row = (
    await tx.client.query('SELECT key_enc FROM pseudonym_key WHERE registry = $1 AND project = $2 AND generation = $3', [
      registry,
      project,
      generation,
    ])
  ).rows[0];
  if (!row) throw new KvalregError('not-found', `Project ${project} in ${registry} has no pseudonym key of generation ${generation}.`);
  return { generation, key: Buffer.from(openText(keys, row.key_enc), 'base64') };
}

/**
 * The key new deliveries use: the newest generation; a project that already had deliveries
 * before keys had generations stays on generation 0 until it is rotated; a new project gets a
 * fresh random key (generation 1).
 */
export async function currentProjectKey(
  tx: PersonTx,
  keys: IdentityKeys,
  registry: string,
  project: string,
  by: string,
): Promise<ProjectKey> {
  const newest = (
    await tx.client.query('SELECT max(generation) AS g FROM pseudonym_key WHERE registry = $1 AND project = $2', [registry, project])
  ).rows[0].g;
  if (newest !== null) return projectKey(tx, keys, registry, project, Number(newest));
  const earlier = (
    await tx.client.query('SELECT 1 FROM extract_delivery WHERE registry = $1 AND project = $2 LIMIT 1', [registry, project])
  ).rowCount;
  if (earlier) return projectKey(tx, keys, registry, project, 0);
  return addGeneration(tx, keys, registry, project, 1, by);
}

async function addGeneration(
  tx: PersonTx,
  keys: IdentityKeys,
  registry: string,
  project: string,
  generation: number,
  by: string,
): Promise<ProjectKey> {
  const key = crypto.randomBytes(32);
  const inserted = await tx.client.query(
    'INSERT INTO pseudonym_key (registry, project, generation, key_enc, created_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (registry, project, generation) DO NOTHING',
    [registry, project, generation, sealText(keys, key.toString('base64')), by],
  );
  // Someone else made this generation at the same moment: use theirs.
  return inserted.rowCount ? { generation, key } : projectKey(tx, keys, registry, project, generation);
}

/** Rotates a project's pseudonym key: the next delivery gets pseudonyms unlinkable to earlier ones. */
export async function rotateProjectKey(
  tx: PersonTx,
  keys: IdentityKeys,
  registry: string,
  project: string,
  by: string,
): Promise<{ from: number; to: number }> {
  await tx.client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pseudonym:${registry}:${project}`]);
  const newest = (
    await tx.client.query('SELECT max(generation) AS g FROM pseudonym_key WHERE registry = $1 AND project = $2', [registry, project])
  ).rows[0].g;
  const earlier = (
    await tx.client.query('SELECT 1 FROM extract_delivery WHERE registry = $1 AND project = $2 LIMIT 1', [registry, project])
  ).rowCount;
  if (newest === null && !earlier)
    throw new KvalregError(
      'not-found',
      `Project ${project} has had no delivery from ${registry}; there is no pseudonym key to rotate (the first delivery makes one).`,
    );
  const from = newest === null ? 0 : Number(newest);
  await addGeneration(tx, keys, registry, project, from + 1, by);
  return { from, to: from + 1 };
}

export function pseudonymOf(k: ProjectKey, personId: number): string {
  return crypto.createHmac('sha256', k.key).update(`p${personId}`).digest('base64url').slice(0, 16);
}

/**
 * The per-person date shift of a project key: 1 to 30 days back or forward, never 0, so that no
 * person's dates are delivered as they are (a zero shift would hand over the true dates of one
 * person in 61, and a researcher who learns one true date could not tell it was unshifted).
 */
export function shiftDaysOf(k: ProjectKey, personId: number): number {
  const n = crypto.createHmac('sha256', k.key).update(`s${personId}`).digest().readUInt32BE(0) % 60;
  return n < 30 ? n - 30 : n - 29;
}

/**
 * Old pseudonym → new pseudonym for every person with a case in the registry: for the platform's
 * own use (e.g. linking an approved follow-up to earlier deliveries), never for the researcher.
 * Audited as a look at every person it maps.
 */
export async function pseudonymMapping(
  tx: PersonTx,
  keys: IdentityKeys,
  registry: string,
  project: string,
  from: number,
  to: number,
): Promise<Array<{ old: string; new: string }>> {
  const a = await projectKey(tx, keys, registry, project, from);
  const b = await projectKey(tx, keys, registry, project, to);
  const persons = (
    await tx.client.query('SELECT DISTINCT person_id FROM registry_case WHERE registry = $1 ORDER BY person_id', [registry])
  ).rows.map((r) => Number(r.person_id));
  tx.audit({ action: 'pseudonym-map', object: `${registry}/pseudonyms/${project}/${from}-${to}`, personIds: persons, registry });
  return persons.map((p) => ({ old: pseudonymOf(a, p), new: pseudonymOf(b, p) }));
}
