// A bench's seeded cluster kept in a folder (`--keep DIR`) and used again by later runs: seeding
// 1,000,000 cases takes minutes, a measured step seconds. The folder holds the embedded cluster,
// the platform's keys (a kept cluster's identity numbers were encrypted under them) and what it
// was seeded with; a run with other seeding arguments refuses the folder.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface Kept {
  database: string;
  rows: number;
}

export interface KeepFolder {
  /** The folder, or null for a fresh cluster in a temporary folder. */
  dir: string | null;
  /** The platform's keys: the kept ones, or new ones (saved when keeping). */
  keys: { KVALREG_ENCRYPTION_KEY: string; KVALREG_HASH_KEY: string };
  /** What an earlier run seeded, or null. */
  kept: Kept | null;
  /** Records a finished seeding. */
  save(kept: Kept): void;
}

export function keepFolder(dir: string | null, seeding: object): KeepFolder {
  const file = (name: string) => path.join(dir!, name);
  if (dir) fs.mkdirSync(dir, { recursive: true });
  let keys: KeepFolder['keys'];
  if (dir && fs.existsSync(file('bench-keys.json'))) keys = JSON.parse(fs.readFileSync(file('bench-keys.json'), 'utf8'));
  else {
    keys = {
      KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
      KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64'),
    };
    if (dir) fs.writeFileSync(file('bench-keys.json'), JSON.stringify(keys), { mode: 0o600 });
  }
  const seeded = dir && fs.existsSync(file('bench-seeded.json')) ? JSON.parse(fs.readFileSync(file('bench-seeded.json'), 'utf8')) : null;
  if (seeded && JSON.stringify(seeded.seeding) !== JSON.stringify(seeding))
    throw new Error(`${dir} was seeded with ${JSON.stringify(seeded.seeding)}, not ${JSON.stringify(seeding)}: give another --keep folder`);
  return {
    dir,
    keys,
    kept: seeded ? { database: seeded.database, rows: seeded.rows } : null,
    save: (k) => {
      if (dir) fs.writeFileSync(file('bench-seeded.json'), JSON.stringify({ seeding, ...k }));
    },
  };
}
