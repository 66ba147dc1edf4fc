// The compiled simple FHIRPath (src/registry/fhirpath-simple.ts) gives what fhirpath.js gives, for
// every mapping expression of every registry: on every resource of generated messages (the demo's
// fractures and trauma receptions, as capture receives them), and on those resources broken at
// random (an element replaced by any JSON, a list where one value belongs, a primitive's extension
// `_code`, a second choice-type variant, a nested resource) — the shapes a careless or hostile
// sender posts. Either both give the same values or both throw.
//
// CI runs a fixed seed and KVALREG_PROPERTY_RUNS cases (default 3,000); KVALREG_PROPERTY_SEED picks another.
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import { generateTraumaEvents } from '../demo/trauma/generate.ts';
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { compileFhirPath } from '../src/registry/fhirpath.ts';
import { compileSimple, GIVE_UP } from '../src/registry/fhirpath-simple.ts';
import { loadRegistries } from '../src/registry/load.ts';

const RUNS = Number(process.env.KVALREG_PROPERTY_RUNS ?? 3000);
const SEED = Number(process.env.KVALREG_PROPERTY_SEED ?? 20261207);

const registries = await loadRegistries(path.resolve('registries'));

/** Every FHIRPath expression of every registry's mapping, with the resource type it is evaluated on. */
const expressions: Array<{ resource: string; expr: string }> = [];
for (const r of registries) {
  const m = r.definition.mapping;
  expressions.push({ resource: m.anchor.resource, expr: m.anchor.where });
  for (const s of m.sources) {
    if (s.where) expressions.push({ resource: s.resource, expr: s.where });
    if (s.path) expressions.push({ resource: s.resource, expr: s.path });
    for (const e of Object.values(s.values)) expressions.push({ resource: s.resource, expr: e });
  }
}

const referenceFns = new Map(expressions.map((e) => [e.expr, fhirpath.compile(e.expr, r4 as any)]));
const ourFns = new Map(expressions.map((e) => [e.expr, compileFhirPath(e.expr)]));
function reference(expr: string, resource: unknown): { value?: unknown; error?: true } {
  try {
    return { value: referenceFns.get(expr)!(resource as any) };
  } catch {
    return { error: true };
  }
}
function ours(expr: string, resource: unknown): { value?: unknown; error?: true } {
  try {
    return { value: ourFns.get(expr)!(resource) };
  } catch {
    return { error: true };
  }
}

// The demo's messages: fractures (record and operation planner) and trauma receptions.
const fractureRegistry = registries.find((r) => r.id === 'fracture')!;
const list = fractureRegistry.codelists.get('ao_ota_2018')!;
const codes = [...list.properties.entries()].filter(([c, p]) => p.group === c).map(([c]) => c);
const fractures = generateFractures({
  years: 1,
  scale: 0.03,
  seed: 5,
  rates: DEFAULT_RATES,
  lastYear: 2024,
  units: [
    { resh: '4001', weight: 1 },
    { resh: '4002', weight: 1 },
  ],
  codesByPrefix: (p) =>
    codes.filter((c) => {
      const x = list.properties.get(c)!;
      return x.segment === p || x.bone === p;
    }),
});
const trauma = generateTraumaEvents({
  years: 1,
  scale: 0.1,
  seed: 5,
  lastYear: 2024,
  units: [
    { resh: '5001', hospital: '5000', weight: 1, trauma: true },
    { resh: '5002', hospital: '5010', weight: 1 },
  ],
});
const bundles = [
  ...fractures.flatMap((f) => [ehrBundle(f), plannerBundle(f)].filter(Boolean)),
  ...trauma.map((t) => traumaBundle(t)),
] as Array<Record<string, any>>;
const resources: Array<Record<string, any>> = bundles.flatMap((b) => b.entry.map((e: any) => e.resource).filter(Boolean));

/** Asserts equal answers (the message, with the resource, is built only when they differ). */
function same(expr: string, r: unknown): void {
  const a = ours(expr, r),
    b = reference(expr, r);
  if (!isDeepStrictEqual(a, b)) expect(a, `${expr} on ${JSON.stringify(r)}`).toEqual(b);
}

const simpleFns = new Map(expressions.map((e) => [e.expr, compileSimple(e.expr)]));

