// Injury and physiology scores of the National Trauma Register: computations the declarations
// cannot express. Every exported function is callable from this registry's expressions
// (codebook, inclusion, indicators via derived variables). All are pure and return null when
// what they need is unknown, like the expression language's own functions.
//
// Sources:
// - AIS: Association for the Advancement of Automotive Medicine, Abbreviated Injury Scale 2005,
//   update 2008. A code is written NNNNNN.S: six digits (the first is the body region, the
//   "chapter", 0–9) and the severity S (1 minor … 6 maximal/currently untreatable; 9 unknown).
//   Chapter 0 is "other trauma": drowning, asphyxia, hypothermia, electrical injury … (see
//   issRegionOf for where it is scored).
// - ISS: Baker SP et al., J Trauma 1974;14:187–96. Sum of the squares of the highest AIS in each
//   of the three most severely injured of six ISS body regions; any AIS 6 gives 75.
// - NISS: Osler T et al., J Trauma 1997;43:922–5. Sum of the squares of the three most severe
//   injuries whatever their region; any AIS 6 gives 75.
// - RTS: Champion HR et al., J Trauma 1989;29:623–9. Coded values 0–4 of GCS, systolic blood
//   pressure and respiratory rate; RTS = 0.9368·GCSc + 0.7326·SBPc + 0.2908·RRc (0–7.8408);
//   the triage T-RTS is the sum of the coded values (0–12).
// - TRISS: Boyd CR et al., J Trauma 1987;27:370–8 (method); coefficients of the Major Trauma
//   Outcome Study, Champion HR et al., J Trauma 1990;30:1356–65 (set "MTOS 1990" below).

// ---- AIS codes ---------------------------------------------------------------------------------

export interface AisInjury {
  code: string;
  predot: string;
  chapter: number;
  severity: number;
  region: IssRegion | null;
}

/** The six ISS body regions (Baker 1974). */
export type IssRegion = 'head_neck' | 'face' | 'chest' | 'abdomen' | 'extremities' | 'external';

const AIS_CODE = /^(\d{6})\.([1-69])$/;

/**
 * The ISS region of an AIS 2005/2008 code. The rule, declared here once:
 * - skin injuries of chapters 1–8 (second digit 1 "whole area", third–fourth digits 02 abrasion,
 *   04 contusion, 06 laceration, 08 avulsion) and chapter 9 (burns, other external) → external;
 * - chapter 1 head and 3 neck → head/neck; 2 face → face; 4 thorax → chest; 5 abdomen → abdomen;
 * - chapter 6 spine by level (third–fourth digits): 02 cervical → head/neck, 04 thoracic → chest,
 *   06 lumbar → abdomen; a spine code without one of these levels has no region (not valid here);
 * - chapter 7 upper and 8 lower extremity (the pelvic ring is in chapter 8) → extremities;
 * - chapter 0, other trauma → external ("external and other").
 *
 * Chapter 0. That the first digit 0 is the AIS body region "Other Trauma" is in the NHTSA crash
 * injury data dictionaries that code AIS 2005/2008 (region values 0 Other Trauma, 1 Head … 9
 * Unspecified), and the Norwegian trauma registry's own reporting counts codes starting with 0 as
 * "andre skader" (drowning, asphyxia, hypothermia, electrical injury; hypothermia 01…). The AIS
 * dictionary assigns each code its ISS body region; public guidance on that assignment (NSW Agency
 * for Clinical Innovation, Institute of Trauma and Injury Management: "Abbreviated Injury Scale",
 * ISS body regions) puts electrical injury, frostbite, hypothermia and whole-body (blast-type)
 * injuries in "external and other", but asphyxia/suffocation in head or neck and drowning and
 * inhalation injury in chest. The dictionary's code list is licensed and not public, so which
 * chapter-0 codes are asphyxia or drowning could not be verified here: every chapter-0 code is
 * scored in the external region. For asphyxia or drowning together with a head/neck or chest injury
 * this may give a higher ISS than the dictionary's assignment would (NISS, which ignores regions, is
 * exact); docs/adding-a-registry.md says so too.
 */
