// FHIR logical ids: letters, digits, "-" and ".", at most 64 characters (FHIR R4 `id`). Names
// from our declarations (indicator ids with "_", periods, RESH ids) are made into one, stably.
import crypto from 'node:crypto';

const MAX = 64;

/** A valid FHIR id for `raw`: other characters become "-"; past 64 characters, a hash keeps it unique. */
export function fhirId(raw: string): string {
  const id = raw.replace(/[^A-Za-z0-9\-.]/g, '-');
  if (id.length <= MAX) return id;
  const hash = crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16);
  return `${id.slice(0, MAX - hash.length - 1)}-${hash}`;
}
