/**
 * Norwegian identity numbers for persons (NIN): fødselsnummer, D-number, felles hjelpenummer
 * (FH-number), local H-numbers and test numbers.
 *
 * Layout of fnr, D- and H-numbers: DDMMYY III K1 K2 — birth date, individual number, two check
 * digits. An FH-number is 11 digits with no meaning but its first digit and check digits.
 *
 * Kinds (the modifications are applied to the date digits):
 * - 'fnr'            plain fødselsnummer (Skatteetaten).
 * - 'dnr'            D-number: day + 40 (first digit + 4). Assigned by the
 *                    Norwegian Population Register to people without an fnr.
 * - 'fhn'            felles hjelpenummer (FH-number) from Norsk Helsenett: eleven digits, the
 *                    first 8 or 9, the rest chosen at random, "med to kontrollsiffer, som i
 *                    ordinære fødselsnummer" (NHN, "Hva er felles hjelpenummer?",
 *                    https://nhn.no/hva-er-felles-hjelpenummer/). It names patients whose fnr or
 *                    D-number is unknown (newborns, tourists, unconscious patients), the same
 *                    number across institutions. It carries no birth date and no sex: nothing is
 *                    derived from it. We read "check digits as in ordinary fødselsnummer" as the
 *                    classic modulo-11 weights below; the stored public material states no weights
 *                    for FH-numbers of their own, and the registries' own R package validates them
 *                    the same way (Rapporteket/rapwhale, R/fodselsnummer-funksjoner.R). Whether
 *                    Norsk Helsenett will ever issue FH-numbers under the 2032 check-digit rule
 *                    is not stated anywhere we could find, so only the classic rule is accepted.
 * - 'hnr'            local H-number (virksomhetsinternt hjelpenummer): month + 40 (third digit
 *                    + 4), assigned by one health institution to a patient whose fnr is not (yet)
 *                    known; all other rules (century, sex, check digits) as for fnr. It may sit
 *                    on a D-number as well (day + 40 and month + 40: `onDNumber`). Unique only
 *                    within the institution that assigned it, so the capture keys it by its
 *                    assigner (capture/identity.ts). The older practice of H-numbers starting
 *                    with 8 or 9 is what the FH-number now is.
 * - 'synthetic-fnr'  synthetic test number from the national test-data system
 *                    (Tenor / Test-Norge): month + 80. Never a real person.
 * - 'synthetic-dnr'  synthetic D-number: day + 40 and month + 80.
 *
 * Month + 40 is ambiguous: test-data systems also hand out fødselsnumre and D-numbers with 40
 * added to the month (NAV's Dolly), digit for digit the same as an H-number. parseNin reports
 * such numbers as 'hnr'; the identifier system they arrive under decides what they are (an
 * H-number under the local H-number type, a test number under the fødselsnummer or D-number
 * system): `testNumberKind`.
 *
 * Check digits (classic rule): k1 and k2 are modulo-11 check digits with
 * weights 3 7 6 1 8 9 4 5 2 (over digits 1-9) and 5 4 3 2 7 6 5 4 3 2 (over
 * digits 1-10). A computed value of 11 becomes 0; 10 means the individual
 * number cannot be used. Equivalently: the weighted sum of digits 1-10 with
 * weights 3 7 6 1 8 9 4 5 2 1 is divisible by 11.
 *
 * The 2032 rule. Source: Skatteetaten, "Nytt fødselsnummer fra 2032",
 * https://skatteetaten.github.io/folkeregisteret-api-dokumentasjon/nytt-fodselsnummer-fra-2032/
 * (also https://www.skatteetaten.no/deling/opplysninger/folkeregisteropplysninger/pid/).
 * For fnr and D-numbers issued from 1 January 2032:
 *   - k1 is accepted when the remainder of the weighted sum of digits 1-10
 *     (weights 3 7 6 1 8 9 4 5 2 1, i.e. including k1) modulo 11 is 0, 1, 2 or
 *     3 (classic: only 0). The document writes it as
 *     k1 = {11,12,13,14} - (sum of digits 1-9 MOD 11); k1 = 10 is still invalid.
 *   - k2 is computed exactly as before (single valid value, 10 invalid).
 *   - the numbers are gender neutral: sex must not be derived from them;
 *   - the individual number no longer indicates the century: the birth date
 *     must be taken from the population register.
 *   - "systems using the check calculation must be able to read both the
 *     current and the new check calculation in parallel", and new numbers are
 *     also issued to people born before 2032.
 * A validator cannot know when a number was issued, so we accept the 2032 rule
 * for every number of a date-bearing kind (whatever the birth date or `today`). That
 * is what the official text asks for, and the synthetic test-data system may
 * hand out such numbers before 2032.
 *
 * Consequences implemented in `parseNin`:
 *   - `rule2032: true` means "valid only under the 2032 rules": either k1
 *     differs from the classic value, or (k1 classic but) the individual number
 *     does not map to a century under the classic table. For these numbers
 *     `sex` and `birthDate` are null: the number carries no sex any more and
 *     the century is unknown (the day/month/two-digit year must still form a
 *     real date in 19YY or 20YY that is not in the future).
 *   - For numbers that pass the classic rule we derive century and sex as
 *     before. Caveat: a post-2032 number whose k1 happens to equal the classic
 *     value is indistinguishable from a classic number, so after 2032 the
 *     derived sex/birth date is only a hint; the authoritative values are the
 *     separate fields in the population register.
 *   - From 2032 on (judged by `today`), a classic-looking number whose classic
 *     century gives a future or non-existent date is re-read as a 2032 number
 *     instead of rejected, because such numbers can then legitimately exist.
 *
 * H-numbers: birth date and sex are derived by the usual convention, because
 * that is how the assigning institution encoded them, but they may be
 * estimates (unconscious/unknown patients). Callers should treat any 'hnr'
 * result as provisional and replace it with the fnr/dnr when it becomes known.
 */

