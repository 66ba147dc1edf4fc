// Disclosure control's cost where it runs: deciding one indicator's counts at national size, as
// computeIndicator does once per computation (every unit of the demo hierarchy, twelve years of
// years, quarters, months and 12-month windows, three stratifiers per year, both datasets), and one
// registry-year of declared analyses for every unit, as the figures do once per data change.
//   npm run bench:disclosure -- [--years 12] [--cases 1000000] [--runs 3]
// Counts are drawn at random per department (Poisson-like, scaled so the nation has about --cases
// cases over the years) and summed up the hierarchy, so small counts fall where they would.
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { CountDisclosure, type CountTableInput } from '../src/disclosure/counts.ts';
import { indicatorDisclosure, type IndicatorCount } from '../src/disclosure/indicators.ts';
import { UnitTree, type Unit } from '../src/units/tree.ts';

const { values: args } = parseArgs({
  options: {
    years: { type: 'string', default: '12' },
    cases: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
  },
});
const YEARS = Number(args.years),
  CASES = Number(args.cases),
  RUNS = Number(args.runs);

// The demo hierarchy (demo/units.yaml).
const units: Unit[] = [];
const doc = YAML.parse(fs.readFileSync('demo/units.yaml', 'utf8'));
const add = (resh: string, parent: string | null, level: Unit['level'], path: string[]) =>
  units.push({ resh, parent, level, kind: null, short: null, nameNb: resh, nameEn: null, path: [...path, resh] });
add(doc.nation.resh, null, 'nation', []);
for (const r of doc.nation.regions) {
  add(r.resh, doc.nation.resh, 'region', [doc.nation.resh]);
  for (const t of r.trusts ?? []) {
    add(t.resh, r.resh, 'trust', [doc.nation.resh, r.resh]);
    for (const h of t.hospitals ?? []) {
      add(h.resh, t.resh, 'hospital', [doc.nation.resh, r.resh, t.resh]);
      for (const d of h.departments ?? []) add(d.resh, h.resh, 'department', [doc.nation.resh, r.resh, t.resh, h.resh]);
    }
  }
}
const tree = new UnitTree(units);
const departments = units.filter((u) => u.level === 'department');
let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const perMonth = CASES / YEARS / 12 / departments.length;
// Departments differ in size: a few large, many small (as the demo's weights make them).
const size = new Map(departments.map((d, i) => [d.resh, (i % 7 === 0 ? 8 : 0.4) * (0.5 + random())]));

function indicatorCounts(): IndicatorCount[] {
  const cells = new Map<string, IndicatorCount>();
  const bump = (
    dataset: string,
    grain: string,
    period: string,
    unit: string,
    stratifier: string,
    stratum: string,
    n: number,
    k: number,
  ) => {
    const key = `${dataset}|${grain}|${period}|${unit}|${stratifier}|${stratum}`;
    const c = cells.get(key) ?? { dataset, grain, period, unit_resh: unit, stratifier, stratum, numerator: 0, denominator: 0 };
    c.denominator += n;
    c.numerator += k;
    cells.set(key, c);
  };
  const first = 2025 - YEARS + 1;
  for (const d of departments)
    for (let y = first; y <= 2025; y++)
      for (let m = 1; m <= 12; m++) {
        const n = Math.round(perMonth * size.get(d.resh)! * (0.5 + random()));
        if (n === 0) continue;
        const k = Math.round(n * 0.05 * 2 * random());
        const month = `${y}-${String(m).padStart(2, '0')}`;
        for (const ds of ['fresh', 'qa']) {
          const f = ds === 'qa' ? 0.8 : 1;
          const [nn, kk] = [Math.round(n * f), Math.round(k * f)];
          for (const u of d.path) {
            bump(ds, 'year', String(y), u, '', '', nn, kk);
            bump(ds, 'quarter', `${y}-Q${Math.ceil(m / 3)}`, u, '', '', nn, kk);
            bump(ds, 'month', month, u, '', '', nn, kk);
            for (let w = 0; w < 12; w++) {
              const e = y * 12 + m - 1 + w;
              if (Math.floor(e / 12) <= 2025)
                bump(ds, 'rolling-12-months', `${Math.floor(e / 12)}-${String((e % 12) + 1).padStart(2, '0')}`, u, '', '', nn, kk);
            }
            for (const [s, values] of [
              ['sex', ['female', 'male']],
              ['age_group', ['0-17', '18-49', '50-66', '67+']],
              ['ao_prefix', ['21', '22', '23', '42', '44', '72']],
            ] as const) {
              const stratum = values[Math.floor(random() * values.length)];
              bump(ds, 'year', String(y), u, s, stratum, nn, kk);
            }
          }
        }
      }
  return [...cells.values()];
}

