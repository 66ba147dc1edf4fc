// A declared analysis for one unit beside a comparison group — the rest of the country, the own
// region, or the nation — as the annual report's readers ask: "is our case mix like the others'?".
// Counts of different-sized populations cannot be compared, so each side is shown as its share of
// that side's cases (per x), or for incidence analyses as the rate in each side's catchment
// population. The `by` split of the analysis is summed over; what disclosure control withholds in
// the year's tables (analysis-tables.ts) is withheld on both sides, as in the plain figure.
import type { PersonData } from '../access/door.ts';
import { MARGIN } from '../disclosure/counts.ts';
import type { Registry } from '../registry/load.ts';
import { AnalysisError, binLabelOf, categoriesOf, type AnalysisDef, type Analyses } from './analyses.ts';
import type { YearTables } from './analysis-tables.ts';
import type { Figure, Lang, Row } from './charts.ts';

export const COMPARISONS = ['rest', 'region', 'nation'] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** One side of the comparison: whose counts (a unit's, or one unit's minus another's), and (for incidence) which catchment areas. */
export interface Side {
  label: string;
  /** The side's counts are this unit's … */
  unit: string;
  /** … minus this unit's (the rest of the country: the nation minus the unit, or for incidence minus its area). */
  minus: string | null;
  /** Catchment areas (health trusts) whose population counts, for incidence. */
  areas: string[];
}

export interface ComparisonQuery {
  year: string;
  dataset: 'fresh' | 'qa';
  lang: Lang;
  unitName: string;
  compare: Comparison;
  unit: Side;
  other: Side;
}

const PLATFORM = { kind: 'platform', task: 'reports' } as const;

/**
 * The comparison from the year's tables (analysis-tables.ts): each side's counts per x are a unit's
 * row totals (summed over the analysis's groups), the rest of the country the nation's minus the
 * unit's — shown only where both are, since the rest and the nation give the unit's count. Shares
 * are shown only where the side's total is shown too.
 */
export async function computeComparison(
  data: PersonData,
  registry: Registry,
  analyses: Analyses,
  a: AnalysisDef,
  q: ComparisonQuery,
  tables: YearTables,
): Promise<Figure> {
  const l = q.lang;
  const threshold = registry.meta.smallCountThreshold;
  const incidence = typeof a.measure === 'object' && 'incidence' in a.measure ? a.measure.incidence.per : null;
  if (typeof a.measure === 'object' && 'median' in a.measure) {
    throw new AnalysisError(
      l === 'nb'
        ? `«${a.title.nb}» viser medianer og sammenlignes ikke her: velg enhetene hver for seg.`
        : `"${a.title.en}" shows medians and is not compared here: choose the units one at a time.`,
    );
  }
  const sides = [q.unit, q.other];
  if (incidence !== null && a.x !== 'age_group_ssb') {
    throw new AnalysisError(
      l === 'nb'
        ? `Insidensen i «${a.title.nb}» kan ikke sammenlignes: den er ikke fordelt på aldersgruppe langs x-aksen.`
        : `The incidence in "${a.title.en}" cannot be compared: it is not by age group along the x axis.`,
    );
  }
  // Incidence: each side's catchment population, per age group.
  const populations =
    incidence === null
      ? null
      : await data.transaction(
          PLATFORM,
          'reports:comparison',
          async (tx) => {
            const out: Array<Map<string, number>> = [];
            for (const side of sides) {
              const res = await tx.client.query(
                `SELECT age_group, sum(population)::int AS p FROM population WHERE year = $1 AND area_resh = ANY($2) GROUP BY 1`,
                [Number(q.year), side.areas],
              );
              const population = new Map<string, number>();
              for (const r of res.rows) population.set(r.age_group, (population.get(r.age_group) ?? 0) + (r.p as number));
              if (population.size === 0) {
                throw new AnalysisError(
                  l === 'nb'
                    ? `Ingen befolkningstall for ${side.label} i ${q.year}: insidens kan bare sammenlignes for områder med befolkningstall (population.csv).`
                    : `No population figures for ${side.label} in ${q.year}: incidence can only be compared for areas with population figures (population.csv).`,
                );
              }
              out.push(population);
            }
            return out;
          },
          { readOnly: true },
        );

  // A side's count of x ('*' for all): the unit's row total, less the other unit's; withheld if either is.
  const row = (unit: string, x: string) => tables.cell(a.id, unit, x, x === MARGIN || a.by ? MARGIN : '');
  const count = (side: Side, x: string): { n: number; shown: boolean } => {
    const plus = row(side.unit, x);
    if (!side.minus) return { n: plus.n, shown: plus.withheld === null };
    const minus = row(side.minus, x);
    return { n: plus.n - minus.n, shown: plus.withheld === null && minus.withheld === null };
  };
  const raws = [...new Set([...tables.xsAt(a.id, q.unit.unit), ...tables.xsAt(a.id, sides[1].unit)])];
  const codes = categoriesOf(
    a,
    raws.map((x) => binLabelOf(a, x)),
  );
  const rawOf = new Map(raws.map((x) => [binLabelOf(a, x), x]));
  const raw = (label: string) => rawOf.get(label) ?? (a.bin ? String(parseInt(label, 10)) : label);
  const labelOf = (x: string) => analyses.labels[a.x]?.[x]?.[l] ?? x;
  const totals = sides.map((side) => count(side, MARGIN));
  const rows: Row[] = [];
  let withheld = 0;
  for (const x of codes) {
    sides.forEach((side, i) => {
      const c = count(side, raw(x));
      // A withheld difference is withheld even when it is 0: "the rest has none" says the unit has all.
      const sup = !c.shown;
      if (sup) withheld += 1;
      const r: Row = { [a.x]: labelOf(x), comparison: side.label, count: sup ? null : c.n };
      if (incidence !== null) {
        const p = populations![i].get(x) ?? null;
        r.population = p;
        r.rate = sup || !p ? null : Math.round((c.n / p) * incidence * 10) / 10;
      } else {
        r.share = sup || !totals[i].shown || totals[i].n === 0 ? null : Math.round((c.n / totals[i].n) * 1000) / 10;
      }
      r.suppressed = sup;
      rows.push(r);
    });
  }
  const notes: string[] = [];
  if (a.by)
    notes.push(
      l === 'nb'
        ? `I sammenligningen er fordelingen på ${a.by === 'sex' ? 'kjønn' : a.by} slått sammen.`
        : `In the comparison the split by ${a.by} is summed over.`,
    );
  if (a.note) notes.push(a.note[l]);
  else if (withheld)
    notes.push(
      l === 'nb'
        ? `Grupper med færre enn ${threshold}, og grupper som ville avsløre dem, er ikke vist.`
        : `Groups with fewer than ${threshold}, and groups that would give them away, are not shown.`,
    );
  const cases = registry.meta.caseName?.[l] ?? (l === 'nb' ? 'registreringer' : 'cases');
  const said = sides.map((s, i) => (totals[i].shown ? `${s.label}: ${totals[i].n}` : s.label)).join(', ');
  const versus = `${q.unit.label} ${l === 'nb' ? 'mot' : 'against'} ${q.other.label}`;
  return {
    spec: {
      kind: a.chart,
      lang: l,
      title: `${a.title[l]} – ${versus} ${q.year}`,
      description:
        incidence !== null
          ? `${a.description[l]} ${l === 'nb' ? 'Rate i hvert opptaksområde' : 'Rate in each catchment area'} (${said} ${cases}).`
          : `${a.description[l]} ${l === 'nb' ? `Vist som andel av ${cases} på hver side` : `Shown as the share of ${cases} on each side`} (${said}).`,
      ...(notes.length ? { note: notes.join(' ') } : {}),
      columns: [
        { key: a.x, label: a.xLabel[l], format: 'text' as const },
        { key: 'comparison', label: l === 'nb' ? 'Gruppe' : 'Group', format: 'text' as const },
        { key: 'count', label: l === 'nb' ? 'Antall' : 'Count', format: 'number' as const },
        ...(incidence !== null
          ? [
              { key: 'population', label: l === 'nb' ? 'Befolkning' : 'Population', format: 'number' as const },
              {
                key: 'rate',
                label: l === 'nb' ? `Per ${incidence.toLocaleString('nb-NO')}` : `Per ${incidence.toLocaleString('en-GB')}`,
                format: 'decimal' as const,
              },
            ]
          : [{ key: 'share', label: l === 'nb' ? 'Andel (%)' : 'Share (%)', format: 'decimal' as const }]),
      ],
      encoding: { x: a.x, group: 'comparison', value: incidence !== null ? 'rate' : 'share', suppressed: 'suppressed' },
      categories: codes.map(labelOf),
      groups: sides.map((s) => ({ key: s.label, label: s.label })),
      xLabel: a.xLabel[l],
      yLabel: incidence !== null ? a.yLabel[l] : l === 'nb' ? 'Andel (%)' : 'Share (%)',
      yFormat: 'decimal',
    },
    data: rows,
  };
}
