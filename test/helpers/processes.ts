// Real `kvalreg serve` processes on one shared database (a fresh one from the test run's server),
// as several replicas of a deployment run: the same keys, the same data folder (a shared volume),
// each its own HTTP and metrics port.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { APP_LOGIN, withCredentials } from '../../src/db/database.ts';
import { newDatabase } from './platform.ts';
import { freePort } from './served.ts';

export interface Replica {
  url: string;
  metricsUrl: string;
  child: ChildProcess;
  exited: Promise<number | string | null>;
  output(): string;
  /** SIGTERM (SIGKILL after 20 s); resolves when the process has ended. */
  stop(): Promise<void>;
}

export interface Deployment {
  databaseUrl: string;
  env: NodeJS.ProcessEnv;
  /** Starts one more process; resolves when it answers /health/live. */
  start(extra?: NodeJS.ProcessEnv, command?: { cwd: string; argv: string[] }): Promise<Replica>;
  close(): Promise<void>;
}

export async function deployment(extraEnv: NodeJS.ProcessEnv = {}): Promise<Deployment> {
  const databaseUrl = await newDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-replicas-'));
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['DATABASE_URL', 'DATABASE_APP_URL', 'TEST_DATABASE_URL', 'KVALREG_OIDC_ISSUER', 'NODE_OPTIONS']) delete env[k];
  Object.assign(env, {
    DATABASE_URL: databaseUrl,
    DATABASE_APP_URL: withCredentials(databaseUrl, APP_LOGIN, inject('appPassword')),
    KVALREG_DATA_DIR: dataDir,
    KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_AUDIT_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_ALLOW_TEST_IDENTITIES: '1',
    LOG_LEVEL: 'info',
    ...extraEnv,
  });
  const replicas: Replica[] = [];
  return {
    databaseUrl,
    env,
    start: async (extra = {}, command) => {
      const [port, metricsPort] = [await freePort(), await freePort()];
      const childEnv = { ...env, PORT: String(port), HOST: '127.0.0.1', KVALREG_METRICS_PORT: String(metricsPort), ...extra };
      const argv = command?.argv ?? [path.resolve('bin/kvalreg.js'), 'serve'];
      const child = spawn(process.execPath, argv, { env: childEnv, cwd: command?.cwd ?? process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (d) => {
        output += d;
      });
      child.stderr!.on('data', (d) => {
        output += d;
      });
      const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
      const url = `http://127.0.0.1:${port}`;
      const replica: Replica = {
        url,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
        child,
        exited,
        output: () => output,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
          await exited;
          clearTimeout(t);
        },
      };
      replicas.push(replica);
      const early = exited.then((code) => {
        throw new Error(`kvalreg serve exited (${code}) before it answered:\n${output.slice(-3000)}`);
      });
      const up = (async () => {
        for (let i = 0; i < 1800; i++) {
          try {
            if ((await fetch(`${url}/health/live`)).ok) return;
          } catch {
            /* not yet */
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`kvalreg serve did not answer within 180 s:\n${output.slice(-3000)}`);
      })();
      await Promise.race([up, early]);
      early.catch(() => undefined);
      return replica;
    },
    close: async () => {
      await Promise.all(replicas.map((r) => r.stop()));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
