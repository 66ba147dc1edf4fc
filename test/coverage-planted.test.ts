// Planted truth: the demo sends a year of fractures through the FHIR API and an NPR extract in
// which each hospital's coverage is planted (demo/fracture/npr.ts); the linkage recovers it within
// sampling error. A hospital holding n registered fractures of N in NPR estimates c by n / N, with
// standard error √(c(1 − c) / N); we allow 3.5 of them (and pool the small hospitals by planted value).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDemo } from '../src/cli/demo.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let result: Awaited<ReturnType<typeof runDemo>>;
beforeAll(async () => {
  t = await testPlatform();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.server.address() as { port: number }).port;
  result = await runDemo(t.platform, `http://127.0.0.1:${port}`, { years: 1, scale: 0.15, seed: 11, concurrency: 4 });
}, 600_000);
afterAll(async () => {
  await t?.close();
});

it('recovers the planted coverage per hospital, and pooled by planted value', async () => {
  expect(result.failed).toBe(0);
  const rows = await t.platform.quality.coverageRows(t.platform.registry('fracture')!);
  const year = new Date().getFullYear() - 1;
  const hospitals = rows.filter((r) => r.year === year && t.platform.units.get(r.unit)?.level === 'hospital');
  const within = (c: number, k: number, n: number) => Math.abs(k / n - c) <= 3.5 * Math.sqrt((c * (1 - c)) / n);
  // The demo area's hospital has hundreds of fractures: on its own.
  const big = hospitals.filter((r) => r.bothNpr + r.onlyNpr + r.onlyRegistry >= 150);
  expect(big.length).toBeGreaterThan(0);
  for (const r of big) {
    const n = r.bothNpr + r.onlyNpr + r.onlyRegistry;
    expect(
      within(result.planted.get(r.unit)!, r.onlyRegistry + r.bothNpr, n),
      `${r.unit}: ${r.coverage} vs ${result.planted.get(r.unit)}`,
    ).toBe(true);
  }
  // The others, pooled by their planted coverage.
  const pools = new Map<number, { k: number; n: number }>();
  for (const r of hospitals.filter((x) => !big.includes(x))) {
    const c = result.planted.get(r.unit)!;
    const p = pools.get(c) ?? { k: 0, n: 0 };
    p.k += r.onlyRegistry + r.bothNpr;
    p.n += r.bothNpr + r.onlyNpr + r.onlyRegistry;
    pools.set(c, p);
  }
  expect(pools.size).toBeGreaterThanOrEqual(3);
  for (const [c, p] of pools) expect(within(c, p.k, p.n), `planted ${c}: ${p.k}/${p.n}`).toBe(true);
  // Under 60 % is marked low where results are shown: the 50 % hospitals' pooled estimate is.
  expect(pools.get(0.5)!.k / pools.get(0.5)!.n).toBeLessThan(0.6);
}, 120_000);
