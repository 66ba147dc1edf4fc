// A synthetic extract of the national patient register (NPR) for the demo's fractures, with a
// planted coverage per hospital: every fracture the demo sent is in NPR (except a few the
// hospital coded without a fracture code: only in the registry), and beside each one the hospital
// treated a number of fractures it never registered, drawn so that the registry holds the planted
// share c of the hospital's fractures. (The number of unregistered fractures before each registered
// one is geometric with success probability c, so n registered of N in NPR gives n / N ≈ c.)
import { generateNin } from '../../src/identity/nin.ts';
import type { FractureSpec } from '../../registries/fracture/bundles.ts';
import { mulberry32 } from './generate.ts';

/** The fracture's ICD-10 code in NPR, from its AO/OTA prefix (hip fractures, AO 31, get S72.0). */
const ICD: Record<string, string> = {
  '11': 'S42.2',
  '12': 'S42.3',
  '13': 'S42.4',
  '14': 'S42.1',
  '15': 'S42.0',
  '16': 'S22.3',
  '21': 'S52.0',
  '22': 'S52.2',
  '23': 'S52.5',
  '31': 'S72.0',
  '32': 'S72.3',
  '33': 'S72.4',
  '41': 'S82.1',
  '42': 'S82.2',
  '43': 'S82.3',
  '44': 'S82.6',
  '5': 'S32.0',
  '6': 'S32.5',
  '7': 'S62.3',
  '8': 'S92.3',
};
const icdOf = (ao: string, legacy?: string) => ICD[(ao || legacy || '').slice(0, 2)] ?? ICD[(ao || legacy || '').slice(0, 1)] ?? 'S52.5';

/** The planted coverage of a hospital: the demo area's is high; the others cycle through 95, 85, 70 and 50 %. */
export function plantedCoverage(hospitals: string[], demoArea: Set<string>): Map<string, number> {
  const cycle = [0.95, 0.85, 0.7, 0.5];
  return new Map([...hospitals].sort().map((h, i) => [h, demoArea.has(h) ? 0.92 : cycle[i % cycle.length]]));
}

export interface NprDemo {
  csv: string;
  planted: Map<string, number>;
  episodes: number;
}

export function generateNprExtract(
  fractures: FractureSpec[],
  o: { seed: number; hospitalOf: (unit: string) => string; planted: Map<string, number>; onlyInRegistry?: number },
): NprDemo {
  const random = mulberry32(o.seed ^ 0x5eed);
  const rows = ['episode_id;national_id;hospital_resh;admission_date;discharge_date;contact_type;icd10;ncsp'];
  const day = (iso: string, plus = 0) =>
    new Date(Date.parse(iso.slice(0, 10) + 'T00:00:00Z') + plus * 86_400_000).toISOString().slice(0, 10);
  let n = 0;
  for (const f of fractures) {
    const hospital = o.hospitalOf(f.unitResh);
    const c = o.planted.get(hospital) ?? 0.9;
    const icd = icdOf(f.aoCode, f.aoCodeLegacy);
    const operated = Boolean(f.surgery);
    // Registered fractures are in NPR unless the hospital coded them without a fracture code.
    if (random() >= (o.onlyInRegistry ?? 0.01)) {
      rows.push(
        [
          `npr-${++n}`,
          f.nin,
          hospital,
          day(f.firstContact),
          day(f.firstContact, operated ? 1 + Math.floor(random() * 4) : 0),
          operated ? 'inpatient' : 'outpatient',
          icd,
          operated ? 'NCJ62' : '',
        ].join(';'),
      );
    }
    if (f.aoCode.startsWith('31')) continue; // a hip fracture: another registry's, whatever NPR holds
    // Fractures the hospital treated but never registered: geometric, mean (1 − c) / c.
    while (random() >= c) {
      const birth = `${1930 + Math.floor(random() * 90)}-0${1 + Math.floor(random() * 9)}-1${Math.floor(random() * 9)}`;
      const date = day(f.injuryDateTime, Math.floor(random() * 60) - 30);
      const inYear = date.slice(0, 4) === f.injuryDateTime.slice(0, 4) ? date : day(f.injuryDateTime);
      rows.push(
        [
          `npr-${++n}`,
          generateNin({ birthDate: birth, sex: random() < 0.5 ? 'female' : 'male', kind: 'synthetic-fnr', random }),
          hospital,
          inYear,
          inYear,
          'outpatient',
          icd,
          '',
        ].join(';'),
      );
    }
  }
  return { csv: rows.join('\n') + '\n', planted: o.planted, episodes: n };
}
