// Behind a reverse proxy: a real proxy process (test/helpers/reverse-proxy.mjs, http-proxy with
// X-Forwarded-For) in front of the platform listening on a real port. Clients come from different
// loopback addresses (127.0.0.2, 127.0.0.3 …: Linux routes all of 127.0.0.0/8 to the loopback).
// The platform trusts only the proxy (KVALREG_TRUSTED_PROXIES=127.0.0.1): through it each client
// has its own anonymous rate limit and its own address in the audit trail; an X-Forwarded-For
// sent by anyone else, or put in front by a client, is not believed.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let proxy: ChildProcess;
let direct: number;
let proxied: number;
const LIMIT = 5;

beforeAll(async () => {
  t = await testPlatform({ KVALREG_TRUSTED_PROXIES: '127.0.0.1', KVALREG_ANONYMOUS_RATE_LIMIT: String(LIMIT) });
  await t.app.listen({ host: '0.0.0.0', port: 0 });
  direct = (t.app.server.address() as { port: number }).port;
  proxy = spawn(process.execPath, [path.resolve('test/helpers/reverse-proxy.mjs'), `http://127.0.0.1:${direct}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proxied = await new Promise<number>((resolve, reject) => {
    proxy.once('exit', (code) => reject(new Error(`the proxy exited (${code})`)));
    readline.createInterface({ input: proxy.stdout! }).on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
}, 120_000);
afterAll(async () => {
  proxy?.kill('SIGTERM');
  await t?.close();
});

/** A request from a given local address, to the proxy or straight to the platform. */
function from(
  client: string,
  port: number,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, localAddress: client, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const auditClients = async (object: string) =>
  (await t.platform.db.pool.query('SELECT client FROM audit_event WHERE object = $1 ORDER BY id', [object])).rows.map((r) => r.client);

it('gives each client behind the proxy its own anonymous rate limit', async () => {
  const a: number[] = [];
  for (let i = 0; i < LIMIT + 2; i++) a.push((await from('127.0.0.2', proxied, '/api/me')).status);
  expect(a.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(401));
  expect(a.slice(LIMIT)).toEqual([429, 429]);
  // Another client through the same proxy (the same peer address for the platform) is not throttled.
  expect((await from('127.0.0.3', proxied, '/api/me')).status).toBe(401);
});

it("writes each client's own address to the audit trail, not the proxy's", async () => {
  const auth = { authorization: `Bearer ${t.tokens.registrarSus}` };
  expect((await from('127.0.0.4', proxied, '/api/inbox', auth)).status).toBe(403);
  expect((await from('127.0.0.5', proxied, '/api/inbox', auth)).status).toBe(403);
  expect(await auditClients('/api/inbox')).toEqual(['127.0.0.4', '127.0.0.5']);
});

it("ignores X-Forwarded-For from a peer that is not a trusted proxy, and a client's own in front of the proxy's", async () => {
  const auth = { authorization: `Bearer ${t.tokens.registrarSus}` };
  // Straight to the platform, claiming to be someone else.
  expect((await from('127.0.0.6', direct, '/api/audit', { ...auth, 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
  // Through the proxy, with a forged hop before the proxy's own: the proxy appends the real peer.
  expect((await from('127.0.0.7', proxied, '/api/audit', { ...auth, 'x-forwarded-for': '198.51.100.7' })).status).toBe(403);
  expect(await auditClients('/api/audit')).toEqual(['127.0.0.6', '127.0.0.7']);
  // The same for the rate limit: a forged header does not give a throttled client a new budget.
  for (let i = 0; i < LIMIT; i++) await from('127.0.0.8', direct, '/api/me');
  expect((await from('127.0.0.8', direct, '/api/me', { 'x-forwarded-for': '192.0.2.1' })).status).toBe(429);
});
