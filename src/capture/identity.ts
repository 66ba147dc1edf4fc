// Resolves the patient of a message: the identity number from Patient.identifier (or a subject
// reference by identifier), validated, and reduced to its keyed hash for look-up; and the earlier
// numbers the message says the same patient had (a temporary number resolved to the real one).
//
// Identifier systems, as HL7 Norway names them (no-basis-Patient, the basis profile of the
// Norwegian Directorate of eHealth and HL7 Norway: HL7Norway/basisprofiler-r4,
// StructureDefinition/no-basis-Patient and NamingSystem/no-basis-felleshjelpenummer; the same list
// in HL7Norway/kodeverk, no-basis-identifikator-namespace):
//   urn:oid:2.16.578.1.12.4.1.4.1  FNR  fødselsnummer
//   urn:oid:2.16.578.1.12.4.1.4.2  DNR  D-nummer
//   urn:oid:2.16.578.1.12.4.1.4.3  FHN  felles hjelpenummer (administered by Norsk Helsenett)
// A local H-number (virksomhetsinternt hjelpenummer) has no OID of its own: no-basis-Patient's HNR
// slice fixes identifier.system to "HNR" and identifier.type to code HNR of Volven 8327
// (urn:oid:2.16.578.1.12.4.1.1.8327, "Offisiell personidentifikasjon") and makes the assigner
// mandatory, because such numbers are unique only within the institution that assigned them.
// (Some third-party guides list …4.1.4.3 as "H-number" and …4.1.4.4 as FH-number; HL7 Norway's own
// list has …4.1.4.4 as the health personnel number, and we follow HL7 Norway.)
import {
  isAuxiliaryNumber,
  isTestKind,
  NIN_KIND_NAMES,
  parseNin,
  testNumberKind,
  type NinKind,
  type NinParseResult,
} from '../identity/nin.ts';
import { ninHash, type IdentityKeys } from '../identity/crypto.ts';
import { identityNumbersIn } from '../identity/text.ts';
import { issue, type Issue } from './outcome.ts';

export const FNR_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.1';
export const DNR_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.2';
export const FHN_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.3';
/** Volven 8327 "Offisiell personidentifikasjon": identifier.type of a local H-number (code HNR). */
export const PERSON_ID_TYPE_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.1.8327';
/** identifier.system of a local H-number, as no-basis-Patient fixes it. */
export const HNR_SYSTEM = 'HNR';

/** National identifier systems by the kind of number they carry. */
export const NIN_SYSTEMS: Record<string, 'fnr' | 'dnr' | 'fhn'> = {
  [FNR_SYSTEM]: 'fnr',
  [DNR_SYSTEM]: 'dnr',
  [FHN_SYSTEM]: 'fhn',
};
/** Auxiliary numbers the platform issues for patients of unknown identity. */
export const AUX_SYSTEM = 'urn:kvalreg:auxiliary-number';
/** Every identifier system whose value names a person (a reference using one points to the patient). */
export const PERSON_SYSTEMS: readonly string[] = [FNR_SYSTEM, DNR_SYSTEM, FHN_SYSTEM, HNR_SYSTEM, AUX_SYSTEM];

export type IdentityKind = NinKind | 'auxiliary';

export interface Identity {
  /** The number; for a local H-number, the assigner and the number ("HNR|system|value|number"). */
  nin: string;
  kind: IdentityKind;
  hash: Buffer;
  hashHex: string;
  birthDate: string | null;
  sex: 'male' | 'female' | null;
  /** Earlier numbers of the same patient named in the same Patient (records/persons.ts joins them). */
  aliases?: Identity[];
}

export interface IdentityOptions {
  today?: Date;
  /** Accept test numbers (config `allowTestIdentities`, KVALREG_ALLOW_TEST_IDENTITIES). */
  allowTestIdentities?: boolean;
}

/** Kinds that name a patient only until their identity is known. */
export const TEMPORARY_KINDS: readonly IdentityKind[] = ['fhn', 'hnr', 'auxiliary'];

/** The kind a registry's identity requirement speaks of: a test number counts as what it imitates. */
export function identityBase(kind: string): string {
  return kind.replace(/^synthetic-/, '');
}

const SYSTEM_HINT =
  'fødselsnummer urn:oid:2.16.578.1.12.4.1.4.1, D-number …4.1.4.2, felles hjelpenummer (FH-number) …4.1.4.3; a local H-number with identifier.type HNR (urn:oid:2.16.578.1.12.4.1.1.8327) and its assigner';

