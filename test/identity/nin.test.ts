import { describe, it, expect } from 'vitest';
import { auxiliaryNumber, generateNin, isAuxiliaryNumber, isValidNin, parseNin, type NinKind } from '../../src/identity/nin.ts';

// Independent re-implementation of the check-digit arithmetic, so the tests
// construct their inputs without trusting the module under test.
const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
const wsum = (s: string, w: number[]): number => w.reduce((acc, wi, i) => acc + wi * Number(s[i]), 0);
const mod11 = (sum: number): number => (11 - (sum % 11)) % 11; // 10 = unusable

/** Appends classic check digits, or returns null when one would be 10. */
function classic(first9: string): string | null {
  const k1 = mod11(wsum(first9, W1));
  if (k1 === 10) return null;
  const k2 = mod11(wsum(first9 + k1, W2));
  return k2 === 10 ? null : first9 + k1 + k2;
}

/** Appends a k1 with (sum1 + k1) mod 11 === rest (2032 rule) and the classic k2, or null. */
function rule2032(first9: string, rest: number): string | null {
  const k1 = (((rest - wsum(first9, W1)) % 11) + 11) % 11;
  if (k1 === 10) return null;
  const k2 = mod11(wsum(first9 + k1, W2));
  return k2 === 10 ? null : first9 + k1 + k2;
}

/** First valid classic number for a date part, scanning individual numbers from `from` to `to`. */
function findClassic(datePart: string, from: number, to = from + 99): string {
  for (let i = from; i <= to; i++) {
    const n = classic(datePart + String(i).padStart(3, '0'));
    if (n) return n;
  }
  throw new Error(`no valid number for ${datePart} ${from}-${to}`);
}

function find2032(datePart: string, from: number, rest: number): string {
  for (let i = from; i < from + 100; i++) {
    const n = rule2032(datePart + String(i).padStart(3, '0'), rest);
    if (n) return n;
  }
  throw new Error(`no 2032 number for ${datePart}`);
}

const TODAY = { today: new Date('2025-06-15T12:00:00Z') };

function ok(input: string, opts = TODAY) {
  const r = parseNin(input, opts);
  if (!r.ok) throw new Error(`expected ${input} to be valid, got ${r.code}: ${r.message}`);
  return r;
}
function err(input: string, opts = TODAY) {
  const r = parseNin(input, opts);
  if (r.ok) throw new Error(`expected ${input} to be invalid, got ${JSON.stringify(r)}`);
  return r;
}

describe('parseNin: published examples', () => {
  it('accepts the matematikk.org example 020161 26007 (woman born 1961-01-02)', () => {
    expect(ok('02016126007')).toEqual({
      ok: true,
      nin: '02016126007',
      kind: 'fnr',
      birthDate: '1961-01-02',
      sex: 'female',
      rule2032: false,
    });
  });

  it('handles the Skatteetaten 2032 examples', () => {
    // Classic check digits, individual number 999 with year 82 -> 1982.
    expect(ok('30108299920')).toMatchObject({ birthDate: '1982-10-30', sex: 'male', rule2032: false });
    // Second number for the same date, k1 from remainder 1: only valid under the 2032 rule.
    expect(ok('30108299939')).toEqual({ ok: true, nin: '30108299939', kind: 'fnr', birthDate: null, sex: null, rule2032: true });
    // Child born 2032-01-02: in the future today, valid once born.
    expect(err('02013299997').code).toBe('future-birth-date');
    expect(ok('02013299997', { today: new Date('2032-06-01') })).toMatchObject({ birthDate: '2032-01-02', rule2032: false });
  });
});