import { osloDate } from '../time/oslo.ts';
import { randomBytes } from 'node:crypto';

export type NinKind = 'fnr' | 'dnr' | 'hnr' | 'fhn' | 'synthetic-fnr' | 'synthetic-dnr';

/** What each kind is, in words for people (the `kvalreg nin check` output, messages). */
export const NIN_KIND_NAMES: Record<NinKind, { nb: string; en: string }> = {
  fnr: { nb: 'fødselsnummer', en: 'fødselsnummer (national identity number)' },
  dnr: { nb: 'D-nummer', en: 'D-number' },
  fhn: { nb: 'felles hjelpenummer (FH-nummer)', en: 'felles hjelpenummer (FH-number)' },
  hnr: { nb: 'lokalt hjelpenummer (H-nummer)', en: 'local H-number' },
  'synthetic-fnr': { nb: 'syntetisk testnummer', en: 'synthetic test number' },
  'synthetic-dnr': { nb: 'syntetisk test-D-nummer', en: 'synthetic test D-number' },
};

export type NinParseResult =
  | {
      ok: true;
      /** Normalised: exactly 11 digits. */
      nin: string;
      kind: NinKind;
      /** YYYY-MM-DD, or null when the century cannot be known (2032 rule). */
      birthDate: string | null;
      /** From digit 9 (odd = male); null for 2032-rule numbers. */
      sex: 'male' | 'female' | null;
      /** True when the number is valid only under the rules for numbers issued from 2032. */
      rule2032: boolean;
      /** An H-number on a D-number (day + 40 and month + 40); absent otherwise. */
      onDNumber?: true;
    }
  | { ok: false; code: NinErrorCode; message: string };

export type NinErrorCode =
  | 'empty'
  | 'auxiliary-number'
  | 'invalid-characters'
  | 'invalid-length'
  | 'invalid-format'
  | 'check-digit-1'
  | 'check-digit-2'
  | 'invalid-date'
  | 'future-birth-date';

const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
/** From this date, numbers issued under the 2032 rules can exist (see header). */
const RULE_2032_START = '2032-01-01';

