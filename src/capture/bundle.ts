// Parses an inbound FHIR Bundle and checks its structure: the resource types we accept, stable
// business identifiers on every resource (the key that makes resends idempotent), and references
// that can be resolved. References are rewritten to conditional references by identifier
// (`Condition?identifier=system|value`) so that the stored resource no longer depends on the
// bundle-local fullUrls a sender happens to use.
import { describeUnstorable, findUnstorable } from '../db/storable.ts';
import { freeTextRedactor, nameWords, type FreeTextRedactor, type Redactions } from './free-text.ts';
import { CaptureError, issue, type Issue } from './outcome.ts';
import { validateResource } from '../fhir/schema.ts';

export const ACCEPTED_TYPES = [
  'Patient',
  'Encounter',
  'Condition',
  'Procedure',
  'Observation',
  'MedicationAdministration',
  'QuestionnaireResponse',
] as const;
export const MAX_ENTRIES = 5000;
export const MAX_DEPTH = 32;
/**
 * Identifiers and references become keys in PostgreSQL indexes (a btree entry holds at most about
 * 2,700 bytes): their parts are limited in UTF-8 bytes, not characters, or 1,024 characters of
 * three-byte text would fail the index as an internal error.
 */
const MAX_TEXT = 1024;
/** A non-empty string of reasonable length (at most MAX_TEXT bytes in UTF-8): what identifiers and references must be. */
export function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT && Buffer.byteLength(v, 'utf8') <= MAX_TEXT;
}
/** A conditional reference: a type and an identifier's system and value. */
const MAX_REFERENCE = 2 * MAX_TEXT + 64;

/** Identifier systems that can only name an organisation: RESH id and organisation number. */
export const RESH_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.102';
const ORGANISATION_SYSTEMS = new Set([RESH_SYSTEM, 'urn:oid:2.16.578.1.12.4.1.4.101']);

export interface PatientEntry {
  index: number;
  fullUrl: string | undefined;
  resource: Record<string, any>;
}

export interface ResourceEntry {
  index: number;
  resourceType: string;
  /** Type|system|value of the resource's first identifier: its idempotency key. */
  rkey: string;
  fullUrl: string | undefined;
  resource: Record<string, any>;
  /** Where the subject reference points: a Patient entry of this bundle, or a national id by identifier. */
  subject: { patientIndex: number } | { system: string; value: string };
  /** Identity numbers and patients' names taken out of the resource's free text (capture/free-text.ts). */
  redactions: Redactions;
}

/** A conditional delete (`DELETE Type?identifier=system|value`): the sender takes a resource back. */
export interface DeletionEntry {
  index: number;
  resourceType: string;
  rkey: string;
}

export interface ParsedBundle {
  type: 'transaction' | 'batch';
  /** Number of entries: the response has exactly one per entry, in order. */
  entryCount: number;
  patients: PatientEntry[];
  resources: ResourceEntry[];
  deletions: DeletionEntry[];
  /** Takes identity numbers and this bundle's patients' names out of text (for what is stored about the message, too). */
  redactor: FreeTextRedactor;
  /** Warnings from the FHIR R4 check (a made-up OID, a label as a urn:uuid): shown by $validate, never a refusal. */
  conformance: Issue[];
  /**
   * Entries of a batch that are not valid FHIR R4, with their findings: each fails alone (FHIR's
   * batch rules), and is in none of the lists above. Always empty for a transaction, which is
   * refused whole instead.
   */
  invalid: Array<{ index: number; issues: Issue[] }>;
}

export function rkeyOf(type: string, system: string, value: string): string {
  return `${type}|${system}|${value}`;
}
export function conditionalReference(rkey: string): string {
  const [type, system, value] = splitRkey(rkey);
  return `${type}?identifier=${system}|${value}`;
}
export function splitRkey(rkey: string): [string, string, string] {
  const first = rkey.indexOf('|');
  const last = rkey.lastIndexOf('|');
  return [rkey.slice(0, first), rkey.slice(first + 1, last), rkey.slice(last + 1)];
}

