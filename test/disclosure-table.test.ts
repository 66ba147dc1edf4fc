// The disclosure module's rule, without a database: primary suppression of small counts, secondary
// suppression so that no withheld count is the only unknown of a sum a reader knows, checked by
// hand on the tester's examples and by the attacker of the disclosure test on random tables.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountDisclosure, type CountTableInput } from '../src/disclosure/counts.ts';
import { indicatorDisclosure } from '../src/disclosure/indicators.ts';
import { periodDisclosure, type PeriodCell } from '../src/disclosure/periods.ts';
import { loadIndicators } from '../src/indicators/load.ts';
import { loadRegistry } from '../src/registry/load.ts';
import { DisclosureTable } from '../src/disclosure/table.ts';
import { UnitTree, type Unit } from '../src/units/tree.ts';
import { attack, Knowledge, sumRelation, type Relation } from './helpers/disclosure-attack.ts';
import { scratchDir } from './helpers/scratch.ts';

const T = 5;

describe('the disclosure table', () => {
  it('withholds a second age group when one is withheld beside a shown total (42 = 12 + 11 + 16 + 3)', () => {
    const t = new DisclosureTable(T);
    for (const [k, v] of [
      ['total', 42],
      ['a', 12],
      ['b', 11],
      ['c', 16],
      ['d', 3],
    ] as const)
      t.add(k, v);
    t.withhold('d', 'small');
    t.relate('total', ['a', 'b', 'c', 'd']);
    expect(t.protect()).toEqual({ secondary: 1, unresolved: 0 });
    // The next smallest, 11, goes with it: 42 − 12 − 16 = 14 = b + d, which could be 11 + 3 or 13 + 1 …
    expect(['a', 'b', 'c', 'd'].map((k) => t.reason(k))).toEqual([null, 'linked', null, 'small']);
  });

  it('withholds a sibling unit, and goes up the hierarchy when the withheld unit is an only child', () => {
    const t = new DisclosureTable(T);
    for (const [k, v] of [
      ['trust', 90],
      ['h1', 50],
      ['h2', 40],
      ['h1/d1', 47],
      ['h1/d2', 3],
      ['h2/d1', 40],
    ] as const)
      t.add(k, v);
    t.withhold('h1/d2', 'small');
    t.relate('trust', ['h1', 'h2']);
    t.relate('h1', ['h1/d1', 'h1/d2']);
    t.relate('h2', ['h2/d1']);
    t.protect();
    // h1 = d1 + d2 with d2 withheld: the smallest other part, d1, is withheld; h1 itself stays.
    expect(t.reason('h1/d1')).toBe('linked');
    expect(t.reason('h1')).toBeNull();
  });

  it('treats withheld parts that can only be zeros or ones as given away', () => {
    const zeros = new DisclosureTable(T, false);
    for (const [k, v] of [
      ['p', 20],
      ['a', 0],
      ['b', 0],
      ['c', 20],
    ] as const)
      zeros.add(k, v);
    zeros.withhold('a', 'too-few');
    zeros.withhold('b', 'too-few');
    zeros.relate('p', ['a', 'b', 'c']);
    zeros.protect();
    expect(zeros.reason('c')).toBe('linked');
    const ones = new DisclosureTable(T, true);
    for (const [k, v] of [
      ['p', 22],
      ['a', 1],
      ['b', 1],
      ['c', 20],
    ] as const)
      ones.add(k, v);
    ones.withhold('a', 'small');
    ones.withhold('b', 'small');
    ones.relate('p', ['a', 'b', 'c']);
    ones.protect();
    expect(ones.reason('c')).toBe('linked');
  });

  it('makes what a relation does not account for a cell of its own, protected when small', () => {
    // A hospital with 43 cases, 40 at its department and 3 registered at the hospital itself.
    const t = new DisclosureTable(T);
    t.add('h', 43);
    t.add('d', 40);
    t.relate('h', ['d']);
    t.protect();
    // The 3 are the only unknown of h = d + 3: one of the shown cells must go.
    expect([t.reason('h'), t.reason('d')]).toContain('linked');
  });
});

