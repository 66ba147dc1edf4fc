// Disclosure control of one indicator's counts: for every unit, period, stratum and dataset, whether
// its denominator and its numerator may be shown.
//   - Denominators under the indicator's minimum (never under the registry's threshold) are withheld
//     ("too-few"), and with them the numerator, the share and its interval.
//   - Numerators under the threshold are withheld ("small") with the share, unless the indicator
//     declares them shown (`disclosure: { numerator: show, reason }`); the denominator stays.
//   - Then secondary suppression ("linked"), separately for denominators and numerators, so that no
//     withheld count follows from a parent unit minus its shown sub-units, a total minus its shown
//     strata, a year minus its shown quarters or months, or from 12-month windows (periods.ts).
import type { Grain } from '../indicators/schema.ts';
import type { UnitTree } from '../units/tree.ts';
import { periodDisclosure } from './periods.ts';
import type { Reason } from './table.ts';

export interface IndicatorCount {
  dataset: string;
  grain: Grain | string;
  period: string;
  unit_resh: string;
  stratifier: string;
  stratum: string;
  numerator: number;
  denominator: number;
}

export interface IndicatorPolicy {
  threshold: number;
  minimumDenominator: number;
  numerator: 'suppress' | 'show';
}

export interface Withheld {
  numerator: Reason | null;
  denominator: Reason | null;
}

/** The decision for each count (in the order given); each dataset is its own table. */
export function indicatorDisclosure(counts: IndicatorCount[], policy: IndicatorPolicy, units: UnitTree): Withheld[] {
  const out: Withheld[] = new Array(counts.length);
  const byDataset = new Map<string, number[]>();
  counts.forEach((c, i) => {
    let list = byDataset.get(c.dataset);
    if (!list) byDataset.set(c.dataset, (list = []));
    list.push(i);
  });
  for (const idx of byDataset.values()) {
    const cells = idx.map((i) => ({
      grain: counts[i].grain,
      period: counts[i].period,
      unit: counts[i].unit_resh,
      stratifier: counts[i].stratifier,
      stratum: counts[i].stratum,
    }));
    const n = idx.map((i) => counts[i].denominator);
    const k = idx.map((i) => counts[i].numerator);
    const [den, num] = periodDisclosure(
      cells,
      [
        { values: n, zerosShown: true, primary: (j) => (n[j] > 0 && n[j] < policy.minimumDenominator ? 'too-few' : null) },
        {
          // Declared shown: small numerators may be published, so only withheld ones need protecting.
          values: k,
          zerosShown: false,
          threshold: policy.numerator === 'show' ? 1 : policy.threshold,
          primary: (j, before) => before[0][j] ?? (policy.numerator === 'suppress' && k[j] > 0 && k[j] < policy.threshold ? 'small' : null),
        },
      ],
      units,
      policy.threshold,
    );
    idx.forEach((i, j) => {
      out[i] = { denominator: den[j], numerator: num[j] };
    });
  }
  return out;
}
