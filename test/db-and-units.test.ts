import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { listMigrations, migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { loadUnits, readUnitTree, readUnitsFile } from '../src/units/load.ts';
import { newDatabase } from './helpers/platform.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-db-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('embedded PostgreSQL', () => {
  it('says clearly when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const err = await startEmbeddedPostgres({ dataDir: tmp(), port }).catch((e) => e);
    blocker.close();
    expect(err.message).toMatch(new RegExp(`Port ${port} is already in use.*KVALREG_PG_PORT.*DATABASE_URL`));
  });

  it('says clearly when the data folder belongs to another PostgreSQL version', async () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'pg'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'pg', 'PG_VERSION'), '14\n');
    const err = await startEmbeddedPostgres({ dataDir: dir, port: 59876 }).catch((e) => e);
    expect(err.message).toMatch(/belongs to PostgreSQL 14, but the embedded server is PostgreSQL 17/);
  });
});

describe('an embedded server left behind', () => {
  it('is stopped and replaced when its platform process was killed', async () => {
    const dir = tmp();
    const port = 58000 + Math.floor(Math.random() * 900);
    // A platform process that starts the embedded server and is then killed with SIGKILL.
    const code = `const { startEmbeddedPostgres } = await import(${JSON.stringify(path.resolve('src/db/embedded.ts'))});
      await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dir)}, port: ${port} }); console.log('up'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d) => {
        if (String(d).includes('up')) resolve();
      }),
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const server = await startEmbeddedPostgres({ dataDir: dir, port });
    const pool = createPool(server.url(), 1);
    expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    await pool.end();
    await server.stop();
  });
});

describe('an embedded server in use by another process', () => {
  it('is shared, so that commands run beside a running platform, and is not stopped by them', async () => {
    const dir = tmp();
    const port = 58000 + Math.floor(Math.random() * 900);
    const code = `const { startEmbeddedPostgres } = await import(${JSON.stringify(path.resolve('src/db/embedded.ts'))});
      const s = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dir)}, port: ${port} }); console.log('up');
      process.on('SIGTERM', async () => { await s.stop(); process.exit(0); }); setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) =>
      owner.stdout.on('data', (d) => {
        if (String(d).includes('up')) resolve();
      }),
    );
    const shared = await startEmbeddedPostgres({ dataDir: dir, port: port + 1 });
    const pool = createPool(shared.url(), 1);
    expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    await pool.end();
    await shared.stop(); // must leave the owner's server running
    const again = createPool(shared.url(), 1);
    expect((await again.query('SELECT 2 AS ok')).rows[0].ok).toBe(2);
    await again.end();
    owner.kill('SIGTERM');
    await new Promise((r) => owner.on('exit', r));
  });
});

describe('migrations', () => {
  it('are applied once each, in order', async () => {
    const pool = createPool(await newDatabase(), 2);
    try {
      expect(await migrate(pool)).toEqual([]); // the template database has them all
      const applied = (await pool.query('SELECT version FROM schema_migration ORDER BY version')).rows.map((r) => r.version);
      expect(applied).toEqual(listMigrations().map((m) => m.version));
    } finally {
      await pool.end();
    }
  });
});

describe('organisation units', () => {
  it('loads the hierarchy nation → region → trust → hospital → department from a file', async () => {
    const rows = readUnitsFile('demo/units.yaml');
    expect(rows.filter((r) => r.level === 'region')).toHaveLength(4);
    expect(rows.filter((r) => r.level === 'trust').length).toBeGreaterThanOrEqual(19);
    expect(rows.filter((r) => r.level === 'department').every((d) => d.path.length === 5)).toBe(true);
    const pool = createPool(await newDatabase(), 2);
    try {
      await loadUnits(pool, 'demo/units.yaml');
      const tree = await readUnitTree(pool);
      expect(tree.ancestorAt('8201101', 'hospital')?.nameNb).toMatch(/Stavanger/);
      expect(tree.descendants('100083')).toContain('8201101'); // Helse Stavanger HF covers SUS orthopaedics
    } finally {
      await pool.end();
    }
  });

  it('refuses a file with a duplicate RESH id, naming it', () => {
    const file = path.join(tmp(), 'units.yaml');
    fs.writeFileSync(file, fs.readFileSync('demo/units.yaml', 'utf8').replace('resh: "8101102"', 'resh: "8101101"'));
    expect(() => readUnitsFile(file)).toThrow(/RESH id 8101101 is used twice/);
  });
});