describe('parseNin: input formats', () => {
  it('normalises whitespace and a single space/dash grouping', () => {
    for (const s of ['020161 26007', '020161-26007', '  02016126007\t', '020161 - 26007', '020161\u00a026007']) {
      expect(ok(s).nin).toBe('02016126007');
    }
  });

  it('rejects wrong length, non-digits, odd grouping and empty input with helpful messages', () => {
    expect(err('0201612600')).toMatchObject({ code: 'invalid-length' });
    expect(err('0201612600').message).toMatch(/11 digits, but 10/);
    expect(err('020161260071').code).toBe('invalid-length');
    const chars = err('02016126O07');
    expect(chars.code).toBe('invalid-characters');
    expect(chars.message).toContain('"O"');
    expect(err('0201 6126007').code).toBe('invalid-format');
    expect(err('020161--26007').code).toBe('invalid-format');
    expect(err('').code).toBe('empty');
    expect(err('   ').code).toBe('empty');
  });
});

describe('parseNin: check digits', () => {
  const valid = '02016126007';

  it('reports a wrong check digit 2 with the expected value', () => {
    const r = err('02016126008');
    expect(r.code).toBe('check-digit-2');
    expect(r.message).toBe('check digit 2 (digit 11) is wrong: expected 7, got 8 — check the number for typing errors');
  });

  it('reports a wrong check digit 1 with the classic and 2032 alternatives', () => {
    // sum1 of 020161260 is 110 = 0 mod 11: accepted k1 are 0 (classic) and 1, 2, 3 (2032).
    const r = err('02016126047');
    expect(r.code).toBe('check-digit-1');
    expect(r.message).toContain('expected 0 (or 1, 2, 3 for numbers issued from 2032), got 4');
  });

  it('explains when no check digit 2 can be valid', () => {
    // Find ten leading digits whose classic k2 would be 10.
    let found: string | null = null;
    for (let i = 0; i < 1000 && !found; i++) {
      const first9 = '010180' + String(i).padStart(3, '0');
      const k1 = mod11(wsum(first9, W1));
      if (k1 !== 10 && mod11(wsum(first9 + k1, W2)) === 10) found = first9 + k1 + '0';
    }
    expect(found).not.toBeNull();
    const r = err(found!);
    expect(r.code).toBe('check-digit-2');
    expect(r.message).toMatch(/cannot be valid/);
  });

  it('rejects every single-digit typo in a valid number', () => {
    for (const base of [valid, '30108299939']) {
      for (let pos = 0; pos < 11; pos++) {
        for (let dgt = 0; dgt <= 9; dgt++) {
          if (String(dgt) === base[pos]) continue;
          const typo = base.slice(0, pos) + dgt + base.slice(pos + 1);
          expect(isValidNin(typo, TODAY), typo).toBe(false);
        }
      }
    }
  });
});

describe('parseNin: kinds', () => {
  it('recognises D-numbers (day + 40)', () => {
    const n = findClassic('420161', 260);
    expect(ok(n)).toMatchObject({ kind: 'dnr', birthDate: '1961-01-02', rule2032: false });
    expect(ok(findClassic('710199', 100))).toMatchObject({ kind: 'dnr', birthDate: '1999-01-31' });
  });

  it('recognises H-numbers (month + 40), deriving date and sex by convention', () => {
    const n = findClassic('024161', 260);
    const r = ok(n);
    expect(r).toMatchObject({ kind: 'hnr', birthDate: '1961-01-02' });
    expect(r.sex).toBe(Number(n[8]) % 2 ? 'male' : 'female');
    expect(ok(findClassic('155285', 0))).toMatchObject({ kind: 'hnr', birthDate: '1985-12-15' });
  });

  it('recognises synthetic test numbers (month + 80) and synthetic D-numbers', () => {
    expect(ok(findClassic('028161', 260))).toMatchObject({ kind: 'synthetic-fnr', birthDate: '1961-01-02' });
    expect(ok(findClassic('319212', 600))).toMatchObject({ kind: 'synthetic-fnr', birthDate: '2012-12-31' });
    expect(ok(findClassic('428161', 260))).toMatchObject({ kind: 'synthetic-dnr', birthDate: '1961-01-02' });
  });

  it('rejects impossible day/month codes', () => {
    expect(err(findClassic('011361', 100)).code).toBe('invalid-date'); // month 13
    expect(err(findClassic('010061', 100)).code).toBe('invalid-date'); // month 00
    expect(err(findClassic('016161', 100)).code).toBe('invalid-date'); // month 61: no such kind
    expect(err(findClassic('000161', 100)).code).toBe('invalid-date'); // day 00
    expect(err(findClassic('320161', 100)).code).toBe('invalid-date'); // day 32
    expect(err(findClassic('720161', 100)).code).toBe('invalid-date'); // D-number day 32
    expect(err(findClassic('012561', 100)).message).toMatch(/\+40 for H-numbers and test numbers, \+80 for synthetic test numbers/);
  });
});

