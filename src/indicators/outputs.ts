// Indicator outputs for other systems: FHIR R4 Measure (one per indicator, target and levels as
// extensions) and summary MeasureReport (per unit and period, with strata), and the flat CSV that
// national publishing takes (context, year, organisation number, indicator, numerator `var`,
// denominator; one row per unit and year, with the indicator's metadata).
import { stringify } from 'csv-stringify/sync';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Indicator } from './load.ts';
import { periodRange } from './explain.ts';
import type { Threshold } from './schema.ts';
import type { IndicatorResult } from './service.ts';
import type { Extension, Measure, MeasureReport, MeasureReportGroup } from 'fhir/r4.js';
import { fhirId } from '../fhir/ids.ts';
import { extensionUrl } from '../fhir/extensions.ts';

const RESH_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.102';

const threshold = (t: Threshold): Pick<Extension, 'extension'> => ({
  extension: [
    { url: 'comparator', valueCode: t.operator },
    { url: 'value', valueDecimal: t.value },
  ],
});

/**
 * A population's definition. FHIR R4's Measure.group.population needs a `criteria` Expression whose
 * language the R4 schema allows only as CQL, FHIRPath or a FHIR query; the platform's expressions
 * are none of these. So each population's expression travels in the platform's own extension
 * (declared in fhir/extensions.ts, its StructureDefinition served), never under a false language.
 */
function population(base: string, code: string, expression: string | undefined): Extension {
  return {
    url: extensionUrl(base, 'indicator-population'),
    extension: [
      { url: 'code', valueCode: code },
      { url: 'expression', valueString: expression ?? 'true' },
    ],
  };
}

/** The Measure's id: registry and indicator (FHIR ids have no "_"). */
export function measureId(registry: string, ind: Indicator): string {
  return fhirId(`${registry}-${ind.def.id}`);
}
/** Canonical URL under the platform's public FHIR base (KVALREG_PUBLIC_URL), never the request's host. */
export function measureUrl(base: string, registry: string, ind: Indicator): string {
  return `${base}/Measure/${measureId(registry, ind)}`;
}

export function measure(base: string, registry: Registry, ind: Indicator, definition: string[]): Measure {
  const d = ind.def;
  const parts = ind.parts;
  const group = parts.map((p) => ({
    ...(p.label ? { description: p.label.nb } : {}),
    extension: [
      population(base, 'initial-population', d.population),
      population(base, 'denominator', p.denominator),
      ...(d.exclusions ? [population(base, 'denominator-exclusion', d.exclusions)] : []),
      population(base, 'numerator', p.numerator),
    ],
    stratifier: d.stratifiers.map((s) => ({ code: { text: s }, description: `Stratified by the variable ${s}.` })),
  }));
  return {
    resourceType: 'Measure',
    id: measureId(registry.id, ind),
    url: measureUrl(base, registry.id, ind),
    identifier: [{ system: `urn:kvalreg:indicator:${registry.id}`, value: d.number }],
    version: registry.version,
    name: d.id,
    title: d.title.nb,
    status: d.status === 'active' ? 'active' : 'draft',
    publisher: registry.meta.title.nb,
    description: d.description.nb,
    // FHIR has no empty strings: an indicator whose definition is still to come has no usage.
    ...(definition.join('').trim() ? { usage: definition.join('\n') } : {}),
    // A counted numerator (events per case, e.g. reoperations) may exceed the denominator: a ratio.
    scoring: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-scoring', code: d.numeratorCount ? 'ratio' : 'proportion' }],
    },
    type: d.type.map((t) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-type', code: t }] })),
    improvementNotation: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/measure-improvement-notation',
          code: d.direction === 'higher-is-better' ? 'increase' : 'decrease',
        },
      ],
    },
    ...(parts.length > 1 ? { rationale: 'The numerator and the denominator are each the sum over the groups.' } : {}),
    extension: [
      ...(d.target ? [{ url: extensionUrl(base, 'indicator-target'), ...threshold(d.target) }] : []),
      ...(d.levels ? [{ url: extensionUrl(base, 'indicator-level-high'), ...threshold(d.levels.high) }] : []),
      ...(d.levels?.moderate ? [{ url: extensionUrl(base, 'indicator-level-moderate'), ...threshold(d.levels.moderate) }] : []),
      { url: extensionUrl(base, 'indicator-minimum-denominator'), valueInteger: ind.minimumDenominator },
      { url: extensionUrl(base, 'indicator-count-by'), valueCode: d.countBy },
    ],
    ...(group.length ? { group } : {}),
  };
}

