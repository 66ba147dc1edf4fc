// A local fracture journal exported as CSV (one row per fracture, as kept at Stavanger since 2004)
// turned into the same FHIR bundles a live system sends, so legacy data enters through the same
// pipeline. Legacy AO/OTA codes are mapped to the 2018 version with the registry's version map and
// sent beside it; a legacy hip code (31) goes, like a new one, to the hip fracture register.
import { parse } from 'csv-parse/sync';
import type { Registry } from '../../src/registry/load.ts';
import { ehrBundle, plannerBundle, type FractureSpec } from './bundles.ts';

export const JOURNAL_COLUMNS = [
  'journal_id',
  'national_id',
  'unit_resh',
  'setting',
  'injury_time',
  'first_contact',
  'ao_code',
  'side',
  'open',
  'energy',
  'intent',
  'surgery_time',
] as const;

export interface JournalRow {
  line: number;
  bundles: Array<Record<string, any>>;
  problem?: string;
}

const bool = (v: string | undefined) => (v === undefined || v === '' ? undefined : /^(1|ja|yes|true)$/i.test(v));

/**
 * The registry's CSV importer (`kvalreg import --format csv --registry fracture`): the platform
 * calls `csvToBundles` of a registry's import.ts. `codeVersion` is the AO/OTA version of the codes.
 */
export function csvToBundles(text: string, registry: Registry, opts: { codeVersion: string; idSystem?: string }): JournalRow[] {
  const records: Record<string, string>[] = parse(text, {
    columns: true,
    skip_empty_lines: true,
    delimiter: text.split('\n')[0].includes(';') ? ';' : ',',
    trim: true,
  });
  const missingCols = JOURNAL_COLUMNS.filter((c) => records.length && !(c in records[0]));
  if (missingCols.length) throw new Error(`the CSV lacks the column(s) ${missingCols.join(', ')}; expected ${JOURNAL_COLUMNS.join(', ')}`);
  const map = registry.versionMaps.get('ao_ota_2018');
  return records.map((r, i) => {
    const line = i + 2;
    let ao = r.ao_code;
    let legacy: string | undefined;
    if (opts.codeVersion !== '2018' && opts.codeVersion !== 'current') {
      if (!map) return { line, bundles: [], problem: `no version map for AO/OTA ${opts.codeVersion}` };
      // As the version map's header says: no spaces or hyphens, upper-case letters ("23-a2.1" is 23A2.1).
      legacy = ao.trim().replace(/[\s-]/g, '').toUpperCase();
      if (legacy.startsWith('31')) {
        // A hip fracture in either version: routed on the 31 prefix before any conversion (codes/README.md),
        // by the registry's own referral rule, with the legacy code alone: its 2018 group is not certain.
        ao = '';
      } else {
        const mapped = map(legacy);
        if (mapped.code === null)
          return {
            line,
            bundles: [],
            problem: `AO code ${r.ao_code} (${opts.codeVersion}) cannot be mapped to 2018 unambiguously${mapped.rule?.note ? `: ${mapped.rule.note}` : ''}; register it by hand`,
          };
        ao = mapped.code;
      }
    }
    const spec: FractureSpec = {
      id: `journal-${r.journal_id}`,
      nin: r.national_id,
      unitResh: r.unit_resh,
      setting: (r.setting || 'EMER') as FractureSpec['setting'],
      injuryDateTime: r.injury_time,
      firstContact: r.first_contact,
      aoCode: ao,
      ...(legacy ? { aoCodeLegacy: legacy } : {}),
      side: (r.side || 'not_applicable') as FractureSpec['side'],
      open: bool(r.open),
      energy: (r.energy || undefined) as FractureSpec['energy'],
      intent: (r.intent || undefined) as FractureSpec['intent'],
      surgery: r.surgery_time ? { start: r.surgery_time } : undefined,
    };
    const bundles = [ehrBundle(spec, 'transaction', opts.idSystem)];
    const p = plannerBundle(spec, opts.idSystem);
    if (p) bundles.push(p);
    return { line, bundles };
  });
}
