// Turns the counted checks into what a reader needs: for one unit and year, each check's rate and
// verdict against the registry's thresholds (read now, so an edited threshold applies at once),
// the failures behind a pass ("good, 3 failures"), a zero denominator shown as "not computable"
// (never 0 % or a pass), the trend over every year, timeliness medians and shares within the
// deadline, the share of units reporting, and units whose rates stand out (modified z-score).
import type { Text } from '../registry/schema.ts';
import type { Unit, UnitTree } from '../units/tree.ts';
import { checkKey, type Check, type CheckSet } from './checks.ts';
import type { Band, Thresholds } from './declaration.ts';
import { histogramMedian, histogramWithin, type Measured, type UnitYear } from './measures.ts';
import { modifiedZScores } from './stats.ts';

export type Verdict = 'good' | 'acceptable' | 'poor' | 'not-computable';

export interface CheckResult {
  key: string;
  kind: Check['kind'];
  label: Text;
  variable?: string;
  form?: string;
  role?: string;
  rule?: string;
  severity?: string;
  description?: Text;
  required?: boolean | string;
  /** Cases the check applies to; null when withheld (too few to show outside the unit). */
  denominator: number | null;
  /** Cases failing it (missing, invalid, inconsistent, late). */
  failures: number | null;
  /** Completeness only: given as a declared "unknown" code (counted as given). */
  unknown?: number | null;
  /** Share passing; null when the denominator is 0 (not computable) or withheld. */
  rate: number | null;
  /** Completeness only: share given with a known value (unknown codes counted as not known). */
  knownRate?: number | null;
  verdict: Verdict;
  withheld?: boolean;
  trend: Array<{ year: number; rate: number | null }>;
}

export interface TimelinessResult {
  key: string;
  label: Text;
  deadlineDays: number;
  n: number | null;
  medianDays: number | null;
  within: number | null;
  rate: number | null;
  verdict: Verdict;
  withheld?: boolean;
  trend: Array<{ year: number; medianDays: number | null; rate: number | null }>;
}

export interface Outlier {
  family: string;
  label: Text;
  unit: { resh: string; name: string };
  year: number;
  rate: number;
  cases: number;
  score: number;
  median: number;
}

export interface QualityReport {
  registry: string;
  unit: { resh: string; name: string; level: Unit['level'] };
  year: number;
  years: number[];
  dataset: 'fresh' | 'qa';
  asOf: string;
  computedAt: string;
  analyticsVersion: number;
  thresholds: Thresholds;
  cases: number | null;
  /** How many checks are in each state; "good with failures" passes but has cases to follow up. */
  summary: { checks: number; good: number; goodWithFailures: number; acceptable: number; poor: number; notComputable: number };
  completeness: CheckResult[];
  validity: CheckResult[];
  consistency: CheckResult[];
  timeliness: { registration: TimelinessResult; finalisation: TimelinessResult } | null;
  unitsReporting: {
    expected: number;
    reporting: number;
    rate: number | null;
    verdict: Verdict;
    notReporting: Array<{ resh: string; name: string }>;
  };
  outliers: Outlier[];
  notMeasured: CheckSet['notMeasured'];
}

export function verdictOf(rate: number | null, band: Band): Verdict {
  if (rate === null) return 'not-computable';
  return rate >= band.good ? 'good' : rate >= band.acceptable ? 'acceptable' : 'poor';
}

const bandFor = (c: Check, t: Thresholds): Band =>
  c.kind === 'completeness' ? t.completeness : c.kind === 'validity' ? t.validity : t.consistency;

/** [denominator, failures, unknown] of a check at one unit and year (zeros when no case). */
function countsOf(c: Check, u: UnitYear | undefined): { den: number; fail: number; unknown: number } {
  const k = u?.checks.get(checkKey(c));
  if (!k) return { den: 0, fail: 0, unknown: 0 };
  return c.kind === 'completeness' ? { den: k[0], fail: k[0] - k[1], unknown: k[2] } : { den: k[0], fail: k[1], unknown: 0 };
}
const rateOf = (den: number, fail: number) => (den === 0 ? null : (den - fail) / den);

export interface JudgeOptions {
  unit: string;
  year: number;
  thresholds: Thresholds;
  smallCount: number;
  /** Units whose counts the caller may see in full (their own); null = all. Others' small counts are withheld. */
  visible: Set<string> | null;
  /** Hospitals expected to report in a year beyond those that registered the year before (e.g. those with NPR episodes). */
  expectedExtra?: (year: number) => Set<string>;
  lang?: 'nb' | 'en';
}

