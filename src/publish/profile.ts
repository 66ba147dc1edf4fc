// The public hospital profile: every indicator of every registry for one hospital, with last
// year's result, level and trend, the number and share of indicators at each level per year, and
// coverage. Aggregates only, with small numbers withheld (the indicator service does that);
// coverage under 60 % is flagged, as national publishing does.
import type { Queryable } from '../db/pool.ts';
import type { Indicators, IndicatorResult } from '../indicators/service.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';

export const LOW_COVERAGE = 0.6;

export interface ProfileIndicator {
  registry: string;
  registryTitle: string;
  indicator: string;
  number: string;
  title: string;
  direction: string;
  target: { operator: string; value: number } | null;
  result: IndicatorResult | null;
  coverage: { value: number; low: boolean } | null;
}

export interface HospitalProfile {
  hospital: { resh: string; name: string; trust: string | null; region: string | null };
  year: number;
  dataset: 'fresh' | 'qa';
  indicators: ProfileIndicator[];
  /** Per year: how many indicators were at each level (and too few / not computable). */
  levels: Array<{ year: number; high: number; moderate: number; low: number; noLevel: number; tooFew: number; notComputable: number }>;
}

export function hospitals(units: UnitTree) {
  return units
    .all()
    .filter((u) => u.level === 'hospital')
    .map((u) => ({
      resh: u.resh,
      name: u.nameNb,
      trust: units.ancestorAt(u.resh, 'trust')?.nameNb ?? null,
      region: units.ancestorAt(u.resh, 'region')?.nameNb ?? null,
    }))
    .sort((a, b) => a.name.localeCompare(b.name, 'nb'));
}

export async function hospitalProfile(
  db: Queryable,
  registries: Registry[],
  indicators: Indicators,
  units: UnitTree,
  q: { resh: string; year: number; years: number; dataset: 'fresh' | 'qa'; lang: 'nb' | 'en' },
): Promise<HospitalProfile> {
  const unit = units.get(q.resh)!;
  const covRows = (await db.query('SELECT registry, year, coverage::float8 AS coverage FROM coverage WHERE unit_resh = $1', [q.resh])).rows;
  const coverageOf = (registry: string, year: number) => {
    const r = covRows.find((c) => c.registry === registry && c.year === year);
    return r ? { value: r.coverage as number, low: (r.coverage as number) < LOW_COVERAGE } : null;
  };
  const out: ProfileIndicator[] = [];
  const levels: HospitalProfile['levels'] = [];
  const byYear = new Map<number, IndicatorResult[]>();
  for (const registry of registries) {
    const active = indicators.list(registry.id).filter((i) => i.def.status === 'active');
    if (active.length === 0) continue;
    for (let y = q.year - q.years + 1; y <= q.year; y++) {
      const rs = (await indicators.results(registry, { grain: 'year', period: String(y), units: [q.resh], dataset: q.dataset })).filter(
        (r) => r.status !== 'definition-pending',
      );
      byYear.set(y, [...(byYear.get(y) ?? []), ...rs]);
      if (y !== q.year) continue;
      for (const ind of active) {
        out.push({
          registry: registry.id,
          registryTitle: registry.meta.title[q.lang],
          indicator: ind.def.id,
          number: ind.def.number,
          title: ind.def.title[q.lang],
          direction: ind.def.direction,
          target: ind.def.target ?? null,
          result: rs.find((r) => r.indicator === ind.def.id) ?? null,
          coverage: coverageOf(registry.id, y),
        });
      }
    }
  }
  for (const [year, rs] of [...byYear].sort((a, b) => a[0] - b[0])) {
    levels.push({
      year,
      high: rs.filter((r) => r.level === 'high').length,
      moderate: rs.filter((r) => r.level === 'moderate').length,
      low: rs.filter((r) => r.level === 'low').length,
      noLevel: rs.filter((r) => r.status === 'ok' && !r.level).length,
      tooFew: rs.filter((r) => r.status === 'too-few').length,
      notComputable: rs.filter((r) => r.status === 'not-computable').length,
    });
  }
  return {
    hospital: {
      resh: unit.resh,
      name: unit.nameNb,
      trust: units.ancestorAt(unit.resh, 'trust')?.nameNb ?? null,
      region: units.ancestorAt(unit.resh, 'region')?.nameNb ?? null,
    },
    year: q.year,
    dataset: q.dataset,
    indicators: out,
    levels,
  };
}
