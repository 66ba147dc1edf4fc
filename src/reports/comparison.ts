// A declared analysis for one unit beside a comparison group — the rest of the country, the own
// region, or the nation — as the annual report's readers ask: "is our case mix like the others'?".
// Counts of different-sized populations cannot be compared, so each side is shown as its share of
// that side's cases (per x), or for incidence analyses as the rate in each side's catchment
// population. The `by` split of the analysis is summed over; counts under the registry's threshold
// (and at or below the analysis's own `suppress`) are withheld on both sides, as in the plain figure.
import type { PersonData } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import type { Registry } from '../registry/load.ts';
import { AnalysisError, binLabelOf, categoriesOf, whereSql, xExpression, type AnalysisDef, type Analyses } from './analyses.ts';
import type { Figure, Lang, Row } from './charts.ts';

export const COMPARISONS = ['rest', 'region', 'nation'] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** One side of the comparison: which cases, and (for incidence) which catchment areas. */
export interface Side {
  label: string;
  /** Cases whose unit path includes one of these … */
  within: string[] | null;
  /** … and none of these. */
  without: string[];
  /** Catchment areas (health trusts) whose population counts, for incidence. */
  areas: string[];
}

export interface ComparisonQuery { year: string; dataset: 'fresh' | 'qa'; lang: Lang; unitName: string; compare: Comparison; unit: Side; other: Side }

const PLATFORM = { kind: 'platform', task: 'reports' } as const;

