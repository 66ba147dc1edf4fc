// What PROM results may show outside the unit: every count, rate and mean passes here, so that the
// rule is one function (DESIGN decision 12) and can be switched to the platform's disclosure module
// when it comes. Primary suppression: a count under the registry's threshold is withheld, and so is
// anything computed from it (a rate whose responders or non-responders are few, a mean of few
// answers). Secondary suppression: in a row of cells with a shown total, a single withheld cell
// could be recovered by subtraction, so the next smallest is withheld with it.

/** A count as it may be shown: null when under the threshold (zero included: "nobody" is as telling as one). */
export function shownCount(n: number, threshold: number): number | null {
  return n < threshold ? null : n;
}

/**
 * Responders among the eligible. Responders and non-responders add up to the eligible, so when
 * either is too few both are withheld (the other would give it away), and the rate with them; the
 * eligible alone may still be shown.
 */
export function shownRate(
  responders: number,
  eligible: number,
  threshold: number,
): { eligible: number | null; responders: number | null; nonResponders: number | null; rate: number | null } {
  const e = shownCount(eligible, threshold);
  const parts = e !== null && shownCount(responders, threshold) !== null && shownCount(eligible - responders, threshold) !== null;
  return {
    eligible: e,
    responders: parts ? responders : null,
    nonResponders: parts ? eligible - responders : null,
    rate: parts ? responders / eligible : null,
  };
}

/** A mean over `n` values, shown when `n` may be. */
export function shownMean(sum: number, n: number, threshold: number, decimals = 1): { n: number | null; mean: number | null } {
  const shown = shownCount(n, threshold);
  return { n: shown, mean: shown === null ? null : Math.round((sum / n) * 10 ** decimals) / 10 ** decimals };
}

/**
 * Secondary suppression over cells that add up to a shown total: if exactly one is withheld, the
 * smallest shown one is withheld too (by its true count), so that no withheld value is the total
 * minus the others. `key` picks which count of a cell is checked and withheld.
 */
export function protectTotal<T>(cells: T[], trueCount: (c: T) => number, isWithheld: (c: T) => boolean, withhold: (c: T) => void): void {
  const withheld = cells.filter(isWithheld);
  if (withheld.length !== 1) return;
  const others = cells.filter((c) => !isWithheld(c)).sort((a, b) => trueCount(a) - trueCount(b));
  if (others[0]) withhold(others[0]);
}
