// The statistics of a proportion: Wilson score interval, the difference between two periods with
// Newcombe's hybrid score interval, achievement level and trend. Pure functions, tested by hand.
import type { Threshold } from './schema.ts';

const Z95 = 1.959963984540054;

export interface Interval {
  lower: number;
  upper: number;
}

/** Wilson score interval for k successes of n (95 % by default). Undefined for n = 0, and for k outside 0…n. */
export function wilson(k: number, n: number, z = Z95): Interval | null {
  if (n <= 0 || k < 0 || k > n) return null;
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * 95 % interval for a rate k / n where k counts events (which may exceed n, e.g. reoperations per
 * primary operation): Byar's approximation to the exact Poisson interval for k (Breslow NE, Day NE.
 * Statistical methods in cancer research, vol. II. IARC 1987, p. 69), divided by n.
 */
export function rateInterval(k: number, n: number, z = Z95): Interval | null {
  if (n <= 0 || k < 0) return null;
  const lower = k === 0 ? 0 : k * (1 - 1 / (9 * k) - z / (3 * Math.sqrt(k))) ** 3;
  const k1 = k + 1;
  const upper = k1 * (1 - 1 / (9 * k1) + z / (3 * Math.sqrt(k1))) ** 3;
  return { lower: lower / n, upper: upper / n };
}

/**
 * 95 % interval for p1 − p2 (Newcombe 1998, method 10: hybrid score from the two Wilson
 * intervals). Used for trend: a change whose interval excludes 0 is more than chance.
 */
export function differenceInterval(k1: number, n1: number, k2: number, n2: number): Interval | null {
  const a = wilson(k1, n1),
    b = wilson(k2, n2);
  if (!a || !b) return null;
  const p1 = k1 / n1,
    p2 = k2 / n2,
    d = p1 - p2;
  return {
    lower: d - Math.sqrt((p1 - a.lower) ** 2 + (b.upper - p2) ** 2),
    upper: d + Math.sqrt((a.upper - p1) ** 2 + (p2 - b.lower) ** 2),
  };
}

export function holdsThreshold(p: number, t: Threshold): boolean {
  switch (t.operator) {
    case '>':
      return p > t.value;
    case '>=':
      return p >= t.value;
    case '<':
      return p < t.value;
    case '<=':
      return p <= t.value;
  }
}

export type Level = 'high' | 'moderate' | 'low';

/** High when the high threshold holds, moderate when the moderate one does, otherwise low; none without levels. */
export function achievementLevel(p: number, levels: { high: Threshold; moderate?: Threshold } | undefined): Level | null {
  if (!levels) return null;
  if (holdsThreshold(p, levels.high)) return 'high';
  if (levels.moderate && holdsThreshold(p, levels.moderate)) return 'moderate';
  return 'low';
}

export type Trend = 'better' | 'worse' | 'stable';

/** Against the previous period: better or worse only when the change is beyond chance, in the direction that counts. */
export function trend(
  now: { k: number; n: number },
  before: { k: number; n: number },
  direction: 'higher-is-better' | 'lower-is-better',
): Trend | null {
  const d = differenceInterval(now.k, now.n, before.k, before.n);
  if (!d) return null;
  const up = d.lower > 0,
    down = d.upper < 0;
  if (!up && !down) return 'stable';
  return up === (direction === 'higher-is-better') ? 'better' : 'worse';
}