/** True for a local H-number identifier: type HNR of Volven 8327, or the system "HNR" no-basis-Patient fixes. */
function isLocalHNumber(identifier: any): boolean {
  if (!identifier || typeof identifier !== 'object') return false;
  if (identifier.system === HNR_SYSTEM) return true;
  const codings: any[] = Array.isArray(identifier.type?.coding) ? identifier.type.coding : [];
  return codings.some((c) => c && c.system === PERSON_ID_TYPE_SYSTEM && c.code === 'HNR');
}

/** True when an identifier (of a Patient, or a Reference's) names a person. */
export function isPersonIdentifier(identifier: any): boolean {
  return (
    !!identifier &&
    typeof identifier === 'object' &&
    (isLocalHNumber(identifier) || !!NIN_SYSTEMS[identifier.system] || identifier.system === AUX_SYSTEM)
  );
}

function testNumberRefused(kind: NinKind, location: string): Issue {
  return issue.error(
    'value',
    location,
    `This is a test identity number (${NIN_KIND_NAMES[kind].en}: month + 80 from the national test-data system, or month + 40 sent as a fødselsnummer or D-number), which no real patient has; this deployment does not accept test numbers. Send the patient's real number. (If it is a local H-number, send it with identifier.type HNR and its assigner. A test environment sets KVALREG_ALLOW_TEST_IDENTITIES=1.)`,
    { rule: 'nin:test-number' },
  );
}

function mismatch(parsed: Extract<NinParseResult, { ok: true }>, declared: 'fnr' | 'dnr' | 'fhn', location: string): Issue {
  const what = NIN_KIND_NAMES[parsed.kind].en;
  const hint =
    parsed.kind === 'hnr' && declared === 'fhn'
      ? `${FHN_SYSTEM} is the felles hjelpenummer (FH-number: 11 digits starting with 8 or 9) from Norsk Helsenett; a number with 40 added to the month is a local H-number: send it with identifier.type HNR (${PERSON_ID_TYPE_SYSTEM}) and identifier.assigner, the institution that assigned it.`
      : parsed.kind === 'fhn'
        ? `An FH-number (first digit 8 or 9) is sent with the system ${FHN_SYSTEM}.`
        : `Use the system that matches the number (${SYSTEM_HINT}).`;
  return issue.error('value', location, `The number is a ${what}, but the identifier system says ${NIN_KIND_NAMES[declared].en}. ${hint}`, {
    rule: 'nin:system-mismatch',
  });
}

function identity(keys: IdentityKeys, key: string, kind: IdentityKind, birthDate: string | null, sex: 'male' | 'female' | null): Identity {
  const hash = ninHash(keys, key);
  return { nin: key, kind, hash, hashHex: hash.toString('hex'), birthDate, sex };
}

/** What a number under an identifier system is, before it is hashed (also for `kvalreg nin check`). */
export type IdentifierCheck =
  | {
      ok: true;
      kind: IdentityKind;
      nin: string;
      birthDate: string | null;
      sex: 'male' | 'female' | null;
      parsed?: Extract<NinParseResult, { ok: true }>;
    }
  | { ok: false; issue: Issue; parsed?: NinParseResult };

/**
 * Checks a number under a national system or the auxiliary one: valid, of the kind the system
 * carries, and not a test number unless test numbers are allowed. Null for a system that names no person.
 */
export function checkIdentifier(system: string, value: string, location: string, opts: IdentityOptions = {}): IdentifierCheck | null {
  if (system === AUX_SYSTEM) {
    if (!isAuxiliaryNumber(value))
      return {
        ok: false,
        issue: issue.error('value', location, 'This is not an auxiliary number issued by the platform.', {
          value,
          rule: 'auxiliary-number',
        }),
      };
    return { ok: true, kind: 'auxiliary', nin: value, birthDate: null, sex: null };
  }
  if (system === HNR_SYSTEM) {
    return {
      ok: false,
      issue: issue.error(
        'required',
        location,
        'A local H-number is unique only at the institution that assigned it, so it cannot name a patient on its own: send the Patient with the H-number as an identifier with type HNR and identifier.assigner (e.g. the RESH id of the hospital), and refer to that Patient.',
        { rule: 'nin:hnr-assigner' },
      ),
    };
  }
  const declared = NIN_SYSTEMS[system];
  if (!declared) return null;
  const parsed = parseNin(value, { today: opts.today });
  if (!parsed.ok) {
    // Never echo a possibly real identity number back into logs; say which rule it broke.
    return {
      ok: false,
      parsed,
      issue: issue.error('value', location, `Invalid national identity number: ${parsed.message}`, { rule: `nin:${parsed.code}` }),
    };
  }
  let kind: NinKind | null = null;
  if (declared === 'fhn') kind = parsed.kind === 'fhn' ? 'fhn' : null;
  else if (parsed.kind === declared || parsed.kind === `synthetic-${declared}`) kind = parsed.kind;
  else kind = testNumberKind(parsed, declared);
  if (kind === null) return { ok: false, parsed, issue: mismatch(parsed, declared, location) };
  if (isTestKind(kind) && !opts.allowTestIdentities) return { ok: false, parsed, issue: testNumberRefused(kind, location) };
  return { ok: true, kind, nin: parsed.nin, birthDate: parsed.birthDate, sex: parsed.sex, parsed };
}

