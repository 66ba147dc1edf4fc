// Identity numbers for tests, made here from the published rules rather than by the module under
// test: the fødselsnummer's modulo-11 check digits (weights 3 7 6 1 8 9 4 5 2 and 5 4 3 2 7 6 5 4 3
// 2; Skatteetaten / ehelse.no "Identifikatorer for personer"), D-numbers (day + 40), H-numbers
// (month + 40), synthetic test numbers (month + 80), and felles hjelpenummer (Norsk Helsenett,
// https://nhn.no/hva-er-felles-hjelpenummer/: eleven digits, the first 8 or 9, the rest random,
// "to kontrollsiffer, som i ordinære fødselsnummer"). None is taken from a person.
const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
const check = (digits: string, w: number[]) => (11 - (w.reduce((s, wi, i) => s + wi * Number(digits[i]), 0) % 11)) % 11;

/** The nine digits with their two check digits, or null when either would be 10. */
export function withCheckDigits(first9: string): string | null {
  const k1 = check(first9, W1);
  if (k1 === 10) return null;
  const k2 = check(first9 + k1, W2);
  return k2 === 10 ? null : `${first9}${k1}${k2}`;
}

/** A seeded source of numbers in [0, 1). */
export function seeded(seed: number): () => number {
  let s = seed % 2147483647 || 1;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

/** An FH-number: 8 or 9, eight random digits, the check digits. */
export function fhNumber(random: () => number): string {
  for (;;) {
    const first9 = (random() < 0.5 ? '8' : '9') + Array.from({ length: 8 }, () => Math.min(9, Math.floor(random() * 10))).join('');
    const n = withCheckDigits(first9);
    if (n) return n;
  }
}

/**
 * A date-bearing number for a birth date in 1900-1999 (individual numbers 000-499, digit 9 odd for
 * men): `day` and `month` are added to the date digits (D-number: day + 40; H-number or +40 test
 * number: month + 40; synthetic: month + 80).
 */
export function dated(birthDate: string, sex: 'male' | 'female', random: () => number, add: { day?: number; month?: number } = {}): string {
  const [y, m, d] = birthDate.split('-').map(Number);
  if (y < 1900 || y > 1999) throw new Error('dated: a birth year in 1900-1999');
  const date =
    String(d + (add.day ?? 0)).padStart(2, '0') + String(m + (add.month ?? 0)).padStart(2, '0') + String(y % 100).padStart(2, '0');
  for (let start = Math.floor(random() * 250), i = 0; i < 250; i++) {
    const individual = ((start + i) % 250) * 2 + (sex === 'male' ? 1 : 0);
    const n = withCheckDigits(date + String(individual).padStart(3, '0'));
    if (n) return n;
  }
  throw new Error(`dated: no number for ${birthDate}`);
}
