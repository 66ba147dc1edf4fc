// One embedded PostgreSQL per test run (disposable, so fsync is off), with a template database
// that has every migration applied; each test file clones it into a fresh database.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureDatabase, withDatabase } from '../../src/db/database.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createPool } from '../../src/db/pool.ts';
import { ensureWebBuild } from '../../src/server/web-build.ts';

export default async function setup(project: TestProject) {
  // The browser app, built once per run when missing or stale (the browser tests use it).
  await ensureWebBuild({ log: (m) => console.log(m) });
  // Another PostgreSQL server instead of the embedded one (CI runs the suite against Debian's too):
  // TEST_DATABASE_URL or DATABASE_URL, a login that may create databases and roles. Each test file
  // still gets a database of its own. DATABASE_URL is taken out of the environment here, before the
  // test workers start, so that no test or process it spawns uses that database by accident.
  let adminUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!adminUrl) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-test-pg-'));
    // A random port, and another if it is taken (several checkouts may run their tests at once).
    let pg: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
    for (let attempt = 1; !pg; attempt++) {
      const port = 55000 + Math.floor(Math.random() * 2000);
      try {
        pg = await startEmbeddedPostgres({
          dataDir: dir,
          port,
          settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '200' },
        });
      } catch (err) {
        if (attempt >= 5 || !/already in use/.test((err as Error).message)) throw err;
      }
    }
    adminUrl = pg.url('postgres');
    stop = pg.stop;
  }
  const template = `kvalreg_template_${process.pid}`;
  await ensureDatabase(adminUrl, template);
  const pool = createPool(withDatabase(adminUrl, template), 2);
  await migrate(pool);
  // The application's own login (created by the migrations; roles belong to the whole server): one
  // password for the run, set once here, so test files in parallel never race to change it.
  const appPassword = crypto.randomBytes(18).toString('base64url');
  await pool.query(`ALTER ROLE kvalreg_app_login PASSWORD '${appPassword}'`);
  await pool.end();
  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', template);
  project.provide('appPassword', appPassword);
  return async () => {
    await stop?.();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
    appPassword: string;
  }
}