describe('parseNin: dates and centuries', () => {
  it('rejects 31 April', () => {
    const r = err(findClassic('310490', 100));
    expect(r.code).toBe('invalid-date');
    expect(r.message).toContain('1990-04-31 does not exist');
  });

  it('applies leap years: 29 Feb 2000 and 2024 exist, 1900 and 2023 do not', () => {
    expect(ok(findClassic('290200', 500)).birthDate).toBe('2000-02-29');
    expect(err(findClassic('290200', 100)).code).toBe('invalid-date'); // 1900 is not a leap year
    expect(ok(findClassic('290224', 500)).birthDate).toBe('2024-02-29');
    expect(err(findClassic('290223', 500)).code).toBe('invalid-date');
    expect(ok(findClassic('290296', 100)).birthDate).toBe('1996-02-29');
    expect(err(findClassic('300296', 100)).code).toBe('invalid-date');
  });

  it('derives the century from the individual number', () => {
    expect(ok(findClassic('150560', 0)).birthDate).toBe('1960-05-15'); // 000-499
    expect(ok(findClassic('150560', 400)).birthDate).toBe('1960-05-15');
    expect(ok(findClassic('150505', 200)).birthDate).toBe('1905-05-15');
    expect(ok(findClassic('150560', 900)).birthDate).toBe('1960-05-15'); // 900-999 with 40-99
    expect(ok(findClassic('150560', 500)).birthDate).toBe('1860-05-15'); // 500-749 with 54-99
    expect(ok(findClassic('150580', 500, 749)).birthDate).toBe('1880-05-15'); // 500-749 with 54-99
    expect(ok(findClassic('150554', 600, 749)).birthDate).toBe('1854-05-15');
    expect(ok(findClassic('150505', 500)).birthDate).toBe('2005-05-15'); // 500-999 with 00-39
    expect(ok(findClassic('150505', 900)).birthDate).toBe('2005-05-15');
  });

  it('treats individual numbers that map to no classic century as 2032-rule numbers', () => {
    // 750-899 with year 40-99 and 500-749 with year 40-53 were never issued under the classic table.
    expect(ok(findClassic('150570', 800))).toMatchObject({ birthDate: null, sex: null, rule2032: true });
    expect(ok(findClassic('150545', 600))).toMatchObject({ birthDate: null, sex: null, rule2032: true });
  });

  it('rejects a future birth date', () => {
    const n = findClassic('010126', 500); // 2026-01-01
    const r = err(n);
    expect(r.code).toBe('future-birth-date');
    expect(r.message).toContain('2026-01-01 is in the future');
    expect(ok(n, { today: new Date('2026-01-01T12:00:00Z') }).birthDate).toBe('2026-01-01');
    expect(ok(findClassic('150625', 500)).birthDate).toBe('2025-06-15'); // today itself is fine
    expect(err(findClassic('160625', 500)).code).toBe('future-birth-date');
  });

  it('judges "today" in Norwegian time', () => {
    // 22:30 UTC on 14 June is 00:30 on 15 June in Oslo (summer time).
    const lateEvening = { today: new Date('2025-06-14T22:30:00Z') };
    expect(ok(findClassic('150625', 500), lateEvening).birthDate).toBe('2025-06-15');
  });

  it('from 2032 on, re-reads a classic number with a future century as a 2032 number', () => {
    const n = findClassic('010135', 900); // classic: 2035-01-01
    expect(err(n).code).toBe('future-birth-date');
    expect(ok(n, { today: new Date('2033-01-01') })).toMatchObject({ birthDate: null, sex: null, rule2032: true });
  });
});