/** A number under a national system or the auxiliary one. Undefined, with no issue, for a system that names no person. */
export function identityFromIdentifier(
  keys: IdentityKeys,
  system: string,
  value: string,
  location: string,
  issues: Issue[],
  opts: IdentityOptions = {},
): Identity | undefined {
  const checked = checkIdentifier(system, value, location, opts);
  if (checked === null) return undefined;
  if (!checked.ok) {
    issues.push(checked.issue);
    return undefined;
  }
  return identity(keys, checked.nin, checked.kind, checked.birthDate, checked.sex);
}

/**
 * Any identifier naming a person, with its type and assigner: a local H-number (keyed by its
 * assigner, so two hospitals' equal H-numbers are two patients) or what identifyFromIdentifier takes.
 */
export function identityFromFhirIdentifier(
  keys: IdentityKeys,
  identifier: any,
  location: string,
  issues: Issue[],
  opts: IdentityOptions = {},
): Identity | undefined {
  if (!isLocalHNumber(identifier))
    return identityFromIdentifier(
      keys,
      String(identifier?.system ?? ''),
      String(identifier?.value ?? ''),
      `${location}.value`,
      issues,
      opts,
    );
  const parsed = parseNin(String(identifier.value ?? ''), { today: opts.today });
  if (!parsed.ok) {
    issues.push(issue.error('value', `${location}.value`, `Invalid H-number: ${parsed.message}`, { rule: `nin:${parsed.code}` }));
    return undefined;
  }
  if (parsed.kind !== 'hnr') {
    issues.push(
      issue.error(
        'value',
        `${location}.value`,
        `The identifier is typed as a local H-number, but the number is a ${NIN_KIND_NAMES[parsed.kind].en}; an H-number has 40 added to the month. Use the system that matches the number (${SYSTEM_HINT}).`,
        { rule: 'nin:system-mismatch' },
      ),
    );
    return undefined;
  }
  const a = identifier.assigner?.identifier;
  if (!a || typeof a.system !== 'string' || !a.system || typeof a.value !== 'string' || !a.value) {
    issues.push(
      issue.error(
        'required',
        `${location}.assigner`,
        'A local H-number needs identifier.assigner.identifier (system and value, e.g. the RESH id of the hospital that assigned it): H-numbers are unique only within the institution that assigns them.',
        { rule: 'nin:hnr-assigner' },
      ),
    );
    return undefined;
  }
  return identity(keys, hnrKey(a.system, a.value, parsed.nin), 'hnr', parsed.birthDate, parsed.sex);
}

/** The key a local H-number is known by: the assigner and the number. */
export function hnrKey(assignerSystem: string, assignerValue: string, nin: string): string {
  return `HNR|${assignerSystem}|${assignerValue}|${nin}`;
}

/** National numbers first, then FH-numbers, local H-numbers, auxiliary numbers. */
const RANK: Record<string, number> = { fnr: 0, dnr: 0, fhn: 1, hnr: 2, auxiliary: 3 };

/**
 * The patient's identity, and every earlier number of theirs the Patient names. The identity is
 * the most authoritative number among Patient.identifier (a fødselsnummer or D-number before an
 * FH-number, before a local H-number, before an auxiliary number), unless Patient.link says this
 * record is `replaced-by` another patient (then that one). Every other number — the other
 * identifiers, and the patients a `replaces` link points to — is an earlier number of the same
 * person: the capture joins what was registered under it (records/persons.ts).
 */
