// Property-based fuzzing of POST /fhir: malformed JSON, wrong types, huge strings, deep nesting,
// invalid identity numbers, injection strings. Whatever arrives: no 5xx, an OperationOutcome for
// every refusal, and nothing stored partially.
import fc from 'fast-check';
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

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const injections = [
  "'; DROP TABLE person; --",
  '" OR 1=1 --',
  '${7*7}',
  '<script>alert(1)</script>',
  '\u202e\u0000',
  '../../etc/passwd',
  '{"$where": "1"}',
  'Condition?identifier=x|y',
];
const nasty = fc.oneof(
  fc.constantFrom(...injections),
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => 'x'.repeat(n)),
  // Deep nesting is spliced into the JSON text (as a value it would overflow the generator's own stack).
  fc.integer({ min: 50, max: 5000 }).map((depth) => `__DEEP_${depth}__`),
  fc.stringMatching(/^\d{11}$/),
);

/** A valid fracture bundle with one element, somewhere in it, replaced by something nasty. */
const mutatedBundle = fc.record({ seed: fc.nat(), value: nasty, pick: fc.nat() }).map(({ value, pick }) => {
  const b: any = ehrBundle(fracture());
  const paths: Array<[any, string | number]> = [];
  const walk = (node: any) => {
    if (!node || typeof node !== 'object') return;
    for (const k of Object.keys(node)) {
      paths.push([node, Array.isArray(node) ? Number(k) : k]);
      walk(node[k]);
    }
  };
  walk(b);
  const [parent, key] = paths[pick % paths.length];
  parent[key] = value;
  return JSON.stringify(b).replace(/"__DEEP_(\d+)__"/, (_m, d) => '['.repeat(Number(d)) + ']'.repeat(Number(d)));
});

const bodies = fc.oneof(
  { weight: 6, arbitrary: mutatedBundle },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 4000 })
      .map((d) => `{"resourceType":"Bundle","type":"batch","entry":[{"resource":${'['.repeat(d)}${']'.repeat(d)}}]}`),
  },
);

const counts = async () =>
  (
    await t.platform.db.pool.query(`SELECT (SELECT count(*) FROM person)::int AS p, (SELECT count(*) FROM registry_case)::int AS c,
  (SELECT count(*) FROM case_form)::int AS f, (SELECT count(*) FROM source_resource)::int AS r`)
  ).rows[0];

it('never answers 5xx, always explains a refusal, never stores a rejected message partially', async () => {
  let run = 0,
    refused = 0,
    accepted = 0;
  await fc.assert(
    fc.asyncProperty(bodies, async (body) => {
      run++;
      const before = await counts();
      const res = await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: body,
      });
      expect(res.statusCode, body.slice(0, 300)).toBeLessThan(500);
      const json = res.json();
      if (res.statusCode >= 400) {
        refused++;
        expect(json.resourceType).toBe('OperationOutcome');
        expect(json.issue[0].diagnostics.length).toBeGreaterThan(10);
        expect(await counts()).toEqual(before);
      } else {
        accepted++;
        expect(['transaction-response', 'batch-response']).toContain(json.type);
      }
    }),
    { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261122) },
  );
  console.log(
    `fuzz: ${run} cases run against POST /fhir, ${refused} refused with an OperationOutcome, ${accepted} accepted, 0 server errors`,
  );
}, 300_000);
