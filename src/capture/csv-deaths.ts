// Death notices from the population register as CSV (national identity number and date of death,
// one row per person), turned into batch Bundles of Patient resources with deceasedDateTime: the
// same message a live population-register feed sends to POST /fhir, so they take the same path.
import { parse } from 'csv-parse/sync';
import { identifierSystemFor } from './identity.ts';
import { isRealDate } from '../registry/values.ts';

export const DEATH_COLUMNS = ['national_id', 'date_of_death'] as const;

export interface DeathBatch {
  lines: [number, number];
  bundle: Record<string, unknown>;
}

export function deathsToBundles(text: string, batchSize = 200): { batches: DeathBatch[]; problems: string[] } {
  const records: Record<string, string>[] = parse(text, {
    columns: true,
    skip_empty_lines: true,
    delimiter: text.split('\n')[0].includes(';') ? ';' : ',',
    trim: true,
  });
  const missing = DEATH_COLUMNS.filter((c) => records.length && !(c in records[0]));
  if (missing.length)
    throw new Error(`the CSV lacks the column(s) ${missing.join(', ')}; expected ${DEATH_COLUMNS.join(', ')} (one row per person)`);
  // The identifier system follows the kind of number (a D-number adds 4 to the first digit; an
  // FH-number starts with 8 or 9); anything else goes as a fødselsnummer, and the capture says
  // what is wrong with it.
  const systemOf = identifierSystemFor;
  const problems: string[] = [];
  const rows: Array<{ line: number; nin: string; date: string }> = [];
  records.forEach((r, i) => {
    const line = i + 2;
    // Dates as the register writes them (YYYY-MM-DD, or DD.MM.YYYY) become FHIR dates. A date that
    // is no day of the calendar is reported here, by its line: in a batch Bundle it would fail HL7's
    // R4 schema and take the other rows of the batch with it. The capture checks the identity number.
    const m = /^(\d{2})\.(\d{2})\.(\d{4})$/.exec(r.date_of_death);
    const date = m ? `${m[3]}-${m[2]}-${m[1]}` : r.date_of_death;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      problems.push(`line ${line}: date_of_death "${r.date_of_death}" is not a date (write YYYY-MM-DD or DD.MM.YYYY)`);
      return;
    }
    if (!isRealDate(date)) {
      problems.push(`line ${line}: date_of_death "${r.date_of_death}" is not a day of the calendar`);
      return;
    }
    if (!r.national_id) {
      problems.push(`line ${line}: national_id is empty`);
      return;
    }
    rows.push({ line, nin: r.national_id, date });
  });
  const batches: DeathBatch[] = [];
  for (let i = 0; i < rows.length; i += batchSize) {
    const chunk = rows.slice(i, i + batchSize);
    batches.push({
      lines: [chunk[0].line, chunk[chunk.length - 1].line],
      bundle: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: chunk.map((r) => ({
          resource: { resourceType: 'Patient', identifier: [{ system: systemOf(r.nin), value: r.nin }], deceasedDateTime: r.date },
          request: { method: 'PUT', url: 'Patient' },
        })),
      },
    });
  }
  return { batches, problems };
}