export function judge(m: Measured, set: CheckSet, units: UnitTree, o: JudgeOptions): QualityReport {
  const unit = units.get(o.unit)!;
  const at = (resh: string, year: number) => m.byUnit.get(resh)?.get(year);
  const here = at(o.unit, o.year);
  const outsider = o.visible !== null && !o.visible.has(o.unit);
  const t = o.thresholds;
  const summary = { checks: 0, good: 0, goodWithFailures: 0, acceptable: 0, poor: 0, notComputable: 0 };
  const count = (v: Verdict, failures: number | null) => {
    summary.checks++;
    if (v === 'good') {
      if (failures) summary.goodWithFailures++;
      else summary.good++;
    } else if (v === 'acceptable') summary.acceptable++;
    else if (v === 'poor') summary.poor++;
    else summary.notComputable++;
  };
  const results = set.checks.map((c): CheckResult => {
    const { den, fail, unknown } = countsOf(c, here);
    const rate = rateOf(den, fail);
    const verdict = verdictOf(rate, bandFor(c, t));
    const trend = m.years.map((y) => {
      const x = countsOf(c, at(o.unit, y));
      return { year: y, rate: outsider && x.den < o.smallCount ? null : rateOf(x.den, x.fail) };
    });
    const common = { key: checkKey(c), kind: c.kind, trend };
    const extra =
      c.kind === 'completeness'
        ? {
            label: c.label,
            variable: c.variable,
            form: c.form,
            role: c.role,
            required: c.required,
            unknown,
            knownRate: den === 0 ? null : (den - fail - unknown) / den,
          }
        : c.kind === 'validity'
          ? { label: c.label, variable: c.variable, form: c.form, rule: c.rule, description: c.description }
          : { label: c.message, rule: c.rule, severity: c.severity };
    const r: CheckResult = { ...common, ...extra, denominator: den, failures: fail, rate, verdict };
    count(verdict, fail);
    return outsider ? withhold(r, o.smallCount) : r;
  });

  let timeliness: QualityReport['timeliness'] = null;
  if (set.timeliness) {
    const one = (which: 'registration' | 'finalisation', deadline: number, label: Text): TimelinessResult => {
      const h = here?.[which] ?? new Map<number, number>();
      const { n, within } = histogramWithin(h, deadline);
      const rate = n === 0 ? null : within / n;
      const verdict = verdictOf(rate, t.timeliness);
      count(verdict, n - within);
      const trend = m.years.map((y) => {
        const hy = at(o.unit, y)?.[which] ?? new Map<number, number>();
        const w = histogramWithin(hy, deadline);
        const hidden = outsider && w.n < o.smallCount;
        return { year: y, medianDays: hidden ? null : histogramMedian(hy), rate: hidden || w.n === 0 ? null : w.within / w.n };
      });
      const r: TimelinessResult = {
        key: `timeliness/${which}`,
        label,
        deadlineDays: deadline,
        n,
        medianDays: histogramMedian(h),
        within,
        rate,
        verdict,
        trend,
      };
      if (outsider && n < o.smallCount) return { ...r, n: null, medianDays: null, within: null, rate: null, withheld: true };
      return r;
    };
    timeliness = {
      registration: one('registration', set.timeliness.registrationDays, {
        nb: 'Dager fra hendelse til registrering',
        en: 'Days from event to registration',
      }),
      finalisation: one('finalisation', set.timeliness.finalisationDays, {
        nb: 'Dager fra hendelse til ferdigstilling',
        en: 'Days from event to finalisation',
      }),
    };
  }

  // Units reporting: of the hospitals under the unit that treat the registry's patients (a case
  // this year or last, or an NPR episode), the share with at least one case this year.
  const hospitals = units
    .descendants(o.unit)
    .map((r) => units.get(r)!)
    .filter((u) => u.level === 'hospital');
  const hasCases = (resh: string, y: number) => (at(resh, y)?.cases ?? 0) > 0;
  const extra = o.expectedExtra?.(o.year) ?? new Set<string>();
  const expected = hospitals.filter((h) => hasCases(h.resh, o.year) || hasCases(h.resh, o.year - 1) || extra.has(h.resh));
  const reporting = expected.filter((h) => hasCases(h.resh, o.year));
  const urate = expected.length ? reporting.length / expected.length : null;
  const uverdict = verdictOf(urate, t.unitsReporting);
  count(uverdict, expected.length - reporting.length);

  return {
    registry: m.registry,
    unit: { resh: unit.resh, name: unit.nameNb, level: unit.level },
    year: o.year,
    years: m.years,
    dataset: m.dataset,
    asOf: m.asOf,
    computedAt: m.computedAt,
    analyticsVersion: m.analyticsVersion,
    thresholds: t,
    cases: outsider && (here?.cases ?? 0) < o.smallCount ? null : (here?.cases ?? 0),
    summary,
    completeness: results.filter((r) => r.kind === 'completeness'),
    validity: results.filter((r) => r.kind === 'validity'),
    consistency: results.filter((r) => r.kind === 'consistency'),
    timeliness,
    unitsReporting: {
      expected: expected.length,
      reporting: reporting.length,
      rate: urate,
      verdict: uverdict,
      notReporting: expected.filter((h) => !hasCases(h.resh, o.year)).map((h) => ({ resh: h.resh, name: h.nameNb })),
    },
    outliers: outliers(m, set, units, o),
    notMeasured: set.notMeasured,
  };
}