function weightedSum(digits: readonly number[], weights: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < weights.length; i++) s += digits[i] * weights[i];
  return s;
}

/** Classic modulo-11 check digit for a weighted sum; null when it would be 10 (unusable). */
function mod11CheckDigit(sum: number): number | null {
  const k = 11 - (sum % 11);
  if (k === 11) return 0;
  return k === 10 ? null : k;
}

/** k1 digits accepted by the 2032 rule: (sum1 + k1) mod 11 in {0,1,2,3}. Always 3 or 4 values. */
function accepted2032K1(sum1: number): number[] {
  const out: number[] = [];
  for (let d = 0; d <= 9; d++) if ((sum1 + d) % 11 <= 3) out.push(d);
  return out;
}

/** Classic check digits for the first 9 digits, or null when either would be 10. */
function classicCheckDigits(first9: readonly number[]): [number, number] | null {
  const k1 = mod11CheckDigit(weightedSum(first9, W1));
  if (k1 === null) return null;
  const k2 = mod11CheckDigit(weightedSum([...first9, k1], W2));
  return k2 === null ? null : [k1, k2];
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function isRealDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  // Day 0 of the next month is the last day of this month (handles leap years).
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= last;
}

const isoDate = (y: number, m: number, d: number): string => `${y}-${pad2(m)}-${pad2(d)}`;

/**
 * Today's calendar date in Norway. Births are registered in Norwegian time;
 * using UTC would reject a child born just after midnight Oslo time as
 * "born in the future" for an hour or two.
 */
function osloToday(now: Date): string {
  return osloDate(now);
}

/** Classic century table from the individual number; null when the combination was never issued. */
function classicCentury(individual: number, yy: number): number | null {
  if (individual <= 499) return 1900;
  if (individual <= 749 && yy >= 54) return 1800;
  if (individual >= 500 && yy <= 39) return 2000;
  if (individual >= 900 && yy >= 40) return 1900;
  return null;
}

const DATE_HINT = 'check the first six digits (DDMMYY) for typing errors';
const TYPO_HINT = 'check the number for typing errors';

function fail(code: NinErrorCode, message: string): NinParseResult {
  return { ok: false, code, message };
}

/**
 * Accepts 11 digits, optionally with surrounding whitespace and one space or
 * dash between the date part and the personal number ("010190 12345",
 * "010190-12345"). Returns the 11 digits or an error result.
 */
function normalise(input: string): string | NinParseResult {
  const s = input.trim();
  if (s === '') return fail('empty', 'no identity number given — enter the 11-digit national identity number');
  const m = /^(\d{6})(?:\s*-\s*|\s+)?(\d{5})$/.exec(s);
  if (m) return m[1] + m[2];
  const bad = [...s].find((c) => !/[\d\s-]/.test(c));
  if (bad !== undefined) {
    return fail(
      'invalid-characters',
      `the identity number contains "${bad}", which is not a digit — enter 11 digits, optionally grouped as DDMMYY NNNNN`,
    );
  }
  const digits = s.replace(/\D/g, '').length;
  if (digits !== 11) {
    return fail('invalid-length', `an identity number has 11 digits, but ${digits} were given — check that no digit is missing or doubled`);
  }
  return fail(
    'invalid-format',
    'the digits are grouped in an unexpected way — enter 11 digits, optionally with one space or dash after the six birth-date digits (DDMMYY NNNNN)',
  );
}