export function issRegionOf(predot: string): IssRegion | null {
  const chapter = Number(predot[0]);
  const structure = predot[1],
    specific = predot.slice(2, 4);
  if (structure === '1' && ['02', '04', '06', '08'].includes(specific) && chapter >= 1 && chapter <= 8) return 'external';
  switch (chapter) {
    case 0:
      return 'external';
    case 1:
    case 3:
      return 'head_neck';
    case 2:
      return 'face';
    case 4:
      return 'chest';
    case 5:
      return 'abdomen';
    case 6:
      return specific === '02' ? 'head_neck' : specific === '04' ? 'chest' : specific === '06' ? 'abdomen' : null;
    case 7:
    case 8:
      return 'extremities';
    case 9:
      return 'external';
    default:
      return null;
  }
}

/** Parses one AIS code; null when it is not a valid NNNNNN.S code with a known ISS region. */
export function parseAis(code: string): AisInjury | null {
  const m = AIS_CODE.exec(code.trim());
  if (!m) return null;
  const chapter = Number(m[1][0]);
  const region = issRegionOf(m[1]);
  if (!region) return null;
  return { code: code.trim(), predot: m[1], chapter, severity: Number(m[2]), region };
}

/** Whether a single AIS code is valid (for the codebook's rule on each injury). */
export function aisValid(code: unknown): boolean | null {
  if (code === null || code === undefined || code === '') return null;
  return parseAis(String(code)) !== null;
}

/** The injuries of a comma-separated list of AIS codes (what a `collect` variable gives); invalid codes are left out. */
export function injuries(codes: unknown): AisInjury[] {
  if (codes === null || codes === undefined || codes === '') return [];
  return String(codes)
    .split(',')
    .map((c) => parseAis(c))
    .filter((x): x is AisInjury => x !== null);
}

/** Injuries that can be scored: severity 9 ("unknown") is not scored. */
function scored(codes: unknown): AisInjury[] {
  return injuries(codes).filter((i) => i.severity >= 1 && i.severity <= 6);
}

const squareOfTopThree = (severities: number[]) =>
  severities
    .sort((a, b) => b - a)
    .slice(0, 3)
    .reduce((s, x) => s + x * x, 0);

/** Injury Severity Score (Baker 1974); null when no injury can be scored. */
export function iss(codes: unknown): number | null {
  const list = scored(codes);
  if (list.length === 0) return null;
  if (list.some((i) => i.severity === 6)) return 75;
  const highest = new Map<IssRegion, number>();
  for (const i of list) highest.set(i.region!, Math.max(highest.get(i.region!) ?? 0, i.severity));
  return squareOfTopThree([...highest.values()]);
}

/** New Injury Severity Score (Osler 1997); null when no injury can be scored. */
export function niss(codes: unknown): number | null {
  const list = scored(codes);
  if (list.length === 0) return null;
  if (list.some((i) => i.severity === 6)) return 75;
  return squareOfTopThree(list.map((i) => i.severity));
}

/** The highest AIS severity (MAIS); null when no injury can be scored. */
export function maxAis(codes: unknown): number | null {
  const list = scored(codes);
  return list.length ? Math.max(...list.map((i) => i.severity)) : null;
}

/**
 * The highest severity among head injuries (AIS chapter 1, the "AIS Head" of the inclusion
 * criteria: skull fractures count, facial fractures, chapter 2, do not); 0 when injuries are
 * known and none is a head injury; null when no injury can be scored.
 */
export function headAis(codes: unknown): number | null {
  const list = scored(codes);
  if (list.length === 0) return null;
  return Math.max(0, ...list.filter((i) => i.chapter === 1).map((i) => i.severity));
}

/** Number of scored injuries. */
export function injuryCount(codes: unknown): number | null {
  const list = scored(codes);
  return list.length ? list.length : null;
}

// ---- Revised Trauma Score (Champion 1989) ------------------------------------------------------

const num = (x: unknown): number | null => (x === null || x === undefined || x === '' || !Number.isFinite(Number(x)) ? null : Number(x));