/** Outside the caller's units, a check on fewer cases than the threshold shows neither counts nor rate; small failure counts are withheld too. */
function withhold(r: CheckResult, small: number): CheckResult {
  if ((r.denominator ?? 0) < small && (r.denominator ?? 0) > 0)
    return {
      ...r,
      denominator: null,
      failures: null,
      unknown: r.unknown === undefined ? undefined : null,
      rate: null,
      knownRate: r.knownRate === undefined ? undefined : null,
      withheld: true,
    };
  if (r.failures !== null && r.failures > 0 && r.failures < small)
    return { ...r, failures: null, rate: null, knownRate: r.knownRate === undefined ? undefined : null, withheld: true };
  return r;
}

/**
 * Hospitals whose rate of a family of checks (completeness, validity, consistency, timeliness)
 * stands out among all hospitals in the year: |modified z-score| above the threshold. Hospitals
 * with fewer cases than `outlierMinimumCases` are left out. Only those under the asked unit are listed.
 */
export function outliers(m: Measured, set: CheckSet, units: UnitTree, o: JudgeOptions): Outlier[] {
  const t = o.thresholds;
  const hospitals = units.all().filter((u) => u.level === 'hospital');
  const within = new Set(units.descendants(o.unit));
  const families: Array<{ family: string; label: Text; rate: (u: UnitYear) => number | null }> = (
    ['completeness', 'validity', 'consistency'] as const
  ).map((kind) => ({
    family: kind,
    label: {
      completeness: { nb: 'Kompletthet', en: 'Completeness' },
      validity: { nb: 'Gyldighet', en: 'Validity' },
      consistency: { nb: 'Konsistens', en: 'Consistency' },
    }[kind],
    rate: (u: UnitYear) => {
      let den = 0,
        fail = 0;
      for (const c of set.checks)
        if (c.kind === kind && (c.kind !== 'completeness' || c.required !== false)) {
          const x = countsOf(c, u);
          den += x.den;
          fail += x.fail;
        }
      return rateOf(den, fail);
    },
  }));
  if (set.timeliness) {
    const deadline = set.timeliness.registrationDays;
    families.push({
      family: 'timeliness',
      label: { nb: 'Registrert innen fristen', en: 'Registered within the deadline' },
      rate: (u) => {
        const w = histogramWithin(u.registration, deadline);
        return w.n ? w.within / w.n : null;
      },
    });
  }
  const out: Outlier[] = [];
  for (const f of families) {
    const rows = hospitals
      .map((h) => ({ h, u: m.byUnit.get(h.resh)?.get(o.year) }))
      .filter((x) => x.u && x.u.cases >= t.outlierMinimumCases)
      .map((x) => ({ h: x.h, cases: x.u!.cases, rate: f.rate(x.u!) }))
      .filter((x): x is { h: Unit; cases: number; rate: number } => x.rate !== null);
    if (rows.length < 3) continue;
    const scores = modifiedZScores(rows.map((r) => r.rate));
    const sorted = rows.map((r) => r.rate).sort((a, b) => a - b);
    const med = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    rows.forEach((r, i) => {
      const s = scores[i];
      if (s !== null && Math.abs(s) > t.outlierScore && within.has(r.h.resh))
        out.push({
          family: f.family,
          label: f.label,
          unit: { resh: r.h.resh, name: r.h.nameNb },
          year: o.year,
          rate: r.rate,
          cases: r.cases,
          score: s,
          median: med,
        });
    });
  }
  return out;
}
