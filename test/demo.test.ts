// The demo generator sends synthetic traffic through the real API; the planted rates come back.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDemo } from '../src/cli/demo.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await t?.close();
});

it('sends a small year through POST /fhir from four senders (the PROM system last), with valid synthetic numbers', async () => {
  const port = (t.app.server.address() as { port: number }).port;
  const result = await runDemo(t.platform, `http://127.0.0.1:${port}`, {
    years: 1,
    scale: 0.05,
    seed: 7,
    concurrency: 4,
    rate: ['emergencyWithin24h=0.9'],
  });
  expect(result.failed).toBe(0);
  const q = async (sql: string) => (await t.platform.db.pool.query(sql)).rows;
  const senders = (await q('SELECT DISTINCT sender FROM inbox_message ORDER BY 1')).map((r) => r.sender);
  expect(senders).toEqual(['demo-dips-arena', 'demo-eprom', 'demo-folkeregister', 'demo-orbit']);
  const cases = (await q("SELECT count(*)::int AS n FROM registry_case WHERE registry = 'fracture'"))[0].n;
  const referred = (await q("SELECT count(*)::int AS n FROM routing_decision WHERE decision = 'referred'"))[0].n;
  expect(cases + referred).toBe(result.fractures);
  expect(result.fractures).toBe(Math.round(6700 * 0.05));
  // Wrist fractures are the most common, and hand fractures are there.
  const byBone = await q("SELECT data->>'ao_code' AS ao FROM case_form WHERE form = 'skade'");
  expect(byBone.some((r) => r.ao.startsWith('7'))).toBe(true);
  expect(referred).toBeGreaterThan(0);
  // Women over 50 outnumber men over 50.
  const sex = await q(
    "SELECT p.sex, count(*)::int AS n FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = 'fracture' AND p.birth_date < now() - interval '52 years' GROUP BY 1",
  );
  const bySex = Object.fromEntries(sex.map((r) => [r.sex, r.n]));
  expect(bySex.female).toBeGreaterThan(bySex.male);
  // Trauma receptions through the same API: events at the emergency departments, and transfers to
  // the trauma hospital joined to the first hospital's trauma event.
  expect(result.traumaEvents).toBeGreaterThan(10);
  const trauma = await q(
    "SELECT count(*)::int AS n, count(DISTINCT event_key)::int AS events, count(*) FILTER (WHERE event_key IS NULL)::int AS unkeyed FROM registry_case WHERE registry = 'trauma'",
  );
  expect(trauma[0].n).toBe(result.traumaEvents);
  expect(trauma[0].unkeyed).toBe(0);
  expect(trauma[0].events).toBeLessThanOrEqual(trauma[0].n);
  // Deaths arrived from the population register.
  expect((await q('SELECT count(*)::int AS n FROM person WHERE deceased_date IS NOT NULL'))[0].n).toBeGreaterThan(0);
  // A year of four senders' traffic, the PROM answers included: more than the default minute on a busy machine.
}, 300_000);
