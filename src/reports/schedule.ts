// When a subscription's reports fall due: every run is counted from the subscription's anchor (the
// moment it was created) in Europe/Oslo wall-clock time, by luxon's calendar arithmetic.
//
// Why from the anchor and in Oslo time: adding 7 × 24 hours to the last run moves a weekly 07:30
// report to 08:30 when summer time starts, and adding a month to the last run walks a report
// from the 31st to the 28th (or, in UTC arithmetic, to the 3rd) and keeps it there. Counting
// "the anchor plus k months" lets luxon clamp each month to its last day (31 Jan → 28 Feb → 31 Mar
// → 30 Apr) and keeps the hour people asked for through both daylight-saving changes.
import { DateTime, type DurationLikeObject } from 'luxon';

export const SCHEDULE_ZONE = 'Europe/Oslo';

const STEP: Record<'daily' | 'weekly' | 'monthly' | 'quarterly', DurationLikeObject> = {
  daily: { days: 1 },
  weekly: { weeks: 1 },
  monthly: { months: 1 },
  quarterly: { months: 3 },
};
export type ScheduleFrequency = keyof typeof STEP;

/** The k-th run after the anchor (k ≥ 1), in Oslo calendar time. */
export function nthRun(anchor: Date, frequency: ScheduleFrequency, k: number): Date {
  const step = STEP[frequency];
  const scaled = Object.fromEntries(Object.entries(step).map(([unit, n]) => [unit, (n as number) * k]));
  return DateTime.fromJSDate(anchor, { zone: SCHEDULE_ZONE }).plus(scaled).toJSDate();
}

/** The first run after `after` (strictly later), counted from the anchor. */
export function nextRunAfter(anchor: Date, frequency: ScheduleFrequency, after: Date): Date {
  // A first guess from the average length of a step, then corrected: at most a few iterations.
  const approxMs =
    frequency === 'daily'
      ? 86_400_000
      : frequency === 'weekly'
        ? 7 * 86_400_000
        : frequency === 'monthly'
          ? 30.44 * 86_400_000
          : 91.31 * 86_400_000;
  let k = Math.max(1, Math.floor((after.getTime() - anchor.getTime()) / approxMs));
  while (k > 1 && nthRun(anchor, frequency, k - 1) > after) k -= 1;
  while (nthRun(anchor, frequency, k) <= after) k += 1;
  return nthRun(anchor, frequency, k);
}
