// Identity numbers inside arbitrary text: free text in a captured resource, a log line, a URL.
// One scanner, so that what the reservation look-up finds in a message (capture/identity.ts),
// what is taken out of stored free text (capture/bundle.ts) and what is taken out of logs
// (log/redact.ts) are the same numbers.
import { isAuxiliaryNumber, parseNin } from './nin.ts';

/**
 * Eleven digits, optionally grouped DDMMYY NNNNN by a space, a non-breaking space, a dash, or their
 * URL encodings ('+', %20, %2D): how a number is written in a note, and how it arrives in a URL.
 * Only digits may not touch it (letters may: "pnr:01019012345", "%7C01019012345" after a "|").
 */
const CANDIDATE = /(?<!\d)(\d{6})(?:[ \u00a0+-]|%20|%2[dD])?(\d{5})(?!\d)/g;
const AUXILIARY = /AUX-[0-9a-f]{16}/g;

export interface FoundNumber {
  /** The number as the scanner normalised it: 11 digits, or an auxiliary number. */
  value: string;
  index: number;
  length: number;
}

/** Every valid national identity number (any kind, either check-digit rule) and auxiliary number in `text`. */
export function identityNumbersIn(text: string): FoundNumber[] {
  const found: FoundNumber[] = [];
  for (const m of text.matchAll(AUXILIARY)) if (isAuxiliaryNumber(m[0])) found.push({ value: m[0], index: m.index!, length: m[0].length });
  for (const m of text.matchAll(CANDIDATE)) {
    const parsed = parseNin(m[1] + m[2]);
    if (parsed.ok) found.push({ value: parsed.nin, index: m.index!, length: m[0].length });
  }
  return found.sort((a, b) => a.index - b.index);
}

export const IDENTITY_MARKER = '[redacted: identity number]';

/** `text` with every identity number replaced by `marker`, and how many there were. */
export function redactIdentityNumbers(text: string, marker = IDENTITY_MARKER): { text: string; count: number } {
  // Cheap exit: most strings (and log lines) have no run of six digits at all.
  if (!/\d{6}|AUX-/.test(text)) return { text, count: 0 };
  const found = identityNumbersIn(text);
  if (!found.length) return { text, count: 0 };
  let out = '';
  let at = 0;
  let count = 0;
  for (const f of found) {
    if (f.index < at) continue; // overlaps one already replaced
    out += text.slice(at, f.index) + marker;
    at = f.index + f.length;
    count++;
  }
  return { text: out + text.slice(at), count };
}