// A random organisation: a nation, 1–3 regions, each with 1–3 hospitals of 1–3 departments.
const tree = fc.array(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 });
function unitsOf(shape: number[][]): Unit[] {
  const units: Unit[] = [{ resh: 'N', parent: null, level: 'nation', kind: null, short: null, nameNb: 'N', nameEn: null, path: ['N'] }];
  shape.forEach((hospitals, r) => {
    const R = `R${r}`;
    units.push({ resh: R, parent: 'N', level: 'region', kind: null, short: null, nameNb: R, nameEn: null, path: ['N', R] });
    hospitals.forEach((departments, h) => {
      const H = `${R}H${h}`;
      units.push({ resh: H, parent: R, level: 'hospital', kind: null, short: null, nameNb: H, nameEn: null, path: ['N', R, H] });
      for (let d = 0; d < departments; d++)
        units.push({
          resh: `${H}D${d}`,
          parent: H,
          level: 'department',
          kind: null,
          short: null,
          nameNb: `${H}D${d}`,
          nameEn: null,
          path: ['N', R, H, `${H}D${d}`],
        });
    });
  });
  return units;
}

describe('secondary suppression on random tables', () => {
  it("leaves no withheld count derivable by the disclosure test's attacker (units × quarters × strata, denominators and numerators)", () => {
    fc.assert(
      fc.property(
        tree,
        fc.array(fc.nat(9), { minLength: 400, maxLength: 400 }),
        fc.array(fc.nat(6), { minLength: 400, maxLength: 400 }),
        (shape, dens, nums) => {
          const units = unitsOf(shape);
          const ut = new UnitTree(units);
          const leaves = units.filter((u) => u.level === 'department');
          // Leaf counts per quarter and stratum (two strata), summed up the tree and over time and strata.
          const leaf = new Map<string, { n: number; k: number }>();
          let draw = 0;
          for (const u of leaves)
            for (let q = 1; q <= 4; q++)
              for (const s of ['a', 'b']) {
                const n = dens[draw % dens.length] * (draw % 3 === 0 ? 3 : 1);
                const k = Math.min(n, nums[draw % nums.length]);
                leaf.set(`${u.resh}|${q}|${s}`, { n, k });
                draw++;
              }
          const cells: Array<PeriodCell & { n: number; k: number }> = [];
          const sum = (unit: string, qs: number[], ss: string[]) => {
            let n = 0,
              k = 0;
            for (const [key, v] of leaf) {
              const [u, q, s] = key.split('|');
              if (ut.get(u)!.path.includes(unit) && qs.includes(Number(q)) && ss.includes(s)) {
                n += v.n;
                k += v.k;
              }
            }
            return { n, k };
          };
          for (const u of units) {
            cells.push({
              grain: 'year',
              period: '2024',
              unit: u.resh,
              stratifier: '',
              stratum: '',
              ...sum(u.resh, [1, 2, 3, 4], ['a', 'b']),
            });
            for (const s of ['a', 'b'])
              cells.push({ grain: 'year', period: '2024', unit: u.resh, stratifier: 'sex', stratum: s, ...sum(u.resh, [1, 2, 3, 4], [s]) });
            for (let q = 1; q <= 4; q++)
              cells.push({
                grain: 'quarter',
                period: `2024-Q${q}`,
                unit: u.resh,
                stratifier: '',
                stratum: '',
                ...sum(u.resh, [q], ['a', 'b']),
              });
          }
          const live = cells.filter((c) => c.n > 0);
          const [den, num] = periodDisclosure(
            live,
            [
              { values: live.map((c) => c.n), zerosShown: true, primary: (i) => (live[i].n > 0 && live[i].n < T ? 'too-few' : null) },
              {
                values: live.map((c) => c.k),
                zerosShown: false,
                primary: (i, before) => before[0][i] ?? (live[i].k > 0 && live[i].k < T ? 'small' : null),
              },
            ],
            ut,
            T,
          );
          // What the attacker sees, and the relations it knows.
          const know = new Knowledge();
          const truth = new Map<string, number>();
          const k = (c: PeriodCell, m: string) => `${c.grain}|${c.period}|${c.unit}|${c.stratifier}|${c.stratum}|${m}`;
          live.forEach((c, i) => {
            truth.set(k(c, 'n'), c.n);
            truth.set(k(c, 'k'), c.k);
            know.publish(k(c, 'n'), den[i] ? null : c.n, 'table');
            know.publish(k(c, 'k'), num[i] ? null : c.k, 'table');
          });
          const relations: Relation[] = [];
          for (const m of ['n', 'k']) {
            const at = (grain: string, period: string, unit: string, stratifier = '', stratum = '') =>
              k({ grain, period, unit, stratifier, stratum }, m);
            for (const u of units) {
              const kids = units.filter((x) => x.parent === u.resh).map((x) => x.resh);
              if (kids.length) {
                relations.push(
                  sumRelation(
                    at('year', '2024', u.resh),
                    kids.map((x) => at('year', '2024', x)),
                    'hierarchy',
                  ),
                );
                for (const s of ['a', 'b'])
                  relations.push(
                    sumRelation(
                      at('year', '2024', u.resh, 'sex', s),
                      kids.map((x) => at('year', '2024', x, 'sex', s)),
                      'hierarchy',
                    ),
                  );
                for (let q = 1; q <= 4; q++)
                  relations.push(
                    sumRelation(
                      at('quarter', `2024-Q${q}`, u.resh),
                      kids.map((x) => at('quarter', `2024-Q${q}`, x)),
                      'hierarchy',
                    ),
                  );
              }
              relations.push(
                sumRelation(
                  at('year', '2024', u.resh),
                  ['a', 'b'].map((s) => at('year', '2024', u.resh, 'sex', s)),
                  'strata',
                ),
              );
              relations.push(
                sumRelation(
                  at('year', '2024', u.resh),
                  [1, 2, 3, 4].map((q) => at('quarter', `2024-Q${q}`, u.resh)),
                  'quarters',
                ),
              );
            }
          }
          const res = attack(know, truth, relations, { threshold: T, isCount: () => true, positive: (key) => key.endsWith('|n') });
          expect(res.small).toEqual([]);
          expect(res.derived.filter((d) => d.withheld)).toEqual([]);
          expect(res.derived.filter((d) => Math.abs(d.value) > 0 && Math.abs(d.value) < T)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('what an indicator declares', () => {
  const copy = (edit: (yaml: string) => string) => {
    const dir = scratchDir('disclosure');
    fs.cpSync(path.resolve('registries/fracture'), dir, { recursive: true });
    const file = path.join(dir, 'indicators.yaml');
    fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8')));
    return dir;
  };
  const declare = (text: string) =>
    copy((y) =>
      y.replace(
        '    countBy: patient\n    periodDate: injury_date\n    population: "days(injury_date, today()) >= 30"',
        `${text}\n    countBy: patient\n    periodDate: injury_date\n    population: "days(injury_date, today()) >= 30"`,
      ),
    );

  it('withholds numerators under the threshold unless the indicator declares them shown, with a reason', async () => {
    const plain = loadIndicators(await loadRegistry(path.resolve('registries/fracture')));
    expect(new Set(plain.map((i) => i.disclosure.numerator))).toEqual(new Set(['suppress']));
    const shown = loadIndicators(
      await loadRegistry(
        declare('    disclosure: { numerator: show, reason: "Dødsfall per avdeling publiseres uansett antall (eksempel)." }'),
      ),
    );
    expect(shown.find((i) => i.def.id === 'nfr14_mortality_30_days')!.disclosure).toEqual({ threshold: 5, numerator: 'show' });
    await expect(loadRegistry(declare('    disclosure: { numerator: show }')).then(loadIndicators)).rejects.toThrow(
      /disclosure: showing numerators under the threshold needs a reason/,
    );
    await expect(loadRegistry(declare('    minimumDenominator: 3')).then(loadIndicators)).rejects.toThrow(
      /minimumDenominator: 3 is under the registry's smallCountThreshold \(5\)/,
    );
  });

  it('shows declared numerators, yet never the numerator of a withheld denominator, nor one that gives it away', () => {
    // A hospital with two departments: 40 patients with 2 deaths, and 3 patients with 1 death.
    const units = new UnitTree(unitsOf([[2]]));
    const row = (unit: string, n: number, k: number) => ({
      dataset: 'fresh',
      grain: 'year',
      period: '2024',
      unit_resh: unit,
      stratifier: '',
      stratum: '',
      numerator: k,
      denominator: n,
    });
    const counts = [row('N', 43, 3), row('R0', 43, 3), row('R0H0', 43, 3), row('R0H0D0', 40, 2), row('R0H0D1', 3, 1)];
    const decide = (numerator: 'show' | 'suppress') =>
      indicatorDisclosure(counts, { threshold: 5, minimumDenominator: 5, numerator }, units);
    // Declared shown: the 3 patients are too few, their death with them; the hospital's 43 would
    // give the 3 away (43 − 40), so the 40 go too, and their 2 deaths with them (3 − 2 = 1 otherwise).
    // The hospital's, the region's and the nation's 3 deaths of 43 are shown, as declared.
    const shown = decide('show');
    expect(shown).toEqual([
      { denominator: null, numerator: null },
      { denominator: null, numerator: null },
      { denominator: null, numerator: null },
      { denominator: 'linked', numerator: 'linked' },
      { denominator: 'too-few', numerator: 'too-few' },
    ]);
    // The default: every numerator here is under the threshold.
    expect(decide('suppress').map((w) => w.numerator)).toEqual(['small', 'small', 'small', 'linked', 'too-few']);
  });
});

describe('count tables by unit (figures)', () => {
  it('leaves no withheld cell, row, column or total derivable, at any unit, on random figures of two linked tables', () => {
    fc.assert(
      fc.property(tree, fc.array(fc.nat(12), { minLength: 300, maxLength: 300 }), (shape, draws) => {
        const units = unitsOf(shape);
        const ut = new UnitTree(units);
        const leaves = units.filter((u) => u.level === 'department');
        // Table a: x (4 values) by g (2 values); table b: x alone, over the same cases (b's cells are a's rows).
        const leaf = new Map<string, number>();
        let i = 0;
        for (const u of leaves)
          for (const x of ['p', 'q', 'r', 's'])
            for (const g of ['f', 'm']) leaf.set(`${u.resh}|${x}|${g}`, draws[i++ % draws.length] * (i % 4 === 0 ? 0 : 1));
        const a: CountTableInput = { id: 'a', base: '', axes: ['x', 'g'], counts: [], missing: [] };
        const b: CountTableInput = { id: 'b', base: '', axes: ['x'], counts: [], missing: [] };
        const truth = new Map<string, number>();
        const add = (key: string, n: number) => truth.set(key, (truth.get(key) ?? 0) + n);
        for (const [key, n] of leaf) {
          if (!n) continue;
          const [resh, x, g] = key.split('|');
          for (const u of ut.get(resh)!.path) {
            a.counts.push({ unit: u, x, g, n });
            b.counts.push({ unit: u, x, g: '', n });
            add(`a|${u}|${x}|${g}`, n);
            add(`a|${u}|${x}|*`, n);
            add(`a|${u}|*|${g}`, n);
            add(`a|${u}|*|*`, n);
            add(`b|${u}|${x}|`, n);
            add(`b|${u}|*|*`, n);
          }
        }
        const merge = (t: CountTableInput) => {
          const m = new Map<string, number>();
          for (const c of t.counts) m.set(`${c.unit}|${c.x}|${c.g}`, (m.get(`${c.unit}|${c.x}|${c.g}`) ?? 0) + c.n);
          t.counts = [...m].map(([k, n]) => {
            const [unit, x, g] = k.split('|');
            return { unit, x, g, n };
          });
        };
        merge(a);
        merge(b);
        const d = new CountDisclosure([a, b], ut, T, new Map());
        d.protect();
        const know = new Knowledge();
        for (const key of truth.keys()) {
          const [t, u, x, g] = key.split('|');
          know.publish(key, d.withheld(t, u, x, g) ? null : truth.get(key)!, 'figure');
        }
        const relations: Relation[] = [];
        for (const u of units) {
          for (const x of ['p', 'q', 'r', 's']) {
            relations.push(
              sumRelation(
                `a|${u.resh}|${x}|*`,
                ['f', 'm'].map((g) => `a|${u.resh}|${x}|${g}`),
                'row',
              ),
            );
            relations.push(sumRelation(`b|${u.resh}|${x}|`, [`a|${u.resh}|${x}|*`], 'same row'));
          }
          for (const g of ['f', 'm'])
            relations.push(
              sumRelation(
                `a|${u.resh}|*|${g}`,
                ['p', 'q', 'r', 's'].map((x) => `a|${u.resh}|${x}|${g}`),
                'column',
              ),
            );
          relations.push(
            sumRelation(
              `a|${u.resh}|*|*`,
              ['p', 'q', 'r', 's'].map((x) => `a|${u.resh}|${x}|*`),
              'total',
            ),
          );
          relations.push(
            sumRelation(
              `b|${u.resh}|*|*`,
              ['p', 'q', 'r', 's'].map((x) => `b|${u.resh}|${x}|`),
              'total',
            ),
          );
          const kids = units.filter((k) => k.parent === u.resh).map((k) => k.resh);
          if (kids.length)
            for (const key of truth.keys()) {
              const [t, w, x, g] = key.split('|');
              if (w === u.resh)
                relations.push(
                  sumRelation(
                    key,
                    kids.map((k) => `${t}|${k}|${x}|${g}`),
                    'hierarchy',
                  ),
                );
            }
        }
        const res = attack(know, truth, relations, { threshold: T, isCount: () => true, positive: () => true });
        expect(res.small).toEqual([]);
        expect(res.derived.filter((x) => x.withheld || (Math.abs(x.value) > 0 && Math.abs(x.value) < T))).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});
