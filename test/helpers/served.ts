// A real `kvalreg serve` process with its own embedded PostgreSQL in a fresh data folder: for
// tests that must see the database's files, read the server's log as written, stop the database
// under the server, or signal the process. (The other tests share one PostgreSQL per run.)
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface Served {
  url: string;
  dataDir: string;
  /** The cluster's folder (base/, pg_wal/ …). */
  pgData: string;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal) when the process ends. */
  exited: Promise<number | string | null>;
  /** Everything the process wrote to stdout and stderr: its log. */
  output(): string;
  /** A client on the platform's database, as the superuser. */
  client(): Promise<pg.Client>;
  /** The postmaster's pid, from its pid file. */
  postmasterPid(): number;
  /** Ends the process (SIGKILL if it does not stop) and removes the folder. */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function serveOwnDatabase(extraEnv: Record<string, string> = {}): Promise<Served> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-served-'));
  const [httpPort, pgPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['DATABASE_URL', 'DATABASE_APP_URL', 'TEST_DATABASE_URL', 'KVALREG_OIDC_ISSUER']) delete env[k];
  Object.assign(env, {
    KVALREG_DATA_DIR: dataDir,
    KVALREG_PG_PORT: String(pgPort),
    KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64'),
    // The tests' identity numbers are synthetic test numbers, refused unless the deployment allows them.
    KVALREG_ALLOW_TEST_IDENTITIES: '1',
    LOG_LEVEL: 'info',
    // No metrics port: several served processes run at once (test/observability.test.ts scrapes one).
    KVALREG_METRICS_PORT: '0',
    ...extraEnv,
  });
  const child = spawn(process.execPath, [path.resolve('bin/kvalreg.js'), 'serve', '--port', String(httpPort)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const url = `http://127.0.0.1:${httpPort}`;
  const pgData = path.join(dataDir, 'pg');
  const served: Served = {
    url,
    dataDir,
    pgData,
    child,
    exited,
    output: () => output,
    client: async () => {
      const password = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
      const c = new pg.Client({ host: path.join(dataDir, 'run'), port: pgPort, user: 'postgres', password, database: 'kvalreg' });
      await c.connect();
      return c;
    },
    postmasterPid: () => Number(fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0]),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
      // The database may outlive a killed server: stop it before removing its folder.
      try {
        process.kill(served.postmasterPid(), 'SIGQUIT');
      } catch {
        /* gone */
      }
      await new Promise((r) => setTimeout(r, 500));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const exitedEarly = exited.then((code) => {
    throw new Error(`kvalreg serve exited (${code}) before it answered:\n${output.slice(-3000)}`);
  });
  const up = (async () => {
    for (let i = 0; i < 1200; i++) {
      try {
        if ((await fetch(`${url}/health`)).ok) return;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`kvalreg serve did not answer within 120 s:\n${output.slice(-3000)}`);
  })();
  try {
    await Promise.race([up, exitedEarly]);
  } catch (err) {
    await served.close();
    throw err;
  }
  exitedEarly.catch(() => undefined);
  return served;
}

/** The postmaster and its children (backends, checkpointer, …): the whole database server. */
export function databaseProcesses(postmaster: number): number[] {
  const children = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === postmaster;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

/** Waits until the process `pid` is gone (true), or `ms` have passed (false). */
export async function gone(pid: number, ms: number): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
