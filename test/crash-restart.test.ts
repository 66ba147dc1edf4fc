// Crashes around the capture of a message: the server process ends before the commit (nothing is
// stored, the sender had no answer and sends again), after the commit but before the answer (the
// resend changes nothing), or a message was stored without being processed (recovery at start
// processes it exactly once). Each resend or recovery captures the message exactly once.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function serve(port: number, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.resolve('bin/kvalreg.js'), 'serve', '--port', String(port)], {
    env: { ...process.env, ...t.env, ...extraEnv, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitUp(port: number, output?: () => string) {
  // A minute: the server compiles its sources at start, which takes long on a busy machine.
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start${output ? `:\n${output()}` : ''}`);
}

const post = (port: number, body: unknown) =>
  fetch(`http://127.0.0.1:${port}/fhir`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(body),
  });
const q = (sql: string, params: unknown[] = []) => t.platform.db.pool.query(sql, params).then((r) => r.rows);
const count = async (sql: string, params: unknown[] = []) => (await q(sql, params))[0].n as number;
const CONDITION = 'Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|';

async function restart(port: number) {
  const restarted = serve(port);
  await waitUp(port, restarted.output);
  return restarted;
}

// A message is stored in the transaction that captures it (capture/inbox.ts): a crash before its
// commit leaves nothing, and the sender, who had no answer, sends again.
it('leaves nothing and gives no answer when the server dies before the commit; the resend is captured once', async () => {
  const port = await freePort();
  const f = fracture();
  const crashing = serve(port, { KVALREG_TEST_CRASH: 'before-commit' });
  await waitUp(port, crashing.output);
  const res = await post(port, ehrBundle(f)).catch((e) => e);
  expect(res).toBeInstanceOf(Error); // the connection died with the process: the sender got no answer
  expect(await crashing.exited).toBe(99);
  expect(await count('SELECT count(*)::int AS n FROM inbox_message')).toBe(0);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(0);
  expect(await count('SELECT count(*)::int AS n FROM source_resource WHERE rkey LIKE $1', [`%|${f.id}%`])).toBe(0);

  const restarted = await restart(port);
  const resend = await post(port, ehrBundle(f));
  expect(resend.status).toBe(200);
  expect(JSON.stringify(await resend.json())).toMatch(/created/);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(1);
  expect(await q('SELECT status FROM inbox_message')).toEqual([{ status: 'processed' }]);
  restarted.child.kill('SIGTERM');
  await restarted.exited;
}, 300_000);

// Committed but not answered: the message is stored and captured; the resend is recognised.
it('keeps a message committed before the crash, captured once; the unanswered resend changes nothing', async () => {
  await q('DELETE FROM inbox_message');
  const port = await freePort();
  const f = fracture();
  const crashing = serve(port, { KVALREG_TEST_CRASH: 'after-commit' });
  await waitUp(port, crashing.output);
  const res = await post(port, ehrBundle(f)).catch((e) => e);
  expect(res).toBeInstanceOf(Error);
  expect(await crashing.exited).toBe(99);
  expect(await q('SELECT status FROM inbox_message')).toEqual([{ status: 'processed' }]);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(1);

  const restarted = await restart(port);
  const resend = await post(port, ehrBundle(f));
  expect(resend.status).toBe(200);
  expect(JSON.stringify(await resend.json())).toMatch(/unchanged/);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(1);
  expect(await count('SELECT count(*)::int AS n FROM source_resource WHERE rkey LIKE $1', [`%|${f.id}%`])).toBe(
    ehrBundle(f).entry.length - 1,
  );
  restarted.child.kill('SIGTERM');
  await restarted.exited;
}, 300_000);

// A message stored but not processed (by `receive`: e.g. by an earlier version of the platform, which
// stored first and processed after, and died between the two): recovery at start processes it
// exactly once.
it('processes a message stored before a crash exactly once after restart', async () => {
  await q('DELETE FROM inbox_message');
  const port = await freePort();
  const f = fracture();
  const id = await t.platform.inbox.receive(
    { kind: 'system', sender: 'sus-dips', name: 'SUS DIPS Arena' },
    'fhir',
    JSON.stringify(ehrBundle(f)),
  );
  expect(await q('SELECT status FROM inbox_message WHERE id = $1', [id])).toEqual([{ status: 'received' }]);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(0);

  // Restart: recovery processes the stored message.
  const restarted = await restart(port);
  for (let i = 0; i < 100 && (await q('SELECT status FROM inbox_message WHERE id = $1', [id]))[0].status !== 'processed'; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(await q('SELECT status FROM inbox_message WHERE id = $1', [id])).toEqual([{ status: 'processed' }]);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(1);

  // The sender, having had no answer, resends: recognised, nothing doubled.
  const resend = await post(port, ehrBundle(f));
  expect(resend.status).toBe(200);
  expect(JSON.stringify(await resend.json())).toMatch(/unchanged/);
  expect(await count('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key = $1', [CONDITION + f.id])).toBe(1);
  expect(await count('SELECT count(*)::int AS n FROM source_resource WHERE rkey LIKE $1', [`%|${f.id}%`])).toBe(
    ehrBundle(f).entry.length - 1,
  );
  restarted.child.kill('SIGTERM');
  await restarted.exited;
}, 300_000);