export async function computeComparison(data: PersonData, registry: Registry, analyses: Analyses, a: AnalysisDef, q: ComparisonQuery): Promise<Figure> {
  const l = q.lang;
  const table = analyticsTable(registry);
  const threshold = registry.meta.smallCountThreshold;
  const hidden = (n: number) => n < threshold || (a.suppress !== undefined && n <= a.suppress.atOrBelow);
  const incidence = typeof a.measure === 'object' && 'incidence' in a.measure ? a.measure.incidence.per : null;
  if (typeof a.measure === 'object' && 'median' in a.measure) {
    throw new AnalysisError(l === 'nb' ? `«${a.title.nb}» viser medianer og sammenlignes ikke her: velg enhetene hver for seg.` : `"${a.title.en}" shows medians and is not compared here: choose the units one at a time.`);
  }
  const from = `${q.year}-01-01`, to = `${Number(q.year) + 1}-01-01`;
  const sides = [q.unit, q.other];
  if (incidence !== null && a.x !== 'age_group_ssb') {
    throw new AnalysisError(l === 'nb' ? `Insidensen i «${a.title.nb}» kan ikke sammenlignes: den er ikke fordelt på aldersgruppe langs x-aksen.`
      : `The incidence in "${a.title.en}" cannot be compared: it is not by age group along the x axis.`);
  }

  const result = await data.transaction(PLATFORM, 'reports:comparison', async (tx) => {
    const out: Array<{ counts: Map<string, number>; total: number; population: Map<string, number> | null }> = [];
    for (const side of sides) {
      // Incidence counts only cases treated within the side's catchment areas with known population.
      let population: Map<string, number> | null = null;
      let areas: string[] | null = null;
      if (incidence !== null) {
        const res = await tx.client.query(
          `SELECT area_resh, age_group, sum(population)::int AS p FROM population WHERE year = $1 AND area_resh = ANY($2) GROUP BY 1, 2`, [Number(q.year), side.areas]);
        areas = [...new Set(res.rows.map((r) => r.area_resh as string))];
        population = new Map();
        for (const r of res.rows) population.set(r.age_group, (population.get(r.age_group) ?? 0) + (r.p as number));
        if (population.size === 0) {
          throw new AnalysisError(l === 'nb'
            ? `Ingen befolkningstall for ${side.label} i ${q.year}: insidens kan bare sammenlignes for områder med befolkningstall (population.csv).`
            : `No population figures for ${side.label} in ${q.year}: incidence can only be compared for areas with population figures (population.csv).`);
        }
      }
      const params: unknown[] = [from, to, q.dataset, side.within, side.without, areas];
      const where = whereSql(a, analyses.types, (v) => { params.push(v); return `$${params.length}`; });
      const res = await tx.client.query(
        `SELECT ${xExpression(a)} AS x, count(*)::int AS n FROM ${table} t
         WHERE t."${analyses.periodDate}" >= $1::date AND t."${analyses.periodDate}" < $2::date AND ($3 = 'fresh' OR t.finalised)
           AND ($4::text[] IS NULL OR t.unit_path && $4::text[]) AND NOT (t.unit_path && $5::text[])
           AND ($6::text[] IS NULL OR t.unit_path && $6::text[]) AND (${where})
         GROUP BY 1`, params);
      const counts = new Map<string, number>();
      for (const r of res.rows as Array<{ x: string | null; n: number }>) if (r.x !== null) counts.set(binLabelOf(a, r.x), (counts.get(binLabelOf(a, r.x)) ?? 0) + r.n);
      out.push({ counts, total: [...counts.values()].reduce((s, n) => s + n, 0), population });
    }
    return out;
  }, { readOnly: true });

  const codes = categoriesOf(a, result.flatMap((r) => [...r.counts.keys()]));
  const labelOf = (x: string) => analyses.labels[a.x]?.[x]?.[l] ?? x;
  const categories = codes.map(labelOf);
  const rows: Row[] = [];
  let suppressedCells = 0;
  for (const x of codes) {
    sides.forEach((side, i) => {
      const n = result[i].counts.get(x) ?? 0;
      const sup = n > 0 && hidden(n);
      if (sup) suppressedCells += 1;
      const row: Row = { [a.x]: labelOf(x), comparison: side.label, count: sup ? null : n };
      if (incidence !== null) {
        const p = result[i].population!.get(x) ?? null;
        row.population = p;
        row.rate = sup || !p ? null : Math.round((n / p) * incidence * 10) / 10;
      } else {
        row.share = sup || result[i].total === 0 ? null : Math.round((n / result[i].total) * 1000) / 10;
      }
      row.suppressed = sup;
      rows.push(row);
    });
  }
  const notes: string[] = [];
  if (a.by) notes.push(l === 'nb' ? `I sammenligningen er fordelingen på ${a.by === 'sex' ? 'kjønn' : a.by} slått sammen.` : `In the comparison the split by ${a.by} is summed over.`);
  if (a.note) notes.push(a.note[l]);
  else if (suppressedCells) notes.push(l === 'nb' ? `Grupper med færre enn ${threshold} er ikke vist.` : `Groups with fewer than ${threshold} are not shown.`);
  const cases = registry.meta.caseName?.[l] ?? (l === 'nb' ? 'registreringer' : 'cases');
  const totals = sides.map((s, i) => `${s.label}: ${result[i].total}`).join(', ');
  const versus = `${q.unit.label} ${l === 'nb' ? 'mot' : 'against'} ${q.other.label}`;
  return {
    spec: {
      kind: a.chart, lang: l,
      title: `${a.title[l]} – ${versus} ${q.year}`,
      description: incidence !== null
        ? `${a.description[l]} ${l === 'nb' ? 'Rate i hvert opptaksområde' : 'Rate in each catchment area'} (${totals} ${cases}).`
        : `${a.description[l]} ${l === 'nb' ? `Vist som andel av ${cases} på hver side` : `Shown as the share of ${cases} on each side`} (${totals}).`,
      ...(notes.length ? { note: notes.join(' ') } : {}),
      columns: [
        { key: a.x, label: a.xLabel[l], format: 'text' as const },
        { key: 'comparison', label: l === 'nb' ? 'Gruppe' : 'Group', format: 'text' as const },
        { key: 'count', label: l === 'nb' ? 'Antall' : 'Count', format: 'number' as const },
        ...(incidence !== null
          ? [{ key: 'population', label: l === 'nb' ? 'Befolkning' : 'Population', format: 'number' as const },
            { key: 'rate', label: l === 'nb' ? `Per ${incidence.toLocaleString('nb-NO')}` : `Per ${incidence.toLocaleString('en-GB')}`, format: 'decimal' as const }]
          : [{ key: 'share', label: l === 'nb' ? 'Andel (%)' : 'Share (%)', format: 'decimal' as const }]),
      ],
      encoding: { x: a.x, group: 'comparison', value: incidence !== null ? 'rate' : 'share', suppressed: 'suppressed' },
      categories,
      groups: sides.map((s) => ({ key: s.label, label: s.label })),
      xLabel: a.xLabel[l], yLabel: incidence !== null ? a.yLabel[l] : (l === 'nb' ? 'Andel (%)' : 'Share (%)'), yFormat: 'decimal',
    },
    data: rows,
  };
}