describe('parseNin: 2032 rule', () => {
  it('accepts k1 with remainder 1, 2 or 3, without sex or birth date', () => {
    for (const datePart of ['010190', '311299', '150505', '290200', '420161', '028161']) {
      for (const rest of [1, 2, 3]) {
        const n = find2032(datePart, 100, rest);
        const classicK1 = mod11(wsum(n.slice(0, 9), W1));
        expect(Number(n[9])).not.toBe(classicK1);
        expect(ok(n)).toMatchObject({ nin: n, birthDate: null, sex: null, rule2032: true });
      }
    }
  });

  it('keeps the kind for 2032-rule D-numbers and synthetic numbers', () => {
    expect(ok(find2032('420161', 100, 2)).kind).toBe('dnr');
    expect(ok(find2032('428161', 100, 3)).kind).toBe('synthetic-dnr');
  });

  it('rejects remainders 4 to 10', () => {
    for (const rest of [4, 5, 6, 7, 8, 9, 10]) {
      const n = rule2032('010190123', rest) ?? rule2032('010190125', rest);
      if (n) expect(err(n).code).toBe('check-digit-1');
    }
  });

  it('still requires a real date in some century', () => {
    expect(err(find2032('310490', 100, 1)).code).toBe('invalid-date');
    expect(err(find2032('290223', 100, 2)).code).toBe('invalid-date');
    // 29.02.00 exists in 2000, so it is accepted although 1900 was not a leap year.
    expect(ok(find2032('290200', 100, 3)).rule2032).toBe(true);
  });
});

describe('generateNin', () => {
  // Small seeded PRNG (mulberry32) so failures are reproducible.
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const kinds: Array<Exclude<NinKind, 'fhn'>> = ['fnr', 'dnr', 'hnr', 'synthetic-fnr', 'synthetic-dnr'];

  it('round-trips through parseNin for many random dates, sexes and kinds', () => {
    const random = prng(42);
    const from = Date.UTC(1854, 0, 1);
    const to = Date.UTC(2025, 5, 15);
    for (let i = 0; i < 2000; i++) {
      const birthDate = new Date(from + Math.floor(random() * (to - from))).toISOString().slice(0, 10);
      const sex = random() < 0.5 ? 'male' : 'female';
      const kind = kinds[Math.floor(random() * kinds.length)];
      const nin = generateNin({ birthDate, sex, kind, random });
      expect(nin).toMatch(/^\d{11}$/);
      expect(parseNin(nin, TODAY), `${nin} ${birthDate} ${sex} ${kind}`).toEqual({ ok: true, nin, kind, birthDate, sex, rule2032: false });
    }
  });

  it('covers edge dates', () => {
    const random = prng(7);
    for (const birthDate of ['1854-01-01', '1899-12-31', '1900-01-01', '1999-12-31', '2000-01-01', '2000-02-29', '2024-02-29']) {
      for (const sex of ['male', 'female'] as const) {
        const nin = generateNin({ birthDate, sex, kind: 'fnr', random });
        expect(ok(nin)).toMatchObject({ birthDate, sex });
      }
    }
  });

  it('defaults to synthetic numbers', () => {
    const nin = generateNin({ birthDate: '1980-05-17', sex: 'female', random: prng(1) });
    expect(ok(nin).kind).toBe('synthetic-fnr');
    expect(nin.slice(2, 4)).toBe('85');
  });

  it('works with a random source that returns extreme values', () => {
    expect(isValidNin(generateNin({ birthDate: '1980-05-17', sex: 'male', random: () => 0 }), TODAY)).toBe(true);
    expect(isValidNin(generateNin({ birthDate: '1980-05-17', sex: 'male', random: () => 0.9999999999 }), TODAY)).toBe(true);
  });

  it('rejects impossible input', () => {
    expect(() => generateNin({ birthDate: '2023-02-29', sex: 'male', random: Math.random })).toThrow(/real date/);
    expect(() => generateNin({ birthDate: '17.05.1980', sex: 'male', random: Math.random })).toThrow(/YYYY-MM-DD/);
    expect(() => generateNin({ birthDate: '1850-01-01', sex: 'male', random: Math.random })).toThrow(/1854-2039/);
    expect(() => generateNin({ birthDate: '2040-01-01', sex: 'male', random: Math.random })).toThrow(/1854-2039/);
  });
});