export function parseJson(body: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new CaptureError(
      [
        issue.error(
          'structure',
          undefined,
          `The request body is not valid JSON (${(err as Error).message}). Send a FHIR R4 Bundle as application/fhir+json.`,
        ),
      ],
      400,
    );
  }
  if (depthOf(parsed) > MAX_DEPTH) {
    throw new CaptureError(
      [
        issue.error(
          'structure',
          undefined,
          `The message is nested more than ${MAX_DEPTH} levels deep, which no FHIR resource needs. Check how it was built.`,
        ),
      ],
      400,
    );
  }
  // Text PostgreSQL cannot store (NUL, a lone surrogate) is the sender's error, with its path: found
  // later it would fail the statement that writes it, as an internal error the sender never sees.
  // Only escapes can make it (the body was decoded from UTF-8), so most bodies skip the walk.
  if (/\\u(?:[dD][89a-fA-F]|0000)|\0/.test(body)) {
    const bad = findUnstorable(parsed, (parsed as any)?.resourceType === 'Bundle' ? 'Bundle' : '$');
    if (bad) throw new CaptureError([issue.error('value', bad.path, describeUnstorable(bad), { rule: `text:${bad.problem}` })], 400);
  }
  return parsed;
}

/** Deepest nesting of arrays and objects, counted without recursion (a hostile message could be very deep). */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!node || typeof node !== 'object') continue;
    if (depth > max) max = depth;
    if (max > MAX_DEPTH) return max;
    for (const child of Object.values(node)) if (child && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return max;
}

export function parseBundle(json: unknown): ParsedBundle {
  const fail = (issues: Issue[], status = 400): never => {
    throw new CaptureError(issues, status);
  };
  if (!json || typeof json !== 'object' || Array.isArray(json))
    fail([issue.error('structure', undefined, 'The body must be a JSON object: a FHIR Bundle.')]);
  const bundle = json as Record<string, any>;
  if (bundle.resourceType !== 'Bundle') {
    fail([
      issue.error(
        'structure',
        'resourceType',
        `Expected resourceType "Bundle", got ${JSON.stringify(bundle.resourceType)}. Wrap the resources in a transaction or batch Bundle.`,
      ),
    ]);
  }
  // Base FHIR first, as the sender's own validator would check it: HL7's R4 schema and the elements
  // R4 requires (fhir/schema.ts). Only then the platform's own rules, which assume a valid Bundle.
  // (Resources of a type the platform does not take are refused below, with that reason.)
  const findings = validateResource(bundle, 'Bundle', { nested: (type) => (ACCEPTED_TYPES as readonly string[]).includes(type) });
  const invalid = invalidEntries(bundle.type, findings);
  const conformance = findings.filter((i) => i.severity !== 'error');
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') {
    fail([issue.error('value', 'Bundle.type', 'Bundle.type must be "transaction" or "batch".', { value: bundle.type })]);
  }
  const entries = bundle.entry;
  if (!Array.isArray(entries) || entries.length === 0)
    fail([issue.error('required', 'Bundle.entry', 'The Bundle has no entries; send at least a Patient and the resources about them.')]);
  if (entries.length > MAX_ENTRIES)
    fail(
      [
        issue.error(
          'too-long',
          'Bundle.entry',
          `The Bundle has ${entries.length} entries; split it into bundles of at most ${MAX_ENTRIES}.`,
        ),
      ],
      413,
    );

  const issues: Issue[] = [];
  const patients: PatientEntry[] = [];
  const others: Array<{ index: number; resource: Record<string, any>; fullUrl: string | undefined; rkey: string | undefined }> = [];
  const byFullUrl = new Map<string, { index: number; type: string; rkey?: string }>();
  const byLocalId = new Map<string, { index: number; type: string; rkey?: string }>();

  const deletions: DeletionEntry[] = [];
  entries.forEach((entry: any, index: number) => {
    const at = `Bundle.entry[${index}]`;
    if (invalid.has(index)) {
      setAsideInvalid(entry, index, byFullUrl, byLocalId);
      return;
    }
    if (entry?.request?.method === 'DELETE') {
      const d = parseDeletion(entry, at, issues);
      if (d) deletions.push({ index, ...d });
      return;
    }
    const resource = entry?.resource;
    if (!resource || typeof resource !== 'object') {
      issues.push(issue.error('required', `${at}.resource`, 'Every entry needs a resource.'));
      return;
    }
    const type = resource.resourceType;
    if (!(ACCEPTED_TYPES as readonly string[]).includes(type)) {
      issues.push(
        issue.error(
          'not-supported',
          `${at}.resource.resourceType`,
          `Resource type ${JSON.stringify(type)} is not accepted. Accepted: ${ACCEPTED_TYPES.join(', ')}.`,
        ),
      );
      return;
    }
    const method = entry.request?.method;
    if (bundle.type === 'transaction' && method !== undefined && !['POST', 'PUT'].includes(method)) {
      issues.push(
        issue.error('not-supported', `${at}.request.method`, `Only POST, PUT and a conditional DELETE (by identifier) are accepted.`, {
          value: method,
        }),
      );
    }
    if (resource.contained !== undefined) {
      issues.push(
        issue.error(
          'not-supported',
          `${at}.resource.contained`,
          'Contained resources are not accepted: send each resource as its own entry with its own identifier.',
        ),
      );
      return;
    }
    const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined;
    if (type === 'Patient') {
      patients.push({ index, fullUrl, resource });
      const ref = { index, type };
      if (fullUrl) byFullUrl.set(fullUrl, ref);
      if (isText(resource.id)) byLocalId.set(`Patient/${resource.id}`, ref);
      return;
    }
    // A list of identifiers; QuestionnaireResponse has a single one (R4 0..1).
    const idents = Array.isArray(resource.identifier)
      ? resource.identifier
      : resource.identifier && typeof resource.identifier === 'object'
        ? [resource.identifier]
        : [];
    const ident = idents.find((i: any) => isText(i?.system) && isText(i?.value));
    if (!ident) {
      issues.push(
        issue.error(
          'required',
          `${at}.resource.identifier`,
          `${type} has no identifier with system and value (both strings, at most ${MAX_TEXT} bytes in UTF-8). Give every resource the stable identifier your system uses for it, so that a resend or an update is recognised.`,
        ),
      );
    }
    const rkey = ident ? rkeyOf(type, String(ident.system), String(ident.value)) : undefined;
    others.push({ index, resource, fullUrl, rkey });
    const ref = { index, type, rkey };
    if (fullUrl) byFullUrl.set(fullUrl, ref);
    if (isText(resource.id)) byLocalId.set(`${type}/${resource.id}`, ref);
  });
  if (issues.length) fail(issues);

  // Free text loses identity numbers and the names of the bundle's patients before it is stored.
  const redactor = freeTextRedactor(nameWords(patients.map((p) => p.resource)));
  const seen = new Map<string, number>();
  const resources: ResourceEntry[] = others.map(({ index, resource, fullUrl, rkey }) => {
    const at = `Bundle.entry[${index}].resource`;
    if (seen.has(rkey!))
      issues.push(
        issue.error(
          'duplicate',
          `${at}.identifier`,
          `The same identifier is also used by Bundle.entry[${seen.get(rkey!)}]; send each resource once per bundle.`,
          { value: rkey },
        ),
      );
    seen.set(rkey!, index);
    const subject = resolveSubject(resource.subject, `${at}.subject`, byFullUrl, byLocalId, issues);
    const {
      resource: redacted,
      identityNumbers,
      names,
    } = redactor.resource(normaliseReferences(resource, at, byFullUrl, byLocalId, issues));
    return {
      index,
      resourceType: resource.resourceType,
      rkey: rkey!,
      fullUrl,
      resource: redacted,
      subject: subject ?? { patientIndex: -1 },
      redactions: { identityNumbers, names },
    };
  });
  for (const d of deletions) {
    if (seen.has(d.rkey))
      issues.push(
        issue.error(
          'duplicate',
          `Bundle.entry[${d.index}].request.url`,
          `The same resource is also sent by Bundle.entry[${seen.get(d.rkey)}]; a bundle either sends a resource or deletes it.`,
          { value: d.rkey },
        ),
      );
    seen.set(d.rkey, d.index);
  }
  if (issues.length) fail(issues);
  return {
    type: bundle.type,
    entryCount: entries.length,
    patients,
    resources,
    deletions,
    redactor,
    conformance,
    invalid: [...invalid].map(([index, issues]) => ({ index, issues })),
  };
}