describe('compiled simple FHIRPath', () => {
  it('compiles the common mapping expressions (the test would prove nothing if none compiled)', () => {
    const simple = expressions.filter((e) => compileSimple(e.expr));
    expect(simple.length).toBeGreaterThanOrEqual(Math.floor(expressions.length * 0.8));
    for (const e of [
      "code.coding.where(system = 'urn:kvalreg:codesystem:ao-ota-2018').code",
      'onset',
      "where(code.coding.code = 'open-fracture').value",
      "medication.coding.where(system = 'http://www.whocc.no/atc' and code.startsWith('J01')).exists()",
    ])
      expect(compileSimple(e), e).toBeTruthy();
    // What the subset leaves to fhirpath.js.
    for (const e of [
      'performed.start | performed.ofType(dateTime)',
      "code.coding.where(code = 'x').exists().where($this)",
      'code.coding.exists().not()',
    ])
      expect(compileSimple(e), e).toBeTruthy();
    for (const e of ['onset.where($this.toString().length() > 10)', 'Condition.code', "code.coding.code ~ 'x'", 'performed.ofType(Period)'])
      expect(compileSimple(e), e).toBeUndefined();
    // Choice-type variants one at a time, as senders use them.
    for (const r of [
      { resourceType: 'Procedure', performedDateTime: '2024-03-31T02:30:00+02:00' },
      { resourceType: 'Procedure', performedPeriod: { start: '2024-03-31' } },
      { resourceType: 'Procedure', performedString: 'yesterday' },
      { resourceType: 'Procedure' },
    ])
      same('performed.start | performed.ofType(dateTime)', r);
  });

  it(`gives fhirpath.js's values for every expression on every resource of ${bundles.length} generated messages`, () => {
    expect(resources.length).toBeGreaterThan(500);
    let compared = 0,
      answered = 0;
    for (const r of resources) {
      for (const e of expressions) {
        if (e.resource !== r.resourceType) continue;
        same(e.expr, r);
        compared++;
        const simple = simpleFns.get(e.expr);
        if (simple && simple(r) !== GIVE_UP) answered++;
      }
    }
    // Well-formed resources are answered by the compiled form itself, not handed back.
    expect(compared).toBeGreaterThan(2000);
    expect(answered / compared).toBeGreaterThan(0.75);
  }, 300_000);

  it("gives fhirpath.js's values (or throws as it does) on resources broken at random", () => {
    const literals = [...new Set(expressions.flatMap((e) => [...e.expr.matchAll(/'([^']*)'/g)].map((m) => m[1])))];
    const leaf = fc.oneof(
      fc.constantFrom(...literals),
      fc.string({ maxLength: 4 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom('2024-01-02', '2024-01-02T10:00:00+01:00', 'J01XX', 'T27.3'),
    );
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.array(tie('any'), { maxLength: 3 }),
        fc.dictionary(
          fc.constantFrom(
            'system',
            'code',
            'coding',
            'value',
            'start',
            'identifier',
            '_code',
            '_system',
            'resourceType',
            'valueBoolean',
            'valueString',
          ),
          tie('any'),
          { maxKeys: 3 },
        ),
      ),
    })).any;
    const mutation = fc.record({
      resource: fc.nat({ max: resources.length - 1 }),
      at: fc.nat(),
      kind: fc.constantFrom('replace', 'wrap', 'underscore', 'choice', 'delete', 'resource'),
      value,
    });
    /** Every (object, key) in a resource: where a mutation may strike. */
    const slots = (o: any, out: Array<[any, string]> = []): Array<[any, string]> => {
      if (Array.isArray(o)) {
        o.forEach((x, i) => {
          out.push([o, String(i)]);
          slots(x, out);
        });
      } else if (o && typeof o === 'object') {
        for (const k of Object.keys(o)) {
          if (k !== 'resourceType') out.push([o, k]);
          slots(o[k], out);
        }
      }
      return out;
    };
    fc.assert(
      fc.property(mutation, (m) => {
        const r = structuredClone(resources[m.resource]);
        const all = slots(r);
        if (all.length === 0) return;
        const [obj, key] = all[m.at % all.length];
        switch (m.kind) {
          case 'replace':
            obj[key] = m.value;
            break;
          case 'wrap':
            obj[key] = [obj[key], obj[key]];
            break;
          case 'underscore':
            if (!Array.isArray(obj)) obj[`_${key}`] = { extension: [] };
            break;
          case 'choice':
            if (!Array.isArray(obj)) {
              obj.valueString = 'x';
              obj.onsetString = 'x';
              obj.performedDateTime = '2024-01-01';
            }
            break;
          case 'delete':
            if (Array.isArray(obj)) obj.splice(Number(key), 1);
            else delete obj[key];
            break;
          case 'resource':
            obj[key] = {
              resourceType: 'Observation',
              code: { coding: [{ system: literals[m.at % literals.length], code: 'open-fracture' }] },
              valueBoolean: true,
            };
            break;
        }
        for (const e of expressions) {
          if (e.resource !== r.resourceType) continue;
          same(e.expr, r);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 300_000);
});
