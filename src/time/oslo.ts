// Calendar dates in Norwegian time. A date of injury, birth or surgery is the date on the wall
// clock in Norway, not in UTC. The formatter is built once: building one per call is costly.
const formatter = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo', year: 'numeric', month: '2-digit', day: '2-digit' });

/** The Oslo calendar date (YYYY-MM-DD) of an instant, or of a date/date-time string. */
export function osloDate(value: Date | string): string {
  if (typeof value === 'string' && value.length === 10) return value;
  return formatter.format(typeof value === 'string' ? new Date(value) : value);
}
