// Small statistics of data quality, written out so that each can be checked by hand.

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Modified z-scores (Iglewicz and Hoaglin 1993; NIST/SEMATECH e-Handbook of Statistical Methods
 * §1.3.5.17): M = 0.6745 (x − median) / MAD, where MAD is the median absolute deviation from the
 * median; |M| > 3.5 suggests an outlier. When more than half the values are equal the MAD is 0
 * and M is undefined; then the mean absolute deviation is used, M = (x − median) / (1.253314 ·
 * MeanAD), as IBM SPSS Modeler does (its "modified z-score" documentation), so that one unit far
 * from many identical ones is still found. Null when every value is the median (nothing stands out).
 */
export function modifiedZScores(xs: number[]): Array<number | null> {
  const med = median(xs);
  if (med === null) return [];
  const dev = xs.map((x) => Math.abs(x - med));
  const mad = median(dev)!;
  if (mad > 0) return xs.map((x) => (0.6745 * (x - med)) / mad);
  const meanAd = dev.reduce((s, d) => s + d, 0) / dev.length;
  if (meanAd === 0) return xs.map(() => null);
  return xs.map((x) => (x - med) / (1.253314 * meanAd));
}

/** Wilson score interval for a proportion (95 %). */
export function wilson(k: number, n: number, z = 1.959964): { lower: number; upper: number } | null {
  if (n === 0) return null;
  const p = k / n,
    z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}