export function identityOfPatient(
  keys: IdentityKeys,
  patient: Record<string, any>,
  location: string,
  issues: Issue[],
  opts: IdentityOptions = {},
): Identity | undefined {
  const ids: any[] = Array.isArray(patient.identifier) ? patient.identifier : [];
  const found: Identity[] = [];
  let failed = false;
  ids.forEach((id, i) => {
    if (!isPersonIdentifier(id)) return;
    const one = identityFromFhirIdentifier(keys, id, `${location}.identifier[${i}]`, issues, opts);
    if (one) found.push(one);
    else failed = true;
  });
  const links: any[] = Array.isArray(patient.link) ? patient.link : [];
  const replacedBy: Identity[] = [];
  links.forEach((l, j) => {
    if (!l || (l.type !== 'replaces' && l.type !== 'replaced-by')) return;
    const other = l.other?.identifier;
    if (!isPersonIdentifier(other)) {
      issues.push(
        issue.error(
          'value',
          `${location}.link[${j}].other`,
          `Patient.link ${l.type} must point to the other patient by identifier (Reference.identifier with one of: ${SYSTEM_HINT}).`,
          { rule: 'patient-link' },
        ),
      );
      failed = true;
      return;
    }
    const one = identityFromFhirIdentifier(keys, other, `${location}.link[${j}].other.identifier`, issues, opts);
    if (!one) {
      failed = true;
      return;
    }
    if (l.type === 'replaced-by') replacedBy.push(one);
    else found.push(one);
  });
  if (failed) return undefined;
  if (replacedBy.length > 1) {
    issues.push(
      issue.error(
        'business-rule',
        `${location}.link`,
        'The Patient says it is replaced by more than one patient; send one replaced-by link.',
        { rule: 'patient-link' },
      ),
    );
    return undefined;
  }
  if (found.length === 0 && replacedBy.length === 0) {
    issues.push(
      issue.error(
        'required',
        `${location}.identifier`,
        `The Patient has no Norwegian identity number. Send the fødselsnummer (${FNR_SYSTEM}) or D-number (…4.1.4.2); for a patient whose identity is not known, the felles hjelpenummer (FH-number, …4.1.4.3), a local H-number (identifier.type HNR with its assigner) or an auxiliary number issued by the registry.`,
        { rule: 'patient-identity' },
      ),
    );
    return undefined;
  }
  const primary = replacedBy[0] ?? [...found].sort((a, b) => RANK[identityBase(a.kind)] - RANK[identityBase(b.kind)])[0];
  const aliases = new Map<string, Identity>();
  for (const x of found) if (x.hashHex !== primary.hashHex) aliases.set(x.hashHex, x);
  return aliases.size ? { ...primary, aliases: [...aliases.values()] } : primary;
}

/**
 * The identifier system that fits a bare number (files that carry numbers without a system:
 * death notices, the command line): a D-number's, an FH-number's, or the fødselsnummer's.
 */
export function identifierSystemFor(value: string): string {
  const p = parseNin(value);
  if (!p.ok) return FNR_SYSTEM;
  if (p.kind === 'fhn') return FHN_SYSTEM;
  if (p.kind === 'dnr' || p.kind === 'synthetic-dnr' || (p.kind === 'hnr' && p.onDNumber)) return DNR_SYSTEM;
  return FNR_SYSTEM;
}

/**
 * The keyed hashes of every identity number a raw message names, found in its text whether or not
 * it parses: stored with the message when it is received, so that a reservation finds messages
 * not (yet) processed — still waiting, or quarantined — without decrypting every one of them.
 * Fødselsnumre, D-numbers and FH-numbers are found as 11 digits anywhere; local H-numbers, which
 * are known by their assigner, in identifiers of a JSON message; auxiliary numbers by their form.
 */
export function identityHashesIn(keys: IdentityKeys, text: string): Buffer[] {
  const found = new Map<string, Buffer>();
  for (const { value } of identityNumbersIn(text)) {
    const h = ninHash(keys, value);
    found.set(h.toString('hex'), h);
  }
  const add = (value: string) => {
    const h = ninHash(keys, value);
    found.set(h.toString('hex'), h);
  };
  if (text.includes('HNR')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const walk = (node: any) => {
      if (Array.isArray(node)) {
        node.forEach(walk);
        return;
      }
      if (!node || typeof node !== 'object') return;
      if (isLocalHNumber(node) && typeof node.value === 'string') {
        const a = node.assigner?.identifier;
        const parsed = parseNin(node.value);
        if (parsed.ok && typeof a?.system === 'string' && typeof a?.value === 'string') add(hnrKey(a.system, a.value, parsed.nin));
      }
      for (const v of Object.values(node)) walk(v);
    };
    walk(json);
  }
  return [...found.values()];
}