/** Parses and validates a national identity number. See the module comment for the rules. */
export function parseNin(input: string, opts: { today?: Date } = {}): NinParseResult {
  if (typeof input !== 'string') return fail('empty', 'no identity number given — enter the 11-digit national identity number');
  if (isAuxiliaryNumber(input.trim())) {
    return fail(
      'auxiliary-number',
      'this is an auxiliary number for a patient of unknown identity, not a national identity number — record it as an auxiliary identifier',
    );
  }
  const normalised = normalise(input);
  if (typeof normalised !== 'string') return normalised;
  const nin = normalised;
  const d = [...nin].map(Number);

  // No day is 80 or more, not even on a D-number: a first digit of 8 or 9 is an FH-number.
  if (d[0] >= 8) return parseFhNumber(nin, d);

  // Check digits first: a typing error is the most likely cause of any failure.
  const sum1 = weightedSum(d, W1);
  const rest1 = (sum1 + d[9]) % 11;
  if (rest1 > 3) {
    const classic = mod11CheckDigit(sum1);
    const extra = accepted2032K1(sum1).filter((k) => k !== classic);
    const expected =
      classic === null
        ? `one of ${extra.join(', ')} (only possible for numbers issued from 2032)`
        : `${classic} (or ${extra.join(', ')} for numbers issued from 2032)`;
    return fail('check-digit-1', `check digit 1 (digit 10) is wrong: expected ${expected}, got ${d[9]} — ${TYPO_HINT}`);
  }
  const k2 = mod11CheckDigit(weightedSum(d, W2));
  if (k2 === null) {
    return fail('check-digit-2', `check digit 2 (digit 11) cannot be valid for these first ten digits (it would be 10) — ${TYPO_HINT}`);
  }
  if (k2 !== d[10]) {
    return fail('check-digit-2', `check digit 2 (digit 11) is wrong: expected ${k2}, got ${d[10]} — ${TYPO_HINT}`);
  }

  // Kind from the modified date digits.
  let day = d[0] * 10 + d[1];
  let month = d[2] * 10 + d[3];
  const yy = d[4] * 10 + d[5];
  const isD = day >= 41 && day <= 71;
  if (isD) day -= 40;
  let kind: NinKind;
  if (month >= 81 && month <= 92) {
    kind = isD ? 'synthetic-dnr' : 'synthetic-fnr';
    month -= 80;
  } else if (month >= 41 && month <= 52) {
    // An H-number, on a fødselsnummer or (day + 40) on a D-number — or a test number with the
    // same digits; the identifier system it is sent under tells which (testNumberKind).
    kind = 'hnr';
    month -= 40;
  } else if (month >= 1 && month <= 12) {
    kind = isD ? 'dnr' : 'fnr';
  } else {
    return fail(
      'invalid-date',
      `the month digits "${nin.slice(2, 4)}" are not a month (01-12, or +40 for H-numbers and test numbers, +80 for synthetic test numbers) — ${DATE_HINT}`,
    );
  }
  if (day < 1 || day > 31) {
    return fail(
      'invalid-date',
      `the day digits "${nin.slice(0, 2)}" are not a day (01-31, or +40 for D-numbers; FH-numbers start with 8 or 9) — ${DATE_HINT}`,
    );
  }
  const onD = kind === 'hnr' && isD ? { onDNumber: true as const } : {};

  const today = osloToday(opts.today ?? new Date());
  const individual = d[6] * 100 + d[7] * 10 + d[8];
  const century = rest1 === 0 ? classicCentury(individual, yy) : null;

  if (century !== null) {
    const year = century + yy;
    const date = isoDate(year, month, day);
    let problem: NinParseResult | null = null;
    if (!isRealDate(year, month, day)) {
      problem = fail('invalid-date', `the birth date ${date} does not exist — ${DATE_HINT}`);
    } else if (date > today) {
      problem = fail(
        'future-birth-date',
        `the birth date ${date} is in the future — check the year (digits 5-6) and the individual number (digits 7-9), which together give the century`,
      );
    }
    if (problem === null) {
      return { ok: true, nin, kind, birthDate: date, sex: d[8] % 2 === 1 ? 'male' : 'female', rule2032: false, ...onD };
    }
    // From 2032 the individual number no longer gives the century, so a
    // classic-looking number may belong to someone from another century.
    if (today < RULE_2032_START || !plausibleUnknownCentury(yy, month, day, today)) return problem;
    return { ok: true, nin, kind, birthDate: null, sex: null, rule2032: true, ...onD };
  }

  // 2032 rule: century unknown; the date must exist in 19YY or 20YY, not in the future.
  if (!plausibleUnknownCentury(yy, month, day, today)) {
    const exists = isRealDate(1900 + yy, month, day) || isRealDate(2000 + yy, month, day);
    return exists
      ? fail('future-birth-date', `the birth date ${pad2(day)}.${pad2(month)}.${pad2(yy)} is in the future — ${DATE_HINT}`)
      : fail('invalid-date', `the birth date ${pad2(day)}.${pad2(month)}.${pad2(yy)} does not exist in any century — ${DATE_HINT}`);
  }
  return { ok: true, nin, kind, birthDate: null, sex: null, rule2032: true, ...onD };
}