/** GCS coded 0–4: 13–15 → 4, 9–12 → 3, 6–8 → 2, 4–5 → 1, 3 → 0. */
export function gcsCoded(gcs: unknown): number | null {
  const g = num(gcs);
  if (g === null || g < 3 || g > 15) return null;
  return g >= 13 ? 4 : g >= 9 ? 3 : g >= 6 ? 2 : g >= 4 ? 1 : 0;
}

/** Systolic blood pressure coded 0–4: > 89 → 4, 76–89 → 3, 50–75 → 2, 1–49 → 1, 0 → 0. */
export function sbpCoded(sbp: unknown): number | null {
  const s = num(sbp);
  if (s === null || s < 0) return null;
  return s > 89 ? 4 : s >= 76 ? 3 : s >= 50 ? 2 : s >= 1 ? 1 : 0;
}

/** Respiratory rate coded 0–4: 10–29 → 4, > 29 → 3, 6–9 → 2, 1–5 → 1, 0 → 0. */
export function rrCoded(rr: unknown): number | null {
  const r = num(rr);
  if (r === null || r < 0) return null;
  return r > 29 ? 3 : r >= 10 ? 4 : r >= 6 ? 2 : r >= 1 ? 1 : 0;
}

/** Revised Trauma Score, 0–7.8408 (rounded to 4 decimals); null unless all three are known. */
export function rts(gcs: unknown, sbp: unknown, rr: unknown): number | null {
  const g = gcsCoded(gcs),
    s = sbpCoded(sbp),
    r = rrCoded(rr);
  if (g === null || s === null || r === null) return null;
  return Math.round((0.9368 * g + 0.7326 * s + 0.2908 * r) * 10_000) / 10_000;
}

/** Triage Revised Trauma Score: the sum of the coded values, 0–12. */
export function triageRts(gcs: unknown, sbp: unknown, rr: unknown): number | null {
  const g = gcsCoded(gcs),
    s = sbpCoded(sbp),
    r = rrCoded(rr);
  if (g === null || s === null || r === null) return null;
  return g + s + r;
}

// ---- TRISS (Boyd 1987; MTOS coefficients, Champion 1990) ---------------------------------------

/** The coefficient set used: MTOS 1990 (Champion et al., J Trauma 1990;30:1356–65). */
export const TRISS_COEFFICIENTS = {
  name: 'MTOS 1990',
  blunt: { b0: -1.247, rts: 0.9544, iss: -0.0768, age: -1.9052 },
  penetrating: { b0: -0.6029, rts: 1.143, iss: -0.1516, age: -2.6676 },
} as const;

/** TRISS age index: 0 for age 0–54, 1 for 55 and over. */
export function trissAgeIndex(age: unknown): number | null {
  const a = num(age);
  if (a === null || a < 0) return null;
  return a >= 55 ? 1 : 0;
}

/**
 * TRISS probability of survival, 0–1 (rounded to 4 decimals): Ps = 1 / (1 + e^−b),
 * b = b0 + b1·RTS + b2·ISS + b3·age index, with the MTOS 1990 coefficients for the dominant
 * injury type ('blunt' or 'penetrating'). Children: as in the TRISS method (Boyd 1987), patients
 * under 15 years are scored with the blunt coefficients whatever the injury type.
 */
export function trissPs(injuryType: unknown, rtsValue: unknown, issValue: unknown, age: unknown): number | null {
  const r = num(rtsValue),
    s = num(issValue),
    a = num(age),
    ai = trissAgeIndex(age);
  if (r === null || s === null || a === null || ai === null) return null;
  if (injuryType !== 'blunt' && injuryType !== 'penetrating') return null;
  const c = injuryType === 'penetrating' && a >= 15 ? TRISS_COEFFICIENTS.penetrating : TRISS_COEFFICIENTS.blunt;
  const b = c.b0 + c.rts * r + c.iss * s + c.age * ai;
  return Math.round((1 / (1 + Math.exp(-b))) * 10_000) / 10_000;
}
