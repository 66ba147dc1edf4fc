// The benchmarks' base sample: synthetic fractures over the orthopaedic departments, captured
// through the real pipeline as batch Bundles of 100 from two senders (record system and operation
// planner), four at a time, so the analytics queue is filled by the tables' triggers as in
// production.
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import type { Platform } from '../src/platform.ts';

/** Generates about `fractures` fractures over `years` years and captures them; returns how many. */
export async function captureSample(platform: Platform, o: { fractures: number; years: number }): Promise<number> {
  const registry = platform.registry('fracture')!;
  const list = registry.codelists.get('ao_ota_2018')!;
  const codes = [...list.properties.entries()].filter(([code, p]) => p.group === code).map(([code]) => code);
  const units = platform.units
    .all()
    .filter((u) => u.level === 'department' && u.kind !== 'emergency_department')
    .map((u) => ({ resh: u.resh, weight: 1 }));
  const specs = generateFractures({
    years: o.years,
    scale: o.fractures / o.years / 6700,
    seed: 1,
    rates: DEFAULT_RATES,
    units,
    lastYear: new Date().getFullYear() - 1,
    codesByPrefix: (prefix) =>
      codes.filter((c) => {
        const x = list.properties.get(c)!;
        return x.segment === prefix || x.bone === prefix;
      }),
  });
  const ehr = { kind: 'system', sender: 'bench-ehr', name: 'bench' } as const;
  const planner = { kind: 'system', sender: 'bench-planner', name: 'bench' } as const;
  const batches: Array<{ caller: typeof ehr | typeof planner; body: string }> = [];
  for (let i = 0; i < specs.length; i += 100) {
    const chunk = specs.slice(i, i + 100);
    batches.push({
      caller: ehr,
      body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: chunk.flatMap((f) => ehrBundle(f, 'batch').entry) }),
    });
    const ops = chunk
      .map((f) => plannerBundle(f))
      .filter((b) => b !== null)
      .flatMap((b) => b!.entry);
    if (ops.length) batches.push({ caller: planner, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: ops }) });
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const b = batches[next++];
        await platform.inbox.capture(b.caller, 'fhir', b.body);
        if (process.stdout.isTTY)
          process.stdout.write(`  captured ${Math.min(specs.length, Math.round((next / batches.length) * specs.length))} fractures\r`);
      }
    }),
  );
  return specs.length;
}

/**
 * The sample's times of registration and change moved to within weeks of each injury, as a
 * hospital's systems send them. Captured today, every case would be registered up to the sample's
 * span of years after its injury: delays no registry has, which make the timeliness figures
 * meaningless and their histograms (one count per day of delay) as wide as the span.
 */
export async function registeredNearTheInjury(platform: Platform): Promise<void> {
  await platform.db.pool.query(
    `WITH d AS (SELECT c.id, ((f.data->>'injury_date')::date + time '12:00' + make_interval(days => abs(hashtext(c.id::text)) % 21)) AT TIME ZONE 'Europe/Oslo' AS at
                FROM registry_case c JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id AND f.form = 'skade'
                WHERE c.registry = 'fracture' AND f.data ? 'injury_date'),
      u AS (UPDATE registry_case c SET created_at = d.at, updated_at = d.at FROM d WHERE c.registry = 'fracture' AND c.id = d.id RETURNING c.id, d.at)
    UPDATE case_form f SET updated_at = u.at + make_interval(days => abs(hashtext(f.case_id::text || f.form)) % 60)
    FROM u WHERE f.registry = 'fracture' AND f.case_id = u.id`,
  );
}