/** A summary MeasureReport for one unit and period; strata come from results with a stratifier. */
export function measureReport(
  base: string,
  registry: Registry,
  ind: Indicator,
  units: UnitTree,
  main: IndicatorResult,
  strata: IndicatorResult[],
  computedAt: string,
): MeasureReport {
  const range = periodRange(main.grain, main.period);
  const unit = units.get(main.unit.resh);
  const end = new Date(Date.parse(`${range.to}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  // Only what disclosure control shows: a withheld numerator is left out with the score (the
  // denominator may stay), and the status says so.
  const population = (code: string, count: number | null) =>
    count === null ? [] : [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code }] }, count }];
  const counts = (r: IndicatorResult): Pick<MeasureReportGroup, 'population' | 'measureScore' | 'extension'> => {
    const pops = [...population('numerator', r.numerator), ...population('denominator', r.denominator)];
    return {
      ...(r.status === 'ok' ? {} : { extension: [{ url: extensionUrl(base, 'indicator-result-status'), valueCode: r.status }] }),
      ...(pops.length ? { population: pops } : {}),
      ...(r.proportion !== null ? { measureScore: { value: r.proportion } } : {}),
    };
  };
  const byStratifier = new Map<string, IndicatorResult[]>();
  for (const s of strata) byStratifier.set(s.stratifier, [...(byStratifier.get(s.stratifier) ?? []), s]);
  return {
    resourceType: 'MeasureReport',
    id: fhirId(`${registry.id}-${ind.def.id}-${main.unit.resh}-${main.period}`),
    status: 'complete',
    type: 'summary',
    measure: measureUrl(base, registry.id, ind),
    date: computedAt,
    period: { start: range.from, end },
    reporter: {
      identifier:
        unit?.level === 'nation' ? { system: 'urn:iso:std:iso:3166', value: 'NO' } : { system: RESH_SYSTEM, value: main.unit.resh },
      display: unit?.nameNb ?? main.unit.resh,
    },
    extension: [
      { url: extensionUrl(base, 'indicator-dataset'), valueCode: main.dataset },
      ...(main.level ? [{ url: extensionUrl(base, 'indicator-level'), valueCode: main.level }] : []),
      ...(main.trend ? [{ url: extensionUrl(base, 'indicator-trend'), valueCode: main.trend }] : []),
      ...(main.interval
        ? [
            {
              url: extensionUrl(base, 'indicator-interval'),
              valueRange: { low: { value: main.interval.lower }, high: { value: main.interval.upper } },
            },
          ]
        : []),
    ],
    group: [
      {
        ...counts(main),
        stratifier: [...byStratifier].map(([name, list]) => ({
          code: [{ text: name }],
          stratum: list.map((s) => ({ value: { text: s.stratum }, ...counts(s) })),
        })),
      },
    ],
  };
}

/**
 * The national publishing format: one row per unit and year. `var` is the numerator; rows whose
 * numerator or denominator disclosure control withholds are left out (national publishing shows
 * them as too few).
 */
export function nationalCsv(
  registry: Registry,
  indicators: Indicator[],
  results: IndicatorResult[],
  units: UnitTree,
  /** The coverage of the unit in the year, when known (src/quality/coverage-link.ts): published beside the result, "low" under 60 %. */
  coverage?: (resh: string, period: string) => { value: number; low: boolean } | null,
): string {
  const byId = new Map(indicators.map((i) => [i.def.id, i]));
  const rows = results
    .filter((r) => r.status === 'ok' && r.grain === 'year' && r.stratifier === '')
    .map((r) => {
      const ind = byId.get(r.indicator)!;
      const unit = units.get(r.unit.resh);
      // Hospitals and departments have no organisation number of their own here: their trust's is used, with the RESH id beside it.
      const orgnr = unit ? orgnrOf(units, r.unit.resh) : '';
      return {
        context: 'caregiver',
        year: r.period,
        orgnr,
        resh: r.unit.resh,
        unit_name: unit?.nameNb ?? '',
        unit_level: unit?.level ?? '',
        ind_id: `${registry.meta.short.toLowerCase()}_${r.indicator}`,
        var: r.numerator,
        denominator: r.denominator,
        level_green: ind.def.levels ? `${ind.def.levels.high.operator}${ind.def.levels.high.value}` : '',
        level_yellow: ind.def.levels?.moderate ? `${ind.def.levels.moderate.operator}${ind.def.levels.moderate.value}` : '',
        level_direction: ind.def.direction === 'higher-is-better' ? 1 : 0,
        min_denominator: ind.minimumDenominator,
        coverage: coverage?.(r.unit.resh, r.period)?.value.toFixed(3) ?? '',
        low_coverage: coverage?.(r.unit.resh, r.period)?.low ? 1 : 0,
      };
    });
  return stringify(rows, {
    header: true,
    columns: [
      'context',
      'year',
      'orgnr',
      'resh',
      'unit_name',
      'unit_level',
      'ind_id',
      'var',
      'denominator',
      'level_green',
      'level_yellow',
      'level_direction',
      'min_denominator',
      'coverage',
      'low_coverage',
    ],
  });
}

function orgnrOf(units: UnitTree, resh: string): string {
  const u = units.get(resh);
  if (!u) return '';
  for (const r of [...u.path].reverse()) {
    const orgnr = units.get(r)?.orgnr;
    if (orgnr) return orgnr;
  }
  return '';
}
