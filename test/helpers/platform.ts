// A real platform on a fresh database for one test file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { inject } from 'vitest';
import { createToken } from '../../src/auth/tokens.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { APP_LOGIN, ensureDatabase, withCredentials, withDatabase } from '../../src/db/database.ts';
import { startPlatform, type Platform } from '../../src/platform.ts';
import { buildServer } from '../../src/server/app.ts';

export interface TestPlatform {
  platform: Platform;
  app: Awaited<ReturnType<typeof buildServer>>;
  databaseUrl: string;
  config: Config;
  env: NodeJS.ProcessEnv;
  tokens: { ehr: string; planner: string; admin: string; registrarSus: string; readerOther: string };
  close(): Promise<void>;
}

export const SUS_ORTHO = '8201101'; // Stavanger University Hospital, orthopaedics (demo units)
export const SUS_HOSPITAL = '8201100';
export const OTHER_ORTHO = '8101101'; // Østfold Kalnes, orthopaedics

export async function newDatabase(): Promise<string> {
  const admin = inject('adminUrl');
  const name = `kvalreg_t_${crypto.randomBytes(6).toString('hex')}`;
  await ensureDatabase(admin, name, inject('templateDb'));
  return withDatabase(admin, name);
}

/** `opts.log`: a logger of the test's own, to read what the platform logged (silent by default). */
export async function testPlatform(overrides: NodeJS.ProcessEnv = {}, opts: { log?: Logger } = {}): Promise<TestPlatform> {
  const databaseUrl = await newDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-test-'));
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: databaseUrl,
    // Work under row-level security on the application's own login, as in production.
    DATABASE_APP_URL: withCredentials(databaseUrl, APP_LOGIN, inject('appPassword')),
    KVALREG_DATA_DIR: dataDir,
    KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    // The tests' patients have synthetic test numbers (helpers/fixtures.ts): a test deployment.
    KVALREG_ALLOW_TEST_IDENTITIES: '1',
    ...overrides,
  };
  const config = loadConfig(env);
  const platform = await startPlatform(config, { log: opts.log ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), poolSize: 6 });
  const app = await buildServer(platform);
  const db = platform.db.pool;
  const tokens = {
    ehr: await createToken(db, { name: 'SUS DIPS Arena', kind: 'system', sender: 'sus-dips' }),
    planner: await createToken(db, { name: 'SUS Orbit', kind: 'system', sender: 'sus-orbit' }),
    admin: await createToken(db, { name: 'admin', kind: 'user', grants: [{ registry: '*', role: 'registry-admin', unit: '1' }] }),
    registrarSus: await createToken(db, {
      name: 'registrar-sus',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_HOSPITAL }],
    }),
    readerOther: await createToken(db, {
      name: 'reader-other',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO }],
    }),
  };
  return {
    platform,
    app,
    databaseUrl,
    config,
    env,
    tokens,
    close: async () => {
      await app.close();
      await platform.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