/**
 * The errors of the FHIR R4 check, by entry, when each entry can fail alone: in a batch, an error
 * located in one entry fails that entry (https://hl7.org/fhir/R4/http.html#brules). Anything else —
 * any error in a transaction, an error about the Bundle itself — refuses the whole Bundle.
 */
function invalidEntries(type: unknown, findings: Issue[]): Map<number, Issue[]> {
  const errors = findings.filter((i) => i.severity === 'error');
  const byEntry = new Map<number, Issue[]>();
  const whole: Issue[] = [];
  for (const e of errors) {
    const m = type === 'batch' ? /^Bundle\.entry\[(\d+)\]/.exec(e.location ?? '') : null;
    if (!m) whole.push(e);
    else byEntry.set(Number(m[1]), [...(byEntry.get(Number(m[1])) ?? []), e]);
  }
  if (whole.length) throw new CaptureError(errors, 400);
  return byEntry;
}

/**
 * An invalid entry of a batch is not captured, but the other entries may refer to it: a Patient
 * stays their subject (so its resources fail with it, as a patient who cannot be identified), and
 * a resource with an identifier stays a target by that identifier (the reference holds once the
 * corrected resource is sent).
 */
function setAsideInvalid(
  entry: any,
  index: number,
  byFullUrl: Map<string, { index: number; type: string; rkey?: string }>,
  byLocalId: Map<string, { index: number; type: string; rkey?: string }>,
): void {
  const resource = entry?.resource;
  const type = resource?.resourceType;
  if (!resource || typeof resource !== 'object' || !(ACCEPTED_TYPES as readonly string[]).includes(type)) return;
  let ref: { index: number; type: string; rkey?: string } | undefined;
  if (type === 'Patient') ref = { index, type };
  else {
    const idents = Array.isArray(resource.identifier) ? resource.identifier : [resource.identifier];
    const ident = idents.find((i: any) => isText(i?.system) && isText(i?.value));
    if (ident) ref = { index, type, rkey: rkeyOf(type, String(ident.system), String(ident.value)) };
  }
  if (!ref) return;
  if (typeof entry.fullUrl === 'string') byFullUrl.set(entry.fullUrl, ref);
  if (isText(resource.id)) byLocalId.set(`${type}/${resource.id}`, ref);
}

