// A crash between storing a message and processing it: the process is killed after the commit of
// the raw message, restarted, and the message is processed exactly once.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => { t = await testPlatform(); });
afterAll(async () => { await t?.close(); });

async function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

function serve(port: number, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.resolve('bin/kvalreg.js'), 'serve', '--port', String(port)], {
    env: { ...process.env, ...t.env, ...extraEnv, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitUp(port: number) {
  for (let i = 0; i < 200; i++) {
    try { const r = await fetch(`http://127.0.0.1:${port}/health`); if (r.ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not start');
}

it('processes a message stored before a crash exactly once after restart', async () => {
  const port = await freePort();
  const f = fracture();
  const crashing = serve(port, { KVALREG_TEST_CRASH_AFTER_STORE: '1' });
  await waitUp(port);
  const res = await fetch(`http://127.0.0.1:${port}/fhir`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(ehrBundle(f)) }).catch((e) => e);
  expect(res).toBeInstanceOf(Error); // the connection died with the process: the sender got no answer
  expect(await crashing.exited).toBe(99);
  const q = (sql: string) => t.platform.db.pool.query(sql).then((r) => r.rows);
  expect(await q("SELECT status FROM inbox_message")).toEqual([{ status: 'received' }]);
  expect((await q('SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(0);

  // Restart: recovery processes the stored message.
  const restarted = serve(port);
  await waitUp(port);
  for (let i = 0; i < 100 && (await q("SELECT status FROM inbox_message"))[0].status !== 'processed'; i++) await new Promise((r) => setTimeout(r, 100));
  expect(await q("SELECT status FROM inbox_message")).toEqual([{ status: 'processed' }]);
  expect((await q('SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(1);

  // The sender, having had no answer, resends: recognised, nothing doubled.
  const resend = await fetch(`http://127.0.0.1:${port}/fhir`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(ehrBundle(f)) });
  expect(resend.status).toBe(200);
  expect(JSON.stringify(await resend.json())).toMatch(/unchanged/);
  expect((await q('SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(1);
  expect((await q('SELECT count(*)::int AS n FROM source_resource'))[0].n).toBe(ehrBundle(f).entry.length - 1);
  restarted.child.kill('SIGTERM');
  await restarted.exited;
});
