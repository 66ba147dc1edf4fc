// Agreement between what the registry holds (internal) and what the patient record says
// (external, re-abstracted): percent agreement with its Wilson interval, Cohen's kappa for
// categories with its large-sample interval, and differences for numbers, dates and times.
import { wilson } from './stats.ts';

export interface Pair {
  internal: unknown;
  external: unknown;
}

export interface CategoryAgreement {
  kind: 'category';
  n: number;
  agree: number;
  percent: number | null;
  percentInterval: { lower: number; upper: number } | null;
  kappa: number | null;
  kappaInterval: { lower: number; upper: number } | null;
  /** Observed and chance agreement. */
  po: number | null;
  pe: number | null;
}

export interface DifferenceAgreement {
  kind: 'difference';
  /** What a difference is measured in: the variable's unit, days or minutes. */
  unit: string;
  n: number;
  agree: number;
  percent: number | null;
  percentInterval: { lower: number; upper: number } | null;
  meanDifference: number | null;
  meanInterval: { lower: number; upper: number } | null;
  sd: number | null;
  /** Bland–Altman limits of agreement: mean ± 1.96 SD. */
  limits: { lower: number; upper: number } | null;
  medianAbsolute: number | null;
}

const Z = 1.959964;
/** "Missing" is a category of its own: a value the record has and the registry lacks is a disagreement. */
const cat = (v: unknown) => (v === null || v === undefined || v === '' ? '(mangler)' : String(v));

/**
 * Cohen's kappa (Cohen 1960): κ = (po − pe) / (1 − pe), pe = Σ_k p(internal = k) p(external = k);
 * its standard error sqrt(po (1 − po) / (N (1 − pe)²)) gives the 95 % interval. Null when pe = 1
 * (both sources gave one and the same category throughout: kappa is undefined).
 */
export function categoryAgreement(pairs: Pair[]): CategoryAgreement {
  const n = pairs.length;
  if (n === 0)
    return { kind: 'category', n, agree: 0, percent: null, percentInterval: null, kappa: null, kappaInterval: null, po: null, pe: null };
  const a = new Map<string, number>(),
    b = new Map<string, number>();
  let agree = 0;
  for (const p of pairs) {
    const x = cat(p.internal),
      y = cat(p.external);
    a.set(x, (a.get(x) ?? 0) + 1);
    b.set(y, (b.get(y) ?? 0) + 1);
    if (x === y) agree++;
  }
  const po = agree / n;
  let pe = 0;
  for (const [k, na] of a) pe += (na / n) * ((b.get(k) ?? 0) / n);
  const kappa = pe < 1 ? (po - pe) / (1 - pe) : null;
  const se = pe < 1 ? Math.sqrt((po * (1 - po)) / (n * (1 - pe) ** 2)) : null;
  return {
    kind: 'category',
    n,
    agree,
    percent: po,
    percentInterval: wilson(agree, n),
    po,
    pe,
    kappa,
    kappaInterval: kappa !== null && se !== null ? { lower: kappa - Z * se, upper: kappa + Z * se } : null,
  };
}

/** Differences external − internal for pairs where both are known; agreement = equal (within `tolerance`). */
export function differenceAgreement(
  pairs: Array<{ internal: number | null; external: number | null }>,
  unit: string,
  tolerance = 0,
): DifferenceAgreement {
  const known = pairs.filter((p) => p.internal !== null && p.external !== null) as Array<{ internal: number; external: number }>;
  const d = known.map((p) => p.external - p.internal);
  const n = d.length;
  const agree = d.filter((x) => Math.abs(x) <= tolerance).length;
  if (n === 0)
    return {
      kind: 'difference',
      unit,
      n,
      agree,
      percent: null,
      percentInterval: null,
      meanDifference: null,
      meanInterval: null,
      sd: null,
      limits: null,
      medianAbsolute: null,
    };
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : null;
  const abs = d.map(Math.abs).sort((x, y) => x - y);
  const mid = Math.floor(n / 2);
  return {
    kind: 'difference',
    unit,
    n,
    agree,
    percent: agree / n,
    percentInterval: wilson(agree, n),
    meanDifference: mean,
    meanInterval: sd !== null ? { lower: mean - (Z * sd) / Math.sqrt(n), upper: mean + (Z * sd) / Math.sqrt(n) } : null,
    sd,
    limits: sd !== null ? { lower: mean - Z * sd, upper: mean + Z * sd } : null,
    medianAbsolute: n % 2 ? abs[mid] : (abs[mid - 1] + abs[mid]) / 2,
  };
}
