// Every count of data quality and coverage shown outside the caller's own units passes here, so
// that it can be switched to the platform's disclosure module (primary and secondary suppression)
// in one place. Today: primary suppression only — a count from 1 to under the registry's
// small-count threshold is withheld (null); 0 is shown (nothing to protect, and "none" matters).
export function discloseCount(n: number, threshold: number): number | null {
  return n > 0 && n < threshold ? null : n;
}
