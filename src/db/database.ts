// Opens the platform's database: DATABASE_URL when given, otherwise the embedded server.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';
import { createPool, type Pool } from './pool.ts';

export interface Database {
  /** The owner's connections: migrations, the platform's own work, capture, admins of every registry. */
  pool: Pool;
  url: string;
  embedded: EmbeddedServer | undefined;
  /**
   * Connections as kvalreg_app_login (a member of kvalreg_app only) for work under row-level
   * security; undefined until `connectApplicationRole`, or when no login is available (an external
   * server without DATABASE_APP_URL), where such work switches role on the owner's connections.
   */
  appPool: Pool | undefined;
  /**
   * The owner's connections for work shared out under a lock (db/share-out.ts), apart from `pool`:
   * a coordinator holds a connection of `pool` and a lock while its shares run, and transactions
   * waiting for that lock hold theirs; shares taking from the same pool could find it empty, with
   * every party waiting. A share holding one of these only waits for the database, so it ends.
   */
  sharePool: Pool;
  /** The application login's URL, when `appPool` is open (worker processes open theirs with it). */
  appUrl?: string;
  close: () => Promise<void>;
}

export const APP_LOGIN = 'kvalreg_app_login';

export async function openDatabase(config: Config, opts: { poolSize?: number; log?: (m: string) => void } = {}): Promise<Database> {
  let embedded: EmbeddedServer | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
    await ensureDatabase(embedded.url('postgres'), 'kvalreg');
    url = embedded.url('kvalreg');
  }
  const pool = createPool(url, opts.poolSize ?? 12);
  // Opens no connection until a share asks for one; room for a refresh round and a computation at once.
  const sharePool = createPool(url, 2 * Math.max(1, config.analyticsWorkers));
  try {
    const { rows } = await pool.query('SHOW server_version_num');
    if (Number(rows[0].server_version_num) < 150000)
      throw new Error('kvalreg needs PostgreSQL 15 or newer; DATABASE_URL points to an older server.');
  } catch (err) {
    await pool.end();
    await sharePool.end();
    await embedded?.stop();
    throw new Error(`Cannot use the database at ${redact(url)}: ${(err as Error).message}`);
  }
  const db: Database = {
    pool,
    url,
    embedded,
    appPool: undefined,
    sharePool,
    close: async () => {
      await db.appPool?.end();
      await sharePool.end();
      await pool.end();
      await embedded?.stop();
    },
  };
  return db;
}

/**
 * Opens the pool of the application's own login, after migrations have created the role:
 * DATABASE_APP_URL when given; for the embedded server, a password generated at first start and
 * kept in <data dir>/pg-app-password (like the superuser's). Checks that the login really is
 * confined: no superuser, no BYPASSRLS, not the owner of the tables.
 */
export async function connectApplicationRole(
  db: Database,
  config: Config,
  opts: { poolSize?: number; log?: (m: string) => void } = {},
): Promise<void> {
  let url = config.databaseAppUrl;
  if (!url && db.embedded) {
    const file = path.join(config.dataDir, 'pg-app-password');
    if (!fs.existsSync(file)) fs.writeFileSync(file, `${crypto.randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    const password = fs.readFileSync(file, 'utf8').trim();
    await db.pool.query(`ALTER ROLE ${APP_LOGIN} PASSWORD ${pg.escapeLiteral(password)}`);
    url = withCredentials(db.url, APP_LOGIN, password);
  }
  if (!url) {
    opts.log?.(
      "DATABASE_APP_URL is not set: work under row-level security switches to kvalreg_app on the owner's connections. " +
        `Give the platform a login of its own: set a password for ${APP_LOGIN} and set DATABASE_APP_URL (see docs/operations.md).`,
    );
    return;
  }
  const pool = createPool(url, opts.poolSize ?? 12);
  try {
    const me = (
      await pool.query(
        `SELECT r.rolname, r.rolsuper, r.rolbypassrls, pg_has_role(current_user, 'kvalreg_app', 'MEMBER') AS app,
              EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS owns
       FROM pg_roles r WHERE r.rolname = current_user`,
      )
    ).rows[0];
    if (me.rolsuper || me.rolbypassrls || me.owns || !me.app) {
      throw new Error(
        `the login ${me.rolname} ${me.rolsuper ? 'is a superuser' : me.rolbypassrls ? 'can bypass row-level security' : me.owns ? 'owns tables' : 'is not a member of kvalreg_app'}; ` +
          `DATABASE_APP_URL must name a login that is a member of kvalreg_app only (e.g. ${APP_LOGIN})`,
      );
    }
  } catch (err) {
    await pool.end();
    throw new Error(`Cannot use the application login at ${redact(url)}: ${(err as Error).message}`);
  }
  db.appPool = pool;
  db.appUrl = url;
}

/** The same server and database as another user. */
export function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
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