/**
 * An FH-number: the first digit 8 or 9, the classic check digits (see the module comment), and
 * nothing derived — no birth date, no sex, no century.
 */
function parseFhNumber(nin: string, d: number[]): NinParseResult {
  const k1 = mod11CheckDigit(weightedSum(d, W1));
  if (k1 === null)
    return fail(
      'check-digit-1',
      `check digit 1 (digit 10) cannot be valid for these first nine digits of an FH-number (it would be 10) — ${TYPO_HINT}`,
    );
  if (k1 !== d[9])
    return fail(
      'check-digit-1',
      `check digit 1 (digit 10) is wrong: expected ${k1}, got ${d[9]} (an FH-number starts with 8 or 9 and has the classic check digits) — ${TYPO_HINT}`,
    );
  const k2 = mod11CheckDigit(weightedSum(d, W2));
  if (k2 === null)
    return fail('check-digit-2', `check digit 2 (digit 11) cannot be valid for these first ten digits (it would be 10) — ${TYPO_HINT}`);
  if (k2 !== d[10]) return fail('check-digit-2', `check digit 2 (digit 11) is wrong: expected ${k2}, got ${d[10]} — ${TYPO_HINT}`);
  return { ok: true, nin, kind: 'fhn', birthDate: null, sex: null, rule2032: false };
}

/**
 * The kind of a number sent under the fødselsnummer or D-number identifier system when its digits
 * say H-number (month + 40): a test number of that system (e.g. NAV's Dolly numbers), never a
 * real person's — a real H-number is sent as one (capture/identity.ts). Null when the digits do
 * not fit the system at all.
 */
export function testNumberKind(parsed: Extract<NinParseResult, { ok: true }>, system: 'fnr' | 'dnr'): NinKind | null {
  if (parsed.kind !== 'hnr') return null;
  if (system === 'dnr') return parsed.onDNumber ? 'synthetic-dnr' : null;
  return parsed.onDNumber ? null : 'synthetic-fnr';
}

/** A test number (synthetic, or month + 40 under the fnr/D-number system): never a real person. */
export function isTestKind(kind: string): boolean {
  return kind === 'synthetic-fnr' || kind === 'synthetic-dnr';
}

/** True when DD.MM.YY is a real, not-future date in 19YY or 20YY (living people of unknown century). */
function plausibleUnknownCentury(yy: number, month: number, day: number, today: string): boolean {
  return [1900, 2000].some((c) => isRealDate(c + yy, month, day) && isoDate(c + yy, month, day) <= today);
}

/** True when `s` is a valid NIN (any kind, either check-digit rule). */
export function isValidNin(s: string, opts: { today?: Date } = {}): boolean {
  return parseNin(s, opts).ok;
}

/** Individual-number series per century (classic table; we never generate the 900-999 reserve for 1940-1999). */
function individualRange(year: number): [number, number] | null {
  if (year >= 1854 && year <= 1899) return [500, 749];
  if (year >= 1900 && year <= 1999) return [0, 499];
  if (year >= 2000 && year <= 2039) return [500, 999];
  return null;
}

/**
 * Generates a valid number (classic check-digit rule, so sex and birth date
 * round-trip through parseNin) for demo data and tests. The default kind is
 * 'synthetic-fnr' so demo data can never be mistaken for a real person.
 * `random` returns numbers in [0, 1) like Math.random; pass a seeded PRNG for
 * reproducible data. Does not check that the birth date is in the past.
 */
