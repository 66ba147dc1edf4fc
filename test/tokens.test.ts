// Bearer tokens expire, and a revoked (or deleted) token stops working at once — not a minute
// later, as when the server kept callers in a cache — also when `kvalreg token revoke` runs in
// another process beside the server.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, DEFAULT_TOKEN_DAYS, revokeTokens } from '../src/auth/tokens.ts';
import { parseExpiry } from '../src/cli/token.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_RATE_LIMIT: '0', KVALREG_ANONYMOUS_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await t?.close();
});

const db = () => t.platform.db.pool;
const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${token}` } });

function kvalreg(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve('bin/kvalreg.js'), ...args], {
      env: { ...process.env, ...t.env, LOG_LEVEL: 'warn' },
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('expiry', () => {
  it('gives every token an expiry: a year for a sending system, 90 days for a person, unless told', async () => {
    const system = await createToken(db(), { name: 'exp-system', kind: 'system', sender: 'exp' });
    const user = await createToken(db(), {
      name: 'exp-user',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-reader', unit: '8201100' }],
    });
    const until = new Date(Date.now() + 3 * 86_400_000);
    await createToken(db(), { name: 'exp-chosen', kind: 'user', grants: [], expiresAt: until });
    const rows = (
      await db().query(
        "SELECT name, extract(epoch FROM expires_at - created_at) / 86400 AS days, expires_at FROM api_token WHERE name LIKE 'exp-%' ORDER BY name",
      )
    ).rows;
    const days = Object.fromEntries(rows.map((r) => [r.name, Math.round(Number(r.days))]));
    expect(days).toEqual({ 'exp-chosen': 3, 'exp-system': DEFAULT_TOKEN_DAYS.system, 'exp-user': DEFAULT_TOKEN_DAYS.user });
    expect((await me(system)).statusCode).toBe(200);
    expect((await me(user)).statusCode).toBe(200);
  });

  it('refuses an expired token at once, and says it expired', async () => {
    const token = await createToken(db(), { name: 'soon-expired', kind: 'system', sender: 'soon' });
    expect((await me(token)).statusCode).toBe(200); // known, and (before) remembered for a minute
    await db().query("UPDATE api_token SET expires_at = now() - interval '1 second' WHERE name = 'soon-expired'");
    const res = await me(token);
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatch(/The bearer token was expired on \d{4}-\d{2}-\d{2}T.*Ask the registry for a new token/);
    // On the FHIR API too, as an OperationOutcome.
    const fhir = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      payload: '{}',
    });
    expect(fhir.statusCode).toBe(401);
    expect(fhir.json().issue[0].diagnostics).toMatch(/expired/);
  });
});

describe('revocation', () => {
  it('refuses a revoked token from the very next request', async () => {
    const token = await createToken(db(), {
      name: 'to-revoke',
      kind: 'user',
      grants: [{ registry: '*', role: 'registry-admin', unit: '1' }],
    });
    expect((await t.app.inject({ method: 'GET', url: '/api/inbox', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    expect(await revokeTokens(db(), { token })).toEqual(['to-revoke']);
    const res = await t.app.inject({ method: 'GET', url: '/api/inbox', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatch(/The bearer token was revoked/);
  });

  it('refuses a deleted token from the very next request', async () => {
    const token = await createToken(db(), { name: 'to-delete', kind: 'system', sender: 'gone' });
    expect((await me(token)).statusCode).toBe(200);
    await db().query("DELETE FROM api_token WHERE name = 'to-delete'");
    expect((await me(token)).statusCode).toBe(401);
  });

  it('revokes by name from the command line, while the server runs, with effect at once', async () => {
    const issued = await kvalreg('token', '--name', 'cli-sender', '--system', 'cli', '--expires', '2d');
    expect(issued.code, issued.stderr).toBe(0);
    const token = issued.stdout.trim();
    expect(token).toMatch(/^kvr_/);
    expect(issued.stderr).toMatch(/Token "cli-sender" expires \d{4}-/);
    const expires = (
      await db().query("SELECT extract(epoch FROM expires_at - now()) / 3600 AS hours FROM api_token WHERE name = 'cli-sender'")
    ).rows[0].hours;
    expect(Math.round(Number(expires))).toBe(48);
    expect((await me(token)).statusCode).toBe(200);

    const revoked = await kvalreg('token', 'revoke', '--name', 'cli-sender');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/Revoked 1 token named "cli-sender"/);
    expect((await me(token)).statusCode).toBe(401);

    const list = await kvalreg('token', 'list');
    expect(list.stdout).toMatch(/cli-sender\tsystem:cli\tissued \S+\trevoked \d{4}-/);
    expect(list.stdout).not.toContain(token);

    const tooLong = await kvalreg('token', '--name', 'x', '--system', 'x', '--expires', '10y');
    expect(tooLong.code).not.toBe(0);
    expect(tooLong.stderr).toMatch(/at most 5 years/);
  }, 120_000);
});

it('reads --expires as a duration or a date', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  expect(parseExpiry('90d', now).toISOString()).toBe('2026-05-30T12:00:00.000Z');
  expect(parseExpiry('36h', now).toISOString()).toBe('2026-03-03T00:00:00.000Z');
  expect(parseExpiry('2w', now).toISOString()).toBe('2026-03-15T12:00:00.000Z');
  expect(parseExpiry('1y', now).toISOString()).toBe('2027-03-01T12:00:00.000Z');
  expect(parseExpiry('2026-12-31', now).toISOString()).toBe('2027-01-01T00:00:00.000Z'); // through that day
  expect(() => parseExpiry('2026-02-01', now)).toThrow(/not in the future/);
  expect(() => parseExpiry('soon', now)).toThrow(/a duration such as 90d/);
  expect(() => parseExpiry('6y', now)).toThrow(/at most 5 years/);
});