/**
 * A deletion names the resource by the identifier it was sent with (the only key the platform
 * knows it by): `DELETE Procedure?identifier=system|value`, without a resource.
 */
function parseDeletion(entry: any, at: string, issues: Issue[]): Omit<DeletionEntry, 'index'> | undefined {
  const url = entry.request?.url;
  const m = typeof url === 'string' ? /^([A-Za-z]+)\?identifier=([^|]+)\|(.+)$/.exec(url) : null;
  if (!m) {
    issues.push(
      issue.error(
        'value',
        `${at}.request.url`,
        'A DELETE must name the resource by the identifier it was sent with: "Procedure?identifier=<system>|<value>".',
        { value: url },
      ),
    );
    return undefined;
  }
  const [, type, system, rawValue] = m;
  let value = rawValue;
  try {
    value = decodeURIComponent(rawValue);
  } catch {
    /* kept as written */
  }
  if (type === 'Patient' || !(ACCEPTED_TYPES as readonly string[]).includes(type)) {
    issues.push(
      issue.error(
        'not-supported',
        `${at}.request.url`,
        type === 'Patient'
          ? 'A patient cannot be deleted by a sending system; a patient who opts out is removed by the reservation (see the API guide).'
          : `Resource type ${JSON.stringify(type)} is not accepted. Accepted: ${ACCEPTED_TYPES.filter((t) => t !== 'Patient').join(', ')}.`,
      ),
    );
    return undefined;
  }
  if (entry.resource !== undefined) {
    issues.push(
      issue.error('structure', `${at}.resource`, 'A DELETE entry has no resource; to correct a resource, send it again with PUT.'),
    );
    return undefined;
  }
  if (!isText(system) || !isText(value)) {
    issues.push(issue.error('value', `${at}.request.url`, "The identifier's system and value must each be 1–1024 characters."));
    return undefined;
  }
  return { resourceType: type, rkey: rkeyOf(type, system, value) };
}

function resolveSubject(
  subject: any,
  at: string,
  byFullUrl: Map<string, any>,
  byLocalId: Map<string, any>,
  issues: Issue[],
): ResourceEntry['subject'] | undefined {
  if (subject && (typeof subject !== 'object' || Array.isArray(subject))) {
    issues.push(issue.error('structure', at, 'The subject must be a Reference object.'));
    return undefined;
  }
  if (!subject) {
    issues.push(
      issue.error(
        'required',
        at,
        'The resource has no subject; refer to the Patient (by fullUrl in this bundle, or by identifier with the national identity number).',
      ),
    );
    return undefined;
  }
  if (subject.reference !== undefined) {
    const target =
      typeof subject.reference === 'string' ? (byFullUrl.get(subject.reference) ?? byLocalId.get(subject.reference)) : undefined;
    if (!target || target.type !== 'Patient') {
      issues.push(
        issue.error(
          'not-found',
          `${at}.reference`,
          'The subject does not point to a Patient in this bundle. Include the Patient, or refer to them by identifier.',
          { value: subject.reference },
        ),
      );
      return undefined;
    }
    return { patientIndex: target.index };
  }
  if (isText(subject.identifier?.system) && isText(subject.identifier?.value))
    return { system: subject.identifier.system, value: subject.identifier.value };
  issues.push(issue.error('required', at, 'The subject needs a reference or an identifier.'));
  return undefined;
}

