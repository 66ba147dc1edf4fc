// Opens the platform's database: DATABASE_URL when given, otherwise the embedded server.
import pg from 'pg';
import type { Config } from '../config.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';
import { createPool, type Pool } from './pool.ts';

export interface Database {
  pool: Pool;
  url: string;
  embedded: EmbeddedServer | undefined;
  close: () => Promise<void>;
}

export async function openDatabase(config: Config, opts: { poolSize?: number; log?: (m: string) => void } = {}): Promise<Database> {
  let embedded: EmbeddedServer | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
    await ensureDatabase(embedded.url('postgres'), 'kvalreg');
    url = embedded.url('kvalreg');
  }
  const pool = createPool(url, opts.poolSize ?? 12);
  try {
    const { rows } = await pool.query('SHOW server_version_num');
    if (Number(rows[0].server_version_num) < 150000) throw new Error('kvalreg needs PostgreSQL 15 or newer; DATABASE_URL points to an older server.');
  } catch (err) {
    await pool.end();
    await embedded?.stop();
    throw new Error(`Cannot use the database at ${redact(url)}: ${(err as Error).message}`);
  }
  return {
    pool, url, embedded,
    close: async () => { await pool.end(); await embedded?.stop(); },
  };
}

export async function ensureDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`);
    }
  } finally {
    await client.end();
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** The same server, another database: keeps credentials and options such as a socket host. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
