// Records each loaded registry definition version in the database; data refers to the version
// it was captured under. A changed definition must carry a new version number.
import type { Queryable } from '../db/pool.ts';
import type { Registry } from './load.ts';

export async function storeRegistryVersions(db: Queryable, registries: Registry[]): Promise<void> {
  for (const r of registries) {
    // Several processes may start at once (replicas): the first records the version, the others
    // find it recorded, and each checks that what is recorded is the definition it loaded.
    await db.query(
      'INSERT INTO registry_version (registry, version, sha256, definition) VALUES ($1, $2, $3, $4) ON CONFLICT (registry, version) DO NOTHING',
      [r.id, r.version, r.sha256, r.definition],
    );
    const stored = (await db.query('SELECT sha256 FROM registry_version WHERE registry = $1 AND version = $2', [r.id, r.version])).rows[0];
    if (stored.sha256 !== r.sha256) {
      throw new Error(
        `Registry ${r.id} version ${r.version} has changed since it was first loaded. A changed definition is a new version: raise "version" in ${r.dir}/registry.yaml.`,
      );
    }
    await db.query(
      'INSERT INTO registry (id, current_version) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET current_version = EXCLUDED.current_version',
      [r.id, r.version],
    );
  }
}