describe('auxiliary numbers', () => {
  it('have the AUX- format and are recognised', () => {
    const a = auxiliaryNumber();
    expect(a).toMatch(/^AUX-[0-9a-f]{16}$/);
    expect(isAuxiliaryNumber(a)).toBe(true);
    expect(auxiliaryNumber()).not.toBe(a);
  });

  it('are reproducible with an injected random source', () => {
    expect(auxiliaryNumber({ random: () => 0.5 })).toBe('AUX-8888888888888888');
    expect(auxiliaryNumber({ random: () => 0.9999999 })).toBe('AUX-ffffffffffffffff');
  });

  it('can never be taken for a national identity number', () => {
    const a = auxiliaryNumber();
    const r = err(a);
    expect(r.code).toBe('auxiliary-number');
    expect(isAuxiliaryNumber('02016126007')).toBe(false);
    expect(isAuxiliaryNumber('AUX-0123')).toBe(false);
    expect(isAuxiliaryNumber('AUX-0123456789ABCDEF')).toBe(false);
  });
});

// Issue 11, identity numbers. Sources of the rules and reference values:
// - FH-numbers: Norsk Helsenett, "Hva er felles hjelpenummer?" (https://nhn.no/hva-er-felles-hjelpenummer/):
//   eleven digits, "med to kontrollsiffer, som i ordinære fødselsnummer, men med første siffer 8
//   eller 9. De resterende sifrene skal være et tilfeldig valgt nummer, og er ikke meningsbærende."
//   The stored public material gives no check-digit weights of their own for FH-numbers; the
//   registries' own R package checks them with the fødselsnummer weights and gives the example
//   88888888831 (Rapporteket/rapwhale, R/fodselsnummer-funksjoner.R, `er_gyldig_fh_nummer`).
// - H-numbers on D-numbers and test numbers with month + 40: test-data systems hand out
//   fødselsnumre and D-numbers with 40 added to the month (NAV's Dolly; noted in navikt's and
//   bekkopen/NoCommons' validators), the same digits as H-numbers (KITH-rapport 11/98 / HIS
//   1001:2010: the H-number adds 4 to the third digit, "som fødselsnummeret" otherwise).
describe('parseNin: felles hjelpenummer (FH-numbers)', () => {
  /** Classic check digits on eight random digits after an 8 or a 9, computed here, not by the module. */
  function fh(first: '8' | '9', rest8: string): string | null {
    return classic(first + rest8);
  }
  /** The first FH-number from `from` on (some eight-digit tails give a check digit of 10). */
  function findFh(first: '8' | '9', from: number): string {
    for (let i = from; ; i++) {
      const n = fh(first, String(i).padStart(8, '0'));
      if (n) return n;
    }
  }

  it('accepts the published example 88888888831, deriving no birth date and no sex', () => {
    expect(ok('88888888831')).toEqual({ ok: true, nin: '88888888831', kind: 'fhn', birthDate: null, sex: null, rule2032: false });
  });

  it('accepts FH-numbers starting with 8 or 9 whatever their other digits (they mean nothing)', () => {
    let n = 0;
    for (let i = 0; i < 400; i++) {
      const rest = String((i * 7919 + 12345) % 100_000_000).padStart(8, '0');
      for (const first of ['8', '9'] as const) {
        const number = fh(first, rest);
        if (!number) continue;
        expect(ok(number)).toMatchObject({ kind: 'fhn', birthDate: null, sex: null });
        n++;
      }
    }
    expect(n).toBeGreaterThan(600);
  });

  it('refuses wrong check digits with the expected digit, and only the classic rule', () => {
    const number = findFh('9', 12345678);
    const wrong2 = number.slice(0, 10) + ((Number(number[10]) + 1) % 10);
    expect(err(wrong2)).toMatchObject({ code: 'check-digit-2' });
    expect(err(wrong2).message).toContain(`expected ${number[10]}`);
    // The 2032 rule's extra check digits 1 are for fødselsnumre and D-numbers, not FH-numbers.
    const first9 = number.slice(0, 9);
    const k1 = (Number(number[9]) + 1) % 10;
    const lenient = first9 + k1 + mod11(wsum(first9 + k1, W2));
    expect(err(lenient)).toMatchObject({ code: 'check-digit-1' });
    expect(err(lenient).message).toMatch(/FH-number starts with 8 or 9 and has the classic check digits/);
  });

  it('catches every single-digit typo after the first digit, and an 8 typed for a 9', () => {
    const number = findFh('8', 40517733);
    for (let pos = 1; pos < 11; pos++) {
      for (let dgt = 0; dgt <= 9; dgt++) {
        if (String(dgt) === number[pos]) continue;
        expect(isValidNin(number.slice(0, pos) + dgt + number.slice(pos + 1), TODAY)).toBe(false);
      }
    }
    expect(isValidNin('9' + number.slice(1), TODAY)).toBe(false);
  });

  it('generates FH-numbers that parse as such', async () => {
    const { generateFhNumber } = await import('../../src/identity/nin.ts');
    let s = 3;
    const random = () => {
      s = (s * 48271) % 2147483647;
      return s / 2147483647;
    };
    for (let i = 0; i < 200; i++) {
      const number = generateFhNumber(random);
      expect(number).toMatch(/^[89]\d{10}$/);
      expect(ok(number).kind).toBe('fhn');
    }
    expect(() => generateNin({ birthDate: '1980-01-01', sex: 'male', kind: 'fhn' as never, random })).toThrow(/generateFhNumber/);
  });
});