export function generateNin(opts: {
  birthDate: string;
  sex: 'male' | 'female';
  kind?: Exclude<NinKind, 'fhn'>;
  /** For 'hnr': an H-number on a D-number (day + 40 as well). */
  onDNumber?: boolean;
  random: () => number;
}): string {
  const { birthDate, sex, random } = opts;
  const kind = opts.kind ?? 'synthetic-fnr';
  if ((kind as string) === 'fhn') throw new Error('generateNin: FH-numbers carry no birth date or sex; use generateFhNumber');
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthDate);
  if (!m || !isRealDate(Number(m[1]), Number(m[2]), Number(m[3]))) {
    throw new Error(`generateNin: birthDate must be a real date as YYYY-MM-DD, got "${birthDate}"`);
  }
  const year = Number(m[1]);
  const range = individualRange(year);
  if (!range) throw new Error(`generateNin: birth year ${year} is outside 1854-2039, which the classic individual-number table covers`);

  const dayOffset = kind === 'dnr' || kind === 'synthetic-dnr' || (kind === 'hnr' && opts.onDNumber) ? 40 : 0;
  const monthOffset = kind === 'hnr' ? 40 : kind.startsWith('synthetic') ? 80 : 0;
  const datePart = pad2(Number(m[3]) + dayOffset) + pad2(Number(m[2]) + monthOffset) + m[1].slice(2);

  // Candidates: individual numbers in the century's series with the right parity (digit 9: odd = male).
  const parity = sex === 'male' ? 1 : 0;
  const candidates: number[] = [];
  for (let i = range[0]; i <= range[1]; i++) if (i % 2 === parity) candidates.push(i);

  // Random start, then walk on: some individual numbers give a check digit of
  // 10 and must be skipped, so loop until one works (about 5 in 6 do).
  const start = Math.min(candidates.length - 1, Math.floor(random() * candidates.length));
  for (let n = 0; n < candidates.length; n++) {
    const individual = String(candidates[(start + n) % candidates.length]).padStart(3, '0');
    const first9 = [...(datePart + individual)].map(Number);
    const k = classicCheckDigits(first9);
    if (k) return datePart + individual + k[0] + k[1];
  }
  throw new Error(`generateNin: no valid individual number exists for ${birthDate} (${sex})`);
}

/**
 * A valid FH-number (first digit 8 or 9, eight random digits, classic check digits), for tests and
 * demo data. `random` returns numbers in [0, 1) like Math.random.
 */
export function generateFhNumber(random: () => number): string {
  const digit = () => Math.min(9, Math.floor(random() * 10));
  for (;;) {
    const first9 = [random() < 0.5 ? 8 : 9, ...Array.from({ length: 8 }, digit)];
    const k = classicCheckDigits(first9);
    if (k) return [...first9, ...k].join('');
  }
}

/**
 * Auxiliary identity for patients of unknown identity (e.g. an unconscious trauma patient)
 * when not even an H-number is available from the source
 * system. Format: "AUX-" + 16 lowercase hex characters (64 random bits).
 *
 * It can never collide with a real NIN: it contains letters and a dash and is
 * 20 characters long, while every NIN kind is exactly 11 digits, and parseNin
 * rejects it explicitly. Collisions between auxiliary numbers are negligible
 * at registry scale (birthday bound ~2^32), but storage should still enforce
 * uniqueness. `random` (in [0, 1)) makes demo data reproducible; by default a
 * cryptographic source is used because the value must not be guessable.
 */
export function auxiliaryNumber(opts: { random?: () => number } = {}): string {
  let hex = '';
  if (opts.random) {
    const r = opts.random;
    for (let i = 0; i < 16; i++) hex += Math.min(15, Math.floor(r() * 16)).toString(16);
  } else {
    hex = randomBytes(8).toString('hex');
  }
  return `AUX-${hex}`;
}

/** True for strings in the exact auxiliary-number format ("AUX-" + 16 lowercase hex). */
export function isAuxiliaryNumber(s: string): boolean {
  return /^AUX-[0-9a-f]{16}$/.test(s);
}
