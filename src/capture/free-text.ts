// Free text in a captured resource (a Condition.note, a display, a comment) may name the patient:
// their identity number, or their name. The stored resource must hold neither — the number is kept
// only encrypted and the name not at all (decision 7) — so both are replaced by a marker before
// the resource is stored, and the redaction is recorded in the resource's meta (how many, never
// what). The raw message keeps the text, encrypted, like everything else it holds.
//
// What is caught: every valid national identity number (fødselsnummer, D-, H-, FH- and synthetic
// numbers, either check-digit rule; written as 11 digits, or 6 + 5 with a space or dash) and
// auxiliary number, anywhere in the free text; and the given and family names (each word of two
// letters or more, whole words, any case, also with a genitive -s) of every Patient in the same
// bundle. What is not: a number written in other ways (with dots, split otherwise), a name of a
// patient not in the bundle (a resource sent with a subject by identifier: the platform keeps no
// names), nicknames and misspellings, and identifiers and codes, which are keys and not free text.
import { identityNumbersIn, IDENTITY_MARKER } from '../identity/text.ts';

export const NAME_MARKER = '[redacted: name]';
/** Where the count of redactions is kept in a stored resource (meta.extension). */
export const REDACTION_EXTENSION = 'urn:kvalreg:redaction';
/** The HL7 security label for "some content was removed" (v3 ObservationValue REDACTED). */
export const REDACTED_LABEL = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'REDACTED',
  display: 'redacted',
};

/**
 * Strings that are keys, not text: references, coding systems, codes and versions, URLs,
 * questionnaire item ids. Rewriting them would break links and mapping. (A `code` that is an object
 * — Condition.code, a CodeableConcept — is walked: its `text` is free text.) Identifiers are keys
 * as a whole: the first is the resource's idempotency key, and those with a national-number
 * system were removed already (bundle.ts).
 */
const KEY_STRINGS = new Set(['reference', 'system', 'code', 'version', 'url', 'linkId', 'resourceType', 'id']);

export interface Redactions {
  identityNumbers: number;
  names: number;
}

export interface FreeTextRedactor {
  /** `text` with identity numbers and the bundle's patients' names replaced, and what was replaced. */
  text(text: string): { text: string } & Redactions;
  /** A copy of a resource with its free text redacted, the count recorded in its meta when anything was. */
  resource(resource: Record<string, any>): { resource: Record<string, any> } & Redactions;
}

/** The words of a patient's names worth looking for: given names, family name and the full text, split on spaces and dashes. */
export function nameWords(patients: Array<Record<string, any>>): string[] {
  const words = new Set<string>();
  for (const p of patients) {
    for (const n of Array.isArray(p?.name) ? p.name : []) {
      const parts = [...(Array.isArray(n?.given) ? n.given : []), n?.family, n?.text].filter((x): x is string => typeof x === 'string');
      for (const part of parts)
        for (const w of part.split(/[\s\-‐,.]+/u))
          if ([...w].filter((c) => /\p{L}/u.test(c)).length >= 2) words.add(w.toLocaleLowerCase('nb'));
    }
  }
  // Longest first, so "Anne-Marie" is not left as "[name]-Marie" when both are names.
  return [...words].sort((a, b) => b.length - a.length);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function freeTextRedactor(names: string[]): FreeTextRedactor {
  // Whole words only (no letter or digit on either side), any case, with an optional genitive s.
  const namePattern = names.length
    ? new RegExp(`(?<![\\p{L}\\p{N}])(?:${names.map(escapeRegExp).join('|')})(?:'?s|')?(?![\\p{L}\\p{N}])`, 'giu')
    : undefined;

  const text = (input: string) => {
    let out = input;
    let identityNumbers = 0;
    const found = identityNumbersIn(out);
    if (found.length) {
      let s = '',
        at = 0;
      for (const f of found) {
        if (f.index < at) continue;
        s += out.slice(at, f.index) + IDENTITY_MARKER;
        at = f.index + f.length;
        identityNumbers++;
      }
      out = s + out.slice(at);
    }
    let names = 0;
    if (namePattern)
      out = out.replace(namePattern, () => {
        names++;
        return NAME_MARKER;
      });
    return { text: out, identityNumbers, names };
  };

  const resource = (r: Record<string, any>) => {
    const count: Redactions = { identityNumbers: 0, names: 0 };
    const walk = (node: any, key: string | undefined): any => {
      if (key === 'identifier') return node;
      if (typeof node === 'string') {
        if (key !== undefined && KEY_STRINGS.has(key)) return node;
        const t = text(node);
        count.identityNumbers += t.identityNumbers;
        count.names += t.names;
        return t.text;
      }
      if (Array.isArray(node)) return node.map((n) => walk(n, key));
      if (!node || typeof node !== 'object') return node;
      const out: Record<string, any> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, k);
      return out;
    };
    const out = walk(r, undefined) as Record<string, any>;
    if (count.identityNumbers + count.names > 0) {
      out.meta = {
        security: [REDACTED_LABEL],
        extension: [
          {
            url: REDACTION_EXTENSION,
            extension: [
              { url: 'identityNumbers', valueInteger: count.identityNumbers },
              { url: 'names', valueInteger: count.names },
            ],
          },
        ],
      };
    }
    return { resource: out, ...count };
  };

  return { text, resource };
}

/** Words for the response entry: what was redacted, never the redacted text. */
export function describeRedactions(r: Redactions): string {
  const parts = [
    r.identityNumbers ? `${r.identityNumbers} identity number${r.identityNumbers > 1 ? 's' : ''}` : '',
    r.names ? `${r.names} occurrence${r.names > 1 ? 's' : ''} of the patient's name` : '',
  ].filter(Boolean);
  return `redacted: ${parts.join(' and ')} in free text replaced by a marker before storage (a registry keeps no names, and identity numbers only encrypted). Do not write them in free text.`;
}