function analysisTables(): CountTableInput[] {
  const xs = ['5', '6', '7', '8', '11', '12', '13', '14', '15', '16', '21', '22', '23', '32', '33', '41', '42', '43', '44'];
  const bySex: CountTableInput = { id: 'ao-prefix-by-sex', base: '', axes: ['ao', 'sex'], counts: [], missing: [] };
  const byAge: CountTableInput = {
    id: 'ao-prefix-by-age-group',
    base: '',
    axes: ['ao', 'age_group'],
    counts: [],
    missing: [],
    atOrBelow: 5,
  };
  const sums = new Map<string, number>();
  for (const d of departments)
    for (const x of xs)
      for (const g of ['female', 'male'])
        for (const a of ['0-17', '18-49', '50-66', '67+']) {
          const n = Math.round(((perMonth * 12 * size.get(d.resh)!) / xs.length / 8) * 2 * random());
          if (!n) continue;
          for (const u of d.path) {
            sums.set(`s|${u}|${x}|${g}`, (sums.get(`s|${u}|${x}|${g}`) ?? 0) + n);
            sums.set(`a|${u}|${x}|${a}`, (sums.get(`a|${u}|${x}|${a}`) ?? 0) + n);
          }
        }
  for (const [key, n] of sums) {
    const [t, unit, x, g] = key.split('|');
    (t === 's' ? bySex : byAge).counts.push({ unit, x, g, n });
  }
  return [bySex, byAge];
}

// Wall time, and the CPU time of this process (which a busy machine inflates less).
const ms = (f: () => void) => {
  const c0 = process.cpuUsage(),
    t0 = performance.now();
  f();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
};
const fmt = (r: { wall: number; cpu: number }) => `${r.wall.toFixed(0)} ms (CPU ${r.cpu.toFixed(0)} ms)`;
const counts = indicatorCounts();
const tables = analysisTables();
console.log(
  `disclosure control, ${units.length} units (${departments.length} departments), ${YEARS} years, about ${CASES.toLocaleString('en')} cases; load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${os.cpus().length} CPUs`,
);
const runs: Array<{ wall: number; cpu: number }> = [];
let withheld = 0;
for (let i = 0; i < RUNS; i++)
  runs.push(
    ms(() => {
      withheld = indicatorDisclosure(counts, { threshold: 5, minimumDenominator: 5, numerator: 'suppress' }, tree).filter(
        (w) => w.denominator || w.numerator,
      ).length;
    }),
  );
console.log(
  `one indicator: ${counts.length.toLocaleString('en')} counts (both datasets, every grain and stratum), decided in ${runs.map(fmt).join(', ')}; ${withheld.toLocaleString('en')} with something withheld`,
);
const aruns: Array<{ wall: number; cpu: number }> = [];
for (let i = 0; i < RUNS; i++)
  aruns.push(
    ms(() => {
      const d = new CountDisclosure(tables, tree, 5, new Map());
      d.protect();
    }),
  );
console.log(
  `two linked analyses for one year: ${tables.reduce((s, t) => s + t.counts.length, 0).toLocaleString('en')} cells, decided in ${aruns.map(fmt).join(', ')}`,
);
