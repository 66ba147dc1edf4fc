// Re-encryption after a key rotation: every encrypted value still under an older key is decrypted
// and encrypted again under the current key, in batches that each commit. Interrupted, it simply
// resumes: the next run finds what is still under an old key (the key id is in each value's header).
import type { Pool } from '../db/pool.ts';
import { decryptNin, encryptNin, type IdentityKeys } from './crypto.ts';

/** The encrypted columns, with the key that orders them. */
const COLUMNS = [
  { table: 'person', column: 'nin_enc', key: 'id' },
  { table: 'person', column: 'name_enc', key: 'id' },
  { table: 'inbox_message', column: 'body_enc', key: 'id' },
  { table: 'pseudonym_key', column: 'key_enc', key: 'id' },
] as const;

export interface ReencryptProgress {
  table: string;
  done: number;
  remaining: number;
}

export async function reencryptAll(
  pool: Pool,
  keys: IdentityKeys,
  opts: { batch?: number; onProgress?: (p: ReencryptProgress) => void } = {},
) {
  const batch = opts.batch ?? 1000;
  const summary: Record<string, number> = {};
  for (const { table, column, key } of COLUMNS) {
    // The key id sits in the header: [version][id length][id …].
    const onOldKey = `${column} IS NOT NULL AND convert_from(substring(${column} from 3 for get_byte(${column}, 1)), 'UTF8') <> $1`;
    let done = 0;
    for (;;) {
      const client = await pool.connect();
      let n = 0;
      try {
        await client.query('BEGIN');
        const rows = (
          await client.query(
            `SELECT ${key} AS id, ${column} AS blob FROM ${table} WHERE ${onOldKey} ORDER BY ${key} LIMIT ${batch} FOR UPDATE`,
            [keys.currentKeyId],
          )
        ).rows;
        for (const r of rows) {
          await client.query(`UPDATE ${table} SET ${column} = $2 WHERE ${key} = $1`, [r.id, encryptNin(keys, decryptNin(keys, r.blob))]);
        }
        await client.query('COMMIT');
        n = rows.length;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
      done += n;
      const remaining = Number((await pool.query(`SELECT count(*) FROM ${table} WHERE ${onOldKey}`, [keys.currentKeyId])).rows[0].count);
      opts.onProgress?.({ table, done, remaining });
      if (n < batch || remaining === 0) break;
    }
    summary[table] = done;
  }
  return summary;
}