describe('parseNin: H-numbers on D-numbers, and the month + 40 test numbers', () => {
  it('accepts an H-number on a D-number (day + 40 and month + 40), deriving date and sex by convention', () => {
    const n = findClassic('424161', 260);
    expect(ok(n)).toEqual({
      ok: true,
      nin: n,
      kind: 'hnr',
      birthDate: '1961-01-02',
      sex: Number(n[8]) % 2 ? 'male' : 'female',
      rule2032: false,
      onDNumber: true,
    });
  });

  it('generates H-numbers on D-numbers', () => {
    let s = 11;
    const random = () => {
      s = (s * 48271) % 2147483647;
      return s / 2147483647;
    };
    const generated = generateNin({ birthDate: '1977-11-30', sex: 'female', kind: 'hnr', onDNumber: true, random });
    expect(generated.slice(0, 4)).toBe('7051');
    expect(ok(generated)).toMatchObject({ kind: 'hnr', onDNumber: true, birthDate: '1977-11-30', sex: 'female' });
  });

  it('reads month + 40 as a test number of the system it is sent under, never of the other', async () => {
    const { testNumberKind } = await import('../../src/identity/nin.ts');
    const h = ok(findClassic('154576', 100)),
      dh = ok(findClassic('555076', 100));
    expect(testNumberKind(h, 'fnr')).toBe('synthetic-fnr');
    expect(testNumberKind(h, 'dnr')).toBeNull();
    expect(testNumberKind(dh, 'dnr')).toBe('synthetic-dnr');
    expect(testNumberKind(dh, 'fnr')).toBeNull();
    expect(testNumberKind(ok('02016126007'), 'fnr')).toBeNull();
  });
});