/** Rewrites every Reference (except the subject) to a conditional reference by identifier. */
function normaliseReferences(
  resource: Record<string, any>,
  at: string,
  byFullUrl: Map<string, any>,
  byLocalId: Map<string, any>,
  issues: Issue[],
): Record<string, any> {
  const walk = (node: any, path: string, top: boolean): any => {
    if (Array.isArray(node)) return node.map((n, i) => walk(n, `${path}[${i}]`, false));
    if (!node || typeof node !== 'object') return node;
    if (!top && isReference(node)) return normaliseReference(node, path, byFullUrl, byLocalId, issues);
    if (!top && PERSON_SYSTEMS.has(node.system) && typeof node.value === 'string')
      return { system: node.system, value: '(removed: identity number)' };
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(node)) {
      if (top && (k === 'subject' || k === 'meta' || k === 'text' || k === 'id')) continue;
      out[k] = walk(v, `${path}.${k}`, false);
    }
    return out;
  };
  return walk(resource, at, true);
}

function isReference(node: Record<string, any>): boolean {
  if (typeof node.reference === 'string') return true;
  return (
    node.identifier &&
    !Array.isArray(node.identifier) &&
    typeof node.identifier === 'object' &&
    Object.keys(node).every((k) => ['identifier', 'type', 'display'].includes(k))
  );
}

/** Identifier systems of national identity numbers: a reference using one names a person. */
const PERSON_SYSTEMS = new Set([
  'urn:oid:2.16.578.1.12.4.1.4.1',
  'urn:oid:2.16.578.1.12.4.1.4.2',
  'urn:oid:2.16.578.1.12.4.1.4.3',
  'urn:kvalreg:auxiliary-number',
]);

function normaliseReference(
  ref: Record<string, any>,
  at: string,
  byFullUrl: Map<string, any>,
  byLocalId: Map<string, any>,
  issues: Issue[],
): Record<string, any> {
  // Any reference to a patient becomes a bare "Patient": the stored resource must not carry the
  // identity number (the person is the resource's owner, kept as person_id).
  if (
    ref.type === 'Patient' ||
    PERSON_SYSTEMS.has(ref.identifier?.system) ||
    (typeof ref.reference === 'string' && /^Patient[/?]/.test(ref.reference))
  ) {
    return { reference: 'Patient' };
  }
  if (typeof ref.reference === 'string') {
    if (ref.reference.includes('?identifier=')) {
      if (Buffer.byteLength(ref.reference, 'utf8') > MAX_REFERENCE) {
        issues.push(
          issue.error(
            'too-long',
            `${at}.reference`,
            `A conditional reference may be at most ${MAX_REFERENCE} bytes in UTF-8 (an identifier's system and value of at most ${MAX_TEXT} each). Refer by a shorter identifier.`,
          ),
        );
        return ref;
      }
      return { reference: ref.reference };
    }
    const target = byFullUrl.get(ref.reference) ?? byLocalId.get(ref.reference);
    if (!target) {
      issues.push(
        issue.error(
          'not-found',
          `${at}.reference`,
          'This reference points to nothing in the bundle. Refer to resources sent earlier by identifier (Reference.type and Reference.identifier).',
          { value: ref.reference },
        ),
      );
      return ref;
    }
    if (target.type === 'Patient') return { reference: 'Patient' };
    return { ...ref, reference: conditionalReference(target.rkey) };
  }
  const type = isText(ref.type) ? ref.type : ORGANISATION_SYSTEMS.has(ref.identifier.system) ? 'Organization' : undefined;
  if (type && isText(ref.identifier.system) && isText(ref.identifier.value)) {
    return { ...ref, reference: conditionalReference(rkeyOf(type, String(ref.identifier.system), String(ref.identifier.value))) };
  }
  issues.push(
    issue.error(
      'required',
      `${at}.type`,
      'A reference by identifier must say which resource type it points to (Reference.type, e.g. "Condition").',
    ),
  );
  return ref;
}

/** The rkeys a normalised resource refers to. */
export function linksOf(resource: unknown): string[] {
  const out = new Set<string>();
  const walk = (node: any) => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (!node || typeof node !== 'object') return;
    if (typeof node.reference === 'string') {
      const m = /^([A-Za-z]+)\?identifier=(.*)\|([^|]*)$/.exec(node.reference);
      if (m) out.add(rkeyOf(m[1], m[2], m[3]));
      return;
    }
    for (const v of Object.values(node)) walk(v);
  };
  walk(resource);
  return [...out];
}

/** rkeys referred to by a FHIRPath result of Reference objects. */
export function referenceKeys(refs: unknown[]): string[] {
  return linksOf(refs);
}
