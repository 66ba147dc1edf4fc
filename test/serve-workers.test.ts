// Serving on every core (KVALREG_WORKERS, src/server/cluster.ts): a real `kvalreg serve` with two
// HTTP worker processes. Messages posted to the shared port are captured (each once); the
// background jobs run in the primary only (its log says it once; the analytics refresh — a job —
// brings the captured cases into the analytics table); a worker that is killed is replaced and the
// service goes on; SIGTERM to the primary stops every process cleanly.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { createToken } from '../src/auth/tokens.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { loadRegistries } from '../src/registry/load.ts';
import { gone, serveOwnDatabase, type Served } from './helpers/served.ts';

/** The child processes of `pid` (the workers of a primary). */
function children(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim().startsWith('node');
      } catch {
        return false;
      }
    });
}
async function waitFor<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  for (const until = Date.now() + ms; Date.now() < until;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('kvalreg serve with KVALREG_WORKERS=2', () => {
  let s: Served;
  let token: string;
  let bundles: Array<Record<string, any>>;
  beforeAll(async () => {
    s = await serveOwnDatabase({ KVALREG_WORKERS: '2', KVALREG_ANALYTICS_INTERVAL_MS: '500' });
    const db = await s.client();
    try {
      token = await createToken(db, { name: 'workers-ehr', kind: 'system', sender: 'workers-ehr' });
      const units = (
        await db.query("SELECT resh FROM org_unit WHERE level = 'department' AND kind = 'orthopaedic' ORDER BY resh LIMIT 3")
      ).rows.map((r) => ({ resh: r.resh as string, weight: 1 }));
      const fracture = (await loadRegistries(path.resolve('registries'))).find((r) => r.id === 'fracture')!;
      const list = fracture.codelists.get('ao_ota_2018')!;
      const codes = [...list.properties.entries()].filter(([c, p]) => p.group === c).map(([c]) => c);
      bundles = generateFractures({
        years: 1,
        scale: 0.005,
        seed: 3,
        rates: DEFAULT_RATES,
        units,
        lastYear: 2024,
        codesByPrefix: (p) =>
          codes.filter((c) => {
            const x = list.properties.get(c)!;
            return x.segment === p || x.bone === p;
          }),
      })
        .filter((f) => !f.aoCode.startsWith('31'))
        .slice(0, 24)
        .map((f) => ehrBundle(f));
    } finally {
      await db.end();
    }
  }, 240_000);
  afterAll(async () => {
    await s?.close();
  }, 60_000);

  const post = (b: unknown) =>
    fetch(`${s.url}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(b),
    });

  it('runs two HTTP workers beside the primary, and the background jobs once', async () => {
    await waitFor('two workers', () => children(s.child.pid!).length >= 2 || undefined);
    expect(children(s.child.pid!)).toHaveLength(2);
    await waitFor('both workers listening', () => count(s.output(), 'HTTP worker is running') >= 2 || undefined);
    expect(count(s.output(), 'HTTP worker is running')).toBe(2);
    // The jobs start where "kvalreg is running" is logged: in the primary alone.
    expect(count(s.output(), 'kvalreg is running')).toBe(1);
  });

  it("captures every message posted concurrently, each once, and the primary's analytics job counts them", async () => {
    const half = bundles.slice(0, 12);
    const answers = await Promise.all(half.map(async (b) => (await post(b)).status));
    expect(answers).toEqual(half.map(() => 200));
    // A resend changes nothing (idempotent across workers too).
    expect((await post(half[0])).status).toBe(200);
    const db = await s.client();
    try {
      expect(Number((await db.query("SELECT count(*) FROM registry_case WHERE registry = 'fracture'")).rows[0].count)).toBe(12);
      await waitFor(
        'the analytics refresh',
        async () =>
          Number((await db.query(`SELECT count(*) FROM ${analyticsTable({ id: 'fracture' })}`)).rows[0].count) === 12 || undefined,
      );
    } finally {
      await db.end();
    }
  }, 120_000);

  it('replaces a worker that dies, and goes on serving', async () => {
    const [victim] = children(s.child.pid!);
    process.kill(victim, 'SIGKILL');
    expect(await gone(victim, 10_000)).toBe(true);
    await waitFor('a new worker', () => {
      const now = children(s.child.pid!);
      return (now.length === 2 && !now.includes(victim)) || undefined;
    });
    await waitFor('the new worker listening', () => count(s.output(), 'HTTP worker is running') >= 3 || undefined);
    const rest = bundles.slice(12);
    expect(await Promise.all(rest.map(async (b) => (await post(b)).status))).toEqual(rest.map(() => 200));
    const db = await s.client();
    try {
      expect(Number((await db.query("SELECT count(*) FROM registry_case WHERE registry = 'fracture'")).rows[0].count)).toBe(24);
    } finally {
      await db.end();
    }
  }, 120_000);

  it('stops every process on SIGTERM to the primary', async () => {
    const workers = children(s.child.pid!);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    for (const w of workers) expect(await gone(w, 10_000)).toBe(true);
  }, 60_000);
});
