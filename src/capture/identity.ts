// Resolves the patient of a message: the national identity number from Patient.identifier (or a
// subject reference by identifier), validated, and reduced to its keyed hash for look-up.
import { parseNin, isAuxiliaryNumber, type NinKind } from '../identity/nin.ts';
import { ninHash, type IdentityKeys } from '../identity/crypto.ts';
import { identityNumbersIn } from '../identity/text.ts';
import { issue, type Issue } from './outcome.ts';

export const NIN_SYSTEMS: Record<string, 'fnr' | 'dnr' | 'hnr'> = {
  'urn:oid:2.16.578.1.12.4.1.4.1': 'fnr',
  'urn:oid:2.16.578.1.12.4.1.4.2': 'dnr',
  'urn:oid:2.16.578.1.12.4.1.4.3': 'hnr',
};
/** Auxiliary numbers the platform issues for patients of unknown identity. */
export const AUX_SYSTEM = 'urn:kvalreg:auxiliary-number';

export interface Identity {
  nin: string;
  kind: NinKind | 'auxiliary';
  hash: Buffer;
  hashHex: string;
  birthDate: string | null;
  sex: 'male' | 'female' | null;
}

export function identityFromIdentifier(keys: IdentityKeys, system: string, value: string, location: string, issues: Issue[], today?: Date): Identity | undefined {
  if (system === AUX_SYSTEM) {
    if (!isAuxiliaryNumber(value)) { issues.push(issue.error('value', location, 'This is not an auxiliary number issued by the platform.', { value, rule: 'auxiliary-number' })); return undefined; }
    const hash = ninHash(keys, value);
    return { nin: value, kind: 'auxiliary', hash, hashHex: hash.toString('hex'), birthDate: null, sex: null };
  }
  const declared = NIN_SYSTEMS[system];
  if (!declared) return undefined;
  const parsed = parseNin(value, { today });
  if (!parsed.ok) {
    // Never echo a possibly real identity number back into logs; say which rule it broke.
    issues.push(issue.error('value', location, `Invalid national identity number: ${parsed.message}`, { rule: `nin:${parsed.code}` }));
    return undefined;
  }
  const base = parsed.kind.replace('synthetic-', '');
  if (base !== declared && !(declared === 'fnr' && base === 'fnr')) {
    issues.push(issue.error('value', location, `The number is a ${parsed.kind}, but the identifier system says ${declared}; use the system that matches the number.`, { rule: 'nin:system-mismatch' }));
    return undefined;
  }
  const hash = ninHash(keys, parsed.nin);
  return { nin: parsed.nin, kind: parsed.kind, hash, hashHex: hash.toString('hex'), birthDate: parsed.birthDate, sex: parsed.sex };
}

export function identityOfPatient(keys: IdentityKeys, patient: Record<string, any>, location: string, issues: Issue[], today?: Date): Identity | undefined {
  const ids: any[] = Array.isArray(patient.identifier) ? patient.identifier : [];
  const index = ids.findIndex((i) => i && (NIN_SYSTEMS[i.system] || i.system === AUX_SYSTEM));
  if (index < 0) {
    issues.push(issue.error('required', `${location}.identifier`,
      'The Patient has no Norwegian identity number. Send the fødselsnummer (urn:oid:2.16.578.1.12.4.1.4.1), D-number (…4.1.4.2) or H-number (…4.1.4.3); for a patient of unknown identity send an H-number or an auxiliary number issued by the registry.',
      { rule: 'patient-identity' }));
    return undefined;
  }
  return identityFromIdentifier(keys, ids[index].system, String(ids[index].value ?? ''), `${location}.identifier[${index}].value`, issues, today);
}

/**
 * The keyed hashes of every identity number a raw message names, found in its text whether or not
 * it parses: stored with the message when it is received, so that a reservation finds messages
 * not (yet) processed — still waiting, or quarantined — without decrypting every one of them.
 */
export function identityHashesIn(keys: IdentityKeys, text: string): Buffer[] {
  const found = new Map<string, Buffer>();
  for (const { value } of identityNumbersIn(text)) {
    const h = ninHash(keys, value);
    found.set(h.toString('hex'), h);
  }
  return [...found.values()];
}
